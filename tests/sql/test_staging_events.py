"""core.events: each event of a batch once (its first copy in file order), resolved to a lead."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from leadflow.pipeline import stage_core
from tests.sql.test_staging_leads import land

BATCH = "2026-11-20"
COMPARED = (
    "select event_id, lead_id, event_type, occurred_at, event_date, url, asset from core.events order by event_id"
)


def land_events(wh, rows: list[dict], file: str, batch: str = BATCH) -> None:
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
                "_batch_id": batch,
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
    """A night of 62 raw rows: copies of an event across files and within a file, leads found by crm_id
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
        + [{"event_id": f"e{i:03d}", "crm_id": "C2", "properties": '{"asset": "guide.pdf"}'} for i in range(50, 56)]
        + [{"event_id": "e010", "crm_id": "C2", "event_type": "webinar"}] * 2,  # a third and a fourth copy
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
    assert staged.loc["e010", "event_type"] == "page_view"
    leads = dict(night.fetchall("select crm_id, lead_id from core.leads"))
    assert staged.loc["e001", "lead_id"] == leads["C1"]  # by crm_id
    assert staged.loc["e002", "lead_id"] == leads["C2"]  # by email, case aside
    assert staged.loc["e051", "asset"] == "guide.pdf"


def test_staging_the_night_again_changes_nothing(night, settings):
    before = night.fetch_df(COMPARED)
    stage_core(night, settings, date.fromisoformat(BATCH))
    pd.testing.assert_frame_equal(night.fetch_df(COMPARED), before)


def test_an_event_another_batch_holds_stays_as_first_staged(night, settings):
    """A source delivering an event again on a later night: the earlier night's copy stays, the later
    one is not staged a second time (PostgreSQL skips it through the primary key, DuckDB anti-joins)."""
    later = "2026-11-21"
    land_events(
        night,
        [
            {"event_id": "e001", "crm_id": "C2", "event_type": "download"},  # staged on 2026-11-20 for C1
            {"event_id": "n001", "crm_id": "C2", "occurred_at": "2026-11-21T01:00:00+00:00"},
        ],
        "events_c.jsonl",
        batch=later,
    )
    before = night.fetch_df(COMPARED).set_index("event_id")
    stage_core(night, settings, date.fromisoformat(later))
    staged = night.fetch_df(COMPARED).set_index("event_id")
    assert len(staged) == len(before) + 1
    pd.testing.assert_series_equal(staged.loc["e001"], before.loc["e001"])
    assert dict(night.fetchall("select event_id, _batch_id from core.events where event_id in ('e001', 'n001')")) == {
        "e001": BATCH,
        "n001": later,
    }
    stage_core(night, settings, date.fromisoformat(later))  # the later night again
    pd.testing.assert_frame_equal(night.fetch_df(COMPARED).set_index("event_id"), staged)


def test_an_event_after_the_as_of_day_waits_for_its_own_night(night, settings):
    """An event stamped after the night's cutoff (evening in America, already the next day in Tokyo)
    is not staged by that night; the next night stages it from ops.held_events, once, under its own
    batch, and a rerun of either night changes nothing."""
    early = {"event_id": "early", "crm_id": "C1", "occurred_at": "2026-11-20T19:30:00-08:00"}  # 11-21 12:30 JST
    land_events(night, [early], "events_early.jsonl")
    night.execute(
        "insert into ops.held_events values (:b, 'events_early.jsonl', 1, cast('2026-11-21' as date), 'early', "
        "'C1', null, 'page_view', '2026-11-21T03:30:00.000000+00:00', null, null)",
        {"b": BATCH},
    )
    staged_on = "select _batch_id from core.events where event_id = 'early'"
    stage_core(night, settings, date.fromisoformat(BATCH))
    assert night.fetchall(staged_on) == []  # not early: the 11-20 night does not see it
    stage_core(night, settings, date(2026, 11, 21))
    assert night.fetchall(staged_on) == [("2026-11-21",)]
    assert night.scalar("select cast(event_date as varchar) from core.events where event_id = 'early'") == "2026-11-21"
    before = night.fetch_df(COMPARED)
    for again in (BATCH, "2026-11-21"):
        stage_core(night, settings, date.fromisoformat(again))
        pd.testing.assert_frame_equal(night.fetch_df(COMPARED), before)
    assert night.fetchall(staged_on) == [("2026-11-21",)]
    stage_core(night, settings, date(2026, 11, 22))  # a later night: due long ago, staged already
    assert night.scalar("select count(*) from core.events where event_id = 'early'") == 1
