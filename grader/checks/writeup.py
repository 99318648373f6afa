"""Checks of a submitted Markdown report (two_layer_net's REPORT.md), on the trusted side.

The report is student text: everything here runs in time linear in its length (no regular
expression that can backtrack over it; headings and comments are split with plain string
operations), so a crafted REPORT.md cannot make the grader hang.

The report is read as text by the runner (never executed). A section is a Markdown heading
(`#`..`######`) whose text contains the required title (case-insensitive, ignoring numbering
and punctuation) and the lines up to the next heading. A section is empty when nothing but
whitespace, HTML comments, placeholders (`TODO`, `<fill in>`) or lines copied unchanged from
the same section of the template (the stub's REPORT.md) is left.

Stated values are read from the relevant section (the whole report when that section is
missing): numbers like 64, 0.5, 5e-1, 5 x 10^-1, 1,000 and 93% (a percentage or a number in
(1, 100] is read as a fraction when an accuracy is meant). The template asks for
`Name: value` lines ("Hidden layer size: 64", "Test accuracy: 0.94"); such a line states its
FIRST number, and when present only such lines count. Otherwise a hyper-parameter counts as
stated when one of the numbers on a line naming it (e.g. "batch") equals it, and without such
a line any number in the section.

The test accuracy is the ONE value the student states for it, never the closest of several:
each `Test accuracy: value` line states its first number; without such a line, each line
naming "test" states the first number after that word (before any "train"/"val"), and each
cell of a Markdown table's "test" column states its first number. Statements that disagree
(e.g. a line listing 0.30, 0.35, ..., 1.00 as several lines or table rows) fail with a
message listing them.

    sections(text) -> [(heading, body)]
    check_sections(text, required, template=None) -> {title: body}   CheckFailed on missing,
        empty or out-of-order sections
    labelled_numbers(body, label, fractions=False) -> [float] | None   from "Label: value" lines
    labelled_values(body, label, fractions=False) -> [float] | None    first number per line
    stated_numbers(body, keywords) -> [float]
    check_stated_value(text, section, keywords, value, label)
    stated_test_accuracy(body) -> [float]
    check_test_accuracy(text, section, measured, tolerance, label="Test accuracy") -> float
"""
from __future__ import annotations

import math
import re
from typing import Iterable

from grader.framework import CheckFailed

_PLACEHOLDER = re.compile(r"\b(todo|tbd|fill (this |me )?in)\b[:.!]*|<[A-Za-z .]*>", re.I)
# Every optional part starts with a required character or is the last one, and blanks are
# [ \t] (a number never spans lines), so a failed match backtracks over each blank run once.
_NUMBER = re.compile(
    r"(?<![\w.])([-+]?(?:\d+\.\d*|\.\d+|\d+))"                       # mantissa
    r"(?:[ \t]*(?:[x×*·]|\\times)[ \t]*10(?:[ \t]*\^)?(?:[ \t]*\{)?[ \t]*([-−+]?\d+)"
    r"(?:[ \t]*\})?"                                                   # 5 x 10^-1, 5×10^{-1}
    r"|([eE][-+]?\d+))?"                                                # 5e-1
    r"(?:[ \t]*(%))?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TEST_WORD = re.compile(r"\btest(?:ing)?\b", re.I)
_OTHER_SPLIT = re.compile(r"\b(train(?:ing)?|val(?:idation)?)\b", re.I)
_RULE_CELL = re.compile(r"[-: ]+")
COMMENT_OPEN, COMMENT_CLOSE = "<!--", "-->"


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", s.lower()).split())


def heading(line: str) -> str | None:
    """The text of an ATX heading line (`## Title ##`), else None; plain string operations."""
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3:
        return None
    rest = line[indent:]
    level = len(rest) - len(rest.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    rest = rest[level:]
    if not rest or not rest[0].isspace():
        return None                                  # "#hashtag" is not a heading
    text = rest.strip()
    closed = text.rstrip("#")
    if closed != text and (not closed or closed[-1].isspace()):
        text = closed.rstrip()                       # an optional closing run of #
    return text


def strip_comments(text: str) -> str:
    """`text` with every HTML comment replaced by a space (an unclosed one runs to the end)."""
    out, pos = [], 0
    while True:
        start = text.find(COMMENT_OPEN, pos)
        if start < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:start] + " ")
        end = text.find(COMMENT_CLOSE, start + len(COMMENT_OPEN))
        if end < 0:
            return "".join(out)
        pos = end + len(COMMENT_CLOSE)


def sections(text: str) -> list[tuple[str, str]]:
    """(heading text, body) for every heading; fenced code blocks are not headings."""
    out: list[tuple[str, list[str]]] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        title = None if fenced else heading(line)
        if title is not None:
            out.append((title, []))
        elif out:
            out[-1][1].append(line)
    return [(h, "\n".join(body)) for h, body in out]


def _locate(text: str, title: str) -> tuple[int, str] | None:
    want = _norm(title)
    for i, (heading, body) in enumerate(sections(text)):
        if want in _norm(heading):
            return i, body
    return None


def find_section(text: str, title: str) -> str | None:
    """The body of the first section whose heading contains `title`, else None."""
    found = _locate(text, title)
    return found[1] if found else None


def is_empty(body: str, template_body: str | None = None) -> bool:
    """Nothing but whitespace, comments, placeholders and unchanged template lines."""
    body = strip_comments(body)
    if template_body:
        given = {ln.strip() for ln in strip_comments(template_body).splitlines()}
        body = "\n".join(ln for ln in body.splitlines() if ln.strip() not in given)
    rest = _PLACEHOLDER.sub(" ", body)
    return not re.search(r"[A-Za-z0-9]", rest)


def check_sections(text: str | None, required: Iterable[str],
                   template: str | None = None) -> dict[str, str]:
    """Every required section present (as a heading) and non-empty (see module doc); returns
    their bodies. `template` is the report template handed out with the assignment."""
    if text is None:
        raise CheckFailed("REPORT.md was not submitted: add it next to your code (start from "
                          "the template in the assignment folder).")
    required = tuple(required)
    found: dict[str, str] = {}
    missing, empty, order = [], [], []
    for title in required:
        where = _locate(text, title)
        body = where[1] if where else None
        if where:
            order.append(where[0])
        if body is None:
            missing.append(title)
        elif is_empty(body, find_section(template, title) if template else None):
            empty.append(title)
        else:
            found[title] = body
    problems = ([f"missing section(s): {', '.join(map(repr, missing))}"] if missing else []) + \
               ([f"empty section(s): {', '.join(map(repr, empty))}"] if empty else [])
    if problems:
        raise CheckFailed(f"REPORT.md: {'; '.join(problems)}. Each section is a Markdown heading "
                          f"(e.g. '## {(missing or empty)[0]}') followed by your text.")
    if order != sorted(order):
        raise CheckFailed("REPORT.md: keep the sections in the template's order: "
                          + ", ".join(map(repr, required)) + ".")
    return found


def _numbers(s: str, *, fractions: bool = False) -> list[float]:
    """Numbers in `s`; with `fractions`, percentages and values in (1, 100] become fractions."""
    out = []
    for m in _NUMBER.finditer(_THOUSANDS.sub("", s)):
        try:
            value = float(m.group(1))
            if m.group(2):
                value *= 10.0 ** int(m.group(2).replace("−", "-"))
            elif m.group(3):
                value = float(m.group(1) + m.group(3))
        except (ValueError, OverflowError):
            continue
        if not math.isfinite(value):
            continue
        if fractions and (m.group(4) or 1.0 < value <= 100.0):
            value /= 100.0
        out.append(value)
    return out


def _first(s: str, *, fractions: bool = False) -> list[float]:
    """The first number in `s` (as a one-element list), or []."""
    return _numbers(s, fractions=fractions)[:1]


def _labelled_lines(body: str, label: str) -> list[str] | None:
    """What follows `Label:` on each "Label: value" line of `body` (any case, optional list
    marker or bold), or None when there is no such line."""
    pattern = re.compile(rf"[\s>*_-]*{re.escape(label)}[\s*_]*[:=]", re.I)
    lines = [ln[m.end():] for ln in strip_comments(body).splitlines()
             if (m := pattern.match(ln))]
    return lines or None


def labelled_numbers(body: str, label: str, *, fractions: bool = False) -> list[float] | None:
    """Every number on "Label: value" lines of `body`, or None when there is no such line."""
    lines = _labelled_lines(body, label)
    return None if lines is None else [v for ln in lines for v in _numbers(ln, fractions=fractions)]


def labelled_values(body: str, label: str, *, fractions: bool = False) -> list[float] | None:
    """The value each "Label: value" line of `body` states (its first number), or None when
    there is no such line."""
    lines = _labelled_lines(body, label)
    return None if lines is None else [v for ln in lines for v in _first(ln, fractions=fractions)]


def stated_numbers(body: str, keywords: Iterable[str]) -> list[float]:
    """Numbers on the lines of `body` that mention a keyword (matched at a word start, any
    case); all its numbers when no line does."""
    pattern = re.compile("|".join(rf"\b{re.escape(k)}" for k in keywords), re.I)
    body = strip_comments(body)
    lines = [ln for ln in body.splitlines() if pattern.search(ln)]
    return _numbers("\n".join(lines)) if lines else _numbers(body)


def _equal(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def check_stated_value(text: str | None, section: str, keywords: Iterable[str],
                       value: float, label: str) -> None:
    """CheckFailed unless the report states `value` for `label` (see module doc)."""
    if text is None:
        raise CheckFailed("REPORT.md was not submitted.")
    body = find_section(text, section)
    body = body if body is not None else text
    labelled = labelled_values(body, label)
    if labelled is not None and not labelled:
        raise CheckFailed(f"REPORT.md: the '{label}:' line is not filled in (HYPERPARAMS has "
                          f"{value:g}).")
    if labelled is not None:
        ok = all(_equal(c, float(value)) for c in labelled)
        candidates = labelled
    else:
        candidates = stated_numbers(body, keywords)
        ok = any(_equal(c, float(value)) for c in candidates)
    if not ok:
        said = ", ".join(f"{c:g}" for c in candidates[:6]) or "no number"
        raise CheckFailed(f"REPORT.md: the {label.lower()} you state ({said}, in section "
                          f"'{section}') "
                          f"does not match HYPERPARAMS, which has {value:g}. Report the values "
                          f"the grader trains with.")


def _table_column(body: str) -> list[float]:
    """The value each cell of a Markdown table's column headed 'test...' states."""
    out: list[float] = []
    col = None
    for line in body.splitlines():
        if "|" not in line:
            col = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if col is None:
            hits = [i for i, c in enumerate(cells) if _TEST_WORD.search(c)]
            col = hits[0] if hits else None
        elif col < len(cells) and not _RULE_CELL.fullmatch(cells[col]):
            out += _first(cells[col], fractions=True)
    return out


def stated_test_accuracy(body: str) -> list[float]:
    """The test accuracies `body` states in prose and tables (one per statement, see the
    module doc), as fractions."""
    out: list[float] = []
    for line in strip_comments(body).splitlines():
        m = _TEST_WORD.search(line)
        if m and "|" not in line:
            rest = line[m.end():]
            stop = _OTHER_SPLIT.search(rest)
            out += _first(rest[:stop.start()] if stop else rest, fractions=True)
    return out + _table_column(body)


def _distinct(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in values:
        if not any(_equal(v, u) for u in out):
            out.append(v)
    return out


def stated_accuracy(body: str, label: str = "Test accuracy") -> float:
    """The one test accuracy `body` states (module doc); CheckFailed when it states none,
    several different ones, or something that is not an accuracy."""
    labelled = labelled_values(body, label, fractions=True)
    if labelled is not None and not labelled:
        raise CheckFailed(f"REPORT.md: the '{label}:' line is not filled in (a number like 0.93 "
                          "or 93% is expected).")
    values = _distinct(labelled if labelled is not None else stated_test_accuracy(body))
    if not values:
        raise CheckFailed(f"REPORT.md: no test accuracy found. State it on a line like "
                          f"'{label}: 0.93' (or 93%).")
    if len(values) > 1:
        said = ", ".join(f"{v:.1%}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise CheckFailed(f"REPORT.md: several different test accuracies are stated ({said}). "
                          f"State the one your final settings give, on one line like "
                          f"'{label}: 0.93'.")
    if not 0.0 <= values[0] <= 1.0:
        raise CheckFailed(f"REPORT.md: the stated test accuracy {values[0]:g} is not an "
                          f"accuracy (a number like 0.93 or 93% is expected).")
    return values[0]


def check_test_accuracy(text: str | None, section: str, measured: float | None,
                        tolerance: float, label: str = "Test accuracy") -> float:
    """The one stated test accuracy must be within `tolerance` of the one measured in this
    run; returns the stated one."""
    if text is None:
        raise CheckFailed("REPORT.md was not submitted.")
    body = find_section(text, section)
    try:
        stated = stated_accuracy(body if body is not None else text, label)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} (Read from section '{section}'.)") from None
    if measured is None:
        raise CheckFailed("REPORT.md: the test accuracy could not be measured in this run (the "
                          "accuracy test did not complete), so the stated one cannot be compared.")
    if abs(stated - measured) > tolerance:
        # the measured test accuracy is not printed: it would invite tuning on the test set
        raise CheckFailed(f"REPORT.md: you state a test accuracy of {stated:.1%}, which is more "
                          f"than {tolerance * 100:g} percentage points away from what training with your "
                          f"HYPERPARAMS gives in this grading run. Report what your final "
                          f"settings give.")
    return stated
