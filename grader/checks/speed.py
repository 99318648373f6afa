"""Speed of a student function against a yardstick the student cannot touch (trusted side).

The student's function is timed around the sandbox round trip; the yardstick is trusted code
doing comparable work on the same input, timed in this (trusted) process. The two are timed
in alternation, `repeats` times each, and the minimum of each is kept (the least noisy
estimate on a shared machine; alternating means both see the same load). The allowed ratio
student / yardstick is a per-assignment fact, set from ratios measured on the reference and
kept in the declaration's settings: generous, so only a loop-based "vectorized" version
fails. Nothing the student writes (a slow naive version, a sleeping helper) moves the
yardstick.

    best_time(run, repeats=3) -> (seconds, last result)       run: a zero-argument callable
    fresh_against_yardstick(draw, student, yardstick, check, repeats=, give_up=, within=) -> Timing
    in_rounds(one_round, within) -> (student, yardstick)   a failing timing is re-measured
    check_ratio(timing, max_ratio, what)                       raises CheckFailed when too slow

Every timed call of `fresh_against_yardstick` gets an input drawn on the trusted side for
that call alone, and every answer is checked against the trusted result, so neither a result
cache nor a "this is the speed test" shortcut (a fixed shape, a fingerprint of the input) can
make slow code look fast.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from grader.framework import CheckFailed

REPEATS = 7
GIVE_UP = 10.0    # times the allowed ratio: one call this slow ends the timing (it fails)
# A timing over its limit is measured again, up to ROUNDS rounds in all, and the best round
# counts: load on the grading host only ever slows the sandboxed side (a round trip through
# two processes) more than the in-process yardstick, so a correct function must not lose its
# points to one unlucky round. Code that is really slow (loops) stays slow in every round, and
# a round beyond HOPELESS times the limit ends the re-measuring.
ROUNDS = 3
HOPELESS = 4.0


@dataclass(frozen=True)
class Timing:
    """Best times of the student's call and of the trusted yardstick, and the call's result."""
    student: float
    yardstick: float
    result: Any

    @property
    def ratio(self) -> float:
        return self.student / max(self.yardstick, 1e-9)


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = run()
    return time.perf_counter() - t0, out


def best_time(run: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    """Minimum wall time of `run()` over `repeats` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t, result = _timed(run)
        best = min(best, t)
    return best, result


def in_rounds(one_round: Callable[[], tuple[float, float]], within: float | None,
              rounds: int = ROUNDS) -> tuple[float, float]:
    """Run `one_round()` -> (student seconds, yardstick seconds) until the ratio of the best
    times is `within` the limit, at most `rounds` times (once when `within` is None), or until
    a round is hopeless (beyond HOPELESS x the limit); return the best of each side."""
    best_student = best_yard = float("inf")
    for _ in range(rounds if within is not None else 1):
        t_student, t_yard = one_round()
        best_student, best_yard = min(best_student, t_student), min(best_yard, t_yard)
        if within is None or best_student <= within * max(best_yard, 1e-9) \
                or t_student > HOPELESS * within * max(t_yard, 1e-9):
            break
    return best_student, best_yard


def fresh_against_yardstick(draw: Callable[[], Any], student: Callable[[Any], Any],
                            yardstick: Callable[[Any], Any],
                            check: Callable[[Any, Any, Any], None], *,
                            repeats: int = REPEATS, give_up: float | None = None,
                            within: float | None = None) -> Timing:
    """Time `student(x)` (a sandbox round trip) and `yardstick(x)` (trusted, here) in
    alternation, each time on a new `x = draw()` (untimed; it may set up worker state), and
    call `check(x, student's answer, yardstick's answer)` after every pair (raises
    CheckFailed when the answer is wrong). One extra checked call first warms up imports and
    is not counted. Inputs should share a shape, so the minima compare like with like.
    With `give_up`, timing stops early once one pair's ratio exceeds it (a hopeless case,
    e.g. a numeric gradient thousands of times slower, need not be timed 7 times). With
    `within` (the allowed ratio), a timing over it is re-measured (`in_rounds`)."""
    x = draw()
    check(x, student(x), yardstick(x))
    last: list[Any] = [None]

    def one_round() -> tuple[float, float]:
        best_student = best_yard = float("inf")
        for _ in range(repeats):
            x = draw()
            t_student, last[0] = _timed(lambda: student(x))
            t_yard, expected = _timed(lambda: yardstick(x))
            best_student, best_yard = min(best_student, t_student), min(best_yard, t_yard)
            check(x, last[0], expected)
            if give_up is not None and t_student > give_up * max(t_yard, 1e-9):
                break
        return best_student, best_yard
    best_student, best_yard = in_rounds(one_round, within)
    return Timing(best_student, best_yard, last[0])


def check_ratio(timing: Timing, max_ratio: float, what: str, *,
                hint: str = "replace Python loops with whole-array numpy operations.") -> None:
    """CheckFailed unless the student's time is within `max_ratio` times the yardstick's."""
    if timing.ratio > max_ratio:
        raise CheckFailed(
            f"{what}: took {timing.student * 1e3:.1f} ms, {timing.ratio:.1f}x the time of the "
            f"grader's own vectorized computation of the same loss "
            f"({timing.yardstick * 1e3:.1f} ms); at most {max_ratio:g}x is allowed. Hint: "
            f"{hint}")


# -- relative to another sandboxed function (kept for suites that time fast vs naive) --------
def speedup(worker: Any, fast: str, slow: str, args: tuple, kwargs: dict | None = None, *,
            repeats: int = 3, timeout: float | None = None
            ) -> tuple[float, float, float, Any]:
    """Time the "module.func" targets `slow` and `fast` on the same arguments; return
    (t_slow / t_fast, t_fast, t_slow, the fast version's result). Student code controls
    both sides of this ratio: prefer `fresh_against_yardstick` for a verdict."""
    t_slow, _ = best_time(lambda: worker.call(slow, args, kwargs, timeout=timeout), repeats)
    t_fast, out = best_time(lambda: worker.call(fast, args, kwargs, timeout=timeout), repeats)
    return t_slow / max(t_fast, 1e-9), t_fast, t_slow, out


def check_speedup(ratio: float, min_ratio: float, what: str, *, t_fast: float | None = None,
                  t_slow: float | None = None, slow_name: str = "the naive version") -> None:
    """CheckFailed unless `ratio` >= `min_ratio`; the message gives both timings."""
    times = "" if t_fast is None or t_slow is None else \
        f" ({t_fast * 1e3:.1f} ms vs {t_slow * 1e3:.1f} ms)"
    if ratio < min_ratio:
        raise CheckFailed(f"{what}: only {ratio:.1f}x faster than {slow_name}{times}; at least "
                          f"{min_ratio:g}x is required. Hint: replace Python loops with whole-"
                          f"array numpy operations.")
