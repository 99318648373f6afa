"""similarity.html and similarity.csv from a comparison. Every id, file name and source line
is student text: it goes through `grader.safetext` here, and the page is rendered by the
class report's autoescaping Jinja2 environment (`grader.report.render`, same CSP)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import safetext
from grader.similarity.compare import (Comparison, Pair, UnitMatch, clusters, span_lines,
                                       unit_flagged)
from grader.similarity.normalize import Unit

TABLE_ROWS = 200           # pairs listed in the page's table (all are in the CSV)
DETAILS = 30               # pairs shown side by side
LINE_CHARS = 160           # characters of one source line shown
UNIT_LINES = 120           # lines of one function shown
VERDICT_NOTE = ("Similarity is evidence for a person to read, never a verdict. A high score "
                "says that two submissions share code their authors wrote beyond the starter "
                "code and beyond what much of the class wrote; it does not say who copied, "
                "whether help was allowed, or whether both used the same outside source. Read "
                "the code side by side and talk to the students before concluding anything.")


@dataclass(frozen=True)
class Facts:
    """What the page says about the run besides the pairs."""
    assignment: str
    title: str
    current: int
    past: int
    skipped: list[tuple[str, str]]
    boilerplate: str
    seconds: float
    unparsed: list[str]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _listing(text: str, unit: Unit, hits: frozenset[int]) -> list[dict[str, Any]]:
    """The function's lines: its `def` line, then from its first compared line (the stub's
    docstring left out) to its end, at most UNIT_LINES of them."""
    lines = text.split("\n")
    start = max(unit.first + 1, min(unit.lines, default=unit.first + 1))
    last = min(unit.last, len(lines), start + UNIT_LINES - 1)
    numbers = [unit.first] + list(range(start, last + 1))
    return [{"n": n, "text": safetext.clean(lines[n - 1].expandtabs(4), LINE_CHARS),
             "hit": n in hits, "gap": i == 1 and n > unit.first + 1}
            for i, n in enumerate(numbers) if 0 < n <= len(lines)]


def _file_of(unit: str) -> str:
    return unit.split(": ", 1)[0]


def _side(texts: dict[str, dict[str, str]], units: dict[str, dict[str, Unit]],
          doc: str, m: UnitMatch, spans: tuple[tuple[int, int], ...]) -> list[dict[str, Any]]:
    unit = units[doc].get(m.unit)
    text = texts.get(doc, {}).get(_file_of(m.unit), "")
    if unit is None or not text:
        return []
    return _listing(text, unit, span_lines(unit, spans))


def _pair_row(rank: int, p: Pair, cluster_of: dict[str, int], c: Comparison) -> dict[str, Any]:
    return {"rank": rank, "a": safetext.one_line(p.a), "b": safetext.one_line(p.b),
            "score": _pct(p.score), "shared": p.shared, "flagged": p.flagged,
            "cluster": cluster_of.get(p.a, "") if p.flagged else "",
            "units": [{"unit": safetext.one_line(m.unit), "score": _pct(m.score),
                       "flagged": unit_flagged(m, c.settings)} for m in p.units[:4]]}


def context(c: Comparison, facts: Facts, texts: dict[str, dict[str, str]],
            units: dict[str, dict[str, Unit]]) -> dict[str, Any]:
    """Everything the template shows, as plain clean data."""
    flagged = [p for p in c.pairs if p.flagged]
    groups = clusters([(p.a, p.b) for p in flagged])
    cluster_of = {m: i + 1 for i, g in enumerate(groups) for m in g}
    rows = [_pair_row(i + 1, p, cluster_of, c) for i, p in enumerate(c.pairs[:TABLE_ROWS])]
    shown = flagged[:DETAILS] or c.pairs[:1]
    details = []
    for p in shown:
        rank = c.pairs.index(p) + 1
        parts = []
        for m in p.units:
            if not m.shared:
                continue
            parts.append({"unit": safetext.one_line(m.unit), "score": _pct(m.score),
                          "shared": m.shared, "flagged": unit_flagged(m, c.settings),
                          "left": _side(texts, units, p.a, m, m.spans_a),
                          "right": _side(texts, units, p.b, m, m.spans_b)})
        details.append({"rank": rank, "a": safetext.one_line(p.a), "b": safetext.one_line(p.b),
                        "score": _pct(p.score), "flagged": p.flagged, "parts": parts})
    by_unit: dict[str, list[tuple[str, str]]] = {}
    for p in c.pairs:
        for m in p.units:
            if unit_flagged(m, c.settings):
                by_unit.setdefault(m.unit, []).append((p.a, p.b))
    functions = [{"unit": safetext.one_line(u),
                  "clusters": [[safetext.one_line(x) for x in g] for g in clusters(edges)],
                  "pairs": len(edges)} for u, edges in sorted(by_unit.items())]
    s = c.settings
    return {
        "note": VERDICT_NOTE, "facts": facts, "settings": s,
        "skipped": [(safetext.one_line(i), safetext.one_line(r)) for i, r in facts.skipped],
        "unparsed": [safetext.one_line(u) for u in facts.unparsed],
        "n_pairs": len(c.pairs), "n_flagged": len(flagged), "ignored": c.ignored_common,
        "candidates": c.candidates, "rows": rows, "more_rows": max(0, len(c.pairs) - TABLE_ROWS),
        "clusters": [[safetext.one_line(x) for x in g] for g in groups],
        "functions": functions, "details": details,
        "threshold": _pct(s.threshold),
    }


def write_html(out: Path, ctx: dict[str, Any]) -> Path:
    from grader.report import render
    path = Path(out) / "similarity.html"
    title = safetext.one_line(f"Similarity — {ctx['facts'].title}")
    path.write_text(render("similarity.html", title, **ctx), encoding="utf-8")
    return path


CSV_COLUMNS = ("rank", "a", "b", "score", "shared_tokens", "flagged", "cluster", "functions")


def write_csv(out: Path, c: Comparison) -> Path:
    """Every scored pair, best first; cells through `safetext.csv_cell`."""
    groups = clusters([(p.a, p.b) for p in c.pairs if p.flagged])
    cluster_of = {m: i + 1 for i, g in enumerate(groups) for m in g}
    path = Path(out) / "similarity.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for rank, p in enumerate(c.pairs, 1):
            units = "; ".join(f"{m.unit} {m.score:.2f}" for m in p.units)
            w.writerow([safetext.csv_cell(v, 2000) for v in (
                rank, p.a, p.b, round(p.score, 4), p.shared, int(p.flagged),
                cluster_of.get(p.a, "") if p.flagged else "", units)])
    return path
