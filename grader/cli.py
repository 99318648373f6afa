"""`python -m grader run|grade|check` (README.md). Exit 0 whenever grading completed.

The top of the import graph: this module calls the runner (`run`, `check`) and the batch
(`grade`); nothing in `grader` imports it. Everything printed passes through
`safetext.terminal` (student text may hold escape sequences). `run` and `grade` refuse the
`plain` sandbox (no OS isolation) unless the TA passes `--unsafe-no-isolation`
(`grader.consent`); `check`, a student's self-check of their own code on their own machine,
allows it by itself.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from concurrent.futures import Executor
from pathlib import Path

from grader import results as res
from grader import safetext
from grader.consent import ALLOW_PLAIN_ENV, allow_plain, preflight_isolation
from grader.declaration import NAMES

__all__ = ["ALLOW_PLAIN_ENV", "allow_plain", "main", "preflight_isolation", "say"]


def say(text: str = "", *, err: bool = False) -> None:
    """Print text that may hold student-controlled parts, without control characters."""
    print(safetext.terminal(text, 100_000), file=sys.stderr if err else sys.stdout)


def _unpack(path: Path, tmp: Path) -> Path:
    """A submission folder, or a zip extracted safely into `tmp`."""
    if path.is_dir():
        return path
    if path.is_file() and path.suffix.lower() == ".zip":
        from grader.intake import IntakeError, extract_zip
        dest = tmp / "submission"
        try:
            extract_zip(path, dest)
        except IntakeError as exc:
            raise SystemExit(safetext.terminal(f"error: {path}: {exc.message} ({exc.status})")) from None
        return dest
    raise SystemExit(safetext.terminal(f"error: {path} is neither a folder nor a .zip file"))


def _isolation(args: argparse.Namespace) -> None:
    """Apply `--unsafe-no-isolation` (or refuse early, saying what to do)."""
    from grader.sandbox import SandboxUnavailable
    if getattr(args, "unsafe_no_isolation", False):
        allow_plain("--unsafe-no-isolation")
    if args.sandbox in ("auto", "plain"):
        try:
            if args.sandbox == "plain" and not getattr(args, "unsafe_no_isolation", False):
                raise SandboxUnavailable("--sandbox plain has no OS isolation: add "
                                         "--unsafe-no-isolation to use it knowingly")
            preflight_isolation()
        except SandboxUnavailable as exc:
            raise SystemExit(safetext.terminal(f"error: {exc}")) from None


def cmd_run(args: argparse.Namespace) -> int:
    from grader.runner import grade_submission, summary
    _isolation(args)
    with tempfile.TemporaryDirectory(prefix="gradekit-run-") as tmp:
        submission = _unpack(Path(args.submission), Path(tmp))
        data = grade_submission(args.assignment, submission, results_path=Path(args.results),
                                sandbox_mode=args.sandbox)
    say(f"{args.assignment}: {args.submission}")
    say(summary(data))
    say(f"results written to {args.results}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from grader.runner import grade_submission, summary
    os.environ[ALLOW_PLAIN_ENV] = "1"     # the student's own code on the student's own machine
    data = grade_submission(args.assignment, Path(args.dir), results_path=None,
                            visible_only=True, sandbox_mode=args.sandbox)
    say(summary(data).rsplit("\n", 1)[0])
    got = data["score"]
    total = res.gradekit_of(data).max_score or 0.0
    say(f"\nvisible tests: {got:.2f}/{total:.2f} points; hidden tests run after submission")
    return 0


# -- grade: a whole class ---------------------------------------------------------------------
def add_grade_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", nargs="?", help=f"one of: {', '.join(NAMES)}")
    parser.add_argument("paths", nargs="*", metavar="path",
                        help="a folder of submission folders or zips, or single zips or folders "
                             "(never read as a Gradescope export: use --export)")
    parser.add_argument("--export", action="append", default=[], metavar="PATH",
                        help="a Gradescope 'Export Submissions' zip or folder; only these give "
                             "student names, emails and ids (repeatable)")
    parser.add_argument("--out", default="out/grade", help="output folder (default: out/grade)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel submissions (default: cores)")
    parser.add_argument("--force", action="store_true",
                        help="regrade submissions already graded in OUT (a changed build id "
                             "re-grades by itself)")
    parser.add_argument("--dry-run", action="store_true",
                        help="regrade preview: grade into a scratch folder and list whose score "
                             "would move (and on which tests); OUT is not changed")
    parser.add_argument("--time-budget", type=float, default=None, metavar="S",
                        help="wall-clock seconds per submission (default: from the assignment)")
    parser.add_argument("--executor", metavar="MODULE:FACTORY",
                        help="FACTORY(jobs) returns a concurrent.futures executor, e.g. "
                             "distributed.Client(addr).get_executor()")
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="grade on a Dask cluster: tcp://HOST:8786 (a running scheduler) or "
                             "local:N (N worker processes here); needs requirements/cluster.txt "
                             "(docs/staff/cluster.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or summary")
    add_unsafe_argument(parser)
    parser.add_argument("--grade-fn", help=argparse.SUPPRESS)   # tests: a fake grader


def add_unsafe_argument(parser: argparse.ArgumentParser) -> None:
    """`--unsafe-no-isolation`: the TA's explicit consent to the `plain` sandbox."""
    parser.add_argument("--unsafe-no-isolation", action="store_true",
                        help="allow grading without OS isolation where no sandbox exists "
                             "(student code then runs as you; every row says so)")


def _make_executor(spec: str, jobs: int | None) -> Executor:
    from grader.batch import callable_ref, resolve_callable
    return resolve_callable(callable_ref(spec))(jobs)


def _cluster(scheduler: str, assignment: str, verbose: bool) -> Executor:
    from grader import cluster
    return cluster.checked_executor(scheduler, assignment, say if verbose else None)


def _usage_error(message: str) -> int:
    print(safetext.terminal(f"error: {message}"), file=sys.stderr)
    return 2


def cmd_grade(args: argparse.Namespace) -> int:
    """`python -m grader grade`: 0 when grading completed, 2 when it could not start."""
    from grader.batch import grade_batch, preview_batch, preview_text
    from grader.intake import display
    from grader.sandbox import SandboxUnavailable
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    if args.assignment not in NAMES:
        return _usage_error(f"give an assignment ({', '.join(NAMES)}) and the submissions to "
                            f"grade, e.g. python -m grader grade softmax --export path/to/export.zip")
    if not args.paths and not args.export:
        return _usage_error("no submissions given: pass folders or zips of submissions, or a "
                            "Gradescope export with --export")
    if args.unsafe_no_isolation:
        allow_plain("--unsafe-no-isolation")
    if args.grade_fn is None:
        try:
            preflight_isolation()
        except SandboxUnavailable as exc:
            return _usage_error(str(exc))
    kwargs = dict(jobs=args.jobs, time_budget=args.time_budget,
                  progress=not args.no_progress, grade_fn=args.grade_fn,
                  exports=[Path(p) for p in args.export])
    if args.scheduler and args.executor:
        return _usage_error("give --scheduler or --executor, not both")
    try:
        executor = (_cluster(args.scheduler, args.assignment, not args.no_progress)
                    if args.scheduler else
                    _make_executor(args.executor, args.jobs) if args.executor else None)
    except RuntimeError as exc:            # no distributed, no scheduler, another kit
        return _usage_error(str(exc))
    out = Path(args.out)
    paths = [Path(p) for p in args.paths]
    try:
        if args.dry_run:
            moves, graded = preview_batch(args.assignment, paths, out, executor=executor, **kwargs)
            say(preview_text(args.assignment, moves, graded, out))
            return 0
        grade_batch(args.assignment, paths, out, executor=executor, force=args.force, **kwargs)
        return 0
    except FileNotFoundError as exc:
        return _usage_error(f"{exc}; pass folders or zips of submissions, or a Gradescope "
                            f"export with --export")
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished submissions are kept in {display(out)}; run the "
              f"same command again to grade the rest", file=sys.stderr)
        return 130
    finally:
        if executor is not None:
            executor.shutdown(wait=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="grade one submission and write results.json")
    run.add_argument("assignment", choices=NAMES)
    run.add_argument("submission", help="a submission folder or .zip")
    run.add_argument("--results", default="results.json", help="where to write results.json")
    run.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "uid", "plain"))
    run.add_argument("--unsafe-no-isolation", action="store_true",
                     help="allow the plain sandbox (no OS isolation: student code runs as you)")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="self-check: run the visible tests on your files")
    check.add_argument("assignment", choices=NAMES)
    check.add_argument("dir", nargs="?", default=".", help="folder holding your files")
    check.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "uid", "plain"))
    check.set_defaults(func=cmd_check)

    grade = sub.add_parser("grade", help="grade a whole class")
    add_grade_arguments(grade)
    grade.set_defaults(func=cmd_grade)

    for name, (_module, text) in STAFF_TOOLS.items():
        sub.add_parser(name, help=text, add_help=False)   # listed in --help; run below

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in STAFF_TOOLS:
        import importlib
        return int(importlib.import_module(STAFF_TOOLS[argv[0]][0]).main(argv[1:]) or 0)
    args = parser.parse_args(argv)
    return args.func(args)


# Staff tools with their own argument parsers: `python -m grader NAME ...` runs MODULE.main(rest).
STAFF_TOOLS: dict[str, tuple[str, str]] = {
    "mutants": ("grader.mutants", "mutation analysis: what each suite catches (staff)"),
    "similarity": ("grader.similarity", "similarity report over a class's submissions (staff)"),
}


if __name__ == "__main__":
    sys.exit(main())
