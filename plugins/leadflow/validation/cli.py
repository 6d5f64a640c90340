"""`leadflow validation …`: build the local Data Docs site, approve a larger run for a guarded check.

Wired into the main CLI by `add_validation_parser(subparsers)`; each subcommand's `func` takes the
parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from datetime import date
from pathlib import Path

from leadflow.batches import batch_id
from leadflow.cli_common import command_warehouse
from leadflow.config import load_settings, project_home
from leadflow.console import configure_logging, reset_logging
from leadflow.validation import (
    gates,
    gx,  # sets GX_ANALYTICS_ENABLED=false before GX is imported
)


def build_data_docs(gx_dir: Path | None = None) -> Path:
    """Build the Data Docs site of the file context at `gx_dir` (default `<home>/gx`) into its
    `uncommitted/data_docs/local_site/` (git-ignored); returns the site's index.html."""
    gx.defer_unused_imports()
    import great_expectations

    root = (gx_dir or project_home() / "gx").resolve()
    if root.name != "gx" or not (root / "great_expectations.yml").is_file():
        raise FileNotFoundError(f"{root}: not a GX file context (a folder named gx with great_expectations.yml)")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = great_expectations.get_context(mode="file", project_root_dir=root.parent)
    context.build_data_docs()
    return root / "uncommitted" / "data_docs" / "local_site" / "index.html"


def cmd_docs(args: argparse.Namespace) -> int:
    index = build_data_docs(Path(args.gx_dir) if args.gx_dir else None)
    print(f"Data Docs: {index.as_uri()}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    cfg = load_settings(getattr(args, "config", None))
    with command_warehouse(args, cfg) as wh:
        gates.approve(wh, batch_id(args.date), args.check, args.up_to, args.by)
    print(f"approved {args.check} up to {args.up_to:,} for {args.date} (by {args.by}); rerun the failed task")
    return 0


def add_validation_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `validation docs` and `validation approve` to the main CLI's subcommands."""
    val = subparsers.add_parser("validation", help="Data Docs and approvals for the validation gates")
    sub = val.add_subparsers(dest="validation_command", required=True)

    docs = sub.add_parser("docs", help="build the local Data Docs site (gx/uncommitted/data_docs)")
    docs.add_argument("--gx-dir", help="the GX file context (default: <home>/gx)")
    docs.set_defaults(func=cmd_docs)

    approve = sub.add_parser("approve", help="approve an unusual run for a guarded check of one date, then rerun")
    approve.add_argument("--date", type=date.fromisoformat, required=True, help="the as-of date (YYYY-MM-DD)")
    approve.add_argument(
        "--check",
        required=True,
        help="raw_crm_run.volume_spike, raw_crm_run.volume_drop or transitions.new_hot_bounded (as the error says)",
    )
    approve.add_argument("--up-to", type=int, required=True, help="the value approved for that run, as the error says")
    approve.add_argument("--by", default=getpass.getuser(), help="who approves (default: the current user)")
    approve.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    approve.set_defaults(func=cmd_approve)
    return val


def main(argv: list[str] | None = None) -> int:
    """`python -m leadflow.validation.cli …` until the main CLI carries the subcommand."""
    parser = argparse.ArgumentParser(prog="leadflow")
    parser.add_argument("--config")
    add_validation_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    configure_logging()
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as exc:
        print(f"leadflow: error: {exc}", file=sys.stderr)
        return 2
    finally:
        reset_logging()


if __name__ == "__main__":
    sys.exit(main())
