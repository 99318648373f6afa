"""The mutants of one assignment: curated (the Bug rows of its bugs.py) and generic (operator
mutants of the reference's solution regions), each with the test tags it runs under.

A mutant is data: the submitted files with its edits made (`files`), the tags whose tests it
runs (`tags`), and a digest over both (with the probe's version), the key of its cached
result. The per-function score counts a mutant under `function`: the mutated function for
a generic mutant, the first function a bug names for a curated one.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from grader import bugs
from grader.declaration import ROOT, load
from grader.framework import collect
from grader.mutants.operators import Mutation, mutations

CURATED, GENERIC, REFERENCE = "curated", "generic", "reference"
VERSION = "1"       # bump when what a mutant's cached result means changes


@dataclass(frozen=True)
class Mutant:
    """One mutated copy of the reference."""
    id: str
    kind: str                        # CURATED, GENERIC or REFERENCE (the unmutated baseline)
    function: str                    # what the score counts it under
    tags: tuple[str, ...]            # only the tests carrying one of these run
    story: str
    files: tuple[tuple[str, str], ...]   # (file name, text) of every submitted file
    changed: tuple[tuple[str, int, int], ...] = ()   # (file, first, last line) edited

    @property
    def digest(self) -> str:
        body = json.dumps([VERSION, sorted(self.tags), list(self.files)]).encode()
        return hashlib.sha256(body).hexdigest()

    def diff(self, reference: dict[str, str]) -> str:
        """A unified diff of the mutant against the reference."""
        out = []
        for name, text in self.files:
            out += difflib.unified_diff(reference[name].splitlines(keepends=True),
                                        text.splitlines(keepends=True),
                                        f"reference/{name}", f"mutant/{name}", n=2)
        return "".join(out)

    def write(self, dest: Path) -> Path:
        """The mutant's files in a new folder `dest`."""
        dest.mkdir(parents=True, exist_ok=True)
        for name, text in self.files:
            (dest / name).write_text(text)
        return dest


def reference_files(assignment: str) -> dict[str, str]:
    """The reference's submitted files (graded code and, e.g., REPORT.md) by name."""
    folder = ROOT / "reference" / assignment
    return {f: (folder / f).read_text() for f in load(assignment).submitted}


def test_tags(assignment: str) -> set[str]:
    return {t for s in collect(assignment) for t in s.tags}


def selection(assignment: str, tags: tuple[str, ...]) -> tuple[str, ...]:
    """The tags a mutant of `tags` is graded under: its own, and every other tag of the tests
    carrying them. A test's points may follow its functions' verdicts on hidden inputs
    (`grader.checks.verdicts`): without the hidden tests of its co-tags even the reference
    would score 0 on it, and nothing could be killed there."""
    wanted = set(tags)
    return tuple(sorted(wanted.union(*(s.tags for s in collect(assignment)
                                       if wanted & set(s.tags)))))


def tag_of(function: str, tags: set[str]) -> str | None:
    """The test tag a function's code is graded under: its qualified name, else the
    nearest enclosing name that is a tag (`outer.inner` -> `outer`, `Cls.__init__` ->
    `Cls`); None when no test carries it."""
    parts = function.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in tags:
            return ".".join(parts[:n])
    return None


def _changed_lines(old: str, new: str) -> tuple[int, int]:
    """First and last line of `new` that differ from `old` (1-based)."""
    a, b = old.splitlines(), new.splitlines()
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    tail = next((i for i, (x, y) in enumerate(zip(reversed(a), reversed(b))) if x != y),
                min(len(a), len(b)))
    return first + 1, max(first + 1, len(b) - tail)


def curated(assignment: str) -> list[Mutant]:
    """The Bug rows of the suite's table, as mutants."""
    return [from_bug(assignment, bug) for bug in bugs.table(assignment).bugs]


def from_bug(assignment: str, bug: bugs.Bug) -> Mutant:
    """A bug of the table (or one made up the same way) as a curated mutant."""
    ref = reference_files(assignment)
    files = bugs.edited_files(ROOT / "reference" / assignment, sorted(ref), bug.edits,
                              bug.append, where=f"{assignment} {bug.id}")
    changed = tuple((f, *_changed_lines(ref[f], t)) for f, t in sorted(files.items())
                    if t != ref[f])
    return Mutant(bug.id, CURATED, bug.loses[0], tuple(bug.loses), bug.story,
                  tuple(sorted(files.items())), changed)


def generic(assignment: str, sample: int | None = None, seed: int = 0) -> tuple[list[Mutant], int]:
    """Operator mutants of the graded files' solution regions whose function a test carries
    as a tag, and how many there were before sampling (`sample`: at most that many, drawn
    with `seed`, in source order)."""
    ref = reference_files(assignment)
    tags = test_tags(assignment)
    found: list[tuple[Mutation, str]] = []
    for name in load(assignment).graded:
        for m in mutations(name, ref[name]):
            tag = tag_of(m.function, tags)
            if tag is not None:
                found.append((m, tag))
    total = len(found)
    if sample is not None and sample < total:
        keep = sorted(random.Random(seed).sample(range(total), sample))
        found = [found[i] for i in keep]
    out = []
    for m, tag in found:
        files = dict(ref, **{m.file: m.apply(ref[m.file])})
        mid = f"{Path(m.file).stem}:{m.line}:{m.col}:{m.operator}:{m.new}"
        out.append(Mutant(mid, GENERIC, m.function, (tag,), f"{m.operator}: {m.old} -> {m.new}",
                          tuple(sorted(files.items())), ((m.file, m.line, m.end_line),)))
    return out, total


def baseline(assignment: str, tags: tuple[str, ...]) -> Mutant:
    """The unmutated reference run under `tags`: what a mutant's scores are compared with."""
    return Mutant("reference:" + "+".join(sorted(tags)), REFERENCE, "", tuple(sorted(tags)),
                  "the reference", tuple(sorted(reference_files(assignment).items())))
