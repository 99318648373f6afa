"""Splits and preprocessing, defined once: raw data in, the processed arrays out.

Every function returns {X_train, y_train, X_val, y_val, X_test, y_test, idx_train, idx_val,
idx_test}; `idx_*` are the 0-based rows of the source each sample came from (for the
record and for tests; `hwdata.load` returns only the X/y arrays). `split_seed` names the
stream: "original" for the committed defaults, "seed-<n>" for a variant.
"""
from __future__ import annotations

import gzip
import io

import numpy as np

from hwdata import cifar, homework
from hwdata.errors import fail
from hwdata.splits import derive_seed, stratified_split

CIHLAB_VAL = 50                       # carved, stratified, from the first 400 rows
DIGITS_SIZES = {"val": 300, "test": 300}       # train gets the other 1197
MNIST_SIZES = {"val": 500, "test": 500}        # train gets the other 4000
CIFAR_VAL_FRACTION = 0.02                      # 1000 of the 50000 training images

DESCRIPTIONS = {
    "cihlab": "X = the 8 features as float64; y = label - 1 (0..3); rows 1-400 -> train + "
              f"val ({CIHLAB_VAL}, stratified, seeded) in file order; rows 401-500 -> test",
    "digits": "X = pixels / 16 as float64 (N, 64), no bias column; stratified seeded split "
              "train/val/test = rest/300/300, each split in seeded random order",
    "mnist": "X = pixels / 255 as float32 (N, 1, 28, 28); stratified seeded split "
             "train/val/test = rest/500/500, each split in seeded random order",
    "cifar10": "X = pixels / 255 as float32 (N, 3, 32, 32); test = test_batch; val = "
               f"{CIFAR_VAL_FRACTION:.0%} of data_batch_1..5 (stratified, seeded); each split "
               "in seeded random order",
}


def _assemble(X: np.ndarray, y: np.ndarray, idx: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for split in ("train", "val", "test"):
        out[f"X_{split}"] = X[idx[split]]
        out[f"y_{split}"] = y[idx[split]].astype(np.int64)
        out[f"idx_{split}"] = idx[split].astype(np.int64)
    return out


def cihlab(X: np.ndarray, labels: np.ndarray, split_seed: str) -> dict[str, np.ndarray]:
    """The homework rows (X (500, 8), labels 1..4) -> processed arrays."""
    y = labels.astype(np.int64) - 1
    first = np.arange(homework.NUM_TRAIN)
    carve = stratified_split(y[first], {"val": CIHLAB_VAL},
                             derive_seed("cihlab-val", split_seed), shuffle=False)
    idx = {"train": first[carve["train"]], "val": first[carve["val"]],
           "test": np.arange(homework.NUM_TRAIN, len(y))}
    return _assemble(np.asarray(X, dtype=np.float64), y, idx)


def digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits: (pixels uint8 (1797, 64) 0..16, labels int64)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise fail("sklearn.datasets.load_digits", "scikit-learn is not installed",
                   "Fix: install the staff extras (`pip install -r requirements/staff.txt`), "
                   "then run `make datasets`.") from None
    bunch = load_digits()
    return bunch.data.astype(np.uint8), bunch.target.astype(np.int64)


def digits(pixels: np.ndarray, labels: np.ndarray, split_seed: str) -> dict[str, np.ndarray]:
    X = pixels.astype(np.float64) / 16.0
    idx = stratified_split(labels, DIGITS_SIZES, derive_seed("digits-split", split_seed))
    return _assemble(X, labels, idx)


def mnist_raw(data: bytes, name: object, fix: str) -> tuple[np.ndarray, np.ndarray]:
    """The gzipped CSV (784 pixels then the label per row) -> (uint8 (N, 784), int64 (N,))."""
    try:
        text = gzip.decompress(data)
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise fail(name, f"not a readable gzipped CSV of integers ({exc})", fix) from None
    if table.shape[1] != 785:
        raise fail(name, f"rows have {table.shape[1]} columns, expected 785", fix)
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise fail(name, "pixels must be 0..255 and labels 0..9", fix)
    return pixels.astype(np.uint8), labels


def mnist(pixels: np.ndarray, labels: np.ndarray, split_seed: str) -> dict[str, np.ndarray]:
    X = (pixels.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    idx = stratified_split(labels, MNIST_SIZES, derive_seed("mnist-split", split_seed))
    return _assemble(X, labels, idx)


def cifar10(batches: dict[str, tuple[np.ndarray, np.ndarray]],
            split_seed: str) -> dict[str, np.ndarray]:
    """{"train": (uint8 (N, 3072), labels), "test": ...} -> processed arrays. Indices of the
    test split count from the first test image; train/val from the first training image."""
    (tr_data, tr_y), (te_data, te_y) = batches["train"], batches["test"]
    num_val = max(cifar.NUM_CLASSES, int(round(CIFAR_VAL_FRACTION * len(tr_y))))
    idx = stratified_split(tr_y, {"val": num_val}, derive_seed("cifar10-split", split_seed))
    test_idx = np.random.RandomState(derive_seed("cifar10-test", split_seed)).permutation(
        len(te_y)).astype(np.int64)
    out = {}
    for split, (data, y, rows) in {"train": (tr_data, tr_y, idx["train"]),
                                   "val": (tr_data, tr_y, idx["val"]),
                                   "test": (te_data, te_y, test_idx)}.items():
        out[f"X_{split}"] = cifar.to_images(data[rows])
        out[f"y_{split}"] = y[rows].astype(np.int64)
        out[f"idx_{split}"] = rows
    return out
