"""Class-level outputs of a batch: `grades.csv`, `gradebook.csv`, `report.html`, the index page
and the terminal summary. Everything is derived from the per-submission `results.json` files
(the one source of truth, read through `grader.results`: its records, status and flag names)
plus the intake rows, so a resumed batch reports exactly like an uninterrupted one. Data flows
one way: this module reads results and never imports the batch that wrote them.

`report.html` is self-contained: plots are PNGs (matplotlib's Agg canvas, no pyplot state)
embedded as `data:` URIs, CSS is inline, there is no script and a Content-Security-Policy
forbids loading anything from elsewhere. Every string is made safe for where it goes by
`grader.safetext`: HTML-escaped clean text in the page, spreadsheet-safe cells in the CSVs
(no formula prefix, no control characters), control-free text on the terminal. Writers never
raise on text: a plot that cannot be drawn is a note, and the three files are always written.
A row graded without OS isolation carries the flag `no_isolation`; a row whose sandbox saw
tampering gets the status `tamper`. Every file is written atomically (write, then rename).
"""
from __future__ import annotations

import base64
import io
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable
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


# -- per-test statistics ----------------------------------------------------------------------
# a number not inside a name: 'W1', "grads['b2']" and 'conv3x3' keep their digits
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])(?:0x[0-9a-fA-F]+|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def normalize_message(text: str, limit: int = 160) -> str:
    """The gist of a failure message: first meaningful line, numbers replaced by '#', so
    'max abs error 0.031 at index 7' and '... 0.2 at index 3' group together."""
    for line in safetext.clean(text or "").splitlines():
        line = line.strip().strip("`*_ ")
        if line:
            break
    else:
        return "(no message)"
    line = re.sub(r"\s+", " ", _NUMBER.sub("#", line))
    return line if len(line) <= limit else line[:limit - 1] + "…"


def test_stats(results: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Per test: pass rate, mean score and the commonest (normalized) failure messages."""
    acc: dict[str, dict[str, Any]] = {}
    for data in results:
        for t in _tests(data):
            col = test_column(t)
            s = acc.setdefault(col, {"test": col, "number": safetext.one_line(t.get("number", "")),
                                     "name": safetext.one_line(t.get("name", "")),
                                     "visibility": safetext.one_line(t.get("visibility", "visible")),
                                     "max": res.number(t.get("max_score")), "scores": [],
                                     "passed": 0, "failures": Counter()})
            s["scores"].append(res.number(t.get("score")))
            if passed(t):
                s["passed"] += 1
            else:
                s["failures"][normalize_message(t.get("output", ""))] += 1
    rows = []
    for s in sorted(acc.values(), key=lambda s: (number_key(s["number"]), s["test"])):
        n = len(s["scores"])
        rows.append({"test": s["test"], "number": s["number"], "name": s["name"],
                     "visibility": s["visibility"], "max": s["max"], "n": n,
                     "pass_rate": s["passed"] / n, "mean": float(np.mean(s["scores"])),
                     "failures": s["failures"].most_common(FAILURE_EXAMPLES)})
    return pd.DataFrame(rows, columns=["test", "number", "name", "visibility", "max", "n",
                                       "pass_rate", "mean", "failures"])


def problems(df: pd.DataFrame) -> pd.DataFrame:
    """Rows a TA should look at: not graded cleanly (intake failure, timeout, grader error)
    or flagged by the grader/sandbox (crash, memory, timeout, forbidden import, ...)."""
    flagged = df["flags"].fillna("").map(lambda f: bool(res.attention_flags(f.split(";"))))
    mask = (df["status"] != res.GRADED) | flagged
    return df.loc[mask, ["id", "name", "status", "flags", "message"]]


# -- plots --------------------------------------------------------------------------------------
def _label(text: Any, limit: int = 48) -> str:
    """A test name as a plot label: one clean line, `$` escaped (matplotlib reads $...$ as
    mathtext, which can fail to parse)."""
    text = safetext.one_line(text, limit + 20)
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("$", r"\$")


def _img(alt: str, plot: Callable[..., str], *args: Any) -> str:
    """An <img> of a plot, or a note when it cannot be drawn (never an exception)."""
    try:
        return f'<img alt="{alt}" src="data:image/png;base64,{plot(*args)}">'
    except Exception as exc:
        log.warning("report: %s not drawn (%s: %s)", alt, type(exc).__name__,
                    safetext.one_line(exc, 200))
        return f'<p class="muted">({safetext.html(alt)}: plot unavailable)</p>'


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


def plot_pass_rates(stats: pd.DataFrame) -> str:
    fig, ax = _figure(max(2.5, 0.28 * len(stats) + 1.2))
    if len(stats):
        labels = [_label(t) for t in stats["test"]]
        y = np.arange(len(stats))[::-1]
        ax.barh(y, 100 * stats["pass_rate"], color="#2e8b57")
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of submissions with full marks")
    else:
        _no_data(ax, "tests")
    ax.set_title("Pass rate per test")
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


# -- HTML --------------------------------------------------------------------------------------
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#a01818;font-weight:600}.muted{color:#777}img{max-width:100%;display:block;margin:.6em 0}
code{background:#f5f5f5;padding:0 3px}ul.fail{margin:0;padding-left:1.1em}
"""


def _e(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return safetext.html(value)


def _page(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        *body, "</body></html>", ""])


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    out = ["<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _status_counts(df: pd.DataFrame) -> str:
    counts = df["status"].value_counts()
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def render_html(title: str, df: pd.DataFrame, stats: pd.DataFrame) -> str:
    """The class report as one self-contained HTML page."""
    graded = df[df["status"] == res.GRADED]
    top = float(df["max"].max()) if df["max"].notna().any() else float("nan")
    body = [f"<h1>{_e(title)}</h1>",
            f"<p>{len(df)} submissions: {_e(_status_counts(df)) or 'none'}."]
    if len(graded):
        body.append(f" Graded: mean {graded['total'].mean():.2f}, median "
                    f"{graded['total'].median():.2f} out of {top:g}.")
    body.append("</p>")
    if no_isolation(df):
        body.append(f'<p class="bad">{_e(no_isolation_text(df))}</p>')
    body += ["<h2>Scores</h2>", _img("score histogram", plot_scores, df),
             "<h2>Pass rate per test</h2>", _img("pass rate per test", plot_pass_rates, stats),
             "<h2>Grading time</h2>", _img("runtime distribution", plot_runtimes, df)]

    body.append("<h2>Tests</h2>")
    rows = []
    for s in stats.itertuples():
        fails = "".join(f"<li>{n}× <code>{_e(msg)}</code></li>" for msg, n in s.failures)
        rows.append([_e(s.number), _e(s.name), _e(s.visibility), f"{s.max:g}",
                     f"{100 * s.pass_rate:.0f}%", f"{s.mean:.2f}",
                     f'<ul class="fail">{fails}</ul>' if fails else '<span class="muted">none</span>'])
    body.append(_table(["#", "test", "visibility", "points", "pass rate", "mean score",
                        "commonest failures"], rows, {3, 4, 5}) if rows
                else '<p class="muted">No test results.</p>')

    body.append("<h2>Needs attention</h2>")
    prob = problems(df)
    body.append('<p class="muted">Crashed, timed out, hit a limit, flagged by the sandbox, or '
                'failed intake.</p>')
    body.append(_table(["id", "name", "status", "flags", "message"],
                       [[_e(r.id), _e(r.name), f'<span class="{"" if r.status == res.GRADED else "bad"}">{_e(r.status)}</span>',
                         _e(r.flags), _e(r.message)] for r in prob.itertuples()])
                if len(prob) else "<p>Nothing: every submission was graded cleanly.</p>")

    body.append("<h2>All submissions</h2>")
    body.append(_table(["id", "name", "total", "max", "status", "flags", "runtime (s)"],
                       [[_e(r.id), _e(r.name), f"{r.total:g}", _e(f"{r.max:g}"), _e(r.status),
                         _e(r.flags), "" if np.isnan(r.runtime) else f"{r.runtime:.1f}"]
                        for r in df.itertuples()], {2, 3, 6}))
    return _page(title, body)


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
    """grades.csv, gradebook.csv and report.html in `out`."""
    write_csvs(out, subs, df)
    stats = test_stats(results[s.id] for s in subs if s.id in results)
    res.write_text_atomic(out / "report.html", render_html(title, df, stats))


def write_index(out: Path, batches: dict[str, pd.DataFrame]) -> Path:
    """OUT/index.html linking each assignment's OUT/<assignment>/report.html."""
    rows = []
    for name, df in batches.items():
        graded = df[df["status"] == res.GRADED]
        mean = f"{graded['total'].mean():.2f}" if len(graded) else ""
        top = f"{df['max'].max():g}" if len(df) and df["max"].notna().any() else ""
        rows.append([f'<a href="{_e(quote(name))}/report.html">{_e(name)}</a>', str(len(df)),
                     str(len(graded)), str(len(problems(df))), mean, top,
                     f'<a href="{_e(quote(name))}/grades.csv">grades.csv</a>'])
    body = ["<h1>Grading reports</h1>",
            _table(["assignment", "submissions", "graded", "need attention", "mean score",
                    "max", "grades"], rows, {1, 2, 3, 4, 5})]
    path = Path(out) / "index.html"
    res.write_text_atomic(path, _page("Grading reports", body))
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
