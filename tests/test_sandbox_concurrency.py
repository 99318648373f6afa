"""Two sandboxes at once never hurt each other: each running sandbox has a uid of its own.

A false tamper or crash verdict caused by ANOTHER submission's sandbox is a grading bug: one
student must never cost another anything. With one uid shared by every sandbox, uid mode's
fallback without namespaces (kill every process of the uid when a worker stops) and a
student's `kill(-1, SIGKILL)` there also killed the bwrap and namespaced-uid sandboxes of
other graders on the machine (seen under pytest-xdist as "unshare: sigprocmask unblock
failed" and a bwrap sandbox reported as `tamper`), and one sandbox could read another's
staged submission. grader/sandbox/uids.py leases one uid per running sandbox.
tests/sandbox_stress.py is the long version of the last test.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import StudentError, Worker, isolation
from sandbox_cases.support import (sandbox_test_env,  # noqa: F401 (autouse)
                                   new_worker, require)

CASES = ["basic.py", "escape.py"]
SYSTEM_PYTHON = f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
TESTS = Path(__file__).resolve().parent


def _still_works(w: Worker) -> None:
    assert w.call("basic.double", (np.arange(3.0),)).tolist() == [0.0, 2.0, 4.0]


def _without_namespaces(monkeypatch) -> None:
    """uid mode's fallback for containers without a pid namespace (the uid-wide kill), with
    an interpreter other uids can run (as tests/test_sandbox_hostile.py does)."""
    require("uid")
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"no {SYSTEM_PYTHON} for the namespace-less uid worker")
    monkeypatch.setattr(isolation, "uid_namespaces_ok", lambda: False)
    monkeypatch.setenv("GRADEKIT_SANDBOX_PYTHON", SYSTEM_PYTHON)


def test_a_uid_wide_kill_in_one_sandbox_spares_the_others(tmp_path, monkeypatch):
    """Sandboxes already running (bwrap, namespaced uid) keep answering, with no restart,
    while a namespace-less uid sandbox next to them runs kill(-1, SIGKILL) and is closed
    (which kills every process of its uid)."""
    victims = []
    try:
        for mode in ("bwrap", "uid"):
            if isolation.available(mode)[0]:
                w = new_worker(tmp_path / mode, mode, CASES)
                victims.append(w)
                _still_works(w)
        if not victims:
            pytest.skip("neither bwrap nor uid mode runs here")
        _without_namespaces(monkeypatch)
        with new_worker(tmp_path / "noisy", "uid", CASES) as noisy:
            try:
                noisy.call("escape.kill_everything")    # its own monitor dies: its verdict
            except StudentError as err:
                assert err.kind in ("tamper", "crash")
        time.sleep(0.2)
        for w in victims:
            _still_works(w)                              # no tamper, no crash
            assert w.generation == 1, f"{w.mode}: the worker was restarted"
        seen = {w.info["uid"] for w in victims} | {noisy.info.get("uid")}
        assert len(seen) == len(victims) + 1, "two running sandboxes shared a uid"
    finally:
        for w in victims:
            w.close()


def test_a_sandbox_cannot_read_another_running_sandboxs_submission(tmp_path, monkeypatch):
    """Without namespaces every stage is on the host's /tmp: the staged copy (0700, owned by
    the sandbox's uid) is closed to the other sandbox only because their uids differ."""
    _without_namespaces(monkeypatch)
    with new_worker(tmp_path / "a", "uid", CASES) as a, \
            new_worker(tmp_path / "b", "uid", CASES) as b:
        where = a.call("basic.environment")["cwd"]
        assert b.call("escape.read_file", (f"{where}/basic.py",)) == "PermissionError"
        assert b.call("escape.list_dir", (where,)) == "PermissionError"
        assert a.info["uid"] != b.info["uid"]


HOLDER = """
import sys, time
from grader.sandbox import uids
lease = uids.acquire()
print(lease.uid, flush=True)
time.sleep(60)
"""


def test_two_graders_never_lease_the_same_uid():
    """A uid leased by another grader process is skipped; the kernel frees it when that
    grader dies without releasing it; a released uid is the next one handed out."""
    require("uid")                                   # root: real uids, real locks
    from grader.sandbox import uids
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(TESTS.parent)))
    try:
        held = int(holder.stdout.readline())
        mine = uids.acquire()
        other = uids.acquire()
        try:
            assert len({held, mine.uid, other.uid}) == 3
            assert {held, mine.uid, other.uid} <= {u for u, _ in uids.pool()}
        finally:
            other.release()
            mine.release()
        holder.send_signal(signal.SIGKILL)               # dies holding its lease
        holder.wait(timeout=10)
        leases = []                     # the lowest free uids, up to the dead grader's
        try:
            while not leases or leases[-1].uid != held and len(leases) < len(uids.pool()):
                leases.append(uids.acquire(wait=5.0))
            assert leases[-1].uid == held                # free again, though never released
        finally:
            for lease in leases:
                lease.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_the_pool_skips_the_16_bit_no_uid_and_existing_accounts(monkeypatch):
    from grader.sandbox import uids
    monkeypatch.setenv("GRADEKIT_SANDBOX_UID", "65530")
    monkeypatch.setenv("GRADEKIT_SANDBOX_UIDS", "8")
    pool = [u for u, _ in uids.pool()]
    assert pool[0] == 65530 and len(pool) == 8 and 65535 not in pool
    assert all(not uids._is_account(u) for u in pool[1:])
    monkeypatch.setenv("GRADEKIT_SANDBOX_UID", str(os.getuid()))   # an account: first only
    assert [u for u, _ in uids.pool()].count(os.getuid()) == 1


def test_two_grader_processes_at_once(tmp_path):
    """Two processes start their sandboxes at the same moment (as `grade --jobs 2` or
    pytest -n 2 do): a steady bwrap worker next to a namespace-less uid one that attacks
    (fork, kill(-1), kill its monitor). The steady side sees no failure at all."""
    require("bwrap")
    require("uid")
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"no {SYSTEM_PYTHON} for the namespace-less uid worker")
    sys.path.insert(0, str(TESTS))
    try:
        import sandbox_stress
    finally:
        sys.path.remove(str(TESTS))
    reports = sandbox_stress.run_pair("bwrap/uid-nons", "steady+hostile", rounds=3,
                                      timeout=120)
    steady = [r for r in reports if r["role"] == "steady"]
    assert steady and steady[0]["failures"] == [] and steady[0]["calls"] == 36, reports
