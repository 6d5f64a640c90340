"""Send windows and deferral through the real planning SQL, ledger and file outbox, on both backends:
a clock past the send window moves the email to its lead's next business morning (never delivered at
night), a trigger held back by a strict cap is still sent later, and an expiry is recorded with its reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml

from leadflow.nurture.mailer import SendGridMailer
from leadflow.nurture.plan import plan_sends
from leadflow.nurture.send import send_planned
from tests.fixtures.sendgrid_server import SendGridServer
from tests.sql.test_nurture_ledger import add_events, cold_leads, lead_id
from tests.sql.test_nurture_plan import old_sends

TOKYO, NEW_YORK = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")
API_KEY = "SG.windows-test-key"


def at(local: str, tz: ZoneInfo = TOKYO) -> datetime:
    """A local wall-clock time ('2026-11-18 23:00') in `tz`, as an aware datetime in UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=tz).astimezone(UTC)


def row(wh, key: str) -> dict:
    found = wh.fetchall(
        "select status, send_at, error, finished_at from nurture.email_sends where send_key = :k", {"k": key}
    )
    assert found, f"{key} is not in the ledger"
    status, send_at, error, finished_at = found[0]
    ts = pd.Timestamp(send_at) if send_at is not None else None
    return {"status": status, "send_at": ts, "error": error, "finished_at": finished_at}


def eml_send_at(settings, key: str) -> datetime:
    raw = (settings.path(settings.mailer.outbox) / f"{key}.eml").read_bytes()
    return datetime.fromisoformat(str(message_from_bytes(raw, policy=policy.default)["X-Leadflow-Send-At"]))


def strict(settings, tmp_path, *, max_per_7_days: int = 1, min_days_apart: int = 10, max_defer_days: int = 30):
    """Settings whose sequences have a stricter frequency cap than the 7 days a trigger used to wait."""
    seq = yaml.safe_load((settings.home / "config" / "sequences.yml").read_text(encoding="utf-8"))
    seq["frequency_cap"] = {"max_per_7_days": max_per_7_days, "min_days_apart": min_days_apart}
    path = tmp_path / "sequences.yml"
    path.write_text(yaml.safe_dump(seq, allow_unicode=True), encoding="utf-8")
    nurture = settings.nurture.model_copy(update={"max_defer_days": max_defer_days})
    return settings.model_copy(update={"sequences": path, "nurture": nurture})


# --------------------------------------------------------------------------- a clock past the window


@pytest.mark.parametrize(
    ("as_of", "now", "expected"),
    [
        # planned Tuesday night for Wednesday 10:00; the send runs at 23:00 Wednesday: Thursday 10:00
        (date(2026, 11, 17), at("2026-11-18 23:00"), at("2026-11-19 10:00")),
        # planned for Friday 10:00, sent Friday evening: Monday 10:00
        (date(2026, 11, 12), at("2026-11-13 19:30"), at("2026-11-16 10:00")),
        # planned for Friday 20 November, sent that evening: Monday 23rd is 勤労感謝の日, so Tuesday 10:00
        (date(2026, 11, 19), at("2026-11-20 20:00"), at("2026-11-24 10:00")),
    ],
)
def test_a_passed_slot_outside_business_hours_moves_to_the_next_business_morning(wh, settings, as_of, now, expected):
    cold_leads(wh, "C1", entered_on=as_of)
    plan_sends(wh, settings, as_of)
    key = f"{lead_id('C1')}:cold:{as_of}:1"
    assert row(wh, key)["send_at"] < now  # the slot planned for the next morning has passed

    counts = send_planned(wh, settings, as_of, now=now)

    assert counts["sent"] == 1
    assert row(wh, key)["send_at"] == expected  # the ledger says when it goes
    assert eml_send_at(settings, key) == expected  # and so does the .eml (X-Leadflow-Send-At)


def test_each_lead_gets_its_own_local_window(wh, settings):
    as_of = date(2026, 11, 17)
    cold_leads(wh, "J1", entered_on=as_of)
    cold_leads(wh, "U1", entered_on=as_of, country="US", timezone="America/New_York", locale="en")
    plan_sends(wh, settings, as_of)
    # Wednesday 10:30 in Tokyo is Tuesday 20:30 in New York
    now = at("2026-11-18 10:30")
    send_planned(wh, settings, as_of, now=now)

    tokyo_key, ny_key = f"{lead_id('J1')}:cold:{as_of}:1", f"{lead_id('U1')}:cold:{as_of}:1"
    assert row(wh, tokyo_key)["send_at"] == now  # inside Tokyo's window: at once
    assert row(wh, ny_key)["send_at"] == at("2026-11-18 10:00", NEW_YORK)  # New York's next morning
    assert eml_send_at(settings, ny_key) == datetime(2026, 11, 18, 15, tzinfo=UTC)  # 10:00 EST


def test_a_send_moved_past_sendgrids_horizon_waits_and_goes_with_its_slot(wh, settings, monkeypatch):
    monkeypatch.setenv("LEADFLOW_LINK_SECRET", "windows-test-secret")
    sg_settings = settings.model_copy(update={"mailer": settings.mailer.model_copy(update={"kind": "sendgrid"})})
    as_of = date(2026, 11, 19)
    cold_leads(wh, "S1", entered_on=as_of)
    plan_sends(wh, sg_settings, as_of)
    key = f"{lead_id('S1')}:cold:{as_of}:1"
    friday_evening, saturday = at("2026-11-20 20:00"), at("2026-11-21 12:00")
    tuesday = at("2026-11-24 10:00")  # after the weekend and the Monday holiday: 86 h ahead
    with SendGridServer(api_key=API_KEY, clock=lambda: friday_evening.timestamp()) as sg:
        mailer = SendGridMailer(API_KEY, sg_settings.mailer, host=sg.url, timeout=2.0)
        first = send_planned(wh, sg_settings, as_of, mailer, now=friday_evening)
        assert (first["sent"], first["deferred"]) == (0, 1)  # more than 72 h ahead: not handed to SendGrid yet
        assert row(wh, key) | {"finished_at": None} == {
            "status": "planned",
            "send_at": tuesday,
            "error": None,
            "finished_at": None,
        }
        sg.clock = lambda: saturday.timestamp()
        second = send_planned(wh, sg_settings, as_of, mailer, now=saturday)
        assert second["sent"] == 1
        [mail] = sg.messages
        assert mail.payload["send_at"] == int(tuesday.timestamp())  # SendGrid delivers it on Tuesday morning


# --------------------------------------------------------------------------- deferred, never dropped


def test_a_trigger_held_by_a_strict_cap_for_more_than_7_days_is_still_sent(wh, settings, tmp_path):
    capped = strict(settings, tmp_path, max_per_7_days=1, min_days_apart=10)
    monday, tuesday = date(2026, 11, 16), date(2026, 11, 17)
    cold_leads(wh, "D1", entered_on=monday)
    old_sends(wh, "D1", "cold", monday, [monday])  # step 1 went out on Monday
    add_events(wh, "D1", ("whitepaper_download", str(tuesday)))  # the download, the next day
    followup = f"{lead_id('D1')}:download_followup:{tuesday}"
    for n in range(1, 10):  # ten days apart: nothing may go before 26 November
        assert plan_sends(wh, capped, monday + timedelta(days=n))["planned"] == 0
    # 9 days after the download (2 more than the 7 it used to stay due): the trigger, not step 2
    plan = plan_sends(wh, capped, date(2026, 11, 26))
    assert (plan["planned"], plan["expired"]) == (1, 0)
    assert row(wh, followup)["status"] == "planned"
    assert send_planned(wh, capped, date(2026, 11, 26), now=at("2026-11-27 10:00"))["sent"] == 1
    assert row(wh, followup)["status"] == "sent"


def test_a_trigger_held_past_max_defer_days_expires_with_a_recorded_reason(wh, settings, tmp_path):
    capped = strict(settings, tmp_path, max_per_7_days=1, min_days_apart=15, max_defer_days=10)
    monday, tuesday = date(2026, 11, 16), date(2026, 11, 17)
    cold_leads(wh, "E1", entered_on=monday)
    old_sends(wh, "E1", "cold", monday, [monday])
    add_events(wh, "E1", ("case_study_download", str(tuesday)))
    followup = f"{lead_id('E1')}:download_followup:{tuesday}"
    assert plan_sends(wh, capped, date(2026, 11, 26))["planned"] == 0  # 9 days old: still due, still capped
    assert not wh.fetchall("select 1 from nurture.email_sends where send_key = :k", {"k": followup})

    plan = plan_sends(wh, capped, date(2026, 11, 27))  # 10 days old: max_defer_days reached
    assert (plan["planned"], plan["expired"]) == (0, 1)
    expired = row(wh, followup)
    assert expired["status"] == "expired" and expired["send_at"] is None and expired["finished_at"] is not None
    assert expired["error"] == (
        "expired: download_followup due since 2026-11-17 was held back (frequency cap) for "
        "nurture.max_defer_days = 10 days; never sent"
    )
    # recorded once, never sent, and not counted by the cap: step 2 goes when the 15 days are up
    assert plan_sends(wh, capped, date(2026, 11, 28))["expired"] == 0
    assert send_planned(wh, capped, date(2026, 11, 28), now=at("2026-11-30 10:00"))["sent"] == 0
    assert plan_sends(wh, capped, date(2026, 12, 1))["by_track"] == {"cold": 1}
    assert wh.scalar("select count(*) from nurture.email_sends where status = 'expired'") == 1


def test_a_missed_night_still_records_the_expiry(wh, settings, tmp_path):
    capped = strict(settings, tmp_path, max_per_7_days=1, min_days_apart=15, max_defer_days=10)
    monday, tuesday = date(2026, 11, 16), date(2026, 11, 17)
    cold_leads(wh, "E2", entered_on=monday)
    old_sends(wh, "E2", "cold", monday, [monday])
    add_events(wh, "E2", ("whitepaper_download", str(tuesday)))
    # no run between 20 and 29 November: the first run after the due age still writes the reason
    assert plan_sends(wh, capped, date(2026, 11, 29))["expired"] == 1
    assert row(wh, f"{lead_id('E2')}:download_followup:{tuesday}")["status"] == "expired"


def test_an_owner_alert_whose_slot_passed_goes_at_once(wh, settings):
    as_of = date(2026, 11, 19)
    cold_leads(wh, "H1", stage="hot", entered_on=as_of, owner_email="owner@leadflow.example")
    plan_sends(wh, settings, as_of)
    key = f"{lead_id('H1')}:owner_alert:{as_of}"
    assert row(wh, key)["send_at"] == at("2026-11-20 10:00")  # planned for the next business morning
    now = at("2026-11-20 20:00")  # Friday evening: a marketing email would wait for Tuesday
    assert send_planned(wh, settings, as_of, now=now)["sent"] == 1
    assert row(wh, key)["send_at"] == now


def test_history_older_than_the_first_run_is_not_an_expiry(wh, settings):
    # a download 32 days before nurture's first run (past max_defer_days 30, inside the 7 days an
    # expiry is recorded in) was never due in any run: nothing to expire
    cold_leads(wh, "O1", entered_on=date(2026, 11, 26))
    add_events(wh, "O1", ("whitepaper_download", "2026-10-25"))
    plan = plan_sends(wh, settings, date(2026, 11, 26))
    assert (plan["planned"], plan["expired"]) == (1, 0)  # step 1 of the cold track only


def test_a_rerun_after_the_first_night_adds_no_expiry(wh, settings):
    # the first night plans step 1; rerunning it must not call the 33-day-old download "held back"
    first_night = date(2026, 11, 22)
    cold_leads(wh, "O2", entered_on=first_night)
    add_events(wh, "O2", ("whitepaper_download", "2026-10-20"))
    assert plan_sends(wh, settings, first_night)["planned"] == 1
    assert plan_sends(wh, settings, first_night) == {"planned": 0, "by_track": {}, "expired": 0}
