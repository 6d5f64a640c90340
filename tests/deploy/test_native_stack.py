"""The docker-compose stack, run natively: PostgreSQL metadata, CeleryExecutor on Redis, a real
api-server, scheduler, dag-processor and Celery worker. The nightly DAG is triggered through the
REST API; its asset update must start the nurture DAG. Every process started here is stopped here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml

from leadflow.demo.generate import generate
from tests.fixtures.sendgrid_server import SendGridServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AS_OF = "2026-11-22"
REDIS_DB = 7  # a database of the Redis service of its own, flushed afterwards


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_flush() -> None:
    with socket.create_connection(("127.0.0.1", 6379), timeout=2) as s:
        s.sendall(f"SELECT {REDIS_DB}\r\nFLUSHDB\r\n".encode())
        s.recv(64)


def _api(method: str, url: str, token: str | None = None, body: dict | None = None) -> dict:
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 — loopback only
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


def _wait(what: str, check, timeout: float, procs: dict[str, subprocess.Popen], logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                tail = (logs / f"{name}.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"{name} exited with {proc.returncode} while waiting for {what}:\n{tail}")
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(1)  # polling a live system, not timing a result
    tails = "\n".join(f"--- {n}\n{(logs / f'{n}.log').read_text(errors='replace')[-1500:]}" for n in procs)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


@pytest.fixture
def stack(postgres_server: str, tmp_path: Path) -> Iterator[dict]:
    if not _redis_up():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Redis at 127.0.0.1:6379 is required in CI")
        pytest.skip("Redis at 127.0.0.1:6379 is not reachable")
    import psycopg

    meta_db, wh_db = f"lf_meta_{uuid.uuid4().hex[:8]}", f"lf_wh_{uuid.uuid4().hex[:8]}"
    base = postgres_server.rsplit("/", 1)[0]
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'create database "{meta_db}"')
        admin.execute(f'create database "{wh_db}"')

    landing = tmp_path / "landing"
    generate(landing, leads=150, days=40, seed=5, end_date=date.fromisoformat(AS_OF), bad_share=0)
    config = yaml.safe_load((ROOT / "config" / "leadflow.yml").read_text())
    # triggered through the API only: unpausing must not start a scheduled run beside the test's
    config["schedule"] = None
    config["sources"]["crm"]["path"] = str(landing / "crm")
    config["sources"]["web"]["path"] = str(landing / "web")
    # real sending: the sendgrid client against the project's SendGrid-compatible server, which also
    # answers the suppression lists sync_suppressions reads first
    config["mailer"] |= {"kind": "sendgrid", "outbox": str(tmp_path / "outbox")}
    # weekdays around the clock, no holidays: whatever the day the test runs, a planned send is due
    # within SendGrid's 72-hour scheduling limit (the windows themselves are tested with a fixed clock)
    config["nurture"].update({"business_hours": [0, 24], "holiday_countries": []})
    (tmp_path / "leadflow.yml").write_text(yaml.safe_dump(config, allow_unicode=True))

    port = _free_port()
    queue = f"leadflow-test-{uuid.uuid4().hex[:8]}"  # a worker left over from elsewhere cannot take our tasks
    home = tmp_path / "airflow"
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps({"admin": "native-stack-test"}))
    meta = f"{base}/{meta_db}".replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + f"{base}/{meta_db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW_CONN_LEADFLOW_WAREHOUSE": f"{base}/{wh_db}",
        "LEADFLOW_CONFIG": str(tmp_path / "leadflow.yml"),
        "LEADFLOW_HOME": str(ROOT),
        "GX_ANALYTICS_ENABLED": "false",
    }
    sendgrid = SendGridServer(api_key="SG.native-stack").start()
    env["AIRFLOW_CONN_SENDGRID_DEFAULT"] = json.dumps(
        {"conn_type": "sendgrid", "password": "SG.native-stack", "host": sendgrid.url}
    )
    env["LEADFLOW_LINK_SECRET"] = uuid.uuid4().hex
    subprocess.run([BIN / "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)

    logs = tmp_path / "logs"
    logs.mkdir()
    commands = {
        "api-server": ["api-server", "--port", str(port), "--host", "127.0.0.1"],
        "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"],
        "worker": ["celery", "worker", "--concurrency", "2", "--queues", queue],
    }
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, args in commands.items():
            log = (logs / f"{name}.log").open("w")
            procs[name] = subprocess.Popen(
                [BIN / "airflow", *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        yield {"url": f"http://127.0.0.1:{port}", "procs": procs, "logs": logs, "sendgrid": sendgrid}
    finally:
        sendgrid.stop()
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        _redis_flush()
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{meta_db}" with (force)')
            admin.execute(f'drop database if exists "{wh_db}" with (force)')


def test_nightly_via_rest_api_triggers_nurture_through_the_asset(stack):
    url, procs, logs = stack["url"], stack["procs"], stack["logs"]
    _wait("the api-server", lambda: _api("GET", f"{url}/api/v2/version").get("version"), 180, procs, logs)
    token = _api("POST", f"{url}/auth/token", body={"username": "admin", "password": "native-stack-test"})[
        "access_token"
    ]

    def parsed() -> bool:
        dags = _api("GET", f"{url}/api/v2/dags", token)["dags"]
        return {"leadflow_nightly", "leadflow_nurture"} <= {d["dag_id"] for d in dags}

    _wait("the dag-processor to parse both DAGs", parsed, 240, procs, logs)
    for dag_id in ("leadflow_nightly", "leadflow_nurture"):
        _api("PATCH", f"{url}/api/v2/dags/{dag_id}", token, {"is_paused": False})

    run = _api(
        "POST",
        f"{url}/api/v2/dags/leadflow_nightly/dagRuns",
        token,
        {"logical_date": None, "conf": {"as_of_date": AS_OF}},
    )

    def finished(dag_id: str, run_id: str):
        state = _api("GET", f"{url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", token)["state"]
        return state if state in {"success", "failed"} else None

    state = _wait("the nightly run", lambda: finished("leadflow_nightly", run["dag_run_id"]), 600, procs, logs)
    assert state == "success", (logs / "worker.log").read_text(errors="replace")[-4000:]

    def nurture_runs():
        runs = _api("GET", f"{url}/api/v2/dags/leadflow_nurture/dagRuns", token)["dag_runs"]
        return runs if runs and all(r["state"] in {"success", "failed"} for r in runs) else None

    runs = _wait("the asset-triggered nurture run", nurture_runs, 600, procs, logs)
    assert {r["run_type"] for r in runs} == {"asset_triggered"}
    assert {r["state"] for r in runs} == {"success"}, (logs / "worker.log").read_text(errors="replace")[-4000:]
    sendgrid = stack["sendgrid"]
    # the nurture run synced suppressions from the SendGrid API, then sent through it
    assert any(r.path.startswith("/v3/suppression/") and r.status == 200 for r in sendgrid.requests)
    assert len(sendgrid.messages) > 0
