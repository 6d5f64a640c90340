"""Research harness for ADR 0006 (integer keys): build a bench warehouse, time a full rebuild statement
by statement, and compare two warehouses' scores (e.g. this checkout's against an earlier commit's).

    python measure.py build LANDING_DIR OUT.duckdb          # the bench's first night, kept
    python measure.py time BASE.duckdb WORK.duckdb           # the checkout's rebuild (rebuild_scores' SQL, --rekey)
    python measure.py time postgresql://.../DB               # the same, in place on a PostgreSQL warehouse
    python measure.py compare A.duckdb B.duckdb             # EXCEPT ALL both ways + row-hash checksums

Run from the checkout with LEADFLOW_HOME set (`cd /work/main && LEADFLOW_HOME=$PWD .venv/bin/python
docs/research/integer-keys/measure.py ...`). Each `time` run copies BASE to WORK and brings its schemas
to this checkout's (not timed), then runs everything in one transaction, as
`leadflow.scoring.rebuild_scores` does, at the production DuckDB memory cap, and prints one JSON line
(seconds per statement, total, VmHWM of the process). The prototype SQL this folder held before ADR 0006
was implemented is in git history (commit 6f4cc12); `time` there took `current|proto` as a first argument.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

# The bench is in benchmarks/ at the checkout's root, outside the package: import it from there.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


def build(landing: str, out: str) -> None:
    from benchmarks.bench import END_DATE, measure

    Path(out).unlink(missing_ok=True)
    spec = {"landing": landing, "uri": f"duckdb://{out}", "step": "load", "as_of": END_DATE.isoformat()}
    result, rss = measure(spec)
    print(json.dumps({**result, "peak_rss_mib": rss}, default=str))


def time_rebuild(base: str, work: str | None = None) -> None:
    from benchmarks.bench import END_DATE
    from leadflow.config import load_settings
    from leadflow.pipeline import create_schemas, model_params
    from leadflow.scoring import install_rules, load_rules
    from leadflow.warehouse import connect, split_statements

    if base.startswith("postgresql://"):
        uri = base  # a rebuild replaces everything it writes, so it runs in place
    else:
        if work is None:
            raise SystemExit("time BASE.duckdb WORK.duckdb: a DuckDB base is copied to WORK first")
        shutil.copyfile(base, work)
        uri = f"duckdb://{work}"
    cfg = load_settings()
    params = model_params(cfg, END_DATE)
    steps: list[tuple[str, float]] = []

    def timed(label: str, work_fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        work_fn()
        steps.append((label, round(time.perf_counter() - t0, 3)))

    with connect(uri) as wh:
        create_schemas(wh)

        def run_sql(tag: str, sql: str) -> None:
            for i, statement in enumerate(split_statements(sql)):
                timed(f"{tag}#{i} {' '.join(statement.split())[:60]}", partial(wh.execute, statement, params))

        t_all = time.perf_counter()
        with wh.transaction():
            timed("install_rules", lambda: install_rules(wh, load_rules(cfg.path(cfg.scoring_rules))))
            # every batch keyed again, as `rescore --full --rekey` does (a bench warehouse has none keyed)
            pending_sql = wh.model_sql("scoring/pending_batches.sql", full=True, rekey=True)
            pending: list[str] = []
            timed("pending_batches", lambda: pending.extend(b for (b,) in wh.fetchall(pending_sql, params)))
            params["pending_batches"] = pending
            run_sql("keyed_events", wh.model_sql("scoring/keyed_events.sql"))
            run_sql("score_factors", wh.model_sql("scoring/score_factors.sql"))
            run_sql("lead_scores", wh.model_sql("scoring/lead_scores.sql"))
        total = time.perf_counter() - t_all
        scored = wh.scalar("select count(*) from scoring.lead_scores where as_of_date = :d", {"d": END_DATE})
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"total": round(total, 3), "scored": scored, "peak_rss_mib": round(hwm), "steps": steps}))


def compare(a: str, b: str) -> bool:
    import duckdb

    con = duckdb.connect()
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")

    def one(sql: str) -> tuple:
        row = con.execute(sql).fetchone()
        if row is None:
            raise RuntimeError(f"no row from {sql}")
        return row

    same = True
    for table in ("lead_scores", "score_factors"):
        rows = [one(f"select count(*) from {s}.scoring.{table}")[0] for s in "ab"]
        only = [
            one(
                f"select count(*) from (select * from {x}.scoring.{table} except all select * from {y}.scoring.{table})"
            )[0]
            for x, y in (("a", "b"), ("b", "a"))
        ]
        sums = [one(f"select bit_xor(hash(t)), sum(hash(t) % 1000003) from {s}.scoring.{table} as t") for s in "ab"]
        print(f"{table}: rows {rows[0]} / {rows[1]}; only in a {only[0]}, only in b {only[1]}", end="; ")
        print(f"checksums equal {sums[0] == sums[1]}")
        same = same and rows[0] == rows[1] and only == [0, 0] and sums[0] == sums[1]
    print("IDENTICAL" if same else "DIFFERENT")
    return same


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "build":
        build(*args)
    elif command == "time":
        time_rebuild(*args)
    elif command == "compare":
        sys.exit(0 if compare(*args) else 1)
    else:
        sys.exit(__doc__)
