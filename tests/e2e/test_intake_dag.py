"""Real Airflow runs of leadflow_intake (`airflow dags test`, as `make dag` does) on DuckDB and PostgreSQL:
the inbox applied, the owner alerted once, and a second run changes nothing."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from leadflow.intake.apply import alert_key
from leadflow.intake.inbox import FileInbox, InboxRecord, load_records
from leadflow.pipeline import create_schemas
from leadflow.warehouse import connect
from tests.e2e.test_dag_runs import AIRFLOW, ROOT, airflow_env, airflow_home  # noqa: F401 (a fixture)
from tests.intake.test_apply import add_send
from tests.sql.rows import add_events, add_leads, lead_id

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow_home")]

NOW = datetime.now(UTC).replace(microsecond=0)


def write_config(home: Path) -> Path:
    """The project's config with its home (data/inbox, the outbox) under `home`."""
    data = yaml.safe_load((ROOT / "config" / "leadflow.yml").read_text())
    data["home"] = str(home)
    for key, default in (
        ("scoring_rules", "config/scoring.yml"),
        ("sequences", "config/sequences.yml"),
        ("templates", "email_templates"),
    ):
        data[key] = str(ROOT / data.get(key, default))
    data["mailer"]["outbox"] = str(home / "outbox")
    path = home / "leadflow.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def dags_test(env: dict[str, str]) -> str:
    proc = subprocess.run(
        [AIRFLOW, "dags", "test", "leadflow_intake", NOW.isoformat()],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    finished = [line for line in output.splitlines() if "DagRun Finished" in line]
    assert finished and "state=success" in finished[-1], output[-4000:]
    return output


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path) -> tuple[str, str, str]:
    """(backend, leadflow URI, Airflow connection value) of an empty warehouse."""
    if request.param == "duckdb":
        path = tmp_path / "warehouse.duckdb"
        return "duckdb", f"duckdb://{path}", json.dumps({"conn_type": "duckdb", "host": str(path)})
    uri = request.getfixturevalue("postgres_db")
    return "postgres", uri, uri


def test_intake_dag_applies_the_inbox_and_alerts_the_owner_once(warehouse, tmp_path, airflow_home):  # noqa: F811
    backend, uri, conn = warehouse
    home = tmp_path / "home"
    home.mkdir()
    env = airflow_env(airflow_home, LEADFLOW_CONFIG=str(write_config(home)), AIRFLOW_CONN_LEADFLOW_WAREHOUSE=conn)
    records = [
        InboxRecord(
            "web_event",
            "w-demo-1",
            {
                "event_id": "w-demo-1",
                "crm_id": "H1",
                "event_type": "demo_request",
                "occurred_at": (NOW - timedelta(minutes=1)).isoformat(),
                "url": "https://www.example.jp/demo",
            },
        ),
        InboxRecord("unsubscribe", lead_id("U1"), {"lead_id": lead_id("U1"), "method": "one_click", "source": "t"}),
        InboxRecord("sendgrid_event", "sg-x", {"event": "exploded", "email": "u1@example.co.jp", "timestamp": 1}),
    ]
    with connect(uri) as wh:
        create_schemas(wh)
        add_leads(wh, {"crm_id": "H1", "owner_email": "owner@leadflow.example"}, {"crm_id": "U1"})
        add_send(wh, "u1-next", "U1", "planned")  # the unsubscribing lead's next email
        if backend == "postgres":
            load_records(wh, records)  # the service inserts into ops.inbox directly
    if backend == "duckdb":
        inbox = FileInbox(home / "data" / "inbox")  # the service's fsync'd segments, loaded by the DAG
        inbox.append(records)
        inbox.close()

    dags_test(env)
    dags_test(env)  # a second run: nothing left to apply, nothing sent again

    key = alert_key(lead_id("H1"), "w-demo-1")
    assert sorted(p.stem for p in (home / "outbox").glob("*.eml")) == [key]
    with connect(uri) as wh:
        assert dict(wh.fetchall("select send_key, status from nurture.email_sends order by 1")) == {
            key: "sent",
            "u1-next": "cancelled",
        }
        assert wh.fetchall("select email, kind from nurture.suppressions") == [("u1@example.co.jp", "unsubscribe")]
        assert wh.scalar("select count(*) from ops.inbox where applied_at is null") == 0
        assert wh.fetchall("select event_id, event_type from core.events") == [("w-demo-1", "demo_request")]
        assert "not a SendGrid event type" in wh.scalar("select reason from ops.quarantine where source = 'intake'")


def test_a_lead_pushed_over_the_hot_threshold_is_hot_in_the_crm_after_the_intake_run(
    warehouse,
    tmp_path,
    airflow_home,  # noqa: F811
):
    """Issue 24: a lead that heats up during the day is hot in the CRM minutes later, not after the night."""
    from leadflow.config import load_settings
    from leadflow.crm.writeback import write_back
    from tests.sql.test_intraday import night

    backend, uri, conn = warehouse
    home = tmp_path / "home"
    home.mkdir()
    env = airflow_env(airflow_home, LEADFLOW_CONFIG=str(write_config(home)), AIRFLOW_CONN_LEADFLOW_WAREHOUSE=conn)
    settings = load_settings(Path(env["LEADFLOW_CONFIG"]))
    today = NOW.astimezone(settings.tz).date()
    yesterday = today - timedelta(days=1)
    with connect(uri) as wh:
        create_schemas(wh)
        # fit 50 and a pricing view yesterday: warm at 65; one more pricing view today makes it 79 (hot: 75)
        add_leads(wh, {"crm_id": "A", "job_title": "部長", "employee_count": 300, "industry": "software"})
        add_leads(wh, {"crm_id": "Q"})
        add_events(wh, "A", ("pricing_view", yesterday.isoformat()))
        for day in (yesterday - timedelta(days=1), yesterday):
            night(wh, settings, day)
        write_back(wh, settings, yesterday)
        assert wh.scalar("select lead_stage from crm.lead_fields where crm_id = 'A'") == "warm"
    record = InboxRecord(
        "web_event",
        "a-pricing",
        {
            "event_id": "a-pricing",
            "crm_id": "A",
            "event_type": "pricing_view",
            "occurred_at": (NOW - timedelta(minutes=1)).isoformat(),
            "url": "https://www.example.jp/pricing",
        },
    )
    if backend == "postgres":
        with connect(uri) as wh:
            load_records(wh, [record])
    else:
        inbox = FileInbox(home / "data" / "inbox")
        inbox.append([record])
        inbox.close()

    dags_test(env)
    with connect(uri) as wh:
        assert wh.fetchall("select crm_id, lead_stage, lead_score from crm.lead_fields order by crm_id") == [
            ("A", "hot", 79),
            ("Q", "cold", 0),
        ]
        assert wh.scalar("select reason from lifecycle.stage_transitions where to_stage = 'hot'") == (
            "score 79 reached hot threshold 75 (intraday)"
        )
        synced = dict(wh.fetchall("select crm_id, as_of_date from crm.sync_state"))
        assert synced == {"A": today, "Q": yesterday}  # the untouched lead was not written again
        before = wh.fetchall("select * from scoring.intraday_scores")
    dags_test(env)  # a second run: nothing new, nothing rescored or written
    with connect(uri) as wh:
        assert wh.fetchall("select * from scoring.intraday_scores") == before
        assert wh.scalar("select count(*) from ops.inbox_events where rescored_at is null") == 0
