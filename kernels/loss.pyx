# cython: language_level=3
"""GIL-releasing entry points for the fused loss-and-gradient kernels (see loss_ops.pxd).

Callers (fastmlp.kernels) have already checked dtypes, shapes, label ranges,
targets, the label smoothing (in [0, 1]), the hinge's p (1 or 2), weights and
writability; ``w`` is empty when there are no weights, and scaled so that its
largest entry is 1 otherwise. Each returns the loss (a double) and
writes the gradient to ``grad``.
"""
from cython cimport floating

from checks cimport covers, covers_2d, covers_labels

cimport loss_ops as loss


def softmax_cross_entropy_labels(const floating[:, ::1] z, const Py_ssize_t[::1] labels,
                                 const floating[::1] w, floating w_total, double smoothing,
                                 floating[:, ::1] grad):
    cdef double total
    cdef const floating* w_ptr = &w[0] if w.shape[0] > 0 else NULL
    covers_labels(labels, z.shape[0])
    covers(w, z.shape[0] if w_ptr != NULL else 0)
    covers_2d(grad, z.shape[0], z.shape[1])
    with nogil:
        total = loss.softmax_xent_labels(&z[0, 0], &labels[0], w_ptr, w_total,
                                         z.shape[0], z.shape[1], smoothing, &grad[0, 0], True)
    return total


def softmax_cross_entropy_targets(const floating[:, ::1] z, const floating[:, ::1] y,
                                  const floating[::1] w, floating w_total, double smoothing,
                                  floating[:, ::1] grad):
    cdef double total
    cdef const floating* w_ptr = &w[0] if w.shape[0] > 0 else NULL
    covers_2d(y, z.shape[0], z.shape[1])
    covers(w, z.shape[0] if w_ptr != NULL else 0)
    covers_2d(grad, z.shape[0], z.shape[1])
    with nogil:
        total = loss.softmax_xent_targets(&z[0, 0], &y[0, 0], w_ptr, w_total,
                                          z.shape[0], z.shape[1], smoothing, &grad[0, 0], True)
    return total


def sigmoid_binary_cross_entropy(const floating[:, ::1] z, const floating[:, ::1] y,
                                 const floating[::1] w, floating w_total,
                                 floating[:, ::1] grad):
    cdef double total
    cdef const floating* w_ptr = &w[0] if w.shape[0] > 0 else NULL
    covers_2d(y, z.shape[0], z.shape[1])
    covers(w, z.shape[0] if w_ptr != NULL else 0)
    covers_2d(grad, z.shape[0], z.shape[1])
    with nogil:
        total = loss.sigmoid_bce(&z[0, 0], &y[0, 0], w_ptr, w_total, z.shape[0], z.shape[1],
                                 &grad[0, 0], True)
    return total


def multiclass_hinge(const floating[:, ::1] z, const Py_ssize_t[::1] labels,
                     const floating[::1] w, floating w_total, int p, floating[:, ::1] grad):
    cdef double total
    cdef const floating* w_ptr = &w[0] if w.shape[0] > 0 else NULL
    covers_labels(labels, z.shape[0])
    covers(w, z.shape[0] if w_ptr != NULL else 0)
    covers_2d(grad, z.shape[0], z.shape[1])
    with nogil:
        total = loss.multiclass_hinge(&z[0, 0], &labels[0], w_ptr, w_total, z.shape[0],
                                      z.shape[1], p, &grad[0, 0], True)
    return total


def mse(const floating[::1] yhat, const floating[::1] y, const floating[::1] w,
        floating w_total, Py_ssize_t n_rows, floating[::1] grad):
    cdef double total
    cdef const floating* w_ptr = &w[0] if w.shape[0] > 0 else NULL
    covers(y, yhat.shape[0])
    covers(w, n_rows if w_ptr != NULL else 0)
    covers(grad, yhat.shape[0])
    with nogil:
        total = loss.mse(&yhat[0], &y[0], w_ptr, w_total, n_rows, yhat.shape[0] // n_rows,
                         &grad[0])
    return total
