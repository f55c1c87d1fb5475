# cython: language_level=3
"""Stochastic gradient descent, in place, with the semantics of torch.optim.SGD
(dampening 0):

    g = grad + weight_decay * param
    v = momentum * v + g                       (when momentum != 0)
    g = g + momentum * v if nesterov else v    (when momentum != 0)
    param -= lr * g

One pass over the arrays and no temporaries. A velocity of zeros gives PyTorch's
first step (v = g) exactly.
"""
from cython cimport floating


cdef inline void sgd_update(floating* param, const floating* grad, Py_ssize_t n, floating lr,
                            floating momentum, floating* velocity, bint nesterov,
                            floating weight_decay) noexcept nogil:
    """param -= lr * step(grad) over n entries; ``velocity`` (n entries) is read and
    updated when momentum != 0, and may be NULL otherwise."""
    cdef Py_ssize_t i
    cdef floating g, v
    for i in range(n):
        g = grad[i] + weight_decay * param[i] if weight_decay != 0 else grad[i]
        if momentum != 0:
            v = momentum * velocity[i] + g
            velocity[i] = v
            g = g + momentum * v if nesterov else v
        param[i] = param[i] - lr * g
