"""The trusted side of the sandbox: `Worker`, the grader's only way to reach student code.

One Worker per submission. It starts the worker process lazily (see `isolation` for how),
sends framed plain-data requests (`protocol`), enforces the per-call wall-clock timeout
from here (the worker is never trusted to stop itself), drains the student's stdout/stderr
in a reader thread into a capped log, and turns every failure into a `StudentError`.
After a crash or timeout the process is killed (whole tree) and restarted on the next call;
handles from the dead process then raise StudentError(kind="crash").

Use a Worker from one long-lived thread: the sandbox dies with the thread that started it
(bwrap --die-with-parent and the monitor's parent-death signal follow the starting thread).
"""
from __future__ import annotations

import functools
import itertools
import os
import secrets
import select
import signal
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grader.declaration import Limits
from grader.sandbox import isolation, protocol
from grader.sandbox.errors import StudentError

START_SECONDS = 60.0          # bwrap + Python + numpy on a loaded 2-core machine
FATAL = frozenset({"timeout", "crash", "memory", "protocol", "tamper"})  # process is gone
CONTAINERS = frozenset({"builtins.dict", "builtins.list"})  # made in the worker, no import
STRIKES = 2                  # timeouts of one function before later calls fail at once
Request = dict                 # built by req_call / req_method / req_set_item / req_get_attr
_owners = itertools.count(1)


@dataclass(frozen=True)
class Handle:
    """An object that lives in the worker (a layer cache, a model instance)."""
    id: int
    generation: int
    owner: int
    label: str = "object"

    def __repr__(self) -> str:
        return f"<Handle {self.id} ({self.label})>"


# --------------------------------------------------------------------------- requests
def req_call(target: str, args: tuple = (), kwargs: dict | None = None, *,
             keep: tuple[int, ...] = ()) -> Request:
    """`target` ("module.func") called with args; see Worker.call."""
    return {"op": "call", "target": target, "args": tuple(args), "kwargs": dict(kwargs or {}),
            "keep": list(keep)}


def req_method(handle: Handle, name: str, args: tuple = (), kwargs: dict | None = None, *,
               keep: tuple[int, ...] = ()) -> Request:
    return {"op": "method", "handle": handle, "label": handle.label, "name": name,
            "args": tuple(args), "kwargs": dict(kwargs or {}), "keep": list(keep)}


def req_set_item(handle: Handle, attr: str | None, key: str, value: Any) -> Request:
    """`handle.<attr>[key] = value` (or `handle[key] = value` when attr is None/"")."""
    return {"op": "setitem", "handle": handle, "label": handle.label, "attr": attr or "",
            "key": key, "value": value}


def req_new(target: str, args: tuple = (), kwargs: dict | None = None) -> Request:
    """An instance of `module.Class`, kept in the worker (a Handle in the batch result)."""
    return {"op": "new", "target": target, "args": tuple(args), "kwargs": dict(kwargs or {})}


def req_get_attr(handle: Handle, name: str, *, keep: bool = False) -> Request:
    return {"op": "getattr", "handle": handle, "label": handle.label, "name": name,
            "keep": [0] if keep else []}


def _label(req: Request) -> str:
    if "target" in req:
        return req["target"].split(".")[-1]
    if req["op"] == "method":
        return f"{req['label']}.{req['name']}"
    if req["op"] == "batch":
        return _label(req["items"][0]) if req["items"] else "batch"
    return req.get("label", "the worker")


# --------------------------------------------------------------------------- output log
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


# --------------------------------------------------------------------------- the worker
class Worker:
    """A sandboxed worker process for one submission folder (see module docstring)."""

    def __init__(self, workdir: Path, limits: Limits, mode: str = "auto",
                 forbidden_imports: tuple[str, ...] = (), *,
                 launcher: Callable[..., isolation.Launch] | None = None):
        self.workdir = Path(workdir).resolve()
        if not self.workdir.is_dir():
            raise FileNotFoundError(f"sandbox workdir {self.workdir} does not exist")
        self.limits = limits
        self.forbidden_imports = tuple(forbidden_imports)
        if launcher is None:           # `launcher` is for isolation's own probes
            self.mode, note = isolation.choose(mode)
            launcher = functools.partial(isolation.launch, self.mode)
        else:
            self.mode, note = "probe", "sandbox: probe"
        self.limits_note = isolation.memory_note(self.mode, limits.memory_mb, limits.processes)
        self.isolation_note = f"{note}; {self.limits_note}"
        self._launcher = launcher
        self.owner = next(_owners)
        self.generation = 0
        self.info: dict[str, Any] = {}          # the worker's hello: pid, uid, versions
        self.start_seconds: float | None = None  # how long the last start took
        self._log = OutputLog(limits.output_kb * 1024)
        self._proc: subprocess.Popen | None = None
        self._launch: isolation.Launch | None = None
        self._req_fd = self._resp_fd = -1
        self._reader: OutputPump | None = None
        self._loaded: set[str] = set()
        self._used = False                       # ran anything but imports since start
        self._load_failures: dict[str, StudentError] = {}
        self._timeouts: dict[str, int] = {}     # function label -> calls that timed out

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def alive(self) -> bool:
        """Is the worker process running? (Checked without reaping it.)"""
        return self._proc is not None and not _exited(self._proc.pid, 0.0)

    def start(self) -> None:
        """Start the worker process now (normally it starts on first use)."""
        if self._proc is not None:
            return
        t0 = time.monotonic()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        for fd in (req_w, resp_w):
            _grow_pipe(fd)
        try:
            config = {"limits": self._limit_config(), "forbidden": list(self.forbidden_imports),
                      "req_fd": req_r, "resp_fd": resp_w}
            launch = self._launcher(workdir=self.workdir, config=config,
                                    pass_fds=(req_r, resp_w))
            self._launch = launch
            self._proc = subprocess.Popen(
                launch.argv, env=launch.env, cwd=launch.cwd, stdin=subprocess.DEVNULL,
                stdout=out_w, stderr=out_w, pass_fds=launch.pass_fds,
                start_new_session=True, close_fds=True, **launch.popen_kwargs)
        except BaseException:
            for fd in (req_r, req_w, resp_r, resp_w, out_r, out_w):
                os.close(fd)
            if self._launch:
                self._launch.cleanup()
                self._launch = None
            raise
        for fd in (req_r, resp_w, out_w):
            os.close(fd)
        launch.close_data()
        os.set_blocking(req_w, False)
        self._req_fd, self._resp_fd = req_w, resp_r
        self._reader = OutputPump(out_r, self._log, f"sandbox-output-{self.owner}")
        self.generation += 1
        self._loaded = set()
        self._used = False
        try:
            body, buffers = protocol.read_frame(self._resp_fd, time.monotonic() + START_SECONDS)
            hello = protocol.decode(body, buffers)
            assert isinstance(hello, dict) and hello.get("ok") and hello.get("id") == 0
        except (protocol.Timeout, protocol.Closed, protocol.ProtocolError, AssertionError):
            status = self._kill()
            out = self._log.take().strip()[-2000:]
            raise RuntimeError(f"the sandbox ({self.mode}) could not start the worker "
                               f"({_describe_exit(status)}): {out or 'no output'}") from None
        self.info = hello["value"]
        self.start_seconds = time.monotonic() - t0

    def restart(self) -> None:
        """Kill the worker; a fresh one starts on the next call (handles are lost)."""
        self._kill()

    def close(self) -> None:
        """Stop the worker (EOF first, then kill the tree) and remove its temporary files."""
        if self._proc is not None and self._req_fd >= 0:
            try:
                os.close(self._req_fd)               # EOF: an idle worker exits by itself
            except OSError:
                pass
            self._req_fd = -1
            _exited(self._proc.pid, 1.0)
        self._kill()

    def _limit_config(self) -> dict[str, Any]:
        lim = self.limits
        return {"memory_mb": lim.memory_mb, "processes": lim.processes,
                "open_files": lim.open_files, "file_mb": lim.file_mb,
                "cpu_seconds": int(lim.submission_seconds + 60)}

    def _reap(self, grace: float = 2.0) -> int | None:
        """The worker closed its pipe: give it `grace` s to exit by itself, then kill."""
        if self._proc is not None:
            _exited(self._proc.pid, grace)
        return self._kill()

    def _kill(self) -> int | None:
        """Kill the worker and everything it started; return its exit status."""
        proc, self._proc = self._proc, None
        status = None
        if proc is not None:
            _kill_tree(proc.pid)          # before reaping: the pid must not be reused yet
            try:
                status = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                status = None
        for fd in (self._req_fd, self._resp_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._req_fd = self._resp_fd = -1
        if self._reader is not None:
            self._reader.stop()
            self._reader = None
        if self._launch is not None:
            self._launch.cleanup()
            self._launch = None
        self._loaded = set()
        return status

    # -- the round trip ------------------------------------------------------------------
    def _handle_id(self, value: Any) -> int | None:
        if type(value) is not Handle:
            return None
        if value.owner != self.owner:
            raise ValueError(f"{value!r} belongs to another worker")
        if value.generation != self.generation:
            raise StudentError("crash", f"{value.label}: the worker restarted after a crash or "
                                        "timeout, so the state kept in it was lost")
        return value.id

    def _make_handle(self, label: str):
        def make(hid: int) -> Handle:
            return Handle(hid, self.generation, self.owner, label)
        return make

    def _tamper_reason(self) -> str | None:
        """How the sandbox's own top process (monitor or bwrap) was interfered with, if it
        was: killed by a signal we did not send, or stopped. None while it is intact."""
        if self._proc is None:
            return None
        return _signalled(self._proc.pid)

    def _check_tamper(self, label: str) -> None:
        """After a reply: the call fails if the sandbox's supervisor was signalled meanwhile,
        even though the function answered (its answer cannot be trusted)."""
        why = self._tamper_reason()
        if why is not None:
            self._kill()
            raise StudentError("tamper", f"{label}: the sandbox's supervising process was "
                                         f"{why} while student code ran; this test fails")

    def _replace_if_dead(self) -> None:
        """A worker that died between calls (its last call had already answered: a killed
        parent, a stray thread) is replaced, so the next function is not blamed for it;
        a supervisor killed by a signal is tampering and fails the call in flight."""
        why = self._tamper_reason()
        if why is not None:
            self._kill()
            raise StudentError("tamper", f"the sandbox's supervising process was {why} "
                                         "by student code after its last reply; this test "
                                         "fails")
        if self._proc is not None and not self.alive:
            status = self._reap(0.0)
            self._log.add(f"\n[gradekit: the worker exited between calls "
                          f"({_describe_exit(status)}); a fresh one was started]\n".encode())

    def _ensure_modules(self, reqs: list[Request], timeout: float | None) -> None:
        targets = [r["target"] for r in reqs if "target" in r and r["target"] not in CONTAINERS]
        for module in dict.fromkeys(t.split(".")[0] for t in targets):
            self.load(module, timeout=timeout)

    def _roundtrip(self, req: Request, timeout: float | None, label: str,
                   handle_label: str) -> Any:
        """Send one request, wait for its reply, map every failure to StudentError."""
        deadline_s = self.limits.call_seconds if timeout is None else float(timeout)
        if self._timeouts.get(label, 0) >= STRIKES:
            # Two strikes: an infinite loop must not eat the whole submission's time budget
            # (Gradescope's global timeout gives 0 and no per-test results at all).
            raise StudentError("timeout", f"{label} was not run again: it already failed to "
                                          f"finish {STRIKES} times in this submission "
                                          "(infinite loop?)")
        self._replace_if_dead()
        if self._proc is None:
            self.start()
        rid = _request_id()
        if req["op"] not in ("load", "release"):
            self._used = True
        try:
            pieces = protocol.encode(dict(req, id=rid), handle_id=self._handle_id)
        except protocol.BadValue as exc:
            raise TypeError(f"cannot send a {exc.type_name} to the sandbox "
                            f"(at {exc.path or 'top level'}): plain data only") from None
        deadline = time.monotonic() + deadline_s
        try:
            protocol.write_frame(self._req_fd, pieces, deadline)
            body, buffers = protocol.read_frame(self._resp_fd, deadline)
            reply = protocol.decode(body, buffers, make_handle=self._make_handle(handle_label),
                                    float64_cap=protocol.MAX_REPLY_FLOAT64)
        except protocol.Timeout:
            self._kill()
            self._timeouts[label] = self._timeouts.get(label, 0) + 1
            raise StudentError("timeout", f"{label} did not finish within {deadline_s:g} s "
                                          "(infinite loop?)") from None
        except protocol.Closed:
            why = self._tamper_reason() or (_exited(self._proc.pid, 0.5) and
                                            self._tamper_reason())
            if why:
                self._kill()
                raise StudentError("tamper", f"{label}: the sandbox's supervising process "
                                             f"was {why} while student code ran") from None
            status = self._reap()
            raise StudentError("crash", f"the worker process died ({_describe_exit(status)}) "
                                        f"while running {label}") from None
        except protocol.ProtocolError as exc:
            self._kill()
            raise StudentError("protocol", f"{label}: the worker sent an invalid reply ({exc}); "
                                           "it was restarted") from None
        if not _answers(reply, rid) or _more_pending(self._resp_fd):
            # Only the outstanding request may be answered, exactly once: a frame for another
            # id (or none) means something in the worker wrote to the reply pipe on its own.
            self._kill()
            raise StudentError("protocol", f"{label}: the worker sent a reply nobody asked "
                                           "for; it was restarted")
        self._check_tamper(label)
        if not reply["ok"]:
            kind, message = reply.get("kind"), reply.get("message")
            detail = reply.get("detail") or ""
            if not isinstance(kind, str) or not isinstance(message, str) \
                    or not isinstance(detail, str):
                self._kill()
                raise StudentError("protocol", f"{label}: the worker sent a malformed error")
            raise StudentError(kind, message, detail)
        return reply.get("value")

    # -- the public API ------------------------------------------------------------------
    def load(self, module: str, *, timeout: float | None = None) -> None:
        """Import `module` in the worker; a failure is remembered (not retried per call)."""
        if module in self._load_failures:
            raise self._load_failures[module]
        self._replace_if_dead()
        if module in self._loaded and self._proc is not None:
            return
        if self._proc is not None and self._used:
            # A fatal failure while importing into a worker that already ran other code may
            # be that code's fault (a dying process, a stray thread): retry in a fresh one.
            try:
                self._roundtrip({"op": "load", "module": module}, timeout, f"{module}.py",
                                module)
                self._loaded.add(module)
                return
            except StudentError as exc:
                if exc.kind not in FATAL:
                    self._remember(module, exc, timeout)
            self._kill()
        try:
            self._roundtrip({"op": "load", "module": module}, timeout, f"{module}.py", module)
        except StudentError as exc:
            self._remember(module, exc, timeout)
        self._loaded.add(module)

    def _remember(self, module: str, exc: StudentError, timeout: float | None) -> None:
        """Phrase an import failure, remember it for later calls, and raise it."""
        if exc.kind == "timeout":
            exc = StudentError("timeout", f"importing {module}.py did not finish within "
                               f"{self._timeout(timeout):g} s (infinite loop at import?)")
        elif exc.kind == "crash":
            exc = StudentError("crash", exc.message.replace(f"running {module}.py",
                                                            f"importing {module}.py"))
        self._load_failures[module] = exc
        raise exc from None

    def _timeout(self, timeout: float | None) -> float:
        return self.limits.call_seconds if timeout is None else float(timeout)

    def call(self, target: str, args: tuple = (), kwargs: dict | None = None, *,
             keep: tuple[int, ...] = (), timeout: float | None = None) -> Any:
        """Call `module.func` with plain args; kept tuple items come back as Handles."""
        req = req_call(target, args, kwargs, keep=keep)
        self._ensure_modules([req], timeout)
        label = _label(req)
        return self._roundtrip(req, timeout, label, f"{label} result")

    def new(self, target: str, args: tuple = (), kwargs: dict | None = None, *,
            timeout: float | None = None) -> Handle:
        """An instance of `module.Class`, kept in the worker."""
        req = req_new(target, args, kwargs)
        self._ensure_modules([req], timeout)
        label = target.split(".")[-1]
        return self._roundtrip(req, timeout, label, label)

    def call_method(self, handle: Handle, name: str, args: tuple = (),
                    kwargs: dict | None = None, *, keep: tuple[int, ...] = (),
                    timeout: float | None = None) -> Any:
        req = req_method(handle, name, args, kwargs, keep=keep)
        label = _label(req)
        return self._roundtrip(req, timeout, label, f"{label} result")

    def get_attr(self, handle: Handle, name: str, *, keep: bool = False,
                 timeout: float | None = None) -> Any:
        """`handle.name` as plain data (or a Handle with keep=True)."""
        label = f"{handle.label}.{name}"
        return self._roundtrip(req_get_attr(handle, name, keep=keep), timeout, label, label)

    def set_item(self, handle: Handle, attr: str | None, key: str, value: Any, *,
                 timeout: float | None = None) -> None:
        """`handle.<attr>[key] = value`, e.g. `model.params['W1'] = array`."""
        req = req_set_item(handle, attr, key, value)
        self._roundtrip(req, timeout, f"{handle.label}.{attr}", handle.label)

    def batch(self, requests: list[Request], *, timeout: float | None = None) -> list[Any]:
        """Several requests in one round trip; the first failure raises for the batch."""
        if not requests:
            return []
        self._ensure_modules(requests, timeout)
        req = {"op": "batch", "items": list(requests)}
        label = _label(req)
        return self._roundtrip(req, timeout, label, f"{label} result")

    def release(self, *handles: Handle) -> None:
        """Free kept objects in the worker (stale handles are ignored)."""
        ids = [h.id for h in handles if h.owner == self.owner and h.generation == self.generation]
        if ids and self._proc is not None:
            self._roundtrip({"op": "release", "ids": ids}, None, "release", "")

    def take_output(self) -> str:
        """Student stdout+stderr since the last take (capped, with a dropped-bytes note)."""
        if self._reader is not None:
            self._reader.settle()
        return self._log.take()


def start_worker(workdir: Path, limits: Limits, mode: str = "auto",
                 forbidden_imports: tuple[str, ...] = ()) -> Worker:
    """A Worker whose process is already running (so start errors surface here)."""
    worker = Worker(workdir, limits, mode, forbidden_imports)
    worker.start()
    return worker


# --------------------------------------------------------------------------- helpers
def _request_id() -> int:
    """An unpredictable request id: student code in the worker can read the id of the call
    it is running, but cannot write the answer to the next call before that call exists."""
    return secrets.randbits(62) or 1


def _answers(reply: Any, rid: int) -> bool:
    """Is `reply` a well-formed answer to request `rid` (and to nothing else)?"""
    return (isinstance(reply, dict) and type(reply.get("id")) is int and reply["id"] == rid
            and isinstance(reply.get("ok"), bool))


def _more_pending(fd: int) -> bool:
    """Bytes already waiting after a reply: a second frame nobody asked for (an end of
    stream, a worker that exited after answering, is not)."""
    try:
        import fcntl
        import termios
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0] > 0
    except (OSError, ImportError, ValueError):
        return False


def _describe_exit(status: int | None) -> str:
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
