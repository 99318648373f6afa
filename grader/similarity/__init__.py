"""`python -m grader similarity`: which submissions share what their authors wrote, per
graded function, with the stub and staff boilerplate removed (staff tool; issue #17).

normalize (source -> units of canonical tokens) -> winnow (fingerprints) -> compare (pairs,
clusters) -> page (similarity.html, similarity.csv); sources reads a class through intake;
command is the command line."""
from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from grader.similarity.command import main as run
    return run(argv)
