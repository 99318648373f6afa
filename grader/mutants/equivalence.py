"""Equivalent mutants, detected: a mutant is equivalent when its outputs agree with the
reference's, within the suite's tolerance for expected values (`grader.checks.compare`'s
RTOL and ATOL), on many random inputs of every graded function, AND the random inputs ran
one of its changed lines. Inputs: the suite's own expected-values builder on fresh seeds
(both shape sets) plus `grader.mutants.probes`.

This imports and runs the mutated reference in the calling process: staff's own code with
one edit, never student code, run by the mutant's grading child after its tests (a child
process of the batch, under its wall-clock cap), so a mutant that hangs costs its child.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import numpy as np

from grader.checks.compare import ATOL, RTOL
from grader.declaration import ROOT, load
from grader.expected_values import SEEDS
from grader.mutants.probes import PROBES

FIRST_SEED = 50_000          # far from the expected values' own seeds
EQUIVALENT, DIFFERENT, UNREACHED = "equivalent", "different", "unreached"


def _module_names(assignment: str) -> list[str]:
    decl = load(assignment)
    common = [p.stem for p in (ROOT / "reference" / "common").glob("*.py")]
    return sorted({Path(f).stem for f in (*decl.graded, *decl.given)} | set(common))


def _importer(assignment: str, folder: Path) -> Callable[[str], ModuleType]:
    """`ref(name)`: the module `name` from `folder` (the code under test), the reference's
    given files and reference/common, with every module of the assignment imported afresh."""
    names = _module_names(assignment)
    for name in names:
        sys.modules.pop(name, None)
    dirs = [str(folder), str(ROOT / "reference" / assignment), str(ROOT / "reference" / "common")]
    for d in reversed(dirs):
        while d in sys.path:
            sys.path.remove(d)
        sys.path.insert(0, d)
    return importlib.import_module


def _flat(cases: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in sorted(cases.items()):
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}/")
        else:
            yield prefix + key, value


def outputs(assignment: str, folder: Path, seeds: int) -> dict[str, Any]:
    """Every probe's output on the code in `folder`: {probe/case/field: array} (a probe that
    raised: {probe: 'raised Type'})."""
    ref = _importer(assignment, folder)
    builder = importlib.import_module(f"grader.suites.{assignment}.expected_values").build
    probes: list[tuple[str, Callable[[np.random.Generator], Any]]] = []
    for k in range(seeds):
        for set_name in SEEDS:
            probes.append((f"build-{set_name}-{k}", lambda rng, s=set_name: builder(ref, s, rng)))
        if assignment in PROBES:
            probes.append((f"probe-{k}", lambda rng: PROBES[assignment](ref, rng)))
    found: dict[str, Any] = {}
    for i, (label, run) in enumerate(probes):
        try:
            with np.errstate(all="ignore"):
                cases = run(np.random.default_rng(FIRST_SEED + i))
            found.update((f"{label}/{k}", v) for k, v in _flat(cases))
        except Exception as exc:      # the code under test raised on these inputs
            found[label] = f"raised {type(exc).__name__}"
    return found


def agree(a: Any, b: Any) -> bool:
    """Whether two outputs agree within the suite's expected-value tolerance."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    try:
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            return False
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            x, y = x.astype(np.float64), y.astype(np.float64)
            return bool(np.all((np.abs(x - y) <= ATOL + RTOL * np.abs(y))
                               | (np.isnan(x) & np.isnan(y)) | (x == y)))
        return bool(np.array_equal(x, y))
    except (TypeError, ValueError):
        return False


class _LineTrace:
    """Which of the given lines of the given files ran (sys.settrace, those files only)."""

    def __init__(self, lines: dict[str, set[int]]) -> None:
        self.lines, self.ran = lines, False

    def __call__(self, frame, event, arg):
        watched = self.lines.get(frame.f_code.co_filename)
        if watched is None or self.ran:
            return None

        def local(frame, event, arg):
            if event == "line" and frame.f_lineno in watched:
                self.ran = True
            return None if self.ran else local
        if frame.f_lineno in watched:
            self.ran = True
        return local

    def __enter__(self) -> "_LineTrace":
        sys.settrace(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.settrace(None)


def verdict(assignment: str, folder: Path, changed: list[tuple[str, int, int]],
            seeds: int = 10) -> dict[str, Any]:
    """{'verdict': EQUIVALENT | DIFFERENT | UNREACHED, 'detail': why} for the mutant in
    `folder` whose edits span `changed` (file, first line, last line)."""
    want = outputs(assignment, ROOT / "reference" / assignment, seeds)
    lines = {str((folder / f).resolve()): set(range(a, b + 1)) for f, a, b in changed}
    with _LineTrace(lines) as trace:
        got = outputs(assignment, folder, seeds)
    differ = sorted(k for k in set(want) | set(got)
                    if k not in want or k not in got or not agree(got[k], want[k]))
    if differ:
        return {"verdict": DIFFERENT, "detail": f"{len(differ)} output(s) differ, e.g. "
                                                 + ", ".join(differ[:3])}
    if not trace.ran:
        return {"verdict": UNREACHED, "detail": "no random input ran the changed lines: "
                                                "equivalence unknown"}
    return {"verdict": EQUIVALENT, "detail": f"{len(want)} outputs agree on {seeds} seeds"}
