"""Checks of a submitted Markdown report (two_layer_net's REPORT.md), on the trusted side.

The report is read as text by the runner (never executed). A section is a Markdown heading
(`#`..`######`) whose text contains the required title (case-insensitive, ignoring numbering
and punctuation) and the lines up to the next heading. A section is

empty when nothing but whitespace, HTML comments, placeholders (`TODO`, `<fill in>`) or lines
copied unchanged from the same section of the template (the stub's REPORT.md) is left.

Stated values are read from the relevant section (the whole report when that section is
missing): numbers like 64, 0.5, 5e-1, 5 x 10^-1, 1,000 and 93% (a percentage or a number in
(1, 100] is read as a fraction when an accuracy is meant). The template asks for
`Name: value` lines ("Hidden layer size: 64", "Test accuracy: 0.94"); when such a line is
present only its numbers count. Otherwise a value counts as stated when one of the numbers on
a line naming it (e.g. "batch") equals it, and without such a line any number in the section;
the test accuracy is then the number following the word "test" on a line (up to the next
"train"/"val"), or the "test" column of a Markdown table.

    sections(text) -> [(heading, body)]
    check_sections(text, required, template=None) -> {title: body}   CheckFailed on missing,
        empty or out-of-order sections
    labelled_numbers(body, label, fractions=False) -> [float] | None   from "Label: value" lines
    stated_numbers(body, keywords) -> [float]
    check_stated_value(text, section, keywords, value, label)
    stated_test_accuracy(body) -> [float]
    check_test_accuracy(text, section, measured, tolerance, label="Test accuracy")
"""
from __future__ import annotations

import math
import re
from typing import Iterable

from grader.framework import CheckFailed

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_PLACEHOLDER = re.compile(r"\b(todo|tbd|fill (this |me )?in)\b[:.!]*|<[A-Za-z .]*>", re.I)
_NUMBER = re.compile(
    r"(?<![\w.])([-+]?(?:\d+\.\d*|\.\d+|\d+))"            # mantissa
    r"(?:\s*(?:[x×*·]|\\times)\s*10\s*\^?\s*\{?\s*([-−+]?\d+)\s*\}?"   # 5 x 10^-1
    r"|([eE][-+]?\d+))?"                                  # 5e-1
    r"(\s*%)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TEST_WORD = re.compile(r"\btest(?:ing)?\b", re.I)
_OTHER_SPLIT = re.compile(r"\b(train(?:ing)?|val(?:idation)?)\b", re.I)


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", s.lower()).split())


def sections(text: str) -> list[tuple[str, str]]:
    """(heading text, body) for every heading; fenced code blocks are not headings."""
    out: list[tuple[str, list[str]]] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m:
            out.append((m.group(2), []))
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
    body = _COMMENT.sub(" ", body)
    if template_body:
        given = {ln.strip() for ln in _COMMENT.sub(" ", template_body).splitlines()}
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


def labelled_numbers(body: str, label: str, *, fractions: bool = False) -> list[float] | None:
    """Numbers on "Label: value" lines of `body` (any case, optional list marker or bold),
    or None when there is no such line."""
    pattern = re.compile(rf"^[\s>*_-]*{re.escape(label)}[\s*_]*[:=](.*)$", re.I)
    lines = [m.group(1) for ln in _COMMENT.sub(" ", body).splitlines()
             if (m := pattern.match(ln))]
    if not lines:
        return None
    return [v for ln in lines for v in _numbers(ln, fractions=fractions)]


def stated_numbers(body: str, keywords: Iterable[str]) -> list[float]:
    """Numbers on the lines of `body` that mention a keyword (matched at a word start, any
    case); all its numbers when no line does."""
    pattern = re.compile("|".join(rf"\b{re.escape(k)}" for k in keywords), re.I)
    lines = [ln for ln in _COMMENT.sub(" ", body).splitlines() if pattern.search(ln)]
    return _numbers("\n".join(lines)) if lines else _numbers(_COMMENT.sub(" ", body))


def _equal(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def check_stated_value(text: str | None, section: str, keywords: Iterable[str],
                       value: float, label: str) -> None:
    """CheckFailed unless the report states `value` for `label` (see module doc)."""
    if text is None:
        raise CheckFailed("REPORT.md was not submitted.")
    body = find_section(text, section)
    body = body if body is not None else text
    candidates = labelled_numbers(body, label)
    if candidates is None:
        candidates = stated_numbers(body, keywords)
    if not candidates and labelled_numbers(body, label) is not None:
        raise CheckFailed(f"REPORT.md: the '{label}:' line is not filled in (HYPERPARAMS has "
                          f"{value:g}).")
    if not any(_equal(c, float(value)) for c in candidates):
        said = ", ".join(f"{c:g}" for c in candidates[:6]) or "no number"
        raise CheckFailed(f"REPORT.md: the {label.lower()} you state ({said}, in section "
                          f"'{section}') "
                          f"does not match HYPERPARAMS, which has {value:g}. Report the values "
                          f"the grader trains with.")


def _table_column(body: str) -> list[float]:
    """Values of a Markdown table's column headed 'test...'."""
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
        elif col < len(cells) and not re.fullmatch(r"[-: ]+", cells[col]):
            out += _numbers(cells[col], fractions=True)
    return out


def stated_test_accuracy(body: str) -> list[float]:
    """Candidate test accuracies stated in `body`, as fractions."""
    body = _COMMENT.sub(" ", body)
    out: list[float] = []
    for line in body.splitlines():
        for m in _TEST_WORD.finditer(line):
            rest = line[m.end():]
            stop = _OTHER_SPLIT.search(rest)
            out += _numbers(rest[:stop.start()] if stop else rest, fractions=True)
    return out + _table_column(body)


def check_test_accuracy(text: str | None, section: str, measured: float | None,
                        tolerance: float, label: str = "Test accuracy") -> float:
    """The stated test accuracy must be within `tolerance` of the one measured in this run."""
    if text is None:
        raise CheckFailed("REPORT.md was not submitted.")
    body = find_section(text, section)
    body = body if body is not None else text
    stated = labelled_numbers(body, label, fractions=True)
    candidates = [c for c in (stated_test_accuracy(body) if stated is None else stated)
                  if 0.0 <= c <= 1.0]
    if stated is not None and not candidates:
        raise CheckFailed(f"REPORT.md: the '{label}:' line is not filled in (a number like 0.93 "
                          "or 93% is expected).")
    if not candidates:
        raise CheckFailed(f"REPORT.md: no test accuracy found in section '{section}'. State it on "
                          f"a line like '{label}: 0.93' (or 93%).")
    if measured is None:
        raise CheckFailed("REPORT.md: the test accuracy could not be measured in this run (the "
                          "accuracy test did not complete), so the stated one cannot be compared.")
    best = min(candidates, key=lambda c: abs(c - measured))
    if abs(best - measured) > tolerance:
        raise CheckFailed(f"REPORT.md: you state a test accuracy of {best:.1%}, but training with "
                          f"your HYPERPARAMS gave {measured:.1%} in this grading run (allowed "
                          f"difference {tolerance:g}). Report what your final settings give.")
    return best
