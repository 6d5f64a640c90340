"""The raw gates in chunks: a batch checked 7 rows at a time gives exactly what one chunk gives (the
same clean and quarantined rows, reasons, counts, GX results and failures), in memory and streamed
out of DuckDB and PostgreSQL, with duplicates on both sides of chunk borders."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from leadflow import pipeline
from leadflow.pipeline import cutoff, validate_raw
from leadflow.validation import raw
from leadflow.validation.raw import GateResult, ValidationFailed, validate_raw_crm, validate_raw_events
from leadflow.validation.settings import ValidationSettings
from tests.unit.test_foundation_units import duckdb_cap
from tests.unit.test_validation_raw import AS_OF, EVENT, LEAD

BATCH = "2026-11-22"
RUN_DATE = date(2026, 11, 22)


def lead(n: int, **overrides: str | None) -> dict:
    return LEAD | {"crm_id": f"C{n}", "email": f"lead{n}@acme.co.jp"} | overrides


def event(n: int, **overrides: str | None) -> dict:
    return EVENT | {"event_id": f"E{n}"} | overrides


# Rows 1-21 of crm_a.csv, then 1-6 of crm_b.csv; with chunks of 7 every duplicate group below spans
# at least one chunk border, and some span the two files.
CRM_A = [
    lead(1, updated_at="2024-05-02T10:00:00+09:00"),  # 1: loses to row 15 (newer)
    lead(2),
    lead(3),  # 3: kept; its exact copies are rows 11 and 2 of crm_b.csv
    lead(4, email="not-an-address"),
    lead(5, updated_at="2024-05-05T10:00:00+09:00"),  # 5, 9, 16: a tie at the latest updated_at
    lead(6, crm_id=None),
    lead(7, locale="fr"),
    lead(8, crm_id="N/A"),  # missing, like row 6
    lead(5, updated_at="2024-05-05T10:00:00+09:00", first_name="Jiro"),
    lead(10),
    lead(3, crm_id=" C3\u3000"),  # 11: the same record once trimmed: an exact copy
    lead(12, crm_id="N/A"),
    lead(13, updated_at="2024-05-03T10:00:00+09:00"),  # 13: loses to row 3 of crm_b.csv
    lead(14),
    lead(1, updated_at="2024-05-09T10:00:00+09:00", email="new@acme.co.jp"),
    lead(5, updated_at="2024-05-05T01:00:00Z", first_name="Saburo"),  # the same instant as rows 5 and 9
    lead(17, email="c17@example.com"),
    lead(18, updated_at="2030-01-01T00:00:00Z"),  # after the cutoff
    lead(19, crm_id="c19"),  # case differs from row 1 of crm_b.csv: not a duplicate
    lead(20),
    lead(21, bant_budget="maybe"),
]
CRM_B = [
    lead(19),
    lead(3),
    lead(13, updated_at="2024-05-04T10:00:00+09:00", email="broken@"),  # newer but invalid: both quarantined
    lead(24),
    lead(25, timezone="Mars/Olympus"),
    lead(26),
]
# Rows of web_a.jsonl, then web_b.jsonl.
WEB_A = [
    event(1),
    event(2),
    event(3, event_type="page_view"),
    event(4, event_id=None),
    event(1),  # 5: an exact copy of row 1
    event(6, occurred_at="2024-05-10T12:00:00"),
    event(7),
    event(3, event_type="pricing_view"),  # 8: differs from row 3: quarantined
    event(9, crm_id=None, email=None),
    event(10),
    event(11, properties="[1]"),
    event(12, event_id=" E2 ", url="https://acme.example/other"),  # 12: E2 with different content
]
WEB_B = [
    event(3, event_type="pricing_view"),  # an exact copy of row 8 of web_a: dropped, not quarantined
    event(14),
    event(1),
    event(16, email="bad@@x"),
    event(17, event_type="Page_View "),
]


def frame(rows: list[dict], file: str) -> pd.DataFrame:
    df = pd.DataFrame(rows).astype(object)
    df = df.where(df.notna(), None)
    df["_row"] = range(1, len(rows) + 1)
    df["_file"] = file
    return df


def batch(source: str) -> pd.DataFrame:
    if source == "crm":
        parts = [(CRM_A, "crm_a.csv"), (CRM_B, "crm_b.csv")]
    else:
        parts = [(WEB_A, "web_a.jsonl"), (WEB_B, "web_b.jsonl")]
    return pd.concat([frame(rows, file) for rows, file in parts], ignore_index=True)


def gate(source: str, chunk_rows: int | None, limit: float = 1.0) -> GateResult:
    check = validate_raw_crm if source == "crm" else validate_raw_events
    return check(batch(source), as_of=AS_OF, max_bad_share=limit, chunk_rows=chunk_rows)


def assert_same(a: GateResult, b: GateResult) -> None:
    pd.testing.assert_frame_equal(a.clean, b.clean)
    pd.testing.assert_frame_equal(a.quarantine, b.quarantine)
    assert a.results == b.results
    assert a.summary() == b.summary()


@pytest.mark.parametrize("source", ["crm", "web"])
@pytest.mark.parametrize("chunk_rows", [1, 7])
def test_chunks_in_memory_give_what_one_chunk_gives(source: str, chunk_rows: int) -> None:
    whole = gate(source, None)
    assert_same(gate(source, chunk_rows), whole)
    # the batch really has duplicates across borders, failures of several kinds and exact copies
    assert whole.exact_duplicates >= 2 and len(whole.quarantine) >= 7


def test_the_duplicates_are_judged_on_the_whole_batch() -> None:
    result = gate("crm", 7)
    q = result.quarantine
    why = {(f, r): reason for f, r, reason in q[["_file", "_row", "reason"]].itertuples(index=False)}
    # row 1 and row 15 of crm_a.csv are two chunks apart; the newer wins
    assert why[("crm_a.csv", 1)].endswith("superseded by row 15 of crm_a.csv")
    assert "rows 5, 9, 16 of crm_a.csv" in why[("crm_a.csv", 16)]
    # the newer C13 is broken: it and the older one are both quarantined, across files
    assert why[("crm_a.csv", 13)].endswith("superseded by row 3 of crm_b.csv")
    assert ("crm_b.csv", 3) in why
    assert result.exact_duplicates == 2  # rows 11 of crm_a.csv and 2 of crm_b.csv copy row 3


@pytest.mark.parametrize("source", ["crm", "web"])
def test_a_failing_batch_fails_alike_in_chunks(source: str) -> None:
    with pytest.raises(ValidationFailed) as whole:
        gate(source, None, limit=0.05)
    with pytest.raises(ValidationFailed) as chunked:
        gate(source, 7, limit=0.05)
    assert str(chunked.value) == str(whole.value)
    assert_same(chunked.value.result, whole.value.result)


def land(wh, table: str, rows: pd.DataFrame) -> None:
    rows = rows.copy()
    rows["_batch_id"] = BATCH
    rows["_loaded_at"] = datetime(2026, 11, 23, tzinfo=UTC)
    wh.load_df(table, rows.sample(frac=1, random_state=3))  # the gate reads in (_file, _row) order


def kept(wh, source: str) -> tuple[list[tuple], dict, list]:
    quarantine = wh.fetchall(
        "select _file, _row, record, reason from ops.quarantine where source = :s and batch_id = :b "
        "order by _file, _row",
        {"s": source, "b": BATCH},
    )
    summary, results = wh.fetchall(
        "select summary, results from ops.validation_results where batch_id = :b and validation = :v",
        {"b": BATCH, "v": "raw_crm" if source == "crm" else "raw_events"},
    )[0]
    return [tuple(row) for row in quarantine], json.loads(summary), json.loads(results)


def with_chunks(settings, chunk_rows: int, **limits):
    return settings.model_copy(update={"validation": ValidationSettings(chunk_rows=chunk_rows, **limits)})


@pytest.mark.parametrize("source", ["crm", "web"])
def test_streamed_chunks_give_what_the_whole_batch_gives(wh, settings, source: str) -> None:
    rows = batch(source)
    land(wh, "raw.crm_leads" if source == "crm" else "raw.web_events", rows)
    # only the row-level gate is compared here: the run-level limits are opened wide
    limits = {"max_bad_share": 1.0, "min_event_resolution_share": 0.0, "freshness_max_age_hours": 100_000}
    expected = (validate_raw_crm if source == "crm" else validate_raw_events)(
        rows, as_of=cutoff(settings, RUN_DATE), max_bad_share=1.0, batch=BATCH
    )
    one = validate_raw(wh, with_chunks(settings, 1_000_000, **limits), RUN_DATE, source)
    whole = kept(wh, source)
    seven = validate_raw(wh, with_chunks(settings, 7, **limits), RUN_DATE, source)
    # the CRM gate's summary also says what its volume is judged on: the batch's rows, landed here by hand
    landed = {"source_rows": expected.rows} if source == "crm" else {}
    assert seven == one == expected.summary() | landed
    assert kept(wh, source) == whole  # a rerun replaces the batch's quarantine, in chunks or not
    assert [(f, r, reason) for f, r, _, reason in whole[0]] == list(
        expected.quarantine[["_file", "_row", "reason"]].itertuples(index=False, name=None)
    )
    assert whole[2][: len(expected.results)] == expected.results  # the run-level checks' results follow


def test_a_streamed_batch_over_the_limit_keeps_its_evidence(wh, settings) -> None:
    land(wh, "raw.crm_leads", batch("crm"))
    with pytest.raises(ValidationFailed) as one:
        validate_raw(wh, with_chunks(settings, 1_000_000, max_bad_share=0.05), RUN_DATE, "crm")
    whole = kept(wh, "crm")
    with pytest.raises(ValidationFailed) as seven:
        validate_raw(wh, with_chunks(settings, 7, max_bad_share=0.05), RUN_DATE, "crm")
    assert str(seven.value) == str(one.value)
    assert kept(wh, "crm") == whole and len(whole[0]) == one.value.result.quarantined


def test_duckdb_streams_a_batch_under_a_lower_cap_and_gets_its_cap_back(wh, settings, monkeypatch) -> None:
    if wh.dialect != "duckdb":
        pytest.skip("PostgreSQL's memory is the server's: nothing to lower in this process")

    seen: list[float | None] = []
    real = raw.validate_batch

    def spying(*args, **kwargs):
        seen.append(duckdb_cap(wh))
        return real(*args, **kwargs)

    # the name validate_raw calls (pipeline imports it from validation.raw)
    monkeypatch.setattr(pipeline, "validate_batch", spying)
    land(wh, "raw.crm_leads", batch("crm"))
    before = duckdb_cap(wh)
    with pytest.raises(ValidationFailed):  # a failing batch gets the cap back too
        validate_raw(wh, with_chunks(settings, 7, max_bad_share=0.05), RUN_DATE, "crm")
    assert seen and seen[0] < before / 2
    assert duckdb_cap(wh) == before


def test_fetch_chunks_streams_at_most_the_chunk_and_one_frame_when_empty(wh) -> None:
    land(wh, "raw.web_events", batch("web"))
    sql = "select event_id, _row from raw.web_events where _batch_id = :b order by _file, _row"
    sizes = [len(c) for c in wh.fetch_chunks(sql, {"b": BATCH}, rows=5)]
    assert sum(sizes) == len(WEB_A) + len(WEB_B) and max(sizes) <= 5
    empty = list(wh.fetch_chunks(sql, {"b": "1999-01-01"}, rows=5))
    assert len(empty) == 1 and empty[0].empty and list(empty[0].columns) == ["event_id", "_row"]
