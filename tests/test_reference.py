"""The NumPy reference itself: its course network against finite differences and the kernels."""
import numpy as np
import pytest

from fastmlp import gradcheck, kernels, reference
from helpers import GRAD_RTOL, assert_close

NX, NH, NY, N = 3, 5, 4, 7


@pytest.fixture
def net(rng):
    params = reference.init_params(NX, NH, NY, seed=1)
    X = rng.standard_normal((N, NX))
    labels = rng.integers(0, NY, N)
    return params, X, labels


def test_init_params_shapes_and_scale():
    params = reference.init_params(50, 200, 40, seed=0)
    shapes = {"Wh": (200, 50), "bh": (200,), "Wy": (40, 200), "by": (40,)}
    assert {k: v.shape for k, v in params.items()} == shapes
    assert np.std(params["Wh"]) == pytest.approx(0.3, rel=0.05)
    again = reference.init_params(50, 200, 40, seed=0)
    assert all(np.array_equal(params[k], again[k]) for k in params)


def test_forward_steps(net):
    params, X, _ = net
    Yhat, out = reference.forward(params, X)
    assert set(out) == {"X", "htilde", "h", "ytilde", "yhat"}
    np.testing.assert_allclose(out["htilde"], X @ params["Wh"].T + params["bh"])
    np.testing.assert_allclose(out["h"], np.tanh(out["htilde"]))
    np.testing.assert_allclose(Yhat.sum(axis=1), 1)
    assert Yhat is out["yhat"]


@pytest.mark.parametrize("one_hot", [False, True])
def test_backward_matches_finite_differences(net, one_hot):
    params, X, labels = net
    Y = np.eye(NY)[labels] if one_hot else labels
    _, outputs = reference.forward(params, X)
    grads = reference.backward(params, outputs, Y)

    for name in params:
        def loss_of(value, name=name):
            perturbed = dict(params, **{name: value})
            return reference.loss_accuracy(reference.forward(perturbed, X)[0], Y)[0]
        _, err = gradcheck.gradcheck(loss_of, params[name], grads[name])
        assert err < GRAD_RTOL, name


def test_course_network_matches_the_kernels(net):
    params, X, labels = net
    Yhat, outputs = reference.forward(params, X)
    grads = reference.backward(params, outputs, labels)
    h = kernels.tanh(kernels.linear_forward(X, params["Wh"], params["bh"]))
    z = kernels.linear_forward(h, params["Wy"], params["by"])
    loss, d_z = kernels.softmax_cross_entropy(z, labels)
    assert_close(loss, reference.loss_accuracy(Yhat, labels)[0], np.float64)
    d_h, grad_Wy, grad_by = kernels.linear_backward(h, params["Wy"], d_z)
    _, grad_Wh, grad_bh = kernels.linear_backward(X, params["Wh"], kernels.tanh_backward(h, d_h))
    for name, got in [("Wy", grad_Wy), ("by", grad_by), ("Wh", grad_Wh), ("bh", grad_bh)]:
        assert_close(got, grads[name], np.float64)


def test_loss_accuracy():
    Yhat = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]])
    L, acc = reference.loss_accuracy(Yhat, np.array([0, 2, 1]))
    assert L == pytest.approx(-(np.log(0.7) + np.log(0.8) + np.log(0.4)) / 3)
    assert acc == pytest.approx(2 / 3)
    # A zero probability on a class that is not the target costs nothing (no log(0)).
    L0, _ = reference.loss_accuracy(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]))
    assert L0 == 0


def test_sgd_step_lowers_the_loss(net):
    params, X, labels = net
    Yhat, outputs = reference.forward(params, X)
    before = reference.loss_accuracy(Yhat, labels)[0]
    new = reference.sgd(params, reference.backward(params, outputs, labels), 0.1)
    after = reference.loss_accuracy(reference.forward(new, X)[0], labels)[0]
    assert after < before
    assert new is not params and not np.shares_memory(new["Wh"], params["Wh"])


def test_reference_cross_entropy_against_finite_differences(rng):
    z = rng.standard_normal((4, 3))
    soft = rng.random((4, 3))
    soft /= soft.sum(axis=1, keepdims=True)
    w = rng.random(4)
    _, grad = reference.softmax_cross_entropy(z, soft, w)
    _, err = gradcheck.gradcheck(lambda v: reference.softmax_cross_entropy(v, soft, w)[0], z, grad)
    assert err < GRAD_RTOL


def test_reference_mirrors_every_kernel():
    import inspect
    for name in kernels.__all__:
        ours, theirs = getattr(kernels, name), getattr(reference, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "tanh", "sigmoid", "relu",
                                  "tanh_derivative", "sigmoid_derivative", "relu_derivative"])
def test_integer_input_computes_in_float64_as_in_the_kernels(name):
    x = np.array([[1, 2], [-1, -2]])
    result = getattr(reference, name)(x)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, getattr(kernels, name)(x), rtol=1e-12, atol=1e-15)


def test_integer_losses_and_layers_compute_in_float64():
    z, W, b = np.array([[1, 2], [-1, -2]]), np.array([[1, 0], [2, 1]]), np.array([1, -1])
    for ref, ker in ((reference.softmax_cross_entropy(z, [0, 1]),
                      kernels.softmax_cross_entropy(z, [0, 1])),
                     (reference.mse(z, z + 1), kernels.mse(z, z + 1))):
        assert ref[0] == pytest.approx(ker[0], rel=1e-12) and ref[1].dtype == np.float64
        np.testing.assert_allclose(ref[1], ker[1], rtol=1e-12)
    np.testing.assert_array_equal(reference.linear_forward(z, W, b),
                                  kernels.linear_forward(z, W, b))
    for ref, ker in zip(reference.linear_backward(z, W, z), kernels.linear_backward(z, W, z)):
        assert ref.dtype == np.float64
        np.testing.assert_array_equal(ref, ker)
