"""Link tokens: what they carry, and every way a token fails to verify."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from leadflow.intake.tokens import (
    DEV_LINK_SECRET,
    ExpiredToken,
    InvalidToken,
    make_token,
    mask_email,
    verification_secrets,
    verify_token,
)
from leadflow.nurture.send import email_context, unsubscribe_url

TODAY = date(2026, 12, 7)


def token(secret: str = "s1", purpose="unsubscribe", issued: date = TODAY, **kw) -> str:  # noqa: S107
    return make_token(
        purpose, "L-42", locale="ja", email="taro.yamada@example.co.jp", secret=secret, issued=issued, **kw
    )


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("taro.yamada@example.co.jp", "t***@e***.co.jp"),
        ("a@b", "a***@b***"),
        ("", "***"),
        ("not-an-address", "***"),
    ],
)
def test_mask_email_keeps_only_first_letters(address, masked):
    assert mask_email(address) == masked


def test_a_token_carries_what_the_page_needs_and_not_the_address():
    tok = token(send_key="s-1-cold-1")
    claims = verify_token(tok, "unsubscribe", ("s1",), max_age_days=60, today=TODAY)
    assert (claims.lead_id, claims.locale, claims.masked_email, claims.issued, claims.send_key) == (
        "L-42",
        "ja",
        "t***@e***.co.jp",
        TODAY,
        "s-1-cold-1",
    )
    assert "taro" not in tok and "yamada" not in tok


@pytest.mark.parametrize(
    "broken",
    [
        lambda t: t[:-1],  # truncated signature
        lambda t: t[: len(t) // 2],  # cut in the payload
        lambda t: ("A" if t[3] != "A" else "B").join((t[:3], t[4:])),  # one payload character changed
        lambda t: t.replace(".", ""),
        lambda t: "",
        lambda t: t + "." + t,
        lambda t: "x" * 5000,
    ],
)
def test_tampered_or_truncated_tokens_do_not_verify(broken):
    with pytest.raises(InvalidToken):
        verify_token(broken(token()), "unsubscribe", ("s1",), max_age_days=60, today=TODAY)


def test_foreign_secret_and_wrong_purpose_do_not_verify():
    with pytest.raises(InvalidToken):
        verify_token(token("other"), "unsubscribe", ("s1",), max_age_days=60, today=TODAY)
    with pytest.raises(InvalidToken):
        verify_token(token(purpose="preferences"), "unsubscribe", ("s1",), max_age_days=60, today=TODAY)


def test_links_work_60_days_and_expire_after_the_configured_age():
    old = token(issued=TODAY - timedelta(days=60))
    assert verify_token(old, "unsubscribe", ("s1",), max_age_days=60, today=TODAY).lead_id == "L-42"
    with pytest.raises(ExpiredToken) as info:
        verify_token(token(issued=TODAY - timedelta(days=61)), "unsubscribe", ("s1",), max_age_days=60, today=TODAY)
    assert info.value.link.locale == "ja"  # the expired page can still speak the lead's language


def test_a_token_signed_with_the_previous_secret_verifies_after_rotation():
    assert verify_token(token("old"), "unsubscribe", ("new", "old"), max_age_days=60, today=TODAY).lead_id == "L-42"


def test_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("LEADFLOW_LINK_SECRET", raising=False)
    monkeypatch.delenv("LEADFLOW_LINK_SECRET_PREVIOUS", raising=False)
    assert verification_secrets(dev_fallback=True) == (DEV_LINK_SECRET,)
    with pytest.raises(RuntimeError, match="LEADFLOW_LINK_SECRET must be set"):
        verification_secrets(dev_fallback=False)
    monkeypatch.setenv("LEADFLOW_LINK_SECRET", "new")
    monkeypatch.setenv("LEADFLOW_LINK_SECRET_PREVIOUS", "old")
    assert verification_secrets(dev_fallback=False) == ("new", "old")


def _row(**overrides):
    row = {
        "lead_id": "L-42",
        "send_key": "s-42-cold-1",
        "locale": "en",
        "to_email": "jane@example.com",
        "first_name": "Jane",
        "last_name": "Doe",
        "company": "Acme",
        "job_title": "",
        "industry": "",
        "email": "jane@example.com",
        "crm_id": "C-42",
        "total_score": 10,
        "fit_grade": "B",
        "top_reasons": "",
        "stage": "nurture",
        "owner_email": "owner@leadflow.example",
    }
    return row | overrides


def test_email_links_are_signed_per_lead_for_the_file_outbox_without_a_secret(settings, monkeypatch):
    monkeypatch.delenv("LEADFLOW_LINK_SECRET", raising=False)
    links = email_context(_row(), settings)["links"]
    unsub = links["unsubscribe"].split("token=", 1)[1]
    prefs = links["preferences"].split("token=", 1)[1]
    assert links["unsubscribe"].startswith(settings.mailer.unsubscribe_url + "?token=")
    claims = verify_token(unsub, "unsubscribe", (DEV_LINK_SECRET,), max_age_days=60)
    assert (claims.lead_id, claims.locale, claims.masked_email, claims.send_key) == (
        "L-42",
        "en",
        "j***@e***.com",
        "s-42-cold-1",
    )
    assert verify_token(prefs, "preferences", (DEV_LINK_SECRET,), max_age_days=60).lead_id == "L-42"


def test_sendgrid_mail_needs_a_link_secret(settings, monkeypatch):
    monkeypatch.delenv("LEADFLOW_LINK_SECRET", raising=False)
    real = settings.model_copy(update={"mailer": settings.mailer.model_copy(update={"kind": "sendgrid"})})
    with pytest.raises(RuntimeError, match="LEADFLOW_LINK_SECRET"):
        unsubscribe_url("L-42", real)


def test_a_configured_query_string_is_kept(settings, monkeypatch):
    monkeypatch.setenv("LEADFLOW_LINK_SECRET", "s1")
    custom = settings.model_copy(
        update={"mailer": settings.mailer.model_copy(update={"unsubscribe_url": "https://x.example/u?list=nurture"})}
    )
    assert unsubscribe_url("L-42", custom).startswith("https://x.example/u?list=nurture&token=")
