"""The finite-difference gradient checker: right on known gradients, loud on wrong ones."""
import numpy as np
import pytest

from fastmlp import gradcheck


def test_numerical_gradient_of_known_functions(rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(gradcheck.numerical_gradient(lambda v: np.sum(v ** 2), x),
                               2 * x, rtol=1e-8, atol=1e-9)
    A = rng.standard_normal((4, 4))
    f = lambda v: np.sum(np.sin(v @ A))  # noqa: E731
    np.testing.assert_allclose(gradcheck.numerical_gradient(f, x), np.cos(x @ A) @ A.T,
                               rtol=1e-6, atol=1e-8)


def test_point_is_not_modified(rng):
    x = rng.standard_normal(5)
    copy = x.copy()
    gradcheck.numerical_gradient(lambda v: np.sum(v ** 3), x)
    np.testing.assert_array_equal(x, copy)


def test_gradcheck_accepts_right_and_rejects_wrong(rng):
    x = rng.standard_normal(6)
    _, good = gradcheck.gradcheck(lambda v: np.sum(np.exp(v)), x, np.exp(x))
    _, bad = gradcheck.gradcheck(lambda v: np.sum(np.exp(v)), x, 1.01 * np.exp(x))
    assert good < 1e-8
    assert bad > 5e-3


def test_vjp_check(rng):
    x = rng.standard_normal(5)
    cot = rng.standard_normal(5)
    _, good = gradcheck.vjp_check(np.tanh, x, cot, cot * (1 - np.tanh(x) ** 2))
    _, bad = gradcheck.vjp_check(np.tanh, x, cot, cot * (1 - np.tanh(x)))
    assert good < 1e-7 and bad > 1e-2


def test_relative_error():
    assert gradcheck.relative_error([1.0, 0.0], [1.0, 0.0]) == 0
    assert gradcheck.relative_error([2.0], [1.0]) == 0.5
    # Both near zero: the floor keeps rounding noise from looking like an error.
    assert gradcheck.relative_error([1e-12], [-1e-12]) < 1e-3
    with pytest.raises(ValueError, match=r"analytic gradient has shape \(2,\) but the numeric one has \(3,\)"):
        gradcheck.relative_error(np.zeros(2), np.zeros(3))
