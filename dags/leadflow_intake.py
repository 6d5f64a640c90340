"""
### leadflow intake

Applies what `leadflow serve` accepted (one-click unsubscribes, SendGrid events, pushed web events) minutes
after it arrived: every 5 minutes, and within seconds when the service publishes on the Redis channel
`leadflow.intake` (an event-driven asset watched by the triggerer; the schedule is the safety net while the
watcher or Redis is down).

1. `load_inbox`: the embedded inbox's fsync'd segments (`data/inbox/`) into `ops.inbox` (PostgreSQL: the
   service inserted there already).
2. `apply_erasures`: pushed erasure requests (`POST /privacy/erasure`) applied first (leadflow.privacy:
   the person removed everywhere, a keyed hash kept), so none of their pending records is applied after.
3. `apply_inbox`: a GX gate per kind (bad records to `ops.quarantine`, source `intake`, with a reason),
   then, in one transaction with marking the records applied: suppressions and cancelled sends for
   unsubscribes, bounces, blocks and spam reports; `unknown` sends settled by delivery events; opens,
   clicks and pushed web events into `core.events` (scored by the next nightly run); one owner alert
   planned per hand-raise (contact form, quote or demo request).
4. `alert_owners`: those alerts sent at once through the ledger and the configured mailer.
5. `rescore_touched` (beside the alerts): the leads the applied events touched, scored as of today so far
   by the nightly's own models on those leads only (`scoring.intraday_scores`), their stages moved at once
   (a lead pushed over the hot threshold is hot now; the history row says "(intraday)"). It waits until
   the night before today has run. `write_back_touched`: their changed fields to the CRM (docs/adr/0019).

Reruns apply nothing twice and alert once: a record is applied in the transaction that marks it, and an
event is rescored in the transaction that marks it rescored.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetOrTimeSchedule, chain, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from leadflow.assets import intake_inbox

INTAKE_INBOX = intake_inbox()


@dag(
    dag_id="leadflow_intake",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/5 * * * *", timezone="UTC"), assets=[INTAKE_INBOX]),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    tags=["leadflow", "intake", "email"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "owner": "marketing-ops"},
    doc_md=__doc__,
)
def leadflow_intake():
    # Steps import leadflow's library when they run, never at parse time. They take no as-of date: an
    # asset-triggered run has no logical date or data interval (leadflow.runtime.as_of_date needs one).

    @task
    def load_inbox(**context) -> dict:
        from leadflow.intake.apply import load_inbox, run_step

        return run_step(load_inbox)

    @task
    def apply_erasures(**context) -> dict:
        from leadflow.intake.apply import run_step
        from leadflow.privacy.requests import apply_erasure_requests

        return run_step(apply_erasure_requests, run=context["run_id"])

    @task
    def apply_inbox(**context) -> dict:
        from leadflow.intake.apply import apply_inbox, run_step

        return run_step(apply_inbox, run=context["run_id"])

    @task
    def alert_owners(**context) -> dict:
        from leadflow.intake.apply import run_step, send_owner_alerts

        return run_step(send_owner_alerts)

    @task
    def rescore_touched(**context) -> dict:
        from leadflow.intake.apply import run_step
        from leadflow.intraday import rescore_touched

        return run_step(rescore_touched)

    @task
    def write_back_touched(**context) -> dict:
        from leadflow.intake.apply import run_step
        from leadflow.intraday import write_back_touched

        return run_step(write_back_touched)

    applied = apply_inbox()
    rescored = rescore_touched()
    chain(load_inbox(), apply_erasures(), applied)
    # side by side: a mailer outage must not hold scores back, nor a CRM outage the alerts
    chain(applied, [alert_owners(), rescored])
    chain(rescored, write_back_touched())


leadflow_intake()
