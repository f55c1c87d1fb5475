# cython: language_level=3
"""When an OpenMP loop runs on threads.

Starting a parallel region costs a few microseconds, so a loop runs threaded only
when it touches at least PARALLEL_MIN_ELEMENTS elements; smaller ones stay on one
core.

Never in a child process made by fork(): GNU OpenMP's thread pool does not survive
fork (only the forking thread is copied), and the child's first parallel region
would wait forever for the parent's workers. Each module that includes this
header registers, when it is loaded, a pthread_atfork handler that marks the
child; from then on (grandchildren included) its loops run on the calling thread.
"""

cdef extern from *:
    """
    #if defined(_OPENMP) && !defined(_WIN32)
    #include <pthread.h>
    static volatile int fastmlp_in_forked_child = 0;
    static void fastmlp_mark_forked_child(void) { fastmlp_in_forked_child = 1; }
    __attribute__((constructor)) static void fastmlp_watch_fork(void) {
        pthread_atfork(NULL, NULL, fastmlp_mark_forked_child);
    }
    #else
    #define fastmlp_in_forked_child 0
    #endif
    """
    int in_forked_child "fastmlp_in_forked_child"

cdef enum:
    PARALLEL_MIN_ELEMENTS = 1 << 16


cdef inline bint use_threads(Py_ssize_t n_elements) noexcept nogil:
    """True when a loop over n_elements should run on OpenMP threads: it is large
    enough to repay starting a team, and this is not a forked child."""
    return n_elements >= PARALLEL_MIN_ELEMENTS and not in_forked_child
