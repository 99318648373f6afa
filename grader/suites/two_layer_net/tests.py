"""The two_layer_net suite: forward/loss/gradients, sanity, training, REPORT.md.

Numbering: 1.x TwoLayerNet.loss (1.5-1.8, one gradient check per parameter, are a table:
`TESTS`), 2.x initialization, 3.x TwoLayerNet.train, 4.x predict and the accuracy run, 5.x
REPORT.md. Weights total 100. Every number the tests grade with (seeds, sizes, tolerances,
thresholds, iteration counts) is in the declaration (`ctx.settings`).

Parameters are set through `worker.set_item(model, "params", key, array)`, so the student's
initialization randomness never matters where values are compared. Data is the `cihlab`
homework set as `hwdata` splits it: the first 400 rows of the published file are X_train (350)
+ X_val (50), the last 100 are X_test. The accuracy run calls
`train(X_train, y_train, X_val, y_val, **HYPERPARAMS without hidden_size, seed=train_seed)` with
num_iters capped, exactly as the notebook trains; the worker gets X_test but never y_test.
The measured accuracy is left in `ctx.shared[ACC_KEY]` for the REPORT.md check (5.3).

Points follow correct code (docs/staff/grading-policy.md). The hidden test 1.3 runs first and
records whether the scores, the loss (`forward`), everything (`full`) and the large-score
case (`stable`) are right on hidden inputs; the visible tests whose values are shipped, and
the consistency checks, pay out only when those verdicts are true. Training is judged from
the parameters `train` leaves in `self.params`, read out of the worker and evaluated with
the grader's own forward (`trusted.py`): held-out accuracy, overfitting, the histories; those
points, and the REPORT.md ones (through 3.1's LEARNED_KEY), also need TwoLayerNet.loss to be
right on hidden inputs with backpropagated gradients: 1.3 times it on fresh inputs against
the grader's forward (`settings["grad_cost"]`), which a numeric gradient cannot meet, and
checks each parameter's gradient there (`backprop_<key>`, which its gradient check needs).
`predict` is checked on random parameters nobody shipped. The worker never sees the test
split.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from grader.checks import accuracy, gradcheck, sanity, speed, verdicts, writeup
from grader.checks.compare import as_scalar, assert_close, unpack
from grader.declaration import given_path
from grader.framework import CheckFailed, Context, row, test
from grader.sandbox import Handle, StudentError, req_method, req_set_item
from grader.suites.two_layer_net import trusted
from grader.suites.two_layer_net.declaration import NetDraw
from grader.suites.two_layer_net.expected_values import PARAMS, inputs

MODULE = "two_layer_net"
CLS = f"{MODULE}.TwoLayerNet"
LOSS, TRAIN, PREDICT, INIT = ("TwoLayerNet.loss", "TwoLayerNet.train", "TwoLayerNet.predict",
                              "TwoLayerNet.__init__")
REPORT = "REPORT.md"
ACC_KEY = "two_layer_net.test_accuracy"
LEARNED_KEY = "two_layer_net.train_learned"     # 3.1's trusted verdict, read by 3.2 and 3.3
KINDS = {"scores": "its scores", "forward": "its scores or loss",
         "full": "its scores, loss or gradients", "stable": "its large-score case",
         **{f"backprop_{k}": f"its grads['{k}'], wrong or far too slow on the cost test"
            for k in PARAMS}}
CASES = ("net_a", "net_b")       # the ordinary expected-value cases (expected_values.py)
# gradients right, and each one right and computed by backpropagation on the cost test
GRADIENTS = ("full",) + tuple(f"backprop_{k}" for k in PARAMS)
CONSISTENCY = "a consistency check earns points only for a loss that is itself right."
TRAINED = (f"training counts only when the loss and gradients it trains with ({LOSS}) are "
           "right and backpropagated: parameters fitted some other way earn nothing here.")
BACKPROP_HINT = ("compute the gradients with one backward pass through the layers "
                 "(backpropagation), not by finite differences of the loss: those cost two "
                 "forward passes per parameter.")
REPLAY = ("the expected values of these inputs are shipped with the assignment, so the "
          "points require the function to be right on inputs you never saw.")
HINTS = {
    "scores": "the scores are the output of the second affine layer, applied to the ReLU of "
              "the first affine layer (no softmax yet); check that both biases are added.",
    "loss": "mean cross-entropy over the batch + reg * (sum(W1**2) + sum(W2**2)); biases are "
            "not regularized.",
    "W2": "dW2 combines the hidden activations with the gradient of the scores; check that "
          "the score gradient is averaged over the batch exactly once and that the "
          "regularization term is the derivative of reg * sum(W2**2).",
    "b2": "a bias gradient collects the score gradient of every example in the batch.",
    "W1": "backpropagate through the second layer and the ReLU (it only passes the gradient "
          "where its input was positive), then add the derivative of reg * sum(W1**2).",
    "b1": "a bias gradient collects the (ReLU-masked) gradient of every example in the batch.",
}


# -- helpers ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def cihlab() -> dict[str, np.ndarray]:
    import hwdata
    return dict(hwdata.load("cihlab"))


def draw(ctx: Context, d: NetDraw
         ) -> tuple[np.random.Generator, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A test's random net and data from its declared `NetDraw`: (generator, params, X, y)."""
    rng = np.random.default_rng(d.seed)
    return (rng, *inputs(rng, d.n, ctx.settings["input_dim"], d.hidden,
                         ctx.settings["num_classes"], d.std))


def net_with(ctx: Context, params: dict[str, np.ndarray]) -> Handle:
    """A TwoLayerNet of the right sizes whose params are set to `params` (worker-side; the
    constructor's own std and seed do not matter, its params are replaced at once)."""
    (d, h), c = params["W1"].shape, params["W2"].shape[1]
    model = ctx.new(CLS, d, h, c, std=1e-4, seed=0)
    ctx.worker.batch([req_set_item(model, "params", k, params[k]) for k in PARAMS])
    return model


def loss_and_grads(out: Any, what: str = LOSS) -> tuple[Any, dict[str, Any]]:
    """(loss, grads) from loss(X, y); grads must be a dict with exactly the params' keys."""
    loss, grads = unpack(out, 2, f"{what} return value (with y)")
    if not isinstance(grads, dict):
        raise CheckFailed(f"{what}: the gradients must be a dict like self.params, got "
                          f"{type(grads).__name__}.")
    if sorted(grads) != sorted(PARAMS):
        raise CheckFailed(f"{what}: the gradient dict must have exactly the keys "
                          f"{', '.join(PARAMS)}; got {', '.join(map(str, grads)) or 'none'}.")
    return loss, grads


def verdict(kind: str) -> str:
    return verdicts.key(MODULE, kind, LOSS)


def require(ctx: Context, what: str, why: str, kinds: tuple[str, ...] = ("forward",)) -> None:
    """Zero points unless TwoLayerNet.loss was right on hidden inputs (see module doc)."""
    verdicts.require(ctx, {verdict(k): f"{LOSS} ({KINDS[k]})" for k in kinds}, what,
                            why)


def run_case(ctx: Context, f: dict[str, np.ndarray]) -> tuple[Any, Any, dict[str, Any]]:
    """(scores, loss, grads) of the student's net on one expected-value case."""
    model = net_with(ctx, {k: f[k] for k in PARAMS})
    scores = ctx.method(model, "loss", f["X"])
    loss, g = loss_and_grads(ctx.method(model, "loss", f["X"], f["y"], reg=float(f["reg"])))
    return scores, loss, g


def compare_case(f: dict[str, np.ndarray], label: str, got: tuple[Any, Any, dict[str, Any]],
                 parts: tuple[str, ...], reveal: bool) -> None:
    """assert_close on the named parts ("scores", "loss", "grads") of one case."""
    scores, loss, g = got
    if "scores" in parts:
        assert_close(scores, f["scores"], f"{label}: scores", reveal=reveal,
                     hint=HINTS["scores"])
    if "loss" in parts:
        assert_close(loss, f["loss"], f"{label}: loss", reveal=reveal, hint=HINTS["loss"])
    if "grads" in parts:
        for k in PARAMS:
            assert_close(g[k], f[f"d{k}"], f"{label}: grads['{k}']", reveal=reveal,
                         hint=HINTS[k])


def check_case(ctx: Context, case: str, *, scores: bool, grads: bool) -> None:
    """One visible case: expected vs got (teaching); the caller requires the verdicts."""
    f = ctx.expected(case, "visible")
    model = net_with(ctx, {k: f[k] for k in PARAMS})
    label = f"{LOSS} (case {case}, reg={float(f['reg']):g})"
    if scores:
        got = ctx.method(model, "loss", f["X"])
        assert_close(got, f["scores"], f"{label}: scores", hint=HINTS["scores"])
    if grads:
        loss, g = loss_and_grads(ctx.method(model, "loss", f["X"], f["y"], reg=float(f["reg"])))
        compare_case(f, label, (None, loss, g), ("loss", "grads"), True)


def stable_ok(ctx: Context, f: dict[str, np.ndarray]) -> bool:
    """Whether the net is right on one large-score case (a verdict only, no message)."""
    try:
        compare_case(f, "stable", run_case(ctx, f), ("loss", "grads"), False)
    except (CheckFailed, StudentError):
        return False
    return True


def check_gradient(ctx: Context, key: str) -> None:
    """grads[key] vs centred differences of the student's own loss, reg > 0."""
    rng, params, X, y = draw(ctx, ctx.settings["gradcheck"])
    reg = ctx.settings["gradcheck"].reg
    model = net_with(ctx, params)
    _, grads = loss_and_grads(ctx.method(model, "loss", X, y, reg=reg))
    gradcheck.gradcheck(
        ctx.worker,
        lambda p: [req_set_item(model, "params", key, p),
                   req_method(model, "loss", (X, y), {"reg": reg})],
        params[key], grads[key],
        lambda out: as_scalar(loss_and_grads(out)[0], f"{LOSS}: loss"),
        f"{LOSS}: grads['{key}'] (reg={reg:g})", rng=rng, hint=HINTS[key],
        epilogue=[req_set_item(model, "params", key, params[key])])
    require(ctx, f"{LOSS}: grads['{key}'] is consistent with the numeric gradient of your "
                 "own loss", CONSISTENCY, ("forward", f"backprop_{key}"))


def right_on_most(misses: dict[str, int], checked: int) -> list[str]:
    """The parameters whose gradient checked out on most of `checked` fresh inputs (`misses`
    counts the inputs where it did not); none when nothing was checked."""
    return [k for k, missed in misses.items() if checked and 2 * missed < checked]


def check_gradient_cost(ctx: Context) -> None:
    """TwoLayerNet.loss with y, timed against the grader's own forward on fresh inputs, every
    answer checked. Records the verdict `backprop_<key>` for each parameter whose gradient
    was right on most timed inputs, all False when the call costs far more than a backward
    pass can (CheckFailed then) or the loss itself is wrong there."""
    s = ctx.settings["grad_cost"]
    rng = np.random.default_rng()       # OS entropy: inputs nobody can know in advance
    reg = s.reg
    misses = {k: 0 for k in PARAMS}      # timed inputs on which grads[k] did not check out
    checked = [0]
    what = f"{LOSS} with gradients (N={s.n}, hidden size {s.hidden_size})"

    def fresh() -> tuple[Handle, dict[str, np.ndarray], np.ndarray, np.ndarray]:
        params, X, y = inputs(rng, s.n, ctx.settings["input_dim"], s.hidden_size,
                              ctx.settings["num_classes"], s.std)
        return net_with(ctx, params), params, X, y

    def check(x: tuple, out: Any, expected: float) -> None:
        _, params, X, y = x
        loss, grads = loss_and_grads(out)
        assert_close(loss, expected, f"{what}: loss", reveal=False, hint=HINTS["loss"])
        checked[0] += 1
        for k in PARAMS:
            try:
                sanity.gradient_along({k: grads[k]}, {k: params[k]},
                                      lambda q: trusted.loss({**params, **q}, X, y, reg), rng,
                                      f"{what}: grads['{k}']", hint=HINTS[k])
            except CheckFailed:
                misses[k] += 1

    timing = speed.fresh_against_yardstick(
        fresh, lambda x: ctx.method(x[0], "loss", x[2], x[3], reg=reg),
        lambda x: trusted.loss(x[1], x[2], x[3], reg), check, repeats=s.repeats,
        give_up=speed.GIVE_UP * s.max_ratio, within=s.max_ratio)
    speed.check_ratio(timing, s.max_ratio, what, hint=BACKPROP_HINT)
    # A right gradient can miss on one input in about 1,500 (a ReLU pre-activation within a
    # hair of 0 fools the directional check); a wrong one misses on every input. So a
    # gradient is right when it checked out on most of the timed inputs.
    right = right_on_most(misses, checked[0])
    for k in right:
        verdicts.record(ctx, verdict(f"backprop_{k}"), True)
    ctx.note(f"{what} took {timing.ratio:.1f}x the time of the grader's own forward (at most "
             f"{s.max_ratio:g}x allowed).")


def require_training_loss(ctx: Context, what: str) -> None:
    """Zero points unless the loss and gradients the training uses were right (and
    backpropagated) on hidden inputs: a closed-form or model-free `train` passes the checks
    of its parameters."""
    require(ctx, what, TRAINED, GRADIENTS)


def train_kwargs(ctx: Context, **overrides: Any) -> dict[str, Any]:
    """The train() keywords of the training tests (`settings["small_train"]`), overridden."""
    return {**ctx.settings["small_train"], **overrides}


def train_history(out: Any, num_iters: int) -> dict[str, np.ndarray]:
    """The dict train() returns, validated: loss per iteration, accuracies in [0, 1]."""
    keys = ("loss_history", "train_acc_history", "val_acc_history")
    if not isinstance(out, dict) or any(k not in out for k in keys):
        raise CheckFailed(f"{TRAIN}: expected a dict with keys {', '.join(keys)}, got "
                          + (f"keys {', '.join(map(str, out))}" if isinstance(out, dict)
                             else type(out).__name__) + ".")
    loss = sanity.loss_decreases(out["loss_history"], f"{TRAIN}: loss_history")
    if loss.size != num_iters:
        raise CheckFailed(f"{TRAIN}: loss_history should have one entry per iteration "
                          f"({num_iters}), got {loss.size}.")
    hist = {"loss_history": loss}
    for k in keys[1:]:
        acc = sanity.finite_array(out[k], f"{TRAIN}: {k}")
        if acc.ndim != 1 or acc.size == 0 or acc.min() < 0 or acc.max() > 1:
            raise CheckFailed(f"{TRAIN}: {k} should be a non-empty list of accuracies in "
                              f"[0, 1] (one per epoch), got shape {acc.shape}.")
        hist[k] = acc
    return hist


def params_of(ctx: Context, model: Handle, shapes: dict[str, tuple[int, ...]] | None = None
              ) -> dict[str, np.ndarray]:
    """self.params read out of the worker: finite arrays (of `shapes` when given)."""
    got = ctx.worker.get_attr(model, "params")
    if not isinstance(got, dict) or sorted(got) != sorted(PARAMS):
        raise CheckFailed(f"TwoLayerNet.params must be a dict with keys {', '.join(PARAMS)}.")
    return {k: sanity.finite_array(got[k], f"params['{k}']", (shapes or {}).get(k))
            for k in PARAMS}


def net_shapes(d: int, h: int, c: int) -> dict[str, tuple[int, ...]]:
    return {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}



def check_histories(ctx: Context, hist: dict[str, np.ndarray], params: dict[str, np.ndarray],
                    X: np.ndarray, y: np.ndarray, reg: float) -> None:
    """The histories train() returned against what its final parameters really do (the
    grader's own forward): the last losses near the final training loss, the last recorded
    accuracies near the final ones."""
    d, h = cihlab(), ctx.settings["history"]
    actual = trusted.loss(params, X, y, reg)
    tail = float(hist["loss_history"][-h.tail:].mean())
    if abs(tail - actual) > h.loss_tolerance:
        raise CheckFailed(f"{TRAIN}: loss_history ends at {tail:.3f} (mean of the last "
                          f"{h.tail}), but the parameters left in self.params have a loss of "
                          f"{actual:.3f} on the training data (allowed difference "
                          f"{h.loss_tolerance:g}). Hint: record the loss self.loss returned "
                          "for each minibatch.")
    for name, Xs, ys in (("train_acc_history", X, y), ("val_acc_history", d["X_val"],
                                                        d["y_val"])):
        real, said = trusted.accuracy(params, Xs, ys), float(hist[name][-1])
        if abs(real - said) > h.accuracy_tolerance:
            raise CheckFailed(f"{TRAIN}: the last entry of {name} is {said:.1%}, but the "
                              f"parameters left in self.params classify {real:.1%} of that "
                              "data correctly (allowed difference "
                              f"{100 * h.accuracy_tolerance:g} percentage points). Hint: "
                              "measure the accuracy with the current parameters at the end "
                              "of each epoch.")


def small_net(ctx: Context, init_seed: int) -> Handle:
    """A fresh net of the training tests' size (`settings["small_net"]`)."""
    net = ctx.settings["small_net"]
    return ctx.new(CLS, ctx.settings["input_dim"], net.hidden, ctx.settings["num_classes"],
                   std=net.std, seed=init_seed)


def small_run(ctx: Context, n: int, init_seed: int, **kw: Any) -> tuple[Handle, Any]:
    """A fresh small net trained on the first n training rows."""
    d = cihlab()
    model = small_net(ctx, init_seed)
    kw = train_kwargs(ctx, **kw)
    out = ctx.method(model, "train", d["X_train"][:n], d["y_train"][:n], d["X_val"],
                     d["y_val"], **kw)
    return model, out


def train_and_score(ctx: Context, hyperparams: dict[str, Any], seed: int
                    ) -> accuracy.Measured:
    """Train a fresh net with `hyperparams` (validated, num_iters capped) on X_train (with
    X_val for its histories), read its parameters out of the worker and score the test split
    (the grade) and the validation split (what the student sees) HERE with the grader's own
    forward. The accuracy test and calibration (`calibration_run`)
    both train through it, so the reference is calibrated through exactly this code path."""
    hp = accuracy.validate_hyperparams(hyperparams, ctx.settings["hyperparams"])
    hp, capped = accuracy.cap_iters(hp, ctx.settings["max_iters"])
    if capped:
        ctx.note(capped)
    data = accuracy.worker_data(cihlab(), ("X_train", "y_train", "X_val", "y_val"))
    hidden = hp.pop("hidden_size")
    dim, classes = data["X_train"].shape[1], ctx.settings["num_classes"]
    model = ctx.new(CLS, dim, hidden, classes, seed=seed)
    ctx.method(model, "train", data["X_train"], data["y_train"], data["X_val"], data["y_val"],
               **hp, seed=seed, timeout=ctx.assignment.limits.train_seconds)
    params = params_of(ctx, model, net_shapes(dim, hidden, classes))
    measured = accuracy.measure(cihlab(), lambda X, y: trusted.accuracy(params, X, y))
    if measured.split != "test":
        ctx.note(accuracy.SELF_CHECK_NOTE)
    return measured


# -- 1. TwoLayerNet.loss ---------------------------------------------------------------------
@test("1.1", 8, LOSS)
def test_scores(ctx: Context) -> None:
    """TwoLayerNet.loss: scores (y=None) match the reference"""
    for case in CASES:
        check_case(ctx, case, scores=True, grads=False)
    require(ctx, f"{LOSS}: scores", REPLAY, ("scores",))


@test("1.2", 10, LOSS)
def test_loss_and_grads(ctx: Context) -> None:
    """TwoLayerNet.loss: loss and gradients match the reference"""
    for case in CASES:
        check_case(ctx, case, scores=False, grads=True)
    require(ctx, f"{LOSS}: loss and gradients", REPLAY, GRADIENTS)


@test("1.3", 5, LOSS, visibility="hidden")
def test_loss_hidden(ctx: Context) -> None:
    """TwoLayerNet.loss: scores, loss and gradients match the reference (hidden inputs)"""
    for kind in KINDS:
        verdicts.record(ctx, verdict(kind), False)
    verdicts.record(ctx, verdict("stable"), stable_ok(ctx, ctx.expected("stable",
                                                                             "hidden")))
    cases = {c: ctx.expected(c, "hidden") for c in CASES}
    got = {c: run_case(ctx, f) for c, f in cases.items()}
    for parts, kind in ((("scores",), "scores"), (("loss",), "forward")):
        for c, f in cases.items():
            compare_case(f, f"{LOSS} (case {c})", got[c], parts, False)
        verdicts.record(ctx, verdict(kind), True)
    try:        # the cost test runs even when a gradient is wrong: it judges each one
        for c, f in cases.items():
            compare_case(f, f"{LOSS} (case {c})", got[c], ("grads",), False)
    except CheckFailed as exc:
        check_gradient_cost(ctx)
        raise exc
    check_gradient_cost(ctx)
    verdicts.record(ctx, verdict("full"), True)


@test("1.4", 3, LOSS)
def test_stable(ctx: Context) -> None:
    """TwoLayerNet.loss: numerically stable for large scores"""
    f = ctx.expected("stable", "visible")
    model = net_with(ctx, {k: f[k] for k in PARAMS})
    loss, g = loss_and_grads(ctx.method(model, "loss", f["X"], f["y"], reg=float(f["reg"])))
    what = f"{LOSS} with every score near 1e4"
    sanity.finite_scalar(loss, f"{what}: loss", sanity.STABILITY_HINT)
    assert_close(loss, f["loss"], f"{what}: loss", hint=sanity.STABLE_MISMATCH_HINT)
    for k in PARAMS:
        assert_close(g[k], f[f"d{k}"], f"{what}: grads['{k}']",
                     hint=sanity.STABLE_MISMATCH_HINT)
    require(ctx, what, REPLAY, ("forward", "stable") + GRADIENTS[1:])


TESTS = [row(functools.partial(check_gradient, key=key), num, 3, LOSS,
             name=f"TwoLayerNet.loss: grads['{key}'] matches the numeric gradient of your loss")
         for key, num in (("W1", "1.5"), ("b1", "1.6"), ("W2", "1.7"), ("b2", "1.8"))]


@test("1.9", 3, LOSS)
def test_reg_raises_loss(ctx: Context) -> None:
    """TwoLayerNet.loss: regularization adds reg * (sum(W1**2) + sum(W2**2))"""
    _, params, X, y = draw(ctx, ctx.settings["reg_check"])
    model = net_with(ctx, params)
    reg = ctx.settings["reg_check"].reg
    loss0, _ = loss_and_grads(ctx.method(model, "loss", X, y, reg=0.0))
    loss1, _ = loss_and_grads(ctx.method(model, "loss", X, y, reg=reg))
    increase = reg * float(np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    sanity.reg_raises_loss(loss0, loss1, f"{LOSS}: loss", expected_increase=increase)
    require(ctx, "the regularization term", CONSISTENCY)


# -- 2. initialization -----------------------------------------------------------------------
@test("2.1", 7, INIT, LOSS)
def test_init_and_chance(ctx: Context) -> None:
    """TwoLayerNet: initial parameters (shapes, zero biases, std) and loss about ln 4"""
    i = ctx.settings["init"]
    d, h, c, std = ctx.settings["input_dim"], i.hidden, ctx.settings["num_classes"], i.std
    model = ctx.new(CLS, d, h, c, std=std, seed=i.seed)
    p = params_of(ctx, model)
    shapes = {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}
    for k, shape in shapes.items():
        if p[k].shape != shape:
            raise CheckFailed(f"{INIT}: params['{k}'] should have shape {shape} for "
                              f"TwoLayerNet({d}, {h}, {c}), got {p[k].shape}.")
    for k in ("b1", "b2"):
        if np.any(p[k] != 0):
            raise CheckFailed(f"{INIT}: params['{k}'] should start at zero.")
    for k in ("W1", "W2"):
        w = p[k]
        if abs(w.std() - std) > i.std_rtol * std \
                or abs(w.mean()) > i.mean_sigmas * std / np.sqrt(w.size):
            raise CheckFailed(f"{INIT}: params['{k}'] should be drawn from N(0, std**2) with "
                              f"std={std:g}; got mean {w.mean():.3g} and std {w.std():.3g}.")
        sanity.normal_sample(w, std, f"{INIT}: params['{k}']", i.ks_max)
    again = params_of(ctx, ctx.new(CLS, d, h, c, std=std, seed=i.seed))
    sanity.same_result(p["W1"], again["W1"], f"{INIT}: params['W1']")
    # loss at chance: tiny weights, every class about equally likely
    data, rows = cihlab(), i.chance_rows
    small = ctx.new(CLS, d, i.chance_hidden, c, std=i.chance_std, seed=i.chance_seed)
    loss, _ = loss_and_grads(ctx.method(small, "loss", data["X_train"][:rows],
                                        data["y_train"][:rows], reg=0.0))
    sanity.chance_loss(loss, c, f"{LOSS}: loss with std={i.chance_std:g}")
    require(ctx, "the loss at chance", CONSISTENCY)


# -- 3. TwoLayerNet.train --------------------------------------------------------------------
def require_learned(ctx: Context, what: str) -> None:
    """Zero points unless 3.1 found that train() really learns (judged from its params)."""
    if not ctx.shared.get(LEARNED_KEY):
        ctx.set_score(0.0)
        raise CheckFailed(f"{what}: passed, but test 3.1 found no training run that learns "
                          f"(learned parameters in self.params, trained with a {LOSS} that is "
                          "right on hidden inputs), so this test earns no points: these "
                          "checks count only for a network that really trains.")


@test("3.1", 5, TRAIN, LOSS, PREDICT)
def test_train_history(ctx: Context) -> None:
    """TwoLayerNet.train: returns the loss and accuracy histories, and the loss decreases"""
    verdicts.record(ctx, LEARNED_KEY, False)
    h, c = ctx.settings["history"], ctx.settings["num_classes"]
    n, reg = h.n, train_kwargs(ctx)["reg"]
    model, out = small_run(ctx, n, init_seed=h.init_seed, num_iters=h.num_iters)
    hist = train_history(out, h.num_iters)
    d = cihlab()
    X, y = d["X_train"][:n], d["y_train"][:n]
    params = params_of(ctx, model, net_shapes(X.shape[1], ctx.settings["small_net"].hidden, c))
    actual = trusted.loss(params, X, y, reg)
    if not actual < h.learned_fraction * np.log(c):
        raise CheckFailed(f"{TRAIN}: after {h.num_iters} steps the parameters left in "
                          f"self.params should have a training loss well below ln {c}; they "
                          f"have {actual:.3f}. Hint: every parameter must take a step "
                          "against its gradient in every iteration.")
    check_histories(ctx, hist, params, X, y, reg)
    require_training_loss(ctx, f"{TRAIN}: the loss fell")
    verdicts.record(ctx, LEARNED_KEY, True)


def epochs_recorded(out: Any, num_iters: int, expected: int) -> None:
    """train()'s accuracy histories after `num_iters` iterations hold one entry per finished
    epoch (`expected`): the accuracies are recorded at the END of every epoch."""
    for key in ("train_acc_history", "val_acc_history"):
        got = out.get(key) if isinstance(out, dict) else None
        size = len(got) if isinstance(got, (list, tuple)) or (
            isinstance(got, np.ndarray) and got.ndim == 1) else None
        if size != expected:
            raise CheckFailed(f"{TRAIN}: after {num_iters} iterations ({expected} finished "
                              f"epoch{'s' if expected != 1 else ''}) {key} should hold "
                              f"{expected} entr{'ies' if expected != 1 else 'y'}, got "
                              f"{'no list' if size is None else size}. Hint: record the "
                              "accuracies once per epoch, after its last update "
                              "((it + 1) % iterations_per_epoch == 0).")


@test("3.2", 5, TRAIN, LOSS)
def test_lr_decay(ctx: Context) -> None:
    """TwoLayerNet.train: the learning rate decays once per epoch"""
    # With learning_rate_decay = 0 the step size is 0 after the first epoch, so training for
    # several epochs must give the parameters of one; within the first epoch training must
    # go on (the declaration's `lr_decay`).
    s = ctx.settings["lr_decay"]
    epoch = s.n // s.batch_size
    half, later = epoch // 2, s.epochs * epoch
    kw = {"learning_rate_decay": 0.0, "batch_size": s.batch_size, "seed": s.seed}
    runs, outs = {}, {}
    for iters in (half, epoch - 1, epoch, later, -epoch):   # -epoch: the one-epoch run again
        model, outs[iters] = small_run(ctx, s.n, init_seed=s.init_seed, num_iters=abs(iters),
                                       **kw)
        runs[iters] = params_of(ctx, model)
    init = params_of(ctx, small_net(ctx, s.init_seed))
    moved = lambda a, b: any(not np.allclose(a[k], b[k], rtol=s.rtol, atol=s.atol)
                             for k in PARAMS)
    if moved(runs[epoch], runs[-epoch]):
        raise CheckFailed(f"{TRAIN}: two runs with the same seeds gave different parameters, so "
                          "the learning-rate decay cannot be checked. Hint: draw every random "
                          "number from the generator made from `seed`.")
    if not moved(runs[epoch], init):
        raise CheckFailed(f"{TRAIN}: with learning_rate_decay=0 the parameters did not change "
                          "during the first epoch: decay the learning rate at the END of every "
                          "epoch, after its updates.")
    if not moved(runs[epoch], runs[epoch - 1]):
        raise CheckFailed(f"{TRAIN}: with learning_rate_decay=0, the last iteration of the first "
                          "epoch changed nothing: decay the learning rate AFTER the epoch's last "
                          "update, i.e. when (it + 1) % iterations_per_epoch == 0.")
    epochs_recorded(outs[epoch - 1], epoch - 1, 0)
    epochs_recorded(outs[epoch], epoch, 1)
    if not moved(runs[epoch], runs[half]):
        raise CheckFailed(f"{TRAIN}: with learning_rate_decay=0, iterations {half + 1} and "
                          f"{epoch} of a {epoch}-iteration epoch changed nothing: the learning "
                          "rate must decay once per epoch, not every iteration.")
    if moved(runs[later], runs[epoch]):
        raise CheckFailed(f"{TRAIN}: with learning_rate_decay=0 the parameters still changed "
                          "after the first epoch: the decay must be applied at the end of "
                          "every epoch (every max(N // batch_size, 1) iterations).")
    require_learned(ctx, f"{TRAIN}: learning-rate decay")


@test("3.3", 4, TRAIN, LOSS)
def test_train_determinism(ctx: Context) -> None:
    """TwoLayerNet.train: the same seeds give the same run"""
    s = ctx.settings["determinism"]
    m1, out1 = small_run(ctx, s.n, init_seed=s.init_seed, num_iters=s.num_iters, seed=s.seed)
    m2, out2 = small_run(ctx, s.n, init_seed=s.init_seed, num_iters=s.num_iters, seed=s.seed)
    h1, h2 = train_history(out1, s.num_iters), train_history(out2, s.num_iters)
    sanity.same_result(h1["loss_history"], h2["loss_history"], f"{TRAIN}: loss_history")
    p1, p2 = params_of(ctx, m1), params_of(ctx, m2)
    for k in PARAMS:
        sanity.same_result(p1[k], p2[k], f"{TRAIN}: params['{k}'] after training")
    require_learned(ctx, f"{TRAIN}: determinism")


@test("3.4", 8, TRAIN, LOSS)
def test_overfit(ctx: Context) -> None:
    """TwoLayerNet: overfits 20 training samples (100% training accuracy)"""
    o = ctx.settings["overfit"]
    d = cihlab()
    X, y = d["X_train"][:o.n], d["y_train"][:o.n]
    dim, classes = X.shape[1], ctx.settings["num_classes"]
    model = ctx.new(CLS, dim, o.hidden_size, classes, std=o.std, seed=o.seed)
    ctx.method(model, "train", X, y, X, y, learning_rate=o.learning_rate,
               learning_rate_decay=1.0, reg=0.0, num_iters=o.num_iters,
               batch_size=o.n, seed=o.seed)
    params = params_of(ctx, model, net_shapes(dim, o.hidden_size, classes))
    sanity.overfit(trusted.accuracy(params, X, y),
                   f"TwoLayerNet trained on {o.n} samples for {o.num_iters} steps "
                   "(accuracy of the parameters left in self.params)")
    require_training_loss(ctx, f"{TRAIN}: overfitting a small set")


# -- 4. predict and the accuracy run ---------------------------------------------------------
def trained_accuracy(ctx: Context, seed: int) -> accuracy.Measured:
    """The accuracy test's training and scoring: the submitted HYPERPARAMS, the net and
    train() seeded with `seed`."""
    return train_and_score(ctx, ctx.constant(MODULE, "HYPERPARAMS"), seed)


@test("4.1", 4, PREDICT)
def test_predict(ctx: Context) -> None:
    """TwoLayerNet.predict: (N,) integer labels, the highest-scoring class"""
    _, params, X, _ = draw(ctx, ctx.settings["predict"])
    model = net_with(ctx, params)
    labels = sanity.labels(ctx.method(model, "predict", X), len(X),
                           ctx.settings["num_classes"], PREDICT)
    expected = trusted.predict(params, X)
    wrong = np.flatnonzero(labels != expected)
    if wrong.size:
        i = int(wrong[0])
        raise CheckFailed(f"{PREDICT}: with parameters set by the grader, {wrong.size} of "
                          f"{len(labels)} labels are not the highest-scoring class (first at "
                          f"row {i}: expected {expected[i]}, got {labels[i]}). Hint: predict "
                          "must use the current self.params, one label per row of X.")


@test("4.2", 16, TRAIN, LOSS)
def test_accuracy(ctx: Context) -> None:
    """TwoLayerNet: test accuracy when trained with your HYPERPARAMS"""
    m = trained_accuracy(ctx, ctx.settings["train_seed"])
    require_training_loss(ctx, f"TwoLayerNet: validation accuracy {m.validation:.1%}")
    if m.split == "test":     # a self-check measures validation data
        ctx.shared[ACC_KEY] = m.graded
    accuracy.grade_accuracy(ctx, m.graded, ctx.test.weight, "TwoLayerNet", m.split,
                            validation=m.validation)


# -- 5. REPORT.md ----------------------------------------------------------------------------
@test("5.1", 4, REPORT, TRAIN, LOSS)
def test_report_sections(ctx: Context) -> None:
    """REPORT.md: every required section is present and filled in"""
    # The handed-out template tells an unfilled section (its instructions left as they are)
    # from an answer, so the grader kit must ship it (assignments/two_layer_net/REPORT.md).
    template = given_path("assignments", MODULE, REPORT)
    if not template.is_file():
        raise RuntimeError(f"{template} (the report template) is missing from the grader kit")
    writeup.check_sections(ctx.report_text, ctx.settings["report_sections"],
                             template.read_text())
    require_learned(ctx, "REPORT.md: sections")


@test("5.2", 3, REPORT, TRAIN, LOSS)
def test_report_hyperparams(ctx: Context) -> None:
    """REPORT.md: the hidden size, batch size and learning rate stated match HYPERPARAMS"""
    if ctx.report_text is None:
        writeup.check_sections(None, ())
    hp = ctx.constant(MODULE, "HYPERPARAMS")
    for key, (section, keywords, label) in ctx.settings["report_values"].items():
        value = hp.get(key) if isinstance(hp, dict) else None
        if value is None:
            raise CheckFailed(f"HYPERPARAMS[{key!r}] is not set (None): choose it, train, then "
                              "report it.")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise CheckFailed(f"HYPERPARAMS[{key!r}] must be a number, got {value!r}.")
        writeup.check_stated_value(ctx.report_text, section, keywords, value, label)
    require_learned(ctx, "REPORT.md: stated hyper-parameters")


@test("5.3", 3, REPORT, TRAIN, LOSS)
def test_report_accuracy(ctx: Context) -> None:
    """REPORT.md: the stated test accuracy matches the one measured in this run"""
    measured = ctx.shared.get(ACC_KEY)
    if measured is None and ctx.report_text is not None \
            and accuracy.held_out(cihlab())[2] != "test":
        section = ctx.settings["report_accuracy_section"]
        writeup.stated_accuracy(writeup.find_section(ctx.report_text, section)
                                  or ctx.report_text)
        ctx.note("Self-check: the release has no test labels, so the accuracy you state is "
                 "compared with the grader's test accuracy after you submit (provisional).")
        require_learned(ctx, "REPORT.md: stated accuracy")
        return
    writeup.check_test_accuracy(ctx.report_text, ctx.settings["report_accuracy_section"],
                                  measured, ctx.settings["report_accuracy_tolerance"])
    zero_at = accuracy.accuracy_band(ctx.assignment)[0]
    if measured is not None and measured <= zero_at:
        ctx.set_score(0.0)
        raise CheckFailed("REPORT.md: the stated accuracy matches this run, but the run's "
                          "test accuracy is no better than always predicting the commonest "
                          "class, so there is nothing to report yet: this check counts only "
                          "for a network that learned.")
    require_learned(ctx, "REPORT.md: stated accuracy")


# -- what grader/calibration.py measures the reference with ----------------------------------
def calibration_run(ctx: Context, seed: int) -> float:
    """The accuracy the grade comes from (the test split), as the accuracy test trains."""
    return trained_accuracy(ctx, seed).graded


def calibration_facts(ctx: Context) -> dict[str, Any]:
    """The settings of the calibrated runs, recorded in calibration.json."""
    return accuracy.hyperparams_facts(ctx, MODULE)


def calibration_labels() -> np.ndarray:
    """The test split's labels: the majority-class rate is the band's zero point."""
    return cihlab()["y_test"]
