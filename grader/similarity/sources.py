"""What the comparison reads: each submission's graded files (found and unpacked exactly as
`grade` does, through `grader.intake`), the stub's functions, and a staff boilerplate folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader import intake, safetext
from grader.declaration import Assignment, source_dir
from grader.runner import find_file, read_source
from grader.similarity.compare import Doc
from grader.similarity.normalize import Unit, file_units, stub_functions

FILE_MAX_BYTES = 1_000_000        # a graded file larger than this is read up to here


@dataclass(frozen=True)
class Stub:
    """The stub of each graded file: graded and given function names, and its text."""
    graded: dict[str, frozenset[str]]
    given: dict[str, frozenset[str]]
    text: dict[str, str]


def load_stub(decl: Assignment) -> Stub:
    graded, given, text = {}, {}, {}
    for filename in decl.graded:
        text[filename] = (source_dir("assignments") / decl.name / filename).read_text("utf-8")
        graded[filename], given[filename] = stub_functions(text[filename])
    return Stub(graded, given, text)


def unit_key(filename: str, name: str) -> str:
    """A unit's name across files: the function, after its file when there are several."""
    return f"{filename}: {name}"


def doc_from_texts(doc_id: str, texts: dict[str, str], stub: Stub, past: bool = False) -> Doc:
    """One submission's units from its graded files' text (a file it lacks is skipped)."""
    units: dict[str, Unit] = {}
    parsed = True
    for filename, text in texts.items():
        found, ok = file_units(text, stub.graded[filename], stub.given[filename])
        parsed = parsed and ok
        units.update((unit_key(filename, u.name), u) for u in found)
    return Doc(doc_id, units, past, parsed)


def stub_units(stub: Stub) -> list[Unit]:
    """Every function of the stub (graded and given): all of it is boilerplate."""
    out: list[Unit] = []
    for filename, text in stub.text.items():
        names = stub.graded[filename] | stub.given[filename]
        out.extend(file_units(text, names, frozenset())[0])
    return out


def boilerplate_units(folder: Path) -> list[Unit]:
    """Every function of every .py file below a staff folder of known public solutions."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"boilerplate folder {intake.display(folder)} is not a folder")
    out: list[Unit] = []
    for path in sorted(Path(folder).rglob("*.py")):
        if path.is_file() and not path.is_symlink():
            text = read_text(path)
            if text is not None:
                out.extend(file_units(text, frozenset(), frozenset())[0])
    return out


def read_text(path: Path) -> str | None:
    """A source file decoded as Python would (else as lenient UTF-8); None if unreadable."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(FILE_MAX_BYTES)
    except OSError:
        return None
    try:
        return read_source(raw)
    except (SyntaxError, LookupError, UnicodeDecodeError, ValueError):
        return raw.decode("utf-8", "replace")


@dataclass(frozen=True)
class Loaded:
    """A class read for comparison: docs, each one's file text (for display), and the rows
    that could not be compared (id, reason)."""
    docs: list[Doc]
    texts: dict[str, dict[str, str]]
    skipped: list[tuple[str, str]]


def load_class(decl: Assignment, stub: Stub, paths: list[Path], workdir: Path,
               exports: list[Path] = (), past_label: str | None = None) -> Loaded:
    """Every submission under `paths` (and Gradescope `exports`), unpacked into `workdir` by
    `intake.discover`; `past_label` marks an earlier term (ids become `label/id`)."""
    subs = intake.discover(paths, workdir, exports, reads=decl.graded)
    docs, texts, skipped = [], {}, []
    for sub in subs:
        doc_id = safetext.one_line(f"{past_label}/{sub.id}" if past_label else sub.id)
        if sub.status != intake.OK or sub.path is None:
            skipped.append((doc_id, safetext.one_line(f"{sub.status}: {sub.message}")))
            continue
        found = {}
        for filename in decl.graded:
            path = find_file(sub.path, filename)
            text = read_text(path) if path else None
            if text is not None:
                found[filename] = text
        if not found:
            skipped.append((doc_id, "none of the graded files"))
            continue
        docs.append(doc_from_texts(doc_id, found, stub, past=past_label is not None))
        texts[doc_id] = found
    return Loaded(docs, texts, skipped)
