"""CRM write-back: score, grade, stage and reasons for the leads whose fields changed, nothing else.

`crm.sync_state` remembers a hash of what each lead last got; a lead a sink refuses keeps its old
hash, so the next run writes it again, and its error stays in `crm.sync_failures` until then.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from leadflow.batches import cutoff, model_params
from leadflow.config import Settings
from leadflow.crm.hubspot import HubSpotCrmSink
from leadflow.crm.sink import FIELDS, WRITE_BACK_FIELDS, CrmSink, CrmWriteBackFailed, WriteResult
from leadflow.crm.sql import quote_identifier
from leadflow.warehouse import Warehouse, connect, open_warehouse

log = logging.getLogger(__name__)


def _temp_table(wh: Warehouse, name: str, frame: pd.DataFrame, columns: dict[str, str]) -> None:
    wh.execute(f"drop table if exists {name}")
    ddl = ", ".join(f"{col} {typ}" for col, typ in columns.items())
    wh.execute(f"create temp table {name} ({ddl})")
    wh.load_df(name, frame.loc[:, list(columns)])


_CHANGE_COLUMNS = {
    "crm_id": "text",
    "lead_score": "integer",
    "lead_fit_grade": "text",
    "lead_stage": "text",
    "lead_score_reasons": "text",
    "lead_heating_up": "boolean",
    "lead_email_opt_out": "boolean",
    "fields_hash": "text",
}


class SqlCrmSink:
    """A CRM table reached through a warehouse connection (the demo CRM is `crm.lead_fields`): one row
    per crm_id (its primary key) with the write-back fields as columns."""

    def __init__(self, wh: Warehouse, table: str = "crm.lead_fields") -> None:
        self.wh = wh
        self.table = quote_identifier(table)

    def write(self, changes: pd.DataFrame, scored_at: datetime) -> WriteResult:
        with self.wh.transaction():
            _temp_table(self.wh, "_crm_changes", changes, _CHANGE_COLUMNS)
            self.wh.run_model("crm/upsert_lead_fields.sql", {"scored_at": scored_at}, table=self.table)
        return WriteResult(written=list(changes["crm_id"]))


class FileCrmSink:
    """A CSV per run for CRMs that import files: `lead_fields_<date>.csv`, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, changes: pd.DataFrame, scored_at: datetime) -> WriteResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"lead_fields_{scored_at.date().isoformat()}.csv"
        tmp = target.with_suffix(".csv.tmp")
        out = changes.loc[:, ["crm_id", *FIELDS]].assign(lead_scored_at=scored_at.isoformat())
        out.to_csv(tmp, index=False)
        tmp.replace(target)
        return WriteResult(written=list(changes["crm_id"]))


def sink_for(settings: Settings, wh: Warehouse) -> tuple[CrmSink, Warehouse | None]:
    """The configured sink, and a connection it opened that the caller must close (or None)."""
    cfg = settings.crm_sink
    if cfg.kind == "hubspot":
        return HubSpotCrmSink.from_config(cfg), None  # type: ignore[arg-type]  # until config.py lists it
    if cfg.kind == "files":
        return FileCrmSink(settings.path(cfg.path or Path("data/crm_out"))), None
    if cfg.conn_id == settings.warehouse_conn_id:
        return SqlCrmSink(wh, cfg.table), None
    other = open_warehouse(cfg.conn_id)
    return SqlCrmSink(other, cfg.table), other


def write_back(
    wh: Warehouse,
    settings: Settings,
    as_of: date,
    sink: CrmSink | None = None,
    *,
    intraday: bool = False,
    scored_at: datetime | None = None,
) -> dict:
    """Write changed CRM fields for the as-of date; a rerun finds nothing changed and writes nothing.
    With `intraday`, the fields of the leads rescored intraday on that date (scoring.intraday_scores,
    docs/adr/0019), stamped `scored_at` rather than the end of the day."""
    changes = wh.fetch_df(wh.model_sql("crm/lead_field_changes.sql", leads=intraday), model_params(settings, as_of))
    if changes.empty:
        return {"changed": 0, "written": 0, "failed": 0}
    opened = None
    if sink is None:
        sink, opened = sink_for(settings, wh)
    try:
        result = sink.write(changes, scored_at or cutoff(settings, as_of))
    finally:
        if opened is not None:
            opened.close()
    written = changes[changes["crm_id"].isin(result.written)]
    failed = pd.DataFrame(
        {"crm_id": list(result.failed), "error": [str(e)[:1000] for e in result.failed.values()]}, dtype=object
    )
    with wh.transaction():
        _temp_table(wh, "_crm_written", written, {"crm_id": "text", "fields_hash": "text"})
        _temp_table(wh, "_crm_failed", failed, {"crm_id": "text", "error": "text"})
        params = {"as_of_date": as_of.isoformat(), "synced_at": datetime.now(UTC)}
        wh.run_model("crm/sync_state.sql", params)
        wh.run_model("crm/sync_failures.sql", params)
    if result.failed:
        sample = "; ".join(f"{k}: {v}" for k, v in list(result.failed.items())[:5])
        log.warning(
            "CRM write-back: %d of %d changed leads refused (retried next run): %s",
            len(result.failed),
            len(changes),
            sample,
        )
    if result.error:
        raise CrmWriteBackFailed(f"CRM write-back: {result.error} ({len(written)} of {len(changes)} written)")
    return {"changed": len(changes), "written": len(written), "failed": len(result.failed)}


__all__ = [
    "FIELDS",
    "WRITE_BACK_FIELDS",
    "CrmSink",
    "CrmWriteBackFailed",
    "FileCrmSink",
    "SqlCrmSink",
    "WriteResult",
    "connect",
    "write_back",
]
