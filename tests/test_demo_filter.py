"""`make grade ASSIGNMENT=softmax` (no SUBMISSIONS): only softmax's demo class is graded;
`make regrade-preview` without SUBMISSIONS previews the chosen demo classes. The batch is
replaced by a recorder: what is checked is which classes reach it, and with what."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from examples import demo
from examples.build import CLASS
from grader import batch, report
from grader.declaration import ROOT


@pytest.fixture
def calls(monkeypatch):
    seen: list[tuple[str, str]] = []

    def fake_grade(assignment, paths, out, **kwargs):
        seen.append(("grade", assignment))
        ids = list(CLASS_INTENTS[assignment])
        totals = [CLASS_INTENTS[assignment][i]["intent"][0] for i in ids]
        return pd.DataFrame({"id": ids, "total": totals})

    def fake_preview(assignment, paths, out, **kwargs):
        seen.append(("preview", assignment))
        return [], len(CLASS[assignment])

    monkeypatch.setattr(batch, "grade_batch", fake_grade)
    monkeypatch.setattr(batch, "preview_batch", fake_preview)
    monkeypatch.setattr(report, "write_index", lambda out, frames: seen.append(("index", *frames)))
    monkeypatch.setattr(demo, "ensure_sandbox", lambda: "fake")
    return seen


CLASS_INTENTS: dict = {}


def _run(tmp_path: Path, *args: str) -> None:
    CLASS_INTENTS.clear()
    CLASS_INTENTS.update(demo.build(tmp_path / "class"))
    assert demo.main(["--class-dir", str(tmp_path / "class"), "--out", str(tmp_path / "out"),
                      *args]) == 0


def test_assignment_filter_grades_only_that_class(tmp_path, calls):
    _run(tmp_path, "--assignment", "softmax")
    assert calls == [("grade", "softmax"), ("index", "softmax")]


def test_no_filter_grades_every_demo_class(tmp_path, calls):
    _run(tmp_path)
    assert [c for c in calls if c[0] == "grade"] == [("grade", a) for a in CLASS]


def test_dry_run_previews_and_grades_nothing(tmp_path, calls, capsys):
    _run(tmp_path, "--assignment", "softmax", "--dry-run")
    assert calls == [("preview", "softmax")]
    assert "regrade preview of softmax" in capsys.readouterr().out


def test_unknown_assignment_is_a_usage_error(tmp_path, calls):
    with pytest.raises(SystemExit) as exc:
        demo.main(["--class-dir", str(tmp_path / "class"), "--assignment", "nope"])
    assert exc.value.code == 2 and not calls


def test_make_grade_passes_the_assignment_to_the_demo():
    run = subprocess.run(["make", "-n", "grade", "ASSIGNMENT=softmax"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    line = next(ln for ln in run.stdout.splitlines() if "examples.demo" in ln)
    assert "--assignment softmax" in line
    run = subprocess.run(["make", "-n", "regrade-preview", "ASSIGNMENT=softmax"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    line = next(ln for ln in run.stdout.splitlines() if "examples.demo" in ln)
    assert "--assignment softmax" in line and "--dry-run" in line
    run = subprocess.run(["make", "-n", "regrade-preview", "ASSIGNMENT=softmax", "SUBMISSIONS=x",
                          "OUT=o"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert "-m grader grade softmax x --out o --dry-run" in " ".join(run.stdout.split())
