"""REPORT.md parsing against hostile reports: linear time on crafted text, and the accuracy
check takes the one number the student states, never the closest of many."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from examples.build import reference_copy
from grader.checks import writeup
from grader.declaration import ROOT, load
from grader.framework import CheckFailed
from grader.runner import grade_submission

DECL = load("two_layer_net")
SECTION = DECL.settings["report_accuracy_section"]
TOLERANCE = DECL.settings["report_accuracy_tolerance"]
REFERENCE = (ROOT / "reference" / "two_layer_net" / "REPORT.md").read_text()
STATED = 0.94                                 # the reference report's "Test accuracy:"
MANY = ", ".join(f"{x / 100:.2f}" for x in range(30, 101, 5))     # 0.30, 0.35, ..., 1.00
TIME_LIMIT = 2.0       # seconds for a whole check of a 256 KB report (it takes milliseconds)


def with_accuracy(lines: str) -> str:
    """The reference report with its final-accuracy statement replaced by `lines`."""
    return REFERENCE.replace(f"Test accuracy: {STATED}", lines)


def check_everything(text: str, measured: float = STATED) -> None:
    """Every REPORT.md check the suite runs, as the suite runs them (CheckFailed allowed)."""
    checks = [lambda: writeup.check_sections(text, DECL.settings["report_sections"], text),
              lambda: writeup.check_test_accuracy(text, SECTION, measured, TOLERANCE)]
    for section, keywords, label in DECL.settings["report_values"].values():
        checks.append(lambda s=section, k=keywords, lb=label:
                      writeup.check_stated_value(text, s, k, 32, lb))
    for check in checks:
        try:
            check()
        except CheckFailed:
            pass


# -- one stated number ------------------------------------------------------------------------
def test_the_reference_report_passes():
    assert writeup.check_test_accuracy(REFERENCE, SECTION, 0.95, TOLERANCE) == STATED


@pytest.mark.parametrize("measured", [0.30, 0.64, 0.94, 1.0])
@pytest.mark.parametrize("gaming", [
    f"Test accuracy: {MANY}",                                       # the many-numbers line
    "\n".join(f"Test accuracy: {x / 100:.2f}" for x in range(30, 101, 5)),   # many lines
    f"The test accuracy was {MANY.replace(', ', ' or ')}.",          # prose, no label
    "| run | test |\n|---|---|\n" + "\n".join(f"| {i} | {x / 100:.2f} |"
                                            for i, x in enumerate(range(30, 101, 5))),
], ids=["line", "lines", "prose", "table"])
def test_many_numbers_never_match_whatever_was_measured(gaming, measured):
    text = with_accuracy(gaming)
    if gaming.startswith("Test accuracy: 0.30,") and measured == 0.30:
        writeup.check_test_accuracy(text, SECTION, measured, TOLERANCE)   # 0.30 is its one
        return
    with pytest.raises(CheckFailed, match="several different|you state a test accuracy of 30"):
        writeup.check_test_accuracy(text, SECTION, measured, TOLERANCE)


@pytest.mark.parametrize("text, value", [
    ("Test accuracy: 94% (94 of the 100 test rows)", 0.94),
    ("Test accuracy: 0.94\nOver seeds 0-4 the test accuracy was 0.94-0.95.", 0.94),
    ("Train accuracy 97%, test accuracy 94%.\n\n| split | train | test |\n|--|--|--|\n"
     "| acc | 0.97 | 0.94 |", 0.94),
    ("**Test accuracy**: 9.4 x 10^-1", 0.94),
])
def test_one_statement_in_any_form_is_read(text, value):
    assert writeup.stated_accuracy(text) == pytest.approx(value)


def test_disagreeing_statements_fail_with_a_clear_message():
    with pytest.raises(CheckFailed, match=r"several different test accuracies are stated "
                                          r"\(94\.0%, 80\.0%\)"):
        writeup.stated_accuracy("The test accuracy is 0.94.\nOn seed 1 the test set gave 0.8.")
    with pytest.raises(CheckFailed, match="not an accuracy"):
        writeup.stated_accuracy("Test accuracy: 2026 (this year's run)")


def test_a_labelled_hyperparameter_states_its_first_number_only():
    text = "## Batch size and learning-rate strategy\nBatch size: 1, 2, 4, 8, 16, 32, 64\n"
    with pytest.raises(CheckFailed, match="you state \\(1\\b"):
        writeup.check_stated_value(text, "Batch size and learning-rate strategy", ["batch"],
                                     32, "Batch size")
    writeup.check_stated_value(text, "Batch size and learning-rate strategy", ["batch"], 1,
                                 "Batch size")


@pytest.mark.parametrize("line, title", [
    ("## Final accuracy", "Final accuracy"),
    ("   ###   4. Final accuracy  ##  ", "4. Final accuracy"),
    ("# C#", "C#"), ("## Notes #", "Notes"), ("# ", ""),
    ("#hashtag", None), ("####### seven", None), ("    ## indented code", None), ("#", None),
    ("text ## not a heading", None),
])
def test_headings_are_read_without_regular_expressions(line, title):
    assert writeup.heading(line) == title


def test_comments_are_removed_even_when_unclosed():
    assert writeup.strip_comments("a<!-- x -->b<!--c") == "a b "
    assert writeup.stated_accuracy("<!-- Test accuracy: 0.5 -->\nTest accuracy: 0.9") == 0.9


# -- linear time ------------------------------------------------------------------------------
SIZE = 256 * 1024
CRAFTED = {                               # name -> a unit repeated to fill the report
    "heading-blanks": lambda n: "## a" + " " * n + "b",
    "heading-hashes": lambda n: "#" * 6 + " " + "# " * (n // 2) + "x",
    "comment-openers": lambda n: "<!--" * (n // 4),
    "exponent-blanks": lambda n: "Test accuracy: 1x10" + " " * n + "z",
    "exponent-mixed": lambda n: "Batch size: " + "5 x 10 ^ { " * (n // 11),
    "test-words": lambda n: "test " * (n // 5),
    "table-pipes": lambda n: "| test |\n" + "|" * n,
    "placeholder": lambda n: "<" + "a" * n,
    "label-prefix": lambda n: " " * n + "Test accuracy",
    "digits": lambda n: "9" * n + ".",
    "thousands": lambda n: "1" + ",000" * (n // 4),
    "dots": lambda n: "1." * (n // 2),
}


@pytest.mark.parametrize("size", [4 * 1024, SIZE], ids=["4KB", "256KB"])
@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_reports_parse_in_linear_time(name, size):
    line = CRAFTED[name](size)
    text = f"## {SECTION}\n{line}\n## Hidden layer size\n{line}\n"
    t0 = time.perf_counter()
    check_everything(text)
    assert time.perf_counter() - t0 < TIME_LIMIT, name


ALPHABET = st.sampled_from(list("#<!->|x×^{}%*_:=.,0159eE+ \t\n`~") +
                           ["test", "train", "Test accuracy:", "Batch size:", "<!--", "-->",
                            "## Final accuracy\n", "\u2028", "\x00"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=400), st.integers(1, 200))
def test_fuzzed_reports_only_ever_fail_with_a_message(pieces, repeat):
    text = "".join(pieces) * repeat
    t0 = time.perf_counter()
    check_everything(text)
    assert time.perf_counter() - t0 < TIME_LIMIT


# -- through the grader -----------------------------------------------------------------------
def test_gaming_report_scores_nothing_for_its_check_and_results_are_written(tmp_path):
    pathological = "## a" + " " * 20_000 + "b"
    sub = reference_copy("two_layer_net", tmp_path / "sub",
                         [("REPORT.md", f"Test accuracy: {STATED}", f"Test accuracy: {MANY}\n"
                           + pathological)])
    path = tmp_path / "results.json"
    data = grade_submission("two_layer_net", sub, results_path=path, sandbox_mode="auto")
    assert json.loads(path.read_text()) == data
    by_tag = [t for t in data["tests"] if t["tags"] and "REPORT.md" in t["tags"]
              and "accuracy" in t["name"].lower()]
    assert by_tag and all(t["score"] == 0 for t in by_tag), [t["output"] for t in by_tag]
    others = [t for t in data["tests"] if t not in by_tag]
    assert all(t["status"] == "passed" for t in others), \
        [(t["number"], t["output"][:200]) for t in others if t["status"] != "passed"]
