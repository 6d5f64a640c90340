"""Which CRM records a night lands: those changed since the high-water mark, or all on a reconciliation.

The mark is the newest usable `updated_at` the earlier batches of the source read (`ops.crm_extracts`),
so a rerun of a night computes the same mark and lands the same rows. A reconciliation night (the
source's first batch, every `reconcile_every_days`, or a night an operator asked for) lands every
record: values edited without an `updated_at` bump come in again, and a lead missing from it is
deleted in the CRM (`sql/staging/deleted_leads.sql`). See docs/adr/0018.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from leadflow.warehouse import Warehouse

_ZONE_RE = r"[T ]\d{2}[^+\-Z]*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
"""A time followed by 'Z' or a UTC offset: the raw gate's rule for a timestamp it accepts."""


@dataclass(frozen=True)
class ExtractPlan:
    """How one CRM batch is read: every record (`full`), or those changed at or after `since`."""

    source: str
    batch_id: str
    full: bool
    since: datetime | None
    reason: str  # first | cadence | requested | changed
    cutoff: datetime

    def summary(self) -> dict[str, object]:
        return {
            "mode": "reconciliation" if self.full else "changed",
            "reason": self.reason,
            "since": None if self.since is None else self.since.isoformat(),
        }


def iso(value: datetime) -> str:
    """UTC ISO-8601 with microseconds: text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def updated_at_utc(values: pd.Series) -> pd.Series:
    """Each `updated_at` text as a UTC timestamp, NaT where the raw gate would not accept it (missing,
    not ISO-8601, or without a zone)."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.upper()
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    return parsed.where(text.str.contains(_ZONE_RE, regex=True, na=False))


def changed_rows(updated: pd.Series, since: datetime | None) -> np.ndarray:
    """Which rows a night lands: changed at or after `since` (a row at the mark again: a CRM clock
    gives two edits the same instant), or without a usable `updated_at` (landed, so the raw gate
    quarantines it with its reason, never dropped unseen); every row without a mark."""
    if since is None:
        return np.ones(len(updated), dtype=bool)
    return (updated.isna() | (updated >= pd.Timestamp(since))).to_numpy(dtype=bool)


def newest_usable(updated: pd.Series, cutoff: datetime) -> datetime | None:
    """The newest usable `updated_at` not after the run's cutoff (a clock in the future never moves
    the mark: those rows are quarantined and land again the next night)."""
    kept = updated[updated <= pd.Timestamp(cutoff)]
    newest = kept.max() if len(kept) else None
    return None if newest is None or pd.isna(newest) else newest.to_pydatetime()


def later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


_EARLIER = """
select full_snapshot, batch_id, newest_updated_at from ops.crm_extracts
where source = :source and batch_id < :batch_id
"""


def plan_extract(wh: Warehouse, source: str, batch: str, as_of: date, cutoff: datetime, every_days: int) -> ExtractPlan:
    """How batch `batch` of `source` is read, from the batches before it and the operator's requests."""
    earlier = wh.fetchall(_EARLIER, {"source": source, "batch_id": batch})
    marks = [datetime.fromisoformat(str(newest)) for _, _, newest in earlier if newest is not None]
    last_full = max((str(b) for full, b, _ in earlier if full), default=None)
    requested = wh.scalar("select count(*) from ops.crm_reconcile_requests where batch_id = :b", {"b": batch})
    if requested:
        reason = "requested"
    elif not marks or last_full is None:
        reason = "first"
    elif (as_of - date.fromisoformat(last_full)).days >= every_days:
        reason = "cadence"
    else:
        return ExtractPlan(source, batch, False, max(marks), "changed", cutoff)
    return ExtractPlan(source, batch, True, None, reason, cutoff)


def record_extract(
    wh: Warehouse, plan: ExtractPlan, rows_read: int, rows_landed: int, newest: datetime | None
) -> dict[str, object]:
    """Keep how the batch was read (`forget_batch` removes it with the batch); the extract's summary.
    The mark carries over a night that read nothing newer."""
    newest = later(plan.since, newest)
    wh.execute(
        "insert into ops.crm_extracts values (:b, :source, :full, :since, :read, :landed, :newest, :at)",
        {
            "b": plan.batch_id,
            "source": plan.source,
            "full": plan.full,
            "since": None if plan.since is None else iso(plan.since),
            "read": rows_read,
            "landed": rows_landed,
            "newest": None if newest is None else iso(newest),
            "at": datetime.now(UTC),
        },
    )
    return {**plan.summary(), "rows_read": rows_read, "newest_updated_at": None if newest is None else iso(newest)}


def request_reconciliation(wh: Warehouse, batch: str, by: str) -> None:
    """Ask for a reconciliation on night `batch` (its next extract, and every rerun, lands everything)."""
    with wh.transaction():
        wh.execute("delete from ops.crm_reconcile_requests where batch_id = :b", {"b": batch})
        wh.execute(
            "insert into ops.crm_reconcile_requests values (:b, :by, :at)",
            {"b": batch, "by": by, "at": datetime.now(UTC)},
        )


@dataclass(frozen=True)
class ExtractRecord:
    """What `ops.crm_extracts` holds for one batch (the raw CRM gate judges volume and freshness by it)."""

    full: bool
    rows_read: int
    newest: datetime | None


def extract_record(wh: Warehouse, batch: str) -> ExtractRecord | None:
    found = wh.fetchall(
        "select full_snapshot, rows_read, newest_updated_at from ops.crm_extracts where batch_id = :b", {"b": batch}
    )
    if not found:
        return None
    full, rows, newest = found[0]
    return ExtractRecord(bool(full), int(rows), None if newest is None else datetime.fromisoformat(str(newest)))
