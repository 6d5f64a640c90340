"""Erasure end to end on both backends: one person seeded into every table and file leadflow owns
through the real pipeline (files landed, validated, scored, staged, emailed through the file outbox,
pushed to the intake), erased, then searched for everywhere."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from leadflow.backfill import run_nightly
from leadflow.demo.generate import generate
from leadflow.intake.apply import apply_inbox
from leadflow.intake.inbox import FileInbox, InboxRecord, load_segments
from leadflow.nurture.plan import plan_sends
from leadflow.nurture.send import send_planned
from leadflow.privacy.erase import PERSON_TABLES, apply_erasure, find_person, reapply_erasures, request_for
from leadflow.privacy.keys import keyed_hash, privacy_secret
from leadflow.validation import gates
from leadflow.vocabulary import CRM_COLUMNS

AS_OF = date(2026, 11, 22)
# Tuesday 2026-11-24 10:30 in Tokyo (Monday the 23rd is a holiday): inside the person's send window
SEND_NOW = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
PERSON = {
    "crm_id": "CRM-900001",
    "email": "Erasmo.Zyxwvu@Privacy-Probe.example",
    "first_name": "Erasmo",
    "last_name": "Zyxwvu",
    "company": "Probe Holdings",
    "industry": "software",
    "employee_count": "320",
    "job_title": "Chief Probe Officer",
    "country": "JP",
    "locale": "ja",
    "timezone": "Asia/Tokyo",
    "lead_source": "webinar",
    "owner_email": "ito.ren@leadflow.example",
    "email_opt_in": "true",
    "bant_budget": "",
    "bant_authority": "",
    "bant_need": "",
    "bant_timeline": "",
    "crm_status": "nurturing",
    "created_at": "2026-11-01T09:00:00+09:00",
    "updated_at": "2026-11-20T09:00:00+09:00",
}
LEAD_ID_SQL = "select lead_id from core.leads where crm_id = :c"
# what must be gone: every value that is the person's alone (the company and owner are shared)
SEARCHED = ("erasmo.zyxwvu@privacy-probe.example", "crm-900001", "erasmo", "zyxwvu", "chief probe officer")


def _event(
    event_id: str, event_type: str, occurred_at: str, *, email: str | None = None, crm_id: str | None = None
) -> dict:
    return {
        "event_id": event_id,
        "crm_id": crm_id,
        "email": email,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "url": "https://leadflow.example/pricing",
        "properties": {},
    }


def seed_landing(landing: Path) -> None:
    """The generated sample plus the person: a valid CRM row, a second one quarantined (a bad date),
    events by CRM id and by address (another spelling), one of a type nobody knows (quarantined) and
    one stamped after the night (held)."""
    generate(landing, leads=30, days=20, seed=5, end_date=AS_OF)
    crm = next((landing / "crm").glob("*.csv"))
    with crm.open("a", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CRM_COLUMNS), lineterminator="\n")
        writer.writerow(PERSON)
        writer.writerow({**PERSON, "crm_id": "CRM-900001", "updated_at": "not a date"})
    events = [
        _event("evt_probe_1", "pricing_view", "2026-11-20T10:00:00+09:00", crm_id=PERSON["crm_id"]),
        _event(
            "evt_probe_2",
            "whitepaper_download",
            "2026-11-21T10:00:00+09:00",
            email="ERASMO.ZYXWVU@privacy-probe.example",
        ),
        _event("evt_probe_3", "telepathy", "2026-11-21T11:00:00+09:00", email=PERSON["email"]),
        _event("evt_probe_4", "page_view", "2026-11-23T10:00:00+09:00", crm_id=PERSON["crm_id"]),
    ]
    with (landing / "web" / "events_2026-11-22.jsonl").open("a", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event) + "\n")


@pytest.fixture
def cfg(settings, tmp_path):
    data = tmp_path / "data"
    seed_landing(data / "landing")
    (tmp_path / "gx" / "uncommitted").mkdir(parents=True)
    return settings.model_copy(
        update={
            "intake": settings.intake.model_copy(update={"inbox_path": data / "inbox"}),
            "privacy": settings.privacy.model_copy(update={"scrub_paths": (tmp_path / "gx" / "uncommitted",)}),
        }
    )


def seed_everywhere(wh, cfg, tmp_path: Path) -> str:
    """Run the night and the nurture send, push intake records, and add what a night of this size does
    not produce by itself (a CRM refusal, a deletion, a bounce, a GX sample naming them). Returns the lead id."""
    run_nightly(wh, cfg, AS_OF)
    lead_id = wh.scalar(LEAD_ID_SQL, {"c": PERSON["crm_id"]})
    assert lead_id, "the person was not staged"
    plan_sends(wh, cfg, AS_OF)
    sent = send_planned(wh, cfg, AS_OF, now=SEND_NOW)
    assert sent["sent"] > 0
    send_key = wh.scalar(
        "select send_key from nurture.email_sends where lead_id = :l and status = 'sent'", {"l": lead_id}
    )
    assert send_key and (cfg.path(cfg.mailer.outbox) / f"{send_key}.eml").is_file()
    inbox = FileInbox(cfg.path(cfg.intake.inbox_path))
    pushed = _event("evt_probe_push", "demo_request", "2026-11-24T10:00:00+09:00", email=PERSON["email"])
    inbox.append([InboxRecord("web_event", "evt_probe_push", pushed)])
    inbox.append(
        [
            InboxRecord(
                "unsubscribe",
                lead_id,
                {
                    "lead_id": lead_id,
                    "send_key": send_key,
                    "method": "page",
                    "source": "link",
                    "locale": "ja",
                    "link_issued": "2026-11-24",
                },
            )
        ]
    )
    inbox.close()
    load_segments(wh, cfg.path(cfg.intake.inbox_path))
    apply_inbox(wh, cfg)
    wh.execute(
        "insert into crm.sync_failures values (:c, 'HTTP 400 for Erasmo Zyxwvu', :d, :t, 1)",
        {"c": PERSON["crm_id"], "d": AS_OF, "t": SEND_NOW},
    )
    # as a reconciliation that missed them would leave them (docs/adr/0018)
    wh.execute(
        "insert into core.deleted_leads values (:l, :c, :d)", {"l": lead_id, "c": PERSON["crm_id"], "d": str(AS_OF)}
    )
    wh.execute(
        "insert into nurture.suppressions values (:e, 'bounce', 'sendgrid', :t) on conflict do nothing",
        {"e": PERSON["email"].lower(), "t": SEND_NOW},
    )
    wh.execute(
        "insert into ops.validation_results values ('probe', 'raw_crm_probe', false, :s, :r, :t)",
        {"s": "1 unexpected", "r": json.dumps({"partial_unexpected_list": [PERSON["email"]]}), "t": SEND_NOW},
    )
    (tmp_path / "gx" / "uncommitted" / "result.json").write_text(
        json.dumps({"unexpected": [PERSON["email"], "someone@else.example"]}), encoding="utf-8"
    )
    return str(lead_id)


def text_columns(wh) -> list[tuple[str, str, str]]:
    rows = wh.fetchall(
        "select table_schema, table_name, column_name from information_schema.columns "
        # a session's temporary tables (pg_temp_*; DuckDB's temp catalog, schema main) end with its task
        "where table_schema not in ('information_schema', 'pg_catalog', 'main', 'public') "
        "and table_schema not like 'pg_temp%' "
        "and lower(data_type) in ('text', 'varchar', 'character varying') order by 1, 2, 3"
    )
    return [(str(s), str(t), str(c)) for s, t, c in rows]


def warehouse_hits(wh, values) -> dict[str, int]:
    """Rows of every text column of every leadflow table holding one of `values` (any case)."""
    hits: dict[str, int] = {}
    for schema, table, column in text_columns(wh):
        for value in values:
            n = wh.scalar(
                f'select count(*) from {schema}.{table} where strpos(lower("{column}"), :v) > 0', {"v": value.lower()}
            )
            if n:
                hits[f"{schema}.{table}.{column} ~ {value}"] = int(n)
    return hits


def file_hits(root: Path, values) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix in {".duckdb", ".wal"}:
            continue  # the warehouse itself: searched through SQL above
        data = path.read_bytes().lower()
        found += [f"{path.relative_to(root)} ~ {v}" for v in values if v.lower().encode() in data]
    return found


def person_rows(wh, lead_id: str) -> dict[str, int]:
    values = (*SEARCHED, lead_id.lower())
    per_table: dict[str, int] = {}
    for key, n in warehouse_hits(wh, values).items():
        table = key.rsplit(".", 1)[0].split(" ")[0]
        per_table[table] = per_table.get(table, 0) + n
    return per_table


@pytest.mark.slow
def test_an_erased_person_is_nowhere_and_never_comes_back(wh, cfg, tmp_path):
    lead_id = seed_everywhere(wh, cfg, tmp_path)
    values = (*SEARCHED, lead_id)
    before = person_rows(wh, lead_id)
    # seeded into every table that holds people
    seeded = {t.rsplit(".", 1)[0] if t.count(".") > 1 else t for t in before}
    for table in [*PERSON_TABLES, "crm.lead_fields", "ops.validation_results"]:
        if table in {
            "scoring.keyed_events",
            "scoring.rule_state",
            "scoring.lead_activity",
            "scoring.lead_keys",
            "ops.inbox_events",
        }:
            continue  # integer keys or ids only: checked through the lead's counts below
        assert table in seeded, f"the seed missed {table}"
    assert file_hits(tmp_path, values), "the seed wrote no files naming the person"
    leads_before = wh.scalar("select count(*) from core.leads")
    keyed_before = wh.scalar(
        "select count(*) from scoring.keyed_events where lead_key in "
        "(select lead_key from scoring.lead_keys where lead_id = :l)",
        {"l": lead_id},
    )
    assert keyed_before > 0
    lead_key = wh.scalar("select lead_key from scoring.lead_keys where lead_id = :l", {"l": lead_id})
    state_before = wh.scalar("select count(*) from scoring.lead_activity where lead_key = :k", {"k": lead_key})

    counts = apply_erasure(
        wh, cfg, request_for(cfg, email="  erasmo.ZYXWVU@privacy-probe.example ", reason="GDPR art. 17")
    )

    assert warehouse_hits(wh, values) == {}
    assert file_hits(tmp_path, values) == []
    assert wh.scalar("select count(*) from core.leads") == leads_before - 1  # the others stay
    assert wh.scalar("select count(*) from scoring.lead_keys where lead_id = :l", {"l": lead_id}) == 0
    # the running scoring state keyed by the lead's integer key goes too (docs/adr/0015)
    for table in ("scoring.rule_state", "scoring.lead_activity"):
        assert wh.scalar(f"select count(*) from {table} where lead_key = :k", {"k": lead_key}) == 0, table
    assert state_before > 0
    for table in ("raw.crm_leads", "core.events", "nurture.email_sends", "ops.quarantine", "ops.inbox", "files:outbox"):
        assert counts.get(table, 0) > 0, table
    # the keyed batches still agree with core.events (a full rescore would rekey none of them)
    stale = wh.fetchall(
        "select k._batch_id from scoring.keyed_event_batches as k "
        "left join (select _batch_id, count(*) as n from core.events group by _batch_id) as e "
        "on e._batch_id = k._batch_id "
        "where coalesce(e.n, 0) <> k.events"
    )
    assert stale == []
    # what is kept: keyed hashes and an audit record with counts, no address
    secret = privacy_secret(cfg)
    address_hash = keyed_hash(secret, PERSON["email"].lower())
    assert wh.scalar("select kind from privacy.suppressions where key_hash = :h", {"h": address_hash}) == "email"
    assert wh.scalar("select count(*) from privacy.suppressions where kind = 'crm_id'") == 1
    audit = wh.fetchall("select key_hash, reason, counts, applied_at from ops.erasures")
    assert [(a[0], a[1]) for a in audit] == [(address_hash, "GDPR art. 17")]
    assert json.loads(audit[0][2]) == counts and audit[0][3] is not None

    # idempotent: a second request finds nothing and changes nothing
    assert apply_erasure(wh, cfg, request_for(cfg, crm_id=PERSON["crm_id"])) == {}
    assert wh.scalar("select count(*) from ops.erasures") == 2

    # the next CRM export brings them back: never staged, scored or planned; the night's re-check removes the rows
    nxt = AS_OF + timedelta(days=1)
    with (cfg.path(cfg.sources.crm.path) / f"leads_{nxt}.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CRM_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerow({**PERSON, "email": PERSON["email"].upper(), "updated_at": "2026-11-23T09:00:00+09:00"})
    # an export of this one record: far below the CRM's size, which the raw gate holds until approved
    gates.approve(wh, nxt.isoformat(), "raw_crm_run.volume_drop", 1, "test")
    run_nightly(wh, cfg, nxt)
    assert wh.scalar(LEAD_ID_SQL, {"c": PERSON["crm_id"]}) is None
    assert wh.scalar("select count(*) from scoring.lead_scores where lead_id = :l", {"l": lead_id}) == 0
    plan_sends(wh, cfg, nxt)
    assert wh.scalar("select count(*) from nurture.email_sends where lead_id = :l", {"l": lead_id}) == 0
    assert find_person(wh, None).crm_ids == {PERSON["crm_id"]}  # only raw holds them again
    again = reapply_erasures(wh, cfg)
    assert again.get("raw.crm_leads") == 1
    assert warehouse_hits(wh, values) == {}
    assert file_hits(tmp_path, values) == []
