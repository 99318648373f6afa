"""convnet's verdict gates: a visible test pays only for functions right on hidden inputs, and a
training test needs every verdict first. Bug-by-bug checks of every suite are in
tests/test_suite_bugs.py; what every suite must satisfy is in tests/test_suites.py."""
from __future__ import annotations

import pytest

from grader.framework import collect

NAME = "convnet"


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
