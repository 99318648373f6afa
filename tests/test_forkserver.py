"""grader.forkserver: children forked from a warmed-up template behave like the batch's
`subprocess.Popen` children where it matters for safety: their own session (a group kill
reaches everything they start), output to the given fd, the lock fd held open, an exit seen
without being reaped until `wait` (so a group kill never hits a reused pid), and a clear
error once the template is gone. Plus the runner's warm-up leaves no thread behind."""
from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from grader.forkserver import ForkServer, ForkServerError, close_shared, shared


@pytest.fixture(scope="module")
def server():
    s = ForkServer()
    yield s
    s.close()


def _stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return [raw[raw.rindex(")") + 2:]][0].split()     # state, ppid, pgrp, session, ...


def _until(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while (value := check()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def test_child_runs_in_its_own_session_with_output_to_the_fd(server, tmp_path):
    log = tmp_path / "log"
    with open(log, "wb") as fh:
        proc = server.popen("builtins:print", "hello from the child", stdout=fh.fileno())
        assert _until(proc.poll) == 0 and proc.wait() == 0
        sleeper = server.popen("time:sleep", 30, stdout=fh.fileno())
    state, ppid, pgrp, session = _stat(sleeper.pid)[:4]
    assert (int(ppid), int(pgrp), int(session)) == (server.pid, sleeper.pid, sleeper.pid)
    assert sleeper.poll() is None
    os.killpg(sleeper.pid, signal.SIGKILL)
    assert sleeper.wait(timeout=10) == -signal.SIGKILL and sleeper.returncode == -9
    assert log.read_text() == "hello from the child\n"


def test_an_exit_is_seen_but_not_reaped_until_wait(server, tmp_path):
    with open(tmp_path / "log", "wb") as fh:
        proc = server.popen("os:_exit", 7, stdout=fh.fileno())
    assert _until(proc.poll) == 7
    assert _stat(proc.pid)[0] == "Z"          # a zombie: its pid cannot be reused yet
    assert proc.wait(timeout=10) == 7
    assert not Path(f"/proc/{proc.pid}").exists() or _stat(proc.pid)[1] != str(server.pid)


def test_the_child_holds_the_lock_it_was_given(server, tmp_path):
    lock = tmp_path / "lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    with open(tmp_path / "log", "wb") as fh:
        proc = server.popen("time:sleep", 30, stdout=fh.fileno(), pass_fds=(fd,))
    os.close(fd)                                  # the driver's copy is gone; the child's is not
    other = os.open(lock, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(other)


def test_a_dead_template_is_an_error_not_a_hang(tmp_path):
    s = ForkServer()
    with open(tmp_path / "log", "wb") as fh:
        sleeper = s.popen("time:sleep", 30, stdout=fh.fileno())
        s.process.kill()
        s.process.wait()
        assert _until(lambda: s.dead or None) is True
        with pytest.raises(ForkServerError):
            s.popen("builtins:print", "never", stdout=fh.fileno())
    assert sleeper.poll() is not None             # reported, so a driver stops waiting
    os.killpg(sleeper.pid, signal.SIGKILL)
    s.close()


HELPERS = """
import atexit, os
def _note(what):
    with open(os.environ["FS_NOTES"], "a") as fh:
        fh.write(what + "\\n")
def warm():
    atexit.register(_note, "template exit")
def child(arg):
    atexit.register(_note, "child exit")
    return 0
"""


def test_a_child_runs_its_own_exit_handlers_never_the_templates(tmp_path):
    (tmp_path / "fs_helpers.py").write_text(HELPERS)
    notes = tmp_path / "notes"
    env = dict(os.environ, FS_NOTES=str(notes),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    s = ForkServer(preload=("fs_helpers",), warm="fs_helpers:warm", env=env)
    with open(tmp_path / "log", "wb") as fh:
        proc = s.popen("fs_helpers:child", None, stdout=fh.fileno())
    assert _until(proc.poll) == 0 and proc.wait() == 0
    assert notes.read_text() == "child exit\n"
    s.close()
    assert notes.read_text() == "child exit\ntemplate exit\n"


def test_shared_templates_one_per_key_gone_when_idle_or_closed():
    first = shared("test-key", idle_seconds=0.3)
    assert first is not None and shared("test-key", idle_seconds=0.3) is first
    assert _until(lambda: first.dead or None) is True      # idle: it exits by itself
    second = shared("test-key", idle_seconds=0.3)
    assert second is not first and not second.dead         # the next use starts another
    close_shared("test-key")
    assert _until(lambda: second.dead or None) is True
    assert shared("test-broken", preload=("no_such_module_here",)) is None
    assert shared("test-broken") is None                    # not retried for every task


def test_runner_warm_up_caches_and_leaves_no_thread():
    from grader import expected_values, runner
    before = set(threading.enumerate())
    runner.warm_up("softmax")
    assert expected_values.load.cache_info().currsize >= 2      # hidden and visible
    assert set(threading.enumerate()) <= before


def test_ctrl_c_is_the_drivers_a_child_reacts_like_a_fresh_python(tmp_path):
    s = ForkServer()
    with open(tmp_path / "log", "wb") as fh:
        child = s.popen("time:sleep", 30, stdout=fh.fileno())
    os.kill(s.process.pid, signal.SIGINT)
    os.kill(child.pid, signal.SIGINT)
    assert _until(child.poll) == 1 and child.wait() == 1       # KeyboardInterrupt
    assert s.process.poll() is None and not s.dead              # the template ignores it
    s.close()
    assert "KeyboardInterrupt" in (tmp_path / "log").read_text()
