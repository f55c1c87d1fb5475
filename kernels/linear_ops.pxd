# cython: language_level=3
"""Affine (fully connected) layers on BLAS, weights stored (n_out, n_in) as in PyTorch.

forward:   out = x @ W.T + b
backward:  grad_x = grad_out @ W,  grad_W = grad_out.T @ x,  grad_b = sum_i grad_out[i]

Row-major, contiguous buffers: x (n, n_in), W (n_out, n_in), b (n_out,),
out and grad_out (n, n_out).
"""
from cython cimport floating

from blas cimport gemm


cdef inline void linear_forward(const floating* x, const floating* W, const floating* b,
                                floating* out, Py_ssize_t n, Py_ssize_t n_in,
                                Py_ssize_t n_out) noexcept nogil:
    """out := x @ W.T + b"""
    cdef Py_ssize_t i, j
    # Fill out with the bias rows and let the product add to it (beta = 1): the
    # bias add costs no extra pass over out.
    for i in range(n):
        for j in range(n_out):
            out[i * n_out + j] = b[j]
    gemm(False, True, <int> n, <int> n_out, <int> n_in, 1, x, W, 1, out)


# Columns whose running sums column_sum keeps on the stack at once.
cdef enum:
    COLUMN_BLOCK = 256


cdef inline void column_sum(const floating* a, floating* out, Py_ssize_t n, Py_ssize_t k,
                            floating alpha, floating beta) noexcept nogil:
    """out := alpha * (sum of the n rows of a (n, k)) + beta * out

    The sums are accumulated in double (a float32 sum of 2**25 ones stops at
    2**24), for a block of columns at a time, so that a is still read row by row.
    With beta = 0 the old contents of out are ignored (NaN included).
    """
    cdef double acc[COLUMN_BLOCK]
    cdef Py_ssize_t i, j, block, start, width
    for block in range((k + COLUMN_BLOCK - 1) // COLUMN_BLOCK):
        start = block * COLUMN_BLOCK
        width = min(<Py_ssize_t> COLUMN_BLOCK, k - start)
        for j in range(width):
            acc[j] = 0
        for i in range(n):
            for j in range(width):
                acc[j] = acc[j] + a[i * k + start + j]
        for j in range(width):
            out[start + j] = <floating> (alpha * acc[j]
                                         + (beta * out[start + j] if beta != 0 else 0))


cdef inline void linear_backward_params(const floating* x, const floating* grad_out,
                                        floating* grad_W, floating* grad_b, Py_ssize_t n,
                                        Py_ssize_t n_in, Py_ssize_t n_out,
                                        bint grad_W_is_zero) noexcept nogil:
    """grad_W := grad_out.T @ x,  grad_b := column sums of grad_out

    With ``grad_W_is_zero`` (the caller knows grad_W holds zeros) the product adds
    into grad_W (beta = 1): for beta = 0, BLAS first makes a pass of its own that
    clears grad_W (1.7 % of a float64 Adam step of [784, 300, 10], batch 128).
    """
    gemm(True, False, <int> n_out, <int> n_in, <int> n, 1, grad_out, x,
         1 if grad_W_is_zero else 0, grad_W)
    column_sum(grad_out, grad_b, n, n_out, 1, 0)


cdef inline void linear_backward_input(const floating* W, const floating* grad_out,
                                       floating* grad_x, Py_ssize_t n, Py_ssize_t n_in,
                                       Py_ssize_t n_out) noexcept nogil:
    """grad_x := grad_out @ W"""
    gemm(False, False, <int> n, <int> n_in, <int> n_out, 1, grad_out, W, 0, grad_x)


cdef inline void linear_sgd_step(const floating* x, const floating* grad_out, floating* W,
                                 floating* b, Py_ssize_t n, Py_ssize_t n_in, Py_ssize_t n_out,
                                 floating lr, floating weight_decay) noexcept nogil:
    """Plain SGD on the layer without storing its gradient (optim_ops.pxd with momentum 0):

        W := (1 - lr wd) W - lr grad_out.T @ x,   b := (1 - lr wd) b - lr sum_i grad_out[i]

    The product adds straight into W (alpha = -lr, beta = 1 - lr wd), which saves
    writing grad_W and the separate pass of the update over W and grad_W.
    """
    cdef floating decay = 1 - lr * weight_decay
    gemm(True, False, <int> n_out, <int> n_in, <int> n, -lr, grad_out, x, decay, W)
    column_sum(grad_out, b, n, n_out, -lr, decay)
