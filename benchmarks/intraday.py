"""Intraday rescoring (docs/adr/0019): the time from the intake's applied events to the touched leads'
scores, stages and CRM fields, on a warehouse after its first night, on DuckDB and PostgreSQL.

The warehouse is built once per scale from the bench's generated sample data (benchmarks/bench.py's cache):
the first night of END_DATE is loaded, scored, staged and written back on DuckDB; PostgreSQL is seeded
from that warehouse (bench.seed_postgres). Then, for the next day, each repetition pushes `--events` new web
events for random leads through `ops.inbox` and `apply_inbox` (at 11:00 local; not timed) and times the
intraday step that follows (`rescore_touched` + `write_back_touched`, as the intake DAG's two tasks run
them, in this process). With `--check`, the night of that day is then computed in a rolled-back
transaction and its scores of the touched leads compared with the intraday ones (they must be equal).

    .venv/bin/python -m benchmarks.intraday --leads 100000 --events-per-lead 50 --repeat 3

Prints one JSON object: each backend's seconds per repetition, their median, the leads touched and the check.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from benchmarks.bench import DEFAULT_PG, END_DATE, _generate, _pg_database, _settings, seed_postgres  # noqa: E402

log = logging.getLogger("benchmarks.intraday")
EVENT_MIX = (("page_view", 55), ("pricing_view", 25), ("whitepaper_download", 10), ("case_study_download", 7))
HAND_RAISE_SHARE = 0.01  # of the pushed events: demo requests (each also plans an owner alert)


def first_night(uri: str, cfg: Any, night: date, *, loaded: bool = False) -> dict:
    """Land, validate, stage, score and stage the leads for `night`, record it run, write the CRM fields
    (with `loaded`, the warehouse already holds the night's landed, validated and staged data)."""
    from leadflow import pipeline
    from leadflow.crm.writeback import write_back

    out: dict[str, Any] = {}
    with _connect(uri) as wh:
        pipeline.create_schemas(wh)
        t0 = time.perf_counter()
        if not loaded:
            for source in ("crm", "web"):
                pipeline.extract(wh, cfg, night, source)
                pipeline.validate_raw(wh, cfg, night, source)
            pipeline.stage_core(wh, cfg, night)
        pipeline.score(wh, cfg, night)
        pipeline.advance_stages(wh, cfg, night)
        pipeline.record_validation(wh, night.isoformat(), "transitions", True, {"as_of_date": night.isoformat()}, [])
        out["write_back"] = write_back(wh, cfg, night)
        out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _connect(uri: str) -> Any:
    from leadflow.warehouse import connect

    return connect(uri)


def push_events(wh: Any, cfg: Any, day: date, count: int, rng: random.Random, tag: str) -> dict:
    """`count` new web events for random leads, pushed and applied as the intake does at 11:00 of `day`."""
    from leadflow.intake.apply import apply_inbox
    from leadflow.intake.inbox import InboxRecord, load_records

    crm_ids = [c for (c,) in wh.fetchall("select crm_id from core.leads order by crm_id")]
    now = datetime.combine(day, clock(11, 0), tzinfo=cfg.tz).astimezone(UTC)
    types, weights = zip(*EVENT_MIX, strict=True)
    records = []
    for n in range(count):
        kind = "demo_request" if rng.random() < HAND_RAISE_SHARE else rng.choices(types, weights)[0]
        event_id = f"bench-{tag}-{n}"
        payload = {
            "event_id": event_id,
            "crm_id": rng.choice(crm_ids),
            "event_type": kind,
            "occurred_at": (now - timedelta(minutes=rng.randint(1, 60))).isoformat(),
            "url": f"https://www.example.jp/{kind}",
        }
        records.append(InboxRecord("web_event", event_id, payload, now))
    load_records(wh, records)
    t0 = time.perf_counter()
    applied = apply_inbox(wh, cfg, now=now, max_rows=count + 10)
    return {"now": now, "applied": applied["events"], "apply_seconds": round(time.perf_counter() - t0, 2)}


def check_against_night(wh: Any, cfg: Any, day: date) -> dict:
    """The night of `day` computed in a rolled-back transaction: its scores of today's intraday leads against theirs."""
    from leadflow.batches import model_params
    from leadflow.pipeline import score

    columns = (
        "lead_id, fit_score, engagement_score, total_score, fit_grade, score_change_7d, heating_up, hand_raiser,"
        " last_activity_date, top_reasons, rules_version"
    )
    d = {"d": day.isoformat()}
    intraday = wh.fetchall(
        f"select {columns} from scoring.intraday_scores where as_of_date = cast(:d as date) order by lead_id", d
    )
    out: dict[str, Any] = {}

    with wh.rolled_back("the night of the intraday day"):
        wh.run_model("staging/stg_events.sql", model_params(cfg, day, batch_id=day.isoformat()))
        score(wh, cfg, day)
        out["night"] = wh.fetchall(
            f"select {columns} from scoring.lead_scores where as_of_date = cast(:d as date)"
            " and lead_id in (select lead_id from scoring.intraday_scores where as_of_date = cast(:d as date))"
            " order by lead_id",
            d,
        )
        # events the night stages that the day did not have: those the file of the night before held
        # for this day (ops.held_events); their leads' scores differ, rightly
        out["more"] = {
            str(lead)
            for (lead,) in wh.fetchall(
                "select distinct e.lead_id from core.events as e where e._batch_id = :b"
                " and not exists (select 1 from ops.inbox_events as i where i.event_id = e.event_id)",
                {"b": day.isoformat()},
            )
        }
    night = [r for r in out["night"] if r[0] not in out["more"]]
    same_events = [r for r in intraday if r[0] not in out["more"]]
    return {
        "leads": len(intraday),
        "leads_the_night_saw_more_events_of": len(intraday) - len(same_events),
        "equal_to_the_night": night == same_events,
    }


def run_backend(uri: str, cfg: Any, day: date, args: argparse.Namespace) -> dict:
    """`--repeat` runs of fresh events, then (with `--check`) the comparison with the night."""
    out: dict[str, Any] = {}
    rng = random.Random(args.seed)
    with _connect(uri) as wh:
        out["runs"] = _runs(wh, cfg, day, args, rng)
        if args.check:
            out["check"] = check_against_night(wh, cfg, day)
    return out


def _runs(wh: Any, cfg: Any, day: date, args: argparse.Namespace, rng: random.Random) -> dict:
    from leadflow.intraday import rescore_touched, write_back_touched

    runs = []
    for rep in range(args.repeat):
        pushed = push_events(wh, cfg, day, args.events, rng, f"{rep}-{secrets.token_hex(3)}")
        later = pushed["now"] + timedelta(minutes=5)
        t0 = time.perf_counter()
        rescored = rescore_touched(wh, cfg, now=later)
        t1 = time.perf_counter()
        written = write_back_touched(wh, cfg, now=later)
        t2 = time.perf_counter()
        runs.append(
            {
                "seconds": round(t2 - t0, 3),
                "rescore_seconds": round(t1 - t0, 3),
                "write_back_seconds": round(t2 - t1, 3),
                "events": rescored.get("events"),
                "leads": rescored.get("leads"),
                "transitions": rescored.get("transitions"),
                "crm_written": written.get("written"),
                "apply_seconds": pushed["apply_seconds"],
            }
        )
        log.info("%s run %d: %s", wh.dialect, rep + 1, runs[-1])
    return {"median_seconds": round(statistics.median(r["seconds"] for r in runs), 3), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events-per-lead", type=int, default=50)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events", type=int, default=1000, help="new events per intraday run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["duckdb", "postgres"], choices=["duckdb", "postgres"])
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URI (a database is created and dropped)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "leadflow-bench"))
    parser.add_argument("--keep", help="keep the DuckDB warehouse after its first night here (reused when present)")
    parser.add_argument(
        "--keep-first-night",
        action="store_true",
        help="start from the bench's kept first-night load (benchmarks.bench --keep-first-night) when present",
    )
    parser.add_argument("--no-check", dest="check", action="store_false", help="skip the comparison with the night")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("great_expectations", "leadflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    landing, data = _generate(Path(args.cache), args.leads, args.events_per_lead, args.days, args.seed)
    cfg = _settings(landing)
    night, day = END_DATE, END_DATE + timedelta(days=1)
    scratch = Path(tempfile.mkdtemp(prefix="leadflow-intraday-"))
    result: dict[str, Any] = {"leads": data["leads"], "events_generated": data["events"], "events_per_run": args.events}
    try:
        seed = Path(args.keep) if args.keep else scratch / "seed.duckdb"
        loaded = landing.with_name(landing.name + ".night1.duckdb")  # the bench's --keep-first-night file
        if not seed.is_file() and args.keep_first_night and loaded.is_file():
            shutil.copyfile(loaded, seed)
            result["first_night"] = first_night(f"duckdb://{seed}", cfg, night, loaded=True)
            result["first_night"]["loaded_from"] = loaded.name
            log.info("first night, from the bench's kept load: %s", result["first_night"])
        elif not seed.is_file():
            result["first_night"] = first_night(f"duckdb://{seed}", cfg, night)
            log.info("first night: %s", result["first_night"])
        for backend in args.backends:
            if backend == "duckdb":
                work = scratch / "warehouse.duckdb"
                shutil.copyfile(seed, work)
                result["duckdb"] = run_backend(f"duckdb://{work}", cfg, day, args)
                work.unlink()
            else:
                name = f"leadflow_intraday_{secrets.token_hex(4)}"
                uri = _pg_database(args.pg, name, create=True)
                try:
                    t0 = time.perf_counter()
                    seed_postgres(seed, uri, scratch)
                    log.info("postgres seeded in %.0f s", time.perf_counter() - t0)
                    result["postgres"] = run_backend(uri, cfg, day, args)
                finally:
                    _pg_database(args.pg, name, create=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
