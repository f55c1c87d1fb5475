# cython: language_level=3
"""GIL-releasing entry points for affine layers (see linear_ops.pxd).

Callers (fastmlp.kernels) have already checked dtypes and shapes, and that no
output overlaps an input (BLAS forbids it).
"""
from cython cimport floating

from checks cimport covers, covers_2d

cimport linear_ops as linear


def linear_forward(const floating[:, ::1] x, const floating[:, ::1] W,
                   const floating[::1] b, floating[:, ::1] out):
    covers_2d(W, out.shape[1], x.shape[1])
    covers(b, out.shape[1])
    covers_2d(out, x.shape[0], W.shape[0])
    with nogil:
        linear.linear_forward(&x[0, 0], &W[0, 0], &b[0], &out[0, 0],
                              x.shape[0], x.shape[1], W.shape[0])


def linear_backward(const floating[:, ::1] x, const floating[:, ::1] W,
                    const floating[:, ::1] grad_out, floating[:, ::1] grad_x,
                    floating[:, ::1] grad_W, floating[::1] grad_b):
    covers_2d(grad_out, x.shape[0], W.shape[0])
    covers_2d(grad_x, x.shape[0], x.shape[1])
    covers_2d(grad_W, W.shape[0], x.shape[1])
    covers(grad_b, W.shape[0])
    with nogil:
        linear.linear_backward_input(&W[0, 0], &grad_out[0, 0], &grad_x[0, 0],
                                     x.shape[0], x.shape[1], W.shape[0])
        linear.linear_backward_params(&x[0, 0], &grad_out[0, 0], &grad_W[0, 0], &grad_b[0],
                                      x.shape[0], x.shape[1], W.shape[0], False)
