"""Each fit operator and engagement rule kind on tiny inline rows, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from leadflow.pipeline import score
from tests.sql.rows import add_events, add_leads, engagement_rule, fit_rule, lead_id, write_rules

AS_OF = date(2026, 11, 22)


def points(wh, crm_id: str, rule_id: str, as_of: date = AS_OF) -> float | None:
    value = wh.scalar(
        "select points from scoring.score_factors"
        " where lead_id = :l and as_of_date = cast(:d as date) and rule_id = :r",
        {"l": lead_id(crm_id), "d": as_of.isoformat(), "r": rule_id},
    )
    return None if value is None else float(value)


# (rule, lead attributes, whether the rule matches), grouped by operator
FIT_CASES: list[tuple[dict, dict, bool]] = [
    # eq is case-insensitive on text
    (fit_rule("r", "country", "eq", "jp"), {"country": "JP"}, True),
    (fit_rule("r", "country", "eq", "jp"), {"country": "US"}, False),
    # in / not_in compare the lower-cased value with the lower-cased list
    (fit_rule("r", "industry", "in", ["Software", "finance"]), {"industry": "SOFTWARE"}, True),
    (fit_rule("r", "industry", "in", ["software"]), {"industry": "retail"}, False),
    (fit_rule("r", "industry", "not_in", ["software"]), {"industry": "retail"}, True),
    (fit_rule("r", "industry", "not_in", ["software"]), {"industry": "Software"}, False),
    # not_in never matches a missing value: an unknown industry is not evidence of anything
    (fit_rule("r", "industry", "not_in", ["software"]), {"industry": None}, False),
    # numeric bounds are inclusive
    (fit_rule("r", "employee_count", "gte", 100), {"employee_count": 100}, True),
    (fit_rule("r", "employee_count", "gte", 100), {"employee_count": 99}, False),
    (fit_rule("r", "employee_count", "lte", 10), {"employee_count": 10}, True),
    (fit_rule("r", "employee_count", "lte", 10), {"employee_count": 11}, False),
    (fit_rule("r", "employee_count", "lte", 10), {"employee_count": None}, False),
    (fit_rule("r", "employee_count", "between", [20, 99]), {"employee_count": 99}, True),
    (fit_rule("r", "employee_count", "between", [20, 99]), {"employee_count": 19}, False),
    # contains is a case-insensitive substring test
    (fit_rule("r", "company", "contains", "holdings"), {"company": "ACME Holdings"}, True),
    (fit_rule("r", "company", "contains", "holdings"), {"company": "ACME"}, False),
    # regex is case-insensitive and unanchored
    (fit_rule("r", "job_title", "regex", "^(cto|cio)$"), {"job_title": "CTO"}, True),
    (fit_rule("r", "job_title", "regex", "^(cto|cio)$"), {"job_title": "CTO office"}, False),
    # is_null: a field the CRM left empty
    (fit_rule("r", "job_title", "is_null"), {"job_title": None}, True),
    (fit_rule("r", "job_title", "is_null"), {"job_title": "部長"}, False),
    # email_domain_in takes the part after @, case-insensitively
    (fit_rule("r", "email", "email_domain_in", ["gmail.com"]), {"email": "Ken@GMAIL.com"}, True),
    (fit_rule("r", "email", "email_domain_in", ["gmail.com"]), {"email": "ken@gmail.com.evil.example"}, False),
    (fit_rule("r", "email", "email_domain_in", ["gmail.com"]), {"email": None}, False),
    (fit_rule("r", "email", "email_domain_in", ["gmail.com"]), {"email": "gmail.com"}, False),
    # on any text field: the part after @ of what the CRM holds there
    (fit_rule("r", "company", "email_domain_in", ["x.example"]), {"company": "desk@X.Example"}, True),
    (fit_rule("r", "company", "email_domain_in", ["x.example"]), {"company": "X.Example"}, False),
]


def _operator(case: tuple[dict, dict, bool]) -> str:
    return str(case[0]["op"])


@pytest.mark.parametrize("op", sorted({_operator(c) for c in FIT_CASES}))
def test_each_fit_operator(wh, settings, tmp_path, op):
    cases = [c for c in FIT_CASES if _operator(c) == op]
    # one lead and one rule per case (rule r<n> is only read for lead C<n>): one warehouse per operator
    rules = [{**rule, "id": f"r{n}", "group": f"r{n}"} for n, (rule, _, _) in enumerate(cases)]
    path = write_rules(tmp_path / "scoring.yml", fit=rules)
    add_leads(wh, *[{"crm_id": f"C{n}", **attributes} for n, (_, attributes, _) in enumerate(cases)])
    score(wh, settings, AS_OF, path)
    got = [points(wh, f"C{n}", f"r{n}") for n in range(len(cases))]
    assert got == [10 if matches else None for _, _, matches in cases]


def test_negative_points_and_first_match_in_group(wh, settings, tmp_path):
    rules = write_rules(
        tmp_path / "scoring.yml",
        score_range=[-100, 100],
        fit=[
            fit_rule("big", "employee_count", "gte", 1000, points=25, group="size"),
            fit_rule("mid", "employee_count", "gte", 100, points=20, group="size"),
            fit_rule("freemail", "email", "email_domain_in", ["gmail.com"], points=-10),
        ],
    )
    add_leads(wh, {"crm_id": "C1", "employee_count": 5000, "email": "a@gmail.com"})
    score(wh, settings, AS_OF, rules)
    # only the first matching band of the group counts (25, not 25 + 20); the free-mail rule subtracts
    assert (points(wh, "C1", "big"), points(wh, "C1", "mid"), points(wh, "C1", "freemail")) == (25, None, -10)
    assert wh.scalar("select total_score from scoring.lead_scores") == 15


def test_domain_and_address_rules_on_one_field_each_see_their_own_value(wh, settings, tmp_path):
    # the domain rule matches the part after @, the address rule the whole address, in the same run
    rules = write_rules(
        tmp_path / "scoring.yml",
        fit=[
            fit_rule("ceo_inbox", "email", "regex", "^ceo@", points=5),
            fit_rule("freemail", "email", "email_domain_in", ["gmail.com"], points=-10, group="mail"),
        ],
        score_range=[-100, 100],
    )
    add_leads(
        wh,
        {"crm_id": "both", "email": "ceo@Gmail.com"},
        {"crm_id": "address", "email": "ceo@acme.example"},
        {"crm_id": "domain", "email": "bob@gmail.com"},
        {"crm_id": "neither", "email": None},
    )
    score(wh, settings, AS_OF, rules)
    got = {c: (points(wh, c, "ceo_inbox"), points(wh, c, "freemail")) for c in ("both", "address", "domain", "neither")}
    assert got == {"both": (5, -10), "address": (5, None), "domain": (None, -10), "neither": (None, None)}


# (kind, rule options, event url, event asset, whether the rule counts the event)
MATCH_CASES: list[tuple[str, dict, str | None, str | None, bool]] = [
    # no pattern: every event of the type counts
    ("any", {}, "https://x.example/anything", None, True),
    # url_pattern is a case-insensitive regex on the event's URL
    ("url_pattern", {"url_pattern": "/pricing/enterprise"}, "https://x.example/Pricing/Enterprise?x=1", None, True),
    ("url_pattern", {"url_pattern": "/pricing/enterprise"}, "https://x.example/pricing/starter", None, False),
    # an event without a URL never matches a URL pattern
    ("url_pattern", {"url_pattern": "/pricing"}, None, None, False),
    # a property match on the downloaded asset
    ("properties", {"properties": {"asset": "^roi-"}}, None, "roi-calculator", True),
    ("properties", {"properties": {"asset": "^roi-"}}, None, "case-study-acme", False),
    ("properties", {"properties": {"asset": "^roi-"}}, None, None, False),
]


@pytest.mark.parametrize("kind", sorted({c[0] for c in MATCH_CASES}))
def test_engagement_url_pattern_and_property_match(wh, settings, tmp_path, kind):
    cases = [c for c in MATCH_CASES if c[0] == kind]
    rules = [
        engagement_rule(f"e{n}", "whitepaper_download", **options) for n, (_, options, _, _, _) in enumerate(cases)
    ]
    path = write_rules(tmp_path / "scoring.yml", engagement=rules)
    add_leads(wh, *[{"crm_id": f"C{n}"} for n in range(len(cases))])
    for n, (_, _, url, asset, _) in enumerate(cases):
        add_events(wh, f"C{n}", ("whitepaper_download", "2026-11-22"), url=url, asset=asset)
    score(wh, settings, AS_OF, path)
    got = [points(wh, f"C{n}", f"e{n}") for n in range(len(cases))]
    assert got == [10 if c[4] else None for c in cases]


# (kind, rule options, event days, expected points); every rule is page_view, 10 points
COUNT_CASES: list[tuple[str, dict, list[str], float | None]] = [
    # half-life 7: an event 7 days old is worth half, 14 days a quarter
    ("decay", {"half_life_days": 7}, ["2026-11-15"], 5.0),
    ("decay", {"half_life_days": 7}, ["2026-11-08"], 2.5),
    # window 10 days: an event 10 days old is outside (age < window), 9 days inside
    ("window", {"window_days": 10}, ["2026-11-12"], None),
    ("window", {"window_days": 10}, ["2026-11-13"], 10.0),
    # max_per_day 2: four events on one day count twice
    ("max_per_day", {"max_per_day": 2}, ["2026-11-22"] * 4, 20.0),
    # cap 25: three events (30 points) are capped
    ("cap", {"cap": 25}, ["2026-11-20", "2026-11-21", "2026-11-22"], 25.0),
    # negative points (e.g. a careers page): decay and caps still apply
    ("negative", {"points": -10}, ["2026-11-22"], -10.0),
    ("negative", {"points": -10, "half_life_days": 7}, ["2026-11-15"], -5.0),
]


@pytest.mark.parametrize("kind", sorted({c[0] for c in COUNT_CASES}))
def test_engagement_decay_window_cap_and_daily_limit(wh, settings, tmp_path, kind):
    cases = [c for c in COUNT_CASES if c[0] == kind]
    rules = [
        engagement_rule(f"e{n}", "page_view", **{"half_life_days": 1e6, **options})
        for n, (_, options, _, _) in enumerate(cases)
    ]
    path = write_rules(tmp_path / "scoring.yml", score_range=[-100, 100], engagement=rules)
    add_leads(wh, *[{"crm_id": f"C{n}"} for n in range(len(cases))])
    for n, (_, _, days, _) in enumerate(cases):
        add_events(wh, f"C{n}", *[("page_view", d) for d in days])
    score(wh, settings, AS_OF, path)
    got = [points(wh, f"C{n}", f"e{n}") for n in range(len(cases))]
    assert got == [None if c[3] is None else pytest.approx(c[3], abs=0.01) for c in cases]


def test_hand_raiser_event_makes_the_score_a_hand_raiser(wh, settings, tmp_path):
    rules = write_rules(
        tmp_path / "scoring.yml",
        engagement=[engagement_rule("demo", "demo_request", points=1, hand_raiser=True, window_days=30)],
    )
    add_leads(wh, {"crm_id": "NOW"}, {"crm_id": "OLD"})
    add_events(wh, "NOW", ("demo_request", "2026-11-22"))
    add_events(wh, "OLD", ("demo_request", "2026-10-01"))  # outside the 30-day window
    score(wh, settings, AS_OF, rules)
    flags = dict(wh.fetchall("select lead_id, hand_raiser from scoring.lead_scores"))
    assert (bool(flags[lead_id("NOW")]), bool(flags[lead_id("OLD")])) == (True, False)


def test_rules_version_is_stored_on_every_score(wh, settings, tmp_path):
    from leadflow.scoring import load_rules

    path = write_rules(tmp_path / "scoring.yml", fit=[fit_rule("r", "country", "eq", "JP")])
    add_leads(wh, {"crm_id": "A"}, {"crm_id": "B"})
    score(wh, settings, AS_OF, path)
    versions = wh.fetchall("select distinct rules_version from scoring.lead_scores")
    assert versions == [(load_rules(path).version,)]


@pytest.mark.parametrize("top", [1, 4, 10])  # 10: the most the rules allow
def test_top_reasons_lists_the_strongest_factors_in_order_up_to_the_setting(wh, settings, tmp_path, top):
    # twelve fit rules of distinct strength (points 1..12), every one matching: more than any setting shows
    fits = [fit_rule(f"r{n:02d}", "country", "eq", "jp", points=n) for n in range(1, 13)]
    rules = write_rules(tmp_path / "scoring.yml", score_range=[0, 1000], top_reasons=top, fit=fits)
    add_leads(wh, {"crm_id": "C1", "country": "JP"})
    score(wh, settings, AS_OF, rules)
    reasons = wh.scalar("select top_reasons from scoring.lead_scores")
    assert reasons == " / ".join(f"r{n:02d} (+{n})" for n in range(12, 12 - top, -1))


def test_reasons_round_half_points_the_same_way_on_both_backends(wh, settings, tmp_path):
    """A factor of exactly 2.5 reads (+3) on both backends: PostgreSQL rounds a double's halves to even
    (2), so reasons round the two-decimal points as decimals, halves away from zero."""
    rules = write_rules(
        tmp_path / "scoring.yml",
        engagement=[engagement_rule("visits", "page_view", points=5, half_life_days=7)],
    )
    add_leads(wh, {"crm_id": "HALF"})
    add_events(wh, "HALF", ("page_view", "2026-11-15"))  # a week old: 5 x 0.5 = 2.5
    score(wh, settings, AS_OF, rules)
    assert wh.scalar("select top_reasons from scoring.lead_scores") == "visits (+3)"
