"""The sandbox worker: the only process that ever runs student code.

Runs with the standard library + numpy only; the trusted client starts it (inside
bubblewrap, as an unprivileged uid, or plain) as

    python -I -B worker_main.py '<json config>'

and talks to it over two dedicated pipes with the framed plain-data format of
`protocol.py` (loaded from the same folder under a private name). Student stdout/stderr go
to fds 1 and 2, which the client drains into a capped log. Order matters: limits are set
before numpy is imported (the one-thread BLAS variables are already in the environment the
client starts this process with: `isolation.base_env`, from `grader.environment`), and the
submission folder joins `sys.path` only after everything the worker itself needs is
imported, so a student file named `json.py` or `numpy.py` cannot replace them. Message caps
come from `protocol.py`, shared with the trusted side.

Everything here is defence in depth: the student controls this process once their module
is imported, so nothing the worker says is trusted by the grader.
"""
import json
import os
import sys

CONFIG = json.loads(sys.argv[1])
WORKDIR = CONFIG["workdir"]


def _monitor() -> None:
    """Plain/uid mode: fork so the worker's parent is this small process, not the grader.

    `os.kill(os.getppid(), 9)` from student code then kills only this monitor, and the worker
    follows it (parent-death signal); the grader just sees the sandbox side die.
    """
    grader, monitor = os.getppid(), os.getpid()
    MONITOR[0] = monitor
    pid = os.fork()
    if pid:
        _die_with_parent(grader)                 # the grader died: so do we (and the worker)
        _subreaper()                             # orphans of the worker stay in our tree
        import signal
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                os._exit(70)
            except InterruptedError:
                continue
        _kill_orphans()
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status)
                 else 128 + os.WTERMSIG(status))
    _die_with_parent(monitor)


MONITOR = [0]          # the monitor's pid, as the worker saw it at fork time


def _subreaper() -> None:
    """Orphaned descendants (a double fork, setsid) are re-parented to the monitor, so the
    client's kill of the monitor's tree still finds them."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _kill_orphans(rounds: int = 200) -> None:
    """Before the monitor exits: kill and reap every process re-parented to it (student
    processes that outlived the worker), so none survives the sandbox."""
    import signal
    import time
    me = str(os.getpid()).encode()
    for _ in range(rounds):
        kids = []
        for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        stat = f.read()
                    if stat[stat.rindex(b")") + 2:].split()[1] == me:
                        kids.append(int(name))
                except (OSError, ValueError, IndexError):
                    pass
        for kid in kids:
            try:
                os.kill(kid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            if not kids:
                return
        time.sleep(0.01)


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes
        import signal
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)          # PR_SET_PDEATHSIG
    except Exception:                                     # not Linux: best effort only
        pass
    if os.getppid() != parent:
        os._exit(70)


def _set_limits() -> None:
    import resource
    import signal
    mb = 1 << 20
    lim = CONFIG["limits"]

    def setl(name: str, soft: int, hard: int | None = None) -> None:
        which = getattr(resource, name, None)
        if which is None:
            return
        hard = soft if hard is None else hard
        try:
            cur_soft, cur_hard = resource.getrlimit(which)
            if cur_hard != resource.RLIM_INFINITY:
                hard = min(hard, cur_hard)
                soft = min(soft, hard)
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass

    setl("RLIMIT_AS", int(lim["memory_mb"]) * mb)
    cpu = int(lim["cpu_seconds"])
    setl("RLIMIT_CPU", cpu, cpu + 5)
    setl("RLIMIT_NPROC", int(lim["processes"]))
    setl("RLIMIT_NOFILE", int(lim["open_files"]))
    setl("RLIMIT_FSIZE", int(lim["file_mb"]) * mb)
    setl("RLIMIT_CORE", 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)        # too-big writes fail, not kill


if CONFIG.get("monitor"):
    _monitor()
os.umask(0o077)
_set_limits()

sys.path.extend(CONFIG.get("site") or ())      # numpy's folder, for another interpreter

import importlib  # noqa: E402
import importlib.util  # noqa: E402

PROBE_OK = b"gradekit-probe-ok"      # process.PROBE_OK: what a probe worker answers


def _answer_probe() -> None:
    """The trusted side's start-up probe (`process.probe`): this sandbox starts the worker,
    numpy can be found in it and the reply pipe works. Answered before numpy or the protocol
    is imported (most of a worker's start-up CPU), then the probe worker exits."""
    if importlib.util.find_spec("numpy") is None:
        sys.exit("gradekit worker: numpy cannot be found in the sandbox")
    os.write(CONFIG["resp_fd"], PROBE_OK)
    os._exit(0)


if CONFIG.get("probe"):
    _answer_probe()

import faulthandler  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402


def _load_protocol():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol.py")
    spec = importlib.util.spec_from_file_location("_gradekit_protocol", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


P = _load_protocol()
REQ_FD, RESP_FD = CONFIG["req_fd"], CONFIG["resp_fd"]
MAX_FRAMES = 15          # student frames kept in a traceback
MAX_EXC_TEXT = 400       # characters of str(exception) inside a message


class ForbiddenImport(ImportError):
    """Raised by the import blocker (the static scan is the first line; this is the second)."""


class _Blocker:
    """A meta path finder (the protocol needs only `find_spec`: no `importlib.abc`, whose
    import pulls in ~25 modules numpy does not need, at every worker start)."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ForbiddenImport(f"import of {fullname!r} is not allowed in this assignment "
                                  "(numpy only)", name=fullname)
        return None


class Kept:
    """A value left in the worker; travels as a handle id."""
    __slots__ = ("id",)

    def __init__(self, hid):
        self.id = hid


class Failure(Exception):
    """A failure already phrased for the student."""

    def __init__(self, kind, message, detail=""):
        super().__init__(message)
        self.kind, self.message, self.detail = kind, message, detail


HANDLES = {}
_next_id = [1]


def keep(obj):
    hid = _next_id[0]
    _next_id[0] += 1
    HANDLES[hid] = obj
    return Kept(hid)


def lookup(hid):
    if hid not in HANDLES:
        raise Failure("crash", "an object kept in the worker no longer exists "
                      "(it was released or the worker restarted)")
    return HANDLES[hid]


# --------------------------------------------------------------------------- student code
def _student_frames(tb):
    root = os.path.join(WORKDIR, "")
    frames = [f for f in traceback.extract_tb(tb) if f.filename.startswith(root)]
    for f in frames:
        f.filename = f.filename[len(root):]
    return frames[-MAX_FRAMES:]


def _detail(exc):
    try:
        lines = traceback.format_list(_student_frames(exc.__traceback__))
        only = "".join(traceback.format_exception_only(type(exc), exc))
        text = "".join(lines) + only.replace(os.path.join(WORKDIR, ""), "")
        if lines:
            text = "Traceback (your code, most recent call last):\n" + text
        return P.clip(text, P.MAX_DETAIL, keep_tail=True)
    except BaseException:
        return ""


def _exc_text(exc):
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    return text[:MAX_EXC_TEXT]


def _is_forbidden(exc):
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ForbiddenImport):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _failure(exc, label):
    """Map a student exception to (kind, message, detail)."""
    if isinstance(exc, Failure):
        return exc
    detail = _detail(exc)
    if isinstance(exc, MemoryError):
        return Failure("memory", f"{label} used more than {CONFIG['limits']['memory_mb']} MB "
                                 "of memory", detail)
    forbidden = _is_forbidden(exc)
    if forbidden is not None:
        return Failure("forbidden", f"{label}: {_exc_text(forbidden)}", detail)
    if isinstance(exc, NotImplementedError):
        return Failure("not_implemented", f"{label}: not implemented", detail)
    if isinstance(exc, SystemExit):
        return Failure("exception", f"{label} called sys.exit({_exc_text(exc)})", detail)
    name = type(exc).__name__
    msg = _exc_text(exc)
    return Failure("exception", f"{label} raised {name}" + (f": {msg}" if msg else ""), detail)


# Objects the grader keeps in the worker, made directly (never by importing a module by name):
# plain containers (e.g. a bn_param) and numpy Generators seeded by the grader (e.g. for a
# dropout mask it predicts), whatever name the submission gave numpy.
CONTAINERS = {"builtins.dict": dict, "builtins.list": list,
              "numpy.random.default_rng": np.random.default_rng}


def _container(target, args, kwargs):
    """A dict, list or seeded Generator the grader keeps in the worker: made directly, never
    by importing `builtins` or `numpy` by name, which would disturb the whole interpreter."""
    try:
        return CONTAINERS[target](*args, **kwargs)
    except Exception as exc:
        raise Failure("protocol", f"the grader could not create a {target} in the worker "
                                  f"({type(exc).__name__}); not caused by your code") from None


def load_module(module):
    """Import a student module; failures phrased for the student (missing/import/forbidden)."""
    if module in sys.modules and module in LOADED:
        return sys.modules[module]
    if module in sys.builtin_module_names or module in PROTECTED:
        raise Failure("protocol", f"the grader asked the worker to import {module!r}, "
                                  "which is not a submission module; not caused by your code")
    present = sys.modules.get(module)
    if present is not None and not str(getattr(present, "__file__", "")).startswith(
            os.path.join(WORKDIR, "")):
        del sys.modules[module]       # a student file named like a module the worker uses
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module and not isinstance(exc, ForbiddenImport):
            raise Failure("missing", f"{module}.py was not submitted") from None
        raise _import_failure(exc, module) from None
    except BaseException as exc:
        raise _import_failure(exc, module) from None
    LOADED.add(module)
    return mod


def _import_failure(exc, module):
    f = _failure(exc, f"{module}.py")
    if f.kind in ("exception", "not_implemented"):
        what = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        what = what.replace(os.path.join(WORKDIR, ""), "").splitlines()[-1][:MAX_EXC_TEXT]
        if isinstance(exc, SyntaxError):
            what = f"{what} (line {exc.lineno})"
        return Failure("import", f"{module}.py could not be imported: {what}", f.detail)
    return f


LOADED = set()
PROTECTED = frozenset({"numpy", "importlib", "traceback", "json", "os", "sys", "encodings"})


def resolve(target):
    parts = target.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        raise Failure("protocol", f"bad target {target!r}")
    obj = load_module(parts[0])
    for i, name in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise Failure("missing", f"{'.'.join(parts[:i])} does not define {name}") from None
        except BaseException as exc:
            raise _failure(exc, target) from None
    return obj


def run_student(label, fn, args, kwargs):
    try:
        return fn(*args, **kwargs)
    except BaseException as exc:
        raise _failure(exc, label) from None


def apply_keep(label, value, keep_idx):
    if not keep_idx:
        return value
    if not isinstance(value, tuple):
        if list(keep_idx) == [0]:
            return keep(value)
        raise Failure("bad_value", f"{label} returned a {type(value).__name__}, expected a tuple")
    items = list(value)
    for i in keep_idx:
        if not -len(items) <= i < len(items):
            raise Failure("bad_value", f"{label} returned a tuple of {len(items)} items, "
                                       f"expected at least {i + 1}")
        items[i] = keep(items[i])
    return tuple(items)


# --------------------------------------------------------------------------- operations
def op_one(req):
    op = req["op"]
    args = tuple(req.get("args") or ())
    kwargs = req.get("kwargs") or {}
    if op == "load":
        load_module(req["module"])
        return None
    if op == "call":
        target = req["target"]
        label = target.split(".")[-1]
        fn = resolve(target)
        return apply_keep(label, run_student(label, fn, args, kwargs), req.get("keep") or ())
    if op == "new":
        target = req["target"]
        label = target.split(".")[-1]
        if target in CONTAINERS:
            return keep(_container(target, args, kwargs))
        cls = resolve(target)
        return keep(run_student(label, cls, args, kwargs))
    obj = req.get("handle")
    label = req.get("label") or type(obj).__name__
    if op == "method":
        name = req["name"]
        label = f"{label}.{name}"
        try:
            fn = getattr(obj, name)
        except AttributeError:
            raise Failure("missing", f"{label} is not defined") from None
        except BaseException as exc:
            raise _failure(exc, label) from None
        return apply_keep(label, run_student(label, fn, args, kwargs), req.get("keep") or ())
    if op == "getattr":
        name = req["name"]
        try:
            return apply_keep(label, getattr(obj, name), req.get("keep") or ())
        except AttributeError:
            raise Failure("missing", f"{label}.{name} is not defined") from None
        except BaseException as exc:
            raise _failure(exc, f"{label}.{name}") from None
    if op == "setitem":
        attr, key, value = req.get("attr"), req["key"], req["value"]
        where = f"{label}.{attr}" if attr else label
        try:
            container = getattr(obj, attr) if attr else obj
            container[key] = value
        except AttributeError:
            raise Failure("missing", f"{where} is not defined") from None
        except BaseException as exc:
            raise _failure(exc, f"setting {where}[{key!r}]") from None
        return None
    if op == "release":
        for hid in req.get("ids") or ():
            HANDLES.pop(hid, None)
        return None
    if op == "ping":
        return {"pid": os.getpid(), "uid": os.getuid(), "handles": len(HANDLES)}
    raise Failure("protocol", f"unknown operation {op!r}")


def handle_request(req):
    if req.get("op") == "batch":
        return [op_one(item) for item in req["items"]]
    return op_one(req)


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _kept_id(v):
    return v.id if type(v) is Kept else None


def respond(rid, value=None, failure=None):
    _flush()
    if MONITOR[0] and os.getppid() != MONITOR[0]:
        failure = Failure("tamper", f"{LABEL[0]}: the sandbox's monitor process was killed "
                                    "while student code ran")
        value = None
    if failure is None:
        try:
            pieces = P.encode({"id": rid, "ok": True, "value": value}, handle_id=_kept_id)
        except P.BadValue as exc:
            path = exc.path[len("['value']"):] if exc.path.startswith("['value']") else exc.path
            where = f" (at {path})" if path else ""
            failure = Failure("bad_value", f"{LABEL[0]} returned a {exc.type_name}{where}, "
                                           "expected an array/number (plain data)")
        except MemoryError:
            failure = Failure("memory", f"{LABEL[0]} returned a value too large for "
                                        f"{CONFIG['limits']['memory_mb']} MB of memory")
        except BaseException as exc:
            failure = Failure("bad_value", f"{LABEL[0]} returned a value that could not be "
                                           f"converted to plain data ({type(exc).__name__})")
    if failure is not None:
        pieces = P.encode({"id": rid, "ok": False, "kind": failure.kind,
                           "message": P.clip(failure.message, P.MAX_MESSAGE),
                           "detail": P.clip(failure.detail or "", P.MAX_DETAIL,
                                            keep_tail=True)})
    P.write_frame(RESP_FD, pieces)


LABEL = ["the function"]


def _label(req):
    op = req.get("op")
    if op == "batch" and req.get("items"):
        return _label(req["items"][0])
    if "target" in req:
        return req["target"].split(".")[-1]
    if op == "method":
        return f"{req.get('label') or 'object'}.{req.get('name')}"
    return req.get("label") or "the function"


# Where a call still running at its deadline says where it is: the grader asks for a stack
# dump `dump_after` seconds into each call (its own timeout). A wall-clock timer raises
# SIGALRM then, and faulthandler's C-level handler writes every thread's stack to a private
# copy of fd 2 even while Python code loops (no thread needed: RLIMIT_NPROC may forbid one).
# The grader reads the innermost frame in a submission file out of the captured output before
# it kills us. Student code that uses SIGALRM itself keeps it: no timer of ours is armed while
# it has a handler or a timer of its own, and the student's timer is never cancelled. Student
# code can cancel or misdirect ours: the grader then names only the call.
DUMP_FILE = [None]
ARMED = [None]          # when our timer fires (time.monotonic()), while it is armed


def _arm_dump(req):
    seconds = req.get("dump_after")
    if type(seconds) not in (int, float) or not 0 < seconds < 86400:
        return
    try:
        import signal
        import time
        if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None) \
                or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
            return
        if DUMP_FILE[0] is None:
            DUMP_FILE[0] = os.fdopen(os.dup(2), "w")
        faulthandler.register(signal.SIGALRM, file=DUMP_FILE[0], all_threads=True)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        ARMED[0] = time.monotonic() + seconds
    except BaseException:
        pass


def _disarm_dump():
    """Cancel our timer, unless student code replaced it with one of its own."""
    fires, ARMED[0] = ARMED[0], None
    if fires is None:
        return
    try:
        import signal
        import time
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        if left > 0 and abs(left - (fires - time.monotonic())) < 0.25:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException:
        pass


def main():
    os.chdir(WORKDIR)
    sys.path.insert(0, WORKDIR)
    if CONFIG.get("forbidden"):
        sys.meta_path.insert(0, _Blocker(CONFIG["forbidden"]))
    sys.argv = [os.path.join(WORKDIR, "worker")]
    respond(0, {"pid": os.getpid(), "uid": os.getuid(), "python": sys.version.split()[0],
                "numpy": np.__version__})
    while True:
        try:
            body, buffers = P.read_frame(REQ_FD)
        except P.Closed:
            os._exit(0)
        try:
            req = P.decode(body, buffers, make_handle=lookup)
        except Failure as f:
            respond(P.request_id(body), failure=f)
            continue
        except P.ProtocolError as exc:
            respond(P.request_id(body),
                    failure=Failure("protocol", f"the worker got a bad request: {exc}"))
            continue
        rid = req.get("id", -1)
        LABEL[0] = _label(req)
        _arm_dump(req)
        try:
            value = handle_request(req)
        except Failure as f:
            _disarm_dump()
            respond(rid, failure=f)
            continue
        except BaseException as exc:          # a bug here, or a student exception escaping
            _disarm_dump()
            respond(rid, failure=_failure(exc, LABEL[0]))
            continue
        _disarm_dump()
        respond(rid, value)


if __name__ == "__main__":
    main()
