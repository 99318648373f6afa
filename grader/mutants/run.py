"""Run mutants on the batch machinery and classify them.

Each mutant (and the unmutated reference under each distinct tag set, before and after the
mutants: the baseline) is one batch task (`grader.batch.run_task`): a fresh child process grading it with only the
tests of its tags, under a wall-clock cap, on a local pool of `jobs` or any executor. Its
results.json sits in `OUT/cache/<key>/result/`, where `key` hashes the mutant (its files and
tags), the suite's code (grader/suites/<name>/*.py, grader/checks/*.py) and this package's
grading and probing code; the batch keeps
a complete results.json graded under the same build id, so a re-run after a suite edit
grades only what the edit can change.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import batch
from grader import results as res
from grader.declaration import ROOT, SUITES, load
from grader.mutants.catalog import Mutant, baseline as reference_run, selection
from grader.mutants.child import SPEC, lost
from grader.mutants.equivalence import EQUIVALENT

GRADE_FN = "grader.mutants.child:grade_mutant"
KILLED, SURVIVED, TIMEOUT, ERROR = "killed", "survived", "timeout", "error"
MIN_BUDGET = 60.0          # s: a mutant's time budget is at least this,
BUDGET_FACTOR = 5.0        # and this many times the reference's time on the same tests
PROBE_SECONDS = 300.0      # s: added to the wall-clock cap for the equivalence check


@dataclass(frozen=True)
class Result:
    """What happened to one mutant."""
    mutant: Mutant
    status: str                              # KILLED, SURVIVED, EQUIVALENT, TIMEOUT, ERROR
    scores: dict[str, float] = field(default_factory=dict)   # test number -> score
    killers: tuple[str, ...] = ()            # tests that scored below the reference
    seconds: float = 0.0
    detail: str = ""
    cached: bool = False


def suite_digest(assignment: str) -> str:
    """A hash of what build ids do not cover: the suite's code, the checks library, and how a
    mutant is graded and probed here (child, equivalence, probes)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted([*(SUITES / assignment).glob("*.py"),
                        *(ROOT / "grader" / "checks").glob("*.py"),
                        *(here / f for f in ("child.py", "equivalence.py", "probes.py"))]):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _task(assignment: str, mutant: Mutant, out: Path, spec: dict[str, Any], budget: float,
          key: str, build: str | None, run: str, force: bool, grade_fn: str) -> dict[str, Any]:
    folder = out / "cache" / key[:24]
    sub = mutant.write(folder / "mutant")
    (sub / SPEC).write_text(json.dumps(spec))
    return {"assignment": assignment, "id": key[:24], "submission": str(sub.resolve()),
            "dir": str((folder / "result").resolve()), "digest": key, "source": mutant.id,
            "intake_message": "", "grade_fn": batch.callable_ref(grade_fn),
            "time_budget": budget, "hard_timeout": budget + 30.0 + PROBE_SECONDS,
            "force": force, "run": run, "build_id": build}


def _grade(tasks: list[dict[str, Any]], executor: Executor | None, jobs: int | None,
           progress: bool) -> dict[str, dict[str, Any]]:
    """Run the tasks; {task id: outcome}."""
    outcomes: dict[str, dict[str, Any]] = {}
    batch._run(tasks, executor, jobs, progress, lambda t, o: outcomes.__setitem__(t["id"], o))
    return outcomes


def _read(task: dict[str, Any]) -> dict[str, Any] | None:
    return res.read_results(Path(task["dir"]) / batch.RESULTS)


def classify(mutant: Mutant, data: dict[str, Any] | None, baseline: dict[str, float],
             cached: bool = False) -> Result:
    """A mutant's status from its results and the reference's scores on the same tests."""
    if data is None:
        return Result(mutant, ERROR, detail="no results")
    gk = res.gradekit_of(data)
    record = res.batch_of(data)
    scores = {t["number"]: float(t["score"]) for t in data.get("tests", [])}
    killers = tuple(lost(data.get("tests", []), baseline))
    seconds = float(record.seconds or data.get("execution_time") or 0.0)
    if record.status == res.GRADER_ERROR or gk.status == res.GRADER_ERROR:
        return Result(mutant, ERROR, scores, killers, seconds, record.message or "grader error",
                      cached)
    if killers:
        return Result(mutant, KILLED, scores, killers, seconds, cached=cached)
    if record.status == res.TIMEOUT or res.BUDGET in gk.flags:
        return Result(mutant, TIMEOUT, scores, (), seconds, "stopped by the mutation budget, "
                      "no test failed before", cached)
    probe = (data.get("extra_data") or {}).get("mutant") or {}
    status = EQUIVALENT if probe.get("verdict") == EQUIVALENT else SURVIVED
    return Result(mutant, status, scores, (), seconds, str(probe.get("detail", "not probed")),
                  cached)


def run(assignment: str, mutants: list[Mutant], out: Path, *, jobs: int | None = None,
        executor: Executor | None = None, sandbox: str = "auto", seeds: int = 10,
        force: bool = False, progress: bool = True, grade_fn: str = GRADE_FN
        ) -> tuple[list[Result], dict[tuple[str, ...], dict[str, float]], list[str]]:
    """Grade every mutant; return their results, the reference's scores per tag set and the
    tests it lost points on (`shaky`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    build = batch.current_build(assignment)
    suite = suite_digest(assignment)
    run_id = uuid.uuid4().hex
    lim = load(assignment).limits

    def key(m: Mutant, replica: int = 0) -> str:
        tags = selection(assignment, m.tags)
        again = f":{replica}" if replica else ""
        return hashlib.sha256(f"{m.digest}:{tags}:{suite}:{sandbox}:{seeds}{again}"
                              .encode()).hexdigest()

    def references(replica: int) -> dict[tuple[str, ...], dict[str, Any]]:
        """The unmutated reference graded under every tag set (`replica`: a second run)."""
        tasks = {t: _task(assignment, reference_run(assignment, t), out,
                          {"tags": list(t), "sandbox": sandbox}, lim.submission_seconds,
                          key(reference_run(assignment, t), replica), build, run_id, force,
                          grade_fn) for t in tagsets}
        _grade(list(tasks.values()), executor, jobs, progress)
        found = {}
        for t, task in tasks.items():
            data = _read(task)
            if data is None or res.batch_of(data).status != res.GRADED:
                raise RuntimeError(f"the reference could not be graded under tags {t}: see "
                                   f"{task['dir']}/{batch.LOG}")
            found[t] = data
        return found

    graded_under = {m.tags: selection(assignment, m.tags) for m in mutants}
    tagsets = sorted(set(graded_under.values()))
    first = references(0)
    budget = {t: min(lim.submission_seconds, max(MIN_BUDGET, BUDGET_FACTOR * float(
        res.batch_of(data).seconds or 0.0))) for t, data in first.items()}
    tasks = []
    for m in mutants:
        tags = graded_under[m.tags]
        spec = {"tags": list(tags), "sandbox": sandbox, "baseline": scores_of(first[tags]),
                "changed": [list(c) for c in m.changed], "seeds": seeds}
        tasks.append((m, _task(assignment, m, out, spec, budget[tags], key(m), build,
                               run_id, force, grade_fn)))
    outcomes = _grade([t for _, t in tasks], executor, jobs, progress)
    runs = [(t, d) for found in (first, references(1)) for t, d in found.items()]
    baseline = reference_scores(runs)
    results = [classify(m, _read(t), baseline[graded_under[m.tags]],
                        cached=outcomes.get(t["id"], {}).get("status") == res.KEPT)
               for m, t in tasks]
    return results, baseline, shaky(runs)


def scores_of(data: dict[str, Any]) -> dict[str, float]:
    return {t["number"]: float(t["score"]) for t in data["tests"]}


def reference_scores(runs: list[tuple[tuple[str, ...], dict[str, Any]]]
                     ) -> dict[tuple[str, ...], dict[str, float]]:
    """The reference's score per test under each tag set: the lowest of every run of the
    reference (two per tag set, before and after the mutants) in which the test ran with all
    of its tags selected (so under the same hidden-input verdicts). A test whose reference
    score moves between such runs (a speed test on a loaded machine) cannot kill a mutant
    where the reference once scored below full marks on it."""
    found: dict[tuple[str, ...], dict[str, float]] = {}
    for tags, data in runs:
        mine = found.setdefault(tags, {})
        for t in data["tests"]:
            mine[t["number"]] = min(mine.get(t["number"], t["max_score"]), float(t["score"]))
    for tags, mine in found.items():
        for other, data in runs:
            for t in data["tests"]:
                if t["number"] in mine and set(t["tags"]) <= set(tags) & set(other):
                    mine[t["number"]] = min(mine[t["number"]], float(t["score"]))
    return found


def shaky(runs: list[tuple[tuple[str, ...], dict[str, Any]]]) -> list[str]:
    """Tests the reference itself lost points on with all of their tags selected: on this
    machine, now (e.g. a speed test under load); they cannot kill a mutant."""
    return sorted({t["number"] for tags, data in runs for t in data["tests"]
                   if set(t["tags"]) <= set(tags) and t["score"] < t["max_score"] - 1e-9},
                  key=lambda n: tuple(int(p) for p in n.split(".")))


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)
