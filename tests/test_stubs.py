"""The stub generator (publish/stubs.py) and the committed stubs in assignments/."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader import declaration
from publish import stubs

ROOT = declaration.ROOT
ASSIGNMENTS = ROOT / "assignments"


# ---------------------------------------------------------------------------------------------
# render_stub on small sources
# ---------------------------------------------------------------------------------------------

SOURCE = textwrap.dedent('''\
    """Module docstring."""
    import numpy as np

    HYPERPARAMS = {
        # BEGIN SOLUTION
        # STUB: "lr": None,  # TODO: choose
        # STUB:
        "lr": 0.5,
        # END SOLUTION
    }


    def f(x):
        """Docstring of f."""
        y = 0
        # BEGIN SOLUTION
        y = x + 1
        # END SOLUTION
        return y


    class Model:
        def loss(self, X, y=None):
            """Docstring of loss."""
            # BEGIN SOLUTION: the forward pass
            scores = X * 2
            # END SOLUTION
            if y is None:
                return scores
            # BEGIN SOLUTION: "backward"
            return scores.sum()
            # END SOLUTION

    # BEGIN SOLUTION
    SECRET = 42
    # END SOLUTION
    ''')

EXPECTED = textwrap.dedent('''\
    """Module docstring."""
    import numpy as np

    HYPERPARAMS = {
        "lr": None,  # TODO: choose

    }


    def f(x):
        """Docstring of f."""
        y = 0
        raise NotImplementedError("f: not implemented")
        return y


    class Model:
        def loss(self, X, y=None):
            """Docstring of loss."""
            raise NotImplementedError("Model.loss: not implemented (the forward pass)")
            if y is None:
                return scores
            raise NotImplementedError("Model.loss: not implemented (\\"backward\\")")

    # TODO: write this part
    ''')


def test_render_stub_replaces_each_kind_of_region():
    assert stubs.render_stub(SOURCE, "example.py") == EXPECTED


def test_render_stub_keeps_crlf_and_files_without_regions():
    assert stubs.render_stub(SOURCE.replace("\n", "\r\n"), "x.py") == \
        EXPECTED.replace("\n", "\r\n")
    plain = "def f():\n    return 1\n"
    assert stubs.render_stub(plain, "plain.py") == plain
    assert stubs.render_stub("# BEGIN SOLUTION\n", "data.csv") == "# BEGIN SOLUTION\n"


def test_render_stub_markdown():
    source = ("# Title\n\n## Part\n<!-- BEGIN SOLUTION -->\n<!-- STUB: Value: <fill in> -->\n"
              "<!-- STUB: -->\nValue: 3\n\nWhy: because.\n<!-- END SOLUTION -->\n\n## Next\n"
              "<!-- BEGIN SOLUTION -->\nGone.\n<!-- END SOLUTION -->\nend\n")
    assert stubs.render_stub(source, "REPORT.md") == \
        "# Title\n\n## Part\nValue: <fill in>\n\n\n## Next\nend\n"


@pytest.mark.parametrize("source, line, words", [
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", 2, "do not nest"),
    ("x = 1\n# END SOLUTION\n", 2, "without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", 2, "never closed"),
    ("# STUB: x = 1\n", 1, "outside any solution region"),
])
def test_malformed_regions_name_file_and_line(source, line, words):
    with pytest.raises(stubs.StubError, match=rf"bad\.py:{line}: .*{words}"):
        stubs.render_stub(source, "bad.py")


def test_stub_that_would_not_parse_is_refused():
    source = "class A:\n    # BEGIN SOLUTION\n    x = 1\n    # END SOLUTION\n"
    with pytest.raises(stubs.StubError, match="does not parse"):
        stubs.render_stub(source, "a.py")


# ---------------------------------------------------------------------------------------------
# The committed assignments/ folder
# ---------------------------------------------------------------------------------------------

def test_assignments_folder_is_up_to_date():
    stale = [str(p.relative_to(ROOT)) for p in stubs.stale_files()]
    assert stale == [], f"assignments/ is out of date ({stale}): run `make stubs`"


def test_every_declared_file_is_published():
    published = {p.relative_to(ASSIGNMENTS) for p in stubs.expected_stubs()}
    for a in declaration.all_assignments():
        for name in (*a.graded, *((a.report,) if a.report else ()), "README.md"):
            assert Path(a.name, name) in published
        for name in a.given:
            source = declaration.given_path("reference", a.name, name)
            assert source.relative_to(ROOT / "reference") in published


def test_generator_is_idempotent_and_check_detects_stale(tmp_path):
    dest = tmp_path / "assignments"
    first = stubs.write_stubs(dest)
    assert first and stubs.write_stubs(dest) == []                      # idempotent
    expected = stubs.expected_stubs(dest)
    for path, data in expected.items():
        assert path.read_bytes() == data                                 # byte-stable
        assert data == (ASSIGNMENTS / path.relative_to(dest)).read_bytes()
    assert stubs.stale_files(dest) == []

    victim = dest / "softmax" / "softmax.py"
    victim.write_bytes(victim.read_bytes() + b"# edited\n")
    extra = dest / "two_layer_net" / "notes.txt"
    extra.write_text("stray")
    (dest / "common" / "gradient_check.py").unlink()
    (dest / "softmax" / "__pycache__").mkdir()
    (dest / "softmax" / "__pycache__" / "x.pyc").write_bytes(b"")        # ignored
    assert stubs.stale_files(dest) == sorted(
        [victim, extra, dest / "common" / "gradient_check.py"])
    rewritten = stubs.write_stubs(dest)
    assert set(rewritten) == {victim, extra, dest / "common" / "gradient_check.py"}
    assert not extra.exists() and stubs.stale_files(dest) == []


def test_check_flag_exit_status(tmp_path, monkeypatch):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    run = subprocess.run([sys.executable, "-m", "publish.stubs", "--check"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    monkeypatch.setattr(stubs, "ASSIGNMENTS", tmp_path / "assignments")
    assert stubs.main(["--check"]) == 1              # an empty folder: everything is stale


def _regions_by_published_file():
    for source, relative in sorted(stubs.published_files().items()):
        text = source.read_text(encoding="utf-8")
        yield source, ASSIGNMENTS / relative, text, stubs.find_regions(text, source.name)


def test_no_solution_text_leaks_into_stubs():
    checked = 0
    for source, target, text, regions in _regions_by_published_file():
        inside = {n for r in regions for n in range(r.begin, r.end + 1)}
        outside = {line.strip() for n, line in enumerate(text.splitlines(), 1)
                   if n not in inside}
        stub_lines = {line.strip() for line in target.read_text(encoding="utf-8").splitlines()}
        for region in regions:
            for line in region.body:
                if line.strip() and line.strip() not in outside:
                    assert line.strip() not in stub_lines, \
                        f"{target.relative_to(ROOT)}: solution line leaked: {line.strip()!r}"
                    checked += 1
        marker = "SOLUTION"
        assert not any(marker in line and ("BEGIN" in line or "END" in line)
                       for line in stub_lines), target
    assert checked > 100           # the check really looked at the solutions


def test_report_template_is_empty_with_declared_sections():
    a = declaration.load("two_layer_net")
    template = (ASSIGNMENTS / a.name / a.report).read_text()
    headings = [line[3:] for line in template.splitlines() if line.startswith("## ")]
    assert headings == list(a.settings["report_sections"])
    for key in ("Hidden layer size", "Batch size", "Learning rate", "Test accuracy"):
        assert f"\n{key}: <fill in>\n" in template
    reference = (ROOT / "reference" / a.name / a.report).read_text()
    assert "\nHidden layer size: <fill in>\n" not in reference
    assert "\nTest accuracy: 0." in reference


# ---------------------------------------------------------------------------------------------
# Every stub imports with numpy alone, and every TODO raises NotImplementedError naming itself
# ---------------------------------------------------------------------------------------------

PROBE = r'''
import ast, importlib, importlib.abc, json, sys, traceback
folders = sys.argv[1:]
sys.path[:0] = folders
local = {p.rsplit("/", 1)[-1][:-3] for f in folders for p in __import__("glob").glob(f + "/*.py")}
allowed = set(sys.stdlib_module_names) | {"numpy"} | local

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in allowed:
            raise ImportError(f"stub imports {name!r}: only numpy and the standard library")
        return None
sys.meta_path.insert(0, Block())

class Dummy:
    """Stands in for any argument: survives attribute access, indexing and arithmetic."""
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Dummy()
    def __setattr__(self, name, value): pass
    def __getitem__(self, key): return Dummy()
    def __setitem__(self, key, value): pass
    def __call__(self, *a, **k): return Dummy()
    def __index__(self): return 2
    def __float__(self): return 2.0
    def __bool__(self): return True
    def __lt__(self, other): return True
    __le__ = __gt__ = __ge__ = __lt__
for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "neg"):
    setattr(Dummy, f"__{op}__", lambda self, *a: Dummy())
    setattr(Dummy, f"__r{op}__", lambda self, *a: Dummy())

def todos(path):
    """(qualname, message, line) of every raise NotImplementedError(...) inside a function."""
    found = []
    def visit(node, prefix, func):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                name = prefix + child.name
                visit(child, name + ".", name if isinstance(child, ast.FunctionDef) else func)
            elif (isinstance(child, ast.Raise) and isinstance(child.exc, ast.Call)
                  and getattr(child.exc.func, "id", "") == "NotImplementedError" and func):
                found.append((func, child.exc.args[0].value, child.lineno))
            else:
                visit(child, prefix, func)
    visit(ast.parse(open(path).read()), "", None)
    return found

report = {"imported": [], "errors": {}, "todos": [], "calls": []}
for folder in folders:
    for path in sorted(__import__("glob").glob(folder + "/*.py")):
        mod_name = path.rsplit("/", 1)[-1][:-3]
        try:
            module = importlib.import_module(mod_name)
        except BaseException:
            report["errors"][path] = traceback.format_exc()
            continue
        report["imported"].append(path)
        seen = set()
        for qualname, message, line in todos(path):
            report["todos"].append({"file": path, "qualname": qualname, "message": message})
            if qualname in seen:
                continue
            seen.add(qualname)
            obj = module
            for part in qualname.split("."):
                obj = obj.__dict__[part] if isinstance(obj, type) else getattr(obj, part)
            obj = getattr(obj, "__func__", obj)
            import inspect
            params = [p for p in inspect.signature(obj).parameters.values()
                      if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                             p.POSITIONAL_OR_KEYWORD)]
            outcome = None
            for filler in (None, Dummy()):
                try:
                    obj(*[filler] * len(params))
                    outcome = ("returned", "", 0)
                except NotImplementedError as exc:
                    outcome = ("raised", str(exc), 0)
                    break
                except Exception as exc:
                    tb = [f for f in traceback.extract_tb(exc.__traceback__)
                          if f.filename.endswith(path.rsplit("/", 1)[-1])]
                    outcome = ("other", f"{type(exc).__name__}: {exc}",
                               tb[-1].lineno if tb else 0)
            report["calls"].append({"file": path, "qualname": qualname, "message": message,
                                    "line": line, "outcome": outcome})
print(json.dumps(report))
'''


def _probe(*folders: Path) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-I", "-B", "-c", PROBE, *map(str, folders)],
                         env=env, cwd=folders[0], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("name", declaration.NAMES)
def test_stubs_import_and_todos_raise_naming_the_function(name, tmp_path):
    # A copy, so that nothing from the kit (reference/, grader/, hwdata/) is importable.
    folder, common = tmp_path / name, tmp_path / "common"
    shutil.copytree(ASSIGNMENTS / name, folder)
    shutil.copytree(ASSIGNMENTS / "common", common)
    report = _probe(folder, common)
    assert report["errors"] == {}
    assert {Path(p).name for p in report["imported"]} >= set(declaration.load(name).graded)

    todos = [t for t in report["todos"] if Path(t["file"]).parent == folder]
    for todo in todos:                     # every raise names its function (static check)
        assert todo["message"].startswith(f"{todo['qualname']}: not implemented"), todo
    expected = sorted(r.qualname for source, relative in stubs.published_files().items()
                      if relative.parts[0] == name and source.suffix == ".py"
                      for r in stubs.find_regions(source.read_text(), source.name)
                      if r.qualname and not r.stub_lines)
    assert expected and sorted(t["qualname"] for t in todos) == expected

    calls = [c for c in report["calls"] if Path(c["file"]).parent == folder]
    dynamic = 0
    for call in calls:
        prefix = f"{call['qualname']}: not implemented"
        kind, detail, line = call["outcome"]
        if kind == "raised":
            assert detail.startswith(prefix), call
            dynamic += 1
        else:
            # Only acceptable: given scaffolding before the TODO choked on the stand-in
            # arguments; the raise itself was checked statically above.
            assert kind == "other" and 0 < line < call["line"], call
    assert dynamic >= len(calls) // 2, "too few TODOs could be reached with stand-in inputs"


def test_softmax_and_two_layer_net_todos_raise_with_real_inputs(tmp_path):
    """Call each TODO the way the grader does, with real arrays, in a subprocess."""
    script = r'''
import json, sys
import numpy as np
sys.path[:0] = sys.argv[1:]
import softmax, two_layer_net
rng = np.random.default_rng(0)
X, y, W = rng.random((6, 5)), np.array([0, 1, 2, 0, 1, 2]), rng.standard_normal((5, 3))
net = two_layer_net.TwoLayerNet(5, 4, 3, seed=0)
model = softmax.Softmax()
model.W = W
calls = {
    "softmax_loss_naive": lambda: softmax.softmax_loss_naive(W, X, y, 0.1),
    "softmax_loss_vectorized": lambda: softmax.softmax_loss_vectorized(W, X, y, 0.1),
    "Softmax.train": lambda: softmax.Softmax().train(X, y, num_iters=5, batch_size=2, seed=0),
    "Softmax.predict": lambda: model.predict(X),
    "TwoLayerNet.loss": lambda: net.loss(X, y, reg=0.1),
    "TwoLayerNet.train": lambda: net.train(X, y, X, y, num_iters=5, batch_size=2, seed=0),
    "TwoLayerNet.predict": lambda: net.predict(X),
}
out = {}
for name, call in calls.items():
    try:
        call()
        out[name] = "returned"
    except NotImplementedError as exc:
        out[name] = str(exc)
print(json.dumps(out))
'''
    folders = [ASSIGNMENTS / "softmax", ASSIGNMENTS / "two_layer_net", ASSIGNMENTS / "common"]
    run = subprocess.run([sys.executable, "-I", "-B", "-c", script, *map(str, folders)],
                         env={"PATH": os.environ.get("PATH", ""), "OPENBLAS_NUM_THREADS": "1"},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for qualname, message in json.loads(run.stdout).items():
        assert message.startswith(f"{qualname}: not implemented"), (qualname, message)
    hp = {}
    for name in ("softmax", "two_layer_net"):
        namespace: dict = {}
        exec(compile((ASSIGNMENTS / name / f"{name}.py").read_text(), name, "exec"), namespace)
        hp[name] = namespace["HYPERPARAMS"]
    assert set(hp["softmax"]) == {"learning_rate", "reg", "num_iters", "batch_size"}
    assert all(v is None for h in hp.values() for v in h.values())     # TODO values only
