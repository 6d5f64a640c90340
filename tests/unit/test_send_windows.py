"""Send windows as pure functions: business hours in the lead's own zone, weekends, the holiday
calendars `holiday_countries` names, and where a passed slot goes — each expected value explained."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadflow.config import ConfigError, NurtureConfig
from leadflow.nurture.windows import (
    SendWindow,
    deliver_at,
    holiday_calendar,
    in_window,
    is_business_day,
    next_slot,
    send_window,
    zone,
)

WINDOW = SendWindow(start=9, end=18, send_hour=10, holiday_countries=("JP", "US"))
TOKYO, NEW_YORK, LONDON = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York"), ZoneInfo("Europe/London")


def at(local: str, tz: ZoneInfo = TOKYO) -> datetime:
    """A local wall-clock time ('2026-11-18 23:00') in `tz`, as an aware datetime in UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=tz).astimezone(UTC)


NY_1130 = at("2026-11-18 11:30", NEW_YORK)


@pytest.mark.parametrize(
    ("country", "holiday_countries", "calendar"),
    [
        ("JP", ("JP", "US"), "JP"),  # listed: the lead's own calendar
        ("us", ("JP", "US"), "US"),  # CRM values in any case
        ("GB", ("JP", "US"), None),  # not listed: weekends only, no guessing at another calendar
        (None, ("JP", "US"), "JP"),  # no country: the home (first listed) country, like the zone fallback
        ("  ", ("US", "JP"), "US"),  # blank is no country; the first listed is the home country
        ("JP", (), None),  # nothing listed: weekends only for everyone
    ],
)
def test_holiday_calendar_semantics(country, holiday_countries, calendar):
    assert holiday_calendar(country, SendWindow(9, 18, 10, holiday_countries)) == calendar


@pytest.mark.parametrize(
    ("day", "country", "business"),
    [
        (date(2026, 11, 23), "JP", False),  # 勤労感謝の日, a Monday holiday in Japan
        (date(2026, 11, 23), "US", True),  # an ordinary Monday in the US
        (date(2026, 11, 26), "US", False),  # Thanksgiving
        (date(2026, 11, 26), "JP", True),  # not a Japanese holiday
        (date(2026, 11, 23), "GB", True),  # GB is not in holiday_countries: weekends only
        (date(2026, 11, 21), "GB", False),  # Saturday
        (date(2026, 11, 23), None, False),  # no country: the home calendar (JP)
    ],
)
def test_is_business_day(day, country, business):
    assert is_business_day(day, country, WINDOW) is business


@pytest.mark.parametrize(
    ("moment", "tz", "country", "inside"),
    [
        (at("2026-11-18 09:00"), TOKYO, "JP", True),  # the window opens at 9 (inclusive)
        (at("2026-11-18 17:59"), TOKYO, "JP", True),
        (at("2026-11-18 18:00"), TOKYO, "JP", False),  # ... and closes at 18 (exclusive)
        (at("2026-11-18 08:59"), TOKYO, "JP", False),
        (at("2026-11-23 11:00"), TOKYO, "JP", False),  # a holiday has no window
        (
            at("2026-11-18 11:00", NEW_YORK),
            NEW_YORK,
            "US",
            True,
        ),  # 11:00 in New York is 01:00 in Tokyo: the lead's zone counts
    ],
)
def test_in_window(moment, tz, country, inside):
    assert in_window(moment, tz, country, WINDOW) is inside


@pytest.mark.parametrize(
    ("slot", "now", "tz", "country", "expected"),
    [
        # A run at 23:00 local for a slot of that day (10:00, passed): the next business morning.
        (at("2026-11-18 10:00"), at("2026-11-18 23:00"), TOKYO, "JP", at("2026-11-19 10:00")),
        # Friday evening: Monday morning.
        (at("2026-11-13 10:00"), at("2026-11-13 19:30"), TOKYO, "JP", at("2026-11-16 10:00")),
        # Friday evening before 勤労感謝の日 (Monday 2026-11-23): Tuesday morning.
        (at("2026-11-20 10:00"), at("2026-11-20 19:30"), TOKYO, "JP", at("2026-11-24 10:00")),
        # A rerun on the holiday itself, inside clock hours: still the next business day.
        (at("2026-11-20 10:00"), at("2026-11-23 11:00"), TOKYO, "JP", at("2026-11-24 10:00")),
        # After midnight, before the window opens: the same day's send hour.
        (at("2026-11-18 10:00"), at("2026-11-19 02:00"), TOKYO, "JP", at("2026-11-19 10:00")),
        # A passed slot seen inside the window goes at once: now is a business hour.
        (at("2026-11-18 10:00"), at("2026-11-18 15:00"), TOKYO, "JP", at("2026-11-18 15:00")),
        # A slot still ahead (and inside the window) is kept.
        (at("2026-11-19 10:00"), at("2026-11-18 23:00"), TOKYO, "JP", at("2026-11-19 10:00")),
        # A slot ahead but outside the window (hours changed since planning): that window's send hour.
        (at("2026-11-19 20:00"), at("2026-11-18 23:00"), TOKYO, "JP", at("2026-11-20 10:00")),
        # No slot at all: as a passed one.
        (None, at("2026-11-18 23:00"), TOKYO, "JP", at("2026-11-19 10:00")),
        # A US lead gets its own window: 10:00 in Tokyo on Wednesday is Tuesday 20:00 in New York,
        # past its window, so Wednesday 10:00 EST (15:00 UTC), not Tokyo's business hours.
        (at("2026-11-18 10:00"), at("2026-11-18 10:00"), NEW_YORK, "US", at("2026-11-18 10:00", NEW_YORK)),
        # ... and inside its own window it goes at once, while Tokyo sleeps (01:30 JST).
        (
            at("2026-11-17 10:00", NEW_YORK),
            at("2026-11-18 11:30", NEW_YORK),
            NEW_YORK,
            "US",
            at("2026-11-18 11:30", NEW_YORK),
        ),
        # Thanksgiving evening in New York: Friday morning (the US calendar, not Japan's).
        (None, at("2026-11-25 19:00", NEW_YORK), NEW_YORK, "US", at("2026-11-27 10:00", NEW_YORK)),
        # A London lead (GB not listed): weekends only, so the Monday after a Friday evening.
        (None, at("2026-11-20 18:30", LONDON), LONDON, "GB", at("2026-11-23 10:00", LONDON)),
        # The DST change in New York (1 Nov 2026, a Sunday): Monday 10:00 EST, not EDT.
        (None, at("2026-10-31 12:00", NEW_YORK), NEW_YORK, "US", datetime(2026, 11, 2, 15, tzinfo=UTC)),
    ],
)
def test_deliver_at(slot, now, tz, country, expected):
    assert deliver_at(slot, now, tz, country, WINDOW) == expected


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    ahead=st.one_of(st.none(), st.integers(min_value=-20_000, max_value=20_000)),
    place=st.sampled_from([("Asia/Tokyo", "JP"), ("America/New_York", "US"), ("Europe/London", "GB")]),
)
def test_deliver_at_is_never_outside_a_window_nor_in_the_past(now, ahead, place):
    """Whatever the clock and the slot: never between a window's end and its start, never before now,
    and never later than needed (a slot moved lands on the first business day's send hour)."""
    tz, country = ZoneInfo(place[0]), place[1]
    slot = None if ahead is None else now + timedelta(minutes=ahead)
    got = deliver_at(slot, now, tz, country, WINDOW)
    assert got >= now
    assert in_window(got, tz, country, WINDOW)
    if slot is not None and slot > now and in_window(slot, tz, country, WINDOW):
        assert got == slot
    elif got != now:
        moved_from = slot if slot is not None and slot > now else now
        assert got.astimezone(tz).hour == WINDOW.send_hour and got - moved_from < timedelta(days=10)


def test_next_slot_needs_an_aware_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot(datetime(2026, 11, 18, 10), TOKYO, "JP", WINDOW)


def test_an_unknown_or_missing_zone_falls_back_to_the_configured_one():
    assert zone("America/New_York", "Asia/Tokyo") == NEW_YORK
    assert zone(None, "Asia/Tokyo") == TOKYO
    assert zone("Mars/Olympus_Mons", "Asia/Tokyo") == TOKYO


def test_the_window_comes_from_the_nurture_config():
    assert send_window(NurtureConfig(business_hours=(8, 20), send_hour=9, holiday_countries=("us", "jp"))) == (
        SendWindow(8, 20, 9, ("US", "JP"))
    )


def test_a_holiday_country_without_a_calendar_is_a_config_error():
    with pytest.raises(ConfigError, match="nurture.holiday_countries: no public-holiday calendar for XX"):
        send_window(NurtureConfig(holiday_countries=("JP", "XX")))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"business_hours": (18, 9)}, "need 0 <= start < end <= 24"),
        ({"business_hours": (9, 18), "send_hour": 20}, "send_hour 20 is outside business_hours 9-18"),
        ({"holiday_countries": ("Japan",)}, "not ISO 3166-1 alpha-2"),
        ({"max_defer_days": 3}, "greater than or equal to 7"),  # shorter than the cap's own week
    ],
)
def test_invalid_nurture_settings_are_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        NurtureConfig(**values)
