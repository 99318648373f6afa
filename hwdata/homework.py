"""The homework file format: 8 features with 4 decimals, then a label 1..4, one row a line.

Layout of the published file, kept exactly by the writer: values separated by single
spaces, a trailing space after the label, `\n` line ends, e.g.
`0.4812 0.7790 0.8904 0.7361 0.9552 0.2119 0.7992 0.2409 4 \n`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from hwdata.errors import fail

NUM_FEATURES = 8
NUM_CLASSES = 4
NUM_ROWS = 500
NUM_TRAIN = 400                        # the first 400 rows train, the last 100 test


def parse(data: bytes, name: object = "homework file",
          fix: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate and parse the file's bytes -> (X float64 (N, 8), labels int64 1..4).

    Every problem (wrong column count, non-numbers, NaN/inf, a feature outside [0, 1], a
    label that is not an integer in 1..4) raises one DatasetError naming the file and line.
    """
    kwargs = {} if fix is None else {"fix": fix}
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise fail(name, "not a plain-text (ASCII) file", **kwargs) from None
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != NUM_FEATURES + 1:
            raise fail(name, f"line {lineno} has {len(fields)} columns, expected "
                       f"{NUM_FEATURES + 1} (8 features and a label)", **kwargs)
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise fail(name, f"line {lineno} holds something that is not a number",
                       **kwargs) from None
        if not all(math.isfinite(v) for v in values):
            raise fail(name, f"line {lineno} holds NaN or infinity", **kwargs)
        if not all(0.0 <= v <= 1.0 for v in values[:NUM_FEATURES]):
            raise fail(name, f"line {lineno} has a feature outside [0, 1]", **kwargs)
        label = values[NUM_FEATURES]
        if label != int(label) or not 1 <= label <= NUM_CLASSES:
            raise fail(name, f"line {lineno} has label {fields[-1]!r}, expected an "
                       f"integer 1..{NUM_CLASSES}", **kwargs)
        rows.append(values)
    if not rows:
        raise fail(name, "holds no data rows", **kwargs)
    table = np.array(rows, dtype=np.float64)
    return table[:, :NUM_FEATURES], table[:, NUM_FEATURES].astype(np.int64)


def read(path: Path, fix: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse a homework-format file on disk (see `parse`)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise fail(path, "missing", **({} if fix is None else {"fix": fix})) from None
    return parse(data, path, fix)


def format_rows(X: np.ndarray, labels: np.ndarray) -> bytes:
    """The file's bytes for features X (N, 8) in [0, 1] and labels 1..4, exact layout."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if X.ndim != 2 or X.shape[1] != NUM_FEATURES or len(labels) != len(X):
        raise ValueError(f"expected X (N, {NUM_FEATURES}) and N labels")
    if np.any((X < 0) | (X > 1)) or np.any((labels < 1) | (labels > NUM_CLASSES)):
        raise ValueError("features must lie in [0, 1] and labels in 1..4")
    lines = [" ".join(f"{v:.4f}" for v in row) + f" {int(lab)} \n"
             for row, lab in zip(X.tolist(), labels.tolist())]
    return "".join(lines).encode("ascii")
