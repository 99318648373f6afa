"""Batch grading: the pool, time budgets, crashes, resumability (incl. SIGKILL half-way) and
the CLI, with a fake grade function so the tests need neither the suites nor the sandbox."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import pytest

from grader import batch
from grader import results as res

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()
MARKS_ENV = "GRADEKIT_FAKE_MARKS"


# -- a fake grader: runs in the batch's child process -----------------------------------------
# Written to a file per test so the child imports only it (not pandas/pytest via this module).
FAKE_SOURCE = r'''
import os, time
from pathlib import Path
from grader import results as res


def fake_grade(assignment, submission, *, results_path=None, time_budget=None):
    """Score from score.txt; sleep.txt seconds of sleep; raise.txt raises; hang.txt hangs after
    writing partial results; flag.txt adds a 'crash' flag; nan.txt returns a NaN score. Appends 'start/done <folder>' to
    $GRADEKIT_FAKE_MARKS."""
    sub = Path(submission)
    marks = os.environ.get("GRADEKIT_FAKE_MARKS")

    def mark(what):
        if marks:
            with open(marks, "a") as fh:
                fh.write(f"{what} {sub.name}\n")

    mark("start")
    score = float((sub / "score.txt").read_text()) if (sub / "score.txt").exists() else 0.0
    first = res.test_result(name="first half", number="1.1", score=min(score, 50.0), max_score=50.0,
                            status="passed" if score >= 50 else "failed", tags=["f"],
                            visibility="visible", output="ok" if score >= 50 else f"got {score:g}")
    second = res.test_result(name="second half", number="1.2", score=max(score - 50.0, 0.0),
                             max_score=50.0, status="passed" if score >= 100 else "failed",
                             tags=["g"], visibility="hidden", output="secret hidden detail")
    extra = {"assignment": assignment, "status": "graded", "sandbox": "fake",
             "flags": ["crash"] if (sub / "flag.txt").exists() else [], "max_score": 100.0}
    if results_path is not None:
        res.write_atomic(results_path, res.build([first], execution_time=0.1, output="", extra=extra))
    if (sub / "hang.txt").exists():
        time.sleep(3600)
    if (sub / "raise.txt").exists():
        raise RuntimeError("fake grader bug")
    if (sub / "sleep.txt").exists():
        time.sleep(float((sub / "sleep.txt").read_text()))
    data = res.build([first, second], execution_time=0.1, output="fake", extra=extra)
    if (sub / "nan.txt").exists():
        data["score"] = float("nan")
    mark("done")
    return data
'''


@pytest.fixture
def fake(tmp_path: Path) -> str:
    """'path/to/fake_grader.py:fake_grade', a grade function reference for grade_batch/--grade-fn."""
    path = tmp_path / "fake_grader.py"
    path.write_text(FAKE_SOURCE)
    return f"{path}:fake_grade"


def module_level_grade(assignment, submission, *, results_path=None, time_budget=None):
    return {}


def make_class(root: Path, scores: dict[str, float], extra_files: dict[str, dict[str, str]] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, score in scores.items():
        d = root / name
        d.mkdir()
        (d / "score.txt").write_text(str(score))
        for fname, text in (extra_files or {}).get(name, {}).items():
            (d / fname).write_text(text)
    return root


def marks(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def grade(fake: str, classdir: Path, out: Path, **kw) -> pd.DataFrame:
    kw.setdefault("jobs", 2)
    return batch.grade_batch("softmax", [classdir], out, grade_fn=fake, progress=False, **kw)


# -- the basics ------------------------------------------------------------------------------------
def test_batch_grades_every_submission_and_writes_outputs(tmp_path, monkeypatch, fake):
    monkeypatch.setenv(MARKS_ENV, str(tmp_path / "marks"))
    classdir = make_class(tmp_path / "class", {"alice": 100, "bob": 70, "carol": 20})
    (classdir / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    out = tmp_path / "out"
    df = grade(fake, classdir, out)
    assert list(df["id"]) == ["alice", "bob", "broken", "carol"]
    assert list(df["total"]) == [100.0, 70.0, 0.0, 20.0]
    assert list(df["status"]) == ["graded", "graded", "bad_archive", "graded"]
    for sid in ("alice", "bob", "carol", "broken"):
        data = json.loads((out / sid / "results.json").read_text())
        assert data["extra_data"]["gradekit_batch"]["status"] == df.set_index("id").loc[sid, "status"]
        assert (out / sid / "feedback.md").exists()
    assert "could not be graded (bad_archive)" in (out / "broken" / "feedback.md").read_text()
    for name in ("grades.csv", "gradebook.csv", "report.html"):
        assert (out / name).stat().st_size > 0
    assert not (out / batch.WORKDIR).exists()          # unpacked copies are cleaned up
    assert sorted(m for m in marks(tmp_path / "marks") if m.startswith("done")) == \
        ["done alice", "done bob", "done carol"]


def test_rerun_skips_finished_regrades_changed_and_force(tmp_path, monkeypatch, fake):
    log = tmp_path / "marks"
    monkeypatch.setenv(MARKS_ENV, str(log))
    classdir = make_class(tmp_path / "class", {"alice": 100, "bob": 70})
    out = tmp_path / "out"
    first = grade(fake, classdir, out)
    assert len(marks(log)) == 4
    second = grade(fake, classdir, out)
    assert len(marks(log)) == 4                          # nothing graded again
    pd.testing.assert_frame_equal(first, second)
    (classdir / "bob" / "score.txt").write_text("90")    # a resubmission: new files, new grade
    third = grade(fake, classdir, out)
    assert marks(log)[4:] == ["start bob", "done bob"]
    assert third.set_index("id").loc["bob", "total"] == 90.0
    grade(fake, classdir, out, force=True)
    assert len(marks(log)) == 10


def test_hung_grade_is_killed_keeps_partial_results_and_others_finish(tmp_path, monkeypatch, fake):
    classdir = make_class(tmp_path / "class", {"alice": 100, "hangs": 100, "bob": 60},
                          {"hangs": {"hang.txt": ""}})
    out = tmp_path / "out"
    start = time.monotonic()
    df = grade(fake, classdir, out, time_budget=1.0).set_index("id")
    assert time.monotonic() - start < 60
    assert df.loc["hangs", "status"] == "timeout"
    assert df.loc["hangs", "total"] == 50.0              # the test finished before the hang
    assert "timeout" in df.loc["hangs", "flags"]
    assert df.loc["alice", "total"] == 100.0 and df.loc["bob", "total"] == 60.0
    data = json.loads((out / "hangs" / "results.json").read_text())
    assert data["output"].startswith("Grading stopped after")
    assert not (out / "hangs" / batch.PARTIAL).exists()
    assert "timeout" in (out / "report.html").read_text()


def test_grader_exception_is_a_row_and_is_retried(tmp_path, monkeypatch, fake):
    log = tmp_path / "marks"
    monkeypatch.setenv(MARKS_ENV, str(log))
    classdir = make_class(tmp_path / "class", {"alice": 80, "oops": 80}, {"oops": {"raise.txt": ""}})
    out = tmp_path / "out"
    df = grade(fake, classdir, out).set_index("id")
    assert df.loc["oops", "status"] == "grader_error"
    assert "RuntimeError: fake grader bug" in df.loc["oops", "message"]
    assert "fake grader bug" in (out / "oops" / "grader.log").read_text()     # traceback for staff
    assert "fake grader bug" not in (out / "oops" / "feedback.md").read_text()  # not for students
    assert df.loc["alice", "status"] == "graded"
    (classdir / "oops" / "raise.txt").unlink()           # e.g. the grader was fixed
    df = grade(fake, classdir, out).set_index("id")
    assert df.loc["oops", "status"] == "graded" and df.loc["oops", "total"] == 80.0
    assert marks(log).count("start alice") == 1


def test_works_with_a_process_pool_executor(tmp_path, fake):
    classdir = make_class(tmp_path / "class", {"a": 10, "b": 20, "c": 30})
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as ex:
        df = grade(fake, classdir, tmp_path / "out", executor=ex)
    assert list(df["total"]) == [10.0, 20.0, 30.0]


def test_grade_fn_must_be_importable():
    with pytest.raises(ValueError, match="module-level"):
        batch.callable_ref(lambda *a, **k: {})
    ref = batch.callable_ref(module_level_grade)
    assert batch.resolve_callable(ref) is module_level_grade
    assert batch.resolve_callable(batch.callable_ref(f"{THIS}:module_level_grade"))(1, 2) == {}


# -- SIGKILL half-way, then resume -------------------------------------------------------------------
def _cli(fake: str, out: Path, classdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", "softmax", str(classdir), "--out", str(out),
            "--jobs", "2", "--no-progress", "--grade-fn", fake, *extra]


def _env(marks_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", **{MARKS_ENV: str(marks_path)})


def test_sigkill_half_way_then_rerun_loses_nothing_and_grades_nothing_twice(tmp_path, fake, monkeypatch):
    names = [f"s{i:02d}" for i in range(8)]
    scores = {n: 10.0 * i for i, n in enumerate(names)}
    classdir = make_class(tmp_path / "class", scores, {n: {"sleep.txt": "0.4"} for n in names})
    killed_out, log = tmp_path / "killed", tmp_path / "marks"
    proc = subprocess.Popen(_cli(fake, killed_out, classdir), cwd=ROOT, env=_env(log),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(killed_out.glob("*/results.json"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the batch never got going"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    done_before = {p.parent.name for p in killed_out.glob("*/results.json")}
    assert 2 <= len(done_before) < len(names), "the kill must land half-way"
    assert not (killed_out / "grades.csv").exists()

    rerun = subprocess.run(_cli(fake, killed_out, classdir), cwd=ROOT, env=_env(log),
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    monkeypatch.setenv(MARKS_ENV, str(tmp_path / "ref-marks"))
    grade(fake, classdir, tmp_path / "reference")                  # uninterrupted, for comparison

    got = pd.read_csv(killed_out / "grades.csv").drop(columns="runtime")
    want = pd.read_csv(tmp_path / "reference" / "grades.csv").drop(columns="runtime")
    pd.testing.assert_frame_equal(got, want)
    assert list(got["total"]) == [scores[n] for n in names]
    lines = marks(log)
    for n in names:                 # every submission completed exactly once over both runs
        assert lines.count(f"done {n}") == 1, (n, lines)
    for n in done_before:           # and what the first run finished was not even started again
        assert lines.count(f"start {n}") == 1, (n, lines)
    assert len(lines) > 2 * len(names) - 2 * len(done_before)    # sanity: markers were written


# -- CLI ----------------------------------------------------------------------------------------------
def test_cli_usage_errors_exit_2(tmp_path, capsys):
    from grader.cli import main
    assert main(["grade"]) == 2
    assert "give an assignment" in capsys.readouterr().err
    assert main(["grade", "softmax", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_grades_and_prints_a_summary(tmp_path, fake):
    classdir = make_class(tmp_path / "class", {"alice": 100, "bob": 40})
    with zipfile.ZipFile(classdir / "evil.zip", "w") as zf:
        zf.writestr("../../escape.py", "x = 1")
    out = tmp_path / "out"
    cmd = _cli(fake, out, classdir)
    cmd.remove("--no-progress")
    run = subprocess.run(cmd, cwd=ROOT, env=_env(tmp_path / "m"), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "softmax: 3 submissions" in run.stdout
    assert "needs attention (1): evil (unsafe_archive)" in run.stdout
    assert str(out / "report.html") in run.stdout
    assert "failed=1" in run.stderr                      # the live failure count on the bar
    assert not (tmp_path / "escape.py").exists() and not (out / "escape.py").exists()


# -- end to end through the real single-submission grader -----------------------------------------
@pytest.mark.slow
def test_end_to_end_with_the_real_runner(tmp_path):
    classdir = tmp_path / "class"
    reference = (ROOT / "reference" / "softmax" / "softmax.py").read_text()
    for name, text in {"perfect": reference,
                       "stub": (ROOT / "assignments" / "softmax" / "softmax.py").read_text(),
                       "crasher": reference + "\nraise RuntimeError('boom at import')\n"}.items():
        (classdir / name).mkdir(parents=True)
        (classdir / name / "softmax.py").write_text(text)
    with zipfile.ZipFile(classdir / "zipped.zip", "w") as zf:
        zf.writestr("hw1/softmax.py", reference)
    out = tmp_path / "out"
    df = batch.grade_batch("softmax", [classdir], out, jobs=2, progress=False).set_index("id")
    assert df["total"].to_dict() == {"crasher": 0.0, "perfect": 100.0, "stub": 0.0, "zipped": 100.0}
    assert (df["status"] == "graded").all() and (df["max"] == 100.0).all()
    assert "import" in df.loc["crasher", "flags"]
    results = json.loads((out / "perfect" / "results.json").read_text())
    hidden = [t["name"] for t in results["tests"] if t["visibility"] != "visible"]
    feedback = (out / "perfect" / "feedback.md").read_text()
    assert hidden and not any(name in feedback for name in hidden)
    page = (out / "report.html").read_text()
    assert "crasher" in page.split("Needs attention")[1].split("All submissions")[0]


def test_waits_for_a_lingering_grader_and_keeps_its_result(tmp_path, monkeypatch, fake):
    """An orphan of a killed run may still hold a submission's lock and finish it: the next
    run waits for the lock, then sees the result and does not grade it again."""
    import fcntl
    import threading
    log = tmp_path / "marks"
    monkeypatch.setenv(MARKS_ENV, str(log))
    classdir = make_class(tmp_path / "class", {"alice": 80})
    out = tmp_path / "out"
    grade(fake, classdir, out)
    finished = (out / "alice" / "results.json").read_bytes()
    (out / "alice" / "results.json").unlink()          # "still being graded" by the orphan
    assert not (out / "alice" / batch.LOCK).exists()   # a finished run leaves no lock
    fd = os.open(out / "alice" / batch.LOCK, os.O_RDWR | os.O_CREAT)   # the orphan's lock
    fcntl.flock(fd, fcntl.LOCK_EX)
    frames = []
    runner = threading.Thread(target=lambda: frames.append(grade(fake, classdir, out)))
    runner.start()
    time.sleep(1.0)
    assert runner.is_alive()                            # waiting for the lock, not grading
    (out / "alice" / "results.json").write_bytes(finished)   # the orphan finishes ...
    os.close(fd)                                        # ... and dies
    runner.join(60)
    assert frames and frames[0].set_index("id").loc["alice", "total"] == 80.0
    assert marks(log) == ["start alice", "done alice"]  # graded once, by the first run
    assert not (out / "alice" / batch.LOCK).exists()


# -- exports, plain mode, the demo's fallback -------------------------------------------------------
def test_cli_reads_names_only_from_an_explicit_export(tmp_path, fake):
    export = tmp_path / "export"
    (export / "submission_7").mkdir(parents=True)
    (export / "submission_7" / "score.txt").write_text("70")
    (export / "submission_metadata.yml").write_text(
        "submission_7:\n  :submitters:\n  - :name: Real Student\n    :email: real@x.edu\n")
    out = tmp_path / "out"
    as_paths = subprocess.run(_cli(fake, out, export), cwd=ROOT, env=_env(tmp_path / "m"),
                              capture_output=True, text=True, timeout=300)
    assert as_paths.returncode == 0, as_paths.stderr
    assert "--export" in as_paths.stderr                  # told how to get the names
    assert pd.read_csv(out / "grades.csv")["name"].isna().all()
    cmd = _cli(fake, tmp_path / "out2", export)
    cmd[cmd.index(str(export))] = "--export=" + str(export)
    as_export = subprocess.run(cmd, cwd=ROOT, env=_env(tmp_path / "m"), capture_output=True,
                               text=True, timeout=300)
    assert as_export.returncode == 0, as_export.stderr
    row = pd.read_csv(tmp_path / "out2" / "grades.csv").set_index("id").loc["submission_7"]
    assert (row["name"], row["total"]) == ("Real Student", 70.0)


def test_cli_refuses_an_export_that_is_not_one(tmp_path, capsys):
    from grader.cli import main
    (tmp_path / "plain").mkdir()
    assert main(["grade", "softmax", "--export", str(tmp_path / "plain"), "--out",
                 str(tmp_path / "o"), "--grade-fn", "x:y"]) == 2
    assert "not a Gradescope export" in capsys.readouterr().err


def test_demo_falls_back_to_plain_only_where_nothing_stronger_exists(monkeypatch, capsys):
    from examples.demo import ensure_sandbox
    from grader.sandbox import SandboxUnavailable, isolation
    monkeypatch.delenv("GRADEKIT_ALLOW_PLAIN", raising=False)
    monkeypatch.setattr(isolation, "choose", lambda requested="auto": ("bwrap", ""))
    assert ensure_sandbox() == "bwrap" and "GRADEKIT_ALLOW_PLAIN" not in os.environ
    assert capsys.readouterr().err == ""

    def plain_only(requested="auto"):
        if os.environ.get("GRADEKIT_ALLOW_PLAIN") != "1":
            raise SandboxUnavailable("plain needs GRADEKIT_ALLOW_PLAIN=1")
        return "plain", ""
    monkeypatch.setattr(isolation, "choose", plain_only)
    assert ensure_sandbox() == "plain" and os.environ["GRADEKIT_ALLOW_PLAIN"] == "1"
    warning = capsys.readouterr().err
    assert "WITHOUT OS isolation" in warning
    assert all(way in warning for way in ("bubblewrap", "Linux container", "Gradescope"))


def test_check_allows_plain_by_itself_and_run_needs_the_flag(monkeypatch, tmp_path, capsys):
    from grader import cli
    from grader.sandbox import isolation
    monkeypatch.delenv("GRADEKIT_ALLOW_PLAIN", raising=False)
    monkeypatch.setattr(isolation, "choose", lambda requested="auto": ("plain", ""))
    with pytest.raises(SystemExit, match="--unsafe-no-isolation"):
        cli.main(["run", "softmax", str(tmp_path)])
    assert "GRADEKIT_ALLOW_PLAIN" not in os.environ
    seen = {}
    monkeypatch.setattr("grader.runner.grade_submission", lambda *a, **k: seen.setdefault(
        "allowed", os.environ.get("GRADEKIT_ALLOW_PLAIN")) and {
            "score": 0, "tests": [], "execution_time": 0.0,
            "extra_data": {"gradekit": {"max_score": 1.0, "sandbox": "plain"}}})
    assert cli.main(["check", "softmax", str(tmp_path)]) == 0
    assert seen["allowed"] == "1"


def test_grader_log_has_no_control_characters(tmp_path, fake):
    """A traceback quoting student text lands in grader.log clean (a TA may `cat` it)."""
    evil = FAKE_SOURCE.replace('raise RuntimeError("fake grader bug")',
                               'raise RuntimeError("bug \\x1b]0;pwn\\x07 \\ud800")')
    path = Path(fake.partition(":")[0])
    path.write_text(evil)
    classdir = make_class(tmp_path / "class", {"oops": 10}, {"oops": {"raise.txt": ""}})
    df = grade(fake, classdir, tmp_path / "out").set_index("id")
    log = (tmp_path / "out" / "oops" / "grader.log").read_bytes().decode("utf-8")
    assert "RuntimeError: bug" in log and "\x1b" not in log and "\x07" not in log
    assert "\x1b" not in df.loc["oops", "message"] and "\ud800" not in df.loc["oops", "message"]


def test_grade_batch_refuses_plain_before_any_work(tmp_path, monkeypatch):
    from grader.sandbox import SandboxUnavailable, isolation
    monkeypatch.delenv("GRADEKIT_ALLOW_PLAIN", raising=False)
    monkeypatch.setattr(isolation, "choose", lambda requested="auto": ("plain", ""))
    classdir = make_class(tmp_path / "class", {"alice": 10})
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        batch.grade_batch("softmax", [classdir], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_result_json_cannot_hold_is_a_grader_error_row(tmp_path, fake):
    classdir = make_class(tmp_path / "class", {"alice": 80, "nan": 10}, {"nan": {"nan.txt": ""}})
    df = grade(fake, classdir, tmp_path / "out").set_index("id")
    assert df.loc["nan", "status"] == "grader_error" and "results not writable" in df.loc["nan", "message"]
    assert (df.loc["alice", "status"], df.loc["alice", "total"]) == ("graded", 80.0)
    assert (tmp_path / "out" / "nan" / "feedback.md").exists()


def _never_called(*args, **kwargs):
    raise AssertionError("no submission to grade")


def test_grading_children_are_told_to_hide_out_and_out_is_private(tmp_path, monkeypatch):
    """uid mode covers every folder in GRADEKIT_SANDBOX_HIDE with an empty tmpfs: a batch's
    OUT must be among them wherever it lives, and OUT is closed to other users of the host."""
    monkeypatch.setenv("GRADEKIT_SANDBOX_HIDE", "/elsewhere")
    out = tmp_path / "out"
    env = batch._child_env(out)
    assert env["GRADEKIT_SANDBOX_HIDE"].split(os.pathsep) == ["/elsewhere", str(out.resolve())]
    batch.grade_batch("softmax", [], out, grade_fn=_never_called, progress=False)
    assert out.stat().st_mode & 0o077 == 0


# -- build ids, regrade preview, locks --------------------------------------------------------------
def _bump_a_weight(monkeypatch) -> None:
    """A weight change as the build id sees it: test 1.1's weight + 1 (in this process)."""
    import dataclasses as dc
    from grader import build_id as builds
    real = builds.collect

    def collect(name):
        specs = real(name)
        return [dc.replace(s, weight=s.weight + 1) if i == 0 else s for i, s in enumerate(specs)]
    monkeypatch.setattr(builds, "collect", collect)


def test_a_changed_build_id_regrades_by_itself(tmp_path, monkeypatch, fake):
    """Results graded under another build are stale: a re-run grades them again without
    --force, then keeps them; a results.json recording no build id is stale too."""
    from grader import build_id as builds
    log = tmp_path / "marks"
    monkeypatch.setenv(MARKS_ENV, str(log))
    classdir = make_class(tmp_path / "class", {"alice": 100, "bob": 70})
    out = tmp_path / "out"
    grade(fake, classdir, out)
    before = builds.build_id("softmax")
    assert batch.stored_build(out / "alice" / "results.json") == before   # stamped by the batch
    grade(fake, classdir, out)
    assert len(marks(log)) == 4                                           # same build: kept
    _bump_a_weight(monkeypatch)
    after = builds.build_id("softmax")
    assert after != before
    grade(fake, classdir, out)
    assert sorted(marks(log)[4:]) == ["done alice", "done bob", "start alice", "start bob"]
    assert batch.stored_build(out / "bob" / "results.json") == after
    grade(fake, classdir, out)
    assert len(marks(log)) == 8                                           # now current: kept
    data = json.loads((out / "bob" / "results.json").read_text())
    del data["extra_data"]["gradekit"]["build_id"]
    (out / "bob" / "results.json").write_text(json.dumps(data))
    grade(fake, classdir, out)
    assert marks(log)[8:] == ["start bob", "done bob"]


def test_every_results_json_carries_the_build_id(tmp_path, fake):
    """Graded rows, intake rows and grader-error rows alike."""
    from grader import build_id as builds
    classdir = make_class(tmp_path / "class", {"alice": 100, "oops": 10},
                          {"oops": {"raise.txt": "x"}})
    (classdir / "broken.zip").write_bytes(b"not a zip")
    out = tmp_path / "out"
    df = grade(fake, classdir, out).set_index("id")
    assert list(df["status"]) == ["graded", "bad_archive", "grader_error"]
    for sid in df.index:
        assert batch.stored_build(out / sid / "results.json") == builds.build_id("softmax"), sid


def test_no_lock_files_are_left_in_out(tmp_path, fake):
    classdir = make_class(tmp_path / "class", {"alice": 100, "bob": 70})
    (classdir / "broken.zip").write_bytes(b"not a zip")
    out = tmp_path / "out"
    grade(fake, classdir, out)
    assert not list(out.rglob(batch.LOCK))
    (out / "alice" / batch.LOCK).write_text("")          # left by an older version of the kit
    grade(fake, classdir, out)                            # alice is kept, and her lock removed
    assert not list(out.rglob(batch.LOCK))


def _tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_regrade_preview_lists_moves_and_leaves_out_untouched(tmp_path, monkeypatch, fake):
    monkeypatch.setenv(MARKS_ENV, str(tmp_path / "marks"))
    classdir = make_class(tmp_path / "class", {"alice": 80, "bob": 100, "carol": 40})
    out = tmp_path / "out"
    grade(fake, classdir, out)
    snapshot = _tree(out)
    (classdir / "alice" / "score.txt").write_text("60")
    make_class(classdir, {"dan": 55})
    moves, graded = batch.preview_batch("softmax", [classdir], out, grade_fn=fake, jobs=2,
                                        progress=False)
    assert graded == 4
    by_id = {m.id: m for m in moves}
    assert set(by_id) == {"alice", "dan"}                 # bob and carol do not move
    assert (by_id["alice"].before, by_id["alice"].after) == (80.0, 60.0)
    assert by_id["alice"].tests == (("1.2", 30.0, 10.0),)
    assert by_id["dan"].before is None and by_id["dan"].after == 55.0
    assert _tree(out) == snapshot                         # OUT untouched, byte for byte
    text = batch.preview_text("softmax", moves, graded, out)
    assert "alice" in text and "-20.00" in text and "1.2: 30.00 -> 10.00" in text
    assert "2 score(s) would move, 2 unchanged" in text
    run = subprocess.run(_cli(fake, out, classdir, "--dry-run"), cwd=ROOT,
                         env=_env(tmp_path / "m"), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "regrade preview of softmax" in run.stdout and "-20.00" in run.stdout
    assert _tree(out) == snapshot


def test_an_ambiguous_submission_is_a_flagged_row_not_graded(tmp_path, monkeypatch, fake):
    monkeypatch.setenv(MARKS_ENV, str(tmp_path / "marks"))
    classdir = make_class(tmp_path / "class", {"alice": 100, "eve": 100})
    for folder, text in (("a_draft", "STUB"), ("z_final", "DONE")):
        (classdir / "eve" / folder).mkdir()
        (classdir / "eve" / folder / "softmax.py").write_text(text)
    out = tmp_path / "out"
    df = grade(fake, classdir, out).set_index("id")
    assert df.loc["eve", "status"] == "ambiguous" and df.loc["eve", "total"] == 0.0
    assert df.loc["alice", "status"] == "graded"
    assert not [m for m in marks(tmp_path / "marks") if m.endswith(" eve")]   # never graded
    feedback = (out / "eve" / "feedback.md").read_text()
    assert "a_draft/softmax.py" in feedback and "z_final/softmax.py" in feedback


def test_a_result_graded_elsewhere_is_stored_once_under_the_resume_rules(tmp_path):
    """store_result (the cluster path's only writer of OUT): this run's result once, then
    kept; a complete result of an earlier run kept unless forced; foreign data refused."""
    def task(run: str, force: bool = False) -> dict:
        return {"assignment": "softmax", "id": "ann", "dir": str(tmp_path / "ann"),
                "digest": "d1", "source": "", "run": run, "force": force, "hard_timeout": 5.0,
                "build_id": "gk-000000000001"}

    def results(t: dict, score: float) -> dict:
        data = batch.failed_results("softmax", 1.0, output="", status="graded")
        data["score"] = score
        res.with_gradekit(data, res.Gradekit(assignment="softmax", status="graded", sandbox="fake",
                                             build_id=t["build_id"]))
        return res.with_batch(data, batch._task_record(t, "graded", "", 1.0))

    first = task("run1")
    assert batch.store_result(first, results(first, 40.0), b"log one")["status"] == "graded"
    assert batch.store_result(first, results(first, 99.0))["status"] == "graded"   # a retry
    second = task("run2")
    assert batch.store_result(second, results(second, 77.0))["status"] == res.KEPT
    stored = res.read_results(tmp_path / "ann" / batch.RESULTS)
    assert stored["score"] == 40.0 and res.batch_of(stored).run == "run1"
    assert (tmp_path / "ann" / batch.LOG).read_bytes() == b"log one"
    forced = task("run3", force=True)
    batch.store_result(forced, results(forced, 77.0))
    assert res.read_results(tmp_path / "ann" / batch.RESULTS)["score"] == 77.0
    with pytest.raises(ValueError):
        batch.store_result(task("run4"), results(first, 0.0))     # another run's results
    with pytest.raises(ValueError):
        batch.store_result(task("run4"), None)
    assert not (tmp_path / "ann" / batch.LOCK).exists()
