"""Calibrate the convnet accuracy band: the reference trained under the declaration's
`accuracy_run` settings by the suite's own accuracy-test code, once per calibration seed
(seed 0 is the graded run). `make calibrate` writes the result to `calibration.json`."""
from __future__ import annotations

from typing import Any

from grader.checks import accuracy
from grader.suites.convnet import tests

NAME = "convnet"


def run(sandbox_mode: str = "auto") -> dict[str, Any]:
    return accuracy.calibrate(
        NAME, tests.accuracy_run, tests._mnist()["y_test"], dataset="mnist",
        sandbox_mode=sandbox_mode,
        describe=lambda ctx: {"accuracy_run": ctx.settings["accuracy_run"]})
