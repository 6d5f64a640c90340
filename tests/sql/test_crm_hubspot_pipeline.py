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
