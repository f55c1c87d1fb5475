"""Hypothesis fuzzing of every public kernel and of MLP: random shapes, both dtypes,
C, Fortran and strided layouts, and values up to the extremes.

For each case: no crash, finite outputs for finite inputs (value ranges are
chosen so that the exact answer is finite), and agreement with
fastmlp.reference. The per-kernel test files hold the targeted cases; this is
the broad net over all of them.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmlp import MLP, kernels, reference
from conftest import assert_close

DTYPES = st.sampled_from([np.float32, np.float64])
LAYOUTS = st.sampled_from(["C", "F", "strided"])
# Values a float32 product of two can hold (1e15 * 1e15 * a few hundred < 3e38),
# with small, subnormal and signed zeros drawn as often as large ones.
VALUES = st.one_of(st.floats(-1e15, 1e15), st.floats(-1, 1), st.sampled_from(
    [0.0, -0.0, 1e-40, -1e-40, 1e-300, 1.0, -1.0]))


@st.composite
def arrays(draw, dtype, shape, values=VALUES, layout=None):
    """A float array of the shape, in C, Fortran or strided (every other row) layout."""
    layout = layout or draw(LAYOUTS)
    n = int(np.prod(shape))
    flat = np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)
    a = flat.reshape(shape).astype(dtype)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided" and a.ndim == 2:
        b = np.zeros((2 * shape[0], shape[1]), dtype)
        b[::2] = a
        return b[::2]
    return a


SHAPES = st.tuples(st.integers(1, 12), st.integers(1, 12))
FUZZ = settings(max_examples=40, deadline=None)


@FUZZ
@given(st.data(), DTYPES, SHAPES, st.sampled_from(["softmax", "log_softmax"]))
def test_softmaxes(data, dtype, shape, name):
    z = data.draw(arrays(dtype, shape, st.floats(-1e4, 1e4)))
    got = getattr(kernels, name)(z)
    assert np.all(np.isfinite(got))
    assert_close(got, getattr(reference, name)(np.ascontiguousarray(z)), dtype, scale=1e4)


@FUZZ
@given(st.data(), DTYPES, SHAPES, st.sampled_from(["labels", "targets"]), st.booleans())
def test_softmax_cross_entropy(data, dtype, shape, kind, weighted):
    n, k = shape
    z = data.draw(arrays(dtype, shape, st.floats(-1e4, 1e4)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    if kind == "labels":
        y = rng.integers(0, k, n)
    else:
        y = rng.random((n, k))
        y = (y / y.sum(axis=1, keepdims=True)).astype(dtype)
    w = (rng.random(n) + 0.01).astype(dtype) if weighted else None
    loss, grad = kernels.softmax_cross_entropy(z, y, sample_weight=w)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    ref_loss, ref_grad = reference.softmax_cross_entropy(z.astype(np.float64), y, w)
    # Logits up to 1e4 make the loss itself up to ~2e4: compare relative to that.
    assert abs(loss - ref_loss) <= 1e-4 * max(1.0, abs(ref_loss)) * (1e2 if dtype == np.float32 else 1)
    assert_close(grad, ref_grad, dtype, scale=10)


@FUZZ
@given(st.data(), DTYPES, SHAPES)
def test_mse(data, dtype, shape):
    # |yhat - y| <= 2e15, squared 4e30, summed over at most 144 entries: finite in float32.
    yhat = data.draw(arrays(dtype, shape))
    y = data.draw(arrays(dtype, shape))
    loss, grad = kernels.mse(yhat, y)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    ref_loss, ref_grad = reference.mse(np.ascontiguousarray(yhat, np.float64),
                                       np.ascontiguousarray(y, np.float64))
    assert loss == pytest.approx(ref_loss, rel=1e-5 if dtype == np.float32 else 1e-12, abs=1e-30)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-30)


ELEMENTWISE = ["tanh", "sigmoid", "relu", "tanh_derivative", "sigmoid_derivative",
               "relu_derivative"]


@FUZZ
@given(st.data(), DTYPES, SHAPES, st.sampled_from(ELEMENTWISE), st.booleans())
def test_elementwise(data, dtype, shape, name, in_place):
    # Derivatives take an activation's output, which lies in [-1, 1] (or [0, inf) for relu).
    values = st.floats(-1, 1) if name.endswith("derivative") else VALUES
    x = data.draw(arrays(dtype, shape, values, layout="C" if in_place else None))
    expected = getattr(reference, name)(x.astype(np.float64))
    got = getattr(kernels, name)(x, out=x) if in_place else getattr(kernels, name)(x)
    assert (got is x) == in_place
    assert np.all(np.isfinite(got))
    assert_close(got, expected, dtype)


@FUZZ
@given(st.data(), DTYPES, SHAPES, st.sampled_from(["tanh", "sigmoid", "relu"]))
def test_backward_forms(data, dtype, shape, name):
    a = getattr(kernels, name)(data.draw(arrays(dtype, shape, st.floats(-20, 20))))
    g = data.draw(arrays(dtype, shape, layout="C"))
    expected = getattr(reference, f"{name}_backward")(a, g.copy())
    result = getattr(kernels, f"{name}_backward")(a, g)
    assert result is g and np.all(np.isfinite(g))
    assert_close(g, expected, dtype)


@FUZZ
@given(st.data(), DTYPES, st.tuples(st.integers(1, 10), st.integers(1, 10), st.integers(1, 10)))
def test_linear(data, dtype, shape):
    n, n_in, n_out = shape
    vals = st.floats(-1e6, 1e6)  # products up to 1e12 summed over 10: finite, well scaled
    x = data.draw(arrays(dtype, (n, n_in), vals))
    W = data.draw(arrays(dtype, (n_out, n_in), vals))
    b = data.draw(arrays(dtype, (n_out,), vals))
    g = data.draw(arrays(dtype, (n, n_out), vals))
    out = kernels.linear_forward(x, W, b)
    scale = 1e13 if dtype == np.float32 else 1e12
    np.testing.assert_allclose(out, reference.linear_forward(x.astype(np.float64), W, b),
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=scale * 1e-6)
    for got, want in zip(kernels.linear_backward(x, W, g),
                         reference.linear_backward(x.astype(np.float64),
                                                   W.astype(np.float64), g.astype(np.float64))):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=scale * 1e-6)


@FUZZ
@given(st.data(), DTYPES, st.integers(1, 50), st.floats(1e-6, 10), st.floats(0, 0.99),
       st.booleans(), st.floats(0, 1))
def test_sgd_update(data, dtype, n, lr, momentum, nesterov, weight_decay):
    nesterov = nesterov and momentum > 0
    p = data.draw(arrays(dtype, (n,), st.floats(-1e6, 1e6)))
    g = data.draw(arrays(dtype, (n,), st.floats(-1e6, 1e6)))
    v = np.zeros(n, dtype) if momentum else None
    p_ref = p.astype(np.float64)
    kw = dict(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    reference.sgd_update(p_ref, g.astype(np.float64), lr,
                         velocity=None if v is None else v.astype(np.float64), **kw)
    assert kernels.sgd_update(p, g, lr, velocity=v, **kw) is p
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p, p_ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-3 if dtype == np.float32 else 1e-9)


@settings(max_examples=25, deadline=None)
@given(st.data(), DTYPES, st.lists(st.integers(1, 8), min_size=2, max_size=4),
       st.sampled_from(["tanh", "sigmoid", "relu"]), st.sampled_from(["cross_entropy", "mse"]))
def test_mlp(data, dtype, sizes, activation, loss):
    model = MLP(sizes, activation=activation, loss=loss, dtype=dtype,
                seed=data.draw(st.integers(0, 1000)))
    n = data.draw(st.integers(1, 9))
    X = data.draw(arrays(dtype, (n, sizes[0]), st.floats(-100, 100)))
    rng = np.random.default_rng(0)
    y = rng.integers(0, sizes[-1], n) if loss == "cross_entropy" else rng.standard_normal(
        (n, sizes[-1]))
    out = model.forward(X)
    assert out.shape == (n, sizes[-1]) and np.all(np.isfinite(out))
    grads = model.gradients(X, y)
    assert all(np.all(np.isfinite(gW)) and np.all(np.isfinite(gb)) for gW, gb in grads)
    assert np.isfinite(model.step(X, y, lr=1e-3))
