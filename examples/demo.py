"""`make grade` with no arguments: build the demo class, grade it, check every intent.

Prints one table per assignment (student, what they did, score, the band it should be in)
and writes the batch outputs under OUT/<assignment>/ plus OUT/index.html.

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


def main(argv: list[str] | None = None) -> int:
    from grader.batch import grade_batch
    from grader.report import write_index
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__)
    parser.add_argument("--class-dir", default=Path("examples/class"), type=Path)
    parser.add_argument("--out", default=Path("out/grade"), type=Path)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="regrade finished submissions")
    args = parser.parse_args(argv)
    ensure_sandbox()
    intents = build(args.class_dir)
    frames = {}
    for assignment in intents:
        print(f"\n== {assignment} ==")
        # An assignment's demo class may arrive as a Gradescope export (its bug table's
        # `Demo.layout`); the TA's explicit choice, here the demo's own, is what makes a
        # folder an export.
        folder = args.class_dir / assignment
        export = layout(assignment) == "export"
        frames[assignment] = grade_batch(assignment, [] if export else [folder],
                                         args.out / assignment, jobs=args.jobs,
                                         force=args.force, exports=[folder] if export else [])
        table = frames[assignment].set_index("id")
        for sub_id, info in intents[assignment].items():
            lo, hi = info["intent"]
            score = float(table.loc[sub_id, "total"])
            ok = "ok " if lo - 1e-6 <= score <= hi + 1e-6 else "!! "
            band = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
            print(f"  {ok}{sub_id:<15} {score:6.1f}/100  expected {band:<7} {info['story']}")
    write_index(args.out, frames)
    wrong = check_intents(intents, frames)
    print(f"\nreports: {args.out / 'index.html'}")
    if wrong:
        print("demo students graded against their intent:\n  " + "\n  ".join(wrong))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
