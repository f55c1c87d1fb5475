"""A whole fit on real MNIST digits: epoch time and test accuracy, side by side.

MLP 784-300-10, tanh, softmax cross-entropy, SGD lr 0.1, batch 32, 5 epochs,
rows shuffled every epoch, on the MNIST test set in ../shared/data/mnist (the
first 8,000 images to train, the last 2,000 to test), for:

* fastmlp: ``MLP.fit`` (one compiled call per epoch), one epoch per call so
  each epoch is timed;
* numpy: a plain NumPy training loop over ``fastmlp.reference``'s kernels;
* torch: nn.Sequential + CrossEntropyLoss + optim.SGD over shuffled index
  batches (if installed);
* sklearn: ``MLPClassifier(solver="sgd")`` with the same settings, one
  ``partial_fit`` per epoch over rows we shuffle ourselves (if installed).

All start from Glorot-scaled weights (fastmlp's init="xavier", sklearn's own).
Reports the median seconds per epoch, how many times faster fastmlp is, and
the test accuracy after the last epoch; writes benchmarks/results/bench_fit.*.

Run:  python benchmarks/bench_fit.py [--threads N] [--repeat 3] [--data-dir DIR]
"""
import sys

from _common import set_threads

THREADS = set_threads(sys.argv)

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from _common import MNIST_DIR, NumpyMLP, TorchMLP, machine, optional, write_results  # noqa: E402
from fastmlp import MLP, datasets  # noqa: E402

SIZES, LR, BATCH, EPOCHS = [784, 300, 10], 0.1, 32, 5


def run_fastmlp(data, dtype, seed):
    X, y, Xt, yt = data
    model = MLP(SIZES, dtype=dtype, seed=seed, init="xavier")
    times = []
    for epoch in range(EPOCHS):
        t = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=BATCH, lr=LR, progress=False, seed=seed + epoch)
        times.append(time.perf_counter() - t)
    return times, model.score(Xt, yt)


def run_numpy(data, dtype, seed):
    X, y, Xt, yt = data
    rng = np.random.default_rng(seed)
    model = NumpyMLP(SIZES, dtype, rng)
    times = []
    for _ in range(EPOCHS):
        t = time.perf_counter()
        order = rng.permutation(len(X))
        for i in range(0, len(X), BATCH):
            rows = order[i:i + BATCH]
            model.step(X[rows], y[rows], LR)
        times.append(time.perf_counter() - t)
    return times, float(np.mean(model.predict(Xt) == yt))


def run_torch(torch, data, dtype, seed):
    X, y, Xt, yt = data
    torch.manual_seed(seed)
    model = TorchMLP(torch, SIZES, dtype, LR)
    X, y = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    times = []
    for _ in range(EPOCHS):
        t = time.perf_counter()
        order = torch.randperm(len(X))
        for i in range(0, len(X), BATCH):
            rows = order[i:i + BATCH]
            model.step(X[rows], y[rows])
        times.append(time.perf_counter() - t)
    pred = model.predict(torch.from_numpy(Xt)).numpy()
    return times, float(np.mean(pred == yt))


def run_sklearn(sklearn, data, dtype, seed):
    from sklearn.neural_network import MLPClassifier

    X, y, Xt, yt = data
    rng = np.random.default_rng(seed)
    model = MLPClassifier(hidden_layer_sizes=(SIZES[1],), activation="tanh", solver="sgd",
                          learning_rate_init=LR, batch_size=BATCH, momentum=0.0, alpha=0.0,
                          shuffle=False, random_state=seed)
    times = []
    classes = np.arange(SIZES[-1])
    for _ in range(EPOCHS):
        t = time.perf_counter()
        order = rng.permutation(len(X))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(X[order], y[order], classes=classes)
        times.append(time.perf_counter() - t)
    return times, float(model.score(Xt, yt))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads for BLAS, OpenMP and torch (default: all cores)")
    parser.add_argument("--data-dir", default=str(MNIST_DIR), help="folder with the MNIST IDX files")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeat", type=int, default=3, help="whole runs per implementation")
    parser.add_argument("--quick", action="store_true", help="one run each: a smoke run")
    args = parser.parse_args()
    try:
        X, y = datasets.load_mnist(args.data_dir, split="test")
    except FileNotFoundError as exc:
        sys.exit(f"bench_fit: {exc}")
    dtype = np.dtype(args.dtype).type
    X = X.astype(dtype)
    data = (np.ascontiguousarray(X[:8000]), y[:8000], np.ascontiguousarray(X[8000:]), y[8000:])
    torch, sklearn = optional("torch"), optional("sklearn")
    if torch is not None:
        torch.set_num_threads(args.threads)
    runners = {"fastmlp": lambda s: run_fastmlp(data, dtype, s),
               "numpy": lambda s: run_numpy(data, dtype, s)}
    if torch is not None:
        runners["torch"] = lambda s: run_torch(torch, data, dtype, s)
    if sklearn is not None:
        runners["sklearn"] = lambda s: run_sklearn(sklearn, data, dtype, s)
    info = machine(args.threads)
    print(f"{info['cpu']}, {info['cores']} cores, {args.threads} threads, {info['date']}")
    print(f"MNIST 8,000 train / 2,000 test, {SIZES} tanh, SGD lr {LR}, batch {BATCH}, "
          f"{EPOCHS} epochs, {args.dtype}")
    epoch_times = {name: [] for name in runners}
    accuracy = {name: [] for name in runners}
    for rep in range(1 if args.quick else args.repeat):
        for name, run in runners.items():  # round-robin over implementations
            times, acc = run(rep)
            epoch_times[name] += times
            accuracy[name].append(acc)
            time.sleep(0.2)  # let this library's thread pool fall asleep
    med = {name: float(np.median(t)) for name, t in epoch_times.items()}
    rows = []
    print(f"{'implementation':15} {'s/epoch':>9} {'fastmlp is':>11} {'test accuracy':>14}")
    for name in runners:
        acc = float(np.median(accuracy[name]))
        ratio = med[name] / med["fastmlp"]
        rows.append({"implementation": name, "dtype": args.dtype,
                     "epoch_s": round(med[name], 4), "x_fastmlp_faster": round(ratio, 2),
                     "test_accuracy": round(acc, 4)})
        print(f"{name:15} {med[name]:9.3f} {ratio:10.2f}x {acc:14.4f}")
    out = write_results("bench_fit", info, rows)
    print(f"wrote {out} and {out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
