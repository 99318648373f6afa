"""The convnet suite: every layer, every update rule and the three-layer ConvNet.

Numbering: 1 affine, 2 relu, 3 softmax_loss, 4 conv naive, 5 conv fast, 6 max pool naive,
7 max pool fast, 8 dropout, 9 batchnorm, 10 spatial batchnorm, 11 update rules,
12 ThreeLayerConvNet. Weights total 100. The layer tests are rows of `TESTS` (forward values,
gradients, hidden variant per layer) run by the generic engine grader/checks/layers.py; the
tests with a body of their own are decorated functions below. Hints: hints.py. Every number
(seed, sizes, tolerances, limits) is in the declaration's settings.

How each kind of check works:
- points follow correct code: hidden tests run first and record, per function, whether it is
  right on hidden inputs (grader.checks.verdicts); a visible test (`gated`) pays out only
  when every function it is tagged with was right there. Its expected-vs-got feedback is
  unchanged, and in the self-check (no hidden tests) its points are provisional, with a note;
- forward values: against the reference's outputs stored in the expected values (`visible`
  set for visible tests, `hidden` set for hidden ones, which never print inputs or expected
  values);
- backward passes: against centred differences of the student's OWN forward
  (`grader.checks.gradcheck`), gated like the rest; the layer cache stays in the worker
  behind a handle; hidden variants compare with the reference's values;
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
import sys
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from grader.checks import accuracy, gradcheck, sanity, verdicts
from grader.checks.compare import as_array, as_scalar, assert_close, unpack
from grader.checks.layers import (Draw, Held, Layer, check_backward_cost, check_gradients,
                                  check_speed, check_values, draw_shape, forward, fresh_rng,
                                  held)
from grader.checks.layers import backward as layer_backward
from grader.declaration import load
from grader.framework import CheckFailed, Context, TestSpec, row, specs_of, test
from grader.sandbox import Handle, StudentError, req_call, req_method, req_set_item
from grader.suites.convnet import hints
from grader.suites.convnet.expected_values import CONV_CASES, OPTIM_CASES, OPTIM_STEPS, POOL_CASES

NAME = "convnet"
SETTINGS = load(NAME).settings
RUN_RULE = SETTINGS["accuracy_run"]["solver"]["update_rule"]
OVERFIT_RULE = SETTINGS["overfit"]["solver"]["update_rule"]
PARAM_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")

FORWARD_TAGS = ("ThreeLayerConvNet", "conv_forward_fast", "relu_forward",
                "max_pool_forward_fast", "affine_forward", "softmax_loss")
MODEL_TAGS = FORWARD_TAGS + ("conv_backward_fast", "relu_backward", "max_pool_backward_fast",
                             "affine_backward")


# -- verdicts on hidden inputs ---------------------------------------------------------------
# Visible tests teach (their expected values ship with the release), so their points also
# require each function they exercise to be right on hidden inputs. Hidden tests run first
# (grader.framework) and record one verdict per function (grader.checks.verdicts); `gated`
# visible tests read them. In the self-check no hidden test runs: the points are provisional.
HIDDEN_ONLY_MSG = ("{what} on the inputs shown here, but {fns} failed on the hidden inputs "
                   "(a wrong result, or for a naive backward pass a cost far above a loop's), "
                   "so this test earns no points: make the function right in general, not "
                   "only on these inputs.")
PROVISIONAL_NOTE = ("Provisional: after you submit, these points also require {fns} to be "
                    "right on hidden inputs.")
TRAINING_MSG = ("This test trains the model with your code, but {fns} did not pass on the "
                "hidden inputs{why}, so it earns no points (and is not run): a model earns "
                "its training points only with a working loss, gradients and update rule.")


def verdict(fn: str) -> str:
    """The verdict key of one student function, judged whole (its values on the hidden
    inputs and, for a naive backward pass, its cost)."""
    return verdicts.key(NAME, "function", fn)


@functools.lru_cache(maxsize=1)
def hidden_judged() -> frozenset[str]:
    """The functions some hidden test judges: the tags of the hidden tests."""
    return frozenset(tag for spec in specs_of(sys.modules[__name__])
                     if spec.visibility != "visible" for tag in spec.tags)


def _judged_keys(fns: Sequence[str]) -> dict[str, str]:
    return {verdict(fn): fn for fn in fns if fn in hidden_judged()}


def _provisional(fns: list[str]) -> str:
    return PROVISIONAL_NOTE.format(fns=", ".join(fns))


def gate(ctx: Context, fns: Sequence[str], what: str = "This test passes") -> None:
    """Withhold a passed visible test's points when a function it exercises is wrong on
    hidden inputs; note that they are provisional when no hidden verdict exists yet. Unlike
    `verdicts.require`, an absent verdict in a real run keeps the points
    (ABSENT_CREDITS): it is absent only when a function it depends on already failed its
    hidden case (and costs this test's tags their points there), or the time budget ran out."""
    verdicts.gate(ctx, _judged_keys(fns), absent=verdicts.ABSENT_CREDITS,
                  refused=lambda wrong, _: HIDDEN_ONLY_MSG.format(what=what,
                                                                  fns=", ".join(wrong)),
                  provisional=_provisional)


def gated(test: Callable[[Context], None]) -> Callable[[Context], None]:
    """A visible test whose points require its tagged functions to be right on hidden inputs
    (apply below the metadata decorators: it reads the tags at run time)."""
    @functools.wraps(test)
    def run(ctx: Context) -> None:
        test(ctx)
        gate(ctx, ctx.test.tags if ctx.test else ())
    return run


def trained(test: Callable[[Context], None]) -> Callable[[Context], None]:
    """A training test (overfit, accuracy): before any training, every function it is tagged
    with (the model's loss and gradients, its layers, the Solver's update rule) must have been
    judged right on hidden inputs. Stricter than `gated` (ABSENT_WITHHOLDS): in a real grading
    a verdict that is missing withholds the points too (a model that trains without working
    layers, e.g. by fitting its last layer in closed form, earns nothing); in the self-check
    they are provisional. Apply below the metadata decorators."""
    def refused(wrong: list[str], missing: list[str]) -> str:
        return TRAINING_MSG.format(fns=", ".join(wrong or missing),
                                   why="" if wrong else " (their hidden test did not get to "
                                                        "judge them)")

    @functools.wraps(test)
    def run(ctx: Context) -> None:
        verdicts.gate(ctx, _judged_keys(ctx.test.tags if ctx.test else ()),
                      absent=verdicts.ABSENT_WITHHOLDS, refused=refused,
                      provisional=_provisional)
        test(ctx)
    return run


def _trusted() -> ModuleType | None:
    """The grader's own forward / update rules / yardsticks; None in the student release
    (which does not ship them), where the checks that need them are provisional."""
    try:
        return importlib.import_module("grader.suites.convnet.trusted")
    except ImportError:
        return None


def _case(ctx: Context, name: str, hidden: bool) -> dict[str, np.ndarray]:
    return ctx.expected(name, "hidden" if hidden else "visible")


def _rng(ctx: Context, offset: int) -> np.random.Generator:
    """Trusted-side inputs of one test: the declaration's seed plus the test's own offset."""
    return np.random.default_rng(ctx.settings["seed"] + offset)


# -- the layers and their table of tests (1, 2, 4-7, 9, 10) ----------------------------------
def _conv_param(f: dict[str, np.ndarray]) -> tuple[dict[str, int]]:
    return ({"stride": int(f["stride"]), "pad": int(f["pad"])},)


def _pool_param(f: dict[str, np.ndarray]) -> tuple[dict[str, int]]:
    return ({"pool_height": int(f["pool_height"]), "pool_width": int(f["pool_width"]),
             "stride": int(f["stride"])},)


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


def _conv(speed: str) -> Layer:
    return Layer("layers", f"conv_forward_{speed}", f"conv_backward_{speed}", ("x", "w", "b"),
                 _conv_param)


def _pool(speed: str) -> Layer:
    return Layer("layers", f"max_pool_forward_{speed}", f"max_pool_backward_{speed}", ("x",),
                 _pool_param)


def _bn(forward_: str, backward_: str, mode: str) -> Layer:
    return Layer("layers", forward_, backward_, ("x", "gamma", "beta"),
                 lambda f: (_bn_param(f, mode),))


AFFINE = Layer("layers", "affine_forward", "affine_backward", ("x", "w", "b"))
RELU = Layer("layers", "relu_forward", "relu_backward")
CONV_NAIVE, CONV_FAST = _conv("naive"), _conv("fast")
POOL_NAIVE, POOL_FAST = _pool("naive"), _pool("fast")
BN = {mode: _bn("batchnorm_forward", "batchnorm_backward", mode) for mode in ("train", "test")}
SBN = {mode: _bn("spatial_batchnorm_forward", "spatial_batchnorm_backward", mode)
       for mode in ("train", "test")}
# (forward hint, backward hint) of each layer family, by the name before "_forward"
HINTS = {"affine": (hints.AFFINE, hints.AFFINE_BACK), "relu": (hints.RELU, hints.RELU_BACK),
         "conv": (hints.CONV, hints.CONV_BACK), "max_pool": (hints.POOL, hints.POOL_BACK)}


def _hints(layer: Layer) -> tuple[str, str]:
    return HINTS[layer.forward.split("_forward")[0]]


Label = Callable[[str, dict[str, np.ndarray]], str]


def _x_label(name: str, f: dict[str, np.ndarray]) -> str:
    return f"x {tuple(f['x'].shape)}"


def _geometry(*keys: str) -> Label:
    """'case conv_s1: x (..), w (..), stride=1, pad=1': a case's shapes and geometry."""
    def label(name: str, f: dict[str, np.ndarray]) -> str:
        desc = ", ".join(f"{k}={int(f[k])}" for k in keys)
        shapes = f"x {tuple(f['x'].shape)}" + (f", w {tuple(f['w'].shape)}" if "w" in f else "")
        return f"case {name}: {shapes}, {desc}"
    return label


CONV_LABEL, POOL_LABEL = _geometry("stride", "pad"), _geometry("pool_height", "pool_width",
                                                                 "stride")


def _values(layer: Layer, cases: Sequence[str], label: Label = _x_label, *,
            with_backward: bool = False, hint: str | None = None,
            back_hint: str | None = None) -> Callable[[Context], None]:
    """Visible: the layer on each case against the reference's values."""
    fwd_hint, bwd_hint = _hints(layer)

    def values(ctx: Context) -> None:
        for name in cases:
            f = _case(ctx, name, False)
            check_values(ctx, layer, f, label=label(name, f), reveal=True,
                         with_backward=with_backward,
                         hint=fwd_hint if hint is None else hint,
                         back_hint=bwd_hint if back_hint is None else back_hint)
    return values


def _hidden(layer: Layer, cases: Sequence[str], after: Callable[[Context], None] | None = None
            ) -> Callable[[Context], None]:
    """Hidden: forward and backward on each hidden case (verdicts recorded), then `after`."""
    def hidden(ctx: Context) -> None:
        for name in cases:
            check_values(ctx, layer, _case(ctx, name, True), label="hidden case", reveal=False,
                         hint=_hints(layer)[0], back_hint=_hints(layer)[1], verdict=verdict)
        if after is not None:
            after(ctx)
    return hidden


Source = Callable[[Context, str, np.random.Generator], dict[str, np.ndarray]]


def _fixture(ctx: Context, name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A visible fixture case (inputs and dout) as the gradient test's input."""
    return _case(ctx, name, False)


def _drawn(ctx: Context, name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Small inputs of the geometry settings["gradcheck"][name] drawn from `rng`, as a case
    (x, w and b for a conv; the parameters as 0-d arrays; dout of the output's shape)."""
    g = ctx.settings["gradcheck"][name]
    f = {k: np.asarray(v) for k, v in g.items() if k not in ("x", "w")}
    f["x"] = rng.standard_normal(g["x"])
    n, channels, h, w = g["x"]
    if "w" in g:     # a conv: F output channels, windows of the filter over the padded x
        channels, _, hh, ww = g["w"]
        f["w"], f["b"] = 0.5 * rng.standard_normal(g["w"]), rng.standard_normal(channels)
        h, w = h + 2 * int(g["pad"]), w + 2 * int(g["pad"])
    else:
        hh, ww = int(g["pool_height"]), int(g["pool_width"])
    s = int(g["stride"])
    f["dout"] = rng.standard_normal((n, channels, 1 + (h - hh) // s, 1 + (w - ww) // s))
    return f


def _gradients(layer: Layer, cases: Sequence[tuple[str, int]], hint: str,
               source: Source = _fixture) -> Callable[[Context], None]:
    """Visible: the backward against numeric gradients of the student's forward, on each
    (case, seed offset); the inputs from `source` (a fixture case, or `_drawn`)."""
    def gradients(ctx: Context) -> None:
        for name, offset in cases:
            rng = _rng(ctx, offset)
            f = source(ctx, name, rng)
            check_gradients(ctx, layer, layer.args(f), f["dout"], rng=rng, hint=hint)
    return gradients


def _speed(layer: Layer, kind: str, check_case: str, label: Label,
           make_draw: Callable[[dict[str, Any]], Draw],
           yardstick: Callable[[ModuleType, tuple, np.ndarray], Any]
           ) -> Callable[[Context], None]:
    """Visible: forward+backward of the fast version against the grader's own vectorized
    pair on fresh inputs (grader.checks.layers.check_speed), once it is right on a case."""
    def speed(ctx: Context) -> None:
        s = ctx.settings["speed"]
        draw = make_draw(s[kind])
        f = _case(ctx, check_case, False)
        try:     # speed is credited only for a fast version that is right
            check_values(ctx, layer, f, label=label(check_case, f), reveal=True,
                         hint=hints.FAST, back_hint=_hints(layer)[1])
        except CheckFailed as exc:
            raise CheckFailed(f"Speed is credited only once the fast version is correct: "
                              f"{exc}") from None
        T = _trusted()
        if T is None:     # the student release: no yardstick shipped
            ctx.note("Provisional: the speed of the fast version is measured after you submit.")
            return
        check_speed(ctx, layer, draw, lambda args, dout: yardstick(T, args, dout),
                    repeats=s["repeats"], max_ratio=s[kind]["max_ratio"], hint=hints.FAST,
                    slow_hint=hints.SLOW)
    return speed


def _conv_draw(s: dict[str, Any]) -> Draw:
    """Fresh conv inputs (stride 1, 'same' padding) of one shape drawn now from the ranges."""
    rng = fresh_rng()
    n, c, h, w = draw_shape(rng, s["x"])
    f, k = int(rng.integers(s["filters"][0], s["filters"][1] + 1)), int(s["filter_size"])
    param = {"stride": 1, "pad": (k - 1) // 2}

    def draw() -> tuple[tuple, np.ndarray]:
        args = (rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, k, k)),
                rng.standard_normal(f), dict(param))
        return args, rng.standard_normal((n, f, h, w))
    return draw


def _pool_draw(s: dict[str, Any]) -> Draw:
    """Fresh pooling inputs (square tiling windows) of one shape drawn now from the ranges."""
    rng = fresh_rng()
    size = int(s["size"])
    n, c, h, w = draw_shape(rng, s["x"])
    h, w = h - h % size, w - w % size
    return _tiling_draw(rng, (n, c, h, w), size)


def _tiling_draw(rng: np.random.Generator, shape: Sequence[int], size: int) -> Draw:
    n, c, h, w = shape
    param = {"pool_height": size, "pool_width": size, "stride": size}

    def draw() -> tuple[tuple, np.ndarray]:
        return ((rng.standard_normal((n, c, h, w)), dict(param)),
                rng.standard_normal((n, c, h // size, w // size)))
    return draw


def _conv_cost(ctx: Context) -> None:
    """The naive conv backward on fresh inputs, timed against a loop over the output values
    (settings["naive_backward"]): a numeric derivative of the forward is not a backward."""
    T, s = _trusted(), ctx.settings["naive_backward"]
    with verdicts.judged(ctx, verdict(CONV_NAIVE.backward)):
        if T is None:
            return
        c, rng = s["conv"], fresh_rng()
        param = {"stride": int(c["stride"]), "pad": int(c["pad"])}

        def draw() -> tuple[tuple, np.ndarray]:
            x, w = rng.standard_normal(c["x"]), rng.standard_normal(c["w"])
            args = (x, w, rng.standard_normal(c["w"][0]), dict(param))
            return args, rng.standard_normal(T.conv_forward(x, w, args[2], **param).shape)
        check_backward_cost(ctx, CONV_NAIVE, draw,
                            lambda a, d: T.conv_backward_loops(d, a[0], a[1], **param),
                            lambda a, d: T.conv_backward(d, a[0], a[1], **param),
                            repeats=s["repeats"], max_ratio=float(c["max_ratio"]),
                            hint=hints.COST)


def _pool_cost(ctx: Context) -> None:
    """The naive max-pool backward on fresh inputs, timed as `_conv_cost`."""
    T, s = _trusted(), ctx.settings["naive_backward"]
    with verdicts.judged(ctx, verdict(POOL_NAIVE.backward)):
        if T is None:
            return
        p = s["max_pool"]
        size = int(p["size"])
        check_backward_cost(ctx, POOL_NAIVE, _tiling_draw(fresh_rng(), p["x"], size),
                            lambda a, d: T.pool_backward_loops(d, a[0], size, size),
                            lambda a, d: (T.pool_backward(d, a[0], size),),
                            repeats=s["repeats"], max_ratio=float(p["max_ratio"]),
                            hint=hints.COST)


def _pool_fresh(ctx: Context) -> None:
    """The fast max pool (forward and backward, verdicts recorded) on fresh inputs against the
    grader's own pool (settings["fresh_pool"]): more planes than a cache-sized block holds
    (an implementation that pools in blocks must offset each block's positions) and heights
    or widths that a 2x2 stride-2 window does not tile (the last row or column is dropped)."""
    T, s = _trusted(), ctx.settings["fresh_pool"]
    if T is None:
        return
    rng, size = fresh_rng(), int(s["size"])
    for shape in s["x"]:
        x = rng.standard_normal(shape)
        out = T.pool_forward(x, size, size)
        dout = rng.standard_normal(out.shape)
        case = {"x": x, "pool_height": np.asarray(size), "pool_width": np.asarray(size),
                "stride": np.asarray(size), "out": out, "dout": dout,
                "dx": T.pool_backward(dout, x, size)}
        check_values(ctx, POOL_FAST, case, label="hidden case", reveal=False,
                     hint=_hints(POOL_FAST)[0], back_hint=_hints(POOL_FAST)[1],
                     verdict=verdict)


def _row(body: Callable[[Context], None], number: str, weight: float, tags: Sequence[str],
         name: str, visibility: str = "visible") -> TestSpec:
    """A table row; a visible one pays out only for functions right on hidden inputs."""
    return row(gated(body) if visibility == "visible" else body, number, weight, *tags,
               visibility=visibility, name=name)


def _fwd(layer: Layer) -> tuple[str]:
    return (layer.forward,)


def _both(layer: Layer) -> tuple[str, str]:
    return (layer.forward, layer.backward)


def _hidden_name(layer: Layer) -> str:
    return f"{layer.forward} / {layer.backward}: match the reference (hidden inputs)"


CONVS, POOLS = tuple(CONV_CASES), tuple(POOL_CASES)
FAST_CONV, FAST_POOL = f"{hints.FAST} {hints.CONV}", f"{hints.FAST} {hints.POOL}"
SBN_TAGS = ("spatial_batchnorm_forward", "spatial_batchnorm_backward", "batchnorm_forward",
            "batchnorm_backward")
TESTS = [
    # 1. affine
    _row(_values(AFFINE, ["affine"]), "1.1", 2, _fwd(AFFINE),
         "affine_forward: output matches the reference (4-d input flattened per example)"),
    _row(_gradients(AFFINE, [("affine", 1)], hints.AFFINE_BACK), "1.2", 2.5, _both(AFFINE),
         "affine_backward: dx, dw, db match numeric gradients of your affine_forward"),
    _row(_hidden(AFFINE, ["affine"]), "1.3", 1, _both(AFFINE), _hidden_name(AFFINE), "hidden"),
    # 2. relu
    _row(_values(RELU, ["relu"]), "2.1", 1, _fwd(RELU),
         "relu_forward: output matches the reference"),
    _row(_gradients(RELU, [("relu", 2)], hints.RELU_BACK), "2.2", 1, _both(RELU),
         "relu_backward: dx matches the numeric gradient of your relu_forward"),
    _row(_hidden(RELU, ["relu"]), "2.3", 0.5, _both(RELU), _hidden_name(RELU), "hidden"),
    # 4. conv naive
    _row(_values(CONV_NAIVE, ["conv_s1"], CONV_LABEL), "4.1", 3, _fwd(CONV_NAIVE),
         "conv_forward_naive: output matches the reference (stride 1, pad 1, 3x3 filters)"),
    _row(_values(CONV_NAIVE, ["conv_s2"], CONV_LABEL), "4.2", 2, _fwd(CONV_NAIVE),
         "conv_forward_naive: output matches the reference (stride 2, 3x2 filters, size "
         "rounds down)"),
    _row(_gradients(CONV_NAIVE, [("conv_s1", 4)], hints.CONV_BACK, _drawn), "4.3", 2.5,
         _both(CONV_NAIVE), "conv_backward_naive: dx, dw, db match numeric gradients of your "
                            "forward (stride 1)"),
    _row(_gradients(CONV_NAIVE, [("conv_s2", 5)], hints.CONV_BACK, _drawn), "4.4", 2,
         _both(CONV_NAIVE), "conv_backward_naive: dx, dw, db match numeric gradients of your "
                            "forward (stride 2, 3x2)"),
    _row(_hidden(CONV_NAIVE, CONVS, _conv_cost), "4.5", 1.5, _both(CONV_NAIVE),
         _hidden_name(CONV_NAIVE), "hidden"),
    # 5. conv fast
    _row(_values(CONV_FAST, CONVS, CONV_LABEL, hint=FAST_CONV), "5.1", 3, _fwd(CONV_FAST),
         "conv_forward_fast: equals the naive definition (stride 1 and 2, non-square "
         "filters)"),
    _row(_values(CONV_FAST, CONVS, CONV_LABEL, with_backward=True, hint=FAST_CONV,
                 back_hint=f"{hints.FAST} {hints.COL2IM}"), "5.2", 3, _both(CONV_FAST),
         "conv_backward_fast: equals the naive backward (stride 1 and 2, non-square filters)"),
    _row(_speed(CONV_FAST, "conv", "conv_s1", CONV_LABEL, _conv_draw,
                lambda T, args, dout: T.conv_pair(*args[:3], dout, args[3])),
         "5.3", 3, _both(CONV_FAST),
         "conv_forward_fast + conv_backward_fast: about as fast as a vectorized version"),
    _row(_hidden(CONV_FAST, CONVS), "5.4", 1, _both(CONV_FAST), _hidden_name(CONV_FAST),
         "hidden"),
    # 6. max pool naive
    _row(_values(POOL_NAIVE, POOLS, POOL_LABEL), "6.1", 2, _fwd(POOL_NAIVE),
         "max_pool_forward_naive: output matches the reference (2x2/2, 3x2/1, 2x3/2 windows)"),
    _row(_gradients(POOL_NAIVE, [(c, 10 + k) for k, c in enumerate(POOLS)], hints.POOL_BACK,
                    _drawn),
         "6.2", 3, _both(POOL_NAIVE), "max_pool_backward_naive: dx matches the numeric "
                                      "gradient of your max_pool_forward_naive"),
    _row(_hidden(POOL_NAIVE, POOLS, _pool_cost), "6.3", 1, _both(POOL_NAIVE),
         _hidden_name(POOL_NAIVE), "hidden"),
    # 7. max pool fast
    _row(_values(POOL_FAST, POOLS, POOL_LABEL, hint=FAST_POOL), "7.1", 2, _fwd(POOL_FAST),
         "max_pool_forward_fast: equals the naive definition (tiling and overlapping "
         "windows)"),
    _row(_values(POOL_FAST, POOLS, POOL_LABEL, with_backward=True,
                 hint=f"{hints.FAST} {hints.POOL_BACK}"), "7.2", 2, _both(POOL_FAST),
         "max_pool_backward_fast: equals the naive backward (tiling and overlapping windows)"),
    _row(_speed(POOL_FAST, "max_pool", "pool_tile", POOL_LABEL, _pool_draw,
                lambda T, args, dout: T.pool_pair(args[0], dout, args[1])),
         "7.3", 1.5, _both(POOL_FAST),
         "max_pool_forward_fast + max_pool_backward_fast: about as fast as a vectorized "
         "version"),
    _row(_hidden(POOL_FAST, POOLS, _pool_fresh), "7.4", 0.5, _both(POOL_FAST), _hidden_name(POOL_FAST),
         "hidden"),
    # 9. batchnorm: values (with the running statistics) in _bn_values, gradients here
    _row(_gradients(BN["train"], [("bn_train", 30)], hints.BN_BACK), "9.4", 3,
         _both(BN["train"]), "batchnorm_backward (train): dx, dgamma, dbeta match numeric "
                             "gradients of your forward"),
    _row(_gradients(BN["test"], [("bn_test", 31)], hints.BN_TEST_BACK), "9.5", 1,
         _both(BN["test"]), "batchnorm_backward (test): dx, dgamma, dbeta match numeric "
                            "gradients of your forward"),
    # 10. spatial batchnorm reshapes and reuses batchnorm_forward / _backward (as the stubs
    # suggest), so its tests are tagged with those too.
    _row(_gradients(SBN["train"], [("sbn_train", 32)], hints.BN_BACK), "10.3", 1.5, SBN_TAGS,
         "spatial_batchnorm_backward (train): dx, dgamma, dbeta match numeric gradients"),
]


# -- 3. softmax_loss -------------------------------------------------------------------------
def _softmax_case(ctx: Context, case: str, hidden: bool, hint: str = hints.SOFTMAX) -> None:
    f = _case(ctx, case, hidden)
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
    f = _case(ctx, "softmax", False)
    x, y = f["x"], f["y"]
    _, dx = unpack(ctx.call("layers.softmax_loss", x, y), 2, "softmax_loss return value")
    gradcheck.gradcheck(
        ctx.worker, lambda xi: [req_call("layers.softmax_loss", (xi, y))], x, dx,
        lambda v: as_scalar(unpack(v, 2, "softmax_loss return value")[0], "softmax_loss: loss"),
        "softmax_loss: dx", rng=_rng(ctx, 3), hint=hints.SOFTMAX)


@test("3.3", 1, "softmax_loss")
@gated
def test_softmax_stable(ctx: Context) -> None:
    """softmax_loss: numerically stable for scores of about 1e4"""
    _softmax_case(ctx, "softmax_large", False, sanity.STABILITY_HINT)


@test("3.4", 0.5, "softmax_loss", visibility="hidden")
def test_softmax_hidden(ctx: Context) -> None:
    """softmax_loss: loss and dx match the reference (hidden inputs)"""
    with verdicts.judged(ctx, verdict("softmax_loss")):
        _softmax_case(ctx, "softmax", True)
        _softmax_case(ctx, "softmax_large", True, sanity.STABILITY_HINT)


# -- 8. dropout ------------------------------------------------------------------------------
def _dropout(ctx: Context, x: np.ndarray, param: dict[str, Any], scope: Held
             ) -> tuple[np.ndarray, Handle]:
    """dropout_forward's out, checked for shape and finiteness; its cache held by `scope`."""
    out, cache = forward(ctx, DROPOUT, (x, param), scope)
    what = f"dropout_forward (mode {param['mode']!r}, p={param['p']:g})"
    arr = as_array(out, f"{what}: out")
    if arr.shape != x.shape:
        raise CheckFailed(f"{what}: out has shape {arr.shape}, expected {x.shape}.")
    if not np.all(np.isfinite(arr)):
        raise CheckFailed(f"{what}: out contains non-finite values.")
    return arr, cache


DROPOUT = Layer("layers", "dropout_forward", "dropout_backward")


def _too_far(stat: float, expected: float, sd: float, z: float) -> bool:
    return abs(stat - expected) > z * sd


def _mask_statistics(ctx: Context, kept: np.ndarray, p: float, what: str) -> None:
    """The mask of one call (2-d) looks like independent Bernoulli(p) draws: keep rate, keep
    counts per row and per column (chi-square dispersion), agreement of neighbours along each
    axis; each within settings' z standard deviations of what independence gives."""
    z = float(ctx.settings["dropout"].z)
    n = kept.size
    frac = float(kept.mean())
    if _too_far(frac, p, np.sqrt(p * (1 - p) / n), z):
        raise CheckFailed(f"{what}: kept {frac:.4f} of the activations, expected about p = "
                          f"{p:g}. Hint: {hints.DROPOUT_KEEP}")
    for axis, name in ((0, "column"), (1, "row")):
        counts = kept.sum(axis=axis)
        trials = kept.shape[axis]
        chi = float(np.sum((counts - trials * p) ** 2) / (trials * p * (1 - p)))
        if _too_far(chi, len(counts), np.sqrt(2 * len(counts)), z):
            raise CheckFailed(f"{what}: the number of kept units varies from {name} to {name} "
                              f"unlike independent draws (chi-square {chi:.0f} for "
                              f"{len(counts)} {name}s). Hint: {hints.DROPOUT_RANDOM}")
    q = p * p + (1 - p) * (1 - p)      # P(two independent units agree)
    for a, b, name in ((kept[:, :-1], kept[:, 1:], "horizontal"),
                       (kept[:-1, :], kept[1:, :], "vertical")):
        agree = float(np.mean(a == b))
        if _too_far(agree, q, np.sqrt(q * (1 - q) / a.size), z):
            raise CheckFailed(f"{what}: {name} neighbours agree in {agree:.3f} of positions; "
                              f"independent units agree in about {q:.3f}. Hint: "
                              f"{hints.DROPOUT_RANDOM}")


def _masks_independent(ctx: Context, a: np.ndarray, b: np.ndarray, p: float, what: str) -> None:
    """Two masks (from different seeds, or two calls without a seed) agree about as often as
    independent draws do."""
    z = float(ctx.settings["dropout"].z)
    q = p * p + (1 - p) * (1 - p)
    agree = float(np.mean(a == b))
    if _too_far(agree, q, np.sqrt(q * (1 - q) / a.size), z):
        raise CheckFailed(f"{what}: the two masks agree in {agree:.1%} of positions; two "
                          f"independent masks agree in about {q:.1%}. Hint: "
                          f"{hints.DROPOUT_SEED}")


@test("8.1", 2.5, "dropout_forward")
def test_dropout_train(ctx: Context) -> None:
    """dropout_forward (train): keeps each unit independently with probability p, scales by 1/p"""
    s = ctx.settings["dropout"]
    x = _rng(ctx, 20).uniform(0.5, 1.5, s.train_x)
    for p, seed in ((0.7, 11), (0.25, None)):
        param: dict[str, Any] = {"p": p, "mode": "train"}
        if seed is not None:
            param["seed"] = seed
        with held(ctx.worker) as scope:
            out, _ = _dropout(ctx, x, param, scope)
        what = f"dropout_forward (train, p={p:g}" + (", no seed)" if seed is None else ")")
        kept = out != 0
        _mask_statistics(ctx, kept, p, what)
        assert_close(out[kept], x[kept] / p, f"{what}: kept values", hint=hints.DROPOUT_SCALE)
        mean_x, mean_out = float(x.mean()), float(out.mean())
        if abs(mean_out - mean_x) > s.mean_tol * mean_x:
            raise CheckFailed(f"{what}: the mean activation changed from {mean_x:.4f} to "
                              f"{mean_out:.4f}. Hint: divide the kept values by p.")


@test("8.2", 1, "dropout_forward", "dropout_backward")
def test_dropout_test_mode(ctx: Context) -> None:
    """dropout_forward / dropout_backward (test mode): the identity"""
    rng = _rng(ctx, 21)
    shape = ctx.settings["dropout"].test_x
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    with held(ctx.worker) as scope:
        out, cache = _dropout(ctx, x, {"p": 0.3, "mode": "test", "seed": 5}, scope)
        assert_close(out, x, "dropout_forward (test mode): out", hint=hints.DROPOUT_TEST)
        (dx,) = layer_backward(ctx, DROPOUT, dout, cache)
    assert_close(dx, dout, "dropout_backward (test mode): dx", hint=hints.DROPOUT_TEST_BACK)


@test("8.3", 1.5, "dropout_forward", "dropout_backward")
def test_dropout_backward(ctx: Context) -> None:
    """dropout_backward (train): uses the forward pass's mask and scaling"""
    rng = _rng(ctx, 22)
    x = rng.uniform(0.5, 1.5, ctx.settings["dropout"].backward_x)
    dout = rng.standard_normal(x.shape)
    with held(ctx.worker) as scope:
        out, cache = _dropout(ctx, x, {"p": 0.6, "mode": "train", "seed": 3}, scope)
        # a backward is only as good as the mask it reuses
        _mask_statistics(ctx, out != 0, 0.6, "dropout_forward (train, p=0.6)")
        (dx,) = layer_backward(ctx, DROPOUT, dout, cache)
    # out = x * mask / p elementwise, so the gradient is dout * out / x (x is never 0 here).
    assert_close(dx, dout * out / x, "dropout_backward (train, p=0.6): dx",
                 hint=hints.DROPOUT_BACK)


@test("8.4", 1, "dropout_forward")
def test_dropout_seed(ctx: Context) -> None:
    """dropout_forward: the same seed gives the same mask; other seeds and unseeded calls independent ones"""
    x = _rng(ctx, 23).uniform(0.5, 1.5, ctx.settings["dropout"].seed_x)
    p = 0.7
    outs = []
    for seed in (3, 3, 4, None, None):
        param: dict[str, Any] = {"p": p, "mode": "train"}
        if seed is not None:
            param["seed"] = seed
        with held(ctx.worker) as scope:
            outs.append(_dropout(ctx, x, param, scope)[0] != 0)
    sanity.same_result(outs[0].astype(float), outs[1].astype(float),
                       "dropout_forward (train, seed=3 twice): the mask")
    _masks_independent(ctx, outs[0], outs[2], p, "dropout_forward (train, seeds 3 and 4)")
    _masks_independent(ctx, outs[3], outs[4], p, "dropout_forward (train, two calls without "
                                                 "a seed)")


# -- 9, 10. batchnorm values: bn_param lives in the worker, its running statistics are read back
def _bn_values(layer: Layer, case: str, mode: str, hidden: bool, *, out: bool = True,
               stats: bool = False, with_backward: bool = False) -> Callable[[Context], None]:
    def check(ctx: Context) -> None:
        f = _case(ctx, case, hidden)
        reveal = not hidden
        label = "hidden case" if hidden else \
            f"mode {mode!r}, x {tuple(f['x'].shape)}, bn_param keys " \
            f"{sorted(_bn_param(f, mode))}"
        judge = (lambda fn: verdicts.judged(ctx, verdict(fn))) if hidden else \
            (lambda fn: contextlib.nullcontext())
        fwd = layer.forward
        with held(ctx.worker) as scope:
            with judge(fwd):
                param = scope.add(ctx.new("builtins.dict", _bn_param(f, mode)))
                got, cache = forward(ctx, layer, (f["x"], f["gamma"], f["beta"], param), scope)
                running = {k: ctx.method(param, "get", k) for k in ("running_mean",
                                                                      "running_var")}
                if out:
                    assert_close(got, f["out"], f"{fwd} ({label}): out", reveal=reveal,
                                 hint=hints.BN)
                if stats:
                    for key in ("running_mean", "running_var"):
                        if running[key] is None:
                            raise CheckFailed(f"{fwd} ({label}): bn_param[{key!r}] was not "
                                              f"written back. Hint: {hints.BN_STATS}")
                        assert_close(running[key], f[f"{key}_out"],
                                     f"{fwd} ({label}): bn_param[{key!r}] after the call",
                                     reveal=reveal, hint=hints.BN_STATS)
            if not with_backward:
                return
            with judge(layer.backward):
                grads = layer_backward(ctx, layer, f["dout"], cache)
                for name, grad in zip(layer.inputs, grads):
                    assert_close(grad, f[f"d{name}"], f"{layer.backward} ({label}): d{name}",
                                 reveal=reveal,
                                 hint=hints.BN_BACK if mode == "train" else hints.BN_TEST_BACK)
    return check


def _each(*checks: Callable[[Context], None]) -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        for check in checks:
            check(ctx)
    return run


BN_F, BN_T = ("batchnorm_forward",), BN["train"]
TESTS += [
    _row(_each(_bn_values(BN_T, "bn_train", "train", False),
               _bn_values(BN_T, "bn_defaults", "train", False)), "9.1", 2, BN_F,
         "batchnorm_forward (train): output matches the reference (given and default eps)"),
    _row(_each(_bn_values(BN_T, "bn_train", "train", False, out=False, stats=True),
               _bn_values(BN_T, "bn_defaults", "train", False, out=False, stats=True)),
         "9.2", 1.5, BN_F, "batchnorm_forward (train): running mean and variance are updated "
                           "and written back"),
    _row(_bn_values(BN["test"], "bn_test", "test", False, stats=True), "9.3", 1.5, BN_F,
         "batchnorm_forward (test): normalizes with the running statistics and leaves them "
         "unchanged"),
    _row(_each(*(_bn_values(BN[mode], case, mode, True, stats=stats, with_backward=True)
                 for case, mode, stats in (("bn_train", "train", True),
                                           ("bn_defaults", "train", True),
                                           ("bn_test", "test", False)))),
         "9.6", 1, _both(BN_T), _hidden_name(BN_T), "hidden"),
    _row(_bn_values(SBN["train"], "sbn_train", "train", False, stats=True), "10.1", 1.5,
         SBN_TAGS[::2], "spatial_batchnorm_forward (train): output and running statistics "
                        "match the reference"),
    _row(_bn_values(SBN["test"], "sbn_test", "test", False, stats=True), "10.2", 1,
         SBN_TAGS[::2], "spatial_batchnorm_forward (test): normalizes each channel with the "
                        "running statistics"),
    _row(_each(_bn_values(SBN["train"], "sbn_train", "train", True, stats=True,
                          with_backward=True),
               _bn_values(SBN["test"], "sbn_test", "test", True, with_backward=True)),
         "10.4", 0.5, SBN_TAGS, "spatial_batchnorm_forward / _backward: match the reference "
                                "(hidden inputs)", "hidden"),
]


# -- 11. update rules ------------------------------------------------------------------------
def _check_rule(ctx: Context, rule: str, hidden: bool) -> None:
    """OPTIM_STEPS steps with the returned config passed back in, then one default step."""
    f = _case(ctx, rule, hidden)
    reveal = not hidden
    hint = hints.RULES[rule]
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
                 reveal=reveal, hint=hints.RULE_DEFAULTS)


TESTS += [_row(functools.partial(_check_rule, rule=rule, hidden=False), number, weight,
               (rule,), name)
          for rule, number, weight, name in (
              ("sgd", "11.1", 1.5, "sgd: three steps match the reference"),
              ("sgd_momentum", "11.2", 2, "sgd_momentum: three steps match the reference "
                                          "(velocity kept in config)"),
              ("rmsprop", "11.3", 2, "rmsprop: three steps match the reference (cache kept "
                                     "in config)"),
              ("adam", "11.4", 3, "adam: three steps match the reference (m, v, t kept in "
                                  "config)"))]


@test("11.5", 1, "sgd", "sgd_momentum", "rmsprop", "adam", visibility="hidden")
def test_rules_hidden(ctx: Context) -> None:
    """sgd, sgd_momentum, rmsprop, adam: match the reference (hidden inputs and fresh ones)"""
    rng = fresh_rng()    # inputs nobody has seen before
    failures: list[Exception] = []
    for rule in OPTIM_CASES:       # every rule is judged, whichever fails first
        try:
            with verdicts.judged(ctx, verdict(rule)):
                _check_rule(ctx, rule, True)
                _fresh_rule(ctx, rule, rng)
        except (CheckFailed, StudentError) as exc:
            failures.append(exc)
    crashes = [e for e in failures if isinstance(e, StudentError)]
    if crashes:
        raise crashes[0]
    if failures:
        raise CheckFailed("\n\n".join(str(e) for e in failures))


def _fresh_rule(ctx: Context, rule: str, rng: np.random.Generator) -> None:
    """OPTIM_STEPS steps on weights, gradients and hyper-parameters drawn now (ranges in the
    settings: a rule must honour whatever it is given), against the grader's own update
    (trusted.update), then one step with config=None."""
    T = _trusted()
    if T is None:
        return
    s = ctx.settings["fresh_rules"]
    shape = draw_shape(rng, s.shape)
    w = rng.standard_normal(shape)
    config: Any = {k: float(rng.uniform(*s.ranges[k])) for k in OPTIM_CASES[rule]}
    ours: Any = dict(config)
    for k in range(OPTIM_STEPS):
        dw = rng.standard_normal(shape)
        next_w, config = unpack(ctx.call(f"optim.{rule}", w, dw, config), 2,
                                f"{rule} return value (next_w, config)")
        expected, ours = T.update(rule, w, dw, ours)
        w = assert_close(next_w, expected, f"{rule} step {k + 1} (hidden case)", reveal=False,
                         hint=hints.RULES[rule])
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
        raise CheckFailed(f"{exc}\n\n{hints.MODEL_NOTE}") from None


def _model_from_case(ctx: Context, f: dict[str, np.ndarray], reg: float, scope: Held) -> Handle:
    """A float64 model with the case's sizes and parameters set in the worker."""
    model = scope.add(ctx.new(CNN, input_dim=tuple(int(d) for d in f["input_dim"]),
                              num_filters=int(f["num_filters"]),
                              filter_size=int(f["filter_size"]),
                              hidden_dim=int(f["hidden_dim"]),
                              num_classes=int(f["num_classes"]), reg=float(reg),
                              dtype="float64", seed=0))
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


def _scores(ctx: Context, model: Handle, X: np.ndarray, num_classes: int, what: str
            ) -> np.ndarray:
    """Scores of X in chunks (bounded memory in the worker), checked for shape and finiteness."""
    chunk = int(ctx.settings["scores_chunk"])
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
             # odd sizes: a same-size conv, then the 2x2 pool floors 15 -> 7 and 13 -> 6
             ({**dims, "input_dim": (3, 15, 13)}, {**expected, "W2": (5 * 7 * 6, 20)},
              "float32", "ThreeLayerConvNet(input_dim=(3, 15, 13), ...) (odd height and "
                         "width)"),
             ({}, default_expected, "float32", "ThreeLayerConvNet(seed=3) (the defaults)")]
    first = None
    with held(ctx.worker) as scope:
        for kwargs, shapes, dtype, what in cases:
            params = ctx.worker.get_attr(scope.add(ctx.new(CNN, **kwargs, seed=3)), "params")
            if not isinstance(params, dict) or sorted(params) != sorted(shapes):
                got = sorted(params) if isinstance(params, dict) else type(params).__name__
                raise CheckFailed(f"{what}: params must have exactly the keys "
                                  f"{sorted(shapes)}, got {got}.")
            for key, shape in shapes.items():
                value = params[key]
                if not isinstance(value, np.ndarray) or value.dtype != np.dtype(dtype):
                    got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
                    raise CheckFailed(f"{what}: params[{key!r}] must be a {dtype} array, got "
                                      f"{got}. Hint: {hints.MODEL_DTYPE}")
                arr = sanity.finite_array(value, f"{what}: params[{key!r}]", shape,
                                          hint=hints.MODEL_SHAPES)
                if key.startswith("W") and kwargs:    # drawn as weight_scale * N(0, 1)
                    sanity.normal_sample(arr, 1e-2, f"{what}: params[{key!r}]",
                                         float(ctx.settings["init_ks_coef"]))
            if first is None:
                first = params
        again = ctx.worker.get_attr(scope.add(ctx.new(CNN, **dims, seed=3)), "params")
    for key in PARAM_KEYS:
        sanity.same_result(again.get(key) if isinstance(again, dict) else None, first[key],
                           f"ThreeLayerConvNet(seed=3): params[{key!r}]")


@test("12.2", 3, *MODEL_TAGS)
@gated
def test_cnn_loss_reference(ctx: Context) -> None:
    """ThreeLayerConvNet.loss: scores, loss and gradients match the reference (given params)"""
    with _model_hint():
        _cnn_loss_reference(ctx, _case(ctx, "cnn", False))


def _cnn_loss_reference(ctx: Context, f: dict[str, np.ndarray], reveal: bool = True) -> None:
    what = (f"ThreeLayerConvNet.loss (X {tuple(f['X'].shape)}, reg={float(f['reg']):g}, "
            "float64)") if reveal else "ThreeLayerConvNet.loss (hidden case)"
    with held(ctx.worker) as scope:
        model = _model_from_case(ctx, f, float(f["reg"]), scope)
        assert_close(ctx.method(model, "loss", f["X"]), f["scores"],
                     f"{what}: scores (y=None)", reveal=reveal, hint=hints.MODEL_SCORES)
        loss, grads = _loss_grads(ctx, model, f["X"], f["y"], what)
    assert_close(loss, f["loss"], f"{what}: loss", reveal=reveal, hint=hints.MODEL_LOSS)
    for key in PARAM_KEYS:
        assert_close(grads[key], f[f"d{key}"], f"{what}: grads[{key!r}]", reveal=reveal,
                     hint=hints.MODEL_GRADS)


@test("12.8", 1, *MODEL_TAGS, visibility="hidden")
def test_cnn_hidden(ctx: Context) -> None:
    """ThreeLayerConvNet.loss: scores, loss and gradients match the reference (hidden case)"""
    f = _case(ctx, "cnn", True)
    key = verdict("ThreeLayerConvNet")
    layers_ok = all(ctx.shared.get(verdict(t)) is True for t in MODEL_TAGS
                    if t != "ThreeLayerConvNet")
    try:
        with _model_hint():
            _cnn_loss_reference(ctx, f, reveal=False)
    except (CheckFailed, StudentError):
        if layers_ok:         # else a wrong layer is to blame, and already judged so
            verdicts.record(ctx, key, False)
        raise
    verdicts.record(ctx, key, ctx.shared.get(key, True))


@test("12.3", 1, *MODEL_TAGS)
@gated
def test_cnn_chance_loss(ctx: Context) -> None:
    """ThreeLayerConvNet: the loss is about ln 10 with small weights"""
    rng = _rng(ctx, 40)
    X = rng.uniform(0, 1, (25, 1, 12, 12))
    y = rng.integers(0, 10, 25)
    with held(ctx.worker) as scope:
        model = scope.add(ctx.new(CNN, input_dim=(1, 12, 12), num_filters=4, filter_size=3,
                                  hidden_dim=20, num_classes=10, weight_scale=1e-3, seed=0))
        loss, _ = unpack(ctx.method(model, "loss", X, y), 2,
                         "ThreeLayerConvNet.loss return value")
    sanity.chance_loss(loss, 10, "ThreeLayerConvNet.loss (weight_scale=1e-3, reg=0)")


@test("12.4", 1.5, *MODEL_TAGS)
@gated
def test_cnn_reg(ctx: Context) -> None:
    """ThreeLayerConvNet: reg adds reg * sum(W**2) to the loss and 2 * reg * W to the gradients"""
    f = _case(ctx, "cnn", False)
    reg = float(ctx.settings["reg_check"])
    with held(ctx.worker) as scope:
        loss0, grads0 = _loss_grads(ctx, _model_from_case(ctx, f, 0.0, scope), f["X"], f["y"],
                                    "ThreeLayerConvNet.loss (reg=0)")
        loss1, grads1 = _loss_grads(ctx, _model_from_case(ctx, f, reg, scope), f["X"], f["y"],
                                    f"ThreeLayerConvNet.loss (reg={reg:g})")
    penalty = reg * sum(float(np.sum(f[k] ** 2)) for k in ("W1", "W2", "W3"))
    sanity.reg_raises_loss(loss0, loss1, "ThreeLayerConvNet.loss", expected_increase=penalty)
    for key in PARAM_KEYS:
        g0 = sanity.finite_array(grads0[key], f"grads[{key!r}] (reg=0)", f[key].shape)
        g1 = sanity.finite_array(grads1[key], f"grads[{key!r}] (reg={reg:g})", f[key].shape)
        extra = 2 * reg * f[key] if key.startswith("W") else np.zeros_like(f[key])
        assert_close(g1 - g0, extra, f"ThreeLayerConvNet.loss: grads[{key!r}] (reg={reg:g}) "
                                     f"minus grads[{key!r}] (reg=0)", hint=hints.MODEL_REG)


@test("12.5", 4, *MODEL_TAGS)
@gated
def test_cnn_gradcheck(ctx: Context) -> None:
    """ThreeLayerConvNet: every gradient matches the numeric gradient of your loss (float64)"""
    f = _case(ctx, "cnn", False)
    with _model_hint(), held(ctx.worker) as scope:
        _cnn_gradcheck(ctx, f, scope)


def _cnn_gradcheck(ctx: Context, f: dict[str, np.ndarray], scope: Held) -> None:
    reg = float(f["reg"])
    model = _model_from_case(ctx, f, reg, scope)
    X, y = f["X"], f["y"]
    _, grads = _loss_grads(ctx, model, X, y, "ThreeLayerConvNet.loss")
    rng = _rng(ctx, 41)
    for key in PARAM_KEYS:
        gradcheck.gradcheck(
            ctx.worker,
            lambda p, key=key: [req_set_item(model, "params", key, p),
                                req_method(model, "loss", (X, y))],
            f[key], grads[key],
            lambda v: as_scalar(unpack(v, 2, "ThreeLayerConvNet.loss return value")[0],
                                "ThreeLayerConvNet.loss: loss"),
            f"ThreeLayerConvNet.loss (reg={reg:g}): grads[{key!r}]", rng=rng,
            max_coords=int(ctx.settings["model_gradcheck_coords"]),
            epilogue=[req_set_item(model, "params", key, f[key])], hint=hints.MODEL_GRADCHECK)


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
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    sizes = {k: s["model"][k] for k in ("input_dim", "num_filters", "filter_size", "hidden_dim")}
    with held(ctx.worker) as scope:
        model = scope.add(ctx.new(CNN, **s["model"]))
        solver = scope.add(ctx.new("solver.Solver", model, data, **s["solver"], verbose=False))
        ctx.method(solver, "train", timeout=ctx.assignment.limits.train_seconds)
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


def trained_accuracy(ctx: Context, seed: int | None = None) -> accuracy.Measured:
    """Train the student's ThreeLayerConvNet with the given Solver under the declaration's
    `accuracy_run` settings (seeds overridden when `seed` is given) and measure it here, from
    the trained parameters: on the held-out split that grades and on the validation split
    (the only one a student is shown)."""
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
    sizes = {"input_dim": tuple(d["X_train"].shape[1:]), "num_classes": num_classes,
             **{k: model_kw[k] for k in ("num_filters", "filter_size", "hidden_dim")}}
    with held(ctx.worker) as scope:
        model = scope.add(ctx.new(CNN, input_dim=sizes["input_dim"], num_classes=num_classes,
                                  **model_kw))
        solver = scope.add(ctx.new("solver.Solver", model, data, **solver_kw, verbose=False))
        ctx.method(solver, "train", timeout=ctx.assignment.limits.train_seconds)

        def accuracy_of(X: np.ndarray, y: np.ndarray) -> float:
            pred = _trained_predictions(ctx, model, X, sizes, "ThreeLayerConvNet after training")
            return accuracy.accuracy(pred, y, num_classes, "ThreeLayerConvNet predictions")
        return accuracy.measure(d, accuracy_of)


def calibration_run(ctx: Context, seed: int | None = None) -> float:
    """The graded accuracy of one training run: calibration (grader/calibration.py) trains
    the reference through exactly the accuracy test's code path."""
    return trained_accuracy(ctx, seed).graded


def calibration_facts(ctx: Context) -> dict[str, Any]:
    """The settings a calibration run used, recorded with its result."""
    return {"accuracy_run": ctx.settings["accuracy_run"]}


def calibration_labels() -> np.ndarray:
    """The held-out labels (calibration derives the majority-class rate from them)."""
    return _mnist()["y_test"]


@test("12.7", 8, *MODEL_TAGS, RUN_RULE)
@trained
def test_cnn_accuracy(ctx: Context) -> None:
    """ThreeLayerConvNet: test accuracy after a bounded training run with the given Solver"""
    solver = ctx.settings["accuracy_run"]["solver"]
    measured = trained_accuracy(ctx)
    epochs = int(solver["num_epochs"])
    ctx.note(f"Trained with {solver['update_rule']} for {epochs} epoch{'s' * (epochs != 1)} "
             f"(the assignment's settings, not yours).")
    accuracy.grade_accuracy(ctx, measured.graded, ctx.test.weight, "ThreeLayerConvNet",
                            measured.split, hint=hints.ACCURACY, validation=measured.validation)
