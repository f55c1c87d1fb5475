"""MLP.fit on a NumPy memmap of the model's dtype reads the file in place: the
compiled epoch receives the mapped memory itself, and the checks before it
(finiteness) allocate a bounded mask, never a copy of X."""
import copy
import tracemalloc

import numpy as np
import pytest
from helpers import DTYPE_IDS, DTYPES

from fastmlp import MLP
from fastmlp._validation import _FINITE_BLOCK, check_finite


def _memmap(path, X):
    """X written to an .npy file, mapped back read-only."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=X.dtype, shape=X.shape)
    out[:] = X
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_fit_reads_a_memmap_in_place(tmp_path, dtype):
    # 16 MB of X: several times the finiteness check's block, so the blocked path runs.
    n, k = 40_000, 50
    rng = np.random.default_rng(0)
    X_mem = rng.standard_normal((n, k)).astype(dtype)
    y = (X_mem[:, 0] * X_mem[:, 1] > 0).astype(np.intp)
    X = _memmap(tmp_path / "X.npy", X_mem)
    assert type(X) is np.memmap and not X.flags.writeable

    model = MLP([k, 16, 2], dtype=dtype, seed=0)
    assert np.shares_memory(model._check_X(X), X)  # what fit hands to the kernel
    twin = copy.deepcopy(model)
    tracemalloc.start()
    try:
        model.fit(X, y, epochs=1, batch_size=256, progress=False, seed=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The shuffle's permutation (8 bytes a row, a sixth of X here in float64) and a
    # one-block finiteness mask: far below one copy of X.
    assert peak < n * 8 + 2 * _FINITE_BLOCK + X.nbytes // 20, (peak, X.nbytes)
    assert peak < X.nbytes // 2
    # Trained exactly as on the same data in memory.
    twin.fit(X_mem, y, epochs=1, batch_size=256, progress=False, seed=1)
    for a, b in zip([*model.weights, *model.biases], [*twin.weights, *twin.biases]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("where", [(0, 0), (_FINITE_BLOCK // 2, 1), (_FINITE_BLOCK - 1, 2)],
                         ids=["first-row", "second-block", "last-row"])
def test_blocked_finiteness_check_names_the_first_bad_value(where):
    X = np.zeros((_FINITE_BLOCK, 3), np.float32)  # three blocks of rows
    X[where] = np.nan
    X[where[0] + 1:, 0] = np.inf  # later ones are not the one named
    with pytest.raises(ValueError, match=rf"X contains NaN or infinite values \(first at "
                                         rf"index \({where[0]}, {where[1]}\)\)"):
        check_finite(X, "X")
    check_finite(np.zeros_like(X), "X")
