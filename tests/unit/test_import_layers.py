"""The leadflow package's imports form a DAG: no module imports, even inside a function, a module that
imports it back (STYLE.md rule 13: shared helpers live below their users)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "leadflow"


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> every module of `package` it imports anywhere in its body (top level, functions,
    TYPE_CHECKING blocks)."""
    modules = {_module_name(package.parent, p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: `from . import x`, `from ..a import b`
                    anchor = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                    base = f"{anchor}.{base}" if base else anchor
                # `from pkg import mod` imports the submodule; `from mod import name` imports mod
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target not in (name, package.name):
                    graph[name].add(target)
    return graph


def assert_acyclic(graph: dict[str, set[str]]) -> None:
    """Fail with the first import cycle found, written as `a -> b -> ... -> a` (each imports the next)."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        cycle = exc.args[1]  # graphlib lists it against the arrows: each node is imported by the next
        raise AssertionError("import cycle in plugins/leadflow: " + " -> ".join(reversed(cycle))) from None


def test_no_import_cycles() -> None:
    assert_acyclic(import_graph())


def test_the_graph_sees_function_local_and_submodule_imports() -> None:
    graph = import_graph()
    assert "leadflow.backfill" in graph["leadflow.cli"]  # imported inside a command
    assert "leadflow.pipeline" in graph["leadflow.backfill"]  # `from leadflow import pipeline`


def test_a_cycle_hidden_in_a_function_fails_with_its_path(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from pkg.high import g\n    return g\n")
    (pkg / "high.py").write_text("from . import low\n\ng = low\n")
    with pytest.raises(AssertionError, match=r"pkg\.(low -> pkg\.high -> pkg\.low|high -> pkg\.low -> pkg\.high)"):
        assert_acyclic(import_graph(pkg))
