"""linear_forward and linear_backward (BLAS) against the reference, finite differences and torch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmlp import gradcheck, kernels, reference
from helpers import GRAD_RTOL, assert_close, assert_linear_matches_reference, torch_or_skip

SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 4), (6, 4, 1), (32, 784, 10), (128, 300, 100)]


def layer(rng, n, n_in, n_out, dtype):
    return (rng.standard_normal((n, n_in)).astype(dtype),
            (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype),
            rng.standard_normal(n_out).astype(dtype))


@pytest.mark.parametrize("n, n_in, n_out", SHAPES)
def test_forward_matches_reference(dtype, rng, n, n_in, n_out):
    x, W, b = layer(rng, n, n_in, n_out, dtype)
    out = kernels.linear_forward(x, W, b)
    assert out.shape == (n, n_out) and out.dtype == dtype
    assert_close(out, reference.linear_forward(x, W, b), dtype, scale=10)


@pytest.mark.parametrize("n, n_in, n_out", SHAPES)
def test_backward_matches_reference(dtype, rng, n, n_in, n_out):
    x, W, _ = layer(rng, n, n_in, n_out, dtype)
    g = rng.standard_normal((n, n_out)).astype(dtype)
    grads = kernels.linear_backward(x, W, g)
    for got, want, shape in zip(grads, reference.linear_backward(x, W, g),
                                [(n, n_in), (n_out, n_in), (n_out,)]):
        assert got.shape == shape and got.dtype == dtype
        assert_close(got, want, dtype, scale=100)


def test_gradients_match_finite_differences(rng):
    x, W, b = layer(rng, 5, 4, 3, np.float64)
    cot = rng.standard_normal((5, 3))
    grad_x, grad_W, grad_b = kernels.linear_backward(x, W, cot)
    checks = [
        (lambda v: kernels.linear_forward(v, W, b), x, grad_x),
        (lambda v: kernels.linear_forward(x, v, b), W, grad_W),
        (lambda v: kernels.linear_forward(x, W, v), b, grad_b),
    ]
    for f, point, analytic in checks:
        _, err = gradcheck.vjp_check(f, point, cot, analytic)
        assert err < GRAD_RTOL


def test_out_argument(dtype, rng):
    x, W, b = layer(rng, 6, 5, 4, dtype)
    out = np.full((6, 4), np.nan, dtype)
    assert kernels.linear_forward(x, W, b, out=out) is out
    assert_close(out, reference.linear_forward(x, W, b), dtype)


def test_any_input_layout(dtype, rng):
    x, W, b = layer(rng, 8, 6, 5, dtype)
    expected = reference.linear_forward(x, W, b)
    xf, Wf = np.asfortranarray(x), np.asfortranarray(W)
    assert_close(kernels.linear_forward(xf, Wf, b), expected, dtype)
    # A strided view: every other row of a bigger array.
    x2 = np.repeat(x, 2, axis=0)[::2]
    assert_close(kernels.linear_forward(x2, W, b), expected, dtype)
    g = rng.standard_normal((8, 5)).astype(dtype)
    for got, want in zip(kernels.linear_backward(xf, Wf, np.asfortranarray(g)),
                         reference.linear_backward(x, W, g)):
        assert_close(got, want, dtype)


def test_large_values_stay_exact(dtype):
    x = np.array([[1e4, -1e4]], dtype=dtype)
    W = np.array([[1.0, 1.0], [1.0, -1.0]], dtype=dtype)
    b = np.array([0.5, -0.5], dtype=dtype)
    np.testing.assert_array_equal(kernels.linear_forward(x, W, b), [[0.5, 2e4 - 0.5]])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_property_against_reference(n, n_in, n_out, dtype, seed):
    rng = np.random.default_rng(seed)
    x, W, b = layer(rng, n, n_in, n_out, dtype)
    g = rng.standard_normal((n, n_out)).astype(dtype)
    # Dot products cancel: each entry's error scales with its absolute terms.
    assert_linear_matches_reference(x, W, b, g, dtype)


X, W, B = np.zeros((4, 3)), np.zeros((2, 3)), np.zeros(2)


@pytest.mark.parametrize("args, exc, match", [
    ((np.zeros(3), W, B), ValueError, r"x must be a 2-D array \(n_samples, n_in\); got 1-D"),
    ((X, np.zeros(3), B), ValueError, r"W must be a 2-D array \(n_out, n_in\); got 1-D"),
    ((X, np.zeros((3, 2)), B), ValueError, r"W must have shape \(n_out, 3\).*got \(3, 2\)"),
    ((X, W, np.zeros(3)), ValueError, r"b must have shape \(2,\).*got \(3,\)"),
    ((X, W, np.zeros((1, 2))), ValueError, r"b must be a 1-D array"),
    ((X, W.astype(np.float32), B), TypeError, r"W must have dtype float64.*got float32"),
    ((X, W, B.astype(np.float32)), TypeError, r"b must have dtype float64.*got float32"),
    ((np.zeros((0, 3)), W, B), ValueError, r"x must not be empty"),
    ((X.astype(object), W, B), TypeError, r"x must be an array of float32 or float64.*object"),
])
def test_forward_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        kernels.linear_forward(*args)


def test_forward_bad_out():
    with pytest.raises(ValueError, match=r"out must have shape \(4, 2\); got \(2, 4\)"):
        kernels.linear_forward(X, W, B, out=np.empty((2, 4)))
    with pytest.raises(TypeError, match=r"out must have dtype float64; got float32"):
        kernels.linear_forward(X, W, B, out=np.empty((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"out must be C-contiguous"):
        kernels.linear_forward(X, W, B, out=np.empty((2, 4)).T)
    ro = np.empty((4, 2))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out is read-only"):
        kernels.linear_forward(X, W, B, out=ro)
    # BLAS reads x while writing out: no aliasing, even exact.
    x = np.zeros((4, 4))
    with pytest.raises(ValueError, match=r"out must not share memory with x \(BLAS reads"):
        kernels.linear_forward(x, np.eye(4), np.zeros(4), out=x)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own
def test_matrix_out_is_written_in_place(dtype, rng):
    x, W, b = layer(rng, 6, 5, 4, dtype)
    out = np.asmatrix(np.empty((6, 4), dtype))
    assert kernels.linear_forward(x, W, b, out=out) is out
    assert_close(np.asarray(out), reference.linear_forward(x, W, b), dtype)


def test_bias_gradient_is_summed_in_double(dtype):
    # A float32 running sum of ones stops growing at 2**24 (each 1 is half an ulp
    # there): a first row of 2**24 shows it without millions of rows. Two column
    # blocks of the worker, so that both are checked.
    n, n_out = 1001, 300
    grad_out = np.ones((n, n_out), dtype)
    grad_out[0] = 2**24
    _, _, grad_b = kernels.linear_backward(np.zeros((n, 1), dtype), np.ones((n_out, 1), dtype),
                                           grad_out)
    np.testing.assert_array_equal(grad_b, np.full(n_out, 2**24 + 1000, dtype))


@pytest.mark.parametrize("which", ["x rows", "x columns", "W rows"])
def test_sizes_beyond_blas_ints_are_refused(which):
    # BLAS counts in 32-bit ints: 2**31 rows would wrap around to a negative size.
    # Broadcast views hold no memory, and the shape is checked before any copy.
    big = 2**31
    shapes = {"x rows": ((big, 1), (1, 1)), "x columns": ((1, big), (1, big)),
              "W rows": ((1, 1), (big, 1))}[which]
    x, W = (np.broadcast_to(np.float32(0), shape) for shape in shapes)
    b = np.broadcast_to(np.float32(0), W.shape[:1])
    grad_out = np.broadcast_to(np.float32(0), (x.shape[0], W.shape[0]))
    name = which.split()[0]
    with pytest.raises(ValueError, match=rf"{name} must have at most 2147483647 rows and columns"
                                         rf" \(BLAS counts them in 32-bit ints\)"):
        kernels.linear_forward(x, W, b)
    with pytest.raises(ValueError, match=rf"{name} must have at most 2147483647"):
        kernels.linear_backward(x, W, grad_out)


@pytest.mark.parametrize("args, exc, match", [
    ((X, W, np.zeros((4, 3))), ValueError, r"grad_out must have shape \(4, 2\).*got \(4, 3\)"),
    ((X, W, np.zeros(8)), ValueError, r"grad_out must be a 2-D array"),
    ((X, W, np.zeros((4, 2), np.float32)), TypeError, r"grad_out must have dtype float64"),
    ((X, np.zeros((2, 5)), np.zeros((4, 2))), ValueError, r"W must have shape \(n_out, 3\)"),
])
def test_backward_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        kernels.linear_backward(*args)


def test_matches_torch(dtype, rng):
    torch = torch_or_skip()
    x, W, b = layer(rng, 16, 20, 7, dtype)
    lin = torch.nn.Linear(20, 7, dtype=torch.float32 if dtype == np.float32 else torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W))
        lin.bias.copy_(torch.from_numpy(b))
    xt = torch.from_numpy(x.copy()).requires_grad_()
    out_t = lin(xt)
    g = rng.standard_normal((16, 7)).astype(dtype)
    out_t.backward(torch.from_numpy(g))
    assert_close(kernels.linear_forward(x, W, b), out_t.detach().numpy(), dtype, scale=10)
    grad_x, grad_W, grad_b = kernels.linear_backward(x, W, g)
    assert_close(grad_x, xt.grad.numpy(), dtype, scale=10)
    assert_close(grad_W, lin.weight.grad.numpy(), dtype, scale=10)
    assert_close(grad_b, lin.bias.grad.numpy(), dtype, scale=10)
