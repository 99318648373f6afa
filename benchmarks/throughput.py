"""`make bench`: batch-grading throughput — N copies of the reference per assignment, graded
with 1 and with 2 jobs through the real pipeline (intake, one child process per submission,
sandboxed worker, reports).

    python -m benchmarks.throughput                  # N=4 per assignment, jobs 1 and 2
    python -m benchmarks.throughput --n 4 --assignments softmax --jobs 1,2,4

Each copy holds the reference's submitted files (graded code plus REPORT.md where the
assignment has one), so every one should score full marks; the table shows the mean score
as a check. Timings are wall clock for the whole `grade_batch` call and depend on whatever
else runs on the machine; "speed-up" is the 1-job time over the N-job time.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader.batch import grade_batch
from grader.declaration import NAMES, load, source_dir


def make_copies(assignment: str, n: int, dest: Path) -> Path:
    """`dest` holding n submission folders, each a copy of the reference's submitted files."""
    decl = load(assignment)
    for i in range(n):
        sub = dest / f"copy{i:02d}"
        sub.mkdir(parents=True)
        for filename in decl.submitted:
            shutil.copyfile(source_dir("reference") / assignment / filename, sub / filename)
    return dest


def measure(assignment: str, n: int, jobs: int, work: Path) -> dict[str, float]:
    classdir = work / f"{assignment}-class"
    if not classdir.exists():
        make_copies(assignment, n, classdir)
    start = time.perf_counter()
    df = grade_batch(assignment, [classdir], work / f"{assignment}-out-{jobs}", jobs=jobs,
                     force=True, progress=False)
    wall = time.perf_counter() - start
    return {"wall": wall, "per_sub": wall / n, "per_min": 60.0 * n / wall,
            "mean_score": float(df["total"].mean()), "graded": int((df["status"] == "graded").sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4, help="copies per assignment (default 4)")
    parser.add_argument("--assignments", default=",".join(NAMES))
    parser.add_argument("--jobs", default="1,2", help="comma-separated job counts (default 1,2)")
    args = parser.parse_args(argv)
    names = [a for a in args.assignments.split(",") if a]
    job_counts = [int(j) for j in args.jobs.split(",")]
    print(f"grading throughput: {args.n} copies of the reference per assignment")
    print(f"{'assignment':<15} {'jobs':>4} {'wall s':>8} {'s/sub':>7} {'subs/min':>9} "
          f"{'speed-up':>8} {'mean score':>10}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="gradekit-bench-") as tmp:
        for assignment in names:
            base = None
            for jobs in job_counts:
                r = measure(assignment, args.n, jobs, Path(tmp))
                base = base or r["wall"]
                ok &= r["graded"] == args.n
                print(f"{assignment:<15} {jobs:>4} {r['wall']:>8.1f} {r['per_sub']:>7.2f} "
                      f"{r['per_min']:>9.1f} {base / r['wall']:>7.2f}x {r['mean_score']:>10.1f}",
                      flush=True)
    if not ok:
        print("some copies were not graded cleanly: see the table's mean score", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
