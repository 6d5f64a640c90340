"""Email rendering: every template in both locales, hostile CRM values, error locations, CSS
inlining, required footer parts, and snapshots of rendered emails.

Update the snapshots after an intended template change with
    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_render.py
and review the diff of tests/snapshots/ like any other code change.
"""

from __future__ import annotations

import html
import os
import shutil
import unicodedata
from pathlib import Path

import jinja2
import pytest
import yaml
from markupsafe import Markup

from leadflow.nurture.render import (
    SUBJECT_MAX_CHARS,
    RenderedEmail,
    RequiredPartMissingError,
    TemplateRenderError,
    build_context,
    header_safe,
    lint_templates,
    list_templates,
    render_email,
    render_emails,
    sample_context,
    template_environment,
    unsubscribe_link,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "email_templates"
SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
TOKEN = "tok-123"
ALL = [(info.name, locale) for info in list_templates(TEMPLATES) for locale in ("ja", "en")]
MARKETING = [(name, locale) for name, locale in ALL if name != "hot_owner_alert"]


def render(template: str, locale: str, context: dict | None = None) -> RenderedEmail:
    return render_email(TEMPLATES, template, locale, context or sample_context(locale), unsubscribe_token=TOKEN)


HTML_X = '{% extends "_layouts/base.html" %}{% block content %}<p>x</p>{% endblock %}'
TEXT_X = '{% extends "_layouts/base.txt" %}{% block content %}x{% endblock %}'


def make_templates(tmp_path: Path, files: dict[str, str], kind: str = "marketing") -> Path:
    """A templates folder with the real layouts plus `files` (paths relative to the folder)."""
    root = tmp_path / "email_templates"
    shutil.copytree(TEMPLATES / "_layouts", root / "_layouts")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        meta = root / relative.split("/")[0] / "meta.yml"
        if not meta.exists():
            meta.write_text(f"kind: {kind}\ndescription: test template\n", encoding="utf-8")
    return root


def test_the_expected_templates_exist():
    names = {info.name: info for info in list_templates(TEMPLATES)}
    assert set(names) == {
        "cold_industry_trends",
        "cold_common_misconceptions",
        "cold_selection_pitfalls",
        "warm_case_study",
        "warm_checklist",
        "warm_webinar_invite",
        "recycled_reengagement",
        "trigger_download_followup",
        "hot_owner_alert",
    }
    assert all(info.locales == ("en", "ja") and info.description for info in names.values())
    # The alert goes to our own sales rep, so it is the one template without a marketing footer.
    assert {name for name, info in names.items() if info.kind == "internal"} == {"hot_owner_alert"}


def test_lint_finds_no_problems_in_the_shipped_templates():
    assert lint_templates(TEMPLATES, [sample_context("ja"), sample_context("en")]) == []


@pytest.mark.parametrize(("template", "locale"), ALL)
def test_every_template_renders_for_sample_leads(template, locale):
    email = render(template, locale)
    assert email.locale == locale
    assert email.subject and "\n" not in email.subject and len(email.subject) <= SUBJECT_MAX_CHARS
    assert email.html.startswith("<!DOCTYPE html>") and f'lang="{locale}"' in email.html
    assert email.text.endswith("\n") and "{{" not in email.text and "{%" not in email.text
    lead = sample_context(locale)["lead"]
    # The Japanese greeting names the company and the family name; the English one the first name.
    greeting = f"{lead['company']} {lead['last_name']} 様" if locale == "ja" else f"Hi {lead['first_name']},"
    owner = sample_context(locale)["owner"]["name"]
    assert (owner if template == "hot_owner_alert" else greeting) in email.text


@pytest.mark.parametrize(("template", "locale"), MARKETING)
def test_every_marketing_email_has_unsubscribe_and_postal_address(template, locale):
    email = render(template, locale)
    context = sample_context(locale)
    link = unsubscribe_link(context["links"]["unsubscribe"], TOKEN)
    address = context["sender"]["postal_address"]
    assert email.kind == "marketing"
    assert f'href="{html.escape(link)}"' in email.html and link in email.text
    assert html.escape(address) in email.html and address in email.text


def test_internal_alert_has_no_marketing_footer():
    email = render("hot_owner_alert", "ja")
    assert email.kind == "internal"
    assert "unsubscribe" not in email.html and "配信停止" not in email.text
    assert "https://crm.leadflow.example/leads/L-000123" in email.text  # the link to the lead
    assert "・価格ページ閲覧 (3回)" in email.text  # reasons, one per line


@pytest.mark.parametrize(
    ("asked", "rendered"),
    [
        ("ja", "ja"),
        ("ja-JP", "ja"),  # region variants use the language folder
        ("EN_us", "en"),
        ("fr", "en"),  # no French folder: English is the fallback
        ("", "en"),
        ("../ja", "en"),  # never a path
    ],
)
def test_locale_falls_back_to_english(asked, rendered):
    assert render("warm_checklist", asked, sample_context("ja")).locale == rendered


def test_a_template_without_the_requested_locale_uses_english(tmp_path):
    root = make_templates(
        tmp_path,
        {
            "only_en/en/subject.txt": "Hello",
            "only_en/en/body.html": HTML_X,
            "only_en/en/body.txt": TEXT_X,
        },
    )
    email = render_email(root, "only_en", "ja", sample_context("ja"), unsubscribe_token=TOKEN)
    assert email.locale == "en" and 'lang="en"' in email.html


HOSTILE = {
    "first_name": "{{7*7}}",
    "last_name": "<script>alert(1)</script>",
    "company": "Evil Corp\r\nBcc: victim@example.com",
    "job_title": "{% for x in range(10**9) %}{% endfor %}",
}


@pytest.mark.parametrize(("template", "locale"), ALL)
def test_crm_values_are_data_not_template_code(template, locale):
    context = sample_context(locale)
    context["lead"].update(HOSTILE)
    email = render(template, locale, context)  # a job title that loops 10**9 times would hang here
    # Names are shown as typed, never evaluated: the English greeting uses the first name, the
    # Japanese one the family name.
    shown = "{{7*7}}" if locale == "en" else "<script>alert(1)</script>"
    assert shown in email.text
    assert "49" not in email.subject + email.text
    assert "<script>" not in email.html  # escaped in HTML; no template has a script of its own
    assert "\r" not in email.subject and "\n" not in email.subject


def test_hostile_values_render_escaped_in_html_and_literal_in_text():
    context = sample_context("ja")
    context["lead"].update(HOSTILE)
    email = render("hot_owner_alert", "ja", context)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "<script>alert(1)</script>" in email.text
    assert "{{7*7}}" in email.html and "{{7*7}}" in email.text
    # The subject carries the company name: its CR/LF collapse to one space, on one line.
    assert email.subject == (
        "【ホットリード】Evil Corp Bcc: victim@example.com <script>alert(1)</script> {{7*7}} 様（スコア 64）"
    )


def test_markup_objects_from_the_crm_are_still_escaped():
    context = sample_context("en")
    context["lead"]["first_name"] = Markup("<b>Bold</b>")
    assert "&lt;b&gt;Bold" in render("warm_checklist", "en", context).html


def test_non_web_urls_in_event_data_are_dropped():
    context = sample_context("en")
    context["event"]["url"] = "javascript:alert(document.cookie)"
    email = render("trigger_download_followup", "en", context)
    assert "javascript:" not in email.html and "Open it again" not in email.html


def test_an_empty_event_keeps_the_download_followup_generic():
    context = sample_context("en")
    context["event"] = {}
    email = render("trigger_download_followup", "en", context)
    assert email.subject == "Thanks for downloading our guide: 3 ways to put it to work"


def test_undefined_variable_names_template_file_and_line(tmp_path):
    root = make_templates(
        tmp_path,
        {
            "typo/en/subject.txt": "Hello",
            "typo/en/body.html": (
                '{% extends "_layouts/base.html" %}\n'
                "{% block content %}\n"
                "<p>{{ lead.frist_name }}</p>\n"  # line 3
                "{% endblock %}\n"
            ),
            "typo/en/body.txt": TEXT_X,
        },
    )
    with pytest.raises(TemplateRenderError) as caught:
        render_email(root, "typo", "en", sample_context("en"), unsubscribe_token=TOKEN)
    assert isinstance(caught.value, jinja2.TemplateError)
    assert (caught.value.template_file, caught.value.lineno) == ("typo/en/body.html", 3)
    assert str(caught.value).startswith("typo/en/body.html:3: undefined variable:")
    assert "frist_name" in str(caught.value)


def test_a_missing_top_level_variable_is_an_error_too(tmp_path):
    root = make_templates(
        tmp_path,
        {
            "alert/en/subject.txt": "Lead for {{ owner.name }}",
            "alert/en/body.html": '{% extends "_layouts/internal.html" %}{% block content %}x{% endblock %}',
            "alert/en/body.txt": '{% extends "_layouts/internal.txt" %}{% block content %}x{% endblock %}',
        },
        kind="internal",
    )
    context = sample_context("en")
    del context["owner"]
    with pytest.raises(TemplateRenderError, match=r"^alert/en/subject.txt:1: undefined variable: 'owner'"):
        render_email(root, "alert", "en", context)


def test_syntax_errors_name_file_and_line(tmp_path):
    root = make_templates(
        tmp_path,
        {
            "broken/en/subject.txt": "Hello",
            "broken/en/body.html": (
                '{% extends "_layouts/base.html" %}\n{% block content %}\n{% if %}\n{% endblock %}'
            ),
            "broken/en/body.txt": "x",
        },
    )
    with pytest.raises(TemplateRenderError, match=r"^broken/en/body.html:3: syntax error"):
        render_email(root, "broken", "en", sample_context("en"), unsubscribe_token=TOKEN)
    problems = lint_templates(root, [sample_context("en")])
    assert any(p.file == "broken/en/body.html" and p.line == 3 for p in problems)


def test_the_sandbox_blocks_python_internals(tmp_path):
    root = make_templates(
        tmp_path,
        {
            "escape/en/subject.txt": "{{ lead.__class__.__mro__ }}",
            "escape/en/body.html": "x",
            "escape/en/body.txt": "x",
        },
    )
    with pytest.raises(TemplateRenderError, match=r"escape/en/subject.txt:1: SecurityError"):
        render_email(root, "escape", "en", sample_context("en"), unsubscribe_token=TOKEN)


def test_css_is_inlined():
    email = render("cold_industry_trends", "en")
    assert "<style" not in email.html.lower()
    assert 'class="button"' in email.html
    button = email.html.split('class="button"', 1)[1].split(">", 1)[0]
    assert "background-color: #1d4ed8" in button  # from `.button { ... }` in the layout's <style>


def test_a_layout_that_loses_the_footer_is_refused(tmp_path):
    root = make_templates(
        tmp_path,
        {
            "nofooter/en/subject.txt": "Hello",
            "nofooter/en/body.html": (
                '{% extends "_layouts/base.html" %}{% block content %}<p>x</p>{% endblock %}'
                "{% block footer %}{% endblock %}"
            ),
            "nofooter/en/body.txt": TEXT_X,
        },
    )
    with pytest.raises(RequiredPartMissingError, match="nofooter/en/body.html: the html part lost the unsubscribe"):
        render_email(root, "nofooter", "en", sample_context("en"), unsubscribe_token=TOKEN)
    problems = lint_templates(root, [sample_context("en")])
    assert [str(p) for p in problems if p.file.startswith("nofooter")] == [
        "nofooter/en/body.html: the html part lost the unsubscribe link"
    ]


def test_lint_reports_unknown_variables_and_missing_files(tmp_path):
    root = make_templates(
        tmp_path,
        {
            "sloppy/en/subject.txt": "Hello {{ contact.name }}",
            "sloppy/en/body.html": '{% extends "_layouts/base.html" %}{% block content %}x{% endblock %}',
            "sloppy/ja/subject.txt": "こんにちは",
        },
    )
    (root / "sloppy" / "meta.yml").unlink()
    messages = {str(p) for p in lint_templates(root, [sample_context("en")])}
    assert "sloppy/meta.yml: missing: say `kind: marketing|internal` and a description" in messages
    assert "sloppy/en/body.txt: missing" in messages
    assert "sloppy/ja/body.html: missing" in messages
    assert any(m.startswith("sloppy/en/subject.txt:1: unknown variable 'contact'") for m in messages)


def test_build_context_and_render_with_mailer_settings():
    from leadflow.config import MailerConfig

    mailer = MailerConfig(
        from_email="marketing@leadflow.example",
        from_name="leadflow",
        postal_address="1 Main St, Springfield",
        unsubscribe_url="https://leadflow.example/u?list=nurture",
        preferences_url="https://leadflow.example/p",
    )
    sample = sample_context("en")
    context = build_context(lead=sample["lead"], score=sample["score"], stage="warm", mailer=mailer)
    email = render_email(template_environment(TEMPLATES), "warm_case_study", "en", context, unsubscribe_token="a b")
    assert "https://leadflow.example/u?list=nurture&token=a%20b" in email.text
    assert 'href="https://leadflow.example/u?list=nurture&amp;token=a%20b"' in email.html
    assert "1 Main St, Springfield" in email.text


def test_unknown_template_names_are_errors():
    with pytest.raises(TemplateRenderError, match="invalid template name"):
        render("../_layouts", "en")
    with pytest.raises(TemplateRenderError, match="unknown template 'nope'"):
        render("nope", "en")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("a\r\nBcc: x@example.com", "a Bcc: x@example.com"),  # header injection attempt
        ("tab\there", "tab here"),
        ("nul\x00byte", "nul byte"),
        ("line\u2028sep", "line sep"),  # Unicode line separator
        ("\u202eevil", "evil"),  # right-to-left override
        ("  spaced   out  ", "spaced out"),
        (None, ""),
    ],
)
def test_header_safe(value, expected):
    assert header_safe(value) == expected


def test_header_safe_caps_length():
    assert header_safe("あ" * 200, 10) == "あ" * 9 + "…"


def test_header_safe_treats_every_character_by_its_unicode_category():
    # The definition, one character at a time: bidi overrides go, control characters (Cc) and
    # line/paragraph separators (Zl, Zp) and whitespace become spaces. No such character lies
    # outside the Basic Multilingual Plane, so checking it is checking them all.
    bidi = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    for code in range(0x10000):
        ch = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        if ch in bidi:
            expected = "ab"
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch.isspace():
            expected = "a b"
        else:
            expected = f"a{ch}b"
        assert header_safe(f"a{ch}b") == expected, hex(code)


def test_meta_yml_is_read_once_and_again_when_it_changes(tmp_path, monkeypatch):
    root = make_templates(
        tmp_path, {"note/en/subject.txt": "Hi", "note/en/body.html": HTML_X, "note/en/body.txt": TEXT_X}
    )
    loads = []
    real_load = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda text: loads.append(text) or real_load(text))
    context = sample_context("en")
    kinds = [render_email(root, "note", "en", context, unsubscribe_token=TOKEN).kind for _ in range(3)]
    assert kinds == ["marketing"] * 3 and len(loads) == 1  # not once per email
    (root / "note" / "meta.yml").write_text("kind: internal\ndescription: now an alert\n", encoding="utf-8")
    assert render_email(root, "note", "en", context).kind == "internal"
    assert len(loads) == 2


def test_a_send_runs_environment_keeps_the_files_it_first_read(tmp_path):
    # A send run (reload=False) renders every email from one version of the templates; previews reload.
    root = make_templates(
        tmp_path, {"note/en/subject.txt": "Hi", "note/en/body.html": HTML_X, "note/en/body.txt": TEXT_X}
    )
    run, preview = template_environment(root, reload=False), template_environment(root)
    context = sample_context("en")
    for env in (run, preview):
        assert render_email(env, "note", "en", context, unsubscribe_token=TOKEN).subject == "Hi"
    (root / "note" / "en" / "subject.txt").write_text("Changed", encoding="utf-8")
    (root / "note" / "meta.yml").write_text("kind: internal\ndescription: now an alert\n", encoding="utf-8")
    later = os.stat(root / "note" / "en" / "subject.txt").st_mtime + 5  # a new mtime even on coarse clocks
    os.utime(root / "note" / "en" / "subject.txt", (later, later))
    os.utime(root / "note" / "meta.yml", (later, later))
    during_run = render_email(run, "note", "en", context, unsubscribe_token=TOKEN)
    assert (during_run.subject, during_run.kind) == ("Hi", "marketing")
    previewed = render_email(preview, "note", "en", context, unsubscribe_token=TOKEN)
    assert (previewed.subject, previewed.kind) == ("Changed", "internal")
    assert render_email(template_environment(root, reload=False), "note", "en", context).subject == "Changed"


def test_a_batch_renders_each_email_as_one_at_a_time_and_keeps_failures_apart(tmp_path):
    root = make_templates(
        tmp_path,
        {
            "note/en/subject.txt": "Hi {{ lead.first_name }}",
            "note/en/body.html": HTML_X,
            "note/en/body.txt": TEXT_X,
            "broken/en/subject.txt": "Hi {{ lead.nickname }}",  # not in the context: an error
            "broken/en/body.html": HTML_X,
            "broken/en/body.txt": TEXT_X,
        },
    )
    shutil.copytree(TEMPLATES / "warm_case_study", root / "warm_case_study")
    contexts = [sample_context(locale) for locale in ("en", "ja", "en", "ja")]
    contexts[2]["sender"]["postal_address"] = ""  # a marketing email without its address: refused
    jobs = [
        ("warm_case_study", "ja", contexts[1]),
        ("broken", "en", contexts[0]),
        ("note", "en", contexts[0]),
        ("warm_case_study", "en", contexts[2]),
        ("no_such_template", "en", contexts[0]),
        ("warm_case_study", "en", contexts[3]),
    ]
    results = render_emails(root, jobs)
    assert len(results) == len(jobs)
    for (template, locale, context), result in zip(jobs, results, strict=True):
        try:
            expected = render_email(root, template, locale, context)
        except Exception as exc:  # the same error, returned instead of raised
            assert type(result) is type(exc) and str(result) == str(exc)
        else:
            assert result == expected
    assert [type(r).__name__ for r in results] == [
        "RenderedEmail",
        "TemplateRenderError",
        "RenderedEmail",
        "RequiredPartMissingError",
        "TemplateRenderError",
        "RenderedEmail",
    ]


def _snapshot_text(email: RenderedEmail) -> str:
    return (
        f"Subject: {email.subject}\nKind: {email.kind}\nLocale: {email.locale}\n"
        f"======== text/plain ========\n{email.text}"
        f"======== text/html ========\n{email.html}\n"
    )


@pytest.mark.parametrize(("template", "locale"), ALL)  # every template × locale
def test_rendered_email_matches_snapshot(template, locale):
    actual = _snapshot_text(render(template, locale))
    path = SNAPSHOTS / f"{template}.{locale}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"no snapshot {path}; create it with UPDATE_SNAPSHOTS=1"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{template}/{locale} no longer matches {path.name}; if the change is intended, run "
        "UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_render.py and review the diff"
    )
