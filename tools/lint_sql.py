"""Lint every SQL model as each backend runs it: rendered by the warehouse's own Jinja (macros, dialect)
for PostgreSQL and for DuckDB, then checked by sqlfluff in that dialect with the rules configured in
pyproject.toml (`[tool.sqlfluff]`). `:name` binds are read by sqlfluff's placeholder templater.

    python tools/lint_sql.py [MODEL ...]      # e.g. scoring/lead_scores.sql; default: every model

Findings name the model and the line of the rendered SQL. Exit status 1 when there are any.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from sqlfluff.core import FluffConfig, Linter  # noqa: E402

from leadflow.warehouse import Dialect, render_sql  # noqa: E402

# What callers of the models that take identifiers render them with (as tests/unit/test_warehouse_statements.py).
CONTEXT = {"table": "raw_web_events", "key": "event_id", "columns": ["lead_id", "_file", "_row"], "relation": "v"}
CONTEXTS = {
    "crm/source_leads.sql": dict(CONTEXT, columns=[("lead_id", "id")]),
    "crm/source_count.sql": dict(CONTEXT, updated_at="modified"),
    "privacy/expire_rows.sql": dict(CONTEXT, table="raw.web_events"),
    "privacy/person_rows.sql": dict(CONTEXT, table="raw.web_events"),
}
# On DuckDB the PostgreSQL-only statements (indexes, constraints) render empty, leaving `;;` behind.
DIALECT_EXCLUDES = {"postgres": "", "duckdb": "ST12,CV06"}


def models() -> list[str]:
    sql = ROOT / "sql"
    return sorted(str(p.relative_to(sql)) for p in sql.rglob("*.sql") if p.name != "macros.sql")


def lint(job: tuple[str, Dialect]) -> list[str]:
    name, dialect = job
    config = FluffConfig.from_path(str(ROOT), overrides={"dialect": dialect})
    exclude = ",".join(x for x in (config.get("exclude_rules") or "", DIALECT_EXCLUDES[dialect]) if x)
    config = FluffConfig.from_path(str(ROOT), overrides={"dialect": dialect, "exclude_rules": exclude})
    sql = render_sql(name, dialect, ROOT / "sql", **CONTEXTS.get(name, CONTEXT))
    result = Linter(config=config).lint_string(sql, fname=name)
    return [f"{dialect:8} {name}:{v.line_no}: {v.rule_code()} {v.desc()}" for v in result.violations]


def main(argv: list[str]) -> int:
    jobs = [(name, dialect) for name in (argv or models()) for dialect in ("postgres", "duckdb")]
    with ProcessPoolExecutor() as pool:
        findings = [line for lines in pool.map(lint, jobs) for line in lines]
    print("\n".join(findings) if findings else f"sqlfluff: {len(jobs)} renders of {len(jobs) // 2} models, no findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
