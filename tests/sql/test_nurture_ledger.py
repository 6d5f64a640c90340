"""The send ledger end to end on both backends: plan → render gate → claim → send → mark, against the
file outbox and the local SendGrid-compatible server, through every failure the ledger must survive."""

from __future__ import annotations

import shutil
from concurrent.futures import as_completed
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from leadflow.nurture import send as send_module
from leadflow.nurture.mailer import SendGridMailer, SendResult
from leadflow.nurture.plan import plan_sends
from leadflow.nurture.send import (
    RenderFailed,
    _batch_of,
    _claim_many,
    check_renders,
    ledger_report,
    send_batch,
    send_batches,
    send_planned,
)
from leadflow.nurture.suppressions import sync_suppressions
from tests.fixtures.sendgrid_server import Fault, SendGridServer
from tests.sql.rows import add_leads, lead_id

AS_OF = date(2026, 11, 18)  # a Wednesday, in the past: every planned send is due now
API_KEY = "SG.ledger-test-key"
ROOT = Path(__file__).resolve().parents[2]


def add_events(wh, crm_id: str, *events: tuple[str, str]) -> None:
    """Events (event_type, local Tokyo date 'YYYY-MM-DD') for one lead."""
    rows = [
        {
            "event_id": f"{crm_id}-{n}-{etype}-{day}",
            "lead_id": lead_id(crm_id),
            "event_type": etype,
            "occurred_at": datetime.fromisoformat(f"{day}T10:00:00+09:00"),
            "event_date": pd.Timestamp(day).date(),
            "url": None,
            "asset": None,
            "_batch_id": day,
        }
        for n, (etype, day) in enumerate(events)
    ]
    wh.load_df("core.events", pd.DataFrame(rows))


def cold_leads(wh, *crm_ids: str, stage: str = "cold", entered_on: date = AS_OF, **fields) -> None:
    """Leads in `stage` since `entered_on` (the nightly DAG's output the nurture DAG reads)."""
    add_leads(wh, *({"crm_id": c, **fields} for c in crm_ids))
    stages = pd.DataFrame(
        [
            {
                "lead_id": lead_id(c),
                "stage": stage,
                "entered_on": entered_on,
                "as_of_date": entered_on,
                "reason": "test",
                "rules_version": "t",
            }
            for c in crm_ids
        ]
    )
    wh.load_df("lifecycle.lead_stages", stages)


def ledger(wh) -> dict[str, str]:
    return dict(wh.fetchall("select send_key, status from nurture.email_sends order by send_key"))


@pytest.fixture
def sg():
    with SendGridServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def sg_settings(settings, monkeypatch):
    monkeypatch.setenv("LEADFLOW_LINK_SECRET", "ledger-test-secret")
    # Weekdays around the clock, no holidays: on whatever day the tests run, every planned send is due
    # within SendGrid's 72 h (send windows have their own tests in test_nurture_windows.py).
    anytime = settings.nurture.model_copy(update={"business_hours": (0, 24), "holiday_countries": ()})
    mailer = settings.mailer.model_copy(update={"kind": "sendgrid"})
    return settings.model_copy(update={"mailer": mailer, "nurture": anytime})


def mailer(sg, settings, timeout: float = 2.0) -> SendGridMailer:
    return SendGridMailer(API_KEY, settings.mailer, host=sg.url, timeout=timeout)


def no_sleep(waits: list[float]):
    return waits.append


# --------------------------------------------------------------------------- reruns, clears, backfills


def test_rerun_clear_and_backfill_of_a_date_send_nothing_twice(wh, settings):
    cold_leads(wh, "C1", "C2", "C3")
    assert plan_sends(wh, settings, AS_OF)["planned"] == 3
    first = send_planned(wh, settings, AS_OF)
    assert first["sent"] == 3
    outbox = sorted(p.name for p in settings.path(settings.mailer.outbox).glob("*.eml"))
    sent = ledger(wh)

    # rerun (and "clear" = every task of the date again): the ledger already has each send key
    assert plan_sends(wh, settings, AS_OF)["planned"] == 0
    assert send_planned(wh, settings, AS_OF)["sent"] == 0
    # the next day runs, then the old date is backfilled: still nothing new for that date
    plan_sends(wh, settings, AS_OF + timedelta(days=1))
    send_planned(wh, settings, AS_OF + timedelta(days=1))
    assert plan_sends(wh, settings, AS_OF)["planned"] == 0
    assert send_planned(wh, settings, AS_OF)["sent"] == 0
    assert {k: v for k, v in ledger(wh).items() if k in sent} == sent
    assert sorted(p.name for p in settings.path(settings.mailer.outbox).glob("*.eml")) == outbox


def test_sendgrid_rerun_of_the_same_date_sends_zero_extra_emails(wh, sg_settings, sg):
    cold_leads(wh, "S1", "S2")
    plan_sends(wh, sg_settings, AS_OF)
    assert send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))["sent"] == 2
    plan_sends(wh, sg_settings, AS_OF)
    send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    assert len(sg.messages) == 2
    ids = dict(wh.fetchall("select send_key, message_id from nurture.email_sends"))
    assert sorted(ids.values()) == sorted(m.message_id for m in sg.messages)  # X-Message-Id kept


# --------------------------------------------------------------------------- failure matrix


def test_a_429_storm_waits_for_the_reset_and_sends_each_email_once(wh, sg_settings, sg):
    cold_leads(wh, "R1", "R2")
    plan_sends(wh, sg_settings, AS_OF)
    sg.script(*(Fault.rate_limited(reset_in=30, path="/v3/mail/send") for _ in range(3)))
    waits: list[float] = []
    counts = send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings), concurrency=1, sleep=no_sleep(waits))
    assert counts["sent"] == 2 and len(sg.messages) == 2
    # three 429s, each answered by waiting until X-RateLimit-Reset (30 s, give or take the clock tick)
    assert len(waits) == 3 and all(28 <= w <= 31 for w in waits)


def test_a_429_storm_longer_than_the_budget_leaves_the_email_planned_for_a_later_run(wh, sg_settings, sg):
    cold_leads(wh, "R3")
    plan_sends(wh, sg_settings, AS_OF)
    sg.script(*(Fault.rate_limited(reset_in=30, path="/v3/mail/send") for _ in range(5)))
    waits: list[float] = []
    counts = send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings), sleep=no_sleep(waits))
    assert counts["sent"] == 0 and counts["deferred"] == 1 and len(waits) == 4  # 5 tries, bounded
    assert list(ledger(wh).values()) == ["planned"]  # SendGrid never accepted it: safe to resume
    assert send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))["sent"] == 1
    assert len(sg.messages) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_becomes_unknown_and_is_never_resent(wh, sg_settings, sg, status):
    cold_leads(wh, "E1")
    plan_sends(wh, sg_settings, AS_OF)
    sg.script(Fault.server_error(status, path="/v3/mail/send"))
    counts = send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    assert counts["unknown"] == 1
    send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    plan_sends(wh, sg_settings, AS_OF)
    send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    assert list(ledger(wh).values()) == ["unknown"]
    assert len([r for r in sg.requests if r.path == "/v3/mail/send"]) == 1
    assert ledger_report(wh, sg_settings, AS_OF)["attention"] == [f"{lead_id('E1')}:cold:{AS_OF}:1"]


def test_a_read_timeout_after_the_body_was_sent_is_unknown_not_resent(wh, sg_settings, sg):
    cold_leads(wh, "T1")
    plan_sends(wh, sg_settings, AS_OF)
    sg.script(Fault.read_timeout(hang_seconds=5))
    counts = send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings, timeout=0.3))
    assert counts["unknown"] == 1
    assert len(sg.messages) == 1  # SendGrid has it ...
    send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    assert len(sg.messages) == 1  # ... so the rerun does not send it again
    assert list(ledger(wh).values()) == ["unknown"]


def test_one_400_in_a_batch_fails_that_email_only(wh, sg_settings, sg):
    cold_leads(wh, "B1", "B2", "B3")
    plan_sends(wh, sg_settings, AS_OF)
    sg.script(Fault.bad_request("Does not contain a valid address.", "personalizations.0.to.0.email"))
    counts = send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings), concurrency=1)
    assert (counts["sent"], counts["failed"]) == (2, 1)
    statuses = sorted(ledger(wh).values())
    assert statuses == ["failed", "sent", "sent"]
    error = wh.scalar("select error from nurture.email_sends where status = 'failed'")
    assert "valid address" in error
    send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))  # a refused email is not retried
    assert len(sg.messages) == 2


def test_a_worker_killed_between_claim_and_mark_leaves_unknown_never_resent(wh, sg_settings, sg):
    cold_leads(wh, "K1", "K2")
    plan_sends(wh, sg_settings, AS_OF)
    killed = f"{lead_id('K1')}:cold:{AS_OF}:1"
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    assert _claim_many(wh, [killed], long_ago) == {killed}  # committed claim; the process died before the mark
    counts = send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    assert counts["stale"] == 1 and counts["sent"] == 1
    assert ledger(wh)[killed] == "unknown"
    assert [m.payload["custom_args"]["send_key"] for m in sg.messages] == [f"{lead_id('K2')}:cold:{AS_OF}:1"]
    assert killed in ledger_report(wh, sg_settings, AS_OF)["attention"]


def test_a_fresh_claim_of_another_worker_is_left_alone(wh, sg_settings, sg):
    cold_leads(wh, "K3")
    plan_sends(wh, sg_settings, AS_OF)
    key = f"{lead_id('K3')}:cold:{AS_OF}:1"
    assert _claim_many(wh, [key], datetime.now(UTC)) == {key}
    assert _claim_many(wh, [key], datetime.now(UTC)) == set()  # a claim is exclusive
    counts = send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    assert counts["stale"] == 0 and ledger(wh)[key] == "claimed" and not sg.messages


def test_each_window_is_claimed_before_its_sends_and_marked_after_them_with_at_most_two_open(wh, settings, monkeypatch):
    cold_leads(wh, *(f"W{n}" for n in range(5)))
    plan_sends(wh, settings, AS_OF)
    events: list[tuple[str, tuple[str, ...]]] = []  # appended from the main thread and the send threads
    real_claim, real_mark = send_module._claim_many, send_module._mark

    def claim(wh_, keys, now):
        events.append(("claim", tuple(keys)))
        return real_claim(wh_, keys, now)

    def mark(wh_, outcomes):
        events.append(("mark", tuple(key for key, _ in outcomes)))
        real_mark(wh_, outcomes)

    class Recorder:
        def send(self, email):
            events.append(("send", (email.send_key,)))
            return SendResult("sent", f"id-{email.send_key}", None)

    monkeypatch.setattr(send_module, "_claim_many", claim)
    monkeypatch.setattr(send_module, "_mark", mark)
    counts = send_planned(wh, settings, AS_OF, Recorder(), concurrency=2)
    assert counts["sent"] == 5
    claims = [keys for kind, keys in events if kind == "claim"]
    marks = [keys for kind, keys in events if kind == "mark"]
    assert [len(k) for k in claims] == [2, 2, 1]  # one statement per window, each way
    assert [set(k) for k in marks] == [set(k) for k in claims]
    at = {(kind, key): i for i, (kind, keys) in enumerate(events) for key in keys}
    for key in ledger(wh):
        assert at["claim", key] < at["send", key] < at["mark", key]
    # pipelined: the next window is claimed before this one is marked, never a third before it
    open_keys: set[str] = set()
    most_open = 0
    for kind, keys in events:
        if kind == "claim":
            open_keys |= set(keys)
        elif kind == "mark":
            open_keys -= set(keys)
        most_open = max(most_open, len(open_keys))
    assert most_open == 4
    assert set(ledger(wh).values()) == {"sent"}
    ids = dict(wh.fetchall("select send_key, message_id from nurture.email_sends"))
    assert ids == {key: f"id-{key}" for key in ids}


def test_when_the_run_stops_the_window_in_flight_stays_claimed_and_the_next_goes_back_to_planned(
    wh, settings, monkeypatch
):
    cold_leads(wh, *(f"S{n}" for n in range(4)))
    plan_sends(wh, settings, AS_OF)
    waits = 0

    def killed_while_waiting(futures):
        nonlocal waits
        waits += 1
        if futures:  # the first window's calls are in flight and the second window is claimed
            raise RuntimeError("the task was killed")
        return as_completed(futures)

    class Sender:
        def send(self, email):
            return SendResult("sent", "ok", None)

    monkeypatch.setattr(send_module, "as_completed", killed_while_waiting)
    with pytest.raises(RuntimeError, match="killed"):
        send_planned(wh, settings, AS_OF, Sender(), concurrency=2)
    # the window in flight may have gone out: it stays claimed (later unknown, never resent); the
    # window claimed but never sent is planned again, for a later run
    assert waits == 2
    assert sorted(ledger(wh).values()) == ["claimed", "claimed", "planned", "planned"]


def test_an_email_that_cannot_be_built_stops_the_run_before_anything_is_claimed(wh, settings, monkeypatch):
    cold_leads(wh, "B1", "B2", "B3")
    plan_sends(wh, settings, AS_OF)
    broken = list(send_module.planned_rows(wh)["send_key"])[-1]  # in the last window
    real_outgoing = send_module._outgoing
    sent: list[str] = []

    def outgoing(row, *args):
        if row["send_key"] == broken:
            raise ValueError("no address to send to")
        return real_outgoing(row, *args)

    class Sender:
        def send(self, email):
            sent.append(email.send_key)
            return SendResult("sent", "ok", None)

    monkeypatch.setattr(send_module, "_outgoing", outgoing)
    with pytest.raises(ValueError, match="no address"):
        send_planned(wh, settings, AS_OF, Sender(), concurrency=1)
    assert sent == [] and set(ledger(wh).values()) == {"planned"}


def test_outcomes_known_before_a_failure_in_the_window_are_still_marked(wh, settings, monkeypatch):
    cold_leads(wh, "F1", "F2")
    plan_sends(wh, settings, AS_OF)
    refused = f"{lead_id('F2')}:cold:{AS_OF}:1"

    class OneRefused:
        def send(self, email):
            if email.send_key == refused:
                return SendResult("failed", None, "429", retry_after=30.0)
            return SendResult("sent", "ok", None)

    def broken_release(*args):
        raise RuntimeError("the warehouse went away")

    def sent_first(futures):  # the window's outcomes in a fixed order: F1's, then the refusal
        return sorted(as_completed(futures), key=lambda future: future.result().retryable)

    monkeypatch.setattr(send_module, "_release", broken_release)
    monkeypatch.setattr(send_module, "as_completed", sent_first)
    with pytest.raises(RuntimeError, match="went away"):
        send_planned(wh, settings, AS_OF, OneRefused(), concurrency=2, sleep=lambda s: None)
    assert ledger(wh) == {f"{lead_id('F1')}:cold:{AS_OF}:1": "sent", refused: "claimed"}


def test_a_lead_unsubscribed_mid_run_gets_nothing_from_later_batches(wh, sg_settings, sg):
    crm_ids = [f"U{n}" for n in range(8)]
    cold_leads(wh, *crm_ids)
    plan_sends(wh, sg_settings, AS_OF)
    keys = {c: f"{lead_id(c)}:cold:{AS_OF}:1" for c in crm_ids}
    batches = [{"index": i, "of": 2} for i in range(2)]
    later = next(c for c in crm_ids if _batch_of(keys[c], 2) == 1)
    m = mailer(sg, sg_settings)
    first = send_batch(wh, sg_settings, AS_OF, batches[0], mailer=m)
    sg.add_suppression("unsubscribes", f"{later.lower()}@example.co.jp")  # clicks unsubscribe now
    second = send_batch(wh, sg_settings, AS_OF, batches[1], mailer=m)
    assert second["cancelled"] == 1
    assert ledger(wh)[keys[later]] == "cancelled"
    sent_to = {m.payload["personalizations"][0]["to"][0]["email"] for m in sg.messages}
    assert f"{later.lower()}@example.co.jp" not in sent_to
    assert first["sent"] + second["sent"] == len(crm_ids) - 1 == len(sg.messages)


def test_group_unsubscribes_are_synced_and_honoured(wh, sg_settings, sg):
    cfg = sg_settings.model_copy(update={"mailer": sg_settings.mailer.model_copy(update={"asm_group_id": 4242})})
    cold_leads(wh, "G1", "G2")
    sg.add_group_suppression(4242, "g1@example.co.jp")
    sg.add_group_suppression(7, "g2@example.co.jp")  # another group: not ours
    assert sync_suppressions(wh, cfg, AS_OF, mailer=mailer(sg, cfg))["synced"] == 1
    assert wh.fetchall("select email, kind from nurture.suppressions") == [("g1@example.co.jp", "group_unsubscribe")]
    plan_sends(wh, cfg, AS_OF)
    send_planned(wh, cfg, AS_OF, mailer(sg, cfg))
    assert [m.payload["personalizations"][0]["to"][0]["email"] for m in sg.messages] == ["g2@example.co.jp"]
    assert sg.messages[0].payload["asm"]["group_id"] == 4242


def test_the_kill_switch_variable_stops_sending(wh, sg_settings, sg, monkeypatch):
    cold_leads(wh, "V1")
    plan_sends(wh, sg_settings, AS_OF)
    monkeypatch.setenv("AIRFLOW_VAR_LEADFLOW_SENDING_ENABLED", "false")
    counts = send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    assert counts["switched_off"] and counts["deferred"] == 1 and not sg.messages
    monkeypatch.setenv("AIRFLOW_VAR_LEADFLOW_SENDING_ENABLED", "true")
    assert send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))["sent"] == 1


def test_sends_fan_out_over_stable_batches_that_cover_every_planned_send(wh, settings):
    cold_leads(wh, *(f"F{n}" for n in range(5)))
    plan_sends(wh, settings, AS_OF)
    batches = send_batches(wh, settings, AS_OF)
    assert batches == [{"index": 0, "of": 1}]  # 5 sends fit one batch of 500
    assert send_planned(wh, settings, AS_OF, batch=batches[0])["sent"] == 5
    assert send_batches(wh, settings, AS_OF) == []  # nothing planned: the mapped task is skipped


# --------------------------------------------------------------------------- untrusted data and templates


HOSTILE = {
    "first_name": "{{7*7}}",
    "last_name": "<script>alert(1)</script>",
    "company": "Evil Corp\r\nBcc: victim@example.com",
    "locale": "en",
}


def test_hostile_crm_names_arrive_literal_and_escaped(wh, sg_settings, sg):
    cold_leads(wh, "H1", **HOSTILE)  # marketing email to the lead
    cold_leads(wh, "H2", stage="hot", **HOSTILE)  # its owner's alert shows every field
    plan_sends(wh, sg_settings, AS_OF)
    send_planned(wh, sg_settings, AS_OF, mailer(sg, sg_settings))
    by_track = {m.payload["custom_args"]["send_key"].split(":")[1]: m.payload for m in sg.messages}
    assert set(by_track) == {"cold", "owner_alert"}
    lead_mail, alert = by_track["cold"], by_track["owner_alert"]
    to_name = lead_mail["personalizations"][0]["to"][0]["name"]
    assert "\r" not in to_name and "\n" not in to_name  # CR/LF never reach a header
    assert lead_mail["subject"].startswith("{{7*7}}, ")  # literal, never evaluated to 49
    subject = alert["subject"]
    assert "\r" not in subject and "\n" not in subject and "{{7*7}}" in subject
    html, text = ({c["type"]: c["value"] for c in alert["content"]}[t] for t in ("text/html", "text/plain"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "<script>alert(1)</script>" in text and "{{7*7}}" in html and "{{7*7}}" in text


def test_a_typo_in_a_template_fails_the_run_before_anything_is_sent(wh, sg_settings, sg, tmp_path):
    templates = tmp_path / "email_templates"
    shutil.copytree(ROOT / "email_templates", templates)
    body = templates / "cold_industry_trends" / "ja" / "body.html"
    body.write_text(
        body.read_text(encoding="utf-8").replace("sender.from_name", "sender.from_nmae", 1), encoding="utf-8"
    )
    cfg = sg_settings.model_copy(update={"templates": templates})
    cold_leads(wh, "Y1")
    plan_sends(wh, cfg, AS_OF)
    with pytest.raises(RenderFailed, match="from_nmae"):
        check_renders(wh, cfg, AS_OF)
    with pytest.raises(RenderFailed):
        send_planned(wh, cfg, AS_OF, mailer(sg, cfg))
    assert not sg.requests and list(ledger(wh).values()) == ["planned"]
