"""Sandbox costs per isolation mode: worker start, per-call overhead, array throughput.

    python -m grader.sandbox.bench [--modes bwrap,uid,plain] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from grader.declaration import Limits
from grader.sandbox import Worker, isolation, req_call

MODULE = "def echo(x):\n    return x\n\ndef nothing():\n    return None\n"


def measure(mode: str, repeat: int = 5, calls: int = 500) -> dict[str, float]:
    """Median start time (s), tiny-call round trip (ms), 10 MB array round trip (ms).

    Plain mode is measured too (only this trusted module runs in it, so the refusal that
    protects real grading does not apply)."""
    if mode == "plain":
        os.environ["GRADEKIT_ALLOW_PLAIN"] = "1"
    with tempfile.TemporaryDirectory(prefix="gradekit-bench-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        (work / "bench_mod.py").write_text(MODULE)
        work.chmod(0o755)
        (work / "bench_mod.py").chmod(0o644)
        starts = []
        for _ in range(repeat):
            with Worker(work, Limits(), mode=mode) as w:
                w.start()
                starts.append(w.start_seconds)
        with Worker(work, Limits(), mode=mode) as w:
            w.call("bench_mod.nothing")
            t0 = time.perf_counter()
            for _ in range(calls):
                w.call("bench_mod.nothing")
            tiny = (time.perf_counter() - t0) / calls
            t0 = time.perf_counter()
            w.batch([req_call("bench_mod.nothing")] * calls)
            batched = (time.perf_counter() - t0) / calls
            big = np.ones(10 * 2 ** 20 // 8)
            trips = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                back = w.call("bench_mod.echo", (big,))
                trips.append(time.perf_counter() - t0)
            assert back.nbytes == big.nbytes
        return {"start_s": statistics.median(starts), "call_ms": tiny * 1e3,
                "batched_call_ms": batched * 1e3,
                "array_10mb_ms": statistics.median(trips) * 1e3,
                "array_mb_per_s": 20.0 / statistics.median(trips)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(isolation.MODES))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'mode':6} {'start s':>8} {'call ms':>8} {'batched ms':>10} {'10MB rt ms':>11} "
          f"{'MB/s':>7}")
    for mode in args.modes.split(","):
        ok, why = isolation.available(mode)
        if not ok:
            print(f"{mode:6} not usable here: {why}")
            continue
        r = measure(mode, args.repeat)
        print(f"{mode:6} {r['start_s']:8.3f} {r['call_ms']:8.3f} {r['batched_call_ms']:10.4f} "
              f"{r['array_10mb_ms']:11.1f} {r['array_mb_per_s']:7.0f}")


if __name__ == "__main__":
    main()
