"""Find the submissions in what a TA hands `grade`, and unpack them safely.

Accepted inputs (SPEC §6): a folder of submission folders, a folder of zips, single zips, and
a Gradescope "Export Submissions" download (folder or zip holding `submission_metadata.yml`
and one `submission_<id>/` per submission, possibly under one top folder, possibly with
`__MACOSX/`). A folder holding only loose files (no sub-folders, no zips) is one submission.

Every submission is *materialized* into `workdir/<id>/`: zips are extracted and folders are
copied, both through the same checks — no `..`, no absolute paths, no symlinks, regular files
only, at most `MAX_FILES` files and `MAX_TOTAL_BYTES` bytes (declared sizes are checked before
anything is written, and bytes are counted while writing), no entry compressed more than
`MAX_RATIO`:1 (a zip bomb). Junk (`__MACOSX/`, `__pycache__/`, dot-files) is skipped. A
submission that fails a check becomes a `Submission` with an error `status` and a message; it
is never an exception, so one bad archive cannot stop a class.

Ids: the folder or zip name (for an export, `submission_<id>`), slugified to `[A-Za-z0-9._-]`
(plus a short hash of the original name when characters had to be dropped, so "José" and
"Jose" stay apart). Ids are compared case-insensitively (macOS, Windows); the first in input
order keeps an id and later ones become rows with status `duplicate_id`, id `<id>-dupN`, not
graded: renaming silently could attach a grade to the wrong student.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

log = logging.getLogger(__name__)

MAX_FILES = 500                    # files in one submission
MAX_TOTAL_BYTES = 50 * 2**20       # uncompressed bytes in one submission
MAX_RATIO = 200                    # uncompressed/compressed for one entry ...
RATIO_MIN_BYTES = 2**20            # ... once it is larger than this (small files may compress well)
MAX_DEPTH = 16                     # folder nesting
METADATA_MAX_BYTES = 20 * 2**20    # submission_metadata.yml
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
STATUSES = (OK, EMPTY, MISSING, BAD_ARCHIVE, UNSAFE_ARCHIVE, TOO_LARGE, ZIP_BOMB, DUPLICATE_ID)

JUNK_DIRS = {"__MACOSX", "__pycache__"}
RESERVED_IDS = {"grades.csv", "gradebook.csv", "report.html", "index.html"}


class IntakeError(ValueError):
    """A submission that cannot be unpacked; `status` is one of STATUSES."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


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
    """A path as printable text, whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


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
    """Counts files and bytes as they are written, across one submission."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

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
        raise IntakeError(TOO_LARGE, f"folders nested deeper than {MAX_DEPTH}: {'/'.join(parts)!r}")
    target = dest.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


# -- zips -------------------------------------------------------------------------------------
def _zip_mode(info: zipfile.ZipInfo) -> int:
    """The Unix mode stored by Unix/macOS zippers (0 when the zipper stored none)."""
    return (info.external_attr >> 16) & 0xFFFF


def _plan_zip(infos: Iterable[zipfile.ZipInfo], strip: int) -> tuple[list[tuple[zipfile.ZipInfo, list[str]]], list[str]]:
    """Validate entries (all of them, junk included) and choose the files to extract."""
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
        notes.append(f"{len(odd_names)} file name(s) not UTF-8, read as cp437: {shown}")
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


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise IntakeError(BAD_ARCHIVE, f"not a readable zip file ({exc})") from None
    except UnicodeDecodeError:
        raise IntakeError(BAD_ARCHIVE, "file names are flagged UTF-8 but are not") from None
    except (OSError, ValueError, NotImplementedError, EOFError) as exc:
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
def copy_tree(src: Path, dest: Path) -> list[str]:
    """Copy a submission folder into `dest` under the same caps as a zip: regular files only
    (symlinks and special files are skipped and noted), names that are not UTF-8 decoded as
    Latin-1 (noted), junk skipped."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    budget = _Budget()
    skipped: list[str] = []
    renamed: list[str] = []

    def walk(folder: Path, rel: list[str]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            raise IntakeError(BAD_ARCHIVE, f"cannot read {display(folder)}: {exc.strerror}") from None
        for entry in entries:
            raw = os.fsencode(entry.name)
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                name = raw.decode("latin-1")
                renamed.append(f"{raw.decode('ascii', 'backslashreplace')!r} -> {name!r}")
            if _is_junk(name):
                continue
            if entry.is_symlink():
                skipped.append(f"symbolic link {'/'.join(rel + [name])!r}")
            elif entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), rel + [name])
            elif entry.is_file(follow_symlinks=False):
                target = _target(dest, rel + [name])
                if target.exists():
                    skipped.append(f"{'/'.join(rel + [name])!r} (same name after renaming)")
                    continue
                budget.add_file()
                with open(entry.path, "rb") as fh:
                    copy_limited(fh, target, budget)
            else:
                skipped.append(f"special file {'/'.join(rel + [name])!r}")

    walk(Path(src), [])
    notes = []
    if renamed:
        notes.append(f"{len(renamed)} file name(s) not UTF-8, read as Latin-1: " + ", ".join(renamed[:3]))
    if skipped:
        notes.append("ignored " + ", ".join(skipped[:5]) + (" …" if len(skipped) > 5 else ""))
    return notes


def digest(folder: Path) -> str:
    """sha256 over the materialized files (relative names and contents), in a fixed order."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode("utf-8", "surrogateescape") + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


# -- Gradescope export metadata ---------------------------------------------------------------
class _TolerantLoader(yaml.SafeLoader):
    """SafeLoader that reads unknown tags (e.g. `!ruby/object:...`) as plain data."""


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_TolerantLoader.add_multi_constructor("!", _plain)
_TolerantLoader.add_multi_constructor("tag:", _plain)


def _key(k: Any) -> str:
    return str(k).lstrip(":").strip().lower()


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def parse_metadata(text: str | bytes) -> dict[str, list[Member]]:
    """`submission_metadata.yml` → submitters per submission folder name. Keys keep their
    Ruby-symbol colon (`:submitters`); missing or extra keys and missing fields are fine."""
    try:
        data = yaml.load(text, Loader=_TolerantLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        log.warning("cannot read %s (%s); grading without student names", METADATA, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, list[Member]] = {}
    for folder, info in data.items():
        fields = {_key(k): v for k, v in info.items()} if isinstance(info, dict) else {}
        people = fields.get("submitters") or []
        members = []
        for person in people if isinstance(people, list) else []:
            if isinstance(person, dict):
                p = {_key(k): v for k, v in person.items()}
                members.append(Member(_text(p.get("name")), _text(p.get("email")), _text(p.get("sid"))))
        out[str(folder)] = members
    return out


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


def _from_export_folder(root: Path) -> list[_Candidate]:
    meta_path = root / METADATA
    meta = parse_metadata(meta_path.read_bytes()[:METADATA_MAX_BYTES]) \
        if meta_path.stat().st_size <= METADATA_MAX_BYTES else {}
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not _is_junk(p.name)
                      and not p.is_symlink()), key=lambda p: _natural(p.name))
    out = [_Candidate(slugify(p.name), display(p), (lambda d, p=p: copy_tree(p, d)),
                      meta.get(p.name, [])) for p in folders]
    return out + _missing_from(meta, {p.name for p in folders}, display(root))


def _missing_from(meta: dict[str, list[Member]], present: set[str], where: str) -> list[_Candidate]:
    return [_Candidate(slugify(name), f"{where}:{name}", None, meta[name], MISSING,
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


def _from_zip(path: Path) -> list[_Candidate]:
    """A zip: a Gradescope export (one candidate per submission folder) or one submission."""
    single = [_Candidate(slugify(path.stem), display(path),
                         lambda d: extract_zip(path, d))]
    try:
        zf = _open_zip(path)
    except IntakeError:
        return single              # materializing reports the error on the row
    with zf:
        found = _zip_export_prefix(zf)
        if found is None:
            return single
        prefix, info = found
        meta = parse_metadata(zf.read(info)) if info.file_size <= METADATA_MAX_BYTES else {}
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
        out.append(_Candidate(slugify(name), f"{display(path)}:{name}",
                              lambda d, name=name: _extract_group(path, groups[name], len(prefix) + 1, d),
                              meta.get(name, [])))
    return out + _missing_from(meta, set(groups), display(path))


def _extract_group(path: Path, infos: list[zipfile.ZipInfo], strip: int, dest: Path) -> list[str]:
    dest.mkdir(parents=True)
    with _open_zip(path) as zf:
        files, notes = _guard(_plan_zip, infos, strip)
        _guard(_extract_planned, zf, files, dest)
    return notes


def _from_folder(folder: Path) -> list[_Candidate]:
    root = _export_root(folder)
    if root is not None:
        return _from_export_folder(root)
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
            out.append(_Candidate(slugify(p.name), display(p), lambda d, p=p: copy_tree(p, d)))
        else:
            out.append(_Candidate(slugify(p.stem), display(p), lambda d, p=p: extract_zip(p, d)))
    return out


def _candidates(path: Path) -> list[_Candidate]:
    if path.is_dir():
        return _from_folder(path)
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise FileNotFoundError(f"{display(path)} is not a folder or a .zip file")
        return _from_zip(path)
    raise FileNotFoundError(f"{display(path)} does not exist")


def _materialize(cand: _Candidate, dest: Path) -> Submission:
    sub = Submission(cand.id, None, cand.members, cand.status, cand.message, cand.source)
    if cand.status != OK:
        return sub
    if dest.exists():
        shutil.rmtree(dest)
    try:
        notes = cand.materialize(dest)
    except IntakeError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        sub.status, sub.message = exc.status, exc.message
        return sub
    if not any(p.is_file() for p in dest.rglob("*")):
        sub.status, sub.message = EMPTY, "no files (after skipping hidden files and __MACOSX/)"
        return sub
    sub.path, sub.message, sub.digest = dest, "; ".join(notes), digest(dest)
    return sub


def discover(paths: list[Path], workdir: Path) -> list[Submission]:
    """Every submission under `paths`, materialized into `workdir/<id>/`, in input order.

    Raises FileNotFoundError only for a path that is missing or not a folder/zip (the
    operator's mistake); anything wrong with a submission is a row with a status."""
    workdir = Path(workdir)
    cands: list[_Candidate] = []
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
        out.append(_materialize(cand, workdir / cand.id))
    return out
