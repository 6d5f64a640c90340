"""Property tests (hypothesis) of the scoring SQL with the shipped rules, on DuckDB and PostgreSQL.

More engagement never lowers a score, decay never raises one, totals stay in the configured range
and every lead's factors add up to its total.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from leadflow.pipeline import score
from leadflow.scoring import EVENT_TYPES
from tests.sql.rows import SCORING_TABLES, add_events, add_leads, lead_id

AS_OF = date(2026, 11, 22)
PROPERTY_SETTINGS = hsettings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

attributes = st.fixed_dictionaries(
    {
        "job_title": st.sampled_from([None, "担当者", "営業部長", "CEO", "Marketing Manager", "学生", "intern"]),
        "employee_count": st.one_of(st.none(), st.integers(0, 20_000)),
        "industry": st.sampled_from([None, "software", "retail", "Finance", "education"]),
        "email": st.sampled_from([None, "a@gmail.com", "b@acme.example", "c@competitor.example"]),
    }
)
# (event type, days before the as-of date)
events = st.lists(st.tuples(st.sampled_from(EVENT_TYPES), st.integers(0, 200)), max_size=12)


def reset(wh) -> None:
    for table in SCORING_TABLES:
        wh.execute(f"delete from {table}")


def add_lead_events(wh, crm_id: str, evs: list[tuple[str, int]], prefix: str = "") -> None:
    if evs:
        # all loaded by the as-of night, whatever day they happened
        add_events(
            wh,
            crm_id,
            *[(t, (AS_OF - timedelta(days=age)).isoformat()) for t, age in evs],
            batch="2026-11-22",
            prefix=prefix,
        )


def totals(wh, as_of: date = AS_OF) -> dict[str, tuple[float, float]]:
    rows = wh.fetchall(
        "select lead_id, total_score, engagement_score from scoring.lead_scores where as_of_date = cast(:d as date)",
        {"d": as_of.isoformat()},
    )
    return {lead: (float(total), float(engagement)) for lead, total, engagement in rows}


@PROPERTY_SETTINGS
@given(
    lead=attributes,
    base=events,
    extra=st.lists(st.tuples(st.sampled_from(EVENT_TYPES), st.integers(0, 200)), min_size=1, max_size=4),
)
def test_more_engagement_never_lowers_a_score(wh, settings, lead, base, extra):
    reset(wh)
    add_leads(wh, {"crm_id": "LESS", **lead}, {"crm_id": "MORE", **lead})
    add_lead_events(wh, "LESS", base)
    add_lead_events(wh, "MORE", base + extra)
    score(wh, settings, AS_OF)
    got = totals(wh)
    less, more = got[lead_id("LESS")], got[lead_id("MORE")]
    assert more[0] >= less[0] and more[1] >= less[1]


@PROPERTY_SETTINGS
@given(lead=attributes, evs=events, later=st.integers(1, 120))
def test_decay_never_raises_a_score(wh, settings, lead, evs, later):
    reset(wh)
    add_leads(wh, {"crm_id": "C", **lead})
    add_lead_events(wh, "C", evs)
    score(wh, settings, AS_OF)
    score(wh, settings, AS_OF + timedelta(days=later))  # no new events in between
    now, then = totals(wh)[lead_id("C")], totals(wh, AS_OF + timedelta(days=later))[lead_id("C")]
    assert then[0] <= now[0] and then[1] <= now[1]


@PROPERTY_SETTINGS
@given(leads=st.lists(st.tuples(attributes, events), min_size=1, max_size=4))
def test_scores_stay_in_range_and_factors_add_up(wh, settings, leads):
    reset(wh)
    add_leads(wh, *[{"crm_id": f"C{n}", **attrs} for n, (attrs, _) in enumerate(leads)])
    for n, (_, evs) in enumerate(leads):
        add_lead_events(wh, f"C{n}", evs)
    score(wh, settings, AS_OF)
    rows = wh.fetchall(
        """
        select s.lead_id, s.total_score, s.fit_score + s.engagement_score, coalesce(f.total, 0),
            r.score_min, r.score_max
        from scoring.lead_scores as s
        cross join scoring.settings as r
        left join (
            select lead_id, sum(points) as total from scoring.score_factors group by lead_id
        ) as f on s.lead_id = f.lead_id
        """
    )
    assert len(rows) == len(leads)
    for _, total, _, factor_sum, low, high in rows:
        assert low <= total <= high
        assert abs(total - factor_sum) < 0.001
