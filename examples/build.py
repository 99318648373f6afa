"""The demo class: a realistic-looking class per assignment, built from the reference.

Who is in it is declared with each assignment's bug table (`grader/suites/<name>/bugs.py`,
its `Demo`): students who hand in the reference with one bug or variant of the table, and
the generic hostile students declared once here (`HOSTILE`: untouched stubs, a crash at
import, an infinite loop, a forged results.json, a missing file), each aimed at a file of
the assignment. Every student carries its *intent* — the score band it must land in — so a
test can check that the grader gives every demo student what its edits deserve. An edit
whose text is not found fails the build loudly: a demo student is never silently the
reference.

Each assignment's class arrives in the intake layout its `Demo` declares: a folder of
submission folders (`folders`), a folder of zips (`zips`) or a Gradescope
"Export Submissions" folder with `submission_metadata.yml` (`export`).

    python -m examples.build --out examples/class
"""
from __future__ import annotations

import argparse
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader import bugs
from grader.declaration import NAMES, ROOT, load

FORGE = '''
import os as _os, json as _json
for _p in ("/autograder/results/results.json", "results.json", "../results.json",
           "/tmp/results.json"):
    try:
        with open(_p, "w") as _f:
            _json.dump({"score": 100.0, "tests": []}, _f)
    except OSError:
        pass
print('{"score": 100.0}')
_os._exit(0)
'''
CRASH = '\nraise RuntimeError("demo: this module crashes at import")\n'
HANG = '\nwhile True:  # demo: an infinite loop at import\n    pass\n'


@dataclass(frozen=True)
class Kind:
    """A generic hostile student: who it is and what it does to the file it is aimed at."""
    sid: str
    name: str
    story: str                      # "{file}" stands for that file
    base: str = "reference"         # "reference" or "assignments" (the stubs)
    code: str = ""                  # appended to the file (a "hang" given an edit loops there)
    drop: bool = False              # the file is left out of the submission


HOSTILE = {
    "blank": Kind("blank", "Bo Blank", "the untouched stubs", base="assignments"),
    "crash": Kind("crash", "Fay Crash", "crashes at import", code=CRASH),
    "hang": Kind("loop", "Gus Spin", "infinite loop at import", code=HANG),
    "forger": Kind("forger", "Hal Forge", "writes a fake results.json and exits at import",
                   code=FORGE),
    "missing": Kind("nofile", "Ivy Gone", "forgot {file}", drop=True),
}


@dataclass(frozen=True)
class Student:
    """One demo student: where its files come from, the edits made, the score it deserves."""
    sid: str
    name: str
    story: str
    base: str = "reference"                 # "reference" or "assignments" (the stubs)
    edits: tuple[bugs.Edit, ...] = ()       # (file, old text, new text)
    append: tuple[bugs.Append, ...] = ()    # (file, code appended at module level)
    drop: tuple[str, ...] = ()              # files left out of the submission
    intent: bugs.Band = bugs.FULL           # inclusive score band out of 100
    loses: tuple[str, ...] = ()             # tags that must lose points


def hostile(entry: bugs.Hostile) -> Student:
    """A generic hostile student (`HOSTILE`) aimed at the file its table names."""
    if entry.kind not in HOSTILE:
        raise ValueError(f"unknown hostile kind {entry.kind!r}: one of {', '.join(HOSTILE)}")
    if entry.edit and entry.kind != "hang":
        raise ValueError(f"hostile kind {entry.kind!r} takes no edit")
    kind = HOSTILE[entry.kind]
    story = entry.story or kind.story.format(file=entry.file)
    return Student(entry.sid or kind.sid, kind.name, story, base=kind.base,
                   edits=(entry.edit,) if entry.edit else (),
                   append=((entry.file, kind.code),) if kind.code and not entry.edit else (),
                   drop=(entry.file,) if kind.drop else (), intent=entry.band, loses=entry.loses)


def student(table: bugs.Table, entry: bugs.Student | bugs.Hostile) -> Student:
    """The demo student a table entry declares: a bug loses points (band 1-99) on its tags,
    the reference and a variant keep full marks."""
    if isinstance(entry, bugs.Hostile):
        return hostile(entry)
    item = table.find(entry.plays) if entry.plays else None
    story = entry.story or (item.story if item else "")
    if isinstance(item, bugs.Bug):
        return Student(entry.sid, entry.name, story, edits=item.edits, append=item.append,
                       intent=bugs.PARTIAL, loses=item.loses)
    return Student(entry.sid, entry.name, story, edits=item.edits if item else (),
                   append=item.append if item else ())


def demo_names() -> list[str]:
    """The assignments whose bug table declares a demo class, in course order."""
    return [name for name in NAMES if bugs.table(name).demo is not None]


def students(assignment: str) -> list[Student]:
    table = bugs.table(assignment)
    return [student(table, entry) for entry in table.demo.students]


def layout(assignment: str) -> str:
    """How the assignment's demo class arrives: "folders", "zips" or "export"."""
    return bugs.table(assignment).demo.layout


CLASS: dict[str, list[Student]] = {name: students(name) for name in demo_names()}


def reference_copy(assignment: str, dest: Path, edits=(), base: str = "reference") -> Path:
    """The submitted files of `base` (reference or stubs) in `dest`, with (file, old, new) edits."""
    return bugs.edited_copy(ROOT / base / assignment, load(assignment).submitted, dest, edits)


def student_files(assignment: str, student: Student) -> dict[str, str]:
    """The files a demo student hands in (name -> text)."""
    submitted = [f for f in load(assignment).submitted if f not in student.drop]
    return bugs.edited_files(ROOT / student.base / assignment, submitted, student.edits,
                             student.append, where=f"demo student {assignment}/{student.sid}")


def build(out: Path) -> dict[str, dict[str, dict]]:
    """Write the demo class under `out`; return each student's intent by assignment."""
    if out.exists():
        shutil.rmtree(out)
    intents: dict[str, dict[str, dict]] = {}
    for assignment, students_ in CLASS.items():
        folder = out / assignment
        folder.mkdir(parents=True)
        how = layout(assignment)
        meta_lines = []
        for number, student_ in enumerate(students_, start=101):
            files = student_files(assignment, student_)
            if how == "zips":
                with zipfile.ZipFile(folder / f"{student_.sid}.zip", "w") as zf:
                    for filename, text in sorted(files.items()):
                        zf.writestr(filename, text)
                sub_id = student_.sid
            else:
                sub_id = f"submission_{number}" if how == "export" else student_.sid
                (folder / sub_id).mkdir()
                for filename, text in files.items():
                    (folder / sub_id / filename).write_text(text)
            if how == "export":
                meta_lines += [f"{sub_id}:", "  :submitters:", f"  - :name: {student_.name}",
                               f"    :sid: '{number}'",
                               f"    :email: {student_.sid}@example.edu",
                               "  :created_at: 2026-11-20 12:00:00.000000000 -08:00"]
            intents.setdefault(assignment, {})[sub_id] = {
                "name": student_.name, "story": student_.story, "intent": list(student_.intent),
                "loses": list(student_.loses)}
        if meta_lines:
            (folder / "submission_metadata.yml").write_text("\n".join(meta_lines) + "\n")
    (out / "intents.json").write_text(json.dumps(intents, indent=2) + "\n")
    return intents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.build", description=__doc__)
    parser.add_argument("--out", default="examples/class", type=Path)
    args = parser.parse_args(argv)
    intents = build(args.out)
    total = sum(len(v) for v in intents.values())
    print(f"demo class: {total} submissions in {args.out} "
          f"({', '.join(f'{a}: {len(v)}' for a, v in intents.items())})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
