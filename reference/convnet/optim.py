"""First-order update rules.

Every rule has the signature `rule(w, dw, config=None) -> (next_w, config)`:
- `w`: the current weights (any shape); `dw`: the gradient of the loss with respect to `w`.
- `config`: a dict of hyper-parameters (learning rate, ...) plus whatever state the rule keeps
  between steps (velocity, moving averages, step count). When it is None or misses a key, fill
  in the default given in the rule's docstring. Return the updated `config` with `next_w`; the
  `Solver` passes it back in on the next step for the same parameter.
Return a new array for `next_w` (do not rely on the caller's `w` being modified in place).
"""
from __future__ import annotations

import numpy as np


def sgd(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Vanilla stochastic gradient descent: `next_w = w - learning_rate * dw`.

    config: `learning_rate` (default 1e-2).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    # BEGIN SOLUTION
    next_w = w - config["learning_rate"] * dw
    # END SOLUTION
    return next_w, config


def sgd_momentum(w: np.ndarray, dw: np.ndarray,
                 config: dict | None = None) -> tuple[np.ndarray, dict]:
    """SGD with momentum: `v = momentum * v - learning_rate * dw; next_w = w + v`.

    config: `learning_rate` (default 1e-2), `momentum` (default 0.9), `velocity` (state, same
    shape as `w`, starts at zeros).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    # BEGIN SOLUTION
    v = config.get("velocity")
    if v is None:
        v = np.zeros_like(w)
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
    # END SOLUTION
    return next_w, config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """RMSProp: a per-weight step size from a moving average of squared gradients.

    `cache = decay_rate * cache + (1 - decay_rate) * dw**2`;
    `next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)`.
    config: `learning_rate` (default 1e-2), `decay_rate` (default 0.99), `epsilon` (default
    1e-8), `cache` (state, same shape as `w`, starts at zeros).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    # BEGIN SOLUTION
    cache = config.get("cache")
    if cache is None:
        cache = np.zeros_like(w)
    cache = config["decay_rate"] * cache + (1 - config["decay_rate"]) * dw ** 2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    # END SOLUTION
    return next_w, config


def adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    """Adam: moving averages of the gradient and its square, with bias correction.

    `t += 1` first, then `m = beta1 * m + (1 - beta1) * dw`, `v = beta2 * v + (1 - beta2) *
    dw**2`, `m_hat = m / (1 - beta1**t)`, `v_hat = v / (1 - beta2**t)`,
    `next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)`.
    config: `learning_rate` (default 1e-3), `beta1` (0.9), `beta2` (0.999), `epsilon` (1e-8),
    state `m` and `v` (same shape as `w`, start at zeros) and `t` (starts at 0).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("t", 0)
    # BEGIN SOLUTION
    m = config.get("m")
    v = config.get("v")
    if m is None:
        m = np.zeros_like(w)
    if v is None:
        v = np.zeros_like(w)
    b1, b2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw ** 2
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config.update(m=m, v=v, t=t)
    # END SOLUTION
    return next_w, config
