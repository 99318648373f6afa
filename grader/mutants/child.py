"""The grade function a mutant's batch child runs (`grader.batch.run_task` calls it as
`grade_mutant(assignment, folder, results_path=..., time_budget=...)`).

The mutant's folder holds its files and `MUTANT.json`: the tags whose tests run
(`only_tags`), the sandbox mode, the unmutated reference's score per test under the same tags
(`baseline`; absent for a baseline run), the changed lines and the probe's seeds. When no test
scored below the baseline, the equivalence check runs here, after grading, and its verdict
goes into results.json under `extra_data.mutant`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader import results as res
from grader.runner import grade_submission

SPEC = "MUTANT.json"
SLACK = 1e-9


def lost(tests: list[dict[str, Any]], baseline: dict[str, float]) -> list[str]:
    """Numbers of the tests that scored below the reference's score on them."""
    return [t["number"] for t in tests if t["score"] < baseline.get(t["number"], t["max_score"])
            - SLACK]


def grade_mutant(assignment: str, submission: Path, *, results_path: Path | None = None,
                 time_budget: float | None = None) -> dict[str, Any]:
    """Grade a mutant on the tests of its tags; classify a survivor's equivalence."""
    from grader.mutants.equivalence import verdict
    spec = json.loads((Path(submission) / SPEC).read_text())
    data = grade_submission(assignment, Path(submission), results_path=results_path,
                            time_budget=time_budget, sandbox_mode=spec["sandbox"],
                            only_tags=frozenset(spec["tags"]))
    baseline = spec.get("baseline")
    if baseline is not None and res.gradekit_of(data).status == res.GRADED \
            and not lost(data["tests"], baseline):
        changed = [tuple(c) for c in spec["changed"]]
        data["extra_data"]["mutant"] = verdict(assignment, Path(submission), changed,
                                               spec["seeds"])
    return data
