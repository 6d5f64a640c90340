"""The nightly steps in their order: the one list that the `leadflow_nightly` DAG's tasks and
`backfill.night_steps` (the CLI's `leadflow run`, backfills, replays and tests) are built from.

A step names its DAG task, the key of its summary in `leadflow run`'s output, and the library function
that does it as `module:function`, so the DAG file imports no library code when it is parsed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import date

    from leadflow.config import Settings
    from leadflow.warehouse import Warehouse

__all__ = ["NIGHT_STEPS", "NightStep"]


@dataclass(frozen=True)
class NightStep:
    """One step of a night: `function(wh, settings, as_of, *args)` returns its summary (a dict)."""

    task_id: str  # the DAG's task id: users, alerts and `airflow tasks` refer to it
    key: str  # its summary's key in `leadflow run` / `run_nightly`
    function: str  # "module:function"
    args: tuple[str, ...] = ()

    def __call__(self, wh: Warehouse, settings: Settings, as_of: date) -> Any:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)(wh, settings, as_of, *self.args)


NIGHT_STEPS: tuple[NightStep, ...] = (
    NightStep("extract_crm", "extract_crm", "leadflow.pipeline:extract", ("crm",)),
    NightStep("validate_raw_crm", "validate_crm", "leadflow.pipeline:validate_raw", ("crm",)),
    NightStep("extract_web", "extract_web", "leadflow.pipeline:extract", ("web",)),
    NightStep("validate_raw_events", "validate_web", "leadflow.pipeline:validate_raw", ("web",)),
    NightStep("build_core", "stage_core", "leadflow.pipeline:stage_core"),
    NightStep("score_leads", "score", "leadflow.pipeline:score"),
    NightStep("validate_scores", "check_scores", "leadflow.pipeline:check_scores"),
    NightStep("advance_stages", "advance_stages", "leadflow.pipeline:advance_stages"),
    NightStep("validate_transitions", "check_transitions", "leadflow.pipeline:check_transitions"),
)
