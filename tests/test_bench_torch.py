"""benchmarks/torch_compare.py: its workloads come from benchmarks/conv.py, its FLOP count is
the im2col GEMMs', and (where PyTorch is installed, i.e. only in the bench's own venv) one
quick round runs and agrees with PyTorch. PyTorch is never a kit dependency: without it the
last test skips and the module says where to get it."""
from __future__ import annotations

import pytest


@pytest.fixture
def tc(monkeypatch):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        monkeypatch.setenv(var, "1")      # the import pins these; restore them afterwards
    from benchmarks import torch_compare
    return torch_compare


def test_pool_workloads_are_the_conv_bench_pools(tc):
    cases = tc.pool_cases()
    by_label = {c.label: c for c in cases}
    tiles = by_label["pool 2x2 s2 (tiles) on big"]
    assert tiles.x == (50, 32, 32, 32) and tiles.param == {"pool_height": 2, "pool_width": 2,
                                                           "stride": 2}
    assert by_label["pool 3x3 s2 (overlap) on big"].x == (50, 32, 32, 32)
    assert len(cases) == len(tc.bench_conv.CASES) + 1          # overlap on "big" only
    assert {c.x for c in cases} == {tc.conv_out_shape(c) for c in tc.bench_conv.CASES}


def test_conv_gemm_flops(tc):
    big = next(c for c in tc.bench_conv.CASES if c.name == "big")
    fwd, bwd = tc.conv_gemm_flops(big)
    assert tc.conv_out_shape(big) == (50, 32, 32, 32)
    assert fwd == 2.0 * 32 * (3 * 7 * 7) * (50 * 32 * 32) and bwd == 2 * fwd


def test_gemm_peak_is_positive(tc):
    assert tc.gemm_peak(reps=1, n=64) > 0


def test_without_torch_main_says_where_it_lives(tc, capsys):
    try:
        import torch  # noqa: F401
    except ImportError:
        assert tc.main([]) == 2
        assert ".venv-bench" in capsys.readouterr().err
    else:
        pytest.skip("PyTorch is installed here")


def test_quick_round_agrees_with_torch(tc, capsys):
    pytest.importorskip("torch")
    small = tuple(c for c in tc.bench_conv.CASES if c.name == "small")
    result = tc.run(reps=1, cases=small)
    assert "ours/torch" in capsys.readouterr().out
    assert max(r.err for r in result["rows"]) < 1e-9
    assert {r.layer for r in result["rows"]} == {"conv small", "pool 2x2 s2 (tiles) on small"}
