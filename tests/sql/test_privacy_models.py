"""The privacy models on DuckDB and PostgreSQL: the keyed hash in SQL equals Python's HMAC, staging and
consent refuse an erased person, and retention compacts old CRM snapshots without changing what a
rebuild of core.leads gives."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from leadflow.pipeline import model_params
from leadflow.privacy.keys import keyed_hash, privacy_binds, privacy_secret
from leadflow.privacy.retention import expire_rows
from tests.sql.test_staging_leads import COMPARED, land, quarantine

AS_OF = date(2026, 11, 22)


def add_lead(wh, lead_id: str, crm_id: str, email: str) -> None:
    wh.execute(
        "insert into core.leads (lead_id, crm_id, email, locale, timezone, email_opt_in, crm_status) "
        "values (:l, :c, :e, 'ja', 'Asia/Tokyo', true, 'new')",
        {"l": lead_id, "c": crm_id, "e": email},
    )


@pytest.mark.parametrize("email", ["taro@example.co.jp", "山田.花子@例え.jp"])
def test_the_sql_keyed_hash_is_python_s_hmac(wh, email):
    add_lead(wh, "a", "C-1", email)
    add_lead(wh, "b", "C-2", "other@example.co.jp")
    # identities.sql finds a person by the keyed hash of the address or the CRM id, computed in SQL
    for value in (email, "C-1"):
        sql = wh.model_sql("privacy/identities.sql", suppressed=False)
        params = {"key_hashes": [keyed_hash(privacy_secret(), value)], "emails": [], "crm_ids": [], "lead_ids": []}
        assert wh.fetchall(sql, {**params, **privacy_binds()}) == [("C-1", email, "a", email)]


def suppress(wh, kind: str, value: str) -> None:
    wh.execute(
        "insert into privacy.suppressions values (:h, :k, 'test', :t)",
        {"h": keyed_hash(privacy_secret(), value), "k": kind, "t": datetime(2026, 11, 1, tzinfo=UTC)},
    )


def test_staging_never_takes_an_erased_person_back(wh, settings):
    land(wh, "2026-11-22", {"crm_id": "C-1"}, {"crm_id": "C-2", "email": " Gone@Example.co.jp "}, {"crm_id": "C-3"})
    suppress(wh, "email", "gone@example.co.jp")  # by address, whatever the spelling in the export
    suppress(wh, "crm_id", "C-3")  # by CRM id, whatever the address
    params = model_params(settings, AS_OF, batch_id="2026-11-22", default_timezone=settings.timezone)
    wh.run_model("staging/stg_leads.sql", params, full=True)
    assert [r[0] for r in wh.fetchall("select crm_id from core.leads order by 1")] == ["C-1"]


def test_a_send_to_an_erased_address_is_never_claimed(wh):
    add_lead(wh, "a", "C-1", "kept@example.co.jp")
    add_lead(wh, "b", "C-2", "gone@example.co.jp")
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    for lead, email in (("a", "kept@example.co.jp"), ("b", "gone@example.co.jp")):
        wh.execute(
            "insert into nurture.email_sends (send_key, lead_id, as_of_date, track, step, template, kind, locale, "
            "to_email, status, planned_at) values (:k, :l, '2026-11-22', 'cold', 1, 't', 'marketing', 'ja', :e, "
            "'planned', :now)",
            {"k": f"s-{lead}", "l": lead, "e": email, "now": now},
        )
    suppress(wh, "email", "gone@example.co.jp")  # m.consented: the planner and the claim read it
    claimed = wh.fetchall(
        wh.model_sql("nurture/claim_sends.sql"), {"keys": ["s-a", "s-b"], "now": now, **privacy_binds()}
    )
    assert claimed == [("s-a",)]


def test_old_crm_snapshots_compact_to_what_a_rebuild_needs(wh, settings):
    # C-1 changes in an old batch, C-2 is only in old batches (its newest old row quarantined), C-3 is new
    land(wh, "2026-09-01", {"crm_id": "C-1", "job_title": "課長", "updated_at": "2026-09-01T09:00:00+09:00"},
         {"crm_id": "C-2", "job_title": "部長", "updated_at": "2026-09-01T09:00:00+09:00"})  # fmt: skip
    land(wh, "2026-09-02", {"crm_id": "C-1", "job_title": "部長", "updated_at": "2026-09-02T09:00:00+09:00"},
         {"crm_id": "C-2", "job_title": "社長", "updated_at": "2026-09-03T09:00:00+09:00"})  # fmt: skip
    quarantine(wh, "2026-09-02", 2)
    land(wh, "2026-11-22", {"crm_id": "C-1", "job_title": "部長", "updated_at": "2026-09-02T09:00:00+09:00"},
         {"crm_id": "C-3"})  # fmt: skip
    params = model_params(settings, AS_OF, batch_id="2026-11-22", default_timezone=settings.timezone)
    wh.run_model("staging/stg_leads.sql", params, full=True)
    before = wh.fetch_df(COMPARED)
    assert dict(zip(before["crm_id"], before["job_title"], strict=True))["C-2"] == "部長"  # the quarantined row lost

    counts = expire_rows(wh, settings.privacy.retention, AS_OF)
    # of the 4 old rows, one per lead stays (C-1's newest, C-2's newest valid); the quarantined row went too
    assert counts["raw.crm_leads (compacted)"] == 2
    kept = wh.fetchall("select crm_id, _batch_id from raw.crm_leads where _batch_id < '2026-11-22' order by 1")
    assert kept == [("C-1", "2026-09-02"), ("C-2", "2026-09-01")]
    wh.run_model("staging/stg_leads.sql", params, full=True)
    after = wh.fetch_df(COMPARED)
    assert after.equals(before)
    assert expire_rows(wh, settings.privacy.retention, AS_OF)["raw.crm_leads (compacted)"] == 0  # a rerun: nothing more


def test_each_layer_keeps_its_period_and_the_keyed_batches_follow(wh, settings):
    """Events, scores, held events, quarantine and finished sends past their periods go (as of the
    night, so the same night again removes nothing); what a rerun within raw_days reads stays."""
    old, recent = date(2026, 3, 1), date(2026, 11, 20)  # 266 and 2 days before AS_OF
    for n, day in enumerate((old, recent)):
        wh.execute(
            "insert into core.events values (:id, 'l1', 'page_view', :at, :d, null, null, :b)",
            {
                "id": f"e{n}",
                "at": datetime(day.year, day.month, day.day, 3, tzinfo=UTC),
                "d": day,
                "b": day.isoformat(),
            },
        )
        wh.execute("insert into scoring.keyed_events values (:d, 1, :d, 1)", {"d": day})
        wh.execute("insert into scoring.keyed_event_batches values (:b, 1, 0)", {"b": day.isoformat()})
        wh.execute(
            "insert into scoring.lead_scores values ('l1', :d, 1, 1, 2, 'C', null, false, false, null, 'x', 'v')",
            {"d": day},
        )
        wh.execute(
            "insert into ops.quarantine values ('web', :b, 'f.jsonl', 1, '{}', 'bad', :at)",
            {"b": day.isoformat(), "at": datetime(2026, 12, 1, tzinfo=UTC)},  # quarantined late: the batch counts
        )
    wh.execute(
        "insert into nurture.enrollments values ('l1', 'cold', '2025-09-01', '2025-10-01', 'stage_changed'), "
        "('l2', 'cold', '2025-09-01', null, null)"
    )
    for key, lead in (("done", "l1"), ("running", "l2")):
        wh.execute(
            "insert into nurture.email_sends (send_key, lead_id, as_of_date, track, step, enrolled_on, template, kind, "
            "locale, to_email, status, planned_at) values (:k, :l, '2025-09-02', 'cold', 1, '2025-09-01', 't', "
            "'marketing', 'ja', 'x@example.jp', 'sent', '2025-09-02')",
            {"k": key, "l": lead},
        )
    counts = expire_rows(wh, settings.privacy.retention, AS_OF)
    assert {k: v for k, v in counts.items() if v} == {
        "core.events": 1,
        "scoring.keyed_events": 1,
        "scoring.lead_scores": 1,
        "ops.quarantine": 1,
        "nurture.email_sends": 1,  # the track left a year ago; the running track's send stays
        "nurture.enrollments": 1,
    }
    assert wh.fetchall("select send_key from nurture.email_sends") == [("running",)]
    assert wh.fetchall("select _batch_id, events from scoring.keyed_event_batches") == [("2026-11-20", 1)]
    assert not any(expire_rows(wh, settings.privacy.retention, AS_OF).values())
