"""Assignment declarations: the one place that says what an assignment is made of.

The grader, the stub generator (`publish.stubs`), the student release and the Gradescope
autograder zip all read these; nothing else lists graded files, given files or datasets.
Each assignment declares itself in `grader/suites/<name>/declaration.py` as `ASSIGNMENT`.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent          # the repository (or unpacked kit) root
SUITES = Path(__file__).resolve().parent / "suites"
NAMES = ("softmax", "two_layer_net", "convnet", "modules")   # every assignment, in course order

# Student code is numpy only (docs/assignments.md); these are refused by a static scan before grading.
DEFAULT_FORBIDDEN = ("torch", "tensorflow", "jax", "sklearn", "scipy", "keras", "cupy")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's sandboxed worker (see grader/sandbox)."""
    call_seconds: float = 20.0          # wall time for one ordinary call into student code
    train_seconds: float = 150.0        # wall time for one training run
    memory_mb: int = 1024               # address-space cap of the worker
    # One total time budget for grading a submission (worker starts, imports, every test),
    # for every way of grading: `grader run`, the batch and the Gradescope autograder.
    # Gradescope's default limit is 600 s for everything, including its container set-up and
    # our interpreter start; 480 s leaves 2 minutes for that and for `shutdown_seconds`.
    submission_seconds: float = 480.0
    shutdown_seconds: float = 30.0      # after the budget: kill the worker, write results
    processes: int = 32                 # RLIMIT_NPROC inside the sandbox
    open_files: int = 64
    file_mb: int = 16                   # largest file student code may write (in its /tmp)
    output_kb: int = 64                 # captured stdout+stderr kept per worker


@dataclass(frozen=True)
class Assignment:
    """What one assignment is: its files, data and limits."""
    name: str
    title: str
    graded: tuple[str, ...]                 # files the student submits and we grade
    given: tuple[str, ...]                  # helpers we ship; resolved by `given_path`
    datasets: tuple[str, ...]               # hwdata names the assignment uses
    report: str | None = None               # a graded Markdown report, if any
    forbidden_imports: tuple[str, ...] = DEFAULT_FORBIDDEN
    limits: Limits = field(default_factory=Limits)
    settings: dict[str, Any] = field(default_factory=dict)   # assignment-specific knobs
    total_points: float = 100.0             # the tests' weights must sum to this
    # suite files the autograder needs but the student release must not carry (e.g. a
    # trusted forward pass made of the very layer code students write)
    grading_only: tuple[str, ...] = ()

    @property
    def submitted(self) -> tuple[str, ...]:
        """Everything a student hands in: graded code plus the report."""
        return self.graded + ((self.report,) if self.report else ())

    @property
    def suite_dir(self) -> Path:
        return SUITES / self.name

    def calibration(self) -> dict[str, Any]:
        """The reference's measured accuracy (written by `make calibrate`)."""
        path = self.suite_dir / "calibration.json"
        if not path.exists():
            return {}
        return json.loads(path.read_text())


def load(name: str) -> Assignment:
    """The declaration of assignment `name`; a clear error for an unknown name."""
    if name not in NAMES:
        raise SystemExit(f"unknown assignment {name!r}; choose one of: {', '.join(NAMES)}")
    return importlib.import_module(f"grader.suites.{name}.declaration").ASSIGNMENT


def all_assignments() -> list[Assignment]:
    return [load(n) for n in NAMES]


def source_dir(kind: str) -> Path:
    """`reference` or `assignments` at the kit root."""
    return ROOT / kind


def given_path(kind: str, assignment: str, filename: str) -> Path:
    """A given helper: the assignment's own folder first, then the shared `common/`."""
    own = source_dir(kind) / assignment / filename
    return own if own.exists() else source_dir(kind) / "common" / filename
