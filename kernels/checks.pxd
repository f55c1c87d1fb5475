# cython: language_level=3
"""Bounds checks, in the debug build, where typed memoryviews meet raw-pointer workers.

The workers walk raw pointers, which no compiler directive can check. In the
debug build (FASTMLP_DEBUG=1 pip install ., which also turns Cython's
boundscheck on) each entry point first touches, through its memoryviews, the
last element that the worker will read or write, so that a buffer too short for
the loop raises IndexError instead of corrupting memory. In the release build
these checks compile to nothing.
"""
from cython cimport floating

cdef extern from *:
    """
    #ifndef FASTMLP_DEBUG
    #define FASTMLP_DEBUG 0
    #endif
    """
    bint DEBUG_BUILD "FASTMLP_DEBUG"


cdef inline void covers(const floating[::1] a, Py_ssize_t n) except *:
    """IndexError (debug build) unless a holds at least n elements"""
    cdef floating touch
    if DEBUG_BUILD and n > 0:
        touch = a[n - 1]


cdef inline void covers_2d(const floating[:, ::1] a, Py_ssize_t n, Py_ssize_t k) except *:
    """IndexError (debug build) unless a holds at least n rows of k elements"""
    cdef floating touch
    if DEBUG_BUILD and n > 0 and k > 0:
        touch = a[n - 1, k - 1]


cdef inline void covers_labels(const Py_ssize_t[::1] a, Py_ssize_t n) except *:
    """IndexError (debug build) unless a holds at least n labels"""
    cdef Py_ssize_t touch
    if DEBUG_BUILD and n > 0:
        touch = a[n - 1]
