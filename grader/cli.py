"""`python -m grader run|grade|check` (README.md). Exit 0 whenever grading completed.

Everything printed passes through `safetext.terminal` (student text may hold escape
sequences). `run` and `grade` refuse the `plain` sandbox (no OS isolation) unless the TA
passes `--unsafe-no-isolation`; `check`, a student's self-check of their own code on their own
machine, allows it by itself.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from grader import safetext
from grader.declaration import NAMES

ALLOW_PLAIN_ENV = "GRADEKIT_ALLOW_PLAIN"   # the one switch that lets the sandbox run `plain`
NO_ISOLATION_WARNING = (
    "WARNING: grading WITHOUT OS isolation (sandbox mode 'plain'): student code runs as your "
    "user and can read and change your files, including other students' results. For "
    "isolation, grade on Linux with bubblewrap (apt-get install bubblewrap), in a Linux "
    "container, or on Gradescope.")


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


def allow_plain(reason: str = "") -> None:
    """Let the sandbox use `plain` (children inherit it) and say so loudly on stderr."""
    os.environ[ALLOW_PLAIN_ENV] = "1"
    say(NO_ISOLATION_WARNING + (f" ({reason})" if reason else ""), err=True)


def preflight_isolation() -> str:
    """The sandbox mode real grading will use; SandboxUnavailable (saying what to do) when
    the only mode here is `plain` and the TA has not allowed it."""
    from grader.sandbox import isolation
    mode, _ = isolation.choose()
    if mode == "plain" and os.environ.get(ALLOW_PLAIN_ENV) != "1":
        raise isolation.SandboxUnavailable(
            "no OS isolation is available here (no usable bubblewrap, not root): student code "
            "would run as your user. Grade on Linux with bubblewrap (apt-get install "
            "bubblewrap), in a Linux container, or on Gradescope; or, knowingly, pass "
            "--unsafe-no-isolation")
    return mode


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
    total = data["extra_data"]["gradekit"]["max_score"]
    say(f"\nvisible tests: {got:g}/{total:g} points; hidden tests run after submission")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from grader import batch
    return batch.main_grade(args)


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
    try:
        from grader import batch
        batch.add_grade_arguments(grade)
    except ImportError:  # pragma: no cover - only while the batch grader is absent
        grade.add_argument("rest", nargs="*")
    grade.set_defaults(func=cmd_grade)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
