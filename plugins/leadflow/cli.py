"""The `leadflow` command: generate sample data, run steps outside Airflow, summarise, lint templates."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from leadflow.cli_common import command_warehouse, scored_date
from leadflow.config import ConfigError, load_settings
from leadflow.console import configure_logging, console, print_json, progress, reset_logging, step_table, table


def cmd_generate(args: argparse.Namespace) -> int:
    from leadflow.demo.generate import generate

    with progress() as bar:
        tasks = {"leads": bar.add_task("leads", total=None), "days": bar.add_task("day files", total=None)}
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
            progress=lambda phase, done, total: bar.update(tasks[phase], completed=done, total=total),
        )
    if args.json:
        print_json({"out": args.out, **vars(summary)})
        return 0
    out = console()
    out.print(
        f"generated {summary.leads:,} leads and {summary.events:,} events "
        f"into {args.out} ({len(summary.crm_files)} CRM file(s), {len(summary.web_files)} event file(s))"
    )
    if len(summary.crm_files) > 1:
        first, last = summary.crm_files[0].name, summary.crm_files[-1].name
        out.print(f"daily CRM exports {first} .. {last}: run those dates in order")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from leadflow.backfill import run_nightly

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        if args.reconcile:
            from leadflow.pipeline import create_schemas, request_crm_reconciliation

            create_schemas(wh)
            request_crm_reconciliation(wh, cfg, args.date, "leadflow run --reconcile")
        with progress() as bar:
            task = bar.add_task(f"night {args.date}", total=None)
            result = run_nightly(
                wh,
                cfg,
                args.date,
                on_step=lambda name: bar.update(task, advance=1, description=f"night {args.date}: {name} done"),
            )
        steps = dict(result.steps)
        if args.nurture:
            from leadflow.backfill import run_nurture  # a past night plans and sends nothing

            steps["nurture"] = run_nurture(wh, cfg, args.date)
    if args.json:
        print_json({"as_of_date": args.date, "steps": steps})
    else:
        out = console()
        out.print(step_table(f"leadflow run {args.date}", steps))
        quarantined = [
            (name.removeprefix("validate_"), reason, f"{rows:,}")
            for name, outcome in steps.items()
            if name.startswith("validate_") and isinstance(outcome, dict)
            for reason, rows in (outcome.get("by_reason") or {}).items()
        ]
        if quarantined:
            out.print(table("\nquarantined rows by reason", ("source", "reason", "rows"), quarantined, right=["rows"]))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from leadflow.backfill import backfill

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh, progress() as bar:
        if args.reconcile:
            from leadflow.pipeline import create_schemas, request_crm_reconciliation

            create_schemas(wh)
            request_crm_reconciliation(wh, cfg, args.start, "leadflow backfill --reconcile")
        task = bar.add_task("nights", total=None)
        result = backfill(
            wh,
            cfg,
            args.start,
            args.end,
            nurture=args.nurture,
            send_past=args.send_past,
            progress=lambda night, done, total: bar.update(
                task, completed=done, total=total, description=f"night {night} done"
            ),
        )
    if args.json:
        print_json(
            {
                "start": args.start,
                "end": args.end,
                "nights": result.nights,
                "replayed": result.replayed,
                "write_back": result.write_back,
                "nurture": result.nurture,
            }
        )
        return 0
    out = console()
    out.print(f"ran {len(result.nights)} night(s) {args.start} → {args.end} in date order")
    if result.replayed:
        out.print(f"ran the later nights again: {', '.join(d.isoformat() for d in result.replayed)}")
    steps = {"write_back": result.write_back, **{f"nurture {night}": o for night, o in result.nurture.items()}}
    out.print(step_table(None, steps))
    return 0


def cmd_intraday(args: argparse.Namespace) -> int:
    from leadflow.intraday import run_intraday

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        result = run_intraday(wh, cfg)
    if args.json:
        print_json(result)
        return 0
    out = console()
    if "waiting" in result:
        out.print(f"intraday rescoring of {result['as_of_date']} waits: {result['waiting']}")
        return 0
    moved = ", ".join(f"{n} to {stage}" for stage, n in result["transitions"].items()) or "no stage changes"
    written = result["write_back"]
    out.print(
        f"rescored {result['leads']:,} lead(s) touched by {result['events']:,} new event(s) as of "
        f"{result['as_of_date']} (on the night of {result['night']}): {moved}; "
        f"CRM: {written['written']:,} of {written['changed']:,} changed lead(s) written"
    )
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from leadflow.pipeline import hot_leads, stage_counts

    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        as_of = scored_date(wh, args.date)
        if as_of is None:
            return 1
        counts = stage_counts(wh)
        hot = hot_leads(wh, as_of)
        sends = dict(wh.fetchall("select status, count(*) from nurture.email_sends group by status order by 1"))
        outbox = cfg.path(cfg.mailer.outbox)
        files = len(list(outbox.glob("*.eml"))) if outbox.is_dir() else 0
    if args.json:
        print_json(
            {
                "as_of_date": as_of,
                "stages": counts,
                "hot_leads": hot,
                "ledger": {str(k): int(v) for k, v in sends.items()},
                "outbox": {"path": outbox, "eml_files": files} if cfg.mailer.kind == "file" else None,
            }
        )
        return 0
    out = console()
    out.print(f"leadflow summary as of {as_of}", style="bold")
    total = sum(counts.values()) or 1
    stages = ((k, f"{n:,}", f"{n / total:.0%}") for k, n in counts.items())
    out.print(table("\nleads per stage", ("stage", "leads", "share"), stages, right=["leads", "share"]))
    if hot.empty:
        out.print("\ntop 5 hot leads: (none)")
    else:
        rows = (
            (
                r.crm_id,
                r.company or "",
                f"{r.last_name or ''} {r.first_name or ''}".strip(),
                f"{r.total_score:.0f}",
                r.stage,
                str(r.top_reasons or "").replace(" / ", "\n"),
            )
            for r in hot.itertuples()
        )
        columns = ("CRM id", "company", "name", "score", "stage", "reasons")
        out.print(table("\ntop 5 hot leads", columns, rows, right=["score"]))
    ledger = ((k, f"{v:,}") for k, v in sends.items())
    out.print(
        table("\nemails: send ledger", ("status", "emails"), ledger, right=["emails"])
        if sends
        else "\nemails: ledger empty"
    )
    if cfg.mailer.kind == "file":
        out.print(f"outbox: {files:,} .eml files in {outbox}")
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

    reset_logging()  # the intake service logs its own way (access log, one app log line per event)
    serve(load_settings(args.config), args.host, args.port, args.warehouse)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadflow", description=__doc__)
    parser.add_argument("--config", help="leadflow.yml (default: $LEADFLOW_CONFIG or config/leadflow.yml)")
    add_output_flags(parser)
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
    gen.add_argument("--json", action="store_true", help="print what was written as JSON")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="run the nightly steps for one date without Airflow")
    run.add_argument("--date", type=date.fromisoformat, required=True)
    run.add_argument("--nurture", action="store_true", help="also plan and send nurture email")
    run.add_argument(
        "--reconcile",
        action="store_true",
        help="land every CRM record tonight, not only those changed (catches deletions and unflagged edits)",
    )
    run.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    run.add_argument("--json", action="store_true", help="print each step's result as JSON")
    run.set_defaults(func=cmd_run)

    back = sub.add_parser(
        "backfill", help="run every night from --start to --end in order (then the later nights already run)"
    )
    back.add_argument("--start", type=date.fromisoformat, required=True, help="first as-of date (YYYY-MM-DD)")
    back.add_argument("--end", type=date.fromisoformat, required=True, help="last as-of date, inclusive")
    back.add_argument("--nurture", action="store_true", help="plan and send nurture email for the latest night")
    back.add_argument(
        "--reconcile", action="store_true", help="the first night of the range lands every CRM record (reconciles)"
    )
    back.add_argument(
        "--send-past", action="store_true", help="also plan and send nurture email for every past night of the range"
    )
    back.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    back.add_argument("--json", action="store_true", help="print the nights run and their results as JSON")
    back.set_defaults(func=cmd_backfill)

    intra = sub.add_parser(
        "intraday", help="rescore now the leads the intake's new events touched, and write their CRM fields"
    )
    intra.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    intra.add_argument("--json", action="store_true", help="print the result as JSON")
    intra.set_defaults(func=cmd_intraday)

    summ = sub.add_parser("summary", help="leads per stage, top hot leads and their reasons, emails")
    summ.add_argument("--date", type=date.fromisoformat)
    summ.add_argument("--warehouse")
    summ.add_argument("--json", action="store_true", help="print the summary as JSON")
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
    from leadflow.privacy.cli import add_privacy_parsers
    from leadflow.report.cli import add_report_parser
    from leadflow.simulate import add_rescore_parser, add_simulate_parser
    from leadflow.validation.cli import add_validation_parser

    add_nurture_parser(sub)
    add_validation_parser(sub)
    add_simulate_parser(sub)
    add_rescore_parser(sub)
    add_privacy_parsers(sub)
    add_report_parser(sub)
    for command in sub.choices.values():  # `leadflow summary -v` as well as `leadflow -v summary`
        add_output_flags(command, default=argparse.SUPPRESS)
    return parser


def add_output_flags(parser: argparse.ArgumentParser, default: object = None) -> None:
    """-v/--verbose and --quiet, on the main parser and (without defaults) on each subcommand."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if default is None else default,
        help="log more: -v leadflow's progress, -vv everything (debug)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        default=False if default is None else default,
        help="errors only: no warnings, no progress bars",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.quiet)
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
    finally:
        reset_logging()  # a command configures logging for its own run only (tests call main repeatedly)


if __name__ == "__main__":
    sys.exit(main())
