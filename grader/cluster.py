"""Grade a class on a Dask distributed cluster: `grade ... --scheduler tcp://HOST:8786|local:N`.

`ClusterExecutor` is a `concurrent.futures.Executor` for `grade_batch(executor=...)`: the batch
hands it `run_task(task)` calls and reads their outcomes as they complete (the same progress
bar, the same `_run`); each one becomes a Dask task that grades one submission on a worker.

* **What travels.** To the worker: the task (plain data) and the submission's files as bytes
  (relative path -> bytes), never a path on the TA's disk. The worker writes them into a
  private temporary folder and grades them with `grader.batch.run_task`, the local batch's own
  path: a child process, the sandbox on the worker's host, the same time budget. Back: the
  outcome, the results dict (read through the scrubbed reader) and the capped grader.log.
  Only the TA's process writes OUT, through `grader.batch.store_result` (the resume rules:
  one result per submission and run; a complete one for the same digest and build is kept).
* **Same kit everywhere.** Before any task, every worker's kit version and build id for the
  assignment are compared with the TA's (`check_workers`); a difference is refused with
  `KitMismatch`, naming the worker and both versions (so is a worker whose sandbox cannot
  isolate student code). Workers that join later are checked as
  they appear (a mismatched one is never given a task), and the task itself re-checks on the
  worker before grading.
* **Faults.** A task whose worker dies (`KilledWorker`), whose connection is lost, that
  raises on the worker, or that has not answered `PREFETCH` hard time caps plus
  `MARGIN_SECONDS` after it was sent (a hung host: the student's own time-outs are results,
  not faults) is retried on a worker
  it has not tried yet, `MAX_ATTEMPTS` times in all; then its future raises `TaskFailed` and
  the batch writes that submission's `grader_error` row. Retries are idempotent: the TA
  writes the first result that arrives and keeps it.
* **Flow.** At most `PREFETCH` tasks per worker thread are on the cluster (one running, one
  waiting there, so a worker never idles between tasks): a task starts soon after it is sent
  (its deadline means something), new workers are used as they join, and Ctrl-C (the batch
  cancels its futures) leaves little running and OUT resumable.

`distributed` is an optional extra (requirements/cluster.txt); without it `connect` raises
`ClusterUnavailable` saying how to install it, and nothing else here imports it.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import importlib.util
import logging
import tempfile
import threading
import time
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Callable

from grader import __version__, safetext
from grader import results as res
from grader.batch import LOG, RESULTS, current_build, describe, run_task, store_result
from grader.declaration import ROOT

MAX_ATTEMPTS = 3          # tries per submission: a dead host + a transient fault, not more
MARGIN_SECONDS = 60.0     # past a task's hard cap (transfer, a busy worker) before it is hung
PREFETCH = 2              # tasks on the cluster per worker thread: the next one waits there
LOG_MAX_BYTES = 256_000   # grader.log brought back from a worker (its tail)
NO_SANDBOX = "none: "
INSTALL_HINT = ("grading on a Dask cluster needs the optional 'distributed' package: "
                "pip install -r requirements/cluster.txt (or make grade SCHEDULER=...)")
log = logging.getLogger(__name__)


class ClusterUnavailable(RuntimeError):
    """`distributed` is not installed, or the scheduler cannot be reached."""


class KitMismatch(RuntimeError):
    """A worker runs another kit version or build than the TA's, or cannot sandbox."""


class TaskFailed(RuntimeError):
    """A submission's task failed on `MAX_ATTEMPTS` workers (or no worker could take it)."""


# -- on the worker ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Identity:
    """What a process grades with: kit version and the build id of each asked assignment."""
    kit: str
    builds: tuple[tuple[str, str | None], ...]
    root: str = ""
    sandbox: str = ""               # the isolation mode grading uses there, or why none

    def build(self, assignment: str) -> str | None:
        return dict(self.builds).get(assignment)


@functools.lru_cache(maxsize=None)
def _build(assignment: str) -> str | None:
    return current_build(assignment)


@functools.lru_cache(maxsize=1)
def _sandbox() -> str:
    from grader.consent import preflight_isolation
    try:
        return preflight_isolation()
    except Exception as exc:            # SandboxUnavailable: plain only, not allowed there
        return f"{NO_SANDBOX}{describe(exc)}"


def identity(assignments: tuple[str, ...]) -> Identity:
    """This process's kit version, build ids and sandbox (cached: a worker serves one kit)."""
    return Identity(__version__, tuple((a, _build(a)) for a in assignments), str(ROOT),
                    _sandbox())


def _safe_relpath(name: str) -> Path:
    rel = Path(name)
    if rel.is_absolute() or not rel.parts or any(p in ("", ".", "..") for p in rel.parts):
        raise ValueError(f"unsafe path in a submission payload: {name!r}")
    return rel


def grade_remote(task: dict[str, Any], files: dict[str, bytes], kit: str) -> dict[str, Any]:
    """On a worker: grade one submission from its bytes in a private temporary folder with
    `run_task` (the local batch's path); return the outcome, the results dict and the log."""
    mine = identity((task["assignment"],))
    if mine.kit != kit or mine.build(task["assignment"]) != task.get("build_id"):
        raise KitMismatch(f"this worker runs kit {mine.kit} (build "
                          f"{mine.build(task['assignment'])}), the task needs kit {kit} "
                          f"(build {task.get('build_id')})")
    with tempfile.TemporaryDirectory(prefix="gradekit-task-") as tmp:
        sub = Path(tmp) / "submission"
        sub.mkdir()
        for name, data in files.items():
            path = sub / _safe_relpath(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out_dir = Path(tmp) / "out" / "task"
        outcome = run_task(dict(task, submission=str(sub), dir=str(out_dir)))
        try:
            with open(out_dir / LOG, "rb") as fh:
                fh.seek(max(0, (out_dir / LOG).stat().st_size - LOG_MAX_BYTES))
                log_bytes = fh.read(LOG_MAX_BYTES)
        except OSError:
            log_bytes = b""
        return {"outcome": outcome, "results": res.read_results(out_dir / RESULTS),
                "log": log_bytes}


# -- on the TA's machine -----------------------------------------------------------------------
def submission_files(folder: Path) -> dict[str, bytes]:
    """Every regular file under a (materialized) submission folder, by relative path."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file() and not path.is_symlink()}


def _mismatch(address: str, theirs: Identity, ours: Identity, assignment: str) -> str | None:
    if theirs.kit == ours.kit and theirs.build(assignment) == ours.build(assignment):
        return None
    return (f"worker {address} runs gradekit {theirs.kit} (build {theirs.build(assignment)} "
            f"for {assignment}, kit at {theirs.root}); this machine runs gradekit {ours.kit} "
            f"(build {ours.build(assignment)}): install the same kit and data on every worker "
            f"(docs/staff/cluster.md) and restart it")


def check_workers(client: Any, assignment: str, workers: list[str] | None = None) -> list[str]:
    """The workers (all, or `workers`) whose kit and build for `assignment` are the TA's;
    KitMismatch naming the first that differs (or when there are none)."""
    ours = identity((assignment,))
    found = client.run(identity, (assignment,), workers=workers, on_error="return")
    if not found and workers is None:
        raise ClusterUnavailable("the Dask cluster has no workers: start some (docs/staff/cluster.md)")
    problems = []
    for address, theirs in sorted(found.items()):
        if not isinstance(theirs, Identity):
            problems.append(f"worker {address} could not report its kit: "
                            f"{describe(theirs) if isinstance(theirs, BaseException) else theirs!r}"
                            f" (is gradekit importable there?)")
        elif (why := _mismatch(address, theirs, ours, assignment)) is not None:
            problems.append(why)
        elif theirs.sandbox.startswith(NO_SANDBOX):
            problems.append(f"worker {address} cannot isolate student code: "
                            f"{theirs.sandbox[len(NO_SANDBOX):]}")
    if problems:
        raise KitMismatch(safetext.one_line("; ".join(problems), 2000))
    return sorted(found)


@dataclasses.dataclass
class _Job:
    """One submission in flight: the batch's future, its payload and the workers tried."""
    task: dict[str, Any]
    future: Future
    files: dict[str, bytes] | None = None        # read when first sent, kept for retries
    tried: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    remote: Any = None
    sent: float = 0.0
    deadline: float = 0.0


class ClusterExecutor(Executor):
    """Runs the batch's `run_task` calls as Dask tasks (module docstring); `client` is a
    `distributed.Client`. `shutdown` also closes what `connect` started when `owned`."""

    def __init__(self, client: Any, *, owned: tuple[Any, ...] = (),
                 max_attempts: int = MAX_ATTEMPTS, margin: float = MARGIN_SECONDS) -> None:
        self.client, self.owned = client, owned
        self.max_attempts, self.margin = max_attempts, margin
        self._cv = threading.Condition()
        self._queue: collections.deque[_Job] = collections.deque()
        self._running: dict[str, _Job] = {}         # Dask key -> job
        self._good: dict[str, set[str]] = {}        # assignment -> checked workers
        self._bad: dict[str, set[str]] = {}         # assignment -> refused workers
        self._slots, self._slots_at = 1, 0.0
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def dashboard(self) -> str | None:
        """The Dask dashboard's address, when the scheduler serves one (its pages need
        bokeh where the scheduler runs: said when that is here and bokeh is missing)."""
        try:
            link = self.client.dashboard_link
        except Exception:
            return None
        if self.owned and importlib.util.find_spec("bokeh") is None:
            return f"{link} (install bokeh to see its pages)"
        return link

    def check(self, assignment: str) -> list[str]:
        """Check every worker against this kit for `assignment` (KitMismatch), once."""
        if assignment not in self._good:
            self._good[assignment] = set(check_workers(self.client, assignment))
            self._bad[assignment] = set()
        return sorted(self._good[assignment])

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        if fn is not run_task or len(args) != 1 or kwargs:
            raise TypeError("ClusterExecutor runs grader.batch.run_task(task) only")
        task = args[0]
        self.check(task["assignment"])
        job = _Job(task, Future())
        with self._cv:
            if self._closed:
                raise RuntimeError("cannot submit after shutdown")
            self._queue.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="gradekit-cluster",
                                                daemon=True)
                self._thread.start()
            self._cv.notify_all()
        return job.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cv:
            self._closed = True
            if cancel_futures:
                for job in self._queue:
                    job.future.cancel()
            self._cv.notify_all()
        if wait and self._thread is not None:
            self._thread.join()
        for thing in (self.client, *self.owned):
            try:
                thing.close()
            except Exception as exc:           # closing is best effort
                log.debug("closing %r: %s", thing, exc)

    # -- the loop: one thread sends tasks, collects results, retries ---------------------------
    def _loop(self) -> None:
        from distributed import wait as dask_wait
        while True:
            with self._cv:
                if not self._queue and not self._running:
                    if self._closed:
                        return
                    self._cv.wait(0.5)
                    continue
                self._drop_cancelled()
                self._fill()
                remotes = [job.remote for job in self._running.values()]
            if not remotes:
                time.sleep(0.1)
                continue
            try:
                done, _ = dask_wait(remotes, timeout=0.5, return_when="FIRST_COMPLETED")
            except Exception:                    # dask's TimeoutError: nothing finished yet
                done = set()
            for remote in done:
                job = self._running.pop(remote.key, None)
                if job is not None:
                    self._finish(job, remote)
                remote.release()      # the scheduler forgets it: never recomputed, memory freed
            remotes = done = None
            now = time.monotonic()
            for key, job in list(self._running.items()):
                if now > job.deadline:
                    self._running.pop(key, None)
                    where = self._where(job.remote)
                    job.remote.cancel()
                    job.remote = None
                    self._retry(job, where, f"no answer {now - job.sent:.0f} s after it was "
                                            f"sent (hung worker or lost connection)")

    def _drop_cancelled(self) -> None:
        self._queue = collections.deque(j for j in self._queue if not j.future.cancelled())
        for key, job in list(self._running.items()):
            if job.future.cancelled():                   # Ctrl-C in the batch
                job.remote.cancel()
                del self._running[key]

    def _refresh(self, assignment: str) -> None:
        """Slots = worker threads now; workers that joined since are checked first."""
        if time.monotonic() - self._slots_at < 1.0:
            return
        self._slots_at = time.monotonic()
        try:
            threads = self.client.nthreads()
        except Exception as exc:
            log.warning("cannot reach the Dask scheduler: %s", describe(exc))
            return
        new = [w for w in threads if w not in self._good[assignment] | self._bad[assignment]]
        if new:
            try:
                self._good[assignment].update(check_workers(self.client, assignment, new))
            except KitMismatch as exc:
                log.warning("a new worker is not used: %s", exc)
                self._bad[assignment].update(new)
            except Exception as exc:
                log.debug("checking new workers: %s", exc)
        gone = self._good[assignment] - set(threads)
        self._good[assignment] -= gone
        self._slots = max(1, sum(n for w, n in threads.items() if w in self._good[assignment]))

    def _fill(self) -> None:
        while self._queue and len(self._running) < PREFETCH * self._slots:
            job = self._queue.popleft()
            self._refresh(job.task["assignment"])
            self._launch(job)

    def _launch(self, job: _Job) -> None:
        good = self._good[job.task["assignment"]]
        fresh = sorted(good - set(job.tried)) or sorted(good)
        if not fresh:
            self._give_up(job, "no worker with this kit is connected")
            return
        key = f"gradekit-{job.task['run'][:8]}-{len(job.tried)}-{job.task['id']}"
        try:
            if job.files is None:
                job.files = submission_files(Path(job.task["submission"]))
        except OSError as exc:
            self._give_up(job, f"submission not readable: {describe(exc)}")
            return
        try:
            job.remote = self.client.submit(grade_remote, job.task, job.files, __version__,
                                            key=key, workers=fresh, allow_other_workers=False,
                                            pure=False)
        except Exception as exc:
            job.tried.append("?")
            self._retry(job, None, f"could not send: {describe(exc)}")
            return
        # it may wait behind one task (PREFETCH) before its own run: two caps and the margin
        job.sent = time.monotonic()
        job.deadline = job.sent + PREFETCH * job.task["hard_timeout"] + self.margin
        self._running[job.remote.key] = job

    def _where(self, remote: Any) -> str | None:
        try:
            for worker, keys in self.client.processing().items():
                if remote.key in keys:
                    return worker
        except Exception:
            pass
        return None

    def _finish(self, job: _Job, remote: Any) -> None:
        if job.future.cancelled():
            return
        try:
            reply = remote.result()
        except BaseException as exc:     # KilledWorker, CommClosedError, CancelledError, ...
            worker = getattr(getattr(exc, "last_worker", None), "address", None)
            self._retry(job, worker, describe(exc))
            return
        try:
            outcome = store_result(job.task, reply.get("results"), reply.get("log") or b"")
        except Exception as exc:
            self._give_up(job, f"result not stored: {describe(exc)}")
            return
        if job.future.set_running_or_notify_cancel():
            job.future.set_result(outcome)

    def _retry(self, job: _Job, worker: str | None, why: str) -> None:
        job.tried.append(worker or "?")
        job.errors.append(f"attempt {len(job.tried)} on {worker or 'a worker'}: {why}")
        log.info("%s: %s", job.task["id"], job.errors[-1])
        if len(job.tried) >= self.max_attempts:
            self._give_up(job, "; ".join(job.errors))
        else:
            with self._cv:
                self._queue.appendleft(job)

    def _give_up(self, job: _Job, why: str) -> None:
        if job.future.set_running_or_notify_cancel():
            job.future.set_exception(TaskFailed(safetext.one_line(
                f"failed on the cluster after {len(job.tried)} attempt(s): {why}", 900)))


# -- connecting --------------------------------------------------------------------------------
def connect(scheduler: str) -> ClusterExecutor:
    """A ClusterExecutor on `tcp://HOST:PORT` (an existing scheduler) or `local:N` (a
    LocalCluster of N single-threaded worker processes here, closed with the executor)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterUnavailable(INSTALL_HINT) from None
    logging.getLogger("distributed").setLevel(logging.WARNING)   # not its per-connection INFO
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler.partition(":")[2])
            if n < 1:
                raise ValueError
        except ValueError:
            raise ClusterUnavailable(f"--scheduler {scheduler!r}: local:N needs N >= 1") from None
        # allowed-failures 0: a task whose worker dies comes back to us as KilledWorker, so
        # MAX_ATTEMPTS is the one retry bound (an external scheduler may rerun it first).
        # No statistical profiler in the workers: it costs ~0.05 core per idle worker.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                              "distributed.worker.profile.enabled": False,
                              "distributed.worker.daemon": False}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   memory_limit=0, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
        return ClusterExecutor(Client(cluster), owned=(cluster,))
    try:
        return ClusterExecutor(Client(scheduler, timeout="30s"))
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: "
                                 f"{describe(exc)}") from None


def start_message(executor: ClusterExecutor, scheduler: str, assignment: str) -> str:
    """The line printed before grading: workers, threads, the dashboard."""
    workers = executor.check(assignment)
    threads = sum(n for w, n in executor.client.nthreads().items() if w in set(workers))
    board = executor.dashboard
    return (f"Dask cluster {scheduler}: {len(workers)} worker(s), {threads} thread(s), "
            f"gradekit {__version__}" + (f"; dashboard: {board}" if board else ""))


def checked_executor(scheduler: str, assignment: str, say: Callable[[str], Any] | None = print
                     ) -> ClusterExecutor:
    """`connect`, then every worker's kit checked for `assignment` before any task (the
    executor is shut down if that fails); `say` gets the start line (None: quiet)."""
    executor = connect(scheduler)
    try:
        message = start_message(executor, scheduler, assignment)
    except BaseException:
        executor.shutdown(wait=False)
        raise
    if say is not None:
        say(message)
    return executor
