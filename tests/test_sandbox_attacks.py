"""Attacks on the sandbox: each must leave the grader alive and the next call working.

Parametrized over bwrap, uid and plain (isolated modes skip with the reason when not usable).
File and network isolation are asserted where the mode promises them: bwrap hides the
repository and the network; uid hides only what is unreadable to uid 65534 (the kit's
`chmod o-rwx`); plain promises nothing there and says so in its note.
"""
from __future__ import annotations

import builtins
import os
import socket
import time

import numpy as np
import pytest

from grader.declaration import ROOT
from grader.sandbox import StudentError, Worker, isolation, protocol
from sandbox_cases.support import (sandbox_test_env,  # noqa: F401 (autouse)
                                   ALL_CASES, LIMITS, MODES, make_workdir, marker, mode_env,
                                   new_worker, processes_with, require)

SHORT = 1.0            # timeout for the loop attacks


@pytest.fixture(params=MODES)
def mode(request):
    with mode_env(request.param):
        require(request.param)
        yield request.param


def _still_works(w: Worker) -> None:
    """The grader is alive (we are running) and the worker answers the next call."""
    assert w.call("basic.double", (np.arange(3.0),)).tolist() == [0.0, 2.0, 4.0]


def _wait_for_exit(w: Worker) -> None:
    """The worker process is gone (it may die a moment after its last reply)."""
    deadline = time.monotonic() + 10
    while w.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not w.alive


# --------------------------------------------------------------------------- results forgery
def test_forged_results_and_exit_at_import(mode, tmp_path):
    results = tmp_path / "out" / "results.json"
    work = make_workdir(tmp_path / "sub", ALL_CASES)
    (work / "target.txt").write_text(str(results))
    (work / "target.txt").chmod(0o644)
    with Worker(work, LIMITS, mode=mode) as w:
        with pytest.raises(StudentError) as err:
            w.load("forge_results")
        assert err.value.kind == "tamper"                    # os._exit(0) mid-call: on purpose
        assert err.value.message == ("student code ended the worker itself (exit status 0) "
                                     "while importing forge_results.py")
        with pytest.raises(StudentError) as again:           # remembered, not re-run
            w.call("forge_results.anything")
        assert again.value.kind == "tamper"
        _still_works(w)
    if mode in ("bwrap", "uid"):
        assert not results.exists() and not (results.parent).exists()
        assert not (work / "results.json").exists()


# --------------------------------------------------------------------------- monkeypatching
def test_monkeypatching_numpy_unittest_builtins_stays_in_the_worker(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        w.load("monkeypatch_attack")
        assert w.call("monkeypatch_attack.patched") == [True, 0]     # live in the worker...
        assert not np.allclose(1.0, 2.0) and builtins.abs(-5) == 5    # ...not here
        import unittest
        with pytest.raises(AssertionError):
            unittest.TestCase().assertEqual(1, 2)
        got = w.call("monkeypatch_attack.wrong_answer", (np.float64(1.0),))
        assert type(got) is float and got == 2.0                       # a plain, wrong value


# --------------------------------------------------------------------------- fake values
def test_always_equal_objects_cannot_cross(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        for fn, where in (("always_equal", "AlwaysEqual"),
                          ("always_equal_nested", "AlwaysEqual (at [1]['dW'])"),
                          ("object_array", "array of dtype object"),
                          ("complex_array", "array of dtype complex128")):
            with pytest.raises(StudentError) as err:
                w.call(f"evil_values.{fn}")
            assert err.value.kind == "bad_value"
            assert err.value.message.startswith(f"{fn} returned a {where}")
        value = w.call("evil_values.float_subclass")
        assert type(value) is float and value == 1.5 and not (value == 2.0)
        _still_works(w)


def test_ndarray_subclass_comes_back_as_a_plain_array(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        got = w.call("evil_values.array_subclass")
        assert type(got) is np.ndarray and got.dtype == np.float64
        assert np.array_equal(got, np.arange(6.0).reshape(2, 3))
        assert not np.all(got == np.zeros((2, 3)))


def test_forged_reply_on_the_protocol_pipe(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        with pytest.raises(StudentError) as err:
            w.call("evil_values.forge_reply")
        assert err.value.kind == "protocol" and "not allowed" in err.value.message
        _still_works(w)


def test_oversized_reply_is_refused(mode, tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "MAX_TOTAL_BYTES", 1 << 20)        # trusted side only
    with new_worker(tmp_path, mode) as w:
        with pytest.raises(StudentError) as err:
            w.call("resources.return_big", (4,))
        assert err.value.kind == "protocol" and "larger than" in err.value.message
        _still_works(w)


# --------------------------------------------------------------------------- escaping
SECRETS = [ROOT / "reference" / "softmax" / "softmax.py",
           ROOT / "grader" / "suites" / "softmax" / "declaration.py",
           ROOT / "grader" / "declaration.py", ROOT / "Makefile",
           ROOT / "grader" / "sandbox" / "client.py"]


def test_reading_reference_fixtures_and_repo_files(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        got = {str(p): w.call("escape.read_file", (str(p),)) for p in SECRETS}
        own = w.call("escape.read_file", ("basic.py",))
        assert own.startswith("read ")                               # its own files: yes
        if mode == "bwrap":
            assert set(got.values()) <= {"FileNotFoundError", "PermissionError"}, got
            assert w.call("escape.list_dir", (str(ROOT),)) in (
                "FileNotFoundError", [".venv"])                      # only the venv is bound
            assert w.call("escape.read_file", (str(tmp_path),)) == "FileNotFoundError"
            assert w.call("escape.read_file", ("/etc/passwd",)) == "FileNotFoundError"
            assert sorted(w.call("escape.list_dir", ("/submission",))) == sorted(ALL_CASES)
            assert "gradekit" not in " ".join(w.call("escape.list_dir", ("/tmp",)))
            assert str(os.getpid()) not in w.call("escape.list_dir", ("/proc",))
        elif mode == "uid":
            assert w.call("escape.read_file", (str(tmp_path),)) in (
                "PermissionError", "FileNotFoundError")             # hidden, or closed
        else:
            assert "NO OS isolation" in w.isolation_note


def test_opening_a_socket(mode, tmp_path):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        with new_worker(tmp_path, mode) as w:
            result = w.call("escape.connect", (port,))
            if mode == "bwrap":
                assert result in ("OSError", "ConnectionRefusedError", "TimeoutError")
                with pytest.raises(socket.timeout):
                    server.accept()                        # nothing ever arrived
            _still_works(w)
    finally:
        server.close()


def test_kill_parent_hits_only_the_sandbox(mode, tmp_path):
    me = os.getpid()
    with new_worker(tmp_path, mode) as w:
        who = w.call("escape.whoami")
        assert who["ppid"] != me                                     # never the grader
        killable = mode == "plain" or (mode == "uid" and not isolation.uid_namespaces_ok())
        try:
            answer = w.call("escape.kill_parent")
        except StudentError as err:
            assert killable and err.kind == "tamper" and "killed by signal 9" in err.message
        else:
            if killable:
                # The monitor died, maybe only after the reply was sent: the call in flight
                # (here the next one) fails as tampering, never silently passes.
                _wait_for_exit(w)
                with pytest.raises(StudentError) as err:
                    _still_works(w)
                assert err.value.kind == "tamper"
            else:                       # pid 1 of a pid namespace ignores the SIGKILL
                assert answer == "still here"
        assert os.getpid() == me
        _still_works(w)
        if mode == "bwrap":                                          # pid namespace
            assert who["pid"] == 2 and who["ppid"] == 1
            w.call("escape.kill_everything")
            _still_works(w)


def test_death_between_calls_is_not_blamed_on_the_next_call(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        assert w.call("escape.exit_after_answering", (0.1,)) == "answered"
        _wait_for_exit(w)
        generation = w.generation
        _still_works(w)                                   # replaced, not reported as a crash
        assert w.generation == generation + 1
        assert "exited between calls (exit status 3)" in w.take_output()


# --------------------------------------------------------------------------- loops
def test_infinite_loop_at_import(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        t0 = time.monotonic()
        with pytest.raises(StudentError) as err:
            w.load("loop_at_import", timeout=SHORT)
        assert err.value.kind == "timeout"
        assert err.value.message == (f"importing loop_at_import.py did not finish within "
                                     f"{SHORT:g} s (infinite loop at import?)")
        t1 = time.monotonic()
        assert t1 - t0 >= SHORT
        with pytest.raises(StudentError) as again:                  # remembered: no new wait
            w.call("loop_at_import.f", timeout=30)
        assert again.value.kind == "timeout" and time.monotonic() - t1 < SHORT
        _still_works(w)


def test_infinite_loop_in_a_function(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        with pytest.raises(StudentError) as err:
            w.call("resources.spin", timeout=SHORT)
        assert err.value.kind == "timeout"
        assert err.value.message.startswith(f"spin did not finish within {SHORT:g} s")
        assert err.value.message.endswith("(infinite loop?)")    # where it ran: test_timeout_where
        _still_works(w)


# --------------------------------------------------------------------------- memory
def test_memory_bomb(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        for fn in ("huge_array", "grow_list"):
            with pytest.raises(StudentError) as err:
                w.call(f"resources.{fn}")
            assert err.value.kind == "memory"
            assert err.value.message == f"{fn} used more than {LIMITS.memory_mb} MB of memory"
            _still_works(w)


def test_file_size_limit(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        assert w.call("resources.big_file", (LIMITS.file_mb + 4,)) == "OSError"
        assert w.call("resources.big_file", (1,)) == "wrote"


# --------------------------------------------------------------------------- processes
def test_bounded_fork_bomb(mode, tmp_path):
    tag = marker()
    isolated = mode in ("bwrap", "uid")
    forks = 2000 if isolated else 150        # plain as root: RLIMIT_NPROC does not apply
    with new_worker(tmp_path, mode, forbidden=(tag,)) as w:
        made, error = w.call("resources.fork_bomb", (forks, 30), timeout=60)
        if isolated:
            assert made < LIMITS.processes and error == "BlockingIOError"
        else:
            assert made <= forks
        assert len(processes_with(tag)) >= made                      # the children are there
        _still_works(w)
    deadline = time.monotonic() + 10
    while processes_with(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(tag) == []                                 # all gone after close


def test_timeout_kills_the_whole_tree(mode, tmp_path):
    tag = marker()
    with new_worker(tmp_path, mode, forbidden=(tag,)) as w:
        w.call("resources.fork_bomb", (5, 30))
        with pytest.raises(StudentError) as err:
            w.call("resources.sleep_forever", timeout=SHORT)
        assert err.value.kind == "timeout"
        deadline = time.monotonic() + 10
        while processes_with(tag) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(tag) == []
        _still_works(w)


# --------------------------------------------------------------------------- output
def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_200_mb_of_stdout(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        w.call("basic.double", (1,))
        before = _rss_kb()
        assert w.call("resources.flood_stdout", (200,), timeout=120) == 200
        grown = _rss_kb() - before
        out = w.take_output()
        assert len(out) < LIMITS.output_kb * 1024 + 200
        dropped = int(out.split("[… ")[1].split(" bytes dropped]")[0])
        assert dropped > 190 * 2 ** 20
        assert grown < 64 * 1024                                     # KB: nothing buffered
        _still_works(w)


# --------------------------------------------------------------------------- exits, files
def test_sys_exit_and_os_exit_in_a_function(mode, tmp_path):
    with new_worker(tmp_path, mode) as w:
        with pytest.raises(StudentError) as err:
            w.call("basic.exit_in_function")
        assert err.value.kind == "exception"
        with pytest.raises(StudentError) as err:
            w.call("basic.hard_exit", (0,))
        assert err.value.kind == "tamper" and "exit status 0" in err.value.message
        _still_works(w)


def test_syntax_error_and_missing_file(mode, tmp_path):
    with new_worker(tmp_path, mode, cases=["basic.py", "broken_syntax.py"]) as w:
        with pytest.raises(StudentError) as err:
            w.load("broken_syntax")
        assert err.value.kind == "import"
        with pytest.raises(StudentError) as err:
            w.call("layers.affine_forward", (1, 2, 3))
        assert (err.value.kind, err.value.message) == \
            ("missing", "layers.py was not submitted")
        _still_works(w)
