"""The keyed events: nightly incremental scoring equals a full rebuild, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from leadflow.pipeline import score
from leadflow.scoring import rebuild_scores
from tests.sql.rows import add_events, add_leads

DAYS = [date(2026, 11, 15) + timedelta(days=n) for n in range(8)]


def snapshot(wh) -> tuple[list, list]:
    factors = wh.fetchall("select * from scoring.score_factors order by as_of_date, lead_id, rule_id")
    scores = wh.fetchall("select * from scoring.lead_scores order by as_of_date, lead_id")
    return factors, scores


def test_incremental_nightly_runs_equal_a_full_rebuild(wh, settings):
    add_leads(
        wh,
        {"crm_id": "A", "job_title": "部長", "employee_count": 300},
        {"crm_id": "B"},
        {"crm_id": "C", "job_title": "学生", "email": "c@gmail.com"},
    )
    # history loaded before the first incremental night (one old batch)
    add_events(wh, "A", ("pricing_view", "2026-09-01"), ("webinar_attended", "2026-10-20"), batch="2026-11-14")
    for n, day in enumerate(DAYS):
        d = day.isoformat()
        add_events(wh, "A", ("pricing_view", d), ("page_view", d), ("page_view", d), prefix=f"n{n}-")
        if n % 2:
            add_events(wh, "B", ("email_click", d), ("whitepaper_download", d), prefix=f"n{n}-")
        if n == 5:
            # a late event: happened two days earlier, arrives in tonight's batch
            late = (day - timedelta(days=2)).isoformat()
            add_events(wh, "C", ("demo_request", late), batch=d, prefix="late-")
        score(wh, settings, day)
    # a rerun of the last night after more of that night's events arrived re-rolls only that batch
    add_events(wh, "B", ("pricing_view", DAYS[-1].isoformat()), prefix="rerun-")
    score(wh, settings, DAYS[-1])
    incremental = snapshot(wh)
    rolled = dict(wh.fetchall("select _batch_id, events from scoring.keyed_event_batches"))
    assert sum(rolled.values()) == wh.scalar("select count(*) from core.events")
    # every event once, as integer keys (the rerun replaced its batch's rows rather than adding to them)
    assert wh.scalar("select count(*) from scoring.keyed_events") == wh.scalar("select count(*) from core.events")

    result = rebuild_scores(wh, settings, DAYS)
    assert result["dates"] == len(DAYS)
    assert snapshot(wh) == incremental
    assert dict(wh.fetchall("select _batch_id, events from scoring.keyed_event_batches")) == rolled


def test_a_night_rolls_up_only_its_own_and_unseen_batches(wh, settings):
    add_leads(wh, {"crm_id": "A"})
    add_events(wh, "A", ("pricing_view", "2026-11-20"))
    score(wh, settings, date(2026, 11, 20))
    # an event slipped into an already rolled-up batch outside any run is not picked up by the
    # next night (its batch is done); the full rebuild is the repair for such out-of-band edits
    add_events(wh, "A", ("pricing_view", "2026-11-19"), batch="2026-11-20", prefix="oob-")
    add_events(wh, "A", ("pricing_view", "2026-11-21"))
    score(wh, settings, date(2026, 11, 21))
    assert wh.scalar("select count(*) from scoring.keyed_events") == 2
    rebuild_scores(wh, settings, [date(2026, 11, 21)])
    assert wh.scalar("select count(*) from scoring.keyed_events") == 3
