"""Sending email: one small `Mailer` interface with a local file outbox and the SendGrid v3 API.

`mailer_from_settings` picks one by `settings.mailer.kind`. A mailer never raises for a single
email: it returns a `SendResult` whose status says what the caller may do next — `sent`,
`failed` (not delivered; safe to retry only when `retry_after` is set) or `unknown` (SendGrid may
have accepted it: never resend blindly, reconcile first).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import secrets
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import MessageError
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import urllib3
from sendgrid.helpers.mail import (
    Asm,
    Category,
    CustomArg,
    From,
    Header,
    HtmlContent,
    Mail,
    MailSettings,
    PlainTextContent,
    ReplyTo,
    SandBoxMode,
    SendAt,
    Subject,
    To,
)

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


class _SendGridAPI:
    """SendGrid's v3 REST API over urllib3: kept-alive connections pooled per mailer (a TCP and TLS
    handshake per email was most of a send's cost), a proxy from the `*_proxy` environment variables
    as urllib reads them, and no retries or redirects of its own: whether a send may be retried is
    the ledger's decision (`SendResult`), never the transport's."""

    def __init__(self, host: str, api_key: str, timeout: float):
        import sendgrid

        self._base = f"{host.rstrip('/')}/v3/"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": f"leadflow sendgrid/{sendgrid.__version__};python",
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        options: dict[str, Any] = {
            "maxsize": MAX_IDLE_CONNECTIONS,
            "retries": False,
            "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        }
        parts = urllib.parse.urlsplit(self._base)
        self._origin, self._path = f"{parts.scheme}://{parts.netloc}", parts.path
        proxy = urllib.request.getproxies().get(parts.scheme)
        self._pool: urllib3.ProxyManager | urllib3.HTTPConnectionPool
        if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
            self._pool = urllib3.ProxyManager(proxy, **options)
        else:  # one host only: its own pool, without a pool manager's lookup per request
            self._pool = urllib3.connection_from_url(self._base, **options)

    def __repr__(self) -> str:
        return f"_SendGridAPI({self._base!r})"

    def request(
        self, method: str, path: str, *, body: bytes | None = None, params: dict[str, Any] | None = None
    ) -> urllib3.BaseHTTPResponse:
        """One call, its response read to the end (so the connection can take the next one). Raises
        urllib3's errors: a `NewConnectionError`/`ConnectTimeoutError` means nothing was sent."""
        target = self._path + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        if isinstance(self._pool, urllib3.ProxyManager):  # a proxy is sent the absolute URL
            target = self._origin + target
        headers = self._headers if body is None else self._json_headers
        return self._pool.urlopen(method, target, body=body, headers=headers, redirect=False)

    def close(self) -> None:
        """Close the pooled connections (the pool makes new ones if the mailer is used again)."""
        if isinstance(self._pool, urllib3.ProxyManager):
            self._pool.clear()
        else:
            self._pool.close()


def _not_sent(exc: BaseException) -> bool:
    """Whether a transport error happened before the request could be written: connecting failed
    (refused, unresolvable, timed out), directly or to the proxy. Any later error may follow a
    request SendGrid accepted."""
    if isinstance(exc, urllib3.exceptions.ProxyError):
        exc = exc.original_error
    return isinstance(exc, urllib3.exceptions.ConnectTimeoutError)


def _error_name(exc: BaseException) -> str:
    """The cause of a transport error by its plain name (`ConnectionRefusedError`, `TimeoutError`,
    `RemoteDisconnected`): what happened, never the URL or anything sent."""
    if isinstance(exc, urllib3.exceptions.ProxyError):
        exc = exc.original_error
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return "TimeoutError"
    if isinstance(exc, urllib3.exceptions.ProtocolError) and len(exc.args) > 1:
        return type(exc.args[1]).__name__
    if isinstance(exc, urllib3.exceptions.NewConnectionError) and exc.__cause__ is not None:
        return type(exc.__cause__).__name__
    return type(exc).__name__


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
        if not api_key:
            raise MailerSetupError("SendGrid API key is empty")
        self.config = mailer_config
        self.host = host.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._api = _SendGridAPI(self.host, api_key, timeout)
        # The same for every email, so built once (the helpers never change them once made).
        self._sender = From(mailer_config.from_email, header_safe(mailer_config.from_name, 200) or None)
        self._reply_to = ReplyTo(mailer_config.reply_to) if mailer_config.reply_to else None

    def __repr__(self) -> str:
        return f"SendGridMailer(host={self.host!r}, sandbox_mode={self.config.sandbox_mode})"

    def __reduce__(self) -> Any:
        raise TypeError("SendGridMailer holds a secret and cannot be pickled")

    def close(self) -> None:
        """Close the idle connections to SendGrid (they also close when the mailer is collected)."""
        self._api.close()

    # ---- payload

    def build_payload(self, email: OutgoingEmail) -> dict[str, Any]:
        """The v3 mail/send JSON body for `email`."""
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
        try:
            payload = self.build_payload(email)
        except Exception as exc:  # the helpers validate (e.g. refuse content that looks like a key)
            return self._result(email, SendResult("failed", None, f"could not build the payload: {type(exc).__name__}"))
        # Compact UTF-8: the library's default escaping of every non-ASCII character doubles a
        # Japanese email's size.
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            response = self._api.request("POST", "mail/send", body=body)
        except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
            if _not_sent(exc):  # SendGrid cannot have accepted a request it never received
                error = f"request not sent: {_error_name(exc)}"
                return self._result(email, SendResult("failed", None, error, retry_after=REFUSED_RETRY_AFTER))
            # Timeouts, resets, truncated responses: the request went out and may have been accepted.
            return self._result(email, SendResult("unknown", None, f"no response from SendGrid: {_error_name(exc)}"))
        status = response.status
        if 200 <= status < 300:
            return self._result(email, SendResult("sent", response.headers.get("X-Message-Id"), None))
        detail = f"SendGrid {status}: {_sendgrid_errors(response.data)}"
        if status == 429:
            result = SendResult("failed", None, detail, retry_after=self._retry_after(response.headers))
        elif 400 <= status < 500:
            result = SendResult("failed", None, detail)
        elif status >= 500:  # SendGrid may or may not have queued it
            result = SendResult("unknown", None, detail)
        else:
            message_id = response.headers.get("X-Message-Id")
            result = SendResult("unknown", message_id, f"unexpected SendGrid status {status}")
        return self._result(email, result)

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
                page = self._read_list(f"suppression/{segment}", params)
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

    def _read_list(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON body of one GET of a list, or SuppressionFetchError naming the list."""
        segment = path.removeprefix("suppression/")
        try:
            response = self._api.request("GET", path, params=params)
        except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
            raise SuppressionFetchError(f"reading {segment} failed: {_error_name(exc)}") from None
        if response.status >= 400:
            detail = _sendgrid_errors(response.data)
            raise SuppressionFetchError(f"SendGrid {response.status} on {segment}: {detail}")
        try:
            return json.loads(response.data or b"[]")
        except ValueError as exc:
            raise SuppressionFetchError(f"reading {segment} failed: {type(exc).__name__}") from None

    def _group_unsubscribes(self, group_id: int) -> list[dict[str, Any]]:
        """Addresses unsubscribed from our ASM group (`GET /v3/asm/groups/{id}/suppressions`: a list
        of addresses without dates, so they count from now)."""
        page = self._read_list(f"asm/groups/{group_id}/suppressions")
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
