"""`leadflow bench`: time the nightly steps, a hand-written pandas scoring baseline and render+send.

Each measured step runs in a fresh Python subprocess (`python -m leadflow.bench STEP-JSON`), so its
peak RSS (from `os.wait4`) is that step's alone; a figure is the median of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

END_DATE = date(2026, 11, 22)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_MAX_BAD_SHARE = 0.25
STEP_TIMEOUT = 1800.0  # seconds: a measured run that takes longer is killed and reported as such
TARGETS = {  # issue 8: (step, backend) -> (limit, unit); seconds unless said otherwise
    ("full_rebuild", "duckdb"): (15.0, "s at 1M leads / 50M events"),
    ("incremental", "postgres"): (60.0, "s at 1M leads"),
}


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
    from leadflow.config import FileSourceConfig, SourcesConfig, load_settings

    cfg = load_settings()
    sources = SourcesConfig(
        crm=FileSourceConfig(path=landing / "crm", pattern="*.csv"),
        web=FileSourceConfig(path=landing / "web", pattern="*.jsonl"),
    )
    # the first night sees a snapshot taken a day later: its leads updated that day are quarantined
    validation = cfg.validation.model_copy(update={"max_bad_share": BENCH_MAX_BAD_SHARE})
    return cfg.model_copy(update={"sources": sources, "validation": validation})


def _nightly_load(wh: Any, cfg: Any, as_of: date) -> dict:
    from leadflow import pipeline

    pipeline.create_schemas(wh)
    out: dict = {}
    for source in ("crm", "web"):
        pipeline.extract(wh, cfg, as_of, source)
        pipeline.validate_raw(wh, cfg, as_of, source)
    out.update(pipeline.stage_core(wh, cfg, as_of))
    return out


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


def _pandas_vs_sql(wh: Any, cfg: Any, as_of: date) -> dict:
    """The same scoring, SQL on DuckDB then pandas by hand, in this one process (a fair ratio)."""
    from leadflow.scoring import load_rules, rebuild_scores

    rules = load_rules(cfg.path(cfg.scoring_rules))
    t0 = time.perf_counter()
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


def _render_send(cfg: Any, count: int) -> dict:
    """Render `count` emails with the real templates and send them with SendGridMailer to the local
    SendGrid server (a separate process), SEND_CONCURRENCY calls in flight as in send_planned."""
    from concurrent.futures import ThreadPoolExecutor

    from leadflow.nurture.mailer import OutgoingEmail, SendGridMailer
    from leadflow.nurture.render import render_email, sample_context, template_environment
    from leadflow.nurture.send import SEND_CONCURRENCY, send_with_retry, unsubscribe_url

    home = Path(cfg.home)
    server = subprocess.Popen(
        [sys.executable, str(home / "tests" / "fixtures" / "sendgrid_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        mailer = SendGridMailer("SG.bench", cfg.mailer, host=url)
        env = template_environment(cfg.path(cfg.templates))
        names = ["cold_industry_trends", "warm_case_study", "trigger_download_followup"]
        t0 = time.perf_counter()

        def one(i: int) -> str:
            locale = "ja" if i % 2 else "en"
            context = sample_context(locale)
            lead_id = f"L{i:08d}"
            context["lead"] = {**context["lead"], "first_name": f"Bench{i}", "crm_id": lead_id}
            context["links"] = {**context["links"], "unsubscribe": unsubscribe_url(lead_id, cfg)}
            rendered = render_email(env, names[i % len(names)], locale, context)
            email = OutgoingEmail(
                send_key=f"bench:{i}",
                to_email=f"lead{i}@example.com",
                to_name=f"Bench{i}",
                rendered=rendered,
                send_at=None,
                unsubscribe_url=unsubscribe_url(lead_id, cfg),
                categories=("leadflow", "bench"),
            )
            return send_with_retry(mailer, email).status

        with ThreadPoolExecutor(max_workers=SEND_CONCURRENCY) as pool:
            statuses = list(pool.map(one, range(count)))
        seconds = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=10)
    sent = statuses.count("sent")
    if sent != count:
        raise RuntimeError(f"render_send: only {sent} of {count} sent ({set(statuses)})")
    return {"emails": count, "emails_per_second": round(count / seconds, 1)}


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
        t0 = time.perf_counter()
        if step in ("load", "incremental_load"):
            out = _nightly_load(wh, cfg, as_of)
        elif step == "full_rebuild":
            from leadflow.scoring import rebuild_scores

            out = rebuild_scores(wh, cfg, [as_of])
        elif step == "incremental":
            from leadflow import pipeline

            out = {**_nightly_load(wh, cfg, as_of), **pipeline.score(wh, cfg, as_of)}
        elif step == "advance_write_back":
            from leadflow import pipeline
            from leadflow.crm.writeback import write_back

            out = {"stages": pipeline.advance_stages(wh, cfg, as_of), "write_back": write_back(wh, cfg, as_of)}
        elif step == "pandas_vs_sql":
            out = _pandas_vs_sql(wh, cfg, as_of)
        else:
            raise ValueError(f"unknown bench step {step!r}")
        return {"seconds": time.perf_counter() - t0, **json.loads(json.dumps(out, default=str))}


# --- the parent side ------------------------------------------------------------------------------


def measure(spec: dict, timeout: float = STEP_TIMEOUT) -> tuple[dict, float]:
    """Run one step in a fresh interpreter; its result and its peak RSS in MiB (from wait4)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadflow.bench", json.dumps(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
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
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


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


def _pg_database(base_uri: str, name: str, create: bool) -> str:
    """Create (or drop) database `name` on the server of `base_uri`; the URI of `name`."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(base_uri, autocommit=True) as conn:
        if create:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        else:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    return base_uri.rsplit("/", 1)[0] + "/" + name


def _generate(cache: Path, leads: int, days: int, seed: int) -> tuple[Path, dict]:
    """Sample data for the bench, generated once per scale: `days` days of events up to END_DATE (the
    first load) plus the next day (the incremental night), with the CRM snapshot of both nights."""
    from leadflow.sources.generate import generate

    landing = cache / f"leads{leads}_days{days}_seed{seed}"
    meta = landing / "bench.json"
    if meta.is_file():
        return landing, json.loads(meta.read_text())
    if landing.exists():
        shutil.rmtree(landing)
    t0 = time.perf_counter()
    summary = generate(landing, leads=leads, days=days + 1, seed=seed, end_date=END_DATE + timedelta(days=1))
    seconds = time.perf_counter() - t0
    for path in summary.crm_files:  # the same snapshot lands on the first night too
        shutil.copyfile(path, path.with_name(f"leads_{END_DATE.isoformat()}.csv"))
    info = {"leads": summary.leads, "events": summary.events, "days": days, "generate_seconds": round(seconds, 1)}
    meta.write_text(json.dumps(info))
    return landing, info


def run_bench(args: argparse.Namespace) -> tuple[list[Figure], dict]:
    """Every step on every backend; the figures and what was generated."""
    cache = Path(args.cache or Path(tempfile.gettempdir()) / "leadflow-bench")
    landing, data = _generate(cache, args.leads, args.days, args.seed)
    base, new_day = END_DATE, END_DATE + timedelta(days=1)
    figures: list[Figure] = []

    def record(fig: Figure, spec: dict, repeat: int) -> None:
        figures.append(fig)
        for _ in range(repeat):
            try:
                result, rss = measure(spec)
            except Exception as exc:  # a failed step is reported, the rest still run
                fig.error = str(exc)[:300]
                print(f"  {fig.backend:<8} {fig.step:<20} FAILED: {fig.error}", file=sys.stderr)
                return
            fig.seconds.append(float(result.pop("seconds")))
            fig.rss_mib.append(rss)
            fig.extra = result
            fig.extras.append(result)
            print(
                f"  {fig.backend:<8} {fig.step:<20} {fig.seconds[-1]:8.2f} s  {rss:7.0f} MiB  {result}", file=sys.stderr
            )

    common = {"landing": str(landing)}
    for backend in args.backends:
        token = secrets.token_hex(4)
        workdir = Path(tempfile.mkdtemp(prefix=f"leadflow-bench-{backend}-"))
        if backend == "duckdb":
            uri = f"duckdb://{workdir / 'warehouse.duckdb'}"
        else:
            uri = _pg_database(args.pg, f"leadflow_bench_{token}", create=True)
        try:
            spec = {**common, "uri": uri}
            # once: the first night lands every file of the window
            record(Figure("load_validate_stage", backend), {**spec, "step": "load", "as_of": base.isoformat()}, 1)
            steps = [("full_rebuild", base), ("incremental", new_day), ("advance_write_back", new_day)]
            for step, as_of in steps:
                record(Figure(step, backend), {**spec, "step": step, "as_of": as_of.isoformat()}, args.repeat)
            if backend == "duckdb":
                record(
                    Figure("pandas_vs_sql", backend),
                    {**spec, "step": "pandas_vs_sql", "as_of": base.isoformat()},
                    args.repeat,
                )
        finally:
            if backend == "duckdb":
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                _pg_database(args.pg, f"leadflow_bench_{token}", create=False)
                shutil.rmtree(workdir, ignore_errors=True)
    if args.emails:
        spec = {**common, "step": "render_send", "as_of": new_day.isoformat(), "emails": args.emails}
        record(Figure("render_send", "sendgrid-local"), spec, args.repeat)
    return figures, data


def _verdict(fig: Figure, leads: int) -> str:
    if fig.error:
        return "failed (see below)"
    if fig.step == "render_send":
        rate = fig.median_of("emails_per_second")
        return f"median {rate:,.0f} emails/s vs target ≥ 2,000: {'met' if rate >= 2000 else 'missed'}"
    if fig.step == "pandas_vs_sql":
        ratio = fig.median_of("ratio")
        if not ratio:
            return "no ratio"
        faster = f"SQL {ratio:.1f}× faster than pandas" if ratio >= 1 else f"pandas {1 / ratio:.1f}× faster than SQL"
        return f"median: {faster}; target SQL ≥ 10× faster: {'met' if ratio >= 10 else 'missed'}"
    target = TARGETS.get((fig.step, fig.backend))
    if target:
        scale = "" if leads >= 1_000_000 else f" (measured at {leads:,} leads, target is for 1M: not comparable)"
        return f"target ≤ {target[0]:g} {target[1]}{scale}"
    return ""


def format_report(figures: list[Figure], data: dict, args: argparse.Namespace, machine: dict[str, str]) -> str:
    """BENCHMARKS.md's generated part: machine, versions, command, the table of figures."""
    per_lead = data["events"] / data["leads"] if data["leads"] else 0
    lines = [
        "## Results",
        "",
        f"- machine: {machine['cpu']}, {machine['nproc']} CPUs (nproc), {machine['memory']} memory",
        f"- versions: {machine['versions']}" + (f", {machine['pg']}" if machine.get("pg") else ""),
        f"- command: `{args.command_line}`",
        f"- data: {data['leads']:,} leads, {data['events']:,} events over {data['days']} days "
        f"({per_lead:.1f} events/lead, {args.events_per_lead} asked for"
        f"{', days scaled' if args.scale_days else '; the generator is not scaled without --scale-days'}; "
        f"generated in {data['generate_seconds']} s, not measured below)",
        "- each figure: median of the runs shown, each run in a fresh subprocess; peak RSS is the largest "
        "ru_maxrss of those runs (target ≤ 1.5 GiB = 1,536 MiB)",
        "",
        "| step | backend | median s | runs | peak RSS MiB | details | vs target |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for fig in figures:
        runs = ", ".join(f"{s:.2f}" for s in fig.seconds) or "-"
        details = "; ".join(f"{k}={v}" for k, v in fig.extra.items() if k not in ("stages",))[:160]
        details = f"last run: {details}" if len(fig.extras) > 1 else details
        rss = "-" if not fig.rss_mib else f"{fig.peak_rss:,.0f}"
        median = "-" if not fig.seconds else f"{fig.median:.2f}"
        verdict = _verdict(fig, data["leads"])
        if fig.rss_mib and fig.peak_rss > 1536:
            verdict += " — peak RSS above 1.5 GiB"
        lines.append(f"| {fig.step} | {fig.backend} | {median} | {runs} | {rss} | {details} | {verdict} |")
    failed = [f for f in figures if f.error]
    if failed:
        lines += ["", "Failures:", ""] + [f"- {f.step} on {f.backend}: {f.error}" for f in failed]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- bench:begin (generated by leadflow bench) -->", "<!-- bench:end -->"


def write_report(path: Path, report: str) -> None:
    """Put `report` between the bench markers of `path` (the prose around them is kept), or write it."""
    block = f"{BEGIN}\n{report}{END}\n"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "# Benchmarks\n\n") + block
    path.write_text(text, encoding="utf-8")


def cmd_bench(args: argparse.Namespace) -> int:
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"duckdb", "postgres"}
    if unknown:
        raise ValueError(f"--backends: unknown {sorted(unknown)} (duckdb, postgres)")
    args.days = max(1, round(args.days * args.events_per_lead / 20)) if args.scale_days else args.days
    args.command_line = "leadflow bench " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "leadflow bench"
    machine = _machine()
    if "postgres" in args.backends:
        machine["pg"] = _pg_version(args.pg)
    figures, data = run_bench(args)
    report = format_report(figures, data, args, machine)
    write_report(Path(args.out), report)
    print(report)
    return 1 if any(f.error for f in figures) else 0


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `leadflow bench`: generate data at a scale, time each nightly step per backend, write a report."""
    bench = subparsers.add_parser("bench", help="benchmark the nightly steps, a pandas baseline and render+send")
    bench.add_argument("--leads", type=int, default=100_000)
    bench.add_argument(
        "--events-per-lead",
        type=int,
        default=20,
        help="approximate: the generator averages ~20 per lead over 180 days; with --scale-days the "
        "number of days is scaled to reach it",
    )
    bench.add_argument("--days", type=int, default=180)
    bench.add_argument("--scale-days", action="store_true", help="scale --days by events-per-lead / 20")
    bench.add_argument("--seed", type=int, default=7)
    bench.add_argument("--backends", default="duckdb,postgres", help="comma-separated: duckdb, postgres")
    bench.add_argument("--repeat", type=int, default=3)
    bench.add_argument("--emails", type=int, default=10_000, help="render+send this many emails (0: skip)")
    bench.add_argument("--pg", default=os.environ.get("LEADFLOW_TEST_PG", DEFAULT_PG), help="PostgreSQL server")
    bench.add_argument("--cache", help="where generated data is kept between runs (default: $TMPDIR/leadflow-bench)")
    bench.add_argument("--out", default="BENCHMARKS.md", help="report file: the results replace its generated block")
    bench.set_defaults(func=cmd_bench)
    return bench


if __name__ == "__main__":
    print(json.dumps(run_step(json.loads(sys.argv[1])), default=str))
