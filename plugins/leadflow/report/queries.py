"""The report's figures: each `sql/report/` query run for one as-of date, as DataFrames."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from leadflow.warehouse import Warehouse

QUERIES = (
    "headline",
    "stage_counts",
    "transitions_weekly",
    "stage_conversion",
    "stage_by_dimension",
    "calibration_summary",
    "calibration_bands",
    "calibration_grades",
    "hot_rule_shares",
    "score_distribution",
    "email_performance",
    "speed_to_lead",
    "quarantine_daily",
    "validation_outcomes",
)
"""Every query of `sql/report/`, by file name."""


@dataclass(frozen=True)
class ReportWindow:
    """What a report covers: the as-of date, the weeks of history before it, and the calibration lag."""

    as_of: date
    weeks: int = 8
    calibration_days: int = 30
    timezone: str = "Asia/Tokyo"

    def __post_init__(self) -> None:
        if self.weeks < 1:
            raise ValueError(f"--weeks must be at least 1, got {self.weeks}")
        if self.calibration_days < 1:
            raise ValueError(f"--calibration-days must be at least 1, got {self.calibration_days}")

    @property
    def start_date(self) -> date:
        return self.as_of - timedelta(days=7 * self.weeks - 1)

    @property
    def cohort_date(self) -> date:
        return self.as_of - timedelta(days=self.calibration_days)

    def params(self) -> dict[str, object]:
        """The bind parameters every report query takes (each uses those it names)."""
        return {
            "as_of": self.as_of,
            "start_date": self.start_date,
            "cohort_date": self.cohort_date,
            "timezone": self.timezone,
        }


def run_query(wh: Warehouse, name: str, window: ReportWindow) -> pd.DataFrame:
    """The rows of `sql/report/<name>.sql` for `window`."""
    return wh.fetch_df(wh.model_sql(f"report/{name}.sql"), window.params())


def collect(wh: Warehouse, window: ReportWindow) -> dict[str, pd.DataFrame]:
    """Every report query's rows for `window`, by query name."""
    return {name: run_query(wh, name, window) for name in QUERIES}
