"""Warehouse size over consecutive nights, without and with housekeeping (privacy.retention, issue 25).

Run from the project root: `python -m benchmarks.retention --leads 20000 --nights 60 --out DIR`. It
generates one CRM snapshot per day (the full export a CRM drops every night) and the web events, then
runs every night in order through the library (`leadflow.backfill.run_nightly`, what the nightly DAG
wires) on a fresh DuckDB warehouse twice: once as the code before this issue (nothing expires) and
once with the nightly `housekeep` step after each night. It prints and writes (DIR/retention.json) the
database file size and the largest tables' row counts at a few nights. A developer tool.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

END_DATE = date(2026, 11, 22)
TABLES = ("raw.crm_leads", "raw.web_events", "core.events", "scoring.score_factors", "scoring.lead_scores")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + ".wal")) if p.exists())


def run(mode: str, leads: int, nights: int, out: Path, landing: Path) -> list[dict]:
    from leadflow.backfill import run_nightly
    from leadflow.config import load_settings
    from leadflow.privacy.retention import housekeep
    from leadflow.warehouse import connect

    home = out / mode
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(landing, home / "landing")  # housekeeping deletes landing files past raw_days
    base = load_settings()
    cfg = base.model_copy(
        update={
            "sources": base.sources.model_copy(
                update={
                    "crm": base.sources.crm.model_copy(update={"path": home / "landing" / "crm"}),
                    "web": base.sources.web.model_copy(update={"path": home / "landing" / "web"}),
                }
            ),
            "mailer": base.mailer.model_copy(update={"outbox": home / "outbox"}),
            "intake": base.intake.model_copy(update={"inbox_path": home / "inbox"}),
            "privacy": base.privacy.model_copy(update={"scrub_paths": ()}),
        }
    )
    db = home / "warehouse.duckdb"
    rows: list[dict] = []
    first = END_DATE - timedelta(days=nights - 1)
    with connect(f"duckdb://{db}") as wh:
        for n in range(nights):
            night = first + timedelta(days=n)
            started = time.perf_counter()
            run_nightly(wh, cfg, night)
            night_s = time.perf_counter() - started
            house_s = 0.0
            if mode == "housekeep":
                started = time.perf_counter()
                housekeep(wh, cfg, night)
                house_s = time.perf_counter() - started
            wh.execute("checkpoint")
            row = {
                "night": n + 1,
                "date": night.isoformat(),
                "bytes": _size(db),
                "night_s": night_s,
                "house_s": house_s,
            }
            row.update({t: int(wh.scalar(f"select count(*) from {t}")) for t in TABLES})
            rows.append(row)
            print(json.dumps({"mode": mode, **row}), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--nights", type=int, default=60)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--modes", default="keep,housekeep", help="comma-separated; one per process runs them side by side"
    )
    args = parser.parse_args()
    from leadflow.demo.generate import generate

    landing = args.out / "landing"
    if not landing.is_dir():
        # events over 180 days before the first night (the scoring window) plus the nights; a snapshot a night
        generate(
            landing,
            leads=args.leads,
            days=180 + args.nights,
            seed=25,
            end_date=END_DATE,
            daily_from=END_DATE - timedelta(days=args.nights - 1),
        )
    modes = args.modes.split(",")
    result = {mode: run(mode, args.leads, args.nights, args.out, landing) for mode in modes}
    (args.out / f"retention-{'-'.join(modes)}.json").write_text(json.dumps(result, indent=1))
    if set(modes) != {"keep", "housekeep"}:
        return
    marks = sorted({1, 15, 30, 35, 45, args.nights} & set(range(1, args.nights + 1)))
    print("| night | keep: MB | housekeep: MB | keep: raw.crm_leads | housekeep: raw.crm_leads |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in marks:
        k, h = result["keep"][n - 1], result["housekeep"][n - 1]
        sizes = f"{k['bytes'] / 1e6:,.1f} | {h['bytes'] / 1e6:,.1f}"
        print(f"| {n} | {sizes} | {k['raw.crm_leads']:,} | {h['raw.crm_leads']:,} |")


if __name__ == "__main__":
    main()
