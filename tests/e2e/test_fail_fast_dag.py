"""A validation anomaly in a real `airflow dags test` run fails its task at once (try 1, no retry wait),
and the check's message is in the lines `make dag` prints for a failed run (issue 26, item 4)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from contextlib import closing
from datetime import date, timedelta

import pytest

from leadflow.demo.generate import generate
from tests.e2e.test_dag_runs import AIRFLOW, ROOT, airflow_env, airflow_home, write_config  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow_home")]

AS_OF = date(2026, 11, 22)
MAKE_DAG_GREP = re.compile(r"\[error|Traceback|Error:")  # the Makefile's `dag` target on a failed run


def test_a_stale_crm_export_fails_at_once_with_its_message(tmp_path, airflow_home):  # noqa: F811
    landing = tmp_path / "landing"
    generate(landing, leads=80, days=20, seed=5, end_date=AS_OF - timedelta(days=10), bad_share=0.0)
    config = write_config(tmp_path, landing)
    conn = json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "warehouse.duckdb")})
    env = airflow_env(
        airflow_home, LEADFLOW_CONFIG=str(config), AIRFLOW_CONN_LEADFLOW_WAREHOUSE=conn, LEADFLOW_DEADLINE_ALERTS="off"
    )
    # before: two 5-minute retry delays; the timeout fails the test long before they end
    proc = subprocess.run(
        [AIRFLOW, "dags", "test", "leadflow_nightly", AS_OF.isoformat(), "-c", json.dumps({"as_of_date": str(AS_OF)})],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=240,
    )
    log = proc.stdout + proc.stderr
    finished = [line for line in log.splitlines() if "DagRun Finished" in line]
    assert finished and "state=failed" in finished[-1], log[-3000:]

    printed = "\n".join(line for line in log.splitlines() if MAKE_DAG_GREP.search(line))
    assert "leadflow: " in printed and "freshness" in printed, printed[-3000:]

    with closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
        rows = db.execute(
            "select ti.task_id, ti.state, ti.try_number from task_instance as ti"
            " join dag_run as r on r.run_id = ti.run_id and r.dag_id = ti.dag_id"
            " where ti.dag_id = 'leadflow_nightly' and ti.task_id = 'validate_raw_crm'"
            " order by r.id desc limit 1"
        ).fetchall()
    assert rows == [("validate_raw_crm", "failed", 1)]
