"""Nurture planning SQL on both backends: tracks, triggers, exits, owner alerts, the frequency cap
(deferred, never dropped) and the blast-radius guard."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from leadflow.nurture.plan import BlastRadiusExceeded, plan_sends
from leadflow.nurture.send import send_planned
from tests.sql.test_nurture_ledger import add_events, add_leads, cold_leads, lead_id

FRI, SAT, SUN, MON, TUE = (date(2026, 11, d) for d in (13, 14, 15, 16, 17))


def planned(wh) -> list[tuple]:
    rows = wh.fetchall("select send_key, template, kind, to_email from nurture.email_sends order by send_key")
    return [tuple(r) for r in rows]


def send_at(wh, key: str) -> datetime:
    return pd.Timestamp(wh.scalar("select send_at from nurture.email_sends where send_key = :k", {"k": key}))


def old_sends(wh, crm_id: str, track: str, enrolled_on: date, days: list[date]) -> None:
    """Ledger rows of a track's steps already sent (planned on `days`)."""
    rows = [
        {
            "send_key": f"{lead_id(crm_id)}:{track}:{enrolled_on}:{n}",
            "lead_id": lead_id(crm_id),
            "as_of_date": day,
            "track": track,
            "step": n,
            "enrolled_on": enrolled_on,
            "template": "x",
            "kind": "marketing",
            "locale": "ja",
            "to_email": f"{crm_id.lower()}@example.co.jp",
            "status": "sent",
            "send_at": datetime(day.year, day.month, day.day, 1, tzinfo=UTC),
            "planned_at": datetime(day.year, day.month, day.day, tzinfo=UTC),
        }
        for n, day in enumerate(days, start=1)
    ]
    wh.load_df("nurture.email_sends", pd.DataFrame(rows))
    wh.execute(
        "insert into nurture.enrollments (lead_id, track, enrolled_on) values (:l, :t, :d)",
        {"l": lead_id(crm_id), "t": track, "d": enrolled_on},
    )


def test_each_stage_gets_its_track_and_a_hot_lead_only_an_owner_alert(wh, settings):
    cold_leads(wh, "C1", entered_on=TUE)
    cold_leads(wh, "W1", stage="warm", entered_on=TUE)
    cold_leads(wh, "R1", stage="recycled", entered_on=TUE)
    cold_leads(wh, "H1", stage="hot", entered_on=TUE, owner_email="owner@leadflow.example")
    plan_sends(wh, settings, TUE)
    assert planned(wh) == sorted(
        [
            (f"{lead_id('C1')}:cold:{TUE}:1", "cold_industry_trends", "marketing", "c1@example.co.jp"),
            (f"{lead_id('W1')}:warm:{TUE}:1", "warm_case_study", "marketing", "w1@example.co.jp"),
            (f"{lead_id('R1')}:recycled:{TUE}:1", "recycled_reengagement", "marketing", "r1@example.co.jp"),
            # the hot lead itself gets nothing: its owner gets the alert with its reasons
            (f"{lead_id('H1')}:owner_alert:{TUE}", "hot_owner_alert", "internal", "owner@leadflow.example"),
        ]
    )


def test_the_next_step_waits_for_its_delay(wh, settings):
    cold_leads(wh, "C2", entered_on=date(2026, 11, 2))
    old_sends(wh, "C2", "cold", date(2026, 11, 2), [date(2026, 11, 2)])
    plan_sends(wh, settings, date(2026, 11, 8))  # 6 days after step 1: step 2 waits 7
    assert len(planned(wh)) == 1
    plan_sends(wh, settings, date(2026, 11, 9))
    assert planned(wh)[-1][:2] == (f"{lead_id('C2')}:cold:2026-11-02:2", "cold_common_misconceptions")


def test_a_capped_download_followup_is_deferred_not_dropped(wh, settings):
    cold_leads(wh, "D1", entered_on=MON)
    old_sends(wh, "D1", "cold", MON, [MON])  # step 1 went out on Monday
    add_events(wh, "D1", ("whitepaper_download", str(TUE)))
    plan_sends(wh, settings, TUE)  # one day after the last email: min_days_apart = 2 holds it back
    assert len(planned(wh)) == 1
    plan_sends(wh, settings, date(2026, 11, 18))  # the next allowed day: Tuesday's download followed up
    assert planned(wh)[-1][:2] == (f"{lead_id('D1')}:download_followup:{TUE}", "trigger_download_followup")


def test_the_cap_moves_a_send_past_another_email_due_the_same_monday(wh, settings):
    cold_leads(wh, "D2", entered_on=FRI)
    plan_sends(wh, settings, FRI)  # step 1, planned Friday night, goes out Monday 10:00 JST
    step1 = f"{lead_id('D2')}:cold:{FRI}:1"
    assert send_at(wh, step1) == pd.Timestamp("2026-11-16T01:00:00Z")
    add_events(wh, "D2", ("case_study_download", str(SUN)))
    plan_sends(wh, settings, SUN)  # two days later by plan date, but also Monday by send time
    followup = f"{lead_id('D2')}:download_followup:{SUN}"
    # Monday is taken and Tuesday is only one day after it: Wednesday 10:00 JST
    assert send_at(wh, followup) == pd.Timestamp("2026-11-18T01:00:00Z")


def test_an_inactivity_reminder_goes_once_per_silence(wh, settings):
    cold_leads(wh, "I1", entered_on=date(2026, 9, 1))
    old_sends(wh, "I1", "cold", date(2026, 9, 1), [date(2026, 9, 1), date(2026, 9, 8), date(2026, 9, 15)])
    add_events(wh, "I1", ("page_view", "2026-10-20"))
    plan_sends(wh, settings, date(2026, 11, 9))  # 20 days without a visit: not yet
    assert len(planned(wh)) == 3
    plan_sends(wh, settings, date(2026, 11, 10))  # 21 days
    key = f"{lead_id('I1')}:inactivity_reminder:2026-10-20"
    assert planned(wh)[-1][:2] == (key, "recycled_reengagement")
    plan_sends(wh, settings, date(2026, 11, 13))
    assert len(planned(wh)) == 4  # the same silence: no second reminder


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("bounce", "suppressed: bounce"),
        ("unsubscribe", "suppressed: unsubscribe"),
        ("opt_out", "opted out"),
        ("working", "crm status working"),  # inside sales logged a reply or a meeting
        ("stage", "stage changed"),
    ],
)
def test_leads_leave_their_track(wh, settings, setup, reason):
    cold_leads(wh, "X1", entered_on=date(2026, 11, 2))
    plan_sends(wh, settings, date(2026, 11, 2))
    email = "x1@example.co.jp"
    if setup in ("bounce", "unsubscribe"):
        wh.execute(
            "insert into nurture.suppressions values (:e, :k, 'sendgrid', :t)",
            {"e": email, "k": setup, "t": datetime(2026, 11, 3, tzinfo=UTC)},
        )
    elif setup == "opt_out":
        wh.execute("update core.leads set email_opt_in = false")
    elif setup == "working":
        wh.execute("update core.leads set crm_status = 'working'")
    else:
        wh.execute("update lifecycle.lead_stages set stage = 'hot', entered_on = '2026-11-01'")
    plan_sends(wh, settings, date(2026, 11, 9))
    assert wh.fetchall("select track, exit_reason from nurture.enrollments") == [("cold", reason)]
    assert len(planned(wh)) == 1  # nothing new after step 1


def test_a_planned_email_whose_lead_unsubscribed_is_cancelled_not_sent(wh, settings):
    cold_leads(wh, "X2", entered_on=TUE)
    plan_sends(wh, settings, TUE)
    wh.execute("update core.leads set email_opt_in = false")  # unsubscribed after planning
    counts = send_planned(wh, settings, TUE)
    assert (counts["sent"], counts["cancelled"]) == (0, 1)
    assert wh.scalar("select status from nurture.email_sends") == "cancelled"


def test_the_blast_radius_guard_writes_nothing(wh, settings):
    add_leads(wh, *({"crm_id": f"B{n}"} for n in range(3)))
    cold_leads(wh, "B9")
    wh.execute(
        "insert into lifecycle.lead_stages select lead_id, 'cold', :d, :d, 't', 't' from core.leads "
        "where lead_id not in (select lead_id from lifecycle.lead_stages)",
        {"d": TUE},
    )
    small = settings.model_copy(update={"nurture": settings.nurture.model_copy(update={"max_emails_per_run": 3})})
    with pytest.raises(BlastRadiusExceeded, match="--approve 4"):
        plan_sends(wh, small, TUE)
    assert planned(wh) == [] and wh.scalar("select count(*) from nurture.enrollments") == 0
    assert plan_sends(wh, small, TUE, approve_up_to=4)["planned"] == 4
