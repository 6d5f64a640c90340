"""
### leadflow nightly scoring

Every night, for the previous local day (the *as-of date*): land CRM records and web events in
`raw.*`, validate them (bad rows go to `ops.quarantine` with a reason), build `core.*`, score every
lead (`scoring.lead_scores`, with reasons), advance lifecycle stages (`lifecycle.stage_transitions`),
and write changed score, stage and reasons back to the CRM. Updating the `lead_stages` asset
starts the nurture DAG.

Steps run one after another: the embedded DuckDB warehouse admits one writer at a time.
Rerun one date with `make dag DAG=leadflow_nightly DATE=YYYY-MM-DD`: a rerun changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from leadflow.assets import LEAD_STAGES
from leadflow.config import settings
from leadflow.crm.deadline import crm_deadline

CFG = settings()


@dag(
    dag_id="leadflow_nightly",
    schedule=CronTriggerTimetable(CFG.schedule, timezone=CFG.timezone) if CFG.schedule else None,
    start_date=pendulum.datetime(2026, 1, 1, tz=CFG.timezone),
    catchup=False,
    max_active_runs=1,
    tags=["leadflow", "scoring"],
    params={"as_of_date": Param(None, type=["null", "string"], format="date", description="Local day to score")},
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

    @task
    def extract_crm(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        return with_warehouse(pipeline.extract, context, "crm")

    @task
    def validate_raw_crm(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        return with_warehouse(pipeline.validate_raw, context, "crm")

    @task
    def extract_web(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        return with_warehouse(pipeline.extract, context, "web")

    @task
    def validate_raw_events(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        return with_warehouse(pipeline.validate_raw, context, "web")

    @task
    def build_core(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        return with_warehouse(pipeline.stage_core, context)

    @task
    def score_leads(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        return with_warehouse(pipeline.score, context)

    @task
    def validate_scores(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        return with_warehouse(pipeline.check_scores, context)

    @task
    def advance_stages(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import with_warehouse

        return with_warehouse(pipeline.advance_stages, context)

    @task(outlets=[LEAD_STAGES])
    def validate_transitions(**context) -> dict:
        from leadflow import pipeline
        from leadflow.runtime import as_of_date, with_warehouse

        result = with_warehouse(pipeline.check_transitions, context)
        context["outlet_events"][LEAD_STAGES].extra = {"as_of_date": as_of_date(context).isoformat()}
        return result

    @task
    def write_back_crm(**context) -> dict:
        from leadflow.crm.writeback import write_back
        from leadflow.runtime import with_warehouse

        return with_warehouse(write_back, context)

    chain(
        create_schemas(),
        extract_crm(),
        validate_raw_crm(),
        extract_web(),
        validate_raw_events(),
        build_core(),
        score_leads(),
        validate_scores(),
        advance_stages(),
        validate_transitions(),
        write_back_crm(),
    )


leadflow_nightly()
