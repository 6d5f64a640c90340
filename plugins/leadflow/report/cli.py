"""`leadflow report`: the report site for one as-of date."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from leadflow.cli_common import command_warehouse, scored_date
from leadflow.config import load_settings
from leadflow.report.build import build_report, default_out
from leadflow.report.candidate import candidate_calibration
from leadflow.report.queries import ReportWindow
from leadflow.report.site import write_site
from leadflow.scoring import load_rules


def cmd_report(args: argparse.Namespace) -> int:
    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        as_of = scored_date(wh, args.date)
        if as_of is None:
            return 1
        window = ReportWindow(as_of, weeks=args.weeks, calibration_days=args.calibration_days, timezone=cfg.timezone)
        out = Path(args.out) if args.out else default_out(cfg, as_of)
        files = build_report(wh, cfg, window, out)
        print(f"wrote the report for {as_of} ({len(files.pages)} pages, {len(files.csv)} CSV files): {files.index}")
        if args.rules:
            rules = load_rules(Path(args.rules), args.profile)
            data = candidate_calibration(wh, cfg, rules, window)
            label = f"(rules {rules.version})"
            candidate = write_site(out, data, window, pages=("calibration",), label=label, suffix="-candidate")
            print(f"wrote the calibration page for candidate rules {rules.version}: {candidate.index}")
    return 0


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="write the report site (charts, tables, CSV) for one as-of date")
    rep.add_argument("--date", type=date.fromisoformat, help="as-of date (default: the latest scored night)")
    rep.add_argument("--weeks", type=int, default=8, help="weeks of history shown (default 8)")
    rep.add_argument(
        "--calibration-days", type=int, default=30, help="calibrate on the leads scored this many days ago (30)"
    )
    rep.add_argument("--out", help="folder to write (default: data/reports/<date>/)")
    rep.add_argument(
        "--rules", help="candidate scoring.yml: also write its calibration page beside (calibration-candidate.*.html)"
    )
    rep.add_argument("--profile", help="scoring profile in the --rules file (default: its top level)")
    rep.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    rep.set_defaults(func=cmd_report)
