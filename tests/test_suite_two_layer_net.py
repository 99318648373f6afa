"""The two_layer_net suite, bug by bug: each realistic bug (a small edit of a copy of the
reference) loses points on a test tagged with the bugged function. The checks every suite
shares (reference 100, stubs 0, fresh fixtures, calibration) are in tests/test_suites.py."""
from __future__ import annotations

import pytest

from suite_support import assert_bug_loses_points

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
