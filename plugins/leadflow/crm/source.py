"""CRM sources other than the file drop: pull leads changed since the last pull and land them in raw.crm_leads.

A source returns one row per lead changed in `[since, until)` with our column names
(`CRM_COLUMNS`); landing turns every value into the text the file drop would carry, so the raw
gates and `core.leads` treat both alike. `until` is the end of the as-of day, never now(). `since`
is the high-water mark of the earlier batches, or none on a reconciliation night: then every lead
is pulled (`leadflow.sources.marks`, docs/adr/0018).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

import pandas as pd

from leadflow.batches import cutoff
from leadflow.config import Settings
from leadflow.crm.hubspot import HubSpotCrmSource
from leadflow.crm.sql import SqlCrmSource
from leadflow.sources.files import forget_batch
from leadflow.sources.marks import ExtractPlan, newest_usable, plan_extract, record_extract, updated_at_utc
from leadflow.vocabulary import CRM_COLUMNS
from leadflow.warehouse import Warehouse


class CrmSource(Protocol):
    """A CRM we read leads from; `name` labels the landed rows (`_file`). A source may also have
    `count(until)`: how many leads it holds (the raw gate's volume on a night that pulls changes only)."""

    name: str

    def fetch(self, since: datetime | None, until: datetime) -> pd.DataFrame: ...


def utc_iso(value: datetime) -> str:
    """A timestamp as UTC ISO-8601 with microseconds: text order is time order."""
    if value.tzinfo is None:  # a CRM column without a zone is read as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def as_text(value: Any) -> str | None:
    """One CRM value as the file drop would write it (booleans true/false, timestamps UTC ISO)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp):
        return utc_iso(value.to_pydatetime())
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value)


def land(wh: Warehouse, plan: ExtractPlan, rows: pd.DataFrame, rows_read: int) -> int:
    """Replace this batch's raw CRM rows with `rows` (our columns) and record the extract, in one transaction."""
    frame = pd.DataFrame({c: [as_text(v) for v in rows[c]] if c in rows else None for c in CRM_COLUMNS}, dtype=object)
    frame["_batch_id"] = plan.batch_id
    # one `_file` per batch: quarantine is keyed by (_file, _row)
    frame["_file"] = f"{plan.source}@{plan.batch_id}"
    frame["_row"] = range(1, len(frame) + 1)
    frame["_loaded_at"] = datetime.now(UTC)  # audit column only; never used to select data
    newest = newest_usable(updated_at_utc(frame["updated_at"]), plan.cutoff)
    with wh.transaction():
        forget_batch(wh, "crm", plan.batch_id)
        wh.load_df("raw.crm_leads", frame)
        record_extract(wh, plan, max(rows_read, len(frame)), len(frame), newest)
    return len(frame)


def extract_from(
    wh: Warehouse, source: CrmSource, settings: Settings, as_of: date, batch_id: str, reconcile_every_days: int = 7
) -> dict:
    """Pull what changed since the mark (everything on a reconciliation night) up to the end of the
    as-of day, and land it."""
    until = cutoff(settings, as_of)
    plan = plan_extract(wh, source.name, batch_id, as_of, until, reconcile_every_days)
    rows = source.fetch(plan.since, until)
    count = getattr(source, "count", None)
    read = count(until) if count is not None and not plan.full else len(rows)
    landed = land(wh, plan, rows, read)
    extra = getattr(source, "summary", None)  # e.g. HubSpot values it could not translate
    return {
        "source": source.name,
        "batch_id": batch_id,
        **plan.summary(),
        "until": until.isoformat(),
        "rows": landed,
        "rows_read": max(read, landed),
        **(extra() if extra is not None else {}),
    }


def extract_crm(wh: Warehouse, settings: Settings, cfg: Any, as_of: date, batch_id: str) -> dict:
    """Land the configured non-file CRM source (`kind` sql or hubspot) as batch `batch_id`."""
    source: CrmSource
    if cfg.kind == "hubspot":
        source = HubSpotCrmSource.from_config(cfg)
    elif cfg.kind == "sql":
        source = SqlCrmSource.from_config(cfg)
    else:
        raise ValueError(f"unsupported CRM source kind {cfg.kind!r}")
    try:
        return extract_from(wh, source, settings, as_of, batch_id, cfg.reconcile_every_days)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
