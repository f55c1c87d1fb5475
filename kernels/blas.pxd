# cython: language_level=3
"""Row-major matrix products on SciPy's BLAS, for float32 and float64.

BLAS is column-major, and a row-major matrix is the column-major storage of its
transpose. So the row-major product C = op(A) @ op(B) is computed as the
column-major product C.T = op(B).T @ op(A).T: swap the operands and m/n, and keep
each operand's own transpose flag.

The workers take raw pointers with explicit sizes so that the per-kernel entry
points (which hold typed memoryviews) and the fused network loops (which walk
one flat parameter buffer) share them.
"""
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                      const floating* a, const floating* b, floating beta,
                      floating* c) noexcept nogil:
    """c := alpha * op(a) @ op(b) + beta * c, with op(x) = x.T when trans_x.

    Row-major and contiguous: op(a) is (m, k), op(b) is (k, n), c is (m, n).
    With beta = 0 the old contents of c are ignored (NaN included).
    """
    cdef int lda = m if trans_a else k
    cdef int ldb = k if trans_b else n
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda, &beta, c, &n)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda, &beta, c, &n)
