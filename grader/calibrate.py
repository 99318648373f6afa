"""`make calibrate`: retrain the reference through the grading path and record its accuracy.

Each suite's `calibrate.py` has `run() -> dict` (seeds and settings are its own facts); the
result lands in `grader/suites/<name>/calibration.json`, from which
`grader.checks.accuracy.accuracy_band` derives the thresholds. Reproducible: fixed seeds.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from grader.declaration import NAMES, SUITES


def calibrate(name: str) -> dict:
    data = importlib.import_module(f"grader.suites.{name}.calibrate").run()
    path = SUITES / name / "calibration.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.calibrate")
    parser.add_argument("assignment", nargs="?", choices=NAMES)
    args = parser.parse_args(argv)
    for name in [args.assignment] if args.assignment else NAMES:
        data = calibrate(name)
        print(f"{name}: {json.dumps(data, sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
