"""The durable inbox: file segments and ops.inbox keep every accepted record once, on both backends."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadflow.intake.inbox import FileInbox, InboxRecord, WarehouseInbox, load_records, load_segments
from leadflow.warehouse import Warehouse


def _event(event_id: str) -> InboxRecord:
    return InboxRecord(
        "web_event",
        event_id,
        {"event_id": event_id, "email": "a@example.jp", "event_type": "demo_request"},
        datetime(2026, 12, 7, 1, 0, tzinfo=UTC),
    )


def test_segments_load_once_and_resume_where_they_stopped(wh: Warehouse, tmp_path: Path) -> None:
    inbox = FileInbox(tmp_path / "inbox")
    inbox.append([_event("e1"), _event("e2")])
    assert load_segments(wh, tmp_path / "inbox")["new"] == 2
    # the same delivery again (a retry) and one new event, appended to the still-open segment
    inbox.append([_event("e2"), _event("e3")])
    counts = load_segments(wh, tmp_path / "inbox")
    # only the bytes after the first load are read: two lines, one of them a duplicate key
    assert (counts["lines"], counts["new"]) == (2, 1)
    assert load_segments(wh, tmp_path / "inbox")["lines"] == 0
    assert wh.scalar("select count(*) from ops.inbox") == 3


def test_a_line_cut_short_is_not_loaded_until_complete(wh: Warehouse, tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    inbox = FileInbox(root)
    inbox.append([_event("e1")])
    segment = next(root.glob("*.jsonl"))
    line = _event("e2").to_line()
    with segment.open("ab") as fh:  # a writer killed mid-line: no newline yet
        fh.write(line[:20])
    assert load_segments(wh, root)["new"] == 1
    with segment.open("ab") as fh:
        fh.write(line[20:])
    # the rest of the line arrived: it is loaded from where the last load stopped
    assert load_segments(wh, root)["new"] == 1
    assert sorted(k for (k,) in wh.fetchall("select dedupe_key from ops.inbox")) == ["e1", "e2"]


def test_a_torn_line_followed_by_others_is_skipped_and_counted(wh: Warehouse, tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    (root / "20261207T000000000000Z-1-0001.jsonl").write_bytes(b'{"kind":"web_ev\n' + _event("e9").to_line())
    counts = load_segments(wh, root)
    assert (counts["skipped"], counts["new"]) == (1, 1)


def test_each_process_writes_its_own_segment_and_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    inbox = FileInbox(tmp_path / "inbox", max_bytes=1)
    inbox.append([_event("e1")])
    inbox.append([_event("e2")])  # past max_bytes: a second segment
    inbox.close()
    assert len(list((tmp_path / "inbox").glob("*.jsonl"))) == 2
    # per segment: the directory entry, then the appended bytes
    assert len(synced) == 4


def test_warehouse_inbox_commits_and_deduplicates(wh: Warehouse) -> None:
    inbox = WarehouseInbox(wh)
    inbox.append([_event("e1"), _event("e1")])
    inbox.append([_event("e1")])
    assert wh.scalar("select count(*) from ops.inbox") == 1
    assert load_records(wh, [_event("e2")]) == 1


def test_unknown_kind_and_missing_key_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown inbox kind"):
        InboxRecord("mystery", "k", {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="without a dedupe key"):
        InboxRecord("web_event", "", {})
