"""Shared helpers for tests/test_sandbox*.py: modes, workdirs, limits."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from grader.declaration import Limits
from grader.sandbox import Worker, isolation

CASES = Path(__file__).resolve().parent
ALL_CASES = sorted(p.name for p in CASES.glob("*.py")
                   if p.name not in ("__init__.py", "support.py"))
LIMITS = Limits(call_seconds=10.0, memory_mb=512, processes=32, open_files=64, file_mb=8,
                output_kb=64)
MODES = ("bwrap", "uid", "plain")
ISOLATED = ("bwrap", "uid")
# The first uid of the tests' own pool (each running sandbox leases a uid of its own from
# there up: grader/sandbox/uids.py), away from the pool real grading uses on this machine.
TEST_UID = "64321"


@pytest.fixture(scope="module", autouse=True)
def sandbox_test_env():
    """These tests use plain mode on purpose (GRADEKIT_ALLOW_PLAIN) and their own uid."""
    saved = {k: os.environ.get(k) for k in ("GRADEKIT_ALLOW_PLAIN", "GRADEKIT_SANDBOX_UID")}
    os.environ.update(GRADEKIT_ALLOW_PLAIN="1", GRADEKIT_SANDBOX_UID=TEST_UID)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def mode_env(mode: str):
    """uid mode where the venv's Python is unreadable to uid 65534 (e.g. pyenv under /root):
    run the worker with the system Python of the same version (numpy still from the venv)."""
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    use = mode == "uid" and not isolation.available("uid")[0] and os.path.exists(system) \
        and "GRADEKIT_SANDBOX_PYTHON" not in os.environ
    if use:
        os.environ["GRADEKIT_SANDBOX_PYTHON"] = system
    try:
        yield
    finally:
        if use:
            os.environ.pop("GRADEKIT_SANDBOX_PYTHON", None)


def require(mode: str) -> None:
    """Skip (with the reason) when `mode` cannot run on this machine."""
    ok, why = isolation.available(mode)
    if not ok:
        pytest.skip(f"sandbox mode {mode} not usable here: {why}")


def make_workdir(root: Path, cases: tuple[str, ...] | list[str] = ALL_CASES) -> Path:
    """A submission folder holding copies of the given case files (as the runner does)."""
    work = root / "work"
    work.mkdir(parents=True)
    for name in cases:
        shutil.copyfile(CASES / name, work / name)
        (work / name).chmod(0o644)
    work.chmod(0o755)
    return work


def marker() -> str:
    """A unique string placed in the worker's command line, to find its processes."""
    return "gkmark" + uuid.uuid4().hex[:12]


def processes_with(text: str) -> list[int]:
    """Pids whose command line contains `text` (for leftover-process checks)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry.name))
            except OSError:
                pass
    return found


def new_worker(root: Path, mode: str, cases=ALL_CASES, limits: Limits = LIMITS,
               forbidden: tuple[str, ...] = ()) -> Worker:
    require(mode)
    return Worker(make_workdir(root, cases), limits, mode=mode, forbidden_imports=forbidden)
