# cython: language_level=3
"""When an OpenMP loop is worth its threads.

Starting a parallel region costs a few microseconds, so a loop runs threaded only
when it touches at least this many elements; smaller ones stay on one core.
"""
cdef enum:
    PARALLEL_MIN_ELEMENTS = 1 << 16
