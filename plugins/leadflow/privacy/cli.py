"""`leadflow erase`, `leadflow export-person` and `leadflow housekeep`: personal data from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from leadflow.cli_common import command_warehouse
from leadflow.config import load_settings


def _print_counts(counts: dict[str, int]) -> None:
    if not counts:
        print("  nothing held (already erased, or never known)")
    for name, n in sorted(counts.items()):
        print(f"  {name:<28} {n:>7,}")


def cmd_erase(args: argparse.Namespace) -> int:
    from leadflow.privacy.erase import apply_erasure, request_for

    cfg = load_settings(args.config)
    request = request_for(cfg, email=args.email, crm_id=args.crm_id, reason=args.reason, source="cli")
    with command_warehouse(args, cfg) as wh:
        counts = apply_erasure(wh, cfg, request)
    print(f"erasure {request.erasure_id} applied (kept: keyed hash {request.key_hash[:12]}…)")
    _print_counts(counts)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from leadflow.privacy.export import export_person

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        doc = export_person(wh, cfg, email=args.email, crm_id=args.crm_id)
    text = json.dumps(doc, ensure_ascii=False, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(
            f"wrote {sum(doc['counts'].values()):,} rows of {len(doc['counts'])} tables to {args.out}", file=sys.stderr
        )
    else:
        print(text)
    return 0


def cmd_housekeep(args: argparse.Namespace) -> int:
    from leadflow.privacy.retention import housekeep

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        counts = housekeep(wh, cfg, args.date)
    print(f"housekeeping as of {args.date}: rows and files removed")
    _print_counts(counts)
    return 0


def _person(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email address")
    who.add_argument("--crm-id", help="the person's CRM id")
    parser.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")


def add_privacy_parsers(subparsers: Any) -> None:
    """Add `erase`, `export-person` and `housekeep` to the main CLI's subcommands."""
    erase = subparsers.add_parser("erase", help="erase one person everywhere; keep only a keyed hash to keep them out")
    _person(erase)
    erase.add_argument("--reason", default="data subject request", help="why (kept in ops.erasures)")
    erase.set_defaults(func=cmd_erase)

    export = subparsers.add_parser("export-person", help="everything held about one person, as JSON")
    _person(export)
    export.add_argument("--out", help="write the JSON here (default: standard output)")
    export.set_defaults(func=cmd_export)

    house = subparsers.add_parser("housekeep", help="apply the retention periods (privacy.retention) as of a date")
    house.add_argument("--date", type=date.fromisoformat, required=True, help="as-of date (YYYY-MM-DD)")
    house.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    house.set_defaults(func=cmd_housekeep)
