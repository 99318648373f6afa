"""Fixtures: inputs and reference outputs, built from `reference/` by course staff.

Grading reads only these files and never imports the reference. Each suite has a
`expected_values.py` with `build(ref, set_name, rng) -> {case: {field: array}}`; `ref(module)`
imports a reference module by file path (staff time only). The `visible` and `hidden` sets
use different seeds (`SEEDS`), so hidden inputs cannot be derived from the visible ones, and
the student release ships only `visible.npz`.

    python -m grader.expected_values build [assignment]    # make expected
    python -m grader.expected_values check [assignment]    # exit 1 when stale
"""
from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

from grader.declaration import NAMES, ROOT, SUITES

SEEDS = {"visible": 1_000, "hidden": 2_000}
Cases = dict[str, dict[str, np.ndarray]]


def path(assignment: str, set_name: str) -> Path:
    return SUITES / assignment / "expected" / f"{set_name}.npz"


@functools.lru_cache(maxsize=None)
def load(assignment: str, set_name: str) -> Cases:
    """One set of expected values; a clear error when it is absent (e.g. hidden set in a release)."""
    p = path(assignment, set_name)
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing: run `make expected`")
    cases: Cases = {}
    with np.load(p, allow_pickle=False) as data:
        for key in data.files:
            case, field = key.split("/", 1)
            cases.setdefault(case, {})[field] = data[key]
    return cases


def available(assignment: str, set_name: str) -> bool:
    return path(assignment, set_name).exists()


_REFERENCE_MODULES: dict[str, dict[str, ModuleType]] = {}   # assignment -> its imported modules


def reference_importer(assignment: str) -> Callable[[str], ModuleType]:
    """`ref("layers")` imports reference/<assignment>/layers.py (trusted, staff time only).

    Assignments reuse file names (convnet's and modules' `optim.py`), and reference files
    import each other by plain name (`from optim import Adam`): each import runs with this
    assignment's folders first on sys.path and only its own modules under those names in
    sys.modules, which are put back as they were afterwards, so one process can build the
    expected values of every assignment."""
    dirs = [ROOT / "reference" / assignment, ROOT / "reference" / "common"]
    names = {p.stem for d in dirs for p in d.glob("*.py")}
    own = _REFERENCE_MODULES.setdefault(assignment, {})

    def ref(module: str) -> ModuleType:
        if module in own:
            return own[module]
        saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
        sys.modules.update(own)
        saved_path = list(sys.path)
        sys.path[:0] = [str(d) for d in dirs]
        try:
            importlib.import_module(module)
            own.update({n: sys.modules[n] for n in names if n in sys.modules})
        finally:
            sys.path[:] = saved_path
            for n in names:
                sys.modules.pop(n, None)
            sys.modules.update(saved)
        return own[module]
    return ref


def _flatten(cases: Cases) -> dict[str, np.ndarray]:
    flat = {}
    for case, fields in sorted(cases.items()):
        for field, value in sorted(fields.items()):
            arr = np.asarray(value)
            if arr.dtype == object:
                raise TypeError(f"expected value {case}/{field} is not numeric")
            flat[f"{case}/{field}"] = arr
    return flat


def build_cases(assignment: str, set_name: str) -> Cases:
    builder = importlib.import_module(f"grader.suites.{assignment}.expected_values")
    rng = np.random.default_rng(SEEDS[set_name])
    return builder.build(reference_importer(assignment), set_name, rng)


def write(assignment: str) -> list[Path]:
    written = []
    for set_name in SEEDS:
        p = path(assignment, set_name)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **_flatten(build_cases(assignment, set_name)))
        tmp.replace(p)
        written.append(p)
    load.cache_clear()
    return written


def stale(assignment: str) -> list[str]:
    """Cases whose committed expected values differ from a fresh build (empty when up to date)."""
    problems = []
    for set_name in SEEDS:
        fresh = _flatten(build_cases(assignment, set_name))
        if not path(assignment, set_name).exists():
            problems.append(f"{assignment}/{set_name}: file missing")
            continue
        with np.load(path(assignment, set_name), allow_pickle=False) as old:
            if sorted(old.files) != sorted(fresh):
                problems.append(f"{assignment}/{set_name}: cases differ")
                continue
            for key, value in fresh.items():
                if old[key].dtype != value.dtype or not np.array_equal(old[key], value,
                                                                       equal_nan=True):
                    problems.append(f"{assignment}/{set_name}: {key} differs")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.expected_values")
    parser.add_argument("action", choices=("build", "check"))
    parser.add_argument("assignment", nargs="?", choices=NAMES)
    args = parser.parse_args(argv)
    names = [args.assignment] if args.assignment else list(NAMES)
    if args.action == "build":
        for name in names:
            for p in write(name):
                print(f"wrote {p.relative_to(ROOT)}")
        return 0
    problems = [p for name in names for p in stale(name)]
    for p in problems:
        print(f"stale: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
