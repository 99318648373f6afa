"""The results model: Gradescope's `results.json`, gradekit's two records in it, the status and
flag names, and the one way to write (atomically) and read back (scrubbed) such a file.

Data flows one way: the runner builds results from the checks' verdicts, the batch and the
Gradescope autograder add their own facts, the reports (`grader.report`, `grader.feedback`)
only read. Every one of them uses this module's names and constructors, so a status, a flag
or a record field has one spelling.

Typed records are small frozen dataclasses, each with `to_json` and a tolerant `from_json`.
Dataclasses, not TypedDicts: a record is built in several places (the runner, the batch, the
autograder) and read back from files that student code may have written (plain mode) or a
crash may have cut, so it needs one constructor that fixes its fields and one parser that
turns whatever a file holds into a valid record (wrong types become "not recorded"); a
TypedDict would check neither at run time. Gradescope's own parts (the test rows, the top
level) stay plain JSON dicts built by `test_result` and `build`: that is Gradescope's wire
format, and every reader must tolerate anything in it anyway.

`execution_time` is a number (gradescope-utils writes a string) and scores are rounded so
totals never read 2.0001 (otter #563). Output fields pass through `safetext.clean` (valid
UTF-8, no control characters, bounded), whatever the caller built them from; student text
inside them is already fenced by the runner.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from grader import safetext

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "results.schema.json"
SCORE_DIGITS = 4
OUTPUT_MAX = 20_000       # characters of one output field (a test's, or the top-level one)
NAME_MAX = 1_000          # characters of a test name
MAX_TIMED = 1_000         # entries of a {test: seconds} map read back
TIMED_KEY = re.compile(r"[A-Za-z0-9._:-]{1,40}")     # a test number or a phase name

# -- status names: the one set ------------------------------------------------------------------
PASSED, FAILED = "passed", "failed"     # one test (Gradescope's words)
# A submission (extra_data.gradekit.status, extra_data.gradekit_batch.status, the `status`
# column of grades.csv). A submission that could not be unpacked has its intake status instead
# (`grader.intake.STATUSES`: empty, bad_archive, zip_bomb, ...).
GRADED = "graded"                 # every test ran to a verdict (a test not reached in time fails)
TIMEOUT = "timeout"               # the batch killed the grading process; finished tests kept
GRADER_ERROR = "grader_error"     # our side failed (not the student's code): regrade it
INCOMPLETE = "incomplete"         # the autograder died mid-run; the tests graded so far kept
TAMPER = "tamper"                 # the sandbox saw an attack (a flag, and then the row's status)
NOT_GRADED = "not_graded"         # no results.json (e.g. the batch was stopped first)
SCORED = (GRADED, TIMEOUT)        # a real (possibly partial) total; a re-run keeps these rows
# What one batch task ended as, besides a submission status (never written to results.json).
KEPT = "kept"                     # a complete results.json from an earlier run was kept
STOPPED = "stopped"               # Ctrl-C stopped the batch before this one finished

# -- flags: what happened while grading (extra_data.gradekit.flags) -----------------------------
# The runner adds the kind of every failure of student code (`grader.sandbox` error kinds,
# `tamper` among them), BUDGET and GRADER_ERROR; the batch adds TIMEOUT; the report shows
# NO_ISOLATION for a row graded in `plain` mode. Flags that are also status names use them.
BUDGET = "budget"                 # the submission's total time budget ran out
NO_ISOLATION = "no_isolation"     # graded by the `plain` sandbox (no OS isolation)
# Ordinary wrong answers; every other flag (crash, timeout, budget, memory, forbidden, import,
# missing, protocol, grader_error, tamper, or any new one) needs a TA's look.
ORDINARY_FLAGS = frozenset({"not_implemented", "exception", "bad_value"})
NOTICE_FLAGS = frozenset({NO_ISOLATION})   # shown on every row, but not "needs attention"


def attention_flags(flags: Iterable[str]) -> list[str]:
    """The flags that make a submission worth a TA's look."""
    return [f for f in flags if f and f not in ORDINARY_FLAGS and f not in NOTICE_FLAGS]


# -- reading JSON values tolerantly (a file read back may hold anything) -------------------------
def number(value: Any, default: float = 0.0) -> float:
    """A finite float from whatever a results file holds (else `default`)."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return x if math.isfinite(x) else default


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _seconds(value: Any) -> dict[str, float] | None:
    """{test number or phase: seconds}: short plain keys and finite non-negative numbers
    only (anything else is dropped); None when not recorded."""
    if not isinstance(value, Mapping):
        return None
    out = {}
    for k, v in list(value.items())[:MAX_TIMED]:
        t = _opt_number(v)
        if isinstance(k, str) and TIMED_KEY.fullmatch(k) and t is not None and t >= 0:
            out[k] = t
    return out


def _record(results: Any, key: str) -> dict[str, Any]:
    extra = results.get("extra_data") if isinstance(results, dict) else None
    record = extra.get(key) if isinstance(extra, dict) else None
    return record if isinstance(record, dict) else {}


def _json(record: Any) -> dict[str, Any]:
    """A record's fields in declaration order; None means "not recorded" and is left out."""
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        if value is not None:
            out[f.name] = value
    return out


# -- the records ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gradekit:
    """`extra_data.gradekit`: what the grader recorded about one grading of a submission.

    Written by the runner (every field but `submission`), by the batch for a submission it
    could not grade (intake failure, grader error), and by the Gradescope autograder (adds
    `submission`, or sets `status` to `incomplete` when it salvages a dead run)."""
    assignment: str
    status: str
    sandbox: str                              # the sandbox mode; "none"/"unknown" when no run
    limits: str | None = None                 # how memory and processes were bounded
    flags: tuple[str, ...] = ()
    visible_only: bool | None = None          # the student self-check (visible tests only)
    max_score: float | None = None            # None: unknown (no test was collected)
    time_budget: float | None = None          # seconds for the whole submission
    submission: Mapping[str, Any] | None = None   # Gradescope's facts (id, dates, late)
    build_id: str | None = None               # the rules it was graded under (grader.build_id)
    # wall seconds: each test by number, and each phase's set-up (worker start + imports), so
    # staff see what a suite costs
    test_seconds: Mapping[str, float] | None = None
    setup_seconds: Mapping[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_json(cls, value: Any) -> Gradekit:
        """The record a JSON value holds; a missing or mistyped field reads as not recorded."""
        v = value if isinstance(value, Mapping) else {}
        visible_only = v.get("visible_only")
        submission = v.get("submission")
        return cls(assignment=_str(v.get("assignment")), status=_str(v.get("status")),
                   sandbox=_str(v.get("sandbox")), limits=_opt_str(v.get("limits")),
                   flags=_strings(v.get("flags")),
                   visible_only=visible_only if isinstance(visible_only, bool) else None,
                   max_score=_opt_number(v.get("max_score")),
                   time_budget=_opt_number(v.get("time_budget")),
                   submission=dict(submission) if isinstance(submission, Mapping) else None,
                   build_id=_opt_str(v.get("build_id")),
                   test_seconds=_seconds(v.get("test_seconds")),
                   setup_seconds=_seconds(v.get("setup_seconds")))


@dataclass(frozen=True)
class BatchRecord:
    """`extra_data.gradekit_batch`: what the batch recorded about a submission it handled.

    `digest` (of the submitted files) and `assignment` decide whether a re-run may keep the
    row; `run` names the batch run that wrote it (a driver knows its own child finished)."""
    assignment: str
    id: str
    status: str
    digest: str = ""
    message: str = ""
    seconds: float | None = None
    source: str = ""
    run: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_json(cls, value: Any) -> BatchRecord:
        """The record a JSON value holds; a missing or mistyped field reads as not recorded."""
        v = value if isinstance(value, Mapping) else {}
        return cls(assignment=_str(v.get("assignment")), id=_str(v.get("id")),
                   status=_str(v.get("status")), digest=_str(v.get("digest")),
                   message=_str(v.get("message")), seconds=_opt_number(v.get("seconds")),
                   source=_str(v.get("source")), run=_opt_str(v.get("run")))


def gradekit_of(results: Any) -> Gradekit:
    """The grader's record in a results object (empty fields when there is none)."""
    return Gradekit.from_json(_record(results, "gradekit"))


def batch_of(results: Any) -> BatchRecord:
    """The batch's record in a results object (empty fields when there is none)."""
    return BatchRecord.from_json(_record(results, "gradekit_batch"))


def _with_extra(data: dict[str, Any], key: str, record: dict[str, Any]) -> dict[str, Any]:
    extra = data.get("extra_data")
    data["extra_data"] = extra = extra if isinstance(extra, dict) else {}
    extra[key] = record
    return data


def with_gradekit(data: dict[str, Any], record: Gradekit) -> dict[str, Any]:
    """`data` (changed in place) with `record` as its `extra_data.gradekit`."""
    return _with_extra(data, "gradekit", record.to_json())


def with_batch(data: dict[str, Any], record: BatchRecord) -> dict[str, Any]:
    """`data` (changed in place) with `record` as its `extra_data.gradekit_batch`."""
    return _with_extra(data, "gradekit_batch", record.to_json())


# -- Gradescope's results object ------------------------------------------------------------------
def points(x: float) -> float:
    """A score as Gradescope should show it."""
    return round(float(x), SCORE_DIGITS) + 0.0


def test_result(*, name: str, number: str, score: float, max_score: float, status: str,
                tags: tuple[str, ...] | list[str], visibility: str, output: str) -> dict[str, Any]:
    return {"name": safetext.one_line(name, NAME_MAX), "number": number, "score": points(score),
            "max_score": points(max_score), "status": status, "tags": list(tags),
            "visibility": visibility, "output": safetext.clean(output, OUTPUT_MAX),
            "output_format": "md"}


def build(tests: list[dict[str, Any]], *, execution_time: float, output: str,
          extra: Gradekit | Mapping[str, Any]) -> dict[str, Any]:
    """The whole results object; `score` is the rounded sum of the tests' scores. `extra` is
    the grader's record (a mapping, e.g. from another grade function, is read as one)."""
    record = extra if isinstance(extra, Gradekit) else Gradekit.from_json(extra)
    return {
        "score": points(sum(t["score"] for t in tests)),
        "execution_time": round(float(execution_time), 3),
        "output": safetext.clean(output, OUTPUT_MAX),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"gradekit": record.to_json()},
    }


# -- writing: atomically, always --------------------------------------------------------------
def write_text_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Write text (UTF-8, unencodable characters replaced) to a temp file beside `path`,
    fsync, rename: readers never see half a file, and a failed write keeps the old one.
    `durable=False` skips the fsync (a snapshot rewritten soon anyway: a killed process
    still leaves the whole file; only a machine crash may lose it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: dict[str, Any], *, durable: bool = True,
                 compact: bool = False) -> None:
    """Write JSON atomically (`write_text_atomic`). Raises ValueError, before touching any
    file, for what JSON cannot hold (a NaN score). `compact`: no indentation, for the
    runner's rewrite after every test (json's C encoder; with indent=2 json falls back to its
    pure-Python encoder, ~0.3 s of CPU over a convnet grading's 56 rewrites)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False) if compact \
        else json.dumps(data, indent=2, allow_nan=False)
    write_text_atomic(path, text + "\n", durable=durable)


# -- reading back: scrubbed, bounded, never raising ---------------------------------------------
RESULTS_MAX_BYTES = 32 * 2**20    # a results.json read back larger than this is not ours
READ_TEXT_MAX = 50_000            # characters kept of any one string read back
SCRUB_DEPTH = 12                  # nesting kept when reading results back (ours is 4 deep)
SCRUB_ITEMS = 10_000              # items kept of any one list or dict read back


def scrub(value: Any, depth: int = 0) -> Any:
    """JSON data read back from disk made harmless for every writer: strings clean (valid
    UTF-8, no control characters, bounded), numbers finite, nesting and sizes bounded.
    Student code may have written or rewritten the file (plain mode), so this is the
    boundary where its text is sanitised once."""
    if isinstance(value, str):
        return safetext.clean(value, READ_TEXT_MAX)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= SCRUB_DEPTH:
        return None
    if isinstance(value, list):
        return [scrub(v, depth + 1) for v in value[:SCRUB_ITEMS]]
    if isinstance(value, dict):
        return {safetext.one_line(k): scrub(v, depth + 1)
                for k, v in itertools.islice(value.items(), SCRUB_ITEMS)}
    return None


def read_results(path: Path) -> dict[str, Any] | None:
    """A results.json that parses and has the Gradescope essentials, scrubbed, else None.
    Never raises: a corrupt, huge, deeply nested or hostile file reads as None."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(RESULTS_MAX_BYTES + 1)
        if len(raw) > RESULTS_MAX_BYTES:
            return None
        data = scrub(json.loads(raw.decode("utf-8")))
    except (OSError, ValueError, RecursionError, MemoryError):
        return None
    if not (isinstance(data, dict) and isinstance(data.get("tests", []), list)
            and isinstance(data.get("score", 0), (int, float))):
        return None
    return data


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())
