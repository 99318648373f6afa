"""The modules reference (reference/modules/): every backward against centred differences
(float64, relative error < 1e-7), forward values against definitions written out here,
accumulation and zero_grad, train/eval behaviour, initializers and optimizers against their
formulas, LeNet-5's structure, training and the log-space search; and the generated stubs
raising NotImplementedError. All cheap: tiny shapes, LeNet-5 on a few hundred digits."""
from __future__ import annotations

import importlib.util
import math
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from publish import stubs

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "reference" / "modules"
FILES = ("nn", "optim", "lenet")          # in import order: lenet imports nn and optim flat
GRAD_TOL = 1e-7


def _load_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _flat_names(modules: dict[str, ModuleType]):
    """`from nn import ...` inside lenet.py must find OUR nn/optim, not another assignment's
    `optim` that a test in the same process imported: bind the flat names only while
    lenet.py executes, then put back whatever was there."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_assignment(folder: Path, tag: str) -> SimpleNamespace:
    """nn.py, optim.py, lenet.py of `folder` as modules named `<tag>_<file>`."""
    loaded: dict[str, ModuleType] = {}
    for name in FILES:
        with _flat_names(loaded):
            loaded[name] = _load_file(folder / f"{name}.py", f"{tag}_{name}")
    return SimpleNamespace(**loaded)


REF = load_assignment(FOLDER, "reference_modules")
nn, optim, lenet = REF.nn, REF.optim, REF.lenet
gc = _load_file(ROOT / "reference" / "common" / "gradient_check.py", "reference_gradient_check")


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- backward passes: numeric gradients ------------------------------------------------------

def _check_module(module, x: np.ndarray, seed: int = 0) -> None:
    """dx and every parameter gradient of one backward call against centred differences."""
    out = module.forward(x)
    dout = _rng(seed + 100).standard_normal(out.shape)
    module.zero_grad()
    dx = module.backward(x, dout)
    assert dx.shape == x.shape
    err = gc.rel_error(dx, gc.eval_numerical_gradient_array(module.forward, x.copy(), dout))
    assert err < GRAD_TOL, f"{type(module).__name__} dx: relative error {err:.1e}"
    for i, (p, g) in enumerate(zip(module.parameters(), module.gradients())):
        num = gc.eval_numerical_gradient_array(lambda _: module.forward(x), p, dout)
        err = gc.rel_error(g, num)
        assert err < GRAD_TOL, f"{type(module).__name__} parameter {i}: relative error {err:.1e}"


MODULE_CASES = {
    "linear": (lambda r: nn.Linear(4, 3, r), (5, 4)),
    "relu": (lambda r: nn.ReLU(), (3, 2, 4)),
    "tanh": (lambda r: nn.Tanh(), (4, 5)),
    "sigmoid": (lambda r: nn.Sigmoid(), (4, 5)),
    "logsoftmax": (lambda r: nn.LogSoftMax(), (3, 6)),
    "flatten": (lambda r: nn.Flatten(), (2, 3, 2, 2)),
    "conv_strided_padded": (lambda r: nn.Conv2d(3, 4, (3, 2), stride=2, padding=1, rng=r),
                            (2, 3, 7, 6)),
    "conv_plain": (lambda r: nn.Conv2d(2, 3, 3, rng=r), (2, 2, 5, 5)),
    "depthwise": (lambda r: nn.DepthwiseConv2d(3, (3, 2), stride=2, padding=1, rng=r),
                  (2, 3, 7, 6)),
    "maxpool": (lambda r: nn.MaxPool2d(2), (2, 3, 5, 6)),
    "maxpool_overlapping": (lambda r: nn.MaxPool2d(3, stride=1), (2, 2, 5, 6)),
    "batchnorm_train": (lambda r: nn.BatchNorm1d(4), (6, 4)),
    "batchnorm_eval": (lambda r: _trained_batchnorm(r).eval(), (6, 4)),
    "sequential": (lambda r: nn.Sequential(nn.Linear(5, 4, r), nn.Tanh(), nn.Linear(4, 3, r),
                                           nn.LogSoftMax()), (3, 5)),
}


def _trained_batchnorm(rng: np.random.Generator):
    bn = nn.BatchNorm1d(4)
    bn.weight[...] = rng.standard_normal(4)
    bn.bias[...] = rng.standard_normal(4)
    bn.forward(rng.standard_normal((8, 4)) * 3 + 1)       # running statistics away from 0/1
    return bn


@pytest.mark.parametrize("case", sorted(MODULE_CASES))
def test_backward_matches_numeric_gradient(case):
    make, shape = MODULE_CASES[case]
    rng = _rng(1)
    module = make(rng)
    x = rng.standard_normal(shape)
    if isinstance(module, nn.BatchNorm1d):       # the weight away from 1 catches a dropped scale
        module.weight[...] = rng.standard_normal(module.weight.shape)
    _check_module(module, x)


@pytest.mark.parametrize("name, target", [("ClassNLLCriterion", "log_probs"),
                                          ("CrossEntropyCriterion", "scores")])
def test_criterion_backward_matches_numeric_gradient(name, target):
    rng = _rng(2)
    x = rng.standard_normal((5, 4))
    if target == "log_probs":
        x = nn.LogSoftMax().forward(x)
    y = rng.integers(0, 4, 5)
    crit = getattr(nn, name)()
    crit.forward(x, y)
    num = gc.eval_numerical_gradient(lambda v: crit.forward(v, y), x.copy(), verbose=False)
    assert gc.rel_error(crit.backward(x, y), num) < GRAD_TOL


# --- forward values --------------------------------------------------------------------------

def _conv_loops(x, w, b, stride, pad):
    """The definition: y[n, f, i, j] = b[f] + sum over the window of w * xpad."""
    n_img, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = 1 + (h + 2 * pad - kh) // stride, 1 + (wd + 2 * pad - kw) // stride
    y = np.zeros((n_img, f, ho, wo))
    for n in range(n_img):
        for k in range(f):
            for i in range(ho):
                for j in range(wo):
                    patch = xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    y[n, k, i, j] = b[k] + np.sum(patch * w[k])
    return y


def test_linear_uses_torch_layout():
    lin = nn.Linear(3, 2, _rng(0))
    lin.weight[...] = [[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]
    lin.bias[...] = [10.0, -10.0]
    np.testing.assert_allclose(lin.forward(np.array([[1.0, 1.0, 2.0]])), [[19.0, -10.0]])


@pytest.mark.parametrize("stride, pad, kernel", [(1, 0, 3), (2, 1, (3, 2)), (3, 2, 2)])
def test_conv_equals_its_definition(stride, pad, kernel):
    rng = _rng(3)
    conv = nn.Conv2d(2, 3, kernel, stride=stride, padding=pad, rng=rng)
    x = rng.standard_normal((2, 2, 7, 8))
    expected = _conv_loops(x, conv.weight, conv.bias, stride, pad)
    np.testing.assert_allclose(conv.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_im2col_layout_and_col2im_is_its_adjoint():
    rng = _rng(4)
    x = rng.standard_normal((2, 3, 5, 4))
    cols = nn.im2col(x, (2, 3), 2, 1)              # H_out = 3, W_out = 2
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    assert cols.shape == (3 * 2 * 3, 2 * 3 * 2)
    c, di, dj, n, i, j = 2, 1, 2, 1, 2, 1
    assert cols[(c * 2 + di) * 3 + dj, (n * 3 + i) * 2 + j] == xp[n, c, i * 2 + di, j * 2 + dj]
    g = rng.standard_normal(cols.shape)            # <im2col(x), g> == <x, col2im(g)>
    assert np.sum(cols * g) == pytest.approx(np.sum(x * nn.col2im(g, x.shape, (2, 3), 2, 1)))


def test_depthwise_equals_a_block_diagonal_conv():
    rng = _rng(5)
    dw = nn.DepthwiseConv2d(3, 3, stride=2, padding=1, rng=rng)
    conv = nn.Conv2d(3, 3, 3, stride=2, padding=1, rng=rng)
    conv.weight[...] = 0.0
    for c in range(3):
        conv.weight[c, c] = dw.weight[c, 0]
    conv.bias[...] = dw.bias
    x = rng.standard_normal((2, 3, 7, 6))
    np.testing.assert_allclose(dw.forward(x), conv.forward(x), rtol=1e-12, atol=1e-12)


def test_maxpool_values_and_first_max_on_ties():
    x = np.array([[[[1.0, 5.0, 2.0, 2.0],
                    [5.0, 0.0, 2.0, 2.0]]]])
    pool = nn.MaxPool2d(2)
    np.testing.assert_array_equal(pool.forward(x), [[[[5.0, 2.0]]]])
    dx = pool.backward(x, np.array([[[[1.0, 3.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 1.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_sigmoid_stable_at_extremes():
    with np.errstate(over="raise", invalid="raise"):
        y = nn.Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])


def test_log_softmax_and_criteria_values():
    scores = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]])
    log_p = nn.LogSoftMax().forward(scores)
    assert np.all(np.isfinite(log_p))
    np.testing.assert_allclose(log_p[1], [-math.log(3)] * 3)
    y = np.array([1, 2])
    expected = (1e4 + math.log(3)) / 2
    assert nn.ClassNLLCriterion().forward(log_p, y) == pytest.approx(expected)
    assert nn.CrossEntropyCriterion().forward(scores, y) == pytest.approx(expected)
    fused = nn.CrossEntropyCriterion().backward(scores, y)
    chained = nn.LogSoftMax().backward(scores, nn.ClassNLLCriterion().backward(log_p, y))
    np.testing.assert_allclose(fused, chained, atol=1e-15)


# --- accumulation, zero_grad, modes ----------------------------------------------------------

def test_parameter_gradients_accumulate_and_zero_grad_keeps_the_arrays():
    rng = _rng(6)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=rng), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 4 * 4, 5, rng), nn.BatchNorm1d(5))
    x = rng.standard_normal((4, 2, 4, 4))
    dout = rng.standard_normal((4, 5))
    grads = model.gradients()
    assert len(grads) == len(model.parameters()) == 6
    model.forward(x)
    model.backward(x, dout)
    once = [g.copy() for g in grads]
    model.forward(x)
    model.backward(x, dout)
    for g, g1 in zip(model.gradients(), once):
        np.testing.assert_allclose(g, 2 * g1, rtol=1e-12)
    model.zero_grad()
    assert all(g is h for g, h in zip(model.gradients(), grads))
    assert all(not g.any() for g in grads)


def test_train_eval_reach_every_module():
    model = nn.Sequential(nn.Linear(2, 2, _rng(0)), nn.Sequential(nn.Dropout(0.5)))
    assert model.eval() is model
    assert not model[1][0].training
    model.train()
    assert model[1][0].training and model[0].training


def test_dropout_mask_is_the_documented_draw_and_eval_is_identity():
    x = _rng(7).standard_normal((20, 30))
    drop = nn.Dropout(0.3, rng=_rng(8))
    keep = _rng(8).random(x.shape) >= 0.3
    np.testing.assert_allclose(drop.forward(x), x * keep / 0.7)
    g = np.ones_like(x)
    np.testing.assert_allclose(drop.backward(x, g), keep / 0.7)
    drop.eval()
    state = drop.rng.bit_generator.state
    assert drop.forward(x) is x or np.array_equal(drop.forward(x), x)
    np.testing.assert_array_equal(drop.backward(x, g), g)
    assert drop.rng.bit_generator.state == state            # no numbers drawn in eval mode


def test_batchnorm_running_statistics_and_eval_mode():
    rng = _rng(9)
    bn = nn.BatchNorm1d(3, momentum=0.2)
    x = rng.standard_normal((10, 3)) * 2 + 5
    y = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-4)
    np.testing.assert_allclose(bn.running_mean, 0.2 * x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, 0.8 + 0.2 * x.var(axis=0, ddof=1))
    bn.eval()
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    np.testing.assert_allclose(bn.forward(x), (x - mean) / np.sqrt(var + bn.eps))
    np.testing.assert_array_equal(bn.running_mean, mean)


# --- initializers and optimizers -------------------------------------------------------------

def test_fans_and_initializers_are_the_documented_draws():
    assert nn.fan_in_fan_out((120, 400)) == (400, 120)
    assert nn.fan_in_fan_out((16, 6, 5, 5)) == (150, 400)
    with pytest.raises(ValueError):
        nn.fan_in_fan_out((3, 4, 5))
    shape = (16, 6, 5, 5)
    cases = {
        "xavier_uniform": lambda r: r.uniform(-math.sqrt(6 / 550), math.sqrt(6 / 550), shape),
        "xavier_normal": lambda r: r.normal(0.0, math.sqrt(2 / 550), shape),
        "kaiming_uniform": lambda r: r.uniform(-math.sqrt(6 / 150), math.sqrt(6 / 150), shape),
        "kaiming_normal": lambda r: r.normal(0.0, math.sqrt(2 / 150), shape),
    }
    for name, draw in cases.items():
        np.testing.assert_allclose(getattr(nn, name)(shape, _rng(10)), draw(_rng(10)),
                                   rtol=1e-14, err_msg=name)
    np.testing.assert_allclose(nn.xavier_uniform(shape, _rng(10), gain=2.0),
                               2 * cases["xavier_uniform"](_rng(10)), rtol=1e-14)


def _one_parameter(rule, steps: int, **config):
    p, g = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    opt = getattr(optim, rule)([p], [g], **config)
    for _ in range(steps):
        opt.step()
    assert g.tolist() == [0.5, 0.5]                    # gradients are read, never changed
    return p


@pytest.mark.parametrize("rule, steps, config, expected", [
    # v = g + wd p; p -= lr v; then v = 0.9 v + g + wd p
    ("SGD", 2, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1},
     [1.0 - 0.1 * 0.6 - 0.1 * (0.9 * 0.6 + 0.5 + 0.1 * 0.94),
      -2.0 - 0.1 * 0.3 - 0.1 * (0.9 * 0.3 + 0.5 - 0.1 * 2.03)]),
    # first step: lr * g / |g| in every rule below but RMSprop (sqrt(0.01) |g|: 10x)
    ("AdaGrad", 1, {"lr": 0.1}, [0.9, -2.1]),
    ("RMSprop", 1, {"lr": 0.01, "alpha": 0.99}, [0.9, -2.1]),
    ("Adam", 1, {"lr": 0.1}, [0.9, -2.1]),
    # AdaGrad, second step: s = 2 g^2 -> lr / sqrt(2)
    ("AdaGrad", 2, {"lr": 0.1}, [0.9 - 0.1 / math.sqrt(2), -2.1 - 0.1 / math.sqrt(2)]),
])
def test_optimizer_steps_match_their_formulas(rule, steps, config, expected):
    np.testing.assert_allclose(_one_parameter(rule, steps, **config), expected, rtol=1e-6)


@pytest.mark.parametrize("rule, lr", [("SGD", 0.05), ("AdaGrad", 0.5), ("RMSprop", 0.05),
                                      ("Adam", 0.05)])
def test_optimizers_descend_a_bowl_in_place(rule, lr):
    w = np.array([1.0, -1.5, 2.0])
    grad = np.zeros_like(w)
    opt = getattr(optim, rule)([w], [grad], lr=lr)
    for _ in range(400):
        grad[...] = 2 * w
        opt.step()
    assert np.abs(w).max() < 0.1


# --- LeNet-5, training, search ---------------------------------------------------------------

def test_lenet5_structure():
    model = lenet.lenet5(_rng(11))
    kinds = [type(m).__name__ for m in model.modules]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                     "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,),
                      (84, 120), (84,), (10, 84), (10,)]
    assert sum(p.size for p in model.parameters()) == 61706
    assert not any(b.any() for b in model.parameters()[1::2])
    assert model.forward(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)


def test_hyperparams_are_train_keywords():
    assert set(lenet.HYPERPARAMS) == {"learning_rate", "weight_decay", "batch_size", "epochs"}


def _blobs(n: int, seed: int):
    rng = _rng(seed)
    y = rng.integers(0, 3, n)
    return rng.standard_normal((n, 2)) * 0.3 + np.eye(3, 2)[y] * 3, y


def test_train_batches_and_learns():
    X, y = _blobs(90, 12)
    model = nn.Linear(2, 3, _rng(13))
    losses = lenet.train(model, X, y, learning_rate=0.05, weight_decay=0.0, batch_size=20,
                         epochs=3, rng=_rng(14))
    assert len(losses) == 3 * 5                        # 20, 20, 20, 20, 10 per epoch
    assert losses[-1] < losses[0] / 2
    assert np.mean(lenet.predict(model, X, batch_size=7) == y) > 0.95


def test_lenet5_learns_digits_quickly():
    """A few hundred digits, one pass: well above chance (guards train + every LeNet module)."""
    hwdata = pytest.importorskip("hwdata")
    data = hwdata.load("mnist")
    model = lenet.lenet5(_rng(0))
    hp = {**lenet.HYPERPARAMS, "epochs": 2}
    lenet.train(model, data["X_train"][:400], data["y_train"][:400], rng=_rng(0), **hp)
    accuracy = np.mean(lenet.predict(model, data["X_val"][:200]) == data["y_val"][:200])
    assert accuracy > 0.5, accuracy                    # chance: 0.1; the reference: about 0.75


def test_random_search_samples_log_uniformly_and_keeps_the_best():
    X, y = _blobs(60, 15)
    result = lenet.random_search(lambda r: nn.Linear(2, 3, r), X, y, X, y, _rng(16),
                                 num_trials=4, lr_range=(1e-4, 1e-1), reg_range=(1e-5, 1e-2),
                                 epochs=1, batch_size=30)
    draws = _rng(16).uniform(size=8)                   # lr, reg, lr, reg, ...
    expected_lr = 10 ** (-4 + 3 * draws[0::2])
    expected_reg = 10 ** (-5 + 3 * draws[1::2])
    trials = result["trials"]
    np.testing.assert_allclose([t["learning_rate"] for t in trials], expected_lr, rtol=1e-12)
    np.testing.assert_allclose([t["weight_decay"] for t in trials], expected_reg, rtol=1e-12)
    best = max(trials, key=lambda t: t["val_accuracy"])
    assert {k: result[k] for k in best} == best


# --- the stubs ------------------------------------------------------------------------------

def test_stubs_raise_not_implemented(tmp_path):
    for name in FILES:
        source = (FOLDER / f"{name}.py").read_text()
        (tmp_path / f"{name}.py").write_text(stubs.render_stub(source, f"{name}.py"))
    stub = load_assignment(tmp_path, "stub_modules")
    assert set(stub.lenet.HYPERPARAMS.values()) == {None}
    x = np.ones((2, 1, 4, 4))
    calls = {
        "zero_grad": lambda: stub.nn.Linear(2, 2).zero_grad(),
        "Linear": lambda: stub.nn.Linear(2, 2).forward(np.ones((1, 2))),
        "Conv2d": lambda: stub.nn.Conv2d(1, 2, 3).forward(x),
        "im2col": lambda: stub.nn.im2col(x, (2, 2), 1, 0),
        "Dropout": lambda: stub.nn.Dropout(0.5).forward(x),
        "kaiming": lambda: stub.nn.kaiming_normal((2, 2), _rng(0)),
        "Adam": lambda: stub.optim.Adam([np.ones(2)], [np.ones(2)]).step(),
        "lenet5": lambda: stub.lenet.lenet5(_rng(0)),
    }
    for what, call in calls.items():
        try:
            call()
        except NotImplementedError as exc:
            assert "not implemented" in str(exc), what
        else:
            pytest.fail(f"the {what} stub did not raise NotImplementedError")
