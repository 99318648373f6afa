"""One unprivileged uid per running sandbox, leased from a small pool (when root).

Why: sandboxes that share a uid are not independent. Without a cgroup the process limit is
RLIMIT_NPROC, which counts every process of the real uid on the machine; uid mode without
namespaces kills every process of its uid when a worker stops (`isolation.kill_uid`), and a
student's `kill(-1, SIGKILL)` there reaches everything of that uid; a bwrap sandbox started
by root runs bwrap itself as that uid. With one shared uid, one submission's sandbox could
kill another's worker mid-test (a false `tamper` or `crash` verdict against a student who
did nothing), starve its process limit, or read its staged copy. So each sandbox that runs
as a real uid (uid mode, bwrap started by root) holds a uid no other live sandbox has.

Pool: `GRADEKIT_SANDBOX_UID` (default 65534) is the first uid, `GRADEKIT_SANDBOX_UIDS` its
size (default 64); gids follow from `GRADEKIT_SANDBOX_GID` (default: the first uid) at the
same offsets. 65535 (the 16-bit "no uid") and uids that name an account of this machine
(other than the first, `nobody` by default) are skipped. A grader alone on the machine
always gets the first uid.

Lease: an exclusive `flock` on `<uid>` in a folder only root may write (/run/gradekit),
taken with a fresh open file, so two grader processes, or two workers of one grader,
never hold the same uid, and the kernel drops the lock of a grader that dies without
cleaning up. Not root (bwrap as a plain user): the uid exists only inside each sandbox's
own user namespace, so every sandbox uses the first uid and nothing is locked.
"""
from __future__ import annotations

import fcntl
import functools
import os
import pwd
import stat
import tempfile
import time
from pathlib import Path

DEFAULT_UID = 65534
DEFAULT_POOL = 64
WAIT_SECONDS = 60.0          # for a free uid when every one is taken (then the start fails)
NOT_UIDS = frozenset({0, 65535, 2**32 - 1})


def first_ids() -> tuple[int, int]:
    """The pool's first uid and gid (GRADEKIT_SANDBOX_UID / _GID)."""
    uid = int(os.environ.get("GRADEKIT_SANDBOX_UID", str(DEFAULT_UID)))
    gid = int(os.environ.get("GRADEKIT_SANDBOX_GID", str(uid)))
    return uid, gid


def pool() -> tuple[tuple[int, int], ...]:
    """Every (uid, gid) a sandbox may run as, first one first."""
    size = max(1, int(os.environ.get("GRADEKIT_SANDBOX_UIDS", str(DEFAULT_POOL))))
    return _pool(*first_ids(), size)


@functools.lru_cache(maxsize=None)
def _pool(uid: int, gid: int, size: int) -> tuple[tuple[int, int], ...]:
    found = [(uid, gid)]
    step = 1
    while len(found) < size and step < size + 1024:
        ids = (uid + step, gid + step)
        step += 1
        if max(ids) < 2**32 - 1 and not NOT_UIDS & set(ids) and not _is_account(ids[0]):
            found.append(ids)
    return tuple(found)


def _is_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except (KeyError, OverflowError):
        return False


def describe() -> str:
    """For the isolation note: 'uid 65534', or 'uid 65534-65598, one per running sandbox'."""
    ids = pool()
    if not _is_root() or len(ids) == 1:
        return f"uid {ids[0][0]}"
    return f"uid {ids[0][0]}-{ids[-1][0]}, one per running sandbox"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class Lease:
    """A uid/gid this process holds (its lock file stays open) until `release()`."""
    __slots__ = ("uid", "gid", "_fd")

    def __init__(self, uid: int, gid: int, fd: int = -1):
        self.uid, self.gid, self._fd = uid, gid, fd

    def release(self) -> None:
        """Free the uid for the next sandbox (once: a second call does nothing)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __repr__(self) -> str:
        return f"<Lease uid {self.uid}{'' if self._fd >= 0 else ' (released)'}>"


def acquire(wait: float = WAIT_SECONDS) -> Lease:
    """A free uid of the pool, locked for this sandbox. Release it only once every process
    of the sandbox is dead. RuntimeError when none frees up within `wait` seconds."""
    ids = pool()
    if not _is_root():
        return Lease(*ids[0])
    deadline = time.monotonic() + wait
    while True:
        for uid, gid in ids:
            fd = _open_lock(uid)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            return Lease(uid, gid, fd)
        if time.monotonic() > deadline:
            raise RuntimeError(f"all {len(ids)} sandbox uids ({describe()}) are in use by "
                               f"other sandboxes; raise GRADEKIT_SANDBOX_UIDS or run fewer "
                               "jobs at once")
        time.sleep(0.05)


def _open_lock(uid: int) -> int:
    """A fresh open file of uid's lock (flock conflicts between open files, even in one
    process, so two workers of one grader never share a uid either)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        return os.open(lock_dir() / str(uid), flags, 0o600)
    except FileNotFoundError:                  # the folder was cleaned away: make it again
        lock_dir.cache_clear()
        return os.open(lock_dir() / str(uid), flags, 0o600)


LOCK_DIRS = ("/run/gradekit", "/var/lock/gradekit")


@functools.lru_cache(maxsize=None)
def lock_dir() -> Path:
    """The folder of the uid locks: owned by us (root), writable by nobody else, so no
    sandbox can take or hold a lock. The same folder for every grader on the machine."""
    candidates = [*LOCK_DIRS, os.path.join(tempfile.gettempdir(), "gradekit-uid-locks")]
    for path in candidates:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() \
                and not st.st_mode & 0o022:
            return Path(path)
    raise RuntimeError(f"no safe folder for the sandbox uid locks (tried {', '.join(candidates)})")
