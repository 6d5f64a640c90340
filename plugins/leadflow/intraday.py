"""Intraday rescoring: the leads the intake's pushed events touched, scored as of today so far, minutes after.

A lead that heats up at 11:00 is hot in the CRM by 11:05, not after the night (docs/adr/0019). The step
runs the nightly's own scoring models for today on those leads only (their `leads` flag), in a
transaction it always rolls back, so the nightly tables (states, ledgers) stay as the night left them
and the scores are what the night of today computes from the same events. It keeps them in
`scoring.intraday_scores`, decides the leads' stages with the nightly's lifecycle model (the history
row's reason ends "(intraday)"), marks the events rescored in the same transaction, and writes the changed
CRM fields through the configured sink and `crm.sync_state`, so the morning's write-back skips them.
The night of today replaces the day's transitions and removes its intraday scores.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from leadflow.backfill import latest_night
from leadflow.batches import model_params
from leadflow.config import Settings
from leadflow.crm.sink import CrmSink
from leadflow.crm.writeback import write_back
from leadflow.scoring import ScoringRules, install_rules, key_events, load_rules, run_scoring_models
from leadflow.warehouse import Warehouse

log = logging.getLogger(__name__)

_SCORES = """
select s.*
from scoring.lead_scores as s
where
    s.as_of_date = cast(:as_of_date as date)
    and s.lead_id in (select il.lead_id from scoring.intraday_leads as il)
"""
_SCORE_COLUMNS = {
    "lead_id": "text",
    "fit_score": "double precision",
    "engagement_score": "double precision",
    "total_score": "double precision",
    "fit_grade": "text",
    "score_change_7d": "double precision",
    "heating_up": "boolean",
    "hand_raiser": "boolean",
    "last_activity_date": "date",
    "top_reasons": "text",
    "rules_version": "text",
}
_TRANSITIONS = """
select to_stage, count(*)
from lifecycle.stage_transitions
where
    as_of_date = cast(:as_of_date as date)
    and lead_id in (select il.lead_id from scoring.intraday_leads as il)
group by to_stage
order by to_stage
"""


def local_today(settings: Settings, now: datetime) -> date:
    """The local day `now` falls on: the date intraday scores are as of (the intake's batch of `now`)."""
    return now.astimezone(settings.tz).date()


def _scores_of_today(wh: Warehouse, settings: Settings, today: date, rules: ScoringRules) -> pd.DataFrame:
    """The nightly scoring models run for `today` on the leads of scoring.intraday_leads; their rows read,
    then every write rolled back."""
    params = model_params(settings, today)
    with wh.unordered_writes(), wh.rolled_back("intraday scoring"):
        install_rules(wh, rules)
        run_scoring_models(wh, params, leads=True)
        scores = wh.fetch_df(_SCORES, params)
    return scores


def rescore_touched(
    wh: Warehouse,
    settings: Settings,
    as_of: date | None = None,
    *,
    now: datetime | None = None,
    rules_path: Path | None = None,
) -> dict:
    """Rescore, as of today so far, the leads of the intake's events not rescored yet, and move their stages.

    Waits (does nothing, marks nothing) until the night before today has run to its end: today's
    scores build on its state and stages, and a later run of that night would put them back. Each event
    is rescored once: the run marks the events it read in the transaction that writes their results."""
    now = now or datetime.now(UTC)
    today = local_today(settings, now)
    rules = load_rules(rules_path or settings.path(settings.scoring_rules))
    night = latest_night(wh)
    wh.run_model("ops/night_lock.sql")
    lock = wh.fetchall("select run_id from ops.night_lock")
    if night is None or night < today - timedelta(days=1) or lock:
        why = f"held by {lock[0][0]}" if lock else f"the night of {today - timedelta(days=1)} has not run yet"
        log.info("intraday rescoring waits: %s", why)
        return {"as_of_date": today.isoformat(), "waiting": why}
    pending = wh.fetchall(wh.model_sql("intake/pending_rescore.sql"), {"night": night.isoformat()})
    events = [str(e) for e, _ in pending]
    binds = {"events": events, "batches": sorted({str(b) for _, b in pending}), "night": night.isoformat()}
    params = model_params(settings, today, **binds)
    if events:
        # today's batch keyed (the night of today keys it again): its new events are what the models read
        key_events(wh, settings, today, leads=True)
    wh.run_model("scoring/intraday_leads.sql", params)
    leads = int(wh.scalar("select count(*) from scoring.intraday_leads"))
    scores = _scores_of_today(wh, settings, today, rules) if leads else None
    with wh.transaction():
        if scores is not None:
            # the lifecycle model reads the stage rules; the night of today installs the same ones
            install_rules(wh, rules)
            wh.temp_table("_intraday_scores", _SCORE_COLUMNS, scores)
            wh.run_model("scoring/intraday_scores.sql", {**params, "now": now})
            wh.run_model("lifecycle/stage_transitions.sql", params, leads=True)
            wh.run_model("lifecycle/lead_stages.sql", params, leads=True)
        wh.run_model("intake/mark_rescored.sql", {**binds, "now": now})
        moved = dict(wh.fetchall(_TRANSITIONS, params)) if leads else {}
    summary = {
        "as_of_date": today.isoformat(),
        "night": night.isoformat(),
        "events": len(events),
        "leads": leads,
        "transitions": {str(k): int(v) for k, v in moved.items()},
    }
    if leads:
        log.info("intraday: %d events rescored %d leads as of %s (stages: %s)", len(events), leads, today, moved)
    return summary


def write_back_touched(
    wh: Warehouse,
    settings: Settings,
    as_of: date | None = None,
    *,
    now: datetime | None = None,
    sink: CrmSink | None = None,
) -> dict:
    """Write the CRM fields of today's intraday-rescored leads where they differ from what the CRM last got
    (a lead the sink refused is tried again next run); every other lead waits for its night."""
    now = now or datetime.now(UTC)
    today = local_today(settings, now)
    return {"as_of_date": today.isoformat(), **write_back(wh, settings, today, sink, intraday=True, scored_at=now)}


def run_intraday(
    wh: Warehouse, settings: Settings, *, now: datetime | None = None, sink: CrmSink | None = None
) -> dict:
    """Both steps, as the intake DAG runs them (the `leadflow intraday` command)."""
    now = now or datetime.now(UTC)
    rescored = rescore_touched(wh, settings, now=now)
    if "waiting" in rescored:
        return rescored
    return {**rescored, "write_back": write_back_touched(wh, settings, now=now, sink=sink)}
