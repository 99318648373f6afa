"""`make grade`'s demo class: every student lands in the band its edits deserve.

The demo's bug students are the table bugs tests/test_suite_bugs.py leaves to this test: here
each must also lose points on every tag its bug names, without a grader error."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from examples.build import CLASS, build, layout
from examples.demo import check_intents
from grader.batch import grade_batch
from grader.report import write_index

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    intents = build(root / "class")
    # a class laid out as a Gradescope export is graded as one: the TA names it (`exports`)
    frames = {}
    for a in intents:
        folder = root / "class" / a
        export = layout(a) == "export"
        frames[a] = grade_batch(a, [] if export else [folder], root / "out" / a, jobs=2,
                                progress=False, exports=[folder] if export else [])
    write_index(root / "out", frames)
    return root, intents, frames


def test_every_demo_student_is_graded_within_its_intent(graded):
    root, intents, frames = graded
    assert list(intents) == list(CLASS)
    assert check_intents(intents, frames) == []
    for assignment in intents:
        csv = pd.read_csv(root / "out" / assignment / "grades.csv")
        assert sorted(csv["id"]) == sorted(intents[assignment]), assignment
        assert len(csv) == len(CLASS[assignment])
        assert (root / "out" / assignment / "report.html").stat().st_size > 10_000
    assert (root / "out" / "index.html").exists()


def test_bugged_students_lose_points_on_tests_tagged_with_the_bugged_function(graded):
    root, intents, _ = graded
    for assignment in intents:
        for sub_id, info in intents[assignment].items():
            if not info["loses"]:
                continue
            data = json.loads((root / "out" / assignment / sub_id / "results.json").read_text())
            assert "grader_error" not in data["extra_data"]["gradekit"].get("flags", ()), sub_id
            lost_tags = {tag for t in data["tests"] if t["score"] < t["max_score"]
                         for tag in t["tags"]}
            assert set(info["loses"]) <= lost_tags, (assignment, sub_id, lost_tags)


def test_export_metadata_gives_names_and_emails(graded):
    root, intents, _ = graded
    exports = [a for a in intents if layout(a) == "export"]
    assert exports
    for assignment in exports:
        csv = pd.read_csv(root / "out" / assignment / "gradebook.csv")
        ada = csv[csv["name"] == "Ada Lovelace"]
        assert list(ada["email"]) == ["ada@example.edu"] and float(ada["score"].iloc[0]) == 100.0
