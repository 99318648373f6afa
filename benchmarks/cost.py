"""`make bench`: what grading costs — CPU seconds per submission, worker processes included.

    python -m benchmarks.cost                 # 3 runs per assignment, then 200 two_layer_net
    python -m benchmarks.cost --n 20          # a quicker batch (the per-assignment runs stay)
    python -m benchmarks.cost --runs 1 --n 4 --assignments softmax     # a smoke run
    python -m benchmarks.cost validate        # the CPU meter against known busy loops
    python -m benchmarks.cost exec -- CMD...  # CPU and wall of one command tree, as JSON
    python -m benchmarks.cost tests [NAME...]  # CPU per test of the reference (worker, grader)

How the CPU is counted. A grading runs the grader process, which starts sandboxed workers
(bwrap, then the worker inside its pid namespace: a grandchild). `RUSAGE_CHILDREN` of the
grader counts a descendant only once its own parent has reaped it, and that chain breaks
twice: bwrap never waits for its namespace's init (so even a worker that exits cleanly is
lost), and the grader's kill path SIGKILLs bwrap and the worker together. Two meters, each
exact where the other one fails, run around every measured command:
- `perf stat -e task-clock` (when installed): its counters follow every fork, reaped or not,
  but stop when the command exits (an orphan still running then is missed);
- a meter process (`exec`) that is a *child subreaper* (prctl PR_SET_CHILD_SUBREAPER): every
  orphan is re-parented to it and reaped, to its end, before it reads its own
  `RUSAGE_CHILDREN` — but a worker whose parent dies before reaping it is lost again.
The CPU reported is the larger of the two (both are lower bounds). `validate` checks this on
workers that burn a known CPU time, orphaned, or killed with bwrap the way the grader does,
and shows each meter and what the plain count would have seen.

Per-submission numbers: `python -m grader run` on a copy of each assignment's reference
(median of `--runs`), and where the time goes: results.json `extra_data.gradekit`
`setup_seconds` (worker start + imports, per phase) and the slowest `test_seconds` (wall).
Batch throughput: `python -m grader grade two_layer_net --jobs 2` on `--n` copies of the
reference, wall and CPU of the whole batch. The issue's targets (#13) are printed alongside.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader.environment import with_one_blas_thread

ROOT = Path(__file__).resolve().parents[1]
PR_SET_CHILD_SUBREAPER = 36
REAP_SECONDS = 30.0             # how long the meter waits for orphans still running
TARGET_CPU = {"softmax": 0.8, "two_layer_net": 1.0, "convnet": 5.0}   # issue #13, s/submission
TARGET_BATCH = (200, 120.0)     # 200 two_layer_net submissions, 2 jobs, <= 2 minutes
TOP_TESTS = 5


@dataclass(frozen=True)
class Measured:
    """One command tree: CPU (user + system) of every descendant, wall seconds, exit code;
    `direct_cpu` is what the plain RUSAGE_CHILDREN of the command would have reported
    (itself and what it reaped), `orphans` how many descendants the meter had to reap."""
    cpu: float
    wall: float
    returncode: int
    direct_cpu: float
    orphans: int
    perf_cpu: float | None = None   # `perf stat` task-clock of the tree, where perf runs

    @property
    def best_cpu(self) -> float:
        """The larger of the two counts. perf follows every fork, reaped or not, but stops
        counting when the command exits (an orphan still running then is missed); the
        subreaper sees orphans to their end but loses a process whose parent dies before
        reaping it. Each is a lower bound, and each is exact where the other one fails."""
        return max(self.cpu, self.perf_cpu or 0.0)


def _cpu(ru: resource.struct_rusage) -> float:
    return ru.ru_utime + ru.ru_stime


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def meter(argv: list[str], reap_seconds: float = REAP_SECONDS) -> Measured:
    """Run `argv` and reap every descendant it leaves behind; call only in a process of its
    own (`exec`): it makes the calling process a subreaper for good."""
    _become_subreaper()
    before = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    start = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    orphans, deadline = 0, time.monotonic() + reap_seconds
    while True:                              # orphans re-parented to us: wait for each
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break                            # no descendant left anywhere
        if pid:
            orphans += 1
        elif time.monotonic() > deadline:
            break
        else:
            time.sleep(0.01)
    cpu = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - before
    return Measured(cpu, wall, proc.returncode, _cpu(ru), orphans)


def measure(argv: list[str], env: dict[str, str] | None = None) -> Measured:
    """`argv` run under a fresh meter process (`exec`), and under `perf stat` when this
    machine has it; the meter's JSON line parsed back, `cpu` replaced by perf's count."""
    perf = shutil.which("perf")
    with tempfile.TemporaryDirectory(prefix="gradekit-meter-") as tmp:
        report = Path(tmp) / "perf.csv"
        inner = ([perf, "stat", "-x", ",", "-e", "task-clock", "-o", str(report), "--", *argv]
                 if perf else argv)
        out = subprocess.run([sys.executable, "-m", "benchmarks.cost", "exec", "--", *inner],
                             cwd=ROOT, env=env or _env(), check=True, stdout=subprocess.PIPE,
                             text=True).stdout
        fields = json.loads(out.strip().splitlines()[-1])
        fields["perf_cpu"] = _perf_seconds(report) if perf else None
    return Measured(**fields)


def _perf_seconds(report: Path) -> float | None:
    """task-clock seconds from a `perf stat -x,` report (None if perf could not count)."""
    for line in report.read_text().splitlines() if report.exists() else []:
        cells = line.split(",")
        if len(cells) > 2 and cells[2].startswith("task-clock"):
            try:
                return float(cells[0]) / 1e3
            except ValueError:
                return None
    return None


def _env() -> dict[str, str]:
    env = with_one_blas_thread()
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# -- validation: known busy loops, orphaned or killed like a sandbox ------------------------------

BUSY = ("import time, sys\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < {cpu}: pass\n"
        "{after}\n")

# The middle process plays the grader: starts a worker that burns `cpu` CPU seconds (then
# sleeps), waits, then either leaves it (orphan) or SIGKILLs its whole tree as
# grader/sandbox/process.py does (bwrap and the worker together) and reaps only its child.
MIDDLE = """
import os, signal, subprocess, time
argv = {argv!r}
p = subprocess.Popen(argv, start_new_session=True)
if {kill}:
    time.sleep({wait})
    kids = subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True, text=True).stdout.split()
    for pid in kids:
        try: os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError: pass
    p.wait()
"""


def _worker_argv(cpu: float, after: str, bwrap: bool) -> list[str]:
    code = BUSY.format(cpu=cpu, after=after)
    argv = [sys.executable, "-I", "-S", "-c", code]
    if bwrap and shutil.which("bwrap"):
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                "--proc", "/proc", "--dev", "/dev", "--", *argv]
    return argv


def validate(cpu: float = 1.0) -> list[tuple[str, float, Measured]]:
    """(case, known worker CPU, measured) for an orphaned worker and a killed bwrap worker."""
    cases = [("orphaned worker (its parent exits without waiting)",
              _worker_argv(cpu, "", bwrap=False), False),
             ("bwrap worker SIGKILLed with bwrap, as the grader's kill path does",
              _worker_argv(cpu, "time.sleep(600)", bwrap=True), True)]
    rows = []
    for label, argv, kill in cases:
        middle = MIDDLE.format(argv=argv, kill=kill, wait=cpu * 3 + 1)
        rows.append((label, cpu, measure([sys.executable, "-c", middle])))
    return rows


def print_validation(rows: list[tuple[str, float, Measured]]) -> bool:
    ok = True
    print("CPU meter check: a worker burns a known CPU time (python start-up adds ~0.05 s)")
    for label, cpu, m in rows:
        good = cpu <= m.best_cpu <= cpu + 0.5
        ok &= good
        perf = "-" if m.perf_cpu is None else f"{m.perf_cpu:.2f}"
        print(f"  {label}: known {cpu:.2f} s, metered {m.best_cpu:.2f} s [{'ok' if good else 'WRONG'}] "
              f"(perf {perf}, subreaper {m.cpu:.2f}, plain RUSAGE_CHILDREN {m.direct_cpu:.2f}, "
              f"orphans reaped {m.orphans})")
    return ok


# -- grading cost ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grading:
    assignment: str
    cpu: list[float]
    wall: list[float]
    direct_cpu: list[float]
    score: float
    max_score: float
    setup: dict[str, float]
    slowest: list[tuple[str, float]]        # (number and name, seconds), slowest first


def _copy_reference(assignment: str, dest: Path, n: int) -> Path:
    from benchmarks.throughput import make_copies     # imports grader: only when grading
    return make_copies(assignment, n, dest)


def grade_one(assignment: str, runs: int, work: Path) -> Grading:
    sub = _copy_reference(assignment, work / f"{assignment}-one", 1) / "copy00"
    cpu, wall, direct, data = [], [], [], {}
    for k in range(runs):
        results = work / f"{assignment}-results-{k}.json"
        m = measure([sys.executable, "-m", "grader", "run", assignment, str(sub),
                     "--results", str(results)])
        if m.returncode != 0:
            raise RuntimeError(f"grader run {assignment} exited {m.returncode}")
        cpu.append(m.best_cpu), wall.append(m.wall), direct.append(m.direct_cpu)
        data = json.loads(results.read_text())
    gk = data.get("extra_data", {}).get("gradekit", {})
    names = {t.get("number"): t.get("name", "") for t in data.get("tests", [])}
    seconds = gk.get("test_seconds") or {}
    slowest = sorted(seconds.items(), key=lambda kv: -kv[1])[:TOP_TESTS]
    return Grading(assignment, cpu, wall, direct, float(data.get("score", 0.0)),
                   float(gk.get("max_score") or 0.0), dict(gk.get("setup_seconds") or {}),
                   [(f"{num} {names.get(num, '')[:60]}", s) for num, s in slowest])


def grade_batch(assignment: str, n: int, jobs: int, work: Path) -> tuple[Measured, int]:
    classdir = _copy_reference(assignment, work / f"{assignment}-class-{n}", n)
    out = work / f"{assignment}-out-{n}"
    m = measure([sys.executable, "-m", "grader", "grade", assignment, str(classdir),
                 "--out", str(out), "--jobs", str(jobs), "--force", "--no-progress"])
    graded = sum(1 for _ in out.glob("*/results.json"))
    return m, graded


def print_gradings(rows: list[Grading]) -> None:
    from benchmarks.conv import print_aligned
    table = [["assignment", "CPU s (median)", "wall s (median)", "target CPU s", "meets",
              "grader-only CPU s", "score", "runs (CPU s)"]]
    for g in rows:
        med = statistics.median(g.cpu)
        target = TARGET_CPU.get(g.assignment)
        table.append([g.assignment, f"{med:.2f}", f"{statistics.median(g.wall):.2f}",
                      f"{target:.1f}" if target else "-",
                      ("yes" if med <= target else "no") if target else "-",
                      f"{statistics.median(g.direct_cpu):.2f}",
                      f"{g.score:g}/{g.max_score:g}", " ".join(f"{c:.2f}" for c in g.cpu)])
    print_aligned(table, numeric_from=1)
    print("(grader-only: what RUSAGE_CHILDREN of `grader run` alone sees; the difference is "
          "worker CPU re-parented by the kill path)")
    for g in rows:
        setup = ", ".join(f"{k} {v:.2f}" for k, v in g.setup.items())
        print(f"\n{g.assignment}: worker set-up (wall s) {setup or '-'}; slowest tests (wall s):")
        for label, s in g.slowest:
            print(f"  {s:6.2f}  {label}")


@dataclass(frozen=True)
class TestCost:
    """One test's CPU seconds: in the worker (student code, here the reference) and in the
    grader's own process (expected values, numeric-gradient bookkeeping, yardsticks)."""
    number: str
    name: str
    worker: float
    trusted: float
    passed: bool


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_test(assignment: str) -> list[TestCost]:
    """Per-test CPU of the reference, hidden tests first as in a grading but all in one
    worker, unisolated (the `plain` sandbox: our own reference code, and its pid is then a
    pid of this machine whose CPU /proc shows). Unlike results.json's `test_seconds` (wall),
    CPU seconds hardly move with the machine's load: what to compare before and after a
    change to a suite."""
    from grader.declaration import load
    from grader.framework import collect
    from grader.runner import open_submission, run_test
    os.environ["GRADEKIT_ALLOW_PLAIN"] = "1"
    specs = sorted(collect(assignment), key=lambda s: s.visibility == "visible")
    rows, flags = [], set()
    with open_submission(assignment, ROOT / "reference" / assignment, "plain") as (ctx, _):
        for module in (Path(f).stem for f in load(assignment).graded):
            ctx.worker.load(module)
        pid = int(ctx.worker.info["pid"])
        for spec in specs:
            worker, trusted = _process_cpu(pid), time.process_time()
            result = run_test(spec, ctx, flags)
            rows.append(TestCost(spec.number, spec.name, _process_cpu(pid) - worker,
                                time.process_time() - trusted,
                                result["score"] >= result["max_score"]))
    return rows


def print_test_cpu(assignment: str, rows: list[TestCost]) -> None:
    from benchmarks.conv import print_aligned
    total = sum(r.worker + r.trusted for r in rows)
    print(f"{assignment}: CPU s per test of the reference (plain worker, hidden tests first), "
          f"{total:.2f} s in all, most first")
    table = [["test", "name", "CPU s", "worker", "grader", "passed"]]
    for r in sorted(rows, key=lambda r: -(r.worker + r.trusted)):
        table.append([r.number, r.name[:60], f"{r.worker + r.trusted:.2f}", f"{r.worker:.2f}",
                      f"{r.trusted:.2f}", "yes" if r.passed else "NO"])
    print_aligned(table, numeric_from=2)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["exec"]:
        cmd = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        m = meter(cmd)
        print(json.dumps(m.__dict__))
        return 0
    if argv[:1] == ["validate"]:
        return 0 if print_validation(validate()) else 1
    if argv[:1] == ["tests"]:
        from grader.declaration import NAMES
        for name in argv[1:] or NAMES:
            print_test_cpu(name, cpu_per_test(name))
        return 0
    from grader.declaration import NAMES
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="gradings per assignment (median)")
    parser.add_argument("--n", type=int, default=TARGET_BATCH[0],
                        help=f"two_layer_net copies in the batch (default {TARGET_BATCH[0]}; 0: none)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignments", default=",".join(NAMES))
    args = parser.parse_args(argv)
    ok = print_validation(validate())
    print()
    with tempfile.TemporaryDirectory(prefix="gradekit-cost-") as tmp:
        work = Path(tmp)
        rows = [grade_one(a, args.runs, work) for a in args.assignments.split(",") if a]
        print(f"Per-submission cost: `grader run` on the reference, {args.runs} run(s) each, "
              "CPU of the whole process tree (workers included)")
        print_gradings(rows)
        ok &= all(g.score == g.max_score for g in rows)
        if args.n > 0:
            m, graded = grade_batch("two_layer_net", args.n, args.jobs, work)
            n_target, s_target = TARGET_BATCH
            print(f"\nBatch: {args.n} two_layer_net reference copies, `grade --jobs {args.jobs}`: "
                  f"wall {m.wall:.1f} s ({m.wall / args.n:.2f} s/submission, "
                  f"{60 * args.n / m.wall:.1f}/min), CPU {m.best_cpu:.1f} s "
                  f"({m.best_cpu / args.n:.2f} s/submission), {graded}/{args.n} graded; target: "
                  f"{n_target} in <= {s_target:.0f} s"
                  + (f" ({'met' if m.wall <= s_target else 'not met'})" if args.n == n_target
                     else f" (scaled: {m.wall * n_target / args.n:.0f} s for {n_target})"))
            ok &= graded == args.n and m.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
