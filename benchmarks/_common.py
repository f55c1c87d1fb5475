"""Shared pieces of the benchmarks: worker processes, interleaved rounds, the machine's
description, and the NumPy, PyTorch and JAX peers.

How a benchmark runs:

* Every implementation ("peer") runs in a process of its own, the way its users run it:
  the benchmark script started again as ``SCRIPT --worker PEER CASE`` (``serve``). The
  parent imports no numerical library; it starts the workers one after another, then
  drives them over their stdin/stdout, one JSON object a line.
* No thread setting is changed for one side only. By default every worker has the
  environment the parent was started with and each library picks its own threads;
  ``--threads N`` exports the same count to every worker (``worker_env``), and the
  results record the thread-related environment and each worker's thread pools.
* Rounds interleave the peers (a, b, c, a, b, c, ...): each round times one block of
  calls of every worker, after a pause in which the previous worker's threads fall
  asleep. Times are medians over rounds; ratios are medians of per-round ratios
  (``paired_ratio``).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

# The thread counts of OpenMP (fastmlp's kernels, torch), OpenBLAS (NumPy's and SciPy's)
# and MKL (torch's BLAS): ``--threads N`` sets all of them, for every worker.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# XLA (JAX's CPU backend) reads none of THREAD_VARS and sizes its thread pool from the
# cores the process may run on (jax 0.10 ran two threads with XLA_FLAGS=
# --xla_cpu_multi_thread_eigen=false): with ``--threads N`` every worker of
# ``start_run`` is limited to N cores, whatever its library, which is what the thread
# variables already do to the others.
CPUS_VAR = "BENCH_CPUS"
# Settings that change how fast a library runs, recorded with the results when set.
REPORTED_ENV = THREAD_VARS + ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND",
                              "OMP_PLACES", "KMP_BLOCKTIME", "OPENBLAS_CORETYPE",
                              "OPENBLAS_VERBOSE", "MKL_ENABLE_INSTRUCTIONS",
                              "MKL_DEBUG_CPU_TYPE", "ATEN_CPU_CAPABILITY", "XLA_FLAGS",
                              CPUS_VAR)

# OpenBLAS worker threads busy-wait for about 2**28 cycles (~0.1 s) after each call
# before they sleep, and OpenMP's (libgomp's) spin too: the previous worker's pool would
# still be spinning on the cores the next block needs. Every block starts after this
# pause, whichever peer it times.
SETTLE = float(os.environ.get("BENCH_SETTLE", "0.2"))


def parse_or_serve(doc, build, rounds, add_options=None):
    """A benchmark script's start. In a worker process (``--worker PEER CASE``, see
    ``start_workers``) serve ``build(peer, case)`` and return None; in the parent,
    parse the command line (the common run options, then ``add_options(parser)``)
    and return (parser, args)."""
    if sys.argv[1:2] == ["--worker"]:
        peer, case = sys.argv[2], json.loads(sys.argv[3])
        serve(lambda: build(peer, case))
        return None
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_run_options(parser, rounds)
    if add_options is not None:
        add_options(parser)
    return parser, parser.parse_args()


def start_run(args, **machine_options):
    """The workers' environment and the run's record (the machine, empty peers and
    skipped lists), printed: (env, info)."""
    env = worker_env(args.threads)
    if args.threads is not None:
        env[CPUS_VAR] = str(args.threads)
    info = machine(env, args.threads, **machine_options)
    info["peers"], info["skipped"] = {}, []
    print(describe(info))
    return env, info


def add_run_options(parser, rounds):
    """The options every benchmark takes: --threads, --quick, --rounds."""
    parser.add_argument("--threads", type=int, default=None,
                        help="export this thread count to OpenMP, OpenBLAS and MKL in every "
                             "worker (default: leave each library to its own default)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: short blocks, 3 rounds (unless --rounds), noisy")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"timed rounds, each timing every peer once (default {rounds})")


def worker_env(threads):
    """The environment of every worker: the parent's, plus ``threads`` for every pool."""
    env = dict(os.environ)
    if threads is not None:
        for var in THREAD_VARS:
            env[var] = str(threads)
    return env


def limit_cpus():
    """Restrict this process to the first ``$BENCH_CPUS`` cores it may use (if set)."""
    n = os.environ.get(CPUS_VAR)
    if n and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:int(n)])


# --- the worker side ---------------------------------------------------------------------

class Skip(Exception):
    """Raised by a worker's build when its peer cannot run here (the message says why)."""


def serve(build):
    """Run this process as a worker: the loop behind ``SCRIPT --worker PEER CASE``.

    ``build()`` makes the peer and returns ``(fn, info)``: ``fn`` is a function of no
    argument (one call timed as a unit) or, for ``run`` commands, of keyword
    arguments returning a dict; ``info`` a dict of facts about the peer (versions,
    settings) for the results. ``fn.sync``, if present, is called at the end of
    each timed block (JAX dispatches asynchronously: the block ends when the work
    is done). Raise ``Skip`` when the peer cannot run.

    Commands, one JSON object a line on stdin, each answered by one on stdout:
    ``{"cmd": "warm", "calls": k}`` (k untimed calls), ``{"cmd": "calibrate",
    "min_block": s}`` (the number of calls that fill s seconds), ``{"cmd": "time",
    "n": n}`` (seconds a call over n calls, after one untimed call that wakes the
    thread pools) and ``{"cmd": "run", "args": {...}}`` (``fn(**args)``).
    """
    limit_cpus()
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what the libraries print goes to stderr, not into the answers

    def send(obj):
        channel.write(json.dumps(obj) + "\n")

    try:
        fn, info = build()
    except Skip as exc:
        send({"skip": str(exc)})
        return
    send({"ready": info, "thread_pools": thread_pools()})
    sync = getattr(fn, "sync", lambda: None)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "warm":
            for _ in range(cmd["calls"]):
                fn()
            sync()
            send({})
        elif cmd["cmd"] == "calibrate":
            n = 1
            while True:
                t = time.perf_counter()
                for _ in range(n):
                    fn()
                sync()
                if time.perf_counter() - t >= cmd["min_block"]:
                    break
                n *= 2
            send({"n": n})
        elif cmd["cmd"] == "time":
            fn()
            sync()
            t = time.perf_counter()
            for _ in range(cmd["n"]):
                fn()
            sync()
            send({"seconds": (time.perf_counter() - t) / cmd["n"]})
        elif cmd["cmd"] == "run":
            send(fn(**cmd.get("args", {})))


def thread_pools():
    """This process's thread pools as threadpoolctl sees them (OpenBLAS's core type in
    ``architecture``), plus torch's own view when torch is loaded."""
    pools = []
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = list
    for p in threadpool_info():
        pools.append({k: p.get(k) for k in ("user_api", "internal_api", "prefix", "filepath",
                                             "version", "num_threads", "threading_layer",
                                             "architecture") if p.get(k) is not None})
    if "torch" in sys.modules:
        pools.append(torch_blas(sys.modules["torch"]))
    return pools


def torch_blas(torch):
    """torch's BLAS and kernels: its MKL is linked in statically, out of threadpoolctl's
    sight, so ask torch."""
    config = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for line in config.splitlines()
                 for part in line.replace(",", " ").split() if part.startswith("BLAS_INFO=")),
                "unknown")
    mkl = next((line.strip(" -") for line in config.splitlines() if "Math Kernel" in line), None)
    return {"user_api": "torch", "internal_api": blas, "version": mkl,
            "num_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def fastmlp_adam(lr):
    """``fastmlp.optim.Adam(lr=lr)``; Skip if this fastmlp cannot train with it yet (no
    ``fastmlp.optim``, or no ``optimizer`` argument in ``MLP.step`` and ``MLP.fit``)."""
    import inspect

    from fastmlp import MLP
    try:
        from fastmlp.optim import Adam
    except ImportError as exc:
        raise Skip(f"this fastmlp has no optimizers yet ({exc})") from None
    for method in (MLP.step, MLP.fit):
        if "optimizer" not in inspect.signature(method).parameters:
            raise Skip(f"MLP.{method.__name__} takes no optimizer argument in this fastmlp")
    return Adam(lr=lr)


# --- the parent side ---------------------------------------------------------------------

class WorkerFailed(Exception):
    """A worker skipped its peer or died; the message says why."""


class Worker:
    """A peer in a process of its own (see ``serve``), started and driven by the parent."""

    def __init__(self, script, peer, case, env):
        self.peer = peer
        self._log = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [sys.executable, str(script), "--worker", peer, json.dumps(case)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env,
            text=True, bufsize=1)
        hello = self._receive()
        if "skip" in hello:
            self.close()
            raise WorkerFailed(hello["skip"])
        self.info = {"peer": hello["ready"], "thread_pools": hello["thread_pools"]}

    def ask(self, cmd, **args):
        try:
            self._proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        except BrokenPipeError:
            pass  # the worker died: _receive reports why
        return self._receive()

    def _receive(self):
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            self._log.seek(0)
            lines = [s for s in self._log.read().splitlines() if s.strip()]
            self._log.close()
            raise WorkerFailed(f"{self.peer}'s worker exited with status "
                               f"{self._proc.returncode}: "
                               + (lines[-1].strip() if lines else "no message"))
        return json.loads(line)

    def close(self):
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait()
        if not self._log.closed:
            self._log.close()


def start_workers(script, peers, case, env, warm_calls=3):
    """Start one worker per peer, one after another (so that no start-up, import or
    compilation competes with another), each warmed with ``warm_calls`` untimed calls
    (the first allocate workspaces, fault in pages, compile). Returns ({peer: Worker},
    {peer: why it was left out})."""
    workers, skipped = {}, {}
    for peer in peers:
        try:
            w = Worker(script, peer, case, env)
            if warm_calls:
                w.ask("warm", calls=warm_calls)
            workers[peer] = w
        except WorkerFailed as exc:
            skipped[peer] = str(exc)
    return workers, skipped


def interleaved_rounds(workers, min_block, rounds):
    """Seconds per call of each worker's function, timed in interleaved rounds.

    Each worker first finds how many calls fill ``min_block`` seconds; then
    ``rounds`` rounds run, each timing one block of every worker, back to back, each
    block after a pause of SETTLE seconds. Returns {peer: [seconds per call in round
    0, round 1, ...]}.

    On a shared machine the speed of the host drifts over seconds; a round is short,
    so the ratio of two peers within one round is far steadier than the ratio of their
    medians over the whole run (see ``paired_ratio``).
    """
    counts = {peer: w.ask("calibrate", min_block=min_block)["n"] for peer, w in workers.items()}
    samples = {peer: [] for peer in workers}
    for _ in range(rounds):
        for peer, w in workers.items():
            time.sleep(SETTLE)
            samples[peer].append(w.ask("time", n=counts[peer])["seconds"])
    return samples


def rounds_in_fresh_processes(script, peers, case, env, min_block, rounds, processes,
                              warm_calls=3):
    """``rounds`` interleaved rounds (see interleaved_rounds), split as evenly as may be
    over ``processes`` sets of workers, each set started afresh.

    A process has luck of its own that lasts as long as it does (where the host puts
    its pages decides how its buffers share the caches): the same step, timed in
    eight fresh processes, took from 338 to 373 µs. Spread over several sets, that
    luck moves the medians less. A peer left out of any set is left out of all
    (so that every remaining peer has one time per round, for the paired ratios).
    Returns ({peer: [seconds per call, round by round]}, {peer: its worker's info},
    {peer: why it was left out}).
    """
    if not 1 <= processes <= rounds:
        raise ValueError(f"processes must be between 1 and rounds ({rounds}); got {processes}")
    samples, infos, skipped = {}, {}, {}
    for k in range(processes):
        workers, why = start_workers(script, [p for p in peers if p not in skipped], case,
                                     env, warm_calls)
        skipped.update(why)
        try:
            share = rounds // processes + (k < rounds % processes)
            for peer, times in interleaved_rounds(workers, min_block, share).items():
                samples.setdefault(peer, []).extend(times)
        finally:
            for w in workers.values():
                w.close()
        for peer, w in workers.items():
            infos.setdefault(peer, w.info)
    return {p: t for p, t in samples.items() if p not in skipped}, infos, skipped


def print_skipped(skipped):
    """One line per peer and reason, from a list of {"peer", "case", "reason"}."""
    reasons = {}
    for s in skipped:
        reasons.setdefault((s["peer"], s["reason"]), []).append(s["case"])
    for (peer, reason), cases in reasons.items():
        print(f"left out {peer} ({len(cases)} case(s)): {reason}")


def paired_ratio(slow, fast):
    """Median over rounds of slow[i] / fast[i]: how many times faster ``fast`` is."""
    return statistics.median([s / f for s, f in zip(slow, fast)])


# --- what the numbers were measured on ---------------------------------------------------

def machine(env, threads, peak_size=None):
    """The machine, the libraries and their kernels, as the workers see them.

    Runs this module as a worker of its own (``--info``) with the workers' environment;
    with ``peak_size``, also times a ``peak_size``-cubed GEMM on each BLAS, one process
    per library (``--peak``).
    """
    info = _one_shot([__file__, "--info"], env)
    info["threads"] = threads if threads is not None else "library defaults"
    info["env"] = {k: env[k] for k in REPORTED_ENV if k in env}
    info["date"] = time.strftime("%Y-%m-%d %H:%M")
    if peak_size:
        info["gemm_peak"] = {}
        for lib in ("scipy", "numpy", "torch", "jax"):
            if lib in info["versions"]:
                info["gemm_peak"][lib] = _one_shot([__file__, "--peak", lib, str(peak_size)], env)
    return info


def describe(info):
    """The lines a benchmark prints above its table: machine, libraries, kernels, peaks."""
    v = info["versions"]
    lines = [f"{info['cpu']}, {info['cores']} cores ({', '.join(info['isa']) or 'no AVX'}), "
             f"threads: {info['threads']}, {info['date']}",
             "versions: " + ", ".join(f"{k} {v[k]}" for k in v)]
    for p in info["thread_pools"]:
        if p["user_api"] == "torch":
            lines.append(f"  torch: BLAS {p['internal_api']} ({p['version']}), kernels "
                         f"{p['cpu_capability']}, {p['num_threads']} threads")
        else:
            arch = f", core type {p['architecture']}" if p.get("architecture") else ""
            lines.append(f"  {p['internal_api']} {p.get('version') or ''} ({p['filepath']}): "
                         f"{p['num_threads']} threads{arch}")
    if info["env"]:
        lines.append("environment: " + " ".join(f"{k}={val}" for k, val in info["env"].items()))
    for lib, peak in info.get("gemm_peak", {}).items():
        lines.append(f"  GEMM peak {peak['n']}^3 on {lib}: float32 {peak['float32']:.1f}, "
                     f"float64 {peak['float64']:.1f} GFLOP/s")
    return "\n".join(lines)


def _one_shot(args, env):
    out = subprocess.run([sys.executable, *args], env=env, check=True, text=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out.splitlines()[-1])


def _info():
    import numpy
    import scipy
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, so that it is listed)

    import fastmlp
    import fastmlp._kernels.network  # noqa: F401  (loads fastmlp's OpenMP runtime)
    cpu, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    versions = {"python": sys.version.split()[0], "fastmlp": fastmlp.__version__,
                "numpy": numpy.__version__, "scipy": scipy.__version__}
    for name in ("torch", "jax", "jaxlib", "sklearn", "threadpoolctl"):
        module = optional(name)
        if module is not None:
            versions[name] = module.__version__
    return {"cpu": cpu, "cores": os.cpu_count(),
            "isa": [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                    if f in flags],
            "versions": versions, "thread_pools": thread_pools()}


def _peak(lib, n, calls=5):
    """GFLOP/s of the best of ``calls`` n x n x n products, in float32 and float64."""
    import numpy as np

    rng = np.random.default_rng(0)
    result = {"n": n, "calls": calls}
    for dtype in ("float32", "float64"):
        a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
        if lib == "numpy":
            c = np.empty((n, n), dtype)
            product = lambda: np.matmul(a, b, out=c)  # noqa: E731
        elif lib == "scipy":
            from scipy.linalg import blas
            gemm = blas.sgemm if dtype == "float32" else blas.dgemm
            af, bf, cf = (np.asfortranarray(x) for x in (a, b, np.empty((n, n), dtype)))
            product = lambda: gemm(1.0, af, bf, c=cf, overwrite_c=1)  # noqa: E731
        elif lib == "torch":
            import torch
            at, bt = torch.from_numpy(a), torch.from_numpy(b)
            ct = torch.empty((n, n), dtype=at.dtype)
            product = lambda: torch.mm(at, bt, out=ct)  # noqa: E731
        else:
            import jax
            jax.config.update("jax_enable_x64", True)
            aj, bj = jax.device_put(a), jax.device_put(b)
            mm = jax.jit(lambda x, y: x @ y)
            product = lambda: mm(aj, bj).block_until_ready()  # noqa: E731
        product()
        best = min(_seconds(product) for _ in range(calls))
        result[dtype] = 2 * n ** 3 / best / 1e9
    return result


def _seconds(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


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
    """nn.Sequential(Linear, Tanh, ..., Linear) + CrossEntropyLoss + ``torch.optim.SGD`` or
    ``torch.optim.Adam`` (``optimizer`` "sgd" or "adam", torch's defaults but ``lr``).

    Eager, or with ``compile=True`` through ``torch.compile`` as PyTorch's tutorials
    compile a training step: the forward pass and the loss as one compiled function
    (AOTAutograd compiles its backward too) and the optimizer's step compiled on its own;
    ``zero_grad`` and ``backward`` are called from Python, as in eager mode.
    """

    def __init__(self, torch, sizes, dtype, lr, optimizer="sgd", compile=False):
        tdtype = torch.float32 if dtype.__name__ == "float32" else torch.float64
        layers = []
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(n_in, n_out, dtype=tdtype))
            if l < len(sizes) - 2:
                layers.append(torch.nn.Tanh())
        self.torch = torch
        self.net = torch.nn.Sequential(*layers)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        rule = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
        self.opt = rule(self.net.parameters(), lr=lr)
        self._loss = lambda X, y: self.loss_fn(self.net(X), y)
        self._update = self.opt.step
        if compile:
            self._loss = torch.compile(self._loss)
            self._update = torch.compile(self.opt.step)

    def step(self, X, y):
        self.opt.zero_grad()
        loss = self._loss(X, y)
        loss.backward()
        self._update()
        return loss

    def predict(self, X):
        with self.torch.no_grad():
            return self.net(X).argmax(dim=1)


# --- the JAX peer ------------------------------------------------------------------------

class JaxMLP:
    """The tanh MLP as JAX users write it: the whole SGD step (forward, softmax
    cross-entropy, ``jax.value_and_grad``, update) is one ``jax.jit`` function, the
    parameters' buffers donated to the update. Glorot-scaled weights, zero biases.

    JAX dispatches asynchronously: ``step`` returns before the step is done, and
    ``sync`` waits for every step dispatched so far.
    """

    def __init__(self, sizes, dtype, lr, rng):
        import jax
        import jax.numpy as jnp

        if dtype.__name__ == "float64":
            jax.config.update("jax_enable_x64", True)
        params = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            W = rng.standard_normal((n_out, n_in)) * (2.0 / (n_in + n_out)) ** 0.5
            params.append((jnp.asarray(W.astype(dtype)), jnp.zeros(n_out, dtype=dtype)))
        self.params = params

        def loss_fn(params, X, y):
            a = X
            for W, b in params[:-1]:
                a = jnp.tanh(a @ W.T + b)
            W, b = params[-1]
            logp = jax.nn.log_softmax(a @ W.T + b)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def step(params, X, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, X, y)
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), loss

        self._step = jax.jit(step, donate_argnums=0)
        self._jax = jax

    def step(self, X, y):
        self.params, loss = self._step(self.params, X, y)
        return loss

    def sync(self):
        self._jax.block_until_ready(self.params)


if __name__ == "__main__":
    # The machine's description and GEMM peaks, each measured in a process of its own
    # (see ``machine``); the answer is the last line of stdout.
    limit_cpus()
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    if sys.argv[1] == "--info":
        answer = _info()
    else:
        answer = _peak(sys.argv[2], int(sys.argv[3]))
    print(json.dumps(answer), file=channel, flush=True)
