"""`make bench`: the reference conv and max-pool layers against PyTorch's CPU float64 path.

    .venv-bench/bin/python -m benchmarks.torch_compare            # the full table (~30 s)
    .venv-bench/bin/python -m benchmarks.torch_compare --quick    # one round: a smoke run

PyTorch is never a dependency of the kit: it lives only in the bench's own venv
(`requirements/bench.txt`, which `make bench` installs into `.venv-bench`). Both sides run on
ONE thread (BLAS pinned before numpy loads, `torch.set_num_threads(1)`), float64, and are
timed the same way as `benchmarks.conv`: CPU seconds of this process, the best of several
interleaved rounds. PyTorch's forward runs with autograd on (as in training: max pool then
keeps its argmax indices); its backward is `torch.autograd.grad` of that output. Workloads
come from `benchmarks.conv`: its conv cases, and its pools on each conv case's output.
Every result is compared with PyTorch's (the max absolute difference is printed).

The GEMM lines rate the reference conv by the FLOPs of its im2col matrix products (2*F*K*P
forward, twice that backward; K = C*HH*WW, P = N*H_out*W_out) per second of the WHOLE layer,
against this machine's float64 GEMM peak on one thread (`np.dot` of two 1024x1024 matrices).
"""
from __future__ import annotations

from benchmarks import conv as bench_conv     # pins BLAS to one thread before numpy loads

import argparse                               # noqa: E402
import sys                                    # noqa: E402
from dataclasses import dataclass             # noqa: E402
from types import ModuleType                  # noqa: E402
from typing import Callable                   # noqa: E402

import numpy as np                            # noqa: E402

PEAK_N = 1024                                 # GEMM peak: np.dot of two PEAK_N^2 matrices


@dataclass(frozen=True)
class PoolCase:
    label: str
    x: tuple[int, int, int, int]
    size: int
    stride: int

    @property
    def param(self) -> dict[str, int]:
        return {"pool_height": self.size, "pool_width": self.size, "stride": self.stride}


def conv_out_shape(case: bench_conv.Case) -> tuple[int, int, int, int]:
    n, _, h, w = case.x
    f, _, hh, ww = case.w
    return (n, f, 1 + (h + 2 * case.pad - hh) // case.stride,
            1 + (w + 2 * case.pad - ww) // case.stride)


def pool_cases(cases: tuple[bench_conv.Case, ...] = bench_conv.CASES) -> list[PoolCase]:
    """benchmarks.conv's pools on each conv case's output (the overlapping one on "big" only,
    as there)."""
    out = []
    for case in cases:
        for label, pp in bench_conv.POOLS.items():
            if "overlap" in label and case.name != "big":
                continue
            out.append(PoolCase(f"{label} on {case.name}", conv_out_shape(case),
                                pp["pool_height"], pp["stride"]))
    return out


def conv_gemm_flops(case: bench_conv.Case) -> tuple[float, float]:
    """(forward, backward) multiply-add FLOPs of the im2col GEMMs of one conv case."""
    n_filt, k = case.w[0], int(np.prod(case.w[1:]))
    _, _, h_out, w_out = conv_out_shape(case)
    fwd = 2.0 * n_filt * k * case.x[0] * h_out * w_out
    return fwd, 2 * fwd


def gemm_peak(reps: int = 5, n: int = PEAK_N) -> float:
    """FLOP/s of one float64 np.dot of two n x n matrices (best of `reps`)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    t = bench_conv.best_times({"dot": lambda: a @ b}, reps)["dot"]
    return 2.0 * n ** 3 / t


def max_abs(a: np.ndarray, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - b.detach().numpy())))


@dataclass(frozen=True)
class Row:
    layer: str
    shape: str
    ours: tuple[float, float]        # (fwd, bwd) seconds
    torch: tuple[float, float]
    err: float                       # max |ours - torch| over every output

    @property
    def ratio(self) -> float:
        return sum(self.ours) / sum(self.torch)


def _timed(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    return bench_conv.best_times(fns, reps, budget=3.0)


def bench_pool(L: ModuleType, torch: ModuleType, case: PoolCase, reps: int,
               rng: np.random.Generator) -> Row:
    F = torch.nn.functional
    x = rng.standard_normal(case.x)
    out, cache = L.max_pool_forward_fast(x, case.param)
    dout = rng.standard_normal(out.shape)
    dx = L.max_pool_backward_fast(dout, cache)
    xt = torch.from_numpy(x).requires_grad_()
    dt = torch.from_numpy(dout)

    def t_fwd():
        return F.max_pool2d(xt, case.size, case.stride)
    out_t = t_fwd()
    (dx_t,) = torch.autograd.grad(out_t, xt, dt, retain_graph=True)
    t = _timed({"of": lambda: L.max_pool_forward_fast(x, case.param),
                "ob": lambda: L.max_pool_backward_fast(dout, cache),
                "tf": t_fwd,
                "tb": lambda: torch.autograd.grad(out_t, xt, dt, retain_graph=True)}, reps)
    return Row(case.label, str(case.x).replace(" ", ""), (t["of"], t["ob"]), (t["tf"], t["tb"]),
               max(max_abs(out, out_t), max_abs(dx, dx_t)))


def bench_conv_case(L: ModuleType, torch: ModuleType, case: bench_conv.Case, reps: int,
                    rng: np.random.Generator) -> Row:
    F = torch.nn.functional
    x, w, b = (rng.standard_normal(s) for s in (case.x, case.w, case.w[:1]))
    cp = {"stride": case.stride, "pad": case.pad}
    out, cache = L.conv_forward_fast(x, w, b, cp)
    dout = rng.standard_normal(out.shape)
    grads = L.conv_backward_fast(dout, cache)
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)

    def t_fwd():
        return F.conv2d(xt, wt, bt, stride=case.stride, padding=case.pad)
    out_t = t_fwd()
    grads_t = torch.autograd.grad(out_t, (xt, wt, bt), dt, retain_graph=True)
    t = _timed({"of": lambda: L.conv_forward_fast(x, w, b, cp),
                "ob": lambda: L.conv_backward_fast(dout, cache),
                "tf": t_fwd,
                "tb": lambda: torch.autograd.grad(out_t, (xt, wt, bt), dt, retain_graph=True)},
               reps)
    shape = f"{case.x}x{case.w}".replace(" ", "") + f" s{case.stride} p{case.pad}"
    err = max([max_abs(out, out_t)] + [max_abs(g, g_t) for g, g_t in zip(grads, grads_t)])
    return Row(f"conv {case.name}", shape, (t["of"], t["ob"]), (t["tf"], t["tb"]), err)


HEADER = ["layer", "shape", "ours fwd", "ours bwd", "ours f+b", "torch fwd", "torch bwd",
          "torch f+b", "ours/torch", "max |diff|"]


def print_rows(rows: list[Row]) -> None:
    def ms(t: float) -> str:
        return f"{t * 1e3:,.2f}"
    table = [HEADER] + [[r.layer, r.shape, ms(r.ours[0]), ms(r.ours[1]), ms(sum(r.ours)),
                         ms(r.torch[0]), ms(r.torch[1]), ms(sum(r.torch)), f"{r.ratio:.2f}",
                         f"{r.err:.1e}"] for r in rows]
    bench_conv.print_aligned(table, numeric_from=2)


def run(reps: int = 9, cases: tuple[bench_conv.Case, ...] = bench_conv.CASES) -> dict:
    """Benchmark and print; returns the rows, the GEMM peak and each conv case's efficiency."""
    import torch
    torch.set_num_threads(1)
    L = bench_conv.load_layers()
    rng = np.random.default_rng(0)
    conv_rows = [bench_conv_case(L, torch, case, reps, rng) for case in cases]
    pool_rows = [bench_pool(L, torch, case, reps, rng) for case in pool_cases(cases)]
    print(f"Reference layers vs PyTorch {torch.__version__} (CPU, float64, one thread; ms, "
          f"best of up to {reps} interleaved rounds)\n")
    print_rows(conv_rows + pool_rows)
    peak = gemm_peak()
    print(f"\nfloat64 GEMM peak, one thread (np.dot {PEAK_N}x{PEAK_N}): "
          f"{peak / 1e9:.1f} GFLOP/s")
    efficiency = {}
    for case, row in zip(cases, conv_rows):
        fwd, bwd = conv_gemm_flops(case)
        ours, theirs = (fwd + bwd) / sum(row.ours), (fwd + bwd) / sum(row.torch)
        efficiency[case.name] = ours / peak
        print(f"conv {case.name}: GEMM FLOPs / fwd+bwd time = {ours / 1e9:.1f} GFLOP/s "
              f"({ours / peak:.0%} of peak); PyTorch {theirs / 1e9:.1f} GFLOP/s "
              f"({theirs / peak:.0%})")
    rows = conv_rows + pool_rows
    worst = max(rows, key=lambda r: r.ratio)
    print(f"worst ours/torch fwd+bwd: {worst.ratio:.2f} ({worst.layer}); "
          f"largest |ours - torch|: {max(r.err for r in rows):.1e}")
    return {"rows": rows, "peak": peak, "efficiency": efficiency}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round: a smoke run")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed here: it lives only in the bench's venv "
              "(make bench, or: python3 -m venv .venv-bench && .venv-bench/bin/pip install "
              "-r requirements/bench.txt).", file=sys.stderr)
        return 2
    result = run(reps=1 if args.quick else 9)
    return 1 if max(r.err for r in result["rows"]) > 1e-9 else 0


if __name__ == "__main__":
    sys.exit(main())
