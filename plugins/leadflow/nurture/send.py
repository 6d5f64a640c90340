"""Render and deliver planned emails through the ledger: claim (committed) → send → mark, never twice."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from leadflow.config import Settings
from leadflow.nurture.mailer import Mailer, OutgoingEmail, mailer_from_settings
from leadflow.nurture.render import RenderedEmail, render_email, template_environment
from leadflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SENDGRID_MAX_SCHEDULE = timedelta(hours=71)  # SendGrid accepts send_at up to 72 h ahead
_DEV_LINK_SECRET = "leadflow-dev-links"  # noqa: S105 — not a secret: only for the file outbox


class RenderFailed(RuntimeError):
    """One or more planned emails do not render; nothing was sent."""


@dataclass(frozen=True)
class Planned:
    """One planned ledger row with what its template needs."""

    row: dict[str, Any]

    @property
    def send_key(self) -> str:
        return str(self.row["send_key"])


def link_token(lead_id: str, settings: Settings) -> str:
    """An HMAC of the lead id, so unsubscribe links cannot be forged for other leads."""
    secret = os.environ.get("LEADFLOW_LINK_SECRET")
    if not secret:
        if settings.mailer.kind == "sendgrid":
            raise RuntimeError("LEADFLOW_LINK_SECRET must be set to send real email (signs unsubscribe links)")
        secret = _DEV_LINK_SECRET
    return hmac.new(secret.encode(), lead_id.encode(), hashlib.sha256).hexdigest()[:32]


def unsubscribe_url(lead_id: str, settings: Settings) -> str:
    query = urlencode({"lid": lead_id, "t": link_token(lead_id, settings)})
    return f"{settings.mailer.unsubscribe_url}?{query}"


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
        "unsubscribe": unsubscribe_url(row["lead_id"], settings),
        "preferences": f"{m.preferences_url}?{urlencode({'lid': row['lead_id']})}",
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
    env = template_environment(settings.path(settings.templates))
    rendered, problems = {}, []
    for row in rows.to_dict("records"):
        try:
            rendered[row["send_key"]] = render_email(env, row["template"], row["locale"], email_context(row, settings))
        except Exception as exc:  # a template is untrusted code: any failure is reported, none is sent
            problems.append(f"{row['template']} ({row['locale']}) for send {row['send_key']}: {exc}")
    if problems:
        shown = "\n  ".join(problems[:10])
        raise RenderFailed(f"validate_renders: {len(problems)} of {len(rows)} planned emails do not render:\n  {shown}")
    return rendered


def _claim(wh: Warehouse, send_key: str) -> bool:
    with wh.transaction():
        claimed = wh.scalar(
            "update nurture.email_sends set status = 'claimed', claimed_at = :now "
            "where send_key = :k and status = 'planned' returning send_key",
            {"k": send_key, "now": datetime.now(UTC)},
        )
    return claimed is not None


def _finish(wh: Warehouse, send_key: str, status: str, message_id: str | None, error: str | None) -> None:
    with wh.transaction():
        wh.execute(
            "update nurture.email_sends set status = :s, message_id = :mid, error = :err, finished_at = :now "
            "where send_key = :k",
            {"s": status, "mid": message_id, "err": error, "now": datetime.now(UTC), "k": send_key},
        )


def check_renders(wh: Warehouse, settings: Settings, as_of: date | None = None) -> dict:
    """The `validate_renders` gate: every planned email renders, or nothing is sent."""
    return {"renderable": len(render_planned(settings, planned_rows(wh)))}


def send_planned(wh: Warehouse, settings: Settings, as_of: date | None = None, mailer: Mailer | None = None) -> dict:
    """Deliver every planned email that may go out now; each is claimed in its own committed
    transaction before the call, so a crash leaves it `claimed` (never resent blindly)."""
    rows = planned_rows(wh)
    if not settings.mailer.enabled:
        log.warning("sending is switched off (mailer.enabled: false): %d planned emails stay planned", len(rows))
        return {
            "planned": len(rows),
            "sent": 0,
            "failed": 0,
            "unknown": 0,
            "deferred": len(rows),
            "switched_off": True,
        }
    rendered = render_planned(settings, rows)
    mailer = mailer or mailer_from_settings(settings)
    horizon = datetime.now(UTC) + SENDGRID_MAX_SCHEDULE
    counts = {"planned": len(rows), "sent": 0, "failed": 0, "unknown": 0, "deferred": 0}
    for row in rows.to_dict("records"):
        send_at = pd.Timestamp(row["send_at"]).to_pydatetime() if row["send_at"] is not None else None
        if settings.mailer.kind == "sendgrid" and send_at and send_at > horizon:
            counts["deferred"] += 1  # too far ahead for SendGrid's scheduler: a later run sends it
            continue
        if not _claim(wh, row["send_key"]):
            continue  # another worker has it
        email = OutgoingEmail(
            send_key=row["send_key"],
            to_email=row["to_email"],
            to_name=" ".join(p for p in (row["last_name"], row["first_name"]) if p),
            rendered=rendered[row["send_key"]],
            send_at=send_at,
            unsubscribe_url=unsubscribe_url(row["lead_id"], settings),
            categories=(*settings.mailer.categories, row["track"]),
        )
        result = mailer.send(email)
        _finish(wh, row["send_key"], result.status, result.message_id, result.error)
        counts[result.status] += 1
    return counts


def run_nurture(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """Plan and send one date's nurture email (outside Airflow; the DAG runs the same steps)."""
    from leadflow.nurture.plan import plan_sends

    planned = plan_sends(wh, settings, as_of)
    return {"plan": planned, "send": send_planned(wh, settings, as_of)}
