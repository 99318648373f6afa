"""Grade one submission: copy its files into a fresh folder, run the suite, write results.

The trusted side: student code is only ever reached through `grader.sandbox`. A missing,
unimportable or forbidden file fails only the tests that call into it; a crash, hang or
attack fails the test that was running. Hidden tests run first in one fresh worker, visible
tests then in another that never saw a hidden input (`grader.framework` documents the order),
all within one total time budget (`Limits.submission_seconds`): a call still running when
the budget runs out is cut, the tests not reached fail with a message naming the budget.
Grading always completes and the results file is rewritten atomically after every test, in
test-number order, so a global timeout still leaves valid partial results. Everything the
student controls reaches results and terminals only through `grader.safetext`.
"""
from __future__ import annotations

import ast
import contextlib
import difflib
import importlib.util
import shutil
import sys
import tempfile
import textwrap
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from grader import build_id as builds
from grader import expected_values
from grader import results as res
from grader import safetext
from grader.declaration import Assignment, given_path, load
from grader.framework import (PHASES, Budget, BudgetedWorker, CheckFailed, Context, TestSpec,
                              collect)
from grader.sandbox import StudentError, Worker

REPORT_MAX_BYTES = 256 * 1024
TEST_OUTPUT_MAX = 2_000          # characters of captured student output shown per test
TERMINAL_MAX = 200_000           # characters of a terminal summary (every test's first line)
TRACEBACK_MAX = 20_000           # characters of a grader-error traceback on stderr
SKIP_DIRS = {"__MACOSX", "__pycache__", ".git"}


# -- staging: the submission's graded files in a fresh folder -------------------------------
def candidates(submission: Path, filename: str) -> list[Path]:
    """Every copy of `filename` in the submission (regular files, outside SKIP_DIRS),
    shallowest first: the one at the top, if any, leads."""
    matches = [p for p in submission.rglob(filename)
               if p.is_file() and not p.is_symlink()
               and not SKIP_DIRS.intersection(p.relative_to(submission).parts)]
    return sorted(matches, key=lambda p: (len(p.relative_to(submission).parts), str(p)))


def ambiguous_copies(submission: Path, filename: str) -> list[Path]:
    """The copies of `filename` the grader would have to choose between: none at the top of
    the submission and more than one distinct content below it. Empty when the choice is
    clear (one copy, identical copies, or one at the top, which always wins)."""
    found = candidates(submission, filename)
    if len(found) < 2 or found[0] == submission / filename:
        return []
    contents = {p.read_bytes() for p in found}
    return found if len(contents) > 1 else []


def _other_copies(submission: Path, filename: str, used: Path) -> str:
    """A note naming the other different copies of `filename` when the choice was not clear
    (graded one by one, e.g. on Gradescope, there is no TA row to flag)."""
    others = [p for p in ambiguous_copies(submission, filename) if p != used]
    if not others:
        return ""
    shown = ", ".join(safetext.md_inline(p.relative_to(submission)) for p in others[:3])
    return (f"; **other copies**: {shown}{' …' if len(others) > 3 else ''}: only this one "
            f"was graded; submit the right copy alone, at the top of your submission")


def find_file(submission: Path, filename: str) -> Path | None:
    """`filename` at the top of the submission, else the shallowest match below it (a batch
    flags a submission with `ambiguous_copies` before it gets here)."""
    found = candidates(submission, filename)
    return found[0] if found else None


def forbidden_imports(source: str, forbidden: tuple[str, ...]) -> list[str]:
    """Forbidden top-level packages a module imports (statically, never executing it)."""
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            fn = node.func
            fname = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            if fname in ("__import__", "import_module"):
                names = [node.args[0].value]
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in forbidden)
    return sorted(found)


class StaticError(StudentError):
    """A file problem found before any code ran (missing, does not parse, forbidden import).
    Its message is built from the submitted files alone, never from a run, so even a hidden
    test may show it."""


def read_source(raw: bytes) -> str:
    """Source bytes decoded the way Python's import does: a UTF-8 BOM or a PEP 263 coding
    declaration decides the encoding (default UTF-8), newlines become LF. Raises SyntaxError
    (bad declaration), LookupError (a codec that is not a text encoding) or
    UnicodeDecodeError exactly where the import would fail."""
    return importlib.util.decode_source(raw)


NAME_SCAN_MAX = 2_000            # file names of one submission compared with a missing one


def close_name(submission: Path, filename: str) -> str | None:
    """The submitted file whose name is closest to a missing `filename` ("Softmax.py",
    "softmax (1).py"), as a path relative to the submission, or None (difflib, case
    ignored; at most NAME_SCAN_MAX files looked at)."""
    names: dict[str, str] = {}
    for i, path in enumerate(submission.rglob("*")):
        if i >= NAME_SCAN_MAX:
            break
        rel = path.relative_to(submission)
        if path.is_file() and not SKIP_DIRS.intersection(rel.parts):
            names.setdefault(path.name.lower(), rel.as_posix())
    found = difflib.get_close_matches(filename.lower(), list(names), n=1, cutoff=0.6)
    return names[found[0]] if found else None


def missing_message(filename: str, guess: str | None) -> str:
    """What a student reads about a graded file the grader did not find."""
    if guess is None:
        return f"{filename} was not submitted"
    return (f"{filename} is missing — did you mean {safetext.one_line(guess)}? The grader "
            f"looks for exactly {filename}: rename the file and submit again.")


def prepare(decl: Assignment, submission: Path, workdir: Path) -> tuple[dict[str, StudentError], list[str]]:
    """Copy graded files (from the submission) and given helpers (ours, never the student's)
    into `workdir`; return static errors per module and intake notes for the output."""
    workdir.mkdir(parents=True)
    errors: dict[str, StudentError] = {}
    notes = []
    for filename in decl.graded:
        module = Path(filename).stem
        src = find_file(submission, filename)
        if src is None:
            guess = close_name(submission, filename)
            errors[module] = StaticError("missing", missing_message(filename, guess))
            notes.append(f"- `{filename}`: **missing**" + (
                f" (did you mean {safetext.md_inline(guess)}?)" if guess else ""))
            continue
        raw = src.read_bytes()
        try:
            source = read_source(raw)
            bad = forbidden_imports(source, decl.forbidden_imports)
        except (UnicodeDecodeError, SyntaxError, ValueError, LookupError, RecursionError,
                MemoryError) as exc:
            # Whatever Python's own import would refuse (a codec that is not a text encoding,
            # nesting too deep to compile) is the student's file, never a grader error.
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            why = safetext.one_line(getattr(exc, "msg", None) or getattr(exc, "reason", exc))
            errors[module] = StaticError(
                "import", f"{filename} cannot be imported: {type(exc).__name__}{where}: {why}")
            notes.append(f"- `{filename}`: does not parse{where}")
            continue
        if bad:
            errors[module] = StaticError(
                "forbidden", f"{filename} imports {', '.join(bad)}, which this assignment "
                             f"forbids (numpy only)")
            notes.append(f"- `{filename}`: imports forbidden package(s) {', '.join(bad)}")
            continue
        (workdir / filename).write_bytes(raw)
        rel = src.relative_to(submission)
        notes.append(f"- `{filename}`: found" + ("" if rel == Path(filename)
                                                 else f" at {safetext.md_inline(rel)}")
                     + _other_copies(submission, filename, src))
    for filename in decl.given:
        shutil.copyfile(given_path("assignments", decl.name, filename), workdir / filename)
    for p in [workdir, *workdir.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return errors, notes


def read_report(decl: Assignment, submission: Path) -> tuple[str | None, str]:
    """The submitted report as text (UTF-8, a BOM dropped, at most REPORT_MAX_BYTES; bad
    bytes replaced) and its intake note."""
    if not decl.report:
        return None, ""
    src = find_file(submission, decl.report)
    if src is None:
        return None, f"- `{decl.report}`: **missing**"
    with open(src, "rb") as fh:
        raw = fh.read(REPORT_MAX_BYTES)
    return raw.decode("utf-8-sig", errors="replace"), f"- `{decl.report}`: found"


def read_sources(decl: Assignment, workdir: Path) -> dict[str, str]:
    """Graded modules' source text (for `ctx.constant`), decoded as Python would."""
    return {p.stem: read_source(p.read_bytes()) for p in workdir.glob("*.py")
            if p.name in decl.graded}


Prepared = tuple[Path, dict[str, StudentError], list[str], "str | None"]


@contextlib.contextmanager
def _prepared(decl: Assignment, submission: Path) -> Iterator[Prepared]:
    """A fresh work folder with the submission's graded files: (workdir, static errors,
    intake notes, report text)."""
    with tempfile.TemporaryDirectory(prefix="gradekit-") as tmp:
        workdir = Path(tmp) / "work"
        static_errors, notes = prepare(decl, submission, workdir)
        report_text, report_note = read_report(decl, submission)
        yield workdir, static_errors, notes + ([report_note] if report_note else []), report_text


@contextlib.contextmanager
def open_submission(assignment: str, submission: Path, sandbox_mode: str = "auto"
                    ) -> Iterator[tuple[Context, list[str]]]:
    """A test Context on a submission's files in a fresh sandboxed worker, plus the intake
    notes: how calibration reaches a submission's code (grading uses one worker per phase)."""
    decl = load(assignment)
    with _prepared(decl, Path(submission)) as (workdir, static_errors, notes, report_text):
        with Worker(workdir, decl.limits, mode=sandbox_mode,
                    forbidden_imports=decl.forbidden_imports) as worker:
            ctx = Context(decl, worker, lambda s: expected_values.load(assignment, s),
                          static_errors, report_text, read_sources(decl, workdir))
            yield ctx, notes


# -- running tests ---------------------------------------------------------------------------
# What a hidden test says when student code failed: the kind only. The worker's own message
# is student-controlled (exception text, or anything a tampered worker sends) and could carry
# the hidden inputs out, so none of it is shown for a hidden test.
HIDDEN_FAILURES = {
    "not_implemented": "A function this test calls is not implemented.",
    "timeout": "Your code did not finish in time on this test's inputs.",
    "memory": "Your code ran out of memory on this test's inputs.",
    "crash": "The worker process running your code died during this test.",
    "missing": "A file this test needs was not submitted (see the Files section).",
    "import": "A file this test needs could not be imported (see the Files section).",
    "forbidden": "A file this test needs imports a forbidden package (see the Files section).",
    "tamper": "Your code interfered with the sandbox's own processes during this test.",
}
HIDDEN_DEFAULT = "Your code failed on this test's inputs (details are not shown for hidden tests)."


def _student_error_lines(exc: StudentError, reveal: bool, budget: Budget | None) -> list[str]:
    """Feedback lines for a failure of student code; nothing the student wrote when hidden."""
    if budget is not None and budget.exhausted and exc.kind == "timeout":
        return [f"Stopped: {budget.message()}."]
    if not reveal and not isinstance(exc, StaticError):
        return [HIDDEN_FAILURES.get(exc.kind, HIDDEN_DEFAULT)]
    lines = [safetext.md_inline(exc.message, limit=len(exc.message) + 1)]
    if exc.detail and reveal:
        lines.append(safetext.md_fence(exc.detail))
    return lines


def _printed_lines(captured: str, reveal: bool) -> list[str]:
    """What the student's code printed during a visible test (never for a hidden one)."""
    if not (reveal and captured.strip()):
        return []
    return ["Your code printed:\n" + safetext.md_fence(captured, limit=TEST_OUTPUT_MAX)]


def run_test(spec: TestSpec, ctx: Context, flags: set[str]) -> dict[str, Any]:
    """Run one test; every failure mode becomes a failed test with a message."""
    ctx.score, ctx.notes, ctx.test = None, [], spec
    lines: list[str] = []
    failed = False
    reveal = spec.visibility == "visible"
    try:
        spec.func(ctx)
    except CheckFailed as exc:
        failed = True
        lines.append(safetext.clean(exc))
    except StudentError as exc:
        failed = True
        ctx.score = None
        flags.add(exc.kind)
        lines.extend(_student_error_lines(exc, reveal, ctx.budget))
    except Exception as exc:  # a bug on our side must not cost the batch or the results file
        failed = True
        ctx.score = None
        flags.add(res.GRADER_ERROR)
        lines.append("Internal grader error (not caused by your code; course staff have the "
                     f"details): {type(exc).__name__}")
        print(f"[gradekit] grader error in test {spec.number} {spec.name}:\n"
              + safetext.terminal(traceback.format_exc(), limit=TRACEBACK_MAX), file=sys.stderr)
    if ctx.budget is not None and ctx.budget.exhausted:
        flags.add(res.BUDGET)
    score = spec.weight if (ctx.score is None and not failed) else (ctx.score or 0.0)
    score = min(max(score, 0.0), spec.weight)
    lines.extend(safetext.clean(n) for n in ctx.notes)
    lines.extend(_printed_lines(ctx.worker.take_output() if ctx.worker is not None else "",
                                reveal))
    status = res.PASSED if (not failed and score >= spec.weight - 1e-9) else res.FAILED
    if status == res.PASSED and not lines:
        lines.append("Passed.")
    return res.test_result(name=spec.name, number=spec.number, score=score,
                           max_score=spec.weight, status=status, tags=spec.tags,
                           visibility=spec.visibility, output="\n\n".join(lines))


def _skipped(spec: TestSpec, why: str) -> dict[str, Any]:
    return res.test_result(name=spec.name, number=spec.number, score=0.0,
                           max_score=spec.weight, status=res.FAILED, tags=spec.tags,
                           visibility=spec.visibility, output=why)


def phase_of(spec: TestSpec) -> str:
    """"hidden" for every test that uses inputs the student never sees, else "visible"."""
    return "hidden" if spec.uses_hidden_inputs else "visible"


def plan(specs: list[TestSpec]) -> list[tuple[str, list[TestSpec]]]:
    """The phases of a run, in order, each with its tests in number order (empty ones out)."""
    return [(phase, [s for s in specs if phase_of(s) == phase]) for phase in PHASES
            if any(phase_of(s) == phase for s in specs)]


@dataclass
class _Run:
    """One grading run's state: what the results file is rebuilt from after every test."""
    assignment: str
    specs: list[TestSpec]
    budget: Budget
    visible_only: bool
    results_path: Path | None
    flags: set[str] = field(default_factory=set)
    done: dict[str, dict[str, Any]] = field(default_factory=dict)    # number -> result
    header: list[str] = field(default_factory=list)
    sandbox: str = "not started"
    limits: str = ""                 # how memory and processes are bounded (the worker's note)
    import_output: str | None = None
    import_failed: set[str] = field(default_factory=set)
    build_id: str | None = None
    test_seconds: dict[str, float] = field(default_factory=dict)     # number -> wall seconds
    setup_seconds: dict[str, float] = field(default_factory=dict)    # phase -> worker start

    def snapshot(self, final: bool = False) -> dict[str, Any]:
        """The results so far, in test-number order, written atomically when asked; synced
        to disk only when `final` (one fsync per test cost a loaded disk ~10 ms each), and
        indented only when `final` (the rewrites in between are compact: cheaper to encode)."""
        record = res.Gradekit(assignment=self.assignment, status=res.GRADED,
                              sandbox=self.sandbox, limits=self.limits,
                              flags=tuple(sorted(self.flags)), visible_only=self.visible_only,
                              max_score=res.points(sum(s.weight for s in self.specs)),
                              time_budget=self.budget.seconds, build_id=self.build_id,
                              test_seconds={n: round(t, 3) for n, t in self.test_seconds.items()},
                              setup_seconds={p: round(t, 3)
                                             for p, t in self.setup_seconds.items()})
        tests = [self.done[s.number] for s in self.specs if s.number in self.done]
        header = self.header + ([] if not self.import_output else [
            "\nOutput while importing your files:\n"
            + safetext.md_fence(self.import_output, limit=TEST_OUTPUT_MAX)])
        data = res.build(tests, execution_time=time.monotonic() - self.budget.start,
                         output="\n".join(header), extra=record)
        if self.results_path is not None:
            res.write_atomic(self.results_path, data, durable=final, compact=not final)
        return data


def _not_reached(spec: TestSpec, budget: Budget) -> dict[str, Any]:
    budget.exhausted = True
    return _skipped(spec, f"Not run: {budget.message()} before this test was reached. "
                          f"Make slow functions faster (vectorize; no infinite loops).")


def _load_modules(run: _Run, decl: Assignment, ctx: Context) -> None:
    """Import every graded module once per worker; an import failure fails only the tests
    that need that module (and is reported once in the header)."""
    for module in (Path(f).stem for f in decl.graded):
        if module in ctx.static_errors:
            continue
        try:
            ctx.worker.load(module)
        except StudentError as exc:
            ctx.static_errors[module] = exc
            run.flags.add(exc.kind)
            if module not in run.import_failed:
                run.import_failed.add(module)
                run.header.append(f"- **import failed**: "
                                  f"{safetext.md_inline(exc.message, limit=len(exc.message) + 1)}")


def _run_phase(run: _Run, ctx: Context, specs: list[TestSpec],
               on_test: Callable[[dict[str, Any]], None] | None, started: float) -> None:
    """Run one phase's tests in number order on `ctx` (whose worker is fresh and was asked
    for at `started`, time.monotonic())."""
    decl = ctx.assignment
    _load_modules(run, decl, ctx)
    printed = ctx.worker.take_output()          # import time: before any test input was sent
    if run.import_output is None:
        run.import_output = printed
    run.setup_seconds[ctx.phase] = time.monotonic() - started
    run.snapshot()
    for spec in specs:
        if ctx.budget is not None and ctx.budget.remaining() <= 0:
            result = _not_reached(spec, ctx.budget)
            run.flags.add(res.BUDGET)
        else:
            t0 = time.monotonic()
            result = run_test(spec, ctx, run.flags)
            run.test_seconds[spec.number] = time.monotonic() - t0
        run.done[spec.number] = result
        if on_test:
            on_test(result)
        run.snapshot()
    ctx.worker.take_output()                    # whatever is left is never shown


def grade_submission(assignment: str, submission: Path, *, results_path: Path | None = None,
                     time_budget: float | None = None, visible_only: bool = False,
                     sandbox_mode: str = "auto",
                     on_test: Callable[[dict[str, Any]], None] | None = None,
                     only_tags: frozenset[str] | None = None) -> dict[str, Any]:
    """Grade a submission folder; return (and write, if asked) the Gradescope results.

    Hidden tests run first in one fresh worker, then visible tests in another (see
    `grader.framework`); all of it within `time_budget` seconds (default: the declaration's
    `Limits.submission_seconds`). `visible_only` is the student self-check: hidden fixtures
    are not needed (nor shipped). `only_tags` (staff tools: mutation analysis) runs only the
    tests carrying one of those tags.
    """
    decl = load(assignment)
    budget = Budget(decl.limits.submission_seconds if time_budget is None else float(time_budget))
    specs = [s for s in collect(assignment) if not (visible_only and s.visibility != "visible")
             and (only_tags is None or only_tags & set(s.tags))]
    run = _Run(assignment, specs, budget, visible_only, results_path,
               build_id=_build_id(assignment))
    shared: dict[str, Any] = {}
    with _prepared(decl, Path(submission)) as (workdir, static_errors, notes, report_text):
        sources = read_sources(decl, workdir)
        for phase, phase_specs in plan(specs):
            if budget.remaining() <= 0:
                for spec in phase_specs:
                    run.done[spec.number] = _not_reached(spec, budget)
                run.flags.add(res.BUDGET)
                continue
            started = time.monotonic()
            with Worker(workdir, decl.limits, mode=sandbox_mode,
                        forbidden_imports=decl.forbidden_imports) as worker:
                if not run.header:
                    run.sandbox, run.limits = worker.mode, worker.limits_note
                    run.header += [worker.isolation_note, "", "Files:", *notes]
                ctx = Context(decl, BudgetedWorker(worker, budget),
                              lambda s: expected_values.load(assignment, s), dict(static_errors),
                              report_text, sources, shared=shared, phase=phase, budget=budget,
                              self_check=visible_only)
                _run_phase(run, ctx, phase_specs, on_test, started)
    return run.snapshot(final=True)


def warm_up(assignment: str, sandbox_mode: str = "auto") -> None:
    """Pay now what every grading of `assignment` pays before its first test, for a process
    that forks one child per submission (`grader.forkserver`): the suite's imports, its
    expected values and datasets (each cached per process, read-only afterwards) and the
    sandbox probe (cached per process; a mode that is not usable is left for each grading to
    report). Grades nothing and starts no lasting thread: the children start from a state no
    submission has touched."""
    import hwdata
    from grader.sandbox import isolation

    decl = load(assignment)
    collect(assignment)
    for set_name in expected_values.SEEDS:
        if expected_values.available(assignment, set_name):
            expected_values.load(assignment, set_name)
    for name in decl.datasets:
        try:
            hwdata.load(name)
        except hwdata.DatasetError:
            pass                         # the grading that needs it says what is wrong
    try:
        isolation.choose(sandbox_mode)
    except (isolation.SandboxUnavailable, ValueError):
        pass


def _build_id(assignment: str) -> str | None:
    """The build id, or None (said on stderr) when it cannot be computed: grading goes on."""
    try:
        return builds.build_id(assignment)
    except (Exception, SystemExit) as exc:   # e.g. a data file missing, an unregistered suite
        print(f"[gradekit] no build id: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


SUMMARY_INDENT = 15             # where a failed test's message starts under its line
SUMMARY_MIN_WIDTH = 60


def wrapped(text: str, width: int, indent: int = SUMMARY_INDENT) -> str:
    """A whole test message for a terminal: every paragraph line wrapped to `width` under an
    `indent`; lines inside a ``` fence (what the student's code printed) kept as they are."""
    pad, out, fence = " " * indent, [], ""
    for line in text.splitlines():
        bare = line.strip()
        if fence or bare.startswith("```") or not bare:
            if fence and bare.startswith(fence) and not bare.strip("`"):
                fence = ""                      # the closing fence (as long as the opening)
            elif not fence and bare.startswith("```"):
                fence = bare[:len(bare) - len(bare.lstrip("`"))]
            out.append(pad + line if bare else "")
            continue
        out.extend(textwrap.wrap(line, max(width, SUMMARY_MIN_WIDTH), initial_indent=pad,
                                 subsequent_indent=pad, break_on_hyphens=False))
    return "\n".join(out)


def summary(data: dict[str, Any], width: int | None = None) -> str:
    """A terminal summary of one results object: one line per test, and under each failed
    test its whole message wrapped to `width` (default: the terminal's); student text made
    terminal-safe."""
    record = res.gradekit_of(data)
    width = width or shutil.get_terminal_size((100, 24)).columns
    lines = []
    for t in data["tests"]:
        mark = "PASS" if t["status"] == res.PASSED else "FAIL"
        lines.append(f"  {mark} {t['number']:>5} {t['score']:6.2f}/{t['max_score']:<6.2f} "
                     f"{t['name']}")
        if mark == "FAIL" and t["output"]:
            lines.append(wrapped(safetext.clean(t["output"], limit=TERMINAL_MAX), width))
    lines.append(f"  total: {data['score']:.2f}/{record.max_score or 0.0:.2f}   "
                 f"({data['execution_time']:.1f} s, sandbox: {record.sandbox})")
    return safetext.terminal("\n".join(lines), limit=TERMINAL_MAX)
