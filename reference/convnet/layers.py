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
    # BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w, b)
    # END SOLUTION
    return out, cache


def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `affine_forward`.

    Inputs: `dout` of shape `(N, M)` and the `cache` from the forward pass.
    Returns `(dx, dw, db)` with the shapes of `x` (the original, un-flattened shape), `w`, `b`.
    """
    # BEGIN SOLUTION
    x, w, _ = cache
    x2 = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    # END SOLUTION
    return dx, dw, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """Rectified linear unit, elementwise: `out = max(x, 0)`. Any shape.

    Returns `out` (same shape as `x`) and `cache = x`.
    """
    # BEGIN SOLUTION
    out = np.maximum(x, 0)
    cache = x
    # END SOLUTION
    return out, cache


def relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of `relu_forward`: the gradient flows only where `x > 0`.

    Returns `dx` with the shape of `x`. (At exactly `x == 0` use gradient 0.)
    """
    # BEGIN SOLUTION
    x = cache
    dx = dout * (x > 0)
    # END SOLUTION
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
    # BEGIN SOLUTION
    n = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(n), y].mean())
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    dx /= n
    # END SOLUTION
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
    # BEGIN SOLUTION
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_img, _, height, width = x.shape
    n_filt, _, hh, ww = w.shape
    h_out = 1 + (height + 2 * pad - hh) // stride
    w_out = 1 + (width + 2 * pad - ww) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n_img, n_filt, h_out, w_out), dtype=np.result_type(x, w))
    for n in range(n_img):
        for f in range(n_filt):
            for i in range(h_out):
                for j in range(w_out):
                    window = xp[n, :, i * stride:i * stride + hh, j * stride:j * stride + ww]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    # END SOLUTION
    return out, cache


def conv_backward_naive(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `conv_forward_naive`, with loops.

    Input `dout (N, F, H_out, W_out)` and the forward cache.
    Returns `(dx, dw, db)` shaped like `x`, `w`, `b`. Each output element `out[n, f, i, j]`
    touched one window of the padded input and all of `w[f]`: send `dout[n, f, i, j]` back to
    both, then drop the padding from the input gradient.
    """
    # BEGIN SOLUTION
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_img, _, height, width = x.shape
    n_filt, _, hh, ww = w.shape
    _, _, h_out, w_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(n_img):
        for f in range(n_filt):
            for i in range(h_out):
                for j in range(w_out):
                    rows = slice(i * stride, i * stride + hh)
                    cols = slice(j * stride, j * stride + ww)
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    dx = dxp[:, :, pad:pad + height, pad:pad + width]
    # END SOLUTION
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
    # BEGIN SOLUTION
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_img, chans, height, width = x.shape
    n_filt, _, hh, ww = w.shape
    h_out = 1 + (height + 2 * pad - hh) // stride
    w_out = 1 + (width + 2 * pad - ww) // stride
    xp = np.zeros((n_img, chans, height + 2 * pad, width + 2 * pad), dtype=x.dtype)
    xp[:, :, pad:pad + height, pad:pad + width] = x
    # windows[c, di, dj, n, i, j] = xp[n, c, i*stride + di, j*stride + dj]: a view, no copy.
    s_n, s_c, s_h, s_w = xp.strides
    windows = as_strided(xp, shape=(chans, hh, ww, n_img, h_out, w_out),
                         strides=(s_c, s_h, s_w, s_n, s_h * stride, s_w * stride),
                         writeable=False)
    # cols with one extra row of ones, and w with b as one extra column (the "bias trick"): the
    # product then adds the bias itself, no second pass over the output
    k = chans * hh * ww
    cols_1 = np.empty((k + 1, n_img * h_out * w_out), dtype=x.dtype)
    cols_1[:k].reshape(windows.shape)[...] = windows                      # the one big copy
    cols_1[k] = 1.0
    w_b = np.concatenate([w.reshape(n_filt, k), b.reshape(n_filt, 1)], axis=1,   # (F, K+1)
                         dtype=np.result_type(w, x))     # b never changes the out dtype
    # per image n: w_b (F, K+1) @ cols_1[:, n-th block] (K+1, H_out*W_out), written straight
    # into out[n] (matmul broadcasts w_b over the batch axis of the view; BLAS reads in place)
    per_image = cols_1.reshape(k + 1, n_img, h_out * w_out).transpose(1, 0, 2)
    out = np.matmul(w_b, per_image).reshape(n_img, n_filt, h_out, w_out)
    cache = (x.shape, w, cols_1, conv_param)
    # END SOLUTION
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
    # BEGIN SOLUTION
    x_shape, w, cols_1, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_img, chans, height, width = x_shape
    n_filt, _, hh, ww = w.shape
    _, _, h_out, w_out = dout.shape
    k = chans * hh * ww
    dout3 = dout.reshape(n_img, n_filt, h_out * w_out)
    # dw and db: one product per image, dout3[n] (F, P) @ its block of cols_1 transposed
    # (P, K+1), summed over the images (no transposing copy of dout; BLAS reads the transposed
    # view in place). The row of ones makes the last column the sum of dout[n]: db.
    per_image = cols_1.reshape(k + 1, n_img, h_out * w_out).transpose(1, 2, 0)  # (N, P, K+1)
    dw_b = np.matmul(dout3, per_image).sum(axis=0)                             # (F, K+1)
    dw, db = dw_b[:, :k].reshape(w.shape), dw_b[:, k].copy()
    w2t = w.reshape(n_filt, -1).T
    dxp = np.zeros((n_img, chans, height + 2 * pad, width + 2 * pad), dtype=cols_1.dtype)
    # images per block: dcols of one block about 1 MiB, well inside the CPU cache; every block
    # is written into the same buffer (a fresh 1 MiB array per block costs page faults)
    step = min(n_img, max(1, (1 << 20) // (k * h_out * w_out * cols_1.itemsize)))
    buffer = np.empty((step, k, h_out * w_out), dtype=cols_1.dtype)
    for start in range(0, n_img, step):
        stop = min(start + step, n_img)
        dcols = np.matmul(w2t, dout3[start:stop], out=buffer[:stop - start])
        dcols = dcols.reshape(-1, chans, hh, ww, h_out, w_out)      # (n, C, HH, WW, ...)
        block = dxp[start:stop]
        for di in range(hh):          # col2im: each kernel offset adds one strided slice
            for dj in range(ww):
                block[:, :, di:di + stride * h_out:stride,
                      dj:dj + stride * w_out:stride] += dcols[:, :, di, dj]
    # dx: the padded gradient without its border, a view (shaped like x; no copy needed)
    dx = dxp[:, :, pad:pad + height, pad:pad + width]
    # END SOLUTION
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
    # BEGIN SOLUTION
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n_img, chans, height, width = x.shape
    h_out = 1 + (height - ph) // stride
    w_out = 1 + (width - pw) // stride
    out = np.zeros((n_img, chans, h_out, w_out), dtype=x.dtype)
    for n in range(n_img):
        for c in range(chans):
            for i in range(h_out):
                for j in range(w_out):
                    out[n, c, i, j] = x[n, c, i * stride:i * stride + ph,
                                        j * stride:j * stride + pw].max()
    cache = (x, pool_param)
    # END SOLUTION
    return out, cache


def max_pool_backward_naive(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of `max_pool_forward_naive`, with loops.

    Returns `dx` shaped like `x`: each `dout[n, c, i, j]` goes to the position of its window's
    maximum (when several entries tie for the maximum, to the first one in row-major order,
    which is what `np.argmax` returns); everything else gets 0. Overlapping windows add up.
    """
    # BEGIN SOLUTION
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n_img, chans, h_out, w_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(n_img):
        for c in range(chans):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    di, dj = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]
    # END SOLUTION
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
    # BEGIN SOLUTION
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n_img, chans, height, width = x.shape
    h_out = 1 + (height - ph) // stride
    w_out = 1 + (width - pw) // stride

    def first_max(parts, n_parts: int) -> tuple[np.ndarray, np.ndarray]:
        """Elementwise max of the `n_parts` equally shaped arrays, and the index of the first
        one holding it (np.argmax's tie rule)."""
        parts = iter(parts)
        best = np.array(next(parts))                             # a copy, updated in place
        arg = np.zeros(best.shape, dtype=np.min_scalar_type(n_parts - 1))
        for k, part in enumerate(parts, 1):
            larger = part > best                 # strictly: a tie keeps the earlier index
            np.maximum(best, part, out=best)
            # k grows, so the last part that was larger is the max of k * larger. (The same
            # as arg[larger] = k, which is several times slower on random data.)
            np.maximum(arg, larger * arg.dtype.type(k), out=arg)
        return best, arg

    def pool_planes(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Max pool of `planes (M, H, W)`; returns out and each max's flat index in planes."""
        if ph == pw == stride and height % ph == 0 and width % pw == 0:
            rows = planes.reshape(-1, pw)    # each row: one window row, pw neighbours in memory
            row_max, col = first_max((rows[:, dj] for dj in range(pw)), pw)
            row_max = row_max.reshape(-1, ph, w_out)       # each [m, :, j]: one whole window
            out, row = first_max((row_max[:, di] for di in range(ph)), ph)
            # the first max of a window is the first max of its first row holding the max:
            # take `col` from that row (exactly one di matches)
            col = col.reshape(-1, ph, w_out)
            col = sum((row == di) * col[:, di] for di in range(ph))
            pos = row.astype(np.intp) * width + col
        else:
            # One copy of each strided slice, then contiguous compares: cheaper than reading
            # the slice twice, since a strided slice is many short rows.
            out, k = first_max((np.ascontiguousarray(planes[:, di:di + stride * h_out:stride,
                                                            dj:dj + stride * w_out:stride])
                                for di in range(ph) for dj in range(pw)), ph * pw)
            pos = (np.arange(ph).reshape(ph, 1) * width + np.arange(pw)).ravel()[k]
        # `pos` is the max's offset in its window; add each window's corner
        pos = pos.reshape(-1, h_out, w_out)
        pos += (np.arange(len(planes)) * (height * width)).reshape(-1, 1, 1)
        pos += (np.arange(h_out) * (stride * width)).reshape(h_out, 1) + np.arange(w_out) * stride
        return out.reshape(-1, h_out, w_out), pos

    # Every (n, c) plane pools on its own: work on blocks of planes of about 512 KiB, so the
    # arrays of the scan stay in the CPU cache (2-3x faster than the whole batch at once).
    planes = x.reshape(n_img * chans, height, width)
    step = max(1, (1 << 19) // (height * width * x.itemsize))
    out = np.empty((n_img * chans, h_out, w_out), dtype=x.dtype)
    pos = np.empty(out.shape, dtype=np.intp)
    for start in range(0, n_img * chans, step):
        out[start:start + step], pos[start:start + step] = pool_planes(planes[start:start + step])
        pos[start:start + step] += start * height * width
    out = out.reshape(n_img, chans, h_out, w_out)
    pos = pos.reshape(out.shape)
    cache = (x.shape, pos)
    # END SOLUTION
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
    # BEGIN SOLUTION
    x_shape, pos = cache
    dx = np.bincount(pos.ravel(), weights=dout.ravel(), minlength=int(np.prod(x_shape)))
    dx = dx.reshape(x_shape).astype(dout.dtype, copy=False)
    # END SOLUTION
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
    # BEGIN SOLUTION
    p, mode = dropout_param["p"], dropout_param["mode"]
    mask = None
    if mode == "train":
        rng = np.random.default_rng(dropout_param.get("seed"))
        mask = ((rng.random(x.shape) < p) / p).astype(x.dtype, copy=False)
        out = x * mask
    elif mode == "test":
        out = x
    else:
        raise ValueError(f"dropout mode must be 'train' or 'test', got {mode!r}")
    cache = (dropout_param, mask)
    # END SOLUTION
    return out, cache


def dropout_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of `dropout_forward`: train mode scales by the same mask; test passes
    `dout` through."""
    # BEGIN SOLUTION
    dropout_param, mask = cache
    dx = dout * mask if dropout_param["mode"] == "train" else dout
    # END SOLUTION
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
    # BEGIN SOLUTION
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    dim = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(dim, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(dim, dtype=x.dtype))
    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        mean, var = running_mean, running_var
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    else:
        raise ValueError(f"batchnorm mode must be 'train' or 'test', got {mode!r}")
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    cache = (mode, x_hat, gamma, inv_std)
    # END SOLUTION
    return out, cache


def batchnorm_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `batchnorm_forward`: returns `(dx, dgamma, dbeta)`.

    In train mode the batch mean and variance depend on every row of `x`, so each `dx[i]`
    gets contributions through them too; in test mode they are constants.
    """
    # BEGIN SOLUTION
    mode, x_hat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    if mode == "train":
        n = dout.shape[0]
        dx = inv_std / n * (n * dx_hat - dx_hat.sum(axis=0)
                            - x_hat * (dx_hat * x_hat).sum(axis=0))
    else:
        dx = dx_hat * inv_std
    # END SOLUTION
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                              bn_param: dict) -> tuple[np.ndarray, Any]:
    """Batch normalization for images `x (N, C, H, W)`: one mean/variance/gamma/beta per
    channel, statistics taken over N, H and W. `gamma`, `beta`: `(C,)`; `bn_param` as in
    `batchnorm_forward`. Hint: move C last, flatten to `(N*H*W, C)` and reuse
    `batchnorm_forward`. Returns `(out, cache)`, `out` shaped like `x`.
    """
    # BEGIN SOLUTION
    n_img, chans, height, width = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, chans)
    out_flat, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    out = out_flat.reshape(n_img, height, width, chans).transpose(0, 3, 1, 2)
    # END SOLUTION
    return out, cache


def spatial_batchnorm_backward(dout: np.ndarray,
                               cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `spatial_batchnorm_forward`: `(dx, dgamma, dbeta)`, `dx` shaped like
    `x`, `dgamma` and `dbeta` of shape `(C,)`."""
    # BEGIN SOLUTION
    n_img, chans, height, width = dout.shape
    flat = dout.transpose(0, 2, 3, 1).reshape(-1, chans)
    dx_flat, dgamma, dbeta = batchnorm_backward(flat, cache)
    dx = dx_flat.reshape(n_img, height, width, chans).transpose(0, 3, 1, 2)
    # END SOLUTION
    return dx, dgamma, dbeta
