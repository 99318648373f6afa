"""Neural-network modules in numpy, the Torch7 way (graded).

Every layer is an object (a `Module`) with two methods, as in Torch's `nn` package:

  * `y = m.forward(x)`: the output (Torch: `updateOutput`).
  * `dx = m.backward(x, grad_output)`: the gradient of the loss with respect to `x`, given
    `grad_output`, the gradient with respect to the output (Torch: `updateGradInput`), AND
    the gradients of the module's parameters are ADDED to its gradient arrays (Torch:
    `accGradParameters`). Two backward calls without `zero_grad()` in between sum up.

Conventions (the same in every class of this file; the grader relies on each of them):
  * `backward(x, grad_output)` is called right after `forward(x)` with the same `x`; a module
    may keep what its forward computed (a dropout mask, pooling switches, im2col columns,
    batch statistics) and use it in backward.
  * The batch is the first axis. Images are (N, C, H, W); convolution weights are
    (out_channels, in_channels, kH, kW); fully connected weights are (out_features,
    in_features) with `y = x @ weight.T + bias` (Torch's `nn.Linear` layout).
  * `parameters()` and `gradients()` return lists of the arrays THEMSELVES (not copies), in the
    same order, `gradients()[i]` shaped like `parameters()[i]`. Optimizers update parameters
    in place (`p -= ...`) and read gradients in place, so a module never rebinds these arrays
    after `__init__`: write `self.grad_weight += ...` and `self.weight[...] = ...`, never
    `self.grad_weight = ...`.
  * `train()` / `eval()` switch the mode (`self.training`); only `Dropout` and `BatchNorm1d`
    behave differently in the two modes. Modules start in training mode.
  * Parameters are float64. Outputs keep the float type the arithmetic gives (float32
    images times float64 weights give float64).
  * Output sizes round down: `H_out = 1 + (H + 2 * padding - kH) // stride` (the same for
    the width, and for pooling without padding).
  * Class labels are integers in [0, C): 0-based, unlike Torch's 1-based labels.

Torch names: Linear = nn.Linear, Conv2d = nn.SpatialConvolution, MaxPool2d =
nn.SpatialMaxPooling, Flatten = nn.View(-1), Dropout = nn.Dropout, BatchNorm1d =
nn.BatchNormalization, DepthwiseConv2d = nn.SpatialDepthWiseConvolution (MobileNet),
Sequential = nn.Sequential, LogSoftMax = nn.LogSoftMax, ClassNLLCriterion =
nn.ClassNLLCriterion, CrossEntropyCriterion = nn.CrossEntropyCriterion (the fused pair).

Work in this order: Module.zero_grad, Linear, ReLU / Tanh / Sigmoid, Sequential, LogSoftMax,
ClassNLLCriterion, CrossEntropyCriterion, im2col / col2im, Conv2d, MaxPool2d, Flatten,
Dropout, BatchNorm1d, DepthwiseConv2d, then the initializers. Check every backward against
`gradient_check.eval_numerical_gradient_array` (float64 inputs) before moving on.
"""
from __future__ import annotations

import numpy as np


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """(kH, kW) from an int (a square kernel) or a pair."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


# ---------------------------------------------------------------------------------------------
# The base class and the container
# ---------------------------------------------------------------------------------------------

class Module:
    """Base class of every layer. Subclasses override `forward` and `backward`, and those with
    parameters override `parameters` and `gradients`."""

    def __init__(self) -> None:
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The output of the module for input x."""
        raise NotImplementedError

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        """The gradient with respect to x (shaped like x); ADDS the parameter gradients."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def parameters(self) -> list[np.ndarray]:
        """The parameter arrays themselves (not copies); [] for a module without any."""
        return []

    def gradients(self) -> list[np.ndarray]:
        """The gradient arrays themselves, in the order of `parameters()`."""
        return []

    def zero_grad(self) -> None:
        """Set every gradient array to 0 IN PLACE (the arrays stay the same objects)."""
        raise NotImplementedError("Module.zero_grad: not implemented")

    def train(self) -> Module:
        """Training mode (dropout drops, batch norm uses batch statistics); returns self."""
        self.training = True
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout is the identity, batch norm uses running statistics);
        returns self."""
        self.training = False
        return self


class WeightBias(Module):
    """A module with two parameters, `weight` and `bias` (in that order), and their gradients
    `grad_weight` and `grad_bias` (zeros at first): Linear, Conv2d, DepthwiseConv2d and
    BatchNorm1d (given)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.weight, self.bias = weight, bias
        self.grad_weight = np.zeros_like(weight)
        self.grad_bias = np.zeros_like(bias)

    @classmethod
    def uniform(cls, shape: tuple[int, ...], fan_in: int,
                rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        """Torch's default initial values: `weight` then `bias` (shape[0],) drawn from
        `rng.uniform(-s, s, ...)`, s = 1 / sqrt(fan_in)."""
        rng = np.random.default_rng() if rng is None else rng
        s = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-s, s, shape), rng.uniform(-s, s, shape[0])

    def parameters(self) -> list[np.ndarray]:
        return [self.weight, self.bias]

    def gradients(self) -> list[np.ndarray]:
        return [self.grad_weight, self.grad_bias]


class Sequential(Module):
    """A chain of modules (Torch's nn.Sequential): forward feeds each module's output to the
    next one; backward goes through them in reverse order.

    `Sequential(m1, m2, ...)`, or `Sequential()` then `.add(m)` (which returns the container,
    so calls chain). `self.modules` is the list of the modules, in order; `len(seq)` and
    `seq[i]` work on it. `parameters()` / `gradients()` are those of the modules
    concatenated in module order; `zero_grad()`, `train()` and `eval()` reach every module.
    forward keeps each module's input, which backward needs (`backward(x, grad_output)` is
    called after `forward(x)`, see the conventions at the top of this file).
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.modules: list[Module] = list(modules)

    def add(self, module: Module) -> Sequential:
        self.modules.append(module)
        return self

    def __len__(self) -> int:
        return len(self.modules)

    def __getitem__(self, index: int) -> Module:
        return self.modules[index]

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Sequential.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Sequential.backward: not implemented")

    def parameters(self) -> list[np.ndarray]:
        raise NotImplementedError("Sequential.parameters: not implemented")

    def gradients(self) -> list[np.ndarray]:
        raise NotImplementedError("Sequential.gradients: not implemented")

    def train(self) -> Sequential:
        raise NotImplementedError("Sequential.train: not implemented")

    def eval(self) -> Sequential:
        raise NotImplementedError("Sequential.eval: not implemented")


# ---------------------------------------------------------------------------------------------
# Fully connected layer and element-wise activations
# ---------------------------------------------------------------------------------------------

class Linear(WeightBias):
    """Fully connected layer: x (N, in_features) -> x @ weight.T + bias, (N, out_features).

    Parameters: `weight` (out_features, in_features) and `bias` (out_features,), float64, in
    that order; gradients `grad_weight`, `grad_bias` (zeros at first). Initial values (given):
    Torch's default, `weight` then `bias` drawn from `rng.uniform(-s, s, shape)` with
    s = 1 / sqrt(in_features); the initializers below replace them where wanted.
    """

    def __init__(self, in_features: int, out_features: int,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__(*self.uniform((out_features, in_features), in_features, rng))

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Linear.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        """dx = grad_output @ weight; ADDS grad_output.T @ x to grad_weight and the column
        sums of grad_output to grad_bias."""
        raise NotImplementedError("Linear.backward: not implemented")


class ReLU(Module):
    """max(0, x) element-wise, any shape. Gradient 1 where x > 0, 0 elsewhere (also at 0)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("ReLU.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("ReLU.backward: not implemented")


class Tanh(Module):
    """tanh(x) element-wise, any shape; derivative 1 - tanh(x)**2."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Tanh.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Tanh.backward: not implemented")


class Sigmoid(Module):
    """1 / (1 + exp(-x)) element-wise, any shape; derivative s * (1 - s). Must not overflow
    (no warning, no nan) for x = -1000 or +1000: the grader tests it."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Sigmoid.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Sigmoid.backward: not implemented")


# ---------------------------------------------------------------------------------------------
# Log-softmax and the criteria
# ---------------------------------------------------------------------------------------------

class LogSoftMax(Module):
    """Row-wise log-softmax: x (N, C) -> x - log(sum(exp(x), axis=1)), (N, C).

    Numerically stable: subtract each row's maximum first (log-sum-exp); the grader feeds
    scores near 1e4. Backward: dx = g - exp(y) * sum(g, axis=1) with y the output.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("LogSoftMax.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("LogSoftMax.backward: not implemented")


class Criterion:
    """Base class of the losses (Torch's nn.Criterion): `forward(input, target)` returns the
    loss as a Python float; `backward(input, target)` returns its gradient with respect to
    `input` (shaped like input), called after forward with the same arguments."""

    def forward(self, input: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, input: np.ndarray, target: np.ndarray) -> float:
        return self.forward(input, target)


class ClassNLLCriterion(Criterion):
    """Negative log-likelihood of log-probabilities: input (N, C) (LogSoftMax's output),
    target (N,) integer labels in [0, C). Loss = -mean_i input[i, target[i]] (the batch mean,
    Torch's sizeAverage). Gradient: -1/N at [i, target[i]], 0 elsewhere."""

    def forward(self, input: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError("ClassNLLCriterion.forward: not implemented")

    def backward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        raise NotImplementedError("ClassNLLCriterion.backward: not implemented")


class CrossEntropyCriterion(Criterion):
    """LogSoftMax and ClassNLLCriterion fused (Torch's nn.CrossEntropyCriterion): input is raw
    scores (N, C), target (N,) labels in [0, C). Loss = mean softmax cross-entropy, the same
    number as ClassNLLCriterion()(LogSoftMax()(input), target), stable for scores near 1e4.
    Gradient in one step: (softmax(input) - onehot(target)) / N."""

    def forward(self, input: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError("CrossEntropyCriterion.forward: not implemented")

    def backward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        raise NotImplementedError("CrossEntropyCriterion.backward: not implemented")


# ---------------------------------------------------------------------------------------------
# Convolution (im2col), pooling, flatten
# ---------------------------------------------------------------------------------------------

def im2col(x: np.ndarray, kernel_size: tuple[int, int], stride: int,
           padding: int) -> np.ndarray:
    """Every receptive field of the zero-padded x as a column: x (N, C, H, W) ->
    cols (C*kH*kW, N*H_out*W_out).

    Rows are ordered (c, di, dj), like `weight.reshape(F, -1)` of a (F, C, kH, kW) weight;
    columns are ordered (n, i, j):
        cols[(c*kH + di)*kW + dj, (n*H_out + i)*W_out + j] = xpad[n, c, i*stride + di, j*stride + dj]
    No Python loops over the batch, the channels or the output pixels: a strided view of the
    padded input (`np.lib.stride_tricks.sliding_window_view` or `as_strided`, both allowed)
    and one reshape do it (a loop over the kH*kW kernel offsets is fine too).
    """
    raise NotImplementedError("im2col: not implemented")


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: tuple[int, int],
           stride: int, padding: int) -> np.ndarray:
    """The adjoint of im2col: cols (C*kH*kW, N*H_out*W_out) -> (N, C, H, W), every column
    ADDED back into the window it came from (windows overlap when stride < kernel), then the
    padding dropped. So `col2im(im2col(x) gradient)` is the gradient with respect to x.
    No loops over batch, channels or output pixels; a loop over the kH*kW kernel offsets is
    fine (`np.add.at` works too, but is much slower).
    """
    raise NotImplementedError("col2im: not implemented")


class Conv2d(WeightBias):
    """2-D convolution (cross-correlation, as in every deep-learning library):
    x (N, C, H, W) -> (N, F, H_out, W_out) with
        y[n, f, i, j] = bias[f] + sum_{c, di, dj} weight[f, c, di, dj] *
                        xpad[n, c, i*stride + di, j*stride + dj]
    xpad being x with `padding` zeros on each side of H and W.

    Parameters `weight` (F, C, kH, kW) and `bias` (F,), gradients `grad_weight`, `grad_bias`.
    `kernel_size` is an int (square) or a pair (kH, kW). Initial values (given): Torch's
    default, `rng.uniform(-s, s, shape)` for weight then bias, s = 1 / sqrt(C*kH*kW).

    Vectorized with YOUR im2col / col2im above: forward is one matrix product
    `weight.reshape(F, -1) @ cols` (keep `cols` for backward); backward gives
    grad_weight += dout2 @ cols.T and dx = col2im(weight.reshape(F, -1).T @ dout2), with
    dout2 the (F, N*H_out*W_out) rearrangement of grad_output. No Python loops over the
    batch, the channels or the output pixels: LeNet-5's training tests run under a time
    limit that such loops will not meet.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int = 0,
                 rng: np.random.Generator | None = None) -> None:
        kh, kw = _pair(kernel_size)
        super().__init__(*self.uniform((out_channels, in_channels, kh, kw),
                                       in_channels * kh * kw, rng))
        self.kernel_size = (kh, kw)
        self.stride, self.padding = int(stride), int(padding)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Conv2d.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Conv2d.backward: not implemented")


class DepthwiseConv2d(WeightBias):
    """Depthwise convolution (MobileNet; Torch's nn.SpatialDepthWiseConvolution with a depth
    multiplier of 1): every channel is convolved with its own single filter, channels are
    not mixed: x (N, C, H, W) -> (N, C, H_out, W_out) with
        y[n, c, i, j] = bias[c] + sum_{di, dj} weight[c, 0, di, dj] *
                        xpad[n, c, i*stride + di, j*stride + dj]
    (a `Conv2d` whose weight is zero between different channels, at C times less work).
    Followed by a 1x1 Conv2d it is MobileNet's depthwise separable convolution.

    Parameters `weight` (C, 1, kH, kW) and `bias` (C,), gradients `grad_weight`, `grad_bias`.
    Initial values (given): `rng.uniform(-s, s, shape)` for weight then bias, s = 1/sqrt(kH*kW).
    No Python loops over the batch, the channels or the output pixels; a loop over the kH*kW
    kernel offsets is fine (im2col, or a strided window view and `np.einsum`, both allowed).
    """

    def __init__(self, channels: int, kernel_size: int | tuple[int, int], stride: int = 1,
                 padding: int = 0, rng: np.random.Generator | None = None) -> None:
        kh, kw = _pair(kernel_size)
        super().__init__(*self.uniform((channels, 1, kh, kw), kh * kw, rng))
        self.kernel_size = (kh, kw)
        self.stride, self.padding = int(stride), int(padding)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("DepthwiseConv2d.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("DepthwiseConv2d.backward: not implemented")


class MaxPool2d(Module):
    """Max pooling over kH x kW windows (Torch's nn.SpatialMaxPooling), no padding:
    x (N, C, H, W) -> (N, C, H_out, W_out), H_out = 1 + (H - kH) // stride.

    `stride` defaults to the kernel size (non-overlapping windows). Backward routes each
    output's gradient to the position of its window's maximum; on a tie, to the FIRST maximum
    in row-major order within the window. Where windows overlap (stride < kernel) the
    gradients of one input position add up. No Python loops over batch, channels or output
    pixels (a loop over the kH*kW window offsets is fine).
    """

    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size[0] if stride is None else int(stride)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("MaxPool2d.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("MaxPool2d.backward: not implemented")


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...) in C order (Torch's nn.View(-1) on a batch);
    backward reshapes the gradient back to x's shape."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Flatten.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Flatten.backward: not implemented")


# ---------------------------------------------------------------------------------------------
# Dropout and batch normalization: modules that differ between train() and eval()
# ---------------------------------------------------------------------------------------------

class Dropout(Module):
    """Inverted dropout (Torch's nn.Dropout). `p` is the probability of DROPPING a unit (Torch's
    convention; the convnet assignment's `p` was the keep probability).

    Training mode: draw the mask with exactly ONE call `keep = self.rng.random(x.shape) >= p`
    (so the grader, giving the same Generator, can predict it), and return
    x * keep / (1 - p): the expected output equals x. backward returns
    grad_output * keep / (1 - p) with the mask of the last forward. p = 0 keeps everything.
    Evaluation mode: the identity, forward and backward, and no random numbers drawn.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Dropout.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Dropout.backward: not implemented")


class BatchNorm1d(WeightBias):
    """Batch normalization of x (N, D) per feature (Torch's nn.BatchNormalization), with a
    learned scale `weight` (D,) (ones at first) and shift `bias` (D,) (zeros), in that order.

    Training mode: mean = x.mean(0), var = x.var(0) (biased, divides by N);
    y = weight * (x - mean) / sqrt(var + eps) + bias; then the running statistics move toward
    the batch ones (Torch's convention, `momentum` weighs the NEW value):
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * N / (N - 1)
    (the running variance uses the unbiased batch variance). Update them in place or rebind
    them, either is fine (they are not parameters). backward (training mode) is the full
    gradient through the batch statistics:
        xhat = (x - mean) / sqrt(var + eps), g = grad_output * weight
        dx = (g - g.mean(0) - xhat * (g * xhat).mean(0)) / sqrt(var + eps)
    and ADDS sum(grad_output * xhat, 0) to grad_weight, sum(grad_output, 0) to grad_bias.
    Evaluation mode: y = weight * (x - running_mean) / sqrt(running_var + eps) + bias, the
    running statistics unchanged; backward is then that affine map's gradient
    (dx = grad_output * weight / sqrt(running_var + eps)), same parameter gradients with
    xhat from the running statistics.
    `running_mean` starts at zeros, `running_var` at ones.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(np.ones(num_features), np.zeros(num_features))
        self.eps, self.momentum = float(eps), float(momentum)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("BatchNorm1d.forward: not implemented")

    def backward(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError("BatchNorm1d.backward: not implemented")


# ---------------------------------------------------------------------------------------------
# Initializers (the lecture: Xavier/Glorot for tanh, He/Kaiming for ReLU)
# ---------------------------------------------------------------------------------------------

def fan_in_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape: (out, in) -> (in, out);
    (out, in, kH, kW) -> (in*kH*kW, out*kH*kW). Other lengths: ValueError."""
    raise NotImplementedError("fan_in_fan_out: not implemented")


def xavier_uniform(shape: tuple[int, ...], rng: np.random.Generator,
                   gain: float = 1.0) -> np.ndarray:
    """Glorot & Bengio (2010): `rng.uniform(-a, a, shape)` (exactly one call), with
    a = gain * sqrt(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out) * gain**2."""
    raise NotImplementedError("xavier_uniform: not implemented")


def xavier_normal(shape: tuple[int, ...], rng: np.random.Generator,
                  gain: float = 1.0) -> np.ndarray:
    """`rng.normal(0.0, std, shape)` (exactly one call), std = gain * sqrt(2 / (fan_in + fan_out))."""
    raise NotImplementedError("xavier_normal: not implemented")


def kaiming_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """He et al. (2015), for ReLU: `rng.uniform(-a, a, shape)` (exactly one call),
    a = sqrt(6 / fan_in): variance 2 / fan_in."""
    raise NotImplementedError("kaiming_uniform: not implemented")


def kaiming_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """`rng.normal(0.0, std, shape)` (exactly one call), std = sqrt(2 / fan_in)."""
    raise NotImplementedError("kaiming_normal: not implemented")
