"""Data-parallel SGD over MPI: samples per second against the number of ranks, and the
time spent in Allreduce.

Every case trains a tanh MLP (float32, SGD lr 0.01, rows shuffled every epoch) on
8,192 synthetic rows with MNIST's shape (784 inputs, 10 classes: the speed does not
depend on the values), in a process (or an ``mpirun`` job) of its own: one call of
one epoch to warm up, then one timed call of ``--epochs`` epochs:

* fit: ``MLP.fit`` in one process, one BLAS thread (one compiled call per epoch);
* fit-2threads: the same with two BLAS threads: the other way to use two cores;
* mpi-1, mpi-2: ``fastmlp.distributed.fit`` on 1 and 2 ranks, one BLAS thread each
  (the batch is the global batch: each of 2 ranks computes half of it);
* mpi-2-local8: 2 ranks, local SGD averaging the parameters every 8 steps.

The distributed runs wrap the communicator so that every ``Allreduce`` is timed on
every rank: the time includes waiting for the slower rank, which on a busy machine
is most of it; after training, the worker also times the sum of a gradient-sized
buffer alone ("alone": both ranks enter together, after a barrier). Rounds interleave the peers (each round launches every peer once);
times are medians over rounds, and "x fit" (how many times the peer's throughput
is fit's) is the median over rounds of the per-round ratio.

Cases (layer sizes, global batch): a small model, [784, 100, 10] batch 64, where a
step is mostly overhead and communication; and large layers, [784, 1024, 1024, 10]
batch 256, where the matrix products dominate.

Local SGD's accuracy cost (``--only accuracy``; not timed): one ``mpirun -n 2`` job
and one ``mpirun -n 4`` job (4 ranks sharing the 2 cores) each train [784, 100, 10]
tanh, float32, SGD lr 0.05 with momentum 0.9, global batch 64, for 5 epochs on
MNIST-8k (the first 8,000 images of the test split in ../shared/data/mnist to
train, the last 2,000 to test), synchronously and with the parameters averaged
every 1, 4, 16 and 64 steps, from 3 seeds each; reports the median test accuracy
and final training loss, and the median over seeds of each run's difference from
the synchronous run of the same seed.

Writes benchmarks/results/bench_distributed.{csv,json} and
bench_distributed_local.{csv,json}.

Run:  python benchmarks/bench_distributed.py [--quick] [--rounds 5] [--epochs 2]
          [--only speed|accuracy] [--data-dir DIR]
Needs mpi4py and an MPI library (mpirun on PATH), and fastmlp installed.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from statistics import median

from _common import (MNIST_DIR, SETTLE, add_run_options, describe, machine, paired_ratio,
                     worker_env, write_results)

ROWS, N_IN, N_OUT, LR = 8192, 784, 10, 0.01
CASES = [([784, 100, 10], 64), ([784, 1024, 1024, 10], 256)]
# peer: (ranks, BLAS threads, average_every); ranks 0 is MLP.fit without MPI.
PEERS = {"fit": (0, 1, None), "fit-2threads": (0, 2, None), "mpi-1": (1, 1, None),
         "mpi-2": (2, 1, None), "mpi-2-local8": (2, 1, 8), "mpi-4": (4, 1, None)}
SPEED_PEERS = ["fit", "fit-2threads", "mpi-1", "mpi-2", "mpi-2-local8"]


# Local SGD's accuracy cost: averaging intervals (None: synchronous), seeds, settings.
LAUNCH_TIMEOUT = 1800  # seconds a launch may take
ALONE_CALLS = 21  # Allreduce calls timed alone, after training (the median is kept)
EVERY, SEEDS, LOCAL_EPOCHS = (None, 1, 4, 16, 64), (0, 1, 2), 5
LOCAL_RANKS = (2, 4)  # 4 ranks share the 2 cores: this part is not timed
LOCAL_SIZES, LOCAL_BATCH = [784, 100, 10], 64


class TimedComm:
    """A communicator whose Allreduce calls add up their seconds and count."""

    def __init__(self, comm):
        self.comm, self.seconds, self.calls = comm, 0.0, 0

    def Allreduce(self, *args, **kwargs):
        t = time.perf_counter()
        self.comm.Allreduce(*args, **kwargs)
        self.seconds += time.perf_counter() - t
        self.calls += 1

    def __getattr__(self, name):
        return getattr(self.comm, name)


def run(case):
    """The worker: train, time each epoch; print one JSON line (rank 0)."""
    if case.get("data_dir"):
        return run_accuracy(case["data_dir"])
    import numpy as np

    from fastmlp import MLP, distributed, optim

    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, N_IN)).astype(np.float32)
    y = rng.integers(0, N_OUT, ROWS)
    model = MLP(case["sizes"], dtype=np.float32, seed=0, init="xavier")
    opt = optim.SGD(LR)
    comm = None
    if case["ranks"]:
        from mpi4py import MPI
        comm = TimedComm(MPI.COMM_WORLD)
    for epochs in (1, case["epochs"]):  # the first call warms up
        if comm:
            comm.Barrier()
            comm.seconds, comm.calls = 0.0, 0
        t = time.perf_counter()
        if comm:
            distributed.fit(model, X, y, epochs=epochs, batch_size=case["batch"],
                            optimizer=opt, seed=epochs, average_every=case["average_every"],
                            comm=comm)
        else:
            model.fit(X, y, epochs=epochs, batch_size=case["batch"], optimizer=opt,
                      seed=epochs, progress=False)
        seconds = time.perf_counter() - t
    result = {"epoch_s": seconds / epochs, "allreduce_s": 0.0, "allreduce_calls": 0,
              "allreduce_alone_s": 0.0}
    if comm:
        # The slowest rank's time; each rank's Allreduce includes its wait for the other.
        result["epoch_s"] = comm.comm.allreduce(seconds, op=MPI.MAX) / epochs
        result["allreduce_s"] = comm.comm.allreduce(comm.seconds, op=MPI.MAX) / epochs
        result["allreduce_calls"] = comm.calls // epochs
        # The sum alone, with both ranks arriving together: the cost of communication
        # itself, apart from waiting for a rank that was descheduled.
        grads = np.zeros(model.n_params, dtype=np.float32)
        alone = []
        for _ in range(ALONE_CALLS):
            comm.Barrier()
            t = time.perf_counter()
            comm.comm.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)
            alone.append(time.perf_counter() - t)
        result["allreduce_alone_s"] = comm.comm.allreduce(median(alone), op=MPI.MAX)
        if comm.Get_rank():
            return
    print(json.dumps(result))


def run_accuracy(data_dir):
    """Every (average_every, seed) on MNIST-8k: test accuracy and last epoch's loss."""
    import numpy as np
    from mpi4py import MPI

    from fastmlp import MLP, datasets, distributed, optim

    X, y = datasets.load_mnist(data_dir, split="test")
    X = X.astype(np.float32)
    train, test = (slice(0, 8000), slice(8000, None))
    results = []
    for seed in SEEDS:
        for every in EVERY:
            model = MLP(LOCAL_SIZES, dtype=np.float32, seed=seed, init="xavier")
            history = distributed.fit(model, X[train], y[train], epochs=LOCAL_EPOCHS,
                                      batch_size=LOCAL_BATCH, seed=seed,
                                      optimizer=optim.SGD(0.05, momentum=0.9),
                                      average_every=every)
            results.append({"average_every": every, "seed": seed,
                            "test_accuracy": model.score(X[test], y[test]),
                            "train_loss": history.loss[-1]})
    if MPI.COMM_WORLD.Get_rank() == 0:
        print(json.dumps(results))


def accuracy(args, env, mpirun):
    rows = []
    for ranks in LOCAL_RANKS:
        found = launch(f"mpi-{ranks}", {"data_dir": args.data_dir}, env, mpirun)
        print(f"local SGD on {ranks} ranks: MNIST-8k, {LOCAL_SIZES} tanh, float32, SGD lr "
              f"0.05 momentum 0.9, global batch {LOCAL_BATCH}, {LOCAL_EPOCHS} epochs, seeds "
              f"{SEEDS}")
        print(f"{'averaging':>12} {'test accuracy':>14} {'vs sync':>8} {'train loss':>11} "
              f"{'vs sync':>8}")
        sync = {r["seed"]: r for r in found if r["average_every"] is None}
        for every in EVERY:
            runs = [r for r in found if r["average_every"] == every]
            row = {"ranks": ranks, "average_every": every or "sync",
                   "test_accuracy": round(median(r["test_accuracy"] for r in runs), 4),
                   "accuracy_vs_sync": round(median(r["test_accuracy"]
                                                    - sync[r["seed"]]["test_accuracy"]
                                                    for r in runs), 4),
                   "train_loss": round(median(r["train_loss"] for r in runs), 4),
                   "loss_vs_sync": round(median(r["train_loss"]
                                                - sync[r["seed"]]["train_loss"]
                                                for r in runs), 4),
                   "seeds": len(runs)}
            rows.append(row)
            label = "sync" if every is None else f"every {every}"
            print(f"{label:>12} {row['test_accuracy']:14.4f} {row['accuracy_vs_sync']:+8.4f} "
                  f"{row['train_loss']:11.4f} {row['loss_vs_sync']:+8.4f}", flush=True)
    return rows


def speed(args, env, mpirun):
    rounds = args.rounds or (2 if args.quick else 5)
    epochs = args.epochs or (1 if args.quick else 2)
    rows = []
    print(f"{ROWS} rows x {N_IN}, float32, SGD, {epochs} timed epoch(s) a launch, "
          f"{rounds} rounds; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}")
    print(f"{'layers, batch':26} {'peer':13} {'s/epoch':>8} {'samples/s':>10} {'x fit':>6} "
          f"{'Allreduce s/epoch':>18} {'share':>6} {'calls':>6} {'alone ms':>9}")
    for sizes, batch in CASES:
        case = {"sizes": sizes, "batch": batch, "epochs": epochs}
        runs = {peer: [] for peer in SPEED_PEERS}
        for _ in range(rounds):
            for peer in SPEED_PEERS:
                time.sleep(SETTLE)
                runs[peer].append(launch(peer, case, env, mpirun))
        fit = [r["epoch_s"] for r in runs["fit"]]
        for peer, results in runs.items():
            epoch_s = [r["epoch_s"] for r in results]
            allreduce = median(r["allreduce_s"] for r in results)
            row = {"sizes": str(sizes), "batch": batch, "peer": peer,
                   "ranks": PEERS[peer][0] or 1, "epoch_s": round(median(epoch_s), 4),
                   "samples_per_s": round(ROWS / median(epoch_s)),
                   "x_fit_throughput": round(paired_ratio(fit, epoch_s), 3),
                   "allreduce_s_per_epoch": round(allreduce, 4),
                   "allreduce_share": round(allreduce / median(epoch_s), 3),
                   "allreduce_calls_per_epoch": results[0]["allreduce_calls"],
                   "allreduce_alone_ms": round(median(r["allreduce_alone_s"]
                                                      for r in results) * 1e3, 3),
                   "rounds": rounds}
            rows.append(row)
            print(f"{str(sizes) + f', b{batch}':26} {peer:13} {row['epoch_s']:8.3f} "
                  f"{row['samples_per_s']:10d} {row['x_fit_throughput']:6.2f} "
                  f"{row['allreduce_s_per_epoch']:18.4f} {row['allreduce_share']:6.2f} "
                  f"{row['allreduce_calls_per_epoch']:6d} {row['allreduce_alone_ms']:9.3f}", flush=True)
    return rows


def launchers(env):
    """{ranks: the mpirun command for them} (``fastmlp.distributed.launcher``, asked in
    a process of its own: the parent imports no numerical library)."""
    code = ("import json; from fastmlp.distributed import launcher; "
            "print(json.dumps({n: launcher(n) for n in (1, 2, 4)}))")
    found = json.loads(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                      text=True, stdout=subprocess.PIPE).stdout)
    if found["1"] is None:
        sys.exit("bench_distributed: no mpirun or mpiexec on PATH (install an MPI library)")
    return {int(n): command for n, command in found.items()}


def launch(peer, case, env, mpirun):
    ranks, threads, every = PEERS[peer]
    case = dict(case, ranks=ranks, average_every=every)
    env = dict(env, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), OMPI_MCA_btl_tcp_if_include="lo")
    command = [sys.executable, __file__, "--run", json.dumps(case)]
    if ranks:
        command = mpirun[ranks] + command
    proc = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.terminate()  # mpirun passes SIGTERM on to its ranks (SIGKILL would orphan them)
        proc.communicate()
        raise
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, command)
    return json.loads(out.splitlines()[-1])


def main():
    if sys.argv[1:2] == ["--run"]:
        run(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_options(parser, rounds=5)
    parser.add_argument("--epochs", type=int, default=None,
                        help="timed epochs a launch (default 2; --quick 1)")
    parser.add_argument("--only", choices=["speed", "accuracy"], default=None,
                        help="run one of the two parts")
    parser.add_argument("--data-dir", default=str(MNIST_DIR),
                        help="folder with the MNIST IDX files (the accuracy part)")
    args = parser.parse_args()
    if args.threads is not None:
        sys.exit("bench_distributed: the thread counts are part of each peer (1 BLAS thread "
                 "per rank, fit-2threads 2): --threads is not taken")
    env = worker_env(1)
    mpirun = launchers(env)
    info = machine(env, "1 per process (fit-2threads: 2)")
    print(describe(info))
    if args.only != "accuracy":
        out = write_results("bench_distributed", info, speed(args, env, mpirun))
        print(f"wrote {out} and {out.with_suffix('.csv')}")
    if args.only != "speed":
        out = write_results("bench_distributed_local", info, accuracy(args, env, mpirun))
        print(f"wrote {out} and {out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
