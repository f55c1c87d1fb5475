# cython: language_level=3
"""GIL-releasing entry points for the element-wise activations (see activations.pxd).

Callers (fastmlp.kernels) have already checked dtypes, shapes, contiguity and
writability, and pass flat 1-D views. Each function writes its last argument.
"""
from cython cimport floating

cimport activations as act


def tanh(const floating[::1] x, floating[::1] out):
    with nogil:
        act.tanh_forward(x, out)


def sigmoid(const floating[::1] x, floating[::1] out):
    with nogil:
        act.sigmoid_forward(x, out)


def relu(const floating[::1] x, floating[::1] out):
    with nogil:
        act.relu_forward(x, out)


def tanh_derivative(const floating[::1] t, floating[::1] out):
    with nogil:
        act.tanh_derivative(t, out)


def sigmoid_derivative(const floating[::1] s, floating[::1] out):
    with nogil:
        act.sigmoid_derivative(s, out)


def relu_derivative(const floating[::1] r, floating[::1] out):
    with nogil:
        act.relu_derivative(r, out)


def tanh_backward(const floating[::1] t, floating[::1] grad):
    with nogil:
        act.tanh_backward(t, grad)


def sigmoid_backward(const floating[::1] s, floating[::1] grad):
    with nogil:
        act.sigmoid_backward(s, grad)


def relu_backward(const floating[::1] r, floating[::1] grad):
    with nogil:
        act.relu_backward(r, grad)
