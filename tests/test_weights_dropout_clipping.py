"""Row and class weights, dropout and gradient clipping in MLP.fit, against their anchors:
torch's weighted losses (CrossEntropyLoss(weight=...), per-row weights as
(loss * w).sum() / w.sum()) and torch.nn.utils.clip_grad_norm_ / clip_grad_value_;
scikit-learn's "balanced" class weights; the NumPy reference's step with the masks the
compiled loop drew.

Each torch run starts from the model's weights (``MLP.to_torch``) and visits the
batches MLP.fit visits: ``rng = np.random.default_rng(seed)``, ``rng.permutation(n)``
every epoch (no dropout is drawn in those runs, so the stream is the shuffle's alone).
"""
import itertools

import numpy as np
import pytest

from fastmlp import MLP, course, gradcheck, kernels, optim, reference
from helpers import DTYPE_IDS, DTYPES, assert_close_at_scale, torch_or_skip

SIZES = [4, 7, 5, 3]
N, BATCH, EPOCHS, SEED = 50, 16, 3, 11
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
LOSSES = ["cross_entropy", "mse", "binary_cross_entropy", "hinge", "squared_hinge"]
# torch.nn.MultiMarginLoss's p for fastmlp's hinge losses.
HINGE_P = {"hinge": 1, "squared_hinge": 2}

dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)


def problem(loss, dtype, n=N, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0])).astype(dtype)
    if loss == "cross_entropy" or loss in HINGE_P:
        y = rng.integers(0, SIZES[-1], n)
    elif loss == "binary_cross_entropy":
        y = (rng.random((n, SIZES[-1])) < 0.5).astype(dtype)
    else:
        y = rng.standard_normal((n, SIZES[-1])).astype(dtype)
    return X, y, rng.uniform(0.2, 3.0, n)


def batches(n, batch_size, epochs, seed):
    """The rows of each step of ``MLP.fit(shuffle=True, seed=seed)``, in order."""
    return itertools.chain.from_iterable(course.batches(n, batch_size, epochs, seed))


def per_row_loss(torch, loss, out, y):
    """Each row's loss, as fastmlp's losses define it (binary cross-entropy and MSE
    summed over the outputs)."""
    F = torch.nn.functional
    if loss == "cross_entropy":
        return F.cross_entropy(out, y, reduction="none")
    if loss in HINGE_P:
        return F.multi_margin_loss(out, y, p=HINGE_P[loss], reduction="none")
    if loss == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(out, y, reduction="none").sum(dim=1)
    return ((out - y) ** 2).sum(dim=1)


def torch_fit(torch, model, X, y, optimizer, batch_loss, max_norm=None, clip_value=None):
    """The parameters after torch trains ``model.to_torch()`` on fit's batches with
    ``batch_loss(net_output, rows)``; also the gradient norms clip_grad_norm_ saw."""
    net = model.to_torch()
    name, kwargs = optimizer
    opt = getattr(torch.optim, name)(net.parameters(), **kwargs)
    X = torch.from_numpy(X)
    norms = []
    for rows in batches(len(X), BATCH, EPOCHS, SEED):
        opt.zero_grad()
        batch_loss(net(X[torch.from_numpy(rows)]), rows).backward()
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(net.parameters(), clip_value)
        if max_norm is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)))
        opt.step()
    return net, norms


def parameters_of(net):
    linears = [m for m in net if m.__class__.__name__ == "Linear"]
    return ([m.weight.detach().numpy() for m in linears]
            + [m.bias.detach().numpy() for m in linears])


def assert_same_parameters(model, net, dtype):
    for got, want in zip(list(model.weights) + list(model.biases), parameters_of(net)):
        assert got.dtype == dtype
        assert_close_at_scale(got, want, RTOL[dtype])


@pytest.fixture(scope="module")
def torch1():
    """torch on one thread (tiny tensors)."""
    torch = torch_or_skip()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


# --- weights ------------------------------------------------------------------------

@dtypes
@pytest.mark.parametrize("loss", LOSSES)
def test_sample_weight_is_the_batch_weighted_mean_as_in_torch(torch1, loss, dtype):
    torch = torch1
    X, y, w = problem(loss, dtype)
    model = MLP(SIZES, activation="tanh", loss=loss, dtype=dtype, seed=5)
    y_t, w_t = torch.from_numpy(y), torch.from_numpy(w.astype(dtype))

    def batch_loss(out, rows):
        r = torch.from_numpy(rows)
        return (per_row_loss(torch, loss, out, y_t[r]) * w_t[r]).sum() / w_t[r].sum()

    net, _ = torch_fit(torch, model, X, y, ("Adam", dict(lr=0.01)), batch_loss)
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, progress=False,
              optimizer=optim.Adam(lr=0.01), sample_weight=w)
    assert_same_parameters(model, net, dtype)


@dtypes
def test_class_weight_follows_torch_cross_entropy_weight(torch1, dtype):
    torch = torch1
    X, y, _ = problem("cross_entropy", dtype)
    class_weight = {0: 0.5, 1: 3.0, 2: 1.25}
    model = MLP(SIZES, activation="relu", dtype=dtype, seed=5)
    weight = torch.tensor([class_weight[c] for c in range(3)], dtype=model.to_torch()[0]
                          .weight.dtype)
    y_t = torch.from_numpy(y)

    def batch_loss(out, rows):
        return torch.nn.functional.cross_entropy(out, y_t[torch.from_numpy(rows)],
                                                 weight=weight)

    net, _ = torch_fit(torch, model, X, y, ("SGD", dict(lr=0.1, momentum=0.9)), batch_loss)
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, progress=False,
              optimizer=optim.SGD(lr=0.1, momentum=0.9), class_weight=class_weight)
    assert_same_parameters(model, net, dtype)


def test_balanced_class_weight_is_scikit_learns_formula():
    sklearn_weights = pytest.importorskip("sklearn.utils.class_weight")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((90, 4))
    y = rng.choice(4, size=90, p=[0.6, 0.25, 0.15, 0.0])  # class 3 absent
    present = np.unique(y)
    expected = sklearn_weights.compute_class_weight("balanced", classes=present, y=y)
    per_row = dict(zip(present, expected))
    fits = []
    for kwargs in (dict(class_weight="balanced"),
                   dict(sample_weight=[per_row[label] for label in y])):
        model = MLP([4, 6, 4], dtype=np.float64, seed=2)
        model.fit(X, y, epochs=2, batch_size=16, seed=1, progress=False, **kwargs)
        fits.append(model.weights[0].copy())
    np.testing.assert_array_equal(fits[0], fits[1])


@dtypes
def test_class_weight_times_sample_weight(dtype):
    X, y, w = problem("cross_entropy", dtype)
    class_weight = {1: 2.0}
    per_row = w * np.where(y == 1, 2.0, 1.0)
    fits = []
    for kwargs in (dict(class_weight=class_weight, sample_weight=w),
                   dict(sample_weight=per_row)):
        model = MLP(SIZES, dtype=dtype, seed=2)
        model.fit(X, y, epochs=2, batch_size=16, seed=1, progress=False, **kwargs)
        fits.append(model.weights[0].copy())
    assert_close_at_scale(fits[0], fits[1], 4 * np.finfo(dtype).eps)


@dtypes
def test_weights_and_l2_match_the_reference_steps(dtype):
    # scikit-learn's alpha term is divided by the batch's summed weights.
    X, y, w = problem("mse", dtype)
    opt = optim.SGD(lr=0.05, momentum=0.5, l2=0.3)
    model = MLP(SIZES, activation="sigmoid", loss="mse", dtype=dtype, seed=5)
    weights, biases = [W.copy() for W in model.weights], [b.copy() for b in model.biases]
    history = model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, progress=False,
                        optimizer=opt, sample_weight=w)
    state, losses = {}, []
    for rows in batches(N, BATCH, EPOCHS, SEED):
        penalty = 0.5 * 0.3 * sum(np.sum(W.astype(np.float64) ** 2) for W in weights)
        loss = reference.mlp_step(weights, biases, X[rows], y[rows], opt, state, "sigmoid",
                                  "mse", sample_weight=w[rows].astype(dtype))
        losses.append((loss + penalty / w[rows].astype(dtype).sum(dtype=np.float64))
                      * len(rows))
    for got, want in zip(list(model.weights) + list(model.biases), weights + biases):
        assert_close_at_scale(got, want, RTOL[dtype] * 10)
    per_epoch = np.add.reduceat(losses, [0, 4, 8]) / N
    np.testing.assert_allclose(history.loss, per_epoch, rtol=RTOL[dtype] * 10)


@dtypes
@pytest.mark.parametrize("loss", LOSSES)
def test_weighted_gradients_match_the_reference(loss, dtype):
    X, y, w = problem(loss, dtype, n=20)
    model = MLP(SIZES, activation="tanh", loss=loss, dtype=dtype, seed=3)
    _, ref_W, ref_b = reference.mlp_backward(model.weights, model.biases, X, y, "tanh", loss,
                                             sample_weight=w)
    for (gW, gb), rW, rb in zip(model.gradients(X, y, sample_weight=w), ref_W, ref_b):
        assert_close_at_scale(gW, rW, RTOL[dtype] * 10)
        assert_close_at_scale(gb, rb, RTOL[dtype] * 10)
    assert model.loss(X, y, sample_weight=w) == pytest.approx(
        reference.mlp_backward(model.weights, model.biases, X, y, "tanh", loss,
                               sample_weight=w)[0], rel=RTOL[dtype] * 10)


@dtypes
def test_weighted_mse_kernel(dtype):
    rng = np.random.default_rng(4)
    yhat = rng.standard_normal((6, 3)).astype(dtype)
    y = rng.standard_normal((6, 3)).astype(dtype)
    w = rng.uniform(0.1, 5, 6).astype(dtype)
    loss, grad = kernels.mse(yhat, y, sample_weight=w)
    ref_loss, ref_grad = reference.mse(yhat, y, sample_weight=w)
    assert loss == pytest.approx(ref_loss, rel=RTOL[dtype] * 10)
    assert_close_at_scale(grad, ref_grad, RTOL[dtype] * 10)
    # The weighted mean: rows of weight 2 count as repeated rows.
    twice = np.array([1, 2, 1, 1, 2, 1], dtype=dtype)
    repeated = np.repeat(np.arange(6), twice.astype(int))
    assert kernels.mse(yhat, y, sample_weight=twice)[0] == pytest.approx(
        kernels.mse(yhat[repeated], y[repeated])[0], rel=RTOL[dtype] * 10)
    if dtype == np.float64:
        _, err = gradcheck.gradcheck(lambda v: kernels.mse(v, y, sample_weight=w)[0], yhat,
                                     grad)
        assert err < 1e-7


@dtypes
def test_validation_data_with_weights_gives_weighted_measures(dtype):
    X, y, w = problem("cross_entropy", dtype)
    model = MLP(SIZES, dtype=dtype, seed=1)
    history = model.fit(X[:40], y[:40], epochs=2, seed=0, progress=False,
                        validation_data=(X[40:], y[40:], w[40:]))
    assert history.val_loss[-1] == pytest.approx(model.loss(X[40:], y[40:], w[40:]))
    assert history.val_accuracy[-1] == pytest.approx(model.score(X[40:], y[40:], w[40:]))
    assert history.val_loss[-1] != pytest.approx(model.loss(X[40:], y[40:]))


def test_early_stopping_holds_out_weights_with_their_rows():
    X, y, w = problem("cross_entropy", np.float64, n=200)
    runs = []
    for weights in (w, None):
        model = MLP(SIZES, dtype=np.float64, seed=1)
        runs.append(model.fit(X, y, epochs=3, seed=0, progress=False, early_stopping=True,
                              sample_weight=weights, patience=5).val_loss)
    assert runs[0] != pytest.approx(runs[1])


def test_partial_fit_takes_sample_weight():
    X, y, w = problem("cross_entropy", np.float64)
    a, b = MLP(SIZES, dtype=np.float64, seed=4), MLP(SIZES, dtype=np.float64, seed=4)
    a.partial_fit(X, y, sample_weight=w, batch_size=16)
    b.fit(X, y, epochs=1, batch_size=16, shuffle=False, progress=False, sample_weight=w)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])


# --- clipping -------------------------------------------------------------------------

@dtypes
@pytest.mark.parametrize("clip", ["norm", "value", "both"])
def test_clipping_follows_torch(torch1, clip, dtype):
    torch = torch1
    X, y, _ = problem("cross_entropy", dtype)
    X = X * 4  # large gradients, so that the clipping acts
    max_norm = 0.3 if clip in ("norm", "both") else None
    clip_value = 0.05 if clip in ("value", "both") else None
    model = MLP(SIZES, activation="relu", dtype=dtype, seed=5)
    y_t = torch.from_numpy(y)

    def batch_loss(out, rows):
        return torch.nn.functional.cross_entropy(out, y_t[torch.from_numpy(rows)])

    sgd = dict(lr=0.5, momentum=0.9, weight_decay=0.01)
    net, norms = torch_fit(torch, model, X, y, ("SGD", sgd), batch_loss, max_norm, clip_value)
    if max_norm is not None:
        assert sum(norm > max_norm for norm in norms) >= 3  # it acted
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, progress=False,
              optimizer=optim.SGD(**sgd), clip_grad_norm=max_norm, clip_grad_value=clip_value)
    assert_same_parameters(model, net, dtype)


@dtypes
def test_clipping_with_l2_and_weights_matches_the_reference(dtype):
    X, y, w = problem("cross_entropy", dtype)
    X = X * 4
    opt = optim.Adam(lr=0.05, l2=0.5)
    model = MLP(SIZES, activation="tanh", dtype=dtype, seed=5)
    weights, biases = [W.copy() for W in model.weights], [b.copy() for b in model.biases]
    model.fit(X, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, progress=False, optimizer=opt,
              sample_weight=w, clip_grad_norm=0.2, clip_grad_value=0.08)
    state = {}
    for rows in batches(N, BATCH, EPOCHS, SEED):
        reference.mlp_step(weights, biases, X[rows], y[rows], opt, state, "tanh",
                           sample_weight=w[rows].astype(dtype), clip_value=0.08, max_norm=0.2)
    for got, want in zip(list(model.weights) + list(model.biases), weights + biases):
        assert_close_at_scale(got, want, RTOL[dtype] * 10)


# --- dropout --------------------------------------------------------------------------

@dtypes
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "identity"])
def test_a_dropout_step_equals_the_reference_step_with_its_masks(activation, dtype):
    X, y, w = problem("cross_entropy", dtype, n=24)
    sizes = [4, 9, 6, 3]
    opt = optim.SGD(lr=0.2, momentum=0.9)
    model = MLP(sizes, activation=activation, dtype=dtype, seed=7)
    weights, biases = [W.copy() for W in model.weights], [b.copy() for b in model.biases]
    # One full batch in order: one step, whose masks the network keeps.
    model.fit(X, y, epochs=1, batch_size=None, shuffle=False, progress=False, optimizer=opt,
              dropout=[0.3, 0.5], seed=3, sample_weight=w)
    masks = model._net.masks()
    assert [m.shape for m in masks] == [(24, 9), (24, 6)]
    for m, rate in zip(masks, [0.3, 0.5]):
        assert m.dtype == dtype
        assert set(np.unique(m)) <= {0, dtype(1 / (1 - rate))}
        assert 0 < np.count_nonzero(m) < m.size
    reference.mlp_step(weights, biases, X, y, opt, {}, activation, masks=masks,
                       sample_weight=w.astype(dtype))
    for got, want in zip(list(model.weights) + list(model.biases), weights + biases):
        assert_close_at_scale(got, want, RTOL[dtype] * 10)


def test_dropout_rates_per_layer_and_their_frequency():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((400, 10)), rng.integers(0, 2, 400)
    model = MLP([10, 300, 200, 2], activation="relu", dtype=np.float64, seed=0)
    model.fit(X, y, epochs=1, batch_size=None, progress=False, dropout=[0.0, 0.25], seed=1)
    first, second = model._net.masks()
    assert first is None
    dropped = np.mean(second == 0)
    # 80,000 independent draws of probability 0.25: 6 standard deviations is 0.0092.
    assert abs(dropped - 0.25) < 0.0092
    assert set(np.unique(second)) == {0.0, 1 / 0.75}


@dtypes
def test_dropout_is_seeded(dtype):
    X, y, _ = problem("cross_entropy", dtype)

    def trained(seed, **kwargs):
        model = MLP(SIZES, dtype=dtype, seed=0)
        model.fit(X, y, epochs=2, batch_size=8, seed=seed, progress=False, **kwargs)
        return np.concatenate([W.ravel() for W in model.weights])

    same = trained(1, dropout=0.4)
    np.testing.assert_array_equal(same, trained(1, dropout=0.4))
    assert not np.array_equal(same, trained(2, dropout=0.4))
    # A rate of 0 draws nothing: the fit is the plain one, bit for bit.
    np.testing.assert_array_equal(trained(1, dropout=0.0), trained(1))
    assert not np.array_equal(same, trained(1))


def test_dropout_is_for_training_only():
    X, y, _ = problem("cross_entropy", np.float64)
    model = MLP(SIZES, dtype=np.float64, seed=0)
    model.fit(X, y, epochs=1, progress=False, dropout=0.5, seed=0)
    np.testing.assert_array_equal(model.forward(X), model.forward(X))
    ref = reference.mlp_forward(model.weights, model.biases, X)[-1]
    np.testing.assert_allclose(model.forward(X), reference.softmax(ref), rtol=1e-12)
    grads = model.gradients(X, y)
    _, ref_W, _ = reference.mlp_backward(model.weights, model.biases, X, y)
    assert_close_at_scale(grads[0][0], ref_W[0], 1e-12)


# --- bad input ------------------------------------------------------------------------

BAD = [
    (dict(sample_weight=np.r_[0.0, np.ones(N - 1)]), ValueError, "must be positive"),
    (dict(sample_weight=np.r_[-1.0, np.ones(N - 1)]), ValueError, "must be positive"),
    (dict(sample_weight=np.r_[np.nan, np.ones(N - 1)]), ValueError, "sample_weight"),
    (dict(sample_weight=np.r_[np.inf, np.ones(N - 1)]), ValueError, "sample_weight"),
    (dict(sample_weight=np.ones(N - 1)), ValueError, "one weight per row"),
    (dict(sample_weight=np.ones((N, 1))), ValueError, "1-D"),
    (dict(sample_weight=np.full(N, "a")), TypeError, "real numbers"),
    (dict(sample_weight=np.full(N, 1e38), dtype=np.float32), ValueError, "finite in float32"),
    (dict(class_weight="auto"), ValueError, "balanced"),
    (dict(class_weight=[1, 2, 3]), TypeError, "class_weight"),
    (dict(class_weight={5: 1.0}), ValueError, "the key 5"),
    (dict(class_weight={1: 0.0}), ValueError, "class_weight[1]"),
    (dict(class_weight={1: np.nan}), ValueError, "class_weight[1]"),
    (dict(dropout=1.0), ValueError, "dropout must be < 1"),
    (dict(dropout=-0.1), ValueError, "dropout must be >= 0"),
    (dict(dropout=[0.1]), ValueError, "one rate per hidden layer (2)"),
    (dict(dropout=[0.1, 1.5]), ValueError, "dropout[1]"),
    (dict(dropout="0.1"), TypeError, "dropout"),
    (dict(clip_grad_norm=0.0), ValueError, "clip_grad_norm must be > 0"),
    (dict(clip_grad_norm=np.inf), ValueError, "clip_grad_norm must be finite"),
    (dict(clip_grad_value=-1.0), ValueError, "clip_grad_value must be > 0"),
    (dict(clip_grad_value="1"), TypeError, "clip_grad_value"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_weights_dropout_and_clipping_are_named_errors(kwargs, error, message):
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", np.float64)
    X, y, _ = problem("cross_entropy", dtype)
    model = MLP(SIZES, dtype=dtype, seed=0)
    before = model.weights[0].copy()
    with pytest.raises(error, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        model.fit(X, y, epochs=1, progress=False, **kwargs)
    np.testing.assert_array_equal(model.weights[0], before)


def test_class_weight_needs_labels_and_dropout_hidden_layers():
    X, y, _ = problem("mse", np.float64)
    with pytest.raises(ValueError, match="class_weight needs one class label per row"):
        MLP(SIZES, loss="mse", dtype=np.float64).fit(X, y, progress=False,
                                                      class_weight="balanced")
    with pytest.raises(ValueError, match="has none"):
        MLP([4, 3], dtype=np.float64).fit(X, np.zeros(N, int), progress=False, dropout=0.5)
