"""What a CRM sink is: the fields write-back sends, and what a sink reports back.

Below both the write-back step and the sinks (HubSpot, SQL, files), which import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

FIELDS = ("lead_score", "lead_fit_grade", "lead_stage", "lead_score_reasons", "lead_heating_up", "lead_email_opt_out")
"""The fields compared between runs (their hash decides what changed)."""
WRITE_BACK_FIELDS = (*FIELDS, "lead_scored_at")
"""The fields a sink writes: the compared ones and when they were scored (the as-of day's end)."""


class CrmWriteBackFailed(RuntimeError):
    """The sink could not use the CRM at all (unreachable, misconfigured): the task fails and is retried."""


@dataclass(frozen=True)
class WriteResult:
    """What a sink wrote: the crm_ids it accepted and those it did not (retried on the next run), and
    `error` when the CRM could not be used at all (bad token, unreachable): that fails the task."""

    written: list[str]
    failed: dict[str, str] = field(default_factory=dict)
    error: str | None = None


class CrmSink(Protocol):
    """A CRM we write fields to; it reports refused records instead of raising for them."""

    def write(self, changes: pd.DataFrame, scored_at: datetime) -> WriteResult: ...
