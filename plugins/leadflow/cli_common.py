"""What every `leadflow` subcommand shares: the warehouse it opens. Below each cli module, imported by all."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

from leadflow.config import Settings
from leadflow.console import is_quiet
from leadflow.warehouse import Warehouse, connect, open_warehouse


def command_warehouse(args: argparse.Namespace, cfg: Settings) -> Warehouse:
    """--warehouse, else $LEADFLOW_WAREHOUSE_URI, else the Airflow connection, else the embedded DuckDB file."""
    uri = getattr(args, "warehouse", None) or os.environ.get("LEADFLOW_WAREHOUSE_URI")
    if uri:
        return connect(uri)
    env_name = f"AIRFLOW_CONN_{cfg.warehouse_conn_id.upper()}"
    if env_name in os.environ or os.environ.get("AIRFLOW_HOME"):
        return open_warehouse(cfg.warehouse_conn_id)
    embedded = cfg.path("data/warehouse.duckdb")
    if not is_quiet():
        print(
            f"(no {cfg.warehouse_conn_id} connection set: using the embedded warehouse {embedded})",
            file=sys.stderr,
        )
    return connect(f"duckdb://{embedded}")


def scored_date(wh: Warehouse, asked: date | None) -> date | None:
    """The as-of date a command reports on: `asked`, else the latest scored night; None (after saying
    what to do) when nothing has been scored yet."""
    found = asked or wh.scalar("select max(as_of_date) from scoring.lead_scores")
    if found is None:
        print("no scores yet: run the nightly DAG first (make demo, or make dag DAG=leadflow_nightly DATE=…)")
        return None
    return date.fromisoformat(str(found))
