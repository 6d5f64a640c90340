"""Nurture's pure functions: the frequency cap, send windows, sequences validation, the one retry
layer and the kill switch — tiny inline inputs, each expected value explained."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from leadflow.config import ConfigError
from leadflow.nurture.mailer import SendResult
from leadflow.nurture.plan import FrequencyCap, Sequences, capped_send_time, load_sequences, send_time, within_cap
from leadflow.nurture.send import _batch_of, send_with_retry, sending_switched_off
from leadflow.nurture.windows import SendWindow

CAP = FrequencyCap(max_per_7_days=2, min_days_apart=2)
D = date(2026, 11, 18)  # a Wednesday
WINDOW = SendWindow(start=9, end=18, send_hour=10, holiday_countries=("JP", "US"))


@pytest.mark.parametrize(
    ("others", "allowed"),
    [
        ([], True),  # nothing else: always allowed
        ([date(2026, 11, 17)], False),  # one day apart < min_days_apart 2
        ([date(2026, 11, 16)], True),  # exactly two days apart
        ([date(2026, 11, 20)], True),  # the gap counts both ways
        ([date(2026, 11, 12), date(2026, 11, 16)], False),  # 12, 16 and 18 fall in the window 12..18: 3 > 2
        ([date(2026, 11, 11), date(2026, 11, 16)], True),  # 11 is 7 days back: windows hold at most 2
        ([date(2026, 11, 20), date(2026, 11, 24)], False),  # window 18..24 would hold 3
    ],
)
def test_within_cap(others, allowed):
    assert within_cap(D, others, CAP) is allowed


def test_send_time_skips_weekends_and_holidays():
    # Friday 2026-11-20 after hours in Tokyo → Monday 23rd is 勤労感謝の日 (a holiday) → Tuesday 10:00 JST
    at = send_time(datetime(2026, 11, 20, 12, tzinfo=UTC), "Asia/Tokyo", "JP", WINDOW)
    assert at == datetime(2026, 11, 24, 1, tzinfo=UTC)


def test_send_time_uses_the_leads_own_zone():
    # 10:00 in New York on Wednesday is 15:00 UTC (EST)
    assert send_time(datetime(2026, 11, 18, 0, tzinfo=UTC), "America/New_York", "US", WINDOW) == datetime(
        2026, 11, 18, 15, tzinfo=UTC
    )


def test_a_capped_send_is_deferred_to_the_next_allowed_business_day_never_dropped():
    monday = datetime(2026, 11, 16, 1, tzinfo=UTC)  # another email Monday 10:00 JST
    # wanted Monday too: Monday taken, Tuesday 1 day after it → Wednesday 10:00 JST
    at = capped_send_time(datetime(2026, 11, 15, 15, tzinfo=UTC), [monday], CAP, "Asia/Tokyo", "JP", WINDOW)
    assert at == datetime(2026, 11, 18, 1, tzinfo=UTC)


def test_a_full_week_defers_past_the_weekend():
    others = [datetime(2026, 11, 16, 1, tzinfo=UTC), datetime(2026, 11, 18, 1, tzinfo=UTC)]  # Mon, Wed
    # Thu/Fri: 3 in a week; Sat/Sun: weekend; Mon 23rd: holiday; Tue 24th: window 18..24 holds Wed → 2 ok
    at = capped_send_time(datetime(2026, 11, 18, 15, tzinfo=UTC), others, CAP, "Asia/Tokyo", "JP", WINDOW)
    assert at == datetime(2026, 11, 24, 1, tzinfo=UTC)


def test_the_shipped_sequences_are_valid():
    seq = load_sequences(Path(__file__).resolve().parents[2] / "config" / "sequences.yml")
    assert set(seq.tracks) == {"cold", "warm", "recycled"}
    assert seq.triggers["inactivity_reminder"].inactive_days and seq.triggers["download_followup"].events


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tracks": {"hot": [{"template": "x", "delay_days": 0}]}}, "not a nurtured stage"),
        ({"tracks": {"cold": []}}, "at least one step"),
        ({"triggers": {"birthday": {"template": "x", "events": ["a"]}}}, "unknown trigger"),
        ({"triggers": {"download_followup": {"template": "x"}}}, "exactly one of"),
        ({"triggers": {"inactivity_reminder": {"template": "x", "events": ["a"]}}}, "takes inactive_days"),
        ({"tracks": {"cold": [{"template": "x", "delay_days": -1}]}}, "greater than or equal"),
        ({"frequency_cap": {"max_per_7_days": 0}}, "greater than 0"),
    ],
)
def test_invalid_sequences_are_refused_with_the_field(tmp_path, change, message):
    base = {"tracks": {"cold": [{"template": "x", "delay_days": 0}]}, "owner_alert": {"template": "a"}}
    path = tmp_path / "sequences.yml"
    import yaml

    path.write_text(yaml.safe_dump(base | change), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_sequences(path)


def test_sequences_list_every_template():
    seq = Sequences.model_validate(
        {
            "tracks": {"cold": [{"template": "a", "delay_days": 0}]},
            "triggers": {"download_followup": {"template": "b", "events": ["whitepaper_download"]}},
            "owner_alert": {"template": "c"},
        }
    )
    assert seq.templates() == {"a", "b", "c"}


class ScriptedMailer:
    """Answers each send with the next scripted result."""

    def __init__(self, *results: SendResult):
        self.results = list(results)
        self.calls = 0

    def send(self, email):
        self.calls += 1
        return self.results.pop(0)


LIMITED = SendResult("failed", None, "SendGrid 429", retry_after=30.0)
SENT = SendResult("sent", "m1", None)


def test_429_is_retried_after_the_reset_then_sent():
    waits: list[float] = []
    mailer = ScriptedMailer(LIMITED, LIMITED, SENT)
    assert send_with_retry(mailer, object(), sleep=waits.append) == SENT
    assert waits == [30.0, 30.0] and mailer.calls == 3


def test_the_retry_budget_is_bounded_in_tries_and_seconds():
    waits: list[float] = []
    mailer = ScriptedMailer(*([LIMITED] * 10))
    result = send_with_retry(mailer, object(), attempts=5, max_wait=70, sleep=waits.append)
    # 30 + 30 + the 10 s left of the 70 s budget, then it stops: the email stays safe to resume
    assert result.retryable and waits == [30.0, 30.0, 10.0] and mailer.calls == 4


@pytest.mark.parametrize(
    "result",
    [SendResult("unknown", None, "SendGrid 500"), SendResult("failed", None, "SendGrid 400"), SENT],
)
def test_unclear_refused_and_sent_outcomes_are_never_retried(result):
    mailer = ScriptedMailer(result)
    assert send_with_retry(mailer, object(), sleep=lambda s: pytest.fail("slept")) == result
    assert mailer.calls == 1


def test_the_kill_switch(settings, monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_LEADFLOW_SENDING_ENABLED", raising=False)
    assert sending_switched_off(settings) is None
    off = settings.model_copy(update={"mailer": settings.mailer.model_copy(update={"enabled": False})})
    assert sending_switched_off(off) == "mailer.enabled: false"
    monkeypatch.setenv("AIRFLOW_VAR_LEADFLOW_SENDING_ENABLED", "False")
    assert "leadflow_sending_enabled" in sending_switched_off(settings)


def test_batches_are_stable_and_cover_every_key():
    keys = [f"lead{n}:cold:2026-11-18:1" for n in range(200)]
    batches = [_batch_of(k, 4) for k in keys]
    assert batches == [_batch_of(k, 4) for k in keys]  # the same in every process (crc32, not hash())
    assert set(batches) == {0, 1, 2, 3}
