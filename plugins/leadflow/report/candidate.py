"""The calibration page for candidate scoring rules (`leadflow report --rules NEW.yml`): the same cohort and
outcomes as the report, scored with the candidate rules inside a transaction that is rolled back."""

from __future__ import annotations

from datetime import date

import pandas as pd

from leadflow.batches import model_params
from leadflow.config import Settings
from leadflow.report.queries import ReportWindow, run_query
from leadflow.scoring import ScoringRules, install_rules, key_events, run_scoring_models
from leadflow.warehouse import Warehouse

CALIBRATION_QUERIES = (
    "calibration_summary",
    "calibration_bands",
    "calibration_grades",
    "hot_rule_shares",
    "score_distribution",
)
"""The queries of the calibration page: all the candidate rules change."""


def candidate_calibration(
    wh: Warehouse, settings: Settings, rules: ScoringRules, window: ReportWindow
) -> dict[str, pd.DataFrame]:
    """The calibration queries' rows with the cohort night and the as-of night rescored by `rules`; the
    stages (who converted, who is hot) stay what the nights recorded. Writes nothing."""
    cohort = wh.scalar(
        "select max(as_of_date) from scoring.lead_scores where as_of_date <= cast(:c as date)"
        " and as_of_date < cast(:a as date)",
        {"c": window.cohort_date, "a": window.as_of},
    )
    nights = sorted({window.as_of, *([date.fromisoformat(str(cohort)[:10])] if cohort else [])})
    data: dict[str, pd.DataFrame] = {}
    with wh.rolled_back("the candidate calibration"):
        install_rules(wh, rules)
        for night in nights:
            key_events(wh, settings, night)
            run_scoring_models(wh, model_params(settings, night))
        data = {name: run_query(wh, name, window) for name in CALIBRATION_QUERIES}
    return data
