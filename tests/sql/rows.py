"""Tiny inline rows for SQL model tests: a lead or an event with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

from leadflow.warehouse import Warehouse

# what scoring keeps between nights: emptied between hypothesis examples, compared between runs
SCORING_TABLES = (
    "core.leads",
    "core.events",
    "scoring.score_factors",
    "scoring.lead_scores",
    "scoring.keyed_events",
    "scoring.keyed_event_batches",
    "scoring.lead_keys",
    "scoring.event_triples",
    "scoring.rule_state",
    "scoring.rule_state_runs",
    "scoring.lead_activity",
)

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


def add_events(
    wh: Warehouse,
    crm_id: str,
    *events: tuple[str, str],
    url: str | None = None,
    asset: str | None = None,
    batch: str | None = None,
    prefix: str = "",
) -> None:
    """Events (event_type, local Tokyo date 'YYYY-MM-DD') for one lead, loaded as batch `batch`
    (default: the event's own day, as a nightly run of that day would)."""
    rows = [
        {
            "event_id": f"{prefix}{crm_id}-{n}-{etype}-{day}",
            "lead_id": lead_id(crm_id),
            "event_type": etype,
            "occurred_at": datetime.fromisoformat(f"{day}T10:00:00+09:00"),
            "event_date": pd.Timestamp(day).date(),
            "url": url,
            "asset": asset,
            "_batch_id": batch or day,
        }
        for n, (etype, day) in enumerate(events)
    ]
    wh.load_df("core.events", pd.DataFrame(rows))


BASE_RULES = {
    "score_range": [0, 100],
    "fit_grades": {"A": 40, "B": 25, "C": 10},
    "stages": {"warm_threshold": 40, "hot_threshold": 75},
    "fit": [],
    "engagement": [],
}


def label(name: str) -> dict:
    return {"ja": name, "en": name}


def fit_rule(
    rule_id: str, field: str, op: str, value: object = None, points: float = 10, group: str | None = None
) -> dict:
    rule = {
        "id": rule_id,
        "group": group or rule_id,
        "field": field,
        "op": op,
        "points": points,
        "label": label(rule_id),
    }
    if value is not None:
        rule["value"] = value
    return rule


def engagement_rule(rule_id: str, event: str, **options: object) -> dict:
    defaults = {"points": 10, "cap": 100, "half_life_days": 1000, "window_days": 365, "max_per_day": 10}
    return {"id": rule_id, "event": event, **defaults, **options, "label": label(rule_id)}


def write_rules(path: Path, **overrides: object) -> Path:
    """A scoring.yml at `path`: a neutral base (no rules) with `overrides` laid over it."""
    path.write_text(yaml.safe_dump({**BASE_RULES, **overrides}, allow_unicode=True), encoding="utf-8")
    return path
