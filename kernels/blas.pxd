# cython: language_level=3
"""Row-major matrix products on SciPy's BLAS, for float32 and float64.

BLAS is column-major, and a row-major matrix is the column-major storage of its
transpose. So the row-major product C = op(A) @ op(B) is computed as the
column-major product C.T = op(B).T @ op(A).T: swap the operands and m/n, and keep
each operand's own transpose flag.
"""
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void gemm(bint trans_a, bint trans_b, floating alpha,
                      const floating[:, ::1] a, const floating[:, ::1] b,
                      floating beta, floating[:, ::1] c) noexcept nogil:
    """c := alpha * op(a) @ op(b) + beta * c, with op(x) = x.T when trans_x.

    Shapes: op(a) is (m, k), op(b) is (k, n), c is (m, n); all C-contiguous.
    With beta = 0 the old contents of c are ignored (NaN included).
    """
    cdef int m = c.shape[0]
    cdef int n = c.shape[1]
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    cdef int lda = a.shape[1]
    cdef int ldb = b.shape[1]
    cdef int ldc = n
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> &b[0, 0], &ldb,
              <float*> &a[0, 0], &lda, &beta, &c[0, 0], &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> &b[0, 0], &ldb,
              <double*> &a[0, 0], &lda, &beta, &c[0, 0], &ldc)
