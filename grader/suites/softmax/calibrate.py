"""Calibrate the softmax accuracy band: train the reference over a few seeds.

The reference's files are graded through the same sandboxed path and the same code as a
submission's accuracy test (`tests.train_and_score`, HYPERPARAMS read from the file, iterations
capped), only the seed varies. `python -m grader.calibrate softmax` (`make calibrate`) writes the
result to `calibration.json`; `grader.checks.accuracy.accuracy_band` derives the thresholds.
"""
from __future__ import annotations

from typing import Any, Iterable

from grader.checks import accuracy
from grader.declaration import ROOT, load
from grader.suites.softmax import tests

NAME = "softmax"


def run(seeds: Iterable[int] | None = None, sandbox_mode: str = "auto") -> dict[str, Any]:
    decl = load(NAME)
    seeds = list(decl.settings["calibration_seeds"] if seeds is None else seeds)
    with accuracy.submission_context(NAME, ROOT / "reference" / NAME, sandbox_mode) as ctx:
        hp = ctx.constant(tests.MODULE, "HYPERPARAMS")
        accs = [tests.train_and_score(ctx, hp, seed) for seed in seeds]
        mode = ctx.worker.mode
    return accuracy.calibration_record(
        accs, tests.digits()["y_test"], seeds=seeds, hyperparams=hp,
        max_iters=decl.settings["max_iters"], dataset="digits", sandbox=mode,
        produced_by=f"python -m grader.calibrate {NAME} (grader/suites/{NAME}/calibrate.py)")

