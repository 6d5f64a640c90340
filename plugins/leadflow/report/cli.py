"""`leadflow report`: the report site for one as-of date."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from leadflow.cli_common import command_warehouse
from leadflow.config import load_settings
from leadflow.report.build import build_report, default_out
from leadflow.report.queries import ReportWindow


def cmd_report(args: argparse.Namespace) -> int:
    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        as_of = args.date or wh.scalar("select max(as_of_date) from scoring.lead_scores")
        if as_of is None:
            print("no scores yet: run the nightly DAG first (make demo, or make dag DAG=leadflow_nightly DATE=…)")
            return 1
        as_of = date.fromisoformat(str(as_of))
        window = ReportWindow(as_of, weeks=args.weeks, calibration_days=args.calibration_days, timezone=cfg.timezone)
        out = Path(args.out) if args.out else default_out(cfg, as_of)
        files = build_report(wh, cfg, window, out)
    print(f"wrote the report for {as_of} ({len(files.pages)} pages, {len(files.csv)} CSV files): {files.index}")
    return 0


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="write the report site (charts, tables, CSV) for one as-of date")
    rep.add_argument("--date", type=date.fromisoformat, help="as-of date (default: the latest scored night)")
    rep.add_argument("--weeks", type=int, default=8, help="weeks of history shown (default 8)")
    rep.add_argument(
        "--calibration-days", type=int, default=30, help="calibrate on the leads scored this many days ago (30)"
    )
    rep.add_argument("--out", help="folder to write (default: data/reports/<date>/)")
    rep.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    rep.set_defaults(func=cmd_report)
