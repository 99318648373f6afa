"""Text a student controls, made safe once, for every file and terminal that shows it.

Student code controls exception messages, class names, printed output, file and folder names
and Gradescope metadata. Any of it may hold lone surrogates (which break UTF-8 writers),
terminal escape sequences, bidirectional overrides, NUL bytes, or megabytes. `clean` is the
one place that turns such text into bounded, valid, printable text; the writers below
(`md_fence`, `md_inline`, `csv_cell`, `html`) add what their format needs on top of it.
"""
from __future__ import annotations

import html as _html
import re
from typing import Any

TEXT_MAX = 4_000          # default cap of one piece of student text, in characters
LINE_MAX = 200            # default cap of a one-line rendering (names, table cells)
REPLACEMENT = "\ufffd"

# C0 and C1 controls except tab and newline, DEL, line/paragraph separators, and the
# bidirectional embedding / override / isolate controls ("Trojan source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile(r"\r\n?")
_BACKTICKS = re.compile(r"`+")
_SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def clean(value: Any, limit: int = TEXT_MAX) -> str:
    """Valid UTF-8 text without control characters (tab and newline kept), at most about
    `limit` characters. Lone surrogates and controls become U+FFFD; CR/CRLF become LF."""
    text = _as_text(value)
    if len(text) > 4 * limit + 64:          # never scan megabytes we are about to cut anyway
        text = text[: 4 * limit + 64]
    text = text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
    text = _UNSAFE.sub(REPLACEMENT, _NEWLINES.sub("\n", text))
    if len(text) > limit:
        text = text[:limit] + f" [… cut at {limit} characters]"
    return text


def one_line(value: Any, limit: int = LINE_MAX) -> str:
    """`clean`, on one line (newlines and tabs become spaces): names, table cells, titles."""
    return " ".join(clean(value, limit).split())


def md_fence(value: Any, limit: int = TEXT_MAX) -> str:
    """A fenced Markdown code block whose fence is longer than any backtick run inside, so
    nothing in `value` can close it early (CommonMark: a closing fence is at least as long)."""
    text = clean(value, limit)
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def md_inline(value: Any, limit: int = LINE_MAX) -> str:
    """An inline Markdown code span (one line) that `value` cannot break out of."""
    text = one_line(value, limit)
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def csv_cell(value: Any, limit: int = LINE_MAX) -> Any:
    """A CSV cell a spreadsheet will not run: numbers pass through; text is one clean line,
    and text that a spreadsheet would read as a formula gets a leading apostrophe."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = one_line(value, limit)
    if text.startswith(_SPREADSHEET_FORMULA):
        try:
            float(text)
            return text                      # "-3.5" is a number, not a formula
        except ValueError:
            return "'" + text
    return text


def html(value: Any, limit: int = TEXT_MAX) -> str:
    """Clean text, HTML-escaped (quotes included) for element content and attributes."""
    return _html.escape(clean(value, limit), quote=True)


def terminal(value: Any, limit: int = TEXT_MAX) -> str:
    """Text safe to print to a terminal: no escape sequences, no carriage returns."""
    return clean(value, limit)
