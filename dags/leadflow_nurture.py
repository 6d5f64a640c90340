"""
### leadflow nurture

Runs when the nightly DAG updates the `lead_stages` asset, after it wrote the CRM fields (sales sees
a stage before any email about it goes out). A past night (a rerun or backfill of a date before the
latest night) plans and sends nothing unless the run's param `send_past` is true: `check_latest_night`
skips the run and says why. Like the nightly runs it first waits for the warehouse's nightly lock
(`wait_for_turn`, released by `end_turn`). Otherwise: syncs suppressions, plans the emails due
for the as-of date (one track per stage, trigger follow-ups, owner alerts for hot leads; consent,
suppressions and the frequency cap checked for every email), renders every planned email (a
template error fails the run before anything is sent), then sends through the configured mailer —
the `file` outbox by default, or SendGrid — in batches (one mapped `send_emails` task each, a bounded
pool of API calls inside). The ledger `nurture.email_sends` makes reruns, clears and backfills send
nothing twice; `report_sends` lists sends whose outcome is `unknown` or `failed`. Kill switch:
`mailer.enabled: false` or the Airflow Variable `leadflow_sending_enabled` = false (read when sending).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag, task

from leadflow.assets import LEAD_STAGES
from leadflow.turn import NightTurnSensor


@dag(
    dag_id="leadflow_nurture",
    schedule=[LEAD_STAGES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["leadflow", "nurture", "email"],
    params={
        "as_of_date": Param(None, type=["null", "string"], format="date", description="Local day planned"),
        "send_past": Param(False, type="boolean", description="Plan and send even for a night before the latest"),
    },
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5), "owner": "marketing-ops"},
    doc_md=__doc__,
)
def leadflow_nurture():
    # Steps import leadflow's library when they run, never at parse time.

    @task
    def check_latest_night(**context) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from leadflow.backfill import PastNight, check_send_date
        from leadflow.runtime import with_warehouse

        send_past = bool((context.get("params") or {}).get("send_past"))
        try:
            return with_warehouse(check_send_date, context, send_past=send_past)
        except PastNight as past:
            raise AirflowSkipException(str(past)) from past

    @task
    def sync_suppressions(**context) -> dict:
        from leadflow.nurture.suppressions import sync_suppressions
        from leadflow.runtime import with_warehouse

        return with_warehouse(sync_suppressions, context)

    @task
    def plan_sends(**context) -> dict:
        from leadflow.nurture.plan import plan_sends
        from leadflow.runtime import with_warehouse

        return with_warehouse(plan_sends, context)

    @task
    def validate_renders(**context) -> dict:
        from leadflow.nurture.send import check_renders
        from leadflow.runtime import with_warehouse

        return with_warehouse(check_renders, context)

    @task
    def split_batches(**context) -> list[dict]:
        from leadflow.nurture.send import send_batches
        from leadflow.runtime import with_warehouse

        return with_warehouse(send_batches, context)

    @task(retries=0)  # never retried blindly: the ledger decides what is still to send
    def send_emails(batch: dict, **context) -> dict:
        from leadflow.nurture.send import send_batch
        from leadflow.runtime import with_warehouse

        return with_warehouse(send_batch, context, batch)

    @task
    def report_sends(**context) -> dict:
        from leadflow.nurture.send import ledger_report
        from leadflow.runtime import with_warehouse

        return with_warehouse(ledger_report, context)

    # the nightly runs' lock: never plan from stages a rerun of a past night has not brought forward yet
    turn = NightTurnSensor(task_id="wait_for_turn", poke_interval=60, timeout=12 * 3600, mode="reschedule")

    @task(retries=2)
    def end_turn(**context) -> None:
        from leadflow.runtime import end_night_turn

        end_night_turn(context)

    batches = split_batches()
    sent = send_emails.expand(batch=batches)
    chain(
        turn,
        check_latest_night(),
        sync_suppressions(),
        plan_sends(),
        validate_renders(),
        batches,
        sent,
        report_sends(),
        end_turn().as_teardown(setups=turn),
    )


leadflow_nurture()
