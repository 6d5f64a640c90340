"""What every `leadflow` subcommand shares: the warehouse it opens. Below each cli module, imported by all."""

from __future__ import annotations

import argparse
import os
import sys

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
