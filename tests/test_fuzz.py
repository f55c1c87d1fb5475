"""Hypothesis fuzzing of every public kernel and of MLP: random shapes, both dtypes,
C, Fortran and strided layouts, and values up to the extremes.

For each case: no crash, finite outputs for finite inputs (value ranges are
chosen so that the exact answer is finite), and agreement with the float64
reference on the same values. Where a result can be a small difference of large
terms (log-softmax, dot products, SGD steps) the tolerance scales with those
terms (helpers.assert_within), never with the result alone. The per-kernel test
files hold the targeted cases; this is the broad net over all of them.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fastmlp import MLP, kernels, reference
from helpers import assert_close, assert_linear_matches_reference, assert_within, sgd_magnitude

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
    z64 = z.astype(np.float64)
    expected = getattr(reference, name)(z64)
    if name == "softmax":
        # Each probability is within a few ulps of 1 (the rounding of z - max(z)
        # costs e**-d * d ulps at a distance d below the maximum: at most 1/e).
        assert_within(got, expected, dtype, 1.0, ulps=16)
    else:
        # (z - max(z)) - log(sum): the terms are |z - max(z)| and log(sum) <= log(k) + 1.
        terms = np.abs(z64 - z64.max(axis=1, keepdims=True)) + np.log(shape[1]) + 1
        assert_within(got, expected, dtype, terms)


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
    # Each row's loss is (max(z) - z_j) + log(sum exp(z - max(z))), weighted by
    # y_j >= 0: a sum of non-negative terms, so its rounding error is relative to it.
    assert_within(loss, ref_loss, dtype, abs(ref_loss), ulps=64)
    # grad[i] = c_i (p_i - y_i) with probabilities within a few ulps of 1.
    c = np.full(n, 1 / n) if w is None else w / w.astype(np.float64).sum()
    assert_within(grad, ref_grad, dtype, c[:, None], ulps=32)


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
    a64, g64 = a.astype(np.float64), g.astype(np.float64)
    expected = getattr(reference, f"{name}_backward")(a64, g64.copy())
    result = getattr(kernels, f"{name}_backward")(a, g)
    assert result is g and np.all(np.isfinite(g))
    # 1 - t**2 cancels near |t| = 1: the terms are |g| times 1, |a| and a**2.
    assert_within(g, expected, dtype, np.abs(g64) * (1 + np.abs(a64)) ** 2)


@FUZZ
@given(st.data(), DTYPES, st.tuples(st.integers(1, 10), st.integers(1, 10), st.integers(1, 10)))
def test_linear(data, dtype, shape):
    n, n_in, n_out = shape
    vals = st.floats(-1e6, 1e6)  # products up to 1e12 summed over 10: finite, well scaled
    x = data.draw(arrays(dtype, (n, n_in), vals))
    W = data.draw(arrays(dtype, (n_out, n_in), vals))
    b = data.draw(arrays(dtype, (n_out,), vals))
    g = data.draw(arrays(dtype, (n, n_out), vals))
    assert_linear_matches_reference(x, W, b, g, dtype)


@st.composite
def sgd_cases(draw):
    """(dtype, param, grad, lr, momentum, nesterov, weight_decay) for one sgd_update.

    Non-zero hyperparameters are at least 1e-6: smaller ones would round to 0 in
    float32, which sgd_update refuses (see test_sgd.py).
    """
    dtype = draw(DTYPES)
    n = draw(st.integers(1, 50))
    p = draw(arrays(dtype, (n,), st.floats(-1e6, 1e6)))
    g = draw(arrays(dtype, (n,), st.floats(-1e6, 1e6)))
    momentum = draw(st.one_of(st.just(0.0), st.floats(1e-6, 0.99)))
    nesterov = draw(st.booleans()) and momentum > 0
    weight_decay = draw(st.one_of(st.just(0.0), st.floats(1e-6, 1)))
    return dtype, p, g, draw(st.floats(1e-6, 10)), momentum, nesterov, weight_decay


@FUZZ
@given(sgd_cases())
# The step is a small difference of large terms: 109364 - 4.34375 * 0.23046875 * 109364
# = -120.15, whose float32 rounding error (~0.003) is far above a tolerance relative to it.
@example((np.float32, np.array([109364.0], np.float32), np.zeros(1, np.float32), 4.34375,
          0.0, False, 0.23046875))
def test_sgd_update(case):
    dtype, p, g, lr, momentum, nesterov, weight_decay = case
    kw = dict(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    p_ref = p.astype(np.float64)
    reference.sgd_update(p_ref, g.astype(np.float64), lr,
                         velocity=np.zeros_like(p_ref) if momentum else None, **kw)
    terms = sgd_magnitude(p, [g], lr, **kw)
    assert kernels.sgd_update(p, g, lr, velocity=np.zeros_like(p) if momentum else None,
                              **kw) is p
    assert np.all(np.isfinite(p))
    assert_within(p, p_ref, dtype, terms)


@settings(max_examples=25, deadline=None)
@given(st.data(), DTYPES, st.lists(st.integers(1, 8), min_size=2, max_size=4),
       st.sampled_from(["tanh", "sigmoid", "relu", "identity"]),
       st.sampled_from(["cross_entropy", "mse", "binary_cross_entropy"]))
def test_mlp(data, dtype, sizes, activation, loss):
    model = MLP(sizes, activation=activation, loss=loss, dtype=dtype,
                seed=data.draw(st.integers(0, 1000)))
    n = data.draw(st.integers(1, 9))
    X = data.draw(arrays(dtype, (n, sizes[0]), st.floats(-100, 100)))
    rng = np.random.default_rng(0)
    y = {"cross_entropy": lambda: rng.integers(0, sizes[-1], n),
         "binary_cross_entropy": lambda: rng.integers(0, 2, (n, sizes[-1])),
         "mse": lambda: rng.standard_normal((n, sizes[-1]))}[loss]()
    out = model.forward(X)
    assert out.shape == (n, sizes[-1]) and np.all(np.isfinite(out))
    grads = model.gradients(X, y)
    assert all(np.all(np.isfinite(gW)) and np.all(np.isfinite(gb)) for gW, gb in grads)
    assert np.isfinite(model.step(X, y, lr=1e-3))


def test_hypothesis_profile_follows_the_ci_variable():
    """CI=true loads the derandomized "ci" profile without a database; else "dev"."""
    script = ("import conftest; from hypothesis import settings; "
              "print(settings.default.derandomize, settings.default.database is None)")
    tests = os.path.dirname(os.path.abspath(__file__))
    for ci, expected in (("true", "True True"), (None, "False False")):
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        if ci:
            env["CI"] = ci
        env["PYTHONPATH"] = os.pathsep.join([tests, env.get("PYTHONPATH", "")])
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True).stdout
        assert out.split("\n")[-2] == expected, out
