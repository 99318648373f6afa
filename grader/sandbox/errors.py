"""StudentError: how every failure of student code reaches the checks (trusted side)."""
from __future__ import annotations

KINDS = frozenset({"not_implemented", "exception", "timeout", "memory", "crash", "import",
                   "missing", "forbidden", "bad_value", "protocol", "tamper"})

MAX_MESSAGE = 600        # characters of a student-facing message
MAX_DETAIL = 4096        # characters of a student traceback


class StudentError(Exception):
    """Student code failed. `kind` is one of KINDS; `message` is one student-facing sentence
    naming the function or module; `detail` is the student-only traceback (may be "")."""

    def __init__(self, kind: str, message: str, detail: str = ""):
        if kind not in KINDS:
            kind, message = "protocol", f"unknown failure kind from the worker: {message}"
        self.kind = kind
        self.message = clip(message, MAX_MESSAGE)
        self.detail = clip(detail, MAX_DETAIL, keep_tail=True)
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"StudentError(kind={self.kind!r}, message={self.message!r})"


def clip(text: str, limit: int, keep_tail: bool = False) -> str:
    """`text` cut to about `limit` characters with a note (the tail for tracebacks)."""
    text = str(text)
    if len(text) <= limit:
        return text
    if keep_tail:
        return "[… cut]\n" + text[-limit:]
    return text[:limit] + " […]"
