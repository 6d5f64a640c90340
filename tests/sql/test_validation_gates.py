"""The run-level gates against the warehouse, on DuckDB (DataFrame via Arrow) and PostgreSQL (GX SQL
pushdown): each passes and fails with its exact message, and every outcome is kept in ops."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from leadflow.pipeline import RunAnomaly, advance_stages, check_scores, check_transitions, score, validate_raw
from leadflow.validation import gates
from leadflow.validation.settings import ValidationSettings
from tests.sql.rows import add_events, add_leads, lead_id
from tests.unit.test_validation_raw import EVENT, LEAD

AS_OF = date(2026, 11, 22)


def outcome(wh, validation: str, batch: str = "2026-11-22") -> tuple[bool, dict, list]:
    ok, summary, results = wh.fetchall(
        "select success, summary, results from ops.validation_results where batch_id = :b and validation = :v",
        {"b": batch, "v": validation},
    )[0]
    return bool(ok), json.loads(summary), json.loads(results)


def with_limits(settings, **limits):
    return settings.model_copy(update={"validation": ValidationSettings(**limits)})


# --- scores ----------------------------------------------------------------------------------------


def test_scores_pass_and_are_recorded(wh, settings):
    add_leads(wh, {"crm_id": "C1"}, {"crm_id": "C2"})
    add_events(wh, "C1", ("pricing_view", "2026-11-22"))
    score(wh, settings, AS_OF)
    assert check_scores(wh, settings, AS_OF) == {"scored": 2}
    ok, summary, results = outcome(wh, "scores")
    assert ok and summary == {"scored": 2, "leads": 2, "previous_date": None}
    assert {r["check"] for r in results} >= {"one_per_lead", "factors_add_up", "total_in_range", "mean_drift"}


def test_a_lead_without_a_score_fails(wh, settings):
    add_leads(wh, {"crm_id": "C1"}, {"crm_id": "C2"})
    score(wh, settings, AS_OF)
    add_leads(wh, {"crm_id": "C3"})  # arrived after scoring: no score for the date
    with pytest.raises(RunAnomaly) as failure:
        check_scores(wh, settings, AS_OF)
    assert str(failure.value) == (
        "scores: one_per_lead: 2 scores for 3 leads; expected one per lead (as-of date 2026-11-22)"
    )
    assert outcome(wh, "scores")[0] is False


def test_no_scores_at_all_fail_without_asking_gx(wh, settings):
    add_leads(wh, {"crm_id": "C1"})
    score(wh, settings, date(2026, 11, 21))
    wh.execute("delete from scoring.lead_scores where as_of_date = cast('2026-11-21' as date)")
    score(wh, settings, AS_OF)
    wh.execute("delete from scoring.lead_scores")
    with pytest.raises(RunAnomaly, match=r"^scores: one_per_lead: 0 scores for 1 leads; expected one per lead"):
        check_scores(wh, settings, AS_OF)


def test_factors_that_do_not_add_up_fail(wh, settings):
    add_leads(wh, {"crm_id": "C1"}, {"crm_id": "C2"})
    score(wh, settings, AS_OF)
    wh.execute(
        "insert into scoring.score_factors (lead_id, as_of_date, rule_id, kind, occurrences, points) "
        "values (:l, cast('2026-11-22' as date), 'stray_rule', 'fit', 1, 5)",
        {"l": lead_id("C1")},
    )
    with pytest.raises(RunAnomaly) as failure:
        check_scores(wh, settings, AS_OF)
    # C1's factors now add up to 5 more than its total
    assert str(failure.value) == (
        "scores: factors_add_up: 1 leads whose factors do not add up to their total; differences, e.g. 5.0 "
        "(as-of date 2026-11-22)"
    )


def test_totals_outside_the_score_range_fail(wh, settings):
    add_leads(wh, {"crm_id": "C1"})
    score(wh, settings, AS_OF)
    wh.execute("update scoring.settings set score_min = 10")  # the lead's total is 0
    with pytest.raises(RunAnomaly) as failure:
        check_scores(wh, settings, AS_OF)
    assert str(failure.value) == (
        "scores: total_in_range: 1 totals, e.g. 0.0 outside the configured score range 10–100 (config/scoring.yml) "
        "(as-of date 2026-11-22)"
    )


def test_score_drift_against_the_previous_date(wh, settings):
    add_leads(wh, {"crm_id": "C1"}, {"crm_id": "C2"})
    score(wh, settings, date(2026, 11, 21))
    score(wh, settings, AS_OF)
    # both dates score 0 for both leads: no drift
    assert check_scores(wh, settings, AS_OF) == {"scored": 2}
    wh.execute("update scoring.lead_scores set total_score = 50 where as_of_date = cast('2026-11-21' as date)")
    with pytest.raises(RunAnomaly) as failure:
        check_scores(wh, settings, AS_OF)
    assert str(failure.value) == (
        "scores: mean_drift: mean total_score 0.00, 50.00 on 2026-11-21: moved more than 15 points "
        "(validation.max_score_mean_shift); check recent changes to config/scoring.yml and the events feed "
        "(as-of date 2026-11-22)"
    )
    # a wider configured bound lets it pass
    assert check_scores(wh, with_limits(settings, max_score_mean_shift=50), AS_OF) == {"scored": 2}


# --- transitions -----------------------------------------------------------------------------------


def three_leads_one_hot(wh, settings) -> None:
    add_leads(wh, {"crm_id": "COLD"}, {"crm_id": "WARM", "job_title": "部長", "employee_count": 300}, {"crm_id": "HOT"})
    add_events(wh, "HOT", ("demo_request", "2026-11-22"))
    score(wh, settings, AS_OF)
    advance_stages(wh, settings, AS_OF)


def test_transitions_pass_and_are_recorded(wh, settings):
    three_leads_one_hot(wh, settings)
    assert check_transitions(wh, settings, AS_OF) == {"transitions": 3}
    ok, summary, results = outcome(wh, "transitions")
    assert ok and summary == {"transitions": 3}
    hot = next(r for r in results if r["check"] == "new_hot_bounded")
    assert hot["details"]["observed_value"] == 1


def test_an_edge_the_lifecycle_does_not_allow_fails(wh, settings):
    three_leads_one_hot(wh, settings)
    wh.execute(
        "update lifecycle.stage_transitions set from_stage = 'cold', to_stage = 'sales_qualified' where lead_id = :l",
        {"l": lead_id("WARM")},
    )
    with pytest.raises(RunAnomaly) as failure:
        check_transitions(wh, settings, AS_OF)
    assert str(failure.value) == (
        "transitions: allowed_edges: edges not allowed by the lifecycle: cold→sales_qualified (1) "
        "(as-of date 2026-11-22)"
    )
    assert outcome(wh, "transitions")[0] is False


def test_too_many_new_hot_leads_fail_until_an_operator_approves(wh, settings):
    three_leads_one_hot(wh, settings)
    strict = with_limits(settings, max_new_hot=0, max_new_hot_share=0)
    with pytest.raises(RunAnomaly) as failure:
        check_transitions(wh, strict, AS_OF)
    assert str(failure.value) == (
        "transitions: new_hot_bounded: 1 leads entered hot; expected at most 0 (the larger of validation.max_new_hot "
        "0 and validation.max_new_hot_share 0 % of 3 leads); their owners would all be alerted. If this is right, "
        "approve with `leadflow validation approve --date 2026-11-22 --check transitions.new_hot_bounded --up-to 1` "
        "and rerun this task (as-of date 2026-11-22)"
    )
    gates.approve(wh, "2026-11-22", "transitions.new_hot_bounded", 1, "ops@leadflow.example")
    assert check_transitions(wh, strict, AS_OF) == {"transitions": 3}


def test_only_the_guarded_checks_take_approvals(wh):
    only = r"^cannot approve 'scores.mean_drift': only raw_crm_run.volume_drop, raw_crm_run.volume_spike"
    with pytest.raises(ValueError, match=only):
        gates.approve(wh, "2026-11-22", "scores.mean_drift", 1, "ops")


# --- raw batches through the pipeline step ---------------------------------------------------------


def land(wh, table: str, batch: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows).astype(object)
    frame["_batch_id"] = batch
    frame["_file"] = f"{batch}.dat"
    frame["_row"] = range(1, len(rows) + 1)
    frame["_loaded_at"] = datetime(2026, 11, 23, tzinfo=UTC)
    wh.load_df(table, frame)


def fresh_lead(n: int) -> dict:
    return LEAD | {"crm_id": f"C{n}", "email": f"lead{n}@acme.co.jp", "updated_at": "2026-11-21T10:00:00+09:00"}


def test_a_crm_batch_ten_times_the_previous_one_fails_and_keeps_the_evidence(wh, settings):
    land(wh, "raw.crm_leads", "2026-11-21", [fresh_lead(1)])
    assert validate_raw(wh, settings, date(2026, 11, 21), "crm")["clean"] == 1
    land(wh, "raw.crm_leads", "2026-11-22", [fresh_lead(n) for n in range(11)])
    with pytest.raises(RunAnomaly, match=r"^raw_crm_run: volume_spike: 11 rows, more than 10× the 1 rows of batch"):
        validate_raw(wh, settings, AS_OF, "crm")
    ok, summary, results = outcome(wh, "raw_crm")
    assert not ok and summary["rows"] == 11
    assert next(r for r in results if r["check"] == "volume_spike")["success"] is False
    gates.approve(wh, "2026-11-22", "raw_crm_run.volume_spike", 11, "ops")
    assert validate_raw(wh, settings, AS_OF, "crm")["clean"] == 11


def test_a_truncated_crm_export_fails_until_approved(wh, settings):
    # 4 records after 10: a reconciliation would mark 6 leads deleted; the operator's approval lets it pass
    land(wh, "raw.crm_leads", "2026-11-21", [fresh_lead(n) for n in range(10)])
    assert validate_raw(wh, settings, date(2026, 11, 21), "crm")["clean"] == 10
    land(wh, "raw.crm_leads", "2026-11-22", [fresh_lead(n) for n in range(4)])
    with pytest.raises(RunAnomaly, match=r"^raw_crm_run: volume_drop: 4 records, fewer than 50% of the 10 of batch"):
        validate_raw(wh, settings, AS_OF, "crm")
    gates.approve(wh, "2026-11-22", "raw_crm_run.volume_drop", 4, "ops")
    assert validate_raw(wh, settings, AS_OF, "crm")["clean"] == 4


def test_a_stale_crm_batch_fails(wh, settings):
    land(wh, "raw.crm_leads", "2026-11-22", [fresh_lead(1) | {"updated_at": "2026-11-01T10:00:00+09:00"}])
    with pytest.raises(RunAnomaly, match=r"^raw_crm_run: freshness: newest updated_at is 2026-11-01T01:00:00\+00:00"):
        validate_raw(wh, settings, AS_OF, "crm")


def test_events_that_do_not_resolve_to_leads_fail(wh, settings):
    land(wh, "raw.crm_leads", "2026-11-22", [fresh_lead(1)])
    validate_raw(wh, settings, AS_OF, "crm")
    events = [EVENT | {"event_id": f"E{n}", "crm_id": "C1" if n < 3 else "NOBODY"} for n in range(5)]
    land(wh, "raw.web_events", "2026-11-22", events)
    with pytest.raises(RunAnomaly) as failure:
        validate_raw(wh, settings, AS_OF, "web")
    # E0-E2 belong to C1 of this CRM batch, E3 and E4 to nobody: 3 of 5
    assert str(failure.value).startswith(
        "raw_events_run: lead_resolution: 3 of 5 valid events (60.0 %) resolve to a known lead by crm_id or email; "
        "expected at least 80.0 %"
    )
    assert validate_raw(wh, with_limits(settings, min_event_resolution_share=0.6), AS_OF, "web")["clean"] == 5
