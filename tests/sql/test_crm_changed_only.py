"""Changed-only CRM extracts (docs/adr/0018): a night lands the export rows changed since the high-water
mark, a reconciliation night lands every row and catches deletions and unflagged edits; both backends.

Each night here is the CRM part of a night (extract, raw gate, staging) over a full export written by
the test, as the file drop receives one a night. The oracle is the same nights with every night a
reconciliation (`reconcile_every_days: 1`, what every night did before): core.leads must be the same."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from leadflow.config import Settings
from leadflow.pipeline import (
    create_schemas,
    extract,
    model_params,
    request_crm_reconciliation,
    stage_core,
    validate_raw,
)
from leadflow.privacy.retention import expire_rows
from leadflow.validation.checks import RunAnomaly
from leadflow.vocabulary import CRM_COLUMNS
from leadflow.warehouse import connect
from tests.unit.test_validation_raw import LEAD

DAY1 = date(2026, 11, 20)
BUSINESS = [
    "crm_id", "email", "job_title", "crm_status", "bant_budget", "owner_email", "updated_at",
]  # fmt: skip


def lead(n: int, updated: str, **values: str | None) -> dict:
    """A valid export row of lead `C<n>`, last changed at `updated` (Tokyo time on a November day)."""
    return LEAD | {
        "crm_id": f"C{n}",
        "email": f"lead{n}@acme.co.jp",
        "created_at": "2026-11-01T10:00:00+09:00",
        "updated_at": updated,
        **values,
    }


def at(day: date, hour: int = 10) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+09:00"


def with_cadence(settings: Settings, every: int) -> Settings:
    crm = settings.sources.crm.model_copy(update={"reconcile_every_days": every})
    return settings.model_copy(update={"sources": settings.sources.model_copy(update={"crm": crm})})


def export(settings: Settings, day: date, rows: list[dict]) -> Path:
    """The CRM's full export of `day`, as the file drop receives it."""
    folder = settings.path(settings.sources.crm.path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"leads_{day.isoformat()}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CRM_COLUMNS))
        writer.writeheader()
        writer.writerows({c: row.get(c) or "" for c in CRM_COLUMNS} for row in rows)
    return path


def night(wh, settings: Settings, day: date) -> dict:
    """The CRM part of the night of `day`: extract, raw gate, staging."""
    return {
        "extract": extract(wh, settings, day, "crm"),
        "validate": validate_raw(wh, settings, day, "crm"),
        "stage": stage_core(wh, settings, day),
    }


def leads(wh) -> pd.DataFrame:
    frame = wh.fetch_df(f"select {', '.join(BUSINESS)} from core.leads order by crm_id")  # noqa: S608 — fixed list
    return frame.astype(object).where(frame.notna(), None)


def landed(wh, day: date) -> list[str]:
    sql = "select crm_id from raw.crm_leads where _batch_id = :b order by _row"
    return [r[0] for r in wh.fetchall(sql, {"b": str(day)})]


def state(wh) -> dict[str, list]:
    """Everything a CRM night writes, to compare a rerun with the run before it."""
    return {
        "raw": wh.fetchall(
            "select crm_id, updated_at, job_title, _batch_id, _file, _row from raw.crm_leads order by _batch_id, _row"
        ),
        "extracts": wh.fetchall(
            "select batch_id, source, full_snapshot, since, rows_read, rows_landed, newest_updated_at "
            "from ops.crm_extracts order by batch_id"
        ),
        "quarantine": wh.fetchall("select batch_id, _file, _row, reason from ops.quarantine order by 1, 2, 3"),
        "leads": wh.fetchall("select * from core.leads order by crm_id"),
        "deleted": wh.fetchall("select * from core.deleted_leads order by crm_id"),
        "batches": wh.fetchall("select _batch_id from core.leads_batches order by 1"),
    }


def rebuilt(wh, settings: Settings, day: date) -> pd.DataFrame:
    """core.leads as a rebuild as of `day` gives it (left in place: it must be the same)."""
    params = model_params(settings, day, batch_id=day.isoformat(), default_timezone=settings.timezone)
    wh.run_model("staging/deleted_leads.sql", params, full=True)
    wh.run_model("staging/stg_leads.sql", params, full=True, upto=True)
    return leads(wh)


# ten leads; each night a few change. Night 3's export has no change at all.
BASE = [lead(n, at(DAY1 - timedelta(days=1), 8 + n)) for n in range(1, 11)]


def exports(settings: Settings) -> dict[date, list[dict]]:
    d2, d3, d4 = (DAY1 + timedelta(days=i) for i in (1, 2, 3))
    night2 = [r for r in BASE if r["crm_id"] != "C3"] + [
        lead(3, at(d2), job_title="CEO"),  # changed
        lead(11, at(d2, 11)),  # new
    ]
    night2.sort(key=lambda r: int(r["crm_id"][1:]))
    night4 = [r for r in night2 if r["crm_id"] != "C5"] + [lead(5, at(d4), crm_status="working", bant_budget="true")]
    night4.sort(key=lambda r: int(r["crm_id"][1:]))
    return {DAY1: BASE, d2: night2, d3: night2, d4: night4}


def test_consecutive_nights_land_only_the_changed_rows_and_stage_what_full_snapshots_give(wh, settings, tmp_path):
    cfg = with_cadence(settings, 7)
    days = exports(cfg)
    results = {}
    for day, rows in days.items():
        export(cfg, day, rows)
        results[day] = night(wh, cfg, day)
    d2, d3, d4 = sorted(days)[1:]

    assert results[DAY1]["extract"]["mode"] == "reconciliation" and results[DAY1]["extract"]["reason"] == "first"
    assert landed(wh, DAY1) == [f"C{n}" for n in range(1, 11)]
    # the mark is C10's updated_at (the newest of night 1); `>=` lands C10 again with the changes
    assert results[d2]["extract"]["since"] == "2026-11-19T09:00:00+00:00"
    assert landed(wh, d2) == ["C3", "C10", "C11"]
    assert landed(wh, d3) == ["C11"]  # no change: only the row at the mark
    assert landed(wh, d4) == ["C5", "C11"]
    assert [results[d]["extract"]["mode"] for d in (d2, d3, d4)] == ["changed"] * 3
    # the raw gate judged the export's rows, not the few that landed
    assert [results[d]["validate"]["source_rows"] for d in sorted(days)] == [10, 11, 11, 11]
    assert results[d3]["validate"]["rows"] == 1 and results[d3]["validate"]["quarantined"] == 0
    assert results[d4]["stage"]["leads_rebuilt"] is False

    merged = leads(wh)
    assert merged.set_index("crm_id").loc["C3", "job_title"] == "CEO"
    assert merged.set_index("crm_id").loc["C5", ["crm_status", "bant_budget"]].tolist() == ["working", True]
    pd.testing.assert_frame_equal(merged, rebuilt(wh, cfg, d4))

    # the oracle: the same exports, every night landed whole
    with connect(f"duckdb://{tmp_path / 'full.duckdb'}") as full:
        create_schemas(full)
        every = with_cadence(settings, 1)
        for day in sorted(days):
            assert night(full, every, day)["extract"]["mode"] == "reconciliation"
        pd.testing.assert_frame_equal(merged, leads(full))
        assert full.scalar("select count(*) from raw.crm_leads") == 10 + 3 * 11
    assert wh.scalar("select count(*) from raw.crm_leads") == 10 + 3 + 1 + 2


def test_a_reconciliation_catches_a_deleted_lead_and_an_edit_without_an_updated_at_bump(wh, settings):
    cfg = with_cadence(settings, 3)
    days = exports(cfg)
    for day in sorted(days)[:3]:
        export(cfg, day, days[day])
        night(wh, cfg, day)
    d4 = sorted(days)[3]
    # night 4 is three days after the first reconciliation: C7 was deleted in the CRM, C8's title was
    # edited without touching updated_at (a bulk import), C5 changed as usual
    rows = [r for r in days[d4] if r["crm_id"] != "C7"]
    rows = [r | {"job_title": "VP Sales"} if r["crm_id"] == "C8" else r for r in rows]
    export(cfg, d4, rows)

    result = night(wh, cfg, d4)

    assert result["extract"]["mode"] == "reconciliation" and result["extract"]["reason"] == "cadence"
    assert len(landed(wh, d4)) == 10
    current = leads(wh).set_index("crm_id")
    assert "C7" not in current.index and current.loc["C8", "job_title"] == "VP Sales"
    assert wh.fetchall("select crm_id, deleted_batch from core.deleted_leads") == [("C7", str(d4))]
    assert result["stage"]["leads"] == 10 and result["stage"]["deleted_leads"] == 1
    pd.testing.assert_frame_equal(leads(wh), rebuilt(wh, cfg, d4))

    # the next night is changed-only again: C7 stays deleted; restored in the CRM it comes back
    d5 = d4 + timedelta(days=1)
    export(cfg, d5, rows)
    assert night(wh, cfg, d5)["extract"]["mode"] == "changed"
    assert wh.scalar("select count(*) from core.deleted_leads") == 1
    d6 = d5 + timedelta(days=1)
    export(cfg, d6, [*rows, lead(7, at(d6), job_title="restored")])
    result = night(wh, cfg, d6)
    assert result["stage"]["leads_rebuilt"] is True and result["stage"]["deleted_leads"] == 0
    assert leads(wh).set_index("crm_id").loc["C7", "job_title"] == "restored"


def test_an_operator_can_ask_for_a_reconciliation_and_a_rerun_keeps_it(wh, settings):
    cfg = with_cadence(settings, 7)
    days = exports(cfg)
    for day in sorted(days)[:2]:
        export(cfg, day, days[day])
        night(wh, cfg, day)
    d3 = sorted(days)[2]
    export(cfg, d3, [r for r in days[d3] if r["crm_id"] != "C2"])
    request_crm_reconciliation(wh, cfg, d3, "test")

    first = night(wh, cfg, d3)
    before = state(wh)
    again = night(wh, cfg, d3)

    assert first["extract"]["reason"] == again["extract"]["reason"] == "requested"
    assert state(wh) == before
    assert [c for (c, _) in wh.fetchall("select crm_id, deleted_batch from core.deleted_leads")] == ["C2"]


def test_a_rerun_of_the_same_night_changes_nothing(wh, settings):
    cfg = with_cadence(settings, 7)
    days = exports(cfg)
    for day, rows in days.items():
        export(cfg, day, rows)
        night(wh, cfg, day)
    before = state(wh)
    d4 = max(days)
    assert night(wh, cfg, d4)["extract"]["since"] is not None
    assert state(wh) == before


def test_a_rerun_of_an_earlier_night_then_the_later_ones_gives_what_running_them_in_order_gave(wh, settings):
    cfg = with_cadence(settings, 2)  # a reconciliation on night 3 too
    days = exports(cfg)
    for day, rows in days.items():
        export(cfg, day, rows)
        night(wh, cfg, day)
    before = state(wh)

    d2 = sorted(days)[1]
    rerun = night(wh, cfg, d2)
    assert rerun["stage"]["leads_rebuilt"] is True  # core.leads as of night 2 (ADR 0007)
    assert leads(wh).set_index("crm_id").loc["C5", "crm_status"] == "new"
    for day in sorted(days)[2:]:  # what replay_later_nights does
        night(wh, cfg, day)

    assert state(wh) == before
    assert [r[2] for r in before["extracts"]] == [True, False, True, False]


def test_rows_without_a_usable_or_with_a_future_updated_at_land_every_night_and_are_quarantined(wh, settings):
    cfg = with_cadence(settings, 7).model_copy(
        update={"validation": settings.validation.model_copy(update={"max_bad_share": 1.0})}
    )
    days = exports(cfg)
    for day in sorted(days)[:2]:
        export(cfg, day, days[day])
        night(wh, cfg, day)
    d3 = sorted(days)[2]
    back_dated = lead(4, at(DAY1 - timedelta(days=5)), job_title="changed, stamped in the past")
    bad = [
        lead(21, "yesterday"),
        lead(22, None),
        lead(23, "2026-11-22T10:00:00"),  # no zone
        lead(24, at(d3 + timedelta(days=3))),  # a clock in the future
    ]
    rows = [back_dated if r["crm_id"] == "C4" else r for r in days[d3]] + bad
    export(cfg, d3, rows)

    result = night(wh, cfg, d3)

    assert landed(wh, d3) == ["C11", "C21", "C22", "C23", "C24"]  # C4's late edit waits for a reconciliation
    reasons = dict(
        wh.fetchall(
            "select r.crm_id, q.reason from ops.quarantine as q inner join raw.crm_leads as r "
            "on q._file = r._file and q._row = r._row where q.batch_id = :b",
            {"b": str(d3)},
        )
    )
    assert "updated_at: 'yesterday' is not an ISO-8601 timestamp" in reasons["C21"]
    assert reasons["C22"].startswith("updated_at")
    assert "has no time zone" in reasons["C23"]
    assert "is after the as-of cutoff" in reasons["C24"]
    # none of them moved the mark: the next night's starts where night 2's did
    assert result["extract"]["newest_updated_at"] == "2026-11-21T02:00:00.000000+00:00"
    d4 = d3 + timedelta(days=1)
    export(cfg, d4, rows)
    assert landed(wh, d4) == [] and night(wh, cfg, d4)["extract"]["since"] == "2026-11-21T02:00:00+00:00"
    assert landed(wh, d4) == ["C11", "C21", "C22", "C23", "C24"]
    # a reconciliation lands C4's row again; a record stamped before the current one loses to it, as
    # it did when every night landed a full export
    d5 = d4 + timedelta(days=1)
    request_crm_reconciliation(wh, cfg, d5, "test")
    export(cfg, d5, [*rows, lead(12, at(d5))])  # a new lead keeps the export fresh
    night(wh, cfg, d5)
    assert "C4" in landed(wh, d5) and leads(wh).set_index("crm_id").loc["C4", "job_title"] == "CTO"


def test_an_empty_or_stale_export_still_fails_its_gate(wh, settings):
    cfg = with_cadence(settings, 7)
    days = exports(cfg)
    for day in sorted(days)[:2]:
        export(cfg, day, days[day])
        night(wh, cfg, day)
    d3 = sorted(days)[2]
    export(cfg, d3, [])
    extract(wh, cfg, d3, "crm")
    with pytest.raises(RunAnomaly, match=r"volume_not_empty: batch 2026-11-22 has 0 rows"):
        validate_raw(wh, cfg, d3, "crm")

    # the same export four days later: nothing changed since, and nothing in it is newer than 72 h
    late = d3 + timedelta(days=4)
    export(cfg, late, days[d3])
    assert extract(wh, cfg, late, "crm")["rows"] == 1
    with pytest.raises(RunAnomaly, match=r"freshness: newest updated_at is 2026-11-21T02:00:00\+00:00"):
        validate_raw(wh, cfg, late, "crm")


def test_compaction_keeps_the_latest_reconciliation_before_its_cutoff_whole(wh, settings):
    cfg = with_cadence(settings, 2)
    days = exports(cfg)
    d3, d4 = sorted(days)[2:]
    for day, rows in days.items():
        export(cfg, day, [r for r in rows if r["crm_id"] != "C9" or day < d3])  # deleted before night 3
        night(wh, cfg, day)
    assert wh.fetchall("select crm_id, deleted_batch from core.deleted_leads") == [("C9", str(d3))]
    raw_before = wh.scalar("select count(*) from raw.crm_leads where _batch_id >= :b", {"b": str(d3)})

    # the rerun horizon now starts at night 4: night 3 (a reconciliation) and what follows stay whole
    retention = settings.privacy.retention.model_copy(update={"raw_days": 8})
    expire_rows(wh, retention, d4 + timedelta(days=8))

    assert wh.scalar("select count(*) from raw.crm_leads where _batch_id >= :b", {"b": str(d3)}) == raw_before
    assert wh.scalar("select count(*) from raw.crm_leads where _batch_id < :b", {"b": str(d3)}) == 11  # a row a lead
    merged = leads(wh)
    pd.testing.assert_frame_equal(merged, rebuilt(wh, cfg, d4))
    assert wh.fetchall("select crm_id from core.deleted_leads") == [("C9",)]
