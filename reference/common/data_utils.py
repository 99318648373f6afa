"""Data loading for the assignments (given helper, not graded).

Each loader returns a dict with the keys X_train, y_train, X_val, y_val and X_test; y_test
only on the grading side (a student release ships no test labels). Labels are ints in
[0, C). The data comes from the kit's `hwdata` package, which is imported
only when a loader is called, so this module imports with numpy alone.
"""
from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


def _load(name: str, variant: str | int | None = None) -> dict[str, np.ndarray]:
    try:
        import hwdata
    except ImportError as exc:        # a clear message instead of a bare ModuleNotFoundError
        raise ImportError(
            "data_utils needs the kit's `hwdata` package: run your script from the kit's "
            "top-level folder (or put that folder on PYTHONPATH)") from exc
    return hwdata.load(name, variant=variant)


def get_digits_data(variant: str | int | None = None) -> dict[str, np.ndarray]:
    """8x8 digit images for the softmax assignment: X (N, 65) float64, y (N,) in 0..9.

    Each row is the 64 pixels in [0, 1] followed by a constant 1 (the bias trick), so the
    last row of W holds the biases.
    """
    import hwdata

    data = dict(_load("digits", variant))
    for split in SPLITS:
        data[f"X_{split}"] = hwdata.add_bias_column(data[f"X_{split}"])
    return data


def get_cihlab_data(variant: str | int | None = None) -> dict[str, np.ndarray]:
    """The 8-feature / 4-class homework data: X (N, 8) float64 in [0, 1], y (N,) in 0..3.

    X_train + X_val are the first 400 rows of the published file (the homework's training
    set), X_test the last 100.
    """
    return _load("cihlab", variant)


def get_mnist_data(variant: str | int | None = None) -> dict[str, np.ndarray]:
    """MNIST digits for the ConvNet: X (N, 1, 28, 28) float32, y (N,) in 0..9."""
    return _load("mnist", variant)
