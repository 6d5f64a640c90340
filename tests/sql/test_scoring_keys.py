"""Integer keys under the scoring tables (docs/adr/0006), on DuckDB and PostgreSQL: given once and kept,
rules matched per triple, and a warehouse with the old text-keyed rollup keyed again from its events."""

from __future__ import annotations

from datetime import date

from leadflow.pipeline import create_schemas, score
from leadflow.scoring import rebuild_scores
from tests.sql.rows import add_events, add_leads, engagement_rule, lead_id, write_rules
from tests.sql.test_scoring_incremental import snapshot


def keys(wh) -> dict[str, int]:
    return dict(wh.fetchall("select lead_id, lead_key from scoring.lead_keys"))


def test_keys_are_given_once_and_kept_through_nights_and_rebuilds(wh, settings):
    add_leads(wh, {"crm_id": "A"}, {"crm_id": "B"})
    add_events(wh, "A", ("pricing_view", "2026-11-20"))
    score(wh, settings, date(2026, 11, 20))
    first = keys(wh)
    assert set(first) == {lead_id("A"), lead_id("B")}

    # the next night: a new CRM lead, and a visitor the CRM has not sent yet
    add_leads(wh, {"crm_id": "C"})
    add_events(wh, "Z", ("pricing_view", "2026-11-21"), ("page_view", "2026-11-21"))
    add_events(wh, "A", ("page_view", "2026-11-21"))
    score(wh, settings, date(2026, 11, 21))
    second = keys(wh)
    assert {k: second[k] for k in first} == first
    assert set(second) == {lead_id(c) for c in "ABCZ"}
    assert len(set(second.values())) == len(second) == wh.scalar("select count(*) from scoring.lead_keys")

    # the events-only lead is scored by its events (its factors are kept), though it has no CRM row yet
    z_factors = wh.fetchall(
        "select rule_id from scoring.score_factors where lead_id = :l and as_of_date = '2026-11-21' order by 1",
        {"l": lead_id("Z")},
    )
    assert [r for (r,) in z_factors] == ["page_view", "pricing_view"]
    assert wh.scalar("select count(*) from scoring.lead_scores where lead_id = :l", {"l": lead_id("Z")}) == 0

    # a full rebuild keeps every key and gives the same factors and scores (of the night every lead
    # existed: a rebuild of an earlier date would score lead C there too)
    nightly = snapshot(wh)
    rebuild_scores(wh, settings, [date(2026, 11, 21)])
    assert keys(wh) == second
    assert snapshot(wh) == nightly


def test_a_rule_change_rescoring_a_date_needs_no_new_keys(wh, settings, tmp_path):
    add_leads(wh, {"crm_id": "A"}, {"crm_id": "B"})
    add_events(wh, "A", ("pricing_view", "2026-11-22"), url="https://x.example/pricing/enterprise")
    add_events(wh, "B", ("pricing_view", "2026-11-22"), url="https://x.example/pricing/starter")
    enterprise = write_rules(
        tmp_path / "enterprise.yml", engagement=[engagement_rule("p", "pricing_view", url_pattern="/enterprise")]
    )
    score(wh, settings, date(2026, 11, 22), enterprise)
    keyed = wh.fetchall("select * from scoring.keyed_events order by lead_key")
    assert wh.scalar("select count(*) from scoring.event_triples") == 2

    starter = write_rules(
        tmp_path / "starter.yml", engagement=[engagement_rule("p", "pricing_view", url_pattern="/STARTER$")]
    )
    score(wh, settings, date(2026, 11, 22), starter)
    # the night's batch is keyed again (a rerun), into the same rows; the rule now matches the other triple
    assert wh.fetchall("select * from scoring.keyed_events order by lead_key") == keyed
    assert wh.scalar("select count(*) from scoring.event_triples") == 2
    scored = wh.fetchall("select lead_id from scoring.score_factors where rule_id = 'p' and as_of_date = '2026-11-22'")
    assert scored == [(lead_id("B"),)]


def test_a_warehouse_with_the_text_rollup_is_keyed_again_from_its_events(wh, settings):
    # a warehouse from before ADR 0006: its rollup was text-keyed, and nothing is keyed yet
    wh.execute(
        "create table scoring.event_daily (_batch_id text, lead_id text, event_date date, event_type text,"
        " url text, asset text, events integer)"
    )
    wh.execute("create table scoring.event_daily_batches (_batch_id text primary key, events integer)")
    wh.execute("insert into scoring.event_daily_batches values ('2026-11-20', 1), ('2026-11-21', 2)")
    add_leads(wh, {"crm_id": "A"})
    add_events(wh, "A", ("pricing_view", "2026-11-20"))
    add_events(wh, "A", ("pricing_view", "2026-11-21"), ("webinar_attended", "2026-11-21"))

    create_schemas(wh)
    leftovers = wh.scalar(
        "select count(*) from information_schema.tables"
        " where table_schema = 'scoring' and table_name in ('event_daily', 'event_daily_batches')"
    )
    assert leftovers == 0

    score(wh, settings, date(2026, 11, 21))
    assert dict(wh.fetchall("select _batch_id, events from scoring.keyed_event_batches")) == {
        "2026-11-20": 1,
        "2026-11-21": 2,
    }
    occurrences = wh.scalar(
        "select occurrences from scoring.score_factors where lead_id = :l and rule_id = 'pricing_view'",
        {"l": lead_id("A")},
    )
    assert occurrences == 2
