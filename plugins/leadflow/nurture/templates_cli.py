"""`leadflow templates lint`, `preview` and `gallery`: marketing ops check templates before a run."""

from __future__ import annotations

import sys
from pathlib import Path

from leadflow.config import Settings
from leadflow.nurture.render import lint_templates, list_templates, render_email, sample_context
from leadflow.warehouse import Warehouse


def lint(settings: Settings) -> int:
    """Render every template for sample leads of every locale; print file:line problems; 1 if any."""
    root = settings.path(settings.templates)
    problems = lint_templates(root, [sample_context("ja"), sample_context("en")])
    for problem in problems:
        print(f"{root.name}/{problem}", file=sys.stderr)
    count = len(list_templates(root))
    if problems:
        print(f"{len(problems)} problem(s) in {count} templates", file=sys.stderr)
        return 1
    print(f"{count} templates OK (ja, en)")
    return 0


def preview(settings: Settings, name: str | None, out: Path, lead_id: str | None, wh: Warehouse | None) -> int:
    """Write `<template>.<locale>.html` (and .txt) files to open in a browser; one lead's data with --lead-id."""
    root = settings.path(settings.templates)
    names = [name] if name else [t.name for t in list_templates(root)]
    contexts = {"ja": sample_context("ja"), "en": sample_context("en")}
    if lead_id and wh is not None:
        from leadflow.nurture.send import email_context

        frame = wh.fetch_df(wh.model_sql("nurture/lead_context.sql"), {"lead_id": lead_id})
        if frame.empty:
            print(f"no lead with lead_id or crm_id {lead_id!r}", file=sys.stderr)
            return 1
        row = frame.astype(object).where(frame.notna(), None).iloc[0].to_dict()
        row["send_key"] = "preview"
        contexts = {row["locale"]: email_context(row, settings)}
    out.mkdir(parents=True, exist_ok=True)
    for template in names:
        for locale, context in contexts.items():
            email = render_email(root, template, locale, context)
            stem = out / f"{template}.{email.locale}"
            Path(f"{stem}.html").write_text(f"<!-- Subject: {email.subject} -->\n{email.html}", encoding="utf-8")
            Path(f"{stem}.txt").write_text(f"Subject: {email.subject}\n\n{email.text}", encoding="utf-8")
            print(f"wrote {stem}.html")
    return 0


def gallery(settings: Settings, out: Path) -> int:
    """Write the template gallery (every template x locale x sample lead, desktop and phone) to `out/index.html`."""
    from leadflow.nurture.gallery import write_gallery

    print(f"wrote {write_gallery(settings, out)}")
    return 0
