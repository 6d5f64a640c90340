"""Build one report: run the report queries for an as-of date and write the site (and the template gallery)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from leadflow.config import Settings
from leadflow.nurture.gallery import write_gallery
from leadflow.report.queries import ReportWindow, collect
from leadflow.report.site import SiteFiles, write_site
from leadflow.warehouse import Warehouse

log = logging.getLogger(__name__)


def default_out(settings: Settings, as_of: date) -> Path:
    """`<reports>/<as_of>/` (`reports` of leadflow.yml, default data/reports under the project home)."""
    return settings.path(settings.reports) / as_of.isoformat()


def build_report(wh: Warehouse, settings: Settings, window: ReportWindow, out: Path) -> SiteFiles:
    """Write the report for `window` into `out`: pages in ja and en, CSV files, and the template gallery."""
    data = collect(wh, window)
    write_gallery(settings, out / "gallery")
    return write_site(out, data, window, gallery=True)


def nightly_report(wh: Warehouse, settings: Settings, as_of: date) -> dict:
    """The nightly DAG's last step: the report for the night's as-of date in `data/reports/<as_of>/`."""
    out = default_out(settings, as_of)
    files = build_report(wh, settings, ReportWindow(as_of, timezone=settings.timezone), out)
    log.info("report for %s: %s", as_of, files.index)
    return {"index": str(files.index), "pages": len(files.pages), "csv": len(files.csv)}
