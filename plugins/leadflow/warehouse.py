"""The warehouse: one connection to DuckDB (embedded default) or PostgreSQL, running the `sql/` models.

SQL files are Jinja templates for dialect macros only (`sql/macros.sql`); values always arrive as
`:name` bind parameters, compiled by SQLAlchemy to each driver's own placeholder style. Statements run
on the raw drivers (duckdb, psycopg 3): bulk work never goes through an ORM layer (ADR 0011).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote, urlencode, urlparse

import jinja2
import pandas as pd
import sqlparse
from sqlalchemy import URL, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine.default import DefaultDialect
from sqlparse import tokens as T

from leadflow.config import project_home

if TYPE_CHECKING:
    import pyarrow as pa

Dialect = Literal["duckdb", "postgres"]
PG_WORK_MEM = os.environ.get("LEADFLOW_PG_WORK_MEM", "256MB")  # per sort or hash of a warehouse session
# the engine's own cap: with the Python side beside it, a night of 1M leads stays within 1.0 GiB (BENCHMARKS.md)
DUCKDB_MEMORY_LIMIT = os.environ.get("LEADFLOW_DUCKDB_MEMORY_LIMIT", "768MB")
# while a batch streams through Python in chunks (raw validation), the engine only scans: capped at
# this, it stops keeping up to the whole cap of table blocks already read (730 MB of them beside
# ~0.9 GiB of Python when 48M events were validated)
DUCKDB_STREAMING_MEMORY = "256MB"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(I?)B", re.IGNORECASE)

# the drivers' own placeholder styles: DuckDB's Python API takes `$1` with a list, psycopg `%(name)s`
_DIALECTS = {"duckdb": DefaultDialect(paramstyle="numeric_dollar"), "postgres": PGDialect_psycopg()}


@lru_cache(maxsize=4096)
def compile_binds(sql: str, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """`sql` compiled for the driver of `dialect`, and the names of the `:name` binds it takes in order.

    sqlparse's lexer tells binds from `::` casts, string literals, `$$` bodies and comments; every other
    colon is escaped (`\\:`, SQLAlchemy's own escape) so that `text()` compiles only the real binds,
    doubling `%` where the driver needs it. Cached: a model's statements compile once per process.
    """
    escaped = "".join(
        value if ttype is T.Name.Placeholder and value.startswith(":") else value.replace(":", "\\:")
        for ttype, value in sqlparse.lexer.tokenize(sql)
    )
    compiled = text(escaped).compile(dialect=_DIALECTS[dialect])
    return str(compiled), tuple(compiled.positiontup or compiled.binds)


def bind(sql: str, dialect: Dialect) -> str:
    """`sql` with `:name` binds in the driver's style (`$1` for DuckDB, `%(name)s` for psycopg)."""
    return compile_binds(sql, dialect)[0]


@cache
def _sql_environment(sql_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(sql_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # SQL, not HTML; values never pass through Jinja  # noqa: S701
    )


def render_sql(name: str, dialect: Dialect, sql_dir: Path | None = None, **context: Any) -> str:
    """The SQL of model `name` (e.g. "scoring/lead_scores.sql") with dialect macros expanded."""
    env = _sql_environment(sql_dir or project_home() / "sql")
    macros = env.get_template("macros.sql").make_module({"dialect": dialect})
    return env.get_template(name).render(dialect=dialect, m=macros, **context)


@lru_cache(maxsize=512)
def _split(sql: str) -> tuple[str, ...]:
    return tuple(
        statement
        for statement in sqlparse.split(sql, strip_semicolon=True)
        if any(ttype not in T.Comment and ttype not in T.Whitespace for ttype, _ in sqlparse.lexer.tokenize(statement))
    )


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split by sqlparse (`;` in literals, `$$` bodies and comments stays
    put); comments are kept, statements of nothing but comments dropped."""
    return list(_split(sql))


def size_bytes(size: str) -> float | None:
    """A DuckDB memory size ('768MB', '2 GiB') in bytes; None when it is not one."""
    found = _SIZE.fullmatch(size.strip())
    if not found:
        return None
    number, prefix, binary = float(found[1]), found[2].upper(), found[3]
    return number * (1024 if binary else 1000) ** "_KMGT".index(prefix or "_")


class _RolledBack(Exception):
    """Ends a `Warehouse.rolled_back()` block so its transaction rolls back."""


class WarehouseMemoryError(RuntimeError):
    """The embedded engine needed more memory than its cap for one statement."""


class Warehouse:
    """A connection to the warehouse; use `connect()` or `open_warehouse()` to get one."""

    dialect: Dialect

    def __init__(self, dialect: Dialect, raw: Any, sql_dir: Path | None = None) -> None:
        self.dialect = dialect
        self._raw = raw
        self.sql_dir = sql_dir or project_home() / "sql"
        self._in_tx = False
        self._memory_limit = DUCKDB_MEMORY_LIMIT
        self._unordered = False

    # -- statements -----------------------------------------------------------------------------
    def _bound(self, sql: str, params: Mapping[str, Any] | None) -> tuple[str, Any]:
        """`sql` compiled for the driver, and the values of its binds out of `params` (the driver's shape)."""
        compiled, names = compile_binds(sql, self.dialect)
        params = params or {}
        missing = [name for name in names if name not in params]
        if missing:
            raise ValueError(f"no value for bind parameter(s) {', '.join(':' + n for n in missing)}")
        if self.dialect == "duckdb":
            return compiled, [params[name] for name in names]
        return compiled, {name: params[name] for name in names}

    def _cursor_execute(self, sql: str, params: Mapping[str, Any] | None) -> Any:
        with self._memory_cap_named(sql):
            if params is None:
                return self._raw.execute(sql)
            return self._raw.execute(*self._bound(sql, params))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement (its result, if any, is consumed: DuckDB refuses new work before that)."""
        cur = self._cursor_execute(sql, params)
        if self.dialect == "duckdb":
            with self._memory_cap_named(sql):
                cur.fetchall()

    @contextmanager
    def _memory_cap_named(self, sql: str) -> Generator[None, None, None]:
        """DuckDB's out-of-memory error names its own SET; say which setting of ours to raise instead."""
        if self.dialect != "duckdb":
            yield
            return
        import duckdb

        try:
            yield
        except duckdb.OutOfMemoryException as exc:
            code = [ln.strip() for ln in sql.splitlines() if ln.strip() and not ln.strip().startswith("--")]
            streaming = "" if self._memory_limit == DUCKDB_MEMORY_LIMIT else f", {self._memory_limit} while streaming"
            raise WarehouseMemoryError(
                f"DuckDB ran out of its memory cap (LEADFLOW_DUCKDB_MEMORY_LIMIT={DUCKDB_MEMORY_LIMIT}{streaming}) in"
                f" `{(code[0] if code else '')[:80]}`: raise LEADFLOW_DUCKDB_MEMORY_LIMIT for this run (e.g. 2GB;"
                " the process then needs that much more memory) or land fewer days of files per night"
            ) from exc

    @contextmanager
    def streaming_memory(self) -> Generator[None, None, None]:
        """DuckDB capped at DUCKDB_STREAMING_MEMORY (if lower than its cap) while a long read streams
        through Python: a scan needs little, and the blocks it has read would otherwise stay cached
        up to the whole cap beside the Python side's chunks. The cap is back when the block ends."""
        lower, cap = size_bytes(DUCKDB_STREAMING_MEMORY), size_bytes(DUCKDB_MEMORY_LIMIT)
        if self.dialect != "duckdb" or lower is None or cap is None or lower >= cap:
            yield
            return
        self._raw.execute(f"set memory_limit = '{DUCKDB_STREAMING_MEMORY}'")
        self._memory_limit = DUCKDB_STREAMING_MEMORY
        try:
            yield
        finally:
            self._raw.execute(f"set memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
            self._memory_limit = DUCKDB_MEMORY_LIMIT

    @contextmanager
    def unordered_writes(self) -> Generator[None, None, None]:
        """DuckDB free to write and read rows in any order while the block runs (its
        `preserve_insertion_order` off): a large insert-select then writes from both threads at once,
        and buffers less. Only for statements whose results carry no order of their own (every
        order they need is spelled out); the setting is back when the block ends."""
        if self.dialect != "duckdb" or self._unordered:
            yield
            return
        self._raw.execute("set preserve_insertion_order = false")
        self._unordered = True
        try:
            yield
        finally:
            self._raw.execute("set preserve_insertion_order = true")
            self._unordered = False

    def fetchall(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        cur = self._cursor_execute(sql, params)
        with self._memory_cap_named(sql):
            return list(cur.fetchall())

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.fetchall(sql, params)
        return rows[0][0] if rows else None

    def fetch_df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """The result as a DataFrame (Arrow on DuckDB)."""
        cur = self._cursor_execute(sql, params)
        if self.dialect == "duckdb":
            with self._memory_cap_named(sql):
                return cur.fetch_df()
        columns = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)

    def run_script(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        for statement in split_statements(sql):
            self.execute(statement, params)

    def run_model(self, name: str, params: Mapping[str, Any] | None = None, **context: Any) -> None:
        """Run every statement of `sql/<name>` in one transaction."""
        sql = render_sql(name, self.dialect, self.sql_dir, **context)
        with self.transaction():
            self.run_script(sql, params)

    def model_sql(self, name: str, **context: Any) -> str:
        return render_sql(name, self.dialect, self.sql_dir, **context)

    @contextmanager
    def transaction(self) -> Generator[Warehouse, None, None]:
        """All-or-nothing: commits on success, rolls back on any error. Nested calls join the outer one."""
        if self._in_tx:
            yield self
            return
        self._in_tx = True
        try:
            if self.dialect == "duckdb":
                self._raw.execute("begin transaction")
                try:
                    yield self
                except BaseException:
                    self._raw.execute("rollback")
                    raise
                self._raw.execute("commit")
            else:
                with self._raw.transaction():
                    yield self
        finally:
            self._in_tx = False

    @contextmanager
    def rolled_back(self, purpose: str) -> Generator[Warehouse, None, None]:
        """A transaction whose writes are all undone at its end, for what-if work that reads its own
        writes (simulate, the report's candidate rules, intraday scoring, a rebuild compared with the
        night). It must be the outermost: inside another one nothing could be undone alone."""
        if self._in_tx:
            raise RuntimeError(f"{purpose} needs its own transaction (it rolls everything back)")
        try:
            with self.transaction():
                yield self
                raise _RolledBack
        except _RolledBack:
            pass

    # -- bulk ---------------------------------------------------------------------------------------
    def temp_table(self, name: str, columns: Mapping[str, str], frame: pd.DataFrame) -> None:
        """Temp table `name` made again with `columns` (name -> SQL type), holding `frame`'s rows of those
        columns, its missing values (NaN, NaT, NA) as SQL nulls."""
        self.execute(f"drop table if exists {name}")
        self.execute(f"create temp table {name} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
        rows = frame.loc[:, list(columns)].astype(object)
        self.load_df(name, rows.where(rows.notna(), None))

    def load_df(self, table: str, df: pd.DataFrame, chunk_rows: int = 200_000) -> int:
        """Append `df` to `table` (columns by name): Arrow scan on DuckDB, COPY on PostgreSQL."""
        if df.empty:
            return 0
        columns = ", ".join(f'"{c}"' for c in df.columns)
        if self.dialect == "duckdb":
            for start in range(0, len(df), chunk_rows):
                self._raw.register("_leadflow_load", df.iloc[start : start + chunk_rows])
                try:
                    self._raw.execute(f"insert into {table} ({columns}) select {columns} from _leadflow_load")
                finally:
                    self._raw.unregister("_leadflow_load")
            return len(df)
        with self._raw.cursor() as cur, cur.copy(f"copy {table} ({columns}) from stdin with (format csv)") as copy:
            for start in range(0, len(df), chunk_rows):
                buf = io.StringIO()
                df.iloc[start : start + chunk_rows].to_csv(buf, index=False, header=False)
                copy.write(buf.getvalue())
        return len(df)

    def fetch_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The result as an Arrow table: on DuckDB straight from the engine, never one Python object per
        value (a million text values as `str` objects take several times their size)."""
        import pyarrow as pa

        if self.dialect != "duckdb":
            return pa.Table.from_pandas(self.fetch_df(sql, params), preserve_index=False)
        compiled, values = self._bound(sql, params)
        with self._memory_cap_named(sql):
            return self._raw.sql(compiled, params=values or None).to_arrow_table()

    def fetch_chunks(
        self, sql: str, params: Mapping[str, Any] | None = None, rows: int = 100_000
    ) -> Iterator[pd.DataFrame]:
        """The result as DataFrames of at most `rows` rows, streamed so that memory follows `rows`, not
        the result: Arrow record batches of a cursor of its own on DuckDB (it sees committed rows only,
        and leaves this connection free for other statements meanwhile), a server-side cursor on
        PostgreSQL (inside the open transaction, or one of its own). At least one frame, empty when
        the result is."""
        compiled, values = self._bound(sql, params)
        if self.dialect == "duckdb":
            cur = self._raw.cursor()
            try:
                with self._memory_cap_named(sql):
                    reader = cur.sql(compiled, params=values or None).to_arrow_reader(rows)
                empty = True
                while True:
                    with self._memory_cap_named(sql):
                        batch = next(reader, None)
                    if batch is None:
                        break
                    empty = False
                    yield batch.to_pandas()
                if empty:
                    yield reader.schema.empty_table().to_pandas()
            finally:
                cur.close()
            return
        with self.transaction(), self._raw.cursor(name=f"leadflow_chunks_{id(self):x}") as cur:
            cur.execute(compiled, values)
            columns = [d.name for d in cur.description]
            empty = True
            while batch := cur.fetchmany(rows):
                empty = False
                yield pd.DataFrame(batch, columns=columns)
            if empty:
                yield pd.DataFrame([], columns=columns)

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(uri: str, sql_dir: Path | None = None) -> Warehouse:
    """A warehouse from a URI: `duckdb:///abs/path.duckdb`, `duckdb:///:memory:` or `postgresql://…`."""
    parsed = urlparse(uri)
    if parsed.scheme == "duckdb":
        import duckdb

        path = unquote(parsed.path) or ":memory:"
        if path == "/:memory:":
            path = ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        duck = duckdb.connect(path)
        duck.execute("set timezone = 'UTC'")
        # bounded memory on a small machine: DuckDB spills to disk past this instead of taking 80 % of RAM
        duck.execute(f"set memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        return Warehouse("duckdb", duck, sql_dir)
    if parsed.scheme in {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}:
        import psycopg

        pg = psycopg.connect(uri.replace(parsed.scheme + "://", "postgresql://", 1), autocommit=True)
        pg.execute("set timezone = 'UTC'")
        # the models are a few large set-based statements: sorts and hashes of a night's rows belong in
        # memory, and JIT compiling each statement costs seconds and saves nothing here
        pg.execute(f"set work_mem = '{PG_WORK_MEM}'")
        pg.execute("set jit = off")
        return Warehouse("postgres", pg, sql_dir)
    raise ValueError(f"unsupported warehouse URI scheme {parsed.scheme!r} (use duckdb:// or postgresql://)")


@cache
def _libpq_keywords() -> tuple[str, ...]:
    """The connection settings the installed libpq knows."""
    from psycopg import pq

    return tuple(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def connection_uri(conn: Any) -> str:
    """The warehouse URI of an Airflow connection (conn_type duckdb: host = file path; or postgres)."""
    if conn.conn_type == "duckdb":
        path = conn.host or ":memory:"
        return "duckdb:///:memory:" if path == ":memory:" else f"duckdb://{Path(path).resolve()}"
    if conn.conn_type in {"postgres", "postgresql"}:
        # libpq's own settings among the extras (sslmode, sslrootcert, options, application_name, ...);
        # the rest (Airflow's cursor, iam, ...) mean nothing to libpq and would fail the connection
        extras = conn.extra_dejson
        query = {key: str(extras[key]) for key in _libpq_keywords() if key in extras}
        url = URL.create(
            "postgresql",
            username=conn.login or "postgres",
            password=conn.password or None,
            host=conn.host or "127.0.0.1",
            port=conn.port or 5432,
            database=conn.schema or "postgres",
        )
        # SQLAlchemy writes a query's spaces as `+`, which libpq reads literally (`options=-c+x`): %20 instead
        query_string = f"?{urlencode(query, quote_via=quote)}" if query else ""
        return url.render_as_string(hide_password=False) + query_string
    raise ValueError(f"connection type {conn.conn_type!r} is not a supported warehouse (duckdb or postgres)")


def open_warehouse(conn_id: str = "leadflow_warehouse") -> Warehouse:
    """The warehouse behind Airflow connection `conn_id` (from the metadata DB or `AIRFLOW_CONN_*`)."""
    from airflow.sdk import BaseHook

    return connect(connection_uri(BaseHook.get_connection(conn_id)))
