"""The student releases (`make release`): what they hold, `make check`, `make submit`.

Each release is built, zipped, and unpacked into a temporary folder; every check runs on the
unpacked copy. `make check` / `make submit` run with `PY=<this interpreter>` so the tests reuse
the project's venv; the plain path (`make check` alone) creates the release's own `.venv`
from its `requirements.txt`, shown here with `make -n`.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import build_id as builds
from grader import expected_values
from grader.build_id import RELEASE_MARKER
from grader.batch import grade_batch
from grader.declaration import NAMES, ROOT, given_path, load
from grader.framework import collect
from publish import release
from publish.stubs import find_regions, solution_lines

TIMEOUT = 600
SUMMARY = re.compile(r"^visible tests: ([\d.]+)/([\d.]+) points; hidden tests run after "
                     r"submission$", re.M)


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict[str, Path]:
    """Each release built, zipped and unpacked: name -> the unpacked folder."""
    out = tmp_path_factory.mktemp("student")
    unpacked = tmp_path_factory.mktemp("unpacked")
    folders = {}
    for name in NAMES:
        _, zipped = release.build(name, out)
        with zipfile.ZipFile(zipped) as zf:
            assert {n.split("/")[0] for n in zf.namelist()} == {name}   # one top folder
            zf.extractall(unpacked)
        folders[name] = unpacked / name
    return folders


@pytest.fixture
def fresh(releases, tmp_path):
    """A private copy of a release, for tests that change files."""
    def copy(name: str) -> Path:
        return Path(shutil.copytree(releases[name], tmp_path / name))
    return copy


def make(folder: Path, target: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", target, f"PY={sys.executable}"],
                          cwd=folder, capture_output=True, text=True, timeout=TIMEOUT)


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def visible_points(name: str) -> float:
    return sum(s.weight for s in collect(name) if s.visibility == "visible")


# -- contents ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_release_layout(releases, name):
    decl, folder = load(name), releases[name]
    have = files(folder)
    top = {f for f in have if "/" not in f}
    assert top == {*decl.graded, *decl.given, "README.md", "Makefile", "requirements.txt",
                   *([decl.report] if decl.report else [])}
    for f in decl.given + ((decl.report,) if decl.report else ()):
        # pristine copies where the grader's given_path looks
        assert given_path("assignments", name, f).relative_to(ROOT).as_posix() in have
    assert f"grader/suites/{name}/expected/visible.npz" in have
    assert {f.split("/")[2] for f in have if f.startswith("grader/suites/")
            and f.count("/") > 2} == {name}
    assert not {"grader/batch.py", "grader/calibration.py", "grader/bugs.py",
                f"grader/suites/{name}/bugs.py"} & have     # staff tools; bug tables quote solutions
    assert not any(f.startswith("grader/templates/") for f in have)   # class report pages
    manifest = json.loads((folder / "datasets/MANIFEST.json").read_text())
    assert set(manifest["datasets"]) == set(decl.datasets)
    assert set(manifest["files"]) == {f[len("datasets/"):] for f in have
                                      if f.startswith("datasets/")} - {"MANIFEST.json"}
    core = set((ROOT / "requirements/core.txt").read_text().splitlines())
    reqs = {ln for ln in (folder / "requirements.txt").read_text().splitlines()
            if ln and not ln.startswith("#")}
    assert reqs <= core and {r.split("==")[0] for r in reqs} >= {"numpy"}
    assert not any(r.startswith("gradescope-utils") for r in reqs)  # gradekit writes results.json itself
    readme = (folder / "README.md").read_text()
    assert "make check" in readme and f"{name}-submission.zip" in readme


@pytest.mark.parametrize("name", NAMES)
def test_release_holds_no_solution_or_hidden_material(releases, name):
    folder = releases[name]
    have = files(folder)
    assert not [f for f in have if f.startswith("reference/") or "/reference/" in f]
    assert not [f for f in have if Path(f).name.startswith("hidden.")]
    solution = solution_lines()
    leaked = {(f, line.strip()) for f in have if f.endswith((".py", ".md", ".txt", ".json"))
              for line in (folder / f).read_text().splitlines() if line.strip() in solution}
    assert not leaked
    # the reference's own files are not shipped under any name
    ref_bytes = {p.read_bytes() for p in (ROOT / "reference").rglob("*.py")
                 if find_regions(p.read_text(), p.name)}
    assert not [f for f in have if (folder / f).read_bytes() in ref_bytes]
    # no way to rebuild the hidden inputs: the hidden seed is not shipped
    seeds = ast.literal_eval(re.search(r"^SEEDS = (\{.*?\})", (folder / "grader/expected_values.py")
                                       .read_text(), re.M).group(1))
    assert seeds == {"visible": expected_values.SEEDS["visible"]}
    # calibration: only what the thresholds need, never the per-seed results
    calib = folder / f"grader/suites/{name}/calibration.json"
    if (ROOT / f"grader/suites/{name}/calibration.json").exists():
        shipped = json.loads(calib.read_text())
        assert shipped == release.release_calibration(load(name))
        assert shipped and "accuracy" not in shipped and set(shipped) < set(
            load(name).calibration())


@pytest.mark.parametrize("name", NAMES)
def test_stub_functions_still_raise_not_implemented(releases, name):
    """Every function whose body the reference marks as solution raises NotImplementedError
    in the released stub."""
    for graded in load(name).graded:
        ref = (ROOT / "reference" / name / graded).read_text()
        wanted = {r.qualname for r in find_regions(ref, graded) if r.qualname and not r.stub_lines}
        assert wanted, graded
        tree = ast.parse((releases[name] / graded).read_text())
        raising = set()

        def visit(node, prefix=""):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                    qual = prefix + child.name
                    if isinstance(child, ast.FunctionDef) and any(
                            isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n)
                            for n in ast.walk(child)):
                        raising.add(qual)
                    visit(child, qual + ".")
        visit(tree)
        assert wanted <= raising, (graded, wanted - raising)


@pytest.mark.parametrize("name", NAMES)
def test_release_ships_no_test_labels(releases, name):
    """Students get train/val data and the test inputs; the test labels (and the test rows'
    positions in the public source) stay on the grading side. The shipped loader still
    verifies and reads the stripped files."""
    import numpy as np
    folder, decl = releases[name], load(name)
    shipped = sorted((folder / "datasets").rglob("*.npz"))
    assert shipped
    for path in shipped:
        with np.load(path, allow_pickle=False) as data:
            assert not set(data.files) & set(release.WITHHELD_ARRAYS), path
            assert {"X_test", "X_train", "y_train"} <= set(data.files)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEKIT_DATA")}
    code = ("import hwdata, sys; d = hwdata.load(sys.argv[1]); "
            "print(' '.join(sorted(d)))")
    for dataset in decl.datasets:
        proc = subprocess.run([sys.executable, "-c", code, dataset], cwd=folder,
                              env={**env, "PYTHONPATH": str(folder)}, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["X_test", "X_train", "X_val", "y_train", "y_val"]
    # the grading side (the autograder zip's data) keeps them
    assert all(isinstance(c, Path) for f, c in release.data_files(decl).items()
               if f.endswith(".npz"))


def test_release_zip_is_deterministic(tmp_path):
    _, first = release.build("softmax", tmp_path / "a")
    _, second = release.build("softmax", tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


def test_release_carries_a_data_variant_as_its_default(tmp_path, monkeypatch):
    """With GRADEKIT_DATA_VARIANT set (a new term), only the variant's file ships, under a
    manifest whose default is that variant: the packaged loader reads it with no setting."""
    import hwdata
    from hwdata import manifest as mf
    root = tmp_path / "data"
    shutil.copytree(hwdata.data_root(), root, ignore=shutil.ignore_patterns("variants"))
    full = mf.read(root)
    original = full["datasets"]["cihlab"]
    variant_file = "variants/seed-9/cihlab.npz"
    (root / variant_file).parent.mkdir(parents=True)
    shutil.copyfile(root / original, root / variant_file)
    full["variants"] = {"seed-9": {"seed": 9, "datasets": {"cihlab": variant_file},
                                   "files": {variant_file: full["files"][original]}}}
    (root / mf.MANIFEST).write_bytes(mf.dumps(full))
    monkeypatch.setenv(mf.ENV_ROOT, str(root))
    monkeypatch.setenv(mf.ENV_VARIANT, "seed-9")
    data = release.data_files(load("two_layer_net"))
    assert sorted(data) == ["datasets/ATTRIBUTION.md", "datasets/MANIFEST.json",
                            "datasets/" + variant_file]
    folder = release.materialize({**data, **release.hwdata_files()}, tmp_path / "release")
    manifest = json.loads((folder / "datasets" / mf.MANIFEST).read_text())
    assert manifest["datasets"] == {"cihlab": variant_file} and manifest["variant"] == "seed-9"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEKIT_DATA")}
    shape = subprocess.run(
        [sys.executable, "-c", "import hwdata; print(hwdata.load('cihlab')['X_train'].shape)"],
        cwd=folder, env={**env, "PYTHONPATH": str(folder)}, capture_output=True, text=True,
        timeout=60)
    expected = tuple(full["files"][original]["arrays"]["X_train"]["shape"])
    assert shape.returncode == 0 and shape.stdout.strip() == str(expected), shape.stderr


def test_makefile_plain_path_builds_its_own_venv(releases):
    dry = subprocess.run(["make", "-n", "check"], cwd=releases["softmax"], capture_output=True,
                         text=True, timeout=60).stdout
    assert "-m venv .venv" in dry and "pip install" in dry and "-r requirements.txt" in dry
    assert ".venv/bin/python -m grader check softmax ." in dry


# -- make check ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_check_on_the_stubs(fresh, name):
    proc = make(fresh(name), "check")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    got, total = map(float, SUMMARY.search(out).groups())
    assert (got, total) == (0.0, visible_points(name))
    assert "not implemented" in out
    # the student's own traceback is shown ("Traceback (your code, ..."); never the grader's
    assert "Internal grader error" not in out and "Traceback (most recent call last)" not in out
    assert "all tests passed" not in out.lower()


# The batch grader regrades the reference's zip in full, except convnet's (about a minute more,
# and graded in full by tests/test_autograder_zip.py): its stubs' zip is batch-graded instead.
BATCH_REFERENCE = ("softmax", "two_layer_net")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_check_and_submit_the_reference(fresh, tmp_path, name):
    """The reference copied into the release: full visible points; `make submit` zips exactly
    the submitted files; the batch grader grades that zip to full marks."""
    decl = load(name)
    folder = fresh(name)
    for f in decl.submitted:
        shutil.copyfile(ROOT / "reference" / name / f, folder / f)
    proc = make(folder, "check")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    got, total = map(float, SUMMARY.search(out).groups())
    assert got == total == visible_points(name), out
    assert "FAIL" not in out
    proc = make(folder, "submit")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in proc.stdout
    zipped = folder / f"{name}-submission.zip"
    with zipfile.ZipFile(zipped) as zf:
        assert sorted(zf.namelist()) == sorted([*decl.submitted, RELEASE_MARKER])
        assert all(zf.read(f) == (ROOT / "reference" / name / f).read_bytes()
                   for f in decl.submitted)
    if name in BATCH_REFERENCE:
        grades = grade_batch(name, [zipped], tmp_path / "batch", jobs=1, progress=False)
        assert len(grades) == 1 and grades["status"].iloc[0] == "graded"
        assert float(grades["total"].iloc[0]) == pytest.approx(100.0)


# -- make submit --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_submit_untouched_stubs_warns_but_writes(fresh, tmp_path, name):
    decl = load(name)
    folder = fresh(name)
    proc = make(folder, "submit")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for f in decl.submitted:
        assert f"warning: {f}: identical to the untouched starter file" in proc.stdout
    zipped = folder / f"{name}-submission.zip"
    with zipfile.ZipFile(zipped) as zf:
        assert sorted(zf.namelist()) == sorted([*decl.submitted, RELEASE_MARKER])
        assert zf.read(RELEASE_MARKER).decode().strip() == builds.compute(name)   # this release's
    if name not in BATCH_REFERENCE:     # the batch grader takes the zip: every test, 0 points
        grades = grade_batch(name, [zipped], tmp_path / "batch", jobs=1, progress=False)
        assert len(grades) == 1 and float(grades["total"].iloc[0]) == 0.0
        assert {s.number for s in collect(name)} <= {c.split(" ")[0] for c in grades.columns}


BREAKAGES = {
    "missing": (None, "softmax.py: missing"),
    "syntax": ("def broken(:\n", "softmax.py: does not parse"),
    "import-error": ("import numpy as np\nraise RuntimeError('boom at import')\n",
                     "RuntimeError: boom at import"),
    "forbidden": ("import torch\n", "softmax.py: imports torch"),
    "hangs": ("while True:\n    pass\n", "took more than"),
}


@pytest.mark.parametrize("kind", BREAKAGES)
def test_submit_refuses_a_broken_file(fresh, kind):
    folder = fresh("softmax")
    source, message = BREAKAGES[kind]
    if kind == "hangs":       # keep the test short: the limit is read from the script
        script = folder / "tools/submit.py"
        script.write_text(script.read_text().replace("IMPORT_SECONDS = 60", "IMPORT_SECONDS = 2"))
    (folder / "softmax-submission.zip").write_bytes(b"an old zip")
    if source is None:
        (folder / "softmax.py").unlink()
    else:
        (folder / "softmax.py").write_text(source)
    proc = make(folder, "submit")
    assert proc.returncode != 0
    assert message in proc.stdout, proc.stdout
    assert "NOT written" in proc.stdout
    assert not (folder / "softmax-submission.zip").exists()     # no stale zip to upload


# -- build identity ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_release_carries_its_build_id(releases, name):
    """BUILD.json in the packaged suite holds the id computed from the full kit; inside the
    release (no hidden values to recompute from) the stamp is the answer."""
    stamp = json.loads((releases[name] / f"grader/suites/{name}/BUILD.json").read_text())
    assert stamp["build_id"] == builds.compute(name)
    code = f"from grader.build_id import build_id; print(build_id({name!r}))"
    run = subprocess.run([sys.executable, "-c", code], cwd=releases[name], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(releases[name])})
    assert run.stdout.strip() == stamp["build_id"], run.stderr


def _bump_a_weight(monkeypatch, by: float = 1.0) -> None:
    import dataclasses as dc
    real = builds.collect
    monkeypatch.setattr(builds, "collect", lambda name: [
        dc.replace(s, weight=s.weight + by) if i == 0 else s for i, s in enumerate(real(name))])


def test_release_refuses_weights_that_do_not_sum_to_the_total(tmp_path, monkeypatch, capsys):
    _bump_a_weight(monkeypatch)
    assert "sum to 101" in builds.weight_problem("softmax")
    with pytest.raises(release.PublishRefused, match="total_points is 100"):
        release.build("softmax", tmp_path / "student")
    assert release.main(["softmax", "--out", str(tmp_path / "student")]) == 2
    assert "sum to 101" in capsys.readouterr().err
    assert not (tmp_path / "student" / "softmax.zip").exists()


def test_release_command_exits_non_zero_on_bad_weights(tmp_path):
    """Through `make release`: a weight changed in a copy of the suite's tests (here by a
    sitecustomize that bumps one weight as the suite is collected) stops the build."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import dataclasses, grader.build_id as b\n"
        "_real = b.collect\n"
        "b.collect = lambda n: [dataclasses.replace(s, weight=s.weight + 0.5) if i == 0 else s "
        "for i, s in enumerate(_real(n))]\n")
    env = {**os.environ, "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}"}
    run = subprocess.run([sys.executable, "-m", "publish.release", "softmax", "--out",
                          str(tmp_path / "student")], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode != 0 and "sum to 100.5" in run.stderr


def test_dist_warns_when_release_and_autograder_builds_differ(tmp_path):
    def put(kind: str, build: str) -> None:
        path = tmp_path / kind / "softmax" / "grader/suites/softmax/BUILD.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"build_id": build}))
    put("student", "gk-aaaaaaaaaaaa")
    assert release.dist_mismatch("softmax", tmp_path) is None          # no autograder yet
    put("autograder", "gk-aaaaaaaaaaaa")
    assert release.dist_mismatch("softmax", tmp_path) is None
    put("autograder", "gk-bbbbbbbbbbbb")
    warn = release.dist_mismatch("softmax", tmp_path)
    assert "gk-aaaaaaaaaaaa" in warn and "gk-bbbbbbbbbbbb" in warn
