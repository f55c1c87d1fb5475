"""sgd_update: in place, torch.optim.SGD's semantics, against the reference and torch."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmlp import kernels, reference
from helpers import assert_close, assert_within, sgd_magnitude, torch_or_skip

SETTINGS = [
    dict(),
    dict(weight_decay=0.01),
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True),
    dict(momentum=0.5, nesterov=True, weight_decay=0.1),
    dict(momentum=0.9, dampening=0.5),
    dict(momentum=0.8, dampening=0.1, weight_decay=0.1),
    dict(momentum=0.9, dampening=1.0),
]
SETTING_IDS = ["plain", "decay", "momentum", "nesterov", "nesterov-decay", "dampening",
               "dampening-decay", "full-dampening"]


def run(update, param, grads, lr, **kw):
    """Steps from param through grads, the first with first_step=True (as torch's)."""
    # NaN, not zeros: the first step must not read the velocity.
    velocity = np.full_like(param, np.nan) if kw.get("momentum") else None
    for k, g in enumerate(grads):
        update(param, g, lr, velocity=velocity, first_step=k == 0, **kw)
    return param, velocity


@pytest.mark.parametrize("kw", SETTINGS, ids=SETTING_IDS)
@pytest.mark.parametrize("shape", [(1,), (10,), (30, 7), (3, 4, 5)])
def test_matches_reference(dtype, rng, kw, shape):
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(5)]
    p, v = run(kernels.sgd_update, p0.copy(), grads, 0.1, **kw)
    p_ref, v_ref = run(reference.sgd_update, p0.copy(), grads, 0.1, **kw)
    assert_close(p, p_ref, dtype, scale=10)
    if v is not None:
        assert_close(v, v_ref, dtype, scale=10)


def test_plain_step_formula(dtype):
    p = np.array([1.0, -2.0, 3.0], dtype=dtype)
    out = kernels.sgd_update(p, np.array([1.0, 1.0, -2.0], dtype=dtype), 0.5)
    assert out is p
    np.testing.assert_array_equal(p, [0.5, -2.5, 4.0])


def test_momentum_formula():
    p = np.array([1.0])
    v = np.zeros(1)
    kernels.sgd_update(p, np.array([1.0]), 0.1, momentum=0.9, velocity=v)
    assert v[0] == 1.0 and p[0] == pytest.approx(0.9)
    kernels.sgd_update(p, np.array([1.0]), 0.1, momentum=0.9, velocity=v)
    assert v[0] == pytest.approx(1.9) and p[0] == pytest.approx(0.9 - 0.19)


def test_grad_may_be_any_layout(dtype, rng):
    p = rng.standard_normal((4, 6)).astype(dtype)
    g = np.asfortranarray(rng.standard_normal((4, 6)).astype(dtype))
    expected = p - 0.1 * g
    kernels.sgd_update(p, g, 0.1)
    assert_close(p, expected, dtype)


def test_nothing_else_is_written(rng):
    g = rng.standard_normal(10)
    g_copy = g.copy()
    p = np.zeros(10)
    kernels.sgd_update(p, g, 0.1, momentum=0.9, velocity=np.zeros(10), weight_decay=0.1)
    np.testing.assert_array_equal(g, g_copy)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 200), st.sampled_from([np.float32, np.float64]),
       st.floats(1e-4, 10), st.one_of(st.just(0.0), st.floats(1e-6, 0.99)), st.booleans(),
       st.one_of(st.just(0.0), st.floats(1e-6, 1)), st.integers(0, 2**32 - 1))
def test_property_against_reference(n, dtype, lr, momentum, nesterov, weight_decay, seed):
    rng = np.random.default_rng(seed)
    nesterov = nesterov and momentum > 0
    p0 = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    kw = dict(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    p, _ = run(kernels.sgd_update, p0.copy(), grads, lr, **kw)
    p_ref, _ = run(reference.sgd_update, p0.astype(np.float64),
                   [g.astype(np.float64) for g in grads], lr, **kw)
    assert np.all(np.isfinite(p))
    # With lr * weight_decay near 1 the steps cancel param: the error scales with
    # the terms of the three steps, not with the result.
    assert_within(p, p_ref, dtype, sgd_magnitude(p0, grads, lr, **kw), ulps=24)


P = np.zeros(3)


@pytest.mark.parametrize("param, grad, kw, exc, match", [
    ([0.0, 1.0], np.zeros(2), {}, TypeError, r"param must be a numpy.ndarray.*list"),
    (np.zeros(3, int), np.zeros(3), {}, TypeError, r"param must have dtype float32 or float64"),
    (np.zeros(6)[::2], np.zeros(3), {}, ValueError, r"param must be C-contiguous"),
    (np.zeros(0), np.zeros(0), {}, ValueError, r"param must not be empty"),
    (P, np.zeros(4), {}, ValueError, r"grad must have shape \(3,\).*got \(4,\)"),
    (P, np.zeros(3, np.float32), {}, TypeError, r"grad must have dtype float64.*float32"),
    (P, np.zeros(3), dict(lr=0.0), ValueError, r"lr must be > 0.0; got 0.0"),
    (P, np.zeros(3), dict(lr=-0.1), ValueError, r"lr must be > 0.0; got -0.1"),
    (P, np.zeros(3), dict(lr=np.nan), ValueError, r"lr must be finite; got nan"),
    (P, np.zeros(3), dict(lr="0.1"), TypeError, r"lr must be a real number; got str"),
    (P, np.zeros(3), dict(lr=True), TypeError, r"lr must be a real number; got bool"),
    (P, np.zeros(3), dict(momentum=-0.5), ValueError, r"momentum must be >= 0.0"),
    (P, np.zeros(3), dict(weight_decay=-1.0), ValueError, r"weight_decay must be >= 0.0"),
    (P, np.zeros(3), dict(nesterov=True), ValueError, r"nesterov=True needs momentum > 0"),
    (P, np.zeros(3), dict(momentum=0.9), ValueError, r"velocity is required when momentum"),
    (P, np.zeros(3), dict(momentum=0.9, velocity=np.zeros(4)), ValueError,
     r"velocity must have shape \(3,\); got \(4,\)"),
    (P, np.zeros(3), dict(momentum=0.9, velocity=np.zeros(3, np.float32)), TypeError,
     r"velocity must have dtype float64; got float32"),
    (P, np.zeros(3), dict(momentum=0.9, velocity=P), ValueError,
     r"velocity must not share memory with param"),
    # Scalars: clear messages naming the argument, never OverflowError or a C cast.
    (P, np.zeros(3), dict(lr=10**400), ValueError,
     r"lr must be finite; got a value of type int beyond the range of a float"),
    (P, np.zeros(3), dict(lr=10**5000), ValueError, r"lr must be finite; got a value of type int"),
    (P, np.zeros(3), dict(momentum=Fraction(10**400, 3)), ValueError,
     r"momentum must be finite; got a value of type Fraction"),
    (P, np.zeros(3), dict(weight_decay=-10**400), ValueError, r"weight_decay must be finite"),
    (P, np.zeros(3), dict(lr=None), TypeError, r"lr must be a real number; got NoneType None"),
    (P, np.zeros(3), dict(momentum=None), TypeError, r"momentum must be a real number; got NoneType"),
    (P, np.zeros(3), dict(weight_decay="0.1"), TypeError,
     r"weight_decay must be a real number; got str '0.1'"),
    (P, np.zeros(3), dict(momentum=0.9, velocity=np.zeros(3), nesterov="yes"), TypeError,
     r"nesterov must be True or False; got str 'yes'"),
    (P, np.zeros(3), dict(nesterov=None), TypeError, r"nesterov must be True or False; got NoneType"),
    (P, np.zeros(3), dict(dampening=-0.1), ValueError, r"dampening must be >= 0.0; got -0.1"),
    (P, np.zeros(3), dict(dampening=1.5), ValueError, r"dampening must be <= 1.0; got 1.5"),
    (P, np.zeros(3), dict(dampening=np.nan), ValueError, r"dampening must be finite; got nan"),
    (P, np.zeros(3), dict(dampening="0"), TypeError, r"dampening must be a real number; got str"),
    (P, np.zeros(3), dict(momentum=0.9, velocity=np.zeros(3), nesterov=True, dampening=0.1),
     ValueError, r"nesterov=True needs dampening=0 \(as in torch.optim.SGD\); got dampening=0.1"),
    (P, np.zeros(3), dict(first_step=1), TypeError, r"first_step must be True or False; got int 1"),
    (P, np.zeros(3), dict(first_step=None), TypeError, r"first_step must be True or False"),
    (P, np.zeros(3), dict(momentum=0.9, first_step=True), ValueError,
     r"velocity is required when momentum"),
    (P, np.zeros(3), dict(momentum=0.9, velocity=np.zeros(3), nesterov=1), TypeError,
     r"nesterov must be True or False; got int 1"),
    # float32 arrays compute in float32: lr must neither overflow nor vanish there.
    (np.zeros(3, np.float32), np.zeros(3, np.float32), dict(lr=1e300), ValueError,
     r"lr must be at most 3.403e\+38 in magnitude for float32 arrays.*got 1e\+300"),
    (np.zeros(3, np.float32), np.zeros(3, np.float32),
     dict(momentum=1e-300, velocity=np.zeros(3, np.float32)), ValueError,
     r"momentum must be at least 1.401e-45 in magnitude for float32 arrays, or it rounds to 0"),
    (np.zeros(3, np.float32), np.zeros(3, np.float32), dict(weight_decay=1e39), ValueError,
     r"weight_decay must be at most 3.403e\+38"),
    (np.zeros(3, np.float32), np.zeros(3, np.float32), dict(dampening=1e-50), ValueError,
     r"dampening must be at least 1.401e-45 in magnitude for float32 arrays"),
])
def test_errors(param, grad, kw, exc, match):
    kw = {"lr": 0.1, **kw}
    lr = kw.pop("lr")
    with pytest.raises(exc, match=match):
        kernels.sgd_update(param, grad, lr, **kw)


@pytest.mark.parametrize("kw", [dict(lr=np.float32(0.5)), dict(lr=Fraction(1, 2)),
                                dict(lr=np.int64(1), weight_decay=np.float64(0.5)),
                                dict(momentum=np.float32(0.5), nesterov=np.bool_(True))],
                         ids=["np.float32", "Fraction", "numpy ints and floats", "np.bool_"])
def test_numpy_and_exact_scalars_are_accepted(dtype, kw):
    kw = {"lr": 0.5, **kw}
    p, g = np.ones(3, dtype), np.ones(3, dtype)
    v = np.zeros(3, dtype) if kw.get("momentum") else None
    p_ref, v_ref = p.astype(np.float64), None if v is None else np.zeros(3)
    reference.sgd_update(p_ref, g.astype(np.float64), **{**kw, "lr": float(kw["lr"])},
                         velocity=v_ref)
    kernels.sgd_update(p, g, velocity=v, **kw)
    assert_close(p, p_ref, dtype)


def test_partially_overlapping_param_and_grad_are_refused():
    buf = np.full(11, 0.5)
    with pytest.raises(ValueError, match=r"param overlaps grad in memory without being the "
                                         r"same array"):
        kernels.sgd_update(buf[1:], buf[:-1], 1.0)
    np.testing.assert_array_equal(buf, 0.5)


@pytest.mark.parametrize("kw", SETTINGS, ids=SETTING_IDS)
def test_param_as_its_own_gradient(dtype, rng, kw):
    # param is grad: each entry reads param[i] (as both) before writing it.
    p0 = rng.standard_normal(12).astype(dtype)
    velocity = (lambda: np.zeros(12, dtype)) if kw.get("momentum") else (lambda: None)
    separate = kernels.sgd_update(p0.copy(), p0.copy(), 0.1, velocity=velocity(), **kw)
    p = p0.copy()
    assert kernels.sgd_update(p, p, 0.1, velocity=velocity(), **kw) is p
    np.testing.assert_array_equal(p, separate)
    p_ref = p0.astype(np.float64)
    reference.sgd_update(p_ref, p_ref.copy(), 0.1, **kw,
                         velocity=np.zeros(12) if kw.get("momentum") else None)
    assert_close(p, p_ref, dtype)


def test_zero_dimensional_param(dtype):
    p, v = np.array(1.5, dtype), np.zeros((), dtype)
    assert kernels.sgd_update(p, np.array(1.0, dtype), 0.5, momentum=0.9, velocity=v) is p
    assert p.shape == () and p == 1.0 and v == 1.0
    kernels.sgd_update(p, dtype(1.0), 0.5)  # a NumPy scalar gradient is 0-d too
    assert p == 0.5


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own
def test_matrix_param_and_velocity_are_updated_in_place(dtype):
    p = np.asmatrix(np.ones((2, 3), dtype))
    v = np.asmatrix(np.zeros((2, 3), dtype))
    assert kernels.sgd_update(p, np.full((2, 3), 2.0, dtype), 0.25, momentum=0.5,
                              velocity=v) is p
    assert type(p) is np.matrix
    np.testing.assert_array_equal(np.asarray(v), 2.0)
    np.testing.assert_array_equal(np.asarray(p), 0.5)


def test_memmap_param_is_updated_in_place(dtype, tmp_path):
    p = np.memmap(tmp_path / "param.bin", dtype=dtype, mode="w+", shape=(4,))
    p[:] = 1.0
    assert kernels.sgd_update(p, np.ones(4, dtype), 0.5) is p
    p.flush()
    np.testing.assert_array_equal(np.fromfile(tmp_path / "param.bin", dtype), 0.5)


def test_read_only_param_and_velocity():
    p = np.zeros(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="param is read-only"):
        kernels.sgd_update(p, np.zeros(3), 0.1)
    v = np.zeros(3)
    v.flags.writeable = False
    with pytest.raises(ValueError, match="velocity is read-only"):
        kernels.sgd_update(np.zeros(3), np.zeros(3), 0.1, momentum=0.9, velocity=v)


def test_errors_leave_param_untouched():
    p = np.ones(3)
    with pytest.raises(ValueError):
        kernels.sgd_update(p, np.ones(3), 0.1, momentum=0.9)
    np.testing.assert_array_equal(p, 1)


@pytest.mark.parametrize("kw", SETTINGS, ids=SETTING_IDS)
def test_matches_torch(dtype, rng, kw):
    torch = torch_or_skip()
    p0 = rng.standard_normal((5, 4)).astype(dtype)
    grads = [rng.standard_normal((5, 4)).astype(dtype) for _ in range(6)]
    pt = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = torch.optim.SGD([pt], lr=0.05, **kw)
    for g in grads:
        pt.grad = torch.from_numpy(g.copy())
        opt.step()
    p, _ = run(kernels.sgd_update, p0.copy(), grads, 0.05, **kw)
    assert_close(p, pt.detach().numpy(), dtype, scale=10)


def test_dampening_and_first_step_formula():
    # torch: the buffer starts as the first gradient, undamped; later ones enter damped.
    p, v = np.array([1.0]), np.full(1, np.nan)
    kernels.sgd_update(p, np.array([2.0]), 0.1, momentum=0.5, velocity=v, dampening=0.25,
                       first_step=True)
    assert v[0] == 2.0 and p[0] == pytest.approx(0.8)
    kernels.sgd_update(p, np.array([2.0]), 0.1, momentum=0.5, velocity=v, dampening=0.25)
    assert v[0] == pytest.approx(0.5 * 2.0 + 0.75 * 2.0) and p[0] == pytest.approx(0.8 - 0.25)


def test_first_step_without_momentum_is_plain_sgd(dtype):
    p = np.array([1.0, 2.0], dtype)
    kernels.sgd_update(p, np.array([1.0, 1.0], dtype), 0.5, first_step=True, dampening=0.5)
    np.testing.assert_array_equal(p, [0.5, 1.5])


def test_zero_velocity_start_equals_first_step_without_dampening(dtype, rng):
    p0, grads = rng.standard_normal(9).astype(dtype), [rng.standard_normal(9).astype(dtype)] * 2
    a, b = p0.copy(), p0.copy()
    va, vb = np.zeros(9, dtype), np.full(9, np.nan, dtype)
    for k, g in enumerate(grads):
        kernels.sgd_update(a, g, 0.1, momentum=0.9, velocity=va)
        kernels.sgd_update(b, g, 0.1, momentum=0.9, velocity=vb, first_step=k == 0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(va, vb)


# --- scikit-learn's rule (lr_in_velocity) ------------------------------------------

def sklearn_run(update, p0, grads, lrs, **kw):
    """Steps of update with lr_in_velocity from p0 through grads, step k at lr lrs[k],
    the velocity from zeros (scikit-learn's start)."""
    p, v = p0.copy(), np.zeros_like(p0)
    for g, lr in zip(grads, lrs):
        assert update(p, g, lr, velocity=v, lr_in_velocity=True, **kw) is p
    return p, v


def invscaling_lrs(steps, per_epoch=2, lr=0.1, power_t=0.5, rows=7):
    """scikit-learn's invscaling rate of each step, epochs of ``per_epoch`` steps over
    ``rows`` rows."""
    return [lr / (k // per_epoch * rows + 1) ** power_t if k >= per_epoch else lr
            for k in range(steps)]


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
def test_lr_in_velocity_matches_scikit_learn(dtype, rng, nesterov, schedule):
    stochastic = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    p0 = rng.standard_normal((6, 5)).astype(dtype)
    grads = [rng.standard_normal((6, 5)).astype(dtype) for _ in range(8)]
    p_sk = p0.copy()
    opt = stochastic.SGDOptimizer([p_sk], learning_rate_init=0.1, lr_schedule=schedule,
                                  momentum=0.9, nesterov=nesterov, power_t=0.5)
    lrs = []
    for k, g in enumerate(grads):
        lrs.append(opt.learning_rate)
        opt.update_params([p_sk], [g])
        if k % 2 == 1:  # an epoch of 2 steps over 7 rows ends
            opt.iteration_ends((k // 2 + 1) * 7)
    assert (len(set(lrs)) > 1) == (schedule == "invscaling")
    p, v = sklearn_run(kernels.sgd_update, p0, grads, lrs, momentum=0.9, nesterov=nesterov)
    assert p.dtype == dtype
    assert_close(p, p_sk, dtype)
    assert_close(v, opt.velocities[0], dtype)


@pytest.mark.parametrize("kw", [dict(momentum=0.9), dict(momentum=0.5, nesterov=True),
                                dict(momentum=0.9, nesterov=True, weight_decay=0.1),
                                dict(momentum=0.0)],
                         ids=["momentum", "nesterov", "nesterov-decay", "no-momentum"])
def test_lr_in_velocity_matches_reference(dtype, rng, kw):
    p0 = rng.standard_normal(37).astype(dtype)
    grads = [rng.standard_normal(37).astype(dtype) for _ in range(6)]
    lrs = invscaling_lrs(6)
    p, v = sklearn_run(kernels.sgd_update, p0, grads, lrs, **kw)
    p_ref, v_ref = sklearn_run(reference.sgd_update, p0.astype(np.float64),
                               [g.astype(np.float64) for g in grads], lrs, **kw)
    assert_close(p, p_ref, dtype, scale=10)
    assert_close(v, v_ref, dtype, scale=10)


def test_lr_in_velocity_formula():
    # v = 0.5 * 0 - 0.1 * 2 = -0.2; p = 1 - 0.2; then v = 0.5 * -0.2 - 0.05 * 2 = -0.2.
    p, v = np.array([1.0]), np.zeros(1)
    kernels.sgd_update(p, np.array([2.0]), 0.1, momentum=0.5, velocity=v, lr_in_velocity=True)
    assert v[0] == pytest.approx(-0.2) and p[0] == pytest.approx(0.8)
    kernels.sgd_update(p, np.array([2.0]), 0.05, momentum=0.5, velocity=v, lr_in_velocity=True)
    assert v[0] == pytest.approx(-0.2) and p[0] == pytest.approx(0.6)
    # Nesterov adds momentum * v - lr * g with the new v: 0.5 * -0.2 - 0.1 * 2 = -0.3.
    p, v = np.array([1.0]), np.zeros(1)
    kernels.sgd_update(p, np.array([2.0]), 0.1, momentum=0.5, velocity=v, nesterov=True,
                       lr_in_velocity=True)
    assert v[0] == pytest.approx(-0.2) and p[0] == pytest.approx(0.7)


def test_lr_in_velocity_agrees_with_torch_rule_only_at_a_constant_lr(rng):
    p0 = rng.standard_normal(20)
    grads = [rng.standard_normal(20) for _ in range(6)]
    for lrs, same in (([0.1] * 6, True), (invscaling_lrs(6), False)):
        sk, _ = sklearn_run(kernels.sgd_update, p0, grads, lrs, momentum=0.9, nesterov=True)
        p, v = p0.copy(), np.zeros(20)
        for g, lr in zip(grads, lrs):
            kernels.sgd_update(p, g, lr, momentum=0.9, velocity=v, nesterov=True)
        if same:
            np.testing.assert_allclose(sk, p, rtol=1e-13, atol=1e-13)
        else:
            assert np.abs(sk - p).max() > 1e-3


def test_lr_in_velocity_stays_finite_at_extremes(dtype):
    # Gradients near the dtype's largest value, times a small lr: finite steps.
    big = np.finfo(dtype).max / 4
    p, v = np.zeros(3, dtype), np.zeros(3, dtype)
    g = np.array([big, -big, 0.0], dtype)
    for _ in range(3):
        kernels.sgd_update(p, g, 1e-3, momentum=0.5, velocity=v, nesterov=True,
                           lr_in_velocity=True)
    assert np.isfinite(p).all() and np.isfinite(v).all() and p[2] == 0
    assert p[0] < 0 < p[1]


@pytest.mark.parametrize("kw, exc, match", [
    (dict(lr_in_velocity=1), TypeError, r"lr_in_velocity must be True or False; got int 1"),
    (dict(lr_in_velocity=True, dampening=0.1), ValueError,
     r"lr_in_velocity=True \(scikit-learn's momentum\) needs dampening=0; got dampening=0.1"),
    (dict(lr_in_velocity=True, momentum=0.9), ValueError, r"velocity is required"),
])
def test_lr_in_velocity_errors(kw, exc, match):
    p = np.ones(3)
    with pytest.raises(exc, match=match):
        kernels.sgd_update(p, np.ones(3), 0.1, **kw)
    np.testing.assert_array_equal(p, 1)
