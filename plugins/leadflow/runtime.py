"""What Airflow tasks share: the run's as-of date, and a warehouse opened for one step and closed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from leadflow.config import Settings, settings
from leadflow.warehouse import Warehouse, open_warehouse

T = TypeVar("T")

log = logging.getLogger(__name__)


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


def deterministic_errors() -> tuple[type[BaseException], ...]:
    """Errors that fail the same way on every try: bad data, bad configuration, a guard that tripped.

    The task fails at once on them (no retry); anything else (a lost connection, a 5xx) is retried.
    """
    from leadflow.config import ConfigError
    from leadflow.nurture.mailer import MailerSetupError
    from leadflow.nurture.plan import BlastRadiusExceeded
    from leadflow.nurture.render import TemplateRenderError
    from leadflow.nurture.send import RenderFailed
    from leadflow.sources.files import SchemaDriftError
    from leadflow.validation.gx import ValidationFailed

    return (
        ValidationFailed,
        ConfigError,
        BlastRadiusExceeded,
        SchemaDriftError,
        RenderFailed,
        TemplateRenderError,
        MailerSetupError,
    )


def fail_fast(exc: BaseException) -> BaseException | None:
    """Airflow's fail-without-retry exception carrying `exc`'s message when `exc` is deterministic, else None."""
    if not isinstance(exc, deterministic_errors()):
        return None
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(f"{type(exc).__name__}: {exc}")


DUCKDB_LOCK_WAIT = timedelta(minutes=10)  # longest a step waits for another process's hold on the DuckDB file


def _is_duckdb_lock(exc: BaseException) -> bool:
    """DuckDB refused the file because another process (a task of another DAG) holds it."""
    import duckdb

    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def open_step_warehouse(cfg: Settings, wait: timedelta = DUCKDB_LOCK_WAIT) -> Warehouse:
    """The warehouse for one step; on the embedded DuckDB file, held by another task for a while
    (the intake every 5 minutes beside a nightly step), wait for it (bounded) instead of failing."""
    from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

    retrying = Retrying(
        retry=retry_if_exception(_is_duckdb_lock),
        wait=wait_exponential(multiplier=0.5, max=15),
        stop=stop_after_delay(wait.total_seconds()),
        before_sleep=lambda state: log.info("the DuckDB warehouse is held by another process: waiting"),
        reraise=True,
    )
    return retrying(open_warehouse, cfg.warehouse_conn_id)


def run_step(step: Callable[..., T], as_of: date | None, *args: Any, **kwargs: Any) -> T:
    """Run `step(wh, settings, as_of, *args)` on a warehouse connection opened for it alone; a
    deterministic failure fails the task at once (no retry), its message in the task log."""
    try:
        cfg = settings()
        wh = open_step_warehouse(cfg)
        try:
            return step(wh, cfg, as_of, *args, **kwargs)
        finally:
            wh.close()
    except Exception as exc:
        final = fail_fast(exc)
        if final is None:
            raise
        # one error record per line: `make dag` prints the log's error lines when a run fails
        for line in str(exc).splitlines() or [type(exc).__name__]:
            log.error("leadflow: %s", line)
        raise final from exc


def with_warehouse(step: Callable[..., T], context: Mapping[str, Any], *args: Any, **kwargs: Any) -> T:
    """`run_step` for the run's as-of date (`as_of_date`)."""
    return run_step(step, as_of_date(context), *args, **kwargs)


_ACTIVE = ("queued", "running")


def _holder_id(context: Mapping[str, Any]) -> str:
    """How the lock names a run: `dag_id/run_id` (the nightly and the nurture DAG share the lock)."""
    return f"{context['ti'].dag_id}/{context['run_id']}"


def night_turn(context: Mapping[str, Any]) -> bool:
    """Whether this run may start (the gate sensor's poke): no run of an earlier date of its DAG is
    running, and it holds the warehouse's nightly lock. Backfills start several runs at once (their
    own `max_active_runs`, 10 by default, not the DAG's) and scheduled runs do not wait for them; a
    nurture run must not read stages a rerun has not brought forward yet."""
    ti = context["ti"]
    earlier = ti.get_previous_dagrun(state="running")
    if earlier is not None:
        log.info("waiting: the earlier run %s (logical date %s) is running", earlier.run_id, earlier.logical_date)
        return False

    def is_gone(holder: str) -> bool:
        dag_id, _, run_id = holder.partition("/")
        try:
            return ti.get_dagrun_state(dag_id=dag_id, run_id=run_id) not in _ACTIVE
        except Exception:  # no such run (another Airflow, a deleted run): nobody to wait for
            return True

    from leadflow.backfill import take_turn

    me = _holder_id(context)
    holder = with_warehouse(lambda wh, cfg, as_of: take_turn(wh, me, as_of, is_gone), context)
    if holder is not None:
        log.info("waiting: run %s holds the warehouse", holder)
    return holder is None


def end_night_turn(context: Mapping[str, Any]) -> None:
    """Release this run's lock (the teardown of the gate: runs whether the run failed or not)."""
    from leadflow.backfill import end_turn

    me = _holder_id(context)
    with_warehouse(lambda wh, cfg, as_of: end_turn(wh, me), context)
