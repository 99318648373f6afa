"""The runner against hostile submissions: one total time budget, hidden tests whose inputs
never reach the student's feedback, and sources read the way Python reads them.

A tiny assignment ("probe", one graded file, tests defined here) stands in for the real
suites, so these tests are fast and do not move when a suite changes.
"""
from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from examples.build import reference_copy
from grader import batch, results as res, runner
from grader.declaration import ROOT, Assignment, Limits
from grader.framework import Budget, BudgetedWorker, CheckFailed, Context
from grader.framework import TestSpec as Spec
from grader.sandbox import StudentError, isolation

SECRET = 271828.0                  # a hidden input the student must never see
MARKER = "LEAK"                    # what the hostile probe prints / raises with

# -- the probe assignment ----------------------------------------------------------------------
RUN_LOG: list[tuple[str, str]] = []       # (test number, ctx.phase) in run order


def _hidden_sink(ctx: Context) -> None:
    RUN_LOG.append(("1.1", ctx.phase))
    ctx.shared["probe.from_hidden"] = "ok"
    ctx.call("probe.sink", np.array([SECRET, 1.0]))


def _visible_show(ctx: Context) -> None:
    RUN_LOG.append(("1.2", ctx.phase))
    assert ctx.self_check == ("probe.from_hidden" not in ctx.shared)
    assert ctx.shared.get("probe.from_hidden") == "ok", "hidden tests must run first"
    got = ctx.call("probe.show")
    if not isinstance(got, str):
        raise CheckFailed(f"show returned {type(got).__name__}")


def _hidden_again(ctx: Context) -> None:
    RUN_LOG.append(("2.1", ctx.phase))
    ctx.call("probe.show")


def _visible_raise(ctx: Context) -> None:
    RUN_LOG.append(("2.2", ctx.phase))
    ctx.call("probe.boom")


def _spin(ctx: Context) -> None:
    ctx.call("probe.spin", timeout=60.0)      # its own limit is far beyond the budget


def _passes(ctx: Context) -> None:
    ctx.call("probe.ok")


def spec(func, number: str, visibility: str, weight: float = 1.0) -> Spec:
    return Spec(func, func.__name__.strip("_"), number, weight, visibility, ("probe",))


LEAK_SPECS = [spec(_hidden_sink, "1.1", "hidden"), spec(_visible_show, "1.2", "visible"),
              spec(_hidden_again, "2.1", "hidden"), spec(_visible_raise, "2.2", "visible")]

HOSTILE = f'''
import os, sys, threading, time
print("imported probe")
STASH = []

def sink(x):
    STASH.append(repr(x.tolist()))
    print("{MARKER}", STASH, flush=True)
    sys.stderr.write("{MARKER} stderr " + STASH[-1] + "\\n")
    try:
        with open("/tmp/stash.txt", "w") as f:      # a file the next worker might read
            f.write(STASH[-1])
    except OSError:
        pass
    def later():
        for _ in range(50):
            print("{MARKER} thread", STASH, flush=True)
            time.sleep(0.01)
    threading.Thread(target=later, daemon=True).start()
    raise ValueError("{MARKER} " + STASH[-1] + " # PASSED <b>x</b>")

def show():
    try:
        with open("/tmp/stash.txt") as f:
            STASH.append(f.read())
    except OSError:
        pass
    print("{MARKER} show", STASH, flush=True)
    if STASH:
        raise RuntimeError("{MARKER} " + repr(STASH))
    return "nothing stashed"

def boom():
    print("{MARKER} boom", STASH)
    raise KeyError("{MARKER} " + repr(STASH) + " \\x1b]0;title\\x07")

def spin():
    import signal
    for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    while True:
        pass

def ok():
    return 1.0
'''


def probe(limits: Limits = Limits(call_seconds=20.0)) -> Assignment:
    return Assignment(name="probe", title="probe", graded=("probe.py",), given=(),
                      datasets=(), limits=limits)


@pytest.fixture
def use_probe(monkeypatch):
    """Make the runner grade the probe assignment with the given tests."""
    def install(specs, decl=None):
        decl = decl or probe()
        monkeypatch.setattr(runner, "load", lambda name: decl)
        monkeypatch.setattr(runner, "collect", lambda name: list(specs))
        return decl
    RUN_LOG.clear()
    return install


def submission(tmp_path: Path, source: str | bytes) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "probe.py").write_bytes(source.encode() if isinstance(source, str) else source)
    return sub


def modes() -> list[str]:
    """The OS-isolated modes usable here (the ones students get), else plain."""
    found = [m for m in ("bwrap", "uid") if isolation.available(m)[0]]
    return found or ["plain"]


# -- hidden inputs never reach the student's feedback ------------------------------------------
@pytest.mark.parametrize("mode", modes())
def test_hidden_inputs_printed_stashed_or_raised_never_reach_visible_output(
        tmp_path, use_probe, mode):
    use_probe(LEAK_SPECS)
    path = tmp_path / "results.json"
    data = runner.grade_submission("probe", submission(tmp_path, HOSTILE), results_path=path,
                                   sandbox_mode=mode)
    assert json.loads(path.read_text()) == data
    secret = repr(SECRET)[:6]
    text = json.dumps(data)
    assert secret not in text, [t["output"] for t in data["tests"]]
    assert "\\u001b" not in text and "\x1b" not in text
    by_number = {t["number"]: t for t in data["tests"]}
    for number in ("1.1", "2.1"):                 # hidden: nothing the student wrote
        assert MARKER not in by_number[number]["output"]
        assert by_number[number]["status"] == "failed"
    # visible: the student's own output and exception are shown, fenced, without the secret
    show = by_number["1.2"]["output"]
    assert "LEAK show []" in show and show.count("```") >= 2
    assert "KeyError" in by_number["2.2"]["output"]
    assert "imported probe" in data["output"]


def test_hidden_tests_run_first_in_their_own_worker_and_results_keep_number_order(
        tmp_path, use_probe):
    use_probe(LEAK_SPECS)
    data = runner.grade_submission("probe", submission(tmp_path, "def sink(x): pass\n"
                                                       "def show(): return 's'\n"
                                                       "def boom(): pass\n"),
                                   sandbox_mode="auto")
    assert RUN_LOG == [("1.1", "hidden"), ("2.1", "hidden"), ("1.2", "visible"),
                       ("2.2", "visible")]
    assert [t["number"] for t in data["tests"]] == ["1.1", "1.2", "2.1", "2.2"]
    assert data["score"] == 4.0
    extra = data["extra_data"]["gradekit"]
    assert extra["sandbox"] in ("bwrap", "uid") and extra["limits"]   # which memory bound held
    assert extra["limits"] in data["output"]


def test_self_check_runs_only_the_visible_phase(tmp_path, use_probe):
    use_probe(LEAK_SPECS)
    data = runner.grade_submission("probe", submission(tmp_path, "def show(): return 's'\n"
                                                       "def boom(): pass\n"),
                                   sandbox_mode="auto", visible_only=True)
    assert [n for n, _ in RUN_LOG] == ["1.2", "2.2"]
    assert {p for _, p in RUN_LOG} == {"visible"}
    assert [t["number"] for t in data["tests"]] == ["1.2", "2.2"]
    assert data["tests"][0]["status"] == "failed"     # no hidden phase wrote probe.from_hidden


@pytest.mark.parametrize("kind", ["exception", "import", "crash", "protocol", "bad_value"])
def test_hidden_failures_show_the_kind_only(kind):
    exc = StudentError(kind, f"f raised ValueError: {MARKER} 271828", f"Traceback {MARKER}")
    hidden = runner._student_error_lines(exc, reveal=False, budget=None)
    assert MARKER not in "".join(hidden) and "271828" not in "".join(hidden)
    shown = runner._student_error_lines(exc, reveal=True, budget=None)
    assert shown[0].startswith("`") and MARKER in shown[0] and shown[1].startswith("```")


def test_file_problems_found_before_running_are_shown_even_in_hidden_tests(tmp_path):
    (tmp_path / "sub").mkdir()
    errors, _ = runner.prepare(probe(), tmp_path / "sub", tmp_path / "work")
    lines = runner._student_error_lines(errors["probe"], reveal=False, budget=None)
    assert lines == ["`probe.py was not submitted`"]


# -- one total time budget --------------------------------------------------------------------
BUDGET = 4.0
SLOW = '''
import time
def spin():
    while True:          # the "fast" function that is a slow loop
        time.sleep(0.001)
def ok():
    return 1.0
'''


@pytest.mark.parametrize("source", [HOSTILE, SLOW], ids=["ignores-signals", "slow-loop"])
def test_total_budget_cuts_the_call_in_flight_and_fails_tests_not_reached(
        tmp_path, use_probe, source):
    specs = [spec(_passes, "1", "hidden"), spec(_spin, "2", "hidden", 5.0),
             spec(_passes, "3", "visible"), spec(_passes, "4", "hidden")]
    use_probe(specs, probe(Limits(call_seconds=20.0, submission_seconds=BUDGET)))
    path = tmp_path / "results.json"
    t0 = time.monotonic()
    data = runner.grade_submission("probe", submission(tmp_path, source), results_path=path,
                                   sandbox_mode=modes()[0])
    took = time.monotonic() - t0
    assert took < BUDGET + 10.0                      # budget + worker kill, not 60 s
    assert json.loads(path.read_text()) == data
    jsonschema.validate(data, res.schema())
    by_number = {t["number"]: t for t in data["tests"]}
    assert [t["number"] for t in data["tests"]] == ["1", "2", "3", "4"]
    assert by_number["1"]["status"] == "passed"      # ran before the budget was used up
    assert "time budget of 4 s" in by_number["2"]["output"]
    for n in ("3", "4"):                             # never reached
        assert by_number[n]["score"] == 0 and "time budget of 4 s" in by_number[n]["output"]
    assert data["score"] == 1.0
    assert "budget" in data["extra_data"]["gradekit"]["flags"]
    assert data["extra_data"]["gradekit"]["time_budget"] == BUDGET


SPIN_NAIVE = """
    import signal as _signal
    for _s in (_signal.SIGTERM, _signal.SIGALRM, _signal.SIGINT):
        _signal.signal(_s, _signal.SIG_IGN)
    while True:
        pass
"""


def test_batch_with_a_spinning_student_finishes_and_writes_every_output(tmp_path):
    """Finding 11 through the batch: a loss that ignores signals and spins costs its author
    the tests it did not finish, and nothing else; every output of the class is written."""
    classdir = tmp_path / "class"
    reference_copy("softmax", classdir / "honest")
    spinner = reference_copy("softmax", classdir / "spinner")
    path = spinner / "softmax.py"
    text = path.read_text()
    at = text.index(":\n", text.index("def softmax_loss_naive")) + 2
    path.write_text(text[:at] + SPIN_NAIVE + text[at:])
    budget, out = 8.0, tmp_path / "out"
    t0 = time.monotonic()
    df = batch.grade_batch("softmax", [classdir], out, jobs=1, time_budget=budget,
                           progress=False).set_index("id")
    assert time.monotonic() - t0 < 2 * budget + 60          # two students, generous slack
    assert df.loc["honest", "total"] == 100.0
    assert df.loc["spinner", "total"] < 100.0
    for name in ("grades.csv", "gradebook.csv", "report.html"):
        assert (out / name).is_file(), name
    data = json.loads((out / "spinner" / "results.json").read_text())
    assert "budget" in data["extra_data"]["gradekit"]["flags"]
    assert any(f"time budget of {budget:g} s" in t["output"] for t in data["tests"])
    jsonschema.validate(data, res.schema())


class _FakeWorker:
    """Records the timeout each call got."""
    limits = Limits(call_seconds=20.0)
    mode = "fake"

    def __init__(self):
        self.timeouts: list[float] = []

    def call(self, target, args=(), kwargs=None, *, keep=(), timeout=None):
        self.timeouts.append(timeout)
        if timeout < 1.0:
            raise StudentError("timeout", f"{target} did not finish within {timeout:g} s")
        return 1.0


def test_every_timed_call_gets_min_of_its_limit_and_the_remaining_budget():
    fake = _FakeWorker()
    budget = Budget(30.0)
    worker = BudgetedWorker(fake, budget)
    worker.call("m.f")
    worker.call("m.f", timeout=5.0)
    assert fake.timeouts[0] == 20.0 and fake.timeouts[1] == 5.0
    assert worker.mode == "fake"                     # everything else is the worker's own
    budget.start -= 29.5                             # half a second left
    with pytest.raises(StudentError, match="time budget of 30 s"):
        worker.call("m.f", timeout=5.0)
    assert 0 < fake.timeouts[2] <= 0.5 and budget.exhausted
    budget.start -= 10.0
    with pytest.raises(StudentError, match="Not run: .*time budget of 30 s"):
        worker.call("m.f")
    assert len(fake.timeouts) == 3                   # an exhausted budget sends nothing


def test_batch_caps_the_child_at_the_declared_budget_plus_shutdown():
    lim = probe().limits
    assert lim.submission_seconds + lim.shutdown_seconds < 600 - 60   # Gradescope's default
    soft, hard = batch.budgets("softmax", None)
    declared = runner.load("softmax").limits
    assert soft is None and hard == declared.submission_seconds + declared.shutdown_seconds
    soft, hard = batch.budgets("softmax", 100.0)
    assert soft == 100.0 and 100.0 < hard <= 100.0 + declared.shutdown_seconds


def test_gradescope_autograder_counts_its_own_start_against_the_budget(monkeypatch):
    spec_ = importlib.util.spec_from_file_location(
        "_autograde", ROOT / "publish" / "templates" / "autograder" / "autograde.py")
    autograde = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(autograde)
    monkeypatch.delenv("GRADEKIT_TIME_BUDGET", raising=False)
    declared = runner.load("convnet").limits.submission_seconds
    assert declared - 60 < autograde.time_budget("convnet") <= declared
    monkeypatch.setattr(autograde, "START", time.monotonic() - declared + 10)
    assert autograde.time_budget("convnet") <= 10
    monkeypatch.setattr(autograde, "START", time.monotonic() - 10 * declared)
    assert autograde.time_budget("convnet") == autograde.MIN_BUDGET
    monkeypatch.setenv("GRADEKIT_TIME_BUDGET", "7")
    monkeypatch.setattr(autograde, "START", time.monotonic())
    assert 6 < autograde.time_budget("convnet") <= 7


# -- sources read the way Python reads them ---------------------------------------------------
LATIN1 = ("# -*- coding: latin-1 -*-\n# caf\xe9 cr\xe8me (a Windows editor)\n"
          "HYPERPARAMS = {'name': 'Jos\xe9'}\ndef ok():\n    return 1.0\n").encode("latin-1")
BOM = b"\xef\xbb\xbf" + ("# caf\u00e9\nHYPERPARAMS = {'name': 'Jos\u00e9'}\n"
                         "def ok():\n    return 1.0\n").encode("utf-8")


def test_results_are_rewritten_after_every_test_and_synced_to_disk_once(
        tmp_path, use_probe, monkeypatch):
    use_probe([spec(_passes, "1", "visible"), spec(_passes, "2", "visible")])
    path, synced, seen = tmp_path / "results.json", [], []
    real_fsync, real_replace = res.os.fsync, res.os.replace
    monkeypatch.setattr(res.os, "fsync", lambda fd: (
        synced.append(Path(res.os.readlink(f"/proc/self/fd/{fd}")).parent), real_fsync(fd)))
    monkeypatch.setattr(res.os, "replace", lambda a, b: (
        seen.append(Path(b)), texts.append(Path(a).read_text()), real_replace(a, b)))
    texts: list[str] = []
    data = runner.grade_submission("probe", submission(tmp_path, "def ok(): pass\n"),
                                   results_path=path, visible_only=True, sandbox_mode="auto")
    assert data["score"] == 2.0 and json.loads(path.read_text()) == data
    assert seen.count(path) >= 3                  # set-up, then after each test, then final
    assert synced.count(tmp_path) == 1            # only the final one pays an fsync
    mine = [t for p, t in zip(seen, texts) if p == path]
    assert all(json.loads(t) for t in mine)       # every rewrite is a whole file
    assert all("\n " not in t for t in mine[:-1])   # the rewrites in between: compact
    assert mine[-1].startswith('{\n  "')           # the final one: indented, for people


def _constant(ctx: Context) -> None:
    if ctx.constant("probe", "HYPERPARAMS") != {"name": "Jos\u00e9"}:
        raise CheckFailed("wrong constant")


@pytest.mark.parametrize("raw", [LATIN1, BOM, LATIN1.replace(b"\n", b"\r\n")],
                         ids=["latin-1", "utf-8-bom", "latin-1-crlf"])
def test_a_file_python_can_import_is_graded(tmp_path, use_probe, raw):
    use_probe([spec(_passes, "1", "visible"), spec(_constant, "2", "visible")])
    data = runner.grade_submission("probe", submission(tmp_path, raw), sandbox_mode="auto")
    assert data["score"] == 2.0, [t["output"] for t in data["tests"]]


@pytest.mark.parametrize("raw, why", [
    (b"# -*- coding: klingon -*-\nx = 1\n", "unknown encoding"),
    (b"x = '\xe9'\n", "encoding declaration"),
    (b"import torch\n", "forbids"),
    (b"# -*- coding: rot13 -*-\nx = 1\n", "not a text encoding"),
    (b"# -*- coding: hex -*-\nx = 1\n", "not a text encoding"),
    (b"_X = " + b"+".join([b"1"] * 130_000) + b"\n", "RecursionError"),
])
def test_what_python_cannot_import_is_refused_statically(tmp_path, raw, why):
    decl = probe()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "probe.py").write_bytes(raw)
    errors, _ = runner.prepare(decl, tmp_path / "sub", tmp_path / "work")
    assert errors["probe"].kind in ("import", "forbidden")
    assert why in errors["probe"].message


def test_latin1_source_is_scanned_for_forbidden_imports(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "probe.py").write_bytes(
        b"# coding: latin-1\n# \xe9\nimport sklearn.svm\n")
    errors, _ = runner.prepare(probe(), tmp_path / "sub", tmp_path / "work")
    assert errors["probe"].kind == "forbidden"


def test_report_is_read_as_utf8_with_or_without_a_bom(tmp_path):
    decl = Assignment(name="probe", title="probe", graded=(), given=(), datasets=(),
                      report="REPORT.md")
    (tmp_path / "REPORT.md").write_bytes(b"\xef\xbb\xbf## Final accuracy\r\nTest accuracy: 0.9\xff")
    text, note = runner.read_report(decl, tmp_path)
    assert text.startswith("## Final accuracy") and text.endswith("0.9\ufffd") and "found" in note


# -- terminal and Markdown safety --------------------------------------------------------------
def test_summary_is_terminal_safe_and_intake_notes_are_fenced(tmp_path):
    t = res.test_result(name="n", number="1", score=0, max_score=1, status="failed",
                        tags=("f",), visibility="visible",
                        output="boom \x1b]52;c;ZXZpbA==\x07\x1b[2J\ud800 done")
    data = res.build([t], execution_time=1.0, output="",
                     extra={"max_score": 1.0, "sandbox": "plain"})
    text = runner.summary(data)
    assert "\x1b" not in text and "\x07" not in text and "done" in text
    text.encode("utf-8")                                   # no lone surrogate left
    nested = tmp_path / "sub" / "`# PASSED 100`"
    nested.mkdir(parents=True)
    (nested / "probe.py").write_text("x = 1\n")
    _, notes = runner.prepare(probe(), tmp_path / "sub", tmp_path / "work")
    assert "``" in notes[0] and "\n#" not in notes[0]
