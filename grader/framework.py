"""How a suite's tests are declared and what they get to work with.

A test is a plain function `test_*(ctx)` in `grader/suites/<name>/tests.py`, decorated with
gradescope-utils' metadata decorators (`weight`, `number`, `visibility`, `tags`; SPEC §4).
Its first docstring line is its name. It fails by raising `CheckFailed` (a student-facing
message) or through a `StudentError` from the sandbox; it earns partial credit with
`ctx.set_score(points)`. gradescope-utils' own `partial_credit` keeps its score on the
wrapper function (process-global state) and keeps a score set before a failure; here the
score lives on the per-run `Context`, so neither quirk exists.

Order of a grading run (suites may rely on it): every non-visible test (`hidden`,
`after_due_date`, `after_published`) runs first, in number order, in one fresh worker; then
every visible test, in number order, in a NEW fresh worker that never saw a hidden input, so
student code cannot stash hidden inputs and show them in a visible test's output. `ctx.phase`
says which ("hidden" or "visible"). In the student's self-check only the visible phase runs.
`ctx.shared` (values computed by trusted code) carries over from the hidden phase to the
visible one, never back: a visible test may read what a hidden test wrote, a hidden test must
not rely on a visible one (and every reader copes with a missing key). Results are reported
in test-number order whatever the run order.

Time: one budget covers the whole submission (`Limits.submission_seconds`). Every call into
the worker made through the Context, including `ctx.worker.batch` and friends, has its
timeout cut to what is left of the budget (`ctx.remaining()`); a call cut that way fails
with a message naming the budget, and the runner fails the tests it no longer reaches.
"""
from __future__ import annotations

import ast
import importlib
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from grader.declaration import Assignment
from grader.sandbox import Handle, StudentError, Worker

__all__ = ["weight", "number", "visibility", "tags", "CheckFailed", "Context", "TestSpec",
           "collect", "VISIBILITIES", "PHASES", "Budget", "BudgetedWorker"]

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
PHASES = ("hidden", "visible")            # the order a grading run goes in (module doc)
# Worker methods that take a `timeout` (seconds): the budget cuts each one.
_TIMED_METHODS = frozenset({"load", "call", "new", "call_method", "get_attr", "set_item",
                            "batch"})
CUT_SLACK = 0.5     # s: a call that timed out this close to the budget's end was cut by it


class CheckFailed(AssertionError):
    """A check did not pass; the message is shown to the student as is."""


@dataclass(frozen=True)
class TestSpec:
    """One test's metadata, read off the decorated function."""
    func: Callable[["Context"], None]
    name: str
    number: str
    weight: float
    visibility: str
    tags: tuple[str, ...]

    @property
    def uses_hidden_inputs(self) -> bool:
        return self.visibility != "visible"


def _number_key(num: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", num))


def collect(assignment: str) -> list[TestSpec]:
    """Every test of an assignment's suite, sorted by number; validates the metadata."""
    module = importlib.import_module(f"grader.suites.{assignment}.tests")
    specs = []
    for attr, func in vars(module).items():
        if not (attr.startswith("test_") and callable(func)):
            continue
        doc = (func.__doc__ or attr).strip().splitlines()[0].strip()
        for meta in ("__weight__", "__number__", "__tags__"):
            if not hasattr(func, meta):
                raise TypeError(f"{assignment} suite: {attr} lacks @{meta.strip('_')}")
        vis = getattr(func, "__visibility__", "visible")
        if vis not in VISIBILITIES:
            raise TypeError(f"{assignment} suite: {attr} has unknown visibility {vis!r}")
        specs.append(TestSpec(func, doc, func.__number__, float(func.__weight__), vis,
                              tuple(func.__tags__)))
    specs.sort(key=lambda s: _number_key(s.number))
    numbers = [s.number for s in specs]
    if len(set(numbers)) != len(numbers):
        raise TypeError(f"{assignment} suite: duplicate test numbers")
    return specs


@dataclass
class Budget:
    """The time one submission may take, counted from `start` (time.monotonic())."""
    seconds: float
    start: float = field(default_factory=time.monotonic)
    exhausted: bool = False            # set once a call was cut or a test was not reached

    def remaining(self) -> float:
        """Seconds left (negative once the budget is used up)."""
        return self.seconds - (time.monotonic() - self.start)

    def message(self) -> str:
        return (f"the submission used up its total time budget of {self.seconds:g} s "
                f"(all tests together)")


class BudgetedWorker:
    """A sandbox Worker whose every timed call is cut to what is left of the `Budget`.

    Attributes other than the timed methods are the worker's own (mode, owner, release,
    take_output, ...), so checks use it exactly like a Worker."""

    def __init__(self, worker: Worker, budget: Budget):
        self._worker, self._budget = worker, budget

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._worker, name)
        return self._timed(attr) if name in _TIMED_METHODS else attr

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
            own = self._worker.limits.call_seconds if timeout is None else float(timeout)
            left = self._budget.remaining()
            if left <= 0:
                self._budget.exhausted = True
                raise StudentError("timeout", f"Not run: {self._budget.message()}.")
            try:
                return method(*args, timeout=min(own, left), **kwargs)
            except StudentError as exc:
                if exc.kind == "timeout" and left < own \
                        and self._budget.remaining() <= CUT_SLACK:
                    self._budget.exhausted = True
                    raise StudentError("timeout", f"Stopped: {self._budget.message()}, and "
                                                  f"this call was still running.") from None
                raise
        return run


@dataclass
class Context:
    """What a running test may use: the sandboxed worker, fixtures, data, the declaration."""
    assignment: Assignment
    worker: Worker | BudgetedWorker      # a BudgetedWorker while grading
    fixtures: Callable[[str], dict[str, dict[str, np.ndarray]]]   # set name -> cases
    static_errors: dict[str, StudentError] = field(default_factory=dict)  # module -> error
    report_text: str | None = None       # the submitted report (trusted side reads it as text)
    sources: dict[str, str] = field(default_factory=dict)   # module -> submitted source text
    score: float | None = None
    notes: list[str] = field(default_factory=list)
    # Values one test leaves for a later test of the same submission, e.g. the accuracy
    # measured by the training test for the REPORT.md check. Hidden tests run before visible
    # ones (module doc): a visible test may read a hidden test's key, not the other way.
    # Keys are "<assignment>.<what>"; a reader must cope with a missing key.
    shared: dict[str, Any] = field(default_factory=dict)
    phase: str = "visible"               # "hidden" or "visible": which worker this is
    # True in the student's self-check (only visible tests run, no hidden verdicts exist);
    # False in a real grading run, where a verdict a hidden test should have left is missing
    # only because that test failed before writing it.
    self_check: bool = False
    budget: Budget | None = None         # the submission's time budget (None: no budget)

    # -- results -----------------------------------------------------------------------
    def set_score(self, points: float) -> None:
        """Partial credit, in points (clipped to the test's weight by the runner)."""
        self.score = float(points)

    def note(self, text: str) -> None:
        """A line of feedback shown with the test whether it passes or fails."""
        self.notes.append(text)

    # -- inputs ------------------------------------------------------------------------
    def fixture(self, case: str, set_name: str = "visible") -> dict[str, np.ndarray]:
        """One fixture case: inputs and reference outputs built from `reference/`."""
        cases = self.fixtures(set_name)
        if case not in cases:
            raise KeyError(f"fixture case {case!r} missing from the {set_name} set "
                           f"(run `make fixtures`)")
        return cases[case]

    def constant(self, module: str, name: str) -> Any:
        """A top-level literal (e.g. `HYPERPARAMS = {...}`) of a submitted module, parsed with
        `ast.literal_eval` in the trusted process: nothing of the student's runs here."""
        self._guard(f"{module}.{name}")
        source = self.sources.get(module)
        if source is None:
            raise CheckFailed(f"{module}.py was not submitted")
        value = None
        for node in ast.parse(source).body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) and node.value else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    raise CheckFailed(f"{module}.{name} must be a plain literal (numbers, "
                                      f"strings, dicts), not computed at import time") from None
        if value is None:
            raise CheckFailed(f"{module}.py does not define {name} at top level")
        return value

    @property
    def settings(self) -> dict[str, Any]:
        return self.assignment.settings

    def remaining(self) -> float:
        """Seconds left of the submission's time budget (inf without one): a test that
        chooses how much work to do (e.g. training epochs) can size it by this."""
        return float("inf") if self.budget is None else self.budget.remaining()

    # -- calls into student code (all through the sandbox) -------------------------------
    def _guard(self, target: str) -> None:
        module = target.split(".", 1)[0]
        if module in self.static_errors:
            raise self.static_errors[module]

    def call(self, target: str, *args: Any, keep: tuple[int, ...] = (),
             timeout: float | None = None, **kwargs: Any) -> Any:
        self._guard(target)
        return self.worker.call(target, args, kwargs, keep=keep, timeout=timeout)

    def new(self, target: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Handle:
        self._guard(target)
        return self.worker.new(target, args, kwargs, timeout=timeout)

    def method(self, handle: Handle, name: str, *args: Any, keep: tuple[int, ...] = (),
               timeout: float | None = None, **kwargs: Any) -> Any:
        return self.worker.call_method(handle, name, args, kwargs, keep=keep, timeout=timeout)
