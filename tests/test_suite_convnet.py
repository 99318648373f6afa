"""The convnet suite, bug by bug: realistic bugs lose points on tests tagged with the bugged
function. The checks every suite shares (reference 100, stubs 0, fresh fixtures,
calibration) are in tests/test_suites.py.

Everything here uses the `plain` sandbox. Bug runs execute only the tests
tagged with the bugged function (through the runner's own `run_test`), minus the bounded
training run, so each costs a few seconds instead of a full grading.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from examples.build import reference_copy
from grader.checks.accuracy import submission_context
from grader.declaration import load
from grader.framework import collect
from grader.runner import run_test

NAME = "convnet"
SLOW = {"test_cnn_accuracy"}      # the bounded training run: only in the full gradings

# (id, file, bugged function tag, old text, new text): small edits of a copy of the reference.
BUGS = [
    ("conv-backward-ignores-stride", "layers.py", "conv_backward_naive",
     "                    rows = slice(i * stride, i * stride + hh)\n"
     "                    cols = slice(j * stride, j * stride + ww)\n",
     "                    rows = slice(i, i + hh)\n"
     "                    cols = slice(j, j + ww)\n"),
    ("conv-fast-forward-ignores-stride", "layers.py", "conv_forward_fast",
     "strides=(s_c, s_h, s_w, s_n, s_h * stride, s_w * stride),",
     "strides=(s_c, s_h, s_w, s_n, s_h, s_w),"),
    ("adam-t-not-incremented", "optim.py", "adam",
     '    t = config["t"] + 1\n', '    t = config["t"]\n'),
    ("affine-db-not-summed", "layers.py", "affine_backward",
     "    db = dout.sum(axis=0)\n", "    db = dout.mean(axis=0)\n"),
    ("maxpool-backward-to-every-element", "layers.py", "max_pool_backward_naive",
     "dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]",
     "dx[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[n, c, i, j]"),
    ("dropout-not-scaled", "layers.py", "dropout_forward",
     "mask = ((rng.random(x.shape) < p) / p).astype(x.dtype, copy=False)",
     "mask = (rng.random(x.shape) < p).astype(x.dtype, copy=False)"),
    ("batchnorm-running-stats-not-written-back", "layers.py", "batchnorm_forward",
     '        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean\n',
     '        running_mean = momentum * running_mean + (1 - momentum) * mean\n'),
    ("softmax-no-max-shift", "layers.py", "softmax_loss",
     "    shifted = x - x.max(axis=1, keepdims=True)\n", "    shifted = x\n"),
    ("cnn-reg-gradient-halved", "cnn.py", "ThreeLayerConvNet",
     "grads[name] = grads[name] + 2 * self.reg * W", "grads[name] = grads[name] + self.reg * W"),
]


def make_submission(tmp_path: Path, file: str | None = None, old: str = "",
                    new: str = "") -> Path:
    """A copy of the reference's graded files, with one text edit (which must match once)."""
    return reference_copy(NAME, tmp_path / "submission", [(file, old, new)] if file else [])


def no_grader_error(tests: list[dict]) -> None:
    for t in tests:
        assert "Internal grader error" not in t["output"], (t["number"], t["output"])







@pytest.mark.parametrize("bug", BUGS, ids=[b[0] for b in BUGS])
def test_bug_loses_points_on_a_test_tagged_with_the_bugged_function(tmp_path, bug):
    _, file, func, old, new = bug
    specs = [s for s in collect(NAME) if func in s.tags and s.func.__name__ not in SLOW]
    assert specs, f"no test is tagged {func}"
    flags: set[str] = set()
    with submission_context(NAME, make_submission(tmp_path, file, old, new), "plain") as ctx:
        for module in ("layers", "optim", "cnn"):
            ctx.worker.load(module)
        results = [run_test(s, ctx, flags) for s in specs]
    assert "grader_error" not in flags
    no_grader_error(results)
    lost = [r for r in results if r["score"] < r["max_score"]]
    assert lost, f"{func}: the bug lost no points on {[s.number for s in specs]}"
    assert all(func in r["tags"] for r in lost)
