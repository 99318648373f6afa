"""Extra random inputs for the equivalence check, where a suite's expected-values builder
does not call a graded function (training, prediction, the fast layers, dropout).

`PROBES[assignment](ref, rng) -> {case: {field: array}}`, like a builder's output: `ref(name)`
imports a module of the code under test. A suite without an entry here is probed with its
builder alone; a function neither reaches is reported as such, never called equivalent.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import numpy as np

Ref = Callable[[str], ModuleType]
Cases = dict[str, dict[str, Any]]


def _data(rng: np.random.Generator, n: int, d: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """X (n, d) in [0, 1) with a bias column, y (n,) holding every class."""
    X = np.hstack([rng.random((n, d - 1)), np.ones((n, 1))])
    y = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])
    return X, y


def softmax(ref: Ref, rng: np.random.Generator) -> Cases:
    sm = ref("softmax")
    X, y = _data(rng, 40, 7, 4)
    model = sm.Softmax()
    history = model.train(X, y, learning_rate=0.5, reg=1e-3, num_iters=15, batch_size=10,
                          seed=int(rng.integers(1 << 30)))
    return {"train": {"history": np.asarray(history), "W": model.W,
                      "predict": np.asarray(model.predict(X))}}


def two_layer_net(ref: Ref, rng: np.random.Generator) -> Cases:
    mod = ref("two_layer_net")
    X, y = _data(rng, 40, 7, 4)
    Xv, yv = _data(rng, 12, 7, 4)
    net = mod.TwoLayerNet(7, 9, 4, std=0.3, seed=int(rng.integers(1 << 30)))
    init = {f"init_{k}": v.copy() for k, v in net.params.items()}
    stats = net.train(X, y, Xv, yv, learning_rate=0.2, learning_rate_decay=0.7, reg=1e-3,
                      num_iters=12, batch_size=8, seed=int(rng.integers(1 << 30)))
    case = {**init, **{k: np.asarray(v) for k, v in stats.items()},
            **{f"trained_{k}": v for k, v in net.params.items()},
            "predict": np.asarray(net.predict(Xv))}
    return {"train": case}


def convnet(ref: Ref, rng: np.random.Generator) -> Cases:
    L, C = ref("layers"), ref("cnn")
    cases: Cases = {}
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), \
        rng.standard_normal(4)
    for stride, pad in ((1, 1), (2, 0), (2, 1)):
        out, cache = L.conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
        dx, dw, db = L.conv_backward_fast(rng.standard_normal(out.shape), cache)
        cases[f"conv_{stride}_{pad}"] = dict(out=out, dx=dx, dw=dw, db=db)
    xp = rng.standard_normal((2, 3, 8, 7))
    # many planes: the fast pool works in chunks of planes, and a chunk offset only shows
    # from the second chunk on
    many = rng.standard_normal((24, 40, 28, 28))
    out, cache = L.max_pool_forward_fast(many, {"pool_height": 2, "pool_width": 2, "stride": 2})
    cases["pool_many"] = dict(out=out, dx=L.max_pool_backward_fast(np.ones_like(out), cache))
    for ph, pw, stride in ((2, 2, 2), (3, 2, 1), (3, 3, 2)):
        out, cache = L.max_pool_forward_fast(xp, {"pool_height": ph, "pool_width": pw,
                                                  "stride": stride})
        dx = L.max_pool_backward_fast(rng.standard_normal(out.shape), cache)
        cases[f"pool_{ph}_{pw}_{stride}"] = dict(out=out, dx=dx)
    xd = rng.standard_normal((6, 10))
    for mode in ("train", "test"):
        param = {"p": 0.7, "mode": mode, "seed": int(rng.integers(1 << 30))}
        out, cache = L.dropout_forward(xd, param)
        cases[f"dropout_{mode}"] = dict(out=out, dx=L.dropout_backward(xd + 1.0, cache))
    # odd sizes: an off-by-one in the pooled size shows only there
    model = C.ThreeLayerConvNet(input_dim=(2, 7, 5), num_filters=3, filter_size=3,
                                hidden_dim=5, num_classes=4, weight_scale=0.1, reg=0.1,
                                dtype=np.float64, seed=int(rng.integers(1 << 30)))
    X, y = rng.standard_normal((3, 2, 7, 5)), rng.integers(0, 4, 3)
    loss, grads = model.loss(X, y)
    cases["cnn_init"] = {**model.params, "loss": np.asarray(loss),
                         **{f"d{k}": v for k, v in grads.items()}}
    return cases


PROBES: dict[str, Callable[[Ref, np.random.Generator], Cases]] = {
    "softmax": softmax, "two_layer_net": two_layer_net, "convnet": convnet}
