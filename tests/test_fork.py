"""The OpenMP-threaded kernels in a child process made by fork().

GNU OpenMP's thread pool does not survive fork: a child whose parent had run a
threaded loop would wait forever in its own first one. kernels/parallel.pxd makes
a forked child run those loops on one thread. The check runs in a subprocess of
its own, killed with its child if it hangs, so that a regression fails this test
instead of hanging the suite.
"""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import fastmlp

# Runs every threaded kernel (1024 x 64 = 65,536 elements: threaded) in both
# dtypes, saves the results to argv[1], forks, and the child does the same into argv[2].
SCRIPT = r"""
import os
import sys

import numpy as np

from fastmlp import kernels


def run():
    results = {}
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(0)
        z = (rng.standard_normal((1024, 64)) * 3).astype(dtype)
        labels = rng.integers(0, 64, 1024)
        targets = kernels.softmax(rng.standard_normal((1024, 64)).astype(dtype))
        name = np.dtype(dtype).name
        for kernel in ("softmax", "log_softmax", "tanh", "sigmoid"):
            results[f"{kernel} {name}"] = getattr(kernels, kernel)(z)
        for kind, y in (("labels", labels), ("targets", targets)):
            loss, grad = kernels.softmax_cross_entropy(z, y)
            results[f"xent {kind} loss {name}"] = np.float64(loss)
            results[f"xent {kind} grad {name}"] = grad
    return results


np.savez(sys.argv[1], **run())
pid = os.fork()
if pid == 0:
    np.savez(sys.argv[2], **run())
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="this platform has no fork()")
def test_forked_child_runs_the_threaded_kernels(tmp_path):
    parent, child = tmp_path / "parent.npz", tmp_path / "child.npz"
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
    env = dict(os.environ, OMP_NUM_THREADS="2",  # a thread team even on a one-core runner
               PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    # cwd: a child's `python -c` puts its folder first on sys.path, and the
    # repository root holds the uncompiled fastmlp/.
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(parent), str(child)], env=env,
                            cwd=tmp_path, start_new_session=True)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its forked child
        proc.wait()
        pytest.fail("a process forked after the threaded kernels ran hung in them")
    assert proc.returncode == 0
    with np.load(parent) as before, np.load(child) as after:
        assert set(after.files) == set(before.files)
        for key in before.files:
            if "loss" in key:
                # Threads add up the rows' losses in another order than one thread.
                np.testing.assert_allclose(after[key], before[key], rtol=1e-12, err_msg=key)
            else:
                np.testing.assert_array_equal(after[key], before[key], err_msg=key)
