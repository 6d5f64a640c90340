"""A local SendGrid-compatible HTTP server for tests: the subset of the v3 API leadflow uses.

    with SendGridServer(api_key="SG.test") as sg:
        mailer = SendGridMailer("SG.test", config, host=sg.url)
        sg.script(Fault.rate_limited(reset_in=30))   # the next request gets a 429
        ...
        assert sg.messages[0].payload["custom_args"]["send_key"] == "..."

Speaks POST /v3/mail/send (Bearer auth, SendGrid-like payload validation, 202 + X-Message-Id, or
400 with `{"errors": [{"message", "field"}]}`) and GET /v3/suppression/{bounces,spam_reports,
unsubscribes} (limit/offset/start_time/end_time) and /v3/asm/groups/{id}/suppressions. With an
event webhook URL and a signing key it posts signed `processed` / `delivered` events for accepted
mail there, as SendGrid's Event Webhook does (`--new-event-key` prints a key pair).
Faults are scripted per request, in order. Connections are kept alive (HTTP/1.1) as SendGrid's are.
Run it by hand with `python -m leadflow.demo.sendgrid_server --port 3030` and open / in a browser;
`--counts-only` keeps no messages (long benchmarks), only how many were accepted.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email.utils
import html
import http.client
import json
import os
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

MAX_SCHEDULE_SECONDS = 72 * 3600
MAX_CATEGORIES = 10
SUPPRESSION_LISTS = ("bounces", "spam_reports", "unsubscribes")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_AUTH_ERROR = "The provided authorization grant is invalid, expired, or revoked"


@dataclass(frozen=True)
class Fault:
    """One scripted answer to the next matching request instead of normal processing.

    action: `respond` answers with `status`/`body`/`headers`; `hang` (read timeout) and `close`
    (connection dropped) send nothing. `record=True` first records the message as accepted, which is
    what happens when SendGrid took the request but the response never arrived.
    """

    status: int = 500
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    action: Literal["respond", "hang", "close"] = "respond"
    record: bool = False
    path: str | None = None
    reset_in: float | None = None
    hang_seconds: float = 5.0

    @classmethod
    def rate_limited(cls, reset_in: float = 30.0, path: str | None = None) -> Fault:
        """429 with X-RateLimit-Reset `reset_in` seconds from now (a unix time, as SendGrid sends)."""
        return cls(status=429, reset_in=reset_in, path=path)

    @classmethod
    def server_error(cls, status: int = 500, path: str | None = None) -> Fault:
        return cls(status=status, path=path)

    @classmethod
    def bad_request(cls, message: str, field_name: str | None = None, path: str | None = None) -> Fault:
        return cls(status=400, body={"errors": [{"message": message, "field": field_name, "help": None}]}, path=path)

    @classmethod
    def read_timeout(cls, hang_seconds: float = 5.0, record: bool = True) -> Fault:
        """Accept (and record) the message, then never answer: the client's read times out."""
        return cls(action="hang", record=record, hang_seconds=hang_seconds, path="/v3/mail/send")

    @classmethod
    def drop_connection(cls, record: bool = True) -> Fault:
        """Accept (and record) the message, then close the connection without a response."""
        return cls(action="close", record=record, path="/v3/mail/send")


@dataclass(frozen=True)
class ReceivedMail:
    """One message the server accepted: its id, the JSON payload and the request headers."""

    message_id: str
    payload: dict[str, Any]
    headers: dict[str, str]
    received_at: float
    sandbox: bool


@dataclass(frozen=True)
class RequestLog:
    method: str
    path: str
    status: int | None  # None: no response was sent (hang/close)


def _error(message: str, field_name: str | None) -> dict[str, Any]:
    return {"message": message, "field": field_name, "help": None}


def validate_mail_send(payload: Any, now: float) -> list[dict[str, Any]]:
    """SendGrid-like validation of a v3 mail/send body; an empty list means it would be accepted."""
    if not isinstance(payload, dict):
        return [_error("Bad Request", None)]
    errors = []
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(
            _error(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        )
        personalizations = []
    for i, p in enumerate(personalizations):
        to = p.get("to") if isinstance(p, dict) else None
        if not isinstance(to, list) or not to:
            errors.append(
                _error(
                    "The to array is required for all personalization objects, and must have at least one "
                    "email object with a valid email address.",
                    f"personalizations.{i}.to",
                )
            )
            continue
        for j, recipient in enumerate(to):
            email = recipient.get("email") if isinstance(recipient, dict) else None
            if not isinstance(email, str) or not _EMAIL.match(email):
                errors.append(_error("Does not contain a valid address.", f"personalizations.{i}.to.{j}.email"))
    sender = payload.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        errors.append(
            _error(
                "The from object must be provided for every email send. It is an object that requires the "
                "email parameter, but may also contain a name parameter.",
                "from",
            )
        )
    elif not _EMAIL.match(str(sender["email"])):
        errors.append(_error("The from email does not contain a valid address.", "from.email"))
    reply_to = payload.get("reply_to")
    if reply_to is not None and (not isinstance(reply_to, dict) or not _EMAIL.match(str(reply_to.get("email")))):
        errors.append(_error("The reply_to email does not contain a valid address.", "reply_to.email"))
    has_subject = bool(payload.get("subject")) or (
        bool(personalizations) and all(isinstance(p, dict) and p.get("subject") for p in personalizations)
    )
    if not has_subject and not payload.get("template_id"):
        errors.append(
            _error(
                "The subject is required. You can get around this requirement if you use a template with a "
                "subject defined or if every personalization has a subject defined.",
                "subject",
            )
        )
    content = payload.get("content")
    if not payload.get("template_id") and (not isinstance(content, list) or not content):
        errors.append(
            _error(
                "Unless a valid template_id is provided, the content parameter is required. There must be at "
                "least one defined content block.",
                "content",
            )
        )
    elif isinstance(content, list):
        types = [c.get("type") if isinstance(c, dict) else None for c in content]
        if "text/plain" in types and types[0] != "text/plain":
            errors.append(
                _error("If present, text/plain content must be first, followed by text/html content.", "content")
            )
        for i, block in enumerate(content):
            value = block.get("value") if isinstance(block, dict) else None
            if not isinstance(value, str) or not value:
                errors.append(
                    _error(
                        "The content value must be a string at least one character in length.",
                        f"content.{i}.value",
                    )
                )
    send_at = payload.get("send_at")
    if send_at is not None:
        if not isinstance(send_at, int) or isinstance(send_at, bool):
            errors.append(_error("The send_at parameter must be a unix timestamp.", "send_at"))
        elif send_at > now + MAX_SCHEDULE_SECONDS:
            errors.append(_error("The send_at parameter cannot be more than 72 hours in the future.", "send_at"))
    categories = payload.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or not all(isinstance(c, str) and 0 < len(c) <= 255 for c in categories):
            errors.append(_error("Categories must be strings of 1 to 255 characters.", "categories"))
        elif len(categories) > MAX_CATEGORIES:
            errors.append(_error("You may not have more than 10 categories per request.", "categories"))
    for key in ("custom_args", "headers"):
        values = payload.get(key)
        if values is not None and (
            not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
        ):
            errors.append(_error(f"Every {key} value must be a string.", key))
    asm = payload.get("asm")
    if asm is not None and (not isinstance(asm, dict) or not isinstance(asm.get("group_id"), int)):
        errors.append(_error("The asm group_id must be an integer.", "asm.group_id"))
    return errors


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries a Content-Length
    timeout = 5  # an idle connection must not keep a handler thread waiting forever
    rbufsize = 1 << 16  # a whole mail/send request in one read (the default 8 KiB needs two or three)
    _date: tuple[int, str] = (0, "")  # the Date header of the current second, shared by all handlers

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests assert on records, not on stderr

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        second = int(time.time())
        cached = _Handler._date
        if cached[0] != second:
            cached = _Handler._date = (second, email.utils.formatdate(second, usegmt=True))
        return cached[1]

    def parse_request(self) -> bool:
        """The stdlib's request parsing, with the header block read into an HTTPMessage directly
        instead of through the email package's feed parser (most of this server's time per request
        under a benchmark). Request line, limits, Connection and Expect are handled as the stdlib does."""
        self.command = None  # type: ignore[assignment]
        self.request_version = version = self.default_request_version
        self.close_connection = True
        raw: bytes = self.raw_requestline  # type: ignore[attr-defined]  # set by handle_one_request
        self.requestline = requestline = str(raw, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # answer with a status line (no HTTP/0.9 here)
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
            return False
        self.command, path, version = words
        self.request_version = version
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        lines: list[tuple[str, str]] = []
        while True:
            line = self.rfile.readline(65537)
            if len(line) > 65536 or len(lines) > 100:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Header line too long or too many")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            text = line.decode("iso-8859-1")
            if text[0] in " \t" and lines:  # an obsolete folded continuation line
                lines[-1] = (lines[-1][0], f"{lines[-1][1]} {text.strip()}")
                continue
            name, colon, value = text.partition(":")
            if not colon:
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad header line ({text.strip()!r})")
                return False
            lines.append((name.strip(), value.strip()))
        headers = http.client.HTTPMessage()
        headers._headers = lines  # type: ignore[attr-defined]  # as the feed parser fills it (compat32)
        self.headers = headers
        conntype = headers.get("Connection", "").lower()
        self.close_connection = version == "HTTP/1.0" and conntype != "keep-alive" or conntype == "close"
        if headers.get("Expect", "").lower() == "100-continue" and version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    # ---- plumbing

    def _send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None, ctype: str = "") -> None:
        # Logged before answering: once the client has the response, the log already shows it.
        self.server.sg.log_request_done(self.command, self.path, status)
        self.send_response(status)
        if body or ctype:
            self.send_header("Content-Type", ctype or "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _send_json(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), headers)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        expected = self.server.sg.api_key
        ok = auth.startswith("Bearer ") and len(auth) > 7 and (expected is None or auth == f"Bearer {expected}")
        if not ok:
            self._send_json(401, {"errors": [_error(_AUTH_ERROR, None)]})
        return ok

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _fault(self, fault: Fault, payload: Any) -> None:
        sg = self.server.sg
        if fault.record and isinstance(payload, dict):
            sg.record(payload, dict(self.headers.items()))
        if fault.action in ("hang", "close"):
            sg.log_request_done(self.command, self.path, None)
            if fault.action == "hang":
                sg.stopping.wait(fault.hang_seconds)
            self.close_connection = True
            return
        headers = dict(fault.headers)
        if fault.reset_in is not None:
            headers.setdefault("X-RateLimit-Limit", "600")
            headers.setdefault("X-RateLimit-Remaining", "0")
            headers.setdefault("X-RateLimit-Reset", str(int(sg.clock() + fault.reset_in)))
        body = fault.body
        if body is None:
            body = {"errors": [_error(_STATUS_MESSAGES.get(fault.status, "error"), None)]}
        self._send_json(fault.status, body, headers)

    # ---- routes

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path
        raw = self._read_body()
        if path != "/v3/mail/send":
            self._send_json(404, {"errors": [_error("resource not found", None)]})
            return
        if not self._authorized():
            return
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            payload = None
        fault = self.server.sg.next_fault(path)
        if fault is not None:
            self._fault(fault, payload)
            return
        errors = validate_mail_send(payload, self.server.sg.clock())
        if errors:
            self._send_json(400, {"errors": errors})
            return
        received = self.server.sg.record(payload, dict(self.headers.items()))
        status = 200 if received.sandbox else 202
        self._send(status, headers={"X-Message-Id": received.message_id})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/":
            self._send(200, self.server.sg.index_page().encode("utf-8"), ctype="text/html; charset=utf-8")
            return
        if path == "/messages.json":
            data = [
                {"message_id": m.message_id, "payload": m.payload, "sandbox": m.sandbox}
                for m in self.server.sg.messages
            ]
            self._send_json(200, data)
            return
        match = re.fullmatch(r"/messages/(\d+)", path)
        if match:
            self._message_page(int(match.group(1)))
            return
        group = re.fullmatch(r"/v3/asm/groups/(\d+)/suppressions", path)
        if group:
            if not self._authorized():
                return
            fault = self.server.sg.next_fault(path)
            if fault is not None:
                self._fault(fault, None)
                return
            self._send_json(200, self.server.sg.group_suppressions(int(group.group(1))))
            return
        match = re.fullmatch(r"/v3/suppression/([a-z_]+)", path)
        if not match or match.group(1) not in SUPPRESSION_LISTS:
            self._send_json(404, {"errors": [_error("resource not found", None)]})
            return
        if not self._authorized():
            return
        fault = self.server.sg.next_fault(path)
        if fault is not None:
            self._fault(fault, None)
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            limit = min(int(query.get("limit", 500)), 500)
            offset = int(query.get("offset", 0))
            start = int(query["start_time"]) if "start_time" in query else None
            end = int(query["end_time"]) if "end_time" in query else None
        except ValueError:
            self._send_json(400, {"errors": [_error("limit, offset, start_time and end_time must be integers", None)]})
            return
        rows = self.server.sg.suppressions(match.group(1), start, end)
        self._send_json(200, rows[offset : offset + limit])

    def do_PUT(self) -> None:  # noqa: N802
        self._read_body()  # the connection stays open: the next request starts after this body
        self._send_json(405, {"errors": [_error("method not allowed", None)]})

    do_DELETE = do_PATCH = do_PUT  # noqa: N815

    def _message_page(self, index: int) -> None:
        messages = self.server.sg.messages
        if not 0 <= index < len(messages):
            self._send(404, b"no such message", ctype="text/plain; charset=utf-8")
            return
        contents = {c.get("type"): c.get("value", "") for c in messages[index].payload.get("content", [])}
        body = contents.get("text/html") or f"<pre>{html.escape(contents.get('text/plain', ''))}</pre>"
        # The email's own HTML, shown locally; no scripts, no remote loads.
        self._send(
            200,
            body.encode("utf-8"),
            {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"},
            ctype="text/html; charset=utf-8",
        )


_STATUS_MESSAGES = {
    400: "Bad Request",
    401: _AUTH_ERROR,
    403: "access forbidden",
    413: "payload too large",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread: nothing outlives the test
    block_on_close = True
    sg: SendGridServer

    def process_request(self, request: Any, client_address: Any) -> None:
        self.sg.connection_opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.sg.connection_closed(request)
        super().shutdown_request(request)


class EventPoster:
    """Posts `processed` and `delivered` events for accepted mail to an Event Webhook URL, signed as
    SendGrid signs them (ECDSA P-256 over the timestamp followed by the body, base64 DER in
    X-Twilio-Email-Event-Webhook-Signature), in batches, from one background thread."""

    RETRIES = 5

    def __init__(self, url: str, signing_key: Any, clock: Callable[[], float] = time.time) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("the event webhook URL must be http(s)")
        self.url = url
        self.signing_key = signing_key
        self.clock = clock
        self._queue: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._busy = 0
        self._stopping = False
        self.posted = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="sendgrid-event-poster", daemon=True)
        self._thread.start()

    @staticmethod
    def events_for(mail: ReceivedMail, clock: float) -> list[dict[str, Any]]:
        """What SendGrid reports for one accepted message: processed, then delivered, per recipient."""
        payload = mail.payload
        custom = dict(payload.get("custom_args") or {})
        events = []
        for pers in payload.get("personalizations") or []:
            args = {**custom, **(pers.get("custom_args") or {})}
            for to in pers.get("to") or []:
                for kind in ("processed", "delivered"):
                    event = {
                        "email": to.get("email", ""),
                        "timestamp": int(clock),
                        "smtp-id": f"<{mail.message_id}@sendgrid.local>",
                        "event": kind,
                        "category": list(payload.get("categories") or []),
                        "sg_event_id": base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="),
                        "sg_message_id": f"{mail.message_id}.filter0001",
                        **{k: v for k, v in args.items() if isinstance(v, str)},
                    }
                    if kind == "delivered":
                        event["response"] = "250 OK"
                    events.append(event)
        return events

    def add(self, events: list[dict[str, Any]]) -> None:
        with self._cond:
            self._queue.extend(events)
            self._cond.notify_all()

    def headers(self, body: bytes) -> dict[str, str]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        stamp = str(int(self.clock()))
        signature = self.signing_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "User-Agent": "SendGrid Event API (leadflow local server)",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }

    def _post(self, batch: list[dict[str, Any]]) -> bool:
        import urllib.error
        import urllib.request

        body = json.dumps(batch).encode()
        for attempt in range(self.RETRIES):
            request = urllib.request.Request(self.url, data=body, headers=self.headers(body), method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 — configured URL
                    if 200 <= response.status < 300:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            with self._cond:
                if self._stopping:
                    return False
                self._cond.wait(min(2**attempt, 30))  # SendGrid retries too (for up to 24 hours)
        return False

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), 1000))]
                self._busy += 1
            ok = self._post(batch)
            with self._cond:
                self._busy -= 1
                if ok:
                    self.posted += len(batch)
                else:
                    self.failed += len(batch)
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event was posted (or given up); False when `timeout` ran out first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=15)


def load_signing_key(text: str) -> Any:
    """An ECDSA P-256 private key from base64 DER (PKCS#8) or PEM."""
    from cryptography.hazmat.primitives import serialization

    raw = text.strip()
    if raw.startswith("-----"):
        return serialization.load_pem_private_key(raw.encode(), password=None)
    return serialization.load_der_private_key(base64.b64decode(raw), password=None)


def new_event_key() -> tuple[str, str]:
    """A fresh key pair: (private key for this server, public key as SendGrid's settings page shows it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


class SendGridServer:
    """The local server: a context manager that listens on 127.0.0.1 (ephemeral port by default)."""

    def __init__(
        self,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        keep_records: bool = True,
        event_webhook_url: str | None = None,
        event_signing_key: Any = None,
    ):
        self.api_key = api_key
        self.clock = clock
        self.keep_records = keep_records  # False: count accepted messages, keep neither them nor the request log
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._requests: list[RequestLog] = []
        self._faults: deque[Fault] = deque()
        self._suppressions: dict[str, list[dict[str, Any]]] = {name: [] for name in SUPPRESSION_LISTS}
        self._group_suppressions: dict[int, list[str]] = {}
        self._counter = 0
        self._connections = 0
        self._open: set[socket.socket] = set()
        self._bind = (host, port)
        self.event_webhook_url = event_webhook_url
        self.event_signing_key = event_signing_key
        self.events: EventPoster | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> SendGridServer:
        if self.event_webhook_url:
            if self.event_signing_key is None:
                raise ValueError("posting events needs a signing key (see --new-event-key)")
            self.events = EventPoster(self.event_webhook_url, self.event_signing_key, self.clock)
        server = _Server(self._bind, _Handler)
        server.sg = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sendgrid-test-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.stopping.set()  # releases handlers scripted to hang
        self._server.shutdown()
        self.drop_connections()  # a kept-alive connection waiting for its next request ends now
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None
        if self.events is not None:
            self.events.stop()

    def __enter__(self) -> SendGridServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The API base URL to give the SendGrid client as `host`."""
        return f"http://{self._bind[0]}:{self.port}"

    # ---- scripting and seeding

    def script(self, *faults: Fault) -> None:
        """Queue faults; each answers the next request to its path (any path when `path` is None)."""
        with self._lock:
            self._faults.extend(faults)

    def next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path == path:
                    self._faults.remove(fault)
                    return fault
        return None

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def add_suppression(self, kind: str, email: str, created: int | None = None, **extra: Any) -> None:
        """Seed a suppression list (bounces, spam_reports, unsubscribes) in SendGrid's row shape."""
        if kind not in SUPPRESSION_LISTS:
            raise ValueError(f"kind must be one of {SUPPRESSION_LISTS}")
        row = {"created": int(self.clock()) if created is None else created, "email": email, **extra}
        if kind == "bounces":
            row.setdefault("reason", "550 5.1.1 The email account that you tried to reach does not exist.")
            row.setdefault("status", "5.1.1")
        with self._lock:
            self._suppressions[kind].append(row)

    def add_group_suppression(self, group_id: int, email: str) -> None:
        """Seed an unsubscribe from one ASM (unsubscribe) group."""
        with self._lock:
            self._group_suppressions.setdefault(group_id, []).append(email)

    def group_suppressions(self, group_id: int) -> list[str]:
        with self._lock:
            return list(self._group_suppressions.get(group_id, []))

    def suppressions(self, kind: str, start: int | None = None, end: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            rows = list(self._suppressions[kind])
        return [r for r in rows if (start is None or r["created"] >= start) and (end is None or r["created"] <= end)]

    # ---- records

    def record(self, payload: dict[str, Any], headers: dict[str, str]) -> ReceivedMail:
        sandbox = bool(((payload.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable"))
        with self._lock:
            self._counter += 1
            mail = ReceivedMail(
                message_id=f"sgtest{self._counter:06d}",
                payload=payload,
                headers=headers,
                received_at=self.clock(),
                sandbox=sandbox,
            )
            if self.keep_records:
                self._messages.append(mail)
        if self.events is not None and not sandbox:
            self.events.add(EventPoster.events_for(mail, self.clock()))
        return mail

    def log_request_done(self, method: str, path: str, status: int | None) -> None:
        if not self.keep_records:
            return
        with self._lock:
            self._requests.append(RequestLog(method, urlsplit(path).path, status))

    def connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections += 1
            self._open.add(sock)

    def connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def drop_connections(self) -> None:
        """Close every open client connection, as a server does with idle keep-alive connections."""
        with self._lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @property
    def accepted(self) -> int:
        """How many messages were accepted (also with keep_records=False)."""
        with self._lock:
            return self._counter

    @property
    def connections(self) -> int:
        """How many TCP connections clients opened so far."""
        with self._lock:
            return self._connections

    @property
    def messages(self) -> list[ReceivedMail]:
        """Every accepted message, in arrival order (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def requests(self) -> list[RequestLog]:
        """Every request answered (or deliberately left unanswered), in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def index_page(self) -> str:
        rows = []
        for i, m in enumerate(self.messages):
            p = m.payload
            received = time.localtime(m.received_at)
            to = ", ".join(t.get("email", "") for pers in p.get("personalizations", []) for t in pers.get("to", []))
            rows.append(
                "<tr>"
                f"<td>{i}</td><td>{html.escape(time.strftime('%Y-%m-%d %H:%M:%S', received))}</td>"
                f"<td>{html.escape(to)}</td>"
                f'<td><a href="/messages/{i}">{html.escape(str(p.get("subject", "")))}</a></td>'
                f"<td>{html.escape(str((p.get('custom_args') or {}).get('send_key', '')))}</td>"
                f"<td>{html.escape(', '.join(p.get('categories') or []))}</td>"
                f"<td>{'sandbox' if m.sandbox else ''}</td>"
                "</tr>"
            )
        body = "".join(rows) or '<tr><td colspan="7">No mail received yet.</td></tr>'
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Local SendGrid</title>'
            "<style>body{font-family:sans-serif;margin:2em}"
            "td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
            f"<h1>Local SendGrid</h1><p>{len(self.messages)} message(s) received. "
            '<a href="/messages.json">JSON</a></p>'
            "<table><tr><th>#</th><th>Received</th><th>To</th><th>Subject</th><th>Send key</th>"
            f"<th>Categories</th><th></th></tr>{body}</table></body></html>"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local SendGrid-compatible server (mail/send, suppressions).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3030)
    parser.add_argument("--api-key", default=None, help="require exactly this key (default: any Bearer key)")
    parser.add_argument("--counts-only", action="store_true", help="keep no messages, only count them")
    parser.add_argument(
        "--event-webhook-url",
        default=os.environ.get("SENDGRID_EVENT_WEBHOOK_URL") or None,
        help="post signed processed/delivered events here (e.g. http://leadflow-intake:8090/sendgrid/events); "
        "the signing key comes from $SENDGRID_EVENT_SIGNING_KEY",
    )
    parser.add_argument(
        "--new-event-key", action="store_true", help="print a new signing key pair for the event webhook and exit"
    )
    args = parser.parse_args(argv)
    if args.new_event_key:
        private, public = new_event_key()
        print(f"SENDGRID_EVENT_SIGNING_KEY={private}\nLEADFLOW_SENDGRID_WEBHOOK_KEY={public}")
        return
    signing = os.environ.get("SENDGRID_EVENT_SIGNING_KEY")
    if args.event_webhook_url and not signing:
        print(
            "not posting events: SENDGRID_EVENT_SIGNING_KEY is not set (create a pair with --new-event-key)",
            flush=True,
        )
        args.event_webhook_url = None
    server = SendGridServer(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        keep_records=not args.counts_only,
        event_webhook_url=args.event_webhook_url,
        event_signing_key=load_signing_key(signing) if args.event_webhook_url and signing else None,
    )

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM (docker stop, kill) shuts down as cleanly as Ctrl-C

    signal.signal(signal.SIGTERM, _interrupt)
    with server:
        print(f"Local SendGrid listening on http://{args.host}:{server.port} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", flush=True)


if __name__ == "__main__":
    main()
