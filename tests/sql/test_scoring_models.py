"""sql/scoring and sql/lifecycle on tiny inline rows, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from leadflow.pipeline import advance_stages, check_scores, check_transitions, score
from tests.sql.rows import add_events, add_leads, lead_id

AS_OF = date(2026, 11, 22)


def factors(wh, crm_id: str, as_of: date = AS_OF) -> dict[str, float]:
    rows = wh.fetchall(
        "select rule_id, points from scoring.score_factors where lead_id = :l and as_of_date = cast(:d as date)",
        {"l": lead_id(crm_id), "d": as_of.isoformat()},
    )
    return {rule: float(points) for rule, points in rows}


def lead_score(wh, crm_id: str, as_of: date = AS_OF) -> dict:
    frame = wh.fetch_df(
        "select * from scoring.lead_scores where lead_id = :l and as_of_date = cast(:d as date)",
        {"l": lead_id(crm_id), "d": as_of.isoformat()},
    )
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def stage(wh, crm_id: str) -> str:
    return wh.scalar("select stage from lifecycle.lead_stages where lead_id = :l", {"l": lead_id(crm_id)})


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        # 部長 matches the decision-maker regex (+20); 1,200 employees takes only the 1000+ band (+25)
        ({"job_title": "営業部長", "employee_count": 1200}, {"decision_maker": 20, "company_1000_plus": 25}),
        # 150 employees: the 100+ band (+20), not 1000+; a manager title (+10)
        ({"job_title": "Marketing Manager", "employee_count": 150}, {"manager": 10, "company_100_plus": 20}),
        # between 20 and 99 inclusive (+5); a target industry in any case (+10)
        ({"employee_count": 20, "industry": "Software"}, {"company_20_99": 5, "target_industry": 10}),
        # a student on a free-mail address: both negatives
        (
            {"job_title": "学生", "email": "ken@gmail.com", "employee_count": None},
            {"student": -30, "free_mail": -10},
        ),
        # competitor domain (email_domain_in is case-insensitive after normalisation)
        ({"email": "spy@competitor.example"}, {"competitor": -50}),
    ],
)
def test_fit_rules_match_by_operator_and_group(wh, settings, attributes, expected):
    add_leads(wh, {"crm_id": "C1", **attributes})
    score(wh, settings, AS_OF)
    got = {k: v for k, v in factors(wh, "C1").items() if k != "score_range"}
    assert got == expected


def test_engagement_decays_caps_and_limits_per_day(wh, settings):
    add_leads(wh, {"crm_id": "C1"})
    add_events(
        wh,
        "C1",
        # three pricing views on the as-of day count once (max_per_day 1): 15 points, no decay
        ("pricing_view", "2026-11-22"),
        ("pricing_view", "2026-11-22"),
        ("pricing_view", "2026-11-22"),
        # one 14 days earlier: half-life 14 days halves it to 7.5
        ("pricing_view", "2026-11-08"),
        # after the as-of date: ignored
        ("pricing_view", "2026-11-23"),
        # older than the 90-day window: ignored
        ("pricing_view", "2026-08-01"),
    )
    score(wh, settings, AS_OF)
    assert factors(wh, "C1")["pricing_view"] == pytest.approx(22.5)
    occurrences = wh.scalar("select occurrences from scoring.score_factors where rule_id = 'pricing_view'")
    assert occurrences == 2


def test_engagement_is_capped_per_rule(wh, settings):
    add_leads(wh, {"crm_id": "C1"})
    # five pricing views on five recent days would be ~70 points; the cap is 30 (two fresh views)
    add_events(wh, "C1", *[("pricing_view", f"2026-11-{d}") for d in range(18, 23)])
    score(wh, settings, AS_OF)
    assert factors(wh, "C1")["pricing_view"] == 30


def test_total_is_clamped_and_factors_add_up(wh, settings):
    add_leads(
        wh,
        {"crm_id": "HI", "job_title": "CEO", "employee_count": 5000, "industry": "software"},
        {"crm_id": "LO", "job_title": "学生", "email": "x@gmail.com", "employee_count": None},
    )
    add_events(
        wh,
        "HI",
        ("demo_request", "2026-11-22"),
        ("quote_request", "2026-11-21"),
        ("pricing_view", "2026-11-22"),
    )
    score(wh, settings, AS_OF)
    hi, lo = lead_score(wh, "HI"), lead_score(wh, "LO")
    # 20+25+10 fit + 40+~39+15 engagement = ~149, clamped to 100; the student's -40 clamps to 0
    assert hi["total_score"] == 100 and lo["total_score"] == 0
    assert sum(factors(wh, "HI").values()) == pytest.approx(100)
    assert sum(factors(wh, "LO").values()) == pytest.approx(0)
    assert hi["fit_grade"] == "A" and lo["fit_grade"] == "D"
    assert check_scores(wh, settings, AS_OF) == {"scored": 2}


def test_top_reasons_are_readable_in_the_leads_locale(wh, settings):
    add_leads(
        wh,
        {"crm_id": "JA", "job_title": "代表取締役", "locale": "ja"},
        {"crm_id": "EN", "job_title": "CEO", "locale": "en", "country": "US", "timezone": "America/New_York"},
    )
    for crm_id in ("JA", "EN"):
        add_events(
            wh,
            crm_id,
            ("pricing_view", "2026-11-22"),
            ("pricing_view", "2026-11-21"),
            ("webinar_attended", "2026-11-22"),
        )
    score(wh, settings, AS_OF)
    # pricing: 15 + 15*0.5^(1/14) = 29.3 -> +29, two days counted; decision maker +20; webinar +10
    assert lead_score(wh, "JA")["top_reasons"] == "料金ページ閲覧 2回 (+29) / 決裁者 (+20) / ウェビナー参加 (+10)"
    assert (
        lead_score(wh, "EN")["top_reasons"]
        == "Pricing page views x2 (+29) / Decision maker (+20) / Webinar attended (+10)"
    )


def test_score_change_and_heating_up_come_from_history(wh, settings):
    add_leads(wh, {"crm_id": "C1"})
    score(wh, settings, date(2026, 11, 15))
    add_events(wh, "C1", ("pricing_view", "2026-11-21"), ("case_study_download", "2026-11-22"))
    score(wh, settings, AS_OF)
    now = lead_score(wh, "C1")
    # 7 days ago the lead had 0 (retail, 10 staff, no events); now ~14.3 + 10
    assert now["score_change_7d"] == pytest.approx(now["total_score"])
    assert bool(now["heating_up"]) is True


def test_rescoring_a_date_replaces_it(wh, settings):
    add_leads(wh, {"crm_id": "C1"})
    add_events(wh, "C1", ("pricing_view", "2026-11-22"))
    score(wh, settings, AS_OF)
    first = wh.fetchall("select * from scoring.score_factors order by rule_id")
    score(wh, settings, AS_OF)
    assert wh.fetchall("select * from scoring.score_factors order by rule_id") == first
    assert wh.scalar("select count(*) from scoring.lead_scores") == 1


def run_day(wh, settings, day: date) -> None:
    score(wh, settings, day)
    advance_stages(wh, settings, day)
    check_transitions(wh, settings, day)


def test_stages_move_forward_by_score_and_hand_raisers(wh, settings):
    add_leads(
        wh,
        {"crm_id": "COLD"},
        {"crm_id": "WARM", "job_title": "部長", "employee_count": 300},  # fit 40 >= warm 40
        {"crm_id": "HOT"},
    )
    add_events(wh, "HOT", ("demo_request", "2026-11-22"))
    run_day(wh, settings, AS_OF)
    assert (stage(wh, "COLD"), stage(wh, "WARM"), stage(wh, "HOT")) == ("cold", "warm", "hot")
    reasons = dict(wh.fetchall("select to_stage, reason from lifecycle.stage_transitions"))
    assert reasons["hot"] == "hand_raiser: contact, quote or demo request"
    assert reasons["warm"] == "score 40 reached warm threshold 40"


def test_sales_qualified_needs_bant_and_a_hot_lead(wh, settings):
    add_leads(wh, {"crm_id": "Q", "bant_budget": True, "bant_authority": True, "bant_need": True})
    add_events(wh, "Q", ("demo_request", "2026-11-21"))
    run_day(wh, settings, date(2026, 11, 21))
    assert stage(wh, "Q") == "hot"  # BANT is confirmed but the lead was not hot before this run
    run_day(wh, settings, AS_OF)
    assert stage(wh, "Q") == "sales_qualified"
    edges = wh.fetchall("select from_stage, to_stage from lifecycle.stage_transitions order by as_of_date")
    assert edges == [(None, "hot"), ("hot", "sales_qualified")]


def test_named_recycle_rules(wh, settings):
    add_leads(
        wh,
        {"crm_id": "SLA"},  # hot, never touched by sales (crm_status stays 'new')
        # hot, being worked but not sales-qualified (no BANT) within the SLA: recycled too (issue 26)
        {"crm_id": "WORKED", "crm_status": "working"},
        {"crm_id": "QUIET", "job_title": "部長", "employee_count": 300},  # warm by fit, then silent
    )
    add_events(wh, "SLA", ("demo_request", "2026-08-01"))
    add_events(wh, "WORKED", ("demo_request", "2026-08-01"))
    add_events(wh, "QUIET", ("page_view", "2026-08-01"))
    run_day(wh, settings, date(2026, 8, 1))
    run_day(wh, settings, date(2026, 8, 15))  # 14 days hot, SLA is 14
    assert (stage(wh, "SLA"), stage(wh, "WORKED"), stage(wh, "QUIET")) == ("recycled", "recycled", "warm")
    run_day(wh, settings, date(2026, 10, 30))  # 90 days without activity
    assert stage(wh, "QUIET") == "recycled"
    reasons = dict(wh.fetchall("select lead_id, reason from lifecycle.stage_transitions where to_stage = 'recycled'"))
    assert reasons[lead_id("SLA")] == (
        "hot_sla_expired: 14 days since it went hot or last raised its hand, not sales-qualified (crm_status new)"
    )
    assert reasons[lead_id("WORKED")].endswith("not sales-qualified (crm_status working)")
    assert reasons[lead_id("QUIET")] == "silent_churn: no activity for 90 days"


def test_crm_status_is_terminal_and_reruns_add_nothing(wh, settings):
    add_leads(wh, {"crm_id": "CUST", "crm_status": "customer"}, {"crm_id": "DQ", "crm_status": "disqualified"})
    add_events(wh, "DQ", ("demo_request", "2026-11-22"))
    run_day(wh, settings, AS_OF)
    assert (stage(wh, "CUST"), stage(wh, "DQ")) == ("customer", "disqualified")
    before = wh.fetchall("select * from lifecycle.stage_transitions order by lead_id")
    run_day(wh, settings, AS_OF)
    assert wh.fetchall("select * from lifecycle.stage_transitions order by lead_id") == before


def test_terminal_stages_are_never_left_even_when_the_crm_status_changes(wh, settings):
    # found by the stateful test: a customer later marked disqualified in the CRM stays a customer
    add_leads(wh, {"crm_id": "CUST", "crm_status": "customer"})
    run_day(wh, settings, date(2026, 11, 21))
    wh.execute("update core.leads set crm_status = 'disqualified'")
    run_day(wh, settings, AS_OF)
    assert stage(wh, "CUST") == "customer"
    assert wh.fetchall("select from_stage, to_stage from lifecycle.stage_transitions") == [(None, "customer")]
