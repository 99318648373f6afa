"""A three-layer convolutional network built from the layers in `layers.py`."""
from __future__ import annotations

import numpy as np

from layer_utils import (affine_relu_backward, affine_relu_forward, conv_relu_pool_backward,
                         conv_relu_pool_forward)
from layers import affine_backward, affine_forward, softmax_loss


class ThreeLayerConvNet:
    """conv - ReLU - 2x2 max pool - affine - ReLU - affine - softmax.

    Inputs are minibatches `(N, C, H, W)`. The convolution has `num_filters` filters of size
    `filter_size x filter_size`, stride 1 and padding `(filter_size - 1) // 2` (so an odd
    filter keeps H and W); the pool has 2x2 windows and stride 2. Parameters live in
    `self.params`:
      W1 `(num_filters, C, filter_size, filter_size)`, b1 `(num_filters,)`  - conv
      W2 `(num_filters * H_pool * W_pool, hidden_dim)`, b2 `(hidden_dim,)`  - hidden affine
      W3 `(hidden_dim, num_classes)`, b3 `(num_classes,)`                    - output affine
    where `H_pool, W_pool` are the spatial sizes after the pool. Weights start as
    `weight_scale * standard normal` (from `np.random.default_rng(seed)`), biases at zero,
    all stored with `dtype`. Use the sandwich layers of `layer_utils.py`.
    """

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28), num_filters: int = 32,
                 filter_size: int = 7, hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float = 1e-3, reg: float = 0.0, dtype: type = np.float32,
                 seed: int | None = None) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.reg = reg
        self.dtype = dtype
        self.filter_size = filter_size
        # BEGIN SOLUTION: initialize W1, b1, W2, b2, W3, b3
        chans, height, width = input_dim
        pad = (filter_size - 1) // 2
        pool_h = (height + 2 * pad - filter_size + 1) // 2
        pool_w = (width + 2 * pad - filter_size + 1) // 2
        rng = np.random.default_rng(seed)
        shapes = {
            "W1": (num_filters, chans, filter_size, filter_size),
            "W2": (num_filters * pool_h * pool_w, hidden_dim),
            "W3": (hidden_dim, num_classes),
        }
        for i, shape in enumerate(shapes.values(), start=1):
            self.params[f"W{i}"] = weight_scale * rng.standard_normal(shape)
            self.params[f"b{i}"] = np.zeros(shape[0] if i == 1 else shape[1])
        # END SOLUTION
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X: np.ndarray,
             y: np.ndarray | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores `(N, num_classes)` when `y` is None; otherwise `(loss, grads)`.

        `loss` = mean softmax cross-entropy + `reg * (sum(W1**2) + sum(W2**2) + sum(W3**2))`
        (no biases), and `grads` has the same keys and shapes as `self.params`.
        """
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        W3, b3 = self.params["W3"], self.params["b3"]
        conv_param = {"stride": 1, "pad": (self.filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        scores = None
        # BEGIN SOLUTION: the forward pass, computing scores
        X = np.asarray(X, dtype=self.dtype)
        h1, cache1 = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)
        h2, cache2 = affine_relu_forward(h1, W2, b2)
        scores, cache3 = affine_forward(h2, W3, b3)
        # END SOLUTION
        if y is None:
            return scores

        loss, grads = 0.0, {}
        # BEGIN SOLUTION: the loss and the backward pass
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + self.reg * sum(float(np.sum(W * W)) for W in (W1, W2, W3))
        dh2, grads["W3"], grads["b3"] = affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = affine_relu_backward(dh2, cache2)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dh1, cache1)
        for name, W in (("W1", W1), ("W2", W2), ("W3", W3)):
            grads[name] = grads[name] + 2 * self.reg * W
        # END SOLUTION
        return loss, grads
