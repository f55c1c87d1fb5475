"""One training step of a tanh MLP with softmax cross-entropy, side by side.

Times, in one process and in interleaved rounds (so machine noise hits all
alike), one SGD step — forward, loss, backward, update — of:

* fastmlp: ``MLP.step(X, y, lr)``;
* numpy: the same step composed from ``fastmlp.reference`` (plain NumPy);
* torch: ``nn.Sequential`` + ``CrossEntropyLoss`` + ``optim.SGD``, eager (if installed);
* floor: the step's matrix products alone with NumPy's BLAS into preallocated
  outputs (one per layer forward, grad_W per layer and grad_input per layer but
  the first) — what no implementation can beat.

Reports the median µs per step, how many times faster fastmlp is than each peer
and its step time over the GEMM floor (medians of the ratios within each round),
fastmlp's GFLOP/s; writes
benchmarks/results/bench_step.{csv,json,png}.

Run:  python benchmarks/bench_step.py [--threads N] [--quick] [--dtype float32]
"""
import sys

from _common import set_threads

THREADS = set_threads(sys.argv)

import argparse  # noqa: E402
from statistics import median  # noqa: E402

import numpy as np  # noqa: E402

from _common import (RESULTS, NumpyMLP, TorchMLP, interleaved_rounds, machine,  # noqa: E402
                     optional, paired_ratio, write_results)
from fastmlp import MLP  # noqa: E402

CONFIGS = [([2, 10, 2], 10), ([784, 100, 10], 64), ([784, 300, 10], 128),
           ([784, 1024, 1024, 10], 256)]
LR = 0.01


def gemm_floor(sizes, batch, dtype, rng):
    """A function doing the step's matrix products alone, with NumPy's BLAS."""
    acts = [rng.standard_normal((batch, n)).astype(dtype) for n in sizes]
    Ws = [rng.standard_normal((o, i)).astype(dtype) for i, o in zip(sizes[:-1], sizes[1:])]
    deltas = [rng.standard_normal((batch, o)).astype(dtype) for o in sizes[1:]]
    gWs = [np.empty_like(W) for W in Ws]
    gins = [np.empty((batch, i), dtype) for i in sizes[:-1]]

    def run():
        for l, W in enumerate(Ws):
            np.matmul(acts[l], W.T, out=acts[l + 1])
        for l in range(len(Ws) - 1, -1, -1):
            np.matmul(deltas[l].T, acts[l], out=gWs[l])
            if l > 0:
                np.matmul(deltas[l], Ws[l], out=gins[l])
    return run


def flops(sizes, batch):
    """Multiply-adds x 2 of the step's products (forward, grad_W, grad_input but the first)."""
    total = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        total += 2 * batch * n_in * n_out * (3 if l > 0 else 2)
    return total


def bench(sizes, batch, dtype, torch, min_block, blocks):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch).astype(np.intp)
    model = MLP(sizes, dtype=dtype, seed=0, init="xavier")
    ref = NumpyMLP(sizes, dtype, rng)
    fns = {"fastmlp": lambda: model.step(X, y, LR),
           "numpy": lambda: ref.step(X, y, LR),
           "floor": gemm_floor(sizes, batch, dtype, rng)}
    if torch is not None:
        tm = TorchMLP(torch, sizes, dtype, LR)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        fns["torch"] = lambda: tm.step(Xt, yt)
    t = interleaved_rounds(fns, min_block=min_block, blocks=blocks)
    us = {k: median(v) * 1e6 for k, v in t.items()}
    return {
        "config": f"{sizes} batch {batch}", "dtype": np.dtype(dtype).name,
        "fastmlp_us": round(us["fastmlp"], 2), "numpy_us": round(us["numpy"], 2),
        "torch_us": round(us["torch"], 2) if "torch" in us else None,
        "floor_us": round(us["floor"], 2),
        "x_numpy": round(paired_ratio(t["numpy"], t["fastmlp"]), 2),
        "x_torch": round(paired_ratio(t["torch"], t["fastmlp"]), 2) if "torch" in t else None,
        "gflops": round(flops(sizes, batch) / median(t["fastmlp"]) / 1e9, 2),
        "vs_floor": round(paired_ratio(t["fastmlp"], t["floor"]), 3),
    }


def chart(rows, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    dtypes = sorted({r["dtype"] for r in rows})
    axes = fig.subplots(1, len(dtypes), squeeze=False)[0]
    impls = ["fastmlp", "numpy", "torch", "floor"]
    for ax, dt in zip(axes, dtypes):
        sub = [r for r in rows if r["dtype"] == dt]
        x = np.arange(len(sub))
        for i, impl in enumerate(impls):
            vals = [r[f"{impl}_us"] or np.nan for r in sub]
            ax.bar(x + (i - 1.5) * 0.2, vals, 0.2, label=impl if impl != "floor" else "GEMM floor")
        for j, r in enumerate(sub):
            text = f"{r['x_numpy']}x np"
            if r["x_torch"]:
                text += f"\n{r['x_torch']}x torch"
            ax.annotate(text, (j - 0.3, r["fastmlp_us"]), textcoords="offset points",
                        xytext=(0, 4), fontsize=7)
        ax.set_yscale("log")
        ax.set_xticks(x, [r["config"].replace(" batch ", "\nbatch ") for r in sub], fontsize=7)
        ax.set_ylabel("µs per training step (median)")
        ax.set_title(f"one SGD step, {dt}")
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads for BLAS, OpenMP and torch (default: all cores)")
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="short blocks: a smoke run")
    parser.add_argument("--blocks", type=int, default=21,
                        help="timed rounds (one block of each implementation a round)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    args = parser.parse_args()
    torch = None if args.no_torch else optional("torch")
    if torch is not None:
        torch.set_num_threads(args.threads)
    info = machine(args.threads)
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    min_block, blocks = (0.005, 3) if args.quick else (0.1, args.blocks)
    rows = []
    print(f"{info['cpu']}, {info['cores']} cores, {args.threads} threads, {info['date']}")
    header = (f"{'config':32} {'dtype':8} {'fastmlp µs':>11} {'numpy µs':>10} {'torch µs':>10} "
              f"{'floor µs':>10} {'x numpy':>8} {'x torch':>8} {'GFLOP/s':>8} {'/floor':>7}")
    print(header)
    for dt in dtypes:
        for sizes, batch in CONFIGS:
            r = bench(sizes, batch, np.dtype(dt).type, torch, min_block, blocks)
            rows.append(r)
            print(f"{r['config']:32} {r['dtype']:8} {r['fastmlp_us']:11.1f} {r['numpy_us']:10.1f} "
                  f"{r['torch_us'] or float('nan'):10.1f} {r['floor_us']:10.1f} "
                  f"{r['x_numpy']:8.2f} {(r['x_torch'] or float('nan')):8.2f} "
                  f"{r['gflops']:8.1f} {r['vs_floor']:7.3f}", flush=True)
    out = write_results("bench_step", info, rows)
    chart(rows, RESULTS / "bench_step.png")
    print(f"wrote {out}, {out.with_suffix('.csv')} and {RESULTS / 'bench_step.png'}")


if __name__ == "__main__":
    main()
