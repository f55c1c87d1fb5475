# cython: language_level=3
"""Row-major matrix products on SciPy's BLAS, for float32 and float64.

BLAS is column-major, and a row-major matrix is the column-major storage of its
transpose. So the row-major product C = op(A) @ op(B) is computed as the
column-major product C.T = op(B).T @ op(A).T: swap the operands and m/n, and keep
each operand's own transpose flag.

The workers take raw pointers with explicit sizes so that the per-kernel entry
points (which hold typed memoryviews) and the fused network loops (which walk
one flat parameter buffer) share them.

A BLAS call costs about a microsecond before it does any arithmetic, which is
the whole cost of a product of a few hundred multiply-adds. Below
SMALL_GEMM_WORK multiply-adds the product runs as plain loops instead (see
benchmarks/bench_step.py for the measurement behind the threshold).
"""
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef enum:
    SMALL_GEMM_WORK = 4096


cdef inline void small_gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                            const floating* a, const floating* b, floating beta,
                            floating* c) noexcept nogil:
    """c := alpha * op(a) @ op(b) + beta * c as loops, each ordered so that its
    innermost index walks contiguous memory."""
    cdef Py_ssize_t i, j, p
    cdef floating s, aip
    if trans_b:  # b is (n, k): c[i, j] is the dot product of rows of op(a) and b
        for i in range(m):
            for j in range(n):
                s = 0
                if trans_a:
                    for p in range(k):
                        s = s + a[p * m + i] * b[j * k + p]
                else:
                    for p in range(k):
                        s = s + a[i * k + p] * b[j * k + p]
                c[i * n + j] = alpha * s + (beta * c[i * n + j] if beta != 0 else 0)
        return
    for i in range(m):  # b is (k, n): add rows of b into row i of c
        for j in range(n):
            c[i * n + j] = beta * c[i * n + j] if beta != 0 else 0
        for p in range(k):
            aip = alpha * (a[p * m + i] if trans_a else a[i * k + p])
            for j in range(n):
                c[i * n + j] = c[i * n + j] + aip * b[p * n + j]


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                      const floating* a, const floating* b, floating beta,
                      floating* c) noexcept nogil:
    """c := alpha * op(a) @ op(b) + beta * c, with op(x) = x.T when trans_x.

    Row-major and contiguous: op(a) is (m, k), op(b) is (k, n), c is (m, n).
    With beta = 0 the old contents of c are ignored (NaN included).
    """
    if <Py_ssize_t> m * n * k <= SMALL_GEMM_WORK:
        small_gemm(trans_a, trans_b, m, n, k, alpha, a, b, beta, c)
        return
    cdef int lda = m if trans_a else k
    cdef int ldb = k if trans_b else n
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda, &beta, c, &n)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda, &beta, c, &n)
