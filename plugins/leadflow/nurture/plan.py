"""Nurture planning: which emails are due (SQL), when each may go out (pure functions), the ledger rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leadflow.batches import cutoff, model_params
from leadflow.config import ConfigError, Settings, read_yaml
from leadflow.nurture.windows import SendWindow, next_slot, send_window, zone
from leadflow.warehouse import Warehouse


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    template: str
    delay_days: int = Field(ge=0)


class FrequencyCap(_Strict):
    max_per_7_days: int = Field(2, gt=0)
    min_days_apart: int = Field(2, ge=0)


TRACK_STAGES = ("cold", "warm", "recycled")  # hot leads get no marketing email: their owner is alerted
TRIGGER_KINDS = ("download_followup", "inactivity_reminder")
ALERT_LOOKBACK_DAYS = 7  # an owner alert of a missed run stays due this long
EXPIRY_GRACE_DAYS = 7  # a trigger past max_defer_days is recorded `expired` by a run within this many days


class Trigger(_Strict):
    """A one-off email: after one of `events` (the day after), or after `inactive_days` without a visit."""

    template: str
    events: list[str] = Field(default_factory=list)
    inactive_days: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_condition(self) -> Trigger:
        if bool(self.events) == (self.inactive_days is not None):
            raise ValueError("a trigger needs exactly one of `events` or `inactive_days`")
        return self


class OwnerAlert(_Strict):
    template: str


class Sequences(_Strict):
    """`config/sequences.yml`: one track of steps per stage, triggers, the owner alert and the cap."""

    frequency_cap: FrequencyCap = FrequencyCap()
    tracks: dict[str, list[Step]]
    triggers: dict[str, Trigger] = Field(default_factory=dict)
    owner_alert: OwnerAlert
    exit_crm_statuses: tuple[str, ...] = ("working", "qualified", "customer", "disqualified")
    """CRM statuses that end every track: sales got a reply or a meeting, or the lead is closed."""

    @model_validator(mode="after")
    def _known_tracks_and_triggers(self) -> Sequences:
        for track, steps in self.tracks.items():
            if track not in TRACK_STAGES:
                raise ValueError(f"tracks.{track}: not a nurtured stage (one of {', '.join(TRACK_STAGES)})")
            if not steps:
                raise ValueError(f"tracks.{track}: needs at least one step")
        for name, trigger in self.triggers.items():
            if name not in TRIGGER_KINDS:
                raise ValueError(f"triggers.{name}: unknown trigger (one of {', '.join(TRIGGER_KINDS)})")
            if (name == "inactivity_reminder") != (trigger.inactive_days is not None):
                raise ValueError(f"triggers.{name}: inactivity_reminder takes inactive_days, the others events")
        return self

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


def send_time(not_before: datetime, timezone: str, country: str | None, window: SendWindow) -> datetime:
    """The first business day's `send_hour` in the lead's zone at or after `not_before` (aware), in UTC."""
    return next_slot(not_before, ZoneInfo(timezone), country, window)


def within_cap(day: date, others: list[date], cap: FrequencyCap) -> bool:
    """May one more marketing email go out on `day`, given the lead's other send days?

    At least `min_days_apart` days from every other send, and at most `max_per_7_days` in every
    window of 7 consecutive days that contains `day`.
    """
    if any(abs((day - other).days) < cap.min_days_apart for other in others):
        return False
    for start in (day - timedelta(days=k) for k in range(7)):
        in_window = sum(1 for other in others if 0 <= (other - start).days < 7)
        if in_window + 1 > cap.max_per_7_days:
            return False
    return True


def capped_send_time(
    not_before: datetime,
    others: list[datetime],
    cap: FrequencyCap,
    timezone: str,
    country: str | None,
    window: SendWindow,
) -> datetime:
    """The first send slot at or after `not_before` that the frequency cap allows: a capped email is
    deferred to the next allowed business day, never dropped. `others` are the lead's other sends."""
    tz = ZoneInfo(timezone)
    other_days = [o.astimezone(tz).date() for o in others]
    candidate = send_time(not_before, timezone, country, window)
    for _ in range(60):  # the cap frees a day within every 7-day window
        day = candidate.astimezone(tz).date()
        if within_cap(day, other_days, cap):
            return candidate
        next_day = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
        candidate = send_time(next_day, timezone, country, window)
    raise ValueError(f"no send day within the frequency cap after {not_before}")


def install_sequences(wh: Warehouse, sequences: Sequences) -> None:
    """The tracks and trigger events as tables the planning SQL joins (`nurture.track_steps`, `trigger_events`)."""
    rows = [
        {"track": track, "step": n, "template": s.template, "delay_days": s.delay_days, "kind": "marketing"}
        for track, steps in sequences.tracks.items()
        for n, s in enumerate(steps, start=1)
    ]
    events = [
        {"trigger_name": name, "event_type": event}
        for name, trigger in sequences.triggers.items()
        for event in trigger.events
    ]
    exits = [{"crm_status": status} for status in sequences.exit_crm_statuses]
    wh.run_model("schema/05_nurture.sql")  # a warehouse created before these tables existed gets them
    with wh.transaction():
        wh.execute("delete from nurture.track_steps")
        wh.load_df("nurture.track_steps", pd.DataFrame(rows))
        wh.execute("delete from nurture.trigger_events")
        if events:
            wh.load_df("nurture.trigger_events", pd.DataFrame(events))
        wh.execute("delete from nurture.exit_statuses")
        if exits:
            wh.load_df("nurture.exit_statuses", pd.DataFrame(exits))


def _marketing_history(wh: Warehouse, lead_ids: list[str]) -> dict[str, list[datetime]]:
    """Each lead's marketing send times already in the ledger (anything not cancelled or refused)."""
    if not lead_ids:
        return {}
    frame = wh.fetch_df(wh.model_sql("nurture/marketing_history.sql"), {})
    history: dict[str, list[datetime]] = {}
    wanted = set(lead_ids)
    for lead_id, at in zip(frame["lead_id"], frame["send_at"], strict=True):
        if lead_id in wanted and at is not None and not pd.isna(at):
            history.setdefault(lead_id, []).append(pd.Timestamp(at).to_pydatetime())
    return history


def expiry_reason(track: str, due_on: date, max_defer_days: int) -> str:
    """Why a trigger email was never sent, as the ledger's `error` of an `expired` row."""
    return (
        f"expired: {track} due since {due_on} was held back (frequency cap) for "
        f"nurture.max_defer_days = {max_defer_days} days; never sent"
    )


def plan_sends(wh: Warehouse, settings: Settings, as_of: date, *, approve_up_to: int | None = None) -> dict:
    """Enrol leads, plan the emails due on `as_of` and add them to the ledger as `planned`, each at
    its lead's next send window; triggers held back past `max_defer_days` are recorded `expired`.

    Raises BlastRadiusExceeded (writing nothing) when more than the configured maximum is due.
    """
    sequences = load_sequences(settings.path(settings.sequences))
    window = send_window(settings.nurture)
    install_sequences(wh, sequences)
    download = sequences.triggers.get("download_followup")
    inactivity = sequences.triggers.get("inactivity_reminder")
    params = model_params(
        settings,
        as_of,
        max_per_7_days=sequences.frequency_cap.max_per_7_days,
        min_days_apart=sequences.frequency_cap.min_days_apart,
        trigger_template=download.template if download else "",
        lookback_days=ALERT_LOOKBACK_DAYS,
        max_defer_days=settings.nurture.max_defer_days,
        expiry_grace_days=EXPIRY_GRACE_DAYS,
        inactivity_template=inactivity.template if inactivity else "",
        inactive_days=inactivity.inactive_days if inactivity else 0,
        alert_template=sequences.owner_alert.template,
    )
    limit = approve_up_to or settings.nurture.max_emails_per_run
    with wh.transaction():
        wh.run_model("nurture/enrollments.sql", params)
        rows = wh.fetch_df(wh.model_sql("nurture/plan_sends.sql"), params)
        if not inactivity:
            rows = rows[rows["track"] != "inactivity_reminder"]
        due = rows[rows["status"] == "planned"].copy()
        expired = rows[rows["status"] == "expired"].copy()
        if len(due) > limit:
            raise BlastRadiusExceeded(
                f"plan_sends: {len(due):,} emails are due on {as_of}, more than the {limit:,} one run may send "
                f"(nurture.max_emails_per_run). Check the scores and stages first; to approve this run, "
                f"rerun with `leadflow nurture --date {as_of} --approve {len(due)}` or raise the limit."
            )
        not_before = cutoff(settings, as_of)
        marketing = due[due["kind"] == "marketing"]
        history = _marketing_history(wh, list(marketing["lead_id"]))
        cap = sequences.frequency_cap
        due["send_at"] = [
            capped_send_time(
                not_before,
                history.get(lead, []) if kind == "marketing" else [],
                cap,
                # the lead's own zone (an unknown one: the configured zone); owner alerts: the configured zone
                zone(tz if kind == "marketing" else None, settings.timezone).key,
                country if isinstance(country, str) and kind == "marketing" else None,
                window,
            )
            for lead, kind, tz, country in zip(
                due["lead_id"], due["kind"], due["timezone"], due["country"], strict=True
            )
        ]
        now = datetime.now(UTC)
        due["error"] = None
        due["finished_at"] = None
        expired["send_at"] = None
        expired["error"] = [
            expiry_reason(track, pd.Timestamp(on).date(), settings.nurture.max_defer_days)
            for track, on in zip(expired["track"], expired["due_on"], strict=True)
        ]
        expired["finished_at"] = now
        ledger = pd.concat([due, expired], ignore_index=True) if len(expired) else due
        ledger["as_of_date"] = as_of
        ledger["planned_at"] = now
        columns = [
            "send_key", "lead_id", "as_of_date", "track", "step", "enrolled_on", "template",
            "kind", "locale", "to_email", "status", "send_at", "planned_at", "error", "finished_at",
        ]  # fmt: skip
        if len(ledger):
            wh.load_df("nurture.email_sends", ledger.loc[:, columns])
    by_kind = due.groupby("track").size().to_dict() if len(due) else {}
    return {"planned": len(due), "by_track": {k: int(v) for k, v in by_kind.items()}, "expired": len(expired)}
