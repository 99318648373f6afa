"""Grade one submission: copy its files into a fresh folder, run the suite, write results.

The trusted side of SPEC §4–5: student code is only ever reached through `grader.sandbox`.
A missing, unimportable or forbidden file fails only the tests that call into it; a crash,
hang or attack fails the test that was running; grading always completes and the results
file is rewritten atomically after every test, so a global timeout still leaves valid
partial results (Gradescope best practice).
"""
from __future__ import annotations

import ast
import contextlib
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from grader import fixtures as fixture_store
from grader import results as res
from grader.declaration import Assignment, given_path, load
from grader.framework import CheckFailed, Context, TestSpec, collect
from grader.sandbox import StudentError, Worker

REPORT_MAX_BYTES = 256 * 1024
TEST_OUTPUT_MAX = 2_000          # characters of captured student output shown per test
SKIP_DIRS = {"__MACOSX", "__pycache__", ".git"}


# -- intake ---------------------------------------------------------------------------------
def find_file(submission: Path, filename: str) -> Path | None:
    """`filename` at the top of the submission, else the shallowest match below it."""
    direct = submission / filename
    if direct.is_file() and not direct.is_symlink():
        return direct
    matches = [p for p in submission.rglob(filename)
               if p.is_file() and not p.is_symlink()
               and not SKIP_DIRS.intersection(p.relative_to(submission).parts)]
    return min(matches, key=lambda p: (len(p.parts), str(p))) if matches else None


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
            errors[module] = StudentError("missing", f"{filename} was not submitted")
            notes.append(f"- `{filename}`: **missing**")
            continue
        raw = src.read_bytes()
        try:
            source = raw.decode("utf-8")
            bad = forbidden_imports(source, decl.forbidden_imports)
        except (UnicodeDecodeError, SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            errors[module] = StudentError(
                "import", f"{filename} cannot be imported: {type(exc).__name__}{where}: "
                          f"{getattr(exc, 'msg', exc)}")
            notes.append(f"- `{filename}`: does not parse{where}")
            continue
        if bad:
            errors[module] = StudentError(
                "forbidden", f"{filename} imports {', '.join(bad)}, which this assignment "
                             f"forbids (numpy only)")
            notes.append(f"- `{filename}`: imports forbidden package(s) {', '.join(bad)}")
            continue
        (workdir / filename).write_bytes(raw)
        rel = src.relative_to(submission)
        notes.append(f"- `{filename}`: found" + ("" if rel == Path(filename) else f" at `{rel}`"))
    for filename in decl.given:
        shutil.copyfile(given_path("assignments", decl.name, filename), workdir / filename)
    for p in [workdir, *workdir.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return errors, notes


def read_report(decl: Assignment, submission: Path) -> tuple[str | None, str]:
    if not decl.report:
        return None, ""
    src = find_file(submission, decl.report)
    if src is None:
        return None, f"- `{decl.report}`: **missing**"
    text = src.read_bytes()[:REPORT_MAX_BYTES].decode("utf-8", errors="replace")
    return text, f"- `{decl.report}`: found"


@contextlib.contextmanager
def open_submission(assignment: str, submission: Path, sandbox_mode: str = "auto"
                    ) -> Iterator[tuple[Context, list[str]]]:
    """A test Context on a submission's files in a fresh sandboxed worker, plus the intake
    notes. The one way the grader (and calibration) reaches a submission's code."""
    decl = load(assignment)
    submission = Path(submission)
    with tempfile.TemporaryDirectory(prefix="gradekit-") as tmp:
        workdir = Path(tmp) / "work"
        static_errors, notes = prepare(decl, submission, workdir)
        report_text, report_note = read_report(decl, submission)
        sources = {p.stem: p.read_text() for p in workdir.glob("*.py") if p.name in decl.graded}
        with Worker(workdir, decl.limits, mode=sandbox_mode,
                    forbidden_imports=decl.forbidden_imports) as worker:
            ctx = Context(decl, worker, lambda s: fixture_store.load(assignment, s),
                          static_errors, report_text, sources)
            yield ctx, notes + ([report_note] if report_note else [])


# -- running tests ---------------------------------------------------------------------------
def _fence(text: str) -> str:
    return "```\n" + text.replace("```", "`\u200b``") + "\n```"


def run_test(spec: TestSpec, ctx: Context, flags: set[str]) -> dict[str, Any]:
    """Run one test; every failure mode becomes a failed test with a message."""
    ctx.score, ctx.notes = None, []
    lines: list[str] = []
    failed = False
    reveal = spec.visibility == "visible"
    try:
        spec.func(ctx)
    except CheckFailed as exc:
        failed = True
        lines.append(str(exc))
    except StudentError as exc:
        failed = True
        ctx.score = None
        flags.add(exc.kind)
        lines.append(exc.message)
        if exc.detail and reveal:
            lines.append(_fence(exc.detail))
    except Exception as exc:  # a bug on our side must not cost the batch or the results file
        failed = True
        ctx.score = None
        flags.add("grader_error")
        lines.append("Internal grader error (not caused by your code; course staff have the "
                     f"details): {type(exc).__name__}")
        print(f"[gradekit] grader error in test {spec.number} {spec.name}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
    score = spec.weight if (ctx.score is None and not failed) else (ctx.score or 0.0)
    score = min(max(score, 0.0), spec.weight)
    lines.extend(ctx.notes)
    captured = ctx.worker.take_output() if ctx.worker is not None else ""
    if captured.strip() and reveal:
        if len(captured) > TEST_OUTPUT_MAX:
            captured = captured[:TEST_OUTPUT_MAX] + f"\n[… {len(captured) - TEST_OUTPUT_MAX} more characters]"
        lines.append("Your code printed:\n" + _fence(captured))
    status = "passed" if (not failed and score >= spec.weight - 1e-9) else "failed"
    if status == "passed" and not lines:
        lines.append("Passed.")
    return res.test_result(name=spec.name, number=spec.number, score=score,
                           max_score=spec.weight, status=status, tags=spec.tags,
                           visibility=spec.visibility, output="\n\n".join(lines))


def _skipped(spec: TestSpec, why: str) -> dict[str, Any]:
    return res.test_result(name=spec.name, number=spec.number, score=0.0,
                           max_score=spec.weight, status="failed", tags=spec.tags,
                           visibility=spec.visibility, output=why)


def grade_submission(assignment: str, submission: Path, *, results_path: Path | None = None,
                     time_budget: float | None = None, visible_only: bool = False,
                     sandbox_mode: str = "auto",
                     on_test: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Grade a submission folder; return (and write, if asked) the Gradescope results.

    `visible_only` is the student self-check: hidden fixtures are not needed (nor shipped).
    """
    start = time.monotonic()
    decl = load(assignment)
    budget = time_budget if time_budget is not None else decl.limits.submission_seconds
    specs = [s for s in collect(assignment) if not (visible_only and s.visibility != "visible")]
    submission = Path(submission)
    flags: set[str] = set()
    tests: list[dict[str, Any]] = []
    header: list[str] = []

    def snapshot(status: str = "graded") -> dict[str, Any]:
        extra = {"assignment": assignment, "status": status, "sandbox": sandbox_note[0],
                 "flags": sorted(flags), "max_score": res.points(sum(s.weight for s in specs)),
                 "visible_only": visible_only}
        data = res.build(tests, execution_time=time.monotonic() - start,
                         output="\n".join(header), extra=extra)
        if results_path is not None:
            res.write_atomic(results_path, data)
        return data

    sandbox_note = ["not started"]
    with open_submission(assignment, submission, sandbox_mode) as (ctx, notes):
        worker, static_errors = ctx.worker, ctx.static_errors
        sandbox_note[0] = worker.mode
        header += [worker.isolation_note, "", "Files:", *notes]
        for module in (Path(f).stem for f in decl.graded):
            if module in static_errors:
                continue
            try:
                worker.load(module)
            except StudentError as exc:   # import fails once, not once per test
                static_errors[module] = exc
                flags.add(exc.kind)
                header.append(f"- **import failed**: {exc.message}")
        import_output = worker.take_output()
        snapshot()
        for spec in specs:
            if time.monotonic() - start > budget:
                flags.add("budget")
                result = _skipped(spec, f"Not run: the submission used up its time budget "
                                        f"of {budget:.0f} s.")
            else:
                result = run_test(spec, ctx, flags)
            tests.append(result)
            if on_test:
                on_test(result)
            snapshot()
        if import_output.strip():
            header.append("\nOutput while importing your files (truncated):\n"
                          + _fence(import_output[:TEST_OUTPUT_MAX]))
    return snapshot()


def summary(data: dict[str, Any]) -> str:
    """A short terminal summary of one results object."""
    extra = data["extra_data"]["gradekit"]
    lines = []
    for t in data["tests"]:
        mark = "PASS" if t["status"] == "passed" else "FAIL"
        first = t["output"].splitlines()[0] if t["output"] else ""
        lines.append(f"  {mark} {t['number']:>5} {t['score']:6.2f}/{t['max_score']:<6.2f} "
                     f"{t['name']}" + ("" if mark == "PASS" else f"\n{'':15}{first[:150]}"))
    lines.append(f"  total: {data['score']:.2f}/{extra['max_score']:.2f}   "
                 f"({data['execution_time']:.1f} s, sandbox: {extra['sandbox']})")
    return "\n".join(lines)
