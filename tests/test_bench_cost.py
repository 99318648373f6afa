"""benchmarks/cost.py: the CPU meter counts workers the plain RUSAGE_CHILDREN loses.

A worker burns a known CPU time (a loop on its own process_time, so the amount does not depend
on the machine's load) and is either orphaned or SIGKILLed together with its bwrap, as the
grader's kill path does; the meter must report at least that time, where the plain count of
its parent reports (almost) none. No wall-clock asserts."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import cost

BURN = 0.4                   # CPU seconds each worker burns
SLACK = 0.6                  # python start-ups of the middle and the worker, pgrep, bwrap


@pytest.fixture(scope="module")
def validation():
    return cost.validate(cpu=BURN)


def test_orphaned_worker_is_counted(validation):
    label, known, m = validation[0]
    assert "orphan" in label and known == BURN
    assert BURN <= m.best_cpu <= BURN + SLACK
    assert m.direct_cpu < BURN / 2          # what the plain count of its parent sees
    assert m.orphans >= 1


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bwrap not installed")
def test_worker_killed_with_bwrap_is_counted(validation):
    label, known, m = validation[1]
    assert "bwrap" in label
    assert BURN <= m.best_cpu <= BURN + SLACK
    assert m.direct_cpu < BURN / 2


def test_best_cpu_is_the_larger_meter():
    m = cost.Measured(cpu=0.1, wall=1.0, returncode=0, direct_cpu=0.1, orphans=1, perf_cpu=1.2)
    assert m.best_cpu == 1.2
    assert cost.Measured(1.3, 1.0, 0, 0.1, 1, 0.2).best_cpu == 1.3
    assert cost.Measured(1.3, 1.0, 0, 0.1, 1, None).best_cpu == 1.3


def test_perf_report_parsing(tmp_path: Path):
    report = tmp_path / "perf.csv"
    report.write_text("# started on Wed Dec  2\n\n1029.46,msec,task-clock,1029464345,100.00,"
                      "0.982,CPUs utilized\n")
    assert cost._perf_seconds(report) == pytest.approx(1.02946)
    report.write_text("<not counted>,msec,task-clock,0,0.00,,\n")
    assert cost._perf_seconds(report) is None
    assert cost._perf_seconds(tmp_path / "missing.csv") is None
