"""The files leadflow keeps that can name a person, cleaned of one erasure's people.

- the file outbox (`<send_key>.eml`): their emails deleted;
- the intake's inbox segments (`data/inbox/*.jsonl`): each line naming them overwritten in place by a
  padded `{"erased":true}` of the same byte length, so the loaded-bytes offsets in `ops.inbox_segments`
  stay true and the loader skips the line;
- the landing files (CRM `*.csv`, web `*.jsonl`) and the CRM sink's files: their rows dropped (the
  file rewritten atomically);
- `privacy.scrub_paths` (GX results and Data Docs, template previews): each value replaced by `[erased]`.

Values are matched as they are written: addresses in any case, ids exactly.
"""

from __future__ import annotations

import csv
import email.policy
import io
import json
import os
from collections.abc import Callable, Iterable
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path

from leadflow.config import FileSourceConfig, Settings
from leadflow.intake.inbox import inbox_root

ERASED_LINE = b'{"erased":true}'
ERASED_TEXT = "[erased]"


def _rewrite(path: Path, data: bytes) -> None:
    """Replace `path`'s contents atomically (a new file renamed over it)."""
    tmp = path.with_name(f".{path.name}.erasing")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.rglob(pattern) if p.is_file()) if folder.is_dir() else []


def _names(data: bytes, needles: list[bytes]) -> bool:
    lowered = data.lower()
    return any(n in lowered for n in needles)


def _recipients(path: Path) -> set[str]:
    with path.open("rb") as fh:
        headers = BytesHeaderParser(policy=email.policy.default).parse(fh)
    return {addr.lower() for _, addr in getaddresses([str(v) for v in headers.get_all("To", [])])}


def outbox(folder: Path, send_keys: set[str], emails: set[str]) -> int:
    """Delete the person's emails: by send key, and any other .eml addressed to them."""
    lowered = {e.lower() for e in emails}
    removed = 0
    for path in _files(folder, "*.eml"):
        if path.stem in send_keys or _recipients(path) & lowered:
            path.unlink()
            removed += 1
    return removed


def inbox_segments(folder: Path, needles: list[bytes]) -> int:
    """Overwrite the inbox lines that name the person where they stand (same file, same length: the
    service may hold the segment open and append to it); lines changed."""
    changed = 0
    for path in _files(folder, "*.jsonl"):
        data = path.read_bytes()
        if not _names(data, needles):
            continue
        with path.open("r+b") as fh:
            offset = 0
            for line in data.split(b"\n"):
                if _names(line, needles):
                    pad = ERASED_LINE if len(line) >= len(ERASED_LINE) else b""
                    fh.seek(offset)
                    fh.write(pad.ljust(len(line), b" "))
                    changed += 1
                offset += len(line) + 1
            fh.flush()
            os.fsync(fh.fileno())
    return changed


def _drop_lines(path: Path, keep: Callable[[bytes], bool]) -> int:
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    kept = [line for line in lines if keep(line)]
    if len(kept) != len(lines):
        _rewrite(path, b"".join(kept))
    return len(lines) - len(kept)


def csv_rows(path: Path, needles: list[bytes], values: set[str]) -> int:
    """Drop the CSV rows with a cell equal to one of `values` (ids, addresses in any case); rows dropped."""
    data = path.read_bytes()
    if not _names(data, needles):
        return 0
    lowered = {v.lower() for v in values}
    text = data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    kept = [row for i, row in enumerate(rows) if i == 0 or not any(c.strip().lower() in lowered for c in row)]
    if len(kept) == len(rows):
        return 0
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(kept)
    _rewrite(path, out.getvalue().encode())
    return len(rows) - len(kept)


def jsonl_rows(path: Path, needles: list[bytes]) -> int:
    """Drop the JSON lines that name the person; lines dropped."""
    if not _names(path.read_bytes(), needles):
        return 0
    return _drop_lines(path, lambda line: not _names(line, needles))


def replace_text(folder: Path, values: Iterable[str]) -> int:
    """Replace every value in the text files under `folder` by `[erased]`; files changed."""
    ordered = sorted(set(values), key=len, reverse=True)  # a longer value first: it may contain a shorter one
    changed = 0
    for path in _files(folder, "*"):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary: nothing leadflow writes there holds personal data as bytes
        new = text
        for value in ordered:
            if value in new:
                new = new.replace(value, ERASED_TEXT)
            escaped = json.dumps(value, ensure_ascii=True)[1:-1]  # as JSON writes non-ASCII (\\uXXXX)
            if escaped != value and escaped in new:
                new = new.replace(escaped, ERASED_TEXT)
        if new != text:
            _rewrite(path, new.encode())
            changed += 1
    return changed


def scrub(settings: Settings, values: set[str], send_keys: set[str], emails: set[str]) -> dict[str, int]:
    """Clean every file leadflow keeps of the people named by `values`; counts per kind of file."""
    counts: dict[str, int] = {}
    if not values:
        return counts
    # a value as JSON writes it, quotes included (an id must not match a longer id), in lower case (addresses)
    quoted = sorted({json.dumps(v, ensure_ascii=False).lower().encode() for v in values}, key=len, reverse=True)
    bare = sorted({v.lower().encode() for v in values}, key=len, reverse=True)
    if settings.mailer.kind == "file":
        counts["files:outbox"] = outbox(settings.path(settings.mailer.outbox), send_keys, emails)
    counts["files:inbox"] = inbox_segments(inbox_root(settings), quoted)
    landed = 0
    for source in (settings.sources.crm, settings.sources.web):
        if isinstance(source, FileSourceConfig):
            folder = settings.path(source.path)
            for path in _files(folder, "*.csv"):
                landed += csv_rows(path, bare, values)
            for path in _files(folder, "*.jsonl"):
                landed += jsonl_rows(path, quoted)
    counts["files:landing"] = landed
    sink_path = getattr(settings.crm_sink, "path", None)
    if getattr(settings.crm_sink, "kind", None) == "files" and sink_path is not None:
        counts["files:crm_sink"] = sum(csv_rows(p, bare, values) for p in _files(settings.path(sink_path), "*.csv"))
    counts["files:other"] = sum(replace_text(settings.path(p), values | emails) for p in settings.privacy.scrub_paths)
    return {k: v for k, v in counts.items() if v}
