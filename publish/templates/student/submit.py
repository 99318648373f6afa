"""`make submit`: check your files, then write <assignment>-submission.zip for Gradescope.

    python tools/submit.py <assignment>

The zip holds exactly the files the grader reads (from the assignment's declaration), at its
top level. Before writing it, each file must exist; each Python file must parse, use no
forbidden package and import without error in a fresh Python process (numpy and the given
helpers only, time-limited). A file identical to the untouched stub only gets a warning: you
may hand in a partial solution. The zip also holds `.gradekit-release`, this release's build
id: the grader uses it to tell you when a newer release exists.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.build_id import RELEASE_MARKER, stamped  # noqa: E402  (needs ROOT on sys.path)
from grader.declaration import given_path, load  # noqa: E402
from grader.environment import ONE_BLAS_THREAD  # noqa: E402
from grader.runner import forbidden_imports  # noqa: E402

IMPORT_SECONDS = 60
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
IMPORT_CODE = "import sys, importlib; sys.path.insert(0, '.'); importlib.import_module(sys.argv[1])"


def import_error(module: str, folder: Path) -> str | None:
    """Import `module` from `folder` in a fresh interpreter; the error text, or None."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder),
           **ONE_BLAS_THREAD, "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"}
    if "SYSTEMROOT" in os.environ:                       # Windows needs it to start Python
        env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
    try:
        run = subprocess.run([sys.executable, "-E", "-c", IMPORT_CODE, module], cwd=folder,
                             env=env, capture_output=True, text=True, timeout=IMPORT_SECONDS,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return (f"importing it took more than {IMPORT_SECONDS} s: move slow code (training, "
                f"experiments) under `if __name__ == \"__main__\":`")
    if run.returncode == 0:
        return None
    lines = [ln for ln in run.stderr.strip().splitlines() if ln.strip()]
    return "importing it failed:\n      " + "\n      ".join(lines[-6:] or ["(no message)"])


def check(assignment: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) about the files to submit."""
    decl = load(assignment)
    stubs = json.loads((ROOT / "tools" / "stubs.json").read_text())
    errors: list[str] = []
    warnings: list[str] = []
    present = [f for f in decl.submitted if (ROOT / f).is_file()]
    for f in decl.submitted:
        if f not in present:
            errors.append(f"{f}: missing (it must be in {ROOT})")
        elif hashlib.sha256((ROOT / f).read_bytes()).hexdigest() == stubs.get(f):
            warnings.append(f"{f}: identical to the untouched starter file")
    with tempfile.TemporaryDirectory(prefix="submit-check-") as tmp:
        folder = Path(tmp)
        for f in decl.given:                 # the grader's copies, as on Gradescope
            shutil.copyfile(given_path("assignments", assignment, f), folder / f)
        for f in decl.graded:
            if f in present:
                shutil.copyfile(ROOT / f, folder / f)
        for f in decl.graded:
            if f not in present:
                continue
            try:
                bad = forbidden_imports((ROOT / f).read_text(encoding="utf-8"),
                                        decl.forbidden_imports)
            except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
                line = getattr(exc, "lineno", None)
                errors.append(f"{f}: does not parse{f' (line {line})' if line else ''}: "
                              f"{getattr(exc, 'msg', exc)}")
                continue
            if bad:
                errors.append(f"{f}: imports {', '.join(bad)}; this assignment allows numpy "
                              f"only")
                continue
            problem = import_error(Path(f).stem, folder)
            if problem:
                errors.append(f"{f}: {problem}")
    return errors, warnings


def write_zip(assignment: str, zip_path: Path) -> None:
    """The submitted files at the zip's top level, deterministically (fixed dates, order)."""
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(load(assignment).submitted):
            info = zipfile.ZipInfo(f, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            zf.writestr(info, (ROOT / f).read_bytes())
        release = stamped(assignment)
        if release:
            info = zipfile.ZipInfo(RELEASE_MARKER, ZIP_DATE)
            info.external_attr = 0o100644 << 16
            zf.writestr(info, release + "\n")
    tmp.replace(zip_path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tools/submit.py <assignment>", file=sys.stderr)
        return 2
    assignment = argv[0]
    zip_path = ROOT / f"{assignment}-submission.zip"
    errors, warnings = check(assignment)
    for w in warnings:
        print(f"warning: {w}")
    if errors:
        for e in errors:
            print(f"error: {e}")
        if zip_path.exists():
            zip_path.unlink()
            print(f"(removed the old {zip_path.name}: it no longer matches your files)")
        print(f"\n{zip_path.name} NOT written: fix the errors above and run `make submit` "
              f"again.")
        return 1
    write_zip(assignment, zip_path)
    print(f"wrote {zip_path.name} with: {', '.join(sorted(load(assignment).submitted))}")
    print("Upload it to the assignment on Gradescope. `make check` runs the visible tests; "
          "the hidden tests run only after you submit.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
