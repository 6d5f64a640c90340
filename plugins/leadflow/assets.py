"""The Airflow assets leadflow's DAGs produce and consume."""

from airflow.sdk import Asset

LEAD_STAGES = Asset(name="lead_stages", uri="leadflow://warehouse/lifecycle/lead_stages", group="leadflow")
"""Current stage per lead, refreshed by the nightly DAG; its update starts the nurture DAG."""


def intake_inbox() -> Asset:
    """The intake's inbox (`ops.inbox`), updated by `leadflow serve`; its Redis watcher starts leadflow_intake."""
    from airflow.sdk import AssetWatcher

    from leadflow.intake.watch import InboxNotifyTrigger

    return Asset(
        name="intake_inbox",
        uri="leadflow://warehouse/ops/inbox",
        group="leadflow",
        watchers=[AssetWatcher(name="leadflow_intake_redis", trigger=InboxNotifyTrigger())],
    )
