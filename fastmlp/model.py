"""``fastmlp.MLP``: a multi-layer perceptron trained on the fused kernels.

The model keeps every parameter in one flat buffer (``weights[l]`` and
``biases[l]`` are views into it), so a training step is one call into compiled
code and an epoch is one more: see ``kernels/network.pyx``. This module checks
arguments, converts data once, allocates the workspace and keeps the history.

Rules the compiled core relies on, enforced here:
* the architecture (``layer_sizes``, ``activation``, ``loss_name``, ``dtype``,
  ``init``) is read-only, and ``weights``/``biases`` can only be written through
  checked copies into the buffer, never rebound to another array;
* one training call (``fit``, ``step``, ``gradients``, ``input_gradient``) at a
  time per model: another thread gets a RuntimeError (see ``Network.claim``);
* copies (``copy.copy``, ``copy.deepcopy``, pickle) are whole, independent
  models: parameters, optimizer state and all.

The parameter layout (which slice of the buffer is which layer's W and b) is the
compiled core's: views come from ``Network.views``, never from arithmetic here.
"""
import contextlib
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import callbacks as _callbacks
from . import optim as _optim
from ._kernels import network as _network
from ._serialization import FORMAT_VERSION, OPTIMIZER_FORMAT_VERSION, checksum, read_model
from ._validation import (BLAS_INT_MAX, as_array, as_finite_array, check_blas_dims,
                          check_bool, check_choice, check_clip, check_dropout, check_finite,
                          check_int, check_label_ndim, check_labels, check_label_smoothing,
                          check_ndim, check_not_empty, check_output_path, check_real_dtype,
                          check_real, check_row_weights, check_seed, check_setting,
                          check_sgd_settings, check_shape, check_zero_one, class_weight_of)
from .datasets import holdout_size, split_indices

__all__ = ["MLP", "History", "TrainingDivergedError"]

_isfinite = math.isfinite
# The names of the compiled core's codes (kernels/network.pyx defines them).
ACTIVATIONS = {code.name.lower(): code for code in _network.Activation}
LOSSES = {code.name.lower(): code for code in _network.Loss}
INITS = ("normal", "xavier", "he")
# The losses of classifiers (predict gives labels, score an accuracy); those trained
# on integer class labels; those whose outputs read as probabilities (predict_proba).
CLASSIFIERS = ("cross_entropy", "binary_cross_entropy", "hinge", "squared_hinge")
LABEL_LOSSES = ("cross_entropy", "hinge", "squared_hinge")
PROBABILISTIC = ("cross_entropy", "binary_cross_entropy")
# The hinge losses' p (kernels.multiclass_hinge), as the compiled core defines it.
HINGE_P = {code.name.lower(): p for code, p in _network.HINGE_P.items()}
# Values of the layers' outputs a forward pass keeps at once (64 MB in float64):
# larger inputs go through in blocks of rows.
_FORWARD_BLOCK = 1 << 23


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite during ``fit``; ``history`` holds the epochs so far."""

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history

    def __reduce__(self):
        # Rebuilt from both arguments, so that the error crosses process boundaries
        # (multiprocessing, concurrent.futures) with its history.
        return type(self), (str(self), self.history)


@dataclass
class History:
    """Per-epoch training curves returned by :meth:`MLP.fit`.

    ``loss`` is each epoch's mean training loss over its rows (every batch's mean
    loss weighted by the batch's rows, each batch measured just before its
    update; with ``label_smoothing`` the smoothed loss that training minimises;
    with the optimizer's ``l2`` > 0, plus the batch's penalty
    ``0.5 * l2 * sum ||W_l||^2 / batch_rows``, so that it is scikit-learn's
    ``loss_curve_``). ``penalty`` holds that penalty part alone, likewise averaged
    (filled only when l2 > 0);
    ``accuracy`` likewise (classifiers only: for binary cross-entropy the
    fraction of rows with every label right). The ``val_`` lists are filled when
    ``fit`` was given ``validation_data`` (or held some data out for early
    stopping); ``val_loss`` is the model's plain loss, as :meth:`MLP.loss` gives
    it; for an MSE model ``val_accuracy`` stays empty. ``lr`` is the learning rate
    each epoch trained with (the optimizer's, or the ``schedule``'s). An epoch is
    recorded whole or not at all. ``interrupted`` is True when Ctrl-C stopped
    training early.

    ``best_epoch`` is the epoch (1 = this fit's first) with the best monitored
    value when early stopping (an ``EarlyStopping`` callback) watched it, else
    None. ``stop_reason`` says why training ended: ``"max_epochs"`` (all epochs
    ran), ``"early_stopping"``, ``"callback"`` (another callback returned True),
    ``"lr_too_small"`` (the :class:`~fastmlp.optim.Adaptive` schedule ended it),
    ``"interrupted"`` (Ctrl-C), ``"diverged"`` (a TrainingDivergedError's history)
    or ``"error"`` (another exception left fit); None before fit ends.
    ``max_epochs`` (the epochs fit was asked for) and ``measured`` (the names of
    the curves it fills every epoch) are set before the first epoch, for callbacks.
    """

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    interrupted: bool = False
    lr: list = field(default_factory=list)
    penalty: list = field(default_factory=list)
    best_epoch: int = None
    stop_reason: str = None
    max_epochs: int = None
    measured: tuple = ()

    @property
    def epochs(self):
        return len(self.loss)

    def as_dict(self):
        return {"loss": list(self.loss), "accuracy": list(self.accuracy),
                "val_loss": list(self.val_loss), "val_accuracy": list(self.val_accuracy),
                "lr": list(self.lr), "penalty": list(self.penalty)}

    def _record(self, loss, accuracy, val_loss, val_accuracy, lr, penalty=None):
        """Append one epoch's values (None for a value the model does not measure)."""
        for curve, value in ((self.loss, loss), (self.accuracy, accuracy),
                             (self.val_loss, val_loss), (self.val_accuracy, val_accuracy),
                             (self.lr, lr), (self.penalty, penalty)):
            if value is not None:
                curve.append(value)

    def _keep(self, epochs):
        """Drop anything recorded after the first ``epochs`` epochs (a cut-short record)."""
        for curve in (self.loss, self.accuracy, self.val_loss, self.val_accuracy, self.lr,
                      self.penalty):
            del curve[epochs:]


def _check_dtype(dtype):
    if dtype is None:  # np.dtype(None) is float64: never a silent choice
        raise TypeError("dtype must be float32 or float64; got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64; got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64; got {dt}")
    return dt


def _check_layer_sizes(layer_sizes):
    """The sizes as a list of ints: an ordered sequence of two or more sizes >= 1."""
    ordered = isinstance(layer_sizes, Sequence) or (isinstance(layer_sizes, np.ndarray)
                                                    and layer_sizes.ndim == 1)
    if isinstance(layer_sizes, (str, bytes)) or not ordered:
        why = (" (an unordered collection: the order of the layers would be arbitrary)"
               if isinstance(layer_sizes, (set, frozenset, dict)) else "")
        raise TypeError(f"layer_sizes must be a sequence (list or tuple) of integers like "
                        f"[784, 300, 10]; got {type(layer_sizes).__name__} "
                        f"{layer_sizes!r}{why}")
    if len(layer_sizes) < 2:
        raise ValueError(f"layer_sizes needs at least two sizes (inputs and outputs); "
                         f"got {list(layer_sizes)!r}")
    return [check_int(s, f"layer_sizes[{i}]", 1, BLAS_INT_MAX)
            for i, s in enumerate(layer_sizes)]


class LayerParams(Sequence):
    """The per-layer weights (or biases) of an :class:`MLP`: views into its one
    parameter buffer, one per layer.

    ``params[l]`` is a writeable view of layer l, so ``model.weights[0][...] = W``
    and ``model.weights[0] *= 2`` change the model. ``params[l] = value`` copies
    ``value`` into layer l after checking its shape and that it is finite; the
    sequence itself never grows, shrinks or holds anything but the model's views.
    """

    __slots__ = ("_model", "_kind")

    def __init__(self, model, kind):
        self._model, self._kind = model, kind

    def __len__(self):
        return self._model.n_layers

    def __getitem__(self, l):
        if isinstance(l, slice):
            return [self[i] for i in range(*l.indices(len(self)))]
        return self._model._layer(self._model._params, self._kind, self._index(l))

    def __setitem__(self, l, value):
        if isinstance(l, slice):
            raise TypeError(f"assign {self._kind} one layer at a time: model.{self._kind}[l] = "
                            f"array")
        l = self._index(l)
        self._model._layer(self._model._params, self._kind, l)[...] = self._checked(l, value)

    def _index(self, l):
        n = len(self)
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)):
            raise TypeError(f"{self._kind} indices must be integers; got {type(l).__name__}")
        if not -n <= l < n:
            raise IndexError(f"{self._kind}[{l}]: the model has {n} layers")
        return int(l) % n

    def _checked(self, l, value):
        name = f"{self._kind}[{l}]"
        target = self._model._layer(self._model._params, self._kind, l)
        arr = as_array(value, name)
        check_real_dtype(arr, name, target.dtype)
        check_shape(arr, name, target.shape,
                    "(n_out, n_in), as in PyTorch" if self._kind == "weights" else "(n_out,)")
        return as_finite_array(arr, name, target.dtype)

    def _assign_all(self, values):
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) \
                or len(values) != len(self):
            raise ValueError(f"{self._kind} must be given as a sequence of {len(self)} arrays, "
                             f"one per layer")
        checked = [self._checked(l, v) for l, v in enumerate(values)]  # all, before any write
        for l, arr in enumerate(checked):
            self[l] = arr

    def __repr__(self):
        return repr(list(self))


class MLP:
    """A fully connected network: affine layers, an activation between them, and a loss.

    Parameters
    ----------
    layer_sizes : sequence of int
        The width of every layer, input first: ``[784, 300, 10]`` is 784 inputs, one
        hidden layer of 300 units and 10 outputs. Two or more positive sizes, in a
        list, tuple or 1-D array (not a set: the order matters).
    activation : {"tanh", "sigmoid", "relu", "identity"}
        The activation after every hidden layer (``identity``: none, f(x) = x).
    loss : {"cross_entropy", "mse", "binary_cross_entropy", "hinge", "squared_hinge"}
        ``cross_entropy``: softmax outputs and integer class labels (or one-hot rows).
        ``mse``: linear outputs and real targets, loss ``sum((yhat - y)**2) / n``.
        ``binary_cross_entropy``: a sigmoid on each output (a logistic output),
        for binary problems (one output, y of shape (n,) holding 0 and 1) and
        multilabel ones (k outputs, y an (n, k) matrix of 0 and 1); the loss is
        summed over the labels and averaged over rows, as scikit-learn's
        ``MLPClassifier`` does (see ``fastmlp.kernels.sigmoid_binary_cross_entropy``).
        ``hinge``, ``squared_hinge``: raw scores and integer class labels, the
        multi-class hinge loss of ``torch.nn.MultiMarginLoss`` (margin 1) with p = 1
        and p = 2 (see ``fastmlp.kernels.multiclass_hinge``). ``[2, 2]`` with it is
        a linear SVM; predictions are the argmax of the scores, which
        :meth:`decision_function` returns (there is no ``predict_proba``).
    dtype : float32 or float64
        The dtype of the parameters and of every computation. Inputs of other
        numeric dtypes (integers, float64 for a float32 model) are converted.
    seed : int or None
        Seed of the initial weights (an integer >= 0).
    init : {"normal", "xavier", "he"}
        ``normal``: weights and biases from N(0, 0.3**2), as in the course;
        ``xavier``: W from N(0, 2 / (n_in + n_out)), zero biases;
        ``he``: W from N(0, 2 / n_in), zero biases.

    Attributes
    ----------
    layer_sizes, activation, loss_name, dtype, init
        The architecture, read-only.
    weights : LayerParams
        ``weights[l]`` is a writeable view of shape (layer_sizes[l+1], layer_sizes[l])
        (PyTorch's layout); ``weights[l] = W`` copies W in after checking it.
    biases : LayerParams
        ``biases[l]`` has shape (layer_sizes[l+1],); assignment as for weights.
    n_params : int
        The number of trainable parameters.

    The methods that train (``step``, ``fit``, ``gradients``, ``input_gradient``)
    use a workspace kept on the model: one of them at a time, and a call from
    another thread while one runs raises RuntimeError. ``forward``, ``predict``,
    ``predict_proba``, ``predict_log_proba``, ``loss`` and ``score`` may run in
    several threads at once.
    ``copy.deepcopy(model)`` and pickling give an independent model with the same
    parameters, optimizer and optimizer state.
    """

    def __init__(self, layer_sizes, activation="tanh", loss="cross_entropy", dtype=np.float32,
                 seed=None, init="normal"):
        sizes = _check_layer_sizes(layer_sizes)
        rng = np.random.default_rng(check_seed(seed))
        self._setup(sizes, activation, loss, dtype, init)
        self._initialize(rng)

    def _setup(self, sizes, activation, loss, dtype, init):
        """Check the architecture and allocate the parameters (uninitialised) and the core."""
        self._activation = check_choice(activation, "activation", tuple(ACTIVATIONS))
        self._loss_name = check_choice(loss, "loss", tuple(LOSSES))
        self._dtype = _check_dtype(dtype)
        self._init = check_choice(init, "init", INITS)
        self._layer_sizes = tuple(sizes)
        self._net = _network.Network(np.array(sizes, dtype=np.intp), self._dtype,
                                     ACTIVATIONS[self._activation], LOSSES[self._loss_name])
        self._params = self._net.params
        self._optimizer = None  # the optimizer of the last training call
        self._classes = None  # the label set partial_fit fixed
        self._trainer = None  # the thread holding the workspace (see _training)
        # Empty stand-ins for the arrays a call does not use.
        self._none2 = np.empty((0, 0), dtype=self._dtype)
        self._no_labels = np.empty(0, dtype=np.intp)

    # --- structure (read-only: the compiled core was built for it) -----------------------

    layer_sizes = property(lambda self: self._layer_sizes, doc="Layer widths, input first.")
    activation = property(lambda self: self._activation, doc="The hidden activation.")
    loss_name = property(lambda self: self._loss_name, doc="The loss.")
    dtype = property(lambda self: self._dtype, doc="The dtype of parameters and computation.")
    init = property(lambda self: self._init, doc="How the weights were initialised.")

    @property
    def n_params(self):
        """The number of trainable parameters."""
        return self._params.size

    @property
    def optimizer(self):
        """The optimizer (a ``fastmlp.optim`` object) of the last ``fit`` or ``step``
        given one, or built from ``fit``'s SGD arguments; None before any, and after
        :meth:`reset_optimizer`. Pass it to ``fit`` to go on training as before."""
        return self._optimizer

    @property
    def n_layers(self):
        """Number of affine layers (one less than the number of sizes)."""
        return len(self._layer_sizes) - 1

    @property
    def weights(self):
        """Per-layer weight views (n_out, n_in); see :class:`LayerParams`."""
        return LayerParams(self, "weights")

    @weights.setter
    def weights(self, values):
        LayerParams(self, "weights")._assign_all(values)

    @property
    def biases(self):
        """Per-layer bias views (n_out,); see :class:`LayerParams`."""
        return LayerParams(self, "biases")

    @biases.setter
    def biases(self, values):
        LayerParams(self, "biases")._assign_all(values)

    def _layer(self, flat, kind, l):
        """Layer l's weights (n_out, n_in) or biases (n_out,) as a view of a flat,
        parameter-shaped buffer (the parameters, their gradients, a snapshot)."""
        return self._net.views(flat)[l][0 if kind == "weights" else 1]

    def _split(self, flat):
        """Per-layer (n_out, n_in) and (n_out,) views of a flat parameter-shaped buffer."""
        weights, biases = zip(*self._net.views(flat))
        return list(weights), list(biases)

    def _initialize(self, rng):
        for W, b in zip(*self._split(self._params)):
            n_out, n_in = W.shape
            if self._init == "normal":
                W[...] = rng.normal(0.0, 0.3, W.shape)
                b[...] = rng.normal(0.0, 0.3, b.shape)
            else:
                var = 2.0 / (n_in + n_out) if self._init == "xavier" else 2.0 / n_in
                W[...] = rng.normal(0.0, math.sqrt(var), W.shape)
                b[...] = 0

    def __repr__(self):
        return (f"MLP({list(self._layer_sizes)}, activation={self._activation!r}, "
                f"loss={self._loss_name!r}, dtype=np.{self._dtype.name})")

    # --- copies ----------------------------------------------------------------------

    def __getstate__(self):
        # One snapshot each, so a copy taken while another thread trains is a model
        # that existed (its parameters may be those of any step, never torn views).
        return {"layer_sizes": list(self._layer_sizes), "activation": self._activation,
                "loss": self._loss_name, "dtype": self._dtype.name, "init": self._init,
                "params": self._params.copy(), "optimizer": self._optimizer,
                "optimizer_state": self._net.get_state(), "classes": self._classes}

    def __setstate__(self, state):
        self._setup(state["layer_sizes"], state["activation"], state["loss"], state["dtype"],
                    state["init"])
        self._params[...] = state["params"]
        self._optimizer = state["optimizer"]
        self._classes = state.get("classes")
        if state["optimizer_state"] is not None:
            rule, buffers, *rest = state["optimizer_state"]
            with self._training():
                # A plain array: joblib unpickles arrays as read-only memmaps.
                self._net.set_state(rule, np.array(buffers), *rest)

    def __copy__(self):
        # A shallow copy would share the buffer and the workspace with the original
        # and so train both: a copy of a model is a whole, independent model.
        return self.__deepcopy__({})

    def __deepcopy__(self, memo):
        new = type(self).__new__(type(self))
        new.__setstate__(self.__getstate__())
        memo[id(self)] = new
        return new

    @contextlib.contextmanager
    def _training(self):
        """Hold the model's workspace for one training call (RuntimeError if taken)."""
        self._net.claim()
        self._trainer = threading.get_ident()
        try:
            yield
        finally:
            self._trainer = None
            self._net.release()

    def _snapshot(self):
        """Copies of the parameters and the optimizer state, taken together: under the
        workspace, which the thread already holding it (fit's callbacks) has."""
        if self._trainer == threading.get_ident():
            return self._params.copy(), self._net.get_state()
        with self._training():
            return self._params.copy(), self._net.get_state()

    # --- input checks ----------------------------------------------------------

    def _check_X(self, X, name="X"):
        """X as a C-contiguous (n, n_inputs) array of the model's dtype, all finite."""
        n_in = self._layer_sizes[0]
        if (type(X) is np.ndarray and X.dtype == self._dtype and X.ndim == 2
                and X.flags.c_contiguous and X.shape[1] == n_in and X.shape[0] > 0):
            check_finite(X, name)
            return self._unaliased(X)
        arr = as_array(X, name)
        check_real_dtype(arr, name, self._dtype)
        check_ndim(arr, name, 2, f"(n_samples, {n_in})")
        if arr.shape[1] != n_in:
            raise ValueError(f"{name} has {arr.shape[1]} features but the model's first "
                             f"layer takes {n_in}: expected shape (n_samples, {n_in}); "
                             f"got {arr.shape}")
        check_not_empty(arr, name)
        return self._unaliased(as_finite_array(arr, name, self._dtype))

    def _check_y(self, y, n, name="y"):
        """Labels (n,) as intp for cross-entropy and the hinge losses; targets
        (n, n_outputs) for MSE and binary cross-entropy."""
        k = self._layer_sizes[-1]
        arr = as_array(y, name)
        if arr.ndim == 0 or arr.shape[0] != n:
            raise ValueError(f"{name} must have one row per row of X ({n}); got shape "
                             f"{arr.shape}")
        if self._loss_name == "mse":
            check_real_dtype(arr, name, self._dtype)
            if arr.ndim == 1 and k == 1:
                arr = arr.reshape(n, 1)
            check_shape(arr, name, (n, k), "targets for the model's outputs")
            return self._unaliased(as_finite_array(arr, name, self._dtype))
        if self._loss_name == "binary_cross_entropy":
            return self._check_binary_targets(arr, name, n, k)
        check_label_ndim(arr, name, n, k, "one-hot rows")
        if arr.ndim == 2:  # one-hot rows become labels
            check_real_dtype(arr, name)
            check_shape(arr, name, (n, k), "one-hot rows, one column per class")
            if not (np.all((arr == 0) | (arr == 1)) and np.all(arr.sum(axis=1) == 1)):
                raise ValueError(f"{name} given as rows must be one-hot (a single 1 in each "
                                 f"row, zeros elsewhere); pass integer labels otherwise")
            return np.ascontiguousarray(arr.argmax(axis=1), dtype=np.intp)
        return check_labels(arr, name, n, k)

    def _check_binary_targets(self, arr, name, n, k):
        """0/1 targets as an (n, k) array of the model's dtype: (n,) (or (n, 1)) for one
        output, an (n, k) label matrix for k outputs."""
        check_real_dtype(arr, name, self._dtype)
        form = (f"0/1 labels of shape ({n},)" if k == 1 else
                f"a 0/1 label matrix of shape ({n}, {k}) (one column per output)")
        if not (arr.shape == (n, k) or (k == 1 and arr.shape == (n,))):
            raise ValueError(f"{name} must be {form} for a binary_cross_entropy model with "
                             f"{k} output{'s' if k > 1 else ''}; got shape {arr.shape}")
        check_zero_one(arr, name, form)
        return self._unaliased(np.ascontiguousarray(arr.reshape(n, k), dtype=self._dtype))

    def _unaliased(self, arr):
        """arr, or a copy of it if it shares memory with the parameters (a training step
        would change the data it reads)."""
        return arr.copy() if np.may_share_memory(arr, self._params) else arr

    def _xy(self, X, y, names=("X", "y")):
        X = self._check_X(X, names[0])
        return X, self._check_y(y, X.shape[0], names[1])

    def _batch(self, X, y):
        """(X, y) checked as one batch of a training pass, which BLAS takes whole."""
        X, y = self._xy(X, y)
        check_blas_dims(X, "X")
        return X, y

    def _check_hyper(self, lr, momentum, nesterov, weight_decay):
        """The SGD settings as Python floats and a bool, valid in the model's dtype."""
        return check_sgd_settings(lr, momentum, nesterov, weight_decay, self._dtype)

    # --- compiled passes ------------------------------------------------------------

    def _outputs(self, X, probabilities):
        """The last layer's output for the checked X, as probabilities if asked (softmax
        or sigmoid, by the loss; see ``Network.forward``).

        The rows go through in blocks, so that the workspace of every layer's
        outputs stays near ``_FORWARD_BLOCK`` values however many rows X has.
        """
        n, k = X.shape[0], self._layer_sizes[-1]
        width = self._net.width
        rows = max(1, min(n, _FORWARD_BLOCK // width, BLAS_INT_MAX))
        acts = np.empty(rows * width, dtype=self._dtype)
        out = np.empty((n, k), dtype=self._dtype)
        for start in range(0, n, rows):
            block = X[start:start + rows]
            used = acts[:block.shape[0] * width]
            self._net.forward(block, used, probabilities)
            out[start:start + block.shape[0]] = used[used.size - block.shape[0] * k:].reshape(-1, k)
        return out

    def _loss_of(self, X, y, weights=None):
        """Mean loss on the checked (X, y), weighted by the checked ``weights``."""
        from . import kernels
        out = self._outputs(X, False)
        if self._loss_name in HINGE_P:
            return kernels.multiclass_hinge(out, y, p=HINGE_P[self._loss_name],
                                            sample_weight=weights)[0]
        loss = {"cross_entropy": kernels.softmax_cross_entropy, "mse": kernels.mse,
                "binary_cross_entropy": kernels.sigmoid_binary_cross_entropy}
        return loss[self._loss_name](out, y, sample_weight=weights)[0]

    def _finite_on(self, X, y):
        """Do the parameters give finite outputs and a finite loss on the checked (X, y)?"""
        return (np.isfinite(self._params).all() and np.isfinite(self._outputs(X, False)).all()
                and math.isfinite(self._loss_of(X, y)))

    def _backprop(self, X, y, grad_x=None, weights=None):
        """Gradients of the mean loss on the checked (X, y) (and weights) into the
        network's buffers (the caller holds the workspace: see _training)."""
        loss = self._net.backprop(X, y, grad_x, weights)
        self._check_finite_loss(loss, X, y)

    # --- inference ----------------------------------------------------------------

    def forward(self, X):
        """The network's output for X (n, n_inputs): class probabilities (softmax) for
        cross-entropy, per-label probabilities (sigmoid) for binary cross-entropy, the
        raw outputs for MSE and the class scores for the hinge losses. Shape
        (n, n_outputs), the model's dtype."""
        return self._outputs(self._check_X(X), self._loss_name in PROBABILISTIC)

    def _classifier(self, method):
        if self._loss_name in HINGE_P:
            raise ValueError(f"{method} is not defined for a {self._loss_name} model: its "
                             f"outputs are class scores, not probabilities (an SVM's). Use "
                             f"decision_function for the scores, predict for the labels")
        if self._loss_name not in PROBABILISTIC:
            raise ValueError(f"{method} needs a cross_entropy or binary_cross_entropy model; "
                             f"this one uses {self._loss_name} (use forward)")

    def decision_function(self, X):
        """The raw scores (n, n_outputs) of a classifier, in the model's dtype: the last
        layer's output before any softmax or sigmoid (the logits of the
        cross-entropies, the class scores of the hinge losses). :meth:`predict` is
        their argmax (their sign for binary cross-entropy). For a two-class hinge
        model, ``f = scores[:, 1] - scores[:, 0]`` is the binary SVM's decision
        function: the boundary is f = 0, the margins f = -1 and f = +1."""
        if self._loss_name not in CLASSIFIERS:
            raise ValueError(f"decision_function needs a classifier; this model uses "
                             f"{self._loss_name} (use forward)")
        return self._outputs(self._check_X(X), False)

    def predict_proba(self, X):
        """Probabilities (n, n_outputs): of each class (softmax) for cross-entropy, of each
        label (sigmoid, each in [0, 1] on its own) for binary cross-entropy. Only for
        those two losses."""
        self._classifier("predict_proba")
        return self.forward(X)

    def predict_log_proba(self, X):
        """The log of :meth:`predict_proba`, computed from the logits: log-softmax for
        cross-entropy, log-sigmoid for binary cross-entropy. Never the log of a rounded
        probability: a class whose probability underflows to 0 keeps its finite
        log-probability (a logit 200 below the largest gives about -200)."""
        from . import kernels
        self._classifier("predict_log_proba")
        logits = self._outputs(self._check_X(X), False)
        if self._loss_name == "cross_entropy":
            return kernels.log_softmax(logits, out=logits)
        return kernels.log_sigmoid(logits, out=logits)

    def _labels_of(self, X):
        """The 0/1 labels (n, n_outputs) a binary cross-entropy model predicts for the
        checked X: probability > 0.5, as scikit-learn's MLPClassifier."""
        return (self._outputs(X, True) > _network.PROBABILITY_THRESHOLD).astype(np.intp)

    def predict(self, X):
        """Predicted class labels (n,) for cross-entropy and the hinge losses (the
        largest output's index); for binary cross-entropy 0/1 labels, 1 where the
        probability is above 0.5: shape (n,) for one output, (n, n_outputs)
        otherwise; the outputs (n, k) for MSE."""
        if self._loss_name == "binary_cross_entropy":
            labels = self._labels_of(self._check_X(X))
            return labels[:, 0] if labels.shape[1] == 1 else labels
        out = self.forward(X)
        return out.argmax(axis=1) if self._loss_name in LABEL_LOSSES else out

    def loss(self, X, y, sample_weight=None):
        """Mean loss on (X, y): cross-entropy of the labels, binary cross-entropy summed
        over the labels, sum-over-outputs MSE (never label-smoothed), or the
        multi-class hinge of the labels; the weighted mean with ``sample_weight``."""
        X, y = self._xy(X, y)
        return self._loss_of(X, y, self._row_weights(sample_weight, None, y))

    def score(self, X, y, sample_weight=None):
        """Accuracy on (X, y) for cross-entropy and the hinge losses; subset accuracy
        (the fraction of rows with every label right, scikit-learn's
        ``accuracy_score``) for binary cross-entropy; the mean squared error (lower
        is better) for MSE. Weighted means with ``sample_weight``."""
        X, y = self._xy(X, y)
        weights = self._row_weights(sample_weight, None, y)
        if self._loss_name in CLASSIFIERS:
            return self._score_of(X, y, weights)
        return self._loss_of(X, y, weights)

    # --- gradients and training ---------------------------------------------------

    def gradients(self, X, y, label_smoothing=0.0, sample_weight=None):
        """dL/dW and dL/db of the mean loss on (X, y), without changing the model.

        ``label_smoothing`` (cross-entropy only) smooths the targets as :meth:`fit`
        does; ``step``, ``input_gradient`` and ``loss`` always use the plain loss.
        ``sample_weight`` (n,) makes the loss the weighted mean, as in :meth:`fit`.
        The gradient is the loss's alone: no dropout, no L2 term, no clipping.

        Returns a list of ``(grad_W, grad_b)`` per layer, shaped like the parameters.
        """
        X, y = self._batch(X, y)
        label_smoothing = self._check_label_smoothing(label_smoothing)
        weights = None if sample_weight is None else check_row_weights(
            sample_weight, "sample_weight", X.shape[0], self._dtype)
        with self._training(), self._settings(label_smoothing=label_smoothing):
            self._backprop(X, y, weights=weights)
            grads = self._net.grads.copy()
        return list(zip(*self._split(grads)))

    def input_gradient(self, X, y):
        """dL/dX (n, n_inputs) of the mean loss on (X, y)."""
        X, y = self._batch(X, y)
        grad_x = np.empty_like(X)
        with self._training():
            self._backprop(X, y, grad_x)
        return grad_x

    def _row_weights(self, sample_weight, class_weight, y, name="sample_weight"):
        """The rows' training weights (checked ``sample_weight`` times each row's class
        weight), or None when neither is given; see fit."""
        if sample_weight is None and class_weight is None:
            return None
        n = y.shape[0]
        weights = (np.ones(n, dtype=self._dtype) if sample_weight is None
                   else check_row_weights(sample_weight, name, n, self._dtype))
        if class_weight is not None:
            labels, k = self._class_labels(y)
            per_class = class_weight_of(class_weight, labels, k)
            weights = check_row_weights(weights * per_class[labels].astype(self._dtype),
                                        f"{name} times class_weight", n, self._dtype)
        return weights

    def _class_labels(self, y):
        """(labels (n,), number of classes) of the checked y, for class_weight."""
        if self._loss_name in LABEL_LOSSES:
            return y, self._layer_sizes[-1]
        if self._loss_name == "binary_cross_entropy" and y.shape[1] == 1:
            return y[:, 0].astype(np.intp), 2
        raise ValueError(f"class_weight needs one class label per row: a cross_entropy, "
                         f"hinge or single-output binary_cross_entropy model; this one uses "
                         f"{self._loss_name} with {self._layer_sizes[-1]} outputs (weight the "
                         f"rows with sample_weight instead)")

    def _training_settings(self, label_smoothing, dropout, clip_grad_norm, clip_grad_value,
                           rng):
        """fit's ``Network.set_training`` settings, checked; the dropout stream is seeded
        from ``rng`` (drawn only when some layer drops, so that fits without dropout
        shuffle as they always did)."""
        settings = {"label_smoothing": self._check_label_smoothing(label_smoothing)}
        rates = check_dropout(dropout, self.n_layers - 1)
        if rates.any():
            settings["dropout"] = rates
            settings["seed"] = int(rng.integers(2**64, dtype=np.uint64))
        for value, name, key in ((clip_grad_norm, "clip_grad_norm", "clip_norm"),
                                 (clip_grad_value, "clip_grad_value", "clip_value")):
            if value is not None:
                settings[key] = check_clip(value, name, self._dtype)
        return settings

    def _check_label_smoothing(self, value):
        value = check_label_smoothing(value, self._dtype)
        if value != 0 and self._loss_name != "cross_entropy":
            raise ValueError(f"label_smoothing applies to cross_entropy models only; this one "
                             f"uses {self._loss_name}, so it must be 0; got {value!r}")
        return value

    @contextlib.contextmanager
    def _settings(self, **training):
        """Run with these ``Network.set_training`` settings (the workspace held), then
        restore the plain defaults, which every other call trains with."""
        self._net.set_training(**training)
        try:
            yield
        finally:
            self._net.set_training()

    def _optimizer_for(self, optimizer, lr, momentum, nesterov, weight_decay, default_lr,
                       caller):
        """The optimizer object a training call uses: ``optimizer``, or SGD built from
        the SGD arguments (which must then be the only ones given)."""
        if optimizer is None:
            if lr is None:
                if default_lr is None:
                    raise TypeError(f"{caller} needs a learning rate (lr=...) or an optimizer "
                                    f"(optimizer=fastmlp.optim.SGD(...), Adam(...), ...)")
                lr = default_lr
            return _optim.SGD(lr, momentum=momentum, nesterov=nesterov,
                              weight_decay=weight_decay)
        if not isinstance(optimizer, _optim.Optimizer):
            raise TypeError(f"optimizer must be a fastmlp.optim optimizer (SGD, Adam, AdamW); "
                            f"got {type(optimizer).__name__}")
        given = [name for name, value, default in (
            ("lr", lr, None), ("momentum", momentum, 0.0), ("nesterov", nesterov, False),
            ("weight_decay", weight_decay, 0.0)) if value is not default and value != default]
        if given:
            raise ValueError(f"{caller}: pass the settings in the optimizer, not beside it; "
                             f"got optimizer={optimizer!r} and {', '.join(given)}")
        return optimizer

    def _restore_optimizer(self, optimizer, state, updates):
        """Make ``optimizer`` and its state (slots, n_params) this model's (load)."""
        with self._training():
            settings = optimizer.settings(self._dtype)
            self._net.set_state(settings["rule"], state, updates, settings["lr_in_velocity"])
        self._optimizer = optimizer

    def reset_optimizer(self):
        """Forget the optimizer and its state (momentum buffer, Adam's moments and step
        count): the next ``fit`` or ``step`` starts them afresh."""
        with self._training():
            self._net.reset_state()
        self._optimizer = None

    def step(self, X, y, lr=None, momentum=0.0, nesterov=False, weight_decay=0.0,
             optimizer=None):
        """One update on the batch (X, y); returns the batch's loss before it.

        The update is ``optimizer``'s (a ``fastmlp.optim`` object), or, given ``lr``
        (and ``momentum``, ``nesterov``, ``weight_decay``), ``torch.optim.SGD``'s with
        those settings. The optimizer state lives on the model and continues between
        calls (see :meth:`fit`). The loss is the plain one (label smoothing is fit's).
        If the loss is NaN or infinite, the parameters are left unchanged and
        FloatingPointError is raised.
        """
        if optimizer is None and lr is not None:
            # The compiled step checks, in C, that X, y and the settings are already
            # in the exact form it reads; when they are not (or a value is out of
            # range or not finite) it computes nothing and returns None, and they go
            # through the full Python checks, which convert them or raise the error
            # that explains what is wrong.
            loss = self._net.step_sgd(X, y, lr, momentum, nesterov, weight_decay)
            if loss is None:
                lr, momentum, nesterov, weight_decay = self._check_hyper(lr, momentum, nesterov,
                                                                         weight_decay)
                X, y = self._batch(X, y)
                loss = self._net.step_sgd(X, y, lr, momentum, nesterov, weight_decay)
        else:
            # An (immutable) optimizer the network still runs was checked when it was
            # set: then, as with SGD above, only X and y need looking at.
            if not (optimizer is not None and optimizer is self._net.configured_for
                    and _no_sgd_arguments(lr, momentum, nesterov, weight_decay)):
                optimizer = self._optimizer_for(optimizer, lr, momentum, nesterov,
                                                weight_decay, None, "step")
                settings = optimizer.settings(self._dtype)
                with self._training():
                    self._net.configure(settings, optimizer)
                self._optimizer = optimizer
            loss = self._net.step(X, y)
            if loss is None:
                X, y = self._batch(X, y)
                loss = self._net.step(X, y)
        if not _isfinite(loss):
            self._check_finite_loss(loss, X, y)
        return loss

    def _check_finite_loss(self, loss, X, y):
        if not math.isfinite(loss):
            X, y = self._xy(X, y)  # raises if the data holds NaN or inf
            raise FloatingPointError(f"the loss is {loss} (the parameters were not changed): "
                                     f"the weights have grown too large; lower the learning "
                                     f"rate")

    def fit(self, X, y, epochs=10, batch_size=32, lr=None, momentum=0.0, nesterov=False,
            weight_decay=0.0, shuffle=True, validation_data=None, progress=True, seed=None,
            optimizer=None, schedule=None, callbacks=None, early_stopping=False,
            validation_fraction=0.1, patience=10, tol=1e-4, monitor="val_loss",
            label_smoothing=0.0, sample_weight=None, class_weight=None, dropout=0.0,
            clip_grad_norm=None, clip_grad_value=None):
        """Train by minibatch gradient descent; returns a :class:`History`.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
        y : array_like
            Cross-entropy: integer labels (n_samples,) or one-hot rows
            (n_samples, n_classes). MSE: targets (n_samples, n_outputs). Binary
            cross-entropy: 0/1 labels (n_samples,) for one output, a 0/1 matrix
            (n_samples, n_outputs) for several.
        epochs : int
            Passes over the data.
        batch_size : int or None
            Rows per step; ``None`` is full-batch gradient descent, 1 online SGD.
            The last batch of an epoch may be smaller; its loss is its own mean
            (as with ``DataLoader(drop_last=False)``), and the epoch's loss is the
            mean over rows (each batch's mean weighted by its rows).
        optimizer : fastmlp.optim.SGD, Adam or AdamW, optional
            The update rule, with ``torch.optim``'s semantics.
        lr, momentum, nesterov, weight_decay
            Without ``optimizer``: ``SGD(lr, momentum, nesterov=nesterov,
            weight_decay=weight_decay)``, lr 0.1 by default. Not with ``optimizer``.
        shuffle : bool
            Visit the rows in a new random order each epoch
            (``rng.permutation(n)``, rng = ``np.random.default_rng(seed)``).
        validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            Measured after every epoch into ``val_loss`` and ``val_accuracy``
            (weighted means with the third item).
        progress : bool
            Show a tqdm progress bar with the epoch's loss and accuracy: adds a
            ``fastmlp.callbacks.ProgressBar`` after ``callbacks`` (unless they hold
            one).
        seed : int or None
            Seed of the shuffling (and of the split early stopping holds out).
        schedule : fastmlp.optim schedule, optional
            The learning rate of each epoch (``StepLR``, ``MultiStepLR``,
            ``ExponentialLR``, ``CosineAnnealingLR``, ``ReduceLROnPlateau``,
            ``InvScaling``, ``Adaptive``). Each ``fit`` starts the schedule anew
            from the optimizer's lr (``schedule.start(optimizer.lr)``), trains
            each epoch with the run's lr (the optimizer's other settings and
            its state kept, as when a torch scheduler edits ``param_groups``),
            then tells it the epoch's loss, val_loss and rows. ``model.optimizer``
            stays the optimizer given; ``History.lr`` records the rates. An
            epoch whose rate would be 0 or beyond the model's dtype is a
            ValueError: before training when the schedule follows no result,
            else before that epoch (the model keeps the epochs trained).
            ``Adaptive`` may end training early (``History.stop_reason``).
            A schedule that monitors ``val_loss`` needs ``validation_data``.
        callbacks : list, optional
            Objects called between epochs (never inside one) with the model and
            the history so far; one may stop training. See ``fastmlp.callbacks``
            (``EarlyStopping``, ``ModelCheckpoint``, ``ProgressBar``).
        early_stopping : bool
            Stop when ``monitor`` has not improved by more than ``tol`` for
            ``patience`` epochs, and put the model back to the best epoch's
            parameters and optimizer state; ``History.best_epoch`` is that epoch.
            This is ``fastmlp.callbacks.EarlyStopping(monitor, patience, tol)``,
            run before ``callbacks``; see it for the exact rule and how it
            relates to scikit-learn's ``n_iter_no_change``. With a ``val_``
            monitor and no ``validation_data``, ``validation_fraction`` of the
            rows is held out (seeded by ``seed``; for cross-entropy, stratified:
            each class gives that fraction of its rows, shared out as scikit-learn's
            ``train_test_split(stratify=y)`` does; rounded up, as scikit-learn
            does) and training uses the rest. A ``"loss"`` or ``"accuracy"``
            monitor (the training curves) holds nothing out.
        validation_fraction : float in (0, 1)
            The fraction held out (see early_stopping); scikit-learn's default, 0.1.
        patience : int >= 1
            Epochs without improvement before stopping (early_stopping).
        tol : float >= 0
            The improvement that counts (early_stopping), scikit-learn's default 1e-4.
        monitor : {"val_loss", "val_accuracy", "loss", "accuracy"}
            The curve early stopping watches; lower is better for the losses,
            higher for the accuracies. ``validation_fraction``, ``patience``,
            ``tol`` and ``monitor`` other than their defaults need
            ``early_stopping=True`` (ValueError otherwise), and
            ``validation_fraction`` needs data to hold out.
        label_smoothing : float, default 0
            Cross-entropy models only: train on the smoothed targets
            ``(1 - eps) * onehot + eps / n_classes``, the semantics of
            ``torch.nn.CrossEntropyLoss(label_smoothing=eps)``, eps in [0, 1],
            inside the compiled epoch. ``History.loss`` is then the smoothed loss;
            ``val_loss``, :meth:`loss`, ``step`` and ``input_gradient`` stay plain.
        sample_weight : array_like, shape (n_samples,), optional
            Positive, finite row weights (a zero, negative or non-finite weight is
            a ValueError: leave out the rows that should not count). Each batch's
            loss becomes its weighted mean, sum_i w_i L_i / sum_i w_i over the
            batch's rows: the convention of ``torch.nn.CrossEntropyLoss(weight=...)``
            (its class weights) and of scikit-learn's MLPs with ``sample_weight``
            (whose L2 term, ``alpha``, is divided by the batch's summed weights too,
            as it is here). ``History.loss`` stays the mean over rows of the
            batches' losses (scikit-learn's ``loss_curve_``). Rows held out for
            early stopping keep their weights: ``val_loss`` and ``val_accuracy``
            are then weighted means.
        class_weight : "balanced" or dict, optional
            Models trained on class labels (cross-entropy, the hinge losses, and
            binary cross-entropy with one output): each row's weight is multiplied
            by its class's. ``"balanced"`` is scikit-learn's
            ``n_samples / (n_classes * np.bincount(y))`` over the classes present;
            a dict ``{class: weight > 0}`` gives the weights (1 for classes it
            leaves out). With ``sample_weight``, the product weighs each row.
        dropout : float or sequence of floats, default 0
            Inverted dropout on the hidden layers while training: each hidden
            unit's output is kept with probability 1 - rate and then divided by
            1 - rate, or set to 0 (``torch.nn.Dropout(rate)`` after each hidden
            activation). One rate for every hidden layer, or one per hidden layer,
            each in [0, 1). The masks are drawn inside the compiled epoch by a
            generator seeded from ``seed``: two fits with the same seed give the
            same weights. ``forward``, ``predict``, ``val_loss`` and the other
            evaluations never drop.
        clip_grad_norm : float > 0, optional
            Before each update, scale the whole gradient (every layer's weights
            and biases; scikit-learn's L2 term included, torch's ``weight_decay``
            not, as in torch where the optimizer adds it) by
            ``min(1, clip_grad_norm / (||g||_2 + 1e-6))``:
            ``torch.nn.utils.clip_grad_norm_``'s semantics.
        clip_grad_value : float > 0, optional
            Before each update, clamp every gradient entry to
            ``[-clip_grad_value, clip_grad_value]``
            (``torch.nn.utils.clip_grad_value_``); with ``clip_grad_norm`` too, the
            clamp comes first.

        The history's ``stop_reason`` says why training ended ("max_epochs",
        "early_stopping", "callback", "interrupted", ...).

        The optimizer state (SGD's momentum buffer; Adam's moments and step count)
        lives on the model and a new ``fit`` continues it, as long as the update
        rule and its buffers are the same kind (SGD with momentum, SGD without,
        Adam, Adam with amsgrad): two ``fit(epochs=1)`` calls train as one
        ``fit(epochs=2)`` would, but for the shuffling. Changing lr or other
        settings keeps the state, as changing a torch optimizer's param_groups
        does. Another kind of rule starts afresh; so does
        :meth:`reset_optimizer`. ``save(include_optimizer=True)`` keeps it.

        Raises
        ------
        TrainingDivergedError
            When a batch's loss becomes NaN or infinite, or an update overflows the
            parameters. The model is left on the parameters (and optimizer state) of
            the last step with a finite loss if they give finite outputs and a
            finite loss on the training data, and on those it had when ``fit`` was
            called otherwise. The error names the epoch, the step and which
            parameters were kept; its ``history`` holds the epochs completed.
        RuntimeError
            When the model is already training in another thread.

        Ctrl-C (KeyboardInterrupt) stops training after the step in progress; the
        model keeps its parameters (those it had when ``fit`` was called should the
        last step have overflowed them) and ``fit`` returns the history of the
        completed epochs with ``interrupted=True`` (and a warning).
        """
        X, y = self._xy(X, y)
        weights = self._row_weights(sample_weight, class_weight, y)
        epochs = check_int(epochs, "epochs", 1)
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", 1)
        optimizer = self._optimizer_for(optimizer, lr, momentum, nesterov, weight_decay, 0.1,
                                        "fit")
        settings = optimizer.settings(self._dtype)
        val = None
        if validation_data is not None:
            if (not isinstance(validation_data, (tuple, list))
                    or len(validation_data) not in (2, 3)):
                raise TypeError(f"validation_data must be a pair (X_val, y_val) or a triple "
                                f"(X_val, y_val, sample_weight_val); got "
                                f"{type(validation_data).__name__}")
            val = self._xy(*validation_data[:2], names=("validation_data[0] (X_val)",
                                                        "validation_data[1] (y_val)"))
            if len(validation_data) == 3:
                val += (check_row_weights(validation_data[2],
                                          "validation_data[2] (sample_weight_val)",
                                          val[0].shape[0], self._dtype),)
        shuffle, progress = check_bool(shuffle, "shuffle"), check_bool(progress, "progress")
        rng = np.random.default_rng(check_seed(seed))
        callbacks = _callbacks.check_callbacks(callbacks)
        stopper, held_out = self._early_stopping(early_stopping, validation_fraction, patience,
                                                 tol, monitor, val is not None)
        if held_out:
            X, y, weights, val = self._hold_out(X, y, weights, held_out, rng)
        callbacks = _fit_callbacks(stopper, callbacks, progress)
        n = X.shape[0]
        batch_size = n if batch_size is None else min(batch_size, n)
        if batch_size > BLAS_INT_MAX:
            raise ValueError(f"batch_size must be <= {BLAS_INT_MAX} rows (BLAS's int); got "
                             f"{batch_size} (pass a smaller batch_size)")
        training = self._training_settings(label_smoothing, dropout, clip_grad_norm,
                                           clip_grad_value, rng)
        run = self._schedule_run(schedule, optimizer.lr, epochs, n, val)
        with self._training(), self._settings(**training):
            return self._fit(X, y, weights, epochs, batch_size, shuffle, val, callbacks, rng,
                             optimizer, settings, run)

    def partial_fit(self, X, y, classes=None, sample_weight=None, batch_size=32,
                    optimizer=None):
        """One pass over (X, y) that continues the optimizer state; returns ``self``.

        Incremental training with scikit-learn's conventions (``partial_fit``
        returns the estimator), so that dask-ml's ``Incremental`` and Hyperband
        can drive it. The pass is ``fit(X, y, epochs=1, batch_size=batch_size,
        shuffle=False, progress=False, optimizer=...)``: the same compiled epoch,
        checks and failure handling (TrainingDivergedError, Ctrl-C), with the rows
        visited in the order given (the caller orders the stream), so that two
        calls on the same data train exactly as one ``fit(epochs=2,
        shuffle=False)``. For the pass's loss, use ``fit(epochs=1)``, which returns
        the History.

        Parameters
        ----------
        X, y : array_like
            As for :meth:`fit`.
        classes : array_like of int, optional
            Cross-entropy only: the labels the whole stream holds, a subset of the
            model's classes ``range(n_outputs)`` (labels are the output indices).
            The first call fixes the label set: ``classes`` if given, else every
            class of the model. A later ``classes`` must name the same set (as
            dask-ml repeats it on every call), and a label of ``y`` outside the set
            is a ValueError. ``fit`` neither reads nor changes the set; copies and
            pickles keep it, ``save`` does not.
        sample_weight : array_like, shape (n_samples,), optional
            Positive row weights, as for fit (each batch's loss is its weighted
            mean).
        batch_size : int or None
            Rows per step, as for fit.
        optimizer : fastmlp.optim.SGD, Adam or AdamW, optional
            The update rule. None: the model's current :attr:`optimizer` (that of
            the last fit, step or partial_fit), or ``SGD(lr=0.1)``, fit's default,
            when it has none. The state continues as described in :meth:`fit`.
        """
        X, y = self._xy(X, y)
        label_set = self._label_set(classes, y)
        self.fit(X, y, epochs=1, batch_size=batch_size, shuffle=False, progress=False,
                 optimizer=self._optimizer if optimizer is None else optimizer,
                 sample_weight=sample_weight)
        self._classes = label_set
        return self

    def _label_set(self, classes, y):
        """The label set partial_fit keeps after a call with ``classes`` and the checked
        labels ``y`` (None for mse): ValueError if either breaks the set already fixed."""
        if self._loss_name not in LABEL_LOSSES:
            if classes is not None:
                raise ValueError(f"classes is for models trained on class labels "
                                 f"(cross_entropy, hinge, squared_hinge); this "
                                 f"model uses {self._loss_name}: pass classes=None")
            return None
        k = self._layer_sizes[-1]
        fixed = self._classes
        if classes is None:
            given = fixed if fixed is not None else tuple(range(k))
        else:
            arr = as_array(classes, "classes")
            check_ndim(arr, "classes", 1, "(n_classes,)")
            check_not_empty(arr, "classes")
            given = tuple(np.unique(check_labels(arr, "classes", arr.shape[0], k)).tolist())
            if fixed is not None and given != fixed:
                raise ValueError(f"classes must be the label set the first partial_fit call "
                                 f"fixed, {list(fixed)}; got {list(given)}")
        outside = ~np.isin(y, given)
        if outside.any():
            i = int(np.argmax(outside))
            raise ValueError(f"y must hold labels of the classes {list(given)} (partial_fit's "
                             f"label set); got the label {int(y[i])} at index {i}")
        return given

    def _early_stopping(self, early_stopping, validation_fraction, patience, tol, monitor,
                        validated):
        """fit's EarlyStopping callback (None without early_stopping), and the fraction
        of the rows to hold out for it (0 for none)."""
        early_stopping = check_bool(early_stopping, "early_stopping")
        fraction = check_real(validation_fraction, "validation_fraction", minimum=0.0,
                              exclusive=True, below=1.0)
        stopper = _callbacks.EarlyStopping(monitor, patience, tol)  # checks the three
        changed = [f"{name}={value!r}" for name, value, default in (
            ("validation_fraction", fraction, 0.1), ("patience", stopper.patience, 10),
            ("tol", stopper.tol, 1e-4), ("monitor", stopper.monitor, "val_loss"))
            if value != default]
        if not early_stopping:
            if changed:
                raise ValueError(f"{', '.join(changed)}: these settings are for early "
                                 f"stopping; pass early_stopping=True too")
            return None, 0.0
        if validated or not stopper.monitor.startswith("val_"):
            if fraction != 0.1:
                raise ValueError(f"validation_fraction={fraction!r} is not used: fit holds "
                                 f"data out only for a val_ monitor without validation_data")
            return stopper, 0.0
        return stopper, fraction

    def _hold_out(self, X, y, weights, fraction, rng):
        """(X, y, weights, (X_val, y_val[, weights_val])): the checked rows (and their
        weights, None or not) split at random (by ``rng``) into training and
        validation parts, stratified by class for the label losses."""
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"early_stopping holds out validation_fraction={fraction!r} of "
                             f"the rows, but X has only {n} row; pass validation_data")
        n_val = holdout_size(fraction, n, "validation_fraction")
        train, held = split_indices(n, n_val, rng,
                                    y if self._loss_name in LABEL_LOSSES else None)
        if weights is None:
            return X[train], y[train], None, (X[held], y[held])
        return X[train], y[train], weights[train], (X[held], y[held], weights[held])

    def _schedule_run(self, schedule, lr, epochs, n, val):
        """A new run of ``schedule`` (None: the constant ``lr``) for a fit of ``epochs``
        epochs of ``n`` rows, checked before training: the validation data it
        monitors exists, and, when it follows no result, every epoch's rate."""
        if schedule is None:
            schedule = _optim._Constant()
        elif not isinstance(schedule, _optim.Schedule):
            raise TypeError(f"schedule must be a fastmlp.optim schedule (StepLR, "
                            f"CosineAnnealingLR, ReduceLROnPlateau, ...) or None; got "
                            f"{type(schedule).__name__}")
        if schedule.monitor == "val_loss" and val is None:
            raise ValueError(f"schedule={schedule!r} monitors val_loss: pass validation_data")
        if schedule.monitor is None:
            for epoch, epoch_lr in enumerate(schedule.lrs(lr, epochs, n), 1):
                self._check_epoch_lr(epoch_lr, epoch, schedule)
        return schedule.start(lr)

    def _check_epoch_lr(self, lr, epoch, schedule):
        """ValueError unless the compiled core can train epoch ``epoch`` with rate ``lr``."""
        try:
            check_setting(lr, "lr", self._dtype, minimum=0.0, exclusive=True)
        except ValueError as exc:
            raise ValueError(f"schedule={schedule!r} gives epoch {epoch} a learning rate the "
                             f"{self._dtype.name} model cannot train with: {exc}") from None

    def _use_epoch_lr(self, run, settings, epoch):
        """Configure the network with the run's rate for ``epoch`` (when it changed);
        returns the rate. The state carries on: only a setting changes."""
        lr = run.lr
        if lr != settings["lr"]:
            self._check_epoch_lr(lr, epoch, run.schedule)
            settings["lr"] = lr
            self._net.configure(settings, self._optimizer if lr == self._optimizer.lr else None)
        return lr

    def _end_epoch(self, run, history, n):
        """Tell the run the epoch's results; True if it ends training
        (``history.stop_reason`` then says why)."""
        reason = run.step(history.loss[-1], history.val_loss[-1] if history.val_loss else None,
                          n)
        if reason is not None:
            history.stop_reason = reason
        return reason is not None

    def _fit(self, X, y, weights, epochs, batch_size, shuffle, val, callbacks, rng, optimizer,
             settings, run):
        n = X.shape[0]
        by_label = self._loss_name in LABEL_LOSSES
        classifier = self._loss_name in CLASSIFIERS
        labels = y if by_label else self._no_labels
        targets = self._none2 if by_label else y
        measured = ("loss", "accuracy") if classifier else ("loss",)
        if val is not None:
            measured += tuple("val_" + name for name in measured)
        if optimizer.l2 > 0:
            measured += ("penalty",)
        history = History(max_epochs=epochs, measured=measured)
        recorded = 0
        # First, so that a callback refusing the settings leaves the model (and its
        # optimizer state) untouched.
        _callbacks.begin(callbacks, self, history)
        start = None
        try:
            self._net.configure(settings, optimizer)
            self._optimizer = optimizer
            # What a rollback needs, kept once per call: divergence is detected in the
            # compiled epoch (each batch's loss, and the parameters after its last step).
            start = self._snapshot()
            for epoch in range(1, epochs + 1):
                lr = self._use_epoch_lr(run, settings, epoch)
                order = rng.permutation(n) if shuffle and batch_size < n else self._no_labels
                loss_sum, correct, batches, status, penalty_sum = self._net.train_epoch(
                    X, labels, targets, order, batch_size, weights)
                if status != "done":
                    self._diverged(epoch, batches + 1, status, X, y, start, history)
                history._record((loss_sum + penalty_sum) / n, correct / n if classifier else None,
                                self._loss_of(*val) if val else None,
                                self._score_of(*val) if val and classifier else None, lr,
                                penalty_sum / n if optimizer.l2 > 0 else None)
                recorded = epoch
                stopper = _callbacks.epoch_end(callbacks, self, history)
                if stopper is not None:
                    history.stop_reason = getattr(stopper, "stop_reason", "callback")
                    break
                if self._end_epoch(run, history, n):
                    break
            else:
                history.stop_reason = "max_epochs"
            # The last update is judged by no later loss: judge it once, on the last
            # batch_size rows, in the model's dtype (as the steps' losses are), so that
            # fit never returns a model that diverged.
            last = self._loss_of(X[n - batch_size:], y[n - batch_size:])
            with np.errstate(over="ignore"):
                last = self._dtype.type(last)
            if not np.isfinite(last):
                self._diverged(recorded, None, "last", X, y, start, history)
        except KeyboardInterrupt:
            history._keep(recorded)
            history.interrupted = True
            history.stop_reason = "interrupted"
            if start is not None and not np.isfinite(self._params).all():
                self._restore(start)
            warnings.warn(f"training interrupted after {recorded} complete epoch(s); the "
                          f"model keeps the parameters of its last completed step",
                          RuntimeWarning, stacklevel=3)
        except BaseException as exc:
            if not isinstance(exc, TrainingDivergedError):
                history.stop_reason = "error"
            raise
        finally:
            _callbacks.end(callbacks, self, history)
        return history

    def _restore(self, saved):
        """Put back the parameters and optimizer state saved by ``_fit`` (workspace held)."""
        params, state = saved
        self._params[...] = params
        if state is None:
            self._net.reset_state()
        else:
            self._net.set_state(*state)

    def _score_of(self, X, y, weights=None):
        """Accuracy on the checked (X, y) (subset accuracy for binary cross-entropy),
        weighted by the checked ``weights``."""
        if self._loss_name == "binary_cross_entropy":
            right = np.all(self._labels_of(X) == y, axis=1)
        else:
            right = self._outputs(X, False).argmax(axis=1) == y
        return float(np.average(right, weights=weights))

    def _diverged(self, epoch, step, status, X, y, start, history):
        """Leave the model on parameters that are finite on the training data; raise."""
        if status == "diverged":
            what = (f"at epoch {epoch}, step {step}: the loss became NaN or infinite, so that "
                    f"step made no update")
            current = f"the parameters after step {step - 1} of epoch {epoch}, the last step " \
                      f"with a finite loss" if step > 1 else \
                      "the parameters of the last step with a finite loss"
        elif status == "overflowed":
            what = (f"in epoch {epoch}: after its last step the loss is NaN or infinite, or "
                    f"the parameters overflowed")
            current = None
        else:
            what = (f"in epoch {epoch}: after its last step the loss is NaN or infinite on the "
                    f"last batch")
            current = None
        if current is not None and self._finite_on(X, y):
            kept, finite = current, "which give finite outputs on the training data"
        else:
            self._restore(start)
            kept = "the parameters it had when fit was called"
            finite = ("which give finite outputs on the training data" if self._finite_on(X, y)
                      else "although those too give NaN or infinite outputs on the training "
                           "data")  # the model came to fit this way: it is left as given
        history.stop_reason = "diverged"
        raise TrainingDivergedError(
            f"training diverged {what}. The model keeps {kept}, {finite}. Try a lower "
            f"learning rate than lr={self._optimizer.lr}.", history)

    # --- saving ---------------------------------------------------------------------

    def save(self, path, include_optimizer=False):
        """Write the model to ``path`` (an ``.npz`` file, no pickle), atomically.

        With ``include_optimizer``, the file also holds the optimizer (its class
        and settings) and its state (buffers and step count), so that the loaded
        model's ``fit(..., optimizer=loaded.optimizer)`` resumes training exactly
        where this one would have; the model must then not be training in
        another thread (RuntimeError), so that parameters and state match.

        The file is written next to its destination and moved into place with
        ``os.replace``, so a crash mid-save never leaves a half-written model; the
        path is checked first (``fastmlp._validation.check_output_path``). The
        parameters are copied once, so the file and its checksum agree even while
        another thread trains the model. A symbolic link is followed (its target is
        replaced, the link stays); the file gets the mode an ordinary new file would
        (``0o666`` less the umask), or keeps the mode of the file it replaces.
        """
        target = check_output_path(path, "path")
        include_optimizer = check_bool(include_optimizer, "include_optimizer")
        if include_optimizer:
            params, state = self._snapshot()
            if self._optimizer is None or state is None:
                raise ValueError("include_optimizer=True needs an optimizer state: this model "
                                 "has not been trained with fit or step since it was created, "
                                 "loaded or reset")
        else:
            params = self._params.copy()
        if not np.isfinite(params).all():  # load would refuse the file
            W_or_b = [f"{kind}[{l}]" for l in range(self.n_layers)
                      for kind in ("weights", "biases")
                      if not np.isfinite(self._layer(params, kind, l)).all()]
            raise ValueError(f"cannot save a model whose parameters hold NaN or infinite "
                             f"values ({', '.join(W_or_b)}): MLP.load refuses such files. "
                             f"Nothing was written to {os.fsdecode(path)}.")
        arrays = {
            "format_version": np.array(FORMAT_VERSION if not include_optimizer
                                       else OPTIMIZER_FORMAT_VERSION),
            "layer_sizes": np.array(self._layer_sizes, dtype=np.int64),
            "activation": np.array(self._activation),
            "loss": np.array(self._loss_name),
            "dtype": np.array(self._dtype.name),
            "init": np.array(self._init),
        }
        for l, (W, b) in enumerate(zip(*self._split(params))):
            arrays[f"W{l}"], arrays[f"b{l}"] = W, b
        if include_optimizer:
            _, buffers, updates, _ = state
            arrays["optimizer"] = np.array(_optim.to_json(self._optimizer))
            arrays["optimizer_updates"] = np.array(updates, dtype=np.int64)
            arrays["optimizer_state"] = buffers
        arrays["checksum"] = np.array(checksum(arrays))
        folder = os.path.dirname(target)
        mode = _file_mode(target)
        fd, tmp = tempfile.mkstemp(prefix=".fastmlp-", suffix=".npz.tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fchmod(f.fileno(), mode)
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
        _fsync_folder(folder)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; checks format version, shapes and dtypes.

        A file saved with ``include_optimizer=True`` restores ``optimizer`` and its
        state too.

        Never unpickles, and checks every name, shape and the checksum before it
        allocates the model. A missing, truncated, corrupt or tampered file raises
        ValueError (OSError when it cannot be read at all).
        """
        return read_model(cls, path)

    # --- PyTorch (optional: fastmlp/torch_bridge.py, imported when called) -----------

    def to_torch(self):
        """This model as a ``torch.nn.Sequential``, with copies of its parameters.

        ``Linear`` layers in the model's dtype with the hidden activation module
        (``nn.Tanh``, ``nn.Sigmoid``, ``nn.ReLU`` or ``nn.Identity``) between them.
        The output activation is left to the loss, as in torch code: the module
        returns the last layer's raw output, the logits that
        ``nn.CrossEntropyLoss`` (cross-entropy models; ``softmax`` of them is
        :meth:`forward`) and ``nn.BCEWithLogitsLoss`` (binary cross-entropy;
        ``sigmoid`` of them) expect, the class scores of ``nn.MultiMarginLoss``
        (the hinge losses), or the predictions of ``nn.MSELoss``.
        ``MLP.from_torch(model.to_torch())`` gives back the same parameters, bit
        for bit. Needs PyTorch (ImportError saying how to install it otherwise).
        """
        from . import torch_bridge
        return torch_bridge.to_torch(self)

    @classmethod
    def from_torch(cls, module, activation=None, loss=None, dtype=None):
        """An MLP with the layers and parameters (copied) of a ``torch.nn.Sequential``.

        Parameters
        ----------
        module : torch.nn.Sequential or torch.nn.Linear
            ``Linear`` layers (with biases), one hidden activation module between
            each two (``Tanh``, ``Sigmoid``, ``ReLU``; ``Identity`` or none for
            ``activation="identity"``), the same one everywhere, and at the end
            optionally one output module: ``Softmax``/``LogSoftmax`` over dim 1
            (cross-entropy) or ``Sigmoid`` (binary cross-entropy). Nested
            Sequentials are read in order. Any other layer is a ValueError that
            names it (its index and repr).
        activation : str, optional
            The hidden activation; by default the module's (``"tanh"`` for a
            single Linear layer). Given, it must agree with the module's.
        loss : str, optional
            By default the output module's loss, and with no output module (raw
            logits, as ``to_torch`` writes them) ``"cross_entropy"``, or
            ``"binary_cross_entropy"`` for a single output. Pass ``loss="mse"``
            for a regression network, ``"hinge"`` or ``"squared_hinge"`` for
            one trained with ``nn.MultiMarginLoss``. Given, it must agree with an
            output module.
        dtype : float32 or float64, optional
            By default the parameters' dtype (which must be one of these);
            given, the parameters are converted to it.

        Needs PyTorch (ImportError saying how to install it otherwise).
        """
        from . import torch_bridge
        return torch_bridge.from_torch(cls, module, activation=activation, loss=loss,
                                       dtype=dtype)


def _no_sgd_arguments(lr, momentum, nesterov, weight_decay):
    """Are step's SGD arguments all at their defaults? (Cheap: exact types only.)"""
    return (lr is None and nesterov is False and type(momentum) is float and momentum == 0
            and type(weight_decay) is float and weight_decay == 0)


def _umask():
    try:  # read, on Linux, without changing it (os.umask sets it, for every thread)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode(target):
    """The mode ``open(target, "w")`` would leave: the existing file's, or 0o666 & ~umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _fsync_folder(folder):
    """Make the rename durable (POSIX); best effort where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fit_callbacks(stopper, callbacks, progress):
    """The callbacks fit runs, in order: its EarlyStopping, the given ones, a ProgressBar."""
    run = ([stopper] if stopper is not None else []) + callbacks
    if progress and not any(isinstance(cb, _callbacks.ProgressBar) for cb in run):
        run.append(_callbacks.ProgressBar())
    return run
