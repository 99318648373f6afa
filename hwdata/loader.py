"""`load(name)`: a processed dataset as plain arrays, verified against MANIFEST.json.

Only the manifest and the one file asked for are read, so a student release that ships a
subset of `datasets/` works. Each file's sha256 is checked once per process (and again only
if the file changes on disk); callers always get fresh copies they may modify.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from hwdata import manifest as mf
from hwdata.errors import FIX, fail
from hwdata.npzfile import read_npz

NAMES = ("cihlab", "digits", "mnist", "cifar10")
SPLITS = ("train", "val", "test")
KEYS = tuple(f"{xy}_{split}" for split in SPLITS for xy in ("X", "y"))
# A student release ships its data without the test labels (they stay on the grading side):
# a file may lack these, and `load` then returns the other splits only.
WITHHELD = ("y_test",)

_verified: dict[tuple, dict[str, np.ndarray]] = {}


def _locate(name: str, variant: str | int | None) -> tuple[Path, str, dict[str, Any]]:
    """(data root, file path relative to it, its manifest entry) for one dataset."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(NAMES)}")
    if variant is None:
        variant = os.environ.get(mf.ENV_VARIANT) or None
    variant = mf.variant_name(variant)
    root = mf.data_root()
    manifest = mf.read(root)
    where = root / mf.MANIFEST
    sec = mf.section(manifest, variant)
    if sec is None:
        seed = variant.split("-", 1)[1]
        raise fail(where, f"lists no variant {variant}",
                   f"Fix: run `make datasets SEED={seed}` in the kit's top-level folder.")
    rel = sec.get("datasets", {}).get(name)
    entry = sec.get("files", {}).get(rel) if rel else None
    if entry is None:
        fix = ("Fix: run `make datasets CIFAR10=<dir of the CIFAR-10 python batches>`."
               if name == "cifar10" else FIX)
        label = name if variant is None else f"{name} (variant {variant})"
        raise fail(where, f"lists no dataset {label}", fix)
    return root, rel, entry


def dataset_files(name: str, variant: str | int | None = None) -> list[str]:
    """The files (relative to the data root) that `load(name, variant)` reads: what a
    release must ship for that dataset."""
    _, rel, _ = _locate(name, variant)
    return [mf.MANIFEST, rel]


def _verified_arrays(root: Path, rel: str, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    path = root / rel
    try:
        st = path.stat()
    except FileNotFoundError:
        raise fail(path, "missing") from None
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino, entry.get("sha256"))
    if key in _verified:
        return _verified[key]
    data = path.read_bytes()
    if len(data) != entry.get("bytes"):
        raise fail(path, f"truncated or altered ({len(data)} bytes; {mf.MANIFEST} says "
                   f"{entry.get('bytes')})")
    digest = mf.sha256_bytes(data)
    if digest != entry.get("sha256"):
        raise fail(path, f"altered (sha256 {digest[:12]}... is not the {mf.MANIFEST} value "
                   f"{str(entry.get('sha256'))[:12]}...)")
    try:
        arrays = read_npz(io.BytesIO(data))
    except Exception as exc:                       # hash matched but unreadable: a bad build
        raise fail(path, f"not a readable npz ({exc})") from None
    missing = [k for k in KEYS if k not in arrays and k not in WITHHELD]
    if missing:
        raise fail(path, f"lacks the arrays {', '.join(missing)}")
    for arr in arrays.values():
        arr.setflags(write=False)
    for old in [k for k in _verified if k[0] == key[0]]:   # the file changed: forget it
        del _verified[old]
    _verified[key] = arrays
    return arrays


def load(name: str, variant: str | int | None = None) -> dict[str, np.ndarray]:
    """Dataset `name` ("cihlab", "digits", "mnist", "cifar10" if built) as
    {X_train, y_train, X_val, y_val, X_test, y_test}; labels int64 in [0, C). In a student
    release y_test is absent (the test labels stay with the grader).

    `variant` None means the originals (or $GRADEKIT_DATA_VARIANT when set); "seed-7" (or
    7) a variant built by `make datasets SEED=7`. Raises DatasetError naming the file and
    the fix when a file is missing, truncated or differs from MANIFEST.json.
    """
    root, rel, entry = _locate(name, variant)
    arrays = _verified_arrays(root, rel, entry)
    return {k: arrays[k].copy() for k in KEYS if k in arrays}


def add_bias_column(X: np.ndarray) -> np.ndarray:
    """X (N, D) -> (N, D + 1) with a constant 1 appended (the bias trick)."""
    X = np.asarray(X)
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])
