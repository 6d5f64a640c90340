"""Speed to lead on the native stack: from the 2xx of a pushed demo request to the owner alert arriving at
the SendGrid-compatible server.

Starts what docker-compose runs, natively (as tests/deploy/test_native_stack.py does): PostgreSQL metadata
and warehouse, the CeleryExecutor on Redis, api-server, scheduler, dag-processor, triggerer, one Celery
worker, the project's SendGrid-compatible server and `leadflow serve` (the `serve` branch's service,
inbox in ops.inbox). It unpauses `leadflow_intake`, then POSTs `--requests` signed demo requests to
`/events`, one every `--spacing` seconds, and times each from its 2xx to the moment the SendGrid server
holds the owner alert (our `send_key` custom arg names the lead and the event). With `--no-watcher` the
triggerer is not started: the 5-minute schedule alone applies the inbox.

    .venv/bin/python benchmarks/intake_latency.py --requests 20             # target: p95 <= 60 s
    .venv/bin/python benchmarks/intake_latency.py --requests 20 --no-watcher  # target: p95 <= 6 min

Prints one JSON line (p50, p95, max, every latency). Every process and database it creates is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
BIN = Path(sys.executable).parent
PG = os.environ.get("LEADFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_DB = 8  # the Celery broker's database (pub/sub channels are server-wide: the notify channel is shared)
INTAKE_SECRET = "bench-intake-secret-0123456789"  # noqa: S105 — a local benchmark's value
API_KEY = "SG.bench-intake"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api(method: str, url: str, token: str | None = None, body: dict | None = None) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.request(method, url, json=body, headers=headers, timeout=20)
    response.raise_for_status()
    return response.json() if response.content else {}


def wait(what: str, check, timeout: float, procs: dict[str, subprocess.Popen], logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SystemExit(
                    f"{name} exited while waiting for {what}: {(logs / f'{name}.log').read_text()[-3000:]}"
                )
        with contextlib.suppress(Exception):  # not up yet
            if result := check():
                return result
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=20.0, help="seconds between two demo requests")
    parser.add_argument("--no-watcher", action="store_true", help="no triggerer: the schedule alone")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the last alert")
    parser.add_argument("--logs", type=Path, help="copy every process's log here at the end")
    args = parser.parse_args()

    import psycopg
    import yaml

    from leadflow.intake.apply import alert_key
    from leadflow.pipeline import create_schemas
    from leadflow.warehouse import connect
    from tests.fixtures.sendgrid_server import SendGridServer
    from tests.sql.rows import add_leads, lead_id

    meta_db, wh_db = f"lf_meta_{uuid.uuid4().hex[:8]}", f"lf_wh_{uuid.uuid4().hex[:8]}"
    base = PG.rsplit("/", 1)[0]
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f'create database "{meta_db}"')
        admin.execute(f'create database "{wh_db}"')
    wh_uri = f"{base}/{wh_db}"
    crm_ids = [f"BENCH{n:03d}" for n in range(args.requests)]
    with connect(wh_uri) as wh:
        create_schemas(wh)
        add_leads(wh, *({"crm_id": c, "owner_email": f"owner{n}@leadflow.example"} for n, c in enumerate(crm_ids)))

    procs: dict[str, subprocess.Popen] = {}
    with TemporaryDirectory() as tmp, SendGridServer(api_key=API_KEY) as sg:
        tmp_path = Path(tmp)
        config = yaml.safe_load((ROOT / "config" / "leadflow.yml").read_text())
        config["schedule"] = None  # no nightly run beside the measurement
        config["mailer"] |= {"kind": "sendgrid", "outbox": str(tmp_path / "outbox")}
        config["intake"] = {"rate_limit_per_minute": 100_000, "rate_limit_burst": 100_000}
        (tmp_path / "leadflow.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
        port, serve_port = free_port(), free_port()
        queue = f"leadflow-bench-{uuid.uuid4().hex[:8]}"
        home = tmp_path / "airflow"
        home.mkdir()
        (home / "passwords.json").write_text(json.dumps({"admin": "bench"}))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{base}/{meta_db}".replace(
                "postgresql://", "postgresql+psycopg2://"
            ),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + f"{base}/{meta_db}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW_CONN_LEADFLOW_WAREHOUSE": wh_uri,
            "AIRFLOW_CONN_SENDGRID_DEFAULT": json.dumps({"conn_type": "sendgrid", "password": API_KEY, "host": sg.url}),
            "LEADFLOW_CONFIG": str(tmp_path / "leadflow.yml"),
            "LEADFLOW_HOME": str(ROOT),
            "LEADFLOW_LINK_SECRET": "bench-link-secret-0123456789",
            "LEADFLOW_INTAKE_SECRET": INTAKE_SECRET,
            "LEADFLOW_REDIS_URL": "redis://127.0.0.1:6379/0",
            "PYTHONPATH": str(ROOT / "plugins"),
            "GX_ANALYTICS_ENABLED": "false",
        }
        subprocess.run([BIN / "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
        logs = tmp_path / "logs"
        logs.mkdir()
        commands = {
            "api-server": [BIN / "airflow", "api-server", "--port", str(port), "--host", "127.0.0.1"],
            "scheduler": [BIN / "airflow", "scheduler"],
            "dag-processor": [BIN / "airflow", "dag-processor"],
            "worker": [BIN / "airflow", "celery", "worker", "--concurrency", "2", "--queues", queue],
            "serve": [sys.executable, "-m", "leadflow.cli", "serve", "--port", str(serve_port), "--warehouse", wh_uri],
        }
        if not args.no_watcher:
            commands["triggerer"] = [BIN / "airflow", "triggerer"]
        try:
            for name, cmd in commands.items():
                log = (logs / f"{name}.log").open("w")
                procs[name] = subprocess.Popen(
                    cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            url = f"http://127.0.0.1:{port}"
            wait("the api-server", lambda: api("GET", f"{url}/api/v2/version").get("version"), 300, procs, logs)
            token = api("POST", f"{url}/auth/token", body={"username": "admin", "password": "bench"})["access_token"]
            wait(
                "leadflow_intake parsed",
                lambda: api("GET", f"{url}/api/v2/dags/leadflow_intake", token),
                300,
                procs,
                logs,
            )
            wait(
                "leadflow serve",
                lambda: api("GET", f"http://127.0.0.1:{serve_port}/healthz") is not None,
                60,
                procs,
                logs,
            )
            api("PATCH", f"{url}/api/v2/dags/leadflow_intake", token, {"is_paused": False})
            time.sleep(30)  # let the first scheduled run and the watcher settle before measuring

            import httpx

            sent_at: dict[str, float] = {}
            for n, crm_id in enumerate(crm_ids):
                event_id = f"bench-{uuid.uuid4().hex[:12]}"
                body = json.dumps(
                    [
                        {
                            "event_id": event_id,
                            "crm_id": crm_id,
                            "event_type": "demo_request",
                            "occurred_at": datetime.now(UTC).isoformat(),
                            "url": "https://www.example.jp/demo",
                        }
                    ]
                ).encode()
                signature = hmac.new(INTAKE_SECRET.encode(), body, hashlib.sha256).hexdigest()
                response = httpx.post(
                    f"http://127.0.0.1:{serve_port}/events",
                    content=body,
                    headers={"Content-Type": "application/json", "X-Leadflow-Signature": f"sha256={signature}"},
                    timeout=20,
                )
                response.raise_for_status()
                sent_at[alert_key(lead_id(crm_id), event_id)] = time.time()  # the server stamps with time.time()
                if n + 1 < len(crm_ids):
                    time.sleep(args.spacing)  # the arrival pattern of the benchmark, not a wait for a result

            arrived: dict[str, float] = {}
            deadline = time.monotonic() + args.timeout
            while len(arrived) < len(sent_at) and time.monotonic() < deadline:
                for message in list(sg.messages):
                    key = (message.payload.get("custom_args") or {}).get("send_key")
                    if key in sent_at and key not in arrived:
                        arrived[key] = message.received_at  # when the SendGrid server accepted it
                time.sleep(0.5)  # polling the server's list; each arrival carries its own time
            latencies = sorted(arrived[k] - sent_at[k] for k in arrived)
            print(
                json.dumps(
                    {
                        "mode": "schedule only" if args.no_watcher else "watcher + schedule",
                        "requests": len(sent_at),
                        "alerted": len(arrived),
                        "p50_s": round(percentile(latencies, 50), 1) if latencies else None,
                        "p95_s": round(percentile(latencies, 95), 1) if latencies else None,
                        "max_s": round(latencies[-1], 1) if latencies else None,
                        "latencies_s": [round(x, 1) for x in latencies],
                    }
                )
            )
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            if args.logs:
                shutil.copytree(logs, args.logs, dirs_exist_ok=True)
            for proc in procs.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            with psycopg.connect(PG, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{meta_db}" with (force)')
                admin.execute(f'drop database if exists "{wh_db}" with (force)')


if __name__ == "__main__":
    main()
