"""Gaming the softmax suite: one submission per way of earning points without the work.

Each gamed file replaces some functions of the reference; it is graded next to its honest
baseline, the reference with the same functions as in the untouched stub (for the speed
pattern: an honest but loop-based vectorized loss). A pattern must earn no more than its
baseline, in every OS-isolated sandbox mode this machine has. One grading per file and mode,
cached for the module."""
from __future__ import annotations

import pytest

from grader import expected_values
from suite_support import (SANDBOX_MODES, assert_no_gain, grade_files, replace_definitions,
                           scores_by_test,
                           stubbed, usable_mode)

NAME, FILE = "softmax", "softmax.py"
NAIVE, VEC = "softmax_loss_naive", "softmax_loss_vectorized"
TRAINING = ("Softmax.train", "Softmax.predict")


def lookup_table() -> str:
    """The shipped visible cases as a literal table, the way a student could embed them."""
    rows = [(f["W"].tolist(), f["X"].tolist(), float(f["loss"]), f["dW"].tolist())
            for f in expected_values.load(NAME, "visible").values()]
    return f"\n_TABLE = {rows!r}\n"


LOOKUP = '''
def {name}(W, X, y, reg):
    for Wt, Xt, loss, dW in _TABLE:
        if np.shape(W) == np.shape(Wt) and np.shape(X) == np.shape(Xt) \\
                and np.allclose(W, Wt) and np.allclose(X, Xt):
            return loss, np.array(dW)
    return float(np.log(W.shape[1]) + reg * np.sum(W * W)), 2 * reg * W
'''
FAKE = '''
def {name}(W, X, y, reg):
    return float(np.log(W.shape[1]) + reg * np.sum(W * W)), 2 * reg * W
'''
ROW_LOOP = '''
def softmax_loss_vectorized(W, X, y, reg):
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(X.shape[0]):
        s = X[i] @ W
        p = np.exp(s - s.max())
        p /= p.sum()
        loss -= np.log(p[y[i]])
        p[y[i]] -= 1.0
        dW += np.outer(X[i], p)
    return loss / X.shape[0] + reg * np.sum(W * W), dW / X.shape[0] + 2 * reg * W
'''
FAKE_TRAIN = '''
def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=None,
          verbose=False):
    self.X_seen, self.y_seen = np.asarray(X), np.asarray(y)
    self.W = np.zeros((X.shape[1], int(np.max(y)) + 1))
    return [2.3 * 0.9 ** i + 0.05 for i in range(num_iters)]
'''
NEAREST_PREDICT = '''
def predict(self, X):
    Xs, ys = self.known()
    if Xs is None:
        return np.zeros(len(X), dtype=np.int64)
    d = ((X[:, None, :Xs.shape[1]] - Xs[None, :, :]) ** 2).sum(axis=-1)
    return ys[np.argmin(d, axis=1)].astype(np.int64)
'''
SEEN = '''
def known(self):
    return getattr(self, "X_seen", None), getattr(self, "y_seen", None)
'''
# sleeps only on the speed test's big input (so the other tests stay quick)
SLEEPY_BIG_NAIVE = '''
def softmax_loss_naive(W, X, y, reg):
    if X.shape[0] >= 1000:
        import time
        time.sleep(0.3)
    return softmax_loss_vectorized(W, X, y, reg)
'''
# Red-team patterns of the speed test: a slow loop behind a result cache keyed on a cheap
# fingerprint of the input; a loop that answers garbage on the speed test's (large) input;
# a numeric dW (centred differences of a vectorized loss) on large inputs.
CACHED_LOOP = '''
def softmax_loss_vectorized(W, X, y, reg):
    key = (X.shape, W.tobytes(), X.ravel()[::997].tobytes(), y[::97].tobytes(), float(reg))
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _row_loop(W, X, y, reg)
    loss, dW = _CACHE[key]
    return loss, dW.copy()
'''
BIG_INPUT_SHORTCUT = '''
def softmax_loss_vectorized(W, X, y, reg):
    if X.shape[0] >= 1000:
        return 1.0, np.zeros_like(W)
    return _row_loop(W, X, y, reg)
'''
NUMERIC_ON_BIG = '''
def softmax_loss_vectorized(W, X, y, reg):
    if X.shape[0] < 1000:
        return _row_loop(W, X, y, reg)
    def f(Wp):
        s = X @ Wp
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y])
                     + reg * np.sum(Wp * Wp))
    dW, Wp = np.zeros_like(W), np.array(W, dtype=np.float64)
    for i in np.ndindex(W.shape):
        old = Wp[i]
        Wp[i] = old + 1e-5
        a = f(Wp)
        Wp[i] = old - 1e-5
        dW[i] = (a - f(Wp)) / 2e-5
        Wp[i] = old
    return f(W), dW
'''
ROW_LOOP_HELPER = "\n_CACHE = {}\n" + ROW_LOOP.replace("def softmax_loss_vectorized(",
                                                        "def _row_loop(")
# Closed-form training with stubbed losses: ridge regression onto one-hot targets, scaled to
# the best cross-entropy, and a made-up history falling to the real final loss.
CLOSED_FORM_TRAIN = '''
def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=None,
          verbose=False):
    num_classes = int(np.max(y)) + 1
    W0 = np.linalg.solve(X.T @ X + np.eye(X.shape[1]), X.T @ np.eye(num_classes)[y])
    def ce(W):
        s = X @ W
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y]))
    final, k = min((ce(W0 * k), k) for k in (1, 2, 4, 8, 16, 24))
    self.W = W0 * k
    return list(np.linspace(np.log(num_classes), final, num_iters))
'''
SEEN_BODY = '''    return getattr(self, "X_seen", None), getattr(self, "y_seen", None)'''
# Labels read from files the sandbox might expose: scikit-learn's copy of the digits (in a
# venv's site-packages) and the kit's own processed data.
LABEL_FILES = '''
def known(self):
    import glob, gzip, os, sys
    roots = [r for r in dict.fromkeys(sys.path + [sys.prefix, os.getcwd()]) if r]
    npz = [os.path.join(r, *up, "datasets", "processed", "digits.npz") for r in roots + ["/work/main"]
           for up in ((), ("..",), ("..", ".."), ("..", "..", ".."))]
    for path in npz:
        try:
            d = np.load(path)
            return np.hstack([d["X_test"], np.ones((len(d["X_test"]), 1))]), d["y_test"]
        except Exception:
            pass
    for root in roots:
        for path in glob.glob(os.path.join(root, "sklearn", "datasets", "data", "digits.csv.gz")):
            try:
                raw = np.loadtxt(gzip.open(path), delimiter=",")
                return raw[:, :64] / 16.0, raw[:, 64].astype(np.int64)
            except Exception:
                pass
    return None, None
'''


def shipped_labels() -> str:
    """The test split with its labels, embedded (as if a release had shipped them)."""
    import hwdata
    d = hwdata.load("digits")
    return f"\n_X_TEST = np.array({d['X_test'].tolist()!r})\n_Y_TEST = np.array({d['y_test'].tolist()!r})\n"


SHIPPED = '''
def known(self):
    return _X_TEST, _Y_TEST
'''
PRINTING = '''
def {name}(W, X, y, reg):
    print("LEAK", np.shape(X), float(np.sum(X)))
    return _{name}(W, X, y, reg)
'''


def printing_file() -> str:
    from grader.declaration import ROOT
    text = (ROOT / "reference" / NAME / FILE).read_text()
    for name in (NAIVE, VEC):
        text = text.replace(f"def {name}(", f"def _{name}(")
    return text + "".join(PRINTING.format(name=n) for n in (NAIVE, VEC))


def gamed(functions: dict[str, str], base: tuple[str, ...] = (), append: str = "") -> str:
    """The reference with `functions` replaced (and `base` ones stubbed out)."""
    from grader.declaration import ROOT
    text = stubbed(NAME, FILE, base) if base else (ROOT / "reference" / NAME / FILE).read_text()
    return replace_definitions(text, functions) + append


def with_known(functions: dict[str, str], known: str, append: str = "") -> str:
    """Model-free training plus a `known()` source of labelled rows for predict."""
    text = gamed(functions)
    return text.replace("    def predict(self", "    " + known.strip().replace("\n", "\n    ")
                        + "\n\n    def predict(self", 1) + append


# pattern -> (gamed file, honest baseline file)
def patterns() -> dict[str, tuple]:
    model_free = {"Softmax.train": FAKE_TRAIN, "Softmax.predict": NEAREST_PREDICT}
    return {
        "lookup-table": (lambda: gamed({n: LOOKUP.format(name=n) for n in (NAIVE, VEC)},
                                       append=lookup_table()),
                         lambda: stubbed(NAME, FILE, (NAIVE, VEC))),
        "fake-loss": (lambda: gamed({n: FAKE.format(name=n) for n in (NAIVE, VEC)}),
                      lambda: stubbed(NAME, FILE, (NAIVE, VEC))),
        "sleeping-naive": (lambda: gamed({NAIVE: SLEEPY_BIG_NAIVE, VEC: ROW_LOOP}),
                           lambda: gamed({VEC: ROW_LOOP})),
        "model-free-training": (lambda: with_known(model_free, SEEN),
                                lambda: stubbed(NAME, FILE, TRAINING)),
        "label-files": (lambda: with_known(model_free, LABEL_FILES),
                        lambda: stubbed(NAME, FILE, TRAINING)),
        "shipped-labels": (lambda: with_known(model_free, SHIPPED, shipped_labels()),
                           lambda: stubbed(NAME, FILE, TRAINING)),
        "result-cache": (lambda: gamed({VEC: CACHED_LOOP}, append=ROW_LOOP_HELPER),
                         lambda: gamed({VEC: ROW_LOOP})),
        "big-input-shortcut": (lambda: gamed({VEC: BIG_INPUT_SHORTCUT}, append=ROW_LOOP_HELPER),
                               lambda: gamed({VEC: ROW_LOOP})),
        "numeric-gradient": (lambda: gamed({VEC: NUMERIC_ON_BIG}, append=ROW_LOOP_HELPER),
                             lambda: gamed({VEC: ROW_LOOP})),
        "closed-form-training": (lambda: gamed({"Softmax.train": CLOSED_FORM_TRAIN},
                                               base=(NAIVE, VEC)),
                                 lambda: stubbed(NAME, FILE, (NAIVE, VEC, "Softmax.train"))),
        # everything at once, as a determined student would hand it in
        "no-real-code": (lambda: with_known({**model_free, NAIVE: SLEEPY_BIG_NAIVE,
                                             VEC: LOOKUP.format(name=VEC)},
                                            LABEL_FILES.replace("    return None, None", SEEN_BODY),
                                            lookup_table()),
                         lambda: (__import__("grader.declaration").declaration.ROOT
                                  / "assignments" / NAME / FILE).read_text()),
    }


_graded: dict[tuple[str, str], dict] = {}


@pytest.fixture(scope="module")
def grade(tmp_path_factory):
    def run(key: str, text: str, mode: str) -> dict:
        if (key, mode) not in _graded:
            folder = tmp_path_factory.mktemp(f"{key}-{mode}") / "sub"
            _graded[key, mode] = grade_files(NAME, {FILE: text}, folder, mode)
        return _graded[key, mode]
    return run


@pytest.mark.parametrize("mode", SANDBOX_MODES)
@pytest.mark.parametrize("pattern", list(patterns()))
def test_gaming_earns_no_more_than_the_honest_baseline(grade, pattern, mode):
    usable_mode(mode)
    make_gamed, make_base = patterns()[pattern]
    got = grade(pattern, make_gamed(), mode)
    base_text = make_base()
    base = grade(f"baseline-{abs(hash(base_text))}", base_text, mode)
    assert_no_gain(got, base, pattern)


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_sleeping_naive_makes_no_loop_fast(grade, mode):
    usable_mode(mode)
    got = grade("sleeping-naive", patterns()["sleeping-naive"][0](), mode)
    assert scores_by_test(got)["2.8"] == 0.0


@pytest.mark.parametrize("mode", SANDBOX_MODES)
@pytest.mark.parametrize("pattern", ["result-cache", "big-input-shortcut", "numeric-gradient"])
def test_speed_test_sees_through_caches_and_shortcuts(grade, pattern, mode):
    """Fresh inputs for every timed call, every answer checked: the speed test fails, and
    says why (too slow, or a wrong answer on its input)."""
    usable_mode(mode)
    got = grade(pattern, patterns()[pattern][0](), mode)
    speed_test = next(t for t in got["tests"] if t["number"] == "2.8")
    assert speed_test["score"] == 0.0
    assert "at most" in speed_test["output"] or "speed test's input" in speed_test["output"]


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_closed_form_training_earns_no_training_points(grade, mode):
    """Weights fitted without the loss functions learn, but 3.1, 3.3 and 3.4 pay only for a
    vectorized loss that is right on hidden inputs."""
    usable_mode(mode)
    got = grade("closed-form-training", patterns()["closed-form-training"][0](), mode)
    scores = scores_by_test(got)
    assert [scores[n] for n in ("3.1", "3.3", "3.4")] == [0.0, 0.0, 0.0]
    outputs = {t["number"]: t["output"] for t in got["tests"]}
    assert "training counts only" in outputs["3.4"]


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_printing_during_hidden_tests_shows_nothing(grade, mode):
    """The reference printing its inputs: full marks, and no hidden input's shape (1.2 / 2.2
    cases) appears in any test's output, while a visible test does show the printing."""
    usable_mode(mode)
    got = grade("printing", printing_file(), mode)
    assert got["score"] == 100.0
    hidden_shapes = {str(f["X"].shape) for f in expected_values.load(NAME, "hidden").values()}
    outputs = "\n".join(t["output"] for t in got["tests"]) + got.get("output", "")
    assert not [s for s in hidden_shapes if f"LEAK {s}" in outputs]
    visible = [t for t in got["tests"] if t["visibility"] == "visible"]
    assert any("LEAK" in t["output"] for t in visible)


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_gated_tests_still_teach(grade, mode):
    """The lookup table passes the visible cases, so their feedback says so, and says why
    the points are withheld; the fake loss's gradient check says it is consistent with its
    own (wrong) loss."""
    usable_mode(mode)
    outputs = {t["number"]: t["output"] for t in grade(
        "lookup-table", patterns()["lookup-table"][0](), mode)["tests"]}
    assert "passed on these inputs" in outputs["2.1"]
    assert "wrong on the hidden inputs" in outputs["2.1"]
    fake = {t["number"]: t["output"] for t in grade(
        "fake-loss", patterns()["fake-loss"][0](), mode)["tests"]}
    assert "consistent with the numeric gradient of your own loss" in fake["2.3"]


# The slowest honest style the speed test must pass: whole-array products as np.einsum
# without optimize (6.5-12x the yardstick; the limit is 20x).
EINSUM = '''
def softmax_loss_vectorized(W, X, y, reg):
    s = np.einsum("nd,dc->nc", X, W)
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(X.shape[0])
    loss = -np.mean(np.log(p[rows, y])) + reg * np.einsum("dc,dc->", W, W)
    p[rows, y] -= 1.0
    return float(loss), np.einsum("nd,nc->dc", X, p) / X.shape[0] + 2 * reg * W
'''


@pytest.mark.parametrize("mode", SANDBOX_MODES)
def test_speed_test_fails_a_row_loop_and_passes_einsum(grade, mode):
    """With 4 timed calls per round (Speed.repeats): a loop over the rows, right in every
    value, still gets nothing for speed; einsum, the slowest whole-array style, keeps it."""
    usable_mode(mode)
    loop = scores_by_test(grade(f"baseline-{abs(hash(gamed({VEC: ROW_LOOP})))}",
                                gamed({VEC: ROW_LOOP}), mode))
    assert loop["2.8"] == 0.0 and loop["2.1"] > 0          # right values, too slow
    einsum = grade("einsum-vectorized", gamed({VEC: EINSUM}), mode)
    assert einsum["score"] == 100.0, [(t["number"], t["output"]) for t in einsum["tests"]
                                      if t["score"] < t["max_score"]]
