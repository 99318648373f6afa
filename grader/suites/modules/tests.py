"""The modules suite: Torch7-style nn modules, criteria, initializers, optimizers and LeNet-5.

Numbering: 1 Linear and Module, 2 activations, 3 Sequential, 4 LogSoftMax and the criteria,
5 im2col / col2im, 6 Conv2d, 7 DepthwiseConv2d, 8 MaxPool2d and Flatten, 9 Dropout,
10 BatchNorm1d, 11 initializers, 12 optimizers, 13 LeNet-5 (structure, predict, train,
accuracy, random search). Weights total 100; every number is in the declaration's settings.
Every test is tagged with the graded classes and functions it exercises.

Student modules are objects: they live in the worker behind handles (`ctx.new`), the grader
sets their parameters with `setattr` (plain arrays), calls `forward` / `backward` and reads
`grad_*` attributes back. Randomness: a Generator the grader seeds is created INSIDE the
worker (`numpy.random.default_rng` as the submission's nn.py imported it), so dropout masks
and initial weights come from a stream the grader knows.

How each kind of check works:
- points follow correct code: one hidden test per family runs first and records, per class
  or function, whether it is right on hidden inputs (grader.checks.verdicts); a visible test
  pays out only when every function it is tagged with was right there (`gated`), and the
  training tests only when every verdict they depend on exists and is true (`trained`);
- forward / backward values against the reference's (expected values, visible or hidden set);
- every backward, and every parameter gradient, against centred differences of the student's
  OWN forward (grader.checks.gradcheck, objective sum(out * dout));
- parameter gradients ADD UP across two backward calls; `zero_grad` zeroes the very arrays
  `gradients()` returned (an optimizer holds those);
- dropout: the exact masks of a Generator the grader seeded (one `random(x.shape) >= p` per
  training forward), the 1 / (1 - p) scaling, the identity and no draws in eval mode;
- initializers: std, mean, bounds and the distribution's shape (Kolmogorov-Smirnov) over a
  large draw, on shapes whose fan_in and fan_out differ by 4x;
- optimizers: four steps with new gradients written into the same arrays in place, against
  the reference's parameters after every step;
- LeNet-5: parameter shapes and count, and its output equal to the grader's own forward
  (trusted.py) from its parameters; training and accuracy judged from the trained parameters
  read out of the worker, by the grader's forward; the worker never sees test labels;
- random_search: log10 of the drawn learning rates and weight decays uniform (KS).
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import math
import sys
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from grader.checks import accuracy, gradcheck, sanity, verdicts
from grader.checks.compare import as_array, as_scalar, assert_close
from grader.checks.layers import Held, draw_shape, fresh_rng, held
from grader.declaration import load
from grader.framework import CheckFailed, Context, TestSpec, row, specs_of, test
from grader.sandbox import Handle, StudentError, req_method
from grader.suites.modules.expected_values import (CRITERION_CASES, IM2COL_CASES, MODULE_CASES,
                                                    OPTIM_CASES, SEQ_PARAMS, STEPS, ModuleCase,
                                                    module_input)

NAME = "modules"
SETTINGS = load(NAME).settings
GENERATOR = "numpy.random.default_rng"     # made by the worker itself (sandbox CONTAINERS)
LENET_MODULES = ("Sequential", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear")
LENET_TAGS = ("lenet5", "_pair", *LENET_MODULES)
# (kaiming_normal is judged by its own tests: a statistical verdict must not decide training)
TRAIN_TAGS = (*LENET_TAGS, "train", "CrossEntropyCriterion", "Adam", "WeightBias", "Module")
CRITERIA = ("ClassNLLCriterion", "CrossEntropyCriterion")
RULES = tuple(cls for cls, _ in OPTIM_CASES.values())
INITS = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")

HINTS = {
    "Linear": "weight has shape (out_features, in_features), as in Torch; in backward, every "
              "row of the batch adds its share to the weight and bias gradients.",
    "ReLU": "the gradient passes where x > 0 and is 0 elsewhere.",
    "Tanh": "the derivative of tanh can be written with the forward's own output.",
    "Sigmoid": "compute it without overflow for large negative and positive inputs alike; "
               "its derivative can be written with the forward's own output.",
    "LogSoftMax": "shift each row by its maximum before exponentiating; in backward, every "
                  "output of a row depends on every input of that row.",
    "ClassNLLCriterion": "the loss averages over the batch the log-probability of each "
                         "row's target class, negated; only those entries get a gradient.",
    "CrossEntropyCriterion": "LogSoftMax and ClassNLLCriterion in one, max-shifted; the fused "
                             "gradient is simpler than the two chained.",
    "Conv2d": "check the output size for your padding and stride against the docstring, and "
              "that im2col and col2im lay out the windows in the same order.",
    "DepthwiseConv2d": "each channel c with its own filter weight[c, 0], channels not mixed.",
    "MaxPool2d": "the gradient goes to the first maximum of each window only; overlapping "
                 "windows add up.",
    "Flatten": "reshape to (N, -1); backward reshapes back to x's shape.",
    "BatchNorm1d": "training: biased batch variance to normalize, running statistics with "
                   "momentum weighing the new value (unbiased variance); eval: the running "
                   "statistics, nothing updated.",
    "Sequential": "forward feeds each module's output to the next and keeps every input; "
                  "backward goes through the modules in reverse with those inputs.",
}
ACCUMULATE = ("parameter gradients must be ADDED (+=) in backward: two backward calls without "
              "zero_grad in between give the sum.")

# -- verdicts on hidden inputs ---------------------------------------------------------------
HIDDEN_ONLY = ("{what} on the inputs shown here, but {fns} failed on the hidden inputs, so this "
               "test earns no points: make it right in general, not only on these inputs.")
PROVISIONAL = ("Provisional: after you submit, these points also require {fns} to be right "
               "on hidden inputs.")
TRAINING = ("This test trains LeNet-5 with your code, but {fns} did not pass on the hidden "
            "inputs{why}, so it earns no points (and is not run): training counts only with "
            "working modules, criterion and optimizer.")


def verdict(fn: str) -> str:
    return verdicts.key(NAME, "function", fn)


@functools.lru_cache(maxsize=1)
def hidden_judged() -> frozenset[str]:
    """The classes and functions some hidden test judges: the tags of the hidden tests."""
    return frozenset(t for s in specs_of(sys.modules[__name__]) if s.visibility != "visible"
                     for t in s.tags)


def _judged_keys(fns: Sequence[str]) -> dict[str, str]:
    return {verdict(fn): fn for fn in fns if fn in hidden_judged()}


def _provisional(fns: list[str]) -> str:
    return PROVISIONAL.format(fns=", ".join(fns))


def gated(body: Callable[[Context], None]) -> Callable[[Context], None]:
    """A visible test whose points require its tagged functions to be right on hidden inputs;
    an absent verdict keeps them (its hidden test failed first, which costs points there)."""
    @functools.wraps(body)
    def run(ctx: Context) -> None:
        body(ctx)
        verdicts.gate(ctx, _judged_keys(ctx.test.tags if ctx.test else ()),
                      absent=verdicts.ABSENT_CREDITS,
                      refused=lambda wrong, _: HIDDEN_ONLY.format(what="This test passes",
                                                                  fns=", ".join(wrong)),
                      provisional=_provisional)
    return run


def trained(body: Callable[[Context], None]) -> Callable[[Context], None]:
    """A training test: before training, every tagged function must have been judged right on
    hidden inputs; in a real grading a missing verdict withholds the points too."""
    def refused(wrong: list[str], missing: list[str]) -> str:
        return TRAINING.format(fns=", ".join(wrong or missing),
                               why="" if wrong else " (their hidden test did not judge them)")

    @functools.wraps(body)
    def run(ctx: Context) -> None:
        verdicts.gate(ctx, _judged_keys(ctx.test.tags if ctx.test else ()),
                      absent=verdicts.ABSENT_WITHHOLDS, refused=refused,
                      provisional=_provisional)
        body(ctx)
    return run


def _row(body: Callable[[Context], None], number: str, weight: float, tags: Sequence[str],
         name: str, visibility: str = "visible") -> TestSpec:
    return row(gated(body) if visibility == "visible" else body, number, weight, *tags,
               visibility=visibility, name=name)


def _trusted() -> ModuleType | None:
    """The grader's LeNet-5 forward; None in the student release (checks are provisional)."""
    try:
        return importlib.import_module("grader.suites.modules.trusted")
    except ImportError:
        return None


def _rng(ctx: Context, offset: int) -> np.random.Generator:
    return np.random.default_rng(ctx.settings["seed"] + offset)


def _set(hidden: bool) -> str:
    return "hidden" if hidden else "visible"


# -- objects in the worker -------------------------------------------------------------------
def generator(ctx: Context, seed: int, scope: Held) -> Handle:
    """A numpy Generator seeded `seed`, created inside the worker (a handle)."""
    return scope.add(ctx.new(GENERATOR, int(seed)))


def kept(ctx: Context, handle: Handle, name: str, scope: Held, *args: Any) -> Handle:
    """`handle.name(*args)` whose return value (e.g. `self` from eval()) stays in the worker."""
    return scope.add(ctx.method(handle, name, *args, keep=(0,)))


def set_attrs(ctx: Context, handle: Handle, values: dict[str, np.ndarray]) -> None:
    if values:
        ctx.worker.batch([req_method(handle, "__setattr__", (k, np.array(v)))
                          for k, v in values.items()])


def make_module(ctx: Context, spec: ModuleCase, f: dict[str, np.ndarray], scope: Held) -> Handle:
    """`nn.<cls>(**kwargs)` with the case's parameters and state set, in the case's mode."""
    h = scope.add(ctx.new(f"nn.{spec.cls}", **spec.kwargs))
    set_attrs(ctx, h, {k: f[k] for k in spec.params + spec.state})
    if spec.mode == "eval":
        kept(ctx, h, "eval", scope)
    return h


def _label(spec: ModuleCase, f: dict[str, np.ndarray], reveal: bool) -> str:
    if not reveal:
        return "hidden case"
    args = ", ".join(f"{k}={v!r}" for k, v in spec.kwargs.items())
    return f"{spec.cls}({args}), {spec.mode} mode, x of shape {tuple(f['x'].shape)}"


def module_values(ctx: Context, case: str, hidden: bool = False) -> None:
    """forward, backward, the parameter gradients and the state after one forward/backward,
    against the reference's values for the case."""
    spec, f = MODULE_CASES[case], ctx.expected(case, _set(hidden))
    reveal, hint = not hidden, HINTS.get(spec.cls, "")
    what = f"{spec.cls} ({_label(spec, f, reveal)})"
    with held(ctx.worker) as scope:
        h = make_module(ctx, spec, f, scope)
        assert_close(ctx.method(h, "forward", f["x"]), f["out"], f"{what}: forward",
                     reveal=reveal, hint=hint)
        assert_close(ctx.method(h, "backward", f["x"], f["dout"]), f["dx"],
                     f"{what}: backward (dx)", reveal=reveal, hint=hint)
        for p in spec.params:
            assert_close(ctx.worker.get_attr(h, f"grad_{p}"), f[f"grad_{p}"],
                         f"{what}: grad_{p} after one backward", reveal=reveal, hint=hint)
        for s in spec.state:
            assert_close(ctx.worker.get_attr(h, s), f[f"{s}_out"], f"{what}: {s} after forward",
                         reveal=reveal, hint=hint)


def _weighted(dout: np.ndarray, what: str) -> Callable[[Any], float]:
    def objective(value: Any) -> float:
        out = as_array(value, what)
        if out.shape != dout.shape:
            raise CheckFailed(f"{what}: shape {out.shape}, expected {dout.shape}.")
        return float(np.sum(out * dout))
    return objective


def module_gradients(ctx: Context, case: str, offset: int) -> None:
    """dx and every parameter gradient against centred differences of the student's own
    forward (objective sum(forward(x) * dout)), on a visible case."""
    spec, f = MODULE_CASES[case], ctx.expected(case, "visible")
    x, dout, rng = f["x"], f["dout"], _rng(ctx, offset)
    what = f"{spec.cls} ({_label(spec, f, True)})"
    objective = _weighted(dout, f"{what}: forward")
    with held(ctx.worker) as scope:
        h = make_module(ctx, spec, f, scope)
        objective(ctx.method(h, "forward", x))
        dx = ctx.method(h, "backward", x, dout)
        grads = {p: ctx.worker.get_attr(h, f"grad_{p}") for p in spec.params}
        gradcheck.gradcheck(ctx.worker, lambda xi: [req_method(h, "forward", (xi,))], x, dx,
                            objective, f"{what}: backward (dx)", rng=rng,
                            hint=HINTS.get(spec.cls, ""))
        for p in spec.params:
            gradcheck.gradcheck(
                ctx.worker, lambda v, p=p: [req_method(h, "__setattr__", (p, v)),
                                            req_method(h, "forward", (x,))],
                f[p], grads[p], objective, f"{what}: grad_{p}", rng=rng,
                epilogue=[req_method(h, "__setattr__", (p, np.array(f[p])))],
                hint=HINTS.get(spec.cls, ""))


def accumulation(ctx: Context, case: str) -> None:
    """Two forward/backward pairs without zero_grad: every parameter gradient doubles."""
    spec, f = MODULE_CASES[case], ctx.expected(case, "visible")
    what = f"{spec.cls} ({_label(spec, f, True)})"
    with held(ctx.worker) as scope:
        h = make_module(ctx, spec, f, scope)
        for _ in range(2):
            ctx.method(h, "forward", f["x"])
            ctx.method(h, "backward", f["x"], f["dout"])
        for p in spec.params:
            assert_close(ctx.worker.get_attr(h, f"grad_{p}"), 2 * f[f"grad_{p}"],
                         f"{what}: grad_{p} after two backward calls", hint=ACCUMULATE)


def values_of(*cases: str) -> Callable[[Context], None]:
    def body(ctx: Context) -> None:
        for case in cases:
            module_values(ctx, case)
    return body


def gradients_of(*cases: str, offset: int) -> Callable[[Context], None]:
    def body(ctx: Context) -> None:
        for k, case in enumerate(cases):
            module_gradients(ctx, case, offset + k)
    return body


def judge_each(ctx: Context, checks: Sequence[tuple[str, Callable[[], None]]]) -> None:
    """Run every (function, check) on hidden inputs, recording each function's verdict (a
    function judged wrong once stays wrong; "" records nothing); then raise the first
    failure, if any."""
    failure: BaseException | None = None
    for fn, check in checks:
        try:
            with verdicts.judged(ctx, verdict(fn)) if fn else contextlib.nullcontext():
                check()
        except (CheckFailed, StudentError) as exc:
            failure = failure or exc
    if failure is not None:
        raise failure


def hidden_of(*cases: str, extra: Callable[[Context], None] | None = None
              ) -> Callable[[Context], None]:
    """The hidden module cases, each recording its class's verdict; then `extra`."""
    def body(ctx: Context) -> None:
        checks = [(MODULE_CASES[case].cls, functools.partial(module_values, ctx, case, True))
                  for case in cases]
        if extra is not None:
            checks.append(("", functools.partial(extra, ctx)))
        judge_each(ctx, checks)
    return body


# -- 1. Linear and Module --------------------------------------------------------------------
def test_zero_grad(ctx: Context) -> None:
    """zero_grad zeroes the very arrays gradients() returned (an optimizer holds those)"""
    f = ctx.expected("linear", "visible")
    spec = MODULE_CASES["linear"]
    with held(ctx.worker) as scope:
        h = make_module(ctx, spec, f, scope)
        ctx.method(h, "forward", f["x"])
        ctx.method(h, "backward", f["x"], f["dout"])
        listed = kept(ctx, h, "gradients", scope)
        ctx.method(h, "zero_grad")
        for i, p in enumerate(spec.params):
            got = as_array(ctx.method(listed, "__getitem__", i), f"gradients()[{i}]")
            if got.shape != f[p].shape or np.any(got != 0):
                raise CheckFailed(f"Linear.zero_grad: the array gradients()[{i}] returned "
                                  f"before zero_grad() is not all zeros afterwards. Hint: zero "
                                  f"the existing arrays in place rather than making new ones: "
                                  f"an optimizer keeps the arrays gradients() gave it.")
        ctx.method(h, "forward", f["x"])
        ctx.method(h, "backward", f["x"], f["dout"])
        for p in spec.params:
            assert_close(ctx.worker.get_attr(h, f"grad_{p}"), f[f"grad_{p}"],
                         f"Linear: grad_{p} after zero_grad() and one backward",
                         hint=ACCUMULATE)


TESTS = [
    _row(values_of("linear"), "1.1", 2.5, ("Linear", "WeightBias"),
         "Linear: forward, backward and parameter gradients match the reference"),
    _row(gradients_of("linear", offset=1), "1.2", 3, ("Linear", "WeightBias"),
         "Linear: dx, grad_weight, grad_bias match numeric gradients of your forward"),
    _row(functools.partial(accumulation, case="linear"), "1.3", 2,
         ("Linear", "WeightBias"), "Linear: parameter gradients add up over two backward calls"),
    _row(test_zero_grad, "1.4", 2, ("Module", "Linear", "WeightBias"),
         "Module.zero_grad: zeroes the gradient arrays in place"),
    _row(hidden_of("linear"), "1.5", 1, ("Linear",), "Linear: matches the reference (hidden "
                                                     "inputs)", "hidden"),
    # 2. activations
    _row(values_of("relu"), "2.1", 1, ("ReLU",), "ReLU: forward and backward match the "
                                                  "reference"),
    _row(gradients_of("relu", offset=2), "2.2", 1, ("ReLU",),
         "ReLU: dx matches the numeric gradient of your forward"),
    _row(values_of("tanh"), "2.3", 1, ("Tanh",), "Tanh: forward and backward match the "
                                                  "reference"),
    _row(gradients_of("tanh", offset=3), "2.4", 1, ("Tanh",),
         "Tanh: dx matches the numeric gradient of your forward"),
    _row(values_of("sigmoid"), "2.5", 1, ("Sigmoid",),
         "Sigmoid: forward and backward match the reference"),
    _row(gradients_of("sigmoid", offset=4), "2.6", 1, ("Sigmoid",),
         "Sigmoid: dx matches the numeric gradient of your forward"),
    _row(values_of("sigmoid_large"), "2.7", 1, ("Sigmoid",),
         "Sigmoid: exact and finite for inputs near +-1000"),
    _row(hidden_of("relu", "tanh", "sigmoid", "sigmoid_large"), "2.8", 1,
         ("ReLU", "Tanh", "Sigmoid"), "ReLU, Tanh, Sigmoid: match the reference (hidden "
                                      "inputs)", "hidden"),
]


# -- 3. Sequential ---------------------------------------------------------------------------
def _sequential(ctx: Context, f: dict[str, np.ndarray], scope: Held) -> tuple[Handle, ...]:
    """Sequential(Linear, ReLU, Linear) with the case's parameters: (seq, first, second)."""
    w1, w2 = f["w1"], f["w2"]
    first = scope.add(ctx.new("nn.Linear", w1.shape[1], w1.shape[0]))
    second = scope.add(ctx.new("nn.Linear", w2.shape[1], w2.shape[0]))
    set_attrs(ctx, first, {"weight": w1, "bias": f["b1"]})
    set_attrs(ctx, second, {"weight": w2, "bias": f["b2"]})
    seq = scope.add(ctx.new("nn.Sequential", first, scope.add(ctx.new("nn.ReLU")), second))
    return seq, first, second


def sequential_values(ctx: Context, hidden: bool = False) -> None:
    f = ctx.expected("sequential", _set(hidden))
    reveal = not hidden
    what = ("Sequential(Linear(5, 4), ReLU(), Linear(4, 3))" if reveal
            else "Sequential (hidden case)")
    hint = HINTS["Sequential"]
    with held(ctx.worker) as scope:
        seq, _, _ = _sequential(ctx, f, scope)
        assert_close(ctx.method(seq, "forward", f["x"]), f["out"], f"{what}: forward",
                     reveal=reveal, hint=hint)
        assert_close(ctx.method(seq, "backward", f["x"], f["dout"]), f["dx"],
                     f"{what}: backward (dx)", reveal=reveal, hint=hint)
        for method, prefix in (("parameters", ""), ("gradients", "grad_")):
            got = ctx.method(seq, method)
            if not isinstance(got, list) or len(got) != len(SEQ_PARAMS):
                raise CheckFailed(f"{what}: {method}() must be a list of {len(SEQ_PARAMS)} "
                                  f"arrays (the modules' own, in module order).")
            for k, value in zip(SEQ_PARAMS, got):
                assert_close(value, f[prefix + k], f"{what}: {method}() entry {prefix}{k}",
                             reveal=reveal, hint=hint)


def test_sequential_modes(ctx: Context) -> None:
    """train() / eval() reach every module; add() chains; eval forward skips dropout"""
    f = ctx.expected("sequential", "visible")
    with held(ctx.worker) as scope:
        first = scope.add(ctx.new("nn.Linear", 5, 4))
        set_attrs(ctx, first, {"weight": f["w1"], "bias": f["b1"]})
        drop = scope.add(ctx.new("nn.Dropout", 0.5, generator(ctx, 1, scope)))
        seq = kept(ctx, kept(ctx, scope.add(ctx.new("nn.Sequential")), "add", scope, first),
                   "add", scope, drop)
        if ctx.method(seq, "__len__") != 2:
            raise CheckFailed("Sequential().add(a).add(b): expected 2 modules (add must "
                              "append and return the container).")
        kept(ctx, seq, "eval", scope)
        for label, h in (("Linear", first), ("Dropout", drop)):
            if ctx.worker.get_attr(h, "training") is not False:
                raise CheckFailed(f"Sequential.eval(): the {label} inside still has "
                                  f"training == True. Hint: eval() must reach every module.")
        expected = f["x"] @ f["w1"].T + f["b1"]
        assert_close(ctx.method(seq, "forward", f["x"]), expected,
                     "Sequential(Linear, Dropout(0.5)) in eval mode: forward",
                     hint="in eval mode dropout is the identity.")
        kept(ctx, seq, "train", scope)
        if ctx.worker.get_attr(drop, "training") is not True:
            raise CheckFailed("Sequential.train(): the Dropout inside is still in eval mode.")


def test_sequential_zero_grad(ctx: Context) -> None:
    """zero_grad() of a Sequential zeroes the gradients of every module inside"""
    f = ctx.expected("sequential", "visible")
    with held(ctx.worker) as scope:
        seq, first, second = _sequential(ctx, f, scope)
        ctx.method(seq, "forward", f["x"])
        ctx.method(seq, "backward", f["x"], f["dout"])
        ctx.method(seq, "zero_grad")
        for label, h in (("first", first), ("second", second)):
            for p in ("weight", "bias"):
                got = as_array(ctx.worker.get_attr(h, f"grad_{p}"), f"grad_{p}")
                if np.any(got != 0):
                    raise CheckFailed(f"Sequential.zero_grad(): the {label} Linear's grad_{p} "
                                      f"is not zero. Hint: zero_grad must reach every module "
                                      f"(through gradients(), in place).")


TESTS += [
    _row(sequential_values, "3.1", 2.5, ("Sequential", "Linear", "ReLU"),
         "Sequential: forward, backward, parameters() and gradients() match the reference"),
    _row(test_sequential_modes, "3.2", 1.5, ("Sequential", "Module", "Dropout"),
         "Sequential: add() chains, train() / eval() reach every module"),
    _row(test_sequential_zero_grad, "3.3", 1, ("Sequential", "Module"),
         "Sequential: zero_grad() reaches every module"),
]


@test("3.4", 1, "Sequential", visibility="hidden")
def test_sequential_hidden(ctx: Context) -> None:
    """Sequential: matches the reference (hidden inputs)"""
    with verdicts.judged(ctx, verdict("Sequential")):
        sequential_values(ctx, hidden=True)


# -- 4. LogSoftMax and the criteria ----------------------------------------------------------
def criterion_values(ctx: Context, case: str, hidden: bool = False) -> None:
    cls = CRITERION_CASES[case][0]
    f = ctx.expected(case, _set(hidden))
    reveal = not hidden
    what = f"{cls} (input {tuple(f['input'].shape)})" if reveal else f"{cls} (hidden case)"
    with held(ctx.worker) as scope:
        h = scope.add(ctx.new(f"nn.{cls}"))
        loss = ctx.method(h, "forward", f["input"], f["target"])
        sanity.finite_scalar(loss, f"{what}: loss", HINTS[cls])
        assert_close(loss, f["loss"], f"{what}: loss", reveal=reveal, hint=HINTS[cls])
        assert_close(ctx.method(h, "backward", f["input"], f["target"]), f["dinput"],
                     f"{what}: backward (gradient of the loss)", reveal=reveal, hint=HINTS[cls])


def criterion_gradient(ctx: Context, case: str, offset: int) -> None:
    cls = CRITERION_CASES[case][0]
    f = ctx.expected(case, "visible")
    x, t = f["input"], f["target"]
    with held(ctx.worker) as scope:
        h = scope.add(ctx.new(f"nn.{cls}"))
        ctx.method(h, "forward", x, t)
        grad = ctx.method(h, "backward", x, t)
        gradcheck.gradcheck(ctx.worker, lambda xi: [req_method(h, "forward", (xi, t))], x, grad,
                            lambda v: as_scalar(v, f"{cls}.forward: loss"),
                            f"{cls}.backward", rng=_rng(ctx, offset), hint=HINTS[cls])


def _criteria_hidden(ctx: Context) -> None:
    judge_each(ctx, [(spec[0], functools.partial(criterion_values, ctx, case, True))
                     for case, spec in CRITERION_CASES.items()])


def _each(*bodies: Callable[[Context], None]) -> Callable[[Context], None]:
    def body(ctx: Context) -> None:
        for b in bodies:
            b(ctx)
    return body


TESTS += [
    _row(values_of("logsoftmax"), "4.1", 1, ("LogSoftMax",),
         "LogSoftMax: forward and backward match the reference"),
    _row(gradients_of("logsoftmax", offset=5), "4.2", 1.5, ("LogSoftMax",),
         "LogSoftMax: dx matches the numeric gradient of your forward"),
    _row(values_of("logsoftmax_large"), "4.3", 1, ("LogSoftMax",),
         "LogSoftMax: numerically stable for scores near 1e4"),
    _row(functools.partial(criterion_values, case="nll"), "4.4", 1,
         ("ClassNLLCriterion", "Criterion"), "ClassNLLCriterion: loss and gradient match the "
                                             "reference"),
    _row(functools.partial(criterion_gradient, case="nll", offset=6), "4.5", 1,
         ("ClassNLLCriterion", "Criterion"),
         "ClassNLLCriterion: the gradient matches the numeric gradient of your loss"),
    _row(functools.partial(criterion_values, case="cross_entropy"), "4.6", 1,
         ("CrossEntropyCriterion", "Criterion"),
         "CrossEntropyCriterion: loss and gradient match the reference"),
    _row(functools.partial(criterion_gradient, case="cross_entropy", offset=7), "4.7", 1,
         ("CrossEntropyCriterion", "Criterion"),
         "CrossEntropyCriterion: the gradient matches the numeric gradient of your loss"),
    _row(functools.partial(criterion_values, case="cross_entropy_large"), "4.8", 1,
         ("CrossEntropyCriterion", "Criterion"),
         "CrossEntropyCriterion: numerically stable for scores near 1e4"),
    _row(hidden_of("logsoftmax", "logsoftmax_large", extra=_criteria_hidden), "4.9", 1.5,
         ("LogSoftMax", *CRITERIA), "LogSoftMax and the criteria: match the reference (hidden "
                                    "inputs)", "hidden"),
]


# -- 5. im2col / col2im ----------------------------------------------------------------------
def im2col_values(ctx: Context, func: str, hidden: bool = False) -> None:
    reveal = not hidden
    for case, (shape, kernel, stride, padding) in IM2COL_CASES.items():
        f = ctx.expected(case, _set(hidden))
        what = (f"{func} (x {shape}, kernel {kernel}, stride {stride}, padding {padding})"
                if reveal else f"{func} (hidden case)")
        hint = ("rows ordered (c, di, dj), columns (n, i, j); see the docstring's formula."
                if func == "im2col" else "the adjoint of im2col: ADD each column back into "
                                         "its window, then drop the padding.")
        if func == "im2col":
            got, expected = ctx.call("nn.im2col", f["x"], kernel, stride, padding), f["cols"]
        else:
            got = ctx.call("nn.col2im", f["dcols"], shape, kernel, stride, padding)
            expected = f["dx"]
        assert_close(got, expected, what, reveal=reveal, hint=hint)


def _im2col_hidden(ctx: Context) -> None:
    judge_each(ctx, [(func, functools.partial(im2col_values, ctx, func, True))
                     for func in ("im2col", "col2im")])


TESTS += [
    _row(functools.partial(im2col_values, func="im2col"), "5.1", 1.5, ("im2col",),
         "im2col: the columns match the reference (padding, stride 2, 3x2 kernels)"),
    _row(functools.partial(im2col_values, func="col2im"), "5.2", 1.5, ("col2im",),
         "col2im: matches the reference (overlapping windows add up)"),
    _row(_im2col_hidden, "5.3", 1, ("im2col", "col2im"),
         "im2col / col2im: match the reference (hidden inputs)", "hidden"),
    # 6. Conv2d
    _row(values_of("conv_pad", "conv_stride"), "6.1", 2.5, ("Conv2d", "WeightBias", "_pair"),
         "Conv2d: forward, backward and parameter gradients match the reference (5x5 with "
         "padding 2; 3x2 with stride 2)"),
    _row(gradients_of("conv_pad", "conv_stride", offset=10), "6.2", 3,
         ("Conv2d", "WeightBias", "_pair"),
         "Conv2d: dx, grad_weight, grad_bias match numeric gradients of your forward"),
    _row(functools.partial(accumulation, case="conv_stride"), "6.3", 1,
         ("Conv2d", "WeightBias"), "Conv2d: parameter gradients add up over two backward calls"),
    _row(hidden_of("conv_pad", "conv_stride"), "6.4", 1.5, ("Conv2d",),
         "Conv2d: matches the reference (hidden inputs)", "hidden"),
    # 7. DepthwiseConv2d
    _row(values_of("depthwise", "depthwise_stride"), "7.1", 2,
         ("DepthwiseConv2d", "WeightBias", "_pair"),
         "DepthwiseConv2d: forward, backward and parameter gradients match the reference"),
    _row(gradients_of("depthwise", "depthwise_stride", offset=12), "7.2", 2,
         ("DepthwiseConv2d", "WeightBias", "_pair"),
         "DepthwiseConv2d: dx, grad_weight, grad_bias match numeric gradients of your forward"),
    _row(hidden_of("depthwise", "depthwise_stride"), "7.3", 1, ("DepthwiseConv2d",),
         "DepthwiseConv2d: matches the reference (hidden inputs)", "hidden"),
    # 8. MaxPool2d and Flatten
    _row(values_of("pool", "pool_overlap"), "8.1", 2, ("MaxPool2d", "_pair"),
         "MaxPool2d: forward and backward match the reference (2x2; overlapping 3x3 stride 2)"),
    _row(gradients_of("pool", "pool_overlap", offset=14), "8.2", 2, ("MaxPool2d", "_pair"),
         "MaxPool2d: dx matches the numeric gradient of your forward"),
    _row(_each(values_of("flatten"), gradients_of("flatten", offset=16)), "8.3", 1,
         ("Flatten",), "Flatten: forward and backward match the reference"),
    _row(hidden_of("pool", "pool_overlap", "flatten"), "8.4", 1, ("MaxPool2d", "Flatten"),
         "MaxPool2d, Flatten: match the reference (hidden inputs)", "hidden"),
]


# -- 9. Dropout ------------------------------------------------------------------------------
def _masks(seed: int, p: float, shape: tuple[int, ...], count: int) -> list[np.ndarray]:
    """The keep masks of `count` training forwards from a Generator seeded `seed`."""
    rng = np.random.default_rng(seed)
    return [rng.random(shape) >= p for _ in range(count)]


DROP_HINT = ("in training mode draw the keep mask with one call of the module's own "
             "generator per forward, as the docstring says, and scale what is kept so the "
             "expected output equals the input; backward uses the same mask and scale.")


def dropout_train(ctx: Context, p: float, seed: int, reveal: bool = True) -> None:
    """Two training forwards and a backward: the masks of the seeded stream, scaled."""
    shape = tuple(ctx.settings["dropout"].shape)
    rng = _rng(ctx, 20) if reveal else fresh_rng()
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    keep = _masks(seed, p, shape, 2)
    what = f"Dropout(p={p:g}) in training mode" if reveal else "Dropout (hidden case)"
    with held(ctx.worker) as scope:
        h = scope.add(ctx.new("nn.Dropout", p, generator(ctx, seed, scope)))
        assert_close(ctx.method(h, "forward", x), x * keep[0] / (1 - p),
                     f"{what}: first forward", reveal=reveal, hint=DROP_HINT)
        assert_close(ctx.method(h, "backward", x, dout), dout * keep[0] / (1 - p),
                     f"{what}: backward", reveal=reveal, hint=DROP_HINT)
        assert_close(ctx.method(h, "forward", x), x * keep[1] / (1 - p),
                     f"{what}: second forward (a new mask)", reveal=reveal, hint=DROP_HINT)


def dropout_eval(ctx: Context, p: float, seed: int, reveal: bool = True) -> None:
    """Eval mode: the identity both ways, no random numbers drawn (the next training mask is
    still the stream's first)."""
    shape = tuple(ctx.settings["dropout"].shape)
    rng = _rng(ctx, 21) if reveal else fresh_rng()
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    what = f"Dropout(p={p:g}) in eval mode" if reveal else "Dropout (hidden case, eval)"
    hint = "in eval mode dropout is the identity and draws no random numbers."
    with held(ctx.worker) as scope:
        h = scope.add(ctx.new("nn.Dropout", p, generator(ctx, seed, scope)))
        kept(ctx, h, "eval", scope)
        assert_close(ctx.method(h, "forward", x), x, f"{what}: forward", reveal=reveal,
                     hint=hint)
        assert_close(ctx.method(h, "backward", x, dout), dout, f"{what}: backward",
                     reveal=reveal, hint=hint)
        kept(ctx, h, "train", scope)
        assert_close(ctx.method(h, "forward", x), x * _masks(seed, p, shape, 1)[0] / (1 - p),
                     f"{what}, then train(): the first training forward", reveal=reveal,
                     hint=hint)


@test("9.1", 2.5, "Dropout")
@gated
def test_dropout_train(ctx: Context) -> None:
    """Dropout (training): the masks of the given Generator, scaled by 1 / (1 - p)"""
    d = ctx.settings["dropout"]
    dropout_train(ctx, d.p, d.seed)


@test("9.2", 1.5, "Dropout")
@gated
def test_dropout_eval(ctx: Context) -> None:
    """Dropout (eval): the identity, forward and backward, drawing no random numbers"""
    d = ctx.settings["dropout"]
    dropout_eval(ctx, d.p, d.seed)


@test("9.3", 1, "Dropout", visibility="hidden")
def test_dropout_hidden(ctx: Context) -> None:
    """Dropout: training and eval behaviour (hidden p and seed)"""
    d, rng = ctx.settings["dropout"], fresh_rng()
    p, seed = float(rng.uniform(*d.hidden_p)), int(rng.integers(2**31))
    with verdicts.judged(ctx, verdict("Dropout")):
        dropout_train(ctx, p, seed, reveal=False)
        dropout_eval(ctx, p, seed, reveal=False)


TESTS += [
    # 10. BatchNorm1d
    _row(values_of("bn_train"), "10.1", 2, ("BatchNorm1d", "WeightBias"),
         "BatchNorm1d (train): output, gradients and running statistics match the reference"),
    _row(values_of("bn_eval"), "10.2", 1.5, ("BatchNorm1d", "WeightBias"),
         "BatchNorm1d (eval): uses the running statistics and leaves them unchanged"),
    _row(gradients_of("bn_train", "bn_eval", offset=30), "10.3", 2,
         ("BatchNorm1d", "WeightBias"),
         "BatchNorm1d: dx, grad_weight, grad_bias match numeric gradients (train and eval)"),
    _row(functools.partial(accumulation, case="bn_train"), "10.4", 0.5,
         ("BatchNorm1d", "WeightBias"),
         "BatchNorm1d: parameter gradients add up over two backward calls"),
    _row(hidden_of("bn_train", "bn_eval"), "10.5", 1.5, ("BatchNorm1d",),
         "BatchNorm1d: matches the reference, train and eval (hidden inputs)", "hidden"),
]


# -- 11. initializers ------------------------------------------------------------------------
def fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, Torch layouts."""
    receptive = math.prod(int(k) for k in shape[2:])      # 1 for a (out, in) shape
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def init_law(func: str, shape: Sequence[int]) -> tuple[str, float]:
    """(distribution, its std) the initializer must draw from."""
    fan_in, fan_out = fans(shape)
    std = math.sqrt(2.0 / (fan_in + fan_out)) if func.startswith("xavier") \
        else math.sqrt(2.0 / fan_in)
    return ("uniform" if func.endswith("uniform") else "normal"), std


def ks_uniform(values: np.ndarray, low: float, high: float) -> float:
    """sqrt(n) times the largest gap between the empirical CDF and U(low, high)'s."""
    x = np.sort(values.ravel())
    n = x.size
    cdf = np.clip((x - low) / (high - low), 0.0, 1.0)
    return math.sqrt(n) * max(float(np.max(np.arange(1, n + 1) / n - cdf)),
                              float(np.max(cdf - np.arange(n) / n)))


def check_init(ctx: Context, func: str, shape: tuple[int, ...], seed: int,
               reveal: bool = True) -> None:
    s = ctx.settings["init"]
    kind, std = init_law(func, shape)
    what = f"{func}({shape})" if reveal else f"{func} (hidden shape)"
    formula = (f"std = sqrt(2 / (fan_in + fan_out))" if func.startswith("xavier")
               else "std = sqrt(2 / fan_in)")
    hint = (f"{formula} with (fan_in, fan_out) from fan_in_fan_out; uniform draws use "
            f"bound = sqrt(3) * std.")
    with held(ctx.worker) as scope:
        values = sanity.finite_array(ctx.call(f"nn.{func}", shape, generator(ctx, seed, scope)),
                                     what, shape)
    n = values.size
    got_std, mean = float(values.std()), float(values.mean())
    detail = f" (expected {std:.4g})" if reveal else ""
    if abs(got_std / std - 1) > s.std_rtol:
        raise CheckFailed(f"{what}: sample std {got_std:.4g}{detail}, more than "
                          f"{s.std_rtol:.0%} off over {n} values. Hint: {hint}")
    if abs(mean) > s.mean_z * std / math.sqrt(n):
        raise CheckFailed(f"{what}: sample mean {mean:.3g} is not about 0. Hint: {hint}")
    if kind == "uniform":
        bound = math.sqrt(3.0) * std
        top = float(np.abs(values).max())
        if top > bound * (1 + 1e-9) or top < s.reach * bound:
            raise CheckFailed(f"{what}: the largest |value| is {top:.4g}; a uniform draw "
                              f"fills (-bound, bound){f' with bound {bound:.4g}' if reveal else ''}"
                              f". Hint: {hint}")
        stat = ks_uniform(values, -bound, bound)
        if stat > s.ks_max:
            raise CheckFailed(f"{what}: the values do not look uniform (Kolmogorov-Smirnov "
                              f"statistic {stat:.2f}, allowed {s.ks_max:g}). Hint: {hint}")
    else:
        sanity.normal_sample(values, std, what, s.ks_max)


def init_body(func: str) -> Callable[[Context], None]:
    def body(ctx: Context) -> None:
        s = ctx.settings["init"]
        for k, shape in enumerate((tuple(s.linear), tuple(s.conv))):
            check_init(ctx, func, shape, s.seed + k)
    return body


def fan_values(ctx: Context, shapes: Sequence[tuple[int, ...]], reveal: bool = True) -> None:
    for shape in shapes:
        got = ctx.call("nn.fan_in_fan_out", shape)
        assert_close(got, np.array(fans(shape), dtype=np.float64),
                     f"fan_in_fan_out({shape})" if reveal else "fan_in_fan_out (hidden shape)",
                     reveal=reveal, hint="(out, in) -> (in, out); (out, in, kH, kW) -> "
                                         "(in * kH * kW, out * kH * kW).")


@test("11.1", 1, "fan_in_fan_out")
@gated
def test_fans(ctx: Context) -> None:
    """fan_in_fan_out: Linear and Conv2d weight shapes"""
    s = ctx.settings["init"]
    fan_values(ctx, (tuple(s.linear), tuple(s.conv)))


TESTS += [_row(init_body(func), f"11.{k}", 1, (func, "fan_in_fan_out"),
               f"{func}: std, mean, bounds and distribution over a large draw")
          for k, func in enumerate(INITS, start=2)]


@test("11.6", 1, "fan_in_fan_out", *INITS, visibility="hidden")
def test_init_hidden(ctx: Context) -> None:
    """Initializers: right on fresh shapes and seeds (hidden)"""
    s, rng = ctx.settings["init"], fresh_rng()
    shapes = (draw_shape(rng, s.hidden_linear), draw_shape(rng, s.hidden_conv))
    checks: list[tuple[str, Callable[[], None]]] = [
        ("fan_in_fan_out", functools.partial(fan_values, ctx, shapes, False))]
    for func in INITS:
        seeds = [int(rng.integers(2**31)) for _ in shapes]
        checks.append((func, functools.partial(_init_shapes, ctx, func, shapes, seeds)))
    judge_each(ctx, checks)


def _init_shapes(ctx: Context, func: str, shapes: Sequence[tuple[int, ...]],
                 seeds: Sequence[int]) -> None:
    for shape, seed in zip(shapes, seeds):
        check_init(ctx, func, shape, seed, reveal=False)


# -- 12. optimizers --------------------------------------------------------------------------
def optimizer_steps(ctx: Context, case: str, hidden: bool = False) -> None:
    """Four steps of the rule over two parameters; before each, new gradients are written into
    the SAME arrays the optimizer was given (in place); parameters compared after each."""
    cls, hyper = OPTIM_CASES[case]
    f = ctx.expected(case, _set(hidden))
    reveal = not hidden
    args = ", ".join(f"{k}={v:g}" for k, v in hyper.items())
    what = f"{cls}({args})" if reveal else f"{cls} (hidden case)"
    n = len([k for k in f if k.startswith("p0_")])
    with held(ctx.worker) as scope:
        params = scope.add(ctx.new("builtins.list", [np.array(f[f"p0_{i}"]) for i in range(n)]))
        grads = scope.add(ctx.new("builtins.list", [np.zeros_like(f[f"p0_{i}"])
                                                    for i in range(n)]))
        opt = scope.add(ctx.new(f"optim.{cls}", params, grads, **hyper))
        g = [kept(ctx, grads, "__getitem__", scope, i) for i in range(n)]
        for k in range(STEPS):
            reqs = [r for i in range(n) for r in (req_method(g[i], "fill", (0.0,)),
                                                  req_method(g[i], "__iadd__",
                                                             (f[f"g_{i}"][k],)))]
            reqs += [req_method(opt, "step")]
            reqs += [req_method(params, "__getitem__", (i,)) for i in range(n)]
            got = ctx.worker.batch(reqs)[-n:]
            for i in range(n):
                assert_close(got[i], f[f"steps_{i}"][k],
                             f"{what}: parameter {i} after step {k + 1}", reveal=reveal,
                             hint=f"follow the update of the {cls} docstring exactly (weight "
                                  f"decay included, as the docstring adds it to the "
                                  f"gradient); the state persists between steps.")


TESTS += [
    _row(functools.partial(optimizer_steps, case=case), f"12.{k}", weight,
         (OPTIM_CASES[case][0], "Optimizer"),
         f"{OPTIM_CASES[case][0]}: four steps match the reference")
    for k, (case, weight) in enumerate((("sgd_momentum", 2), ("adagrad", 1.5),
                                        ("rmsprop", 1.5), ("adam", 2)), start=1)
]


@test("12.5", 1.5, *RULES, visibility="hidden")
def test_optim_hidden(ctx: Context) -> None:
    """Optimizers: four steps match the reference (hidden inputs)"""
    judge_each(ctx, [(cls, functools.partial(optimizer_steps, ctx, case, True))
                     for case, (cls, _) in OPTIM_CASES.items()])


# -- 13. LeNet-5 -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def mnist() -> dict[str, np.ndarray]:
    """The MNIST splits (trusted side; the worker gets only what a test sends it)."""
    import hwdata
    return dict(hwdata.load("mnist"))


def lenet(ctx: Context, seed: int, scope: Held) -> Handle:
    return scope.add(ctx.call("lenet.lenet5", generator(ctx, seed, scope), keep=(0,)))


def lenet_parameters(ctx: Context, model: Handle, what: str) -> list[np.ndarray]:
    """model.parameters() read out of the worker: 10 finite arrays of LeNet-5's shapes."""
    T = _trusted()
    got = ctx.method(model, "parameters")
    shapes = T.PARAM_SHAPES if T else None
    if not isinstance(got, list) or (shapes and len(got) != len(shapes)):
        raise CheckFailed(f"{what}: parameters() must be a list of "
                          f"{len(shapes) if shapes else 10} arrays (weight and bias of the two "
                          f"Conv2d and the three Linear modules, in module order).")
    return [sanity.finite_array(a, f"{what}: parameters()[{i}]", shapes[i] if shapes else None)
            for i, a in enumerate(got)]


LENET_HINT = ("lenet5 must return the 12 modules of lenet.py's docstring in that order, with "
              "Torch layouts (conv weight (F, C, kH, kW), linear weight (out, in)).")


@test("13.1", 2.5, *LENET_TAGS)
@gated
def test_lenet_structure(ctx: Context) -> None:
    """lenet5: 12 modules, parameter shapes and count, output of the classic LeNet-5"""
    X = mnist()["X_val"][:ctx.settings["lenet_images"]]
    T = _trusted()
    with held(ctx.worker) as scope:
        model = lenet(ctx, _rng(ctx, 40).integers(1000), scope)
        if ctx.method(model, "__len__") != 12:
            raise CheckFailed(f"lenet5: expected a Sequential of 12 modules. Hint: {LENET_HINT}")
        params = lenet_parameters(ctx, model, "lenet5")
        total = sum(p.size for p in params)
        if total != ctx.settings["lenet_parameters"]:
            raise CheckFailed(f"lenet5: {total} parameters, expected "
                              f"{ctx.settings['lenet_parameters']:,}. Hint: {LENET_HINT}")
        for i in range(1, len(params), 2):
            if np.any(params[i] != 0):
                raise CheckFailed(f"lenet5: parameters()[{i}] (a bias) must start at zero.")
        for i in range(0, len(params), 2):
            sanity.normal_sample(params[i], math.sqrt(2.0 / fans(params[i].shape)[0]),
                                 f"lenet5: parameters()[{i}] (a weight)",
                                 ctx.settings["init"].ks_max)
        out = ctx.method(model, "forward", X)
    if T is None:
        sanity.finite_array(out, "lenet5 forward", (len(X), ctx.settings["num_classes"]))
        ctx.note("Provisional: after you submit, the output is compared with the grader's "
                 "own LeNet-5 forward.")
        return
    assert_close(out, T.scores(params, X), f"lenet5(...).forward on {len(X)} images",
                 hint=LENET_HINT)


@test("13.2", 1, "predict", *LENET_TAGS)
@gated
def test_predict(ctx: Context) -> None:
    """predict: the argmax of the scores, for every image (in chunks)"""
    X = mnist()["X_val"][:ctx.settings["predict_images"]]
    T = _trusted()
    with held(ctx.worker) as scope:
        model = lenet(ctx, 41, scope)
        params = lenet_parameters(ctx, model, "lenet5")
        got = sanity.labels(ctx.call("lenet.predict", model, X, batch_size=25), len(X),
                            ctx.settings["num_classes"], "predict", strict_dtype=False)
    if T is not None:
        wrong = np.flatnonzero(got != np.argmax(T.scores(params, X), axis=1))
        if wrong.size:
            raise CheckFailed(f"predict(model, X, batch_size=25): {wrong.size} of {len(X)} "
                              f"labels are not the argmax of the model's scores (first at row "
                              f"{int(wrong[0])}). Hint: eval mode, the scores of every chunk, "
                              f"argmax over the classes.")


@test("13.3", 2, *TRAIN_TAGS)
@trained
def test_train(ctx: Context) -> None:
    """train: one loss per minibatch, and the trained parameters fit better (grader's loss)"""
    c, d = ctx.settings["train_check"], mnist()
    X, y = d["X_train"][:c.n], d["y_train"][:c.n]
    T = _trusted()
    with held(ctx.worker) as scope:
        model = lenet(ctx, c.seed, scope)
        before = lenet_parameters(ctx, model, "lenet5")
        history = ctx.call("lenet.train", model, X, y, learning_rate=c.learning_rate,
                           weight_decay=c.weight_decay, batch_size=c.batch_size,
                           epochs=c.epochs, rng=generator(ctx, c.seed + 1, scope),
                           timeout=ctx.assignment.limits.train_seconds)
        after = lenet_parameters(ctx, model, "LeNet-5 after train()")
    batches = c.epochs * math.ceil(c.n / c.batch_size)
    h = sanity.finite_array(history, "train(): the returned losses")
    if h.shape != (batches,):
        raise CheckFailed(f"train(): expected one loss per minibatch ({batches} = {c.epochs} "
                          f"epochs x {math.ceil(c.n / c.batch_size)}), got shape {h.shape}.")
    if T is None:
        sanity.loss_decreases(h, "train(): the losses")
        return
    l0, l1 = T.loss(before, X, y), T.loss(after, X, y)
    if not l1 < c.fraction * l0:
        raise CheckFailed(f"train(): the grader's loss of the parameters on the {c.n} training "
                          f"images went from {l0:.3f} to {l1:.3f}, not below {c.fraction:g} "
                          f"of the start. Hint: every minibatch: zero_grad, forward, "
                          f"criterion, backward, one step of the one Adam of the run.")
    ctx.note(f"The grader's loss on the {c.n} images: {l0:.3f} before, {l1:.3f} after.")


def trained_accuracy(ctx: Context, seed: int) -> accuracy.Measured:
    """Train lenet5 on the whole training split with the file's HYPERPARAMS (validated, epochs
    capped) and train()'s rng seeded `seed`; score the held-out split and the validation split
    with the grader's own forward from the trained parameters."""
    hp = accuracy.validate_hyperparams(ctx.constant("lenet", "HYPERPARAMS"),
                                       ctx.settings["hyperparams"])
    hp, capped = accuracy.cap_iters(hp, ctx.settings["max_epochs"], key="epochs")
    if capped:
        ctx.note(capped)
    d = mnist()
    data = accuracy.worker_data(d, ("X_train", "y_train"))
    T = _trusted()
    with held(ctx.worker) as scope:
        model = lenet(ctx, seed, scope)
        ctx.call("lenet.train", model, data["X_train"], data["y_train"], **hp,
                 rng=generator(ctx, seed + 1, scope),
                 timeout=ctx.assignment.limits.train_seconds)
        params = lenet_parameters(ctx, model, "LeNet-5 after train()")

        def accuracy_of(X: np.ndarray, y: np.ndarray) -> float:
            if T is not None:
                pred = np.argmax(T.scores(params, X), axis=1)
            else:
                pred = ctx.call("lenet.predict", model, X)
            return accuracy.accuracy(pred, y, ctx.settings["num_classes"], "LeNet-5")
        measured = accuracy.measure(d, accuracy_of)
    if measured.split != "test":
        ctx.note(accuracy.SELF_CHECK_NOTE)
    return measured


@test("13.4", 7, *TRAIN_TAGS)
@trained
def test_accuracy(ctx: Context) -> None:
    """LeNet-5: held-out accuracy when trained with your HYPERPARAMS"""
    m = trained_accuracy(ctx, ctx.settings["train_seed"])
    accuracy.grade_accuracy(ctx, m.graded, ctx.test.weight, "LeNet-5", m.split,
                            validation=m.validation)


def calibration_run(ctx: Context, seed: int) -> float:
    """The graded accuracy of one run, through the accuracy test's own code path."""
    return trained_accuracy(ctx, seed).graded


def calibration_facts(ctx: Context) -> dict[str, Any]:
    return {"hyperparams": ctx.constant("lenet", "HYPERPARAMS"),
            "max_epochs": ctx.settings["max_epochs"]}


def calibration_labels() -> np.ndarray:
    return mnist()["y_test"]


# -- random search ---------------------------------------------------------------------------
def search(ctx: Context, seed: int, trials: int, reveal: bool = True) -> None:
    """random_search with lenet5 as the builder on a few images: every drawn log10(lr) and
    log10(weight decay) uniform over its range (KS), the best trial the first maximum."""
    s, d = ctx.settings["search"], mnist()
    what = f"random_search(num_trials={trials})" if reveal else "random_search (hidden case)"
    with held(ctx.worker) as scope:
        # a handle to the file's own lenet5, however random_search is defined or decorated
        builder = scope.add(ctx.new("lenet.__dict__.get", "lenet5"))
        got = ctx.call("lenet.random_search", builder, d["X_train"][:s.n_train],
                       d["y_train"][:s.n_train], d["X_val"][:s.n_val], d["y_val"][:s.n_val],
                       generator(ctx, seed, scope), trials, lr_range=tuple(s.lr_range),
                       reg_range=tuple(s.reg_range), epochs=1, batch_size=s.batch_size,
                       timeout=ctx.assignment.limits.train_seconds)
    rows = got.get("trials") if isinstance(got, dict) else None
    if not isinstance(rows, list) or len(rows) != trials or \
            not all(isinstance(r, dict) for r in rows):
        raise CheckFailed(f"{what}: must return a dict whose 'trials' is a list of {trials} "
                          f"dicts.")
    for key, (low, high) in (("learning_rate", s.lr_range), ("weight_decay", s.reg_range)):
        values = sanity.finite_array([r.get(key) for r in rows], f"{what}: trials' {key}")
        if np.any(values < low) or np.any(values > high):
            raise CheckFailed(f"{what}: a trial's {key} is outside [{low:g}, {high:g}].")
        stat = ks_uniform(np.log10(values), math.log10(low), math.log10(high))
        if stat > s.ks_max:
            raise CheckFailed(f"{what}: log10 of the {trials} {key} values is not uniform over "
                              f"[{math.log10(low):g}, {math.log10(high):g}] "
                              f"(Kolmogorov-Smirnov statistic {stat:.2f}, allowed "
                              f"{s.ks_max:g}). Hint: 10 ** rng.uniform(log10(low), "
                              f"log10(high)): every decade equally likely.")
    accs = sanity.finite_array([r.get("val_accuracy") for r in rows], f"{what}: val_accuracy")
    best = rows[int(np.argmax(accs))]
    for key in ("learning_rate", "weight_decay", "val_accuracy"):
        assert_close(got.get(key), best.get(key), f"{what}: the returned {key} (of the best "
                     f"trial, the first maximum of val_accuracy)", reveal=reveal)


@test("13.5", 2.5, "random_search", *TRAIN_TAGS, "predict")
@gated
def test_random_search(ctx: Context) -> None:
    """random_search: log-uniform draws (KS) and the best trial on validation data"""
    s = ctx.settings["search"]
    search(ctx, s.seed, s.draws)


@test("13.6", 0.5, "random_search", visibility="hidden")
def test_random_search_hidden(ctx: Context) -> None:
    """random_search: log-uniform draws on a fresh seed (hidden)"""
    s = ctx.settings["search"]
    with verdicts.judged(ctx, verdict("random_search")):
        search(ctx, int(fresh_rng().integers(2**31)), s.hidden_draws, reveal=False)
