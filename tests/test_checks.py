"""The generic checks library (grader/checks): gradcheck, sanity, accuracy, speed, writeup.

A fake worker evaluates plain-Python functions for the request dicts the sandbox client
builds, so these tests exercise the trusted-side logic without starting a sandbox.
"""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from grader import calibration
from grader.checks import accuracy, gradcheck, sanity, speed, verdicts, writeup
from grader.checks.compare import as_scalar
from grader.declaration import NAMES
from grader.framework import CheckFailed
from grader.sandbox import req_call


class FakeWorker:
    """Answers req_call dicts with local functions; counts round trips."""

    def __init__(self, funcs):
        self.funcs, self.batches, self.calls = funcs, [], 0

    def _one(self, req):
        return self.funcs[req["target"]](*req["args"], **req["kwargs"])

    def batch(self, requests, timeout=None):
        self.batches.append(len(requests))
        return [self._one(r) for r in requests]

    def call(self, target, args=(), kwargs=None, timeout=None):
        self.calls += 1
        return self.funcs[target](*args, **(kwargs or {}))


def cube(x):
    return float(np.sum(x ** 3)), 3 * x ** 2


def cube_wrong(x):
    g = 3 * x ** 2
    g[1, 2] *= 1.01
    return float(np.sum(x ** 3)), g


def _gradcheck(func, x, **kw):
    w = FakeWorker({"m.f": func})
    _, grad = func(x)
    err = gradcheck.gradcheck(w, lambda v: [req_call("m.f", (v,))], x, grad,
                              lambda out: as_scalar(out[0], "loss"), "m.f: dx",
                              rng=np.random.default_rng(0), **kw)
    return err, w


# -- gradcheck ---------------------------------------------------------------------------------
def test_sample_indices_all_or_seeded_sample():
    rng = np.random.default_rng(0)
    assert gradcheck.sample_indices((2, 3), rng) == [(i, j) for i in range(2) for j in range(3)]
    idx = gradcheck.sample_indices((40, 50), np.random.default_rng(1), max_coords=60)
    assert len(idx) == len(set(idx)) == 60 and all(0 <= i < 40 and 0 <= j < 50 for i, j in idx)
    assert idx == gradcheck.sample_indices((40, 50), np.random.default_rng(1), max_coords=60)


def test_gradcheck_passes_a_right_gradient_in_one_batch():
    x = np.random.default_rng(2).standard_normal((4, 5))
    err, w = _gradcheck(cube, x)
    assert err < 1e-8
    assert w.batches == [2 * x.size]                     # one round trip for 20 coordinates


def test_gradcheck_names_the_first_bad_coordinate_and_hides_it_when_hidden():
    x = np.random.default_rng(3).standard_normal((4, 5)) + 2.0
    with pytest.raises(CheckFailed) as e:
        _gradcheck(cube_wrong, x)
    msg = str(e.value)
    assert "m.f: dx" in msg and "index (1, 2)" in msg and "1 of 20" in msg and "h = 1e-05" in msg
    with pytest.raises(CheckFailed) as e:
        _gradcheck(cube_wrong, x, reveal=False)
    assert "(1, 2)" not in str(e.value) and "your gradient" not in str(e.value)


def test_gradcheck_rejects_wrong_shape_and_nonfinite_gradients():
    w = FakeWorker({"m.f": cube})
    x = np.ones((2, 2))
    for bad, words in ((np.ones(4), "wrong shape"), (np.full((2, 2), np.nan), "non-finite")):
        with pytest.raises(CheckFailed, match=words):
            gradcheck.gradcheck(w, lambda v: [req_call("m.f", (v,))], x, bad,
                                lambda out: out[0], "dx", rng=np.random.default_rng(0))


def test_numeric_gradient_chunks_batches_and_runs_the_epilogue_once(monkeypatch):
    monkeypatch.setattr(gradcheck, "GROUPS_PER_BATCH", 8)
    log = []
    w = FakeWorker({"m.f": cube, "m.restore": lambda: log.append("restored")})
    x = np.arange(10, dtype=float)
    idx = [(i,) for i in range(10)]
    num = gradcheck.numeric_gradient(w, lambda v: [req_call("m.f", (v,))], x, idx,
                                     lambda out: out[0],
                                     epilogue=[req_call("m.restore")])
    np.testing.assert_allclose(num, 3 * x ** 2, rtol=1e-8, atol=1e-8)
    assert w.batches == [8, 8, 4 + 1] and log == ["restored"]


def test_numeric_gradient_uses_the_last_result_of_each_group():
    state = {}
    w = FakeWorker({"m.set": lambda v: state.__setitem__("x", v),
                    "m.loss": lambda: float(np.sum(state["x"] ** 2))})
    x = np.array([1.0, -2.0])
    num = gradcheck.numeric_gradient(
        w, lambda v: [req_call("m.set", (v,)), req_call("m.loss")], x, [(0,), (1,)],
        lambda out: out)
    np.testing.assert_allclose(num, 2 * x, rtol=1e-8)


# -- sanity ------------------------------------------------------------------------------------
def test_chance_loss():
    assert sanity.chance_loss(math.log(10) + 0.01, 10, "f") == pytest.approx(math.log(10) + 0.01)
    with pytest.raises(CheckFailed, match=r"ln\(10\)"):
        sanity.chance_loss(math.log(10) * 20, 10, "f")      # summed instead of averaged


def test_reg_raises_loss_checks_the_exact_increase():
    assert sanity.reg_raises_loss(1.0, 1.5, "f", expected_increase=0.5) == pytest.approx(0.5)
    with pytest.raises(CheckFailed, match="did not raise"):
        sanity.reg_raises_loss(1.0, 1.0, "f")
    with pytest.raises(CheckFailed, match="raised the loss by 0.25"):
        sanity.reg_raises_loss(1.0, 1.25, "f", expected_increase=0.5)   # 0.5 * reg * W^2


def test_finite_checks_reject_nan_inf_and_bad_shapes():
    with pytest.raises(CheckFailed, match="finite"):
        sanity.finite_scalar(float("inf"), "loss", sanity.STABILITY_HINT)
    with pytest.raises(CheckFailed, match="wrong shape"):
        sanity.finite_array(np.ones(3), "dW", (3, 1))
    with pytest.raises(CheckFailed, match="non-finite"):
        sanity.finite_array([1.0, np.nan], "dW")
    assert sanity.finite_array([[1, 2]], "x", (1, 2)).dtype == np.float64


def test_loss_decreases():
    sanity.loss_decreases(list(np.linspace(2.3, 0.5, 50)), "h")
    for bad, words in ((np.linspace(0.5, 2.3, 50), "did not decrease"),
                       ([2.0, np.nan, 1.0], "non-finite at iteration 1"),
                       ([1.0], "at least 2")):
        with pytest.raises(CheckFailed, match=words):
            sanity.loss_decreases(bad, "h")


def test_labels_dtype_shape_range():
    ok = sanity.labels(np.array([0, 3, 2]), 3, 4, "predict")
    assert ok.dtype == np.int64
    assert sanity.labels(np.array([0.0, 1.0]), 2, 4, "p", strict_dtype=False).tolist() == [0, 1]
    for bad, kw, words in ((np.array([0.0, 1.0]), {}, "integer array"),
                           ([0, 1], {}, "numpy array"),
                           (np.array([0, 1, 2]), {}, r"shape \(2,\)"),
                           (np.array([0, 4]), {}, r"\[0, 4\)"),
                           (np.array([0.5, 1.0]), {"strict_dtype": False}, "whole numbers")):
        with pytest.raises(CheckFailed, match=words):
            sanity.labels(bad, 2, 4, "p", **kw)


def test_same_result_and_overfit():
    sanity.same_result([1.0, 2.0], np.array([1.0, 2.0]), "h")
    with pytest.raises(CheckFailed, match="same seed"):
        sanity.same_result([1.0, 2.0], [1.0, 2.1], "h")
    sanity.overfit(1.0, "net")
    with pytest.raises(CheckFailed, match="95.0%"):
        sanity.overfit(0.95, "net")


# -- accuracy ----------------------------------------------------------------------------------
def _decl(calib, **settings):
    return SimpleNamespace(name="x", calibration=lambda: calib,
                           settings={"num_classes": 4, **settings})


def test_accuracy_band_and_points():
    band = accuracy.accuracy_band(_decl({"min": 0.9, "majority": 0.3}, accuracy_margin=0.05))
    assert band == pytest.approx((0.3, 0.85))
    assert accuracy.band_points(0.86, band, 10) == 10
    assert accuracy.band_points(0.2, band, 10) == 0
    assert accuracy.band_points(0.575, band, 10) == pytest.approx(5.0)
    assert accuracy.accuracy_band(_decl({"min": 0.9}))[0] == 0.25      # 1 / C by default
    with pytest.raises(RuntimeError, match="calibrate"):
        accuracy.accuracy_band(_decl({}))


def test_grade_accuracy_sets_partial_score_and_explains():
    ctx = SimpleNamespace(assignment=_decl({"min": 0.9, "majority": 0.3}, accuracy_margin=0.0),
                          score=None, notes=[])
    ctx.set_score = lambda p: setattr(ctx, "score", p)
    ctx.note = ctx.notes.append
    with pytest.raises(CheckFailed, match="validation accuracy 58.0%.*5.00 / 10"):
        accuracy.grade_accuracy(ctx, 0.6, 10, "Net", validation=0.58)
    assert ctx.score == pytest.approx(5.0)
    assert accuracy.grade_accuracy(ctx, 0.95, 10, "Net", validation=0.93) == 10 \
        and "93.0%" in ctx.notes[-1]


def test_accuracy_counts_correct_labels_and_worker_data_has_no_test_labels():
    assert accuracy.accuracy(np.array([0, 1, 1, 3]), np.array([0, 1, 2, 3]), 4, "p") == 0.75
    data = {k: np.zeros(2) for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")}
    assert "y_test" not in accuracy.worker_data(data)
    with pytest.raises(ValueError):
        accuracy.worker_data(data, ("X_test", "y_test"))


def test_validate_hyperparams_and_cap():
    spec = {"learning_rate": ("float", 1e-8, 10.0), "num_iters": ("int", 1, 10**6)}
    assert accuracy.validate_hyperparams({"learning_rate": 1, "num_iters": 5.0}, spec) == \
        {"learning_rate": 1.0, "num_iters": 5}
    for hp, words in (({"learning_rate": None, "num_iters": 5}, "not set"),
                      ({"learning_rate": 0.1}, "missing 'num_iters'"),
                      ({"learning_rate": 0.1, "num_iters": 5, "seed": 1}, "unexpected 'seed'"),
                      ({"learning_rate": 0.1, "num_iters": 2.5}, "integer"),
                      ({"learning_rate": True, "num_iters": 5}, "a number"),
                      ({"learning_rate": -1.0, "num_iters": 5}, "outside"),
                      ([1, 2], "must be a dict")):
        with pytest.raises(CheckFailed, match=words):
            accuracy.validate_hyperparams(hp, spec)
    capped, note = accuracy.cap_iters({"num_iters": 50_000}, 3000)
    assert capped["num_iters"] == 3000 and "capped" in note
    assert accuracy.cap_iters({"num_iters": 10}, 3000) == ({"num_iters": 10}, "")


# -- calibration (grader/calibration.py, the staff tool the accuracy band is read from) -------
def test_calibration_record():
    rec = calibration.record([0.9, 0.94], np.array([0, 0, 0, 1]), seeds=[0, 1])
    assert rec["min"] == 0.9 and rec["mean"] == 0.92 and rec["majority"] == 0.75
    assert json.loads(json.dumps(rec))["seeds"] == [0, 1]


@pytest.mark.parametrize("name", NAMES)
def test_every_suite_gives_calibration_its_run_facts_and_labels(name):
    hooks = calibration.hooks(name)
    assert callable(hooks.run) and callable(hooks.facts)
    labels = hooks.labels()
    assert labels.ndim == 1 and labels.dtype.kind in "iu" and labels.size > 0


# -- speed -------------------------------------------------------------------------------------
def test_speedup_is_the_ratio_of_best_times():
    import time
    w = FakeWorker({"m.slow": lambda: time.sleep(0.02) or "slow",
                    "m.fast": lambda: "fast"})
    ratio, t_fast, t_slow, out = speed.speedup(w, "m.fast", "m.slow", (), repeats=2)
    assert out == "fast" and t_slow >= 0.02 and ratio > 10 and w.calls == 4
    speed.check_speedup(ratio, 3.0, "f")
    with pytest.raises(CheckFailed, match=r"only 2.0x faster.*at least 3x"):
        speed.check_speedup(2.0, 3.0, "f", t_fast=0.001, t_slow=0.002)



def _rounds(times):
    """one_round callables replaying (student, yardstick) times; the count of rounds run."""
    it, ran = iter(times), []
    return (lambda: ran.append(1) or next(it)), ran


@pytest.mark.parametrize("times, within, best, rounds", [
    ([(3.0, 1.0), (1.5, 1.0)], 2.0, (1.5, 1.0), 2),             # one unlucky round: re-measured
    ([(1.0, 1.0), (9.0, 1.0)], 2.0, (1.0, 1.0), 1),             # within at once: no more rounds
    ([(3.0, 1.0), (2.5, 1.0), (2.2, 1.0), (1.0, 1.0)], 2.0, (2.2, 1.0), 3),   # at most ROUNDS
    ([(9.0, 1.0), (1.0, 1.0)], 2.0, (9.0, 1.0), 1),             # hopeless (loops): stop
    ([(3.0, 1.0), (1.0, 1.0)], None, (3.0, 1.0), 1),            # no limit given: one round
])
def test_speed_rounds_remeasure_only_a_failing_timing(times, within, best, rounds):
    one_round, ran = _rounds(times)
    assert speed.in_rounds(one_round, within) == best and len(ran) == rounds


def test_fresh_against_yardstick_remeasures_a_slow_round_with_fresh_checked_inputs():
    import time
    calls, checked = [0], []

    def student(x):             # 4x the yardstick in the first round (load), then fast
        calls[0] += 1
        if calls[0] <= 1 + 3:
            time.sleep(0.04)
        return x

    def yardstick(x):
        time.sleep(0.01)
        return x
    timing = speed.fresh_against_yardstick(lambda: object(), student, yardstick,
                                           lambda x, out, exp: checked.append(out is exp),
                                           repeats=3, within=2.0)
    assert timing.ratio < 1 and calls[0] == 1 + 3 + 3 and all(checked) and len(checked) == 7
    # really slow (beyond HOPELESS x the limit): one round, and it fails
    calls[0] = 0
    slow = speed.fresh_against_yardstick(lambda: 0, lambda x: calls.__setitem__(0, calls[0] + 1)
                                         or time.sleep(0.05), lambda x: x, lambda *a: None,
                                         repeats=2, within=2.0)
    assert calls[0] == 1 + 2
    with pytest.raises(CheckFailed, match="at most 2x"):
        speed.check_ratio(slow, 2.0, "f")


# -- writeup ---------------------------------------------------------------------------------
REPORT = """# Report

## 1. Loss function
Mean cross-entropy plus reg * (sum W1^2 + sum W2^2).

## Hidden layer size
I use **64** hidden units (I also tried 32).

## Batch size and learning-rate strategy
Batch size: 32. Learning rate 5 x 10^-1, multiplied by 0.99 every epoch; 5,000 iterations.

## Final accuracy
| split | train | test |
|-------|-------|------|
| acc   | 0.97  | 0.93 |

Train accuracy 97.0%, test accuracy 93%.

## Notes
<!-- TODO: optional -->
"""


def test_report_sections_present_and_empty():
    found = writeup.check_sections(REPORT, ["Loss function", "Hidden layer size"])
    assert "cross-entropy" in found["Loss function"]
    with pytest.raises(CheckFailed, match=r"missing section\(s\): 'Training curve'.*empty "
                                          r"section\(s\): 'Notes'"):
        writeup.check_sections(REPORT, ["Training curve", "Notes", "Final accuracy"])
    with pytest.raises(CheckFailed, match="not submitted"):
        writeup.check_sections(None, ["Loss function"])
    assert writeup.is_empty("  <!-- write here -->\nTODO\n") and not writeup.is_empty("64")


def test_report_number_parsing():
    assert writeup._numbers("5e-1, 5 x 10^-1, 5×10^{-1}, 1,000 and .25") == \
        pytest.approx([0.5, 0.5, 0.5, 1000, 0.25])
    assert writeup._numbers("93% or 0.93 or 93.0", fractions=True) == \
        pytest.approx([0.93, 0.93, 0.93])
    assert writeup._numbers("W1 and b2") == []


def test_report_stated_values():
    writeup.check_stated_value(REPORT, "Hidden layer size", ["hidden"], 64, "hidden size")
    writeup.check_stated_value(REPORT, "Batch size and learning-rate strategy", ["batch"], 32,
                                 "batch size")
    writeup.check_stated_value(REPORT, "Batch size and learning-rate strategy",
                                 ["learning rate", "lr"], 0.5, "learning rate")
    with pytest.raises(CheckFailed, match="has 0.1"):
        writeup.check_stated_value(REPORT, "Batch size and learning-rate strategy",
                                     ["learning rate"], 0.1, "learning rate")
    with pytest.raises(CheckFailed, match="has 16"):
        writeup.check_stated_value(REPORT, "Batch size and learning-rate strategy", ["batch"],
                                     16, "batch size")


def test_report_test_accuracy():
    assert sorted(writeup.stated_test_accuracy(writeup.find_section(REPORT, "Final"))) == \
        pytest.approx([0.93, 0.93])            # the sentence and the table's test column
    assert writeup.check_test_accuracy(REPORT, "Final accuracy", 0.95, 0.03) == 0.93
    with pytest.raises(CheckFailed, match="93.0%, which is more than 3 percentage points") as exc:
        writeup.check_test_accuracy(REPORT, "Final accuracy", 0.80, 0.03)
    assert "80" not in str(exc.value)          # the measured test accuracy is never shown
    with pytest.raises(CheckFailed, match="could not be measured"):
        writeup.check_test_accuracy(REPORT, "Final accuracy", None, 0.03)
    with pytest.raises(CheckFailed, match="'Test accuracy:' line is not filled in"):
        writeup.check_test_accuracy(TEMPLATE, "Final accuracy", None, 0.03)
    with pytest.raises(CheckFailed, match="no test accuracy"):
        writeup.check_test_accuracy("## Final accuracy\nvery good\n", "Final accuracy",
                                      0.9, 0.03)


TEMPLATE = """## Hidden layer size
Hidden layer size: <fill in>

Why this size? What else did you try?

## Final accuracy
Test accuracy: <fill in>
"""


def test_report_unchanged_template_counts_as_empty():
    with pytest.raises(CheckFailed, match="empty section.*'Hidden layer size', 'Final accuracy'"):
        writeup.check_sections(TEMPLATE, ["Hidden layer size", "Final accuracy"], TEMPLATE)
    answered = TEMPLATE.replace("Hidden layer size: <fill in>", "Hidden layer size: 64") \
        .replace("Test accuracy: <fill in>", "Test accuracy: 0.9")
    assert writeup.check_sections(answered, ["Hidden layer size", "Final accuracy"], TEMPLATE)


def test_report_labelled_lines_win_over_prose():
    body = "Hidden layer size: 64\nI tried 16, 32 and 128 hidden units too.\n"
    assert writeup.labelled_numbers(body, "Hidden layer size") == [64]
    assert writeup.labelled_numbers("- **Test accuracy**: 94%", "Test accuracy",
                                      fractions=True) == pytest.approx([0.94])
    assert writeup.labelled_numbers("no such line", "Batch size") is None
    with pytest.raises(CheckFailed, match=r"you state \(64"):
        writeup.check_stated_value("## Hidden layer size\n" + body, "Hidden layer size",
                                     ["hidden"], 32, "Hidden layer size")
    text = "## Final accuracy\nTest accuracy: 0.94\nOver seeds the test accuracy was 0.80.\n"
    assert writeup.check_test_accuracy(text, "Final accuracy", 0.95, 0.03) == 0.94
    with pytest.raises(CheckFailed):
        writeup.check_test_accuracy(text, "Final accuracy", 0.81, 0.03)


def test_report_sections_must_keep_the_template_order():
    swapped = "## Final accuracy\nTest accuracy: 0.9\n\n## Hidden layer size\n64 units\n"
    with pytest.raises(CheckFailed, match="order"):
        writeup.check_sections(swapped, ["Hidden layer size", "Final accuracy"])
    writeup.check_sections(swapped, ["Final accuracy", "Hidden layer size"])
