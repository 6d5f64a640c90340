"""`leadflow nurture` (added to the CLI with `add_nurture_parser`): arguments and a plan-only run."""

from __future__ import annotations

import argparse
import json

from leadflow.nurture.cli import add_nurture_parser
from leadflow.pipeline import create_schemas
from leadflow.warehouse import connect


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="leadflow")
    root.add_argument("--config")
    add_nurture_parser(root.add_subparsers(dest="command", required=True))
    return root


def test_the_approve_flag_the_blast_radius_message_names(tmp_path):
    args = parser().parse_args(["nurture", "--date", "2026-11-22", "--approve", "6000", "--plan-only"])
    assert (str(args.date), args.approve, args.plan_only) == ("2026-11-22", 6000, True)


def test_a_plan_only_run_on_an_empty_warehouse(tmp_path, capsys):
    uri = f"duckdb://{tmp_path / 'w.duckdb'}"
    with connect(uri) as wh:
        create_schemas(wh)
    args = parser().parse_args(["nurture", "--date", "2026-11-22", "--plan-only", "--warehouse", uri, "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["as_of_date"] == "2026-11-22"
    assert out["steps"]["plan_sends"]["planned"] == 0 and out["steps"]["validate_renders"] == {"renderable": 0}
    assert set(out["steps"]) == {"plan_sends", "validate_renders"}  # --plan-only: nothing sent


def test_the_plan_only_run_reads_as_a_table(tmp_path, capsys):
    uri = f"duckdb://{tmp_path / 'w.duckdb'}"
    with connect(uri) as wh:
        create_schemas(wh)
    args = parser().parse_args(["nurture", "--date", "2026-11-22", "--plan-only", "--warehouse", uri])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "leadflow nurture 2026-11-22" in out and "renderable 0" in out and "'planned'" not in out
