"""Reading the CIFAR-10 "python version" batches that course staff provide (build time only).

The published format is a folder `cifar-10-batches-py/` with `data_batch_1` .. `data_batch_5`
and `test_batch`: Python pickles of a dict with `data` (N, 3072) uint8 (1024 red, 1024 green,
1024 blue values, each a row-major 32x32 plane) and `labels` (N ints 0..9). Pickles can run
code, so the unpickler here accepts only the handful of globals a numpy array needs, and
every batch's structure is checked before anything is built.
"""
from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import numpy as np

from hwdata.errors import fail

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
NUM_CLASSES = 10
PIXELS = 3 * 32 * 32
FIX = ("Fix: pass CIFAR10=<dir> pointing at the extracted `cifar-10-batches-py` folder "
       "(the python version from https://www.cs.toronto.edu/~kriz/cifar.html).")

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str):
        target = _ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        mod, attr = target
        try:
            return getattr(importlib.import_module(mod), attr)
        except ImportError:                       # numpy < 2 has no numpy._core
            return getattr(importlib.import_module(mod.replace("._core", ".core")), attr)


def _key(batch: dict, key: str):
    """Real batches (pickled by Python 2) have bytes keys; accept str keys too."""
    if key.encode() in batch:
        return batch[key.encode()]
    return batch.get(key)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch -> (data uint8 (N, 3072), labels int64 (N,)), or a DatasetError."""
    try:
        with open(path, "rb") as fh:
            batch = _ArrayOnlyUnpickler(fh, encoding="bytes").load()
    except FileNotFoundError:
        raise fail(path, "missing", FIX) from None
    except IsADirectoryError:
        raise fail(path, "is a folder, not a pickle batch", FIX) from None
    except Exception as exc:                      # any unpickling failure is a format error
        raise fail(path, f"not a CIFAR-10 python pickle batch ({type(exc).__name__}: {exc})",
                   FIX) from None
    if not isinstance(batch, dict):
        raise fail(path, f"holds a {type(batch).__name__}, not the batch dict", FIX)
    data, labels = _key(batch, "data"), _key(batch, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise fail(path, f"'data' must be a uint8 array (N, {PIXELS}), got {got}", FIX)
    try:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise fail(path, "'labels' must be a list of ints", FIX) from None
    if len(labels) != len(data):
        raise fail(path, f"{len(data)} images but {len(labels)} labels", FIX)
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise fail(path, f"labels must be 0..{NUM_CLASSES - 1}", FIX)
    return data, labels


def read_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (data, labels) of the five training batches, "test": the test batch}."""
    folder = Path(folder)
    if not folder.is_dir():
        raise fail(folder, "is not a folder", FIX)
    train = [read_batch(folder / name) for name in TRAIN_FILES]
    return {"train": (np.concatenate([d for d, _ in train]),
                      np.concatenate([lab for _, lab in train])),
            "test": read_batch(folder / TEST_FILE)}


def to_images(data: np.ndarray) -> np.ndarray:
    """uint8 (N, 3072) -> float32 (N, 3, 32, 32) in [0, 1]."""
    return (data.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255.0))
