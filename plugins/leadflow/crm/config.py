"""Settings of the CRM connectors that `leadflow.config` does not define itself: HubSpot and the deadline.

These models carry no secrets: the HubSpot private-app token is the password of an Airflow
connection (`hubspot_default`), read only when the connector first talks to HubSpot.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# our raw.crm_leads column -> HubSpot contact property; `crm_id` is the contact's own id
DEFAULT_HUBSPOT_SOURCE_PROPERTIES: dict[str, str] = {
    "crm_id": "hs_object_id",
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "company": "company",
    "industry": "industry",
    "employee_count": "numemployees",
    "job_title": "jobtitle",
    "country": "country",
    "locale": "hs_language",
    "timezone": "hs_timezone",
    "lead_source": "hs_analytics_source",
    "owner_email": "leadflow_owner_email",
    "email_opt_in": "leadflow_email_opt_in",
    "bant_budget": "leadflow_bant_budget",
    "bant_authority": "leadflow_bant_authority",
    "bant_need": "leadflow_bant_need",
    "bant_timeline": "leadflow_bant_timeline",
    "crm_status": "hs_lead_status",
    "created_at": "createdate",
    "updated_at": "lastmodifieddate",
}

# write-back field -> HubSpot custom contact property (created once by the HubSpot admin)
DEFAULT_HUBSPOT_SINK_PROPERTIES: dict[str, str] = {
    "lead_score": "lead_score",
    "lead_fit_grade": "lead_fit_grade",
    "lead_stage": "lead_stage",
    "lead_score_reasons": "lead_score_reasons",
    "lead_heating_up": "lead_heating_up",
    "lead_scored_at": "lead_scored_at",
}

_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _HubSpotCommon(_Strict):
    conn_id: str = "hubspot_default"
    """Airflow connection: private-app token in `password`; `host` optional (API base URL)."""
    max_retries: int = Field(5, ge=0, le=10)
    """Attempts after the first on 429 / 5xx; Retry-After is honoured, else exponential backoff."""
    backoff_seconds: float = Field(1.0, ge=0)
    timeout_seconds: float = Field(30.0, gt=0)


class HubSpotSourceConfig(_HubSpotCommon):
    """HubSpot contacts, pulled incrementally by `lastmodifieddate`; `properties` maps our names to theirs."""

    kind: Literal["hubspot"] = "hubspot"
    properties: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HUBSPOT_SOURCE_PROPERTIES))
    page_size: int = Field(100, ge=1, le=200)


class HubSpotSinkConfig(_HubSpotCommon):
    """HubSpot contacts' custom properties written in batches of `chunk_size` (HubSpot allows 100)."""

    kind: Literal["hubspot"] = "hubspot"
    properties: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HUBSPOT_SINK_PROPERTIES))
    chunk_size: int = Field(100, ge=1, le=100)


class CrmDeadlineConfig(_Strict):
    """When scores must be in the CRM (local time, in the settings' time zone) and whom to alert."""

    local_time: str = "07:00"
    emails: tuple[str, ...] = ()
    """Data engineers' addresses; empty: the alert is logged (and shown in Airflow's UI) only."""

    @field_validator("local_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _LOCAL_TIME.match(value):
            raise ValueError(f"local_time must be HH:MM (24-hour), got {value!r}")
        return value
