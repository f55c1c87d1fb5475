"""fit's callbacks (the protocol, ModelCheckpoint, ProgressBar) and partial_fit."""
import copy
import os
import pickle

import numpy as np
import pytest

from fastmlp import MLP, datasets, optim
from fastmlp.callbacks import Callback, EarlyStopping, ModelCheckpoint, ProgressBar


def circles(n=120, seed=0):
    return datasets.circles(n, noise=0.25, seed=seed)


def fresh(dtype=np.float64, loss="cross_entropy"):
    return MLP([2, 8, 2], dtype=dtype, loss=loss, seed=0)


def same_parameters(a, b):
    for Wa, Wb in zip(list(a.weights) + list(a.biases), list(b.weights) + list(b.biases)):
        np.testing.assert_array_equal(Wa, Wb)


class Recorder(Callback):
    """Logs every call; keeps a copy of the parameters after each epoch; may stop."""

    def __init__(self, stop_at=None):
        self.calls, self.snapshots, self.stop_at = [], [], stop_at

    def on_train_begin(self, model, history):
        self.calls.append(("begin", history.epochs, history.max_epochs, history.measured))

    def on_epoch_end(self, model, history):
        self.calls.append(("epoch", history.epochs, len(history.val_loss)))
        self.snapshots.append(copy.deepcopy(model))
        return history.epochs == self.stop_at

    def on_train_end(self, model, history):
        self.calls.append(("end", history.epochs, history.stop_reason))


# --- the protocol --------------------------------------------------------------------

def test_callbacks_are_called_between_epochs_with_the_history_so_far():
    X, y = circles()
    rec = Recorder()
    fresh().fit(X, y, epochs=3, validation_data=(X, y), progress=False, seed=1, callbacks=[rec])
    measured = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert rec.calls == [("begin", 0, 3, measured), ("epoch", 1, 1), ("epoch", 2, 2),
                         ("epoch", 3, 3), ("end", 3, "max_epochs")]
    # What a callback sees after epoch 2 is the model of a 2-epoch fit: it ran between
    # compiled epochs, not inside one.
    two = fresh()
    two.fit(X, y, epochs=2, progress=False, seed=1)
    same_parameters(rec.snapshots[1], two)


def test_a_callback_that_returns_true_stops_training_after_that_epoch():
    X, y = circles()
    rec, other = Recorder(stop_at=2), Recorder()
    model = fresh()
    history = model.fit(X, y, epochs=10, progress=False, seed=1, callbacks=[rec, other])
    assert history.epochs == 2 and history.stop_reason == "callback"
    assert other.calls[-2:] == [("epoch", 2, 0), ("end", 2, "callback")]  # all see the epoch
    two = fresh()
    two.fit(X, y, epochs=2, progress=False, seed=1)
    same_parameters(model, two)


def test_any_object_with_some_of_the_hooks_is_a_callback():
    class Stop:  # no base class, only one hook, numpy's bool
        def on_epoch_end(self, model, history):
            return np.bool_(history.epochs >= 1)

    X, y = circles()
    history = fresh().fit(X, y, epochs=5, progress=False, callbacks=(Stop(),))
    assert history.epochs == 1 and history.stop_reason == "callback"


def test_on_train_end_runs_when_a_callback_raises():
    class Boom(Callback):
        def on_epoch_end(self, model, history):
            raise LookupError("boom")

    X, y = circles()
    rec = Recorder()
    with pytest.raises(LookupError, match="boom"):
        fresh().fit(X, y, epochs=3, progress=False, callbacks=[rec, Boom()])
    assert rec.calls[-1] == ("end", 1, "error")


def test_a_refusing_on_train_begin_leaves_the_model_untouched():
    X, y = circles()
    model = fresh()
    model.fit(X, y, epochs=1, progress=False, optimizer=optim.Adam(0.01))
    state = model._net.get_state()
    rec = Recorder()
    with pytest.raises(ValueError, match="monitors a curve this fit does not record"):
        model.fit(X, y, epochs=1, progress=False, callbacks=[rec, EarlyStopping()])
    assert rec.calls[-1] == ("end", 0, "error")  # the callbacks that began have ended
    assert model.optimizer == optim.Adam(0.01)  # not replaced by fit's SGD
    np.testing.assert_array_equal(model._net.get_state()[1], state[1])


def test_callbacks_may_read_but_not_train_the_model():
    class Trainer(Callback):
        def on_epoch_end(self, model, history):
            model.fit(X, y, epochs=1, progress=False)

    X, y = circles()
    with pytest.raises(RuntimeError):
        fresh().fit(X, y, epochs=2, progress=False, callbacks=[Trainer()])


@pytest.mark.parametrize("callbacks, exc, fragment", [
    (EarlyStopping(), TypeError, "callbacks must be a list of callbacks (objects with "
                                 "on_train_begin, on_epoch_end or on_train_end); got "
                                 "EarlyStopping"),
    ([EarlyStopping], TypeError, "callbacks[0] must be a callback object; got the class "
                                 "EarlyStopping (pass an instance: EarlyStopping(...))"),
    ([ProgressBar(), "bar"], TypeError, "callbacks[1] must be a callback (an object with "
                                        "on_train_begin, on_epoch_end or on_train_end); "
                                        "got str 'bar'"),
    ([(rec := Recorder()), rec], ValueError, "callbacks[1] is callbacks[0] again"),
], ids=["not-a-list", "a-class", "no-hooks", "twice"])
def test_bad_callbacks(callbacks, exc, fragment):
    X, y = circles()
    model = fresh()
    with pytest.raises(exc) as info:
        model.fit(X, y, epochs=1, progress=False, callbacks=callbacks)
    assert fragment in str(info.value)
    assert model.optimizer is None


def test_on_epoch_end_must_return_a_bool_or_none():
    class Loss(Callback):
        def on_epoch_end(self, model, history):
            return history.loss[-1]

    X, y = circles()
    with pytest.raises(TypeError, match="Loss.on_epoch_end must return True .stop., False or "
                                        "None; got float"):
        fresh().fit(X, y, epochs=2, progress=False, callbacks=[Loss()])


# --- ProgressBar ---------------------------------------------------------------------

def test_progress_is_a_progress_bar_callback(capsys):
    X, y = circles()
    fresh().fit(X, y, epochs=2, validation_data=(X, y))
    err = capsys.readouterr().err
    assert err.count("2/2") == 1 and "loss=" in err and "acc=" in err and "val_acc=" in err
    # One bar, not two, when the callbacks already hold one.
    fresh().fit(X, y, epochs=2, callbacks=[ProgressBar()])
    assert capsys.readouterr().err.count("2/2") == 1
    fresh().fit(X, y, epochs=2, progress=False, callbacks=[ProgressBar()])
    assert capsys.readouterr().err.count("2/2") == 1
    fresh().fit(X, y, epochs=2, progress=False)
    assert capsys.readouterr().err == ""


# --- ModelCheckpoint -----------------------------------------------------------------

def test_checkpoint_of_the_best_epoch_loads_as_the_restored_model(tmp_path, dtype):
    X, y = circles(200)
    Xv, yv = circles(100, seed=2)
    path = tmp_path / "best.npz"
    model = fresh(dtype)
    history = model.fit(X, y, epochs=40, batch_size=5, lr=2.0, momentum=0.5, seed=0,
                        validation_data=(Xv, yv), progress=False,
                        callbacks=[EarlyStopping(patience=1000),
                                   ModelCheckpoint(path, include_optimizer=True)])
    assert history.best_epoch < history.epochs  # so the file is not just the last model
    loaded = MLP.load(path)
    same_parameters(loaded, model)  # the restored best epoch
    assert loaded.optimizer == model.optimizer
    np.testing.assert_array_equal(loaded._net.get_state()[1], model._net.get_state()[1])
    assert sorted(os.listdir(tmp_path)) == ["best.npz"]  # no temporary files left


def test_checkpoint_of_every_epoch_holds_the_last_model(tmp_path):
    X, y = circles()
    path = str(tmp_path / "last.npz")
    model = fresh()
    model.fit(X, y, epochs=3, progress=False,
              callbacks=[ModelCheckpoint(path, monitor="loss", save_best_only=False)])
    loaded = MLP.load(path)
    same_parameters(loaded, model)
    assert loaded.optimizer is None  # include_optimizer=False


def test_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="the folder .* does not exist"):
        ModelCheckpoint(tmp_path / "missing" / "m.npz")
    with pytest.raises(TypeError, match="save_best_only must be True or False"):
        ModelCheckpoint(tmp_path / "m.npz", save_best_only="yes")
    with pytest.raises(ValueError, match="monitor must be one of"):
        ModelCheckpoint(tmp_path / "m.npz", monitor="val_acc")
    X, y = circles()
    with pytest.raises(ValueError, match=r"ModelCheckpoint\(monitor='val_loss'\) monitors"):
        fresh().fit(X, y, progress=False, callbacks=[ModelCheckpoint(tmp_path / "m.npz")])


# --- partial_fit ---------------------------------------------------------------------

@pytest.mark.parametrize("opt", [None, optim.SGD(0.2, momentum=0.9), optim.Adam(0.01)],
                         ids=["default", "momentum", "adam"])
def test_two_partial_fits_equal_fit_of_two_epochs_without_shuffling(dtype, opt):
    X, y = circles()
    streamed, fitted = fresh(dtype), fresh(dtype)
    for _ in range(2):
        assert streamed.partial_fit(X, y, classes=[0, 1], batch_size=16, optimizer=opt) \
            is streamed
    fitted.fit(X, y, epochs=2, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    same_parameters(streamed, fitted)
    assert streamed.optimizer == fitted.optimizer == (opt or optim.SGD(0.1))


def test_partial_fit_continues_the_models_optimizer():
    X, y = circles()
    a, b = fresh(), fresh()
    a.fit(X, y, epochs=1, shuffle=False, progress=False, optimizer=optim.Adam(0.01))
    a.partial_fit(X[:50], y[:50])  # Adam, continued
    b.fit(X, y, epochs=1, shuffle=False, progress=False, optimizer=optim.Adam(0.01))
    b.fit(X[:50], y[:50], epochs=1, shuffle=False, progress=False, optimizer=b.optimizer)
    same_parameters(a, b)


def test_partial_fit_label_set():
    X, y = circles()
    model = MLP([2, 4, 3], seed=0)
    model.partial_fit(X, y, classes=[1, 0, 1])  # the set {0, 1}; 2 never comes
    model.partial_fit(X, y, classes=np.array([0, 1]))  # the same set again
    model.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"y must hold labels of the classes \[0, 1\] "
                                         r"\(partial_fit's label set\); got the label 2 at "
                                         r"index 3"):
        model.partial_fit(X[:4], [0, 1, 0, 2])
    with pytest.raises(ValueError, match=r"classes must be the label set the first "
                                         r"partial_fit call fixed, \[0, 1\]; got \[0, 1, 2\]"):
        model.partial_fit(X, y, classes=[0, 1, 2])
    assert copy.deepcopy(model)._classes == pickle.loads(pickle.dumps(model))._classes == (0, 1)
    # Without classes, the first call fixes every class of the model.
    whole = MLP([2, 4, 3], seed=0).partial_fit(X, y)
    with pytest.raises(ValueError, match=r"fixed, \[0, 1, 2\]; got \[0, 1\]"):
        whole.partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("kwargs, exc, fragment", [
    (dict(classes=[0, 2]), ValueError, "classes must hold labels in [0, 2) for 2 classes; "
                                       "got the label 2 at index 1"),
    (dict(classes=[[0, 1]]), ValueError, "classes must be a 1-D array (n_classes,); got 2-D"),
    (dict(classes=[]), ValueError, "classes must not be empty; got shape (0,)"),
    (dict(classes=["a"]), TypeError, "classes must hold integer class labels"),
    (dict(sample_weight=np.ones(3)), ValueError,
     "sample_weight must have shape (120,) (one weight per row); got (3,)"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1; got 0"),
    (dict(optimizer="adam"), TypeError, "optimizer must be a fastmlp.optim optimizer"),
], ids=["out-of-range", "2-d", "empty", "strings", "sample-weight", "batch-size", "optimizer"])
def test_bad_partial_fit_arguments(kwargs, exc, fragment):
    X, y = circles()
    model = fresh()
    with pytest.raises(exc) as info:
        model.partial_fit(X, y, **kwargs)
    assert fragment in str(info.value)
    assert model.optimizer is None and model._classes is None


def test_partial_fit_classes_are_for_classifiers():
    X, _ = circles()
    model = fresh(loss="mse")
    with pytest.raises(ValueError, match=r"classes is for models trained on class labels "
                                         r"\(cross_entropy, hinge, squared_hinge\)"):
        model.partial_fit(X, np.zeros((len(X), 2)), classes=[0, 1])
    assert model.partial_fit(X, np.zeros((len(X), 2))) is model


def test_epoch_timer_records_each_epochs_end():
    from fastmlp.callbacks import EpochTimer
    timer = EpochTimer()
    X = np.random.default_rng(0).normal(size=(20, 2))
    history = MLP([2, 3, 2], seed=0).fit(X, (X[:, 0] > 0).astype(int), epochs=3, progress=False,
                                         callbacks=[timer])
    assert len(timer.seconds) == history.epochs == 3
    assert 0 < timer.seconds[0] < timer.seconds[1] < timer.seconds[2]
    np.testing.assert_allclose(np.cumsum(timer.epoch_seconds), timer.seconds)
    MLP([2, 2], seed=0).fit(X, (X[:, 0] > 0).astype(int), epochs=1, progress=False,
                            callbacks=[timer])
    assert len(timer.seconds) == 1  # a new fit starts afresh
