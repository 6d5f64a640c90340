"""leadflow_intake's apply step on both backends: each kind applied once, alerts sent once, bad records
quarantined with a reason, opens and clicks scored by the next night exactly once."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from leadflow.intake.apply import ALERT_MARK, alert_key, apply_inbox, send_owner_alerts
from leadflow.intake.inbox import InboxRecord, load_records
from leadflow.nurture.plan import plan_sends
from leadflow.nurture.send import send_planned
from leadflow.pipeline import model_params, score
from leadflow.scoring import rebuild_scores
from tests.sql.rows import add_leads, lead_id

NOW = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo: the intake's events land in batch 2026-11-18
TODAY = date(2026, 11, 18)


def unsubscribe(crm_id: str, method: str = "one_click") -> InboxRecord:
    lid = lead_id(crm_id)
    return InboxRecord("unsubscribe", lid, {"lead_id": lid, "method": method, "source": "test"}, NOW)


def sg_event(event_id: str, event: str, email: str, send_key: str | None = None, **extra) -> InboxRecord:
    payload = {
        "email": email,
        "timestamp": int((NOW - timedelta(minutes=5)).timestamp()),
        "event": event,
        "sg_event_id": event_id,
        "sg_message_id": "msg.1",
        **extra,
    }
    if send_key:
        payload["send_key"] = send_key  # SendGrid flattens custom_args into the event object
    return InboxRecord("sendgrid_event", event_id, payload, NOW)


def web_event(event_id: str, crm_id: str, event_type: str, **extra) -> InboxRecord:
    payload = {
        "event_id": event_id,
        "crm_id": crm_id,
        "event_type": event_type,
        "occurred_at": "2026-11-18T11:50:00+09:00",
        "url": "https://www.example.jp/demo",
        "properties": {},
        **extra,
    }
    return InboxRecord("web_event", event_id, payload, NOW)


def add_send(wh, key: str, crm_id: str, status: str, kind: str = "marketing") -> None:
    row = {
        "send_key": key,
        "lead_id": lead_id(crm_id),
        "as_of_date": TODAY - timedelta(days=1),
        "track": "cold" if kind == "marketing" else "owner_alert",
        "step": 1,
        "enrolled_on": None,
        "template": "cold_industry_trends" if kind == "marketing" else "hot_owner_alert",
        "kind": kind,
        "locale": "ja",
        "to_email": f"{crm_id.lower()}@example.co.jp" if kind == "marketing" else "rep@leadflow.example",
        "status": status,
        "send_at": NOW + timedelta(days=1) if status == "planned" else None,
        "message_id": None,
        "error": None,
        "planned_at": NOW - timedelta(days=1),
        "claimed_at": None,
        "finished_at": None,
    }
    frame = pd.DataFrame([row]).astype(object)
    wh.load_df("nurture.email_sends", frame.where(frame.notna(), None))


def ledger(wh) -> dict[str, str]:
    return dict(wh.fetchall("select send_key, status from nurture.email_sends order by send_key"))


def outcomes(wh) -> dict[str, str]:
    return dict(wh.fetchall("select dedupe_key, outcome from ops.inbox order by dedupe_key"))


def suppressed(wh) -> dict[str, str]:
    return dict(wh.fetchall("select email, kind from nurture.suppressions order by email"))


# --------------------------------------------------------------------------- each kind


def test_unsubscribe_suppresses_the_address_and_cancels_undelivered_sends(wh, settings):
    add_leads(wh, {"crm_id": "U1"}, {"crm_id": "U2"})
    add_send(wh, "u1-planned", "U1", "planned")
    add_send(wh, "u1-claimed", "U1", "claimed")
    add_send(wh, "u1-sent", "U1", "sent")
    add_send(wh, "u2-planned", "U2", "planned")
    load_records(wh, [unsubscribe("U1")])

    result = apply_inbox(wh, settings, now=NOW)

    assert (result["applied"], result["cancelled"]) == (1, 2)
    assert suppressed(wh) == {"u1@example.co.jp": "unsubscribe"}
    assert ledger(wh) == {
        "u1-claimed": "cancelled",
        "u1-planned": "cancelled",
        "u1-sent": "sent",
        "u2-planned": "planned",
    }
    assert wh.scalar("select count(*) from ops.inbox where applied_at is not null and apply_run is not null") == 1
    # a repeat delivery and a repeat run change nothing
    load_records(wh, [unsubscribe("U1")])
    assert apply_inbox(wh, settings, now=NOW) == {"pending": 0}
    assert wh.scalar("select count(*) from nurture.suppressions") == 1


def test_sendgrid_events_suppress_settle_and_record_engagement(wh, settings):
    add_leads(wh, {"crm_id": "B1"}, {"crm_id": "D1"}, {"crm_id": "S1"}, {"crm_id": "O1"}, {"crm_id": "G1"})
    add_send(wh, "b1-sent", "B1", "sent")
    add_send(wh, "b1-next", "B1", "planned")  # the bounced lead's next email
    add_send(wh, "d1-unknown", "D1", "unknown")
    add_send(wh, "d1-dropped", "D1", "unknown")
    add_send(wh, "o1-sent", "O1", "sent")
    add_send(wh, "o1-alert", "O1", "sent", kind="internal")
    load_records(
        wh,
        [
            sg_event("ev-bounce", "bounce", "b1@example.co.jp", "b1-sent", type="bounce", reason="550 no such user"),
            sg_event("ev-delivered", "delivered", "d1@example.co.jp", "d1-unknown"),
            sg_event("ev-dropped", "dropped", "d1@example.co.jp", "d1-dropped", reason="Invalid"),
            sg_event("ev-spam", "spamreport", "s1@example.co.jp"),  # no send_key: resolved by the address
            sg_event("ev-blocked", "bounce", "g1@example.co.jp", type="blocked", reason="blocked"),
            sg_event("ev-open", "open", "o1@example.co.jp", "o1-sent", sg_machine_open=False),
            sg_event("ev-mpp", "open", "o1@example.co.jp", "o1-sent", sg_machine_open=True),
            sg_event("ev-click", "click", "O1@Example.co.jp", url="https://www.example.jp/pricing"),
            sg_event("ev-owner-open", "open", "rep@leadflow.example", "o1-alert"),  # the owner reading an alert
            sg_event("ev-deferred", "deferred", "d1@example.co.jp", "d1-unknown"),
        ],
    )

    result = apply_inbox(wh, settings, now=NOW)

    assert result["quarantined"] == 0, wh.fetchall("select reason from ops.quarantine")
    assert suppressed(wh) == {
        "b1@example.co.jp": "bounce",
        "g1@example.co.jp": "block",
        "s1@example.co.jp": "spam_report",
    }
    assert ledger(wh) == {
        "b1-next": "cancelled",  # the bounced lead's planned send
        "b1-sent": "bounced",
        "d1-dropped": "failed",
        "d1-unknown": "sent",  # an unknown send settled by its delivered event
        "o1-alert": "sent",
        "o1-sent": "sent",
    }
    events = wh.fetchall("select event_id, lead_id, event_type, url, _batch_id from core.events order by event_id")
    o1 = lead_id("O1")
    assert events == [
        ("sendgrid:ev-click", o1, "email_click", "https://www.example.jp/pricing", "2026-11-18"),
        ("sendgrid:ev-mpp", o1, "email_machine_open", None, "2026-11-18"),
        ("sendgrid:ev-open", o1, "email_open", None, "2026-11-18"),
    ]
    assert "internal" in outcomes(wh)["ev-owner-open"]
    assert outcomes(wh)["ev-deferred"].startswith("ignored")
    # nothing is ever resent by this path, and a second run has nothing to do
    assert wh.scalar("select count(*) from nurture.email_sends where status = 'planned'") == 0
    assert apply_inbox(wh, settings, now=NOW) == {"pending": 0}


def test_group_resubscribe_removes_only_the_group_unsubscribe(wh, settings):
    add_leads(wh, {"crm_id": "R1"})
    load_records(wh, [sg_event("g-unsub", "group_unsubscribe", "r1@example.co.jp", asm_group_id=1)])
    apply_inbox(wh, settings, now=NOW)
    assert suppressed(wh) == {"r1@example.co.jp": "group_unsubscribe"}
    load_records(wh, [sg_event("g-resub", "group_resubscribe", "r1@example.co.jp", asm_group_id=1)])
    apply_inbox(wh, settings, now=NOW + timedelta(minutes=5))
    assert suppressed(wh) == {}


# --------------------------------------------------------------------------- hand-raisers


def test_a_hand_raise_alerts_the_owner_once_at_once(wh, settings):
    add_leads(wh, {"crm_id": "H1", "owner_email": "owner@leadflow.example"}, {"crm_id": "H2", "owner_email": None})
    load_records(wh, [web_event("w-demo", "H1", "demo_request"), web_event("w-quote", "H2", "quote_request")])

    result = apply_inbox(wh, settings, now=NOW)
    assert result["alerts"] == 2 and result["events"] == 2
    key = alert_key(lead_id("H1"), "w-demo")
    assert ledger(wh) == {key: "planned"}  # H2 has no owner: no alert, and the outcome says so
    assert "no owner" in outcomes(wh)["w-quote"]

    sent = send_owner_alerts(wh, settings)
    assert sent["sent"] == 1
    outbox = list(settings.path(settings.mailer.outbox).glob("*.eml"))
    assert [p.stem for p in outbox] == [key]
    body = outbox[0].read_text()
    assert "owner@leadflow.example" in body
    # a repeat delivery, a repeat apply and a repeat send: still one alert
    load_records(wh, [web_event("w-demo", "H1", "demo_request")])
    apply_inbox(wh, settings, now=NOW)
    send_owner_alerts(wh, settings)
    assert len(list(settings.path(settings.mailer.outbox).glob("*.eml"))) == 1
    assert ledger(wh) == {key: "sent"}


def test_the_nightly_does_not_alert_again_for_a_hand_raise_the_intake_alerted(wh, settings):
    add_leads(wh, {"crm_id": "N1"}, {"crm_id": "N2"})
    load_records(wh, [web_event("n1-form", "N1", "contact_form")])
    apply_inbox(wh, settings, now=NOW)
    send_owner_alerts(wh, settings)
    # the next night both leads enter hot; only N2 (not alerted by the intake) gets the nightly alert
    stages = pd.DataFrame(
        [
            {
                "lead_id": lead_id(c),
                "stage": "hot",
                "entered_on": TODAY,
                "as_of_date": TODAY,
                "reason": "t",
                "rules_version": "t",
            }
            for c in ("N1", "N2")
        ]
    )
    wh.load_df("lifecycle.lead_stages", stages)
    plan_sends(wh, settings, TODAY)
    alerts = sorted(k for k in ledger(wh) if ":owner_alert:" in k)
    assert alerts == sorted([alert_key(lead_id("N1"), "n1-form"), f"{lead_id('N2')}:owner_alert:{TODAY}"])


# --------------------------------------------------------------------------- validation


def test_hostile_and_unknown_records_are_quarantined_with_reasons(wh, settings):
    add_leads(wh, {"crm_id": "Q1"})
    load_records(
        wh,
        [
            unsubscribe("NOPE"),
            InboxRecord("unsubscribe", "x1", {"lead_id": lead_id("Q1"), "method": "carrier-pigeon"}, NOW),
            sg_event("sg-type", "exploded", "q1@example.co.jp"),
            sg_event("sg-time", "open", "q1@example.co.jp", timestamp="yesterday"),
            sg_event("sg-future", "open", "q1@example.co.jp", timestamp=int((NOW + timedelta(days=2)).timestamp())),
            sg_event("sg-stranger", "open", "stranger@elsewhere.example"),
            sg_event("sg-nokey", "delivered", "q1@example.co.jp"),
            web_event("web-type", "Q1", "telepathy"),
            web_event("web-lead", "NO-SUCH-LEAD", "demo_request"),
            web_event("web-time", "Q1", "page_view", occurred_at="last tuesday"),
        ],
    )
    # a payload that is not a JSON object (written by something other than the service)
    wh.execute(
        "insert into ops.inbox (kind, dedupe_key, received_at, payload, loaded_at) values "
        "('web_event', 'web-junk', :at, '[1, 2', :at)",
        {"at": NOW},
    )

    result = apply_inbox(wh, settings, now=NOW)

    assert result["quarantined"] == 11 and result["applied"] == 0
    reasons = dict(wh.fetchall("select _file, reason from ops.quarantine where source = 'intake'"))
    by_key = {f.rsplit("/", 1)[1]: r for f, r in reasons.items()}
    assert "not a known lead" in by_key[lead_id("NOPE")]
    assert "carrier-pigeon" in by_key["x1"]
    assert "not a SendGrid event type" in by_key["sg-type"]
    assert "not a unix time" in by_key["sg-time"]
    assert "in the future" in by_key["sg-future"]
    assert "not a known lead" in by_key["sg-stranger"]
    assert "nothing in the ledger" in by_key["sg-nokey"]
    assert "event_type" in by_key["web-type"]
    assert "unknown lead" in by_key["web-lead"]
    assert "occurred_at" in by_key["web-time"]
    assert "not a JSON object" in by_key["web-junk"]
    assert wh.scalar("select count(*) from core.events") == 0
    assert wh.scalar("select count(*) from nurture.suppressions") == 0
    # quarantined records are settled (not retried every 5 minutes) and the gate's outcome is kept
    assert wh.scalar("select count(*) from ops.inbox where applied_at is null") == 0
    gate = json.loads(wh.scalar("select summary from ops.validation_results where validation = 'intake_inbox'"))
    assert gate["quarantined"] == 11


# --------------------------------------------------------------------------- scoring


def _engagement(wh, as_of: date) -> dict[str, int]:
    return dict(
        wh.fetchall(
            "select l.crm_id || '/' || f.rule_id, f.occurrences from scoring.score_factors as f "
            "join core.leads as l on l.lead_id = f.lead_id "
            "where f.as_of_date = cast(:d as date) and f.kind = 'engagement' order by 1",
            {"d": as_of.isoformat()},
        )
    )


def test_opens_and_clicks_are_scored_by_the_next_night_exactly_once(wh, settings):
    add_leads(wh, {"crm_id": "E1"})
    add_send(wh, "e1-sent", "E1", "sent")
    # an earlier night already keyed today's batch (a run for today, or a rerun): it must be keyed again
    score(wh, settings, TODAY)
    load_records(
        wh,
        [
            sg_event("o-1", "open", "e1@example.co.jp", "e1-sent"),
            sg_event("o-mpp", "open", "e1@example.co.jp", "e1-sent", sg_machine_open=True),
            sg_event("c-1", "click", "e1@example.co.jp", "e1-sent", url="https://www.example.jp/x"),
        ],
    )
    apply_inbox(wh, settings, now=NOW)

    # the next night: its staging of today's batch (no file events) keeps the intake's events ...
    wh.run_model("staging/stg_events.sql", model_params(settings, TODAY, batch_id=TODAY.isoformat()))
    assert wh.scalar("select count(*) from core.events") == 3
    score(wh, settings, TODAY)
    nightly = _engagement(wh, TODAY)
    # ... and scores one open and one click; the machine open is kept but never scored
    assert nightly == {"E1/email_click": 1, "E1/email_open": 1}
    assert wh.scalar("select count(*) from core.events where event_type = 'email_machine_open'") == 1
    # the night after counts them once again (not twice), and a full rescore agrees
    tomorrow = TODAY + timedelta(days=1)
    score(wh, settings, tomorrow)
    assert _engagement(wh, tomorrow) == nightly
    before = wh.fetchall("select lead_id, total_score from scoring.lead_scores order by as_of_date, lead_id")
    rebuild_scores(wh, settings, [TODAY, tomorrow])
    assert wh.fetchall("select lead_id, total_score from scoring.lead_scores order by as_of_date, lead_id") == before


def test_a_pushed_event_the_file_drop_also_delivers_is_counted_once(wh, settings):
    add_leads(wh, {"crm_id": "F1"})
    load_records(wh, [web_event("dup-1", "F1", "pricing_view")])
    apply_inbox(wh, settings, now=NOW)
    # the same event arrives again in the night's file drop (raw batch of the day): staged once
    raw = pd.DataFrame(
        [
            {
                "event_id": "dup-1",
                "crm_id": "F1",
                "email": None,
                "event_type": "pricing_view",
                "occurred_at": "2026-11-18T11:50:00+09:00",
                "url": "https://www.example.jp/demo",
                "properties": "{}",
                "_batch_id": TODAY.isoformat(),
                "_file": "events_2026-11-18.jsonl",
                "_row": 1,
                "_loaded_at": NOW,
            }
        ]
    ).astype(object)
    wh.load_df("raw.web_events", raw.where(raw.notna(), None))
    wh.run_model("staging/stg_events.sql", model_params(settings, TODAY, batch_id=TODAY.isoformat()))
    assert wh.fetchall("select event_id, _batch_id from core.events") == [("dup-1", TODAY.isoformat())]


# --------------------------------------------------------------------------- end to end


def test_one_click_unsubscribe_of_a_nurtured_lead_stops_its_email(wh, settings):
    """A real nurture run writes an email; its one-click unsubscribe is applied; a rerun sends that lead nothing."""
    from tests.sql.test_nurture_ledger import cold_leads

    as_of = date(2026, 11, 16)
    cold_leads(wh, "P1", "P2", entered_on=as_of)
    plan_sends(wh, settings, as_of)
    send_planned(wh, settings, as_of)
    outbox = settings.path(settings.mailer.outbox)
    written = {p.stem: p.read_bytes() for p in outbox.glob("*.eml")}
    p1_key = next(k for k in written if k.startswith(lead_id("P1")))
    # the email carries a one-click link (List-Unsubscribe); the service resolves its POST to the lead of
    # the email (its send key names the ledger row) and writes this inbox record
    message = email.message_from_bytes(written[p1_key], policy=email.policy.default)
    assert str(message["List-Unsubscribe"]).strip().startswith("<http")
    send_key = str(message["X-Leadflow-Send-Key"]).strip()
    lid = wh.scalar("select lead_id from nurture.email_sends where send_key = :k", {"k": send_key})
    assert lid == lead_id("P1")
    load_records(wh, [InboxRecord("unsubscribe", lid, {"lead_id": lid, "method": "one_click", "source": "test"})])
    apply_inbox(wh, settings)

    # the next step of both tracks is due a few days later: only P2 gets it
    later = as_of + timedelta(days=30)
    plan_sends(wh, settings, later)
    send_planned(wh, settings, later)
    new = sorted(p.stem for p in outbox.glob("*.eml") if p.stem not in written)
    assert new and all(k.startswith(lead_id("P2")) for k in new)
    assert not any(k.startswith(lead_id("P1")) for k, s in ledger(wh).items() if s == "planned")


def test_alert_keys_are_valid_ledger_keys_without_personal_data():
    key = alert_key("0123456789abcdef", "evt with spaces and an@address.example")
    assert ALERT_MARK in key and "@" not in key and " " not in key


@pytest.fixture(autouse=True)
def _no_real_mail(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_LEADFLOW_SENDING_ENABLED", raising=False)


def test_an_opt_out_reaches_the_crm_at_the_next_write_back_and_nothing_else_changes(wh, settings):
    from leadflow.crm.writeback import write_back

    add_leads(wh, {"crm_id": "W1"}, {"crm_id": "W2"})
    common = {"as_of_date": TODAY, "fit_score": 10.0, "engagement_score": 0.0, "total_score": 10.0, "fit_grade": "C"}
    scores = pd.DataFrame(
        [
            {
                "lead_id": lead_id(c),
                **common,
                "score_change_7d": None,
                "heating_up": False,
                "hand_raiser": False,
                "last_activity_date": None,
                "top_reasons": "r",
                "rules_version": "t",
            }
            for c in ("W1", "W2")
        ]
    ).astype(object)
    wh.load_df("scoring.lead_scores", scores.where(scores.notna(), None))
    stages = [
        {"lead_id": lead_id(c), "stage": "cold", "entered_on": TODAY, "as_of_date": TODAY, "reason": "t"}
        for c in ("W1", "W2")
    ]
    wh.load_df("lifecycle.lead_stages", pd.DataFrame(stages).assign(rules_version="t"))
    assert write_back(wh, settings, TODAY)["written"] == 2
    fields = "select crm_id, lead_email_opt_out from crm.lead_fields order by crm_id"
    assert wh.fetchall(fields) == [("W1", False), ("W2", False)]

    load_records(wh, [unsubscribe("W1")])
    apply_inbox(wh, settings, now=NOW)
    assert write_back(wh, settings, TODAY)["written"] == 1  # only the lead that opted out
    assert wh.fetchall(fields) == [("W1", True), ("W2", False)]
    assert write_back(wh, settings, TODAY)["written"] == 0


@pytest.fixture
def slack_webhook(monkeypatch):
    """A local Slack incoming-webhook endpoint (real HTTP) behind the Airflow connection `leadflow_slack`."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 — http.server's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/test"
    monkeypatch.setenv("AIRFLOW_CONN_LEADFLOW_SLACK", json.dumps({"conn_type": "slackwebhook", "password": url}))
    yield received
    server.shutdown()
    server.server_close()


def test_a_hand_raise_is_posted_to_slack_once_where_slack_is_configured(wh, settings, slack_webhook):
    add_leads(wh, {"crm_id": "K1", "owner_email": "owner@leadflow.example", "company": "株式会社スラック"})
    load_records(wh, [web_event("k-demo", "K1", "demo_request")])
    apply_inbox(wh, settings, now=NOW)
    assert send_owner_alerts(wh, settings)["slack"] == 1
    assert send_owner_alerts(wh, settings) == {"alerts": 0}  # nothing planned: nothing posted again
    (message,) = slack_webhook
    assert (
        "株式会社スラック" in message["text"]
        and "K1" in message["text"]
        and "owner@leadflow.example" in message["text"]
    )


def test_without_a_slack_connection_the_email_alert_goes_alone(wh, settings, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_LEADFLOW_SLACK", raising=False)
    add_leads(wh, {"crm_id": "K2"})
    load_records(wh, [web_event("k2-form", "K2", "contact_form")])
    apply_inbox(wh, settings, now=NOW)
    result = send_owner_alerts(wh, settings)
    assert (result["sent"], result["slack"]) == (1, 0)


def test_the_dag_tasks_run_in_an_asset_triggered_run(tmp_path, monkeypatch):
    """A run the Redis watcher starts has no logical date or data interval: every task must still run."""
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    from leadflow.config import settings as cached_settings
    from tests.conftest import ROOT

    config = yaml.safe_load((ROOT / "config" / "leadflow.yml").read_text())
    config["home"] = str(tmp_path)
    for key, default in (("sequences", "config/sequences.yml"), ("templates", "email_templates")):
        config[key] = str(ROOT / config.get(key, default))
    (tmp_path / "leadflow.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    monkeypatch.setenv("LEADFLOW_CONFIG", str(tmp_path / "leadflow.yml"))
    db = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_LEADFLOW_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(db)}))
    cached_settings.cache_clear()
    try:
        dag = DagBag(dag_folder=str(ROOT / "dags" / "leadflow_intake.py")).dags["leadflow_intake"]
        context = {
            "run_id": "asset_triggered__2026-11-18T03:00:00+00:00_test",
            "logical_date": None,
            "data_interval_end": None,
            "triggering_asset_events": {"intake_inbox": []},
            "params": {},
        }
        results = [dag.get_task(t).python_callable(**context) for t in ("load_inbox", "apply_inbox", "alert_owners")]
    finally:
        cached_settings.cache_clear()
    assert results == [{"segments": 0, "lines": 0, "new": 0, "skipped": 0}, {"pending": 0}, {"alerts": 0}]
