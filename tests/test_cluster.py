"""Grading on a Dask cluster (`grader.cluster`, issue #15), on one real LocalCluster of two
worker processes shared by the tests: the same grades as the local batch for a class of
correct, buggy, crashing and looping softmax submissions; a worker SIGKILLed mid-batch costs
nothing (every row once, none written twice); a worker running another kit is refused."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from examples import build as demo
from grader import batch, bugs, cli, cluster
from grader import results as res
from grader.declaration import ROOT
from grader.framework import collect
from test_batch import FAKE_SOURCE, make_class

BUDGET = 30.0          # seconds per submission: caps the looping one, correct ones fit (loaded)


@pytest.fixture(scope="module")
def dask() -> cluster.ClusterExecutor:
    executor = cluster.connect("local:2")
    yield executor
    executor.shutdown()


def _class(root: Path) -> Path:
    """20+ softmax submissions: the demo class (less its timing-bound 'slow' student), every
    other bug and correct variant of the suite's table, and three of them again as zips."""
    table = bugs.table("softmax")
    people = [s for s in demo.students("softmax") if s.sid != "slow"]
    played = {"reg-grad-half", "vec-no-max-shift", "vec-calls-naive"}
    people += [demo.student(table, bugs.Student(item.id, item.id, item.id))
               for item in (*table.bugs, *table.variants) if item.id not in played]
    for person in people:
        folder = root / person.sid
        folder.mkdir(parents=True)
        for name, text in demo.student_files("softmax", person).items():
            (folder / name).write_text(text)
    for sid in ("ada", "argmin", "crash"):
        with zipfile.ZipFile(root / f"{sid}-zip.zip", "w") as zf:
            for path in (root / sid).iterdir():
                zf.write(path, path.name)
    assert len(list(root.iterdir())) >= 20
    return root


def _grades(df):
    """Every row's status, flags, total and test scores, less the speed test: its verdict
    is a wall-clock race that a loaded machine decides either way, locally too."""
    timed = [s for s in collect("softmax") if "speed" in getattr(s.func, "__name__", "")]
    assert timed
    cols = [c for c in df.columns if c not in ("runtime", "message")
            and not any(c.startswith(f"{s.number} ") for s in timed)]
    out = df[cols].set_index("id").sort_index()
    for s in timed:
        column = next(c for c in df.columns if c.startswith(f"{s.number} "))
        out["total"] -= df.set_index("id")[column].fillna(0.0)
    return out.fillna("-")                                       # NaN: a test not run


def test_a_class_on_the_cluster_gets_the_local_batch_grades(tmp_path, dask):
    classdir = _class(tmp_path / "class")
    here = batch.grade_batch("softmax", [classdir], tmp_path / "local", jobs=2,
                             time_budget=BUDGET, progress=False)
    there = batch.grade_batch("softmax", [classdir], tmp_path / "dask", executor=dask,
                              time_budget=BUDGET, progress=False)
    assert len(there) == len(here) >= 20
    assert _grades(there).to_dict() == _grades(here).to_dict()
    kinds = dict(zip(there["id"], there["status"]))
    assert kinds["forger"] == "tamper" and kinds["nofile"] == "empty"
    totals = dict(zip(there["id"], there["total"]))
    assert totals["ada"] == totals["ada-zip"] == 100 and totals["crash"] == 0
    assert "timeout" in dict(zip(there["id"], there["flags"]))["loop"]
    log = (tmp_path / "dask" / "ada" / "grader.log")
    assert log.exists()                    # the worker's log came back with the results


def test_a_worker_killed_mid_batch_costs_nothing(tmp_path, dask, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="grader.cluster")
    fake = tmp_path / "fake_grader.py"
    fake.write_text(FAKE_SOURCE)
    names = [f"s{i}" for i in range(6)]
    classdir = make_class(tmp_path / "class", {n: 10 * i for i, n in enumerate(names)},
                          {n: {"sleep.txt": "1.5"} for n in names})
    out = tmp_path / "out"
    writes: list[str] = []
    real = res.write_atomic

    def counted(path, data):
        if Path(path).name == batch.RESULTS:
            writes.append(Path(path).parent.name)
        real(path, data)

    monkeypatch.setattr(res, "write_atomic", counted)
    killed: list[str] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [w for w, keys in dask.client.processing().items() if keys]
            if busy:
                pid = dask.client.run(os.getpid, workers=busy[:1])[busy[0]]
                time.sleep(0.5)                 # its grading child is running now
                os.kill(pid, signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    df = batch.grade_batch("softmax", [classdir], out, executor=dask,
                           grade_fn=f"{fake}:fake_grade", progress=False)
    killer.join()
    assert killed, "no worker was busy to kill"
    retried = [r.getMessage() for r in caplog.records if "attempt 1 on" in r.getMessage()]
    assert any("KilledWorker" in m and killed[0] in m for m in retried)   # ours, not luck
    assert sorted(df["id"]) == names and set(df["status"]) == {"graded"}
    assert dict(zip(df["id"], df["total"])) == {n: 10.0 * i for i, n in enumerate(names)}
    assert sorted(writes) == names           # one results.json write per submission
    assert killed[0] not in dask.client.nthreads()
    assert not list(out.rglob(batch.LOCK))


def test_a_worker_with_another_kit_is_refused(tmp_path, dask):
    kit = tmp_path / "old-kit"
    for part in ("grader", "hwdata", "datasets"):
        shutil.copytree(ROOT / part, kit / part, ignore=shutil.ignore_patterns("__pycache__"))
    init = kit / "grader" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{cluster.__version__}"', '"0.0.9"'))
    before = set(dask.client.nthreads())
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", dask.client.scheduler.address,
         "--nthreads", "1", "--no-nanny", "--name", "old-kit-worker"],
        cwd=kit, env=dict(os.environ, PYTHONPATH=str(kit)), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        dask.client.wait_for_workers(len(before) + 1, timeout=60)
        with pytest.raises(cluster.KitMismatch) as err:
            cluster.check_workers(dask.client, "softmax")
        text = str(err.value)
        new = (set(dask.client.nthreads()) - before).pop()
        assert new in text and "gradekit 0.0.9" in text
        assert f"this machine runs gradekit {cluster.__version__}" in text
        assert all(w not in text for w in before)        # the good workers are not blamed
    finally:
        worker.kill()
        worker.wait()


def test_without_distributed_the_scheduler_option_says_what_to_install(tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)        # as if not installed
    with pytest.raises(cluster.ClusterUnavailable, match="requirements/cluster.txt"):
        cluster.connect("local:2")
    (tmp_path / "class" / "a").mkdir(parents=True)
    code = cli.main(["grade", "softmax", str(tmp_path / "class"), "--out", str(tmp_path / "out"),
                     "--scheduler", "local:2", "--no-progress"])
    assert code == 2 and "pip install -r requirements/cluster.txt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
