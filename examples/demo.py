"""`make grade` with no arguments: build the demo class, grade it, check every intent.

Prints one table per assignment (student, what they did, score, the band it should be in)
and writes the batch outputs under OUT/<assignment>/ plus OUT/index.html. `--assignment NAME`
grades only that assignment's demo class (`make grade ASSIGNMENT=softmax`); `--dry-run` is the
regrade preview (`make regrade-preview`): each class graded in a scratch folder and compared
with OUT/<assignment>/, which is left as it is.

The demo students are ours, built from the reference, so where this machine offers no OS
isolation (no usable bubblewrap, not root: e.g. macOS) the demo still runs, in the `plain`
sandbox, after a loud warning that says how to get isolation. Real submissions never get that
default: `python -m grader grade` needs `--unsafe-no-isolation` for it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from examples.build import build, layout


def check_intents(intents: dict[str, dict], frames: dict) -> list[str]:
    """Students whose score is outside the band their edits deserve."""
    wrong = []
    for assignment, students in intents.items():
        table = frames[assignment].set_index("id")
        for sub_id, info in students.items():
            lo, hi = info["intent"]
            score = float(table.loc[sub_id, "total"])
            if not lo - 1e-6 <= score <= hi + 1e-6:
                wrong.append(f"{assignment}/{sub_id}: {score:g} not in [{lo:g}, {hi:g}] "
                             f"({info['story']})")
    return wrong


def ensure_sandbox() -> str:
    """The sandbox mode the demo will use; allows `plain` (with the warning) only when
    nothing stronger works here."""
    from grader.cli import allow_plain, preflight_isolation
    from grader.sandbox import SandboxUnavailable, isolation
    try:
        return preflight_isolation()
    except SandboxUnavailable:
        pass
    allow_plain("the bundled demo class only: no bubblewrap or root here")
    mode, _ = isolation.choose()
    return mode


def selected(intents: dict[str, dict], names: list[str]) -> dict[str, dict]:
    """The demo classes to grade: those named (all when none is), in course order."""
    return {a: v for a, v in intents.items() if not names or a in names}


def source(class_dir: Path, assignment: str) -> tuple[Path, bool]:
    """Where an assignment's demo class is and whether it is a Gradescope export (its bug
    table's `Demo.layout`; the TA's explicit choice, here the demo's own, makes a folder an
    export)."""
    return class_dir / assignment, layout(assignment) == "export"


def preview(chosen: dict[str, dict], args: argparse.Namespace) -> int:
    """The regrade preview of each chosen demo class against OUT/<assignment>/."""
    from grader.batch import preview_batch, preview_text
    for assignment in chosen:
        folder, export = source(args.class_dir, assignment)
        out = args.out / assignment
        moves, graded = preview_batch(assignment, [] if export else [folder], out,
                                      exports=[folder] if export else [], jobs=args.jobs)
        print(preview_text(assignment, moves, graded, out))
    return 0


def main(argv: list[str] | None = None) -> int:
    from grader.batch import grade_batch
    from grader.report import write_index
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__)
    parser.add_argument("--class-dir", default=Path("examples/class"), type=Path)
    parser.add_argument("--out", default=Path("out/grade"), type=Path)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="regrade finished submissions")
    parser.add_argument("--assignment", action="append", default=[], metavar="NAME",
                        help="grade only this assignment's demo class (repeatable)")
    parser.add_argument("--dry-run", action="store_true",
                        help="regrade preview: list whose score would move; OUT is not changed")
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="grade on a Dask cluster: tcp://HOST:8786 or local:N "
                             "(docs/staff/cluster.md)")
    args = parser.parse_args(argv)
    intents = build(args.class_dir)
    unknown = sorted(set(args.assignment) - set(intents))
    if unknown:
        parser.error(f"no demo class for {', '.join(unknown)} (demo classes: "
                     f"{', '.join(intents)})")
    ensure_sandbox()
    chosen = selected(intents, args.assignment)
    if args.dry_run:
        return preview(chosen, args)
    frames = {}
    for assignment in chosen:
        print(f"\n== {assignment} ==")
        folder, export = source(args.class_dir, assignment)
        executor = None
        if args.scheduler:
            from grader import cluster
            executor = cluster.checked_executor(args.scheduler, assignment)
        try:
            frames[assignment] = grade_batch(assignment, [] if export else [folder],
                                             args.out / assignment, jobs=args.jobs,
                                             force=args.force, executor=executor,
                                             exports=[folder] if export else [])
        finally:
            if executor is not None:
                executor.shutdown(wait=True)
        table = frames[assignment].set_index("id")
        for sub_id, info in intents[assignment].items():
            lo, hi = info["intent"]
            score = float(table.loc[sub_id, "total"])
            ok = "ok " if lo - 1e-6 <= score <= hi + 1e-6 else "!! "
            band = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
            print(f"  {ok}{sub_id:<15} {score:6.1f}/100  expected {band:<7} {info['story']}")
    write_index(args.out, frames)
    wrong = check_intents(chosen, frames)
    print(f"\nreports: {args.out / 'index.html'}")
    if wrong:
        print("demo students graded against their intent:\n  " + "\n  ".join(wrong))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
