"""softmax_cross_entropy and mse against the reference, finite differences and torch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastmlp import gradcheck, kernels, reference
from helpers import GRAD_RTOL, assert_close, torch_or_skip


def labels_and_targets(rng, n, k, dtype):
    labels = rng.integers(0, k, n)
    onehot = np.eye(k, dtype=dtype)[labels]
    soft = rng.random((n, k)).astype(np.float64)
    soft = (soft / soft.sum(axis=1, keepdims=True)).astype(dtype)
    return labels, onehot, soft


# --- softmax_cross_entropy: agreement --------------------------------------

@pytest.mark.parametrize("n, k", [(1, 1), (1, 5), (7, 1), (32, 10), (5, 1000), (500, 3)])
def test_xent_matches_reference(dtype, rng, n, k):
    z = (rng.standard_normal((n, k)) * 3).astype(dtype)
    labels, onehot, soft = labels_and_targets(rng, n, k, dtype)
    for y in (labels, onehot, soft):
        loss, grad = kernels.softmax_cross_entropy(z, y)
        ref_loss, ref_grad = reference.softmax_cross_entropy(z, y)
        assert isinstance(loss, float)
        assert grad.dtype == dtype and grad.shape == (n, k)
        assert_close(loss, ref_loss, dtype, scale=10)
        assert_close(grad, ref_grad, dtype)


def test_xent_labels_equal_onehot(dtype, rng):
    z = rng.standard_normal((20, 6)).astype(dtype)
    labels, onehot, _ = labels_and_targets(rng, 20, 6, dtype)
    loss_l, grad_l = kernels.softmax_cross_entropy(z, labels)
    loss_o, grad_o = kernels.softmax_cross_entropy(z, onehot)
    assert_close(loss_l, loss_o, dtype)
    assert_close(grad_l, grad_o, dtype)


def test_xent_whole_number_float_labels(rng):
    z = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    expected = kernels.softmax_cross_entropy(z, labels)
    loss, grad = kernels.softmax_cross_entropy(z, labels.astype(np.float64))
    assert loss == expected[0]
    np.testing.assert_array_equal(grad, expected[1])


@pytest.mark.parametrize("kind", ["labels", "targets"])
def test_xent_sample_weight(dtype, rng, kind):
    n, k = 12, 4
    z = rng.standard_normal((n, k)).astype(dtype)
    labels, onehot, _ = labels_and_targets(rng, n, k, dtype)
    y = labels if kind == "labels" else onehot
    w = rng.random(n).astype(dtype)
    w[3] = 0
    loss, grad = kernels.softmax_cross_entropy(z, y, sample_weight=w)
    ref_loss, ref_grad = reference.softmax_cross_entropy(z, y, sample_weight=w)
    assert_close(loss, ref_loss, dtype, scale=10)
    assert_close(grad, ref_grad, dtype)
    assert np.all(grad[3] == 0)
    # Integer weights of 2 on one row = that row counted twice.
    w2 = np.ones(n, dtype=dtype)
    w2[0] = 2
    loss2, _ = kernels.softmax_cross_entropy(z, y, sample_weight=w2)
    dup_y = np.concatenate([y[:1], y])
    loss_dup, _ = kernels.softmax_cross_entropy(np.concatenate([z[:1], z]), dup_y)
    assert_close(loss2, loss_dup, dtype, scale=10)


@pytest.mark.parametrize("kind", ["labels", "targets"])
@pytest.mark.parametrize("size", ["huge", "tiny"])
def test_xent_extreme_weights_keep_their_ratios(dtype, rng, kind, size):
    # The weights' sum overflows (1e308 + 1e308) or their ratios underflow
    # (subnormals): only the ratios matter, so equal weights give the plain mean.
    n, k = 6, 4
    z = rng.standard_normal((n, k)).astype(dtype)
    labels, onehot, _ = labels_and_targets(rng, n, k, dtype)
    y = labels if kind == "labels" else onehot
    info = np.finfo(dtype)
    extreme = {"huge": 3e38 if dtype == np.float32 else 1e308,
               "tiny": info.smallest_subnormal.item()}[size]
    plain_loss, plain_grad = kernels.softmax_cross_entropy(z, y)
    for make in (kernels.softmax_cross_entropy, reference.softmax_cross_entropy):
        loss, grad = make(z, y, sample_weight=np.full(n, extreme, dtype))
        assert_close(loss, plain_loss, dtype)
        assert_close(grad, plain_grad, dtype)
    # Unequal weights: the same as small weights in the same ratios (powers of two
    # keep the ratios exact, down to the subnormals).
    ratios = 2.0 ** -np.arange(n)
    w = (np.full(n, extreme) * ratios if size == "huge" else np.full(n, extreme) / ratios)
    loss, grad = kernels.softmax_cross_entropy(z, y, sample_weight=w.astype(dtype))
    small = w / w.max()
    ref_loss, ref_grad = reference.softmax_cross_entropy(z.astype(np.float64), y, small)
    assert_close(loss, ref_loss, dtype)
    assert_close(grad, ref_grad, dtype)


def test_xent_zero_weight_row_with_infinite_loss_is_ignored():
    z = np.array([[-np.inf, 0.0], [1.0, 2.0]])
    loss, grad = kernels.softmax_cross_entropy(z, np.array([0, 1]), sample_weight=[0.0, 1.0])
    assert np.isfinite(loss)
    assert np.all(np.isfinite(grad))


# --- softmax_cross_entropy: gradients ---------------------------------------

@pytest.mark.parametrize("kind", ["labels", "onehot", "soft", "weighted"])
def test_xent_gradient_matches_finite_differences(rng, kind):
    n, k = 5, 4
    z = rng.standard_normal((n, k)) * 2
    labels, onehot, soft = labels_and_targets(rng, n, k, np.float64)
    y = {"labels": labels, "onehot": onehot, "soft": soft, "weighted": labels}[kind]
    w = rng.random(n) + 0.1 if kind == "weighted" else None
    _, grad = kernels.softmax_cross_entropy(z, y, sample_weight=w)
    _, err = gradcheck.gradcheck(lambda v: kernels.softmax_cross_entropy(v, y, w)[0], z, grad)
    assert err < GRAD_RTOL


def test_xent_gradient_rows_sum_to_zero(dtype, rng):
    z = rng.standard_normal((30, 7)).astype(dtype)
    _, _, soft = labels_and_targets(rng, 30, 7, dtype)
    _, grad = kernels.softmax_cross_entropy(z, soft)
    assert_close(grad.sum(axis=1), np.zeros(30), dtype)


# --- softmax_cross_entropy: extreme inputs ----------------------------------

@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_xent_huge_logits(dtype, scale):
    z = np.array([[1.0, 0.0, -1.0], [1.0, 1.0, 1.0]], dtype=dtype) * scale
    labels = np.array([0, 2])
    loss, grad = kernels.softmax_cross_entropy(z, labels)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    # Row 0: right with certainty when scale > 0 (loss 0), else off by 2e4 logits.
    # Row 1: all equal, log(3).
    row0 = 0.0 if scale > 0 else 2 * abs(scale)
    assert_close(loss, (row0 + np.log(3)) / 2, dtype)


def test_xent_confident_and_right_is_zero_and_wrong_is_large(dtype):
    z = np.array([[50.0, -50.0]], dtype=dtype)
    loss_right, grad_right = kernels.softmax_cross_entropy(z, [0])
    loss_wrong, _ = kernels.softmax_cross_entropy(z, [1])
    assert loss_right == pytest.approx(0, abs=1e-30)
    assert np.all(np.abs(grad_right) < 1e-30)
    assert loss_wrong == pytest.approx(100, rel=1e-6)


def test_xent_minus_inf_logits(dtype):
    z = np.array([[0.0, -np.inf, 0.0]], dtype=dtype)
    loss, grad = kernels.softmax_cross_entropy(z, [0])
    assert_close(loss, np.log(2), dtype)
    np.testing.assert_allclose(grad, [[-0.5, 0.0, 0.5]])
    # Zero target on the -inf logit: the term is skipped, never 0 * log(0).
    loss_t, _ = kernels.softmax_cross_entropy(z, np.array([[0.5, 0.0, 0.5]], dtype=dtype))
    assert_close(loss_t, np.log(2), dtype)
    # The true class is impossible: the honest loss is +inf, with no warning.
    loss_inf, _ = kernels.softmax_cross_entropy(z, [1])
    assert loss_inf == np.inf


@pytest.mark.parametrize("kind", ["labels", "targets"])
def test_xent_float32_mean_over_millions_of_rows(kind):
    # Each row costs ln 2; a float32 running total drifted to 0.7065.
    n = 4_000_000
    z = np.zeros((n, 2), np.float32)
    y = np.zeros(n, np.intp) if kind == "labels" else np.tile(np.float32([1, 0]), (n, 1))
    loss, grad = kernels.softmax_cross_entropy(z, y)
    assert loss == pytest.approx(np.log(2), rel=1e-6)
    np.testing.assert_array_equal(grad[:2], np.float32([[-0.5 / n, 0.5 / n]] * 2))


def test_xent_float32_large_logits_lose_nothing_to_the_row_maximum():
    # Were log-sum-exp = 1e4 + 0.31 rounded to float32 before z_label is taken off,
    # the loss would be 7e-4 off; it is (max - z_label) + log(sum), in double.
    z = np.float32([[1e4, 1e4 - 1], [-3e4, -3e4 + 2]])
    loss, _ = kernels.softmax_cross_entropy(z, [0, 0])
    expected = reference.softmax_cross_entropy(z.astype(np.float64), [0, 0])[0]
    assert loss == pytest.approx(expected, rel=1e-6)


def test_xent_float32_loss_beyond_the_float32_range_is_finite():
    # The loss is a Python float, computed in double: 3e38 - (-3e38) is not inf.
    loss, grad = kernels.softmax_cross_entropy(np.float32([[3e38, -3e38]]), [1])
    assert loss == pytest.approx(6e38, rel=1e-6)
    np.testing.assert_array_equal(grad, [[1, -1]])


def test_xent_single_class_is_free(dtype, rng):
    z = rng.standard_normal((6, 1)).astype(dtype)
    loss, grad = kernels.softmax_cross_entropy(z, np.zeros(6, dtype=int))
    assert loss == 0
    np.testing.assert_array_equal(grad, 0)


def test_xent_1000_classes(dtype, rng):
    z = (rng.standard_normal((8, 1000)) * 20).astype(dtype)
    y = rng.integers(0, 1000, 8)
    loss, grad = kernels.softmax_cross_entropy(z, y)
    ref_loss, ref_grad = reference.softmax_cross_entropy(z.astype(np.float64), y)
    assert_close(loss, ref_loss, dtype, scale=10)
    assert_close(grad, ref_grad, dtype)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.sampled_from([np.float32, np.float64]),
       st.floats(0.01, 1e3), st.integers(0, 2**32 - 1))
def test_xent_property(n, k, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((n, k)) * scale).astype(dtype)
    labels = rng.integers(0, k, n)
    loss, grad = kernels.softmax_cross_entropy(z, labels)
    assert np.isfinite(loss) and loss >= 0
    assert np.all(np.isfinite(grad))
    # Each row of grad is (p - onehot) / n: entries in [-1/n, 1/n], row sums 0.
    assert np.all(np.abs(grad) <= 1 / n + 1e-6)
    assert_close(grad.sum(axis=1), np.zeros(n), dtype, scale=10)
    ref_loss, ref_grad = reference.softmax_cross_entropy(z, labels)
    assert_close(loss, ref_loss, dtype, scale=100)
    assert_close(grad, ref_grad, dtype, scale=10)


# --- softmax_cross_entropy: errors ------------------------------------------

Z = np.zeros((3, 4))


@pytest.mark.parametrize("z, y, w, exc, match", [
    (np.zeros(4), [0], None, ValueError, r"z must be a 2-D array.*got 1-D"),
    (np.zeros((0, 4)), [], None, ValueError, r"z must not be empty"),
    (Z, [0, 1], None, ValueError, r"y must have shape \(3,\).*got \(2,\)"),
    (Z, [0, 1, 4], None, ValueError, r"y must hold labels in \[0, 4\).*4"),
    (Z, [0, -1, 2], None, ValueError,
     r"y must hold labels in \[0, 4\).*got the label -1 at index 1"),
    (Z, [0, 1.5, 2], None, ValueError, r"y must hold integer class labels.*1\.5"),
    (Z, [0, np.nan, 2], None, ValueError, r"y contains NaN"),
    (Z, ["a", "b", "c"], None, TypeError, r"y must hold integer class labels.*<U1"),
    (Z, np.zeros((3, 4, 1)), None, ValueError, r"y must be labels of shape \(3,\) or target rows "
                                               r"of shape \(3, 4\); got 3-D"),
    (Z, np.full((3, 5), 0.2), None, ValueError, r"y must have shape \(3, 4\).*got \(3, 5\)"),
    (Z, np.full((3, 4), 0.3), None, ValueError, r"each row of y must sum to 1.*row 0"),
    (Z, np.array([[1.5, -0.5, 0, 0]] * 3), None, ValueError, r"y must hold probabilities.*-0\.5"),
    (Z, np.array([[np.nan, 1, 0, 0]] * 3), None, ValueError, r"y contains NaN"),
    (Z, np.eye(4, dtype=np.float32)[:3], None, TypeError, r"y must have dtype float64.*float32"),
    (Z, [0, 1, 2], [1.0, 2.0], ValueError, r"sample_weight must have shape \(3,\).*got \(2,\)"),
    (Z, [0, 1, 2], [1.0, -2.0, 1.0], ValueError, r"sample_weight must be non-negative"),
    (Z, [0, 1, 2], [0.0, 0.0, 0.0], ValueError, r"sample_weight must have a positive sum"),
    (Z, [0, 1, 2], [1.0, np.inf, 1.0], ValueError, r"sample_weight contains NaN or infinite"),
    (Z, [0, 1, 2], np.ones(3, np.float32), TypeError, r"sample_weight must have dtype float64"),
    (Z.astype(complex), [0, 1, 2], None, TypeError, r"z must be an array of float32 or float64"),
])
def test_xent_errors(z, y, w, exc, match):
    with pytest.raises(exc, match=match):
        kernels.softmax_cross_entropy(z, y, sample_weight=w)


def test_xent_matches_torch(dtype, rng):
    torch = torch_or_skip()
    z = (rng.standard_normal((16, 10)) * 4).astype(dtype)
    labels = rng.integers(0, 10, 16)
    w = rng.random(16).astype(dtype)
    zt = torch.from_numpy(z.copy()).requires_grad_()
    # torch's weight= is per class; per-sample weights are a weighted mean of the
    # unreduced losses.
    per_sample = torch.nn.functional.cross_entropy(zt, torch.from_numpy(labels), reduction="none")
    wt = torch.from_numpy(w)
    (per_sample * wt).sum().div(wt.sum()).backward()
    loss, grad = kernels.softmax_cross_entropy(z, labels, sample_weight=w)
    assert_close(loss, (per_sample * wt).sum().div(wt.sum()).item(), dtype, scale=10)
    assert_close(grad, zt.grad.numpy(), dtype, scale=10)
    # Probability targets.
    soft = rng.random((16, 10)).astype(dtype)
    soft /= soft.sum(axis=1, keepdims=True)
    zt.grad = None
    t_loss = torch.nn.functional.cross_entropy(zt, torch.from_numpy(soft))
    t_loss.backward()
    loss, grad = kernels.softmax_cross_entropy(z, soft)
    assert_close(loss, t_loss.item(), dtype, scale=10)
    assert_close(grad, zt.grad.numpy(), dtype, scale=10)


# --- mse ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (7,), (32, 3), (100, 1), (3, 500)])
def test_mse_matches_reference(dtype, rng, shape):
    yhat = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    loss, grad = kernels.mse(yhat, y)
    ref_loss, ref_grad = reference.mse(yhat, y)
    assert grad.dtype == dtype and grad.shape == shape
    assert_close(loss, ref_loss, dtype, scale=10)
    assert_close(grad, ref_grad, dtype)


def test_mse_convention():
    yhat = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[0.0, 0.0], [3.0, 2.0]])
    loss, grad = kernels.mse(yhat, y)
    assert loss == (1 + 4 + 0 + 4) / 2  # summed over outputs, averaged over rows
    np.testing.assert_array_equal(grad, [[1.0, 2.0], [0.0, 2.0]])


def test_mse_gradient_matches_finite_differences(rng):
    yhat = rng.standard_normal((6, 3))
    y = rng.standard_normal((6, 3))
    _, grad = kernels.mse(yhat, y)
    _, err = gradcheck.gradcheck(lambda v: kernels.mse(v, y)[0], yhat, grad)
    assert err < GRAD_RTOL


def test_mse_integer_targets_are_converted(dtype):
    yhat = np.array([[0.5], [2.0]], dtype=dtype)
    loss, grad = kernels.mse(yhat, [[1], [2]])
    assert loss == pytest.approx(0.125)
    assert grad.dtype == dtype


def test_mse_large_values(dtype):
    yhat = np.full((4, 2), 1e15, dtype=dtype)
    loss, grad = kernels.mse(yhat, np.zeros((4, 2), dtype))
    assert_close(loss, 2e30, dtype)
    assert_close(grad, np.full((4, 2), 5e14), dtype)


def test_mse_sum_over_millions_of_entries(dtype):
    # 2e7 squared errors of 1: a float32 running total stopped growing at 2**24 (0.839).
    n = 20_000_000
    loss, grad = kernels.mse(np.zeros(n, dtype), np.ones(n, dtype))
    assert loss == pytest.approx(1.0, rel=1e-9)
    assert grad[0] == np.asarray(-2 / n, dtype)


def test_mse_float32_loss_beyond_the_float32_range_is_finite():
    loss, grad = kernels.mse(np.float32([[2e19, 0.0]]), np.zeros((1, 2), np.float32))
    assert loss == pytest.approx(4e38, rel=1e-6)
    np.testing.assert_array_equal(grad, np.float32([[4e19, 0.0]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_mse_targets_must_be_finite_but_predictions_need_not(dtype, bad):
    y = np.array([[0.0, 1.0], [bad, 2.0]], dtype)
    with pytest.raises(ValueError, match=r"y contains NaN or infinite values \(first at index "
                                         r"\(1, 0\)\); they must be finite"):
        kernels.mse(np.zeros((2, 2), dtype), y)
    # Predictions follow IEEE arithmetic: NaN or inf in, NaN or inf out.
    loss, grad = kernels.mse(y, np.zeros((2, 2), dtype))
    assert np.isnan(loss) if np.isnan(bad) else loss == np.inf
    assert np.isnan(grad[1, 0]) if np.isnan(bad) else grad[1, 0] == bad
    np.testing.assert_array_equal(grad[0], [0, 1])


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=30),
                  elements=st.floats(-1e6, 1e6)),
       st.sampled_from([np.float32, np.float64]))
def test_mse_property(yhat, dtype):
    yhat = yhat.astype(dtype)
    y = np.flip(yhat, axis=1).copy()
    loss, grad = kernels.mse(yhat, y)
    assert loss >= 0 and np.isfinite(loss)
    ref_loss, ref_grad = reference.mse(yhat, y)
    assert_close(loss, ref_loss, dtype, scale=100)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-30)
    assert kernels.mse(yhat, yhat) == (0.0, pytest.approx(np.zeros_like(yhat)))


@pytest.mark.parametrize("yhat, y, exc, match", [
    (np.zeros((2, 3)), np.zeros((3, 2)), ValueError, r"y must have shape \(2, 3\).*got \(3, 2\)"),
    (np.zeros((2, 3)), np.zeros(6), ValueError, r"y must be a 2-D array.*got 1-D"),
    (np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), ValueError, r"yhat must be a 1-D or 2-D array"),
    (np.zeros((0, 3)), np.zeros((0, 3)), ValueError, r"yhat must not be empty"),
    (np.zeros((2, 3)), np.zeros((2, 3), np.float32), TypeError, r"y must have dtype float64"),
    (np.zeros((2, 3), complex), np.zeros((2, 3)), TypeError, r"yhat must be an array of float32"),
])
def test_mse_errors(yhat, y, exc, match):
    with pytest.raises(exc, match=match):
        kernels.mse(yhat, y)


def test_mse_matches_torch(dtype, rng):
    torch = torch_or_skip()
    yhat = rng.standard_normal((16, 3)).astype(dtype)
    y = rng.standard_normal((16, 3)).astype(dtype)
    yt = torch.from_numpy(yhat.copy()).requires_grad_()
    # torch averages over all entries; ours sums over outputs: a factor of n_outputs.
    t_loss = torch.nn.functional.mse_loss(yt, torch.from_numpy(y)) * 3
    t_loss.backward()
    loss, grad = kernels.mse(yhat, y)
    assert_close(loss, t_loss.item(), dtype, scale=10)
    assert_close(grad, yt.grad.numpy(), dtype)
