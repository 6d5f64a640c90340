"""`python -m benchmarks.bench` at a tiny scale: every step runs in its own subprocess and lands in the report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.bench import main

pytestmark = pytest.mark.slow  # every step is a fresh interpreter: about two minutes in all

STEPS = (
    "load_validate_stage",
    "full_rebuild_rekey",
    "full_rebuild",
    "incremental",
    "advance_write_back",
    "pandas_vs_sql",
    "night_vs_pandas",
    "rebuild_check",
    "render_send",
)


def test_bench_writes_a_row_per_step_with_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\nprose kept\n", encoding="utf-8")
    argv = ["--leads", "200", "--backends", "duckdb", "--repeat", "1", "--emails", "20"]
    assert main([*argv, "--out", str(out), "--cache", str(tmp_path / "cache")]) == 0

    report = out.read_text(encoding="utf-8")
    assert "prose kept" in report  # the generated block goes after the hand-written text
    rows = {cells[0]: cells for cells in (line.strip("|").split("|") for line in report.splitlines())}
    rows = {k.strip(): [c.strip() for c in v] for k, v in rows.items()}
    for step in STEPS:
        assert step in rows, f"no row for {step}"
        median, runs, rss = rows[step][2], rows[step][3], rows[step][4]
        assert float(median) > 0 and len(runs.split(",")) == 1
        assert float(rss.replace(",", "")) > 50  # MiB: a Python interpreter alone is bigger than that
    # 200 leads: a handful are quarantined (updated after the first night's cutoff) but most score,
    # and the pandas baseline agrees with the SQL score for nearly every lead
    assert int(re.search(r"scored=(\d+)", rows["full_rebuild"][5]).group(1)) > 150
    # the rekey rebuild keys every batch again; the checked one finds every batch as it was keyed
    rekeyed = re.search(r"batches=(\d+); batches_keyed_again=(\d+)", rows["full_rebuild_rekey"][5])
    assert rekeyed and rekeyed.group(1) == rekeyed.group(2) != "0"
    assert "batches_keyed_again=0;" in rows["full_rebuild"][5]
    assert re.search(r"scored=(\d+)", rows["full_rebuild_rekey"][5]).group(1) == re.search(
        r"scored=(\d+)", rows["full_rebuild"][5]
    ).group(1)
    assert float(re.search(r"agreement=([0-9.]+)", rows["pandas_vs_sql"][5]).group(1)) > 0.95
    # the night's scoring of the new day against pandas recomputing that day: the same totals
    assert float(re.search(r"agreement=([0-9.]+)", rows["night_vs_pandas"][5]).group(1)) > 0.95
    assert "emails_per_second=" in rows["render_send"][5]
    # the oracle at the bench's scale: the night's scores and factors are the full rebuild's, row for row
    assert "equal=True" in rows["rebuild_check"][5] and "night equals the full rebuild: yes" in rows["rebuild_check"][6]
    # a night runs as the DAG runs it, a process per task: the row's peak is its largest task's
    # and its time is the sum of its tasks' (the score task's alone is a night's scoring)
    for step, tasks in (("load_validate_stage", 5), ("incremental", 6)):
        by_task = {
            k: re.search(k + r"=\{([^}]*)\}", rows[step][5]).group(1) for k in ("peak_mib_by_task", "seconds_by_task")
        }
        peaks = [int(p) for p in re.findall(r"'[a-z]+(?::[a-z]+)?': (\d+)", by_task["peak_mib_by_task"])]
        assert len(peaks) == tasks and max(peaks) == int(rows[step][4].replace(",", ""))
        seconds = [float(t) for t in re.findall(r"'[a-z]+(?::[a-z]+)?': ([0-9.]+)", by_task["seconds_by_task"])]
        assert len(seconds) == tasks and all(t > 0 for t in seconds)
        assert abs(sum(seconds) - float(rows[step][2])) <= 0.01 * tasks


def _rows(report: str) -> list[list[str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in report.splitlines() if line.startswith("| ")]
    return [r for r in rows if r[0] not in ("step", "---")]


def _bench_databases(server: str) -> list[str]:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        return [r[0] for r in conn.execute("select datname from pg_database where datname like 'leadflow_bench_%'")]


def test_postgres_seeded_from_duckdb_scores_the_same_leads(tmp_path: Path, postgres_server: str) -> None:
    # --pg-seed copy lands the first night once (DuckDB) and copies it, scored by the full rebuild, into
    # PostgreSQL; both then score the same leads, and the block of this scale says how PostgreSQL was seeded
    out, cache = tmp_path / "BENCHMARKS.md", str(tmp_path / "cache")
    others = set(_bench_databases(postgres_server))  # another bench's, running beside this test
    argv = ["--leads", "150", "--pg-seed", "copy", "--pg", postgres_server, "--keep-first-night"]
    argv += ["--steps", "full_rebuild,incremental", "--repeat", "2", "--emails", "0", "--out", str(out)]
    assert main([*argv, "--backends", "duckdb,postgres", "--cache", cache]) == 0

    report = out.read_text(encoding="utf-8")
    assert "<!-- bench:begin 150x20 " in report and "seeded from DuckDB's first night, scored" in report
    rows = _rows(report)
    scored = {(r[0], r[1]): re.findall(r"scored=(\d+)", r[5]) for r in rows if r[0] in ("full_rebuild", "incremental")}
    assert set(scored) == {(s, b) for s in ("full_rebuild", "incremental") for b in ("duckdb", "postgres")}
    for step in ("full_rebuild", "incremental"):
        duck, pg = scored[(step, "duckdb")], scored[(step, "postgres")]
        assert duck and duck == pg and int(duck[0]) > 100
    assert not any(r[0] == "load_validate_stage" and r[1] == "postgres" for r in rows)
    # each of PostgreSQL's incremental runs started from the seeded warehouse (a template copy), then
    # every database the bench made is gone
    assert len(next(r for r in rows if r[:2] == ["incremental", "postgres"])[3].split(",")) == 2
    assert set(_bench_databases(postgres_server)) <= others

    # PostgreSQL alone, seeded from the kept first night DuckDB scored
    assert main([*argv, "--backends", "postgres", "--cache", cache]) == 0
    rows = _rows(out.read_text(encoding="utf-8"))
    assert {(r[0], r[1]) for r in rows} == {("full_rebuild", "postgres"), ("incremental", "postgres")}
    pg = re.findall(r"scored=(\d+)", next(r for r in rows if r[:2] == ["incremental", "postgres"])[5])
    assert pg == scored[("incremental", "duckdb")]

    # --pg-keep-seed: the first run keeps its seeded warehouse as a database; the next starts from a copy
    # of it instead of seeding again (each repeat restored from it), and scores the same leads
    kept = f"lf_kept_seed_{tmp_path.name[-12:].replace('-', '_').lower()}"
    keep = [*argv[:-8], "--steps", "incremental", "--repeat", "2", "--emails", "0", "--out", str(out)]
    try:
        for run in ("seeds", "reuses"):
            assert main([*keep, "--backends", "postgres", "--cache", cache, "--pg-keep-seed", kept]) == 0, run
            report = out.read_text(encoding="utf-8")
            reused = f"a copy of database {kept}, seeded by an earlier run" in report
            assert reused == (run == "reuses")
            row = next(r for r in _rows(report) if r[:2] == ["incremental", "postgres"])
            assert re.findall(r"scored=(\d+)", row[5]) == scored[("incremental", "duckdb")]
            assert len(row[3].split(",")) == 2
        import psycopg

        with psycopg.connect(postgres_server, autocommit=True) as conn:  # kept; the run's own copies gone
            assert conn.execute("select 1 from pg_database where datname = %s", [kept]).fetchone()
        assert set(_bench_databases(postgres_server)) <= others
    finally:
        import psycopg

        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{kept}" with (force)')
