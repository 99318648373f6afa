"""`make grade`'s demo class: every student lands in the band its edits deserve."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from examples.build import CLASS, build
from examples.demo import check_intents
from grader.batch import grade_batch
from grader.declaration import NAMES
from grader.report import write_index

pytestmark = pytest.mark.slow
EXPORTS = ("convnet",)      # assignments whose demo class is laid out as a Gradescope export


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    intents = build(root / "class")
    # convnet's demo class is a Gradescope export: the TA names it as one (`exports`)
    frames = {a: grade_batch(a, [] if a in EXPORTS else [root / "class" / a], root / "out" / a,
                             jobs=2, progress=False,
                             exports=[root / "class" / a] if a in EXPORTS else [])
              for a in NAMES}
    write_index(root / "out", frames)
    return root, intents, frames


def test_every_demo_student_is_graded_within_its_intent(graded):
    root, intents, frames = graded
    assert check_intents(intents, frames) == []
    for assignment in NAMES:
        csv = pd.read_csv(root / "out" / assignment / "grades.csv")
        assert sorted(csv["id"]) == sorted(intents[assignment]), assignment
        assert len(csv) == len(CLASS[assignment])
        assert (root / "out" / assignment / "report.html").stat().st_size > 10_000
    assert (root / "out" / "index.html").exists()


def test_bugged_students_lose_points_on_tests_tagged_with_the_bugged_function(graded):
    root, intents, _ = graded
    for assignment in NAMES:
        for sub_id, info in intents[assignment].items():
            if not info["loses"]:
                continue
            data = json.loads((root / "out" / assignment / sub_id / "results.json").read_text())
            lost_tags = {tag for t in data["tests"] if t["score"] < t["max_score"]
                         for tag in t["tags"]}
            assert set(info["loses"]) <= lost_tags, (assignment, sub_id, lost_tags)


def test_convnet_export_metadata_gives_names_and_emails(graded):
    root, intents, _ = graded
    csv = pd.read_csv(root / "out" / "convnet" / "gradebook.csv")
    ada = csv[csv["name"] == "Ada Lovelace"]
    assert list(ada["email"]) == ["ada@example.edu"] and float(ada["score"].iloc[0]) == 100.0
