"""How the worker process is isolated: `bwrap`, `uid` or `plain`.

What the worker sees, in every isolated mode: the interpreter's standard library (its own
site-packages hidden), numpy alone in a private site folder, the kit's two worker files and a
copy of the submission. Never the staff venv (scikit-learn ships labelled digits), datasets/,
the grader, the reference, other submissions or results.

`bwrap` (Linux with user namespaces; Debian package `bubblewrap`):
    new user, pid, net, ipc, uts and cgroup namespaces; a root filesystem holding only /usr
    (+ the /lib, /bin links), /etc/ld.so.cache, the base Python installation (read-only, its
    site-packages and /usr's dist-packages under empty tmpfs), numpy's folders bound at
    /gradekit-site, the worker's two files at /gradekit, the submission copy read-only at
    /submission (the cwd), a fresh size-capped tmpfs /tmp (HOME), a new /proc and a minimal
    /dev. The worker runs as uid 65534. When the grader is root (Gradescope, CI) the real uid
    (the sandbox's own from the pool, see below) is dropped *before* bwrap: sources a plain
    user cannot reach (a Python under /root) are first bind-mounted into a world-traversable
    view inside a private mount namespace (`unshare --mount`), then `setpriv` drops to that
    uid and runs bwrap; if that is impossible the submission and numpy are staged in a
    world-readable folder instead.
`uid` (root without user namespaces, e.g. Gradescope's Docker):
    the worker runs as an unprivileged uid/gid of its own (from the pool) with rlimits, from
    a staging folder (root-owned 0711; the submission copy owned by that uid, 0700). Where
    root may create a private mount + pid namespace: a /proc showing only the sandbox, an
    empty tmpfs over the kit, /tmp, /var/tmp, /dev/shm, /home, /root, /autograder and
    GRADEKIT_SANDBOX_HIDE (os.pathsep-separated, e.g. a batch's OUT), the Python installation
    bound back read-only, and the monitor as pid 1 (nothing outlives it). Without that
    namespace, every process of the sandbox's uid is killed when the worker stops (no other
    sandbox has that uid), and the note says that other processes and world-readable files
    stay visible; run_autograder makes the kit unreadable to others. Never covered: the
    network. `isolation_note` warns when the kit's suites are readable by others.
`plain`: rlimits, a cleared environment, cwd = the submission folder, a private HOME, and a
    monitor process (a subreaper) between the grader and the worker; no OS isolation. It is
    refused unless GRADEKIT_ALLOW_PLAIN=1 (the CLI's --unsafe-no-isolation), and its note
    says so.

Memory: one budget for the whole sandbox. With a writable cgroup v2 (memory and pids
controllers), each worker gets its own cgroup (memory.max, no swap, pids.max), killed via
cgroup.kill; otherwise RLIMIT_AS on the worker plus RLIMIT_NPROC 1, so it cannot start a
second process (nor a thread). `memory_note` says which, in every result.

One uid per sandbox (`uids`): RLIMIT_NPROC counts every process of a real uid, a uid-wide
kill reaches all of them, and so does a student's kill(-1): each sandbox that runs as a real
uid (uid mode; bwrap when root) leases a uid no other live sandbox on the machine holds, so
two sandboxes running at once (`grade --jobs`, two graders) never touch each other.

Choice: the `mode` argument, else env `GRADEKIT_SANDBOX=bwrap|uid|plain`, else "auto"
(bwrap if it works here, else uid if root and it works, else plain if allowed).
`GRADEKIT_SANDBOX_UID` changes the first unprivileged uid/gid of the pool (default 65534;
`GRADEKIT_SANDBOX_UIDS` its size, default 64);
`GRADEKIT_SANDBOX_PYTHON` runs the worker with another interpreter of the same Python
version (numpy still comes from this one's installation, via the private site folder).
"""
from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import grader.sandbox.uids as uids
from grader.environment import ONE_BLAS_THREAD
from grader.sandbox.process import Launch, Launcher, OutputLog, probe, worker_config

HERE = Path(__file__).resolve().parent
WORKER_FILES = ("worker_main.py", "protocol.py")
MODES = ("bwrap", "uid", "plain")
INNER_SUBMISSION = "/submission"
INNER_WORKER_DIR = "/gradekit"
TMPFS_MB = 64                 # the sandbox's /tmp (bwrap)


class SandboxUnavailable(RuntimeError):
    """The requested isolation mode cannot run on this machine."""


# --------------------------------------------------------------------------- facts
def sandbox_uid() -> tuple[int, int]:
    """The first uid/gid of the sandbox pool (each running sandbox leases its own: `uids`)."""
    return uids.first_ids()


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def interpreter() -> str:
    """The worker's Python: GRADEKIT_SANDBOX_PYTHON, else the base interpreter under this
    one's venv (a venv's own site-packages holds staff packages the sandbox must not see)."""
    chosen = os.environ.get("GRADEKIT_SANDBOX_PYTHON")
    if chosen:
        return chosen
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(base) if base.is_file() else os.path.realpath(sys.executable)


def numpy_dirs() -> list[Path]:
    """numpy's package folder and its bundled libraries (`numpy.libs`), nothing else of
    the site-packages it lives in (which may hold scikit-learn's labelled digits)."""
    import numpy
    pkg = Path(numpy.__file__).resolve().parent
    return [d for d in (pkg, pkg.parent / "numpy.libs") if d.is_dir()]


def extra_site_dirs() -> list[str]:
    """numpy's whole site-packages (plain mode only: it has no isolation to keep)."""
    import numpy
    return [str(Path(numpy.__file__).resolve().parent.parent)]


def python_roots() -> list[str]:
    """Directories the worker's Python lives in (bound read-only into bwrap): the
    interpreter's installation only; numpy is bound on its own (see numpy_dirs)."""
    exe = Path(interpreter())
    paths = {str(exe.resolve().parent.parent), str(exe.parent.parent)}
    if interpreter() == os.path.realpath(sys.executable) or \
            exe.resolve() == Path(sys.base_prefix, "bin", exe.name).resolve():
        paths.update({sys.base_prefix, sys.base_exec_prefix})
    roots = _outermost(p for p in paths if p and not _under(p, "/usr"))
    kit = str(HERE.parent.parent)
    safe = []
    for root in roots:
        if _under(kit, root):         # a Python installed around the kit: never bind the kit
            safe += [str(p) for p in Path(root).iterdir()
                     if p.is_dir() and p.name.startswith(("bin", "lib"))]
        else:
            safe.append(root)
    return safe


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _outermost(paths) -> list[str]:
    result: list[str] = []
    for p in sorted({os.path.normpath(p) for p in paths}, key=len):
        if p != "/" and not any(_under(p, q) for q in result):
            result.append(p)
    return result


def site_packages_of(roots: list[str]) -> list[str]:
    """site-packages/dist-packages folders under the bound Python roots and /usr: hidden
    behind an empty tmpfs in bwrap, so only the private numpy site is importable/readable."""
    found = []
    for root in [*roots, "/usr", "/usr/local"]:
        for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages",
                        "lib/python3/dist-packages", "local/lib/python3*/dist-packages"):
            found += [str(p) for p in Path(root).glob(pattern) if p.is_dir()]
    return sorted(set(found))


def private_site(parent: Path) -> Path:
    """`parent/site` holding numpy (hard links), readable by the sandbox uid without any
    view of the staff venv or the kit."""
    site = parent / "site"
    site.mkdir(mode=0o755)
    for src in _numpy_sources(os.stat(parent).st_dev):
        _link_tree(src, site / src.name)
    return site


@functools.lru_cache(maxsize=None)
def _numpy_sources(device: int) -> tuple[Path, ...]:
    """numpy's folders, or, when they are on another filesystem than the stage (no hard
    links possible), one copy per grader process on the stage's filesystem."""
    dirs = numpy_dirs()
    if all(os.stat(d).st_dev == device for d in dirs):
        return tuple(dirs)
    copy = Path(tempfile.mkdtemp(prefix="gradekit-numpy-"))
    atexit.register(_remove_tree, copy)
    for d in dirs:
        shutil.copytree(d, copy / d.name)
    return tuple(copy / d.name for d in dirs)


def _link_tree(src: Path, dest: Path) -> None:
    def link_or_copy(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)
    shutil.copytree(src, dest, copy_function=link_or_copy)
    for p in [dest, *dest.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)


def base_env(home: str) -> dict[str, str]:
    """The worker's whole environment (nothing inherited), one BLAS thread included: the
    worker does not set those itself, so they are in place before it imports numpy."""
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", **ONE_BLAS_THREAD}


def _tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin:" + os.environ.get("PATH", ""))


# --------------------------------------------------------------------------- staging
def _stage(workdir: Path, uid: int, gid: int) -> tuple[Path, Callable[[], None]]:
    """A folder with copies of the submission, the worker's files and a numpy-only site.

    Layout: <stage> (root, 0711) / submission (owned by the sandbox uid, 0700: no other
    uid lists or reads it) / gradekit (the two worker files) / site (numpy only) / home
    (owned by the sandbox uid, 0700).
    """
    stage = Path(tempfile.mkdtemp(prefix="gradekit-stage-"))
    stage.chmod(0o711)
    sub = stage / "submission"
    shutil.copytree(workdir, sub, symlinks=True)
    for p in [sub, *sub.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o700 if p.is_dir() else 0o600)
            if is_root():
                os.chown(p, uid, gid)
    gk = stage / "gradekit"
    gk.mkdir(mode=0o755)
    for name in WORKER_FILES:
        shutil.copyfile(HERE / name, gk / name)
        (gk / name).chmod(0o644)
    private_site(stage)
    home = stage / "home"
    home.mkdir(mode=0o700)
    if is_root():
        os.chown(home, uid, gid)
    return stage, functools.partial(_remove_tree, stage)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- plain / uid
def _worker_argv(worker_dir: str, config: dict[str, Any], python: str | None = None
                 ) -> list[str]:
    return [python or interpreter(), "-I", "-S", "-B", f"{worker_dir}/worker_main.py",
            json.dumps(config)]


def plain_allowed() -> bool:
    """Plain mode (no OS isolation) only on the TA's explicit, unsafe choice."""
    return os.environ.get("GRADEKIT_ALLOW_PLAIN") == "1"


PLAIN_REFUSED = (
    "refusing to grade without OS isolation (sandbox mode 'plain'{why}): student code would "
    "run as your own user and could read or rewrite other students' results. Get isolation "
    "with Linux + bubblewrap (apt-get install bubblewrap), a Linux container run as root, or "
    "Gradescope; or, knowing the risk, pass --unsafe-no-isolation (sets "
    "GRADEKIT_ALLOW_PLAIN=1).")


def _launch_plain(workdir: Path, config: dict[str, Any], pass_fds: tuple[int, ...]) -> Launch:
    home = tempfile.mkdtemp(prefix="gradekit-home-")
    cfg = dict(config, workdir=str(workdir), monitor=True, site=extra_site_dirs())
    return Launch(_worker_argv(str(HERE), cfg, os.path.realpath(sys.executable)),
                  base_env(home), str(workdir), pass_fds,
                  cleanups=[functools.partial(_remove_tree, Path(home))])


UID_INNER = "/tmp/gradekit"          # where the stage appears in uid mode's mount namespace
UID_HIDDEN = ("/tmp", "/var/tmp", "/dev/shm", "/home", "/root", "/mnt", "/media", "/srv",
              "/autograder")
UID_SETUP = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
BIND, REC, RDONLY, REMOUNT = 4096, 16384, 1, 32
def mount(src, dst, fstype=None, flags=0, data=None):
    if libc.mount(src.encode(), dst.encode(), fstype and fstype.encode(), flags,
                  data and data.encode()) != 0:
        err = ctypes.get_errno()
        sys.exit("gradekit uid sandbox: mount %s: %s" % (dst, os.strerror(err)))
cfg = json.loads(sys.argv[1])
os.chdir(cfg["stage"])                     # relative paths below resolve through this dir,
for i, path in enumerate(cfg["expose"]):   # even once its absolute path is covered
    os.mkdir("x%d" % i)
    mount(path, "x%d" % i, flags=BIND | REC)
for path in cfg["hide"]:
    mount("gradekit-hidden", path, "tmpfs", 0, "size=1m,mode=0755")
for i, path in enumerate(cfg["expose"]):
    os.makedirs(path, exist_ok=True)
    mount("x%d" % i, path, flags=BIND | REC)
    mount("none", path, flags=BIND | REC | REMOUNT | RDONLY)
for path in cfg["mask"]:
    mount("gradekit-hidden", path, "tmpfs", RDONLY, "size=4k,mode=0755")
os.makedirs(cfg["inner"], exist_ok=True)
mount(".", cfg["inner"], flags=BIND)
os.chdir("/")
os.execv(sys.argv[2], sys.argv[2:])
"""


SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
               "/proc", "/sys", "/dev", "/run", "/var/lib", "/opt")


def hidden_paths() -> list[str]:
    """Covered by an empty tmpfs in uid mode's private mount namespace: the kit, temporary
    folders (other stages, batch outputs), homes, Gradescope's /autograder, the grader's
    working folder (where a batch's relative OUT lives), and what GRADEKIT_SANDBOX_HIDE
    lists (os.pathsep-separated, e.g. a batch's OUT folder elsewhere)."""
    extra = [p for p in os.environ.get("GRADEKIT_SANDBOX_HIDE", "").split(os.pathsep) if p]
    cwd = os.path.realpath(os.getcwd())
    if cwd == "/" or any(_under(cwd, d) or _under(d, cwd) for d in SYSTEM_DIRS):
        cwd = ""
    paths = [str(HERE.parent.parent), *UID_HIDDEN, *extra, *([cwd] if cwd else [])]
    return [p for p in _outermost(os.path.realpath(p) for p in paths) if os.path.isdir(p)]


def _launch_uid(workdir: Path, config: dict[str, Any], pass_fds: tuple[int, ...],
                ids: tuple[int, int]) -> Launch:
    """uid mode as `ids` (this sandbox's own leased uid/gid: see `_leased`)."""
    uid, gid = ids
    stage, remove = _stage(workdir, uid, gid)
    if not uid_namespaces_ok():
        # Without a pid namespace a student process can leave the worker's tree (setsid,
        # double fork): every process of the sandbox uid is killed when the worker stops,
        # and before it starts (what a grader that died without cleaning up left behind).
        # The uid is this sandbox's alone, so no other sandbox is hit.
        kill_uid(uid)
        cleanups = [remove, functools.partial(kill_uid, uid)]
        cfg = dict(config, workdir=str(stage / "submission"), monitor=True,
                   site=[str(stage / "site")])
        return Launch(_worker_argv(str(stage / "gradekit"), cfg),
                      base_env(str(stage / "home")), str(stage / "submission"), pass_fds,
                      popen_kwargs={"user": uid, "group": gid, "extra_groups": [],
                                    "umask": 0o077},
                      cleanups=cleanups)
    # A private mount + pid namespace (root, no user namespace needed): a fresh /proc that
    # shows only the sandbox's processes, an empty tmpfs over the kit, temporary folders and
    # homes, the Python installation bound back read-only where it was (so a Python under
    # /root works), and the stage at UID_INNER. The monitor is pid 1 there: nothing in the
    # sandbox survives it, so no uid-wide kill is needed.
    cfg = dict(config, workdir=f"{UID_INNER}/submission", monitor=True,
               site=[f"{UID_INNER}/site"])
    hidden = hidden_paths()
    expose = [r for r in python_roots() if any(_under(r, h) for h in hidden)]
    setup = json.dumps({"stage": str(stage), "expose": expose, "hide": hidden,
                        "inner": UID_INNER, "mask": site_packages_of(python_roots())})
    argv = [_tool("unshare") or "unshare", "--mount", "--pid", "--fork", "--mount-proc",
            "--propagation", "private", "--", os.path.realpath(sys.executable), "-I", "-S",
            "-c", UID_SETUP, setup, *_setpriv(uid, gid),
            *_worker_argv(f"{UID_INNER}/gradekit", cfg)]
    return Launch(argv, base_env(f"{UID_INNER}/home"), "/", pass_fds, cleanups=[remove])


@functools.lru_cache(maxsize=None)
def uid_namespaces_ok() -> bool:
    """Can root make a private mount + pid namespace here (not in every container)?"""
    if not is_root() or _tool("unshare") is None or _tool("setpriv") is None:
        return False
    try:
        r = subprocess.run([_tool("unshare"), "--mount", "--pid", "--fork", "--mount-proc",
                            "--propagation", "private", "--", _tool("sh") or "/bin/sh", "-c",
                            "mount -t tmpfs gradekit-probe /mnt && ls /proc"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and len([x for x in r.stdout.split() if x.isdigit()]) <= 3


def uid_processes(uid: int) -> list[int]:
    """Live (not zombie) pids owned by `uid`, from /proc."""
    found = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if entry.name.isdigit():
            try:
                if os.stat(f"/proc/{entry.name}").st_uid != uid:
                    continue
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
                if stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] != b"Z":
                    found.append(int(entry.name))
            except (OSError, ValueError):
                pass
    return found


def kill_uid(uid: int, wait: float = 10.0) -> None:
    """Kill every process of the sandbox uid and wait until none is left, so nothing a
    student started (even outside the worker's process tree) outlives their run. A forked
    child takes the uid and sends SIGKILL to -1 (everything it may signal: that uid)."""
    if not is_root() or uid in (0, os.getuid()):
        return
    deadline = time.monotonic() + wait
    while uid_processes(uid) and time.monotonic() < deadline:
        pid = os.fork()
        if pid == 0:                                   # pragma: no cover (child)
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.02)


# --------------------------------------------------------------------------- bwrap
INNER_SITE = "/gradekit-site"        # numpy alone, bound from wherever it is installed


def _bwrap_args(binds: list[tuple[str, str]], data_fds: dict[str, int],
                env: dict[str, str], uid: int, gid: int, disable_userns: bool,
                masked: list[str] = ()) -> list[str]:
    """bwrap options: namespaces, a minimal root filesystem, the binds (src, dest)."""
    args = ["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--hostname", "sandbox", "--uid", str(uid), "--gid", str(gid),
            "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
    if disable_userns:
        args.append("--disable-userns")
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = f"/{name}"
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(TMPFS_MB << 20), "--tmpfs", "/tmp"]
    for src, dest in binds:
        args += ["--ro-bind", src, dest]
    for path in masked:                       # other packages of the Python installation
        args += ["--tmpfs", path, "--remount-ro", path]
    for dest, fd in data_fds.items():
        args += ["--perms", "0444", "--ro-bind-data", str(fd), dest]
    args += ["--clearenv", "--chdir", INNER_SUBMISSION]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def _launch_bwrap(workdir: Path, config: dict[str, Any], pass_fds: tuple[int, ...],
                  ids: tuple[int, int], variant: str = "user") -> Launch:
    """bwrap as `ids` (this sandbox's own uid/gid when root: see `_leased`)."""
    bwrap = _tool("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    uid, gid = ids
    cleanups: list[Callable[[], None]] = []
    data_fds: dict[str, int] = {}
    for name in WORKER_FILES:
        data_fds[f"{INNER_WORKER_DIR}/{name}"] = os.open(HERE / name, os.O_RDONLY)
    launch = Launch([], {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, "/",
                    tuple(pass_fds) + tuple(data_fds.values()),
                    data_fds=list(data_fds.values()), cleanups=cleanups)
    try:
        roots = python_roots()
        site = [(str(d), f"{INNER_SITE}/{d.name}") for d in numpy_dirs()]
        sources = [(r, r) for r in roots] + site + [(str(workdir), INNER_SUBMISSION)]
        prefix: list[str] = []
        binds = sources
        if variant == "view":
            # Root: bind every source into a world-traversable view in a private mount
            # namespace, then drop to the sandbox uid and let bwrap bind from the view.
            view = Path(tempfile.mkdtemp(prefix="gradekit-view-"))
            view.chmod(0o755)
            cleanups.append(functools.partial(_remove_tree, view))
            pairs, binds = [], []
            for i, (src, dest) in enumerate(sources):
                mount_point = view / f"m{i}"
                mount_point.mkdir()
                pairs += [src, str(mount_point)]
                binds.append((str(mount_point), dest))
            script = ('set -e; while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; '
                      'done; shift; exec "$@"')
            prefix = [_tool("unshare") or "unshare", "--mount", "--propagation", "private",
                      "--", _tool("sh") or "/bin/sh", "-c", script, "sh", *pairs, "--",
                      *_setpriv(uid, gid)]
        elif variant == "direct":
            # Root without a mount namespace: drop first; the submission goes via staging.
            stage, remove = _stage(workdir, uid, gid)
            cleanups.append(remove)
            site = [(str(stage / "site" / d.name), f"{INNER_SITE}/{d.name}")
                    for d in numpy_dirs()]
            binds = [(r, r) for r in roots] + site + \
                [(str(stage / "submission"), INNER_SUBMISSION)]
            prefix = _setpriv(uid, gid)
        env = base_env("/tmp")
        cfg = dict(config, workdir=INNER_SUBMISSION, site=[INNER_SITE])
        args = _bwrap_args(binds, data_fds, env, uid, gid, _disable_userns_ok(),
                           masked=site_packages_of(roots))
        worker = _worker_argv(INNER_WORKER_DIR, cfg)
        launch.argv = [*prefix, bwrap, *args, "--", *worker]
    except BaseException:
        launch.cleanup()
        raise
    return launch


def _setpriv(uid: int, gid: int) -> list[str]:
    return [_tool("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={gid}",
            "--clear-groups", "--inh-caps=-all", "--"]


# --------------------------------------------------------------------------- probing
def _probe(launcher: Launcher) -> tuple[bool, str]:
    """Start a worker with `launcher` on an empty submission, in probe mode (it answers
    before importing numpy: `process.probe`): (worked?, why not)."""
    from grader.declaration import Limits
    limits = Limits()
    with tempfile.TemporaryDirectory(prefix="gradekit-probe-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        work.chmod(0o755)
        try:
            probe(launcher, work, worker_config(limits), OutputLog(limits.output_kb * 1024),
                  mode="probe", name="sandbox-probe-output")
            return True, ""
        except Exception as exc:                        # the reason goes into the note
            return False, " ".join(str(exc).split())[:300]


@functools.lru_cache(maxsize=None)
def _disable_userns_ok() -> bool:
    bwrap = _tool("bwrap")
    if bwrap is None:
        return False
    try:
        r = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
        return "--disable-userns" in r.stdout
    except (OSError, subprocess.SubprocessError):
        return False


def _bwrap_variant() -> tuple[str | None, str]:
    return _bwrap_variant_for(interpreter(), sandbox_uid())


@functools.lru_cache(maxsize=None)
def _bwrap_variant_for(python: str, ids: tuple[int, int]) -> tuple[str | None, str]:
    """How bwrap runs here: "user" (not root), "view" or "direct" (root), or None + why."""
    if _tool("bwrap") is None:
        return None, "bubblewrap (bwrap) is not installed"
    reasons = []
    for variant in (("view", "direct") if is_root() else ("user",)):
        ok, why = _probe(_leased(functools.partial(_launch_bwrap, variant=variant)))
        if ok:
            return variant, ""
        reasons.append(f"[{variant}] {why}")
    return None, " ".join(reasons)


def available(mode: str) -> tuple[bool, str]:
    """(usable here?, why not) for a mode; cached per process (a probe starts a worker)."""
    return _available(mode, interpreter(), sandbox_uid())


@functools.lru_cache(maxsize=None)
def _available(mode: str, python: str, ids: tuple[int, int]) -> tuple[bool, str]:
    if mode == "plain":
        return True, ""
    if mode not in MODES:
        raise ValueError(f"unknown sandbox mode {mode!r}; choose auto, {', '.join(MODES)}")
    if sys.platform != "linux":
        return False, f"{mode} mode needs Linux"
    if mode == "uid":
        if not is_root():
            return False, "uid mode needs the grader to run as root"
        ok, why = _probe(_leased(_launch_uid))
        if not ok and "Permission denied" in why:
            why = (f"uid {sandbox_uid()[0]} cannot run {interpreter()} ({why}); install Python "
                   "where other users can read it or set GRADEKIT_SANDBOX_PYTHON")
        return ok, why
    variant, why = _bwrap_variant()
    return variant is not None, why


def choose(requested: str = "auto") -> tuple[str, str]:
    """(mode, isolation_note). Raises SandboxUnavailable for an explicit unusable mode."""
    mode = requested if requested and requested != "auto" else \
        (os.environ.get("GRADEKIT_SANDBOX") or "auto")
    if mode != "auto":
        if mode not in MODES:
            raise ValueError(f"unknown sandbox mode {mode!r}; choose auto, {', '.join(MODES)}")
        if mode == "plain" and not plain_allowed():
            raise SandboxUnavailable(PLAIN_REFUSED.format(why=", requested"))
        ok, why = available(mode)
        if not ok:
            raise SandboxUnavailable(f"sandbox mode {mode!r} is not usable here: {why}")
        return mode, note(mode)
    reasons = []
    for candidate in ("bwrap", "uid"):
        if candidate == "uid" and not is_root():
            continue
        ok, why = available(candidate)
        if ok:
            return candidate, note(candidate)
        reasons.append(f"{candidate}: {why}")
    if not plain_allowed():
        raise SandboxUnavailable(PLAIN_REFUSED.format(
            why=", the only one usable here: " + "; ".join(reasons)[:600]))
    return "plain", note("plain", "; ".join(reasons))


def note(mode: str, why_not: str = "") -> str:
    """One human sentence for the results output."""
    uid = uids.describe()
    if mode == "bwrap":
        return (f"sandbox: bubblewrap (no network, private /tmp, only the submission and "
                f"Python visible, {uid})")
    if mode == "uid":
        if uid_namespaces_ok():
            text = (f"sandbox: unprivileged {uid} with resource limits, a private /proc "
                    "and the kit and temporary folders hidden (network not blocked; other "
                    "world-readable files of this machine stay readable)")
        else:
            text = (f"sandbox: unprivileged {uid} with resource limits (no namespaces "
                    "here: network not blocked; other processes' command lines and every "
                    "world-readable file stay visible)")
        suites = HERE.parent / "suites"
        try:
            if suites.stat().st_mode & stat.S_IROTH and not uid_namespaces_ok():
                text += (f" — WARNING: {suites} is readable by other users; run "
                         f"chmod -R o-rwx on the autograder folder")
        except OSError:
            pass
        return text
    return ("sandbox: plain fallback — NO OS isolation (student code runs as the grader's "
            "user with resource limits only" + (f"; {why_not}" if why_not else "") + ")")


def launch(mode: str, *, workdir: Path, config: dict[str, Any],
           pass_fds: tuple[int, ...]) -> Launch:
    """The command that starts one worker in `mode` on `workdir`, inside its memory budget
    and (bwrap, uid) as a uid no other running sandbox has."""
    if mode == "plain":
        return _in_budget(_launch_plain, workdir=workdir, config=config, pass_fds=pass_fds)
    if mode == "uid":
        build: Callable[..., Launch] = _launch_uid
    elif mode == "bwrap":
        variant, why = _bwrap_variant()
        if variant is None:
            raise SandboxUnavailable(f"bubblewrap is not usable here: {why}")
        build = functools.partial(_launch_bwrap, variant=variant)
    else:
        raise ValueError(f"unknown sandbox mode {mode!r}")
    return _leased(functools.partial(_in_budget, build))(
        workdir=workdir, config=config, pass_fds=pass_fds)


def _leased(build: Callable[..., Launch]) -> Launcher:
    """A launcher that runs `build(..., ids=(uid, gid))` with a uid/gid of the sandbox's own
    (`uids.acquire`), freed by the launch's last cleanup: after the worker's whole tree was
    killed and the other cleanups (the uid-wide kill, the cgroup) ran."""
    def launcher(*, workdir: Path, config: dict[str, Any], pass_fds: tuple[int, ...]) -> Launch:
        lease = uids.acquire()
        try:
            result = build(workdir=workdir, config=config, pass_fds=pass_fds,
                           ids=(lease.uid, lease.gid))
        except BaseException:
            lease.release()
            raise
        result.cleanups.insert(0, lease.release)          # cleanups run last-in first-out
        return result
    return launcher


def _in_budget(build: Callable[..., Launch], *, workdir: Path, config: dict[str, Any],
               pass_fds: tuple[int, ...], **ids: Any) -> Launch:
    """`build`'s launch inside the memory budget: a cgroup of its own, else RLIMIT_NPROC 1."""
    group = new_cgroup(config["limits"])
    if group is None:                 # the rlimit alone is the budget: no second process
        config = dict(config, limits=dict(config["limits"], processes=1))
    try:
        result = build(workdir=workdir, config=config, pass_fds=pass_fds, **ids)
    except BaseException:
        if group is not None:
            remove_cgroup(group)
        raise
    if group is not None:
        result.argv = [_tool("sh") or "/bin/sh", "-c",
                       'echo $$ > "$0/cgroup.procs" && exec "$@"', str(group), *result.argv]
        result.cleanups.insert(0, functools.partial(remove_cgroup, group))
    return result


# --------------------------------------------------------------------------- memory budget
CGROUP_FS = Path("/sys/fs/cgroup")


@functools.lru_cache(maxsize=None)
def cgroup_parent() -> Path | None:
    """A cgroup v2 folder we may create children in with the memory and pids controllers,
    or None (cgroup v1, read-only /sys/fs/cgroup, no delegation: most containers)."""
    if not (CGROUP_FS / "cgroup.controllers").is_file():
        return None
    try:
        own = next(line[3:].strip() for line in open("/proc/self/cgroup")
                   if line.startswith("0::"))
        parent = CGROUP_FS / own.lstrip("/")
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        if not {"memory", "pids"} <= set(enabled):
            (parent / "cgroup.subtree_control").write_text("+memory +pids")
        probe = parent / f"gradekit-probe-{os.getpid()}"
        probe.mkdir()
        try:
            (probe / "memory.max").write_text(str(64 << 20))
            (probe / "pids.max").write_text("4")
        finally:
            probe.rmdir()
        return parent
    except (OSError, StopIteration, ValueError):
        return None


def new_cgroup(limits: dict[str, Any]) -> Path | None:
    """A fresh cgroup holding the whole sandbox: memory.max = the memory budget (no swap),
    pids.max = the process limit. None when the host does not allow it."""
    parent = cgroup_parent()
    if parent is None:
        return None
    group = Path(tempfile.mkdtemp(prefix="gradekit-", dir=parent))
    try:
        (group / "memory.max").write_text(str(int(limits["memory_mb"]) << 20))
        if (group / "memory.swap.max").exists():
            (group / "memory.swap.max").write_text("0")
        (group / "pids.max").write_text(str(int(limits["processes"])))
        return group
    except OSError:
        remove_cgroup(group)
        return None


def remove_cgroup(group: Path) -> None:
    """Kill everything in the cgroup (cgroup.kill, else one by one), then remove it."""
    try:
        (group / "cgroup.kill").write_text("1")
    except OSError:
        for pid in (group / "cgroup.procs").read_text().split() if group.exists() else ():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    deadline = time.monotonic() + 5
    while group.exists() and time.monotonic() < deadline:
        try:
            group.rmdir()
        except OSError:
            time.sleep(0.05)


def memory_note(mode: str, memory_mb: int, processes: int) -> str:
    """How the memory budget is enforced here, for the results output."""
    if cgroup_parent() is not None:
        return (f"memory: one {memory_mb} MB budget for the whole sandbox (cgroup v2 "
                f"memory.max, at most {processes} processes)")
    text = (f"memory: {memory_mb} MB address-space limit (RLIMIT_AS) on the worker, which "
            "may not start other processes (RLIMIT_NPROC 1; no cgroup v2 here)")
    if mode == "plain" and is_root():
        text += " — the process limit is not enforced for root"
    return text
