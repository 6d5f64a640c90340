"""The raw-data gates: each CRM or web-event row is clean or quarantined with a reason; a batch with
schema drift or too many bad rows fails the run.

Every check is a GX Core expectation over one check frame (one row per input row, `df`'s
positions as its index): native expectations on normalised columns where GX has one (not null,
in set, regex, between), and `ExpectColumnValuesToBeNull` on helper columns that hold a problem
(or nothing) where the rule needs Python (email-validator, IANA zones, JSON, duplicates). So GX
holds the record of every check, and its COMPLETE result names the failing rows.

Normalisation, as written to the clean frame: 'N/A', '-', '' and whitespace-only become missing
in every column; ids and codes are trimmed; email is email-validator's normalised address,
lower-cased (IDN domains in Unicode form); locale, crm_status and event_type are lower-cased;
booleans become 'true'/'false'; timestamps become UTC ISO-8601 ('2024-05-01T01:00:00.000000+00:00');
employee_count loses its thousands separators ('1,000' -> '1000': CRMs and spreadsheets export
formatted numbers; only exact 3-digit grouping is accepted, so a decimal comma like '1,5' is not).
Free text (names, company, job title, url) is passed through untouched, CR/LF and markup included:
escaping is the renderer's job.

Decisions: crm_id, email, created_at and updated_at are required, the other CRM fields optional.
An event's email, when present, must be valid too: it is how events without crm_id find their
lead. Duplicates are judged on the whole batch, valid or not: a CRM row superseded by a newer but
broken version is quarantined with it rather than loaded as current, and a later event that
reuses an earlier event's id with different content is quarantined. An event stamped after the
run's cutoff but not after the next night's (`hold_until`) is early, not bad: it is clean, counted
as `held_for_later_night`, and staged by the night whose day covers it (`held_events`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from leadflow.validation import checks, gx
from leadflow.validation.gx import Expect, ValidationFailed
from leadflow.vocabulary import CRM_COLUMNS, CRM_STATUSES, EVENT_COLUMNS, EVENT_TYPES

__all__ = [
    "GateResult",
    "GateTotals",
    "ValidationFailed",
    "held_events",
    "hold_until",
    "validate_batch",
    "validate_raw_crm",
    "validate_raw_events",
]

META_COLUMNS = ("_row", "_file")

LOCALES = ("ja", "en")
BOOLEAN_COLUMNS = ("email_opt_in", "bant_budget", "bant_authority", "bant_need", "bant_timeline")
BOOLEANS = {"true": "true", "yes": "true", "1": "true", "false": "false", "no": "false", "0": "false"}
EMPTY_TOKENS = ("", "n/a", "-")

EMPLOYEE_COUNT_RE = r"^(?:\d{1,9}|\d{1,3}(?:,\d{3}){1,2})$"
"""A count below one billion, digits only or grouped by thousands commas ('1,000')."""
_ZONE_RE = r"[T ]\d{2}[^+\-Z]*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
"""A time followed by 'Z' or a UTC offset (upper-cased input): tells zoned from naive timestamps."""
_AS_OF = {"$PARAMETER": "as_of"}
_HOLD_UNTIL = {"$PARAMETER": "hold_until"}


def hold_until(as_of: datetime) -> datetime:
    """The next night's cutoff: an event stamped after the run's cutoff `as_of` but not after this
    is early, not bad (a file cut by UTC or by a lead's local day reaches up to ~21 h past it), and
    is held for the night whose window covers it; later than this it is quarantined (a clock in the
    future). Aware arithmetic in `as_of`'s zone: the next local midnight, across DST too."""
    return as_of + timedelta(days=1)


def held_events(clean: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """The clean events (a gate's `clean` rows) stamped at or after the run's cutoff `as_of`, with the
    as-of date whose window covers each (`due_date`: its local date in `as_of`'s zone)."""
    at = pd.to_datetime(clean["occurred_at"], utc=True, format="ISO8601")
    early = (at >= as_of).to_numpy(dtype=bool)
    return clean[early].assign(due_date=at[early].dt.tz_convert(as_of.tzinfo).dt.date.to_numpy())


_PLAIN_EMAIL_RE = r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
"""A subset of what email-validator accepts (ASCII dot-atom @ letters-digits-hyphen labels with a
letter TLD), used to skip it for ordinary addresses; the length, '--' (Punycode, R-LDH) and
special-use checks around its use keep it a subset. A unit test holds it to email-validator."""
_SPECIAL_USE_RE = "(?:^|\\.)(?:" + "|".join(re.escape(d) for d in SPECIAL_USE_DOMAIN_NAMES) + ")$"


@dataclass(frozen=True)
class GateTotals:
    """The outcome of one raw gate over a whole batch, as counts: every input row is clean,
    quarantined, or an exact duplicate (a later identical copy of a kept row)."""

    name: str
    clean: int
    quarantined: int
    results: list[dict]
    exact_duplicates: int = 0
    unexpected_columns: tuple[str, ...] = ()
    held: int = 0  # clean events after the cutoff: staged by a later night (see `hold_until`)

    @property
    def rows(self) -> int:
        return self.clean + self.quarantined + self.exact_duplicates

    def summary(self) -> dict:
        """Counts for logs and XCom; `by_reason` counts rows per failed check (a row can fail two)."""
        by_reason = {r["label"]: r["unexpected_count"] for r in self.results if r["unexpected_count"]}
        return {
            "name": self.name,
            "rows": self.rows,
            "clean": self.clean,
            "quarantined": self.quarantined,
            "exact_duplicates": self.exact_duplicates,
            "by_reason": dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unexpected_columns": list(self.unexpected_columns),
        } | ({"held_for_later_night": self.held} if self.name == "raw_events" else {})


@dataclass(frozen=True)
class GateResult:
    """The outcome of one raw gate with its rows: every input row is in `clean`, in `quarantine`,
    or counted in `exact_duplicates` (a later identical copy of a kept row)."""

    name: str
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    results: list[dict]
    exact_duplicates: int = 0
    unexpected_columns: tuple[str, ...] = ()
    held: int = 0

    @property
    def totals(self) -> GateTotals:
        return GateTotals(
            self.name,
            len(self.clean),
            len(self.quarantine),
            self.results,
            self.exact_duplicates,
            self.unexpected_columns,
            self.held,
        )

    @property
    def rows(self) -> int:
        return self.totals.rows

    def summary(self) -> dict:
        """Counts for logs and XCom; `by_reason` counts rows per failed check (a row can fail two)."""
        return self.totals.summary()


# --- rules -------------------------------------------------------------------------------------

Reason = Callable[[pd.Series, "pd.Series | None", datetime], Iterable[str]]
"""Reason texts for the failing rows: (their original values of the rule's column, their helper
values or nothing, as_of) -> one text per row."""


@dataclass(frozen=True)
class Rule:
    """One row-level check: what GX asserts, the column it is about, and how to word a failure."""

    expect: Expect
    column: str
    label: str
    reason: Reason
    helper: str | None = None


def _show(value: Any, limit: int = 80) -> str:
    """A value quoted for a reason text; long values are cut, CR/LF show as escapes."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _required(column: str) -> Rule:
    return Rule(
        Expect("ExpectColumnValuesToNotBeNull", f"{column}_present", f"{column} is present", {"column": column}),
        column,
        f"{column}: missing",
        lambda values, _, as_of: [f"{column}: missing"] * len(values),
    )


def _accepted(column: str, values: Sequence[str], check: str, tail: str) -> Rule:
    """`column`, trimmed and lower-cased, is empty or one of `values`."""
    return Rule(
        Expect(
            "ExpectColumnValuesToBeInSet",
            check,
            f"{column} is empty or one of {', '.join(values)} (case-insensitive)",
            {"column": column, "value_set": list(values)},
        ),
        column,
        f"{column}: {tail}",
        lambda values, _, as_of: [f"{column}: {_show(v)} is {tail}" for v in values],
    )


def _problem(column: str, check: str, description: str, label: str, word: Callable[[Any, str], str]) -> Rule:
    """A Python-side rule: helper column `_<check>_problem` holds what is wrong, or nothing."""
    helper = f"_{check}_problem"

    def reason(values: pd.Series, problems: pd.Series | None, as_of: datetime) -> list[str]:
        assert problems is not None
        return [word(v, p) for v, p in zip(values, problems, strict=True)]

    return Rule(
        Expect("ExpectColumnValuesToBeNull", check, description, {"column": helper}),
        column,
        label,
        reason,
        helper,
    )


def _timestamp(column: str, *, early: bool = False) -> list[Rule]:
    """Present, ISO-8601 with a zone, and not after the as-of cutoff (`early`: not after the next
    night's, see `hold_until`)."""

    def word(value: Any, problem: str) -> str:
        if problem == "no_zone":
            return f"{column}: {_show(value)} has no time zone (expected ISO-8601 with Z or an offset)"
        return f"{column}: {_show(value)} is not an ISO-8601 timestamp"

    return [
        _required(column),
        _problem(
            column,
            f"{column}_iso8601",
            f"{column} is an ISO-8601 timestamp with a time zone",
            f"{column}: not ISO-8601 with a time zone",
            word,
        ),
        Rule(
            Expect(
                "ExpectColumnValuesToBeBetween",
                f"{column}_not_future",
                f"{column} is not after the run's as-of cutoff",
                {"column": f"_{column}_utc", "max_value": _AS_OF},
            ),
            column,
            f"{column}: after the as-of cutoff",
            lambda values, _, as_of: [
                f"{column}: {_show(v)} is after the as-of cutoff {as_of.isoformat()}" for v in values
            ],
        )
        if not early
        else Rule(
            Expect(
                "ExpectColumnValuesToBeBetween",
                f"{column}_not_future",
                f"{column} is not after the next night's cutoff (an event after the run's as-of cutoff "
                "is held for the night whose window covers it)",
                {"column": f"_{column}_utc", "max_value": _HOLD_UNTIL},
            ),
            column,
            f"{column}: more than a night after the as-of cutoff",
            lambda values, _, as_of: [
                f"{column}: {_show(v)} is more than a night after the as-of cutoff {as_of.isoformat()} "
                f"(later than {hold_until(as_of).isoformat()}): a clock in the future?"
                for v in values
            ],
        ),
    ]


def _email(required: bool) -> list[Rule]:
    valid = _problem(
        "email",
        "email_valid",
        "email is a valid address (email-validator, no DNS lookup)",
        "email: not a valid address",
        lambda v, p: f"email: {_show(v)} is not a valid address ({p})",
    )
    return [_required("email"), valid] if required else [valid]


CRM_RULES: tuple[Rule, ...] = (
    _required("crm_id"),
    *_email(required=True),
    *_timestamp("created_at"),
    *_timestamp("updated_at"),
    Rule(
        Expect(
            "ExpectColumnValuesToMatchRegex",
            "employee_count_integer",
            "employee_count is empty or a non-negative integer ('1,000' allowed)",
            {"column": "employee_count", "regex": EMPLOYEE_COUNT_RE},
        ),
        "employee_count",
        "employee_count: not a non-negative integer",
        lambda values, _, as_of: [f"employee_count: {_show(v)} is not a non-negative integer" for v in values],
    ),
    _accepted("locale", LOCALES, "locale_accepted", f"not one of {', '.join(LOCALES)}"),
    _accepted("crm_status", CRM_STATUSES, "crm_status_accepted", f"not one of {', '.join(CRM_STATUSES)}"),
    _problem(
        "timezone",
        "timezone_iana",
        "timezone is empty or an IANA time zone",
        "timezone: not an IANA time zone",
        lambda v, p: f"timezone: {_show(v)} is not an IANA time zone",
    ),
    *(_accepted(c, tuple(BOOLEANS), f"{c}_boolean", "not a boolean (true/false/yes/no/1/0)") for c in BOOLEAN_COLUMNS),
    _problem(
        "crm_id",
        "crm_id_unique",
        "crm_id is unique in the batch (the latest updated_at wins; exact copies are dropped)",
        "crm_id: duplicate",
        lambda v, p: p,
    ),
)

EVENT_RULES: tuple[Rule, ...] = (
    _required("event_id"),
    _required("event_type"),
    _accepted("event_type", EVENT_TYPES, "event_type_known", "not a known event type"),
    *_timestamp("occurred_at", early=True),
    Rule(
        Expect(
            "ExpectColumnValuesToNotBeNull",
            "crm_id_or_email_present",
            "crm_id or email is present (an event needs one to find its lead)",
            {"column": "_crm_id_or_email"},
        ),
        "crm_id",
        "crm_id, email: both missing",
        lambda values, _, as_of: ["crm_id, email: both missing (an event needs one of them)"] * len(values),
    ),
    *_email(required=False),
    _problem(
        "properties",
        "properties_json",
        "properties is empty or a JSON object",
        "properties: not a JSON object",
        lambda v, p: f"properties: {_show(v)} {p}",
    ),
    _problem(
        "event_id",
        "event_id_unique",
        "event_id is unique in the batch (exact copies are dropped)",
        "event_id: duplicate with different content",
        lambda v, p: p,
    ),
)


# --- normalisation and helper columns ------------------------------------------------------------


def _text(s: pd.Series) -> pd.Series:
    """`s` as pandas strings with 'N/A', '-', '' and blanks as missing (the value otherwise untouched)."""
    s = s.astype("str")
    blank = s.str.strip().str.lower().isin(EMPTY_TOKENS)
    return s.mask(blank)


def _per_unique(s: pd.Series, fn: Callable[[str], Any]) -> np.ndarray:
    """`fn` applied once per distinct non-missing value of `s`, spread back to its rows (None where
    `s` is missing), as an object array."""
    codes, distinct = pd.factorize(s)
    done = np.empty(len(distinct) + 1, dtype=object)  # the extra last slot (code -1) stays None
    done[:-1] = [fn(v) for v in distinct]
    return done[codes]


def _email_check(value: str) -> tuple[str, str | None]:
    """(normal form, problem or None) of one address, by email-validator (no DNS lookup)."""
    try:
        return validate_email(value, check_deliverability=False).normalized.lower(), None
    except EmailNotValidError as exc:
        return value, str(exc)


def _emails(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(normalised address, problem or None) per row of trimmed addresses.

    email-validator decides, once per distinct address, except for plain ASCII addresses of the
    kind it is known to accept (see `_PLAIN_EMAIL_RE`): it costs ~20 µs an address. The normal
    form is email-validator's (Unicode NFC, IDN domains in Unicode form), lower-cased.
    """
    codes, distinct = pd.factorize(s)
    d = pd.Series(distinct, dtype="str")
    domain = d.str.replace(r"^.*@", "", regex=True)
    plain = (
        d.str.fullmatch(_PLAIN_EMAIL_RE, case=False)
        & (d.str.len() <= 254)
        & (d.str.len() - domain.str.len() <= 65)  # the local part and its '@'
        & ~domain.str.contains("--", regex=False)
        & ~domain.str.contains(_SPECIAL_USE_RE, case=False, regex=True)
    ).to_numpy()
    normal = np.empty(len(d) + 1, dtype=object)
    problem = np.empty(len(d) + 1, dtype=object)
    normal[:-1][plain] = d[plain].str.lower().to_numpy()
    for i in np.flatnonzero(~plain):
        normal[i], problem[i] = _email_check(d.iloc[i])
    return pd.Series(normal[codes], index=s.index, dtype="str"), pd.Series(problem[codes], index=s.index, dtype=object)


def _zone_problem(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):  # not found, malformed key, a directory such as 'Asia'
        return "not an IANA time zone"
    return None


def _json_problem(value: str) -> str | None:
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        return f"is not valid JSON ({exc})"
    return None if isinstance(parsed, dict) else "is not a JSON object"


def _timestamps(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(problem: 'no_zone' / 'invalid' / None, parsed UTC timestamp, canonical UTC ISO string)."""
    upper = s.str.strip().str.upper()
    utc = pd.to_datetime(upper, format="ISO8601", utc=True, errors="coerce")
    zoned = upper.str.contains(_ZONE_RE, regex=True, na=False)
    problem = pd.Series(None, index=s.index, dtype=object)
    problem[s.notna() & ~zoned] = "no_zone"
    problem[s.notna() & utc.isna()] = "invalid"
    utc = utc.mask(problem.notna())
    micros = utc.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
    canonical = pd.Series(np.datetime_as_string(micros, unit="us"), index=s.index, dtype="str") + "+00:00"
    return problem, utc, canonical.where(utc.notna(), s)


@dataclass
class _Frames:
    """The normalised data (becomes `clean`) and the check frame GX validates, aligned by position."""

    norm: pd.DataFrame
    chk: pd.DataFrame


def _normalise_common(df: pd.DataFrame, columns: Sequence[str], timestamps: Sequence[str]) -> _Frames:
    norm = df.copy()
    for c in columns:
        norm[c] = _text(df[c])
    chk = pd.DataFrame(index=df.index)
    for c in ("crm_id", "event_id", "timezone"):
        if c in columns:
            norm[c] = norm[c].str.strip()
    if "email" in columns:
        email = norm["email"].str.strip()
        chk["email"] = email
        norm["email"], chk["_email_valid_problem"] = _emails(email)
    for c in timestamps:
        chk[c] = norm[c]
        chk[f"_{c}_iso8601_problem"], chk[f"_{c}_utc"], norm[c] = _timestamps(norm[c])
    return _Frames(norm, chk)


def _crm_frames(df: pd.DataFrame) -> _Frames:
    f = _normalise_common(df, CRM_COLUMNS, ("created_at", "updated_at"))
    norm, chk = f.norm, f.chk
    chk["crm_id"] = norm["crm_id"]
    count = norm["employee_count"].str.strip()
    chk["employee_count"] = count
    digits = count.str.replace(",", "", regex=False).str.lstrip("0")
    ok = count.str.fullmatch(EMPLOYEE_COUNT_RE, na=False)
    norm["employee_count"] = count.mask(ok, digits.mask(digits == "", "0"))
    for c in ("locale", "crm_status"):
        norm[c] = chk[c] = norm[c].str.strip().str.lower()
    chk["_timezone_iana_problem"] = _per_unique(norm["timezone"], _zone_problem)
    for c in BOOLEAN_COLUMNS:
        chk[c] = norm[c].str.strip().str.lower()
        norm[c] = chk[c].map(BOOLEANS).astype("str").where(chk[c].isin(BOOLEANS), norm[c])
    return f


def _event_frames(df: pd.DataFrame) -> _Frames:
    f = _normalise_common(df, EVENT_COLUMNS, ("occurred_at",))
    norm, chk = f.norm, f.chk
    chk["event_id"] = norm["event_id"]
    norm["event_type"] = chk["event_type"] = norm["event_type"].str.strip().str.lower()
    chk["_crm_id_or_email"] = norm["crm_id"].fillna(norm["email"])
    chk["_properties_json_problem"] = _per_unique(norm["properties"], _json_problem)
    return f


# --- duplicates ----------------------------------------------------------------------------------


def _ref(file: Any, row: Any) -> str:
    return f"row {int(row)} of {file}"


def _rows_text(refs: Sequence[tuple[Any, Any]]) -> str:
    """'rows 3, 5 of crm.csv' or 'row 3 of a.csv, row 5 of b.csv'."""
    files = {f for f, _ in refs}
    if len(files) == 1:
        rows = ", ".join(str(int(r)) for _, r in refs)
        return f"{'rows' if len(refs) > 1 else 'row'} {rows} of {refs[0][0]}"
    return ", ".join(_ref(f, r) for f, r in refs)


def _latest_wins(norm: pd.DataFrame, chk: pd.DataFrame) -> pd.Series:
    """Per row, why it loses to another row with the same crm_id (or None): the latest updated_at
    wins; a tie at the latest updated_at between different rows leaves no winner."""
    out = pd.Series(None, index=norm.index, dtype=object)
    key = chk["crm_id"]
    dup = key.notna() & key.duplicated(keep=False)
    if not dup.any():
        return out
    key, ts = key[dup], chk["_updated_at_utc"][dup]
    latest = ts.groupby(key).transform("max")
    at_latest = (ts == latest) | (ts.isna() & latest.isna())
    n_latest = at_latest.groupby(key).transform("sum")
    rows = list(zip(norm["_file"], norm["_row"], strict=True))
    winner = pd.Series(key.index[at_latest & (n_latest == 1)], index=key[at_latest & (n_latest == 1)])
    for pos in key.index[~at_latest & (n_latest == 1)]:
        k = key[pos]
        out[pos] = f"duplicate crm_id {_show(k)} superseded by {_ref(*rows[winner[k]])}"
    conflicted = key[n_latest > 1]
    for k, group in conflicted.groupby(conflicted):
        tied = [rows[p] for p in group.index if at_latest[p]]
        text = (
            f"conflicting duplicates: crm_id {_show(k)} has different rows with the same latest "
            f"updated_at ({_rows_text(tied)})"
        )
        out[group.index] = text
    return out


def _first_wins(norm: pd.DataFrame, key_column: str) -> pd.Series:
    """Per row, why it conflicts with an earlier row with the same id (or None)."""
    out = pd.Series(None, index=norm.index, dtype=object)
    key = norm[key_column]
    later = key.notna() & key.duplicated(keep="first")
    if not later.any():
        return out
    first = pd.Series(key.index[key.notna() & ~later], index=key[key.notna() & ~later])
    files, rows = norm["_file"].to_numpy(), norm["_row"].to_numpy()
    for pos in key.index[later]:
        f = first[key[pos]]
        out[pos] = f"duplicate {key_column} {_show(key[pos])} differs from {_ref(files[f], rows[f])}"
    return out


# --- the gate ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Gate:
    name: str
    source: str
    columns: tuple[str, ...]
    key: str
    rules: tuple[Rule, ...]
    frames: Callable[[pd.DataFrame], _Frames]
    duplicates: Callable[[pd.DataFrame, pd.DataFrame], pd.Series]
    """Per row, why it loses to another row with the same key (or None); feeds `<key>_unique`."""


CRM_GATE = _Gate("raw_crm", "crm", CRM_COLUMNS, "crm_id", CRM_RULES, _crm_frames, _latest_wins)
EVENTS_GATE = _Gate(
    "raw_events",
    "web",
    EVENT_COLUMNS,
    "event_id",
    EVENT_RULES,
    _event_frames,
    lambda norm, chk: _first_wins(norm, "event_id"),
)
GATES = (CRM_GATE, EVENTS_GATE)
KEYS = {g.source: g.key for g in GATES}
"""The column each source's duplicates are judged by ('crm' -> crm_id, 'web' -> event_id)."""


@cache
def key_strip() -> str:
    """Every character `str.strip()` removes: SQL's `trim(both <these> from key)` trims a key exactly
    as the gate does, so a query can find the rows whose key another row shares."""
    return "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())


@cache
def _suite(name: str) -> Any:
    """The gate's GX suite, built once per process."""
    gate = next(g for g in GATES if g.name == name)
    return gx.build_suite(gate.name, [r.expect for r in gate.rules])


def _batch_name(df: pd.DataFrame) -> str:
    files = sorted(str(f) for f in df["_file"].dropna().unique()) if "_file" in df else []
    if not files:
        return "(no files)"
    return ", ".join(files) if len(files) <= 3 else f"{', '.join(files[:3])} … ({len(files)} files)"


def _check_schema(gate: _Gate, df: pd.DataFrame, batch: str) -> tuple[str, ...]:
    """Raise on missing columns (schema drift); return the unexpected ones (kept, passed through)."""
    expected = (*gate.columns, *META_COLUMNS)
    missing = [c for c in expected if c not in df.columns]
    unexpected = tuple(str(c) for c in df.columns if c not in expected)
    if missing:
        extra = f"; unexpected columns: {', '.join(unexpected)}" if unexpected else ""
        raise ValidationFailed(
            f"{gate.name}: schema drift in batch {batch}: missing columns: {', '.join(missing)}{extra}"
        )
    return unexpected


def _records(rows: pd.DataFrame) -> list[str]:
    """Each original row as a JSON object (missing values as null, Unicode kept)."""
    data = rows.drop(columns=list(META_COLUMNS)).astype(object)
    data = data.where(data.notna(), None)
    return [json.dumps(r, ensure_ascii=False, default=str) for r in data.to_dict("records")]


def _shares_key(gate: _Gate, df: pd.DataFrame) -> np.ndarray:
    """Per row of `df`, whether another row has the same (normalised) key."""
    key = _text(df[gate.key]).str.strip()
    return (key.notna() & key.duplicated(keep=False)).to_numpy(dtype=bool)


def _judge_duplicates(gate: _Gate, rows: pd.DataFrame, unexpected: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(an exact copy of an earlier row?, why it loses to another row or None) per row of `rows`: the
    part of a gate that needs the whole batch. `rows` are in batch order and hold every row of the
    batch whose key another row shares (other rows may come along; they are judged unique)."""
    rows = rows.reset_index(drop=True)
    frames = gate.frames(rows)
    norm, chk = frames.norm, frames.chk
    # Exact copies (same normalised content, any file or row) of an earlier row are dropped and
    # counted; the duplicate rule sees one row per distinct record.
    content = list(gate.columns) + list(unexpected)
    same_key = norm[gate.key].notna() & norm[gate.key].duplicated(keep=False)
    later = norm[same_key].duplicated(subset=content, keep="first").reindex(norm.index, fill_value=False)
    copy = (same_key & later).to_numpy(dtype=bool)
    problem = np.full(len(rows), None, dtype=object)
    kept = ~copy
    problem[kept] = gate.duplicates(norm[kept].reset_index(drop=True), chk[kept].reset_index(drop=True)).to_numpy()
    return copy, problem


@dataclass(frozen=True)
class _Part:
    """One chunk's outcome, and the GX counts of each rule on it (they add up over chunks)."""

    result: GateResult
    counts: list[gx.Counts]


def _check_chunk(
    gate: _Gate,
    raw: pd.DataFrame,
    copy: np.ndarray,
    problem: np.ndarray,
    *,
    as_of: datetime,
    unexpected: tuple[str, ...],
    file_order: Mapping[str, int] | None,
) -> _Part:
    """The row-level checks on one chunk of a batch, given what the whole batch says about its
    duplicates: `copy` (dropped, counted) and `problem` (why a row loses to another, or None).
    Samples are the chunk's first failing rows: in chunk order, or by (`file_order`, _row)."""
    columns = list(raw.columns)
    kept = ~copy
    raw = raw[kept].reset_index(drop=True)
    frames = gate.frames(raw)
    norm, chk = frames.norm, frames.chk
    chk[f"_{gate.key}_unique_problem"] = problem[kept]

    result = gx.run(gate.name, chk, _suite(gate.name), parameters={"as_of": as_of, "hold_until": hold_until(as_of)})
    by_check = {gx.check_of(r): r for r in result.results}

    reasons: list[pd.DataFrame] = []
    results: list[dict] = []
    counts: list[gx.Counts] = []
    for order, rule in enumerate(gate.rules):
        r = by_check[rule.expect.check]
        positions = np.asarray(r.result.get("unexpected_index_list") or [], dtype=np.int64)
        first = positions[:5]
        if file_order is not None and len(positions):
            failing = raw.take(positions)
            ranks = failing["_file"].astype(str).map(file_order).to_numpy(dtype=np.int64)
            first = positions[np.lexsort((failing["_row"].to_numpy(dtype=np.int64), ranks))[:5]]
        item = gx.describe_result(r)
        item |= {"column": rule.column, "label": rule.label}
        item["details"]["sample"] = [
            {"_file": str(f), "_row": int(n), "value": gx.jsonable(v)}
            for f, n, v in raw.loc[first, ["_file", "_row", rule.column]].itertuples(index=False)
        ]
        results.append(item)
        counts.append(gx.Counts.of(r))
        if len(positions):
            values = raw[rule.column].take(positions)
            helper = chk[rule.helper].take(positions) if rule.helper else None
            texts = list(rule.reason(values, helper, as_of))
            reasons.append(pd.DataFrame({"pos": positions, "order": order, "reason": texts}))

    if reasons:
        why = pd.concat(reasons).sort_values(["pos", "order"]).groupby("pos", sort=True)["reason"].agg("; ".join)
    else:
        why = pd.Series(dtype="str")
    bad = np.zeros(len(raw), dtype=bool)
    bad[why.index.to_numpy(dtype=np.int64)] = True

    quarantined = raw[bad]
    quarantine = pd.DataFrame(
        {
            "source": pd.Series(gate.source, index=quarantined.index, dtype="str"),
            "_file": quarantined["_file"],
            "_row": quarantined["_row"],
            "record": pd.Series(_records(quarantined), index=quarantined.index, dtype="str"),
            "reason": pd.Series(why.to_numpy(), index=quarantined.index, dtype="str"),
        }
    ).reset_index(drop=True)
    clean = norm.loc[~bad, columns].reset_index(drop=True)
    held = int((chk["_occurred_at_utc"][~bad] >= as_of).sum()) if gate is EVENTS_GATE else 0
    return _Part(GateResult(gate.name, clean, quarantine, results, int(copy.sum()), unexpected, held), counts)


def _check_chunks(
    gate: _Gate,
    chunks: Iterable[tuple[pd.DataFrame, np.ndarray, np.ndarray]],
    *,
    as_of: datetime,
    unexpected: tuple[str, ...],
    keep: Callable[[GateResult], None],
    file_order: Mapping[str, int] | None = None,
) -> GateTotals:
    """Check (chunk, copy, problem) triples, hand each chunk's outcome to `keep`, and return the
    totals: counts add up, each rule's sample is the batch's first five failing rows (chunks in batch
    order, or in any order with `file_order`, the rank of each file in batch order)."""
    results: list[dict] = []
    counts: list[gx.Counts] = []
    clean = quarantined = copies = held = 0
    for raw, copy, problem in chunks:
        part = _check_chunk(gate, raw, copy, problem, as_of=as_of, unexpected=unexpected, file_order=file_order)
        keep(part.result)
        clean += len(part.result.clean)
        quarantined += len(part.result.quarantine)
        copies += part.result.exact_duplicates
        held += part.result.held
        if not results:
            results, counts = part.result.results, part.counts
            continue
        for item, more in zip(results, part.result.results, strict=True):
            sample = item["details"]["sample"] + more["details"]["sample"]
            if file_order is not None:
                sample.sort(key=lambda s: (file_order[s["_file"]], s["_row"]))
            item["details"]["sample"] = sample[:5]
        counts = [a + b for a, b in zip(counts, part.counts, strict=True)]
    results = [gx.with_counts(item, c) for item, c in zip(results, counts, strict=True)]
    return GateTotals(gate.name, clean, quarantined, results, copies, unexpected, held)


def _check_share(gate: _Gate, totals: GateTotals, max_bad_share: float, batch: str, result: Any) -> None:
    """Raise ValidationFailed (carrying `result`) when more than `max_bad_share` of the rows is quarantined."""
    rows = totals.rows
    if rows and totals.quarantined / rows > max_bad_share:
        top = list(totals.summary()["by_reason"].items())[:3]
        raise ValidationFailed(
            f"{gate.name}: {totals.quarantined:,} of {rows:,} rows ({100 * totals.quarantined / rows:.1f} %) "
            f"failed validation, limit {100 * max_bad_share:.1f} %; top reasons: "
            f"{', '.join(f'{label} ({n:,})' for label, n in top)}; see ops.quarantine for batch {batch}",
            result=result,
        )


def _check_as_of(gate: _Gate, as_of: datetime) -> None:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"{gate.name}: as_of must be timezone-aware, got {as_of!r}")


def _run_gate(
    gate: _Gate,
    df: pd.DataFrame,
    *,
    as_of: datetime,
    max_bad_share: float,
    batch: str | None,
    chunk_rows: int | None = None,
) -> GateResult:
    _check_as_of(gate, as_of)
    batch = batch or _batch_name(df)
    unexpected = _check_schema(gate, df, batch)
    raw = df.reset_index(drop=True)
    copy = np.zeros(len(raw), dtype=bool)
    problem = np.full(len(raw), None, dtype=object)
    shared = _shares_key(gate, raw)
    if shared.any():
        copy[shared], problem[shared] = _judge_duplicates(gate, raw[shared], unexpected)
    size = chunk_rows or max(len(raw), 1)
    chunks = (
        (raw.iloc[start : start + size], copy[start : start + size], problem[start : start + size])
        for start in range(0, max(len(raw), 1), size)
    )
    parts: list[GateResult] = []
    totals = _check_chunks(gate, chunks, as_of=as_of, unexpected=unexpected, keep=parts.append)
    result = GateResult(
        gate.name,
        pd.concat([p.clean for p in parts], ignore_index=True),
        pd.concat([p.quarantine for p in parts], ignore_index=True),
        totals.results,
        totals.exact_duplicates,
        unexpected,
        totals.held,
    )
    _check_share(gate, totals, max_bad_share, batch, result)
    return result


def validate_raw_crm(
    df: pd.DataFrame, *, as_of: datetime, max_bad_share: float, batch: str | None = None, chunk_rows: int | None = None
) -> GateResult:
    """Split a raw CRM batch into clean and quarantined rows (see the module docstring).

    Raises ValidationFailed when columns are missing or more than `max_bad_share` of the rows is
    quarantined; the exception's `result` is the GateResult, so the caller can still record the
    quarantine. `batch` names the batch in messages (by default, its file names). `chunk_rows`
    checks the rows that many at a time (the result is the same).
    """
    return _run_gate(CRM_GATE, df, as_of=as_of, max_bad_share=max_bad_share, batch=batch, chunk_rows=chunk_rows)


def validate_raw_events(
    df: pd.DataFrame, *, as_of: datetime, max_bad_share: float, batch: str | None = None, chunk_rows: int | None = None
) -> GateResult:
    """Split a raw web-event batch into clean and quarantined rows; raises like `validate_raw_crm`."""
    return _run_gate(EVENTS_GATE, df, as_of=as_of, max_bad_share=max_bad_share, batch=batch, chunk_rows=chunk_rows)


def validate_batch(
    source: str,
    chunks: Iterable[pd.DataFrame],
    shared_keys: pd.DataFrame,
    *,
    as_of: datetime,
    max_bad_share: float,
    batch: str,
    keep: Callable[[GateResult], None],
    files: Sequence[str],
) -> GateTotals:
    """The raw gate of `source` ('crm' or 'web') over a batch too large for memory: the same
    outcome as `validate_raw_crm` / `validate_raw_events` on the whole batch in (_file, _row)
    order, as totals.

    `files` are the batch's files in batch order. `chunks` is the batch in any order (no sort of
    the whole batch is needed), at least one frame (empty when the batch is); each
    chunk's clean and quarantined rows go to `keep` as soon as they are checked, so memory follows
    the chunk size. `shared_keys` holds, in batch order, every row of the batch whose key
    (`KEYS[source]`, trimmed as `key_strip()` says) another row shares: duplicates are judged on
    them, and matched to the chunks' rows by (_file, _row), unique within a batch. Raises like
    `validate_raw_crm`, with the GateTotals as the exception's `result`, after every chunk is kept.
    """
    gate = next(g for g in GATES if g.source == source)
    _check_as_of(gate, as_of)
    unexpected = _check_schema(gate, shared_keys, batch)
    judged = shared_keys.reset_index(drop=True)
    copy, problem = _judge_duplicates(gate, judged, unexpected)
    marked = pd.MultiIndex.from_arrays([judged["_file"].astype(str), judged["_row"].astype("int64")])
    if not marked.is_unique:
        raise ValueError(f"{gate.name}: (_file, _row) is not unique in batch {batch}")

    def marks() -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray]]:
        for chunk in chunks:
            if list(chunk.columns) != list(shared_keys.columns):
                raise ValueError(f"{gate.name}: a chunk's columns differ from the shared keys' in batch {batch}")
            chunk = chunk.reset_index(drop=True)
            at = marked.get_indexer(
                pd.MultiIndex.from_arrays([chunk["_file"].astype(str), chunk["_row"].astype("int64")])
            )
            found = at >= 0
            chunk_copy = np.zeros(len(chunk), dtype=bool)
            chunk_problem = np.full(len(chunk), None, dtype=object)
            chunk_copy[found], chunk_problem[found] = copy[at[found]], problem[at[found]]
            yield chunk, chunk_copy, chunk_problem

    file_order = {str(f): rank for rank, f in enumerate(files)}
    totals = _check_chunks(gate, marks(), as_of=as_of, unexpected=unexpected, keep=keep, file_order=file_order)
    _check_share(gate, totals, max_bad_share, batch, totals)
    return totals


# --- the suites in gx/ ---------------------------------------------------------------------------


def suite_documents() -> dict[str, dict]:
    """Every gate's suite (row-level here, run-level in `checks`) as GX stores it in a file context
    (`gx/expectations/<name>.json`)."""
    docs = {}
    for gate in GATES:
        doc = _suite(gate.name).to_json_dict()
        doc["meta"] = {"generated_by": "python -m leadflow.validation.raw --write-suites"}
        docs[gate.name] = doc
    return docs | checks.suite_documents()


def write_suites(gx_dir: Path) -> list[Path]:
    """Write the suites into the file context at `gx_dir`; returns the files written."""
    written = []
    for name, doc in suite_documents().items():
        path = gx_dir / "expectations" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    from leadflow.config import project_home

    if sys.argv[1:] != ["--write-suites"]:
        sys.exit("usage: python -m leadflow.validation.raw --write-suites")
    for p in write_suites(project_home() / "gx"):
        print(p)
