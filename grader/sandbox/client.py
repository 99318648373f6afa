"""The trusted side of the sandbox: `Worker`, the grader's only way to reach student code.

One Worker per submission. It starts the worker process lazily (`process.spawn`, with the
launch `isolation` builds for the chosen mode), sends framed plain-data requests
(`protocol`), enforces the per-call wall-clock timeout from here (the worker is never
trusted to stop itself), keeps the student's stdout/stderr in a capped log, and turns every
failure into a `StudentError`. After a crash or timeout the process is killed (whole tree)
and restarted on the next call; handles from the dead process then raise
StudentError(kind="crash").

Use a Worker from one long-lived thread: the sandbox dies with the thread that started it
(bwrap --die-with-parent and the monitor's parent-death signal follow the starting thread).
"""
from __future__ import annotations

import functools
import itertools
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import grader.sandbox.isolation as isolation
import grader.sandbox.protocol as protocol
from grader import safetext
from grader.declaration import Limits
from grader.sandbox.errors import StudentError
from grader.sandbox.process import (Launcher, OutputLog, WorkerProcess, describe_exit,
                                    more_pending, spawn, worker_config)

FATAL = frozenset({"timeout", "crash", "memory", "protocol", "tamper"})  # process is gone
CONTAINERS = frozenset({"builtins.dict", "builtins.list",   # made in the worker, no import
                        "numpy.random.default_rng"})
STRIKES = 2                  # timeouts of one function before later calls fail at once
DUMP_GRACE = 0.3             # s a timed-out call has to print its stack (worker_main) before
                             # the kill (it prints within ms of the deadline); none printed
                             # (student code blocked it): no "where". Kept short: a timeout
                             # at the end of the submission's budget waits for it too.
DUMP_HEADER = re.compile(r"(?:Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):$")
FRAME = re.compile(r'^  File "(?P<path>[^"\n]*)", line (?P<line>\d+) in (?P<func>[^\n]+)$', re.M)
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


# --------------------------------------------------------------------------- the worker
class Worker:
    """A sandboxed worker process for one submission folder (see module docstring)."""

    def __init__(self, workdir: Path, limits: Limits, mode: str = "auto",
                 forbidden_imports: tuple[str, ...] = ()):
        self.workdir = Path(workdir).resolve()
        if not self.workdir.is_dir():
            raise FileNotFoundError(f"sandbox workdir {self.workdir} does not exist")
        self.limits = limits
        self.forbidden_imports = tuple(forbidden_imports)
        self.mode, note = isolation.choose(mode)
        self._launcher: Launcher = functools.partial(isolation.launch, self.mode)
        self.limits_note = isolation.memory_note(self.mode, limits.memory_mb, limits.processes)
        self.isolation_note = f"{note}; {self.limits_note}"
        self.owner = next(_owners)
        self.generation = 0
        self.info: dict[str, Any] = {}          # the worker's hello: pid, uid, versions
        self.start_seconds: float | None = None  # how long the last start took
        self._log = OutputLog(limits.output_kb * 1024)
        self._process: WorkerProcess | None = None
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
        return self._process is not None and self._process.alive

    def start(self) -> None:
        """Start the worker process now (normally it starts on first use)."""
        if self._process is not None:
            return
        t0 = time.monotonic()
        self._process = spawn(self._launcher, self.workdir,
                              worker_config(self.limits, self.forbidden_imports), self._log,
                              mode=self.mode, name=f"sandbox-output-{self.owner}")
        self.generation += 1
        self._loaded = set()
        self._used = False
        self.info = self._process.hello
        self.start_seconds = time.monotonic() - t0

    def restart(self) -> None:
        """Kill the worker; a fresh one starts on the next call (handles are lost)."""
        self._kill()

    def close(self) -> None:
        """Stop the worker (EOF first, then kill the tree) and remove its temporary files."""
        if self._process is not None:
            self._process.end_requests(grace=1.0)
        self._kill()

    def _reap(self, grace: float = 2.0) -> int | None:
        """The worker closed its pipe: give it `grace` s to exit by itself, then kill."""
        if self._process is not None:
            self._process.exited(grace)
        return self._kill()

    def _kill(self) -> int | None:
        """Kill the worker and everything it started; return its exit status."""
        process, self._process = self._process, None
        self._loaded = set()
        return process.kill() if process is not None else None

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
        return self._process.signalled() if self._process is not None else None

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
        if self._process is not None and not self.alive:
            status = self._reap(0.0)
            self._log.add(f"\n[gradekit: the worker exited between calls "
                          f"({describe_exit(status)}); a fresh one was started]\n".encode())

    def _refuse_after_strikes(self, label: str) -> None:
        """Two strikes: an infinite loop must not eat the whole submission's time budget
        (Gradescope's global timeout gives 0 and no per-test results at all). Checked
        before anything else, so a refused call does not even restart a killed worker."""
        if self._timeouts.get(label, 0) >= STRIKES:
            raise StudentError("timeout", f"{label} was not run again: it already failed to "
                                          f"finish {STRIKES} times in this submission "
                                          "(infinite loop?)")

    def _ensure_modules(self, reqs: list[Request], timeout: float | None) -> None:
        targets = [r["target"] for r in reqs if "target" in r and r["target"] not in CONTAINERS]
        for module in dict.fromkeys(t.split(".")[0] for t in targets):
            self.load(module, timeout=timeout)

    def _roundtrip(self, req: Request, timeout: float | None, label: str,
                   handle_label: str) -> Any:
        """Send one request, wait for its reply, map every failure to StudentError."""
        deadline_s = self.limits.call_seconds if timeout is None else float(timeout)
        self._refuse_after_strikes(label)
        self._replace_if_dead()
        if self._process is None:
            self.start()
        process = self._process
        rid = _request_id()
        if req["op"] not in ("load", "release"):
            self._used = True
        try:
            pieces = protocol.encode(dict(req, id=rid, dump_after=deadline_s),
                                     handle_id=self._handle_id)
        except protocol.BadValue as exc:
            raise TypeError(f"cannot send a {exc.type_name} to the sandbox "
                            f"(at {exc.path or 'top level'}): plain data only") from None
        deadline = time.monotonic() + deadline_s
        try:
            protocol.write_frame(process.req_fd, pieces, deadline)
            body, buffers = protocol.read_frame(process.resp_fd, deadline)
            reply = protocol.decode(body, buffers, make_handle=self._make_handle(handle_label),
                                    float64_cap=protocol.MAX_REPLY_FLOAT64)
        except protocol.Timeout:
            where = self._where_running(process)
            self._kill()
            self._timeouts[label] = self._timeouts.get(label, 0) + 1
            raise StudentError("timeout", f"{label} did not finish within {deadline_s:g} s"
                                          f"{where} (infinite loop?)") from None
        except protocol.Closed:
            why = self._tamper_reason() or (process.exited(0.5) and self._tamper_reason())
            if why:
                self._kill()
                raise StudentError("tamper", f"{label}: the sandbox's supervising process "
                                             f"was {why} while student code ran") from None
            status = self._reap()
            if status == 0:
                # The worker exits 0 only when the grader closes its pipe (it catches
                # SystemExit), so a clean exit mid-call is student code ending it on purpose
                # (os._exit), as a forger of results does after writing its fake file.
                raise StudentError("tamper", "student code ended the worker itself (exit "
                                             f"status 0) while running {label}") from None
            raise StudentError("crash", f"the worker process died ({describe_exit(status)}) "
                                        f"while running {label}") from None
        except protocol.ProtocolError as exc:
            self._kill()
            raise StudentError("protocol", f"{label}: the worker sent an invalid reply ({exc}); "
                                           "it was restarted") from None
        if not _answers(reply, rid) or more_pending(process.resp_fd):
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

    def _where_running(self, process: WorkerProcess) -> str:
        """After a timeout, before the kill: ": it was still running f (file.py, line n)"
        from the stack dump the worker prints at its deadline (taken out of the student's
        output), or "" when none comes within DUMP_GRACE."""
        files = {p.name for p in self.workdir.glob("*.py")}
        end = time.monotonic() + DUMP_GRACE
        dump = None
        while True:
            process.pump.settle()
            found, rest = split_dump(self._log.take())
            self._log.add(rest.encode("utf-8", "replace"))
            dump = found or dump
            if (dump and "worker_main" in dump) or time.monotonic() >= end \
                    or not process.alive:
                break
            time.sleep(0.05)
        frame = running_frame(dump or "", files)
        if frame is None:
            return ""
        func, name, line = frame
        return (f": it was still running {safetext.one_line(func, 80)} "
                f"({safetext.one_line(name, 80)}, line {line}) when it was stopped")

    # -- the public API ------------------------------------------------------------------
    def load(self, module: str, *, timeout: float | None = None) -> None:
        """Import `module` in the worker; a failure is remembered (not retried per call)."""
        if module in self._load_failures:
            raise self._load_failures[module]
        self._replace_if_dead()
        if module in self._loaded and self._process is not None:
            return
        if self._process is not None and self._used:
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
        elif exc.kind in ("crash", "tamper"):
            exc = StudentError(exc.kind, exc.message.replace(f"running {module}.py",
                                                             f"importing {module}.py"))
        self._load_failures[module] = exc
        raise exc from None

    def _timeout(self, timeout: float | None) -> float:
        return self.limits.call_seconds if timeout is None else float(timeout)

    def call(self, target: str, args: tuple = (), kwargs: dict | None = None, *,
             keep: tuple[int, ...] = (), timeout: float | None = None) -> Any:
        """Call `module.func` with plain args; kept tuple items come back as Handles."""
        req = req_call(target, args, kwargs, keep=keep)
        label = _label(req)
        self._refuse_after_strikes(label)
        self._ensure_modules([req], timeout)
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
        req = {"op": "batch", "items": list(requests)}
        label = _label(req)
        self._refuse_after_strikes(label)
        self._ensure_modules(requests, timeout)
        return self._roundtrip(req, timeout, label, f"{label} result")

    def release(self, *handles: Handle) -> None:
        """Free kept objects in the worker (stale handles are ignored)."""
        ids = [h.id for h in handles if h.owner == self.owner and h.generation == self.generation]
        if ids and self._process is not None:
            self._roundtrip({"op": "release", "ids": ids}, None, "release", "")

    def take_output(self) -> str:
        """Student stdout+stderr since the last take (capped, with a dropped-bytes note)."""
        if self._process is not None:
            self._process.pump.settle()
        return self._log.take()


def start_worker(workdir: Path, limits: Limits, mode: str = "auto",
                 forbidden_imports: tuple[str, ...] = ()) -> Worker:
    """A Worker whose process is already running (so start errors surface here)."""
    worker = Worker(workdir, limits, mode, forbidden_imports)
    worker.start()
    return worker


# --------------------------------------------------------------------------- helpers
def split_dump(text: str) -> tuple[str | None, str]:
    """(the last stack dump faulthandler wrote into `text`, `text` without it): thread
    headers ("Current thread 0x... (most recent call first):"), indented frame lines and the
    blank lines between them."""
    lines = text.split("\n")
    heads = [i for i, line in enumerate(lines) if DUMP_HEADER.match(line)]
    if not heads:
        return None, text
    part = lambda line: line == "" or line.startswith("  ") or DUMP_HEADER.match(line)
    start = end = heads[-1]
    while start > 0 and part(lines[start - 1]):
        start -= 1
    start = min(i for i in heads if i >= start)
    while end + 1 < len(lines) and part(lines[end + 1]):
        end += 1
    return "\n".join(lines[start:end + 1]), "\n".join(lines[:start] + lines[end + 1:])


def running_frame(dump: str, files: set[str]) -> tuple[str, str, int] | None:
    """(function, file name, line) of the innermost frame in one of `files` (the
    submission's), looking first at the thread that runs the request (worker_main's)."""
    blocks = re.split(r"\n(?=(?:Current thread|Thread) 0x)", dump)
    for block in sorted(blocks, key=lambda b: "worker_main" not in b):
        for m in FRAME.finditer(block):
            name = PurePosixPath(m["path"]).name
            if name in files:
                return m["func"].strip(), name, int(m["line"])
    return None


def _request_id() -> int:
    """An unpredictable request id: student code in the worker can read the id of the call
    it is running, but cannot write the answer to the next call before that call exists."""
    return secrets.randbits(62) or 1


def _answers(reply: Any, rid: int) -> bool:
    """Is `reply` a well-formed answer to request `rid` (and to nothing else)?"""
    return (isinstance(reply, dict) and type(reply.get("id")) is int and reply["id"] == rid
            and isinstance(reply.get("ok"), bool))
