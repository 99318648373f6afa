"""The mutation report: scores per assignment, per kind and per function, the kill matrix
(mutant x test), every surviving non-equivalent mutant as a diff with the tests that should
have caught it (`mutants.html`, through `grader.report.render`: autoescaping templates,
the same page style and CSP), and `mutants.csv` for staff (cells through `safetext.csv_cell`).
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from grader import results as res
from grader import safetext
from grader.framework import collect
from grader.mutants.catalog import CURATED, GENERIC
from grader.mutants.equivalence import EQUIVALENT
from grader.mutants.run import ERROR, KILLED, SURVIVED, TIMEOUT, Result

COUNTED = (KILLED, TIMEOUT, SURVIVED)      # non-equivalent, graded: what the score counts


@dataclass(frozen=True)
class Score:
    """Killed (a test or the mutation budget) out of the non-equivalent mutants."""
    killed: int
    survived: int
    equivalent: int
    errors: int

    @property
    def total(self) -> int:
        return self.killed + self.survived

    @property
    def percent(self) -> float | None:
        return 100.0 * self.killed / self.total if self.total else None

    def text(self) -> str:
        p = self.percent
        return (f"{self.killed}/{self.total} killed" + (f" ({p:.1f} %)" if p is not None else "")
                + f", {self.equivalent} equivalent" + (f", {self.errors} errors" if self.errors
                                                        else ""))


def score(results: list[Result]) -> Score:
    return Score(sum(r.status in (KILLED, TIMEOUT) for r in results),
                 sum(r.status == SURVIVED for r in results),
                 sum(r.status == EQUIVALENT for r in results),
                 sum(r.status == ERROR for r in results))


def by(results: list[Result], key) -> dict[str, Score]:
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups[key(r)].append(r)
    return {k: score(v) for k, v in sorted(groups.items())}


def survivors(results: list[Result]) -> list[Result]:
    """The surviving non-equivalent mutants, curated first."""
    return sorted((r for r in results if r.status == SURVIVED),
                  key=lambda r: (r.mutant.kind != CURATED, r.mutant.function, r.mutant.id))


def should_catch(assignment: str, result: Result) -> list[str]:
    """'number name' of the tests carrying the mutant's tags: those that should have caught it."""
    tags = set(result.mutant.tags)
    return [f"{s.number} {s.name}" for s in collect(assignment) if tags & set(s.tags)]


def csv_text(assignment: str, results: list[Result]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["assignment", "mutant", "kind", "function", "status", "killed_by", "story",
                "seconds", "cached", "detail"])
    for r in results:
        w.writerow([safetext.csv_cell(v) for v in (
            assignment, r.mutant.id, r.mutant.kind, r.mutant.function, r.status,
            " ".join(r.killers), r.mutant.story, f"{r.seconds:.2f}", int(r.cached), r.detail)])
    return out.getvalue()


def _cell(r: Result, number: str) -> tuple[str, str]:
    """(text, css class) of one kill-matrix cell."""
    if number not in r.scores:
        return "", "na"
    if number in r.killers:
        return "K", "fail"
    return "·", "pass"


def html_page(assignment: str, results: list[Result], reference: dict[str, str],
              notes: list[str]) -> str:
    from grader.report import render
    numbers = sorted({n for r in results for n in r.scores},
                     key=lambda n: tuple(int(p) for p in n.split(".")))
    names = {s.number: s.name for s in collect(assignment)}
    rows = [{"r": r, "cells": [_cell(r, n) for n in numbers]} for r in results]
    kept = [{"r": r, "diff": r.mutant.diff(reference), "tests": should_catch(assignment, r)}
            for r in survivors(results)]
    return render("mutants.html", f"Mutation analysis: {assignment}", script=True,
                  total=score(results).text(),
                  kinds={k: s.text() for k, s in by(results, lambda r: r.mutant.kind).items()},
                  functions=by(results, lambda r: r.mutant.function), numbers=numbers,
                  test_names=names, rows=rows, survivors=kept, notes=notes)


def write(out: Path, assignment: str, results: list[Result], reference: dict[str, str],
          notes: list[str]) -> tuple[Path, Path]:
    """OUT/mutants.html and OUT/mutants.csv, written atomically."""
    page, table = Path(out) / "mutants.html", Path(out) / "mutants.csv"
    res.write_text_atomic(page, html_page(assignment, results, reference, notes))
    res.write_text_atomic(table, csv_text(assignment, results))
    return page, table


def summary_text(assignment: str, results: list[Result]) -> str:
    """The terminal summary: scores and every survivor, one line each."""
    lines = [f"{assignment}: {score(results).text()}"]
    for kind in (CURATED, GENERIC):
        part = [r for r in results if r.mutant.kind == kind]
        if part:
            lines.append(f"  {kind}: {score(part).text()}")
    for r in survivors(results):
        lines.append(f"  survived: [{r.mutant.kind}] {r.mutant.function}: {r.mutant.id} "
                     f"({r.mutant.story}) - {r.detail}")
    return safetext.terminal("\n".join(lines))
