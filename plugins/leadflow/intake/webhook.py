"""Checking and reading what is pushed to `leadflow serve`: SendGrid's signed Event Webhook and web events.

Pure functions over the raw body and headers; each problem is a `Rejected` carrying the HTTP status
and a message fit to show the sender (never a secret, never the body).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

from cryptography.exceptions import InvalidSignature
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from leadflow.intake.inbox import InboxRecord

SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE  # X-Twilio-Email-Event-Webhook-Signature
TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP  # X-Twilio-Email-Event-Webhook-Timestamp
INTAKE_SIGNATURE_HEADER = "X-Leadflow-Signature"
MAX_KEY_CHARS = 200  # event_id / sg_event_id longer than this are refused
_JSON_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "application/x-jsonlines")


class Rejected(Exception):
    """A request refused with `status` and a message for the sender."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def sendgrid_verifier(public_key: str) -> EventWebhook:
    """SendGrid's verifier for the base64 key shown on its Event Webhook settings page, or ValueError."""
    try:
        return EventWebhook("".join(public_key.split()))
    except (ValueError, TypeError) as exc:
        raise ValueError(
            "LEADFLOW_SENDGRID_WEBHOOK_KEY is not a valid verification key (paste the base64 key "
            "SendGrid's Event Webhook settings show)"
        ) from exc


def verify_sendgrid(
    verifier: EventWebhook, body: bytes, signature: str | None, timestamp: str | None, now: float, max_skew: float
) -> None:
    """Raise Rejected(401) unless `body` is signed by SendGrid's key at a timestamp within `max_skew` of `now`."""
    if not signature or not timestamp:
        raise Rejected(401, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise Rejected(401, "bad signature timestamp") from None
    if abs(now - stamp) > max_skew:
        raise Rejected(401, "signature timestamp too far from now (replayed or clock skew)")
    try:
        ok = verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
    except (InvalidSignature, UnicodeDecodeError, binascii.Error, ValueError):
        ok = False
    if not ok:
        raise Rejected(401, "bad signature")


def sendgrid_records(body: bytes) -> list[InboxRecord]:
    """One record per SendGrid event (a JSON array of objects), keyed by `sg_event_id`."""
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(events, list):
        raise Rejected(400, "expected a JSON array of events")
    records: dict[str, InboxRecord] = {}
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise Rejected(422, f"event {i} is not a JSON object")
        key = event.get("sg_event_id")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
            # SendGrid always sends one; without it the event itself is its identity
            key = "sha256:" + hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
        records.setdefault(key, InboxRecord("sendgrid_event", key, event))
    return list(records.values())


def verify_intake_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise Rejected(401) unless `header` is `sha256=<hex HMAC-SHA256 of body>` under `secret`."""
    if not header:
        raise Rejected(401, f"missing {INTAKE_SIGNATURE_HEADER}")
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        raise Rejected(401, f"{INTAKE_SIGNATURE_HEADER} must be sha256=<hex>")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        raise Rejected(401, "bad signature")


def intake_signature(secret: str, body: bytes) -> str:
    """The `X-Leadflow-Signature` value for `body` (what a website computes)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_json_type(content_type: str | None) -> None:
    """Raise Rejected(415) unless the body is declared JSON or JSON lines."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES:
        raise Rejected(415, f"Content-Type must be one of {', '.join(_JSON_TYPES)} (a JSON array or JSON lines)")


def _objects(body: bytes) -> Iterator[tuple[str, Any]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Rejected(400, f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except ValueError as exc:  # valid syntax json refuses all the same (an integer of over 4,300 digits)
            raise Rejected(400, f"body is not valid JSON: {exc}") from None
        if not isinstance(items, list):
            raise Rejected(400, "expected a JSON array or JSON lines")
        for i, item in enumerate(items):
            yield f"item {i}", item
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {n}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise Rejected(400, f"line {n} is not valid JSON: {exc.msg}") from None
        except ValueError as exc:
            raise Rejected(400, f"line {n} is not valid JSON: {exc}") from None


def web_event_records(body: bytes) -> list[InboxRecord]:
    """One record per pushed web event, keyed by `event_id`; the whole batch is refused when any object
    lacks one (without it a retried delivery could not be told from a new event). Everything else,
    unknown event types included, is accepted and validated by the leadflow_intake DAG, which
    quarantines bad events with a reason."""
    records: dict[str, InboxRecord] = {}
    missing: list[str] = []
    for where, item in _objects(body):
        if not isinstance(item, dict):
            raise Rejected(422, f"{where} is not a JSON object")
        key = item.get("event_id")
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARS:
            missing.append(where)
            continue
        records.setdefault(key, InboxRecord("web_event", key, item))
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise Rejected(
            422,
            f"every event needs an event_id (a string of at most {MAX_KEY_CHARS} characters): {shown}; "
            "nothing was accepted",
        )
    if not records:
        raise Rejected(400, "no events in the body")
    return list(records.values())
