"""One BLAS thread is defined once (grader/environment.py); the copies that cannot import it
(shell entry points) must export exactly the same variables, so they cannot drift."""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from grader.environment import ONE_BLAS_THREAD, pin_blas_threads, with_one_blas_thread

ROOT = Path(__file__).resolve().parents[1]
MAKEFILES = ("Makefile", "publish/templates/student/Makefile")
SHELL_SCRIPTS = ("publish/templates/autograder/run_autograder",)
THREAD_VAR = re.compile(r"^[A-Z_]*_(NUM_THREADS|MAXIMUM_THREADS)$")
# Python that sets the variables itself instead of importing them (none but the source).
PYTHON_TREES = ("grader", "benchmarks", "publish")
SOURCE = "grader/environment.py"


def make_exports(text: str) -> dict[str, str]:
    """`export NAME := value` (or = / ?=) lines of a Makefile."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"^export\s+([A-Za-z_][A-Za-z0-9_]*)\s*[:?]?=\s*(.*?)\s*$", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def shell_exports(text: str) -> dict[str, str]:
    """`export A=1 B=2` statements of a shell script (backslash continuations joined)."""
    found = {}
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if words[:1] == ["export"]:
            for word in words[1:]:
                name, eq, value = word.partition("=")
                if eq:
                    found[name] = value
    return found


def blas(exports: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in exports.items() if THREAD_VAR.match(k)}


def test_one_blas_thread_is_every_pool_at_one():
    assert set(ONE_BLAS_THREAD) >= {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                    "MKL_NUM_THREADS"}
    assert all(THREAD_VAR.match(k) and v == "1" for k, v in ONE_BLAS_THREAD.items())


@pytest.mark.parametrize("path", MAKEFILES)
def test_makefiles_export_exactly_one_blas_thread(path):
    assert blas(make_exports((ROOT / path).read_text())) == dict(ONE_BLAS_THREAD)


@pytest.mark.parametrize("path", SHELL_SCRIPTS)
def test_shell_scripts_export_exactly_one_blas_thread(path):
    assert blas(shell_exports((ROOT / path).read_text())) == dict(ONE_BLAS_THREAD)


def test_parsers_see_a_drifted_copy():
    assert blas(make_exports("export OMP_NUM_THREADS := 1\nexport X := 2\n")) == \
        {"OMP_NUM_THREADS": "1"}
    assert blas(shell_exports("export A=1 OMP_NUM_THREADS=2 \\\n  MKL_NUM_THREADS=1\n")) == \
        {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "1"}


def test_python_imports_the_list_instead_of_spelling_it():
    spelled = []
    for tree in PYTHON_TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel != SOURCE and any(name in path.read_text() for name in ONE_BLAS_THREAD):
                spelled.append(rel)
    assert spelled == []


def test_helpers_pin_every_pool():
    env = with_one_blas_thread({"OMP_NUM_THREADS": "8", "HOME": "/x"})
    assert env == {"HOME": "/x", **ONE_BLAS_THREAD}
    assert with_one_blas_thread()["PATH"] == os.environ["PATH"]
    target: dict[str, str] = {"MKL_NUM_THREADS": "4"}
    pin_blas_threads(target)
    assert target == dict(ONE_BLAS_THREAD)


def test_the_sandbox_worker_environment_holds_them():
    from grader.sandbox import isolation
    env = isolation.base_env("/tmp")
    assert {k: env[k] for k in ONE_BLAS_THREAD} == dict(ONE_BLAS_THREAD)
