"""Intraday rescoring (docs/adr/0019) on DuckDB and PostgreSQL: the leads the intake's events touched get
the scores the night of the same day computes from the same events, their stage at once and their CRM
fields; the nightly tables and every other lead stay as they were; a second run changes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from leadflow.crm.writeback import write_back
from leadflow.intake.apply import apply_inbox
from leadflow.intake.inbox import load_records
from leadflow.intraday import rescore_touched, run_intraday, write_back_touched
from leadflow.pipeline import advance_stages, model_params, record_validation, score
from tests.intake.test_apply import NOW, TODAY, sg_event, web_event
from tests.sql.rows import add_events, add_leads, lead_id

YESTERDAY = TODAY - timedelta(days=1)
LATER = NOW + timedelta(minutes=5)  # the intraday run after the intake's (12:05 in Tokyo)
# what the night keeps: the intraday step must leave every row of these as it found them
NIGHTLY_TABLES = (
    "scoring.lead_scores",
    "scoring.score_factors",
    "scoring.rule_state",
    "scoring.rule_state_runs",
    "scoring.lead_activity",
)
SCORE_COLUMNS = (
    "lead_id, as_of_date, fit_score, engagement_score, total_score, fit_grade, score_change_7d, heating_up,"
    " hand_raiser, last_activity_date, top_reasons, rules_version"
)


def night(wh, settings, day: date) -> None:
    """One night's scoring and stages, recorded as run to its end (what `latest_night` reads)."""
    score(wh, settings, day)
    advance_stages(wh, settings, day)
    record_validation(wh, day.isoformat(), "transitions", True, {"as_of_date": day.isoformat()}, [])


def setup_leads(wh) -> None:
    # A: fit 50 (部長 20, 300 staff 20, software 10) and a pricing view yesterday: warm at 65, one more
    # pricing view today takes it to 79 (15 decayed a day, plus 15), over the hot threshold (75)
    add_leads(
        wh,
        {"crm_id": "A", "job_title": "部長", "employee_count": 300, "industry": "software"},
        {"crm_id": "B"},
        {"crm_id": "C", "job_title": "部長"},
        {"crm_id": "H"},
    )
    add_events(wh, "A", ("pricing_view", YESTERDAY.isoformat()))
    add_events(wh, "C", ("webinar_attended", "2026-11-12"), ("page_view", YESTERDAY.isoformat()))


def push_events(wh, settings) -> None:
    """The intake applies at 12:00 in Tokyo: A views pricing, B clicks an email (and opened it at 22:00
    last night: a late event of yesterday in today's batch), H asks for a demo."""
    load_records(
        wh,
        [
            web_event("a-pricing", "A", "pricing_view", url="https://www.example.jp/pricing"),
            web_event("h-demo", "H", "demo_request"),
            sg_event("b-click", "click", "b@example.co.jp", url="https://www.example.jp/x"),
            sg_event("b-open", "open", "b@example.co.jp", timestamp=int((NOW - timedelta(hours=14)).timestamp())),
        ],
    )
    assert apply_inbox(wh, settings, now=NOW)["events"] == 4


def snapshot(wh, tables=NIGHTLY_TABLES) -> dict[str, list]:
    return {t: sorted(wh.fetchall(f"select * from {t}"), key=repr) for t in tables}


def stages(wh) -> dict[str, tuple]:
    return {
        lid: (stage, entered_on, as_of)
        for lid, stage, entered_on, as_of in wh.fetchall(
            "select lead_id, stage, entered_on, as_of_date from lifecycle.lead_stages"
        )
    }


def intraday_scores(wh) -> list[tuple]:
    return wh.fetchall(f"select {SCORE_COLUMNS} from scoring.intraday_scores order by lead_id")


def test_touched_leads_get_the_nights_scores_their_stage_and_crm_fields_at_once(wh, settings):
    setup_leads(wh)
    for day in (YESTERDAY - timedelta(days=1), YESTERDAY):
        night(wh, settings, day)
    write_back(wh, settings, YESTERDAY)  # the morning's write-back of last night
    crm_before = dict(wh.fetchall("select crm_id, lead_scored_at from crm.lead_fields"))
    assert stages(wh)[lead_id("A")][0] == "warm"
    push_events(wh, settings)
    nightly = snapshot(wh)
    stages_before = stages(wh)

    result = rescore_touched(wh, settings, now=LATER)
    assert (result["events"], result["leads"], result["night"]) == (4, 3, YESTERDAY.isoformat())
    assert result["transitions"] == {"hot": 2}
    # the nightly tables are as the night left them: the scoring ran in a transaction rolled back
    assert snapshot(wh) == nightly
    # A crossed the threshold, H raised its hand: hot now, the history says it was intraday
    history = dict(
        wh.fetchall(
            "select lead_id, reason from lifecycle.stage_transitions where as_of_date = cast(:d as date)",
            {"d": TODAY.isoformat()},
        )
    )
    assert history == {
        lead_id("A"): "score 79 reached hot threshold 75 (intraday)",
        lead_id("H"): "hand_raiser: contact, quote or demo request (intraday)",
    }
    after = stages(wh)
    assert after[lead_id("A")] == ("hot", TODAY, TODAY)
    assert after[lead_id("H")] == ("hot", TODAY, TODAY)
    assert after[lead_id("B")] == (stages_before[lead_id("B")][0], stages_before[lead_id("B")][1], TODAY)
    assert after[lead_id("C")] == stages_before[lead_id("C")]  # untouched: not written
    intraday = intraday_scores(wh)
    assert [r[0] for r in intraday] == sorted(lead_id(c) for c in "ABH")

    written = write_back_touched(wh, settings, now=LATER)
    assert written["written"] == written["changed"] == 3
    fields = dict(wh.fetchall("select crm_id, lead_stage from crm.lead_fields"))
    assert (fields["A"], fields["H"]) == ("hot", "hot")
    crm_after = dict(wh.fetchall("select crm_id, lead_scored_at from crm.lead_fields"))
    assert crm_after["C"] == crm_before["C"]  # an untouched lead's fields are not written
    assert crm_after["A"] != crm_before["A"]

    # a second run: no event is new, nothing changes (scored_at included), nothing is written
    again = snapshot(wh, (*NIGHTLY_TABLES, "scoring.intraday_scores", "lifecycle.stage_transitions"))
    second = run_intraday(wh, settings, now=LATER + timedelta(minutes=5))
    assert (second["events"], second["leads"], second["write_back"]["written"]) == (0, 0, 0)
    assert snapshot(wh, (*NIGHTLY_TABLES, "scoring.intraday_scores", "lifecycle.stage_transitions")) == again

    # the night of today: its staging keeps the intake's events, and it computes the same scores
    wh.run_model("staging/stg_events.sql", model_params(settings, TODAY, batch_id=TODAY.isoformat()))
    score(wh, settings, TODAY)
    touched = {"leads": [lead_id(c) for c in "ABH"], "d": TODAY.isoformat()}
    assert (
        wh.fetchall(
            f"select {SCORE_COLUMNS} from scoring.lead_scores"
            " where as_of_date = cast(:d as date) and lead_id in (select unnest(cast(:leads as varchar[])))"
            " order by lead_id"
            if wh.dialect == "duckdb"
            else f"select {SCORE_COLUMNS} from scoring.lead_scores"
            " where as_of_date = cast(:d as date) and lead_id = any(cast(:leads as text[])) order by lead_id",
            touched,
        )
        == intraday
    )
    # its stages agree: one transition each, the night's reason; the intraday scores are superseded
    advance_stages(wh, settings, TODAY)
    rows = wh.fetchall(
        "select lead_id, to_stage, reason from lifecycle.stage_transitions where as_of_date = cast(:d as date)"
        " order by lead_id",
        {"d": TODAY.isoformat()},
    )
    assert rows == sorted(
        [
            (lead_id("A"), "hot", "score 79 reached hot threshold 75"),
            (lead_id("H"), "hot", "hand_raiser: contact, quote or demo request"),
        ]
    )
    assert wh.scalar("select count(*) from scoring.intraday_scores") == 0
    # the morning's write-back finds the touched leads' fields already in the CRM
    changed = set(wh.fetch_df(wh.model_sql("crm/lead_field_changes.sql"), model_params(settings, TODAY))["crm_id"])
    assert not changed & {"A", "B", "H"}
    # a rerun of the night gives the same transitions (nights in order)
    score(wh, settings, TODAY)
    advance_stages(wh, settings, TODAY)
    assert (
        wh.fetchall(
            "select lead_id, to_stage, reason from lifecycle.stage_transitions where as_of_date = cast(:d as date)"
            " order by lead_id",
            {"d": TODAY.isoformat()},
        )
        == rows
    )


def test_it_waits_for_the_night_before_and_then_rescores_every_event_once(wh, settings):
    setup_leads(wh)
    night(wh, settings, YESTERDAY - timedelta(days=1))
    push_events(wh, settings)
    waited = rescore_touched(wh, settings, now=LATER)
    assert "has not run yet" in waited["waiting"]
    assert wh.scalar("select count(*) from ops.inbox_events where rescored_at is not null") == 0
    assert wh.scalar("select count(*) from scoring.intraday_scores") == 0

    night(wh, settings, YESTERDAY)
    done = rescore_touched(wh, settings, now=LATER)
    assert (done["events"], done["leads"]) == (4, 3)
    assert wh.scalar("select count(*) from ops.inbox_events where rescored_at is null") == 0
    # more events later in the day: only their lead is rescored, the others keep their rows
    first = {r[0]: r for r in intraday_scores(wh)}
    load_records(wh, [web_event("b-pricing", "B", "pricing_view")])
    apply_inbox(wh, settings, now=LATER)
    more = rescore_touched(wh, settings, now=LATER + timedelta(minutes=5))
    assert (more["events"], more["leads"]) == (1, 1)
    second = {r[0]: r for r in intraday_scores(wh)}
    assert second[lead_id("A")] == first[lead_id("A")]
    assert second[lead_id("B")][4] > first[lead_id("B")][4]  # total_score: a pricing view more


def test_a_rerun_of_last_night_during_the_day_does_not_undo_the_intraday_stage(wh, settings):
    setup_leads(wh)
    for day in (YESTERDAY - timedelta(days=1), YESTERDAY):
        night(wh, settings, day)
    push_events(wh, settings)
    rescore_touched(wh, settings, now=LATER)
    write_back_touched(wh, settings, now=LATER)
    # on-call reruns last night at 14:00: current stages and CRM fields go back to that night's
    night(wh, settings, YESTERDAY)
    write_back(wh, settings, YESTERDAY)
    assert stages(wh)[lead_id("A")][0] == "warm"
    # the next intraday run puts the day's stages and fields back, with no new event
    again = run_intraday(wh, settings, now=LATER + timedelta(hours=2))
    assert (again["events"], again["leads"]) == (0, 3)
    assert stages(wh)[lead_id("A")] == ("hot", TODAY, TODAY)
    assert dict(wh.fetchall("select crm_id, lead_stage from crm.lead_fields"))["A"] == "hot"


def test_the_command_says_what_it_waits_for_and_reports_what_it_did(warehouse_uri, settings, capsys, monkeypatch):
    import json

    from leadflow import intraday
    from leadflow.cli import main
    from leadflow.warehouse import connect

    with connect(warehouse_uri) as wh:
        from leadflow.pipeline import create_schemas

        create_schemas(wh)
    monkeypatch.setattr(intraday, "datetime", _Clock)
    assert main(["intraday", "--warehouse", warehouse_uri, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "as_of_date": TODAY.isoformat(),
        "waiting": f"the night of {YESTERDAY} has not run yet",
    }
    with connect(warehouse_uri) as wh:
        setup_leads(wh)
        for day in (YESTERDAY - timedelta(days=1), YESTERDAY):
            night(wh, settings, day)
        push_events(wh, settings)
    assert main(["intraday", "--warehouse", warehouse_uri]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"rescored 3 lead(s) touched by 4 new event(s) as of {TODAY} (on the night of {YESTERDAY}): 2 to hot" in out
    assert "CRM: 3 of 3 changed lead(s) written" in out


class _Clock(datetime):
    """`datetime` whose now() is LATER: the command runs at 12:05 in Tokyo on TODAY."""

    @classmethod
    def now(cls, tz=None):
        return LATER.astimezone(tz) if tz else LATER
