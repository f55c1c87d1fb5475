# cython: language_level=3
"""GIL-releasing entry points for the in-place optimizer updates (see optim_ops.pxd).

Callers (fastmlp.kernels) pass flat views and have checked dtypes, sizes,
writability, overlaps and the settings; a state buffer the rule does not use
(``velocity`` when momentum is 0, ``max_exp_avg_sq`` without amsgrad) is an
empty array. The settings are keyword-only, so that no two can be swapped.
The gradient is only read (the workers' clear_grad is the network's), so it may
be a read-only array, or param itself.
"""
from cython cimport floating

from checks cimport covers

cimport optim_ops


def sgd_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity, *,
               floating lr, floating momentum, floating dampening, bint nesterov,
               floating weight_decay, bint first_step, bint lr_in_velocity):
    cdef Py_ssize_t n = param.shape[0]
    cdef floating* v = &velocity[0] if velocity.shape[0] > 0 else NULL
    covers(grad, n)
    covers(velocity, n if momentum != 0 else 0)
    with nogil:
        optim_ops.sgd_update(&param[0], <floating*> &grad[0], n, lr, momentum, dampening, v,
                             first_step, nesterov, weight_decay, lr_in_velocity, False)


def adam_update(floating[::1] param, const floating[::1] grad, floating[::1] exp_avg,
                floating[::1] exp_avg_sq, floating[::1] max_exp_avg_sq, *, double lr,
                double beta1, double beta2, double eps, floating weight_decay,
                double decoupled_decay, bint amsgrad, bint eps_before_correction,
                Py_ssize_t step):
    cdef Py_ssize_t n = param.shape[0]
    cdef floating* v_max = &max_exp_avg_sq[0] if max_exp_avg_sq.shape[0] > 0 else NULL
    cdef optim_ops.AdamStep s = optim_ops.adam_step(lr, beta1, beta2, eps, decoupled_decay,
                                                    amsgrad, eps_before_correction, step)
    covers(grad, n)
    covers(exp_avg, n)
    covers(exp_avg_sq, n)
    covers(max_exp_avg_sq, n if amsgrad else 0)
    with nogil:
        optim_ops.adam_update(&param[0], <floating*> &grad[0], n, &exp_avg[0], &exp_avg_sq[0],
                              v_max, weight_decay, &s, False)
