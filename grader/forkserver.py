"""Start grading processes by forking a warmed-up template instead of starting Python again.

Why (issue #13): a batch grades each submission in a process of its own (a crash, hang or
leak costs that submission only; killing its process group kills its sandboxes), and every
such process paid a Python start, the kit's imports (numpy, the grader, the suites) and the
sandbox probe before its first test: ~0.4 s of CPU per submission. The template pays them
once; each `popen` forks it, so every submission still runs in a fresh process of its own
(own session, own pid, nothing of another submission in it: the template never grades), at
the cost of a fork.

    server = ForkServer(preload=("grader.batch",), warm="grader.runner:warm_up",
                        warm_args=("two_layer_net",), env=env, cwd=root)
    proc = server.popen("grader.batch:child_main", spec, stdout=log_fd, pass_fds=(lock_fd,))
    ... proc.pid, proc.poll(), os.killpg(proc.pid, SIGKILL), proc.wait(), proc.returncode
    server.close()

or, from threads that share one template per key (a batch run): `shared(run, **same)`
(None when it cannot start: start the child the usual way) and `close_shared(run)`.

`Forked` answers like `subprocess.Popen` for what a driver needs (`pid`, `poll`, `wait`,
`returncode`), with one rule that keeps a process-group kill safe: the template notices an
exit without reaping it (the pid, hence the group id, cannot be reused), and reaps only when
`wait` asks, i.e. after the driver's kill. The template runs single-threaded (fork is safe
then; `warm` must not leave threads behind) and exits when its driver closes the socket or
dies; its children then see their parent change (a driver's watchdog can kill them).

Messages: one JSON object per SOCK_SEQPACKET packet, file descriptors alongside
(SCM_RIGHTS). Only the trusted grader talks on this socket: it is a socketpair, never a path.
"""
from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import Any, Callable

MAX_MESSAGE = 1 << 20          # bytes of one request (a task spec is a few KB)
MAX_FDS = 8
POLL_SECONDS = 0.05            # how often the template looks for children that exited
IDLE_SECONDS = 120.0           # a template with no child and no request this long exits
WARM_THREADS_WAIT = 5.0        # s the template waits for threads its warm-up left running


def _resolve(target: str) -> Callable[..., Any]:
    """`module:function` -> the function."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _exit_code(info: os.waitid_result) -> int:
    """A waitid result as `Popen.returncode` reads: the exit status, or -signal."""
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


# -- the template (its own process) ---------------------------------------------------------------
def _child(sock: socket.socket, request: dict[str, Any], fds: list[int], started: int) -> None:
    """In the forked child: its own session (then one byte on `started`), stdout/stderr to
    the given fd, then the target; at its end the exit handlers the child registered (not
    the template's: those would undo the template's state for every later child). Never
    returns into the template's loop."""
    code = 1
    atexit._clear()
    signal.signal(signal.SIGINT, signal.default_int_handler)     # as in a fresh Python
    try:
        sock.close()
        os.setsid()
        os.write(started, b"s")
        os.close(started)
        out, keep = fds[0], fds[1:]
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        for fd in {devnull, out} - set(keep) - {0, 1, 2}:
            os.close(fd)
        os.chdir(request["cwd"])
        result = _resolve(request["target"])(request["arg"])
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
        except BaseException:
            pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(code & 0xFF)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode())


def serve(sock: socket.socket, idle_seconds: float = IDLE_SECONDS) -> None:
    """The template's loop: fork on request, report exits (unreaped), reap on request; return
    when the driver closes its end, or after `idle_seconds` without a child or a request
    (a driver that never closes it, e.g. a cluster worker, does not keep it forever)."""
    children: dict[int, bool] = {}              # pid -> exit already reported
    idle_since = time.monotonic()
    while True:
        ready, _, _ = select.select([sock], [], [], POLL_SECONDS)
        if children or ready:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle_seconds:
            return
        for pid, told in list(children.items()):
            if told:
                continue
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None:
                children[pid] = True
                _send(sock, {"exited": pid, "returncode": _exit_code(info)})
        if not ready:
            continue
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
        if not data:
            return
        request = json.loads(data)
        if "reap" in request:
            pid = int(request["reap"])
            _, status = os.waitpid(pid, 0)
            children.pop(pid, None)
            _send(sock, {"reaped": pid, "returncode": os.waitstatus_to_exitcode(status)})
            continue
        started_r, started_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(started_r)
            _child(sock, request, fds, started_w)
        os.close(started_w)
        os.read(started_r, 1)        # its session exists (or it died): a group kill reaches it
        os.close(started_r)
        for fd in fds:
            os.close(fd)
        children[pid] = False
        _send(sock, {"forked": pid})


def template_main(fd: int, config: dict[str, Any]) -> None:
    """Import, warm up, check that no thread is left, then serve on socket `fd`. Ctrl-C in
    the terminal is the driver's to handle: the template ends when the driver does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    for module in config.get("preload", ()):
        importlib.import_module(module)
    if config.get("warm"):
        _resolve(config["warm"])(*config.get("warm_args", ()))
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(WARM_THREADS_WAIT)
    if threading.active_count() != 1:
        raise SystemExit("forkserver: the warm-up left threads running; forking is unsafe")
    gc.freeze()                      # template objects stay shared with every child
    _send(sock, {"ready": os.getpid()})
    serve(sock, float(config.get("idle_seconds", IDLE_SECONDS)))


# -- the driver's side ----------------------------------------------------------------------------
class ForkServerError(RuntimeError):
    """The template could not start, or died."""


class Forked:
    """A child forked by a `ForkServer`, answering like `subprocess.Popen` (see module doc)."""

    def __init__(self, server: "ForkServer", pid: int):
        self.server, self.pid = server, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status once the child exited (it is reaped only by `wait`), else None."""
        return self.server._exit_status(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        """Reap the child (after it exited, or a kill) and return its status."""
        self.returncode = self.server._reap(self.pid, timeout)
        return self.returncode


class ForkServer:
    """One template process (`python -m grader.forkserver`), its socket and a reader thread.
    `popen` and `Forked` methods may be called from any thread."""

    def __init__(self, *, preload: tuple[str, ...] = (), warm: str | None = None,
                 warm_args: tuple[Any, ...] = (), env: dict[str, str] | None = None,
                 cwd: str | None = None, start_seconds: float = 120.0,
                 idle_seconds: float = IDLE_SECONDS):
        self.cwd = cwd or os.getcwd()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"preload": list(preload), "warm": warm, "warm_args": list(warm_args),
                  "idle_seconds": idle_seconds}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "grader.forkserver", str(theirs.fileno()),
                 json.dumps(config)],
                env=env, cwd=self.cwd, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        self.sock = ours
        self.lock = threading.Lock()             # one fork request at a time
        self.cond = threading.Condition()
        self.exited: dict[int, int] = {}         # pid -> status, not reaped yet
        self.reaped: dict[int, int] = {}
        self.forked: list[int] = []
        self.dead = False
        ready, _, _ = select.select([ours], [], [], start_seconds)
        hello = json.loads(ours.recv(MAX_MESSAGE) or b"{}") if ready else {}
        if "ready" not in hello:
            self.close()
            raise ForkServerError("the fork server did not start (see its output above)")
        self.pid = int(hello["ready"])
        self.reader = threading.Thread(target=self._read, name="forkserver-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.dead = True
                    self.cond.notify_all()
                    return
                message = json.loads(data)
                if "forked" in message:
                    self.forked.append(int(message["forked"]))
                elif "exited" in message:
                    self.exited[int(message["exited"])] = int(message["returncode"])
                elif "reaped" in message:
                    self.reaped[int(message["reaped"])] = int(message["returncode"])
                self.cond.notify_all()

    def _await(self, ready: Callable[[], Any], timeout: float | None) -> Any:
        """`ready()` (side-effect free) once it is not None; ForkServerError if the template
        died first."""
        with self.cond:
            if not self.cond.wait_for(lambda: ready() is not None or self.dead, timeout):
                raise subprocess.TimeoutExpired("forkserver", timeout or 0)
            value = ready()
            if value is None:
                raise ForkServerError("the fork server died")
            return value

    def popen(self, target: str, arg: Any, *, stdout: int, pass_fds: tuple[int, ...] = (),
              cwd: str | None = None) -> Forked:
        """Fork the template to run `target(arg)` (`module:function`; its return value, an
        int, is the exit status) in a new session, stdout and stderr to `stdout`, stdin
        from /dev/null, holding `pass_fds` open (e.g. a lock), in `cwd`."""
        request = json.dumps({"target": target, "arg": arg, "cwd": cwd or self.cwd}).encode()
        with self.lock:
            try:
                socket.send_fds(self.sock, [request], [stdout, *pass_fds])
            except OSError as exc:
                raise ForkServerError(f"the fork server is gone: {exc}") from None
            self._await(lambda: self.forked or None, None)
            with self.cond:
                pid = self.forked.pop(0)
        return Forked(self, pid)

    def _exit_status(self, pid: int) -> int | None:
        with self.cond:
            if pid in self.reaped:
                return self.reaped[pid]
            if self.dead:                       # its children killed themselves: say so
                return self.exited.get(pid, -9)
            return self.exited.get(pid)

    def _reap(self, pid: int, timeout: float | None) -> int:
        with self.cond:
            if pid in self.reaped:
                return self.reaped[pid]
        try:
            _send(self.sock, {"reap": pid})
        except OSError:
            return self._exit_status(pid) or -9
        try:
            return self._await(lambda: self.reaped.get(pid), timeout)
        except ForkServerError:
            return -9

    def close(self) -> None:
        """End the template (its children are left to their own watchdogs)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # EOF now, even while the reader is in recv
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- one template per key (e.g. a batch run) in this process ---------------------------------------
_SHARED: dict[str, ForkServer | None] = {}
_SHARED_LOCK = threading.Lock()


def shared(key: str, **start: Any) -> ForkServer | None:
    """This process's template for `key`, started with `start` (ForkServer's arguments) on
    first use, and again if it died or went idle; None when it cannot start (then, and for
    any ForkServerError from `popen`, start the child the usual way)."""
    with _SHARED_LOCK:
        server = _SHARED.get(key)
        if key in _SHARED and server is None:
            return None                            # it failed once: do not retry per task
        if server is None or server.dead:
            if server is not None:
                server.close()                     # reap the template that went away
            try:
                server = ForkServer(**start)
            except (ForkServerError, OSError):
                server = None
            _SHARED[key] = server
        return server


def close_shared(key: str) -> None:
    """End the template of `key`, if this process has one (a batch run is over)."""
    with _SHARED_LOCK:
        server = _SHARED.pop(key, None)
    if server is not None:
        server.close()


if __name__ == "__main__":
    template_main(int(sys.argv[1]), json.loads(sys.argv[2]))
