"""Realistic, deterministic sample data in the file-drop format: CRM exports and one web-event file per day.

The same (leads, days, seed, end_date, bad_share) always gives byte-identical files. Leads are drawn from
personas (students, small shops, mid-size buyers, enterprise decision makers) whose attributes and
behaviour differ the way a marketing team would expect; a `bad_share` of rows and events is broken on
purpose so validation and quarantine have something to catch.

By default one CRM export, dated `end_date`, holds every lead as it stands at the end of the window.
With `daily`, a CRM export per day holds the CRM as it stood at the end of that day (see `_History`):
leads created later are absent, and crm_status, BANT and owner change on the day they changed, so the
nightly pipeline can run every day of the range in order.

Events are generated vectorised per chunk of leads, spilled to temporary files once they get large, and
written day by day in batches, so memory stays bounded for tens of millions of events.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from leadflow.vocabulary import CRM_COLUMNS, CRM_STATUSES, EVENT_TYPES

__all__ = ["CRM_COLUMNS", "EVENT_TYPES", "GenerationSummary", "generate"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _tuples(value: Any) -> Any:
    """`value` with every list turned into a tuple, so vocabulary reads as the constants it replaces."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _vocabulary(name: str) -> dict[str, Any]:
    """One file of the generator's vocabulary (names, companies, site content), shipped as package data."""
    text = resources.files("leadflow.demo").joinpath("vocabulary", name).read_text(encoding="utf-8")
    return _tuples(yaml.safe_load(text))


_PEOPLE = _vocabulary("people.yml")
_COMPANIES = _vocabulary("companies.yml")
_SITE = _vocabulary("site.yml")

DAY = 86_400
HOUR = 3_600
FILE_TIMEZONE = "Asia/Tokyo"  # files are cut by calendar day in this zone (the default `timezone`)
SITE = "https://leadflow.example"

(
    PAGE_VIEW,
    PRICING_VIEW,
    CASE_STUDY,
    WHITEPAPER,
    WEBINAR_REGISTERED,
    WEBINAR_ATTENDED,
    EMAIL_OPEN,
    EMAIL_CLICK,
    CONTACT_FORM,
    QUOTE_REQUEST,
    DEMO_REQUEST,
) = range(len(EVENT_TYPES))
UNKNOWN_EVENT_TYPES = ("page_veiw", "scroll_depth", "chat_started")
FORM_TYPES = (WEBINAR_REGISTERED, CONTACT_FORM, QUOTE_REQUEST, DEMO_REQUEST)

INDUSTRIES: tuple[str, ...] = _COMPANIES["industries"]
EDUCATION, GOVERNMENT = INDUSTRIES.index("education"), INDUSTRIES.index("government")
LEAD_SOURCES: tuple[str, ...] = _COMPANIES["lead_sources"]
STATUSES = CRM_STATUSES
NEW, WORKING, NURTURING, QUALIFIED, CUSTOMER, DISQUALIFIED = range(len(STATUSES))
OWNERS: tuple[str, ...] = _COMPANIES["owners"]

ZONES = (
    "Asia/Tokyo",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Singapore",
    "Australia/Sydney",
)
ZONE_STANDARD_OFFSET = np.array([9, -5, -8, 0, 8, 10], dtype=np.int64) * HOUR
DST_ZONES = (1, 2, 3, 5)
COUNTRIES = ("JP", "US", "GB", "SG", "AU")
JP, US, GB, SG, AU = range(len(COUNTRIES))
EN_COUNTRY_SHARE = (0.5, 0.2, 0.15, 0.15)  # of English leads: US, GB, SG, AU
COUNTRY_ZONE = (0, 1, 3, 4, 5)  # US leads are split between New York and Los Angeles below

STUDENT, SMALL_SHOP, MID_SIZE, ENTERPRISE = range(4)
PERSONA_SHARE = (0.12, 0.28, 0.42, 0.18)
JA_SHARE = 0.6

# Events per 180 days of a lead's life (before follow-ups); a lead lives from created_at to end_date.
EVENT_RATE = np.array([10.0, 24.0, 46.0, 52.0])
ENGAGEMENT_SHAPE = np.array([1.2, 2.0, 3.0, 3.0])  # gamma shape of the per-lead multiplier (mean 1)
EVENT_MIX = np.array(  # rows sum to 1; hand-raising here is rare and mostly long ago (see HAND_RAISER_SHARE)
    [
        # view  price case  paper reg   att  open  click  cont   quote  demo
        [0.56, 0.03, 0.02, 0.16, 0.06, 0.0, 0.17, 0.0, 0.0, 0.0, 0.0],  # student
        [0.434, 0.08, 0.05, 0.07, 0.05, 0.0, 0.31, 0.0, 0.004, 0.002, 0.0],  # small shop
        [0.365, 0.08, 0.08, 0.10, 0.07, 0.0, 0.30, 0.0, 0.003, 0.0, 0.002],  # mid-size
        [0.315, 0.07, 0.10, 0.10, 0.08, 0.0, 0.33, 0.0, 0.002, 0.0, 0.003],  # enterprise
    ]
)
ATTEND_SHARE = np.array([0.4, 0.6, 0.7, 0.7])  # registrations followed by attendance
CLICK_SHARE = np.array([0.08, 0.2, 0.25, 0.3])  # email opens followed by a click
HAND_RAISE_MIX = np.array([[1.0, 0, 0], [0.6, 0.4, 0], [0.3, 0.2, 0.5], [0.1, 0.3, 0.6]])  # contact, quote, demo
HEATING_SHARE = 0.45  # of enterprise leads old enough: pricing/case studies accelerate at the end
HEATING_EXTRA_EVENTS = 9.0
HEATING_DAYS = 21
HEATING_HAND_RAISERS = 0.35
HAND_RAISER_SHARE = np.array([0.005, 0.02, 0.035, 0.03])  # plus HEATING_HAND_RAISERS of heating leads
SILENT_SHARE = 0.12
EMAIL_ONLY_SHARE = 0.10
BASE_EVENTS_PER_LEAD = 20.8  # measured mean over 180 days at activity 1.0 (100k leads, seed 7)
OPT_IN_SHARE = 0.85

# Local hour-of-day weights: office workers in business hours, students in the evening.
BUSINESS_HOURS = np.array([0, 0, 0, 0, 0, 0, 0.2, 0.6, 2, 5, 8, 8, 5, 6, 8, 8, 7, 5, 2.5, 1.5, 1.2, 0.8, 0.4, 0.1])
STUDENT_HOURS = np.array([1, 0.5, 0.2, 0, 0, 0, 0, 0.3, 0.6, 1, 1.5, 2, 2.5, 2, 2, 2, 2, 2.5, 3, 3.5, 4, 4, 3.5, 2])
WEEKEND_STAY = (0.45, 0.08)  # share of weekend activity kept: students, everyone else

# Name pools, (kanji, romaji) for Japanese ones, and company name parts: the vocabulary files.
JA_FAMILY: tuple[tuple[str, str], ...] = _PEOPLE["ja_family_names"]
JA_GIVEN: tuple[tuple[str, str], ...] = _PEOPLE["ja_given_names"]
EN_FIRST: tuple[str, ...] = _PEOPLE["en_first_names"]
EN_LAST: tuple[str, ...] = _PEOPLE["en_last_names"]
JA_STEMS: tuple[tuple[str, str], ...] = _COMPANIES["ja_stems"]
JA_KINDS = tuple((name, ascii_, INDUSTRIES.index(ind)) for name, ascii_, ind in _COMPANIES["ja_kinds"])
JA_CITIES: tuple[tuple[str, str], ...] = _COMPANIES["ja_cities"]
EN_STEMS: tuple[str, ...] = _COMPANIES["en_stems"]
EN_KINDS = tuple((name, INDUSTRIES.index(ind)) for name, ind in _COMPANIES["en_kinds"])
EN_LEGAL: tuple[str, ...] = _COMPANIES["en_legal"]  # by country
EN_TLD: tuple[str, ...] = _COMPANIES["en_tld"]
EN_GOV_TLD: tuple[str, ...] = _COMPANIES["en_gov_tld"]
JA_SHOPS = tuple((name, ascii_, INDUSTRIES.index(ind)) for name, ascii_, ind in _COMPANIES["ja_shops"])
EN_SHOPS = tuple((name, ascii_, INDUSTRIES.index(ind)) for name, ascii_, ind in _COMPANIES["en_shops"])
JA_FREE_MAIL, JA_FREE_MAIL_SHARE = zip(*_COMPANIES["ja_free_mail"], strict=True)
EN_FREE_MAIL, EN_FREE_MAIL_SHARE = zip(*_COMPANIES["en_free_mail"], strict=True)
SMALL_SHOP_FREE_MAIL = 0.55

JOB_TITLES: dict[tuple[int, int], tuple[tuple[str, float], ...]] = {  # (locale, persona): title, weight
    (locale, persona): _PEOPLE["job_titles"][locale_name][persona_name]
    for locale, locale_name in enumerate(("ja", "en"))
    for persona, persona_name in enumerate(("student", "small_shop", "mid_size", "enterprise"))
}
LEAD_SOURCE_MIX = np.array(
    [
        [0.55, 0.15, 0.25, 0.03, 0.02],
        [0.40, 0.35, 0.10, 0.05, 0.10],
        [0.30, 0.25, 0.25, 0.12, 0.08],
        [0.15, 0.10, 0.25, 0.30, 0.20],
    ]
)
STATUS_MIX = np.array(
    [
        [0.60, 0.00, 0.25, 0.00, 0.00, 0.15],
        [0.45, 0.05, 0.40, 0.00, 0.04, 0.06],
        [0.42, 0.06, 0.44, 0.01, 0.04, 0.03],
        [0.38, 0.10, 0.42, 0.03, 0.04, 0.03],
    ]
)

# Site content and campaigns (the catalogue of `_catalogue`).
BLOG_SLUGS: tuple[str, ...] = _SITE["blog_slugs"]
CASE_STUDY_SLUGS: tuple[str, ...] = _SITE["case_study_slugs"]
WHITEPAPER_SLUGS: tuple[str, ...] = _SITE["whitepaper_slugs"]
WEBINAR_SLUGS: tuple[str, ...] = _SITE["webinar_slugs"]
CAMPAIGNS: tuple[tuple[str, str], ...] = _SITE["campaigns"]  # campaign, the page its main link leads to
UTM_SOURCES: tuple[tuple[str, float], ...] = _SITE["utm_sources"]

# Deliberately broken CRM rows and events; cycled so every kind appears once there are enough.
BAD_CRM_KINDS = (
    "email_double_at",
    "email_na",
    "email_empty",
    "duplicate_crm_id",
    "script_name",
    "template_name",
    "crlf_company",
)
BAD_EVENT_KINDS = ("unknown_event_type", "naive_timestamp", "future_timestamp", "missing_event_id")
BAD_UNKNOWN_TYPE, BAD_NAIVE, BAD_FUTURE, BAD_NO_ID = range(1, len(BAD_EVENT_KINDS) + 1)

LEAD_CHUNK = 25_000  # leads per event-generation chunk (fixed: output must not depend on memory)
SPILL_BYTES = 64 << 20  # keep generated events in memory up to this size, then spill them to raw files
WRITE_BATCH = 100_000  # event lines formatted at once
EVENT_DTYPE = np.dtype(
    [
        ("ts", "<i8"),  # UTC epoch seconds
        ("lead", "<i4"),  # row in the lead table
        ("off", "<i2"),  # UTC offset of the lead's zone at ts, in minutes
        ("content", "<i2"),  # entry in the site catalogue (url + properties)
        ("etype", "i1"),  # EVENT_TYPES index, or len(EVENT_TYPES) + i for UNKNOWN_EVENT_TYPES[i]
        ("ident", "i1"),  # 0 crm_id, 1 crm_id + email, 2 email only, 3 email only, cased differently
        ("bad", "i1"),  # 0, or a BAD_* kind
        ("day", "<i2"),  # file index in the window (Asia/Tokyo calendar day)
    ]
)


@dataclass(frozen=True)
class GenerationSummary:
    """What one `generate` call wrote: CRM rows, event lines and the files holding them."""

    leads: int
    events: int
    crm_files: list[Path]
    web_files: list[Path]
    crm_rows: int = 0  # rows over every CRM file (one file: leads)


@dataclass(frozen=True)
class _Catalogue:
    """Every (url, properties) an event can carry, as JSON fragments, with per-type ranges and weights."""

    url_json: pa.Array
    props_json: pa.Array
    start: IntArray  # first entry of each event type
    weights: tuple[npt.NDArray[np.float64], ...]  # per event type, over its entries


@dataclass
class _Leads:
    """The lead table: one row per CRM row, plus hidden behaviour that drives the lead's events."""

    n: int
    crm_num: IntArray
    persona: IntArray
    locale: IntArray
    country: IntArray
    zone: IntArray
    first_name: pa.Array
    last_name: pa.Array
    company: pa.Array
    industry: IntArray
    employees: IntArray  # -1 when unknown
    job_title: pa.Array
    lead_source: IntArray
    owner: IntArray
    opt_in: BoolArray
    bant: npt.NDArray[np.int8]  # (n, 4): 0 empty, 1 true, 2 false
    status: IntArray
    created: IntArray
    updated: IntArray
    crm_email: pa.Array  # as the CRM holds it (case, spaces, broken values)
    email: pa.Array  # the person's real address, lower case: what web forms send
    start: IntArray  # first and last second the lead can be active
    stop: IntArray
    engagement: npt.NDArray[np.float64]
    heating: BoolArray
    hand_raiser: BoolArray
    active: BoolArray  # False for duplicate rows: they get no events of their own


@dataclass(frozen=True)
class _Drivers:
    """What event generation needs of the lead table (the CRM-only columns are dropped once written)."""

    n: int
    crm_num: IntArray
    persona: IntArray
    zone: IntArray
    opt_in: BoolArray
    email: pa.Array
    start: IntArray
    stop: IntArray
    engagement: npt.NDArray[np.float64]
    heating: BoolArray
    hand_raiser: BoolArray
    active: BoolArray

    @classmethod
    def of(cls, t: _Leads) -> _Drivers:
        return cls(**{f: getattr(t, f) for f in cls.__dataclass_fields__})


def generate(
    out_dir: Path,
    *,
    leads: int,
    days: int,
    seed: int,
    end_date: date,
    bad_share: float = 0.005,
    activity: float = 1.0,
    daily: bool = False,
    daily_from: date | None = None,
    timezone: str = FILE_TIMEZONE,
    progress: Callable[[str, int, int], None] | None = None,
) -> GenerationSummary:
    """Write `crm/leads_<end_date>.csv` and `web/events_<day>.jsonl` for the `days` days ending at `end_date`.

    `activity` scales every lead's steady event rate (1.0 gives about BASE_EVENTS_PER_LEAD events per
    lead over 180 days; 2.5 about 50); heating-up and hand-raising bursts are not scaled.

    With `daily` (or a `daily_from`), also `crm/leads_<day>.csv` for every day from `daily_from`
    (default: `default_daily_from`) to `end_date`, each the CRM as it stood at the end of that day.
    The event files and the `end_date` export are the same with or without `daily`.

    Days are calendar days in `timezone` (the pipeline's configured zone: `events_<day>.jsonl` holds
    exactly the events a night of that as-of date covers); each lead's timestamps carry its own zone.
    `progress(phase, done, total)` hears of each chunk of leads ("leads") and day file ("days") done.
    """
    if leads < 0 or days < 1:
        raise ValueError(f"need leads >= 0 and days >= 1, got leads={leads}, days={days}")
    if not activity > 0:
        raise ValueError(f"activity must be above 0, got {activity}")
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError(f"bad_share must be within [0, 1], got {bad_share}")
    first_day = end_date - timedelta(days=days - 1)
    if daily_from is not None and not first_day <= daily_from <= end_date:
        raise ValueError(f"daily_from must lie within the window {first_day} .. {end_date}, got {daily_from}")
    out_dir = Path(out_dir)
    crm_dir, web_dir = out_dir / "crm", out_dir / "web"
    crm_dir.mkdir(parents=True, exist_ok=True)
    web_dir.mkdir(parents=True, exist_ok=True)

    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError, OSError):
        raise ValueError(f"timezone must be an IANA time zone such as Asia/Tokyo, got {timezone!r}") from None
    midnights = _midnights(first_day, days, zone)
    window_start = int(midnights[0])
    window_stop = int(midnights[-1]) - 1  # last second of end_date in the files' time zone

    table = _make_leads(leads, seed, window_start, window_stop, bad_share, days)
    crm_path = crm_dir / f"leads_{end_date.isoformat()}.csv"
    _write_crm(crm_path, table)
    crm_files, crm_rows = [crm_path], table.n
    if daily or daily_from is not None:
        history = _History.of(table, np.random.default_rng([seed, 4]))
        start = daily_from or default_daily_from(table.created, first_day, midnights)
        written = []
        for day in range((start - first_day).days, days - 1):
            snapshot = history.at(table, int(midnights[day + 1]) - 1)
            path = crm_dir / f"leads_{(first_day + timedelta(days=day)).isoformat()}.csv"
            _write_crm(path, table, snapshot)
            written.append(path)
            crm_rows += len(snapshot.rows)
        crm_files = [*written, crm_path]
    drivers = _Drivers.of(table)
    del table
    _release_arrow_memory()

    catalogue = _catalogue()
    web_files = [web_dir / f"events_{(first_day + timedelta(days=d)).isoformat()}.jsonl" for d in range(days)]
    with tempfile.TemporaryDirectory(prefix=".generate-", dir=out_dir) as spill_dir:
        chunks: list[np.ndarray | Path] = []
        bounds: list[IntArray] = []  # per chunk, where each file day starts
        in_memory = 0
        for index, lo in enumerate(range(0, drivers.n, LEAD_CHUNK)):
            rng = np.random.default_rng([seed, 2, index])
            hi = min(lo + LEAD_CHUNK, drivers.n)
            events = _chunk_events(drivers, lo, hi, rng, catalogue, midnights, bad_share, activity)
            bounds.append(np.searchsorted(events["day"], np.arange(days + 1)))
            _release_arrow_memory()
            if in_memory + events.nbytes <= SPILL_BYTES:
                in_memory += events.nbytes
                chunks.append(events)
            else:  # raw records, read back a day at a time (a memory map would keep them all resident)
                path = Path(spill_dir) / f"chunk_{index:05d}.bin"
                events.tofile(path)
                chunks.append(path)
            if progress:
                progress("leads", hi, drivers.n)
        total = _write_event_files(web_files, chunks, bounds, drivers, catalogue, seed, progress)
    return GenerationSummary(leads=drivers.n, events=total, crm_files=crm_files, web_files=web_files, crm_rows=crm_rows)


DAILY_BASE_SHARE = 0.1
"""By default daily exports start on the first day by whose end this share of the leads exists."""


def default_daily_from(created: IntArray, first_day: date, midnights: IntArray) -> date:
    """The first day whose CRM holds at least DAILY_BASE_SHARE of the leads (the first day without leads).

    Earlier nights would run on a CRM of a handful of leads: one broken row is then more than the
    5 % a batch may lose, and the next day's growth looks like a volume spike to the CRM gate."""
    if len(created) == 0:
        return first_day
    need = max(1, int(np.ceil(DAILY_BASE_SHARE * len(created))))
    by_day_end = np.searchsorted(np.sort(created), midnights[1:] - 1, side="right")
    day = int(np.searchsorted(by_day_end, need))
    return first_day + timedelta(days=min(day, len(midnights) - 2))


def _midnights(first_day: date, days: int, zone: ZoneInfo) -> IntArray:
    """UTC epoch seconds of the local midnights starting each day of the window, and the one after it
    (as the pipeline's cutoff computes them)."""
    days_of = (first_day + timedelta(days=d) for d in range(days + 1))
    return np.array([int(datetime.combine(d, time.min, tzinfo=zone).timestamp()) for d in days_of], dtype=np.int64)


@dataclass(frozen=True)
class _Snapshot:
    """The CRM at one instant: which rows exist, and the fields that change over time (full length)."""

    rows: IntArray
    status: IntArray
    bant: npt.NDArray[np.int8]
    owner: IntArray
    updated: IntArray


NEVER = np.iinfo(np.int64).max
REASSIGNED_SHARE = 0.15  # leads handed from one owner to another during their life


@dataclass(frozen=True)
class _History:
    """How each CRM row reached its final state: every lead enters as 'new', without BANT, some with
    another owner; each change that leads to its final values happens at its own instant between
    created_at and updated_at (the last edit, a touch if nothing else). Qualified, customer and
    disqualified leads pass through 'working' first. A duplicate row (the lead entered twice) exists
    from its own updated_at, as it is at the end."""

    visible: IntArray  # first instant the row exists
    working_at: IntArray  # when the lead went to 'working' on its way (NEVER: it did not)
    status_at: IntArray  # when the final crm_status was set
    bant_at: IntArray  # when BANT took its final values (before: all empty)
    owner_at: IntArray  # when the final owner took over from first_owner
    first_owner: IntArray

    @classmethod
    def of(cls, t: _Leads, rng: np.random.Generator) -> _History:
        n = t.n
        span = (t.updated - t.created).astype(np.float64)
        u = np.sort(rng.random((n, 2)), axis=1)
        at = t.created[:, None] + (np.column_stack([u, rng.random((n, 2))]) * span[:, None]).astype(np.int64)
        via_working = np.isin(t.status, (QUALIFIED, CUSTOMER, DISQUALIFIED))
        reassigned = rng.random(n) < REASSIGNED_SHARE
        ja_owner = t.owner < 4
        other = np.where(ja_owner, (t.owner + 1 + rng.integers(3, size=n)) % 4, 4 + (t.owner - 3) % 2)
        duplicate = ~t.active
        unchanged = t.created  # a change at created_at is the lead's initial value
        return cls(
            visible=np.where(duplicate, t.updated, t.created),
            working_at=np.where(via_working & ~duplicate, at[:, 0], NEVER),
            status_at=np.where((t.status != NEW) & ~duplicate, at[:, 1], unchanged),
            bant_at=np.where((t.bant != 0).any(axis=1) & ~duplicate, at[:, 2], unchanged),
            owner_at=np.where(reassigned & ~duplicate, at[:, 3], unchanged),
            first_owner=np.where(reassigned, other, t.owner),
        )

    def at(self, t: _Leads, instant: int) -> _Snapshot:
        """The CRM as it stood at `instant` (UTC epoch seconds)."""
        status = np.where(self.status_at <= instant, t.status, np.where(self.working_at <= instant, WORKING, NEW))
        changes = np.column_stack([t.created, self.working_at, self.status_at, self.bant_at, self.owner_at, t.updated])
        updated = np.where(changes <= instant, changes, t.created[:, None]).max(axis=1)
        return _Snapshot(
            rows=np.flatnonzero(self.visible <= instant),
            status=status,
            bant=np.where((self.bant_at <= instant)[:, None], t.bant, 0).astype(np.int8),
            owner=np.where(self.owner_at <= instant, t.owner, self.first_owner),
            updated=updated,
        )


# --- the lead table -------------------------------------------------------------------------------


def _make_leads(n: int, seed: int, window_start: int, window_stop: int, bad_share: float, days: int) -> _Leads:
    rng = np.random.default_rng([seed, 1])
    persona = rng.choice(4, size=n, p=PERSONA_SHARE)
    locale = (rng.random(n) >= JA_SHARE).astype(np.int64)  # 0 ja, 1 en
    country = np.where(locale == 0, JP, 1 + rng.choice(4, size=n, p=EN_COUNTRY_SHARE))
    zone = np.asarray(COUNTRY_ZONE)[country]
    zone = np.where((country == US) & (rng.random(n) < 0.4), 2, zone)

    # Behaviour first: it decides how old a lead must be.
    silent_gap = 90 if days >= 120 else max(1, days // 3)
    heating = (persona == ENTERPRISE) & (rng.random(n) < HEATING_SHARE) & (days >= 35)
    hand_raiser = (rng.random(n) < HAND_RAISER_SHARE[persona]) | (heating & (rng.random(n) < HEATING_HAND_RAISERS))
    silent = ~heating & ~hand_raiser & (persona != STUDENT) & (rng.random(n) < SILENT_SHARE) & (days >= 14)

    latest = np.full(n, window_stop - DAY // 2)
    latest = np.where(heating, window_stop - 4 * 7 * DAY, latest)
    latest = np.where(silent, window_stop - silent_gap * DAY - 14 * DAY, latest)
    latest = np.maximum(latest, window_start)
    created = window_start + (rng.random(n) * (latest - window_start)).astype(np.int64)
    created = _clamp(_snap_to_local_hours(created, zone, persona == STUDENT, rng), window_start, latest)
    order = np.argsort(created, kind="stable")  # CRM ids grow with creation time

    def by_created(a: np.ndarray) -> np.ndarray:
        return a[order]

    persona, locale, country, zone = map(by_created, (persona, locale, country, zone))
    heating, hand_raiser, silent, created = map(by_created, (heating, hand_raiser, silent, created))
    crm_num = np.arange(1, n + 1, dtype=np.int64)
    stop = np.where(silent, window_stop - silent_gap * DAY, window_stop)
    stop = np.maximum(stop, created)
    updated = created + (rng.beta(2.0, 1.0, size=n) * (window_stop - created)).astype(np.int64)

    ja = locale == 0
    family = rng.integers(len(JA_FAMILY), size=n)
    given = rng.integers(len(JA_GIVEN), size=n)
    en_first = rng.integers(len(EN_FIRST), size=n)
    en_last = rng.integers(len(EN_LAST), size=n)
    first_name = _pick(ja, _col(JA_GIVEN, 0), given, list(EN_FIRST), en_first)
    last_name = _pick(ja, _col(JA_FAMILY, 0), family, list(EN_LAST), en_last)
    first_ascii = _pick(ja, _col(JA_GIVEN, 1), given, [s.lower() for s in EN_FIRST], en_first)
    last_ascii = _pick(ja, _col(JA_FAMILY, 1), family, [s.lower().replace("'", "") for s in EN_LAST], en_last)

    company, domain, industry, employees = _companies(rng, persona, country, last_name, last_ascii)
    _release_arrow_memory()
    free_mail = (persona == STUDENT) | ((persona == SMALL_SHOP) & (rng.random(n) < SMALL_SHOP_FREE_MAIL))
    email = _emails(rng, ja, free_mail, first_ascii, last_ascii, domain)

    _release_arrow_memory()
    job_title = _job_titles(rng, locale, persona)
    lead_source = _choice_by_group(rng, persona, LEAD_SOURCE_MIX)
    owner = np.where(ja, rng.choice(4, size=n, p=(0.3, 0.3, 0.2, 0.2)), 4 + rng.integers(2, size=n))
    opt_in = rng.random(n) < OPT_IN_SHARE

    # BANT is mostly unknown; sales confirmed 3-4 items for some heating hand-raisers, a few items for others.
    confirmed = rng.random((n, 4)) < np.where(rng.random(n) < 0.5, 1.0, 0.75)[:, None]
    hot = heating & hand_raiser & (confirmed.sum(axis=1) >= 3)
    bant = np.where(hot[:, None] & confirmed, 1, 0).astype(np.int8)
    partial = ~hot & (persona >= MID_SIZE) & (rng.random(n) < 0.15)
    partial_values = rng.choice(3, size=(n, 4), p=(0.6, 0.25, 0.15)).astype(np.int8)
    partial_values[np.cumsum(partial_values == 1, axis=1) > 2] = 2  # at most two confirmed: not yet qualified
    bant = np.where(partial[:, None], partial_values, bant)

    status = _choice_by_group(rng, persona, STATUS_MIX)
    raised = hand_raiser & ~hot
    status = np.where(raised, rng.choice([WORKING, NEW, NURTURING], size=n, p=(0.6, 0.3, 0.1)), status)
    status = np.where(hot, np.where(rng.random(n) < 0.6, QUALIFIED, WORKING), status)

    table = _Leads(
        n=n,
        crm_num=crm_num,
        persona=persona,
        locale=locale,
        country=country,
        zone=zone,
        first_name=first_name,
        last_name=last_name,
        company=company,
        industry=industry,
        employees=employees,
        job_title=job_title,
        lead_source=lead_source,
        owner=owner,
        opt_in=opt_in,
        bant=bant,
        status=status,
        created=created,
        updated=updated,
        crm_email=_crm_spelling(rng, email),
        email=email,
        start=created,
        stop=stop,
        engagement=rng.gamma(ENGAGEMENT_SHAPE[persona], 1.0 / ENGAGEMENT_SHAPE[persona]),
        heating=heating,
        hand_raiser=hand_raiser,
        active=np.ones(n, dtype=bool),
    )
    _break_leads(table, rng, bad_share, window_stop)
    _release_arrow_memory()
    return table


def _release_arrow_memory() -> None:
    """Hand memory Arrow's allocator keeps for reuse back to the system, so peak RSS tracks live data."""
    pa.default_memory_pool().release_unused()


def _col(pairs: Sequence[tuple], i: int) -> list[str]:
    return [p[i] for p in pairs]


def _pick(
    mask: BoolArray, when_true: list[str], true_idx: IntArray, when_false: list[str], false_idx: IntArray
) -> pa.Array:
    """Per row, `when_true[true_idx]` where mask holds, else `when_false[false_idx]`."""
    a = pa.array(when_true).take(pa.array(true_idx))
    b = pa.array(when_false).take(pa.array(false_idx))
    return pc.if_else(pa.array(mask), a, b)


def _choice_by_group(rng: np.random.Generator, group: IntArray, mix: np.ndarray) -> IntArray:
    """One draw per row from the row of `mix` (weights) selected by `group`."""
    cdf = np.cumsum(mix, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(len(group))
    out = np.zeros(len(group), dtype=np.int64)
    for g in range(len(mix)):
        rows = np.flatnonzero(group == g)
        out[rows] = np.searchsorted(cdf[g], u[rows], side="right")
    return np.minimum(out, mix.shape[1] - 1)


def _companies(
    rng: np.random.Generator, persona: IntArray, country: IntArray, last_name: pa.Array, last_ascii: pa.Array
) -> tuple[pa.Array, pa.Array, IntArray, IntArray]:
    """Company name, e-mail domain, industry and head-count per lead (head-count -1 for students)."""
    n = len(persona)
    # Mid-size and enterprise leads work for a pool of companies per country, several leads per company.
    pool_name: list[str] = []
    pool_domain: list[str] = []
    pool_industry: list[int] = []
    pool_heads: list[IntArray] = []
    company = np.zeros(n, dtype=np.int64)
    for c in range(len(COUNTRIES)):
        pool = _company_pool(c)
        base = len(pool_name)
        pool_name += [x[0] for x in pool]
        pool_domain += [x[1] for x in pool]
        pool_industry += [x[2] for x in pool]
        perm = rng.permutation(len(pool))
        ent = np.flatnonzero((persona == ENTERPRISE) & (country == c))
        mid = np.flatnonzero((persona == MID_SIZE) & (country == c))
        n_ent = int(np.clip(-(-len(ent) // 4), 1, len(pool) // 3))
        n_mid = int(np.clip(-(-len(mid) // 2), 1, len(pool) - n_ent))
        company[ent] = base + perm[:n_ent][rng.integers(n_ent, size=len(ent))]
        company[mid] = base + perm[n_ent : n_ent + n_mid][rng.integers(n_mid, size=len(mid))]
        heads = np.exp(rng.uniform(np.log(50), np.log(500), size=len(pool)))
        big = np.round(np.exp(rng.uniform(np.log(1000), np.log(80000), size=len(pool))), -2)  # rounded, as reported
        heads[perm[:n_ent]] = big[perm[:n_ent]]
        pool_heads.append(heads.astype(np.int64))
    corporate = pa.array(company)
    industry = np.asarray(pool_industry, dtype=np.int64)[company]
    employees = np.concatenate(pool_heads)[company]
    name = pa.array(pool_name).take(corporate)
    domain = pa.array(pool_domain).take(corporate)

    # Small shops carry the owner's family name; Japanese ones as 佐藤商店, English ones as Smith Bakery.
    ja = pa.array(country == JP)
    kind_index = rng.integers(len(JA_SHOPS), size=n)
    kind = pa.array(kind_index)
    shop_suffix = pc.if_else(ja, pa.array(_col(JA_SHOPS, 0)).take(kind), pa.array(_col(EN_SHOPS, 0)).take(kind))
    shop_ascii = pc.if_else(ja, pa.array(_col(JA_SHOPS, 1)).take(kind), pa.array(_col(EN_SHOPS, 1)).take(kind))
    tld = pa.array([".jp", *EN_TLD[1:]]).take(pa.array(country))
    shop_name = pc.binary_join_element_wise(last_name, shop_suffix, "")
    shop_domain = pc.binary_join_element_wise(last_ascii, pc.if_else(ja, "-", ""), shop_ascii, tld, "")
    shop = persona == SMALL_SHOP
    industry = np.where(
        shop,
        np.where(
            country == JP,
            np.asarray(_col(JA_SHOPS, 2))[kind_index],
            np.asarray(_col(EN_SHOPS, 2))[kind_index],
        ),
        industry,
    )
    employees = np.where(shop, np.clip(np.round(rng.lognormal(1.2, 0.8, size=n)), 1, 20).astype(np.int64), employees)

    # Students name their school and use free mail (their domain is never used).
    stem = pa.array(rng.integers(len(EN_STEMS), size=n))
    ja_uni = pa.array([s + "大学" for s in _col(JA_STEMS, 0)[: len(EN_STEMS)]])
    en_uni = pa.array([f"University of {s}" if i % 3 else f"{s} College" for i, s in enumerate(EN_STEMS)])
    school = pc.if_else(ja, ja_uni.take(stem), en_uni.take(stem))
    student = persona == STUDENT
    industry = np.where(student, EDUCATION, industry)
    employees = np.where(student, -1, employees)

    which = pa.array(np.minimum(persona, MID_SIZE).astype(np.int8))  # student, shop, company
    return (
        pc.choose(which, school, shop_name, name),
        pc.choose(which, pa.nulls(n, pa.string()), shop_domain, domain),
        industry,
        employees,
    )


def _company_pool(country: int) -> list[tuple[str, str, int]]:
    """Every (name, domain, industry) a mid-size or enterprise company of `country` can have."""
    pool: list[tuple[str, str, int]] = []
    if country == JP:
        for i, (stem, stem_r) in enumerate(JA_STEMS):
            for j, (kind, kind_r, industry) in enumerate(JA_KINDS):
                if industry == EDUCATION:
                    pool.append((f"学校法人{stem}{kind}", f"{stem_r}-{kind_r}.ac.jp", industry))
                elif (i + j) % 5 < 3:
                    pool.append((f"株式会社{stem}{kind}", f"{stem_r}-{kind_r}.co.jp", industry))
                else:
                    pool.append((f"{stem}{kind}株式会社", f"{stem_r}{kind_r}.co.jp", industry))
        pool += [(f"{city}市役所", f"city.{city_r}.lg.jp", GOVERNMENT) for city, city_r in JA_CITIES]
    else:
        for stem in EN_STEMS:
            for kind, industry in EN_KINDS:
                pool.append((f"{stem} {kind} {EN_LEGAL[country]}", f"{stem}{kind}{EN_TLD[country]}".lower(), industry))
            pool.append((f"City of {stem}", f"{stem}{EN_GOV_TLD[country]}".lower(), GOVERNMENT))
    return pool


def _emails(
    rng: np.random.Generator,
    ja: BoolArray,
    free_mail: BoolArray,
    first: pa.Array,
    last: pa.Array,
    domain: pa.Array,
) -> pa.Array:
    """A unique, lower-case address per lead: company domain, or a free-mail one with a number."""
    n = len(ja)
    initial = pc.utf8_slice_codeunits(first, 0, 1)
    patterns = [
        pc.binary_join_element_wise(first, last, "."),
        pc.binary_join_element_wise(last, first, "."),
        pc.binary_join_element_wise(initial, last, ""),
        pc.binary_join_element_wise(first, last, "_"),
    ]
    local = pc.choose(pa.array(rng.choice(4, size=n, p=(0.45, 0.2, 0.25, 0.1)).astype(np.int8)), *patterns)
    number = np.where(rng.random(n) < 0.5, rng.integers(1, 100, size=n), rng.integers(1975, 2007, size=n))
    with_number = free_mail & (rng.random(n) < 0.6)
    local = pc.if_else(
        pa.array(with_number),
        pc.binary_join_element_wise(local, pc.cast(pa.array(number), pa.string()), ""),
        local,
    )
    free = pc.if_else(
        pa.array(ja),
        pa.array(JA_FREE_MAIL).take(pa.array(rng.choice(len(JA_FREE_MAIL), size=n, p=JA_FREE_MAIL_SHARE))),
        pa.array(EN_FREE_MAIL).take(pa.array(rng.choice(len(EN_FREE_MAIL), size=n, p=EN_FREE_MAIL_SHARE))),
    )
    domain = pc.if_else(pa.array(free_mail), free, domain)
    email = pc.binary_join_element_wise(local, domain, "@")
    # Namesakes at one company (or on gmail) get a number, as mail admins do.
    while True:
        codes = pc.dictionary_encode(email).indices.to_numpy()
        dup = np.ones(n, dtype=bool)
        dup[np.unique(codes, return_index=True)[1]] = False
        if not dup.any():
            return email
        suffix = pa.array(rng.integers(2, 1000, size=n)).cast(pa.string())
        local = pc.if_else(pa.array(dup), pc.binary_join_element_wise(local, suffix, ""), local)
        email = pc.binary_join_element_wise(local, domain, "@")


def _crm_spelling(rng: np.random.Generator, email: pa.Array) -> pa.Array:
    """The address as typed into the CRM: mostly as is, some capitalised or padded with spaces."""
    u = rng.random(len(email))
    spelled = pc.if_else(pa.array(u < 0.03), pc.utf8_title(email), email)
    spelled = pc.if_else(pa.array((u >= 0.03) & (u < 0.04)), pc.utf8_upper(email), spelled)
    padded = pc.binary_join_element_wise(" ", spelled, " ", "")
    return pc.if_else(pa.array((u >= 0.04) & (u < 0.06)), padded, spelled)


def _job_titles(rng: np.random.Generator, locale: IntArray, persona: IntArray) -> pa.Array:
    titles: list[str] = []
    groups = []
    for (loc, per), options in JOB_TITLES.items():
        groups.append((loc, per, len(titles), np.array([w for _, w in options])))
        titles += [t for t, _ in options]
    index = np.zeros(len(locale), dtype=np.int64)
    for loc, per, offset, weights in groups:
        rows = np.flatnonzero((locale == loc) & (persona == per))
        index[rows] = offset + rng.choice(len(weights), size=len(rows), p=weights / weights.sum())
    return pa.array(titles).take(pa.array(index))


def _break_leads(table: _Leads, rng: np.random.Generator, bad_share: float, window_stop: int) -> None:
    """Break `bad_share` of the CRM rows the ways real exports break, every kind in turn."""
    n_bad = min(round(table.n * bad_share), table.n - 1)
    if n_bad <= 0:
        return
    rows = rng.choice(table.n, size=n_bad, replace=False)
    kinds = np.arange(n_bad) % len(BAD_CRM_KINDS)
    good = np.setdiff1d(np.arange(table.n), rows)
    text = ("crm_email", "first_name", "last_name", "company", "job_title")
    edits: dict[str, dict[int, str | None]] = {field: {} for field in text}

    def value(field: str, row: int) -> str:
        return str(getattr(table, field)[row].as_py())

    for row, kind in zip(rows.tolist(), kinds.tolist(), strict=True):
        name = BAD_CRM_KINDS[kind]
        if name == "email_double_at":
            local, _, domain = value("crm_email", row).strip().partition("@")
            edits["crm_email"][row] = f"{local}@{domain.split('.')[0]}@{domain}"
        elif name == "email_na":
            edits["crm_email"][row] = "N/A"
        elif name == "email_empty":
            edits["crm_email"][row] = None
        elif name == "duplicate_crm_id":
            # The lead was entered twice: same crm_id and person, another address, a later update.
            src = int(good[rng.integers(len(good))])
            for field in _DUPLICATED_FIELDS:
                getattr(table, field)[row] = getattr(table, field)[src]
            table.updated[row] = min(int(table.updated[src]) + int(rng.integers(HOUR, 7 * DAY)), window_stop)
            for field in text[1:]:
                edits[field][row] = value(field, src)
            local = value("email", src).split("@")[0]
            edits["crm_email"][row] = f"{local}.{int(rng.integers(10, 100))}@gmail.com"
            table.active[row] = False
        elif name == "script_name":
            edits["first_name"][row] = "<script>alert(1)</script>"
        elif name == "template_name":
            edits["last_name"][row] = "{{7*7}}"
        elif name == "crlf_company":
            suffix = "\r\n営業部" if table.locale[row] == 0 else "\nSales Dept"
            edits["company"][row] = value("company", row) + suffix
    for field, changes in edits.items():
        if changes:
            setattr(table, field, _patched(getattr(table, field), changes))


def _patched(values: pa.Array, changes: dict[int, str | None]) -> pa.Array:
    """`values` with some rows replaced, without turning the whole column into Python objects."""
    index = np.arange(len(values))
    index[list(changes)] = len(values) + np.arange(len(changes))
    return pa.concat_arrays([values, pa.array(list(changes.values()), pa.string())]).take(pa.array(index))


_DUPLICATED_FIELDS = (
    "crm_num", "persona", "locale", "country", "zone", "industry", "employees", "lead_source", "owner", "opt_in",
    "bant", "status", "created",
)  # fmt: skip


def _write_crm(path: Path, t: _Leads, snapshot: _Snapshot | None = None) -> None:
    """One CSV row per lead (or per row of `snapshot`, with its values): UTF-8, header, RFC 4180
    minimal quoting, empty cell for null."""
    rows = np.arange(t.n) if snapshot is None else snapshot.rows
    status, bant_codes, owner, updated = (
        (t.status, t.bant, t.owner, t.updated)
        if snapshot is None
        else (snapshot.status, snapshot.bant, snapshot.owner, snapshot.updated)
    )
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(CRM_COLUMNS) + "\n")
        for lo in range(0, len(rows), 200_000):
            s = rows[lo : lo + 200_000]
            taken = pa.array(s)
            bant = [_lookup(("", "true", "false"), bant_codes[s, i]) for i in range(4)]
            frame = pd.DataFrame(
                {
                    "crm_id": _crm_ids(t.crm_num[s]).to_numpy(zero_copy_only=False),
                    "email": t.crm_email.take(taken).to_numpy(zero_copy_only=False),
                    "first_name": t.first_name.take(taken).to_numpy(zero_copy_only=False),
                    "last_name": t.last_name.take(taken).to_numpy(zero_copy_only=False),
                    "company": t.company.take(taken).to_numpy(zero_copy_only=False),
                    "industry": _lookup(INDUSTRIES, t.industry[s]),
                    "employee_count": np.where(t.employees[s] >= 0, t.employees[s].astype(str), ""),
                    "job_title": t.job_title.take(taken).to_numpy(zero_copy_only=False),
                    "country": _lookup(COUNTRIES, t.country[s]),
                    "locale": _lookup(("ja", "en"), t.locale[s]),
                    "timezone": _lookup(ZONES, t.zone[s]),
                    "lead_source": _lookup(LEAD_SOURCES, t.lead_source[s]),
                    "owner_email": _lookup(OWNERS, owner[s]),
                    "email_opt_in": np.where(t.opt_in[s], "true", "false"),
                    "bant_budget": bant[0],
                    "bant_authority": bant[1],
                    "bant_need": bant[2],
                    "bant_timeline": bant[3],
                    "crm_status": _lookup(STATUSES, status[s]),
                    "created_at": _iso(t.created[s], t.zone[s]),
                    "updated_at": _iso(updated[s], t.zone[s]),
                },
                columns=list(CRM_COLUMNS),
            )
            frame.to_csv(fh, header=False, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    os.replace(tmp, path)


def _lookup(values: Sequence[str], codes: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object)[codes]


def _crm_ids(num: np.ndarray) -> pa.Array:
    """CRM-000123: at least six digits, zero-padded."""
    return pc.binary_join_element_wise("CRM-", pc.utf8_lpad(pa.array(num).cast(pa.string()), 6, "0"), "")


def _iso(utc: IntArray, zone: IntArray) -> np.ndarray:
    """ISO-8601 local time with the zone's UTC offset at that instant, e.g. 2026-08-03T10:15:00+09:00."""
    offset = _offset_minutes(utc, zone)
    local = _naive(utc, offset)
    table, index = _offset_table(offset)
    return np.char.add(local, np.asarray(table)[index]).astype(object)


# --- time ------------------------------------------------------------------------------------------


def _clamp(t: IntArray, lo: IntArray | int, hi: IntArray | int) -> IntArray:
    """Move times outside [lo, hi] by a week (keeping weekday and hour), then clip what is still out."""
    t = np.where(t > hi, t - 7 * DAY, t)
    t = np.where(t < lo, t + 7 * DAY, t)
    return np.clip(t, lo, hi)


def _snap_to_local_hours(t: IntArray, zone: IntArray, student: BoolArray, rng: np.random.Generator) -> IntArray:
    """Move each instant to a plausible local time on (mostly) a weekday: office hours, or evenings for students."""
    n = len(t)
    day = (t + ZONE_STANDARD_OFFSET[zone]) // DAY
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    stay = np.where(student, WEEKEND_STAY[0], WEEKEND_STAY[1])
    move = (weekday >= 5) & (rng.random(n) >= stay)
    day = day + np.where(move, np.where(weekday == 5, -1, 1), 0)
    u = rng.random(n)
    hour = np.where(
        student,
        np.searchsorted(np.cumsum(STUDENT_HOURS) / STUDENT_HOURS.sum(), u, side="right"),
        np.searchsorted(np.cumsum(BUSINESS_HOURS) / BUSINESS_HOURS.sum(), u, side="right"),
    )
    local = day * DAY + np.minimum(hour, 23) * HOUR + rng.integers(0, HOUR, size=n)
    return _local_to_utc(local, zone)


def _local_to_utc(local: IntArray, zone: IntArray) -> IntArray:
    """UTC epoch seconds of local wall-clock seconds (gaps shift forward, repeated hours read as standard time)."""
    utc = local - ZONE_STANDARD_OFFSET[zone]
    for z in DST_ZONES:
        rows = np.flatnonzero(zone == z)
        if len(rows):
            index = pd.DatetimeIndex(local[rows].astype("datetime64[s]"))
            aware = index.tz_localize(ZONES[z], ambiguous=np.zeros(len(rows), dtype=bool), nonexistent="shift_forward")
            utc[rows] = aware.as_unit("s").asi8
    return utc


def _offset_minutes(utc: IntArray, zone: IntArray) -> npt.NDArray[np.int16]:
    """UTC offset of each lead's zone at each instant, in minutes."""
    offset = ZONE_STANDARD_OFFSET[zone] // 60
    for z in DST_ZONES:
        rows = np.flatnonzero(zone == z)
        if len(rows):
            local = pd.to_datetime(utc[rows], unit="s", utc=True).tz_convert(ZONES[z]).tz_localize(None)
            offset[rows] = (local.as_unit("s").asi8 - utc[rows]) // 60
    return offset.astype(np.int16)


def _naive(utc: IntArray, offset_minutes: np.ndarray) -> np.ndarray:
    """Local wall-clock time as YYYY-MM-DDTHH:MM:SS."""
    local = utc + offset_minutes.astype(np.int64) * 60
    return np.datetime_as_string(local.astype("datetime64[s]"), unit="s")


def _offset_table(offset_minutes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Distinct offsets as `+09:00` strings, and each value's index among them."""
    values, index = np.unique(offset_minutes, return_inverse=True)
    table = [f"{'-' if v < 0 else '+'}{abs(int(v)) // 60:02d}:{abs(int(v)) % 60:02d}" for v in values]
    return table, index


# --- events ----------------------------------------------------------------------------------------


def _catalogue() -> _Catalogue:
    def page(path: str | None) -> str:
        return "null" if path is None else json.dumps(SITE + path)

    utm_names = [u for u, _ in UTM_SOURCES]
    utm_weights = np.array([w for _, w in UTM_SOURCES])
    blog_weights = 1.0 / np.arange(1, len(BLOG_SLUGS) + 1)  # a few posts get most of the traffic
    per_type: list[tuple[list[tuple[str | None, dict]], np.ndarray]] = [
        (
            [(f"/blog/{s}", {"utm_source": u}) for s in BLOG_SLUGS for u in utm_names],
            np.outer(blog_weights, utm_weights).ravel(),
        ),
        ([("/pricing", {"utm_source": u}) for u in utm_names], utm_weights),
        ([(f"/case-studies/{s}", {"asset": s}) for s in CASE_STUDY_SLUGS], np.ones(len(CASE_STUDY_SLUGS))),
        ([(f"/whitepapers/{s}", {"asset": s}) for s in WHITEPAPER_SLUGS], np.ones(len(WHITEPAPER_SLUGS))),
        (
            [(f"/webinars/{s}", {"webinar_id": f"wb-{101 + i}"}) for i, s in enumerate(WEBINAR_SLUGS)],
            np.ones(len(WEBINAR_SLUGS)),
        ),
        (
            [(f"/webinars/{s}", {"webinar_id": f"wb-{101 + i}"}) for i, s in enumerate(WEBINAR_SLUGS)],
            np.ones(len(WEBINAR_SLUGS)),
        ),
        ([(None, {"campaign": c}) for c, _ in CAMPAIGNS], np.ones(len(CAMPAIGNS))),
        ([(link, {"campaign": c, "utm_source": "email"}) for c, link in CAMPAIGNS], np.ones(len(CAMPAIGNS))),
        ([("/contact", {"form": "contact"})], np.ones(1)),
        ([("/contact", {"form": "quote"})], np.ones(1)),
        ([("/demo", {"form": "demo"})], np.ones(1)),
    ]
    urls: list[str] = []
    props: list[str] = []
    starts: list[int] = []
    weights: list[npt.NDArray[np.float64]] = []
    for entries, w in per_type:
        starts.append(len(urls))
        urls += [page(path) for path, _ in entries]
        props += [json.dumps(p, ensure_ascii=False) for _, p in entries]
        weights.append(w / w.sum())
    return _Catalogue(pa.array(urls), pa.array(props), np.array(starts, dtype=np.int64), tuple(weights))


def _chunk_events(
    t: _Drivers,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    catalogue: _Catalogue,
    midnights: IntArray,
    bad_share: float,
    activity: float = 1.0,
) -> np.ndarray:
    """Every event of leads [lo, hi) as EVENT_DTYPE records, sorted by (file day, time)."""
    lead, ts, etype = _planned_events(t, np.arange(lo, hi), rng, activity)
    ts = _snap_to_local_hours(ts, t.zone[lead], t.persona[lead] == STUDENT, rng)
    ts = _clamp(ts, t.start[lead], t.stop[lead])
    content = np.zeros(len(lead), dtype=np.int64)
    for e in range(len(EVENT_TYPES)):
        rows = np.flatnonzero(etype == e)
        w = catalogue.weights[e]
        content[rows] = catalogue.start[e] + rng.choice(len(w), size=len(rows), p=w)
    lead, ts, etype, content = _with_follow_ups(t, rng, catalogue, lead, ts, etype, content)

    # Identity: forms send the typed address too; some events know nothing but an address.
    n = len(lead)
    u = rng.random(n)
    ident = np.where(np.isin(etype, FORM_TYPES), 1, 0)
    ident = np.where(u < EMAIL_ONLY_SHARE, np.where(u < EMAIL_ONLY_SHARE * 0.35, 3, 2), ident)

    bad = np.zeros(n, dtype=np.int64)
    broken = rng.choice(n, size=min(round(n * bad_share), n), replace=False)
    bad[broken] = np.arange(len(broken)) % len(BAD_EVENT_KINDS) + 1
    unknown = np.flatnonzero(bad == BAD_UNKNOWN_TYPE)
    etype[unknown] = len(EVENT_TYPES) + rng.integers(len(UNKNOWN_EVENT_TYPES), size=len(unknown))
    days = len(midnights) - 1
    day = np.clip(np.searchsorted(midnights, ts, side="right") - 1, 0, days - 1)
    # A skewed clock: stamped two days to a month after the end of its file's day, beyond the next
    # night's cutoff (an event up to that is early, not bad: the pipeline holds it for its night).
    future = np.flatnonzero(bad == BAD_FUTURE)
    ts[future] = midnights[day[future] + 1] + rng.integers(2 * DAY, 30 * DAY, size=len(future))

    out = np.empty(n, dtype=EVENT_DTYPE)
    out["ts"] = ts
    out["lead"] = lead
    out["off"] = _offset_minutes(ts, t.zone[lead])
    out["content"] = content
    out["etype"] = etype
    out["ident"] = ident
    out["bad"] = bad
    out["day"] = day
    return out[np.lexsort((out["ts"], out["day"]))]


def _planned_events(
    t: _Drivers, leads: IntArray, rng: np.random.Generator, activity: float = 1.0
) -> tuple[IntArray, IntArray, IntArray]:
    """(lead, rough time, type) of each event before follow-ups: steady activity, heating up, hand-raising."""
    # Steady activity over the lead's life, at a persona's rate scaled by the lead's own engagement.
    span = np.maximum(t.stop[leads] - t.start[leads], 0)
    rate = EVENT_RATE[t.persona[leads]] * activity * span / (180 * DAY) * t.engagement[leads]
    lead = np.repeat(leads, rng.poisson(np.where(t.active[leads], rate, 0.0)))
    ts = t.start[lead] + (rng.random(len(lead)) * (t.stop[lead] - t.start[lead])).astype(np.int64)
    etype = _choice_by_group(rng, t.persona[lead], EVENT_MIX)
    etype = np.where((etype == EMAIL_OPEN) & ~t.opt_in[lead], PAGE_VIEW, etype)  # no newsletters without consent

    # Heating up: pricing views and case studies, denser and denser towards end_date.
    heating = t.heating[leads] & t.active[leads]
    heat_lead = np.repeat(leads, np.where(heating, rng.poisson(HEATING_EXTRA_EVENTS, size=len(leads)), 0))
    heat_from = np.maximum(t.start[heat_lead], t.stop[heat_lead] - HEATING_DAYS * DAY)
    heat_ts = heat_from + (np.sqrt(rng.random(len(heat_lead))) * (t.stop[heat_lead] - heat_from)).astype(np.int64)
    heat_type = np.where(rng.random(len(heat_lead)) < 0.55, PRICING_VIEW, CASE_STUDY)

    # Hand-raisers: one contact form, quote or demo request in the last week.
    raise_lead = leads[t.hand_raiser[leads] & t.active[leads]]
    raise_ts = t.stop[raise_lead] - (rng.random(len(raise_lead)) * 6.5 * DAY).astype(np.int64)
    raise_type = np.array([CONTACT_FORM, QUOTE_REQUEST, DEMO_REQUEST])[
        _choice_by_group(rng, t.persona[raise_lead], HAND_RAISE_MIX)
    ]
    return (
        np.concatenate([lead, heat_lead, raise_lead]),
        np.concatenate([ts, heat_ts, raise_ts]),
        np.concatenate([etype, heat_type, raise_type]),
    )


def _with_follow_ups(
    t: _Drivers,
    rng: np.random.Generator,
    catalogue: _Catalogue,
    lead: IntArray,
    ts: IntArray,
    etype: IntArray,
    content: IntArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """The events plus what follows them: attending a webinar days after registering, clicking after opening."""
    reg = np.flatnonzero((etype == WEBINAR_REGISTERED) & (rng.random(len(lead)) < ATTEND_SHARE[t.persona[lead]]))
    zone = t.zone[lead[reg]]
    reg_day = (ts[reg] + _offset_minutes(ts[reg], zone).astype(np.int64) * 60) // DAY
    att_day = reg_day + rng.integers(1, 11, size=len(reg))
    weekday = (att_day + 3) % 7
    att_day += np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))  # webinars run on weekdays
    start_at = np.where(rng.random(len(reg)) < 0.5, 14, 16) * HOUR + rng.integers(0, 600, size=len(reg))
    att_ts = _local_to_utc(att_day * DAY + start_at, zone)

    opened = np.flatnonzero((etype == EMAIL_OPEN) & (rng.random(len(lead)) < CLICK_SHARE[t.persona[lead]]))
    click_ts = ts[opened] + rng.integers(20, 3 * HOUR, size=len(opened))

    parent = np.concatenate([reg, opened])
    child_ts = np.concatenate([att_ts, click_ts])
    child_type = np.concatenate([np.full(len(reg), WEBINAR_ATTENDED), np.full(len(opened), EMAIL_CLICK)])
    # Same webinar / campaign: the follow-up's catalogue entry sits at the same place in its type's range.
    child_content = content[parent] - catalogue.start[etype[parent]] + catalogue.start[child_type]
    keep = child_ts <= t.stop[lead[parent]]  # not happened yet by end_date
    return (
        np.concatenate([lead, lead[parent][keep]]),
        np.concatenate([ts, child_ts[keep]]),
        np.concatenate([etype, child_type[keep]]),
        np.concatenate([content, child_content[keep]]),
    )


def _write_event_files(
    paths: list[Path],
    chunks: list[np.ndarray | Path],
    bounds: list[IntArray],
    t: _Drivers,
    catalogue: _Catalogue,
    seed: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> int:
    """Write each day's events, merged across chunks in time order, as JSON lines; return the line count."""
    type_json = pa.array([json.dumps(e) for e in (*EVENT_TYPES, *UNKNOWN_EVENT_TYPES)])
    key = np.uint64(np.random.default_rng([seed, 3]).integers(1 << 62))
    total = 0
    for day, path in enumerate(paths):
        parts, counters = [], []
        for index, (chunk, b) in enumerate(zip(chunks, bounds, strict=True)):
            lo, hi = int(b[day]), int(b[day + 1])
            if hi > lo:
                if isinstance(chunk, Path):
                    parts.append(np.fromfile(chunk, dtype=EVENT_DTYPE, count=hi - lo, offset=lo * EVENT_DTYPE.itemsize))
                else:
                    parts.append(chunk[lo:hi])
                counters.append((np.uint64(index) << np.uint64(32)) | np.arange(lo, hi, dtype=np.uint64))
        tmp = path.with_name(path.name + ".part")
        with tmp.open("wb") as fh:
            if parts:
                events = np.concatenate(parts)
                counter = np.concatenate(counters)
                order = np.argsort(events["ts"], kind="stable")
                events, counter = events[order], counter[order]
                ids = counter ^ key
                for lo in range(0, len(events), WRITE_BATCH):
                    batch = slice(lo, lo + WRITE_BATCH)
                    for piece in _json_lines(events[batch], ids[batch], t, catalogue, type_json):
                        fh.write(piece)
                total += len(events)
        os.replace(tmp, path)
        _release_arrow_memory()
        if progress:
            progress("days", day + 1, len(paths))
    return total


def _json_lines(
    e: np.ndarray, ids: npt.NDArray[np.uint64], t: _Drivers, catalogue: _Catalogue, type_json: pa.Array
) -> list[memoryview]:
    """Events as UTF-8 JSON lines, built column-wise from JSON fragments."""
    ident = e["ident"]
    bad = e["bad"]
    head = pc.if_else(pa.array(bad == BAD_NO_ID), "{", _event_id_heads(ids))
    crm = pc.if_else(
        pa.array(ident >= 2),
        "null",
        pc.binary_join_element_wise('"', _crm_ids(t.crm_num[e["lead"]]), '"', ""),
    )
    address = t.email.take(pa.array(e["lead"]))
    address = pc.if_else(pa.array(ident == 3), pc.utf8_title(address), address)
    email = pc.if_else(pa.array(ident == 0), "null", pc.binary_join_element_wise('"', address, '"', ""))
    offsets, index = _offset_table(e["off"])
    zone_suffix = pc.if_else(pa.array(bad == BAD_NAIVE), "", pa.array(offsets).take(pa.array(index)))
    content = pa.array(e["content"])
    line = pc.binary_join_element_wise(
        head,
        '"crm_id": ',
        crm,
        ', "email": ',
        email,
        ', "event_type": ',
        type_json.take(pa.array(e["etype"])),
        ', "occurred_at": "',
        pa.array(_naive(e["ts"], e["off"])),
        zone_suffix,
        '", "url": ',
        catalogue.url_json.take(content),
        ', "properties": ',
        catalogue.props_json.take(content),
        "}\n",
        "",
    )
    return [_string_bytes(piece) for piece in (line.chunks if isinstance(line, pa.ChunkedArray) else [line])]


def _string_bytes(strings: pa.Array) -> memoryview:
    """The concatenated characters of a string array: its data buffer between the first and last offset."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset : strings.offset + len(strings) + 1]
    return memoryview(strings.buffers()[2])[offsets[0] : offsets[-1]] if len(strings) else memoryview(b"")


def _event_id_heads(ids: npt.NDArray[np.uint64]) -> pa.Array:
    """`{"event_id": "evt_<16 hex>", ` per id, after a bijective mix so ids look random but never collide."""
    x = ids.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    prefix = np.frombuffer(b'{"event_id": "evt_', dtype=np.uint8)
    suffix = np.frombuffer(b'", ', dtype=np.uint8)
    raw = x.astype(">u8").view(np.uint8).reshape(-1, 8)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.empty((len(x), len(prefix) + 16 + len(suffix)), dtype=np.uint8)
    out[:, : len(prefix)] = prefix
    out[:, len(prefix) : len(prefix) + 16 : 2] = hexdigits[raw >> 4]
    out[:, len(prefix) + 1 : len(prefix) + 16 : 2] = hexdigits[raw & 15]
    out[:, len(prefix) + 16 :] = suffix
    return pa.array(out.view(f"S{out.shape[1]}").ravel()).cast(pa.string())
