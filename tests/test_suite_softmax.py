"""The softmax suite, bug by bug: each realistic bug (a small edit of a copy of the
reference) loses points on a test tagged with the bugged function; and correct code written
differently (as the docstrings teach, einsum, float32 training) keeps full marks. The checks every suite
shares (reference 100, stubs 0, fresh fixtures, calibration) are in tests/test_suites.py."""
from __future__ import annotations

import pytest

from suite_support import assert_bug_loses_points, assert_full_marks

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


# (id, edits): correct solutions that differ from the reference; each must score 100
VEC_LSE = ("    log_norm = np.log(np.sum(np.exp(scores), axis=1, keepdims=True))\n"
           "    log_probs = scores - log_norm\n    rows = np.arange(num_train)\n"
           "    loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)\n"
           "    dscores = np.exp(log_probs)\n")
VEC_TAUGHT = ("    exp_scores = np.exp(scores)\n"
              "    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)\n"
              "    rows = np.arange(num_train)\n"
              "    loss = -np.mean(np.log(probs[rows, y])) + reg * np.sum(W * W)\n"
              "    dscores = probs.copy()\n")
CORRECT = [
    ("as-the-docstrings-teach", [
        (FILE, VEC_LSE, VEC_TAUGHT),
        (FILE, "        loss += np.log(total) - scores[y[i]]\n",
         "        loss += -np.log(exp_scores[y[i]] / total)\n")]),
    ("einsum", [
        (FILE, "    scores = X @ W\n    scores = scores - np.max(scores, axis=1",
         "    scores = np.einsum('nd,dc->nc', X, W)\n    scores = scores - np.max(scores, axis=1"),
        (FILE, "dW = X.T @ dscores / num_train + 2 * reg * W",
         "dW = np.einsum('nd,nc->dc', X, dscores) / num_train + 2 * reg * W")]),
    ("float32-training", [
        (FILE, "self.W -= learning_rate * grad",
         "self.W = (self.W - learning_rate * grad).astype(np.float32)")]),
]


@pytest.mark.parametrize("edits", [c[1] for c in CORRECT], ids=[c[0] for c in CORRECT])
def test_correct_but_different_scores_full_marks(tmp_path, edits):
    assert_full_marks(NAME, tmp_path, edits)


def test_self_check_shows_gated_points_as_provisional(tmp_path):
    """Without the hidden tests (the student self-check) the gated visible tests keep their
    points, with a note that they are provisional."""
    from examples.build import reference_copy
    from grader.runner import grade_submission
    data = grade_submission(NAME, reference_copy(NAME, tmp_path / "sub"), visible_only=True,
                            sandbox_mode="auto")
    visible = {t["number"]: t for t in data["tests"]}
    assert all(t["score"] == t["max_score"] for t in visible.values())
    for number in ("1.1", "1.3", "2.1", "2.5", "2.8"):
        assert "provisional" in visible[number]["output"], number
