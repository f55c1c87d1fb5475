"""The NumPy reference itself: its course network and its network of any depth against
finite differences, the kernels and fastmlp.MLP."""
import numpy as np
import pytest

from fastmlp import MLP, gradcheck, kernels, reference
from helpers import DTYPE_IDS, DTYPES, GRAD_RTOL, assert_close, assert_close_at_scale

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


# --- the network of any depth ---------------------------------------------------------

ACTIVATIONS = ["tanh", "sigmoid", "relu"]
LOSSES = ["cross_entropy", "mse"]
DEPTHS = {1: [4, 3], 2: [4, 6, 3], 3: [4, 6, 5, 3]}
# Agreement of MLP's compiled network with the float64 reference, relative to each
# array's scale (float32 rounds every layer of the forward and backward pass).
SCALE_RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def mlp_problem(sizes, loss, dtype=np.float64, n=9, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if loss == "cross_entropy":
        return X, rng.integers(0, sizes[-1], n)
    return X, rng.standard_normal((n, sizes[-1])).astype(dtype)


def float64_parameters(model):
    return ([np.array(W, np.float64) for W in model.weights],
            [np.array(b, np.float64) for b in model.biases])


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_mlp_matches_the_model(depth, activation, loss, dtype):
    """The reference in float64, on the model's own parameters and data, gives the
    model's outputs, loss and gradients, float32 models to float32 rounding."""
    sizes = DEPTHS[depth]
    model = MLP(sizes, activation=activation, loss=loss, dtype=dtype, seed=depth)
    X, y = mlp_problem(sizes, loss, dtype)
    weights, biases = float64_parameters(model)
    X64 = X.astype(np.float64)
    outputs = reference.mlp_forward(weights, biases, X64, activation, loss)
    assert [a.shape for a in outputs] == [(len(X), k) for k in sizes[1:]]
    expected = reference.softmax(outputs[-1]) if loss == "cross_entropy" else outputs[-1]
    assert_close_at_scale(model.forward(X), expected, SCALE_RTOL[dtype])

    value, grads_W, grads_b = reference.mlp_backward(weights, biases, X64, y, activation, loss)
    assert value == pytest.approx(model.loss(X, y), rel=SCALE_RTOL[dtype])
    got = model.gradients(X, y)
    assert len(got) == len(grads_W) == len(grads_b) == depth
    for (gW, gb), rW, rb in zip(got, grads_W, grads_b):
        assert gW.dtype == gb.dtype == dtype
        assert_close_at_scale(gW, rW, SCALE_RTOL[dtype])
        assert_close_at_scale(gb, rb, SCALE_RTOL[dtype])


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_mlp_backward_matches_finite_differences(depth, activation, loss):
    sizes = DEPTHS[depth]
    weights, biases = float64_parameters(MLP(sizes, activation=activation, loss=loss,
                                             dtype=np.float64, seed=depth))
    X, y = mlp_problem(sizes, loss)
    _, grads_W, grads_b = reference.mlp_backward(weights, biases, X, y, activation, loss)
    for params, grads in ((weights, grads_W), (biases, grads_b)):
        for l, (param, analytic) in enumerate(zip(params, grads)):
            def loss_at(value, param=param):
                original = param.copy()
                param[...] = value
                try:
                    return reference.mlp_backward(weights, biases, X, y, activation, loss)[0]
                finally:
                    param[...] = original
            # The network's loss carries more rounding noise than one kernel's: the
            # step eps ~ cbrt(machine eps) balances it against truncation, and the
            # error is measured against the gradient's scale (its small entries are
            # differences of rounded losses too).
            numeric = gradcheck.numerical_gradient(loss_at, param, eps=1e-5)
            assert_close_at_scale(numeric, analytic, GRAD_RTOL)


def test_mlp_one_hot_labels_equal_integer_labels():
    weights, biases = float64_parameters(MLP([4, 6, 3], dtype=np.float64, seed=0))
    X, y = mlp_problem([4, 6, 3], "cross_entropy")
    by_label = reference.mlp_backward(weights, biases, X, y)
    by_row = reference.mlp_backward(weights, biases, X, np.eye(3)[y])
    assert by_label[0] == by_row[0]
    for a, b in zip(by_label[1] + by_label[2], by_row[1] + by_row[2]):
        np.testing.assert_array_equal(a, b)


def test_mlp_forward_ignores_the_loss_and_keeps_float32():
    model = MLP([4, 6, 3], seed=0)
    weights, biases = list(model.weights), list(model.biases)
    X, _ = mlp_problem([4, 6, 3], "mse", np.float32)
    ce = reference.mlp_forward(weights, biases, X, "sigmoid", "cross_entropy")
    se = reference.mlp_forward(weights, biases, X, "sigmoid", "mse")
    assert all(a.dtype == np.float32 for a in ce)
    for a, b in zip(ce, se):
        np.testing.assert_array_equal(a, b)
    assert np.all((ce[0] > 0) & (ce[0] < 1))  # the hidden layer's sigmoid, not raw


def test_mlp_step_sgd_with_l2_on_the_weights_only():
    """One plain SGD step: W -= lr (dL/dW + l2/n W), b -= lr dL/db; the loss before it."""
    from fastmlp.optim import SGD
    weights, biases = float64_parameters(MLP([4, 6, 3], dtype=np.float64, seed=0))
    X, y = mlp_problem([4, 6, 3], "cross_entropy", n=8)
    value, grads_W, grads_b = reference.mlp_backward(weights, biases, X, y)
    expected_W = [W - 0.1 * (g + 0.4 / 8 * W) for W, g in zip(weights, grads_W)]
    expected_b = [b - 0.1 * g for b, g in zip(biases, grads_b)]
    state = {}
    assert reference.mlp_step(weights, biases, X, y, SGD(0.1, l2=0.4), state) == value
    assert state == {"step": 1, ("W", 0): {}, ("b", 0): {}, ("W", 1): {}, ("b", 1): {}}
    for got, want in zip(weights + biases, expected_W + expected_b):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def test_mlp_step_keeps_the_optimizer_state():
    """Adam's moments and the step count live in ``state``: two steps with one state
    differ from two first steps, and each parameter has its own buffers."""
    from fastmlp.optim import Adam
    model = MLP([4, 6, 3], dtype=np.float64, seed=0)
    X, y = mlp_problem([4, 6, 3], "mse", n=8)
    weights, biases = float64_parameters(model)
    state = {}
    for _ in range(2):
        reference.mlp_step(weights, biases, X, y, Adam(lr=0.01, amsgrad=True), state, loss="mse")
    assert state["step"] == 2
    assert set(state[("W", 1)]) == {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert state[("W", 1)]["exp_avg"].shape == weights[1].shape
    assert state[("b", 0)]["exp_avg_sq"].shape == biases[0].shape
    restarted_W, restarted_b = float64_parameters(model)
    for _ in range(2):
        reference.mlp_step(restarted_W, restarted_b, X, y, Adam(lr=0.01, amsgrad=True), {},
                           loss="mse")
    assert not np.allclose(restarted_W[0], weights[0])
