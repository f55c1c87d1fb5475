"""One training step of a tanh MLP with softmax cross-entropy, side by side.

Times one step — forward, loss, backward, update — each implementation in a process
of its own, in interleaved rounds, the processes started afresh a few times per case
(``--processes``; see ``_common.rounds_in_fresh_processes``):

* SGD (lr 0.01):
  - fastmlp: ``MLP.step(X, y, lr)``;
  - numpy: the same step composed from ``fastmlp.reference`` (plain NumPy);
  - torch: ``nn.Sequential`` + ``CrossEntropyLoss`` + ``optim.SGD``, eager;
  - torch.compile: the same through ``torch.compile`` (forward and loss, and the
    optimizer's step);
  - jax: the whole step as one ``jax.jit`` function;
* Adam (lr 0.001): fastmlp (``MLP.step(X, y, optimizer=fastmlp.optim.Adam(...))``)
  and torch (``optim.Adam``, eager);
* floor: the step's matrix products alone, on SciPy's BLAS (the library fastmlp's
  kernels call) into preallocated outputs (one per layer forward, grad_W per layer
  and grad_input per layer but the first) — what no implementation can beat.

Peers that are not installed, or fail to start, are left out with the reason.
Reports the median µs per step, how many times faster fastmlp is than each peer
and its step time over the GEMM floor (medians of the ratios within each round),
fastmlp's GFLOP/s beside the machine's GEMM peak, and for Adam its step time over
fastmlp's SGD step; writes benchmarks/results/bench_step.{csv,json,png}.

Run:  python benchmarks/bench_step.py [--threads N] [--quick] [--rounds 21]
          [--processes 3] [--dtype float32] [--peers fastmlp,torch,floor]
"""
import sys
from statistics import median

from _common import (RESULTS, JaxMLP, NumpyMLP, Skip, TorchMLP, fastmlp_adam, optional,
                     paired_ratio, parse_or_serve, print_skipped, rounds_in_fresh_processes,
                     start_run, write_results)

CONFIGS = [([2, 10, 2], 10), ([784, 100, 10], 64), ([784, 300, 10], 128),
           ([784, 1024, 1024, 10], 256)]
LR = {"sgd": 0.01, "adam": 0.001}
# Each optimizer's row: {peer: the column it fills}; "fastmlp" is what the ratios divide.
ROWS = {"sgd": {"fastmlp": "fastmlp", "numpy": "numpy", "torch": "torch",
                "torch.compile": "torch_compile", "jax": "jax"},
        "adam": {"fastmlp-adam": "fastmlp", "torch-adam": "torch"}}
PEERS = [p for peers in ROWS.values() for p in peers] + ["floor"]


# --- the workers -------------------------------------------------------------------------

def build(peer, case):
    """The step of ``peer`` on the case's random batch (see ``_common.serve``)."""
    import numpy as np

    sizes, batch, dtype = case["sizes"], case["batch"], np.dtype(case["dtype"]).type
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch).astype(np.intp)
    if peer == "floor":
        return gemm_floor(sizes, batch, dtype, rng), {"blas": "scipy.linalg.blas ?gemm"}
    if peer == "fastmlp":
        from fastmlp import MLP
        model = MLP(sizes, dtype=dtype, seed=0, init="xavier")
        return (lambda: model.step(X, y, LR["sgd"])), {"call": f"MLP.step(X, y, {LR['sgd']})"}
    if peer == "fastmlp-adam":
        from fastmlp import MLP
        optimizer = fastmlp_adam(LR["adam"])
        model = MLP(sizes, dtype=dtype, seed=0, init="xavier")
        return ((lambda: model.step(X, y, optimizer=optimizer)),
                {"call": f"MLP.step(X, y, optimizer={optimizer!r})"})
    if peer == "numpy":
        model = NumpyMLP(sizes, dtype, rng)
        return (lambda: model.step(X, y, LR["sgd"])), {"call": "NumpyMLP.step (fastmlp.reference)"}
    if peer.startswith("torch"):
        torch = optional("torch")
        if torch is None:
            raise Skip("torch is not installed")
        rule = "adam" if peer == "torch-adam" else "sgd"
        model = TorchMLP(torch, sizes, dtype, LR[rule], rule, compile=peer == "torch.compile")
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        return (lambda: model.step(Xt, yt)), {"torch": torch.__version__, "optimizer": repr(
            model.opt).replace("\n", " "), "compile": peer == "torch.compile"}
    if peer == "jax":
        jax = optional("jax")
        if jax is None:
            raise Skip("jax is not installed")
        model = JaxMLP(sizes, dtype, LR["sgd"], rng)
        Xj, yj = jax.device_put(X), jax.device_put(y.astype(np.int32))

        def step():
            model.step(Xj, yj)
        step.sync = model.sync
        return step, {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    raise ValueError(f"unknown peer {peer!r}; expected one of {PEERS}")


def gemm_floor(sizes, batch, dtype, rng):
    """A function doing the step's matrix products alone, on SciPy's BLAS."""
    import numpy as np
    from scipy.linalg import blas

    gemm = blas.sgemm if dtype is np.float32 else blas.dgemm
    acts = [rng.standard_normal((batch, n)).astype(dtype) for n in sizes]
    Ws = [rng.standard_normal((o, i)).astype(dtype) for i, o in zip(sizes[:-1], sizes[1:])]
    deltas = [rng.standard_normal((batch, o)).astype(dtype) for o in sizes[1:]]
    gWs = [np.empty_like(W) for W in Ws]
    gins = [np.empty((batch, i), dtype) for i in sizes[:-1]]
    # A row-major product C = A @ B is the column-major C.T = B.T @ A.T: BLAS gets the
    # transposed (Fortran-ordered) views, so no operand is copied and C is written in
    # place. Each entry: (first operand, second, transpose it?, transpose it?, C.T, C
    # as NumPy computes it).
    products = []
    for l, W in enumerate(Ws):
        products.append((W.T, acts[l].T, 1, 0, acts[l + 1].T, lambda l=l: acts[l] @ Ws[l].T))
    for l in range(len(Ws) - 1, -1, -1):
        products.append((acts[l].T, deltas[l].T, 0, 1, gWs[l].T, lambda l=l: deltas[l].T @ acts[l]))
        if l > 0:
            products.append((Ws[l].T, deltas[l].T, 0, 0, gins[l].T, lambda l=l: deltas[l] @ Ws[l]))
    rtol = 1e-4 if dtype is np.float32 else 1e-10
    for a, b, ta, tb, c, expected in products:
        want = expected()
        out = gemm(1.0, a, b, trans_a=ta, trans_b=tb, c=c, overwrite_c=1)
        if not np.shares_memory(out, c) or not np.allclose(c.T, want, rtol=rtol, atol=rtol):
            raise RuntimeError("the GEMM floor's product was not computed in place")
    products = [(a, b, ta, tb, c) for a, b, ta, tb, c, _ in products]

    def run():
        for a, b, ta, tb, c in products:
            gemm(1.0, a, b, trans_a=ta, trans_b=tb, c=c, overwrite_c=1)
    return run


# --- the parent --------------------------------------------------------------------------

def flops(sizes, batch):
    """Multiply-adds x 2 of the step's products (forward, grad_W, grad_input but the first)."""
    total = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        total += 2 * batch * n_in * n_out * (3 if l > 0 else 2)
    return total


def make_rows(sizes, batch, dtype, t, peak):
    """The SGD and the Adam row of one case from the per-round times ``t``."""
    rows = []
    for rule, peers in ROWS.items():
        base = next(iter(peers))
        row = {"config": f"{sizes} batch {batch}", "dtype": dtype, "optimizer": rule}
        for peer, col in peers.items():
            row[f"{col}_us"] = round(median(t[peer]) * 1e6, 2) if peer in t else None
        row["floor_us"] = round(median(t["floor"]) * 1e6, 2) if "floor" in t else None
        for peer, col in list(peers.items())[1:]:
            row[f"x_{col}"] = (round(paired_ratio(t[peer], t[base]), 2)
                               if peer in t and base in t else None)
        fast = t.get(base)
        row["gflops"] = round(flops(sizes, batch) / median(fast) / 1e9, 2) if fast else None
        row["peak_gflops"] = round(peak, 1) if peak else None
        row["vs_floor"] = (round(paired_ratio(fast, t["floor"]), 3)
                           if fast and "floor" in t else None)
        row["vs_sgd"] = (round(paired_ratio(fast, t["fastmlp"]), 3)
                         if rule != "sgd" and fast and "fastmlp" in t else None)
        rows.append(row)
    return rows


COLUMNS = [("config", "config", 32, "s"), ("dtype", "dtype", 8, "s"),
           ("optimizer", "step", 5, "s"), ("fastmlp_us", "fastmlp µs", 11, ".1f"),
           ("numpy_us", "numpy µs", 10, ".1f"), ("torch_us", "torch µs", 10, ".1f"),
           ("torch_compile_us", "compile µs", 10, ".1f"), ("jax_us", "jax µs", 10, ".1f"),
           ("floor_us", "floor µs", 10, ".1f"), ("x_numpy", "x numpy", 8, ".2f"),
           ("x_torch", "x torch", 8, ".2f"), ("x_torch_compile", "x compile", 9, ".2f"),
           ("x_jax", "x jax", 7, ".2f"), ("gflops", "GFLOP/s", 8, ".1f"),
           ("peak_gflops", "peak", 6, ".0f"), ("vs_floor", "/floor", 7, ".3f"),
           ("vs_sgd", "/SGD", 6, ".3f")]


def line(row=None):
    """The table's header, or one row of it ('-' where a peer did not run)."""
    if row is None:
        return " ".join(f"{title:{'<' if fmt == 's' else '>'}{w}}" for _, title, w, fmt in COLUMNS)
    cells = []
    for key, _, w, fmt in COLUMNS:
        v = row.get(key)
        cells.append(f"{'-':>{w}}" if v is None else f"{v:{'<' if fmt == 's' else '>'}{w}{fmt}}")
    return " ".join(cells)


def chart(rows, path):
    import numpy as np
    from matplotlib.figure import Figure

    rows = [r for r in rows if r["optimizer"] == "sgd"]
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    dtypes = sorted({r["dtype"] for r in rows})
    axes = fig.subplots(1, len(dtypes), squeeze=False)[0]
    impls = [c for c in ROWS["sgd"].values() if any(r[f"{c}_us"] for r in rows)] + ["floor"]
    width = 0.8 / len(impls)
    for ax, dt in zip(axes, dtypes):
        sub = [r for r in rows if r["dtype"] == dt]
        x = np.arange(len(sub))
        for i, impl in enumerate(impls):
            vals = [r[f"{impl}_us"] or np.nan for r in sub]
            ax.bar(x + (i - (len(impls) - 1) / 2) * width, vals, width,
                   label=impl.replace("_", ".") if impl != "floor" else "GEMM floor")
        ax.set_yscale("log")
        ax.set_xticks(x, [r["config"].replace(" batch ", "\nbatch ") for r in sub], fontsize=7)
        ax.set_ylabel("µs per training step (median)")
        ax.set_title(f"one SGD step, {dt}, each in its own process")
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)


def options(parser):
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated peers to run (default: all of {','.join(PEERS)})")
    parser.add_argument("--processes", type=int, default=3,
                        help="start each peer's process afresh this many times per case, "
                             "sharing the rounds out between them (default 3; 1 with "
                             "--quick)")


def main():
    started = parse_or_serve(__doc__, build, rounds=21, add_options=options)
    if started is None:
        return
    parser, args = started
    peers = args.peers.split(",")
    unknown = sorted(set(peers) - set(PEERS))
    if unknown or "fastmlp" not in peers:
        parser.error(f"--peers must include fastmlp and name only {PEERS}; got {args.peers!r}")
    env, info = start_run(args, peak_size=1024 if args.quick else 2048)
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    min_block, rounds = (0.005, args.rounds or 3) if args.quick else (0.1, args.rounds or 21)
    processes = 1 if args.quick else args.processes
    if not 1 <= processes <= rounds:
        parser.error(f"--processes must be between 1 and the rounds ({rounds}); "
                     f"got {processes}")
    print(f"{rounds} rounds of blocks of at least {min_block * 1e3:g} ms; each peer in its "
          f"own process, started afresh {processes} time(s) per case")
    print(line())
    rows = []
    for dt in dtypes:
        for sizes, batch in CONFIGS:
            case = {"sizes": sizes, "batch": batch, "dtype": dt}
            t, infos, skipped = rounds_in_fresh_processes(__file__, peers, case, env,
                                                          min_block, rounds, processes)
            if "fastmlp" not in t:
                sys.exit(f"bench_step: fastmlp's worker failed: {skipped['fastmlp']}")
            for peer, peer_info in infos.items():
                info["peers"].setdefault(peer, peer_info)
            info["skipped"] += [{"peer": peer, "case": case, "reason": why}
                                for peer, why in skipped.items()]
            peak = info["gemm_peak"].get("scipy", {}).get(dt)
            for r in make_rows(sizes, batch, dt, t, peak):
                rows.append(r)
                print(line(r), flush=True)
    print_skipped(info["skipped"])
    out = write_results("bench_step", info, rows)
    chart(rows, RESULTS / "bench_step.png")
    print(f"wrote {out}, {out.with_suffix('.csv')} and {RESULTS / 'bench_step.png'}")


if __name__ == "__main__":
    main()
