"""convnet fixtures: small seeded inputs and the reference's outputs (staff time only).

`build(ref, set_name, rng)` is called by `grader.expected_values` once per set (visible, hidden: the
seeds differ, the shapes do not). Every case stores its inputs, the upstream gradient `dout`
where there is a backward pass, and the reference's outputs; dict parameters (`conv_param`,
`pool_param`, `bn_param`, optimizer configs) are stored as 0-d arrays, one per key. All
floating values are float64 so student outputs can be held to a tight tolerance.
"""
from __future__ import annotations

from types import ModuleType
from typing import Callable

import numpy as np

Cases = dict[str, dict[str, np.ndarray]]

# conv / pool geometry: stride 1 and 2, square and non-square windows, sizes that round down.
CONV_CASES = {
    "conv_s1": dict(x=(2, 3, 7, 7), w=(4, 3, 3, 3), stride=1, pad=1),
    "conv_s2": dict(x=(2, 2, 10, 8), w=(3, 2, 3, 2), stride=2, pad=1),
}
POOL_CASES = {
    "pool_tile": dict(x=(2, 3, 8, 8), ph=2, pw=2, stride=2),
    "pool_overlap": dict(x=(2, 2, 7, 6), ph=3, pw=2, stride=1),
    "pool_s2": dict(x=(2, 3, 9, 10), ph=2, pw=3, stride=2),
}
# optimizer hyper-parameters (not the defaults, so a rule that ignores its config fails).
OPTIM_CASES = {
    "sgd": {"learning_rate": 0.05},
    "sgd_momentum": {"learning_rate": 0.05, "momentum": 0.8},
    "rmsprop": {"learning_rate": 0.02, "decay_rate": 0.9, "epsilon": 1e-6},
    "adam": {"learning_rate": 0.03, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6},
}
OPTIM_STEPS = 3
CNN_CASE = dict(input_dim=(2, 8, 8), num_filters=3, filter_size=3, hidden_dim=6, num_classes=4,
                n=5, reg=0.05)


def _normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return scale * rng.standard_normal(shape)


def _affine_relu_softmax(L: ModuleType, rng: np.random.Generator) -> Cases:
    cases: Cases = {}
    x, w, b = _normal(rng, (4, 2, 3, 2)), _normal(rng, (12, 5), 0.5), _normal(rng, (5,))
    out, cache = L.affine_forward(x, w, b)
    dout = _normal(rng, out.shape)
    dx, dw, db = L.affine_backward(dout, cache)
    cases["affine"] = dict(x=x, w=w, b=b, out=out, dout=dout, dx=dx, dw=dw, db=db)

    x = _normal(rng, (6, 7))
    out, cache = L.relu_forward(x)
    dout = _normal(rng, x.shape)
    cases["relu"] = dict(x=x, out=out, dout=dout, dx=L.relu_backward(dout, cache))

    x, y = _normal(rng, (9, 10), 2.0), rng.integers(0, 10, 9)
    loss, dx = L.softmax_loss(x, y)
    cases["softmax"] = dict(x=x, y=y, loss=np.asarray(loss), dx=dx)
    # Scores in the thousands: exp() overflows unless the row max is subtracted first.
    x, y = _normal(rng, (6, 10), 1e3) + 1e4, rng.integers(0, 10, 6)
    loss, dx = L.softmax_loss(x, y)
    cases["softmax_large"] = dict(x=x, y=y, loss=np.asarray(loss), dx=dx)
    return cases


def _conv_pool(L: ModuleType, rng: np.random.Generator) -> Cases:
    cases: Cases = {}
    for name, g in CONV_CASES.items():
        x, w = _normal(rng, g["x"]), _normal(rng, g["w"], 0.5)
        b = _normal(rng, (g["w"][0],))
        param = {"stride": g["stride"], "pad": g["pad"]}
        out, cache = L.conv_forward_naive(x, w, b, param)
        dout = _normal(rng, out.shape)
        dx, dw, db = L.conv_backward_naive(dout, cache)
        cases[name] = dict(x=x, w=w, b=b, stride=np.asarray(g["stride"]),
                           pad=np.asarray(g["pad"]), out=out, dout=dout, dx=dx, dw=dw, db=db)
    for name, g in POOL_CASES.items():
        x = _normal(rng, g["x"])
        param = {"pool_height": g["ph"], "pool_width": g["pw"], "stride": g["stride"]}
        out, cache = L.max_pool_forward_naive(x, param)
        dout = _normal(rng, out.shape)
        cases[name] = dict(x=x, pool_height=np.asarray(g["ph"]), pool_width=np.asarray(g["pw"]),
                           stride=np.asarray(g["stride"]), out=out, dout=dout,
                           dx=L.max_pool_backward_naive(dout, cache))
    return cases


def _bn_case(forward: Callable, backward: Callable, x: np.ndarray, chans: int,
             rng: np.random.Generator, bn_param: dict) -> dict[str, np.ndarray]:
    """One batchnorm case; `bn_param` lists what the student is given (mode and maybe more)."""
    gamma, beta = 1.0 + _normal(rng, (chans,), 0.3), _normal(rng, (chans,))
    given = {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in bn_param.items()}
    param = dict(given)
    out, cache = forward(x, gamma, beta, param)
    dout = _normal(rng, out.shape)
    dx, dgamma, dbeta = backward(dout, cache)
    case = dict(x=x, gamma=gamma, beta=beta, out=out, dout=dout, dx=dx, dgamma=dgamma,
                dbeta=dbeta, running_mean_out=param["running_mean"],
                running_var_out=param["running_var"])
    for k, v in given.items():
        if k != "mode":
            case[k] = np.asarray(v, dtype=np.float64)
    return case


def _batchnorm(L: ModuleType, rng: np.random.Generator) -> Cases:
    cases: Cases = {}
    d = 6
    # Features with different means and scales, so normalizing matters.
    def feats(n: int) -> np.ndarray:
        return _normal(rng, (n, d)) * rng.uniform(0.5, 3.0, d) + rng.uniform(-2, 2, d)

    running = lambda: (_normal(rng, (d,), 0.5), rng.uniform(0.5, 2.0, d))  # noqa: E731
    rm, rv = running()
    cases["bn_train"] = _bn_case(L.batchnorm_forward, L.batchnorm_backward, feats(20), d, rng,
                                 {"mode": "train", "eps": 1e-4, "momentum": 0.8,
                                  "running_mean": rm, "running_var": rv})
    # Only the mode: eps, momentum and zero running statistics come from the defaults.
    cases["bn_defaults"] = _bn_case(L.batchnorm_forward, L.batchnorm_backward, feats(12), d,
                                    rng, {"mode": "train"})
    rm, rv = running()
    cases["bn_test"] = _bn_case(L.batchnorm_forward, L.batchnorm_backward, feats(10), d, rng,
                                {"mode": "test", "eps": 1e-5, "momentum": 0.9,
                                 "running_mean": rm, "running_var": rv})
    c = 4
    x = _normal(rng, (3, c, 5, 4)) * rng.uniform(0.5, 3.0, (1, c, 1, 1)) \
        + rng.uniform(-2, 2, (1, c, 1, 1))
    rm, rv = _normal(rng, (c,), 0.5), rng.uniform(0.5, 2.0, c)
    cases["sbn_train"] = _bn_case(L.spatial_batchnorm_forward, L.spatial_batchnorm_backward, x,
                                  c, rng, {"mode": "train", "eps": 1e-5, "momentum": 0.7,
                                           "running_mean": rm, "running_var": rv})
    x = _normal(rng, (2, c, 3, 3)) + 0.5
    rm, rv = _normal(rng, (c,), 0.5), rng.uniform(0.5, 2.0, c)
    cases["sbn_test"] = _bn_case(L.spatial_batchnorm_forward, L.spatial_batchnorm_backward, x,
                                 c, rng, {"mode": "test", "eps": 1e-5, "momentum": 0.9,
                                          "running_mean": rm, "running_var": rv})
    return cases


def _optim(O: ModuleType, rng: np.random.Generator) -> Cases:
    cases: Cases = {}
    for rule, hyper in OPTIM_CASES.items():
        fn = getattr(O, rule)
        w0 = _normal(rng, (5, 6))
        dws = _normal(rng, (OPTIM_STEPS, 5, 6))
        w, config, steps = w0.copy(), dict(hyper), []
        for k in range(OPTIM_STEPS):
            w, config = fn(w, dws[k], config)
            steps.append(w)
        case = dict(w0=w0, dws=dws, w_steps=np.stack(steps))
        case.update({k: np.asarray(v, dtype=np.float64) for k, v in hyper.items()})
        w_default, _ = fn(w0.copy(), dws[0], None)
        case["w_default"] = w_default
        cases[rule] = case
    return cases


def _cnn(C: ModuleType, rng: np.random.Generator) -> Cases:
    g = CNN_CASE
    model = C.ThreeLayerConvNet(input_dim=g["input_dim"], num_filters=g["num_filters"],
                                filter_size=g["filter_size"], hidden_dim=g["hidden_dim"],
                                num_classes=g["num_classes"], reg=g["reg"], dtype=np.float64,
                                seed=0)
    params = {k: _normal(rng, v.shape, 0.3) for k, v in sorted(model.params.items())}
    model.params.update({k: v.copy() for k, v in params.items()})
    X = _normal(rng, (g["n"], *g["input_dim"]))
    y = rng.integers(0, g["num_classes"], g["n"])
    scores = model.loss(X)
    loss, grads = model.loss(X, y)
    case = dict(X=X, y=y, scores=scores, loss=np.asarray(loss))
    case.update(params)
    case.update({f"d{k}": v for k, v in grads.items()})
    for k in ("num_filters", "filter_size", "hidden_dim", "num_classes", "reg"):
        case[k] = np.asarray(g[k])
    case["input_dim"] = np.asarray(g["input_dim"])
    return {"cnn": case}


def build(ref: Callable[[str], ModuleType], set_name: str, rng: np.random.Generator) -> Cases:
    """Every case of one fixture set (the same shapes in both sets, different values)."""
    layers, optim, cnn = ref("layers"), ref("optim"), ref("cnn")
    cases: Cases = {}
    cases.update(_affine_relu_softmax(layers, rng))
    cases.update(_conv_pool(layers, rng))
    cases.update(_batchnorm(layers, rng))
    cases.update(_optim(optim, rng))
    cases.update(_cnn(cnn, rng))
    return cases
