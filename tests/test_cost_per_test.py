"""benchmarks/cost.py `tests`: CPU per test of the reference, worker and grader apart. The
worker's CPU is read from /proc by its pid: a wrong pid (or a grader-side clock standing in
for it) would show no CPU where only the worker works, i.e. in the training run. No
wall-clock asserts."""
from __future__ import annotations

from benchmarks import cost
from grader.framework import collect

NAME = "softmax"     # the cheapest suite with a training run in the worker
TRAINING = "3.4"     # Softmax.train with the file's HYPERPARAMS: 500 steps, all in the worker


def test_every_test_is_measured_and_the_training_run_costs_worker_cpu():
    rows = cost.cpu_per_test(NAME)
    assert sorted(r.number for r in rows) == sorted(s.number for s in collect(NAME))
    by_number = {r.number: r for r in rows}
    assert by_number[TRAINING].passed
    assert by_number[TRAINING].worker > 0.02             # at least a few clock ticks of work
    assert by_number[TRAINING].worker > by_number[TRAINING].trusted
    assert all(r.worker >= 0 and r.trusted >= 0 for r in rows)
