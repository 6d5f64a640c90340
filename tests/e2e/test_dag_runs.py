"""Whole runs: generated data → `airflow dags test` of both DAGs, on DuckDB and PostgreSQL.

Each run is a real Airflow run in a subprocess (what `make dag` does), with the warehouse and the
mailer chosen by connection environment variables, exactly as a data engineer would configure them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
import yaml

from leadflow.backfill import run_nightly
from leadflow.config import load_settings
from leadflow.demo.generate import generate
from leadflow.pipeline import stage_counts
from leadflow.warehouse import connect
from tests.fixtures.sendgrid_server import SendGridServer

# The `airflow dags test` runs use an Airflow home of this module's own (`airflow_home`): under
# pytest-xdist they stay on one worker, one after another, as SQLite takes one writer at a time.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow_home")]

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 22)
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, leads=300, days=100, seed=11, end_date=AS_OF, bad_share=0.01)
    return out


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    """An Airflow home of this module's own: a copy of the checkout's migrated metadata database, so the
    `dags test` runs here never share SQLite (runs, XComs, Variables) with another test process."""
    shared = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    if not shared.exists():
        shared.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([AIRFLOW, "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    home = tmp_path_factory.mktemp("airflow_home")
    with closing(sqlite3.connect(shared)) as source, closing(sqlite3.connect(home / "airflow.db")) as copy:
        source.backup(copy)  # a consistent copy even while another process writes
    return home


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an `airflow` command run against `home`'s metadata database."""
    db = f"sqlite:///{home / 'airflow.db'}"
    return {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db, **extra}


def write_config(tmp_path: Path, landing: Path, **mailer: object) -> Path:
    data = yaml.safe_load((ROOT / "config" / "leadflow.yml").read_text())
    data["sources"]["crm"]["path"] = str(landing / "crm")
    data["sources"]["web"]["path"] = str(landing / "web")
    data["mailer"]["outbox"] = str(tmp_path / "outbox")
    data["reports"] = str(tmp_path / "reports")
    data["mailer"].update(mailer)
    if mailer.get("kind") == "sendgrid":
        # Weekdays around the clock, no holidays: on whatever day the test runs, every planned send is
        # due within SendGrid's 72 h (send windows have their own tests in tests/sql/test_nurture_windows.py).
        data["nurture"].update({"business_hours": [0, 24], "holiday_countries": []})
    path = tmp_path / "leadflow.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def dags_test(dag_id: str, env: dict[str, str]) -> None:
    env = {**env, "LEADFLOW_DEADLINE_ALERTS": "off"}  # what `make dag` does for reruns
    proc = subprocess.run(
        [
            AIRFLOW,
            "dags",
            "test",
            dag_id,
            AS_OF.isoformat(),
            "-c",
            json.dumps({"as_of_date": AS_OF.isoformat()}),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    finished = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "DagRun Finished" in line]
    assert finished and "state=success" in finished[-1], (proc.stdout + proc.stderr)[-4000:]


def snapshot(uri: str) -> dict:
    with connect(uri) as wh:
        return {
            "stages": stage_counts(wh),
            "transitions": wh.scalar("select count(*) from lifecycle.stage_transitions"),
            "ledger": wh.fetchall("select send_key, status from nurture.email_sends order by send_key"),
            "scores": wh.fetchall(
                "select l.crm_id, s.total_score, s.top_reasons from scoring.lead_scores as s "
                "join core.leads as l on l.lead_id = s.lead_id order by l.crm_id"
            ),
            "crm": wh.fetchall("select crm_id, lead_score, lead_stage from crm.lead_fields order by crm_id"),
            "quarantined": wh.scalar("select count(*) from ops.quarantine"),
        }


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path) -> tuple[str, str]:
    """(leadflow URI, Airflow connection value) of an empty warehouse on each backend."""
    if request.param == "duckdb":
        path = tmp_path / "warehouse.duckdb"
        return f"duckdb://{path}", json.dumps({"conn_type": "duckdb", "host": str(path)})
    uri = request.getfixturevalue("postgres_db")
    return uri, uri


@pytest.fixture(scope="module")
def expected(landing, tmp_path_factory) -> dict:
    """The same data run through the library directly, on DuckDB: what every Airflow run must match."""
    folder = tmp_path_factory.mktemp("expected")
    settings = load_settings(write_config(folder, landing))
    uri = f"duckdb://{folder / 'expected.duckdb'}"
    with connect(uri) as wh:
        run_nightly(wh, settings, AS_OF)
    return snapshot(uri)


def test_nightly_and_nurture_runs_are_correct_and_idempotent(warehouse, landing, tmp_path, airflow_home, expected):
    uri, conn = warehouse
    config = write_config(tmp_path, landing)
    env = airflow_env(airflow_home, LEADFLOW_CONFIG=str(config), AIRFLOW_CONN_LEADFLOW_WAREHOUSE=conn)

    dags_test("leadflow_nightly", env)
    first = snapshot(uri)
    # the same scores, reasons and stages as the library run on DuckDB: both backends agree
    assert first["scores"] == expected["scores"]
    assert first["stages"] == expected["stages"]
    assert sum(first["stages"].values()) == len(first["scores"]) == len(first["crm"])
    assert first["quarantined"] > 0  # the generator's bad rows were caught, not loaded
    report = tmp_path / "reports" / AS_OF.isoformat()
    assert {"index.html", "funnel.ja.html", "calibration.en.html", "gallery"} <= {p.name for p in report.iterdir()}

    dags_test("leadflow_nurture", env)
    sent = snapshot(uri)["ledger"]
    outbox = sorted(p.stem for p in (tmp_path / "outbox").glob("*.eml"))
    assert sent and all(status == "sent" for _, status in sent)
    assert [key for key, _ in sent] == outbox  # one .eml per ledger row, nothing else

    dags_test("leadflow_nightly", env)
    dags_test("leadflow_nurture", env)
    again = snapshot(uri)
    assert again == {**first, "ledger": sent}  # a rerun adds no transition, no score, no email
    assert sorted(p.stem for p in (tmp_path / "outbox").glob("*.eml")) == outbox


def test_nurture_sends_through_the_sendgrid_client_exactly_once(landing, tmp_path, airflow_home):
    path = tmp_path / "warehouse.duckdb"
    config = write_config(tmp_path, landing, kind="sendgrid")
    with SendGridServer(api_key="SG.e2e-secret") as sg:
        conn = {"conn_type": "sendgrid", "password": "SG.e2e-secret", "host": sg.url}
        env = airflow_env(
            airflow_home,
            LEADFLOW_CONFIG=str(config),
            AIRFLOW_CONN_LEADFLOW_WAREHOUSE=json.dumps({"conn_type": "duckdb", "host": str(path)}),
            AIRFLOW_CONN_SENDGRID_DEFAULT=json.dumps(conn),
            LEADFLOW_LINK_SECRET="e2e-link-secret",
        )
        dags_test("leadflow_nightly", env)
        dags_test("leadflow_nurture", env)
        ledger = snapshot(f"duckdb://{path}")["ledger"]
        received = [m.payload["custom_args"]["send_key"] for m in sg.messages]
        assert sorted(received) == [key for key, status in ledger if status == "sent"]
        assert len(received) == len(ledger) > 0
        dags_test("leadflow_nurture", env)
        assert len(sg.messages) == len(received)  # the rerun sent nothing
