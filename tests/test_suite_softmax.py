"""The softmax suite end to end: the reference scores 100, the stubs 0, realistic bugs lose
points on tests tagged with the bugged function, fixtures are fresh.

Grading runs in the `plain` sandbox for speed, except `test_reference_scores_full_marks_isolated`
(the default mode: bubblewrap where available).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from examples.build import reference_copy
from grader import fixtures
from grader.declaration import ROOT, load
from grader.framework import collect
from grader.runner import grade_submission

NAME = "softmax"
FILE = "softmax.py"

# (id, bugged function tag, old text, new text[, file]): small edits of a copy of the
# reference (in FILE unless a file is named)
BUGS = [
    ("reg-grad-half", "softmax_loss_vectorized",
     "dW = X.T @ dscores / num_train + 2 * reg * W", "dW = X.T @ dscores / num_train + reg * W"),
    ("no-max-shift", "softmax_loss_naive",
     "        scores = scores - np.max(scores)\n", ""),
    ("loss-not-averaged", "softmax_loss_vectorized",
     "loss = -np.mean(log_probs[rows, y])", "loss = -np.sum(log_probs[rows, y])"),
    ("naive-dW-not-averaged", "softmax_loss_naive",
     "dW = dW / num_train + 2 * reg * W", "dW = dW + 2 * reg * W"),
    ("gradient-ascent", "Softmax.train",
     "self.W -= learning_rate * grad", "self.W += learning_rate * grad"),
    ("argmin", "Softmax.predict",
     "return np.argmax(X @ self.W, axis=1)", "return np.argmin(X @ self.W, axis=1)"),
    ("global-rng", "Softmax.train",
     "idx = rng.choice(num_train, batch_size, replace=True)",
     "idx = np.random.choice(num_train, batch_size, replace=True)"),
]


def make_submission(tmp_path: Path, edits: list[tuple[str, str, str]] = ()) -> Path:
    """A copy of the reference's submitted files with (file, old, new) text edits applied."""
    return reference_copy(NAME, tmp_path / "submission", edits)


def grade(path: Path, mode: str = "plain") -> dict:
    return grade_submission(NAME, path, sandbox_mode=mode)


def no_grader_error(data: dict) -> None:
    assert "grader_error" not in data["extra_data"]["gradekit"]["flags"]
    for t in data["tests"]:
        assert "Internal grader error" not in t["output"], (t["number"], t["output"])


def test_weights_total_100_and_tags_name_functions():
    specs = collect(NAME)
    assert sum(s.weight for s in specs) == 100
    known = {"softmax_loss_naive", "softmax_loss_vectorized", "Softmax.train", "Softmax.predict"}
    assert {t for s in specs for t in s.tags} == known
    assert {s.visibility for s in specs} == {"visible", "hidden"}


def test_fixtures_are_fresh():
    assert fixtures.stale(NAME) == []


def test_calibration_is_recorded_and_reproducible_setup():
    calib = load(NAME).calibration()
    decl = load(NAME)
    assert list(calib["seeds"]) == list(decl.settings["calibration_seeds"])
    assert len(calib["accuracy"]) == len(calib["seeds"])
    assert calib["min"] == min(calib["accuracy"]) and 0.1 < calib["majority"] < calib["min"]


def test_reference_scores_full_marks(tmp_path):
    data = grade(make_submission(tmp_path))
    failed = [(t["number"], t["output"]) for t in data["tests"] if t["status"] != "passed"]
    assert data["score"] == 100.0, failed
    no_grader_error(data)


def test_reference_scores_full_marks_isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADEKIT_SANDBOX", raising=False)
    data = grade(make_submission(tmp_path), mode="auto")
    assert data["score"] == 100.0, [(t["number"], t["output"]) for t in data["tests"]
                                    if t["status"] != "passed"]
    no_grader_error(data)


def test_stubs_score_zero_cleanly():
    data = grade(ROOT / "assignments" / NAME)
    assert data["score"] == 0.0
    no_grader_error(data)
    for t in data["tests"]:
        assert t["status"] == "failed" and t["score"] == 0, t["number"]
        first = t["output"].splitlines()[0]
        assert "not implemented" in first or "is not set (None)" in first, (t["number"], first)


@pytest.mark.parametrize("bug", BUGS, ids=[b[0] for b in BUGS])
def test_bug_loses_points_on_a_test_tagged_with_the_bugged_function(tmp_path, bug):
    _, func, old, new, *where = bug
    data = grade(make_submission(tmp_path, [(where[0] if where else FILE, old, new)]))
    no_grader_error(data)
    lost = [t for t in data["tests"] if t["score"] < t["max_score"]]
    assert data["score"] < 100.0
    assert any(func in t["tags"] for t in lost), [(t["number"], t["tags"]) for t in lost]
