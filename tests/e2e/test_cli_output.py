"""The `leadflow` commands' output on a small generated night: `--json` for scripts, tables for people,
and log lines that never carry an email address, even at -vv during a send run."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from leadflow.cli import main
from leadflow.console import redact

pytestmark = pytest.mark.slow  # two nights, two send runs and a simulation on 200 leads: about 40 s

NIGHT = date(2026, 11, 22)
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    from leadflow.demo.generate import generate

    out = tmp_path_factory.mktemp("landing")
    generate(out, leads=200, days=30, seed=5, end_date=NIGHT)
    return out


@pytest.fixture
def project(landing, tmp_path) -> tuple[list[str], Path]:
    """CLI arguments for a config on `landing` with its own outbox and warehouse; the folder they live in."""
    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "leadflow.yml").read_text())
    data["sources"]["crm"]["path"] = str(landing / "crm")
    data["sources"]["web"]["path"] = str(landing / "web")
    data["mailer"]["outbox"] = str(tmp_path / "outbox")
    (tmp_path / "leadflow.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return ["--config", str(tmp_path / "leadflow.yml"), "--warehouse", f"duckdb://{tmp_path / 'w.duckdb'}"], tmp_path


def run_json(capsys, argv: list[str]) -> tuple[dict, str]:
    """Run `leadflow argv`: its stdout as JSON, and its stderr."""
    assert main(argv) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def test_json_for_scripts_and_tables_for_people(project, landing, capsys) -> None:
    args, _ = project
    config, warehouse = args[:2], args[2:]

    night, _ = run_json(capsys, [*config, "run", "--date", str(NIGHT), *warehouse, "--json"])
    assert night["as_of_date"] == "2026-11-22"
    assert list(night["steps"])[:2] == ["extract_crm", "validate_crm"] and "write_back" in night["steps"]
    scored = night["steps"]["score"]["scored"]
    assert scored > 150

    sent, _ = run_json(capsys, [*config, "nurture", "--date", str(NIGHT), *warehouse, "--json"])
    batches = [v for k, v in sent["steps"].items() if k.startswith("send_emails")]
    assert batches and sum(b.get("sent", 0) for b in batches) > 0
    assert sent["steps"]["report_sends"]["by_status"]["sent"] == sum(b.get("sent", 0) for b in batches)

    summary, _ = run_json(capsys, [*config, "summary", *warehouse, "--json"])
    assert summary["as_of_date"] == "2026-11-22"
    assert sum(summary["stages"].values()) == scored
    assert summary["ledger"]["sent"] == sent["steps"]["report_sends"]["by_status"]["sent"]
    assert summary["outbox"]["eml_files"] == summary["ledger"]["sent"]
    hot = summary["hot_leads"]
    assert hot and all(lead["stage"] in ("hot", "sales_qualified") and lead["top_reasons"] for lead in hot)
    assert [lead["total_score"] for lead in hot] == sorted((lead["total_score"] for lead in hot), reverse=True)

    assert main([*config, "summary", *warehouse]) == 0
    out = capsys.readouterr().out
    assert "leadflow summary as of 2026-11-22" in out and "leads per stage" in out and "top 5 hot leads" in out
    assert hot[0]["crm_id"] in out and f"{summary['ledger']['sent']:,}" in out
    assert "{" not in out  # no raw dicts

    rules = str(Path(__file__).resolve().parents[2] / "config" / "scoring.yml")
    same, _ = run_json(capsys, [*config, "simulate", "--rules", rules, *warehouse, "--json"])
    assert same["leads"] == scored and same["stage_changes"] == [] and same["as_of"] == "2026-11-22"
    assert sum(band["before"] for band in same["distribution"]) == scored

    rescored, err = run_json(capsys, [*config, "--quiet", "rescore", "--full", *warehouse, "--json"])
    assert rescored["dates"] == 1 and rescored["scored"] == scored
    assert err == ""  # --quiet: no note about the warehouse, no warnings, no progress


def test_a_send_run_logs_no_address(project, landing, capsys) -> None:
    args, _ = project
    config, warehouse = args[:2], args[2:]
    assert main([*config, "--quiet", "run", "--date", str(NIGHT), *warehouse]) == 0
    capsys.readouterr()
    assert main([*config, "nurture", "--date", str(NIGHT), *warehouse, "-vv"]) == 0  # every library's debug too
    err = capsys.readouterr().err
    assert "to the outbox" in err  # the send run did log, at INFO, once per email
    assert not ADDRESS.search(err), ADDRESS.findall(err)[:5]
    # and the mask would catch every address of the data, had one been logged
    leads = list(csv.DictReader((landing / "crm" / f"leads_{NIGHT}.csv").open(encoding="utf-8")))
    addresses = {row["email"].strip() for row in leads if ADDRESS.fullmatch(row["email"].strip())}
    assert len(addresses) > 150 and all(redact(f"to {a}.") == "to <email>." for a in addresses)


def test_run_reconcile_asks_for_a_reconciliation_that_a_rerun_keeps(project, capsys) -> None:
    args, _ = project
    config, warehouse = args[:2], args[2:]
    first, _ = run_json(capsys, [*config, "run", "--date", str(NIGHT), *warehouse, "--json"])
    asked, _ = run_json(capsys, [*config, "run", "--date", str(NIGHT), *warehouse, "--reconcile", "--json"])
    again, _ = run_json(capsys, [*config, "run", "--date", str(NIGHT), *warehouse, "--json"])
    assert [n["steps"]["extract_crm"]["reason"] for n in (first, asked, again)] == ["first", "requested", "requested"]
    assert first["steps"]["stage_core"]["leads"] == again["steps"]["stage_core"]["leads"]
