"""The convnet suite: every layer, every update rule and the three-layer ConvNet.

Numbering: 1 affine, 2 relu, 3 softmax_loss, 4 conv naive, 5 conv fast, 6 max pool naive,
7 max pool fast, 8 dropout, 9 batchnorm, 10 spatial batchnorm, 11 update rules,
12 ThreeLayerConvNet. Weights total 100.

How each kind of check works:
- points follow correct code: hidden tests run first and record, per function, whether it is
  right on hidden inputs (`_judged`); a visible test (`@gated`) pays out only when every
  function it is tagged with was right there. Its expected-vs-got feedback is unchanged, and
  in the self-check (no hidden tests) its points are provisional, with a note;
- forward values: against the reference's outputs stored in the fixtures (`visible` set for
  visible tests, `hidden` set for hidden ones, which never print inputs or expected values);
- backward passes: against centred differences of the student's OWN forward
  (`grader.checks.gradcheck`), gated like the rest; the layer cache stays in the worker
  behind a handle (`keep=(1,)`); hidden variants compare with the reference's values;
- fast == naive: the fast functions against the reference's (naive) values; speed: the
  student's fast forward+backward against the grader's own vectorized pair
  (grader/suites/convnet/trusted.py), timed here, interleaved, every timed call on fresh
  inputs of a shape drawn at grading time and checked against the grader's answer (limits in
  the settings); the naive backward passes' hidden tests also time them against a loop over
  the output values, so a numeric derivative of the forward is not a backward pass;
- dropout: properties only, never one random stream: keep rate, independence across
  positions (per-row/column counts, neighbours) and across calls/seeds, as z-scores;
- initialization: the weights' distribution (Kolmogorov-Smirnov against N(0, scale**2));
- batchnorm: `bn_param` is a dict held in the worker (a handle), so the running statistics the
  student writes back are read from it after the call;
- update rules: 3 steps with the returned config passed back in, plus one step with defaults;
  the hidden test adds inputs and hyper-parameters drawn at grading time, against the
  grader's own update;
- ThreeLayerConvNet: shapes and init, reference loss/gradients with given parameters (and a
  hidden case), ln 10 at chance, the exact regularization term, numeric gradients; overfitting
  50 images and test accuracy after the declaration's bounded `accuracy_run` are computed
  HERE from the trained parameters read out of the worker (trusted forward): a model-free
  `loss` earns nothing, and the worker never sees the test images or labels. Both run only
  when the model, its layers and the update rule were judged right on hidden inputs
  (`trained`), so parameters fitted some other way (closed form inside `loss`) earn nothing.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import math
import secrets
import sys
import time
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from grader.checks import accuracy, gradcheck, sanity, speed
from grader.checks.compare import as_array, as_scalar, assert_close, unpack
from grader.declaration import load
from grader.framework import CheckFailed, Context, specs_of, test
from grader.sandbox import Handle, StudentError, req_call, req_method, req_set_item
from grader.suites.convnet.expected_values import CONV_CASES, OPTIM_CASES, OPTIM_STEPS, POOL_CASES

NAME = "convnet"
SETTINGS = load(NAME).settings
RUN_RULE = SETTINGS["accuracy_run"]["solver"]["update_rule"]
OVERFIT_RULE = SETTINGS["overfit"]["solver"]["update_rule"]
SEED = 231                     # trusted-side inputs drawn here come from this seed (+ offsets)
PARAM_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")

FORWARD_TAGS = ("ThreeLayerConvNet", "conv_forward_fast", "relu_forward",
                "max_pool_forward_fast", "affine_forward", "softmax_loss")
MODEL_TAGS = FORWARD_TAGS + ("conv_backward_fast", "relu_backward", "max_pool_backward_fast",
                             "affine_backward")
MODEL_NOTE = ("ThreeLayerConvNet runs on your layers (through layer_utils: the fast conv and "
              "pool, affine, relu, softmax_loss); fix failing layer tests first.")


# -- verdicts on hidden inputs ---------------------------------------------------------------
# Visible tests teach (their expected values ship with the release), so their points also
# require each function they exercise to be right on hidden inputs. Hidden tests run first
# (grader.framework) and record one verdict per function in ctx.shared; `gated` visible tests
# read them. In the self-check no hidden test runs: the points are provisional, with a note.
VERDICT = f"{NAME}.hidden_ok."
HIDDEN_ONLY_MSG = ("{what} on the inputs shown here, but {fns} failed on the hidden inputs "
                   "(a wrong result, or for a naive backward pass a cost far above a loop's), "
                   "so this test earns no points: make the function right in general, not "
                   "only on these inputs.")
PROVISIONAL_NOTE = ("Provisional: after you submit, these points also require {fns} to be "
                    "right on hidden inputs.")


def _record(ctx: Context, fns: Sequence[str], ok: bool) -> None:
    """One verdict per function; a function wrong on any hidden case stays wrong."""
    for fn in fns:
        ctx.shared[VERDICT + fn] = bool(ok) and ctx.shared.get(VERDICT + fn, True)


@contextlib.contextmanager
def _judged(ctx: Context, *fns: str) -> Iterator[None]:
    """Record whether the block (student calls and comparisons on hidden inputs) passed."""
    ok = False
    try:
        yield
        ok = True
    finally:
        _record(ctx, fns, ok)


@functools.lru_cache(maxsize=1)
def hidden_judged() -> frozenset[str]:
    """The functions some hidden test judges: the tags of the hidden tests."""
    return frozenset(tag for spec in specs_of(sys.modules[__name__])
                     if spec.visibility != "visible" for tag in spec.tags)


def gate(ctx: Context, fns: Sequence[str], what: str = "This test passes") -> None:
    """Withhold a passed visible test's points when a function it exercises is wrong on
    hidden inputs; note that they are provisional when no hidden verdict exists yet."""
    judged = [fn for fn in fns if fn in hidden_judged()]
    wrong = [fn for fn in judged if ctx.shared.get(VERDICT + fn) is False]
    if wrong:
        ctx.set_score(0.0)
        raise CheckFailed(HIDDEN_ONLY_MSG.format(what=what, fns=", ".join(wrong)))
    unknown = [fn for fn in judged if VERDICT + fn not in ctx.shared]
    # In a real run a verdict is missing only when a function it depends on already failed
    # its hidden case (and costs this test's tags their points there), or the time budget
    # ran out; only the self-check, which runs no hidden test, calls the points provisional.
    if unknown and getattr(ctx, "self_check", True):
        ctx.note(PROVISIONAL_NOTE.format(fns=", ".join(unknown)))


def gated(test: Callable[[Context], None]) -> Callable[[Context], None]:
    """A visible test whose points require its tagged functions to be right on hidden inputs
    (apply below the metadata decorators: it reads the tags at run time)."""
    @functools.wraps(test)
    def run(ctx: Context) -> None:
        test(ctx)
        gate(ctx, ctx.test.tags if ctx.test else ())
    return run


TRAINING_MSG = ("This test trains the model with your code, but {fns} did not pass on the "
                "hidden inputs{why}, so it earns no points (and is not run): a model earns "
                "its training points only with a working loss, gradients and update rule.")


def trained(test: Callable[[Context], None]) -> Callable[[Context], None]:
    """A training test (overfit, accuracy): before any training, every function it is tagged
    with (the model's loss and gradients, its layers, the Solver's update rule) must have been
    judged right on hidden inputs. Stricter than `gated`: in a real grading a verdict that is
    missing withholds the points too (a model that trains without working layers, e.g. by
    fitting its last layer in closed form, earns nothing); in the self-check they are
    provisional. Apply below the metadata decorators."""
    @functools.wraps(test)
    def run(ctx: Context) -> None:
        judged = [fn for fn in (ctx.test.tags if ctx.test else ()) if fn in hidden_judged()]
        wrong = [fn for fn in judged if ctx.shared.get(VERDICT + fn) is False]
        unknown = [fn for fn in judged if VERDICT + fn not in ctx.shared]
        self_check = getattr(ctx, "self_check", True)
        if wrong or (unknown and not self_check):
            ctx.set_score(0.0)
            raise CheckFailed(TRAINING_MSG.format(
                fns=", ".join(wrong or unknown),
                why="" if wrong else " (their hidden test did not get to judge them)"))
        if unknown:
            ctx.note(PROVISIONAL_NOTE.format(fns=", ".join(unknown)))
        test(ctx)
    return run


def _trusted() -> ModuleType | None:
    """The grader's own forward / update rules / yardsticks; None in the student release
    (which does not ship them), where the checks that need them are provisional."""
    try:
        return importlib.import_module("grader.suites.convnet.trusted")
    except ImportError:
        return None


# -- helpers ---------------------------------------------------------------------------------
def _fx(ctx: Context, case: str, hidden: bool) -> dict[str, np.ndarray]:
    return ctx.expected(case, "hidden" if hidden else "visible")


def _conv_param(f: dict[str, np.ndarray]) -> dict[str, int]:
    return {"stride": int(f["stride"]), "pad": int(f["pad"])}


def _pool_param(f: dict[str, np.ndarray]) -> dict[str, int]:
    return {"pool_height": int(f["pool_height"]), "pool_width": int(f["pool_width"]),
            "stride": int(f["stride"])}


def _bn_param(f: dict[str, np.ndarray], mode: str) -> dict[str, Any]:
    """bn_param as the student receives it: the mode plus whatever the case stores."""
    param: dict[str, Any] = {"mode": mode}
    for key in ("eps", "momentum"):
        if key in f:
            param[key] = float(f[key])
    for key in ("running_mean", "running_var"):
        if key in f:
            param[key] = np.array(f[key])
    return param


def _release(ctx: Context, handles: Sequence[Any]) -> None:
    """Free kept caches in the worker; a dead worker has nothing left to free."""
    live = [h for h in handles if isinstance(h, Handle)]
    if live:
        try:
            ctx.worker.release(*live)
        except StudentError:
            pass


def _forward(ctx: Context, fn: str, args: tuple, what: str | None = None) -> tuple[Any, Handle]:
    """`layers.<fn>(*args)` -> (out as returned, cache handle kept in the worker)."""
    value = ctx.call(f"layers.{fn}", *args, keep=(1,))
    out, cache = unpack(value, 2, f"{what or fn} return value (out, cache)")
    return out, cache


def _grads(value: Any, n: int, what: str) -> tuple[Any, ...]:
    """A backward's return: one array (n == 1) or a tuple of n arrays."""
    return (value,) if n == 1 else unpack(value, n, what)


def _backward(ctx: Context, fn: str, dout: np.ndarray, cache: Handle, n: int) -> tuple[Any, ...]:
    try:
        return _grads(ctx.call(f"layers.{fn}", dout, cache), n, f"{fn} return value")
    finally:
        _release(ctx, [cache])


def _weighted_sum(value: Any, dout: np.ndarray, what: str) -> float:
    """sum(out * dout) for a forward's (out, cache) return: the numeric-gradient objective."""
    out = as_array(unpack(value, 2, f"{what} return value")[0], f"{what}: out")
    if out.shape != dout.shape:
        raise CheckFailed(f"{what}: out has shape {out.shape}, expected {dout.shape}.")
    return float(np.sum(out * dout))


def _layer_gradcheck(ctx: Context, fwd: str, bwd: str, args: tuple, names: Sequence[str],
                     dout: np.ndarray, *, seed: int, hint: str = "") -> None:
    """The student's `bwd` (fed the cache of their own `fwd`) against centred differences of
    `fwd` for each of the first len(names) inputs; one failure names the input."""
    out, cache = _forward(ctx, fwd, args)
    shape = as_array(out, f"{fwd}: out").shape
    if shape != dout.shape:
        _release(ctx, [cache])
        raise CheckFailed(f"{fwd}: out has shape {shape}, expected {dout.shape}.")
    grads = _backward(ctx, bwd, dout, cache, len(names))
    rng = np.random.default_rng(seed)
    kept: list[Any] = []

    def objective(value: Any) -> float:
        if isinstance(value, (tuple, list)) and len(value) == 2:
            kept.append(value[1])
        return _weighted_sum(value, dout, fwd)

    try:
        for i, (name, grad) in enumerate(zip(names, grads)):
            def requests_for(xi: np.ndarray, i: int = i) -> list:
                a = list(args)
                a[i] = xi
                return [req_call(f"layers.{fwd}", tuple(a), keep=(1,))]
            gradcheck.gradcheck(ctx.worker, requests_for, args[i], grad, objective,
                                f"{bwd}: {name}", rng=rng, hint=hint)
            _release(ctx, kept)
            kept.clear()
    finally:
        _release(ctx, kept)


def _check_layer(ctx: Context, fwd: str, bwd: str | None, args: tuple, f: dict[str, np.ndarray],
                 names: Sequence[str], label: str, *, reveal: bool, hint: str = "",
                 back_hint: str = "", rtol: float = 1e-6) -> None:
    """Forward (and, with `bwd`, backward fed the fixture's dout) against reference values;
    on hidden inputs (`reveal` False) each function's verdict is recorded for the gate."""
    judge = (lambda fn: _judged(ctx, fn)) if not reveal else (lambda fn: contextlib.nullcontext())
    cache = None
    with judge(fwd):
        out, cache = _forward(ctx, fwd, args)
        try:
            assert_close(out, f["out"], f"{fwd} ({label}): out", reveal=reveal, hint=hint,
                         rtol=rtol)
        except CheckFailed:
            _release(ctx, [cache])
            raise
    if bwd is None:
        _release(ctx, [cache])
        return
    with judge(bwd):
        grads = _backward(ctx, bwd, f["dout"], cache, len(names))
        for name, grad in zip(names, grads):
            assert_close(grad, f[f"d{name}"], f"{bwd} ({label}): d{name}", reveal=reveal,
                         hint=back_hint, rtol=rtol)


def _case_label(name: str, f: dict[str, np.ndarray], reveal: bool, keys: Sequence[str]) -> str:
    if not reveal:
        return "hidden case"
    desc = ", ".join(f"{k}={int(f[k])}" for k in keys)
    shapes = f"x {tuple(f['x'].shape)}" + (f", w {tuple(f['w'].shape)}" if "w" in f else "")
    return f"case {name}: {shapes}, {desc}"


# -- 1. affine -------------------------------------------------------------------------------
AFFINE_HINT = "flatten each example: x.reshape(N, -1) @ w + b; dx has x's original shape."
AFFINE_BACK_HINT = ("match the shapes: dx like x (un-flattened), dw like w, db like b; a "
                    "bias gradient collects every example in the batch.")


@test("1.1", 2, "affine_forward")
@gated
def test_affine_forward(ctx: Context) -> None:
    """affine_forward: output matches the reference (4-d input flattened per example)"""
    f = _fx(ctx, "affine", False)
    _check_layer(ctx, "affine_forward", None, (f["x"], f["w"], f["b"]), f, (), "x (4, 2, 3, 2)",
                 reveal=True, hint=AFFINE_HINT)


@test("1.2", 2.5, "affine_forward", "affine_backward")
@gated
def test_affine_backward(ctx: Context) -> None:
    """affine_backward: dx, dw, db match numeric gradients of your affine_forward"""
    f = _fx(ctx, "affine", False)
    _layer_gradcheck(ctx, "affine_forward", "affine_backward", (f["x"], f["w"], f["b"]),
                     ("dx", "dw", "db"), f["dout"], seed=SEED + 1, hint=AFFINE_BACK_HINT)


@test("1.3", 1, "affine_forward", "affine_backward", visibility="hidden")
def test_affine_hidden(ctx: Context) -> None:
    """affine_forward / affine_backward: match the reference (hidden inputs)"""
    f = _fx(ctx, "affine", True)
    _check_layer(ctx, "affine_forward", "affine_backward", (f["x"], f["w"], f["b"]), f,
                 ("x", "w", "b"), "hidden case", reveal=False, hint=AFFINE_HINT,
                 back_hint=AFFINE_BACK_HINT)


# -- 2. relu ---------------------------------------------------------------------------------
@test("2.1", 1, "relu_forward")
@gated
def test_relu_forward(ctx: Context) -> None:
    """relu_forward: output matches the reference"""
    f = _fx(ctx, "relu", False)
    _check_layer(ctx, "relu_forward", None, (f["x"],), f, (), "x (6, 7)", reveal=True,
                 hint="out = np.maximum(x, 0).")


@test("2.2", 1, "relu_forward", "relu_backward")
@gated
def test_relu_backward(ctx: Context) -> None:
    """relu_backward: dx matches the numeric gradient of your relu_forward"""
    f = _fx(ctx, "relu", False)
    _layer_gradcheck(ctx, "relu_forward", "relu_backward", (f["x"],), ("dx",), f["dout"],
                     seed=SEED + 2, hint="dx = dout where x > 0, else 0.")


@test("2.3", 0.5, "relu_forward", "relu_backward", visibility="hidden")
def test_relu_hidden(ctx: Context) -> None:
    """relu_forward / relu_backward: match the reference (hidden inputs)"""
    f = _fx(ctx, "relu", True)
    _check_layer(ctx, "relu_forward", "relu_backward", (f["x"],), f, ("x",), "hidden case",
                 reveal=False, hint="out = np.maximum(x, 0).",
                 back_hint="dx = dout where x > 0, else 0.")


# -- 3. softmax_loss -------------------------------------------------------------------------
SOFTMAX_HINT = "loss = mean over rows of -log softmax(x)[y]; dx = (softmax(x) - onehot(y)) / N."


def _softmax_case(ctx: Context, case: str, hidden: bool, hint: str = SOFTMAX_HINT) -> None:
    f = _fx(ctx, case, hidden)
    reveal = not hidden
    loss, dx = unpack(ctx.call("layers.softmax_loss", f["x"], f["y"]), 2,
                      "softmax_loss return value (loss, dx)")
    label = "hidden case" if hidden else f"x {tuple(f['x'].shape)}"
    sanity.finite_scalar(loss, f"softmax_loss ({label}): loss", hint)
    assert_close(loss, f["loss"], f"softmax_loss ({label}): loss", reveal=reveal, hint=hint)
    assert_close(dx, f["dx"], f"softmax_loss ({label}): dx", reveal=reveal, hint=hint)


@test("3.1", 2, "softmax_loss")
@gated
def test_softmax_loss(ctx: Context) -> None:
    """softmax_loss: loss and dx match the reference"""
    _softmax_case(ctx, "softmax", False)


@test("3.2", 1.5, "softmax_loss")
@gated
def test_softmax_gradcheck(ctx: Context) -> None:
    """softmax_loss: dx matches the numeric gradient of your loss"""
    f = _fx(ctx, "softmax", False)
    x, y = f["x"], f["y"]
    _, dx = unpack(ctx.call("layers.softmax_loss", x, y), 2, "softmax_loss return value")
    gradcheck.gradcheck(
        ctx.worker, lambda xi: [req_call("layers.softmax_loss", (xi, y))], x, dx,
        lambda v: as_scalar(unpack(v, 2, "softmax_loss return value")[0], "softmax_loss: loss"),
        "softmax_loss: dx", rng=np.random.default_rng(SEED + 3), hint=SOFTMAX_HINT)


@test("3.3", 1, "softmax_loss")
@gated
def test_softmax_stable(ctx: Context) -> None:
    """softmax_loss: numerically stable for scores of about 1e4"""
    _softmax_case(ctx, "softmax_large", False, sanity.STABILITY_HINT)


@test("3.4", 0.5, "softmax_loss", visibility="hidden")
def test_softmax_hidden(ctx: Context) -> None:
    """softmax_loss: loss and dx match the reference (hidden inputs)"""
    with _judged(ctx, "softmax_loss"):
        _softmax_case(ctx, "softmax", True)
        _softmax_case(ctx, "softmax_large", True, sanity.STABILITY_HINT)


# -- 4. conv naive ---------------------------------------------------------------------------
CONV_HINT = ("H_out = 1 + (H + 2*pad - HH) // stride; window (i, j) starts at row i*stride, "
             "column j*stride of the zero-padded input.")
CONV_BACK_HINT = ("send dout[n, f, i, j] to the same strided window of the padded input that "
                  "the forward pass read (and to w[f]); db sums dout over n, i, j; then drop "
                  "the padding.")


def _conv_args(f: dict[str, np.ndarray]) -> tuple:
    return f["x"], f["w"], f["b"], _conv_param(f)


def _conv_fixture(ctx: Context, fwd: str, bwd: str | None, case: str, hidden: bool,
                  hint: str = CONV_HINT, back_hint: str = CONV_BACK_HINT) -> None:
    f = _fx(ctx, case, hidden)
    _check_layer(ctx, fwd, bwd, _conv_args(f), f, ("x", "w", "b"),
                 _case_label(case, f, not hidden, ("stride", "pad")), reveal=not hidden,
                 hint=hint, back_hint=back_hint)


@test("4.1", 3, "conv_forward_naive")
@gated
def test_conv_naive_forward(ctx: Context) -> None:
    """conv_forward_naive: output matches the reference (stride 1, pad 1, 3x3 filters)"""
    _conv_fixture(ctx, "conv_forward_naive", None, "conv_s1", False)


@test("4.2", 2, "conv_forward_naive")
@gated
def test_conv_naive_forward_s2(ctx: Context) -> None:
    """conv_forward_naive: output matches the reference (stride 2, 3x2 filters, size rounds down)"""
    _conv_fixture(ctx, "conv_forward_naive", None, "conv_s2", False)


@test("4.3", 2.5, "conv_forward_naive", "conv_backward_naive")
@gated
def test_conv_naive_backward(ctx: Context) -> None:
    """conv_backward_naive: dx, dw, db match numeric gradients of your forward (stride 1)"""
    f = _fx(ctx, "conv_s1", False)
    _layer_gradcheck(ctx, "conv_forward_naive", "conv_backward_naive", _conv_args(f),
                     ("dx", "dw", "db"), f["dout"], seed=SEED + 4, hint=CONV_BACK_HINT)


@test("4.4", 2, "conv_forward_naive", "conv_backward_naive")
@gated
def test_conv_naive_backward_s2(ctx: Context) -> None:
    """conv_backward_naive: dx, dw, db match numeric gradients of your forward (stride 2, 3x2)"""
    f = _fx(ctx, "conv_s2", False)
    _layer_gradcheck(ctx, "conv_forward_naive", "conv_backward_naive", _conv_args(f),
                     ("dx", "dw", "db"), f["dout"], seed=SEED + 5, hint=CONV_BACK_HINT)


@test("4.5", 1.5, "conv_forward_naive", "conv_backward_naive", visibility="hidden")
def test_conv_naive_hidden(ctx: Context) -> None:
    """conv_forward_naive / conv_backward_naive: match the reference (hidden inputs)"""
    for case in CONV_CASES:
        _conv_fixture(ctx, "conv_forward_naive", "conv_backward_naive", case, True)
    T = _trusted()
    s = ctx.settings["naive_backward"]["conv"]
    rng = _fresh_rng()
    param = {"stride": int(s["stride"]), "pad": int(s["pad"])}

    def draw() -> tuple[tuple, np.ndarray]:
        x, w = rng.standard_normal(s["x"]), rng.standard_normal(s["w"])
        args = (x, w, rng.standard_normal(s["w"][0]), dict(param))
        return args, rng.standard_normal(T.conv_forward(x, w, args[2], **param).shape)
    with _judged(ctx, "conv_backward_naive"):
        _backward_cost(ctx, "conv", draw,
                       lambda a, d: T.conv_backward_loops(d, a[0], a[1], **param),
                       lambda a, d: T.conv_backward(d, a[0], a[1], **param), ("dx", "dw", "db"))


# Cost of a naive backward pass: a loop does about one step per output value; a numeric
# derivative of the forward does two forward passes per input value, far more at the sizes in
# the settings. Only the hidden tests (and through their verdicts the visible ones) judge it.
COST_HINT = ("derive the gradient: one pass over the output values (as the forward does), "
             "each sending dout to what produced it; differentiating your forward pass "
             "numerically is a gradient check, not a backward pass.")


def _backward_cost(ctx: Context, kind: str, draw: Draw,
                   loops: Callable[[tuple, np.ndarray], Any],
                   reference: Callable[[tuple, np.ndarray], Any], names: Sequence[str]) -> None:
    """The student's naive backward on fresh inputs (answers checked against the grader's),
    timed against the grader's loop over the output values (`loops`); the first of up to
    `repeats` tries within `max_ratio` passes, a try far beyond it ends the check."""
    if _trusted() is None:
        return
    s = ctx.settings["naive_backward"]
    fwd, bwd, limit = (f"{kind}_forward_naive", f"{kind}_backward_naive",
                       float(s[kind]["max_ratio"]))
    ratio, t_yours = float("inf"), 0.0
    for _ in range(s["repeats"]):
        args, dout = draw()
        _, cache = _forward(ctx, fwd, args)
        t_yours, grads = _timed(lambda: _backward(ctx, bwd, dout, cache, len(names)))
        t_loop = _timed(lambda: loops(args, dout))[0]
        _check_answers(grads, reference(args, dout), names, f"{bwd} (hidden case)", COST_HINT)
        ratio = min(ratio, t_yours / max(t_loop, 1e-9))
        if ratio <= limit or ratio > 4 * limit:
            break
    if ratio > limit:
        raise CheckFailed(f"{bwd}: took {t_yours * 1e3:.0f} ms on a hidden input, {ratio:.0f}x "
                          f"the time of a plain loop over the output values (at most "
                          f"{limit:g}x is allowed). Hint: {COST_HINT}")
    ctx.note(f"{bwd}: {ratio:.1f}x the time of a plain loop over the output values (at most "
             f"{limit:g}x allowed).")


# -- 5. conv fast ----------------------------------------------------------------------------
FAST_HINT = "the fast version must compute exactly what the naive definition does."


@test("5.1", 3, "conv_forward_fast")
@gated
def test_conv_fast_forward(ctx: Context) -> None:
    """conv_forward_fast: equals the naive definition (stride 1 and 2, non-square filters)"""
    for case in CONV_CASES:
        _conv_fixture(ctx, "conv_forward_fast", None, case, False, f"{FAST_HINT} {CONV_HINT}")


@test("5.2", 3, "conv_forward_fast", "conv_backward_fast")
@gated
def test_conv_fast_backward(ctx: Context) -> None:
    """conv_backward_fast: equals the naive backward (stride 1 and 2, non-square filters)"""
    for case in CONV_CASES:
        _conv_fixture(ctx, "conv_forward_fast", "conv_backward_fast", case, False,
                      f"{FAST_HINT} {CONV_HINT}",
                      f"{FAST_HINT} In col2im, windows overlap when stride < filter size: "
                      "add (+=) every column into its window.")


def _timed_pair(ctx: Context, fwd: str, bwd: str, args: tuple, dout: np.ndarray) -> tuple:
    """One forward (cache kept in the worker) + backward of the student's, from this process:
    (out, *grads) as returned."""
    out, cache = _forward(ctx, fwd, args)
    return (out, *_backward(ctx, bwd, dout, cache, 1 if "pool" in bwd else 3))


def _fresh_rng() -> np.random.Generator:
    """A generator for inputs nobody has seen before (drawn at grading time)."""
    return np.random.default_rng(secrets.randbits(64))


def _draw_shape(rng: np.random.Generator, ranges: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """One size per (low, high) inclusive range."""
    return tuple(int(rng.integers(lo, hi + 1)) for lo, hi in ranges)


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = run()
    return time.perf_counter() - t0, result


Draw = Callable[[], tuple[tuple, np.ndarray]]        # -> (forward args, dout), fresh each call


def _check_answers(got: Sequence[Any], expected: Sequence[np.ndarray], names: Sequence[str],
                   what: str, hint: str) -> None:
    for name, g, e in zip(names, got, expected):
        assert_close(g, e, f"{what}: {name}", reveal=False, hint=hint)


def _speed_check(ctx: Context, kind: str, draw: Draw, gate_: Callable[[], None],
                 yardstick: Callable[[tuple, np.ndarray], Sequence[np.ndarray]]) -> None:
    """The student's fast fwd+bwd (a sandbox round trip) against the grader's own vectorized
    fwd+bwd, timed here and interleaved: nothing the student writes can slow the yardstick
    down. Every timed call gets fresh inputs (`draw`) and its answers must equal the
    yardstick's, so caching results or recognising the timed input earns nothing. The allowed
    ratio is the reference's times a margin (settings)."""
    try:
        gate_()      # speed is credited only for a fast version that is right
    except CheckFailed as exc:
        raise CheckFailed(f"Speed is credited only once the fast version is correct: {exc}") \
            from None
    s = ctx.settings["speed"]
    fast = (f"{kind}_forward_fast", f"{kind}_backward_fast")
    if _trusted() is None:     # the student release: no yardstick shipped
        ctx.note("Provisional: the speed of the fast version is measured after you submit.")
        return
    names = ("out", "dx", "dw", "db") if kind == "conv" else ("out", "dx")
    best = {"yours": float("inf"), "grader": float("inf")}
    shape: tuple[int, ...] = ()
    for _ in range(s["repeats"]):
        args, dout = draw()
        shape = tuple(args[0].shape)
        t_yours, got = _timed(lambda: _timed_pair(ctx, *fast, args, dout))
        t_grader, expected = _timed(lambda: yardstick(args, dout))
        best = {"yours": min(best["yours"], t_yours), "grader": min(best["grader"], t_grader)}
        _check_answers(got, expected, names, f"{fast[0]} + {fast[1]} (timed, x of shape "
                       f"{shape}, fresh values)", FAST_HINT)
    ratio = best["yours"] / max(best["grader"], 1e-9)
    limit = s[kind]["max_ratio"]
    if ratio > limit:
        raise CheckFailed(
            f"{fast[0]} + {fast[1]} took {best['yours'] * 1e3:.1f} ms on x of shape "
            f"{shape}: {ratio:.0f}x the time of the grader's vectorized version "
            f"({best['grader'] * 1e3:.2f} ms); at most {limit:g}x is allowed. Hint: no Python "
            "loops over examples, channels or output pixels.")
    ctx.note(f"{fast[0]} + {fast[1]}: {best['yours'] * 1e3:.1f} ms on x of shape {shape}, "
             f"{ratio:.1f}x the grader's vectorized version (at most {limit:g}x allowed).")


def _conv_draw(s: dict[str, Any]) -> Draw:
    """Fresh conv inputs (stride 1, 'same' padding) of one shape drawn now from the ranges."""
    rng = _fresh_rng()
    n, c, h, w = _draw_shape(rng, s["x"])
    f, k = int(rng.integers(s["filters"][0], s["filters"][1] + 1)), int(s["filter_size"])
    param = {"stride": 1, "pad": (k - 1) // 2}

    def draw() -> tuple[tuple, np.ndarray]:
        args = (rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, k, k)),
                rng.standard_normal(f), dict(param))
        return args, rng.standard_normal((n, f, h, w))
    return draw


@test("5.3", 3, "conv_forward_fast", "conv_backward_fast")
@gated
def test_conv_speedup(ctx: Context) -> None:
    """conv_forward_fast + conv_backward_fast: about as fast as a vectorized version"""
    T = _trusted()
    _speed_check(ctx, "conv", _conv_draw(ctx.settings["speed"]["conv"]),
                 lambda: _conv_fixture(ctx, "conv_forward_fast", "conv_backward_fast",
                                       "conv_s1", False, FAST_HINT),
                 lambda args, dout: T.conv_pair(*args[:3], dout, args[3]))


@test("5.4", 1, "conv_forward_fast", "conv_backward_fast", visibility="hidden")
def test_conv_fast_hidden(ctx: Context) -> None:
    """conv_forward_fast / conv_backward_fast: match the reference (hidden inputs)"""
    for case in CONV_CASES:
        _conv_fixture(ctx, "conv_forward_fast", "conv_backward_fast", case, True)


# -- 6. max pool naive -----------------------------------------------------------------------
POOL_HINT = ("H_out = 1 + (H - pool_height) // stride; window (i, j) starts at row i*stride, "
             "column j*stride.")
POOL_BACK_HINT = ("only the maximum of each window gets dout[n, c, i, j]; every other entry "
                  "of the window gets 0; overlapping windows add up.")


def _pool_fixture(ctx: Context, fwd: str, bwd: str | None, case: str, hidden: bool,
                  hint: str = POOL_HINT, back_hint: str = POOL_BACK_HINT) -> None:
    f = _fx(ctx, case, hidden)
    _check_layer(ctx, fwd, bwd, (f["x"], _pool_param(f)), f, ("x",),
                 _case_label(case, f, not hidden, ("pool_height", "pool_width", "stride")),
                 reveal=not hidden, hint=hint, back_hint=back_hint)


@test("6.1", 2, "max_pool_forward_naive")
@gated
def test_pool_naive_forward(ctx: Context) -> None:
    """max_pool_forward_naive: output matches the reference (2x2/2, 3x2/1, 2x3/2 windows)"""
    for case in POOL_CASES:
        _pool_fixture(ctx, "max_pool_forward_naive", None, case, False)


@test("6.2", 3, "max_pool_forward_naive", "max_pool_backward_naive")
@gated
def test_pool_naive_backward(ctx: Context) -> None:
    """max_pool_backward_naive: dx matches the numeric gradient of your max_pool_forward_naive"""
    for k, case in enumerate(POOL_CASES):
        f = _fx(ctx, case, False)
        _layer_gradcheck(ctx, "max_pool_forward_naive", "max_pool_backward_naive",
                         (f["x"], _pool_param(f)), ("dx",), f["dout"], seed=SEED + 10 + k,
                         hint=POOL_BACK_HINT)


@test("6.3", 1, "max_pool_forward_naive", "max_pool_backward_naive", visibility="hidden")
def test_pool_naive_hidden(ctx: Context) -> None:
    """max_pool_forward_naive / max_pool_backward_naive: match the reference (hidden inputs)"""
    for case in POOL_CASES:
        _pool_fixture(ctx, "max_pool_forward_naive", "max_pool_backward_naive", case, True)
    T = _trusted()
    s = ctx.settings["naive_backward"]["max_pool"]
    rng = _fresh_rng()
    size = int(s["size"])
    param = {"pool_height": size, "pool_width": size, "stride": size}
    n, c, h, w = s["x"]

    def draw() -> tuple[tuple, np.ndarray]:
        return ((rng.standard_normal((n, c, h, w)), dict(param)),
                rng.standard_normal((n, c, h // size, w // size)))
    with _judged(ctx, "max_pool_backward_naive"):
        _backward_cost(ctx, "max_pool", draw,
                       lambda a, d: T.pool_backward_loops(d, a[0], size, size),
                       lambda a, d: (T.pool_backward(d, a[0], size),), ("dx",))


# -- 7. max pool fast ------------------------------------------------------------------------
@test("7.1", 2, "max_pool_forward_fast")
@gated
def test_pool_fast_forward(ctx: Context) -> None:
    """max_pool_forward_fast: equals the naive definition (tiling and overlapping windows)"""
    for case in POOL_CASES:
        _pool_fixture(ctx, "max_pool_forward_fast", None, case, False, f"{FAST_HINT} {POOL_HINT}")


@test("7.2", 2, "max_pool_forward_fast", "max_pool_backward_fast")
@gated
def test_pool_fast_backward(ctx: Context) -> None:
    """max_pool_backward_fast: equals the naive backward (tiling and overlapping windows)"""
    for case in POOL_CASES:
        _pool_fixture(ctx, "max_pool_forward_fast", "max_pool_backward_fast", case, False,
                      f"{FAST_HINT} {POOL_BACK_HINT}")


def _pool_draw(s: dict[str, Any]) -> Draw:
    """Fresh pooling inputs (square tiling windows) of one shape drawn now from the ranges."""
    rng = _fresh_rng()
    size = int(s["size"])
    n, c, h, w = _draw_shape(rng, s["x"])
    h, w = h - h % size, w - w % size
    param = {"pool_height": size, "pool_width": size, "stride": size}

    def draw() -> tuple[tuple, np.ndarray]:
        return ((rng.standard_normal((n, c, h, w)), dict(param)),
                rng.standard_normal((n, c, h // size, w // size)))
    return draw


@test("7.3", 1.5, "max_pool_forward_fast", "max_pool_backward_fast")
@gated
def test_pool_speedup(ctx: Context) -> None:
    """max_pool_forward_fast + max_pool_backward_fast: about as fast as a vectorized version"""
    T = _trusted()
    _speed_check(ctx, "max_pool", _pool_draw(ctx.settings["speed"]["max_pool"]),
                 lambda: _pool_fixture(ctx, "max_pool_forward_fast", "max_pool_backward_fast",
                                       "pool_tile", False, FAST_HINT),
                 lambda args, dout: T.pool_pair(args[0], dout, args[1]))


@test("7.4", 0.5, "max_pool_forward_fast", "max_pool_backward_fast", visibility="hidden")
def test_pool_fast_hidden(ctx: Context) -> None:
    """max_pool_forward_fast / max_pool_backward_fast: match the reference (hidden inputs)"""
    for case in POOL_CASES:
        _pool_fixture(ctx, "max_pool_forward_fast", "max_pool_backward_fast", case, True)


# -- 8. dropout ------------------------------------------------------------------------------
DROPOUT_MEAN_TOL = 0.05       # relative change of the mean (p = 0.25: sd 0.008, so about 6 sigma)


def _dropout(ctx: Context, x: np.ndarray, param: dict[str, Any]) -> tuple[np.ndarray, Handle]:
    out, cache = _forward(ctx, "dropout_forward", (x, param))
    what = f"dropout_forward (mode {param['mode']!r}, p={param['p']:g})"
    arr = as_array(out, f"{what}: out")
    if arr.shape != x.shape:
        _release(ctx, [cache])
        raise CheckFailed(f"{what}: out has shape {arr.shape}, expected {x.shape}.")
    if not np.all(np.isfinite(arr)):
        _release(ctx, [cache])
        raise CheckFailed(f"{what}: out contains non-finite values.")
    return arr, cache


DROPOUT_RANDOM_HINT = ("every unit is kept independently with probability p: draw a fresh "
                       "uniform number per unit (rng.random(x.shape) < p), no pattern.")


def _too_far(stat: float, expected: float, sd: float, z: float) -> bool:
    return abs(stat - expected) > z * sd


def _mask_statistics(ctx: Context, kept: np.ndarray, p: float, what: str) -> None:
    """The mask of one call (2-d) looks like independent Bernoulli(p) draws: keep rate, keep
    counts per row and per column (chi-square dispersion), agreement of neighbours along each
    axis; each within settings' z standard deviations of what independence gives."""
    z = float(ctx.settings["dropout"]["z"])
    n = kept.size
    frac = float(kept.mean())
    if _too_far(frac, p, np.sqrt(p * (1 - p) / n), z):
        raise CheckFailed(f"{what}: kept {frac:.4f} of the activations, expected about p = "
                          f"{p:g}. Hint: p is the probability of KEEPING a unit: mask = "
                          "rng.random(x.shape) < p.")
    for axis, name in ((0, "column"), (1, "row")):
        counts = kept.sum(axis=axis)
        trials = kept.shape[axis]
        chi = float(np.sum((counts - trials * p) ** 2) / (trials * p * (1 - p)))
        if _too_far(chi, len(counts), np.sqrt(2 * len(counts)), z):
            raise CheckFailed(f"{what}: the number of kept units varies from {name} to {name} "
                              f"unlike independent draws (chi-square {chi:.0f} for "
                              f"{len(counts)} {name}s). Hint: {DROPOUT_RANDOM_HINT}")
    q = p * p + (1 - p) * (1 - p)      # P(two independent units agree)
    for a, b, name in ((kept[:, :-1], kept[:, 1:], "horizontal"),
                       (kept[:-1, :], kept[1:, :], "vertical")):
        agree = float(np.mean(a == b))
        if _too_far(agree, q, np.sqrt(q * (1 - q) / a.size), z):
            raise CheckFailed(f"{what}: {name} neighbours agree in {agree:.3f} of positions; "
                              f"independent units agree in about {q:.3f}. Hint: "
                              f"{DROPOUT_RANDOM_HINT}")


def _masks_independent(ctx: Context, a: np.ndarray, b: np.ndarray, p: float, what: str) -> None:
    """Two masks (from different seeds, or two calls without a seed) agree about as often as
    independent draws do."""
    z = float(ctx.settings["dropout"]["z"])
    q = p * p + (1 - p) * (1 - p)
    agree = float(np.mean(a == b))
    if _too_far(agree, q, np.sqrt(q * (1 - q) / a.size), z):
        raise CheckFailed(f"{what}: the two masks agree in {agree:.1%} of positions; two "
                          f"independent masks agree in about {q:.1%}. Hint: draw the mask from "
                          "np.random.default_rng(dropout_param.get('seed')): a seed gives a "
                          "repeatable mask, no seed a fresh one every call.")


@test("8.1", 2.5, "dropout_forward")
def test_dropout_train(ctx: Context) -> None:
    """dropout_forward (train): keeps each unit independently with probability p, scales by 1/p"""
    x = np.random.default_rng(SEED + 20).uniform(0.5, 1.5, (200, 250))
    for p, seed in ((0.7, 11), (0.25, None)):
        param: dict[str, Any] = {"p": p, "mode": "train"}
        if seed is not None:
            param["seed"] = seed
        out, cache = _dropout(ctx, x, param)
        _release(ctx, [cache])
        what = f"dropout_forward (train, p={p:g}" + (", no seed)" if seed is None else ")")
        kept = out != 0
        _mask_statistics(ctx, kept, p, what)
        assert_close(out[kept], x[kept] / p, f"{what}: kept values", hint="inverted dropout "
                     "divides the kept activations by p, so nothing changes at test time.")
        mean_x, mean_out = float(x.mean()), float(out.mean())
        if abs(mean_out - mean_x) > DROPOUT_MEAN_TOL * mean_x:
            raise CheckFailed(f"{what}: the mean activation changed from {mean_x:.4f} to "
                              f"{mean_out:.4f}. Hint: divide the kept values by p.")


@test("8.2", 1, "dropout_forward", "dropout_backward")
def test_dropout_test_mode(ctx: Context) -> None:
    """dropout_forward / dropout_backward (test mode): the identity"""
    rng = np.random.default_rng(SEED + 21)
    x, dout = rng.standard_normal((40, 30)), rng.standard_normal((40, 30))
    out, cache = _dropout(ctx, x, {"p": 0.3, "mode": "test", "seed": 5})
    try:
        assert_close(out, x, "dropout_forward (test mode): out",
                     hint="in test mode return x unchanged (inverted dropout scaled at "
                          "train time).")
    except CheckFailed:
        _release(ctx, [cache])
        raise
    (dx,) = _backward(ctx, "dropout_backward", dout, cache, 1)
    assert_close(dx, dout, "dropout_backward (test mode): dx", hint="in test mode dx = dout.")


@test("8.3", 1.5, "dropout_forward", "dropout_backward")
def test_dropout_backward(ctx: Context) -> None:
    """dropout_backward (train): uses the forward pass's mask and scaling"""
    rng = np.random.default_rng(SEED + 22)
    x = rng.uniform(0.5, 1.5, (100, 80))
    dout = rng.standard_normal(x.shape)
    out, cache = _dropout(ctx, x, {"p": 0.6, "mode": "train", "seed": 3})
    try:     # a backward is only as good as the mask it reuses
        _mask_statistics(ctx, out != 0, 0.6, "dropout_forward (train, p=0.6)")
    except CheckFailed:
        _release(ctx, [cache])
        raise
    (dx,) = _backward(ctx, "dropout_backward", dout, cache, 1)
    # out = x * mask / p elementwise, so the gradient is dout * out / x (x is never 0 here).
    assert_close(dx, dout * out / x, "dropout_backward (train, p=0.6): dx",
                 hint="dx = dout * mask, with the same (scaled) mask as the forward pass: keep "
                      "it in the cache rather than drawing a new one.")


@test("8.4", 1, "dropout_forward")
def test_dropout_seed(ctx: Context) -> None:
    """dropout_forward: the same seed gives the same mask; other seeds and unseeded calls independent ones"""
    x = np.random.default_rng(SEED + 23).uniform(0.5, 1.5, (100, 100))
    p = 0.7
    outs = []
    for seed in (3, 3, 4, None, None):
        param: dict[str, Any] = {"p": p, "mode": "train"}
        if seed is not None:
            param["seed"] = seed
        out, cache = _dropout(ctx, x, param)
        _release(ctx, [cache])
        outs.append(out != 0)
    sanity.same_result(outs[0].astype(float), outs[1].astype(float),
                       "dropout_forward (train, seed=3 twice): the mask")
    _masks_independent(ctx, outs[0], outs[2], p, "dropout_forward (train, seeds 3 and 4)")
    _masks_independent(ctx, outs[3], outs[4], p, "dropout_forward (train, two calls without "
                                                 "a seed)")


# -- 9. batchnorm ----------------------------------------------------------------------------
BN_HINT = ("train: x_hat = (x - batch mean) / sqrt(batch var + eps) with the biased (divide by "
           "N) variance, out = gamma * x_hat + beta; test: the same with the running statistics.")
BN_STATS_HINT = ("running = momentum * running + (1 - momentum) * batch statistic, written back "
                 "into bn_param['running_mean'] / ['running_var'] (defaults: momentum 0.9, "
                 "eps 1e-5, running statistics start at zeros).")
BN_TEST_BACK_HINT = ("in test mode the running statistics are constants, so the layer is an "
                     "elementwise affine function of x.")
BN_BACK_HINT = ("in train mode the batch mean and variance depend on every row of x: "
                "backpropagate through them too (draw the graph x -> mean, var -> x_hat -> out).")


def _bn_run(ctx: Context, fwd: str, f: dict[str, np.ndarray], mode: str
            ) -> tuple[Any, Handle, dict[str, Any]]:
    """Call a batchnorm forward with bn_param held in the worker; return (out, cache handle,
    the running statistics found in bn_param afterwards)."""
    param = ctx.new("builtins.dict", _bn_param(f, mode))
    try:
        out, cache = _forward(ctx, fwd, (f["x"], f["gamma"], f["beta"], param))
        stats = {k: ctx.method(param, "get", k) for k in ("running_mean", "running_var")}
    finally:
        _release(ctx, [param])
    return out, cache, stats


def _check_bn(ctx: Context, fwd: str, bwd: str | None, case: str, mode: str, hidden: bool, *,
              out: bool = True, stats: bool = False) -> None:
    f = _fx(ctx, case, hidden)
    reveal = not hidden
    label = "hidden case" if hidden else \
        f"mode {mode!r}, x {tuple(f['x'].shape)}, bn_param keys " \
        f"{sorted(_bn_param(f, mode))}"
    judge = (lambda fn: _judged(ctx, fn)) if hidden else (lambda fn: contextlib.nullcontext())
    cache = None
    with judge(fwd):
        got, cache, running = _bn_run(ctx, fwd, f, mode)
        try:
            if out:
                assert_close(got, f["out"], f"{fwd} ({label}): out", reveal=reveal,
                             hint=BN_HINT)
            if stats:
                for key in ("running_mean", "running_var"):
                    if running[key] is None:
                        raise CheckFailed(f"{fwd} ({label}): bn_param[{key!r}] was not "
                                          f"written back. Hint: {BN_STATS_HINT}")
                    assert_close(running[key], f[f"{key}_out"],
                                 f"{fwd} ({label}): bn_param[{key!r}] after the call",
                                 reveal=reveal, hint=BN_STATS_HINT)
        except CheckFailed:
            _release(ctx, [cache])
            raise
    if bwd is None:
        _release(ctx, [cache])
        return
    with judge(bwd):
        grads = _backward(ctx, bwd, f["dout"], cache, 3)
        for name, grad in zip(("x", "gamma", "beta"), grads):
            assert_close(grad, f[f"d{name}"], f"{bwd} ({label}): d{name}", reveal=reveal,
                         hint=BN_BACK_HINT if mode == "train" else BN_TEST_BACK_HINT)


def _bn_gradcheck(ctx: Context, fwd: str, bwd: str, case: str, mode: str, seed: int) -> None:
    f = _fx(ctx, case, False)
    _layer_gradcheck(ctx, fwd, bwd, (f["x"], f["gamma"], f["beta"], _bn_param(f, mode)),
                     ("dx", "dgamma", "dbeta"), f["dout"], seed=seed,
                     hint=BN_BACK_HINT if mode == "train" else BN_TEST_BACK_HINT)


@test("9.1", 2, "batchnorm_forward")
@gated
def test_bn_forward_train(ctx: Context) -> None:
    """batchnorm_forward (train): output matches the reference (given and default eps)"""
    _check_bn(ctx, "batchnorm_forward", None, "bn_train", "train", False)
    _check_bn(ctx, "batchnorm_forward", None, "bn_defaults", "train", False)


@test("9.2", 1.5, "batchnorm_forward")
@gated
def test_bn_running_stats(ctx: Context) -> None:
    """batchnorm_forward (train): running mean and variance are updated and written back"""
    _check_bn(ctx, "batchnorm_forward", None, "bn_train", "train", False, out=False, stats=True)
    _check_bn(ctx, "batchnorm_forward", None, "bn_defaults", "train", False, out=False,
              stats=True)


@test("9.3", 1.5, "batchnorm_forward")
@gated
def test_bn_forward_test(ctx: Context) -> None:
    """batchnorm_forward (test): normalizes with the running statistics and leaves them unchanged"""
    _check_bn(ctx, "batchnorm_forward", None, "bn_test", "test", False, stats=True)


@test("9.4", 3, "batchnorm_forward", "batchnorm_backward")
@gated
def test_bn_backward_train(ctx: Context) -> None:
    """batchnorm_backward (train): dx, dgamma, dbeta match numeric gradients of your forward"""
    _bn_gradcheck(ctx, "batchnorm_forward", "batchnorm_backward", "bn_train", "train",
                  SEED + 30)


@test("9.5", 1, "batchnorm_forward", "batchnorm_backward")
@gated
def test_bn_backward_test(ctx: Context) -> None:
    """batchnorm_backward (test): dx, dgamma, dbeta match numeric gradients of your forward"""
    _bn_gradcheck(ctx, "batchnorm_forward", "batchnorm_backward", "bn_test", "test", SEED + 31)


@test("9.6", 1, "batchnorm_forward", "batchnorm_backward", visibility="hidden")
def test_bn_hidden(ctx: Context) -> None:
    """batchnorm_forward / batchnorm_backward: match the reference (hidden inputs)"""
    _check_bn(ctx, "batchnorm_forward", "batchnorm_backward", "bn_train", "train", True,
              stats=True)
    _check_bn(ctx, "batchnorm_forward", "batchnorm_backward", "bn_defaults", "train", True,
              stats=True)
    _check_bn(ctx, "batchnorm_forward", "batchnorm_backward", "bn_test", "test", True)


# -- 10. spatial batchnorm -------------------------------------------------------------------
# Spatial batchnorm reshapes and reuses batchnorm_forward / _backward (as the stubs suggest),
# so its tests are tagged with those too.
SBN = ("spatial_batchnorm_forward", "spatial_batchnorm_backward")


@test("10.1", 1.5, "spatial_batchnorm_forward", "batchnorm_forward")
@gated
def test_sbn_forward_train(ctx: Context) -> None:
    """spatial_batchnorm_forward (train): output and running statistics match the reference"""
    _check_bn(ctx, SBN[0], None, "sbn_train", "train", False, stats=True)


@test("10.2", 1, "spatial_batchnorm_forward", "batchnorm_forward")
@gated
def test_sbn_forward_test(ctx: Context) -> None:
    """spatial_batchnorm_forward (test): normalizes each channel with the running statistics"""
    _check_bn(ctx, SBN[0], None, "sbn_test", "test", False, stats=True)


@test("10.3", 1.5,
      "spatial_batchnorm_forward", "spatial_batchnorm_backward", "batchnorm_forward", "batchnorm_backward")
@gated
def test_sbn_backward(ctx: Context) -> None:
    """spatial_batchnorm_backward (train): dx, dgamma, dbeta match numeric gradients"""
    _bn_gradcheck(ctx, *SBN, "sbn_train", "train", SEED + 32)


@test("10.4", 0.5,
      "spatial_batchnorm_forward", "spatial_batchnorm_backward", "batchnorm_forward", "batchnorm_backward", visibility="hidden")
def test_sbn_hidden(ctx: Context) -> None:
    """spatial_batchnorm_forward / _backward: match the reference (hidden inputs)"""
    _check_bn(ctx, *SBN, "sbn_train", "train", True, stats=True)
    _check_bn(ctx, *SBN, "sbn_test", "test", True)


# -- 11. update rules ------------------------------------------------------------------------
RULE_HINTS = {
    "sgd": "next_w = w - learning_rate * dw.",
    "sgd_momentum": "v = momentum * v - learning_rate * dw; next_w = w + v; keep v in "
                    "config between steps (it starts at zeros).",
    "rmsprop": "cache = decay_rate * cache + (1 - decay_rate) * dw**2; next_w = w - "
               "learning_rate * dw / (sqrt(cache) + epsilon); keep cache in config.",
    "adam": "t += 1 FIRST, then m, v and the bias corrections m / (1 - beta1**t), "
            "v / (1 - beta2**t); keep m, v and t in config.",
}


def _check_rule(ctx: Context, rule: str, hidden: bool) -> None:
    """OPTIM_STEPS steps with the returned config passed back in, then one default step."""
    f = _fx(ctx, rule, hidden)
    reveal = not hidden
    hint = RULE_HINTS[rule]
    config: Any = {k: float(f[k]) for k in OPTIM_CASES[rule]}
    shown = config if reveal else "the test's hyper-parameters"
    w = f["w0"]
    for k in range(OPTIM_STEPS):
        what = f"{rule} step {k + 1} of {OPTIM_STEPS} (config {shown}" + \
            (", then the config you returned)" if k else ")")
        next_w, config = unpack(ctx.call(f"optim.{rule}", w, f["dws"][k], config), 2,
                                f"{rule} return value (next_w, config)")
        if not isinstance(config, dict):
            raise CheckFailed(f"{rule}: expected the config dict as second return value, got "
                              f"{type(config).__name__}.")
        w = assert_close(next_w, f["w_steps"][k], f"{what}: next_w", reveal=reveal, hint=hint)
    next_w, _ = unpack(ctx.call(f"optim.{rule}", f["w0"], f["dws"][0], None), 2,
                       f"{rule} return value (next_w, config)")
    assert_close(next_w, f["w_default"], f"{rule} with config=None (the defaults): next_w",
                 reveal=reveal, hint="fill in the default hyper-parameters when config is None.")


@test("11.1", 1.5, "sgd")
@gated
def test_sgd(ctx: Context) -> None:
    """sgd: three steps match the reference"""
    _check_rule(ctx, "sgd", False)


@test("11.2", 2, "sgd_momentum")
@gated
def test_sgd_momentum(ctx: Context) -> None:
    """sgd_momentum: three steps match the reference (velocity kept in config)"""
    _check_rule(ctx, "sgd_momentum", False)


@test("11.3", 2, "rmsprop")
@gated
def test_rmsprop(ctx: Context) -> None:
    """rmsprop: three steps match the reference (cache kept in config)"""
    _check_rule(ctx, "rmsprop", False)


@test("11.4", 3, "adam")
@gated
def test_adam(ctx: Context) -> None:
    """adam: three steps match the reference (m, v, t kept in config)"""
    _check_rule(ctx, "adam", False)


@test("11.5", 1, "sgd", "sgd_momentum", "rmsprop", "adam", visibility="hidden")
def test_rules_hidden(ctx: Context) -> None:
    """sgd, sgd_momentum, rmsprop, adam: match the reference (hidden inputs and fresh ones)"""
    rng = np.random.default_rng(secrets.randbits(64))    # inputs nobody has seen before
    failures: list[Exception] = []
    for rule in OPTIM_CASES:       # every rule is judged, whichever fails first
        try:
            with _judged(ctx, rule):
                _check_rule(ctx, rule, True)
                _fresh_rule(ctx, rule, rng)
        except (CheckFailed, StudentError) as exc:
            failures.append(exc)
    crashes = [e for e in failures if isinstance(e, StudentError)]
    if crashes:
        raise crashes[0]
    if failures:
        raise CheckFailed("\n\n".join(str(e) for e in failures))


# Ranges the fresh hyper-parameters are drawn from (a rule must honour whatever it is given).
FRESH_RULE_RANGES = {"learning_rate": (1e-3, 1e-1), "momentum": (0.5, 0.95),
                     "decay_rate": (0.8, 0.999), "beta1": (0.7, 0.95), "beta2": (0.9, 0.9999),
                     "epsilon": (1e-8, 1e-5)}


def _fresh_rule(ctx: Context, rule: str, rng: np.random.Generator) -> None:
    """OPTIM_STEPS steps on weights, gradients and hyper-parameters drawn now, against the
    grader's own update (trusted.update), then one step with config=None."""
    T = _trusted()
    if T is None:
        return
    shape = (int(rng.integers(3, 9)), int(rng.integers(3, 9)))
    w = rng.standard_normal(shape)
    config: Any = {k: float(rng.uniform(*FRESH_RULE_RANGES[k])) for k in OPTIM_CASES[rule]}
    ours: Any = dict(config)
    for k in range(OPTIM_STEPS):
        dw = rng.standard_normal(shape)
        next_w, config = unpack(ctx.call(f"optim.{rule}", w, dw, config), 2,
                                f"{rule} return value (next_w, config)")
        expected, ours = T.update(rule, w, dw, ours)
        w = assert_close(next_w, expected, f"{rule} step {k + 1} (hidden case)", reveal=False,
                         hint=RULE_HINTS[rule])
        if not isinstance(config, dict):
            raise CheckFailed(f"{rule}: expected the config dict as second return value.")
    dw = rng.standard_normal(shape)
    next_w, _ = unpack(ctx.call(f"optim.{rule}", w, dw, None), 2,
                       f"{rule} return value (next_w, config)")
    assert_close(next_w, T.update(rule, w, dw, None)[0], f"{rule} with config=None "
                 "(hidden case)", reveal=False, hint="fill in the default hyper-parameters.")


# -- 12. ThreeLayerConvNet -------------------------------------------------------------------
CNN = "cnn.ThreeLayerConvNet"


@contextlib.contextmanager
def _model_hint() -> Iterator[None]:
    """Append MODEL_NOTE to a model test's failure (the model is built on the layers)."""
    try:
        yield
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}\n\n{MODEL_NOTE}") from None


def _model_from_fixture(ctx: Context, f: dict[str, np.ndarray], reg: float) -> Handle:
    """A float64 model with the fixture's sizes and parameters set in the worker."""
    model = ctx.new(CNN, input_dim=tuple(int(d) for d in f["input_dim"]),
                    num_filters=int(f["num_filters"]), filter_size=int(f["filter_size"]),
                    hidden_dim=int(f["hidden_dim"]), num_classes=int(f["num_classes"]),
                    reg=float(reg), dtype="float64", seed=0)
    ctx.worker.batch([req_set_item(model, "params", k, f[k]) for k in PARAM_KEYS])
    return model


def _loss_grads(ctx: Context, model: Handle, X: np.ndarray, y: np.ndarray,
                what: str) -> tuple[float, dict[str, Any]]:
    loss, grads = unpack(ctx.method(model, "loss", X, y), 2, f"{what} return value (loss, grads)")
    loss = sanity.finite_scalar(loss, f"{what}: loss")
    if not isinstance(grads, dict) or sorted(grads) != sorted(PARAM_KEYS):
        got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        raise CheckFailed(f"{what}: grads must be a dict with the keys of params "
                          f"{list(PARAM_KEYS)}, got {got}.")
    return loss, grads


def _scores(ctx: Context, model: Handle, X: np.ndarray, num_classes: int, what: str,
            chunk: int = 250) -> np.ndarray:
    """Scores of X in chunks (bounded memory in the worker), checked for shape and finiteness."""
    parts = []
    for start in range(0, len(X), chunk):
        part = as_array(ctx.method(model, "loss", X[start:start + chunk]), what)
        expected = (min(chunk, len(X) - start), num_classes)
        if part.shape != expected:
            raise CheckFailed(f"{what}: loss(X) without y must return scores of shape "
                              f"(N, num_classes) = {expected}, got {part.shape}.")
        parts.append(part)
    scores = np.concatenate(parts)
    if not np.all(np.isfinite(scores)):
        raise CheckFailed(f"{what}: the scores contain non-finite values.")
    return scores


def _init_distribution(ctx: Context, w: np.ndarray, scale: float, what: str) -> None:
    """Weights drawn as scale * standard normal: mean, spread and shape of the distribution
    (Kolmogorov-Smirnov against N(0, scale**2)), so e.g. +-scale or uniform weights fail."""
    limit = float(ctx.settings["init_ks_coef"]) / np.sqrt(w.size)
    dist = np.inf if not np.all(np.isfinite(w)) else _normal_ks(w, scale)
    if dist > limit:
        raise CheckFailed(f"{what}: the {w.size} weights do not look like draws from a normal "
                          f"distribution with mean 0 and standard deviation weight_scale = "
                          f"{scale:g} (mean {float(np.mean(w)):.3g}, std {float(np.std(w)):.3g}, "
                          f"Kolmogorov-Smirnov distance {dist:.3f} > {limit:.3f}). Hint: "
                          "weight_scale * rng.standard_normal(shape).")


_erf = np.vectorize(math.erf, otypes=[float])


def _normal_ks(values: np.ndarray, scale: float) -> float:
    """Kolmogorov-Smirnov distance between the values and N(0, scale**2)."""
    z = np.sort(np.asarray(values, dtype=np.float64).ravel()) / scale
    cdf = 0.5 * (1 + _erf(z / math.sqrt(2)))
    n = len(z)
    return float(max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max()))


@test("12.1", 2, "ThreeLayerConvNet")
def test_cnn_init(ctx: Context) -> None:
    """ThreeLayerConvNet: parameter keys, shapes, dtype, scale, and seeding"""
    dims = dict(input_dim=(3, 16, 16), num_filters=5, filter_size=5, hidden_dim=20,
                num_classes=7, weight_scale=1e-2)
    expected = {"W1": (5, 3, 5, 5), "b1": (5,), "W2": (5 * 8 * 8, 20), "b2": (20,),
                "W3": (20, 7), "b3": (7,)}
    default_expected = {"W1": (32, 1, 7, 7), "b1": (32,), "W2": (32 * 14 * 14, 100),
                        "b2": (100,), "W3": (100, 10), "b3": (10,)}
    cases = [(dims, expected, "float32", "ThreeLayerConvNet(input_dim=(3, 16, 16), "
                                         "num_filters=5, filter_size=5, hidden_dim=20, "
                                         "num_classes=7, weight_scale=1e-2, seed=3)"),
             ({**dims, "dtype": "float64"}, expected, "float64", "the same with dtype=float64"),
             ({}, default_expected, "float32", "ThreeLayerConvNet(seed=3) (the defaults)")]
    first = None
    for kwargs, shapes, dtype, what in cases:
        params = ctx.worker.get_attr(ctx.new(CNN, **kwargs, seed=3), "params")
        if not isinstance(params, dict) or sorted(params) != sorted(shapes):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise CheckFailed(f"{what}: params must have exactly the keys "
                              f"{sorted(shapes)}, got {got}.")
        for key, shape in shapes.items():
            value = params[key]
            if not isinstance(value, np.ndarray) or value.dtype != np.dtype(dtype):
                got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
                raise CheckFailed(f"{what}: params[{key!r}] must be a {dtype} array, got "
                                  f"{got}. Hint: convert every parameter with .astype(dtype).")
            arr = sanity.finite_array(value, f"{what}: params[{key!r}]", shape,
                                      hint="conv keeps H and W (pad (F-1)//2), the 2x2 pool "
                                           "halves them.")
            if key.startswith("W") and kwargs:
                _init_distribution(ctx, arr, 1e-2, f"{what}: params[{key!r}]")
        if first is None:
            first = params
    again = ctx.worker.get_attr(ctx.new(CNN, **dims, seed=3), "params")
    for key in PARAM_KEYS:
        sanity.same_result(again.get(key) if isinstance(again, dict) else None, first[key],
                           f"ThreeLayerConvNet(seed=3): params[{key!r}]")


@test("12.2", 3, *MODEL_TAGS)
@gated
def test_cnn_loss_reference(ctx: Context) -> None:
    """ThreeLayerConvNet.loss: scores, loss and gradients match the reference (given params)"""
    f = _fx(ctx, "cnn", False)
    with _model_hint():
        _cnn_loss_reference(ctx, f)


def _cnn_loss_reference(ctx: Context, f: dict[str, np.ndarray], reveal: bool = True) -> None:
    model = _model_from_fixture(ctx, f, float(f["reg"]))
    what = (f"ThreeLayerConvNet.loss (X {tuple(f['X'].shape)}, reg={float(f['reg']):g}, "
            "float64)") if reveal else "ThreeLayerConvNet.loss (hidden case)"
    assert_close(ctx.method(model, "loss", f["X"]), f["scores"], f"{what}: scores (y=None)",
                 reveal=reveal, hint="conv - relu - 2x2 max pool - affine - relu - affine.")
    loss, grads = _loss_grads(ctx, model, f["X"], f["y"], what)
    assert_close(loss, f["loss"], f"{what}: loss", reveal=reveal,
                 hint="softmax loss + reg * (sum(W1**2) + sum(W2**2) + sum(W3**2)).")
    for key in PARAM_KEYS:
        assert_close(grads[key], f[f"d{key}"], f"{what}: grads[{key!r}]", reveal=reveal,
                     hint="backpropagate through every layer in reverse order and add "
                          "2 * reg * W to each weight gradient.")


@test("12.8", 1, *MODEL_TAGS, visibility="hidden")
def test_cnn_hidden(ctx: Context) -> None:
    """ThreeLayerConvNet.loss: scores, loss and gradients match the reference (hidden case)"""
    f = _fx(ctx, "cnn", True)
    layers_ok = all(ctx.shared.get(VERDICT + t) is True for t in MODEL_TAGS
                    if t != "ThreeLayerConvNet")
    try:
        with _model_hint():
            _cnn_loss_reference(ctx, f, reveal=False)
    except (CheckFailed, StudentError):
        if layers_ok:         # else a wrong layer is to blame, and already judged so
            _record(ctx, ["ThreeLayerConvNet"], False)
        raise
    _record(ctx, ["ThreeLayerConvNet"], True)


@test("12.3", 1, *MODEL_TAGS)
@gated
def test_cnn_chance_loss(ctx: Context) -> None:
    """ThreeLayerConvNet: the loss is about ln 10 with small weights"""
    rng = np.random.default_rng(SEED + 40)
    X = rng.uniform(0, 1, (25, 1, 12, 12))
    y = rng.integers(0, 10, 25)
    model = ctx.new(CNN, input_dim=(1, 12, 12), num_filters=4, filter_size=3, hidden_dim=20,
                    num_classes=10, weight_scale=1e-3, seed=0)
    loss, _ = unpack(ctx.method(model, "loss", X, y), 2, "ThreeLayerConvNet.loss return value")
    sanity.chance_loss(loss, 10, "ThreeLayerConvNet.loss (weight_scale=1e-3, reg=0)")


@test("12.4", 1.5, *MODEL_TAGS)
@gated
def test_cnn_reg(ctx: Context) -> None:
    """ThreeLayerConvNet: reg adds reg * sum(W**2) to the loss and 2 * reg * W to the gradients"""
    f = _fx(ctx, "cnn", False)
    reg = 0.5
    loss0, grads0 = _loss_grads(ctx, _model_from_fixture(ctx, f, 0.0), f["X"], f["y"],
                                "ThreeLayerConvNet.loss (reg=0)")
    loss1, grads1 = _loss_grads(ctx, _model_from_fixture(ctx, f, reg), f["X"], f["y"],
                                f"ThreeLayerConvNet.loss (reg={reg:g})")
    penalty = reg * sum(float(np.sum(f[k] ** 2)) for k in ("W1", "W2", "W3"))
    sanity.reg_raises_loss(loss0, loss1, "ThreeLayerConvNet.loss", expected_increase=penalty)
    for key in PARAM_KEYS:
        g0 = sanity.finite_array(grads0[key], f"grads[{key!r}] (reg=0)", f[key].shape)
        g1 = sanity.finite_array(grads1[key], f"grads[{key!r}] (reg={reg:g})", f[key].shape)
        extra = 2 * reg * f[key] if key.startswith("W") else np.zeros_like(f[key])
        assert_close(g1 - g0, extra, f"ThreeLayerConvNet.loss: grads[{key!r}] (reg={reg:g}) "
                                     f"minus grads[{key!r}] (reg=0)",
                     hint="the penalty's gradient is 2 * reg * W for W1, W2, W3 and nothing "
                          "for the biases.")


@test("12.5", 4, *MODEL_TAGS)
@gated
def test_cnn_gradcheck(ctx: Context) -> None:
    """ThreeLayerConvNet: every gradient matches the numeric gradient of your loss (float64)"""
    f = _fx(ctx, "cnn", False)
    with _model_hint():
        _cnn_gradcheck(ctx, f)


def _cnn_gradcheck(ctx: Context, f: dict[str, np.ndarray]) -> None:
    reg = float(f["reg"])
    model = _model_from_fixture(ctx, f, reg)
    X, y = f["X"], f["y"]
    _, grads = _loss_grads(ctx, model, X, y, "ThreeLayerConvNet.loss")
    rng = np.random.default_rng(SEED + 41)
    for key in PARAM_KEYS:
        gradcheck.gradcheck(
            ctx.worker,
            lambda p, key=key: [req_set_item(model, "params", key, p),
                                req_method(model, "loss", (X, y))],
            f[key], grads[key],
            lambda v: as_scalar(unpack(v, 2, "ThreeLayerConvNet.loss return value")[0],
                                "ThreeLayerConvNet.loss: loss"),
            f"ThreeLayerConvNet.loss (reg={reg:g}): grads[{key!r}]", rng=rng,
            epilogue=[req_set_item(model, "params", key, f[key])],
            hint="check the layer tests first; then the order of the backward calls and the "
                 "2 * reg * W terms.")


@functools.lru_cache(maxsize=1)
def _mnist() -> dict[str, np.ndarray]:
    """The MNIST splits (trusted side; the worker gets only what a test sends it)."""
    import hwdata
    return dict(hwdata.load("mnist"))


@test("12.6", 3.5, *MODEL_TAGS, OVERFIT_RULE)
@trained
def test_cnn_overfit(ctx: Context) -> None:
    """ThreeLayerConvNet: overfits 50 training images with the given Solver"""
    s = ctx.settings["overfit"]
    d = _mnist()
    X, y = d["X_train"][:s["samples"]], d["y_train"][:s["samples"]]
    model = ctx.new(CNN, **s["model"])
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = ctx.new("solver.Solver", model, data, **s["solver"], verbose=False)
    ctx.method(solver, "train", timeout=ctx.assignment.limits.train_seconds)
    sizes = {k: s["model"][k] for k in ("input_dim", "num_filters", "filter_size", "hidden_dim")}
    pred = _trained_predictions(ctx, model, X, {**sizes, "num_classes": 10},
                                "ThreeLayerConvNet after training")
    acc = float(np.mean(pred == y))
    sanity.overfit(acc, f"ThreeLayerConvNet trained on {len(y)} images for "
                        f"{s['solver']['num_epochs']} epochs", threshold=s["threshold"])
    ctx.note(f"Training accuracy on the {len(y)} images: {acc:.0%}.")


def _trained_params(ctx: Context, model: Handle, sizes: dict[str, Any], what: str
                    ) -> dict[str, np.ndarray]:
    """The model's params read out of the worker: the right keys, shapes and finite values."""
    shapes = _trusted().param_shapes(**sizes)
    params = ctx.worker.get_attr(model, "params")
    if not isinstance(params, dict) or sorted(params) != sorted(shapes):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise CheckFailed(f"{what}: params must have exactly the keys {sorted(shapes)}, "
                          f"got {got}.")
    return {k: sanity.finite_array(params[k], f"{what}: params[{k!r}]", shape)
            for k, shape in shapes.items()}


def _trained_predictions(ctx: Context, model: Handle, X: np.ndarray, sizes: dict[str, Any],
                         what: str) -> np.ndarray:
    """Class predictions for X from the trained parameters, computed here by the grader's own
    forward pass (trusted.model_scores): what the model's code says about its own predictions
    plays no part. In the student release (no trusted forward) the model's own scores stand
    in, provisionally."""
    T = _trusted()
    if T is None:
        ctx.note("Provisional: after you submit, predictions are computed by the grader from "
                 "your trained parameters.")
        return np.argmax(_scores(ctx, model, X, sizes["num_classes"], what), axis=1)
    return np.argmax(T.model_scores(_trained_params(ctx, model, sizes, what), X), axis=1)


def accuracy_run(ctx: Context, seed: int | None = None) -> float:
    """Train the student's ThreeLayerConvNet with the given Solver under the declaration's
    `accuracy_run` settings (seeds overridden when `seed` is given) and return the test
    accuracy computed here. Shared with calibrate.py, so the reference is calibrated through
    exactly this code path."""
    run = ctx.settings["accuracy_run"]
    d = _mnist()
    n = run.get("train_samples") or len(d["X_train"])
    data = accuracy.worker_data({**d, "X_train": d["X_train"][:n], "y_train": d["y_train"][:n]},
                                ("X_train", "y_train", "X_val", "y_val"))
    model_kw = dict(run["model"])
    solver_kw = dict(run["solver"])
    if seed is not None:
        model_kw["seed"] = solver_kw["seed"] = seed
    num_classes = int(ctx.settings["num_classes"])
    model = ctx.new(CNN, input_dim=tuple(d["X_train"].shape[1:]), num_classes=num_classes,
                    **model_kw)
    solver = ctx.new("solver.Solver", model, data, **solver_kw, verbose=False)
    ctx.method(solver, "train", timeout=ctx.assignment.limits.train_seconds)
    sizes = {"input_dim": tuple(d["X_train"].shape[1:]), "num_classes": num_classes,
             **{k: model_kw[k] for k in ("num_filters", "filter_size", "hidden_dim")}}
    split = "test" if "y_test" in d else "val"
    if split == "val":
        ctx.note("Self-check: the release has no test labels, so this is the validation "
                 "accuracy; after you submit, the held-out test set is used.")
    pred = _trained_predictions(ctx, model, d[f"X_{split}"], sizes,
                                "ThreeLayerConvNet after training")
    return accuracy.accuracy(pred, d[f"y_{split}"], num_classes, "ThreeLayerConvNet predictions")


@test("12.7", 8, *MODEL_TAGS, RUN_RULE)
@trained
def test_cnn_accuracy(ctx: Context) -> None:
    """ThreeLayerConvNet: test accuracy after a bounded training run with the given Solver"""
    run = ctx.settings["accuracy_run"]
    acc = accuracy_run(ctx)
    ctx.note(f"Trained with {run['solver']['update_rule']} for {run['solver']['num_epochs']} "
             f"epochs (the assignment's settings, not yours).")
    points_for(ctx, acc, ctx.test.weight)


def points_for(ctx: Context, acc: float, weight_: float) -> None:
    """Partial credit from the calibrated band (grader.checks.accuracy), with a hint about
    this assignment (the training settings are fixed, so the layers/model are at fault)."""
    band = accuracy.accuracy_band(ctx.assignment)
    points = accuracy.band_points(acc, band, weight_)
    ctx.set_score(points)
    msg = (f"ThreeLayerConvNet: test accuracy {acc:.1%} (full credit from {band[1]:.1%}, none "
           f"at or below {band[0]:.1%}, linear in between): {points:.2f} / {weight_:g} points.")
    if points < weight_ - 1e-9:
        raise CheckFailed(msg + " Hint: the training settings are the assignment's, so a low "
                                "accuracy means a wrong layer, gradient or update rule: make "
                                "the tests above pass first.")
    ctx.note(msg)
