"""What a student reads in a terminal (issue #11, "Messages"): whole messages wrapped to the
terminal width (the hint at the end of a long message included), a "did you mean" for a
misnamed file, and a sentence instead of a traceback when numpy is missing."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import results as res
from grader.declaration import ROOT, load
from grader.runner import close_name, grade_submission, missing_message, prepare, summary

HINT = "Hint: the hint at the very end of a long message must reach the student."
LONG = ("softmax_loss_vectorized (case loss_a, reg=0.1): dW: 650 of 650 value(s) outside "
        "tolerance (rtol 1e-06, atol 1e-08); max abs error 0.0123, relative error 0.5; first "
        "bad value at index (0, 0): expected 0.1, got 0.2. " + HINT)


def _results(output: str, status: str = res.FAILED) -> dict:
    test = res.test_result(name="softmax_loss_vectorized: loss and gradient match", number="2.1",
                           score=0.0, max_score=9.0, status=status, tags=(),
                           visibility="visible", output=output)
    return {"score": 0.0, "execution_time": 1.0, "tests": [test],
            "extra_data": {"gradekit": {"max_score": 9.0, "sandbox": "bwrap"}}}


@pytest.mark.parametrize("width", [60, 100, 160])
def test_summary_prints_the_whole_message_wrapped_to_the_width(width):
    text = summary(_results(LONG + "\n\nYour code printed:\n```\n" + "x" * 300 + "\n```"),
                   width=width)
    flat = " ".join(text.split())
    assert " ".join(HINT.split()) in flat, text                  # nothing cut
    message_lines = [ln for ln in text.splitlines()[1:-1] if "xxx" not in ln]
    assert message_lines and all(len(ln) <= width for ln in message_lines), text
    assert "x" * 300 in text                                     # printed output kept as is
    assert all(ln.startswith(" " * 15) for ln in message_lines if ln.strip())


def test_summary_makes_student_text_terminal_safe():
    text = summary(_results("bad \x1b[31mred\x1b[0m text\u202e " + HINT), width=80)
    assert "\x1b" not in text and "\u202e" not in text and "Hint:" in text


@pytest.mark.parametrize("submitted", ["Softmax.py", "softmax (1).py", "work/softmax_.py"])
def test_a_misnamed_file_gets_a_did_you_mean(submitted, tmp_path):
    sub = tmp_path / "submission"
    (sub / submitted).parent.mkdir(parents=True)
    (sub / submitted).write_text("x = 1\n")
    (sub / "notes.txt").write_text("")
    errors, notes = prepare(load("softmax"), sub, tmp_path / "work_dir")
    message = errors["softmax"].message
    assert message.startswith("softmax.py is missing") and f"did you mean {submitted}?" in message
    assert any("did you mean" in n for n in notes)


def test_no_guess_for_an_unrelated_file_and_hostile_names_are_cleaned(tmp_path):
    (tmp_path / "README.txt").write_text("")
    assert close_name(tmp_path, "two_layer_net.py") is None
    assert missing_message("softmax.py", None) == "softmax.py was not submitted"
    assert "\x1b" not in missing_message("softmax.py", "Softmax\x1b[2J.py")


@pytest.mark.slow
def test_grading_a_misnamed_file_says_did_you_mean(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copyfile(ROOT / "reference" / "softmax" / "softmax.py", sub / "Softmax.py")
    data = grade_submission("softmax", sub, sandbox_mode="auto")
    assert data["score"] == 0.0
    assert any("did you mean Softmax.py?" in t["output"] for t in data["tests"]
               if t["visibility"] == "visible")


def test_make_check_without_numpy_says_what_to_do(tmp_path):
    """`make check PY=...` with a Python that cannot import numpy (here: ours with -S, no
    site-packages): a sentence naming the fix, no traceback, a failing exit status."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    template = ROOT / "publish" / "templates" / "student" / "Makefile"
    (tmp_path / "Makefile").write_text(template.read_text().replace("@ASSIGNMENT@", "softmax"))
    for target in ("check", "submit"):
        proc = subprocess.run(["make", "--no-print-directory", target,
                               f"PY={sys.executable} -S"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out
        assert "cannot import numpy" in out and "pip install -r requirements.txt" in out, out
        assert f"make {target}" in out and "Traceback" not in out, out

