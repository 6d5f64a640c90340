"""The words leadflow's data is made of, defined once: lifecycle stages, CRM statuses, event types, columns.

A leaf module (it imports nothing of leadflow): configuration checks, the raw gates, the pipeline,
the lifecycle, the CRM adapters and the sample-data generator all take their values from here.
"""

from __future__ import annotations

STAGES = ("cold", "warm", "hot", "sales_qualified", "recycled", "disqualified", "customer")
"""Every lifecycle stage, in funnel order, then the detours."""

CRM_STATUSES = ("new", "working", "nurturing", "qualified", "customer", "disqualified")
"""leadflow's crm_status values (the raw gate accepts these and nothing else)."""

EVENT_TYPES = (
    "page_view",
    "pricing_view",
    "case_study_download",
    "whitepaper_download",
    "webinar_registered",
    "webinar_attended",
    "email_open",
    "email_click",
    "contact_form",
    "quote_request",
    "demo_request",
)
"""The web event types the raw gate knows and scoring rules may name."""

CRM_COLUMNS = (
    "crm_id",
    "email",
    "first_name",
    "last_name",
    "company",
    "industry",
    "employee_count",
    "job_title",
    "country",
    "locale",
    "timezone",
    "lead_source",
    "owner_email",
    "email_opt_in",
    "bant_budget",
    "bant_authority",
    "bant_need",
    "bant_timeline",
    "crm_status",
    "created_at",
    "updated_at",
)
"""The columns of a CRM lead as every source lands it in `raw.crm_leads`."""

EVENT_COLUMNS = ("event_id", "crm_id", "email", "event_type", "occurred_at", "url", "properties")
"""The columns of a web event as it lands in `raw.web_events`."""
