"""`leadflow nurture --date D [--approve N]`: plan, check and send one date's nurture email outside
Airflow — the way to approve a run the blast-radius guard stopped. `leadflow.cli` adds it with
`add_nurture_parser(subparsers)`."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from leadflow.cli_common import command_warehouse
from leadflow.config import load_settings


def cmd_nurture(args: argparse.Namespace) -> int:
    """Plan (approving up to `--approve` emails), validate renders, then send every batch."""
    # the nurture modules load Jinja and SendGrid: only this command pays for them, not `leadflow --help`
    from leadflow.nurture.plan import BlastRadiusExceeded, plan_sends
    from leadflow.nurture.send import check_renders, ledger_report, send_batches, send_planned

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        try:
            planned = plan_sends(wh, cfg, args.date, approve_up_to=args.approve)
        except BlastRadiusExceeded as exc:
            print(exc)
            return 2
        print(f"{'plan_sends':<18} {planned}")
        print(f"{'validate_renders':<18} {check_renders(wh, cfg, args.date)}")
        if args.plan_only:
            return 0
        for batch in send_batches(wh, cfg, args.date):
            counts = send_planned(wh, cfg, args.date, batch=batch)
            print(f"{'send_emails':<18} batch {batch['index'] + 1}/{batch['of']}: {counts}")
        print(f"{'report_sends':<18} {ledger_report(wh, cfg, args.date)}")
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
    nurture.set_defaults(func=cmd_nurture)
    return nurture
