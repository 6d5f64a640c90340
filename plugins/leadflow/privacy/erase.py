"""Erasure: a person removed from every table and file leadflow owns, a keyed hash kept to keep them out.

An erasure is asked for by address or CRM id (`leadflow erase`, or `POST /privacy/erasure` on the
intake, applied by the leadflow_intake DAG). It finds every identity the warehouse holds for the
person (addresses they had before a change in the CRM included), deletes their rows from each table
in one transaction, removes or rewrites the files that name them, keeps only the keyed hashes of
their addresses and CRM ids in `privacy.suppressions` (staging and `m.consented` refuse those for
good), and writes an audit record without personal data to `ops.erasures`. It is idempotent: a second
erasure of the same person finds nothing and counts zeros. Nothing here logs an address or a name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from leadflow.config import Settings
from leadflow.privacy import files
from leadflow.privacy.keys import keyed_hash, normalise_crm_id, normalise_email, privacy_binds, privacy_secret
from leadflow.warehouse import Warehouse

log = logging.getLogger(__name__)

# deletion order: a table read by another table's predicate goes after it
PERSON_TABLES = (
    "raw.crm_leads",
    "raw.web_events",
    "ops.held_events",
    "ops.quarantine",
    "ops.inbox",
    "ops.inbox_events",
    "scoring.keyed_events",
    "scoring.rule_state",
    "scoring.lead_activity",
    "core.events",
    "core.leads",
    "core.deleted_leads",
    "scoring.lead_keys",
    "scoring.score_factors",
    "scoring.lead_scores",
    "lifecycle.lead_stages",
    "lifecycle.stage_transitions",
    "nurture.enrollments",
    "nurture.email_sends",
    "nurture.suppressions",
    "crm.sync_state",
    "crm.sync_failures",
)
ERASED = "[erased]"
MAX_ROUNDS = 5  # identities found from identities: an address change per round is plenty


@dataclass
class Person:
    """Every value by which the warehouse knows the people of one erasure (never logged or stored)."""

    emails: set[str] = field(default_factory=set)
    spelled: set[str] = field(default_factory=set)
    crm_ids: set[str] = field(default_factory=set)
    lead_ids: set[str] = field(default_factory=set)
    send_keys: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.emails or self.crm_ids or self.lead_ids)

    def size(self) -> int:
        return len(self.emails) + len(self.crm_ids) + len(self.lead_ids)

    def values(self) -> set[str]:
        """Every value that identifies them in free text (records, results, files)."""
        return {v for v in self.emails | self.spelled | self.crm_ids | self.lead_ids | self.send_keys if v}

    def binds(self) -> dict[str, list[str]]:
        return {
            "emails": sorted(self.emails),
            "crm_ids": sorted(self.crm_ids),
            "lead_ids": sorted(self.lead_ids),
            "send_keys": sorted(self.send_keys),
            "quoted": sorted({json.dumps(v, ensure_ascii=False).lower() for v in self.values()}),
        }

    def __repr__(self) -> str:  # never the values: a repr ends up in logs and tracebacks
        return f"Person(emails={len(self.emails)}, crm_ids={len(self.crm_ids)}, lead_ids={len(self.lead_ids)})"


@dataclass(frozen=True)
class ErasureRequest:
    """One request: the keyed hash of the normalised address (kind `email`) or CRM id (kind `crm_id`)."""

    key_hash: str
    key_kind: str
    reason: str
    source: str
    requested_at: datetime
    erasure_id: str


def request_for(
    settings: Settings,
    *,
    email: str | None = None,
    crm_id: str | None = None,
    reason: str = "data subject request",
    source: str = "cli",
    requested_at: datetime | None = None,
) -> ErasureRequest:
    """The erasure request for one address or CRM id (exactly one), hashed at once: from here on only
    the hash travels."""
    if bool(email) == bool(crm_id):
        raise ValueError("give exactly one of --email or --crm-id")
    secret = privacy_secret(settings)
    kind, value = ("email", normalise_email(email)) if email else ("crm_id", normalise_crm_id(crm_id or ""))
    if not value:
        raise ValueError(f"the {kind} to erase is empty")
    if kind == "email" and "@" not in value:
        raise ValueError("--email: not an email address")
    at = requested_at or datetime.now(UTC)
    digest = keyed_hash(secret, value)
    return ErasureRequest(digest, kind, reason, source, at, f"{source}-{at:%Y%m%dT%H%M%S%f}-{digest[:12]}")


def find_person(wh: Warehouse, key_hashes: list[str] | None) -> Person:
    """Everyone whose address or CRM id hashes to one of `key_hashes` (None: to any hash of
    privacy.suppressions), and every identity linked to them (same CRM id, same address, same lead)."""
    person = Person()
    sql = wh.model_sql("privacy/identities.sql", suppressed=key_hashes is None)
    for _ in range(MAX_ROUNDS):
        before = person.size()
        params = {"key_hashes": key_hashes or [], **privacy_binds(), **person.binds()}
        for crm_id, email, lead_id, spelled in wh.fetchall(sql, params):
            for target, value in ((person.crm_ids, crm_id), (person.emails, email), (person.lead_ids, lead_id)):
                if value:
                    target.add(str(value))
            if spelled:
                person.spelled.add(str(spelled))
        if person.size() == before:
            break
    if person:
        rows = wh.fetchall(wh.model_sql("privacy/send_keys.sql"), person.binds())
        person.send_keys = {str(r[0]) for r in rows}
    return person


def sink_table(settings: Settings) -> str | None:
    """The CRM sink table leadflow writes in the warehouse itself (the demo CRM), if any."""
    sink = settings.crm_sink
    if getattr(sink, "kind", None) == "sql" and getattr(sink, "conn_id", None) == settings.warehouse_conn_id:
        return str(sink.table)  # type: ignore[union-attr]
    return None


def erase_rows(wh: Warehouse, settings: Settings, person: Person) -> dict[str, int]:
    """Delete the person's rows from every table (inside the caller's transaction); rows per table."""
    counts: dict[str, int] = {}
    if not person:
        return counts
    binds = person.binds()
    keyed = wh.fetchall(wh.model_sql("privacy/event_batches.sql"), binds)
    tables = [*PERSON_TABLES]
    sink = sink_table(settings)
    for table in [*tables, "sink"] if sink else tables:
        sql = wh.model_sql("privacy/person_rows.sql", table=table, sink=sink or "")
        removed = len(wh.fetchall(sql, binds))
        if removed:
            counts[sink if table == "sink" and sink else table] = removed
    # the keyed batches the person's events were in: their count and checksum follow what is left
    batches = sorted(str(r[0]) for r in keyed)
    if batches:
        wh.run_model("scoring/keyed_event_batches.sql", {"pending_batches": batches})
    # free text that may quote them: validation results (GX samples of unexpected values)
    scrubbed = 0
    for value in sorted(person.values()):
        scrubbed += len(wh.fetchall(wh.model_sql("privacy/scrub_results.sql"), {"value": value, "erased": ERASED}))
    if scrubbed:
        counts["ops.validation_results"] = scrubbed
    return counts


def _audit(wh: Warehouse, request: ErasureRequest, counts: dict[str, int], now: datetime) -> None:
    wh.run_model(
        "privacy/record_erasure.sql",
        {
            "erasure_id": request.erasure_id,
            "key_hash": request.key_hash,
            "key_kind": request.key_kind,
            "reason": request.reason[:500],
            "source": request.source,
            "requested_at": request.requested_at,
            "applied_at": now,
            "counts": json.dumps(counts, sort_keys=True),
        },
    )


def _suppress(wh: Warehouse, request: ErasureRequest, person: Person, now: datetime) -> None:
    """Keep the keyed hashes: the request's own and those of every address and CRM id found."""
    secret = privacy_secret()
    hashes = {request.key_hash: request.key_kind}
    hashes.update({keyed_hash(secret, e): "email" for e in person.emails})
    hashes.update({keyed_hash(secret, c): "crm_id" for c in person.crm_ids})
    for digest, kind in sorted(hashes.items()):
        params = {"key_hash": digest, "kind": kind, "erasure_id": request.erasure_id, "created_at": now}
        wh.run_model("privacy/suppress.sql", params)


def apply_erasure(wh: Warehouse, settings: Settings, request: ErasureRequest) -> dict[str, int]:
    """Erase the person of `request` everywhere; counts of rows (tables) and files (folders) removed.

    Files first (their names and contents are found from the rows), then every table, the suppression
    hashes and the audit record in one transaction: a failure part-way leaves the rows, and running
    the request again finishes the job."""
    privacy_secret(settings)  # a real deployment must have the secret before anything is hashed or deleted
    person = find_person(wh, [request.key_hash])
    counts = files.scrub(settings, person.values(), person.send_keys, person.emails | person.spelled)
    now = datetime.now(UTC)
    with wh.transaction():
        counts.update(erase_rows(wh, settings, person))
        _suppress(wh, request, person, now)
        _audit(wh, request, counts, now)
    _checkpoint(wh)
    log.info("erasure %s applied: %d rows and files removed", request.erasure_id, sum(counts.values()))
    return counts


def reapply_erasures(wh: Warehouse, settings: Settings) -> dict[str, int]:
    """Remove again anyone erased whom a later CRM export, web event or intake record brought back
    (staging and sending already ignore them; this keeps their data from piling up in raw tables,
    quarantine and files). Counts removed; an audit record (source `reapply`) when anything was."""
    if not wh.scalar("select count(*) from privacy.suppressions"):
        return {}
    person = find_person(wh, None)
    if not person:
        return {}
    counts = files.scrub(settings, person.values(), person.send_keys, person.emails | person.spelled)
    now = datetime.now(UTC)
    with wh.transaction():
        counts.update(erase_rows(wh, settings, person))
        request = ErasureRequest(
            "", "reapply", "erased person seen again", "reapply", now, f"reapply-{now:%Y%m%dT%H%M%S%f}"
        )
        _audit(wh, request, counts, now)
    _checkpoint(wh)
    return counts


def _checkpoint(wh: Warehouse) -> None:
    """DuckDB: write the deletions into the database file now (out of the write-ahead log)."""
    if wh.dialect == "duckdb":
        wh.execute("checkpoint")
