"""SendGrid's signed Event Webhook against a running `leadflow serve`, with a real ECDSA P-256 key pair
signing exactly as SendGrid does: base64 DER signature over the timestamp followed by the body."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIG = "X-Twilio-Email-Event-Webhook-Signature"
TS = "X-Twilio-Email-Event-Webhook-Timestamp"


class Signer:
    """A SendGrid account's signing key; `public` is what its Event Webhook settings page shows."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {SIG: base64.b64encode(signature).decode(), TS: stamp, "Content-Type": "application/json"}


def events(*ids: str, kind: str = "delivered") -> bytes:
    """A batch as SendGrid posts it (our send_key travels as a custom arg)."""
    return json.dumps(
        [
            {
                "email": f"{i}@example.co.jp",
                "timestamp": int(time.time()),
                "smtp-id": f"<{i}@leadflow.example>",
                "event": kind,
                "category": ["leadflow", "nurture"],
                "sg_event_id": f"sg-{i}",
                "sg_message_id": f"msg-{i}.filter0001",
                "send_key": f"s-{i}-cold-1",
            }
            for i in ids
        ]
    ).encode()


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def sg_service(start_service, inbox_backend, signer):
    return start_service(inbox_backend, env={"LEADFLOW_SENDGRID_WEBHOOK_KEY": signer.public})


def test_signed_events_are_accepted_one_record_each_and_a_redelivery_adds_nothing(sg_service, signer):
    from tests.intake.serve_process import inbox_rows

    body = events("a", "b", "c")
    url = f"{sg_service.url}/sendgrid/events"
    first = httpx.post(url, content=body, headers=signer.headers(body))
    assert first.status_code == 200 and first.json() == {"accepted": 3}
    # SendGrid delivers at least once: the same batch again, and a batch overlapping it
    assert httpx.post(url, content=body, headers=signer.headers(body)).status_code == 200
    overlap = events("c", "d")
    assert httpx.post(url, content=overlap, headers=signer.headers(overlap)).status_code == 200
    rows = inbox_rows(sg_service)
    assert [(k, key) for k, key, _ in rows] == [("sendgrid_event", f"sg-{i}") for i in "abcd"]
    assert rows[0][2]["send_key"] == "s-a-cold-1" and rows[0][2]["event"] == "delivered"


def test_bad_missing_and_stale_signatures_get_401_and_nothing_is_kept(sg_service, signer):
    from tests.intake.serve_process import inbox_rows

    url = f"{sg_service.url}/sendgrid/events"
    body = events("x")
    other = Signer()
    headers = signer.headers(body)
    cases = {
        "no headers": {"Content-Type": "application/json"},
        "someone else's key": other.headers(body),
        "body changed after signing": signer.headers(events("y")),
        "signature of another timestamp": {**headers, TS: str(int(headers[TS]) - 1)},
        "not base64": {**headers, SIG: "%%%not-base64%%%"},
        "empty signature": {**headers, SIG: ""},
        "timestamp not a number": {**headers, TS: "yesterday"},
        "11 minutes old (replayed)": signer.headers(body, int(time.time()) - 660),
        "11 minutes ahead": signer.headers(body, int(time.time()) + 660),
    }
    for name, case in cases.items():
        response = httpx.post(url, content=body, headers=case)
        assert response.status_code == 401, name
        assert "error" in response.json(), name
    # a valid signature 9 minutes old is still in the window
    assert httpx.post(url, content=body, headers=signer.headers(body, int(time.time()) - 540)).status_code == 200
    assert [key for _, key, _ in inbox_rows(sg_service)] == ["sg-x"]


def test_a_signed_body_that_is_not_an_event_array_is_a_clear_4xx(start_service, signer):
    service = start_service(env={"LEADFLOW_SENDGRID_WEBHOOK_KEY": signer.public})
    url = f"{service.url}/sendgrid/events"
    for body, status in [(b"{not json", 400), (b'{"event": "open"}', 400), (b"[1, 2]", 422)]:
        response = httpx.post(url, content=body, headers=signer.headers(body))
        assert response.status_code == status, body
        assert response.json()["error"]


def test_without_a_verification_key_events_are_refused_for_a_retry(start_service, signer):
    service = start_service()
    body = events("a")
    response = httpx.post(f"{service.url}/sendgrid/events", content=body, headers=signer.headers(body))
    assert response.status_code == 503 and "LEADFLOW_SENDGRID_WEBHOOK_KEY" in response.json()["error"]


def test_the_local_sendgrid_server_posts_signed_events_the_intake_accepts(start_service, inbox_backend, signer):
    from leadflow.demo.sendgrid_server import SendGridServer
    from leadflow.nurture.mailer import SendGridMailer
    from tests.intake.serve_process import inbox_rows
    from tests.unit.test_mailer import mailer_config, outgoing

    service = start_service(inbox_backend, env={"LEADFLOW_SENDGRID_WEBHOOK_KEY": signer.public})
    with SendGridServer(
        api_key="SG.test", event_webhook_url=f"{service.url}/sendgrid/events", event_signing_key=signer.key
    ) as sg:
        mailer = SendGridMailer("SG.test", mailer_config(), host=sg.url)
        try:
            result = mailer.send(outgoing(send_key="s-77-cold-1"))
        finally:
            mailer.close()
        assert result.status == "sent"
        assert sg.events is not None and sg.events.flush()
        assert (sg.events.posted, sg.events.failed) == (2, 0)
    rows = inbox_rows(service)
    assert sorted(p["event"] for _, _, p in rows) == ["delivered", "processed"]
    assert {p["send_key"] for _, _, p in rows} == {"s-77-cold-1"}  # the custom arg the DAG resolves the lead by
    assert {p["sg_message_id"].split(".")[0] for _, _, p in rows} == {result.message_id}
