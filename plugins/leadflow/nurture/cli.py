"""`leadflow nurture --date D [--approve N]`: plan, check and send one date's nurture email outside
Airflow — the way to approve a run the blast-radius guard stopped. `leadflow.cli` adds it with
`add_nurture_parser(subparsers)`."""

from __future__ import annotations

import argparse
import logging
from datetime import date
from typing import Any

from leadflow.cli_common import command_warehouse
from leadflow.config import load_settings
from leadflow.console import console, print_json, progress, step_table

log = logging.getLogger(__name__)


def cmd_nurture(args: argparse.Namespace) -> int:
    """Plan (approving up to `--approve` emails), validate renders, then send every batch."""
    # the nurture modules load Jinja and SendGrid: only this command pays for them, not `leadflow --help`
    from leadflow.nurture.plan import BlastRadiusExceeded, plan_sends
    from leadflow.nurture.send import check_renders, ledger_report, send_batches, send_planned

    cfg = load_settings(args.config)
    steps: dict[str, Any] = {}
    with command_warehouse(args, cfg) as wh:
        try:
            steps["plan_sends"] = plan_sends(wh, cfg, args.date, approve_up_to=args.approve)
        except BlastRadiusExceeded as exc:
            log.error("%s", exc)
            return 2
        steps["validate_renders"] = check_renders(wh, cfg, args.date)
        if not args.plan_only:
            batches = send_batches(wh, cfg, args.date)
            with progress() as bar:
                task = bar.add_task("send batches", total=len(batches))
                for batch in batches:
                    counts = send_planned(wh, cfg, args.date, batch=batch)
                    steps[f"send_emails {batch['index'] + 1}/{batch['of']}"] = counts
                    bar.advance(task)
            steps["report_sends"] = ledger_report(wh, cfg, args.date)
    if getattr(args, "json", False):
        print_json({"as_of_date": args.date, "steps": steps})
    else:
        console().print(step_table(f"leadflow nurture {args.date}", steps))
    return 0


def add_nurture_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `nurture` subcommand to `leadflow`'s subparsers."""
    nurture = subparsers.add_parser("nurture", help="plan and send one date's nurture email (approve big runs)")
    nurture.add_argument("--date", type=date.fromisoformat, required=True)
    nurture.add_argument(
        "--approve", type=int, metavar="N", help="allow up to N emails in this run (over nurture.max_emails_per_run)"
    )
    nurture.add_argument("--plan-only", action="store_true", help="plan and validate, send nothing")
    nurture.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    nurture.add_argument("--json", action="store_true", help="print each step's result as JSON")
    nurture.set_defaults(func=cmd_nurture)
    return nurture
