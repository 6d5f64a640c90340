"""Send windows: when an email may go out in its recipient's local business hours (pure functions).

A window is `[start, end)` o'clock local time on a business day: a weekday that is not a public
holiday of the calendar that applies to the recipient (`holiday_calendar`). Emails are planned for
`send_hour` of the first business day after the run's cutoff; at send time an email whose slot has
passed goes out at once only inside its window, otherwise at the next business day's `send_hour` —
never between the window's end and the next start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from leadflow.config import ConfigError, NurtureConfig

MAX_DAYS_TO_NEXT_WINDOW = 31  # no calendar has a month without a business day


@dataclass(frozen=True)
class SendWindow:
    """Local business hours `[start, end)`, the hour emails are planned for, and the holiday
    calendars that apply (the first one is the home country's)."""

    start: int
    end: int
    send_hour: int
    holiday_countries: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= 24:
            raise ValueError(f"business hours {self.start}-{self.end}: need 0 <= start < end <= 24")
        if not self.start <= self.send_hour < self.end:
            raise ValueError(f"send_hour {self.send_hour} is outside business hours {self.start}-{self.end}")

    @property
    def home_country(self) -> str | None:
        return self.holiday_countries[0] if self.holiday_countries else None


def send_window(nurture: NurtureConfig) -> SendWindow:
    """The window of `nurture.business_hours`, `send_hour` and `holiday_countries`, or ConfigError
    naming a country whose calendar the `holidays` package does not have."""
    supported = holidays.list_supported_countries()
    unknown = [c for c in nurture.holiday_countries if c not in supported]
    if unknown:
        raise ConfigError(
            f"nurture.holiday_countries: no public-holiday calendar for {', '.join(unknown)} "
            "(use ISO 3166-1 alpha-2 codes the `holidays` package supports, e.g. JP, US, GB)"
        )
    start, end = nurture.business_hours
    return SendWindow(start, end, nurture.send_hour, tuple(nurture.holiday_countries))


def holiday_calendar(country: str | None, window: SendWindow) -> str | None:
    """The country whose public holidays a recipient in `country` is spared: its own when listed in
    `holiday_countries`, the home (first listed) country when the recipient has no country, and
    none (weekends only) for a country not listed."""
    if not country or not country.strip():
        return window.home_country
    code = country.strip().upper()
    return code if code in window.holiday_countries else None


@cache
def _calendar(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def is_business_day(day: date, country: str | None, window: SendWindow) -> bool:
    """A weekday that is not a public holiday of the calendar that applies to `country`."""
    if day.weekday() >= 5:
        return False
    calendar = holiday_calendar(country, window)
    return calendar is None or day not in _calendar(calendar)


def zone(timezone: str | None, fallback: str) -> ZoneInfo:
    """The recipient's time zone, or `fallback` (the configured zone) when it has none or an unknown one."""
    if timezone:
        try:
            return ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(fallback)


def in_window(at: datetime, tz: ZoneInfo, country: str | None, window: SendWindow) -> bool:
    """Whether `at` (aware) falls inside the recipient's business hours on a business day."""
    local = at.astimezone(tz)
    return is_business_day(local.date(), country, window) and window.start <= local.hour < window.end


def next_slot(not_before: datetime, tz: ZoneInfo, country: str | None, window: SendWindow) -> datetime:
    """The first business day's `send_hour` (local) at or after `not_before` (aware), in UTC."""
    if not_before.utcoffset() is None:
        raise ValueError("not_before must be timezone-aware")
    day = not_before.astimezone(tz).date()
    for _ in range(MAX_DAYS_TO_NEXT_WINDOW):
        candidate = datetime.combine(day, time(window.send_hour), tzinfo=tz)
        if candidate >= not_before and is_business_day(day, country, window):
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError(f"no business day within {MAX_DAYS_TO_NEXT_WINDOW} days after {not_before} ({country})")


def deliver_at(slot: datetime | None, now: datetime, tz: ZoneInfo, country: str | None, window: SendWindow) -> datetime:
    """When a planned email may go out, seen at `now`: its slot while that is still ahead (and in a
    window); `now` when the slot has passed and `now` is inside the window; otherwise the next
    window's `send_hour` — a late night, a weekend or a rerun never delivers outside business hours."""
    if slot is not None and slot > now:
        return slot if in_window(slot, tz, country, window) else next_slot(slot, tz, country, window)
    if in_window(now, tz, country, window):
        return now
    return next_slot(now, tz, country, window)
