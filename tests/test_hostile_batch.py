"""A class survives its worst student: one attacking submission or archive per finding, graded
by the real batch (softmax, tiny submissions). Each test asserts that the batch finished and
wrote all its outputs, that the innocent classmates' rows are exactly what a run without the
attacker gave, and that the attacker gained nothing (no score, no one else's identity).

Speed: the innocent class is graded once (module fixture); each attack copies that output
folder, so the batch keeps the innocents' finished results and grades only the attacker."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from grader import batch
from grader import results as res
from test_fuzz_intake_writers import _fence_spans
from test_intake import LAUGHS, NESTED, many_entries_zip

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (ROOT / "reference" / "softmax" / "softmax.py").read_text()
STUB = (ROOT / "assignments" / "softmax" / "softmax.py").read_text()
OUTPUTS = ("grades.csv", "gradebook.csv", "report.html")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
INNOCENT_COLUMNS = ["id", "name", "email", "sid", "total", "max", "status", "flags"]
ADA = "submission_101"
BOB = "submission_102"
META = f"""\
{ADA}:
  :submitters:
  - :name: Ada Lovelace
    :sid: '101'
    :email: ada@example.edu
{BOB}:
  :submitters:
  - :name: Bob Stub
    :sid: '102'
    :email: bob@example.edu
"""


# -- the innocent class, graded once -----------------------------------------------------------
def write_export(root: Path, meta: str = META) -> Path:
    """A Gradescope export folder: Ada submits the reference, Bob the untouched stub."""
    for sub_id, text in ((ADA, REFERENCE), (BOB, STUB)):
        (root / sub_id).mkdir(parents=True)
        (root / sub_id / "softmax.py").write_text(text)
    (root / "submission_metadata.yml").write_text(meta, encoding="utf-8")
    return root


def grade(out: Path, paths: list[Path], export: Path, **kw) -> pd.DataFrame:
    return batch.grade_batch("softmax", paths, out, exports=[export], jobs=2,
                             progress=kw.pop("progress", False), **kw)


@pytest.fixture(scope="module")
def innocent(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    """(export folder, output folder, grades.csv) of the class without any attacker."""
    root = tmp_path_factory.mktemp("innocent")
    export = write_export(root / "export")
    out = root / "out"
    df = grade(out, [], export).set_index("id")
    assert list(df["status"]) == ["graded", "graded"] and df.loc[BOB, "total"] == 0.0
    return export, out, pd.read_csv(out / "grades.csv", dtype={"sid": str})


def attack(tmp_path: Path, innocent, attackers: dict[str, Path] | None = None,
           **kw) -> tuple[Path, pd.DataFrame]:
    """Grade the innocent export plus `attackers` (name -> folder or zip, in a class folder)
    into a copy of the innocent output folder (made unless the test made it); returns
    (out, grades.csv as written)."""
    export, base_out, _ = innocent
    out = tmp_path / "out"
    if not out.exists():
        shutil.copytree(base_out, out)
    classdir = tmp_path / "class"
    classdir.mkdir(exist_ok=True)
    for name, path in (attackers or {}).items():
        if path.parent != classdir:
            shutil.move(str(path), classdir / name)
    grade(out, [classdir] if attackers else [], kw.pop("export", export), **kw)
    return out, pd.read_csv(out / "grades.csv", dtype={"sid": str})


def assert_contained(out: Path, grades: pd.DataFrame, innocent, attacker: str) -> pd.Series:
    """The batch wrote everything, the innocents' rows are unchanged, the attacker has 0 and
    no one else's identity. Returns the attacker's row."""
    for name in OUTPUTS:
        text = (out / name).read_bytes().decode("utf-8")       # valid UTF-8, or this raises
        assert not CONTROL.search(text.replace("\r\n", "\n")), name
    rows = grades.set_index("id")
    want = innocent[2].set_index("id")
    for sub_id in (ADA, BOB):
        assert rows.loc[sub_id, INNOCENT_COLUMNS[1:]].fillna("").to_dict() == \
            want.loc[sub_id, INNOCENT_COLUMNS[1:]].fillna("").to_dict()
        assert (out / sub_id / "feedback.md").exists()
    mine = rows.loc[attacker]
    assert mine["total"] == 0.0
    for field in ("name", "email", "sid"):
        assert not {str(mine[field])} & {str(want.loc[i, field]) for i in (ADA, BOB)}
    assert (out / attacker / "results.json").exists() and (out / attacker / "feedback.md").exists()
    return mine


def deep_folder(root: Path, depth: int) -> Path:
    """`root`/d/d/.../d, `depth` levels (Path.mkdir(parents=True) would itself recurse)."""
    leaf = root
    leaf.mkdir(parents=True)
    for _ in range(depth):
        leaf = leaf / "d"
        leaf.mkdir()
    return leaf


def remove_deep(root: Path) -> None:
    """Remove a deep_folder bottom-up without recursion (shutil.rmtree recurses)."""
    chain = [root]
    while (chain[-1] / "d").is_dir():
        chain.append(chain[-1] / "d")
    for folder in reversed(chain):
        for p in folder.iterdir():
            if not p.is_dir():
                p.unlink()
        folder.rmdir()


def folder_with(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    path = tmp_path / "class" / name
    path.mkdir(parents=True)
    for fname, text in files.items():
        (path / fname).write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def zip_with(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    path = tmp_path / "class" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for fname, text in files.items():
            zf.writestr(fname, text)
    return path


# -- 1: a lone surrogate in student text kills the batch on every re-run ---------------------------
SURROGATE = 'raise ValueError("\\ud800 and \\udfff")\n'


def test_a_surrogate_exception_is_its_own_row_and_reruns_survive(tmp_path, innocent):
    path = folder_with(tmp_path, "mallory", {"softmax.py": SURROGATE})
    out, grades = attack(tmp_path, innocent, {"mallory": path})
    mine = assert_contained(out, grades, innocent, "mallory")
    assert mine["status"] == "graded" and "import" in mine["flags"]
    feedback = (out / "mallory" / "feedback.md").read_bytes().decode("utf-8")
    assert "\ufffd" in feedback and "\ud800" not in feedback
    shutil.rmtree(out / "mallory")             # nothing kept: the re-run grades it again ...
    grade(out, [tmp_path / "class"], innocent[0])
    assert_contained(out, pd.read_csv(out / "grades.csv", dtype={"sid": str}), innocent, "mallory")


def test_a_surrogate_in_an_export_name_is_cleaned_not_fatal(tmp_path, innocent):
    meta = META.replace(":name: Bob Stub", ':name: "Bob \\ud800 Stub"')
    assert '"Bob \\ud800 Stub"' in meta
    export = write_export(tmp_path / "export", meta)
    out = tmp_path / "out"
    df = grade(out, [], export).set_index("id")
    name = df.loc[BOB, "name"]
    assert name.startswith("Bob \ufffd") and name.endswith(" Stub")
    assert df.loc[ADA, "name"] == "Ada Lovelace" and df.loc[ADA, "status"] == "graded"
    assert not re.search("[\ud800-\udfff]", name)
    for name in OUTPUTS:
        (out / name).read_bytes().decode("utf-8")


LEFTOVERS = {
    "surrogates": b'{"score": 100, "tests": [], "output": "\\ud800\\udc00\\ud800",'
                  b' "extra_data": {"gradekit": {"flags": [{"x": 1}], "sandbox": 7}}}',
    "huge": b'{"score": 100, "tests": [], "output": "' + b"x" * (res.RESULTS_MAX_BYTES + 10) + b'"}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "nonfinite": b'{"score": NaN, "tests": [{"score": Infinity, "name": 5}]}',
    "not_utf8": b'{"score": 100, "tests": [], "output": "\xff\xfe"}',
    "a_folder": None,                           # a folder where results.json should be
}


def test_a_rerun_survives_what_an_earlier_run_left(tmp_path, innocent):
    """A hostile or corrupt OUT/<id>/results.json (written by a plain-mode leftover, a full
    disk, a crash) is regraded, not fatal; the innocents' kept rows are untouched."""
    out = tmp_path / "out"
    shutil.copytree(innocent[1], out)
    attackers = {}
    for name, content in LEFTOVERS.items():
        attackers[name] = folder_with(tmp_path, name, {"softmax.py": STUB})
        target = out / name / "results.json"
        target.parent.mkdir()
        target.mkdir() if content is None else target.write_bytes(content)
    out, grades = attack(tmp_path, innocent, attackers)
    for name in LEFTOVERS:
        mine = assert_contained(out, grades, innocent, name)
        assert mine["status"] == ("graded" if name != "a_folder" else "grader_error"), name


# -- 2: a student's zip posing as a Gradescope export ----------------------------------------------
POSING = {"claims": META.replace("Ada Lovelace", "Mallory"), "laughs": LAUGHS, "nested": NESTED,
          "surrogate": 'x:\n  :submitters:\n  - :name: "\\ud800"\n'}


def test_a_zip_posing_as_an_export_gets_no_identity(tmp_path, innocent):
    """Claiming Ada's id and name, a billion-laughs bomb, YAML 20,000 deep, a surrogate."""
    attackers = {f"{name}.zip": zip_with(tmp_path, f"{name}.zip", {
        "submission_metadata.yml": meta, f"{ADA}/softmax.py": STUB, "softmax.py": STUB})
        for name, meta in POSING.items()}
    out, grades = attack(tmp_path, innocent, attackers)
    for name in POSING:
        mine = assert_contained(out, grades, innocent, name)
        # an export inside a class folder is an ambiguous row for the TA: no identity, no grade
        assert mine["status"] == "ambiguous" and pd.isna(mine["name"]) and pd.isna(mine["email"])
    assert sorted(grades["id"]) == sorted([*POSING, ADA, BOB])   # no duplicate_id for Ada
    book = pd.read_csv(out / "gradebook.csv", dtype={"sid": str})
    assert book.set_index("id").loc[ADA, "name"] == "Ada Lovelace"
    assert "Mallory" not in book.to_string()


# -- 3: deep folders and crowded zips ------------------------------------------------------------------
def test_deep_folders_and_crowded_zips_are_rows(tmp_path, innocent):
    deep = tmp_path / "class" / "deep"
    (deep_folder(deep, 1200) / "softmax.py").write_text(REFERENCE)
    many_entries_zip(tmp_path / "class" / "crowd.zip", 300_000)
    try:
        out, grades = attack(tmp_path, innocent, {"deep": deep, "crowd.zip": tmp_path / "class" / "crowd.zip"})
    finally:
        remove_deep(deep)
    for attacker in ("deep", "crowd"):
        mine = assert_contained(out, grades, innocent, attacker)
        assert mine["status"] == "too_large"
    rows = grades.set_index("id")
    assert "nested deeper than" in rows.loc["deep", "message"]
    assert "300000 entries" in rows.loc["crowd", "message"]


# -- 9 and CSV: student text in Markdown, HTML, CSV and terminals ---------------------------------
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\n### 1.1 loss — 10 / 10 (passed)\n<!-- ``` <script>x</script>"
HOSTILE_NAMES = ["=HYPERLINK(\"http://evil\",\"x\")", "@SUM(A1)", "+1+1", "-2+3", "\tcmd",
                 "|calc", "%0A", "nul\x00byte", "esc\x1b[31m", "bidi\u202egnp.exe"]


def test_hostile_text_is_escaped_in_every_output(tmp_path, innocent):
    people = "".join(f"  - :name: {json.dumps(n)}\n    :email: {json.dumps(n)}\n" for n in HOSTILE_NAMES)
    meta = META + f"submission_103:\n  :submitters:\n{people}"
    export = write_export(tmp_path / "export", meta)
    (export / "submission_103").mkdir()
    (export / "submission_103" / "softmax.py").write_text(
        f"raise ValueError({HOSTILE!r})\n", encoding="utf-8")
    out, grades = attack(tmp_path, innocent, export=export)
    mine = assert_contained(out, grades, innocent, "submission_103")
    for path in ("grades.csv", "gradebook.csv"):
        with open(out / path, newline="", encoding="utf-8") as fh:
            text = fh.read()
        assert "\x00" not in text and "\x1b" not in text and "\u202e" not in text
        book = pd.read_csv(out / path, dtype=str, keep_default_na=False)
        for col in ("name", "email", "message"):
            for cell in book.get(col, []):
                assert not cell.startswith(("=", "+", "@", "\t", "|", "%")) or cell == ""
                assert not (cell.startswith("-") and cell != "-"), cell
    assert mine["name"].startswith("'=HYPERLINK")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>x" not in page and "&lt;script&gt;" not in page.split("<body>")[0]
    feedback = (out / "submission_103" / "feedback.md").read_text(encoding="utf-8")
    assert "\x1b" not in feedback and "\x07" not in feedback
    _, outside = _fence_spans(feedback)
    assert "### 1.1 loss — 10 / 10 (passed)" not in outside       # no fake heading
    assert [line for line in outside if line.startswith("### ")] == \
        [line for line in outside if re.match(r"### .* — 0 / \d+ \(failed\)$", line)]


def test_cli_terminal_output_has_no_control_characters(tmp_path, innocent):
    """`grader run` and `grader grade` (summary and intake warnings) print student text."""
    mallory = folder_with(tmp_path, "mal\x1b]0;x\x07lory", {"softmax.py": f"raise ValueError({HOSTILE!r})\n"})
    (tmp_path / "class" / "stray\x1b[2J.txt").write_text("a stray file: an intake warning")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "grader", "run", "softmax", str(mallory),
                          "--results", str(tmp_path / "r.json")], cwd=ROOT, env=env,
                         capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    grade_cli = subprocess.run([sys.executable, "-m", "grader", "grade", "softmax", str(tmp_path / "class"),
                                "--export", str(innocent[0]), "--out", str(tmp_path / "out"),
                                "--jobs", "2"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert grade_cli.returncode == 0, grade_cli.stderr.decode(errors="replace")
    assert b"ignoring 1 entry" in grade_cli.stderr
    for stream in (run.stdout, run.stderr, grade_cli.stdout):
        text = stream.decode("utf-8")
        assert "\x1b" not in text and "\x07" not in text, text[-500:]
    for name in OUTPUTS:
        assert (tmp_path / "out" / name).exists()


# -- 5 (the batch's part): plain mode only when asked, and then every row says so --------------------
def test_plain_mode_is_refused_unless_asked_and_then_every_row_says_so(tmp_path, innocent):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", GRADEKIT_SANDBOX="plain")
    env.pop("GRADEKIT_ALLOW_PLAIN", None)
    cmd = [sys.executable, "-m", "grader", "grade", "softmax", "--export", str(innocent[0]),
           "--out", str(tmp_path / "out"), "--jobs", "2"]
    refused = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--unsafe-no-isolation" in refused.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()
    allowed = subprocess.run(cmd + ["--unsafe-no-isolation"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert allowed.returncode == 0, allowed.stderr
    assert "WITHOUT OS isolation" in allowed.stderr and "WITHOUT OS isolation" in allowed.stdout
    grades = pd.read_csv(tmp_path / "out" / "grades.csv")
    assert all("no_isolation" in f for f in grades["flags"])
    assert list(grades["status"]) == ["graded", "graded"]        # grading itself still works
    assert "WITHOUT OS isolation" in (tmp_path / "out" / "report.html").read_text()
