"""Helpers shared by the suite tests (imported as `suite_support`; pytest puts tests/ on
sys.path): grading a reference copy with one bug, and the no-grader-error assertion."""
from __future__ import annotations

from pathlib import Path

from examples.build import reference_copy
from grader.runner import grade_submission


def assert_no_grader_error(data: dict) -> None:
    assert "grader_error" not in data["extra_data"]["gradekit"]["flags"]
    for t in data["tests"]:
        assert "Internal grader error" not in t["output"], (t["number"], t["output"])


def assert_bug_loses_points(name: str, tmp_path: Path, filename: str, func: str, old: str,
                            new: str) -> None:
    """A copy of the reference with one text edit loses points on a test tagged `func`."""
    sub = reference_copy(name, tmp_path / "submission", [(filename, old, new)])
    data = grade_submission(name, sub, sandbox_mode="plain")
    assert_no_grader_error(data)
    lost = [t for t in data["tests"] if t["score"] < t["max_score"]]
    assert data["score"] < 100.0
    assert any(func in t["tags"] for t in lost), [(t["number"], t["tags"]) for t in lost]
