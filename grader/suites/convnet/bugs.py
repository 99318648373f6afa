"""The convnet suite's bug table (`grader.bugs`): realistic bugs (and fakes of random
behaviour), each a small edit of a copy of reference/convnet/ that must lose points on a test
tagged with the bugged function; correct code written differently (an einsum convolution, a
dropout drawing from the legacy RandomState) that must keep every point of the fast-conv and
dropout tests; and the demo class of `make grade` (a Gradescope export).

A whole convnet grading takes minutes, so the suite tests check this table `Quick`ly: only
the tests tagged with the bug's function, without the bounded training run (12.7).
"""
from grader.bugs import PARTIAL, Bug, Demo, Hostile, Quick, Student, Table, Variant

LAYERS, OPTIM, CNN = "layers.py", "optim.py", "cnn.py"

BUGS = (
    Bug("conv-backward-ignores-stride", "conv backward (naive) ignores the stride",
        ("conv_backward_naive",),
        ((LAYERS, "                    rows = slice(i * stride, i * stride + hh)\n"
                  "                    cols = slice(j * stride, j * stride + ww)\n",
          "                    rows = slice(i, i + hh)\n"
          "                    cols = slice(j, j + ww)\n"),)),
    Bug("conv-fast-forward-ignores-stride", "fast conv forward ignores the stride",
        ("conv_forward_fast",),
        ((LAYERS, "strides=(s_c, s_h, s_w, s_n, s_h * stride, s_w * stride),",
          "strides=(s_c, s_h, s_w, s_n, s_h, s_w),"),)),
    Bug("adam-t-not-incremented", "Adam's t not incremented: bias correction divides by 0",
        ("adam",),
        ((OPTIM, '    t = config["t"] + 1\n', '    t = config["t"]\n'),)),
    Bug("affine-db-not-summed", "affine db averaged, not summed, over the batch",
        ("affine_backward",),
        ((LAYERS, "    db = dout.sum(axis=0)\n", "    db = dout.mean(axis=0)\n"),)),
    Bug("maxpool-backward-to-every-element", "max-pool backward feeds every window element",
        ("max_pool_backward_naive",),
        ((LAYERS, "dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]",
          "dx[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[n, c, i, j]"),)),
    Bug("dropout-not-scaled", "inverted dropout mask not divided by p", ("dropout_forward",),
        ((LAYERS, "mask = ((rng.random(x.shape) < p) / p).astype(x.dtype, copy=False)",
          "mask = (rng.random(x.shape) < p).astype(x.dtype, copy=False)"),)),
    Bug("batchnorm-running-stats-not-written-back", "batchnorm running mean never stored",
        ("batchnorm_forward",),
        ((LAYERS, '        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean\n',
          '        running_mean = momentum * running_mean + (1 - momentum) * mean\n'),)),
    Bug("softmax-no-max-shift", "softmax loss without max-subtraction", ("softmax_loss",),
        ((LAYERS, "    shifted = x - x.max(axis=1, keepdims=True)\n", "    shifted = x\n"),)),
    Bug("cnn-reg-gradient-halved", "model's regularization gradient halved",
        ("ThreeLayerConvNet",),
        ((CNN, "grads[name] = grads[name] + 2 * self.reg * W",
          "grads[name] = grads[name] + self.reg * W"),)),
    # fakes of random behaviour: right statistics at a glance, not random draws
    Bug("dropout-stripes", "dropout mask of fixed stripes", ("dropout_forward",),
        ((LAYERS, "        mask = ((rng.random(x.shape) < p) / p).astype(x.dtype, copy=False)",
          "        keep = (np.arange(x.shape[-1]) + (dropout_param.get('seed') or 0)) % 10 < 10 * p\n"
          "        mask = (np.broadcast_to(keep, x.shape) / p).astype(x.dtype)"),)),
    Bug("dropout-fixed-unseeded-stream", "unseeded dropout always draws the same mask",
        ("dropout_forward",),
        ((LAYERS, 'rng = np.random.default_rng(dropout_param.get("seed"))',
          'rng = np.random.default_rng(dropout_param.get("seed", 0))'),)),
    Bug("init-plus-minus-scale", "initial weights of +-weight_scale only", ("ThreeLayerConvNet",),
        ((CNN, 'self.params[f"W{i}"] = weight_scale * rng.standard_normal(shape)',
          'self.params[f"W{i}"] = weight_scale * np.sign(rng.standard_normal(shape))'),)),
    Bug("init-uniform-right-std", "initial weights uniform (with the right std)",
        ("ThreeLayerConvNet",),
        ((CNN, 'self.params[f"W{i}"] = weight_scale * rng.standard_normal(shape)',
          'self.params[f"W{i}"] = weight_scale * 3 ** 0.5 * rng.uniform(-1, 1, shape)'),)),
    # mutation analysis (#16): realistic mistakes the table lacked
    Bug("dropout-at-test-time", "dropout also applied in test mode", ("dropout_forward",),
        ((LAYERS, '    elif mode == "test":\n        out = x\n',
          '    elif mode == "test":\n'
          '        rng = np.random.default_rng(dropout_param.get("seed"))\n'
          '        out = x * ((rng.random(x.shape) < p) / p)\n'),)),
    Bug("batchnorm-test-uses-batch-stats", "batchnorm test mode normalizes with the batch's "
        "statistics", ("batchnorm_forward",),
        ((LAYERS, "        mean, var = running_mean, running_var\n",
          "        mean, var = x.mean(axis=0), x.var(axis=0)\n"),)),
    Bug("batchnorm-momentum-swapped", "running averages with momentum and 1 - momentum "
        "swapped", ("batchnorm_forward",),
        ((LAYERS, 'bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean',
          'bn_param["running_mean"] = (1 - momentum) * running_mean + momentum * mean'),
         (LAYERS, 'bn_param["running_var"] = momentum * running_var + (1 - momentum) * var',
          'bn_param["running_var"] = (1 - momentum) * running_var + momentum * var'))),
    Bug("im2col-pad-one-side", "im2col pads only the bottom and right (input placed at "
        "offset 0, not pad)", ("conv_forward_fast",),
        ((LAYERS, "    xp[:, :, pad:pad + height, pad:pad + width] = x\n",
          "    xp[:, :, :height, :width] = x\n"),)),
    Bug("momentum-sign-flipped", "momentum velocity adds the gradient step", ("sgd_momentum",),
        ((OPTIM, 'v = config["momentum"] * v - config["learning_rate"] * dw',
          'v = config["momentum"] * v + config["learning_rate"] * dw'),)),
    # the demo class's
    Bug("adam-t-stuck-at-1", "Adam never increments t", ("adam",),
        ((OPTIM, 't = config["t"] + 1', 't = max(config["t"], 1)'),)),
    Bug("fast-conv-calls-naive", "'fast' conv that calls the naive loops", ("conv_forward_fast",),
        ((LAYERS, "    s_n, s_c, s_h, s_w = xp.strides\n",
          "    return conv_forward_naive(x, w, b, conv_param)\n"
          "    s_n, s_c, s_h, s_w = xp.strides\n"),)),
)

EINSUM_CONV = '''

def conv_forward_fast(x, w, b, conv_param):
    """Windows as a strided view, one einsum (a different but correct vectorization)."""
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    out = np.einsum("nchwij,fcij->nfhw", win, w, optimize=True) + b[None, :, None, None]
    return out, (x, w, conv_param)


def conv_backward_fast(dout, cache):
    x, w, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    win = win[:, :, :dout.shape[2], :dout.shape[3]]
    dw = np.einsum("nfhw,nchwij->fcij", dout, win, optimize=True)
    dxp = np.zeros_like(xp)
    for i in range(w.shape[2]):          # loops over the filter window only
        for j in range(w.shape[3]):
            dxp[:, :, i:i + s * dout.shape[2]:s, j:j + s * dout.shape[3]:s] += \\
                np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    return dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))
'''

# A dropout that draws its mask from the legacy RandomState (a different random stream).
RANDOMSTATE_DROPOUT = '''

def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode == "test":
        return x, (dropout_param, None)
    rs = np.random.RandomState(dropout_param.get("seed"))
    mask = (rs.rand(*x.shape) < p) / p
    return x * mask, (dropout_param, mask)
'''

VARIANTS = (
    Variant("einsum-conv", "fast conv as a strided view and einsum",
            append=((LAYERS, EINSUM_CONV),)),
    Variant("randomstate-dropout", "dropout mask from the legacy RandomState",
            append=((LAYERS, RANDOMSTATE_DROPOUT),)),
)

DEMO = Demo("export", (
    Student("ada", "Ada Lovelace", story="a correct solution"),
    Hostile("blank"),
    Student("stride", "Cy Stride", "conv-backward-ignores-stride"),
    Student("adam", "Dee Adam", "adam-t-stuck-at-1"),
    Student("slow", "Ed Loop", "fast-conv-calls-naive"),
    Hostile("crash", CNN, PARTIAL, ("ThreeLayerConvNet",),
            "cnn.py crashes at import (the layers still count)"),
    Hostile("hang", OPTIM, PARTIAL, ("rmsprop",), "infinite loop in rmsprop",
            edit=(OPTIM, '    cache = config.get("cache")',
                  '    while True:\n        pass\n    cache = config.get("cache")')),
    Hostile("forger", LAYERS, (0.0, 20.0),
            story="layers.py forges results.json and exits at import"),
    Hostile("missing", OPTIM, PARTIAL, ("adam",), sid="nooptim"),
))

TABLE = Table(BUGS, VARIANTS, DEMO, Quick(skip=("12.7",), variant_sections=("5", "8")))
