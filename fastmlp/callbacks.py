"""Callbacks: Python that :meth:`fastmlp.MLP.fit` runs between its compiled epochs.

The protocol (documented on :class:`Callback`, which callbacks may but need not
subclass): ``fit(..., callbacks=[...])`` calls, on fit's own thread,

* ``on_train_begin(model, history)`` once, before the first epoch;
* ``on_epoch_end(model, history)`` after every epoch, once the epoch is in
  ``history``; a return of True stops training after that epoch;
* ``on_train_end(model, history)`` once, however training ends (``history.stop_reason``
  says how), unless ``on_train_begin`` of this callback never ran.

An object may define any subset of the three. Callbacks run in the order given,
all of them every epoch (one that returns True does not keep the others from
seeing the epoch). They never run inside an epoch, so they add no work to the
compiled loop. While they run, fit holds the model's workspace: a callback may
read the model (``predict``, ``score``, ``loss``, ``save``, copies) but not train
it (``fit``, ``step``: RuntimeError).

Built in: :class:`EarlyStopping` (what ``fit(early_stopping=True)`` uses),
:class:`ModelCheckpoint` and :class:`ProgressBar` (what ``fit(progress=True)``
uses).
"""
import math
import time

import numpy as np

from ._validation import check_bool, check_choice, check_int, check_output_path, check_real

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ProgressBar", "EpochTimer",
           "MONITORS"]

#: The History curves a callback can monitor; "loss" in the name means lower is better.
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")
_MODES = ("auto", "min", "max")
_HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")
# The ways training can end at an epoch boundary, with a whole model to restore.
_AT_EPOCH_END = ("max_epochs", "early_stopping", "callback")


class Callback:
    """The callback protocol of :meth:`fastmlp.MLP.fit`; every method does nothing.

    Subclass it and override what you need (or pass any object with some of
    these methods). ``history`` is the :class:`fastmlp.History` being filled:
    ``history.epochs`` epochs so far, the curves, ``max_epochs`` (the epochs fit
    was asked for), ``measured`` (the names of the curves fit fills),
    ``best_epoch`` and, in ``on_train_end``, ``stop_reason``.

    ``stop_reason`` (a class attribute) is what ``history.stop_reason`` becomes
    when this callback stops training: ``"callback"`` unless a subclass says
    otherwise.
    """

    stop_reason = "callback"

    def on_train_begin(self, model, history):
        """Called once before the first epoch (raise here to refuse a setting: nothing
        has been trained yet)."""

    def on_epoch_end(self, model, history):
        """Called after every epoch; return True to stop training after it."""
        return None

    def on_train_end(self, model, history):
        """Called once when training ends, also when it ends by an error
        (``history.stop_reason`` is then ``"diverged"`` or ``"error"``)."""


class _Monitor:
    """One monitored History curve: its latest value and whether a value beats another."""

    def __init__(self, monitor, mode):
        self.name = check_choice(monitor, "monitor", MONITORS)
        mode = check_choice(mode, "mode", _MODES)
        if mode == "auto":
            mode = "min" if self.name.endswith("loss") else "max"
        self.mode = mode
        self._sign = 1.0 if mode == "min" else -1.0

    def check(self, history, owner):
        """ValueError (before any epoch) unless fit records the monitored curve."""
        if self.name in history.measured:
            return
        why = ("the model does not measure accuracy (an mse model); monitor a loss"
               if "accuracy" not in history.measured else
               "fit has no validation data: pass validation_data=(X_val, y_val), or use "
               "fit(early_stopping=True), which holds some of the training data out")
        raise ValueError(f"{owner}(monitor={self.name!r}) monitors a curve this fit does not "
                         f"record ({', '.join(history.measured)}): {why}")

    def latest(self, history):
        return getattr(history, self.name)[-1]

    def beats(self, value, best, tol=0.0):
        """Is ``value`` better than ``best`` (None: nothing yet) by more than tol? NaN never is."""
        if math.isnan(value):
            return False
        return best is None or self._sign * value < self._sign * best - tol


class EarlyStopping(Callback):
    """Stop when the monitored curve has not improved for ``patience`` epochs, and go
    back to the best epoch.

    Parameters
    ----------
    monitor : {"val_loss", "val_accuracy", "loss", "accuracy"}
        The :class:`fastmlp.History` curve to watch (the ``val_`` ones need
        validation data).
    patience : int >= 1
        Stop after this many epochs in a row without an improvement.
    tol : float >= 0
        An epoch improves when its value beats the best so far by more than tol.
    mode : {"auto", "min", "max"}
        Whether lower or higher is better; ``"auto"``: lower for the losses,
        higher for the accuracies.
    restore_best : bool
        At the end of training, put back the model of the best epoch.

    Semantics. The best epoch is the one with the best value (the first, if
    several tie); ``history.best_epoch`` is its number (1 is the first epoch of
    this fit). Patience counts the epochs since the last one that beat the best
    before it by more than ``tol``. This is scikit-learn's rule for ``MLPClassifier``
    with ``tol`` and ``n_iter_no_change``, except that scikit-learn stops after
    ``n_iter_no_change + 1`` such epochs: ``patience=p`` stops where
    ``n_iter_no_change=p - 1`` does (Keras' ``EarlyStopping(patience=p)`` also
    stops after p).

    With ``restore_best``, the model is put back to the parameters **and the
    optimizer state** it had after the best epoch (a copy is kept each time the
    best improves): it is then exactly the model ``fit(epochs=best_epoch)`` gives,
    and training on from it continues as that one would. It is restored whenever
    training ends at an epoch boundary: by this callback, by another one or after
    the last epoch, as scikit-learn restores its best weights (Keras restores
    only when it stops early). After Ctrl-C or an error the model is left as fit
    leaves it then. The history keeps every epoch trained.

    A callback object starts afresh at each fit (``on_train_begin``).
    """

    stop_reason = "early_stopping"

    def __init__(self, monitor="val_loss", patience=10, tol=1e-4, mode="auto",
                 restore_best=True):
        self._monitor = _Monitor(monitor, mode)
        self.patience = check_int(patience, "patience", 1)
        self.tol = check_real(tol, "tol", minimum=0.0)
        self.restore_best = check_bool(restore_best, "restore_best")
        self.best, self.best_epoch, self.wait, self._saved = None, None, 0, None

    monitor = property(lambda self: self._monitor.name, doc="The monitored History curve.")
    mode = property(lambda self: self._monitor.mode, doc='"min" or "max".')

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"tol={self.tol!r}, mode={self.mode!r}, restore_best={self.restore_best})")

    def on_train_begin(self, model, history):
        self._monitor.check(history, "EarlyStopping")
        self.best, self.best_epoch, self.wait, self._saved = None, None, 0, None

    def on_epoch_end(self, model, history):
        value = self._monitor.latest(history)
        self.wait = 0 if self._monitor.beats(value, self.best, self.tol) else self.wait + 1
        if self._monitor.beats(value, self.best):
            self.best, self.best_epoch = value, history.epochs
            history.best_epoch = self.best_epoch
            if self.restore_best:
                self._saved = model._snapshot()
        return self.wait >= self.patience

    def on_train_end(self, model, history):
        if self._saved is not None and history.stop_reason in _AT_EPOCH_END:
            model._restore(self._saved)
        self._saved = None  # a model-sized copy: not kept past fit


class ModelCheckpoint(Callback):
    """Save the model with :meth:`fastmlp.MLP.save` (atomically) after an epoch.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The ``.npz`` file, overwritten by each save (checked now, as ``save``
        checks it).
    monitor : {"val_loss", "val_accuracy", "loss", "accuracy"}
        The curve that decides which epoch is best (with ``save_best_only``).
    save_best_only : bool
        Save after each epoch whose monitored value beats every earlier one of
        this fit (so the file holds the best epoch's model), rather than after
        every epoch (the last model).
    include_optimizer : bool
        Save the optimizer and its state too (``save(include_optimizer=True)``).
    mode : {"auto", "min", "max"}
        As for :class:`EarlyStopping`.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=True, include_optimizer=False,
                 mode="auto"):
        check_output_path(path, "path")
        self.path = path
        self._monitor = _Monitor(monitor, mode)
        self.save_best_only = check_bool(save_best_only, "save_best_only")
        self.include_optimizer = check_bool(include_optimizer, "include_optimizer")
        self.best = None

    monitor = property(lambda self: self._monitor.name, doc="The monitored History curve.")
    mode = property(lambda self: self._monitor.mode, doc='"min" or "max".')

    def on_train_begin(self, model, history):
        if self.save_best_only:
            self._monitor.check(history, "ModelCheckpoint")
        self.best = None

    def on_epoch_end(self, model, history):
        if self.save_best_only:
            value = self._monitor.latest(history)
            if not self._monitor.beats(value, self.best):
                return None
            self.best = value
        model.save(self.path, include_optimizer=self.include_optimizer)
        return None


class ProgressBar(Callback):
    """A tqdm bar over the epochs, showing the last epoch's loss and accuracy (and the
    validation ones); ``fit(progress=True)`` adds one."""

    def __init__(self):
        self._bar = None

    def on_train_begin(self, model, history):
        from tqdm.auto import tqdm
        self._bar = tqdm(total=history.max_epochs, desc="fit", unit="epoch", leave=True)

    def on_epoch_end(self, model, history):
        postfix = {"loss": f"{history.loss[-1]:.4f}"}
        if history.accuracy:
            postfix["acc"] = f"{history.accuracy[-1]:.3f}"
        if history.val_loss:
            postfix["val_loss"] = f"{history.val_loss[-1]:.4f}"
        if history.val_accuracy:
            postfix["val_acc"] = f"{history.val_accuracy[-1]:.3f}"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)
        return None

    def on_train_end(self, model, history):
        self._bar.close()
        self._bar = None


class EpochTimer(Callback):
    """Wall-clock time of training: ``seconds[e]`` is the time from the start of
    training to the end of epoch e + 1 (``time.perf_counter``; it includes what fit
    does between epochs, such as measuring ``validation_data``), and
    ``epoch_seconds`` each epoch's own share."""

    def __init__(self):
        self.seconds = []
        self._start = None

    def on_train_begin(self, model, history):
        self.seconds, self._start = [], time.perf_counter()

    def on_epoch_end(self, model, history):
        self.seconds.append(time.perf_counter() - self._start)

    @property
    def epoch_seconds(self):
        return list(np.diff(self.seconds, prepend=0.0))


def check_callbacks(callbacks):
    """``fit``'s ``callbacks`` as a list: None, or a list or tuple of distinct callback
    objects (instances with at least one of the protocol's methods)."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of callbacks (objects with on_train_begin, "
                        f"on_epoch_end or on_train_end); got {type(callbacks).__name__}")
    for i, cb in enumerate(callbacks):
        if isinstance(cb, type):
            raise TypeError(f"callbacks[{i}] must be a callback object; got the class "
                            f"{cb.__name__} (pass an instance: {cb.__name__}(...))")
        if not any(callable(getattr(cb, hook, None)) for hook in _HOOKS):
            raise TypeError(f"callbacks[{i}] must be a callback (an object with "
                            f"on_train_begin, on_epoch_end or on_train_end); got "
                            f"{type(cb).__name__} {cb!r}")
        first = next(j for j, other in enumerate(callbacks) if other is cb)
        if first != i:
            raise ValueError(f"callbacks[{i}] is callbacks[{first}] again: each callback "
                             f"keeps its own state, pass it once")
    return list(callbacks)


def begin(callbacks, model, history):
    """Run on_train_begin of each callback. If one raises, those that began end
    (``stop_reason`` "error") before the error goes on."""
    for i, cb in enumerate(callbacks):
        hook = getattr(cb, "on_train_begin", None)
        if hook is None:
            continue
        try:
            hook(model, history)
        except BaseException:
            history.stop_reason = "error"
            end(callbacks[:i], model, history)
            raise


def epoch_end(callbacks, model, history):
    """Run every on_epoch_end; the first callback that asked to stop, or None."""
    stopper = None
    for cb in callbacks:
        hook = getattr(cb, "on_epoch_end", None)
        if hook is None:
            continue
        stop = hook(model, history)
        if stop is not None and not isinstance(stop, (bool, np.bool_)):
            raise TypeError(f"{type(cb).__name__}.on_epoch_end must return True (stop), False "
                            f"or None; got {type(stop).__name__} {stop!r}")
        if stop and stopper is None:
            stopper = cb
    return stopper


def end(callbacks, model, history):
    """Run on_train_end of every callback."""
    for cb in callbacks:
        hook = getattr(cb, "on_train_end", None)
        if hook is not None:
            hook(model, history)
