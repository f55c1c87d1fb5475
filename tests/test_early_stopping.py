"""Early stopping: fit(early_stopping=True) and the EarlyStopping callback behind it.

The restored model is exactly the model of the best epoch (parameters and optimizer
state), the stopping rule is scikit-learn's (fed scikit-learn's own curves, it stops
where scikit-learn stops, with patience = n_iter_no_change + 1), and the held-out
split is stratified as scikit-learn's train_test_split(stratify=y) is.
"""
import warnings

import numpy as np
import pytest

from fastmlp import MLP, History, TrainingDivergedError, datasets, optim
from fastmlp.callbacks import EarlyStopping


def circles(n=300, seed=0):
    X, y = datasets.circles(n, noise=0.25, seed=seed)
    return X, y


def fresh(dtype=np.float64, loss="cross_entropy", sizes=(2, 12, 2)):
    return MLP(list(sizes), dtype=dtype, loss=loss, seed=0)


def same_model(a, b):
    """Exactly the same parameters and optimizer state."""
    for Wa, Wb in zip(list(a.weights) + list(a.biases), list(b.weights) + list(b.biases)):
        np.testing.assert_array_equal(Wa, Wb)
    sa, sb = a._net.get_state(), b._net.get_state()
    assert (sa is None) == (sb is None)
    if sa is not None:
        assert sa[0] == sb[0] and sa[2] == sb[2]
        np.testing.assert_array_equal(sa[1], sb[1])


def watch(monitor, **kwargs):
    """An EarlyStopping that only watches (feed() gives it no model to copy)."""
    return EarlyStopping(monitor, restore_best=False, **kwargs)


def feed(stopper, values, monitor="loss"):
    """Run the callback on a scripted curve; the epoch at which it stops (None: never)."""
    history = History(max_epochs=len(values), measured=(monitor,))
    stopper.on_train_begin(None, history)
    for epoch, value in enumerate(values, 1):
        history._record(value, None, None, None, None)  # history.epochs counts the losses
        if monitor != "loss":
            getattr(history, monitor).append(value)
        if stopper.on_epoch_end(None, history):
            return epoch
    return None


# --- the restored model is the best epoch's ------------------------------------------

@pytest.mark.parametrize("opt", [optim.SGD(0.5, momentum=0.9), optim.Adam(0.05)],
                         ids=["momentum", "adam"])
def test_held_out_early_stopping_restores_exactly_the_best_epoch(dtype, opt):
    X, y = circles()
    kw = dict(batch_size=10, optimizer=opt, early_stopping=True, progress=False, seed=3)
    model = fresh(dtype)
    history = model.fit(X, y, epochs=300, patience=4, **kw)
    assert history.stop_reason == "early_stopping"
    best = history.best_epoch
    assert best == int(np.argmin(history.val_loss)) + 1
    assert history.epochs == best + 4 < 300  # stopped after patience epochs without a gain
    assert len(history.loss) == len(history.val_loss) == history.epochs  # all kept
    # The same run cut at the best epoch (same split, same shuffles): same model.
    again = fresh(dtype)
    cut = again.fit(X, y, epochs=best, patience=1000, **kw)
    assert cut.stop_reason == "max_epochs" and cut.best_epoch == best
    same_model(model, again)
    # ...and it trains on from there as that one does.
    for m in (model, again):
        m.fit(X, y, epochs=2, batch_size=10, optimizer=opt, progress=False, seed=5)
    same_model(model, again)


def test_early_stopping_on_validation_data_restores_the_best_epoch(dtype):
    X, y = circles(seed=1)
    Xv, yv = circles(100, seed=2)
    model, plain = fresh(dtype), fresh(dtype)
    history = model.fit(X, y, epochs=300, batch_size=5, lr=1.0, validation_data=(Xv, yv),
                        early_stopping=True, monitor="val_accuracy", patience=3,
                        progress=False, seed=0)
    best = history.best_epoch
    assert history.stop_reason == "early_stopping" and history.epochs == best + 3
    assert best == int(np.argmax(history.val_accuracy)) + 1
    assert model.score(Xv, yv) == max(history.val_accuracy)
    # Nothing held out: the plain fit of `best` epochs with the same seed is the same run.
    plain.fit(X, y, epochs=best, batch_size=5, lr=1.0, progress=False, seed=0)
    same_model(model, plain)


def test_restore_best_false_keeps_the_last_epoch():
    X, y = circles()
    Xv, yv = circles(100, seed=2)
    model, plain = fresh(), fresh()
    history = model.fit(X, y, epochs=300, batch_size=5, lr=1.0, validation_data=(Xv, yv),
                        progress=False, seed=0,
                        callbacks=[EarlyStopping(patience=2, restore_best=False)])
    assert history.stop_reason == "early_stopping" and history.best_epoch < history.epochs
    plain.fit(X, y, epochs=history.epochs, batch_size=5, lr=1.0, progress=False, seed=0)
    same_model(model, plain)


def test_best_epoch_is_restored_when_the_epochs_run_out():
    X, y = circles()
    Xv, yv = circles(100, seed=2)
    model, plain = fresh(), fresh()
    history = model.fit(X, y, epochs=25, batch_size=5, lr=2.0, validation_data=(Xv, yv),
                        early_stopping=True, patience=1000, progress=False, seed=0)
    assert history.stop_reason == "max_epochs" and history.epochs == 25
    assert history.best_epoch < 25  # lr=2 is noisy: the last epoch is not the best
    plain.fit(X, y, epochs=history.best_epoch, batch_size=5, lr=2.0, progress=False, seed=0)
    same_model(model, plain)


def test_an_interrupted_fit_is_not_rolled_back_to_the_best_epoch():
    class CtrlC:
        def on_epoch_end(self, model, history):
            if history.epochs == 6:
                raise KeyboardInterrupt

    X, y = circles()
    Xv, yv = circles(100, seed=2)
    model, plain = fresh(), fresh()
    with pytest.warns(RuntimeWarning, match="interrupted after 6 complete epoch"):
        history = model.fit(X, y, epochs=50, batch_size=5, lr=2.0, validation_data=(Xv, yv),
                            early_stopping=True, progress=False, seed=0, callbacks=[CtrlC()])
    assert history.stop_reason == "interrupted" and history.interrupted
    plain.fit(X, y, epochs=6, batch_size=5, lr=2.0, progress=False, seed=0)
    same_model(model, plain)


def test_history_says_why_training_stopped():
    X, y = circles(60)
    history = fresh().fit(X, y, epochs=2, progress=False)
    assert history.stop_reason == "max_epochs" and history.best_epoch is None
    assert history.max_epochs == 2 and history.measured == ("loss", "accuracy")
    relu = MLP([2, 50, 2], activation="relu", seed=0)
    with pytest.raises(TrainingDivergedError) as info:
        relu.fit(X * 1e3, y, epochs=50, batch_size=10, lr=1e6, progress=False)
    assert info.value.history.stop_reason == "diverged"


def test_training_curve_monitor_holds_nothing_out():
    X, y = circles(100)
    history = fresh().fit(X, y, epochs=4, early_stopping=True, monitor="loss", patience=100,
                          progress=False, seed=0)
    assert history.val_loss == [] and history.measured == ("loss", "accuracy")
    plain = fresh().fit(X, y, epochs=4, progress=False, seed=0)
    assert history.loss == plain.loss  # trained on every row, in the same order


# --- the stopping rule ---------------------------------------------------------------

def test_stops_after_patience_epochs_without_an_improvement_by_more_than_tol():
    # Improvements by more than tol: epochs 1, 2 and 5; epochs 3-4 improve by less.
    curve = [1.0, 0.5, 0.49995, 0.4999, 0.3, 0.3, 0.31, 0.29995, 0.4]
    stopper = watch("loss", patience=3, tol=1e-4)
    assert feed(stopper, curve) == 8
    assert stopper.best_epoch == 8 and stopper.best == 0.29995  # the best value wins
    assert feed(watch("loss", patience=4, tol=1e-4), curve) == 9
    assert feed(watch("loss", patience=5, tol=1e-4), curve) is None
    assert feed(watch("loss", patience=1, tol=0.0), curve) == 6  # a tie is no gain
    up = [0.1, 0.5, 0.5, 0.4]
    assert feed(watch("accuracy", patience=2), up, "accuracy") == 4
    assert feed(watch("accuracy", patience=2, mode="min"), up, "accuracy") == 3


def test_nan_never_improves():
    stopper = watch("val_loss", patience=2)
    assert feed(stopper, [np.nan, 1.0, np.nan, np.nan], "val_loss") == 4
    assert stopper.best_epoch == 2


def test_stopping_rule_matches_scikit_learn():
    """Fed scikit-learn's own curves, EarlyStopping(patience=n_iter_no_change + 1) stops
    at scikit-learn's last epoch, and its best value is scikit-learn's best score."""
    sklearn = pytest.importorskip("sklearn.neural_network")
    X, y = circles(400)
    for early_stopping, monitor in ((True, "val_accuracy"), (False, "loss")):
        clf = sklearn.MLPClassifier((12,), solver="sgd", learning_rate_init=0.2,
                                    batch_size=20, max_iter=300, n_iter_no_change=3,
                                    tol=1e-4, early_stopping=early_stopping, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)
        curve = clf.validation_scores_ if early_stopping else clf.loss_curve_
        assert clf.n_iter_ < 300  # scikit-learn stopped early
        stopper = watch(monitor, patience=4, tol=1e-4)
        assert feed(stopper, list(curve), monitor) == clf.n_iter_ == len(curve)
        if early_stopping:
            assert stopper.best == clf.best_validation_score_
        else:
            assert stopper.best == clf.best_loss_


# --- the held-out split --------------------------------------------------------------

COUNTS = [[50, 30, 13, 7], [500, 20], [33, 33, 34], [9, 1, 90]]


def stratified(counts, fraction):
    """A shuffled label vector with these class counts, and its stratified split."""
    y = np.repeat(np.arange(len(counts)), counts)
    y = y[np.random.default_rng(0).permutation(y.size)]
    X = np.arange(y.size, dtype=float)[:, None]
    return X, y, datasets.train_test_split(X, y, fraction, seed=0, stratify=y)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.33, 0.5])
@pytest.mark.parametrize("counts", COUNTS, ids=["4-classes", "rare", "even", "singleton"])
def test_stratified_split_gives_each_class_its_share(counts, fraction):
    X, y, (X_train, X_test, y_train, y_test) = stratified(counts, fraction)
    got = np.bincount(y_test, minlength=len(counts))
    assert got.sum() == np.ceil(fraction * y.size) and len(X_train) == y.size - got.sum()
    assert sorted(np.concatenate([X_train, X_test]).ravel()) == list(range(y.size))
    np.testing.assert_array_equal(y[X_test.ravel().astype(int)], y_test)  # rows stay paired
    exact = got.sum() * np.array(counts) / y.size
    assert np.all(np.abs(got - exact) < 1)  # each class as near its share as rows allow


# No tied remainders here (a tie is broken at random, by each library its own way).
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.33, 0.4])
@pytest.mark.parametrize("counts", [[50, 30, 13, 7], [500, 20], [61, 24, 15]],
                         ids=["4-classes", "rare", "3-classes"])
def test_stratified_split_shares_out_rows_as_scikit_learn(counts, fraction):
    split = pytest.importorskip("sklearn.model_selection")
    X, y, (_, _, _, y_test) = stratified(counts, fraction)
    theirs = split.train_test_split(X, y, test_size=fraction, random_state=0, stratify=y)
    ours = np.bincount(y_test, minlength=len(counts))
    np.testing.assert_array_equal(ours, np.bincount(theirs[3], minlength=len(counts)))


def test_unstratified_split_is_unchanged_by_the_stratify_argument():
    X, y = circles(50)
    plain = datasets.train_test_split(X, y, 0.2, seed=4)
    again = datasets.train_test_split(X, y, 0.2, seed=4, stratify=None)
    for a, b in zip(plain, again):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_fit_holds_out_the_seeded_train_test_split(loss):
    X, y = circles(200)
    target = y if loss == "cross_entropy" else np.eye(2)[y]
    X_tr, X_val, y_tr, y_val = datasets.train_test_split(
        X, target, test_size=0.15, seed=7, stratify=y if loss == "cross_entropy" else None)
    held, given = fresh(loss=loss), fresh(loss=loss)
    kw = dict(epochs=3, batch_size=8, lr=0.3, shuffle=False, progress=False)
    history = held.fit(X, target, early_stopping=True, validation_fraction=0.15,
                       patience=100, seed=7, **kw)
    expected = given.fit(X_tr, y_tr, validation_data=(X_val, y_val), **kw)
    assert history.val_loss == expected.val_loss and history.loss == expected.loss
    assert history.best_epoch == int(np.argmin(expected.val_loss)) + 1


# --- bad arguments -------------------------------------------------------------------

X5, Y5 = np.zeros((5, 2)), np.array([0, 1, 0, 1, 1])

BAD = [
    (dict(early_stopping="yes"), TypeError, "early_stopping must be True or False; got str"),
    (dict(early_stopping=True, patience=0), ValueError, "patience must be >= 1; got 0"),
    (dict(early_stopping=True, patience=2.0), TypeError, "patience must be an integer"),
    (dict(early_stopping=True, tol=-1), ValueError, "tol must be >= 0.0; got -1.0"),
    (dict(early_stopping=True, monitor="acc"), ValueError,
     "monitor must be one of 'val_loss', 'val_accuracy', 'loss', 'accuracy'; got 'acc'"),
    (dict(early_stopping=True, validation_fraction=1), ValueError,
     "validation_fraction must be < 1.0; got 1.0"),
    (dict(early_stopping=True, validation_fraction=0.0), ValueError,
     "validation_fraction must be > 0.0; got 0.0"),
    (dict(early_stopping=True, validation_fraction="0.1"), TypeError,
     "validation_fraction must be a real number; got str"),
    (dict(patience=3), ValueError,
     "patience=3: these settings are for early stopping; pass early_stopping=True too"),
    (dict(monitor="loss", tol=0.0), ValueError, "tol=0.0, monitor='loss': these settings"),
    (dict(early_stopping=True, validation_fraction=0.2, validation_data=(X5, Y5)), ValueError,
     "validation_fraction=0.2 is not used"),
    (dict(early_stopping=True, monitor="accuracy", validation_fraction=0.2), ValueError,
     "validation_fraction=0.2 is not used"),
    (dict(callbacks=[EarlyStopping()]), ValueError,
     "EarlyStopping(monitor='val_loss') monitors a curve this fit does not record "
     "(loss, accuracy): fit has no validation data"),
]


@pytest.mark.parametrize("kwargs, exc, fragment", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_early_stopping_arguments_are_refused_before_training(kwargs, exc, fragment):
    model = fresh()
    before = model.weights[0].copy()
    with pytest.raises(exc) as info:
        model.fit(X5, Y5, progress=False, **kwargs)
    assert fragment in str(info.value)
    np.testing.assert_array_equal(model.weights[0], before)
    assert model.optimizer is None  # refused before the optimizer was set


def test_accuracy_monitors_need_a_classifier():
    with pytest.raises(ValueError, match="does not measure accuracy .an mse model."):
        fresh(loss="mse").fit(X5, np.zeros((5, 2)), early_stopping=True,
                              monitor="val_accuracy", progress=False)


def test_too_few_rows_to_hold_out():
    with pytest.raises(ValueError, match="X has only 1 row; pass validation_data"):
        fresh().fit(X5[:1], Y5[:1], early_stopping=True, progress=False)
    with pytest.raises(ValueError, match="validation_fraction=0.9 of 5 rows leaves no "
                                         "training rows"):
        fresh().fit(X5, Y5, early_stopping=True, validation_fraction=0.9, progress=False)


@pytest.mark.parametrize("kwargs, exc, fragment", [
    (dict(mode="up"), ValueError, "mode must be one of 'auto', 'min', 'max'; got 'up'"),
    (dict(restore_best=1), TypeError, "restore_best must be True or False; got int 1"),
    (dict(monitor=None), TypeError, "monitor must be one of"),
    (dict(tol=np.nan), ValueError, "tol must be finite; got nan"),
])
def test_bad_early_stopping_callback(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        EarlyStopping(**kwargs)
    assert fragment in str(info.value)


def test_bad_stratify():
    with pytest.raises(ValueError, match=r"stratify must hold one class label per row of X, "
                                         r"shape \(5,\); got shape \(4,\)"):
        datasets.train_test_split(X5, Y5, stratify=Y5[:4])


def test_a_schedule_can_monitor_the_held_out_loss():
    """ReduceLROnPlateau(monitor="val_loss") follows the split early stopping holds out,
    and training stopped by early stopping still records each epoch's rate."""
    from fastmlp.optim import ReduceLROnPlateau
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0).astype(int)
    schedule = ReduceLROnPlateau(factor=0.5, patience=0, monitor="val_loss")
    history = MLP([4, 8, 2], dtype=np.float64, seed=0).fit(
        X, y, epochs=40, lr=2.0, early_stopping=True, patience=5, seed=1, progress=False,
        schedule=schedule)
    assert len(history.lr) == history.epochs == len(history.val_loss)
    assert min(history.lr) < 2.0  # the plateau was reached: the rate did change
    run = schedule.start(2.0)
    for epoch in range(history.epochs):
        assert history.lr[epoch] == run.lr
        run.step(history.loss[epoch], history.val_loss[epoch], 108)
    with pytest.raises(ValueError, match="validation_data"):
        MLP([4, 8, 2], seed=0).fit(X, y, epochs=2, schedule=schedule, progress=False)
