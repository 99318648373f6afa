"""Bug tables: what a suite must catch, and what it must let pass, as data.

Each assignment's `grader/suites/<name>/bugs.py` declares `TABLE`, a `Table` of
- `Bug`s: realistic mistakes, each a few (file, old text, new text) edits of a copy of
  `reference/<name>/`, with the tags (graded functions) on which it must lose points;
- `Variant`s: correct code written differently, which must keep full marks;
- the `Demo` class of `make grade`: which bugs and variants its students play, plus the
  generic hostile students (blank stubs, crash, hang, forger, missing file; built by
  `examples/build.py`), and the intake layout the class arrives in.

The suite tests (`tests/test_suite_bugs.py`), the demo class and mutation analysis draw their
bugs from these tables. Grading never imports this module or the tables; the student release
and the autograder leave them out (`publish/release.py`).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

Edit = tuple[str, str, str]          # (file, old text, new text); old occurs exactly once
Append = tuple[str, str]             # (file, code added at module level)
Band = tuple[float, float]           # inclusive score band out of 100

FULL: Band = (100.0, 100.0)
ZERO: Band = (0.0, 0.0)
PARTIAL: Band = (1.0, 99.0)
LAYOUTS = ("folders", "zips", "export")   # a folder per student, a zip each, a Gradescope export


@dataclass(frozen=True)
class Bug:
    """A realistic mistake: it must lose points on a test tagged with each of `loses`."""
    id: str
    story: str                       # what the student got wrong, in a few words
    loses: tuple[str, ...]           # graded functions (test tags) that must lose points
    edits: tuple[Edit, ...] = ()
    append: tuple[Append, ...] = ()  # e.g. a whole function redefined after the original

    def __post_init__(self) -> None:
        if not self.loses or not (self.edits or self.append):
            raise ValueError(f"bug {self.id}: needs the tags it loses points on and its edits")


@dataclass(frozen=True)
class Variant:
    """Correct code that differs from the reference: it must keep full marks."""
    id: str
    story: str
    edits: tuple[Edit, ...] = ()
    append: tuple[Append, ...] = ()  # e.g. a whole function redefined after the original


@dataclass(frozen=True)
class Student:
    """A demo student who hands in the reference with one bug or variant of the table
    (`plays`; "" for the reference as is). The band follows: 1-99 for a bug, 100 otherwise."""
    sid: str
    name: str
    plays: str = ""
    story: str = ""                  # default: the bug's or variant's story


@dataclass(frozen=True)
class Hostile:
    """A demo student of one of the generic hostile kinds that `examples/build.py` declares
    ("blank", "crash", "hang", "forger", "missing"), aimed at one file of this assignment."""
    kind: str
    file: str = ""                   # the file it crashes, hangs or forges in, or leaves out
    band: Band = ZERO
    loses: tuple[str, ...] = ()      # tags that must lose points (a partial band)
    story: str = ""                  # default: the kind's
    sid: str = ""                    # default: the kind's
    edit: Edit | None = None         # "hang" inside a function (default: at import)


@dataclass(frozen=True)
class Demo:
    """One assignment's part of the demo class: its students, in order, and its layout."""
    layout: str
    students: tuple[Union[Student, Hostile], ...]

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"demo layout {self.layout!r}: one of {', '.join(LAYOUTS)}")


@dataclass(frozen=True)
class Quick:
    """How the suite tests check a table whose whole gradings take minutes: a bug runs only
    the tests tagged with its `loses`, a variant only the tests of `variant_sections` (the
    first number of a test's number), never the tests in `skip`; one unisolated worker."""
    skip: tuple[str, ...] = ()       # test numbers, e.g. a bounded training run
    variant_sections: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """Everything one assignment's bugs.py declares."""
    bugs: tuple[Bug, ...]
    variants: tuple[Variant, ...] = ()
    demo: Demo | None = None
    quick: Quick | None = None       # None: the suite tests grade whole submissions

    def __post_init__(self) -> None:
        ids = [b.id for b in self.bugs] + [v.id for v in self.variants]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"bug table: ids used twice: {dup}")
        unknown = [s.plays for s in self.demo.students if isinstance(s, Student)
                   and s.plays and s.plays not in ids] if self.demo else []
        if unknown:
            raise ValueError(f"demo students play bugs the table does not have: {unknown}")

    def find(self, id_: str) -> Bug | Variant:
        """The bug or variant called `id_`."""
        for item in self.bugs + self.variants:
            if item.id == id_:
                return item
        raise KeyError(id_)


def table(assignment: str) -> Table:
    """`grader/suites/<assignment>/bugs.py`'s TABLE."""
    return importlib.import_module(f"grader.suites.{assignment}.bugs").TABLE


# -- making the submissions ---------------------------------------------------------------
def apply_edit(text: str, old: str, new: str, where: str) -> str:
    """Replace `old`, which must occur exactly once, so a changed reference is noticed."""
    if text.count(old) != 1:
        raise ValueError(f"{where}: the text to edit was not found exactly once: {old[:60]!r}")
    return text.replace(old, new)


def edited_files(source: Path, filenames: Iterable[str], edits: Iterable[Edit] = (),
                 append: Iterable[Append] = (), where: str = "") -> dict[str, str]:
    """`filenames` read from `source`, with the edits made and the code appended."""
    files = {f: (source / f).read_text() for f in filenames}
    for filename, old, new in edits:
        files[filename] = apply_edit(files[filename], old, new, f"{where or source}/{filename}")
    for filename, code in append:
        files[filename] += code
    return files


def edited_copy(source: Path, filenames: Iterable[str], dest: Path, edits: Iterable[Edit] = (),
                append: Iterable[Append] = ()) -> Path:
    """A new folder `dest` holding `edited_files(...)`."""
    dest.mkdir(parents=True)
    for filename, text in edited_files(source, filenames, edits, append).items():
        (dest / filename).write_text(text)
    return dest
