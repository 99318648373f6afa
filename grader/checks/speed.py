"""Speed of a vectorized function relative to the student's OWN naive one (trusted side).

Both are timed from the trusted process around the sandbox round trip, on the same input, as
the minimum over a few repeats (the minimum is the least noisy estimate on a shared machine).
Inputs should be big enough that transport is negligible next to the naive version; the
required ratio (a per-assignment fact in the declaration's settings) is generous, so only a
loop-based "vectorized" version fails.

    best_time(run, repeats=3) -> (seconds, last result)       run: a zero-argument callable
    speedup(worker, fast, slow, args, kwargs=None, ...) -> (ratio, t_fast, t_slow, fast result)
    check_speedup(ratio, min_ratio, what, t_fast=, t_slow=)    raises CheckFailed when too slow
"""
from __future__ import annotations

import time
from typing import Any, Callable

from grader.framework import CheckFailed

REPEATS = 3


def best_time(run: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    """Minimum wall time of `run()` over `repeats` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result


def speedup(worker: Any, fast: str, slow: str, args: tuple, kwargs: dict | None = None, *,
            repeats: int = REPEATS, timeout: float | None = None
            ) -> tuple[float, float, float, Any]:
    """Time the "module.func" targets `slow` and `fast` on the same arguments; return
    (t_slow / t_fast, t_fast, t_slow, the fast version's result). The slow one runs once per
    repeat as well, so a naive version is timed as fairly as the fast one."""
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
