"""Deterministic failures fail their Airflow task at once, with their message; transient ones are retried."""

from __future__ import annotations

import json
import logging

import pytest
from airflow.sdk.exceptions import AirflowFailException

from leadflow.config import ConfigError
from leadflow.nurture.plan import BlastRadiusExceeded
from leadflow.runtime import fail_fast, with_warehouse
from leadflow.validation.checks import RunAnomaly
from leadflow.validation.gx import ValidationFailed


@pytest.mark.parametrize(
    "error",
    [
        ValidationFailed("raw_crm: 48 of 495 rows (9.7 %) failed validation"),
        RunAnomaly("crm_freshness: newest updated_at is 240 hours old, limit 72"),
        ConfigError("config/leadflow.yml: timezone: unknown zone 'Mars/Olympus'"),
        BlastRadiusExceeded("plan_sends: 12,000 emails are due, more than the 5,000 one run may send"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_deterministic_errors_fail_without_retry(error):
    final = fail_fast(error)
    assert isinstance(final, AirflowFailException)
    assert str(error) in str(final) and type(error).__name__ in str(final)


@pytest.mark.parametrize(
    "error",
    [ConnectionError("server closed the connection unexpectedly"), TimeoutError(), RuntimeError("HTTP 503")],
    ids=lambda e: type(e).__name__,
)
def test_transient_errors_are_left_to_retries(error):
    assert fail_fast(error) is None


def test_with_warehouse_fails_a_task_at_once_and_logs_every_line(tmp_path, monkeypatch, caplog):
    conn = json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "warehouse.duckdb")})
    monkeypatch.setenv("AIRFLOW_CONN_LEADFLOW_WAREHOUSE", conn)
    message = "crm_freshness: newest updated_at 2026-11-12 is 240 h before the cutoff\nlimit 72 h"

    def stale(wh, cfg, as_of):
        raise RunAnomaly(message)

    with caplog.at_level(logging.ERROR, logger="leadflow.runtime"), pytest.raises(AirflowFailException) as failed:
        with_warehouse(stale, {"params": {"as_of_date": "2026-11-22"}})
    assert message in str(failed.value)
    assert isinstance(failed.value.__cause__, RunAnomaly)
    assert [r.getMessage() for r in caplog.records] == [f"leadflow: {line}" for line in message.splitlines()]


def test_with_warehouse_lets_a_transient_error_through(tmp_path, monkeypatch):
    conn = json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "warehouse.duckdb")})
    monkeypatch.setenv("AIRFLOW_CONN_LEADFLOW_WAREHOUSE", conn)

    def lost(wh, cfg, as_of):
        raise ConnectionError("server closed the connection unexpectedly")

    with pytest.raises(ConnectionError):
        with_warehouse(lost, {"params": {"as_of_date": "2026-11-22"}})


def test_an_intake_step_fails_fast_too(tmp_path, monkeypatch):
    from leadflow.intake.apply import run_step

    conn = json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "warehouse.duckdb")})
    monkeypatch.setenv("AIRFLOW_CONN_LEADFLOW_WAREHOUSE", conn)

    def bad_config(wh, cfg, as_of):
        assert as_of is None  # the intake works on "now", not on a run's as-of date
        raise ConfigError("config/leadflow.yml: intake: rate_limit_per_minute must be positive")

    with pytest.raises(AirflowFailException, match="rate_limit_per_minute"):
        run_step(bad_config)


HOLD_DUCKDB = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
sys.stdin.readline()
con.close()
"""


def test_a_step_waits_for_the_duckdb_file_another_process_holds(tmp_path, monkeypatch, caplog):
    import subprocess
    import sys
    import threading
    import time
    from datetime import timedelta

    from leadflow.config import settings
    from leadflow.runtime import open_step_warehouse

    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_LEADFLOW_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(path)}))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DUCKDB, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        # with no time to wait, the lock error itself comes through (and is transient: retried by Airflow)
        with pytest.raises(Exception, match="(?i)lock") as refused:
            open_step_warehouse(settings(), wait=timedelta(0))
        assert fail_fast(refused.value) is None

        opened = []
        with caplog.at_level(logging.INFO, logger="leadflow.runtime"):
            waiter = threading.Thread(target=lambda: opened.append(open_step_warehouse(settings())))
            waiter.start()
            deadline = time.monotonic() + 60
            while "held by another process" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.1)  # polling for the waiter to meet the lock, not timing it
            assert "held by another process" in caplog.text
            holder.stdin.write("release\n")
            holder.stdin.flush()
            waiter.join(timeout=120)
        assert opened and opened[0].scalar("select 1") == 1
        opened[0].close()
    finally:
        holder.kill()
        holder.wait()
