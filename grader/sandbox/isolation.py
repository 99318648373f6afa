"""How the worker process is isolated (SPEC §5): `bwrap`, `uid` or `plain`.

`bwrap` (Linux with user namespaces; Debian package `bubblewrap`):
    new user, pid, net, ipc, uts and cgroup namespaces; a root filesystem holding only /usr
    (+ the /lib, /bin links), /etc/ld.so.cache, the Python installation and the venv
    (read-only), the worker's two files at /gradekit, the submission copy read-only at
    /submission (the cwd), a fresh size-capped tmpfs /tmp (HOME), a new /proc and a minimal
    /dev. No network (empty net namespace), no view of the repository, reference/, fixtures,
    datasets, other submissions or the results path. The worker runs as uid 65534.
    When the grader is root (Gradescope, CI) the real uid is dropped *before* bwrap, so the
    sandboxed process is an unprivileged user outside its namespace too: sources a plain
    user cannot reach (a Python under /root, a 0700 temp dir) are first bind-mounted into a
    world-traversable view inside a private mount namespace (`unshare --mount`, only when
    needed), then `setpriv` drops to 65534 and runs bwrap. If that is impossible the
    submission is copied into a world-readable staging folder instead.
`uid` (root without user namespaces, e.g. Gradescope's Docker):
    the worker runs as uid/gid 65534 with rlimits, from a staging folder holding a copy of
    the submission and the worker's files, with a private HOME. NOT covered: the network,
    and every world-readable file on the machine. The kit must therefore make its trusted
    files unreadable to that uid; on Gradescope, in `setup.sh`/`run_autograder`:
        chmod -R o-rwx /autograder/source /autograder/results
    `isolation_note` warns when the kit's suites are readable by others.
`plain`: rlimits, a cleared environment, cwd = the submission folder, a private HOME, and a
    monitor process between the grader and the worker (so `os.kill(os.getppid(), 9)` hits
    the monitor); no OS isolation, and the note says so.

Choice: the `mode` argument, else env `GRADEKIT_SANDBOX=bwrap|uid|plain`, else "auto"
(bwrap if it works here, else uid if root and it works, else plain). `GRADEKIT_SANDBOX_UID`
changes the unprivileged uid/gid (default 65534); `GRADEKIT_SANDBOX_PYTHON` runs the worker
with another interpreter of the same Python version (numpy is then taken from this one's
site-packages).
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
WORKER_FILES = ("worker_main.py", "protocol.py")
MODES = ("bwrap", "uid", "plain")
INNER_SUBMISSION = "/submission"
INNER_WORKER_DIR = "/gradekit"
BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
TMPFS_MB = 64                 # the sandbox's /tmp (bwrap)


class SandboxUnavailable(RuntimeError):
    """The requested isolation mode cannot run on this machine."""


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


# --------------------------------------------------------------------------- facts
def sandbox_uid() -> tuple[int, int]:
    uid = int(os.environ.get("GRADEKIT_SANDBOX_UID", "65534"))
    gid = int(os.environ.get("GRADEKIT_SANDBOX_GID", str(uid)))
    return uid, gid


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def interpreter() -> str:
    return os.environ.get("GRADEKIT_SANDBOX_PYTHON") or sys.executable


def extra_site_dirs() -> list[str]:
    """numpy's site-packages, when the worker runs another interpreter than ours."""
    if interpreter() == sys.executable:
        return []
    import numpy
    return [str(Path(numpy.__file__).resolve().parent.parent)]


def python_roots() -> list[str]:
    """Directories the worker's Python and numpy live in (bound read-only into bwrap)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(sys.executable).parent.parent)}
    exe = Path(interpreter())
    paths.add(str(exe.resolve().parent.parent))
    paths.add(str(exe.parent.parent))
    paths.update(extra_site_dirs())
    try:
        import numpy
        paths.add(str(Path(numpy.__file__).resolve().parent.parent))
    except ImportError:
        pass
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


def base_env(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", **BLAS_ENV}


def _tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin:" + os.environ.get("PATH", ""))


# --------------------------------------------------------------------------- staging
def _stage(workdir: Path, uid: int, gid: int) -> tuple[Path, Callable[[], None]]:
    """A world-traversable folder with copies of the submission and the worker's files.

    Layout: <stage>/submission (read-only for the sandbox uid), <stage>/gradekit (the two
    worker files), <stage>/home (owned by the sandbox uid, 0700).
    """
    stage = Path(tempfile.mkdtemp(prefix="gradekit-stage-"))
    stage.chmod(0o711)
    sub = stage / "submission"
    shutil.copytree(workdir, sub, symlinks=True)
    for p in [sub, *sub.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    gk = stage / "gradekit"
    gk.mkdir(mode=0o755)
    for name in WORKER_FILES:
        shutil.copyfile(HERE / name, gk / name)
        (gk / name).chmod(0o644)
    home = stage / "home"
    home.mkdir(mode=0o700)
    if is_root():
        os.chown(home, uid, gid)
    return stage, functools.partial(_remove_tree, stage)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- plain / uid
def _worker_argv(worker_dir: str, config: dict[str, Any]) -> list[str]:
    return [interpreter(), "-I", "-B", f"{worker_dir}/worker_main.py", json.dumps(config)]


def _launch_plain(workdir: Path, config: dict[str, Any], pass_fds: tuple[int, ...]) -> Launch:
    home = tempfile.mkdtemp(prefix="gradekit-home-")
    cfg = dict(config, workdir=str(workdir), monitor=True, site=extra_site_dirs())
    return Launch(_worker_argv(str(HERE), cfg), base_env(home), str(workdir), pass_fds,
                  cleanups=[functools.partial(_remove_tree, Path(home))])


def _launch_uid(workdir: Path, config: dict[str, Any], pass_fds: tuple[int, ...]) -> Launch:
    uid, gid = sandbox_uid()
    stage, remove = _stage(workdir, uid, gid)
    cfg = dict(config, workdir=str(stage / "submission"), monitor=True, site=extra_site_dirs())
    return Launch(_worker_argv(str(stage / "gradekit"), cfg), base_env(str(stage / "home")),
                  str(stage / "submission"), pass_fds,
                  popen_kwargs={"user": uid, "group": gid, "extra_groups": [], "umask": 0o077},
                  cleanups=[remove])


# --------------------------------------------------------------------------- bwrap
def _bwrap_args(binds: list[tuple[str, str]], data_fds: dict[str, int],
                env: dict[str, str], uid: int, gid: int, disable_userns: bool) -> list[str]:
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
    for dest, fd in data_fds.items():
        args += ["--perms", "0444", "--ro-bind-data", str(fd), dest]
    args += ["--clearenv", "--chdir", INNER_SUBMISSION]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def _launch_bwrap(workdir: Path, config: dict[str, Any], pass_fds: tuple[int, ...],
                  variant: str = "user") -> Launch:
    bwrap = _tool("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    uid, gid = sandbox_uid()
    cleanups: list[Callable[[], None]] = []
    data_fds: dict[str, int] = {}
    for name in WORKER_FILES:
        data_fds[f"{INNER_WORKER_DIR}/{name}"] = os.open(HERE / name, os.O_RDONLY)
    launch = Launch([], {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, "/",
                    tuple(pass_fds) + tuple(data_fds.values()),
                    data_fds=list(data_fds.values()), cleanups=cleanups)
    try:
        roots = python_roots()
        sources = [(r, r) for r in roots] + [(str(workdir), INNER_SUBMISSION)]
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
            binds = [(r, r) for r in roots] + [(str(stage / "submission"), INNER_SUBMISSION)]
            prefix = _setpriv(uid, gid)
        env = base_env("/tmp")
        cfg = dict(config, workdir=INNER_SUBMISSION, site=extra_site_dirs())
        args = _bwrap_args(binds, data_fds, env, uid, gid, _disable_userns_ok())
        worker = [interpreter(), "-I", "-B", f"{INNER_WORKER_DIR}/worker_main.py",
                  json.dumps(cfg)]
        launch.argv = [*prefix, bwrap, *args, "--", *worker]
    except BaseException:
        launch.cleanup()
        raise
    return launch


def _setpriv(uid: int, gid: int) -> list[str]:
    return [_tool("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={gid}",
            "--clear-groups", "--inh-caps=-all", "--"]


# --------------------------------------------------------------------------- probing
def _probe(launcher: Callable[..., Launch]) -> tuple[bool, str]:
    """Start a real worker with `launcher` on an empty submission: (worked?, why not)."""
    from grader.declaration import Limits
    from grader.sandbox.client import Worker
    with tempfile.TemporaryDirectory(prefix="gradekit-probe-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        work.chmod(0o755)
        try:
            with Worker(work, Limits(), launcher=launcher) as w:
                w.start()
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
        ok, why = _probe(functools.partial(_launch_bwrap, variant=variant))
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
        ok, why = _probe(_launch_uid)
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
    return "plain", note("plain", "; ".join(reasons))


def note(mode: str, why_not: str = "") -> str:
    """One human sentence for the results output."""
    uid, _ = sandbox_uid()
    if mode == "bwrap":
        return (f"sandbox: bubblewrap (no network, private /tmp, only the submission and "
                f"Python visible, uid {uid})")
    if mode == "uid":
        text = (f"sandbox: unprivileged uid {uid} with resource limits (no namespaces here: "
                "network not blocked)")
        suites = HERE.parent / "suites"
        try:
            if suites.stat().st_mode & stat.S_IROTH:
                text += (f" — WARNING: {suites} is readable by other users; run "
                         f"chmod -R o-rwx on the autograder folder")
        except OSError:
            pass
        return text
    return ("sandbox: plain fallback — NO OS isolation (student code runs as the grader's "
            "user with resource limits only" + (f"; {why_not}" if why_not else "") + ")")


def launch(mode: str, *, workdir: Path, config: dict[str, Any],
           pass_fds: tuple[int, ...]) -> Launch:
    """The command that starts one worker in `mode` on `workdir`."""
    if mode == "plain":
        return _launch_plain(workdir, config, pass_fds)
    if mode == "uid":
        return _launch_uid(workdir, config, pass_fds)
    if mode == "bwrap":
        variant, why = _bwrap_variant()
        if variant is None:
            raise SandboxUnavailable(f"bubblewrap is not usable here: {why}")
        return _launch_bwrap(workdir, config, pass_fds, variant=variant)
    raise ValueError(f"unknown sandbox mode {mode!r}")
