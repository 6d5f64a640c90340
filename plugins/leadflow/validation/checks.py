"""The run-level gates: checks over a whole batch or date whose failure stops the run.

Each check is a GX Core expectation (`Expect`) plus the sentence that explains a failure to a data
engineer: which check, what was observed, what was expected, and what to do. Raw batches are
checked as one-row aggregate frames (rows, newest updated_at, resolved share); scores and
transitions are checked row by row through a narrow view (`sql/validation/*.sql`): on PostgreSQL
by GX's SQL data source in the database (pushdown), on DuckDB as a DataFrame fetched via Arrow
(GX SQL fails on duckdb-engine, see DESIGN.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadflow.validation import gx
from leadflow.validation.gx import Expect, ValidationFailed
from leadflow.validation.settings import ValidationSettings

if TYPE_CHECKING:
    from leadflow.warehouse import Warehouse

NO_LIMIT = 2**53
"""An upper bound that never binds (GX needs a number; JSON keeps it exact)."""

RAW_CRM = "raw_crm_run"
RAW_EVENTS = "raw_events_run"
SCORES = "scores"
TRANSITIONS = "transitions"

SCORE_VIEW = "ops.score_check"
TRANSITION_VIEW = "ops.transition_check"


class RunAnomaly(ValidationFailed, RuntimeError):
    """A run-level check failed: the message names the check, what was observed and what was expected."""


Explain = Callable[[Mapping[str, Any], Mapping[str, Any]], str]
"""(the expectation's GX result dict, the run's parameters) -> why the run failed, in words."""


@dataclass(frozen=True)
class RunCheck:
    """One run-level expectation and how to word its failure."""

    expect: Expect
    explain: Explain


def _p(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


# --- raw CRM: volume and freshness -----------------------------------------------------------------

RAW_CRM_CHECKS: tuple[RunCheck, ...] = (
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeBetween",
            "volume_not_empty",
            "the batch has at least one row",
            {"column": "rows", "min_value": 1},
        ),
        lambda r, p: (
            f"batch {p['batch']} has 0 rows; expected at least 1 — check that the CRM export for "
            f"{p['batch']} landed (sources.crm), then rerun"
        ),
    ),
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeBetween",
            "volume_spike",
            "the batch has at most validation.volume_spike_factor times the previous batch's rows",
            {"column": "rows", "max_value": _p("max_rows")},
        ),
        lambda r, p: (
            f"{p['rows']:,} rows, more than {p['factor']:g}× the {p['previous_rows']:,} rows of batch "
            f"{p['previous_batch']} (limit {p['max_rows']:,}, validation.volume_spike_factor); if the export "
            f"is right, approve with `leadflow validation approve --date {p['batch']} --check "
            f"{RAW_CRM}.volume_spike --up-to {p['rows']}` and rerun"
        ),
    ),
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeBetween",
            "volume_drop",
            "the CRM holds at least validation.volume_drop_share of the previous batch's records",
            {"column": "rows", "min_value": _p("min_rows")},
        ),
        lambda r, p: (
            f"{p['rows']:,} records, fewer than {p['drop_share']:.0%} of the {p['previous_rows']:,} of batch "
            f"{p['previous_batch']} (at least {p['min_rows']:,}, validation.volume_drop_share): a truncated "
            f"export would mark the records it lacks deleted at the next reconciliation; if the CRM really "
            f"shrank, approve with `leadflow validation approve --date {p['batch']} --check "
            f"{RAW_CRM}.volume_drop --up-to {p['rows']}` and rerun"
        ),
    ),
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeBetween",
            "freshness",
            "the newest valid updated_at is at most validation.freshness_max_age_hours before the cutoff",
            {"column": "newest_updated_at", "min_value": _p("fresh_after")},
        ),
        lambda r, p: (
            f"newest updated_at is {p['newest_updated_at']}, older than {p['max_age_hours']:g} h before the "
            f"cutoff {p['cutoff']} (expected at or after {p['fresh_after'].isoformat()}, "
            f"validation.freshness_max_age_hours); the CRM export looks stale"
        ),
    ),
)

# --- raw events: identity resolution ---------------------------------------------------------------

RAW_EVENT_CHECKS: tuple[RunCheck, ...] = (
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeBetween",
            "lead_resolution",
            "at least validation.min_event_resolution_share of the valid events resolve to a known lead",
            {"column": "resolved_share", "min_value": _p("min_share")},
        ),
        lambda r, p: (
            f"{p['resolved']:,} of {p['events']:,} valid events ({100 * p['resolved_share']:.1f} %) resolve to "
            f"a known lead by crm_id or email; expected at least {100 * p['min_share']:.1f} % "
            f"(validation.min_event_resolution_share); check that the CRM batch landed and both sources use "
            f"the same ids"
        ),
    ),
)

# --- scores: one per lead, complete, in range, adding up, no jump ----------------------------------

SCORE_COLUMNS = ("fit_score", "engagement_score", "total_score", "fit_grade", "top_reasons", "rules_version")


def _unexpected(r: Mapping[str, Any], what: str) -> str:
    sample = ", ".join(repr(gx.jsonable(v)) for v in (r.get("partial_unexpected_list") or [])[:3])
    return f"{r.get('unexpected_count') or 0:,} {what}" + (f", e.g. {sample}" if sample else "")


def _present(column: str) -> RunCheck:
    return RunCheck(
        Expect("ExpectColumnValuesToNotBeNull", f"{column}_present", f"{column} is never null", {"column": column}),
        lambda r, p: _unexpected(r, f"scores have no {column}"),
    )


SCORE_CHECKS: tuple[RunCheck, ...] = (
    RunCheck(
        Expect(
            "ExpectTableRowCountToEqual",
            "one_per_lead",
            "the date has one score per lead in core.leads",
            {"value": _p("leads")},
        ),
        lambda r, p: f"{r.get('observed_value'):,} scores for {p['leads']:,} leads; expected one per lead",
    ),
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeUnique", "lead_unique", "no lead has two scores for the date", {"column": "lead_id"}
        ),
        lambda r, p: _unexpected(r, "scores share a lead_id with another score of the date"),
    ),
    *(_present(c) for c in SCORE_COLUMNS),
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeBetween",
            "total_in_range",
            "total_score is within the configured score range",
            {"column": "total_score", "min_value": _p("score_min"), "max_value": _p("score_max")},
        ),
        lambda r, p: (
            _unexpected(r, "totals")
            + f" outside the configured score range {p['score_min']:g}–{p['score_max']:g} (config/scoring.yml)"
        ),
    ),
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeBetween",
            "factors_add_up",
            "every lead's factors add up to its total (within 0.01)",
            {"column": "factor_gap", "max_value": 0.01},
        ),
        lambda r, p: _unexpected(r, "leads whose factors do not add up to their total; differences"),
    ),
    RunCheck(
        Expect(
            "ExpectColumnMeanToBeBetween",
            "mean_drift",
            "the mean total_score is within validation.max_score_mean_shift of the previous scored date",
            {"column": "total_score", "min_value": _p("mean_min"), "max_value": _p("mean_max")},
        ),
        lambda r, p: (
            f"mean total_score {r.get('observed_value'):.2f}, {p['previous_mean']:.2f} on {p['previous_date']}: "
            f"moved more than {p['max_shift']:g} points (validation.max_score_mean_shift); check recent changes "
            f"to config/scoring.yml and the events feed"
        ),
    ),
)

# --- transitions: allowed edges, bounded new hot leads ---------------------------------------------

TRANSITION_CHECKS: tuple[RunCheck, ...] = (
    RunCheck(
        Expect(
            "ExpectColumnValuesToBeNull",
            "allowed_edges",
            "every stage change follows an edge in lifecycle.allowed_transitions",
            {"column": "disallowed_edge"},
        ),
        lambda r, p: (
            "edges not allowed by the lifecycle: "
            + ", ".join(f"{c['value']} ({c['count']:,})" for c in r.get("partial_unexpected_counts") or [])
        ),
    ),
    RunCheck(
        Expect(
            "ExpectColumnSumToBeBetween",
            "new_hot_bounded",
            "at most max(validation.max_new_hot, validation.max_new_hot_share of the leads) enter hot",
            {"column": "enters_hot", "max_value": _p("max_new_hot")},
        ),
        lambda r, p: (
            f"{r.get('observed_value'):,} leads entered hot; expected at most {p['max_new_hot']:,} "
            f"(the larger of validation.max_new_hot {p['abs_limit']:,} and validation.max_new_hot_share "
            f"{100 * p['share_limit']:g} % of {p['leads']:,} leads); their owners would all be alerted. "
            f"If this is right, approve with `leadflow validation approve --date {p['batch']} --check "
            f"{TRANSITIONS}.new_hot_bounded --up-to {r.get('observed_value')}` and rerun this task"
        ),
    ),
)

GATES: dict[str, tuple[RunCheck, ...]] = {
    RAW_CRM: RAW_CRM_CHECKS,
    RAW_EVENTS: RAW_EVENT_CHECKS,
    SCORES: SCORE_CHECKS,
    TRANSITIONS: TRANSITION_CHECKS,
}


@cache
def suite(name: str) -> Any:
    """The gate's GX suite, built once per process."""
    return gx.build_suite(name, [c.expect for c in GATES[name]])


def suite_documents() -> dict[str, dict]:
    """Each run-level suite as GX stores it in a file context (`gx/expectations/<name>.json`)."""
    docs = {}
    for name in GATES:
        doc = suite(name).to_json_dict()
        doc["meta"] = {"generated_by": "python -m leadflow.validation.raw --write-suites"}
        docs[name] = doc
    return docs


# --- evaluation ------------------------------------------------------------------------------------


def evaluate(name: str, result: Any, parameters: Mapping[str, Any], *, where: str) -> list[dict]:
    """The described results of a run-level gate; RunAnomaly naming every failed check if any failed."""
    explain = {c.expect.check: c.explain for c in GATES[name]}
    described, failures = [], []
    for r in result.results:
        check = gx.check_of(r)
        item = gx.describe_result(r)
        item["details"]["parameters"] = gx.jsonable(parameters)  # what was compared, for ops.validation_results
        described.append(item)
        if not r.success and check is not None:
            failures.append(f"{check}: {explain[check](r.result, parameters)}")
    if failures:
        raise RunAnomaly(_message(name, where, failures), result=described)
    return described


def _message(name: str, where: str, failures: Sequence[str]) -> str:
    if len(failures) == 1:
        return f"{name}: {failures[0]} ({where})"
    return f"{name}: {len(failures)} checks failed ({where}):\n" + "\n".join(f"  - {f}" for f in failures)


def check_frame(name: str, frame: pd.DataFrame, parameters: Mapping[str, Any], *, where: str) -> list[dict]:
    """Run gate `name` over an in-memory frame (an aggregate row or a fetched day)."""
    gx_params = {k: v for k, v in parameters.items() if k in _PARAMETER_NAMES[name]}
    result = gx.run(name, frame, suite(name), parameters=gx_params, result_format="SUMMARY")
    return evaluate(name, result, parameters, where=where)


def check_day(
    wh: Warehouse, name: str, view: str, day: date, parameters: Mapping[str, Any], *, where: str
) -> list[dict]:
    """Run gate `name` over one as-of date of `view`: pushed down on PostgreSQL, via Arrow on DuckDB."""
    gx_params = {k: v for k, v in parameters.items() if k in _PARAMETER_NAMES[name]}
    if wh.dialect == "postgres":
        result = gx.run_sql(name, gx.sql_url(wh._raw), view, day, suite(name), parameters=gx_params)
    else:
        frame = wh.fetch_df(wh.model_sql("validation/day_rows.sql", relation=view), {"as_of_date": day.isoformat()})
        result = gx.run(name, frame, suite(name), parameters=gx_params, result_format="SUMMARY")
    return evaluate(name, result, parameters, where=where)


def _parameter_names(checks: Sequence[RunCheck]) -> frozenset[str]:
    names = set()
    for c in checks:
        for v in c.expect.kwargs.values():
            if isinstance(v, dict) and "$PARAMETER" in v:
                names.add(v["$PARAMETER"])
    return frozenset(names)


_PARAMETER_NAMES = {name: _parameter_names(checks) for name, checks in GATES.items()}


# --- the gates' parameters -------------------------------------------------------------------------


def raw_crm_parameters(
    cfg: ValidationSettings,
    *,
    batch: str,
    rows: int,
    newest: datetime | None,
    cutoff: datetime,
    previous: tuple[str, int] | None,
    approved: int | None,
    approved_drop: int | None = None,
) -> dict[str, Any]:
    """Everything the raw CRM run-level checks compare and say (`approved_drop`: the fewest records an
    operator accepted for this batch)."""
    previous_batch, previous_rows = previous or ("(none)", 0)
    max_rows = math.floor(previous_rows * cfg.volume_spike_factor) if previous else NO_LIMIT
    min_rows = math.ceil(previous_rows * cfg.volume_drop_share) if previous else 0
    if approved_drop is not None:
        min_rows = min(min_rows, approved_drop)
    fresh_after = cutoff - timedelta(hours=cfg.freshness_max_age_hours)
    return {
        "batch": batch,
        "rows": rows,
        "newest_updated_at": newest.isoformat() if newest is not None else None,
        "cutoff": cutoff.isoformat(),
        "fresh_after": fresh_after,
        "max_age_hours": cfg.freshness_max_age_hours,
        "previous_batch": previous_batch,
        "previous_rows": previous_rows,
        "factor": cfg.volume_spike_factor,
        "max_rows": max(max_rows, approved or 0),
        "drop_share": cfg.volume_drop_share,
        "min_rows": min_rows,
    }


def raw_crm_frame(rows: int, newest: datetime | None) -> pd.DataFrame:
    """The one-row aggregate the raw CRM run-level suite checks."""
    return pd.DataFrame({"rows": [rows], "newest_updated_at": pd.Series([newest], dtype="datetime64[us, UTC]")})


def resolution_parameters(cfg: ValidationSettings, *, events: int, resolved: int) -> dict[str, Any]:
    return {
        "events": events,
        "resolved": resolved,
        "resolved_share": resolved / events if events else None,
        "min_share": cfg.min_event_resolution_share,
    }


def resolution_frame(parameters: Mapping[str, Any]) -> pd.DataFrame:
    """The one-row aggregate the raw events run-level suite checks (no share when there are no events)."""
    return pd.DataFrame({"resolved_share": pd.Series([parameters["resolved_share"]], dtype="float64")})


def score_parameters(
    cfg: ValidationSettings,
    *,
    leads: int,
    score_min: float,
    score_max: float,
    previous_date: date | None,
    previous_mean: float | None,
) -> dict[str, Any]:
    has_previous = previous_date is not None and previous_mean is not None
    mean = float(previous_mean) if has_previous and previous_mean is not None else 0.0
    return {
        "leads": leads,
        "score_min": float(score_min),
        "score_max": float(score_max),
        "previous_date": previous_date.isoformat() if previous_date is not None else None,
        "previous_mean": mean,
        "max_shift": cfg.max_score_mean_shift,
        # without a previous date there is nothing to drift from
        "mean_min": mean - cfg.max_score_mean_shift if has_previous else -NO_LIMIT,
        "mean_max": mean + cfg.max_score_mean_shift if has_previous else NO_LIMIT,
    }


def transition_parameters(cfg: ValidationSettings, *, batch: str, leads: int, approved: int | None) -> dict[str, Any]:
    share = math.floor(cfg.max_new_hot_share * leads)
    return {
        "batch": batch,
        "leads": leads,
        "abs_limit": cfg.max_new_hot,
        "share_limit": cfg.max_new_hot_share,
        "max_new_hot": max(cfg.max_new_hot, share, approved or 0),
    }
