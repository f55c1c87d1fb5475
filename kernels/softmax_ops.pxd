# cython: language_level=3
"""Row-wise, numerically stable softmax and log-softmax.

softmax(z)_j = exp(z_j - m) / sum_l exp(z_l - m) with m = max_l z_l: subtracting the
row maximum changes nothing mathematically and keeps every exp in (0, 1], so rows
of +-1e4 neither overflow nor lose the largest entry (and the vectorised
exp_nonpositive of vecmath.pxd applies). -inf entries give exp = 0.
A row whose maximum is +inf, -inf (all entries -inf) or NaN has no defined softmax
and comes out as NaN, as in NumPy, SciPy and PyTorch.

Design: row workers over one contiguous row of k entries (raw pointers, shared
with the loss kernels and the fused network loops); ``exp_shifted_row`` is the
pass every softmax-like kernel needs. Row sums are accumulated in double in
both precisions: a float32 sum of 2**25 terms of 1 stops growing at 2**24.
log-softmax is formed as (z - m) - log(sum), so the row maximum m, however
large, is never rounded into the small result. The row loops run rows on
OpenMP threads when parallel.pxd says so. ``out`` may be ``z`` itself.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log

from parallel cimport use_threads
from vecmath cimport exp_nonpositive, sum_in_double

# Exponentials log_softmax_row keeps on the stack at once.
cdef enum:
    EXP_BLOCK = 256


cdef inline floating row_max(const floating* z, Py_ssize_t k) noexcept nogil:
    """max(z), or NaN when z holds a NaN."""
    cdef Py_ssize_t j
    cdef floating m = z[0]
    for j in range(1, k):
        # `not <=` rather than `>` so that a NaN anywhere in the row becomes the max.
        if not z[j] <= m:
            m = z[j]
    return m


cdef inline double exp_shifted_row(const floating* z, floating* out, Py_ssize_t k,
                                   floating* max_out) noexcept nogil:
    """out := exp(z - max(z)); returns sum(out), in double, and stores max(z) in max_out."""
    cdef Py_ssize_t j
    cdef floating m = row_max(z, k)
    for j in range(k):
        out[j] = exp_nonpositive(z[j] - m)
    max_out[0] = m
    return sum_in_double(out, k)


cdef inline void softmax_row(const floating* z, floating* out, Py_ssize_t k) noexcept nogil:
    """out := exp(z - logsumexp(z))"""
    cdef Py_ssize_t j
    cdef floating m
    cdef floating inv = <floating> (1 / exp_shifted_row(z, out, k, &m))
    for j in range(k):
        out[j] = out[j] * inv


cdef inline void log_softmax_row(const floating* z, floating* out, Py_ssize_t k) noexcept nogil:
    """out := (z - max(z)) - log(sum(exp(z - max(z))))

    The exponentials are summed a block at a time on the stack, never stored in
    ``out``: it may be ``z``, which must stay intact until the log-sum-exp is known.
    """
    cdef Py_ssize_t j, block, start, width
    cdef floating m = row_max(z, k)
    cdef floating e[EXP_BLOCK]
    cdef double s = 0
    cdef floating log_s
    for block in range((k + EXP_BLOCK - 1) // EXP_BLOCK):
        start = block * EXP_BLOCK
        width = min(<Py_ssize_t> EXP_BLOCK, k - start)
        for j in range(width):
            e[j] = exp_nonpositive(z[start + j] - m)
        s = s + sum_in_double(e, width)
    log_s = <floating> log(s)
    for j in range(k):
        out[j] = (z[j] - m) - log_s


cdef inline void softmax_rows(const floating* z, floating* out, Py_ssize_t n, Py_ssize_t k,
                              bint threads) noexcept nogil:
    """out[i] := softmax(z[i]) for each of the n rows of z (n, k); rows on OpenMP
    threads when ``threads`` and parallel.pxd's use_threads agree"""
    cdef Py_ssize_t i
    if not (threads and use_threads(n * k)):
        for i in range(n):
            softmax_row(z + i * k, out + i * k, k)
    else:
        for i in prange(n, schedule="static"):
            softmax_row(z + i * k, out + i * k, k)


cdef inline void log_softmax_rows(const floating* z, floating* out, Py_ssize_t n,
                                  Py_ssize_t k, bint threads) noexcept nogil:
    """out[i] := log_softmax(z[i]) for each of the n rows of z (n, k), threaded as above"""
    cdef Py_ssize_t i
    if not (threads and use_threads(n * k)):
        for i in range(n):
            log_softmax_row(z + i * k, out + i * k, k)
    else:
        for i in prange(n, schedule="static"):
            log_softmax_row(z + i * k, out + i * k, k)
