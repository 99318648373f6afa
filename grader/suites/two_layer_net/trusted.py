"""The grader's own two-layer forward (trusted side): what verdicts are computed with.

Held-out accuracy, overfitting and "did it learn" are judged from the parameters a
submission's `train` left in `self.params`, read out of the worker and evaluated here, never
with the student's predict or loss. Forward only (no gradient): the grader never needs one.

    scores(params, X) -> (N, C);  predict(params, X) -> (N,);  loss(params, X, y, reg) -> float
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


def scores(params: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """affine - ReLU - affine, float64."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    hidden = np.maximum(np.asarray(X, np.float64) @ p["W1"] + p["b1"], 0.0)
    return hidden @ p["W2"] + p["b2"]


def predict(params: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The highest-scoring class of each row."""
    return np.argmax(scores(params, X), axis=1)


def accuracy(params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(params, X) == np.asarray(y)))


def loss(params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, reg: float) -> float:
    """Mean softmax cross-entropy (log-sum-exp) + reg * (sum(W1**2) + sum(W2**2))."""
    s = scores(params, X)
    top = s.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
    data = float(np.mean(log_norm - s[np.arange(len(y)), y]))
    penalty = sum(float(np.sum(np.asarray(params[k], np.float64) ** 2)) for k in ("W1", "W2"))
    return data + float(reg) * penalty
