"""Grade a whole class: `python -m grader grade <assignment> <path>... [--out DIR] [--jobs N]`.

Design:

* **One subprocess per submission.** Each submission is graded by `python -m grader.batch
  --child SPEC` in its own process group, with BLAS pinned to one thread
  (`grader.environment`), a wall-clock cap and
  its log in `OUT/<id>/grader.log`. A hung, crashing or memory-hungry grade (even a bug in our
  trusted code) costs exactly that submission; killing its process group also kills whatever
  it started (the sandboxed worker). A `ProcessPoolExecutor` worker could not be killed
  mid-task without breaking the whole pool, so the "pool" is `jobs` concurrent subprocesses,
  each driven by a thread of a `ThreadPoolExecutor` (the driver only waits).
* **Any executor.** The driver, `run_task(task)`, is a module-level function of one plain
  dict, so it also runs on a `ProcessPoolExecutor` (`--executor mymodule:factory`, where
  `factory(jobs)` returns one; such workers share OUT's filesystem). A Dask cluster is
  `grader.cluster` (`grade --scheduler`): each task ships the submission's bytes, runs
  `run_task` on a worker in a private folder and brings the results dict back, which the
  TA's process alone writes into OUT with `store_result` (the same lock and resume rules).
* **Results as they finish, atomically.** The child writes `OUT/<id>/results.json` (Gradescope
  format, plus the batch's record `extra_data.gradekit_batch`: status, input digest, seconds;
  `grader.results.BatchRecord`) with write+rename only once grading is complete; the runner's
  per-test progress goes to `results.partial.json`, which a timeout salvages (status
  `timeout`, finished tests kept). Everything read back goes through
  `grader.results.read_results` (scrubbed: student code may have written it).
* **Resumable, never twice, never stale.** A re-run skips a submission whose results.json
  is complete (status `graded` or `timeout`) for the same assignment, the same input files
  (sha256 digest) and the same build id (`grader.build_id`: weights, settings, expected
  values, calibration, data variant), unless `force`: a changed rule re-grades by itself.
  Grader errors and intake rows are redone. While grading, the
  child holds an `flock` on `OUT/<id>/.lock` (inherited from its driver); a child whose
  driver died kills its own process group within `WATCH_SECONDS`, and a re-run takes the
  lock (waiting for such an orphan) and re-checks results.json before grading. So killing
  the batch loses only the submissions in flight, and none is graded twice. The driver
  removes the lock file when its task ends (a waiter that locked the removed file sees it is
  gone and locks the new one), so a finished OUT holds no `.lock` files.
* **Regrade preview.** `preview_batch` (`grade --dry-run`) grades everything into a scratch
  folder and lists whose score would move, by how much and on which tests; OUT is not
  touched.

Status and flag names, the records and the atomic writer are `grader.results`'; the class
outputs (grades.csv, report.html) are `grader.report`'s, called once all rows are in; the
command line is `grader.cli`'s.
"""
from __future__ import annotations

import dataclasses
import fcntl
import importlib
import importlib.util
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

from grader import build_id as builds
from grader import forkserver
from grader import intake, safetext
from grader import results as res
from grader.consent import preflight_isolation
from grader.declaration import ROOT, load
from grader.environment import with_one_blas_thread

DEFAULT_GRADE_FN = "grader.runner:grade_submission"
WORKDIR = ".intake"
RESULTS, PARTIAL, FEEDBACK, LOG, LOCK = "results.json", "results.partial.json", "feedback.md", "grader.log", ".lock"
WATCH_SECONDS = 0.2
GRADER_FAILED = ("The grader failed on this submission (not caused by your code); course "
                 "staff have the details and will regrade it.")

_STOPS: dict[str, threading.Event] = {}   # run token -> "stop now" (Ctrl-C) for local drivers


# -- a row's results.json: kept by a re-run, or written without grading ------------------------------
def is_complete(path: Path, assignment: str, digest: str, build: str | None = None) -> bool:
    """Whether a re-run may keep this results.json instead of grading again: the same
    assignment and files, a status a re-run does not redo (a real, possibly partial,
    total: `grader.results.SCORED`) and, when `build` is given, graded under that build id
    (a results.json from another build, or recording none, is stale). Grader errors and
    intake rows are redone."""
    data = res.read_results(path)
    record = res.batch_of(data)
    return (record.assignment == assignment and record.digest == digest
            and record.status in res.SCORED
            and (build is None or res.gradekit_of(data).build_id == build))


def stored_build(path: Path) -> str | None:
    """The build id a stored results.json was graded under (None: none recorded)."""
    return res.gradekit_of(res.read_results(path)).build_id


def current_build(assignment: str) -> str | None:
    """This kit's build id for `assignment`; None (with a warning) when it cannot be
    computed, and then a re-run compares files only, as before build ids."""
    try:
        return builds.build_id(assignment)
    except Exception as exc:          # e.g. a data file missing from a hand-made copy of the kit
        logging.getLogger(__name__).warning("no build id for %s (%s): stale results are "
                                            "detected by their files only", assignment,
                                            describe(exc))
        return None


def _row_record(assignment: str, sub: intake.Submission, status: str,
                message: str) -> res.BatchRecord:
    return res.BatchRecord(assignment=assignment, id=sub.id, status=status,
                           message=message, source=sub.source)


def intake_results(assignment: str, sub: intake.Submission,
                   build: str | None = None) -> dict[str, Any]:
    """results.json for a submission that could not be unpacked (score 0, reason shown)."""
    data = res.build([], execution_time=0.0,
                     output=f"Your submission could not be graded ({sub.status}):\n\n"
                            + safetext.md_fence(sub.message),
                     extra=res.Gradekit(assignment=assignment, status=sub.status, sandbox="none",
                                        build_id=build))
    return res.with_batch(data, _row_record(assignment, sub, sub.status, sub.message))


# -- grade functions by reference (they run in a fresh process) ---------------------------------
def callable_ref(fn: Callable[..., Any] | str) -> dict[str, Any]:
    """How a child process finds the grade function: 'pkg.mod:func', 'path/to/file.py:func'
    or a module-level function object."""
    if isinstance(fn, str):
        mod, _, qual = fn.partition(":")
        if not qual:
            raise ValueError(f"grade function {fn!r} must look like 'module:function'")
        if mod.endswith(".py"):
            return {"module": "_gradefn_" + Path(mod).stem, "qualname": qual,
                    "file": str(Path(mod).resolve())}
        return {"module": mod, "qualname": qual, "file": None}
    qual = getattr(fn, "__qualname__", "")
    if not qual or "<" in qual or not getattr(fn, "__module__", None):
        raise ValueError("grade_fn must be a module-level function (a separate process imports it)")
    module = sys.modules.get(fn.__module__)
    file = getattr(module, "__file__", None)
    name = fn.__module__ if fn.__module__ != "__main__" else "_gradefn_main"
    return {"module": name, "qualname": qual, "file": file}


def resolve_callable(ref: dict[str, Any]) -> Callable[..., Any]:
    try:
        if ref["module"].startswith("_gradefn_"):
            raise ImportError
        module = importlib.import_module(ref["module"])
    except ImportError:
        if not ref.get("file"):
            raise
        spec = importlib.util.spec_from_file_location(ref["module"], ref["file"])
        module = importlib.util.module_from_spec(spec)
        sys.modules[ref["module"]] = module
        spec.loader.exec_module(module)
    obj: Any = module
    for part in ref["qualname"].split("."):
        obj = getattr(obj, part)
    return obj


# -- the child: grade one submission -------------------------------------------------------------
_FINALIZE = threading.Lock()   # held while results.json is written; the watchdog waits for it


def _watch_parent(parent_pid: int) -> None:
    """Die (with everything this process started) as soon as the driver is gone."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCH_SECONDS)
        _FINALIZE.acquire()
        os.killpg(os.getpgrp(), signal.SIGKILL)
    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


class CleanStream(io.TextIOBase):
    """A text stream that drops control characters and lone surrogates on the way to `raw`:
    grader.log holds tracebacks quoting student text, and a TA may `cat` it."""

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(safetext.terminal(text, max(len(text), 1)))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()


def child_main(spec: dict[str, Any]) -> int:
    """Run the grade function on one submission and write results.json (atomically, once)."""
    sys.stdout, sys.stderr = CleanStream(sys.stdout), CleanStream(sys.stderr)
    _watch_parent(spec["parent_pid"])
    start = time.monotonic()
    status, message = res.GRADED, spec.get("intake_message", "")
    try:
        fn = resolve_callable(spec["grade_fn"])
        data = fn(spec["assignment"], Path(spec["submission"]), results_path=Path(spec["partial"]),
                  time_budget=spec["time_budget"])
        if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
            raise TypeError(f"the grade function returned {type(data).__name__}, not a results dict")
        status = res.gradekit_of(data).status or res.GRADED
    except (Exception, SystemExit) as exc:
        traceback.print_exc()
        data = failed_results(spec["assignment"], time.monotonic() - start)
        status = res.GRADER_ERROR
        message = f"grader raised {describe(exc)} (see {spec['id']}/{LOG})"
    gk = res.gradekit_of(data)
    if gk.build_id is None and spec.get("build_id"):   # a grade function that records none
        res.with_gradekit(data, dataclasses.replace(gk, build_id=spec["build_id"]))
    record = _task_record(spec, status, message, time.monotonic() - start)
    with _FINALIZE:
        try:
            res.write_atomic(Path(spec["results"]), res.with_batch(data, record))
        except ValueError as exc:          # e.g. a NaN score: JSON refuses it
            traceback.print_exc()
            res.write_atomic(Path(spec["results"]), res.with_batch(
                failed_results(spec["assignment"], time.monotonic() - start),
                dataclasses.replace(record, status=res.GRADER_ERROR,
                                    message=f"results not writable: {describe(exc)}")))
        Path(spec["partial"]).unlink(missing_ok=True)
    return 0


def _task_record(task: dict[str, Any], status: str, message: str,
                 seconds: float) -> res.BatchRecord:
    """The batch's record of a task this run finished (`run` tells the driver it was us)."""
    return res.BatchRecord(assignment=task["assignment"], id=task["id"], status=status,
                           digest=task["digest"], message=message, seconds=round(seconds, 3),
                           source=task["source"], run=task["run"])


def failed_results(assignment: str, seconds: float, output: str = GRADER_FAILED,
                   status: str = res.GRADER_ERROR) -> dict[str, Any]:
    """results.json of a submission the grader itself failed on (no tests, score 0)."""
    return res.build([], execution_time=seconds, output=output,
                     extra=res.Gradekit(assignment=assignment, status=status, sandbox="unknown"))


def describe(exc: BaseException) -> str:
    """`Type: message` of an exception as clean one-line text, whatever its message holds."""
    try:
        text = str(exc)
    except Exception:                     # a hostile __str__
        text = "(unprintable message)"
    return safetext.one_line(f"{type(exc).__name__}: {text}", 300)


# -- the driver: one task, on whatever executor ---------------------------------------------------
def budgets(assignment: str, time_budget: float | None) -> tuple[float | None, float]:
    """(budget passed to the grade function, hard wall-clock cap on the child process).
    The runner keeps to its budget (the declaration's `submission_seconds` when None): it
    cuts the call in flight when the budget runs out. The cap adds the declared
    `shutdown_seconds` for killing the worker and writing results (less for a tiny budget,
    so a test's hung child is not waited on for long)."""
    lim = load(assignment).limits
    soft = lim.submission_seconds if time_budget is None else float(time_budget)
    grace = min(lim.shutdown_seconds, max(2.0, 0.25 * soft))
    return (None if time_budget is None else soft), soft + grace


def _child_env(out: Path) -> dict[str, str]:
    """The grading child's environment: one BLAS thread, the kit importable, and the batch's
    OUT folder listed for the sandbox to hide (uid mode covers it with an empty tmpfs)."""
    env = with_one_blas_thread()
    hide = [p for p in env.get("GRADEKIT_SANDBOX_HIDE", "").split(os.pathsep) if p]
    env["GRADEKIT_SANDBOX_HIDE"] = os.pathsep.join([*hide, str(out.resolve())])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _template(task: dict[str, Any], env: dict[str, str]) -> forkserver.ForkServer | None:
    """This run's warmed-up template process in this driver (`grader.forkserver`: the Python
    start, imports, suite data and sandbox probe paid once per run, not per submission);
    None where it cannot start."""
    default = task["grade_fn"] == callable_ref(DEFAULT_GRADE_FN)
    return forkserver.shared(task["run"], preload=("grader.batch",), env=env, cwd=str(ROOT),
                             warm="grader.runner:warm_up" if default else None,
                             warm_args=(task["assignment"],))


def _start_child(server: forkserver.ForkServer | None, spec: dict[str, Any],
                 env: dict[str, str], log_file: Any, lock_fd: int) -> Any:
    """The child grading one submission: forked from the template, else (no template, or it
    just died) `python -m grader.batch --child`. Either way in its own session, output to its
    log, holding the lock; the driver kills its group and reaps it alike."""
    if server is not None:
        try:
            return server.popen("grader.batch:child_main", dict(spec, parent_pid=server.pid),
                                stdout=log_file.fileno(), pass_fds=(lock_fd,))
        except forkserver.ForkServerError:
            pass
    return subprocess.Popen(
        [sys.executable, "-m", "grader.batch", "--child", json.dumps(spec)],
        cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log_file,
        stderr=subprocess.STDOUT, start_new_session=True, pass_fds=(lock_fd,))


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the child has exited, without reaping it: while it is a zombie its pid (and so
    its process group id) cannot be reused, so killing the group afterwards is safe."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None
    except (ChildProcessError, AttributeError):
        return proc.poll() is not None


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (it, and anything it left running), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _lock(path: Path, timeout: float) -> int | None:
    """An fd holding an exclusive flock on the file now at `path` (created if need be), or
    None after `timeout` seconds. The holder removes the file when done; a waiter that got
    the lock on a removed file (another inode than the path's) retries on the new one."""
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    return None
                time.sleep(0.1)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _unlock(path: Path, fd: int) -> None:
    """Remove the lock file (still holding it, so no one else owns it), then release it."""
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _salvage(task: dict[str, Any], status: str, message: str, output: str, seconds: float) -> dict[str, Any]:
    """results.json after the child failed: the runner's partial results if any, else none."""
    out_dir = Path(task["dir"])
    data = res.read_results(out_dir / PARTIAL)
    if data is None:
        data = failed_results(task["assignment"], seconds, output="", status=status)
    gk = res.gradekit_of(data)
    if status == res.TIMEOUT:
        gk = dataclasses.replace(gk, flags=tuple(sorted({*gk.flags, res.TIMEOUT})))
    if gk.build_id is None and task.get("build_id"):
        gk = dataclasses.replace(gk, build_id=task["build_id"])
    res.with_gradekit(data, gk)
    data["output"] = output + ("\n\n" + data["output"] if data.get("output") else "")
    res.with_batch(data, _task_record(task, status, message, seconds))
    res.write_atomic(out_dir / RESULTS, data)
    (out_dir / PARTIAL).unlink(missing_ok=True)
    return {"id": task["id"], "status": status, "flags": list(gk.flags)}


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Grade one submission in a fresh child process under a wall-clock cap; returns a short
    outcome dict. Picklable: runs on a thread, process or cluster executor alike."""
    out_dir = Path(task["dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / RESULTS
    stop = _STOPS.get(task["run"])
    fd = _lock(out_dir / LOCK, task["hard_timeout"])
    if fd is None:                                # another batch is grading it: leave it be
        return {"id": task["id"], "status": res.GRADER_ERROR, "flags": ["locked"]}
    try:
        if not task["force"] and is_complete(results_path, task["assignment"], task["digest"],
                                             task.get("build_id")):
            return {"id": task["id"], "status": res.KEPT, "flags": []}
        (out_dir / PARTIAL).unlink(missing_ok=True)
        spec = dict(task, parent_pid=os.getpid(), results=str(results_path),
                    partial=str(out_dir / PARTIAL))
        env = _child_env(out_dir.parent)
        server = _template(task, env)            # started (once per run) before the clock
        start = time.monotonic()
        with open(out_dir / LOG, "wb") as log_file:
            proc = _start_child(server, spec, env, log_file, fd)
            exited = False
            try:
                while not exited and time.monotonic() - start < task["hard_timeout"]:
                    if stop is not None and stop.is_set():
                        break
                    time.sleep(0.05 if time.monotonic() - start < 2 else WATCH_SECONDS)
                    exited = _exited(proc)
            finally:
                _kill_group(proc)      # a timeout, Ctrl-C, or stray grandchildren
        seconds = time.monotonic() - start
        data = res.read_results(results_path)
        record = res.batch_of(data)
        if record.run == task["run"]:          # finished (even if it then lingered)
            return {"id": task["id"], "status": record.status,
                    "flags": list(res.gradekit_of(data).flags)}
        if not exited:
            if stop is not None and stop.is_set():
                return {"id": task["id"], "status": res.STOPPED, "flags": []}
            return _salvage(task, res.TIMEOUT, f"killed after {seconds:.0f} s (time budget)",
                            f"Grading stopped after {seconds:.0f} s: the time budget for one "
                            f"submission ran out. Tests that had not finished score 0.", seconds)
        return _salvage(task, res.GRADER_ERROR, f"grader process exited with code {proc.returncode} "
                        f"without results (see {task['id']}/{LOG})", GRADER_FAILED, seconds)
    finally:
        _unlock(out_dir / LOCK, fd)


def store_result(task: dict[str, Any], data: Any, log: bytes = b"") -> dict[str, Any]:
    """Write a result graded elsewhere (a cluster worker) into OUT/<id>/, under the same lock
    and resume rules as `run_task`: a results.json this run already wrote, or (without
    `force`) a complete one for the same digest and build, is kept, so a retried or
    duplicated task never writes twice. `data` must be this task's results dict."""
    out_dir = Path(task["dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / RESULTS
    record = res.batch_of(data) if isinstance(data, dict) else None
    if (record is None or not isinstance(data.get("tests"), list) or record.run != task["run"]
            or record.id != task["id"] or record.digest != task["digest"]):
        raise ValueError("the worker sent no results for this task")
    fd = _lock(out_dir / LOCK, task["hard_timeout"])
    if fd is None:
        return {"id": task["id"], "status": res.GRADER_ERROR, "flags": ["locked"]}
    try:
        kept = res.read_results(results_path)
        if res.batch_of(kept).run == task["run"]:          # this run wrote it already
            return {"id": task["id"], "status": res.batch_of(kept).status,
                    "flags": list(res.gradekit_of(kept).flags)}
        if not task["force"] and is_complete(results_path, task["assignment"], task["digest"],
                                             task.get("build_id")):
            return {"id": task["id"], "status": res.KEPT, "flags": []}
        with open(out_dir / LOG, "wb") as fh:
            fh.write(log)
        res.write_atomic(results_path, data)
        (out_dir / PARTIAL).unlink(missing_ok=True)
        return {"id": task["id"], "status": record.status,
                "flags": list(res.gradekit_of(data).flags)}
    finally:
        _unlock(out_dir / LOCK, fd)


# -- the batch -------------------------------------------------------------------------------------
def _run(tasks: list[dict[str, Any]], executor: Executor | None, jobs: int | None, progress: bool,
         on_done: Callable[[dict[str, Any], dict[str, Any]], None], failed: int = 0) -> None:
    from tqdm import tqdm

    if not tasks:
        return
    own = executor is None
    ex = executor or ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1),
                                        thread_name_prefix="grade")
    stop = _STOPS.setdefault(tasks[0]["run"], threading.Event())
    flagged = 0
    futures: dict[Any, dict[str, Any]] = {}
    with tqdm(total=len(tasks), disable=not progress, unit="sub", dynamic_ncols=True,
              desc=tasks[0]["assignment"]) as bar:
        try:
            futures = {ex.submit(run_task, t): t for t in tasks}
            for fut in as_completed(futures):
                task = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:   # the executor failed (a cluster worker died, ...)
                    outcome = _failed(task, f"executor error: {describe(exc)}")
                on_done(task, outcome)
                failed += outcome["status"] not in (res.GRADED, res.KEPT)
                flagged += bool(res.attention_flags(outcome.get("flags") or []))
                bar.set_postfix(failed=failed, flagged=flagged, refresh=False)
                bar.update()
        except BaseException:
            stop.set()
            for fut in futures:
                fut.cancel()
            raise
        finally:
            if own:
                ex.shutdown(wait=True, cancel_futures=True)
            _STOPS.pop(tasks[0]["run"], None)
            forkserver.close_shared(tasks[0]["run"])


def _failed(task: dict[str, Any], message: str) -> dict[str, Any]:
    """The outcome of a task that raised: salvaged into results.json when OUT/<id>/ takes
    it, else carried in the outcome (the report shows it either way)."""
    try:
        return _salvage(task, res.GRADER_ERROR, message, GRADER_FAILED, 0.0)
    except Exception as exc:
        return {"id": task["id"], "status": res.GRADER_ERROR, "flags": [],
                "message": f"{message}; results not writable: {describe(exc)}"}


def clear_lock(sub_dir: Path) -> None:
    """Remove a `.lock` left in OUT/<id>/ by an earlier run, unless someone holds it."""
    path = sub_dir / LOCK
    if path.exists():
        fd = _lock(path, 0.0)
        if fd is not None:
            _unlock(path, fd)


def error_results(assignment: str, sub: intake.Submission, message: str) -> dict[str, Any]:
    """In-memory results of a row whose own files could not be written or read back."""
    return res.with_batch(failed_results(assignment, 0.0), _row_record(
        assignment, sub, res.GRADER_ERROR, safetext.one_line(message, 500)))


def write_feedback(out: Path, sub_id: str, title: str, data: dict[str, Any] | None = None) -> None:
    """OUT/<id>/feedback.md from `data`, else from OUT/<id>/results.json (scrubbed)."""
    from grader.feedback import feedback_markdown
    data = data if data is not None else res.read_results(out / sub_id / RESULTS)
    if data is not None:
        text = feedback_markdown(data, title=title, submission_id=sub_id)
        res.write_text_atomic(out / sub_id / FEEDBACK, text)


def grade_batch(assignment: str, paths: list[Path], out: Path, *, jobs: int | None = None,
                force: bool = False, executor: Executor | None = None,
                grade_fn: Callable[..., dict[str, Any]] | str | None = None,
                time_budget: float | None = None, progress: bool = True,
                exports: list[Path] = (), summary: bool = True):
    """Grade every submission under `paths` and in the Gradescope `exports` into `out`;
    return the grades.csv DataFrame.

    `jobs` defaults to the number of cores; `grade_fn` (a module-level function or
    'module:function', default the runner) is called in a child process as
    `grade_fn(assignment, folder, results_path=..., time_budget=...)`; `time_budget` caps
    each submission's wall time. Writes OUT/<id>/results.json + feedback.md, grades.csv,
    gradebook.csv and report.html — always, whatever one submission does; prints a progress
    bar (and, with `summary`, a summary) when `progress`. Raises SandboxUnavailable before any work when the
    only sandbox here is `plain` and GRADEKIT_ALLOW_PLAIN=1 is not set."""
    from grader import report
    decl = load(assignment)
    if grade_fn is None and executor is None:
        preflight_isolation()      # SandboxUnavailable: plain only, and the TA did not allow it
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)           # classmates' results are nobody else's business on this host
    t0 = time.monotonic()
    subs = intake.discover([Path(p) for p in paths], out / WORKDIR, [Path(p) for p in exports],
                           reads=decl.submitted)
    if not subs:
        logging.getLogger(__name__).warning("no submissions found in %s", ", ".join(
            intake.display(p) for p in [*exports, *paths]))
    soft, hard = budgets(assignment, time_budget)
    ref = callable_ref(grade_fn or DEFAULT_GRADE_FN)
    run = uuid.uuid4().hex
    title = f"{assignment}: {decl.title}"
    build = current_build(assignment)
    errors: dict[str, str] = {}        # rows whose own files failed: shown in the report

    def guarded(sub_id: str, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except Exception as exc:       # OUT/<id> unwritable, a hostile leftover, a bug
            errors[sub_id] = f"batch could not write this row's files: {describe(exc)}"
            logging.getLogger(__name__).warning("%s: %s", sub_id, errors[sub_id])
            return None

    tasks, kept, stale = [], 0, 0
    for sub in subs:
        sub_dir = out / sub.id
        if sub.status != intake.OK:
            guarded(sub.id, lambda: res.write_atomic(sub_dir / RESULTS, intake_results(assignment, sub, build)))
            guarded(sub.id, lambda: write_feedback(out, sub.id, decl.title))
            guarded(sub.id, lambda: clear_lock(sub_dir))
        elif not force and is_complete(sub_dir / RESULTS, assignment, sub.digest, build):
            kept += 1
            guarded(sub.id, lambda: write_feedback(out, sub.id, decl.title))
            guarded(sub.id, lambda: clear_lock(sub_dir))
        else:
            stale += (not force and is_complete(sub_dir / RESULTS, assignment, sub.digest))
            tasks.append({"assignment": assignment, "id": sub.id, "submission": str(sub.path.resolve()),
                          "dir": str(sub_dir.resolve()), "digest": sub.digest, "source": sub.source,
                          "intake_message": sub.message, "grade_fn": ref, "time_budget": soft,
                          "hard_timeout": hard, "force": force, "run": run, "build_id": build})
    if stale:
        logging.getLogger(__name__).warning(
            "%d submission(s) graded under another build re-graded under %s (a weight, setting, "
            "expected value, calibration or data variant changed)", stale, build)
    outcomes: list[dict[str, Any]] = []

    def done(task: dict[str, Any], outcome: dict[str, Any]) -> None:
        outcomes.append(outcome)
        if outcome.get("message"):
            errors[task["id"]] = outcome["message"]
        guarded(task["id"], lambda: write_feedback(out, task["id"], decl.title))

    _run(tasks, executor, jobs, progress, done,
         failed=sum(sub.status != intake.OK for sub in subs))   # intake failures count too
    kept += sum(o["status"] == res.KEPT for o in outcomes)
    results = {}
    for sub in subs:
        data = res.read_results(out / sub.id / RESULTS)
        if data is None and sub.id in errors:
            data = error_results(assignment, sub, errors[sub.id])
            guarded(sub.id, lambda: write_feedback(out, sub.id, decl.title, data))
        results[sub.id] = data or {}
    df = report.grades_frame(subs, results)
    report.write_report(out, title, subs, results, df)
    shutil.rmtree(out / WORKDIR, ignore_errors=True)
    if progress and summary:
        print(report.summary_text(assignment, df, out, time.monotonic() - t0, kept))
    return df


# -- regrade preview ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Move:
    """How one submission's score would change: `before` is None when OUT has no score."""
    id: str
    before: float | None
    after: float
    tests: tuple[tuple[str, float | None, float], ...] = ()   # (number, before, after) that move


def _scores(data: dict[str, Any] | None) -> tuple[float | None, dict[str, float]]:
    if not data:
        return None, {}
    tests = {str(t.get("number")): res.number(t.get("score")) for t in data.get("tests", [])
             if isinstance(t, dict)}
    return res.number(data.get("score")), tests


def score_moves(before: Path, after: Path, ids: list[str]) -> list[Move]:
    """Every id whose total or any test's score differs between `before/<id>/results.json`
    and `after/<id>/results.json` (both read through the scrubbed reader)."""
    moves = []
    for sub_id in ids:
        old, old_tests = _scores(res.read_results(before / sub_id / RESULTS))
        new, new_tests = _scores(res.read_results(after / sub_id / RESULTS))
        new = new or 0.0
        changed = tuple((n, old_tests.get(n), new_tests.get(n, 0.0))
                        for n in sorted({*old_tests, *new_tests}, key=_test_key)
                        if abs((old_tests.get(n) or 0.0) - new_tests.get(n, 0.0)) > 1e-9
                        or (n in old_tests) != (n in new_tests))
        if old is None or abs(old - new) > 1e-9 or changed:
            moves.append(Move(sub_id, old, new, changed))
    return moves


def _test_key(number: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in number.split("."))


def preview_batch(assignment: str, paths: list[Path], out: Path, *,
                  exports: list[Path] = (), **kwargs: Any) -> tuple[list[Move], int]:
    """Grade every submission into a scratch folder (deleted afterwards) and compare with
    OUT, which is never written: (the moves, how many submissions were graded). `kwargs` go
    to `grade_batch` (jobs, grade_fn, executor, time_budget, progress)."""
    import tempfile
    out = Path(out)
    hide_key = "GRADEKIT_SANDBOX_HIDE"
    saved = os.environ.get(hide_key)
    scratch = Path(tempfile.mkdtemp(prefix="gradekit-preview-"))
    try:           # the real OUT is as private as the scratch: hidden from the sandbox too
        os.environ[hide_key] = os.pathsep.join([*(saved or "").split(os.pathsep),
                                                str(out.resolve())]).strip(os.pathsep)
        df = grade_batch(assignment, paths, scratch, force=True, exports=exports,
                         summary=False, **kwargs)
        ids = [str(i) for i in df["id"]] if len(df) else []
        return score_moves(out, scratch, ids), len(ids)
    finally:
        if saved is None:
            os.environ.pop(hide_key, None)
        else:
            os.environ[hide_key] = saved
        shutil.rmtree(scratch, ignore_errors=True)


def preview_text(assignment: str, moves: list[Move], graded: int, out: Path) -> str:
    """The preview as terminal lines: one per moving submission, the tests that move."""
    def pts(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"
    lines = [f"regrade preview of {assignment}: {graded} submission(s) graded in a scratch "
             f"folder; nothing in {intake.display(out)} was changed",
             f"{len(moves)} score(s) would move, {graded - len(moves)} unchanged"]
    if moves:
        lines.append(f"  {'id':<24} {'before':>8} {'after':>8} {'change':>8}  tests")
    for m in sorted(moves, key=lambda m: (-(abs(m.after - (m.before or 0.0))), m.id)):
        change = "new" if m.before is None else f"{m.after - m.before:+.2f}"
        tests = ", ".join(f"{n}: {pts(b)} -> {pts(a)}" for n, b, a in m.tests[:8])
        more = f" (+{len(m.tests) - 8} more)" if len(m.tests) > 8 else ""
        lines.append(f"  {m.id:<24} {pts(m.before):>8} {pts(m.after):>8} {change:>8}  "
                     f"{tests}{more}")
    return safetext.terminal("\n".join(lines), 100_000)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(child_main(json.loads(sys.argv[2])))
    sys.exit("usage: python -m grader grade <assignment> <path>... (this module's own entry "
             "point is internal: --child SPEC)")
