"""StudentError: how every failure of student code reaches the checks (trusted side)."""
from __future__ import annotations

from grader.sandbox.protocol import MAX_DETAIL, MAX_MESSAGE, clip

KINDS = frozenset({"not_implemented", "exception", "timeout", "memory", "crash", "import",
                   "missing", "forbidden", "bad_value", "protocol", "tamper"})

__all__ = ["KINDS", "MAX_DETAIL", "MAX_MESSAGE", "StudentError", "clip"]


class StudentError(Exception):
    """Student code failed. `kind` is one of KINDS; `message` is one student-facing sentence
    naming the function or module; `detail` is the student-only traceback (may be "").

    Message and detail are clipped here to the caps of `protocol` (the worker clips to the
    same caps, but a hostile worker may send anything)."""

    def __init__(self, kind: str, message: str, detail: str = ""):
        if kind not in KINDS:
            kind, message = "protocol", f"unknown failure kind from the worker: {message}"
        self.kind = kind
        self.message = clip(message, MAX_MESSAGE)
        self.detail = clip(detail, MAX_DETAIL, keep_tail=True)
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"StudentError(kind={self.kind!r}, message={self.message!r})"
