"""A run's batch key, cut-off and SQL parameters: shared by every step, so they live below all of them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from leadflow.config import Settings
from leadflow.privacy.keys import privacy_binds


def batch_id(as_of: date) -> str:
    """The batch key of a run: its as-of date."""
    return as_of.isoformat()


def cutoff(settings: Settings, as_of: date) -> datetime:
    """The end of the as-of day in the configured time zone: nothing after it belongs to the run."""
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=settings.tz)


def model_params(settings: Settings, as_of: date, **extra: object) -> dict[str, object]:
    """The binds every SQL model of a run gets: its as-of date, the configured time zone and the privacy
    key's halves (`m.erased`, `m.consented`)."""
    return {"as_of_date": as_of.isoformat(), "timezone": settings.timezone, **privacy_binds(), **extra}
