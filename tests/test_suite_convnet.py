"""The convnet suite end to end: the reference scores 100 (in the default sandbox), the stubs 0
with every test failing cleanly, realistic bugs lose points on tests tagged with the bugged
function, fixtures are fresh, weights total 100, the calibration is recorded.

Everything but the reference run uses the `plain` sandbox. Bug runs execute only the tests
tagged with the bugged function (through the runner's own `run_test`), minus the bounded
training run, so each costs a few seconds instead of a full grading.
"""
from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from examples.build import reference_copy
from grader import fixtures
from grader.checks.accuracy import accuracy_band, submission_context
from grader.declaration import ROOT, load
from grader.framework import collect
from grader.runner import grade_submission, run_test

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


def test_weights_total_100_numbers_unique_and_tags_name_graded_functions():
    specs = collect(NAME)
    assert sum(s.weight for s in specs) == pytest.approx(100.0, abs=1e-9)
    assert len({s.number for s in specs}) == len(specs)
    defined = set()
    for f in load(NAME).graded:
        tree = ast.parse((ROOT / "reference" / NAME / f).read_text())
        defined |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    tags = {t for s in specs for t in s.tags}
    assert tags <= defined, tags - defined
    # every graded function and class is exercised by at least one test
    assert defined - tags == set(), defined - tags
    assert {s.visibility for s in specs} == {"visible", "hidden"}


def test_fixtures_are_fresh():
    assert fixtures.stale(NAME) == []


def test_calibration_recorded_with_the_graded_settings():
    decl = load(NAME)
    calib = decl.calibration()
    assert list(calib["seeds"]) == list(decl.settings["calibration_seeds"])
    assert len(calib["accuracy"]) == len(calib["seeds"])
    assert calib["min"] == min(calib["accuracy"])
    assert calib["accuracy_run"] == decl.settings["accuracy_run"]
    zero_at, full_at = accuracy_band(decl)
    assert zero_at == pytest.approx(0.1) and zero_at < full_at < calib["min"]


def test_reference_scores_full_marks_isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADEKIT_SANDBOX", raising=False)
    start = time.monotonic()
    data = grade_submission(NAME, make_submission(tmp_path), sandbox_mode="auto")
    seconds = time.monotonic() - start
    failed = [(t["number"], t["output"]) for t in data["tests"] if t["status"] != "passed"]
    assert data["score"] == 100.0, failed
    assert "grader_error" not in data["extra_data"]["gradekit"]["flags"]
    no_grader_error(data["tests"])
    print(f"\nconvnet reference graded in {seconds:.1f} s "
          f"(sandbox {data['extra_data']['gradekit']['sandbox']})")


def test_stubs_score_zero_cleanly():
    data = grade_submission(NAME, ROOT / "assignments" / NAME, sandbox_mode="plain")
    assert data["score"] == 0.0
    assert "grader_error" not in data["extra_data"]["gradekit"]["flags"]
    no_grader_error(data["tests"])
    for t in data["tests"]:
        assert t["status"] == "failed" and t["score"] == 0, t["number"]
        assert "not implemented" in t["output"].splitlines()[0], (t["number"], t["output"])


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
