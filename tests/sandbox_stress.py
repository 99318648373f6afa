"""Stress: sandboxes of two grader processes at once must never hurt each other.

    python tests/sandbox_stress.py [--modes bwrap,uid,uid-nons] [--runs 5] [--rounds 6]
                                   [--pairs steady+churn,steady+hostile]

Each run starts two processes at the same moment (as `grade --jobs 2` or pytest-xdist do):
a *steady* one keeps a well-behaved worker answering (a fresh one each round), the
other either churns well-behaved workers (start, call, close) or runs *hostile* ones (a
fork attempt, `kill(-1, SIGKILL)`, killing its own monitor). Anything the steady or churn
side sees that a well-behaved submission should never see (a crash, tamper, protocol or
timeout verdict, a worker that does not start) is counted as a failure: one student must
never cost another anything. The hostile side's own verdicts are not counted.

Modes (one per side with a slash, e.g. `bwrap/uid-nons`): `bwrap`, `uid` (namespaced where
root may make them), and `uid-nons`: uid mode with the namespace probe forced off (the
Gradescope-like fallback where every process of the sandbox uid is killed when a worker
stops), run with the system Python like tests/test_sandbox_hostile.py does. Needs root for
the uid modes. Prints one JSON line per
mode and a summary; exits 1 when any failure was seen. Not collected by pytest (the name
does not start with test_); tests/test_sandbox_concurrency.py runs a bounded version.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CASES = HERE / "sandbox_cases"
SYSTEM_PYTHON = f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
STRESS_UID = "64400"            # away from the test suite's uids


def _limits():
    from grader.declaration import Limits
    return Limits(call_seconds=20.0, memory_mb=512, processes=32, open_files=64, file_mb=8,
                  output_kb=64)


def _workdir(root: Path) -> Path:
    work = root / "work"
    work.mkdir(parents=True)
    for name in ("basic.py", "escape.py", "resources.py"):
        shutil.copyfile(CASES / name, work / name)
        (work / name).chmod(0o644)
    work.chmod(0o755)
    return work


def setup_mode(mode: str) -> str:
    """Prepare this process for `mode` ("uid-nons": uid without namespaces); the real mode."""
    os.environ.setdefault("GRADEKIT_SANDBOX_UID", STRESS_UID)
    if mode == "uid-nons":
        from grader.sandbox import isolation
        isolation.uid_namespaces_ok = lambda: False
        os.environ["GRADEKIT_SANDBOX_PYTHON"] = SYSTEM_PYTHON
        return "uid"
    return mode


def _well_behaved(w, n: int) -> None:
    import numpy as np
    for i in range(n):
        x = np.arange(4.0) + i
        got = w.call("basic.double", (x,))
        if not np.array_equal(got, 2 * x):
            raise AssertionError(f"wrong answer {got!r}")


def role(name: str, mode: str, rounds: int, start_at: float) -> dict:
    """One side of a pair, in its own process: counts of calls and unexpected failures."""
    real_mode = setup_mode(mode)
    from grader.sandbox import StudentError, Worker
    out = {"role": name, "calls": 0, "starts": 0, "failures": [], "hostile_verdicts": {}}
    tmp = Path(tempfile.mkdtemp(prefix=f"gk-stress-{name}-"))
    try:
        work = _workdir(tmp)
        while time.time() < start_at:           # both sides start at the same moment
            time.sleep(0.001)
        for r in range(rounds):
            try:
                with Worker(work, _limits(), mode=real_mode) as w:
                    w.start()
                    out["starts"] += 1
                    if name == "hostile":
                        for target, args in (("resources.fork_bomb", (3, 0)),
                                             ("escape.kill_everything", ()),
                                             ("escape.kill_parent", ())):
                            try:
                                w.call(target, args)
                            except StudentError as err:
                                key = f"{target}:{err.kind}"
                                out["hostile_verdicts"][key] = \
                                    out["hostile_verdicts"].get(key, 0) + 1
                        continue
                    calls = 12 if name == "steady" else 3
                    for _ in range(calls):
                        _well_behaved(w, 1)
                        out["calls"] += 1
                        if name == "steady":
                            time.sleep(0.02)
            except StudentError as err:
                out["failures"].append(f"round {r}: {err.kind}: {err.message}")
            except Exception as exc:               # a start failure, a wrong answer
                out["failures"].append(f"round {r}: {type(exc).__name__}: "
                                       + " ".join(str(exc).split())[:300])
    except Exception:
        out["failures"].append(traceback.format_exc()[-600:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _child(q, name, mode, rounds, start_at):
    q.put(role(name, mode, rounds, start_at))


def run_pair(mode: str, pair: str, rounds: int, timeout: float = 300.0) -> list[dict]:
    """Start both sides of `pair` ("steady+churn") at once in two processes; their reports.
    `mode` may name one mode per side ("bwrap/uid-nons": the steady side in bwrap)."""
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    start_at = time.time() + 3.0               # after both have imported numpy and grader
    names = pair.split("+")
    modes = (mode.split("/") * 2)[:2] if "/" in mode else [mode] * len(names)
    procs = [ctx.Process(target=_child, args=(q, name, side_mode, rounds, start_at))
             for name, side_mode in zip(names, modes)]
    for p in procs:
        p.start()
    results = []
    deadline = time.monotonic() + timeout
    for _ in procs:
        try:
            results.append(q.get(timeout=max(1.0, deadline - time.monotonic())))
        except Exception:
            results.append({"role": "?", "failures": ["no report (hung or died)"],
                            "calls": 0, "starts": 0, "hostile_verdicts": {}})
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", default="bwrap,uid,uid-nons")
    ap.add_argument("--pairs", default="steady+churn,steady+hostile")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args(argv)
    total_failures = 0
    for mode in args.modes.split(","):
        stats = {"mode": mode, "runs": 0, "calls": 0, "starts": 0, "failures": 0,
                 "examples": [], "hostile_verdicts": {}}
        t0 = time.monotonic()
        for _ in range(args.runs):
            for pair in args.pairs.split(","):
                stats["runs"] += 1
                for rep in run_pair(mode, pair, args.rounds):
                    stats["calls"] += rep["calls"]
                    stats["starts"] += rep["starts"]
                    stats["failures"] += len(rep["failures"])
                    stats["examples"] += [f"{pair}/{rep['role']}: {f}"
                                          for f in rep["failures"]][:3]
                    for k, v in rep["hostile_verdicts"].items():
                        stats["hostile_verdicts"][k] = stats["hostile_verdicts"].get(k, 0) + v
        stats["seconds"] = round(time.monotonic() - t0, 1)
        stats["examples"] = stats["examples"][:6]
        total_failures += stats["failures"]
        print(json.dumps(stats), flush=True)
    print(f"total unexpected failures: {total_failures}")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
