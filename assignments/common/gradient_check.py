"""Numeric gradients for checking your analytic ones (given helper, not graded).

All derivatives are centred differences, (f(x + h) - f(x - h)) / 2h, whose error shrinks like
h**2. Work in float64 when you check: in float32 the rounding error of f swamps the difference.

    from gradient_check import eval_numerical_gradient, rel_error
    loss, grad = softmax_loss_vectorized(W, X, y, 0.0)
    num = eval_numerical_gradient(lambda w: softmax_loss_vectorized(w, X, y, 0.0)[0], W)
    print(rel_error(grad, num))        # about 1e-9 when the gradient is right
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """Largest absolute difference, relative to the size of the numbers compared.

    max |x - y| / max(1e-8, |x| + |y|), elementwise, then the maximum: scale-free, so it
    means the same for tiny and huge gradients. Below 1e-7 is right; 1e-2 or more is a bug.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                            verbose: bool = False, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function f at x, one coordinate at a time.

    f takes the array x and returns a number. x is modified in place while probing and
    restored afterwards, so f may close over x itself (e.g. a model's parameter array).
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        f_plus = float(f(x))
        x[ix] = old - h
        f_minus = float(f(x))
        x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                                  df: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of sum(f(x) * df) with respect to x, for an array-valued f.

    This is what a layer's backward pass computes: df is the upstream gradient dout, and the
    result is dx. As above, x is probed in place and restored.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        f_plus = np.array(f(x), dtype=np.float64)      # copy: f may return a view of x
        x[ix] = old - h
        f_minus = np.array(f(x), dtype=np.float64)
        x[ix] = old
        grad[ix] = np.sum((f_plus - f_minus) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f: Callable[[np.ndarray], float], x: np.ndarray,
                      analytic_grad: np.ndarray, num_checks: int = 10, h: float = 1e-5,
                      seed: int | None = None) -> list[float]:
    """Compare analytic_grad with centred differences at num_checks random coordinates.

    Cheaper than eval_numerical_gradient when x is large. Prints one line per coordinate and
    returns the relative errors, so a script can also assert on them.
    """
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[ix]
        x[ix] = old + h
        f_plus = float(f(x))
        x[ix] = old - h
        f_minus = float(f(x))
        x[ix] = old
        numeric = (f_plus - f_minus) / (2 * h)
        analytic = float(analytic_grad[ix])
        err = abs(numeric - analytic) / max(1e-8, abs(numeric) + abs(analytic))
        print(f"numerical: {numeric:+.6e} analytic: {analytic:+.6e}, relative error: {err:.2e}")
        errors.append(err)
    return errors
