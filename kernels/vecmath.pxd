# cython: language_level=3
"""Vectorisable exp, tanh and sigmoid (see vecmath.h for the formulas and their
accuracy), and sums accumulated in double, fused over float32/float64.

The scalar forms inline into Cython loops (softmax rows, cross-entropy); the
array forms are compiled for AVX-512, AVX2 and the baseline, and the best one
for the running CPU is chosen at load time, which is where the element-wise cost
of a training step goes.
"""
from cython cimport floating

cdef extern from "vecmath.h" nogil:
    float exp_nonpositive_f32 "fastmlp_exp_nonpositive_f32"(float x)
    double exp_nonpositive_f64 "fastmlp_exp_nonpositive_f64"(double x)
    float tanh_f32 "fastmlp_tanh_f32"(float x)
    double tanh_f64 "fastmlp_tanh_f64"(double x)
    float sigmoid_f32 "fastmlp_sigmoid_f32"(float x)
    double sigmoid_f64 "fastmlp_sigmoid_f64"(double x)
    void tanh_array_f32 "fastmlp_tanh_array_f32"(const float* x, float* out, Py_ssize_t n)
    void tanh_array_f64 "fastmlp_tanh_array_f64"(const double* x, double* out, Py_ssize_t n)
    void sigmoid_array_f32 "fastmlp_sigmoid_array_f32"(const float* x, float* out,
                                                       Py_ssize_t n)
    void sigmoid_array_f64 "fastmlp_sigmoid_array_f64"(const double* x, double* out,
                                                       Py_ssize_t n)
    bint all_finite_f32 "fastmlp_all_finite_f32"(const float* x, Py_ssize_t n)
    bint all_finite_f64 "fastmlp_all_finite_f64"(const double* x, Py_ssize_t n)


cdef inline floating exp_nonpositive(floating x) noexcept nogil:
    """exp(x) for x <= 0 (or NaN)"""
    if floating is float:
        return exp_nonpositive_f32(x)
    else:
        return exp_nonpositive_f64(x)


cdef inline floating sigmoid_scalar(floating x) noexcept nogil:
    """1 / (1 + exp(-x)), the scalar form of sigmoid_array"""
    if floating is float:
        return sigmoid_f32(x)
    else:
        return sigmoid_f64(x)


cdef inline void tanh_array(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    """out := tanh(x) over n elements; out may be x"""
    if floating is float:
        tanh_array_f32(x, out, n)
    else:
        tanh_array_f64(x, out, n)


cdef inline void sigmoid_array(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    """out := 1 / (1 + exp(-x)) over n elements; out may be x"""
    if floating is float:
        sigmoid_array_f32(x, out, n)
    else:
        sigmoid_array_f64(x, out, n)


# Interleaved partial sums in sum_in_double.
cdef enum:
    SUM_LANES = 8


cdef inline double sum_in_double(const floating* a, Py_ssize_t n,
                                 bint squares=False) noexcept nogil:
    """sum(a), or sum(a**2) with ``squares``, accumulated in double (a float32 sum of
    2**25 ones stops at 2**24).

    Over SUM_LANES interleaved partial sums: with a single running sum each
    addition waits for the one before, and the compiler may not vectorise the
    loop (that would reorder the additions); independent lanes vectorise.
    """
    cdef double lane[SUM_LANES]
    cdef double total = 0, v
    cdef Py_ssize_t i, j
    cdef Py_ssize_t body = n - n % SUM_LANES
    for i in range(SUM_LANES):
        lane[i] = 0
    for j in range(n // SUM_LANES):
        for i in range(SUM_LANES):
            v = a[j * SUM_LANES + i]
            lane[i] = lane[i] + (v * v if squares else v)
    for j in range(body, n):
        v = a[j]
        lane[j - body] = lane[j - body] + (v * v if squares else v)
    for i in range(SUM_LANES):
        total = total + lane[i]
    return total


cdef inline bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """Are all n entries of x finite?"""
    if floating is float:
        return all_finite_f32(x, n)
    else:
        return all_finite_f64(x, n)
