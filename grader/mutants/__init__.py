"""Mutation analysis for course staff: `python -m grader mutants ASSIGNMENT` grades mutated
copies of the reference and reports what the suite catches (docs/staff/mutants.md).

- `operators`: generic operator mutants of the solution regions (a small AST-based set);
- `catalog`: the mutants of an assignment, curated (its bugs.py) and generic;
- `equivalence` + `probes`: equivalent mutants detected on random inputs;
- `child`: the grade function a mutant's batch child runs (only the tests of its tags);
- `run`: mutants on the batch machinery (local pool or any executor), cached results;
- `report`: scores, kill matrix, survivors' diffs (HTML) and a CSV.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from grader.declaration import NAMES, ROOT

__all__ = ["main"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grader mutants",
                                description="Mutation analysis: grade mutated copies of the "
                                            "reference and report what the suite catches.")
    p.add_argument("assignment", choices=NAMES)
    p.add_argument("--out", type=Path, help="report and cache folder (default out/mutants/NAME)")
    p.add_argument("--jobs", type=int, default=None, help="mutants graded at once (default: cores)")
    p.add_argument("--only", choices=("all", "curated", "generic"), default="all")
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="grade at most N generic mutants, drawn at random (said in the report)")
    p.add_argument("--seed", type=int, default=0, help="the sample's seed")
    p.add_argument("--probe-seeds", type=int, default=10, metavar="K",
                   help="random input sets per probe in the equivalence check")
    p.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "uid", "plain"),
                   help="sandbox of every grading (plain: the mutants are staff's own code)")
    p.add_argument("--force", action="store_true", help="ignore cached results")
    p.add_argument("--executor", metavar="MODULE:FACTORY",
                   help="FACTORY(jobs) returns a concurrent.futures executor")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="grade on a Dask cluster (as `grade --scheduler`)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from grader import batch, cluster
    from grader.consent import ALLOW_PLAIN_ENV, preflight_isolation
    import grader.mutants.catalog as catalog
    import grader.mutants.report as report
    import grader.mutants.run as run
    args = parser().parse_args(argv)
    name = args.assignment
    out = args.out or ROOT / "out" / "mutants" / name
    if args.sandbox == "plain":
        os.environ[ALLOW_PLAIN_ENV] = "1"      # staff's reference, mutated: no student code
    elif args.sandbox == "auto":
        preflight_isolation()
    mutants, notes = [], []
    if args.only in ("all", "curated"):
        mutants += catalog.curated(name)
    if args.only in ("all", "generic"):
        found, total = catalog.generic(name, args.sample, args.seed)
        mutants += found
        if len(found) < total:
            notes.append(f"Generic mutants sampled: {len(found)} of {total} (seed {args.seed}).")
    executor = None
    if args.executor:
        executor = batch.resolve_callable(batch.callable_ref(args.executor))(args.jobs)
    elif args.scheduler:
        executor = cluster.checked_executor(args.scheduler, name,
                                            None if args.no_progress else print)
    t0 = time.monotonic()
    try:
        results, _, shaky = run.run(name, mutants, out, jobs=args.jobs or run.default_jobs(),
                             executor=executor, sandbox=args.sandbox, seeds=args.probe_seeds,
                             force=args.force, progress=not args.no_progress)
    finally:
        if executor is not None:
            executor.shutdown(wait=True)
    took = time.monotonic() - t0
    if shaky:
        notes.append("Tests the reference itself lost points on here (with all their tags "
                     "selected; e.g. speed under load), which therefore killed nothing: "
                     + ", ".join(shaky) + ".")
    cached = sum(r.cached for r in results)
    notes.append(f"{len(results)} mutants in {took:.0f} s wall ({cached} from the cache), "
                 f"sandbox {args.sandbox}, {args.jobs or run.default_jobs()} jobs.")
    page, table = report.write(out, name, results, catalog.reference_files(name), notes)
    print(report.summary_text(name, results))
    print("\n".join(notes))
    print(f"report: {page}\ncsv: {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
