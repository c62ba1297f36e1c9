"""The package's import graph: every module imports on its own, and no two modules import each
other, directly or around a circle (imports inside functions count; `if TYPE_CHECKING:` blocks,
which never run, do not)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "collectkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _imports_in(child))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def edges_of(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names
                          if f"{base}.{alias.name}" in MODULES]
            # `from . import x` (x a submodule) runs x, not the package's own code again
            targets = submodules if len(submodules) == len(node.names) else [base, *submodules]
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: edges_of(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_known_edges():
    assert "collectkit.tasks.registry" in GRAPH["collectkit.tasks.load"]
    assert "collectkit.explorer.widget" in GRAPH["collectkit.workflow.run"]  # a function-level import
    assert "collectkit.collect.run" in GRAPH["collectkit.collect.batch.merge"]
    assert "collectkit.grade.grading" in GRAPH["collectkit.cli.extract"]
    assert "collectkit.tasks.base" in GRAPH["collectkit.tasks.custom"]


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    importlib.import_module(name)


# The old `python -m collectkit.<name>` entry points: tiny modules calling collectkit/cli/.
SHIMS = {"run_inference", "serve_llm", "answer_extraction", "compare", "explore", "export"}
ROOMS = {"analyze", "cli", "collect", "explorer", "grade", "notebook", "serve", "store", "tasks",
         "training_data", "workflow"}
MAX_LINES = 330  # "under ~300 lines": a module that grows past this is split


def test_the_top_level_holds_only_the_api_the_entry_points_and_rooms():
    python = {path.stem for path in PACKAGE.glob("*.py")}
    assert python == {"__init__", "__main__", *SHIMS}
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and
               (path / "__init__.py").is_file()}
    assert folders == ROOMS
    for shim in SHIMS:
        assert len((PACKAGE / f"{shim}.py").read_text().splitlines()) <= 8, shim


def test_no_library_module_imports_a_cli():
    front_ends = {"collectkit.__main__", *(f"collectkit.{shim}" for shim in SHIMS)}
    for name, targets in GRAPH.items():
        if name in front_ends or name == "collectkit.cli" or name.startswith("collectkit.cli."):
            continue
        assert not {t for t in targets if t == "collectkit.cli" or t.startswith("collectkit.cli.")}, name


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_long(name):
    assert len(MODULES[name].read_text(encoding="utf-8").splitlines()) <= MAX_LINES, name


# The room order: data flows one way (tasks → collect → store → grade → analyze / explorer /
# training_data; serve apart; workflow, the public API's implementation, then cli and notebook on
# top), so a room imports only the rooms below it, and only those it needs today: a new arrow
# between rooms is a decision, made here. "collectkit" is the public API (the package itself).
ROOM_IMPORTS = {
    "store": set(),
    "tasks": {"store"},
    "serve": {"store"},
    "collect": {"tasks", "store", "serve"},
    "grade": {"tasks", "store"},
    "analyze": {"collect", "grade", "tasks", "store"},
    "explorer": {"analyze", "grade", "tasks", "store"},
    "training_data": {"tasks", "store"},
    "workflow": {"analyze", "collect", "explorer", "grade", "serve", "store", "tasks",
                 "training_data"},
    "cli": {"collectkit", "workflow", "analyze", "collect", "explorer", "grade", "serve",
            "store", "tasks", "training_data"},
    "notebook": {"collectkit", "workflow", "collect", "serve"},
}


def room_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else "collectkit"


def test_the_room_order_has_every_room_and_no_circle():
    assert set(ROOM_IMPORTS) == ROOMS
    assert cycles({room: below - {"collectkit"} for room, below in ROOM_IMPORTS.items()}) == []
    assert room_of("collectkit.collect.batch.driver") == "collect"
    assert room_of("collectkit.run_inference") == room_of("collectkit") == "collectkit"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """The arrows from a room to one it may not import (not below it, or not needed)."""
    return sorted(f"{name} -> {target}" for name, targets in graph.items()
                  if room_of(name) in ROOM_IMPORTS for target in targets
                  if room_of(target) not in {room_of(name), *ROOM_IMPORTS[room_of(name)]})


def test_the_room_check_catches_an_upward_import():
    graph = {"collectkit.collect.run": {"collectkit.grade.grading", "collectkit.store.append"},
             "collectkit.grade.grading": {"collectkit.tasks.load", "collectkit.grade.workers"},
             "collectkit.store.append": {"collectkit.collect.batch.driver"},
             "collectkit.run_inference": {"collectkit.cli.run"}}
    assert upward_imports(graph) == ["collectkit.collect.run -> collectkit.grade.grading",
                                     "collectkit.store.append -> collectkit.collect.batch.driver"]


def test_each_room_imports_only_the_rooms_below_it():
    assert upward_imports(GRAPH) == []
