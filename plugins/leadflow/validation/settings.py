"""The limits of leadflow's run-level validation gates, as one validated schema with safe defaults.

Until the lead wires it under `validation:` in `config.py` / `config/leadflow.yml`, `of(settings)`
reads these defaults for every field the configured `ValidationConfig` does not have.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ValidationSettings(BaseModel):
    """Every gate's configurable limit; each run-level failure names the field to change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bad_share: float = Field(0.05, ge=0, le=1)
    """A run fails when more than this share of a raw batch's rows is quarantined."""
    chunk_rows: int = Field(100_000, ge=1)
    """Raw gates check a batch this many rows at a time: their memory follows it, not the batch size."""
    freshness_max_age_hours: float = Field(72, gt=0)
    """Raw CRM: the newest updated_at must be at most this many hours before the run's cutoff."""
    volume_spike_factor: float = Field(10, gt=1)
    """Raw CRM: a batch with more than this many times the previous batch's rows fails."""
    volume_drop_share: float = Field(0.5, gt=0, le=1)
    """Raw CRM: a CRM holding fewer than this share of the previous batch's records fails (a truncated
    export would otherwise mark the records it lacks deleted at the next reconciliation, ADR 0018)."""
    min_event_resolution_share: float = Field(0.8, ge=0, le=1)
    """Raw events: at least this share of the batch's valid events must resolve to a known lead."""
    max_score_mean_shift: float = Field(15, ge=0)
    """Scores: the mean total score may move at most this many points from the previous scored date."""
    max_new_hot: int = Field(200, ge=0)
    """Transitions: at most this many leads may enter `hot` in one run ..."""
    max_new_hot_share: float = Field(0.25, ge=0, le=1)
    """... or this share of all scored leads, whichever is larger."""


def of(settings: Any) -> ValidationSettings:
    """The validation limits of `settings` (a leadflow Settings), defaults for any it lacks."""
    configured = getattr(settings, "validation", None)
    if isinstance(configured, ValidationSettings):
        return configured
    dump = getattr(configured, "model_dump", None)
    fields: dict[str, Any] = dump() if callable(dump) else {}
    return ValidationSettings(**{k: v for k, v in fields.items() if k in ValidationSettings.model_fields})
