"""The nightly DAG's CRM deadline alert: interval from the configured local time, callback that alerts."""

from __future__ import annotations

import logging
from datetime import time, timedelta

import pytest

from leadflow.crm.config import CrmDeadlineConfig
from leadflow.crm.deadline import (
    alert_crm_deadline_missed,
    crm_deadline,
    deadline_interval,
    scheduled_local_time,
)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 2 * * *", time(2, 0)),
        ("30 23 * * 1-5", time(23, 30)),  # weekdays only is still one local time a day
        ("*/15 * * * *", None),  # not daily: no single start to measure from
        ("0 2 1 * *", None),
        ("@daily", None),
        (None, None),  # unscheduled (manual runs only)
    ],
)
def test_scheduled_local_time(schedule, expected):
    assert scheduled_local_time(schedule) == expected


@pytest.mark.parametrize(
    ("start", "deadline", "expected"),
    [
        (time(2, 0), time(7, 0), timedelta(hours=5)),  # the default: 02:00 run, 07:00 deadline
        (time(23, 30), time(7, 0), timedelta(hours=7, minutes=30)),  # deadline falls on the next day
        (time(7, 0), time(7, 0), timedelta(days=1)),  # the next 07:00, not the start itself
    ],
)
def test_deadline_interval(start, deadline, expected):
    assert deadline_interval(start, deadline) == expected


def test_crm_deadline_measures_from_the_logical_date_to_the_local_deadline(settings):
    from airflow.sdk.definitions.deadline import DeadlineReference

    alert = crm_deadline(settings)

    assert alert is not None
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == timedelta(hours=5)  # config: 02:00 Asia/Tokyo; default deadline 07:00
    assert alert.callback.path == "leadflow.crm.deadline.alert_crm_deadline_missed"
    assert alert.callback.kwargs == {"deadline": "07:00", "timezone": "Asia/Tokyo", "emails": []}


def test_crm_deadline_reads_settings_crm_deadline_when_present(settings):
    class WithDeadline:
        schedule = settings.schedule
        timezone = settings.timezone
        crm_deadline = CrmDeadlineConfig(local_time="06:30", emails=("de@leadflow.example",))

    alert = crm_deadline(WithDeadline())  # type: ignore[arg-type]
    assert alert is not None and alert.interval == timedelta(hours=4, minutes=30)
    assert alert.callback.kwargs["emails"] == ["de@leadflow.example"]


def test_no_deadline_for_a_schedule_without_one_daily_time(settings):
    assert crm_deadline(settings.model_copy(update={"schedule": "*/15 * * * *"})) is None


def test_a_dag_carrying_the_deadline_serializes(settings):
    import pendulum
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.trigger import CronTriggerTimetable

    dag = DAG(
        "crm_deadline_probe",
        schedule=CronTriggerTimetable(settings.schedule, timezone=settings.timezone),
        start_date=pendulum.datetime(2026, 1, 1, tz=settings.timezone),
        deadline=crm_deadline(settings),
    )
    serialized = DagSerialization.to_dict(dag)
    assert "deadline" in str(serialized)


@pytest.mark.parametrize("bad", ["7:00", "24:00", "07:60", "seven"])
def test_deadline_local_time_must_be_hh_mm(bad):
    with pytest.raises(ValueError, match="HH:MM"):
        CrmDeadlineConfig(local_time=bad)


def test_callback_logs_an_error_and_emails_data_engineers(settings, monkeypatch, caplog):
    monkeypatch.setattr("leadflow.config.settings", lambda: settings)
    context = {"dag_run": {"dag_id": "leadflow_nightly", "dag_run_id": "scheduled__2026-11-22T17:00:00+00:00"}}

    with caplog.at_level(logging.ERROR, logger="leadflow.crm.deadline"):
        alert_crm_deadline_missed(context, deadline="07:00", timezone="Asia/Tokyo", emails=["de@leadflow.example"])

    assert (
        "CRM scores were not written by 07:00 Asia/Tokyo for leadflow_nightly run scheduled__2026-11-22" in caplog.text
    )
    sent = list(settings.mailer.outbox.rglob("*.eml"))
    assert len(sent) == 1 and "de@leadflow.example" in sent[0].read_text(encoding="utf-8")
