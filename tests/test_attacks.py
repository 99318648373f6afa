"""Attacks on the grader, each from a real submission, each earning 0 points.

Every attack is the untouched stub (worth 0) plus the attack, or a submission whose only
route to points is the attack; it must end with score 0, a schema-valid results file that
only the grader wrote, and the grader alive. They run under the OS-isolated sandbox (bwrap),
which CI installs; the suite is skipped with the reason when bubblewrap cannot run here.
"""
from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from pathlib import Path

import jsonschema
import pytest

from grader import results as res
from grader.suites.softmax import declaration as softmax_declaration
from grader.declaration import ROOT
from grader.runner import grade_submission
from grader.sandbox.isolation import available

BWRAP_OK, BWRAP_WHY = available("bwrap")
pytestmark = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap cannot run here: {BWRAP_WHY}")

STUB = (ROOT / "assignments" / "softmax" / "softmax.py").read_text()
FIXTURE = ROOT / "grader" / "suites" / "softmax" / "expected" / "visible.npz"
REFERENCE = ROOT / "reference" / "softmax"

# The stub's vectorized loss, replaced by a "solution" that only works if the attack works.
CHEAT_BODY = '''
def softmax_loss_vectorized(W, X, y, reg):
    {body}
'''

ATTACKS = {
    "forge_results_and_exit": textwrap.dedent(f'''
        import json, os
        for p in ["results.json", "/autograder/results/results.json", {str(ROOT / "results.json")!r},
                  os.path.expanduser("~/results.json"), "/tmp/results.json"]:
            try:
                open(p, "w").write(json.dumps({{"score": 100, "tests": []}}))
            except OSError:
                pass
        os._exit(0)
        '''),
    "monkeypatch_numpy_unittest_builtins": textwrap.dedent('''
        import builtins, numpy, unittest
        numpy.allclose = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None
        unittest.TestCase.assertEqual = lambda *a, **k: None
        builtins.isinstance = lambda *a: True
        builtins.abs = lambda x: 0
        ''') + CHEAT_BODY.format(body="import numpy as np\n    return 0.0, np.zeros_like(W)"),
    "always_equal_object": CHEAT_BODY.format(body=textwrap.dedent('''
        class Anything(float):
            def __eq__(self, other): return True
            def __lt__(self, other): return True
            def __le__(self, other): return True
            def __gt__(self, other): return False
            def __abs__(self): return 0.0
            def __sub__(self, other): return 0.0
        return Anything(0.0), Anything(0.0)
        ''').replace("\n", "\n    ")),
    "ndarray_subclass": CHEAT_BODY.format(body=textwrap.dedent('''
        import numpy as np
        class Eq(np.ndarray):
            def __eq__(self, other): return np.ones(np.shape(other), bool)
        return np.zeros(1).view(Eq), np.zeros(W.shape).view(Eq)
        ''').replace("\n", "\n    ")),
    "read_fixtures": CHEAT_BODY.format(body=textwrap.dedent(f'''
        import numpy as np
        data = np.load({str(FIXTURE)!r})
        for key in data.files:
            if key.endswith("/loss"):
                case = key.split("/")[0]
                return float(data[case + "/loss"]), data[case + "/dW"]
        ''').replace("\n", "\n    ")),
    "import_reference": CHEAT_BODY.format(body=textwrap.dedent(f'''
        import importlib.util
        spec = importlib.util.spec_from_file_location("ref", {str(REFERENCE / "softmax.py")!r})
        ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
        return ref.softmax_loss_vectorized(W, X, y, reg)
        ''').replace("\n", "\n    ")),
    "socket": textwrap.dedent('''
        import socket
        s = socket.create_connection(("127.0.0.1", 22), timeout=2)
        '''),
    "infinite_loop_at_import": "\nwhile True:\n    pass\n",
    "infinite_loop_in_function": CHEAT_BODY.format(body="while True:\n        pass"),
    "memory_bomb": CHEAT_BODY.format(body="blocks = [bytearray(10**8) for _ in range(1000)]"),
    "fork_bomb": textwrap.dedent('''
        import os
        for _ in range(2000):
            try:
                if os.fork() == 0:
                    import time; time.sleep(30); os._exit(0)
            except OSError:
                break
        '''),
    "stdout_flood": CHEAT_BODY.format(
        body='import sys\n    chunk = "x" * (1 << 20)\n    for _ in range(200):\n'
             '        sys.stdout.write(chunk)\n    raise NotImplementedError'),
    "kill_the_grader": "\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "sys_exit_in_function": CHEAT_BODY.format(body="import sys\n    sys.exit(0)"),
    "syntax_error": "\ndef broken(:\n",
}


# Attacks that spin until a time limit stops them: graded with short limits (the same code
# paths; every call, the import and the training run still end by timeout), not 20 s per
# call and 120 s per training run, which cost minutes of CPU per `make test` for nothing.
SPINNING = {"infinite_loop_at_import": 3.0, "infinite_loop_in_function": 3.0}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_gains_nothing(attack, tmp_path, monkeypatch):
    if attack in SPINNING:
        decl = softmax_declaration.ASSIGNMENT
        short = dataclasses.replace(decl.limits, call_seconds=SPINNING[attack],
                                    train_seconds=SPINNING[attack])
        monkeypatch.setattr(softmax_declaration, "ASSIGNMENT",
                            dataclasses.replace(decl, limits=short))
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "softmax.py").write_text(STUB + "\n" + ATTACKS[attack])
    results_path = tmp_path / "out" / "results.json"
    data = grade_submission("softmax", sub, results_path=results_path, sandbox_mode="bwrap")
    assert data["score"] == 0, [(t["name"], t["score"]) for t in data["tests"] if t["score"]]
    assert json.loads(results_path.read_text()) == data       # the grader's file, untouched
    jsonschema.validate(data, res.schema())
    assert not (ROOT / "results.json").exists()
    assert len(data["tests"]) > 5
    assert not any("Internal grader error" in t["output"] for t in data["tests"])


def test_missing_file_fails_cleanly(tmp_path):
    sub = tmp_path / "submission"
    sub.mkdir()
    data = grade_submission("softmax", sub, sandbox_mode="bwrap")
    assert data["score"] == 0
    assert all("softmax.py was not submitted" in t["output"] for t in data["tests"])
