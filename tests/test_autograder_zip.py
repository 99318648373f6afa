"""The Gradescope autograder zips (`make autograder`), run the way Gradescope runs them.

Each zip is unpacked into a temporary folder laid out like Gradescope's `/autograder`
(`source/` = the zip, `submission/`, `submission_metadata.json`, `results/`, and
`run_autograder` copied to the root), found through $GRADEKIT_AUTOGRADER_ROOT; `setup.sh` is
skipped and the current interpreter stands in for its venv ($GRADEKIT_PYTHON), except in the
slow `test_setup_sh_python_part`, which builds that venv for real. Every results.json is
validated against grader/schema/results.schema.json.

Full reference runs: all three assignments. Buggy runs: softmax and two_layer_net (a convnet
run takes about a minute; its bugs are covered by its suite's own tests). Forging: all three.
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

import jsonschema
import pytest

from grader.declaration import NAMES, ROOT, given_path, load
from grader.framework import collect
from grader.results import schema
from publish import autograder
from publish.stubs import solution_lines

TIMEOUT = 600
BUGS = {   # assignment -> (bugged function, old text, new text) applied to the reference
    "softmax": ("softmax_loss_vectorized", "dW = X.T @ dscores / num_train + 2 * reg * W",
                "dW = X.T @ dscores / num_train + reg * W"),
    "two_layer_net": ("TwoLayerNet.loss", '"W2": hidden.T @ dscores + 2 * reg * W2',
                      '"W2": hidden.T @ dscores + reg * W2'),
}


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("autograder")
    return {name: autograder.build(name, out) for name in NAMES}


# -- helpers -----------------------------------------------------------------------------------
def unpack(zip_path: Path, dest: Path) -> None:
    """Extract keeping the Unix modes stored in the zip (as `unzip` does)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            target.chmod((info.external_attr >> 16) & 0o777 or 0o644)


def gradescope_root(zip_path: Path, parent: Path, files: dict[str, bytes],
                    metadata: dict | None = None) -> Path:
    root = parent / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    unpack(zip_path, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    for name, data in files.items():
        (root / "submission" / name).write_bytes(data)
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    return root


def run_autograder(root: Path, **env: str) -> dict:
    full_env = {**os.environ, "GRADEKIT_AUTOGRADER_ROOT": str(root),
                "GRADEKIT_PYTHON": sys.executable, **env}
    full_env.pop("PYTHONPATH", None)            # the zip must be self-contained
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=full_env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, schema())
    return data


def reference_files(name: str) -> dict[str, bytes]:
    return {f: (ROOT / "reference" / name / f).read_bytes() for f in load(name).submitted}


def metadata(due: str) -> dict:
    return {"id": 123456, "created_at": "2026-03-01T12:00:00.000000-08:00",
            "assignment": {"due_date": due, "title": "hw"},
            "users": [{"name": "A Student", "email": "a@example.edu"}],
            "previous_submissions": []}


# -- the zip itself ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_zip_layout(zips, name):
    decl = load(name)
    with zipfile.ZipFile(zips[name]) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        texts = {n: zf.read(n).decode() for n in infos if n.endswith((".py", ".md", ".sh"))}
        manifest = json.loads(zf.read("datasets/MANIFEST.json"))
    for script in ("setup.sh", "run_autograder"):      # at the root, executable
        assert (infos[script].external_attr >> 16) & 0o111 == 0o111, script
    assert {"autograde.py", "autograder.json", "requirements.txt"} <= set(infos)
    suite = f"grader/suites/{name}/"
    assert {suite + "expected/visible.npz", suite + "expected/hidden.npz"} <= set(infos)
    if (ROOT / suite / "calibration.json").exists():
        assert zf_bytes(zips[name], suite + "calibration.json") == \
            (ROOT / suite / "calibration.json").read_bytes()
    assert not [n for n in infos if n.startswith("grader/suites/")
                and n.split("/")[2] not in (name, "__init__.py")]
    for f in decl.given + ((decl.report,) if decl.report else ()):   # the grader's copies
        assert given_path("assignments", name, f).relative_to(ROOT).as_posix() in infos, f
    # never reference source: no path, no solution line
    assert not [n for n in infos if n.startswith("reference/") or "/reference/" in n]
    solution = solution_lines()
    # A suite's trusted.py is the grader's own forward/yardstick, meant for the autograder
    # (unreadable to student code there), never for the student release.
    trusted = suite + "trusted.py"
    leaked = {(n, line.strip()) for n, text in texts.items() if n != trusted
              for line in text.splitlines() if line.strip() in solution}
    assert not leaked
    # data: exactly this assignment's files, each covered by the shipped manifest
    data = {n[len("datasets/"):] for n in infos if n.startswith("datasets/")} - {"MANIFEST.json"}
    assert set(manifest["files"]) == data
    assert set(manifest["datasets"]) == set(decl.datasets)
    core = (ROOT / "requirements" / "core.txt").read_text().splitlines()
    reqs = [ln for ln in zf_bytes(zips[name], "requirements.txt").decode().splitlines()
            if ln and not ln.startswith("#")]
    assert set(reqs) <= set(core) and any(r.startswith("numpy==") for r in reqs)


def zf_bytes(zip_path: Path, member: str) -> bytes:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.read(member)


def test_zip_is_deterministic(zips, tmp_path):
    again = autograder.build("softmax", tmp_path)
    assert again.read_bytes() == zips["softmax"].read_bytes()


# -- grading as on Gradescope -------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_reference_scores_full_marks(zips, tmp_path, name):
    root = gradescope_root(zips[name], tmp_path, reference_files(name),
                           metadata(due="2026-02-01T23:59:00.000000-08:00"))   # a late one
    data = run_autograder(root)
    specs = {s.number: s for s in collect(name)}
    bad = [(t["number"], t["output"][:300]) for t in data["tests"] if t["status"] != "passed"]
    assert not bad
    assert data["score"] == pytest.approx(100.0)
    assert [t["number"] for t in data["tests"]] == list(specs)
    # visibility is the suite's, whatever the date: Gradescope reveals after_due_date itself
    assert all(t["visibility"] == specs[t["number"]].visibility for t in data["tests"])
    extra = data["extra_data"]["gradekit"]
    assert extra["submission"]["id"] == 123456 and extra["submission"]["after_due_date"] is True
    assert extra["sandbox"] in ("bwrap", "uid")
    # as root, the kit and the results are closed to other users (the student's uid)
    if os.geteuid() == 0:
        for p in [root / "source", root / "results", *(root / "source").rglob("*")]:
            assert not p.stat().st_mode & 0o007, p


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUGS))
def test_buggy_submission_loses_points(zips, tmp_path, name):
    func, old, new = BUGS[name]
    files = reference_files(name)
    graded = load(name).graded[0]
    text = files[graded].decode()
    assert text.count(old) == 1
    files[graded] = text.replace(old, new).encode()
    data = run_autograder(gradescope_root(zips[name], tmp_path, files))
    lost = [t for t in data["tests"] if t["score"] < t["max_score"]]
    assert lost and data["score"] <= 100.0 - min(t["max_score"] - t["score"] for t in lost)
    assert all(func in t["tags"] for t in lost), [(t["number"], t["tags"]) for t in lost]
    assert not [t for t in data["tests"] if "Internal grader error" in t["output"]]


FORGER = '''\
import json, os
forged = {"score": 1000.0, "execution_time": 1.0, "output": "forged", "tests": [
    {"name": "forged", "score": 1000.0, "max_score": 1.0, "status": "passed"}]}
for path in (%r, "/autograder/results/results.json", "../results/results.json",
             "results.json"):
    try:
        with open(path, "w") as fh:
            json.dump(forged, fh)
    except Exception:
        pass
os._exit(0)
'''


@pytest.mark.parametrize("name", NAMES)
def test_forging_submission_gains_nothing(zips, tmp_path, name):
    decl = load(name)
    root = tmp_path / "autograder"
    forger = (FORGER % str(root / "results" / "results.json")).encode()
    files = {f: forger for f in decl.graded}
    data = run_autograder(gradescope_root(zips[name], tmp_path, files))
    assert data["score"] == 0.0
    assert data["tests"] and all(t["status"] == "failed" for t in data["tests"])
    assert "forged" not in json.dumps(data["tests"])
    assert data["extra_data"]["gradekit"]["assignment"] == name     # our file, not theirs


SNOOP = '''\
import hashlib
try:
    with open(%r, "rb") as fh:
        print("SNOOP READ", hashlib.sha256(fh.read()).hexdigest())
except Exception as exc:
    print("SNOOP DENIED", type(exc).__name__)
'''


TEST_UID = "64322"           # not the default 65534: uid mode kills every process of its uid


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_uid_sandbox_cannot_read_hidden_fixtures(zips, monkeypatch):
    """Gradescope's likely mode (root, no user namespaces): student code runs as another uid
    and run_autograder's chmod keeps the hidden fixtures out of its reach, even under a
    world-traversable root. Needs nothing installed by hand: uid mode makes its own numpy
    site folder, and (where a private mount namespace is allowed) its own view of Python."""
    from grader.sandbox import isolation
    monkeypatch.setenv("GRADEKIT_SANDBOX_UID", TEST_UID)
    ok, why = isolation.available("uid")
    if not ok:
        pytest.skip(f"uid sandbox not usable here: {why}")
    parent = Path(tempfile.mkdtemp(prefix="gk-uid-"))
    try:
        parent.chmod(0o755)
        hidden = parent / "autograder/source/grader/suites/softmax/expected/hidden.npz"
        code = (ROOT / "reference/softmax/softmax.py").read_text() + "\n" + SNOOP % str(hidden)
        root = gradescope_root(zips["softmax"], parent, {"softmax.py": code.encode()})
        data = run_autograder(root, GRADEKIT_SANDBOX="uid", GRADEKIT_SANDBOX_UID=TEST_UID)
        digest = hashlib.sha256(hidden.read_bytes()).hexdigest()
        assert data["extra_data"]["gradekit"]["sandbox"] == "uid"
        assert "SNOOP DENIED" in data["output"] and digest not in json.dumps(data)
        assert data["score"] == pytest.approx(100.0)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


# -- whatever happens, a valid results.json ------------------------------------------------------
def test_internal_error_still_writes_valid_results(zips, tmp_path):
    root = gradescope_root(zips["softmax"], tmp_path, reference_files("softmax"))
    data = run_autograder(root, GRADEKIT_SANDBOX="no-such-mode")
    assert data["score"] == 0.0 and data["tests"] == []
    assert "internal error" in data["output"]


def test_python_that_cannot_start_still_writes_valid_results(zips, tmp_path):
    root = gradescope_root(zips["softmax"], tmp_path, reference_files("softmax"))
    data = run_autograder(root, GRADEKIT_PYTHON=str(tmp_path / "no-python"))
    assert data["score"] == 0 and data["tests"] == []
    assert "could not start" in data["output"]


def test_salvage_keeps_tests_graded_before_a_kill(zips, tmp_path):
    root = gradescope_root(zips["softmax"], tmp_path, {})
    partial = {"score": 9.0, "execution_time": 3.0, "output": "so far", "tests": [
        {"name": "t", "number": "1.1", "score": 9.0, "max_score": 9.0, "status": "passed",
         "visibility": "visible", "tags": [], "output": "", "output_format": "md"}],
        "extra_data": {"gradekit": {"status": "graded"}}}
    (root / "results" / "results.json").write_text(json.dumps(partial))
    subprocess.run([sys.executable, str(root / "source" / "autograde.py"), "--salvage", "137"],
                   env={**os.environ, "GRADEKIT_AUTOGRADER_ROOT": str(root)}, check=True,
                   capture_output=True, timeout=60)
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, schema())
    assert data["score"] == 9.0 and data["tests"] == partial["tests"]
    assert "exit status 137" in data["output"] and "out of memory" in data["output"]
    assert data["extra_data"]["gradekit"]["status"] == "incomplete"


# -- setup.sh ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_setup_sh_python_part(zips, tmp_path):
    """setup.sh's Python part for real (a fresh venv, pip install of the pinned requirements,
    the smoke test), then a grading run on that venv. The apt/useradd part targets Ubuntu
    22.04 and is skipped here (GRADEKIT_SKIP_SYSTEM=1)."""
    root = gradescope_root(zips["softmax"], tmp_path, reference_files("softmax"))
    venv = tmp_path / "venv"
    env = {**os.environ, "GRADEKIT_AUTOGRADER_ROOT": str(root), "GRADEKIT_VENV": str(venv),
           "GRADEKIT_SKIP_SYSTEM": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gradekit autograder ready: softmax" in proc.stdout
    def norm(lines):
        return {ln.lower().replace("_", "-") for ln in lines if ln and not ln.startswith("#")}
    frozen = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    pins = (root / "source" / "requirements.txt").read_text().splitlines()
    assert norm(pins) and norm(pins) <= norm(frozen)
    env.pop("GRADEKIT_PYTHON", None)
    data = run_autograder(root, GRADEKIT_VENV=str(venv), GRADEKIT_PYTHON="")
    assert data["score"] == pytest.approx(100.0)


# -- build identity ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_zip_carries_the_build_id(zips, name):
    from grader import build_id as builds
    stamp = json.loads(zf_bytes(zips[name], f"grader/suites/{name}/BUILD.json"))
    assert stamp["build_id"] == builds.compute(name)


def test_autograder_refuses_weights_that_do_not_sum_to_the_total(tmp_path, monkeypatch, capsys):
    import dataclasses as dc
    from grader import build_id as builds
    from publish.release import PublishRefused
    real = builds.collect
    monkeypatch.setattr(builds, "collect", lambda n: [
        dc.replace(s, weight=s.weight - 1) if i == 0 else s for i, s in enumerate(real(n))])
    with pytest.raises(PublishRefused, match="sum to 99"):
        autograder.build("softmax", tmp_path / "autograder")
    assert autograder.main(["softmax", "--out", str(tmp_path / "autograder")]) == 2
    assert "sum to 99" in capsys.readouterr().err
    assert not (tmp_path / "autograder" / "softmax.zip").exists()


def test_a_stale_release_is_told_to_download_the_new_one(zips, tmp_path):
    """The submission's `.gradekit-release` (written by the release's `make submit`) names
    another build: the student-visible output says so; the grade is the grader's own."""
    from grader.build_id import RELEASE_MARKER, compute
    stubs = {f: (ROOT / "assignments" / "softmax" / f).read_bytes()
             for f in load("softmax").submitted}
    data = run_autograder(gradescope_root(zips["softmax"], tmp_path / "stale",
                                          {**stubs, RELEASE_MARKER: b"gk-000000000000\n"}))
    assert data["extra_data"]["gradekit"]["build_id"] == compute("softmax")
    assert "Your release is older than the grader" in data["output"]
    assert "gk-000000000000" in data["output"]
    same = run_autograder(gradescope_root(zips["softmax"], tmp_path / "same",
                                          {**stubs, RELEASE_MARKER: compute("softmax").encode()}))
    assert "older than the grader" not in same["output"]
    assert same["score"] == data["score"]


def test_release_marker_is_bounded_and_only_compared(tmp_path):
    from grader.build_id import RELEASE_MARKER, release_note, release_of
    marker = tmp_path / RELEASE_MARKER
    for hostile in (b"gk-00000000000\x1b[2J", b"<script>x</script>", b"gk-" + b"0" * 500,
                    b"\xff\xfe", b""):
        marker.write_bytes(hostile)
        assert release_of(tmp_path) is None and release_note(tmp_path, "gk-111111111111") == ""
    marker.write_bytes(b"  gk-0123456789ab \n")
    assert release_of(tmp_path) == "gk-0123456789ab"
    assert release_note(tmp_path, "gk-0123456789ab") == ""
    assert "gk-0123456789ab" in release_note(tmp_path, "gk-111111111111")
    marker.unlink()
    marker.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_bytes(b"gk-0123456789ab")
    assert release_of(tmp_path) is None
