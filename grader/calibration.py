"""Calibration: the reference's trained accuracy, measured through the grading path.

    python -m grader.calibration [assignment]      (`make calibrate [ASSIGNMENT=<name>]`)

For each seed of the declaration's `settings["calibration_seeds"]` the reference
(`reference/<name>/`) is trained and scored by the suite's own accuracy-test code, in the
same sandbox and through the same Context as a submission, and the record lands in
`grader/suites/<name>/calibration.json`. `grader.checks.accuracy.accuracy_band` derives the
accuracy thresholds from it, so the thresholds follow what correct code reaches under exactly
the conditions a student's code is graded in. Reproducible: fixed seeds and no timings, so
re-running on unchanged code and data rewrites the same file.

A suite's `tests.py` provides three module-level names for this (and this module knows no
suite by name):
    calibration_run(ctx, seed) -> float    the accuracy test's own training and scoring
    calibration_facts(ctx) -> dict         the settings the run used, recorded with it
    calibration_labels() -> np.ndarray     the held-out labels (for the majority-class rate)

A staff tool: it imports the runner and trains the reference, never runs while grading and
is not shipped to students (the checks library, which grading uses, imports none of this).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from grader import build_id
from grader.declaration import NAMES, ROOT, load
from grader.framework import Context


@contextlib.contextmanager
def submission_context(assignment: str, folder: Path, sandbox_mode: str = "auto"
                       ) -> Iterator[Context]:
    """A test Context on `folder`'s files, as the runner builds it; refuses a folder whose
    files are missing or do not parse (calibration must run on complete code)."""
    from grader.runner import open_submission
    with open_submission(assignment, folder, sandbox_mode) as (ctx, _):
        if ctx.static_errors:
            raise RuntimeError(f"{folder}: "
                               f"{'; '.join(e.message for e in ctx.static_errors.values())}")
        yield ctx


@dataclass(frozen=True)
class Hooks:
    """What a suite gives calibration (see the module doc)."""
    run: Callable[[Context, int], float]
    facts: Callable[[Context], dict[str, Any]]
    labels: Callable[[], np.ndarray]


def hooks(assignment: str) -> Hooks:
    """The suite's three calibration names, read from its tests module."""
    tests = importlib.import_module(f"grader.suites.{assignment}.tests")
    return Hooks(tests.calibration_run, tests.calibration_facts, tests.calibration_labels)


def record(accs: list[float], labels: np.ndarray, **extra: Any) -> dict[str, Any]:
    """What calibration.json holds: the accuracies, their mean and min, the majority-class
    rate of the held-out labels (the zero-credit point), plus how they were produced."""
    counts = np.bincount(np.asarray(labels))
    return {"accuracy": [round(float(a), 6) for a in accs],
            "mean": round(float(np.mean(accs)), 6), "min": round(float(np.min(accs)), 6),
            "majority": round(float(counts.max() / counts.sum()), 6), **extra}


def measure(assignment: str, sandbox_mode: str = "auto") -> dict[str, Any]:
    """Train the reference once per calibration seed through the grading path and return
    the calibration record (not written)."""
    decl, suite = load(assignment), hooks(assignment)
    seeds = [int(s) for s in decl.settings["calibration_seeds"]]
    with submission_context(assignment, ROOT / "reference" / assignment, sandbox_mode) as ctx:
        accs = [suite.run(ctx, seed) for seed in seeds]
        facts = suite.facts(ctx)
        mode = ctx.worker.mode
    return record(accs, suite.labels(), seeds=seeds, dataset=", ".join(decl.datasets),
                  data_variant=build_id.data_facts(decl.datasets)["variant"],
                  sandbox=mode, **facts,
                  produced_by=f"python -m grader.calibration {assignment}")


def write(assignment: str, sandbox_mode: str = "auto") -> dict[str, Any]:
    """`measure`, then write the record to the suite's calibration.json."""
    data = measure(assignment, sandbox_mode)
    path = load(assignment).suite_dir / "calibration.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.calibration")
    parser.add_argument("assignment", nargs="?", choices=NAMES)
    args = parser.parse_args(argv)
    for name in [args.assignment] if args.assignment else NAMES:
        print(f"{name}: {json.dumps(write(name), sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
