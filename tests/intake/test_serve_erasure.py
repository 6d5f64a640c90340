"""Erasure requests pushed to a running `leadflow serve` (`POST /privacy/erasure`): signed like pushed
events, hashed at the door, applied by leadflow_intake's apply_erasures step."""

from __future__ import annotations

import json

import httpx

from leadflow.config import load_settings
from leadflow.intake.inbox import load_segments
from leadflow.pipeline import create_schemas
from leadflow.privacy.keys import DEV_SECRET, keyed_hash
from leadflow.privacy.requests import apply_erasure_requests
from leadflow.warehouse import connect
from tests.intake.serve_process import INTAKE_SECRET, inbox_rows

ADDRESS = "Hanako.Erase@Example.co.jp"


def post(service, doc: object, signature: str | None = None):
    body = json.dumps(doc).encode()
    sig = signature if signature is not None else "sha256=" + intake_hmac(body)
    return httpx.post(
        f"{service.url}/privacy/erasure",
        content=body,
        headers={"Content-Type": "application/json", "X-Leadflow-Signature": sig},
    )


def intake_hmac(body: bytes) -> str:
    import hashlib
    import hmac

    return hmac.new(INTAKE_SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_a_pushed_erasure_keeps_only_a_keyed_hash_and_is_applied(start_service, tmp_path):
    service = start_service()
    assert post(service, {"email": ADDRESS}, signature="sha256=" + "0" * 64).status_code == 401
    for bad in ({}, {"email": ADDRESS, "crm_id": "C-1"}, {"email": "not-an-address"}, {"email": 7}, [ADDRESS]):
        response = post(service, bad)
        assert response.status_code == 422, bad
        assert ADDRESS.lower() not in response.text.lower()
    accepted = post(service, {"email": ADDRESS, "reason": "APPI request", "request_id": "dsr-42"})
    assert accepted.status_code == 202 and accepted.json()["erasure_id"].startswith("intake-")
    assert post(service, {"email": ADDRESS, "request_id": "dsr-42"}).status_code == 202  # a retry adds nothing
    rows = inbox_rows(service)
    digest = keyed_hash(DEV_SECRET.encode(), ADDRESS.lower())
    assert [(kind, key, payload["key_hash"]) for kind, key, payload in rows] == [("erasure", "request:dsr-42", digest)]
    # the address itself went nowhere: not the inbox, not the access log
    kept = b"".join(p.read_bytes() for p in (service.home / "inbox").glob("*.jsonl"))
    assert b"hanako" not in kept.lower()
    assert "hanako" not in json.dumps(service.access_log()).lower()
    assert {e["path"] for e in service.access_log()} == {"/privacy/erasure", "/healthz"}

    # leadflow_intake's apply_erasures: the person goes, the request is marked applied
    base = load_settings(service.config)
    settings = base.model_copy(
        update={
            "mailer": base.mailer.model_copy(update={"outbox": tmp_path / "outbox"}),
            "sources": base.sources.model_copy(
                update={
                    "crm": base.sources.crm.model_copy(update={"path": tmp_path / "landing" / "crm"}),
                    "web": base.sources.web.model_copy(update={"path": tmp_path / "landing" / "web"}),
                }
            ),
            "privacy": base.privacy.model_copy(update={"scrub_paths": ()}),
        }
    )
    with connect(f"duckdb://{tmp_path / 'warehouse.duckdb'}") as wh:
        create_schemas(wh)
        wh.execute(
            "insert into core.leads (lead_id, crm_id, email, locale, timezone, email_opt_in, crm_status) "
            "values ('l1', 'C-1', :e, 'ja', 'Asia/Tokyo', true, 'new'), "
            "('l2', 'C-2', 'other@example.co.jp', 'ja', 'Asia/Tokyo', true, 'new')",
            {"e": ADDRESS.lower()},
        )
        load_segments(wh, service.home / "inbox")
        result = apply_erasure_requests(wh, settings, run="test-run")
        assert result == {"erasures": 1, "removed": {"core.leads": 1}}
        assert wh.fetchall("select crm_id from core.leads") == [("C-2",)]
        assert wh.fetchall("select source, reason, key_hash from ops.erasures") == [("intake", "APPI request", digest)]
        assert wh.scalar("select outcome from ops.inbox where kind = 'erasure'").startswith("applied: erasure intake-")
        assert apply_erasure_requests(wh, settings, run="again") == {"erasures": 0, "removed": {}}
