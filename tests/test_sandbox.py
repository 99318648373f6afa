"""The sandbox worker: plain-data round trips, handles, batches, errors, output, isolation.

Parametrized over the modes that run here (bwrap and uid skip with the reason when not
usable; run with GRADEKIT_SANDBOX_PYTHON=/usr/bin/python3.X to exercise uid mode where the
venv's Python lives under /root).
"""
from __future__ import annotations

import json
import math
import os
import struct
import time

import numpy as np
import pytest

from grader.environment import ONE_BLAS_THREAD
from grader.sandbox import (KINDS, Handle, StudentError, Worker, req_call, req_get_attr,
                            req_method, req_new, req_set_item, start_worker)
from grader.sandbox import isolation, protocol, uids
from sandbox_cases.support import (sandbox_test_env,  # noqa: F401 (autouse)
                                   ALL_CASES, LIMITS, MODES, TEST_UID, make_workdir,
                                   mode_env, new_worker, require)


@pytest.fixture(scope="module", params=MODES)
def worker(request, tmp_path_factory):
    """One worker per mode, shared by the well-behaved tests below."""
    os.environ["GRADEKIT_TEST_SECRET"] = "do-not-leak"
    with mode_env(request.param):
        w = new_worker(tmp_path_factory.mktemp(f"sbx-{request.param}"), request.param)
        yield w
        w.close()
    os.environ.pop("GRADEKIT_TEST_SECRET", None)


@pytest.fixture(params=MODES)
def fresh(request, tmp_path):
    """A new worker for tests that crash or restart it."""
    with mode_env(request.param):
        w = new_worker(tmp_path, request.param)
        yield w
        w.close()


# --------------------------------------------------------------------------- round trips
def _same(a, b) -> bool:
    """Exact equality of plain values, including types, dtypes and NaNs."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and \
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


PLAIN_VALUES = [
    None, True, False, 0, -7, 2 ** 80, 1.5, -0.0, float("nan"), float("inf"), float("-inf"),
    "", "héllo ✓ \x00 [\"a\"]", [1, [2, [3]]], (1, (2.5, "x")), (), [],
    {"W1": np.arange(6, dtype=np.float32).reshape(2, 3), "nested": {"t": (1, None)}},
    {"__nd__": 0, "d": ["a", 1]},                     # looks like a protocol tag: still a dict
    ["a", 0, "<f8", [1]],                              # looks like an array node: still a list
    np.array([np.nan, np.inf, -np.inf, 1.0]),
    np.array(3.0), np.zeros((0, 4)), np.ones((2, 3, 4, 5), dtype=np.int8),
    np.array([True, False]), np.arange(5, dtype=np.uint16), np.arange(5, dtype=np.int64),
    np.array([1.5], dtype=np.float16),
]


def test_every_plain_type_round_trips(worker):
    args, kwargs = worker.call("basic.echo", tuple(PLAIN_VALUES), {"k": PLAIN_VALUES})
    assert _same(args, tuple(PLAIN_VALUES))
    assert _same(kwargs, {"k": PLAIN_VALUES})


def test_array_layouts_come_back_plain_and_writable(worker):
    base = np.arange(24.0).reshape(4, 6)
    odd = [base[:, ::2], np.asfortranarray(base), base.astype(">f8"), base.T]
    (back, ), _ = worker.call("basic.echo", (odd,))
    for sent, got in zip(odd, back):
        assert type(got) is np.ndarray and got.flags.writeable
        assert got.dtype == np.dtype("<f8") and np.array_equal(got, sent)
    got = worker.call("basic.double", (np.arange(3, dtype=np.float32),))
    assert got.dtype == np.float32 and got.tolist() == [0.0, 2.0, 4.0]


def test_numpy_scalars_become_python_numbers(worker):
    worker.load("evil_values")
    out = worker.call("evil_values.numpy_scalars")
    assert [type(v) for v in out] == [float, int, bool, float]
    assert out[:3] == (0.5, 7, True) and math.isnan(out[3])


def test_deep_nesting_is_refused_both_ways(worker):
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(TypeError, match="plain data"):
        worker.call("basic.echo", (deep,))


# --------------------------------------------------------------------------- handles
def test_layer_cache_stays_in_the_worker(worker):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3, 2)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    out, cache = worker.call("basic.affine_forward", (x, w, b), keep=(1,))
    assert isinstance(cache, Handle) and np.allclose(out, x.reshape(4, -1) @ w + b)
    dx, dw, db = worker.call("basic.affine_backward", (np.ones((4, 5)), cache))
    assert dx.shape == x.shape and dw.shape == w.shape and np.allclose(db, 4.0)
    with pytest.raises(StudentError) as err:                 # the cache holds a lambda
        worker.call("basic.affine_forward", (x, w, b))
    assert err.value.kind == "bad_value" and "function" in err.value.message
    worker.release(cache)
    with pytest.raises(StudentError, match="no longer exists"):
        worker.call("basic.affine_backward", (np.ones((4, 5)), cache))


def test_instance_handles_methods_attributes_and_nesting(worker):
    model = worker.new("basic.Model", (3, 2), {"seed": 1})
    assert isinstance(model, Handle) and model.label == "Model"
    params = worker.get_attr(model, "params")
    assert set(params) == {"W1", "b1"} and params["W1"].shape == (3, 2)
    worker.set_item(model, "params", "W1", np.ones((3, 2)))
    scores = worker.call_method(model, "loss", (np.eye(3),))
    assert np.array_equal(scores, np.ones((3, 2)))
    loss, grads = worker.call_method(model, "loss", (np.eye(3), np.zeros(3, dtype=int)))
    assert loss == 6.0 and set(grads) == {"W1", "b1"}
    data = {"X": np.eye(3), "y": np.zeros(3, dtype=np.int64)}
    trainer = worker.new("basic.Trainer", (model, data), {"lr": 0.5})   # handle as an argument
    assert worker.call_method(trainer, "step") == 3
    assert np.allclose(worker.get_attr(model, "params")["W1"], 0.5)     # the same object
    assert worker.call("basic.calls_of", ({"models": [model, model]},)) == [3, 3]
    inner = worker.get_attr(trainer, "model", keep=True)
    assert isinstance(inner, Handle) and worker.get_attr(inner, "calls") == 3
    with pytest.raises(StudentError) as err:
        worker.get_attr(model, "no_such_attribute")
    assert err.value.kind == "missing" and "no_such_attribute" in err.value.message


def test_handle_of_another_worker_is_refused(worker, tmp_path):
    other = Worker(make_workdir(tmp_path, ["basic.py"]), LIMITS, mode="plain")
    with other:
        foreign = other.new("basic.Model", (2, 2))
        with pytest.raises(ValueError, match="another worker"):
            worker.call_method(foreign, "loss", (np.eye(2),))


# --------------------------------------------------------------------------- batches
def test_batch_of_200_calls_in_one_round_trip(worker):
    xs = [np.full(3, float(i)) for i in range(200)]
    out = worker.batch([req_call("basic.double", (x,)) for x in xs])
    assert len(out) == 200 and all(np.array_equal(o, 2 * x) for o, x in zip(out, xs))
    model = worker.new("basic.Model", (2, 2))
    mixed = worker.batch([req_set_item(model, "params", "b1", np.array([1.0, 2.0])),
                          req_method(model, "loss", (np.zeros((1, 2)),)),
                          req_get_attr(model, "calls"), req_new("basic.Model", (2, 3))])
    assert mixed[0] is None and np.array_equal(mixed[1], [[1.0, 2.0]]) and mixed[2] == 1
    assert worker.get_attr(mixed[3], "params")["W1"].shape == (2, 3)


def test_batch_failure_names_the_function(worker):
    reqs = [req_call("basic.double", (1.0,))] * 5 + [req_call("basic.not_done", (1, 2))]
    with pytest.raises(StudentError) as err:
        worker.batch(reqs)
    assert err.value.kind == "not_implemented" and err.value.message == "not_done: not implemented"


# --------------------------------------------------------------------------- errors
def test_not_implemented(worker):
    with pytest.raises(StudentError) as err:
        worker.call("basic.not_done", (np.eye(2), np.eye(2)))
    assert (err.value.kind, err.value.message) == ("not_implemented", "not_done: not implemented")
    assert "raise NotImplementedError" in err.value.detail


def test_exception_has_student_only_traceback(worker):
    with pytest.raises(StudentError) as err:
        worker.call("basic.bad_shapes", (np.ones((3, 4)),))
    e = err.value
    assert e.kind == "exception"
    assert e.message.startswith("bad_shapes raised ValueError: shapes (3,4) and (5,)")
    assert 'File "basic.py"' in e.detail and "inner_helper" in e.detail
    for leak in ("worker_main", "protocol.py", "site-packages", "/gradekit", str(worker.workdir)):
        assert leak not in e.detail
    assert len(e.detail) <= 4200


def test_missing_function_and_module(worker):
    with pytest.raises(StudentError) as err:
        worker.call("basic.no_such_function")
    assert err.value.kind == "missing" and "no_such_function" in err.value.message
    with pytest.raises(StudentError) as err:
        worker.load("softmax")
    assert (err.value.kind, err.value.message) == \
        ("missing", "softmax.py was not submitted")


def test_syntax_error_is_an_import_error(worker):
    with pytest.raises(StudentError) as err:
        worker.call("broken_syntax.softmax_loss_naive", (1, 2, 3, 4))
    assert err.value.kind == "import"
    assert "broken_syntax.py could not be imported" in err.value.message
    assert "SyntaxError" in err.value.message and "line 1" in err.value.message


@pytest.mark.parametrize("mode", ["bwrap", "plain"])
def test_forbidden_imports_are_blocked_at_import_and_at_run_time(tmp_path, mode):
    require(mode)
    with Worker(make_workdir(tmp_path, ALL_CASES), LIMITS, mode=mode,
                forbidden_imports=("sklearn", "torch")) as w:
        with pytest.raises(StudentError) as err:
            w.load("forbidden_import")
        assert err.value.kind == "forbidden" and "sklearn" in err.value.message
        with pytest.raises(StudentError) as err:
            w.call("dynamic_forbidden.f")
        assert err.value.kind == "forbidden"
        assert w.call("basic.double", (2,)) == 4


def test_sys_exit_and_hard_exit(fresh):
    with pytest.raises(StudentError) as err:
        fresh.call("basic.exit_in_function")
    assert err.value.kind == "exception" and "sys.exit(3)" in err.value.message
    assert fresh.call("basic.double", (1,)) == 2                  # same process, still fine
    with pytest.raises(StudentError) as err:
        fresh.call("basic.hard_exit", (5,))
    assert err.value.kind == "crash"
    assert err.value.message == \
        "the worker process died (exit status 5) while running hard_exit"


def test_restart_after_crash_loses_handles(fresh):
    model = fresh.new("basic.Model", (2, 2))
    gen = fresh.generation
    with pytest.raises(StudentError):
        fresh.call("basic.hard_exit", (1,))
    assert fresh.call("basic.double", (21,)) == 42               # modules re-imported lazily
    assert fresh.generation == gen + 1
    with pytest.raises(StudentError) as err:
        fresh.call_method(model, "loss", (np.eye(2),))
    assert err.value.kind == "crash" and "lost" in err.value.message
    fresh.restart()
    assert not fresh.alive and fresh.call("basic.double", (1,)) == 2 and fresh.alive


def test_a_dying_worker_does_not_fail_the_next_import(fresh):
    assert fresh.call("basic.delayed_exit", (0.3,)) == "bye"
    time.sleep(0.6)
    fresh.load("escape")                      # retried in a fresh worker, not remembered
    assert fresh.call("escape.read_file", ("basic.py",)).startswith("read ")


def test_ten_megabyte_arrays_both_ways(worker):
    big = np.random.default_rng(0).standard_normal(10 * 2 ** 20 // 8).reshape(1024, -1)
    back = worker.call("basic.double", (big,))
    assert back.shape == big.shape and np.array_equal(back, 2 * big)


def test_student_error_kinds_and_clipping():
    e = StudentError("exception", "x" * 5000, "y" * 10000)
    assert len(e.message) < 700 and len(e.detail) < 4200 and e.detail.endswith("y")
    assert e.message == "x" * protocol.MAX_MESSAGE + " […]"
    assert e.detail == "[… cut]\n" + "y" * protocol.MAX_DETAIL
    # The worker clips with the same caps; clipping what it sent again changes nothing.
    assert StudentError("exception", protocol.clip("x" * 5000, protocol.MAX_MESSAGE)).message \
        == e.message
    assert StudentError("exception", "m", protocol.clip("y" * 10000, protocol.MAX_DETAIL,
                                                        keep_tail=True)).detail == e.detail
    assert StudentError("weird", "m").kind == "protocol"
    assert {"not_implemented", "timeout", "memory", "crash", "bad_value"} <= KINDS


# --------------------------------------------------------------------------- output
def test_output_is_captured_and_taken(worker):
    worker.take_output()
    assert worker.call("basic.shout", (3,)) == 3
    out = worker.take_output()
    assert "line 0\nline 1\nline 2\n" in out and "to stderr" in out
    assert worker.take_output() == ""


def test_output_is_truncated_with_a_note(worker):
    worker.take_output()
    worker.call("basic.shout", (50_000,))                 # ~540 KB against a 64 KB cap
    out = worker.take_output()
    assert "line 0\n" in out and "to stderr" in out          # head and tail are kept
    assert "bytes dropped]" in out and len(out) < LIMITS.output_kb * 1024 + 200


# --------------------------------------------------------------------------- environment
def test_environment_limits_and_files(worker):
    env = worker.call("basic.environment")
    assert env["as_mb"] == LIMITS.memory_mb and env["nofile"] == LIMITS.open_files
    assert env["blas_threads"] == "1"
    assert {k: env["env"].get(k) for k in ONE_BLAS_THREAD} == dict(ONE_BLAS_THREAD)
    assert "GRADEKIT_TEST_SECRET" not in env["env"] and "PYTHONPATH" not in env["env"]
    assert env["files"] == sorted(ALL_CASES)
    assert env["path0"] == env["cwd"]
    pool = [uid for uid, _ in uids.pool()]       # each running sandbox has a uid of its own
    if worker.mode == "bwrap":
        assert env["cwd"] == "/submission" and env["uid"] in pool
        assert pool[0] == int(TEST_UID) and "bubblewrap" in worker.isolation_note
    elif worker.mode == "uid":
        assert env["uid"] in pool and f"uid {TEST_UID}" in worker.isolation_note
    else:
        assert env["cwd"] == str(worker.workdir)
        assert "NO OS isolation" in worker.isolation_note


def test_tmp_is_private(worker):
    path = worker.call("basic.write_tmp", ("gk_private.txt", "secret"))
    if worker.mode == "bwrap":
        assert path == "/tmp/gk_private.txt" and not os.path.exists(path)
    elif worker.mode == "uid" and isolation.uid_namespaces_ok():   # the stage, seen inside
        assert path == f"{isolation.UID_INNER}/home/gk_private.txt"
    else:                                     # a per-worker HOME/TMPDIR, removed on close
        assert path.startswith(("/tmp", "/var", tempfile_root()))
        assert os.path.exists(path)


def tempfile_root() -> str:
    import tempfile
    return tempfile.gettempdir()


def test_start_worker_and_context_manager(tmp_path):
    w = start_worker(make_workdir(tmp_path, ["basic.py"]), LIMITS, mode="plain")
    assert w.alive and w.info["numpy"] == np.__version__ and w.start_seconds > 0
    pid = w._process.pid
    with w:
        assert w.call("basic.double", (4,)) == 8
    assert not w.alive and not os.path.exists(f"/proc/{pid}/cmdline") or \
        open(f"/proc/{pid}/cmdline").read() == ""


def test_unknown_mode_and_env_override(tmp_path, monkeypatch):
    work = make_workdir(tmp_path, ["basic.py"])
    with pytest.raises(ValueError, match="unknown sandbox mode"):
        Worker(work, LIMITS, mode="docker")
    monkeypatch.setenv("GRADEKIT_SANDBOX", "plain")
    assert Worker(work, LIMITS).mode == "plain"


# --------------------------------------------------------------------------- protocol
def _frame(tree, buffers=()) -> bytes:
    body = json.dumps(tree).encode()
    out = protocol.PREFIX.pack(protocol.MAGIC, len(body), len(buffers)) + body
    for b in buffers:
        out += protocol.BUFLEN.pack(len(b)) + b
    return out


def _decode_bytes(data: bytes):
    r, w = os.pipe()
    try:
        os.write(w, data)
        os.close(w)
        body, bufs = protocol.read_frame(r, deadline=None)
        return protocol.decode(body, bufs)
    finally:
        os.close(r)


@pytest.mark.parametrize("tree,buffers,why", [
    (["a", 0, "|O", [2]], [b"\0" * 16], "dtype"),
    (["a", 0, "<f8", [3]], [b"\0" * 16], "buffer size"),
    (["a", 0, "<f8", [-2]], [b""], "shape"),
    (["a", 1, "<f8", [2]], [b"\0" * 16], "index"),
    (["l", ["a", 0, "<f8", [2]], ["a", 0, "<f8", [2]]], [b"\0" * 16], "index"),
    (["l"], [b"\0" * 8], "unreferenced"),
    (["d", 1, 2], [], "key"),
    (["x", 1], [], "unknown tag"),
    (["f", "1e400"], [], "special float"),
    (["h", 3], [], "handle"),
    ({"py/object": "os.system"}, [], "unexpected"),
])
def test_decoder_rejects_non_plain_messages(tree, buffers, why):
    with pytest.raises(protocol.ProtocolError, match=why):
        _decode_bytes(_frame(tree, buffers))


def test_decoder_rejects_depth_constants_magic_and_sizes():
    deep: list = ["l", 1]
    for _ in range(40):
        deep = ["l", deep]
    with pytest.raises(protocol.ProtocolError, match="deep"):
        _decode_bytes(_frame(deep))
    body = b'["l", NaN]'
    with pytest.raises(protocol.ProtocolError, match="malformed"):
        _decode_bytes(protocol.PREFIX.pack(protocol.MAGIC, len(body), 0) + body)
    with pytest.raises(protocol.ProtocolError, match="magic"):
        _decode_bytes(b"PK\x03\x04" + b"\0" * 20)
    with pytest.raises(protocol.ProtocolError, match="too large"):
        _decode_bytes(protocol.PREFIX.pack(protocol.MAGIC, 1 << 30, 0))
    huge = protocol.PREFIX.pack(protocol.MAGIC, 2, 1) + b"[]" + struct.pack("<Q", 1 << 40)
    with pytest.raises(protocol.ProtocolError, match="larger than"):
        _decode_bytes(huge)


def test_encoder_round_trip_without_a_worker():
    value = {"a": (np.float32(2.0), [np.arange(3)]), "b": float("nan")}
    data = b"".join(bytes(p) for p in protocol.encode(value))
    back = _decode_bytes(data)
    assert type(back["a"]) is tuple and type(back["a"][0]) is float and math.isnan(back["b"])
    with pytest.raises(protocol.BadValue):
        protocol.encode({1: 2})
    with pytest.raises(protocol.BadValue):
        protocol.encode(object())


def test_a_function_that_times_out_twice_is_not_run_a_third_time(tmp_path):
    """Two strikes: later calls fail at once, other functions still run."""
    from grader.declaration import Limits
    from grader.sandbox import StudentError, Worker
    (tmp_path / "spin.py").write_text("def spin():\n    while True:\n        pass\n\n"
                                      "def ok():\n    return 7\n")
    with Worker(tmp_path, Limits(call_seconds=1.0), mode="plain") as w:
        for _ in range(2):
            with pytest.raises(StudentError, match="did not finish within 1 s"):
                w.call("spin.spin")
        t0 = time.monotonic()
        with pytest.raises(StudentError, match="not run again") as info:
            w.call("spin.spin", timeout=5.0)
        assert info.value.kind == "timeout" and time.monotonic() - t0 < 0.5
        assert w.call("spin.ok") == 7
