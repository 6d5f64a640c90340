"""Lifecycle without flapping (issue 26, item 2), on tiny inline rows and consecutive nights, on both
backends: a recycled lead moves up only on evidence dated after its recycle, each hot entry alerts its
owner once, and the hot SLA applies whatever the CRM status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from leadflow.lifecycle import reentries_without_evidence
from leadflow.nurture.plan import plan_sends
from leadflow.pipeline import advance_stages, score
from tests.sql.rows import add_events, add_leads, lead_id


def nights(wh, settings, first: date, last: date) -> None:
    """Every night from `first` to `last`, none skipped: scoring, stages, then the nurture plan."""
    day = first
    while day <= last:
        score(wh, settings, day)
        advance_stages(wh, settings, day)
        plan_sends(wh, settings, day)
        day += timedelta(days=1)


def transitions(wh, crm_id: str) -> list[tuple]:
    rows = wh.fetchall(
        "select as_of_date, from_stage, to_stage from lifecycle.stage_transitions where lead_id = :l order by 1",
        {"l": lead_id(crm_id)},
    )
    return [tuple(r) for r in rows]


def owner_alerts(wh, crm_id: str) -> list[str]:
    rows = wh.fetchall(
        "select send_key from nurture.email_sends where track = 'owner_alert' and lead_id = :l order by 1",
        {"l": lead_id(crm_id)},
    )
    return [r[0] for r in rows]


def stage(wh, crm_id: str) -> str:
    return wh.scalar("select stage from lifecycle.lead_stages where lead_id = :l", {"l": lead_id(crm_id)})


def test_a_lead_recycled_by_the_hot_sla_stays_recycled_until_new_evidence(wh, settings):
    # the lead: a demo request on 8/1 (hot at once), untouched for 14 days: recycled on 8/15.
    # The request stays in its score for 30 days; before the fix the lead went hot again on 8/16
    # (and 8/31), each time alerting its owner again.
    add_leads(wh, {"crm_id": "FLAP"})
    add_events(wh, "FLAP", ("demo_request", "2026-08-01"))
    # a page view after the recycle is new activity, but the score (the old request decayed, +1) stays
    # below warm 40 and the request is not new: still recycled
    add_events(wh, "FLAP", ("page_view", "2026-08-20"), prefix="pv-")
    # a new request after the recycle is new evidence: a new hot entry, alerted once
    add_events(wh, "FLAP", ("quote_request", "2026-09-05"), prefix="q-")
    nights(wh, settings, date(2026, 8, 1), date(2026, 9, 6))

    assert transitions(wh, "FLAP") == [
        (date(2026, 8, 1), None, "hot"),
        (date(2026, 8, 15), "hot", "recycled"),
        (date(2026, 9, 5), "recycled", "hot"),
    ]
    reason = wh.scalar(
        "select reason from lifecycle.stage_transitions where lead_id = :l and as_of_date = '2026-09-05'",
        {"l": lead_id("FLAP")},
    )
    assert reason == "hand_raiser: contact, quote or demo request (evidence dated after the recycle of 2026-08-15)"
    # one owner alert per hot entry, keyed by the day it began
    assert owner_alerts(wh, "FLAP") == [
        f"{lead_id('FLAP')}:owner_alert:2026-08-01",
        f"{lead_id('FLAP')}:owner_alert:2026-09-05",
    ]
    assert reentries_without_evidence(wh) == []


def test_the_hot_sla_applies_whatever_the_crm_status(wh, settings):
    # before the fix only crm_status 'new' was ever recycled: a lead marked working, nurturing or
    # qualified without BANT stayed hot for good. Customer and disqualified are terminal at once.
    statuses = ("new", "working", "nurturing", "qualified", "customer", "disqualified")
    add_leads(wh, *({"crm_id": s.upper(), "crm_status": s} for s in statuses))
    for status in statuses:
        add_events(wh, status.upper(), ("demo_request", "2026-08-01"))
    nights(wh, settings, date(2026, 8, 1), date(2026, 8, 15))

    open_statuses = ("new", "working", "nurturing", "qualified")
    assert {s: transitions(wh, s.upper()) for s in open_statuses} == dict.fromkeys(
        open_statuses, [(date(2026, 8, 1), None, "hot"), (date(2026, 8, 15), "hot", "recycled")]
    )
    reasons = dict(wh.fetchall("select lead_id, reason from lifecycle.stage_transitions where to_stage = 'recycled'"))
    for status in open_statuses:
        assert reasons[lead_id(status.upper())] == (
            "hot_sla_expired: 14 days since it went hot or last raised its hand, not sales-qualified"
            f" (crm_status {status})"
        )
    assert stage(wh, "CUSTOMER") == "customer"
    assert stage(wh, "DISQUALIFIED") == "disqualified"


def test_a_request_while_hot_restarts_the_sla_clock(wh, settings):
    # a second demo request on the night the SLA would expire is no reason to hand the lead back to
    # marketing: the clock runs from the latest request (the old rule would have recycled it on 8/15
    # and, under the evidence rule, lost the request of that very day)
    add_leads(wh, {"crm_id": "AGAIN"})
    add_events(wh, "AGAIN", ("demo_request", "2026-08-01"), ("demo_request", "2026-08-15"))
    nights(wh, settings, date(2026, 8, 1), date(2026, 8, 29))

    assert transitions(wh, "AGAIN") == [(date(2026, 8, 1), None, "hot"), (date(2026, 8, 29), "hot", "recycled")]
    assert owner_alerts(wh, "AGAIN") == [f"{lead_id('AGAIN')}:owner_alert:2026-08-01"]


def test_a_silent_lead_recycled_by_churn_does_not_flap_back_to_warm(wh, settings):
    # warm by fit alone (部長 +20, 300 employees +20 = 40), created in May, never active: recycled by
    # silent_churn on its first night. Before the fix its fit score took it back to warm the next
    # night and silence recycled it again the night after, every night.
    created = datetime(2026, 5, 1, tzinfo=UTC)
    add_leads(wh, {"crm_id": "QUIET", "job_title": "部長", "employee_count": 300, "created_at": created})
    add_events(wh, "QUIET", ("page_view", "2026-08-14"))
    nights(wh, settings, date(2026, 8, 10), date(2026, 8, 17))

    assert transitions(wh, "QUIET") == [
        (date(2026, 8, 10), None, "recycled"),
        (date(2026, 8, 14), "recycled", "warm"),  # the visit is new activity after the recycle
    ]
    assert reentries_without_evidence(wh) == []
