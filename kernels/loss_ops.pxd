# cython: language_level=3
"""Losses fused with their gradients: softmax cross-entropy, sigmoid binary
cross-entropy, the multi-class hinge and mean squared error.

Cross-entropy of logits z against target rows Y (one-hot or distributions),
with label smoothing eps in [0, 1] (torch's ``CrossEntropyLoss(label_smoothing=)``):
the target is T_i = (1 - eps) Y_i + eps / k, and
    loss_i = -sum_j T_ij log softmax(z_i)_j = sum_j T_ij (lse(z_i) - z_ij)
           = (1 - eps) sum_j Y_ij (lse(z_i) - z_ij) + eps (lse(z_i) - mean_j z_ij)
    dloss_i/dz_i = softmax(z_i) - T_i            (Y_i, so T_i, sums to 1)
with lse the log-sum-exp. eps = 0 is the plain loss, in the same pass (a term
with coefficient 0 is skipped, so the result is the plain one bit for bit). The
loss is never formed as log(softmax), so log(0) never appears: a zero target
term is skipped, and a true class with logit -inf costs +inf (and so does any
-inf logit once eps > 0), which is the honest answer.

Binary cross-entropy of logits z (n, k) against targets Y in [0, 1], summed over
the k labels of a row (scikit-learn's ``binary_log_loss``):
    loss_i = sum_j -(Y_ij log sigmoid(z_ij) + (1 - Y_ij) log(1 - sigmoid(z_ij)))
           = sum_j log1p(exp(-|z_ij|)) + Y_ij max(-z_ij, 0) + (1 - Y_ij) max(z_ij, 0)
    dloss_i/dz_i = sigmoid(z_i) - Y_i
The second form is the stable log-sigmoid: exp only ever sees -|z|, nothing
overflows for logits of +-1e4, and a confident right answer keeps its tiny loss
(log1p(exp(-50)) = 2e-22) instead of losing it to z - z.

Multi-class hinge of scores z (n, k) against integer labels y, with margin 1 and
p = 1 or 2 (torch's ``MultiMarginLoss(p=p)``; p = 2 is the squared hinge):
    loss_i = (1/k) sum_{j != y_i} max(0, d_ij)^p,   d_ij = 1 + (z_ij - z_iy_i)
    dloss_i/dz_ij = (1/k) p max(0, d_ij)^(p-1)          (j != y_i, d_ij > 0; else 0)
    dloss_i/dz_iy_i = -sum_{j != y_i} dloss_i/dz_ij
At the kink d_ij = 0 the term counts as inactive (slope 0), torch's subgradient.
d is formed in double as 1 + (z_j - z_y), the difference first: torch's order,
(1 - z_y) + z_j in the input's dtype, drops the margin once |z| >> 1/eps (two tied
scores of 1e8 in float32 cost 0 there, 1/k here). A NaN score makes the row's
loss NaN (torch's comparison would drop the term in silence).

Every batch loss is the weighted mean
    L = sum_i c_i loss_i,   c_i = w_i / sum(w)   (c_i = 1/n without weights),
and the kernels write dL/dz, whose row i is c_i dloss_i/dz_i.

Design: one row worker per loss and target kind, the cross-entropy ones built
on softmax_ops.pxd's exp_shifted_row, so each row of z is read twice (max, then
exp) and grad written once and scaled once. Raw pointers over contiguous (n, k)
buffers, shared with the fused network loops; sample weights are a pointer that
is NULL for the plain mean (the caller scales them so that their sum cannot
overflow). Rows with c_i = 0 contribute nothing, so an infinite loss on a
zero-weighted row cannot turn the mean into NaN.

The losses are accumulated and returned in double in both precisions: a float32
total over millions of rows drifts by whole percents, and a row's loss is formed
as (max(z) - z_label) + log(sum exp), so large logits never round it away. The
binary cross-entropy works in double per element too (its exp is libm's: it is
a few operations per label, never the bulk of a step).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, fabs, log, log1p

from parallel cimport use_threads
from softmax_ops cimport exp_shifted_row
from vecmath cimport sum_in_double


cdef inline double smoothing_term(const floating* z, Py_ssize_t k, floating m,
                                  double log_s, double eps) noexcept nogil:
    """eps * (lse(z) - mean(z)), the smoothing's share of a row's loss; 0 when eps is 0
    (never 0 * inf for a row with a -inf logit)."""
    if eps == 0:
        return 0
    return eps * ((<double> m - sum_in_double(z, k) / k) + log_s)


cdef inline double xent_label_row(const floating* z, Py_ssize_t k, Py_ssize_t label,
                                  double eps, floating c, floating* grad) noexcept nogil:
    """grad := c * (softmax(z) - t) with t = (1 - eps) onehot(label) + eps / k;
    returns c * sum_j t_j (lse(z) - z_j)."""
    cdef Py_ssize_t j
    cdef floating m, scale, share
    cdef double s, log_s, loss
    if c == 0:
        for j in range(k):
            grad[j] = 0
        return 0
    s = exp_shifted_row(z, grad, k, &m)
    log_s = log(s)
    scale = <floating> (c / s)
    share = <floating> (c * eps / k)
    for j in range(k):
        grad[j] = grad[j] * scale - share
    grad[label] = grad[label] - <floating> (c * (1 - eps))
    loss = log_s if eps == 0 else (1 - eps) * log_s
    if eps != 1:  # the label's term, absent at eps = 1 (never 0 * inf)
        loss = loss + (1 - eps) * (<double> m - z[label])
    return c * (loss + smoothing_term(z, k, m, log_s, eps))


cdef inline double xent_target_row(const floating* z, const floating* y, Py_ssize_t k,
                                   double eps, floating c, floating* grad) noexcept nogil:
    """grad := c * (softmax(z) - t) with t = (1 - eps) y + eps / k; returns
    c * sum_j t_j (lse(z) - z_j), skipping the terms of y_j = 0."""
    cdef Py_ssize_t j
    cdef floating m, scale, share
    cdef floating cy = <floating> (c * (1 - eps))
    cdef double s, log_s
    cdef double loss = 0
    if c == 0:
        for j in range(k):
            grad[j] = 0
        return 0
    s = exp_shifted_row(z, grad, k, &m)
    log_s = log(s)
    scale = <floating> (c / s)
    share = <floating> (c * eps / k)
    for j in range(k):
        grad[j] = grad[j] * scale - cy * y[j] - share
        if y[j] != 0 and eps != 1:
            loss = loss + y[j] * ((<double> m - z[j]) + log_s)
    if eps != 0:
        loss = (1 - eps) * loss
    return c * (loss + smoothing_term(z, k, m, log_s, eps))


cdef inline double bce_row(const floating* z, const floating* y, Py_ssize_t k, floating c,
                           floating* grad) noexcept nogil:
    """grad := c * (sigmoid(z) - y); returns c * sum_j -(y_j log sigmoid(z_j)
    + (1 - y_j) log(1 - sigmoid(z_j))), by the stable form of the module docstring."""
    cdef Py_ssize_t j
    cdef double zj, yj, e, g
    cdef double loss = 0
    if c == 0:
        for j in range(k):
            grad[j] = 0
        return 0
    for j in range(k):
        zj, yj = z[j], y[j]
        e = exp(-fabs(zj))  # in [0, 1]: sigmoid(|z|) = 1 / (1 + e)
        loss = loss + log1p(e)
        # Each target's term is skipped when its coefficient is 0, so that an
        # infinite logit on the right side costs 0, not 0 * inf. The gradient is
        # written as (1 - y) - sigmoid(-z) for z >= 0, so that it keeps its tiny
        # size (-e for y = 1) instead of rounding 1 / (1 + e) - 1 to 0.
        if zj >= 0:
            if yj != 1:
                loss = loss + (1 - yj) * zj
            g = (1 - yj) - e / (1 + e)
        else:
            if yj != 0:
                loss = loss - yj * zj
            g = e / (1 + e) - yj
        grad[j] = <floating> (c * g)
    return c * loss


cdef inline double hinge_row(const floating* z, Py_ssize_t k, Py_ssize_t label, int p,
                             floating c, floating* grad) noexcept nogil:
    """grad := c * dloss/dz of the row's multi-class hinge (p = 1 or 2); returns
    c * (1/k) sum_{j != label} max(0, 1 + z_j - z_label)^p."""
    cdef Py_ssize_t j
    cdef double d, g
    cdef double zy = z[label], scale = (<double> c) / k
    cdef double loss = 0, g_label = 0
    if c == 0:
        for j in range(k):
            grad[j] = 0
        return 0
    for j in range(k):
        d = 1 + (z[j] - zy)
        # The label's own term (d = 1) and inactive ones, the kink d = 0 included;
        # a NaN d fails the test and is counted, so that it reaches the loss.
        if j == label or d <= 0:
            grad[j] = 0
            continue
        if p == 1:
            loss = loss + d
            g = scale
        else:
            loss = loss + d * d
            g = 2 * d * scale
        grad[j] = <floating> g
        g_label = g_label - g
    grad[label] = <floating> g_label
    return scale * loss


cdef inline floating row_weight(const floating* w, floating total, Py_ssize_t i,
                                Py_ssize_t n) noexcept nogil:
    """c_i = w_i / total, or 1 / n when there are no weights (w is NULL)."""
    if w == NULL:
        return (<floating> 1) / n
    return w[i] / total


cdef inline double softmax_xent_labels(const floating* z, const Py_ssize_t* labels,
                                       const floating* w, floating w_total, Py_ssize_t n,
                                       Py_ssize_t k, double eps, floating* grad,
                                       bint threads) noexcept nogil:
    """Mean cross-entropy of logits z (n, k) against integer labels (n,) smoothed by
    ``eps``; grad (n, k) := dL/dz.

    ``w`` is (n,) sample weights with sum ``w_total``, or NULL for the plain mean.
    Rows run on OpenMP threads when ``threads`` and parallel.pxd's use_threads agree.
    """
    cdef Py_ssize_t i
    cdef double total = 0
    if not (threads and use_threads(n * k)):
        for i in range(n):
            total = total + xent_label_row(z + i * k, k, labels[i], eps,
                                           row_weight(w, w_total, i, n), grad + i * k)
    else:
        for i in prange(n, schedule="static"):
            total += xent_label_row(z + i * k, k, labels[i], eps,
                                    row_weight(w, w_total, i, n), grad + i * k)
    return total


cdef inline double softmax_xent_targets(const floating* z, const floating* y,
                                        const floating* w, floating w_total, Py_ssize_t n,
                                        Py_ssize_t k, double eps, floating* grad,
                                        bint threads) noexcept nogil:
    """Mean cross-entropy of logits z (n, k) against target rows y (n, k) smoothed by
    ``eps``; grad := dL/dz. Threaded as softmax_xent_labels."""
    cdef Py_ssize_t i
    cdef double total = 0
    if not (threads and use_threads(n * k)):
        for i in range(n):
            total = total + xent_target_row(z + i * k, y + i * k, k, eps,
                                            row_weight(w, w_total, i, n), grad + i * k)
    else:
        for i in prange(n, schedule="static"):
            total += xent_target_row(z + i * k, y + i * k, k, eps,
                                     row_weight(w, w_total, i, n), grad + i * k)
    return total


cdef inline double sigmoid_bce(const floating* z, const floating* y, const floating* w,
                               floating w_total, Py_ssize_t n, Py_ssize_t k, floating* grad,
                               bint threads) noexcept nogil:
    """Mean over rows of the binary cross-entropy of logits z (n, k) against targets
    y (n, k), summed over the k labels; grad := dL/dz. Weights and threads as in
    softmax_xent_labels."""
    cdef Py_ssize_t i
    cdef double total = 0
    if not (threads and use_threads(n * k)):
        for i in range(n):
            total = total + bce_row(z + i * k, y + i * k, k, row_weight(w, w_total, i, n),
                                    grad + i * k)
    else:
        for i in prange(n, schedule="static"):
            total += bce_row(z + i * k, y + i * k, k, row_weight(w, w_total, i, n),
                             grad + i * k)
    return total


cdef inline double multiclass_hinge(const floating* z, const Py_ssize_t* labels,
                                    const floating* w, floating w_total, Py_ssize_t n,
                                    Py_ssize_t k, int p, floating* grad,
                                    bint threads) noexcept nogil:
    """Mean multi-class hinge (p = 1 or 2) of scores z (n, k) against integer labels
    (n,); grad := dL/dz. Weights and threads as in softmax_xent_labels."""
    cdef Py_ssize_t i
    cdef double total = 0
    if not (threads and use_threads(n * k)):
        for i in range(n):
            total = total + hinge_row(z + i * k, k, labels[i], p, row_weight(w, w_total, i, n),
                                      grad + i * k)
    else:
        for i in prange(n, schedule="static"):
            total += hinge_row(z + i * k, k, labels[i], p, row_weight(w, w_total, i, n),
                               grad + i * k)
    return total


cdef inline double mse(const floating* yhat, const floating* y, const floating* w,
                       floating w_total, Py_ssize_t n, Py_ssize_t k,
                       floating* grad) noexcept nogil:
    """L = sum_i c_i sum_j (yhat_ij - y_ij)**2 over the n rows of k outputs;
    grad_i := 2 c_i (yhat_i - y_i), with c_i = row_weight(w, w_total, i, n): 1/n
    (the plain mean) or w_i / w_total."""
    cdef Py_ssize_t i, j
    cdef double d
    cdef double total = 0
    cdef floating c
    for i in range(n):
        c = row_weight(w, w_total, i, n)
        for j in range(i * k, (i + 1) * k):
            d = <double> yhat[j] - y[j]
            grad[j] = 2 * c * (yhat[j] - y[j])
            # Unweighted, the plain sum divided once by n at the end.
            total = total + (d * d if w == NULL else c * d * d)
    return total / n if w == NULL else total
