"""Expected values of the softmax suite: loss and gradient of the reference on seeded inputs.

Cases (the same names in the `visible` and `hidden` sets, different seeds and sizes):
  loss_a   digits-shaped: X (N, 65) in [0, 1] with a bias column, 10 classes, reg > 0
  loss_b   a small odd shape (catches hard-coded 65 / 10), reg = 0
  stable   every score of a row near +1e4 (visible) or -1e4 (hidden): exp() overflows (or
           underflows to 0/0) unless the scores are shifted; the scores of a row differ by
           tens, not thousands, so the max-shift form the stubs teach stays exact
Fields: W, X, y, reg (inputs) and loss, dW (the reference's outputs).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

# (N, D, C, weight std, reg) per case and set; the bias column is appended to X
SHAPES = {
    "visible": {"loss_a": (24, 65, 10, 0.05, 0.1), "loss_b": (7, 9, 3, 0.5, 0.0),
                "stable": (12, 65, 10, 3.0, 0.0)},
    "hidden": {"loss_a": (31, 65, 10, 0.08, 0.25), "loss_b": (5, 13, 4, 0.3, 0.0),
               "stable": (9, 65, 10, 2.0, 0.0)},
}
# the stable case's common score offset, added to the bias row of W (the last row)
OFFSET = {"visible": 1e4, "hidden": -1e4}


def inputs(rng: np.random.Generator, n: int, d: int, c: int, std: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W (d, c), X (n, d) in [0, 1) with a last column of ones, y (n,) in [0, c)."""
    X = np.hstack([rng.random((n, d - 1)), np.ones((n, 1))])
    W = std * rng.standard_normal((d, c))
    y = rng.integers(0, c, n)
    return W, X, y


def build(ref: Callable[[str], Any], set_name: str, rng: np.random.Generator
          ) -> dict[str, dict[str, np.ndarray]]:
    sm = ref("softmax")
    cases = {}
    for case, (n, d, c, std, reg) in SHAPES[set_name].items():
        W, X, y = inputs(rng, n, d, c, std)
        if case == "stable":
            W[-1] += OFFSET[set_name]
        loss, dW = sm.softmax_loss_vectorized(W, X, y, reg)
        loss_n, dW_n = sm.softmax_loss_naive(W, X, y, reg)
        assert np.isclose(loss, loss_n, rtol=1e-10) and np.allclose(dW, dW_n, rtol=1e-8), case
        cases[case] = {"W": W, "X": X, "y": y.astype(np.int64), "reg": np.float64(reg),
                       "loss": np.float64(loss), "dW": np.asarray(dW, np.float64)}
    return cases
