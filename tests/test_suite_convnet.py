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
try:                                   # calibration moved out of the checks library
    from grader.calibration import submission_context
except ImportError:                    # until grader/calibration.py is committed
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


@pytest.fixture(autouse=True)
def allow_plain(monkeypatch):
    """These runs use the unisolated sandbox on purpose (our own reference copies)."""
    monkeypatch.setenv("GRADEKIT_ALLOW_PLAIN", "1")


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


# -- correct but different: full marks -------------------------------------------------------
EINSUM_CONV = '''

def conv_forward_fast(x, w, b, conv_param):
    """Windows as a strided view, one einsum (a different but correct vectorization)."""
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    out = np.einsum("nchwij,fcij->nfhw", win, w, optimize=True) + b[None, :, None, None]
    return out, (x, w, conv_param)


def conv_backward_fast(dout, cache):
    x, w, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    win = win[:, :, :dout.shape[2], :dout.shape[3]]
    dw = np.einsum("nfhw,nchwij->fcij", dout, win, optimize=True)
    dxp = np.zeros_like(xp)
    for i in range(w.shape[2]):          # loops over the filter window only
        for j in range(w.shape[3]):
            dxp[:, :, i:i + s * dout.shape[2]:s, j:j + s * dout.shape[3]:s] += \\
                np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    return dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))
'''

# A dropout that draws its mask from the legacy RandomState (a different random stream).
RANDOMSTATE_DROPOUT = '''

def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode == "test":
        return x, (dropout_param, None)
    rs = np.random.RandomState(dropout_param.get("seed"))
    mask = (rs.rand(*x.shape) < p) / p
    return x * mask, (dropout_param, mask)
'''


def _fast_and_property_specs():
    return [s for s in collect(NAME)
            if s.number.split(".")[0] in ("5", "8") and s.func.__name__ not in SLOW]


@pytest.mark.parametrize("extra", [EINSUM_CONV, RANDOMSTATE_DROPOUT], ids=["einsum-conv",
                                                                          "randomstate-dropout"])
def test_correct_but_different_keeps_every_point(tmp_path, extra):
    sub = make_submission(tmp_path)
    with (sub / "layers.py").open("a") as f:
        f.write(extra)
    with submission_context(NAME, sub, "plain") as ctx:
        results = [run_test(s, ctx, set()) for s in _fast_and_property_specs()]
    no_grader_error(results)
    assert all(r["score"] == r["max_score"] for r in results), \
        [(r["number"], r["output"][:200]) for r in results if r["score"] < r["max_score"]]


# -- fakes of random behaviour: no points ----------------------------------------------------
FAKES = [
    ("dropout-stripes", "layers.py", "dropout_forward",
     "        mask = ((rng.random(x.shape) < p) / p).astype(x.dtype, copy=False)",
     "        keep = (np.arange(x.shape[-1]) + (dropout_param.get('seed') or 0)) % 10 < 10 * p\n"
     "        mask = (np.broadcast_to(keep, x.shape) / p).astype(x.dtype)"),
    ("dropout-fixed-unseeded-stream", "layers.py", "dropout_forward",
     'rng = np.random.default_rng(dropout_param.get("seed"))',
     'rng = np.random.default_rng(dropout_param.get("seed", 0))'),
    ("init-plus-minus-scale", "cnn.py", "ThreeLayerConvNet",
     'self.params[f"W{i}"] = weight_scale * rng.standard_normal(shape)',
     'self.params[f"W{i}"] = weight_scale * np.sign(rng.standard_normal(shape))'),
    ("init-uniform-right-std", "cnn.py", "ThreeLayerConvNet",
     'self.params[f"W{i}"] = weight_scale * rng.standard_normal(shape)',
     'self.params[f"W{i}"] = weight_scale * 3 ** 0.5 * rng.uniform(-1, 1, shape)'),
]


@pytest.mark.parametrize("fake", FAKES, ids=[f[0] for f in FAKES])
def test_fake_randomness_loses_points_on_its_tagged_test(tmp_path, fake):
    test_bug_loses_points_on_a_test_tagged_with_the_bugged_function(tmp_path, fake)


# -- the gate: visible points need the hidden verdicts ---------------------------------------
class _FakeCtx:
    def __init__(self, shared, self_check, test=None):
        self.shared, self.self_check, self.score, self.notes = shared, self_check, None, []
        self.test = test

    def set_score(self, points):
        self.score = points

    def note(self, text):
        self.notes.append(text)


@pytest.mark.parametrize("verdict,self_check,fails,noted", [
    (True, False, False, False),       # right on hidden inputs: the points stand
    (False, False, True, False),       # wrong there: nothing, and the message says why
    (None, True, False, True),         # self-check, no hidden verdict: provisional, noted
    (None, False, False, False),       # a real run where a dependency already failed
])
def test_gate_pays_only_for_functions_right_on_hidden_inputs(verdict, self_check, fails, noted):
    from grader.framework import CheckFailed
    from grader.suites.convnet import tests as suite
    shared = {} if verdict is None else {suite.verdict("affine_forward"): verdict}
    ctx = _FakeCtx(shared, self_check)
    if fails:
        with pytest.raises(CheckFailed, match="hidden inputs"):
            suite.gate(ctx, ("affine_forward", "dropout_forward"))
        assert ctx.score == 0
    else:
        suite.gate(ctx, ("affine_forward", "dropout_forward"))
    assert bool(ctx.notes) == noted
    assert "dropout_forward" not in " ".join(ctx.notes)    # no hidden check: never gated


def test_every_visible_value_or_consistency_test_is_gated():
    """Fixture, gradient, speed, model-loss and training tests are gated; property tests
    (dropout, init) need no hidden verdict."""
    ungated = {s.number for s in collect(NAME) if s.visibility == "visible"
               and not hasattr(s.func, "__wrapped__")}
    assert ungated == {"8.1", "8.2", "8.3", "8.4", "12.1"}


def _training_verdicts(value):
    from grader.suites.convnet import tests as suite
    fns = [t for t in suite.test_cnn_accuracy.__gradekit_test__.tags if t in suite.hidden_judged()]
    return {} if value is None else {suite.verdict(fn): value for fn in fns}


@pytest.mark.parametrize("verdict,self_check,runs,noted", [
    (True, False, True, False),        # every function right on hidden inputs: it trains
    (False, False, False, False),      # one wrong: nothing, no training
    (None, False, False, False),       # a real run without the verdicts: nothing either
    (None, True, True, True),          # self-check: trains, points provisional
])
def test_training_tests_need_every_verdict_first(verdict, self_check, runs, noted):
    from grader.framework import CheckFailed
    from grader.suites.convnet import tests as suite
    shared = _training_verdicts(verdict)
    if verdict is False:
        shared = {**_training_verdicts(True), suite.verdict("adam"): False}
    ctx = _FakeCtx(shared, self_check, suite.test_cnn_accuracy.__gradekit_test__)
    ran = []
    test = suite.trained(lambda c: ran.append(c))
    if runs:
        test(ctx)
    else:
        with pytest.raises(CheckFailed, match="hidden inputs"):
            test(ctx)
        assert ctx.score == 0
    assert bool(ran) == runs and bool(ctx.notes) == noted


def test_training_tests_are_tagged_with_the_update_rule_and_every_model_function():
    """`trained` gates on the tags, so the tags must name everything the training uses."""
    from grader.suites.convnet import tests as suite
    for test, rule in ((suite.test_cnn_overfit, suite.OVERFIT_RULE),
                       (suite.test_cnn_accuracy, suite.RUN_RULE)):
        assert set(test.__gradekit_test__.tags) == set(suite.MODEL_TAGS) | {rule}
