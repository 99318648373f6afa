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
