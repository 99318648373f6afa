"""Write the student stubs in `assignments/` from the solutions in `reference/` (`make stubs`).

    python -m publish.stubs            # (re)write assignments/
    python -m publish.stubs --check    # exit 1 listing stale files if assignments/ is out of date

What is published: for every assignment (grader/declaration.py NAMES) its graded files, the
given helpers that live in its own folder, its report template and its README.md go to
`assignments/<name>/`; the given helpers that `given_path` resolves to `reference/common/` go
to `assignments/common/`. Everything comes from the declarations; any other file in
`reference/` is staff-only and is never published. Files of `assignments/` that the generator
would not write are deleted (`__pycache__` folders are ignored), so the folder is exactly the
generated set, and the output is byte-stable: running it twice changes nothing.

Solution regions (Python):

    # BEGIN SOLUTION                     or   # BEGIN SOLUTION: <what this part does>
    ...solution lines...
    # END SOLUTION

Both markers are whole lines; the region's indentation is that of its BEGIN line. Regions do
not nest. In the stub the region is replaced by

* its `# STUB: <line>` comments, if it has any: each becomes `<line>` at the indentation of the
  comment (`# STUB:` alone gives an empty line). Use this where the code must stay valid
  without a function to raise from, e.g. inside the HYPERPARAMS dict:
        HYPERPARAMS = {
            # BEGIN SOLUTION
            # STUB: "learning_rate": None,   # TODO
            "learning_rate": 0.5,
            # END SOLUTION
        }
* otherwise, inside a function or method (found with `ast`):
  `raise NotImplementedError("<qualname>: not implemented")`, or with a BEGIN label
  `raise NotImplementedError("<qualname>: not implemented (<label>)")`, e.g.
  "TwoLayerNet.loss: not implemented (the forward pass)";
* otherwise (module or class level): `# TODO: write this part` - the file must still parse,
  which the generator checks.
Docstrings and code outside the regions are kept, so docstrings say what to write.

Markdown files (`.md`) use the same markers inside HTML comments, each on its own line:
`<!-- BEGIN SOLUTION -->`, `<!-- END SOLUTION -->` and `<!-- STUB: <line> -->`; a region
without STUB lines simply disappears. Files of any other type, and files without regions,
are copied verbatim.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from grader import declaration

ROOT = declaration.ROOT
REFERENCE = ROOT / "reference"
ASSIGNMENTS = ROOT / "assignments"
IGNORED_DIRS = {"__pycache__"}


@dataclass(frozen=True)
class Syntax:
    """How the markers are spelled in one kind of file."""
    begin: re.Pattern[str]
    end: re.Pattern[str]
    stub: re.Pattern[str]


PYTHON = Syntax(
    begin=re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?::\s*(?P<label>.*?))?\s*$"),
    end=re.compile(r"^[ \t]*# END SOLUTION\s*$"),
    stub=re.compile(r"^(?P<indent>[ \t]*)# STUB:(?: (?P<text>.*?))?\s*$"),
)
MARKDOWN = Syntax(
    begin=re.compile(r"^(?P<indent>[ \t]*)<!-- BEGIN SOLUTION(?::\s*(?P<label>.*?))?\s*-->\s*$"),
    end=re.compile(r"^[ \t]*<!-- END SOLUTION\s*-->\s*$"),
    stub=re.compile(r"^(?P<indent>[ \t]*)<!-- STUB:(?: (?P<text>.*?))?\s*-->\s*$"),
)
SYNTAX_BY_SUFFIX = {".py": PYTHON, ".md": MARKDOWN}


class StubError(ValueError):
    """A malformed region in a reference file (the message names file and line)."""


@dataclass(frozen=True)
class Region:
    """One solution region: 1-based line numbers of its BEGIN and END markers."""
    begin: int
    end: int
    indent: str
    label: str | None
    stub_lines: tuple[str, ...]      # replacement lines given with STUB comments (indented)
    qualname: str | None             # the enclosing function (Python), if any
    body: tuple[str, ...]            # the solution lines (everything but the markers)

    def replacement(self, python: bool) -> list[str]:
        """The stub lines that take the region's place (see the module docstring)."""
        if self.stub_lines:
            return list(self.stub_lines)
        if self.qualname:
            what = f" ({self.label})" if self.label else ""
            message = f"{self.qualname}: not implemented{what}"
            quoted = '"' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'
            return [f"{self.indent}raise NotImplementedError({quoted})"]
        return [f"{self.indent}# TODO: write this part"] if python else []


def _syntax(filename: str) -> Syntax | None:
    return SYNTAX_BY_SUFFIX.get(Path(filename).suffix)


def _function_spans(source: str, filename: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualname) of every function and method, outermost first."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise StubError(f"{filename}:{exc.lineno}: the reference does not parse: {exc.msg}")
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def find_regions(source: str, filename: str) -> list[Region]:
    """The solution regions of one reference file, in order; [] for other file types."""
    syntax = _syntax(filename)
    if syntax is None:
        return []
    spans = _function_spans(source, filename) if syntax is PYTHON else []
    lines = source.splitlines()
    regions: list[Region] = []
    open_at: int | None = None
    for number, line in enumerate(lines, start=1):
        if syntax.begin.match(line):
            if open_at is not None:
                raise StubError(f"{filename}:{number}: BEGIN SOLUTION inside the region "
                                f"opened at line {open_at} (regions do not nest)")
            open_at = number
        elif syntax.end.match(line):
            if open_at is None:
                raise StubError(f"{filename}:{number}: END SOLUTION without a BEGIN SOLUTION")
            regions.append(_region(lines, open_at, number, syntax, spans))
            open_at = None
        elif syntax.stub.match(line) and open_at is None:
            raise StubError(f"{filename}:{number}: a STUB line outside any solution region")
    if open_at is not None:
        raise StubError(f"{filename}:{open_at}: BEGIN SOLUTION never closed by END SOLUTION")
    return regions


def solution_lines(reference: Path | None = None, min_length: int = 16) -> frozenset[str]:
    """Distinctive lines from inside the reference's solution regions, found nowhere outside
    them: what must never appear in anything shipped to students. Lines shorter than
    `min_length` (e.g. `scores = X @ W`) also occur in the grader's own checks."""
    reference = reference or ROOT / "reference"
    inside, outside = set(), set()
    for p in sorted(reference.rglob("*")):
        if p.suffix not in (".py", ".md"):
            continue
        text = p.read_text()
        marked = {i for r in find_regions(text, p.name) for i in range(r.begin, r.end + 1)}
        for i, line in enumerate(text.splitlines(), 1):
            (inside if i in marked else outside).add(line.strip())
    return frozenset(line for line in inside - outside if len(line) >= min_length)


def _region(lines: list[str], begin: int, end: int, syntax: Syntax,
            spans: list[tuple[int, int, str]]) -> Region:
    head = syntax.begin.match(lines[begin - 1])
    assert head is not None
    stub_lines: list[str] = []
    body: list[str] = []
    for line in lines[begin:end - 1]:
        stub = syntax.stub.match(line)
        if stub:
            text = stub.group("text") or ""
            stub_lines.append(f"{stub.group('indent')}{text}" if text else "")
        else:
            body.append(line)
    enclosing = [name for first, last, name in spans if first < begin <= last]
    return Region(begin=begin, end=end, indent=head.group("indent"),
                  label=head.group("label") or None, stub_lines=tuple(stub_lines),
                  qualname=enclosing[-1] if enclosing else None, body=tuple(body))


def render_stub(source: str, filename: str) -> str:
    """The student version of one reference file: every region replaced (see module doc)."""
    syntax = _syntax(filename)
    regions = find_regions(source, filename)
    if not regions:
        return source
    lines = source.splitlines(keepends=True)
    newline = "\r\n" if lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    cursor = 0
    for region in regions:
        out.extend(lines[cursor:region.begin - 1])
        replacement = region.replacement(python=syntax is PYTHON)
        out.extend(line + newline for line in replacement)
        cursor = region.end
    out.extend(lines[cursor:])
    stub = "".join(out)
    if syntax is PYTHON:
        try:
            ast.parse(stub, filename=filename)
        except SyntaxError as exc:
            raise StubError(f"{filename}: the generated stub does not parse (line {exc.lineno}: "
                            f"{exc.msg}); give the region STUB lines that keep it valid")
    return stub


def published_files() -> dict[Path, Path]:
    """{reference file: path relative to assignments/} for everything `make stubs` publishes."""
    mapping: dict[Path, Path] = {}
    for assignment in declaration.all_assignments():
        own = [*assignment.graded, *((assignment.report,) if assignment.report else ()),
               "README.md"]
        for filename in own:
            mapping[REFERENCE / assignment.name / filename] = Path(assignment.name, filename)
        for filename in assignment.given:
            source = declaration.given_path("reference", assignment.name, filename)
            mapping[source] = source.relative_to(REFERENCE)
    missing = sorted(str(p.relative_to(ROOT)) for p in mapping if not p.is_file())
    if missing:
        raise StubError("declared but missing in reference/: " + ", ".join(missing))
    return mapping


def expected_stubs(dest: Path | None = None) -> dict[Path, bytes]:
    """{path under dest: exact bytes} that `write_stubs(dest)` would leave there."""
    dest = ASSIGNMENTS if dest is None else dest
    result: dict[Path, bytes] = {}
    for source, relative in sorted(published_files().items()):
        if _syntax(source.name) is None:
            result[dest / relative] = source.read_bytes()
        else:
            text = source.read_bytes().decode("utf-8")
            rendered = render_stub(text, str(source.relative_to(ROOT)))
            result[dest / relative] = rendered.encode("utf-8")
    return result


def _existing(dest: Path) -> set[Path]:
    if not dest.exists():
        return set()
    return {p for p in dest.rglob("*")
            if p.is_file() and not IGNORED_DIRS.intersection(p.relative_to(dest).parts)}


def stale_files(dest: Path | None = None) -> list[Path]:
    """Files under dest that are missing, different or extra compared with the generator."""
    dest = ASSIGNMENTS if dest is None else dest
    expected = expected_stubs(dest)
    stale = {p for p, data in expected.items() if not p.is_file() or p.read_bytes() != data}
    stale |= _existing(dest) - set(expected)
    return sorted(stale)


def write_stubs(dest: Path | None = None) -> list[Path]:
    """Make dest (default assignments/) hold exactly the generated stubs; returns the files
    written or deleted."""
    dest = ASSIGNMENTS if dest is None else dest
    expected = expected_stubs(dest)
    changed: list[Path] = []
    for path, data in expected.items():
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            changed.append(path)
    for path in sorted(_existing(dest) - set(expected)):
        path.unlink()
        changed.append(path)
    for folder in sorted((p for p in dest.rglob("*") if p.is_dir()), reverse=True):
        if folder.name not in IGNORED_DIRS and not any(folder.iterdir()):
            folder.rmdir()
    return sorted(changed)


def _show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m publish.stubs", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 listing the files that are out of date")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files()
            for path in stale:
                print(f"stale: {_show(path)}")
            if stale:
                print("assignments/ is out of date: run `make stubs`", file=sys.stderr)
                return 1
            print("assignments/ is up to date")
            return 0
        changed = write_stubs()
    except StubError as exc:
        print(f"make stubs: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"wrote {_show(path)}" if path.exists() else f"deleted {_show(path)}")
    print(f"assignments/: {len(changed)} file(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
