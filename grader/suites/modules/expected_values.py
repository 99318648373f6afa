"""Expected values of the modules suite: the reference's modules, criteria, im2col and
optimizers on seeded inputs (the same case names in the `visible` and `hidden` sets, other
values).

A module case (`MODULE_CASES`) builds the module from plain keyword arguments, sets its
parameters (and state such as batch-norm running statistics) to the case's values with
`setattr`, switches to the case's mode, runs forward(x) and backward(x, dout) once. Fields:
x, dout, out, dx, each parameter `p` and its gradient `grad_p` after that one backward, each
state attribute `s` as set and `s_out` as left by the forward.
Criterion cases: input, target, loss, dinput. im2col cases: x, cols, dcols, dx (col2im of
dcols). Optimizer cases (`OPTIM_CASES`): two parameters `p0_i` of different shapes, the
gradient of every step `g_i` (STEPS, ...), written into the same arrays in place before each
step, and the parameters after every step `steps_i`.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

Cases = dict[str, dict[str, np.ndarray]]


class ModuleCase(NamedTuple):
    """One module on one input: `cls(**kwargs)` in nn.py, x of `shape` (N(shift, scale**2)),
    the parameters and state attributes set from the case, in `mode`."""
    cls: str
    kwargs: dict[str, Any]
    shape: tuple[int, ...]
    params: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    mode: str = "train"
    scale: float = 1.0
    shift: float = 0.0


WB = ("weight", "bias")
RUNNING = ("running_mean", "running_var")
MODULE_CASES: dict[str, ModuleCase] = {
    "linear": ModuleCase("Linear", {"in_features": 5, "out_features": 4}, (6, 5), WB),
    "relu": ModuleCase("ReLU", {}, (5, 7)),
    "tanh": ModuleCase("Tanh", {}, (4, 6), scale=1.5),
    "sigmoid": ModuleCase("Sigmoid", {}, (4, 6), scale=2.0),
    # every value near +-1000: exp(-x) overflows unless the formula avoids it
    "sigmoid_large": ModuleCase("Sigmoid", {}, (3, 4), scale=1000.0),
    "logsoftmax": ModuleCase("LogSoftMax", {}, (5, 7), scale=2.0),
    # scores of a row near 1e4, differing by tens: exp overflows without the max shift
    "logsoftmax_large": ModuleCase("LogSoftMax", {}, (4, 6), scale=10.0, shift=1e4),
    # 5x5 kernel with padding 2 (LeNet's first layer): a padding off by one changes sizes
    "conv_pad": ModuleCase("Conv2d", {"in_channels": 2, "out_channels": 3, "kernel_size": 5,
                                      "padding": 2}, (2, 2, 6, 6), WB),
    # stride 2, a 3x2 kernel, padding 1, sizes that round down
    "conv_stride": ModuleCase("Conv2d", {"in_channels": 3, "out_channels": 2,
                                         "kernel_size": (3, 2), "stride": 2, "padding": 1},
                              (2, 3, 7, 6), WB),
    "depthwise": ModuleCase("DepthwiseConv2d", {"channels": 3, "kernel_size": 3, "padding": 1},
                            (2, 3, 5, 5), WB),
    "depthwise_stride": ModuleCase("DepthwiseConv2d", {"channels": 2, "kernel_size": (2, 3),
                                                       "stride": 2}, (2, 2, 6, 7), WB),
    "pool": ModuleCase("MaxPool2d", {"kernel_size": 2}, (2, 3, 6, 6)),
    # overlapping windows (3x3, stride 2): gradients of one position add up
    "pool_overlap": ModuleCase("MaxPool2d", {"kernel_size": 3, "stride": 2}, (2, 2, 7, 7)),
    "flatten": ModuleCase("Flatten", {}, (3, 2, 3, 4)),
    "bn_train": ModuleCase("BatchNorm1d", {"num_features": 5, "momentum": 0.2}, (8, 5), WB,
                           RUNNING, scale=2.0, shift=1.0),
    "bn_eval": ModuleCase("BatchNorm1d", {"num_features": 5, "eps": 1e-3}, (6, 5), WB, RUNNING,
                          mode="eval", scale=2.0, shift=-1.0),
}
CRITERION_CASES = {  # case -> (class, N, C, score scale, score shift, log-probabilities?)
    "nll": ("ClassNLLCriterion", 6, 5, 1.0, 0.0, True),
    "cross_entropy": ("CrossEntropyCriterion", 7, 4, 2.0, 0.0, False),
    "cross_entropy_large": ("CrossEntropyCriterion", 5, 6, 10.0, 1e4, False),
}
IM2COL_CASES = {  # case -> (x shape, kernel, stride, padding)
    "im2col_a": ((2, 3, 5, 4), (3, 2), 1, 1),
    "im2col_b": ((1, 2, 7, 7), (3, 3), 2, 0),
}
# Sequential(Linear(5, 4), ReLU(), Linear(4, 3)) on x (6, 5): w1, b1, w2, b2 set from the case
SEQUENTIAL = (6, 5, 4, 3)
SEQ_PARAMS = ("w1", "b1", "w2", "b2")
STEPS = 4
PARAM_SHAPES = ((3, 4), (4,))
OPTIM_CASES: dict[str, tuple[str, dict[str, float]]] = {
    "sgd_momentum": ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    "adagrad": ("AdaGrad", {"lr": 0.05}),
    "rmsprop": ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-8}),
    "adam": ("Adam", {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "weight_decay": 0.05}),
}


def module_input(rng: np.random.Generator, case: ModuleCase) -> np.ndarray:
    return case.shift + case.scale * rng.standard_normal(case.shape)


def _state_value(rng: np.random.Generator, name: str, d: int) -> np.ndarray:
    return rng.uniform(0.5, 2.0, d) if name == "running_var" else rng.standard_normal(d)


def _module_case(nn: Any, case: ModuleCase, rng: np.random.Generator) -> dict[str, np.ndarray]:
    m = getattr(nn, case.cls)(**case.kwargs)
    fields: dict[str, np.ndarray] = {}
    for name in case.params:
        value = 0.5 * rng.standard_normal(getattr(m, name).shape)
        setattr(m, name, value)
        fields[name] = value.copy()
    for name in case.state:
        value = _state_value(rng, name, getattr(m, name).shape[0])
        setattr(m, name, value.copy())
        fields[name] = value
    if case.mode == "eval":
        m.eval()
    x = module_input(rng, case)
    out = m.forward(x.copy())
    dout = rng.standard_normal(out.shape)
    dx = m.backward(x.copy(), dout)
    fields.update(x=x, out=out, dout=dout, dx=dx)
    fields.update({f"grad_{p}": np.array(getattr(m, f"grad_{p}")) for p in case.params})
    fields.update({f"{s}_out": np.array(getattr(m, s)) for s in case.state})
    return fields


def _criterion_case(nn: Any, spec: tuple, rng: np.random.Generator) -> dict[str, np.ndarray]:
    cls, n, c, scale, shift, log_probs = spec
    scores = shift + scale * rng.standard_normal((n, c))
    if log_probs:
        scores = nn.LogSoftMax().forward(scores)
    target = rng.integers(0, c, n)
    crit = getattr(nn, cls)()
    loss = crit.forward(scores, target)
    return {"input": scores, "target": target.astype(np.int64), "loss": np.float64(loss),
            "dinput": crit.backward(scores, target)}


def _im2col_case(nn: Any, spec: tuple, rng: np.random.Generator) -> dict[str, np.ndarray]:
    shape, kernel, stride, padding = spec
    x = rng.standard_normal(shape)
    cols = nn.im2col(x, kernel, stride, padding)
    dcols = rng.standard_normal(cols.shape)
    return {"x": x, "cols": cols, "dcols": dcols,
            "dx": nn.col2im(dcols, shape, kernel, stride, padding)}


def optimizer_run(optim: Any, cls: str, hyper: dict[str, float], p0: list[np.ndarray],
                  grads: list[np.ndarray]) -> list[np.ndarray]:
    """Parameters after every step (stacked per parameter) of `cls(**hyper)` started at p0,
    the gradients of step k (grads[i][k]) copied into the same arrays in place."""
    params = [p.copy() for p in p0]
    g_arrays = [np.zeros_like(p) for p in p0]
    opt = getattr(optim, cls)(params, g_arrays, **hyper)
    steps: list[list[np.ndarray]] = [[] for _ in p0]
    for k in range(STEPS):
        for g, gs in zip(g_arrays, grads):
            g[...] = gs[k]
        opt.step()
        for i, p in enumerate(params):
            steps[i].append(p.copy())
    return [np.stack(s) for s in steps]


def _optim_case(optim: Any, spec: tuple, rng: np.random.Generator) -> dict[str, np.ndarray]:
    cls, hyper = spec
    p0 = [rng.standard_normal(s) for s in PARAM_SHAPES]
    grads = [rng.standard_normal((STEPS, *s)) for s in PARAM_SHAPES]
    steps = optimizer_run(optim, cls, hyper, p0, grads)
    case: dict[str, np.ndarray] = {}
    for i in range(len(PARAM_SHAPES)):
        case.update({f"p0_{i}": p0[i], f"g_{i}": grads[i], f"steps_{i}": steps[i]})
    return case


def _sequential_case(nn: Any, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, d, h, c = SEQUENTIAL
    first, second = nn.Linear(d, h), nn.Linear(h, c)
    seq = nn.Sequential(first, nn.ReLU(), second)
    values = dict(zip(SEQ_PARAMS, (0.5 * rng.standard_normal(s) for s in
                                   ((h, d), (h,), (c, h), (c,)))))
    first.weight, first.bias = values["w1"].copy(), values["b1"].copy()
    second.weight, second.bias = values["w2"].copy(), values["b2"].copy()
    x = rng.standard_normal((n, d))
    out = seq.forward(x.copy())
    dout = rng.standard_normal(out.shape)
    dx = seq.backward(x.copy(), dout)
    grads = dict(zip(SEQ_PARAMS, (np.array(g) for g in seq.gradients())))
    return {**values, "x": x, "out": out, "dout": dout, "dx": dx,
            **{f"grad_{k}": g for k, g in grads.items()}}


def build(ref: Callable[[str], Any], set_name: str, rng: np.random.Generator) -> Cases:
    """Every case of one fixture set."""
    nn, optim = ref("nn"), ref("optim")
    cases: Cases = {}
    for name, case in MODULE_CASES.items():
        cases[name] = _module_case(nn, case, rng)
    cases["sequential"] = _sequential_case(nn, rng)
    for name, spec in CRITERION_CASES.items():
        cases[name] = _criterion_case(nn, spec, rng)
    for name, spec in IM2COL_CASES.items():
        cases[name] = _im2col_case(nn, spec, rng)
    for name, spec in OPTIM_CASES.items():
        cases[name] = _optim_case(optim, spec, rng)
    return cases
