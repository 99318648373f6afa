"""Verdicts from hidden inputs: points that follow correct code.

The grading policy (docs/staff/grading-policy.md): a hidden test records, per student
function, whether it was right on inputs the student never saw (`record`, or the `judged`
block); a visible test that could be passed by replaying shipped values, or by a
self-consistent but wrong function, pays out only when those verdicts are true (`require`).
The visible check still runs first, so its feedback still teaches. Hidden tests run before
visible ones (grader/framework.py), so every verdict a visible test reads already exists, or
its hidden test never got to record it.

    key(assignment, kind, func)           e.g. "softmax.hidden_ok.forward.softmax_loss_naive"
    record(ctx, key, ok)                  stored in ctx.shared (trusted side)
    judged(ctx, *keys)                    a block whose success is the verdict of every key
    require(ctx, keys, what, why)         zero points unless every verdict is true
    gate(ctx, keys, absent=, refused=, provisional=)   the rule both of these build on

An ABSENT verdict (the hidden test never recorded it) means two things: in the self-check
the hidden tests did not run, so the points stay, provisionally, with a note; in a real
grading `gate` applies the caller's policy: ABSENT_WITHHOLDS (`require`, and convnet's
training tests) pays nothing, ABSENT_CREDITS (convnet's other visible tests) keeps the points,
because there a verdict is absent only when a function it depends on already failed its own
hidden test, which costs these tags their points there.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Mapping

from grader.framework import CheckFailed

ABSENT_WITHHOLDS = "withhold"       # policies for an absent verdict in a real grading (doc)
ABSENT_CREDITS = "credit"
PROVISIONAL = ("Self-check: these points are provisional; they also require the same "
               "function to be right on hidden inputs, which are checked after you submit.")


def key(assignment: str, kind: str, func: str) -> str:
    """The ctx.shared key of one verdict: kind "forward" (the function's value is right),
    "full" (value and gradient), "stable" (right for large scores) or "function" (the
    function judged whole, as convnet judges each of its layer functions)."""
    return f"{assignment}.hidden_ok.{kind}.{func}"


def record(ctx: Any, key: str, ok: bool) -> None:
    """Store a verdict for the visible tests (hidden tests run first, in a worker of their
    own). A hidden test records False before it calls anything, so a crash counts as wrong."""
    ctx.shared[key] = bool(ok)


@contextlib.contextmanager
def judged(ctx: Any, *keys: str) -> Iterator[None]:
    """Record for every key whether the block (student calls and comparisons on hidden
    inputs) ran to its end: an exception, a failed comparison or a timeout is a wrong verdict,
    and a function wrong in one judged block stays wrong."""
    ok = False
    try:
        yield
        ok = True
    finally:
        for k in keys:
            record(ctx, k, ok and ctx.shared.get(k, True))


def gate(ctx: Any, keys: Mapping[str, str], *, absent: str,
         refused: Callable[[list[str], list[str]], str],
         provisional: Callable[[list[str]], str]) -> None:
    """Zero points (CheckFailed(refused(wrong, absent)), descriptions of the keys) when a
    verdict in `keys` ({key: student-facing description}) is false, or, with `absent` ==
    ABSENT_WITHHOLDS, absent in a real grading. In the self-check (`ctx.self_check`) absent
    verdicts keep the points with the note `provisional(absent)` (module doc)."""
    if absent not in (ABSENT_WITHHOLDS, ABSENT_CREDITS):
        raise ValueError(f"unknown policy for an absent verdict: {absent!r}")
    wrong = [desc for k, desc in keys.items() if k in ctx.shared and not ctx.shared[k]]
    missing = [desc for k, desc in keys.items() if k not in ctx.shared]
    self_check = getattr(ctx, "self_check", True)
    if wrong or (missing and absent == ABSENT_WITHHOLDS and not self_check):
        ctx.set_score(0.0)
        raise CheckFailed(refused(wrong, missing))
    if missing and self_check:
        ctx.note(provisional(missing))


def require(ctx: Any, keys: dict[str, str], what: str, why: str) -> None:
    """After a visible check passed: zero points (CheckFailed) unless every verdict in `keys`
    ({key: student-facing description}) is true. A verdict that is absent means the hidden
    tests did not run (the student self-check): the points stay, with a note saying they are
    provisional. In a real grading (`ctx.self_check` false) an absent verdict means the hidden
    test never got to run, and the points are withheld."""
    def refused(wrong: list[str], missing: list[str]) -> str:
        if wrong:
            return (f"{what}: passed on these inputs, but {' and '.join(wrong)} "
                    f"{'is' if len(wrong) == 1 else 'are'} wrong on the hidden inputs "
                    f"(see the hidden test), so this test earns no points: {why}")
        return (f"{what}: passed on these inputs, but the hidden test of the same "
                f"function did not run to the end, so this test earns no points: {why}")
    gate(ctx, keys, absent=ABSENT_WITHHOLDS, refused=refused,
         provisional=lambda missing: PROVISIONAL)
