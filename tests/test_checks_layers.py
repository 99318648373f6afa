"""grader/checks/layers.py (the generic layer-checking engine) and the verdict gate it feeds,
on a fake worker that runs numpy layers in this process and keeps objects behind handles like
the sandbox does, so every handle's release can be counted."""
from __future__ import annotations

import types

import numpy as np
import pytest

from grader.checks import layers, verdicts
from grader.checks.layers import Layer
from grader.framework import CheckFailed
from grader.sandbox import Handle, StudentError


def affine_forward(x, w, b):
    return x.reshape(len(x), -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(len(x), -1).T @ dout, dout.sum(axis=0)


def affine_backward_wrong_dw(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, 0.5 * dw, db


def scale_forward(x, param):
    return x * param["k"], param["k"]


def scale_backward(dout, cache):
    return dout * cache


STUDENT = types.SimpleNamespace(**{f.__name__: f for f in (
    affine_forward, affine_backward, affine_backward_wrong_dw, scale_forward, scale_backward)})


class FakeWorker:
    """Runs `module.func` from STUDENT; `keep` puts results behind handles, as the sandbox."""

    def __init__(self, fail_release: bool = False):
        self.kept: dict[int, object] = {}
        self.next, self.fail_release = 1, fail_release

    def _keep(self, obj: object) -> Handle:
        self.kept[self.next] = obj
        self.next += 1
        return Handle(self.next - 1, 0, 0, "cache")

    def _arg(self, a: object) -> object:
        return self.kept[a.id] if isinstance(a, Handle) else a

    def call(self, target, args=(), kwargs=None, *, keep=(), timeout=None):
        value = getattr(STUDENT, target.split(".")[1])(*(self._arg(a) for a in args))
        if keep:
            value = tuple(self._keep(v) if i in keep else v for i, v in enumerate(value))
        return value

    def batch(self, requests, *, timeout=None):
        return [self.call(r["target"], r["args"], keep=tuple(r["keep"])) for r in requests]

    def release(self, *handles):
        if self.fail_release:
            raise StudentError("crash", "the worker died")
        for h in handles:
            self.kept.pop(h.id, None)


class FakeCtx:
    def __init__(self, worker=None, shared=None, self_check=False):
        self.worker = worker or FakeWorker()
        self.shared, self.self_check, self.score, self.notes = shared or {}, self_check, None, []

    def call(self, target, *args, keep=(), timeout=None):
        return self.worker.call(target, args, keep=keep)

    def set_score(self, points):
        self.score = points

    def note(self, text):
        self.notes.append(text)


AFFINE = Layer("student", "affine_forward", "affine_backward", ("x", "w", "b"))
WRONG = Layer("student", "affine_forward", "affine_backward_wrong_dw", ("x", "w", "b"))
SCALE = Layer("student", "scale_forward", "scale_backward", params=lambda c: ({"k": 3.0},))


def affine_case(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    out, cache = affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = affine_backward(dout, cache)
    return dict(x=x, w=w, b=b, out=out, dout=dout, dx=dx, dw=dw, db=db)


def test_a_right_layer_passes_and_every_handle_is_released():
    ctx, case = FakeCtx(), affine_case()
    layers.check_values(ctx, AFFINE, case, label="case", reveal=True)
    layers.check_gradients(ctx, AFFINE, AFFINE.args(case), case["dout"],
                           rng=np.random.default_rng(1))
    assert ctx.worker.kept == {}


def test_a_wrong_backward_is_named_and_its_handles_still_released():
    ctx, case = FakeCtx(), affine_case()
    with pytest.raises(CheckFailed, match=r"affine_backward_wrong_dw: dw"):
        layers.check_gradients(ctx, WRONG, WRONG.args(case), case["dout"],
                               rng=np.random.default_rng(1))
    assert ctx.worker.kept == {}
    with pytest.raises(CheckFailed, match=r"affine_backward_wrong_dw \(case\): dw"):
        layers.check_values(ctx, WRONG, case, label="case", reveal=True)
    assert ctx.worker.kept == {}


def test_parameters_are_built_from_the_case():
    ctx = FakeCtx()
    x = np.arange(6.0).reshape(2, 3)
    case = dict(x=x, out=3 * x, dout=np.ones_like(x), dx=3 * np.ones_like(x))
    layers.check_values(ctx, SCALE, case, label="c", reveal=True)
    assert SCALE.grads == ("dx",) and ctx.worker.kept == {}


def test_hidden_values_record_one_verdict_per_function():
    key = lambda fn: verdicts.key("toy", "function", fn)
    ctx = FakeCtx()
    layers.check_values(ctx, AFFINE, affine_case(), label="hidden case", reveal=False,
                        verdict=key)
    assert ctx.shared == {key("affine_forward"): True, key("affine_backward"): True}
    with pytest.raises(CheckFailed):
        layers.check_values(ctx, WRONG, affine_case(), label="hidden case", reveal=False,
                            verdict=key)
    assert ctx.shared[key("affine_backward_wrong_dw")] is False
    bad = affine_case()
    bad["out"] = bad["out"] + 1          # a wrong forward: the backward is never judged
    fresh = FakeCtx()
    with pytest.raises(CheckFailed) as info:
        layers.check_values(fresh, AFFINE, bad, label="hidden case", reveal=False, verdict=key)
    assert fresh.shared == {key("affine_forward"): False}
    assert "expected" not in str(info.value)            # hidden: no expected values shown


def test_held_releases_whatever_happens_and_survives_a_dead_worker():
    worker = FakeWorker()
    with pytest.raises(RuntimeError):
        with layers.held(worker) as scope:
            scope.add(worker.call("student.affine_forward", tuple(affine_case().values())[:3],
                                  keep=(1,)))
            assert worker.kept
            raise RuntimeError("a check failed")
    assert worker.kept == {}
    dead = FakeWorker(fail_release=True)
    with layers.held(dead) as scope:
        scope.add(dead._keep("cache"))      # release raises StudentError: swallowed


def test_the_engine_names_no_particular_layer():
    source = open(layers.__file__).read().lower()
    for word in ("conv", "pool", "batchnorm", "dropout", "affine", "relu", "convnet"):
        assert word not in source, word


# -- verdicts.gate: the two policies for an absent verdict ----------------------------------
KEYS = {"a.hidden_ok.function.f": "f", "a.hidden_ok.function.g": "g"}


def _gate(ctx, absent):
    verdicts.gate(ctx, KEYS, absent=absent, refused=lambda wrong, missing: f"{wrong}|{missing}",
                  provisional=lambda missing: f"provisional {missing}")


@pytest.mark.parametrize("absent", [verdicts.ABSENT_CREDITS, verdicts.ABSENT_WITHHOLDS])
def test_a_wrong_verdict_withholds_under_either_policy(absent):
    ctx = FakeCtx(shared={"a.hidden_ok.function.f": True, "a.hidden_ok.function.g": False})
    with pytest.raises(CheckFailed, match=r"\['g'\]\|\[\]"):
        _gate(ctx, absent)
    assert ctx.score == 0


@pytest.mark.parametrize("absent,self_check,paid,noted", [
    (verdicts.ABSENT_CREDITS, False, True, False),
    (verdicts.ABSENT_WITHHOLDS, False, False, False),
    (verdicts.ABSENT_CREDITS, True, True, True),
    (verdicts.ABSENT_WITHHOLDS, True, True, True),
])
def test_an_absent_verdict_follows_the_policy(absent, self_check, paid, noted):
    ctx = FakeCtx(shared={"a.hidden_ok.function.f": True}, self_check=self_check)
    if paid:
        _gate(ctx, absent)
        assert ctx.score is None
    else:
        with pytest.raises(CheckFailed, match=r"\[\]\|\['g'\]"):
            _gate(ctx, absent)
    assert ctx.notes == (["provisional ['g']"] if noted else [])


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError):
        _gate(FakeCtx(), "maybe")
