"""Reruns and backfills of past nights: current state always ends as if every night ran once, in order.

A night earlier than the latest night already run is followed by the later nights again (their
stage decisions depend on it), and only then does the CRM get fields, for the latest night: sales
never sees older values. Nurture email goes out for the latest night only, unless a caller asks for
past dates (`send_past`). See docs/adr/0007-reruns-recompute-forward.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from leadflow import pipeline
from leadflow.config import Settings
from leadflow.crm.writeback import write_back
from leadflow.nurture.send import run_nurture as plan_and_send
from leadflow.steps import NIGHT_STEPS
from leadflow.warehouse import Warehouse

log = logging.getLogger(__name__)

_NIGHTS = """
select distinct batch_id from ops.validation_results
where validation = 'transitions' and success
order by batch_id
"""


def nights_run(wh: Warehouse) -> list[date]:
    """The nights whose lifecycle step completed (their transitions passed their check), oldest first."""
    return [date.fromisoformat(str(b)) for (b,) in wh.fetchall(_NIGHTS)]


def latest_night(wh: Warehouse) -> date | None:
    """The latest night run to its end; current stages, CRM fields and enrollments follow it."""
    nights = nights_run(wh)
    return nights[-1] if nights else None


def later_nights(wh: Warehouse, as_of: date) -> list[date]:
    """The nights already run after `as_of`, in date order: what a rerun of `as_of` must run again."""
    return [night for night in nights_run(wh) if night > as_of]


def night_steps(wh: Warehouse, settings: Settings, as_of: date, on_step: Callable[[str], None] | None = None) -> dict:
    """One night's steps up to and including the transition check (everything but the CRM write-back);
    `on_step(name)` hears of each step as it finishes."""
    steps: dict = {}
    for step in NIGHT_STEPS:
        steps[step.key] = step(wh, settings, as_of)
        if on_step is not None:
            on_step(step.key)
    return steps


def replay_later_nights(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """After a rerun of `as_of`: run every later night already run again, in order (the DAG's task)."""
    later = later_nights(wh, as_of)
    for night in later:
        log.info("rerun of %s: running the later night %s again", as_of, night)
        night_steps(wh, settings, night)
    return {"replayed": [night.isoformat() for night in later]}


def write_back_latest(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Write the CRM fields of the latest night (`as_of` itself unless a later night has run)."""
    night = max(as_of, latest_night(wh) or as_of)
    if night != as_of:
        log.info("rerun of %s: writing the CRM fields of the latest night, %s", as_of, night)
    return write_back(wh, settings, night)


@dataclass(frozen=True)
class NightlyResult:
    """One night run outside Airflow: each step's summary by step name."""

    as_of: date
    steps: dict


def run_nightly(
    wh: Warehouse, settings: Settings, as_of: date, on_step: Callable[[str], None] | None = None
) -> NightlyResult:
    """Every nightly step in order, outside Airflow (the CLI and tests use this; the DAG wires the same).

    A night earlier than the latest night already run is followed by the later nights again, and the
    CRM gets the latest night's fields: current state ends as if every night ran once, in order.
    `on_step(name)` hears of each step as it finishes."""
    pipeline.create_schemas(wh)
    steps: dict = night_steps(wh, settings, as_of, on_step)
    replayed = replay_later_nights(wh, settings, as_of)
    if replayed["replayed"]:
        steps["replay_later_nights"] = replayed
        if on_step:
            on_step("replay_later_nights")
    steps["write_back"] = write_back_latest(wh, settings, as_of)
    if on_step:
        on_step("write_back")
    return NightlyResult(as_of, steps)


@dataclass(frozen=True)
class BackfillResult:
    """The nights a backfill ran, in order: those asked for, then the later ones run again."""

    nights: list[date]
    replayed: list[date]
    write_back: dict
    nurture: dict


def run_nights(
    wh: Warehouse,
    settings: Settings,
    dates: list[date],
    *,
    nurture: bool = False,
    send_past: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> BackfillResult:
    """Run `dates` in date order, then every night already run after the last of them, and write the
    CRM fields of the latest night once. With `nurture`, plan and send for the latest night; with
    `send_past`, for every one of `dates` too (in order). `progress(night, done, total)` hears of
    each night as it finishes."""
    if not dates:
        raise ValueError("no dates to run")
    pipeline.create_schemas(wh)
    asked = sorted(set(dates))
    replayed = [night for night in later_nights(wh, asked[0]) if night not in asked]
    every = sorted(set(asked) | set(replayed))
    sent: dict = {}
    for count, night in enumerate(every, 1):
        night_steps(wh, settings, night)
        if send_past and night in asked and night != every[-1]:
            sent[night.isoformat()] = run_nurture(wh, settings, night, send_past=True)
        if progress:
            progress(night.isoformat(), count, len(every))
    written = write_back_latest(wh, settings, every[-1])
    if nurture or send_past:
        sent[every[-1].isoformat()] = run_nurture(wh, settings, every[-1], send_past=send_past)
    return BackfillResult(asked, replayed, written, sent)


def backfill(
    wh: Warehouse,
    settings: Settings,
    start: date,
    end: date,
    *,
    nurture: bool = False,
    send_past: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> BackfillResult:
    """Every night from `start` through `end` (inclusive), as `run_nights` runs them."""
    if end < start:
        raise ValueError(f"backfill: --end {end} is before --start {start}")
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return run_nights(wh, settings, days, nurture=nurture, send_past=send_past, progress=progress)


class PastNight(Exception):
    """Nurture was asked for a night earlier than the latest one (nothing is planned or sent)."""


def check_send_date(wh: Warehouse, settings: Settings, as_of: date, *, send_past: bool = False) -> dict:
    """Raise PastNight when `as_of` is before the latest night and `send_past` is not given."""
    latest = latest_night(wh)
    if latest is not None and as_of < latest and not send_past:
        raise PastNight(
            f"nurture for {as_of} skipped: the latest night is {latest}, and stages follow it; "
            "emails go out for the latest night only (pass send_past to plan and send a past date)"
        )
    return {"as_of_date": as_of.isoformat(), "latest_night": latest.isoformat() if latest else None}


def run_nurture(wh: Warehouse, settings: Settings, as_of: date, *, send_past: bool = False) -> dict:
    """Plan and send `as_of`'s nurture email, unless it is a past night (then nothing, and why)."""
    try:
        check_send_date(wh, settings, as_of, send_past=send_past)
    except PastNight as skipped:
        log.warning("%s", skipped)
        return {"skipped": str(skipped)}
    return plan_and_send(wh, settings, as_of)


def take_turn(wh: Warehouse, run_id: str, as_of: date, is_gone: Callable[[str], bool]) -> str | None:
    """Hold the nightly lock for `run_id`: None when held (now or already), else the run holding it.

    A holder that `is_gone` (its run is no longer queued or running) loses the lock to `run_id`."""
    wh.run_model("ops/night_lock.sql")
    holder = wh.scalar("select run_id from ops.night_lock where lock_name = 'nightly'")
    if holder is not None and holder != run_id and is_gone(str(holder)):
        log.warning("nightly lock: run %s is gone; %s takes the lock over", holder, run_id)
        wh.execute("delete from ops.night_lock where lock_name = 'nightly' and run_id = :r", {"r": holder})
    wh.execute(
        "insert into ops.night_lock values ('nightly', :r, cast(:d as date), :at) on conflict (lock_name) do nothing",
        {"r": run_id, "d": as_of.isoformat(), "at": datetime.now(UTC)},
    )
    holder = wh.scalar("select run_id from ops.night_lock where lock_name = 'nightly'")
    return None if holder == run_id else str(holder)


def end_turn(wh: Warehouse, run_id: str) -> None:
    """Release the nightly lock if `run_id` holds it."""
    wh.run_model("ops/night_lock.sql")
    wh.execute("delete from ops.night_lock where lock_name = 'nightly' and run_id = :r", {"r": run_id})
