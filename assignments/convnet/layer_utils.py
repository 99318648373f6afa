"""Sandwich layers: common chains of layers as one forward/backward pair (given, not graded).

They call the functions you write in `layers.py` (the fast conv and pool), so they work as
soon as those do.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from layers import (affine_backward, affine_forward, conv_backward_fast, conv_forward_fast,
                    max_pool_backward_fast, max_pool_forward_fast, relu_backward, relu_forward)


def affine_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """affine -> ReLU. Returns `(out, cache)`."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of `affine_relu_forward`: `(dx, dw, db)`."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def conv_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                      conv_param: dict) -> tuple[np.ndarray, Any]:
    """conv (fast) -> ReLU. Returns `(out, cache)`."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of `conv_relu_forward`: `(dx, dw, db)`."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict,
                           pool_param: dict) -> tuple[np.ndarray, Any]:
    """conv (fast) -> ReLU -> max pool (fast). Returns `(out, cache)`."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    r, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(r, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout: np.ndarray,
                            cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of `conv_relu_pool_forward`: `(dx, dw, db)`."""
    conv_cache, relu_cache, pool_cache = cache
    dr = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(dr, relu_cache), conv_cache)
