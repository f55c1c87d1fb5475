"""softmax and log_softmax against the NumPy reference, finite differences and torch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastmlp import gradcheck, kernels, reference
from helpers import GRAD_RTOL, assert_close, torch_or_skip

SOFTMAXES = [kernels.softmax, kernels.log_softmax]
SOFTMAX_IDS = ["softmax", "log_softmax"]


@pytest.fixture(params=SOFTMAXES, ids=SOFTMAX_IDS)
def kernel(request):
    return request.param


def ref_of(kernel):
    return getattr(reference, kernel.__name__)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (13, 5), (64, 10), (3, 1000), (300, 300)])
def test_matches_reference(kernel, dtype, rng, shape):
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    out = kernel(z)
    assert out.dtype == dtype and out.shape == shape
    assert_close(out, ref_of(kernel)(z), dtype)


def test_softmax_rows_sum_to_one(dtype, rng):
    p = kernels.softmax((rng.standard_normal((50, 1000)) * 10).astype(dtype))
    assert np.all(p >= 0)
    assert_close(p.sum(axis=1), np.ones(50), dtype, scale=10)


def test_one_dimensional_input_is_one_row(kernel, dtype, rng):
    z = rng.standard_normal(6).astype(dtype)
    out = kernel(z)
    assert out.shape == (6,)
    assert_close(out, kernel(z[None, :])[0], dtype)


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_huge_logits(dtype, scale):
    z = np.array([[1.0, 0.0, -1.0], [1.0, 1.0, 1.0], [2.0, 1.0, 0.0]], dtype=dtype) * scale
    p = kernels.softmax(z)
    assert np.all(np.isfinite(p))
    # Gaps of 1e4 make the largest logit take everything; equal logits share equally.
    biggest = np.argmax(z, axis=1)
    assert p[0, biggest[0]] == 1 and p[2, biggest[2]] == 1
    assert_close(p[1], np.full(3, 1 / 3), dtype)
    logp = kernels.log_softmax(z)
    assert np.all(np.isfinite(logp))
    assert_close(logp, reference.log_softmax(z.astype(np.float64)), dtype, scale=1e4)


def test_float32_row_of_2_to_the_25_logits():
    # The row sum is accumulated in double: in float32 it stopped at 2**24.
    n = 2**25
    p = kernels.softmax(np.zeros(n, np.float32))
    np.testing.assert_array_equal(p[[0, -1]], np.float32([2.0**-25] * 2))
    z = np.zeros(n, np.float32)
    z[::2] = 1
    assert kernels.softmax(z).sum(dtype=np.float64) == pytest.approx(1, abs=1e-5)
    logp = kernels.log_softmax(np.zeros(n, np.float32))
    assert logp[0] == pytest.approx(-25 * np.log(2), rel=1e-7)


def test_float32_log_softmax_of_large_logits_is_exact_to_float32():
    # (z - max) - log(sum): the row maximum 1e4 is never added to log(sum) and
    # rounded (which cost up to 5e-4 in float32).
    z = np.float32([[1e4, 1e4 - 1, 1e4 - 3], [-3e4, -3e4 + 2, -3e4 + 2.5]])
    expected = reference.log_softmax(z.astype(np.float64))
    np.testing.assert_allclose(kernels.log_softmax(z), expected, rtol=2e-7)


def test_all_equal_rows(kernel, dtype):
    z = np.full((4, 8), 123.5, dtype=dtype)
    expected = np.full((4, 8), 1 / 8 if kernel is kernels.softmax else -np.log(8))
    assert_close(kernel(z), expected, dtype)


def test_minus_inf_entries(dtype):
    z = np.array([[0.0, -np.inf, 0.0], [-np.inf, 5.0, -np.inf]], dtype=dtype)
    p = kernels.softmax(z)
    np.testing.assert_array_equal(p, np.array([[0.5, 0, 0.5], [0, 1, 0]], dtype=dtype))
    logp = kernels.log_softmax(z)
    assert logp[0, 1] == -np.inf and logp[1, 0] == -np.inf
    assert_close(logp[0, [0, 2]], [-np.log(2)] * 2, dtype)
    assert logp[1, 1] == 0


def test_single_column_is_certain(kernel, dtype, rng):
    z = rng.standard_normal((9, 1)).astype(dtype) * 100
    expected = np.ones((9, 1)) if kernel is kernels.softmax else np.zeros((9, 1))
    np.testing.assert_array_equal(kernel(z), expected)


def test_in_place(kernel, dtype, rng):
    z = rng.standard_normal((10, 4)).astype(dtype)
    expected = ref_of(kernel)(z)
    result = kernel(z, out=z)
    assert result is z
    assert_close(z, expected, dtype)


def test_out_argument(kernel, dtype, rng):
    z = rng.standard_normal((10, 4)).astype(dtype)
    out = np.empty_like(z)
    assert kernel(z, out=out) is out
    assert_close(out, ref_of(kernel)(z), dtype)


def test_strided_and_fortran_input(kernel, dtype, rng):
    big = rng.standard_normal((20, 12)).astype(dtype)
    for z in (big[::2, ::3], np.asfortranarray(big)):
        assert_close(kernel(z), ref_of(kernel)(np.ascontiguousarray(z)), dtype)


def test_integer_input_becomes_float64(kernel):
    out = kernel(np.array([[1, 2, 3]]))
    assert out.dtype == np.float64
    assert_close(out, ref_of(kernel)(np.array([[1.0, 2.0, 3.0]])), np.float64)


def test_softmax_vjp_matches_finite_differences(rng):
    z = rng.standard_normal((4, 5))
    cot = rng.standard_normal((4, 5))
    p = kernels.softmax(z)
    # d/dz sum(cot * softmax(z)) = p * (cot - sum(cot * p))
    analytic = p * (cot - np.sum(cot * p, axis=1, keepdims=True))
    _, err = gradcheck.vjp_check(kernels.softmax, z, cot, analytic)
    assert err < GRAD_RTOL


def test_log_softmax_vjp_matches_finite_differences(rng):
    z = rng.standard_normal((4, 5))
    cot = rng.standard_normal((4, 5))
    p = kernels.softmax(z)
    analytic = cot - p * cot.sum(axis=1, keepdims=True)
    _, err = gradcheck.vjp_check(kernels.log_softmax, z, cot, analytic)
    assert err < GRAD_RTOL


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=40),
                  elements=st.floats(-1e4, 1e4)),
       st.sampled_from([np.float32, np.float64]))
def test_property_rows_are_distributions(z, dtype):
    z = z.astype(dtype)
    p = kernels.softmax(z)
    logp = kernels.log_softmax(z)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(logp))
    assert np.all((p >= 0) & (p <= 1))
    assert_close(p.sum(axis=1), np.ones(z.shape[0]), dtype, scale=10)
    assert np.all(logp <= 0)
    # Shifting a row by a constant leaves softmax unchanged.
    assert_close(kernels.softmax(z - z.max(axis=1, keepdims=True)), p, dtype)
    assert_close(p, reference.softmax(z), dtype, scale=10)


@pytest.mark.parametrize("bad, exc, match", [
    (np.zeros((2, 3, 4)), ValueError, r"z must be a 1-D or 2-D array.*got 3-D"),
    (np.float64(3.0), ValueError, r"z must be a 1-D or 2-D array.*got 0-D"),
    (np.zeros((0, 3)), ValueError, r"z must not be empty"),
    (np.zeros((2, 3), dtype=np.complex128), TypeError, r"z must be an array of float32 or float64.*complex128"),
    (np.array([["a", "b"]]), TypeError, r"z must be an array of float32.*<U1"),
    (np.array([[1.0, None]], dtype=object), TypeError, r"z must be an array.*object"),
    (np.zeros((2, 3), dtype=np.float16), TypeError, r"z must be an array.*float16"),
])
def test_bad_z(kernel, bad, exc, match):
    with pytest.raises(exc, match=match):
        kernel(bad)


@pytest.mark.parametrize("make_out, exc, match", [
    (lambda z: np.empty((3, 2), z.dtype), ValueError, r"out must have shape \(2, 3\); got \(3, 2\)"),
    (lambda z: np.empty(z.shape, np.float32), TypeError, r"out must have dtype float64; got float32"),
    (lambda z: np.empty((2, 6), z.dtype)[:, ::2], ValueError, r"out must be C-contiguous"),
    (lambda z: [[0.0] * 3] * 2, TypeError, r"out must be a numpy.ndarray.*list"),
    (lambda z: np.broadcast_to(np.empty(3), (2, 3)), ValueError, r"out must be C-contiguous"),
])
def test_bad_out(kernel, make_out, exc, match):
    z = np.arange(6, dtype=np.float64).reshape(2, 3)
    with pytest.raises(exc, match=match):
        kernel(z, out=make_out(z))


def test_read_only_out(kernel):
    z = np.zeros((2, 3))
    out = np.empty((2, 3))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        kernel(z, out=out)


def test_partially_overlapping_out(kernel):
    buf = np.zeros(8)
    z = buf[:6].reshape(2, 3)
    out = buf[2:8].reshape(2, 3)
    with pytest.raises(ValueError, match="out overlaps z in memory without being the same array"):
        kernel(z, out=out)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own
def test_matrix_out_is_written_in_place(kernel, dtype, rng):
    z = rng.standard_normal((3, 4)).astype(dtype)
    out = np.asmatrix(np.empty((3, 4), dtype))
    assert kernel(z, out=out) is out
    assert_close(np.asarray(out), ref_of(kernel)(z), dtype)
    zm = np.asmatrix(z.copy())
    assert kernel(zm, out=zm) is zm
    assert_close(np.asarray(zm), ref_of(kernel)(z), dtype)


def test_matches_torch(kernel, dtype, rng):
    torch = torch_or_skip()
    z = (rng.standard_normal((16, 10)) * 5).astype(dtype)
    fn = torch.softmax if kernel is kernels.softmax else torch.log_softmax
    expected = fn(torch.from_numpy(z), dim=1).numpy()
    assert_close(kernel(z), expected, dtype, scale=10)
