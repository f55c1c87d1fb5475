# cython: language_level=3
"""Element-wise activations, their derivatives and fused backward forms.

Design: one inline scalar function per formula, and loops over flat, contiguous
buffers of n elements (raw pointers, shared by the per-kernel entry points and
the fused network loops). The forward loops spell out the in-place case, because
a vectoriser that sees two pointers guards against their overlap and falls back
to scalar code when they are equal, and use OpenMP threads only for arrays large
enough to repay starting them (an OpenMP region costs microseconds even when it
runs on one thread). Derivatives are written from the
activation's *output* (t = tanh(x), s = sigmoid(x), r = relu(x)), which is what a
backward pass has in memory. ``out`` may be the input itself (in place).
"""
from cython cimport floating
from cython.parallel cimport prange

from parallel cimport PARALLEL_MIN_ELEMENTS
from vecmath cimport exp_nonpositive, tanh_vec


cdef inline floating tanh_scalar(floating x) noexcept nogil:
    return tanh_vec(x)


cdef inline floating sigmoid_scalar(floating x) noexcept nogil:
    """1 / (1 + exp(-x)) through e = exp(-|x|) <= 1, so nothing overflows."""
    cdef floating zero = 0, one = 1  # typed: a bare literal would be a C double
    cdef floating e = exp_nonpositive(-x if x >= zero else x)
    return (one if x >= zero else e) / (one + e)


cdef inline floating relu_scalar(floating x) noexcept nogil:
    # Written so that NaN passes through, as in NumPy's maximum(x, 0).
    return 0 if x < 0 else x


cdef inline void tanh_forward(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    """out := tanh(x)"""
    cdef Py_ssize_t i
    if n >= PARALLEL_MIN_ELEMENTS:
        for i in prange(n, schedule="static"):
            out[i] = tanh_scalar(x[i])
    elif out == x:  # in place through one pointer, which the compiler vectorises
        for i in range(n):
            out[i] = tanh_scalar(out[i])
    else:
        for i in range(n):
            out[i] = tanh_scalar(x[i])


cdef inline void sigmoid_forward(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    """out := 1 / (1 + exp(-x))"""
    cdef Py_ssize_t i
    if n >= PARALLEL_MIN_ELEMENTS:
        for i in prange(n, schedule="static"):
            out[i] = sigmoid_scalar(x[i])
    elif out == x:  # in place through one pointer, which the compiler vectorises
        for i in range(n):
            out[i] = sigmoid_scalar(out[i])
    else:
        for i in range(n):
            out[i] = sigmoid_scalar(x[i])


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


# The activation of a network's hidden layers, as the fused network loops name it.
cdef enum Activation:
    TANH = 0
    SIGMOID = 1
    RELU = 2


cdef inline void activation_forward(Activation kind, const floating* x, floating* out,
                                    Py_ssize_t n) noexcept nogil:
    """out := f(x) for the activation f named by kind"""
    if kind == TANH:
        tanh_forward(x, out, n)
    elif kind == SIGMOID:
        sigmoid_forward(x, out, n)
    else:
        relu_forward(x, out, n)


cdef inline void activation_backward(Activation kind, const floating* a, floating* grad,
                                     Py_ssize_t n) noexcept nogil:
    """grad *= f'(x), given a = f(x), for the activation f named by kind"""
    if kind == TANH:
        tanh_backward(a, grad, n)
    elif kind == SIGMOID:
        sigmoid_backward(a, grad, n)
    else:
        relu_backward(a, grad, n)
