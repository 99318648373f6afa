"""How a suite's tests are declared and what they get to work with.

A suite (`grader/suites/<name>/tests.py`) declares its tests as data: each is a plain function
`f(ctx)` marked with `@test(number, weight, *tags, visibility=...)`, or a row of a table
(`row(...)`, collected from the module's `TESTS` list) when many tests share one body. The
name shown to students is the function's first docstring line unless the row gives one. A test
fails by raising `CheckFailed` (a student-facing message) or through a `StudentError` from the
sandbox; it earns partial credit with `ctx.set_score(points)`, and `ctx.test` is its own
metadata (e.g. `ctx.test.weight`). The score lives on the per-run `Context`, never on the
function, so nothing of one run leaks into the next. gradekit uses nothing from
gradescope-utils: it writes Gradescope's results.json itself (`grader/results.py`).

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

from grader.declaration import Assignment
from grader.sandbox import Handle, StudentError, Worker

__all__ = ["test", "row", "CheckFailed", "Context", "TestSpec", "collect", "VISIBILITIES",
           "PHASES", "Budget", "BudgetedWorker"]

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


MARK = "__gradekit_test__"       # the attribute `test` leaves on a marked function


def _checked(spec: TestSpec) -> TestSpec:
    if spec.visibility not in VISIBILITIES:
        raise TypeError(f"test {spec.number}: unknown visibility {spec.visibility!r}")
    if not re.fullmatch(r"\d+(\.\d+)*", spec.number):
        raise TypeError(f"test {spec.number!r}: a number is dotted digits, e.g. '4.2'")
    if not spec.weight >= 0:
        raise TypeError(f"test {spec.number}: weight must be >= 0")
    return spec


def row(func: Callable[["Context"], None], number: str, weight: float, *tags: str,
        visibility: str = "visible", name: str | None = None) -> TestSpec:
    """One test as a table row: `func(ctx)` (often a `functools.partial` of a shared body),
    its number, weight, the graded functions it exercises (tags) and visibility."""
    label = name or (func.__doc__ or getattr(func, "__name__", "")).strip().splitlines()[0]
    return _checked(TestSpec(func, label.strip(), number, float(weight), visibility, tags))


def test(number: str, weight: float, *tags: str, visibility: str = "visible",
         name: str | None = None) -> Callable[[Callable[["Context"], None]],
                                              Callable[["Context"], None]]:
    """Mark `func(ctx)` as a graded test: one line carries every fact about it."""
    def mark(func: Callable[["Context"], None]) -> Callable[["Context"], None]:
        setattr(func, MARK, row(func, number, weight, *tags, visibility=visibility, name=name))
        return func
    return mark


def _number_key(num: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", num))


def specs_of(module: Any) -> list[TestSpec]:
    """The tests a suite module declares: marked functions and its `TESTS` rows, by number."""
    specs = [getattr(f, MARK) for f in vars(module).values() if hasattr(f, MARK)]
    specs += list(getattr(module, "TESTS", ()))
    specs.sort(key=lambda s: _number_key(s.number))
    numbers = [s.number for s in specs]
    dup = sorted({n for n in numbers if numbers.count(n) > 1})
    if dup:
        raise TypeError(f"{module.__name__}: duplicate test numbers {dup}")
    return specs


def collect(assignment: str) -> list[TestSpec]:
    """Every test of an assignment's suite, sorted by number; validates the metadata."""
    return specs_of(importlib.import_module(f"grader.suites.{assignment}.tests"))


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
    """What a running test may use: the sandboxed worker, expected values, data, the declaration."""
    assignment: Assignment
    worker: Worker | BudgetedWorker      # a BudgetedWorker while grading
    expected_sets: Callable[[str], dict[str, dict[str, np.ndarray]]]   # set name -> cases
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
    test: TestSpec | None = None         # the test now running (set by the runner)

    # -- results -----------------------------------------------------------------------
    def set_score(self, points: float) -> None:
        """Partial credit, in points (clipped to the test's weight by the runner)."""
        self.score = float(points)

    def note(self, text: str) -> None:
        """A line of feedback shown with the test whether it passes or fails."""
        self.notes.append(text)

    # -- inputs ------------------------------------------------------------------------
    def expected(self, case: str, set_name: str = "visible") -> dict[str, np.ndarray]:
        """One case of expected values: inputs and reference outputs built from `reference/`."""
        cases = self.expected_sets(set_name)
        if case not in cases:
            raise KeyError(f"expected-value case {case!r} missing from the {set_name} set "
                           f"(run `make expected`)")
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
