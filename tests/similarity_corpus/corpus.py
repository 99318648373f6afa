"""The similarity test corpus, built from compact sources.

`<assignment>/aNN.txt` is one independently written solution (`hand_aNN.txt` a copy of aNN
disguised by hand): sections `## <function>` hold
the code that replaces the stub's `raise NotImplementedError(...)` line(s) of that function
(blocks separated by `#--` when the stub has several), and `## helpers` holds top-level
functions appended to the file. `build` splices a source into the stub files the way a
student fills them in; `disguise` makes a copy the way a copier hides one (renamed locals,
reordered functions, comments and formatting changed, `@` <-> `.dot`, dead code inserted);
`check_*` runs a built submission in-process against the reference on random inputs (the
corpus is ours, never student code).
"""
from __future__ import annotations

import ast
import random
import re
import textwrap
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FILES = {"softmax": ("softmax.py",), "two_layer_net": ("two_layer_net.py",),
         "convnet": ("layers.py", "optim.py", "cnn.py")}


def stub_text(assignment: str, filename: str) -> str:
    return (ROOT / "assignments" / assignment / filename).read_text("utf-8")


def sources(assignment: str) -> dict[str, str]:
    """author -> compact source text."""
    return {p.stem: p.read_text("utf-8") for p in sorted((HERE / assignment).glob("a*.txt"))}


def hand_copies(assignment: str) -> dict[str, str]:
    """`hand_aNN` -> the source of a copy of aNN disguised by hand (renamed, lines merged and
    split, `/=` for `= ... /`, comments changed), not by `disguise`."""
    return {p.stem: p.read_text("utf-8") for p in sorted((HERE / assignment).glob("hand_a*.txt"))}


def _sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        m = re.match(r"^## (\S+)\s*$", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif name is not None:
            out[name].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found.update((f"{node.name}.{m.name}", m) for m in node.body
                         if isinstance(m, ast.FunctionDef))
    return found


def _raises(fn: ast.AST) -> list[ast.Raise]:
    return sorted((n for n in ast.walk(fn) if isinstance(n, ast.Raise)
                   and "NotImplementedError" in ast.unparse(n.exc)), key=lambda n: n.lineno)


def splice(stub: str, fills: dict[str, str]) -> str:
    """`stub` with each named function's raise line(s) replaced by its blocks."""
    lines = stub.split("\n")
    funcs = _functions(ast.parse(stub))
    edits = []
    for name, text in fills.items():
        if name not in funcs:
            continue
        blocks = text.split("\n#--\n")
        raises = _raises(funcs[name])
        assert len(blocks) == len(raises), (name, len(blocks), len(raises))
        for block, node in zip(blocks, raises):
            indent = " " * node.col_offset
            body = textwrap.indent(textwrap.dedent(block).strip("\n"), indent)
            edits.append((node.lineno, node.end_lineno, body.split("\n")))
    for first, last, new in sorted(edits, reverse=True):
        lines[first - 1:last] = new
    return "\n".join(lines)


def build(assignment: str, source: str) -> dict[str, str]:
    """The graded files of one student from a compact source."""
    secs = _sections(source)
    helpers = secs.pop("helpers", "")
    files = {}
    for filename in FILES[assignment]:
        stub = stub_text(assignment, filename)
        names = set(_functions(ast.parse(stub)))
        text = splice(stub, {k: v for k, v in secs.items() if k in names})
        if helpers and filename == FILES[assignment][0]:
            text = text.rstrip("\n") + "\n\n\n" + helpers.strip("\n") + "\n"
        files[filename] = text
    return files


# -- disguises ------------------------------------------------------------------------------
class _Disguise(ast.NodeTransformer):
    """Renames the locals of every function, swaps `@` and `.dot`, inserts dead code."""

    def __init__(self, rng: random.Random, dead: bool, swap: bool):
        self.rng, self.dead, self.swap = rng, dead, swap
        self.names: dict[str, str] = {}

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        params = {a.arg for a in node.args.args + node.args.kwonlyargs}
        stored = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                  and isinstance(n.ctx, ast.Store)} - params
        outer = self.names
        self.names = {**outer, **{s: f"{s}_{self.rng.choice('pqrxyz')}{self.rng.randint(1, 9)}"
                                  for s in stored if s != "_"}}
        self.generic_visit(node)
        self.names = outer
        if self.dead and len(node.body) > 1:
            spot = self.rng.randint(1, len(node.body) - 1)
            node.body[spot:spot] = ast.parse("unused_total = 0\nif unused_total > 1:\n"
                                             "    unused_total = unused_total + 1").body
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.names:
            node.id = self.names[node.id]
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if self.swap and isinstance(node.op, ast.MatMult):
            return ast.Call(ast.Attribute(node.left, "dot", ast.Load()), [node.right], [])
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        fn = node.func
        if (self.swap and isinstance(fn, ast.Attribute) and fn.attr == "dot"
                and not (isinstance(fn.value, ast.Name) and fn.value.id in ("np", "numpy"))
                and len(node.args) == 1 and not node.keywords):
            return ast.BinOp(fn.value, ast.MatMult(), node.args[0])
        return node


def _reorder(tree: ast.Module, rng: random.Random) -> None:
    """Shuffle the top-level functions among themselves, and each class's methods."""
    for body in [tree.body] + [n.body for n in tree.body if isinstance(n, ast.ClassDef)]:
        spots = [i for i, n in enumerate(body) if isinstance(n, ast.FunctionDef)]
        moved = [body[i] for i in spots]
        rng.shuffle(moved)
        for i, node in zip(spots, moved):
            body[i] = node


def disguise(files: dict[str, str], seed: int, *, dead: bool = True, swap: bool = True,
             reorder: bool = True, numpy_name: bool = True) -> dict[str, str]:
    """A disguised copy: unparsed (comments gone, formatting changed), locals renamed,
    `@`/`.dot` swapped, dead code inserted, functions reordered, `numpy` spelled out, and
    new comments added."""
    rng = random.Random(seed)
    out = {}
    for filename, text in files.items():
        tree = ast.parse(text)
        tree = _Disguise(rng, dead, swap).visit(tree)
        if reorder:
            _reorder(tree, rng)
        if numpy_name:
            spot = max((i + 1 for i, n in enumerate(tree.body) if isinstance(n, ast.ImportFrom)
                        and n.module == "__future__"), default=0)
            tree.body.insert(spot, ast.Import([ast.alias("numpy")]))
        code = ast.unparse(ast.fix_missing_locations(tree))
        if numpy_name:
            code = re.sub(r"\bnp\.", "numpy.", code)
        lines = code.split("\n")
        for i in range(len(lines) - 1, 0, -1):
            if lines[i].lstrip().startswith(("for ", "if ")) and rng.random() < 0.5:
                pad = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                lines.insert(i, f"{pad}# my own step {i}")
        out[filename] = "\n".join(lines) + "\n"
    return out


# -- correctness, in-process, against the reference -------------------------------------------
def module(text: str, name: str, extra: dict[str, types.ModuleType] | None = None) -> types.ModuleType:
    """A module from our own corpus text (never student code)."""
    mod = types.ModuleType(name)
    mod.__dict__.update(extra or {})
    exec(compile(text, name, "exec"), mod.__dict__)
    return mod


def reference(assignment: str, filename: str, extra=None) -> types.ModuleType:
    return module((ROOT / "reference" / assignment / filename).read_text("utf-8"),
                  f"ref_{filename[:-3]}", extra)
