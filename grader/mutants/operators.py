"""Generic operator mutants of the reference's solution regions (a small AST-based set).

Only code between `# BEGIN SOLUTION` and `# END SOLUTION` inside a function is mutated (what
students write; module-level regions such as HYPERPARAMS are choices, not code). Each
mutation rewrites one place of the source text and nothing else, so its diff is one line:
- `arith`: `+ -`, `* /`, `//` and `**` swapped, an augmented `+= -=`, `*= /=` likewise;
- `compare`: `< <=`, `> >=`, `== !=` swapped;
- `constant`: an int n to n + 1, a float x to 2x (0.0 to 1.0); `keepdims`/booleans flipped;
- `axis`: an `axis=` argument moved (0 and 1 swapped, k to k - 1, a tuple losing its first);
- `slice`: a slice's lower bound + 1, its upper bound - 1;
- `negate`: a unary minus dropped.

Why not a library: cosmic-ray 8.7.0's operators can be driven per node (parso positions),
but it brings thirteen runtime dependencies (aiohttp, sqlalchemy, gitpython, ...) for a
number replacer (+-1 on every literal) and operator swaps, and has no axis, keepdims or
slice-bound operator; mutmut 3.8.1's mutators are internal (libcst, whole files rewritten
into trampolines for its own pytest runner), with no per-region API. See docs/staff/mutants.md.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterator

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"

BINOPS = {ast.Add: (ast.Sub, "+", "-"), ast.Sub: (ast.Add, "-", "+"),
          ast.Mult: (ast.Div, "*", "/"), ast.Div: (ast.Mult, "/", "*"),
          ast.FloorDiv: (ast.Div, "//", "/"), ast.Pow: (ast.Mult, "**", "*")}
COMPARES = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="),
            ast.GtE: (">=", ">"), ast.Eq: ("==", "!="), ast.NotEq: ("!=", "==")}
AUG = {ast.Add: ("+=", "-="), ast.Sub: ("-=", "+="), ast.Mult: ("*=", "/="),
       ast.Div: ("/=", "*=")}
# expressions that take `+ 1` / `- 1` without parentheses
BARE = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Call, ast.BinOp)


@dataclass(frozen=True)
class Mutation:
    """One rewrite of `file`: the text `old` at (line, col) becomes `new`; `function` is the
    qualified name of the enclosing function (`Cls.method`, `outer.inner`)."""
    file: str
    function: str
    operator: str
    line: int
    col: int
    end_line: int
    end_col: int
    old: str
    new: str

    def apply(self, source: str) -> str:
        """`source` with this mutation made."""
        lines = source.splitlines(keepends=True)
        start = sum(len(s) for s in lines[:self.line - 1]) + _char_col(lines[self.line - 1], self.col)
        end = sum(len(s) for s in lines[:self.end_line - 1]) + _char_col(lines[self.end_line - 1],
                                                                          self.end_col)
        if source[start:end] != self.old:
            raise ValueError(f"{self.file}:{self.line}: the text to mutate moved")
        return source[:start] + self.new + source[end:]

    @property
    def label(self) -> str:
        return f"{self.file}:{self.line} {self.operator} {self.old!r} -> {self.new!r}"


def _char_col(line: str, byte_col: int) -> int:
    """AST columns count UTF-8 bytes; the text is indexed by characters."""
    return len(line.encode()[:byte_col].decode(errors="ignore"))


def solution_lines(source: str) -> set[int]:
    """Line numbers (1-based) strictly between a BEGIN and an END SOLUTION marker."""
    inside, lines = False, set()
    for number, text in enumerate(source.splitlines(), start=1):
        bare = text.strip()
        if bare.startswith(BEGIN):
            inside = True
        elif bare.startswith(END):
            inside = False
        elif inside:
            lines.add(number)
    return lines


def _functions(tree: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(qualified name, node) of every function, methods as `Cls.method`."""
    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child
                yield from visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, prefix + child.name + ".")
    yield from visit(tree, "")


def _segment(source_lines: list[str], node: ast.AST) -> str:
    return ast.get_source_segment("".join(source_lines), node) or ""


class _Finder:
    """Collects the mutations of one file's solution regions."""

    def __init__(self, filename: str, source: str) -> None:
        self.filename, self.source = filename, source
        self.lines = source.splitlines(keepends=True)
        self.region = solution_lines(source)
        self.found: list[Mutation] = []
        self.function = ""

    def inside(self, node: ast.AST) -> bool:
        return all(n in self.region for n in range(node.lineno, node.end_lineno + 1))

    def add(self, operator: str, node_or_pos, old: str, new: str) -> None:
        if isinstance(node_or_pos, ast.AST):
            pos = (node_or_pos.lineno, node_or_pos.col_offset, node_or_pos.end_lineno,
                   node_or_pos.end_col_offset)
        else:
            pos = node_or_pos
        self.found.append(Mutation(self.filename, self.function, operator, *pos, old, new))

    def token_between(self, left: ast.AST, right: ast.AST, token: str) -> tuple | None:
        """Position of `token` in the text between two nodes (an operator, outside brackets
        and comments in every case the reference writes)."""
        line, col = left.end_lineno, left.end_col_offset
        while line <= right.lineno:
            text = self.lines[line - 1].encode()
            stop = right.col_offset if line == right.lineno else len(text)
            at = text.find(token.encode(), col, stop)
            if at >= 0:
                return (line, at, line, at + len(token.encode()))
            line, col = line + 1, 0
        return None

    # -- the operators -----------------------------------------------------------------------
    def binop(self, node: ast.BinOp) -> None:
        if type(node.op) in BINOPS:
            _, old, new = BINOPS[type(node.op)]
            pos = self.token_between(node.left, node.right, old)
            if pos:
                self.add("arith", pos, old, new)

    def compare(self, node: ast.Compare) -> None:
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            if type(op) in COMPARES:
                old, new = COMPARES[type(op)]
                pos = self.token_between(left, right, old)
                if pos:
                    self.add("compare", pos, old, new)
            left = right

    def augassign(self, node: ast.AugAssign) -> None:
        if type(node.op) in AUG:
            old, new = AUG[type(node.op)]
            pos = self.token_between(node.target, node.value, old)
            if pos:
                self.add("arith", pos, old, new)

    def constant(self, node: ast.Constant) -> None:
        value, old = node.value, _segment(self.lines, node)
        if isinstance(value, bool):
            self.add("constant", node, old, str(not value))
        elif isinstance(value, int):
            self.add("constant", node, old, str(value + 1))
        elif isinstance(value, float):
            self.add("constant", node, old, repr(value * 2 if value else 1.0))

    def axis(self, node: ast.keyword) -> None:
        value, old = node.value, _segment(self.lines, node.value)
        if isinstance(value, ast.Constant) and type(value.value) is int:
            k = value.value
            self.add("axis", value, old, str({0: 1, 1: 0}.get(k, k - 1)))
        elif isinstance(value, ast.Tuple) and len(value.elts) > 1:
            rest = ", ".join(_segment(self.lines, e) for e in value.elts[1:])
            self.add("axis", value, old, f"({rest}{',' if len(value.elts) == 2 else ''})")

    def bound(self, node: ast.expr, delta: str) -> None:
        old = _segment(self.lines, node)
        text = old if isinstance(node, BARE) else f"({old})"
        self.add("slice", node, old, f"{text} {delta}")

    def slice(self, node: ast.Slice) -> None:
        if node.lower is not None:
            self.bound(node.lower, "+ 1")
        if node.upper is not None:
            self.bound(node.upper, "- 1")

    def negate(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
            self.add("negate", node, _segment(self.lines, node),
                     _segment(self.lines, node.operand))

    def walk(self, node: ast.AST, skip: set[int]) -> None:
        """Every mutation inside `node`; `skip`: ids of nodes another operator owns."""
        for child in ast.walk(node):
            if id(child) in skip or not hasattr(child, "lineno") and not isinstance(child, ast.keyword):
                continue
            if isinstance(child, ast.keyword):
                if child.arg == "axis" and self.inside(child.value):
                    self.axis(child)
                    skip.update(id(n) for n in ast.walk(child.value))
                continue
            if not self.inside(child):
                continue
            kind = type(child).__name__.lower()
            handler = {"binop": self.binop, "compare": self.compare,
                       "augassign": self.augassign, "constant": self.constant,
                       "slice": self.slice, "unaryop": self.negate}.get(kind)
            if handler:
                handler(child)


def mutations(filename: str, source: str) -> list[Mutation]:
    """Every generic mutation of the solution regions of `source` (a file called `filename`),
    in source order; each one changes the parsed program (no-op rewrites are dropped)."""
    finder = _Finder(filename, source)
    tree = ast.parse(source)
    owned: dict[int, str] = {}
    for qualname, fn in _functions(tree):     # innermost function wins: visited last
        for node in ast.walk(fn):
            owned[id(node)] = qualname
    for qualname, fn in _functions(tree):
        finder.function = qualname
        inner = {id(n) for child in ast.walk(fn) if child is not fn
                 and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(child)}
        finder.walk(fn, set(inner) | _docstring_ids(fn))
    original = ast.dump(tree)
    seen, kept = set(), []
    for m in finder.found:
        try:
            dumped = ast.dump(ast.parse(m.apply(source)))
        except SyntaxError:
            continue
        if dumped != original and dumped not in seen:
            seen.add(dumped)
            kept.append(m)
    return sorted(kept, key=lambda m: (m.line, m.col, m.operator, m.new))


def _docstring_ids(fn: ast.AST) -> set[int]:
    body = getattr(fn, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        return {id(body[0].value)}
    return set()
