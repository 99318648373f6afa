"""The softmax suite (SPEC §3): loss + gradient (naive and vectorized), sanity, speed, training.

Numbering: 1.x softmax_loss_naive, 2.x softmax_loss_vectorized (and checks shared with the
naive one), 3.x the Softmax class. Weights total 100. Inputs other than fixtures are drawn on
the trusted side from fixed seeds; training data is the `digits` dataset (the worker never
receives y_test).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from grader.checks import accuracy, gradcheck, sanity, speed
from grader.checks.compare import as_scalar, assert_close, unpack
from grader.framework import CheckFailed, Context, number, tags, visibility, weight
from grader.sandbox import req_call
from grader.suites.softmax.fixtures import inputs

MODULE = "softmax"
NAIVE, VEC = "softmax_loss_naive", "softmax_loss_vectorized"
LOSS_HINT = "the loss is the mean over the batch of -log softmax(scores)[correct class], " \
            "plus reg * sum(W * W)."
GRAD_HINT = "dW = X.T @ (probs - onehot(y)) / N + 2 * reg * W."


# -- helpers ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def digits() -> dict[str, np.ndarray]:
    """The digits splits with the bias column appended (trusted side)."""
    import hwdata
    data = dict(hwdata.load("digits"))
    for split in ("train", "val", "test"):
        data[f"X_{split}"] = hwdata.add_bias_column(data[f"X_{split}"])
    return data


def loss_and_grad(ctx: Context, func: str, W: np.ndarray, X: np.ndarray, y: np.ndarray,
                  reg: float) -> tuple[Any, Any]:
    """Call the student's loss function; (loss, dW) as returned (not yet coerced)."""
    return unpack(ctx.call(f"{MODULE}.{func}", W, X, y, float(reg)), 2, f"{func} return value")


def check_fixtures(ctx: Context, func: str, set_name: str) -> None:
    reveal = set_name == "visible"
    for case in ("loss_a", "loss_b"):
        f = ctx.fixture(case, set_name)
        loss, dW = loss_and_grad(ctx, func, f["W"], f["X"], f["y"], float(f["reg"]))
        label = f"{func} (case {case}" + (f", reg={float(f['reg']):g}" if reveal else "") + ")"
        assert_close(loss, f["loss"], f"{label}: loss", reveal=reveal, hint=LOSS_HINT)
        assert_close(dW, f["dW"], f"{label}: dW", reveal=reveal, hint=GRAD_HINT)


def check_gradient(ctx: Context, func: str) -> None:
    """Student's dW vs centred differences of the student's own loss, reg > 0."""
    rng = np.random.default_rng(ctx.settings["gradcheck_seed"])
    W, X, y = inputs(rng, 20, 65, 10, 0.1)
    reg = 0.5
    target = f"{MODULE}.{func}"
    _, dW = loss_and_grad(ctx, func, W, X, y, reg)
    gradcheck.gradcheck(
        ctx.worker, lambda w: [req_call(target, (w, X, y, reg))], W, dW,
        lambda out: as_scalar(unpack(out, 2, f"{func} return value")[0], f"{func}: loss"),
        f"{func}: dW (reg={reg:g})", rng=rng, hint=GRAD_HINT)


def check_stable(ctx: Context, func: str) -> None:
    f = ctx.fixture("stable", "visible")
    loss, dW = loss_and_grad(ctx, func, f["W"], f["X"], f["y"], float(f["reg"]))
    what = f"{func} with scores of about 1e4"
    sanity.finite_scalar(loss, f"{what}: loss", sanity.STABILITY_HINT)
    assert_close(loss, f["loss"], f"{what}: loss", hint=sanity.STABLE_MISMATCH_HINT)
    assert_close(dW, f["dW"], f"{what}: dW", hint=sanity.STABLE_MISMATCH_HINT)


HP_SPEC = {"learning_rate": ("float", 1e-8, 1e3), "reg": ("float", 0.0, 1e3),
           "num_iters": ("int", 1, 10**7), "batch_size": ("int", 1, 100_000)}


def train_and_score(ctx: Context, hyperparams: dict[str, Any], seed: int) -> float:
    """Train a fresh Softmax on the digits training split with `hyperparams` (validated and
    capped here), predict the test inputs in the worker, score them here. Shared with
    `calibrate.py`, so the reference is calibrated through exactly this code path."""
    hp = accuracy.validate_hyperparams(hyperparams, HP_SPEC)
    hp, capped = accuracy.cap_iters(hp, ctx.settings["max_iters"])
    if capped:
        ctx.note(capped)
    data = accuracy.worker_data(digits(), ("X_train", "y_train", "X_test"))
    model = ctx.new(f"{MODULE}.Softmax")
    history = ctx.method(model, "train", data["X_train"], data["y_train"], **hp, seed=seed,
                         timeout=ctx.assignment.limits.train_seconds)
    sanity.loss_decreases(history, "Softmax.train: loss history")
    pred = ctx.method(model, "predict", data["X_test"])
    return accuracy.accuracy(pred, digits()["y_test"], ctx.settings["num_classes"],
                             "Softmax.predict on the test inputs")


def small_train(ctx: Context, seed: int, num_iters: int = 60) -> tuple[Any, Any]:
    """A Softmax trained briefly on 300 training digits: (model handle, loss history)."""
    d = digits()
    model = ctx.new(f"{MODULE}.Softmax")
    history = ctx.method(model, "train", d["X_train"][:300], d["y_train"][:300],
                         learning_rate=0.5, reg=1e-4, num_iters=num_iters, batch_size=50,
                         seed=seed)
    return model, history


# -- 1. softmax_loss_naive -------------------------------------------------------------------
@weight(9)
@number("1.1")
@visibility("visible")
@tags(NAIVE)
def test_naive_fixtures(ctx: Context) -> None:
    """softmax_loss_naive: loss and gradient match the reference"""
    check_fixtures(ctx, NAIVE, "visible")


@weight(4)
@number("1.2")
@visibility("hidden")
@tags(NAIVE)
def test_naive_fixtures_hidden(ctx: Context) -> None:
    """softmax_loss_naive: loss and gradient match the reference (hidden inputs)"""
    check_fixtures(ctx, NAIVE, "hidden")


@weight(7)
@number("1.3")
@visibility("visible")
@tags(NAIVE)
def test_naive_gradcheck(ctx: Context) -> None:
    """softmax_loss_naive: dW matches the numeric gradient of your loss (reg > 0)"""
    check_gradient(ctx, NAIVE)


@weight(3)
@number("1.4")
@visibility("visible")
@tags(NAIVE)
def test_naive_stable(ctx: Context) -> None:
    """softmax_loss_naive: numerically stable for large scores"""
    check_stable(ctx, NAIVE)


# -- 2. softmax_loss_vectorized --------------------------------------------------------------
@weight(9)
@number("2.1")
@visibility("visible")
@tags(VEC)
def test_vec_fixtures(ctx: Context) -> None:
    """softmax_loss_vectorized: loss and gradient match the reference"""
    check_fixtures(ctx, VEC, "visible")


@weight(4)
@number("2.2")
@visibility("hidden")
@tags(VEC)
def test_vec_fixtures_hidden(ctx: Context) -> None:
    """softmax_loss_vectorized: loss and gradient match the reference (hidden inputs)"""
    check_fixtures(ctx, VEC, "hidden")


@weight(7)
@number("2.3")
@visibility("visible")
@tags(VEC)
def test_vec_gradcheck(ctx: Context) -> None:
    """softmax_loss_vectorized: dW matches the numeric gradient of your loss (reg > 0)"""
    check_gradient(ctx, VEC)


@weight(3)
@number("2.4")
@visibility("visible")
@tags(VEC)
def test_vec_stable(ctx: Context) -> None:
    """softmax_loss_vectorized: numerically stable for large scores"""
    check_stable(ctx, VEC)


@weight(5)
@number("2.5")
@visibility("visible")
@tags(NAIVE, VEC)
def test_naive_equals_vec(ctx: Context) -> None:
    """softmax_loss_vectorized and softmax_loss_naive agree on random inputs"""
    rng = np.random.default_rng(ctx.settings["gradcheck_seed"] + 1)
    W, X, y = inputs(rng, 50, 65, 10, 0.2)
    reg = 0.05
    loss_n, dW_n = loss_and_grad(ctx, NAIVE, W, X, y, reg)
    loss_n = sanity.finite_scalar(loss_n, f"{NAIVE}: loss")
    loss_v, dW_v = loss_and_grad(ctx, VEC, W, X, y, reg)
    hint = "both must compute the same function; check each against the reference tests."
    assert_close(loss_v, loss_n, f"{VEC} vs {NAIVE}: loss", rtol=1e-8, hint=hint)
    assert_close(dW_v, sanity.finite_array(dW_n, f"{NAIVE}: dW", W.shape),
                 f"{VEC} vs {NAIVE}: dW", rtol=1e-7, atol=1e-10, hint=hint)


@weight(4)
@number("2.6")
@visibility("visible")
@tags(NAIVE, VEC)
def test_chance_loss(ctx: Context) -> None:
    """Loss is about ln 10 with small random weights (naive and vectorized)"""
    rng = np.random.default_rng(ctx.settings["gradcheck_seed"] + 2)
    d = digits()
    idx = rng.choice(len(d["y_train"]), 200, replace=False)
    X, y = d["X_train"][idx], d["y_train"][idx]
    W = 1e-4 * rng.standard_normal((X.shape[1], ctx.settings["num_classes"]))
    for func in (NAIVE, VEC):
        loss, _ = loss_and_grad(ctx, func, W, X, y, 0.0)
        sanity.chance_loss(loss, ctx.settings["num_classes"], f"{func}: loss at chance")


@weight(4)
@number("2.7")
@visibility("visible")
@tags(NAIVE, VEC)
def test_reg_raises_loss(ctx: Context) -> None:
    """Regularization adds reg * sum(W**2) to the loss (naive and vectorized)"""
    rng = np.random.default_rng(ctx.settings["gradcheck_seed"] + 3)
    W, X, y = inputs(rng, 30, 65, 10, 0.3)
    reg = 0.2
    for func in (NAIVE, VEC):
        loss0, _ = loss_and_grad(ctx, func, W, X, y, 0.0)
        loss1, _ = loss_and_grad(ctx, func, W, X, y, reg)
        sanity.reg_raises_loss(loss0, loss1, f"{func}: loss",
                               expected_increase=reg * float(np.sum(W * W)))


@weight(6)
@number("2.8")
@visibility("visible")
@tags(VEC, NAIVE)
def test_vec_speedup(ctx: Context) -> None:
    """softmax_loss_vectorized: faster than softmax_loss_naive"""
    rng = np.random.default_rng(ctx.settings["gradcheck_seed"] + 4)
    W, X, y = inputs(rng, ctx.settings["speed_n"], 65, 10, 0.1)
    args = (W, X, y, 1e-3)
    ratio, t_fast, t_slow, out = speed.speedup(ctx.worker, f"{MODULE}.{VEC}",
                                               f"{MODULE}.{NAIVE}", args)
    loss, _ = unpack(out, 2, f"{VEC} return value")
    sanity.finite_scalar(loss, f"{VEC}: loss")
    speed.check_speedup(ratio, ctx.settings["speedup_min"], VEC, t_fast=t_fast,
                        t_slow=t_slow, slow_name=NAIVE)
    ctx.note(f"{VEC} is {ratio:.0f}x faster than {NAIVE} on N={len(y)}.")


# -- 3. the Softmax class --------------------------------------------------------------------
@weight(7)
@number("3.1")
@visibility("visible")
@tags("Softmax.train")
def test_train_loss_decreases(ctx: Context) -> None:
    """Softmax.train: returns one loss per iteration, and the loss decreases"""
    _, history = small_train(ctx, seed=0, num_iters=60)
    h = sanity.loss_decreases(history, "Softmax.train: loss history")
    if h.size != 60:
        raise CheckFailed(f"Softmax.train: expected a loss history of num_iters = 60 entries, "
                          f"got {h.size}.")
    if not h[-10:].mean() < 0.8 * math.log(10):
        raise CheckFailed(f"Softmax.train: after 60 steps of learning_rate 0.5 the loss should "
                          f"be well below ln 10 = 2.30; got {h[-10:].mean():.3f} on average "
                          "over the last 10. Hint: W -= learning_rate * dW every iteration.")


@weight(5)
@number("3.2")
@visibility("visible")
@tags("Softmax.predict", "Softmax.train")
def test_predict(ctx: Context) -> None:
    """Softmax.predict: (N,) integer labels, the highest-scoring class"""
    model, _ = small_train(ctx, seed=1, num_iters=5)
    X = digits()["X_val"]
    pred = ctx.method(model, "predict", X)
    labels = sanity.labels(pred, len(X), ctx.settings["num_classes"], "Softmax.predict")
    W = sanity.finite_array(ctx.worker.get_attr(model, "W"), "Softmax.W",
                            (X.shape[1], ctx.settings["num_classes"]))
    scores = X @ W
    expected = np.argmax(scores, axis=1)
    ties = np.sort(scores, axis=1)[:, -1] - np.sort(scores, axis=1)[:, -2] < 1e-12
    wrong = np.flatnonzero((labels != expected) & ~ties)
    if wrong.size:
        i = int(wrong[0])
        raise CheckFailed(f"Softmax.predict: {wrong.size} of {len(X)} labels are not the "
                          f"highest-scoring class of X @ self.W (first at row {i}: expected "
                          f"{expected[i]}, got {labels[i]}). Hint: np.argmax(X @ self.W, axis=1).")


@weight(5)
@number("3.3")
@visibility("visible")
@tags("Softmax.train", "Softmax.predict")
def test_seeded_determinism(ctx: Context) -> None:
    """Softmax.train: the same seed gives the same run"""
    m1, h1 = small_train(ctx, seed=7, num_iters=20)
    m2, h2 = small_train(ctx, seed=7, num_iters=20)
    sanity.same_result(h1, h2, "Softmax.train: loss history")
    X = digits()["X_val"]
    sanity.same_result(ctx.method(m1, "predict", X), ctx.method(m2, "predict", X),
                       "Softmax.predict after training")


@weight(18)
@number("3.4")
@visibility("visible")
@tags("Softmax.train", "Softmax.predict")
def test_accuracy(ctx: Context) -> None:
    """Softmax: test accuracy when trained with your HYPERPARAMS"""
    hp = ctx.constant(MODULE, "HYPERPARAMS")
    acc = train_and_score(ctx, hp, ctx.settings["train_seed"])
    accuracy.grade_accuracy(ctx, acc, test_accuracy.__weight__, "Softmax")
