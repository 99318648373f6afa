"""The sandbox wire format: framed plain data, shared by the trusted client and the worker.

Why not pickle: unpickling runs code chosen by whoever wrote the bytes, and the worker is
student-controlled. Here a message is a JSON *tagged tree* plus raw array buffers, and the
decoder rebuilds only plain values: None, bool, int, float, str, list, tuple, dict with str
keys, C-contiguous ndarrays of a whitelisted dtype, and handle ids.

Frame (all integers little-endian):
    b"GK1" | u8 0 | u32 json_len | u32 n_buffers | json bytes | n x (u64 len | raw bytes)
JSON tagged tree (every JSON array is a tagged node; scalars stand for themselves):
    null / true / false / int / finite float / str
    ["l", v...] list     ["t", v...] tuple     ["d", k1, v1, k2, v2, ...] dict (str keys)
    ["a", i, "<f8", [shape...]] ndarray in buffer i    ["f", "nan"|"inf"|"-inf"] float
    ["h", id] handle (an object that stays in the worker)

This module must run inside the sandbox too: standard library + numpy only, no grader imports.
"""
from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import Any, Callable

import numpy as np

MAGIC = b"GK1\x00"
PREFIX = struct.Struct("<4sII")
BUFLEN = struct.Struct("<Q")

MAX_DEPTH = 32                      # nesting of lists/dicts/tuples
MAX_JSON_BYTES = 16 << 20           # the JSON part of one message (arrays go as buffers)
MAX_BUFFERS = 1 << 16               # arrays in one message
MAX_TOTAL_BYTES = 512 << 20         # everything in one message
MAX_REPLY_FLOAT64 = 256 << 20       # a reply's arrays once widened to float64 (trusted side)
MAX_NDIM = 32
MAX_INT_DIGITS = 40                 # a JSON integer longer than this is not plain data
MAX_INT = 10 ** (MAX_INT_DIGITS - 1)  # so every integer sent converts to a finite float

# A failure reply {"id", "ok": False, "kind", "message", "detail"}: the worker clips its text
# with `clip` to these caps, and the trusted side (errors.StudentError) clips again, since
# nothing the worker sends is trusted.
MAX_MESSAGE = 600                   # characters of a student-facing message
MAX_DETAIL = 4000                   # characters of a student traceback (its tail is kept)

# dtype whitelist: native little-endian numeric and bool only (no object, str, void, complex).
DTYPES: dict[str, np.dtype] = {s: np.dtype(s) for s in (
    "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8")}


class ProtocolError(Exception):
    """A message that is not well-formed plain data (treated as hostile)."""


class BadValue(Exception):
    """A value the worker cannot express as plain data (e.g. a custom object)."""

    def __init__(self, type_name: str, path: str = ""):
        super().__init__(type_name)
        self.type_name = type_name
        self.path = path


# ----------------------------------------------------------------------------- encoding
def encode(obj: Any, handle_id: Callable[[Any], int | None] | None = None
           ) -> list[bytes | memoryview]:
    """Encode `obj` into frame pieces (write them in order).

    `handle_id(obj)` returns an int for objects that travel as handles (else None).
    Subclasses of the plain types (a namedtuple, an OrderedDict, an ndarray subclass, a
    numpy scalar) are converted to the plain base type; anything else raises BadValue. The
    conversion runs on the sending side: in the worker, student objects never leave it.
    """
    buffers: list[np.ndarray] = []

    def enc(v: Any, depth: int, path: str) -> Any:
        if depth > MAX_DEPTH:
            raise BadValue("value nested deeper than %d levels" % MAX_DEPTH, path)
        if handle_id is not None:
            hid = handle_id(v)
            if hid is not None:
                return ["h", hid]
        t = type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            return _plain_int(v, path)
        if t is float:
            return v if math.isfinite(v) else ["f", repr(v)]
        if isinstance(v, np.ndarray):
            return enc_array(v, path)
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return _plain_int(int(v), path)
        if isinstance(v, (float, np.floating)):
            return enc(float(v), depth, path)
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, list):
            return ["l"] + [enc(x, depth + 1, "%s[%d]" % (path, i))
                            for i, x in enumerate(list.__iter__(v))]
        if isinstance(v, tuple):
            return ["t"] + [enc(x, depth + 1, "%s[%d]" % (path, i))
                            for i, x in enumerate(tuple.__iter__(v))]
        if isinstance(v, dict):
            out: list[Any] = ["d"]
            for k, x in dict.items(v):
                if type(k) is not str:
                    raise BadValue("dict with a %s key" % type(k).__name__, path)
                out += [k, enc(x, depth + 1, "%s[%r]" % (path, k))]
            return out
        raise BadValue(t.__name__, path)

    def enc_array(a: np.ndarray, path: str) -> list[Any]:
        if type(a) is not np.ndarray or not a.flags.c_contiguous:
            a = np.array(a, copy=True, subok=False, order="C")     # keeps 0-d arrays 0-d
        dt = a.dtype
        if dt.kind in "biuf" and dt.byteorder == ">":
            a = a.astype(dt.newbyteorder("<"))
        if a.dtype.str not in DTYPES or a.ndim > MAX_NDIM:
            raise BadValue("array of dtype %s" % a.dtype, path)
        buffers.append(a)
        return ["a", len(buffers) - 1, a.dtype.str, list(a.shape)]

    tree = enc(obj, 0, "")
    body = json.dumps(tree, allow_nan=False, separators=(",", ":")).encode()
    if len(body) > MAX_JSON_BYTES or len(buffers) > MAX_BUFFERS:
        raise BadValue("value too large to send (%d bytes of structure)" % len(body))
    total = len(body) + sum(b.nbytes for b in buffers)
    if total > MAX_TOTAL_BYTES:
        raise BadValue("value too large to send (%d MB)" % (total >> 20))
    pieces: list[bytes | memoryview] = [PREFIX.pack(MAGIC, len(body), len(buffers)), body]
    for b in buffers:
        pieces.append(BUFLEN.pack(b.nbytes))
        if b.nbytes:
            pieces.append(memoryview(b.reshape(-1)).cast("B"))
    return pieces


def _plain_int(v: int, path: str) -> int:
    if -MAX_INT < v < MAX_INT:
        return v
    raise BadValue("integer with more than %d digits" % (MAX_INT_DIGITS - 1), path)


# ----------------------------------------------------------------------------- decoding
def decode(body: bytes, buffers: list[np.ndarray],
           make_handle: Callable[[int], Any] | None = None,
           float64_cap: int | None = None) -> Any:
    """Rebuild a value from a frame's JSON body and buffers, validating everything.

    `float64_cap` (trusted side): the arrays' total size once widened to float64, checked
    before any conversion, since the checks coerce every reply to float64."""
    tree = parse_tree(body)
    used = [False] * len(buffers)
    widened = [0]                   # float64 bytes of the arrays decoded so far

    def dec(n: Any, depth: int) -> Any:
        if depth > MAX_DEPTH + 1:
            raise ProtocolError("message nested too deeply")
        t = type(n)
        if n is None or t is bool or t is str or t is int:
            return n
        if t is float:
            if not math.isfinite(n):
                raise ProtocolError("bare non-finite float")
            return n
        if t is not list or not n or type(n[0]) is not str:
            raise ProtocolError("unexpected JSON node %s" % t.__name__)
        tag = n[0]
        if tag == "l":
            return [dec(x, depth + 1) for x in n[1:]]
        if tag == "t":
            return tuple(dec(x, depth + 1) for x in n[1:])
        if tag == "d":
            if len(n) % 2 != 1:
                raise ProtocolError("odd dict node")
            out = {}
            for i in range(1, len(n), 2):
                if type(n[i]) is not str:
                    raise ProtocolError("dict key is not a string")
                out[n[i]] = dec(n[i + 1], depth + 1)
            return out
        if tag == "f":
            if len(n) != 2 or n[1] not in ("nan", "inf", "-inf"):
                raise ProtocolError("bad special float")
            return float(n[1])
        if tag == "a":
            return dec_array(n)
        if tag == "h":
            if len(n) != 2 or type(n[1]) is not int or not 0 <= n[1] < 2 ** 62 \
                    or make_handle is None:
                raise ProtocolError("bad handle")
            return make_handle(n[1])
        raise ProtocolError("unknown tag %r" % tag[:20])

    def dec_array(n: list) -> np.ndarray:
        if len(n) != 4 or type(n[1]) is not int or type(n[2]) is not str \
                or type(n[3]) is not list:
            raise ProtocolError("bad array node")
        i, dts, shape = n[1], n[2], n[3]
        if not 0 <= i < len(buffers) or used[i]:
            raise ProtocolError("bad array buffer index")
        dt = DTYPES.get(dts)
        if dt is None:
            raise ProtocolError("array dtype %r not allowed" % dts[:20])
        if len(shape) > MAX_NDIM or any(type(s) is not int or s < 0 for s in shape):
            raise ProtocolError("bad array shape")
        count, extent = 1, 1
        for s in shape:
            count *= s
            extent *= max(s, 1)          # a zero dimension must not hide a huge one
            if extent > MAX_TOTAL_BYTES:
                raise ProtocolError("array shape too large")
        if count * dt.itemsize != memoryview(buffers[i]).nbytes:
            raise ProtocolError("array shape/dtype does not match its buffer size")
        widened[0] += count * 8
        if float64_cap is not None and widened[0] > float64_cap:
            raise ProtocolError("arrays larger than %d MB as float64" % (float64_cap >> 20))
        used[i] = True
        try:
            return np.frombuffer(buffers[i], dtype=dt).reshape(tuple(shape))  # owns its memory
        except ValueError as exc:
            raise ProtocolError("bad array: %s" % str(exc)[:100]) from None

    value = dec(tree, 0)
    if not all(used):
        raise ProtocolError("unreferenced array buffer")
    return value


def parse_tree(body: bytes) -> Any:
    """The JSON part of a frame; ProtocolError for anything that is not bounded JSON."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant,
                          parse_int=_bounded_int)
    except (ValueError, RecursionError, UnicodeDecodeError, OverflowError) as exc:
        raise ProtocolError("malformed message: %s" % str(exc)[:200]) from None


def request_id(body: bytes) -> int:
    """The id of a request whose value could not be decoded (-1 if it has none), so the
    reply to a bad request still answers that request."""
    try:
        tree = parse_tree(body)
    except ProtocolError:
        return -1
    if type(tree) is list and tree[:1] == ["d"]:
        for i in range(1, len(tree) - 1, 2):
            if tree[i] == "id" and type(tree[i + 1]) is int:
                return tree[i + 1]
    return -1


def _reject_constant(name: str) -> Any:
    raise ValueError("constant %s not allowed" % name)


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise ValueError("integer with %d digits" % len(text))
    return int(text)


def clip(text: str, limit: int, keep_tail: bool = False) -> str:
    """`text` cut to about `limit` characters with a note (the tail for tracebacks)."""
    text = str(text)
    if len(text) <= limit:
        return text
    if keep_tail:
        return "[… cut]\n" + text[-limit:]
    return text[:limit] + " […]"


# ----------------------------------------------------------------------------- framing
class Timeout(Exception):
    """The peer did not complete a message before the deadline."""


class Closed(Exception):
    """The peer closed its end (it exited or died)."""


def _wait(fd: int, readable: bool, deadline: float | None) -> None:
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise Timeout()
        r, w, _ = select.select([fd] if readable else [], [] if readable else [fd], [],
                                left)
        if r or w:
            return


def _read_exact(fd: int, buf: bytearray | np.ndarray, deadline: float | None) -> None:
    view = memoryview(buf).cast("B")
    pos = 0
    while pos < len(buf):
        if deadline is not None:
            _wait(fd, True, deadline)
        try:
            n = os.readv(fd, [view[pos:]])
        except BlockingIOError:
            continue
        except OSError as exc:
            raise Closed(str(exc)) from None
        if n == 0:
            raise Closed("end of stream")
        pos += n


def read_frame(fd: int, deadline: float | None = None) -> tuple[bytes, list[np.ndarray]]:
    """Read one frame; validates sizes before allocating anything large."""
    head = bytearray(PREFIX.size)
    _read_exact(fd, head, deadline)
    magic, jlen, nbuf = PREFIX.unpack(head)
    if magic != MAGIC:
        raise ProtocolError("bad frame magic")
    if jlen > MAX_JSON_BYTES or nbuf > MAX_BUFFERS:
        raise ProtocolError("frame header too large")
    body = bytearray(jlen)
    _read_exact(fd, body, deadline)
    total = jlen
    buffers = []
    for _ in range(nbuf):
        lb = bytearray(BUFLEN.size)
        _read_exact(fd, lb, deadline)
        (n,) = BUFLEN.unpack(lb)
        total += n
        if total > MAX_TOTAL_BYTES:
            raise ProtocolError("message larger than %d MB" % (MAX_TOTAL_BYTES >> 20))
        b = np.empty(n, dtype=np.uint8)          # not zero-filled, unlike bytearray(n)
        _read_exact(fd, b, deadline)
        buffers.append(b)
    return bytes(body), buffers


def write_frame(fd: int, pieces: list[bytes | memoryview],
                deadline: float | None = None) -> None:
    """Write frame pieces; with a deadline `fd` must be non-blocking."""
    for piece in pieces:
        view = memoryview(piece).cast("B")
        pos = 0
        while pos < len(view):
            if deadline is not None:
                _wait(fd, False, deadline)
            try:
                pos += os.write(fd, view[pos:pos + (1 << 20)])
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError) as exc:
                raise Closed(str(exc)) from None
