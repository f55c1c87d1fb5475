"""Training trajectories against torch.optim: fastmlp.MLP.fit and reference.mlp_step
take PyTorch's steps, one after another, to rounding.

Each run starts from the same weights (the model's, copied into an nn.Sequential of
nn.Linear and the activation) and visits the same batches: the order MLP.fit draws,
``rng = np.random.default_rng(seed)`` once per fit and ``rng.permutation(n)`` every
epoch (with shuffle on and batches smaller than the data). 3 epochs of 50 rows in
batches of 16 end each epoch on a batch of 2, whose loss is its own mean.
"""
import functools

import numpy as np
import pytest

from fastmlp import MLP, course, reference
from helpers import DTYPE_IDS, DTYPES, assert_close_at_scale, torch_or_skip

SIZES = [4, 7, 5, 3]
N, BATCH, EPOCHS, SEED = 50, 16, 3, 11
ACTIVATIONS = ["tanh", "sigmoid", "relu", "identity"]
LOSSES = ["cross_entropy", "mse", "binary_cross_entropy", "hinge", "squared_hinge"]
# torch.nn.MultiMarginLoss's p for fastmlp's hinge losses.
HINGE_P = {"hinge": 1, "squared_hinge": 2}
# Final weights agree relative to their scale: the gradients' rounding (BLAS blocking,
# order of sums) differs from torch's and carries through the steps.
RTOL = {np.float32: 1e-5, np.float64: 1e-12}

# The optimizer of each case: its class in torch.optim and in fastmlp.optim (the
# same name) and the arguments, which both take.
OPTIMIZERS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    "nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    "weight_decay": ("SGD", dict(lr=0.1, weight_decay=0.05)),
    "momentum_weight_decay": ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.05)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_weight_decay": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05)),
    "adam_amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    "adamw_amsgrad": ("AdamW", dict(lr=0.01, eps=1e-6, amsgrad=True)),
}
# Every optimizer case meets one activation, in turn: each activation is trained by
# both rules, and the activations' own arithmetic is tested against MLP in
# test_reference.py.
CASES = [(case, ACTIVATIONS[i % len(ACTIVATIONS)]) for i, case in enumerate(OPTIMIZERS)]
# The cases fit's own SGD arguments (lr, momentum, nesterov, weight_decay) express.
LEGACY_SGD = [(case, activation) for case, activation in CASES
              if case in ("sgd", "momentum", "nesterov", "weight_decay", "momentum_weight_decay")]

losses = pytest.mark.parametrize("loss", LOSSES)
dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)


def problem(loss, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, SIZES[0])).astype(dtype)
    if loss == "cross_entropy" or loss in HINGE_P:
        return X, rng.integers(0, SIZES[-1], N)
    if loss == "binary_cross_entropy":
        return X, (rng.random((N, SIZES[-1])) < 0.5).astype(dtype)
    return X, rng.standard_normal((N, SIZES[-1])).astype(dtype)


def batches(n, batch_size, epochs, seed):
    """The rows of each step of ``MLP.fit(shuffle=True, seed=seed)``, in order."""
    for epoch in course.batches(n, batch_size, epochs, seed):
        yield from epoch


def fastmlp_optimizer(case):
    # Imported here, not at the top: a broken fastmlp.optim fails the tests that use
    # it, not the collection of the SGD cases of fit's own arguments.
    from fastmlp import optim
    name, kwargs = OPTIMIZERS[case]
    return getattr(optim, name)(**kwargs)


def torch_trajectory(torch, case, activation, loss, dtype, label_smoothing=0.0):
    """The parameters after torch.optim trains an nn.Sequential from the model's
    initial weights (see ``start``) on the case's batches."""
    _, (weights, biases), (X, y) = start(activation, loss, dtype)
    F = torch.nn.functional
    modules = []
    for l, (W, b) in enumerate(zip(weights, biases)):
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if l < len(weights) - 1:
            modules.append({"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
                            "relu": torch.nn.ReLU, "identity": torch.nn.Identity}[activation]())
    net = torch.nn.Sequential(*modules)
    name, kwargs = OPTIMIZERS[case]
    opt = getattr(torch.optim, name)(net.parameters(), **kwargs)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    for rows in batches(len(X), BATCH, EPOCHS, SEED):
        rows = torch.from_numpy(rows)
        opt.zero_grad()
        out = net(X[rows])
        if loss == "cross_entropy":
            value = F.cross_entropy(out, y[rows], label_smoothing=label_smoothing)
        elif loss in HINGE_P:
            value = F.multi_margin_loss(out, y[rows], p=HINGE_P[loss])
        elif loss == "binary_cross_entropy":  # summed over the labels, mean over rows
            value = F.binary_cross_entropy_with_logits(out, y[rows], reduction="sum") / len(rows)
        else:
            value = ((out - y[rows]) ** 2).sum(dim=1).mean()
        value.backward()
        opt.step()
    linears = [m for m in modules if isinstance(m, torch.nn.Linear)]
    return ([m.weight.detach().numpy() for m in linears],
            [m.bias.detach().numpy() for m in linears])


@pytest.fixture(scope="module")
def torch_run():
    """torch_trajectory, run once per case, on one thread (tiny tensors: more threads
    only wait for each other, on a busy machine for a long time)."""
    torch = torch_or_skip()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield functools.cache(functools.partial(torch_trajectory, torch))
    torch.set_num_threads(threads)


def start(activation, loss, dtype):
    """A model, its initial (weights, biases) as copies, and the data."""
    model = MLP(SIZES, activation=activation, loss=loss, dtype=dtype, seed=5)
    initial = [W.copy() for W in model.weights], [b.copy() for b in model.biases]
    return model, initial, problem(loss, dtype)


def assert_same_parameters(weights, biases, expected, dtype):
    for got, want in zip(weights + biases, expected[0] + expected[1]):
        assert got.dtype == dtype
        assert_close_at_scale(got, want, RTOL[dtype])


@pytest.mark.parametrize("case, activation", CASES)
@losses
@dtypes
def test_reference_follows_torch(torch_run, case, activation, loss, dtype):
    _, (weights, biases), (X, y) = start(activation, loss, dtype)
    expected = torch_run(case, activation, loss, dtype)
    optimizer, state = fastmlp_optimizer(case), {}
    for rows in batches(N, BATCH, EPOCHS, SEED):
        reference.mlp_step(weights, biases, X[rows], y[rows], optimizer, state,
                           activation, loss)
    assert state["step"] == EPOCHS * 4
    assert_same_parameters(weights, biases, expected, dtype)


@pytest.mark.parametrize("case, activation", CASES)
@losses
@dtypes
def test_fit_follows_torch(torch_run, case, activation, loss, dtype):
    model, _, (X, y) = start(activation, loss, dtype)
    expected = torch_run(case, activation, loss, dtype)
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, progress=False,
              optimizer=fastmlp_optimizer(case))
    assert_same_parameters(list(model.weights), list(model.biases), expected, dtype)


@pytest.mark.parametrize("case, activation", LEGACY_SGD)
@losses
@dtypes
def test_fit_with_sgd_arguments_follows_torch(torch_run, case, activation, loss, dtype):
    model, _, (X, y) = start(activation, loss, dtype)
    expected = torch_run(case, activation, loss, dtype)
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, progress=False,
              **OPTIMIZERS[case][1])
    assert_same_parameters(list(model.weights), list(model.biases), expected, dtype)


@pytest.mark.parametrize("case", ["sgd", "momentum", "adam"])
@dtypes
def test_label_smoothing_follows_torch(torch_run, case, dtype):
    # torch.nn.CrossEntropyLoss(label_smoothing=0.2), in the compiled epoch and in
    # reference.mlp_step; without smoothing the trajectory is another one.
    model, (weights, biases), (X, y) = start("tanh", "cross_entropy", dtype)
    expected = torch_run(case, "tanh", "cross_entropy", dtype, label_smoothing=0.2)
    optimizer, state = fastmlp_optimizer(case), {}
    for rows in batches(N, BATCH, EPOCHS, SEED):
        reference.mlp_step(weights, biases, X[rows], y[rows], optimizer, state, "tanh",
                           "cross_entropy", label_smoothing=0.2)
    assert_same_parameters(weights, biases, expected, dtype)
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, progress=False,
              optimizer=fastmlp_optimizer(case), label_smoothing=0.2)
    assert_same_parameters(list(model.weights), list(model.biases), expected, dtype)
    plain = torch_run(case, "tanh", "cross_entropy", dtype)
    assert not np.allclose(plain[0][0], expected[0][0], rtol=1e-3, atol=0)
