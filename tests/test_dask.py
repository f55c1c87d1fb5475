"""fastmlp on Dask distributed (the distributed extra): ``fastmlp sweep`` on a cluster,
a worker killed mid-sweep, BLAS threads pinned in the workers, GridSearchCV and
RandomizedSearchCV with joblib's Dask backend, and out-of-core training through ``partial_fit``.

Every cluster runs on this machine's loopback interface and is closed by its fixture;
waits are bounded."""
import json
import os
import signal
import sys
import threading
import time
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
psutil = pytest.importorskip("psutil")
import dask  # noqa: E402

import fastmlp.dask as fdask  # noqa: E402
from fastmlp.cli import main  # noqa: E402
from helpers import run_python  # noqa: E402

# pytest imports this module as tests.test_dask; the workers import it (for the
# functions of these tests) from the repository root, appended to their path after
# site-packages, so that fastmlp itself still comes from the installed package.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reach_tests(c):
    c.run(sys.path.append, ROOT)

TIMEOUT = 60  # seconds any single wait may take


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes, BLAS pinned by local_cluster."""
    with fdask.local_cluster(2, memory_limit="1GB") as cluster, \
            distributed.Client(cluster, timeout=TIMEOUT) as c:
        _reach_tests(c)
        yield c


def _blas_threads_function():
    """A function the workers run: local, so that it travels by value."""
    def blas_threads():
        from threadpoolctl import threadpool_info
        return sorted({pool["num_threads"] for pool in threadpool_info()})
    return blas_threads


# --- threads ----------------------------------------------------------------------------

def test_local_cluster_pins_blas_to_each_workers_share(client):
    pytest.importorskip("threadpoolctl")
    _blas_threads = _blas_threads_function()
    share = fdask.blas_share(2)
    assert share == max(1, fdask.usable_cores() // 2)
    seen = client.run(_blas_threads)
    assert len(seen) == 2 and all(threads == [share] for threads in seen.values()), seen
    # In a task too (the thread that trains), and for the variables set before NumPy.
    assert client.submit(_blas_threads, pure=False).result(TIMEOUT) == [share]
    env = client.run(lambda: {name: os.environ.get(name) for name in fdask.BLAS_VARIABLES})
    assert all(set(e.values()) == {str(share)} for e in env.values()), env


def test_pin_threads_plugin_limits_running_workers(client):
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_limits
    _blas_threads = _blas_threads_function()

    def unpin():  # as a worker started without local_cluster might be
        threadpool_limits(4)
        return _blas_threads()

    assert all(t == [4] for t in client.run(unpin).values())
    client.register_plugin(fdask.PinThreads())
    try:
        assert all(t == [fdask.blas_share(2)] for t in client.run(_blas_threads).values())
    finally:
        client.unregister_worker_plugin(fdask.PinThreads.name)


def test_blas_share():
    assert fdask.blas_share(1, cores=8) == 8
    assert fdask.blas_share(3, cores=8) == 2
    assert fdask.blas_share(4, threads_per_worker=2, cores=8) == 1
    assert fdask.blas_share(16, cores=8) == 1  # never 0


# --- sweeps -----------------------------------------------------------------------------

SWEEP = ["sweep", "--lr", "0.1", "1", "1e8", "--batch-size", "32", "full", "--epochs", "3",
         "--hidden", "6", "--loss", "mse", "--no-progress", "--plot", "s.png",
         "--heatmap", "h.png", "--table", "t"]


def _records(folder):
    with open(folder / "t.json") as f:
        return json.load(f)


def test_sweep_on_a_local_cluster_writes_table_and_figures(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*SWEEP, "--workers", "2"]) == 0
    out = capsys.readouterr().out
    records = _records(tmp_path)
    assert [(r["lr"], r["batch_size"]) for r in records] == [
        (0.1, 32), (1.0, 32), (1e8, 32), (0.1, "full"), (1.0, "full"), (1e8, "full")]
    diverged = {(r["lr"], r["batch_size"]) for r in records if r["diverged"]}
    assert (1e8, 32) in diverged and (0.1, 32) not in diverged  # reported, not a crash
    assert "diverged in epoch" in out
    csv_lines = (tmp_path / "t.csv").read_text().splitlines()
    assert csv_lines[0].startswith("lr,batch_size,") and len(csv_lines) == 7
    for png in ("s.png", "h.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The same numbers as the sweep trained one after another in this process.
    serial = tmp_path / "serial"
    serial.mkdir()
    monkeypatch.chdir(serial)
    assert main([*SWEEP, "--workers", "0"]) == 0
    assert _records(serial) == [{**r, "seconds": s["seconds"]}
                                for r, s in zip(records, _records(serial))]


def test_sweep_without_dask_runs_serially_or_refuses(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import fastmlp
    monkeypatch.setitem(sys.modules, "fastmlp.dask", None)  # import fastmlp.dask fails
    monkeypatch.delattr(fastmlp, "dask")
    assert main([*SWEEP[:-6], "--plot", "s.png"]) == 0
    assert "Dask is not installed" in capsys.readouterr().err
    assert main([*SWEEP, "--workers", "2"]) == 2
    assert 'pip install "fastmlp[distributed]"' in capsys.readouterr().err


def _kill_a_worker_mid_sweep(cluster, c, done, killed):
    """Once a run is being trained, SIGKILL the worker process training it (once)."""
    deadline = time.monotonic() + TIMEOUT
    while not done.is_set() and time.monotonic() < deadline:
        busy = [w for w, tasks in c.processing().items() if tasks]
        if busy:
            time.sleep(0.3)  # well inside the run
            pid = c.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


def test_sweep_survives_a_killed_worker(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with fdask.local_cluster(2, memory_limit="1GB") as cluster, \
            distributed.Client(cluster, timeout=TIMEOUT) as c:
        _reach_tests(c)
        done, killed = threading.Event(), []
        killer = threading.Thread(target=_kill_a_worker_mid_sweep,
                                  args=(cluster, c, done, killed))
        killer.start()
        try:
            # Online SGD: runs of about a second each, so the kill lands mid-run.
            code = main(["sweep", "--lr", "0.01", "0.03", "0.1", "--batch-size", "1",
                         "--epochs", "20", "--hidden", "6", "--no-progress", "--plot",
                         "s.png", "--table", "t", "--scheduler", cluster.scheduler_address])
        finally:
            done.set()
            killer.join(TIMEOUT)
        assert killed, "no worker was killed: the sweep ended before a run started"
        assert code == 0, capsys.readouterr().err
        records = _records(tmp_path)
        assert [r["lr"] for r in records] == [0.01, 0.03, 0.1]
        assert all(r["epochs"] == 20 and not r["diverged"] for r in records)
        # The nanny restarts the killed worker (the scheduler may list the dead one
        # for a moment: ask until two live workers answer).
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            pids = c.run(os.getpid, on_error="ignore")
            if len(pids) == 2 and killed[0] not in pids.values():
                break
            time.sleep(0.1)
        assert len(pids) == 2 and killed[0] not in pids.values(), (pids, killed)


# --- searches ---------------------------------------------------------------------------

@pytest.mark.parametrize("search", ["GridSearchCV", "RandomizedSearchCV"])
def test_searches_with_joblibs_dask_backend_match_serial(client, search):
    sklearn = pytest.importorskip("sklearn")
    import joblib
    import sklearn.exceptions
    import sklearn.model_selection
    from sklearn.datasets import load_digits

    from fastmlp import MLPClassifier
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16.0, y[:400]
    grid = {"hidden_layer_sizes": [(8,), (32,)], "alpha": [1e-4, 1.0],
            "learning_rate_init": [1e-3, 1e-2]}
    est = MLPClassifier(max_iter=30, random_state=0)
    Search = getattr(sklearn.model_selection, search)
    # A random search draws 5 of the 8 settings, the same ones for both (random_state).
    options = {"n_iter": 5, "random_state": 0} if search == "RandomizedSearchCV" else {}
    with warnings.catch_warnings():  # 30 epochs: not converged, on purpose (fast)
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        serial = Search(est, grid, cv=3, **options).fit(X, y)
        with joblib.parallel_config(backend="dask"):
            on_dask = Search(est, grid, cv=3, n_jobs=-1, **options).fit(X, y)
    assert on_dask.best_params_ == serial.best_params_
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    # The tasks ran on the workers, not in this process.
    assert client.run(lambda: "fastmlp.estimators" in sys.modules)


# --- out of core ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_fit_blocks_trains_as_partial_fit_on_each_block(client, dtype):
    pytest.importorskip("sklearn")
    from fastmlp import MLPClassifier, MLPRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 5)).astype(dtype)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    Xd = da.from_array(X, chunks=(150, 5))
    for est, target, params in (
            (MLPClassifier(hidden_layer_sizes=(8,), random_state=0), y, {"classes": [0, 1]}),
            (MLPRegressor(hidden_layer_sizes=(8,), random_state=0), X[:, 0] - X[:, 1], {})):
        targets = da.from_array(target, chunks=150)
        trained = fdask.fit_blocks(est, Xd, targets, epochs=2, client=client, **params)
        expected = est.__class__(**est.get_params())
        for _ in range(2):
            for start in range(0, 600, 150):
                expected.partial_fit(X[start:start + 150], target[start:start + 150], **params)
        for a, b in zip(trained.coefs_ + trained.intercepts_,
                        expected.coefs_ + expected.intercepts_):
            np.testing.assert_array_equal(a, b)
        assert not hasattr(est, "coefs_")  # the estimator passed in is left as it was


def test_fit_blocks_checks_its_arguments(client):
    from fastmlp import MLP
    X, model = da.zeros((10, 2), chunks=5), MLP([2, 2])
    with pytest.raises(TypeError, match="partial_fit"):
        fdask.fit_blocks(object(), X, da.zeros(10, chunks=5), client=client)
    with pytest.raises(TypeError, match="X must be a dask.array.Array; got ndarray"):
        fdask.fit_blocks(model, np.zeros((10, 2)), da.zeros(10, chunks=5), client=client)
    with pytest.raises(ValueError, match="same row chunks"):
        fdask.fit_blocks(model, X, da.zeros(10, chunks=2), client=client)


# The worker's memory limit. An idle worker that has imported dask.array (with sparse
# and numba, which dask-ml installs) and scikit-learn already holds 250-400 MB: the
# range is the shared libraries' pages, which count in full in a fresh install.
LIMIT = 768 * 2**20


def test_fit_blocks_out_of_core_stays_within_the_workers_memory_limit():
    pytest.importorskip("sklearn")
    from fastmlp import MLPClassifier
    # No spilling to disk nor pausing: a worker above 95% of its limit is killed
    # by its nanny, and the fit fails; below, the sampled peak shows the margin.
    quiet = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
             "distributed.worker.memory.pause": False}
    with dask.config.set(quiet):
        cluster = fdask.local_cluster(1, memory_limit=LIMIT)
    with cluster, distributed.Client(cluster, timeout=TIMEOUT) as c:
        _reach_tests(c)
        # 2.56 GB of float32, over three times the limit, made block by block (20 MB each).
        X = da.random.default_rng(0).standard_normal((6_400_000, 100), chunks=(50_000, 100),
                                                     dtype=np.float32)
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
        assert X.nbytes > 3 * LIMIT
        peak, done = [0], threading.Event()

        def sample():
            while not done.is_set():
                rss = c.run(lambda: psutil.Process().memory_info().rss)
                peak[0] = max(peak[0], *rss.values())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            est = fdask.fit_blocks(MLPClassifier(hidden_layer_sizes=(16,), random_state=0),
                                   X, y, classes=[0, 1], client=c)
        finally:
            done.set()
            sampler.join(TIMEOUT)
        assert 0 < peak[0] < LIMIT, (peak[0], LIMIT)
        X_test, y_test = dask.compute(X[:10_000], y[:10_000])
        assert est.score(X_test, y_test) > 0.9  # one pass learned the XOR of the signs


def test_dask_ml_incremental_trains_as_fit_blocks(client):
    pytest.importorskip("sklearn")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from fastmlp import MLPClassifier
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    Xd, yd = da.from_array(X, chunks=(100, 3)), da.from_array(y, chunks=100)
    est = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    inc = wrappers.Incremental(est, shuffle_blocks=False).fit(Xd, yd, classes=[0, 1])
    ours = fdask.fit_blocks(est, Xd, yd, classes=[0, 1], client=client)
    for a, b in zip(inc.estimator_.coefs_, ours.coefs_):
        np.testing.assert_array_equal(a, b)


def test_the_base_package_does_not_import_dask():
    code = ("import sys, fastmlp, fastmlp.cli\n"
            "fastmlp.cli.build_parser().parse_args(['sweep'])\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
            "assert not loaded, loaded\n")
    result = run_python(code, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
