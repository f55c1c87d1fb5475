"""``fastmlp.MLP``: a multi-layer perceptron trained by minibatch SGD on the fused kernels.

The model keeps every parameter in one flat buffer (``weights[l]`` and
``biases[l]`` are views into it), so a training step is one call into compiled
code and an epoch is one more: see ``kernels/network.pyx``. This module checks
arguments, converts data once, allocates the workspace and keeps the history.
"""
import math
import numbers
import os
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _network
from ._serialization import FORMAT_VERSION, checksum, read_model
from ._validation import check_real, check_shape

__all__ = ["MLP", "History", "TrainingDivergedError"]

_isfinite = math.isfinite
ACTIVATIONS = {"tanh": 0, "sigmoid": 1, "relu": 2}
LOSSES = {"cross_entropy": 0, "mse": 1}
INITS = ("normal", "xavier", "he")


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite during ``fit``; ``history`` holds the epochs so far."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """Per-epoch training curves returned by :meth:`MLP.fit`.

    ``loss`` and ``accuracy`` are the means over each epoch's batches, each batch
    measured just before its update (accuracy only for cross-entropy). The
    ``val_`` lists are filled when ``fit`` was given ``validation_data``; for an
    MSE model ``val_accuracy`` stays empty. ``interrupted`` is True when Ctrl-C
    stopped training early.
    """

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    interrupted: bool = False

    @property
    def epochs(self):
        return len(self.loss)

    def as_dict(self):
        return {"loss": list(self.loss), "accuracy": list(self.accuracy),
                "val_loss": list(self.val_loss), "val_accuracy": list(self.val_accuracy)}


def _check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64; got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64; got {dt}")
    return dt


class MLP:
    """A fully connected network: affine layers, an activation between them, and a loss.

    Parameters
    ----------
    layer_sizes : sequence of int
        The width of every layer, input first: ``[784, 300, 10]`` is 784 inputs, one
        hidden layer of 300 units and 10 outputs. Two or more positive sizes.
    activation : {"tanh", "sigmoid", "relu"}
        The activation after every hidden layer.
    loss : {"cross_entropy", "mse"}
        ``cross_entropy``: softmax outputs and integer class labels (or one-hot rows).
        ``mse``: linear outputs and real targets, loss ``sum((yhat - y)**2) / n``.
    dtype : float32 or float64
        The dtype of the parameters and of every computation. Inputs of other
        numeric dtypes (integers, float64 for a float32 model) are converted.
    seed : int or None
        Seed of the initial weights.
    init : {"normal", "xavier", "he"}
        ``normal``: weights and biases from N(0, 0.3**2), as in the course;
        ``xavier``: W from N(0, 2 / (n_in + n_out)), zero biases;
        ``he``: W from N(0, 2 / n_in), zero biases.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[l]`` has shape (layer_sizes[l+1], layer_sizes[l]) (PyTorch's layout).
    biases : list of ndarray
        ``biases[l]`` has shape (layer_sizes[l+1],).
    n_params : int
        The number of trainable parameters.

    The methods that train (``step``, ``fit``) keep a workspace on the model and
    are not safe to call from several threads at once; ``forward``, ``predict``,
    ``predict_proba``, ``loss`` and ``score`` are.
    """

    def __init__(self, layer_sizes, activation="tanh", loss="cross_entropy", dtype=np.float32,
                 seed=None, init="normal"):
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise TypeError(f"layer_sizes must be a sequence of integers like [784, 300, 10]; "
                            f"got {layer_sizes!r}")
        if len(layer_sizes) < 2:
            raise ValueError(f"layer_sizes needs at least two sizes (inputs and outputs); "
                             f"got {list(layer_sizes)!r}")
        sizes = [_check_int(s, f"layer_sizes[{i}]", 1) for i, s in enumerate(layer_sizes)]
        self.layer_sizes = tuple(sizes)
        self.activation = _check_choice(activation, "activation", tuple(ACTIVATIONS))
        self.loss_name = _check_choice(loss, "loss", tuple(LOSSES))
        self.dtype = _check_dtype(dtype)
        self.init = _check_choice(init, "init", INITS)
        self._sizes = np.array(sizes, dtype=np.intp)
        self._params = np.empty(self.n_params, dtype=self.dtype)
        self._make_views()
        self._initialize(np.random.default_rng(seed))
        self._net = _network.Network(self._sizes, self._params, ACTIVATIONS[self.activation],
                                     LOSSES[self.loss_name])
        # Empty stand-ins for the arrays a call does not use.
        self._none2 = np.empty((0, 0), dtype=self.dtype)
        self._no_labels = np.empty(0, dtype=np.intp)

    # --- structure -----------------------------------------------------------

    @property
    def n_params(self):
        s = self.layer_sizes
        return sum(s[l + 1] * s[l] + s[l + 1] for l in range(len(s) - 1))

    @property
    def n_layers(self):
        """Number of affine layers (one less than the number of sizes)."""
        return len(self.layer_sizes) - 1

    def _make_views(self):
        self.weights, self.biases = self._split(self._params)

    def _split(self, flat):
        """Per-layer (n_out, n_in) and (n_out,) views of a flat parameter-shaped buffer."""
        weights, biases, off = [], [], 0
        for n_in, n_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            weights.append(flat[off:off + n_out * n_in].reshape(n_out, n_in))
            off += n_out * n_in
            biases.append(flat[off:off + n_out])
            off += n_out
        return weights, biases

    def _initialize(self, rng):
        for W, b in zip(self.weights, self.biases):
            n_out, n_in = W.shape
            if self.init == "normal":
                W[...] = rng.normal(0.0, 0.3, W.shape)
                b[...] = rng.normal(0.0, 0.3, b.shape)
            else:
                var = 2.0 / (n_in + n_out) if self.init == "xavier" else 2.0 / n_in
                W[...] = rng.normal(0.0, math.sqrt(var), W.shape)
                b[...] = 0

    def __repr__(self):
        return (f"MLP({list(self.layer_sizes)}, activation={self.activation!r}, "
                f"loss={self.loss_name!r}, dtype=np.{self.dtype.name})")

    # --- input checks ----------------------------------------------------------

    def _check_X(self, X, name="X"):
        """X as a C-contiguous (n, n_inputs) array of the model's dtype, all finite."""
        if (type(X) is np.ndarray and X.dtype == self.dtype and X.ndim == 2
                and X.flags.c_contiguous and X.shape[1] == self.layer_sizes[0]
                and X.shape[0] > 0):
            arr = X
        else:
            arr = np.asarray(X)
            if arr.dtype.kind not in "iufb":
                raise TypeError(f"{name} must be an array of real numbers (converted to "
                                f"{self.dtype.name}); got dtype {arr.dtype}")
            if arr.ndim != 2:
                raise ValueError(f"{name} must be a 2-D array (n_samples, "
                                 f"{self.layer_sizes[0]}); got {arr.ndim}-D with shape "
                                 f"{arr.shape}")
            if arr.shape[1] != self.layer_sizes[0]:
                raise ValueError(f"{name} has {arr.shape[1]} features but the model's first "
                                 f"layer takes {self.layer_sizes[0]}: expected shape "
                                 f"(n_samples, {self.layer_sizes[0]}); got {arr.shape}")
            if arr.shape[0] == 0:
                raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
            arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values (first at row "
                             f"{int(np.argwhere(~np.isfinite(arr))[0, 0])})")
        return arr

    def _check_y(self, y, n, name="y"):
        """Labels (n,) as intp for cross-entropy; targets (n, n_outputs) for MSE."""
        k = self.layer_sizes[-1]
        arr = np.asarray(y)
        if arr.dtype.kind not in "iufb":
            raise TypeError(f"{name} must be an array of real numbers; got dtype {arr.dtype}")
        if arr.ndim == 0 or arr.shape[0] != n:
            raise ValueError(f"{name} must have one row per row of X ({n}); got shape "
                             f"{arr.shape}")
        if self.loss_name == "mse":
            if arr.ndim == 1 and k == 1:
                arr = arr.reshape(n, 1)
            check_shape(arr, name, (n, k), "targets for the model's outputs")
            arr = np.ascontiguousarray(arr, dtype=self.dtype)
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} contains NaN or infinite values")
            return arr
        if arr.ndim == 2:  # one-hot rows become labels
            check_shape(arr, name, (n, k), "one-hot rows, one column per class")
            if not (np.all((arr == 0) | (arr == 1)) and np.all(arr.sum(axis=1) == 1)):
                raise ValueError(f"{name} given as rows must be one-hot (a single 1 in each "
                                 f"row, zeros elsewhere); pass integer labels otherwise")
            return np.ascontiguousarray(arr.argmax(axis=1), dtype=np.intp)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be labels of shape ({n},) or one-hot rows of shape "
                             f"({n}, {k}); got {arr.ndim}-D with shape {arr.shape}")
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} contains NaN or infinite labels")
            if not np.all(arr == np.round(arr)):
                bad = arr[arr != np.round(arr)][0].item()
                raise ValueError(f"{name} must hold integer class labels; got {bad!r}")
        low, high = arr.min().item(), arr.max().item()
        if low < 0 or high >= k:
            raise ValueError(f"{name} must hold labels in [0, {k}) for the model's {k} "
                             f"outputs; got {low if low < 0 else high!r}")
        return np.ascontiguousarray(arr, dtype=np.intp)

    def _xy(self, X, y):
        X = self._check_X(X)
        return X, self._check_y(y, X.shape[0])

    # --- compiled passes ------------------------------------------------------------

    def _outputs(self, X, probabilities):
        """The last layer's output for the checked X, softmax applied if asked."""
        n = X.shape[0]
        acts = np.empty(n * sum(self.layer_sizes[1:]), dtype=self.dtype)
        self._net.forward(X, acts, probabilities)
        return acts[acts.size - n * self.layer_sizes[-1]:].reshape(n, self.layer_sizes[-1])

    def _backprop(self, X, y, grad_x=None):
        """Gradients of the mean loss on the checked (X, y) into the network's buffers."""
        loss = self._net.step(X, y, 1.0, update=False, grad_x=grad_x)
        self._check_finite_loss(loss, X, y)

    # --- inference ----------------------------------------------------------------

    def forward(self, X):
        """The network's output for X (n, n_inputs): class probabilities (softmax) for
        cross-entropy, the raw outputs for MSE. Shape (n, n_outputs), the model's dtype."""
        return self._outputs(self._check_X(X), self.loss_name == "cross_entropy")

    def predict_proba(self, X):
        """Class probabilities (n, n_classes); only for cross-entropy models."""
        if self.loss_name != "cross_entropy":
            raise ValueError("predict_proba needs a cross_entropy model; this one uses mse "
                             "(use forward)")
        return self.forward(X)

    def predict(self, X):
        """Predicted class labels (n,) for cross-entropy; the outputs (n, k) for MSE."""
        out = self.forward(X)
        return out.argmax(axis=1) if self.loss_name == "cross_entropy" else out

    def loss(self, X, y):
        """Mean loss on (X, y): cross-entropy of the labels, or sum-over-outputs MSE."""
        from . import kernels
        X, y = self._xy(X, y)
        if self.loss_name == "cross_entropy":
            return kernels.softmax_cross_entropy(self._outputs(X, False), y)[0]
        return kernels.mse(self._outputs(X, False), y)[0]

    def score(self, X, y):
        """Accuracy on (X, y) for cross-entropy; the mean squared error (lower is better)
        for MSE."""
        X, y = self._xy(X, y)
        if self.loss_name == "cross_entropy":
            return float(np.mean(self._outputs(X, False).argmax(axis=1) == y))
        return self.loss(X, y)

    # --- gradients and training ---------------------------------------------------

    def gradients(self, X, y):
        """dL/dW and dL/db of the mean loss on (X, y), without changing the model.

        Returns a list of ``(grad_W, grad_b)`` per layer, shaped like the parameters.
        """
        X, y = self._xy(X, y)
        self._backprop(X, y)
        weights, biases = self._split(self._net.grads.copy())
        return list(zip(weights, biases))

    def input_gradient(self, X, y):
        """dL/dX (n, n_inputs) of the mean loss on (X, y)."""
        X, y = self._xy(X, y)
        grad_x = np.empty_like(X)
        self._backprop(X, y, grad_x)
        return grad_x

    def step(self, X, y, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        """One SGD step on the batch (X, y); returns the batch's loss before the step.

        The update is ``torch.optim.SGD``'s (see ``fastmlp.kernels.sgd_update``); the
        momentum buffer is kept on the model between calls. If the loss is NaN or
        infinite, the parameters are left unchanged and FloatingPointError is raised.
        """
        # The compiled step checks, in C, that X and y are already in the exact form
        # it reads; when they are not (or a value is out of range) it computes
        # nothing and returns None, and they go through the full Python checks,
        # which convert them or raise the error that explains what is wrong.
        loss = self._net.step(X, y, lr, momentum, nesterov, weight_decay)
        if loss is None:
            lr, momentum, weight_decay = self._check_hyper(lr, momentum, nesterov,
                                                           weight_decay)
            X, y = self._xy(X, y)
            loss = self._net.step(X, y, lr, momentum, nesterov, weight_decay)
        if not _isfinite(loss):
            self._check_finite_loss(loss, X, y)
        return loss

    @staticmethod
    def _check_hyper(lr, momentum, nesterov, weight_decay):
        lr = check_real(lr, "lr", minimum=0.0, exclusive=True)
        momentum = check_real(momentum, "momentum", minimum=0.0)
        weight_decay = check_real(weight_decay, "weight_decay", minimum=0.0)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0; got momentum=0")
        return lr, momentum, weight_decay

    def _check_finite_loss(self, loss, X, y):
        if not math.isfinite(loss):
            X, y = self._xy(X, y)  # raises if the data holds NaN or inf
            raise FloatingPointError(f"the loss is {loss} (the parameters were not changed): "
                                     f"the weights have grown too large; lower the learning "
                                     f"rate")

    def fit(self, X, y, epochs=10, batch_size=32, lr=0.1, momentum=0.0, nesterov=False,
            weight_decay=0.0, shuffle=True, validation_data=None, progress=True, seed=None):
        """Train by minibatch SGD; returns a :class:`History`.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
        y : array_like
            Cross-entropy: integer labels (n_samples,) or one-hot rows
            (n_samples, n_classes). MSE: targets (n_samples, n_outputs).
        epochs : int
            Passes over the data.
        batch_size : int or None
            Rows per step; ``None`` is full-batch gradient descent, 1 online SGD.
            The last batch of an epoch may be smaller.
        lr, momentum, nesterov, weight_decay
            The SGD update, with ``torch.optim.SGD``'s semantics. The momentum
            buffer starts at zero in every call to ``fit``.
        shuffle : bool
            Visit the rows in a new random order each epoch.
        validation_data : (X_val, y_val), optional
            Measured after every epoch into ``val_loss`` and ``val_accuracy``.
        progress : bool
            Show a tqdm progress bar with the epoch's loss and accuracy.
        seed : int or None
            Seed of the shuffling.

        Raises
        ------
        TrainingDivergedError
            When a batch's loss becomes NaN or infinite. That batch makes no update,
            so the model keeps the parameters left by the last step with a finite
            loss (or, should those hold inf or NaN, the ones it had at the start of
            the epoch); the error names the epoch and step, and its ``history``
            holds the epochs completed.

        Ctrl-C (KeyboardInterrupt) stops training after the step in progress; the
        model keeps its parameters and ``fit`` returns the history so far with
        ``interrupted=True`` (and a warning).
        """
        X, y = self._xy(X, y)
        n = X.shape[0]
        epochs = _check_int(epochs, "epochs", 1)
        batch_size = n if batch_size is None else min(_check_int(batch_size, "batch_size", 1), n)
        lr, momentum, weight_decay = self._check_hyper(lr, momentum, nesterov, weight_decay)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a pair (X_val, y_val)")
            X_val, y_val = self._xy(*validation_data)
        rng = np.random.default_rng(seed)
        ce = self.loss_name == "cross_entropy"
        self._net.reset_velocity(momentum != 0)
        labels = y if ce else self._no_labels
        targets = self._none2 if ce else y
        history = History()
        bar = _progress_bar(epochs, progress)
        try:
            for epoch in range(1, epochs + 1):
                order = rng.permutation(n) if shuffle and batch_size < n else self._no_labels
                snapshot = self._params.copy()
                loss_sum, correct, batches, diverged = self._net.train_epoch(
                    X, labels, targets, order, batch_size, lr, momentum, nesterov,
                    weight_decay)
                if diverged or not np.isfinite(self._params).all():
                    self._diverged(epoch, batches + diverged, lr, snapshot, history)
                # The epoch's last update is only judged by the next loss: take it now,
                # on the last batch, so that fit never returns a model that diverged.
                if not math.isfinite(self._net.step(X[-batch_size:], y[-batch_size:], 1.0,
                                                    update=False)):
                    self._params[...] = snapshot
                    raise TrainingDivergedError(
                        f"training diverged in epoch {epoch}: after its last step the loss "
                        f"is NaN or infinite. The model keeps the parameters it had at the "
                        f"start of this epoch. Try a lower learning rate than lr={lr}.",
                        history)
                history.loss.append(loss_sum / n)
                if ce:
                    history.accuracy.append(correct / n)
                if validation_data is not None:
                    history.val_loss.append(self.loss(X_val, y_val))
                    if ce:
                        history.val_accuracy.append(self.score(X_val, y_val))
                _progress_update(bar, epoch, history)
        except KeyboardInterrupt:
            history.interrupted = True
            warnings.warn(f"training interrupted after {history.epochs} complete epoch(s); the "
                          f"model keeps the parameters of its last completed step",
                          RuntimeWarning, stacklevel=2)
        finally:
            if bar is not None:
                bar.close()
        return history

    def _diverged(self, epoch, step, lr, snapshot, history):
        """Leave the model on finite parameters and raise TrainingDivergedError."""
        if np.isfinite(self._params).all():
            what = "the loss became NaN or infinite, so that step made no update"
            kept = (f"the parameters after step {step - 1}, the last step with a finite loss"
                    if step > 1 else "the parameters it had at the start of this epoch")
        else:
            self._params[...] = snapshot
            what = "its update overflowed the parameters to inf or NaN"
            kept = "the parameters it had at the start of this epoch"
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch}, step {step}: {what}. The model keeps "
            f"{kept}. Try a lower learning rate than lr={lr}.", history)

    # --- saving ---------------------------------------------------------------------

    def save(self, path):
        """Write the model to ``path`` (an ``.npz`` file, no pickle), atomically.

        The file is written next to its destination and moved into place with
        ``os.replace``, so a crash mid-save never leaves a half-written model.
        """
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        arrays = {
            "format_version": np.array(FORMAT_VERSION),
            "layer_sizes": np.array(self.layer_sizes, dtype=np.int64),
            "activation": np.array(self.activation),
            "loss": np.array(self.loss_name),
            "dtype": np.array(self.dtype.name),
            "init": np.array(self.init),
        }
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"W{l}"], arrays[f"b{l}"] = W, b
        arrays["checksum"] = np.array(checksum(arrays))
        fd, tmp = tempfile.mkstemp(prefix=".fastmlp-", suffix=".npz.tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; checks format version, shapes and dtypes.

        Never unpickles. A missing, truncated, corrupt or tampered file raises
        ValueError (OSError when it cannot be read at all).
        """
        return read_model(cls, path)


def _progress_bar(epochs, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=epochs, desc="fit", unit="epoch", leave=True)


def _progress_update(bar, epoch, history):
    if bar is None:
        return
    postfix = {"loss": f"{history.loss[-1]:.4f}"}
    if history.accuracy:
        postfix["acc"] = f"{history.accuracy[-1]:.3f}"
    if history.val_loss:
        postfix["val_loss"] = f"{history.val_loss[-1]:.4f}"
    if history.val_accuracy:
        postfix["val_acc"] = f"{history.val_accuracy[-1]:.3f}"
    bar.set_postfix(postfix, refresh=False)
    bar.update(1)
