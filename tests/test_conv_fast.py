"""The im2col conv and the fast max pool of reference/convnet agree with the naive loops.

Naive is the readable definition; fast must compute the same numbers (float64: relative error
< 1e-9) for every geometry the API allows: stride 1-3, padding 0-2, non-square kernels and
inputs, sizes that round down, tiling and non-tiling pools, tied maxima, float32 and float64.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
for _d in (ROOT, ROOT / "reference" / "common", ROOT / "reference" / "convnet"):
    if str(_d) not in sys.path:
        sys.path.insert(0, str(_d))

import layers as L                                            # noqa: E402
from gradient_check import eval_numerical_gradient_array, rel_error   # noqa: E402

assert Path(L.__file__).parent == ROOT / "reference" / "convnet", L.__file__

# (x shape, w shape, stride, pad)
CONV_CASES = [
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
    ((3, 2, 9, 8), (5, 2, 3, 2), 2, 1),       # non-square kernel and input
    ((2, 3, 10, 9), (2, 3, 4, 3), 3, 2),      # stride 3, sizes that round down
    ((2, 1, 6, 6), (3, 1, 5, 5), 1, 2),       # kernel as large as the padded input allows
    ((4, 2, 8, 8), (3, 2, 2, 2), 2, 0),       # stride == kernel: windows do not overlap
    ((1, 2, 5, 7), (2, 2, 1, 3), 1, 0),       # 1-wide kernel
    ((2, 3, 9, 9), (2, 3, 3, 3), 4, 1),       # stride larger than the kernel: gaps
]
# (x shape, pool_height, pool_width, stride)
POOL_CASES = [
    ((2, 3, 8, 8), 2, 2, 2),                  # tiling (reshape path)
    ((2, 2, 9, 6), 3, 3, 3),                  # tiling, 3x3
    ((2, 3, 9, 9), 3, 3, 2),                  # overlapping windows
    ((2, 2, 7, 8), 2, 3, 1),                  # non-square, stride 1
    ((2, 2, 8, 8), 2, 2, 3),                  # gaps between windows
    ((2, 2, 7, 7), 2, 2, 2),                  # 2x2 s2 on an odd size: rounds down
    ((2, 2, 12, 13), 4, 3, 3),                # non-square, stride 3, rounds down
    ((1, 2, 9, 9), 5, 5, 1),                  # 25 offsets, heavy overlap
    ((2, 2, 5, 6), 1, 1, 1),                  # 1x1: the identity
]


def _conv_inputs(case, dtype, seed=0):
    xs, ws, stride, pad = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b, {"stride": stride, "pad": pad}


def _scaled_err(a: np.ndarray, b: np.ndarray) -> float:
    """Max abs difference relative to the largest magnitude (for float32 rounding)."""
    return float(np.max(np.abs(a.astype(np.float64) - b)) / max(1.0, np.max(np.abs(b))))


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv_fast_equals_naive_float64(case):
    x, w, b, cp = _conv_inputs(case, np.float64)
    out_n, cache_n = L.conv_forward_naive(x, w, b, cp)
    out_f, cache_f = L.conv_forward_fast(x, w, b, cp)
    assert out_f.shape == out_n.shape and out_f.dtype == np.float64
    assert rel_error(out_f, out_n) < 1e-9
    dout = np.random.default_rng(1).standard_normal(out_n.shape)
    for name, g_n, g_f, ref in zip(("dx", "dw", "db"), L.conv_backward_naive(dout, cache_n),
                                   L.conv_backward_fast(dout, cache_f), (x, w, b)):
        assert g_f.shape == ref.shape, name
        assert rel_error(g_f, g_n) < 1e-9, name


@pytest.mark.parametrize("case", CONV_CASES[:4], ids=str)
def test_conv_fast_float32_keeps_dtype_and_values(case):
    x, w, b, cp = _conv_inputs(case, np.float32)
    out_f, cache_f = L.conv_forward_fast(x, w, b, cp)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    out_n, cache_n = L.conv_forward_naive(x64, w64, b64, cp)
    assert out_f.dtype == np.float32
    assert _scaled_err(out_f, out_n) < 1e-5
    dout = np.random.default_rng(1).standard_normal(out_n.shape)
    grads_f = L.conv_backward_fast(dout.astype(np.float32), cache_f)
    for g_f, g_n in zip(grads_f, L.conv_backward_naive(dout, cache_n)):
        assert g_f.dtype == np.float32
        assert _scaled_err(g_f, g_n) < 1e-5


@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[2]], ids=str)
def test_conv_fast_backward_numeric(case):
    x, w, b, cp = _conv_inputs(case, np.float64, seed=3)
    out, cache = L.conv_forward_fast(x, w, b, cp)
    dout = np.random.default_rng(4).standard_normal(out.shape)
    dx, dw, db = L.conv_backward_fast(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(
        lambda v: L.conv_forward_fast(v, w, b, cp)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(
        lambda v: L.conv_forward_fast(x, v, b, cp)[0], w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(
        lambda v: L.conv_forward_fast(x, w, v, cp)[0], b, dout)) < 1e-7


def test_conv_fast_accepts_non_contiguous_input():
    x, w, b, cp = _conv_inputs(CONV_CASES[0], np.float64)
    xt = np.asfortranarray(x)[:, :, ::-1]                 # strided, reversed view
    out_f, _ = L.conv_forward_fast(xt, w, b, cp)
    out_n, _ = L.conv_forward_naive(np.ascontiguousarray(xt), w, b, cp)
    assert rel_error(out_f, out_n) < 1e-9


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pool_fast_equals_naive(case, dtype):
    xs, ph, pw, stride = case
    pp = {"pool_height": ph, "pool_width": pw, "stride": stride}
    rng = np.random.default_rng(2)
    x = rng.standard_normal(xs).astype(dtype)
    out_n, cache_n = L.max_pool_forward_naive(x, pp)
    out_f, cache_f = L.max_pool_forward_fast(x, pp)
    assert out_f.shape == out_n.shape and out_f.dtype == dtype
    assert np.array_equal(out_f, out_n)                    # a max is exact
    dout = rng.standard_normal(out_n.shape).astype(dtype)
    dx_n = L.max_pool_backward_naive(dout, cache_n)
    dx_f = L.max_pool_backward_fast(dout, cache_f)
    assert dx_f.shape == x.shape and dx_f.dtype == dtype
    tol = 1e-9 if dtype == np.float64 else 1e-6
    assert rel_error(dx_f, dx_n) < tol


@pytest.mark.parametrize("case", [POOL_CASES[0], POOL_CASES[2]], ids=str)
def test_pool_ties_go_to_the_first_maximum(case):
    """ReLU outputs are full of equal zeros: both versions route to the first argmax."""
    xs, ph, pw, stride = case
    pp = {"pool_height": ph, "pool_width": pw, "stride": stride}
    x = np.maximum(np.random.default_rng(5).integers(-3, 2, xs), 0).astype(np.float64)
    out_n, cache_n = L.max_pool_forward_naive(x, pp)
    out_f, cache_f = L.max_pool_forward_fast(x, pp)
    dout = np.random.default_rng(6).standard_normal(out_n.shape)
    dx_f = L.max_pool_backward_fast(dout, cache_f)
    assert np.array_equal(out_f, out_n)
    assert np.allclose(dx_f, L.max_pool_backward_naive(dout, cache_n), rtol=0, atol=1e-12)
    # every upstream gradient lands exactly once (overlaps may add two into one cell)
    assert np.isclose(dx_f.sum(), dout.sum())


@pytest.mark.parametrize("case", [POOL_CASES[0], POOL_CASES[2]], ids=str)
def test_pool_fast_backward_is_exactly_naive_in_float64(case):
    """The cached positions and one scatter-add in dout's order: the same sums as the loops,
    in the same order, so float64 results agree to the last bit (ties and overlaps included)."""
    xs, ph, pw, stride = case
    pp = {"pool_height": ph, "pool_width": pw, "stride": stride}
    rng = np.random.default_rng(11)
    for x in (rng.standard_normal(xs), np.maximum(rng.integers(-2, 2, xs), 0).astype(float)):
        out_n, cache_n = L.max_pool_forward_naive(x, pp)
        out_f, cache_f = L.max_pool_forward_fast(x, pp)
        dout = rng.standard_normal(out_n.shape)
        assert np.array_equal(L.max_pool_backward_fast(dout, cache_f),
                              L.max_pool_backward_naive(dout, cache_n))


@pytest.mark.parametrize("pp", [{"pool_height": 2, "pool_width": 2, "stride": 2},
                                {"pool_height": 3, "pool_width": 3, "stride": 2}], ids=str)
def test_pool_fast_across_blocks_and_non_contiguous_input(pp):
    """The forward pools blocks of (n, c) planes: a batch of several blocks (with a partial
    last one), given as a strided view, still equals the naive loops everywhere."""
    x = np.random.default_rng(12).standard_normal((3, 120, 24, 20)).transpose(0, 1, 3, 2)
    assert not x.flags.c_contiguous and x.shape[1] * x.shape[0] * x[0, 0].nbytes > 2 * 2**19
    out_n, cache_n = L.max_pool_forward_naive(x, pp)
    out_f, cache_f = L.max_pool_forward_fast(x, pp)
    assert np.array_equal(out_f, out_n)
    dout = np.random.default_rng(13).standard_normal(out_n.shape)
    assert np.array_equal(L.max_pool_backward_fast(dout, cache_f),
                          L.max_pool_backward_naive(dout, cache_n))


def test_pool_fast_backward_numeric():
    pp = {"pool_height": 3, "pool_width": 2, "stride": 2}
    x = np.random.default_rng(7).standard_normal((2, 2, 7, 6))
    out, cache = L.max_pool_forward_fast(x, pp)
    dout = np.random.default_rng(8).standard_normal(out.shape)
    num = eval_numerical_gradient_array(lambda v: L.max_pool_forward_fast(v, pp)[0], x, dout)
    assert rel_error(L.max_pool_backward_fast(dout, cache), num) < 1e-7


def test_conv_fast_on_a_real_batch_size():
    """A bench-like shape (smaller batch): the vectorized path agrees beyond toy sizes."""
    x, w, b, cp = _conv_inputs(((4, 3, 16, 16), (8, 3, 5, 5), 1, 2), np.float64)
    out_n, cache_n = L.conv_forward_naive(x, w, b, cp)
    out_f, cache_f = L.conv_forward_fast(x, w, b, cp)
    assert rel_error(out_f, out_n) < 1e-9
    dout = np.random.default_rng(9).standard_normal(out_n.shape)
    for g_f, g_n in zip(L.conv_backward_fast(dout, cache_f), L.conv_backward_naive(dout, cache_n)):
        assert rel_error(g_f, g_n) < 1e-9


def test_benchmark_smoke(capsys, monkeypatch):
    """`make bench` keeps working: the small shape, one repeat, prints the table."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        monkeypatch.setenv(var, "1")      # the import pins these; restore them afterwards
    from benchmarks import conv as bench
    result = bench.run(tuple(c for c in bench.CASES if c.name == "small"), dtypes=(np.float64,),
                       reps=1, quick=True)
    text = capsys.readouterr().out
    assert result["mismatches"] == []
    assert "GEMM ms" in text and "fast/GEMM" in text and "pool 2x2 s2" in text
    assert "modules Conv2d fwd+bwd" in text        # the modules assignment's conv, same shape
    assert set(result["speedups"]) == {"small"} and result["speedups"]["small"] > 1


@pytest.mark.parametrize("x_shape, w_shape", [((7, 1, 28, 28), (8, 1, 5, 5)),
                                              ((3, 3, 9, 11), (4, 3, 3, 3)),
                                              ((2, 2, 7, 6), (3, 2, 5, 5))])
def test_the_graders_model_forward_equals_its_yardstick_conv_and_pool(x_shape, w_shape):
    """trusted.model_scores' own conv ('same' padding) and 2x2 pool are the yardstick's
    conv_forward / pool_forward, odd sizes (pool rounds down) included."""
    from grader.suites.convnet import trusted
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(
        w_shape[0])
    want = trusted.conv_forward(x, w, b, 1, (w_shape[2] - 1) // 2)
    got = trusted._conv_same(x, w, b)
    assert got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.array_equal(trusted._pool_2x2(want), trusted.pool_forward(want, 2, 2))


def test_a_float64_bias_keeps_a_float32_conv_in_float32():
    """The bias rides in the product (an extra column of w): it must not promote the output,
    as `out += b` never did."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    out, cache = L.conv_forward_fast(x, w, rng.standard_normal(4), {"stride": 1, "pad": 1})
    grads = L.conv_backward_fast(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
