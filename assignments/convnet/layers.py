"""Layers for a small numpy ConvNet: each is a `*_forward` / `*_backward` pair.

Conventions (the same in every function of this file):
- `*_forward(...)` returns `(out, cache)`; `cache` holds whatever the backward pass needs.
- `*_backward(dout, cache)` returns the gradient of the loss with respect to every input of
  the forward pass, each with the same shape as that input. `dout` is the upstream gradient,
  with the shape of `out`.
- Images are `(N, C, H, W)`; convolution filters are `(F, C, HH, WW)`; fully connected weights
  are `(D_in, D_out)`.
- Output sizes round down: a window that would run past the (padded) input is dropped, so
  `H_out = 1 + (H + 2 * pad - HH) // stride` (and the same for the width and for pooling).
- Keep the dtype of the inputs (float32 in, float32 out; float64 in, float64 out).

Work in this order: affine, relu, softmax_loss, conv (naive, then fast), max pool (naive,
then fast), dropout, batchnorm, spatial batchnorm. Check every backward pass against
`gradient_check.eval_numerical_gradient_array` before moving on, and every fast function
against its naive twin.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided


# ---------------------------------------------------------------------------------------------
# Affine, ReLU, softmax loss
# ---------------------------------------------------------------------------------------------

def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """Fully connected layer: `out = x.reshape(N, -1) @ w + b`.

    Inputs: `x` of shape `(N, d_1, ..., d_k)` (each example is flattened to a row of length
    `D = d_1 * ... * d_k`), `w` of shape `(D, M)`, `b` of shape `(M,)`.
    Returns `out` of shape `(N, M)` and `cache = (x, w, b)`.
    """
    raise NotImplementedError("affine_forward: not implemented")
    return out, cache


def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `affine_forward`.

    Inputs: `dout` of shape `(N, M)` and the `cache` from the forward pass.
    Returns `(dx, dw, db)` with the shapes of `x` (the original, un-flattened shape), `w`, `b`.
    """
    raise NotImplementedError("affine_backward: not implemented")
    return dx, dw, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """Rectified linear unit, elementwise: `out = max(x, 0)`. Any shape.

    Returns `out` (same shape as `x`) and `cache = x`.
    """
    raise NotImplementedError("relu_forward: not implemented")
    return out, cache


def relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of `relu_forward`: the gradient flows only where `x > 0`.

    Returns `dx` with the shape of `x`. (At exactly `x == 0` use gradient 0.)
    """
    raise NotImplementedError("relu_backward: not implemented")
    return dx


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy over the batch, and its gradient.

    Inputs: scores `x` of shape `(N, C)`; labels `y` of shape `(N,)`, ints in `[0, C)`.
    Returns `(loss, dx)`: `loss = -mean_i log softmax(x_i)[y_i]` (a float) and `dx`, the
    gradient of that mean with respect to `x`, shape `(N, C)`.
    Work with log-probabilities: subtract each row's max (softmax does not change), then
    log softmax = shifted - log(sum(exp(shifted))). exp() of the shifted scores cannot
    overflow, and the sum is at least 1, so its log is finite; taking the log of a probability
    instead fails when that probability underflows to 0 for scores far apart.
    """
    raise NotImplementedError("softmax_loss: not implemented")
    return loss, dx


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

def conv_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                       conv_param: dict) -> tuple[np.ndarray, Any]:
    """Convolution (really cross-correlation, as in every deep-learning library), with loops.

    Inputs: `x (N, C, H, W)`, filters `w (F, C, HH, WW)`, biases `b (F,)`,
    `conv_param = {'stride': s, 'pad': p}`: `p` zeros are added on every side of H and W.
    Output `out (N, F, H_out, W_out)` with `H_out = 1 + (H + 2p - HH) // s`,
    `W_out = 1 + (W + 2p - WW) // s`, and
    `out[n, f, i, j] = sum(x_padded[n, :, i*s : i*s+HH, j*s : j*s+WW] * w[f]) + b[f]`.
    Returns `(out, cache)` with `cache = (x, w, b, conv_param)`.
    This is the readable definition: plain loops over n, f, i, j are expected here.
    """
    raise NotImplementedError("conv_forward_naive: not implemented")
    return out, cache


def conv_backward_naive(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `conv_forward_naive`, with loops.

    Input `dout (N, F, H_out, W_out)` and the forward cache.
    Returns `(dx, dw, db)` shaped like `x`, `w`, `b`. Each output element `out[n, f, i, j]`
    touched one window of the padded input and all of `w[f]`: send `dout[n, f, i, j]` back to
    both, then drop the padding from the input gradient.
    """
    raise NotImplementedError("conv_backward_naive: not implemented")
    return dx, dw, db


def conv_forward_fast(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                      conv_param: dict) -> tuple[np.ndarray, Any]:
    """The same convolution as `conv_forward_naive`, as matrix products (im2col).

    Same inputs, output and conventions as `conv_forward_naive`. No Python loops over the
    batch, the channels or the output pixels. The idea: copy every receptive field of the
    padded input into a column of a matrix `cols` of shape `(C*HH*WW, N*H_out*W_out)`, rows
    ordered like `w.reshape(F, -1)`, i.e. (c, di, dj), columns ordered (n, i, j). A strided
    view of the padded input (`np.lib.stride_tricks.as_strided` or `sliding_window_view`)
    followed by one reshape does this in a single copy. Then `w.reshape(F, -1) @ cols` holds
    every output value at once: reshape and transpose it into `(N, F, H_out, W_out)`, add `b`.
    Faster: view `cols` as N blocks `(C*HH*WW, H_out*W_out)`, one per image (a reshape and a
    transpose, no copy) and let `np.matmul` multiply `w.reshape(F, -1)` with each: the result
    is already laid out as `(N, F, H_out*W_out)`, so the transposing copy disappears. And
    with a row of ones under `cols` and `b` as an extra column of `w`, the product adds the
    bias too. Keep what the backward pass needs (at least `cols`) in the cache.
    """
    raise NotImplementedError("conv_forward_fast: not implemented")
    return out, cache


def conv_backward_fast(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `conv_forward_fast` (im2col), no loops over batch, channels or pixels.

    Returns `(dx, dw, db)` shaped like `x`, `w`, `b`, equal to `conv_backward_naive`'s.
    With `dout` rearranged to `dout2 (F, N*H_out*W_out)` (columns in the order of `cols`):
    `dw = dout2 @ cols.T` and `dcols = w.reshape(F, -1).T @ dout2`. Then fold `dcols` back
    onto the padded input ("col2im"): every column adds into the window it came from, and
    windows overlap when the stride is smaller than the kernel. A loop over the kernel's
    HH*WW offsets is fine (each step adds one strided slice of the padded gradient);
    `np.add.at` works too but is much slower. Finally drop the padding.
    Faster: `dw` as a sum over images of `dout[n] @ cols_n.T` (one `np.matmul`; no transposing
    copy of `dout`; with the forward's row of ones in `cols`, `db` comes out of the same
    product), `dcols` per image, `w2.T @ dout[n]` for all n in one `np.matmul` (no transpose of
    `dout`, and the fold lands in `(N, C, ...)` order: no transpose of `dx` either), and on a
    large batch a few images at a time, so that `dcols` stays in the CPU cache between the
    product that writes it and the fold that reads it (a loop over such blocks is fine).
    """
    raise NotImplementedError("conv_backward_fast: not implemented")
    return dx, dw, db


# ---------------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------------

def max_pool_forward_naive(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, Any]:
    """Max pooling with loops.

    Inputs: `x (N, C, H, W)`, `pool_param = {'pool_height': PH, 'pool_width': PW,
    'stride': s}`. Output `out (N, C, H_out, W_out)` with `H_out = 1 + (H - PH) // s`,
    `W_out = 1 + (W - PW) // s` and `out[n, c, i, j] = max(x[n, c, i*s:i*s+PH, j*s:j*s+PW])`.
    Returns `(out, cache)`; the cache must let the backward pass find each window's maximum.
    """
    raise NotImplementedError("max_pool_forward_naive: not implemented")
    return out, cache


def max_pool_backward_naive(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of `max_pool_forward_naive`, with loops.

    Returns `dx` shaped like `x`: each `dout[n, c, i, j]` goes to the position of its window's
    maximum (when several entries tie for the maximum, to the first one in row-major order,
    which is what `np.argmax` returns); everything else gets 0. Overlapping windows add up.
    """
    raise NotImplementedError("max_pool_backward_naive: not implemented")
    return dx


def max_pool_forward_fast(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, Any]:
    """Max pooling without a Python step per image, channel or output pixel.

    Same inputs and output as `max_pool_forward_naive`. Find each window's maximum AND where
    it is (the first one in row-major order, as `np.argmax` would), so that the backward pass
    only has to send `dout` there: cache those positions, e.g. as flat indices into `x`.

    The window element at offset (di, dj) of every window is the strided slice
    `x[:, :, di::s, dj::s]` (cut to H_out x W_out). Visit the PH*PW offsets in row-major order
    (a loop over them is fine) keeping a running maximum that a later offset takes over only
    where it is strictly larger: then the offset that holds the final maximum is the first one.
    When the windows tile the input (`PH == PW == stride`, dividing H and W), reshapes are free
    views and faster: in `x.reshape(-1, PW)` every row is one row of one window (its max over
    the PW columns, and where), and then every window is PH consecutive such row maxima.
    Measure: `np.maximum` of a few slices is much faster than `.max(axis=...)` over tiny axes,
    and arithmetic on boolean arrays is faster than storing through a boolean mask. On a large
    batch, memory is the bottleneck: pooling blocks of a few images (or (n, c) planes) at a
    time, so that the intermediate arrays stay in the CPU cache, is 2-3x faster (a loop over
    such blocks is fine; one Python step per image or per window is not).
    """
    raise NotImplementedError("max_pool_forward_fast: not implemented")
    return out, cache


def max_pool_backward_fast(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of `max_pool_forward_fast`; equal to `max_pool_backward_naive`'s,
    including the tie rule (the first maximum of a window, in row-major order, takes it all).

    No loops over batch, channels or output pixels. With the position of every window's
    maximum in the cache, this is one scatter-add of `dout` into a zero `dx`: overlapping
    windows add up, so plain fancy assignment (`dx.flat[idx] = ...`) is not enough, but
    `np.bincount(idx, weights=dout.ravel(), minlength=x.size)` is (and fast; it sums in
    float64, so cast back to dout's dtype). Without cached positions: loop over the PH*PW
    window offsets in row-major order and let each offset claim the windows whose max it holds
    and that no earlier offset has claimed (slower: every offset compares again).
    """
    raise NotImplementedError("max_pool_backward_fast: not implemented")
    return dx


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

def dropout_forward(x: np.ndarray, dropout_param: dict) -> tuple[np.ndarray, Any]:
    """Inverted dropout.

    `dropout_param = {'p': keep probability, 'mode': 'train' | 'test', 'seed': optional int}`.
    Train: keep each element independently with probability `p` and divide the kept ones by
    `p`, so the expected output equals `x`. With a `seed`, the same seed must give the same
    mask (use `np.random.default_rng(seed)`). Test: `out = x` unchanged.
    Returns `(out, cache)` with `cache = (dropout_param, mask)` (`mask` is None in test mode).
    """
    raise NotImplementedError("dropout_forward: not implemented")
    return out, cache


def dropout_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of `dropout_forward`: train mode scales by the same mask; test passes
    `dout` through."""
    raise NotImplementedError("dropout_backward: not implemented")
    return dx


# ---------------------------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------------------------

def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      bn_param: dict) -> tuple[np.ndarray, Any]:
    """Batch normalization of `x (N, D)` over the batch, per feature.

    `bn_param`: `'mode'` ('train' | 'test', required), `'eps'` (default 1e-5), `'momentum'`
    (default 0.9), `'running_mean'` and `'running_var'` (shape `(D,)`, start at zeros when
    absent). Train: normalize with the batch mean and (biased, divide-by-N) variance,
    `x_hat = (x - mean) / sqrt(var + eps)`, `out = gamma * x_hat + beta`, and update
    `running = momentum * running + (1 - momentum) * batch_stat` for both statistics, writing
    them back into `bn_param`. Test: normalize with the running statistics instead.
    Returns `(out, cache)`.
    """
    raise NotImplementedError("batchnorm_forward: not implemented")
    return out, cache


def batchnorm_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `batchnorm_forward`: returns `(dx, dgamma, dbeta)`.

    In train mode the batch mean and variance depend on every row of `x`, so each `dx[i]`
    gets contributions through them too; in test mode they are constants.
    """
    raise NotImplementedError("batchnorm_backward: not implemented")
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                              bn_param: dict) -> tuple[np.ndarray, Any]:
    """Batch normalization for images `x (N, C, H, W)`: one mean/variance/gamma/beta per
    channel, statistics taken over N, H and W. `gamma`, `beta`: `(C,)`; `bn_param` as in
    `batchnorm_forward`. Hint: move C last, flatten to `(N*H*W, C)` and reuse
    `batchnorm_forward`. Returns `(out, cache)`, `out` shaped like `x`.
    """
    raise NotImplementedError("spatial_batchnorm_forward: not implemented")
    return out, cache


def spatial_batchnorm_backward(dout: np.ndarray,
                               cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `spatial_batchnorm_forward`: `(dx, dgamma, dbeta)`, `dx` shaped like
    `x`, `dgamma` and `dbeta` of shape `(C,)`."""
    raise NotImplementedError("spatial_batchnorm_backward: not implemented")
    return dx, dgamma, dbeta
