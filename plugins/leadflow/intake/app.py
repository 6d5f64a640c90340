"""`leadflow serve`: the small public intake service (FastAPI on uvicorn).

It faces the internet, so it does little: it checks a signature or a link token, writes what it
accepted to the durable inbox (fsync'd files, or a committed insert into ops.inbox on PostgreSQL),
answers, and tells the leadflow_intake DAG over Redis that there is something to apply. It never
opens the DuckDB warehouse (that file has one writer: the Airflow tasks).

Routes: the path of `mailer.unsubscribe_url` and of `mailer.preferences_url` (GET page, POST
unsubscribe, RFC 8058 one-click), `POST /sendgrid/events`, `POST /events`, `GET /healthz`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from leadflow.config import Settings
from leadflow.intake import pages
from leadflow.intake.inbox import NOTIFY_CHANNEL, FileInbox, Inbox, InboxRecord, WarehouseInbox, inbox_root
from leadflow.intake.ratelimit import RateLimiter, retry_after
from leadflow.intake.tokens import (
    ExpiredToken,
    InvalidToken,
    LinkClaims,
    Purpose,
    verification_secrets,
    verify_token,
)
from leadflow.intake.webhook import (
    INTAKE_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Rejected,
    check_json_type,
    sendgrid_records,
    sendgrid_verifier,
    verify_intake_signature,
    verify_sendgrid,
    web_event_records,
)
from leadflow.privacy.keys import PrivacySecretMissing
from leadflow.privacy.requests import BadErasureRequest, erasure_record
from leadflow.warehouse import Warehouse, connect, connection_uri

log = logging.getLogger("leadflow.intake")
access_log = logging.getLogger("leadflow.intake.access")

REDIS_URL_ENV = "LEADFLOW_REDIS_URL"  # empty: no notifications (the DAG's schedule still applies the inbox)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SENDGRID_KEY_ENV = "LEADFLOW_SENDGRID_WEBHOOK_KEY"
INTAKE_SECRET_ENV = "LEADFLOW_INTAKE_SECRET"  # noqa: S105 — the variable's name
FORM_MAX_BYTES = 16 * 1024  # an unsubscribe POST is a few bytes; anything larger is not one


class TooLarge(Exception):
    """The request body is over the configured limit."""


# --------------------------------------------------------------------------- notification


class Notifier:
    """Publishes a small message on NOTIFY_CHANNEL after each durable write, off the request path.

    Best effort: Redis down means the DAG's schedule picks the records up; a failure is logged
    (once per outage), never returned to the sender. Writes made while a message of the same kind
    waits to be published join it (its count grows), so a slow or absent Redis never builds a
    queue; after a failure Redis is tried again at most every `retry_seconds`.
    """

    def __init__(self, url: str | None, retry_seconds: float = 5.0) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        self._client: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-notify")
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._failing = False
        self._next_try = 0.0

    def notify(self, kind: str, count: int) -> None:
        if not self.url:
            return
        with self._lock:
            if kind in self._pending:
                self._pending[kind] += count
                return
            self._pending[kind] = count
        self._pool.submit(self._publish, kind)

    def _publish(self, kind: str) -> None:
        with self._lock:
            count = self._pending.pop(kind, 0)
        if self._failing and time.monotonic() < self._next_try:
            return  # the scheduled run applies these; no point waiting on a Redis that was just down
        message = json.dumps({"kind": kind, "count": count, "at": datetime.now(UTC).isoformat()})
        try:
            if self._client is None:
                import redis

                assert self.url  # notify() queues nothing without one

                self._client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
            self._client.publish(NOTIFY_CHANNEL, message)
            if self._failing:
                log.info("Redis reachable again: notifications on %s resumed", NOTIFY_CHANNEL)
            self._failing = False
        except Exception as exc:  # noqa: BLE001 — best effort by design
            self._client = None
            self._next_try = time.monotonic() + self.retry_seconds
            if not self._failing:
                log.warning(
                    "could not notify %s on Redis (%s): records stay in the inbox for the scheduled run",
                    NOTIFY_CHANNEL,
                    type(exc).__name__,
                )
            self._failing = True

    def close(self) -> None:
        """Publish what is still pending (at most one message per kind), then stop."""
        self._pool.shutdown(wait=True, cancel_futures=False)


# --------------------------------------------------------------------------- the app


@dataclass
class IntakeDeps:
    """What the app needs besides the settings (tests pass their own)."""

    inbox: Inbox
    notifier: Notifier
    clock: Callable[[], float] = time.time


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _declared_length(request: Request) -> int:
    """The Content-Length the client declared (0 when absent or not a number)."""
    value = request.headers.get("content-length") or ""
    return int(value) if value.isdigit() else 0


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing at once (TooLarge) when it is declared or turns out larger than `limit`."""
    if _declared_length(request) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _client_ip(request: Request, trust_forwarded: bool) -> str:
    if trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            # the entry our own proxy appended: the ones before it are whatever the client claimed
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.client.host if request.client else "-"


def create_app(settings: Settings, deps: IntakeDeps) -> FastAPI:
    """The intake app for `settings`, writing to `deps.inbox`."""
    cfg = settings.intake
    dev_links = settings.mailer.kind != "sendgrid"
    try:
        link_secrets = verification_secrets(dev_fallback=dev_links)
    except RuntimeError as exc:  # mailer.kind: sendgrid without LEADFLOW_LINK_SECRET
        raise ValueError(f"{exc}; leadflow serve verifies those links") from None
    sg_key = os.environ.get(SENDGRID_KEY_ENV)
    sg_verifier = sendgrid_verifier(sg_key) if sg_key else None
    intake_secret = os.environ.get(INTAKE_SECRET_ENV) or None
    limiter = RateLimiter(cfg.rate_limit_per_minute, cfg.rate_limit_burst)
    unsubscribe_path = urlsplit(settings.mailer.unsubscribe_url).path or "/"
    preferences_path = urlsplit(settings.mailer.preferences_url).path or "/"
    known_paths = {unsubscribe_path, preferences_path, "/sendgrid/events", "/events", "/privacy/erasure", "/healthz"}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        yield
        # uvicorn re-raises SIGTERM once it has stopped: anything after uvicorn.run() may never run
        await run_in_threadpool(deps.notifier.close)
        close = getattr(deps.inbox, "close", None)
        if close is not None:
            await run_in_threadpool(close)

    app = FastAPI(title="leadflow intake", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.exception_handler(TooLarge)
    async def too_large(request: Request, exc: TooLarge) -> Response:
        return _json_error(413, f"body larger than {cfg.max_body_bytes} bytes", {"Connection": "close"})

    async def store(kind: str, records: Sequence[InboxRecord]) -> None:
        await run_in_threadpool(deps.inbox.append, records)
        deps.notifier.notify(kind, len(records))

    @app.middleware("http")
    async def guard_and_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        ip = _client_ip(request, cfg.trust_forwarded_for)
        path = request.url.path
        response: Response
        if path == "/healthz":
            response = await call_next(request)
        else:
            wait = limiter.take(ip)
            if wait > 0:
                response = _json_error(429, "too many requests", {"Retry-After": retry_after(wait)})
            else:
                try:
                    response = await call_next(request)
                except Exception as exc:  # noqa: BLE001 — the sender retries; never a stack trace
                    log.error("request failed (%s): answered 503", type(exc).__name__)
                    response = _json_error(503, "temporarily unavailable, retry later", {"Retry-After": "30"})
        # never the query string (tokens), never a body (addresses): path, status, size, time
        access_log.info(
            json.dumps(
                {
                    "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "ip": ip,
                    "method": request.method,
                    "path": path if path in known_paths else "(other)",
                    "status": response.status_code,
                    "bytes_in": _declared_length(request),
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "records": int(response.headers.get("x-leadflow-records", 0)),
                }
            )
        )
        return response

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        try:
            await run_in_threadpool(deps.inbox.ping)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            return JSONResponse({"status": "unavailable", "inbox": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "inbox": type(deps.inbox).__name__})

    # ---- unsubscribe and preferences

    def check_link(token: str | None, purpose: Purpose) -> LinkClaims | Response:
        try:
            return verify_token(token, purpose, link_secrets, max_age_days=cfg.link_max_age_days)
        except ExpiredToken as exc:
            return HTMLResponse(pages.expired_page(exc.link.locale), 410, headers=pages.SECURITY_HEADERS)
        except InvalidToken:
            return HTMLResponse(pages.invalid_page(), 400, headers=pages.SECURITY_HEADERS)

    async def link_page(request: Request, purpose: Purpose) -> Response:
        token = request.query_params.get("token")
        claims = check_link(token, purpose)
        if isinstance(claims, Response):
            return claims
        assert token is not None
        page = pages.confirm_page(claims.locale, claims.masked_email, token, preferences=purpose == "preferences")
        return HTMLResponse(page, headers=pages.SECURITY_HEADERS)

    async def link_post(request: Request, purpose: Purpose) -> Response:
        claims = check_link(request.query_params.get("token"), purpose)
        if isinstance(claims, Response):
            return claims
        body = await _read_body(request, FORM_MAX_BYTES)
        form = parse_qs(body.decode("latin-1"), max_num_fields=20)
        from_page = form.get("source", [""])[-1] == "page"
        # RFC 8058: the mailbox provider POSTs List-Unsubscribe=One-Click (form or multipart encoded);
        # the token is the authority, so any POST to a genuine link unsubscribes
        payload = {
            "lead_id": claims.lead_id,
            "send_key": claims.send_key,
            "method": "page" if from_page else "one_click",
            "source": "preferences" if purpose == "preferences" else ("link" if from_page else "list_unsubscribe"),
            "locale": claims.locale,
            "link_issued": claims.issued.isoformat(),
        }
        await store("unsubscribe", [InboxRecord("unsubscribe", claims.lead_id, payload)])
        headers = {**pages.SECURITY_HEADERS, "X-Leadflow-Records": "1"}
        if from_page:
            return HTMLResponse(pages.done_page(claims.locale, claims.masked_email), headers=headers)
        return PlainTextResponse("unsubscribed\n", headers=headers)

    def routes(purpose: Purpose) -> tuple[Callable[..., Awaitable[Response]], Callable[..., Awaitable[Response]]]:
        async def get(request: Request) -> Response:
            return await link_page(request, purpose)

        async def post(request: Request) -> Response:
            return await link_post(request, purpose)

        return get, post

    for path, purpose in ((unsubscribe_path, "unsubscribe"), (preferences_path, "preferences")):
        if path == unsubscribe_path and purpose == "preferences":
            continue  # one path cannot serve both links
        get, post = routes(purpose)  # type: ignore[arg-type]
        app.add_api_route(path, get, methods=["GET"], name=f"{purpose}_page")
        app.add_api_route(path, post, methods=["POST"], name=f"{purpose}_post")

    # ---- SendGrid Event Webhook

    @app.post("/sendgrid/events")
    async def sendgrid_events(request: Request) -> Response:
        if sg_verifier is None:
            return _json_error(503, f"{SENDGRID_KEY_ENV} is not set: events cannot be verified", {"Retry-After": "300"})
        body = await _read_body(request, cfg.max_body_bytes)
        try:
            verify_sendgrid(
                sg_verifier,
                body,
                request.headers.get(SIGNATURE_HEADER),
                request.headers.get(TIMESTAMP_HEADER),
                deps.clock(),
                cfg.max_clock_skew_seconds,
            )
            records = sendgrid_records(body)
        except Rejected as exc:
            return _json_error(exc.status, exc.message)
        await store("sendgrid_event", records)
        return JSONResponse({"accepted": len(records)}, headers={"X-Leadflow-Records": str(len(records))})

    # ---- pushed web events

    @app.post("/events")
    async def web_events(request: Request) -> Response:
        if intake_secret is None:
            message = f"{INTAKE_SECRET_ENV} is not set: events cannot be verified"
            return _json_error(503, message, {"Retry-After": "300"})
        body = await _read_body(request, cfg.max_body_bytes)
        try:
            verify_intake_signature(intake_secret, body, request.headers.get(INTAKE_SIGNATURE_HEADER))
            check_json_type(request.headers.get("content-type"))
            records = web_event_records(body)
        except Rejected as exc:
            return _json_error(exc.status, exc.message)
        await store("web_event", records)
        return JSONResponse(
            {"accepted": len(records)}, status_code=202, headers={"X-Leadflow-Records": str(len(records))}
        )

    # ---- erasure requests (leadflow.privacy): signed like pushed events, hashed before they are kept

    @app.post("/privacy/erasure")
    async def erasure_request(request: Request) -> Response:
        if intake_secret is None:
            message = f"{INTAKE_SECRET_ENV} is not set: requests cannot be verified"
            return _json_error(503, message, {"Retry-After": "300"})
        body = await _read_body(request, cfg.max_body_bytes)
        try:
            verify_intake_signature(intake_secret, body, request.headers.get(INTAKE_SIGNATURE_HEADER))
            check_json_type(request.headers.get("content-type"))
            key, payload = erasure_record(settings, body)
        except Rejected as exc:
            return _json_error(exc.status, exc.message)
        except PrivacySecretMissing as exc:
            return _json_error(503, str(exc), {"Retry-After": "300"})
        except BadErasureRequest as exc:
            return _json_error(422, str(exc))
        await store("erasure", [InboxRecord("erasure", key, payload)])
        return JSONResponse(
            {"accepted": 1, "erasure_id": payload["erasure_id"]}, status_code=202, headers={"X-Leadflow-Records": "1"}
        )

    return app


# --------------------------------------------------------------------------- running it


def _warehouse_uri(settings: Settings, explicit: str | None) -> str | None:
    """The warehouse URI without opening it: --warehouse, $LEADFLOW_WAREHOUSE_URI, or the Airflow connection."""
    uri = explicit or os.environ.get("LEADFLOW_WAREHOUSE_URI")
    if uri:
        return uri
    if f"AIRFLOW_CONN_{settings.warehouse_conn_id.upper()}" in os.environ:
        from airflow.sdk import BaseHook

        return connection_uri(BaseHook.get_connection(settings.warehouse_conn_id))
    return None


def _inbox_warehouse(uri: str) -> Warehouse:
    """A PostgreSQL connection for ops.inbox, creating that table when the stack is new (before any DAG ran)."""
    wh = connect(uri)
    try:
        wh.execute("create schema if not exists ops")
        wh.run_model("schema/07_intake.sql")
    except Exception:
        wh.close()
        raise
    return wh


def make_inbox(settings: Settings, warehouse_uri: str | None = None) -> Inbox:
    """ops.inbox on PostgreSQL; fsync'd segments under `intake.inbox_path` otherwise (never the DuckDB file)."""
    choice = settings.intake.inbox
    uri = _warehouse_uri(settings, warehouse_uri) if choice != "file" else None
    postgres = bool(uri) and urlsplit(uri or "").scheme.startswith("postgres")
    if choice == "warehouse" and not postgres:
        raise ValueError(
            "intake.inbox: warehouse needs a PostgreSQL warehouse (the DuckDB file has one writer); "
            "use inbox: file or auto"
        )
    if postgres:
        return WarehouseInbox(None, reconnect=lambda: _inbox_warehouse(uri or ""))
    return FileInbox(inbox_root(settings))


def _configure_logging(settings: Settings) -> None:
    target = settings.intake.access_log
    handler: logging.Handler
    if target is not None:
        path = settings.path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.handlers[:] = [handler]
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
    if not log.handlers:
        app_handler = logging.StreamHandler(sys.stderr)
        app_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(app_handler)
        log.setLevel(logging.INFO)


def serve(settings: Settings, host: str, port: int, warehouse_uri: str | None = None) -> None:
    """Run the intake on `host:port` until stopped (SIGTERM / Ctrl-C)."""
    import uvicorn

    _configure_logging(settings)
    inbox = make_inbox(settings, warehouse_uri)
    notifier = Notifier(os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL))
    app = create_app(settings, IntakeDeps(inbox=inbox, notifier=notifier))
    where = inbox.root if isinstance(inbox, FileInbox) else "ops.inbox"
    log.info("leadflow serve on http://%s:%d (inbox: %s)", host, port, where)
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,  # ours is structured and leaves out query strings (tokens)
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
