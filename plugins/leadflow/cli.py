"""The `leadflow` command: generate sample data, run steps outside Airflow, summarise, lint templates."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from leadflow.cli_common import command_warehouse
from leadflow.config import ConfigError, load_settings


def cmd_generate(args: argparse.Namespace) -> int:
    from leadflow.demo.generate import generate

    summary = generate(
        Path(args.out),
        leads=args.leads,
        days=args.days,
        seed=args.seed,
        end_date=args.end_date,
        bad_share=args.bad_share,
        activity=args.activity,
        daily=args.daily,
        daily_from=args.daily_from,
        export_every=args.export_every,
        timezone=args.timezone or load_settings(args.config).timezone,
    )
    print(
        f"generated {summary.leads:,} leads and {summary.events:,} events "
        f"into {args.out} ({len(summary.crm_files)} CRM file(s), {len(summary.web_files)} event file(s))"
    )
    if len(summary.crm_files) > 1:
        first, last = summary.crm_files[0].name, summary.crm_files[-1].name
        print(f"daily CRM exports {first} .. {last}: run those dates in order")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from leadflow.backfill import run_nightly

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        result = run_nightly(wh, cfg, args.date)
        for step, outcome in result.steps.items():
            print(f"{step:<18} {outcome}")
        if args.nurture:
            from leadflow.backfill import run_nurture  # a past night plans and sends nothing

            print(f"{'nurture':<18} {run_nurture(wh, cfg, args.date)}")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from leadflow.backfill import backfill

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        result = backfill(wh, cfg, args.start, args.end, nurture=args.nurture, send_past=args.send_past)
    print(f"ran {len(result.nights)} night(s) {args.start} → {args.end} in date order")
    if result.replayed:
        print(f"ran the later nights again: {', '.join(d.isoformat() for d in result.replayed)}")
    print(f"{'write_back':<18} {result.write_back}")
    for night, outcome in result.nurture.items():
        print(f"{'nurture ' + night:<18} {outcome}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from leadflow.pipeline import hot_leads, stage_counts

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        as_of = args.date or wh.scalar("select max(as_of_date) from scoring.lead_scores")
        if as_of is None:
            print("no scores yet: run the nightly DAG first (make demo, or make dag DAG=leadflow_nightly DATE=…)")
            return 1
        as_of = date.fromisoformat(str(as_of))
        counts = stage_counts(wh)
        print(f"leadflow summary as of {as_of}")
        print("\nleads per stage")
        for stage, n in counts.items():
            print(f"  {stage:<16} {n:>7,}")
        print("\ntop 5 hot leads")
        hot = hot_leads(wh, as_of)
        if hot.empty:
            print("  (none)")
        for row in hot.itertuples():
            print(f"  {row.crm_id}  {row.company or ''} {row.last_name or ''} {row.first_name or ''}".rstrip())
            print(f"      score {row.total_score:.0f} ({row.stage}): {row.top_reasons}")
        sends = dict(wh.fetchall("select status, count(*) from nurture.email_sends group by status order by 1"))
        outbox = cfg.path(cfg.mailer.outbox)
        files = len(list(outbox.glob("*.eml"))) if outbox.is_dir() else 0
        print("\nemails")
        print(f"  ledger: {', '.join(f'{k} {v:,}' for k, v in sends.items()) or 'empty'}")
        if cfg.mailer.kind == "file":
            print(f"  outbox: {files:,} .eml files in {outbox}")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    from leadflow.nurture import templates_cli

    cfg = load_settings(args.config)
    if args.action == "lint":
        return templates_cli.lint(cfg)
    if args.action == "gallery":
        return templates_cli.gallery(cfg, Path(args.out if args.out != "data/preview" else "data/gallery"))
    return templates_cli.preview(
        cfg, args.name, Path(args.out), args.lead_id, command_warehouse(args, cfg) if args.lead_id else None
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from leadflow.intake.app import serve

    serve(load_settings(args.config), args.host, args.port, args.warehouse)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadflow", description=__doc__)
    parser.add_argument("--config", help="leadflow.yml (default: $LEADFLOW_CONFIG or config/leadflow.yml)")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write realistic sample CRM and web-event files")
    gen.add_argument("--leads", type=int, default=2000)
    gen.add_argument("--days", type=int, default=120)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 22))
    gen.add_argument("--bad-share", type=float, default=0.005, help="share of deliberately bad rows")
    gen.add_argument(
        "--activity", type=float, default=1.0, help="scale of each lead's event rate (1.0: ~21 events/lead in 180 days)"
    )
    gen.add_argument("--daily", action="store_true", help="one CRM export per day, each the CRM as it stood that day")
    gen.add_argument(
        "--daily-from",
        type=date.fromisoformat,
        help="first day of daily CRM exports (implies --daily; default: once a tenth of the leads exists)",
    )
    gen.add_argument(
        "--export-every", type=int, default=1, help="with --daily: one CRM export every N days back from --end-date"
    )
    gen.add_argument(
        "--timezone", help="IANA zone whose calendar days the files cut (default: the configured timezone)"
    )
    gen.add_argument("--out", required=True, help="landing folder (gets crm/ and web/)")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="run the nightly steps for one date without Airflow")
    run.add_argument("--date", type=date.fromisoformat, required=True)
    run.add_argument("--nurture", action="store_true", help="also plan and send nurture email")
    run.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    run.set_defaults(func=cmd_run)

    back = sub.add_parser(
        "backfill", help="run every night from --start to --end in order (then the later nights already run)"
    )
    back.add_argument("--start", type=date.fromisoformat, required=True, help="first as-of date (YYYY-MM-DD)")
    back.add_argument("--end", type=date.fromisoformat, required=True, help="last as-of date, inclusive")
    back.add_argument("--nurture", action="store_true", help="plan and send nurture email for the latest night")
    back.add_argument(
        "--send-past", action="store_true", help="also plan and send nurture email for every past night of the range"
    )
    back.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    back.set_defaults(func=cmd_backfill)

    summ = sub.add_parser("summary", help="leads per stage, top hot leads and their reasons, emails")
    summ.add_argument("--date", type=date.fromisoformat)
    summ.add_argument("--warehouse")
    summ.set_defaults(func=cmd_summary)

    tpl = sub.add_parser("templates", help="lint, preview or show (gallery) email templates")
    tpl.add_argument("action", choices=["lint", "preview", "gallery"])
    tpl.add_argument("name", nargs="?")
    tpl.add_argument("--lead-id")
    tpl.add_argument("--out", default="data/preview")
    tpl.add_argument("--warehouse")
    tpl.set_defaults(func=cmd_templates)

    srv = sub.add_parser("serve", help="run the public intake: unsubscribe links, SendGrid events, web events")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8090)
    srv.add_argument("--warehouse", help="PostgreSQL URI for ops.inbox (default: the file inbox on DuckDB)")
    srv.set_defaults(func=cmd_serve)

    from leadflow.nurture.cli import add_nurture_parser
    from leadflow.report.cli import add_report_parser
    from leadflow.simulate import add_rescore_parser, add_simulate_parser
    from leadflow.validation.cli import add_validation_parser

    add_nurture_parser(sub)
    add_validation_parser(sub)
    add_simulate_parser(sub)
    add_rescore_parser(sub)
    add_report_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"leadflow: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from leadflow.validation.gx import ValidationFailed

        if not isinstance(exc, ValidationFailed):
            raise
        print(f"leadflow: validation failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
