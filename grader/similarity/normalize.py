"""A source file cut into comparable units (one per function), each a list of normalised tokens
that remember the original line they came from.

What copying changes cheaply is normalised away, so that a disguised copy reads like the
original: identifiers (every variable, argument and helper name becomes `V`; attribute names,
keyword-argument names and builtins stay, they are the API a solution uses), comments,
docstrings, formatting (each statement is re-printed by `ast.unparse`), `numpy.`/`np.`/any
alias of numpy (all `np`), `a.dot(b)`/`np.dot(a, b)`/`np.matmul(a, b)` (all `a @ b`), type
annotations, `pass`, and numbers and strings (`N`, `S`). Function order is irrelevant because
functions are compared one by one (helpers a student adds form one unit, sorted).

A file that does not parse is still compared: it is cut at its `def` lines and tokenised by a
tolerant regex tokenizer with the same name rules (no `.dot` rewrite there).
"""
from __future__ import annotations

import ast
import builtins
import copy
import io
import keyword
import re
import tokenize
from dataclasses import dataclass

HELPERS = "(helpers)"          # the unit of functions a student added
BUILTINS = frozenset(dir(builtins)) - {"__doc__", "__name__"}
NUMPY = "numpy"
MAX_TOKENS = 20_000            # of one unit (a real solution function has a few hundred): the
                               # rest of a huge generated file is not compared


@dataclass(frozen=True)
class Unit:
    """One function of one file: normalised tokens, the original line of each, and the
    original lines the function spans (for the side-by-side view)."""
    name: str
    tokens: tuple[str, ...]
    lines: tuple[int, ...]
    first: int
    last: int


# -- the AST path --------------------------------------------------------------------------
def numpy_aliases(tree: ast.AST) -> frozenset[str]:
    """Names numpy goes by in this module (`np`, `numpy`, and any top-level
    `import numpy as x`)."""
    names = {"np", NUMPY}
    for node in tree.body:               # module level only: a whole-tree walk costs more
        if isinstance(node, ast.Import):
            names.update(a.asname or a.name for a in node.names if a.name == NUMPY)
    return frozenset(names)


def _is_numpy(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "np"


class _Canon(ast.NodeTransformer):
    """Rewrites one statement into its canonical form (names, numpy spelling, matmul)."""

    def __init__(self, aliases: frozenset[str]):
        self.aliases = aliases

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.aliases:
            return ast.copy_location(ast.Name("np", node.ctx), node)
        if node.id in BUILTINS:
            return node
        return ast.copy_location(ast.Name("V", node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.copy_location(ast.arg("V", None), node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, (str, bytes)):
            return ast.copy_location(ast.Constant("S"), node)
        if isinstance(node.value, (int, float, complex)) and not isinstance(node.value, bool):
            return ast.copy_location(ast.Constant(0), node)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return ast.copy_location(ast.Constant("S"), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = self.generic_visit(node)
        fn = node.func
        if isinstance(fn, ast.Attribute) and not node.keywords:
            if _is_numpy(fn.value) and fn.attr in ("dot", "matmul") and len(node.args) == 2:
                return ast.copy_location(ast.BinOp(node.args[0], ast.MatMult(), node.args[1]), node)
            if fn.attr == "dot" and not _is_numpy(fn.value) and len(node.args) == 1:
                return ast.copy_location(ast.BinOp(fn.value, ast.MatMult(), node.args[0]), node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        node = self.generic_visit(node)
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return ast.copy_location(ast.Assign([node.target], node.value), node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node = self.generic_visit(node)
        node.returns, node.name = None, "V"
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _is_noise(stmt: ast.stmt) -> bool:
    """A docstring or any bare string statement, or `pass`: no behaviour."""
    return isinstance(stmt, ast.Pass) or (
        isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str))


def _text_tokens(text: str) -> list[str]:
    """Tokens of canonical source text (numbers and strings already canonical)."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NUMBER:
                out.append("N")
            elif tok.type == tokenize.STRING:
                out.append("S")
            elif tok.type in (tokenize.NAME, tokenize.OP):
                out.append(tok.string)
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def _statements(stmts: list[ast.stmt], out: list[tuple[str, int]]) -> None:
    """Tokens of statements already in canonical form, each at its original line: a simple
    statement printed whole, a compound one as its header, then its bodies."""
    for stmt in stmts:
        if _is_noise(stmt):
            continue
        bodies = [f for f in _BODIES if isinstance(getattr(stmt, f, None), list)]
        head = stmt
        if bodies:
            head = copy.copy(stmt)
            for f in bodies:
                setattr(head, f, [])
            if isinstance(head, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                head.decorator_list = []
        try:
            text = ast.unparse(head)
        except Exception:                # an odd node (e.g. match) printed whole instead
            text, bodies = ast.unparse(stmt), []
        out.extend((t, stmt.lineno) for t in _text_tokens(text))
        for f in bodies:
            children = getattr(stmt, f)
            if f == "cases":
                for case in children:
                    _statements(case.body, out)
            else:
                _statements(children, out)


def function_tokens(node: ast.FunctionDef | ast.AsyncFunctionDef,
                    aliases: frozenset[str]) -> list[tuple[str, int]]:
    """The canonical tokens of a function's body (its signature left out: the stub fixes it).
    Rewrites the body in place: the tree must be one this module parsed for itself."""
    canon = _Canon(aliases)
    node.body = [canon.visit(stmt) for stmt in node.body]
    out: list[tuple[str, int]] = []
    _statements(node.body, out)
    return out


def _functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Top-level functions and methods of top-level classes, with qualified names."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            found.extend((f"{node.name}.{m.name}", m) for m in node.body
                         if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return found


def _first_line(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _unit(name: str, pairs: list[tuple[str, int]], first: int, last: int) -> Unit:
    pairs = pairs[:MAX_TOKENS]
    return Unit(name, tuple(t for t, _ in pairs), tuple(n for _, n in pairs), first, last)


def units_from_tree(tree: ast.Module, graded: frozenset[str], given: frozenset[str]) -> list[Unit]:
    """One unit per graded function present, plus one `HELPERS` unit for the functions the
    student added (not in the stub: neither graded nor `given`), sorted by their canonical
    text so that their order does not matter."""
    aliases = numpy_aliases(tree)
    units, helpers = [], []
    for name, node in _functions(tree):
        pairs = function_tokens(node, aliases)
        if name in graded:
            units.append(_unit(name, pairs, _first_line(node), node.end_lineno or node.lineno))
        elif name not in given:
            helpers.append((pairs, _first_line(node), node.end_lineno or node.lineno))
    if helpers:
        helpers.sort(key=lambda h: " ".join(t for t, _ in h[0]))
        pairs = [p for h in helpers for p in h[0]]
        units.append(_unit(HELPERS, pairs, min(h[1] for h in helpers), max(h[2] for h in helpers)))
    return units


# -- the fallback for a file that does not parse ---------------------------------------------
_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>[rRbBuUfF]{0,2}(?:'''(?:.|\n)*?(?:'''|\Z)|\"\"\"(?:.|\n)*?(?:\"\"\"|\Z)
                              |'[^'\n]*'?|"[^"\n]*"?))
  | (?P<number>\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?j?|\.\d+(?:[eE][+-]?\d+)?j?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%@&|^<>=!]=|[-+*/%@&|^~<>=.,:;()\[\]{}])
  | (?P<newline>\n)
""", re.VERBOSE)


def loose_tokens(text: str, first_line: int = 1,
                 aliases: frozenset[str] = frozenset({"np", NUMPY})) -> list[tuple[str, int]]:
    """Canonical tokens of source text that may not parse: the same name rules as the AST
    path, judged from the neighbouring tokens (after `.` an attribute, before `=` inside
    brackets a keyword argument)."""
    out: list[tuple[str, int]] = []
    line, depth, prev = first_line, 0, ""
    for m in _TOKEN.finditer(text):
        kind, s = m.lastgroup, m.group()
        if kind == "newline":
            line += 1
            continue
        if kind == "comment":
            continue
        if kind == "string":
            out.append(("S", line))
            line += s.count("\n")
            prev = "S"
            continue
        if kind == "number":
            tok = "N"
        elif kind == "name":
            after = text[m.end():m.end() + 2]
            if prev == "." or keyword.iskeyword(s) or s in BUILTINS:
                tok = s
            elif s in aliases:
                tok = "np"
            elif depth and after[:1] == "=" and after != "==":
                tok = s
            else:
                tok = "V"
        else:
            tok = s
            depth += s in "([{"
            depth -= s in ")]}" and depth > 0
        out.append((tok, line))
        prev = tok
    return out


def _body(pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The tokens after a `def` line's closing colon, without a leading docstring."""
    depth = 0
    for i, (tok, _) in enumerate(pairs):
        depth += tok in ("(", "[", "{")
        depth -= tok in (")", "]", "}") and depth > 0
        if tok == ":" and depth == 0:
            rest = pairs[i + 1:]
            return rest[1:] if rest[:1] and rest[0][0] == "S" else rest
    return []


_DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?P<kind>def|class)[ \t]+(?P<name>\w+)", re.M)


def units_from_text(text: str, graded: frozenset[str], given: frozenset[str]) -> list[Unit]:
    """Units of a file that does not parse: cut at its `def` lines (a `def` indented under a
    `class` line is a method of it), each chunk tokenised by `loose_tokens`."""
    marks = []
    cls, cls_indent = "", -1
    for m in _DEF.finditer(text):
        indent = len(m.group("indent").expandtabs())
        if m.group("kind") == "class":
            cls, cls_indent = m.group("name"), indent
            marks.append((m.start(), None))
            continue
        if indent == 0:
            cls = ""
        name = f"{cls}.{m.group('name')}" if cls and indent > cls_indent else m.group("name")
        marks.append((m.start(), name))
    marks.append((len(text), None))
    units, helpers = [], []
    for (start, name), (end, _) in zip(marks, marks[1:]):
        if name is None:
            continue
        first = text.count("\n", 0, start) + 1
        chunk = text[start:end]
        pairs = _body(loose_tokens(chunk, first))
        last = first + chunk.rstrip("\n").count("\n")
        if name in graded:
            units.append(_unit(name, pairs, first, last))
        elif name not in given:
            helpers.append((pairs, first, last))
    if helpers:
        helpers.sort(key=lambda h: " ".join(t for t, _ in h[0]))
        pairs = [p for h in helpers for p in h[0]]
        units.append(_unit(HELPERS, pairs, min(h[1] for h in helpers), max(h[2] for h in helpers)))
    return units


def file_units(text: str, graded: frozenset[str], given: frozenset[str]) -> tuple[list[Unit], bool]:
    """(units, parsed): the AST path when `text` parses, else the token-level fallback."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return units_from_text(text, graded, given), False
    try:
        return units_from_tree(tree, graded, given), True
    except RecursionError:
        return units_from_text(text, graded, given), False


def stub_functions(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(graded, given) function names of a stub: graded ones raise NotImplementedError."""
    graded, given = set(), set()
    for name, node in _functions(ast.parse(text)):
        raises = any(isinstance(n, ast.Raise) and n.exc is not None and "NotImplementedError"
                     in ast.unparse(n.exc) for n in ast.walk(node))
        (graded if raises else given).add(name)
    return frozenset(graded), frozenset(given)
