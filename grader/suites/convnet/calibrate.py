"""Calibrate the convnet accuracy band: train the reference under the graded settings.

The reference's files are graded through the same sandboxed path and the same code as a
submission's accuracy test (`tests.accuracy_run`: the declaration's `accuracy_run` settings,
the given Solver, test accuracy computed on the trusted side); only the model/minibatch seed
varies (`settings["calibration_seeds"]`, seed 0 being the graded run).
`python -m grader.calibrate convnet` (`make calibrate`) writes `calibration.json`;
`grader.checks.accuracy.accuracy_band` derives the thresholds from it.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable

from grader.checks import accuracy
from grader.declaration import ROOT, load
from grader.suites.convnet import tests

NAME = "convnet"


def run(seeds: Iterable[int] | None = None, sandbox_mode: str = "auto") -> dict[str, Any]:
    decl = load(NAME)
    seeds = [int(s) for s in (decl.settings["calibration_seeds"] if seeds is None else seeds)]
    start = time.monotonic()
    with accuracy.submission_context(NAME, ROOT / "reference" / NAME, sandbox_mode) as ctx:
        accs = [tests.accuracy_run(ctx, seed) for seed in seeds]
        mode = ctx.worker.mode
    return accuracy.calibration_record(
        accs, tests._mnist()["y_test"], seeds=seeds,
        accuracy_run=decl.settings["accuracy_run"], dataset="mnist", sandbox=mode,
        seconds=round(time.monotonic() - start, 1),
        produced_by=f"python -m grader.calibrate {NAME} (grader/suites/{NAME}/calibrate.py)")


if __name__ == "__main__":   # python -m grader.suites.convnet.calibrate [--write]
    result = run()
    print(json.dumps(result, indent=2))
    if "--write" in sys.argv:
        (load(NAME).suite_dir / "calibration.json").write_text(json.dumps(result, indent=2) + "\n")
