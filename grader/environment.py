"""Process settings every grading and benchmark process shares: the one list of them.

One BLAS thread everywhere: on 2 cores a second thread costs 10-100x as soon as anything else
runs, and the speed checks time student code against the grader's own under the same setting.
Shell entry points (the Makefiles, run_autograder) export the same variables; a test keeps
them equal to `ONE_BLAS_THREAD`.
"""
from __future__ import annotations

import os
from typing import Mapping, MutableMapping

ONE_BLAS_THREAD: Mapping[str, str] = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def with_one_blas_thread(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `env` (default: this process's) with every BLAS pool pinned to one thread."""
    out = dict(os.environ if env is None else env)
    out.update(ONE_BLAS_THREAD)
    return out


def pin_blas_threads(env: MutableMapping[str, str] = os.environ) -> None:
    """Pin this process (before numpy is imported) to one BLAS thread."""
    env.update(ONE_BLAS_THREAD)
