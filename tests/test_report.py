"""Class outputs from fake results: grades.csv, gradebook.csv, feedback.md, report.html, the
drill-down pages and the index (and a headless-Chromium check that the plots render; the click
through from the matrix is tests/test_report_browser.py)."""
from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grader import report
from grader import results as res
from grader.batch import intake_results
from grader.feedback import feedback_markdown
from grader.intake import Member, Submission

ROOT = Path(__file__).resolve().parent.parent


def t(number, name, score, max_score, vis="visible", output=""):
    status = "passed" if score >= max_score else "failed"
    return res.test_result(name=name, number=number, score=score, max_score=max_score,
                           status=status, tags=[name], visibility=vis, output=output or status)


def result(tests, *, status="graded", flags=(), seconds=1.5, sub_id="x", sandbox="bwrap",
           times=None, output="Files: found"):
    data = res.build(tests, execution_time=seconds, output=output,
                     extra={"assignment": "softmax", "status": status, "sandbox": sandbox,
                            "flags": list(flags), "max_score": 10.0, "build_id": "gk-0123456789ab",
                            "test_seconds": times or {}, "setup_seconds": {"hidden": 0.25}})
    data["extra_data"]["gradekit_batch"] = {"assignment": "softmax", "id": sub_id, "status": status,
                                            "digest": "d", "message": "", "seconds": seconds}
    return data


@pytest.fixture
def klass():
    subs = [Submission("s1", Path("/x"), [Member("Ann <b>", "ann@x.edu", "1")]),
            Submission("s2", Path("/x"), [Member("=HYPERLINK(\"x\")", "bo@x.edu", "2"),
                                          Member("Cy", "cy@x.edu", "3")]),
            Submission("s10", Path("/x"), []),
            Submission("s11", Path("/x"), []),
            Submission("bad", None, [Member("Dee", "dee@x.edu", "4")], "bad_archive",
                       "not a readable zip file")]
    results = {
        "s1": result([t("1.1", "loss", 4, 4), t("1.2", "grad", 4, 4),
                      t("2.1", "accuracy", 2, 2, "hidden", "SECRET hidden input 0.123")],
                     times={"1.1": 0.5, "1.2": 0.25, "2.1": 3.0}),
        "s2": result([t("1.1", "loss", 0, 4, output="max abs error 0.031 at index 7"),
                      t("1.2", "grad", 4, 4),
                      t("2.1", "accuracy", 0, 2, "after_due_date", "SECRET accuracy 0.41")],
                     flags=["crash"], seconds=3.0, times={"1.1": 1.5, "1.2": 0.75, "2.1": 5.0}),
        "s10": result([t("1.1", "loss", 1, 4, output="max abs error 2.5e-2 at index 3"),
                       t("1.2", "grad", 0, 4, output="`dW` has shape (3, 10), expected (65, 10)"),
                       t("2.1", "accuracy", 2, 2, "hidden")], status="timeout", flags=["timeout"]),
    }
    results["s11"] = result([t("1.1", "loss", 0, 4, output="not implemented")],
                            flags=["not_implemented"])
    results["bad"] = intake_results("softmax", subs[4])
    return subs, results


def test_grades_frame_columns_and_values(klass):
    subs, results = klass
    df = report.grades_frame(subs, results)
    assert list(df.columns) == report.ID_COLUMNS + ["1.1 loss", "1.2 grad", "2.1 accuracy"]
    assert list(df["id"]) == ["bad", "s1", "s2", "s10", "s11"]     # natural order
    row = df.set_index("id")
    assert row.loc["s1", "total"] == 10.0 and row.loc["s2", "total"] == 4.0 and row.loc["s10", "total"] == 3.0
    assert list(row["max"]) == [10.0] * 5                        # intake rows get the class max
    assert row.loc["s2", "name"] == "=HYPERLINK(\"x\"); Cy" and row.loc["s2", "email"] == "bo@x.edu; cy@x.edu"
    assert row.loc["s2", "flags"] == "crash" and row.loc["s10", "status"] == "timeout"
    assert row.loc["bad", "status"] == "bad_archive" and row.loc["bad", "message"] == "not a readable zip file"
    assert row.loc["s10", "1.2 grad"] == 0.0 and np.isnan(row.loc["bad", "1.1 loss"])
    assert row.loc["s2", "runtime"] == 3.0


def test_csvs_on_disk(tmp_path, klass):
    subs, results = klass
    df = report.grades_frame(subs, results)
    report.write_csvs(tmp_path, subs, df)
    grades = pd.read_csv(tmp_path / "grades.csv")
    assert list(grades.columns[:10]) == report.ID_COLUMNS and len(grades) == 5
    assert grades.set_index("id").loc["s2", "name"].startswith("'=")      # formula defused
    book = pd.read_csv(tmp_path / "gradebook.csv", dtype={"sid": str})
    assert list(book.columns) == report.GRADEBOOK_COLUMNS
    pair = book[book["id"] == "s2"]
    assert list(pair["sid"]) == ["2", "3"] and list(pair["score"]) == [4.0, 4.0]   # one row each
    assert book.set_index("sid").loc["4", "score"] == 0.0
    assert len(book) == 6                           # s10, s11 have no metadata: one blank row each


def test_test_stats_and_message_grouping(klass):
    _, results = klass
    stats = report.test_stats(results.values()).set_index("test")
    assert stats.loc["1.1 loss", "pass_rate"] == pytest.approx(1 / 4)
    assert stats.loc["1.1 loss", "mean"] == pytest.approx(5 / 4)
    assert stats.loc["1.1 loss", "failures"] == [("max abs error # at index #", 2), ("not implemented", 1)]
    assert stats.loc["1.2 grad", "pass_rate"] == pytest.approx(2 / 3)
    assert report.normalize_message("\n  **shape (3, 10)** vs 0x7ffe12\nmore") == "shape (#, #)** vs #"
    assert report.normalize_message("grads['b1'] of W12: rel error 1.5e-03, -2 bad") == \
        "grads['b1'] of W12: rel error #, # bad"


def test_feedback_hides_hidden_tests(klass):
    _, results = klass
    md = feedback_markdown(results["s2"], title="Softmax", submission_id="s2")
    assert "SECRET" not in md and "accuracy" not in md
    assert "max abs error 0.031 at index 7" in md
    assert "### 1.1 loss — 0 / 4 (failed)" in md
    assert "1 test (2 points): results after the due date" in md
    assert "**Visible tests: 4 / 8 points**" in md
    md1 = feedback_markdown(results["s1"])
    assert "SECRET" not in md1 and "1 test (2 points): hidden from students" in md1
    fenced = feedback_markdown({"tests": [dict(t("1", "a", 0, 1), output="x\n``` y",
                                               output_format="text")]})
    assert "````\nx\n``` y\n````" in fenced       # plain text cannot close its fence
    bad = feedback_markdown(results["bad"])
    assert "could not be graded (bad_archive):\n\n```\nnot a readable zip file\n```" in bad


def test_report_html_self_contained_and_escaped(tmp_path, klass):
    subs, results = klass
    df = report.grades_frame(subs, results)
    report.write_report(tmp_path, "softmax <test>", subs, results, df)
    page = (tmp_path / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    for img in images:
        assert base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page
    assert re.search(r"\bsrc=\"(?!data:)", page) is None
    # one script, ours, and the page's CSP lets exactly it run (by hash, no 'unsafe-inline')
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert scripts == [(ROOT / "grader" / "templates" / "sortable.js").read_text()]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1]
    assert page.count("<script") == 1
    assert "Ann &lt;b&gt;" in page and "Ann <b>" not in page and "softmax &lt;test&gt;" in page
    assert "max abs error 0.031 at index 7" in page     # a real message, not its '#' gist
    assert "max abs error # at index #" not in page
    attention = page.split("Needs attention")[1].split("All submissions")[0]
    assert all(i in attention for i in ("s2", "s10", "bad"))
    assert ">s1<" not in attention and ">s11<" not in attention    # a wrong answer is not a problem
    assert "build gk-0123456789ab" in page and "sandbox bwrap" in page and "data variant " in page


def test_failures_grouped_bugs_first_whole_submissions_apart(klass):
    subs, results = klass
    results["s3"] = result([t("1.1", "loss", 0, 4, output="max abs error 0.5 at index 1"),
                            t("1.2", "grad", 0, 4, output="`grad: not implemented`"),
                            t("2.1", "accuracy", 2, 2, "hidden")])
    results["s4"] = result([t("1.1", "loss", 0, 4, output="`loss: not implemented`"),
                            t("1.2", "grad", 0, 4, output="`grad: not implemented`"),
                            t("2.1", "accuracy", 2, 2, "hidden")])
    results["s5"] = result([t("1.1", "loss", 0, 4, output="`x` failed"), t("1.2", "grad", 4, 4)],
                           output="Files:\n- **import failed**: `util.py could not be imported: "
                                  "SyntaxError`", flags=["import"])
    results["s6"] = result([t("1.1", "loss", 4, 4)], flags=["tamper", "crash"])
    results["s7"] = result([t("1.1", "loss", 4, 4), t("1.2", "grad", 0, 4, output="Not run")],
                           flags=["budget"])
    subs = subs + [Submission(f"s{i}", Path("/x"), []) for i in range(3, 8)]
    df = report.grades_frame(subs, results)
    bugs, whole = report.failure_groups(df, results, {"s3": "s3/index.html"})
    assert [g["kind"] for g in bugs] == ["bug", "bug", "not implemented", "not implemented"]
    top = bugs[0]
    assert top["gist"] == "max abs error # at index #" and top["example"] == "max abs error 0.031 at index 7"
    assert [s["id"] for s in top["students"]] == ["s2", "s3"] and top["tests"] == ["1.1"]
    assert {"id": "s3", "href": "s3/index.html"} in top["students"]
    assert bugs[2]["gist"] == "grad: not implemented" and len(bugs[2]["students"]) == 2
    causes = {g["cause"]: [r["id"] for r in g["rows"]] for g in whole}
    assert whole[0]["cause"] == "tamper" and causes["tamper"] == ["s6"]
    assert causes["import failed"] == ["s5"] and causes["time budget ran out"] == ["s7"]
    assert causes["timeout"] == ["s10"] and causes["bad_archive"] == ["bad"]
    assert causes["nothing implemented"] == ["s11"]
    whole_ids = {r["id"] for g in whole for r in g["rows"]}
    assert not whole_ids & {s["id"] for g in bugs for s in g["students"]}
    why = {r["id"]: r["why"] for g in whole for r in g["rows"]}
    assert why["s5"] == "util.py could not be imported: SyntaxError"
    attention = {r["id"]: r["why"] for r in report.attention_rows(df, results, {})}
    assert attention["s5"] == "import failed: util.py could not be imported: SyntaxError"
    assert attention["bad"] == "not a readable zip file"


def test_pass_rates_sorted_hardest_first():
    stats = pd.DataFrame({"test": ["1.1 a", "1.2 b", "2.1 c", "10.1 d"],
                          "number": ["1.1", "1.2", "2.1", "10.1"],
                          "pass_rate": [0.5, 0.0, 1.0, 0.0]})
    assert report.pass_rate_bars(stats) == [("1.2 b", 0.0), ("10.1 d", 0.0), ("1.1 a", 50.0),
                                            ("2.1 c", 100.0)]
    long = "x" * 100
    assert report.pass_rate_bars(pd.DataFrame({"test": [long], "number": ["1"],
                                               "pass_rate": [1.0]}))[0][0] == long


def test_test_times_and_slowest_tests(tmp_path, klass):
    subs, results = klass
    stats = report.test_stats(results.values()).set_index("test")
    assert stats.loc["2.1 accuracy", "seconds"] == pytest.approx(4.0)
    assert stats.loc["2.1 accuracy", "max_seconds"] == pytest.approx(5.0)
    assert stats.loc["1.2 grad", "seconds"] == pytest.approx(0.5)
    df = report.grades_frame(subs, results)
    page = report.render_html("softmax", df, stats.reset_index(), results)
    timing = page.split("<h2>Grading time</h2>")[1]
    rows = re.findall(r"<tr><td>([\d.]+)</td><td>(\w+)</td><td class=\"num\">([\d.]+)</td>", timing)
    assert rows[:3] == [("2.1", "accuracy", "4.00"), ("1.1", "loss", "1.00"), ("1.2", "grad", "0.50")]
    assert "worker set-up: hidden 0.25 s" in timing
    tests = page.split("<h2>Tests</h2>")[1].split("<h2>")[0]
    assert '<td class="num" data-sort="4.0">4.00</td><td class="num" data-sort="5.0">5.00</td>' in tests


def test_drill_down_pages_show_every_test(tmp_path, klass):
    subs, results = klass
    df = report.grades_frame(subs, results)
    report.write_report(tmp_path, "softmax", subs, results, df)
    page = (tmp_path / "report.html").read_text()
    for sub in subs:
        assert f'<a href="{sub.id}/index.html">{sub.id}</a>' in page
    s2 = (tmp_path / "s2" / "index.html").read_text()
    assert "SECRET accuracy 0.41" in s2 and "after_due_date" in s2          # hidden ones too
    assert "max abs error 0.031 at index 7" in s2 and "crash" in s2
    assert "=HYPERLINK(&#34;x&#34;); Cy" in s2 and 'href="../report.html"' in s2
    assert 'href="results.json"' in s2 and 'href="feedback.md"' in s2
    assert "1.50" in s2 and "<script" not in s2                             # 1.1's seconds
    bad = (tmp_path / "bad" / "index.html").read_text()
    assert "bad_archive" in bad and "not a readable zip file" in bad


def test_pages_escape_hostile_text_everywhere(tmp_path, klass):
    """Student text in the matrix, the message groups and a drill-down page is text, never
    markup; an id that is not a plain folder name gets no page (and no link)."""
    subs, results = klass
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&\x1b[2J\u202e'
    subs = subs + [Submission("evil", Path("/x"), [Member(evil, evil, evil)]),
                   Submission("../up", Path("/x"), [])]
    results["evil"] = result([t("1.1", evil, 0, 4, output=evil), t("1.2", "grad", 1, 4, "hidden", evil)],
                             flags=[evil])
    results["../up"] = result([t("1.1", "loss", 0, 4, output="x")])
    df = report.grades_frame(subs, results)
    report.write_report(tmp_path, evil, subs, results, df)
    for path in (tmp_path / "report.html", tmp_path / "evil" / "index.html"):
        page = path.read_text()
        parser = _Tags()
        parser.feed(page)
        assert parser.tags <= PAGE_TAGS, (path, parser.tags - PAGE_TAGS)
        assert page.count("<script") == (1 if path.name == "report.html" else 0)
        assert "onerror" not in parser.attrs and "\x1b" not in page and "\u202e" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not (tmp_path.parent / "up").exists() and 'href="../up' not in (tmp_path / "report.html").read_text()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs |= {name for name, _ in attrs}


PAGE_TAGS = {"html", "head", "meta", "title", "style", "script", "body", "h1", "h2", "p", "img",
             "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "code", "span", "a", "pre"}


def test_index_and_summary(tmp_path, klass):
    subs, results = klass
    df = report.grades_frame(subs, results)
    report.write_report(tmp_path / "softmax", "softmax", subs, results, df)
    for sub_id, data in results.items():          # what the batch writes beside each report
        res.write_atomic(tmp_path / "softmax" / sub_id / "results.json", data)
    when = datetime(2026, 12, 2, 20, 30, tzinfo=timezone.utc)
    path = report.write_index(tmp_path, {"softmax": df, "two_layer_net": df.iloc[:0]}, now=when)
    page = path.read_text()
    for name in ("report.html", "grades.csv", "gradebook.csv"):
        assert f'href="softmax/{name}"' in page and f'href="two_layer_net/{name}"' in page
    assert "Generated 2026-12-02 20:30 UTC" in page and "gradekit 0.1.0" in page
    row = page.split('href="softmax/report.html">softmax</a>')[1].split("</tr>")[0]
    assert "<td>gk-0123456789ab</td><td>original</td><td>bwrap</td>" in row
    empty = page.split('href="two_layer_net/report.html">two_layer_net</a>')[1].split("</tr>")[0]
    assert re.search(r"<td>gk-[0-9a-f]{12} \(this kit; not in the results\)</td>", empty)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    text = report.summary_text("softmax", df, tmp_path, 12.0)
    assert "softmax: 5 submissions in 12 s" in text and "needs attention (3)" in text


# -- headless Chromium --------------------------------------------------------------------------------
def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _run_chromium(exe: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                           f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.chromium
def test_report_renders_in_headless_chromium(tmp_path, klass):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not on PATH (CI installs it: apt-get install chromium)")
    subs, results = klass
    report.write_report(tmp_path, "softmax", subs, results, report.grades_frame(subs, results))
    page = tmp_path / "report.html"

    # 1. every <img> decoded: a copy of the page with a probe script (allowed by its own CSP)
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
                     .replace("</body>", "<script>window.addEventListener('load',()=>{document.body.setAttribute("
                              "'data-imgs',[...document.images].map(i=>i.complete&&i.naturalWidth).join(','))})"
                              "</script></body>"))
    dom = _run_chromium(exe, tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    widths = re.search(r'data-imgs="([^"]*)"', dom.stdout)
    assert widths, dom.stderr[-2000:]
    assert [int(w) > 0 for w in widths.group(1).split(",")] == [True] * 3, widths.group(1)

    # 2. the real page: a screenshot whose plot regions are not blank
    from PIL import Image
    shot = tmp_path / "shot.png"
    run = _run_chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000",
                        "--hide-scrollbars", page.as_uri())
    assert shot.exists(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # bar/histogram colours are saturated: count clearly coloured (not grey/black text) pixels
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    colored_rows = (saturation > 60).sum(axis=1) > 20
    assert colored_rows.sum() > 150, "no plot visible in the screenshot"


# -- rows the sandbox or the grader flagged -------------------------------------------------------
def test_tamper_is_the_rows_status_and_needs_attention(klass):
    subs, results = klass
    results["s1"] = result([t("1.1", "loss", 4, 4)], flags=["crash", "tamper"])
    df = report.grades_frame(subs, results).set_index("id")
    assert df.loc["s1", "status"] == "tamper" and df.loc["s1", "flags"] == "tamper;crash"
    assert "s1" in set(report.problems(df.reset_index())["id"])
    assert "s1 (tamper; tamper;crash)" in report.summary_text("softmax", df.reset_index(), Path("o"))


def test_plain_mode_flags_every_row_and_warns_without_crowding_attention(tmp_path, klass):
    subs, results = klass
    for sid in ("s1", "s2", "s10", "s11"):
        results[sid]["extra_data"]["gradekit"]["sandbox"] = "plain"
    df = report.grades_frame(subs, results)
    graded = df[df["id"] != "bad"]
    assert all("no_isolation" in f.split(";") for f in graded["flags"])
    assert "s1" not in set(report.problems(df)["id"])          # a notice, not a problem
    text = report.summary_text("softmax", df, tmp_path)
    assert "4 of 5 submissions were graded WITHOUT OS isolation" in text
    report.write_report(tmp_path, "softmax", subs, results, df)
    assert "WITHOUT OS isolation" in (tmp_path / "report.html").read_text()
    assert "no_isolation" in pd.read_csv(tmp_path / "grades.csv").set_index("id").loc["s1", "flags"]


def test_garbage_results_never_break_the_writers(tmp_path, klass):
    """Whatever a results.json holds (a tampered one, an old format), the row is written."""
    subs, results = klass
    results["s1"] = {"score": "lots", "tests": [
        {"name": "$\\frac{", "number": ["x"], "score": "NaN", "max_score": float("inf")},
        {"name": None, "score": None}, "not a test", 7],
        "extra_data": {"gradekit": {"flags": "crash", "sandbox": ["plain"], "max_score": True},
                       "gradekit_batch": {"seconds": "slow", "message": {"a": 1}, "status": 3}}}
    df = report.grades_frame(subs, results)
    report.write_report(tmp_path, "softmax", subs, results, df)
    row = pd.read_csv(tmp_path / "grades.csv").set_index("id").loc["s1"]
    assert row["total"] == 0.0
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3       # the $ name did not break a plot
    feedback_markdown(results["s1"]).encode("utf-8")
