"""`leadflow export-person`, `leadflow erase` and `leadflow housekeep` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from leadflow.cli import main
from leadflow.pipeline import create_schemas
from leadflow.warehouse import connect

ROOT = Path(__file__).resolve().parents[2]


def config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "config" / "leadflow.yml").read_text(encoding="utf-8"))
    data["sources"]["crm"]["path"] = str(tmp_path / "landing" / "crm")
    data["sources"]["web"]["path"] = str(tmp_path / "landing" / "web")
    data["mailer"]["outbox"] = str(tmp_path / "outbox")
    data["intake"]["inbox_path"] = str(tmp_path / "inbox")
    data["privacy"]["scrub_paths"] = []
    path = tmp_path / "leadflow.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_export_then_erase_then_nothing_is_held(tmp_path, capsys):
    uri = f"duckdb://{tmp_path / 'warehouse.duckdb'}"
    with connect(uri) as wh:
        create_schemas(wh)
        wh.execute(
            "insert into core.leads (lead_id, crm_id, email, first_name, locale, timezone, email_opt_in, crm_status) "
            "values ('l1', 'C-1', 'aiko@example.co.jp', '愛子', 'ja', 'Asia/Tokyo', true, 'new'), "
            "('l2', 'C-2', 'ben@example.com', 'Ben', 'en', 'UTC', true, 'new')"
        )
        wh.execute("insert into lifecycle.lead_stages values ('l1', 'warm', '2026-11-01', '2026-11-22', 'score', 'v1')")
    base = ["--config", str(config(tmp_path))]
    out = tmp_path / "aiko.json"
    assert main([*base, "export-person", "--email", "Aiko@Example.co.jp", "--warehouse", uri, "--out", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["identities"] == {"emails": ["aiko@example.co.jp"], "crm_ids": ["C-1"], "lead_ids": ["l1"]}
    assert doc["tables"]["core.leads"][0]["first_name"] == "愛子"
    assert doc["counts"] == {"core.leads": 1, "lifecycle.lead_stages": 1} and doc["erased"] is False

    assert main([*base, "erase", "--crm-id", "C-1", "--reason", "request 7", "--warehouse", uri]) == 0
    printed = capsys.readouterr().out
    assert "core.leads" in printed and "lifecycle.lead_stages" in printed and "aiko" not in printed.lower()
    assert main([*base, "erase", "--crm-id", "C-1", "--warehouse", uri]) == 0
    assert "nothing held" in capsys.readouterr().out
    assert main([*base, "export-person", "--email", "aiko@example.co.jp", "--warehouse", uri]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["tables"] == {} and again["erased"] is True  # the address hash is kept, nothing else

    # a user's mistake is a clear error, never a stack trace
    assert main([*base, "erase", "--email", "not-an-address", "--warehouse", uri]) == 2
    assert "not an email address" in capsys.readouterr().err
    assert main([*base, "housekeep", "--date", "2026-11-22", "--warehouse", uri]) == 0
    with connect(uri) as wh:
        assert wh.fetchall("select crm_id from core.leads") == [("C-2",)]


def test_real_sending_without_the_secret_refuses_to_erase(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LEADFLOW_PRIVACY_SECRET", raising=False)
    path = config(tmp_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["mailer"]["kind"] = "sendgrid"  # a hash under the development key would be as weak as a bare one
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    uri = f"duckdb://{tmp_path / 'warehouse.duckdb'}"
    assert main(["--config", str(path), "erase", "--email", "a@example.jp", "--warehouse", uri]) == 2
    assert "LEADFLOW_PRIVACY_SECRET is not set" in capsys.readouterr().err
