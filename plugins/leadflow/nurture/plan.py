"""Nurture planning: which emails are due (SQL), when each may go out (pure functions), the ledger rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadflow.config import ConfigError, Settings, read_yaml
from leadflow.warehouse import Warehouse


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    template: str
    delay_days: int = Field(ge=0)


class FrequencyCap(_Strict):
    max_per_7_days: int = Field(2, gt=0)
    min_days_apart: int = Field(2, ge=0)


class Trigger(_Strict):
    template: str
    events: list[str]


class OwnerAlert(_Strict):
    template: str


class Sequences(_Strict):
    """`config/sequences.yml`: one track of steps per stage, triggers, the owner alert and the cap."""

    frequency_cap: FrequencyCap = FrequencyCap()
    tracks: dict[str, list[Step]]
    triggers: dict[str, Trigger] = Field(default_factory=dict)
    owner_alert: OwnerAlert

    def templates(self) -> set[str]:
        names = {s.template for steps in self.tracks.values() for s in steps}
        return names | {t.template for t in self.triggers.values()} | {self.owner_alert.template}


def load_sequences(path: Path) -> Sequences:
    try:
        return Sequences.model_validate(read_yaml(path))
    except ValidationError as exc:
        lines = [f"{path}: invalid sequences"]
        lines += [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


class BlastRadiusExceeded(RuntimeError):
    """More emails were planned than one run may send."""


@cache
def _holiday_calendar(country: str) -> holidays.HolidayBase | None:
    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        return None


def is_business_day(day: date, country: str | None) -> bool:
    """A weekday that is not a public holiday in `country` (when we know its calendar)."""
    if day.weekday() >= 5:
        return False
    calendar = _holiday_calendar(country.upper()) if country else None
    return calendar is None or day not in calendar


def send_time(not_before: datetime, timezone: str, country: str | None, send_hour: int) -> datetime:
    """The first business-day `send_hour` o'clock in the lead's zone at or after `not_before` (aware)."""
    tz = ZoneInfo(timezone)
    local = not_before.astimezone(tz)
    day = local.date()
    for _ in range(30):  # there is always a business day within a month
        candidate = datetime.combine(day, time(send_hour), tzinfo=tz)
        if candidate >= local and is_business_day(day, country):
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError(f"no business day within 30 days after {not_before} in {country}")


def install_sequences(wh: Warehouse, sequences: Sequences) -> None:
    rows = [
        {"track": track, "step": n, "template": s.template, "delay_days": s.delay_days, "kind": "marketing"}
        for track, steps in sequences.tracks.items()
        for n, s in enumerate(steps, start=1)
    ]
    with wh.transaction():
        wh.execute("delete from nurture.track_steps")
        wh.load_df("nurture.track_steps", pd.DataFrame(rows))


def plan_sends(wh: Warehouse, settings: Settings, as_of: date, *, approve_up_to: int | None = None) -> dict:
    """Enrol leads, plan the emails due on `as_of` and add them to the ledger as `planned`.

    Raises BlastRadiusExceeded (writing nothing) when more than the configured maximum is due.
    """
    from leadflow.pipeline import cutoff, model_params

    sequences = load_sequences(settings.path(settings.sequences))
    install_sequences(wh, sequences)
    trigger = sequences.triggers.get("download_followup")
    params = model_params(
        settings,
        as_of,
        max_per_7_days=sequences.frequency_cap.max_per_7_days,
        min_days_apart=sequences.frequency_cap.min_days_apart,
        trigger_template=trigger.template if trigger else "",
        alert_template=sequences.owner_alert.template,
    )
    limit = approve_up_to or settings.nurture.max_emails_per_run
    with wh.transaction():
        wh.run_model("nurture/enrollments.sql", params)
        due = wh.fetch_df(wh.model_sql("nurture/plan_sends.sql"), params)
        if not trigger:
            due = due[due["track"] != "download_followup"]
        if len(due) > limit:
            raise BlastRadiusExceeded(
                f"plan_sends: {len(due):,} emails are due on {as_of}, more than the {limit:,} one run may send "
                f"(nurture.max_emails_per_run). Check the scores and stages first; to approve this run, "
                f"rerun with `leadflow nurture --date {as_of} --approve {len(due)}` or raise the limit."
            )
        not_before = cutoff(settings, as_of)
        due["send_at"] = [
            send_time(not_before, tz, country if isinstance(country, str) else None, settings.nurture.send_hour)
            for tz, country in zip(due["timezone"], due["country"], strict=True)
        ]
        due["as_of_date"] = as_of
        due["status"] = "planned"
        due["planned_at"] = datetime.now(UTC)
        columns = [
            "send_key", "lead_id", "as_of_date", "track", "step", "enrolled_on", "template",
            "kind", "locale", "to_email", "status", "send_at", "planned_at",
        ]  # fmt: skip
        wh.load_df("nurture.email_sends", due.loc[:, columns])
    by_kind = due.groupby("track").size().to_dict() if len(due) else {}
    return {"planned": len(due), "by_track": {k: int(v) for k, v in by_kind.items()}}
