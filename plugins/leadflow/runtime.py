"""What Airflow tasks share: the run's as-of date, and a warehouse opened for one step and closed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from leadflow.config import Settings, settings
from leadflow.warehouse import Warehouse, open_warehouse

T = TypeVar("T")


def as_of_date(context: Mapping[str, Any], cfg: Settings | None = None) -> date:
    """The local day a run scores: `params.as_of_date` when given (reruns, `make dag`), else the
    asset event that triggered the run, else the day before the run's data interval end."""
    cfg = cfg or settings()
    given = (context.get("params") or {}).get("as_of_date")
    if given:
        return date.fromisoformat(str(given))
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in reversed(list(events)):
            extra = getattr(event, "extra", None) or {}
            if extra.get("as_of_date"):
                return date.fromisoformat(extra["as_of_date"])
    end = context.get("data_interval_end") or context["logical_date"]
    # via the timestamp: pendulum arithmetic on a stdlib-zoned value loses the zone
    local = datetime.fromtimestamp(end.timestamp(), tz=cfg.tz)
    return local.date() - timedelta(days=1)


def with_warehouse(step: Callable[..., T], context: Mapping[str, Any], *args: Any, **kwargs: Any) -> T:
    """Run `step(wh, settings, as_of, *args)` on a warehouse connection opened for it alone."""
    cfg = settings()
    wh: Warehouse = open_warehouse(cfg.warehouse_conn_id)
    try:
        return step(wh, cfg, as_of_date(context, cfg), *args, **kwargs)
    finally:
        wh.close()
