"""Minimisation: a whole demo-sized run of the nightly and the nurture DAG (`airflow dags test`, as
`make dag` runs them) writes no generated address, name or link token to its task logs or output."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from leadflow.demo.generate import generate
from tests.e2e.test_dag_runs import AIRFLOW, AS_OF, ROOT, airflow_env, write_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow_home")]


def people(landing: Path) -> set[str]:
    """Every address and full name the generated files hold (owners' addresses are staff, not leads)."""
    found: set[str] = set()
    for path in (landing / "crm").glob("*.csv"):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                found |= {v.strip().lower() for v in (row["email"],) if v and "@" in v}
                if row["first_name"] and row["last_name"]:
                    found |= {
                        f"{row['first_name']} {row['last_name']}".lower(),
                        f"{row['last_name']}{row['first_name']}",
                    }
    for path in (landing / "web").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                email = json.loads(line).get("email")
            except ValueError:
                continue
            if isinstance(email, str) and "@" in email:
                found.add(email.strip().lower())
    return found


def run(dag_id: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [AIRFLOW, "dags", "test", dag_id, AS_OF.isoformat(), "-c", json.dumps({"as_of_date": AS_OF.isoformat()})],
        capture_output=True,
        text=True,
        env={**env, "LEADFLOW_DEADLINE_ALERTS": "off"},
        cwd=ROOT,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    finished = [line for line in output.splitlines() if "DagRun Finished" in line]
    assert finished and "state=success" in finished[-1], output[-4000:]
    return output


def test_a_whole_run_logs_no_address_name_or_token(tmp_path):
    landing = tmp_path / "landing"
    generate(landing, leads=80, days=60, seed=21, end_date=AS_OF, bad_share=0.05)
    shared = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    if not shared.exists():
        subprocess.run([AIRFLOW, "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    home = tmp_path / "airflow_home"
    home.mkdir()
    with closing(sqlite3.connect(shared)) as source, closing(sqlite3.connect(home / "airflow.db")) as copy:
        source.backup(copy)
    warehouse = json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "warehouse.duckdb")})
    env = airflow_env(
        home,
        LEADFLOW_CONFIG=str(write_config(tmp_path, landing)),
        AIRFLOW_CONN_LEADFLOW_WAREHOUSE=warehouse,
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
    )
    output = run("leadflow_nightly", env) + run("leadflow_nurture", env)
    logs = [p for p in (home / "logs").rglob("*") if p.is_file()]
    text = (output + "".join(p.read_text(encoding="utf-8", errors="replace") for p in logs)).lower()
    # what was searched: `dags test` prints every task's log (files, when Airflow writes them, too)
    for task in ("validate_raw_crm", "score_leads", "housekeep", "plan_sends", "send_emails"):
        assert f"starting task_id={task}" in text, task
    assert len(list((tmp_path / "outbox").glob("*.eml"))) > 0  # emails went out, addressed to these people
    values = people(landing)
    assert len(values) > 80
    leaked = sorted(v for v in values if v.lower() in text)
    assert leaked == [], f"{len(leaked)} personal values in the task logs, e.g. {leaked[:3]}"
    assert "token=" not in text
