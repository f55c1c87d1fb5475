"""Label smoothing, sigmoid binary cross-entropy and log-sigmoid: against the reference,
finite differences, torch and scikit-learn."""
import numpy as np
import pytest

from fastmlp import gradcheck, kernels, reference
from helpers import GRAD_RTOL, assert_close, torch_or_skip

EPS = [0.0, 0.1, 0.5, 1.0]


def problem(rng, n, k, dtype):
    z = (rng.standard_normal((n, k)) * 3).astype(dtype)
    labels = rng.integers(0, k, n)
    soft = rng.random((n, k))
    soft = (soft / soft.sum(axis=1, keepdims=True)).astype(dtype)
    return z, labels, soft


def multilabel(rng, n, k, dtype):
    z = (rng.standard_normal((n, k)) * 3).astype(dtype)
    return z, (rng.random((n, k)) < 0.4).astype(dtype)


# --- label smoothing ------------------------------------------------------------------

@pytest.mark.parametrize("eps", EPS)
@pytest.mark.parametrize("kind", ["labels", "soft"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_label_smoothing_matches_reference(dtype, rng, eps, kind, weighted):
    z, labels, soft = problem(rng, 12, 5, dtype)
    y = labels if kind == "labels" else soft
    w = rng.random(12).astype(dtype) if weighted else None
    loss, grad = kernels.softmax_cross_entropy(z, y, sample_weight=w, label_smoothing=eps)
    ref_loss, ref_grad = reference.softmax_cross_entropy(z, y, w, label_smoothing=eps)
    assert grad.dtype == dtype
    assert_close(loss, ref_loss, dtype, scale=10)
    assert_close(grad, ref_grad, dtype)
    # The gradient's rows sum to 0 (the smoothed target sums to 1).
    assert_close(grad.sum(axis=1), np.zeros(12), dtype, scale=10)


@pytest.mark.parametrize("eps", EPS)
@pytest.mark.parametrize("kind", ["labels", "soft"])
def test_label_smoothing_matches_torch(dtype, rng, eps, kind):
    torch = torch_or_skip()
    z, labels, soft = problem(rng, 16, 10, dtype)
    y = labels if kind == "labels" else soft
    zt = torch.from_numpy(z.copy()).requires_grad_()
    t_loss = torch.nn.functional.cross_entropy(zt, torch.from_numpy(y), label_smoothing=eps)
    t_loss.backward()
    loss, grad = kernels.softmax_cross_entropy(z, y, label_smoothing=eps)
    assert_close(loss, t_loss.item(), dtype, scale=10)
    assert_close(grad, zt.grad.numpy(), dtype, scale=10)


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_label_smoothing_row_weights_match_torch_per_row(dtype, rng, eps):
    # Row weights: each row's whole smoothed loss, weighted. torch gives those rows
    # unweighted (reduction="none"); the weighted mean is then ours.
    torch = torch_or_skip()
    z, labels, _ = problem(rng, 16, 6, dtype)
    w = rng.random(16).astype(dtype)
    zt = torch.from_numpy(z.copy()).requires_grad_()
    rows = torch.nn.functional.cross_entropy(zt, torch.from_numpy(labels), reduction="none",
                                             label_smoothing=eps)
    wt = torch.from_numpy(w)
    t_loss = (rows * wt).sum() / wt.sum()
    t_loss.backward()
    loss, grad = kernels.softmax_cross_entropy(z, labels, sample_weight=w, label_smoothing=eps)
    assert_close(loss, t_loss.item(), dtype, scale=10)
    assert_close(grad, zt.grad.numpy(), dtype, scale=10)


def test_torch_class_weights_differ_from_row_weights_once_smoothed(rng):
    # The docstring's statement: torch's weight= is per class and weighs each
    # smoothing term by its own class; without smoothing it equals row weights
    # w[y_i], with smoothing it does not.
    torch = torch_or_skip()
    z, labels, _ = problem(rng, 20, 4, np.float64)
    class_w = np.array([1.0, 2.0, 0.5, 3.0])
    zt, yt, wt = torch.from_numpy(z), torch.from_numpy(labels), torch.from_numpy(class_w)
    for eps, agree in ((0.0, True), (0.2, False)):
        t_loss = torch.nn.functional.cross_entropy(zt, yt, weight=wt, label_smoothing=eps).item()
        loss, _ = kernels.softmax_cross_entropy(z, labels, sample_weight=class_w[labels],
                                                label_smoothing=eps)
        assert np.isclose(loss, t_loss, rtol=1e-12) == agree


@pytest.mark.parametrize("kind", ["labels", "soft", "weighted"])
def test_label_smoothing_gradient_matches_finite_differences(rng, kind):
    z, labels, soft = problem(rng, 5, 4, np.float64)
    y = soft if kind == "soft" else labels
    w = rng.random(5) + 0.1 if kind == "weighted" else None
    _, grad = kernels.softmax_cross_entropy(z, y, w, label_smoothing=0.2)
    _, err = gradcheck.gradcheck(
        lambda v: kernels.softmax_cross_entropy(v, y, w, label_smoothing=0.2)[0], z, grad)
    assert err < GRAD_RTOL


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_label_smoothing_huge_logits(dtype, scale):
    z = np.array([[1.0, 0.0, -1.0], [1.0, 1.0, 1.0]], dtype=dtype) * scale
    labels = np.array([0, 2])
    loss, grad = kernels.softmax_cross_entropy(z, labels, label_smoothing=0.3)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    # Row 0: lse - z_j is (0, 1, 2) * |scale| (scale > 0) or (2, 1, 0) * |scale|;
    # row 1: log 3 for every class.
    gaps = np.array([0.0, 1.0, 2.0]) * abs(scale)
    if scale < 0:
        gaps = gaps[::-1]
    row0 = 0.7 * gaps[0] + 0.1 * gaps.sum()
    assert_close(loss, (row0 + np.log(3)) / 2, dtype)
    p0 = np.array([1.0, 0, 0]) if scale > 0 else np.array([0, 0, 1.0])
    assert_close(grad[0], (p0 - (0.7 * np.array([1.0, 0, 0]) + 0.1)) / 2, dtype)


def test_label_smoothing_float32_large_logits_lose_nothing():
    # The smoothing term, lse - mean(z), is formed from (max - mean) in double.
    z = np.float32([[1e4, 1e4 - 1, 1e4 - 3], [-3e4, -3e4 + 2, -3e4 + 0.5]])
    loss, _ = kernels.softmax_cross_entropy(z, [0, 1], label_smoothing=0.25)
    expected = reference.softmax_cross_entropy(z.astype(np.float64), [0, 1],
                                               label_smoothing=0.25)[0]
    assert loss == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_minus_inf_logit_is_infinite_only_when_smoothed(dtype):
    z = np.array([[0.0, -np.inf, 0.0]], dtype=dtype)
    assert kernels.softmax_cross_entropy(z, [0])[0] == pytest.approx(np.log(2))
    # Smoothing puts eps / k of the target on the impossible class: +inf, honestly.
    loss, grad = kernels.softmax_cross_entropy(z, [0], label_smoothing=0.1)
    assert loss == np.inf
    assert np.all(np.isfinite(grad))


def test_label_smoothing_one_is_the_uniform_target(dtype, rng):
    z, labels, _ = problem(rng, 6, 5, dtype)
    uniform = np.full((6, 5), 0.2, dtype)
    for y in (labels, np.roll(labels, 1)):  # the labels no longer matter
        loss, grad = kernels.softmax_cross_entropy(z, y, label_smoothing=1.0)
        ref_loss, ref_grad = kernels.softmax_cross_entropy(z, uniform)
        assert_close(loss, ref_loss, dtype)
        assert_close(grad, ref_grad, dtype)


def test_label_smoothing_zero_is_the_plain_loss_bit_for_bit(dtype, rng):
    z, labels, soft = problem(rng, 30, 7, dtype)
    for y in (labels, soft):
        plain = kernels.softmax_cross_entropy(z, y)
        loss, grad = kernels.softmax_cross_entropy(z, y, label_smoothing=0.0)
        assert loss == plain[0]
        np.testing.assert_array_equal(grad, plain[1])


@pytest.mark.parametrize("value, exc, match", [
    (-0.1, ValueError, r"label_smoothing must be >= 0.0; got -0.1"),
    (1.5, ValueError, r"label_smoothing must be <= 1.0; got 1.5"),
    (np.nan, ValueError, r"label_smoothing must be finite; got nan"),
    ("0.1", TypeError, r"label_smoothing must be a real number; got str '0.1'"),
    (True, TypeError, r"label_smoothing must be a real number; got bool True"),
])
def test_label_smoothing_errors(value, exc, match):
    with pytest.raises(exc, match=match):
        kernels.softmax_cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=value)


# --- sigmoid binary cross-entropy -----------------------------------------------------

@pytest.mark.parametrize("n, k", [(1, 1), (7, 1), (16, 5), (300, 3)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_bce_matches_reference(dtype, rng, n, k, weighted):
    z, y = multilabel(rng, n, k, dtype)
    w = rng.random(n).astype(dtype) if weighted else None
    loss, grad = kernels.sigmoid_binary_cross_entropy(z, y, sample_weight=w)
    ref_loss, ref_grad = reference.sigmoid_binary_cross_entropy(z, y, w)
    assert isinstance(loss, float) and grad.dtype == dtype and grad.shape == (n, k)
    assert_close(loss, ref_loss, dtype, scale=10)
    assert_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_bce_matches_torch(dtype, rng, weighted):
    torch = torch_or_skip()
    n, k = 16, 4
    z, y = multilabel(rng, n, k, dtype)
    w = rng.random(n).astype(dtype) if weighted else np.ones(n, dtype)
    zt = torch.from_numpy(z.copy()).requires_grad_()
    per_label = torch.nn.functional.binary_cross_entropy_with_logits(
        zt, torch.from_numpy(y), reduction="none")
    wt = torch.from_numpy(w)
    # Summed over labels, weighted mean over rows; unweighted, that is
    # BCEWithLogitsLoss(reduction="sum") / n.
    t_loss = (per_label.sum(dim=1) * wt).sum() / wt.sum()
    t_loss.backward()
    loss, grad = kernels.sigmoid_binary_cross_entropy(z, y, w if weighted else None)
    assert_close(loss, t_loss.item(), dtype, scale=10)
    assert_close(grad, zt.grad.numpy(), dtype, scale=10)
    if not weighted:
        t_sum = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(z), torch.from_numpy(y), reduction="sum").item()
        assert_close(loss, t_sum / n, dtype, scale=10)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_bce_matches_scikit_learn_binary_log_loss(dtype, rng, weighted):
    sk_base = pytest.importorskip("sklearn.neural_network._base")
    z, y = multilabel(rng, 20, 3, dtype)
    w = rng.random(20).astype(dtype) if weighted else None
    expected = sk_base.binary_log_loss(y, reference.sigmoid(z.astype(np.float64)),
                                       sample_weight=w)
    loss, _ = kernels.sigmoid_binary_cross_entropy(z, y, w)
    assert_close(loss, expected, dtype, scale=10)


@pytest.mark.parametrize("kind", ["multilabel", "one label, 1-D", "soft", "weighted"])
def test_bce_gradient_matches_finite_differences(rng, kind):
    z, y = multilabel(rng, 6, 3, np.float64)
    z /= 3  # logits of order 1: no gradient entry so small that rounding swamps it
    w = None
    if kind == "one label, 1-D":
        z, y = z[:, 0].copy(), y[:, 0].copy()
    elif kind == "soft":
        y = rng.random(y.shape)
    elif kind == "weighted":
        w = rng.random(6) + 0.1
    _, grad = kernels.sigmoid_binary_cross_entropy(z, y, w)
    assert grad.shape == z.shape
    _, err = gradcheck.gradcheck(lambda v: kernels.sigmoid_binary_cross_entropy(v, y, w)[0],
                                 z, grad)
    assert err < GRAD_RTOL


def test_bce_one_dimensional_is_one_label_per_row(dtype, rng):
    z, y = multilabel(rng, 9, 1, dtype)
    loss_2d, grad_2d = kernels.sigmoid_binary_cross_entropy(z, y)
    loss_1d, grad_1d = kernels.sigmoid_binary_cross_entropy(z[:, 0], y[:, 0])
    assert loss_1d == loss_2d
    np.testing.assert_array_equal(grad_1d, grad_2d[:, 0])


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_bce_huge_logits(dtype, scale):
    z = np.array([[1.0, -1.0], [1.0, 1.0]], dtype=dtype) * scale
    y = np.array([[1, 0], [0, 1]], dtype=dtype)
    loss, grad = kernels.sigmoid_binary_cross_entropy(z, y)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    # Row 0 is right with certainty (scale > 0) or wrong by 1e4 twice; row 1 has one
    # label wrong by 1e4 either way.
    row0 = 0.0 if scale > 0 else 2e4
    assert loss == pytest.approx((row0 + 1e4) / 2, rel=1e-12)
    s = 1.0 if scale > 0 else 0.0
    np.testing.assert_array_equal(grad, np.array([[s - 1, (1 - s) - 0], [s, s - 1]]) / 2)


def test_bce_confident_and_right_keeps_its_tiny_loss(dtype):
    # log(1 + exp(-50)) = 1.9e-22: a z - z form would round it to 0, and the
    # gradient sigmoid(50) - 1 likewise.
    z = np.array([[50.0, -50.0]], dtype=dtype)
    loss, grad = kernels.sigmoid_binary_cross_entropy(z, [[1, 0]])
    tiny = np.exp(-50.0)
    assert loss == pytest.approx(2 * tiny, rel=1e-6)
    np.testing.assert_allclose(grad, [[-tiny, tiny]], rtol=1e-6)


def test_bce_infinite_logits(dtype):
    z = np.array([[np.inf, -np.inf]], dtype=dtype)
    loss, grad = kernels.sigmoid_binary_cross_entropy(z, [[1, 0]])
    assert loss == 0 and np.all(grad == 0)
    loss, grad = kernels.sigmoid_binary_cross_entropy(z, [[0, 1]])
    assert loss == np.inf
    np.testing.assert_array_equal(grad, [[1, -1]])


def test_bce_float32_loss_beyond_the_float32_range_is_finite():
    loss, grad = kernels.sigmoid_binary_cross_entropy(np.float32([[3e38, 3e38]]), [[0, 0]])
    assert loss == pytest.approx(6e38, rel=1e-6)
    np.testing.assert_array_equal(grad, [[1, 1]])


@pytest.mark.parametrize("z, y, w, exc, match", [
    (np.zeros((2, 3)), np.zeros((3, 2)), None, ValueError,
     r"y must have shape \(2, 3\) \(one target per logit\); got \(3, 2\)"),
    (np.zeros((2, 3)), np.zeros(6), None, ValueError, r"y must be a 2-D array"),
    (np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), None, ValueError, r"z must be a 1-D or 2-D"),
    (np.zeros((2, 2)), [[0, 2], [1, 0]], None, ValueError,
     r"y must hold probabilities in \[0, 1\]; got 2"),
    (np.zeros((2, 2)), [[0, -0.5], [1, 0]], None, ValueError,
     r"y must hold probabilities in \[0, 1\]; got -0.5"),
    (np.zeros((2, 2)), [[0, np.nan], [1, 0]], None, ValueError, r"y contains NaN"),
    (np.zeros((2, 2)), np.zeros((2, 2), np.float32), None, TypeError,
     r"y must have dtype float64"),
    (np.zeros((2, 2)), np.zeros((2, 2)), [1.0, -1.0], ValueError,
     r"sample_weight must be non-negative"),
    (np.zeros((2, 2)), np.zeros((2, 2)), [1.0], ValueError,
     r"sample_weight must have shape \(2,\)"),
])
def test_bce_errors(z, y, w, exc, match):
    with pytest.raises(exc, match=match):
        kernels.sigmoid_binary_cross_entropy(z, y, sample_weight=w)


# --- log-sigmoid ----------------------------------------------------------------------

def test_log_sigmoid_matches_reference(dtype, rng):
    x = (rng.standard_normal((40, 3)) * 20).astype(dtype)
    out = kernels.log_sigmoid(x)
    assert out.dtype == dtype and out.shape == x.shape
    assert_close(out, reference.log_sigmoid(x), dtype)
    # in place
    assert kernels.log_sigmoid(x, out=x) is x
    assert_close(x, out, dtype)


def test_log_sigmoid_never_takes_the_log_of_a_rounded_probability(dtype):
    x = np.array([-1e4, -200.0, -20.0, 0.0, 20.0, 1e4], dtype=dtype)
    out = kernels.log_sigmoid(x)
    assert np.all(np.isfinite(out))
    expected = np.array([-1e4, -200.0, -20.0 - np.exp(-20.0), -np.log(2), -np.exp(-20.0),
                         0.0])
    assert_close(out, expected, dtype)


def test_log_sigmoid_matches_torch(dtype, rng):
    torch = torch_or_skip()
    x = (rng.standard_normal(50) * 30).astype(dtype)
    assert_close(kernels.log_sigmoid(x),
                 torch.nn.functional.logsigmoid(torch.from_numpy(x)).numpy(), dtype)
