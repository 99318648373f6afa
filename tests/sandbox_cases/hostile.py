"""Hostile submissions for tests/test_sandbox_hostile.py: each tries one attack on the grader."""
import json
import os
import struct
import sys
import time

import numpy as np


def _config():
    with open("/proc/self/cmdline", "rb") as f:
        return json.loads(f.read().split(b"\0")[-2])


def _frame(tree):
    body = json.dumps(tree).encode()
    return b"GK1\0" + struct.pack("<II", len(body), 0) + body


def _current_id():
    frame = sys._getframe()
    while frame is not None and "rid" not in frame.f_locals:
        frame = frame.f_back
    return frame.f_locals["rid"] if frame is not None else 1


# -- the protocol ---------------------------------------------------------------------------
def answer_early(rid):
    """Write a reply with id `rid` (None: the id of this very request) before returning."""
    rid = _current_id() if rid is None else rid
    os.write(_config()["resp_fd"], _frame(["d", "id", rid, "ok", True, "value", 42.0]))
    return 0.0


def answer_twice():
    """A correct reply for this request, then a second one: nobody asked for it."""
    rid = _current_id()
    fd = _config()["resp_fd"]
    os.write(fd, _frame(["d", "id", rid, "ok", True, "value", 42.0]))
    os.write(fd, _frame(["d", "id", rid + 1, "ok", True, "value", 42.0]))
    return 0.0


def fail_at_length(n):
    """This request's failure reply, forged with an n-character message and traceback, then
    exit (so no real reply follows): the trusted side must clip it to its own caps."""
    os.write(_config()["resp_fd"], _frame(["d", "id", _current_id(), "ok", False, "kind",
                                           "exception", "message", "m" * n,
                                           "detail", "d" * n]))
    os._exit(0)


# -- sizes and overflow ----------------------------------------------------------------------
def bool_reply(n):
    return np.ones(n, dtype=bool)


def huge_number(kind):
    return {"int": 10 ** 400, "list": [1.0, 10 ** 400], "neg": -(10 ** 38),
            "ok": 10 ** 30}[kind]


# -- memory ----------------------------------------------------------------------------------
def children_hold(n, megabytes, hold):
    """Fork `n` children that each touch `megabytes` MB; count the ones that held it."""
    r, w = os.pipe()
    started = 0
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                block = np.ones(megabytes << 17)
                os.write(w, b"1")
                time.sleep(hold + block[0] - 1)
            finally:
                os._exit(0)
        started += 1
    os.close(w)
    held, deadline = 0, time.monotonic() + hold
    os.set_blocking(r, False)
    while time.monotonic() < deadline and held < started:
        try:
            held += len(os.read(r, 16))
        except BlockingIOError:
            time.sleep(0.05)
    return started, held


def process_limit():
    import resource
    return resource.getrlimit(resource.RLIMIT_NPROC)[0]


# -- tampering and leftovers -----------------------------------------------------------------
def signal_parent_then_answer(sig):
    try:
        os.kill(os.getppid(), sig)
    except OSError as exc:
        return type(exc).__name__
    time.sleep(0.2)
    return 1.0


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError as exc:
        return type(exc).__name__
    return "sent"


def leave_writer(path, delay, new_session):
    """Double-fork a process that writes `path` after `delay` s (a late results rewrite)."""
    try:
        pid = os.fork()
    except OSError as exc:
        return type(exc).__name__
    if pid == 0:
        if new_session:
            os.setsid()
        if os.fork() == 0:
            time.sleep(delay)
            with open(path, "w") as f:
                f.write("forged")
        os._exit(0)
    os.waitpid(pid, 0)
    return "left"


# -- what is visible -------------------------------------------------------------------------
def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return "read %d" % len(f.read())
    except OSError as exc:
        return type(exc).__name__


def write_text(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
        return "wrote"
    except OSError as exc:
        return type(exc).__name__


def visible_pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def numpy_home():
    return [os.path.dirname(np.__file__), sys.path]


def random_draw(seed):
    return np.random.default_rng(seed).standard_normal(3)
