"""`feedback.md`: what a student would read about one graded submission.

Visible tests are shown in full (score and message). Tests that are not visible are only
counted, with their points, as Gradescope would show them: `hidden` never, `after_due_date`
and `after_published` later — never their names, messages, scores or inputs.
"""
from __future__ import annotations

import re
from typing import Any

LATER = {
    "hidden": "hidden from students",
    "after_due_date": "results after the due date",
    "after_published": "results once grades are published",
}


def _num(x: Any) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return "?"


def _block(text: str, fmt: str | None) -> str:
    """A test's output as Markdown: `md` as is, anything else in a fence it cannot close."""
    text = (text or "").rstrip()
    if not text:
        return ""
    if fmt in (None, "md"):
        return text
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def feedback_markdown(results: dict[str, Any], *, title: str = "", submission_id: str = "") -> str:
    """The student-facing Markdown for one results.json object."""
    lines = [f"# Feedback{': ' + title if title else ''}", ""]
    if submission_id:
        lines += [f"Submission `{submission_id}`", ""]
    if results.get("visibility", "visible") != "visible":
        lines.append("Your results will be released later.")
        return "\n".join(lines) + "\n"
    tests = [t for t in results.get("tests", []) if isinstance(t, dict)]
    shown = [t for t in tests if t.get("visibility", "visible") == "visible"]
    later = [t for t in tests if t.get("visibility", "visible") != "visible"]
    got = sum(float(t.get("score") or 0) for t in shown)
    avail = sum(float(t.get("max_score") or 0) for t in shown)
    if not tests:
        lines.append(f"**Score: {_num(results.get('score', 0))}**")
    elif later:
        lines.append(f"**Visible tests: {got:g} / {avail:g} points**")
    else:
        lines.append(f"**Score: {_num(results.get('score', got))} / {avail:g}**")
    top = _block(results.get("output", ""), results.get("output_format"))
    if top:
        lines += ["", top]
    if shown:
        lines += ["", "## Tests"]
    fmt_default = results.get("test_output_format")
    for t in shown:
        mark = "passed" if t.get("status", "passed") == "passed" else "failed"
        head = f"{t.get('number', '')} {t.get('name', '')}".strip()
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
                pts = sum(float(t.get("max_score") or 0) for t in group)
                lines.append(f"- {len(group)} test{'s' if len(group) != 1 else ''} "
                             f"({pts:g} points): {why}")
    return "\n".join(lines) + "\n"
