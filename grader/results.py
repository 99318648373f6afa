"""Gradescope `results.json`: built in memory, written once per update, atomically.

Only the trusted process writes it. `execution_time` is a number (gradescope-utils writes a
string) and scores are rounded so totals never read 2.0001 (otter #563). Output fields pass
through `safetext.clean` (valid UTF-8, no control characters, bounded), whatever the caller
built them from; student text inside them is already fenced by the runner.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from grader import safetext

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "results.schema.json"
SCORE_DIGITS = 4
OUTPUT_MAX = 20_000       # characters of one output field (a test's, or the top-level one)
NAME_MAX = 1_000          # characters of a test name


def points(x: float) -> float:
    """A score as Gradescope should show it."""
    return round(float(x), SCORE_DIGITS) + 0.0


def test_result(*, name: str, number: str, score: float, max_score: float, status: str,
                tags: tuple[str, ...] | list[str], visibility: str, output: str) -> dict[str, Any]:
    return {"name": safetext.one_line(name, NAME_MAX), "number": number, "score": points(score),
            "max_score": points(max_score), "status": status, "tags": list(tags),
            "visibility": visibility, "output": safetext.clean(output, OUTPUT_MAX),
            "output_format": "md"}


def build(tests: list[dict[str, Any]], *, execution_time: float, output: str,
          extra: dict[str, Any]) -> dict[str, Any]:
    """The whole results object; `score` is the rounded sum of the tests' scores."""
    return {
        "score": points(sum(t["score"] for t in tests)),
        "execution_time": round(float(execution_time), 3),
        "output": safetext.clean(output, OUTPUT_MAX),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"gradekit": extra},
    }


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temp file beside `path`, fsync, rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())
