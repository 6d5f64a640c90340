"""The nightly DAG's deadline: scores must be in the CRM by a local time (default 07:00), else data engineers hear.

Airflow 3 deadline alerts are measured from a reference; ours is the run's logical date, which for
the nightly `CronTriggerTimetable` is the scheduled local start (02:00). The interval is the time
from that start to the deadline, so 02:00 → 07:00 gives 5 hours. A run that succeeds in time
removes its deadline; a failed or still running one is alerted at the deadline. Backfill runs, runs
of a past night (`as_of_date` before the night the deadline is for) and runs queued after their
deadline are not alerted: the callback logs why at info instead (issue 26).
"""

from __future__ import annotations

import html
import logging
import os
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from leadflow.crm.config import CrmDeadlineConfig

if TYPE_CHECKING:
    from airflow.sdk.definitions.deadline import DeadlineAlert

    from leadflow.config import Settings

log = logging.getLogger(__name__)

_DAILY_CRON = re.compile(r"^\s*(\d{1,2})\s+(\d{1,2})\s+\*\s+\*\s+\S+\s*$")


def scheduled_local_time(schedule: str | None) -> time | None:
    """The local start time of a daily cron (`M H * * *`, any weekdays), else None (also unscheduled)."""
    match = _DAILY_CRON.match(schedule or "")
    if not match:
        return None
    minute, hour = int(match.group(1)), int(match.group(2))
    return time(hour, minute) if hour < 24 and minute < 60 else None


def deadline_interval(start: time, deadline: time) -> timedelta:
    """Time from the scheduled start to the deadline: the next occurrence of `deadline` after `start`."""
    delta = timedelta(hours=deadline.hour - start.hour, minutes=deadline.minute - start.minute)
    return delta if delta > timedelta(0) else delta + timedelta(days=1)


def deadline_config(settings: Settings) -> CrmDeadlineConfig:
    """`settings.crm_deadline` once config.py carries it; the defaults (07:00, log only) until then."""
    configured = getattr(settings, "crm_deadline", None)
    return configured if isinstance(configured, CrmDeadlineConfig) else CrmDeadlineConfig()


def crm_deadline(settings: Settings) -> DeadlineAlert | None:
    """The nightly DAG's deadline alert, or None when the schedule is not one daily local time."""
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    if os.environ.get("LEADFLOW_DEADLINE_ALERTS", "on").lower() == "off":
        # set by `make dag` and the e2e tests: a rerun of a past date would breach at once, and
        # Airflow 3.3's `dags test` cannot evaluate deadlines (it looks them up as ids)
        return None
    cfg = deadline_config(settings)
    start = scheduled_local_time(settings.schedule)
    if start is None:
        log.warning("no CRM deadline: schedule %r is not a daily cron (M H * * *)", settings.schedule)
        return None
    hour, minute = (int(part) for part in cfg.local_time.split(":"))
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=deadline_interval(start, time(hour, minute)),
        callback=SyncCallback(
            alert_crm_deadline_missed,
            kwargs={"deadline": cfg.local_time, "timezone": settings.timezone, "emails": list(cfg.emails)},
        ),
        name="crm_scores_by_local_time",
    )


def deadline_message(context: dict[str, Any] | None, deadline: str, timezone: str) -> str:
    """What data engineers read: which run missed which deadline, and where to look."""
    run = (context or {}).get("dag_run") or {}
    dag_id = run.get("dag_id", "leadflow_nightly")
    run_id = run.get("dag_run_id") or run.get("run_id") or "?"
    return (
        f"leadflow: CRM scores were not written by {deadline} {timezone} for {dag_id} run {run_id} "
        f"(state {run.get('state', '?')}); sales will see yesterday's fields. "
        "Check the run's failed or running task (write_back_crm last) and crm.sync_failures."
    )


def missed_for_tonight(run: dict[str, Any], deadline: str, timezone: str) -> str | None:
    """Why a missed deadline is no alert for `run` (a backfill, a past night, a run queued after its
    deadline: nobody expects those fields by tonight's deadline), else None."""
    from zoneinfo import ZoneInfo

    if run.get("run_type") == "backfill":
        return "a backfill run"
    logical = _instant(run.get("logical_date"))
    if logical is None:
        return None
    tz = ZoneInfo(timezone)
    hour, minute = (int(part) for part in deadline.split(":"))
    local = logical.astimezone(tz)
    due = datetime.combine(local.date(), time(hour, minute), tzinfo=tz)
    if due <= local:
        due += timedelta(days=1)
    queued = _instant(run.get("queued_at"))
    if queued is not None and queued >= due:
        return f"queued at {queued.isoformat()}, after its deadline {due.isoformat()}"
    given = ((run.get("conf") or {}).get("as_of_date")) or None
    if given and date.fromisoformat(str(given)) < due.date() - timedelta(days=1):
        return f"a past night ({given})"
    return None


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def alert_crm_deadline_missed(
    context: dict[str, Any] | None = None,
    *,
    deadline: str = "07:00",
    timezone: str = "Asia/Tokyo",
    emails: list[str] | tuple[str, ...] = (),
) -> None:
    """Deadline callback (run by Airflow's executor): log an error and email the data engineers, unless
    the run is a backfill or a past night (logged at info: those have no deadline tonight)."""
    why_not = missed_for_tonight((context or {}).get("dag_run") or {}, deadline, timezone)
    if why_not:
        log.info("no CRM deadline alert for %s: %s", ((context or {}).get("dag_run") or {}).get("dag_run_id"), why_not)
        return
    message = deadline_message(context, deadline, timezone)
    log.error(message)
    if emails:
        _email(message, list(emails), context)


def _email(message: str, emails: list[str], context: dict[str, Any] | None) -> None:
    """Send `message` through the configured mailer (file outbox or SendGrid); failures are logged only."""
    from leadflow.config import settings
    from leadflow.nurture.mailer import OutgoingEmail, mailer_from_settings
    from leadflow.nurture.render import RenderedEmail

    run_id = ((context or {}).get("dag_run") or {}).get("dag_run_id") or "run"
    key = re.sub(r"[^A-Za-z0-9._:=-]", "-", f"crm-deadline:{run_id}")[:150]
    rendered = RenderedEmail(
        template="crm_deadline_alert",
        locale="en",
        subject="leadflow: CRM scores missed their deadline",
        html=f"<p>{html.escape(message)}</p>",
        text=message,
        kind="alert",
    )
    try:
        mailer = mailer_from_settings(settings())
        for n, address in enumerate(emails):
            email = OutgoingEmail(
                send_key=f"{key}:{n}", to_email=address, to_name="", rendered=rendered, send_at=None, unsubscribe_url=""
            )
            result = mailer.send(email)
            if result.status != "sent":
                log.error("CRM deadline alert to %s not sent: %s", address, result.error)
    except Exception:  # the alert is already logged; a mail problem must not hide it
        log.exception("CRM deadline alert email failed")
