"""The softmax suite: loss + gradient (naive and vectorized), sanity, speed, training.

Numbering: 1.x softmax_loss_naive, 2.x softmax_loss_vectorized (and checks shared with the
naive one), 3.x the Softmax class; 1.1-1.4 and 2.1-2.4 are one table (`TESTS`), the same four
tests per loss function. Weights total 100. Inputs other than expected values are drawn on the
trusted side from the seeds of the declaration, which holds every number the tests grade with
(`ctx.settings`); training data is the `digits` dataset.

Points follow correct code (docs/staff/grading-policy.md). The hidden tests (1.2, 2.2) run
first and record, per loss function, whether its loss (`forward`), its loss and dW (`full`)
and its large-score case (`stable`) are right on hidden inputs; the visible tests whose
values are shipped, and the consistency checks, pay out only when those verdicts are true.
Everything about the Softmax class is judged from the weights it trained, read out of the
worker, with the grader's own forward (`trusted.py`): held-out accuracy, "the loss fell",
determinism; and those points also need the vectorized loss (which Softmax.loss trains with)
to be right on hidden inputs. The speed test draws fresh inputs for every timed call and
checks every answer. `predict` is checked on weights the grader sets. The worker never
receives the test split.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from grader.checks import accuracy, gradcheck, sanity, speed, verdicts
from grader.checks.compare import as_scalar, assert_close, unpack
from grader.framework import CheckFailed, Context, TestSpec, row, test
from grader.sandbox import Handle, StudentError, req_call
from grader.suites.softmax import trusted
from grader.suites.softmax.declaration import Draw
from grader.suites.softmax.expected_values import inputs

MODULE = "softmax"
NAIVE, VEC = "softmax_loss_naive", "softmax_loss_vectorized"
LOSS_HINT = "the loss is the mean over the batch of -log softmax(scores)[correct class], " \
            "plus reg * sum(W * W)."
GRAD_HINT = ("each example adds its probabilities minus the one-hot of its label, times "
             "its input, to dW; check that the sum is averaged over the batch exactly once "
             "and that the regularization term is the derivative of reg * sum(W * W).")
KINDS = {"forward": "its loss", "full": "its loss or dW", "stable": "its large-score case"}
CASES = ("loss_a", "loss_b")     # the ordinary expected-value cases (expected_values.py)
CONSISTENCY = ("a consistency check earns points only for a loss that is itself right.")
TRAINED = ("training counts only when the loss and gradient that Softmax.loss uses "
           f"({VEC}) are right: weights fitted some other way earn nothing here.")
REPLAY = ("the expected values of these inputs are shipped with the assignment, so the "
          "points require the function to be right on inputs you never saw.")


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


def key(kind: str, func: str) -> str:
    return verdicts.key(MODULE, kind, func)


def require(ctx: Context, what: str, why: str, funcs: tuple[str, ...],
            kinds: tuple[str, ...] = ("forward",)) -> None:
    """Zero points unless each of `funcs` was right on hidden inputs (see module doc)."""
    verdicts.require(ctx, {key(k, f): f"{f} ({KINDS[k]})" for f in funcs for k in kinds},
                            what, why)


def draw(ctx: Context, d: Draw, classes: int | None = None
         ) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    """A test's random inputs from its declared `Draw`: (generator, W, X, y)."""
    rng = np.random.default_rng(d.seed)
    return (rng, *inputs(rng, d.n, ctx.settings["input_dim"],
                         classes or ctx.settings["num_classes"], d.std))


def check_expected(ctx: Context, func: str) -> None:
    """The visible cases: expected vs got (teaching); points need the hidden verdict."""
    for case in CASES:
        f = ctx.expected(case, "visible")
        loss, dW = loss_and_grad(ctx, func, f["W"], f["X"], f["y"], float(f["reg"]))
        label = f"{func} (case {case}, reg={float(f['reg']):g})"
        assert_close(loss, f["loss"], f"{label}: loss", hint=LOSS_HINT)
        assert_close(dW, f["dW"], f"{label}: dW", hint=GRAD_HINT)
    require(ctx, func, REPLAY, (func,), ("full",))


def stable_ok(ctx: Context, func: str, f: dict[str, np.ndarray]) -> bool:
    """Whether `func` is right on one large-score case (no message: a verdict only)."""
    try:
        loss, dW = loss_and_grad(ctx, func, f["W"], f["X"], f["y"], float(f["reg"]))
        assert_close(loss, f["loss"], "loss", reveal=False)
        assert_close(dW, f["dW"], "dW", reveal=False)
    except (CheckFailed, StudentError):
        return False
    return True


def check_hidden(ctx: Context, func: str) -> None:
    """The hidden cases: records the forward / full / stable verdicts, then grades loss and
    dW (values never shown). Verdicts start False, so a crash counts as wrong."""
    for kind in KINDS:
        verdicts.record(ctx, key(kind, func), False)
    verdicts.record(ctx, key("stable", func), stable_ok(ctx, func,
                                                              ctx.expected("stable", "hidden")))
    outs = {}
    for case in CASES:
        f = ctx.expected(case, "hidden")
        outs[case] = loss_and_grad(ctx, func, f["W"], f["X"], f["y"], float(f["reg"]))
    for case, (loss, _) in outs.items():
        assert_close(loss, ctx.expected(case, "hidden")["loss"], f"{func} (case {case}): loss",
                     reveal=False, hint=LOSS_HINT)
    verdicts.record(ctx, key("forward", func), True)
    for case, (_, dW) in outs.items():
        assert_close(dW, ctx.expected(case, "hidden")["dW"], f"{func} (case {case}): dW",
                     reveal=False, hint=GRAD_HINT)
    verdicts.record(ctx, key("full", func), True)


def check_gradient(ctx: Context, func: str) -> None:
    """Student's dW vs centred differences of the student's own loss, reg > 0."""
    d = ctx.settings["gradcheck"]
    rng, W, X, y = draw(ctx, d)
    reg = d.reg
    target = f"{MODULE}.{func}"
    _, dW = loss_and_grad(ctx, func, W, X, y, reg)
    gradcheck.gradcheck(
        ctx.worker, lambda w: [req_call(target, (w, X, y, reg))], W, dW,
        lambda out: as_scalar(unpack(out, 2, f"{func} return value")[0], f"{func}: loss"),
        f"{func}: dW (reg={reg:g})", rng=rng, hint=GRAD_HINT)
    require(ctx, f"{func}: dW is consistent with the numeric gradient of your own loss",
            CONSISTENCY, (func,))


def check_stable(ctx: Context, func: str) -> None:
    f = ctx.expected("stable", "visible")
    loss, dW = loss_and_grad(ctx, func, f["W"], f["X"], f["y"], float(f["reg"]))
    what = f"{func} with every score near 1e4"
    sanity.finite_scalar(loss, f"{what}: loss", sanity.STABILITY_HINT)
    assert_close(loss, f["loss"], f"{what}: loss", hint=sanity.STABLE_MISMATCH_HINT)
    assert_close(dW, f["dW"], f"{what}: dW", hint=sanity.STABLE_MISMATCH_HINT)
    require(ctx, what, REPLAY, (func,), ("forward", "stable"))


def trained_weights(ctx: Context, model: Handle, what: str = "Softmax.W") -> np.ndarray:
    """The model's W read out of the worker: a finite (65, num_classes) array, else
    CheckFailed (a train() that keeps no weights has trained no model)."""
    shape = (digits()["X_train"].shape[1], ctx.settings["num_classes"])
    return sanity.finite_array(ctx.worker.get_attr(model, "W"), f"{what} after train()", shape,
                               hint="train() must leave the trained weights in self.W.")


def train_and_score(ctx: Context, hyperparams: dict[str, Any], seed: int
                    ) -> accuracy.Measured:
    """Train a fresh Softmax on the digits training split with `hyperparams` (validated and
    capped here), read its W out of the worker and score the test split (the grade) and the
    validation split (what the student sees) HERE with the grader's own forward. The
    accuracy test and calibration (`calibration_run`) both train through it, so the
    reference is calibrated through exactly this code path."""
    hp = accuracy.validate_hyperparams(hyperparams, ctx.settings["hyperparams"])
    hp, capped = accuracy.cap_iters(hp, ctx.settings["max_iters"])
    if capped:
        ctx.note(capped)
    data = accuracy.worker_data(digits(), ("X_train", "y_train"))
    model = ctx.new(f"{MODULE}.Softmax")
    history = ctx.method(model, "train", data["X_train"], data["y_train"], **hp, seed=seed,
                         timeout=ctx.assignment.limits.train_seconds)
    sanity.loss_decreases(history, "Softmax.train: loss history")
    W = trained_weights(ctx, model)
    measured = accuracy.measure(digits(), lambda X, y: float(np.mean(trusted.predict(W, X) == y)))
    if measured.split != "test":
        ctx.note(accuracy.SELF_CHECK_NOTE)
    return measured


def small_train(ctx: Context, seed: int, num_iters: int) -> tuple[Any, Any]:
    """A Softmax trained briefly on the first `small_train.n` training digits:
    (model handle, loss history)."""
    st, d = ctx.settings["small_train"], digits()
    model = ctx.new(f"{MODULE}.Softmax")
    history = ctx.method(model, "train", d["X_train"][:st.n], d["y_train"][:st.n],
                         learning_rate=st.learning_rate, reg=st.reg,
                         num_iters=num_iters, batch_size=st.batch_size, seed=seed)
    return model, history


def require_training_loss(ctx: Context, what: str) -> None:
    """Zero points unless the loss and gradient the training uses were right on hidden
    inputs (a closed-form or model-free `train` passes the checks of its weights)."""
    require(ctx, what, TRAINED, (VEC,), ("full",))


def learned(ctx: Context, W: np.ndarray, what: str) -> float:
    """The grader's loss of trained weights on the small training set; CheckFailed unless
    it is well below chance (the weights really learned)."""
    st, d = ctx.settings["small_train"], digits()
    value = trusted.loss(W, d["X_train"][:st.n], d["y_train"][:st.n], st.reg)
    limit = st.learned_fraction * math.log(ctx.settings["num_classes"])
    if not value < limit:
        raise CheckFailed(f"{what}: the weights left in self.W have a loss of {value:.3f} on "
                          f"the training data, not below {limit:.2f}: they did not learn. "
                          "Hint: every iteration must update self.W against the gradient of "
                          "the minibatch loss.")
    return value


# -- 1. softmax_loss_naive, 2. softmax_loss_vectorized: the same four tests each ------------
def loss_function_tests(section: str, func: str) -> list[TestSpec]:
    """Tests <section>.1-4 of one loss function: expected values, hidden inputs, numeric
    gradient, large scores."""
    body = lambda check: functools.partial(check, func=func)
    return [
        row(body(check_expected), f"{section}.1", 9, func,
            name=f"{func}: loss and gradient match the reference"),
        row(body(check_hidden), f"{section}.2", 4, func, visibility="hidden",
            name=f"{func}: loss and gradient match the reference (hidden inputs)"),
        row(body(check_gradient), f"{section}.3", 7, func,
            name=f"{func}: dW matches the numeric gradient of your loss (reg > 0)"),
        row(body(check_stable), f"{section}.4", 3, func,
            name=f"{func}: numerically stable for large scores"),
    ]


TESTS = loss_function_tests("1", NAIVE) + loss_function_tests("2", VEC)


@test("2.5", 5, NAIVE, VEC)
def test_naive_equals_vec(ctx: Context) -> None:
    """softmax_loss_vectorized and softmax_loss_naive agree on random inputs"""
    _, W, X, y = draw(ctx, ctx.settings["agreement"])
    reg = ctx.settings["agreement"].reg
    tol = ctx.settings["agreement_tolerance"]
    loss_n, dW_n = loss_and_grad(ctx, NAIVE, W, X, y, reg)
    loss_n = sanity.finite_scalar(loss_n, f"{NAIVE}: loss")
    loss_v, dW_v = loss_and_grad(ctx, VEC, W, X, y, reg)
    hint = "both must compute the same function; check each against the reference tests."
    assert_close(loss_v, loss_n, f"{VEC} vs {NAIVE}: loss", rtol=tol["loss"].rtol,
                 atol=tol["loss"].atol, hint=hint)
    assert_close(dW_v, sanity.finite_array(dW_n, f"{NAIVE}: dW", W.shape),
                 f"{VEC} vs {NAIVE}: dW", rtol=tol["dW"].rtol, atol=tol["dW"].atol, hint=hint)
    require(ctx, f"{VEC} and {NAIVE} agree", CONSISTENCY, (NAIVE, VEC), ("full",))


@test("2.6", 4, NAIVE, VEC)
def test_chance_loss(ctx: Context) -> None:
    """Loss is about ln 10 with small random weights (naive and vectorized)"""
    c, classes = ctx.settings["chance"], ctx.settings["num_classes"]
    rng = np.random.default_rng(c.seed)
    d = digits()
    idx = rng.choice(len(d["y_train"]), c.n, replace=False)
    X, y = d["X_train"][idx], d["y_train"][idx]
    W = c.std * rng.standard_normal((X.shape[1], classes))
    for func in (NAIVE, VEC):
        loss, _ = loss_and_grad(ctx, func, W, X, y, c.reg)
        sanity.chance_loss(loss, classes, f"{func}: loss at chance")
    require(ctx, "the loss at chance", CONSISTENCY, (NAIVE, VEC))


@test("2.7", 4, NAIVE, VEC)
def test_reg_raises_loss(ctx: Context) -> None:
    """Regularization adds reg * sum(W**2) to the loss (naive and vectorized)"""
    _, W, X, y = draw(ctx, ctx.settings["reg_check"])
    reg = ctx.settings["reg_check"].reg
    for func in (NAIVE, VEC):
        loss0, _ = loss_and_grad(ctx, func, W, X, y, 0.0)
        loss1, _ = loss_and_grad(ctx, func, W, X, y, reg)
        sanity.reg_raises_loss(loss0, loss1, f"{func}: loss",
                               expected_increase=reg * float(np.sum(W * W)))
    require(ctx, "the regularization term", CONSISTENCY, (NAIVE, VEC))


def speed_check(rng: np.random.Generator, W: np.ndarray, X: np.ndarray,
                y: np.ndarray, reg: float, out: Any, expected: float) -> None:
    """One timed answer against the trusted loss: loss value, and dW along a random
    direction (no trusted gradient needed)."""
    loss, dW = unpack(out, 2, f"{VEC} return value")
    what = f"{VEC} on the speed test's input (N={len(y)})"
    assert_close(loss, expected, f"{what}: loss", reveal=False, hint=LOSS_HINT)
    sanity.gradient_along({"W": dW}, {"W": W}, lambda p: trusted.loss(p["W"], X, y, reg), rng,
                          f"{what}: dW", hint=GRAD_HINT)


@test("2.8", 6, VEC)
def test_vec_speed(ctx: Context) -> None:
    """softmax_loss_vectorized: as fast as whole-array numpy code"""
    s = ctx.settings["speed"]
    rng = np.random.default_rng()       # OS entropy: inputs nobody can know in advance
    low, high = s.n
    n, reg = int(rng.integers(low, high + 1)), s.reg
    fresh = lambda: inputs(rng, n, ctx.settings["input_dim"], s.classes, s.std)
    timing = speed.fresh_against_yardstick(
        fresh, lambda a: ctx.call(f"{MODULE}.{VEC}", *a, reg),
        lambda a: trusted.loss(*a, reg),
        lambda a, out, expected: speed_check(rng, *a, reg, out, expected),
        repeats=s.repeats, give_up=speed.GIVE_UP * s.max_ratio, within=s.max_ratio)
    speed.check_ratio(timing, s.max_ratio, VEC)
    ctx.note(f"{VEC} took {timing.ratio:.1f}x the time of the grader's own computation on "
             f"N={n} (at most {s.max_ratio:g}x allowed).")
    require(ctx, f"{VEC} is fast", "speed counts only for a correct function.", (VEC,),
            ("full",))


# -- 3. the Softmax class --------------------------------------------------------------------
@test("3.1", 7, "Softmax.train", VEC)
def test_train_loss_decreases(ctx: Context) -> None:
    """Softmax.train: returns one loss per iteration, and the loss decreases"""
    st = ctx.settings["small_train"]
    iters = st.num_iters
    model, history = small_train(ctx, seed=st.history_seed, num_iters=iters)
    h = sanity.loss_decreases(history, "Softmax.train: loss history")
    if h.size != iters:
        raise CheckFailed(f"Softmax.train: expected a loss history of num_iters = {iters} "
                          f"entries, got {h.size}.")
    actual = learned(ctx, trained_weights(ctx, model), "Softmax.train")
    tail = float(h[-st.history_tail:].mean())
    tol = st.history_tolerance
    if abs(tail - actual) > tol:
        raise CheckFailed(f"Softmax.train: the loss history ends at {tail:.3f} (mean of the "
                          f"last {st.history_tail}), but the weights left in self.W have a "
                          f"loss of {actual:.3f} on the training data (allowed difference "
                          f"{tol:g}). Hint: record the loss that self.loss returned for each "
                          "minibatch.")
    require_training_loss(ctx, "Softmax.train: the loss fell")


@test("3.2", 5, "Softmax.predict")
def test_predict(ctx: Context) -> None:
    """Softmax.predict: (N,) integer labels, the highest-scoring class of X @ self.W"""
    rng = np.random.default_rng(ctx.settings["predict_seed"])
    X = digits()["X_val"]
    W = rng.standard_normal((X.shape[1], ctx.settings["num_classes"]))
    model = ctx.new(f"{MODULE}.Softmax")
    ctx.method(model, "__setattr__", "W", W)
    labels = sanity.labels(ctx.method(model, "predict", X), len(X),
                           ctx.settings["num_classes"], "Softmax.predict")
    expected = trusted.predict(W, X)
    wrong = np.flatnonzero(labels != expected)
    if wrong.size:
        i = int(wrong[0])
        raise CheckFailed(f"Softmax.predict: with self.W set by the grader, {wrong.size} of "
                          f"{len(X)} labels are not the highest-scoring class (first at row "
                          f"{i}: expected {expected[i]}, got {labels[i]}). Hint: predict must "
                          "use the current self.W, whatever set it.")


@test("3.3", 5, "Softmax.train", VEC)
def test_seeded_determinism(ctx: Context) -> None:
    """Softmax.train: the same seed gives the same run"""
    st = ctx.settings["small_train"]
    m1, h1 = small_train(ctx, seed=st.determinism_seed, num_iters=st.num_iters)
    m2, h2 = small_train(ctx, seed=st.determinism_seed, num_iters=st.num_iters)
    sanity.same_result(h1, h2, "Softmax.train: loss history")
    W1, W2 = trained_weights(ctx, m1), trained_weights(ctx, m2)
    sanity.same_result(W1, W2, "Softmax.W after training")
    learned(ctx, W1, "Softmax.train")
    require_training_loss(ctx, "Softmax.train: determinism")


def trained_accuracy(ctx: Context, seed: int) -> accuracy.Measured:
    """The accuracy test's training and scoring: the submitted HYPERPARAMS, train() seeded
    with `seed`."""
    return train_and_score(ctx, ctx.constant(MODULE, "HYPERPARAMS"), seed)


@test("3.4", 18, "Softmax.train", VEC)
def test_accuracy(ctx: Context) -> None:
    """Softmax: test accuracy when trained with your HYPERPARAMS"""
    m = trained_accuracy(ctx, ctx.settings["train_seed"])
    require_training_loss(ctx, f"Softmax: validation accuracy {m.validation:.1%}")
    accuracy.grade_accuracy(ctx, m.graded, ctx.test.weight, "Softmax", m.split,
                            validation=m.validation)


# -- what grader/calibration.py measures the reference with ----------------------------------
def calibration_run(ctx: Context, seed: int) -> float:
    """The accuracy the grade comes from (the test split), as the accuracy test trains."""
    return trained_accuracy(ctx, seed).graded


def calibration_facts(ctx: Context) -> dict[str, Any]:
    """The settings of the calibrated runs, recorded in calibration.json."""
    return accuracy.hyperparams_facts(ctx, MODULE)


def calibration_labels() -> np.ndarray:
    """The test split's labels: the majority-class rate is the band's zero point."""
    return digits()["y_test"]
