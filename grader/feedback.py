"""`feedback.md`: what a student would read about one graded submission.

Visible tests are shown in full (score and message). Tests that are not visible are only
counted, with their points, as Gradescope would show them: `hidden` never, `after_due_date`
and `after_published` later — never their names, messages, scores or inputs.

Student-controlled text never leaves this module raw: test outputs in Markdown format (the
grader's own, with student text already fenced) are cleaned of control characters and
bounded; any other format goes in a fence longer than any backtick run inside
(`safetext.md_fence`); names, numbers and ids that are not plain words become code spans.
"""
from __future__ import annotations

import math
import re
from typing import Any

from grader import results as res
from grader import safetext

_PLAIN_LABEL = re.compile(r"[\w .,:;()'\"/+=>?%-]*")     # nothing Markdown or HTML acts on

LATER = {
    "hidden": "hidden from students",
    "after_due_date": "results after the due date",
    "after_published": "results once grades are published",
}


def _num(x: Any) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError, OverflowError):
        return "?"
    return f"{round(value, 2):g}" if math.isfinite(value) else "?"   # at most two decimals


def _label(text: Any) -> str:
    """A name or id on one line: as is when it is plain words, else a code span."""
    text = safetext.one_line(text)
    return text if _PLAIN_LABEL.fullmatch(text) else safetext.md_inline(text)


def _block(text: Any, fmt: Any) -> str:
    """A test's output as Markdown: `md` cleaned, anything else in a fence it cannot close."""
    text = safetext.clean(text or "", res.OUTPUT_MAX).rstrip()
    if not text.strip():
        return ""
    if fmt in (None, "md"):
        return text
    return safetext.md_fence(text, res.OUTPUT_MAX)


def _tests(results: dict[str, Any]) -> list[dict[str, Any]]:
    tests = results.get("tests")
    return [t for t in tests if isinstance(t, dict)] if isinstance(tests, list) else []


def feedback_markdown(results: dict[str, Any], *, title: str = "", submission_id: str = "") -> str:
    """The student-facing Markdown for one results.json object."""
    lines = [f"# Feedback{': ' + _label(title) if title else ''}", ""]
    if submission_id:
        lines += [f"Submission {safetext.md_inline(submission_id)}", ""]
    if results.get("visibility", "visible") != "visible":
        lines.append("Your results will be released later.")
        return "\n".join(lines) + "\n"
    tests = _tests(results)
    shown = [t for t in tests if t.get("visibility", "visible") == "visible"]
    later = [t for t in tests if t.get("visibility", "visible") != "visible"]
    got = sum(res.number(t.get("score")) for t in shown)
    avail = sum(res.number(t.get("max_score")) for t in shown)
    if not tests:
        lines.append(f"**Score: {_num(results.get('score', 0))}**")
    elif later:
        lines.append(f"**Visible tests: {_num(got)} / {_num(avail)} points**")
    else:
        lines.append(f"**Score: {_num(results.get('score', got))} / {_num(avail)}**")
    top = _block(results.get("output", ""), results.get("output_format"))
    if top:
        lines += ["", top]
    if shown:
        lines += ["", "## Tests"]
    fmt_default = results.get("test_output_format")
    for t in shown:
        mark = res.PASSED if t.get("status", res.PASSED) == res.PASSED else res.FAILED
        head = _label(f"{t.get('number', '')} {t.get('name', '')}".strip())
        lines += ["", f"### {head} — {_num(t.get('score'))} / {_num(t.get('max_score'))} ({mark})"]
        body = _block(t.get("output", ""), t.get("output_format", fmt_default))
        if body:
            lines += ["", body]
    if later:
        lines += ["", "## Tests not shown yet"]
        for vis, why in LATER.items():
            group = [t for t in later if (t.get("visibility") if t.get("visibility") in LATER
                                          else "hidden") == vis]
            if group:
                pts = sum(res.number(t.get("max_score")) for t in group)
                lines.append(f"- {len(group)} test{'s' if len(group) != 1 else ''} "
                             f"({_num(pts)} points): {why}")
    return "\n".join(lines) + "\n"
