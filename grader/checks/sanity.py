"""Sanity checks on values returned by student code (trusted side, generic).

Each function takes values the worker already returned (plain data), coerces them with
`grader.checks.compare`, and raises `CheckFailed` with a student-facing message naming the
function (`what`), what was expected, what came back and a hint. None of them calls the worker:
the suite decides what to run, these decide whether the answer is sane.

    chance_loss(loss, num_classes, what)         loss ~ ln C with small random weights
    reg_raises_loss(loss0, loss_reg, what, expected_increase=None)
    finite_scalar(value, what, hint)             e.g. the loss on logits ~1e4 (stability)
    finite_array(value, what, shape=None)        a finite array (of a given shape)
    loss_decreases(history, what, min_len=)      a training loss history goes down
    labels(pred, n, num_classes, what, strict_dtype=)   (N,) integer labels in [0, C)
    same_result(a, b, what)                      determinism under the same seed
    overfit(train_acc, what, threshold=1.0)      a tiny training set is learned
    normal_sample(values, std, what, ks_max)     values look like draws from N(0, std**2)
    gradient_along(grads, params, loss_of, rng, what)   a returned gradient against a
                                                 trusted loss, along a random direction

"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from grader.checks.compare import as_array, as_scalar
from grader.framework import CheckFailed

CHANCE_ATOL = 0.05        # |loss - ln C| allowed with weights ~1e-3 or smaller
STABILITY_HINT = ("exp() of scores in the thousands overflows to inf, and the probability of a "
                  "class thousands below the best one underflows to 0, whose log is -inf. "
                  "Shift each row by its largest score, AND take the loss from "
                  "log-probabilities in the log-sum-exp form, never from the log of a "
                  "probability (the README's \"Numerical stability\" section).")
STABLE_MISMATCH_HINT = ("with large scores the result must still match. Shifting each row by "
                        "its largest score is the first step; if you do it already, look at "
                        "where you take a log: the loss must come from log-probabilities in "
                        "the log-sum-exp form (the README's \"Numerical stability\" "
                        "section), and clipping the scores changes the answer. If the test on "
                        "ordinary inputs fails as well, fix that one first.")


def chance_loss(loss: Any, num_classes: int, what: str, *, atol: float = CHANCE_ATOL) -> float:
    """With tiny weights every class is equally likely, so the loss must be about ln C."""
    value = finite_scalar(loss, what)
    expected = math.log(num_classes)
    if abs(value - expected) > atol:
        raise CheckFailed(
            f"{what}: with small random weights every class is about equally likely, so the "
            f"loss should be close to ln({num_classes}) = {expected:.4f} (within {atol:g}); "
            f"got {value:.6g}. Hint: the loss is the MEAN over the batch of -log p[correct].")
    return value


def reg_raises_loss(loss0: Any, loss_reg: Any, what: str, *,
                    expected_increase: float | None = None, rtol: float = 1e-6) -> float:
    """The same data with reg > 0 must give a larger loss; with `expected_increase` (computed
    on the trusted side, e.g. reg * sum(W**2)) the increase must equal it."""
    a = finite_scalar(loss0, f"{what} (reg = 0)")
    b = finite_scalar(loss_reg, f"{what} (reg > 0)")
    if not b > a:
        raise CheckFailed(f"{what}: adding regularization did not raise the loss (reg = 0: "
                          f"{a:.6g}, reg > 0: {b:.6g}). Hint: add reg * sum(W**2) to the loss.")
    if expected_increase is not None:
        got = b - a
        if abs(got - expected_increase) > 1e-10 + rtol * abs(expected_increase):
            raise CheckFailed(
                f"{what}: regularization raised the loss by {got:.6g}, but reg * sum(W**2) "
                f"over the weight matrices is {expected_increase:.6g}. Hint: the penalty is "
                f"reg * np.sum(W * W) for every weight matrix (not the biases), not halved.")
    return b - a


def finite_scalar(value: Any, what: str, hint: str = "") -> float:
    """A single finite number, else CheckFailed (inf/nan usually means exp() overflowed)."""
    x = as_scalar(value, what)
    if not math.isfinite(x):
        raise CheckFailed(f"{what}: expected a finite number, got {x}."
                          + (f" Hint: {hint}" if hint else ""))
    return x


def finite_array(value: Any, what: str, shape: tuple[int, ...] | None = None,
                 hint: str = "") -> np.ndarray:
    """A finite float64 array (of `shape` when given), e.g. a baseline to compare against."""
    arr = as_array(value, what)
    if shape is not None and arr.shape != tuple(shape):
        raise CheckFailed(f"{what}: wrong shape: expected {tuple(shape)}, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise CheckFailed(f"{what}: contains non-finite values."
                          + (f" Hint: {hint}" if hint else ""))
    return arr


def loss_decreases(history: Any, what: str, *, min_len: int = 2,
                   window: float = 0.1) -> np.ndarray:
    """A 1-D finite loss history of at least `min_len` entries whose mean over the last
    `window` fraction is below its mean over the first one (minibatch noise is averaged)."""
    h = as_array(history, what)
    if h.ndim != 1 or h.size < min_len:
        raise CheckFailed(f"{what}: expected a list of at least {min_len} losses (one per "
                          f"iteration), got shape {h.shape}.")
    if not np.all(np.isfinite(h)):
        first = int(np.flatnonzero(~np.isfinite(h))[0])
        raise CheckFailed(f"{what}: the loss became non-finite at iteration {first}. Hint: "
                          "is the learning rate far too large, or exp() overflowing?")
    k = max(1, int(round(window * h.size)))
    start, end = float(h[:k].mean()), float(h[-k:].mean())
    if not end < start:
        raise CheckFailed(f"{what}: the loss did not decrease during training (mean of the "
                          f"first {k} iterations {start:.4g}, of the last {k} {end:.4g}). "
                          "Hint: is every step taken against the gradient, with the "
                          "learning rate applied?")
    return h


def labels(pred: Any, n: int, num_classes: int, what: str, *,
           strict_dtype: bool = True) -> np.ndarray:
    """Predicted labels: shape (n,), integers in [0, num_classes). With `strict_dtype` the
    array must have an integer dtype; otherwise integral float values are accepted."""
    if strict_dtype and isinstance(pred, np.ndarray) and type(pred) is np.ndarray \
            and pred.dtype.kind not in "iu":
        raise CheckFailed(f"{what}: expected an integer array of labels, got dtype {pred.dtype}."
                          " Hint: np.argmax returns integers.")
    arr = as_array(pred, what)
    if strict_dtype and not isinstance(pred, np.ndarray):
        raise CheckFailed(f"{what}: expected a numpy array of labels, got "
                          f"{type(pred).__name__}.")
    if arr.shape != (n,):
        raise CheckFailed(f"{what}: expected shape ({n},) (one label per row of X), got "
                          f"{arr.shape}.")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise CheckFailed(f"{what}: labels must be whole numbers.")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise CheckFailed(f"{what}: labels must lie in [0, {num_classes}); got values from "
                          f"{arr.min():g} to {arr.max():g}.")
    return arr.astype(np.int64)


def same_result(a: Any, b: Any, what: str, *, rtol: float = 1e-12) -> None:
    """Two runs with the same seed must give the same numbers (to rounding)."""
    x, y = as_array(a, what), as_array(b, what)
    if x.shape != y.shape or not np.allclose(x, y, rtol=rtol, atol=1e-12, equal_nan=True):
        raise CheckFailed(f"{what}: two runs with the same seed gave different results. Hint: "
                          "draw every random number from np.random.default_rng(seed), not "
                          "from the global np.random state.")


def overfit(train_acc: float, what: str, *, threshold: float = 1.0) -> None:
    """Training accuracy on a tiny set after many steps must reach `threshold`."""
    if train_acc < threshold - 1e-12:
        raise CheckFailed(f"{what}: a network trained on a tiny set should fit it "
                          f"(training accuracy >= {threshold:.0%}); got {train_acc:.1%}. Hint: "
                          "check the parameter update and the gradients of every layer.")


def normal_sample(values: Any, std: float, what: str, ks_max: float) -> float:
    """Kolmogorov-Smirnov check that `values` are draws from N(0, std**2): sqrt(n) times the
    largest gap between their empirical CDF and the normal CDF must stay below `ks_max`.
    A fixed pattern with the right mean and std (e.g. +-std) fails; any correct draw passes
    but with a tiny probability. Returns the scaled statistic."""
    x = np.sort(as_array(values, what).ravel()) / std
    n = x.size
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    gap = max(float(np.max(np.arange(1, n + 1) / n - cdf)), float(np.max(cdf - np.arange(n) / n)))
    stat = math.sqrt(n) * gap
    if stat > ks_max:
        raise CheckFailed(f"{what}: the values do not look like independent draws from a normal "
                          f"distribution with std {std:g} (Kolmogorov-Smirnov statistic "
                          f"{stat:.2f}, allowed {ks_max:g}). Hint: draw them with the "
                          "generator's standard_normal and scale by std.")
    return stat


DIRECTION_STEP = 1e-6     # step of the centred difference along a unit direction
DIRECTION_RTOL = 1e-6     # relative to |gradient| + |difference|: float32 gradients pass
DIRECTION_ATOL = 1e-9     # absolute slack (rounding of the trusted loss)
DIRECTION_TRIES = 5       # directions tried before accepting one that meets a kink (ReLU)


def _along(params: dict[str, np.ndarray], loss_of: Callable[[dict[str, np.ndarray]], float],
           v: dict[str, np.ndarray], h: float) -> float:
    """Centred difference of `loss_of` at `params` along `v` with step `h`."""
    at = lambda s: {k: np.asarray(p, np.float64) + s * h * v[k] for k, p in params.items()}
    return (loss_of(at(1.0)) - loss_of(at(-1.0))) / (2 * h)


def _unit_direction(params: dict[str, np.ndarray], rng: np.random.Generator
                    ) -> dict[str, np.ndarray]:
    v = {k: rng.standard_normal(np.shape(p)) for k, p in params.items()}
    norm = math.sqrt(sum(float(np.sum(d * d)) for d in v.values()))
    return {k: d / norm for k, d in v.items()}


def gradient_along(grads: dict[str, Any], params: dict[str, np.ndarray],
                   loss_of: Callable[[dict[str, np.ndarray]], float],
                   rng: np.random.Generator, what: str, hint: str = "") -> None:
    """CheckFailed unless `grads` (returned by the student for `params`) has the params'
    shapes and its derivative along a random unit direction equals the centred difference
    of the trusted `loss_of`. A direction drawn fresh checks the whole gradient without a
    trusted gradient: a wrong one is caught with probability 1. A direction whose
    differences at two step sizes disagree (it crosses a kink such as a ReLU's) is redrawn."""
    got = {k: finite_array(grads[k], f"{what}['{k}']" if len(params) > 1 else what,
                           np.shape(params[k])) for k in params}
    size = math.sqrt(sum(float(np.sum(g * g)) for g in got.values()))
    close = lambda a, b: abs(a - b) <= DIRECTION_ATOL + DIRECTION_RTOL * (size + abs(b))
    for _ in range(DIRECTION_TRIES):
        v = _unit_direction(params, rng)
        expected = _along(params, loss_of, v, DIRECTION_STEP)
        if close(_along(params, loss_of, v, DIRECTION_STEP / 4), expected):
            break
    along = sum(float(np.sum(got[k] * v[k])) for k in params)
    if close(along, expected):
        return
    raise CheckFailed(f"{what}: the gradient returned is not the gradient of the loss "
                      f"(along a random direction it gives {along:.6g}, the loss changes "
                      f"at a rate of {expected:.6g})." + (f" Hint: {hint}" if hint else ""))
