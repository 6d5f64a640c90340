"""The run-level gates against the warehouse: what each compares with (previous batches, core.leads,
the score range, operator approvals), read through `sql/validation/*.sql`, checked by `checks`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadflow.sources.marks import ExtractRecord
from leadflow.validation import checks
from leadflow.validation.checks import RunAnomaly
from leadflow.validation.settings import ValidationSettings

if TYPE_CHECKING:
    from leadflow.validation.raw import GateTotals
    from leadflow.warehouse import Warehouse


def approved(wh: Warehouse, batch: str, check: str) -> int | None:
    """The larger run an operator approved for `check` ("<gate>.<check>") of `batch`, if any."""
    value = wh.scalar(wh.model_sql("validation/approval.sql"), {"batch_id": batch, "check_name": check})
    return int(value) if value is not None else None


def approve(wh: Warehouse, batch: str, check: str, up_to: int, by: str) -> None:
    """Record that `by` approved up to `up_to` for `check` of `batch` (the next rerun honours it)."""
    known = {
        f"{checks.RAW_CRM}.volume_spike",
        f"{checks.RAW_CRM}.volume_drop",
        f"{checks.TRANSITIONS}.new_hot_bounded",
    }
    if check not in known:
        raise ValueError(f"cannot approve {check!r}: only {', '.join(sorted(known))} take approvals")
    if up_to < 0:
        raise ValueError(f"--up-to must not be negative, got {up_to}")
    params = {"batch_id": batch, "check_name": check, "approved_up_to": up_to, "approved_by": by}
    with wh.transaction():
        wh.run_script(wh.model_sql("validation/approve.sql"), params | {"approved_at": datetime.now(UTC)})


def previous_rows(wh: Warehouse, validation: str, batch: str) -> tuple[str, int] | None:
    """(batch, rows) of the latest successful earlier run of `validation`, if any: for the raw CRM gate
    the rows its source held (`source_rows`), else the rows of the batch."""
    found = wh.fetchall(wh.model_sql("validation/previous_result.sql"), {"validation": validation, "batch_id": batch})
    if not found:
        return None
    previous_batch, summary = found[0]
    recorded = json.loads(summary)
    rows = recorded.get("source_rows", recorded.get("rows"))
    return (str(previous_batch), int(rows)) if rows is not None else None


def newest_updated_at(clean: pd.DataFrame) -> datetime | None:
    """The newest updated_at of clean CRM rows (a chunk's or a batch's), if any."""
    updated = pd.to_datetime(clean["updated_at"], utc=True, format="ISO8601")
    newest = updated.max() if len(updated) else None
    return None if newest is None or pd.isna(newest) else newest.to_pydatetime()


def crm_volume(result: GateTotals, extracted: ExtractRecord | None) -> dict[str, Any]:
    """What the raw CRM gate's volume is judged on, for the batch's validation summary: the records the
    source held (`source_rows`: the due exports' rows, or the CRM's count), not the changed records a
    night lands, and how the batch was read (docs/adr/0018). A batch landed without an extract record
    (an older release's) is judged on its rows."""
    if extracted is None:
        return {"source_rows": result.rows}
    return {"source_rows": extracted.rows_read, "reconciliation": extracted.full}


def raw_crm(
    wh: Warehouse,
    cfg: ValidationSettings,
    batch: str,
    summary: dict[str, Any],
    cutoff: datetime,
    newest: datetime | None,
    extracted: ExtractRecord | None = None,
) -> list[dict]:
    """Volume of the records the source held (`summary["source_rows"]`) against the previous batch, and
    freshness of the newest updated_at: of the clean rows (`newest`) or of every record the extract read."""
    if extracted is not None and extracted.newest is not None:
        newest = extracted.newest if newest is None else max(newest, extracted.newest)
    rows = int(summary["source_rows"])
    params = checks.raw_crm_parameters(
        cfg,
        batch=batch,
        rows=rows,
        newest=newest,
        cutoff=cutoff,
        previous=previous_rows(wh, str(summary["name"]), batch),
        approved=approved(wh, batch, f"{checks.RAW_CRM}.volume_spike"),
        approved_drop=approved(wh, batch, f"{checks.RAW_CRM}.volume_drop"),
    )
    frame = checks.raw_crm_frame(rows, newest)
    return checks.check_frame(checks.RAW_CRM, frame, params, where=f"batch {batch}")


class KnownLeads:
    """Every crm_id and email an event of a batch can resolve to (in core.leads or the batch's CRM rows)."""

    def __init__(self, wh: Warehouse, batch: str) -> None:
        # Arrow sets, built once and never as two million Python `str` objects (at 1M leads those kept
        # the validating process ~95 MB larger); pandas would rebuild a set for every chunk.
        known = wh.fetch_arrow(wh.model_sql("validation/known_leads.sql"), {"batch_id": batch})
        self.crm_ids = pc.unique(pc.drop_null(known["crm_id"])).cast(pa.string())
        self.emails = pc.unique(pc.drop_null(known["email"])).cast(pa.string())

    def resolved(self, clean: pd.DataFrame) -> int:
        """How many of these clean events resolve to a known lead, by crm_id or email."""
        by_id = _member(pa.array(clean["crm_id"], type=pa.string(), from_pandas=True), self.crm_ids)
        by_email = _member(pa.array(clean["email"], type=pa.string(), from_pandas=True), self.emails)
        return int(pc.sum(pc.or_(by_id, by_email)).as_py() or 0)


def _member(values: pa.Array, known: pa.Array) -> pa.Array:
    """`values` is_in `known`, hashing a chunk's few distinct values rather than every known one (a value
    set is hashed again on every call: 1M known ids per 100k-row chunk cost 0.25 s, this 0.06 s): the known
    values the chunk holds are found first, then the chunk is looked up in those."""
    seen = pc.filter(known, pc.is_in(known, value_set=pc.unique(values)))
    return pc.is_in(values, value_set=seen)


def raw_events(wh: Warehouse, cfg: ValidationSettings, batch: str, result: GateTotals, resolved: int) -> list[dict]:
    """The share of the batch's valid events (`result.clean`) that resolve to a lead (`resolved`)."""
    params = checks.resolution_parameters(cfg, events=result.clean, resolved=resolved)
    return checks.check_frame(checks.RAW_EVENTS, checks.resolution_frame(params), params, where=f"batch {batch}")


def _baseline(wh: Warehouse, as_of: date) -> dict[str, Any]:
    frame = wh.fetch_df(wh.model_sql("validation/score_baseline.sql"), {"as_of_date": as_of.isoformat()})
    row = frame.astype(object).where(frame.notna(), None).iloc[0].to_dict()
    previous = row["previous_date"]
    row["previous_date"] = pd.Timestamp(previous).date() if previous is not None else None
    return row


def scores(wh: Warehouse, cfg: ValidationSettings, as_of: date) -> tuple[dict, list[dict]]:
    """(summary, results) of the scores gate for `as_of`; RunAnomaly when a check fails."""
    wh.run_model("validation/score_check.sql")
    base = _baseline(wh, as_of)
    if base["score_min"] is None:
        raise RunAnomaly(f"{checks.SCORES}: scoring.settings is empty (as-of date {as_of}); run the score step first")
    params = checks.score_parameters(
        cfg,
        leads=int(base["leads"]),
        score_min=base["score_min"],
        score_max=base["score_max"],
        previous_date=base["previous_date"],
        previous_mean=base["previous_mean"],
    )
    summary = {"scored": int(base["scored"]), "leads": int(base["leads"]), "previous_date": params["previous_date"]}
    if not base["scored"]:
        if base["leads"]:
            raise RunAnomaly(
                f"{checks.SCORES}: one_per_lead: 0 scores for {int(base['leads']):,} leads; expected one per lead "
                f"(as-of date {as_of})",
                result=[],
            )
        return summary, []
    results = checks.check_day(wh, checks.SCORES, checks.SCORE_VIEW, as_of, params, where=f"as-of date {as_of}")
    return summary, results


def transitions(wh: Warehouse, cfg: ValidationSettings, as_of: date, batch: str) -> tuple[dict, list[dict]]:
    """(summary, results) of the transitions gate for `as_of`; RunAnomaly when a check fails."""
    wh.run_model("validation/transition_check.sql")
    base = _baseline(wh, as_of)
    count = wh.scalar(wh.model_sql("validation/transition_count.sql"), {"as_of_date": as_of.isoformat()})
    summary = {"transitions": int(count)}
    if not count:
        return summary, []
    params = checks.transition_parameters(
        cfg,
        batch=batch,
        leads=int(base["scored"]),
        approved=approved(wh, batch, f"{checks.TRANSITIONS}.new_hot_bounded"),
    )
    results = checks.check_day(
        wh, checks.TRANSITIONS, checks.TRANSITION_VIEW, as_of, params, where=f"as-of date {as_of}"
    )
    return summary, results
