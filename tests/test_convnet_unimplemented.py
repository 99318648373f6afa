"""The reference convnet with ONE function left as the stub ships it loses only the points of
tests tagged with that function (a grader fault, e.g. in a worker-side helper, or a gate that
reaches too far, would show up as lost points elsewhere).

`make test` runs a representative subset (REPRESENTATIVE); GRADEKIT_FULL_SWEEP=1 runs every
graded function (about 10 s each under bwrap).
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from examples.build import reference_copy
from grader.declaration import ROOT, load
from grader.runner import grade_submission

NAME = "convnet"
REPRESENTATIVE = ("dropout_forward", "batchnorm_forward", "conv_forward_fast",
                  "max_pool_backward_naive", "adam")
pytestmark = pytest.mark.slow


def _definitions(source: str) -> dict[str, tuple[int, int]]:
    """Top-level function/class name -> (first line, last line), 1-based, decorators included."""
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans[node.name] = (first, node.end_lineno)
    return spans


def graded_functions() -> list[tuple[str, str]]:
    """(file, function) for every top-level function or class of the graded files."""
    return [(f, name) for f in load(NAME).graded
            for name in _definitions((ROOT / "reference" / NAME / f).read_text())]


def unimplemented(dest: Path, filename: str, func: str) -> Path:
    """A copy of the reference with `func` replaced by the stub's version of it."""
    reference_copy(NAME, dest)
    ref = (dest / filename).read_text().splitlines(keepends=True)
    stub = (ROOT / "assignments" / NAME / filename).read_text().splitlines(keepends=True)
    (r0, r1), (s0, s1) = (_definitions("".join(ref))[func], _definitions("".join(stub))[func])
    (dest / filename).write_text("".join(ref[:r0 - 1] + stub[s0 - 1:s1] + ref[r1:]))
    return dest


FULL = os.environ.get("GRADEKIT_FULL_SWEEP") == "1"
CASES = [c for c in graded_functions() if FULL or c[1] in REPRESENTATIVE]


def test_the_representative_functions_exist():
    assert {f for _, f in graded_functions()} >= set(REPRESENTATIVE)


@pytest.mark.parametrize("filename,func", CASES, ids=[f for _, f in CASES])
def test_one_unimplemented_function_loses_only_its_tagged_tests(tmp_path, filename, func):
    data = grade_submission(NAME, unimplemented(tmp_path / "s", filename, func),
                            sandbox_mode="bwrap")
    assert "grader_error" not in data["extra_data"]["gradekit"]["flags"]
    lost = [t for t in data["tests"] if t["score"] < t["max_score"]]
    assert lost, f"{func} unimplemented lost no points"
    wrongly = [(t["number"], t["output"][:300]) for t in lost if func not in t["tags"]]
    assert not wrongly, wrongly
