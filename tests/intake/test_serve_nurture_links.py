"""The links a real nurture run puts in an email work against a running `leadflow serve`."""

from __future__ import annotations

import re
from datetime import date

import httpx

from leadflow.nurture.mailer import SendGridMailer
from leadflow.nurture.plan import plan_sends
from leadflow.nurture.send import send_planned
from tests.fixtures.sendgrid_server import SendGridServer
from tests.intake.serve_process import inbox_rows
from tests.sql.rows import lead_id
from tests.sql.test_nurture_ledger import cold_leads

AS_OF = date(2026, 11, 18)
SECRET = "nurture-link-secret-0123456789"  # noqa: S105 — test value


def _headers(payload: dict) -> dict[str, str]:
    found = dict(payload.get("headers") or {})
    for pers in payload.get("personalizations") or []:
        found.update(pers.get("headers") or {})
    return found


def test_one_click_from_an_email_sent_by_nurture_unsubscribes_that_lead(wh, settings, start_service, monkeypatch):
    monkeypatch.setenv("LEADFLOW_LINK_SECRET", SECRET)
    real = settings.model_copy(update={"mailer": settings.mailer.model_copy(update={"kind": "sendgrid"})})
    cold_leads(wh, "C1", locale="en", email="jane.doe@example.com")
    assert plan_sends(wh, real, AS_OF)["planned"] == 1
    with SendGridServer(api_key="SG.t") as sg:
        mailer = SendGridMailer("SG.t", real.mailer, host=sg.url)
        try:
            assert send_planned(wh, real, AS_OF, mailer=mailer)["sent"] == 1
        finally:
            mailer.close()
        [message] = sg.messages
    headers = _headers(message.payload)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(https://leadflow\.example/unsubscribe\?token=[A-Za-z0-9_.-]+)>", headers["List-Unsubscribe"])
    assert url, headers["List-Unsubscribe"]
    [(send_key,)] = wh.fetchall("select send_key from nurture.email_sends")

    service = start_service(mailer={"kind": "sendgrid"}, env={"LEADFLOW_LINK_SECRET": SECRET})
    local = url.group(1).replace("https://leadflow.example", service.url)
    page = httpx.get(local)
    assert page.status_code == 200 and "j***@e***.com" in page.text and "jane.doe" not in page.text
    assert "Confirm unsubscribe" in page.text  # the lead's locale
    # what Gmail and Yahoo do when the recipient presses "Unsubscribe"
    one_click = httpx.post(local, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    [(kind, key, payload)] = inbox_rows(service)
    assert (kind, key) == ("unsubscribe", lead_id("C1"))
    assert payload["send_key"] == send_key and payload["source"] == "list_unsubscribe"
    # the preferences link of the email's body is signed too and opens the preferences page
    html = next(c["value"] for c in message.payload["content"] if c["type"] == "text/html")
    prefs = re.search(r'href="(https://leadflow\.example/preferences\?token=[^"]+)"', html)
    assert prefs, "the email links to the signed preferences page"
    opened = httpx.get(prefs.group(1).replace("&amp;", "&").replace("https://leadflow.example", service.url))
    assert opened.status_code == 200 and "Email preferences" in opened.text
