"""Find the submissions in what a TA hands `grade`, and unpack them safely.

Accepted inputs (docs/staff/regrading.md): a folder of submission folders, a folder of zips, single zips, and
a Gradescope "Export Submissions" download (folder or zip holding `submission_metadata.yml`
and one `submission_<id>/` per submission, possibly under one top folder, possibly with
`__MACOSX/`). A folder holding only loose files (no sub-folders, no zips) is one submission.

Only the TA's explicit choice makes a path an export (`discover(..., exports=[...])`, the CLI's
`--export`): a student's zip that holds its own `submission_metadata.yml` is just a submission,
so names, emails and ids come only from the TA's export, never from a student's archive. The
metadata is read by a bounded loader (size cap, depth cap, no YAML aliases or anchors at all).

Every submission is *materialized* into `workdir/<id>/`: zips are extracted and folders are
copied, both through the same checks — no `..`, no absolute paths, no symlinks, regular files
only, at most `MAX_FILES` files and `MAX_TOTAL_BYTES` bytes (declared sizes are checked before
anything is written, and bytes are counted while writing), no entry compressed more than
`MAX_RATIO`:1 (a zip bomb). Caps are checked before the work they bound: a zip's entry count
and central-directory size are read from its end record before any entry is parsed, and
folders are walked iteratively, refusing depth beyond `MAX_DEPTH` and more than `MAX_ENTRIES`
directory entries as they are met. Junk (`__MACOSX/`, `__pycache__/`, dot-files) is skipped. A
submission that fails a check becomes a `Submission` with an error `status` and a message; it
is never an exception, so one bad archive cannot stop a class. Every name and message that
leaves this module is clean one-line text (`grader.safetext`).

Ids: the folder or zip name (for an export, `submission_<id>`), slugified to `[A-Za-z0-9._-]`
(plus a short hash of the original name when characters had to be dropped, so "José" and
"Jose" stay apart). Ids are compared case-insensitively (macOS, Windows); the first in input
order keeps an id and later ones become rows with status `duplicate_id`, id `<id>-dupN`, not
graded: renaming silently could attach a grade to the wrong student.

No silent choices (status `ambiguous`, not graded, the message names the candidates): a
submission with several different copies of a file the grader reads and none at its top
(`a_draft/softmax.py` and `z_final/softmax.py`), and a Gradescope export inside a class folder
(a folder or zip holding `submission_metadata.yml` and `submission_*/` folders), which would
otherwise be graded as one student. The TA decides: delete a copy, or pass the export with
`--export`, and re-run.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import struct
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from grader import safetext
from grader.runner import ambiguous_copies

log = logging.getLogger(__name__)

MAX_FILES = 500                    # files in one submission
MAX_TOTAL_BYTES = 50 * 2**20       # uncompressed bytes in one submission
MAX_RATIO = 200                    # uncompressed/compressed for one entry ...
RATIO_MIN_BYTES = 2**20            # ... once it is larger than this (small files may compress well)
MAX_DEPTH = 16                     # folder nesting
MAX_ENTRIES = 4 * MAX_FILES        # entries of any kind (folders, junk) in one submission
MAX_CENTRAL_BYTES = 2**20          # a submission zip's central directory (bounds parsing work)
EXPORT_MAX_ENTRIES = 200_000       # the same two caps for a whole Gradescope export zip
EXPORT_MAX_CENTRAL_BYTES = 64 * 2**20
METADATA_MAX_BYTES = 4 * 2**20     # submission_metadata.yml (about 8,000 submissions)
METADATA_MAX_DEPTH = 16            # nesting of its YAML (an export's is 4 deep)
MESSAGE_MAX = 500                  # characters of a refusal message
METADATA = "submission_metadata.yml"
CHUNK = 2**16

OK = "ok"
EMPTY = "empty"                    # no files (after skipping junk)
MISSING = "missing"                # listed in submission_metadata.yml, no folder in the export
BAD_ARCHIVE = "bad_archive"        # not a readable zip (corrupt, encrypted, broken names)
UNSAFE_ARCHIVE = "unsafe_archive"  # `..`, absolute path or symlink entry
TOO_LARGE = "too_large"            # over the file-count or total-size cap
ZIP_BOMB = "zip_bomb"              # compression ratio or actual size beyond what is plausible
DUPLICATE_ID = "duplicate_id"
AMBIGUOUS = "ambiguous"            # the TA must choose: two copies of a graded file, or an export
STATUSES = (OK, EMPTY, MISSING, BAD_ARCHIVE, UNSAFE_ARCHIVE, TOO_LARGE, ZIP_BOMB, DUPLICATE_ID,
            AMBIGUOUS)

JUNK_DIRS = {"__MACOSX", "__pycache__"}
RESERVED_IDS = {"grades.csv", "gradebook.csv", "report.html", "index.html"}


class IntakeError(ValueError):
    """A submission that cannot be unpacked; `status` is one of STATUSES."""

    def __init__(self, status: str, message: str):
        message = safetext.one_line(message, MESSAGE_MAX)
        super().__init__(message)
        self.status = status
        self.message = message


class NotAnExport(FileNotFoundError):
    """A path given as a Gradescope export is not one (the operator's mistake)."""


@dataclass(frozen=True)
class Member:
    """One submitter (a group submission has several)."""
    name: str = ""
    email: str = ""
    sid: str = ""


@dataclass
class Submission:
    """One row of the class: where its files are (None when not gradable) and who it is."""
    id: str
    path: Path | None
    members: list[Member] = field(default_factory=list)
    status: str = OK
    message: str = ""
    source: str = ""
    digest: str = ""          # sha256 of the materialized files: a re-run regrades on change

    @property
    def name(self) -> str:
        return "; ".join(m.name for m in self.members if m.name)

    @property
    def email(self) -> str:
        return "; ".join(m.email for m in self.members if m.email)

    @property
    def sid(self) -> str:
        return "; ".join(m.sid for m in self.members if m.sid)


# -- names --------------------------------------------------------------------------------
def display(path: str | os.PathLike[str]) -> str:
    """A path as printable one-line text (no control characters), whatever bytes it holds."""
    return safetext.one_line(os.fsencode(path).decode("utf-8", "backslashreplace"), 1000)


def slugify(name: str) -> str:
    """A stable, filesystem-safe id for a folder or zip name."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    lossy = not name.isascii()
    slug = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_)).strip("._-")[:80]
    if lossy or not slug:
        tag = hashlib.sha1(os.fsencode(name)).hexdigest()[:6]
        slug = f"{slug}-{tag}" if slug else f"submission-{tag}"
    return slug + "_" if slug.lower() in RESERVED_IDS else slug


def _natural(text: str) -> tuple[list[Any], str]:
    """Sort key: 'submission_2' before 'submission_10', ties broken by the exact name."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)], text


def _is_junk(part: str) -> bool:
    return part.startswith(".") or part in JUNK_DIRS


def _entry_name(info: zipfile.ZipInfo) -> tuple[str, bool]:
    """An entry's name and whether it is not UTF-8. Without the UTF-8 flag, zipfile decodes
    names as cp437 (the zip spec); many tools write UTF-8 without the flag, so try that first
    and keep cp437 (always decodable) only when the bytes are not UTF-8."""
    name = info.filename
    if info.flag_bits & 0x800:
        return name, False
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return name, True


def _split(name: str) -> list[str]:
    """The parts of an archive path, refusing anything that could leave the destination."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise IntakeError(UNSAFE_ARCHIVE, f"entry {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise IntakeError(UNSAFE_ARCHIVE, f"entry {name!r} points outside the archive ('..')")
    if any("\0" in p for p in parts):
        raise IntakeError(UNSAFE_ARCHIVE, f"entry {name!r} has a NUL byte in its name")
    return parts


# -- writing files under limits -----------------------------------------------------------
class _Budget:
    """Counts entries seen, files and bytes written, across one submission."""

    def __init__(self) -> None:
        self.entries = 0
        self.files = 0
        self.bytes = 0

    def add_entry(self) -> None:
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise IntakeError(TOO_LARGE, f"more than {MAX_ENTRIES} files and folders")

    def add_file(self) -> None:
        self.files += 1
        if self.files > MAX_FILES:
            raise IntakeError(TOO_LARGE, f"more than {MAX_FILES} files")

    def add_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > MAX_TOTAL_BYTES:
            raise IntakeError(TOO_LARGE, f"more than {MAX_TOTAL_BYTES // 2**20} MB of files")


def copy_limited(src: Any, dest: Path, budget: _Budget, declared: int | None = None) -> None:
    """Stream `src` (a binary file object) into a new file `dest`, counting bytes: stops at
    the submission's cap, and when `declared` is given, as soon as the data outgrows it."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    written = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if declared is not None and written > declared:
                raise IntakeError(ZIP_BOMB, f"{dest.name!r} holds more data than its "
                                            f"declared {declared} bytes")
            budget.add_bytes(len(chunk))
            out.write(chunk)


def _target(dest: Path, parts: list[str]) -> Path:
    if len(parts) > MAX_DEPTH:
        raise IntakeError(TOO_LARGE, f"folders nested deeper than {MAX_DEPTH}: "
                                     f"{'/'.join(parts)[:200]!r}")
    target = dest.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


# -- zips -------------------------------------------------------------------------------------
def _zip_mode(info: zipfile.ZipInfo) -> int:
    """The Unix mode stored by Unix/macOS zippers (0 when the zipper stored none)."""
    return (info.external_attr >> 16) & 0xFFFF


def _plan_zip(infos: Iterable[zipfile.ZipInfo], strip: int) -> tuple[list[tuple[zipfile.ZipInfo, list[str]]], list[str]]:
    """Validate entries (all of them, junk included) and choose the files to extract."""
    infos = list(infos)
    if len(infos) > MAX_ENTRIES:
        raise IntakeError(TOO_LARGE, f"{len(infos)} files and folders (limit {MAX_ENTRIES})")
    files, odd_names = [], []
    for info in infos:
        name, not_utf8 = _entry_name(info)
        parts = _split(name)[strip:]
        mode = _zip_mode(info)
        if stat.S_ISLNK(mode):
            raise IntakeError(UNSAFE_ARCHIVE, f"entry {name!r} is a symbolic link")
        if info.is_dir() or not parts or any(_is_junk(p) for p in parts):
            continue
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise IntakeError(UNSAFE_ARCHIVE, f"entry {name!r} is not a regular file")
        if info.flag_bits & 0x1:
            raise IntakeError(BAD_ARCHIVE, f"entry {name!r} is encrypted; upload an unencrypted zip")
        if not_utf8:
            odd_names.append(name)
        files.append((info, parts))
    if len(files) > MAX_FILES:
        raise IntakeError(TOO_LARGE, f"{len(files)} files (limit {MAX_FILES})")
    for info, _ in files:
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise IntakeError(ZIP_BOMB, f"entry {info.filename!r} expands {info.compress_size} bytes "
                                        f"to {info.file_size} (more than {MAX_RATIO}:1): a zip bomb?")
    declared = sum(info.file_size for info, _ in files)
    if declared > MAX_TOTAL_BYTES:
        raise IntakeError(TOO_LARGE, f"{declared / 2**20:.1f} MB uncompressed "
                                     f"(limit {MAX_TOTAL_BYTES // 2**20} MB)")
    notes = []
    if odd_names:
        shown = ", ".join(repr(n) for n in odd_names[:3]) + (" …" if len(odd_names) > 3 else "")
        notes.append(safetext.one_line(f"{len(odd_names)} file name(s) not UTF-8, read as "
                                       f"cp437: {shown}", MESSAGE_MAX))
    return files, notes


def _extract_planned(zf: zipfile.ZipFile, files: list[tuple[zipfile.ZipInfo, list[str]]],
                     dest: Path) -> None:
    budget = _Budget()
    for info, parts in files:
        target = _target(dest, parts)
        if target.exists():
            raise IntakeError(BAD_ARCHIVE, f"entry {'/'.join(parts)!r} appears twice")
        budget.add_file()
        with zf.open(info) as src:
            copy_limited(src, target, budget, declared=info.file_size)


_EOCD = struct.Struct("<4s4H2LH")           # end of central directory record (22 bytes)
_EOCD64_LOCATOR = struct.Struct("<4sLQL")     # zip64 locator (20 bytes), just before it
_EOCD64 = struct.Struct("<4sQ2H2L4Q")         # zip64 end record (56 bytes), just before that


def central_directory(path: Path) -> tuple[int, int]:
    """(entries, central directory bytes) from a zip's end record, found as `zipfile` finds
    it, without parsing a single entry: the caps are checked before that work is done."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        start = max(size - _EOCD.size - 0xFFFF, 0)
        fh.seek(start)
        tail = fh.read()
    pos = len(tail) - _EOCD.size
    if not (pos >= 0 and tail[pos:pos + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
        pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or pos + _EOCD.size > len(tail):
        raise IntakeError(BAD_ARCHIVE, "not a readable zip file (no end of central directory)")
    _, _, _, _, entries, cd_bytes, _, _ = _EOCD.unpack_from(tail, pos)
    loc = start + pos - _EOCD64_LOCATOR.size
    if loc - _EOCD64.size >= 0:
        with open(path, "rb") as fh:
            fh.seek(loc - _EOCD64.size)
            raw = fh.read(_EOCD64.size + _EOCD64_LOCATOR.size)
        if raw[_EOCD64.size:_EOCD64.size + 4] == b"PK\x06\x07" and raw[:4] == b"PK\x06\x06":
            record = _EOCD64.unpack_from(raw, 0)
            entries, cd_bytes = record[7], record[8]
    return entries, cd_bytes


def _open_zip(path: Path, max_entries: int = MAX_ENTRIES,
              max_central: int = MAX_CENTRAL_BYTES) -> zipfile.ZipFile:
    """A ZipFile, once its end record shows at most `max_entries` entries in at most
    `max_central` bytes of central directory (zipfile parses all of them on opening)."""
    try:
        entries, cd_bytes = central_directory(path)
    except OSError as exc:
        raise IntakeError(BAD_ARCHIVE, f"cannot read the zip: {exc.strerror}") from None
    if entries > max_entries or cd_bytes > max_central:
        raise IntakeError(TOO_LARGE, f"the zip lists {entries} entries in {cd_bytes} bytes "
                                     f"(limit {max_entries} entries, {max_central} bytes)")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise IntakeError(BAD_ARCHIVE, f"not a readable zip file ({exc})") from None
    except UnicodeDecodeError:
        raise IntakeError(BAD_ARCHIVE, "file names are flagged UTF-8 but are not") from None
    except (OSError, ValueError, NotImplementedError, EOFError, struct.error) as exc:
        raise IntakeError(BAD_ARCHIVE, f"cannot open the zip: {type(exc).__name__}: {exc}") from None


def _guard(fn, *args) -> Any:
    """Run an extraction step; whatever a broken zip raises (BadZipFile, bad CRC, zlib.error,
    EOFError, OSError, ...) becomes BAD_ARCHIVE with the reason."""
    try:
        return fn(*args)
    except IntakeError:
        raise
    except Exception as exc:
        raise IntakeError(BAD_ARCHIVE, f"cannot extract: {type(exc).__name__}: {exc}") from None


def extract_zip(path: Path, dest: Path) -> list[str]:
    """Extract one submission zip into `dest` (created; must not exist) under every check.
    Returns notes for the TA; raises IntakeError (status + message) on a bad archive."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    with _open_zip(Path(path)) as zf:
        files, notes = _guard(_plan_zip, zf.infolist(), 0)
        _guard(_extract_planned, zf, files, dest)
    return notes


# -- folders ----------------------------------------------------------------------------------
def _scan(folder: Path, budget: _Budget) -> list[os.DirEntry]:
    """A folder's entries in a fixed order, each counted against the entry cap as it is read
    (a folder of a million entries is refused after MAX_ENTRIES, not listed in full)."""
    entries = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                budget.add_entry()
                entries.append(entry)
    except OSError as exc:
        raise IntakeError(BAD_ARCHIVE, f"cannot read {display(folder)}: {exc.strerror}") from None
    return sorted(entries, key=lambda e: os.fsencode(e.name))


def _decoded(raw: bytes, renamed: list[str]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        name = raw.decode("latin-1")
        renamed.append(f"{raw.decode('ascii', 'backslashreplace')!r} -> {name!r}")
        return name


def copy_tree(src: Path, dest: Path) -> list[str]:
    """Copy a submission folder into `dest` under the same caps as a zip: regular files only
    (symlinks and special files are skipped and noted), names that are not UTF-8 decoded as
    Latin-1 (noted), junk skipped. Iterative: depth and entry caps hold before descending."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    budget = _Budget()
    skipped: list[str] = []
    renamed: list[str] = []
    stack: list[tuple[Path, list[str]]] = [(Path(src), [])]
    while stack:
        folder, rel = stack.pop()
        subfolders = []
        for entry in _scan(folder, budget):
            name = _decoded(os.fsencode(entry.name), renamed)
            if _is_junk(name):
                continue
            parts = rel + [name]
            if entry.is_symlink():
                skipped.append(f"symbolic link {'/'.join(parts)!r}")
            elif entry.is_dir(follow_symlinks=False):
                if len(parts) > MAX_DEPTH:
                    raise IntakeError(TOO_LARGE, f"folders nested deeper than {MAX_DEPTH}: "
                                                 f"{'/'.join(parts)[:200]!r}")
                subfolders.append((Path(entry.path), parts))
            elif entry.is_file(follow_symlinks=False):
                target = _target(dest, parts)
                if target.exists():
                    skipped.append(f"{'/'.join(parts)!r} (same name after renaming)")
                    continue
                budget.add_file()
                with open(entry.path, "rb") as fh:
                    copy_limited(fh, target, budget)
            else:
                skipped.append(f"special file {'/'.join(parts)!r}")
        stack.extend(reversed(subfolders))        # depth first, in name order
    notes = []
    if renamed:
        notes.append(f"{len(renamed)} file name(s) not UTF-8, read as Latin-1: " + ", ".join(renamed[:3]))
    if skipped:
        notes.append("ignored " + ", ".join(skipped[:5]) + (" …" if len(skipped) > 5 else ""))
    return [safetext.one_line(n, MESSAGE_MAX) for n in notes]


def digest(folder: Path) -> str:
    """sha256 over the materialized files (relative names and contents), in a fixed order."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode("utf-8", "surrogateescape") + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


# -- Gradescope export metadata ---------------------------------------------------------------
class MetadataRefused(ValueError):
    """submission_metadata.yml uses what no Gradescope export does (aliases, deep nesting)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and anchors (so no "billion laughs"), refuses nesting
    beyond METADATA_MAX_DEPTH before recursing into it, and reads unknown tags (e.g.
    `!ruby/object:...`, which exports do use) as plain data."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise MetadataRefused("it uses a YAML alias (*name)")
        if getattr(self.peek_event(), "anchor", None) is not None:
            raise MetadataRefused("it uses a YAML anchor (&name)")
        self._depth += 1
        try:
            if self._depth > METADATA_MAX_DEPTH:
                raise MetadataRefused(f"it is nested deeper than {METADATA_MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_BoundedLoader.add_multi_constructor("!", _plain)
_BoundedLoader.add_multi_constructor("tag:", _plain)


def _key(k: Any) -> str:
    return str(k).lstrip(":").strip().lower()


def _text(v: Any) -> str:
    return "" if v is None else safetext.one_line(v)


def load_metadata(text: str | bytes) -> Any:
    """The YAML document, bounded: raises MetadataRefused (too large, aliases, anchors, too
    deep) or yaml.YAMLError (not YAML)."""
    if len(text) > METADATA_MAX_BYTES:
        raise MetadataRefused(f"it is larger than {METADATA_MAX_BYTES // 2**20} MB")
    return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a bounded SafeLoader


def _members(info: Any) -> list[Member]:
    fields = {_key(k): v for k, v in info.items()} if isinstance(info, dict) else {}
    people = fields.get("submitters") or []
    members = []
    for person in people if isinstance(people, list) else []:
        if isinstance(person, dict):
            p = {_key(k): v for k, v in person.items()}
            members.append(Member(_text(p.get("name")), _text(p.get("email")), _text(p.get("sid"))))
    return members


def parse_metadata(text: str | bytes) -> dict[str, list[Member]]:
    """`submission_metadata.yml` → submitters per submission folder name. Keys keep their
    Ruby-symbol colon (`:submitters`); missing or extra keys and missing fields are fine.
    Anything unreadable or refused is a warning and no names, never an exception."""
    try:
        data = load_metadata(text)
        if not isinstance(data, dict):
            return {}
        return {str(folder): _members(info) for folder, info in data.items()}
    except Exception as exc:     # YAMLError, MetadataRefused, or whatever odd data raises
        log.warning("cannot read %s (%s); grading without student names", METADATA,
                    safetext.one_line(f"{type(exc).__name__}: {exc}", MESSAGE_MAX))
        return {}


# -- discovery --------------------------------------------------------------------------------
@dataclass
class _Candidate:
    id: str
    source: str
    materialize: Any = None          # callable(dest) -> notes, raising IntakeError
    members: list[Member] = field(default_factory=list)
    status: str = OK
    message: str = ""


def _export_root(folder: Path) -> Path | None:
    if (folder / METADATA).is_file():
        return folder
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not _is_junk(p.name)]
    if len(subdirs) == 1 and (subdirs[0] / METADATA).is_file():
        return subdirs[0]
    return None


def _read_metadata_file(path: Path) -> dict[str, list[Member]]:
    with open(path, "rb") as fh:
        return parse_metadata(fh.read(METADATA_MAX_BYTES + 1))


def _from_export_folder(root: Path) -> list[_Candidate]:
    meta = _read_metadata_file(root / METADATA)
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not _is_junk(p.name)
                      and not p.is_symlink()), key=lambda p: _natural(p.name))
    out = [_Candidate(slugify(p.name), display(p), (lambda d, p=p: copy_tree(p, d)),
                      meta.get(p.name, [])) for p in folders]
    return out + _missing_from(meta, {p.name for p in folders}, display(root))


def _missing_from(meta: dict[str, list[Member]], present: set[str], where: str) -> list[_Candidate]:
    return [_Candidate(slugify(name), f"{where}:{display(name)}", None, meta[name], MISSING,
                       f"listed in {METADATA} but {name}/ is not in the export (nothing uploaded?)")
            for name in sorted(set(meta) - present, key=_natural)]


def _zip_export_prefix(zf: zipfile.ZipFile) -> tuple[list[str], zipfile.ZipInfo] | None:
    """The path parts above `submission_metadata.yml` (and its entry) if this zip is an
    export, else None."""
    for info in zf.infolist():
        parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
        if parts and parts[-1] == METADATA and len(parts) <= 2 and not any(_is_junk(p) for p in parts):
            return parts[:-1], info
    return None


def _open_export_zip(path: Path) -> zipfile.ZipFile:
    return _open_zip(path, EXPORT_MAX_ENTRIES, EXPORT_MAX_CENTRAL_BYTES)


def _from_export_zip(path: Path) -> list[_Candidate]:
    """A Gradescope export zip (the TA said so): one candidate per submission folder."""
    try:
        zf = _open_export_zip(path)
    except IntakeError as exc:
        raise NotAnExport(f"{display(path)}: {exc.message}") from None
    with zf:
        found = _zip_export_prefix(zf)
        if found is None:
            raise NotAnExport(f"{display(path)} holds no {METADATA} at its top or under one "
                              f"top folder: not a Gradescope export")
        prefix, info = found
        with zf.open(info) as fh:
            meta = parse_metadata(fh.read(METADATA_MAX_BYTES + 1))
        groups: dict[str, list[zipfile.ZipInfo]] = {}
        for entry in zf.infolist():
            parts = [p for p in entry.filename.replace("\\", "/").split("/") if p not in ("", ".")]
            if len(parts) <= len(prefix) + 1 or parts[:len(prefix)] != prefix:
                continue           # the metadata file, stray top-level files: never extracted
            top = parts[len(prefix)]
            if top == ".." or _is_junk(top):
                continue
            groups.setdefault(top, []).append(entry)
    out = []
    for name in sorted(groups, key=_natural):
        out.append(_Candidate(slugify(name), f"{display(path)}:{display(name)}",
                              lambda d, name=name: _extract_group(path, groups[name], len(prefix) + 1, d),
                              meta.get(name, [])))
    return out + _missing_from(meta, set(groups), display(path))


def _from_zip(path: Path) -> list[_Candidate]:
    """A zip handed in as submissions: one submission, whatever files it holds."""
    return [_Candidate(slugify(path.stem), display(path), lambda d: extract_zip(path, d))]


def _extract_group(path: Path, infos: list[zipfile.ZipInfo], strip: int, dest: Path) -> list[str]:
    dest.mkdir(parents=True)
    with _open_export_zip(path) as zf:
        files, notes = _guard(_plan_zip, infos, strip)
        _guard(_extract_planned, zf, files, dest)
    return notes


def _from_folder(folder: Path) -> list[_Candidate]:
    if _export_root(folder) is not None:
        log.warning("%s holds %s but was not given as an export: its files are graded as "
                    "submissions, without names (pass a Gradescope export with --export)",
                    display(folder), METADATA)
    children = sorted((p for p in folder.iterdir() if not _is_junk(p.name)),
                      key=lambda p: _natural(p.name))
    subs = [p for p in children if (p.is_dir() and not p.is_symlink())
            or (p.is_file() and p.suffix.lower() == ".zip")]
    loose = [p for p in children if p not in subs]
    if not subs and loose:     # a single submission folder handed in directly
        return [_Candidate(slugify(folder.resolve().name), display(folder),
                           lambda d: copy_tree(folder, d))]
    if loose:
        log.warning("%s: ignoring %d entr%s that are neither folders nor zips: %s",
                    display(folder), len(loose), "y" if len(loose) == 1 else "ies",
                    ", ".join(display(p.name) for p in loose[:5]))
    out = []
    for p in subs:
        if p.is_dir():
            cand = _Candidate(slugify(p.name), display(p), lambda d, p=p: copy_tree(p, d))
        else:
            cand = _Candidate(slugify(p.stem), display(p), lambda d, p=p: extract_zip(p, d))
        inner = _nested_export(p)
        if inner:
            cand.status, cand.message = AMBIGUOUS, safetext.one_line(
                f"{display(p)} looks like a Gradescope export ({METADATA} and {inner} "
                f"submission folder(s)), not one student's submission; not graded: grade it "
                f"with --export {display(p)} (and remove it from this folder)", MESSAGE_MAX)
        out.append(cand)
    return out


NESTED_SCAN = 1_000    # entries looked at when asking whether a folder is an export


def _submission_folders(names: Iterable[str]) -> int:
    return sum(1 for n in names if n.startswith("submission_") and n != METADATA)


def _nested_export(path: Path) -> int:
    """How many `submission_*` folders sit beside a `submission_metadata.yml` at the top of
    `path` (a folder or a zip) or under its one top folder: 0 when it is no export. Bounded:
    at most NESTED_SCAN folder entries, a zip only through its capped central directory."""
    if path.is_dir():
        return _nested_export_folder(path)
    try:
        with _open_export_zip(path) as zf:
            found = _zip_export_prefix(zf)
            if found is None:
                return 0
            prefix = found[0]
            tops = set()
            for info in zf.infolist():
                parts = [q for q in info.filename.replace("\\", "/").split("/") if q not in ("", ".")]
                if len(parts) > len(prefix) + 1 and parts[:len(prefix)] == prefix:
                    tops.add(parts[len(prefix)])
            return _submission_folders(tops)
    except IntakeError:
        return 0              # unreadable as an export: the submission's own checks say why


def _nested_export_folder(folder: Path, depth: int = 0) -> int:
    try:
        with os.scandir(folder) as it:
            entries = [e for _, e in zip(range(NESTED_SCAN), it)]
    except OSError:
        return 0
    names = {e.name for e in entries}
    dirs = [e for e in entries if e.is_dir(follow_symlinks=False) and not _is_junk(e.name)]
    if METADATA in names:
        return _submission_folders(e.name for e in dirs)
    if depth == 0 and len(dirs) == 1:
        return _nested_export_folder(Path(dirs[0].path), 1)
    return 0


def _candidates(path: Path) -> list[_Candidate]:
    if path.is_dir():
        return _from_folder(path)
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise FileNotFoundError(f"{display(path)} is not a folder or a .zip file")
        return _from_zip(path)
    raise FileNotFoundError(f"{display(path)} does not exist")


def _export_candidates(path: Path) -> list[_Candidate]:
    if path.is_dir():
        root = _export_root(path)
        if root is None:
            raise NotAnExport(f"{display(path)} holds no {METADATA} at its top or in its one "
                              f"sub-folder: not a Gradescope export")
        return _from_export_folder(root)
    if path.is_file():
        return _from_export_zip(path)
    raise FileNotFoundError(f"{display(path)} does not exist")


def _clear(dest: Path) -> None:
    """Remove what an earlier run left at `dest` (a folder, a file or a link)."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)


def _materialize(cand: _Candidate, dest: Path) -> Submission:
    sub = Submission(cand.id, None, cand.members, cand.status, cand.message, cand.source)
    if cand.status != OK:
        return sub
    try:
        _clear(dest)
        notes = cand.materialize(dest)
    except Exception as exc:      # IntakeError, or whatever an odd file system raises
        status, message = (exc.status, exc.message) if isinstance(exc, IntakeError) else \
            (BAD_ARCHIVE, safetext.one_line(f"cannot unpack: {type(exc).__name__}: {exc}", MESSAGE_MAX))
        shutil.rmtree(dest, ignore_errors=True)
        sub.status, sub.message = status, message
        return sub
    if not any(p.is_file() for p in dest.rglob("*")):
        sub.status, sub.message = EMPTY, "no files (after skipping hidden files and __MACOSX/)"
        return sub
    sub.path, sub.message, sub.digest = dest, "; ".join(notes), digest(dest)
    return sub


def _ambiguity(sub: Submission, reads: Iterable[str]) -> Submission:
    """`sub` flagged `ambiguous` (and not graded) when a file the grader reads has several
    different copies and none at the top: the grader would pick one silently."""
    for filename in reads:
        copies = ambiguous_copies(sub.path, filename)
        if copies:
            shown = ", ".join(display(p.relative_to(sub.path)) for p in copies[:5])
            more = f" and {len(copies) - 5} more" if len(copies) > 5 else ""
            sub.status, sub.path = AMBIGUOUS, None
            sub.message = safetext.one_line(
                f"{len(copies)} different copies of {filename} and none at the top: {shown}"
                f"{more}; not graded: keep the copy to grade (delete the others, or move it to "
                f"the top) and re-run", MESSAGE_MAX)
            break
    return sub


def discover(paths: list[Path], workdir: Path, exports: list[Path] = (),
             reads: Iterable[str] = ()) -> list[Submission]:
    """Every submission under `paths` and in the Gradescope `exports`, materialized into
    `workdir/<id>/`: the exports' submissions first, then the paths', each in input order.
    `reads` names the files the grader reads (the declaration's `submitted`): a submission
    with several different copies of one of them, none at its top, is an `ambiguous` row.

    Only `exports` are read as Gradescope exports (names, emails, student ids); `paths` are
    submissions whatever they hold. Raises FileNotFoundError only for the operator's mistakes
    (a path missing or not a folder/zip, an "export" that is not one); anything wrong with a
    submission is a row with a status."""
    workdir = Path(workdir)
    cands: list[_Candidate] = []
    for path in exports:
        cands.extend(_export_candidates(Path(path)))
    for path in paths:
        cands.extend(_candidates(Path(path)))
    taken: dict[str, _Candidate] = {}
    out = []
    for cand in cands:
        first = taken.get(cand.id.casefold())
        if first is not None:
            n = 2
            while f"{cand.id}-dup{n}".casefold() in taken:
                n += 1
            new_id = f"{cand.id}-dup{n}"
            out.append(Submission(new_id, None, cand.members, DUPLICATE_ID,
                                  f"id {cand.id!r} is already used by {first.source}; not graded "
                                  f"(rename one of them and re-run)", cand.source))
            taken[new_id.casefold()] = cand
            continue
        taken[cand.id.casefold()] = cand
        workdir.mkdir(parents=True, exist_ok=True)
        sub = _materialize(cand, workdir / cand.id)
        out.append(_ambiguity(sub, reads) if sub.status == OK else sub)
    return out
