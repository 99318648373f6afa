"""The softmax suite, bug by bug: each realistic bug (a small edit of a copy of the
reference) loses points on a test tagged with the bugged function. The checks every suite
shares (reference 100, stubs 0, fresh fixtures, calibration) are in tests/test_suites.py."""
from __future__ import annotations

import pytest

from suite_support import assert_bug_loses_points

NAME = "softmax"
FILE = "softmax.py"

# (id, bugged function tag, old text, new text[, file]): small edits of a copy of the
# reference (in FILE unless a file is named)
BUGS = [
    ("reg-grad-half", "softmax_loss_vectorized",
     "dW = X.T @ dscores / num_train + 2 * reg * W", "dW = X.T @ dscores / num_train + reg * W"),
    ("no-max-shift", "softmax_loss_naive",
     "        scores = scores - np.max(scores)\n", ""),
    ("loss-not-averaged", "softmax_loss_vectorized",
     "loss = -np.mean(log_probs[rows, y])", "loss = -np.sum(log_probs[rows, y])"),
    ("naive-dW-not-averaged", "softmax_loss_naive",
     "dW = dW / num_train + 2 * reg * W", "dW = dW + 2 * reg * W"),
    ("gradient-ascent", "Softmax.train",
     "self.W -= learning_rate * grad", "self.W += learning_rate * grad"),
    ("argmin", "Softmax.predict",
     "return np.argmax(X @ self.W, axis=1)", "return np.argmin(X @ self.W, axis=1)"),
    ("global-rng", "Softmax.train",
     "idx = rng.choice(num_train, batch_size, replace=True)",
     "idx = np.random.choice(num_train, batch_size, replace=True)"),
]


@pytest.mark.parametrize("bug", BUGS, ids=[b[0] for b in BUGS])
def test_bug_loses_points_on_a_test_tagged_with_the_bugged_function(tmp_path, bug):
    _, func, old, new, *where = bug
    assert_bug_loses_points(NAME, tmp_path, where[0] if where else FILE, func, old, new)
