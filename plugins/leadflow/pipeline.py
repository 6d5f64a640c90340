"""The nightly steps as plain functions of (warehouse, settings, as-of date); the DAGs only call these."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime

import pandas as pd

from leadflow.batches import batch_id, cutoff, model_params
from leadflow.config import RECONCILE_EVERY_DAYS, FileSourceConfig, Settings
from leadflow.crm.source import extract_crm
from leadflow.scoring import key_events as key_events  # a nightly step; re-exported for the DAG
from leadflow.scoring import score as score
from leadflow.sources.files import RAW_TABLES, extract_files
from leadflow.sources.marks import extract_record, plan_extract, request_reconciliation
from leadflow.validation import gates
from leadflow.validation.checks import RunAnomaly
from leadflow.validation.raw import (
    KEYS,
    GateResult,
    GateTotals,
    ValidationFailed,
    held_events,
    key_strip,
    validate_batch,
)
from leadflow.validation.settings import of
from leadflow.vocabulary import CRM_COLUMNS, EVENT_COLUMNS, STAGES
from leadflow.warehouse import Warehouse

SCHEMA_MODELS = tuple(
    f"schema/{name}"
    for name in (
        "00_raw.sql",
        "01_ops.sql",
        "02_core.sql",
        "03_scoring.sql",
        "04_lifecycle.sql",
        "05_nurture.sql",
        "06_crm.sql",
        "07_intake.sql",
        "08_privacy.sql",
    )
)


def create_schemas(wh: Warehouse, settings: Settings | None = None, as_of: date | None = None) -> None:
    """Create every schema and table that does not exist yet, and the fixed lifecycle edges."""
    for model in SCHEMA_MODELS:
        wh.run_model(model)
    wh.run_model("lifecycle/allowed_transitions.sql")


def request_crm_reconciliation(wh: Warehouse, settings: Settings, as_of: date, by: str) -> dict:
    """Ask that the night of `as_of` reconcile the CRM: land every record, catch edits made without an
    updated_at bump and leads deleted in the CRM (kept: a rerun of the night reconciles again)."""
    request_reconciliation(wh, batch_id(as_of), by)
    return {"reconcile_crm": batch_id(as_of), "requested_by": by}


def extract(wh: Warehouse, settings: Settings, as_of: date, source: str) -> dict:
    """Land the source's due files into `raw.*` as this run's batch (CRM: the records changed since the
    high-water mark, or every record on a reconciliation night; docs/adr/0018)."""
    cfg = getattr(settings.sources, source)
    batch = batch_id(as_of)
    if source == "crm":
        _crm_batch_changes(wh, batch)
    if not isinstance(cfg, FileSourceConfig):
        return extract_crm(wh, settings, cfg, as_of, batch)
    plan = None
    if source == "crm":
        every = int(getattr(cfg, "reconcile_every_days", RECONCILE_EVERY_DAYS))
        plan = plan_extract(wh, FILE_SOURCE, batch, as_of, cutoff(settings, as_of), every)
    summary = asdict(extract_files(wh, source, settings.path(cfg.path), cfg.pattern, as_of, batch, plan=plan))
    extracted = summary.pop("extract")
    return summary | (extracted or {})


FILE_SOURCE = "files"
"""The file drop's name in `ops.crm_extracts` (SQL and HubSpot sources use their own)."""


def _crm_batch_changes(wh: Warehouse, batch: str) -> None:
    """The raw rows or the quarantine of CRM batch `batch` may change: staging merges it again."""
    wh.execute("delete from core.leads_batches where _batch_id = :b", {"b": batch})


def validate_raw(wh: Warehouse, settings: Settings, as_of: date, source: str) -> dict:
    """Great Expectations gates over this batch's raw rows: quarantine bad rows, then fail the run on
    too many of them or on a run-level anomaly (CRM volume and freshness, event resolution).

    The batch streams through the gate `chunk_rows` rows at a time (memory follows the chunk, not the
    batch); duplicates are judged over the whole batch on the rows whose key another row shares.
    The quarantine and the validation record of the batch are replaced in one transaction."""
    cfg = of(settings)
    batch = batch_id(as_of)
    table, key = RAW_TABLES[source], KEYS[source]
    names = {
        "table": table,
        "key": key,
        "columns": (CRM_COLUMNS if source == "crm" else EVENT_COLUMNS) + ("_file", "_row"),
    }
    rows_sql = wh.model_sql("validation/raw_batch_rows.sql", **names)
    files_sql = wh.model_sql("validation/raw_batch_files.sql", **names)
    shared_sql = wh.model_sql("validation/raw_shared_keys.sql", **names)
    known = gates.KnownLeads(wh, batch) if source == "web" else None
    newest: list[datetime] = []
    resolved = 0
    quarantined_at = datetime.now(UTC)

    def keep(part: GateResult) -> None:
        nonlocal resolved
        _keep_gate_result(wh, source, batch, part.quarantine, quarantined_at)
        if known is not None:
            _keep_held_events(wh, batch, part.clean, cutoff(settings, as_of))
            resolved += known.resolved(part.clean)
        elif (found := gates.newest_updated_at(part.clean)) is not None:
            newest.append(found)

    failure: Exception | None = None
    run_results: list = []
    with wh.transaction():
        wh.execute(
            "delete from ops.quarantine where source = :s and batch_id = :b and reason not like 'line is not%'",
            {"s": source, "b": batch},
        )
        if source == "crm":
            _crm_batch_changes(wh, batch)
        else:
            wh.execute("delete from ops.held_events where batch_id = :b", {"b": batch})
        chunks = (_as_text(c) for c in wh.fetch_chunks(rows_sql, {"b": batch}, rows=cfg.chunk_rows))
        shared = _as_text(wh.fetch_df(shared_sql, {"b": batch, "strip": key_strip()}))
        try:
            with wh.streaming_memory():  # the shared keys' grouping above needs the whole cap; the chunks don't
                result = validate_batch(
                    source,
                    chunks,
                    shared,
                    as_of=cutoff(settings, as_of),
                    max_bad_share=cfg.max_bad_share,
                    batch=batch,
                    keep=keep,
                    files=[f for (f,) in wh.fetchall(files_sql, {"b": batch})],
                )
        except ValidationFailed as exc:
            if not isinstance(exc.result, GateTotals):
                raise
            failure, result = exc, exc.result  # keep the evidence the message points at, then fail the run
        summary = result.summary()
        if source == "crm":
            extracted = extract_record(wh, batch)
            summary |= gates.crm_volume(result, extracted)
        if failure is None:
            try:
                if source == "crm":
                    run_results = gates.raw_crm(
                        wh, cfg, batch, summary, cutoff(settings, as_of), max(newest, default=None), extracted
                    )
                else:
                    run_results = gates.raw_events(wh, cfg, batch, result, resolved)
            except RunAnomaly as anomaly:
                failure, run_results = anomaly, anomaly.result or []
        record_validation(wh, batch, result.name, failure is None, summary, result.results + run_results)
    if failure is not None:
        raise failure
    return summary


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw rows as the gates take them: text columns as pandas strings (missing values as missing),
    `_row` as a number. DuckDB's Arrow batches are that already (no copy through Python objects)."""
    return frame.astype({c: "str" for c in frame.columns if c != "_row"})


def _keep_gate_result(wh: Warehouse, source: str, batch: str, quarantine: pd.DataFrame, at: datetime) -> None:
    """Append quarantined rows of `batch` (one chunk's, as the gate hands them over) to ops.quarantine."""
    if len(quarantine):
        q = quarantine.loc[:, ["_file", "_row", "record", "reason"]].copy()
        q.insert(0, "source", source)
        q.insert(1, "batch_id", batch)
        q["quarantined_at"] = at
        wh.load_df("ops.quarantine", q)


def _keep_held_events(wh: Warehouse, batch: str, clean: pd.DataFrame, run_cutoff: datetime) -> None:
    """Keep the clean events of `batch` stamped after the run's cutoff in `ops.held_events`: a later
    night stages them (they are early, not bad; the gate quarantined those beyond the next night)."""
    held = held_events(clean, run_cutoff)
    if len(held):
        held = held.loc[:, ["_file", "_row", "due_date", *EVENT_COLUMNS]]
        held.insert(0, "batch_id", batch)
        wh.load_df("ops.held_events", held.astype(object).where(held.notna(), None))


def record_validation(wh: Warehouse, batch: str, name: str, success: bool, summary: dict, results: list) -> None:
    """Keep one validation's outcome in `ops.validation_results` (replacing a rerun's)."""
    with wh.transaction():
        wh.execute(
            "delete from ops.validation_results where batch_id = :b and validation = :v", {"b": batch, "v": name}
        )
        wh.execute(
            "insert into ops.validation_results values (:b, :v, :ok, :summary, :results, :at)",
            {
                "b": batch,
                "v": name,
                "ok": success,
                "summary": json.dumps(summary, default=str, ensure_ascii=False),
                "results": json.dumps(results, default=str, ensure_ascii=False),
                "at": datetime.now(UTC),
            },
        )


def stage_core(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Merge the CRM batches not staged yet into `core.leads` (a rebuild from every raw row when a
    current record came from one of them), without the leads a reconciliation found deleted in the CRM
    (`core.deleted_leads`, judged again when one is staged), and resolve this batch's events into
    `core.events`."""
    params = model_params(settings, as_of, batch_id=batch_id(as_of), default_timezone=settings.timezone)
    with wh.transaction():
        full = bool(wh.scalar(wh.model_sql("staging/leads_rebuild_needed.sql")))
        # a rerun of an earlier night: core.leads goes back to the CRM as it stood then (see ADR 0007)
        full = full or bool(wh.scalar(_LATER_BATCHES, {"b": batch_id(as_of)}))
        # deletions are judged again when a reconciliation comes in, or as of the night on a rebuild
        reconciled = full or bool(wh.scalar(_PENDING_RECONCILIATION, {"b": batch_id(as_of)}))
        if reconciled:
            wh.run_model("staging/deleted_leads.sql", params, full=full)
        wh.run_model("staging/stg_leads.sql", params, full=full, upto=True)
        wh.run_model("staging/leads_batches.sql", params, full=full, upto=True)
    wh.run_model("staging/stg_events.sql", params)
    return {
        "leads": wh.scalar("select count(*) from core.leads"),
        "leads_rebuilt": full,
        "deleted_leads": wh.scalar("select count(*) from core.deleted_leads"),
        "events_in_batch": wh.scalar("select count(*) from core.events where _batch_id = :b", {"b": batch_id(as_of)}),
    }


_LATER_BATCHES = "select count(*) > 0 from core.leads_batches where _batch_id > :b"
_PENDING_RECONCILIATION = """
select count(*) > 0 from ops.crm_extracts as e
where
    e.full_snapshot
    and e.batch_id <= :b
    and not exists (select 1 from core.leads_batches as lb where lb._batch_id = e.batch_id)
"""


def check_scores(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Run-level score gate: one score per lead, complete, in range, factors adding up to the total,
    and a mean within the configured shift of the previous scored date (kept in ops.validation_results)."""
    batch = batch_id(as_of)
    try:
        summary, results = gates.scores(wh, of(settings), as_of)
    except RunAnomaly as anomaly:
        record_validation(wh, batch, "scores", False, {"as_of_date": batch}, anomaly.result or [])
        raise
    record_validation(wh, batch, "scores", True, summary, results)
    return {"scored": summary["scored"]}


def advance_stages(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Decide stage changes for the as-of date, keep them as history, refresh current stages; the
    date's intraday scores (docs/adr/0019) are superseded by the night's own."""
    params = model_params(settings, as_of)
    with wh.transaction():
        wh.run_model("lifecycle/stage_transitions.sql", params)
        wh.run_model("lifecycle/lead_stages.sql", params)
        wh.run_model("scoring/intraday_superseded.sql", params)
    return stage_counts(wh)


def check_transitions(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Run-level transition gate: every stage change follows an allowed edge, and the number of leads
    entering hot stays within the configured bound (or an operator's approval)."""
    batch = batch_id(as_of)
    try:
        summary, results = gates.transitions(wh, of(settings), as_of, batch)
    except RunAnomaly as anomaly:
        record_validation(wh, batch, "transitions", False, {"as_of_date": batch}, anomaly.result or [])
        raise
    record_validation(wh, batch, "transitions", True, summary, results)
    return summary


def stage_counts(wh: Warehouse) -> dict[str, int]:
    rows = dict(wh.fetchall("select stage, count(*) from lifecycle.lead_stages group by stage"))
    return {stage: int(rows.get(stage, 0)) for stage in STAGES}


def hot_leads(wh: Warehouse, as_of: date, limit: int = 5) -> pd.DataFrame:
    """The hottest leads for the summary: name, company, stage, score and reasons."""
    return wh.fetch_df(
        """
        select l.crm_id, l.last_name, l.first_name, l.company, st.stage, s.total_score, s.top_reasons
        from lifecycle.lead_stages as st
        inner join core.leads as l on st.lead_id = l.lead_id
        inner join scoring.lead_scores as s on s.lead_id = st.lead_id and s.as_of_date = cast(:d as date)
        where st.stage in ('hot', 'sales_qualified')
        order by s.total_score desc, l.crm_id
        limit :n
        """,
        {"d": as_of.isoformat(), "n": limit},
    )
