"""
### leadflow nightly scoring

Every night, for the previous local day (the *as-of date*): land CRM records and web events in
`raw.*`, validate them (bad rows go to `ops.quarantine` with a reason), build `core.*`, score every
lead (`scoring.lead_scores`, with reasons), advance lifecycle stages (`lifecycle.stage_transitions`),
and write changed score, stage and reasons back to the CRM; then `housekeep` applies the retention
periods and removes erased people a later export brought back. Only once the CRM has them does the
`lead_stages` asset update and start the nurture DAG: no email about a stage sales cannot see yet.
Last, `write_report` writes the report site to `data/reports/<as-of date>/` (`leadflow report`).

Steps run one after another, and runs take turns (`wait_for_turn`: no earlier-dated run running, and
the warehouse's nightly lock, released by the `end_turn` teardown even when the run fails).
Rerun one date with `make dag DAG=leadflow_nightly DATE=YYYY-MM-DD`: a rerun changes nothing. A rerun
or backfill of a night before the latest one runs the later nights again (`replay_later_nights`)
and writes the latest night's fields to the CRM (ADR 0007). Backfill with
`airflow backfill create --dag-id leadflow_nightly --from-date … --to-date … --max-active-runs 1`
(or `leadflow backfill --start … --end …`); `--run-backwards` is refused (the gate depends on past).
Validation anomalies, configuration errors and guards fail their task at once, without retries.
A night lands the CRM records changed since the last batch; every `reconcile_every_days` (or with the
`reconcile_crm` param) it lands all of them, catching deleted leads and unflagged edits (ADR 0018).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from leadflow.assets import LEAD_STAGES
from leadflow.config import settings
from leadflow.crm.deadline import crm_deadline
from leadflow.steps import NIGHT_STEPS, NightStep
from leadflow.turn import NightTurnSensor

CFG = settings()


@dag(
    dag_id="leadflow_nightly",
    schedule=CronTriggerTimetable(CFG.schedule, timezone=CFG.timezone) if CFG.schedule else None,
    start_date=pendulum.datetime(2026, 1, 1, tz=CFG.timezone),
    catchup=False,
    max_active_runs=1,
    tags=["leadflow", "scoring"],
    params={
        "as_of_date": Param(None, type=["null", "string"], format="date", description="Local day to score"),
        "reconcile_crm": Param(
            False, type="boolean", description="Land every CRM record this night (deletions, unflagged edits)"
        ),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "owner": "data-engineering"},
    doc_md=__doc__,
    deadline=crm_deadline(CFG),  # scores must be in the CRM by crm_deadline.local_time
)
def leadflow_nightly():
    # Steps import leadflow's library when they run, never at parse time.
    @task
    def create_schemas(**context) -> None:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        with_warehouse(pipeline.create_schemas, context)
        if (context.get("params") or {}).get("reconcile_crm"):  # kept: a rerun of the night reconciles too
            with_warehouse(pipeline.request_crm_reconciliation, context, f"dag run {context['run_id']}")

    def night_step(step: NightStep):
        """The task of one step of `NIGHT_STEPS` (the list `leadflow run` runs too)."""

        @task(task_id=step.task_id)
        def run_step(**context) -> dict:
            from leadflow.runtime import with_warehouse

            return with_warehouse(step, context)

        return run_step()

    @task
    def replay_later_nights(**context) -> dict:
        from leadflow.backfill import replay_later_nights
        from leadflow.runtime import with_warehouse

        return with_warehouse(replay_later_nights, context)

    # the asset (and so the nurture DAG) follows the CRM: an email never runs ahead of what sales sees
    @task(outlets=[LEAD_STAGES])
    def write_back_crm(**context) -> dict:
        from leadflow.backfill import latest_night, write_back_latest
        from leadflow.runtime import as_of_date, with_warehouse

        result, latest = with_warehouse(
            lambda wh, cfg, as_of: (write_back_latest(wh, cfg, as_of), latest_night(wh)), context
        )
        context["outlet_events"][LEAD_STAGES].extra = {
            "as_of_date": as_of_date(context).isoformat(),
            "latest_night": latest.isoformat() if latest else None,
        }
        return result

    # retention (privacy.retention) and erased people brought back by the export: ADR 0014
    @task
    def housekeep(**context) -> dict:
        from leadflow.privacy.retention import housekeep_step
        from leadflow.runtime import with_warehouse

        return with_warehouse(housekeep_step, context)

    # the report comes after the CRM has its fields and the asset has started nurture: a failing report
    # holds up neither (rerun it alone with `leadflow report --date …`)
    @task
    def write_report(**context) -> dict:
        from leadflow.report.build import nightly_report
        from leadflow.runtime import with_warehouse

        return with_warehouse(nightly_report, context)

    # depends_on_past: Airflow refuses `backfill create --run-backwards` for this DAG
    turn = NightTurnSensor(
        task_id="wait_for_turn", poke_interval=60, timeout=12 * 3600, mode="reschedule", depends_on_past=True
    )

    @task(retries=2)
    def end_turn(**context) -> None:
        from leadflow.runtime import end_night_turn

        end_night_turn(context)

    chain(
        turn,
        create_schemas(),
        *[night_step(step) for step in NIGHT_STEPS],
        replay_later_nights(),
        write_back_crm(),
        housekeep(),
        write_report(),
        end_turn().as_teardown(setups=turn),
    )


leadflow_nightly()
