"""The convnet reference solution: layers, update rules, ThreeLayerConvNet, Solver.

Gradients are checked against centred differences in float64 (relative error < 1e-7); the
fast conv/pool against the naive ones live in test_conv_fast.py. The trained-model check
uses the settings the assignment declares (grader/suites/convnet/declaration.py).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
for _d in (ROOT, ROOT / "reference" / "common", ROOT / "reference" / "convnet"):
    if str(_d) not in sys.path:
        sys.path.insert(0, str(_d))

import layer_utils as LU                                      # noqa: E402
import layers as L                                            # noqa: E402
import optim                                                  # noqa: E402
from cnn import ThreeLayerConvNet                             # noqa: E402
from gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,  # noqa: E402
                            rel_error)
from solver import Solver                                     # noqa: E402

assert Path(L.__file__).parent == ROOT / "reference" / "convnet", L.__file__

GRAD_TOL = 1e-7


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_backward(forward, backward, inputs: list[np.ndarray], seed: int = 0) -> None:
    """Every gradient of `backward` against the numeric gradient of `forward`."""
    out = forward(*inputs)[0]
    dout = _rng(seed + 100).standard_normal(out.shape)
    grads = backward(dout, forward(*inputs)[1])
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs)
    for i, (g, x) in enumerate(zip(grads, inputs)):
        assert g.shape == x.shape, f"gradient {i}: shape {g.shape} != {x.shape}"

        def f(v, i=i):
            args = list(inputs)
            args[i] = v
            return forward(*args)[0]
        err = rel_error(g, eval_numerical_gradient_array(f, x, dout))
        assert err < GRAD_TOL, f"gradient {i}: relative error {err:.1e}"


# --- layers: numeric gradients ---------------------------------------------------------------

def test_affine():
    rng = _rng(0)
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    out, _ = L.affine_forward(x, w, b)
    assert np.allclose(out, x.reshape(4, 6) @ w + b)
    _check_backward(L.affine_forward, L.affine_backward, [x, w, b])


def test_relu():
    x = _rng(1).standard_normal((5, 6))
    out, _ = L.relu_forward(x)
    assert np.array_equal(out, np.where(x > 0, x, 0))
    _check_backward(lambda v: L.relu_forward(v), L.relu_backward, [x])


def test_softmax_loss_value_gradient_and_stability():
    rng = _rng(2)
    x, y = rng.standard_normal((7, 5)), rng.integers(0, 5, 7)
    loss, dx = L.softmax_loss(x, y)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert math.isclose(loss, -np.mean(np.log(p[np.arange(7), y])), rel_tol=1e-12)
    num = eval_numerical_gradient(lambda v: L.softmax_loss(v, y)[0], x)
    assert rel_error(dx, num) < GRAD_TOL
    big_loss, big_dx = L.softmax_loss(x * 1000, y)          # exp(1000) would overflow
    assert np.isfinite(big_loss) and np.all(np.isfinite(big_dx))


def test_softmax_loss_is_ln_c_for_equal_scores():
    loss, _ = L.softmax_loss(np.zeros((4, 10)), np.arange(4))
    assert math.isclose(loss, math.log(10), rel_tol=1e-12)


@pytest.mark.parametrize("stride,pad,ws", [(1, 1, (3, 2, 3, 3)), (2, 1, (2, 2, 3, 2))])
def test_conv_naive(stride, pad, ws):
    rng = _rng(3)
    x, w, b = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal(ws), rng.standard_normal(ws[0])
    cp = {"stride": stride, "pad": pad}
    out, _ = L.conv_forward_naive(x, w, b, cp)
    assert out.shape == (2, ws[0], 1 + (6 + 2 * pad - ws[2]) // stride,
                         1 + (5 + 2 * pad - ws[3]) // stride)
    _check_backward(lambda *a: L.conv_forward_naive(*a, cp), L.conv_backward_naive, [x, w, b])


def test_conv_naive_known_value():
    """A 1-channel 3x3 input, a 2x2 all-ones filter, no padding: each output is a window sum."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    out, _ = L.conv_forward_naive(x, np.ones((1, 1, 2, 2)), np.array([0.5]),
                                  {"stride": 1, "pad": 0})
    assert np.array_equal(out[0, 0], [[8.5, 12.5], [20.5, 24.5]])


@pytest.mark.parametrize("pp", [{"pool_height": 2, "pool_width": 2, "stride": 2},
                                {"pool_height": 3, "pool_width": 2, "stride": 1}])
def test_max_pool_naive(pp):
    x = _rng(4).standard_normal((2, 2, 6, 6))
    out, _ = L.max_pool_forward_naive(x, pp)
    assert out[0, 0, 0, 0] == x[0, 0, :pp["pool_height"], :pp["pool_width"]].max()
    _check_backward(lambda v: L.max_pool_forward_naive(v, pp), L.max_pool_backward_naive, [x])


def test_dropout_gradient_uses_the_forward_mask():
    x = _rng(5).standard_normal((6, 7))
    param = {"p": 0.6, "mode": "train", "seed": 11}
    _check_backward(lambda v: L.dropout_forward(v, param), L.dropout_backward, [x])


def test_batchnorm_gradients_train_and_test_mode():
    rng = _rng(6)
    x = rng.standard_normal((8, 4)) * 3 + 1
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    _check_backward(lambda *a: L.batchnorm_forward(*a, {"mode": "train"}), L.batchnorm_backward,
                    [x, gamma, beta])
    test_param = {"mode": "test", "running_mean": rng.standard_normal(4),
                  "running_var": rng.uniform(0.5, 2.0, 4)}
    _check_backward(lambda *a: L.batchnorm_forward(*a, dict(test_param)), L.batchnorm_backward,
                    [x, gamma, beta])


def test_spatial_batchnorm_gradients():
    rng = _rng(7)
    x = rng.standard_normal((3, 2, 4, 3)) * 2 + 1
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    _check_backward(lambda *a: L.spatial_batchnorm_forward(*a, {"mode": "train"}),
                    L.spatial_batchnorm_backward, [x, gamma, beta])


# --- dropout and batchnorm: behaviour ---------------------------------------------------------

@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
def test_dropout_statistics(p):
    x = np.full((500, 400), 2.0)
    out, _ = L.dropout_forward(x, {"p": p, "mode": "train", "seed": 0})
    kept = out != 0
    assert abs(kept.mean() - p) < 0.01                     # keep probability
    assert np.allclose(out[kept], 2.0 / p)                  # inverted: kept values scaled up
    assert abs(out.mean() - 2.0) < 0.03                     # expectation preserved
    test_out, _ = L.dropout_forward(x, {"p": p, "mode": "test"})
    assert np.array_equal(test_out, x)


def test_dropout_seed_is_deterministic_and_keeps_dtype():
    x = _rng(8).standard_normal((30, 30)).astype(np.float32)
    a, _ = L.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 3})
    b, _ = L.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 3})
    c, _ = L.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 4})
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32
    dout = np.ones_like(x)
    _, cache = L.dropout_forward(x, {"p": 0.5, "mode": "test"})
    assert np.array_equal(L.dropout_backward(dout, cache), dout)


def test_batchnorm_train_normalizes_and_updates_running_stats():
    rng = _rng(9)
    x = rng.standard_normal((200, 3)) * [1.0, 4.0, 0.5] + [2.0, -1.0, 5.0]
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -3.0])
    param = {"mode": "train"}
    out, _ = L.batchnorm_forward(x, gamma, beta, param)
    assert np.allclose(out.mean(axis=0), beta, atol=1e-10)
    assert np.allclose(out.std(axis=0), gamma, rtol=1e-4)
    # running stats start at zero and move by (1 - momentum) towards the batch's
    assert np.allclose(param["running_mean"], 0.1 * x.mean(axis=0))
    assert np.allclose(param["running_var"], 0.1 * x.var(axis=0))
    for _ in range(100):
        L.batchnorm_forward(x, gamma, beta, param)
    assert np.allclose(param["running_mean"], x.mean(axis=0), rtol=1e-3)
    assert np.allclose(param["running_var"], x.var(axis=0), rtol=1e-3)


def test_batchnorm_test_mode_uses_running_stats():
    rng = _rng(10)
    x = rng.standard_normal((5, 3))
    rm, rv = np.array([1.0, 0.0, -1.0]), np.array([4.0, 1.0, 0.25])
    param = {"mode": "test", "running_mean": rm, "running_var": rv, "eps": 0.0}
    gamma, beta = np.array([2.0, 1.0, 1.0]), np.zeros(3)
    out, _ = L.batchnorm_forward(x, gamma, beta, param)
    assert np.allclose(out, gamma * (x - rm) / np.sqrt(rv))
    assert np.array_equal(param["running_mean"], rm)        # test mode leaves them alone
    param["momentum"] = 0.5
    param["mode"] = "train"
    L.batchnorm_forward(x, gamma, beta, param)
    assert np.allclose(param["running_mean"], 0.5 * rm + 0.5 * x.mean(axis=0))


def test_spatial_batchnorm_is_per_channel():
    x = _rng(11).standard_normal((4, 3, 5, 5)) * 3 + 7
    out, _ = L.spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
    assert out.shape == x.shape
    assert np.allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    assert np.allclose(out.std(axis=(0, 2, 3)), 1, rtol=1e-4)


# --- sandwich layers --------------------------------------------------------------------------

def test_conv_relu_pool_sandwich_equals_the_chain():
    rng = _rng(12)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    cp, pp = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = LU.conv_relu_pool_forward(x, w, b, cp, pp)
    a, _ = L.conv_forward_naive(x, w, b, cp)
    ref, _ = L.max_pool_forward_naive(np.maximum(a, 0), pp)
    assert rel_error(out, ref) < 1e-9
    _check_backward(lambda *v: LU.conv_relu_pool_forward(*v, cp, pp),
                    LU.conv_relu_pool_backward, [x, w, b])
    _check_backward(LU.affine_relu_forward, LU.affine_relu_backward,
                    [rng.standard_normal((3, 4)), rng.standard_normal((4, 5)),
                     rng.standard_normal(5)])


# --- update rules -----------------------------------------------------------------------------

W0, DW1, DW2 = np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.25, -4.0]), np.array([-1.0, 2.0, 0.1])


def test_sgd_step():
    w, cfg = optim.sgd(W0, DW1)
    assert np.allclose(w, W0 - 1e-2 * DW1) and cfg["learning_rate"] == 1e-2


def test_sgd_momentum_two_steps():
    w1, cfg = optim.sgd_momentum(W0, DW1)
    v1 = -1e-2 * DW1
    assert np.allclose(w1, W0 + v1)
    w2, cfg = optim.sgd_momentum(w1, DW2, cfg)
    v2 = 0.9 * v1 - 1e-2 * DW2
    assert np.allclose(w2, W0 + v1 + v2) and np.allclose(cfg["velocity"], v2)


def test_rmsprop_two_steps():
    w1, cfg = optim.rmsprop(W0, DW1)
    c1 = 0.01 * DW1 ** 2
    assert np.allclose(w1, W0 - 1e-2 * DW1 / (np.sqrt(c1) + 1e-8))
    # first step: dw / sqrt(0.01 dw^2) = 10 sign(dw), so every weight moves by 0.1
    assert np.allclose(np.abs(w1 - W0), 0.1)
    w2, cfg = optim.rmsprop(w1, DW2, cfg)
    c2 = 0.99 * c1 + 0.01 * DW2 ** 2
    assert np.allclose(w2, w1 - 1e-2 * DW2 / (np.sqrt(c2) + 1e-8))
    assert np.allclose(cfg["cache"], c2)


def test_adam_two_steps_bias_corrected():
    w1, cfg = optim.adam(W0, DW1)
    assert cfg["t"] == 1
    # with t incremented first, the first step is lr * dw / (|dw| + eps): 1e-3 per weight
    assert np.allclose(w1, W0 - 1e-3 * DW1 / (np.abs(DW1) + 1e-8))
    w2, cfg = optim.adam(w1, DW2, cfg)
    m = 0.9 * 0.1 * DW1 + 0.1 * DW2
    v = 0.999 * 0.001 * DW1 ** 2 + 0.001 * DW2 ** 2
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    assert cfg["t"] == 2 and np.allclose(cfg["m"], m) and np.allclose(cfg["v"], v)
    assert np.allclose(w2, w1 - 1e-3 * m_hat / (np.sqrt(v_hat) + 1e-8))


def test_update_rules_honour_their_config():
    cfg = {"learning_rate": 0.5}
    w, _ = optim.sgd(W0, DW1, cfg)
    assert np.allclose(w, W0 - 0.5 * DW1)
    w, cfg = optim.adam(W0, DW1, {"learning_rate": 0.1, "beta1": 0.5, "t": 0})
    assert np.allclose(w, W0 - 0.1 * np.sign(DW1), atol=1e-7) and cfg["beta2"] == 0.999


@pytest.mark.parametrize("rule,config,steps", [
    ("sgd", {"learning_rate": 0.1}, 300),
    ("sgd_momentum", {"learning_rate": 0.05}, 300),
    ("rmsprop", {"learning_rate": 0.03}, 1000),
    ("adam", {"learning_rate": 0.05}, 1000),
])
def test_update_rules_descend_a_quadratic_bowl(rule, config, steps):
    """f(w) = 0.5 * sum(a * (w - c)**2): every rule ends at the minimum c."""
    rng = _rng(13)
    a, c = rng.uniform(0.5, 2.0, (3, 4)), rng.standard_normal((3, 4))
    w = 3 * rng.standard_normal((3, 4))
    start = np.abs(w - c).max()
    cfg, losses = dict(config), []
    for _ in range(steps):
        losses.append(0.5 * np.sum(a * (w - c) ** 2))
        w, cfg = getattr(optim, rule)(w, a * (w - c), cfg)
    assert start > 1.0
    assert np.abs(w - c).max() < 1e-3
    assert losses[-1] < 1e-3 * losses[0]


# --- ThreeLayerConvNet --------------------------------------------------------------------------

SMALL = dict(input_dim=(2, 8, 8), num_filters=3, filter_size=3, hidden_dim=7, num_classes=5)


def _small_batch(n: int, seed: int):
    rng = _rng(seed)
    return rng.standard_normal((n, 2, 8, 8)), rng.integers(0, 5, n)


def test_cnn_shapes_and_dtype():
    model = ThreeLayerConvNet(input_dim=(1, 28, 28), num_filters=4, filter_size=5, hidden_dim=9,
                              seed=0)
    p = model.params
    assert sorted(p) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert p["W1"].shape == (4, 1, 5, 5) and p["W2"].shape == (4 * 14 * 14, 9)
    assert p["W3"].shape == (9, 10) and p["b1"].shape == (4,) and p["b3"].shape == (10,)
    assert all(v.dtype == np.float32 for v in p.values())
    assert not np.any(p["b2"]) and np.std(p["W2"]) == pytest.approx(1e-3, rel=0.05)
    X = _rng(1).random((3, 1, 28, 28)).astype(np.float32)
    scores = model.loss(X)
    assert scores.shape == (3, 10) and scores.dtype == np.float32
    _, grads = model.loss(X, np.array([0, 1, 2]))
    assert all(grads[k].shape == p[k].shape and grads[k].dtype == np.float32 for k in p)
    # an even filter loses one pixel before the pool: (28 + 2*1 - 4 + 1) // 2 = 13
    even = ThreeLayerConvNet(num_filters=2, filter_size=4, hidden_dim=3, seed=0)
    assert even.params["W2"].shape == (2 * 13 * 13, 3)
    assert even.loss(X).shape == (3, 10)


def test_cnn_seed_is_deterministic():
    a, b = ThreeLayerConvNet(seed=3, **SMALL), ThreeLayerConvNet(seed=3, **SMALL)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_cnn_loss_at_chance_is_ln_10():
    model = ThreeLayerConvNet(num_filters=8, filter_size=5, hidden_dim=20, seed=0)
    X = _rng(2).random((20, 1, 28, 28)).astype(np.float32)
    loss, _ = model.loss(X, np.arange(20) % 10)
    assert abs(loss - math.log(10)) < 1e-3


def test_cnn_regularization_raises_loss_by_exactly_the_penalty():
    X, y = _small_batch(4, 3)
    model = ThreeLayerConvNet(weight_scale=0.1, dtype=np.float64, seed=1, **SMALL)
    loss0, grads0 = model.loss(X, y)
    model.reg = 0.5
    loss1, grads1 = model.loss(X, y)
    penalty = sum(np.sum(model.params[k] ** 2) for k in ("W1", "W2", "W3"))
    assert loss1 > loss0
    assert loss1 - loss0 == pytest.approx(0.5 * penalty, rel=1e-9)
    for k in model.params:
        expected = 2 * 0.5 * model.params[k] if k.startswith("W") else 0.0
        assert np.allclose(grads1[k] - grads0[k], expected, rtol=0, atol=1e-12), k


def test_cnn_gradients_numeric():
    """Each parameter, float64. Weight scale and step are chosen so that no element's
    gradient is so small that float64 rounding of the loss dominates its finite difference;
    the regularization gradient is checked exactly in the test above."""
    X, y = _small_batch(4, 4)
    model = ThreeLayerConvNet(weight_scale=0.2, dtype=np.float64, seed=2, **SMALL)
    _, grads = model.loss(X, y)
    for name, param in model.params.items():
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, h=3e-5)
        err = rel_error(grads[name], num)
        assert err < GRAD_TOL, f"{name}: relative error {err:.1e}"


# --- Solver and training ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist() -> dict[str, np.ndarray]:
    hwdata = pytest.importorskip("hwdata")
    return hwdata.load("mnist")


def test_cnn_overfits_50_samples(mnist):
    small = {"X_train": mnist["X_train"][:50], "y_train": mnist["y_train"][:50],
             "X_val": mnist["X_val"][:50], "y_val": mnist["y_val"][:50]}
    model = ThreeLayerConvNet(num_filters=8, filter_size=5, hidden_dim=50, weight_scale=0.05,
                              seed=0)
    solver = Solver(model, small, update_rule="adam", optim_config={"learning_rate": 3e-3},
                    batch_size=10, num_epochs=12, seed=0, verbose=False)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    assert solver.check_accuracy(small["X_train"], small["y_train"]) == 1.0
    assert len(solver.loss_history) == 12 * 5 and solver.loss_history[-1] < 0.1


def test_solver_keeps_best_params_and_decays_lr():
    X, y = _small_batch(40, 5)
    data = {"X_train": X, "y_train": y, "X_val": X[:20], "y_val": y[:20]}
    model = ThreeLayerConvNet(weight_scale=0.1, dtype=np.float64, seed=0, **SMALL)
    solver = Solver(model, data, update_rule="sgd_momentum", optim_config={"learning_rate": 0.05},
                    lr_decay=0.5, batch_size=8, num_epochs=3, seed=0, verbose=False)
    solver.train()
    assert len(solver.val_acc_history) == 3 and len(solver.loss_history) == 15
    assert all(cfg["learning_rate"] == pytest.approx(0.05 * 0.5 ** 3)
               for cfg in solver.optim_configs.values())
    best = int(np.argmax(solver.val_acc_history))
    assert solver.best_val_acc == solver.val_acc_history[best]
    assert all(np.array_equal(model.params[k], solver.best_params[k]) for k in model.params)
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == pytest.approx(solver.best_val_acc)
    with pytest.raises(ValueError):
        Solver(model, data, update_rule="no_such_rule")
    with pytest.raises(ValueError):
        Solver(model, data, learning_rate=0.1)


@pytest.mark.slow
def test_cnn_mnist_accuracy_with_declared_settings(mnist):
    from grader.declaration import load
    run = load("convnet").settings["accuracy_run"]
    data = dict(mnist)
    if run.get("train_samples"):
        data["X_train"] = data["X_train"][:run["train_samples"]]
        data["y_train"] = data["y_train"][:run["train_samples"]]
    model = ThreeLayerConvNet(**run["model"])
    solver = Solver(model, data, verbose=False, **run["solver"])
    start, cpu = time.perf_counter(), time.process_time()
    solver.train()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    acc = solver.check_accuracy(mnist["X_test"], mnist["y_test"])
    print(f"ThreeLayerConvNet MNIST-subset test accuracy {acc:.3f}; training took {seconds:.1f} s "
          f"wall, {cpu:.1f} s CPU (val history {solver.val_acc_history})")
    assert acc >= 0.90
