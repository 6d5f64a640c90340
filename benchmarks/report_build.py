"""Time `leadflow report` over a generated warehouse (issue 23): queries per backend, then the pages.

    python -m benchmarks.report_build --leads 100000 --backends duckdb,postgres --repeat 3

Generates `--leads` leads over 120 days, runs two nights 35 days apart (a calibration cohort and the
report's night), then builds the report `--repeat` times and prints one Markdown row per backend with
the median seconds of the queries, of writing the pages and of the whole build.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from leadflow.backfill import run_nightly
from leadflow.config import load_settings
from leadflow.demo.generate import generate
from leadflow.nurture.gallery import write_gallery
from leadflow.report.queries import ReportWindow, collect
from leadflow.report.site import write_site
from leadflow.warehouse import connect

AS_OF = date(2026, 11, 22)
COHORT = AS_OF - timedelta(days=35)


def _uri(backend: str, tmp: Path, pg_admin: str) -> str:
    if backend == "duckdb":
        return f"duckdb://{tmp / 'warehouse.duckdb'}"
    import psycopg

    name = f"leadflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    return f"{pg_admin.rsplit('/', 1)[0]}/{name}"


def _drop(uri: str, pg_admin: str) -> None:
    import psycopg

    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{uri.rsplit("/", 1)[1]}" with (force)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--backends", default="duckdb")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-bench-") as name:
        tmp = Path(name)
        landing = tmp / "landing"
        generate(landing, leads=args.leads, days=120, seed=7, end_date=AS_OF, daily_from=COHORT, export_every=35)
        base = load_settings()
        cfg = base.model_copy(
            update={
                "sources": base.sources.model_copy(
                    update={
                        "crm": base.sources.crm.model_copy(update={"path": tmp / "landing" / "crm"}),
                        "web": base.sources.web.model_copy(update={"path": tmp / "landing" / "web"}),
                    }
                ),
                "mailer": base.mailer.model_copy(update={"outbox": tmp / "outbox"}),
            }
        )
        print("| backend | leads | nights (s) | queries (s) | pages (s) | gallery (s) | report total (s) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for backend in args.backends.split(","):
            wh_uri = _uri(backend, tmp, args.pg)
            with connect(wh_uri) as wh:
                started = time.perf_counter()
                run_nightly(wh, cfg, COHORT)
                run_nightly(wh, cfg, AS_OF)
                nights = time.perf_counter() - started
                window = ReportWindow(AS_OF, timezone=cfg.timezone)
                queries, pages, gallery = [], [], []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    data = collect(wh, window)
                    t1 = time.perf_counter()
                    write_site(tmp / f"site-{backend}", data, window, gallery=True)
                    t2 = time.perf_counter()
                    write_gallery(cfg, tmp / f"site-{backend}" / "gallery")
                    t3 = time.perf_counter()
                    queries.append(t1 - t0)
                    pages.append(t2 - t1)
                    gallery.append(t3 - t2)
                q, p, g = (statistics.median(x) for x in (queries, pages, gallery))
                print(f"| {backend} | {args.leads:,} | {nights:.0f} | {q:.2f} | {p:.2f} | {g:.2f} | {q + p + g:.2f} |")
            if backend == "postgres":
                _drop(wh_uri, args.pg)


if __name__ == "__main__":
    main()
