"""The report site and the template gallery in a real browser (Debian's chromium, driven by Playwright): every
page of both locales renders its charts without console errors or requests leaving the folder, and the
numbers inside the charts equal SQL written here, apart from sql/report/, on DuckDB and PostgreSQL.

Screenshots of each page go to tests/artifacts/report/<backend>/ (gitignored).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadflow.backfill import run_nightly, run_nurture
from leadflow.demo.generate import generate
from leadflow.report.build import build_report
from leadflow.report.queries import ReportWindow
from leadflow.report.text import LOCALES, PAGES
from leadflow.warehouse import Warehouse, connect
from tests.conftest import _postgres_available

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 22)
COHORT = AS_OF - timedelta(days=35)  # the calibration cohort's night: 30 days back finds it
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "report"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        problem = "Debian's chromium is not installed (make browser installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem}; CI requires it")
        pytest.skip(problem)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _warehouse_uri(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "duckdb":
        yield f"duckdb://{tmp / 'warehouse.duckdb'}"
        return
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem}; CI requires it")
        pytest.skip(problem)
    import psycopg

    from tests.conftest import PG_ADMIN_URI

    name = f"leadflow_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URI, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        yield f"{PG_ADMIN_URI.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URI, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


def _sendgrid_events(wh: Warehouse) -> int:
    """SendGrid webhook events for the night's sent marketing email, as `leadflow serve` lands them in
    ops.inbox: every send delivered, some opened (one by a machine), clicked, one bounce, one spam report."""
    keys = [k for (k,) in wh.fetchall("select send_key from nurture.email_sends where kind = 'marketing' order by 1")]
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    events: list[dict] = []
    for i, key in enumerate(keys):
        events.append({"event": "delivered", "send_key": key})
        if i % 3 == 0:
            events.append({"event": "open", "send_key": key, "sg_machine_open": i % 9 == 0})
        if i % 6 == 0:
            events.append({"event": "click", "send_key": key, "url": "https://leadflow.example/pricing"})
    if keys:
        events.append({"event": "spamreport", "send_key": keys[0]})
        events.append({"event": "bounce", "send_key": keys[-1], "type": "bounce"})
    for n, event in enumerate(events):
        wh.execute(
            "insert into ops.inbox (kind, dedupe_key, received_at, payload, loaded_at)"
            " values ('sendgrid_event', :key, :at, :payload, :at)",
            {"key": f"sg-{n}", "at": now, "payload": json.dumps(event)},
        )
    return len(events)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A small warehouse of two nights five weeks apart (300 generated leads), its nurture run, some
    SendGrid events, and the report for the second night, on each backend."""
    from leadflow.config import load_settings
    from tests.conftest import ROOT

    tmp = tmp_path_factory.mktemp(f"report-{request.param}")
    generate(tmp / "landing", leads=300, days=70, seed=11, end_date=AS_OF, daily_from=COHORT, export_every=35)
    base = load_settings(ROOT / "config" / "leadflow.yml")
    cfg = base.model_copy(
        update={
            "sources": base.sources.model_copy(
                update={
                    "crm": base.sources.crm.model_copy(update={"path": tmp / "landing" / "crm"}),
                    "web": base.sources.web.model_copy(update={"path": tmp / "landing" / "web"}),
                }
            ),
            "mailer": base.mailer.model_copy(update={"outbox": tmp / "outbox"}),
            "home": ROOT,
        }
    )
    for uri in _warehouse_uri(request.param, tmp):
        with connect(uri) as wh:
            run_nightly(wh, cfg, COHORT)
            run_nightly(wh, cfg, AS_OF)
            run_nurture(wh, cfg, AS_OF)
            _sendgrid_events(wh)
            window = ReportWindow(AS_OF, weeks=8, calibration_days=30, timezone=cfg.timezone)
            files = build_report(wh, cfg, window, tmp / "site")
            yield {"backend": request.param, "wh": wh, "out": tmp / "site", "files": files, "window": window}


def _open(browser: Any, path: Path, width: int = 1280) -> tuple[Any, Any, dict[str, list[str]]]:
    """`path` in a fresh page; records console errors, page errors, dialogs and every request not to a file
    (aborted: nothing may leave the folder)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    seen: dict[str, list[str]] = {"errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            seen["requests"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return context, page, seen


def _rendered(page: Any) -> list[dict]:
    """Every chart of the page once vega-embed has drawn it: its key and its SVG's size."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')].every(el => el.dataset.rendered === 'true')",
        timeout=20_000,
    )
    return page.eval_on_selector_all(
        "[data-chart]",
        """els => els.map(el => {
            const svg = el.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            const marks = '.mark-rect path, .mark-symbol path, .mark-line path, .mark-rule line';
            return {key: el.dataset.chart, width: box.width, height: box.height,
                    marks: el.querySelectorAll(marks).length};
        })""",
    )


def _chart_rows(page: Any, key: str) -> list[dict]:
    spec = page.evaluate("k => JSON.parse(document.getElementById('spec-' + k).textContent)", key)
    return spec["data"]["values"]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_renders_its_charts_offline_without_errors(site: dict, browser: Any, locale: str) -> None:
    shots = ARTIFACTS / site["backend"]
    shots.mkdir(parents=True, exist_ok=True)
    charts_seen = 0
    for page_name in ("index", *PAGES):
        context, page, seen = _open(browser, site["out"] / f"{page_name}.{locale}.html")
        try:
            charts = _rendered(page)
            assert page.evaluate("document.documentElement.lang") == locale
            for chart in charts:
                assert chart["width"] > 100 and chart["height"] > 50, (page_name, chart)
                assert chart["marks"] > 0, (page_name, chart)  # something drawn, not an empty frame
            page.screenshot(path=str(shots / f"{page_name}.{locale}.png"), full_page=True)
            assert seen == {"errors": [], "requests": [], "dialogs": []}, page_name
            charts_seen += len(charts)
        finally:
            context.close()
    assert charts_seen >= 12  # funnel 6, calibration 4, email 3, speed 1, health 2 (minus any empty one)
    print(f"screenshots: {shots}")


def test_a_phone_reads_every_page_without_sideways_scrolling(site: dict, browser: Any) -> None:
    for page_name in ("index", *PAGES):
        context, page, seen = _open(browser, site["out"] / f"{page_name}.ja.html", width=390)
        try:
            _rendered(page)
            overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, page_name
            assert seen["errors"] == []
            if page_name == "funnel":
                page.screenshot(path=str(ARTIFACTS / site["backend"] / "funnel.ja.phone.png"), full_page=True)
        finally:
            context.close()


def test_chart_numbers_equal_sql_written_apart_from_the_report(site: dict, browser: Any) -> None:
    wh: Warehouse = site["wh"]
    context, funnel, _ = _open(browser, site["out"] / "funnel.en.html")
    try:
        # leads per stage on the last night: the current stages (no later night exists)
        shown = {r["stage"]: r["leads"] for r in _chart_rows(funnel, "stage_counts") if r["night"] == str(AS_OF)}
        assert shown == dict(wh.fetchall("select stage, count(*) from lifecycle.lead_stages group by stage"))
        assert {"cold", "warm", "hot"} <= shown.keys()
    finally:
        context.close()

    context, calibration, _ = _open(browser, site["out"] / "calibration.en.html")
    try:
        hot_points = dict(
            wh.fetchall(
                "select f.rule_id, sum(f.points) from scoring.score_factors as f"
                " join lifecycle.lead_stages as s on s.lead_id = f.lead_id and s.stage = 'hot'"
                " where f.as_of_date = :d and f.points > 0 group by f.rule_id",
                {"d": AS_OF},
            )
        )
        shown_points = {r["rule_id"]: r["points"] for r in _chart_rows(calibration, "hot_rule_shares")}
        assert shown_points.keys() == hot_points.keys() and hot_points
        assert all(abs(shown_points[k] - float(v)) < 1e-6 for k, v in hot_points.items())

        scores = [
            float(s)
            for (s,) in wh.fetchall("select total_score from scoring.lead_scores where as_of_date = :d", {"d": AS_OF})
        ]
        dist = _chart_rows(calibration, "score_distribution")
        assert sum(r["leads"] for r in dist) == len(scores)
        assert sum(r["leads"] for r in dist if r["at_max"]) == sum(1 for s in scores if s >= 100)

        # calibration: the cohort night's scores, the stage each lead had then, who reached SQL or customer
        cohort = dict(
            wh.fetchall("select lead_id, total_score from scoring.lead_scores where as_of_date = :d", {"d": COHORT})
        )
        moves = wh.fetchall("select lead_id, as_of_date, to_stage from lifecycle.stage_transitions order by as_of_date")
        then: dict[str, str] = {}
        won: set[str] = set()
        for lead, night, stage in moves:
            night = date.fromisoformat(str(night)[:10])
            if night <= COHORT:
                then[lead] = stage
            elif night <= AS_OF and stage in ("sales_qualified", "customer"):
                won.add(lead)
        expected: dict[int, list[int]] = {}
        for lead, score in cohort.items():
            if then.get(lead, "disqualified") in ("sales_qualified", "customer", "disqualified"):
                continue
            band = 100 if score >= 100 else int(score // 10) * 10
            counts = expected.setdefault(band, [0, 0])
            counts[0] += 1
            counts[1] += lead in won
        shown_bands = {
            r["band_low"]: [r["leads"], r["converted"]] for r in _chart_rows(calibration, "calibration_bands")
        }
        assert shown_bands == expected
        assert sum(c[1] for c in expected.values()) > 0  # some conversions to calibrate on
    finally:
        context.close()

    context, email, _ = _open(browser, site["out"] / "email.en.html")
    try:
        spam = {r["send"]: r["value"] for r in _chart_rows(email, "email_spam_rate")}
        sends = wh.fetchall("select send_key, template, step, locale from nurture.email_sends where kind = 'marketing'")
        payloads = [
            json.loads(p) for (p,) in wh.fetchall("select payload from ops.inbox where kind = 'sendgrid_event'")
        ]
        delivered = {p["send_key"] for p in payloads if p["event"] == "delivered"}
        reported = {p["send_key"] for p in payloads if p["event"] == "spamreport"}
        groups: dict[str, list[int]] = {}
        for key, template, step, locale in sends:
            counts = groups.setdefault(f"{template} #{step} {locale}", [0, 0])
            counts[0] += key in delivered
            counts[1] += key in reported
        assert spam == {k: (r / d if d else 0.0) for k, (d, r) in groups.items()}
        assert any(v > 0.003 for v in spam.values())  # the spam report makes a group cross the danger line
        cells = email.eval_on_selector_all("#email_spam_rate td.bad", "tds => tds.length")
        assert cells >= 1  # flagged in colour in the table too
    finally:
        context.close()

    context, health, _ = _open(browser, site["out"] / "health.en.html")
    try:
        shown_rows: dict[str, int] = {}
        for r in _chart_rows(health, "quarantine_daily"):
            shown_rows[r["source"]] = shown_rows.get(r["source"], 0) + r["rows_quarantined"]
        assert shown_rows == dict(wh.fetchall("select source, count(*) from ops.quarantine group by source"))
    finally:
        context.close()


def test_the_gallery_shows_every_template_and_locale_and_never_runs_a_hostile_value(site: dict, browser: Any) -> None:
    if site["backend"] != "duckdb":
        pytest.skip("the gallery reads no warehouse: once is enough")
    context, page, seen = _open(browser, site["out"] / "gallery" / "index.html")
    try:
        cards = page.eval_on_selector_all(
            "[data-email]",
            """els => els.map(el => ({id: el.dataset.email,
                subject: el.querySelector('.subject').textContent,
                frames: [...el.querySelectorAll('iframe')].map(
                    f => [f.className, f.getBoundingClientRect().width, f.getBoundingClientRect().height]),
                text: el.querySelector('pre').textContent}))""",
        )
        ids = {c["id"] for c in cards}
        templates = {i.split("-")[0] for i in ids}
        assert len(templates) >= 9
        for template in templates:
            for locale in LOCALES:
                for sample in ("typical", "long_company", "missing_fields", "hostile"):
                    assert f"{template}-{locale}-{sample}" in ids
        for card in cards:
            assert card["subject"].strip() and card["text"].strip()
            widths = {cls: w for cls, w, h in card["frames"] if h > 100}
            assert widths["desktop"] > widths["mobile"] > 300, card["id"]
        hostile = page.frame_locator("[data-email='cold_industry_trends-en-hostile'] iframe.desktop")
        assert '"><img src=x onerror=alert(1)>' in hostile.locator("body").inner_text()  # shown as text
        assert hostile.locator("img, script").count() == 0  # never markup
        page.screenshot(path=str(ARTIFACTS / "gallery.png"))
        assert seen == {"errors": [], "requests": [], "dialogs": []}
    finally:
        context.close()


def test_candidate_rules_get_their_own_calibration_page_and_nothing_is_written(site: dict, browser: Any) -> None:
    """`leadflow report --rules`: the current rules as the candidate reproduce the report's calibration
    (the rescored nights equal the stored ones), a changed rule moves it, and the warehouse is unchanged."""
    from leadflow.config import load_settings
    from leadflow.report.candidate import candidate_calibration
    from leadflow.report.queries import run_query
    from leadflow.report.site import write_site
    from leadflow.scoring import load_rules
    from tests.conftest import ROOT

    wh: Warehouse = site["wh"]
    window: ReportWindow = site["window"]
    cfg = load_settings(ROOT / "config" / "leadflow.yml")
    stored = wh.fetchall("select count(*), min(rules_version), sum(total_score) from scoring.lead_scores")
    same = candidate_calibration(wh, cfg, load_rules(ROOT / "config" / "scoring.yml"), window)
    for name in ("calibration_bands", "calibration_summary", "score_distribution"):
        assert same[name].equals(run_query(wh, name, window)), name
    text = (ROOT / "config" / "scoring.yml").read_text(encoding="utf-8")
    candidate_file = site["out"].parent / "candidate.yml"
    candidate_file.write_text(text.replace("points: 15, cap: 30,", "points: 30, cap: 90,"), encoding="utf-8")
    rules = load_rules(candidate_file)
    moved = candidate_calibration(wh, cfg, rules, window)
    assert not moved["score_distribution"].equals(same["score_distribution"])
    assert wh.fetchall("select count(*), min(rules_version), sum(total_score) from scoring.lead_scores") == stored

    label = f"(rules {rules.version})"
    write_site(site["out"], moved, window, pages=("calibration",), label=label, suffix="-candidate")
    context, page, seen = _open(browser, site["out"] / "calibration-candidate.en.html")
    try:
        assert len(_rendered(page)) == 4
        assert rules.version in page.title()
        assert seen == {"errors": [], "requests": [], "dialogs": []}
    finally:
        context.close()
