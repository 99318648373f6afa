"""The one exception the data package raises, with its standard fix hint."""
from __future__ import annotations

FIX = ("Fix: run `make datasets` in the kit's top-level folder "
       "(students: download the assignment's datasets/ folder again).")


class DatasetError(Exception):
    """A data file is missing, truncated, altered or malformed; the message names file and fix."""


def fail(path: object, problem: str, fix: str = FIX) -> DatasetError:
    """A DatasetError whose message is `<path>: <problem>. <fix>` (one line, one fix)."""
    return DatasetError(f"{path}: {problem}. {fix}")
