"""Shared fixtures and tolerances for the kernel tests."""
from pathlib import Path

import numpy as np
import pytest

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["float32", "float64"]

# Agreement with fastmlp.reference: rounding differs (BLAS blocking, libm vs
# NumPy's vectorised math, order of sums), so compare with per-dtype tolerances.
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-6, np.float64: 1e-13}

# Finite-difference checks run in float64; central differences with eps=1e-6
# agree with a correct analytic gradient to about 1e-8 relative.
GRAD_RTOL = 1e-6


def assert_close(actual, expected, dtype, scale=1.0):
    """assert_allclose with the tolerances of ``dtype`` (scaled for longer sums)."""
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype] * scale,
                               atol=ATOL[dtype] * scale)


@pytest.fixture(params=DTYPES, ids=DTYPE_IDS)
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def torch_or_skip():
    """Import torch, or skip the test cleanly when it is not installed."""
    return pytest.importorskip("torch")


# The real MNIST test set lives beside the repository, never in it.
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def mnist_dir_or_skip():
    """The folder with the MNIST test split, or skip cleanly when it is absent."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST test split not found at {MNIST_DIR}")
    return MNIST_DIR


def run_with_memory_limit(code, setup="", headroom=512 * 2**20, cwd=None):
    """Run ``setup`` and then ``code`` in a fresh Python, in the folder ``cwd``, whose
    address space may grow by only ``headroom`` bytes after ``setup``: an allocation
    beyond that is a MemoryError in the child, whatever the machine's memory and
    overcommit policy.

    Returns the CompletedProcess (text output captured).
    """
    import subprocess
    import sys
    import textwrap
    limit = ("import os, resource\n"
             "_pages = int(open('/proc/self/statm').read().split()[0])\n"
             f"_size = _pages * os.sysconf('SC_PAGE_SIZE') + {headroom}\n"
             "resource.setrlimit(resource.RLIMIT_AS, (_size, _size))\n")
    program = textwrap.dedent(setup) + "\n" + limit + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=cwd, timeout=300)
