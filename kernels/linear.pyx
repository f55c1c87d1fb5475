# cython: language_level=3
"""GIL-releasing entry points for affine layers (see linear.pxd).

Callers (fastmlp.kernels) have already checked dtypes and shapes, and that no
output overlaps an input (BLAS forbids it).
"""
from cython cimport floating

cimport linear


def linear_forward(const floating[:, ::1] x, const floating[:, ::1] W,
                   const floating[::1] b, floating[:, ::1] out):
    with nogil:
        linear.linear_forward(x, W, b, out)


def linear_backward(const floating[:, ::1] x, const floating[:, ::1] W,
                    const floating[:, ::1] grad_out, floating[:, ::1] grad_x,
                    floating[:, ::1] grad_W, floating[::1] grad_b):
    with nogil:
        linear.linear_backward(x, W, grad_out, grad_x, grad_W, grad_b)
