"""Expected values of the two_layer_net suite: the reference network's scores, loss and gradients.

Cases (the same names in the `visible` and `hidden` sets, different seeds and sizes):
  net_a    the homework's shape (8 features, 4 classes), reg > 0
  net_b    a small odd shape (catches hard-coded sizes), reg = 0
  stable   every score of a row near +1e4 (visible) or -1e4 (hidden), through b2: exp()
           overflows (or underflows to 0/0) unless the scores are shifted; the scores of a
           row differ by a few units, so the max-shift form the stubs teach stays exact
Fields: X, y, W1, b1, W2, b2, reg (inputs; biases non-zero so a forgotten bias shows) and
scores, loss, dW1, db1, dW2, db2 (the reference's outputs).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

PARAMS = ("W1", "b1", "W2", "b2")
# (N, D, H, C, weight std, reg) per case and set
SHAPES = {
    "visible": {"net_a": (12, 8, 10, 4, 0.5, 0.05), "net_b": (6, 5, 7, 3, 0.8, 0.0),
                "stable": (10, 8, 16, 4, 1.0, 1e-4)},
    "hidden": {"net_a": (15, 8, 13, 4, 0.4, 0.1), "net_b": (5, 6, 9, 5, 0.7, 0.0),
               "stable": (8, 8, 12, 4, 1.5, 1e-5)},
}
# the stable case's common score offset, added to b2
OFFSET = {"visible": 1e4, "hidden": -1e4}


def inputs(rng: np.random.Generator, n: int, d: int, h: int, c: int, std: float
           ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """params (W ~ N(0, std^2), b ~ N(0, (std/2)^2)), X (n, d) in [0, 1), y (n,) in [0, c)."""
    params = {"W1": std * rng.standard_normal((d, h)), "b1": 0.5 * std * rng.standard_normal(h),
              "W2": std * rng.standard_normal((h, c)), "b2": 0.5 * std * rng.standard_normal(c)}
    X = rng.random((n, d))
    y = rng.integers(0, c, n).astype(np.int64)
    return params, X, y


def build(ref: Callable[[str], Any], set_name: str, rng: np.random.Generator
          ) -> dict[str, dict[str, np.ndarray]]:
    mod = ref("two_layer_net")
    cases = {}
    for case, (n, d, h, c, std, reg) in SHAPES[set_name].items():
        params, X, y = inputs(rng, n, d, h, c, std)
        if case == "stable":
            params["b2"] = params["b2"] + OFFSET[set_name]
        net = mod.TwoLayerNet(d, h, c)
        net.params = {k: v.copy() for k, v in params.items()}
        scores = net.loss(X)
        loss, grads = net.loss(X, y, reg=reg)
        fields = {"X": X, "y": y, "reg": np.float64(reg), "scores": np.asarray(scores),
                  "loss": np.float64(loss), **params}
        fields.update({f"d{k}": np.asarray(grads[k], np.float64) for k in PARAMS})
        cases[case] = fields
    return cases
