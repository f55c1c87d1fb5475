# cython: language_level=3
"""GIL-releasing entry points for the element-wise activations (see activation_ops.pxd).

Callers (fastmlp.kernels) have already checked dtypes, shapes, contiguity and
writability, and pass flat 1-D views of equal length. Each function writes its last argument.
"""
from cython cimport floating

from checks cimport DEBUG_BUILD, covers

# True in the debug build (FASTMLP_DEBUG=1), where out-of-bounds indices raise IndexError.
BOUNDS_CHECKED = bool(DEBUG_BUILD)

cimport activation_ops as act


def tanh(const floating[::1] x, floating[::1] out):
    covers(out, x.shape[0])
    with nogil:
        act.tanh_forward(&x[0], &out[0], x.shape[0], True)


def sigmoid(const floating[::1] x, floating[::1] out):
    covers(out, x.shape[0])
    with nogil:
        act.sigmoid_forward(&x[0], &out[0], x.shape[0], True)


def log_sigmoid(const floating[::1] x, floating[::1] out):
    covers(out, x.shape[0])
    with nogil:
        act.log_sigmoid_forward(&x[0], &out[0], x.shape[0])


def relu(const floating[::1] x, floating[::1] out):
    covers(out, x.shape[0])
    with nogil:
        act.relu_forward(&x[0], &out[0], x.shape[0])


def tanh_derivative(const floating[::1] t, floating[::1] out):
    covers(out, t.shape[0])
    with nogil:
        act.tanh_derivative(&t[0], &out[0], t.shape[0])


def sigmoid_derivative(const floating[::1] s, floating[::1] out):
    covers(out, s.shape[0])
    with nogil:
        act.sigmoid_derivative(&s[0], &out[0], s.shape[0])


def relu_derivative(const floating[::1] r, floating[::1] out):
    covers(out, r.shape[0])
    with nogil:
        act.relu_derivative(&r[0], &out[0], r.shape[0])


def tanh_backward(const floating[::1] t, floating[::1] grad):
    covers(grad, t.shape[0])
    with nogil:
        act.tanh_backward(&t[0], &grad[0], t.shape[0])


def sigmoid_backward(const floating[::1] s, floating[::1] grad):
    covers(grad, s.shape[0])
    with nogil:
        act.sigmoid_backward(&s[0], &grad[0], s.shape[0])


def relu_backward(const floating[::1] r, floating[::1] grad):
    covers(grad, r.shape[0])
    with nogil:
        act.relu_backward(&r[0], &grad[0], r.shape[0])
