"""Hostile submissions against the sandbox: one or more per attack that once worked.

Each test is an attacking submission (tests/sandbox_cases/hostile.py) run in the modes the
attack applies to; it asserts that the attacker gains nothing (no points path, no data, no
surviving process) and that the grader and the next call are untouched. Modes that cannot
run here skip with the reason.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from grader.checks import compare
from grader.declaration import ROOT, Limits
from grader.framework import CheckFailed
from grader.sandbox import SandboxUnavailable, StudentError, Worker, isolation, protocol, uids
from sandbox_cases.support import (sandbox_test_env,  # noqa: F401 (autouse)
                                   ISOLATED, LIMITS, MODES, TEST_UID, make_workdir, new_worker,
                                   require)

CASES = ["hostile.py", "basic.py"]


def _still_works(w: Worker) -> None:
    assert w.call("basic.double", (np.arange(3.0),)).tolist() == [0.0, 2.0, 4.0]


def _wait_for_exit(w: Worker, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while w.alive and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture(scope="module", params=MODES)
def worker(request, tmp_path_factory):
    """One worker per mode for the attacks that leave it usable."""
    require(request.param)
    w = Worker(make_workdir(tmp_path_factory.mktemp(request.param), CASES), LIMITS,
               mode=request.param)
    yield w
    w.close()


@pytest.fixture(scope="module", params=ISOLATED)
def isolated(request, tmp_path_factory):
    require(request.param)
    w = Worker(make_workdir(tmp_path_factory.mktemp(request.param), CASES), LIMITS,
               mode=request.param)
    yield w
    w.close()


# --------------------------------------------------------------------------- the protocol
def _protocol_violation(w: Worker, target: str, *args) -> None:
    """The call fails as a protocol violation, or, when its forged frame looked right and
    arrived alone, the call after it does (the real reply is then the one nobody asked
    for): a forged frame never goes unnoticed."""
    try:
        w.call(target, args)
    except StudentError as err:
        assert err.kind == "protocol", err
        return
    with pytest.raises(StudentError) as err:
        _still_works(w)
    assert err.value.kind == "protocol" and "nobody asked" in err.value.message


@pytest.mark.parametrize("rid", [-1, 0, 10 ** 6])
def test_a_reply_with_another_id_fails_the_call(worker, rid):
    """id -1 (once accepted for any request), a stale id, a future id."""
    with pytest.raises(StudentError) as err:
        worker.call("hostile.answer_early", (rid,))
    assert err.value.kind == "protocol"
    _still_works(worker)


def test_an_early_answer_with_the_right_id_is_caught(worker):
    _protocol_violation(worker, "hostile.answer_early", None)
    _still_works(worker)


def test_an_extra_frame_after_the_reply_is_caught(worker):
    _protocol_violation(worker, "hostile.answer_twice")
    _still_works(worker)


def test_a_forged_failure_is_clipped_to_the_shared_caps(worker):
    """The worker clips its messages to protocol's caps; a forged reply that does not is
    clipped again on the trusted side, to the same caps."""
    with pytest.raises(StudentError) as err:
        worker.call("hostile.fail_at_length", (100_000,))
    assert err.value.kind == "exception"
    assert err.value.message == "m" * protocol.MAX_MESSAGE + " […]"
    assert err.value.detail == "[… cut]\n" + "d" * protocol.MAX_DETAIL
    _wait_for_exit(worker)          # it exited after forging: the next call gets a fresh one
    _still_works(worker)


# --------------------------------------------------------------------------- sizes, overflow
def test_bool_replies_are_capped_at_their_float64_size(worker, monkeypatch):
    """A bool reply is checked at 8 bytes per element (what the checks widen it to) before
    any conversion: 1 MB of bools is 8 MB as float64."""
    monkeypatch.setattr(protocol, "MAX_REPLY_FLOAT64", 4 << 20)
    with pytest.raises(StudentError) as err:
        worker.call("hostile.bool_reply", (1 << 20,))
    assert err.value.kind == "protocol" and "as float64" in err.value.message
    assert worker.call("hostile.bool_reply", (1 << 18,)).dtype == np.bool_   # 2 MB: fine
    _still_works(worker)


@pytest.mark.parametrize("kind", ["int", "list"])
def test_a_number_beyond_float64_is_the_students_bad_value(worker, kind):
    with pytest.raises(StudentError) as err:
        worker.call("hostile.huge_number", (kind,))
    assert err.value.kind == "bad_value" and "digits" in err.value.message
    _still_works(worker)


def test_large_but_finite_ints_still_arrive(worker):
    assert worker.call("hostile.huge_number", ("ok",)) == 10 ** 30
    assert compare.as_scalar(worker.call("hostile.huge_number", ("neg",)), "x") == -1e38


@pytest.mark.parametrize("value", [10 ** 400, [1, 10 ** 400], (-(10 ** 400),), [[10 ** 309]]])
def test_coercion_never_overflows_into_an_internal_error(value):
    with pytest.raises(StudentError) as err:
        compare.assert_close(value, 1.0, "loss")
    assert err.value.kind == "bad_value"


@pytest.mark.parametrize("value", [float("inf"), [np.nan, 1.0], np.array([1.0, -np.inf])])
def test_non_finite_values_fail_the_check_not_the_grader(value):
    with pytest.raises(CheckFailed, match="non-finite"):
        compare.assert_close(value, np.ones(np.shape(value)), "loss")


# --------------------------------------------------------------------------- memory
def test_children_cannot_hold_more_than_the_budget(isolated):
    """Three children trying to hold 2.5 GB against a 1 GB budget: either no child starts
    (RLIMIT_NPROC 1) or the cgroup's memory.max stops them; never more than the budget."""
    budget = 1024
    w = Worker(isolated.workdir, Limits(memory_mb=budget, call_seconds=60), mode=isolated.mode)
    with w:
        try:
            started, held = w.call("hostile.children_hold", (3, 850, 3))
        except StudentError as err:               # the cgroup killed the whole sandbox
            assert err.value.kind in ("crash", "memory")
        else:
            assert held * 850 <= budget, (started, held)
        assert "memory:" in w.isolation_note and w.limits_note in w.isolation_note


def test_the_memory_budget_is_named_and_matches_the_limits(worker):
    """Without a cgroup the worker may not start a second process; the note says which."""
    expected = LIMITS.processes if isolation.cgroup_parent() is not None else 1
    assert worker.call("hostile.process_limit") == expected
    assert worker.limits_note == isolation.memory_note(worker.mode, LIMITS.memory_mb,
                                                       LIMITS.processes)
    assert ("cgroup v2 memory.max" if expected > 1 else "RLIMIT_NPROC 1") in worker.limits_note


# --------------------------------------------------------------------------- tampering
def test_killing_the_monitor_then_answering_is_tampering(tmp_path):
    """Plain mode (and uid without namespaces): the monitor can be killed; the function's
    answer after that is not trusted. In bwrap and namespaced uid mode the monitor is
    pid 1 of the sandbox's pid namespace and ignores the signal."""
    with new_worker(tmp_path, "plain", CASES) as w:
        flagged = False
        try:
            w.call("hostile.signal_parent_then_answer", (signal.SIGKILL,))
        except StudentError as err:
            flagged = err.kind == "tamper"
        if not flagged:
            _wait_for_exit(w)
            with pytest.raises(StudentError) as err:
                _still_works(w)
            flagged = err.value.kind == "tamper"
        assert flagged
        _still_works(w)


TAMPER_SOFTMAX = """
import os as _os
_reference_loss = softmax_loss_vectorized


def softmax_loss_vectorized(W, X, y, reg):
    answer = _reference_loss(W, X, y, reg)
    _os.kill(_os.getppid(), 9)
    return answer
"""


def test_a_tampering_submission_gets_the_tamper_flag(tmp_path):
    """End to end (plain mode, where the monitor can be killed): the right answer after
    killing the monitor earns nothing for that test, and the row is flagged tamper."""
    from grader.runner import grade_submission
    sub = tmp_path / "submission"
    sub.mkdir()
    code = (ROOT / "reference" / "softmax" / "softmax.py").read_text() + TAMPER_SOFTMAX
    (sub / "softmax.py").write_text(code)
    data = grade_submission("softmax", sub, sandbox_mode="plain")
    assert "tamper" in data["extra_data"]["gradekit"]["flags"]
    tampered = [t for t in data["tests"] if "supervising process" in t["output"]]
    assert tampered and all(t["score"] == 0 for t in tampered)


def test_stopping_the_monitor_is_tampering(tmp_path):
    with new_worker(tmp_path, "plain", CASES) as w:
        with pytest.raises(StudentError) as err:
            w.call("hostile.signal_parent_then_answer", (signal.SIGSTOP,))
        assert err.value.kind == "tamper" and "stopped" in err.value.message
        _still_works(w)


def test_isolated_student_code_cannot_signal_the_monitor_or_the_grader(isolated):
    assert isolated.call("hostile.signal_pid", (os.getpid(), signal.SIGKILL)) in (
        "ProcessLookupError", "PermissionError")
    assert isolated.call("hostile.signal_parent_then_answer", (signal.SIGSTOP,)) in (
        1.0, "PermissionError")
    _still_works(isolated)


# --------------------------------------------------------------------------- plain mode
def test_plain_mode_is_refused_without_the_unsafe_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADEKIT_ALLOW_PLAIN")
    work = make_workdir(tmp_path, CASES)
    with pytest.raises(SandboxUnavailable) as err:
        Worker(work, LIMITS, mode="plain")
    text = str(err.value)
    assert "bubblewrap" in text and "container" in text and "Gradescope" in text
    assert "--unsafe-no-isolation" in text
    monkeypatch.setattr(isolation, "available", lambda mode: (mode == "plain", "not here"))
    with pytest.raises(SandboxUnavailable, match="unsafe-no-isolation"):
        Worker(work, LIMITS)                               # auto would fall back to plain
    monkeypatch.setenv("GRADEKIT_ALLOW_PLAIN", "1")
    assert "NO OS isolation" in Worker(work, LIMITS).isolation_note


@pytest.mark.parametrize("new_session", [False, True])
def test_plain_mode_leftover_cannot_write_after_close(tmp_path, new_session):
    """A double-forked process (even in its own session) that would rewrite results after
    the trusted write is killed when the worker closes."""
    target = tmp_path / "late.txt"
    with new_worker(tmp_path, "plain", CASES) as w:
        assert w.call("hostile.leave_writer", (str(target), 1.0, new_session)) == "left"
    time.sleep(1.5)
    assert not target.exists()


# --------------------------------------------------------------------------- uid mode
def test_uid_mode_sees_nothing_of_the_batch_or_the_kit(tmp_path):
    require("uid")
    classmate = tmp_path / "out" / "classmate"
    classmate.mkdir(parents=True)
    (classmate / "results.json").write_text('{"score": 97}')
    (classmate / "results.json").chmod(0o644)
    for p in (tmp_path, tmp_path / "out", classmate):
        p.chmod(0o755)
    with new_worker(tmp_path / "me", "uid", CASES) as w:
        assert w.call("hostile.read_bytes", (str(classmate / "results.json"),)) in (
            "FileNotFoundError", "PermissionError")
        assert w.call("hostile.write_text", (str(classmate / "results.json"), "{}")) in (
            "FileNotFoundError", "PermissionError")
        assert w.call("hostile.read_bytes", (str(ROOT / "grader" / "declaration.py"),)) in (
            "FileNotFoundError", "PermissionError")
        assert w.call("hostile.read_bytes", (f"/proc/{os.getpid()}/cmdline",)) in (
            "FileNotFoundError", "PermissionError")
        if isolation.uid_namespaces_ok():
            assert os.getpid() not in w.call("hostile.visible_pids")
            assert len(w.call("hostile.visible_pids")) <= 3      # monitor, worker, (self)
    assert (classmate / "results.json").read_text() == '{"score": 97}'


def _stray(uid: int) -> subprocess.Popen:
    """A process of the sandbox uid outside the worker's tree (what a setsid + double fork
    leaves behind where there is no pid namespace)."""
    return subprocess.Popen(["sleep", "60"], user=uid, group=uid, start_new_session=True)


def test_uid_mode_hides_the_graders_folder_and_listed_outputs(tmp_path, monkeypatch):
    """A batch's OUT outside the usual places: hidden when it is the grader's working
    folder or listed in GRADEKIT_SANDBOX_HIDE."""
    require("uid")
    if not isolation.uid_namespaces_ok():
        pytest.skip("no private mount namespace here: the note says what stays visible")
    import shutil
    import tempfile
    outs = [Path(tempfile.mkdtemp(prefix="gk-out-", dir="/var")) for _ in range(2)]
    try:
        for out in outs:
            out.chmod(0o755)
            (out / "results.json").write_text("{}")
            (out / "results.json").chmod(0o644)
        monkeypatch.chdir(outs[0])
        monkeypatch.setenv("GRADEKIT_SANDBOX_HIDE", str(outs[1]))
        with new_worker(tmp_path, "uid", CASES) as w:
            for out in outs:
                assert w.call("hostile.read_bytes", (str(out / "results.json"),)) == \
                    "FileNotFoundError"
    finally:
        for out in outs:
            shutil.rmtree(out, ignore_errors=True)


def test_kill_uid_leaves_no_process_of_the_uid():
    """On a uid leased like a sandbox's: a uid-wide kill of a uid another sandbox (another
    test process) runs as would kill that sandbox."""
    require("uid")
    lease = uids.acquire()
    try:
        stray = _stray(lease.uid)
        try:
            isolation.kill_uid(lease.uid)
            assert stray.wait(timeout=10) == -signal.SIGKILL
            assert isolation.uid_processes(lease.uid) == []
        finally:
            if stray.poll() is None:
                stray.kill()
                stray.wait()
    finally:
        lease.release()


SYSTEM_PYTHON = Path(f"/usr/bin/python{os.sys.version_info[0]}.{os.sys.version_info[1]}")


def test_uid_mode_without_namespaces_kills_every_process_of_its_uid(tmp_path, monkeypatch):
    """The fallback for containers without a private pid namespace: the stray process does
    not survive into the next student's run. (Needs an interpreter other users can run;
    numpy comes from the sandbox's own site folder, not the system.)"""
    require("uid")
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no {SYSTEM_PYTHON} for the namespace-less uid worker")
    monkeypatch.setattr(isolation, "uid_namespaces_ok", lambda: False)
    monkeypatch.setenv("GRADEKIT_SANDBOX_PYTHON", str(SYSTEM_PYTHON))
    stray = None
    try:
        with new_worker(tmp_path, "uid", CASES) as w:
            w.start()
            uid = w.info["uid"]                    # the uid this sandbox leased
            assert (uid, uid) in uids.pool()
            stray = _stray(uid)
            assert w.call("hostile.numpy_home")[0].startswith("/tmp/")
            _still_works(w)
        assert stray.wait(timeout=10) == -signal.SIGKILL
        assert isolation.uid_processes(uid) == []
    finally:
        if stray is not None and stray.poll() is None:
            stray.kill()
            stray.wait()


def test_uid_work_dir_is_closed_to_other_users(tmp_path):
    require("uid")
    stage, remove = isolation._stage(make_workdir(tmp_path, CASES), int(TEST_UID),
                                     int(TEST_UID))
    try:
        sub = stage / "submission"
        assert sub.stat().st_uid == int(TEST_UID) and sub.stat().st_mode & 0o077 == 0
        assert stage.stat().st_mode & 0o777 == 0o711
    finally:
        remove()


# --------------------------------------------------------------------------- what is visible
def _sklearn_digits() -> Path | None:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    return path if path.exists() else None


def test_only_numpy_is_visible_not_staff_packages_or_data(isolated):
    """The staff venv's scikit-learn ships the digits data with labels; datasets/ holds the
    held-out sets. Neither is readable from the sandbox; numpy comes from a private site."""
    targets = [p for p in [_sklearn_digits(), *sorted((ROOT / "datasets" / "processed")
                                                      .glob("*.npz"))] if p is not None]
    assert targets
    for path in targets:
        assert isolated.call("hostile.read_bytes", (str(path),)) in (
            "FileNotFoundError", "PermissionError"), path
    numpy_dir, path = isolated.call("hostile.numpy_home")
    assert numpy_dir.startswith((isolation.INNER_SITE, isolation.UID_INNER, "/tmp/"))
    assert not [p for p in path if "site-packages" in p]


def test_worker_runs_with_no_numpy_in_the_system_python(isolated):
    """The worker's numpy is the kit's, whatever the system interpreter has (a fresh
    machine has none)."""
    isolated.start()                # the module's worker may not have run yet (pytest -n)
    assert isolated.info["numpy"] == np.__version__


# --------------------------------------------------------------------------- containers
def test_a_plain_dict_in_the_worker_leaves_numpy_working(worker):
    """Creating the grader's bn_param dict never re-imports builtins: numpy's lazily
    loaded np.random still works in student code afterwards."""
    handle = worker.new("builtins.dict", kwargs={"mode": "train"})
    got = worker.call("hostile.random_draw", (0,))
    assert np.array_equal(got, np.random.default_rng(0).standard_normal(3))
    worker.release(handle)


def test_a_seeded_generator_is_made_by_the_worker_whatever_the_submission_calls_numpy(worker):
    """The grader seeds a numpy Generator inside the worker (e.g. for a dropout mask it
    predicts) without going through any submission module: a student who wrote
    `import numpy` (no `np`) is not failed for it, and the draws are the seed's."""
    handle = worker.new("numpy.random.default_rng", (7,))
    got = worker.call_method(handle, "standard_normal", (4,))
    assert np.array_equal(got, np.random.default_rng(7).standard_normal(4))
    worker.release(handle)
