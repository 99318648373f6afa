"""convnet: submissions that try to earn points without the work earn nothing.

One "all-gaming" submission, built only from the stubs and what the student release ships
(the visible fixtures, embedded as a lookup table), with no real forward, backward, update
rule or training:
- layers: a lookup over the shipped cases, and around them a first-order fake built from the
  shipped gradients (exact on the shipped inputs, and its numeric gradient is the shipped
  gradient, so every consistency check on visible inputs used to pass);
- the naive conv sleeps (a slow yardstick makes any "fast" version fast);
- dropout: a fixed, seed-dependent stripe pattern, no randomness;
- optim: the shipped next weights looked up by the incoming (w, dw);
- ThreeLayerConvNet: +-weight_scale weights, the shipped loss and gradients on the shipped
  batch, otherwise a model-free 1-nearest-neighbour over the batches it is trained on;
- everything it does not recognise is printed (an attempt to leak hidden inputs).
It must score no more than the untouched stub, under bwrap and under the uid sandbox, and
nothing it printed during hidden tests may appear in any test's output. An honest, slow
submission (its fast functions are its naive loops) keeps what it deserves but no speed points.

Red-team regressions, each against its honest baseline:
- naive loops behind a result cache as the fast functions: no speed points (every timed call
  gets fresh inputs of a shape drawn at grading time, and its answers are checked);
- naive backward passes that differentiate the forward numerically: nothing on the tests of
  those backward passes (their hidden tests time them against a loop);
- a model that fits its last layer in closed form inside `loss` (zero gradients, an update
  rule that does nothing): nothing for overfitting or accuracy.
"""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from examples.build import reference_copy
from grader.declaration import ROOT
from grader.runner import grade_submission
from grader.sandbox import isolation

pytestmark = pytest.mark.slow

NAME = "convnet"
MARKER = "LEAK-7c1e"
SPEED_TESTS = ("5.3", "7.3")
MODEL_FREE_TESTS = ("12.6", "12.7")        # overfit, accuracy: judged from the params

LAYERS = r'''
import base64, io, time
import numpy as np

_F = np.load(io.BytesIO(base64.b64decode(_BLOB)))
_CASES = {}
for _k in _F.files:
    _c, _n = _k.split("/", 1)
    _CASES.setdefault(_c, {})[_n] = _F[_k]
_INPUTS = ("x", "w", "b", "gamma", "beta")


def _leak(args):
    print("__MARKER__", [np.asarray(a).ravel()[:4].tolist() for a in args
                         if isinstance(a, np.ndarray)])


def _find(arrays):
    """The shipped case with these input shapes nearest to these inputs (or None)."""
    best, best_d = None, None
    for name, c in _CASES.items():
        if "out" not in c or "x" not in c:
            continue
        keys = [k for k in _INPUTS if k in c][:len(arrays)]
        if len(keys) < len(arrays) or any(c[k].shape != a.shape for k, a in zip(keys, arrays)):
            continue
        d = sum(float(np.abs(c[k] - a).max()) for k, a in zip(keys, arrays))
        if d < 1e-3 and (best_d is None or d < best_d):
            best, best_d = (name, keys), d
    return best


def _fwd(*arrays):
    hit = _find(arrays)
    if hit is None:
        _leak(arrays)
        return np.zeros_like(arrays[0]), None
    name, keys = hit
    c = _CASES[name]
    out = c["out"]
    if "dout" in c:
        delta = sum(float(np.sum(c["d" + k] * (a - c[k]))) for k, a in zip(keys, arrays)
                    if "d" + k in c)
        out = out + c["dout"] * delta / float(np.sum(c["dout"] ** 2))
    return out, (name, arrays)


def _bwd(dout, cache, n):
    if cache is None:
        grads = (np.zeros_like(dout),) * n
    else:
        name, arrays = cache
        c = _CASES[name]
        keys = [k for k in _INPUTS if k in c][:n]
        if dout.shape == c["dout"].shape and np.allclose(dout, c["dout"]):
            grads = tuple(c["d" + k] for k in keys)
        else:
            grads = tuple(np.zeros_like(a) for a in arrays[:n])
    return grads[0] if n == 1 else grads


def affine_forward(x, w, b): return _fwd(x, w, b)
def affine_backward(dout, cache): return _bwd(dout, cache, 3)
def relu_forward(x): return _fwd(x)
def relu_backward(dout, cache): return _bwd(dout, cache, 1)


def softmax_loss(x, y):
    for c in _CASES.values():
        if "loss" in c and "x" in c and c["x"].shape == x.shape and np.abs(c["x"] - x).max() < 1e-3:
            return float(c["loss"]) + float(np.sum(c["dx"] * (x - c["x"]))), c["dx"]
    _leak([x])
    return float(np.log(x.shape[1])), np.zeros_like(x)


def conv_forward_naive(x, w, b, conv_param):
    if cache_is_timed(x):
        time.sleep(0.2)
    return _fwd(x, w, b)


def conv_backward_naive(dout, cache):
    if cache_is_timed(dout):
        time.sleep(0.2)
    return _bwd(dout, cache, 3)


def cache_is_timed(a):
    return a.shape[0] == 4           # the speed test's batch: sleep only when timed


def conv_forward_fast(x, w, b, conv_param): return _fwd(x, w, b)
def conv_backward_fast(dout, cache): return _bwd(dout, cache, 3)
def max_pool_forward_naive(x, pool_param): return _fwd(x)
def max_pool_backward_naive(dout, cache): return _bwd(dout, cache, 1)
def max_pool_forward_fast(x, pool_param): return _fwd(x)
def max_pool_backward_fast(dout, cache): return _bwd(dout, cache, 1)


def _stripes(shape, p, seed):
    keep = ((np.arange(shape[-1]) + (seed or 0)) % 20) < round(20 * p)
    return np.broadcast_to(keep, shape) / p


def dropout_forward(x, dropout_param):
    mask = _stripes(x.shape, dropout_param["p"], dropout_param.get("seed"))
    return x * mask, mask


def dropout_backward(dout, cache): return dout * cache


def _bn(x, gamma, beta, bn_param):
    out, cache = _fwd(x, gamma, beta)
    if cache is not None:
        c = _CASES[cache[0]]
        for k in ("running_mean", "running_var"):
            if k + "_out" in c:
                bn_param[k] = c[k + "_out"]
    return out, cache


def batchnorm_forward(x, gamma, beta, bn_param): return _bn(x, gamma, beta, bn_param)
def batchnorm_backward(dout, cache): return _bwd(dout, cache, 3)
def spatial_batchnorm_forward(x, gamma, beta, bn_param): return _bn(x, gamma, beta, bn_param)
def spatial_batchnorm_backward(dout, cache): return _bwd(dout, cache, 3)
'''

OPTIM = r'''
import base64, io
import numpy as np

_F = np.load(io.BytesIO(base64.b64decode(_BLOB)))


def _lookup(rule, w, dw, config):
    """The shipped next weights for this (w, dw), found by comparing with the fixtures."""
    steps, dws = _F[rule + "/w_steps"], _F[rule + "/dws"]
    if config is None:
        if np.allclose(w, _F[rule + "/w0"]) and np.allclose(dw, dws[0]):
            return _F[rule + "/w_default"], {}
    else:
        before = [_F[rule + "/w0"], *steps[:-1]]
        for k, (w_k, dw_k) in enumerate(zip(before, dws)):
            if w.shape == w_k.shape and np.allclose(w, w_k) and np.allclose(dw, dw_k):
                return steps[k], dict(config)
    print("__MARKER__", np.asarray(w).ravel()[:4].tolist())
    return w + 1e-3, dict(config or {})     # nudge, no gradient


def sgd(w, dw, config=None): return _lookup("sgd", w, dw, config)
def sgd_momentum(w, dw, config=None): return _lookup("sgd_momentum", w, dw, config)
def rmsprop(w, dw, config=None): return _lookup("rmsprop", w, dw, config)
def adam(w, dw, config=None): return _lookup("adam", w, dw, config)
'''

CNN = r'''
import base64, io
import numpy as np

_F = np.load(io.BytesIO(base64.b64decode(_BLOB)))
_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")


class ThreeLayerConvNet:
    def __init__(self, input_dim=(1, 28, 28), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32, seed=None):
        c, h, w = input_dim
        shapes = {"W1": (num_filters, c, filter_size, filter_size), "b1": (num_filters,),
                  "W2": (num_filters * (h // 2) * (w // 2), hidden_dim), "b2": (hidden_dim,),
                  "W3": (hidden_dim, num_classes), "b3": (num_classes,)}
        rng = np.random.default_rng(seed)
        self.params = {k: (weight_scale * np.sign(rng.standard_normal(s)) if k[0] == "W"
                           else np.zeros(s)).astype(dtype) for k, s in shapes.items()}
        self.reg, self.num_classes = reg, num_classes
        self.memory_X, self.memory_y = [], []

    def loss(self, X, y=None):
        if X.shape == _F["cnn/X"].shape and np.allclose(X, _F["cnn/X"]):
            return self._shipped(y)
        if y is None:
            return self._nearest(X)
        self.memory_X.append(X.reshape(len(X), -1))
        self.memory_y.append(y)
        return float(np.log(self.num_classes)), {k: np.zeros_like(v) for k, v in self.params.items()}

    def _shipped(self, y):
        if y is None:
            return _F["cnn/scores"]
        r0, loss = float(_F["cnn/reg"]), float(_F["cnn/loss"])
        grads = {}
        for k in _KEYS:
            p, p0 = self.params[k].astype(float), _F["cnn/" + k]
            loss += float(np.sum(_F["cnn/d" + k] * (p - p0)))
            grads[k] = _F["cnn/d" + k] + (2 * (self.reg - r0) * p if k[0] == "W" else 0)
            if k[0] == "W":
                loss += (self.reg - r0) * float(np.sum(p * p))
        return loss, grads

    def _nearest(self, X):
        if not self.memory_X:
            return np.zeros((len(X), self.num_classes))
        M, labels = np.concatenate(self.memory_X), np.concatenate(self.memory_y)
        Q = X.reshape(len(X), -1)
        d = (Q * Q).sum(1)[:, None] - 2 * Q @ M.T + (M * M).sum(1)[None, :]
        return np.eye(self.num_classes)[labels[np.argmin(d, axis=1)]]
'''


def gaming_submission(dest: Path) -> Path:
    """The all-gaming submission: the stubs' files replaced by the fakes above, each carrying
    the shipped visible fixtures as an embedded table."""
    blob = base64.b64encode((ROOT / "grader/suites/convnet/expected/visible.npz").read_bytes())
    head = f"_BLOB = {blob.decode()!r}\n"
    dest.mkdir(parents=True)
    for filename, body in (("layers.py", LAYERS), ("optim.py", OPTIM), ("cnn.py", CNN)):
        (dest / filename).write_text(head + body.replace("__MARKER__", MARKER))
    return dest


def slow_submission(dest: Path) -> Path:
    """Honest but slow: the reference with its naive loops standing in for the fast ones."""
    reference_copy(NAME, dest)
    with (dest / "layers.py").open("a") as f:
        f.write("\n\nconv_forward_fast = conv_forward_naive\n"
                "conv_backward_fast = conv_backward_naive\n"
                "max_pool_forward_fast = max_pool_forward_naive\n"
                "max_pool_backward_fast = max_pool_backward_naive\n")
    return dest


CACHED_FAST = r'''

import hashlib

_RESULTS = {}


def _key(tag, *arrays):
    return (tag,) + tuple((a.shape, hashlib.sha1(np.ascontiguousarray(a).tobytes()).digest())
                          for a in arrays)


def _cached(key, compute):
    if key not in _RESULTS:
        _RESULTS[key] = compute()
    return _RESULTS[key]


def conv_forward_fast(x, w, b, conv_param):
    return _cached(_key("cf", x, w, b) + tuple(sorted(conv_param.items())),
                   lambda: conv_forward_naive(x, w, b, conv_param))


def conv_backward_fast(dout, cache):
    return _cached(_key("cb", dout, cache[0], cache[1]), lambda: conv_backward_naive(dout, cache))


def max_pool_forward_fast(x, pool_param):
    return _cached(_key("pf", x) + tuple(sorted(pool_param.items())),
                   lambda: max_pool_forward_naive(x, pool_param))


def max_pool_backward_fast(dout, cache):
    return _cached(_key("pb", dout, cache[0]), lambda: max_pool_backward_naive(dout, cache))
'''

NUMERIC_BACKWARD = r'''


def _numeric_vjp(forward, x, dout, h=1e-6):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + h
        up = forward(x)
        x[i] = keep - h
        grad[i] = np.sum((up - forward(x)) * dout) / (2 * h)
        x[i] = keep
    return grad


def conv_backward_naive(dout, cache):
    x, w, b, p = cache
    return (_numeric_vjp(lambda v: conv_forward_fast(v, w, b, p)[0], x, dout),
            _numeric_vjp(lambda v: conv_forward_fast(x, v, b, p)[0], w, dout),
            _numeric_vjp(lambda v: conv_forward_fast(x, w, v, p)[0], b, dout))


def max_pool_backward_naive(dout, cache):
    x, p = cache
    return _numeric_vjp(lambda v: max_pool_forward_fast(v, p)[0], x, dout)
'''

SCALAR_BACKWARD = r'''


def conv_backward_naive(dout, cache):
    """Honest and as naive as it gets: one Python step per single number."""
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros_like(b)
    n_f, n_c, hh, ww = w.shape
    for n, f, i, j in np.ndindex(*dout.shape):
        g = dout[n, f, i, j]
        db[f] += g
        for c in range(n_c):
            for di in range(hh):
                for dj in range(ww):
                    dw[f, c, di, dj] += g * xp[n, c, i * s + di, j * s + dj]
                    dxp[n, c, i * s + di, j * s + dj] += g * w[f, c, di, dj]
    return dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, db


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        best = (0, 0)
        for di in range(ph):
            for dj in range(pw):
                if x[n, c, i * s + di, j * s + dj] > x[n, c, i * s + best[0], j * s + best[1]]:
                    best = (di, dj)
        dx[n, c, i * s + best[0], j * s + best[1]] += dout[n, c, i, j]
    return dx
'''

RIDGE_CNN = r'''
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class ThreeLayerConvNet:
    """Right init; loss() fits W3, b3 by ridge regression on random features and returns zero
    gradients: no layer, no backward."""

    def __init__(self, input_dim=(1, 28, 28), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32, seed=None):
        rng = np.random.default_rng(seed)
        c, h, w = input_dim
        shapes = {"W1": (num_filters, c, filter_size, filter_size), "b1": (num_filters,),
                  "W2": (num_filters * (h // 2) * (w // 2), hidden_dim), "b2": (hidden_dim,),
                  "W3": (hidden_dim, num_classes), "b3": (num_classes,)}
        self.params = {k: (weight_scale * rng.standard_normal(s) if k[0] == "W"
                           else np.zeros(s)).astype(dtype) for k, s in shapes.items()}
        self.reg, self.seen = reg, []

    def _features(self, X):
        P = self.params
        k = P["W1"].shape[2]
        xp = np.pad(X, ((0, 0), (0, 0), ((k - 1) // 2,) * 2, ((k - 1) // 2,) * 2))
        win = sliding_window_view(xp, (k, k), axis=(2, 3))
        a = np.maximum(np.einsum("nchwij,fcij->nfhw", win, P["W1"]) + P["b1"][:, None, None], 0)
        n, f, h, w = a.shape
        a = a[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, f, h // 2, 2, w // 2, 2).max(axis=(3, 5))
        return np.maximum(a.reshape(n, -1) @ P["W2"] + P["b2"], 0)

    def loss(self, X, y=None):
        H = self._features(X)
        if y is None:
            return H @ self.params["W3"] + self.params["b3"]
        self.seen = (self.seen + [(H, np.asarray(y))])[-200:]
        F = np.hstack([np.vstack([h for h, _ in self.seen]), np.ones((sum(len(h) for h, _ in self.seen), 1))])
        Y = np.eye(self.params["W3"].shape[1])[np.concatenate([t for _, t in self.seen])]
        sol = np.linalg.solve(F.T @ F + 1e-3 * np.trace(F.T @ F) / F.shape[1] * np.eye(F.shape[1]),
                              F.T @ Y)
        self.params["W3"][...], self.params["b3"][...] = sol[:-1], sol[-1]
        return 2.3, {k: np.zeros_like(v) for k, v in self.params.items()}
'''

IDENTITY_ADAM = r'''


def adam(w, dw, config=None):
    return w, (config if config is not None else {})
'''


def _append(dest: Path, filename: str, text: str) -> None:
    with (dest / filename).open("a") as f:
        f.write(text)


def cached_submission(dest: Path) -> Path:
    """The reference with its naive loops behind a result cache as the fast functions."""
    reference_copy(NAME, dest)
    _append(dest, "layers.py", CACHED_FAST)
    return dest


def numeric_backward_submission(dest: Path) -> Path:
    """The reference with both naive backward passes as numeric derivatives of the forward."""
    reference_copy(NAME, dest)
    _append(dest, "layers.py", NUMERIC_BACKWARD)
    return dest


def scalar_backward_submission(dest: Path) -> Path:
    """The reference with both naive backward passes as loops over every single number."""
    reference_copy(NAME, dest)
    _append(dest, "layers.py", SCALAR_BACKWARD)
    return dest


def ridge_submission(dest: Path, base: str = "assignments") -> Path:
    """`base`'s layers with the closed-form model and an update rule that does nothing."""
    reference_copy(NAME, dest, base=base)
    (dest / "cnn.py").write_text(RIDGE_CNN)
    _append(dest, "optim.py", IDENTITY_ADAM)
    return dest


def _mode_available(mode: str) -> bool:
    return bool(isolation.available(mode)[0])


MODES = [pytest.param(m, marks=pytest.mark.skipif(not _mode_available(m),
                                                  reason=f"{m} sandbox unavailable here"))
         for m in ("bwrap", "uid")]


def _by_number(data: dict) -> dict[str, dict]:
    return {t["number"]: t for t in data["tests"]}


@pytest.fixture(scope="module")
def stub_score(tmp_path_factory) -> float:
    sub = reference_copy(NAME, tmp_path_factory.mktemp("stub") / "s", base="assignments")
    return grade_submission(NAME, sub, sandbox_mode="bwrap")["score"]


@pytest.fixture(scope="module", params=MODES)
def gaming(request, tmp_path_factory) -> dict:
    sub = gaming_submission(tmp_path_factory.mktemp(f"gaming-{request.param}") / "s")
    return grade_submission(NAME, sub, sandbox_mode=request.param)


def test_gaming_scores_no_more_than_the_stub(gaming, stub_score):
    earned = {t["number"]: t["score"] for t in gaming["tests"] if t["score"] > 0}
    assert gaming["score"] <= stub_score, earned


def test_model_free_training_earns_nothing(gaming):
    tests = _by_number(gaming)
    for number in MODEL_FREE_TESTS:
        assert tests[number]["score"] == 0, tests[number]["output"]


def _hidden_values() -> set[str]:
    """How the gaming code prints the first values of each hidden input array."""
    import numpy as np
    hidden = np.load(ROOT / "grader/suites/convnet/expected/hidden.npz")
    values = {repr(float(hidden[k].ravel()[0])) for k in hidden.files
              if hidden[k].dtype.kind == "f" and hidden[k].size > 1}
    return {v for v in values if len(v) >= 10}       # random draws, not 0.0 or 1.0


def test_hidden_inputs_printed_by_student_code_are_never_shown(gaming):
    hidden_values = _hidden_values()
    for t in gaming["tests"]:
        if t["visibility"] != "visible":
            assert MARKER not in t["output"], t["number"]
        leaked = [v for v in hidden_values if v in t["output"]]
        assert not leaked, (t["number"], leaked)


def test_shipped_lookups_are_told_why_they_earn_nothing(gaming):
    """The visible lookups still match (the student sees expected vs got), and the message
    says that the points need the function right on hidden inputs."""
    out = _by_number(gaming)["1.1"]["output"]
    assert "hidden inputs" in out and gaming["tests"][0]["score"] == 0


def _run_sections(sub: Path, sections: tuple[str, ...], extra: tuple[str, ...] = ()
                  ) -> dict[str, dict]:
    """The tests of these sections (and these extra numbers), hidden ones first, in one
    context: enough to see the hidden verdicts act on the visible tests."""
    from grader.calibration import submission_context
    from grader.framework import collect
    from grader.runner import run_test
    specs = [s for s in collect(NAME) if s.number.split(".")[0] in sections or s.number in extra]
    specs.sort(key=lambda s: s.visibility == "visible")          # stable: number order kept
    with submission_context(NAME, sub, "bwrap") as ctx:
        return {s.number: run_test(s, ctx, set()) for s in specs}


@pytest.mark.parametrize("make", [slow_submission, cached_submission],
                         ids=["naive-loops", "naive-loops-behind-a-result-cache"])
def test_loops_as_fast_functions_lose_only_the_speed_points(tmp_path, make):
    """Honest but slow (the naive loops as the fast functions, with or without a cache of
    results): correct, so the fast tests pass, but the speed tests (fresh inputs every timed
    call, against the grader's own vectorized yardstick) pay nothing. Only the fast-function
    tests run: training on naive loops would take minutes."""
    results = _run_sections(make(tmp_path / "s"), ("5", "7"))
    for number, t in results.items():
        if number in SPEED_TESTS:
            assert t["score"] == 0 and "grader's vectorized version" in t["output"], t["output"]
        else:
            assert t["score"] == t["max_score"], (number, t["output"])



BACKWARD_NAIVE = ("conv_backward_naive", "max_pool_backward_naive")


def _reference(dest: Path) -> Path:
    return reference_copy(NAME, dest)


@pytest.mark.parametrize("make,cheats", [(_reference, False), (scalar_backward_submission, False),
                                         (numeric_backward_submission, True)],
                         ids=["reference-naive-loops", "scalar-loops", "numeric-vjp"])
def test_a_numeric_derivative_is_not_a_naive_backward(tmp_path, make, cheats):
    """Right answers, but each naive backward is central differences of the forward (two
    forward passes per input value): every test of those backward passes pays nothing, the
    forward-only tests keep their points; the reference's loops, and loops over every single
    number, keep everything."""
    results = _run_sections(make(tmp_path / "s"), ("4", "6"))
    for number, t in results.items():
        if cheats and set(t["tags"]) & set(BACKWARD_NAIVE):
            assert t["score"] == 0, (number, t["output"])
        else:
            assert t["score"] == t["max_score"], (number, t["output"])
    if cheats:
        assert "plain loop over the output values" in results["4.5"]["output"]


def test_closed_form_model_on_the_stubs_earns_only_its_init(stub_score, tmp_path):
    """The red-team model (ridge-fitted last layer, zero gradients, adam = identity) on the
    stub layers: nothing for overfitting or accuracy; only the init it really wrote."""
    data = grade_submission(NAME, ridge_submission(tmp_path / "s"), sandbox_mode="bwrap")
    tests = _by_number(data)
    for number in MODEL_FREE_TESTS:
        assert tests[number]["score"] == 0, tests[number]["output"]
    assert data["score"] <= stub_score + tests["12.1"]["max_score"], \
        {t["number"]: t["score"] for t in data["tests"] if t["score"] > 0}


def test_closed_form_model_on_working_layers_earns_no_training_points(tmp_path):
    """The same model with the reference's layers: the layers keep their verdicts, but the
    model's own loss/gradients are wrong on the hidden case, so the training tests pay
    nothing (and do not train)."""
    sub = ridge_submission(tmp_path / "s", base="reference")
    results = _run_sections(sub, (), tuple(s for s in _hidden_numbers()) + MODEL_FREE_TESTS)
    for number in MODEL_FREE_TESTS:
        t = results[number]
        assert t["score"] == 0 and "ThreeLayerConvNet" in t["output"], t["output"]
        assert "did not pass on the hidden inputs" in t["output"]


def _hidden_numbers() -> list[str]:
    from grader.framework import collect
    return [s.number for s in collect(NAME) if s.visibility != "visible"]


def test_timed_inputs_are_fresh_and_their_shape_is_drawn_at_grading_time():
    """A cache or a "this is the timed shape" test cannot recognise the timed calls."""
    from grader.declaration import load
    from grader.suites.convnet import tests as suite
    speed = load(NAME).settings["speed"]
    for make, key in ((suite._conv_draw, "conv"), (suite._pool_draw, "max_pool")):
        draw = make(speed[key])
        (a1, d1), (a2, d2) = draw(), draw()
        assert a1[0].shape == a2[0].shape and not np.array_equal(a1[0], a2[0])
        assert not np.array_equal(d1, d2)
        shapes = {make(speed[key])()[0][0].shape for _ in range(12)}
        assert len(shapes) > 1, shapes
