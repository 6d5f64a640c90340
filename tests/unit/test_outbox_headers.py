"""The file outbox's List-Unsubscribe headers, byte for byte as RFC 2369 and RFC 8058 receivers read
them, and its X-Leadflow-Send-At record — checked by parsing the written .eml."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from leadflow.nurture.mailer import FileMailer
from tests.unit.test_mailer import mailer_config, outgoing

# A real-length link: base URL, lead id and a signed token (well over 200 characters).
LONG_URL = (
    "https://leadflow.example/unsubscribe?lid=lead-0123456789abcdef0123456789abcdef"
    "&t=" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" * 3 + "&utm_source=nurture"
)


def header_lines(raw: bytes, name: bytes) -> list[bytes]:
    """The raw line(s) of one header field, continuation lines included, as written to the file."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(head) if line.lower().startswith(name.lower() + b":"))
    end = start + 1
    while end < len(head) and head[end][:1] in (b" ", b"\t"):
        end += 1
    return head[start:end]


def written(tmp_path, **overrides) -> bytes:
    FileMailer(tmp_path, mailer_config()).send(outgoing(**overrides))
    return (tmp_path / "s-000123-cold-1.eml").read_bytes()


def test_a_long_list_unsubscribe_url_is_written_as_is_never_encoded(tmp_path):
    assert len(LONG_URL) > 200
    raw = written(tmp_path, unsubscribe_url=LONG_URL)
    # one line, the URL verbatim in angle brackets (folded at 78 columns it used to become =?utf-8?q?=3Chttps…)
    assert header_lines(raw, b"List-Unsubscribe") == [b"List-Unsubscribe: <" + LONG_URL.encode() + b">"]
    assert header_lines(raw, b"List-Unsubscribe-Post") == [b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
    assert b"=?" not in b"".join(header_lines(raw, b"List-Unsubscribe"))
    msg = message_from_bytes(raw, policy=policy.default)
    assert str(msg["List-Unsubscribe"]) == f"<{LONG_URL}>"
    assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    # and the other headers still fold and encode as before
    assert all(len(line) <= 78 for line in header_lines(raw, b"Subject"))
    assert header_lines(raw, b"Subject")[0].startswith(b"Subject: =?utf-8?")


def test_the_shared_smtp_policy_is_left_alone(tmp_path):
    written(tmp_path, unsubscribe_url=LONG_URL)
    from email.message import EmailMessage

    msg = EmailMessage(policy=policy.SMTP)
    msg["List-Unsubscribe"] = f"<{LONG_URL}>"
    assert b"=?utf-8?q?" in msg.as_bytes()  # the stdlib's own behaviour, which the outbox avoids


@pytest.mark.parametrize(
    "url",
    [
        "https://leadflow.example/unsubscribe?t=" + "a" * 900,  # longer than one header line allows
        "https://leadflow.example/配信停止?t=abc",  # non-ASCII would have to be encoded
    ],
)
def test_an_unsubscribe_url_that_cannot_be_written_verbatim_is_refused(url):
    with pytest.raises(ValueError, match="List-Unsubscribe is never encoded"):
        outgoing(unsubscribe_url=url)


def test_the_outbox_records_send_at_in_utc(tmp_path):
    raw = written(tmp_path, send_at=datetime(2026, 11, 24, 1, tzinfo=UTC))
    assert header_lines(raw, b"X-Leadflow-Send-At") == [b"X-Leadflow-Send-At: 2026-11-24T01:00:00+00:00"]


def test_an_email_delivered_at_once_records_its_date_as_send_at(tmp_path):
    msg = message_from_bytes(written(tmp_path, send_at=None), policy=policy.default)
    assert datetime.fromisoformat(str(msg["X-Leadflow-Send-At"])) == msg["Date"].datetime
