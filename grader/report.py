"""Class-level outputs of a batch: `grades.csv`, `gradebook.csv`, `report.html`, one drill-down
page per submission (`OUT/<id>/index.html`), the index page and the terminal summary.
Everything is derived from the per-submission `results.json` files (the one source of truth,
read through `grader.results`: its records, status and flag names) plus the intake rows, so a
resumed batch reports exactly like an uninterrupted one. Data flows one way: this module reads
results and never imports the batch that wrote them.

Pages are Jinja2 templates (`grader/templates/`) with autoescaping on, the engine pandas' own
HTML output uses: every value a template prints is escaped unless the code marked it safe
(only our own plot tags and script are), and passes `safetext.clean` first (the environment's
`finalize`), so student text (names, messages, output, ids) cannot add markup or control
characters, and no hand-written escaping is left to forget. Pages are self-contained: plots
are PNGs (matplotlib's Agg canvas, no pyplot state) embedded as `data:` URIs, CSS is inline,
and a Content-Security-Policy forbids loading anything from elsewhere; report.html's one
script (sorting the tables, `templates/sortable.js`) is pinned in that policy by its hash.
CSVs get spreadsheet-safe cells, the terminal control-free text. Writers never raise on text:
a plot that cannot be drawn is a note, a drill-down page that cannot be written is skipped,
and the three class files are always written atomically (write, then rename).

A row graded without OS isolation carries the flag `no_isolation`; a row whose sandbox saw
tampering gets the status `tamper`.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import logging
import math
import os
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

import numpy as np
import pandas as pd

from grader import results as res
from grader import safetext
from grader.intake import OK, Submission

log = logging.getLogger(__name__)

ID_COLUMNS = ["id", "name", "email", "sid", "total", "max", "status", "flags", "runtime", "message"]
GRADEBOOK_COLUMNS = ["id", "name", "email", "sid", "score"]
TEXT_COLUMNS = ("name", "email", "sid", "flags", "message")
FAILURE_EXAMPLES = 3
FAILURE_GROUPS = 40           # message groups shown in report.html
GROUP_STUDENTS = 12           # students named per message group (the rest are counted)
SLOWEST = 5
STUDENT_PAGE = "index.html"   # OUT/<id>/index.html, beside its results.json and feedback.md
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")   # what intake's ids look like
NOT_IMPLEMENTED = "not implemented"


# -- reading results ------------------------------------------------------------------------
def test_column(test: dict[str, Any]) -> str:
    """A test's column in grades.csv: its number and name, one clean line."""
    return safetext.one_line(f"{test.get('number', '')} {test.get('name', '')}")


def number_key(num: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", str(num)))


def natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def _tests(results: dict[str, Any]) -> list[dict[str, Any]]:
    tests = results.get("tests") if isinstance(results, dict) else None
    return [t for t in tests if isinstance(t, dict)] if isinstance(tests, list) else []


def _max_score(results: dict[str, Any], gk: res.Gradekit) -> float:
    if gk.max_score is not None:
        return gk.max_score
    tests = _tests(results)
    return float(sum(res.number(t.get("max_score")) for t in tests)) if tests else float("nan")


def passed(test: dict[str, Any]) -> bool:
    if "status" in test:
        return test["status"] == res.PASSED
    return res.number(test.get("score")) >= res.number(test.get("max_score")) - 1e-9


def _flags(gk: res.Gradekit) -> set[str]:
    """The flags the grader recorded, as clean one-line words, plus `no_isolation` when the
    grader ran in the `plain` sandbox."""
    out = {safetext.one_line(f, 40).replace(";", ",") for f in gk.flags if f.strip()}
    if gk.sandbox == "plain":
        out.add(res.NO_ISOLATION)
    return out


def _status(gb: res.BatchRecord, gk: res.Gradekit, sub: Submission, flags: set[str]) -> str:
    if res.TAMPER in flags:
        return res.TAMPER
    status = gb.status or gk.status or (sub.status if sub.status != OK else res.NOT_GRADED)
    return safetext.one_line(status, 40)


def _seconds_of(data: dict[str, Any]) -> dict[str, float]:
    """{test number: wall seconds} as the runner recorded them ({} for older results)."""
    return dict(res.gradekit_of(data).test_seconds or {})


# -- grades.csv / gradebook.csv ---------------------------------------------------------------
def grades_frame(subs: list[Submission], results: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per submission: who, total, max, status, flags, runtime, one column per test."""
    rows, columns = [], {}
    for sub in subs:
        data = results.get(sub.id) or {}
        gb, gk = res.batch_of(data), res.gradekit_of(data)
        flags = _flags(gk)
        row = {"id": sub.id, "name": safetext.one_line(sub.name), "email": safetext.one_line(sub.email),
               "sid": safetext.one_line(sub.sid), "total": res.number(data.get("score")),
               "max": _max_score(data, gk), "status": _status(gb, gk, sub, flags),
               "flags": ";".join(sorted(flags, key=lambda f: (f != res.TAMPER, f))),
               "runtime": np.nan if gb.seconds is None else gb.seconds,
               "message": safetext.one_line(gb.message or sub.message, 500)}
        for t in _tests(data):
            col = test_column(t)
            if col in ID_COLUMNS:
                col += " (test)"
            columns.setdefault(col, number_key(t.get("number", "")))
            row[col] = res.number(t.get("score"))
        rows.append(row)
    test_cols = sorted(columns, key=lambda c: (columns[c], c))
    df = pd.DataFrame(rows, columns=ID_COLUMNS + test_cols)
    known = df["max"].dropna()
    if len(known):                      # intake failures: the class's max, so % make sense
        df["max"] = df["max"].fillna(known.mode().iloc[0])
    order = sorted(range(len(df)), key=lambda i: natural_key(df["id"].iloc[i]))
    return df.iloc[order].reset_index(drop=True)


def gradebook_frame(subs: list[Submission], df: pd.DataFrame) -> pd.DataFrame:
    """One row per student: a group submission's grade goes to every member."""
    score = dict(zip(df["id"], df["total"]))
    rows = []
    for sub in sorted(subs, key=lambda s: natural_key(s.id)):
        for m in sub.members or [None]:
            rows.append({"id": sub.id, "name": safetext.one_line(m.name) if m else "",
                         "email": safetext.one_line(m.email) if m else "",
                         "sid": safetext.one_line(m.sid) if m else "", "score": score.get(sub.id, 0.0)})
    return pd.DataFrame(rows, columns=GRADEBOOK_COLUMNS)


def _csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Every text cell and header safe for a spreadsheet (`safetext.csv_cell`: one clean
    line, a formula prefix defused); numbers pass through."""
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: safetext.csv_cell(v, 500) if isinstance(v, str) else v)
    df.columns = [safetext.csv_cell(c, 500) for c in df.columns]
    return df


def write_csvs(out: Path, subs: list[Submission], df: pd.DataFrame) -> None:
    res.write_text_atomic(out / "grades.csv", _csv_safe(df).to_csv(index=False))
    res.write_text_atomic(out / "gradebook.csv", _csv_safe(gradebook_frame(subs, df)).to_csv(index=False))


# -- messages ---------------------------------------------------------------------------------
# a number not inside a name: 'W1', "grads['b2']" and 'conv3x3' keep their digits
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])(?:0x[0-9a-fA-F]+|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def first_line(text: str, limit: int = 300) -> str:
    """A message's first meaningful line, Markdown emphasis and code marks stripped."""
    for line in safetext.clean(text or "").splitlines():
        line = re.sub(r"\s+", " ", line.strip().strip("`*_ "))
        if line:
            return line if len(line) <= limit else line[:limit - 1] + "…"
    return "(no message)"


def normalize_message(text: str, limit: int = 160) -> str:
    """The gist of a failure message: first meaningful line, numbers replaced by '#', so
    'max abs error 0.031 at index 7' and '... 0.2 at index 3' group together."""
    line = first_line(text, 10 * limit)
    if line == "(no message)":
        return line
    line = re.sub(r"\s+", " ", _NUMBER.sub("#", line))
    return line if len(line) <= limit else line[:limit - 1] + "…"


# -- per-test statistics ----------------------------------------------------------------------
def test_stats(results: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Per test: pass rate, mean score, mean and max wall seconds, and the commonest
    (normalized) failure messages with one real example of each."""
    acc: dict[str, dict[str, Any]] = {}
    for data in results:
        seconds = _seconds_of(data)
        for t in _tests(data):
            col = test_column(t)
            s = acc.setdefault(col, {"test": col, "number": safetext.one_line(t.get("number", "")),
                                     "name": safetext.one_line(t.get("name", "")),
                                     "visibility": safetext.one_line(t.get("visibility", "visible")),
                                     "max": res.number(t.get("max_score")), "scores": [],
                                     "times": [], "passed": 0, "failures": Counter(),
                                     "examples": {}})
            s["scores"].append(res.number(t.get("score")))
            if str(t.get("number", "")) in seconds:
                s["times"].append(seconds[str(t.get("number", ""))])
            if passed(t):
                s["passed"] += 1
            else:
                gist = normalize_message(t.get("output", ""))
                s["failures"][gist] += 1
                s["examples"].setdefault(gist, first_line(t.get("output", "")))
    rows = []
    for s in sorted(acc.values(), key=lambda s: (number_key(s["number"]), s["test"])):
        n = len(s["scores"])
        rows.append({"test": s["test"], "number": s["number"], "name": s["name"],
                     "visibility": s["visibility"], "max": s["max"], "n": n,
                     "pass_rate": s["passed"] / n, "mean": float(np.mean(s["scores"])),
                     "seconds": float(np.mean(s["times"])) if s["times"] else np.nan,
                     "max_seconds": float(np.max(s["times"])) if s["times"] else np.nan,
                     "failures": s["failures"].most_common(FAILURE_EXAMPLES),
                     "examples": s["examples"]})
    return pd.DataFrame(rows, columns=["test", "number", "name", "visibility", "max", "n",
                                       "pass_rate", "mean", "seconds", "max_seconds",
                                       "failures", "examples"])


def problems(df: pd.DataFrame) -> pd.DataFrame:
    """Rows a TA should look at: not graded cleanly (intake failure, timeout, grader error)
    or flagged by the grader/sandbox (crash, memory, timeout, forbidden import, ...)."""
    flagged = df["flags"].fillna("").map(lambda f: bool(res.attention_flags(f.split(";"))))
    mask = (df["status"] != res.GRADED) | flagged
    return df.loc[mask, ["id", "name", "status", "flags", "message"]]


# -- failures: whole submissions, and bugs grouped by message --------------------------------
IMPORT_FAILED = "**import failed**"


def _import_failures(data: dict[str, Any]) -> list[str]:
    """The runner's "import failed" lines in a results' top-level output."""
    output = safetext.clean(data.get("output", "") if isinstance(data, dict) else "")
    return [first_line(line.split(IMPORT_FAILED, 1)[1].lstrip(": "))
            for line in output.splitlines() if IMPORT_FAILED in line]


def whole_failure(row: Mapping[str, Any], data: dict[str, Any]) -> tuple[str, str] | None:
    """(cause, why) when the submission failed as a whole (tampering, not graded, timed out,
    out of time budget, an import that failed, a missing file, no point anywhere), else
    None: then its failed tests are bugs worth grouping by message."""
    status, message = str(row.get("status", "")), str(row.get("message") or "")
    flags = set(str(row.get("flags") or "").split(";"))
    failed = [t for t in _tests(data) if not passed(t)]
    example = first_line(failed[0].get("output", "")) if failed else ""
    if status == res.TAMPER:
        return "tamper", message or example
    if status != res.GRADED:
        return status, message or example
    if res.BUDGET in flags:
        return "time budget ran out", message or example
    imports = _import_failures(data)
    if imports:
        return "import failed", imports[0]
    for flag, cause in (("missing", "file missing"), ("forbidden", "forbidden import")):
        if flag in flags:
            return cause, example
    tests = _tests(data)
    if tests and not any(res.number(t.get("score")) > 0 for t in tests):
        return ("nothing implemented" if "not_implemented" in flags else "no points"), example
    return None


def failure_groups(df: pd.DataFrame, results: Mapping[str, dict[str, Any]],
                   pages: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(message groups, whole-submission groups). Message groups hold the failed tests of
    submissions that ran, by normalized message: bugs first (most students first), "not
    implemented" last. Whole-submission groups are by cause, tamper first."""
    whole: dict[str, list[dict[str, str]]] = {}
    groups: dict[str, dict[str, Any]] = {}
    for row in df.to_dict("records"):
        data = results.get(row["id"]) or {}
        link = {"id": row["id"], "href": pages.get(row["id"], "")}
        cause = whole_failure(row, data)
        if cause is not None:
            whole.setdefault(cause[0], []).append(dict(link, why=cause[1]))
            continue
        for t in _tests(data):
            if passed(t):
                continue
            gist = normalize_message(t.get("output", ""))
            g = groups.setdefault(gist, {
                "gist": gist, "example": first_line(t.get("output", "")), "count": 0,
                "kind": NOT_IMPLEMENTED if NOT_IMPLEMENTED in gist.lower() else "bug",
                "tests": [], "students": []})
            g["count"] += 1
            number = safetext.one_line(t.get("number", ""), 40)
            if number not in g["tests"]:
                g["tests"].append(number)
            if link not in g["students"]:
                g["students"].append(link)
    bugs = sorted(groups.values(), key=lambda g: (g["kind"] != "bug", -len(g["students"]),
                                                   -g["count"], g["gist"]))
    for g in bugs:
        g["tests"].sort(key=number_key)
    order = sorted(whole, key=lambda c: (c != res.TAMPER, -len(whole[c]), c))
    return bugs[:FAILURE_GROUPS], [{"cause": c, "rows": whole[c]} for c in order]


def attention_rows(df: pd.DataFrame, results: Mapping[str, dict[str, Any]],
                   pages: Mapping[str, str]) -> list[dict[str, Any]]:
    """`problems(df)` with a reason for each: the batch's or intake's message, else the
    whole-submission cause, else the first failed test's message."""
    rows = []
    for r in problems(df).to_dict("records"):
        full = df.loc[df["id"] == r["id"]].iloc[0].to_dict()
        data = results.get(r["id"]) or {}
        why = r["message"] or ""
        if not why:
            cause = whole_failure(full, data)
            failed = [t for t in _tests(data) if not passed(t)]
            why = (f"{cause[0]}: {cause[1]}" if cause else
                   first_line(failed[0].get("output", "")) if failed else "")
        rows.append(dict(r, why=why, href=pages.get(r["id"], "")))
    return rows


# -- plots --------------------------------------------------------------------------------------
def _label(text: Any, limit: int = 48) -> str:
    """A test name as a plot label: one clean line, `$` escaped (matplotlib reads $...$ as
    mathtext, which can fail to parse)."""
    text = safetext.one_line(text, limit + 20)
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("$", r"\$")


def _img(alt: str, plot: Callable[..., str], *args: Any) -> str:
    """An <img> of a plot (trusted markup: a fixed alt text and base64), or a note when it
    cannot be drawn (never an exception)."""
    from markupsafe import Markup, escape
    try:
        return Markup(f'<img alt="{escape(alt)}" src="data:image/png;base64,{plot(*args)}">')
    except Exception as exc:
        log.warning("report: %s not drawn (%s: %s)", alt, type(exc).__name__,
                    safetext.one_line(exc, 200))
        return Markup('<p class="muted">({}: plot unavailable)</p>').format(alt)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(height: float = 3.0) -> tuple[Any, Any]:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7.5, height))
    return fig, fig.subplots()


def _no_data(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_scores(df: pd.DataFrame) -> str:
    from matplotlib.ticker import MaxNLocator
    fig, ax = _figure()
    scored = df[df["status"].isin(res.SCORED)]
    top = float(df["max"].max()) if df["max"].notna().any() else 0.0
    if len(scored):
        bins = np.linspace(0, top, 21) if top > 0 else 20
        ax.hist(scored["total"], bins=bins, color="#3b6fb6", edgecolor="white")
        ax.set_xlabel(f"total score (out of {top:g})")
        ax.set_ylabel("submissions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        _no_data(ax, "graded submissions")
    ax.set_title(f"Score distribution ({len(scored)} graded or timed-out submissions)")
    return _png(fig)


def pass_rate_bars(stats: pd.DataFrame) -> list[tuple[str, float]]:
    """(label, % with full marks) per test, hardest first (ties in test order)."""
    order = sorted(range(len(stats)), key=lambda i: (stats["pass_rate"].iloc[i],
                                                     number_key(stats["number"].iloc[i])))
    return [(_label(stats["test"].iloc[i], 110), 100 * float(stats["pass_rate"].iloc[i]))
            for i in order]


def plot_pass_rates(stats: pd.DataFrame) -> str:
    """Horizontal bars, hardest test at the top; a test nobody passed gets a red "0 %"
    where its bar would be, and a red label."""
    bars = pass_rate_bars(stats)
    fig, ax = _figure(max(2.5, 0.28 * len(bars) + 1.2))
    if bars:
        y = np.arange(len(bars))[::-1]
        ax.barh(y, [rate for _, rate in bars], color="#2e8b57")
        ax.set_yticks(y, [label for label, _ in bars], fontsize=8)
        for yi, (_, rate), tick in zip(y, bars, ax.get_yticklabels()):
            if rate == 0:
                ax.text(1, yi, "0 %", color="#a01818", va="center", fontsize=8, fontweight="bold")
                tick.set_color("#a01818")
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of submissions with full marks")
    else:
        _no_data(ax, "tests")
    ax.set_title("Pass rate per test (hardest first)")
    return _png(fig)


def plot_runtimes(df: pd.DataFrame) -> str:
    fig, ax = _figure()
    from matplotlib.ticker import MaxNLocator
    rt = df["runtime"].dropna()
    if len(rt):
        ax.hist(rt, bins=min(20, max(5, len(rt))), color="#c0762c", edgecolor="white")
        ax.set_xlabel("seconds per submission")
        ax.set_ylabel("submissions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        _no_data(ax, "runtimes")
    ax.set_title("Grading time per submission")
    return _png(fig)


# -- templates ------------------------------------------------------------------------------------
TEMPLATES = Path(__file__).resolve().parent / "templates"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _finite(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _fmt(spec: str, scale: float = 1.0, suffix: str = "") -> Callable[[Any], str]:
    """A template filter: a number formatted by `spec` ("r": its repr, for data-sort), blank
    when missing or not finite."""
    def f(x: Any) -> str:
        x = _finite(x)
        if x is None:
            return ""
        return repr(x * scale) if spec == "r" else format(x * scale, spec) + suffix
    return f


def _finalize(value: Any) -> Any:
    """What every `{{ }}` prints: our own safe markup as is, else clean text (autoescaped
    after this), blank for None."""
    from markupsafe import Markup
    if isinstance(value, Markup):
        return value
    return "" if value is None else safetext.clean(value, res.OUTPUT_MAX)


@functools.cache
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, finalize=_finalize,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(g=_fmt("g"), fixed=_fmt(".2f"), pct=_fmt(".0f", 100, "%"),
                       secs=_fmt(".2f"), secs1=_fmt(".1f"), sortnum=_fmt("r"))
    return env


@functools.cache
def sort_script() -> tuple[str, str]:
    """(report.html's script, its CSP source: the sha256 that lets exactly it run)."""
    text = (TEMPLATES / "sortable.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"'sha256-{digest}'"


def render(template: str, title: str, *, script: bool = False, **context: Any) -> str:
    """A page from `grader/templates/<template>`; `script` adds the sort script."""
    from markupsafe import Markup
    csp, code = CSP, None
    if script:
        text, source = sort_script()
        csp, code = f"{CSP}; script-src {source}", Markup(text)
    return _env().get_template(template).render(title=title, csp=Markup(csp), script=code,
                                                **context)


# -- facts about a run ----------------------------------------------------------------------------
def _counted(values: Iterable[str], none: str = "unknown") -> str:
    """'bwrap' when all agree, 'bwrap (3), plain (1)' when they do not."""
    counts = Counter(safetext.one_line(v, 60) for v in values if v)
    if len(counts) <= 1:
        return next(iter(counts), none)
    return ", ".join(f"{v} ({n})" for v, n in counts.most_common())


def data_variant(assignment: str) -> str:
    """The data variant this kit grades with: a packaged kit's stamp, else the environment's
    (GRADEKIT_DATA_VARIANT), else "original". (Results do not record it yet.)"""
    try:
        from grader import build_id as builds
        from grader.declaration import load
        stamp = load(assignment).suite_dir / builds.STAMP
        if stamp.exists():
            return safetext.one_line(json.loads(stamp.read_text()).get("data_variant", "unknown"))
        from hwdata import manifest as mf
        return mf.variant_name(os.environ.get(mf.ENV_VARIANT) or None) or "original"
    except Exception:
        return "unknown"


def run_facts(results: Iterable[dict[str, Any]], assignment: str | None = None,
              now: datetime | None = None) -> dict[str, str]:
    """Date, build id(s), data variant, sandbox mode(s) and kit version of a class's results;
    the build id is this kit's own (said so) when no result recorded one."""
    from grader import __version__
    records = [res.gradekit_of(d) for d in results]
    assignment = assignment or _counted(r.assignment for r in records)
    known = assignment != "unknown"
    build_ids = _counted((r.build_id or "" for r in records), none="")
    if not build_ids and known:
        try:
            from grader import build_id as builds
            build_ids = f"{builds.build_id(assignment)} (this kit; not in the results)"
        except Exception as exc:
            log.warning("report: no build id (%s)", safetext.one_line(exc, 200))
    now = now or datetime.now(timezone.utc)
    return {"generated": now.strftime("%Y-%m-%d %H:%M UTC"), "build_ids": build_ids or "unknown",
            "variant": data_variant(assignment) if known else "unknown",
            "sandboxes": _counted(r.sandbox for r in records if r.sandbox not in ("", "none")),
            "kit": __version__}


# -- report.html ----------------------------------------------------------------------------------
def _status_counts(df: pd.DataFrame) -> str:
    counts = df["status"].value_counts()
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def _summary(df: pd.DataFrame) -> str:
    graded = df[df["status"] == res.GRADED]
    text = f"{len(df)} submissions: {_status_counts(df) or 'none'}."
    if len(graded):
        top = float(df["max"].max()) if df["max"].notna().any() else float("nan")
        text += (f" Graded: mean {graded['total'].mean():.2f}, median "
                 f"{graded['total'].median():.2f} out of {top:g}.")
    return text


def _cell(score: Any, top: float, why: str) -> dict[str, Any]:
    x = _finite(score)
    if x is None:
        return {"text": "–", "sort": "", "cls": "na", "why": why}
    cls = "pass" if x >= top - 1e-9 else ("part" if x > 0 else "fail")
    return {"text": f"{x:g}", "sort": repr(x), "cls": cls, "why": why}


def matrix(df: pd.DataFrame, stats: pd.DataFrame, results: Mapping[str, dict[str, Any]],
           pages: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(columns, rows) of the student × test table: one column per test, a cell's hover text
    the failed test's message."""
    info = {s["test"]: s for s in stats.to_dict("records")}
    columns = []
    for col in df.columns[len(ID_COLUMNS):]:
        s = info.get(col.removesuffix(" (test)"), {})
        columns.append({"col": col, "number": s.get("number", col), "name": s.get("name", ""),
                        "visibility": s.get("visibility", "visible"), "max": s.get("max", np.nan)})
    rows = []
    for r in df.to_dict("records"):
        why = {test_column(t): first_line(t.get("output", ""), 200)
               for t in _tests(results.get(r["id"]) or {}) if not passed(t)}
        cells = [_cell(r[c["col"]], res.number(c["max"]), why.get(c["col"].removesuffix(" (test)"), ""))
                 for c in columns]
        rows.append(dict(r, href=pages.get(r["id"], ""), cells=cells))
    return columns, rows


def render_html(title: str, df: pd.DataFrame, stats: pd.DataFrame,
                results: Mapping[str, dict[str, Any]] | None = None,
                pages: Mapping[str, str] | None = None, facts: Mapping[str, str] | None = None,
                *, interactive: bool = False) -> str:
    """The class report as one self-contained HTML page. `results` (by id) add the message
    groups and hover texts, `pages` (id -> href) the links to drill-down pages, `facts` the
    run's date, build id, variant and sandbox; `interactive` adds the sort script (pinned by
    hash in the page's CSP; without it the page runs no script at all)."""
    results, pages = results or {}, pages or {}
    bugs, whole = failure_groups(df, results, pages)
    tests = stats.to_dict("records")
    for i, s in enumerate(tests):
        s["order"] = i
        s["failure_count"], s["failure"] = (s["failures"][0][1], s["examples"].get(
            s["failures"][0][0], s["failures"][0][0])) if s["failures"] else (0, "")
    timed = [s for s in tests if _finite(s["seconds"]) is not None]
    per_sub = sum(s["seconds"] for s in timed)
    slowest = [dict(s, share=s["seconds"] / per_sub if per_sub else np.nan)
               for s in sorted(timed, key=lambda s: -s["seconds"])[:SLOWEST]]
    setup: dict[str, list[float]] = {}
    for data in results.values():
        for phase, secs in (res.gradekit_of(data).setup_seconds or {}).items():
            setup.setdefault(phase, []).append(secs)
    columns, rows = matrix(df, stats, results, pages)
    images = {"scores": _img("score histogram", plot_scores, df),
              "pass_rates": _img("pass rate per test", plot_pass_rates, stats),
              "runtimes": _img("runtime distribution", plot_runtimes, df)}
    return render("report.html", title, script=interactive,
                  facts=facts or run_facts(results.values()), summary=_summary(df),
                  no_isolation=no_isolation_text(df) if no_isolation(df) else "",
                  attention=attention_rows(df, results, pages), bugs=bugs, whole=whole,
                  shown=GROUP_STUDENTS, images=images, tests=tests, slowest=slowest,
                  test_seconds=per_sub,
                  setup=[{"phase": p, "seconds": float(np.mean(v))} for p, v in setup.items()],
                  columns=columns, matrix=rows)


# -- drill-down pages -------------------------------------------------------------------------
def student_context(row: Mapping[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What a drill-down page shows about one submission: every test (hidden ones included)
    with its full output, the whole-submission cause, the grader's record."""
    gk = res.gradekit_of(data)
    seconds = _seconds_of(data)
    tests = [{"number": safetext.one_line(t.get("number", ""), 40),
              "name": safetext.one_line(t.get("name", "")),
              "visibility": safetext.one_line(t.get("visibility", "visible"), 40),
              "score": res.number(t.get("score")), "max": res.number(t.get("max_score")),
              "passed": passed(t), "status": res.PASSED if passed(t) else res.FAILED,
              "seconds": seconds.get(str(t.get("number", "")), np.nan),
              "output": t.get("output", "")}
             for t in sorted(_tests(data), key=lambda t: number_key(t.get("number", "")))]
    cause = whole_failure(row, data)
    return dict(row, tests=tests, cause=cause[0] if cause else "", why=cause[1] if cause else "",
                sandbox=gk.sandbox, limits=gk.limits or "", build_id=gk.build_id or "unknown",
                setup=[{"phase": p, "seconds": s} for p, s in (gk.setup_seconds or {}).items()],
                source=res.batch_of(data).source, output=data.get("output", ""),
                files=["results.json", "feedback.md"])


def write_student_pages(out: Path, title: str, df: pd.DataFrame,
                        results: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    """OUT/<id>/index.html for every row; returns {id: href from OUT} of the pages written
    (a row whose id is not a plain folder name, or whose folder is unwritable, gets none)."""
    pages = {}
    for row in df.to_dict("records"):
        sub_id = str(row["id"])
        if not SAFE_ID.fullmatch(sub_id) or ".." in sub_id:
            continue
        try:
            context = student_context(row, results.get(sub_id) or {})
            page = render("student.html", f"{sub_id}: {title}", s=context, assignment_title=title)
            res.write_text_atomic(Path(out) / sub_id / STUDENT_PAGE, page)
        except Exception as exc:      # an unwritable folder, a hostile leftover: no link
            log.warning("report: no page for %s (%s: %s)", sub_id, type(exc).__name__,
                        safetext.one_line(exc, 200))
            continue
        pages[sub_id] = f"{quote(sub_id)}/{STUDENT_PAGE}"
    return pages


def no_isolation(df: pd.DataFrame) -> int:
    """How many rows were graded without OS isolation."""
    return int(df["flags"].fillna("").map(lambda f: res.NO_ISOLATION in f.split(";")).sum()) if len(df) else 0


def no_isolation_text(df: pd.DataFrame) -> str:
    return (f"WARNING: {no_isolation(df)} of {len(df)} submissions were graded WITHOUT OS "
            f"isolation (sandbox 'plain', flag {res.NO_ISOLATION}): their code ran as the grader's "
            f"user and could have changed any result. Regrade on Linux with bubblewrap, in a "
            f"Linux container, or on Gradescope before trusting these grades.")


def write_report(out: Path, title: str, subs: list[Submission],
                 results: dict[str, dict[str, Any]], df: pd.DataFrame) -> None:
    """grades.csv, gradebook.csv, report.html and one drill-down page per row in `out`."""
    write_csvs(out, subs, df)
    mine = {s.id: results[s.id] for s in subs if s.id in results}
    stats = test_stats(mine.values())
    pages = write_student_pages(out, title, df, mine)
    res.write_text_atomic(out / "report.html", render_html(title, df, stats, mine, pages,
                                                           interactive=True))


# -- index.html -------------------------------------------------------------------------------
def write_index(out: Path, batches: dict[str, pd.DataFrame], now: datetime | None = None) -> Path:
    """OUT/index.html: the date and kit version, and per assignment its build id, data
    variant, sandbox mode, counts and links to report.html, grades.csv and gradebook.csv
    (the facts read back from OUT/<assignment>/<id>/results.json)."""
    from grader import __version__
    now = now or datetime.now(timezone.utc)
    rows = []
    for name, df in batches.items():
        folder = Path(out) / name
        results = [d for d in (res.read_results(folder / str(i) / "results.json")
                               for i in df["id"] if SAFE_ID.fullmatch(str(i))) if d is not None]
        graded = df[df["status"] == res.GRADED]
        facts = run_facts(results, name, now)
        rows.append({"name": name, "dir": quote(name), "facts": facts, "n": len(df),
                     "graded": len(graded), "attention": len(problems(df)),
                     "mean": graded["total"].mean() if len(graded) else np.nan,
                     "max": df["max"].max() if len(df) and df["max"].notna().any() else np.nan})
    path = Path(out) / "index.html"
    res.write_text_atomic(path, render("index.html", "Grading reports", assignments=rows,
                                       generated=now.strftime("%Y-%m-%d %H:%M UTC"),
                                       kit=__version__))
    return path


def summary_text(assignment: str, df: pd.DataFrame, out: Path, seconds: float | None = None,
                 resumed: int = 0) -> str:
    """A few lines for the terminal at the end of a run."""
    graded = df[df["status"] == res.GRADED]
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    lines = [f"{assignment}: {len(df)} submissions{took} — {_status_counts(df) or 'none'}"
             + (f" ({resumed} kept from an earlier run)" if resumed else "")]
    if len(graded):
        lines.append(f"  score: mean {graded['total'].mean():.2f}, median {graded['total'].median():.2f}, "
                     f"min {graded['total'].min():g}, max {graded['total'].max():g} "
                     f"(out of {df['max'].max():g})")
    prob = problems(df)
    if len(prob):
        shown = ", ".join(f"{r.id} ({r.status}{'; ' + r.flags if r.flags else ''})"
                          for r in prob.head(8).itertuples())
        lines.append(f"  needs attention ({len(prob)}): {shown}{' …' if len(prob) > 8 else ''}")
    if no_isolation(df):
        lines.append("  " + no_isolation_text(df))
    lines.append(f"  wrote {out / 'grades.csv'}, {out / 'gradebook.csv'}, {out / 'report.html'}")
    return safetext.terminal("\n".join(lines), 20_000)
