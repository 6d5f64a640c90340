"""Access requests: everything leadflow holds about one person, as one JSON document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from leadflow.config import Settings
from leadflow.privacy.erase import PERSON_TABLES, find_person, request_for, sink_table
from leadflow.warehouse import Warehouse


def export_person(wh: Warehouse, settings: Settings, *, email: str | None = None, crm_id: str | None = None) -> dict:
    """The person's rows per table (`tables`), the emails of theirs in the file outbox (`outbox`) and
    whether they were erased before (`erased`), for the address or CRM id given."""
    request = request_for(settings, email=email, crm_id=crm_id, source="export")
    person = find_person(wh, [request.key_hash])
    tables: dict[str, list[dict[str, Any]]] = {}
    if person:
        binds = person.binds()
        sink = sink_table(settings)
        for table in [*PERSON_TABLES, "sink"] if sink else PERSON_TABLES:
            frame = wh.fetch_df(
                wh.model_sql("privacy/person_rows.sql", table=table, sink=sink or "", action="select"), binds
            )
            if not frame.empty:
                rows = json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))
                tables[sink if table == "sink" and sink else table] = rows
    outbox = settings.path(settings.mailer.outbox)
    emails = sorted(p.name for p in outbox.glob("*.eml") if p.stem in person.send_keys) if outbox.is_dir() else []
    erased = bool(wh.scalar("select count(*) from privacy.suppressions where key_hash = :h", {"h": request.key_hash}))
    return {
        "exported_at": datetime.now(UTC).isoformat(),
        "identities": {
            "emails": sorted(person.emails),
            "crm_ids": sorted(person.crm_ids),
            "lead_ids": sorted(person.lead_ids),
        },
        "erased": erased,
        "tables": tables,
        "outbox": emails,
        "counts": {name: len(rows) for name, rows in tables.items()},
    }
