"""Suppressions: bounces, spam reports and unsubscribes pulled from SendGrid before each send run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from leadflow.config import Settings
from leadflow.warehouse import Warehouse


def sync_suppressions(wh: Warehouse, settings: Settings, as_of: date, mailer: Any = None) -> dict:
    """Add every address SendGrid suppresses (bounces, spam reports, unsubscribes, unsubscribes from
    our ASM group) to `nurture.suppressions` (the file outbox has none)."""
    if settings.mailer.kind != "sendgrid":
        return {"synced": 0, "source": "file outbox keeps no suppressions"}
    from leadflow.nurture.mailer import mailer_from_settings

    mailer = mailer or mailer_from_settings(settings)
    rows = mailer.fetch_suppressions(None)
    if not rows:
        return {"synced": 0, "source": "sendgrid"}
    frame = pd.DataFrame(rows)
    frame["email"] = frame["email"].str.strip().str.lower()
    frame = frame.drop_duplicates("email")
    frame["source"] = "sendgrid"
    frame["created_at"] = pd.to_datetime(frame.get("created_at"), utc=True, errors="coerce").fillna(datetime.now(UTC))
    with wh.transaction():
        wh.execute("drop table if exists _suppressions")
        wh.execute("create temp table _suppressions (email text, kind text, source text, created_at timestamptz)")
        wh.load_df("_suppressions", frame.loc[:, ["email", "kind", "source", "created_at"]])
        wh.execute(
            "insert into nurture.suppressions select * from _suppressions as s "
            "where not exists (select 1 from nurture.suppressions as x where x.email = s.email)"
        )
    return {"synced": len(frame), "source": "sendgrid"}
