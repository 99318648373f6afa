"""Seeded, stratified splits that come out the same on every machine and numpy version.

Random streams come from `np.random.RandomState`, whose output numpy keeps frozen (NEP 19),
so a build is byte-for-byte reproducible. Seeds are derived from names by hashing, so the
originals and every `SEED=<n>` variant get unrelated streams.
"""
from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(*parts: object) -> int:
    """A 32-bit seed from names, e.g. derive_seed("mnist-split", "original")."""
    text = ":".join(["gradekit-hwdata", *map(str, parts)])
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def allocate(counts: np.ndarray, size: int) -> np.ndarray:
    """Split `size` over classes in proportion to `counts` (largest remainder, ties to the
    lower class), so every class keeps its share and the total is exactly `size`."""
    counts = np.asarray(counts, dtype=np.int64)
    exact = counts * size / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: size - quota.sum()]] += 1
    return quota


def stratified_split(y: np.ndarray, sizes: dict[str, int], seed: int,
                     shuffle: bool = True) -> dict[str, np.ndarray]:
    """Indices into `y` for each split in `sizes` plus "train" (the rest), stratified by class.

    With `shuffle` each split's indices come in a seeded random order (so no split is sorted
    by class); without it they keep the order of `y`.
    """
    y = np.asarray(y)
    rs = np.random.RandomState(seed)
    classes = np.unique(y)
    counts = np.array([(y == c).sum() for c in classes])
    quotas = {name: allocate(counts, size) for name, size in sizes.items()}
    if np.any(sum(quotas.values()) > counts):
        raise ValueError("split sizes exceed the class counts")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in [*sizes, "train"]}
    for k, c in enumerate(classes):
        members = rs.permutation(np.flatnonzero(y == c))
        start = 0
        for name in sizes:
            parts[name].append(members[start:start + quotas[name][k]])
            start += quotas[name][k]
        parts["train"].append(members[start:])
    out = {}
    for name, pieces in parts.items():
        idx = np.concatenate(pieces).astype(np.int64)
        out[name] = rs.permutation(idx) if shuffle else np.sort(idx)
    return out
