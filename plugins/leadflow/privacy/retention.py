"""Housekeeping: each layer keeps what it holds for its retention period (privacy.retention), no longer.

Run at the end of every night (the nightly DAG's `housekeep` task, or `leadflow housekeep --date D`),
as of the night's date, never of the clock: a rerun of the same night removes nothing more. The
defaults keep what reruns (ADR 0007: a rerun reaches back `raw_days`), the scoring windows (the
longest engagement window, 180 days), `score_change_7d` and the validation baselines need; ADR 0014
derives each. It also removes again anyone erased whom a later export brought back into raw tables.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from leadflow.batches import batch_id
from leadflow.config import FileSourceConfig, RetentionConfig, Settings
from leadflow.intake.inbox import inbox_root
from leadflow.privacy.erase import reapply_erasures
from leadflow.warehouse import Warehouse

log = logging.getLogger(__name__)


def _cut(as_of: date, days: int) -> dict[str, object]:
    cutoff = as_of - timedelta(days=days)
    return {
        "cutoff_batch": batch_id(cutoff),
        "cutoff_date": cutoff.isoformat(),
        "cutoff_at": datetime.combine(cutoff, time.min, tzinfo=UTC).isoformat(),
    }


def _expire(wh: Warehouse, table: str, as_of: date, days: int) -> int:
    return len(wh.fetchall(wh.model_sql("privacy/expire_rows.sql", table=table), _cut(as_of, days)))


def expire_rows(wh: Warehouse, retention: RetentionConfig, as_of: date) -> dict[str, int]:
    """Delete the warehouse rows past their period, in one transaction; rows per table."""
    counts: dict[str, int] = {}
    with wh.transaction():
        counts["raw.crm_leads (compacted)"] = len(
            wh.fetchall(wh.model_sql("privacy/compact_crm_snapshots.sql"), _cut(as_of, retention.raw_days))
        )
        counts["raw.web_events"] = _expire(wh, "raw.web_events", as_of, retention.raw_days)
        counts["ops.held_events"] = _expire(wh, "ops.held_events", as_of, retention.held_events_days)
        counts["ops.quarantine"] = _expire(wh, "ops.quarantine", as_of, retention.quarantine_days)
        counts["ops.validation_results"] = _expire(wh, "ops.validation_results", as_of, retention.quarantine_days)
        counts["ops.inbox"] = _expire(wh, "ops.inbox", as_of, retention.inbox_days)
        # events: the keyed copy first, then the batches' counts and checksums follow what is left
        batches = [
            str(r[0])
            for r in wh.fetchall(wh.model_sql("privacy/expired_event_batches.sql"), _cut(as_of, retention.events_days))
        ]
        counts["scoring.keyed_events"] = _expire(wh, "scoring.keyed_events", as_of, retention.events_days)
        counts["core.events"] = _expire(wh, "core.events", as_of, retention.events_days)
        if batches:
            wh.run_model("scoring/keyed_event_batches.sql", {"pending_batches": batches})
        counts["scoring.score_factors"] = _expire(wh, "scoring.score_factors", as_of, retention.score_history_days)
        counts["scoring.lead_scores"] = _expire(wh, "scoring.lead_scores", as_of, retention.score_history_days)
        counts["nurture.email_sends"] = _expire(wh, "nurture.email_sends", as_of, retention.ledger_days)
        counts["nurture.enrollments"] = _expire(wh, "nurture.enrollments", as_of, retention.ledger_days)
    return counts


def _older(path: Path, cutoff: date) -> bool:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).date() < cutoff


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except OSError as exc:  # a read-only mount (docker compose mounts the landing folder so): reported, kept
        log.warning("housekeeping could not remove %s (%s)", path.name, type(exc).__name__)
        return 0
    return 1


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def expire_inbox_segments(wh: Warehouse, root: Path, cutoff: date) -> int:
    """Delete the file inbox's segments loaded to their end and untouched since before `cutoff`, unless
    a running `leadflow serve` on this host may still append to it (its newest segment)."""
    if not root.is_dir():
        return 0
    loaded = {str(name): int(n) for name, n in wh.fetchall("select segment, bytes_loaded from ops.inbox_segments")}
    newest: dict[str, str] = {}
    for path in sorted(root.glob("*.jsonl")):
        pid = path.stem.split("-")[1] if path.stem.count("-") >= 2 else ""
        newest[pid] = path.name
    removed = 0
    for path in sorted(root.glob("*.jsonl")):
        pid = path.stem.split("-")[1] if path.stem.count("-") >= 2 else ""
        if loaded.get(path.name, -1) < path.stat().st_size or not _older(path, cutoff):
            continue
        if newest.get(pid) == path.name and pid.isdigit() and _pid_running(int(pid)):
            continue
        if _unlink(path):
            wh.execute("delete from ops.inbox_segments where segment = :s", {"s": path.name})
            removed += 1
    return removed


def expire_files(wh: Warehouse, settings: Settings, as_of: date, log_folder: Path | None = None) -> dict[str, int]:
    """Delete the files past their period: landing files (by the night that loaded them), the
    file outbox's emails, loaded inbox segments and Airflow task logs (by modification day)."""
    retention = settings.privacy.retention
    counts: dict[str, int] = {}
    # by the night that loaded a file, not the date in its name: a rerun of a night re-reads every file
    # that night loaded (the first night catches up on months of event files), so those stay while
    # that night can still be rerun
    loaded = {str(name): str(batch) for name, batch in wh.fetchall("select file_name, batch_id from ops.loaded_files")}
    landing_cutoff = (as_of - timedelta(days=retention.raw_days)).isoformat()
    removed = 0
    for source in (settings.sources.crm, settings.sources.web):
        if not isinstance(source, FileSourceConfig):
            continue
        folder = settings.path(source.path)
        for path in sorted(folder.glob(source.pattern)) if folder.is_dir() else []:
            if path.is_file() and loaded.get(path.name, landing_cutoff) < landing_cutoff:
                removed += _unlink(path)
    counts["files:landing"] = removed
    outbox = settings.path(settings.mailer.outbox)
    cutoff = as_of - timedelta(days=retention.outbox_days)
    counts["files:outbox"] = sum(
        _unlink(p) for p in (sorted(outbox.glob("*.eml")) if outbox.is_dir() else []) if _older(p, cutoff)
    )
    counts["files:inbox"] = expire_inbox_segments(
        wh, inbox_root(settings), as_of - timedelta(days=retention.inbox_days)
    )
    if log_folder is not None and log_folder.is_dir():
        cutoff = as_of - timedelta(days=retention.logs_days)
        counts["files:logs"] = sum(_unlink(p) for p in sorted(log_folder.rglob("*.log")) if _older(p, cutoff))
    return counts


def housekeep(wh: Warehouse, settings: Settings, as_of: date, log_folder: Path | None = None) -> dict[str, int]:
    """Apply every retention period as of `as_of` and remove erased people brought back; what went, by
    table or folder (only what is not zero)."""
    counts = {f"erased again: {k}": v for k, v in reapply_erasures(wh, settings).items()}
    counts.update(expire_rows(wh, settings.privacy.retention, as_of))
    counts.update(expire_files(wh, settings, as_of, log_folder))
    if wh.dialect == "duckdb":
        wh.execute("checkpoint")  # the freed blocks are reused by the next night's writes
    return {k: v for k, v in counts.items() if v}


def housekeep_step(wh: Warehouse, settings: Settings, as_of: date) -> dict[str, int]:
    """`housekeep` as the nightly DAG's last task: Airflow's own task-log folder included."""
    from airflow.configuration import conf

    return housekeep(wh, settings, as_of, Path(conf.get("logging", "base_log_folder")))
