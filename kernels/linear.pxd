# cython: language_level=3
"""Affine (fully connected) layers on BLAS, weights stored (n_out, n_in) as in PyTorch.

forward:   out = x @ W.T + b
backward:  grad_x = grad_out @ W,  grad_W = grad_out.T @ x,  grad_b = sum_i grad_out[i]
"""
from cython cimport floating

from blas cimport gemm


cdef inline void linear_forward(const floating[:, ::1] x, const floating[:, ::1] W,
                                const floating[::1] b, floating[:, ::1] out) noexcept nogil:
    """out := x @ W.T + b;  x (n, n_in), W (n_out, n_in), b (n_out,), out (n, n_out)"""
    cdef Py_ssize_t i, j
    # Fill out with the bias rows and let the product add to it (beta = 1): the
    # bias add costs no extra pass over out.
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = b[j]
    gemm(False, True, 1, x, W, 1, out)


cdef inline void column_sum(const floating[:, ::1] a, floating[::1] out) noexcept nogil:
    """out := sum of the rows of a"""
    cdef Py_ssize_t i, j
    for j in range(out.shape[0]):
        out[j] = 0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j] = out[j] + a[i, j]


cdef inline void linear_backward(const floating[:, ::1] x, const floating[:, ::1] W,
                                 const floating[:, ::1] grad_out, floating[:, ::1] grad_x,
                                 floating[:, ::1] grad_W, floating[::1] grad_b) noexcept nogil:
    """grad_x := grad_out @ W, grad_W := grad_out.T @ x, grad_b := column sums of grad_out"""
    gemm(False, False, 1, grad_out, W, 0, grad_x)
    gemm(True, False, 1, grad_out, x, 0, grad_W)
    column_sum(grad_out, grad_b)
