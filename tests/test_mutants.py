"""Mutation analysis (grader/mutants/, issue #16) on softmax with a few mutants: the generic
operators stay inside the solution regions; through the batch machinery, a known bug is
killed by the one test of its function, a rewrite that changes nothing is classed
equivalent on random inputs (not merely surviving), and a suite weakened in a temporary copy
(test 3.2 removed) scores lower and lists the mutants that now survive. The mutants are
our own reference, graded in the plain sandbox on purpose."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from grader import bugs
from grader.declaration import ROOT
from grader.mutants import catalog, operators, report
from grader.mutants import run as mrun
from grader.mutants.equivalence import EQUIVALENT

NAME, FILE = "softmax", "softmax.py"
PREDICT = "Softmax.predict"
ARGMIN = bugs.table(NAME).find("argmin")
SAME = bugs.Bug("argmax-last-axis", "predict's argmax over axis -1 (the same axis)", (PREDICT,),
                ((FILE, "return np.argmax(X @ self.W, axis=1)",
                  "return np.argmax(X @ self.W, axis=-1)"),))
WEAK_FN = '''
import importlib.util

import grader.runner
from grader.framework import specs_of
from grader.mutants.child import grade_mutant


def grade(assignment, submission, **kwargs):
    """grade_mutant with the suite's tests taken from a weakened copy of tests.py."""
    spec = importlib.util.spec_from_file_location("weak_tests", {path!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grader.runner.collect = lambda name: specs_of(module)
    return grade_mutant(assignment, submission, **kwargs)
'''


def test_generic_mutants_change_only_solution_regions():
    source = (ROOT / "reference" / NAME / FILE).read_text()
    found = operators.mutations(FILE, source)
    region = operators.solution_lines(source)
    assert {m.operator for m in found} >= {"arith", "compare", "constant", "axis", "negate"}
    assert all(m.line in region and m.end_line in region for m in found)
    assert {m.function for m in found} == {"softmax_loss_naive", "softmax_loss_vectorized",
                                           "Softmax.train", "Softmax.predict"}
    axis = next(m for m in found if m.function == PREDICT and m.operator == "axis")
    assert "np.argmax(X @ self.W, axis=0)" in axis.apply(source)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The three mutants on the real suite, then on a copy without test 3.2."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADEKIT_ALLOW_PLAIN", "1")
    tmp = tmp_path_factory.mktemp("mutants")
    mutants = [catalog.from_bug(NAME, b) for b in (ARGMIN, SAME)]
    try:
        full, _, _ = mrun.run(NAME, mutants, tmp / "full", jobs=2, sandbox="plain", seeds=3,
                           progress=False)
        tests = (ROOT / "grader" / "suites" / NAME / "tests.py").read_text()
        weak = tmp / "weak_tests.py"
        weak.write_text(bugs.apply_edit(tests, '@test("3.2", 5, "Softmax.predict")\n', "",
                                        "tests.py"))
        (tmp / "weak.py").write_text(WEAK_FN.format(path=str(weak)))
        weakened, _, _ = mrun.run(NAME, mutants, tmp / "weak", jobs=2, sandbox="plain", seeds=3,
                               progress=False, grade_fn=f"{tmp / 'weak.py'}:grade")
    finally:
        mp.undo()
    return {r.mutant.id: r for r in full}, {r.mutant.id: r for r in weakened}, tmp


def test_a_known_bug_is_killed_by_its_function_test(graded):
    full, _, _ = graded
    assert full["argmin"].status == mrun.KILLED
    assert full["argmin"].killers == ("3.2",)


def test_a_rewrite_that_changes_nothing_is_classed_equivalent(graded):
    full, _, _ = graded
    assert full[SAME.id].status == EQUIVALENT, full[SAME.id].detail
    assert report.score(list(full.values())) == report.Score(1, 0, 1, 0)


def test_a_weakened_suite_scores_lower_and_lists_the_new_survivors(graded):
    full, weak, tmp = graded
    assert weak["argmin"].status == mrun.SURVIVED and not weak["argmin"].scores
    assert weak[SAME.id].status == EQUIVALENT
    before, after = report.score(list(full.values())), report.score(list(weak.values()))
    assert after.percent < before.percent
    page, table = report.write(tmp / "weak", NAME, list(weak.values()),
                               catalog.reference_files(NAME), [])
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert [(r["mutant"], r["status"]) for r in rows if r["status"] == mrun.SURVIVED] \
        == [("argmin", mrun.SURVIVED)]
    html = page.read_text()
    assert "+        return np.argmin(X @ self.W, axis=1)" in html
    assert "3.2 Softmax.predict" in html       # the test that should have caught it


def test_a_test_the_reference_once_failed_kills_nothing():
    """The baseline is the reference's lowest score over the runs that selected all of a
    test's tags: a speed test that failed in one reference run cannot kill; a gated test
    that scored 0 only where its co-tags were not selected keeps its full baseline."""
    def run_of(tags, *tests):
        return tuple(tags), {"tests": [{"number": n, "tags": list(t), "score": s,
                                        "max_score": 3.0} for n, t, s in tests]}
    runs = [run_of(["f"], ("5.3", ["f"], 3.0), ("12.6", ["f", "g"], 0.0)),
            run_of(["f", "g"], ("5.3", ["f"], 0.0), ("12.6", ["f", "g"], 3.0)),
            run_of(["f", "g"], ("5.3", ["f"], 3.0), ("12.6", ["f", "g"], 3.0))]
    baseline = mrun.reference_scores(runs)
    assert baseline[("f",)] == {"5.3": 0.0, "12.6": 0.0}
    assert baseline[("f", "g")] == {"5.3": 0.0, "12.6": 3.0}
    assert mrun.shaky(runs) == ["5.3"]
