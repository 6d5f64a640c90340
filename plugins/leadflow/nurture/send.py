"""Render and deliver planned emails through the ledger: claim (committed) → send → mark, never twice."""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from tenacity import RetryCallState, Retrying, retry_if_result

from leadflow.config import Settings
from leadflow.intake.tokens import Purpose, link_url, make_token, signing_secret
from leadflow.nurture.mailer import Mailer, OutgoingEmail, SendResult, mailer_from_settings
from leadflow.nurture.plan import plan_sends
from leadflow.nurture.render import RenderedEmail, lint_templates, render_emails, sample_context, template_environment
from leadflow.nurture.suppressions import sync_suppressions
from leadflow.nurture.windows import SendWindow, deliver_at, send_window, zone
from leadflow.privacy.keys import privacy_binds
from leadflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SENDGRID_MAX_SCHEDULE = timedelta(hours=71)  # SendGrid accepts send_at up to 72 h ahead
SEND_CONCURRENCY = 8  # API calls in flight at once per task
BATCH_SIZE = 500  # planned sends per mapped `send_emails` task
MAX_BATCHES = 32
RATE_LIMIT_ATTEMPTS = 5  # tries per email while SendGrid answers 429
RATE_LIMIT_TOTAL_WAIT = 600.0  # seconds one email may wait for rate limits in total
CLAIM_TIMEOUT = timedelta(minutes=30)  # longer than any send with its retries: older claims are stale
KILL_SWITCH_VARIABLE = "leadflow_sending_enabled"
_OFF = {"false", "0", "no", "off"}


class RenderFailed(RuntimeError):
    """One or more planned emails do not render; nothing was sent."""


@dataclass(frozen=True)
class Planned:
    """One planned ledger row with what its template needs."""

    row: dict[str, Any]

    @property
    def send_key(self) -> str:
        return str(self.row["send_key"])


def _link_secret(settings: Settings) -> str:
    return signing_secret(dev_fallback=settings.mailer.kind != "sendgrid")


def link_token(
    lead_id: str,
    settings: Settings,
    *,
    purpose: Purpose = "unsubscribe",
    locale: str = "ja",
    email: str = "",
    send_key: str | None = None,
) -> str:
    """A signed token for the lead's unsubscribe (or preferences) link (see leadflow.intake.tokens)."""
    return make_token(purpose, lead_id, locale=locale, email=email, secret=_link_secret(settings), send_key=send_key)


def unsubscribe_url(
    lead_id: str, settings: Settings, *, locale: str = "ja", email: str = "", send_key: str | None = None
) -> str:
    """The lead's one-click unsubscribe URL (also the List-Unsubscribe header), served by `leadflow serve`."""
    token = link_token(lead_id, settings, locale=locale, email=email, send_key=send_key)
    return link_url(settings.mailer.unsubscribe_url, token)


def preferences_url(lead_id: str, settings: Settings, *, locale: str = "ja", email: str = "") -> str:
    """The lead's signed email-preferences URL, served by `leadflow serve`."""
    token = link_token(lead_id, settings, purpose="preferences", locale=locale, email=email)
    return link_url(settings.mailer.preferences_url, token)


def _row_link_args(row: dict[str, Any]) -> dict[str, Any]:
    return {"locale": row.get("locale") or "ja", "email": row.get("to_email") or row.get("email") or ""}


def planned_rows(wh: Warehouse, as_of: date | None = None) -> pd.DataFrame:
    """Every `planned` ledger row with the lead, score and stage fields the templates use."""
    frame = wh.fetch_df(
        wh.model_sql("nurture/planned_emails.sql"), {"as_of_date": as_of.isoformat() if as_of else None}
    )
    return frame.astype(object).where(frame.notna(), None)


def email_context(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The template context for one planned email (CRM values pass as data, never as template source)."""
    m = settings.mailer
    links = {
        "unsubscribe": unsubscribe_url(row["lead_id"], settings, send_key=row["send_key"], **_row_link_args(row)),
        "preferences": preferences_url(row["lead_id"], settings, **_row_link_args(row)),
        "view_online": f"{m.preferences_url.rsplit('/', 1)[0]}/view?{urlencode({'k': row['send_key']})}",
    }
    return {
        "lead": {
            "first_name": row["first_name"] or "",
            "last_name": row["last_name"] or "",
            "company": row["company"] or "",
            "job_title": row["job_title"] or "",
            "industry": row["industry"] or "",
            "locale": row["locale"],
            "email": row["email"] or "",
            "crm_id": row["crm_id"],
        },
        "score": {
            "total": int(round(row["total_score"] or 0)),
            "fit_grade": row["fit_grade"] or "",
            "reasons": row["top_reasons"] or "",
        },
        "stage": row["stage"] or "",
        "event": {"asset": row.get("event_asset") or "", "url": row.get("event_url") or ""},
        "sender": {"from_name": m.from_name, "from_email": m.from_email, "postal_address": m.postal_address},
        "links": links,
        "owner": {"email": row["owner_email"] or "", "name": (row["owner_email"] or "").split("@")[0]},
    }


def render_planned(settings: Settings, rows: pd.DataFrame) -> dict[str, RenderedEmail]:
    """Every planned email rendered, or RenderFailed listing each one that does not render."""
    env = template_environment(settings.path(settings.templates), reload=False)
    records = rows.to_dict("records")
    contexts: list[dict[str, Any] | Exception] = []
    for row in records:
        try:
            contexts.append(email_context(row, settings))
        except Exception as exc:  # e.g. no link secret: reported with the emails it stops
            contexts.append(exc)
    jobs = [(r["template"], r["locale"], c) for r, c in zip(records, contexts, strict=True) if isinstance(c, dict)]
    outcomes = iter(render_emails(env, jobs))
    rendered, problems = {}, []
    for row, context in zip(records, contexts, strict=True):
        # A template is untrusted code: any failure is reported, and none of the batch is sent.
        result = context if isinstance(context, Exception) else next(outcomes)
        if isinstance(result, Exception):
            problems.append(f"{row['template']} ({row['locale']}) for send {row['send_key']}: {result}")
        else:
            rendered[row["send_key"]] = result
    if problems:
        shown = "\n  ".join(problems[:10])
        raise RenderFailed(f"validate_renders: {len(problems)} of {len(rows)} planned emails do not render:\n  {shown}")
    return rendered


def _claim_many(wh: Warehouse, send_keys: list[str], now: datetime) -> set[str]:
    """Claim planned sends in one committed transaction, before any of them is sent; the keys refused
    (no longer planned, or their lead's consent gone: unsubscribed, suppressed or opted out since
    planning) are not in the result."""
    if not send_keys:
        return set()
    with wh.transaction():
        rows = wh.fetchall(
            wh.model_sql("nurture/claim_sends.sql"), {"keys": list(send_keys), "now": now, **privacy_binds()}
        )
    return {str(row[0]) for row in rows}


def _mark(wh: Warehouse, outcomes: list[tuple[str, SendResult]]) -> None:
    """Record what happened to claimed sends, in one statement and one committed transaction."""
    if not outcomes:
        return
    with wh.transaction():
        wh.execute(
            wh.model_sql("nurture/mark_sends.sql"),
            {
                "keys": [key for key, _ in outcomes],
                "statuses": [result.status for _, result in outcomes],
                "message_ids": [result.message_id for _, result in outcomes],
                "errors": [result.error for _, result in outcomes],
                "now": datetime.now(UTC),
            },
        )


def _release(wh: Warehouse, send_keys: list[str], error: str | None) -> None:
    """Back to `planned`, in one committed transaction: SendGrid did not accept them (rate limited, not
    sent), or the run stopped before their calls were made, so a later run may send them."""
    if not send_keys:
        return
    with wh.transaction():
        wh.execute(wh.model_sql("nurture/release_sends.sql"), {"keys": list(send_keys), "error": error})


def _release_unsent(wh: Warehouse, send_keys: list[str]) -> None:
    """A window claimed when the run stopped, none of its calls made: back to `planned`. If even that
    fails, they stay `claimed` and become `unknown` later (never resent blindly)."""
    try:
        _release(wh, send_keys, None)
    except Exception:
        log.warning("%d claimed sends could not go back to planned: they will become unknown", len(send_keys))


def _reschedule(wh: Warehouse, moved: dict[str, datetime]) -> None:
    """Record, in one committed transaction, the send times of planned sends moved to their lead's
    next send window (or to now, inside it), so the ledger says when each one goes out."""
    if not moved:
        return
    with wh.transaction():
        wh.execute(
            wh.model_sql("nurture/reschedule_sends.sql"),
            {"keys": list(moved), "send_ats": [at.astimezone(UTC).isoformat() for at in moved.values()]},
        )


def window_send_at(row: dict[str, Any], settings: Settings, window: SendWindow, now: datetime) -> datetime:
    """When one planned email may go out, seen at `now`: a marketing email in its lead's send window
    (the lead's zone and holiday calendar); an owner alert at its slot, or at once once that has
    passed — a hot lead must not wait for the next business morning to reach sales."""
    slot = pd.Timestamp(row["send_at"]).to_pydatetime() if row["send_at"] is not None else None
    if row["kind"] != "marketing":
        return slot if slot is not None and slot > now else now
    country = row.get("country")
    tz = zone(row.get("timezone"), settings.timezone)
    return deliver_at(slot, now, tz, country if isinstance(country, str) else None, window)


def cancel_withdrawn(wh: Warehouse) -> int:
    """Cancel planned marketing sends whose lead unsubscribed, bounced or opted out after planning."""
    with wh.transaction():
        keys = wh.fetchall(wh.model_sql("nurture/cancel_withdrawn.sql"), {"now": datetime.now(UTC), **privacy_binds()})
    return len(keys)


def expire_stale_claims(wh: Warehouse, now: datetime, timeout: timedelta = CLAIM_TIMEOUT) -> list[str]:
    """Sends claimed longer than `timeout` ago and never marked (the worker died between the API
    call and the mark) become `unknown`: SendGrid may have them, so they are reported, never resent."""
    with wh.transaction():
        rows = wh.fetchall(
            "update nurture.email_sends set status = 'unknown', finished_at = :now, "
            "error = 'claimed and never marked (worker stopped?): reconcile with SendGrid before resending' "
            "where status = 'claimed' and claimed_at < :before returning send_key",
            {"now": now, "before": now - timeout},
        )
    keys = sorted(str(r[0]) for r in rows)
    if keys:
        log.warning("%d stale claims are now `unknown` (never resent): %s", len(keys), ", ".join(keys[:20]))
    return keys


def check_renders(wh: Warehouse, settings: Settings, as_of: date | None = None) -> dict:
    """The `validate_renders` gate: every template lints clean and every planned email renders, or
    the run fails here, before anything is sent."""
    root = settings.path(settings.templates)
    problems = lint_templates(root, [sample_context("ja"), sample_context("en")])
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:10])
        raise RenderFailed(f"validate_renders: {len(problems)} template problem(s) in {root.name}/:\n  {shown}")
    return {"renderable": len(render_planned(settings, planned_rows(wh)))}


# --------------------------------------------------------------------------- kill switch


def _variable_says_off(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _OFF


def sending_switched_off(settings: Settings, *, read_variable: bool = False) -> str | None:
    """Why sending is switched off, or None: `mailer.enabled: false` in the config, or the Airflow
    Variable `leadflow_sending_enabled` set to false. The Variable is read only when a task runs
    (`read_variable`), never at parse time; a Variable that cannot be read stops sending."""
    if not settings.mailer.enabled:
        return "mailer.enabled: false"
    if _variable_says_off(os.environ.get("AIRFLOW_VAR_" + KILL_SWITCH_VARIABLE.upper())):
        return f"Airflow Variable {KILL_SWITCH_VARIABLE} is false"
    if read_variable:
        try:
            from airflow.sdk import Variable

            value = Variable.get(KILL_SWITCH_VARIABLE, default=None)
        except Exception as exc:  # fail closed: an unreadable kill switch must not mean "send"
            return f"Airflow Variable {KILL_SWITCH_VARIABLE} could not be read ({type(exc).__name__})"
        if _variable_says_off(None if value is None else str(value)):
            return f"Airflow Variable {KILL_SWITCH_VARIABLE} is false"
    return None


# --------------------------------------------------------------------------- sending


def send_with_retry(
    mailer: Mailer,
    email: OutgoingEmail,
    *,
    attempts: int = RATE_LIMIT_ATTEMPTS,
    max_wait: float = RATE_LIMIT_TOTAL_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """The one retry layer: resend only what SendGrid refused without accepting (429, request not
    sent), waiting what it asks (X-RateLimit-Reset), at most `attempts` tries and `max_wait` seconds."""
    first = mailer.send(email)
    if not first.retryable or attempts <= 1:
        return first  # almost every send: no retry machinery needed
    pending = [first]

    def attempt(email: OutgoingEmail) -> SendResult:
        return pending.pop() if pending else mailer.send(email)  # the first try is already done

    def wait(state: RetryCallState) -> float:
        result = state.outcome.result() if state.outcome else None
        asked = result.retry_after if isinstance(result, SendResult) and result.retry_after else 0.0
        return min(asked, max(max_wait - state.idle_for, 0.0))

    retrying = Retrying(
        retry=retry_if_result(lambda r: r.retryable),
        stop=lambda state: state.attempt_number >= attempts or state.idle_for >= max_wait,
        wait=wait,
        sleep=sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    return retrying(attempt, email)


def _batch_of(send_key: str, batches: int) -> int:
    """A stable batch number for a send key (the same in every process and every run)."""
    return zlib.crc32(send_key.encode()) % batches


def send_batches(wh: Warehouse, settings: Settings, as_of: date | None = None) -> list[dict[str, int]]:
    """The batches to fan out over (one mapped `send_emails` task each); none when nothing is planned."""
    count = len(wh.fetchall("select send_key from nurture.email_sends where status = 'planned'"))
    n = max(1, min(MAX_BATCHES, -(-count // BATCH_SIZE))) if count else 0
    return [{"index": i, "of": n} for i in range(n)]


def _outgoing(
    row: dict[str, Any], rendered: RenderedEmail, settings: Settings, send_at: datetime | None
) -> OutgoingEmail:
    return OutgoingEmail(
        send_key=row["send_key"],
        to_email=row["to_email"],
        to_name=" ".join(p for p in (row["last_name"], row["first_name"]) if p),
        rendered=rendered,
        send_at=send_at,
        unsubscribe_url=(
            unsubscribe_url(row["lead_id"], settings, send_key=row["send_key"], **_row_link_args(row))
            if row["kind"] == "marketing"
            else ""
        ),
        categories=(*settings.mailer.categories, row["track"]),
    )


def send_planned(
    wh: Warehouse,
    settings: Settings,
    as_of: date | None = None,
    mailer: Mailer | None = None,
    *,
    batch: dict[str, int] | None = None,
    read_variable: bool = False,
    concurrency: int = SEND_CONCURRENCY,
    sleep: Callable[[float], None] = time.sleep,
    claim_timeout: timedelta = CLAIM_TIMEOUT,
    now: datetime | None = None,
    keys: Collection[str] | None = None,
) -> dict:
    """Deliver the planned emails (of one `batch`, or only those of `keys`, when given) that may go out now.

    Each email goes out in its recipient's send window (`window_send_at`, seen at `now`, default the
    clock): a slot that has passed outside business hours (a late night, a rerun) moves to the next
    window's send hour, and the ledger records the moved time; the file outbox writes it in the .eml.

    The emails go out in windows of `concurrency`, each window's API calls at once. A window's
    emails are claimed in one committed transaction before any of its calls, and marked in one
    after they return. The next window is claimed while this one's calls are in flight, and this
    one is marked while the next one's are, so at most two windows are claimed and not yet marked:
    a crash leaves those emails `claimed` (later `unknown`, never resent blindly). When the run stops
    on an error, the outcomes already known are marked and a window claimed but not yet sent goes
    back to `planned`. The warehouse is only touched from this thread.
    """
    counts = {"planned": 0, "sent": 0, "failed": 0, "unknown": 0, "deferred": 0, "cancelled": 0, "stale": 0}
    counts["stale"] = len(expire_stale_claims(wh, datetime.now(UTC), claim_timeout))
    off = sending_switched_off(settings, read_variable=read_variable)
    rows = planned_rows(wh)
    if batch is not None:
        rows = rows[[_batch_of(k, batch["of"]) == batch["index"] for k in rows["send_key"]]]
    if keys is not None:  # leadflow_intake's hand-raise alerts: those alone, not the night's planned emails
        rows = rows[rows["send_key"].isin(list(keys))]
    counts["planned"] = len(rows)
    if off:
        log.warning("sending is switched off (%s): %d planned emails stay planned", off, len(rows))
        return {**counts, "deferred": len(rows), "switched_off": True}
    rendered = render_planned(settings, rows)
    mailer = mailer or mailer_from_settings(settings)
    now = now or datetime.now(UTC)
    horizon = now + SENDGRID_MAX_SCHEDULE
    hours = send_window(settings.nurture)
    counts["cancelled"] = cancel_withdrawn(wh)
    records = rows.to_dict("records")
    window = max(1, concurrency)

    outgoing: list[tuple[str, OutgoingEmail]] = []
    moved: dict[str, datetime] = {}
    for row in records:
        send_at = window_send_at(row, settings, hours, now)
        planned_at = pd.Timestamp(row["send_at"]).to_pydatetime() if row["send_at"] is not None else None
        if send_at != planned_at:
            moved[row["send_key"]] = send_at
        if settings.mailer.kind == "sendgrid" and send_at > horizon:
            counts["deferred"] += 1  # too far ahead for SendGrid's scheduler: a later run sends it
            continue
        # Every email built before any is claimed: one that cannot be built stops the run with nothing claimed.
        email = _outgoing(row, rendered[row["send_key"]], settings, send_at if send_at > now else None)
        outgoing.append((row["send_key"], email))
    _reschedule(wh, moved)

    def claim(part: list[tuple[str, OutgoingEmail]]) -> dict[str, OutgoingEmail]:
        """The window's emails claimed, committed together before any of them goes out: a key not
        claimed is another worker's, or its consent was withdrawn (cancelled below)."""
        if not part:
            return {}
        accepted = _claim_many(wh, [key for key, _ in part], datetime.now(UTC))
        return {key: email for key, email in part if key in accepted}

    flying: dict[Future[SendResult], str] = {}  # the window whose calls are in flight
    claimed: dict[str, OutgoingEmail] = {}  # the next window: claimed, no call made yet
    finished: list[tuple[str, SendResult]] = []  # outcomes not marked yet
    with ThreadPoolExecutor(max_workers=window, thread_name_prefix="leadflow-send") as pool:
        try:
            # one round more than there are windows: the last claims nothing and settles the last window
            for start in range(0, len(outgoing) + window, window):
                claimed = claim(outgoing[start : start + window])
                for future in as_completed(flying):
                    key = flying[future]
                    try:
                        result = future.result()
                    except Exception as exc:  # a mailer must not raise; if one does, the outcome is unclear
                        result = SendResult("unknown", None, f"mailer raised {type(exc).__name__}")
                    if result.retryable:
                        _release(wh, [key], result.error or "not accepted")
                        counts["deferred"] += 1
                        continue
                    finished.append((key, result))
                    counts[result.status] += 1
                flying = {
                    pool.submit(send_with_retry, mailer, email, sleep=sleep): key for key, email in claimed.items()
                }
                claimed = {}
                done, finished = finished, []
                if done:
                    _mark(wh, done)  # the settled window's outcomes, committed together
        finally:
            if claimed:
                _release_unsent(wh, list(claimed))
            if finished:
                _mark(wh, finished)  # outcomes known when something failed are recorded all the same

    counts["cancelled"] += cancel_withdrawn(wh)
    return counts


def send_batch(
    wh: Warehouse, settings: Settings, as_of: date, batch: dict[str, int], mailer: Mailer | None = None
) -> dict:
    """One mapped `send_emails` task: refresh suppressions (an unsubscribe since the last batch is
    honoured), then send this batch; the kill switch Variable is read now, not at parse time."""
    mailer = mailer or mailer_from_settings(settings)
    sync_suppressions(wh, settings, as_of, mailer=mailer)
    return send_planned(wh, settings, as_of, mailer, batch=batch, read_variable=True)


def ledger_report(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Every send of the ledger by status, and the keys that need a person (`unknown`, `failed`)."""
    counts = dict(wh.fetchall("select status, count(*) from nurture.email_sends group by status"))
    attention = wh.fetchall(
        "select send_key, status, error from nurture.email_sends where status in ('unknown', 'failed') "
        "order by send_key limit 50"
    )
    for key, status, error in attention:
        log.warning("send %s is %s: %s", key, status, error)
    return {"by_status": {str(k): int(v) for k, v in counts.items()}, "attention": [str(r[0]) for r in attention]}


def run_nurture(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Plan and send one date's nurture email (outside Airflow; the DAG runs the same steps)."""
    planned = plan_sends(wh, settings, as_of)
    return {"plan": planned, "send": send_planned(wh, settings, as_of)}
