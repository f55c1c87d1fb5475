"""The multi-class hinge loss: ``kernels.multiclass_hinge`` against the reference,
torch's MultiMarginLoss, finite differences (away from the kinks) and its
subgradient at them, extreme inputs; ``MLP(loss="hinge" | "squared_hinge")``'s
predictions, scores and errors; and the course's SVM bonus on the circles.

(The network's gradients against finite differences are in test_model.py, its
trajectories against torch.optim with MultiMarginLoss in test_trajectories.py.)
"""
import numpy as np
import pytest

from fastmlp import MLP, datasets, gradcheck, kernels, reference
from helpers import GRAD_RTOL, assert_close, torch_or_skip

P = [1, 2]
LOSSES = {"hinge": 1, "squared_hinge": 2}


def margins(z, y):
    """d_ij = 1 + z_ij - z_iy_i, with the label's own entry set to NaN."""
    z = np.asarray(z, np.float64)
    d = 1 + z - z[np.arange(len(y)), y][:, None]
    d[np.arange(len(y)), y] = np.nan
    return d


def scores(rng, n, k, dtype, gap=0.05):
    """Scores (n, k) and labels (n,) whose margins all lie at least ``gap`` from the
    kink d = 0 (rows that come too close are drawn again)."""
    z = rng.standard_normal((n, k)) * 1.5
    y = rng.integers(0, k, n)
    while True:
        near = np.nanmin(np.abs(margins(z, y)), axis=1) < gap
        if not near.any():
            return z.astype(dtype), y
        z[near] = rng.standard_normal((near.sum(), k)) * 1.5


# --- the kernel ---------------------------------------------------------------------

@pytest.mark.parametrize("p", P)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_matches_reference(dtype, rng, p, weighted):
    z, y = scores(rng, 40, 5, dtype)
    w = rng.random(40).astype(dtype) if weighted else None
    loss, grad = kernels.multiclass_hinge(z, y, p=p, sample_weight=w)
    ref_loss, ref_grad = reference.multiclass_hinge(z, y, p, w)
    assert isinstance(loss, float) and grad.dtype == dtype and grad.shape == z.shape
    assert_close(loss, ref_loss, dtype, scale=10)
    assert_close(grad, ref_grad, dtype)
    # Each row's gradient sums to 0 (the label's entry balances the others), and
    # both active and inactive terms are present.
    assert_close(grad.sum(axis=1), np.zeros(40), dtype)
    d = margins(z, y)
    assert np.any(d > 0) and np.any(d < 0)


@pytest.mark.parametrize("p", P)
def test_threaded_rows_match_reference(dtype, rng, p):
    # n * k above parallel.pxd's threshold: the rows run on OpenMP threads.
    z, y = scores(rng, 20000, 4, dtype, gap=0)
    loss, grad = kernels.multiclass_hinge(z, y, p=p)
    ref_loss, ref_grad = reference.multiclass_hinge(z, y, p)
    assert_close(loss, ref_loss, dtype, scale=10)
    assert_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("p", P)
def test_matches_torch(dtype, rng, p):
    torch = torch_or_skip()
    z, y = scores(rng, 32, 6, dtype)
    zt = torch.from_numpy(z.copy()).requires_grad_()
    t_loss = torch.nn.MultiMarginLoss(p=p)(zt, torch.from_numpy(y))
    t_loss.backward()
    loss, grad = kernels.multiclass_hinge(z, y, p=p)
    assert_close(loss, t_loss.item(), dtype, scale=10)
    assert_close(grad, zt.grad.numpy(), dtype, scale=10)


@pytest.mark.parametrize("p", P)
def test_row_weights_match_torch_per_row(dtype, rng, p):
    # Row weights give the weighted mean of torch's per-row losses.
    torch = torch_or_skip()
    z, y = scores(rng, 16, 4, dtype)
    w = rng.random(16).astype(dtype)
    zt = torch.from_numpy(z.copy()).requires_grad_()
    rows = torch.nn.functional.multi_margin_loss(zt, torch.from_numpy(y), p=p,
                                                 reduction="none")
    wt = torch.from_numpy(w)
    t_loss = (rows * wt).sum() / wt.sum()
    t_loss.backward()
    loss, grad = kernels.multiclass_hinge(z, y, p=p, sample_weight=w)
    assert_close(loss, t_loss.item(), dtype, scale=10)
    assert_close(grad, zt.grad.numpy(), dtype, scale=10)


@pytest.mark.parametrize("p", P)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_gradient_matches_finite_differences_away_from_kinks(rng, p, weighted):
    # Every margin at least 0.01 from its kink, far beyond the step of 1e-6.
    z, y = scores(rng, 6, 4, np.float64, gap=0.01)
    w = rng.random(6) + 0.1 if weighted else None
    _, grad = kernels.multiclass_hinge(z, y, p, w)
    _, err = gradcheck.gradcheck(lambda v: kernels.multiclass_hinge(v, y, p, w)[0], z, grad)
    assert err < GRAD_RTOL


# Row 0 (label 0): z_1 sits exactly at its kink (d = 1 + 0 - 1 = 0), z_2 is active
# (d = 0.5). Row 1 (label 2): three tied scores, both margins 1. Row 2 (label 1): z_0
# at its kink, z_2 inactive (d = -1).
KINKS = np.array([[1.0, 0.0, 0.5], [0.25, 0.25, 0.25], [-2.0, -1.0, -3.0]])
KINK_LABELS = np.array([0, 2, 1])


@pytest.mark.parametrize("p", P)
def test_kinks_take_torchs_subgradient(dtype, p):
    # At d = 0 the term is inactive: slope 0, as in torch. Loss and gradient by hand,
    # each row divided by n * k = 9.
    z = KINKS.astype(dtype)
    loss, grad = kernels.multiclass_hinge(z, KINK_LABELS, p=p)
    if p == 1:
        want_loss = (0.5 + 1 + 1) / 9
        want_grad = np.array([[-1, 0, 1], [1, 1, -2], [0, 0, 0]]) / 9
    else:
        want_loss = (0.25 + 1 + 1) / 9
        want_grad = np.array([[-1, 0, 1], [2, 2, -4], [0, 0, 0]]) / 9
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype)
    np.testing.assert_array_equal(reference.multiclass_hinge(z, KINK_LABELS, p)[1], grad)
    torch = pytest.importorskip("torch")
    zt = torch.from_numpy(z.copy()).requires_grad_()
    t_loss = torch.nn.MultiMarginLoss(p=p)(zt, torch.from_numpy(KINK_LABELS))
    t_loss.backward()
    assert_close(loss, t_loss.item(), dtype)
    assert_close(grad, zt.grad.numpy(), dtype)


def one_sided_derivatives(f, z, h=1e-6):
    """(left, right) derivatives of f at z along each axis, by one-sided differences."""
    left, right = np.empty_like(z), np.empty_like(z)
    f0 = f(z)
    for i in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[i] = h
        right[i] = (f(z + step) - f0) / h
        left[i] = (f0 - f(z - step)) / h
    return left, right


def test_hinge_gradient_at_kinks_is_a_subgradient():
    # The loss is convex in z, so a subgradient g satisfies, along every axis,
    # left derivative <= g_i <= right derivative. At these kinks the two differ.
    f = lambda v: kernels.multiclass_hinge(v, KINK_LABELS, p=1)[0]  # noqa: E731
    _, grad = kernels.multiclass_hinge(KINKS, KINK_LABELS, p=1)
    left, right = one_sided_derivatives(f, KINKS)
    assert np.sum(right - left > 1e-3) >= 4  # the kinks are really there
    assert np.all(left - 1e-8 <= grad) and np.all(grad <= right + 1e-8)


def test_squared_hinge_is_differentiable_at_its_kinks():
    # max(0, d)^2 has slope 0 from both sides at d = 0: the gradient there is the
    # derivative, and central differences find it (to O(h): the function is once
    # differentiable there, not twice, so the error is h / 18 here, not h^2).
    _, grad = kernels.multiclass_hinge(KINKS, KINK_LABELS, p=2)
    numeric = gradcheck.numerical_gradient(
        lambda v: kernels.multiclass_hinge(v, KINK_LABELS, p=2)[0], KINKS, eps=1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-7)


@pytest.mark.parametrize("p", P)
def test_huge_tied_scores_keep_their_margin(dtype, p):
    # d = 1 + (z_j - z_y) in float64: the tie costs its margin, 1 / k per row, and
    # the score far below costs nothing. (torch forms (1 - z_y) + z_j in the input's
    # dtype, which rounds the margin away at this size.)
    big = {np.float32: 1e38, np.float64: 1e300}[dtype]
    z = np.array([[big, big, -big], [-big, -big, -big]], dtype=dtype)
    loss, grad = kernels.multiclass_hinge(z, [0, 1], p=p)
    assert loss == pytest.approx((1 / 3 + 2 / 3) / 2, rel=1e-6)
    g = 1 / 6 if p == 1 else 2 / 6
    assert_close(grad, [[-g, g, 0], [g, -2 * g, g]], dtype)


def test_huge_violations_are_summed_in_double(dtype):
    # A margin of 2e30 (float32: no float32 sum could hold its square, 4e60).
    z = np.array([[1e30, -1e30, 0.0]], dtype=dtype)
    loss, grad = kernels.multiclass_hinge(z, [1], p=1)
    d = 1 + (np.float64(z[0, 0]) - np.float64(z[0, 1])), 1 + (0 - np.float64(z[0, 1]))
    assert loss == pytest.approx(sum(d) / 3, rel=1e-12)
    assert_close(grad, [[1 / 3, -2 / 3, 1 / 3]], dtype)
    loss2, grad2 = kernels.multiclass_hinge(z, [1], p=2)
    assert loss2 == pytest.approx((d[0] ** 2 + d[1] ** 2) / 3, rel=1e-12)
    np.testing.assert_allclose(grad2, [[2 * d[0] / 3, -2 * (d[0] + d[1]) / 3, 2 * d[1] / 3]],
                               rtol=1e-6)


@pytest.mark.parametrize("p", P)
def test_ties_and_non_finite_scores(dtype, p):
    k = 4
    loss, grad = kernels.multiclass_hinge(np.full((1, k), 7, dtype), [2], p=p)
    assert loss == pytest.approx((k - 1) / k)
    slope = 1 / k if p == 1 else 2 / k
    assert_close(grad, [[slope, slope, -(k - 1) * slope, slope]], dtype)
    # An infinitely confident right answer costs nothing; an infinite wrong score
    # costs +inf; NaN anywhere in a row is NaN, never dropped.
    loss, grad = kernels.multiclass_hinge(np.array([[np.inf, 3, -1]], dtype), [0], p=p)
    assert loss == 0 and np.all(grad == 0)
    assert kernels.multiclass_hinge(np.array([[np.inf, 3, -1]], dtype), [1], p=p)[0] == np.inf
    for row in ([np.nan, 0, 0], [0, np.nan, 0]):
        assert np.isnan(kernels.multiclass_hinge(np.array([row], dtype), [1], p=p)[0])
    # A zero-weighted row adds nothing, even an infinite loss.
    z = np.array([[0, np.inf], [0, 0]], dtype)
    loss, grad = kernels.multiclass_hinge(z, [0, 0], p=p, sample_weight=[0, 1])
    assert loss == pytest.approx(0.5) and np.all(grad[0] == 0)
    # One class: nothing to violate.
    loss, grad = kernels.multiclass_hinge(np.array([[5.0], [-2.0]], dtype), [0, 0], p=p)
    assert loss == 0 and np.all(grad == 0)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(p=3), ValueError, "p must be <= 2; got 3"),
    (dict(p=0), ValueError, "p must be >= 1; got 0"),
    (dict(p=2.0), TypeError, "p must be an integer; got float 2.0"),
    (dict(y=np.eye(3)[[0, 1]]), ValueError, r"y must have shape \(2,\) \(one label per row "
                                            r"of the scores\); got \(2, 3\)"),
    (dict(y=[0, 3]), ValueError, r"y must hold labels in \[0, 3\) for 3 classes; got the "
                                 r"label 3 at index 1"),
    (dict(sample_weight=[1, -1]), ValueError, "sample_weight"),
])
def test_bad_arguments(kwargs, exc, match):
    args = {"z": np.zeros((2, 3)), "y": [0, 1], **kwargs}
    with pytest.raises(exc, match=match):
        kernels.multiclass_hinge(**args)


# --- the model ----------------------------------------------------------------------

def blobs(rng, n=90, k=3):
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])[:k]
    y = rng.integers(0, k, n)
    return centres[y] + rng.standard_normal((n, 2)), y


@pytest.mark.parametrize("loss", LOSSES)
def test_model_predicts_the_largest_score(dtype, rng, loss):
    X, y = blobs(rng)
    model = MLP([2, 8, 3], loss=loss, dtype=dtype, seed=1)
    history = model.fit(X, y, epochs=5, lr=0.1, progress=False, seed=0)
    assert len(history.accuracy) == 5  # a classifier: fit measures accuracy
    scores_ = model.decision_function(X)
    assert scores_.shape == (90, 3) and scores_.dtype == dtype
    z = reference.mlp_forward(model.weights, model.biases, X.astype(dtype), model.activation)[-1]
    assert_close(scores_, z, dtype, scale=10)
    np.testing.assert_array_equal(model.forward(X), scores_)  # raw: no softmax
    np.testing.assert_array_equal(model.predict(X), scores_.argmax(axis=1))
    assert model.score(X, y) == np.mean(scores_.argmax(axis=1) == y) > 0.9
    assert model.loss(X, y) == kernels.multiclass_hinge(scores_, y, p=LOSSES[loss])[0]
    # One-hot rows are labels too.
    assert model.loss(X, np.eye(3)[y]) == model.loss(X, y)
    for method in (model.predict_proba, model.predict_log_proba):
        with pytest.raises(ValueError, match=f"{method.__name__} is not defined for a {loss} "
                                             f"model: its outputs are class scores"):
            method(X)


@pytest.mark.parametrize("loss", LOSSES)
def test_model_step_partial_fit_and_save(tmp_path, rng, loss):
    X, y = blobs(rng)
    X32, y32 = X.astype(np.float32), y.astype(np.intp)
    model = MLP([2, 8, 3], loss=loss, seed=1)
    before = model.loss(X32, y32)
    # The compiled fast path (X and labels in their exact form) and the checked one.
    assert model.step(X32, y32, lr=0.1) == pytest.approx(before, rel=1e-6)
    assert model.step(X, list(y), lr=0.1) < before
    model.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="classes must be the label set"):
        model.partial_fit(X, y, classes=[0, 1])
    model.save(tmp_path / "svm.npz")
    loaded = MLP.load(tmp_path / "svm.npz")
    assert loaded.loss_name == loss
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))


def test_decision_function_is_for_classifiers(rng):
    X, y = blobs(rng)
    ce = MLP([2, 5, 3], seed=0)
    logits = ce.decision_function(X)
    assert_close(kernels.softmax(logits), ce.predict_proba(X), np.float32)
    with pytest.raises(ValueError, match="decision_function needs a classifier; this model "
                                         "uses mse"):
        MLP([2, 3], loss="mse").decision_function(X)


@pytest.mark.parametrize("loss", LOSSES)
def test_torch_module_and_multi_margin_loss_agree(rng, loss):
    torch = torch_or_skip()
    X, y = blobs(rng)
    model = MLP([2, 6, 3], loss=loss, dtype=np.float64, seed=4)
    out = model.to_torch()(torch.from_numpy(X))
    t_loss = torch.nn.MultiMarginLoss(p=LOSSES[loss])(out, torch.from_numpy(y))
    assert model.loss(X, y) == pytest.approx(t_loss.item(), rel=1e-12)


# --- the SVM bonus: a linear SVM fails on the circles, a hidden layer separates them -----

@pytest.mark.parametrize("loss", LOSSES)
def test_linear_svm_fails_on_circles_and_a_hidden_layer_separates_them(dtype, loss):
    X, y = datasets.circles(400, noise=0.1, seed=0)
    X_test, y_test = datasets.circles(400, noise=0.1, seed=1)
    fit = dict(epochs=100, batch_size=10, lr=0.1, seed=0, progress=False)
    svm = MLP([2, 2], loss=loss, dtype=dtype, seed=0)
    svm.fit(X, y, **fit)
    # A line cannot separate two concentric circles: the best one (tangent to the
    # inner circle, cutting off the outer circle's third beyond it) gets 2/3 of the
    # points right, and a hinge-trained one stays near chance.
    assert svm.score(X, y) < 0.7 and svm.score(X_test, y_test) < 0.7
    mlp = MLP([2, 16, 2], activation="tanh", loss=loss, dtype=dtype, seed=0)
    mlp.fit(X, y, **fit)
    assert mlp.score(X, y) > 0.97 and mlp.score(X_test, y_test) > 0.97


@pytest.mark.parametrize("loss", LOSSES)
def test_linear_svm_separates_separable_data(loss):
    # The same linear model, trained the same way, is no weak learner: two blobs
    # a line can split are split, every training point outside the margin.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    X = np.where(y[:, None] == 1, 3.0, -3.0) + rng.standard_normal((200, 2))
    svm = MLP([2, 2], loss=loss, dtype=np.float64, seed=0)
    svm.fit(X, y, epochs=50, batch_size=10, lr=0.1, seed=0, progress=False)
    assert svm.score(X, y) == 1.0
    scores_ = svm.decision_function(X)
    f = scores_[:, 1] - scores_[:, 0]  # the binary SVM's decision function
    assert np.mean(np.where(y == 1, f, -f) >= 1) > 0.9
