"""Erasure requests pushed to the intake (`POST /privacy/erasure`) and their application by leadflow_intake.

The service hashes the address or CRM id at the door (`request_for`): the inbox record holds the keyed
hash, the reason and when it was asked, never the address. leadflow_intake's `apply_erasures` task
applies the pending requests before anything else of the inbox, so a pending event of the same
person is removed with them rather than applied.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from leadflow.config import Settings
from leadflow.privacy.erase import ErasureRequest, apply_erasure, request_for
from leadflow.privacy.keys import PrivacySecretMissing
from leadflow.warehouse import Warehouse

KIND = "erasure"


class BadErasureRequest(ValueError):
    """A pushed erasure request the intake refuses (422), with a message for the sender."""


def erasure_record(settings: Settings, body: bytes) -> tuple[str, dict[str, Any]]:
    """The inbox record (dedupe key, payload) for a pushed request: a JSON object with `email` or
    `crm_id` (one of them), optional `reason` and `request_id` (a retry with the same id adds nothing;
    without one, the person and the day)."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise BadErasureRequest("body is not JSON") from None
    if not isinstance(doc, dict):
        raise BadErasureRequest("body must be a JSON object")
    email, crm_id = doc.get("email"), doc.get("crm_id")
    if not all(v is None or isinstance(v, str) for v in (email, crm_id, doc.get("reason"), doc.get("request_id"))):
        raise BadErasureRequest("email, crm_id, reason and request_id must be strings")
    reason = (doc.get("reason") or "data subject request")[:500]
    try:
        request = request_for(settings, email=email, crm_id=crm_id, reason=reason, source="intake")
    except PrivacySecretMissing:
        raise
    except ValueError as exc:
        raise BadErasureRequest(str(exc).replace("--email", "email").replace("--crm-id", "crm_id")) from None
    request_id = (doc.get("request_id") or "").strip()[:200]
    key = f"request:{request_id}" if request_id else f"{request.key_hash}:{request.requested_at.date().isoformat()}"
    payload = {
        "erasure_id": f"intake-{request.key_hash[:12]}-{request.requested_at:%Y%m%dT%H%M%S%f}",
        "key_hash": request.key_hash,
        "key_kind": request.key_kind,
        "reason": reason,
        "requested_at": request.requested_at.isoformat(),
    }
    return key, payload


def apply_erasure_requests(wh: Warehouse, settings: Settings, as_of: date | None = None, *, run: str = "") -> dict:
    """Apply every pending erasure request of `ops.inbox`, oldest first; counts per table summed."""
    pending = wh.fetchall(wh.model_sql("privacy/pending_erasures.sql"), {"kind": KIND})
    totals: dict[str, int] = {}
    for dedupe_key, payload in pending:
        doc = json.loads(payload)
        request = ErasureRequest(
            key_hash=doc["key_hash"],
            key_kind=doc["key_kind"],
            reason=doc.get("reason") or "data subject request",
            source="intake",
            requested_at=datetime.fromisoformat(doc["requested_at"]),
            erasure_id=doc["erasure_id"],
        )
        counts = apply_erasure(wh, settings, request)
        for name, n in counts.items():
            totals[name] = totals.get(name, 0) + n
        wh.execute(
            "update ops.inbox set applied_at = :now, apply_run = :run, outcome = :outcome "
            "where kind = :kind and dedupe_key = :key",
            {
                "now": datetime.now(UTC),
                "run": run,
                "outcome": f"applied: erasure {request.erasure_id}",
                "kind": KIND,
                "key": dedupe_key,
            },
        )
    return {"erasures": len(pending), "removed": totals}
