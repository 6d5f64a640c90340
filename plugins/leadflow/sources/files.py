"""The file-drop source: CRM exports (`*.csv`) and web events (`*.jsonl`) landed in `raw.*` once each.

A file is loaded by the first run whose batch it belongs to: a file whose name carries a date
(`events_2026-11-22.jsonl`) waits for the run of that date or later. A rerun of a batch first
forgets that batch's files and rows, then loads the same files again, so it changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from leadflow.warehouse import Warehouse

CRM_COLUMNS = (
    "crm_id",
    "email",
    "first_name",
    "last_name",
    "company",
    "industry",
    "employee_count",
    "job_title",
    "country",
    "locale",
    "timezone",
    "lead_source",
    "owner_email",
    "email_opt_in",
    "bant_budget",
    "bant_authority",
    "bant_need",
    "bant_timeline",
    "crm_status",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = ("event_id", "crm_id", "email", "event_type", "occurred_at", "url", "properties")
RAW_TABLES = {"crm": "raw.crm_leads", "web": "raw.web_events"}
_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class LoadSummary:
    """What one extract landed: files, rows, and lines that were not rows at all (quarantined)."""

    source: str
    batch_id: str
    files: int
    first_file: str | None
    last_file: str | None
    rows: int
    unreadable: int


def file_date(path: Path) -> date | None:
    """The date a file's name carries, if any."""
    match = _DATE_IN_NAME.search(path.name)
    return date.fromisoformat(match.group(1)) if match else None


def due_files(folder: Path, pattern: str, as_of: date) -> list[Path]:
    """Files under `folder` matching `pattern` that a run as of `as_of` may load, in name order."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if p.is_file() and (file_date(p) or as_of) <= as_of)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_crm_csv(path: Path) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Rows of a CRM export as text (empty cells as null), and (row, record, reason) for unreadable ones."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in CRM_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaDriftError(
            f"{path.name}: missing column(s) {', '.join(missing)}; "
            f"found {', '.join(frame.columns)}. Fix the export or the column mapping."
        )
    frame = frame.loc[:, list(CRM_COLUMNS)].replace("", None)
    frame.insert(len(frame.columns), "_row", range(1, len(frame) + 1))
    return frame, []


def read_events_jsonl(path: Path) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Events of a JSONL file as text columns, and (line, text, reason) for lines that are not JSON objects."""
    records: list[tuple] = []
    bad: list[tuple[int, str, str]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                bad.append((number, text[:2000], f"line is not valid JSON: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                bad.append((number, text[:2000], "line is not a JSON object"))
                continue
            props = obj.get("properties")
            records.append(
                (
                    *(None if obj.get(c) is None else str(obj.get(c)) for c in EVENT_COLUMNS[:-1]),
                    None if props is None else json.dumps(props, ensure_ascii=False, sort_keys=True),
                    number,
                )
            )
    return pd.DataFrame(records, columns=[*EVENT_COLUMNS, "_row"], dtype=object), bad


class SchemaDriftError(ValueError):
    """A landed file does not have the columns the format requires."""


READERS = {"crm": read_crm_csv, "web": read_events_jsonl}


def forget_batch(wh: Warehouse, source: str, batch_id: str) -> None:
    """Remove what an earlier run of this batch landed, so the batch can be loaded again."""
    wh.execute(f"delete from {RAW_TABLES[source]} where _batch_id = :batch_id", {"batch_id": batch_id})
    wh.execute(
        "delete from ops.quarantine where source = :source and batch_id = :batch_id",
        {"source": source, "batch_id": batch_id},
    )
    wh.execute(
        "delete from ops.loaded_files where source = :source and batch_id = :batch_id",
        {"source": source, "batch_id": batch_id},
    )


def _pending(wh: Warehouse, source: str, files: list[Path]) -> Iterator[Path]:
    loaded = {
        name for (name,) in wh.fetchall("select file_name from ops.loaded_files where source = :s", {"s": source})
    }
    return (p for p in files if p.name not in loaded)


def extract_files(wh: Warehouse, source: str, folder: Path, pattern: str, as_of: date, batch_id: str) -> LoadSummary:
    """Land every due, not yet loaded file of `source` into `raw.*` as batch `batch_id`, atomically."""
    loaded_at = datetime.now(UTC)  # audit column only; never used to select data
    names, total, unreadable = [], 0, 0
    with wh.transaction():
        forget_batch(wh, source, batch_id)
        for path in _pending(wh, source, due_files(folder, pattern, as_of)):
            frame, bad = READERS[source](path)
            frame.insert(len(frame.columns), "_batch_id", batch_id)
            frame.insert(len(frame.columns), "_file", path.name)
            frame.insert(len(frame.columns), "_loaded_at", loaded_at)
            wh.load_df(RAW_TABLES[source], frame)
            if bad:
                wh.load_df(
                    "ops.quarantine",
                    pd.DataFrame(
                        [
                            {
                                "source": source,
                                "batch_id": batch_id,
                                "_file": path.name,
                                "_row": row,
                                "record": record,
                                "reason": reason,
                                "quarantined_at": loaded_at,
                            }
                            for row, record, reason in bad
                        ]
                    ),
                )
            wh.execute(
                "insert into ops.loaded_files (source, file_name, batch_id, row_count, sha256, loaded_at) "
                "values (:source, :file_name, :batch_id, :row_count, :sha256, :loaded_at)",
                {
                    "source": source,
                    "file_name": path.name,
                    "batch_id": batch_id,
                    "row_count": len(frame) + len(bad),
                    "sha256": _sha256(path),
                    "loaded_at": loaded_at,
                },
            )
            names.append(path.name)
            total += len(frame)
            unreadable += len(bad)
    return LoadSummary(
        source,
        batch_id,
        len(names),
        names[0] if names else None,
        names[-1] if names else None,
        total,
        unreadable,
    )
