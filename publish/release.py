"""`make release [ASSIGNMENT=<name>]`: the student release of an assignment.

    python -m publish.release [name]     # every assignment when no name is given

writes `dist/student/<name>/` and a deterministic `dist/student/<name>.zip` (one top folder
`<name>/`). Everything is read from the declaration (`grader.declaration.load(name)`):

    <graded stubs> <given helpers> README.md [REPORT.md]   what the student works on
    Makefile requirements.txt tools/                       `make check`, `make submit`
    grader/      the self-check: this assignment's suite and its VISIBLE expected values only
    hwdata/ datasets/   the loader and this assignment's processed data WITHOUT the test
                 labels (see `without_test_labels`), with a manifest covering exactly the
                 files shipped
    assignments/ pristine copies of the given helpers (and report template), where
                 `given_path` finds them: the grader uses these, as Gradescope does

Never shipped: `reference/`, hidden expected values, the hidden seed (blanked in
`grader/expected_values.py`, see `_redact_hidden_seed`: a suite's `expected_values.py` ships because its
tests import input helpers from it), `grader/calibration.py`, the bug tables (`bugs.py`) and the
class-grading modules, and of `calibration.json` anything but the keys `accuracy_band` reads
(see `release_calibration`).

Build identity (`grader.build_id`): the release and the autograder zip carry
`grader/suites/<name>/BUILD.json` (`build_id.stamp`), both refuse to build when the tests'
weights do not sum to the declaration's `total_points`, and after a build `dist_mismatch`
warns when dist/ holds a release and an autograder of one assignment with different build
ids (a stale weight shipped to students beside the new one on Gradescope). The release's
`make submit` writes its build id into the submission (`build_id.RELEASE_MARKER`).

The helpers at the top (zip, file selection, requirements, build id) are shared with
`publish.autograder`.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import sys
import types
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from grader import build_id as builds
from grader import declaration
from grader.declaration import NAMES, ROOT, Assignment, given_path

DIST = ROOT / "dist"
TEMPLATES = Path(__file__).resolve().parent / "templates"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)           # the earliest date a zip entry can hold
JUNK_DIRS = {"__pycache__", ".pytest_cache", ".git"}
# Class-grading and staff modules of grader/: grading one submission never imports them (they
# need pandas, matplotlib, ... which neither students nor Gradescope need). The tests grade
# with the packaged grader, which proves nothing needed is missing.
CLASS_TOOLS = ("batch.py", "intake.py", "report.py", "feedback.py", "calibration.py", "bugs.py",
               "templates")                  # the class report's page templates
# Suite files never used at grade time: the bug table (its edits quote the reference's
# solution lines). Files the autograder needs but the student release must not carry are
# declared by each assignment (`Assignment.grading_only`).
SUITE_STAFF_ONLY = ("bugs.py",)
SOLUTION_MARKER = re.compile(r"^[ \t]*(#|<!--)[ \t]*(BEGIN|END) SOLUTION", re.M)
# pip distribution name -> import name, where they differ beyond '-' vs '_'
IMPORT_NAMES = {"pyyaml": "yaml", "scikit-learn": "sklearn", "pillow": "PIL"}

Content = Union[Path, bytes]               # a file to copy, or the bytes to write
Files = dict[str, Content]                 # release-relative posix path -> content


# -- shared packaging helpers ------------------------------------------------------------------
def tree(folder: Path) -> list[Path]:
    """Every regular file below `folder`, sorted, without caches and compiled files."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.suffix != ".pyc"
                  and not JUNK_DIRS.intersection(p.relative_to(folder).parts))


def rel(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def grader_files(decl: Assignment, *, hidden: bool) -> Files:
    """The `grader/` package for one assignment: its own suite only, no class-grading tools;
    with `hidden=False` (the student release) only visible expected values, the hidden seed blanked
    and a calibration reduced to what the thresholds need."""
    base = ROOT / "grader"
    files: Files = {}
    for p in tree(base):
        parts = p.relative_to(base).parts
        if parts[0] in CLASS_TOOLS:
            continue
        if parts[0] == "suites" and len(parts) > 2:
            if parts[1] != decl.name or parts[2] in SUITE_STAFF_ONLY:
                continue
            if not hidden and parts[2] in decl.grading_only:
                continue
            if parts[2] == "expected" and (p.name.endswith(".tmp.npz")
                                           or (not hidden and not p.name.startswith("visible."))):
                continue
            if parts[2] == "calibration.json" and not hidden:
                files[rel(p)] = _json_bytes(release_calibration(decl))
                continue
        files[rel(p)] = p
    if not hidden:
        builder_py = base / "expected_values.py"
        files[rel(builder_py)] = _redact_hidden_seed(builder_py.read_text()).encode()
    return files


def _redact_hidden_seed(source: str) -> str:
    """`grader/expected_values.py` with SEEDS reduced to the visible set: with the hidden seed and
    the suite's input generators a student could rebuild the hidden inputs."""
    from grader import expected_values
    tree_ = ast.parse(source)
    for node in tree_.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(t, ast.Name) and t.id == "SEEDS"
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])):
            lines = source.splitlines(keepends=True)
            visible = {k: v for k, v in expected_values.SEEDS.items() if k == "visible"}
            new = (f"SEEDS = {visible!r}   # student release: the hidden set is staff-only\n")
            return "".join(lines[:node.lineno - 1] + [new] + lines[node.end_lineno:])
    raise RuntimeError("grader/expected_values.py defines no SEEDS: cannot blank the hidden seed "
                       "for the student release")


class _KeyRecorder(dict):
    """A dict that remembers which keys were looked at."""

    def __init__(self, data: Mapping[str, Any]):
        super().__init__(data)
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.used.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.used.add(str(key))
        return super().__contains__(key)


def release_calibration(decl: Assignment) -> dict[str, Any]:
    """Only the calibration keys `accuracy_band` reads (found by watching it read them), checked
    to give the same band: thresholds, not the reference's per-seed results or settings."""
    from grader.checks.accuracy import accuracy_band
    full = decl.calibration()
    if not full:
        return {}
    recorder = _KeyRecorder(full)
    band = accuracy_band(_with_calibration(decl, recorder))
    reduced = {k: full[k] for k in sorted(recorder.used) if k in full}
    if accuracy_band(_with_calibration(decl, reduced)) != band:
        raise RuntimeError(f"{decl.name}: reduced calibration {sorted(reduced)} does not "
                           f"reproduce the accuracy band {band}")
    return reduced


def _with_calibration(decl: Assignment, calib: Mapping[str, Any]) -> Any:
    """A stand-in declaration whose calibration() returns `calib`."""
    fields = {f: getattr(decl, f) for f in decl.__dataclass_fields__}
    return types.SimpleNamespace(**fields, calibration=lambda: calib)


def report_template(decl: Assignment) -> Files:
    """The pristine report template where the suite reads it (it tells an unfilled section,
    the instructions left as they are, from an answer)."""
    if not decl.report:
        return {}
    src = given_path("assignments", decl.name, decl.report)
    if not src.is_file():
        raise SystemExit(f"error: {src} is missing: run `make stubs` first")
    return {rel(src): src}


def hwdata_files() -> Files:
    """The `hwdata/` package (loader; its build scripts are harmless without the sources)."""
    return {rel(p): p for p in tree(ROOT / "hwdata")}


# Arrays of a processed data file that never ship to students: the test labels, and the
# test rows' positions in the public source (which would give the labels away as well).
WITHHELD_ARRAYS = ("y_test", "idx_test")


def without_test_labels(path: Path) -> tuple[bytes, list[str]]:
    """A processed .npz minus WITHHELD_ARRAYS (deterministic bytes), and the arrays kept."""
    import io
    from hwdata.npzfile import read_npz, write_npz
    arrays = {k: v for k, v in read_npz(path).items() if k not in WITHHELD_ARRAYS}
    buf = io.BytesIO()
    write_npz(buf, arrays)
    return buf.getvalue(), sorted(arrays)


def data_files(decl: Assignment, *, test_labels: bool = True) -> Files:
    """This assignment's processed data and a manifest covering exactly those files (plus
    the attribution). With $GRADEKIT_DATA_VARIANT set (a new term), that variant becomes the
    package's default, so `hwdata.load(name)` reads it without any setting. With
    `test_labels=False` (the student release) the data files lose their test labels and the
    manifest describes the files as shipped."""
    import hwdata
    from hwdata import manifest as mf
    root = hwdata.data_root()
    full = mf.read(root)
    variant = mf.variant_name(os.environ.get(mf.ENV_VARIANT) or None)
    section = mf.section(full, variant)
    if section is None:
        raise SystemExit(f"error: {root / mf.MANIFEST} has no variant {variant}; run "
                         f"`make datasets SEED={variant.split('-', 1)[1]}`")
    shipped = sorted({f for name in decl.datasets for f in hwdata.dataset_files(name, variant)
                      if f != mf.MANIFEST})
    shipped += sorted(f for f, e in full.get("files", {}).items()
                      if e.get("kind") == "attribution" and f not in shipped)
    everything = {**full.get("files", {}), **section.get("files", {})}
    manifest = {k: v for k, v in full.items() if k not in ("datasets", "files", "variants")}
    manifest["datasets"] = {n: section["datasets"][n] for n in decl.datasets}
    manifest["files"] = {f: everything[f] for f in shipped}
    if variant:
        manifest["variant"] = variant
    files: Files = {f"datasets/{f}": root / f for f in shipped}
    if not test_labels:
        for f in shipped:
            if manifest["files"][f].get("kind") == "processed":
                data, kept = without_test_labels(root / f)
                files[f"datasets/{f}"] = data
                entry = dict(manifest["files"][f], bytes=len(data), sha256=mf.sha256_bytes(data))
                if isinstance(entry.get("arrays"), dict):
                    entry["arrays"] = {k: v for k, v in entry["arrays"].items() if k in kept}
                elif isinstance(entry.get("arrays"), list):
                    entry["arrays"] = [k for k in entry["arrays"] if k in kept]
                manifest["files"][f] = entry
    files["datasets/" + mf.MANIFEST] = mf.dumps(manifest)
    return files


def requirements_for(files: Files) -> str:
    """The pins of `requirements/core.txt` whose packages the packaged Python code imports
    (one source of truth for versions; nothing installed that nothing uses)."""
    imported: set[str] = set()
    for path, content in files.items():
        if path.endswith(".py"):
            text = content.read_text() if isinstance(content, Path) else content.decode()
            imported |= _top_level_imports(text)
    lines = ["# Pinned from gradekit's requirements/core.txt: what this package imports."]
    for line in (ROOT / "requirements" / "core.txt").read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        dist = re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].lower()
        if IMPORT_NAMES.get(dist, dist.replace("-", "_")) in imported:
            lines.append(spec)
    return "\n".join(lines) + "\n"


def _top_level_imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def template(path: str, **values: str) -> bytes:
    """A file of publish/templates with `@KEY@` placeholders filled in."""
    text = (TEMPLATES / path).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError(f"template {path}: unfilled placeholders {sorted(set(left))}")
    return text.encode()


def materialize(files: Files, dest: Path, executables: Iterable[str] = ()) -> Path:
    """Write `files` into a fresh `dest` (removed first) with fixed permissions."""
    execs = set(executables)
    if dest.exists():
        shutil.rmtree(dest)
    for path, content in sorted(files.items()):
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(content)
        target.chmod(0o755 if path in execs else 0o644)
    return dest


def write_zip(folder: Path, zip_path: Path, prefix: str = "") -> Path:
    """Zip `folder`'s files deterministically: sorted entries, fixed dates, Unix modes (the
    executable bit kept), fixed compression; written to a temp name, then renamed."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for p in tree(folder):
            info = zipfile.ZipInfo(prefix + p.relative_to(folder).as_posix(), ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            mode = 0o755 if p.stat().st_mode & 0o100 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, p.read_bytes(), compresslevel=9)
    tmp.replace(zip_path)
    return zip_path


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PublishRefused(RuntimeError):
    """A build that must not ship (weights that do not add up); the message says what to fix."""


def build_stamp(decl: Assignment) -> Files:
    """BUILD.json in the packaged suite, after checking the weights add up."""
    problem = builds.weight_problem(decl.name)
    if problem:
        raise PublishRefused(problem)
    return {rel(decl.suite_dir / builds.STAMP): _json_bytes(builds.stamp(decl.name))}


def stamped_id(folder: Path, name: str) -> str | None:
    """The build id stamped in a built release or autograder folder, if any."""
    path = folder / "grader" / "suites" / name / builds.STAMP
    try:
        value = json.loads(path.read_text()).get("build_id")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def dist_mismatch(name: str, dist: Path = DIST) -> str | None:
    """A warning when dist/ holds a student release and an autograder of `name` built with
    different build ids, else None."""
    release = stamped_id(dist / "student" / name, name)
    grader = stamped_id(dist / "autograder" / name, name)
    if release and grader and release != grader:
        return (f"warning: {name}: dist/student holds release {release} but dist/autograder "
                f"holds {grader}: students would check against other rules than Gradescope "
                f"grades with; rebuild both (`make release autograder ASSIGNMENT={name}`)")
    return None


# -- the student release -----------------------------------------------------------------------
def student_files(decl: Assignment) -> Files:
    """Everything in the student release of `decl`, by release-relative path."""
    name = decl.name
    own = declaration.source_dir("assignments") / name
    files: Files = {}
    for filename in decl.graded:
        files[filename] = own / filename
    for filename in decl.given:
        src = given_path("assignments", name, filename)
        files[filename] = src               # the copy the student may read and edit
        files[rel(src)] = src               # the pristine copy the self-check uses
    readme = (own / "README.md").read_text() if (own / "README.md").exists() else \
        f"# {decl.title}\n"
    files["README.md"] = readme.rstrip("\n").encode() + b"\n\n" + template(
        "student/README-release.md", ASSIGNMENT=name, SUBMITTED=", ".join(
            f"`{f}`" for f in decl.submitted), GIVEN=", ".join(f"`{f}`" for f in decl.given))
    if decl.report:
        files[decl.report] = own / decl.report                 # the student's to fill in
        files.update(report_template(decl))
    for path, src in files.items():
        if isinstance(src, Path) and not src.is_file():
            raise SystemExit(f"error: {src} is missing: run `make stubs` first")
    files.update(grader_files(decl, hidden=False))
    files.update(hwdata_files())
    files.update(data_files(decl, test_labels=False))
    files.update(build_stamp(decl))
    files["Makefile"] = template("student/Makefile", ASSIGNMENT=name)
    files["tools/submit.py"] = template("student/submit.py")
    files["tools/stubs.json"] = _json_bytes(
        {f: sha256(Path(files[f]).read_bytes()) for f in decl.submitted})
    files["requirements.txt"] = requirements_for(files).encode()
    return files


def build(name: str, out: Path = DIST / "student") -> tuple[Path, Path]:
    """Write `out/<name>/` and `out/<name>.zip`; returns both paths."""
    decl = declaration.load(name)
    folder = materialize(student_files(decl), out / name)
    check_release(folder)
    return folder, write_zip(folder, out / f"{name}.zip", prefix=f"{name}/")


def check_release(folder: Path) -> None:
    """Refuse to publish a release holding anything staff-only (a last line of defence; the
    tests check much more)."""
    bad = [p for p in tree(folder)
           if p.name.startswith("hidden.") or "reference" in p.relative_to(folder).parts
           or SOLUTION_MARKER.search(p.read_text(errors="replace"))]
    if bad:
        raise RuntimeError(f"release {folder} holds staff-only files: "
                           f"{', '.join(str(p.relative_to(folder)) for p in bad)}")


def check_dist(names: list[str], dist: Path = DIST) -> int:
    """0 when dist/ holds a release and an autograder of every name, stamped with one build
    id each; else 1, saying which (the last step of `make new-term`)."""
    bad = 0
    for name in names:
        ids = {kind: stamped_id(dist / kind / name, name) for kind in ("student", "autograder")}
        same = ids["student"] is not None and ids["student"] == ids["autograder"]
        bad += not same
        print(f"{name}: release {ids['student'] or 'missing'}, autograder "
              f"{ids['autograder'] or 'missing'}{'' if same else '  <- not one build'}",
              file=sys.stdout if same else sys.stderr)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m publish.release",
                                     description="Build student releases in dist/student/.")
    parser.add_argument("assignment", nargs="?", choices=NAMES)
    parser.add_argument("--out", type=Path, default=DIST / "student")
    parser.add_argument("--check-dist", action="store_true",
                        help="build nothing: exit 1 unless dist/ holds a release and an "
                             "autograder of each assignment with one build id")
    args = parser.parse_args(argv)
    if args.check_dist:
        return check_dist([args.assignment] if args.assignment else list(NAMES), args.out.parent)
    for name in [args.assignment] if args.assignment else NAMES:
        try:
            folder, zipped = build(name, args.out)
        except PublishRefused as exc:
            print(f"error: {exc}; no release built", file=sys.stderr)
            return 2
        count = len(tree(folder))
        print(f"{name}: {folder} ({count} files, build {stamped_id(folder, name)}) -> {zipped} "
              f"({zipped.stat().st_size / 1e6:.1f} MB)")
        warn = dist_mismatch(name, args.out.parent)
        if warn:
            print(warn, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
