"""The grader's own numpy code for convnet verdicts (trusted side; staff and Gradescope only).

Why it exists: a verdict computed from the student's own outputs can be gamed (a lookup table,
a model-free `loss`, a naive version that sleeps). These functions give the grader an answer
that no student code touched:
- `model_scores(params, X)`: conv (stride 1, pad (F-1)//2) - ReLU - 2x2 max pool - affine -
  ReLU - affine, the forward of ThreeLayerConvNet, run on parameters read out of the worker;
- `conv_pair` / `pool_pair`: a vectorized forward + backward, the speed yardstick timed in
  this process next to the student's fast functions (their answers check the student's);
- `conv_backward_loops` / `pool_backward_loops`: a backward as a loop over the output, the
  cost yardstick for the naive backward passes (a loop costs about one step per output value;
  a numeric derivative costs about two forward passes per input value);
- `update(rule, w, dw, config)`: the four update rules, for inputs drawn at grading time;
Not shipped in the student release: it would hand out a conv forward and the update rules.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

PARAM_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")
RULE_DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}


# -- convolution and pooling -----------------------------------------------------------------
def windows(x: np.ndarray, hh: int, ww: int, stride: int) -> np.ndarray:
    """Read-only view (N, C, H_out, W_out, hh, ww) of every window of `x` (N, C, H, W)."""
    n, c, h, w = x.shape
    h_out, w_out = 1 + (h - hh) // stride, 1 + (w - ww) // stride
    sn, sc, sh, sw = x.strides
    return as_strided(x, (n, c, h_out, w_out, hh, ww),
                      (sn, sc, sh * stride, sw * stride, sh, sw), writeable=False)


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int
                 ) -> np.ndarray:
    """Cross-correlation of x (N, C, H, W) with filters w (F, C, HH, WW), plus b (F,)."""
    win = windows(_pad(x, pad), w.shape[2], w.shape[3], stride)
    out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))        # (N, H_out, W_out, F)
    return out.transpose(0, 3, 1, 2) + b[None, :, None, None]


def conv_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, pad: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dw, db) of `conv_forward` for upstream gradient `dout` (N, F, H_out, W_out)."""
    xp = _pad(x, pad)
    hh, ww = w.shape[2], w.shape[3]
    h_out, w_out = dout.shape[2], dout.shape[3]
    dw = np.tensordot(dout, windows(xp, hh, ww, stride), axes=([0, 2, 3], [0, 2, 3]))
    dxp = np.zeros_like(xp)
    for i in range(hh):
        for j in range(ww):
            rows = slice(i, i + stride * (h_out - 1) + 1, stride)
            cols = slice(j, j + stride * (w_out - 1) + 1, stride)
            dxp[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def pool_forward(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Max over size x size windows."""
    return windows(x, size, size, stride).max(axis=(4, 5))


def pool_backward(dout: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    """dx of a tiling (stride == size) max pool: dout goes to each window's maximum (ties
    share it; the yardstick only needs the work of a vectorized backward)."""
    n, c, h, w = x.shape
    ho, wo = dout.shape[2], dout.shape[3]
    blocks = x[:, :, :ho * size, :wo * size].reshape(n, c, ho, size, wo, size)
    top = blocks.max(axis=(3, 5), keepdims=True)
    dx = np.zeros_like(x)
    dx[:, :, :ho * size, :wo * size] = ((blocks == top) * dout[:, :, :, None, :, None]
                                        ).reshape(n, c, ho * size, wo * size)
    return dx


def conv_pair(x: np.ndarray, w: np.ndarray, b: np.ndarray, dout: np.ndarray,
              conv_param: dict[str, int]) -> tuple[np.ndarray, ...]:
    """The speed yardstick for conv: one vectorized forward and backward, (out, dx, dw, db)."""
    out = conv_forward(x, w, b, conv_param["stride"], conv_param["pad"])
    return (out, *conv_backward(dout, x, w, conv_param["stride"], conv_param["pad"]))


def pool_pair(x: np.ndarray, dout: np.ndarray, pool_param: dict[str, int]
              ) -> tuple[np.ndarray, np.ndarray]:
    """The speed yardstick for max pooling (square, tiling windows): (out, dx)."""
    out = pool_forward(x, pool_param["pool_height"], pool_param["stride"])
    return out, pool_backward(dout, x, pool_param["pool_height"])


def conv_backward_loops(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, pad: int
                        ) -> None:
    """The cost yardstick of a naive conv backward: one step per output value (n, f, i, j),
    each adding into one window of the padded dx and of dw[f]."""
    xp = _pad(x, pad)
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    hh, ww = w.shape[2], w.shape[3]
    for n, f, i, j in np.ndindex(*dout.shape):
        g = dout[n, f, i, j]
        r, c = i * stride, j * stride
        dw[f] += g * xp[n, :, r:r + hh, c:c + ww]
        dxp[n, :, r:r + hh, c:c + ww] += g * w[f]


def pool_backward_loops(dout: np.ndarray, x: np.ndarray, size: int, stride: int) -> None:
    """The cost yardstick of a naive max-pool backward: one step per output value, each
    finding its window's maximum and adding dout there."""
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        r, col = i * stride, j * stride
        window = x[n, c, r:r + size, col:col + size]
        di, dj = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, r + di, col + dj] += dout[n, c, i, j]


# -- the model -------------------------------------------------------------------------------
def param_shapes(input_dim: tuple[int, int, int], num_filters: int, filter_size: int,
                 hidden_dim: int, num_classes: int) -> dict[str, tuple[int, ...]]:
    """The shapes ThreeLayerConvNet's params must have for these sizes."""
    c, h, w = input_dim
    pad = (filter_size - 1) // 2
    ph, pw = (h + 2 * pad - filter_size + 1) // 2, (w + 2 * pad - filter_size + 1) // 2
    return {"W1": (num_filters, c, filter_size, filter_size), "b1": (num_filters,),
            "W2": (num_filters * ph * pw, hidden_dim), "b2": (hidden_dim,),
            "W3": (hidden_dim, num_classes), "b3": (num_classes,)}


def _conv_same(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`conv_forward(x, w, b, 1, (HH-1)//2)` as one matrix product over columns ordered
    (n, i, j), so the copy of the windows runs along image rows (about 2x faster on the
    model's 28x28 images than `conv_forward`, which stays as the speed yardstick)."""
    n, c = x.shape[:2]
    f, _, hh, ww = w.shape
    pad = (hh - 1) // 2
    xp = _pad(x, pad)
    h_out, w_out = xp.shape[2] - hh + 1, xp.shape[3] - ww + 1
    sn, sc, sh, sw = xp.strides
    win = as_strided(xp, (c, hh, ww, n, h_out, w_out), (sc, sh, sw, sn, sh, sw),
                     writeable=False)
    out = w.reshape(f, -1) @ win.reshape(c * hh * ww, n * h_out * w_out)
    return out.reshape(f, n, h_out, w_out).transpose(1, 0, 2, 3) + b[None, :, None, None]


def _pool_2x2(x: np.ndarray) -> np.ndarray:
    """`pool_forward(x, 2, 2)` as the maximum of the four strided corners of every window."""
    ho, wo = x.shape[2] // 2, x.shape[3] // 2
    x = x[:, :, :2 * ho, :2 * wo]
    return np.maximum(np.maximum(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]),
                      np.maximum(x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]))


def model_scores(params: dict[str, np.ndarray], X: np.ndarray, chunk: int = 100) -> np.ndarray:
    """Class scores (N, num_classes) of ThreeLayerConvNet with `params` (float64 throughout;
    processed in chunks to bound memory)."""
    W1, b1, W2, b2, W3, b3 = (np.asarray(params[k], dtype=np.float64) for k in PARAM_KEYS)
    parts = []
    for start in range(0, len(X), chunk):
        xb = np.asarray(X[start:start + chunk], dtype=np.float64)
        h = np.maximum(_conv_same(xb, W1, b1), 0)
        h = _pool_2x2(h).reshape(len(xb), -1)
        h = np.maximum(h @ W2 + b2, 0)
        parts.append(h @ W3 + b3)
    return np.concatenate(parts)


# -- update rules ----------------------------------------------------------------------------
def update(rule: str, w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None
           ) -> tuple[np.ndarray, dict[str, Any]]:
    """One step of `rule` (sgd, sgd_momentum, rmsprop, adam) as the assignment defines it."""
    cfg = {**RULE_DEFAULTS[rule], **(config or {})}
    lr = cfg["learning_rate"]
    if rule == "sgd":
        return w - lr * dw, cfg
    if rule == "sgd_momentum":
        v = cfg["momentum"] * cfg.get("velocity", np.zeros_like(w)) - lr * dw
        return w + v, {**cfg, "velocity": v}
    if rule == "rmsprop":
        cache = cfg["decay_rate"] * cfg.get("cache", np.zeros_like(w)) + \
            (1 - cfg["decay_rate"]) * dw ** 2
        return w - lr * dw / (np.sqrt(cache) + cfg["epsilon"]), {**cfg, "cache": cache}
    t = cfg.get("t", 0) + 1
    m = cfg["beta1"] * cfg.get("m", np.zeros_like(w)) + (1 - cfg["beta1"]) * dw
    v = cfg["beta2"] * cfg.get("v", np.zeros_like(w)) + (1 - cfg["beta2"]) * dw ** 2
    m_hat, v_hat = m / (1 - cfg["beta1"] ** t), v / (1 - cfg["beta2"] ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + cfg["epsilon"]), {**cfg, "m": m, "v": v, "t": t}
