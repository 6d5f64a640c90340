"""Reruns and backfills of past nights (issue 26, item 1), on both backends through the pipeline functions:
current stages, CRM fields and nurture enrollments end exactly as if every night ran once, in order."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from leadflow import backfill
from leadflow.backfill import run_nightly
from leadflow.demo.generate import generate

NIGHTS = [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)]
TZ = "+09:00"  # config/leadflow.yml: Asia/Tokyo


def daily_crm_exports(crm: Path, nights: list[date]) -> None:
    """Turn the generator's one CRM snapshot (dated on the last night) into one export per night, each
    the CRM as it stood that night (no record created or updated after it); on the last night sales
    confirms every BANT item of the `new` leads (hot ones become sales_qualified), so the nights differ."""
    last = crm / f"leads_{nights[-1].isoformat()}.csv"
    snapshot = pd.read_csv(last, dtype=str, keep_default_na=False)
    created = pd.to_datetime(snapshot["created_at"], utc=True, format="ISO8601")
    updated = pd.to_datetime(snapshot["updated_at"], utc=True, format="ISO8601")
    for night in nights[:-1]:
        end = pd.Timestamp(f"{night + timedelta(days=1)}T00:00:00{TZ}")
        day = snapshot[created < end].copy()
        late = (updated[created < end] >= end).to_numpy()
        day.loc[late, "updated_at"] = f"{night}T12:00:00{TZ}"
        day.to_csv(crm / f"leads_{night.isoformat()}.csv", index=False)
    confirmed = snapshot["crm_status"] == "new"
    for column in ("bant_budget", "bant_authority", "bant_need", "bant_timeline"):
        snapshot.loc[confirmed, column] = "true"
    snapshot.loc[confirmed, "updated_at"] = f"{nights[-1]}T10:00:00{TZ}"
    snapshot.to_csv(last, index=False)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, leads=250, days=50, seed=11, end_date=NIGHTS[-1], bad_share=0.0)
    daily_crm_exports(out / "crm", NIGHTS)
    return out


@pytest.fixture
def cfg(settings, landing):
    return settings.model_copy(
        update={
            "sources": settings.sources.model_copy(
                update={
                    "crm": settings.sources.crm.model_copy(update={"path": landing / "crm"}),
                    "web": settings.sources.web.model_copy(update={"path": landing / "web"}),
                }
            )
        }
    )


def state(wh, *, written_on: bool = True) -> dict:
    """Everything a rerun must leave as the in-order nights left it (times of the run itself aside);
    without `written_on`, the fields' values only, not the night that wrote them."""
    crm = "crm_id, lead_score, lead_fit_grade, lead_stage, lead_score_reasons, lead_heating_up"
    synced = "crm_id, fields_hash"
    if written_on:
        crm, synced = f"{crm}, lead_scored_at", f"{synced}, as_of_date"
    return {
        "lead_stages": wh.fetchall("select * from lifecycle.lead_stages order by lead_id"),
        "transitions": wh.fetchall("select * from lifecycle.stage_transitions order by lead_id, as_of_date"),
        "crm": wh.fetchall(f"select {crm} from crm.lead_fields order by crm_id"),
        "sync_state": wh.fetchall(f"select {synced} from crm.sync_state order by crm_id"),
        "core_leads": wh.fetchall("select crm_id, crm_status, _batch_id from core.leads order by crm_id"),
        "enrollments": wh.fetchall("select * from nurture.enrollments order by lead_id, track, enrolled_on"),
        "ledger": wh.fetchall("select send_key, as_of_date, status from nurture.email_sends order by send_key"),
    }


def differences(expected: dict, actual: dict) -> dict:
    """The tables of two `state()`s that differ, each with a few rows only one side has: a failure
    names the table and the rows instead of printing both states whole."""
    found = {}
    for table, rows in expected.items():
        if actual[table] != rows:
            before, after = set(map(tuple, rows)), set(map(tuple, actual[table]))
            found[table] = {
                "only_expected": sorted(before - after, key=repr)[:5],
                "only_actual": sorted(after - before, key=repr)[:5],
            }
    return found


def nights_in_order(wh, cfg, nights: list[date]) -> None:
    for night in nights:
        run_nightly(wh, cfg, night)
        backfill.run_nurture(wh, cfg, night)


def test_a_rerun_of_an_earlier_night_leaves_the_later_nights_state(wh, cfg):
    nights_in_order(wh, cfg, NIGHTS)
    after = state(wh)
    crm_stages = {row[3] for row in after["crm"]}
    assert "sales_qualified" in crm_stages  # the last night moved leads on: a rollback would show
    assert after["enrollments"] and after["ledger"]

    rerun = run_nightly(wh, cfg, NIGHTS[1])
    skipped = backfill.run_nurture(wh, cfg, NIGHTS[1])  # what the asset event of the rerun starts

    assert state(wh) == after
    assert rerun.steps["replay_later_nights"] == {"replayed": [NIGHTS[2].isoformat()]}
    assert rerun.steps["write_back"]["written"] == 0  # the CRM never got the older night's fields
    assert "skipped" in skipped and str(NIGHTS[2]) in skipped["skipped"]


def test_a_backfill_equals_the_nights_run_in_order(wh, cfg):
    nights_in_order(wh, cfg, NIGHTS)
    in_order = state(wh)

    # a backfill over nights already run (the first two): nothing moves back
    again = backfill.backfill(wh, cfg, NIGHTS[0], NIGHTS[1])
    assert again.replayed == [NIGHTS[2]]
    assert not differences(in_order, state(wh))

    # the whole range into an empty warehouse, emails for the past nights asked for: the same fields,
    # written once, for the latest night (sales never sees the earlier nights' values go by)
    fields_only = state(wh, written_on=False)
    for schema in ("raw", "ops", "core", "scoring", "lifecycle", "nurture", "crm"):
        wh.execute(f"drop schema {schema} cascade")
    result = backfill.backfill(wh, cfg, NIGHTS[0], NIGHTS[-1], nurture=True, send_past=True)
    assert result.nights == NIGHTS and result.replayed == []
    assert not differences(fields_only, state(wh, written_on=False))
    assert {row[-1] for row in state(wh)["sync_state"]} == {NIGHTS[-1]}


def test_nurture_for_a_past_night_sends_only_when_asked(wh, cfg):
    nights_in_order(wh, cfg, NIGHTS)
    with pytest.raises(backfill.PastNight, match="latest night is 2026-11-23"):
        backfill.check_send_date(wh, cfg, NIGHTS[1])
    assert backfill.check_send_date(wh, cfg, NIGHTS[1], send_past=True)["latest_night"] == "2026-11-23"
    assert backfill.check_send_date(wh, cfg, NIGHTS[2])["as_of_date"] == "2026-11-23"


def test_leadflow_backfill_command(landing, tmp_path, capsys):
    import yaml

    from leadflow.cli import main
    from leadflow.warehouse import connect

    root = Path(__file__).resolve().parents[2]
    data = yaml.safe_load((root / "config" / "leadflow.yml").read_text())
    data["sources"]["crm"]["path"] = str(landing / "crm")
    data["sources"]["web"]["path"] = str(landing / "web")
    data["mailer"]["outbox"] = str(tmp_path / "outbox")
    config = tmp_path / "leadflow.yml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    uri = f"duckdb://{tmp_path / 'warehouse.duckdb'}"
    args = ["--config", str(config), "backfill", "--warehouse", uri]

    assert main([*args, "--start", "2026-11-23", "--end", "2026-11-21"]) == 2
    assert "--end 2026-11-21 is before --start 2026-11-23" in capsys.readouterr().err

    assert main([*args, "--start", "2026-11-21", "--end", "2026-11-23"]) == 0
    assert "ran 3 night(s) 2026-11-21 → 2026-11-23 in date order" in capsys.readouterr().out
    assert main([*args, "--start", "2026-11-21", "--end", "2026-11-22"]) == 0
    assert "ran the later nights again: 2026-11-23" in capsys.readouterr().out
    with connect(uri) as wh:
        assert backfill.nights_run(wh) == NIGHTS
        assert wh.scalar("select count(*) from nurture.email_sends") == 0  # nothing sent unless asked
        assert wh.scalar("select max(as_of_date) from lifecycle.lead_stages") == NIGHTS[-1]
