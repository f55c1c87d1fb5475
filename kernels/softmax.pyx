# cython: language_level=3
"""GIL-releasing entry points for softmax and log-softmax (see softmax_ops.pxd).

Callers (fastmlp.kernels) have already checked dtypes, shapes, contiguity and
writability. ``out`` may be ``z`` itself.
"""
from cython cimport floating

from checks cimport covers_2d

cimport softmax_ops as sm


def softmax(const floating[:, ::1] z, floating[:, ::1] out):
    covers_2d(out, z.shape[0], z.shape[1])
    with nogil:
        sm.softmax_rows(&z[0, 0], &out[0, 0], z.shape[0], z.shape[1], True)


def log_softmax(const floating[:, ::1] z, floating[:, ::1] out):
    covers_2d(out, z.shape[0], z.shape[1])
    with nogil:
        sm.log_softmax_rows(&z[0, 0], &out[0, 0], z.shape[0], z.shape[1], True)
