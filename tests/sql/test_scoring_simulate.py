"""`leadflow simulate`: candidate rules against the current ones, writing nothing, on both backends."""

from __future__ import annotations

import argparse
from datetime import date

import yaml

from leadflow.pipeline import advance_stages, score
from leadflow.simulate import add_simulate_parser, format_report, simulate
from tests.conftest import ROOT
from tests.sql.rows import add_events, add_leads

AS_OF = date(2026, 11, 22)


def everything(wh) -> dict[str, list]:
    """Every row of every leadflow table, to prove a simulation wrote nothing."""
    tables = wh.fetchall(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema in ('core', 'scoring', 'lifecycle', 'nurture', 'crm', 'ops')"
        " and table_type = 'BASE TABLE' order by 1, 2"
    )
    return {f"{s}.{t}": sorted(map(repr, wh.fetchall(f"select * from {s}.{t}"))) for s, t in tables}


def test_simulate_reports_stage_changes_emails_and_distribution_and_writes_nothing(wh, settings, tmp_path):
    add_leads(
        wh,
        # fit 40 (部長 +20, 300 staff +20) plus two recent pricing views (~29): 69, warm today
        {"crm_id": "NEAR", "job_title": "部長", "employee_count": 300},
        {"crm_id": "COLD"},
    )
    add_events(wh, "NEAR", ("pricing_view", "2026-11-21"), ("pricing_view", "2026-11-22"))
    score(wh, settings, AS_OF)
    advance_stages(wh, settings, AS_OF)
    before = everything(wh)

    rules = yaml.safe_load((ROOT / "config" / "scoring.yml").read_text(encoding="utf-8"))
    rules["stages"]["hot_threshold"] = 60  # NEAR (69) would be hot
    candidate = tmp_path / "new.yml"
    candidate.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")

    report = simulate(wh, settings, candidate, AS_OF)

    assert everything(wh) == before
    assert report.current_version != report.candidate_version
    assert report.stage_changes.to_dict("records") == [{"from_stage": "warm", "to_stage": "hot", "leads": 1}]
    assert report.stage_samples["crm_id"].tolist() == ["NEAR"]
    # a newly hot lead gets no marketing email; its owner gets an alert
    assert report.email_error is None
    assert "owner_alert" in report.new_emails["track"].tolist()
    assert report.distribution["before"].sum() == report.distribution["after"].sum() == 2
    text = format_report(report)
    assert "warm → hot: 1" in text and "NEAR" in text and "nothing written" in text


def test_simulate_parser_defaults():
    parser = argparse.ArgumentParser()
    add_simulate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", "--rules", "new.yml", "--date", "2026-11-22"])
    assert (args.rules, args.date, args.profile, args.samples) == ("new.yml", AS_OF, None, 5)
    assert callable(args.func)


def test_rescore_parser_needs_full_and_takes_dates():
    from leadflow.simulate import add_rescore_parser

    parser = argparse.ArgumentParser()
    add_rescore_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["rescore", "--full", "--date", "2026-11-21", "--date", "2026-11-22"])
    assert args.date == [date(2026, 11, 21), AS_OF] and callable(args.func)
    assert args.rekey is False
    assert parser.parse_args(["rescore", "--full", "--rekey"]).rekey is True
