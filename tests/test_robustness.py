"""Training failures lose nothing, saving is atomic, and inference is thread-safe."""
import os
import signal
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastmlp import MLP, History


def test_ctrl_c_during_fit_keeps_a_usable_model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100_000, 20)).astype(np.float32)
    y = rng.integers(0, 10, 100_000)
    model = MLP([20, 64, 10], seed=0)
    # Epochs of 25,000 steps: the signal lands inside the compiled epoch loop, and
    # there are far more epochs than can run before it.
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(X, y, epochs=1000, batch_size=4, lr=0.01, progress=False)
    finally:
        timer.cancel()
    assert isinstance(history, History) and history.interrupted
    assert history.epochs < 1000
    assert any("training interrupted" in str(w.message) for w in caught)
    assert all(np.isfinite(W).all() for W in model.weights)
    # The model works afterwards, and can train on.
    assert model.predict(X[:5]).shape == (5,)
    more = model.fit(X[:200], y[:200], epochs=1, progress=False)
    assert not more.interrupted and np.isfinite(more.loss[0])


def test_a_crash_during_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = MLP([3, 4, 2], seed=0)
    old.save(path)
    new = MLP([3, 4, 2], seed=1)

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a model")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    X = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(MLP.load(path).forward(X), old.forward(X))


def test_save_never_pickles(tmp_path):
    path = tmp_path / "model.npz"
    MLP([3, 4, 2], seed=0).save(path)
    with np.load(path, allow_pickle=False) as data:  # would raise on any object array
        assert all(data[name].dtype != object for name in data.files)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_from_eight_threads_matches_serial(dtype):
    rng = np.random.default_rng(1)
    model = MLP([64, 256, 128, 10], activation="relu", dtype=dtype, seed=0, init="he")
    batches = [rng.standard_normal((257, 64)).astype(dtype) for _ in range(16)]
    serial_p = [model.forward(b) for b in batches]
    serial_y = [model.predict(b) for b in batches]

    def work(i):
        b = batches[i % len(batches)]
        return i, model.forward(b), model.predict(b)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(200)))
    for i, p, labels in results:
        np.testing.assert_array_equal(p, serial_p[i % len(batches)])
        np.testing.assert_array_equal(labels, serial_y[i % len(batches)])
