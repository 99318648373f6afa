"""The reference two-layer network (reference/two_layer_net/): gradients of every parameter,
sanity losses, training mechanics, overfitting, the trained accuracy on the cihlab split, and
the filled-in REPORT.md agreeing with HYPERPARAMS and the declared sections."""
from __future__ import annotations

import importlib.util
import inspect
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grader import declaration

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "reference" / "two_layer_net"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tln = _load(FOLDER / "two_layer_net.py", "reference_two_layer_net")
gc = _load(ROOT / "reference" / "common" / "gradient_check.py", "reference_gradient_check")


def _cihlab():
    data_utils = _load(ROOT / "reference" / "common" / "data_utils.py", "reference_data_utils")
    return data_utils.get_cihlab_data()


def _problem(n: int = 10, d: int = 8, h: int = 10, c: int = 4, std: float = 0.3,
             seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = rng.integers(c, size=n)
    net = tln.TwoLayerNet(d, h, c, std=std, seed=seed)
    for name in ("b1", "b2"):                            # nonzero biases exercise db too
        net.params[name] = 0.1 * rng.standard_normal(net.params[name].shape)
    return net, X, y


@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_every_parameter_gradient_matches_numeric(reg):
    net, X, y = _problem()
    _, grads = net.loss(X, y, reg=reg)
    assert set(grads) == set(net.params) == {"W1", "b1", "W2", "b2"}
    for name, param in net.params.items():
        num = gc.eval_numerical_gradient(lambda _: net.loss(X, y, reg=reg)[0], param)
        assert grads[name].shape == param.shape
        assert gc.rel_error(grads[name], num) < 1e-7, name


def test_scores_are_affine_relu_affine():
    net, X, y = _problem(seed=1)
    p = net.params
    expected = np.maximum(X @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
    scores = net.loss(X)
    assert scores.shape == (10, 4)
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-15)
    probs = np.exp(expected) / np.exp(expected).sum(axis=1, keepdims=True)
    loss, _ = net.loss(X, y)
    assert loss == pytest.approx(-np.mean(np.log(probs[np.arange(10), y])), rel=1e-12)


def test_loss_at_chance_is_ln_4():
    rng = np.random.default_rng(2)
    X, y = rng.random((400, 8)), rng.integers(4, size=400)
    net = tln.TwoLayerNet(8, 64, 4, seed=0)                 # default std=1e-4
    loss, _ = net.loss(X, y, reg=0.0)
    assert abs(loss - math.log(4)) < 1e-3


def test_regularization_adds_reg_times_weight_squares_not_biases():
    net, X, y = _problem(seed=3)
    loss0, g0 = net.loss(X, y, reg=0.0)
    loss1, g1 = net.loss(X, y, reg=0.2)
    p = net.params
    assert loss1 > loss0
    assert loss1 - loss0 == pytest.approx(
        0.2 * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2)), rel=1e-10)
    for name in ("W1", "W2"):
        np.testing.assert_allclose(g1[name] - g0[name], 0.4 * p[name], rtol=1e-9, atol=1e-14)
    for name in ("b1", "b2"):
        np.testing.assert_array_equal(g1[name], g0[name])


def test_stable_with_huge_scores():
    net, X, y = _problem(std=100.0, seed=4)
    loss, grads = net.loss(X, y)
    assert np.isfinite(loss) and loss > 10
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_init_is_seeded_with_std_and_zero_biases():
    a = tln.TwoLayerNet(8, 500, 4, std=0.01, seed=5)
    b = tln.TwoLayerNet(8, 500, 4, std=0.01, seed=5)
    c = tln.TwoLayerNet(8, 500, 4, std=0.01, seed=6)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    assert a.params["W1"].shape == (8, 500) and a.params["W2"].shape == (500, 4)
    assert np.std(a.params["W1"]) == pytest.approx(0.01, rel=0.1)
    np.testing.assert_array_equal(a.params["b1"], np.zeros(500))
    np.testing.assert_array_equal(a.params["b2"], np.zeros(4))


def test_train_histories_determinism_and_decay_once_per_epoch():
    rng = np.random.default_rng(7)
    X, y = rng.random((64, 8)), rng.integers(4, size=64)
    Xv, yv = rng.random((16, 8)), rng.integers(4, size=16)

    def run(num_iters, decay, seed=0):
        net = tln.TwoLayerNet(8, 16, 4, std=0.1, seed=1)
        hist = net.train(X, y, Xv, yv, learning_rate=0.1, learning_rate_decay=decay,
                         reg=1e-3, num_iters=num_iters, batch_size=16, seed=seed)
        return net, hist

    net_a, hist_a = run(12, 0.9)
    net_b, hist_b = run(12, 0.9)
    assert hist_a == hist_b                                     # same seed, same run
    np.testing.assert_array_equal(net_a.params["W1"], net_b.params["W1"])
    assert len(hist_a["loss_history"]) == 12
    assert len(hist_a["train_acc_history"]) == len(hist_a["val_acc_history"]) == 3  # 4/epoch
    assert all(0.0 <= a <= 1.0 for a in hist_a["train_acc_history"] + hist_a["val_acc_history"])
    assert hist_a["train_acc_history"][-1] == np.mean(net_a.predict(X) == y)
    assert hist_a["val_acc_history"][-1] == np.mean(net_a.predict(Xv) == yv)
    _, hist_c = run(12, 0.9, seed=1)
    assert hist_c["loss_history"] != hist_a["loss_history"]      # the seed drives the batches

    # With decay 0 the learning rate is 0 after the first epoch (4 iterations): training
    # longer must not change the parameters any more.
    net_1, _ = run(4, 0.0)
    net_3, _ = run(12, 0.0)
    net_0, _ = run(3, 0.0)
    for name in net_1.params:
        np.testing.assert_array_equal(net_1.params[name], net_3.params[name])
    assert not np.array_equal(net_0.params["W1"], net_1.params["W1"])   # iteration 4 counted


def test_overfits_20_examples():
    data = _cihlab()
    X, y = data["X_train"][:20], data["y_train"][:20]
    net = tln.TwoLayerNet(8, 64, 4, seed=0)
    hist = net.train(X, y, X, y, learning_rate=1.0, learning_rate_decay=1.0, reg=0.0,
                     num_iters=3000, batch_size=20, seed=0)
    assert np.mean(net.predict(X) == y) == 1.0
    assert hist["loss_history"][-1] < 0.1
    pred = net.predict(X)
    assert pred.shape == (20,) and np.issubdtype(pred.dtype, np.integer)


def test_hyperparams_keys_are_train_keywords_plus_hidden_size():
    params = inspect.signature(tln.TwoLayerNet.train).parameters
    keywords = set(params) - {"self", "X", "y", "X_val", "y_val", "seed", "verbose"}
    assert set(tln.HYPERPARAMS) == keywords | {"hidden_size"}


def _report_values(text: str) -> dict[str, str]:
    return {m.group(1).strip(): m.group(2).strip()
            for m in re.finditer(r"^([A-Za-z][A-Za-z -]*):[ \t]*(\S.*)$", text, re.M)}


def test_report_sections_and_values_match_hyperparams():
    text = (FOLDER / "REPORT.md").read_text()
    sections = declaration.load("two_layer_net").settings["report_sections"]
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == list(sections)
    values = _report_values(text)
    hp = tln.HYPERPARAMS
    assert int(values["Hidden layer size"]) == hp["hidden_size"]
    assert int(values["Batch size"]) == hp["batch_size"]
    assert float(values["Learning rate"]) == hp["learning_rate"]
    assert float(values["Learning rate decay"]) == hp["learning_rate_decay"]
    assert int(values["Iterations"]) == hp["num_iters"]
    assert float(values["Regularization"]) == hp["reg"]
    assert 0.9 <= float(values["Test accuracy"]) <= 1.0


@pytest.mark.slow
def test_trained_reference_accuracy_on_cihlab():
    """Train on X_train (350 of the first 400 rows), validate on X_val (the other 50), test on
    the last 100 rows, with HYPERPARAMS and seed 0; the REPORT.md numbers come from this run."""
    data = _cihlab()
    assert data["X_test"].shape == (100, 8) and data["X_train"].shape[0] + \
        data["X_val"].shape[0] == 400
    hp = dict(tln.HYPERPARAMS)
    start = time.perf_counter()
    net = tln.TwoLayerNet(8, hp.pop("hidden_size"), 4, seed=0)
    hist = net.train(data["X_train"], data["y_train"], data["X_val"], data["y_val"], seed=0,
                     **hp)
    seconds = time.perf_counter() - start
    train_acc = float(np.mean(net.predict(data["X_train"]) == data["y_train"]))
    test_acc = float(np.mean(net.predict(data["X_test"]) == data["y_test"]))
    print(f"two_layer_net cihlab: train {train_acc:.3f} val {hist['val_acc_history'][-1]:.3f}"
          f" test {test_acc:.3f} in {seconds:.2f} s")
    assert test_acc >= 0.90
    reported = _report_values((FOLDER / "REPORT.md").read_text())
    tolerance = declaration.load("two_layer_net").settings["report_accuracy_tolerance"]
    assert abs(float(reported["Test accuracy"]) - test_acc) <= tolerance
    assert abs(float(reported["Train accuracy"]) - train_acc) <= tolerance
    assert seconds < 120                 # generous: about 2 s on one core
