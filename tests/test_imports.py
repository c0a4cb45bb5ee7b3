"""The processes' import rules, checked on the source: `supervisor` and
`workers` never import each other, `hbeat.ipc` (what they agree on) imports
neither, and no module of src/ takes part in an import cycle. Every import
counts: at module level, inside functions, under `if TYPE_CHECKING:`."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
EXTENSIONS = ("linklayer._frame_cffi",)
"""Compiled modules (build_ext.py): leaves of the graph, importing nothing of ours."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The src modules `name` imports (`from a import b` is a.b when that is a module)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        for target in targets:
            # `import a.b.c` names a.b.c; keep the longest prefix that is ours
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules) | set(EXTENSIONS)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def top(name: str) -> str:
    return name.split(".")[0]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path a -> ... -> a), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    modules = all_modules()
    known = set(modules) | set(EXTENSIONS)
    assert "supervisor.groupops" in imports_of(  # relative: from . import groupops
        "supervisor.resources", modules["supervisor.resources"], known)
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "import workers.link\n"
        "if TYPE_CHECKING:\n"
        "    from supervisor.daemon import Supervisor\n"
        "def f() -> None:\n"
        "    from hbeat.ipc import bus\n"
        "    from linklayer import decode\n"
    )
    assert imports_of("supervisor.probe", probe, known) == {
        "workers.link", "supervisor.daemon", "hbeat.ipc.bus", "linklayer"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_supervisor_and_workers_never_import_each_other() -> None:
    crossings = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for target in targets
        if {top(name), top(target)} == {"supervisor", "workers"}
    )
    assert crossings == []


def test_ipc_imports_neither_side() -> None:
    leaks = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if name.startswith("hbeat.ipc")
        for target in targets
        if top(target) in ("supervisor", "workers")
    )
    assert leaks == []


def test_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None
