"""Settings of the CRM connectors that `leadflow.config` does not define itself: HubSpot and the deadline.

These models carry no secrets: the HubSpot private-app token is the password of an Airflow
connection (`hubspot_default`), read only when the connector first talks to HubSpot.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadflow.vocabulary import CRM_STATUSES

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
    "owner_email": "hubspot_owner_id",  # an owner id: its email comes from the owners API
    "email_opt_in": "leadflow_email_opt_in",
    "bant_budget": "leadflow_bant_budget",
    "bant_authority": "leadflow_bant_authority",
    "bant_need": "leadflow_bant_need",
    "bant_timeline": "leadflow_bant_timeline",
    "crm_status": "hs_lead_status",
    "created_at": "createdate",
    "updated_at": "lastmodifieddate",
}

# write-back field -> HubSpot custom contact property (created by the sink when missing)
DEFAULT_HUBSPOT_SINK_PROPERTIES: dict[str, str] = {
    "lead_score": "lead_score",
    "lead_fit_grade": "lead_fit_grade",
    "lead_stage": "lead_stage",
    "lead_score_reasons": "lead_score_reasons",
    "lead_heating_up": "lead_heating_up",
    "lead_scored_at": "lead_scored_at",
}

# HubSpot's default `hs_lead_status` options -> leadflow crm_status. OPEN is assigned but not yet
# worked (still `new`, so the hot-lead SLA applies); calls and emails under way are `working`;
# BAD_TIMING goes back to marketing (`nurturing`); no default option means `customer` (that is
# HubSpot's lifecycle stage, not a lead status).
DEFAULT_HUBSPOT_LEAD_STATUS_MAP: dict[str, str] = {
    "NEW": "new",
    "OPEN": "new",
    "IN_PROGRESS": "working",
    "ATTEMPTED_TO_CONTACT": "working",
    "CONNECTED": "working",
    "BAD_TIMING": "nurturing",
    "OPEN_DEAL": "qualified",
    "UNQUALIFIED": "disqualified",
}

# `hs_timezone` options the automatic rule (`_slash_` -> '/', `_hyphen_` -> '-', IANA name matched
# without case) cannot place: US/Pacific-New left the tz database in 2020 (it was Los Angeles).
DEFAULT_HUBSPOT_TIMEZONE_MAP: dict[str, str] = {"us_slash_pacific_hyphen_new": "America/Los_Angeles"}

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
    reconcile_every_days: int = Field(7, ge=1)
    """Every this many days pull every contact, not only those changed since (leadflow.config.RECONCILE_EVERY_DAYS)."""
    lead_status_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HUBSPOT_LEAD_STATUS_MAP))
    """HubSpot lead-status value (its internal name, e.g. IN_PROGRESS) -> leadflow crm_status, added to
    (or overriding) the defaults. A value missing here lands unchanged, so the raw gate quarantines
    that contact with the value in its reason."""
    timezone_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HUBSPOT_TIMEZONE_MAP))
    """HubSpot time-zone value -> IANA name where the automatic rule does not do, added to the defaults."""
    locale_map: dict[str, str] = Field(default_factory=dict)
    """HubSpot language -> ja/en, before the automatic rule (primary subtag: ja-jp -> ja, en-us -> en)."""
    owner_ids: bool = True
    """The `owner_email` property holds HubSpot owner ids (hubspot_owner_id), resolved to emails with
    the owners API; false when it names a property that already holds an email address."""

    @field_validator("lead_status_map")
    @classmethod
    def _known_statuses(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = {k: v for k, v in value.items() if v not in CRM_STATUSES}
        if wrong:
            shown = ", ".join(f"{k}: {v!r}" for k, v in wrong.items())
            raise ValueError(f"{shown}: a leadflow crm_status is one of {', '.join(CRM_STATUSES)}")
        return {**DEFAULT_HUBSPOT_LEAD_STATUS_MAP, **value}

    @field_validator("timezone_map")
    @classmethod
    def _iana_zones(cls, value: dict[str, str]) -> dict[str, str]:
        for key, zone in value.items():
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"{key}: {zone!r} is not an IANA time zone") from exc
        return {**DEFAULT_HUBSPOT_TIMEZONE_MAP, **value}

    @field_validator("locale_map")
    @classmethod
    def _locales(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = {k: v for k, v in value.items() if v not in ("ja", "en")}
        if wrong:
            raise ValueError(f"{', '.join(f'{k}: {v!r}' for k, v in wrong.items())}: a locale is ja or en")
        return value


class HubSpotSinkConfig(_HubSpotCommon):
    """HubSpot contacts' custom properties written in batches of `chunk_size` (HubSpot allows 100)."""

    kind: Literal["hubspot"] = "hubspot"
    properties: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HUBSPOT_SINK_PROPERTIES))
    chunk_size: int = Field(100, ge=1, le=100)
    create_properties: bool = True
    """Create the written properties (and their group) when the portal lacks them; false: a missing
    one is a clear error before anything is written (for portals whose schema only admins change)."""
    property_group: str = "leadflow"
    label_locale: Literal["ja", "en"] = "ja"
    """HubSpot labels are one string: created properties get their label in this language and the
    other language's label in their description."""


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
