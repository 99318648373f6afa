"""The two_layer_net suite, bug by bug: each realistic bug (a small edit of a copy of the
reference) loses points on a test tagged with the bugged function; and correct code written
differently (as the docstrings teach, einsum, float32 training) keeps full marks. The checks every suite
shares (reference 100, stubs 0, fresh fixtures, calibration) are in tests/test_suites.py."""
from __future__ import annotations

import pytest

from suite_support import assert_bug_loses_points, assert_full_marks

NAME = "two_layer_net"
FILE = "two_layer_net.py"

# (id, bugged function tag, old text, new text[, file]): small edits of a copy of the
# reference (in FILE unless a file is named)
BUGS = [
    ("reg-grad-half", "TwoLayerNet.loss",
     '"W2": hidden.T @ dscores + 2 * reg * W2', '"W2": hidden.T @ dscores + reg * W2'),
    ("no-max-shift", "TwoLayerNet.loss",
     "shifted = scores - np.max(scores, axis=1, keepdims=True)", "shifted = scores"),
    ("db-averaged-not-summed", "TwoLayerNet.loss",
     '"b2": np.sum(dscores, axis=0)', '"b2": np.mean(dscores, axis=0)'),
    ("relu-mask-on-gradient", "TwoLayerNet.loss",
     "dhidden[hidden_in <= 0] = 0.0", "dhidden[dhidden <= 0] = 0.0"),
    ("no-division-by-N", "TwoLayerNet.loss", "        dscores /= num_train\n", ""),
    ("lr-decay-never-applied", "TwoLayerNet.train",
     "                learning_rate *= learning_rate_decay\n", ""),
    ("predict-wrong-axis", "TwoLayerNet.predict",
     "return np.argmax(self.loss(X), axis=1)", "return np.argmax(self.loss(X), axis=0)"),
    ("report-wrong-batch-size", "REPORT.md", "Batch size: 32", "Batch size: 64", "REPORT.md"),
    ("report-inflated-accuracy", "REPORT.md", "Test accuracy: 0.94", "Test accuracy: 0.99",
     "REPORT.md"),
    ("report-section-missing", "REPORT.md", "## Loss function", "## Notes", "REPORT.md"),
]


@pytest.mark.parametrize("bug", BUGS, ids=[b[0] for b in BUGS])
def test_bug_loses_points_on_a_test_tagged_with_the_bugged_function(tmp_path, bug):
    _, func, old, new, *where = bug
    assert_bug_loses_points(NAME, tmp_path, where[0] if where else FILE, func, old, new)


# (id, edits): correct solutions that differ from the reference; each must score 100
CORRECT = [
    ("as-the-docstrings-teach", [
        (FILE, "        log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))\n"
               "        rows = np.arange(num_train)\n"
               "        loss = -np.mean(log_probs[rows, y])",
         "        exp_scores = np.exp(shifted)\n"
         "        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)\n"
         "        rows = np.arange(num_train)\n"
         "        loss = -np.mean(np.log(probs[rows, y]))"),
        (FILE, "        dscores = np.exp(log_probs)\n", "        dscores = probs.copy()\n")]),
    ("einsum", [
        (FILE, "hidden_in = X @ W1 + b1", "hidden_in = np.einsum('nd,dh->nh', X, W1) + b1"),
        (FILE, "scores = hidden @ W2 + b2", "scores = np.einsum('nh,hc->nc', hidden, W2) + b2")]),
    ("float32-training", [
        (FILE, "self.params[name] -= learning_rate * grad",
         "self.params[name] = (self.params[name] - learning_rate * grad).astype(np.float32)")]),
]


@pytest.mark.parametrize("edits", [c[1] for c in CORRECT], ids=[c[0] for c in CORRECT])
def test_correct_but_different_scores_full_marks(tmp_path, edits):
    assert_full_marks(NAME, tmp_path, edits)


# -- the checks the cost test relies on ------------------------------------------------------
def _net_problem(seed: int):
    import numpy as np
    from grader.suites.two_layer_net import trusted
    from grader.suites.two_layer_net.expected_values import inputs
    rng = np.random.default_rng(seed)
    params, X, y = inputs(rng, 200, 8, 300, 4, 0.3)
    return rng, params, lambda p: trusted.loss(p, X, y, 0.1), X, y


def _backprop(params, X, y, reg=0.1, mask=True):
    """Gradients of the two-layer loss, written here independently of the reference."""
    import numpy as np
    pre = X @ params["W1"] + params["b1"]
    h = np.maximum(pre, 0)
    s = h @ params["W2"] + params["b2"]
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    p /= len(y)
    dh = (p @ params["W2"].T) * ((pre > 0) if mask else 1.0)
    return {"W1": X.T @ dh + 2 * reg * params["W1"], "b1": dh.sum(axis=0),
            "W2": h.T @ p + 2 * reg * params["W2"], "b2": p.sum(axis=0)}


@pytest.mark.parametrize("seed", range(20))
def test_gradient_along_accepts_the_exact_gradient_of_a_relu_net(seed):
    """Kinks of the ReLU never make a right gradient fail (20 fresh problems)."""
    from grader.checks import sanity
    import numpy as np
    rng, params, loss_of, X, y = _net_problem(seed)
    g = _backprop(params, X, y)
    sanity.gradient_along(g, params, loss_of, rng, "grads")
    sanity.gradient_along({k: v.astype(np.float32) for k, v in g.items()}, params, loss_of,
                          rng, "grads (float32)")


@pytest.mark.parametrize("wrong", ["zeros", "half-reg", "no-relu-mask", "noise-1e-3"])
def test_gradient_along_rejects_a_wrong_gradient(wrong):
    import numpy as np
    from grader.checks import sanity
    from grader.framework import CheckFailed
    rng, params, loss_of, X, y = _net_problem(1)
    g = _backprop(params, X, y)
    if wrong == "zeros":
        g = {k: np.zeros_like(v) for k, v in g.items()}
    elif wrong == "half-reg":
        g["W2"] = g["W2"] - 0.1 * params["W2"]
    elif wrong == "no-relu-mask":
        g = _backprop(params, X, y, mask=False)
    else:
        g["W1"] = g["W1"] * (1 + 1e-3 * rng.standard_normal(g["W1"].shape))
    with pytest.raises(CheckFailed, match="not the gradient of the loss"):
        sanity.gradient_along(g, params, loss_of, rng, "grads")


def test_fresh_timing_defeats_a_result_cache():
    """Every timed call gets a new input and its answer is checked: a cache keyed on the
    input never hits, and a wrong answer fails the check."""
    import itertools
    from grader.checks import speed
    from grader.framework import CheckFailed
    counter, seen = itertools.count(), set()

    def student(x):
        seen.add(x)
        return x * 2

    def check(x, out, expected):
        if out != expected:
            raise CheckFailed("wrong")
    timing = speed.fresh_against_yardstick(lambda: next(counter), student, lambda x: x * 2,
                                           check, repeats=5)
    assert len(seen) == 6 and timing.result == 10
    with pytest.raises(CheckFailed):
        speed.fresh_against_yardstick(lambda: next(counter), lambda x: 0, lambda x: x * 2,
                                      check, repeats=2)


@pytest.mark.parametrize("misses, checked, right", [
    ({"W1": 0, "b1": 1, "W2": 0, "b2": 0}, 3, ["W1", "b1", "W2", "b2"]),   # one unlucky input
    ({"W1": 0, "b1": 2, "W2": 3, "b2": 0}, 3, ["W1", "b2"]),               # wrong on most
    ({"W1": 0, "b1": 0, "W2": 0, "b2": 0}, 0, []),                         # nothing checked
    ({"W1": 1, "b1": 0, "W2": 0, "b2": 0}, 2, ["b1", "W2", "b2"]),         # a tie is not most
])
def test_cost_check_judges_each_gradient_by_most_inputs(misses, checked, right):
    """A right gradient may miss the directional check on one fresh input in ~1,500 (a ReLU
    pre-activation within ~1e-8 of 0); a wrong one misses on every input."""
    from grader.suites.two_layer_net.tests import right_on_most
    assert right_on_most(misses, checked) == right
