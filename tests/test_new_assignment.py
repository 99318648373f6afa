"""A new assignment is one folder plus one registry line.

A copy of the kit's grader in a temporary folder gets a toy fourth assignment: ONE folder,
grader/suites/toy/ (declaration, tests with a visible and a hidden test, expected-value
builder, bug table), and ONE line, "toy" added to `NAMES` in grader/declaration.py. Then, in
subprocesses on that copy, exactly as staff would: `python -m grader.expected_values build
toy` (make expected), and `python -m grader run toy` grades a correct submission 100, a
correct-but-different one (the table's variant) 100 and a buggy one (the table's bug) less,
losing points on the bugged function's test. At the end, the files that differ from the
pristine copy are the toy folder and the registry file, whose diff is one line.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from grader.declaration import ROOT

TOY = {
    "__init__.py": "",
    "declaration.py": '''
        """toy: scale an array (the smallest assignment there is)."""
        from grader.declaration import Assignment

        ASSIGNMENT = Assignment(
            name="toy",
            title="Scale an array",
            graded=("toy.py",),
            given=(),
            datasets=(),
            settings={"rtol": 1e-9},
        )
    ''',
    "tests.py": '''
        """The toy suite: `scale` on the visible and on the hidden expected values."""
        from grader.checks.compare import assert_close
        from grader.framework import Context, test


        def check(ctx: Context, set_name: str) -> None:
            case = ctx.expected("scale", set_name)
            got = ctx.call("toy.scale", case["x"], float(case["k"]))
            assert_close(got, case["out"], "scale(x, k)", rtol=ctx.settings["rtol"],
                         reveal=set_name == "visible")


        @test("1.1", 60, "scale")
        def test_scale(ctx: Context) -> None:
            """scale: matches the expected values"""
            check(ctx, "visible")


        @test("1.2", 40, "scale", visibility="hidden")
        def test_scale_hidden(ctx: Context) -> None:
            """scale: right on hidden inputs"""
            check(ctx, "hidden")
    ''',
    "expected_values.py": '''
        """Expected values of the toy suite: k * x on seeded inputs. (A real builder runs the
        reference, `ref("toy")`; the toy has no reference folder, so it is its own.)"""
        import numpy as np


        def build(ref, set_name, rng):
            x = rng.standard_normal((4, 3))
            k = float(rng.integers(2, 9))
            return {"scale": {"x": x, "k": np.float64(k), "out": k * x}}
    ''',
    "bugs.py": '''
        """The toy suite's bug table."""
        from grader.bugs import Bug, Table, Variant

        TABLE = Table(
            bugs=(Bug("adds", "adds k instead of multiplying", ("scale",),
                      (("toy.py", "return k * x", "return k + x"),)),),
            variants=(Variant("np-multiply", "np.multiply, arguments swapped",
                              (("toy.py", "return k * x", "return np.multiply(x, k)"),)),),
        )
    ''',
}
SUBMISSION = "import numpy as np\n\n\ndef scale(x, k):\n    return k * x\n"

# Run against the toy's table, inside the kit copy: the bug's and the variant's submissions.
FROM_TABLE = '''
import sys
from pathlib import Path
from grader.bugs import edited_copy, table
good, out = Path(sys.argv[1]), Path(sys.argv[2])
toy = table("toy")
for item in toy.bugs + toy.variants:
    edited_copy(good, ["toy.py"], out / item.id, item.edits)
'''


def fingerprint(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def run(kit: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GRADEKIT_") and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(kit), PYTHONDONTWRITEBYTECODE="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, *args], cwd=kit.parent, env=env, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def grade(kit: Path, submission: Path) -> dict:
    results = submission.with_suffix(".json")
    run(kit, "-m", "grader", "run", "toy", str(submission), "--results", str(results))
    return json.loads(results.read_text())


def test_a_toy_assignment_is_one_folder_and_one_registry_line(tmp_path):
    kit = tmp_path / "kit"
    shutil.copytree(ROOT / "grader", kit / "grader",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    pristine = fingerprint(kit)
    registry = kit / "grader" / "declaration.py"
    before = registry.read_text()

    # the one folder and the one line
    suite = kit / "grader" / "suites" / "toy"
    suite.mkdir()
    for filename, text in TOY.items():
        (suite / filename).write_text(textwrap.dedent(text).lstrip())
    names = re.search(r"^NAMES = \((.*?)\)", before, re.M)
    assert names, "grader/declaration.py: no `NAMES = (...)` line"
    registry.write_text(before[:names.end(1)] + ', "toy"' + before[names.end(1):])

    run(kit, "-m", "grader.expected_values", "build", "toy")
    good = tmp_path / "good"
    good.mkdir()
    (good / "toy.py").write_text(SUBMISSION)
    run(kit, "-c", FROM_TABLE, str(good), str(tmp_path))

    assert grade(kit, good)["score"] == 100.0
    assert grade(kit, tmp_path / "np-multiply")["score"] == 100.0
    buggy = grade(kit, tmp_path / "adds")
    assert buggy["score"] < 100.0
    assert [t["number"] for t in buggy["tests"] if t["score"] < t["max_score"]] == ["1.1", "1.2"]
    assert {tag for t in buggy["tests"] for tag in t["tags"]} == {"scale"}

    now = fingerprint(kit)
    changed = {p for p in pristine.keys() | now.keys() if pristine.get(p) != now.get(p)}
    toy = {p for p in now if p.startswith("grader/suites/toy/")}
    assert toy >= {f"grader/suites/toy/{f}" for f in TOY} | {
        "grader/suites/toy/expected/visible.npz", "grader/suites/toy/expected/hidden.npz"}
    assert changed == toy | {"grader/declaration.py"}
    diff = [line for line in difflib.unified_diff(before.splitlines(),
                                                  registry.read_text().splitlines(), n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(diff) == 2 and diff[0].startswith("-NAMES") and diff[1].startswith("+NAMES"), diff
