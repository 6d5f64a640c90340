"""leadflow_intake: apply what the inbox holds to the warehouse, minutes after `leadflow serve` accepted it.

One run takes the pending records of `ops.inbox` (applied_at null), validates them (a GX gate per kind;
bad records are quarantined in `ops.quarantine` with a reason) and applies the rest in ONE transaction
together with marking them applied, so a record is applied exactly once whatever the number of runs:

- unsubscribes, bounces, blocks, spam reports, group unsubscribes → `nurture.suppressions`, and the lead's
  marketing sends not delivered yet are cancelled (the CRM learns the opt-out at the next write-back);
- SendGrid opens and clicks → `core.events` (`email_open` / `email_click`; machine opens, Apple Mail Privacy
  Protection, as `email_machine_open`, which no rule scores) in the batch of the local day, which the next
  nightly scoring keys (`scoring.keyed_event_batches` forgets that batch) and `rescore --full` sees too;
- processed / delivered settle `unknown` sends to `sent`; dropped → `failed`, bounce → `bounced`;
- pushed web events → `core.events` the same way; a hand-raise (contact_form, quote_request, demo_request)
  also plans one owner alert per lead per hand-raise event, sent at once by `send_owner_alerts`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from leadflow.config import Settings
from leadflow.intake.inbox import inbox_root, load_segments
from leadflow.runtime import run_step as run_on_warehouse
from leadflow.validation import gx
from leadflow.warehouse import Warehouse

log = logging.getLogger(__name__)

MAX_ROWS_PER_RUN = 20_000  # records one run applies; the next run (minutes later) takes the rest
CLOCK_SKEW = timedelta(minutes=5)  # an event stamped this far ahead of our clock is still accepted
OLDEST_EVENT = timedelta(days=400)  # SendGrid retries for 72 h; a far older timestamp is wrong
QUARANTINE_SOURCE = "intake"
VALIDATION = "intake_inbox"

HAND_RAISERS = ("contact_form", "quote_request", "demo_request")
# in the send key of every alert the intake plans (plan_sends.sql skips the nightly alert of those leads)
ALERT_MARK = ":owner_alert:intake:"
SLACK_CONN_ID = "leadflow_slack"  # an Airflow Slack incoming-webhook connection; absent: no Slack posts

# SendGrid event webhook event types (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event)
DELIVERY_EVENTS = ("processed", "delivered", "deferred", "dropped", "bounce")
ENGAGEMENT_EVENTS = ("open", "click")
SUPPRESSION_EVENTS = ("spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe")
SENDGRID_EVENTS = DELIVERY_EVENTS + ENGAGEMENT_EVENTS + SUPPRESSION_EVENTS
UNSUBSCRIBE_METHODS = ("one_click", "page")


@dataclass
class Batch:
    """Everything one run writes, built in Python from the pending records before one transaction applies it."""

    suppress: list[dict[str, Any]] = field(default_factory=list)  # email, kind, source, created_at, lead_id, action
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # send_key -> status, error
    events: list[dict[str, Any]] = field(default_factory=list)  # core.events rows (occurred_at as ISO text)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # send_key, lead_id
    done: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, key) -> outcome
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # kind, key, record, reason
    gates: list[dict[str, Any]] = field(default_factory=list)  # one GX result summary per kind

    def reject(self, kind: str, key: str, record: Any, reason: str) -> None:
        self.quarantine.append({"kind": kind, "key": key, "record": record, "reason": reason})
        self.done[(kind, key)] = f"quarantined: {reason}"[:500]


# --------------------------------------------------------------------------- pure helpers


def alert_key(lead_id: str, event_id: str) -> str:
    """The ledger key of the owner alert for one hand-raise: unique per lead and event, and free of PII."""
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:16]
    return f"{lead_id}{ALERT_MARK}{digest}"


def event_batch(now: datetime, settings: Settings) -> str:
    """The core.events batch the intake writes into: the local day it applies (the nightly of that day stages it)."""
    return now.astimezone(settings.tz).date().isoformat()


def sendgrid_time(value: Any, now: datetime) -> tuple[datetime | None, str | None]:
    """A SendGrid `timestamp` (unix seconds) as a UTC datetime, or why it is not one we accept."""
    if value is None or isinstance(value, bool):
        return None, "timestamp: missing"
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None, f"timestamp: {str(value)[:40]!r} is not a unix time"
    if not math.isfinite(seconds):
        return None, "timestamp: not a finite number"
    try:
        at = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None, f"timestamp: {seconds:.0f} is out of range"
    if at > now + CLOCK_SKEW:
        return None, f"timestamp: {at.isoformat()} is in the future"
    if at < now - OLDEST_EVENT:
        return None, f"timestamp: {at.isoformat()} is more than {OLDEST_EVENT.days} days old"
    return at, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _email(value: Any) -> str | None:
    text = _text(value)
    if text is None or "@" not in text or len(text) > 254 or any(c.isspace() for c in text):
        return None
    return text.lower()


def send_key_of(event: Mapping[str, Any]) -> str | None:
    """Our `send_key` custom arg (SendGrid puts custom args at the top level of each event object)."""
    nested = event.get("custom_args")
    return _text(event.get("send_key") or (nested.get("send_key") if isinstance(nested, dict) else None))


def ledger_outcome(event: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """What a delivery event says became of a send: (ledger status, error), or None (nothing to settle)."""
    kind = event.get("event")
    if kind in ("processed", "delivered"):
        return "sent", None
    if kind == "dropped":
        return "failed", f"dropped by SendGrid: {_text(event.get('reason')) or 'no reason given'}"[:500]
    if kind == "bounce":
        bounce = _text(event.get("type")) or "bounce"
        return "bounced", f"{bounce} by the receiving server: {_text(event.get('reason')) or ''}".strip()[:500]
    return None


_SEVERITY = {"sent": 0, "failed": 1, "bounced": 2}


def suppression_kind(event: Mapping[str, Any]) -> str | None:
    """The `nurture.suppressions` kind a SendGrid event adds, or None."""
    kind = event.get("event")
    if kind == "bounce":
        return "block" if _text(event.get("type")) == "blocked" else "bounce"
    return {"spamreport": "spam_report", "unsubscribe": "unsubscribe", "group_unsubscribe": "group_unsubscribe"}.get(
        str(kind)
    )


def engagement_type(event: Mapping[str, Any]) -> str | None:
    """The core.events type of an open or click: machine opens (Apple MPP) are kept apart and never scored."""
    kind = event.get("event")
    if kind == "click":
        return "email_click"
    if kind == "open":
        machine = event.get("sg_machine_open")
        return "email_machine_open" if machine is True or str(machine).lower() == "true" else "email_open"
    return None


# --------------------------------------------------------------------------- the GX gate


def _gate(name: str, frame: pd.DataFrame, checks: Sequence[tuple[str, str, str]]) -> tuple[dict[int, str], dict]:
    """Run GX over `frame`: each check (check name, helper column holding the problem or None, description)
    expects its helper column to be null. Returns the reasons by row position and the result summary."""
    expectations = [
        gx.Expect("ExpectColumnValuesToBeNull", check, description, {"column": column})
        for check, column, description in checks
    ]
    checked = frame.loc[:, [c for _, c, _ in checks]].astype(object).reset_index(drop=True)
    checked = checked.where(checked.notna(), None)
    result = gx.run(name, checked, gx.build_suite(name, expectations), result_format=gx.COMPLETE)
    reasons: dict[int, list[str]] = {}
    summary = []
    by_check = {gx.check_of(r): r for r in result.results}
    for check, column, _ in checks:
        r = by_check[check]
        for pos in r.result.get("unexpected_index_list") or []:
            reasons.setdefault(int(pos), []).append(str(checked.at[int(pos), column]))
        summary.append(gx.describe_result(r))
    return {pos: "; ".join(texts) for pos, texts in reasons.items()}, {
        "name": name,
        "rows": len(frame),
        "results": summary,
    }


# --------------------------------------------------------------------------- lookups


@dataclass(frozen=True)
class Known:
    """The leads and sends the batch refers to."""

    leads: dict[str, dict[str, Any]]  # lead_id -> row
    by_crm: dict[str, str]  # crm_id -> lead_id
    by_email: dict[str, str]  # email -> lowest lead_id
    sends: dict[str, dict[str, Any]]  # send_key -> ledger row

    def lead_of_address(self, email: str | None) -> str | None:
        return self.by_email.get(email) if email else None


def lookup(wh: Warehouse, lead_ids: Iterable[str], crm_ids: Iterable[str], emails: Iterable[str], keys: Iterable[str]):
    leads = wh.fetch_df(
        wh.model_sql("intake/lookup_leads.sql"),
        {"lead_ids": sorted(set(lead_ids)), "crm_ids": sorted(set(crm_ids)), "emails": sorted(set(emails))},
    )
    sends = wh.fetch_df(wh.model_sql("intake/lookup_sends.sql"), {"keys": sorted(set(keys))})
    rows = leads.astype(object).where(leads.notna(), None).to_dict("records")
    by_email: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r["lead_id"]):
        if row["email"]:
            by_email.setdefault(row["email"], row["lead_id"])
    return Known(
        leads={r["lead_id"]: r for r in rows},
        by_crm={r["crm_id"]: r["lead_id"] for r in rows},
        by_email=by_email,
        sends={r["send_key"]: r for r in sends.astype(object).where(sends.notna(), None).to_dict("records")},
    )


# --------------------------------------------------------------------------- per kind


def _unsubscribes(records: list[dict[str, Any]], known: Known, batch: Batch, now: datetime) -> None:
    rows = []
    for rec in records:
        p = rec["payload"]
        lead = known.leads.get(_text(p.get("lead_id")) or "")
        rows.append(
            {
                "_lead": None if lead else f"lead_id: {str(p.get('lead_id'))[:40]!r} is not a known lead",
                "_method": None
                if p.get("method") in UNSUBSCRIBE_METHODS
                else f"method: {str(p.get('method'))[:40]!r} is not one of {', '.join(UNSUBSCRIBE_METHODS)}",
                "_address": None if (lead is None or lead["email"]) else "the lead has no email address",
            }
        )
    if not rows:
        return
    frame = pd.DataFrame(rows)
    reasons, summary = _gate(
        "intake_unsubscribes",
        frame,
        [
            ("unsubscribe_lead_known", "_lead", "the unsubscribed lead is a lead of core.leads"),
            ("unsubscribe_method_known", "_method", "the unsubscribe came from the one-click POST or the page"),
            ("unsubscribe_address_known", "_address", "the lead has an address to suppress"),
        ],
    )
    batch.gates.append(summary)
    for pos, rec in enumerate(records):
        if pos in reasons:
            batch.reject(rec["kind"], rec["dedupe_key"], rec["payload"], reasons[pos])
            continue
        lead = known.leads[_text(rec["payload"]["lead_id"]) or ""]
        batch.suppress.append(
            {
                "email": lead["email"],
                "kind": "unsubscribe",
                "source": f"intake:{rec['payload']['method']}",
                "created_at": rec["received_at"],
                "lead_id": lead["lead_id"],
                "action": "suppress",
            }
        )
        batch.done[(rec["kind"], rec["dedupe_key"])] = "applied: unsubscribed"


def _sendgrid(
    records: list[dict[str, Any]], known: Known, batch: Batch, now: datetime, settings: Settings, event_batch_id: str
) -> None:
    rows, parsed = [], []
    for rec in records:
        p = rec["payload"]
        kind = p.get("event")
        at, time_problem = sendgrid_time(p.get("timestamp"), now)
        send_key = send_key_of(p)
        send = known.sends.get(send_key or "")
        email = _email(p.get("email"))
        lead_id = send["lead_id"] if send else known.lead_of_address(email)
        target = None
        if kind in SUPPRESSION_EVENTS or kind == "bounce":
            if email is None and send is None:
                target = "neither a send_key we sent nor a valid email address"
        elif lead_id is None and kind in ENGAGEMENT_EVENTS:
            target = "no send_key we sent and the address is not a known lead"
        elif send is None and kind in DELIVERY_EVENTS:
            target = "no send_key we sent (nothing in the ledger to settle)"
        rows.append(
            {
                "_event": None
                if kind in SENDGRID_EVENTS
                else f"event: {str(kind)[:40]!r} is not a SendGrid event type we know",
                "_timestamp": time_problem,
                "_target": None if kind not in SENDGRID_EVENTS else target,
            }
        )
        parsed.append((rec, kind, at, send_key, send, email, lead_id))
    if not rows:
        return
    reasons, summary = _gate(
        "intake_sendgrid_events",
        pd.DataFrame(rows),
        [
            ("sendgrid_event_known", "_event", "the event is one of SendGrid's event webhook types"),
            ("sendgrid_timestamp_valid", "_timestamp", "timestamp is a unix time, not in the future, not ancient"),
            ("sendgrid_target_known", "_target", "the event names a send we made (send_key) or a known address"),
        ],
    )
    batch.gates.append(summary)
    for pos, (rec, kind, at, send_key, send, email, lead_id) in enumerate(parsed):
        key = (rec["kind"], rec["dedupe_key"])
        if pos in reasons:
            batch.reject(rec["kind"], rec["dedupe_key"], rec["payload"], reasons[pos])
            continue
        assert at is not None  # sendgrid_time gives a time or a problem, and the gate rejected the problems
        p = rec["payload"]
        effects = []
        if (outcome := ledger_outcome(p)) is not None and send is not None and send_key is not None:
            status, error = outcome
            current = batch.outcomes.get(send_key)
            if current is None or _SEVERITY[status] > _SEVERITY[current["status"]]:
                batch.outcomes[send_key] = {"send_key": send_key, "status": status, "error": error}
            effects.append(f"ledger {status}")
        address = email or (send["to_email"] if send else None)
        if (suppress := suppression_kind(p)) is not None and address:
            batch.suppress.append(
                {
                    "email": address,
                    "kind": suppress,
                    "source": "intake:sendgrid",
                    "created_at": at,
                    "lead_id": lead_id,
                    "action": "suppress",
                }
            )
            effects.append(f"suppressed ({suppress})")
        if kind == "group_resubscribe" and address:
            batch.suppress.append(
                {
                    "email": address,
                    "kind": "group_unsubscribe",
                    "source": "intake:sendgrid",
                    "created_at": at,
                    "lead_id": lead_id,
                    "action": "resubscribe",
                }
            )
            effects.append("resubscribed")
        if (etype := engagement_type(p)) is not None:
            if send is not None and send["kind"] != "marketing":
                effects.append("not a lead's engagement (an internal email)")
            else:
                batch.events.append(
                    {
                        "event_id": f"sendgrid:{rec['dedupe_key']}",
                        "lead_id": lead_id,
                        "event_type": etype,
                        "occurred_at": at.isoformat(),
                        "url": _text(p.get("url")) if kind == "click" else None,
                        "asset": None,
                        "kind": rec["kind"],
                        "dedupe_key": rec["dedupe_key"],
                    }
                )
                effects.append(etype)
        batch.done[key] = ("applied: " + ", ".join(effects)) if effects else "ignored: no effect (" + str(kind) + ")"


def _web_events(
    records: list[dict[str, Any]], known: Known, batch: Batch, now: datetime, settings: Settings, run: str
) -> None:
    """Pushed web events through the nightly's own raw-event gate (validate_raw_events), then resolved to a lead."""
    from leadflow.validation.raw import EVENT_COLUMNS, validate_raw_events

    if not records:
        return
    rows = []
    for pos, rec in enumerate(records):
        p = rec["payload"]
        fields = {}
        for col in EVENT_COLUMNS:
            value = p.get(col)
            if col == "properties" and value is not None and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False)
            elif value is not None and not isinstance(value, str):
                value = str(value)
            fields[col] = value
        # the inbox's key is the event id: a payload whose id differs from it is refused below
        fields["_file"] = "ops.inbox"
        fields["_row"] = pos
        rows.append(fields)
    raw = pd.DataFrame(rows, columns=[*EVENT_COLUMNS, "_file", "_row"]).astype(object)
    result = validate_raw_events(raw, as_of=now + CLOCK_SKEW, max_bad_share=1.0, batch=f"intake {run}")
    batch.gates.append(result.summary())
    bad = dict(zip(result.quarantine["_row"].astype(int), result.quarantine["reason"], strict=True))
    clean = {int(r["_row"]): r for r in result.clean.to_dict("records")}
    for pos, rec in enumerate(records):
        kind, key = rec["kind"], rec["dedupe_key"]
        if pos in bad:
            batch.reject(kind, key, rec["payload"], str(bad[pos]))
            continue
        row = clean.get(pos)
        if row is None:  # an exact duplicate within the batch (cannot happen: the inbox keys by event id)
            batch.done[(kind, key)] = "ignored: duplicate"
            continue
        event_id = _text(row["event_id"])
        if event_id is None or event_id != key.strip():
            batch.reject(kind, key, rec["payload"], f"event_id: {str(event_id)[:40]!r} differs from the delivery key")
            continue
        crm_id, email = _text(row.get("crm_id")), _email(row.get("email"))
        lead_id = known.by_crm.get(crm_id or "") or known.lead_of_address(email)
        if lead_id is None:
            batch.reject(kind, key, rec["payload"], "unknown lead: neither crm_id nor email is a lead of core.leads")
            continue
        etype = str(row["event_type"]).strip().lower()
        props = row.get("properties")
        asset = None
        if isinstance(props, str) and props.strip():
            try:
                asset = _text((json.loads(props) or {}).get("asset"))
            except (ValueError, AttributeError):
                asset = None
        batch.events.append(
            {
                "event_id": event_id,
                "lead_id": lead_id,
                "event_type": etype,
                "occurred_at": pd.Timestamp(str(row["occurred_at"]).strip()).isoformat(),
                "url": _text(row.get("url")),
                "asset": asset,
                "kind": kind,
                "dedupe_key": key,
            }
        )
        outcome = f"applied: {etype}"
        if etype in HAND_RAISERS:
            batch.alerts.append({"send_key": alert_key(lead_id, event_id), "lead_id": lead_id})
            owner = known.leads.get(lead_id, {}).get("owner_email")
            outcome += ", owner alerted" if owner else ", no owner to alert"
        batch.done[(kind, key)] = outcome


# --------------------------------------------------------------------------- the run


def _records(frame: pd.DataFrame, batch: Batch) -> dict[str, list[dict[str, Any]]]:
    """The pending rows by kind with their payload parsed; a payload that is not a JSON object is quarantined."""
    # erasure requests are leadflow.privacy's (the apply_erasures task): left pending here, never rejected
    out: dict[str, list[dict[str, Any]]] = {"unsubscribe": [], "sendgrid_event": [], "web_event": [], "erasure": []}
    for row in frame.to_dict("records"):
        try:
            payload = json.loads(row["payload"])
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            batch.reject(row["kind"], row["dedupe_key"], row["payload"], "payload: not a JSON object")
            continue
        if row["kind"] not in out:
            batch.reject(row["kind"], row["dedupe_key"], payload, f"kind: {row['kind']!r} is not an inbox kind")
            continue
        out[row["kind"]].append({**row, "payload": payload})
    return out


def _temp(wh: Warehouse, name: str, columns: Mapping[str, str], rows: list[dict[str, Any]]) -> None:
    """A temp table of these rows (a key a row lacks is null)."""
    wh.temp_table(name, columns, pd.DataFrame(rows).reindex(columns=list(columns)))


def apply_inbox(
    wh: Warehouse,
    settings: Settings,
    as_of: date | None = None,
    *,
    run: str | None = None,
    now: datetime | None = None,
    max_rows: int = MAX_ROWS_PER_RUN,
) -> dict:
    """Validate and apply the pending inbox records (at most `max_rows`), in one transaction with marking
    them applied. Returns counts by outcome and the owner alerts planned."""
    from leadflow.nurture.plan import load_sequences
    from leadflow.pipeline import record_validation

    now = now or datetime.now(UTC)
    run = run or f"intake-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    pending = wh.fetch_df(wh.model_sql("intake/pending_inbox.sql"), {"max_rows": max_rows})
    if pending.empty:
        return {"pending": 0}
    batch = Batch()
    by_kind = _records(pending, batch)
    lead_ids = [_text(r["payload"].get("lead_id")) or "" for r in by_kind["unsubscribe"]]
    crm_ids = [_text(r["payload"].get("crm_id")) or "" for r in by_kind["web_event"]]
    emails = [_email(r["payload"].get("email")) or "" for r in by_kind["web_event"] + by_kind["sendgrid_event"]]
    keys = [send_key_of(r["payload"]) or "" for r in by_kind["sendgrid_event"]]
    known = lookup(wh, lead_ids, crm_ids, emails, keys)
    # a send's lead may not be among the leads looked up by address: add it for the owner and address lookups
    extra = {s["lead_id"] for s in known.sends.values()} - set(known.leads)
    if extra:
        more = lookup(wh, extra, [], [], [])
        known.leads.update(more.leads)
    events_batch = event_batch(now, settings)
    _unsubscribes(by_kind["unsubscribe"], known, batch, now)
    _sendgrid(by_kind["sendgrid_event"], known, batch, now, settings, events_batch)
    _web_events(by_kind["web_event"], known, batch, now, settings, run)
    alert_template = load_sequences(settings.path(settings.sequences)).owner_alert.template

    with wh.transaction():
        _temp(
            wh,
            "_intake_suppress",
            {
                "email": "text",
                "kind": "text",
                "source": "text",
                "created_at": "timestamptz",
                "lead_id": "text",
                "action": "text",
            },
            batch.suppress,
        )
        wh.run_model("intake/suppressions.sql")
        cancelled = wh.fetchall(wh.model_sql("intake/cancel_sends.sql"), {"now": now, "reason": "intake"})
        _temp(
            wh,
            "_intake_outcomes",
            {"send_key": "text", "status": "text", "error": "text"},
            list(batch.outcomes.values()),
        )
        wh.run_model("intake/settle_sends.sql", {"now": now})
        event_columns = {
            "event_id": "text",
            "lead_id": "text",
            "event_type": "text",
            "occurred_at": "text",
            "url": "text",
            "asset": "text",
            "kind": "text",
            "dedupe_key": "text",
        }
        _temp(wh, "_intake_events", event_columns, batch.events)
        before = int(wh.scalar("select count(*) from core.events where _batch_id = :b", {"b": events_batch}))
        params = {"batch_id": events_batch, "timezone": settings.timezone}
        wh.run_model("intake/events.sql", params)
        wh.run_model("intake/inbox_events.sql", params)
        added = int(wh.scalar("select count(*) from core.events where _batch_id = :b", {"b": events_batch})) - before
        if added:
            wh.run_model("intake/keyed_batches.sql", params)
        _temp(wh, "_intake_alerts", {"send_key": "text", "lead_id": "text"}, batch.alerts)
        wh.run_model(
            "intake/owner_alerts.sql",
            {"as_of_date": events_batch, "alert_template": alert_template, "now": now},
        )
        if batch.quarantine:
            q = pd.DataFrame(
                {
                    "source": QUARANTINE_SOURCE,
                    "batch_id": run,
                    "_file": [f"ops.inbox/{x['kind']}/{x['key']}"[:500] for x in batch.quarantine],
                    "_row": 0,
                    "record": [
                        json.dumps(x["record"], ensure_ascii=False, default=str)[:10_000] for x in batch.quarantine
                    ],
                    "reason": [x["reason"] for x in batch.quarantine],
                    "quarantined_at": now,
                }
            )
            wh.load_df("ops.quarantine", q)
        done = [{"kind": k, "dedupe_key": d, "outcome": o} for (k, d), o in batch.done.items()]
        _temp(wh, "_intake_done", {"kind": "text", "dedupe_key": "text", "outcome": "text"}, done)
        wh.run_model("intake/mark_applied.sql", {"now": now, "run": run})
        summary = {
            "run": run,
            "pending": len(pending),
            "applied": sum(1 for o in batch.done.values() if o.startswith("applied")),
            "quarantined": len(batch.quarantine),
            "ignored": sum(1 for o in batch.done.values() if o.startswith("ignored")),
            "suppressed": len({s["email"] for s in batch.suppress if s["action"] == "suppress"}),
            "cancelled": len(cancelled),
            "settled": len(batch.outcomes),
            "events": added,
            "alerts": len(batch.alerts),
        }
        record_validation(wh, run, VALIDATION, True, summary, batch.gates)
    if batch.quarantine:
        log.warning(
            "intake run %s quarantined %d records (see ops.quarantine, source 'intake')", run, len(batch.quarantine)
        )
    return summary


def pending_alerts(wh: Warehouse) -> list[str]:
    """The owner alerts the intake planned and nobody has sent yet (a run that stopped leaves them for the next)."""
    rows = wh.fetchall(
        "select send_key from nurture.email_sends where status = 'planned' and track = 'owner_alert' "
        "and send_key like :mark order by send_key",
        {"mark": f"%{ALERT_MARK}%"},
    )
    return [str(r[0]) for r in rows]


def send_owner_alerts(wh: Warehouse, settings: Settings, as_of: date | None = None, mailer: Any = None) -> dict:
    """Send the planned hand-raise alerts now, through the ledger (claim → send → mark), like the nurture sender."""
    from leadflow.nurture.send import send_planned

    keys = pending_alerts(wh)
    if not keys:
        return {"alerts": 0}
    counts = send_planned(wh, settings, as_of, mailer, keys=keys, read_variable=mailer is None)
    sent = wh.fetch_df(wh.model_sql("intake/sent_alerts.sql"), {"keys": keys})
    return {"alerts": len(keys), **counts, "slack": post_to_slack(sent.to_dict("records"))}


def slack_text(alert: Mapping[str, Any]) -> str:
    """The Slack line for one sent hand-raise alert: what, who (company and CRM id), whose lead."""
    company = alert.get("company") or "(company not recorded)"
    return (
        f":raising_hand: Hand-raise on {alert['as_of_date']}: {company} (CRM {alert['crm_id']}). "
        f"Owner {alert['owner_email']}: please call within 5 minutes."
    )


def post_to_slack(alerts: Sequence[Mapping[str, Any]], conn_id: str = SLACK_CONN_ID) -> int:
    """Post each sent alert to Slack through Airflow's Slack provider, where connection `conn_id` (an
    incoming webhook) is configured; without it, nothing. Slack is a second channel: a failed post is
    logged, never retried (the email, in the ledger, is the alert of record)."""
    if not alerts or not _has_connection(conn_id):
        return 0
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    hook = SlackWebhookHook(slack_webhook_conn_id=conn_id)
    posted = 0
    for alert in alerts:
        try:
            hook.send(text=slack_text(alert))
            posted += 1
        except Exception as exc:  # noqa: BLE001 — any Slack failure leaves the email alert standing
            log.warning("Slack post of an owner alert failed (%s): the email alert was sent", type(exc).__name__)
    return posted


def _has_connection(conn_id: str) -> bool:
    try:
        from airflow.sdk import BaseHook

        BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 — not configured (or no Airflow here): no Slack
        return False
    return True


def load_inbox(wh: Warehouse, settings: Settings, as_of: date | None = None) -> dict:
    """The first step: schemas in place, then what the embedded inbox's segments hold copied into ops.inbox."""
    from leadflow.pipeline import create_schemas

    create_schemas(wh)
    return load_segments(wh, inbox_root(settings))


def run_step(step: Any, **kwargs: Any) -> Any:
    """Run an intake step `step(wh, settings, None, **kwargs)` like every other task's step (fail-fast
    on deterministic errors, a bounded wait for the DuckDB file), with no as-of date: an
    asset-triggered run (the Redis watcher's) has no logical date or data interval, and the intake
    works on "now"."""
    return run_on_warehouse(step, None, **kwargs)
