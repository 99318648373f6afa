"""The TA's consent to grade without OS isolation: the one switch, how it is given, and the
check that refuses the `plain` sandbox without it.

`plain` runs student code as the grader's own user (rlimits only), so real grading (`run`,
`grade`, the demo) uses it only when the TA said so (`--unsafe-no-isolation`, which sets
GRADEKIT_ALLOW_PLAIN=1 for this process and its children) and says so loudly. The CLI and the
batch both ask here before any work; the sandbox itself refuses `plain` without the switch.
"""
from __future__ import annotations

import os
import sys

from grader import safetext

ALLOW_PLAIN_ENV = "GRADEKIT_ALLOW_PLAIN"   # the one switch that lets the sandbox run `plain`
NO_ISOLATION_WARNING = (
    "WARNING: grading WITHOUT OS isolation (sandbox mode 'plain'): student code runs as your "
    "user and can read and change your files, including other students' results. For "
    "isolation, grade on Linux with bubblewrap (apt-get install bubblewrap), in a Linux "
    "container, or on Gradescope.")


def allow_plain(reason: str = "") -> None:
    """Let the sandbox use `plain` (children inherit it) and say so loudly on stderr."""
    os.environ[ALLOW_PLAIN_ENV] = "1"
    print(safetext.terminal(NO_ISOLATION_WARNING + (f" ({reason})" if reason else ""), 100_000),
          file=sys.stderr)


def preflight_isolation() -> str:
    """The sandbox mode real grading will use; SandboxUnavailable (saying what to do) when
    the only mode here is `plain` and the TA has not allowed it."""
    from grader.sandbox import SandboxUnavailable, isolation
    mode, _ = isolation.choose()
    if mode == "plain" and os.environ.get(ALLOW_PLAIN_ENV) != "1":
        raise SandboxUnavailable(
            "no OS isolation is available here (no usable bubblewrap, not root): student code "
            "would run as your user. Grade on Linux with bubblewrap (apt-get install "
            "bubblewrap), in a Linux container, or on Gradescope; or, knowingly, pass "
            "--unsafe-no-isolation")
    return mode
