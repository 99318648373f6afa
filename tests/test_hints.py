"""Hints point at the mistake without giving the solution away (issue #11).

Every hint a suite or the checks library can show a student is collected from the source
(named hint constants, the convnet hints module, `hint=` arguments and the text after
"Hint:" in failure messages) and must not contain an assignment-statement-like formula
("dW = ...", "W -= ...") or solution code such as a matrix product ("X.T @ ...").
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from grader.declaration import NAMES

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("grader/suites/*/tests.py"), *ROOT.glob("grader/suites/*/hints.py"),
                  *ROOT.glob("grader/checks/*.py")])
HINT_KEYWORDS = {"hint", "back_hint", "slow_hint"}
# An assignment or augmented assignment ("dW =", "W -=", "cache[k] +="), never a comparison
# ("<=", ">=", "==", "!="); a matrix product; a transpose.
FORMULA = re.compile(r"[\w\])]\s*(?:\+=|-=|\*=|/=|=(?!=))|\s@\s|\.T\b")
# Hints owned by files outside this change, still to be reworded (see the closing report):


def formulas(text: str) -> list[str]:
    """The formula-like fragments of one hint (empty when it only points at the mistake)."""
    return [text[max(0, m.start() - 20):m.end() + 20] for m in FORMULA.finditer(text)]


def _literal(node: ast.AST) -> str | None:
    """The literal text of a string constant or the constant parts of an f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _strings(node: ast.AST) -> list[str]:
    """Every string literal under `node` (a constant, a dict of them, a concatenation)."""
    return [t for n in ast.walk(node) if (t := _literal(n)) is not None]


def hints_in(path: Path) -> list[str]:
    """Every hint text in one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in tree.body:     # named constants: FOO_HINT, HINTS, and all of a hints module
        if isinstance(node, ast.Assign) and node.value is not None:
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if path.name == "hints.py" or any("HINT" in n for n in names):
                found.extend(_strings(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in HINT_KEYWORDS:
            found.extend(_strings(node.value))
        text = _literal(node)
        if text and "Hint:" in text:
            found.append(text.split("Hint:", 1)[1])
    return [h for h in found if h.strip()]


def test_the_detector_catches_formulas_and_spares_prose():
    for bad in ("dW = X.T @ (probs - onehot(y)) / N + 2 * reg * W", "W -= learning_rate * dW",
                "out = np.maximum(x, 0).", "cache[k] += g", "scores @ W2"):
        assert formulas(bad), bad
    for fine in ("a step against the gradient, scaled by the learning rate.",
                 "accuracy >= 90% and loss <= 0.5; equality == is a comparison",
                 "the derivative of reg * sum(W**2)", "pad (F-1)//2", "Tests"):
        assert not formulas(fine), fine


def test_hints_are_collected_from_every_suite():
    """The collection really sees the hints (a parser that found none would pass anything)."""
    per_file = {p.relative_to(ROOT).as_posix(): hints_in(p) for p in SOURCES}
    for name in NAMES:
        assert per_file[f"grader/suites/{name}/tests.py"], name
    assert len(per_file["grader/suites/convnet/hints.py"]) >= 30
    assert any("Numerical stability" in h for h in per_file["grader/checks/sanity.py"])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_hint_states_the_solutions_formula(path):
    bad = {h: formulas(h) for h in hints_in(path) if formulas(h)}
    assert not bad, bad
