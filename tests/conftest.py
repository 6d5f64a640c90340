"""Shared fixtures: both warehouse backends, settings pointed at a temporary project home."""

from __future__ import annotations

import os
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


@pytest.fixture
def postgres_db(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"leadflow_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URI of an empty warehouse on each backend."""
    if request.param == "duckdb":
        return f"duckdb://{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_db")


@pytest.fixture
def wh(warehouse_uri: str) -> Iterator[Warehouse]:
    """An empty warehouse with every schema created, on each backend."""
    with connect(warehouse_uri) as warehouse:
        create_schemas(warehouse)
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
