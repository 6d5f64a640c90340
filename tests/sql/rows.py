"""Tiny inline rows for SQL model tests: a lead or an event with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from leadflow.warehouse import Warehouse

LEAD_DEFAULTS = {
    "email": None,
    "first_name": "健太",
    "last_name": "佐藤",
    "company": "株式会社テスト",
    "industry": "retail",
    "employee_count": 10,
    "job_title": "担当者",
    "country": "JP",
    "locale": "ja",
    "timezone": "Asia/Tokyo",
    "lead_source": "seo",
    "owner_email": "rep@leadflow.example",
    "email_opt_in": True,
    "bant_budget": None,
    "bant_authority": None,
    "bant_need": None,
    "bant_timeline": None,
    "crm_status": "new",
    "created_at": datetime(2026, 11, 1, tzinfo=UTC),
    "updated_at": datetime(2026, 11, 1, tzinfo=UTC),
}


def lead_id(crm_id: str) -> str:
    import hashlib

    return hashlib.md5(crm_id.encode()).hexdigest()[:16]  # noqa: S324 — same id as the SQL's md5()


def add_leads(wh: Warehouse, *leads: dict) -> None:
    rows = []
    for lead in leads:
        row = {**LEAD_DEFAULTS, **lead}
        row.setdefault("email", f"{row['crm_id'].lower()}@example.co.jp")
        if row["email"] is None:
            row["email"] = f"{row['crm_id'].lower()}@example.co.jp"
        rows.append({"lead_id": lead_id(row["crm_id"]), **row})
    frame = pd.DataFrame(rows)
    frame["employee_count"] = frame["employee_count"].astype("Int64")
    wh.load_df("core.leads", frame.astype(object).where(frame.notna(), None))


def add_events(wh: Warehouse, crm_id: str, *events: tuple[str, str], url: str | None = None) -> None:
    """Events (event_type, local Tokyo date 'YYYY-MM-DD') for one lead."""
    rows = [
        {
            "event_id": f"{crm_id}-{n}-{etype}-{day}",
            "lead_id": lead_id(crm_id),
            "event_type": etype,
            "occurred_at": datetime.fromisoformat(f"{day}T10:00:00+09:00"),
            "event_date": pd.Timestamp(day).date(),
            "url": url,
            "asset": None,
            "_batch_id": day,
        }
        for n, (etype, day) in enumerate(events)
    ]
    wh.load_df("core.events", pd.DataFrame(rows))
