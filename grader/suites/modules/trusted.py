"""The grader's own LeNet-5 forward for modules verdicts (trusted side; staff and Gradescope).

Training is judged from the parameters a student's `train` left in the model, read out of the
worker (`model.parameters()`, plain arrays) and run through this forward: what the student's
own forward or predict says plays no part. The layout is lenet.py's docstring:
conv 5x5 pad 2 (1->6) - ReLU - 2x2 max pool - conv 5x5 (6->16) - ReLU - 2x2 max pool -
flatten - 400-120 ReLU - 120-84 ReLU - 84-10, Torch layouts (conv weight (F, C, kH, kW),
linear weight (out, in), y = x @ W.T + b). Not in the student release: it would hand out a
convolution.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# (conv1, conv2, fc1, fc2, fc3): weight then bias each, as parameters() lists them
PARAM_SHAPES: tuple[tuple[int, ...], ...] = (
    (6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,),
    (10, 84), (10,))
PADDING = (2, 0)               # of conv1, conv2 (stride 1 both)


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """Stride-1 cross-correlation of x (N, C, H, W) with w (F, C, kH, kW), plus b."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))       # (N, C, Ho, Wo, kH, kW)
    return np.einsum("nchwij,fcij->nfhw", win, w, optimize=True) + b[None, :, None, None]


def pool2(x: np.ndarray) -> np.ndarray:
    """2x2 max pooling, stride 2 (sizes round down)."""
    n, c, h, w = x.shape
    h, w = h - h % 2, w - w % 2
    return x[:, :, :h, :w].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def scores(params: Sequence[np.ndarray], X: np.ndarray, chunk: int = 250) -> np.ndarray:
    """Class scores (N, 10) of LeNet-5 with `params` (float64, in chunks to bound memory)."""
    p = [np.asarray(a, dtype=np.float64) for a in params]
    parts = []
    for start in range(0, len(X), chunk):
        h = np.asarray(X[start:start + chunk], dtype=np.float64)
        for k in range(2):
            h = pool2(np.maximum(conv(h, p[2 * k], p[2 * k + 1], PADDING[k]), 0.0))
        h = h.reshape(len(h), -1)
        for k in range(2, 4):
            h = np.maximum(h @ p[2 * k].T + p[2 * k + 1], 0.0)
        parts.append(h @ p[8].T + p[9])
    return np.concatenate(parts)


def loss(params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    """Mean softmax cross-entropy of LeNet-5's scores (no regularization)."""
    s = scores(params, X)
    s = s - s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())
