"""fastmlp.course: the practical's five stages train the same numbers (float64 to
rounding, float32 loosely), on circles and MNIST; torch stages skip without torch."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastmlp import course, datasets
from helpers import mnist_dir_or_skip, torch_or_skip

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "course"
# Largest difference from fastmlp's losses and parameters, relative to their scale:
# rounding in float64; float32's rounding, grown over the steps, in float32.
TOL = {np.float64: 1e-12, np.float32: 1e-4}


def assert_stages_agree(results, dtype):
    base = results["fastmlp"]
    scale = max(np.abs(p).max() for p in base.params.values())
    for name, result in results.items():
        assert len(result.losses) == len(base.losses), name
        dloss, dparam = course.differences(result, base)
        assert dloss <= TOL[dtype] * max(base.losses), (name, dloss)
        assert dparam <= TOL[dtype] * scale, (name, dparam)
        assert all(p.dtype == dtype for p in result.params.values()), name
        assert result.seconds_per_epoch > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("batch_size", [16, None], ids=["minibatch", "full"])
def test_stages_agree_on_circles(dtype, batch_size):
    torch_or_skip()
    X, y = datasets.circles(150, noise=0.1, seed=3)  # 150 rows: a last batch of 6
    results = course.run_stages(X, y, n_hidden=6, epochs=4, batch_size=batch_size, lr=0.5,
                                seed=1, dtype=dtype)
    assert list(results) == list(course.STAGES)
    assert_stages_agree(results, dtype)
    # Training happened: the parameters moved and the loss fell.
    start = course.initial_params(2, 6, 2, 1, dtype)
    assert np.abs(results["fastmlp"].params["Wh"] - start["Wh"]).max() > 1e-3
    assert results["fastmlp"].losses[-1] < results["fastmlp"].losses[0]


def test_stages_agree_on_mnist():
    torch_or_skip()
    X, y = datasets.load_mnist(mnist_dir_or_skip(), "test")
    results = course.run_stages(X[:300], y[:300], n_hidden=16, epochs=2, batch_size=32, lr=0.1,
                                seed=0, dtype=np.float64)
    assert_stages_agree(results, np.float64)


def test_batches_are_fits_order():
    # The permutation of each epoch from one generator; in order for a single batch.
    rng = np.random.default_rng(5)
    epochs = list(course.batches(10, 4, 2, seed=5))
    for epoch in epochs:
        order = rng.permutation(10)
        assert [b.tolist() for b in epoch] == [order[:4].tolist(), order[4:8].tolist(),
                                               order[8:].tolist()]
    assert [b.tolist() for b in next(course.batches(5, 5, 1, seed=0))] == [[0, 1, 2, 3, 4]]


def test_without_torch_the_torch_stages_are_skipped_with_a_message(monkeypatch):
    monkeypatch.setattr(course, "torch_available", lambda: False)
    messages = []
    X, y = datasets.circles(40, seed=0)
    results = course.run_stages(X, y, n_hidden=3, epochs=2, batch_size=8, lr=0.1,
                                log=messages.append)
    assert list(results) == ["reference", "fastmlp"]
    assert len(messages) == 3 and all("pip install torch==2.13.0" in m for m in messages)
    assert_stages_agree(results, np.float64)
    table = course.report(results).splitlines()
    assert table[0].split() == ["stage", "final", "loss", "max", "|dloss|", "max", "|dparam|",
                                "ms/epoch"]
    assert [row.split()[0] for row in table[1:]] == ["reference", "fastmlp"]


def test_unknown_stage():
    with pytest.raises(ValueError, match="unknown stages"):
        course.run_stages(np.zeros((4, 2)), [0, 1, 0, 1], 2, 1, 2, 0.1, stages=["keras"])


def test_mnist_example_without_data_says_so(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / "mnist.py"), str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "MNIST not found" in result.stdout and "skipping" in result.stdout
