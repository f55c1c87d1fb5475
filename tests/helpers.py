"""What the tests share: tolerances per dtype, comparisons, and ways to skip or
isolate a test (no torch, no MNIST, a memory limit).

Import it as ``from helpers import ...`` (pytest puts tests/ on ``sys.path``). It
imports fastmlp, so under pytest it is imported after conftest.py has chosen which
fastmlp that is.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

from fastmlp import kernels, reference

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


def assert_close_at_scale(actual, expected, rtol):
    """|actual - expected| <= rtol * max|expected| everywhere: agreement relative to the
    array's scale, for results (gradients, trained weights) whose small entries carry
    the rounding errors of the large ones."""
    expected = np.asarray(expected, np.float64)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=0,
                               atol=rtol * np.abs(expected).max())


def assert_within(actual, expected, dtype, magnitude, ulps=8):
    """|actual - expected| <= ulps * eps(dtype) * magnitude (+ the smallest normal
    number, for subnormal and flushed results), element-wise.

    For results that may be small differences of large terms (an SGD step, a
    log-softmax of large logits, a dot product): ``magnitude`` bounds the size of
    the terms each entry is computed from, which is what its rounding error scales
    with; a tolerance relative to the result itself cannot hold when that is ~0.
    """
    info = np.finfo(dtype)
    err = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))
    bound = ulps * float(info.eps) * np.asarray(magnitude, np.float64) + float(info.tiny)
    bad = ~(err <= bound)  # NaN counts as bad
    if np.any(bad):
        i = np.unravel_index(np.argmax(np.where(bad, err / bound, 0)), np.shape(bad))
        raise AssertionError(
            f"{np.count_nonzero(bad)} of {bad.size} entries differ by more than {ulps} "
            f"{np.dtype(dtype).name} ulps of their operands; worst at {i}: "
            f"{np.asarray(actual)[i]!r} vs {np.asarray(expected)[i]!r}, "
            f"error {np.broadcast_to(err, np.shape(bad))[i]:.3g} > bound "
            f"{np.broadcast_to(bound, np.shape(bad))[i]:.3g}")


def sgd_magnitude(param, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """Size of the terms behind sgd_update steps from ``param`` through ``grads``,
    for assert_within: the same steps in float64 on |param| and |grad| with every
    term added instead of subtracted (each rounding error, and its growth from
    step to step, is bounded by the same recursion on absolute values)."""
    m = np.abs(np.asarray(param, np.float64))
    v = np.zeros_like(m) if momentum else None
    for g in grads:
        reference.sgd_update(m, -np.abs(np.asarray(g, np.float64)), lr, momentum=momentum,
                             velocity=v, nesterov=nesterov, weight_decay=-weight_decay)
    return m


def assert_linear_matches_reference(x, W, b, g, dtype):
    """linear_forward and linear_backward against the float64 reference, each entry
    within a few ulps per term of its dot product (scaled by the absolute terms)."""
    x64, W64, b64, g64 = (np.asarray(a, np.float64) for a in (x, W, b, g))
    n, n_in = x64.shape
    n_out = W64.shape[0]
    assert_within(kernels.linear_forward(x, W, b), reference.linear_forward(x64, W64, b64),
                  dtype, np.abs(x64) @ np.abs(W64).T + np.abs(b64), ulps=2 * (n_in + 1))
    magnitudes = [(np.abs(g64) @ np.abs(W64), n_out), (np.abs(g64).T @ np.abs(x64), n),
                  (np.abs(g64).sum(axis=0), n)]
    for got, want, (magnitude, terms) in zip(kernels.linear_backward(x, W, g),
                                             reference.linear_backward(x64, W64, g64),
                                             magnitudes):
        assert got.dtype == dtype
        assert_within(got, want, dtype, magnitude, ulps=2 * (terms + 1))


def resave(path, **changes):
    """Rewrite a model saved at ``path`` with some fields changed (or added), keeping
    a valid checksum, so that load's other checks are what refuses it."""
    from fastmlp._serialization import checksum
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "checksum"}
    arrays.update(changes)
    arrays["checksum"] = np.array(checksum(arrays))
    np.savez(path, **arrays)


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


def run_python(code, cwd=None, timeout=300):
    """Run ``code`` in a fresh Python in the folder ``cwd`` (by default the temporary
    folder: never the repository root, whose uncompiled fastmlp/ a child's
    ``python -c`` would import instead of the installed one). Returns the
    CompletedProcess (text output captured)."""
    import subprocess
    import tempfile
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd or tempfile.gettempdir(), timeout=timeout)


def run_with_memory_limit(code, setup="", headroom=512 * 2**20, cwd=None):
    """Run ``setup`` and then ``code`` with ``run_python``, in a Python whose
    address space may grow by only ``headroom`` bytes after ``setup``: an allocation
    beyond that is a MemoryError in the child, whatever the machine's memory and
    overcommit policy.

    Returns the CompletedProcess (text output captured).
    """
    import textwrap
    limit = ("import os, resource\n"
             "_pages = int(open('/proc/self/statm').read().split()[0])\n"
             f"_size = _pages * os.sysconf('SC_PAGE_SIZE') + {headroom}\n"
             "resource.setrlimit(resource.RLIMIT_AS, (_size, _size))\n")
    program = textwrap.dedent(setup) + "\n" + limit + textwrap.dedent(code)
    return run_python(program, cwd)
