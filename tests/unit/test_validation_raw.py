"""The raw-data gates: every row-level check passes and fails with its exact reason, the bad-input
suite, the run-level failures (schema drift, bad share) and the GX wrapper around them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from email_validator import EmailNotValidError, validate_email

from leadflow.validation import gx, raw
from leadflow.validation.raw import GateResult, ValidationFailed, validate_raw_crm, validate_raw_events

ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")
# The run's cutoff: the last instant of the as-of day 2024-05-31 in the project's zone.
AS_OF = datetime(2024, 5, 31, 23, 59, 59, 999999, tzinfo=TOKYO)
CUTOFF = "2024-05-31T23:59:59.999999+09:00"

LEAD = {
    "crm_id": "C1",
    "email": "taro.yamada@acme.co.jp",
    "first_name": "Taro",
    "last_name": "Yamada",
    "company": "ACME",
    "industry": "manufacturing",
    "employee_count": "250",
    "job_title": "CTO",
    "country": "JP",
    "locale": "ja",
    "timezone": "Asia/Tokyo",
    "lead_source": "webinar",
    "owner_email": "sato@leadflow.example",
    "email_opt_in": "true",
    "bant_budget": "false",
    "bant_authority": "true",
    "bant_need": "true",
    "bant_timeline": "false",
    "crm_status": "new",
    "created_at": "2024-05-01T10:00:00+09:00",
    "updated_at": "2024-05-02T10:00:00+09:00",
}
EVENT = {
    "event_id": "E1",
    "crm_id": "C1",
    "email": None,
    "event_type": "page_view",
    "occurred_at": "2024-05-10T12:00:00Z",
    "url": "https://acme.example/pricing",
    "properties": '{"ref": "newsletter"}',
}


def frame(*rows: dict, file: str = "crm.csv") -> pd.DataFrame:
    """Rows as the loader lands them: text columns, `_row` counting from 1 within `file`."""
    df = pd.DataFrame(list(rows)).astype(object)
    df["_row"] = range(1, len(rows) + 1)
    df["_file"] = file
    return df


def crm(*rows: dict, limit: float = 1.0) -> GateResult:
    # limit 1.0: row-level tests must never trip the run-level bad-share check.
    return validate_raw_crm(frame(*rows), as_of=AS_OF, max_bad_share=limit)


def events(*rows: dict, limit: float = 1.0) -> GateResult:
    return validate_raw_events(frame(*rows, file="web.jsonl"), as_of=AS_OF, max_bad_share=limit)


def reasons(result: GateResult) -> dict[int, str]:
    return dict(zip(result.quarantine["_row"], result.quarantine["reason"], strict=True))


def assert_accounted(result: GateResult, rows: int) -> None:
    """Nothing silently dropped: every input row is clean, quarantined or an exact duplicate."""
    assert len(result.clean) + len(result.quarantine) + result.exact_duplicates == rows
    assert result.summary()["rows"] == rows


# --- CRM: each check passes and fails ------------------------------------------------------------


def test_a_valid_lead_passes_and_is_normalised() -> None:
    result = crm(LEAD | {"email": " Taro.Yamada@ACME.co.jp ", "employee_count": "1,000", "email_opt_in": "Yes"})
    assert reasons(result) == {}
    row = result.clean.iloc[0]
    assert row["email"] == "taro.yamada@acme.co.jp"  # trimmed and lower-cased
    assert row["employee_count"] == "1000"  # thousands separators accepted and removed
    assert row["email_opt_in"] == "true"  # yes/no/1/0 become true/false
    assert row["created_at"] == "2024-05-01T01:00:00.000000+00:00"  # 10:00 at +09:00 is 01:00 UTC
    assert list(result.clean.columns) == [*raw.CRM_COLUMNS, "_row", "_file"]
    assert_accounted(result, 1)


CRM_FAILURES = [
    # (overrides, exact reason); each row breaks exactly one rule of an otherwise valid lead.
    ({"crm_id": None}, "crm_id: missing"),
    ({"crm_id": "N/A"}, "crm_id: missing"),  # 'N/A' counts as empty, and crm_id is required
    ({"crm_id": "  "}, "crm_id: missing"),
    ({"email": None}, "email: missing"),
    ({"email": "-"}, "email: missing"),
    (
        {"email": "a@b@c.com"},
        "email: 'a@b@c.com' is not a valid address (The part after the @-sign contains invalid characters: '@'.)",
    ),
    (
        {"email": "taro@acme"},  # no dot in the domain: not deliverable on the internet
        "email: 'taro@acme' is not a valid address (The part after the @-sign is not valid. It should have a period.)",
    ),
    ({"created_at": None}, "created_at: missing"),
    (
        {"created_at": "2024-05-01 10:00:00"},
        "created_at: '2024-05-01 10:00:00' has no time zone (expected ISO-8601 with Z or an offset)",
    ),
    (
        {"created_at": "2024-05-01"},  # a date is a timestamp at midnight, in no zone
        "created_at: '2024-05-01' has no time zone (expected ISO-8601 with Z or an offset)",
    ),
    (
        {"created_at": "01/05/2024 10:00 JST"},
        "created_at: '01/05/2024 10:00 JST' is not an ISO-8601 timestamp",
    ),
    (
        {"created_at": "2024-02-30T10:00:00Z"},
        "created_at: '2024-02-30T10:00:00Z' is not an ISO-8601 timestamp",
    ),
    (
        {"updated_at": "2024-06-01T00:00:00+09:00"},  # one microsecond after the cutoff
        f"updated_at: '2024-06-01T00:00:00+09:00' is after the as-of cutoff {CUTOFF}",
    ),
    (
        {"updated_at": "2024-05-31T15:00:00Z"},  # = 2024-06-01 00:00 in Tokyo
        f"updated_at: '2024-05-31T15:00:00Z' is after the as-of cutoff {CUTOFF}",
    ),
    ({"employee_count": "NaN"}, "employee_count: 'NaN' is not a non-negative integer"),
    ({"employee_count": "-5"}, "employee_count: '-5' is not a non-negative integer"),
    ({"employee_count": "12.5"}, "employee_count: '12.5' is not a non-negative integer"),
    ({"employee_count": "1,00"}, "employee_count: '1,00' is not a non-negative integer"),  # not thousands
    ({"employee_count": "50-100"}, "employee_count: '50-100' is not a non-negative integer"),
    ({"locale": "fr"}, "locale: 'fr' is not one of ja, en"),
    ({"locale": "ja-JP"}, "locale: 'ja-JP' is not one of ja, en"),
    (
        {"crm_status": "lost"},
        "crm_status: 'lost' is not one of new, working, nurturing, qualified, customer, disqualified",
    ),
    ({"timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not an IANA time zone"),
    ({"timezone": "Asia"}, "timezone: 'Asia' is not an IANA time zone"),  # a folder of zones, not a zone
    ({"timezone": "JST"}, "timezone: 'JST' is not an IANA time zone"),
    ({"email_opt_in": "maybe"}, "email_opt_in: 'maybe' is not a boolean (true/false/yes/no/1/0)"),
    ({"bant_budget": "y"}, "bant_budget: 'y' is not a boolean (true/false/yes/no/1/0)"),
    ({"bant_authority": "2"}, "bant_authority: '2' is not a boolean (true/false/yes/no/1/0)"),
    ({"bant_need": "on"}, "bant_need: 'on' is not a boolean (true/false/yes/no/1/0)"),
    ({"bant_timeline": "t"}, "bant_timeline: 't' is not a boolean (true/false/yes/no/1/0)"),
]


@pytest.mark.parametrize(("overrides", "reason"), CRM_FAILURES)
def test_crm_row_is_quarantined_with_reason(overrides: dict, reason: str) -> None:
    result = crm(LEAD | overrides)
    assert reasons(result) == {1: reason}
    assert result.clean.empty
    assert_accounted(result, 1)


CRM_PASSES = [
    # (overrides, column, value in the clean frame; None = missing)
    ({"email": "TARO.Yamada@Acme.CO.JP"}, "email", "taro.yamada@acme.co.jp"),  # case is not an error
    ({"email": "user@例え.jp"}, "email", "user@例え.jp"),  # IDN domain, kept in Unicode form
    ({"email": "user@xn--r8jz45g.jp"}, "email", "user@例え.jp"),  # the same domain in Punycode
    ({"email": "δοκιμή@παράδειγμα.δοκιμή"}, "email", "δοκιμή@παράδειγμα.δοκιμή"),  # Unicode local part
    ({"created_at": "2024-05-01T10:00:00Z"}, "created_at", "2024-05-01T10:00:00.000000+00:00"),
    ({"created_at": "2024-05-01T10:00:00+0900"}, "created_at", "2024-05-01T01:00:00.000000+00:00"),
    ({"updated_at": CUTOFF}, "updated_at", "2024-05-31T14:59:59.999999+00:00"),  # the cutoff is allowed
    ({"employee_count": "1,000"}, "employee_count", "1000"),
    ({"employee_count": "12,345,678"}, "employee_count", "12345678"),
    ({"employee_count": " 42 "}, "employee_count", "42"),
    ({"employee_count": "0"}, "employee_count", "0"),
    ({"employee_count": ""}, "employee_count", None),  # optional
    ({"employee_count": "N/A"}, "employee_count", None),
    ({"employee_count": None}, "employee_count", None),
    ({"locale": " EN "}, "locale", "en"),
    ({"locale": "-"}, "locale", None),
    ({"crm_status": "Nurturing"}, "crm_status", "nurturing"),
    ({"timezone": "America/New_York"}, "timezone", "America/New_York"),
    ({"timezone": ""}, "timezone", None),
    ({"email_opt_in": "YES"}, "email_opt_in", "true"),
    ({"email_opt_in": "No"}, "email_opt_in", "false"),
    ({"bant_budget": "1"}, "bant_budget", "true"),
    ({"bant_budget": "0"}, "bant_budget", "false"),
    ({"bant_need": "FALSE"}, "bant_need", "false"),
    ({"bant_timeline": ""}, "bant_timeline", None),
    ({"bant_timeline": "N/A"}, "bant_timeline", None),
    ({"job_title": "n/a"}, "job_title", None),  # 'N/A' in any case is empty
    # Markup and template syntax in names are data; escaping is the renderer's job.
    ({"first_name": "<script>alert(1)</script>"}, "first_name", "<script>alert(1)</script>"),
    ({"last_name": "{{7*7}}"}, "last_name", "{{7*7}}"),
    ({"first_name": "Ta\r\nro"}, "first_name", "Ta\r\nro"),  # CR/LF pass through untouched
    ({"company": "ACME\nBcc: victim@example.com"}, "company", "ACME\nBcc: victim@example.com"),
]


@pytest.mark.parametrize(("overrides", "column", "value"), CRM_PASSES)
def test_crm_row_passes_and_is_normalised(overrides: dict, column: str, value: str | None) -> None:
    result = crm(LEAD | overrides)
    assert reasons(result) == {}
    got = result.clean.iloc[0][column]
    assert (pd.isna(got) and value is None) or got == value


def test_a_row_failing_several_checks_lists_every_reason_in_rule_order() -> None:
    result = crm(LEAD | {"email": "a@b@c.com", "locale": "fr", "timezone": "Nowhere"})
    assert reasons(result) == {
        1: "email: 'a@b@c.com' is not a valid address "
        "(The part after the @-sign contains invalid characters: '@'.); "
        "locale: 'fr' is not one of ja, en; timezone: 'Nowhere' is not an IANA time zone"
    }


# --- CRM duplicates ------------------------------------------------------------------------------


def test_duplicate_crm_id_latest_updated_at_wins() -> None:
    older = LEAD | {"email": "old@acme.co.jp", "updated_at": "2024-05-02T10:00:00+09:00"}
    newer = LEAD | {"email": "new@acme.co.jp", "updated_at": "2024-05-03T10:00:00+09:00"}
    result = crm(older, newer)
    # Row 2 has the later updated_at, so it is the lead's current state; row 1 is history.
    assert list(result.clean["email"]) == ["new@acme.co.jp"]
    assert reasons(result) == {1: "duplicate crm_id 'C1' superseded by row 2 of crm.csv"}
    assert_accounted(result, 2)


def test_duplicate_crm_id_with_a_tie_quarantines_all_of_them() -> None:
    a = LEAD | {"email": "a@acme.co.jp"}
    b = LEAD | {"email": "b@acme.co.jp"}
    older = LEAD | {"email": "c@acme.co.jp", "updated_at": "2024-05-01T12:00:00+09:00"}
    result = crm(a, b, older)
    # Same latest updated_at, different content: no way to tell which is current.
    text = (
        "conflicting duplicates: crm_id 'C1' has different rows with the same latest updated_at (rows 1, 2 of crm.csv)"
    )
    assert reasons(result) == {1: text, 2: text, 3: text}
    assert result.clean.empty


def test_duplicates_across_files_name_each_file() -> None:
    df = pd.concat([frame(LEAD | {"email": "a@acme.co.jp"}, file="a.csv"), frame(LEAD, file="b.csv")])
    result = validate_raw_crm(df, as_of=AS_OF, max_bad_share=1.0)
    text = (
        "conflicting duplicates: crm_id 'C1' has different rows with the same latest updated_at "
        "(row 1 of a.csv, row 1 of b.csv)"
    )
    assert list(result.quarantine["reason"]) == [text, text]


def test_emails_differing_only_in_case_and_space_are_one_lead() -> None:
    # After normalisation both rows are the same record: an exact duplicate, counted and dropped.
    result = crm(LEAD | {"email": "Taro.Yamada@ACME.co.jp "}, LEAD | {"email": " taro.yamada@acme.co.jp"})
    assert reasons(result) == {}
    assert list(result.clean["_row"]) == [1]
    assert result.exact_duplicates == 1
    assert_accounted(result, 2)


def test_the_same_instant_in_two_offsets_is_an_exact_duplicate() -> None:
    # 10:00 in Tokyo and 01:00 UTC are one instant; the clean frame holds it in UTC.
    result = crm(LEAD, LEAD | {"updated_at": "2024-05-02T01:00:00Z"})
    assert result.exact_duplicates == 1 and len(result.clean) == 1


def test_an_invalid_duplicate_is_quarantined_for_both_reasons() -> None:
    newer_but_broken = LEAD | {"email": "a@b@c.com", "updated_at": "2024-05-03T10:00:00+09:00"}
    result = crm(LEAD, newer_but_broken)
    # The CRM's current version (row 2) is broken, so the stale row 1 must not load as current.
    assert reasons(result) == {
        1: "duplicate crm_id 'C1' superseded by row 2 of crm.csv",
        2: "email: 'a@b@c.com' is not a valid address (The part after the @-sign contains invalid characters: '@'.)",
    }


# --- events --------------------------------------------------------------------------------------

EVENT_FAILURES = [
    ({"event_id": None}, "event_id: missing"),
    ({"event_type": ""}, "event_type: missing"),
    ({"event_type": "login"}, "event_type: 'login' is not a known event type"),
    ({"occurred_at": None}, "occurred_at: missing"),
    (
        {"occurred_at": "2024-05-10T12:00:00"},
        "occurred_at: '2024-05-10T12:00:00' has no time zone (expected ISO-8601 with Z or an offset)",
    ),
    ({"occurred_at": "yesterday"}, "occurred_at: 'yesterday' is not an ISO-8601 timestamp"),
    (
        {"occurred_at": "2024-06-02T00:00:00+09:00"},
        f"occurred_at: '2024-06-02T00:00:00+09:00' is more than a night after the as-of cutoff {CUTOFF} "
        "(later than 2024-06-01T23:59:59.999999+09:00): a clock in the future?",
    ),
    ({"crm_id": None, "email": None}, "crm_id, email: both missing (an event needs one of them)"),
    ({"crm_id": "N/A", "email": "-"}, "crm_id, email: both missing (an event needs one of them)"),
    (
        {"crm_id": None, "email": "a@b@c.com"},
        "email: 'a@b@c.com' is not a valid address (The part after the @-sign contains invalid characters: '@'.)",
    ),
    (
        {"properties": "{ref: newsletter}"},
        "properties: '{ref: newsletter}' is not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
    ),
    ({"properties": "[1, 2]"}, "properties: '[1, 2]' is not a JSON object"),
    ({"properties": '"text"'}, "properties: '\"text\"' is not a JSON object"),
]


@pytest.mark.parametrize(("overrides", "reason"), EVENT_FAILURES)
def test_event_row_is_quarantined_with_reason(overrides: dict, reason: str) -> None:
    result = events(EVENT | overrides)
    assert reasons(result) == {1: reason}
    assert_accounted(result, 1)


def test_an_event_after_the_cutoff_but_within_the_next_night_is_held_not_quarantined() -> None:
    # evening in Los Angeles and London on the as-of day: after midnight in Tokyo, early for nobody
    early = [
        EVENT | {"event_id": "la", "occurred_at": "2024-05-31T19:30:00-07:00"},
        EVENT | {"event_id": "ldn", "occurred_at": "2024-05-31T23:10:00+01:00"},
        EVENT | {"event_id": "edge", "occurred_at": "2024-06-01T23:59:59+09:00"},
    ]
    result = events(EVENT, *early, EVENT | {"event_id": "late", "occurred_at": "2024-06-02T00:00:00+09:00"})
    assert list(result.clean["event_id"]) == ["E1", "la", "ldn", "edge"]
    assert reasons(result) == {5: EVENT_FAILURES[6][1]}
    assert result.summary()["held_for_later_night"] == 3
    held = raw.held_events(result.clean, AS_OF)
    assert list(held["event_id"]) == ["la", "ldn", "edge"]
    assert {str(d) for d in held["due_date"]} == {"2024-06-01"}


def test_the_crm_gate_has_no_held_rows_and_keeps_its_cutoff() -> None:
    result = crm(LEAD | {"updated_at": "2024-06-01T00:00:01+09:00"})
    assert "held_for_later_night" not in result.summary()
    assert reasons(result) == {1: f"updated_at: '2024-06-01T00:00:01+09:00' is after the as-of cutoff {CUTOFF}"}


EVENT_PASSES = [
    ({}, "event_type", "page_view"),
    ({"event_type": " Demo_Request "}, "event_type", "demo_request"),
    ({"crm_id": None, "email": " Taro@ACME.co.jp"}, "email", "taro@acme.co.jp"),  # email alone is enough
    ({"crm_id": " C1 "}, "crm_id", "C1"),
    ({"properties": None}, "properties", None),
    ({"properties": "{}"}, "properties", "{}"),
    ({"occurred_at": CUTOFF}, "occurred_at", "2024-05-31T14:59:59.999999+00:00"),
    ({"occurred_at": "2024-05-10T12:00:00.123+02:00"}, "occurred_at", "2024-05-10T10:00:00.123000+00:00"),
]


@pytest.mark.parametrize(("overrides", "column", "value"), EVENT_PASSES)
def test_event_row_passes_and_is_normalised(overrides: dict, column: str, value: str | None) -> None:
    result = events(EVENT | overrides)
    assert reasons(result) == {}
    got = result.clean.iloc[0][column]
    assert (pd.isna(got) and value is None) or got == value


def test_event_id_duplicates() -> None:
    copy = EVENT | {"crm_id": " C1"}  # the same event once normalised
    changed = EVENT | {"url": "https://acme.example/other"}
    result = events(EVENT, copy, changed)
    # The identical copy is dropped and counted; the different one cannot both be event E1.
    assert result.exact_duplicates == 1
    assert reasons(result) == {3: "duplicate event_id 'E1' differs from row 1 of web.jsonl"}
    assert list(result.quarantine["source"]) == ["web"]  # named as in config: sources.web
    assert list(result.clean["_row"]) == [1]
    assert_accounted(result, 3)


# --- run level -----------------------------------------------------------------------------------


def test_a_dropped_column_is_schema_drift() -> None:
    df = frame(LEAD).drop(columns=["timezone"])
    with pytest.raises(ValidationFailed) as err:
        validate_raw_crm(df, as_of=AS_OF, max_bad_share=0.05)
    assert str(err.value) == "raw_crm: schema drift in batch crm.csv: missing columns: timezone"


def test_a_renamed_column_is_schema_drift_naming_both_names() -> None:
    df = frame(EVENT, file="web.jsonl").rename(columns={"occurred_at": "timestamp"})
    with pytest.raises(ValidationFailed) as err:
        validate_raw_events(df, as_of=AS_OF, max_bad_share=0.05)
    assert str(err.value) == (
        "raw_events: schema drift in batch web.jsonl: missing columns: occurred_at; unexpected columns: timestamp"
    )


def test_an_added_column_passes_through_and_is_reported() -> None:
    result = validate_raw_crm(frame(LEAD | {"fax": "03-0000"}), as_of=AS_OF, max_bad_share=0.05)
    assert result.summary()["unexpected_columns"] == ["fax"]
    assert result.clean.iloc[0]["fax"] == "03-0000"


def test_bad_share_over_the_limit_fails_the_run() -> None:
    good = [LEAD | {"crm_id": f"C{i}"} for i in range(18)]
    bad = [LEAD | {"crm_id": "X1", "email": "a@b@c.com"}, LEAD | {"crm_id": "X2", "locale": "fr"}]
    with pytest.raises(ValidationFailed) as err:
        crm(*good, *bad, limit=0.05)
    # 2 of 20 is 10 %, over 5 %; equal counts list in label order.
    assert str(err.value) == (
        "raw_crm: 2 of 20 rows (10.0 %) failed validation, limit 5.0 %; top reasons: "
        "email: not a valid address (1), locale: not one of ja, en (1); see ops.quarantine for batch crm.csv"
    )
    assert len(err.value.result.quarantine) == 2  # the caller can still record the quarantine


def test_bad_share_at_the_limit_passes() -> None:
    rows = [LEAD | {"crm_id": f"C{i}"} for i in range(19)] + [LEAD | {"crm_id": "X", "locale": "fr"}]
    assert len(crm(*rows, limit=0.05).quarantine) == 1  # 1 of 20 is exactly 5 %: not over


def test_bad_share_message_at_scale() -> None:
    # 812 bad of 10,000 rows, as a data engineer would read it in the task log.
    df = frame(*([LEAD] * 10_000))
    df["crm_id"] = [f"C{i}" for i in range(10_000)]
    df.loc[:811, "locale"] = "fr"
    with pytest.raises(ValidationFailed) as err:
        validate_raw_crm(df, as_of=AS_OF, max_bad_share=0.05, batch="2024-05-31/7")
    assert str(err.value) == (
        "raw_crm: 812 of 10,000 rows (8.1 %) failed validation, limit 5.0 %; top reasons: "
        "locale: not one of ja, en (812); see ops.quarantine for batch 2024-05-31/7"
    )


def test_zero_rows_is_not_a_failure() -> None:
    empty = frame(LEAD).iloc[0:0]
    result = validate_raw_crm(empty, as_of=AS_OF, max_bad_share=0.0)
    assert result.summary() | {"by_reason": {}} == {
        "name": "raw_crm",
        "rows": 0,
        "clean": 0,
        "quarantined": 0,
        "exact_duplicates": 0,
        "by_reason": {},
        "unexpected_columns": [],
    }


def test_as_of_must_be_aware() -> None:
    with pytest.raises(ValueError, match="as_of must be timezone-aware"):
        validate_raw_crm(frame(LEAD), as_of=datetime(2024, 5, 31), max_bad_share=0.05)


# --- the result ----------------------------------------------------------------------------------


def test_mixed_batch_accounts_for_every_row() -> None:
    rows = [
        LEAD,
        LEAD | {"email": " TARO.yamada@acme.co.jp"},  # exact duplicate of row 1
        LEAD | {"crm_id": "C2", "email": "N/A"},  # quarantined
        LEAD | {"crm_id": "C3", "first_name": "{{7*7}}"},  # clean
        LEAD | {"crm_id": "C4", "created_at": "2024-05-01T10:00"},  # quarantined
    ]
    result = crm(*rows)
    assert sorted([*result.clean["_row"], *result.quarantine["_row"]]) == [1, 3, 4, 5]
    assert result.summary() == {
        "name": "raw_crm",
        "rows": 5,
        "clean": 2,
        "quarantined": 2,
        "exact_duplicates": 1,
        "by_reason": {"created_at: not ISO-8601 with a time zone": 1, "email: missing": 1},
        "unexpected_columns": [],
    }


def test_quarantine_rows_carry_the_original_record() -> None:
    bad = LEAD | {"crm_id": "C9", "email": " A@B@C.COM", "first_name": "Ta\r\nro", "bant_need": None}
    q = crm(bad).quarantine
    assert list(q.columns) == ["source", "_file", "_row", "record", "reason"]
    assert (q.iloc[0]["source"], q.iloc[0]["_file"], q.iloc[0]["_row"]) == ("crm", "crm.csv", 1)
    # The record is the row as it arrived (not normalised), so it can be fixed and replayed.
    assert json.loads(q.iloc[0]["record"]) == bad


def test_results_are_one_json_dict_per_expectation() -> None:
    result = crm(LEAD, LEAD | {"crm_id": "C2", "locale": "fr"})
    assert len(result.results) == len(raw.CRM_RULES)
    locale = next(r for r in result.results if r["check"] == "locale_accepted")
    assert locale | {"details": None} == {
        "expectation": "expect_column_values_to_be_in_set",
        "check": "locale_accepted",
        "column": "locale",
        "label": "locale: not one of ja, en",
        "success": False,
        "element_count": 2,
        "unexpected_count": 1,
        "details": None,
    }
    assert locale["details"]["sample"] == [{"_file": "crm.csv", "_row": 2, "value": "fr"}]
    json.dumps(result.results)  # XCom-serialisable


def test_gx_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    crm(LEAD)
    assert capfd.readouterr() == ("", "")  # no progress bars, no log lines


# --- the email fast path and the GX suites -------------------------------------------------------

TRICKY_EMAILS = [
    "taro@acme.co.jp", "Taro.Yamada+news@Sub.ACME.com", "a_b-c@x-y.io", "a@b.c", "x@acme.test",
    "x@mail.local", "x@localhost", "x@acme.123", "x@-acme.com", "x@acme-.com", "x@ab--cd.com",
    "x@xn--r8jz45g.jp", "x@xn--zz.com", "a..b@acme.com", ".a@acme.com", "a.@acme.com",
    f"{'a' * 64}@acme.com", f"{'a' * 65}@acme.com", f"x@{'a' * 63}.com", f"x@{'a' * 64}.com",
    f"x@{'a.' * 124}com", "x@acme.c0m", "x@acme.com.", "user@例え.jp", "x@acme..com", "x y@acme.com",
]  # fmt: skip


def test_the_email_fast_path_agrees_with_email_validator() -> None:
    def reference(address: str) -> str | None:
        try:
            return validate_email(address, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            return None

    normal, problem = raw._emails(pd.Series(TRICKY_EMAILS, dtype="str"))
    for address, got, why in zip(TRICKY_EMAILS, normal, problem, strict=True):
        assert (None if why else got) == reference(address), address


def test_gx_suites_in_the_repository_match_the_code(tmp_path: Path) -> None:
    import great_expectations

    for name, doc in raw.suite_documents().items():
        committed = json.loads((ROOT / "gx" / "expectations" / f"{name}.json").read_text(encoding="utf-8"))
        assert committed == doc, "gx/ is stale: run .venv/bin/python -m leadflow.validation.raw --write-suites"
    # And gx/ is a working file context that holds them.
    shutil.copytree(ROOT / "gx", tmp_path / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    context = great_expectations.get_context(mode="file", project_root_dir=tmp_path)
    assert {s.name for s in context.suites.all()} == {
        "raw_crm",
        "raw_events",
        "raw_crm_run",
        "raw_events_run",
        "scores",
        "transitions",
    }


# --- the provider-style wrapper ------------------------------------------------------------------


def test_validate_dataframe_returns_an_xcom_dict_or_raises_listing_failures() -> None:
    expect = [
        gx.Expect("ExpectColumnValuesToNotBeNull", "lead_id_present", "lead_id is present", {"column": "lead_id"}),
        gx.Expect(
            "ExpectColumnValuesToBeBetween",
            "score_range",
            "score is 0-100",
            {"column": "score", "max_value": 100},
        ),
    ]
    ok = gx.validate_dataframe("scores_test", pd.DataFrame({"lead_id": [1, 2], "score": [10, 100]}), expect)
    assert ok["success"] is True and len(ok["expectations"]) == 2
    json.dumps(ok)

    bad = pd.DataFrame({"lead_id": [1, None, 3], "score": [10, 20, 130]})
    with pytest.raises(ValidationFailed) as err:
        gx.validate_dataframe("scores_test", bad, expect, batch="2024-05-31")
    assert str(err.value) == (
        "scores_test: 2 of 2 expectations failed (batch 2024-05-31):\n"
        "  - expect_column_values_to_not_be_null(column=lead_id, lead_id_present): "
        "1 of 3 values unexpected (33.3 %)\n"
        "  - expect_column_values_to_be_between(column=score, score_range): "
        "1 of 3 values unexpected (33.3 %), e.g. 130"
    )
    assert err.value.result["success"] is False


def test_gx_starts_without_the_modules_only_unused_expectations_need() -> None:
    """scipy.stats and altair (KL divergence, KS tests and their charts) wait for first use, which still works."""
    code = (
        "import sys\n"
        "from leadflow.validation import gx\n"
        "gx.context()\n"
        "gx.build_suite('s', [gx.Expect('ExpectColumnValuesToNotBeNull', 'c', 'd', {'column': 'x'})])\n"
        "print(sorted(m for m in ('scipy.stats._stats_py', 'altair.vegalite') if m in sys.modules))\n"
        "from scipy import stats\n"
        "import great_expectations.expectations.core.expect_column_kl_divergence_to_be_less_than as kl\n"
        "print(kl.stats.kstest is stats.kstest, stats.norm.cdf(0.0), kl.alt.Chart.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.splitlines() == ["[]", "True 0.5 Chart"]
