"""The modules suite's bug table (`grader.bugs`): realistic bugs, each a small edit of a copy
of reference/modules/ that must lose points on a test tagged with the bugged class or
function; correct code written differently (einsum, a loop over the kernel offsets where the
stubs allow one, other things cached between forward and backward) that must keep every
point of the sections it touches; and the demo class of `make grade`.

A whole modules grading trains LeNet-5 (about a minute), so the suite tests check this table
`Quick`ly: only the tests tagged with the bug's function, without the training runs (13.3,
13.4, 13.5; a bug of random_search still loses its hidden test 13.6).
"""
from grader.bugs import PARTIAL, Bug, Demo, Hostile, Quick, Student, Table, Variant

NN, OPTIM, LENET = "nn.py", "optim.py", "lenet.py"

BUGS = (
    Bug("linear-grad-overwritten", "Linear sets grad_weight (=) instead of adding (+=)",
        ("Linear",),
        ((NN, "        self.grad_weight += grad_output.T @ x\n",
          "        self.grad_weight[...] = grad_output.T @ x\n"),)),
    Bug("linear-bias-grad-mean", "Linear's bias gradient averaged, not summed, over the batch",
        ("Linear",),
        ((NN, "self.grad_bias += grad_output.sum(axis=0)\n        return grad_output @",
          "self.grad_bias += grad_output.mean(axis=0)\n        return grad_output @"),)),
    Bug("zero-grad-rebinds", "zero_grad rebinds a local name: the arrays keep their values",
        ("Module",),
        ((NN, "        for grad in self.gradients():\n            grad[...] = 0\n",
          "        for grad in self.gradients():\n            grad = np.zeros_like(grad)\n"),)),
    Bug("dropout-not-inverted", "dropout mask not divided by 1 - p", ("Dropout",),
        ((NN, "self._scale = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)",
          "self._scale = (self.rng.random(x.shape) >= self.p) * 1.0"),)),
    Bug("dropout-active-in-eval", "dropout still drops in eval mode", ("Dropout",),
        ((NN, "        if not self.training:\n            return x\n        self._scale",
          "        self._scale"),)),
    Bug("batchnorm-eval-batch-stats", "batch norm uses the batch statistics in eval mode",
        ("BatchNorm1d",),
        ((NN, "            mean, var = self.running_mean, self.running_var\n",
          "            mean, var = x.mean(axis=0), x.var(axis=0)\n"),)),
    Bug("batchnorm-running-var-biased", "running variance from the biased batch variance",
        ("BatchNorm1d",),
        ((NN, "m * var * n / max(n - 1, 1)", "m * var"),)),
    Bug("sgd-momentum-sign", "momentum velocity subtracts the gradient, then p -= lr * v",
        ("SGD",),
        ((OPTIM, "            v += grad + self.weight_decay * p\n",
          "            v -= grad + self.weight_decay * p\n"),)),
    Bug("adam-stale-t", "Adam increments t after the update (bias correction with stale t)",
        ("Adam",),
        ((OPTIM, "        self.t += 1\n", ""),
         (OPTIM, "            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)\n",
          "            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)\n"
          "        self.t += 1\n"))),
    Bug("maxpool-grad-to-window", "max-pool backward feeds every window element",
        ("MaxPool2d",),
        ((NN, "routed = grad_output * (self._switch == di * kw + dj)", "routed = grad_output"),)),
    Bug("conv-pad-off-by-one", "Conv2d output size counts the padding once",
        ("Conv2d",),
        ((NN, "        h_out = 1 + (height + 2 * self.padding - kh) // self.stride\n"
              "        w_out = 1 + (width + 2 * self.padding - kw) // self.stride\n",
          "        h_out = 1 + (height + self.padding - kh) // self.stride\n"
          "        w_out = 1 + (width + self.padding - kw) // self.stride\n"),)),
    Bug("xavier-fan-in-only", "Xavier uniform bound from fan_in only", ("xavier_uniform",),
        ((NN, "bound = gain * np.sqrt(6.0 / (fan_in + fan_out))",
          "bound = gain * np.sqrt(6.0 / (2 * fan_in))"),)),
    Bug("logsoftmax-no-max-shift", "LogSoftMax without the max shift", ("LogSoftMax",),
        ((NN, "        shifted = x - x.max(axis=1, keepdims=True)\n", "        shifted = x\n"),)),
    Bug("search-linear-uniform", "random search draws uniformly, not in log space",
        ("random_search",),
        ((LENET, "settings = [(10 ** rng.uniform(np.log10(lr_range[0]), np.log10(lr_range[1])),\n"
                 "                 10 ** rng.uniform(np.log10(reg_range[0]), np.log10(reg_range[1])))",
          "settings = [(rng.uniform(lr_range[0], lr_range[1]),\n"
          "                 rng.uniform(reg_range[0], reg_range[1]))"),)),
)

# im2col with a loop over the kernel offsets (allowed) instead of a strided view
LOOP_IM2COL = '''

def im2col(x, kernel_size, stride, padding):
    kh, kw = kernel_size
    n_img, chans, height, width = x.shape
    h_out = 1 + (height + 2 * padding - kh) // stride
    w_out = 1 + (width + 2 * padding - kw) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((chans, kh, kw, n_img, h_out, w_out), dtype=xp.dtype)
    for di in range(kh):
        for dj in range(kw):
            patch = xp[:, :, di:di + stride * h_out:stride, dj:dj + stride * w_out:stride]
            cols[:, di, dj] = patch.transpose(1, 0, 2, 3)
    return cols.reshape(chans * kh * kw, n_img * h_out * w_out)
'''

VARIANTS = (
    Variant("einsum-linear", "Linear forward and backward with np.einsum",
            ((NN, "        return x @ self.weight.T + self.bias\n",
              "        return np.einsum('ni,oi->no', x, self.weight) + self.bias\n"),
             (NN, "        self.grad_weight += grad_output.T @ x\n",
              "        self.grad_weight += np.einsum('no,ni->oi', grad_output, x)\n"),
             (NN, "        return grad_output @ self.weight\n",
              "        return np.einsum('no,oi->ni', grad_output, self.weight)\n"))),
    Variant("loop-im2col", "im2col as a loop over the kernel offsets",
            append=((NN, LOOP_IM2COL),)),
    Variant("dropout-keeps-mask", "dropout caches the boolean mask, not the scaled one",
            ((NN, "        self._scale = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)\n"
                  "        return x * self._scale\n",
              "        self._keep = self.rng.random(x.shape) >= self.p\n"
              "        return np.where(self._keep, x / (1.0 - self.p), 0.0)\n"),
             (NN, "        return grad_output * self._scale\n",
              "        return np.where(self._keep, grad_output / (1.0 - self.p), 0.0)\n"))),
    Variant("batchnorm-recomputes-xhat", "batch norm recomputes xhat from x in backward",
            ((NN, "        xhat = self._xhat\n",
              "        centre = x.mean(axis=0) if self.training else self.running_mean\n"
              "        xhat = (x - centre) * self._inv_std\n"),)),
    Variant("logsoftmax-caches-output", "LogSoftMax keeps its output for backward",
            ((NN, "        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n",
              "        self._out = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
              "        return self._out\n"),
             (NN, "np.exp(self.forward(x))", "np.exp(self._out)"))),
    Variant("sigmoid-where", "Sigmoid from exp(-|x|) and the sign",
            ((NN, "        return np.exp(-np.logaddexp(0, -x))\n",
              "        e = np.exp(-np.abs(x))\n"
              "        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n"),)),
)

DEMO = Demo("folders", (
    Student("torch", "Ann Torch", story="a correct solution"),
    Hostile("blank"),
    Student("drop", "Deb Dropout", "dropout-active-in-eval"),
    Student("adam", "Al Adam", "adam-stale-t"),
    Hostile("crash", LENET, PARTIAL, ("lenet5", "train", "random_search"),
            "lenet.py crashes at import (the modules still count)"),
    Hostile("forger", NN, (0.0, 20.0), story="nn.py forges results.json and exits at import"),
    Hostile("missing", OPTIM, PARTIAL, ("Adam",), sid="nooptim"),
))

TABLE = Table(BUGS, VARIANTS, DEMO,
              Quick(skip=("13.3", "13.4", "13.5"), variant_sections=("1", "2", "4", "5", "6", "9", "10")))
