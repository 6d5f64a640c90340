"""The intake's durable inbox: every request `leadflow serve` accepts is on disk, or committed, before its 2xx.

Two stores, one record shape (`InboxRecord`):

- `FileInbox` (the embedded default, where the DuckDB file has one writer: the Airflow tasks): each
  process appends JSON lines to its own segment under `data/inbox/`, flushed and fsync'd before the
  request is answered. `load_segments` copies what the segments hold into `ops.inbox`, remembering
  per segment how many bytes it has loaded, so a segment still being written is read again later
  from where the last load stopped, and a line a crash cut short (never answered 2xx) is skipped.
- `WarehouseInbox` (PostgreSQL): a committed insert into `ops.inbox`.

Either way `ops.inbox` keeps one row per (kind, dedupe_key): a delivery retried by SendGrid or by the
website adds nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd

from leadflow.config import Settings
from leadflow.warehouse import Warehouse

Kind = Literal["unsubscribe", "sendgrid_event", "web_event", "erasure"]
KINDS: tuple[Kind, ...] = ("unsubscribe", "sendgrid_event", "web_event", "erasure")
NOTIFY_CHANNEL = "leadflow.intake"  # Redis channel told after each durable write (wakes leadflow_intake)
SEGMENT_MAX_BYTES = 16 * 1024 * 1024  # a process starts a new segment past this size


def inbox_root(settings: Settings) -> Path:
    """Where the file inbox of `settings` keeps its segments (`intake.inbox_path`, under the project home)."""
    return settings.path(settings.intake.inbox_path)


@dataclass(frozen=True)
class InboxRecord:
    """One accepted item: an unsubscribe of a lead, one SendGrid event, or one pushed web event."""

    kind: Kind
    dedupe_key: str  # the lead id (unsubscribe), sg_event_id (SendGrid) or event_id (web event)
    payload: dict[str, Any]
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown inbox kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if not self.dedupe_key:
            raise ValueError(f"{self.kind} record without a dedupe key")

    def to_line(self) -> bytes:
        """The record as one JSON line (UTF-8, ending in a newline)."""
        doc = {
            "kind": self.kind,
            "dedupe_key": self.dedupe_key,
            "received_at": self.received_at.astimezone(UTC).isoformat(),
            "payload": self.payload,
        }
        return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_line(cls, line: bytes) -> InboxRecord:
        doc = json.loads(line)
        return cls(
            kind=doc["kind"],
            dedupe_key=str(doc["dedupe_key"]),
            payload=doc["payload"],
            received_at=datetime.fromisoformat(doc["received_at"]),
        )


class Inbox(Protocol):
    """Where accepted requests go; `append` returns only once the records are durable."""

    def append(self, records: Sequence[InboxRecord]) -> None: ...


class FileInbox:
    """Append-only JSON-lines segments under `root`, one open segment per process, fsync'd per append."""

    def __init__(self, root: Path, max_bytes: int = SEGMENT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._seq = 0

    def _open_segment(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.root / f"{stamp}-{os.getpid()}-{self._seq:04d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o640)
        # the new name itself must survive a crash, not only the bytes written under it
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._size = 0
        return fd

    def append(self, records: Sequence[InboxRecord]) -> None:
        if not records:
            return
        data = b"".join(r.to_line() for r in records)
        with self._lock:
            if self._fd is None or self._size >= self.max_bytes:
                self.close()
                self._fd = self._open_segment()
            try:
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
                os.fsync(self._fd)
            except OSError:
                # a torn line may sit at the end of this segment: later appends go to a fresh one
                self.close()
                raise
            self._size += len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def ping(self) -> None:
        """Raise unless new segments can be created under `root` (the health check)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"{self.root} is not writable")


class WarehouseInbox:
    """Committed inserts into `ops.inbox` (PostgreSQL, where many writers are fine).

    With `reconnect`, a failed insert drops the connection and the next append opens a new one, so
    a database restart costs the requests made while it was down (answered 503, retried by the
    sender), not every request after it.
    """

    def __init__(self, wh: Warehouse | None, reconnect: Callable[[], Warehouse] | None = None) -> None:
        if wh is None and reconnect is None:
            raise ValueError("WarehouseInbox needs a warehouse or a way to connect to one")
        self.wh = wh
        self.reconnect = reconnect
        self._lock = threading.Lock()

    def _warehouse(self) -> Warehouse:
        if self.wh is None:
            assert self.reconnect is not None
            self.wh = self.reconnect()
        return self.wh

    def append(self, records: Sequence[InboxRecord]) -> None:
        if not records:
            return
        with self._lock:
            try:
                load_records(self._warehouse(), records)
            except Exception:
                self._drop()
                raise

    def ping(self) -> None:
        """Raise unless the warehouse answers (the health check)."""
        with self._lock:
            try:
                self._warehouse().scalar("select count(*) from ops.inbox where false")
            except Exception:
                self._drop()
                raise

    def _drop(self) -> None:
        if self.reconnect is None or self.wh is None:
            return
        with contextlib.suppress(Exception):
            self.wh.close()
        self.wh = None

    def close(self) -> None:
        if self.wh is not None:
            self.wh.close()
            self.wh = None


def _frame(records: Iterable[InboxRecord]) -> pd.DataFrame:
    rows = [
        {
            "kind": r.kind,
            "dedupe_key": r.dedupe_key,
            "received_at": r.received_at.astimezone(UTC).isoformat(),
            "payload": json.dumps(r.payload, ensure_ascii=False, separators=(",", ":")),
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=["kind", "dedupe_key", "received_at", "payload"])


def load_records(wh: Warehouse, records: Sequence[InboxRecord]) -> int:
    """Insert `records` into `ops.inbox`, each (kind, dedupe_key) once; returns how many rows are new."""
    if not records:
        return 0
    with wh.transaction():
        return _load_frame(wh, _frame(records))


def _load_frame(wh: Warehouse, frame: pd.DataFrame) -> int:
    """Insert `frame` (kind, dedupe_key, received_at, payload) into ops.inbox inside the caller's transaction."""
    before = wh.scalar("select count(*) from ops.inbox")
    wh.execute(
        "create temp table if not exists _inbox_load (kind text, dedupe_key text, received_at text, payload text)"
    )
    wh.execute("delete from _inbox_load")
    wh.load_df("_inbox_load", frame)
    wh.run_script(wh.model_sql("intake/load_inbox.sql"), {"loaded_at": datetime.now(UTC).isoformat()})
    wh.execute("delete from _inbox_load")
    return int(wh.scalar("select count(*) from ops.inbox")) - int(before)


def _complete_lines(path: Path, start: int) -> tuple[list[bytes], int]:
    """The whole lines of `path` after byte `start`, and the offset just past the last of them."""
    with path.open("rb") as fh:
        fh.seek(start)
        data = fh.read()
    end = data.rfind(b"\n")
    if end < 0:
        return [], start
    return data[: end + 1].splitlines(), start + end + 1


def load_segments(wh: Warehouse, root: Path) -> dict[str, int]:
    """Copy what the file segments under `root` hold and `ops.inbox` lacks into it.

    Each segment is read from the byte its last load stopped at; a line that does not parse (cut
    short by a crash before its request was answered) is skipped and counted. Returns counts:
    segments read, lines read, rows new in ops.inbox, lines skipped.
    """
    counts = {"segments": 0, "lines": 0, "new": 0, "skipped": 0}
    if not root.is_dir():
        return counts
    done = dict(wh.fetchall("select segment, bytes_loaded from ops.inbox_segments"))
    for path in sorted(root.glob("*.jsonl")):
        start = int(done.get(path.name, 0))
        if path.stat().st_size <= start:
            continue
        lines, end = _complete_lines(path, start)
        if end == start:
            continue
        records = []
        for line in lines:
            try:
                records.append(InboxRecord.from_line(line))
            except (ValueError, KeyError, TypeError):
                counts["skipped"] += 1
        with wh.transaction():
            counts["new"] += _load_frame(wh, _frame(records)) if records else 0
            wh.execute("delete from ops.inbox_segments where segment = :segment", {"segment": path.name})
            wh.execute(
                "insert into ops.inbox_segments (segment, bytes_loaded, loaded_at) values (:segment, :bytes, :at)",
                {"segment": path.name, "bytes": end, "at": datetime.now(UTC).isoformat()},
            )
        counts["segments"] += 1
        counts["lines"] += len(lines)
    return counts
