"""Calibrate the two_layer_net accuracy band: the reference trained with its HYPERPARAMS (capped as
for a submission) by the suite's own accuracy-test code, once per calibration seed.
`make calibrate` writes the result to `calibration.json`."""
from __future__ import annotations

from typing import Any

from grader.checks import accuracy
from grader.suites.two_layer_net import tests


def run(sandbox_mode: str = "auto") -> dict[str, Any]:
    return accuracy.calibrate_hyperparams("two_layer_net", tests, tests.cihlab()["y_test"], dataset="cihlab",
                                          sandbox_mode=sandbox_mode)
