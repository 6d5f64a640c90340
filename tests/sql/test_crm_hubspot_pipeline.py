"""A HubSpot pull through the nightly's real steps (extract, raw gate, core.leads) on both backends."""

from __future__ import annotations

from datetime import date

from leadflow.crm.config import HubSpotSourceConfig
from leadflow.pipeline import extract, stage_core, validate_raw
from tests.fixtures.hubspot_server import HubSpotServer

AS_OF = date(2026, 11, 22)
TOKEN = "pat-test"  # noqa: S105 — the local server's token
STATUSES = {
    "NEW": "new",
    "OPEN": "new",
    "IN_PROGRESS": "working",
    "ATTEMPTED_TO_CONTACT": "working",
    "CONNECTED": "working",
    "BAD_TIMING": "nurturing",
    "OPEN_DEAL": "qualified",
    "UNQUALIFIED": "disqualified",
}


def test_every_hubspot_lead_status_time_zone_and_owner_lands_in_core_leads(wh, settings, monkeypatch):
    zones = {"asia_slash_tokyo": "Asia/Tokyo", "america_slash_new_york": "America/New_York"}
    with HubSpotServer(token=TOKEN) as hs:
        hs.add_owner("6166860", "sato@leadflow.example")
        for i, status in enumerate(STATUSES):
            hs.add_contact(
                f"H{i}",
                {
                    "email": f"h{i}@example.co.jp",
                    "hs_lead_status": status,
                    "hs_timezone": list(zones)[i % 2],
                    "hs_language": "ja-jp",
                    "hubspot_owner_id": "6166860",
                    "numemployees": "100-500",
                },
                updated_at=f"2026-11-21T0{i}:00:00Z",
            )
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_P", f'{{"conn_type": "http", "password": "{TOKEN}", "host": "{hs.url}"}}'
        )
        hubspot = settings.model_copy(
            update={"sources": settings.sources.model_copy(update={"crm": HubSpotSourceConfig(conn_id="hubspot_p")})}
        )
        pulled = extract(wh, hubspot, AS_OF, "crm")
        gate = validate_raw(wh, hubspot, AS_OF, "crm")  # raises above 5 % quarantined, as it did for these
        stage_core(wh, hubspot, AS_OF)

    assert pulled["rows"] == 8 and "unmapped" not in pulled
    assert gate["quarantined"] == 0 and gate["clean"] == 8
    rows = wh.fetchall("select crm_id, crm_status, timezone, owner_email, locale, employee_count from core.leads")
    assert sorted(rows) == [
        (f"H{i}", STATUSES[s], list(zones.values())[i % 2], "sato@leadflow.example", "ja", 100)
        for i, s in enumerate(STATUSES)
    ]


def test_a_changed_only_pull_is_judged_on_hubspot_s_count_and_a_reconciliation_finds_the_deleted(
    wh, settings, monkeypatch
):
    with HubSpotServer(token=TOKEN) as hs:
        for i in range(5):
            hs.add_contact(f"H{i}", {"email": f"h{i}@example.co.jp"}, updated_at=f"2026-11-20T0{i}:00:00Z")
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_P", f'{{"conn_type": "http", "password": "{TOKEN}", "host": "{hs.url}"}}'
        )
        crm = HubSpotSourceConfig(conn_id="hubspot_p", owner_ids=False, reconcile_every_days=2)
        hubspot = settings.model_copy(update={"sources": settings.sources.model_copy(update={"crm": crm})})
        nights = [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)]
        extract(wh, hubspot, nights[0], "crm")
        validate_raw(wh, hubspot, nights[0], "crm")
        stage_core(wh, hubspot, nights[0])
        hs.add_contact("H9", {"email": "h9@example.co.jp"}, updated_at="2026-11-21T09:00:00Z")
        changed = extract(wh, hubspot, nights[1], "crm")
        gate = validate_raw(wh, hubspot, nights[1], "crm")
        stage_core(wh, hubspot, nights[1])
        del hs.contacts["H2"]  # deleted in HubSpot: no search finds it again
        reconciled = extract(wh, hubspot, nights[2], "crm")
        validate_raw(wh, hubspot, nights[2], "crm")
        staged = stage_core(wh, hubspot, nights[2])

    assert (changed["mode"], changed["rows"], changed["rows_read"]) == ("changed", 2, 6)  # H4 at the mark, H9
    assert gate["rows"] == 2 and gate["source_rows"] == 6
    assert (reconciled["mode"], reconciled["rows"]) == ("reconciliation", 5)
    assert staged["deleted_leads"] == 1 and staged["leads"] == 5
    assert wh.fetchall("select crm_id from core.deleted_leads") == [("H2",)]
