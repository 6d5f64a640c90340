"""The file-drop source: CRM exports (`*.csv`) and web events (`*.jsonl`) landed in `raw.*` once each.

A file is loaded by the first run whose batch it belongs to: a file whose name carries a date
(`events_2026-11-22.jsonl`) waits for the run of that date or later. A rerun of a batch first
forgets that batch's files and rows, then loads the same files again, so it changes nothing.
A CRM export is read whole but only its rows changed since the high-water mark land, except on a
reconciliation night (`leadflow.sources.marks`, docs/adr/0018).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from leadflow.sources.marks import ExtractPlan, changed_rows, later, newest_usable, record_extract, updated_at_utc
from leadflow.vocabulary import CRM_COLUMNS, EVENT_COLUMNS
from leadflow.warehouse import Warehouse

RAW_TABLES = {"crm": "raw.crm_leads", "web": "raw.web_events"}
TEXT_COLUMNS = {"crm": CRM_COLUMNS, "web": EVENT_COLUMNS}
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
    extract: dict | None = None  # CRM: how the batch was read (`marks.record_extract`)


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


Piece = tuple[pd.DataFrame, list[tuple[int, str, str]]]
"""Rows of a file as text columns with their `_row`, and (row, record, reason) for unreadable ones."""

CHUNK_ROWS = 100_000
"""Files are read (and landed) this many rows at a time, so memory follows it, not the file."""


def read_crm_csv(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Piece]:
    """Rows of a CRM export as text (empty cells as null), `chunk_rows` at a time; none is unreadable.

    Arrow's CSV reader parses it (quoted cells may span lines); a row whose field count differs
    from the header's, or text that is not UTF-8, fails the extract with the file's name and the
    reader's message: a broken export is fixed at its source, not landed in part."""
    header = _csv_header(path)
    missing = [c for c in CRM_COLUMNS if c not in header]
    if missing:
        raise SchemaDriftError(
            f"{path.name}: missing column(s) {', '.join(missing)}; "
            f"found {', '.join(header)}. Fix the export or the column mapping."
        )
    doubled = sorted({c for c in header if c in CRM_COLUMNS and header.count(c) > 1})
    if doubled:
        raise SchemaDriftError(f"{path.name}: column(s) {', '.join(doubled)} appear more than once. Fix the export.")
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1, block_size=_CSV_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                include_columns=list(CRM_COLUMNS),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:  # the first block is read at once
        raise _unreadable(path, exc) from exc
    first = 1
    for table in _rechunked(reader, chunk_rows, path):
        frame = table.to_pandas(types_mapper=_ARROW_TEXT.get)
        frame.insert(len(frame.columns), "_row", range(first, first + len(frame)))
        first += len(frame)
        yield frame, []


_CSV_BLOCK_BYTES = 8 << 20
_ARROW_TEXT = {pa.string(): pd.ArrowDtype(pa.string())}


def _csv_header(path: Path) -> list[str]:
    """A CSV file's column names, from its first line (a UTF-8 byte-order mark dropped); none for an empty file."""
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        return next(csv.reader([first.decode("utf-8-sig")]), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SchemaDriftError(f"{path.name}: the header is not readable CSV text ({exc}). Fix the export.") from exc


def _unreadable(path: Path, exc: pa.ArrowInvalid) -> SchemaDriftError:
    return SchemaDriftError(f"{path.name}: not a readable CSV export: {exc}. Fix the export.")


def _rechunked(reader: pa_csv.CSVStreamingReader, rows: int, path: Path) -> Iterator[pa.Table]:
    """The reader's record batches as tables of `rows` rows (the last one shorter)."""
    waiting: list[pa.RecordBatch] = []
    held, tables = 0, 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise _unreadable(path, exc) from exc
        waiting.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(waiting)
            yield table.slice(0, rows)
            tables += 1
            rest = table.slice(rows)
            waiting, held = rest.to_batches(), rest.num_rows
    if held or not tables:  # the last rows, or a file of none
        yield pa.Table.from_batches(waiting, schema=reader.schema)


class _Event(msgspec.Struct):
    """A web event line in its usual shape: text fields (or null) and an object of properties."""

    event_id: str | None = None
    crm_id: str | None = None
    email: str | None = None
    event_type: str | None = None
    occurred_at: str | None = None
    url: str | None = None
    properties: dict[str, Any] | None = None


_decode_event = msgspec.json.Decoder(_Event).decode
_decode_json = msgspec.json.Decoder().decode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def _props_text(props: Any) -> str | None:
    """Properties as compact JSON text with sorted keys, so the same properties read the same."""
    return None if props is None else _encode_sorted(props).decode()


def read_events_jsonl(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Piece]:
    """Events of a JSONL file as text columns, `chunk_rows` lines at a time, and (line, text, reason)
    for lines that are not JSON objects (including text that is not UTF-8).

    A field that is not text (a number, say) lands as its text, so the raw gate can say what is
    wrong with it; lines of the usual shape take msgspec's typed fast path."""
    records: list[tuple] = []
    bad: list[tuple[int, str, str]] = []
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if len(records) + len(bad) >= chunk_rows:
                yield _event_frame(records), bad
                records, bad = [], []
            text = line.strip()
            if not text:
                continue
            try:
                e = _decode_event(text)
            except msgspec.ValidationError:  # maybe valid JSON of another shape: read it as any JSON
                record, reason = _other_shape(text, number)
                if record is None:
                    bad.append((number, _shown(text), reason))
                else:
                    records.append(record)
                continue
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                bad.append((number, _shown(text), f"line is not valid JSON: {exc}"))
                continue
            records.append(
                (e.event_id, e.crm_id, e.email, e.event_type, e.occurred_at, e.url, _props_text(e.properties), number)
            )
    yield _event_frame(records), bad


def _other_shape(text: bytes, number: int) -> tuple[tuple | None, str]:
    """A line that is not of the usual shape: its record (fields as their text), or why it is none."""
    try:
        obj = _decode_json(text)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return None, f"line is not valid JSON: {exc}"
    if not isinstance(obj, dict):
        return None, "line is not a JSON object"
    fields = (None if obj.get(c) is None else str(obj.get(c)) for c in EVENT_COLUMNS[:-1])
    return (*fields, _props_text(obj.get("properties")), number), ""


def _shown(line: bytes) -> str:
    return line[:2000].decode("utf-8", errors="replace")


def _event_frame(records: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=[*EVENT_COLUMNS, "_row"], dtype=object)


class SchemaDriftError(ValueError):
    """A landed file does not have the columns the format requires."""


READERS: dict[str, Callable[[Path, int], Iterator[Piece]]] = {"crm": read_crm_csv, "web": read_events_jsonl}


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
    if source == "web":  # events of the batch held for a later night (validation keeps them again)
        wh.execute("delete from ops.held_events where batch_id = :batch_id", {"batch_id": batch_id})
    else:  # how the batch was read and the mark it left
        wh.execute("delete from ops.crm_extracts where batch_id = :batch_id", {"batch_id": batch_id})


def _pending(wh: Warehouse, source: str, files: list[Path], batch_id: str) -> Iterator[Path]:
    """The files not loaded yet, and those this batch loaded before (a rerun loads them again)."""
    loaded = {
        name
        for (name,) in wh.fetchall(
            "select file_name from ops.loaded_files where source = :s and batch_id <> :b", {"s": source, "b": batch_id}
        )
    }
    return (p for p in files if p.name not in loaded)


def _landing_table(source: str) -> str:
    """DuckDB's scratch table for a batch on its way into `raw.*` (see `extract_files`)."""
    return f"raw._landing_{RAW_TABLES[source].split('.', 1)[1]}"


def extract_files(
    wh: Warehouse,
    source: str,
    folder: Path,
    pattern: str,
    as_of: date,
    batch_id: str,
    chunk_rows: int = CHUNK_ROWS,
    plan: ExtractPlan | None = None,
) -> LoadSummary:
    """Land every due, not yet loaded file of `source` into `raw.*` as batch `batch_id`, atomically.

    With a CRM `plan`, a row lands only when it changed since the plan's mark (or has no usable
    updated_at), and the extract is recorded in `ops.crm_extracts` in the same transaction.

    Files are read `chunk_rows` rows at a time and landed in loads of about that many rows (small
    files together). On PostgreSQL they go straight into `raw.*` inside the batch's transaction. On
    DuckDB, which keeps the rows a transaction appends from Python in memory until it commits, they
    are first committed to a scratch landing table, then moved into `raw.*` by one insert-select in
    the batch's transaction (which DuckDB writes to disk as it goes); either way `raw.*` shows the
    whole batch or none of it."""
    loaded_at = datetime.now(UTC)  # audit column only; never used to select data
    names, total, unreadable, read = [], 0, 0, 0
    newest: datetime | None = None
    extracted: dict | None = None
    waiting: list[pd.DataFrame] = []
    unreadable_rows: list[dict] = []
    loaded_files: list[dict] = []
    staged = wh.dialect == "duckdb"
    target = _landing_table(source) if staged else RAW_TABLES[source]

    def land() -> None:
        if waiting:
            wh.load_df(target, pd.concat(waiting, ignore_index=True))
            waiting.clear()

    def read_files() -> None:
        nonlocal total, unreadable, read, newest
        for path in _pending(wh, source, due_files(folder, pattern, as_of), batch_id):
            rows = bad_rows = 0
            for frame, bad in READERS[source](path, chunk_rows):
                file_rows = len(frame)
                if plan is not None:
                    updated = updated_at_utc(frame["updated_at"])
                    newest = later(newest, newest_usable(updated, plan.cutoff))
                    read += file_rows
                    if not plan.full:
                        frame = frame.loc[changed_rows(updated, plan.since)]
                # Arrow-backed text: DuckDB holds rows appended from Python objects at about twice the memory
                frame = frame.astype(dict.fromkeys(TEXT_COLUMNS[source], "str"))
                frame.insert(len(frame.columns), "_batch_id", batch_id)
                frame.insert(len(frame.columns), "_file", path.name)
                frame.insert(len(frame.columns), "_loaded_at", loaded_at)
                waiting.append(frame)
                if sum(len(f) for f in waiting) >= chunk_rows:
                    land()
                unreadable_rows.extend(
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
                )
                rows += file_rows
                total += len(frame)
                bad_rows += len(bad)
            loaded_files.append(
                {
                    "source": source,
                    "file_name": path.name,
                    "batch_id": batch_id,
                    "row_count": rows + bad_rows,
                    "sha256": _sha256(path),
                    "loaded_at": loaded_at,
                }
            )
            names.append(path.name)
            unreadable += bad_rows
        land()

    def record_files() -> None:
        nonlocal extracted
        if unreadable_rows:
            wh.load_df("ops.quarantine", pd.DataFrame(unreadable_rows))
        if loaded_files:
            wh.load_df("ops.loaded_files", pd.DataFrame(loaded_files))
        if plan is not None:
            extracted = record_extract(wh, plan, read, total, newest)

    if not staged:
        with wh.transaction():
            forget_batch(wh, source, batch_id)
            read_files()
            record_files()
            # a million new rows the planner has not seen: without fresh statistics it plans the
            # batch's validation queries for one row (nested loops over the whole batch)
            wh.execute(f"analyze {RAW_TABLES[source]}")
    else:
        wh.execute(f"create or replace table {target} as select * from {RAW_TABLES[source]} limit 0")
        try:
            read_files()
            with wh.transaction():
                forget_batch(wh, source, batch_id)
                wh.execute(f"insert into {RAW_TABLES[source]} select * from {target}")
                record_files()
        finally:
            wh.execute(f"drop table if exists {target}")
    return LoadSummary(
        source,
        batch_id,
        len(names),
        names[0] if names else None,
        names[-1] if names else None,
        total,
        unreadable,
        extracted,
    )
