"""The HubSpot connector (real hubspot-api-client) against the local HubSpot server in tests/fixtures."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from leadflow.crm.config import HubSpotSinkConfig, HubSpotSourceConfig
from leadflow.crm.hubspot import HubSpotApi, HubSpotCrmSink, HubSpotCrmSource, property_value
from tests.fixtures.hubspot_server import BATCH_UPDATE, SEARCH, Fault, HubSpotServer

TOKEN = "pat-na1-test-token"  # noqa: S105 — the local server's token
UNTIL = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)  # end of 2026-11-22 in Tokyo
SCORED_AT = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


@pytest.fixture
def hs():
    with HubSpotServer(token=TOKEN) as server:
        yield server


def api(server: HubSpotServer, **kwargs) -> HubSpotApi:
    return HubSpotApi(token=TOKEN, host=server.url, backoff_seconds=0.01, **kwargs)


def add(server: HubSpotServer, n: int, day: str = "2026-11-20") -> None:
    for i in range(n):
        server.add_contact(
            str(100 + i),
            {"email": f"c{i}@example.co.jp", "numemployees": "120", "leadflow_email_opt_in": "true"},
            updated_at=f"{day}T{i // 60:02d}:{i % 60:02d}:00Z",
        )


def changes(*ids: str, **overrides) -> pd.DataFrame:
    rows = [
        {
            "crm_id": cid,
            "lead_score": 42,
            "lead_fit_grade": "B",
            "lead_stage": "warm",
            "lead_score_reasons": "料金ページ閲覧 2回 (+29)",
            "lead_heating_up": True,
            "fields_hash": "h",
            **overrides,
        }
        for cid in ids
    ]
    return pd.DataFrame(rows)


# -- source ------------------------------------------------------------------------------------------


def test_source_pages_through_every_contact_changed_before_the_cutoff(hs):
    add(hs, 7)
    hs.add_contact("999", {"email": "late@example.co.jp"}, updated_at="2026-11-22T15:00:00Z")  # at the cutoff: out
    frame = HubSpotCrmSource(api(hs), page_size=3).fetch(None, UNTIL)

    # 7 contacts at 3 per page: 3 searches, oldest change first
    assert list(frame["crm_id"]) == [str(100 + i) for i in range(7)]
    assert len(hs.calls(SEARCH)) == 3
    first = frame.iloc[0]
    assert (first["email"], first["employee_count"], first["email_opt_in"]) == ("c0@example.co.jp", "120", "true")
    assert first["updated_at"] == datetime(2026, 11, 20, tzinfo=UTC)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in hs.requests)


def test_source_filters_by_the_watermark_and_sorts_by_last_change(hs):
    add(hs, 3)
    since = datetime(2026, 11, 20, 0, 1, tzinfo=UTC)
    frame = HubSpotCrmSource(api(hs)).fetch(since, UNTIL)

    # GTE the watermark: contact 101 changed exactly at it
    assert list(frame["crm_id"]) == ["101", "102"]
    body = hs.calls(SEARCH)[0].body
    assert body["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    ops = {f["operator"]: f["value"] for f in body["filterGroups"][0]["filters"]}
    assert ops == {"GTE": str(int(since.timestamp() * 1000)), "LT": str(int(UNTIL.timestamp() * 1000))}


def test_source_searches_again_from_the_last_change_when_the_search_window_is_full(hs, monkeypatch):
    monkeypatch.setattr("leadflow.crm.hubspot.SEARCH_WINDOW", 4)
    hs.search_window = 4
    add(hs, 9)
    frame = HubSpotCrmSource(api(hs), page_size=2).fetch(None, UNTIL)

    # every contact once, although the server refuses to page past 4 results
    assert list(frame["crm_id"]) == [str(100 + i) for i in range(9)]
    assert all(r.status == 200 for r in hs.requests)


def test_source_retries_a_429_honouring_retry_after(hs):
    add(hs, 2)
    hs.script(Fault.rate_limited(retry_after=1, path=SEARCH))
    started = time.monotonic()
    frame = HubSpotCrmSource(api(hs)).fetch(None, UNTIL)

    assert len(frame) == 2
    assert [r.status for r in hs.calls(SEARCH)] == [429, 200]
    assert time.monotonic() - started >= 0.9  # waited Retry-After, not the 0.01 s backoff


def test_retries_are_bounded(hs):
    from hubspot.crm.contacts.exceptions import ApiException

    hs.script(*[Fault.rate_limited(retry_after=0, path=SEARCH)] * 5)
    with pytest.raises(ApiException) as raised:
        HubSpotCrmSource(api(hs, max_retries=2)).fetch(None, UNTIL)
    assert raised.value.status == 429
    assert len(hs.calls(SEARCH)) == 3  # the first try and 2 retries


def test_token_and_host_come_from_the_airflow_connection_on_first_use(hs, monkeypatch):
    add(hs, 1)
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_LOCAL", f'{{"conn_type": "http", "password": "{TOKEN}", "host": "{hs.url}"}}'
    )
    source = HubSpotCrmSource.from_config(HubSpotSourceConfig(conn_id="hubspot_local"))
    assert TOKEN not in repr(source.api)
    assert len(source.fetch(None, UNTIL)) == 1


# -- sink --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("lead_score", 42.0, "42"),  # HubSpot number properties take text
        ("lead_heating_up", True, "true"),
        ("lead_heating_up", False, "false"),
        ("lead_score_reasons", None, ""),  # empty clears the property
        ("lead_scored_at", datetime(2026, 11, 22, 15, 0, tzinfo=UTC), "2026-11-22T15:00:00.000Z"),
    ],
)
def test_property_value(field, value, expected):
    assert property_value(field, value) == expected


def test_sink_writes_changed_fields_in_chunks_of_100(hs):
    add(hs, 250)
    sink = HubSpotCrmSink(api(hs))
    ids = [str(100 + i) for i in range(250)]
    result = sink.write(changes(*ids), SCORED_AT)

    assert sorted(result.written) == sorted(ids) and result.failed == {}
    assert [len(r.body["inputs"]) for r in hs.calls(BATCH_UPDATE)] == [100, 100, 50]
    props = hs.contacts["100"]["properties"]
    assert props["lead_score"] == "42" and props["lead_stage"] == "warm" and props["lead_heating_up"] == "true"
    assert props["lead_scored_at"] == "2026-11-22T15:00:00.000Z"


def test_sink_reports_unknown_contacts_of_a_207_and_keeps_the_rest(hs):
    add(hs, 3)
    result = HubSpotCrmSink(api(hs)).write(changes("100", "404", "102"), SCORED_AT)

    assert result.written == ["100", "102"]
    assert list(result.failed) == ["404"] and "OBJECT_NOT_FOUND" in result.failed["404"]


def test_sink_isolates_a_value_hubspot_refuses_from_the_rest_of_its_batch(hs):
    add(hs, 3)
    frame = changes("100", "101", "102")
    frame.loc[1, "lead_stage"] = "lukewarm"  # not an option of the lead_stage property
    result = HubSpotCrmSink(api(hs)).write(frame, SCORED_AT)

    # the batch of 3 gets a 400, then each record is sent alone
    assert sorted(result.written) == ["100", "102"]
    assert "VALIDATION_ERROR" in result.failed["101"]
    assert [r.status for r in hs.calls(BATCH_UPDATE)] == [400, 200, 400, 200]


def test_a_chunk_that_keeps_failing_is_reported_and_the_next_chunk_still_goes_through_a_429(hs):
    add(hs, 4)
    hs.script(
        *[Fault(status=503, path=BATCH_UPDATE)] * 3,  # first chunk: the first try and max_retries=2 all fail
        Fault.rate_limited(retry_after=0, path=BATCH_UPDATE),  # second chunk: one 429, then accepted
    )
    sink = HubSpotCrmSink(api(hs, max_retries=2), chunk_size=2)
    result = sink.write(changes("100", "101", "102", "103"), SCORED_AT)

    assert sorted(result.failed) == ["100", "101"] and result.failed["100"].startswith("503")
    assert sorted(result.written) == ["102", "103"] and result.error is None
    assert [r.status for r in hs.calls(BATCH_UPDATE)] == [503, 503, 503, 429, 200]


def test_sink_with_a_wrong_token_fails_every_record_and_says_the_crm_is_unusable(hs):
    add(hs, 2)
    sink = HubSpotCrmSink(HubSpotApi(token="wrong", host=hs.url))  # noqa: S106
    result = sink.write(changes("100", "101"), SCORED_AT)

    assert result.written == [] and set(result.failed) == {"100", "101"}
    assert "401" in result.failed["100"] and "wrong" not in result.failed["100"]
    assert result.error is not None and result.error.startswith("HubSpot refused the token")
    assert len(hs.calls(BATCH_UPDATE)) == 1  # no second chunk after an auth error


def test_sink_that_never_reaches_hubspot_says_so(hs):
    add(hs, 2)
    hs.script(*[Fault(status=503, path=BATCH_UPDATE)] * 2)
    result = HubSpotCrmSink(api(hs, max_retries=1)).write(changes("100", "101"), SCORED_AT)
    assert result.written == [] and result.error is not None and "503" in result.error


def test_property_mappings_name_only_our_fields(hs):
    with pytest.raises(ValueError, match="lead_temperature are not write-back fields"):
        HubSpotCrmSink(api(hs), {"lead_temperature": "x"})
    with pytest.raises(ValueError, match="phone are not leadflow CRM columns"):
        HubSpotCrmSource(api(hs), {"phone": "phone"})


def test_sink_config_limits_chunks_to_hubspots_maximum():
    with pytest.raises(ValueError, match="less than or equal to 100"):
        HubSpotSinkConfig(chunk_size=101)
