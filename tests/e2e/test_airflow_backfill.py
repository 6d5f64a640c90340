"""`airflow backfill create` on the nightly DAG (Airflow 3.3, real CLI against the DAG as serialized):
runs in date order, and `--run-backwards` refused (the gate task depends on past)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.e2e.test_dag_runs import AIRFLOW, ROOT, airflow_env, airflow_home  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow_home")]


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AIRFLOW, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_backfill_create_runs_forward_only(airflow_home):  # noqa: F811
    env = airflow_env(airflow_home)
    assert airflow(env, "dags", "reserialize").returncode == 0
    backfill = ["backfill", "create", "--dag-id", "leadflow_nightly", "--from-date", "2026-11-20"]

    backwards = airflow(env, *backfill, "--to-date", "2026-11-23", "--run-backwards", "--reprocess-behavior",
                        "completed", "--dry-run")  # fmt: skip
    assert backwards.returncode != 0
    assert "cannot be run in reverse" in backwards.stdout + backwards.stderr

    forward = airflow(env, *backfill, "--to-date", "2026-11-23", "--reprocess-behavior", "failed",
                      "--max-active-runs", "1", "--dry-run")  # fmt: skip
    assert forward.returncode == 0, forward.stderr[-2000:]
    # one run per night at 02:00 Asia/Tokyo (17:00 UTC the day before), each scoring the day before it
    logical = re.findall(r"(2026-11-\d\d 17:00:00\+00:00)", forward.stdout)
    assert logical == ["2026-11-20 17:00:00+00:00", "2026-11-21 17:00:00+00:00", "2026-11-22 17:00:00+00:00"]
