"""Shared fixtures: both warehouse backends, settings pointed at a temporary project home."""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Airflow reads these at import: point it at this checkout before anything imports it.
os.environ.setdefault("LEADFLOW_HOME", str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from leadflow.config import Settings, load_settings  # noqa: E402
from leadflow.pipeline import create_schemas  # noqa: E402
from leadflow.warehouse import Warehouse, connect  # noqa: E402

PG_ADMIN_URI = os.environ.get("LEADFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URI, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: no usable server
        return f"PostgreSQL at {PG_ADMIN_URI} is not reachable ({type(exc).__name__})"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URI of the PostgreSQL service; skipped with a reason when down (fails under CI=true)."""
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem}; CI requires it")
        pytest.skip(problem)
    return PG_ADMIN_URI


class _Dropper:
    """Drops test databases on a thread of its own. PostgreSQL 15 forces a checkpoint on each DROP DATABASE
    (about half a second, mostly waiting on the disk): the next test need not wait for it."""

    def __init__(self, admin_uri: str) -> None:
        self.admin_uri = admin_uri
        self.names: queue.Queue[str | None] = queue.Queue()
        self.failed: list[str] = []
        self.thread = threading.Thread(target=self._run, name="pg-dropper", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import psycopg

        while (name := self.names.get()) is not None:
            try:
                with psycopg.connect(self.admin_uri, autocommit=True) as admin:
                    admin.execute(f'drop database if exists "{name}" with (force)')
            except Exception:  # retried in the foreground at the end of the session, which reports it
                self.failed.append(name)

    def drop(self, name: str) -> None:
        self.names.put(name)

    def close(self) -> None:
        import psycopg

        self.names.put(None)
        self.thread.join()
        with psycopg.connect(self.admin_uri, autocommit=True) as admin:
            for name in self.failed:
                admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def _pg_dropper(postgres_server: str) -> Iterator[_Dropper]:
    dropper = _Dropper(postgres_server)
    yield dropper
    dropper.close()


def _create_database(admin_uri: str, template: str | None = None) -> str:
    import psycopg

    name = f"leadflow_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_uri, autocommit=True) as admin:
        admin.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    return name


@pytest.fixture
def postgres_db(postgres_server: str, _pg_dropper: _Dropper) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = _create_database(postgres_server)
    try:
        yield f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    finally:
        _pg_dropper.drop(name)


@pytest.fixture(scope="session")
def _postgres_schemas_template(postgres_server: str, _pg_dropper: _Dropper) -> Iterator[str]:
    """A database with every schema created (`create_schemas`), once per test process: `wh` on PostgreSQL
    is a copy of it (CREATE DATABASE ... TEMPLATE, a tenth of a second) instead of running the DDL again."""
    name = _create_database(postgres_server)
    with connect(f"{postgres_server.rsplit('/', 1)[0]}/{name}") as warehouse:
        create_schemas(warehouse)
    try:
        yield name
    finally:
        _pg_dropper.drop(name)


@pytest.fixture
def postgres_db_with_schemas(
    postgres_server: str, _pg_dropper: _Dropper, _postgres_schemas_template: str
) -> Iterator[str]:
    """A fresh PostgreSQL database with every schema created, for one test, dropped afterwards."""
    name = _create_database(postgres_server, template=_postgres_schemas_template)
    try:
        yield f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    finally:
        _pg_dropper.drop(name)


@pytest.fixture(scope="session")
def _duckdb_schemas_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with every schema created, once per test process: `wh` on DuckDB is a copy of it."""
    path = tmp_path_factory.mktemp("duckdb_template") / "warehouse.duckdb"
    with connect(f"duckdb://{path}") as warehouse:
        create_schemas(warehouse)
    return path


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URI of an empty warehouse on each backend; when the test also asks for `wh`, one with every schema
    created already (a copy of a template database made once per test process), which `wh` connects to."""
    with_schemas = "wh" in request.fixturenames
    if request.param == "duckdb":
        path = tmp_path / "warehouse.duckdb"
        if with_schemas:
            shutil.copyfile(request.getfixturevalue("_duckdb_schemas_template"), path)
        return f"duckdb://{path}"
    return request.getfixturevalue("postgres_db_with_schemas" if with_schemas else "postgres_db")


@pytest.fixture
def wh(warehouse_uri: str) -> Iterator[Warehouse]:
    """An empty warehouse with every schema created (`create_schemas`), on each backend."""
    with connect(warehouse_uri) as warehouse:
        yield warehouse


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The project's settings with data folders under a temporary directory."""
    base = load_settings(ROOT / "config" / "leadflow.yml")
    data = tmp_path / "data"
    return base.model_copy(
        update={
            "sources": base.sources.model_copy(
                update={
                    "crm": base.sources.crm.model_copy(update={"path": data / "landing" / "crm"}),
                    "web": base.sources.web.model_copy(update={"path": data / "landing" / "web"}),
                }
            ),
            "mailer": base.mailer.model_copy(update={"outbox": data / "outbox"}),
            "home": ROOT,
        }
    )
