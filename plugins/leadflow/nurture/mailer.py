"""Sending email: one small `Mailer` interface with a local file outbox and the SendGrid v3 API.

`mailer_from_settings` picks one by `settings.mailer.kind`. A mailer never raises for a single
email: it returns a `SendResult` whose status says what the caller may do next — `sent`,
`failed` (not delivered; safe to retry only when `retry_after` is set) or `unknown` (SendGrid may
have accepted it: never resend blindly, reconcile first).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import logging
import os
import re
import secrets
import select
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import MessageError
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal, Protocol

import python_http_client

from leadflow.config import MailerConfig
from leadflow.nurture.render import RenderedEmail, header_safe

__all__ = [
    "DEFAULT_SENDGRID_HOST",
    "FileMailer",
    "Mailer",
    "MailerSetupError",
    "OutgoingEmail",
    "SendGridMailer",
    "SendResult",
    "SuppressionFetchError",
    "mailer_from_settings",
]

log = logging.getLogger(__name__)

DEFAULT_SENDGRID_HOST = "https://api.sendgrid.com"
RATE_LIMIT_DEFAULT_WAIT = 60.0
RATE_LIMIT_MAX_WAIT = 900.0
REFUSED_RETRY_AFTER = 60.0
MAX_CATEGORIES = 10  # SendGrid rejects more than 10 categories per message
SUPPRESSION_PAGE_SIZE = 500
SUPPRESSION_KINDS = (("bounce", "bounces"), ("spam_report", "spam_reports"), ("unsubscribe", "unsubscribes"))
MAX_IDLE_CONNECTIONS = 16  # kept open per API host between requests; more are closed after use

MAX_HEADER_LINE = 998  # RFC 5322 §2.1.1: the hard limit of a header line, CRLF excluded
MAX_UNSUBSCRIBE_URL = 900  # fits `List-Unsubscribe: <…>` on one line of at most MAX_HEADER_LINE

_SEND_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=-]{0,199}$")
_EMAIL = re.compile(r"^[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:]+$")
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+")
_RESPONSE_LOG = re.compile(r"^([A-Z]+ Response: \d+) ")


class MailerSetupError(ValueError):
    """A mailer cannot be built from the settings (e.g. no SendGrid API key anywhere)."""


class SuppressionFetchError(RuntimeError):
    """SendGrid's suppression lists could not be read; the message never contains the API key."""


@dataclass(frozen=True)
class OutgoingEmail:
    """One rendered email addressed to one recipient, with our unique `send_key` (never PII)."""

    send_key: str
    to_email: str
    to_name: str
    rendered: RenderedEmail
    send_at: datetime | None
    unsubscribe_url: str
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _SEND_KEY.match(self.send_key):
            raise ValueError("send_key must be 1-200 characters of A-Z a-z 0-9 . _ : = - (no PII)")
        if not _EMAIL.match(self.to_email):
            raise ValueError(f"send {self.send_key}: to_email is not a plain email address")
        if self.send_at is not None and self.send_at.utcoffset() is None:
            raise ValueError(f"send {self.send_key}: send_at must be timezone-aware")
        if self.unsubscribe_url and (
            not self.unsubscribe_url.startswith(("https://", "http://")) or re.search(r"[\s<>\"]", self.unsubscribe_url)
        ):
            raise ValueError(f"send {self.send_key}: unsubscribe_url must be an http(s) URL")
        if self.unsubscribe_url and (
            len(self.unsubscribe_url) > MAX_UNSUBSCRIBE_URL or not self.unsubscribe_url.isascii()
        ):
            raise ValueError(
                f"send {self.send_key}: unsubscribe_url must be ASCII (percent-encoded) and at most "
                f"{MAX_UNSUBSCRIBE_URL} characters, so List-Unsubscribe is never encoded"
            )
        if self.rendered.kind == "marketing" and not self.unsubscribe_url:
            raise ValueError(f"send {self.send_key}: marketing email needs an unsubscribe_url")


@dataclass(frozen=True)
class SendResult:
    """What happened to one send. `retry_after` (seconds) is set only when a retry is safe."""

    status: Literal["sent", "failed", "unknown"]
    message_id: str | None
    error: str | None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.status == "failed" and self.retry_after is not None


class Mailer(Protocol):
    """Anything that delivers one email and says what happened; it never raises for one email."""

    def send(self, email: OutgoingEmail) -> SendResult: ...


@lru_cache(maxsize=256)
def _categories(configured: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    seen: list[str] = []
    for category in (*configured, *extra):
        clean = header_safe(category, 255)
        if clean and clean not in seen:
            seen.append(clean)
    return tuple(seen[:MAX_CATEGORIES])


# --------------------------------------------------------------------------- file outbox


class _UrlListHeader(UnstructuredHeader, BaseHeader):
    """`List-Unsubscribe` (RFC 2369): angle-bracketed URLs that receivers parse as they are.

    The stdlib folds an unstructured header at the policy's 78 columns and, for a word longer than
    that (any real unsubscribe URL), rewrites it as an RFC 2047 encoded-word that no mailbox provider
    reads as a URL. Folded against RFC 5322's 998-character line limit instead, the URL stays on one
    line, unencoded (OutgoingEmail keeps it ASCII and short enough).
    """

    # BaseHeader is named only for the type checker: HeaderRegistry mixes it in at run time anyway.
    def fold(self, *, policy: Any) -> str:
        return str(super().fold(policy=policy.clone(max_line_length=MAX_HEADER_LINE)))


def _outbox_policy() -> policy.EmailPolicy[EmailMessage]:
    """SMTP policy (CRLF, 78-column folding) with List-Unsubscribe kept a plain URL line; its own
    header registry, so the shared `email.policy.SMTP` is left as it is."""
    registry = HeaderRegistry()
    registry.map_to_type("list-unsubscribe", _UrlListHeader)
    return policy.SMTP.clone(header_factory=registry)


_OUTBOX_POLICY = _outbox_policy()


class FileMailer:
    """The embedded default: each email becomes `<outbox>/<send_key>.eml` (RFC 5322, written once)."""

    def __init__(self, outbox: Path, mailer_config: MailerConfig):
        self.outbox = Path(outbox)
        self.config = mailer_config

    def __repr__(self) -> str:
        return f"FileMailer(outbox={str(self.outbox)!r})"

    def _message_id(self, send_key: str) -> str:
        domain = self.config.from_email.rpartition("@")[2] or "leadflow.invalid"
        return f"<{send_key.replace(':', '.')}@{domain}>"

    def build_message(self, email: OutgoingEmail) -> bytes:
        """The .eml bytes for `email` (CRLF line endings, RFC 2047 encoded headers except the
        List-Unsubscribe URL, which RFC 2369/8058 receivers read verbatim)."""
        msg = EmailMessage(policy=_OUTBOX_POLICY)
        msg["From"] = Address(display_name=header_safe(self.config.from_name, 200), addr_spec=self.config.from_email)
        msg["To"] = Address(display_name=header_safe(email.to_name, 200), addr_spec=email.to_email)
        msg["Subject"] = header_safe(email.rendered.subject)
        if self.config.reply_to:
            msg["Reply-To"] = self.config.reply_to
        now = datetime.now(UTC).replace(microsecond=0)
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = self._message_id(email.send_key)
        if email.unsubscribe_url:
            msg["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["X-Leadflow-Send-Key"] = email.send_key
        # When it is to be delivered (what SendGrid's send_at would say): its slot, or at once.
        msg["X-Leadflow-Send-At"] = (email.send_at or now).astimezone(UTC).isoformat()
        msg["X-Leadflow-Template"] = f"{email.rendered.template}/{email.rendered.locale}"
        categories = _categories(tuple(self.config.categories), tuple(email.categories))
        if categories:
            msg["X-Leadflow-Categories"] = ", ".join(categories)
        msg.set_content(email.rendered.text, subtype="plain", charset="utf-8")
        msg.add_alternative(email.rendered.html, subtype="html", charset="utf-8")
        return msg.as_bytes()

    def _existing_message_id(self, path: Path, send_key: str) -> str:
        with path.open("rb") as fh:
            headers = BytesHeaderParser(policy=policy.default).parse(fh)
        return str(headers.get("Message-ID") or self._message_id(send_key))

    def send(self, email: OutgoingEmail) -> SendResult:
        final = self.outbox / f"{email.send_key}.eml"
        if final.exists():
            return SendResult("sent", self._existing_message_id(final, email.send_key), None)
        try:
            data = self.build_message(email)
        except (ValueError, TypeError, MessageError) as exc:
            return SendResult("failed", None, f"could not build the message: {type(exc).__name__}: {exc}")
        tmp = self.outbox / f".{email.send_key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                # link() never replaces an existing file, so two writers cannot both "send".
                os.link(tmp, final)
            except FileExistsError:
                return SendResult("sent", self._existing_message_id(final, email.send_key), None)
            except OSError:  # filesystems without hard links
                if final.exists():
                    return SendResult("sent", self._existing_message_id(final, email.send_key), None)
                os.replace(tmp, final)
        except OSError as exc:
            return SendResult("failed", None, f"could not write {final.name}: {exc.strerror or exc}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        message_id = self._message_id(email.send_key)
        log.info("wrote send %s to the outbox as %s", email.send_key, final.name)
        return SendResult("sent", message_id, None)


# --------------------------------------------------------------------------- SendGrid


class _RedactSecrets(logging.Filter):
    """python_http_client logs request headers (the Authorization bearer), payloads and response
    bodies (recipient PII, suppression lists) at DEBUG: redact the bearer and drop the bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        response = _RESPONSE_LOG.match(message)
        if message.startswith("PAYLOAD:"):
            record.msg, record.args = "PAYLOAD: [omitted]", ()
        elif response:
            record.msg, record.args = f"{response.group(1)} [body omitted]", ()
        elif "Bearer" in message:
            record.msg, record.args = _BEARER.sub(r"\1[redacted]", message), ()
        return True


_HTTP_CLIENT_LOGGER = logging.getLogger("python_http_client.client")
if not any(isinstance(f, _RedactSecrets) for f in _HTTP_CLIENT_LOGGER.filters):
    _HTTP_CLIENT_LOGGER.addFilter(_RedactSecrets())


class _OneWriteRequests(http.client.HTTPConnection):
    """An HTTP connection that writes a request with a bytes body in one send (the stdlib sends the
    headers and the body apart: two writes, and a server woken twice per request) and sets
    TCP_NODELAY, as urllib3 does: a request is complete when written, nothing is left to coalesce."""

    def connect(self) -> None:
        super().connect()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        # The stdlib's own first step (http.client.HTTPConnection._send_output), then one send.
        if not isinstance(message_body, bytes) or encode_chunked:
            super()._send_output(message_body, encode_chunked=encode_chunked)  # type: ignore[misc]
            return
        buffer: list[bytes] = self._buffer  # type: ignore[attr-defined]
        buffer.extend((b"", b""))
        head = b"\r\n".join(buffer)
        del buffer[:]
        self.send(head + message_body)


class _Connection(_OneWriteRequests):
    pass


class _TLSConnection(_OneWriteRequests, http.client.HTTPSConnection):
    pass


_CONNECTION_CLASSES: dict[str, type[http.client.HTTPConnection]] = {"http": _Connection, "https": _TLSConnection}


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle connection the server has closed: it reads as ready (EOF) before we send anything."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


def _close_all(idle: dict[tuple[str, str], list[http.client.HTTPConnection]]) -> None:
    for connections in idle.values():
        while connections:
            connections.pop().close()


class _ReadResponse(urllib.response.addinfourl):
    """A response already read to the end, shaped like urllib's own (the reason in `.msg`)."""

    def __init__(self, body: bytes, response: http.client.HTTPResponse, url: str):
        super().__init__(io.BytesIO(body), response.headers, url, response.status)
        self.msg = response.reason
        self.http_status: int = response.status


class _KeepAliveHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """urllib's HTTP(S) handler with HTTP/1.1 keep-alive: connections stay open in a small pool
    between requests instead of one TCP (and TLS) handshake per request. Errors keep urllib's
    meaning: failing to send raises URLError, failing while waiting for the answer raises the
    OSError/HTTPException itself. Requests through a proxy take urllib's own one-shot path."""

    def __init__(self, max_idle: int = MAX_IDLE_CONNECTIONS):
        super().__init__()
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._max_idle = max_idle
        self._proxies = urllib.request.getproxies()  # as the opener's ProxyHandler reads them, once
        weakref.finalize(self, _close_all, self._idle)

    def opener(self) -> urllib.request.OpenerDirector:
        """An opener over this handler for http and https only (no file:, ftp: or data: URLs)."""
        opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),  # reads the *_proxy environment variables once, here
            self,
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPRedirectHandler(),
            urllib.request.HTTPErrorProcessor(),
            urllib.request.UnknownHandler(),
        ):
            opener.add_handler(handler)
        return opener

    def close(self) -> None:
        """Close the idle connections (one in use is closed or pooled when its request ends)."""
        with self._lock:
            idle = {key: connections[:] for key, connections in self._idle.items()}
            self._idle.clear()
        _close_all(idle)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self._open(req)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self._open(req)

    def _checkout(self, key: tuple[str, str]) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
            # Checked just before reuse, a server closing the connection at that very moment is the
            # only race left; that send then reads as `unknown`, as any answer lost on the way does.
            if not _dropped(conn):
                return conn
            conn.close()

    def _checkin(self, key: tuple[str, str], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def reaches_directly(self, url: str) -> bool:
        """Whether requests to `url` go straight to its host (no proxy configured for it): those may
        skip urllib's handler chain (`exchange`); the others go through the opener."""
        parts = urllib.parse.urlsplit(url)
        return parts.scheme not in self._proxies or bool(urllib.request.proxy_bypass(parts.hostname or ""))

    def _open(self, req: urllib.request.Request) -> Any:
        if req.has_proxy() or getattr(req, "_tunnel_host", None):
            return self.do_open(_CONNECTION_CLASSES[req.type], req)
        headers = {name.title(): value for name, value in {**req.headers, **req.unredirected_hdrs}.items()}
        chunked = req.has_header("Transfer-encoding")
        return self._exchange(
            req.type, req.host, req.get_method(), req.selector, req.data, headers, req.timeout, chunked
        )

    def exchange(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str], timeout: float | None
    ) -> _ReadResponse:
        """One request to a host reached directly (see `reaches_directly`), on a pooled connection
        and without urllib's handler chain; errors as in urllib (URLError when not sent). Any status
        is returned, redirects are not followed."""
        parts = urllib.parse.urlsplit(url)
        selector = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        return self._exchange(parts.scheme, parts.netloc, method, selector, data, headers, timeout, False)

    def _exchange(
        self,
        scheme: str,
        host: str,
        method: str,
        selector: str,
        data: Any,
        headers: dict[str, str],
        timeout: float | None,
        chunked: bool,
    ) -> _ReadResponse:
        key = (scheme, host)
        conn = self._checkout(key) or _CONNECTION_CLASSES[scheme](host, timeout=timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            try:
                conn.request(method, selector, data, headers, encode_chunked=chunked)
            except OSError as exc:
                raise urllib.error.URLError(exc) from exc
            response = conn.getresponse()
            # Read to the end now: the connection can take the next request only after that.
            body = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            self._checkin(key, conn)
        return _ReadResponse(body, response, f"{scheme}://{host}{selector}")


class _KeepAliveClient(python_http_client.Client):
    """python_http_client's Client with its request step done once per client instead of per call:
    the stock step builds a new urllib opener for every request (a new TCP and TLS connection, the
    proxy environment read again) and formats the whole payload into debug messages even with
    logging off. This one sends on kept-alive connections, straight through `http.client` when no
    proxy is configured for the host (through the shared urllib opener otherwise), and logs lazily;
    URLs, headers, error translation and the Response are the library's own. JSON bodies are sent
    compact and as UTF-8 (the library escapes every non-ASCII character, which doubles Japanese text)."""

    def __init__(self, *args: Any, handler: _KeepAliveHandler, opener: urllib.request.OpenerDirector, **kwargs: Any):
        # Set first: Client.__getattr__ turns unknown attributes into URL segments.
        self._handler = handler
        self._opener = opener
        super().__init__(*args, **kwargs)
        self._direct = handler.reaches_directly(self.host)

    def _build_client(self, name: str | None = None) -> _KeepAliveClient:
        return _KeepAliveClient(
            host=self.host,
            version=self._version,
            request_headers=self.request_headers,
            url_path=self._url_path + [name] if name else self._url_path,
            append_slash=self.append_slash,
            timeout=self.timeout,
            handler=self._handler,
            opener=self._opener,
        )

    def __getattr__(self, name: str) -> Any:
        if name not in self.methods:
            return super().__getattr__(name)
        method = name.upper()

        def http_request(
            request_body: Any = None,
            query_params: dict[str, Any] | None = None,
            request_headers: dict[str, str] | None = None,
            timeout: float | None = None,
            **_: Any,
        ) -> Any:
            if request_headers:
                self._update_headers(request_headers)
            data = None
            if request_body is not None:
                if self.request_headers.get("Content-Type", "application/json") != "application/json":
                    data = request_body.encode("utf-8")
                else:
                    self.request_headers.setdefault("Content-Type", "application/json")
                    data = json.dumps(request_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            url = self._build_url(query_params)
            _HTTP_CLIENT_LOGGER.debug("%s Request: %s", method, url)
            if data:
                _HTTP_CLIENT_LOGGER.debug("PAYLOAD: %s", data)
            _HTTP_CLIENT_LOGGER.debug("HEADERS: %s", self.request_headers)
            if self._direct:
                headers = {key.title(): value for key, value in self.request_headers.items()}
                raw = self._handler.exchange(method, url, data, headers, timeout or self.timeout)
                if raw.http_status >= 400:  # as the library's urllib path raises them (HTTPErrorProcessor)
                    error = python_http_client.exceptions.handle_error(
                        urllib.error.HTTPError(url, raw.http_status, raw.msg, raw.headers, raw)
                    )
                    _HTTP_CLIENT_LOGGER.debug("%s Response: %s %s", method, error.status_code, error.body)
                    raise error
            else:
                # S310: the opener (_KeepAliveHandler.opener) has handlers for http and https only.
                request = urllib.request.Request(url, headers=self.request_headers, data=data, method=method)  # noqa: S310
                raw = self._make_request(self._opener, request, timeout=timeout)
            response = python_http_client.client.Response(raw)
            _HTTP_CLIENT_LOGGER.debug("%s Response: %s %s", method, response.status_code, response.body)
            return response

        return http_request


def _sendgrid_errors(body: bytes | str | None) -> str:
    """SendGrid's `{"errors": [{"message", "field"}]}` as one readable line."""
    if not body:
        return "no error details"
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(text).get("errors") or []
        parts = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
            if isinstance(e, dict)
        ]
    except (ValueError, AttributeError):
        parts = []
    return "; ".join(parts)[:1000] if parts else header_safe(text, 300)


class SendGridMailer:
    """Real delivery through SendGrid's v3 `mail/send` with the official `sendgrid` client."""

    def __init__(
        self,
        api_key: str,
        mailer_config: MailerConfig,
        host: str = DEFAULT_SENDGRID_HOST,
        timeout: float = 10,
        clock: Callable[[], float] = time.time,
    ):
        import sendgrid

        if not api_key:
            raise MailerSetupError("SendGrid API key is empty")
        self.config = mailer_config
        self.host = host.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._client = sendgrid.SendGridAPIClient(api_key=api_key, host=self.host)
        self._connections = _KeepAliveHandler()
        api = self._client.client
        self._client.client = _KeepAliveClient(
            host=api.host,
            request_headers=api.request_headers,
            version=api._version,
            handler=self._connections,
            opener=self._connections.opener(),
        )
        self._mail_send = self._client.client.mail.send
        from sendgrid.helpers.mail import From, ReplyTo

        # The same for every email, so built once (the helpers never change them once made).
        self._sender = From(mailer_config.from_email, header_safe(mailer_config.from_name, 200) or None)
        self._reply_to = ReplyTo(mailer_config.reply_to) if mailer_config.reply_to else None

    def __repr__(self) -> str:
        return f"SendGridMailer(host={self.host!r}, sandbox_mode={self.config.sandbox_mode})"

    def __reduce__(self) -> Any:
        raise TypeError("SendGridMailer holds a secret and cannot be pickled")

    def close(self) -> None:
        """Close the idle connections to SendGrid (they also close when the mailer is collected)."""
        self._connections.close()

    # ---- payload

    def build_payload(self, email: OutgoingEmail) -> dict[str, Any]:
        """The v3 mail/send JSON body for `email`."""
        from sendgrid.helpers.mail import (
            Asm,
            Category,
            CustomArg,
            Header,
            HtmlContent,
            Mail,
            MailSettings,
            PlainTextContent,
            SandBoxMode,
            SendAt,
            Subject,
            To,
        )

        cfg = self.config
        mail = Mail(
            from_email=self._sender,
            to_emails=To(email.to_email, header_safe(email.to_name, 200) or None),
            subject=Subject(header_safe(email.rendered.subject)),
            plain_text_content=PlainTextContent(email.rendered.text),
            html_content=HtmlContent(email.rendered.html),
        )
        if self._reply_to is not None:
            mail.reply_to = self._reply_to
        if email.unsubscribe_url:
            mail.header = Header("List-Unsubscribe", f"<{email.unsubscribe_url}>")
            mail.header = Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        mail.custom_arg = CustomArg("send_key", email.send_key)
        for category in _categories(tuple(cfg.categories), tuple(email.categories)):
            mail.category = Category(category)
        if email.send_at is not None:
            mail.send_at = SendAt(int(email.send_at.timestamp()))
        if cfg.asm_group_id is not None:
            mail.asm = Asm(cfg.asm_group_id)
        if cfg.sandbox_mode:
            mail.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))
        return mail.get()

    # ---- sending

    def _retry_after(self, headers: Any) -> float:
        """Seconds until SendGrid's rate limit resets (X-RateLimit-Reset is a unix time), bounded."""
        wait = RATE_LIMIT_DEFAULT_WAIT
        reset = headers.get("X-RateLimit-Reset") if headers is not None else None
        retry_after = headers.get("Retry-After") if headers is not None else None
        try:
            if reset is not None:
                wait = float(reset) - self._clock()
            elif retry_after is not None:
                wait = float(retry_after)
        except ValueError:
            wait = RATE_LIMIT_DEFAULT_WAIT
        return float(min(max(wait, 1.0), RATE_LIMIT_MAX_WAIT))

    def send(self, email: OutgoingEmail) -> SendResult:
        from python_http_client import exceptions as http_errors

        try:
            payload = self.build_payload(email)
        except Exception as exc:  # the helpers validate (e.g. refuse content that looks like a key)
            return self._result(email, SendResult("failed", None, f"could not build the payload: {type(exc).__name__}"))
        try:
            response = self._mail_send.post(request_body=payload, timeout=self.timeout)
        except http_errors.HTTPError as exc:
            status = int(exc.status_code)
            detail = f"SendGrid {status}: {_sendgrid_errors(exc.body)}"
            if status == 429:
                result = SendResult("failed", None, detail, retry_after=self._retry_after(exc.headers))
            elif 400 <= status < 500:
                result = SendResult("failed", None, detail)
            else:  # 5xx: SendGrid may or may not have queued it
                result = SendResult("unknown", None, detail)
            return self._result(email, result)
        except urllib.error.URLError as exc:
            # urllib wraps errors raised while connecting and writing the request: the request was
            # not (completely) sent, so SendGrid cannot have accepted it.
            reason = exc.reason
            name = type(reason).__name__ if isinstance(reason, BaseException) else str(reason)
            return self._result(
                email,
                SendResult("failed", None, f"request not sent: {name}", retry_after=REFUSED_RETRY_AFTER),
            )
        except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, truncated responses
            # Raised while waiting for the response: the request went out and may have been accepted.
            return self._result(email, SendResult("unknown", None, f"no response from SendGrid: {type(exc).__name__}"))
        status = int(response.status_code)
        message_id = response.headers.get("X-Message-Id") if response.headers is not None else None
        if 200 <= status < 300:
            return self._result(email, SendResult("sent", message_id, None))
        return self._result(email, SendResult("unknown", message_id, f"unexpected SendGrid status {status}"))

    def _result(self, email: OutgoingEmail, result: SendResult) -> SendResult:
        if result.status == "sent":
            log.info("SendGrid accepted send %s (message id %s)", email.send_key, result.message_id)
        else:
            log.warning("SendGrid send %s: %s (%s)", email.send_key, result.status, result.error)
        return result

    # ---- suppressions

    def fetch_suppressions(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Bounces, spam reports, global unsubscribes (created at or after `since`) and, with an ASM
        group configured, that group's unsubscribes; one dict per entry: email (lower-cased), kind
        (bounce|spam_report|unsubscribe|group_unsubscribe), created_at (aware UTC)."""
        if since is not None and since.utcoffset() is None:
            raise ValueError("since must be timezone-aware")
        found: list[dict[str, Any]] = []
        for kind, segment in SUPPRESSION_KINDS:
            offset = 0
            while True:
                params: dict[str, Any] = {"limit": SUPPRESSION_PAGE_SIZE, "offset": offset}
                if since is not None:
                    params["start_time"] = int(since.timestamp())
                request = self._client.client.suppression._(segment).get
                page = self._read_list(segment, partial(request, query_params=params, timeout=self.timeout))
                for row in page:
                    found.append(
                        {
                            "email": str(row.get("email", "")).strip().lower(),
                            "kind": kind,
                            "created_at": datetime.fromtimestamp(int(row.get("created") or 0), UTC),
                        }
                    )
                if len(page) < SUPPRESSION_PAGE_SIZE:
                    break
                offset += len(page)
        if self.config.asm_group_id is not None:
            found += self._group_unsubscribes(self.config.asm_group_id)
        return found

    @staticmethod
    def _read_list(segment: str, request: Callable[[], Any]) -> Any:
        """The JSON body of one suppression GET, or SuppressionFetchError naming `segment`."""
        from python_http_client import exceptions as http_errors

        try:
            return json.loads(request().body or b"[]")
        except http_errors.HTTPError as exc:
            detail = _sendgrid_errors(exc.body)
            raise SuppressionFetchError(f"SendGrid {exc.status_code} on {segment}: {detail}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise SuppressionFetchError(f"reading {segment} failed: {type(exc).__name__}") from None

    def _group_unsubscribes(self, group_id: int) -> list[dict[str, Any]]:
        """Addresses unsubscribed from our ASM group (`GET /v3/asm/groups/{id}/suppressions`: a list
        of addresses without dates, so they count from now)."""
        segment = f"asm/groups/{group_id}/suppressions"
        page = self._read_list(
            segment, lambda: self._client.client.asm.groups._(str(group_id)).suppressions.get(timeout=self.timeout)
        )
        now = datetime.fromtimestamp(self._clock(), UTC)
        return [
            {"email": str(email).strip().lower(), "kind": "group_unsubscribe", "created_at": now}
            for email in page
            if isinstance(email, str) and email.strip()
        ]


# --------------------------------------------------------------------------- selection


def _api_host(conn: Any) -> str | None:
    """The API base URL from an Airflow connection's host (+ port, schema as http/https)."""
    host = (getattr(conn, "host", None) or "").strip().rstrip("/")
    if not host:
        return None
    if "://" not in host:
        scheme = conn.schema if getattr(conn, "schema", None) in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    port = getattr(conn, "port", None)
    if port and not re.search(r":\d+$", host.split("://", 1)[1]):
        host = f"{host}:{port}"
    return host


def _sendgrid_connection(conn_id: str) -> Any | None:
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # leadflow used without Airflow: environment variables only
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def mailer_from_settings(settings: Any) -> Mailer:
    """The configured mailer: the file outbox, or SendGrid with the key from the Airflow connection
    `settings.mailer.sendgrid_conn_id` (password; host overrides the API host; extra `timeout`)
    or else the `SENDGRID_API_KEY` environment variable."""
    cfg: MailerConfig = settings.mailer
    if cfg.kind == "file":
        return FileMailer(settings.path(cfg.outbox), cfg)
    conn = _sendgrid_connection(cfg.sendgrid_conn_id)
    api_key = (getattr(conn, "password", None) or "") or os.environ.get("SENDGRID_API_KEY", "")
    if not api_key:
        raise MailerSetupError(
            f"no SendGrid API key: set the password of Airflow connection {cfg.sendgrid_conn_id!r} "
            "or the SENDGRID_API_KEY environment variable"
        )
    host = (_api_host(conn) if conn is not None else None) or DEFAULT_SENDGRID_HOST
    timeout = 10.0
    if conn is not None:
        extra = getattr(conn, "extra_dejson", None) or {}
        with contextlib.suppress(TypeError, ValueError):
            timeout = float(extra.get("timeout", timeout))
    return SendGridMailer(api_key, cfg, host=host, timeout=timeout)
