"""The benchmark harness: time the nightly steps, a hand-written pandas scoring baseline and render+send.

Run from the project root as `python -m benchmarks.bench --leads 100000 ...` (`make bench`, `make bench-quick`);
it is a developer tool, not part of the shipped `leadflow` package. Each measured step runs in a fresh Python
subprocess (this file run with `--step STEP-JSON`), so its peak RSS (VmHWM, reported by the child itself) is
that step's alone; a figure is the median of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

END_DATE = date(2026, 11, 22)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_MAX_BAD_SHARE = 0.25
log = logging.getLogger("benchmarks.bench")
_bar: list[Any] = []  # the running progress display and its task, while `cmd_bench` runs
STEP_TIMEOUT = 1800.0  # seconds: a measured run that takes longer is killed and reported as such
# issues 8 and 24: (step, backend) -> (limit in seconds, scale, least events per lead it applies to)
TARGETS = {
    ("full_rebuild", "duckdb"): (15.0, "s at 1M leads / 50M events", 50),
    ("full_rebuild_rekey", "duckdb"): (15.0, "s at 1M leads / 50M events", 50),
    ("incremental", "duckdb"): (20.0, "s at 1M leads / 50M events", 50),
    ("incremental", "postgres"): (60.0, "s at 1M leads / 50M events", 50),
}
RSS_TARGET_MIB = 1024  # issue 24: the peak RSS of every task


@dataclass
class Figure:
    """One measured step on one backend: every run's seconds and peak RSS."""

    step: str
    backend: str
    seconds: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    extras: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    def median_of(self, key: str) -> float:
        """The median over runs of a number the step reported (e.g. emails_per_second)."""
        values = [float(e[key]) for e in self.extras if isinstance(e.get(key), int | float)]
        return statistics.median(values) if values else 0.0

    @property
    def peak_rss(self) -> float:
        return max(self.rss_mib) if self.rss_mib else float("nan")


# --- the child side: one step, timed, printed as JSON -------------------------------------------


def _settings(landing: Path) -> Any:
    from leadflow.config import CrmFileSourceConfig, FileSourceConfig, SourcesConfig, load_settings

    cfg = load_settings()
    sources = SourcesConfig(
        crm=CrmFileSourceConfig(path=landing / "crm", pattern="*.csv"),
        web=FileSourceConfig(path=landing / "web", pattern="*.jsonl"),
    )
    # the first night sees a snapshot taken a day later: its leads updated that day are quarantined
    validation = cfg.validation.model_copy(update={"max_bad_share": BENCH_MAX_BAD_SHARE})
    return cfg.model_copy(update={"sources": sources, "validation": validation})


def _night_task(wh: Any, cfg: Any, as_of: date, task: str) -> dict:
    """One task of a night, as the DAG's task of that name runs it."""
    from leadflow import pipeline

    if task in ("extract:crm", "extract:web"):
        pipeline.create_schemas(wh)
        return pipeline.extract(wh, cfg, as_of, task.split(":")[1])
    if task in ("validate:crm", "validate:web"):
        return pipeline.validate_raw(wh, cfg, as_of, task.split(":")[1])
    if task == "stage":
        return pipeline.stage_core(wh, cfg, as_of)
    if task == "score":
        return pipeline.score(wh, cfg, as_of)
    raise ValueError(f"unknown night task {task!r}")


def pandas_scores(leads: Any, events: Any, rules: Any, as_of: date) -> Any:
    """Total score per lead for `as_of`, the way a user would write it by hand in pandas: fit rules
    (first match per group), engagement with per-day limit, half-life decay and per-rule cap, clamp."""
    import numpy as np
    import pandas as pd

    parts = []
    for group, fits in pd.DataFrame([r.model_dump() for r in rules.fit]).groupby("group"):
        points = pd.Series(np.nan, index=leads.index)
        for rule in fits.itertuples():  # file order: the first matching rule of a group counts
            value = leads[rule.field]
            op, v = rule.op, rule.value
            if op == "regex":
                with warnings.catch_warnings():  # the rules' groups are alternations, not captures
                    warnings.simplefilter("ignore", UserWarning)
                    hit = value.fillna("").str.contains(v, case=False, regex=True)
            elif op == "gte":
                hit = pd.to_numeric(value, errors="coerce") >= v
            elif op == "lte":
                hit = pd.to_numeric(value, errors="coerce") <= v
            elif op == "between":
                hit = pd.to_numeric(value, errors="coerce").between(v[0], v[1])
            elif op == "in":
                hit = value.fillna("").str.lower().isin([x.lower() for x in v])
            elif op == "email_domain_in":
                hit = value.fillna("").str.lower().str.split("@").str[-1].isin([x.lower() for x in v])
            elif op == "eq":
                hit = value.fillna("").str.lower() == str(v).lower()
            else:
                raise ValueError(f"pandas baseline: operator {op} not written by hand")
            hit = hit.fillna(False).astype(bool)  # a missing value (pd.NA) matches no rule
            points = points.where(points.notna() | ~hit, rule.points)
        parts.append(points.fillna(0).rename(group))
    fit = pd.concat(parts, axis=1).sum(axis=1)
    fit.index = leads["lead_id"]

    eng = pd.DataFrame([r.model_dump() for r in rules.engagement])
    eng = eng.rename(columns={"event": "event_type"})
    ev = events[(events["event_date"] <= pd.Timestamp(as_of)) & (events["_batch_id"] <= as_of.isoformat())]
    daily = ev.groupby(["lead_id", "event_type", "event_date"], observed=True).size().rename("n").reset_index()
    daily = daily.merge(eng, on="event_type")
    age = (pd.Timestamp(as_of) - pd.to_datetime(daily["event_date"])).dt.days
    daily = daily[age < daily["window_days"]]
    age = age[daily.index]
    counted = np.minimum(daily["n"], daily["max_per_day"])
    daily = daily.assign(pts=counted * daily["points"] * np.power(0.5, age / daily["half_life_days"]))
    per_rule = daily.groupby(["lead_id", "id"], observed=True).agg(pts=("pts", "sum"), cap=("cap", "max"))
    per_rule = np.minimum(per_rule["pts"], per_rule["cap"]).round(2)
    engagement = per_rule.groupby(level="lead_id").sum()
    total = fit.add(engagement, fill_value=0).round(2)
    low, high = rules.score_range
    return total.clip(low, high).rename("total_score")


def _pandas_vs_sql(wh: Any, cfg: Any, as_of: date, *, night: bool = False) -> dict:
    """The same scoring, SQL on DuckDB then pandas by hand, in this one process (a fair ratio). The
    SQL side is the full rebuild of `as_of`, or with `night` the night's scoring of `as_of` on a
    warehouse that scored the night before (what a night does: carry the running state); pandas
    recomputes the same totals from every event either way, as a hand-written job would each night."""
    from leadflow.scoring import load_rules, rebuild_scores, score

    rules = load_rules(cfg.path(cfg.scoring_rules))
    t0 = time.perf_counter()
    if night:
        score(wh, cfg, as_of)
    else:
        rebuild_scores(wh, cfg, [as_of])
    sql_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    leads = wh.fetch_df("select lead_id, job_title, industry, employee_count, email from core.leads")
    events = wh.fetch_df("select lead_id, event_type, event_date, _batch_id from core.events")
    events["event_type"] = events["event_type"].astype("category")
    read_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    totals = pandas_scores(leads, events, rules, as_of)
    pandas_seconds = time.perf_counter() - t0
    sql = wh.fetch_df(
        "select lead_id, total_score from scoring.lead_scores where as_of_date = cast(:d as date)",
        {"d": as_of.isoformat()},
    ).set_index("lead_id")["total_score"]
    both = sql.to_frame("sql").join(totals.rename("pandas"), how="left").fillna(0)
    agree = float(((both["sql"] - both["pandas"]).abs() <= 0.05).mean()) if len(both) else 0.0
    return {
        "sql_seconds": round(sql_seconds, 3),
        "pandas_read_seconds": round(read_seconds, 3),
        "pandas_seconds": round(pandas_seconds, 3),
        "ratio": round((pandas_seconds + read_seconds) / sql_seconds, 2) if sql_seconds else None,
        "ratio_compute_only": round(pandas_seconds / sql_seconds, 2) if sql_seconds else None,
        "agreement": round(agree, 4),
    }


_NIGHT_ROWS = {
    "scoring.lead_scores": "select lead_id, fit_score, engagement_score, total_score, fit_grade, score_change_7d,"
    " heating_up, hand_raiser, last_activity_date, top_reasons, rules_version from scoring.lead_scores"
    " where as_of_date = cast(:d as date) order by lead_id",
    "scoring.score_factors": "select lead_id, rule_id, kind, occurrences, points from scoring.score_factors"
    " where as_of_date = cast(:d as date) order by lead_id, rule_id",
}


def _digest(wh: Any, as_of: date) -> dict[str, str]:
    """A SHA-256 of each night table's rows for `as_of`, in key order (every value as text)."""
    import hashlib

    out = {}
    for table, sql in _NIGHT_ROWS.items():
        digest = hashlib.sha256()
        for chunk in wh.fetch_chunks(sql, {"d": as_of.isoformat()}, rows=200_000):
            for row in chunk.itertuples(index=False):
                digest.update("\x1f".join(map(str, row)).encode())
                digest.update(b"\x1e")
        out[table] = digest.hexdigest()[:16]
    return out


def _rebuild_check(wh: Any, cfg: Any, as_of: date) -> dict:
    """The oracle at scale: the night's scores and factors of `as_of` (carried running state) against a
    full rebuild of that date from every event, compared by digest inside a transaction rolled back."""
    from leadflow.scoring import rebuild_scores

    night = _digest(wh, as_of)
    t0 = time.perf_counter()
    with wh.rolled_back("the rebuild check"):
        rebuild_scores(wh, cfg, [as_of])
        rebuild_seconds = time.perf_counter() - t0
        rebuilt = _digest(wh, as_of)
    return {
        "equal": night == rebuilt,
        "night": ",".join(night.values()),
        "rebuild": ",".join(rebuilt.values()),
        "rebuild_seconds": round(rebuild_seconds, 2),
    }


RENDER_CHUNK = 500  # emails rendered before they are sent, as one mapped `send_emails` task's batch


def _render_send(cfg: Any, count: int) -> dict:
    """Render `count` emails with the real templates and send them with SendGridMailer to the local
    SendGrid server (a separate process, counting only), SEND_CONCURRENCY calls in flight as in
    send_planned, spread over one worker process per CPU as mapped `send_emails` tasks spread."""
    import multiprocessing
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from leadflow.nurture.mailer import OutgoingEmail, SendGridMailer
    from leadflow.nurture.render import render_emails, sample_context, template_environment
    from leadflow.nurture.send import SEND_CONCURRENCY, _outgoing, email_context, send_with_retry

    names = ["cold_industry_trends", "warm_case_study", "trigger_download_followup"]
    rows = {}  # a planned ledger row per locale (the columns planned_rows reads), from the sample leads
    for locale in ("ja", "en"):
        sample = sample_context(locale)
        rows[locale] = {
            **sample["lead"],
            "total_score": sample["score"]["total"],
            "fit_grade": sample["score"]["fit_grade"],
            "top_reasons": sample["score"]["reasons"],
            "stage": "warm",
            "event_asset": sample["event"]["asset"],
            "event_url": sample["event"]["url"],
            "owner_email": sample["owner"]["email"],
            "kind": "marketing",
            "track": "nurture",
        }
    workers = max(1, min(os.cpu_count() or 1, SEND_CONCURRENCY))

    def send_share(url: str, worker: int, results: Any) -> None:
        """One worker: every `workers`-th email from `worker`, its share of the calls in flight."""
        mailer = SendGridMailer("SG.bench", cfg.mailer, host=url)
        env = template_environment(cfg.path(cfg.templates), reload=False)

        def prepare(share: range) -> list[OutgoingEmail]:
            """Planned emails as send_planned makes them: the product's context, render and envelope."""
            planned = []
            for i in share:
                locale = "ja" if i % 2 else "en"
                lead_id = f"L{i:08d}"
                planned.append(
                    {
                        **rows[locale],
                        "send_key": f"bench:{i}",
                        "lead_id": lead_id,
                        "crm_id": lead_id,
                        "first_name": f"Bench{i}",
                        "email": f"lead{i}@example.com",
                        "to_email": f"lead{i}@example.com",
                        "template": names[i % len(names)],
                    }
                )
            jobs = [(row["template"], row["locale"], email_context(row, cfg)) for row in planned]
            emails = []
            for row, rendered in zip(planned, render_emails(env, jobs), strict=True):
                if isinstance(rendered, Exception):
                    raise rendered
                emails.append(_outgoing(row, rendered, cfg, None))
            return emails

        def send(email: OutgoingEmail) -> str:
            return send_with_retry(mailer, email).status

        try:
            with ThreadPoolExecutor(max_workers=max(1, SEND_CONCURRENCY // workers)) as pool:
                statuses: Counter[str] = Counter()
                share = range(worker, count, workers)
                for start in range(0, len(share), RENDER_CHUNK):
                    # As send_planned does: the chunk rendered first, then sent with the calls in flight.
                    emails = prepare(share[start : start + RENDER_CHUNK])
                    statuses.update(pool.map(send, emails))
                results.put(statuses)
        except Exception as exc:  # the parent waits for one answer per worker: never leave it waiting
            results.put(Counter({f"{type(exc).__name__}: {exc}": 1}))
        finally:
            mailer.close()

    server = subprocess.Popen(
        [sys.executable, "-m", "leadflow.demo.sendgrid_server", "--port", "0", "--counts-only"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        # fork: the workers inherit the imported modules and the settings, as task processes do.
        context = multiprocessing.get_context("fork")
        results = context.SimpleQueue()
        t0 = time.perf_counter()
        processes = [context.Process(target=send_share, args=(url, w, results)) for w in range(workers)]
        for process in processes:
            process.start()
        statuses: Counter[str] = Counter()
        for _ in processes:
            statuses.update(results.get())
        seconds = time.perf_counter() - t0
        for process in processes:
            process.join()
    finally:
        server.terminate()
        server.wait(timeout=10)
    if statuses["sent"] != count:
        raise RuntimeError(f"render_send: only {statuses['sent']} of {count} sent ({dict(statuses)})")
    return {"emails": count, "emails_per_second": round(count / seconds, 1), "processes": workers}


def run_step(spec: dict) -> dict:
    """One measured step (the child side): returns its own timing of the work and what it did."""
    from leadflow.warehouse import connect

    landing, as_of = Path(spec["landing"]), date.fromisoformat(spec["as_of"])
    cfg = _settings(landing)
    step = spec["step"]
    if step == "render_send":
        t0 = time.perf_counter()
        out = _render_send(cfg, int(spec["emails"]))
        return {"seconds": time.perf_counter() - t0, **out}
    with connect(spec["uri"]) as wh:
        primed = 0.0
        if step == "full_rebuild":
            # a warehouse the nights have kept has its event batches keyed: the first night's scoring
            # would have keyed them, which the bench's load does not run (not timed; full_rebuild_rekey
            # times a rebuild that keys every batch again)
            from leadflow.pipeline import key_events

            t0 = time.perf_counter()
            key_events(wh, cfg, as_of, full=True)
            primed = time.perf_counter() - t0
        t0 = time.perf_counter()
        if step in NIGHT_TASK_NAMES:
            out = _night_task(wh, cfg, as_of, step)
        elif step in ("full_rebuild", "full_rebuild_rekey"):
            from leadflow.scoring import rebuild_scores

            out = rebuild_scores(wh, cfg, [as_of], rekey=step == "full_rebuild_rekey")
            if step == "full_rebuild":
                out["keying_before_seconds"] = round(primed, 2)
        elif step == "advance_write_back":
            from leadflow import pipeline
            from leadflow.crm.writeback import write_back

            out = {"stages": pipeline.advance_stages(wh, cfg, as_of), "write_back": write_back(wh, cfg, as_of)}
        elif step == "rebuild_check":
            out = _rebuild_check(wh, cfg, as_of)
        elif step in ("pandas_vs_sql", "night_vs_pandas"):
            out = _pandas_vs_sql(wh, cfg, as_of, night=step == "night_vs_pandas")
        else:
            raise ValueError(f"unknown bench step {step!r}")
        return {"seconds": time.perf_counter() - t0, **json.loads(json.dumps(out, default=str))}


# --- the parent side ------------------------------------------------------------------------------


def measure(spec: dict, timeout: float = STEP_TIMEOUT) -> tuple[dict, float]:
    """Run one step in a fresh interpreter (a night: each of its tasks in its own, as Airflow runs
    them); its result and its peak RSS in MiB."""
    tasks = NIGHT_TASKS.get(spec["step"])
    if tasks is None:
        return _measure_child(spec, timeout)
    made: dict = {}
    peaks: dict[str, float] = {}
    times: dict[str, float] = {}
    for task in tasks:
        out, peaks[task] = _measure_child({**spec, "step": task}, timeout)
        times[task] = out.pop("seconds")
        if task in ("stage", "score"):  # what the night made; extract and validate summaries stay in ops.*
            made.update(out)
    by_task = {task: round(peak) for task, peak in peaks.items()}
    seconds_by_task = {task: round(secs, 2) for task, secs in times.items()}
    result = {"seconds": sum(times.values()), "seconds_by_task": seconds_by_task, "peak_mib_by_task": by_task, **made}
    return result, max(peaks.values())


def _measure_child(spec: dict, timeout: float) -> tuple[dict, float]:
    """One child interpreter running `spec`; its result and its peak RSS in MiB (as the child saw it,
    else from wait4)."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--step", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        err_chunks: list[bytes] = []
        reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read() if proc.stderr else b""))
        reader.start()
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join()
        err = b"".join(err_chunks)
    finally:
        timer.cancel()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{spec['step']} exited {proc.returncode}: {' | '.join(tail)}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    peak = result.pop("peak_rss_mib", None)
    return result, float(peak) if peak is not None else usage.ru_maxrss / 1024


def own_peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: its own memory since exec, not the parent's at fork time, which
    wait4's ru_maxrss can carry on Linux) or that of any child it waited for, whichever is larger."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    try:
        status = Path("/proc/self/status").read_text()
        own = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return round(max(own, children), 1)


def _machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem = f"{mem_kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        mem = "unknown"
    import duckdb
    import pandas as pd

    versions = f"Python {platform.python_version()}, duckdb {duckdb.__version__}, pandas {pd.__version__}"
    try:
        import psycopg

        versions += f", psycopg {psycopg.__version__}"
    except ImportError:
        pass
    return {"cpu": cpu, "nproc": str(os.cpu_count()), "memory": mem, "versions": versions}


def _pg_version(uri: str) -> str:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute("show server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def _pg_database(base_uri: str, name: str, create: bool, template: str | None = None) -> str:
    """Create (or drop) database `name` on the server of `base_uri`, created as a copy of database
    `template` when given (a file-level copy: seconds where seeding takes minutes); the URI of `name`."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(base_uri, autocommit=True) as conn:
        if create:
            copy = sql.SQL(" template {}").format(sql.Identifier(template)) if template else sql.SQL("")
            conn.execute(sql.SQL("create database {}{}").format(sql.Identifier(name), copy))
        else:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    return base_uri.rsplit("/", 1)[0] + "/" + name


def _restore_pg(base_uri: str, name: str, snapshot: str) -> Callable[[], None]:
    """Database `name` as it was when copied to `snapshot`, again (drop it, copy the snapshot back)."""

    def restore() -> None:
        _pg_database(base_uri, name, create=False)
        _pg_database(base_uri, name, create=True, template=snapshot)

    return restore


def _pg_exists(base_uri: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(base_uri, autocommit=True) as conn:
        return conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone() is not None


def _restore_file(snapshot: Path, target: Path) -> Callable[[], None]:
    """DuckDB file `target` as it was when copied to `snapshot`, again."""

    def restore() -> None:
        shutil.copyfile(snapshot, target)
        target.with_name(target.name + ".wal").unlink(missing_ok=True)

    return restore


def _generate(cache: Path, leads: int, events_per_lead: int, days: int, seed: int) -> tuple[Path, dict]:
    """Sample data for the bench, generated once per scale: `days` days of events up to END_DATE (the
    first load) plus the next day (the incremental night), with the CRM snapshot of both nights."""
    from leadflow.demo.generate import BASE_EVENTS_PER_LEAD, generate

    activity = events_per_lead / BASE_EVENTS_PER_LEAD
    landing = cache / f"leads{leads}_epl{events_per_lead}_days{days}_seed{seed}"
    meta = landing / "bench.json"
    if meta.is_file():
        return landing, json.loads(meta.read_text())
    if landing.exists():
        shutil.rmtree(landing)

    def show(phase: str, done: int, total: int) -> None:  # the generation's progress on the bench's bar
        if _bar:
            _bar[0].update(_bar[1], description=f"generating {leads:,} leads: {phase} {done:,}/{total:,}")

    t0 = time.perf_counter()
    summary = generate(
        landing,
        leads=leads,
        days=days + 1,
        seed=seed,
        end_date=END_DATE + timedelta(days=1),
        activity=activity,
        progress=show,
    )
    seconds = time.perf_counter() - t0
    for path in summary.crm_files:  # the same snapshot lands on the first night too
        shutil.copyfile(path, path.with_name(f"leads_{END_DATE.isoformat()}.csv"))
    info = {
        "leads": summary.leads,
        "events": summary.events,
        "days": days,
        "events_per_lead": events_per_lead,
        "activity": round(activity, 3),
        "generate_seconds": round(seconds, 1),
    }
    meta.write_text(json.dumps(info))
    return landing, info


SEED_SCHEMAS = ("raw", "ops", "core", "scoring", "lifecycle", "nurture", "crm")


def seed_postgres(duckdb_file: Path, pg_uri: str, workdir: Path) -> dict:
    """Copy every table of a DuckDB warehouse after its first night into a new PostgreSQL warehouse
    (CSV out of DuckDB, COPY into PostgreSQL), except `raw.web_events`, which no later step reads.

    Used with `--pg-seed copy` at scales where loading the first night twice costs more than it tells.
    """
    import duckdb
    import psycopg
    from psycopg import sql

    from leadflow import pipeline
    from leadflow.warehouse import connect

    with connect(pg_uri) as wh:
        pipeline.create_schemas(wh)
    copied: dict[str, int] = {}
    duck = duckdb.connect(str(duckdb_file), read_only=True)
    try:
        tables = duck.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE' and table_schema in ?",
            [list(SEED_SCHEMAS)],
        ).fetchall()
        with psycopg.connect(pg_uri, autocommit=True) as pg:
            for schema, table in sorted(tables):
                # raw web events: no later step reads them; day_factors: a working table scoring recreates
                if (schema, table) in {("raw", "web_events"), ("scoring", "day_factors")}:
                    continue
                rows = duck.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
                if not rows or not rows[0]:
                    continue
                columns = [r[0] for r in duck.execute(f'describe "{schema}"."{table}"').fetchall()]
                csv = workdir / f"{schema}.{table}.csv"
                duck.execute(f'copy "{schema}"."{table}" to \'{csv}\' (header false)')
                target = sql.SQL("copy {}.{} ({}) from stdin with (format csv)").format(
                    sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
                with pg.transaction(), pg.cursor() as cur:
                    cur.execute(sql.SQL("delete from {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
                    with cur.copy(target) as copy, csv.open("rb") as fh:
                        while chunk := fh.read(1 << 20):
                            copy.write(chunk)
                csv.unlink()
                copied[f"{schema}.{table}"] = int(rows[0])
            # what autosummarize does as the copied block ranges fill: the nights' reads of a few days need it
            pg.execute(
                "select brin_summarize_new_values(i.oid) from pg_class as i"
                " inner join pg_am as a on i.relam = a.oid where a.amname = 'brin' and i.relkind = 'i'"
            )
            pg.execute("analyze")
    finally:
        duck.close()
    return copied


@dataclass(frozen=True)
class Scale:
    """One data size: leads and events per lead over `days` days."""

    leads: int
    events_per_lead: int

    @property
    def key(self) -> str:
        return f"{self.leads}x{self.events_per_lead}"


ALL_STEPS = (
    "load",
    "full_rebuild_rekey",
    "full_rebuild",
    "incremental",
    "advance_write_back",
    "pandas_vs_sql",
    "night_vs_pandas",
    "rebuild_check",
)
# a night as the DAG runs it, task by task (extract_crm, validate_raw_crm, extract_web,
# validate_raw_events, stage_core, score_leads): Airflow starts a process per task
NIGHT_TASKS = {
    "load": ("extract:crm", "validate:crm", "extract:web", "validate:web", "stage"),
    "incremental": ("extract:crm", "validate:crm", "extract:web", "validate:web", "stage", "score"),
}
NIGHT_TASK_NAMES = frozenset(task for tasks in NIGHT_TASKS.values() for task in tasks)


def run_scale(args: argparse.Namespace, scale: Scale) -> tuple[list[Figure], dict]:
    """Every warehouse step on every backend for one scale; the figures and what was generated."""
    cache = Path(args.cache or Path(tempfile.gettempdir()) / "leadflow-bench")
    log.info("scale %s leads x %s events/lead", f"{scale.leads:,}", scale.events_per_lead)
    landing, data = _generate(cache, scale.leads, scale.events_per_lead, args.days, args.seed)
    base, new_day = END_DATE, END_DATE + timedelta(days=1)
    figures: list[Figure] = []
    common = {"landing": str(landing)}
    seed_file: Path | None = None
    # --keep-first-night: DuckDB's first night kept beside the data, so later runs start from it (at
    # 1M x 50 that night takes over half an hour), and that warehouse once scored by `full_rebuild`
    # (PostgreSQL's seed, so its `incremental` is a usual night: yesterday's state carried); reuse them
    # only with the code whose schema wrote them
    kept = landing.with_name(landing.name + ".night1.duckdb")
    kept_scored = landing.with_name(landing.name + ".night1.scored.duckdb")
    scratch = Path(tempfile.mkdtemp(prefix="leadflow-bench-"))
    if args.pg_seed == "copy" and args.keep_first_night:
        seed_file = next((f for f in (kept_scored, kept) if f.is_file()), None)
    try:
        for backend in args.backends:
            token = secrets.token_hex(4)
            name = f"leadflow_bench_{token}"
            if backend == "duckdb":
                uri = f"duckdb://{scratch / 'warehouse.duckdb'}"
            else:
                uri = _pg_database(args.pg, name, create=True)
            try:
                spec = {**common, "uri": uri}
                steps = [
                    ("full_rebuild_rekey", base),  # every batch keyed again, as on a warehouse never keyed
                    ("full_rebuild", base),  # what `leadflow rescore --full` does on a kept warehouse
                    ("incremental", new_day),
                    ("rebuild_check", new_day),  # the night's result against a full rebuild, rolled back
                    ("advance_write_back", new_day),
                ]
                if backend == "duckdb":
                    # after `incremental` scored the new day: its scoring again against pandas recomputing it
                    steps += [("pandas_vs_sql", base), ("night_vs_pandas", new_day)]
                steps = [(step, as_of) for step, as_of in steps if step in args.steps]
                kept_pg = args.pg_keep_seed if backend == "postgres" else None
                reused_pg = kept_pg if kept_pg and _pg_exists(args.pg, kept_pg) else None
                if backend == "postgres" and args.pg_seed == "copy" and seed_file is None and reused_pg is None:
                    figures += [
                        Figure(step, backend, error="not run: no DuckDB first night to seed from") for step, _ in steps
                    ]
                    continue
                if reused_pg:
                    _restore_pg(args.pg, name, reused_pg)()  # the empty database made above, as the kept seed
                    data["pg_seed"] = {"from": f"a copy of database {reused_pg}, seeded by an earlier run"}
                    log.info("postgres: %s", data["pg_seed"]["from"])
                elif backend == "postgres" and args.pg_seed == "copy" and seed_file is not None:
                    t0 = time.perf_counter()
                    copied = seed_postgres(seed_file, uri, scratch)
                    data["pg_seed"] = {
                        "seconds": round(time.perf_counter() - t0, 1),
                        "rows": sum(copied.values()),
                        "from": "DuckDB's first night"
                        + (", scored" if copied.get("scoring.rule_state") else " (not scored: no state carries)"),
                    }
                    log.info("postgres seeded: %s", data["pg_seed"])
                    if kept_pg:
                        _pg_database(args.pg, kept_pg, create=True, template=name)
                elif backend == "duckdb" and args.keep_first_night and kept.is_file():
                    shutil.copyfile(kept, scratch / "warehouse.duckdb")
                    data["first_night"] = f"reused {kept.name}, an earlier run's first night (not loaded again)"
                    log.info("duckdb: %s", data["first_night"])
                else:  # once: the first night lands every file of the window (every later step needs it)
                    first = _record(
                        Figure("load_validate_stage", backend), {**spec, "step": "load", "as_of": base.isoformat()}, 1
                    )
                    figures.append(first)
                    if first.error:  # later steps would measure a warehouse missing what they read
                        figures += [Figure(step, backend, error="not run: the first night failed") for step, _ in steps]
                        continue
                    if backend == "duckdb" and args.keep_first_night:
                        shutil.copyfile(scratch / "warehouse.duckdb", kept)
                seeds_pg = backend == "duckdb" and "postgres" in args.backends and args.pg_seed == "copy"
                if seeds_pg and seed_file is None:
                    seed_file = scratch / "seed.duckdb"
                    shutil.copyfile(scratch / "warehouse.duckdb", seed_file)
                for step, as_of in steps:
                    spec_step = {**spec, "step": step, "as_of": as_of.isoformat()}
                    restore = None
                    if step == "incremental" and args.repeat > 1:
                        # a repeat on the same warehouse would rerun the night (staging rebuilds core.leads
                        # then): each run starts from the warehouse as the night before left it
                        if backend == "duckdb":
                            shutil.copyfile(scratch / "warehouse.duckdb", scratch / "before_night.duckdb")
                            restore = _restore_file(scratch / "before_night.duckdb", scratch / "warehouse.duckdb")
                        elif kept_pg:  # the kept seed is the night before, as it is here
                            restore = _restore_pg(args.pg, name, kept_pg)
                        else:
                            _pg_database(args.pg, f"{name}_before", create=True, template=name)
                            restore = _restore_pg(args.pg, name, f"{name}_before")
                    figures.append(_record(Figure(step, backend), spec_step, args.repeat, restore))
                    if step == "full_rebuild" and backend == "duckdb" and (args.keep_first_night or seeds_pg):
                        # the warehouse scored for the night before the new day: PostgreSQL's seed
                        seed_file = kept_scored if args.keep_first_night else scratch / "seed.duckdb"
                        shutil.copyfile(scratch / "warehouse.duckdb", seed_file)
            finally:
                if backend == "postgres":
                    _pg_database(args.pg, name, create=False)
                    _pg_database(args.pg, f"{name}_before", create=False)
                for leftover in scratch.glob("warehouse.duckdb*"):
                    leftover.unlink()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures, data


def _record(fig: Figure, spec: dict, repeat: int, restore: Callable[[], None] | None = None) -> Figure:
    """Measure `spec` `repeat` times into `fig`, and return it (a failed run is reported and ends the
    repeats; the other steps still run). With `restore`, every run after the first starts from the
    warehouse as it was before the first, untimed: each is the night's first run, not a rerun of it."""
    for run in range(repeat):
        if restore and run:
            restore()
        if _bar:
            _bar[0].update(_bar[1], description=f"{fig.backend} {fig.step} ({run + 1}/{repeat})")
        try:
            result, rss = measure(spec)
        except Exception as exc:
            fig.error = str(exc)[:300]
            log.error("%-8s %-20s FAILED: %s", fig.backend, fig.step, fig.error)
            return fig
        finally:
            if _bar:
                _bar[0].advance(_bar[1])
        fig.seconds.append(float(result.pop("seconds")))
        fig.rss_mib.append(rss)
        fig.extra = result
        fig.extras.append(result)
        log.info("%-8s %-20s %8.2f s  %7.0f MiB  %s", fig.backend, fig.step, fig.seconds[-1], rss, result)
    return fig


def run_emails(args: argparse.Namespace, count: int) -> Figure:
    """Render + send `count` emails to the local SendGrid server, `--repeat` times."""
    landing = Path(tempfile.mkdtemp(prefix="leadflow-bench-emails-"))
    try:
        spec = {"landing": str(landing), "step": "render_send", "as_of": END_DATE.isoformat(), "emails": count}
        return _record(Figure("render_send", "sendgrid-local"), spec, args.repeat)
    finally:
        shutil.rmtree(landing, ignore_errors=True)


def _verdict(fig: Figure, leads: int, events_per_lead: int = 0) -> str:
    if fig.error:
        return "failed (see below)"
    if fig.step == "render_send":
        rate = fig.median_of("emails_per_second")
        return f"median {rate:,.0f} emails/s vs target ≥ 2,000: {'met' if rate >= 2000 else 'missed'}"
    if fig.step == "rebuild_check":
        same = [e.get("equal") is True for e in fig.extras]
        return "night equals the full rebuild: " + ("yes" if same and all(same) else "NO")
    if fig.step in ("pandas_vs_sql", "night_vs_pandas"):
        ratio = fig.median_of("ratio")
        if not ratio:
            return "no ratio"
        faster = f"SQL {ratio:.1f}× faster than pandas" if ratio >= 1 else f"pandas {1 / ratio:.1f}× faster than SQL"
        return f"median: {faster}; target SQL ≥ 10× faster: {'met' if ratio >= 10 else 'missed'}"
    target = TARGETS.get((fig.step, fig.backend))
    if not target:
        return ""
    limit, unit, min_per_lead = target
    if leads >= 1_000_000 and events_per_lead >= min_per_lead:
        return f"target ≤ {limit:g} {unit}: {'met' if fig.median <= limit else 'missed'}"
    return f"target ≤ {limit:g} {unit} (not this scale)"


def _header(args: argparse.Namespace, machine: dict[str, str]) -> list[str]:
    return [
        f"- machine: {machine['cpu']}, {machine['nproc']} CPUs (nproc), {machine['memory']} memory",
        f"- versions: {machine['versions']}" + (f", {machine['pg']}" if machine.get("pg") else ""),
        f"- command: `{args.command_line}`",
        "- each figure: median of the runs shown, each run in a fresh subprocess; peak RSS is the largest "
        f"per-process peak (VmHWM, or a waited-for child's) of those runs (target ≤ {RSS_TARGET_MIB:,} MiB)",
    ]


def _table(figures: list[Figure], leads: int, events_per_lead: int = 0) -> list[str]:
    lines = [
        "| step | backend | median s | runs | peak RSS MiB | details | vs target |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for fig in figures:
        runs = ", ".join(f"{s:.2f}" for s in fig.seconds) or "-"
        details = "; ".join(f"{k}={v}" for k, v in fig.extra.items() if k not in ("stages",))[:480]
        details = f"last run: {details}" if len(fig.extras) > 1 else details
        rss = "-" if not fig.rss_mib else f"{fig.peak_rss:,.0f}"
        median = "-" if not fig.seconds else f"{fig.median:.2f}"
        verdict = _verdict(fig, leads, events_per_lead)
        if fig.rss_mib and fig.peak_rss > RSS_TARGET_MIB:
            verdict += f" — peak RSS above {RSS_TARGET_MIB:,} MiB"
        lines.append(f"| {fig.step} | {fig.backend} | {median} | {runs} | {rss} | {details} | {verdict} |")
    failed = [f for f in figures if f.error]
    if failed:
        lines += ["", "Failures:", ""] + [f"- {f.step} on {f.backend}: {f.error}" for f in failed]
    return lines


def format_report(figures: list[Figure], data: dict, args: argparse.Namespace, machine: dict[str, str]) -> str:
    """One scale's generated block: machine, versions, command, data, the table of figures."""
    per_lead = data["events"] / data["leads"] if data["leads"] else 0
    seeded = data.get("pg_seed")
    lines = [
        f"### {data['leads']:,} leads × {data['events_per_lead']} events/lead",
        "",
        *_header(args, machine),
        f"- data: {data['leads']:,} leads, {data['events']:,} events over {data['days']} days "
        f"({per_lead:.1f} events/lead, {data['events_per_lead']} asked for; generator activity "
        f"{data['activity']}; generated in {data['generate_seconds']} s, not measured below)",
    ]
    if seeded and "rows" in seeded:
        lines.append(
            f"- PostgreSQL seeded from {seeded['from']} (`--pg-seed copy`: {seeded['rows']:,} rows in "
            f"{seeded['seconds']} s, not measured), so it has no load_validate_stage row"
        )
    elif seeded:  # --pg-keep-seed found the seed of an earlier run
        lines.append(
            f"- PostgreSQL started from {seeded['from']} (`--pg-keep-seed`), so it has no load_validate_stage row"
        )
    if data.get("first_night"):
        lines.append(f"- DuckDB's first night: {data['first_night']}, so it has no load_validate_stage row")
    return "\n".join([*lines, "", *_table(figures, data["leads"], data["events_per_lead"])]) + "\n"


def format_email_report(figures: list[Figure], args: argparse.Namespace, machine: dict[str, str]) -> str:
    lines = ["### Render + send", "", *_header(args, machine), ""]
    return "\n".join([*lines, *_table(figures, 0)]) + "\n"


def _markers(key: str) -> tuple[str, str]:
    return f"<!-- bench:begin {key} (generated by benchmarks/bench.py) -->", f"<!-- bench:end {key} -->"


def write_report(path: Path, report: str, key: str) -> None:
    """Put `report` between the bench markers for `key` in `path` (everything else is kept), or append it."""
    begin, end = _markers(key)
    block = f"{begin}\n{report}{end}\n"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "# Benchmarks\n\n") + block
    path.write_text(text, encoding="utf-8")


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def cmd_bench(args: argparse.Namespace, argv: list[str]) -> int:
    """Run every scale and email count asked for; write each block of the report; 1 if a step failed."""
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"duckdb", "postgres"}
    if unknown:
        raise ValueError(f"--backends: unknown {sorted(unknown)} (duckdb, postgres)")
    args.steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if set(args.steps) - set(ALL_STEPS):
        raise ValueError(f"--steps: unknown {sorted(set(args.steps) - set(ALL_STEPS))} ({', '.join(ALL_STEPS)})")
    if args.pg_seed == "copy" and (
        "postgres" not in args.backends or "duckdb" not in args.backends and not args.keep_first_night
    ):
        raise ValueError(
            "--pg-seed copy needs --backends duckdb,postgres, or postgres with --keep-first-night"
            " (PostgreSQL is seeded from DuckDB's first night)"
        )
    args.backends = sorted(args.backends, key=["duckdb", "postgres"].index)
    args.command_line = shlex.join(["python", "-m", "benchmarks.bench", *argv])
    machine = _machine()
    if "postgres" in args.backends:
        machine["pg"] = _pg_version(args.pg)
    from leadflow.console import progress  # here, not at the top: a measured step's child never loads rich

    failed = False
    with progress() as bar:
        _bar[:] = [bar, bar.add_task("bench", total=None)]
        try:
            failed = _run_all(args, machine)
        finally:
            _bar.clear()
    return 1 if failed else 0


def _run_all(args: argparse.Namespace, machine: dict[str, str]) -> bool:
    """Every scale, then every email count; True if any step failed."""
    failed = False
    if args.backends:
        for leads in _ints(args.leads):
            for per_lead in _ints(args.events_per_lead):
                scale = Scale(leads, per_lead)
                figures, data = run_scale(args, scale)
                report = format_report(figures, data, args, machine)
                write_report(Path(args.out), report, scale.key)
                print(report)
                failed |= any(f.error for f in figures)
    for count in [c for c in _ints(args.emails) if c > 0]:
        fig = run_emails(args, count)
        report = format_email_report([fig], args, machine)
        write_report(Path(args.out), report, f"emails-{count}")
        print(report)
        failed |= bool(fig.error)
    return failed


def build_parser() -> argparse.ArgumentParser:
    """The bench's options: generate data at each scale, time each nightly step per backend, write a report."""
    bench = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description="benchmark the nightly steps, a pandas baseline and render+send"
    )
    bench.add_argument("--leads", default="100000", help="comma-separated lead counts, e.g. 100000,1000000")
    bench.add_argument(
        "--events-per-lead", default="20", help="comma-separated mean events per lead over --days, e.g. 20,50"
    )
    bench.add_argument("--days", type=int, default=180)
    bench.add_argument("--seed", type=int, default=7)
    bench.add_argument("--backends", default="duckdb,postgres", help="comma-separated: duckdb, postgres")
    bench.add_argument("--steps", default=",".join(ALL_STEPS), help=f"comma-separated subset of {', '.join(ALL_STEPS)}")
    bench.add_argument(
        "--pg-seed",
        choices=("load", "copy"),
        default="load",
        help="PostgreSQL's first night: load it (measured), or copy DuckDB's result (not measured)",
    )
    bench.add_argument("--repeat", type=int, default=3)
    bench.add_argument(
        "--keep-first-night",
        action="store_true",
        help="keep DuckDB's first-night warehouse with the cached data and start from it when it is there",
    )
    bench.add_argument(
        "--pg-keep-seed",
        metavar="DB",
        help="with --pg-seed copy: keep PostgreSQL's seeded warehouse as database DB on the server, and start"
        " from a copy of it when it is there (seconds, where seeding 1M leads takes ~20 minutes); it is also"
        " what each repeat of the night is restored from",
    )
    bench.add_argument("--emails", default="10000", help="comma-separated email counts to render+send (0: none)")
    bench.add_argument("--pg", default=os.environ.get("LEADFLOW_TEST_PG", DEFAULT_PG), help="PostgreSQL server")
    bench.add_argument("--cache", help="where generated data is kept between runs (default: $TMPDIR/leadflow-bench)")
    bench.add_argument("--out", default="BENCHMARKS.md", help="report file: each scale's results replace its block")
    bench.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    bench.add_argument("--quiet", action="store_true", help="errors only, no progress bar")
    return bench


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.bench [options]`: the whole run, as `make bench` starts it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from leadflow.console import configure_logging, reset_logging

    args = build_parser().parse_args(argv)
    configure_logging(args.verbose + 1, args.quiet)  # each step's figures are the bench's progress: INFO
    try:
        return cmd_bench(args, argv)
    except ValueError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    finally:
        reset_logging()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--step"]:  # the child side of `measure`
        outcome = run_step(json.loads(sys.argv[2]))
        print(json.dumps({**outcome, "peak_rss_mib": own_peak_rss_mib()}, default=str))
    else:
        sys.exit(main())
