"""Held-out accuracy, computed in the trusted process, and its calibrated partial-credit band.

The worker trains on the training (and validation) split and gets the test INPUTS only; it
returns predictions and the accuracy is computed here against labels it never sees.

Thresholds come from the reference's own trained accuracy, recorded in
`grader/suites/<name>/calibration.json` by `make calibrate` (`grader/calibration.py`:
`{"accuracy": [...], "min": .., "majority": .., ...}`), and are derived in ONE place,
`accuracy_band`:
    full credit at  calibration["min"] - settings["accuracy_margin"]
    zero credit at  calibration["majority"]  (the majority-class rate of the test split;
                    1 / num_classes when absent)
    linear in between (partial credit).

    accuracy_band(decl) -> (zero_at, full_at)
    band_points(acc, band, weight) -> points
    grade_accuracy(ctx, acc, weight, what, split, validation=) -> points (sets ctx score and
        notes, raises when short); what it prints is the VALIDATION accuracy only: the test
        split's accuracy and the band's thresholds stay with the grader (students tune on
        validation data, never on the test set)
    measure(data, accuracy_of) -> Measured(graded, validation, split): one trained model's
        accuracy on the split that grades and on the validation split
    accuracy(pred, y_true, num_classes, what) -> float
    worker_data(data, keys=WORKER_KEYS) -> the splits the worker may see (never y_test)
    held_out(data) -> (X, y, split): the test split, or in a student release (which ships no
        test labels) the validation split, for a provisional self-check score
    validate_hyperparams(hp, spec, what) -> clean dict;  cap_iters(hp, max_iters, key) -> (hp, note)

Grading only: measuring the reference (which needs the runner) is `grader/calibration.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from grader.checks import sanity
from grader.declaration import Assignment
from grader.framework import CheckFailed

DEFAULT_MARGIN = 0.03
WORKER_KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test")   # never "y_test"


def accuracy_band(decl: Assignment) -> tuple[float, float]:
    """(zero_at, full_at) from the declaration's calibration and settings (see module doc)."""
    calib = decl.calibration()
    if "min" not in calib:
        raise RuntimeError(f"{decl.name}: calibration.json is missing or incomplete; run "
                           f"`make calibrate ASSIGNMENT={decl.name}`")
    margin = float(decl.settings.get("accuracy_margin", DEFAULT_MARGIN))
    full_at = float(calib["min"]) - margin
    zero_at = float(calib.get("majority", 1.0 / int(decl.settings["num_classes"])))
    if not zero_at < full_at:
        raise RuntimeError(f"{decl.name}: calibrated band is empty ({zero_at} >= {full_at})")
    return zero_at, full_at


def band_points(acc: float, band: tuple[float, float], weight: float) -> float:
    """Linear partial credit: 0 at or below band[0], full weight at or above band[1]."""
    zero_at, full_at = band
    frac = (acc - zero_at) / (full_at - zero_at)
    return float(weight * min(1.0, max(0.0, frac)))


def accuracy(pred: Any, y_true: np.ndarray, num_classes: int, what: str) -> float:
    """Fraction of correct predictions; `pred` is validated as (N,) labels in [0, C)."""
    labels = sanity.labels(pred, len(y_true), num_classes, what, strict_dtype=False)
    return float(np.mean(labels == np.asarray(y_true)))


TUNE_HINT = ("tune HYPERPARAMS on the validation set; check that train() leaves its trained "
             "weights in the model.")


@dataclass(frozen=True)
class Measured:
    """One trained model's accuracy, measured by the grader's own forward pass."""
    graded: float       # on the split that grades: test (grading) or validation (self-check)
    validation: float   # on the validation split: the only accuracy a student is shown
    split: str          # the graded split's name: "test" or "validation"


def measure(data: Mapping[str, np.ndarray],
            accuracy_of: Callable[[np.ndarray, np.ndarray], float]) -> Measured:
    """`accuracy_of(X, y)` on the held-out split (`held_out`) and on the validation split."""
    X, y, split = held_out(data)
    graded = float(accuracy_of(X, y))
    validation = graded if split == "validation" else float(
        accuracy_of(np.asarray(data["X_val"]), np.asarray(data["y_val"])))
    return Measured(graded, validation, split)


def accuracy_message(what: str, acc: float, split: str, validation: float | None,
                     points: float, weight: float) -> str:
    """What a student reads: the validation accuracy and the points; never the test
    accuracy nor the band's thresholds (they would invite tuning on the test set)."""
    got = f"{points:.2f} / {weight:g} points"
    if split != "test":
        return (f"{what}: validation accuracy {acc:.1%} (measured by the grader with the "
                f"weights your training left): provisionally {got}. After you submit, the "
                "points come from the held-out test split instead.")
    seen = (f"validation accuracy {validation:.1%} (measured by the grader with the weights "
            "your training left); " if validation is not None else "")
    return (f"{what}: {seen}{got}, from the accuracy on the held-out test split (not shown: "
            "choose your settings on the validation split).")


def grade_accuracy(ctx: Any, acc: float, weight: float, what: str, split: str = "test",
                   hint: str = TUNE_HINT, *, validation: float | None = None) -> float:
    """Set the test's score from the band (`acc` on the graded `split`), add a note saying
    the validation accuracy and the points, and raise CheckFailed (keeping the partial
    score, with `hint`) when short of full credit."""
    band = accuracy_band(ctx.assignment)
    points = band_points(acc, band, weight)
    ctx.set_score(points)
    msg = accuracy_message(what, acc, split, validation, points, weight)
    if points < weight - 1e-9:
        raise CheckFailed(f"{msg} Hint: {hint}")
    ctx.note(msg)
    return points


def hyperparams_facts(ctx: Any, module: str) -> dict[str, Any]:
    """What a calibration of a suite trained with the file's HYPERPARAMS records: the
    hyper-parameters and the iteration cap they were trained under."""
    return {"hyperparams": ctx.constant(module, "HYPERPARAMS"),
            "max_iters": ctx.settings["max_iters"]}


def worker_data(data: Mapping[str, np.ndarray], keys: tuple[str, ...] = WORKER_KEYS
                ) -> dict[str, np.ndarray]:
    """The splits the sandbox may receive: training/validation data and test inputs only."""
    if any(k.startswith("y_test") for k in keys):
        raise ValueError("test labels never go to the worker")
    return {k: np.asarray(data[k]) for k in keys}


SELF_CHECK_NOTE = ("Self-check: the release has no test labels, so the points shown are "
                   "provisional, from your validation accuracy; the grade uses the held-out "
                   "test split after you submit.")


def held_out(data: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, str]:
    """(X, y, split name) to score a trained model on: the test split where its labels are
    present (grading), else the validation split (the student self-check)."""
    if "y_test" in data:
        return np.asarray(data["X_test"]), np.asarray(data["y_test"]), "test"
    return np.asarray(data["X_val"]), np.asarray(data["y_val"]), "validation"


def validate_hyperparams(hp: Any, spec: Mapping[str, tuple[str, float, float]],
                         what: str = "HYPERPARAMS") -> dict[str, float | int]:
    """Check the student's HYPERPARAMS dict against `spec` = {key: (kind, low, high)} with kind
    "int" or "float" (inclusive bounds). Every key required, no others; clear messages."""
    if not isinstance(hp, dict):
        raise CheckFailed(f"{what} must be a dict, got {type(hp).__name__}.")
    missing = [k for k in spec if k not in hp]
    extra = [k for k in hp if k not in spec]
    if missing or extra:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + \
                ([f"unexpected {', '.join(map(repr, extra))}"] if extra else [])
        raise CheckFailed(f"{what}: {'; '.join(parts)}. Expected exactly the keys "
                          f"{', '.join(map(repr, spec))}.")
    clean: dict[str, float | int] = {}
    for key, (kind, low, high) in spec.items():
        value = hp[key]
        if value is None:
            raise CheckFailed(f"{what}[{key!r}] is not set (None): choose a value.")
        ok_int = isinstance(value, int) and not isinstance(value, bool)
        ok = ok_int or (kind == "float" and isinstance(value, float))
        if kind == "int" and isinstance(value, float) and value.is_integer():
            value, ok = int(value), True
        if not ok:
            kind_text = "an integer" if kind == "int" else "a number"
            raise CheckFailed(f"{what}[{key!r}] must be {kind_text}, got {value!r}.")
        if not (low <= value <= high) or value != value:
            raise CheckFailed(f"{what}[{key!r}] = {value!r} is outside the allowed range "
                              f"[{low:g}, {high:g}].")
        clean[key] = int(value) if kind == "int" else float(value)
    return clean


def cap_iters(hp: dict[str, Any], max_iters: int, key: str = "num_iters"
              ) -> tuple[dict[str, Any], str]:
    """A copy of `hp` with `key` capped at `max_iters`, and a note when it was capped."""
    out = dict(hp)
    if out[key] > max_iters:
        out[key] = int(max_iters)
        return out, (f"HYPERPARAMS[{key!r}] = {hp[key]} was capped at {max_iters} "
                     f"iterations for grading.")
    return out, ""
