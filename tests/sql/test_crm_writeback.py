"""CRM write-back on DuckDB and PostgreSQL: only changed leads, reruns write nothing, refusals retried."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from leadflow.crm.hubspot import HubSpotApi, HubSpotCrmSink, HubSpotCrmSource
from leadflow.crm.source import extract_from
from leadflow.crm.writeback import CrmWriteBackFailed, SqlCrmSink, WriteResult, write_back
from leadflow.pipeline import stage_core
from tests.fixtures.hubspot_server import BATCH_UPDATE, HubSpotServer
from tests.sql.rows import add_leads, lead_id

AS_OF = date(2026, 11, 22)
TOKEN = "pat-test"  # noqa: S105 — the local server's token


def score(wh, crm_id: str, total: float, stage: str = "warm", as_of: date = AS_OF, grade: str = "B") -> None:
    """A lead's score for one date and its current stage (replacing any earlier stage)."""
    wh.load_df(
        "scoring.lead_scores",
        pd.DataFrame(
            [
                {
                    "lead_id": lead_id(crm_id),
                    "as_of_date": as_of,
                    "fit_score": total,
                    "engagement_score": 0.0,
                    "total_score": total,
                    "fit_grade": grade,
                    "score_change_7d": None,
                    "heating_up": False,
                    "hand_raiser": False,
                    "last_activity_date": None,
                    "top_reasons": f"決裁者 (+{int(total)})",
                    "rules_version": "test",
                }
            ]
        ),
    )
    wh.execute("delete from lifecycle.lead_stages where lead_id = :l", {"l": lead_id(crm_id)})
    wh.execute(
        "insert into lifecycle.lead_stages values (:l, :s, cast(:d as date), cast(:d as date), 'test', 'test')",
        {"l": lead_id(crm_id), "s": stage, "d": as_of.isoformat()},
    )


class RefusingSink:
    """Accepts every lead except those named; records what it was asked to write."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.calls: list[list[str]] = []

    def write(self, changes: pd.DataFrame, scored_at: datetime) -> WriteResult:
        ids = list(changes["crm_id"])
        self.calls.append(ids)
        return WriteResult(
            written=[c for c in ids if c not in self.refuse], failed={c: "refused" for c in ids if c in self.refuse}
        )


def test_sql_sink_writes_changed_leads_once_and_a_rerun_writes_nothing(wh, settings):
    add_leads(wh, {"crm_id": "C1"}, {"crm_id": "C2"})
    score(wh, "C1", 80, "hot")
    score(wh, "C2", 10, "cold")

    first = write_back(wh, settings, AS_OF)
    rerun = write_back(wh, settings, AS_OF)

    assert first == {"changed": 2, "written": 2, "failed": 0}
    assert rerun == {"changed": 0, "written": 0, "failed": 0}
    rows = wh.fetchall("select crm_id, lead_score, lead_stage, lead_scored_at from crm.lead_fields order by crm_id")
    # scored_at is the end of the as-of day in Tokyo, 15:00 UTC
    assert [(r[0], r[1], r[2]) for r in rows] == [("C1", 80, "hot"), ("C2", 10, "cold")]
    assert rows[0][3].astimezone(UTC) == datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


def test_only_leads_whose_fields_changed_are_written_the_next_day(wh, settings):
    add_leads(wh, {"crm_id": "C1"}, {"crm_id": "C2"})
    score(wh, "C1", 80, "hot")
    score(wh, "C2", 10, "cold")
    write_back(wh, settings, AS_OF)
    next_day = date(2026, 11, 23)
    score(wh, "C1", 80, "hot", as_of=next_day)  # same fields
    score(wh, "C2", 35, "warm", as_of=next_day)  # changed

    sink = RefusingSink(set())
    assert write_back(wh, settings, next_day, sink=sink) == {"changed": 1, "written": 1, "failed": 0}
    assert sink.calls == [["C2"]]


def test_refused_leads_are_recorded_and_written_again_next_run(wh, settings):
    add_leads(wh, {"crm_id": "C1"}, {"crm_id": "C2"})
    score(wh, "C1", 80, "hot")
    score(wh, "C2", 10, "cold")

    first = write_back(wh, settings, AS_OF, sink=RefusingSink({"C2"}))
    failures = wh.fetchall("select crm_id, error, attempts from crm.sync_failures")
    retry = RefusingSink(set())
    second = write_back(wh, settings, AS_OF, sink=retry)

    assert first == {"changed": 2, "written": 1, "failed": 1}
    assert failures == [("C2", "refused", 1)]
    assert second == {"changed": 1, "written": 1, "failed": 0} and retry.calls == [["C2"]]
    assert wh.scalar("select count(*) from crm.sync_failures") == 0


def test_a_sink_that_cannot_use_the_crm_fails_the_task_after_recording(wh, settings):
    class Unreachable(RefusingSink):
        def write(self, changes: pd.DataFrame, scored_at: datetime) -> WriteResult:
            return WriteResult(written=[], failed=dict.fromkeys(changes["crm_id"], "timeout"), error="unreachable")

    add_leads(wh, {"crm_id": "C1"})
    score(wh, "C1", 80, "hot")
    with pytest.raises(CrmWriteBackFailed, match=r"unreachable \(0 of 1 written\)"):
        write_back(wh, settings, AS_OF, sink=Unreachable(set()))
    assert wh.scalar("select attempts from crm.sync_failures where crm_id = 'C1'") == 1


def test_sql_sink_writes_to_the_configured_table(wh, settings):
    wh.execute("create table crm.other_fields as select * from crm.lead_fields where 1 = 0")
    wh.execute("alter table crm.other_fields add primary key (crm_id)")
    add_leads(wh, {"crm_id": "C1"})
    score(wh, "C1", 80, "hot")
    write_back(wh, settings, AS_OF, sink=SqlCrmSink(wh, "crm.other_fields"))
    assert wh.fetchall("select crm_id, lead_stage from crm.other_fields") == [("C1", "hot")]
    assert wh.scalar("select count(*) from crm.lead_fields") == 0


def test_hubspot_round_trip_reruns_write_nothing_and_refusals_come_back(wh, settings):
    with HubSpotServer(token=TOKEN) as hs:
        for cid in ("101", "102"):
            hs.add_contact(cid, {"email": f"c{cid}@example.co.jp", "jobtitle": "部長"}, "2026-11-20T01:00:00Z")
        source = HubSpotCrmSource(HubSpotApi(token=TOKEN, host=hs.url))
        assert extract_from(wh, source, settings, AS_OF, AS_OF.isoformat())["rows"] == 2
        stage_core(wh, settings, AS_OF)
        score(wh, "101", 80, "hot")
        score(wh, "102", 10, "cold")
        del hs.contacts["102"]  # deleted in HubSpot since the pull: the batch update answers 207
        sink = HubSpotCrmSink(HubSpotApi(token=TOKEN, host=hs.url))

        first = write_back(wh, settings, AS_OF, sink=sink)
        rerun = write_back(wh, settings, AS_OF, sink=sink)

        assert first == {"changed": 2, "written": 1, "failed": 1}
        # the refused lead is tried again (and refused again); the written one is not sent again
        assert rerun == {"changed": 1, "written": 0, "failed": 1}
        assert [len(r.body["inputs"]) for r in hs.calls(BATCH_UPDATE)] == [2, 1]
        assert hs.contacts["101"]["properties"]["lead_stage"] == "hot"
        error, attempts = wh.fetchall("select error, attempts from crm.sync_failures where crm_id = '102'")[0]
        assert "OBJECT_NOT_FOUND" in error and attempts == 2


def test_extract_with_a_hubspot_source_config_lands_contacts_through_the_airflow_connection(wh, settings, monkeypatch):
    from leadflow.crm.config import HubSpotSourceConfig
    from leadflow.crm.source import extract_crm

    with HubSpotServer(token=TOKEN) as hs:
        hs.add_contact("101", {"email": "a@example.co.jp"}, "2026-11-20T01:00:00Z")
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_T", f'{{"conn_type": "http", "password": "{TOKEN}", "host": "{hs.url}"}}'
        )

        # pipeline.extract() hands every non-file CRM source to extract_crm, which dispatches on kind
        summary = extract_crm(wh, settings, HubSpotSourceConfig(conn_id="hubspot_t"), AS_OF, AS_OF.isoformat())

    assert summary["rows"] == 1 and summary["source"] == "hubspot:contacts"
    assert wh.fetchall("select crm_id, email, _file from raw.crm_leads") == [
        ("101", "a@example.co.jp", "hubspot:contacts@2026-11-22")
    ]
