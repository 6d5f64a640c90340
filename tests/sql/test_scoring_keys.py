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


def keyed_rows(wh) -> list[tuple]:
    """The keyed events in words (lead id, batch, day, event type, url), independent of key numbers."""
    return wh.fetchall(
        "select k.lead_id, cast(e.batch_date as varchar), cast(e.event_date as varchar), t.event_type, t.url"
        " from scoring.keyed_events as e"
        " inner join scoring.lead_keys as k on e.lead_key = k.lead_key"
        " inner join scoring.event_triples as t on e.triple_id = t.triple_id"
        " order by 1, 2, 3, 4, 5"
    )


def test_a_full_rebuild_keys_again_only_the_batches_whose_events_changed(wh, settings):
    add_leads(wh, {"crm_id": "A"}, {"crm_id": "B"})
    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):
        add_events(wh, "A", ("pricing_view", day), ("page_view", day))
        add_events(wh, "B", ("email_click", day))
        score(wh, settings, date.fromisoformat(day))
    as_of = [date(2026, 11, 22)]
    nightly = snapshot(wh)

    # nothing changed since the nights keyed it: every batch is checked, none keyed again, same scores
    result = rebuild_scores(wh, settings, as_of)
    assert (result["batches"], result["batches_keyed_again"], result["keyed_events"]) == (3, 0, 9)
    assert snapshot(wh) == nightly

    # out-of-band edits that keep every batch's size: a lead's events of 11-21 moved to B (a manual
    # merge), and a page of 11-22 renamed; only those two batches are keyed again, and the scores follow
    wh.execute(
        "update core.events set lead_id = :b where lead_id = :a and _batch_id = '2026-11-21'",
        {"a": lead_id("A"), "b": lead_id("B")},
    )
    wh.execute("update core.events set url = 'https://x.example/pricing' where _batch_id = '2026-11-22'")
    result = rebuild_scores(wh, settings, as_of)
    assert (result["batches_keyed_again"], result["events_keyed_again"]) == (2, 6)
    assert snapshot(wh) != nightly
    checked = (keyed_rows(wh), snapshot(wh))
    assert ("2026-11-21", "pricing_view") in {(r[1], r[3]) for r in checked[0] if r[0] == lead_id("B")}

    # keying every batch again from scratch gives exactly what the checked rebuild kept
    result = rebuild_scores(wh, settings, as_of, rekey=True)
    assert result["batches_keyed_again"] == 3
    assert (keyed_rows(wh), snapshot(wh)) == checked


def test_a_full_rebuild_repairs_keyed_rows_edited_or_left_behind(wh, settings):
    add_leads(wh, {"crm_id": "A"})
    for day in ("2026-11-20", "2026-11-21"):
        add_events(wh, "A", ("pricing_view", day), ("webinar_attended", day))
        score(wh, settings, date.fromisoformat(day))
    expected = keyed_rows(wh)

    # a keyed row lost, a batch keyed before checksums were kept, and keyed rows of a batch that
    # core.events no longer holds (nor lists as keyed)
    wh.execute("delete from scoring.keyed_events where batch_date = '2026-11-20' and triple_id = 1")
    wh.execute("update scoring.keyed_event_batches set checksum = null where _batch_id = '2026-11-21'")
    wh.execute("insert into scoring.keyed_events values ('2026-11-19', 1, '2026-11-19', 1)")
    result = rebuild_scores(wh, settings, [date(2026, 11, 21)])
    assert result["batches_keyed_again"] == 3
    assert keyed_rows(wh) == expected
    assert result["keyed_events"] == 4 == wh.scalar("select count(*) from scoring.keyed_events")
    assert rebuild_scores(wh, settings, [date(2026, 11, 21)])["batches_keyed_again"] == 0

    # a batch gone from core.events: its keyed rows and its listing go too
    wh.execute("delete from core.events where _batch_id = '2026-11-20'")
    result = rebuild_scores(wh, settings, [date(2026, 11, 21)])
    assert result["batches_keyed_again"] == 1
    assert [r[1] for r in keyed_rows(wh)] == ["2026-11-21", "2026-11-21"]
    assert wh.fetchall("select _batch_id from scoring.keyed_event_batches") == [("2026-11-21",)]
