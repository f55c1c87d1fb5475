# cython: language_level=3
"""Element-wise activations, their derivatives and fused backward forms.

Design: loops over flat, contiguous buffers of n elements (raw pointers, shared
by the per-kernel entry points and the fused network loops). tanh and sigmoid
are vecmath's array loops, built for the CPU's widest vectors. The relu forward
spells out the in-place case, because a vectoriser that sees two pointers guards
against their overlap and falls back to scalar code when they are equal. With
``threads`` the forward loops use OpenMP when parallel.pxd says so (arrays
large enough to repay starting a team, outside a forked child); the
network loops pass False, because there BLAS owns the cores and OpenMP threads
spinning between regions would steal them. Derivatives are written from the
activation's *output* (t = tanh(x), s = sigmoid(x), r = relu(x)), which is what a
backward pass has in memory. ``out`` may be the input itself (in place).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, fabs, log1p

from parallel cimport use_threads
from vecmath cimport sigmoid_array, tanh_array

# Elements per OpenMP task in the threaded activation loops.
cdef enum:
    CHUNK = 16384


cdef inline floating relu_scalar(floating x) noexcept nogil:
    # Written so that NaN passes through, as in NumPy's maximum(x, 0).
    return 0 if x < 0 else x


cdef inline void tanh_forward(const floating* x, floating* out, Py_ssize_t n,
                      bint threads) noexcept nogil:
    """out := tanh(x); out may be x"""
    cdef Py_ssize_t c
    if threads and use_threads(n):
        for c in prange((n + CHUNK - 1) // CHUNK, schedule="static"):
            tanh_array(x + c * CHUNK, out + c * CHUNK, min(CHUNK, n - c * CHUNK))
    else:
        tanh_array(x, out, n)


cdef inline void sigmoid_forward(const floating* x, floating* out, Py_ssize_t n,
                         bint threads) noexcept nogil:
    """out := 1 / (1 + exp(-x)); out may be x"""
    cdef Py_ssize_t c
    if threads and use_threads(n):
        for c in prange((n + CHUNK - 1) // CHUNK, schedule="static"):
            sigmoid_array(x + c * CHUNK, out + c * CHUNK, min(CHUNK, n - c * CHUNK))
    else:
        sigmoid_array(x, out, n)


cdef inline void log_sigmoid_forward(const floating* x, floating* out,
                                     Py_ssize_t n) noexcept nogil:
    """out := log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); out may be x"""
    cdef Py_ssize_t i
    cdef double v
    # Never log of a rounded sigmoid: log(sigmoid(-200)) = -200, not log(0). In
    # double, with libm's exp and log1p: it serves predict_log_proba, not training.
    for i in range(n):
        v = x[i]
        out[i] = <floating> ((v if v < 0 else 0) - log1p(exp(-fabs(v))))


cdef inline void relu_forward(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    """out := max(x, 0)"""
    cdef Py_ssize_t i
    if out == x:  # in place through one pointer, which the compiler vectorises
        for i in range(n):
            out[i] = relu_scalar(out[i])
    else:
        for i in range(n):
            out[i] = relu_scalar(x[i])


cdef inline void tanh_derivative(const floating* t, floating* out, Py_ssize_t n) noexcept nogil:
    """out := 1 - t**2, the derivative of tanh at x where t = tanh(x)"""
    cdef Py_ssize_t i
    cdef floating one = 1  # typed: a bare literal would be a C double
    for i in range(n):
        out[i] = one - t[i] * t[i]


cdef inline void sigmoid_derivative(const floating* s, floating* out, Py_ssize_t n) noexcept nogil:
    """out := s * (1 - s), the derivative of sigmoid at x where s = sigmoid(x)"""
    cdef Py_ssize_t i
    cdef floating one = 1
    for i in range(n):
        out[i] = s[i] * (one - s[i])


cdef inline void relu_derivative(const floating* r, floating* out, Py_ssize_t n) noexcept nogil:
    """out := 1 if r > 0 else 0, the derivative of relu at x where r = relu(x)"""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = 1 if r[i] > 0 else 0


cdef inline void tanh_backward(const floating* t, floating* grad, Py_ssize_t n) noexcept nogil:
    """grad *= 1 - t**2 (in place)"""
    cdef Py_ssize_t i
    cdef floating one = 1
    for i in range(n):
        grad[i] = grad[i] * (one - t[i] * t[i])


cdef inline void sigmoid_backward(const floating* s, floating* grad, Py_ssize_t n) noexcept nogil:
    """grad *= s * (1 - s) (in place)"""
    cdef Py_ssize_t i
    cdef floating one = 1
    for i in range(n):
        grad[i] = grad[i] * s[i] * (one - s[i])


cdef inline void relu_backward(const floating* r, floating* grad, Py_ssize_t n) noexcept nogil:
    """grad *= 1[r > 0] (in place)"""
    cdef Py_ssize_t i
    for i in range(n):
        if not r[i] > 0:
            grad[i] = 0
