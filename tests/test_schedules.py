"""Learning-rate schedules (fastmlp.optim): their rates against torch.optim.lr_scheduler
and scikit-learn's MLP, their closed forms (without either library), their checks, and
fit(schedule=...) training with those rates."""
import copy
import math
import pickle
import warnings

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.optim import (SGD, Adam, Adaptive, CosineAnnealingLR, ExponentialLR, InvScaling,
                           MultiStepLR, ReduceLROnPlateau, Schedule, StepLR)
from helpers import torch_or_skip

EPOCHS = 50


def assert_rates(actual, expected, lr):
    """The rates agree to 1e-12 relative (of the base rate, for rates near 0)."""
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * lr)


def metrics(seed=0, epochs=EPOCHS):
    """A loss-like sequence: falling, with plateaus, repeats and bumps (rounded so that
    equal values occur)."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([-0.05, -0.01, 0.0, 0.0, 0.002, 0.03], size=epochs)
    return [round(v, 4) for v in (1.0 + np.cumsum(steps)).tolist()]


def driven(schedule, lr, losses=None, val_losses=None, samples=0, epochs=EPOCHS):
    """The rates a run of ``schedule`` gives epochs 1, 2, ... when told these results;
    stops early when the run ends training."""
    run = schedule.start(lr)
    rates = []
    for e in range(epochs):
        rates.append(run.lr)
        stop = run.step(loss=None if losses is None else losses[e],
                        val_loss=None if val_losses is None else val_losses[e],
                        samples=samples)
        if stop:
            break
    return rates


# --- torch.optim.lr_scheduler ------------------------------------------------------------

def torch_rates(torch, make, lr, epochs=EPOCHS, results=None):
    """get_last_lr() before each scheduler.step() (fed ``results`` for
    ReduceLROnPlateau), the rate torch trains each epoch with."""
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([param], lr=lr)
    scheduler = make(torch.optim.lr_scheduler, opt)
    rates = []
    for e in range(epochs):
        rates.append(scheduler.get_last_lr()[0])
        opt.step()
        scheduler.step() if results is None else scheduler.step(results[e])
    return rates


def warmup_cosine(s, w, T_max, eta_min):
    return lambda sch, opt: sch.SequentialLR(
        opt, [sch.LinearLR(opt, start_factor=s, end_factor=1.0, total_iters=w),
              sch.CosineAnnealingLR(opt, T_max=T_max, eta_min=eta_min)], milestones=[w])


TORCH_CASES = [
    (StepLR(3, gamma=0.5), lambda sch, opt: sch.StepLR(opt, 3, gamma=0.5)),
    (StepLR(1), lambda sch, opt: sch.StepLR(opt, 1)),
    (MultiStepLR([5, 12, 30], gamma=0.3), lambda sch, opt: sch.MultiStepLR(opt, [5, 12, 30], 0.3)),
    (ExponentialLR(0.93), lambda sch, opt: sch.ExponentialLR(opt, 0.93)),
    (ExponentialLR(1.05), lambda sch, opt: sch.ExponentialLR(opt, 1.05)),
    (CosineAnnealingLR(50), lambda sch, opt: sch.CosineAnnealingLR(opt, 50)),
    # past T_max (twice): the cosine rises again, through eta_min = 0 at epoch 11
    (CosineAnnealingLR(10, eta_min=0.0), lambda sch, opt: sch.CosineAnnealingLR(opt, 10)),
    (CosineAnnealingLR(17, eta_min=0.004),
     lambda sch, opt: sch.CosineAnnealingLR(opt, 17, eta_min=0.004)),
    (CosineAnnealingLR(40, eta_min=1e-3, warmup_epochs=5, warmup_start_factor=0.1),
     warmup_cosine(0.1, 5, 40, 1e-3)),
    (CosineAnnealingLR(12, warmup_epochs=1), warmup_cosine(1.0 / 3, 1, 12, 0.0)),
    (CosineAnnealingLR(30, warmup_epochs=8, warmup_start_factor=1.0),
     warmup_cosine(1.0, 8, 30, 0.0)),
]
TORCH_IDS = ["step", "step-every-epoch", "multistep", "exponential", "exponential-up",
             "cosine", "cosine-past-T_max", "cosine-eta_min", "warmup-cosine",
             "warmup-1-default-factor", "warmup-factor-1"]


@pytest.mark.parametrize("lr", [0.1, 3e-4])
@pytest.mark.parametrize("schedule, make", TORCH_CASES, ids=TORCH_IDS)
def test_rates_match_torch(schedule, make, lr):
    torch = torch_or_skip()
    assert_rates(schedule.lrs(lr, EPOCHS), torch_rates(torch, make, lr), lr)


PLATEAUS = [
    dict(),
    dict(patience=2),
    dict(patience=0, factor=0.5),
    dict(patience=1, cooldown=3, factor=0.7),
    dict(patience=1, min_lr=0.02),
    dict(patience=0, threshold=0.02, threshold_mode="abs"),
    dict(patience=1, eps=0.01),
    dict(mode="max", patience=1),
    dict(mode="max", patience=2, threshold=0.01, threshold_mode="abs", cooldown=1),
]
PLATEAU_IDS = ["defaults", "patience", "no-patience", "cooldown", "min_lr", "abs", "eps",
               "max", "max-abs-cooldown"]


@pytest.mark.parametrize("kw", PLATEAUS, ids=PLATEAU_IDS)
@pytest.mark.parametrize("monitor", ["loss", "val_loss"])
def test_plateau_matches_torch(kw, monitor):
    torch = torch_or_skip()
    results = metrics(seed=len(kw))
    given = {"losses" if monitor == "loss" else "val_losses": results}
    ours = driven(ReduceLROnPlateau(**kw, monitor=monitor), 0.1, **given)
    theirs = torch_rates(torch, lambda sch, opt: sch.ReduceLROnPlateau(opt, **kw), 0.1,
                         results=results)
    assert ours == theirs  # the same float operations in the same order
    assert len(set(ours)) > 1, "the case must reduce the rate at least once"


# --- closed forms (no torch needed) ------------------------------------------------------

def test_closed_forms():
    lr, e = 0.2, np.arange(EPOCHS)
    assert_rates(StepLR(4, 0.5).lrs(lr, EPOCHS), lr * 0.5 ** (e // 4), lr)
    assert_rates(MultiStepLR([3, 10], 0.1).lrs(lr, EPOCHS),
                 lr * 0.1 ** ((e >= 3).astype(int) + (e >= 10)), lr)
    assert_rates(ExponentialLR(0.9).lrs(lr, EPOCHS), lr * 0.9 ** e, lr)
    w, T, s, eta = 4, 20, 0.25, 0.01
    warm = lr * (s + (1 - s) * e / w)
    cos = eta + (lr - eta) * (1 + np.cos(np.pi * (e - w) / T)) / 2
    assert_rates(CosineAnnealingLR(T, eta, w, s).lrs(lr, EPOCHS), np.where(e < w, warm, cos),
                 lr)
    assert CosineAnnealingLR(T, eta, w, s).lrs(lr, w + 1)[-1] == lr  # the cosine's start


def test_cosine_warmup_rises_to_the_base_rate():
    rates = CosineAnnealingLR(10, warmup_epochs=4, warmup_start_factor=0.2).lrs(1.0, 6)
    assert_rates(rates, [0.2, 0.4, 0.6, 0.8, 1.0, (1 + math.cos(math.pi / 10)) / 2], 1.0)


def test_plateau_by_hand():
    # patience 1: the second epoch in a row without improvement reduces the rate
    losses = [1.0, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4]
    assert driven(ReduceLROnPlateau(patience=1, factor=0.5), 1.0, losses,
                  epochs=len(losses)) == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    # cooldown 2: the two epochs after a reduction count no bad epochs
    losses = [1.0] * 8
    assert driven(ReduceLROnPlateau(patience=0, factor=0.5, cooldown=2), 1.0, losses,
                  epochs=8) == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_invscaling_closed_form():
    n, p, lr = 37, 0.3, 0.5
    k = np.arange(1, 21)
    assert_rates(InvScaling(p).lrs(lr, 20, n), lr / ((k - 1) * n + 1) ** p, lr)
    assert InvScaling().lrs(lr, 1, n) == [lr]
    # after 100 samples of earlier fits: the first epoch at lr, then as if continued
    rates = InvScaling(p, samples_before=100).lrs(lr, 20, n)
    assert rates[0] == lr
    assert_rates(rates[1:], lr / (100 + (k[1:] - 1) * n + 1) ** p, lr)
    with pytest.raises(ValueError, match="samples_before"):
        InvScaling(p, samples_before=-1)
    with pytest.raises(TypeError, match="samples_before"):
        InvScaling(p, samples_before=1.5)


def test_adaptive_by_hand():
    # tol 0.1: an epoch improves only when its loss is below best - 0.1.
    losses = [1.0, 0.95, 0.93, 0.92, 0.5, 0.45, 0.44, 0.43, 0.3, 0.29]
    rates = driven(Adaptive(tol=0.1, n_iter_no_change=2), 1.0, losses, epochs=len(losses))
    # Epochs 2, 3 and 4 fail to improve (3 > 2): epoch 5 trains with 1 / 5. Epoch 5's
    # 0.5 improves, so the count restarts; 6, 7, 8 fail again; 9 improves.
    assert_rates(rates, [1.0] * 4 + [0.2] * 4 + [0.04] * 2, 1.0)


def test_adaptive_stops_when_the_rate_is_at_most_1e_6():
    run = Adaptive(tol=1.0, n_iter_no_change=1).start(1e-5)
    rates, stop = [], None
    while stop is None:
        rates.append(run.lr)
        stop = run.step(loss=1.0)
    # 1e-5 -> 2e-6 -> 4e-7 (divided while still above 1e-6), then the stop
    assert stop == run.stop_reason == "lr_too_small"
    assert_rates(rates, [1e-5, 1e-5, 1e-5, 2e-6, 2e-6, 4e-7, 4e-7], 1e-5)
    with pytest.raises(RuntimeError, match="has ended training"):
        run.step(loss=1.0)


# --- scikit-learn's MLP ------------------------------------------------------------------

def sklearn_fit_rates(monkeypatch, learning_rate, batch_size, **kw):
    """Fit an MLPClassifier with the SGD solver; returns the rate of every update and
    the fitted model."""
    opt = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    rates = []
    update = opt.SGDOptimizer.update_params

    def recording(self, params, grads):
        rates.append(self.learning_rate)
        return update(self, params, grads)

    monkeypatch.setattr(opt.SGDOptimizer, "update_params", recording)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    clf = MLPClassifier((5,), solver="sgd", learning_rate=learning_rate, batch_size=batch_size,
                        momentum=0.0, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter ends some cases
        clf.fit(X, y)
    return rates, clf


def test_invscaling_matches_scikit_learn(monkeypatch):
    rates, clf = sklearn_fit_rates(monkeypatch, "invscaling", batch_size=15,
                                   learning_rate_init=0.3, power_t=0.7, max_iter=25)
    per_epoch = rates[::4]  # 60 rows in batches of 15: one rate per epoch
    assert rates == [r for r in per_epoch for _ in range(4)]
    assert InvScaling(0.7).lrs(0.3, clf.n_iter_, 60) == per_epoch


@pytest.mark.parametrize("tol, n_iter_no_change, lr",
                         [(1e-4, 2, 2.0), (1e-3, 1, 0.05), (10.0, 1, 1e-3)],
                         ids=["small-tol", "stops-after-23", "stops-large-tol"])
def test_adaptive_matches_scikit_learn(monkeypatch, tol, n_iter_no_change, lr):
    rates, clf = sklearn_fit_rates(monkeypatch, "adaptive", batch_size=60,
                                   learning_rate_init=lr, tol=tol,
                                   n_iter_no_change=n_iter_no_change, max_iter=120)
    assert len(rates) == clf.n_iter_  # full batches: one update per epoch
    ours = driven(Adaptive(tol, n_iter_no_change), lr, losses=clf.loss_curve_, epochs=120)
    assert ours == rates  # the same epochs, ending where scikit-learn stopped
    assert len(set(rates)) > 1, "the case must divide the rate at least once"


# --- the objects ---------------------------------------------------------------------

SCHEDULES = [StepLR(3), MultiStepLR([2, 5], 0.5), ExponentialLR(0.9),
             CosineAnnealingLR(10, 0.01, 2, 0.5), ReduceLROnPlateau(mode="max", patience=3),
             InvScaling(0.25), InvScaling(0.5, 120), Adaptive(1e-3, 5)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_repr_equality_pickle_and_immutability(schedule):
    namespace = {cls.__name__: cls for cls in map(type, SCHEDULES)}
    again = eval(repr(schedule), namespace)
    assert again == schedule and hash(again) == hash(schedule)
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert copy.deepcopy(schedule) == schedule
    assert schedule != SGD(0.1)
    with pytest.raises(AttributeError, match="immutable"):
        schedule.gamma = 0.5


def test_equality_is_by_class_and_settings():
    assert StepLR(3, 0.5) == StepLR(3, 0.5) != StepLR(3, 0.25)
    assert MultiStepLR([2, 5]).milestones == (2, 5)
    assert ReduceLROnPlateau().monitor == "loss" and Adaptive().monitor == "loss"
    assert StepLR(2).monitor is None
    assert isinstance(InvScaling(), Schedule)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: StepLR(0), ValueError, "step_size must be >= 1"),
    (lambda: StepLR(2.0), TypeError, "step_size must be an integer"),
    (lambda: StepLR(2, gamma=0.0), ValueError, "gamma must be > 0"),
    (lambda: StepLR(2, gamma="0.1"), TypeError, "gamma must be a real number"),
    (lambda: MultiStepLR([3, 2]), ValueError, r"milestones must be increasing.*milestones\[1\]=2"),
    (lambda: MultiStepLR([0, 2]), ValueError, r"milestones\[0\] must be >= 1"),
    (lambda: MultiStepLR({2, 3}), TypeError, "milestones must be a sequence"),
    (lambda: MultiStepLR(5), TypeError, "milestones must be a sequence"),
    (lambda: ExponentialLR(float("nan")), ValueError, "gamma must be finite"),
    (lambda: ExponentialLR(-0.5), ValueError, "gamma must be > 0"),
    (lambda: CosineAnnealingLR(0), ValueError, "T_max must be >= 1"),
    (lambda: CosineAnnealingLR(5, eta_min=-1e-3), ValueError, "eta_min must be >= 0"),
    (lambda: CosineAnnealingLR(5, warmup_epochs=-1), ValueError, "warmup_epochs must be >= 0"),
    (lambda: CosineAnnealingLR(5, warmup_epochs=2, warmup_start_factor=0.0), ValueError,
     "warmup_start_factor must be > 0"),
    (lambda: CosineAnnealingLR(5, warmup_epochs=2, warmup_start_factor=1.5), ValueError,
     "warmup_start_factor must be <= 1"),
    (lambda: ReduceLROnPlateau(mode="minimum"), ValueError, "mode must be one of 'min', 'max'"),
    (lambda: ReduceLROnPlateau(factor=1.0), ValueError, "factor must be < 1"),
    (lambda: ReduceLROnPlateau(factor=0.0), ValueError, "factor must be > 0"),
    (lambda: ReduceLROnPlateau(patience=-1), ValueError, "patience must be >= 0"),
    (lambda: ReduceLROnPlateau(threshold_mode="relative"), ValueError,
     "threshold_mode must be one of 'rel', 'abs'"),
    (lambda: ReduceLROnPlateau(cooldown=1.5), TypeError, "cooldown must be an integer"),
    (lambda: ReduceLROnPlateau(min_lr=-1.0), ValueError, "min_lr must be >= 0"),
    (lambda: ReduceLROnPlateau(eps=float("inf")), ValueError, "eps must be finite"),
    (lambda: ReduceLROnPlateau(monitor="accuracy"), ValueError,
     "monitor must be one of 'loss', 'val_loss'"),
    (lambda: InvScaling(-0.5), ValueError, "power_t must be >= 0"),
    (lambda: Adaptive(tol=-1e-4), ValueError, "tol must be >= 0"),
    (lambda: Adaptive(n_iter_no_change=0), ValueError, "n_iter_no_change must be >= 1"),
    (lambda: StepLR(2).start(0.0), ValueError, "lr must be > 0"),
    (lambda: StepLR(2).lrs(0.1, -1), ValueError, "epochs must be >= 0"),
    (lambda: Adaptive().lrs(0.1, 5), TypeError, "follows loss"),
    (lambda: Adaptive().start(0.1).step(), ValueError, r"follows loss: pass step\(loss=...\)"),
    (lambda: ReduceLROnPlateau(monitor="val_loss").start(0.1).step(loss=1.0), ValueError,
     "follows val_loss"),
    (lambda: StepLR(2).start(0.1).step(samples=-1), ValueError, "samples must be >= 0"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# --- fit(schedule=...) ---------------------------------------------------------------

def data(dtype, n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(dtype)
    return X, (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(np.intp)


@pytest.mark.parametrize("optimizer, schedule", [
    (SGD(0.2, momentum=0.9), StepLR(2, gamma=0.5)),
    (Adam(0.01), CosineAnnealingLR(4, eta_min=1e-3, warmup_epochs=2)),
    (SGD(0.5), InvScaling(0.5)),
], ids=["sgd-momentum-step", "adam-warmup-cosine", "sgd-invscaling"])
def test_fit_trains_each_epoch_with_the_scheduled_rate(dtype, optimizer, schedule):
    X, y = data(dtype)
    epochs = 6
    rates = schedule.lrs(optimizer.lr, epochs, len(X))
    model = MLP([4, 6, 2], dtype=dtype, seed=1)
    twin = copy.deepcopy(model)
    history = model.fit(X, y, epochs=epochs, batch_size=20, shuffle=False, progress=False,
                        optimizer=optimizer, schedule=schedule)
    assert history.lr == rates
    assert len(set(rates)) > 1
    assert model.optimizer is optimizer
    # The same as one fit per epoch with the epoch's rate: the optimizer state carries on.
    settings = {name: getattr(optimizer, name) for name in optimizer._shown}
    losses = []
    for lr in rates:
        step = type(optimizer)(**{**settings, "lr": lr})
        losses += twin.fit(X, y, epochs=1, batch_size=20, shuffle=False, progress=False,
                           optimizer=step).loss
    np.testing.assert_array_equal(model._params, twin._params)
    assert history.loss == losses


def test_fit_without_a_schedule_records_the_constant_rate():
    X, y = data(np.float64)
    history = MLP([4, 3, 2], seed=0).fit(X, y, epochs=3, lr=0.05, progress=False)
    assert history.lr == [0.05] * 3 and history.as_dict()["lr"] == [0.05] * 3
    assert history.stop_reason == "max_epochs"


def test_a_step_after_a_scheduled_fit_uses_the_optimizers_own_rate():
    X, y = data(np.float64)
    optimizer = SGD(0.3, momentum=0.5)
    model = MLP([4, 5, 2], dtype=np.float64, seed=2)
    model.fit(X, y, epochs=4, optimizer=optimizer, schedule=ExponentialLR(0.1), progress=False)
    twin = copy.deepcopy(model)
    model.step(X, y, optimizer=model.optimizer)
    twin.step(X, y, optimizer=SGD(0.3, momentum=0.5))  # a new object: configured afresh
    np.testing.assert_array_equal(model._params, twin._params)


@pytest.mark.parametrize("monitor", ["loss", "val_loss"])
def test_fit_with_plateau_follows_the_monitored_result(dtype, monitor):
    X, y = data(dtype)
    Xv, yv = data(dtype, n=20, seed=1)
    schedule = ReduceLROnPlateau(patience=0, threshold=0.05, factor=0.5, monitor=monitor)
    history = MLP([4, 6, 2], dtype=dtype, seed=0).fit(
        X, y, epochs=8, batch_size=16, optimizer=SGD(0.05), schedule=schedule,
        validation_data=(Xv, yv), progress=False, seed=0)
    followed = history.loss if monitor == "loss" else history.val_loss
    assert history.lr == driven(schedule, 0.05, **{
        "losses" if monitor == "loss" else "val_losses": followed}, epochs=8)
    assert min(history.lr) < 0.05
    try:
        import torch
    except ImportError:
        return
    assert history.lr == torch_rates(torch, lambda sch, opt: sch.ReduceLROnPlateau(
        opt, patience=0, threshold=0.05, factor=0.5), 0.05, epochs=8, results=followed)


def test_fit_stops_when_adaptive_ends_training(dtype):
    X, y = data(dtype)
    model = MLP([4, 6, 2], dtype=dtype, seed=0)
    # tol 10: no epoch improves enough, so every other epoch divides the rate by 5
    history = model.fit(X, y, epochs=100, optimizer=SGD(1e-4), progress=False,
                        schedule=Adaptive(tol=10.0, n_iter_no_change=1))
    assert history.stop_reason == "lr_too_small"
    assert history.lr == driven(Adaptive(tol=10.0, n_iter_no_change=1), 1e-4,
                                losses=history.loss, epochs=100)
    assert history.epochs == len(history.loss) == len(history.lr) == 9
    assert history.lr[-1] < 1e-6


def test_schedule_errors_come_before_training():
    X, y = data(np.float32)
    model = MLP([4, 3, 2], seed=0)
    before = model._params.copy()
    with pytest.raises(TypeError, match="schedule must be a fastmlp.optim schedule"):
        model.fit(X, y, epochs=2, schedule="cosine", progress=False)
    with pytest.raises(ValueError, match="monitors val_loss: pass validation_data"):
        model.fit(X, y, schedule=ReduceLROnPlateau(monitor="val_loss"), progress=False)
    with pytest.raises(ValueError, match=r"gives epoch 6 a learning rate .* lr must be > 0"):
        model.fit(X, y, epochs=8, schedule=CosineAnnealingLR(5), progress=False)
    # 0.1 * 1e-10 ** 5 = 1e-51 rounds to 0 in float32 (not in float64)
    with pytest.raises(ValueError, match=r"gives epoch 6 .*float32 model.*rounds to 0"):
        model.fit(X, y, epochs=6, schedule=ExponentialLR(1e-10), progress=False)
    np.testing.assert_array_equal(model._params, before)
    assert model.optimizer is None
    MLP([4, 3, 2], dtype=np.float64).fit(X.astype(np.float64), y, epochs=6, progress=False,
                                         schedule=ExponentialLR(1e-10))


def test_a_monitored_rate_the_dtype_cannot_hold_is_refused_before_its_epoch():
    X, y = data(np.float32)
    model = MLP([4, 3, 2], seed=0)
    # No epoch after the first improves by 1e9: from epoch 3 on, the rate falls by 1e-20
    # an epoch (eps=0 lets it), and epoch 5's 1e-61 rounds to 0 in float32.
    schedule = ReduceLROnPlateau(patience=0, factor=1e-20, threshold=1e9,
                                 threshold_mode="abs", eps=0.0)
    with pytest.raises(ValueError, match=r"gives epoch 5 a learning rate .*rounds to 0"):
        model.fit(X, y, epochs=6, lr=0.1, schedule=schedule, progress=False)
    assert np.isfinite(model._params).all()
