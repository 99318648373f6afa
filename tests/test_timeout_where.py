"""A timeout names the function that was running (issue #11): an infinite loop in `predict`,
called from `train`, is reported as "train did not finish within ... s: it was still running
predict (softmax.py, line N)", from the stack the worker dumps at its deadline; student code
that blocks the dump gets the plain message; the dump never shows as the student's output."""
from __future__ import annotations

import re

import pytest

from grader.declaration import Limits
from grader.sandbox import StudentError, Worker
from grader.sandbox.client import running_frame, split_dump
from grader.sandbox.isolation import SandboxUnavailable, choose

TRAIN_CALLS_PREDICT = '''\
print("training starts")


class Softmax:
    def train(self, X):
        return self.predict(X)

    def predict(self, X):
        n = 0
        while True:
            n += 1
'''
BLOCKED = TRAIN_CALLS_PREDICT.replace(
    "    def train(self, X):\n",
    "    def train(self, X):\n        import signal\n"
    "        signal.setitimer(signal.ITIMER_REAL, 0)\n")

DUMP = '''printed before
Thread 0x00007f0000000001 (most recent call first):
  File "/tmp/helper_thread.py", line 3 in spin

Current thread 0x00007f0000000002 (most recent call first):
  File "/submission/softmax.py", line 11 in predict
  File "/submission/softmax.py", line 6 in train
  File "/opt/gradekit/worker_main.py", line 380 in op_one
  File "/opt/gradekit/worker_main.py", line 560 in main
'''


@pytest.fixture(autouse=True)
def allow_plain(monkeypatch):
    """Our own test files in plain mode (as tests/test_sandbox.py runs them)."""
    monkeypatch.setenv("GRADEKIT_ALLOW_PLAIN", "1")


def test_split_dump_takes_the_dump_out_of_the_output():
    dump, rest = split_dump(DUMP + "printed after\n")
    assert dump is not None and dump.startswith("Thread 0x") and dump.rstrip().endswith("main")
    assert rest == "printed before\nprinted after\n"
    plain = "no dump here\n  File \"softmax.py\", line 1 in f\n"
    assert split_dump(plain) == (None, plain)


def test_running_frame_is_the_innermost_submission_frame_of_the_request_thread():
    dump, _ = split_dump(DUMP)
    assert running_frame(dump, {"softmax.py", "helper_thread.py"}) == ("predict", "softmax.py", 11)
    assert running_frame(dump, {"layers.py"}) is None


def workdir(root, source: str):
    """A submission folder holding softmax.py, readable by the sandbox's unprivileged uid."""
    work = root / "work"
    work.mkdir()
    (work / "softmax.py").write_text(source)
    (work / "softmax.py").chmod(0o644)
    work.chmod(0o755)
    return work


def _modes() -> list[str]:
    found = ["plain"]
    try:
        choose("bwrap")
        found.append("bwrap")
    except SandboxUnavailable:
        pass
    return found


@pytest.mark.parametrize("mode", _modes())
def test_an_infinite_loop_in_predict_called_from_train_is_named(tmp_path, mode):
    with Worker(workdir(tmp_path, TRAIN_CALLS_PREDICT), Limits(call_seconds=1.0), mode=mode) as w:
        model = w.new("softmax.Softmax")
        with pytest.raises(StudentError) as info:
            w.call_method(model, "train", ([1.0],))
        output = w.take_output()
    assert info.value.kind == "timeout"
    assert re.fullmatch(r"Softmax\.train did not finish within 1 s: it was still running "
                        r"predict \(softmax\.py, line (10|11)\) when it was stopped "
                        r"\(infinite loop\?\)", info.value.message), info.value.message
    assert "training starts" in output and "thread 0x" not in output and "File " not in output


def test_student_code_that_cancels_the_dump_gets_the_plain_message(tmp_path):
    with Worker(workdir(tmp_path, BLOCKED), Limits(call_seconds=1.0), mode="plain") as w:
        model = w.new("softmax.Softmax")
        with pytest.raises(StudentError) as info:
            w.call_method(model, "train", ([1.0],))
    assert info.value.message == "Softmax.train did not finish within 1 s (infinite loop?)"


def test_a_forged_function_name_is_made_safe(tmp_path):
    """A student who prints a fake dump with control characters only gets clean text."""
    forged = ('import sys\n\nclass Softmax:\n    def train(self, X):\n'
              '        import signal\n        signal.setitimer(signal.ITIMER_REAL, 0)\n'
              '        sys.stderr.write("Thread 0x1 (most recent call first):\\n  File \\"/x/softmax.py\\", line 2 in evil\\x1b[2J\\n'
              '  File \\"/x/worker_main.py\\", line 1 in main\\n")\n'
              '        sys.stderr.flush()\n        while True:\n            pass\n')
    with Worker(workdir(tmp_path, forged), Limits(call_seconds=1.0), mode="plain") as w:
        model = w.new("softmax.Softmax")
        with pytest.raises(StudentError) as info:
            w.call_method(model, "train", ([1.0],))
    assert "\x1b" not in info.value.message
