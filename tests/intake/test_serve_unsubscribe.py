"""Unsubscribe and preferences links against a running `leadflow serve`: the page, RFC 8058 one-click,
bad tokens, rotation, and an access log without tokens or addresses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadflow.config import load_settings
from leadflow.intake.tokens import make_token
from leadflow.nurture.send import preferences_url, unsubscribe_url
from tests.intake.serve_process import LINK_SECRET, ROOT, inbox_rows

ADDRESS = "taro.yamada@sample-seisakusho.example"


def _path_and_query(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def link(service, lead="L-1", locale="ja", send_key="s-L-1-cold-1", monkeypatch=None) -> str:
    """The unsubscribe URL `nurture` puts in an email, pointed at the running service."""
    settings = load_settings(service.config)
    return service.url + _path_and_query(
        unsubscribe_url(lead, settings, locale=locale, email=ADDRESS, send_key=send_key)
    )


@pytest.fixture(autouse=True)
def _link_secret(monkeypatch):
    monkeypatch.setenv("LEADFLOW_LINK_SECRET", LINK_SECRET)
    monkeypatch.delenv("LEADFLOW_LINK_SECRET_PREVIOUS", raising=False)


@pytest.mark.parametrize(
    ("locale", "words"), [("ja", ["配信停止の確認", "配信を停止する"]), ("en", ["Confirm unsubscribe", "Unsubscribe"])]
)
def test_the_page_speaks_the_leads_language_and_shows_only_a_masked_address(start_service, locale, words):
    service = start_service()
    response = httpx.get(link(service, locale=locale))
    assert response.status_code == 200
    html = response.text
    assert f'<html lang="{locale}">' in html
    assert all(w in html for w in words)
    assert "t***@s***.example" in html
    assert ADDRESS not in html and "yamada" not in html
    assert "<script" not in html.lower()
    assert '<form method="post"' in html
    assert "script-src" not in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    # looking is not unsubscribing (link scanners and prefetchers GET every link)
    assert inbox_rows(service) == []


def test_one_click_post_unsubscribes_at_once_and_twice_is_once(service):
    url = link(service)
    for _ in range(2):
        response = httpx.post(
            url,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
    rows = inbox_rows(service)
    assert [(kind, key) for kind, key, _ in rows] == [("unsubscribe", "L-1")]
    payload = rows[0][2]
    assert payload["lead_id"] == "L-1"
    assert payload["send_key"] == "s-L-1-cold-1"
    assert (payload["method"], payload["source"]) == ("one_click", "list_unsubscribe")


def test_one_click_as_multipart_form_data_works_too(start_service):
    service = start_service()
    response = httpx.post(link(service, lead="L-2"), files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert [key for _, key, _ in inbox_rows(service)] == ["L-2"]


def test_the_pages_own_form_unsubscribes_and_confirms_in_the_leads_language(start_service):
    service = start_service()
    page = httpx.get(link(service, locale="en"))
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    base = link(service, locale="en").split("?", 1)[0]
    done = httpx.post(base + action, data={"source": "page"})
    assert done.status_code == 200
    assert "You are unsubscribed" in done.text and "t***@s***.example" in done.text
    [(_, _, payload)] = inbox_rows(service)
    assert (payload["method"], payload["source"]) == ("page", "link")


def test_the_preferences_link_is_signed_and_can_stop_all_marketing_email(start_service):
    service = start_service()
    settings = load_settings(service.config)
    url = service.url + _path_and_query(preferences_url("L-3", settings, locale="ja", email=ADDRESS))
    page = httpx.get(url)
    assert page.status_code == 200 and "メール配信設定" in page.text
    assert httpx.get(url.replace("/preferences?", "/unsubscribe?")).status_code == 400  # not an unsubscribe token
    assert httpx.post(url, data={"source": "page"}).status_code == 200
    [(_, key, payload)] = inbox_rows(service)
    assert (key, payload["source"]) == ("L-3", "preferences")


def _variants(token: str) -> dict[str, str]:
    payload, sig = token.split(".")
    flipped = ("A" if payload[5] != "A" else "B").join((payload[:5], payload[6:]))
    day = (datetime.now(UTC).date() - datetime(1970, 1, 1, tzinfo=UTC).date()).days
    return {
        "tampered": f"{flipped}.{sig}",
        "truncated": token[:-3],
        "cut in half": token[: len(token) // 2],
        "foreign secret": make_token("unsubscribe", "L-1", locale="ja", email=ADDRESS, secret="someone-else"),
        "empty": "",
        "garbage": "<script>alert(1)</script>",
        "future": make_token(
            "unsubscribe",
            "L-1",
            locale="ja",
            email=ADDRESS,
            secret=LINK_SECRET,
            issued=datetime(1970, 1, 1, tzinfo=UTC).date() + timedelta(days=day + 30),
        ),
    }


def test_bad_tokens_get_a_4xx_page_that_reveals_nothing(start_service):
    service = start_service()
    good = link(service)
    base, token = good.split("?token=")
    bodies = set()
    for name, variant in _variants(token).items():
        for method in ("GET", "POST"):
            response = httpx.request(method, f"{base}?token={variant}", content=b"List-Unsubscribe=One-Click")
            assert response.status_code == 400, name
            assert "L-1" not in response.text and "t***" not in response.text, name
            bodies.add(response.text)
    missing = httpx.get(base)
    assert missing.status_code == 400
    bodies.add(missing.text)
    assert len(bodies) == 1  # one page for every failure: it tells an attacker nothing
    assert inbox_rows(service) == []


def test_an_expired_link_gets_a_410_page_in_the_leads_language(start_service):
    service = start_service(intake={"link_max_age_days": 60})
    old = make_token(
        "unsubscribe",
        "L-1",
        locale="en",
        email=ADDRESS,
        secret=LINK_SECRET,
        issued=datetime.now(UTC).date() - timedelta(days=61),
    )
    fresh_enough = make_token(
        "unsubscribe",
        "L-9",
        locale="en",
        email=ADDRESS,
        secret=LINK_SECRET,
        issued=datetime.now(UTC).date() - timedelta(days=60),
    )
    response = httpx.post(f"{service.url}/unsubscribe?token={old}", content=b"List-Unsubscribe=One-Click")
    assert response.status_code == 410
    assert "This link has expired" in response.text and "L-1" not in response.text
    assert httpx.post(f"{service.url}/unsubscribe?token={fresh_enough}").status_code == 200
    assert [key for _, key, _ in inbox_rows(service)] == ["L-9"]


def test_links_signed_before_a_rotation_keep_working(start_service, tmp_path):
    before = make_token("unsubscribe", "L-old", locale="ja", email=ADDRESS, secret="the-old-secret")
    rotated = start_service(
        env={"LEADFLOW_LINK_SECRET": "the-new-secret", "LEADFLOW_LINK_SECRET_PREVIOUS": "the-old-secret"},
        home=tmp_path / "rotated",
    )
    assert httpx.get(f"{rotated.url}/unsubscribe?token={before}").status_code == 200
    assert httpx.post(f"{rotated.url}/unsubscribe?token={before}").status_code == 200
    assert [key for _, key, _ in inbox_rows(rotated)] == ["L-old"]
    dropped = start_service(env={"LEADFLOW_LINK_SECRET": "the-new-secret"}, home=tmp_path / "dropped")
    assert httpx.get(f"{dropped.url}/unsubscribe?token={before}").status_code == 400


def test_the_access_log_has_no_token_query_string_or_address(start_service):
    service = start_service()
    url = link(service)
    token = url.split("token=", 1)[1]
    httpx.get(url)
    httpx.post(url, content=b"List-Unsubscribe=One-Click")
    httpx.get(f"{service.url}/{ADDRESS}?email={ADDRESS}")
    service.stop()  # flushes and closes the log
    text = (service.home / "access.jsonl").read_text(encoding="utf-8")
    entries = service.access_log()
    assert [(e["method"], e["path"], e["status"]) for e in entries if e["path"] != "/healthz"] == [
        ("GET", "/unsubscribe", 200),
        ("POST", "/unsubscribe", 200),
        ("GET", "(other)", 404),
    ]
    for secret in (token, token[:20], "token=", ADDRESS, "yamada", "?"):
        assert secret not in text
    assert ROOT.name  # (the log is JSON lines, one per request)
