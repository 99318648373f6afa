"""Checking a layer: a student's forward/backward pair, called through the sandbox.

A layer is a pair of student functions in the CS231n / Torch7 style,
    forward(*inputs, *params) -> (out, cache)      backward(dout, cache) -> d<input>...
(one array when there is one differentiable input, else a tuple, in the inputs' order).
`Layer` names the pair, its differentiable inputs and how to build the other arguments from a
case of expected values; the suite brings the cases, hints, labels and which verdict keys to
record. Nothing here knows a particular layer, so any suite can check its layers with it.

What it checks (each function raises CheckFailed with a student-facing message):
- `check_values`: the forward's `out`, and the backward fed the case's `dout`, against the
  case's expected values (built from `reference/`). On hidden inputs (`reveal=False`)
  nothing of the case is printed, and with `verdict` each function's verdict is recorded
  (grader.checks.verdicts) for the visible tests that pay out only for right functions;
- `check_gradients`: the backward, fed the cache of the student's OWN forward, against
  centred differences of that forward (grader.checks.gradcheck, objective sum(out * dout)),
  so a wrong forward cannot hide a wrong backward and vice versa;
- `check_speed`: forward + backward (one sandbox round trip each) against a trusted
  yardstick, timed here and interleaved, every timed call on fresh inputs with its answers
  checked, so a result cache or a "this is the timed shape" shortcut gains nothing;
- `check_backward_cost`: a naive backward against a trusted loop over the output values,
  so a numeric derivative of the forward (two forward passes per input value) is not
  accepted as a backward pass.

The cache never crosses the sandbox boundary: the forward is called with `keep=(1,)`, so the
cache stays in the worker behind a handle, which the backward receives. Every handle belongs
to a `held` scope and is released when the scope closes, whatever happened in it.
"""
from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from grader.checks import gradcheck, speed, verdicts
from grader.checks.compare import RTOL, as_array, assert_close, unpack
from grader.framework import CheckFailed
from grader.sandbox import Handle, StudentError, req_call

Case = Mapping[str, np.ndarray]               # one case of expected values
Draw = Callable[[], tuple[tuple, np.ndarray]]  # -> (forward args, dout), fresh on every call


def no_params(case: Case) -> tuple:
    """A layer whose forward takes only its differentiable inputs."""
    return ()


@dataclass(frozen=True)
class Layer:
    """A student's forward/backward pair in `module`."""
    module: str                          # e.g. "layers"
    forward: str                         # function names, e.g. "linear_forward"
    backward: str | None = None
    inputs: tuple[str, ...] = ("x",)     # the forward's leading, differentiable arguments
    params: Callable[[Case], tuple] = no_params    # its other arguments, built from a case

    def target(self, func: str) -> str:
        return f"{self.module}.{func}"

    def args(self, case: Case) -> tuple:
        """The forward's arguments for a case: its inputs by name, then the parameters."""
        return tuple(case[name] for name in self.inputs) + tuple(self.params(case))

    @property
    def grads(self) -> tuple[str, ...]:
        """What the backward returns, in order: "dx", "dw", ..."""
        return tuple(f"d{name}" for name in self.inputs)


# -- objects kept in the worker ----------------------------------------------------------------
class Held:
    """Handles of objects kept in the worker (layer caches, parameter dicts), released together
    by the `held` scope that made it."""

    def __init__(self, worker: Any):
        self.worker, self.handles = worker, []

    def add(self, value: Any) -> Any:
        """Hold `value` if it is a handle (or a tuple/list holding some); returns it."""
        items = value if isinstance(value, (tuple, list)) else (value,)
        self.handles.extend(h for h in items if isinstance(h, Handle))
        return value

    def release(self) -> None:
        """Free what is held now; a dead worker has nothing left to free."""
        live, self.handles = self.handles, []
        if live:
            try:
                self.worker.release(*live)
            except StudentError:
                pass


@contextlib.contextmanager
def held(worker: Any) -> Iterator[Held]:
    """A scope for objects kept in the worker: everything added is released on the way out,
    whether the block passed, failed a check or crashed."""
    scope = Held(worker)
    try:
        yield scope
    finally:
        scope.release()


# -- one call each way ---------------------------------------------------------------------------
def forward(ctx: Any, layer: Layer, args: tuple, scope: Held) -> tuple[Any, Handle]:
    """`forward(*args)` -> (out as returned, cache handle held by `scope`)."""
    value = scope.add(ctx.call(layer.target(layer.forward), *args, keep=(1,)))
    out, cache = unpack(value, 2, f"{layer.forward} return value (out, cache)")
    return out, cache


def backward(ctx: Any, layer: Layer, dout: np.ndarray, cache: Handle) -> tuple[Any, ...]:
    """`backward(dout, cache)` -> one gradient per differentiable input, as returned."""
    value = ctx.call(layer.target(layer.backward), dout, cache)
    n = len(layer.inputs)
    return (value,) if n == 1 else unpack(value, n, f"{layer.backward} return value")


def pair(ctx: Any, layer: Layer, args: tuple, dout: np.ndarray) -> tuple[Any, ...]:
    """forward then backward, the cache released: (out, *grads) as returned."""
    with held(ctx.worker) as scope:
        out, cache = forward(ctx, layer, args, scope)
        return (out, *backward(ctx, layer, dout, cache))


# -- values against a case -----------------------------------------------------------------------
def _judge(ctx: Any, verdict: Callable[[str], str] | None, func: str
           ) -> contextlib.AbstractContextManager:
    return verdicts.judged(ctx, verdict(func)) if verdict else contextlib.nullcontext()


def check_values(ctx: Any, layer: Layer, case: Case, *, label: str, reveal: bool,
                 with_backward: bool = True, hint: str = "", back_hint: str = "",
                 rtol: float = RTOL, verdict: Callable[[str], str] | None = None) -> None:
    """The forward's out (and, `with_backward`, the backward fed the case's `dout`) against
    the case's `out` and `d<input>`. With `verdict` (function name -> verdict key) each
    function's verdict is recorded; a forward that fails leaves its backward's unrecorded."""
    with held(ctx.worker) as scope:
        with _judge(ctx, verdict, layer.forward):
            out, cache = forward(ctx, layer, layer.args(case), scope)
            assert_close(out, case["out"], f"{layer.forward} ({label}): out", reveal=reveal,
                         hint=hint, rtol=rtol)
        if layer.backward is None or not with_backward:
            return
        with _judge(ctx, verdict, layer.backward):
            grads = backward(ctx, layer, case["dout"], cache)
            for name, grad in zip(layer.inputs, grads):
                assert_close(grad, case[f"d{name}"], f"{layer.backward} ({label}): d{name}",
                             reveal=reveal, hint=back_hint, rtol=rtol)


# -- gradients against the student's own forward ------------------------------------------------
def weighted_sum(value: Any, dout: np.ndarray, what: str) -> float:
    """sum(out * dout) for a forward's (out, cache) return: the numeric-gradient objective."""
    out = as_array(unpack(value, 2, f"{what} return value")[0], f"{what}: out")
    if out.shape != dout.shape:
        raise CheckFailed(f"{what}: out has shape {out.shape}, expected {dout.shape}.")
    return float(np.sum(out * dout))


def check_gradients(ctx: Any, layer: Layer, args: tuple, dout: np.ndarray, *,
                    rng: np.random.Generator, hint: str = "") -> None:
    """The backward (fed the cache of the student's own forward) against centred differences
    of that forward, for each differentiable input; a failure names the input."""
    fwd = layer.forward
    with held(ctx.worker) as scope:
        out, cache = forward(ctx, layer, args, scope)
        shape = as_array(out, f"{fwd}: out").shape
        if shape != dout.shape:
            raise CheckFailed(f"{fwd}: out has shape {shape}, expected {dout.shape}.")
        grads = backward(ctx, layer, dout, cache)
    for i, (name, grad) in enumerate(zip(layer.grads, grads)):
        with held(ctx.worker) as caches:      # of the perturbed forwards, kept in the worker
            def requests_for(xi: np.ndarray, i: int = i) -> list:
                a = list(args)
                a[i] = xi
                return [req_call(layer.target(fwd), tuple(a), keep=(1,))]

            def objective(value: Any) -> float:
                if isinstance(value, (tuple, list)) and len(value) == 2:
                    caches.add(value[1])
                return weighted_sum(value, dout, fwd)
            gradcheck.gradcheck(ctx.worker, requests_for, args[i], grad, objective,
                                f"{layer.backward}: {name}", rng=rng, hint=hint)


# -- fresh inputs, speed and cost ------------------------------------------------------------------
def fresh_rng() -> np.random.Generator:
    """A generator for inputs nobody has seen before (drawn at grading time)."""
    return np.random.default_rng(secrets.randbits(64))


def draw_shape(rng: np.random.Generator, ranges: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """One size per (low, high) inclusive range."""
    return tuple(int(rng.integers(lo, hi + 1)) for lo, hi in ranges)


def same_answers(got: Sequence[Any], expected: Sequence[np.ndarray], names: Sequence[str],
                 what: str, hint: str) -> None:
    """Each returned value against the trusted answer (hidden: no expected values shown)."""
    for name, g, e in zip(names, got, expected):
        assert_close(g, e, f"{what}: {name}", reveal=False, hint=hint)


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    return speed.best_time(run, repeats=1)


def check_speed(ctx: Any, layer: Layer, draw: Draw,
                yardstick: Callable[[tuple, np.ndarray], Sequence[np.ndarray]], *,
                repeats: int, max_ratio: float, hint: str, slow_hint: str) -> None:
    """The student's forward+backward (sandbox round trips) against the trusted `yardstick`
    (args, dout) -> (out, *grads), timed here and interleaved, best of `repeats`: nothing the
    student writes can slow the yardstick down. Every timed call gets fresh inputs (`draw`)
    and its answers must equal the yardstick's. Fails above `max_ratio` x its time."""
    names = ("out",) + layer.grads
    what = f"{layer.forward} + {layer.backward}"
    shape: tuple[int, ...] = ()

    def one_round() -> tuple[float, float]:
        nonlocal shape
        best_yours = best_grader = float("inf")
        for _ in range(repeats):
            args, dout = draw()
            shape = tuple(args[0].shape)
            t_yours, got = _timed(lambda: pair(ctx, layer, args, dout))
            t_grader, expected = _timed(lambda: yardstick(args, dout))
            best_yours, best_grader = min(best_yours, t_yours), min(best_grader, t_grader)
            same_answers(got, expected, names,
                         f"{what} (timed, x of shape {shape}, fresh values)", hint)
        return best_yours, best_grader
    yours, grader = speed.in_rounds(one_round, max_ratio)
    best = {"yours": yours, "grader": grader}
    ratio = best["yours"] / max(best["grader"], 1e-9)
    if ratio > max_ratio:
        raise CheckFailed(
            f"{what} took {best['yours'] * 1e3:.1f} ms on x of shape {shape}: {ratio:.0f}x the "
            f"time of the grader's vectorized version ({best['grader'] * 1e3:.2f} ms); at most "
            f"{max_ratio:g}x is allowed. Hint: {slow_hint}")
    ctx.note(f"{what}: {best['yours'] * 1e3:.1f} ms on x of shape {shape}, {ratio:.1f}x the "
             f"grader's vectorized version (at most {max_ratio:g}x allowed).")


def check_backward_cost(ctx: Any, layer: Layer, draw: Draw,
                        loops: Callable[[tuple, np.ndarray], Any],
                        reference: Callable[[tuple, np.ndarray], Sequence[np.ndarray]], *,
                        repeats: int, max_ratio: float, hint: str) -> None:
    """The student's backward on fresh inputs (answers checked against `reference`), timed
    against the trusted `loops` (a plain loop over the output values): the first of up to
    `repeats` tries within `max_ratio` passes; a try beyond 4x the limit ends the check."""
    bwd = layer.backward
    ratio, t_yours = float("inf"), 0.0
    for _ in range(repeats):
        args, dout = draw()
        with held(ctx.worker) as scope:
            _, cache = forward(ctx, layer, args, scope)

            def run() -> tuple[Any, ...]:
                try:
                    return backward(ctx, layer, dout, cache)
                finally:
                    scope.release()          # inside the timing, as every cache release was
            t_yours, grads = _timed(run)
        t_loop = _timed(lambda: loops(args, dout))[0]
        same_answers(grads, reference(args, dout), layer.grads, f"{bwd} (hidden case)", hint)
        ratio = min(ratio, t_yours / max(t_loop, 1e-9))
        if ratio <= max_ratio or ratio > 4 * max_ratio:
            break
    if ratio > max_ratio:
        raise CheckFailed(f"{bwd}: took {t_yours * 1e3:.0f} ms on a hidden input, {ratio:.0f}x "
                          f"the time of a plain loop over the output values (at most "
                          f"{max_ratio:g}x is allowed). Hint: {hint}")
    ctx.note(f"{bwd}: {ratio:.1f}x the time of a plain loop over the output values (at most "
             f"{max_ratio:g}x allowed).")
