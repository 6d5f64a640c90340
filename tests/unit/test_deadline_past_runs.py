"""The CRM deadline alert fires for tonight's run only: never for a backfill or a past night (issue 26)."""

from __future__ import annotations

import logging

import pytest

from leadflow.crm.deadline import alert_crm_deadline_missed, missed_for_tonight

SCHEDULED = {
    "dag_id": "leadflow_nightly",
    "dag_run_id": "scheduled__2026-11-22T17:00:00+00:00",
    "run_type": "scheduled",
    "logical_date": "2026-11-22T17:00:00Z",  # 02:00 in Tokyo on 11-23: scores 11-22, due 07:00
    "queued_at": "2026-11-22T17:00:05Z",
    "conf": {},
}


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (SCHEDULED, None),
        ({**SCHEDULED, "run_type": "manual", "conf": {"as_of_date": "2026-11-22"}}, None),
        ({**SCHEDULED, "run_type": "backfill", "dag_run_id": "backfill__2026-11-01"}, "a backfill run"),
        ({**SCHEDULED, "run_type": "manual", "conf": {"as_of_date": "2026-11-01"}}, "a past night (2026-11-01)"),
        # a run of 11-01's schedule created on 11-23 (a catch-up, a clear): its deadline passed long before
        (
            {**SCHEDULED, "logical_date": "2026-10-31T17:00:00Z", "queued_at": "2026-11-23T01:00:00Z"},
            "queued at 2026-11-23T01:00:00+00:00, after its deadline 2026-11-01T07:00:00+09:00",
        ),
    ],
)
def test_which_runs_have_a_deadline_tonight(run, reason):
    assert missed_for_tonight(run, "07:00", "Asia/Tokyo") == reason


def test_no_alert_for_a_backfill_run(settings, monkeypatch, caplog):
    monkeypatch.setattr("leadflow.config.settings", lambda: settings)
    run = {**SCHEDULED, "run_type": "backfill"}
    with caplog.at_level(logging.INFO, logger="leadflow.crm.deadline"):
        alert_crm_deadline_missed({"dag_run": run}, deadline="07:00", emails=["de@leadflow.example"])
    assert "no CRM deadline alert" in caplog.text and "backfill" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not list(settings.mailer.outbox.rglob("*.eml"))


def test_tonights_run_is_still_alerted(settings, monkeypatch, caplog):
    monkeypatch.setattr("leadflow.config.settings", lambda: settings)
    with caplog.at_level(logging.ERROR, logger="leadflow.crm.deadline"):
        alert_crm_deadline_missed({"dag_run": SCHEDULED}, deadline="07:00", emails=["de@leadflow.example"])
    assert "CRM scores were not written by 07:00" in caplog.text
    assert len(list(settings.mailer.outbox.rglob("*.eml"))) == 1
