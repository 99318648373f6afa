"""Numeric-gradient checks of a student's backward against their OWN forward (trusted side).

The student's analytic gradient is compared with centred differences
    (f(x + h e_i) - f(x - h e_i)) / 2h
of the student's own forward `f`, evaluated in the sandbox. A wrong forward is caught by the
fixture tests; this check catches a backward that does not match its forward. The perturbed
evaluations are sent as a few `worker.batch` calls (2 evaluations per sampled coordinate), never
one round trip each.

Generic over the target: the caller says how to evaluate the forward at a perturbed input
(`requests_for(x) -> list of sandbox requests`, the LAST result of which is the forward's value)
and how to turn that value into a scalar (`objective(value) -> float`). Examples:

    # a loss function returning (loss, dW): perturb W
    requests_for = lambda w: [req_call("softmax.softmax_loss_naive", (w, X, y, reg))]
    objective = lambda out: as_scalar(unpack(out, 2, "return value")[0], "loss")

    # a layer forward returning (out, cache): f = sum(out * dout)
    requests_for = lambda x: [req_call("layers.affine_forward", (x, w, b))]
    objective = lambda out: float(np.sum(as_array(unpack(out, 2, "...")[0], "out") * dout))

    # a model parameter held worker-side: set it, then evaluate; restore it afterwards
    requests_for = lambda p: [req_set_item(h, "params", "W1", p),
                              req_method(h, "loss", (X, y), {"reg": r})]
    epilogue = [req_set_item(h, "params", "W1", W1)]

Tolerance (stated in every failure message): coordinate i passes when
    |analytic_i - numeric_i| / max(SMALL_GRADIENT, |analytic_i| + |numeric_i|) <= TOL
or when the difference is within the round-off of the centred difference itself,
    |analytic_i - numeric_i| <= ROUNDOFF * max|f| / h      (ROUNDOFF = 100 float64 eps)
SMALL_GRADIENT keeps round-off on near-zero entries (about 1e-10 absolute for f ~ 1,
h = 1e-5) from counting as an error, the round-off term does the same for objectives with
large values; a genuinely wrong gradient is off by 1e-3 (relative) or more. (It is not
compare.REL_ERROR_FLOOR, the 1e-8 floor of the reported `rel_error`.)

Functions: `sample_indices`, `numeric_gradient`, `compare_gradients`, `gradcheck` (the last
combines the other three and is what a suite normally calls).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from grader.checks.compare import as_array
from grader.framework import CheckFailed

H = 1e-5              # step of the centred difference (float64 inputs)
TOL = 1e-6            # max relative error per coordinate
SMALL_GRADIENT = 1e-3  # below this |a| + |n| the error is absolute: |a - n| / SMALL_GRADIENT
ROUNDOFF = 100 * np.finfo(np.float64).eps   # relative round-off of one forward evaluation
MAX_COORDS = 60       # coordinates sampled per array when it has more
GROUPS_PER_BATCH = 64    # perturbed evaluations per worker.batch call (each call has its own timeout)
DEGENERATE = 1e-12    # a numeric gradient this small everywhere means a constant forward

Index = tuple[int, ...]


def sample_indices(shape: Sequence[int], rng: np.random.Generator,
                   max_coords: int = MAX_COORDS) -> list[Index]:
    """Every index of an array of `shape` when it has at most `max_coords` elements, else a
    seeded random sample of `max_coords` distinct indices (sorted, so messages are stable)."""
    size = int(np.prod(shape, dtype=np.int64))
    flat = np.arange(size) if size <= max_coords else np.sort(rng.choice(size, max_coords,
                                                                         replace=False))
    return [tuple(int(i) for i in np.unravel_index(f, tuple(shape))) for f in flat]


def numeric_gradient(worker: Any, requests_for: Callable[[np.ndarray], list],
                     x: np.ndarray, indices: Sequence[Index],
                     objective: Callable[[Any], float], *, h: float = H,
                     epilogue: Sequence[Any] = (), timeout: float | None = None) -> np.ndarray:
    """Centred differences of the student's forward at `indices` of `x` (float64, 1-D result
    in the order of `indices`). `epilogue` requests run after the last batch (e.g. restore a
    parameter). StudentError from the sandbox propagates (the test fails with its message)."""
    return _differences(worker, requests_for, x, indices, objective, h=h, epilogue=epilogue,
                        timeout=timeout)[0]


def _differences(worker: Any, requests_for: Callable[[np.ndarray], list], x: np.ndarray,
                 indices: Sequence[Index], objective: Callable[[Any], float], *, h: float,
                 epilogue: Sequence[Any], timeout: float | None) -> tuple[np.ndarray, float]:
    """(centred differences, max |f| over the evaluations)."""
    x = np.asarray(x, dtype=np.float64)
    groups: list[list] = []
    for idx in indices:
        for sign in (1.0, -1.0):
            xp = x.copy()
            xp[idx] += sign * h
            groups.append(list(requests_for(xp)))
    values: list[float] = []
    for start in range(0, len(groups), GROUPS_PER_BATCH):
        chunk = groups[start:start + GROUPS_PER_BATCH]
        flat = [r for g in chunk for r in g]
        last = start + GROUPS_PER_BATCH >= len(groups)
        results = worker.batch(flat + (list(epilogue) if last else []), timeout=timeout)
        pos = 0
        for g in chunk:
            pos += len(g)
            values.append(float(objective(results[pos - 1])))
    if not groups and epilogue:
        worker.batch(list(epilogue), timeout=timeout)
    v = np.asarray(values, dtype=np.float64).reshape(-1, 2)
    scale = float(np.max(np.abs(v))) if v.size and np.all(np.isfinite(v)) else 0.0
    return (v[:, 0] - v[:, 1]) / (2.0 * h), scale


def _fmt_index(idx: Index) -> str:
    return "(" + ", ".join(str(i) for i in idx) + ")" if len(idx) != 1 else f"({idx[0]},)"


def compare_gradients(analytic: np.ndarray, numeric: np.ndarray, indices: Sequence[Index],
                      what: str, *, tol: float = TOL, floor: float = SMALL_GRADIENT,
                      reveal: bool = True, hint: str = "", h: float = H,
                      f_scale: float = 0.0) -> float:
    """Compare the student's analytic gradient (full array) at `indices` with `numeric`;
    return the max relative error, or raise CheckFailed naming the first bad coordinate.
    `f_scale` is max |f| over the evaluations (for the round-off allowance)."""
    a = np.array([analytic[idx] for idx in indices], dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if not np.all(np.isfinite(n)):
        raise CheckFailed(f"{what}: your forward returned non-finite values when its input was "
                          f"perturbed by {h:g}, so the gradient cannot be checked.")
    if n.size and float(np.abs(n).max()) <= DEGENERATE:
        # A forward that ignores its input has a zero gradient, and a zero "backward" would
        # match it: consistency with a constant function earns nothing.
        raise CheckFailed(f"{what}: your forward does not change when this input changes "
                          f"(its numeric gradient is zero at every checked coordinate), so "
                          f"there is no gradient to check. Make the forward pass work first.")
    diff = np.abs(a - n)
    err = diff / np.maximum(floor, np.abs(a) + np.abs(n))
    worst = float(err.max()) if err.size else 0.0
    bad = np.flatnonzero((err > tol) & (diff > ROUNDOFF * f_scale / h))
    if bad.size:
        i = int(bad[0])
        where = f" at index {_fmt_index(indices[i])}" if reveal else ""
        values = f": your gradient {a[i]:.6g}, centred difference {n[i]:.6g}" if reveal else ""
        raise CheckFailed(
            f"{what}: your backward does not match the numeric gradient of your own forward "
            f"on {bad.size} of {len(indices)} checked coordinate(s); max relative error "
            f"{worst:.3g} (allowed {tol:g}; relative error = |a - n| / max({floor:g}, |a| + |n|), "
            f"centred differences with h = {h:g}, differences below "
            f"{ROUNDOFF * f_scale / h:.2g} count as round-off); first bad coordinate"
            f"{where}{values}."
            + (f" Hint: {hint}" if hint else ""))
    return worst


def gradcheck(worker: Any, requests_for: Callable[[np.ndarray], list], x: np.ndarray,
              analytic: Any, objective: Callable[[Any], float], what: str, *,
              rng: np.random.Generator, max_coords: int = MAX_COORDS, h: float = H,
              tol: float = TOL, floor: float = SMALL_GRADIENT, reveal: bool = True, hint: str = "",
              epilogue: Sequence[Any] = (), timeout: float | None = None) -> float:
    """Check the student's `analytic` gradient w.r.t. `x` against centred differences of
    their forward (see the module docstring); coerces `analytic` (shape must equal x's).
    Returns the max relative error (for notes); raises CheckFailed on a mismatch."""
    x = np.asarray(x, dtype=np.float64)
    grad = as_array(analytic, what)
    if grad.shape != x.shape:
        raise CheckFailed(f"{what}: wrong shape: expected {x.shape} (the shape of the input it "
                          f"is the gradient of), got {grad.shape}.")
    if not np.all(np.isfinite(grad)):
        raise CheckFailed(f"{what}: contains non-finite values.")
    indices = sample_indices(x.shape, rng, max_coords)
    numeric, f_scale = _differences(worker, requests_for, x, indices, objective, h=h,
                                    epilogue=epilogue, timeout=timeout)
    return compare_gradients(grad, numeric, indices, what, tol=tol, floor=floor,
                             reveal=reveal, hint=hint, h=h, f_scale=f_scale)
