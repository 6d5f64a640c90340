"""A real `leadflow serve` in a subprocess on a free port, and ways to read what its inbox holds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from leadflow.intake.inbox import load_segments
from leadflow.pipeline import create_schemas
from leadflow.warehouse import connect

ROOT = Path(__file__).resolve().parents[2]
LINK_SECRET = "link-secret-for-tests-0123456789"  # noqa: S105 — test value
INTAKE_SECRET = "intake-secret-for-tests-0123456789"  # noqa: S105 — test value
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(home: Path, intake: dict[str, Any] | None = None, mailer: dict[str, Any] | None = None) -> Path:
    """config/leadflow.yml of the project with the intake's files under `home`."""
    data = yaml.safe_load((ROOT / "config" / "leadflow.yml").read_text(encoding="utf-8"))
    data["intake"] = {
        "inbox_path": str(home / "inbox"),
        "access_log": str(home / "access.jsonl"),
        "rate_limit_per_minute": 100_000,
        "rate_limit_burst": 100_000,
    } | (intake or {})
    data["mailer"] = data["mailer"] | (mailer or {})
    path = home / "leadflow.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class Service:
    """One `leadflow serve` process; `start` returns once /healthz answers 200."""

    home: Path
    config: Path
    warehouse: str | None = None  # a PostgreSQL URI: ops.inbox; None: the file inbox
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        self.port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "plugins"),
            "LEADFLOW_HOME": str(ROOT),
            "LEADFLOW_LINK_SECRET": LINK_SECRET,
            "LEADFLOW_INTAKE_SECRET": INTAKE_SECRET,
            "LEADFLOW_REDIS_URL": "",  # no notifications: other checkouts' tests may listen on the channel
        }
        for name in ("LEADFLOW_WAREHOUSE_URI", "AIRFLOW_CONN_LEADFLOW_WAREHOUSE", "LEADFLOW_LINK_SECRET_PREVIOUS"):
            env.pop(name, None)
        env.update(self.env)
        env = {k: v for k, v in env.items() if v is not None}
        cmd = [sys.executable, "-m", "leadflow.cli", "--config", str(self.config), "serve", "--port", str(self.port)]
        if self.warehouse:
            cmd += ["--warehouse", self.warehouse]
        stderr = (self.home / "serve.stderr").open("ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=stderr, stderr=stderr, cwd=self.home)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"leadflow serve exited {self.proc.returncode}: {self.stderr()[-2000:]}")
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"leadflow serve did not answer /healthz: {self.stderr()[-2000:]}")
                time.sleep(0.1)  # polling for readiness, not timing a result

    def stderr(self) -> str:
        path = self.home / "serve.stderr"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def access_log(self) -> list[dict[str, Any]]:
        path = self.home / "access.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def inbox_rows(service: Service) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, dedupe_key, payload) of every ops.inbox row, after loading the file segments when there are any."""
    if service.warehouse:
        wh = connect(service.warehouse)
    else:
        wh = connect(f"duckdb://{service.home / 'reader.duckdb'}")
        create_schemas(wh)
        load_segments(wh, service.home / "inbox")
    with wh:
        rows = wh.fetchall("select kind, dedupe_key, payload from ops.inbox order by kind, dedupe_key")
    return [(str(k), str(d), json.loads(p)) for k, d, p in rows]
