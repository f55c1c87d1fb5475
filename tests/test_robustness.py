"""Training failures lose nothing, saving is atomic, inference is thread-safe, training
is one call at a time, copies are whole models, and the compiled fast path refuses
what it cannot read exactly."""
import contextlib
import copy
import os
import pickle
import signal
import threading
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastmlp import MLP, History, TrainingDivergedError, datasets, optim


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


# --- the compiled fast path refuses what it cannot read -----------------------------

def test_step_refuses_0d_labels_and_targets_on_the_fast_path():
    X = np.ones((1, 3), np.float32)  # exactly what the compiled step reads
    with pytest.raises(ValueError, match=r"y must have one row per row of X \(1\); got shape"):
        MLP([3, 4, 2], seed=0).step(X, np.array(1), 0.1)
    with pytest.raises(ValueError, match=r"y must have one row per row of X \(1\); got shape"):
        MLP([3, 4, 2], loss="mse", seed=0).step(X, np.array(1.0, np.float32), 0.1)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_step_refuses_non_finite_X_on_the_fast_path(activation, value):
    model = MLP([3, 4, 2], activation=activation, seed=0)
    before = model._params.copy()
    X = np.ones((4, 3), np.float32)
    X[2, 1] = value
    with pytest.raises(ValueError, match="X contains NaN or infinite values"):
        model.step(X, np.array([0, 1, 0, 1], np.intp), 0.1)
    np.testing.assert_array_equal(model._params, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_finiteness_check_sees_every_position_and_only_inf_and_nan(dtype):
    # 5 x 7 entries: the check's vector body and its scalar tail. The largest finite
    # values and subnormals (exponent bits all ones but one, and all zeros) pass.
    info = np.finfo(dtype)
    y = np.array([0, 1, 0, 1, 1], np.intp)
    X = np.full((5, 7), info.max, dtype)
    X[1, 3], X[4, 6] = -info.max, info.smallest_subnormal
    model = MLP([7, 4, 2], dtype=dtype, seed=0)
    model._params[...] = 0  # so that the huge inputs make no overflow downstream
    assert np.isfinite(model.step(X, y, 0.1))
    for i in range(X.size):
        bad = X.copy()
        bad.flat[i] = [np.inf, -np.inf, np.nan][i % 3]
        before = model._params.copy()
        with pytest.raises(ValueError, match="X contains NaN or infinite values"):
            model.step(bad, y, 0.1)
        np.testing.assert_array_equal(model._params, before)


def test_step_reads_big_endian_data_by_value():
    X = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0], np.intp)
    native, swapped = MLP([3, 4, 2], seed=0), MLP([3, 4, 2], seed=0)
    assert native.step(X, y, 0.1) == swapped.step(X.astype(">f4"), y, 0.1)
    np.testing.assert_array_equal(native._params, swapped._params)
    assert native.step(X, y, 0.1) == swapped.step(X, y.astype(">i8"), 0.1)


@pytest.mark.parametrize("lr, match", [(1e39, "lr must be at most"), (1e-50, "rounds to 0")],
                         ids=["overflows", "underflows"])
def test_float32_model_refuses_an_lr_it_cannot_represent(lr, match):
    model = MLP([3, 4, 2], seed=0)
    X, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1], np.intp)
    with pytest.raises(ValueError, match=match):
        model.step(X, y, lr)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, lr=lr, progress=False)
    assert np.isfinite(model._params).all()


# --- the architecture and the parameters keep their shape -----------------------------

@pytest.mark.parametrize("name", ["layer_sizes", "activation", "loss_name", "dtype", "init",
                                  "n_params", "n_layers"])
def test_architecture_is_read_only(name):
    model = MLP([3, 4, 2], seed=0)
    before = getattr(model, name)
    with pytest.raises(AttributeError):
        setattr(model, name, (3, 400, 2) if name == "layer_sizes" else before)
    assert getattr(model, name) == before
    assert model.predict(np.ones((2, 3))).shape == (2,)


def test_assigning_a_layer_goes_through_the_parameters(tmp_path):
    model = MLP([3, 4, 2], dtype=np.float64, seed=0)
    X = np.random.default_rng(0).standard_normal((5, 3))
    W = np.arange(12.0).reshape(4, 3) / 10
    model.weights[0] = W
    model.biases[1] = [1.0, -1.0]
    np.testing.assert_array_equal(model.weights[0], W)
    reference = MLP([3, 4, 2], dtype=np.float64, seed=0)
    reference._params[...] = model._params
    np.testing.assert_array_equal(model.forward(X), reference.forward(X))
    path = tmp_path / "m.npz"
    model.save(path)
    np.testing.assert_array_equal(MLP.load(path).weights[0], W)
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(4, 3\)"):
        model.weights[0] = W.T
    with pytest.raises(ValueError, match=r"biases\[1\] contains NaN"):
        model.biases[1] = [np.nan, 0]
    with pytest.raises(AttributeError):  # the list of layers cannot grow
        model.weights.append(W)
    model.weights = [W, np.zeros((2, 4))]
    np.testing.assert_array_equal(model.weights[1], 0)
    with pytest.raises(ValueError, match="sequence of 2 arrays"):
        model.weights = [W]
    # A view reshaped by its user changes nothing the model or save relies on.
    view = model.weights[0]
    view.shape = (12,)
    assert model.weights[0].shape == (4, 3)
    model.save(path)
    assert MLP.load(path).weights[0].shape == (4, 3)


def test_layer_sizes_must_be_ordered():
    with pytest.raises(TypeError, match="unordered collection"):
        MLP({784, 300, 10})
    with pytest.raises(TypeError, match="layer_sizes must be a sequence"):
        MLP(s for s in (3, 2))
    assert MLP(np.array([3, 4, 2])).layer_sizes == (3, 4, 2)


# --- one training call at a time -------------------------------------------------------

@contextlib.contextmanager
def fit_in_another_thread():
    """Yield (model, X, y, worker) while ``worker`` fits the model; on exit, join it and
    check that its fit ended well."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 30)).astype(np.float32)
    y = rng.integers(0, 5, 4000).astype(np.intp)
    model = MLP([30, 256, 5], seed=0)
    started, result = threading.Event(), {}
    fit_inside = model._fit

    def fit_started(*args):  # fit calls it once it holds the model
        started.set()
        return fit_inside(*args)

    def work():
        try:
            result["history"] = model.fit(X, y, epochs=40, batch_size=8, lr=1e-3,
                                          progress=False)
        except BaseException as exc:  # reported below, never lost in the thread
            result["error"] = exc

    model._fit = fit_started
    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert started.wait(60)
        yield model, X, y, worker
    finally:
        worker.join()
    assert "error" not in result, result.get("error")
    assert np.isfinite(result["history"].loss).all() and np.isfinite(model._params).all()


@pytest.mark.parametrize("intruder", ["step", "fit", "gradients", "input_gradient"])
def test_a_second_training_call_is_refused_while_fit_runs(intruder):
    refused = 0
    with fit_in_another_thread() as (model, X, y, worker):
        calls = {"step": lambda: model.step(X[:64], y[:64], 1e-3),
                 "fit": lambda: model.fit(X[:64], y[:64], epochs=1, progress=False),
                 "gradients": lambda: model.gradients(X[:64], y[:64]),
                 "input_gradient": lambda: model.input_gradient(X[:64], y[:64])}
        while worker.is_alive() and refused < 20:
            try:
                calls[intruder]()
            except RuntimeError as exc:
                assert "already training" in str(exc)
                refused += 1
    assert refused > 0


def test_save_while_fit_runs_writes_files_that_load(tmp_path):
    saved = 0
    with fit_in_another_thread() as (model, _, _, worker):
        while worker.is_alive() and saved < 60:
            model.save(tmp_path / f"m{saved}.npz")
            saved += 1
    assert saved > 5
    for i in range(saved):
        assert MLP.load(tmp_path / f"m{i}.npz").layer_sizes == (30, 256, 5)


# --- copies are whole models ----------------------------------------------------------

@pytest.mark.parametrize("how", ["deepcopy", "copy", "pickle"])
def test_a_copy_trains_and_saves_as_itself(how, tmp_path):
    X, y = datasets.circles(64, seed=0)
    original = MLP([2, 8, 2], dtype=np.float64, seed=0)
    original.step(X[:16], y[:16], 0.1, momentum=0.9)  # a momentum buffer to carry over
    make = {"deepcopy": copy.deepcopy, "copy": copy.copy,
            "pickle": lambda m: pickle.loads(pickle.dumps(m))}[how]
    clone = make(original)
    assert repr(clone) == repr(original)
    for model in (original, clone):  # the same next step, momentum included
        model.step(X[16:32], y[16:32], 0.1, momentum=0.9)
    np.testing.assert_array_equal(clone._params, original._params)
    clone.fit(X, y, epochs=3, progress=False, seed=0)
    assert not np.array_equal(clone._params, original._params)  # independent
    path = tmp_path / "clone.npz"
    clone.save(path)
    np.testing.assert_array_equal(MLP.load(path).forward(X), clone.forward(X))
    for W, W_clone in zip(original.weights, clone.weights):
        assert not np.shares_memory(W, W_clone)


def test_training_diverged_error_survives_pickling():
    history = History(loss=[0.5, 0.25])
    error = TrainingDivergedError("diverged at epoch 3", history)
    copied = pickle.loads(pickle.dumps(error))
    assert type(copied) is TrainingDivergedError and str(copied) == str(error)
    assert copied.history == history


def _diverge(_):
    X, y = datasets.circles(100, seed=0)
    MLP([2, 32, 2], activation="relu", seed=0).fit(X * 1e3, y, epochs=20, batch_size=1,
                                                   lr=1e6, progress=False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="this platform has no fork()")
def test_a_worker_process_that_diverges_reports_it():
    import multiprocessing
    # fork: the worker inherits this test module (a spawned one would have to import it).
    with multiprocessing.get_context("fork").Pool(1) as pool:
        try:
            with pytest.raises(TrainingDivergedError, match="lower learning rate"):
                pool.apply_async(_diverge, (0,)).get(timeout=120)
        finally:
            pool.terminate()


# --- what fit leaves behind ----------------------------------------------------------------

def test_after_divergence_the_model_is_finite_on_its_training_data():
    X, y = datasets.circles(500, seed=0)
    model = MLP([2, 64, 64, 2], activation="relu", seed=0)
    with pytest.raises(TrainingDivergedError):
        model.fit(X, y, epochs=10, batch_size=1, lr=1e6, seed=0, progress=False)
    assert np.isfinite(model.predict_proba(X)).all()
    assert np.isfinite(model.loss(X, y))


def test_after_divergence_an_mse_model_has_a_finite_training_loss():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    Y = X @ rng.standard_normal((4, 2))
    model = MLP([4, 16, 2], loss="mse", dtype=np.float64, seed=0)
    with pytest.raises(TrainingDivergedError):
        model.fit(X, Y, epochs=50, batch_size=8, lr=10, seed=0, progress=False)
    assert np.isfinite(model.forward(X)).all() and np.isfinite(model.loss(X, Y))


def test_ctrl_c_during_validation_records_whole_epochs(monkeypatch):
    from fastmlp import kernels
    X, y = datasets.circles(200, seed=0)
    real, calls = kernels.softmax_cross_entropy, []

    def interrupted_on_second_call(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(kernels, "softmax_cross_entropy", interrupted_on_second_call)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = MLP([2, 8, 2], seed=0).fit(X[:150], y[:150], epochs=5, progress=False,
                                             validation_data=(X[150:], y[150:]))
    assert history.interrupted
    lengths = {len(history.loss), len(history.accuracy), len(history.val_loss),
               len(history.val_accuracy)}
    assert lengths == {1}, history


# --- saving: folders, links, modes --------------------------------------------------------

def test_save_follows_a_symlink_and_keeps_it(tmp_path):
    target = tmp_path / "models" / "real.npz"
    target.parent.mkdir()
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    model = MLP([3, 4, 2], seed=0)
    model.save(link)
    assert link.is_symlink() and target.is_file()
    np.testing.assert_array_equal(MLP.load(link).weights[0], model.weights[0])


def test_saved_files_get_the_mode_of_an_ordinary_file(tmp_path):
    old = os.umask(0o022)
    try:
        MLP([3, 4, 2], seed=0).save(tmp_path / "new.npz")
        np.savez(tmp_path / "numpy.npz", a=np.zeros(1))
    finally:
        os.umask(old)
    assert (tmp_path / "new.npz").stat().st_mode & 0o777 == \
        (tmp_path / "numpy.npz").stat().st_mode & 0o777 == 0o644
    kept = tmp_path / "kept.npz"
    kept.write_bytes(b"")
    kept.chmod(0o640)
    MLP([3, 4, 2], seed=0).save(kept)
    assert kept.stat().st_mode & 0o777 == 0o640


def test_save_into_a_missing_folder_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MLP([3, 4, 2], seed=0).save(tmp_path / "missing" / "m.npz")
    assert str(tmp_path / "missing") in str(info.value) and ".fastmlp-" not in str(info.value)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        MLP([3, 4, 2], seed=0).save(tmp_path)


def test_save_and_load_take_bytes_paths(tmp_path):
    path = os.fsencode(tmp_path / "m.npz")
    model = MLP([3, 4, 2], seed=0)
    model.save(path)
    np.testing.assert_array_equal(MLP.load(path).weights[1], model.weights[1])


# --- loading: nothing allocated before the file proves to be a model ---------------------

def _crafted(path, sizes, members, compress=zipfile.ZIP_STORED):
    """An .npz whose small fields declare ``sizes`` and whose other members are given."""
    import io
    fields = {"format_version": np.array(1), "layer_sizes": np.array(sizes, np.int64),
              "activation": np.array("tanh"), "loss": np.array("cross_entropy"),
              "dtype": np.array("float64"), "init": np.array("normal"), **members}
    from fastmlp._serialization import checksum
    fields["checksum"] = np.array(checksum(fields))
    with zipfile.ZipFile(path, "w", compression=compress) as archive:
        for name, value in fields.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, value)
            archive.writestr(name + ".npy", buffer.getvalue())


def test_load_checks_the_headers_before_allocating(tmp_path):
    import tracemalloc
    path = tmp_path / "crafted.npz"
    _crafted(path, [8000, 8000], {"W0": np.zeros((2, 2)), "b0": np.zeros(2)})
    assert path.stat().st_size < 4096
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"W0 must be float64 of shape \(8000, 8000\)"):
            MLP.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, peak


def test_load_refuses_compressed_members(tmp_path):
    # Compression would let a small file declare a model of any size.
    path = tmp_path / "deflated.npz"
    _crafted(path, [3, 2], {"W0": np.zeros((2, 3)), "b0": np.zeros(2)},
             compress=zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="compressed"):
        MLP.load(path)


def test_forward_in_blocks_matches_one_pass(monkeypatch):
    from fastmlp import model as model_module
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 5))
    m = MLP([5, 7, 3], dtype=np.float64, seed=0)
    whole = m.forward(X)
    monkeypatch.setattr(model_module, "_FORWARD_BLOCK", 10 * 37)  # 37 rows a block
    # Equal to rounding: a product of other shape may take other BLAS paths.
    np.testing.assert_allclose(m.forward(X), whole, rtol=1e-14, atol=0)
    assert m.loss(X, np.zeros(1000, int)) == pytest.approx(
        -np.log(whole[:, 0]).mean(), rel=1e-12)


def test_inference_memory_is_bounded_for_wide_models():
    import tracemalloc
    m = MLP([2, 20_000, 2], dtype=np.float64, seed=0)
    X = np.zeros((2000, 2))
    tracemalloc.start()
    try:
        m.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, peak  # one pass would take 2000 * 20,002 doubles (320 MB)


def test_a_step_whose_update_overflows_says_so():
    model = MLP([2, 3, 2], seed=0)
    X, y = np.ones((3, 2), np.float32), np.array([0, 1, 0], np.intp)
    with pytest.raises(FloatingPointError, match="update overflowed the parameters"):
        model.step(X, y, 1e37, weight_decay=1e30)


# One overflowing entry in any layer is caught on every update path: plain SGD (added
# into W by the product), SGD's own loop (momentum, Nesterov, scikit-learn's l2),
# Adam, AMSGrad and AdamW.
OVERFLOWING_UPDATES = [
    dict(lr=1.0, weight_decay=10.0),
    dict(optimizer=optim.SGD(lr=1.0, momentum=0.9, weight_decay=10.0)),
    dict(optimizer=optim.SGD(lr=1.0, momentum=0.9, nesterov=True, weight_decay=10.0)),
    dict(optimizer=optim.SGD(lr=1.0, weight_decay=10.0, l2=1e3)),
    dict(optimizer=optim.Adam(weight_decay=10.0)),
    dict(optimizer=optim.Adam(weight_decay=10.0, amsgrad=True)),
    dict(optimizer=optim.AdamW(lr=1.0, weight_decay=10.0)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where", ["first weights", "hidden bias", "last weights"])
@pytest.mark.parametrize("update", OVERFLOWING_UPDATES, ids=lambda u: repr(u)[:60])
def test_an_update_that_overflows_one_entry_of_any_layer_says_so(update, where, dtype):
    # The loss before the update stays finite: the huge weights multiply inputs of
    # 0 and the huge bias goes through tanh; the decay terms then overflow.
    huge = np.finfo(dtype).max / 2
    model = MLP([3, 4, 4, 2], dtype=dtype, seed=0)
    X = np.array([[0, 1, -1], [0, 0.5, 2], [0, -1, 0.3]], dtype)
    if where == "first weights":
        model.weights[0][0, 1] = huge
    elif where == "hidden bias":
        model.biases[0][2] = huge
    else:
        model.weights[2][1, 1] = huge
        model.weights[1][:, 1] = 0  # so the unit it reads is tanh(0) = 0
        model.biases[1][1] = 0
    y = np.array([0, 1, 1], np.intp)
    assert np.isfinite(model.loss(X, y))
    with pytest.raises(FloatingPointError, match="update overflowed the parameters"):
        model.step(X, y, **update)
    assert not np.all(np.isfinite(model._params))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clip", [dict(clip_grad_value=1e30), dict(clip_grad_norm=1e30)])
def test_a_fit_whose_clipped_update_overflows_rolls_back(clip, dtype):
    model = MLP([3, 4, 2], dtype=dtype, seed=0)
    model.weights[0][0, 1] = np.finfo(dtype).max / 2
    before = model._params.copy()
    X = np.array([[0, 1, -1], [0, 0.5, 2]], dtype)
    with pytest.raises(FloatingPointError, match="overflowed"):
        model.fit(X, [0, 1], epochs=1, batch_size=2, lr=1.0, weight_decay=10.0,
                  progress=False, **clip)
    np.testing.assert_array_equal(model._params, before)


def test_data_that_aliases_the_parameters_is_read_before_the_update():
    model = MLP([3, 3, 2], dtype=np.float64, seed=0)
    twin = copy.deepcopy(model)
    model.step(model.weights[0], [0, 1, 0], 0.5)  # X is a view of layer 0's weights
    twin.step(twin.weights[0].copy(), [0, 1, 0], 0.5)
    np.testing.assert_array_equal(model._params, twin._params)
    fitted, twin = MLP([3, 3, 3], loss="mse", dtype=np.float64, seed=0), None
    twin = copy.deepcopy(fitted)
    fitted.fit(fitted.weights[1], fitted.weights[1], epochs=2, batch_size=1, progress=False,
               seed=0)
    twin.fit(twin.weights[1].copy(), twin.weights[1].copy(), epochs=2, batch_size=1,
             progress=False, seed=0)
    np.testing.assert_array_equal(fitted._params, twin._params)


def test_a_model_with_non_finite_parameters_is_not_saved(tmp_path):
    model = MLP([2, 3, 2], seed=0)
    model.biases[1][0] = 1.0
    model.weights[0][...] = np.inf  # through the view: the model's own business
    with pytest.raises(ValueError, match=r"NaN or infinite values \(weights\[0\]\)"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_load_refuses_a_pipe_instead_of_waiting_on_it(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        MLP.load(fifo)


def test_a_batch_too_large_for_memory_names_the_batch():
    from helpers import run_with_memory_limit
    proc = run_with_memory_limit("""
        try:
            MLP([1, 100_000, 2]).step(np.zeros((20_000, 1), np.float32),
                                      np.zeros(20_000, np.intp), 0.1)
        except MemoryError as exc:
            print("MemoryError:", exc)
        """, setup="import numpy as np\nfrom fastmlp import MLP")
    assert proc.returncode == 0, proc.stderr
    assert "MemoryError: a batch of 20000 rows through layers [1, 100000, 2] needs" in proc.stdout
