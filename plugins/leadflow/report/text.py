"""The report's words in Japanese and English (`text.yml` beside this file): titles, notes, column headings."""

from __future__ import annotations

from importlib import resources

import yaml

LOCALES = ("ja", "en")

PAGES = ("funnel", "calibration", "email", "speed", "health")
"""The report's pages, in the order of its navigation (each `<page>.<locale>.html`)."""

_WORDS = yaml.safe_load(resources.files("leadflow.report").joinpath("text.yml").read_text(encoding="utf-8"))
TEXT: dict[str, dict[str, str]] = _WORDS["text"]
COLUMNS: dict[str, dict[str, str]] = _WORDS["columns"]


def t(locale: str, key: str, **values: object) -> str:
    """The text `key` in `locale`, with `values` filled in."""
    text = TEXT[locale].get(key, key)
    return text.format(**values) if values else text


def column(locale: str, name: str) -> str:
    """A column heading: Japanese where one is written, else the column's own name in words."""
    return COLUMNS.get(locale, {}).get(name) or name.replace("_", " ")
