"""The trusted core: declarations, test metadata, results.json, coercion and tolerance."""
from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from grader import results as res
from grader.checks.compare import as_array, assert_close, rel_error, unpack
from grader.declaration import NAMES, all_assignments, given_path
from grader.framework import CheckFailed, collect
from grader.runner import find_file, forbidden_imports


@pytest.mark.parametrize("name", NAMES)
def test_suite_metadata_is_complete(name):
    specs = collect(name)
    assert specs, name
    assert abs(sum(s.weight for s in specs) - 100.0) < 1e-9
    assert len({s.number for s in specs}) == len(specs)
    for s in specs:
        assert s.tags and all(isinstance(t, str) and t for t in s.tags), s.name
        assert s.name and not s.name.startswith("test_"), f"{s.number} lacks a docstring name"


def test_declared_given_files_exist_in_assignments_and_reference():
    for decl in all_assignments():
        for f in decl.given:
            assert given_path("assignments", decl.name, f).is_file(), (decl.name, f)
            assert given_path("reference", decl.name, f).is_file(), (decl.name, f)
        for f in decl.submitted:
            assert (given_path("reference", decl.name, f)).is_file(), (decl.name, f)


def _sample_results():
    t1 = res.test_result(name="a", number="1.1", score=2.00000001, max_score=2, status="passed",
                         tags=("f",), visibility="visible", output="ok")
    t2 = res.test_result(name="b", number="1.2", score=0, max_score=3, status="failed",
                         tags=("g",), visibility="hidden", output="no")
    return res.build([t1, t2], execution_time=1.23456, output="hdr", extra={"x": 1})


def test_results_match_the_gradescope_schema_and_round_scores(tmp_path):
    data = _sample_results()
    jsonschema.validate(data, res.schema())
    assert data["score"] == 2.0 and isinstance(data["execution_time"], float)
    path = tmp_path / "r" / "results.json"
    res.write_atomic(path, data)
    assert json.loads(path.read_text()) == data
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]   # no temp left


def test_schema_rejects_what_gradescope_rejects():
    data = _sample_results()
    bad = [dict(data, execution_time="1.2"),                      # gradescope-utils' string
           dict(data, tests=[dict(data["tests"][0], status="ok")]),
           dict(data, visibility="secret"),
           dict(data, tests=[dict(data["tests"][0], extra_field=1)])]
    for b in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(b, res.schema())


def test_write_atomic_keeps_the_old_file_when_the_new_one_cannot_be_written(tmp_path):
    path = tmp_path / "results.json"
    res.write_atomic(path, {"score": 1.0})
    with pytest.raises(ValueError):
        res.write_atomic(path, {"score": float("nan")})
    assert json.loads(path.read_text()) == {"score": 1.0}
    assert len(list(tmp_path.iterdir())) == 1


class Sub(np.ndarray):
    def __eq__(self, other):  # noqa: D105 - the always-equal trick
        return True


def test_coercion_rejects_subclasses_objects_and_non_numbers():
    with pytest.raises(CheckFailed, match="plain numpy array"):
        as_array(np.zeros(3).view(Sub), "x")
    with pytest.raises(CheckFailed, match="numeric"):
        as_array(np.array([object()]), "x")
    for v in ("1.0", None, True, {"a": 1}):
        with pytest.raises(CheckFailed):
            as_array(v, "x")
    assert as_array([[1, 2], [3, 4]], "x").dtype == np.float64
    with pytest.raises(CheckFailed, match="2 return values"):
        unpack((1, 2, 3), 2, "f")


def test_assert_close_reports_shape_nonfinite_and_first_bad_index():
    exp = np.arange(6.0).reshape(2, 3)
    assert_close(exp + 1e-12, exp, "out")
    with pytest.raises(CheckFailed, match=r"wrong shape: expected \(2, 3\), got \(3, 2\)"):
        assert_close(exp.T, exp, "out")
    got = exp.copy(); got[1, 1] = np.inf
    with pytest.raises(CheckFailed, match=r"non-finite.*\(1, 1\)"):
        assert_close(got, exp, "out")
    got = exp.copy(); got[1, 2] += 0.5
    with pytest.raises(CheckFailed, match=r"index \(1, 2\): expected 5, got 5.5"):
        assert_close(got, exp, "out")
    with pytest.raises(CheckFailed) as info:
        assert_close(got, exp, "out", reveal=False)
    assert "expected 5" not in str(info.value)
    assert rel_error(np.array([1.0]), np.array([1.0 + 1e-9])) < 1e-9


def test_static_scan_finds_forbidden_imports_in_every_spelling():
    src = ("import numpy as np\nimport torch.nn as nn\nfrom sklearn import svm\n"
           "x = __import__('jax')\nimport importlib\ny = importlib.import_module('scipy.linalg')\n"
           "from . import sibling\n")
    assert forbidden_imports(src, ("torch", "sklearn", "jax", "scipy")) == \
        ["jax", "scipy", "sklearn", "torch"]
    assert forbidden_imports("import numpy\n", ("torch",)) == []


def test_find_file_prefers_top_level_and_skips_macos_junk(tmp_path):
    (tmp_path / "__MACOSX" / "hw").mkdir(parents=True)
    (tmp_path / "__MACOSX" / "hw" / "softmax.py").write_text("junk")
    assert find_file(tmp_path, "softmax.py") is None
    (tmp_path / "hw" / "deep").mkdir(parents=True)
    (tmp_path / "hw" / "deep" / "softmax.py").write_text("deep")
    (tmp_path / "hw" / "softmax.py").write_text("shallow")
    assert find_file(tmp_path, "softmax.py").read_text() == "shallow"
    (tmp_path / "softmax.py").write_text("top")
    assert find_file(tmp_path, "softmax.py").read_text() == "top"


def test_results_output_is_clean_text_and_gradekit_extra_is_checked():
    t = res.test_result(name="a\x1b[2J", number="1", score=0, max_score=1, status="failed",
                        tags=("f",), visibility="visible", output="x\ud800\x1b]0;t\x07" * 10_000)
    data = res.build([t], execution_time=0.0, output="\x00hdr",
                     extra={"flags": ["budget"], "time_budget": 480.0})
    jsonschema.validate(data, res.schema())
    text = json.dumps(data, ensure_ascii=False)
    text.encode("utf-8")                                        # no lone surrogates
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
    assert len(t["output"]) <= res.OUTPUT_MAX + 100
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dict(data, extra_data={"gradekit": {"flags": "budget"}}),
                            res.schema())


# -- one results model: every writer of gradekit's records goes through grader.results ---------
def _autograde_module(monkeypatch, root):
    """The Gradescope autograder script (the zip's autograde.py), pointed at `root`."""
    import importlib.util

    from grader.declaration import ROOT
    spec = importlib.util.spec_from_file_location(
        "_autograde_model", ROOT / "publish" / "templates" / "autograder" / "autograde.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "SOURCE", root / "source")
    monkeypatch.setattr(module, "RESULTS", root / "results" / "results.json")
    (root / "source").mkdir(parents=True)
    (root / "source" / "autograder.json").write_text('{"assignment": "softmax"}')
    return module


def test_the_runner_batch_and_autograder_write_records_the_model_reads_back(tmp_path, monkeypatch):
    """`extra_data.gradekit` (and the batch's `gradekit_batch`) has one constructor,
    `results.Gradekit` (`results.BatchRecord`): each writer's output parses into the typed
    record and serialises back unchanged, so no writer adds, drops or mistypes a field."""
    from pathlib import Path

    from grader import batch, runner
    from grader.framework import Budget
    from grader.intake import Submission

    written = {
        "runner": runner._Run("softmax", collect("softmax"), Budget(30.0), False, None).snapshot(),
        "batch intake row": batch.intake_results(
            "softmax", Submission("s1", None, [], "bad_archive", "not a zip", "s1.zip")),
        "batch grader error": batch.error_results(
            "softmax", Submission("s2", Path("/x"), [], "ok", "", "s2"), "disk full"),
    }
    ag = _autograde_module(monkeypatch, tmp_path / "ag")
    ag.salvage("stopped (exit status 137)")
    written["autograder salvage"] = json.loads(ag.RESULTS.read_text())
    res.write_atomic(ag.RESULTS, written["runner"])
    ag.salvage("stopped again")
    written["autograder salvage of a partial run"] = json.loads(ag.RESULTS.read_text())
    for path, data in written.items():
        jsonschema.validate(data, res.schema())
        gk = data["extra_data"]["gradekit"]
        assert res.Gradekit.from_json(gk).to_json() == gk, path
        assert res.gradekit_of(data).assignment == "softmax", path
        if "gradekit_batch" in data["extra_data"]:
            gb = data["extra_data"]["gradekit_batch"]
            assert res.BatchRecord.from_json(gb).to_json() == gb, path
    assert res.gradekit_of(written["runner"]).max_score == 100.0
    salvaged = res.gradekit_of(written["autograder salvage of a partial run"])
    assert salvaged.status == res.INCOMPLETE and salvaged.max_score == 100.0


def test_no_module_spells_the_record_keys_but_the_results_model():
    """The records' keys are spelled in grader/results.py only: no other module builds or
    indexes `extra_data.gradekit` / `gradekit_batch` as a dict."""
    import re

    from grader.declaration import ROOT
    key = re.compile(r"""["']gradekit(_batch)?["']\s*[\]:]""")
    writers = [*(ROOT / "grader").rglob("*.py"),
               ROOT / "publish" / "templates" / "autograder" / "autograde.py"]
    assert [p.relative_to(ROOT).as_posix() for p in writers
            if p.name != "results.py" and key.search(p.read_text())] == []


def test_a_record_read_back_from_a_hostile_file_is_typed_or_empty():
    data = {"extra_data": {"gradekit": {"flags": "crash", "sandbox": ["plain"], "max_score": True,
                                        "status": 3, "time_budget": float("nan")},
                           "gradekit_batch": {"seconds": "slow", "message": {"a": 1}, "run": 7}}}
    assert res.gradekit_of(data) == res.Gradekit(assignment="", status="", sandbox="")
    assert res.batch_of(data) == res.BatchRecord(assignment="", id="", status="")
    assert res.gradekit_of("not a dict") == res.gradekit_of({"extra_data": []})
