"""The ``fastmlp`` command line: train, sweep and evaluate on circles or MNIST.

Usage::

    fastmlp train [--data circles|mnist] [--hidden N ...] [--epochs N] [--lr LR]
                  [--batch-size N|full] [--plot FILE.png] [--save FILE.npz] ...
    mpirun -n 4 fastmlp train --distributed [--average-every K] [train's options]
    fastmlp sweep --lr 0.01 0.1 1 --batch-size 1 32 full [--variants] [--heatmap FILE.png]
                  [--table STEM] [--scheduler tcp://HOST:PORT | --workers N]
                  [train's data and model options]
    fastmlp gradient-cost [--layers 1 2 4 8] [--width N] [--plot FILE.png]
    fastmlp svm [--samples N] [--noise S] [--hidden N] [--epochs N] [--plot FILE.png]
    fastmlp evaluate MODEL.npz [--data circles|mnist] [--data-dir DIR] [--seed S]

``python -m fastmlp`` is the same command.

Design
------
The command line is thin: it parses, loads data through ``fastmlp.datasets``,
builds and trains ``fastmlp.MLP``, prints, and draws with ``fastmlp.plotting``.
Option values are checked with the library's own rules (``fastmlp._validation``,
the checks ``MLP.fit`` applies), so the rules live in one place.

Nothing is trained until everything that could fail after training has been
checked: every option value (each learning rate and batch size of a sweep,
not only the first), and every output path (``--save``, ``--plot``: the
folder exists and is writable, the path is not a folder, ``--save`` and
``--plot`` are different files). Then the data is loaded and the model built;
a model too large for memory is an error naming ``--hidden``.

A sweep runs its configurations as tasks on Dask (``fastmlp.dask``) when it is
installed: on ``--scheduler``, or on a local cluster of ``--workers`` processes (by
default one single-threaded process per core, no more than there are runs);
``--workers 0``, or Dask missing, trains them one after another here.

Exit codes: 0 on success; 1 when training diverged; 2 for bad input (argparse
usage errors, missing or invalid data or model files, option values the
library rejects, output paths that cannot be written, a model or batch too
large for memory), reported as one ``fastmlp: error: ...`` line on stderr with
no traceback; 130 when Ctrl-C arrives outside training (Ctrl-C during training
stops it early, and the command reports what was trained so far).
"""
import argparse
import contextlib
import io
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import datasets
from .callbacks import EpochTimer
from ._validation import (check_clip, check_dropout, check_int, check_output_path,
                          check_seed, check_sgd_settings)
from .model import ACTIVATIONS, INITS, LOSSES, MLP

__all__ = ["main"]

DATASETS = ("circles", "mnist")
# Per-dataset defaults of the options left unset on the command line.
DEFAULTS = {
    "circles": {"hidden": [10], "epochs": 50, "batch_size": 32, "lr": 0.1, "init": "normal"},
    "mnist": {"hidden": [300], "epochs": 10, "batch_size": 32, "lr": 0.1, "init": "xavier"},
}
CIRCLES_SAMPLES = 2000  # 1500 to train, 500 to test
CIRCLES_TEST_FRACTION = 0.25
MNIST_FALLBACK_TRAIN = 8000  # of the 10,000 test images, when the train split is missing
MNIST_IMAGE_SHAPE = (28, 28)


# --- data ------------------------------------------------------------------------------

@dataclass
class Data:
    """A dataset split for training and testing."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple = None

    @property
    def n_features(self):
        return self.X_train.shape[1]

    @property
    def n_classes(self):
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def describe(self):
        return (f"{self.name}: {len(self.y_train)} training and {len(self.y_test)} test "
                f"samples, {self.n_features} features, {self.n_classes} classes")


def _note(message):
    print(f"fastmlp: note: {message}", file=sys.stderr)


def load_data(args):
    """The training and test data named by ``--data`` (with ``--data-dir``, ``--seed``)."""
    if args.data == "circles":
        X, y = datasets.circles(n_samples=CIRCLES_SAMPLES, seed=args.seed)
        X_train, X_test, y_train, y_test = datasets.train_test_split(
            X, y, test_size=CIRCLES_TEST_FRACTION, seed=args.seed)
        return Data("circles", X_train, y_train, X_test, y_test)

    directory = args.data_dir
    try:
        X_train, y_train = datasets.load_mnist(directory, "train", download=args.download)
        X_test, y_test = datasets.load_mnist(directory, "test", download=args.download)
    except FileNotFoundError as missing:
        # A folder with only the test split (like the project's shared copy): split it.
        try:
            X, y = datasets.load_mnist(directory, "test", download=False)
        except FileNotFoundError:
            raise missing from None
        n_train = min(MNIST_FALLBACK_TRAIN, (4 * len(y)) // 5)
        _note(f"the MNIST training files are not in {directory}; using the first "
              f"{n_train:,} of its {len(y):,} test images to train and the last "
              f"{len(y) - n_train:,} to test (--download fetches the training set)")
        X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    return Data("mnist", X_train, y_train, X_test, y_test, image_shape=MNIST_IMAGE_SHAPE)


def targets(model, y):
    """What the model is trained on: the labels, or one-hot rows for an MSE model."""
    if model.loss_name == "mse":
        return np.eye(model.layer_sizes[-1], dtype=model.dtype)[y]
    return y


def accuracy(model, X, y):
    """Fraction of rows whose largest output is the label (any loss)."""
    return float(np.mean(model.forward(X).argmax(axis=1) == y))


def evaluate_on(model, X, y):
    """(loss, accuracy) of the model on (X, labels y)."""
    return float(model.loss(X, targets(model, y))), accuracy(model, X, y)


# --- options ---------------------------------------------------------------------------

SWEEP_LRS = [0.01, 0.1, 1.0]  # sweep's learning rates by default
FULL = "full"  # --batch-size full: full-batch gradient descent (fit's batch_size=None)


def _batch_size(text):
    """``--batch-size`` values: an integer (checked by fit), or ``full``."""
    if text.lower() == FULL:
        return FULL
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid batch size {text!r}: expected an integer or 'full'") from None


def _fit_batch(batch_size):
    return None if batch_size == FULL else batch_size


def _settings(args, *names):
    """The options in ``names``, with the dataset's defaults for those left unset."""
    out = {}
    for name in names:
        value = getattr(args, name)
        out[name] = DEFAULTS[args.data][name] if value is None else value
    return out


def _option(option, check, *check_args, **check_kwargs):
    """``check(*check_args, **check_kwargs)``, its error prefixed with the option."""
    try:
        return check(*check_args, **check_kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{option}: {exc}") from None


def _check_training(args, hidden, epochs, batch_sizes, lrs):
    """The model and training options, with the rules ``MLP`` and ``fit`` apply, before
    any data is loaded: a sweep passes all its learning rates and batch sizes, so that
    the last one fails before the first is trained."""
    _option("--seed", check_seed, args.seed)
    for i, size in enumerate(hidden, start=1):
        _option("--hidden", check_int, size, f"layer_sizes[{i}]", 1)
    _option("--epochs", check_int, epochs, "epochs", 1)
    for batch_size in batch_sizes:
        if batch_size != FULL:
            _option("--batch-size", check_int, batch_size, "batch_size", 1)
    # The rule fit applies, in the model's dtype (1e39 is no float32 learning rate).
    for lr in lrs:
        _option("--lr", check_sgd_settings, lr, 0.0, False, 0.0, args.dtype)
    _option("--momentum", check_sgd_settings, lrs[0], args.momentum, False, 0.0, args.dtype)


def _check_outputs(args):
    """The output files (``--plot``, and ``--save`` for train), checked before any
    work that a failed write would lose; returns {option: the path with links resolved}."""
    outputs = {}
    if args.plot is not None:
        from .plotting import _png_path
        _option("--plot", _png_path, args.plot)
        outputs["--plot"] = check_output_path(args.plot, "--plot")
    if getattr(args, "save", None) is not None:
        outputs["--save"] = check_output_path(args.save, "--save")
        if outputs["--save"] == outputs.get("--plot"):
            raise ValueError(f"--save {args.save} and --plot {args.plot} are the same file: "
                             f"the figure would overwrite the model")
    return outputs


def _build_model(args, data, hidden, init):
    sizes = [data.n_features, *hidden, data.n_classes]
    try:
        return MLP(sizes, activation=args.activation, loss=args.loss, dtype=args.dtype,
                   seed=args.seed, init=init)
    except (MemoryError, OverflowError, ValueError) as exc:
        # The sizes passed _check_training: what is left is their product.
        raise ValueError(f"--hidden {' '.join(map(str, hidden))}: cannot build a model with "
                         f"layer sizes {sizes}: {exc}") from None


def _fit(model, data, epochs, batch_size, lr, args, callbacks=None):
    """``model.fit`` on ``data`` with the options (``distributed.fit`` with
    ``--distributed``); the History."""
    try:
        if getattr(args, "distributed", False):
            from . import distributed, optim
            return distributed.fit(model, data.X_train, targets(model, data.y_train),
                                   epochs=epochs, batch_size=_fit_batch(batch_size),
                                   optimizer=optim.SGD(lr, momentum=args.momentum),
                                   validation_data=(data.X_test, targets(model, data.y_test)),
                                   seed=args.seed, average_every=args.average_every)
        return model.fit(data.X_train, targets(model, data.y_train), epochs=epochs,
                         batch_size=_fit_batch(batch_size), lr=lr, momentum=args.momentum,
                         validation_data=(data.X_test, targets(model, data.y_test)),
                         progress=not args.no_progress, seed=args.seed, callbacks=callbacks,
                         dropout=getattr(args, "dropout", 0.0),
                         clip_grad_norm=getattr(args, "clip_grad_norm", None))
    except MemoryError as exc:  # the workspace: a batch through every layer
        raise MemoryError(f"--batch-size {batch_size} with layer sizes "
                          f"{list(model.layer_sizes)} (--hidden): training needs more memory "
                          f"than there is: {exc}") from None


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _table(rows, header):
    """Right-aligned columns; the first column left-aligned."""
    rows = [header] + rows
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = []
    for r in rows:
        cells = [str(r[0]).ljust(widths[0])]
        cells += [str(c).rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


# --- commands --------------------------------------------------------------------------

def cmd_train(args):
    s = _settings(args, "hidden", "epochs", "batch_size", "lr", "init")
    _check_training(args, s["hidden"], s["epochs"], [s["batch_size"]], [s["lr"]])
    if args.average_every is not None:
        if not args.distributed:
            raise ValueError("--average-every is local SGD over MPI: pass --distributed too")
        _option("--average-every", check_int, args.average_every, "average_every", 1)
    _option("--dropout", check_dropout, args.dropout, len(s["hidden"]))
    if args.clip_grad_norm is not None:
        _option("--clip-grad-norm", check_clip, args.clip_grad_norm, "clip_grad_norm",
                args.dtype)
    ranks, rank = 1, 0
    if args.distributed:
        if args.dropout or args.clip_grad_norm is not None:
            raise ValueError("--dropout and --clip-grad-norm are not available with "
                             "--distributed (fastmlp.distributed.fit has neither)")
        from .distributed import mpi
        try:
            comm = mpi().COMM_WORLD
        except ImportError as exc:
            raise ValueError(f"--distributed: {exc}") from None
        ranks, rank = comm.Get_size(), comm.Get_rank()
    # Every rank trains; rank 0 alone reports, saves and plots.
    with contextlib.redirect_stdout(io.StringIO()) if rank else contextlib.nullcontext():
        return _train(args, s, ranks, rank)


def _train(args, s, ranks, rank):
    outputs = _check_outputs(args)
    data = load_data(args)
    model = _build_model(args, data, s["hidden"], s["init"])
    print(data.describe())
    print(f"model: {model!r}, init={s['init']!r}, seed={args.seed}")
    print(f"training: {_plural(s['epochs'], 'epoch')}, batch size "
          f"{s['batch_size']}, lr {s['lr']:g}, momentum {args.momentum:g}"
          + (f", dropout {args.dropout:g}" if args.dropout else "")
          + ("" if args.clip_grad_norm is None else
             f", gradients clipped to norm {args.clip_grad_norm:g}"))
    if args.distributed:
        local = ("" if args.average_every is None else
                 f", local SGD averaging every {_plural(args.average_every, 'step')}")
        print(f"data-parallel over MPI: {_plural(ranks, 'rank')}{local}")
    start = time.perf_counter()
    history = _fit(model, data, s["epochs"], s["batch_size"], s["lr"], args)
    seconds = time.perf_counter() - start
    if history.interrupted:
        _note(f"training interrupted after {history.epochs} epoch(s)")
    print(f"trained {_plural(history.epochs, 'epoch')} in {seconds:.2f} s")
    train, test = (evaluate_on(model, data.X_train, data.y_train),
                   evaluate_on(model, data.X_test, data.y_test))
    if not np.isfinite(train[0]):
        # fit checks the loss before each step; the last step can still overflow.
        raise FloatingPointError(f"training diverged: the training loss is {train[0]} after "
                                 f"the last epoch. Try a lower learning rate than "
                                 f"lr={s['lr']:g}.")
    rows = [[split, f"{loss:.4f}", f"{acc:.4f}"]
            for split, (loss, acc) in (("train", train), ("test", test))]
    print(_table(rows, ["", "loss", "accuracy"]))

    if rank != 0:
        return 0
    if args.save is not None:
        model.save(outputs["--save"])  # resolved: model.save would replace a link itself
        print(f"saved the model to {args.save}")
    if args.plot is not None and history.epochs == 0:
        _note(f"no figure written to {args.plot}: no epoch was completed")
    elif args.plot is not None:
        from . import plotting
        title = (f"{data.name}: layers {list(model.layer_sizes)}, {model.activation}, "
                 f"{model.loss_name}, lr {s['lr']:g}, batch size {s['batch_size']}")
        if data.image_shape is not None:
            fig = plotting.plot_training(history, model, image_shape=data.image_shape,
                                         title=title, val_label="test")
        else:
            fig = plotting.plot_training(history, model, data.X_train, data.y_train,
                                         title=title, val_label="test")
        plotting.save_figure(fig, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _sweep_one(args, data, s, lr, batch_size):
    """Train one configuration of a sweep: {"result": what the figures take, "row": the
    printed table's cells, "record": the table files' fields}. A run that diverges is
    reported as such (TrainingDivergedError is caught), never raised."""
    from .model import TrainingDivergedError
    model = _build_model(args, data, s["hidden"], s["init"])
    diverged_in, train_loss, test_loss, test_acc = None, None, None, None
    clock = EpochTimer()
    try:
        history = _fit(model, data, s["epochs"], batch_size, lr, args, [clock])
    except TrainingDivergedError as exc:
        history, diverged_in = exc.history, exc.history.epochs + 1
    else:
        train_loss, _ = evaluate_on(model, data.X_train, data.y_train)
        if not np.isfinite(train_loss):  # the last step overflowed
            diverged_in, train_loss = history.epochs, None
    if diverged_in is None:
        test_loss, test_acc = evaluate_on(model, data.X_test, data.y_test)
        row = [f"{lr:g}", batch_size, f"{train_loss:.4f}", f"{test_loss:.4f}",
               f"{test_acc:.4f}"]
    else:
        row = [f"{lr:g}", batch_size, f"diverged in epoch {diverged_in}", "", ""]
    return {"result": {"lr": lr, "batch_size": batch_size, "history": history,
                       "diverged": diverged_in is not None, "val_label": "test",
                       "seconds": clock.seconds[:history.epochs]},
            "row": row,
            "record": {"lr": lr, "batch_size": batch_size, "epochs": history.epochs,
                       "diverged": diverged_in is not None, "diverged_in_epoch": diverged_in,
                       "train_loss": train_loss, "test_loss": test_loss,
                       "test_accuracy": test_acc, "seconds": float(sum(clock.seconds))}}


def _sweep_serial(args, data, s, grid):
    """The sweep's runs one after another in this process (Ctrl-C ends it early)."""
    runs = []
    for lr, batch_size in grid:
        if not args.no_progress:
            print(f"lr {lr:g}, batch size {batch_size}", file=sys.stderr)
        runs.append(_sweep_one(args, data, s, lr, batch_size))
        if runs[-1]["result"]["history"].interrupted:
            _note("sweep interrupted; reporting the runs so far")
            break
    return runs


def _sweep_on_dask(args, data, s, grid):
    """The sweep's runs as tasks on a Dask cluster (``--scheduler``, ``--workers``, or
    a local cluster of one single-threaded process per core); serial, with a note,
    when Dask is not installed and neither option was given. Runs come back as they
    finish (a progress bar); a worker lost mid-sweep has its runs rerun by Dask.
    Ctrl-C cancels the rest and reports the runs finished so far."""
    try:
        from . import dask as fdask
    except ImportError:
        if args.scheduler is not None or args.workers is not None:
            raise ValueError("--scheduler and --workers need Dask: pip install "
                             '"fastmlp[distributed]" (or run without them, serially)')
        _note('Dask is not installed: the runs are trained one after another here '
              '(pip install "fastmlp[distributed]" runs them in parallel)')
        return _sweep_serial(args, data, s, grid)
    import distributed
    from tqdm.auto import tqdm
    if args.scheduler is not None:
        cluster, client = None, distributed.Client(args.scheduler, timeout="30s")
        # Removed when the sweep ends: its teardown gives the workers back their threads.
        client.register_plugin(fdask.PinThreads())
    else:
        # No more workers than runs: with fewer, each gets more BLAS threads.
        cluster = fdask.local_cluster(args.workers or min(fdask.usable_cores(), len(grid)))
        client = distributed.Client(cluster)
    quiet = argparse.Namespace(**{**vars(args), "no_progress": True})
    try:
        shared = client.scatter(data, broadcast=True)
        futures = {client.submit(_sweep_one, quiet, shared, s, lr, batch_size, pure=False):
                   i for i, (lr, batch_size) in enumerate(grid)}
        runs = [None] * len(grid)
        with tqdm(total=len(grid), unit="run", disable=args.no_progress,
                  desc=f"sweep on {len(client.scheduler_info()['workers'])} Dask workers",
                  file=sys.stderr) as bar:
            try:
                for future in distributed.as_completed(futures):
                    runs[futures[future]] = future.result()
                    bar.update()
            except KeyboardInterrupt:
                client.cancel(list(futures))
                _note("sweep interrupted; reporting the runs so far")
        return [run for run in runs if run is not None]
    finally:
        if cluster is None:
            client.unregister_worker_plugin(fdask.PinThreads.name)
        client.close()
        if cluster is not None:
            cluster.close()


def _write_table(runs, stem):
    """The sweep's table as ``stem.csv`` and ``stem.json`` (a list of records)."""
    import csv
    import json
    records = [run["record"] for run in runs]
    fields = list(records[0]) if records else ["lr", "batch_size"]
    with open(f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in records)
    with open(f"{stem}.json", "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")


def cmd_sweep(args):
    s = _settings(args, "hidden", "epochs", "init")
    # --variants compares the batch sizes at one learning rate unless told otherwise.
    lrs = args.lr or ([DEFAULTS[args.data]["lr"]] if args.variants else SWEEP_LRS)
    lrs = list(dict.fromkeys(lrs))
    batch_sizes = list(dict.fromkeys(args.batch_size or [DEFAULTS[args.data]["batch_size"]]))
    _check_training(args, s["hidden"], s["epochs"], batch_sizes, lrs)
    outputs = _check_outputs(args)
    if args.heatmap is not None:
        from .plotting import _png_path
        _option("--heatmap", _png_path, args.heatmap)
        if check_output_path(args.heatmap, "--heatmap") == outputs.get("--plot"):
            raise ValueError(f"--heatmap {args.heatmap} and --plot {args.plot} are the same "
                             f"file")
    if args.table is not None:
        for suffix in (".csv", ".json"):
            check_output_path(args.table + suffix, "--table")
    if args.workers is not None:
        _option("--workers", check_int, args.workers, "workers", 0)
    data = load_data(args)
    print(data.describe())
    print(f"sweep: {_plural(len(lrs) * len(batch_sizes), 'run')} of "
          f"{_plural(s['epochs'], 'epoch')}, layers "
          f"{[data.n_features, *s['hidden'], data.n_classes]}, {args.activation}, "
          f"{args.loss}, init {s['init']!r}, seed {args.seed}")
    grid = [(lr, batch_size) for batch_size in batch_sizes for lr in lrs]
    runs = (_sweep_serial if args.workers == 0 else _sweep_on_dask)(args, data, s, grid)
    results = [run["result"] for run in runs]
    rows = [run["row"] for run in runs]
    print(_table(rows, ["lr", "batch size", "train loss", "test loss", "test accuracy"]))
    if args.table is not None:
        _write_table(runs, args.table)
        print(f"wrote {args.table}.csv and {args.table}.json")
    if args.plot is not None:
        from . import plotting
        title = (f"{data.name}: layers {[data.n_features, *s['hidden'], data.n_classes]}, "
                 f"{args.activation}, {args.loss}, seed {args.seed}")
        plot = plotting.plot_variants if args.variants else plotting.plot_sweep
        plotting.save_figure(plot(results, title=title), args.plot)
        print(f"wrote {args.plot}")
    if args.heatmap is not None:
        from . import plotting
        title = f"{data.name}: final test accuracy after {_plural(s['epochs'], 'epoch')}"
        plotting.save_figure(plotting.plot_sweep_heatmap(results, title=title), args.heatmap)
        print(f"wrote {args.heatmap}")
    return 0


def cmd_gradient_cost(args):
    for n in args.layers:
        _option("--layers", check_int, n, "layers", 1)
    _option("--width", check_int, args.width, "width", 1)
    _option("--samples", check_int, args.samples, "samples", 1)
    _option("--seed", check_seed, args.seed)
    _check_outputs(args)
    from .gradcheck import gradient_costs
    print(f"full gradient of a float64 tanh network ({args.width} units a hidden layer, "
          f"{args.samples} rows): backpropagation against central differences")
    rows = []
    costs = gradient_costs(args.layers, width=args.width, n_samples=args.samples,
                           seed=args.seed)
    for c in costs:
        rows.append([c["n_layers"], c["n_params"], f"{1e3 * c['backprop_seconds']:.3f}",
                     f"{1e3 * c['numerical_seconds']:.1f}",
                     f"{c['numerical_seconds'] / c['backprop_seconds']:.0f}",
                     f"{c['max_rel_error']:.1e}"])
    print(_table(rows, ["layers", "parameters", "backprop ms", "differences ms", "ratio",
                        "max rel. error"]))
    if args.plot is not None:
        from . import plotting
        plotting.save_figure(plotting.plot_gradient_cost(costs), args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_svm(args):
    _option("--samples", check_int, args.samples, "samples", 8)
    _option("--hidden", check_int, args.hidden, "hidden", 1)
    _option("--epochs", check_int, args.epochs, "epochs", 1)
    _option("--seed", check_seed, args.seed)
    if not args.noise >= 0:
        raise ValueError(f"--noise must be >= 0; got {args.noise!r}")
    _check_outputs(args)
    from .course import svm_bonus
    models, (X_train, y_train, X_test, y_test), note = svm_bonus(
        args.samples, noise=args.noise, seed=args.seed, hidden=args.hidden, epochs=args.epochs)
    print(f"two circles: {len(X_train)} points to train, {len(X_test)} to test")
    print(_table([[name, f"{score:.3f}"] for name, _, score in models],
                 ["model", "test accuracy"]))
    if note is not None:
        _note(note)
    if args.plot is not None:
        from . import plotting
        fig = plotting.plot_classifiers(models, X_test, y_test,
                                        title="the two circles: a linear SVM, a kernel SVM "
                                              "and an MLP (test points)")
        plotting.save_figure(fig, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_evaluate(args):
    _option("--seed", check_seed, args.seed)
    model = MLP.load(args.model)
    data = load_data(args)
    if model.layer_sizes[0] != data.n_features:
        raise ValueError(f"the model {args.model} takes {model.layer_sizes[0]} inputs but "
                         f"{data.name} has {data.n_features} features")
    if model.layer_sizes[-1] != data.n_classes:
        raise ValueError(f"the model {args.model} has {model.layer_sizes[-1]} outputs but "
                         f"{data.name} has {data.n_classes} classes")
    print(f"model: {model!r} from {args.model}")
    print(f"{data.name} test set: {len(data.y_test)} samples")
    loss, acc = evaluate_on(model, data.X_test, data.y_test)
    print(_table([["test", f"{loss:.4f}", f"{acc:.4f}"]], ["", "loss", "accuracy"]))
    return 0


# --- parser ----------------------------------------------------------------------------

def _data_options():
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("data")
    group.add_argument("--data", choices=DATASETS, default="circles",
                       help="circles: two noisy concentric circles, %d points (a quarter "
                            "for testing); mnist: handwritten digits (default: %%(default)s)"
                            % CIRCLES_SAMPLES)
    group.add_argument("--data-dir", metavar="DIR", default=datasets.DEFAULT_DATA_DIR,
                       help="folder of the MNIST files (default: %(default)s)")
    group.add_argument("--download", action="store_true",
                       help="download missing MNIST files into --data-dir")
    group.add_argument("--seed", type=int, default=0,
                       help="seed of the circles data, the initial weights and the "
                            "shuffling (default: %(default)s)")
    return parent


def _model_options(sweep):
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("model and training")
    group.add_argument("--hidden", type=int, nargs="*", metavar="N",
                       help="hidden layer sizes; none for no hidden layer (default: 10 for "
                            "circles, 300 for mnist)")
    group.add_argument("--activation", choices=tuple(ACTIVATIONS), default="tanh",
                       help="hidden activation (default: %(default)s)")
    # The command line trains on class labels: binary_cross_entropy's 0/1 targets
    # have no dataset here.
    group.add_argument("--loss", choices=tuple(name for name in LOSSES
                                               if name != "binary_cross_entropy"),
                       default="cross_entropy",
                       help="cross_entropy on labels, mse on one-hot targets, or the "
                            "multi-class hinge (hinge, squared_hinge: an SVM's loss) on "
                            "labels (default: %(default)s)")
    group.add_argument("--init", choices=INITS,
                       help="initial weights (default: normal for circles, xavier for mnist)")
    group.add_argument("--epochs", type=int,
                       help="passes over the training data (default: 50 for circles, 10 "
                            "for mnist)")
    if sweep:
        group.add_argument("--lr", type=float, nargs="+", metavar="LR",
                           help="learning rates to compare (default: 0.01 0.1 1; with "
                                "--variants, 0.1)")
        group.add_argument("--batch-size", type=_batch_size, nargs="+", metavar="N|full",
                           default=[1, 32, FULL],
                           help="batch sizes to compare; 'full' is full-batch gradient "
                                "descent (default: 1 32 full)")
    else:
        group.add_argument("--lr", type=float, help="learning rate (default: 0.1)")
        group.add_argument("--batch-size", type=_batch_size, metavar="N|full",
                           help="rows per step, or 'full' for full-batch gradient descent "
                                "(default: 32)")
    group.add_argument("--momentum", type=float, default=0.0,
                       help="SGD momentum (default: %(default)s)")
    group.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="precision of the model (default: %(default)s)")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parent


def _plot_option(command, name):
    command.add_argument("--plot", metavar="FILE.png", default=f"fastmlp-{name}.png",
                         help="where to write the figure (default: %(default)s)")


def _seed_option(command):
    command.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")


def build_parser():
    """The argparse parser of the ``fastmlp`` command."""
    parser = argparse.ArgumentParser(
        prog="fastmlp",
        description="Train and study multi-layer perceptrons on the CPU.",
        epilog="Run 'fastmlp COMMAND --help' for a command's options.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data, model, sweep_model = _data_options(), _model_options(False), _model_options(True)

    train = commands.add_parser(
        "train", parents=[data, model], help="train one model, print its accuracy, plot it",
        description="Train one MLP, print its train and test accuracy, and plot its loss "
                    "curves with its decision boundary (circles) or first-layer weights "
                    "(mnist). With no options: circles, in a few seconds.")
    _plot_option(train, "train")
    regularise = train.add_argument_group("regularisation")
    regularise.add_argument("--dropout", type=float, default=0.0, metavar="RATE",
                            help="inverted dropout on every hidden layer while training "
                                 "(default: %(default)s, none)")
    regularise.add_argument("--clip-grad-norm", type=float, metavar="MAX",
                            help="scale each step's gradient down to this global L2 norm "
                                 "(torch.nn.utils.clip_grad_norm_; default: no clipping)")
    train.add_argument("--save", metavar="FILE.npz", help="save the trained model here")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel SGD over MPI: launch with 'mpirun -n N fastmlp "
                            "train --distributed ...'; each rank computes the gradient of "
                            "its share of every batch (needs mpi4py and an MPI library)")
    train.add_argument("--average-every", type=int, metavar="K",
                       help="with --distributed: local SGD, each rank steps on its own "
                            "share and the parameters are averaged every K steps")
    train.set_defaults(func=cmd_train)

    sweep = commands.add_parser(
        "sweep", parents=[data, sweep_model],
        help="compare learning rates and batch sizes",
        description="Train one model per (learning rate, batch size), all from the same "
                    "initial weights, print their final losses and test accuracy, and plot "
                    "their loss curves: one panel per batch size, one colour per learning "
                    "rate.")
    _plot_option(sweep, "sweep")
    sweep.add_argument("--variants", action="store_true",
                       help="plot the gradient-descent variants instead: every run's loss "
                            "against epochs and against wall-clock seconds (with the default "
                            "batch sizes: online, mini-batch and full-batch)")
    sweep.add_argument("--heatmap", metavar="FILE.png",
                       help="also write a heat map of the final test accuracy over the "
                            "(lr, batch size) grid here")
    sweep.add_argument("--table", metavar="STEM",
                       help="also write the table as STEM.csv and STEM.json")
    dask = sweep.add_argument_group("Dask (the distributed extra)")
    where = dask.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run the runs as tasks on this running Dask scheduler")
    where.add_argument("--workers", type=int, metavar="N",
                       help="run them on a local Dask cluster of N single-threaded worker "
                            "processes; 0 trains them one after another in this process "
                            "(default: one worker per core when Dask is installed)")
    sweep.set_defaults(func=cmd_sweep)

    cost = commands.add_parser(
        "gradient-cost", help="time backpropagation against finite differences",
        description="Time the full gradient of a tanh network's loss by backpropagation "
                    "and by central finite differences (fastmlp.gradcheck) as the number "
                    "of layers grows, print the table and plot it on log-log axes.")
    cost.add_argument("--layers", type=int, nargs="+", metavar="L", default=[1, 2, 3, 4, 6],
                      help="numbers of affine layers to time (default: 1 2 3 4 6)")
    cost.add_argument("--width", type=int, default=16,
                      help="units in each hidden layer (default: %(default)s)")
    cost.add_argument("--samples", type=int, default=64,
                      help="rows the loss is averaged over (default: %(default)s)")
    _seed_option(cost)
    _plot_option(cost, "gradient-cost")
    cost.set_defaults(func=cmd_gradient_cost)

    svm = commands.add_parser(
        "svm", help="the SVM bonus: a linear SVM, an RBF SVC and an MLP on the circles",
        description="Train a linear SVM (a hinge-loss MLP without hidden layer), an RBF "
                    "SVC (scikit-learn, when installed) and a hinge-loss MLP with one hidden "
                    "layer on the two circles, print their test accuracies and draw their "
                    "decision boundaries, with the SVM margins, side by side.")
    svm.add_argument("--samples", type=int, default=600,
                     help="points (a quarter for testing) (default: %(default)s)")
    svm.add_argument("--noise", type=float, default=0.1,
                     help="the circles' noise (default: %(default)s)")
    svm.add_argument("--hidden", type=int, default=16,
                     help="the MLP's hidden units (default: %(default)s)")
    svm.add_argument("--epochs", type=int, default=200,
                     help="epochs of SGD for the two fastmlp models (default: %(default)s)")
    _seed_option(svm)
    _plot_option(svm, "svm")
    svm.set_defaults(func=cmd_svm)

    evaluate = commands.add_parser(
        "evaluate", parents=[data], help="test a saved model",
        description="Print a saved model's loss and accuracy on a dataset's test set (for "
                    "circles, the test set that 'train' makes with the same --seed).")
    evaluate.add_argument("model", metavar="MODEL", help="a model saved by 'train --save'")
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def _error(exc):
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"fastmlp: error: {message}", file=sys.stderr)


def main(argv=None):
    """Run the ``fastmlp`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 success, 1 training diverged, 2 bad input (including a
        model or batch too large for memory), 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return args.func(args)
    except FloatingPointError as exc:  # TrainingDivergedError
        _error(exc)
        return 1
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        _error(exc)
        return 2
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return 130
