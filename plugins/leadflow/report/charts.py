"""The report's charts: Vega-Lite specifications (built with Vega-Altair) over the query results, data inline."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import altair as alt
import pandas as pd

from leadflow.report.text import column, t

STAGE_ORDER = ["cold", "warm", "hot", "sales_qualified", "customer", "recycled", "disqualified"]
STAGE_COLORS = ["#9aa5b1", "#f0b429", "#e12d39", "#2186eb", "#3ebd93", "#8662c7", "#52606d"]
SPAM_WARN, SPAM_BAD = 0.001, 0.003  # Gmail / Yahoo bulk-sender rules: stay below 0.1 %, never reach 0.3 %
BOUNCE_WARN, BOUNCE_BAD = 0.02, 0.05
HEIGHT = 260
FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")  # the container's width, a height per row


@dataclass
class Figure:
    """One chart of a page (or only a table when `spec` is None), with the rows it shows."""

    key: str  # chart id and CSV name
    title: str
    frame: pd.DataFrame
    spec: dict[str, Any] | None
    note: str = ""
    flags: dict[str, list[str]] = field(default_factory=dict)  # column -> per-row class (ok / warn / bad)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of `frame` as JSON-ready dicts (dates as ISO text, missing values as None)."""
    return [{k: _plain(v) for k, v in row.items()} for row in frame.astype(object).to_dict("records")]


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec = chart.to_dict()
    json.dumps(spec)  # fails here, not in the browser, on a value JSON cannot hold
    return spec


def _base(frame: pd.DataFrame) -> alt.Chart:
    return alt.Chart(alt.Data(values=records(frame))).properties(width="container", height=HEIGHT)


def _stage_color(locale: str) -> alt.Color:
    return alt.Color("stage:N", title=column(locale, "stage"), scale=alt.Scale(domain=STAGE_ORDER, range=STAGE_COLORS))


def stage_counts(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    return _spec(
        _base(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("night:T", title=column(locale, "night")),
            y=alt.Y("leads:Q", title=column(locale, "leads")),
            color=_stage_color(locale),
            tooltip=["night:T", "stage:N", "leads:Q"],
        )
    )


def transitions_weekly(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    return _spec(
        _base(frame)
        .transform_calculate(move="datum.from_stage + ' → ' + datum.to_stage")
        .mark_bar()
        .encode(
            x=alt.X("week:O", title=column(locale, "week")),
            y=alt.Y("transitions:Q", title=column(locale, "transitions")),
            color=alt.Color("move:N", title=column(locale, "transitions")),
            tooltip=["week:O", "move:N", "transitions:Q"],
        )
    )


def stage_conversion(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    return _spec(
        _base(frame)
        .mark_bar()
        .encode(
            x=alt.X("stage:N", sort=STAGE_ORDER, title=column(locale, "stage")),
            y=alt.Y("rate:Q", axis=alt.Axis(format="%"), title=column(locale, "rate")),
            color=_stage_color(locale),
            tooltip=["stage:N", "entered:Q", "moved_on:Q", alt.Tooltip("rate:Q", format=".1%"), "median_days:Q"],
        )
    )


def stage_by_dimension(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    return _spec(
        _base(frame)
        .mark_bar()
        .encode(
            y=alt.Y("value:N", title=None),
            x=alt.X("leads:Q", stack="normalize", axis=alt.Axis(format="%"), title=column(locale, "share")),
            color=_stage_color(locale),
            order=alt.Order("stage_rank:Q"),
            tooltip=["value:N", "stage:N", "leads:Q"],
        )
        .transform_calculate(stage_rank=f"indexof({json.dumps(STAGE_ORDER)}, datum.stage)")
        .properties(height=alt.Step(22), autosize=FIT_X)
    )


def calibration(frame: pd.DataFrame, locale: str, x: str, x_title: str) -> dict[str, Any]:
    base = _base(frame).encode(x=alt.X(f"{x}:O", title=x_title))
    rule = base.mark_rule(strokeWidth=2, color="#52606d").encode(
        y=alt.Y("ci_low:Q", axis=alt.Axis(format="%"), title=column(locale, "rate")), y2="ci_high:Q"
    )
    points = base.mark_circle(size=90, color="#2186eb").encode(
        y="rate:Q",
        tooltip=[
            f"{x}:O",
            "leads:Q",
            "converted:Q",
            alt.Tooltip("rate:Q", format=".1%"),
            alt.Tooltip("ci_low:Q", format=".1%"),
            alt.Tooltip("ci_high:Q", format=".1%"),
            alt.Tooltip("lift:Q", format=".2f"),
        ],
    )
    return _spec(alt.layer(rule, points).properties(width="container", height=HEIGHT))


def hot_rule_shares(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    label = f"label_{locale}"
    return _spec(
        _base(frame)
        .mark_bar(color="#e12d39")
        .encode(
            y=alt.Y(f"{label}:N", sort="-x", title=column(locale, "rule")),
            x=alt.X("share:Q", axis=alt.Axis(format="%"), title=column(locale, "share")),
            tooltip=[f"{label}:N", "points:Q", "leads:Q", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(height=alt.Step(22), autosize=FIT_X)
    )


def score_distribution(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    return _spec(
        _base(frame)
        .mark_bar()
        .encode(
            x=alt.X("bin_low:O", title=column(locale, "bin_low")),
            y=alt.Y("leads:Q", title=column(locale, "leads")),
            color=alt.condition("datum.clamp_spike", alt.value("#e12d39"), alt.value("#9aa5b1")),
            tooltip=["bin_low:O", "leads:Q", alt.Tooltip("share:Q", format=".1%")],
        )
    )


def email_rate(frame: pd.DataFrame, locale: str, measure: str, warn: float, bad: float) -> dict[str, Any]:
    """One rate (spam_rate or bounce_rate) per template, step and locale, coloured against its thresholds,
    which stand as dashed rules."""
    rows = pd.DataFrame(
        {
            "send": frame["template"] + " #" + frame["step"].astype(str) + " " + frame["locale"],
            "value": frame[measure].astype(float).fillna(0.0),
            "warn": warn,
            "bad": bad,
        }
    )
    base = alt.Chart(alt.Data(values=records(rows)))
    bars = (
        base.transform_calculate(flag="datum.value >= datum.bad ? 'bad' : datum.value >= datum.warn ? 'warn' : 'ok'")
        .mark_bar()
        .encode(
            y=alt.Y("send:N", title=None),
            x=alt.X("value:Q", axis=alt.Axis(format="%"), title=column(locale, measure)),
            color=alt.Color(
                "flag:N",
                scale=alt.Scale(domain=["ok", "warn", "bad"], range=["#3ebd93", "#f0b429", "#e12d39"]),
                legend=None,
            ),
            tooltip=["send:N", alt.Tooltip("value:Q", format=".2%")],
        )
    )
    warn_rule = base.mark_rule(color="#f0b429", strokeDash=[4, 3]).encode(x="warn:Q")
    bad_rule = base.mark_rule(color="#e12d39", strokeDash=[4, 3]).encode(x="bad:Q")
    return _spec(
        alt.layer(bars, warn_rule, bad_rule).properties(width="container", height=alt.Step(18), autosize=FIT_X)
    )


EMAIL_STEPS: list[Any] = ["planned", "sent", "delivered", "opened", "machine_opened", "clicked"]


def email_volumes(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    """Planned, sent, delivered, opened (a person), opened by a machine and clicked per template, step, locale."""
    return _spec(
        _base(frame)
        .transform_calculate(send="datum.template + ' #' + datum.step + ' ' + datum.locale")
        .transform_fold(EMAIL_STEPS, as_=["measure", "emails"])
        .mark_bar()
        .encode(
            y=alt.Y("send:N", title=None),
            yOffset=alt.YOffset("measure:N", sort=EMAIL_STEPS),
            x=alt.X("emails:Q", title=None),
            color=alt.Color("measure:N", sort=EMAIL_STEPS, title=None),
            tooltip=["send:N", "measure:N", "emails:Q"],
        )
        .properties(height=alt.Step(6), autosize=FIT_X)
    )


def speed_to_lead(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    return _spec(
        _base(frame)
        .mark_bar(color="#2186eb")
        .encode(
            y=alt.Y("owner_email:N", title=column(locale, "owner_email")),
            x=alt.X("median_minutes:Q", title=column(locale, "median_minutes")),
            tooltip=["owner_email:N", "hand_raises:Q", "alerted:Q", "median_minutes:Q", "p90_minutes:Q"],
        )
        .properties(height=alt.Step(24), autosize=FIT_X)
    )


def quarantine_daily(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    return _spec(
        _base(frame)
        .transform_calculate(what="datum.source + ': ' + datum.reason")
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=column(locale, "day")),
            y=alt.Y("rows_quarantined:Q", title=column(locale, "rows_quarantined")),
            color=alt.Color("what:N", title=column(locale, "reason")),
            tooltip=["day:T", "source:N", "reason:N", "rows_quarantined:Q"],
        )
    )


def validation_outcomes(frame: pd.DataFrame, locale: str) -> dict[str, Any]:
    return _spec(
        _base(frame)
        .transform_fold(["passed", "failed"], as_=["outcome", "runs"])
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=column(locale, "day")),
            y=alt.Y("runs:Q", title=column(locale, "validation")),
            color=alt.Color(
                "outcome:N", scale=alt.Scale(domain=["passed", "failed"], range=["#3ebd93", "#e12d39"]), title=None
            ),
            tooltip=["day:T", "validation:N", "passed:Q", "failed:Q"],
        )
    )


def rate_flags(values: pd.Series, warn: float, bad: float) -> list[str]:
    """Each rate's class: 'bad' at or above `bad`, 'warn' at or above `warn`, else 'ok' ('' when missing)."""
    return ["" if pd.isna(v) else "bad" if v >= bad else "warn" if v >= warn else "ok" for v in values]


def figures(data: dict[str, pd.DataFrame], locale: str, page: str) -> list[Figure]:
    """The figures of `page` in `locale` from the query results `data`."""
    if page == "funnel":
        dims = data["stage_by_dimension"]
        return [
            Figure(
                "stage_counts", t(locale, "stage_counts"), data["stage_counts"],
                stage_counts(data["stage_counts"], locale), t(locale, "stage_counts_note"),
            ),
            Figure(
                "transitions_weekly", t(locale, "transitions_weekly"), data["transitions_weekly"],
                transitions_weekly(data["transitions_weekly"], locale), t(locale, "transitions_weekly_note"),
            ),
            Figure(
                "stage_conversion", t(locale, "stage_conversion"), data["stage_conversion"],
                stage_conversion(data["stage_conversion"], locale), t(locale, "stage_conversion_note"),
            ),
            *(
                Figure(
                    f"stage_by_{dim}", t(locale, f"by_{dim}"), part,
                    stage_by_dimension(part, locale),
                )
                for dim in ("lead_source", "industry", "fit_grade")
                for part in [dims[dims["dimension"] == dim].reset_index(drop=True)]
            ),
        ]  # fmt: skip
    if page == "calibration":
        bands = data["calibration_bands"]
        grades = data["calibration_grades"]
        dist = data["score_distribution"]
        return [
            Figure(
                "calibration_bands", t(locale, "calibration_bands"), bands,
                calibration(bands, locale, "band_low", column(locale, "band")), t(locale, "calibration_bands_note"),
            ),
            Figure(
                "calibration_grades", t(locale, "calibration_grades"), grades,
                calibration(grades, locale, "fit_grade", column(locale, "fit_grade")),
            ),
            Figure(
                "hot_rule_shares", t(locale, "hot_rule_shares"), data["hot_rule_shares"],
                hot_rule_shares(data["hot_rule_shares"], locale), t(locale, "hot_rule_shares_note"),
            ),
            Figure(
                "score_distribution", t(locale, "score_distribution"), dist,
                score_distribution(dist, locale), t(locale, "score_distribution_note"),
                flags={"clamp_spike": ["bad" if bool(v) else "" for v in dist["clamp_spike"]]},
            ),
        ]  # fmt: skip
    if page == "email":
        perf = data["email_performance"]
        flags = {
            "spam_rate": rate_flags(perf["spam_rate"], SPAM_WARN, SPAM_BAD),
            "bounce_rate": rate_flags(perf["bounce_rate"], BOUNCE_WARN, BOUNCE_BAD),
        }
        return [
            Figure(
                "email_volumes", t(locale, "email_performance"), perf, email_volumes(perf, locale), flags=flags,
            ),
            Figure(
                "email_spam_rate", t(locale, "email_spam_rate"), perf,
                email_rate(perf, locale, "spam_rate", SPAM_WARN, SPAM_BAD), t(locale, "email_note"), flags=flags,
            ),
            Figure(
                "email_bounce_rate", t(locale, "email_bounce_rate"), perf,
                email_rate(perf, locale, "bounce_rate", BOUNCE_WARN, BOUNCE_BAD), flags=flags,
            ),
        ]  # fmt: skip
    if page == "speed":
        speed = data["speed_to_lead"]
        return [
            Figure("speed_to_lead", t(locale, "speed_to_lead"), speed, speed_to_lead(speed, locale),
                   t(locale, "speed_note")),
        ]  # fmt: skip
    if page == "health":
        return [
            Figure(
                "quarantine_daily", t(locale, "quarantine_daily"), data["quarantine_daily"],
                quarantine_daily(data["quarantine_daily"], locale),
            ),
            Figure(
                "validation_outcomes", t(locale, "validation_outcomes"), data["validation_outcomes"],
                validation_outcomes(data["validation_outcomes"], locale), t(locale, "health_note"),
            ),
        ]  # fmt: skip
    raise ValueError(f"unknown report page {page!r}")
