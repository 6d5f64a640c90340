"""Early events are not bad events: an event stamped after a night's cutoff waits for the night whose
window covers it, through the whole nightly pipeline on both backends."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from leadflow.backfill import run_nightly
from leadflow.config import Settings
from leadflow.demo.generate import generate
from leadflow.sources.files import file_date

END = date(2026, 11, 22)
NIGHT = END - timedelta(days=1)  # the night whose file carries the early event
EARLY = "evt_early_la_evening"
FUTURE = "evt_skewed_clock"


@pytest.fixture
def landed(settings: Settings, tmp_path: Path) -> tuple[Settings, str, list[date]]:
    """A week of daily data with a demo request added to NIGHT's file for a lead without events of its
    own, stamped at 19:30 in Los Angeles on NIGHT (12:30 the next day in Tokyo), and an event of that
    lead stamped three days ahead (a skewed clock); with the nights before NIGHT."""
    summary = generate(tmp_path, leads=120, days=7, seed=11, end_date=END, daily=True, bad_share=0.0)
    crm = pd.read_csv(tmp_path / "crm" / f"leads_{NIGHT}.csv", dtype=str, keep_default_na=False)
    every_event = "".join(p.read_text(encoding="utf-8").lower() for p in summary.web_files)
    lead = next(
        c for c, e in zip(crm["crm_id"], crm["email"], strict=True)
        if c.lower() not in every_event and e.strip().lower() not in every_event
    )  # fmt: skip
    added = [
        {"event_id": EARLY, "crm_id": lead, "email": None, "event_type": "demo_request",
         "occurred_at": f"{NIGHT}T19:30:00-08:00", "url": "https://leadflow.example/demo", "properties": {}},
        {"event_id": FUTURE, "crm_id": lead, "email": None, "event_type": "page_view",
         "occurred_at": f"{NIGHT + timedelta(days=3)}T10:00:00+09:00", "url": None, "properties": {}},
    ]  # fmt: skip
    with (tmp_path / "web" / f"events_{NIGHT}.jsonl").open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in added)
    cfg = settings.model_copy(
        update={
            "sources": settings.sources.model_copy(
                update={
                    "crm": settings.sources.crm.model_copy(update={"path": tmp_path / "crm"}),
                    "web": settings.sources.web.model_copy(update={"path": tmp_path / "web"}),
                }
            ),
            # a dozen events a night: the skewed one alone must not fail the batch
            "validation": settings.validation.model_copy(update={"max_bad_share": 0.2}),
        }
    )
    nights = [d for d in (file_date(p) for p in summary.crm_files) if d is not None and d < NIGHT]
    return cfg, lead, nights


def _demo_points(wh, lead: str, as_of: date) -> int:
    return int(
        wh.scalar(
            "select coalesce(sum(f.occurrences), 0) from scoring.score_factors as f "
            "inner join core.leads as l on f.lead_id = l.lead_id "
            "where l.crm_id = :c and f.as_of_date = cast(:d as date) and f.rule_id = 'demo_request'",
            {"c": lead, "d": as_of.isoformat()},
        )
    )


def test_an_early_event_is_held_for_its_night_and_scored_there_once(wh, landed) -> None:
    cfg, lead, earlier = landed
    for night in earlier:
        run_nightly(wh, cfg, night)
    first = run_nightly(wh, cfg, NIGHT)
    assert first.steps["validate_web"]["held_for_later_night"] == 1
    staged = "select _batch_id from core.events where event_id = :e"
    quarantined = "select reason from ops.quarantine where record like :e"

    for run in (first, run_nightly(wh, cfg, NIGHT)):  # a rerun of the night still holds it
        assert run.steps["validate_web"]["held_for_later_night"] == 1
        assert wh.fetchall(quarantined, {"e": f"%{EARLY}%"}) == []
        assert wh.fetchall(staged, {"e": EARLY}) == []  # not scored early
        assert _demo_points(wh, lead, NIGHT) == 0
        # a clock three days ahead is beyond any night's window: quarantined with its reason
        [(reason,)] = wh.fetchall(quarantined, {"e": f"%{FUTURE}%"})
        assert reason.startswith("occurred_at: ") and "is more than a night after the as-of cutoff" in reason

    nxt = run_nightly(wh, cfg, END)
    assert nxt.steps["validate_web"]["held_for_later_night"] == 0
    assert wh.fetchall(staged, {"e": EARLY}) == [(END.isoformat(),)]
    assert _demo_points(wh, lead, END) == 1  # scored on its own night

    run_nightly(wh, cfg, END)  # a rerun of that night: still once
    run_nightly(wh, cfg, NIGHT)  # and of the night before: it stays where it was staged
    assert wh.fetchall(staged, {"e": EARLY}) == [(END.isoformat(),)]
    assert wh.scalar("select count(*) from core.events where event_id = :e", {"e": EARLY}) == 1
    assert _demo_points(wh, lead, END) == 1
