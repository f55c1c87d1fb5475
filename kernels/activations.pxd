# cython: language_level=3
"""Element-wise activations, their derivatives and fused backward forms.

Design: one inline scalar function per formula, and loops over flat, C-contiguous
buffers (callers pass ``x.reshape(-1)``). Derivatives are written from the
activation's *output* (t = tanh(x), s = sigmoid(x), r = relu(x)), which is what a
backward pass has in memory. ``out`` may be the input itself (in place).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf, tanh, tanhf

from parallel cimport PARALLEL_MIN_ELEMENTS


cdef inline floating tanh_scalar(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating sigmoid_scalar(floating x) noexcept nogil:
    """1 / (1 + exp(-x)), with exp only ever of a non-positive number (no overflow)."""
    cdef floating e
    if x >= 0:
        e = expf(-x) if floating is float else exp(-x)
        return 1 / (1 + e)
    e = expf(x) if floating is float else exp(x)
    return e / (1 + e)


cdef inline floating relu_scalar(floating x) noexcept nogil:
    # Written so that NaN passes through, as in NumPy's maximum(x, 0).
    return 0 if x < 0 else x


cdef inline void tanh_forward(const floating[::1] x, floating[::1] out) noexcept nogil:
    """out := tanh(x)"""
    cdef Py_ssize_t i
    for i in prange(x.shape[0], schedule="static",
                    use_threads_if=x.shape[0] >= PARALLEL_MIN_ELEMENTS):
        out[i] = tanh_scalar(x[i])


cdef inline void sigmoid_forward(const floating[::1] x, floating[::1] out) noexcept nogil:
    """out := 1 / (1 + exp(-x))"""
    cdef Py_ssize_t i
    for i in prange(x.shape[0], schedule="static",
                    use_threads_if=x.shape[0] >= PARALLEL_MIN_ELEMENTS):
        out[i] = sigmoid_scalar(x[i])


cdef inline void relu_forward(const floating[::1] x, floating[::1] out) noexcept nogil:
    """out := max(x, 0)"""
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out[i] = relu_scalar(x[i])


cdef inline void tanh_derivative(const floating[::1] t, floating[::1] out) noexcept nogil:
    """out := 1 - t**2, the derivative of tanh at x where t = tanh(x)"""
    cdef Py_ssize_t i
    for i in range(t.shape[0]):
        out[i] = 1 - t[i] * t[i]


cdef inline void sigmoid_derivative(const floating[::1] s, floating[::1] out) noexcept nogil:
    """out := s * (1 - s), the derivative of sigmoid at x where s = sigmoid(x)"""
    cdef Py_ssize_t i
    for i in range(s.shape[0]):
        out[i] = s[i] * (1 - s[i])


cdef inline void relu_derivative(const floating[::1] r, floating[::1] out) noexcept nogil:
    """out := 1 if r > 0 else 0, the derivative of relu at x where r = relu(x)"""
    cdef Py_ssize_t i
    for i in range(r.shape[0]):
        out[i] = 1 if r[i] > 0 else 0


cdef inline void tanh_backward(const floating[::1] t, floating[::1] grad) noexcept nogil:
    """grad *= 1 - t**2 (in place)"""
    cdef Py_ssize_t i
    for i in range(t.shape[0]):
        grad[i] = grad[i] * (1 - t[i] * t[i])


cdef inline void sigmoid_backward(const floating[::1] s, floating[::1] grad) noexcept nogil:
    """grad *= s * (1 - s) (in place)"""
    cdef Py_ssize_t i
    for i in range(s.shape[0]):
        grad[i] = grad[i] * s[i] * (1 - s[i])


cdef inline void relu_backward(const floating[::1] r, floating[::1] grad) noexcept nogil:
    """grad *= 1[r > 0] (in place)"""
    cdef Py_ssize_t i
    for i in range(r.shape[0]):
        if not r[i] > 0:
            grad[i] = 0
