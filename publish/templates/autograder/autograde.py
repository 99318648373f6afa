"""Gradescope entry point of a gradekit autograder (started by `run_autograder`).

    python autograde.py                 grade <root>/submission -> <root>/results/results.json
    python autograde.py --salvage N     after the first run died with exit status N: keep the
                                        tests graded so far, say what happened

<root> is $GRADEKIT_AUTOGRADER_ROOT (default /autograder), laid out as Gradescope does:
source/ (this zip), submission/, submission_metadata.json, results/. The runner rewrites
results.json atomically after every test, so a global timeout or a kill leaves valid partial
results; any error of ours still ends in a valid results.json, with score 0 only when nothing
was graded. Grading keeps to the assignment's one total time budget (`Limits.
submission_seconds`, counted from this script's start), well inside Gradescope's default
10 minutes. Visibility is never changed here: `after_due_date` tests stay so and Gradescope
reveals them after the due date; hidden tests never show their inputs.

A submission made with the student release's `make submit` carries that release's build id
(`.gradekit-release`); when it is not the grader's, the output tells the student to download
the new release (`grader.build_id.release_note`: the file is bounded and only compared).

results.json is built and written by the kit's results model (`grader.results`: the
`Gradekit` record, atomic writes), importable because this script sits at the top of the kit.
"""
from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

START = time.monotonic()

from grader import results as res  # noqa: E402  (after START: the import counts against the budget)
ROOT = Path(os.environ.get("GRADEKIT_AUTOGRADER_ROOT") or "/autograder")
SOURCE = ROOT / "source"
SUBMISSION = ROOT / "submission"
METADATA = ROOT / "submission_metadata.json"
RESULTS = ROOT / "results" / "results.json"
STAFF = "course staff have the details; it is not caused by your code"
MIN_BUDGET = 1.0          # seconds: with less left, the runner still writes every test's row


def log(message: str) -> None:
    """To stdout, which Gradescope keeps for instructors only (stdout_visibility hidden)."""
    print(f"[gradekit] {message}", flush=True)


def protect() -> None:
    """As root (Gradescope): make the kit, the results, the submission and its metadata
    unreadable to other users, i.e. to the unprivileged user student code runs as."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    for top in (SOURCE, RESULTS.parent, SUBMISSION, METADATA):
        if not top.exists():
            continue
        paths = [top] if top.is_file() else [top, *top.rglob("*")]
        for p in paths:
            try:
                if not p.is_symlink():
                    p.chmod(stat.S_IMODE(p.stat().st_mode) & ~0o007)
            except OSError as exc:
                log(f"could not chmod {p}: {exc}")


def read_metadata() -> dict[str, Any]:
    try:
        data = json.loads(METADATA.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def submission_facts(meta: dict[str, Any]) -> dict[str, Any]:
    """What the metadata tells about this submission (for extra_data and the output)."""
    assignment = meta.get("assignment") if isinstance(meta.get("assignment"), dict) else {}
    created, due = _when(meta.get("created_at")), _when(assignment.get("due_date"))
    late = None
    if created is not None and due is not None:
        try:
            late = created > due
        except TypeError:                       # one naive, one aware: cannot compare
            late = None
    return {"id": meta.get("id"), "created_at": meta.get("created_at"),
            "due_date": assignment.get("due_date"), "after_due_date": late}


def later_note(data: dict[str, Any], facts: dict[str, Any]) -> str:
    """A line on the tests students do not see yet (counts and points only)."""
    later = [t for t in data.get("tests", []) if t.get("visibility") == "after_due_date"]
    hidden = [t for t in data.get("tests", []) if t.get("visibility") == "hidden"]
    parts = []
    if later and not facts.get("after_due_date"):
        parts.append(f"{len(later)} test(s) worth {sum(t['max_score'] for t in later):g} points "
                     f"are shown after the due date")
    if hidden:
        parts.append(f"{len(hidden)} hidden test(s) worth "
                     f"{sum(t['max_score'] for t in hidden):g} points count in your grade but "
                     f"are not shown")
    return ("\n\n" + "; ".join(parts) + ".") if parts else ""


def configured_assignment() -> str:
    """The assignment this autograder grades (autograder.json); "" when unreadable."""
    try:
        config = json.loads((SOURCE / "autograder.json").read_text())
    except (OSError, ValueError):
        return ""
    name = config.get("assignment") if isinstance(config, dict) else None
    return name if isinstance(name, str) else ""


def salvage(message: str) -> None:
    """Keep the tests already in results.json (if any) and add `message`; else a valid
    results.json with score 0 and the message. Its gradekit record says `incomplete`."""
    data = res.read_results(RESULTS)
    if data is None or not isinstance(data.get("tests"), list):
        data = res.build([], execution_time=0.0, output="", extra=res.Gradekit(
            assignment=configured_assignment(), status=res.INCOMPLETE, sandbox="unknown"))
    data["score"] = res.points(sum(res.number(t.get("score")) for t in data["tests"]
                                   if isinstance(t, dict)))
    data["execution_time"] = round(max(res.number(data.get("execution_time")),
                                       time.monotonic() - START), 3)
    data["output"] = (str(data.get("output") or "") + "\n\n**" + message + "**").strip()
    record = res.gradekit_of(data)
    res.with_gradekit(data, dataclasses.replace(
        record, status=res.INCOMPLETE, assignment=record.assignment or configured_assignment()))
    res.write_atomic(RESULTS, data)


def time_budget(assignment: str) -> float:
    """Seconds the runner may use: the assignment's one declared total budget
    (`Limits.submission_seconds`, or $GRADEKIT_TIME_BUDGET for tests) minus what this process
    already used (interpreter start, protecting files), so the whole autograder fits it."""
    from grader.declaration import load
    override = os.environ.get("GRADEKIT_TIME_BUDGET")
    total = float(override) if override else load(assignment).limits.submission_seconds
    return max(total - (time.monotonic() - START), MIN_BUDGET)


def grade() -> None:
    config = json.loads((SOURCE / "autograder.json").read_text())
    protect()
    facts = submission_facts(read_metadata())
    from grader.runner import grade_submission
    data = grade_submission(config["assignment"], SUBMISSION, results_path=RESULTS,
                            time_budget=time_budget(config["assignment"]))
    data["output"] = (data.get("output") or "") + later_note(data, facts) + release_line(data)
    res.with_gradekit(data, dataclasses.replace(res.gradekit_of(data), submission=facts))
    res.write_atomic(RESULTS, data)
    log(f"graded {config['assignment']}: {data['score']:g} points, "
        f"{len(data['tests'])} tests, {time.monotonic() - START:.1f} s")


def release_line(data: dict[str, Any]) -> str:
    """The stale-release note for the student ("" when their release is this build)."""
    from grader.build_id import release_note
    try:
        note = release_note(SUBMISSION, res.gradekit_of(data).build_id)
    except Exception as exc:          # never let a note cost the grade
        log(f"release check failed: {type(exc).__name__}")
        return ""
    return ("\n\n" + note) if note else ""


def main(argv: list[str]) -> int:
    if argv[:1] == ["--salvage"]:
        status = argv[1] if len(argv) > 1 else "?"
        why = {"137": " (killed: probably out of memory)", "143": " (terminated)"}.get(status, "")
        salvage(f"Grading stopped before it finished (exit status {status}{why}); tests not "
                f"listed were not run. {STAFF[0].upper() + STAFF[1:]}.")
        return 0
    try:
        grade()
    except BaseException as exc:      # anything at all: still a valid results.json
        traceback.print_exc(file=sys.stdout)
        salvage(f"The autograder hit an internal error ({type(exc).__name__}) and stopped; "
                f"tests not listed were not run. {STAFF[0].upper() + STAFF[1:]}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
