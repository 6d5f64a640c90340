"""The HubSpot connector (real hubspot-api-client) against the local HubSpot server in tests/fixtures."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from leadflow.crm.config import HubSpotSinkConfig, HubSpotSourceConfig
from leadflow.crm.hubspot import (
    HubSpotApi,
    HubSpotCrmSink,
    HubSpotCrmSource,
    HubSpotOwners,
    HubSpotValues,
    hubspot_employee_count,
    hubspot_locale,
    hubspot_timezone,
    property_value,
)
from tests.fixtures.hubspot_server import (
    BATCH_UPDATE,
    FIXTURES,
    GROUPS,
    OPTIONS,
    OWNERS,
    PROPERTIES,
    SEARCH,
    Fault,
    HubSpotServer,
)

STAGES = ("cold", "warm", "hot", "sales_qualified", "recycled", "disqualified", "customer")
SCHEMAS = json.loads((FIXTURES / "openapi_schemas.json").read_text(encoding="utf-8"))

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
            {"email": f"c{i}@example.co.jp", "numemployees": "100-500", "leadflow_email_opt_in": "true"},
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
    assert (first["email"], first["employee_count"], first["email_opt_in"]) == ("c0@example.co.jp", "100", "true")
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
    assert hs.calls(BATCH_UPDATE) == []  # refused at the first request (the properties check): nothing more


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


# -- HubSpot's real values ---------------------------------------------------------------------------

LEAD_STATUSES = {  # every default hs_lead_status option and the crm_status it lands as
    "NEW": "new",
    "OPEN": "new",
    "IN_PROGRESS": "working",
    "ATTEMPTED_TO_CONTACT": "working",
    "CONNECTED": "working",
    "BAD_TIMING": "nurturing",
    "OPEN_DEAL": "qualified",
    "UNQUALIFIED": "disqualified",
}
ZONES = {
    "asia_slash_tokyo": "Asia/Tokyo",
    "america_slash_new_york": "America/New_York",
    "europe_slash_london": "Europe/London",
    "america_slash_port_hyphen_au_hyphen_prince": "America/Port-au-Prince",
    "america_slash_argentina_slash_buenos_aires": "America/Argentina/Buenos_Aires",
    "antarctica_slash_dumontdurville": "Antarctica/DumontDUrville",
    "japan": "Japan",
    "us_slash_pacific_hyphen_new": "America/Los_Angeles",  # gone from the tz database: the default map
}


def owners(server: HubSpotServer) -> None:
    server.add_owner("6166860", "sato@leadflow.example", "Hanako", "Sato")
    server.add_owner("6166861", "suzuki@leadflow.example", "Ichiro", "Suzuki")
    server.add_owner("6166862", None, kind="QUEUE")  # a queue: no email
    server.add_owner("6166863", "tanaka@leadflow.example", "Jiro", "Tanaka")
    server.add_owner("7000001", "left@leadflow.example", archived=True)  # deactivated


def as_landed(frame: pd.DataFrame) -> pd.DataFrame:
    """The pulled frame as raw.crm_leads holds it (text), with the loader's `_row` / `_file`."""
    from leadflow.crm.source import as_text

    out = frame.map(as_text).astype(object)
    out["_row"] = range(1, len(out) + 1)
    out["_file"] = "hubspot:contacts@2026-11-22"
    return out


def gate(frame: pd.DataFrame, max_bad_share: float = 0.05):
    from leadflow.validation.raw import validate_raw_crm

    return validate_raw_crm(as_landed(frame), as_of=UNTIL, max_bad_share=max_bad_share)


def test_a_real_hubspot_export_lands_with_leadflow_values_and_nothing_quarantined(hs):
    owners(hs)
    zones, languages = list(ZONES), ["ja-jp", "en-us", "ja", "en-gb"]
    owner_ids = ["6166860", "6166861", "6166863", None]
    for i, status in enumerate(LEAD_STATUSES):
        hs.add_contact(
            str(200 + i),
            {
                "email": f"c{i}@example.co.jp",
                "hs_lead_status": status,
                "hs_timezone": zones[i % len(zones)],
                "hs_language": languages[i % 4],
                "hubspot_owner_id": owner_ids[i % 4],
                "numemployees": ["1-5", "25-50", "100-500", "1000+"][i % 4],
            },
            updated_at=f"2026-11-20T00:0{i}:00Z",
        )
    source = HubSpotCrmSource(api(hs), values=HubSpotValues(owners=HubSpotOwners(api(hs), page_size=2)))
    frame = source.fetch(None, UNTIL)

    assert dict(zip(frame["crm_id"], frame["crm_status"], strict=True)) == {
        str(200 + i): leadflow for i, leadflow in enumerate(LEAD_STATUSES.values())
    }
    assert list(frame["timezone"]) == [ZONES[zones[i % len(zones)]] for i in range(8)]
    assert list(frame["locale"]) == ["ja", "en", "ja", "en"] * 2
    assert (
        list(frame["owner_email"])
        == ["sato@leadflow.example", "suzuki@leadflow.example", "tanaka@leadflow.example", None] * 2
    )
    assert list(frame["employee_count"]) == ["1", "25", "100", "1000"] * 2
    assert source.summary() == {}
    # owners: active ones only, every page (2 per page: 2 requests), read once for the whole pull
    assert [r.query.get("after") for r in hs.calls(OWNERS)] == [None, ["2"]]
    assert all(r.query["archived"] == ["False"] for r in hs.calls(OWNERS))  # the client's spelling

    result = gate(frame)  # today's 5 % limit: none of these contacts is bad
    assert result.quarantine.empty and len(result.clean) == 8


def test_hubspots_values_as_they_were_would_all_be_quarantined(hs):
    # what the connector used to land: HubSpot's values unchanged (the run failed above 5 %)
    hs.add_contact("1", {"email": "a@example.co.jp", "hs_lead_status": "IN_PROGRESS"}, "2026-11-20T00:00:00Z")
    source = HubSpotCrmSource(api(hs), values=HubSpotValues(lead_status_map={}, owners=None))
    result = gate(source.fetch(None, UNTIL), max_bad_share=1.0)
    assert list(result.quarantine["reason"]) == [
        "crm_status: 'IN_PROGRESS' is not one of new, working, nurturing, qualified, customer, disqualified"
    ]


def test_an_unmapped_value_quarantines_its_contact_with_the_value_and_names_the_setting(hs, caplog):
    # the portal's admin added a lead status leadflow's config does not know yet
    hs.properties["hs_lead_status"]["options"].append(
        {"label": "Lost cause", "value": "LOST_CAUSE", "displayOrder": 8, "hidden": False}
    )
    hs.add_contact("1", {"email": "a@example.co.jp", "hs_lead_status": "LOST_CAUSE"}, "2026-11-20T00:00:00Z")
    hs.add_contact("2", {"email": "b@example.co.jp", "hs_lead_status": "CONNECTED"}, "2026-11-20T00:01:00Z")
    source = HubSpotCrmSource(api(hs))
    with caplog.at_level("WARNING", logger="leadflow.crm.hubspot"):
        frame = source.fetch(None, UNTIL)

    assert list(frame["crm_status"]) == ["LOST_CAUSE", "working"]
    assert source.summary() == {"unmapped": {"crm_status": {"LOST_CAUSE": 1}}}
    assert "hs_lead_status option(s) LOST_CAUSE have no leadflow crm_status" in caplog.text  # the portal's options
    assert "'LOST_CAUSE' (1) have no leadflow value" in caplog.text  # and the contacts that carry one
    assert "map them in sources.crm.lead_status_map" in caplog.text
    result = gate(frame, max_bad_share=1.0)
    assert list(result.quarantine["_row"]) == [1]  # contact 1
    assert list(result.quarantine["reason"]) == [
        "crm_status: 'LOST_CAUSE' is not one of new, working, nurturing, qualified, customer, disqualified"
    ]


def test_the_pull_summary_lands_with_the_batch(hs, monkeypatch):
    from leadflow.crm.source import extract_from
    from leadflow.sources.marks import ExtractPlan

    hs.properties["hs_timezone"]["options"].append({"label": "Mars", "value": "mars_slash_olympus", "hidden": False})
    hs.add_contact("1", {"email": "a@example.co.jp", "hs_timezone": "mars_slash_olympus"}, "2026-11-20T00:00:00Z")
    source = HubSpotCrmSource(api(hs))
    landed: list[pd.DataFrame] = []
    monkeypatch.setattr("leadflow.crm.source.land", lambda wh, plan, rows, read: landed.append(rows) or len(rows))
    monkeypatch.setattr(
        "leadflow.crm.source.plan_extract",
        lambda wh, name, batch, as_of, until, every: ExtractPlan(name, batch, True, None, "first", until),
    )
    settings = type("S", (), {"tz": UTC})()
    monkeypatch.setattr("leadflow.crm.source.cutoff", lambda s, d: UNTIL)
    summary = extract_from(None, source, settings, UNTIL.date(), "2026-11-22")
    assert summary["unmapped"] == {"timezone": {"mars_slash_olympus": 1}}
    assert landed[0]["timezone"].tolist() == ["mars_slash_olympus"]  # quarantined by the raw gate, not lost


def test_an_owner_who_is_not_active_leaves_the_lead_without_owner_and_is_counted(hs):
    owners(hs)
    hs.add_contact("1", {"email": "a@example.co.jp", "hubspot_owner_id": "7000001"}, "2026-11-20T00:00:00Z")
    hs.add_contact("2", {"email": "b@example.co.jp", "hubspot_owner_id": "6166862"}, "2026-11-20T00:01:00Z")
    hs.add_contact("3", {"email": "c@example.co.jp", "hubspot_owner_id": "6166860"}, "2026-11-20T00:02:00Z")
    source = HubSpotCrmSource(api(hs))
    frame = source.fetch(None, UNTIL)
    assert list(frame["owner_email"]) == [None, None, "sato@leadflow.example"]  # never an id in owner_email
    assert source.summary() == {"unmapped": {"owner_email": {"7000001": 1, "6166862": 1}}}


def test_owners_are_not_asked_for_when_no_contact_has_one(hs):
    add(hs, 2)
    HubSpotCrmSource(api(hs)).fetch(None, UNTIL)
    assert hs.calls(OWNERS) == []


def test_a_mapped_property_the_portal_lacks_is_a_config_error_before_any_search(hs):
    from leadflow.config import ConfigError
    from leadflow.crm.config import DEFAULT_HUBSPOT_SOURCE_PROPERTIES

    add(hs, 1)
    props = {**DEFAULT_HUBSPOT_SOURCE_PROPERTIES, "bant_budget": "budget_confirmed"}
    with pytest.raises(ConfigError, match="no contact property bant_budget: budget_confirmed: fix sources.crm"):
        HubSpotCrmSource(api(hs), props).fetch(None, UNTIL)
    assert hs.calls(SEARCH) == []


def test_mapping_config_names_only_leadflow_statuses_and_iana_zones():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"NEW: 'fresh': a leadflow crm_status is one of new, working"):
        HubSpotSourceConfig(lead_status_map={"NEW": "fresh"})
    with pytest.raises(ValidationError, match="asia_slash_edo: 'Asia/Edo' is not an IANA time zone"):
        HubSpotSourceConfig(timezone_map={"asia_slash_edo": "Asia/Edo"})
    with pytest.raises(ValidationError, match="fr: 'fr': a locale is ja or en"):
        HubSpotSourceConfig(locale_map={"fr": "fr"})
    cfg = HubSpotSourceConfig(lead_status_map={"CHURNED": "customer"}, owner_ids=False)
    source = HubSpotCrmSource.from_config(cfg)
    # entries are added to the defaults (NEW, OPEN, ... stay mapped)
    assert source.values.lead_status_map == {**LEAD_STATUSES, "CHURNED": "customer"}
    assert source.values.owners is None
    assert HubSpotSourceConfig(timezone_map={"x": "UTC"}).timezone_map["us_slash_pacific_hyphen_new"] == (
        "America/Los_Angeles"
    )


def test_a_wrong_mapping_in_the_settings_file_is_a_config_error_naming_the_field(tmp_path):
    import yaml

    from leadflow.config import ConfigError, load_settings, project_home

    data = yaml.safe_load((project_home() / "config" / "leadflow.yml").read_text(encoding="utf-8"))
    data["sources"]["crm"] = {"kind": "hubspot", "lead_status_map": {"OPEN_DEAL": "won"}}
    path = tmp_path / "leadflow.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.crm\.hubspot\.lead_status_map: .*OPEN_DEAL: 'won'"):
        load_settings(path)


def test_leadflow_statuses_are_the_raw_gates():
    from leadflow.crm.config import CRM_STATUSES
    from leadflow.validation.raw import CRM_STATUSES as GATE_STATUSES

    assert CRM_STATUSES == GATE_STATUSES


def test_every_recorded_hubspot_time_zone_is_an_iana_zone():
    from zoneinfo import ZoneInfo

    values = OPTIONS["hs_timezone"]
    assert len(values) == 525
    mapped = {v: hubspot_timezone(v) for v in values}
    assert [v for v, zone in mapped.items() if zone is None] == []
    for zone in set(mapped.values()):
        ZoneInfo(zone)
    assert hubspot_timezone("Asia/Tokyo") == "Asia/Tokyo"  # already an IANA name: kept


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ja-jp", "ja"), ("JA", "ja"), ("en-us", "en"), ("en_GB", "en"), ("fr-fr", None), ("zh-cht", None)],
)
def test_hubspot_locale(value, expected):
    assert hubspot_locale(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1-5", "1"), ("100-500", "100"), ("1000+", "1000"), ("250", "250"), ("1,000", "1,000"), ("many", None)],
)
def test_hubspot_employee_count(value, expected):
    assert hubspot_employee_count(value) == expected


# -- the properties leadflow writes ------------------------------------------------------------------


def test_missing_custom_properties_are_created_once_in_their_group_with_ja_and_en_labels(hs):
    add(hs, 2)
    assert "lead_stage" not in hs.properties  # a fresh portal
    first = HubSpotCrmSink(api(hs)).write(changes("100", "101"), SCORED_AT)

    assert sorted(first.written) == ["100", "101"]
    assert len(hs.calls(GROUPS, "POST")) == 1 and len(hs.calls(PROPERTIES, "POST")) == 6
    assert hs.groups["leadflow"]["label"] == "leadflow スコアリング"
    stage = hs.properties["lead_stage"]
    assert (stage["groupName"], stage["type"], stage["fieldType"]) == ("leadflow", "enumeration", "select")
    assert (stage["label"], stage["description"]) == ("リードステージ", "Lead stage (leadflow)")
    assert [o["value"] for o in stage["options"]] == list(STAGES)
    assert hs.properties["lead_heating_up"]["type"] == "bool"
    assert hs.properties["lead_scored_at"]["type"] == "datetime"
    assert hs.contacts["100"]["properties"]["lead_stage"] == "warm"

    # the next run (a new sink, as in a new task) finds them and creates nothing
    again = HubSpotCrmSink(api(hs)).write(changes("100", "101", lead_stage="hot"), SCORED_AT)
    assert sorted(again.written) == ["100", "101"]
    assert len(hs.calls(GROUPS, "POST")) == 1 and len(hs.calls(PROPERTIES, "POST")) == 6
    assert len(hs.calls(PROPERTIES, "GET")) == 2  # one look per run


def test_labels_in_english_put_japanese_in_the_description(hs):
    add(hs, 1)
    HubSpotCrmSink(api(hs), label_locale="en").write(changes("100"), SCORED_AT)
    assert (hs.properties["lead_score"]["label"], hs.properties["lead_score"]["description"]) == (
        "Lead score",
        "リードスコア (leadflow)",
    )
    assert hs.groups["leadflow"]["label"] == "leadflow scoring"


def test_an_existing_group_is_reused_and_a_property_created_meanwhile_is_fine(hs):
    add(hs, 1)
    hs.groups["leadflow"] = {"name": "leadflow", "label": "ours", "displayOrder": 0, "archived": False}
    hs.script(
        Fault(
            status=409,
            body={"status": "error", "message": "exists", "category": "OBJECT_ALREADY_EXISTS"},
            path=PROPERTIES,
            method="POST",
        )
    )
    result = HubSpotCrmSink(api(hs)).write(changes("100"), SCORED_AT)

    assert hs.calls(GROUPS, "POST") == []  # the group was there
    # the 409 (another run created lead_score first) does not stop the other five
    assert [r.status for r in hs.calls(PROPERTIES, "POST")] == [409, 201, 201, 201, 201, 201]
    assert {"lead_fit_grade", "lead_stage", "lead_score_reasons", "lead_heating_up", "lead_scored_at"} <= set(
        hs.properties
    )
    # here the 409 was scripted, so lead_score is really missing: the record is refused, reported, retried
    assert result.error is None and "lead_score" in result.failed["100"]


def test_without_permission_to_create_properties_nothing_is_written_and_the_error_says_why(hs):
    from leadflow.crm.hubspot import HubSpotConfigError

    add(hs, 1)
    with pytest.raises(HubSpotConfigError, match="no contact properties lead_score, lead_fit_grade"):
        HubSpotCrmSink(api(hs), create_properties=False).write(changes("100"), SCORED_AT)
    assert hs.calls(BATCH_UPDATE) == [] and hs.calls(PROPERTIES, "POST") == []


# -- the fake HubSpot against HubSpot's recorded shapes ------------------------------------------------


def _validator(name: str):
    import jsonschema

    schema = {**SCHEMAS, "$ref": f"#/$defs/{name}"}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


RESPONSE_SHAPES = {  # (method, path, status) -> HubSpot's schema of that answer
    ("POST", SEARCH, 200): "CollectionResponseWithTotalSimplePublicObject",
    ("POST", BATCH_UPDATE, 200): "BatchResponseSimplePublicObject",
    ("POST", BATCH_UPDATE, 207): "BatchResponseSimplePublicObjectWithErrors",
    ("GET", OWNERS, 200): "CollectionResponsePublicOwnerForwardPaging",
    ("GET", PROPERTIES, 200): "CollectionResponsePropertyNoPaging",
    ("POST", PROPERTIES, 201): "Property",
    ("GET", GROUPS, 200): "CollectionResponsePropertyGroupNoPaging",
    ("POST", GROUPS, 201): "PropertyGroup",
}
REQUEST_SHAPES = {  # not the search: leadflow sends it as HubSpot's search guide does (see hubspot/README.md)
    BATCH_UPDATE: "BatchInputSimplePublicObjectBatchInput",
    PROPERTIES: "PropertyCreate",
    GROUPS: "PropertyGroupCreate",
}


def test_the_fake_hubspot_answers_in_hubspots_recorded_shapes(hs):
    owners(hs)
    add(hs, 5)
    hs.add_contact("300", {"email": "o@example.co.jp", "hubspot_owner_id": "6166860"}, "2026-11-20T03:00:00Z")
    HubSpotCrmSource(api(hs), page_size=2).fetch(None, UNTIL)
    HubSpotCrmSink(api(hs)).write(changes("100", "101"), SCORED_AT)
    HubSpotCrmSink(api(hs)).write(changes("100", "404"), SCORED_AT)  # a 207
    frame = changes("100", "101")
    frame.loc[0, "lead_stage"] = "lukewarm"
    HubSpotCrmSink(api(hs)).write(frame, SCORED_AT)  # a 400 VALIDATION_ERROR
    HubSpotCrmSink(HubSpotApi(token="wrong", host=hs.url)).write(changes("100"), SCORED_AT)  # noqa: S106 — a 401

    seen = set()
    for r in hs.requests:
        key = (r.method, r.path, r.status)
        name = RESPONSE_SHAPES.get(key) or ("Error" if r.status >= 400 else None)
        assert name is not None, f"no recorded shape for {key}"
        errors = [e.message for e in _validator(name).iter_errors(r.response)]
        assert errors == [], f"{key}: {errors}"
        if r.method == "POST" and r.path in REQUEST_SHAPES:  # what leadflow sends fits HubSpot's shape too
            assert [e.message for e in _validator(REQUEST_SHAPES[r.path]).iter_errors(r.body)] == []
        seen.add(key)
    assert set(RESPONSE_SHAPES) <= seen
    assert {("POST", BATCH_UPDATE, 400), ("GET", PROPERTIES, 401)} <= seen


def test_hubspots_own_examples_fit_the_recorded_shapes():
    examples = json.loads((FIXTURES / "spec_examples.json").read_text(encoding="utf-8"))
    for name in ("SimplePublicObject", "Error", "NextPage"):
        assert [e.message for e in _validator(name).iter_errors(examples[name])] == [], name
    # three examples leave out a field their own schema requires (the fake sends them)
    for name, missing in (("PublicOwner", "type"), ("Property", "description"), ("PropertyGroup", "archived")):
        assert [e.message for e in _validator(name).iter_errors(examples[name])] == [
            f"'{missing}' is a required property"
        ]
