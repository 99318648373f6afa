"""Fuzzing the trusted side of the sandbox protocol (what a hostile worker can send).

Properties, over arbitrary bytes, arbitrary JSON trees and arbitrary buffers:
- `read_frame` and `decode` end in a value or the protocol's own errors (ProtocolError,
  and Closed/Timeout for a short stream), never any other exception;
- memory stays bounded by the declared caps (checked with tracemalloc under small caps);
- every plain value survives encode -> decode unchanged.

Budget: GRADEKIT_FUZZ_EXAMPLES examples per property (default 150, a few seconds in all); a
long run: GRADEKIT_FUZZ_EXAMPLES=20000 make test (or pytest tests/test_fuzz_protocol.py).
"""
from __future__ import annotations

import json
import math
import os
import struct
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.sandbox import protocol

EXAMPLES = int(os.environ.get("GRADEKIT_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SMALL_JSON, SMALL_TOTAL = 4096, 1 << 16      # caps while fuzzing: allocations stay tiny
ALLOWED = (protocol.ProtocolError, protocol.Closed, protocol.Timeout)


@pytest.fixture(autouse=True)
def small_caps(monkeypatch):
    monkeypatch.setattr(protocol, "MAX_JSON_BYTES", SMALL_JSON)
    monkeypatch.setattr(protocol, "MAX_TOTAL_BYTES", SMALL_TOTAL)


def _read_from_bytes(data: bytes):
    """read_frame on a pipe holding exactly `data`, then end of stream."""
    r, w = os.pipe()
    try:
        os.write(w, data)
        os.close(w)
        w = -1
        body, buffers = protocol.read_frame(r, time.monotonic() + 5)
        return protocol.decode(body, buffers, make_handle=lambda i: ("handle", i),
                               float64_cap=SMALL_TOTAL)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _frame(body: bytes, buffers: list[bytes], lengths: list[int] | None = None) -> bytes:
    out = protocol.PREFIX.pack(protocol.MAGIC, len(body), len(buffers)) + body
    for i, b in enumerate(buffers):
        n = len(b) if lengths is None else lengths[i]
        out += protocol.BUFLEN.pack(n) + b
    return out


def _bounded(fn, *args):
    """Run fn; only the protocol's errors may escape; peak memory within the caps."""
    tracemalloc.start()
    try:
        fn(*args)
    except ALLOWED:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 8 * (SMALL_JSON + SMALL_TOTAL) + (1 << 20), peak


# -- arbitrary bytes ---------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    _bounded(_read_from_bytes, data)


@FUZZ
@given(st.binary(max_size=1024), st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1))
def test_random_bytes_behind_a_valid_magic(rest, jlen, nbuf):
    _bounded(_read_from_bytes, protocol.PREFIX.pack(protocol.MAGIC, jlen, nbuf) + rest)


# -- arbitrary JSON trees and buffers ----------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                    st.integers().map(lambda i: i * 10 ** 45),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
                    st.sampled_from(["l", "t", "d", "a", "f", "h", "nan", "inf", "|b1", "<f8",
                                     "|O", ">f8", "<c16"]))
trees = st.recursive(scalars, lambda kids: st.lists(kids, max_size=6), max_leaves=30)
shapes = st.lists(st.one_of(st.just(0), st.integers(-3, 70), st.integers(0, 10 ** 40),
                            st.sampled_from([2 ** 31, 2 ** 62, 2 ** 63, 2 ** 64])), max_size=5)
array_nodes = st.tuples(st.just("a"), st.integers(-1, 3),
                        st.sampled_from(sorted(protocol.DTYPES) + ["|O", ">f8", "x"]),
                        shapes).map(list)
mixed = st.recursive(st.one_of(scalars, array_nodes),
                     lambda kids: st.one_of(
                         st.lists(kids, max_size=5).map(lambda xs: ["l", *xs]),
                         st.lists(kids, max_size=5).map(lambda xs: ["t", *xs]),
                         st.lists(st.tuples(st.text(max_size=4), kids), max_size=4).map(
                             lambda kv: ["d", *[x for pair in kv for x in pair]]),
                         st.lists(kids, max_size=5)),
                     max_leaves=25)
buffers = st.lists(st.binary(max_size=256), max_size=4)


@FUZZ
@given(st.one_of(trees, mixed), buffers)
def test_arbitrary_trees_decode_or_fail_cleanly(tree, bufs):
    body = json.dumps(tree).encode()
    _bounded(_read_from_bytes, _frame(body, bufs))


@FUZZ
@given(st.one_of(trees, mixed), buffers, st.lists(st.integers(0, 2 ** 64 - 1), min_size=4,
                                                  max_size=4))
def test_lying_buffer_lengths(tree, bufs, lengths):
    body = json.dumps(tree).encode()
    _bounded(_read_from_bytes, _frame(body, bufs, lengths[:len(bufs)]))


@FUZZ
@given(st.sampled_from(sorted(protocol.DTYPES)), shapes, st.integers(0, 64))
def test_array_nodes_with_buffers_of_the_size_they_claim(dtype, shape, fallback):
    """The buffer holds exactly what the shape claims (when that is small), so the decoder
    gets past the size match and its shape handling is what is tested."""
    count = 1
    for s in shape:
        count *= s if isinstance(s, int) else 1
    itemsize = protocol.DTYPES[dtype].itemsize
    size = count * itemsize if 0 <= count * itemsize <= 4096 else fallback
    body = json.dumps(["a", 0, dtype, shape]).encode()
    try:
        protocol.decode(body, [np.zeros(size, np.uint8)], float64_cap=SMALL_TOTAL)
    except protocol.ProtocolError:
        pass


@pytest.mark.parametrize("shape", [[0, 10 ** 39], [0, 2 ** 63], [0, 2 ** 62, 2 ** 62],
                                   [10 ** 39, 0], [-1], [2, 2.5], [True]])
def test_hostile_shapes_of_an_empty_buffer(shape):
    """Found by a longer fuzz run: a zero dimension hid a huge one from the size check."""
    body = json.dumps(["a", 0, "<f8", shape]).encode()
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(body, [np.empty(0, np.uint8)])


@FUZZ
@given(st.binary(max_size=512), buffers)
def test_decode_of_arbitrary_bodies(body, bufs):
    arrays = [np.frombuffer(b, dtype=np.uint8).copy() for b in bufs]
    try:
        protocol.decode(body, arrays, float64_cap=SMALL_TOTAL)
    except protocol.ProtocolError:
        pass


# -- the round trip ------------------------------------------------------------------------
plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10 ** 30), 10 ** 30),
              st.floats(), st.text(max_size=10),
              st.builds(lambda n, dt: np.arange(n).astype(dt), st.integers(0, 20),
                        st.sampled_from(["<f8", "<f4", "<i8", "|u1", "|b1"]))),
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.tuples(kids, kids),
                           st.dictionaries(st.text(max_size=5), kids, max_size=4)),
    max_leaves=20)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return type(b) is np.ndarray and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, float):
        return type(b) is float and (a == b or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@FUZZ
@given(plain)
def test_plain_values_round_trip(value):
    data = b"".join(bytes(p) for p in protocol.encode(value))
    assert _same(value, _read_from_bytes(data))


def test_a_hostile_integer_is_refused_not_converted():
    body = b'["d","id",1,"ok",true,"value",' + b"9" * 5000 + b"]"
    with pytest.raises(protocol.ProtocolError):
        _read_from_bytes(_frame(body, []))
    assert protocol.request_id(b'["d","id",7,"op","x"]') == 7
    assert protocol.request_id(b"\xff") == -1 and protocol.request_id(b'["l"]') == -1


def test_frame_header_layout_is_what_the_fuzzer_assumes():
    assert struct.calcsize("<4sII") == protocol.PREFIX.size and protocol.MAGIC == b"GK1\x00"
