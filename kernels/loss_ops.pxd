# cython: language_level=3
"""Losses fused with their gradients: softmax cross-entropy and mean squared error.

Cross-entropy of logits z against target rows Y (one-hot or distributions):
    loss_i = -sum_j Y_ij log softmax(z_i)_j = sum_j Y_ij (lse(z_i) - z_ij)
    dloss_i/dz_i = softmax(z_i) - Y_i            (Y_i sums to 1)
with lse the log-sum-exp. The loss is never formed as log(softmax), so log(0)
never appears: a zero target term is skipped, and a true class with logit -inf
costs +inf, which is the honest answer. The batch loss is the weighted mean
    L = sum_i c_i loss_i,   c_i = w_i / sum(w)   (c_i = 1/n without weights),
and the kernels write dL/dz, whose row i is c_i (softmax(z_i) - Y_i).

Design: one row worker per target kind, built on softmax_ops.pxd's exp_shifted_row,
so each row of z is read twice (max, then exp) and grad written once and scaled
once. Raw pointers over contiguous (n, k) buffers, shared with the fused network
loops; sample weights are a pointer that is NULL for the plain mean (the caller
scales them so that their sum cannot overflow). Rows with c_i = 0 contribute
nothing, so an infinite loss on a zero-weighted row cannot turn the mean into NaN.

The losses are accumulated and returned in double in both precisions: a float32
total over millions of rows drifts by whole percents, and a row's loss is formed
as (max(z) - z_label) + log(sum exp), so large logits never round it away.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log

from parallel cimport use_threads
from softmax_ops cimport exp_shifted_row


cdef inline double xent_label_row(const floating* z, Py_ssize_t k, Py_ssize_t label,
                                  floating c, floating* grad) noexcept nogil:
    """grad := c * (softmax(z) - onehot(label)); returns c * (lse(z) - z[label])."""
    cdef Py_ssize_t j
    cdef floating m, scale
    cdef double s
    if c == 0:
        for j in range(k):
            grad[j] = 0
        return 0
    s = exp_shifted_row(z, grad, k, &m)
    scale = <floating> (c / s)
    for j in range(k):
        grad[j] = grad[j] * scale
    grad[label] = grad[label] - c
    return c * ((<double> m - z[label]) + log(s))


cdef inline double xent_target_row(const floating* z, const floating* y, Py_ssize_t k,
                                   floating c, floating* grad) noexcept nogil:
    """grad := c * (softmax(z) - y); returns c * sum_j y_j (lse(z) - z_j), skipping y_j = 0."""
    cdef Py_ssize_t j
    cdef floating m, scale
    cdef double s, log_s
    cdef double loss = 0
    if c == 0:
        for j in range(k):
            grad[j] = 0
        return 0
    s = exp_shifted_row(z, grad, k, &m)
    log_s = log(s)
    scale = <floating> (c / s)
    for j in range(k):
        grad[j] = grad[j] * scale - c * y[j]
        if y[j] != 0:
            loss = loss + y[j] * ((<double> m - z[j]) + log_s)
    return c * loss


cdef inline floating row_weight(const floating* w, floating total, Py_ssize_t i,
                                Py_ssize_t n) noexcept nogil:
    """c_i = w_i / total, or 1 / n when there are no weights (w is NULL)."""
    if w == NULL:
        return (<floating> 1) / n
    return w[i] / total


cdef inline double softmax_xent_labels(const floating* z, const Py_ssize_t* labels,
                                       const floating* w, floating w_total, Py_ssize_t n,
                                       Py_ssize_t k, floating* grad,
                                       bint threads) noexcept nogil:
    """Mean cross-entropy of logits z (n, k) against integer labels (n,); grad (n, k) := dL/dz.

    ``w`` is (n,) sample weights with sum ``w_total``, or NULL for the plain mean.
    Rows run on OpenMP threads when ``threads`` and parallel.pxd's use_threads agree.
    """
    cdef Py_ssize_t i
    cdef double total = 0
    if not (threads and use_threads(n * k)):
        for i in range(n):
            total = total + xent_label_row(z + i * k, k, labels[i],
                                           row_weight(w, w_total, i, n), grad + i * k)
    else:
        for i in prange(n, schedule="static"):
            total += xent_label_row(z + i * k, k, labels[i], row_weight(w, w_total, i, n),
                                    grad + i * k)
    return total


cdef inline double softmax_xent_targets(const floating* z, const floating* y,
                                        const floating* w, floating w_total, Py_ssize_t n,
                                        Py_ssize_t k, floating* grad,
                                        bint threads) noexcept nogil:
    """Mean cross-entropy of logits z (n, k) against target rows y (n, k); grad := dL/dz.
    Threaded as softmax_xent_labels."""
    cdef Py_ssize_t i
    cdef double total = 0
    if not (threads and use_threads(n * k)):
        for i in range(n):
            total = total + xent_target_row(z + i * k, y + i * k, k,
                                            row_weight(w, w_total, i, n), grad + i * k)
    else:
        for i in prange(n, schedule="static"):
            total += xent_target_row(z + i * k, y + i * k, k, row_weight(w, w_total, i, n),
                                     grad + i * k)
    return total


cdef inline double mse(const floating* yhat, const floating* y, Py_ssize_t n,
                       Py_ssize_t k, floating* grad) noexcept nogil:
    """L = (1/n) sum (yhat - y)**2 over the n rows of k outputs; grad := 2 (yhat - y) / n."""
    cdef Py_ssize_t i
    cdef double d
    cdef double total = 0
    cdef floating two_over_n = (<floating> 2) / n
    for i in range(n * k):
        d = <double> yhat[i] - y[i]
        grad[i] = two_over_n * (yhat[i] - y[i])
        total = total + d * d
    return total / n
