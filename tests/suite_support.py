"""Helpers shared by the suite tests (imported as `suite_support`; pytest puts tests/ on
sys.path): grading a copy of the reference with a bug or variant of its table, and the
no-grader-error assertion."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from grader import bugs
from grader.declaration import ROOT, load
from grader.framework import TestSpec
from grader.runner import grade_submission, open_submission, run_test


def assert_no_grader_error(data: dict) -> None:
    assert "grader_error" not in data["extra_data"]["gradekit"]["flags"]
    assert_no_internal_error(data["tests"])


def assert_no_internal_error(tests: list[dict]) -> None:
    for t in tests:
        assert "Internal grader error" not in t["output"], (t["number"], t["output"])


def table_copy(name: str, item: bugs.Bug | bugs.Variant, dest: Path) -> Path:
    """A copy of reference/<name>/'s submitted files with a bug's or variant's edits."""
    return bugs.edited_copy(ROOT / "reference" / name, load(name).submitted, dest, item.edits,
                            item.append)


def grade_whole(name: str, submission: Path) -> dict[str, Any]:
    """A whole grading in the default (isolated) sandbox, free of grader errors."""
    data = grade_submission(name, submission, sandbox_mode="auto")
    assert_no_grader_error(data)
    return data


def grade_only(name: str, submission: Path, specs: list[TestSpec]) -> list[dict[str, Any]]:
    """Only `specs`, in number order, in one unisolated worker (our own reference copies;
    the caller sets GRADEKIT_ALLOW_PLAIN): seconds where a whole grading takes minutes."""
    assert specs, "no test selected"
    flags: set[str] = set()
    with open_submission(name, submission, "plain") as (ctx, _):
        assert not ctx.static_errors, ctx.static_errors
        for module in (Path(f).stem for f in load(name).graded):
            ctx.worker.load(module)
        results = [run_test(s, ctx, flags) for s in specs]
    assert "grader_error" not in flags
    assert_no_internal_error(results)
    return results


# -- gaming submissions ------------------------------------------------------------------------
SANDBOX_MODES = ("bwrap", "uid")     # the OS-isolated modes a gaming test must hold in


def usable_mode(mode: str) -> str:
    """`mode` when this machine can run it, else skip the test with the sandbox's reason."""
    import pytest
    from grader.sandbox import SandboxUnavailable
    from grader.sandbox.isolation import choose
    try:
        choose(mode)
    except SandboxUnavailable as exc:
        pytest.skip(f"sandbox mode {mode} unavailable here: {exc}")
    return mode


def _definitions(source: str) -> dict[str, tuple[int, int, int]]:
    """qualname ("f" or "Cls.method") -> (first line incl. decorators, last line, indent)."""
    import ast
    found = {}

    def visit(node, prefix: str = "") -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                found[prefix + child.name] = (first, child.end_lineno, child.col_offset)
                if isinstance(child, ast.ClassDef):
                    visit(child, prefix + child.name + ".")
    visit(ast.parse(source))
    return found


def definition(source: str, qualname: str) -> str:
    """The source text of one function or method (dedented to column 0)."""
    import textwrap
    first, last, _ = _definitions(source)[qualname]
    return textwrap.dedent("\n".join(source.splitlines()[first - 1:last]))


def replace_definitions(source: str, replacements: dict[str, str]) -> str:
    """`source` with each named function or method replaced by new code (written at column 0;
    indented here to the definition's level), bottom-up so line numbers stay valid."""
    import textwrap
    lines = source.splitlines()
    spots = _definitions(source)
    for qualname in sorted(replacements, key=lambda q: -spots[q][0]):
        first, last, indent = spots[qualname]
        code = textwrap.indent(textwrap.dedent(replacements[qualname]).strip("\n"), " " * indent)
        lines[first - 1:last] = code.splitlines()
    return "\n".join(lines) + "\n"


def stubbed(name: str, filename: str, qualnames) -> str:
    """The reference's `filename` with the named functions as in the untouched stub: the
    honest baseline a gaming version of those functions is compared with."""
    from grader.declaration import ROOT
    stub = (ROOT / "assignments" / name / filename).read_text()
    ref = (ROOT / "reference" / name / filename).read_text()
    return replace_definitions(ref, {q: definition(stub, q) for q in qualnames})


def grade_files(name: str, files: dict[str, str], folder: Path, mode: str) -> dict:
    """Grade a submission made of `files` (name -> text; the reference fills the rest)."""
    from grader.declaration import ROOT, load
    folder.mkdir(parents=True)
    for filename in load(name).submitted:
        text = files.get(filename, (ROOT / "reference" / name / filename).read_text())
        (folder / filename).write_text(text)
    data = grade_submission(name, folder, sandbox_mode=mode)
    assert_no_grader_error(data)
    return data


def scores_by_test(data: dict) -> dict[str, float]:
    return {t["number"]: t["score"] for t in data["tests"]}


def assert_no_gain(got: dict, base: dict, label: str) -> None:
    """A gaming submission's results earn no more than its honest baseline's: not in total and
    not on any single test."""
    before = scores_by_test(base)
    gained = {n: s - before[n] for n, s in scores_by_test(got).items() if s > before[n] + 1e-9}
    assert got["score"] <= base["score"] + 1e-9 and not gained, (label, got["score"],
                                                                 base["score"], gained)
