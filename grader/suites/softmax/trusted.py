"""The grader's own softmax forward (trusted side): what verdicts are computed with.

Held-out accuracy, the "can it learn" checks and the speed yardstick use these, never the
student's predict or loss: a submission cannot make a model look trained, or make its own
yardstick slow. Forward only (no gradient): the grader never needs one.

    scores(W, X) -> (N, C);  predict(W, X) -> (N,) labels;  loss(W, X, y, reg) -> float
"""
from __future__ import annotations

import numpy as np


def scores(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Class scores of a linear classifier, float64."""
    return np.asarray(X, np.float64) @ np.asarray(W, np.float64)


def predict(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The highest-scoring class of each row."""
    return np.argmax(scores(W, X), axis=1)


def loss(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> float:
    """Mean softmax cross-entropy (log-sum-exp, stable for any scores) + reg * sum(W**2)."""
    s = scores(W, X)
    top = s.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
    data = float(np.mean(log_norm - s[np.arange(len(y)), y]))
    return data + float(reg) * float(np.sum(np.asarray(W, np.float64) ** 2))
