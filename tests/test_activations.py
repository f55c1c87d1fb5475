"""tanh, sigmoid, relu, their derivatives and fused backward forms."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastmlp import gradcheck, kernels, reference
from helpers import GRAD_RTOL, assert_close, torch_or_skip

NAMES = ["tanh", "sigmoid", "relu"]
SHAPES = [(1,), (1, 1), (17,), (4, 33), (2, 3, 5), (300, 301)]


def fns(name):
    """(activation, derivative-from-output, backward) of one kind."""
    return (getattr(kernels, name), getattr(kernels, f"{name}_derivative"),
            getattr(kernels, f"{name}_backward"))


def ref(name, suffix=""):
    return getattr(reference, name + suffix)


@pytest.fixture(params=NAMES)
def name(request):
    return request.param


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(name, dtype, rng, shape):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    a = getattr(kernels, name)(x)
    assert a.dtype == dtype and a.shape == shape
    assert_close(a, ref(name)(x), dtype)


@pytest.mark.parametrize("shape", SHAPES)
def test_derivative_and_backward_match_reference(name, dtype, rng, shape):
    f, deriv, backward = fns(name)
    a = f((rng.standard_normal(shape) * 2).astype(dtype))
    assert_close(deriv(a), ref(name, "_derivative")(a), dtype)
    g = rng.standard_normal(shape).astype(dtype)
    expected = ref(name, "_backward")(a, g.copy())
    result = backward(a, g)
    assert result is g  # in place
    assert_close(g, expected, dtype)


def test_gradient_matches_finite_differences(name, rng):
    f, deriv, backward = fns(name)
    x = rng.standard_normal((3, 5))
    if name == "relu":  # keep away from the kink, where the derivative jumps
        x[np.abs(x) < 1e-3] = 0.5
    cot = rng.standard_normal((3, 5))
    analytic = backward(f(x), cot.copy())
    _, err = gradcheck.vjp_check(f, x, cot, analytic)
    assert err < GRAD_RTOL
    np.testing.assert_allclose(deriv(f(x)) * cot, analytic, rtol=1e-15)


def test_known_values(dtype):
    x = np.array([-2.0, 0.0, 3.0], dtype=dtype)
    assert_close(kernels.tanh(x), np.tanh([-2.0, 0.0, 3.0]), dtype)
    assert_close(kernels.sigmoid(x), 1 / (1 + np.exp([2.0, 0.0, -3.0])), dtype)
    np.testing.assert_array_equal(kernels.relu(x), [0, 0, 3])
    np.testing.assert_array_equal(kernels.relu_derivative(kernels.relu(x)), [0, 0, 1])
    assert_close(kernels.tanh_derivative(kernels.tanh(x))[1], 1.0, dtype)
    assert_close(kernels.sigmoid_derivative(kernels.sigmoid(x))[1], 0.25, dtype)


def test_sigmoid_extremes_are_finite_and_silent(dtype):
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = kernels.sigmoid(x)
        d = kernels.sigmoid_derivative(s)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(d))
    assert s[0] == 0 and s[-1] == 1 and s[3] == 0.5
    assert 0 < s[2] < 1e-12  # exp(-30), not rounded to 0
    assert np.all(np.diff(s) >= 0)
    assert_close(s, reference.sigmoid(x.astype(np.float64)), dtype)


def test_tanh_extremes(dtype):
    x = np.array([-1e4, -50.0, -1e-30, 0.0, 1e-30, 50.0, 1e4], dtype=dtype)
    t = kernels.tanh(x)
    np.testing.assert_array_equal(t[[0, 1]], [-1, -1])
    np.testing.assert_array_equal(t[[5, 6]], [1, 1])
    assert_close(t[2:5], x[2:5], dtype)
    np.testing.assert_array_equal(kernels.tanh_derivative(t)[[0, 6]], [0, 0])


def test_tanh_special_values(dtype):
    # Below 2**-28 (2**-13 in float32) tanh(x) rounds to x, which is returned as it is:
    # the sign of zero and subnormals survive; infinities saturate; NaN stays NaN.
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([-0.0, 0.0, tiny, -tiny, 1e-20, np.inf, -np.inf, np.nan], dtype=dtype)
    t = kernels.tanh(x)
    np.testing.assert_array_equal(t[:5], x[:5])
    assert np.signbit(t[0]) and not np.signbit(t[1])
    np.testing.assert_array_equal(t[5:7], [1, -1])
    assert np.isnan(t[7])


def test_relu_zero_and_nan(dtype):
    x = np.array([-0.0, 0.0, np.nan, -np.inf, np.inf], dtype=dtype)
    r = kernels.relu(x)
    np.testing.assert_array_equal(r[[0, 1, 3, 4]], [0, 0, 0, np.inf])
    assert np.isnan(r[2])
    # relu'(0) = 0 as in PyTorch; the backward zeroes the gradient there, NaN or not.
    g = np.array([np.nan, 1.0, 1.0, 1.0, 2.0], dtype=dtype)
    kernels.relu_backward(r, g)
    np.testing.assert_array_equal(g[[0, 1, 3, 4]], [0, 0, 0, 2])


@pytest.mark.parametrize("which", ["activation", "derivative"])
def test_in_place_and_out(name, dtype, rng, which):
    f, deriv, _ = fns(name)
    kernel = f if which == "activation" else deriv
    x = rng.random((5, 6)).astype(dtype)
    expected = kernel(x)
    out = np.empty_like(x)
    assert kernel(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert kernel(x, out=x) is x
    np.testing.assert_array_equal(x, expected)


ELEMENTWISE = ["tanh", "sigmoid", "relu", "tanh_derivative", "sigmoid_derivative",
               "relu_derivative"]


@pytest.mark.parametrize("kernel", ELEMENTWISE)
def test_zero_dimensional_in_and_out(kernel, dtype):
    f, expected = getattr(kernels, kernel), getattr(reference, kernel)(np.float64(0.75))
    x = np.array(0.75, dtype)
    got = f(x)
    assert got.shape == () and got.dtype == dtype
    assert_close(got, expected, dtype)
    assert f(dtype(0.75)).shape == ()  # a NumPy scalar is 0-d too
    out = np.empty((), dtype)
    assert f(x, out=out) is out
    assert_close(out, expected, dtype)
    assert f(x, out=x) is x
    assert_close(x, expected, dtype)


def test_zero_dimensional_backward(name, dtype):
    a = getattr(kernels, name)(np.array(0.75, dtype))
    g = np.array(2.0, dtype)
    assert fns(name)[2](a, g) is g
    assert_close(g, ref(name, "_backward")(a.astype(np.float64), np.array(2.0)), dtype)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own
def test_matrix_out_and_grad_are_written_in_place(name, dtype, rng):
    f, _, backward = fns(name)
    x = rng.standard_normal((3, 4)).astype(dtype)
    out = np.asmatrix(np.empty((3, 4), dtype))
    assert f(x, out=out) is out
    assert_close(np.asarray(out), ref(name)(x), dtype)
    a = f(x)
    g = np.asmatrix(rng.standard_normal((3, 4)).astype(dtype))
    expected = ref(name, "_backward")(a, np.asarray(g).copy())
    assert backward(a, g) is g
    assert_close(np.asarray(g), expected, dtype)


def test_backward_refuses_a_partially_overlapping_grad(name):
    buf = np.full(11, 0.5)
    with pytest.raises(ValueError, match=r"grad overlaps (t|s|r) in memory without being the "
                                         r"same array"):
        fns(name)[2](buf[:-1], buf[1:])
    np.testing.assert_array_equal(buf, 0.5)


def test_backward_with_grad_as_its_own_activation(name, dtype, rng):
    # Exact aliasing is fine: each entry reads a[i] and grad[i] before writing grad[i].
    backward = fns(name)[2]
    g = rng.random(20).astype(dtype)
    separate = backward(g.copy(), g.copy())
    expected = ref(name, "_backward")(g.astype(np.float64), g.astype(np.float64))
    assert backward(g, g) is g
    np.testing.assert_array_equal(g, separate)
    assert_close(g, expected, dtype)


def test_strided_and_fortran_input(name, dtype, rng):
    f = getattr(kernels, name)
    big = rng.standard_normal((12, 10)).astype(dtype)
    for x in (big[::3, 1::2], np.asfortranarray(big), big.T):
        assert_close(f(x), ref(name)(x), dtype)


def test_integer_input_becomes_float64(name):
    assert getattr(kernels, name)(np.arange(-3, 3)).dtype == np.float64


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=20),
                  elements=st.floats(-1e3, 1e3)),
       st.sampled_from([np.float32, np.float64]), st.sampled_from(NAMES))
def test_property_against_reference(x, dtype, name):
    x = x.astype(dtype)
    f, deriv, backward = fns(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = f(x)
        d = deriv(a)
        g = backward(a, np.ones_like(x))
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    assert_close(a, ref(name)(x), dtype)
    assert_close(d, ref(name, "_derivative")(a), dtype)
    np.testing.assert_array_equal(g, d)
    if name != "relu":
        assert np.all(np.abs(a) <= 1) and np.all((d >= 0) & (d <= 1))


@pytest.mark.parametrize("bad, exc, match", [
    (np.zeros((0, 3)), ValueError, r"x must not be empty; got shape \(0, 3\)"),
    (np.zeros(3, complex), TypeError, r"x must be an array of float32 or float64.*complex128"),
    (np.array(["1", "2"]), TypeError, r"x must be an array of float32.*<U1"),
    (np.zeros(3, np.float16), TypeError, r"x must be an array.*float16"),
])
def test_bad_x(name, bad, exc, match):
    with pytest.raises(exc, match=match):
        getattr(kernels, name)(bad)


def test_derivative_names_its_argument():
    with pytest.raises(TypeError, match=r"^t must be"):
        kernels.tanh_derivative(np.zeros(2, complex))
    with pytest.raises(TypeError, match=r"^s must be"):
        kernels.sigmoid_derivative(np.zeros(2, complex))
    with pytest.raises(TypeError, match=r"^r must be"):
        kernels.relu_derivative(np.zeros(2, complex))


def test_bad_out(name):
    f = getattr(kernels, name)
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"out must have shape \(2, 3\); got \(3, 2\)"):
        f(x, out=np.empty((3, 2)))
    with pytest.raises(TypeError, match=r"out must have dtype float64; got float32"):
        f(x, out=np.empty((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"out must be C-contiguous"):
        f(x, out=np.empty((3, 2)).T)
    ro = np.empty((2, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out is read-only"):
        f(x, out=ro)


@pytest.mark.parametrize("make_grad, a, exc, match", [
    (lambda: [1.0, 2.0], np.zeros(2), TypeError, r"grad must be a numpy.ndarray.*list"),
    (lambda: np.zeros(2, int), np.zeros(2), TypeError, r"grad must have dtype float32 or float64"),
    (lambda: np.zeros(4)[::2], np.zeros(2), ValueError, r"grad must be C-contiguous"),
    (lambda: np.zeros(3), np.zeros(2), ValueError, r"must have shape \(3,\).*it must match grad"
                                                    r".*got \(2,\)"),
    (lambda: np.zeros(2), np.zeros(2, np.float32), TypeError, r"must have dtype float64.*float32"),
])
def test_bad_backward_args(name, make_grad, a, exc, match):
    with pytest.raises(exc, match=match):
        fns(name)[2](a, make_grad())


def test_read_only_grad(name):
    g = np.zeros(3)
    g.flags.writeable = False
    with pytest.raises(ValueError, match="grad is read-only"):
        fns(name)[2](np.zeros(3), g)


def test_matches_torch(name, dtype, rng):
    torch = torch_or_skip()
    x = (rng.standard_normal((8, 9)) * 3).astype(dtype)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    at = getattr(torch, name)(xt)
    cot = rng.standard_normal((8, 9)).astype(dtype)
    at.backward(torch.from_numpy(cot))
    f, _, backward = fns(name)
    a = f(x)
    assert_close(a, at.detach().numpy(), dtype)
    assert_close(backward(a, cot.copy()), xt.grad.numpy(), dtype, scale=10)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_accuracy_in_ulps_over_a_wide_grid(name, dtype):
    # tanh and sigmoid are fastmlp's own vectorised formulas (kernels/vecmath.h),
    # not libm's: check them against float64 NumPy to a few units in the last place.
    x = np.concatenate([np.linspace(-30, 30, 600001), np.geomspace(1e-30, 30, 20000),
                        -np.geomspace(1e-30, 30, 20000)]).astype(dtype)
    exact = getattr(reference, name)(x.astype(np.float64))
    got = getattr(kernels, name)(x)
    ulp = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
    normal = np.abs(exact) >= np.finfo(dtype).tiny  # subnormal results are flushed to 0
    ulps = np.abs(got - exact)[normal] / ulp[normal]
    assert ulps.max() <= 4, (ulps.max(), x[normal][ulps.argmax()])
    assert np.all(np.abs(got[~normal]) <= np.finfo(dtype).tiny)
