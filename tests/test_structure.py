"""The shape of the grader, pinned: every suite's collected tests (number, name, weight,
visibility) match a committed snapshot, and `grader/` has no import cycle.

A deliberate change to a suite's test list updates tests/snapshots/collected_tests.json in
the same commit (`GRADEKIT_UPDATE_SNAPSHOT=1 pytest tests/test_structure.py`)."""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from grader.declaration import NAMES, ROOT
from grader.framework import collect

SNAPSHOT = Path(__file__).parent / "snapshots" / "collected_tests.json"
GRADER = ROOT / "grader"


def collected() -> dict[str, list[dict]]:
    return {name: [{"number": s.number, "name": s.name, "weight": s.weight,
                    "visibility": s.visibility} for s in collect(name)] for name in NAMES}


def test_collected_tests_match_the_snapshot():
    now = collected()
    if os.environ.get("GRADEKIT_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(now, indent=1) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    for name in NAMES:
        assert now[name] == expected[name], f"{name}: the collected tests changed"
    assert set(now) == set(expected)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every grader module `path` imports, at any depth (lazy imports count too)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in GRADER.rglob("*.py")}
    return {m: {t for t in imports_of(p) if t in modules and t != m} for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_grader_has_no_import_cycle():
    graph = import_graph()
    assert "grader.runner" in graph and graph["grader.runner"], "the import graph is empty"
    assert cycles(graph) == []


def test_the_checks_library_never_imports_the_runner_or_the_batch():
    graph = import_graph()
    for mod, targets in graph.items():
        if mod.startswith("grader.checks"):
            assert not targets & {"grader.runner", "grader.batch", "grader.report",
                                  "grader.cli"}, mod


def test_the_longest_first_test_order_names_real_test_files():
    """tests/conftest.py's balancing list only helps while it names files that exist."""
    import conftest
    here = Path(__file__).resolve().parent
    assert conftest.LONGEST_FIRST and all((here / n).is_file() for n in conftest.LONGEST_FIRST)
