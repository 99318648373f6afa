"""The accuracy tests show students their VALIDATION accuracy (measured by the grader's own
forward from the trained weights) and grade on the test split, whose accuracy and the band's
thresholds are never printed (issue #11: no tuning on the test set)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from grader.bugs import Variant
from grader.checks import accuracy
from grader.declaration import load
from grader.framework import CheckFailed, collect
from suite_support import grade_only, table_copy


def _ctx(calibration: dict, margin: float = 0.0) -> SimpleNamespace:
    decl = SimpleNamespace(name="toy", calibration=lambda: calibration,
                           settings={"num_classes": 4, "accuracy_margin": margin})
    ctx = SimpleNamespace(assignment=decl, score=None, notes=[])
    ctx.set_score = lambda p: setattr(ctx, "score", p)
    ctx.note = ctx.notes.append
    return ctx


def test_grading_shows_validation_accuracy_and_points_never_test_accuracy_or_thresholds():
    ctx = _ctx({"min": 0.9, "majority": 0.3})            # band: zero at 30%, full at 90%
    with pytest.raises(CheckFailed) as info:
        accuracy.grade_accuracy(ctx, 0.6, 10, "Net", "test", validation=0.875)
    msg = str(info.value)
    assert "validation accuracy 87.5%" in msg and "5.00 / 10 points" in msg
    for secret in ("60.0%", "90.0%", "30.0%"):            # test accuracy, both thresholds
        assert secret not in msg, msg
    assert ctx.score == pytest.approx(5.0)                # the grade: the test split's 60%
    assert accuracy.grade_accuracy(ctx, 0.95, 10, "Net", validation=0.9) == 10
    assert "validation accuracy 90.0%" in ctx.notes[-1] and "95.0%" not in ctx.notes[-1]


def test_self_check_scores_validation_accuracy_provisionally():
    ctx = _ctx({"min": 0.9, "majority": 0.3})
    with pytest.raises(CheckFailed, match=r"validation accuracy 60\.0%.*provisionally 5\.00"):
        accuracy.grade_accuracy(ctx, 0.6, 10, "Net", "validation")


def test_measure_scores_both_splits_and_only_validation_without_test_labels():
    data = {"X_val": np.zeros((4, 1)), "y_val": np.array([0, 0, 1, 1]),
            "X_test": np.zeros((2, 1)), "y_test": np.array([0, 0])}
    always_zero = lambda X, y: float(np.mean(y == 0))
    assert accuracy.measure(data, always_zero) == accuracy.Measured(1.0, 0.5, "test")
    release = {k: v for k, v in data.items() if k != "y_test"}
    assert accuracy.measure(release, always_zero) == accuracy.Measured(0.5, 0.5, "validation")


REFERENCE = Variant("reference", "the reference as is")
ACCURACY_RUNS = {"softmax": ("2.2", "3.4"), "two_layer_net": ("1.3", "4.2")}


@pytest.mark.parametrize("name", sorted(ACCURACY_RUNS))
def test_suite_accuracy_test_prints_validation_not_test_accuracy(name, tmp_path, monkeypatch):
    """The real accuracy test on the reference: the visible output names the validation
    accuracy the grader measured; neither the test accuracy nor the full-credit threshold."""
    monkeypatch.setenv("GRADEKIT_ALLOW_PLAIN", "1")
    seen: list[accuracy.Measured] = []
    real = accuracy.measure
    monkeypatch.setattr(accuracy, "measure", lambda *a: seen.append(real(*a)) or seen[-1])
    numbers = ACCURACY_RUNS[name]
    specs = [s for s in collect(name) if s.number in numbers]
    out = grade_only(name, table_copy(name, REFERENCE, tmp_path / "sub"), specs)[-1]
    (m,) = seen
    assert m.split == "test" and out["score"] == out["max_score"], out["output"]
    assert f"validation accuracy {m.validation:.1%}" in out["output"], out["output"]
    full_at = accuracy.accuracy_band(load(name))[1]
    hidden = {f"{m.graded:.1%}", f"{full_at:.1%}"} - {f"{m.validation:.1%}"}
    assert not [h for h in hidden if h in out["output"]], (hidden, out["output"])
