"""The Airflow assets leadflow's DAGs produce and consume."""

from airflow.sdk import Asset

LEAD_STAGES = Asset(name="lead_stages", uri="leadflow://warehouse/lifecycle/lead_stages", group="leadflow")
"""Current stage per lead, refreshed by the nightly DAG; its update starts the nurture DAG."""
