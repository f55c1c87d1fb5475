"""The backprop practical's stages side by side: one network, five ways to train it.

The course builds a one-hidden-layer network by hand, then hands pieces of it to
PyTorch. Each stage here trains the *same* network (``h = tanh(X Wh^T + bh)``,
``Yhat = softmax(h Wy^T + by)``, mean cross-entropy) from the *same* initial weights
on the *same* batches with plain SGD:

1. ``reference``: the course functions of :mod:`fastmlp.reference` (``forward``,
   ``loss_accuracy``, ``backward``, ``sgd``), in NumPy;
2. ``autograd``: the forward pass and loss written by hand on torch tensors,
   ``loss.backward()`` computing the gradients, the update by hand;
3. ``nn``: ``torch.nn`` layers (``MLP.to_torch()``) and ``nn.CrossEntropyLoss``,
   the update by hand;
4. ``optim``: as 3, with ``torch.optim.SGD`` doing the update;
5. ``fastmlp``: ``fastmlp.MLP.fit``, one compiled call per epoch.

:func:`run_stages` returns each stage's per-epoch losses, final parameters and time
per epoch; :func:`report` prints the largest difference of each from fastmlp's
losses and parameters. In float64 the differences are rounding errors (about 1e-15
relative): the five codes compute the same numbers. The torch stages need
``torch==2.13.0``; without it :func:`run_stages` skips them with a message.

The batches are those of ``MLP.fit(..., seed=seed)``: each epoch visits the rows in
the order ``rng.permutation(n)`` (``rng = np.random.default_rng(seed)``, made once),
in order when one batch holds every row, cut into batches of ``batch_size`` rows,
the last one smaller; an epoch's loss is the mean of its batches' losses (each
measured before its update) weighted by their rows.
"""
import time
from dataclasses import dataclass, field

import numpy as np

from . import reference
from .callbacks import EpochTimer
from .model import MLP

__all__ = ["STAGES", "StageResult", "initial_params", "batches", "run_stages", "report",
           "svm_bonus"]

# The parameters in the order of MLP's layers: weights[0], biases[0], weights[1], biases[1].
PARAM_NAMES = ("Wh", "bh", "Wy", "by")


@dataclass
class StageResult:
    """One stage's training: per-epoch losses, final parameters (by ``PARAM_NAMES``,
    as NumPy arrays of the run's dtype) and the median seconds per epoch."""

    stage: str
    losses: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    seconds_per_epoch: float = float("nan")


def initial_params(n_inputs, n_hidden, n_classes, seed, dtype):
    """The course's initial weights, ``reference.init_params(...)``, in ``dtype``."""
    params = reference.init_params(n_inputs, n_hidden, n_classes, seed=seed)
    return {name: params[name].astype(dtype) for name in PARAM_NAMES}


def batches(n, batch_size, epochs, seed):
    """For each epoch, the list of row-index arrays of its batches, in ``MLP.fit``'s order."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n) if batch_size < n else np.arange(n)
        yield [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _epoch_loss(batch_losses, batch_rows):
    return float(np.dot(batch_losses, batch_rows) / np.sum(batch_rows))


# --- the stages ------------------------------------------------------------------------
# Each takes (X, y, params, epochs, batch_size, lr, seed) with X and params in the run's
# dtype, and returns a StageResult.

def _train(stage, X, y, epochs, batch_size, seed, step, final):
    """The loop the hand-written stages share: ``step(rows)`` trains on one batch and
    returns its loss before the update; ``final()`` gives the parameters."""
    result = StageResult(stage)
    seconds = []
    for epoch_batches in batches(len(X), batch_size, epochs, seed):
        start = time.perf_counter()
        losses = [step(rows) for rows in epoch_batches]
        seconds.append(time.perf_counter() - start)
        result.losses.append(_epoch_loss(losses, [len(rows) for rows in epoch_batches]))
    result.params = final()
    result.seconds_per_epoch = float(np.median(seconds))
    return result


def train_reference(X, y, params, epochs, batch_size, lr, seed):
    """Stage 1: the course functions of ``fastmlp.reference``."""
    params = dict(params)

    def step(rows):
        nonlocal params
        Yhat, outputs = reference.forward(params, X[rows])
        loss, _ = reference.loss_accuracy(Yhat, y[rows])
        grads = reference.backward(params, outputs, y[rows])
        params = reference.sgd(params, grads, lr)
        return loss

    return _train("reference", X, y, epochs, batch_size, seed, step, lambda: params)


def _tensors(torch, params):
    return {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}


def _numpy(tensors):
    return {name: tensors[name].detach().numpy().copy() for name in PARAM_NAMES}


def train_autograd(X, y, params, epochs, batch_size, lr, seed):
    """Stage 2: the forward pass and loss by hand on tensors; ``loss.backward()`` for the
    gradients; the SGD update by hand."""
    torch = _torch()
    p = _tensors(torch, params)
    Xt = torch.from_numpy(X)
    Y = torch.nn.functional.one_hot(torch.from_numpy(y), params["Wy"].shape[0]).to(Xt.dtype)

    def step(rows):
        rows = torch.from_numpy(rows)
        h = torch.tanh(Xt[rows] @ p["Wh"].T + p["bh"])
        Yhat = torch.softmax(h @ p["Wy"].T + p["by"], dim=1)
        loss = -torch.mean(torch.sum(Y[rows] * torch.log(Yhat), dim=1))
        loss.backward()
        with torch.no_grad():
            for t in p.values():
                t -= lr * t.grad
                t.grad.zero_()
        return loss.item()

    return _train("autograd", X, y, epochs, batch_size, seed, step, lambda: _numpy(p))


def _mlp(params):
    """The course network as a ``fastmlp.MLP`` holding (copies of) ``params``."""
    model = MLP([params["Wh"].shape[1], params["Wh"].shape[0], params["Wy"].shape[0]],
                dtype=params["Wh"].dtype)
    model.weights = [params["Wh"], params["Wy"]]
    model.biases = [params["bh"], params["by"]]
    return model


def _module_params(module):
    linear_h, linear_y = module[0], module[2]
    return _numpy({"Wh": linear_h.weight, "bh": linear_h.bias,
                   "Wy": linear_y.weight, "by": linear_y.bias})


def _train_module(stage, X, y, params, epochs, batch_size, lr, seed, use_optim):
    torch = _torch()
    module = _mlp(params).to_torch()
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(module.parameters(), lr=lr) if use_optim else None
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step(rows):
        rows = torch.from_numpy(rows)
        loss = criterion(module(Xt[rows]), yt[rows])
        if use_optim:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        else:
            module.zero_grad()
            loss.backward()
            with torch.no_grad():
                for t in module.parameters():
                    t -= lr * t.grad
        return loss.item()

    return _train(stage, X, y, epochs, batch_size, seed, step, lambda: _module_params(module))


def train_nn(X, y, params, epochs, batch_size, lr, seed):
    """Stage 3: ``torch.nn`` layers and ``nn.CrossEntropyLoss``; the update by hand."""
    return _train_module("nn", X, y, params, epochs, batch_size, lr, seed, use_optim=False)


def train_optim(X, y, params, epochs, batch_size, lr, seed):
    """Stage 4: as stage 3, with ``torch.optim.SGD`` for the update."""
    return _train_module("optim", X, y, params, epochs, batch_size, lr, seed, use_optim=True)


def train_fastmlp(X, y, params, epochs, batch_size, lr, seed):
    """Stage 5: ``fastmlp.MLP.fit``, with the same batches (its ``seed``)."""
    model = _mlp(params)
    timer = EpochTimer()
    history = model.fit(X, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                        progress=False, callbacks=[timer])
    result = StageResult("fastmlp", losses=list(history.loss),
                         seconds_per_epoch=float(np.median(timer.epoch_seconds)))
    result.params = {"Wh": model.weights[0].copy(), "bh": model.biases[0].copy(),
                     "Wy": model.weights[1].copy(), "by": model.biases[1].copy()}
    return result


#: The stages in the course's order, and whether each needs torch.
STAGES = {"reference": (train_reference, False), "autograd": (train_autograd, True),
          "nn": (train_nn, True), "optim": (train_optim, True), "fastmlp": (train_fastmlp, False)}


def _torch():
    from .torch_bridge import import_torch
    return import_torch("the course's torch stages")


def torch_available():
    """Is torch importable (the torch stages run)?"""
    try:
        _torch()
    except ImportError:
        return False
    return True


def run_stages(X, y, n_hidden, epochs, batch_size, lr, seed=0, dtype=np.float64, stages=None,
               log=print):
    """Train the course network with every stage; returns {stage: StageResult}.

    Parameters
    ----------
    X : array_like (n, n_inputs);  y : int labels (n,)
    n_hidden : int
        Hidden units.
    epochs, batch_size, lr : training settings, the same for every stage
        (``batch_size=None``: one batch of every row).
    seed : int
        Seed of the initial weights (``reference.init_params``) and of the batches.
    dtype : float32 or float64
    stages : iterable of str, optional
        Names from :data:`STAGES` (default all). Torch stages are skipped, with a
        message through ``log``, when torch is not installed.
    """
    dtype = np.dtype(dtype)
    X = np.ascontiguousarray(X, dtype=dtype)
    y = np.asarray(y, dtype=np.int64)
    n_classes = int(y.max()) + 1
    params = initial_params(X.shape[1], n_hidden, n_classes, seed, dtype)
    batch_size = len(X) if batch_size is None else batch_size
    names = list(STAGES) if stages is None else list(stages)
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        raise ValueError(f"unknown stages {unknown}; the stages are {list(STAGES)}")
    have_torch = torch_available()
    results = {}
    for name in names:
        train, needs_torch = STAGES[name]
        if needs_torch and not have_torch:
            log(f"{name}: skipped, PyTorch is not installed (pip install torch==2.13.0)")
            continue
        results[name] = train(X, y, params, epochs, batch_size, lr, seed)
    return results


def differences(result, baseline):
    """(largest |loss difference| over the epochs, largest |parameter difference|)."""
    loss = float(np.max(np.abs(np.subtract(result.losses, baseline.losses))))
    params = max(float(np.max(np.abs(result.params[k].astype(np.float64)
                                     - baseline.params[k].astype(np.float64))))
                 for k in PARAM_NAMES)
    return loss, params


def report(results, baseline="fastmlp"):
    """A table: each stage's final loss, its largest differences from ``baseline``'s
    losses and parameters, and its milliseconds per epoch."""
    base = results[baseline]
    rows = [("stage", "final loss", "max |dloss|", "max |dparam|", "ms/epoch")]
    for name, result in results.items():
        dloss, dparam = differences(result, base)
        rows.append((name, f"{result.losses[-1]:.6f}", f"{dloss:.1e}", f"{dparam:.1e}",
                     f"{1e3 * result.seconds_per_epoch:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join([row[0].ljust(widths[0])]
                               + [c.rjust(w) for c, w in zip(row[1:], widths[1:])])
                     for row in rows)


def compare(X, y, n_hidden, epochs, batch_size, lr, seed=0, dtypes=(np.float64, np.float32),
            log=print):
    """Run every stage in each dtype and print (through ``log``) the settings and the
    :func:`report` of each; returns {dtype name: {stage: StageResult}}."""
    log(f"{len(X)} rows, layers [{X.shape[1]}, {n_hidden}, {int(np.max(y)) + 1}], tanh, "
        f"softmax cross-entropy; SGD lr {lr:g}, batch size {batch_size or 'full'}, "
        f"{epochs} epochs, seed {seed}")
    out = {}
    for dtype in dtypes:
        name = np.dtype(dtype).name
        log(f"\n{name}: differences from fastmlp's per-epoch losses and final parameters")
        out[name] = run_stages(X, y, n_hidden, epochs, batch_size, lr, seed, dtype, log=log)
        log(report(out[name]))
    return out


def svm_bonus(n_samples=600, noise=0.1, seed=0, hidden=16, epochs=200, lr=0.1):
    """The practical's bonus: an SVM on the two circles, linear and with a kernel,
    against an MLP.

    On ``datasets.circles(n_samples, noise, seed=seed)`` (a quarter held out for
    testing), trains

    * ``"linear SVM"``: ``MLP([2, 2], loss="hinge")``, a linear model trained on
      the multi-class hinge loss (torch's ``MultiMarginLoss``): a linear SVM, which
      cannot separate the circles (test accuracy near chance);
    * ``"RBF SVC"``: scikit-learn's ``SVC(kernel="rbf")``, when scikit-learn is
      installed (the kernel trick separates them);
    * ``"MLP"``: ``MLP([2, hidden, 2], loss="hinge")``, the same loss with one tanh
      hidden layer, which separates them too;

    the fastmlp models with SGD (``lr``, momentum 0.9, batch 32) for ``epochs``.

    Returns
    -------
    (models, data, note)
        ``models``: a list of (name, fitted classifier, test accuracy);
        ``data``: (X_train, y_train, X_test, y_test); ``note``: None, or why a
        model was left out (scikit-learn missing).
    """
    from . import datasets, optim
    X, y = datasets.circles(n_samples, noise=noise, seed=seed)
    n_test = max(1, n_samples // 4)
    X_train, y_train, X_test, y_test = X[n_test:], y[n_test:], X[:n_test], y[:n_test]
    models = []
    for name, sizes in (("linear SVM", [2, 2]), ("MLP", [2, hidden, 2])):
        model = MLP(sizes, loss="hinge", dtype=np.float64, seed=seed)
        model.fit(X_train, y_train, epochs=epochs, batch_size=32, seed=seed, progress=False,
                  optimizer=optim.SGD(lr, momentum=0.9))
        models.append((name, model, float(model.score(X_test, y_test))))
    note = None
    try:
        from sklearn.svm import SVC
    except ImportError:
        note = ('the RBF SVC needs scikit-learn (pip install "fastmlp[sklearn]"): '
                'left out')
    else:
        svc = SVC(kernel="rbf").fit(X_train, y_train)
        models.insert(1, ("RBF SVC", svc, float(svc.score(X_test, y_test))))
    return models, (X_train, y_train, X_test, y_test), note
