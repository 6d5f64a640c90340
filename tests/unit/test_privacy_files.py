"""Files cleaned of an erased person: only their lines and rows go, and what reads the files still works."""

from __future__ import annotations

import json
from pathlib import Path

from leadflow.intake.inbox import FileInbox, InboxRecord, load_segments
from leadflow.privacy import files
from leadflow.warehouse import connect

GONE = "gone@example.jp"


def quoted(*values: str) -> list[bytes]:
    return [json.dumps(v).lower().encode() for v in values]


def test_an_inbox_line_is_overwritten_in_place_and_loading_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    inbox = FileInbox(root)
    records = [InboxRecord("web_event", f"e{i}", {"event_id": f"e{i}", "email": e}) for i, e in
               enumerate(["a@example.jp", GONE.upper(), "b@example.jp"])]  # fmt: skip
    inbox.append(records)
    with connect("duckdb:///:memory:") as wh:
        wh.execute("create schema ops")
        wh.run_model("schema/07_intake.sql")
        assert load_segments(wh, root)["new"] == 3
        (segment,) = root.glob("*.jsonl")
        size = segment.stat().st_size
        assert files.inbox_segments(root, quoted(GONE)) == 1
        assert segment.stat().st_size == size  # ops.inbox_segments' offset still points at a line's end
        assert GONE not in segment.read_text().lower()
        inbox.append([InboxRecord("web_event", "e3", {"event_id": "e3", "email": "c@example.jp"})])
        inbox.close()
        assert load_segments(wh, root) == {"segments": 1, "lines": 1, "new": 1, "skipped": 0}


def test_landing_rows_naming_them_are_dropped_and_no_other(tmp_path: Path) -> None:
    crm = tmp_path / "leads.csv"
    crm.write_text("crm_id,email\nC-1,a@example.jp\nC-10,Gone@Example.jp\nC-100,b@example.jp\n", encoding="utf-8")
    assert files.csv_rows(crm, [b"c-10", GONE.encode()], {"C-10", GONE}) == 1
    assert crm.read_text(encoding="utf-8") == "crm_id,email\nC-1,a@example.jp\nC-100,b@example.jp\n"
    web = tmp_path / "events.jsonl"
    web.write_text(
        '{"crm_id": "C-10", "email": null}\n{"crm_id": "C-100", "email": null}\n{"email": "GONE@example.jp"}\n'
    )
    assert files.jsonl_rows(web, quoted("C-10", GONE)) == 2  # an id inside a longer id is not a match
    assert web.read_text() == '{"crm_id": "C-100", "email": null}\n'


def test_outbox_emails_go_by_send_key_or_recipient(tmp_path: Path) -> None:
    for name, to in (("k1", "a@example.jp"), ("k2", "Gone <GONE@example.jp>"), ("k3", "b@example.jp")):
        (tmp_path / f"{name}.eml").write_bytes(f"To: {to}\r\nSubject: x\r\n\r\nbody\r\n".encode())
    assert files.outbox(tmp_path, {"k3"}, {GONE}) == 2
    assert [p.stem for p in tmp_path.glob("*.eml")] == ["k1"]


def test_derived_files_keep_their_shape_with_the_values_replaced(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "index.html"
    page.write_text(f"<td>{GONE}</td><td>山田 花子</td>", encoding="utf-8")
    (tmp_path / "result.json").write_text(json.dumps({"unexpected": ["山田 花子"]}), encoding="utf-8")  # \\u escapes
    assert files.replace_text(tmp_path, {GONE, "山田 花子"}) == 2
    assert page.read_text(encoding="utf-8") == "<td>[erased]</td><td>[erased]</td>"
    assert json.loads((tmp_path / "result.json").read_text()) == {"unexpected": ["[erased]"]}
