"""The shipped `leadflow` package stands alone: it imports nothing from tests/ or benchmarks/ (ADR 0010)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "leadflow"
OUTSIDE = ("tests", "benchmarks")


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _mentions_module_run(path: Path) -> list[str]:
    """`python -m tests...` / `-m benchmarks...` written as a subprocess argument list or string."""
    text = path.read_text(encoding="utf-8")
    return [f"-m {top}." for top in OUTSIDE if f'"-m", "{top}.' in text or f"-m {top}." in text]


def test_the_package_imports_nothing_from_tests_or_benchmarks() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): bad
        for path in sorted(PACKAGE.rglob("*.py"))
        if (bad := [m for m in _imported_modules(path) if m.split(".")[0] in OUTSIDE] + _mentions_module_run(path))
    }
    assert offenders == {}


def test_the_check_sees_an_import_from_tests(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from tests.fixtures.sendgrid_server import SendGridServer\nimport benchmarks.bench\n")
    assert _imported_modules(module) == ["tests.fixtures.sendgrid_server", "benchmarks.bench"]
    module.write_text('cmd = [sys.executable, "-m", "tests.fixtures.sendgrid_server"]\n')
    assert _mentions_module_run(module) == ["-m tests."]


def test_the_generator_vocabulary_ships_as_package_data() -> None:
    import tomllib

    config = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["leadflow.demo"]
    vocabulary = sorted((PACKAGE / "demo" / "vocabulary").glob("*.yml"))
    assert vocabulary and all(any(p.match(pattern) for pattern in patterns) for p in vocabulary)
