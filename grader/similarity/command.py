"""The command line: `python -m grader similarity ASSIGNMENT SUBMISSIONS... [--against PAST...]
[--boilerplate DIR] [--out DIR]` writes OUT/similarity.html and OUT/similarity.csv (by default
next to the class report of `grade`, out/grade)."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from grader import declaration, intake, safetext
import grader.similarity.page as page
import grader.similarity.sources as sources
from grader.similarity.compare import Comparison, Settings, boilerplate_hashes, compare


def parser() -> argparse.ArgumentParser:
    d = Settings()
    p = argparse.ArgumentParser(prog="python -m grader similarity",
                                description="Similarity report over a class's submissions: "
                                            "evidence for a person to read, not a verdict.")
    p.add_argument("assignment", choices=declaration.NAMES)
    p.add_argument("submissions", nargs="*", type=Path,
                   help="class folders, submission folders or zips (as for grade)")
    p.add_argument("--export", action="append", default=[], type=Path, metavar="PATH",
                   help="a Gradescope export (folder or zip), as for grade")
    p.add_argument("--against", nargs="+", default=[], type=Path, metavar="PAST",
                   help="earlier terms' class folders or exports, one per term")
    p.add_argument("--boilerplate", type=Path, metavar="DIR",
                   help="staff folder of known public solutions (.py): removed like the stub")
    p.add_argument("--out", type=Path, default=Path("out/grade"),
                   help="output folder (default: out/grade, next to the class report)")
    p.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"flag pairs from this score (default {d.threshold})")
    p.add_argument("--min-tokens", type=int, default=d.min_tokens,
                   help=f"... sharing at least this many tokens (default {d.min_tokens})")
    p.add_argument("--common-fraction", type=float, default=d.common_fraction,
                   help=f"ignore fragments in more of the class than this (default "
                        f"{d.common_fraction})")
    return p


def run(assignment: str, submissions: list[Path], out: Path, *, against: list[Path] = (),
        boilerplate: Path | None = None, exports: list[Path] = (),
        settings: Settings = Settings()) -> tuple[Comparison, Path, Path]:
    """Read, compare and write the report; returns (comparison, html path, csv path)."""
    start = time.perf_counter()
    decl = declaration.load(assignment)
    stub = sources.load_stub(decl)
    boiler_units = sources.stub_units(stub)
    said = "the stub's code"
    if boilerplate is not None:
        extra = sources.boilerplate_units(boilerplate)
        boiler_units += extra
        said += f" and {len(extra)} functions of {intake.display(boilerplate)}"
    boiler = boilerplate_hashes(boiler_units, settings.k)
    with tempfile.TemporaryDirectory(prefix="gradekit-similarity-") as tmp:
        loaded = sources.load_class(decl, stub, list(submissions), Path(tmp) / "class", list(exports))
        docs, texts, skipped = list(loaded.docs), dict(loaded.texts), list(loaded.skipped)
        for n, term in enumerate(against):
            label = intake.slugify(Path(term).name) or f"past{n + 1}"
            past = sources.load_class(decl, stub, [Path(term)], Path(tmp) / f"past{n}",
                                      past_label=label)
            docs += past.docs
            texts.update(past.texts)
            skipped += past.skipped
    comparison = compare(docs, boiler, settings)
    out.mkdir(parents=True, exist_ok=True)
    facts = page.Facts(assignment, decl.title, sum(not d.past for d in docs),
                       sum(d.past for d in docs), skipped, said,
                       time.perf_counter() - start, [d.id for d in docs if not d.parsed])
    units = {d.id: d.units for d in docs}
    html = page.write_html(out, page.context(comparison, facts, texts, units))
    return comparison, html, page.write_csv(out, comparison)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.submissions and not args.export:
        parser().error("give at least one class folder, submission or --export")
    settings = Settings(threshold=args.threshold, min_tokens=args.min_tokens,
                        common_fraction=args.common_fraction)
    try:
        c, html, csv_path = run(args.assignment, args.submissions, args.out,
                                against=args.against, boilerplate=args.boilerplate,
                                exports=args.export, settings=settings)
    except (FileNotFoundError, intake.NotAnExport) as exc:
        print(safetext.terminal(f"similarity: {exc}"), file=sys.stderr)
        return 2
    flagged = sum(p.flagged for p in c.pairs)
    print(safetext.terminal(f"{c.docs} submissions compared, {len(c.pairs)} pairs scored, "
                            f"{flagged} flagged (evidence to read, not a verdict)\n"
                            f"{intake.display(html)}\n{intake.display(csv_path)}"))
    return 0
