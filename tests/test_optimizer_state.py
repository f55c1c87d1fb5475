"""The optimizer state lives with the model: fit continues it, reset_optimizer drops it,
copies and save(include_optimizer=True) keep it, and a loaded model resumes exactly."""
import copy
import pickle

import numpy as np
import pytest

from fastmlp import MLP, TrainingDivergedError, datasets, optim
from fastmlp._kernels import network
from helpers import resave

OPTIMIZERS = [
    optim.SGD(0.1),
    optim.SGD(0.05, momentum=0.9, dampening=0.1),
    optim.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    optim.Adam(0.01),
    optim.Adam(0.01, amsgrad=True, weight_decay=1e-3),
    optim.AdamW(0.01),
    optim.Adam(0.01, l2=0.5, eps_before_correction=True),
    optim.SGD(0.05, momentum=0.9, nesterov=True, l2=0.5, lr_in_velocity=True),
]
IDS = ["sgd", "momentum-dampening", "nesterov", "adam", "amsgrad", "adamw", "sklearn-adam",
       "sklearn-sgd"]


def data(n=60):
    X, y = datasets.circles(n, seed=3)
    return X.astype(np.float64), y


def fresh(dtype=np.float64):
    return MLP([2, 6, 5, 2], activation="tanh", dtype=dtype, seed=1)


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=IDS)
def test_two_fits_of_one_epoch_equal_one_fit_of_two(opt):
    X, y = data()
    once, twice = fresh(), fresh()
    once.fit(X, y, epochs=2, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    for _ in range(2):
        twice.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    for a, b in zip(list(once.weights) + list(once.biases), list(twice.weights) + list(twice.biases)):
        np.testing.assert_array_equal(a, b)
    assert twice.optimizer is opt


@pytest.mark.parametrize("opt", OPTIMIZERS[1:], ids=IDS[1:])
def test_reset_optimizer_starts_afresh(opt):
    X, y = data()
    reset, new = fresh(), fresh()
    reset.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    new.weights, new.biases = reset.weights, reset.biases
    reset.reset_optimizer()
    assert reset.optimizer is None
    for m in (reset, new):
        m.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    for a, b in zip(reset.weights, new.weights):
        np.testing.assert_array_equal(a, b)
    # ...while continuing (not resetting) gives a different model: the state mattered.
    kept = fresh()
    for _ in range(2):
        kept.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    assert not all(np.array_equal(a, b) for a, b in zip(kept.weights, reset.weights))


def test_a_different_rule_starts_afresh():
    X, y = data()
    a, b = fresh(), fresh()
    a.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False,
          optimizer=optim.SGD(0.1, momentum=0.9))
    b.weights, b.biases = a.weights, a.biases
    a.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=optim.Adam())
    b.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=optim.Adam())
    for p, q in zip(a.weights, b.weights):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("first, second", [(False, True), (True, False)],
                         ids=["torch-then-sklearn", "sklearn-then-torch"])
def test_the_other_momentum_rule_starts_afresh(first, second):
    # torch's velocity holds gradients, scikit-learn's steps: neither continues the other.
    X, y = data()
    a, b = fresh(), fresh()
    a.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False,
          optimizer=optim.SGD(0.1, momentum=0.9, lr_in_velocity=first))
    assert a._net.get_state()[3] is first
    b.weights, b.biases = a.weights, a.biases
    opt = optim.SGD(0.1, momentum=0.9, lr_in_velocity=second)
    for m in (a, b):
        m.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    assert a._net.get_state()[3] is second
    for p, q in zip(a.weights, b.weights):
        np.testing.assert_array_equal(p, q)


def test_a_loaded_velocity_keeps_its_rule(tmp_path):
    # A state saved under scikit-learn's rule, loaded, then trained under torch's: afresh.
    X, y = data()
    model = fresh()
    model.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False,
              optimizer=optim.SGD(0.1, momentum=0.9, lr_in_velocity=True))
    model.save(tmp_path / "m.npz", include_optimizer=True)
    loaded, new = MLP.load(tmp_path / "m.npz"), fresh()
    assert loaded._net.get_state()[3] is True
    new.weights, new.biases = loaded.weights, loaded.biases
    for m in (loaded, new):
        m.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False,
              optimizer=optim.SGD(0.1, momentum=0.9))
    for p, q in zip(loaded.weights, new.weights):
        np.testing.assert_array_equal(p, q)


def test_step_continues_the_state_of_fit():
    X, y = data()
    opt = optim.Adam(0.01)
    by_fit, by_step = fresh(), fresh()
    by_fit.fit(X, y, epochs=2, batch_size=len(X), progress=False, optimizer=opt)
    by_step.fit(X, y, epochs=1, batch_size=len(X), progress=False, optimizer=opt)
    by_step.step(X, y, optimizer=opt)
    for a, b in zip(by_fit.weights, by_step.weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_with_optimizer_resumes_exactly(tmp_path, opt, dtype):
    X, y = data()
    model, reference = fresh(dtype), fresh(dtype)
    for m in (model, reference):
        m.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    model.save(tmp_path / "m.npz", include_optimizer=True)
    loaded = MLP.load(tmp_path / "m.npz")
    assert loaded.optimizer == opt
    for m in (loaded, reference):
        m.fit(X, y, epochs=2, batch_size=16, shuffle=False, progress=False,
              optimizer=m.optimizer)
    for a, b in zip(list(loaded.weights) + list(loaded.biases),
                    list(reference.weights) + list(reference.biases)):
        np.testing.assert_array_equal(a, b)


def test_save_without_optimizer_drops_the_state(tmp_path):
    X, y = data()
    model = fresh()
    model.fit(X, y, epochs=1, progress=False, optimizer=optim.Adam())
    model.save(tmp_path / "m.npz")
    loaded = MLP.load(tmp_path / "m.npz")
    assert loaded.optimizer is None
    with np.load(tmp_path / "m.npz") as f:
        assert int(f["format_version"]) == 1 and "optimizer_state" not in f


def test_include_optimizer_needs_a_trained_model(tmp_path):
    with pytest.raises(ValueError, match="include_optimizer=True needs an optimizer state"):
        fresh().save(tmp_path / "m.npz", include_optimizer=True)
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("change, match", [
    ({"optimizer": np.array('{"class": "Evil", "args": {}}')}, "optimizer"),
    ({"optimizer": np.array("not json")}, "optimizer"),
    ({"optimizer": np.array('{"class": "Adam", "args": {"lr": -1}}')}, "lr"),
    ({"optimizer_updates": np.array(0)}, "optimizer_updates"),
    ({"optimizer_state": np.zeros((1, 65))}, "slots"),
    ({"optimizer_state": np.full((2, 65), np.nan)}, "NaN"),
    ({"optimizer_state": np.zeros((2, 64))}, "optimizer_state"),
])
def test_load_checks_the_optimizer_fields(tmp_path, change, match):
    X, y = data()
    model = fresh()
    assert model.n_params == 65
    model.fit(X, y, epochs=1, progress=False, optimizer=optim.Adam())
    path = tmp_path / "m.npz"
    model.save(path, include_optimizer=True)
    resave(path, **change)
    with pytest.raises(ValueError, match=match):
        MLP.load(path)


@pytest.mark.parametrize("opt", OPTIMIZERS[1:], ids=IDS[1:])
def test_copies_keep_the_optimizer_state(opt):
    X, y = data()
    model = fresh()
    model.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    copies = [copy.deepcopy(model), copy.copy(model), pickle.loads(pickle.dumps(model))]
    for m in [model] + copies:
        m.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, optimizer=opt)
    for c in copies:
        for a, b in zip(model.weights, c.weights):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_gradient_left_in_the_workspace_is_not_added_to_the_next(opt, dtype):
    # A step's gradient products add into the gradient buffer, which its updates
    # leave holding zeros; gradients(), a clipped fit and a plain-SGD step leave
    # something else there. A copy starts with zeros, so a model whose every call
    # runs on a fresh copy must end bitwise where the model itself does.
    X, y = data()
    X = X.astype(dtype)
    calls = [
        lambda m: m.step(X[:16], y[:16], optimizer=opt),
        lambda m: m.gradients(X[16:40], y[16:40]),
        lambda m: m.step(X[:16], y[:16], optimizer=opt),
        lambda m: m.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False,
                        optimizer=opt, clip_grad_norm=0.5),
        lambda m: m.step(X[:16], y[:16], optimizer=opt),
        lambda m: m.gradients(X, y),
        lambda m: m.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False,
                        optimizer=opt),
        lambda m: m.step(X[:16], y[:16], 0.1),
        lambda m: m.step(X[:16], y[:16], optimizer=opt),
    ]
    model, fresh_copies = fresh(dtype), fresh(dtype)
    for call in calls:
        call(model)
        fresh_copies = copy.deepcopy(fresh_copies)
        call(fresh_copies)
    np.testing.assert_array_equal(model._params, fresh_copies._params)


def test_optimizer_and_sgd_arguments_are_exclusive():
    X, y = data()
    with pytest.raises(ValueError, match="pass the settings in the optimizer, not beside it"):
        fresh().fit(X, y, lr=0.1, optimizer=optim.Adam())
    with pytest.raises(ValueError, match="momentum"):
        fresh().step(X, y, momentum=0.9, optimizer=optim.SGD(0.1))
    with pytest.raises(TypeError, match="optimizer must be a fastmlp.optim optimizer"):
        fresh().fit(X, y, optimizer="adam")


def test_divergence_with_adam_rolls_back_parameters_and_state():
    X, y = data()
    kw = dict(epochs=1, batch_size=16, shuffle=False, progress=False)
    model, replay = fresh(), fresh()
    for m in (model, replay):
        m.fit(X, y, optimizer=optim.Adam(0.01), **kw)
    X_big = X * 1e300  # finite data whose products overflow
    with pytest.raises(TrainingDivergedError, match="when fit was called"):
        model.fit(X_big, y, optimizer=optim.Adam(1e300), **kw)
    # Rolled back to the start of that fit, the optimizer state included: the next
    # fit is the one it would have been without the diverged one.
    for a, b in zip(model.weights, replay.weights):
        np.testing.assert_array_equal(a, b)
    for m in (model, replay):
        m.fit(X, y, optimizer=optim.Adam(0.01), **kw)
    for a, b in zip(model.weights, replay.weights):
        np.testing.assert_array_equal(a, b)


def test_codes_are_the_compiled_cores():
    from fastmlp.model import ACTIVATIONS, LOSSES
    assert ACTIVATIONS == {"tanh": network.Activation.TANH, "sigmoid": network.Activation.SIGMOID,
                           "relu": network.Activation.RELU,
                           "identity": network.Activation.IDENTITY}
    assert LOSSES == {"cross_entropy": network.Loss.CROSS_ENTROPY, "mse": network.Loss.MSE,
                      "binary_cross_entropy": network.Loss.BINARY_CROSS_ENTROPY,
                      "hinge": network.Loss.HINGE,
                      "squared_hinge": network.Loss.SQUARED_HINGE}
    assert {optim.SGD(0.1).settings(np.float64)["rule"],
            optim.Adam().settings(np.float64)["rule"]} == {network.Rule.SGD, network.Rule.ADAM}


def test_views_follow_the_compiled_layout():
    model = MLP([3, 4, 2], seed=0)
    flat = np.arange(model.n_params, dtype=np.float32)
    (W0, b0), (W1, b1) = model._net.views(flat)
    assert W0.shape == (4, 3) and b0.shape == (4,) and W1.shape == (2, 4) and b1.shape == (2,)
    np.testing.assert_array_equal(np.concatenate([W0.ravel(), b0, W1.ravel(), b1]), flat)
    assert np.shares_memory(W1, flat)
    with pytest.raises(ValueError, match="expected a vector of 26 entries"):
        model._net.views(flat[:-1])


def test_forward_refuses_a_short_output_buffer():
    model = MLP([3, 4, 2], seed=0)
    X = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match="acts must be"):
        model._net.forward(X, np.empty(5 * 6 - 3, np.float32), False)


def test_a_step_of_another_rule_drops_the_checked_optimizer():
    # step(optimizer=opt) skips re-checking opt while the network still runs it; a
    # step with SGD's arguments in between must end that.
    X, y = data()
    opt = optim.Adam(0.01)
    a, b = fresh(), fresh()
    for m in (a, b):
        m.step(X, y, optimizer=opt)
        m.step(X, y, 0.1)
    a.step(X, y, optimizer=opt)
    b.reset_optimizer()
    b.step(X, y, optimizer=optim.Adam(0.01))
    for p, q in zip(a.weights, b.weights):
        np.testing.assert_array_equal(p, q)
