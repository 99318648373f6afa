"""One worker process: start it from a `Launch`, read its hello, kill its whole tree.

This is the part of the trusted side that knows about processes and pipes, and nothing about
requests or isolation modes: `client.Worker` sends requests through a `WorkerProcess`;
`isolation` builds the `Launch` for a mode and probes whether a mode works by starting one
here, so isolation never needs the client (the client imports isolation: one way only).

Pipes: requests go on one pipe, replies come back on another (both dedicated, passed as fds
listed in the worker's config); the student's stdout and stderr share a third, drained by an
`OutputPump` thread into a capped `OutputLog` so printing never blocks the worker.
"""
from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import grader.sandbox.protocol as protocol
from grader.declaration import Limits

START_SECONDS = 60.0          # bwrap + Python + numpy on a loaded 2-core machine


@dataclass
class Launch:
    """Everything `subprocess.Popen` needs to start one worker, plus its cleanup."""
    argv: list[str]
    env: dict[str, str]
    cwd: str
    pass_fds: tuple[int, ...]
    popen_kwargs: dict[str, Any] = field(default_factory=dict)
    data_fds: list[int] = field(default_factory=list)    # ours to close once started
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close_data(self) -> None:
        """Close the fds bwrap copies files from (idempotent: each fd closed once)."""
        while self.data_fds:
            try:
                os.close(self.data_fds.pop())
            except OSError:
                pass

    def cleanup(self) -> None:
        self.close_data()
        while self.cleanups:
            try:
                self.cleanups.pop()()
            except Exception:
                pass


Launcher = Callable[..., Launch]     # (workdir=, config=, pass_fds=) -> Launch


def worker_config(limits: Limits, forbidden_imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """The worker's JSON config (rlimits, import blocklist); `spawn` adds the pipe fds."""
    return {"limits": {"memory_mb": limits.memory_mb, "processes": limits.processes,
                       "open_files": limits.open_files, "file_mb": limits.file_mb,
                       "cpu_seconds": int(limits.submission_seconds + 60)},
            "forbidden": list(forbidden_imports)}


# --------------------------------------------------------------------------- output
class OutputLog:
    """Student stdout+stderr: keeps the first and last `cap/2` bytes, counts the rest."""

    def __init__(self, cap: int):
        self.half = max(cap // 2, 1)
        self.lock = threading.Lock()
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        with self.lock:
            room = self.half - len(self.head)
            if room > 0:
                self.head += data[:room]
                data = data[room:]
            if data:
                self.tail += data
                extra = len(self.tail) - self.half
                if extra > 0:
                    self.dropped += extra
                    del self.tail[:extra]

    def take(self) -> str:
        with self.lock:
            head, tail, dropped = bytes(self.head), bytes(self.tail), self.dropped
            self.head, self.tail, self.dropped = bytearray(), bytearray(), 0
        text = head.decode("utf-8", "replace")
        if dropped:
            text += f"\n[… {dropped} bytes dropped]\n"
        return text + tail.decode("utf-8", "replace")


class OutputPump:
    """Drains one worker's stdout/stderr pipe into an OutputLog.

    A thread keeps the pipe empty while student code runs (so printing never blocks the
    worker); `settle()` drains what is already in the pipe from the caller's thread, so
    everything printed before a reply is in the log when the reply is handled. One lock
    around read+append keeps chunks in order.
    """

    def __init__(self, fd: int, log: OutputLog, name: str):
        self.fd, self.log = fd, log
        self.lock = threading.Lock()
        self.closed = False
        os.set_blocking(fd, False)
        self.thread = threading.Thread(target=self._run, daemon=True, name=name)
        self.thread.start()

    def _read_once(self) -> bool:
        """Read one chunk under the lock; False at end of stream."""
        with self.lock:
            if self.closed:
                return False
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                os.close(self.fd)
                return False
            self.log.add(chunk)
            return True

    def _run(self) -> None:
        while not self.closed:
            try:
                select.select([self.fd], [], [], 0.2)
            except (OSError, ValueError):
                break
            if not self._read_once():
                break

    def settle(self) -> None:
        """Move everything already written to the pipe into the log."""
        with self.lock:
            while not self.closed:
                try:
                    chunk = os.read(self.fd, 1 << 16)
                except (BlockingIOError, OSError):
                    break
                if not chunk:
                    break
                self.log.add(chunk)

    def stop(self, wait: float = 2.0) -> None:
        """Wait for end of stream (the worker is dead), then make sure the fd is closed."""
        self.thread.join(timeout=wait)
        with self.lock:
            if not self.closed:
                self.closed = True
                os.close(self.fd)


# --------------------------------------------------------------------------- the process
class WorkerProcess:
    """A started worker that said hello: its Popen, the trusted ends of its request and
    reply pipes, its output pump and its launch (whose cleanup runs once it is killed)."""

    def __init__(self, popen: subprocess.Popen, launch: Launch, req_fd: int, resp_fd: int,
                 pump: OutputPump):
        self.popen, self.launch, self.pump = popen, launch, pump
        self.req_fd, self.resp_fd = req_fd, resp_fd
        self.hello: dict[str, Any] = {}          # pid, uid, Python and numpy versions

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        """Still running? (Checked without reaping it.)"""
        return not _exited(self.pid, 0.0)

    def exited(self, grace: float) -> bool:
        """Wait up to `grace` s for the process to exit, without reaping it."""
        return _exited(self.pid, grace)

    def signalled(self) -> str | None:
        """'killed by signal N' / 'stopped by a signal' when the sandbox's top process
        (monitor or bwrap) was, without reaping it; None while it is intact."""
        return _signalled(self.pid)

    def end_requests(self, grace: float) -> None:
        """Close the request pipe (EOF: an idle worker exits by itself) and wait up to
        `grace` s for it to do so."""
        if self.req_fd >= 0:
            try:
                os.close(self.req_fd)
            except OSError:
                pass
            self.req_fd = -1
            _exited(self.pid, grace)

    def kill(self) -> int | None:
        """Kill the worker and everything it started, close our pipe ends, stop the pump and
        clean up the launch; return its exit status (None if it could not be reaped)."""
        _kill_tree(self.pid)          # before reaping: the pid must not be reused yet
        try:
            status = self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            status = None
        for fd in (self.req_fd, self.resp_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.req_fd = self.resp_fd = -1
        self.pump.stop()
        self.launch.cleanup()
        return status


def _start(launcher: Launcher, workdir: Path, config: dict[str, Any], log: OutputLog, *,
           name: str) -> WorkerProcess:
    """Start a worker with `launcher`: its pipes, its process, its output pump."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    out_r, out_w = os.pipe()
    for fd in (req_w, resp_w):
        _grow_pipe(fd)
    launch = None
    try:
        config = dict(config, req_fd=req_r, resp_fd=resp_w)
        launch = launcher(workdir=workdir, config=config, pass_fds=(req_r, resp_w))
        popen = subprocess.Popen(
            launch.argv, env=launch.env, cwd=launch.cwd, stdin=subprocess.DEVNULL,
            stdout=out_w, stderr=out_w, pass_fds=launch.pass_fds,
            start_new_session=True, close_fds=True, **launch.popen_kwargs)
    except BaseException:
        for fd in (req_r, req_w, resp_r, resp_w, out_r, out_w):
            os.close(fd)
        if launch is not None:
            launch.cleanup()
        raise
    for fd in (req_r, resp_w, out_w):
        os.close(fd)
    launch.close_data()
    os.set_blocking(req_w, False)
    return WorkerProcess(popen, launch, req_w, resp_r, OutputPump(out_r, log, name))


def _no_start(process: WorkerProcess, log: OutputLog, mode: str) -> RuntimeError:
    status = process.kill()
    out = log.take().strip()[-2000:]
    return RuntimeError(f"the sandbox ({mode}) could not start the worker "
                        f"({describe_exit(status)}): {out or 'no output'}")


def spawn(launcher: Launcher, workdir: Path, config: dict[str, Any], log: OutputLog, *,
          mode: str, name: str) -> WorkerProcess:
    """Start a worker with `launcher` and wait for its hello; RuntimeError (with its exit
    status and last output) when it does not say hello within START_SECONDS."""
    process = _start(launcher, workdir, config, log, name=name)
    try:
        body, buffers = protocol.read_frame(process.resp_fd, time.monotonic() + START_SECONDS)
        hello = protocol.decode(body, buffers)
        if not (isinstance(hello, dict) and hello.get("ok") and hello.get("id") == 0):
            raise protocol.ProtocolError("the worker's first message is not its hello")
    except (protocol.Timeout, protocol.Closed, protocol.ProtocolError):
        raise _no_start(process, log, mode) from None
    process.hello = hello["value"]
    return process


PROBE_OK = b"gradekit-probe-ok"      # worker_main.PROBE_OK


def probe(launcher: Launcher, workdir: Path, config: dict[str, Any], log: OutputLog, *,
          mode: str, name: str) -> None:
    """Start a worker in probe mode and wait for its answer: the sandbox starts the worker's
    Python on its files, numpy can be found in it, the reply pipe works. Unlike `spawn`, the
    worker answers before importing numpy and exits (isolation's choice of a mode costs a
    Python start, not a worker start). RuntimeError, as from `spawn`, when it does not."""
    process = _start(launcher, workdir, dict(config, probe=True), log, name=name)
    try:
        answer = bytearray(len(PROBE_OK))
        protocol._read_exact(process.resp_fd, answer, time.monotonic() + START_SECONDS)
        if bytes(answer) != PROBE_OK:
            raise protocol.ProtocolError("the probe worker's answer is not the expected one")
    except (protocol.Timeout, protocol.Closed, protocol.ProtocolError):
        raise _no_start(process, log, mode) from None
    process.end_requests(grace=1.0)
    process.kill()


# --------------------------------------------------------------------------- helpers
def more_pending(fd: int) -> bool:
    """Bytes already waiting after a reply: a second frame nobody asked for (an end of
    stream, a worker that exited after answering, is not)."""
    try:
        import fcntl
        import termios
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0] > 0
    except (OSError, ImportError, ValueError):
        return False


def describe_exit(status: int | None) -> str:
    if status is None:
        return "it could not be stopped cleanly"
    if status < 0:
        sig = -status
    elif status > 128:
        sig = status - 128           # bwrap and the plain-mode monitor report 128 + signal
    else:
        return f"exit status {status}"
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = "?"
    extra = " — CPU time limit" if sig == signal.SIGXCPU else ""
    return f"killed by signal {sig} ({name}{extra})"


def _grow_pipe(fd: int, size: int = 1 << 20) -> None:
    """Fewer wake-ups for big arrays: a 1 MB pipe buffer where Linux allows it."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError):
        pass


def _signalled(pid: int) -> str | None:
    """'killed by signal N' / 'stopped' for our child `pid`, without reaping it; else None."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    if info is not None:
        if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
            return f"killed by signal {info.si_status}"
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        state = stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3]
    except (OSError, ValueError):
        return None
    return "stopped by a signal" if state in (b"T", b"t") else None


def _exited(pid: int, grace: float) -> bool:
    """Wait up to `grace` s for `pid` to exit, without reaping it (WNOWAIT)."""
    deadline = time.monotonic() + grace
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _process_table() -> dict[int, tuple[int, int, int, bytes]]:
    """pid -> (ppid, process group, session, state) for every process in /proc."""
    table = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[3]), fields[0])
        except (OSError, ValueError, IndexError):
            continue
    return table


def _sandbox_pids(pid: int, table: dict[int, tuple[int, int, int, bytes]]) -> list[int]:
    """The worker's descendants plus everything still in its process group or session
    (a student process that double-forked stays in the session unless it also setsid()s;
    one that did is re-parented to the monitor, a subreaper, and found as a descendant)."""
    kids: dict[int, list[int]] = {}
    for p, (ppid, _, _, _) in table.items():
        kids.setdefault(ppid, []).append(p)
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(kids.get(p, ()))
    same = [p for p, (_, pgid, sid, _) in table.items() if pid in (pgid, sid)]
    return list(dict.fromkeys(tree + same))


def _kill_tree(pid: int, wait: float = 5.0) -> None:
    """SIGKILL the worker, its descendants, its process group and session; then wait
    until they are gone (zombies count as gone), so nothing writes after we return."""
    deadline = time.monotonic() + wait
    while True:
        table = _process_table()
        victims = [p for p in _sandbox_pids(pid, table) if table.get(p, (0, 0, 0, b"Z"))[3] != b"Z"]
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if len(victims) <= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
