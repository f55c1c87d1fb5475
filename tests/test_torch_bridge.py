"""MLP.to_torch / MLP.from_torch: exact round trips, outputs and gradients that agree with
torch's, the layers fastmlp refuses, and the error without torch."""
import textwrap

import numpy as np
import pytest

from fastmlp import MLP
from helpers import DTYPE_IDS, DTYPES, assert_close, run_python, torch_or_skip

ACTIVATIONS = ["tanh", "sigmoid", "relu", "identity"]


@pytest.fixture(scope="module")
def torch():
    return torch_or_skip()


def _data(dtype, n=9, d=3, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(dtype), rng.integers(0, k, n)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_to_torch_layers_weights_and_outputs(torch, activation, dtype):
    model = MLP([3, 6, 5, 4], activation=activation, dtype=dtype, seed=1)
    module = model.to_torch()
    nn = torch.nn
    kinds = [type(m) for m in module]
    act = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU,
           "identity": nn.Identity}[activation]
    assert kinds == [nn.Linear, act, nn.Linear, act, nn.Linear]  # no output activation
    for l, linear in enumerate(module[::2]):
        assert linear.weight.dtype == getattr(torch, np.dtype(dtype).name)
        assert np.array_equal(linear.weight.detach().numpy(), model.weights[l])
        assert np.array_equal(linear.bias.detach().numpy(), model.biases[l])
        assert linear.weight.requires_grad
    X, y = _data(dtype)
    logits = module(torch.from_numpy(X))
    assert_close(torch.softmax(logits, 1).detach().numpy(), model.forward(X), dtype, 10)
    # The gradients of the loss torch users attach agree with the model's.
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
    for l, (gW, gb) in enumerate(model.gradients(X, y)):
        assert_close(module[2 * l].weight.grad.numpy(), gW, dtype, 10)
        assert_close(module[2 * l].bias.grad.numpy(), gb, dtype, 10)


def test_to_torch_parameters_are_independent_copies(torch):
    model = MLP([2, 3, 2], dtype=np.float64, seed=0)
    W = model.weights[0].copy()
    module = model.to_torch()
    with torch.no_grad():
        module[0].weight.add_(1.0)
    assert np.array_equal(model.weights[0], W)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "binary_cross_entropy"])
def test_round_trip_is_exact(torch, loss, activation, dtype):
    model = MLP([3, 5, 2], activation=activation, loss=loss, dtype=dtype, seed=2)
    back = MLP.from_torch(model.to_torch(), loss=loss)
    assert (back.layer_sizes, back.activation, back.loss_name, back.dtype) == \
        (model.layer_sizes, activation, loss, np.dtype(dtype))
    for a, b in zip([*model.weights, *model.biases], [*back.weights, *back.biases]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    X, _ = _data(dtype)
    assert np.array_equal(back.forward(X), model.forward(X))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_from_torch_matches_a_torch_network(torch, dtype):
    nn = torch.nn
    torch.manual_seed(0)
    tdtype = getattr(torch, np.dtype(dtype).name)
    net = nn.Sequential(nn.Linear(3, 7, dtype=tdtype), nn.Tanh(),
                        nn.Linear(7, 4, dtype=tdtype), nn.Softmax(dim=1))
    model = MLP.from_torch(net)
    assert (model.layer_sizes, model.activation, model.loss_name, model.dtype) == \
        ((3, 7, 4), "tanh", "cross_entropy", np.dtype(dtype))
    X, _ = _data(dtype)
    assert_close(model.forward(X), net(torch.from_numpy(X)).detach().numpy(), dtype, 10)
    # And back: the same parameters, bit for bit (the output Softmax left to the loss).
    back = model.to_torch()
    for a, b in zip(back.parameters(), net.parameters()):
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_from_torch_infers_the_loss_and_activation(torch):
    nn = torch.nn
    cases = [
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid()),
         "relu", "binary_cross_entropy"),
        (nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 4), nn.LogSoftmax(-1)),
         "sigmoid", "cross_entropy"),
        (nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4)), "identity", "cross_entropy"),
        (nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1)),
         "identity", "binary_cross_entropy"),
        (nn.Linear(2, 5), "tanh", "cross_entropy"),
        # Nested Sequentials are read in order.
        (nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.Tanh()), nn.Linear(3, 2)),
         "tanh", "cross_entropy"),
    ]
    for net, activation, loss in cases:
        model = MLP.from_torch(net)
        assert (model.activation, model.loss_name) == (activation, loss), net
    # Overrides: a regression network, another dtype (converted).
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
    model = MLP.from_torch(net, loss="mse", dtype=np.float64)
    assert (model.loss_name, model.dtype) == ("mse", np.float64)
    assert np.array_equal(model.weights[1], net[2].weight.detach().numpy().astype(np.float64))


def test_from_torch_names_the_layer_it_cannot_represent(torch):
    nn = torch.nn
    cases = [
        (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(), nn.Linear(3, 2)), r"layer 1 \(LeakyReLU"),
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Dropout(0.5), nn.Linear(3, 2)),
         r"layer 2 \(Dropout"),
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.ReLU(), nn.Linear(3, 2)),
         r"layer 2 \(ReLU\(\)\) is a second activation"),
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)),
         r"layer 3 \(ReLU\(\)\) differs"),
        (nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh(), nn.Linear(3, 2)),
         r"layer 0 .* has no bias"),
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(4, 2)), r"layer 2 .* takes 4 inputs"),
        (nn.Sequential(nn.Tanh(), nn.Linear(2, 2)), r"layer 0 \(Tanh\(\)\) comes before"),
        (nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1), nn.Linear(3, 2)),
         r"layer 1 \(Softmax.* between Linear layers"),
        (nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)), r"layer 1 .* dim=0"),
        (nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Conv1d(1, 1, 1))),
         r"layer 1\.1 \(Conv1d"),
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2, dtype=torch.float64)),
         r"mix the dtypes"),
        (nn.Sequential(nn.Linear(2, 3, dtype=torch.float16)), r"float16"),
        (nn.Sequential(), r"no Linear layer"),
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)), None),
    ]
    for net, match in cases[:-1]:
        with pytest.raises(ValueError, match=match):
            MLP.from_torch(net)
    with pytest.raises(ValueError, match=r"activation='relu' but .* use 'tanh'"):
        MLP.from_torch(cases[-1][0], activation="relu")
    with pytest.raises(ValueError, match=r"loss='mse' but the module ends in layer 3"):
        MLP.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2),
                                     nn.Softmax(1)), loss="mse")
    with pytest.raises(TypeError, match="torch.nn.Sequential"):
        MLP.from_torch(nn.Tanh())


def test_without_torch_both_say_how_to_install_it():
    # A fresh interpreter where importing torch fails, as when it is not installed.
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None
        from fastmlp import MLP
        for call in (lambda: MLP([2, 2]).to_torch(), lambda: MLP.from_torch(object())):
            try:
                call()
            except ImportError as exc:
                assert "pip install torch==2.13.0" in str(exc), exc
                assert "CPU" in str(exc), exc
            else:
                raise AssertionError("no ImportError")
        print("ok")
    """)
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
