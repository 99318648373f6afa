"""One build identity for everything graded with a given rule set.

A build id names the facts a grade depends on: the kit version, the assignment's declaration
(graded files, limits, settings), its tests (number, weight, visibility), the expected values,
the calibration, and the data variant with the hashes of the dataset files. Two grades with
the same build id were produced under the same rules; a batch re-grades a submission whose
stored build id differs, and the release, the autograder zip and every results.json carry it.

A packaged kit (student release, autograder zip) cannot recompute every fact (a release has
no hidden expected values), so publishing stamps `grader/suites/<name>/BUILD.json`; where the
stamp exists it is the answer.

A student release's `make submit` puts its build id in the submission (`RELEASE_MARKER`); the
autograder compares it with its own (`release_note`) and tells a student whose release is
older to download the new one. The marker is student-controlled: read bounded, only accepted
when it is exactly a build id, and only compared.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from grader import __version__
from grader.declaration import load
from grader.framework import collect

STAMP = "BUILD.json"
PREFIX = "gk-"
DIGITS = 12
PATTERN = re.compile(PREFIX + "[0-9a-f]{%d}" % DIGITS)
RELEASE_MARKER = ".gradekit-release"      # in a submission: the build id of the student's release
MARKER_MAX_BYTES = 256


def _sha256(path: Any) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_facts(datasets: tuple[str, ...]) -> dict[str, Any]:
    """The data variant in force and the sha256 of every dataset file it reads."""
    from hwdata import manifest as mf
    from hwdata.loader import dataset_files
    variant = mf.variant_name(os.environ.get(mf.ENV_VARIANT) or None)
    root = mf.data_root()
    files = {f: _sha256(root / f) for name in datasets for f in dataset_files(name)
             if f != mf.MANIFEST}
    return {"variant": variant or "original", "files": files}


def facts(assignment: str) -> dict[str, Any]:
    """Everything the build id covers, as plain JSON data."""
    decl = load(assignment)
    specs = collect(assignment)
    expected = sorted(p for p in (decl.suite_dir / "expected").glob("*.npz")
                      if not p.name.endswith(".tmp.npz"))
    return {
        "kit": __version__,
        "assignment": decl.name,
        "declaration": {"graded": decl.graded, "given": decl.given, "datasets": decl.datasets,
                        "report": decl.report, "limits": dataclasses.asdict(decl.limits),
                        "settings": decl.settings, "total": decl.total_points},
        "tests": [[s.number, s.weight, s.visibility] for s in specs],
        "expected": {p.name: _sha256(p) for p in expected},
        "calibration": decl.calibration(),
        "data": data_facts(decl.datasets),
    }


def compute(assignment: str) -> str:
    """The build id from the facts themselves."""
    text = json.dumps(facts(assignment), sort_keys=True, default=list)
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()[:DIGITS]


def stamped(assignment: str) -> str | None:
    """The id a publish step stamped into this (packaged) kit, if any."""
    path = load(assignment).suite_dir / STAMP
    if not path.exists():
        return None
    value = json.loads(path.read_text()).get("build_id")
    return value if isinstance(value, str) and PATTERN.fullmatch(value) else None


def build_id(assignment: str) -> str:
    """This kit's build id for `assignment`: the stamp of a packaged kit, else computed."""
    return stamped(assignment) or compute(assignment)


def stamp(assignment: str) -> dict[str, Any]:
    """The BUILD.json content a publish step writes beside the suite."""
    return {"build_id": compute(assignment), "kit": __version__,
            "data_variant": facts(assignment)["data"]["variant"]}


def weight_problem(assignment: str) -> str | None:
    """Why the tests' weights do not add up to the declaration's `total_points`, or None."""
    decl = load(assignment)
    total = sum(s.weight for s in collect(assignment))
    if abs(total - decl.total_points) > 1e-9:
        return (f"{assignment}: the tests' weights sum to {total:g}, but the declaration's "
                f"total_points is {decl.total_points:g}: fix a weight (grader/suites/"
                f"{assignment}/tests.py) or total_points (declaration.py)")
    return None


def release_of(submission: Path) -> str | None:
    """The release build id a submission carries (`RELEASE_MARKER` at its top), or None when
    absent or not exactly a build id (hostile input: bounded, never echoed otherwise)."""
    path = Path(submission) / RELEASE_MARKER
    try:
        if path.is_symlink() or not path.is_file():
            return None
        with open(path, "rb") as fh:
            raw = fh.read(MARKER_MAX_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MARKER_MAX_BYTES:
        return None
    text = raw.decode("ascii", errors="replace").strip()
    return text if PATTERN.fullmatch(text) else None


def release_note(submission: Path, current: str | None) -> str:
    """A line for the student when their release is not the grader's build ("" otherwise)."""
    theirs = release_of(submission)
    if theirs is None or current is None or theirs == current:
        return ""
    return (f"**Your release is older than the grader** (release {theirs}, grader {current}): "
            f"download the new release from the course page, move your files into it, run "
            f"`make check` and submit again. Your grade above is from the grader's current "
            f"tests.")
