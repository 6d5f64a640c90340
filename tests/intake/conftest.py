"""Fixtures for the intake: a running `leadflow serve` on each inbox backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.intake.serve_process import Service, write_config


@pytest.fixture(params=["file", pytest.param("postgres", marks=pytest.mark.postgres)])
def inbox_backend(request: pytest.FixtureRequest) -> str | None:
    """None: the file inbox (embedded DuckDB default); else a fresh PostgreSQL database with ops.inbox."""
    if request.param == "file":
        return None
    return request.getfixturevalue("postgres_db_with_schemas")


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start `leadflow serve` processes (stopped after the test); keyword arguments shape the config."""
    started: list[Service] = []

    def start(
        warehouse: str | None = None,
        *,
        intake: dict[str, Any] | None = None,
        mailer: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        home: Path | None = None,
    ) -> Service:
        where = home or tmp_path
        where.mkdir(parents=True, exist_ok=True)
        service = Service(where, write_config(where, intake, mailer), warehouse, dict(env or {})).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def service(start_service: Callable[..., Service], inbox_backend: str | None) -> Service:
    """A running `leadflow serve` on each inbox backend."""
    return start_service(inbox_backend)
