"""A rerun of an earlier night through real `airflow dags test` runs of the nightly DAG: the later night
is run again, the CRM keeps the latest night's fields, and the nurture run of the past night skips."""

from __future__ import annotations

import json
import subprocess
from datetime import date

import pytest

from leadflow.demo.generate import generate
from leadflow.warehouse import connect
from tests.e2e.test_dag_runs import AIRFLOW, ROOT, airflow_env, airflow_home, write_config  # noqa: F401
from tests.e2e.test_reruns import NIGHTS, daily_crm_exports, state

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow_home")]


def dags_test(dag_id: str, night: date, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [AIRFLOW, "dags", "test", dag_id, night.isoformat(), "-c", json.dumps({"as_of_date": night.isoformat()})],
        capture_output=True,
        text=True,
        env={**env, "LEADFLOW_DEADLINE_ALERTS": "off"},
        cwd=ROOT,
        timeout=600,
    )
    log = proc.stdout + proc.stderr
    finished = [line for line in log.splitlines() if "DagRun Finished" in line]
    assert finished and "state=success" in finished[-1], log[-4000:]
    return log


def test_rerunning_an_earlier_night_in_airflow_keeps_the_latest_state(tmp_path, airflow_home):  # noqa: F811
    landing = tmp_path / "landing"
    generate(landing, leads=150, days=40, seed=11, end_date=NIGHTS[-1], bad_share=0.0)
    daily_crm_exports(landing / "crm", NIGHTS)
    path = tmp_path / "warehouse.duckdb"
    env = airflow_env(
        airflow_home,
        LEADFLOW_CONFIG=str(write_config(tmp_path, landing)),
        AIRFLOW_CONN_LEADFLOW_WAREHOUSE=json.dumps({"conn_type": "duckdb", "host": str(path)}),
    )
    for night in NIGHTS:
        dags_test("leadflow_nightly", night, env)
    dags_test("leadflow_nurture", NIGHTS[-1], env)
    with connect(f"duckdb://{path}") as wh:
        after = state(wh)
    assert "sales_qualified" in {row[3] for row in after["crm"]}

    dags_test("leadflow_nightly", NIGHTS[1], env)
    skipped = dags_test("leadflow_nurture", NIGHTS[1], env)

    assert "nurture for 2026-11-22 skipped: the latest night is 2026-11-23" in skipped
    with connect(f"duckdb://{path}") as wh:
        assert state(wh) == after
        assert wh.scalar("select count(*) from ops.night_lock") == 0  # the teardown released the turn
