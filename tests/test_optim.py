"""adam_update against the reference, torch.optim.Adam/AdamW and scikit-learn's Adam;
its extreme values and bad input; the fastmlp.optim objects."""
import copy
import pickle
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmlp import kernels, reference
from fastmlp.optim import SGD, Adam, AdamW
from helpers import assert_close, torch_or_skip

OPTIONS = [
    dict(),
    dict(amsgrad=True),
    dict(weight_decay=0.1),
    dict(weight_decay=0.1, decoupled_weight_decay=True),
    dict(weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True),
    dict(betas=(0.3, 0.99)),  # 1 - beta1 >= 0.5: torch's lerp from the gradient's end
    dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, amsgrad=True, weight_decay=0.01),
    dict(eps_before_correction=True),
    dict(eps_before_correction=True, weight_decay=0.1, amsgrad=True),
]
OPTION_IDS = ["plain", "amsgrad", "l2", "adamw", "adamw-amsgrad", "small-beta1", "mixed",
              "sklearn", "sklearn-l2-amsgrad"]


def run(update, p0, grads, **kw):
    """Steps 1, 2, ... of adam_update from p0 through grads: (param, state buffers)."""
    p = p0.copy()
    state = [np.zeros_like(p) for _ in range(3 if kw.get("amsgrad") else 2)]
    for t, g in enumerate(grads, 1):
        assert update(p, g, state[0], state[1], t,
                      max_exp_avg_sq=state[2] if len(state) == 3 else None, **kw) is p
    return p, state


def data(rng, dtype, shape=(6, 5), steps=5):
    p0 = rng.standard_normal(shape).astype(dtype)
    return p0, [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


@pytest.mark.parametrize("kw", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize("shape", [(1,), (37,), (6, 5), (2, 3, 4)])
def test_matches_reference(dtype, rng, kw, shape):
    p0, grads = data(rng, dtype, shape)
    p, state = run(kernels.adam_update, p0, grads, **kw)
    p_ref, state_ref = run(reference.adam_update, p0, grads, **kw)
    assert p.dtype == dtype
    assert_close(p, p_ref, dtype, scale=10)
    for s, s_ref in zip(state, state_ref):
        assert_close(s, s_ref, dtype, scale=10)


def run_torch(torch, p0, grads, **kw):
    kw = dict(kw)
    cls = torch.optim.AdamW if kw.pop("decoupled_weight_decay", False) else torch.optim.Adam
    kw.setdefault("weight_decay", 0.0)
    pt = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = cls([pt], **kw)
    for g in grads:
        pt.grad = torch.from_numpy(g.copy())
        opt.step()
    st_ = opt.state[pt]
    state = [st_["exp_avg"], st_["exp_avg_sq"]] + ([st_["max_exp_avg_sq"]]
                                                   if kw.get("amsgrad") else [])
    return pt.detach().numpy(), [s.numpy() for s in state]


@pytest.mark.parametrize("kw", [k for k in OPTIONS if "eps_before_correction" not in k],
                         ids=[i for k, i in zip(OPTIONS, OPTION_IDS)
                              if "eps_before_correction" not in k])
def test_matches_torch(dtype, rng, kw):
    torch = torch_or_skip()
    p0, grads = data(rng, dtype)
    p, state = run(kernels.adam_update, p0, grads, **kw)
    p_torch, state_torch = run_torch(torch, p0, grads, **kw)
    assert_close(p, p_torch, dtype)
    for s, s_torch in zip(state, state_torch):
        assert_close(s, s_torch, dtype)


@pytest.mark.parametrize("kw", [dict(), dict(lr=0.05, betas=(0.5, 0.9), eps=1e-4)],
                         ids=["defaults", "other"])
def test_eps_before_correction_matches_scikit_learn(dtype, rng, kw):
    stochastic = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    p0, grads = data(rng, dtype)
    beta_1, beta_2 = kw.get("betas", (0.9, 0.999))
    p_sk = p0.copy()
    opt = stochastic.AdamOptimizer([p_sk], learning_rate_init=kw.get("lr", 1e-3), beta_1=beta_1,
                                   beta_2=beta_2, epsilon=kw.get("eps", 1e-8))
    for g in grads:
        opt.update_params([p_sk], [g])
    p, (m, v) = run(kernels.adam_update, p0, grads, eps_before_correction=True, **kw)
    assert_close(p, p_sk, dtype)
    assert_close(m, opt.ms[0], dtype)
    assert_close(v, opt.vs[0], dtype)


def test_eps_placement_differs_from_torch(rng):
    # The two placements differ by eps * (1 - sqrt(1 - beta2**t)) in the denominator:
    # visible for gradients of the size of eps.
    p0, grads = data(rng, np.float64)
    grads = [g * 1e-8 for g in grads]
    torch_like, _ = run(kernels.adam_update, p0, grads)
    sklearn_like, _ = run(kernels.adam_update, p0, grads, eps_before_correction=True)
    assert np.all(np.abs(torch_like - sklearn_like) > 1e-6)


@pytest.mark.parametrize("kw", OPTIONS, ids=OPTION_IDS)
def test_param_as_its_own_gradient(dtype, rng, kw):
    # AdamW decays param before it adds the step: the gradient must be the old param.
    p0 = rng.standard_normal(12).astype(dtype)
    separate, _ = run(kernels.adam_update, p0, [p0.copy()], **kw)
    p = p0.copy()
    state = [np.zeros_like(p) for _ in range(3)]
    kernels.adam_update(p, p, state[0], state[1], 1,
                        max_exp_avg_sq=state[2] if kw.get("amsgrad") else None, **kw)
    np.testing.assert_array_equal(p, separate)


def test_first_step_formula():
    # Step 1: m = 0.1 g, v = 0.001 g^2, the corrected ratio is sign(g): param -= lr.
    p, m, v = np.array([1.0, 2.0, 3.0]), np.zeros(3), np.zeros(3)
    kernels.adam_update(p, np.array([4.0, -0.5, 0.0]), m, v, 1, lr=0.1, eps=0.0)
    np.testing.assert_allclose(p, [0.9, 2.1, 3.0], rtol=1e-15)
    np.testing.assert_allclose(m, [0.4, -0.05, 0.0], rtol=1e-15)
    np.testing.assert_allclose(v, [0.016, 0.00025, 0.0], rtol=1e-15)


def test_adamw_decays_before_the_step():
    p, m, v = np.array([2.0]), np.zeros(1), np.zeros(1)
    kernels.adam_update(p, np.array([0.0]), m, v, 1, lr=0.1, weight_decay=0.5,
                        decoupled_weight_decay=True)
    assert p[0] == 2.0 * (1 - 0.1 * 0.5)
    p, m, v = np.array([2.0]), np.zeros(1), np.zeros(1)
    kernels.adam_update(p, np.array([0.0]), m, v, 1, lr=0.1, weight_decay=0.5)
    assert m[0] == pytest.approx(0.1) and p[0] == pytest.approx(1.9)


def test_amsgrad_keeps_the_largest_second_moment():
    p, m, v, v_max = np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1)
    kernels.adam_update(p, np.array([10.0]), m, v, 1, amsgrad=True, max_exp_avg_sq=v_max)
    kernels.adam_update(p, np.array([0.0]), m, v, 2, amsgrad=True, max_exp_avg_sq=v_max)
    assert v_max[0] == pytest.approx(0.1) and v[0] < v_max[0]


# --- extreme values --------------------------------------------------------------

@pytest.mark.parametrize("kw", OPTIONS, ids=OPTION_IDS)
def test_zero_gradients_with_eps_zero_leave_param_unchanged(dtype, kw):
    # 0 / (sqrt(0) + 0) is NaN in torch; here the entry keeps its value.
    kw = {**kw, "eps": 0.0}
    p0 = np.array([1.5, -2.0, 0.0, -0.0], dtype)
    p, state = run(kernels.adam_update, p0, [np.zeros(4, dtype)] * 3, **kw)
    decay = (1 - kw.get("lr", 1e-3) * kw["weight_decay"]) ** 3 \
        if kw.get("decoupled_weight_decay") else 1.0
    expected = p0 * dtype(decay) if decay != 1.0 else p0
    p_ref, _ = run(reference.adam_update, p0, [np.zeros(4, dtype)] * 3, **kw)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(state))
    if not kw.get("weight_decay") or kw.get("decoupled_weight_decay"):
        assert_close(p, expected, dtype)
    np.testing.assert_array_equal(p, p_ref)
    assert np.signbit(p[3]) == np.signbit(p0[3])


def test_zero_gradients_with_default_eps_do_not_move(dtype):
    p0 = np.array([1.0, -3.0], dtype)
    p, _ = run(kernels.adam_update, p0, [np.zeros(2, dtype)] * 4)
    np.testing.assert_array_equal(p, p0)


def test_underflowing_square_with_eps_zero_is_not_inf():
    # g*g underflows to 0, so v = 0 while m != 0: torch divides m by 0 (-inf).
    p0 = np.array([1.0])
    p, (m, v) = run(kernels.adam_update, p0, [np.array([1e-170])], eps=0.0)
    assert m[0] > 0 and v[0] == 0 and p[0] == 1.0


@pytest.mark.parametrize("kw", OPTIONS, ids=OPTION_IDS)
def test_huge_gradients_in_float64(kw, rng):
    # Adam's step is invariant to the gradient's scale: 1e30 moves each entry by about lr.
    p0, grads = data(rng, np.float64)
    grads = [g * 1e30 for g in grads]
    p, _ = run(kernels.adam_update, p0, grads, **kw)
    p_ref, _ = run(reference.adam_update, p0, grads, **kw)
    assert np.all(np.isfinite(p))
    assert_close(p, p_ref, np.float64, scale=10)
    assert np.all(np.abs(p - p0) <= 5 * 10 * kw.get("lr", 1e-3) + 1e-12)


def test_huge_gradients_overflow_float32_as_in_torch():
    # (1 - beta2) * g * g overflows float32 for |g| beyond ~1.8e19: v becomes inf and the
    # entry stops moving (m / inf = 0), in torch as here; nothing becomes NaN.
    g = np.array([1e30, -1e30, 1e10], np.float32)
    p0 = np.array([1.0, 2.0, 3.0], np.float32)
    grads = [g, g, np.ones(3, np.float32)]
    p, (m, v) = run(kernels.adam_update, p0, grads)
    assert np.all(np.isinf(v[:2])) and np.isfinite(v[2])
    np.testing.assert_array_equal(p[:2], p0[:2])
    assert p[2] < p0[2] and np.all(np.isfinite(m))
    torch = pytest.importorskip("torch")
    p_torch, (m_torch, v_torch) = run_torch(torch, p0, grads)
    np.testing.assert_array_equal(p[:2], p_torch[:2])
    np.testing.assert_array_equal(v[:2], v_torch[:2])
    assert_close(p, p_torch, np.float32)


def test_decay_factor_is_exact_without_decay(dtype):
    p0 = np.array([np.inf, -np.inf, 1.0], dtype)
    p, _ = run(kernels.adam_update, p0, [np.ones(3, dtype)])
    assert p[0] == np.inf and p[1] == -np.inf


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 64), st.sampled_from([np.float32, np.float64]),
       st.floats(1e-5, 1.0), st.one_of(st.just(0.0), st.floats(1e-3, 0.99)),
       st.one_of(st.just(0.0), st.floats(1e-3, 0.9999)),
       st.sampled_from([0.0, 1e-8, 1e-3]), st.sampled_from([0.0, 0.01, 1.0]),
       st.booleans(), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_property_against_reference(n, dtype, lr, beta1, beta2, eps, weight_decay, amsgrad,
                                    decoupled, eps_before_correction, seed):
    rng = np.random.default_rng(seed)
    p0, grads = data(rng, dtype, (n,), steps=3)
    kw = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
              decoupled_weight_decay=decoupled, eps_before_correction=eps_before_correction)
    p, state = run(kernels.adam_update, p0, grads, **kw)
    p_ref, _ = run(reference.adam_update, p0, grads, **kw)
    assert np.all(np.isfinite(p)) and all(np.all(np.isfinite(s)) for s in state)
    # Each step moves an entry by at most about lr / (1 - beta1) times the bias-correction
    # ratio; the error is a few ulps of the steps and of param.
    magnitude = np.abs(p0.astype(np.float64)) + 3 * lr * 50
    np.testing.assert_array_less(np.abs(p.astype(np.float64) - p_ref),
                                 64 * np.finfo(dtype).eps * magnitude + 1e-30)


# --- bad input --------------------------------------------------------------------

Z = np.zeros(3)


def call(**kw):
    args = dict(param=np.zeros(3), grad=np.ones(3), exp_avg=np.zeros(3), exp_avg_sq=np.zeros(3),
                step=1)
    args.update(kw)
    return kernels.adam_update(**args)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(param=[0.0, 1.0]), TypeError, r"param must be a numpy.ndarray"),
    (dict(grad=np.zeros(4)), ValueError, r"grad must have shape \(3,\).*got \(4,\)"),
    (dict(exp_avg=None), ValueError, r"exp_avg is required: pass np.zeros\(\(3,\), "
                                     r"dtype=np.float64\)"),
    (dict(exp_avg_sq=None), ValueError, r"exp_avg_sq is required"),
    (dict(exp_avg=np.zeros(4)), ValueError, r"exp_avg must have shape \(3,\); got \(4,\)"),
    (dict(exp_avg_sq=np.zeros(3, np.float32)), TypeError,
     r"exp_avg_sq must have dtype float64; got float32"),
    (dict(exp_avg=[0.0, 0.0, 0.0]), TypeError, r"exp_avg must be a numpy.ndarray.*list"),
    (dict(exp_avg=np.zeros(6)[::2]), ValueError, r"exp_avg must be C-contiguous"),
    (dict(exp_avg=Z, exp_avg_sq=Z), ValueError, r"exp_avg_sq must not share memory with "
                                                r"exp_avg"),
    (dict(param=Z, exp_avg=Z), ValueError, r"exp_avg must not share memory with param"),
    (dict(grad=Z, exp_avg_sq=Z), ValueError, r"exp_avg_sq must not share memory with grad"),
    (dict(amsgrad=True), ValueError, r"max_exp_avg_sq is required when amsgrad=True: pass "
                                     r"np.zeros"),
    (dict(amsgrad=True, max_exp_avg_sq=np.zeros(2)), ValueError,
     r"max_exp_avg_sq must have shape \(3,\); got \(2,\)"),
    (dict(amsgrad=True, exp_avg=Z, max_exp_avg_sq=Z), ValueError,
     r"max_exp_avg_sq must not share memory with exp_avg"),
    (dict(step=0), ValueError, r"step must be >= 1; got 0"),
    (dict(step=-3), ValueError, r"step must be >= 1; got -3"),
    (dict(step=1.0), TypeError, r"step must be an integer; got float 1.0"),
    (dict(step=True), TypeError, r"step must be an integer; got bool True"),
    (dict(step=None), TypeError, r"step must be an integer; got NoneType"),
    (dict(lr=0.0), ValueError, r"lr must be > 0.0; got 0.0"),
    (dict(lr=np.inf), ValueError, r"lr must be finite; got inf"),
    (dict(lr="0.1"), TypeError, r"lr must be a real number; got str"),
    (dict(betas=(1.0, 0.9)), ValueError, r"betas\[0\] must be < 1.0; got 1.0"),
    (dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be >= 0.0; got -0.1"),
    (dict(betas=(0.9, np.nan)), ValueError, r"betas\[1\] must be finite; got nan"),
    (dict(betas=(0.9, "0.9")), TypeError, r"betas\[1\] must be a real number; got str"),
    (dict(betas=0.9), TypeError, r"betas must be a pair \(beta1, beta2\) of numbers in "
                                 r"\[0, 1\); got float 0.9"),
    (dict(betas=(0.9,)), TypeError, r"betas must be a pair .*got tuple \(0.9,\)"),
    (dict(betas="ab"), TypeError, r"betas must be a pair .*got str 'ab'"),
    (dict(eps=-1e-8), ValueError, r"eps must be >= 0.0; got -1e-08"),
    (dict(eps=None), TypeError, r"eps must be a real number; got NoneType"),
    (dict(weight_decay=-0.1), ValueError, r"weight_decay must be >= 0.0; got -0.1"),
    (dict(amsgrad="yes"), TypeError, r"amsgrad must be True or False; got str 'yes'"),
    (dict(decoupled_weight_decay=1), TypeError,
     r"decoupled_weight_decay must be True or False; got int 1"),
    (dict(eps_before_correction=None), TypeError,
     r"eps_before_correction must be True or False; got NoneType"),
    # float32 computes in float32: settings must neither overflow nor vanish there.
    (dict(param=np.zeros(3, np.float32), grad=np.ones(3, np.float32),
          exp_avg=np.zeros(3, np.float32), exp_avg_sq=np.zeros(3, np.float32), eps=1e-50),
     ValueError, r"eps must be at least 1.401e-45 in magnitude for float32 arrays, or it "
                 r"rounds to 0; got 1e-50"),
    (dict(param=np.zeros(3, np.float32), grad=np.ones(3, np.float32),
          exp_avg=np.zeros(3, np.float32), exp_avg_sq=np.zeros(3, np.float32), lr=1e39),
     ValueError, r"lr must be at most 3.403e\+38 in magnitude for float32 arrays"),
])
def test_errors(kw, exc, match):
    with pytest.raises(exc, match=match):
        call(**kw)


@pytest.mark.parametrize("update, kw", [
    (kernels.adam_update, dict(exp_avg=np.zeros(4), exp_avg_sq=np.zeros(4), step=1)),
    (kernels.adam_update, dict(exp_avg=np.zeros(4), exp_avg_sq=np.zeros(4), step=1,
                               amsgrad=True, max_exp_avg_sq=np.zeros(4))),
    (kernels.sgd_update, dict(lr=0.1)),
    (kernels.sgd_update, dict(lr=0.1, momentum=0.9, velocity=np.zeros(4), first_step=True)),
    (kernels.sgd_update, dict(lr=0.1, momentum=0.9, velocity=np.zeros(4),
                              lr_in_velocity=True)),
], ids=["adam", "amsgrad", "sgd", "momentum", "sklearn-momentum"])
def test_the_gradient_may_be_read_only_and_is_left_as_it_is(update, kw):
    # (The compiled step has the same loops clear its own gradient buffer as they
    # read it; the public kernels never write to grad.)
    grad = np.array([0.5, -1.0, 2.0, 0.0])
    grad.flags.writeable = False
    p = np.ones(4)
    update(p, grad, **kw)
    np.testing.assert_array_equal(grad, [0.5, -1.0, 2.0, 0.0])
    assert not np.array_equal(p, 1)


def test_read_only_state():
    for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        ro = np.zeros(3)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match=f"{name} is read-only"):
            call(**{"amsgrad": True, "max_exp_avg_sq": np.zeros(3), name: ro})


def test_errors_leave_everything_untouched():
    p, m, v = np.ones(3), np.full(3, 0.5), np.full(3, 0.25)
    with pytest.raises(ValueError):
        kernels.adam_update(p, np.ones(3), m, v, 1, amsgrad=True)
    np.testing.assert_array_equal(p, 1)
    np.testing.assert_array_equal(m, 0.5)
    np.testing.assert_array_equal(v, 0.25)


def test_exact_and_numpy_scalars_are_accepted(dtype):
    p, state = run(kernels.adam_update, np.ones(3, dtype), [np.ones(3, dtype)],
                   lr=Fraction(1, 10), betas=[np.float32(0.5), np.float64(0.75)], eps=0,
                   weight_decay=np.int64(0), amsgrad=np.bool_(True))
    p_ref, _ = run(reference.adam_update, np.ones(3, dtype), [np.ones(3, dtype)], lr=0.1,
                   betas=(0.5, 0.75), eps=0.0, amsgrad=True)
    assert_close(p, p_ref, dtype)
    kernels.adam_update(p, np.ones(3, dtype), *state[:2], np.int32(2))


def test_zero_dimensional_param(dtype):
    p, m, v = np.array(1.5, dtype), np.zeros((), dtype), np.zeros((), dtype)
    assert kernels.adam_update(p, dtype(2.0), m, v, 1, lr=0.5) is p
    assert p.shape == () and p == pytest.approx(1.0, rel=1e-6)


# --- the optimizer objects ------------------------------------------------------

FIELDS = {"rule", "lr", "momentum", "dampening", "nesterov", "weight_decay", "l2", "beta1",
          "beta2", "eps", "amsgrad", "decoupled", "eps_before_correction", "lr_in_velocity"}
OBJECTS = [SGD(0.1), SGD(0.05, momentum=0.9, dampening=0.1, weight_decay=1e-4, l2=0.5),
           SGD(0.1, momentum=0.9, nesterov=True),
           SGD(0.1, momentum=0.9, nesterov=True, l2=1e-4, lr_in_velocity=True), Adam(),
           Adam(0.01, (0.8, 0.99), 1e-6, 0.1, True, 1e-4, True),
           AdamW(), AdamW(1e-2, amsgrad=True, weight_decay=0.0)]


@pytest.mark.parametrize("opt", OBJECTS, ids=repr)
def test_repr_round_trips_and_equality(opt):
    again = eval(repr(opt), {"SGD": SGD, "Adam": Adam, "AdamW": AdamW})
    assert again == opt and hash(again) == hash(opt) and repr(again) == repr(opt)
    assert copy.deepcopy(opt) == opt and pickle.loads(pickle.dumps(opt)) == opt


def test_equality_is_by_class_and_settings():
    assert SGD(0.1) != SGD(0.2) and SGD(0.1) != Adam(0.1)
    assert Adam(weight_decay=0.01) != AdamW(weight_decay=0.01)
    assert len({SGD(0.1), SGD(0.1), Adam()}) == 2


@pytest.mark.parametrize("opt", OBJECTS, ids=repr)
def test_immutable(opt):
    for name in ("lr", "momentum", "betas", "rule", "new_attribute"):
        with pytest.raises(AttributeError, match="is immutable"):
            setattr(opt, name, 1.0)
    with pytest.raises(AttributeError, match="is immutable"):
        del opt.lr
    with pytest.raises(AttributeError, match="has no attribute 'lrr'"):
        opt.lrr


def test_every_class_has_every_attribute():
    sgd, adam, adamw = SGD(0.1, momentum=0.9, dampening=0.2), Adam(amsgrad=True), AdamW()
    assert (sgd.rule, adam.rule, adamw.rule) == ("sgd", "adam", "adam")
    assert (sgd.betas, sgd.eps, sgd.amsgrad, sgd.decoupled_weight_decay,
            sgd.eps_before_correction) == ((0.0, 0.0), 0.0, False, False, False)
    assert (adam.momentum, adam.dampening, adam.nesterov, adam.l2) == (0.0, 0.0, False, 0.0)
    assert (adam.betas, adam.eps, adam.decoupled_weight_decay) == ((0.9, 0.999), 1e-8, False)
    assert (adamw.weight_decay, adamw.decoupled_weight_decay, adamw.l2,
            adamw.eps_before_correction) == (1e-2, True, 0.0, False)
    assert sgd.dampening == 0.2 and type(sgd.lr) is float and isinstance(adamw, Adam)


def test_state_slots():
    assert [SGD(0.1).state_slots, SGD(0.1, momentum=0.5).state_slots] == [0, 1]
    assert [Adam().state_slots, Adam(amsgrad=True).state_slots, AdamW().state_slots,
            AdamW(amsgrad=True).state_slots] == [2, 3, 2, 3]


@pytest.mark.parametrize("opt", OBJECTS, ids=repr)
def test_settings_record(opt, dtype):
    record = opt.settings(dtype)
    assert set(record) == FIELDS
    assert record["rule"] == {"sgd": 0, "adam": 1}[opt.rule]
    assert (record["beta1"], record["beta2"]) == opt.betas
    assert record["decoupled"] == opt.decoupled_weight_decay
    for name in FIELDS - {"rule", "beta1", "beta2", "decoupled"}:
        assert record[name] == getattr(opt, name)
        assert type(record[name]) in (float, bool)


@pytest.mark.parametrize("opt, match", [
    (SGD(1e-50), r"lr must be at least 1.401e-45 in magnitude for float32"),
    (SGD(0.1, momentum=1e-46), r"momentum must be at least"),
    (SGD(0.1, weight_decay=1e39), r"weight_decay must be at most 3.403e\+38"),
    (SGD(0.1, l2=1e-300), r"l2 must be at least"),
    (Adam(eps=1e-50), r"eps must be at least"),
    (Adam(betas=(1e-50, 0.9)), r"betas\[0\] must be at least"),
    (AdamW(lr=1e39), r"lr must be at most"),
])
def test_settings_rejects_values_float32_cannot_hold(opt, match):
    with pytest.raises(ValueError, match=match):
        opt.settings(np.float32)
    opt.settings(np.float64)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: SGD(), TypeError, r"lr"),
    (lambda: SGD(0.0), ValueError, r"lr must be > 0.0; got 0.0"),
    (lambda: SGD(0.1, momentum=-1), ValueError, r"momentum must be >= 0.0"),
    (lambda: SGD(0.1, dampening=-0.1), ValueError, r"dampening must be >= 0.0; got -0.1"),
    (lambda: SGD(0.1, dampening=1.5), ValueError, r"dampening must be <= 1.0; got 1.5"),
    (lambda: SGD(0.1, nesterov=True), ValueError, r"nesterov=True needs momentum > 0"),
    (lambda: SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     r"nesterov=True needs dampening=0 \(as in torch.optim.SGD\); got dampening=0.1"),
    (lambda: SGD(0.1, nesterov="no"), TypeError, r"nesterov must be True or False"),
    (lambda: SGD(0.1, weight_decay=np.nan), ValueError, r"weight_decay must be finite"),
    (lambda: SGD(0.1, l2=-1.0), ValueError, r"l2 must be >= 0.0; got -1.0"),
    (lambda: SGD(0.1, l2="0"), TypeError, r"l2 must be a real number; got str"),
    (lambda: SGD(0.1, lr_in_velocity="yes"), TypeError, r"lr_in_velocity must be True or False"),
    (lambda: SGD(0.1, momentum=0.9, dampening=0.1, lr_in_velocity=True), ValueError,
     r"lr_in_velocity=True \(scikit-learn's momentum\) needs dampening=0; got dampening=0.1"),
    (lambda: Adam(lr=-1), ValueError, r"lr must be > 0.0; got -1.0"),
    (lambda: Adam(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be < 1.0; got 1.0"),
    (lambda: Adam(betas=[0.9]), TypeError, r"betas must be a pair"),
    (lambda: Adam(eps=-1.0), ValueError, r"eps must be >= 0.0"),
    (lambda: Adam(amsgrad=None), TypeError, r"amsgrad must be True or False"),
    (lambda: Adam(eps_before_correction=1), TypeError,
     r"eps_before_correction must be True or False"),
    (lambda: Adam(l2=np.inf), ValueError, r"l2 must be finite"),
    (lambda: AdamW(weight_decay=-0.01), ValueError, r"weight_decay must be >= 0.0"),
    (lambda: AdamW(l2=0.1), TypeError, r"l2"),
])
def test_construction_is_validated(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_values_are_stored_as_python_floats_and_bools():
    opt = Adam(Fraction(1, 100), betas=[np.float32(0.5), 0], eps=0, amsgrad=np.bool_(True))
    assert opt.lr == 0.01 and opt.betas == (0.5, 0.0) and opt.betas.__class__ is tuple
    assert type(opt.eps) is float and opt.amsgrad is True


@pytest.mark.parametrize("kw", OPTIONS, ids=OPTION_IDS)
def test_same_rounding_as_the_reference(dtype, rng, kw):
    # Same operations in the same order and dtype (float32 in float32, the scalars
    # rounded to it, no fused multiply-adds): the results agree to the last bit.
    p0, grads = data(rng, dtype, (257,))
    p, state = run(kernels.adam_update, p0, grads, **kw)
    p_ref, state_ref = run(reference.adam_update, p0, grads, **kw)
    np.testing.assert_array_equal(p, p_ref)
    for s, s_ref in zip(state, state_ref):
        np.testing.assert_array_equal(s, s_ref)


def test_json_without_lr_in_velocity_is_torchs_rule():
    # Text written before the setting existed makes torch's rule.
    from fastmlp.optim import from_json, to_json
    text = ('{"class": "SGD", "args": {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, '
            '"nesterov": true, "weight_decay": 0.0, "l2": 0.0}}')
    assert from_json(text) == SGD(0.1, momentum=0.9, nesterov=True)
    sklearn_rule = SGD(0.1, momentum=0.9, lr_in_velocity=True)
    assert from_json(to_json(sklearn_rule)) == sklearn_rule != SGD(0.1, momentum=0.9)
