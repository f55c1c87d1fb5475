"""Shared pieces of the benchmarks: thread settings, timing, the NumPy and PyTorch peers.

Import ``set_threads`` first and call it before NumPy is imported, so that the
BLAS libraries read the thread count when they load.
"""
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def set_threads(argv):
    """Read ``--threads N`` from argv (default: all cores) and export it to every
    thread pool (OpenMP, OpenBLAS, MKL) before they start. Returns N."""
    n = os.cpu_count() or 1
    if "--threads" in argv:
        n = int(argv[argv.index("--threads") + 1])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    # Three thread pools share the cores here (NumPy's and SciPy's OpenBLAS, and
    # torch's OpenMP). By default OpenMP threads spin for a while after each
    # parallel region, stealing the cores from the next library's threads; in a
    # side-by-side run that would slow everyone down but the spinner.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return n


def machine(threads):
    """What the numbers were measured on."""
    import numpy as np
    import scipy

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads,
            "python": sys.version.split()[0], "numpy": np.__version__,
            "scipy": scipy.__version__, "date": time.strftime("%Y-%m-%d %H:%M")}
    torch = optional("torch")
    if torch is not None:
        info["torch"] = torch.__version__
    return info


def optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


# OpenBLAS worker threads busy-wait for about 2**28 cycles (~0.1 s) after each
# call before they sleep. NumPy and SciPy each bring their own OpenBLAS (and torch
# its OpenMP pool), so the pool used by the previous block would still be spinning
# on the cores the next block needs: pause long enough for it to fall asleep.
SETTLE = float(os.environ.get("BENCH_SETTLE", "0.2"))


def interleaved_rounds(fns, min_block, blocks):
    """Seconds per call of each function, timed in interleaved rounds.

    Each function is first timed to find how many calls fill ``min_block``
    seconds; then ``blocks`` rounds run, each timing every function once, back
    to back (a, b, c, a, b, c, ...), each block after a pause of SETTLE seconds.
    Returns {name: [seconds per call in round 0, round 1, ...]}.

    On a shared machine the speed of the host drifts over seconds; a round is
    short, so the ratio of two functions within one round is far steadier than
    the ratio of their medians over the whole run (see ``paired_ratio``).
    """
    counts = {}
    for name, fn in fns.items():
        fn()  # warm up (first calls allocate workspaces, fault in pages)
        time.sleep(SETTLE)
        n, elapsed = 1, 0.0
        while True:
            t = time.perf_counter()
            for _ in range(n):
                fn()
            elapsed = time.perf_counter() - t
            if elapsed >= min_block:
                break
            n *= 2
        counts[name] = n
    samples = {name: [] for name in fns}
    for _ in range(blocks):
        for name, fn in fns.items():
            n = counts[name]
            fn()
            time.sleep(SETTLE)
            t = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t) / n)
    return samples


def paired_ratio(slow, fast):
    """Median over rounds of slow[i] / fast[i]: how many times faster ``fast`` is."""
    return statistics.median([s / f for s, f in zip(slow, fast)])


def write_results(stem, info, rows):
    """Write rows (a list of dicts) as CSV and, with the machine info, as JSON."""
    import csv

    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f"{stem}.json", "w") as f:
        json.dump({"machine": info, "results": rows}, f, indent=2)
    with open(RESULTS / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return RESULTS / f"{stem}.json"


# --- the NumPy peer: any-depth tanh MLP from fastmlp.reference -------------------------

class NumpyMLP:
    """A tanh MLP with softmax cross-entropy, trained by plain SGD with fastmlp.reference's
    network (mlp_backward, sgd_update): the plain-NumPy baseline of a training step."""

    def __init__(self, sizes, dtype, rng, std=None):
        self.W, self.b = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            scale = std if std is not None else (2.0 / (n_in + n_out)) ** 0.5
            self.W.append((rng.standard_normal((n_out, n_in)) * scale).astype(dtype))
            self.b.append(__import__("numpy").zeros(n_out, dtype=dtype))

    def step(self, X, y, lr):
        """Forward, backward and an SGD update of every parameter; returns the loss."""
        from fastmlp import reference as R
        loss, grads_W, grads_b = R.mlp_backward(self.W, self.b, X, y)
        for param, grad in zip(self.W + self.b, grads_W + grads_b):
            R.sgd_update(param, grad, lr)
        return loss

    def predict(self, X):
        from fastmlp import reference as R
        return R.mlp_forward(self.W, self.b, X)[-1].argmax(axis=1)


# --- the PyTorch peer ------------------------------------------------------------------

class TorchMLP:
    """nn.Sequential(Linear, Tanh, ..., Linear) + CrossEntropyLoss + optim.SGD, eager."""

    def __init__(self, torch, sizes, dtype, lr):
        tdtype = torch.float32 if dtype.__name__ == "float32" else torch.float64
        layers = []
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(n_in, n_out, dtype=tdtype))
            if l < len(sizes) - 2:
                layers.append(torch.nn.Tanh())
        self.torch = torch
        self.net = torch.nn.Sequential(*layers)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.net.parameters(), lr=lr)

    def step(self, X, y):
        self.opt.zero_grad()
        loss = self.loss_fn(self.net(X), y)
        loss.backward()
        self.opt.step()
        return loss

    def predict(self, X):
        with self.torch.no_grad():
            return self.net(X).argmax(dim=1)
