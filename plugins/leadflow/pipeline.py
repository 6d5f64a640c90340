"""The nightly steps as plain functions of (warehouse, settings, as-of date); the DAGs only call these."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from leadflow.config import FileSourceConfig, Settings
from leadflow.scoring import install_rules, load_rules
from leadflow.sources.files import CRM_COLUMNS, EVENT_COLUMNS, RAW_TABLES, extract_files
from leadflow.validation.checks import RunAnomaly
from leadflow.warehouse import Warehouse

if TYPE_CHECKING:
    from leadflow.validation.raw import GateResult

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
    )
)
STAGES = ("cold", "warm", "hot", "sales_qualified", "recycled", "disqualified", "customer")


def batch_id(as_of: date) -> str:
    """The batch key of a run: its as-of date."""
    return as_of.isoformat()


def cutoff(settings: Settings, as_of: date) -> datetime:
    """The end of the as-of day in the configured time zone: nothing after it belongs to the run."""
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=settings.tz)


def model_params(settings: Settings, as_of: date, **extra: object) -> dict[str, object]:
    return {"as_of_date": as_of.isoformat(), "timezone": settings.timezone, **extra}


def create_schemas(wh: Warehouse, settings: Settings | None = None, as_of: date | None = None) -> None:
    """Create every schema and table that does not exist yet, and the fixed lifecycle edges."""
    for model in SCHEMA_MODELS:
        wh.run_model(model)
    wh.run_model("lifecycle/allowed_transitions.sql")


def extract(wh: Warehouse, settings: Settings, as_of: date, source: str) -> dict:
    """Land the source's due files into `raw.*` as this run's batch."""
    cfg = getattr(settings.sources, source)
    if source == "crm":
        _crm_batch_changes(wh, batch_id(as_of))
    if not isinstance(cfg, FileSourceConfig):
        from leadflow.crm.sql import extract_sql_crm  # only needed for a SQL CRM

        return extract_sql_crm(wh, settings, cfg, as_of, batch_id(as_of))
    summary = extract_files(wh, source, settings.path(cfg.path), cfg.pattern, as_of, batch_id(as_of))
    return asdict(summary)


def _crm_batch_changes(wh: Warehouse, batch: str) -> None:
    """The raw rows or the quarantine of CRM batch `batch` may change: staging merges it again."""
    wh.execute("delete from core.leads_batches where _batch_id = :b", {"b": batch})


def validate_raw(wh: Warehouse, settings: Settings, as_of: date, source: str) -> dict:
    """Great Expectations gates over this batch's raw rows: quarantine bad rows, then fail the run on
    too many of them or on a run-level anomaly (CRM volume and freshness, event resolution).

    The batch streams through the gate `chunk_rows` rows at a time (memory follows the chunk, not the
    batch); duplicates are judged over the whole batch on the rows whose key another row shares.
    The quarantine and the validation record of the batch are replaced in one transaction."""
    from leadflow.validation import gates
    from leadflow.validation.raw import KEYS, GateTotals, ValidationFailed, key_strip, validate_batch
    from leadflow.validation.settings import of

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
        if failure is None:
            try:
                if source == "crm":
                    run_results = gates.raw_crm(
                        wh, cfg, batch, result, cutoff(settings, as_of), max(newest, default=None)
                    )
                else:
                    run_results = gates.raw_events(wh, cfg, batch, result, resolved)
            except RunAnomaly as anomaly:
                failure, run_results = anomaly, anomaly.result or []
        record_validation(wh, batch, result.name, failure is None, result.summary(), result.results + run_results)
    if failure is not None:
        raise failure
    return result.summary()


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw rows as the gates take them: object columns, missing values as None."""
    return frame.astype(object).where(frame.notna(), None)


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
    from leadflow.validation.raw import held_events

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
    current record came from one of them) and resolve this batch's events into `core.events`."""
    params = model_params(settings, as_of, batch_id=batch_id(as_of), default_timezone=settings.timezone)
    with wh.transaction():
        full = bool(wh.scalar(wh.model_sql("staging/leads_rebuild_needed.sql")))
        # a rerun of an earlier night: core.leads goes back to the CRM as it stood then (see ADR 0007)
        full = full or bool(wh.scalar(_LATER_BATCHES, {"b": batch_id(as_of)}))
        wh.run_model("staging/stg_leads.sql", params, full=full, upto=True)
    wh.run_model("staging/stg_events.sql", params)
    return {
        "leads": wh.scalar("select count(*) from core.leads"),
        "leads_rebuilt": full,
        "events_in_batch": wh.scalar("select count(*) from core.events where _batch_id = :b", {"b": batch_id(as_of)}),
    }


_LATER_BATCHES = "select count(*) > 0 from core.leads_batches where _batch_id > :b"


# the models that key events and score a date, in order: one table each, run in one transaction
KEYING_MODELS = (
    "scoring/lead_keys.sql",
    "scoring/event_triples.sql",
    "scoring/keyed_events.sql",
    "scoring/keyed_event_batches.sql",
)
SCORING_MODELS = (
    "scoring/rule_keys.sql",
    "scoring/triple_rules.sql",
    "scoring/day_factors.sql",
    "scoring/score_factors.sql",
    "scoring/lead_scores.sql",
)


def key_events(wh: Warehouse, settings: Settings, as_of: date, *, full: bool = False, rekey: bool = False) -> list[str]:
    """Bring `scoring.keyed_events` up to date for the as-of date: its own batch (again, on a rerun) and
    any batch of `core.events` not keyed yet; with `full`, every batch whose events differ from what
    was keyed (count and checksum: an out-of-band edit of `core.events` or of the keyed events) and no
    other, whose keys would come out the same; with `rekey` too, every batch. The batch ids are read
    first and bound as a list, so PostgreSQL plans the reads of `core.events` with the ids themselves
    (an index scan for one night's batch rather than a scan of every event). Returns the batches keyed."""
    params = model_params(settings, as_of)
    with wh.unordered_writes(), wh.transaction():
        pending_sql = wh.model_sql("scoring/pending_batches.sql", full=full, rekey=rekey)
        pending = [b for (b,) in wh.fetchall(pending_sql, params)]
        for model in KEYING_MODELS:
            wh.run_model(model, {**params, "pending_batches": pending})
    return sorted(pending)


def score(
    wh: Warehouse, settings: Settings, as_of: date, rules_path: Path | None = None, *, refresh_keys: bool = True
) -> dict:
    """Load the scoring rules and compute every lead's factors and score for the as-of date (first
    keying new event batches, unless the caller has just keyed every event)."""
    rules = load_rules(rules_path or settings.path(settings.scoring_rules))
    params = model_params(settings, as_of)
    with wh.unordered_writes(), wh.transaction():
        install_rules(wh, rules)
        if refresh_keys:
            key_events(wh, settings, as_of)
        for model in SCORING_MODELS:
            wh.run_model(model, params)
    return {
        "rules_version": rules.version,
        "scored": wh.scalar(
            "select count(*) from scoring.lead_scores where as_of_date = cast(:d as date)",
            {"d": as_of.isoformat()},
        ),
    }


def check_scores(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Run-level score gate: one score per lead, complete, in range, factors adding up to the total,
    and a mean within the configured shift of the previous scored date (kept in ops.validation_results)."""
    from leadflow.validation import gates
    from leadflow.validation.settings import of

    batch = batch_id(as_of)
    try:
        summary, results = gates.scores(wh, of(settings), as_of)
    except RunAnomaly as anomaly:
        record_validation(wh, batch, "scores", False, {"as_of_date": batch}, anomaly.result or [])
        raise
    record_validation(wh, batch, "scores", True, summary, results)
    return {"scored": summary["scored"]}


def advance_stages(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Decide stage changes for the as-of date, keep them as history, refresh current stages."""
    params = model_params(settings, as_of)
    with wh.transaction():
        wh.run_model("lifecycle/stage_transitions.sql", params)
        wh.run_model("lifecycle/lead_stages.sql", params)
    return stage_counts(wh)


def check_transitions(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Run-level transition gate: every stage change follows an allowed edge, and the number of leads
    entering hot stays within the configured bound (or an operator's approval)."""
    from leadflow.validation import gates
    from leadflow.validation.settings import of

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


@dataclass(frozen=True)
class NightlyResult:
    as_of: date
    steps: dict


def run_nightly(wh: Warehouse, settings: Settings, as_of: date) -> NightlyResult:
    """Every nightly step in order, outside Airflow (the CLI and tests use this; the DAG wires the same).

    A night earlier than the latest night already run is followed by the later nights again, and the
    CRM gets the latest night's fields: current state ends as if every night ran once, in order."""
    from leadflow.backfill import night_steps, replay_later_nights, write_back_latest

    create_schemas(wh)
    steps: dict = night_steps(wh, settings, as_of)
    replayed = replay_later_nights(wh, settings, as_of)
    if replayed["replayed"]:
        steps["replay_later_nights"] = replayed
    steps["write_back"] = write_back_latest(wh, settings, as_of)
    return NightlyResult(as_of, steps)
