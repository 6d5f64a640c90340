"""core.leads is merged night by night from the new CRM batches, and always equals a rebuild from every raw row."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from leadflow.pipeline import model_params, stage_core
from leadflow.sources.files import CRM_COLUMNS

COMPARED = "select * from core.leads order by crm_id"


def land(wh, batch: str, *rows: dict, file: str | None = None) -> None:
    """Raw CRM rows of `batch` (every value as text), in file order."""
    frame = pd.DataFrame(
        [
            {
                **dict.fromkeys(CRM_COLUMNS),
                "email": f"{row['crm_id'].lower()}@example.co.jp",
                "company": "株式会社テスト",
                "job_title": "部長",
                "locale": "ja",
                "email_opt_in": "true",
                **row,
                "_batch_id": batch,
                "_file": file or f"leads_{batch}.csv",
                "_row": i,
                "_loaded_at": datetime(2026, 11, 23, tzinfo=UTC),
            }
            for i, row in enumerate(rows, start=1)
        ]
    )
    wh.load_df("raw.crm_leads", frame.astype(object).where(frame.notna(), None))


def quarantine(wh, batch: str, row: int) -> None:
    wh.execute(
        "insert into ops.quarantine values ('crm', :b, :f, :r, '{}', 'test: bad row', current_timestamp)",
        {"b": batch, "f": f"leads_{batch}.csv", "r": row},
    )


def stage(wh, settings, batch: str) -> bool:
    """Stage the night of `batch`; whether core.leads was rebuilt rather than merged."""
    return bool(stage_core(wh, settings, date.fromisoformat(batch))["leads_rebuilt"])


def rebuilt(wh, settings, batch: str) -> pd.DataFrame:
    """core.leads as a rebuild from every raw row gives it (left in place: it must be the same)."""
    params = model_params(settings, date.fromisoformat(batch), default_timezone=settings.timezone)
    wh.run_model("staging/stg_leads.sql", params, full=True)
    return wh.fetch_df(COMPARED)


def check_merge_equals_rebuild(wh, settings, batch: str) -> pd.DataFrame:
    merged = wh.fetch_df(COMPARED)
    pd.testing.assert_frame_equal(merged, rebuilt(wh, settings, batch))
    return merged.set_index("crm_id")


def test_new_batches_merge_into_the_current_records_and_equal_a_rebuild(wh, settings):
    land(
        wh,
        "2026-11-20",
        {"crm_id": "A", "job_title": "課長", "updated_at": "2026-11-19T10:00:00+09:00"},
        {"crm_id": "B", "job_title": "部長", "updated_at": "2026-11-19T10:00:00+09:00"},
        {"crm_id": "C", "job_title": "担当", "updated_at": "2026-11-19T10:00:00+09:00"},
    )
    assert stage(wh, settings, "2026-11-20") is False  # an empty warehouse merges its first batch
    check_merge_equals_rebuild(wh, settings, "2026-11-20")

    land(
        wh,
        "2026-11-21",
        {"crm_id": "A", "job_title": "部長", "updated_at": "2026-11-20T10:00:00+09:00"},  # newer: wins
        {"crm_id": "B", "job_title": "取締役", "updated_at": "2026-11-18T10:00:00+09:00"},  # older: loses
        {"crm_id": "D", "job_title": "担当", "updated_at": "2026-11-20T10:00:00+09:00"},
        {"crm_id": "D", "job_title": "主任", "updated_at": "2026-11-20T10:00:00+09:00"},  # later row wins a tie
        {"crm_id": "C", "job_title": "CEO", "updated_at": "2026-11-21T10:00:00+09:00"},  # newest, but bad
    )
    quarantine(wh, "2026-11-21", 5)
    assert stage(wh, settings, "2026-11-21") is False
    leads = check_merge_equals_rebuild(wh, settings, "2026-11-21")

    assert leads["job_title"].to_dict() == {"A": "部長", "B": "部長", "C": "担当", "D": "主任"}
    assert leads[["_batch_id", "_row"]].loc["D"].tolist() == ["2026-11-21", 4]
    assert leads["_batch_id"].loc["B"] == "2026-11-20"  # its current record stayed
    assert wh.fetchall("select _batch_id from core.leads_batches order by 1") == [("2026-11-20",), ("2026-11-21",)]


def test_a_rerun_whose_batch_gave_current_records_rebuilds(wh, settings):
    land(wh, "2026-11-20", {"crm_id": "A", "job_title": "課長", "updated_at": "2026-11-19T10:00:00+09:00"})
    stage(wh, settings, "2026-11-20")
    land(wh, "2026-11-21", {"crm_id": "A", "job_title": "部長", "updated_at": "2026-11-20T10:00:00+09:00"})
    stage(wh, settings, "2026-11-21")

    # validated again, the night's row is now quarantined: the merge could not take A's record back
    wh.execute("delete from core.leads_batches where _batch_id = '2026-11-21'")
    quarantine(wh, "2026-11-21", 1)
    assert stage(wh, settings, "2026-11-21") is True
    leads = check_merge_equals_rebuild(wh, settings, "2026-11-21")
    assert leads["job_title"].to_dict() == {"A": "課長"}


def test_a_batch_that_failed_validation_is_merged_by_the_next_staged_night(wh, settings):
    land(wh, "2026-11-20", {"crm_id": "A", "updated_at": "2026-11-19T10:00:00+09:00"})
    stage(wh, settings, "2026-11-20")
    land(wh, "2026-11-21", {"crm_id": "B", "updated_at": "2026-11-20T10:00:00+09:00"})  # never staged
    land(wh, "2026-11-22", {"crm_id": "C", "updated_at": "2026-11-21T10:00:00+09:00"})

    assert stage(wh, settings, "2026-11-22") is False
    assert sorted(check_merge_equals_rebuild(wh, settings, "2026-11-22").index) == ["A", "B", "C"]


def test_leads_staged_before_records_kept_their_batch_are_rebuilt_once(wh, settings):
    land(wh, "2026-11-20", {"crm_id": "A", "updated_at": "2026-11-19T10:00:00+09:00"})
    stage(wh, settings, "2026-11-20")
    wh.execute("update core.leads set _batch_id = null, _file = null, _row = null")  # as an older release left it

    land(wh, "2026-11-21", {"crm_id": "B", "updated_at": "2026-11-20T10:00:00+09:00"})
    assert stage(wh, settings, "2026-11-21") is True
    check_merge_equals_rebuild(wh, settings, "2026-11-21")
    land(wh, "2026-11-22", {"crm_id": "C", "updated_at": "2026-11-21T10:00:00+09:00"})
    assert stage(wh, settings, "2026-11-22") is False
