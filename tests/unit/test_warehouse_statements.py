"""Warehouse statement handling: binds compiled by SQLAlchemy, scripts split by sqlparse, URIs with extras."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from airflow.models.connection import Connection

from leadflow.warehouse import bind, compile_binds, connection_uri, render_sql, split_statements

ROOT = Path(__file__).resolve().parents[2]
# the Jinja context the models that take identifiers are rendered with by their callers
CONTEXT = {"table": "raw_web_events", "key": "event_id", "columns": ["lead_id", "_file", "_row"], "relation": "v"}
CONTEXTS = {
    "crm/source_leads.sql": dict(CONTEXT, columns=[("lead_id", "id")]),
    "crm/source_count.sql": dict(CONTEXT, updated_at="modified"),
    "privacy/expire_rows.sql": dict(CONTEXT, table="raw.web_events"),
    "privacy/person_rows.sql": dict(CONTEXT, table="raw.web_events"),
}
MODELS = sorted(str(p.relative_to(ROOT / "sql")) for p in (ROOT / "sql").rglob("*.sql") if p.name != "macros.sql")


@pytest.mark.parametrize(
    ("sql", "dialect", "expected", "names"),
    [
        ("select :a::int, x::date", "duckdb", "select $1::int, x::date", ("a",)),
        ("select :a::int, x::date", "postgres", "select %(a)s::int, x::date", ("a",)),
        ("select ':a', '12:30', :b -- :c\n", "duckdb", "select ':a', '12:30', $1 -- :c\n", ("b",)),
        ("select :b /* :c */, 'it''s :d'", "postgres", "select %(b)s /* :c */, 'it''s :d'", ("b",)),
        ("select 5 % 2, '100%', :a", "postgres", "select 5 %% 2, '100%%', %(a)s", ("a",)),
        ("select 5 % 2, '100%', :a", "duckdb", "select 5 % 2, '100%', $1", ("a",)),
        ("select $$ :a; 50% $$, :b", "postgres", "select $$ :a; 50%% $$, %(b)s", ("b",)),
        ("select $body$ :a $body$, :b, :b", "duckdb", "select $body$ :a $body$, $1, $1", ("b",)),
        ("select :b, :a, :b", "postgres", "select %(b)s, %(a)s, %(b)s", ("b", "a")),
    ],
)
def test_binds_compile_around_casts_literals_comments_and_dollar_quotes(sql, dialect, expected, names):
    assert compile_binds(sql, dialect) == (expected, names)
    assert bind(sql, dialect) == expected


def test_binds_run_on_both_backends(wh):
    sql = "select :a::int + 1 as n, ':a' as literal, '50%' as pct, :b as b -- :c\n"
    assert wh.fetchall(sql, {"a": "41", "b": "x", "unused": 1}) == [(42, ":a", "50%", "x")]
    with pytest.raises(ValueError, match="no value for bind parameter.*:b"):
        wh.fetchall(sql, {"a": "41"})


def test_split_keeps_dollar_quoted_bodies_and_drops_comment_only_statements():
    script = (
        "-- header; with a semicolon\n"
        "create function f() returns int language sql as $$ select 1; $$;\n"
        "/* block ; comment */ select ';' as s;\n"
        "-- trailing note only\n"
    )
    assert split_statements(script) == [
        "-- header; with a semicolon\ncreate function f() returns int language sql as $$ select 1; $$",
        "/* block ; comment */ select ';' as s",
    ]


def test_scripts_with_comments_and_dollar_quotes_run_on_both_backends(wh):
    wh.run_script(
        "-- a note: not :a bind; nor a split\n"
        "create table t (v text); -- after\n"
        "insert into t values ($$ it's; :x $$), (:a);\n"
        "/* done */",
        {"a": "y"},
    )
    assert sorted(wh.fetchall("select v from t")) == [(" it's; :x ",), ("y",)]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize("model", MODELS)
def test_every_model_splits_into_statements_with_compiled_binds(model, dialect):
    context = CONTEXTS.get(model, CONTEXT)
    statements = split_statements(render_sql(model, dialect, ROOT / "sql", **context))
    assert statements, model
    # splitting is stable: the statements joined again split into themselves
    assert split_statements(";\n".join(statements)) == statements
    for statement in statements:
        compiled, names = compile_binds(statement, dialect)
        assert len(set(names)) == len(names)
        assert all(f":{name}" in statement for name in names)
        # every bind is compiled: no `:name` of the statement survives outside literals and comments
        assert compile_binds(compiled, dialect)[1] == ()


def test_postgres_uri_keeps_extras_and_special_passwords():
    conn = Connection(
        conn_id="w",
        conn_type="postgres",
        host="db.example.com",
        port=6432,
        login="leadflow",
        password="p@ss:w/rd%1",
        schema="warehouse",
        extra=json.dumps(
            {"sslmode": "require", "application_name": "leadflow", "options": "-c statement_timeout=5s", "iam": False}
        ),
    )
    uri = connection_uri(conn)
    assert uri.startswith("postgresql://leadflow:p%40ss%3Aw%2Frd%251@db.example.com:6432/warehouse?")
    assert psycopg.conninfo.conninfo_to_dict(uri) == {
        "user": "leadflow",
        "password": "p@ss:w/rd%1",
        "host": "db.example.com",
        "port": "6432",
        "dbname": "warehouse",
        "sslmode": "require",
        "application_name": "leadflow",
        "options": "-c statement_timeout=5s",
    }  # Airflow's own extras (iam) are not libpq settings and stay out


def test_postgres_uri_defaults_and_connects(postgres_db):
    conninfo = psycopg.conninfo.conninfo_to_dict(postgres_db)
    conn = Connection(
        conn_id="w",
        conn_type="postgres",
        host=conninfo.get("host"),
        port=int(conninfo.get("port", 5432)),
        login=conninfo.get("user"),
        schema=conninfo["dbname"],
        extra=json.dumps({"application_name": "leadflow-test"}),
    )
    from leadflow.warehouse import connect

    with connect(connection_uri(conn)) as wh:
        assert wh.scalar("select current_setting('application_name')") == "leadflow-test"
    assert (
        connection_uri(Connection(conn_id="d", conn_type="postgres")) == "postgresql://postgres@127.0.0.1:5432/postgres"
    )


def test_duckdb_uri_keeps_its_path(tmp_path):
    assert connection_uri(Connection(conn_id="d", conn_type="duckdb", host=str(tmp_path / "w.duckdb"))) == (
        f"duckdb://{tmp_path / 'w.duckdb'}"
    )
    assert connection_uri(Connection(conn_id="d", conn_type="duckdb")) == "duckdb:///:memory:"


@pytest.mark.postgres
def test_gx_reaches_postgresql_with_the_connection_parameters_of_the_warehouse(postgres_db: str) -> None:
    """GX's SQL validation opens its own engine: it must keep sslmode, application_name and the like."""
    import psycopg
    import sqlalchemy

    from leadflow.validation.gx import sql_url

    with psycopg.connect(f"{postgres_db}?application_name=leadflow-gx-test&sslmode=disable") as raw:
        url = sql_url(raw)
    parsed = sqlalchemy.engine.make_url(url)
    assert parsed.query["application_name"] == "leadflow-gx-test"
    assert parsed.query["sslmode"] == "disable"
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("show application_name").scalar() == "leadflow-gx-test"
    finally:
        engine.dispose()
