"""Coercing what student code returned and comparing it with a tolerance.

Everything a student function returns is turned into a plain float64 `np.ndarray` here, in
the trusted process, before any comparison: subclasses, object arrays and anything that is
not a number are rejected, so no `__eq__` of the student's can decide a test.

Tolerance (documented for students in the feedback): an element passes when
    |got - expected| <= atol + rtol * |expected|
and the reported relative error is CS231n-style `max |g - e| / max(REL_ERROR_FLOOR, |g| + |e|)`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from grader.framework import CheckFailed
from grader.sandbox.errors import StudentError

RTOL = 1e-6           # default relative tolerance for float64 reference values
ATOL = 1e-8           # absolute floor: near zero, relative error means nothing
REL_ERROR_FLOOR = 1e-8   # denominator floor of rel_error (the students' rel_error uses 1e-8)
NUMERIC_KINDS = "biuf"


def as_array(value: Any, what: str) -> np.ndarray:
    """A plain float64 ndarray from a returned value, or CheckFailed saying what came back.

    A number too large for float64 (e.g. a returned 10**400) is the student's bad value,
    never an internal error: StudentError(kind="bad_value")."""
    try:
        return _as_array(value, what)
    except (OverflowError, MemoryError) as exc:
        raise StudentError("bad_value", f"{what}: a returned number cannot be converted to "
                                        f"a float ({type(exc).__name__})") from None


def _as_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes, dict)):
        raise CheckFailed(f"{what}: expected a number or array, got {type(value).__name__}")
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray:
            raise CheckFailed(f"{what}: expected a plain numpy array, got {type(value).__name__}")
        if value.dtype.kind not in NUMERIC_KINDS:
            raise CheckFailed(f"{what}: expected a numeric array, got dtype {value.dtype}")
        return value.astype(np.float64, copy=False)     # decoded replies are ours already
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.asarray(float(value), dtype=np.float64)
    if isinstance(value, (list, tuple)):
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError, RecursionError):
            raise CheckFailed(f"{what}: expected an array, got a {type(value).__name__} that is "
                              f"not a rectangular list of numbers") from None
        return arr
    raise CheckFailed(f"{what}: expected a number or array, got {type(value).__name__}")


def as_scalar(value: Any, what: str) -> float:
    arr = as_array(value, what)
    if arr.size != 1:
        raise CheckFailed(f"{what}: expected a single number, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def unpack(value: Any, n: int, what: str) -> tuple[Any, ...]:
    """A returned tuple/list of exactly `n` items (e.g. `(loss, dW)`)."""
    if not isinstance(value, (tuple, list)) or len(value) != n:
        got = f"a {type(value).__name__} of length {len(value)}" \
            if isinstance(value, (tuple, list)) else f"a {type(value).__name__}"
        raise CheckFailed(f"{what}: expected {n} return values, got {got}")
    return tuple(value)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Max relative error with a floor, as the students' `rel_error` computes it."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(REL_ERROR_FLOOR, np.abs(a) + np.abs(b))))


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def assert_close(got: Any, expected: np.ndarray | float, what: str, *, rtol: float = RTOL,
                 atol: float = ATOL, reveal: bool = True, hint: str = "") -> np.ndarray:
    """Shape, finiteness, then tolerance; the failure names the first bad index.

    With `reveal=False` (hidden tests) expected values are not printed.
    """
    exp = np.asarray(expected, dtype=np.float64)
    arr = as_array(got, what)
    if arr.shape != exp.shape:
        if arr.size == exp.size == 1:
            arr = arr.reshape(exp.shape)
        else:
            raise CheckFailed(f"{what}: wrong shape: expected {exp.shape}, got {arr.shape}."
                              + (f" Hint: {hint}" if hint else ""))
    bad_finite = ~np.isfinite(arr)
    if bad_finite.any():
        idx = tuple(int(i) for i in np.argwhere(bad_finite)[0])
        raise CheckFailed(f"{what}: contains {int(bad_finite.sum())} non-finite value(s) "
                          f"(first at index {idx}: {arr[idx]}): look for an overflow "
                          "(e.g. exp of large scores) or a division by zero."
                          + (f" Hint: {hint}" if hint else ""))
    diff = np.abs(arr - exp)
    bad = diff > atol + rtol * np.abs(exp)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {idx}" if idx else ""
        msg = (f"{what}: {int(bad.sum())} of {exp.size} value(s) outside tolerance "
               f"(rtol {rtol:g}, atol {atol:g}); max abs error {_fmt(diff.max())}, "
               f"relative error {_fmt(rel_error(arr, exp))}; first bad value{where}")
        msg += f": expected {_fmt(exp[idx])}, got {_fmt(arr[idx])}." if reveal else \
            f": got {_fmt(arr[idx])}."
        raise CheckFailed(msg + (f" Hint: {hint}" if hint else ""))
    return arr
