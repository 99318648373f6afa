"""Every results.json says what each test cost and under which build it was graded."""
from __future__ import annotations

import jsonschema

from examples.build import reference_copy
from grader import build_id
from grader import results as res
from grader.framework import collect
from grader.runner import grade_submission


def test_results_carry_per_test_seconds_setup_and_the_build_id(tmp_path):
    data = grade_submission("softmax", reference_copy("softmax", tmp_path / "sub"))
    jsonschema.validate(data, res.schema())
    record = res.gradekit_of(data)
    assert record.build_id == build_id.compute("softmax")
    assert set(record.test_seconds) == {s.number for s in collect("softmax")}
    assert all(0 <= t < 120 for t in record.test_seconds.values())
    assert set(record.setup_seconds) == {"hidden", "visible"}
    # the slowest test is the one that trains, not a value comparison
    slowest = max(record.test_seconds, key=record.test_seconds.get)
    assert slowest in {"2.8", "3.4", "1.3", "3.1", "3.3"}, record.test_seconds


def test_hostile_timings_read_back_as_plain_non_negative_numbers():
    raw = {"assignment": "softmax", "status": "graded", "sandbox": "bwrap",
           "test_seconds": {"1.1": 0.5, "1.2": -3, "1.3": "9", "1.4": float("nan"),
                            "x" * 100: 1.0, "2.1": True},
           "setup_seconds": ["not", "a", "map"], "build_id": 7}
    record = res.Gradekit.from_json(raw)
    assert record.test_seconds == {"1.1": 0.5}
    assert record.setup_seconds is None and record.build_id is None
