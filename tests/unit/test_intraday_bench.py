"""`python -m benchmarks.intraday` at a tiny scale, both backends: the timed intraday runs touch the leads
of the pushed events, and their scores equal what the night of that day computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.intraday import main

pytestmark = pytest.mark.slow  # a first night, a PostgreSQL seed and the night's check: about a minute


def test_intraday_bench_on_both_backends_equals_the_night(tmp_path: Path, postgres_server: str, capsys) -> None:
    argv = ["--leads", "150", "--events-per-lead", "20", "--events", "25", "--repeat", "2"]
    assert main([*argv, "--pg", postgres_server, "--cache", str(tmp_path / "cache")]) == 0

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["leads"] > 100 and result["events_per_run"] == 25
    for backend in ("duckdb", "postgres"):
        runs = result[backend]["runs"]["runs"]
        assert len(runs) == 2
        assert all(r["events"] == 25 and 0 < r["leads"] <= 25 and r["seconds"] > 0 for r in runs)
        check = result[backend]["check"]
        assert check["equal_to_the_night"] is True and check["leads"] > 0
