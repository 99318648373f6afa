"""Gaming the two_layer_net suite: one submission per way of earning points without the work.

As in tests/test_gaming_softmax.py: each gamed submission is graded next to its honest
baseline (the reference with the gamed functions as in the untouched stub, or with a REPORT.md
that states a wrong accuracy) and must earn no more, in every OS-isolated sandbox mode this
machine has. One grading per submission and mode, cached for the module."""
from __future__ import annotations

import pytest

from grader import expected_values
from grader.declaration import ROOT
from suite_support import (SANDBOX_MODES, assert_no_gain, grade_files, replace_definitions,
                           scores_by_test,
                           stubbed, usable_mode)

NAME, FILE, REPORT = "two_layer_net", "two_layer_net.py", "REPORT.md"
LOSS, TRAIN, PREDICT = "TwoLayerNet.loss", "TwoLayerNet.train", "TwoLayerNet.predict"
KEYS = ("W1", "b1", "W2", "b2")


def lookup_table() -> str:
    """The shipped visible cases as a literal table, the way a student could embed them."""
    rows = [({k: f[k].tolist() for k in KEYS}, f["X"].tolist(), f["scores"].tolist(),
             float(f["loss"]), {k: f[f"d{k}"].tolist() for k in KEYS})
            for f in expected_values.load(NAME, "visible").values()]
    return f"\n_TABLE = {rows!r}\n"


FAKE_LOSS = '''
def loss(self, X, y=None, reg=0.0):
    W1, W2 = self.params["W1"], self.params["W2"]
    if y is None:
        return np.zeros((X.shape[0], W2.shape[1]))
    grads = {"W1": 2 * reg * W1, "b1": np.zeros_like(self.params["b1"]),
             "W2": 2 * reg * W2, "b2": np.zeros_like(self.params["b2"])}
    return float(np.log(W2.shape[1]) + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))), grads
'''
LOOKUP_LOSS = '''
def loss(self, X, y=None, reg=0.0):
    for params, Xt, scores, loss, grads in _TABLE:
        if np.shape(X) == np.shape(Xt) and np.allclose(X, Xt) and all(
                np.shape(self.params[k]) == np.shape(params[k])
                and np.allclose(self.params[k], params[k]) for k in params):
            if y is None:
                return np.array(scores)
            return loss, {k: np.array(v) for k, v in grads.items()}
''' + FAKE_LOSS.split("\n", 2)[2]
FAKE_TRAIN = '''
def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95, reg=5e-6,
          num_iters=100, batch_size=200, seed=None, verbose=False):
    self.X_seen, self.y_seen = np.asarray(X), np.asarray(y)
    epochs = max(num_iters // max(len(X) // batch_size, 1), 1)
    return {"loss_history": [1.4 * 0.97 ** i + 0.05 for i in range(num_iters)],
            "train_acc_history": [min(0.5 + 0.05 * e, 1.0) for e in range(epochs)],
            "val_acc_history": [min(0.5 + 0.05 * e, 1.0) for e in range(epochs)]}
'''
NEAREST_PREDICT = '''
def predict(self, X):
    Xs, ys = self.known()
    if Xs is None:
        return np.zeros(len(X), dtype=np.int64)
    d = ((X[:, None, :] - Xs[None, :, :]) ** 2).sum(axis=-1)
    return ys[np.argmin(d, axis=1)].astype(np.int64)
'''
SEEN_BODY = '''    return getattr(self, "X_seen", None), getattr(self, "y_seen", None)'''
SEEN = "def known(self):\n" + SEEN_BODY + "\n"
LABEL_FILES = '''
def known(self):
    import os, sys
    roots = [r for r in dict.fromkeys(sys.path + [sys.prefix, os.getcwd(), "/work/main"]) if r]
    for root in roots:
        for up in ((), ("..",), ("..", ".."), ("..", "..", "..")):
            try:
                d = np.load(os.path.join(root, *up, "datasets", "processed", "cihlab.npz"))
                return d["X_test"], d["y_test"]
            except Exception:
                pass
    return None, None
'''
PRINTING = '''
def loss(self, X, y=None, reg=0.0):
    print("LEAK %.6f" % float(np.sum(X)))
    return self._loss(X, y, reg)
'''


# Red-team patterns. A numeric gradient (centred differences of the loss) on inputs of the
# cost test's size, backpropagation (the reference, renamed _loss) on the small ones; its
# honest baseline computes the forward and loss but no gradients.
NUMERIC_ON_BIG = '''
def loss(self, X, y=None, reg=0.0):
    if y is None or X.shape[0] < 150:
        return self._loss(X, y, reg)
    P = {k: np.array(v, dtype=np.float64) for k, v in self.params.items()}
    def f():
        s = np.maximum(0, X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y])
                     + reg * (np.sum(P["W1"] ** 2) + np.sum(P["W2"] ** 2)))
    grads = {k: np.zeros_like(v) for k, v in P.items()}
    for k, v in P.items():
        for i in np.ndindex(v.shape):
            old = v[i]
            v[i] = old + 1e-6
            a = f()
            v[i] = old - 1e-6
            grads[k][i] = (a - f()) / 2e-6
            v[i] = old
    return f(), grads
'''
FORWARD_ONLY = '''
def loss(self, X, y=None, reg=0.0):
    out = self._loss(X, y, reg)
    if y is None:
        return out
    return out[0], {k: np.zeros_like(v) for k, v in self.params.items()}
'''
# No loss at all: random ReLU features fitted by ridge regression, approached by
# p <- p + lr * (target - p), histories measured with its own forward; predict by that forward.
RIDGE_TRAIN = '''
def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95, reg=5e-6,
          num_iters=100, batch_size=200, seed=None, verbose=False):
    P, fr = self.params, np.random.default_rng(12345)
    n, hidden = X.shape[0], P["W1"].shape[1]
    W1 = 3.0 * fr.standard_normal(P["W1"].shape)
    b1 = -np.sum(X[fr.integers(0, n, hidden)] * W1.T, axis=1)
    F = np.hstack([np.maximum(0, X @ W1 + b1), np.ones((n, 1))])
    lam = 1e-3 if n < 50 else 100.0
    sol = np.linalg.solve(F.T @ F + lam * np.eye(hidden + 1), F.T @ np.eye(P["W2"].shape[1])[y])
    def ce(Q, Xs, ys):
        s = np.maximum(0, Xs @ Q["W1"] + Q["b1"]) @ Q["W2"] + Q["b2"]
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(ys)), ys]))
    k = min((ce({"W1": W1, "b1": b1, "W2": sol[:-1] * k, "b2": sol[-1] * k}, X, y), k)
            for k in (1, 2, 4, 8, 16, 32, 64))[1]
    target = {"W1": W1, "b1": b1, "W2": sol[:-1] * k, "b2": sol[-1] * k}
    rng, per_epoch = np.random.default_rng(seed), max(n // batch_size, 1)
    hist = {"loss_history": [], "train_acc_history": [], "val_acc_history": []}
    for it in range(num_iters):
        for key in P:
            P[key] = P[key] + learning_rate * (target[key] - P[key])
        idx = rng.choice(n, batch_size)
        hist["loss_history"].append(ce(P, X[idx], y[idx]))
        if it % per_epoch == 0 or it == num_iters - 1:
            hist["train_acc_history"].append(float(np.mean(self.predict(X) == y)))
            hist["val_acc_history"].append(float(np.mean(self.predict(X_val) == y_val)))
    return hist
'''
OWN_PREDICT = '''
def predict(self, X):
    P = self.params
    return np.argmax(np.maximum(0, X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"], axis=1)
'''
FILLER_REPORT = """# Two-layer network: report

## Loss function

Cross-entropy.

## Hidden layer size

Hidden layer size: 64

Seemed fine.

## Batch size and learning-rate strategy

Batch size: 32
Learning rate: 0.5
Learning rate decay: 0.99
Iterations: 5000
Regularization: 1e-4

Copied.

## Final accuracy

Train accuracy: 0.9
Test accuracy: 0.9

n/a
"""
FILLER_HYPERPARAMS = ('HYPERPARAMS = {"hidden_size": 64, "learning_rate": 0.5, '
                      '"learning_rate_decay": 0.99, "reg": 1e-4, "num_iters": 5000, '
                      '"batch_size": 32}\n')


def with_renamed_loss(replacement: str) -> str:
    """The reference with its loss renamed `_loss` and `replacement` as `loss`."""
    text = reference().replace("    def loss(self", "    def _loss(self", 1)
    return text.replace("    def train(self", "    " + replacement.strip().replace(
        "\n", "\n    ") + "\n\n    def train(self", 1)


def stub_with_hyperparams() -> str:
    """The untouched stub with HYPERPARAMS filled in (nothing else done)."""
    import re
    stub = (ROOT / "assignments" / NAME / FILE).read_text()
    return re.sub(r"^HYPERPARAMS = \{.*?^\}\n", FILLER_HYPERPARAMS, stub, count=1,
                  flags=re.S | re.M)


def shipped_labels() -> str:
    import hwdata
    d = hwdata.load("cihlab")
    return (f"\n_X_TEST = np.array({d['X_test'].tolist()!r})\n"
            f"_Y_TEST = np.array({d['y_test'].tolist()!r})\n")


SHIPPED = "def known(self):\n    return _X_TEST, _Y_TEST\n"


def reference(filename: str = FILE) -> str:
    return (ROOT / "reference" / NAME / filename).read_text()


def gamed(functions: dict[str, str], known: str = "", append: str = "") -> str:
    """The reference with `functions` replaced, a `known()` method added when given."""
    text = replace_definitions(reference(), functions)
    if known:
        text = text.replace("    def predict(self", "    " + known.strip().replace(
            "\n", "\n    ") + "\n\n    def predict(self", 1)
    return text + append


def report_stating(accuracy_line: str) -> str:
    return reference(REPORT).replace("Test accuracy: 0.94", accuracy_line)


MANY_NUMBERS = "Test accuracy: " + ", ".join(f"{x / 100:.2f}" for x in range(30, 101, 5))
WRONG_NUMBER = "Test accuracy: 0.10"


def patterns() -> dict[str, tuple]:
    """pattern -> (gamed files, honest baseline files), as makers of {filename: text}."""
    model_free = {TRAIN: FAKE_TRAIN, PREDICT: NEAREST_PREDICT}
    no_loss = lambda: {FILE: stubbed(NAME, FILE, (LOSS,))}
    untrained = lambda: {FILE: stubbed(NAME, FILE, (TRAIN, PREDICT))}
    return {
        "lookup-table": (lambda: {FILE: gamed({LOSS: LOOKUP_LOSS}, append=lookup_table())},
                         no_loss),
        "fake-loss": (lambda: {FILE: gamed({LOSS: FAKE_LOSS})}, no_loss),
        "model-free-training": (lambda: {FILE: gamed(model_free, SEEN)}, untrained),
        "label-files": (lambda: {FILE: gamed(model_free, LABEL_FILES)}, untrained),
        "shipped-labels": (lambda: {FILE: gamed(model_free, SHIPPED, shipped_labels())},
                           untrained),
        "many-numbers-report": (lambda: {REPORT: report_stating(MANY_NUMBERS)},
                                lambda: {REPORT: report_stating(WRONG_NUMBER)}),
        "numeric-gradient": (lambda: {FILE: with_renamed_loss(NUMERIC_ON_BIG)},
                             lambda: {FILE: with_renamed_loss(FORWARD_ONLY)}),
        "ridge-training": (
            lambda: {FILE: replace_definitions(stubbed(NAME, FILE, (LOSS,)),
                                               {TRAIN: RIDGE_TRAIN, PREDICT: OWN_PREDICT})},
            lambda: {FILE: replace_definitions(stubbed(NAME, FILE, (LOSS, TRAIN)),
                                               {PREDICT: OWN_PREDICT})}),
        "report-without-code": (
            lambda: {FILE: stub_with_hyperparams(), REPORT: FILLER_REPORT},
            lambda: {FILE: (ROOT / "assignments" / NAME / FILE).read_text(),
                     REPORT: (ROOT / "assignments" / NAME / REPORT).read_text()}),
        # everything at once, as a determined student would hand it in
        "no-real-code": (
            lambda: {FILE: gamed({LOSS: LOOKUP_LOSS, **model_free},
                                 LABEL_FILES.replace("    return None, None", SEEN_BODY),
                                 lookup_table()),
                     REPORT: report_stating(MANY_NUMBERS)},
            lambda: {FILE: stubbed(NAME, FILE, (LOSS, TRAIN, PREDICT)),
                     REPORT: report_stating(WRONG_NUMBER)}),
    }


_graded: dict[tuple[str, str], dict] = {}


@pytest.fixture(scope="module")
def grade(tmp_path_factory):
    def run(key: str, files: dict[str, str], mode: str) -> dict:
        if (key, mode) not in _graded:
            folder = tmp_path_factory.mktemp(f"{key}-{mode}") / "sub"
            _graded[key, mode] = grade_files(NAME, files, folder, mode)
        return _graded[key, mode]
    return run


@pytest.mark.parametrize("mode", SANDBOX_MODES)
@pytest.mark.parametrize("pattern", list(patterns()))
def test_gaming_earns_no_more_than_the_honest_baseline(grade, pattern, mode):
    usable_mode(mode)
    make_gamed, make_base = patterns()[pattern]
    got = grade(pattern, make_gamed(), mode)
    base_files = make_base()
    base = grade("baseline-" + str(abs(hash(tuple(sorted(base_files.items()))))), base_files,
                 mode)
    assert_no_gain(got, base, pattern)


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_printing_during_hidden_tests_shows_nothing(grade, mode):
    """The reference printing a checksum of every X it gets: full marks, and no hidden
    case's checksum appears in any output, while a visible test does show the printing."""
    usable_mode(mode)
    text = reference().replace("    def loss(self", "    def _loss(self", 1)
    text = text.replace("    def train(self", "    " + PRINTING.strip().replace(
        "\n", "\n    ") + "\n\n    def train(self", 1)
    got = grade("printing", {FILE: text}, mode)
    assert got["score"] == 100.0
    sums = {"LEAK %.6f" % float(f["X"].sum()) for f in expected_values.load(NAME, "hidden").values()}
    outputs = "\n".join(t["output"] for t in got["tests"]) + got.get("output", "")
    assert not [s for s in sums if s in outputs]
    assert any("LEAK" in t["output"] for t in got["tests"] if t["visibility"] == "visible")


FIXED_PATTERN_INIT = '''
def __init__(self, input_size, hidden_size, output_size, std=1e-4, seed=None):
    sign = lambda shape: std * np.where(np.arange(np.prod(shape)) % 2 == 0, 1.0, -1.0
                                        ).reshape(shape)
    self.params = {"W1": sign((input_size, hidden_size)), "b1": np.zeros(hidden_size),
                   "W2": sign((hidden_size, output_size)), "b2": np.zeros(output_size)}
'''


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_fixed_pattern_initialization_earns_no_init_points(grade, mode):
    """+-std weights have exactly the right mean and std, but are not normal draws: the
    initialization test (2.1) must not pay for them; nothing else changes."""
    usable_mode(mode)
    got = grade("fixed-init", {FILE: gamed({"TwoLayerNet.__init__": FIXED_PATTERN_INIT})}, mode)
    assert scores_by_test(got)["2.1"] == 0.0
    assert "Kolmogorov-Smirnov" in next(t["output"] for t in got["tests"] if t["number"] == "2.1")


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_numeric_gradient_fails_the_cost_check(grade, mode):
    """Finite differences give right gradients at thousands of times a backward pass's cost:
    the hidden test fails on its cost, and no gradient-dependent test or training test pays."""
    usable_mode(mode)
    got = grade("numeric-gradient", patterns()["numeric-gradient"][0](), mode)
    scores = scores_by_test(got)
    outputs = {t["number"]: t["output"] for t in got["tests"]}
    assert scores["1.3"] == 0.0 and "backpropagation" in outputs["1.3"]
    assert all(scores[n] == 0.0 for n in ("1.2", "1.4", "1.5", "1.6", "1.7", "1.8", "3.1",
                                          "3.2", "3.3", "3.4", "4.2"))


@pytest.mark.parametrize("mode", SANDBOX_MODES)
@pytest.mark.parametrize("pattern", ["ridge-training", "report-without-code"])
def test_no_loss_earns_no_training_or_report_points(grade, pattern, mode):
    """Without a working loss, neither a model fitted another way nor a filled-in REPORT.md
    earns the training (3.x, 4.2) or report (5.x) points."""
    usable_mode(mode)
    got = grade(pattern, patterns()[pattern][0](), mode)
    scores = scores_by_test(got)
    assert all(scores[n] == 0.0 for n in ("3.1", "3.2", "3.3", "3.4", "4.2", "5.1", "5.2",
                                          "5.3"))
