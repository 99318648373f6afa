"""`python -m grader run|grade|check` (SPEC §6). Exit 0 whenever grading completed."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grader.declaration import NAMES


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
            raise SystemExit(f"error: {path}: {exc.message} ({exc.status})") from None
        return dest
    raise SystemExit(f"error: {path} is neither a folder nor a .zip file")


def cmd_run(args: argparse.Namespace) -> int:
    from grader.runner import grade_submission, summary
    with tempfile.TemporaryDirectory(prefix="gradekit-run-") as tmp:
        submission = _unpack(Path(args.submission), Path(tmp))
        data = grade_submission(args.assignment, submission, results_path=Path(args.results),
                                sandbox_mode=args.sandbox)
    print(f"{args.assignment}: {args.submission}")
    print(summary(data))
    print(f"results written to {args.results}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from grader.runner import grade_submission, summary
    data = grade_submission(args.assignment, Path(args.dir), results_path=None,
                            visible_only=True, sandbox_mode=args.sandbox)
    print(summary(data).rsplit("\n", 1)[0])
    got = data["score"]
    total = data["extra_data"]["gradekit"]["max_score"]
    print(f"\nvisible tests: {got:g}/{total:g} points; hidden tests run after submission")
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
