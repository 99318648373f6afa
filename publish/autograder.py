"""`make autograder [ASSIGNMENT=<name>]`: the Gradescope autograder zip of an assignment.

    python -m publish.autograder [name]     # every assignment when no name is given

writes `dist/autograder/<name>.zip` (deterministic; the staging folder beside it), whose root
holds what Gradescope needs (`setup.sh`, `run_autograder`) and the kit the grader runs on:

    setup.sh run_autograder autograde.py autograder.json requirements.txt
    grader/      the grader with this assignment's suite, ALL its expected values, its calibration
    assignments/ the given helpers (student code runs with these, never the student's copies)
                 and the report template (the report checks compare against it)
    hwdata/ datasets/   the loader and this assignment's data (manifest covering exactly it)

plus `grader/suites/<name>/BUILD.json`, the build id (refused when the weights do not sum to
`total_points`; a warning when dist/student holds a release of another build).
Never `reference/`. How to use it: docs/staff/gradescope.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader import declaration
from grader.declaration import NAMES, Assignment, given_path
from publish.release import (DIST, SOLUTION_MARKER, Files, PublishRefused, build_stamp,
                             data_files, dist_mismatch, grader_files, hwdata_files, materialize,
                             rel, report_template, requirements_for, stamped_id, template, tree,
                             write_zip)

STUDENT_USER = "gradekit-student"      # setup.sh creates it; run_autograder runs student code as it
EXECUTABLES = ("setup.sh", "run_autograder")


def autograder_files(decl: Assignment) -> Files:
    """Everything in the autograder zip of `decl`, by zip path."""
    files: Files = {}
    files.update(grader_files(decl, hidden=True))
    for filename in decl.given:
        src = given_path("assignments", decl.name, filename)
        if not src.is_file():
            raise SystemExit(f"error: {src} is missing: run `make stubs` first")
        files[rel(src)] = src
    files.update(report_template(decl))
    files.update(hwdata_files())
    files.update(data_files(decl))
    files.update(build_stamp(decl))
    values = {"ASSIGNMENT": decl.name, "STUDENT_USER": STUDENT_USER}
    files["setup.sh"] = template("autograder/setup.sh", **values)
    files["run_autograder"] = template("autograder/run_autograder", **values)
    files["autograde.py"] = template("autograder/autograde.py")
    files["autograder.json"] = (json.dumps({"assignment": decl.name, "title": decl.title},
                                           indent=2, sort_keys=True) + "\n").encode()
    files["requirements.txt"] = requirements_for(files).encode()
    return files


def check_autograder(folder: Path) -> None:
    """Refuse to publish reference source (a last line of defence; the tests check more)."""
    bad = [p for p in tree(folder) if "reference" in p.relative_to(folder).parts
           or (p.suffix in (".py", ".md") and SOLUTION_MARKER.search(p.read_text()))]
    if bad:
        raise RuntimeError(f"autograder {folder} holds reference source: "
                           f"{', '.join(str(p.relative_to(folder)) for p in bad)}")


def build(name: str, out: Path = DIST / "autograder") -> Path:
    """Write `out/<name>/` (staging) and `out/<name>.zip`; returns the zip."""
    decl = declaration.load(name)
    folder = materialize(autograder_files(decl), out / name, executables=EXECUTABLES)
    check_autograder(folder)
    return write_zip(folder, out / f"{name}.zip")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m publish.autograder",
                                     description="Build Gradescope autograder zips.")
    parser.add_argument("assignment", nargs="?", choices=NAMES)
    parser.add_argument("--out", type=Path, default=DIST / "autograder")
    args = parser.parse_args(argv)
    for name in [args.assignment] if args.assignment else NAMES:
        try:
            zipped = build(name, args.out)
        except PublishRefused as exc:
            print(f"error: {exc}; no autograder built", file=sys.stderr)
            return 2
        print(f"{name}: {zipped} ({zipped.stat().st_size / 1e6:.1f} MB, build "
              f"{stamped_id(args.out / name, name)}): upload it as the autograder of the "
              f"Gradescope assignment (docs/staff/gradescope.md)")
        warn = dist_mismatch(name, args.out.parent)
        if warn:
            print(warn, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
