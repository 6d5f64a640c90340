"""core.events: each event of a batch once (its first copy in file order), resolved to a lead, the same
whether the batch is staged in one statement or in slices."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from leadflow import pipeline
from leadflow.pipeline import event_slices, stage_core
from tests.sql.test_staging_leads import land

BATCH = "2026-11-20"
COMPARED = (
    "select event_id, lead_id, event_type, occurred_at, event_date, url, asset from core.events order by event_id"
)


def land_events(wh, rows: list[dict], file: str) -> None:
    frame = pd.DataFrame(
        [
            {
                "crm_id": None,
                "email": None,
                "event_type": "page_view",
                "occurred_at": "2026-11-20T01:00:00+00:00",
                "url": "https://leadflow.example/pricing",
                "properties": None,
                **row,
                "_batch_id": BATCH,
                "_file": file,
                "_row": i,
                "_loaded_at": datetime(2026, 11, 21, tzinfo=UTC),
            }
            for i, row in enumerate(rows, start=1)
        ]
    )
    wh.load_df("raw.web_events", frame.astype(object).where(frame.notna(), None))


@pytest.fixture
def night(wh, settings):
    """A night of 60 events: copies of one event across files and within a file, leads found by crm_id
    or by email, one event of nobody known, one quarantined row."""
    land(wh, BATCH, {"crm_id": "C1"}, {"crm_id": "C2", "email": "owner@example.co.jp"})
    first = [
        {"event_id": f"e{i:03d}", "crm_id": "C1" if i % 2 else None, "email": None if i % 2 else "Owner@Example.co.jp"}
        for i in range(50)
    ]
    first += [
        {"event_id": " e007 ", "crm_id": "C2", "event_type": "download"},  # a later copy in the same file
        {"event_id": "stranger", "crm_id": "C404"},  # resolves to nobody: not staged
        {"event_id": "e900", "crm_id": "C1", "occurred_at": "not a time"},  # quarantined below
    ]
    land_events(wh, first, "events_a.jsonl")
    land_events(
        wh,
        [{"event_id": "e003", "crm_id": "C2", "url": "https://leadflow.example/other"}]  # a copy in a later file
        + [{"event_id": f"e{i:03d}", "crm_id": "C2", "properties": '{"asset": "guide.pdf"}'} for i in range(50, 56)],
        "events_b.jsonl",
    )
    wh.execute(
        "insert into ops.quarantine values ('web', :b, 'events_a.jsonl', 53, '{}', 'test: bad time', "
        "current_timestamp)",
        {"b": BATCH},
    )
    stage_core(wh, settings, date.fromisoformat(BATCH))
    return wh


def test_each_event_is_staged_once_from_its_first_copy(night):
    staged = night.fetch_df(COMPARED).set_index("event_id")
    assert len(staged) == 56
    assert "stranger" not in staged.index and "e900" not in staged.index
    assert staged.loc["e007", "event_type"] == "page_view"  # the first copy, not the download after it
    assert staged.loc["e003", "url"] == "https://leadflow.example/pricing"
    leads = dict(night.fetchall("select crm_id, lead_id from core.leads"))
    assert staged.loc["e001", "lead_id"] == leads["C1"]  # by crm_id
    assert staged.loc["e002", "lead_id"] == leads["C2"]  # by email, case aside
    assert staged.loc["e051", "asset"] == "guide.pdf"


@pytest.mark.parametrize("slices", [2, 7])
def test_staging_in_slices_stages_the_same_rows(night, settings, slices):
    whole = night.fetch_df(COMPARED)
    params = pipeline.model_params(settings, date.fromisoformat(BATCH), batch_id=BATCH)
    night.run_model("staging/stg_events.sql", params, slices=slices)
    pd.testing.assert_frame_equal(night.fetch_df(COMPARED), whole)


def test_a_large_batch_is_sliced_on_duckdb_only(night, settings, monkeypatch):
    monkeypatch.setattr(pipeline, "STAGE_SLICE_ROWS", 20)
    expected = 3 if night.dialect == "duckdb" else 1  # 60 raw rows
    assert event_slices(night, BATCH) == expected
    whole = night.fetch_df(COMPARED)
    summary = stage_core(night, settings, date.fromisoformat(BATCH))
    assert summary["event_slices"] == expected
    pd.testing.assert_frame_equal(night.fetch_df(COMPARED), whole)
