"""Mailers: the file outbox (.eml) and SendGrid against the local SendGrid-compatible server,
including every failure mode the send ledger must tell apart (sent / failed / unknown)."""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from types import SimpleNamespace

import pytest

from leadflow.config import MailerConfig
from leadflow.nurture import mailer as mailer_module
from leadflow.nurture.mailer import (
    FileMailer,
    MailerSetupError,
    OutgoingEmail,
    SendGridMailer,
    SendResult,
    SuppressionFetchError,
    mailer_from_settings,
)
from leadflow.nurture.render import render_email, sample_context, unsubscribe_link
from tests.fixtures.sendgrid_server import Fault, SendGridServer

TEMPLATES = Path(__file__).resolve().parents[2] / "email_templates"
API_KEY = "SG.unit-test-key.never-logged-0123456789"
NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: a fixed clock for rate-limit arithmetic
UNSUBSCRIBE = unsubscribe_link("https://leadflow.example/unsubscribe", "tok-1")


def mailer_config(**overrides) -> MailerConfig:
    values = {
        "from_email": "marketing@leadflow.example",
        "from_name": "leadflow マーケティング",
        "reply_to": "inside-sales@leadflow.example",
        "postal_address": "〒100-0005 東京都千代田区丸の内1-1-1 leadflow株式会社",
        "unsubscribe_url": "https://leadflow.example/unsubscribe",
        "preferences_url": "https://leadflow.example/preferences",
    }
    return MailerConfig(**(values | overrides))


def outgoing(template: str = "cold_industry_trends", locale: str = "ja", **overrides) -> OutgoingEmail:
    rendered = render_email(TEMPLATES, template, locale, sample_context(locale), unsubscribe_token="tok-1")
    values = {
        "send_key": "s-000123-cold-1",
        "to_email": "taro.yamada@sample-seisakusho.example",
        "to_name": "山田 太郎",
        "rendered": rendered,
        "send_at": None,
        "unsubscribe_url": "" if rendered.kind == "internal" else UNSUBSCRIBE,
        "categories": ("cold",),
    }
    return OutgoingEmail(**(values | overrides))


@pytest.fixture
def sg():
    with SendGridServer(api_key=API_KEY, clock=lambda: NOW) as server:
        yield server


def sendgrid(server: SendGridServer, timeout: float = 2.0, **config) -> SendGridMailer:
    return SendGridMailer(API_KEY, mailer_config(**config), host=server.url, timeout=timeout, clock=lambda: NOW)


# --------------------------------------------------------------------------- OutgoingEmail


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"send_key": "taro@example.com"}, "send_key"),  # an email address is PII, not a key
        ({"send_key": "../etc/passwd"}, "send_key"),
        ({"to_email": "a@b.example\r\nBcc: x@evil.example"}, "to_email"),
        ({"send_at": datetime(2026, 1, 1, 10)}, "timezone-aware"),
        ({"unsubscribe_url": ""}, "needs an unsubscribe_url"),
        ({"unsubscribe_url": "javascript:alert(1)"}, "http"),
    ],
)
def test_outgoing_email_rejects_unsafe_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        outgoing(**overrides)


def test_internal_email_needs_no_unsubscribe_url():
    assert outgoing("hot_owner_alert", unsubscribe_url="").unsubscribe_url == ""


def test_send_result_retryable_only_when_retry_after_is_set():
    assert SendResult("failed", None, "429", retry_after=5).retryable
    assert not SendResult("failed", None, "400").retryable
    assert not SendResult("unknown", None, "timeout", retry_after=5).retryable


# --------------------------------------------------------------------------- FileMailer


def test_file_mailer_writes_a_parseable_eml(tmp_path):
    email = outgoing(send_at=datetime(2026, 1, 5, 10, tzinfo=UTC) + timedelta(hours=-9))
    result = FileMailer(tmp_path / "outbox", mailer_config()).send(email)

    path = tmp_path / "outbox" / "s-000123-cold-1.eml"
    assert result == SendResult("sent", "<s-000123-cold-1@leadflow.example>", None)
    raw = path.read_bytes()
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["From"].addresses[0].display_name == "leadflow マーケティング"
    assert msg["From"].addresses[0].addr_spec == "marketing@leadflow.example"
    assert str(msg["To"]) == "山田 太郎 <taro.yamada@sample-seisakusho.example>"
    assert str(msg["Subject"]) == email.rendered.subject
    assert b"\r\nSubject: =?utf-8?" in raw  # non-ASCII subject is RFC 2047 encoded
    assert str(msg["Reply-To"]) == "inside-sales@leadflow.example"
    assert str(msg["List-Unsubscribe"]) == f"<{UNSUBSCRIBE}>"
    assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(msg["X-Leadflow-Send-Key"]) == "s-000123-cold-1"
    assert str(msg["X-Leadflow-Send-At"]) == "2026-01-05T01:00:00+00:00"
    assert str(msg["Message-ID"]) == result.message_id
    assert msg.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == email.rendered.text
    # set_content() ends a part with a newline; the html itself is unchanged.
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == email.rendered.html + "\n"


def test_file_mailer_is_idempotent(tmp_path):
    mailer = FileMailer(tmp_path, mailer_config())
    first = mailer.send(outgoing())
    before = (tmp_path / "s-000123-cold-1.eml").read_bytes()
    # Same send key, different content: the first file stands and the result is the same.
    second = mailer.send(outgoing("warm_checklist", "en"))
    assert second == first
    assert (tmp_path / "s-000123-cold-1.eml").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s-000123-cold-1.eml"]  # no temp files left


def test_file_mailer_never_lets_crm_values_add_headers(tmp_path):
    FileMailer(tmp_path, mailer_config()).send(outgoing(to_name="Evil\r\nBcc: victim@example.com"))
    msg = message_from_bytes((tmp_path / "s-000123-cold-1.eml").read_bytes(), policy=policy.default)
    assert msg["Bcc"] is None
    assert msg["To"].addresses[0].display_name == "Evil Bcc: victim@example.com"


def test_file_mailer_internal_alert_has_no_list_unsubscribe(tmp_path):
    FileMailer(tmp_path, mailer_config()).send(outgoing("hot_owner_alert", to_email="sato@leadflow.example"))
    msg = message_from_bytes((tmp_path / "s-000123-cold-1.eml").read_bytes(), policy=policy.default)
    assert msg["List-Unsubscribe"] is None and msg["List-Unsubscribe-Post"] is None


# --------------------------------------------------------------------------- SendGridMailer


def test_sendgrid_202_is_sent_with_message_id(sg):
    send_at = datetime.fromtimestamp(NOW + 3600, UTC)
    result = sendgrid(sg).send(outgoing(send_at=send_at))

    [received] = sg.messages
    assert result == SendResult("sent", received.message_id, None)
    payload = received.payload
    assert payload["custom_args"] == {"send_key": "s-000123-cold-1"}
    assert sorted(payload["categories"]) == ["cold", "leadflow", "nurture"]
    assert payload["send_at"] == int(NOW + 3600)
    assert payload["headers"] == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert payload["from"] == {"email": "marketing@leadflow.example", "name": "leadflow マーケティング"}
    assert payload["reply_to"] == {"email": "inside-sales@leadflow.example"}
    assert payload["personalizations"][0]["to"] == [
        {"email": "taro.yamada@sample-seisakusho.example", "name": "山田 太郎"}
    ]
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
    assert "asm" not in payload and "mail_settings" not in payload
    assert received.headers["Authorization"] == f"Bearer {API_KEY}"


def test_sendgrid_asm_group_and_sandbox_mode_when_configured(sg):
    result = sendgrid(sg, asm_group_id=4242, sandbox_mode=True).send(outgoing())
    [received] = sg.messages
    assert result.status == "sent"
    assert received.payload["asm"] == {"group_id": 4242}
    assert received.payload["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert received.sandbox and sg.requests[-1].status == 200  # SendGrid answers 200 in sandbox mode


def test_sendgrid_400_is_failed_with_sendgrid_message(sg):
    # SendGrid refuses to schedule more than 72 hours ahead; the local server validates the same.
    result = sendgrid(sg).send(outgoing(send_at=datetime.fromtimestamp(NOW + 73 * 3600, UTC)))
    assert result.status == "failed" and not result.retryable
    assert result.error == "SendGrid 400: send_at: The send_at parameter cannot be more than 72 hours in the future."
    assert sg.messages == []


def test_sendgrid_scripted_400(sg):
    sg.script(Fault.bad_request("The from email does not contain a valid address.", "from.email"))
    result = sendgrid(sg).send(outgoing())
    assert result == SendResult(
        "failed", None, "SendGrid 400: from.email: The from email does not contain a valid address."
    )


def test_sendgrid_wrong_key_is_failed(sg):
    result = SendGridMailer("SG.wrong", mailer_config(), host=sg.url).send(outgoing())
    assert result.status == "failed" and result.error.startswith("SendGrid 401:")


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        (Fault.rate_limited(reset_in=30), 30.0),  # X-RateLimit-Reset is NOW + 30
        (Fault.rate_limited(reset_in=-5), 1.0),  # a reset in the past still waits a moment
        (Fault.rate_limited(reset_in=86_400), 900.0),  # bounded
        (Fault(status=429), 60.0),  # no header: a default wait
    ],
)
def test_sendgrid_429_is_retryable_after_the_reset(sg, fault, retry_after):
    sg.script(fault)
    result = sendgrid(sg).send(outgoing())
    assert result.status == "failed" and result.retryable
    assert result.retry_after == retry_after
    assert sg.messages == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_sendgrid_5xx_is_unknown(sg, status):
    sg.script(Fault.server_error(status))
    result = sendgrid(sg).send(outgoing())
    assert result.status == "unknown" and result.error.startswith(f"SendGrid {status}:")
    assert not result.retryable


def test_read_timeout_after_the_body_was_received_is_unknown(sg):
    sg.script(Fault.read_timeout())
    started = time.monotonic()
    result = sendgrid(sg, timeout=0.2).send(outgoing())
    assert time.monotonic() - started < 2
    assert result == SendResult("unknown", None, "no response from SendGrid: TimeoutError")
    # SendGrid did get it: resending blindly would deliver twice.
    assert [m.payload["custom_args"]["send_key"] for m in sg.messages] == ["s-000123-cold-1"]


def test_connection_dropped_after_the_body_was_received_is_unknown(sg):
    sg.script(Fault.drop_connection())
    result = sendgrid(sg).send(outgoing())
    assert result.status == "unknown" and "RemoteDisconnected" in result.error
    assert len(sg.messages) == 1


def test_connection_refused_is_failed_and_retryable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailer = SendGridMailer(API_KEY, mailer_config(), host=f"http://127.0.0.1:{port}", timeout=1)
    result = mailer.send(outgoing())
    assert result.status == "failed" and result.retryable
    assert result.error == "request not sent: ConnectionRefusedError"


def test_scripted_faults_are_used_once_in_order(sg):
    sg.script(Fault.server_error(503), Fault.rate_limited(10))
    mailer = sendgrid(sg)
    assert [mailer.send(outgoing()).status for _ in range(3)] == ["unknown", "failed", "sent"]
    assert [r.status for r in sg.requests] == [503, 429, 202]
    assert sg.pending_faults == 0


def test_one_connection_carries_many_sends(sg):
    # HTTP/1.1 keep-alive: a TCP (and, against SendGrid, TLS) handshake per email was most of the
    # cost of a send; errors answered with a body (here a 429) keep the connection too.
    sg.script(Fault.rate_limited(10))
    mailer = sendgrid(sg)
    statuses = [mailer.send(outgoing(send_key=f"s-{i}")).status for i in range(5)]
    assert statuses == ["failed", "sent", "sent", "sent", "sent"]
    assert len(sg.messages) == 4 and sg.connections == 1
    mailer.close()


def test_a_connection_the_server_closed_is_replaced_before_sending(sg):
    mailer = sendgrid(sg)
    assert mailer.send(outgoing(send_key="s-1")).status == "sent"
    sg.drop_connections()  # as SendGrid closes idle keep-alive connections
    time.sleep(0.05)
    assert mailer.send(outgoing(send_key="s-2")).status == "sent"  # not "unknown": nothing was lost
    assert [m.payload["custom_args"]["send_key"] for m in sg.messages] == ["s-1", "s-2"]
    assert sg.connections == 2


def test_after_a_dropped_connection_the_next_send_opens_a_new_one(sg):
    sg.script(Fault.drop_connection())
    mailer = sendgrid(sg)
    assert mailer.send(outgoing(send_key="s-1")).status == "unknown"
    assert mailer.send(outgoing(send_key="s-2")).status == "sent"
    assert sg.connections == 2


def test_sends_through_a_proxy_keep_their_connection_to_it(sg, monkeypatch):
    # The local server answers proxy-form requests too, so it can stand in for the proxy.
    for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", sg.url)
    mailer = SendGridMailer(API_KEY, mailer_config(), host="http://sendgrid.invalid", timeout=2, clock=lambda: NOW)
    assert [mailer.send(outgoing(send_key=f"s-{i}")).status for i in range(2)] == ["sent", "sent"]
    assert [m.headers["Host"] for m in sg.messages] == ["sendgrid.invalid"] * 2  # addressed past the proxy
    assert sg.connections == 1


def test_an_unreachable_proxy_means_not_sent(monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    mailer = SendGridMailer(API_KEY, mailer_config(), host="http://sendgrid.invalid", timeout=1)
    result = mailer.send(outgoing())
    assert result.status == "failed" and result.retryable
    assert result.error == "request not sent: ConnectionRefusedError"


def test_hosts_excluded_from_the_proxy_are_reached_directly(sg, monkeypatch):
    # A proxy that does not exist: were it used, nothing would be sent.
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    mailer = sendgrid(sg)
    assert [mailer.send(outgoing(send_key=f"s-{i}")).status for i in range(3)] == ["sent"] * 3
    assert sg.connections == 1  # kept alive, as without any proxy


def test_the_json_body_is_compact_utf8(sg):
    # Escaping every non-ASCII character (the library's default) doubles a Japanese email's size.
    assert sendgrid(sg).send(outgoing(locale="ja")).status == "sent"
    received = sg.messages[0]
    compact = json.dumps(received.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert int(received.headers["Content-Length"]) == len(compact)
    assert received.headers["Content-Type"] == "application/json"
    assert "東京都千代田区" in received.payload["content"][1]["value"]


def _raw_exchange(server: SendGridServer, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"POST /v3/mail/send\r\n\r\n", b"400"),  # no HTTP version
        (b"POST /v3/mail/send HTTP/2.0\r\n\r\n", b"400"),
        (b"GET /v3/suppression/bounces HTTP/1.1\r\nAuthorization Bearer x\r\n\r\n", b"400"),  # no colon
        (b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 120 + b"\r\n", b"431"),
    ],
)
def test_the_local_server_refuses_malformed_requests(sg, request_head, status):
    assert _raw_exchange(sg, request_head).split(b" ", 2)[1] == status


def test_the_local_server_reads_folded_headers_and_honours_connection_close(sg):
    head = (
        b"GET /v3/suppression/bounces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n\t"
        + API_KEY.encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    answer = _raw_exchange(sg, head + head)  # the second request must go unanswered
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1 ") == 1


def test_server_counting_only_keeps_no_messages():
    with SendGridServer(api_key=API_KEY, clock=lambda: NOW, keep_records=False) as server:
        result = sendgrid(server).send(outgoing())
        assert result.status == "sent" and result.message_id == "sgtest000001"
        assert (server.accepted, server.messages, server.requests) == (1, [], [])


def test_fetch_suppressions_pages_through_every_list(sg, monkeypatch):
    monkeypatch.setattr(mailer_module, "SUPPRESSION_PAGE_SIZE", 2)
    for i in range(5):
        sg.add_suppression("bounces", f"Bounce{i}@Example.com", created=int(NOW) - 100 + i)
    sg.add_suppression("spam_reports", "spam@example.com", created=int(NOW) - 50, ip="10.0.0.1")
    sg.add_suppression("unsubscribes", "old@example.com", created=int(NOW) - 10_000)

    rows = sendgrid(sg).fetch_suppressions(since=datetime.fromtimestamp(NOW - 1000, UTC))

    assert [(r["email"], r["kind"]) for r in rows] == [
        *[(f"bounce{i}@example.com", "bounce") for i in range(5)],
        ("spam@example.com", "spam_report"),
    ]
    assert rows[0]["created_at"] == datetime.fromtimestamp(NOW - 100, UTC)
    # 5 bounces in pages of 2 take three requests; the other lists one each.
    assert [r.path for r in sg.requests].count("/v3/suppression/bounces") == 3
    assert len(sendgrid(sg).fetch_suppressions(None)) == 7


def test_fetch_suppressions_adds_our_asm_groups_unsubscribes(sg):
    sg.add_group_suppression(77, " Group@Example.com ")
    sg.add_group_suppression(78, "other-group@example.com")  # not our group: still allowed to get email
    rows = sendgrid(sg, asm_group_id=77).fetch_suppressions(None)
    assert rows == [
        {"email": "group@example.com", "kind": "group_unsubscribe", "created_at": datetime.fromtimestamp(NOW, UTC)}
    ]
    assert "/v3/asm/groups/77/suppressions" in [r.path for r in sg.requests]
    assert "/v3/asm/groups/77/suppressions" not in [r.path for r in sg.requests[:3]]  # after the global lists
    assert sendgrid(sg).fetch_suppressions(None) == []  # no group configured: the group is not read


def test_a_group_suppression_error_is_raised_without_the_key(sg):
    sg.script(Fault.server_error(500, path="/v3/asm/groups/77/suppressions"))
    with pytest.raises(SuppressionFetchError, match="SendGrid 500 on asm/groups/77/suppressions") as caught:
        sendgrid(sg, asm_group_id=77).fetch_suppressions(None)
    assert API_KEY not in str(caught.value)


def test_fetch_suppressions_error_is_raised_without_the_key(sg):
    sg.script(Fault.server_error(503, path="/v3/suppression/spam_reports"))
    with pytest.raises(SuppressionFetchError, match="SendGrid 503 on spam_reports") as caught:
        sendgrid(sg).fetch_suppressions(None)
    assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)


def test_the_api_key_never_appears_in_results_reprs_or_logs(sg, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # every library's debug lines too
    mailer = sendgrid(sg, timeout=0.2)
    sg.script(Fault.bad_request("bad"), Fault.rate_limited(), Fault.server_error(), Fault.read_timeout())
    results = [mailer.send(outgoing()) for _ in range(5)]
    sg.add_suppression("bounces", "x@example.com")
    mailer.fetch_suppressions(None)

    assert [r.status for r in results] == ["failed", "failed", "unknown", "unknown", "sent"]
    captured = capsys.readouterr()
    texts = [caplog.text, captured.out, captured.err, repr(mailer), str(mailer)]
    texts += [str(r) for r in results] + [repr(r) for r in results]
    assert "POST /v3/mail/send" in caplog.text  # the requests were logged ...
    assert all(API_KEY not in text for text in texts)  # ... without the key
    assert "taro.yamada" not in caplog.text  # nor the recipient
    with pytest.raises(TypeError):
        __import__("pickle").dumps(mailer)


# --------------------------------------------------------------------------- selection


def settings_for(tmp_path: Path, **config) -> SimpleNamespace:
    return SimpleNamespace(mailer=mailer_config(**config), path=lambda p: tmp_path / p)


def test_mailer_from_settings_file(tmp_path):
    mailer = mailer_from_settings(settings_for(tmp_path))
    assert isinstance(mailer, FileMailer) and mailer.outbox == tmp_path / "data/outbox"


def test_mailer_from_settings_sendgrid_uses_the_airflow_connection(sg, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDGRID_LOCAL",
        f'{{"conn_type": "http", "host": "{sg.url}", "password": "{API_KEY}", "extra": {{"timeout": 3}}}}',
    )
    mailer = mailer_from_settings(settings_for(tmp_path, kind="sendgrid", sendgrid_conn_id="sendgrid_local"))
    assert isinstance(mailer, SendGridMailer)
    assert (mailer.host, mailer.timeout) == (sg.url, 3.0)
    assert mailer.send(outgoing()).status == "sent"
    assert API_KEY not in caplog.text


def test_mailer_from_settings_host_and_port_fields(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDGRID_PARTS",
        '{"conn_type": "http", "host": "127.0.0.1", "port": 3030, "schema": "http", "password": "SG.x"}',
    )
    mailer = mailer_from_settings(settings_for(tmp_path, kind="sendgrid", sendgrid_conn_id="sendgrid_parts"))
    assert mailer.host == "http://127.0.0.1:3030"


def test_mailer_from_settings_falls_back_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    mailer = mailer_from_settings(settings_for(tmp_path, kind="sendgrid", sendgrid_conn_id="no_such_conn"))
    assert isinstance(mailer, SendGridMailer) and mailer.host == "https://api.sendgrid.com"


def test_mailer_from_settings_without_any_key_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    with pytest.raises(MailerSetupError, match="'no_such_conn' or the SENDGRID_API_KEY"):
        mailer_from_settings(settings_for(tmp_path, kind="sendgrid", sendgrid_conn_id="no_such_conn"))
