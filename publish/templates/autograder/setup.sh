#!/usr/bin/env bash
# gradekit autograder for "@ASSIGNMENT@": Gradescope runs this once, as root, when it builds
# the autograder image (base image Ubuntu 22.04, whose python3 is 3.10).
#
#   system part  apt: python3-venv, pip, bubblewrap (the sandbox); an unprivileged user that
#                student code runs as. Skipped with GRADEKIT_SKIP_SYSTEM=1.
#   Python part  a venv at $GRADEKIT_VENV (default /opt/gradekit/venv, outside /autograder:
#                student code runs this Python, and run_autograder makes /autograder
#                unreadable to that user) with the kit's pinned requirements.txt.
set -euo pipefail

ROOT="${GRADEKIT_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="${GRADEKIT_VENV:-/opt/gradekit/venv}"
BASE_PYTHON="${GRADEKIT_BASE_PYTHON:-python3}"
STUDENT_USER="@STUDENT_USER@"

if [ "${GRADEKIT_SKIP_SYSTEM:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip bubblewrap
  if ! id -u "$STUDENT_USER" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$STUDENT_USER"
  fi
fi

"$BASE_PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), "gradekit needs Python 3.10+"'
"$BASE_PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    -r "$SOURCE/requirements.txt"
chmod -R a+rX "$VENV"

# Smoke test: the grader and its suite import with exactly these packages.
cd "$SOURCE"
PYTHONPATH="$SOURCE" "$VENV/bin/python" -c '
import json, sys
from grader.framework import collect
name = json.load(open("autograder.json"))["assignment"]
tests = collect(name)
print(f"gradekit autograder ready: {name}, {len(tests)} tests, "
      f"{sum(t.weight for t in tests):g} points, Python {sys.version.split()[0]}")
'
