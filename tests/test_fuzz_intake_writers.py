"""Fuzz the intake (zip entries, folder names, metadata YAML) and every writer of student text
(feedback Markdown, CSV cells, the terminal summary, HTML report cells) with Hypothesis, so the
next instance of each class of attack is found by a test, not by a student.

The budget in `make test` is small (GRADEKIT_FUZZ_EXAMPLES examples per property, default 40,
all properties together well under 30 s); a long run is one environment variable away (see
docs/staff/fuzzing.md):  GRADEKIT_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -q
tests/test_fuzz_intake_writers.py
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader import intake, report, safetext
from grader import results as res
from grader.feedback import feedback_markdown
from grader.intake import IntakeError, Member, Submission
from test_intake import write_raw_zip

EXAMPLES = int(os.environ.get("GRADEKIT_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")
FORMULA = ("=", "+", "-", "@", "\t", "\r", "|", "%")

# Text a student controls: anything, weighted towards what breaks writers.
NASTY = ["\ud800", "\udfff", "\x00", "\x1b]0;t\x07", "\x1b[2J", "\r", "\n", "\u202e", "\u2028",
         "```", "````", "`", "<!--", "-->", "<script>", "</td>", "&amp;", "\"", "'", "#", "\n# ",
         "=", "+", "-", "@", "|", "%", "\t", "$", "$x^2$", "\\", "é", "张", "\U0001f600", " "]
student_text = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=12)), max_size=12).map("".join)


# -- intake: zips ----------------------------------------------------------------------------------
PART = st.sampled_from([b"..", b".", b"", b"a", b"softmax.py", b"\xff\xfe", b"\xed\xa0\x80",
                        b"__MACOSX", b".hidden", b"C:", b"a\\..\\..", b"\x00", "é".encode(),
                        b"x" * 300, b"\x1b[2J", b"sub"])
ENTRY_NAME = st.builds(lambda lead, parts, slash: lead + b"/".join(parts) + slash,
                       st.sampled_from([b"", b"", b"/", b"\\"]), st.lists(PART, min_size=1, max_size=24),
                       st.sampled_from([b"", b"", b"/"]))
ENTRY = st.fixed_dictionaries({
    "name": ENTRY_NAME, "data": st.binary(max_size=64),
    "flags": st.sampled_from([0, 0, 0x800, 0x1]),
    "attr": st.sampled_from([0, 0o100644 << 16, 0o120777 << 16, 0o040755 << 16, 0o010644 << 16])})


def _files_outside(root: Path, allowed: list[Path]) -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(root):
        for name in files + dirs:
            p = Path(folder) / name
            if not any(p == a or a in p.parents or p in a.parents for a in allowed):
                out.append(p)
    return out


@FUZZ
@given(st.lists(ENTRY, max_size=8))
def test_zip_extraction_raises_only_intake_errors_and_stays_inside(entries):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        z = root / "in" / "sub.zip"
        z.parent.mkdir()
        raw = [dict(name=e["name"], data=e["data"], method=0, crc=zlib.crc32(e["data"]),
                    size=len(e["data"]), flags=e["flags"], attr=e["attr"]) for e in entries]
        write_raw_zip(z, raw)
        dest = root / "out" / "dest"
        try:
            notes = intake.extract_zip(z, dest)
        except IntakeError as exc:
            assert exc.status in intake.STATUSES and not CONTROL.search(exc.message)
        else:
            assert all(not CONTROL.search(n) for n in notes)
            for p in dest.rglob("*"):
                assert not p.is_symlink()
                str(p.relative_to(dest)).encode("utf-8")            # names are valid UTF-8
                assert len(p.relative_to(dest).parts) <= intake.MAX_DEPTH
        assert _files_outside(root, [z, dest]) == []


@FUZZ
@given(st.lists(ENTRY, max_size=6), st.booleans())
def test_discover_never_raises_on_submissions(entries, as_folder_of_zips):
    """A class folder holding a hostile zip and a hostile folder: rows, never exceptions."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cls = root / "class"
        cls.mkdir()
        raw = [dict(name=e["name"], data=e["data"], method=0, crc=zlib.crc32(e["data"]),
                    size=len(e["data"]), flags=e["flags"], attr=e["attr"]) for e in entries]
        write_raw_zip(cls / "z.zip", raw)
        folder = cls / "f"
        folder.mkdir()
        for e in entries:                                # the same names as files on disk
            parts = [p for p in e["name"].replace(b"\\", b"/").split(b"/")
                     if p not in (b"", b".", b"..") and b"\x00" not in p][:8]
            if parts:
                target = os.path.join(os.fsencode(folder), *parts)
                try:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as fh:
                        fh.write(e["data"])
                except OSError:
                    pass                                 # a name the file system refuses
        subs = intake.discover([cls] if as_folder_of_zips else [cls / "z.zip", folder], root / "work")
        ids = [s.id for s in subs]
        assert "z" in ids and len({i.casefold() for i in ids}) == len(ids)
        if as_folder_of_zips:
            assert sorted(ids) == ["f", "z"]
        for s in subs:
            assert s.status in intake.STATUSES and not CONTROL.search(s.message + s.source)
            assert (s.path is None) == (s.status != intake.OK)
        assert _files_outside(root, [cls, root / "work"]) == []


# -- intake: metadata YAML -----------------------------------------------------------------------------
YAML_TOKEN = st.sampled_from(["submission_1:", "\n", "  ", "- ", ":submitters:", ":name: ", ":email: ",
                              "&a ", "*a", "[", "]", "{", "}", ", ", "!ruby/object:X ", "!!python/name:os.system ",
                              "? ", "\"\\ud800\"", "'", "|", ">", "%YAML 1.1\n", "---\n", "...\n",
                              "<<: *a", "~", "1e400", "0x", "\t", "\x00", "\ufeff"])
YAML_TEXT = st.one_of(st.lists(st.one_of(YAML_TOKEN, student_text), max_size=40).map("".join),
                      st.binary(max_size=200))


@FUZZ
@given(YAML_TEXT)
def test_metadata_parsing_never_raises_and_names_are_clean(text):
    got = intake.parse_metadata(text)
    assert isinstance(got, dict)
    for folder, members in got.items():
        assert isinstance(folder, str) and isinstance(members, list)
        for m in members:
            for value in (m.name, m.email, m.sid):
                assert not CONTROL.search(value) and "\n" not in value


# -- writers ------------------------------------------------------------------------------------------------
def _test(name: str, output: str, fmt: str = "md", score: float = 0.0) -> dict:
    t = res.test_result(name=name, number="1.1", score=score, max_score=1.0, status="failed",
                        tags=[], visibility="visible", output=output)
    t["output_format"] = fmt
    return t


def _fence_spans(md: str) -> tuple[list[list[str]], list[str]]:
    """(enclosed lines of every fenced block, the lines outside any block), read the
    CommonMark way: a block opens at a line of 3+ backticks and no other backtick, and closes
    at the first line of at least as many backticks."""
    blocks, outside, lines, i = [], [], md.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^(`{3,})[^`]*$", lines[i])      # an info string holds no backtick
        if m:
            fence, body, i = m.group(1), [], i + 1
            while i < len(lines) and not re.fullmatch(rf"`{{{len(fence)},}}\s*", lines[i]):
                body.append(lines[i])
                i += 1
            blocks.append(body)
        else:
            outside.append(lines[i])
        i += 1
    return blocks, outside


@FUZZ
@given(student_text, student_text, student_text, st.sampled_from(["text", "html", None, "md"]))
def test_feedback_markdown_is_clean_and_fences_hold(name, output, sub_id, fmt):
    md = feedback_markdown({"tests": [_test(name, output, fmt or "text")], "output": output,
                            "output_format": "text", "score": 0}, title=name, submission_id=sub_id)
    md.encode("utf-8")
    assert not CONTROL.search(md)
    if fmt == "md":
        return                                           # the grader's own Markdown, cleaned
    blocks, outside = _fence_spans(md)
    assert len([line for line in outside if line.startswith("#")]) == 3   # title, Tests, the test
    cleaned = safetext.clean(output, 20_000).rstrip()
    if cleaned.strip():
        assert len(blocks) == 2                         # top output and the test's: nothing else
        assert all("\n".join(body) == cleaned for body in blocks)


@FUZZ
@given(st.lists(st.tuples(student_text, student_text, student_text), min_size=1, max_size=4))
def test_csv_cells_are_spreadsheet_safe(rows):
    subs, results = [], {}
    for i, (name, message, test_name) in enumerate(rows):
        sid = f"s{i}"
        subs.append(Submission(sid, Path("/x"), [Member(name, message, name)], "ok", message))
        data = res.build([_test(test_name, message, score=1.0)], execution_time=1.0, output=message,
                         extra={"assignment": "softmax", "status": "graded", "sandbox": "bwrap",
                                "flags": [name], "max_score": 1.0})
        data["extra_data"]["gradekit_batch"] = {"status": "graded", "message": message, "seconds": 1.0}
        results[sid] = data
    df = report.grades_frame(subs, results)
    with tempfile.TemporaryDirectory() as tmp:
        report.write_csvs(Path(tmp), subs, df)
        for name in ("grades.csv", "gradebook.csv"):
            text = (Path(tmp) / name).read_bytes().decode("utf-8")
            for row in csv.reader(io.StringIO(text, newline="")):
                for cell in row:
                    assert not CONTROL.search(cell) and "\n" not in cell
                    if cell.startswith(FORMULA):
                        float(cell)                      # only a number may look like a formula


@FUZZ
@given(st.lists(st.tuples(student_text, student_text), min_size=1, max_size=3), student_text)
def test_terminal_summary_has_no_control_characters(rows, flag):
    subs = [Submission(f"s{i}", None, [Member(name)], "bad_archive", message)
            for i, (name, message) in enumerate(rows)]
    results = {s.id: {"score": 1, "tests": [], "extra_data": {"gradekit": {"flags": [flag], "status": flag,
                                                                           "sandbox": "plain"}}}
               for s in subs}
    text = report.summary_text("softmax", report.grades_frame(subs, results), Path("out"), 1.0)
    assert not CONTROL.search(text)


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "img", "table",
                "thead", "tbody", "tr", "th", "td", "ul", "li", "code", "span", "a", "script"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)


@FUZZ
@given(st.lists(st.tuples(student_text, student_text, student_text), min_size=1, max_size=3), student_text)
def test_html_report_cells_are_escaped(rows, title):
    subs, results = [], {}
    for i, (name, message, test_name) in enumerate(rows):
        subs.append(Submission(f"s{i}", Path("/x"), [Member(name)], "ok", message))
        data = res.build([_test(test_name, message)], execution_time=1.0, output=message,
                         extra={"assignment": "softmax", "status": "graded", "sandbox": "bwrap",
                                "flags": [message], "max_score": 1.0})
        data["extra_data"]["gradekit_batch"] = {"status": name, "message": message}
        results[f"s{i}"] = data
    df = report.grades_frame(subs, results)
    with mock.patch.multiple(report, plot_scores=lambda df: "", plot_pass_rates=lambda s: "",
                             plot_runtimes=lambda df: ""):
        page = report.render_html(title, df, report.test_stats(results.values()), results,
                                  interactive=True)
    assert not CONTROL.search(page)
    parser = _Tags()
    parser.feed(page)
    assert parser.tags <= ALLOWED_TAGS, parser.tags - ALLOWED_TAGS
    assert page.count("<script") == 1              # the pinned sort script, nothing of theirs


@pytest.mark.filterwarnings("ignore::UserWarning:matplotlib")
@pytest.mark.filterwarnings("ignore:Glyph")
@pytest.mark.filterwarnings("ignore:Matplotlib currently does not support")
@FUZZ
@given(student_text)
def test_plot_labels_never_break_matplotlib_mathtext(name):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(2, 1))
    FigureCanvasAgg(fig)
    fig.subplots().set_yticks([0], [report._label(name)])
    fig.canvas.draw()
