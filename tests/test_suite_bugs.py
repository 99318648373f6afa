"""Every assignment's bug table (grader/suites/<name>/bugs.py), row by row: each realistic bug
(a small edit of a copy of the reference) loses points on a test tagged with each function it
bugs, and each correct-but-different variant keeps full marks.

A suite whose table is `Quick` (convnet: a whole grading takes minutes) runs only the tests
a row concerns, in one unisolated worker; the others are graded whole, isolated. The bugs the
demo class plays are graded by tests/test_demo.py (in their band, losing points on every tag
they name), not a second time here. The checks every suite shares (reference 100, stubs 0,
fresh expected values, calibration) are in tests/test_suites.py.
"""
from __future__ import annotations

import pytest

from grader import bugs
from grader.declaration import NAMES, ROOT, load
from grader.framework import collect
from suite_support import grade_only, grade_whole, table_copy


def in_demo(table: bugs.Table) -> set[str]:
    """The bug and variant ids the demo class plays."""
    return {s.plays for s in (table.demo.students if table.demo else ())
            if isinstance(s, bugs.Student) and s.plays}


def rows(kind: str) -> list:
    """(assignment, bug or variant) of every table, less what the demo plays."""
    params = []
    for name in NAMES:
        table = bugs.table(name)
        for item in getattr(table, kind):
            if item.id not in in_demo(table):
                params.append(pytest.param(name, item, id=f"{name}-{item.id}"))
    return params


@pytest.fixture
def quick(monkeypatch):
    """The table's `Quick` settings, None to grade whole; a quick run is unisolated on
    purpose (our own reference copies)."""
    def of(name: str) -> bugs.Quick | None:
        found = bugs.table(name).quick
        if found:
            monkeypatch.setenv("GRADEKIT_ALLOW_PLAIN", "1")
        return found
    return of


@pytest.mark.parametrize("name, bug", rows("bugs"))
def test_bug_loses_points_on_a_test_tagged_with_the_bugged_function(name, bug, tmp_path, quick):
    sub = table_copy(name, bug, tmp_path / "submission")
    how = quick(name)
    if how:
        results = grade_only(name, sub, [s for s in collect(name) if set(bug.loses) & set(s.tags)
                                         and s.number not in how.skip])
    else:
        data = grade_whole(name, sub)
        assert data["score"] < 100.0
        results = data["tests"]
    lost = [t for t in results if t["score"] < t["max_score"]]
    assert set(bug.loses) <= {tag for t in lost for tag in t["tags"]}, \
        [(t["number"], t["tags"]) for t in lost]


@pytest.mark.parametrize("name, variant", rows("variants"))
def test_correct_but_different_scores_full_marks(name, variant, tmp_path, quick):
    sub = table_copy(name, variant, tmp_path / "submission")
    how = quick(name)
    if how:
        results = grade_only(name, sub, [s for s in collect(name) if s.number not in how.skip
                                         and s.number.split(".")[0] in how.variant_sections])
    else:
        data = grade_whole(name, sub)
        assert data["score"] == 100.0
        results = data["tests"]
    assert all(t["score"] == t["max_score"] for t in results), \
        [(t["number"], t["output"][:300]) for t in results if t["score"] < t["max_score"]]


# -- the tables themselves (no grading) ------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_every_row_applies_to_the_reference_and_names_tested_functions(name):
    """Every edit's old text is in the reference exactly once (a changed reference shows
    here, not as a silently unbugged copy), and every tag a bug names is a test's tag."""
    table = bugs.table(name)
    tags = {tag for s in collect(name) for tag in s.tags}
    for item in table.bugs + table.variants:
        bugs.edited_files(ROOT / "reference" / name, load(name).submitted, item.edits,
                          item.append, where=f"{name} {item.id}")
    assert {tag for b in table.bugs for tag in b.loses} <= tags


@pytest.mark.parametrize("name", NAMES)
def test_demo_students_come_from_the_table(name):
    """The demo plays bugs of the table with the tags they name, so tests/test_demo.py checks
    them as this module would; every demo student's files can be built."""
    from examples.build import student_files, students
    table = bugs.table(name)
    if table.demo is None:
        pytest.skip(f"{name} has no demo class")
    built = students(name)
    assert len({s.sid for s in built}) == len(built)
    for entry, student in zip(table.demo.students, built):
        item = table.find(entry.plays) if isinstance(entry, bugs.Student) and entry.plays else None
        if isinstance(item, bugs.Bug):
            assert student.loses == item.loses and student.intent == bugs.PARTIAL
        student_files(name, student)
