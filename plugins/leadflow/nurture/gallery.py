"""The template gallery: every email template in every locale rendered for a few awkward sample leads, as one
static HTML page (`leadflow templates gallery`, and `gallery/` of the report site).

Each email is shown at desktop and phone width in sandboxed iframes (`srcdoc`: no script runs, nothing is
fetched), with its subject, preheader, plain-text part and the lint findings of its template beside it.
"""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadflow.config import Settings
from leadflow.nurture.render import LintProblem, lint_templates, list_templates, render_email, sample_context

DESKTOP_WIDTH, MOBILE_WIDTH = 680, 375
_PREHEADER = re.compile(r'<div class="preheader"[^>]*>(.*?)</div>', re.DOTALL)


@dataclass(frozen=True)
class Sample:
    """A sample lead the gallery renders every template for."""

    key: str
    label: str
    context: dict[str, Any]


def samples(locale: str) -> list[Sample]:
    """The gallery's sample leads in `locale`: a typical one, a long Japanese company name, one missing every
    optional field, and one whose CRM values are hostile markup (must show as text, never run)."""
    typical = sample_context(locale)
    long_name = copy.deepcopy(typical)
    long_name["lead"]["company"] = (
        "株式会社グローバル・インダストリアル・ソリューションズ・アンド・テクノロジーズ東日本統括本部"
    )
    missing = copy.deepcopy(typical)
    for field in ("first_name", "last_name", "company", "job_title", "industry"):
        missing["lead"][field] = None
    hostile = copy.deepcopy(typical)
    hostile["lead"]["company"] = "<script>alert('company')</script>"
    hostile["lead"]["first_name"] = '"><img src=x onerror=alert(1)>'
    hostile["lead"]["last_name"] = "{{ 7*7 }}"
    return [
        Sample("typical", "typical lead", typical),
        Sample("long_company", "long Japanese company name", long_name),
        Sample("missing_fields", "optional fields missing", missing),
        Sample("hostile", "hostile CRM values", hostile),
    ]


def preheader(email_html: str) -> str:
    """The inbox preview text of a rendered email (its `.preheader` element), as plain text."""
    found = _PREHEADER.search(email_html)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else ""


def _findings(problems: list[LintProblem], template: str) -> list[str]:
    return [str(p) for p in problems if p.file.startswith(f"{template}/") or p.file.startswith("_layouts/")]


_STYLE = """
body { margin: 0; font-family: "Hiragino Sans", Meiryo, "Helvetica Neue", Arial, sans-serif; color: #1f2933;
  background: #f5f7fa; line-height: 1.5; }
header { background: #102a43; color: #fff; padding: 12px 16px; } header a { color: #d9e2ec; }
main { padding: 12px; } h2 { font-size: 1.1rem; margin: 24px 0 4px; } h3 { font-size: .95rem; margin: 8px 0; }
.card { background: #fff; border: 1px solid #e4e7eb; border-radius: 6px; padding: 10px; margin: 10px 0; }
.meta { font-size: .85rem; } .meta dt { font-weight: bold; } .meta dd { margin: 0 0 6px; }
.views { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.views figure { margin: 0; } figcaption { font-size: .75rem; color: #616e7c; }
iframe { border: 1px solid #cbd2d9; background: #fff; height: 560px; }
iframe.desktop { width: 680px; max-width: 100%; } iframe.mobile { width: 375px; max-width: 100%; }
pre { white-space: pre-wrap; font-size: .8rem; background: #f0f4f8; padding: 8px; max-width: 680px; margin: 0; }
.lint { color: #a61b1b; } .lint-ok { color: #0e7c5a; } .error { background: #ffeeee; padding: 8px; }
"""


def render_gallery(settings: Settings) -> str:
    """The gallery page as HTML (every value escaped; emails only inside sandboxed iframes)."""
    root = settings.path(settings.templates)
    templates = list_templates(root)
    problems = lint_templates(root, [sample_context("ja"), sample_context("en")])
    parts = [
        "<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>leadflow email templates</title><style>{_STYLE}</style></head><body>",
        "<header><h1 style='font-size:1.2rem;margin:0'>leadflow email templates / メールテンプレート一覧</h1>",
        "<a href='../index.html'>report / レポート</a></header><main>",
    ]
    for info in templates:
        findings = _findings(problems, info.name)
        name = html.escape(info.name)
        parts.append(f"<h2 id='{name}'>{name} <small>({html.escape(info.kind)})</small></h2>")
        parts.append(f"<p>{html.escape(info.description)}</p>")
        if findings:
            items = "".join(f"<li>{html.escape(f)}</li>" for f in findings)
            parts.append(f"<ul class='lint'>{items}</ul>")
        else:
            parts.append("<p class='lint-ok'>lint: OK</p>")
        for locale in info.locales:
            for sample in samples(locale):
                parts.append(_card(root, info.name, locale, sample))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _card(root: Path, template: str, locale: str, sample: Sample) -> str:
    title = f"{template} · {locale} · {sample.label}"
    anchor = f"{template}-{locale}-{sample.key}"
    try:
        email = render_email(root, template, locale, sample.context)
    except Exception as exc:  # shown inline: a template that fails for a sample lead is a finding
        return (
            f"<section class='card' id='{html.escape(anchor)}'><h3>{html.escape(title)}</h3>"
            f"<p class='error'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p></section>"
        )
    srcdoc = html.escape(email.html, quote=True)
    label = html.escape(title)
    return (
        f"<section class='card' id='{html.escape(anchor)}' data-email='{html.escape(anchor)}'>"
        f"<h3>{html.escape(title)}</h3><dl class='meta'>"
        f"<dt>Subject</dt><dd class='subject'>{html.escape(email.subject)}</dd>"
        f"<dt>Preheader</dt><dd class='preheader'>{html.escape(preheader(email.html))}</dd></dl>"
        "<div class='views'>"
        f"<figure><figcaption>desktop {DESKTOP_WIDTH}px</figcaption>"
        f"<iframe class='desktop' sandbox='' title='{label} desktop' srcdoc=\"{srcdoc}\"></iframe></figure>"
        f"<figure><figcaption>mobile {MOBILE_WIDTH}px</figcaption>"
        f"<iframe class='mobile' sandbox='' title='{label} mobile' srcdoc=\"{srcdoc}\"></iframe></figure>"
        f"<figure><figcaption>text/plain</figcaption><pre>{html.escape(email.text)}</pre></figure>"
        "</div></section>"
    )


def write_gallery(settings: Settings, out: Path) -> Path:
    """Write the gallery to `out/index.html`; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(render_gallery(settings), encoding="utf-8")
    return path
