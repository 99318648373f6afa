"""The reference softmax classifier (reference/softmax/softmax.py): gradients, agreement of
naive and vectorized, sanity losses, training, and the trained accuracy on digits."""
from __future__ import annotations

import ast
import importlib.util
import inspect
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


SOFTMAX_PATH = ROOT / "reference" / "softmax" / "softmax.py"
sm = _load(SOFTMAX_PATH, "reference_softmax")
gc = _load(ROOT / "reference" / "common" / "gradient_check.py", "reference_gradient_check")


def _problem(n: int = 20, d: int = 12, c: int = 5, w_std: float = 0.1, seed: int = 0):
    """Digits-like data: features in [0, 1] plus the bias column."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.random((n, d - 1)), np.ones((n, 1))])
    y = rng.integers(c, size=n)
    W = w_std * rng.standard_normal((d, c))
    return W, X, y


@pytest.mark.parametrize("fn", ["softmax_loss_naive", "softmax_loss_vectorized"])
@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_analytic_gradient_matches_numeric(fn, reg):
    loss_fn = getattr(sm, fn)
    W, X, y = _problem()
    _, dW = loss_fn(W, X, y, reg)
    num = gc.eval_numerical_gradient(lambda w: loss_fn(w, X, y, reg)[0], W)
    assert dW.shape == W.shape
    assert gc.rel_error(dW, num) < 1e-7


def test_naive_equals_vectorized():
    W, X, y = _problem(n=50, d=65, c=10, w_std=1.0, seed=1)
    for reg in (0.0, 0.3):
        loss_n, dW_n = sm.softmax_loss_naive(W, X, y, reg)
        loss_v, dW_v = sm.softmax_loss_vectorized(W, X, y, reg)
        assert abs(loss_n - loss_v) < 1e-12 * max(1.0, abs(loss_n))
        assert np.max(np.abs(dW_n - dW_v)) < 1e-12


def test_loss_at_chance_is_ln_10():
    W, X, y = _problem(n=500, d=65, c=10, w_std=1e-4, seed=2)
    for fn in (sm.softmax_loss_naive, sm.softmax_loss_vectorized):
        loss, _ = fn(W, X, y, 0.0)
        assert abs(loss - math.log(10)) < 0.01


def test_regularization_adds_reg_times_sum_of_squares():
    W, X, y = _problem(seed=3)
    for fn in (sm.softmax_loss_naive, sm.softmax_loss_vectorized):
        loss0, dW0 = fn(W, X, y, 0.0)
        loss1, dW1 = fn(W, X, y, 0.5)
        assert loss1 > loss0
        assert loss1 - loss0 == pytest.approx(0.5 * np.sum(W * W), rel=1e-12)
        np.testing.assert_allclose(dW1 - dW0, 2 * 0.5 * W, rtol=1e-10, atol=1e-14)


def test_stable_with_huge_scores():
    W, X, y = _problem(n=30, d=65, c=10, w_std=1e3, seed=4)
    loss_n, dW_n = sm.softmax_loss_naive(W, X, y, 0.0)
    loss_v, dW_v = sm.softmax_loss_vectorized(W, X, y, 0.0)
    assert np.isfinite(loss_v) and np.all(np.isfinite(dW_v))
    assert loss_v > 100                  # confidently wrong on random labels, and finite
    assert loss_n == pytest.approx(loss_v, rel=1e-12)
    np.testing.assert_allclose(dW_n, dW_v, rtol=1e-9, atol=1e-12)


def test_vectorized_has_no_python_loops():
    tree = ast.parse(SOFTMAX_PATH.read_text())
    fn = next(n for n in ast.walk(tree)
              if isinstance(n, ast.FunctionDef) and n.name == "softmax_loss_vectorized")
    loops = [n for n in ast.walk(fn) if isinstance(
        n, (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp))]
    assert loops == []
    naive = next(n for n in ast.walk(tree)
                 if isinstance(n, ast.FunctionDef) and n.name == "softmax_loss_naive")
    assert any(isinstance(n, ast.For) for n in ast.walk(naive))      # the lesson: loops


def test_hyperparams_keys_are_train_keywords():
    params = inspect.signature(sm.Softmax.train).parameters
    keywords = set(params) - {"self", "X", "y", "seed", "verbose"}
    assert set(sm.HYPERPARAMS) == keywords


def test_train_is_seeded_and_learns():
    rng = np.random.default_rng(5)
    X = np.hstack([rng.random((300, 6)), np.ones((300, 1))])
    y = (X[:, 0] + X[:, 1] > 1.0).astype(int) + 2 * (X[:, 2] > 0.5)     # 4 classes
    runs = []
    for _ in range(2):
        model = sm.Softmax()
        history = model.train(X, y, learning_rate=1.0, reg=1e-4, num_iters=300,
                              batch_size=50, seed=7)
        runs.append((history, model.W.copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    history, _ = runs[0]
    assert len(history) == 300 and all(isinstance(v, float) for v in history)
    assert abs(history[0] - math.log(4)) < 0.05
    assert np.mean(history[-20:]) < 0.6 * history[0]
    pred = model.predict(X)
    assert pred.shape == (300,) and np.issubdtype(pred.dtype, np.integer)
    assert np.mean(pred == y) > 0.85
    other = sm.Softmax()
    other.train(X, y, learning_rate=1.0, reg=1e-4, num_iters=300, batch_size=50, seed=8)
    assert not np.array_equal(other.W, model.W)            # the seed really drives the run


@pytest.mark.slow
def test_trained_reference_accuracy_on_digits():
    data_utils = _load(ROOT / "reference" / "common" / "data_utils.py", "reference_data_utils")
    data = data_utils.get_digits_data()
    assert data["X_train"].shape[1] == 65
    np.testing.assert_array_equal(data["X_test"][:, -1], 1.0)
    start = time.perf_counter()
    model = sm.Softmax()
    model.train(data["X_train"], data["y_train"], seed=0, **sm.HYPERPARAMS)
    seconds = time.perf_counter() - start
    test_acc = float(np.mean(model.predict(data["X_test"]) == data["y_test"]))
    val_acc = float(np.mean(model.predict(data["X_val"]) == data["y_val"]))
    print(f"softmax digits: val {val_acc:.3f} test {test_acc:.3f} in {seconds:.2f} s")
    assert test_acc >= 0.93
    assert seconds < 120                 # generous: about 1 s on one core


# The given gradient-checking helpers (reference/common/gradient_check.py), used above.

def test_gradient_check_helpers():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4))
    original = x.copy()
    num = gc.eval_numerical_gradient(lambda v: np.sum(v ** 3), x)
    assert gc.rel_error(num, 3 * original ** 2) < 1e-8
    np.testing.assert_array_equal(x, original)                        # restored after probing
    df = rng.standard_normal((3, 4))
    num = gc.eval_numerical_gradient_array(lambda v: np.sin(v), x, df)
    assert gc.rel_error(num, np.cos(original) * df) < 1e-8
    np.testing.assert_array_equal(x, original)
    errors = gc.grad_check_sparse(lambda v: np.sum(v ** 3), x, 3 * x ** 2, num_checks=5,
                                  seed=0)
    assert len(errors) == 5 and max(errors) < 1e-8
    wrong = gc.grad_check_sparse(lambda v: np.sum(v ** 3), x, 2 * x ** 2, num_checks=5,
                                 seed=0)
    assert min(wrong) > 0.1
    assert gc.rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert gc.rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert gc.rel_error(np.zeros(2), np.zeros(2)) == 0.0
