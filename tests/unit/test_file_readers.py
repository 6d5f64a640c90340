"""Reading a CRM export: the cells a night lands, and a clear error for an export that is broken."""

from __future__ import annotations

import pandas as pd
import pytest

from leadflow.sources.files import SchemaDriftError, read_crm_csv, read_events_jsonl
from leadflow.vocabulary import CRM_COLUMNS

HEADER = ",".join(CRM_COLUMNS)


def row(crm_id: str, **cells: str) -> str:
    values = {c: "" for c in CRM_COLUMNS} | {"crm_id": crm_id, "email": f"{crm_id.lower()}@example.com"} | cells
    return ",".join(values[c] for c in CRM_COLUMNS)


def read(path, chunk_rows: int = 100_000) -> pd.DataFrame:
    return pd.concat([frame for frame, _ in read_crm_csv(path, chunk_rows)], ignore_index=True)


def test_cells_are_text_empty_and_quoted_empty_cells_are_null(tmp_path):
    path = tmp_path / "leads.csv"
    quoted_empty = '""'
    path.write_text(f"{HEADER}\n{row('C1', employee_count='0042', company=quoted_empty)}\n", encoding="utf-8")
    frame = read(path)
    assert frame.loc[0, "employee_count"] == "0042"  # text, never a number
    assert pd.isna(frame.loc[0, "company"]) and pd.isna(frame.loc[0, "industry"])
    assert frame["_row"].tolist() == [1]


def test_a_quoted_cell_keeps_its_comma_and_newline(tmp_path):
    path = tmp_path / "leads.csv"
    company = '"Acme, Inc.\nEMEA"'
    path.write_text(f"{HEADER}\n{row('C1', company=company)}\n{row('C2')}\n", encoding="utf-8")
    frame = read(path)
    assert frame["company"].tolist()[0] == "Acme, Inc.\nEMEA"
    assert frame["crm_id"].tolist() == ["C1", "C2"]
    assert frame["_row"].tolist() == [1, 2]


def test_extra_columns_are_ignored_and_a_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(f"\ufeff{HEADER},notes\n{row('C1')},hello\n", encoding="utf-8")
    frame = read(path)
    assert list(frame.columns) == [*CRM_COLUMNS, "_row"]
    assert frame.loc[0, "crm_id"] == "C1"


def test_rows_come_in_chunks_numbered_across_them(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(HEADER + "\n" + "\n".join(row(f"C{i}") for i in range(1, 8)) + "\n", encoding="utf-8")
    pieces = [frame for frame, _ in read_crm_csv(path, 3)]
    assert [len(p) for p in pieces] == [3, 3, 1]
    assert pd.concat(pieces)["_row"].tolist() == list(range(1, 8))
    assert pd.concat(pieces)["crm_id"].tolist() == [f"C{i}" for i in range(1, 8)]


def test_a_header_only_export_has_no_rows(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(HEADER + "\n", encoding="utf-8")
    assert len(read(path)) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"leads\.csv: missing column\(s\) crm_id, email"),
        (f"{HEADER}\n{row('C1')},surplus\n", r"leads\.csv: not a readable CSV export: .*Expected 21 columns, got 22"),
        (f"{HEADER}\n{row('C1')}\nC2,c2@example.com\n", r"leads\.csv: not a readable CSV export: .*got 2"),
        (f"{HEADER},email\n{row('C1')},x@example.com\n", r"leads\.csv: column\(s\) email appear more than once"),
    ],
    ids=["empty file", "a row with a surplus field", "a short row", "a doubled column"],
)
def test_a_broken_export_fails_with_the_file_and_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "leads.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SchemaDriftError, match=message):
        read(path)


def test_text_that_is_not_utf8_fails_clearly(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(f"{HEADER}\n{row('C1', company='Caf')}".encode() + b"\xe9\n")
    with pytest.raises(SchemaDriftError, match=r"leads\.csv: not a readable CSV export: .*UTF8"):
        read(path)


def events(path) -> tuple[pd.DataFrame, list]:
    pieces = list(read_events_jsonl(path))
    return pd.concat([f for f, _ in pieces], ignore_index=True), [b for _, bad in pieces for b in bad]


def test_event_lines_land_as_text_and_their_properties_as_sorted_json(tmp_path):
    path = tmp_path / "events_2026-11-22.jsonl"
    lines = [
        '{"event_id": "e1", "crm_id": "C1", "email": null, "event_type": "page_view",'
        ' "occurred_at": "2026-11-22T10:00:00Z", "url": "https://x.example/pricing",'
        ' "properties": {"utm": "メール", "a": [1, 2.5, null]}}',
        "",
        '{"event_id": 42, "crm_id": "C2", "event_type": "download", "flag": true, "properties": ["x"]}',
        '{"event_id": "e3", "email": "A@Example.com"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame, bad = events(path)
    assert bad == []
    assert frame["event_id"].tolist() == ["e1", "42", "e3"]  # a number lands as its text, for the gate to judge
    assert frame["properties"].tolist() == ['{"a":[1,2.5,null],"utm":"メール"}', '["x"]', None]
    assert frame["email"].tolist()[:1] == [None] and frame.loc[2, "email"] == "A@Example.com"
    assert frame["_row"].tolist() == [1, 3, 4]  # line numbers, the blank line counted


def test_lines_that_are_not_json_objects_are_kept_with_their_reason(tmp_path):
    path = tmp_path / "events_2026-11-22.jsonl"
    lines = [b'{"event_id": "e1"}', b"[1, 2]", b'{"event_id": "e2", ', b'{"event_id": 5, "crm_id": ']
    path.write_bytes(b"\n".join([*lines, b'{"event_id": "caf\xe9"}', b"NaN"]) + b"\n")
    frame, bad = events(path)
    assert frame["event_id"].tolist() == ["e1"]
    assert [(row, reason.split(":")[0]) for row, _, reason in bad] == [
        (2, "line is not a JSON object"),
        (3, "line is not valid JSON"),
        (4, "line is not valid JSON"),
        (5, "line is not valid JSON"),
        (6, "line is not valid JSON"),
    ]
    assert bad[0][1] == "[1, 2]" and bad[3][1] == '{"event_id": "caf\ufffd"}'
