"""fastmlp.MLP reproduces scikit-learn's MLPClassifier/MLPRegressor training (weights
and loss_curve_) from the same initial weights and batch order, in float64.

The settings that make the numbers equal (scikit-learn parameter -> fastmlp) are
``sklearn_settings`` below; /work/notes/sklearn_mapping.md explains each one.
"""
import warnings

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.optim import SGD, Adam, InvScaling

neural_network = pytest.importorskip("sklearn.neural_network")

RTOL = 1e-10
EPOCHS = 5
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


def sklearn_settings(params, regression, t_):
    """(fastmlp optimizer, schedule) for scikit-learn's ``params``, in a fit that
    starts with ``t_`` samples seen (a warm start: invscaling counts from there).

    fastmlp's mse has gradient 2 (p - y) / n, twice scikit-learn's (p - y) / n: the
    regressor's gradients are halved through the settings (SGD: lr / 2 with l2 = 2
    alpha; Adam, invariant to the gradient's scale but for eps: eps and l2 doubled).
    Every doubling and halving is exact in binary floating point.
    """
    c = 2.0 if regression else 1.0
    if params["solver"] == "adam":
        optimizer = Adam(params["learning_rate_init"], betas=(params["beta_1"], params["beta_2"]),
                         eps=c * params["epsilon"], l2=c * params["alpha"],
                         eps_before_correction=True)
        return optimizer, None
    momentum = params["momentum"]
    optimizer = SGD(params["learning_rate_init"] / c, momentum=momentum,
                    nesterov=params["nesterovs_momentum"] and momentum > 0, l2=c * params["alpha"],
                    lr_in_velocity=True)
    schedule = (InvScaling(params["power_t"], samples_before=t_)
                if params["learning_rate"] == "invscaling" else None)
    return optimizer, schedule


def loss_curve(history, n_outputs, regression):
    """scikit-learn's loss_curve_ from fit's History: its squared loss is
    sum (p - y)**2 / (2 n k), fastmlp's mse sum (p - y)**2 / n."""
    if not regression:
        return np.array(history.loss)
    loss, penalty = np.array(history.loss), np.array(history.penalty)
    return (loss - penalty) / (2 * n_outputs) + penalty / 2


def train_both(Estimator, X, y, y_fast, loss, **params):
    """scikit-learn's estimator and fastmlp's MLP, both trained EPOCHS epochs from the
    weights scikit-learn's first epoch leaves (shuffle=False)."""
    params = dict(hidden_layer_sizes=(7, 5), alpha=0.01, batch_size=40, random_state=0,
                  shuffle=False, tol=0.0, n_iter_no_change=EPOCHS + 1) | params
    est = Estimator(max_iter=1, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        est.fit(X, y)
        coefs = [W.copy() for W in est.coefs_]
        intercepts = [b.copy() for b in est.intercepts_]
        # Continue from those weights (scikit-learn's t_ continues too).
        est.set_params(warm_start=True, max_iter=EPOCHS)
        t_, est.loss_curve_ = est.t_, []
        est.fit(X, y)
    regression = Estimator is neural_network.MLPRegressor
    k = coefs[-1].shape[1]
    model = MLP([X.shape[1], *params["hidden_layer_sizes"], k],
                activation=ACTIVATIONS[est.activation], loss=loss, dtype=np.float64)
    model.weights = [W.T for W in coefs]
    model.biases = intercepts
    optimizer, schedule = sklearn_settings(est.get_params(), regression, t_)
    history = model.fit(X, y_fast, epochs=EPOCHS, batch_size=params["batch_size"],
                        shuffle=False, optimizer=optimizer, schedule=schedule, progress=False)
    return est, model, loss_curve(history, k, regression)


def assert_same(est, model, curve):
    assert len(est.loss_curve_) == EPOCHS
    np.testing.assert_allclose(curve, est.loss_curve_, rtol=RTOL, atol=0)
    for W, coef in zip(list(model.weights) + list(model.biases), est.coefs_ + est.intercepts_):
        expected = coef.T if coef.ndim == 2 else coef
        np.testing.assert_allclose(W, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())


SOLVERS = {
    "sgd": dict(solver="sgd", learning_rate_init=0.1, momentum=0.0),
    "sgd-momentum": dict(solver="sgd", learning_rate_init=0.05, momentum=0.9,
                         nesterovs_momentum=False),
    "sgd-nesterov-invscaling": dict(solver="sgd", learning_rate_init=0.2, momentum=0.9,
                                    learning_rate="invscaling", power_t=0.25),
    "sgd-momentum-invscaling": dict(solver="sgd", learning_rate_init=0.2, momentum=0.8,
                                    nesterovs_momentum=False, learning_rate="invscaling"),
    "adam": dict(solver="adam", learning_rate_init=0.01),
}


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((150, 4))
    return X, rng


@pytest.mark.parametrize("solver", SOLVERS)
def test_multiclass(data, solver):
    X, rng = data
    y = (X[:, 0] > 0.3).astype(int) + (X[:, 1] + X[:, 2] > 0)  # 3 classes
    est, model, curve = train_both(neural_network.MLPClassifier, X, y, y, "cross_entropy",
                                   **SOLVERS[solver])
    assert est.out_activation_ == "softmax"
    assert_same(est, model, curve)


@pytest.mark.parametrize("solver", ["sgd-nesterov-invscaling", "adam"])
def test_binary(data, solver):
    X, rng = data
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    est, model, curve = train_both(neural_network.MLPClassifier, X, y, y,
                                   "binary_cross_entropy", activation="tanh",
                                   **SOLVERS[solver])
    assert est.out_activation_ == "logistic" and est.coefs_[-1].shape[1] == 1
    assert_same(est, model, curve)


@pytest.mark.parametrize("solver", ["sgd-momentum-invscaling", "adam"])
def test_multilabel(data, solver):
    X, rng = data
    y = np.column_stack([X[:, 0] > 0, X[:, 1] > X[:, 2], X[:, 3] > 0.5]).astype(int)
    est, model, curve = train_both(neural_network.MLPClassifier, X, y, y,
                                   "binary_cross_entropy", **SOLVERS[solver])
    assert est.out_activation_ == "logistic" and est.coefs_[-1].shape[1] == 3
    assert_same(est, model, curve)


@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("solver", ["sgd-nesterov-invscaling", "sgd", "adam"])
def test_regression(data, solver, n_outputs):
    X, rng = data
    y = np.column_stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3]])[:, :n_outputs]
    params = dict(SOLVERS[solver], learning_rate_init=SOLVERS[solver]["learning_rate_init"] / 4)
    est, model, curve = train_both(neural_network.MLPRegressor, X,
                                   y[:, 0] if n_outputs == 1 else y, y, "mse", **params)
    assert_same(est, model, curve)
