# cython: language_level=3
"""GIL-releasing entry point for the in-place SGD update (see optim_ops.pxd).

Callers (fastmlp.kernels) pass flat views and have checked dtypes, sizes and
writability; ``velocity`` is an empty array when momentum is 0.
"""
from cython cimport floating

from checks cimport covers

cimport optim_ops


def sgd_update(floating[::1] param, const floating[::1] grad, floating lr, floating momentum,
               floating[::1] velocity, bint nesterov, floating weight_decay):
    cdef floating* v = &velocity[0] if velocity.shape[0] > 0 else NULL
    covers(grad, param.shape[0])
    covers(velocity, param.shape[0] if momentum != 0 else 0)
    with nogil:
        optim_ops.sgd_update(&param[0], &grad[0], param.shape[0], lr, momentum, 0, v, False,
                             nesterov, weight_decay)
