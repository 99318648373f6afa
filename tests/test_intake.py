"""Intake: every accepted input shape, Gradescope export metadata, and every bad input
becoming a row with a clear status (never an exception, never a file outside the workdir)."""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from grader import intake
from grader.intake import Member, discover

META = """\
submission_101:
  :submitters:
  - :name: Solo Student
    :sid: '100'
    :email: solo@example.edu
  :created_at: 2026-03-01 12:34:56.000000000 -08:00
  :score: 87.0
submission_102:
  :submitters:
  - :name: Pair One
    :sid: '200'
    :email: one@example.edu
  - :name: Pair Two
    :sid: 201
submission_103:
  :status: !ruby/object:Submission
    late: true
  :submitters:
  - :name: Nothing Uploaded
"""


def write_raw_zip(path: Path, entries: list[dict]) -> None:
    """A zip written byte by byte, for what zipfile refuses to write: raw name bytes, lying
    flags, pre-compressed data. Entry keys: name (bytes), data (stored bytes, already
    compressed when method=8), method, crc, size, flags, attr."""
    out, central = bytearray(), bytearray()
    for e in entries:
        offset, flags, name = len(out), e.get("flags", 0), e["name"]
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, e["method"], 0, 0x21, e["crc"],
                           len(e["data"]), e["size"], len(name), 0) + name + e["data"]
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, flags, e["method"], 0,
                               0x21, e["crc"], len(e["data"]), e["size"], len(name), 0, 0, 0, 0,
                               e.get("attr", 0), offset) + name
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                                 len(central), len(out), 0)
    path.write_bytes(bytes(out))


def stored(name: bytes, data: bytes, **kw) -> dict:
    return dict(name=name, data=data, method=0, crc=zlib.crc32(data), size=len(data), **kw)


def zip_of(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def one(subs: list[intake.Submission], sid: str) -> intake.Submission:
    return next(s for s in subs if s.id == sid)


# -- accepted shapes ---------------------------------------------------------------------------
def test_folder_of_folders_and_zips(tmp_path):
    cls = tmp_path / "class"
    (cls / "alice" / "hw").mkdir(parents=True)
    (cls / "alice" / "hw" / "softmax.py").write_text("A = 1\n")
    (cls / "alice" / ".DS_Store").write_text("junk")
    zip_of(cls / "Bob Smith.zip", {"softmax.py": "B = 2\n", "__MACOSX/._softmax.py": "junk"})
    (cls / "notes.txt").write_text("stray file: ignored with a warning")
    subs = discover([cls], tmp_path / "work")
    assert [(s.id, s.status) for s in subs] == [("alice", "ok"), ("Bob_Smith", "ok")]
    assert (one(subs, "alice").path / "hw" / "softmax.py").read_text() == "A = 1\n"
    bob = one(subs, "Bob_Smith").path
    assert sorted(p.name for p in bob.rglob("*")) == ["softmax.py"]       # junk skipped
    assert one(subs, "alice").path == tmp_path / "work" / "alice"
    assert one(subs, "alice").digest != one(subs, "Bob_Smith").digest


def test_single_zip_and_single_folder(tmp_path):
    z = zip_of(tmp_path / "carol.zip", {"softmax.py": "x = 1\n"})
    solo = tmp_path / "dave"
    solo.mkdir()
    (solo / "softmax.py").write_text("y = 2\n")
    subs = discover([z, solo], tmp_path / "work")
    assert [(s.id, s.status) for s in subs] == [("carol", "ok"), ("dave", "ok")]
    assert (subs[1].path / "softmax.py").read_text() == "y = 2\n"


def test_ids_are_stable_safe_and_distinct():
    assert intake.slugify("Bob Smith (late)") == "Bob_Smith_late"
    assert intake.slugify("submission_123") == "submission_123"
    a, b = intake.slugify("张三"), intake.slugify("李四")
    assert a != b and a == intake.slugify("张三") and a.startswith("submission-")
    assert intake.slugify("José") != intake.slugify("Jose")
    assert intake.slugify("../../etc") == "etc"
    assert intake.slugify("grades.csv") == "grades.csv_"         # would clash with OUT/grades.csv
    for s in (a, intake.slugify("José"), intake.slugify("a/b\\c:d")):
        assert all(c.isalnum() and c.isascii() or c in "._-" for c in s)


def test_missing_path_is_the_operators_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        discover([tmp_path / "nope"], tmp_path / "work")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(FileNotFoundError):
        discover([tmp_path / "a.txt"], tmp_path / "work")


# -- Gradescope export -------------------------------------------------------------------------------
def _export_files(top: str = "") -> dict[str, str]:
    return {f"{top}submission_metadata.yml": META,
            f"{top}submission_101/softmax.py": "solo = 1\n",
            f"{top}submission_102/softmax.py": "pair = 1\n",
            f"{top}submission_104/softmax.py": "not in the yaml\n"}


def _check_export(subs: list[intake.Submission]) -> None:
    assert [(s.id, s.status) for s in subs] == [("submission_101", "ok"), ("submission_102", "ok"),
                                                ("submission_104", "ok"), ("submission_103", "missing")]
    solo, pair = one(subs, "submission_101"), one(subs, "submission_102")
    assert solo.members == [Member("Solo Student", "solo@example.edu", "100")]
    assert (solo.name, solo.email, solo.sid) == ("Solo Student", "solo@example.edu", "100")
    assert pair.members == [Member("Pair One", "one@example.edu", "200"), Member("Pair Two", "", "201")]
    assert pair.name == "Pair One; Pair Two"
    assert (pair.path / "softmax.py").read_text() == "pair = 1\n"
    assert one(subs, "submission_104").members == []
    assert one(subs, "submission_103").name == "Nothing Uploaded"


def test_gradescope_export_zip_with_top_folder_and_macosx(tmp_path):
    files = _export_files("Homework_1/")
    files["__MACOSX/Homework_1/._submission_metadata.yml"] = "junk"
    files["__MACOSX/Homework_1/submission_101/._softmax.py"] = "junk"
    subs = discover([], tmp_path / "work", exports=[zip_of(tmp_path / "export.zip", files)])
    _check_export(subs)
    assert one(subs, "submission_101").source.endswith("export.zip:submission_101")


def test_gradescope_export_folder(tmp_path):
    root = tmp_path / "export"
    for name, text in _export_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _check_export(discover([], tmp_path / "work", exports=[root]))
    wrapped = tmp_path / "wrapped"
    (wrapped).mkdir()
    os.rename(root, wrapped / "Homework_1")
    _check_export(discover([], tmp_path / "work2", exports=[wrapped]))


def test_metadata_tolerates_junk():
    assert intake.parse_metadata("- just\n- a list\n") == {}
    assert intake.parse_metadata(": not yaml : [") == {}
    got = intake.parse_metadata("submission_1:\n  :submitters: nope\nsubmission_2: 5\n"
                                "submission_3:\n  submitters:\n  - {name: No Colon}\n")
    assert got == {"submission_1": [], "submission_2": [], "submission_3": [Member("No Colon")]}


def test_one_unsafe_submission_in_an_export_spares_the_others(tmp_path):
    files = _export_files("HW/")
    files["HW/submission_104/../../../evil.py"] = "boom"
    subs = discover([], tmp_path / "work", exports=[zip_of(tmp_path / "export.zip", files)])
    assert one(subs, "submission_104").status == "unsafe_archive"
    assert one(subs, "submission_101").status == "ok"
    assert not list(tmp_path.rglob("evil.py"))


# -- bad inputs: each a row with a clear status ------------------------------------------------------
def test_corrupt_zip(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "garbage.zip").write_bytes(b"this is not a zip at all")
    good = zip_of(tmp_path / "x.zip", {"softmax.py": "x = 1\n" * 1000}).read_bytes()
    (cls / "truncated.zip").write_bytes(good[: len(good) // 2])
    bad_crc = bytearray(good)
    bad_crc[40] ^= 0xFF                                  # flip a byte of the compressed data
    (cls / "badcrc.zip").write_bytes(bytes(bad_crc))
    subs = discover([cls], tmp_path / "work")
    assert {s.id: s.status for s in subs} == {"badcrc": "bad_archive", "garbage": "bad_archive",
                                              "truncated": "bad_archive"}
    assert "not a readable zip" in one(subs, "garbage").message
    assert "cannot extract" in one(subs, "badcrc").message
    assert all(s.path is None for s in subs)
    assert not (tmp_path / "work" / "badcrc").exists()   # half-extracted files are removed


@pytest.mark.parametrize("name, why", [("../escape.py", "'..'"), ("a/../../escape.py", "'..'"),
                                       ("/abs/escape.py", "absolute"), ("C:/win/escape.py", "absolute"),
                                       ("..\\escape.py", "'..'")])
def test_path_traversal_and_absolute_entries(tmp_path, name, why):
    z = tmp_path / "class" / "evil.zip"
    z.parent.mkdir()
    write_raw_zip(z, [stored(b"softmax.py", b"ok = 1\n"), stored(name.encode(), b"pwned = 1\n")])
    [sub] = discover([z.parent], tmp_path / "work")
    assert (sub.status, sub.path) == ("unsafe_archive", None)
    assert why in sub.message
    assert not list(tmp_path.rglob("escape.py"))


def test_symlink_entry(tmp_path):
    z = tmp_path / "link.zip"
    info = zipfile.ZipInfo("softmax.py")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(info, "/work/main/reference/softmax/softmax.py")
    [sub] = discover([z], tmp_path / "work")
    assert sub.status == "unsafe_archive" and "symbolic link" in sub.message


def test_zip_bomb_is_refused_before_writing(tmp_path):
    """1 GiB of zeros compressed to ~1 MB, built without ever holding or writing the GiB:
    deflate one MiB with a full flush (byte-aligned, state reset) and repeat that block."""
    mib, n = 2**20, 1024
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(bytes(mib)) + comp.flush(zlib.Z_FULL_FLUSH)
    data = block * n + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    zero = bytes(mib)
    for _ in range(n):
        crc = zlib.crc32(zero, crc)
    z = tmp_path / "bomb.zip"
    write_raw_zip(z, [dict(name=b"zeros.bin", data=data, method=8, crc=crc, size=n * mib)])
    assert z.stat().st_size < 2 * mib
    with zipfile.ZipFile(z) as zf:                      # a well-formed zip, as a bomb would be
        assert zf.infolist()[0].file_size == 2**30
        with zf.open("zeros.bin") as fh:
            assert fh.read(mib) == zero
    [sub] = discover([z], tmp_path / "work")
    assert sub.status == "zip_bomb" and "200:1" in sub.message
    assert sum(p.stat().st_size for p in (tmp_path / "work").rglob("*") if p.is_file()) == 0


def test_size_and_count_caps(tmp_path, monkeypatch):
    many = zip_of(tmp_path / "many.zip", {f"f{i}.txt": "x" for i in range(intake.MAX_FILES + 1)})
    big = zip_of(tmp_path / "big.zip", {"a.bin": os.urandom(300_000), "b.bin": os.urandom(300_000)})
    monkeypatch.setattr(intake, "MAX_TOTAL_BYTES", 500_000)
    subs = discover([many, big], tmp_path / "work")
    assert [(s.id, s.status) for s in subs] == [("many", "too_large"), ("big", "too_large")]
    assert "501 files" in subs[0].message and "MB uncompressed" in subs[1].message
    folder = tmp_path / "bigfolder"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.bin").write_bytes(os.urandom(200_000))
    [sub] = discover([folder], tmp_path / "work2")
    assert sub.status == "too_large"


def test_bytes_are_counted_while_writing(tmp_path):
    """Declared sizes can lie; the copy stops as soon as the data outgrows them."""
    budget = intake._Budget()
    with pytest.raises(intake.IntakeError) as err:
        intake.copy_limited(io.BytesIO(bytes(100_000)), tmp_path / "out.bin", budget, declared=1000)
    assert err.value.status == "zip_bomb"
    assert (tmp_path / "out.bin").stat().st_size <= intake.CHUNK


def test_encrypted_entry(tmp_path):
    z = tmp_path / "enc.zip"
    write_raw_zip(z, [stored(b"softmax.py", b"secret", flags=0x1)])
    [sub] = discover([z], tmp_path / "work")
    assert sub.status == "bad_archive" and "encrypted" in sub.message


def test_empty_folder_and_empty_zip(tmp_path):
    cls = tmp_path / "class"
    (cls / "nobody").mkdir(parents=True)
    (cls / "junk_only" / "__MACOSX").mkdir(parents=True)
    (cls / "junk_only" / ".DS_Store").write_text("x")
    zip_of(cls / "hollow.zip", {"__MACOSX/._x": "junk"})
    subs = discover([cls], tmp_path / "work")
    assert {s.id: s.status for s in subs} == {"nobody": "empty", "junk_only": "empty", "hollow": "empty"}
    assert all(s.path is None and "no files" in s.message for s in subs)


def test_non_utf8_file_names(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    # a zip without the UTF-8 flag holding Latin-1 bytes (read as cp437, noted)
    write_raw_zip(cls / "latin.zip", [stored(b"softmax.py", b"x = 1\n"), stored(b"r\xe9sum\xe9.txt", b"cv")])
    # a zip without the flag holding UTF-8 (common): decoded as UTF-8, nothing to note
    write_raw_zip(cls / "utf8noflag.zip", [stored("résumé.txt".encode(), b"cv")])
    # a zip whose UTF-8 flag lies
    write_raw_zip(cls / "liar.zip", [stored(b"r\xe9sum\xe9.txt", b"cv", flags=0x800)])
    # a folder with a name that is not UTF-8 on disk
    folder = cls / "bytesname"
    folder.mkdir()
    (folder / "softmax.py").write_text("x = 1\n")
    with open(os.path.join(os.fsencode(folder), b"notes-\xff.txt"), "wb") as fh:
        fh.write(b"hi")
    subs = discover([cls], tmp_path / "work")
    latin, utf8, liar, folder_sub = (one(subs, i) for i in ("latin", "utf8noflag", "liar", "bytesname"))
    assert latin.status == "ok" and "not UTF-8" in latin.message
    assert (latin.path / "softmax.py").exists() and (latin.path / b"r\xe9sum\xe9.txt".decode("cp437")).exists()
    assert utf8.status == "ok" and utf8.message == "" and (utf8.path / "résumé.txt").exists()
    assert liar.status == "bad_archive" and "UTF-8" in liar.message
    assert folder_sub.status == "ok" and "not UTF-8" in folder_sub.message
    assert (folder_sub.path / "notes-\u00ff.txt").read_bytes() == b"hi"
    for s in subs:                                      # every name is now plain UTF-8 text
        for p in (s.path.rglob("*") if s.path else []):
            str(p).encode("utf-8")


def test_duplicate_ids(tmp_path):
    cls = tmp_path / "class"
    (cls / "alice").mkdir(parents=True)
    (cls / "alice" / "softmax.py").write_text("x = 1\n")
    zip_of(cls / "alice.zip", {"softmax.py": "y = 2\n"})
    zip_of(cls / "ALICE.zip", {"softmax.py": "z = 3\n"})
    subs = discover([cls], tmp_path / "work")
    assert [(s.id, s.status) for s in subs] == [("alice", "ok"), ("ALICE-dup2", "duplicate_id"),
                                                ("alice-dup3", "duplicate_id")]
    assert "already used by" in subs[1].message and subs[1].path is None
    # the same input twice: deterministic, second is the duplicate
    again = discover([cls / "alice", cls / "alice"], tmp_path / "work2")
    assert [(s.id, s.status) for s in again] == [("alice", "ok"), ("alice-dup2", "duplicate_id")]


def test_folder_symlinks_are_not_followed(tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("the reference solution")
    sub_dir = tmp_path / "class" / "mallory"
    sub_dir.mkdir(parents=True)
    (sub_dir / "softmax.py").symlink_to(secret)
    (sub_dir / "notes.txt").write_text("hi")
    [sub] = discover([tmp_path / "class"], tmp_path / "work")
    assert sub.status == "ok" and "symbolic link" in sub.message
    assert not (sub.path / "softmax.py").exists()


# -- hostile inputs: exports only by the TA's choice, bounded YAML, caps before work --------------
def many_entries_zip(path: Path, n: int) -> Path:
    """A real zip of `n` empty files (zip64 end records, as zipfile writes past 65,535
    entries), built as bytes in one pass instead of n zipfile writes."""
    local, central = bytearray(), bytearray()
    for i in range(n):
        name = b"f%d" % i
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0) + name
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 0, 0, 0x21, 0, 0, 0,
                               len(name), 0, 0, 0, 0, 0, offset) + name
    cd_offset = len(local)
    eocd64_offset = cd_offset + len(central)
    tail = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_offset)
    tail += struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1)
    tail += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(local + central + tail))
    return path


def test_a_students_zip_with_metadata_is_just_a_submission(tmp_path):
    """A zip posing as an export cannot claim a classmate's id, name or email."""
    files = {"submission_metadata.yml": META, "submission_101/softmax.py": "stolen = 1\n",
             "softmax.py": "mine = 1\n"}
    [sub] = discover([zip_of(tmp_path / "mallory.zip", files)], tmp_path / "work")
    assert (sub.id, sub.status, sub.members) == ("mallory", "ok", [])
    assert (sub.path / "submission_metadata.yml").exists()      # an ordinary file of theirs


def test_a_folder_holding_metadata_is_graded_without_names_and_a_warning(tmp_path, caplog):
    root = tmp_path / "export"
    for name, text in _export_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    subs = discover([root], tmp_path / "work")
    assert [s.id for s in subs] == ["submission_101", "submission_102", "submission_104"]
    assert all(s.members == [] for s in subs)
    assert "--export" in caplog.text


@pytest.mark.parametrize("make", ["missing", "plain_zip", "plain_folder"])
def test_export_that_is_not_one_is_the_operators_error(tmp_path, make):
    path = {"missing": lambda: tmp_path / "nope.zip",
            "plain_zip": lambda: zip_of(tmp_path / "a.zip", {"softmax.py": "x = 1\n"}),
            "plain_folder": lambda: (tmp_path / "f").mkdir() or tmp_path / "f"}[make]()
    with pytest.raises(FileNotFoundError):
        discover([], tmp_path / "work", exports=[path])


NESTED = "a:\n" + "".join(" " * i + "- \n" for i in range(1, 100)) + "{k: " * 20_000 + "1" + "}" * 20_000
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))


@pytest.mark.parametrize("text, why", [
    (NESTED, "nested deeper"),
    ("[" * 20_000 + "]" * 20_000, "nested deeper"),
    (LAUGHS, "anchor"),
    ("submission_1:\n  :submitters: *nothing\n", "alias"),
    ("x" * (intake.METADATA_MAX_BYTES + 1), "larger than"),
], ids=["block-and-flow-20000-deep", "flow-20000-deep", "billion-laughs", "alias", "too-large"])
def test_metadata_yaml_is_bounded(text, why, caplog):
    assert intake.parse_metadata(text) == {}
    assert why in caplog.text and "grading without student names" in caplog.text


def test_metadata_names_are_clean_text():
    got = intake.parse_metadata('submission_1:\n  :submitters:\n  - :name: "Eve\\ud800\\x1b]0;x\\x07\\n'
                                '# heading"\n    :email: "=cmd|x"\n')
    [member] = got["submission_1"]
    assert "\ud800" not in member.name and "\x1b" not in member.name and "\n" not in member.name
    member.name.encode("utf-8")
    assert member.email == "=cmd|x"             # kept as text; the CSV writer defuses it


def test_deep_folders_are_refused_without_recursion(tmp_path):
    from test_hostile_batch import deep_folder, remove_deep
    (deep_folder(tmp_path / "class" / "deep", 1200) / "softmax.py").write_text("x = 1\n")
    (tmp_path / "class" / "fine").mkdir()
    (tmp_path / "class" / "fine" / "softmax.py").write_text("x = 1\n")
    try:
        subs = discover([tmp_path / "class"], tmp_path / "work")
    finally:
        remove_deep(tmp_path / "class" / "deep")
    assert [(s.id, s.status) for s in subs] == [("deep", "too_large"), ("fine", "ok")]
    assert f"nested deeper than {intake.MAX_DEPTH}" in subs[0].message


def test_a_folder_with_too_many_entries_is_refused_as_they_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_ENTRIES", 50)
    folder = tmp_path / "class" / "crowd"
    for i in range(60):
        (folder / f"d{i}").mkdir(parents=True)          # empty folders: no file cap would fire
    [sub] = discover([folder.parent], tmp_path / "work")
    assert sub.status == "too_large" and "more than 50 files and folders" in sub.message


def test_a_zip_of_300000_entries_is_refused_from_its_end_record(tmp_path, monkeypatch):
    z = many_entries_zip(tmp_path / "crowd.zip", 300_000)
    assert intake.central_directory(z)[0] == 300_000
    parsed = []
    real = zipfile.ZipFile
    monkeypatch.setattr(intake.zipfile, "ZipFile", lambda *a, **k: parsed.append(a) or real(*a, **k))
    [sub] = discover([z], tmp_path / "work")
    assert sub.status == "too_large" and "300000 entries" in sub.message
    assert parsed == []                                  # refused before zipfile parsed anything


def test_a_lying_entry_count_is_caught_by_the_directory_size(tmp_path):
    z = many_entries_zip(tmp_path / "liar.zip", 30_000)
    raw = bytearray(z.read_bytes())
    struct.pack_into("<Q", raw, len(raw) - 22 - 20 - 56 + 24, 3)   # zip64 record: "3 entries"
    struct.pack_into("<Q", raw, len(raw) - 22 - 20 - 56 + 32, 3)
    z.write_bytes(bytes(raw))
    entries, cd_bytes = intake.central_directory(z)
    assert entries == 3 and cd_bytes > intake.MAX_CENTRAL_BYTES
    [sub] = discover([z], tmp_path / "work")
    assert sub.status == "too_large"


def test_an_unreadable_file_is_that_submissions_row(tmp_path, monkeypatch):
    cls = tmp_path / "class"
    for name in ("alice", "bob"):
        (cls / name).mkdir(parents=True)
        (cls / name / "softmax.py").write_text("x = 1\n")
    real = intake.copy_limited

    def failing(src, dest, *a, **k):
        if "alice" in str(dest):
            raise PermissionError(13, "Permission denied")
        return real(src, dest, *a, **k)
    monkeypatch.setattr(intake, "copy_limited", failing)
    subs = discover([cls], tmp_path / "work")
    assert [(s.id, s.status) for s in subs] == [("alice", "bad_archive"), ("bob", "ok")]
    assert "PermissionError" in subs[0].message


# -- no silent choices: ambiguous rows -----------------------------------------------------------
def test_two_different_copies_of_a_graded_file_are_an_ambiguous_row(tmp_path):
    """a_draft/softmax.py (the stub) and z_final/softmax.py: the grader would pick the first
    by name; instead the row is flagged, not graded, and names both candidates."""
    cls = tmp_path / "class"
    for sid, files in {"eve": {"a_draft/softmax.py": "STUB\n", "z_final/softmax.py": "DONE\n"},
                       "fay": {"old/softmax.py": "OLD\n", "softmax.py": "TOP\n"},
                       "gus": {"a/softmax.py": "SAME\n", "b/softmax.py": "SAME\n"},
                       "hal": {"a_draft/REPORT.md": "one", "z_final/REPORT.md": "two",
                               "softmax.py": "x\n"}}.items():
        for rel_, text in files.items():
            (cls / sid / rel_).parent.mkdir(parents=True, exist_ok=True)
            (cls / sid / rel_).write_text(text)
    subs = discover([cls], tmp_path / "work", reads=("softmax.py", "REPORT.md"))
    eve = one(subs, "eve")
    assert eve.status == intake.AMBIGUOUS and eve.path is None
    assert "a_draft/softmax.py" in eve.message and "z_final/softmax.py" in eve.message
    assert "not graded" in eve.message
    assert one(subs, "fay").status == "ok"      # a copy at the top is the one, as documented
    assert one(subs, "gus").status == "ok"      # identical copies: nothing to choose
    hal = one(subs, "hal")
    assert hal.status == intake.AMBIGUOUS and "REPORT.md" in hal.message
    # without the list of files the grader reads, nothing is ambiguous (the old behaviour)
    assert one(discover([cls], tmp_path / "work2"), "eve").status == "ok"


def test_ambiguous_names_are_clean_text(tmp_path):
    sub = tmp_path / "class" / "ivy"
    for folder in ("a\x1b[31m", "b"):
        (sub / folder).mkdir(parents=True)
        (sub / folder / "softmax.py").write_text(folder.encode("unicode_escape").decode())
    [ivy] = discover([tmp_path / "class"], tmp_path / "work", reads=("softmax.py",))
    assert ivy.status == intake.AMBIGUOUS
    assert "\x1b" not in ivy.message and len(ivy.message) <= intake.MESSAGE_MAX


def _nested_export_files(prefix: str = "") -> dict[str, str]:
    return {f"{prefix}submission_metadata.yml": "submission_1:\n  :submitters: []\n",
            f"{prefix}submission_1/softmax.py": "x = 1\n",
            f"{prefix}submission_2/softmax.py": "x = 2\n"}


def test_an_export_inside_a_class_folder_is_an_ambiguous_row(tmp_path):
    """A Gradescope export dropped among student folders (as a folder or a zip) was graded as
    one student; now it is flagged, with the --export hint, and never unpacked."""
    cls = tmp_path / "class"
    (cls / "alice").mkdir(parents=True)
    (cls / "alice" / "softmax.py").write_text("a\n")
    for rel_, text in _nested_export_files("export_folder/").items():
        (cls / rel_).parent.mkdir(parents=True, exist_ok=True)
        (cls / rel_).write_text(text)
    zip_of(cls / "export_zip.zip", _nested_export_files("assignment_123_export/"))
    # a student's own folder holding a metadata file but no submission folders is just theirs
    (cls / "bob").mkdir()
    (cls / "bob" / "softmax.py").write_text("b\n")
    (cls / "bob" / "submission_metadata.yml").write_text("{}\n")
    subs = discover([cls], tmp_path / "work", reads=("softmax.py",))
    assert one(subs, "alice").status == "ok" and one(subs, "bob").status == "ok"
    for sid in ("export_folder", "export_zip"):
        row = one(subs, sid)
        assert row.status == intake.AMBIGUOUS and row.path is None, sid
        assert "Gradescope export" in row.message and "--export" in row.message
        assert "2 submission folder" in row.message
        assert not (tmp_path / "work" / sid).exists()


def test_graded_alone_the_runner_names_the_other_copies(tmp_path):
    """Graded one by one (Gradescope: no TA row), the runner's Files notes name the copies
    it did not take, so the student sees which file was graded."""
    from grader.declaration import load
    from grader.runner import prepare
    sub = tmp_path / "sub"
    for folder, text in (("a_draft", "x = 1\n"), ("z_final", "x = 2\n")):
        (sub / folder).mkdir(parents=True)
        (sub / folder / "softmax.py").write_text(text)
    _, notes = prepare(load("softmax"), sub, tmp_path / "work")
    line = next(n for n in notes if "softmax.py" in n)
    assert "a_draft/softmax.py" in line and "other copies" in line and "z_final/softmax.py" in line
    (sub / "z_final" / "softmax.py").write_text("x = 1\n")             # identical: no note
    _, notes = prepare(load("softmax"), sub, tmp_path / "work2")
    assert not any("other copies" in n for n in notes)
