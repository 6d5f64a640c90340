"""The leadflow package's imports form a DAG: no module imports, even inside a function, a module that
imports it back (STYLE.md rule 13: shared helpers live below their users)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "leadflow"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> every leadflow module it imports anywhere in its body (top level, functions, TYPE_CHECKING)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                # `from leadflow import pipeline` imports the submodule; `from x import f` imports x
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and target != "leadflow":
                    graph[name].add(target)
    return graph


def test_the_graph_sees_function_local_imports() -> None:
    graph = import_graph()
    assert "leadflow.pipeline" in graph["leadflow.cli"]  # cli imports it inside a command


def test_no_import_cycles() -> None:
    try:
        TopologicalSorter(import_graph()).prepare()
    except CycleError as exc:
        cycle = exc.args[1]  # [a, b, ..., a]: each imports the next
        raise AssertionError("import cycle in plugins/leadflow: " + " -> ".join(reversed(cycle))) from None
