"""fastmlp.MLP: gradients against finite differences and the NumPy reference, training,
saving and loading."""
import numpy as np
import pytest

from fastmlp import MLP, History, TrainingDivergedError, datasets, gradcheck, reference
from helpers import GRAD_RTOL, assert_close, mnist_dir_or_skip, resave

ACTIVATIONS = ["tanh", "sigmoid", "relu", "identity"]
LOSSES = ["cross_entropy", "mse", "binary_cross_entropy", "hinge", "squared_hinge"]
DEPTHS = {1: [4, 3], 2: [4, 6, 3], 3: [4, 6, 5, 3]}


def problem(rng, sizes, loss, n=7):
    X = rng.standard_normal((n, sizes[0]))
    if loss in ("cross_entropy", "hinge", "squared_hinge"):
        return X, rng.integers(0, sizes[-1], n)
    if loss == "binary_cross_entropy":
        return X, (rng.random((n, sizes[-1])) < 0.5).astype(float)
    return X, rng.standard_normal((n, sizes[-1]))


def reference_gradients(model, X, y):
    """Loss, per-layer gradients and dL/dX of the mean loss, by fastmlp.reference.

    dL/dX comes from one row at a time: the mean loss of row i alone is L_i, whose
    gradient for the first layer's bias is that row's delta, and dL/dx_i =
    delta_i W_1 / n since L is the mean of the L_i.
    """
    args = model.activation, model.loss_name
    loss, gW, gb = reference.mlp_backward(model.weights, model.biases, X, y, *args)
    deltas = [reference.mlp_backward(model.weights, model.biases, X[i:i + 1], y[i:i + 1],
                                     *args)[2][0] for i in range(len(X))]
    return loss, list(zip(gW, gb)), np.array(deltas) @ model.weights[0] / len(X)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_gradients_match_reference_and_finite_differences(rng, depth, activation, loss):
    sizes = DEPTHS[depth]
    model = MLP(sizes, activation=activation, loss=loss, dtype=np.float64, seed=3)
    X, y = problem(rng, sizes, loss)
    ref_loss, ref_grads, ref_dx = reference_gradients(model, X, y)
    assert_close(model.loss(X, y), ref_loss, np.float64)
    grads = model.gradients(X, y)
    assert len(grads) == depth
    for (gW, gb), (rW, rb) in zip(grads, ref_grads):
        assert_close(gW, rW, np.float64, scale=10)
        assert_close(gb, rb, np.float64, scale=10)
    assert_close(model.input_gradient(X, y), ref_dx, np.float64, scale=10)

    # A whole network's loss carries more rounding noise than one kernel's, so use
    # the step that balances it against truncation (eps ~ cbrt(machine eps)), and
    # compare entries far below the gradient's scale, or below what the differences
    # resolve (the loss's rounding, |L| machine eps, over eps), against a floor.
    eps = 1e-5
    resolved = abs(ref_loss) * np.finfo(np.float64).eps / eps / GRAD_RTOL

    def check(f, point, analytic):
        _, err = gradcheck.gradcheck(f, point, analytic, eps=eps,
                                     floor=max(1e-3 * np.abs(analytic).max(), resolved))
        assert err < GRAD_RTOL

    for l, (gW, gb) in enumerate(grads):
        for param, analytic in ((model.weights[l], gW), (model.biases[l], gb)):
            original = param.copy()

            def loss_at(value, param=param):
                param[...] = value
                return model.loss(X, y)
            check(loss_at, original, analytic)
            param[...] = original
    check(lambda v: model.loss(v, y), X, model.input_gradient(X, y))


def test_course_network_matches_reference(rng):
    model = MLP([2, 10, 2], dtype=np.float64, seed=0)
    params = {"Wh": model.weights[0], "bh": model.biases[0],
              "Wy": model.weights[1], "by": model.biases[1]}
    X, y = datasets.circles(64, seed=1)
    Yhat, outputs = reference.forward(params, X)
    assert_close(model.forward(X), Yhat, np.float64)
    assert_close(model.loss(X, y), reference.loss_accuracy(Yhat, y)[0], np.float64)
    grads = reference.backward(params, outputs, y)
    (gWh, gbh), (gWy, gby) = model.gradients(X, y)
    for got, name in [(gWh, "Wh"), (gbh, "bh"), (gWy, "Wy"), (gby, "by")]:
        assert_close(got, grads[name], np.float64)
    # One SGD step of the model is the reference's sgd.
    expected = reference.sgd(params, grads, 0.5)
    model.step(X, y, lr=0.5)
    for got, name in [(model.weights[0], "Wh"), (model.biases[1], "by")]:
        assert_close(got, expected[name], np.float64)


def test_float32_agrees_with_float64(rng):
    m64 = MLP([5, 8, 4], dtype=np.float64, seed=2)
    m32 = MLP([5, 8, 4], dtype=np.float32, seed=2)
    X, y = problem(rng, [5, 8, 4], "cross_entropy", n=20)
    assert m32.forward(X).dtype == np.float32
    np.testing.assert_allclose(m32.forward(X), m64.forward(X), rtol=1e-5, atol=1e-6)
    for (a, b), (c, d) in zip(m32.gradients(X, y), m64.gradients(X, y)):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b, d, rtol=1e-4, atol=1e-6)


def test_step_follows_torch_sgd_with_momentum(rng):
    model = MLP([3, 4, 2], dtype=np.float64, seed=5)
    X, y = problem(rng, [3, 4, 2], "cross_entropy", n=6)
    params = [p.copy() for pair in zip(model.weights, model.biases) for p in pair]
    velocity = [np.zeros_like(p) for p in params]
    for _ in range(3):
        grads = [g for pair in model.gradients(X, y) for g in pair]
        for p, g, v in zip(params, grads, velocity):
            reference.sgd_update(p, g, 0.1, momentum=0.9, velocity=v, nesterov=True,
                                 weight_decay=0.01)
        loss = model.step(X, y, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
        assert np.isfinite(loss)
    got = [p for pair in zip(model.weights, model.biases) for p in pair]
    for a, b in zip(got, params):
        assert_close(a, b, np.float64, scale=10)


def test_step_returns_loss_before_the_update(rng):
    model = MLP([3, 5, 2], dtype=np.float64, seed=1)
    X, y = problem(rng, [3, 5, 2], "cross_entropy", n=8)
    before = model.loss(X, y)
    assert model.step(X, y, lr=0.1) == pytest.approx(before, rel=1e-12)
    assert model.loss(X, y) < before


def test_one_hot_labels_equal_integer_labels(rng):
    model = MLP([3, 5, 4], dtype=np.float64, seed=1)
    X, y = problem(rng, [3, 5, 4], "cross_entropy", n=9)
    onehot = np.eye(4)[y]
    assert model.loss(X, onehot) == model.loss(X, y)
    for (a, b), (c, d) in zip(model.gradients(X, onehot), model.gradients(X, y)):
        np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="must be one-hot"):
        model.loss(X, np.full((9, 4), 0.25))


def test_predict_and_score(rng):
    model = MLP([3, 5, 4], seed=0)
    X, y = problem(rng, [3, 5, 4], "cross_entropy", n=50)
    p = model.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X), p.argmax(axis=1))
    assert model.score(X, y) == pytest.approx(np.mean(p.argmax(axis=1) == y))
    reg = MLP([3, 5, 2], loss="mse", seed=0)
    Xr, yr = problem(rng, [3, 5, 2], "mse", n=20)
    assert reg.score(Xr, yr) == pytest.approx(np.sum((reg.forward(Xr) - yr) ** 2) / 20, rel=1e-5)
    with pytest.raises(ValueError, match="predict_proba needs a cross_entropy or "
                                         "binary_cross_entropy model"):
        reg.predict_proba(Xr)


@pytest.mark.parametrize("init", ["normal", "xavier", "he"])
def test_initialisation(init):
    model = MLP([400, 300, 10], init=init, seed=0, dtype=np.float64)
    W = model.weights[0]
    std = {"normal": 0.3, "xavier": np.sqrt(2 / 700), "he": np.sqrt(2 / 400)}[init]
    assert np.std(W) == pytest.approx(std, rel=0.02)
    assert model.n_params == 400 * 300 + 300 + 300 * 10 + 10
    assert [w.shape for w in model.weights] == [(300, 400), (10, 300)]
    assert [b.shape for b in model.biases] == [(300,), (10,)]
    if init != "normal":
        assert np.all(model.biases[0] == 0)
    again = MLP([400, 300, 10], init=init, seed=0, dtype=np.float64)
    np.testing.assert_array_equal(again.weights[1], model.weights[1])


def test_fit_reaches_95_percent_on_circles():
    X, y = datasets.circles(1500, noise=0.1, factor=0.5, seed=0)
    X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, test_size=500, seed=0)
    model = MLP([2, 16, 2], seed=0)
    history = model.fit(X_train, y_train, epochs=60, batch_size=10, lr=0.1,
                        validation_data=(X_test, y_test), progress=False, seed=0)
    assert isinstance(history, History) and history.epochs == 60
    assert len(history.val_accuracy) == 60
    assert history.loss[-1] < history.loss[0]
    assert model.score(X_test, y_test) >= 0.95
    assert history.val_accuracy[-1] == model.score(X_test, y_test)


@pytest.mark.parametrize("batch_size", [None, 1, 7, 200])
def test_fit_batch_sizes(rng, batch_size):
    X, y = datasets.circles(200, seed=1)
    model = MLP([2, 8, 2], dtype=np.float64, seed=1)
    before = model.loss(X, y)
    history = model.fit(X, y, epochs=3, batch_size=batch_size, lr=0.1, progress=False, seed=2)
    assert len(history.loss) == len(history.accuracy) == 3
    assert model.loss(X, y) < before


def test_full_batch_fit_is_gradient_descent(rng):
    X, y = problem(rng, [3, 4, 2], "cross_entropy", n=30)
    a = MLP([3, 4, 2], dtype=np.float64, seed=7)
    b = MLP([3, 4, 2], dtype=np.float64, seed=7)
    a.fit(X, y, epochs=5, batch_size=None, lr=0.3, progress=False)
    for _ in range(5):
        b.step(X, y, lr=0.3)
    for Wa, Wb in zip(a.weights, b.weights):
        assert_close(Wa, Wb, np.float64)


def test_fit_history_is_mean_over_batches(rng):
    X, y = problem(rng, [3, 4, 2], "cross_entropy", n=40)
    a = MLP([3, 4, 2], dtype=np.float64, seed=7)
    b = MLP([3, 4, 2], dtype=np.float64, seed=7)
    history = a.fit(X, y, epochs=1, batch_size=10, lr=0.3, shuffle=False, progress=False)
    losses, correct = [], 0
    for i in range(0, 40, 10):
        correct += np.sum(b.predict(X[i:i + 10]) == y[i:i + 10])
        losses.append(b.step(X[i:i + 10], y[i:i + 10], lr=0.3))
    assert history.loss[0] == pytest.approx(np.mean(losses), rel=1e-12)
    assert history.accuracy[0] == correct / 40
    np.testing.assert_allclose(a.weights[0], b.weights[0], rtol=1e-12)


def test_fit_shuffle_is_seeded(rng):
    X, y = datasets.circles(100, seed=3)
    runs = [MLP([2, 5, 2], seed=0) for _ in range(3)]
    for model, seed in zip(runs, [1, 1, 2]):
        model.fit(X, y, epochs=2, batch_size=8, progress=False, seed=seed)
    np.testing.assert_array_equal(runs[0].weights[0], runs[1].weights[0])
    assert not np.array_equal(runs[0].weights[0], runs[2].weights[0])


def test_fit_mse_regression(rng):
    X = rng.uniform(-1, 1, (200, 1))
    y = np.sin(3 * X)
    model = MLP([1, 16, 1], loss="mse", dtype=np.float64, seed=0, init="xavier")
    history = model.fit(X, y, epochs=200, batch_size=20, lr=0.1, momentum=0.9,
                        progress=False, seed=0)
    assert history.accuracy == []
    assert model.score(X, y) < 0.01
    assert model.predict(X).shape == (200, 1)


def test_fit_progress_bar(capsys):
    X, y = datasets.circles(50, seed=0)
    MLP([2, 4, 2], seed=0).fit(X, y, epochs=2, progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err and "loss=" in err and "acc=" in err


def test_divergence_stops_and_keeps_finite_parameters(rng):
    X, y = datasets.circles(200, seed=0)
    model = MLP([2, 50, 2], activation="relu", seed=0)
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+, step \d+.*lower learning rate") as info:
        model.fit(X * 1e3, y, epochs=50, batch_size=10, lr=1e6, progress=False)
    assert isinstance(info.value.history, History)
    assert all(np.isfinite(W).all() for W in model.weights)
    # Whichever parameters it kept (the last finite step's give inf logits here),
    # they are finite on the data it trained on, and the message says which.
    assert np.isfinite(model.predict_proba(X * 1e3)).all()
    assert "The model keeps the parameters" in str(info.value)


def test_divergence_keeps_the_last_finite_step(rng):
    X, y = datasets.circles(40, seed=0)
    X[25] = np.nan  # the third batch of 10 cannot have a finite loss
    model = MLP([2, 5, 2], dtype=np.float64, seed=0)
    replay = MLP([2, 5, 2], dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="X contains NaN"):
        model.fit(X, y, epochs=1, batch_size=10, shuffle=False, progress=False)
    # fit refuses NaN data up front; a NaN arriving in one step is caught there too.
    for i in range(2):
        replay.step(X[10 * i:10 * i + 10], y[10 * i:10 * i + 10], lr=0.1)
    before = [W.copy() for W in replay.weights]
    with pytest.raises(ValueError, match="X contains NaN"):
        replay.step(X[20:30], y[20:30], lr=0.1)
    for W, W0 in zip(replay.weights, before):
        np.testing.assert_array_equal(W, W0)


def test_save_load_round_trip(tmp_path, rng):
    X, y = datasets.circles(100, seed=0)
    model = MLP([2, 7, 5, 2], activation="sigmoid", dtype=np.float64, seed=4, init="he")
    model.fit(X, y, epochs=2, progress=False)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = MLP.load(path)
    assert repr(loaded) == repr(model)
    assert loaded.init == "he"
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left


def test_save_overwrites_atomically(tmp_path):
    path = tmp_path / "m.npz"
    MLP([2, 3, 2], seed=0).save(path)
    MLP([2, 4, 2], seed=1).save(path)
    assert MLP.load(path).layer_sizes == (2, 4, 2)


def test_mnist_784_300_10_reaches_93_percent():
    directory = mnist_dir_or_skip()
    X, y = datasets.load_mnist(directory, split="test")
    # Xavier's scale suits 784 inputs (the course's N(0, 0.3**2) saturates tanh on
    # MNIST and lands near 92.5%).
    model = MLP([784, 300, 10], activation="tanh", seed=0, init="xavier")
    model.fit(X[:8000], y[:8000], epochs=5, batch_size=32, lr=0.1, progress=False, seed=0)
    accuracy = model.score(X[8000:], y[8000:])
    assert accuracy >= 0.93, accuracy


@pytest.mark.parametrize("damage, match", [
    (lambda p: p.write_bytes(p.read_bytes()[:300]), "truncated or corrupt|cannot be read"),
    (lambda p: p.write_bytes(b"not a model at all"), "not an .npz archive"),
    (lambda p: np.save(open(p, "wb"), np.zeros(3)), "not an .npz archive"),
    (lambda p: resave(p, format_version=np.array(99)), "format version 99 is not supported"),
    (lambda p: resave(p, W0=np.zeros((5, 5))), r"W0 must be float64 of shape \(3, 2\)"),
    (lambda p: resave(p, W0=np.zeros((3, 2), np.float32)), r"W0 must be float64"),
    (lambda p: resave(p, b1=np.full(2, np.nan)), "b1 contains NaN"),
    (lambda p: resave(p, activation=np.array("swish")), "activation must be one of"),
    (lambda p: resave(p, layer_sizes=np.array([2, 0, 2])), "layer_sizes must be two or more"),
    (lambda p: resave(p, extra=np.zeros(1)), "unexpected field"),
    (lambda p: resave(p, W1=np.array([None, 1], dtype=object)), "holds Python objects"),
])
def test_load_refuses_damaged_files(tmp_path, damage, match):
    path = tmp_path / "m.npz"
    MLP([2, 3, 2], dtype=np.float64, seed=0).save(path)
    damage(path)
    with pytest.raises(ValueError, match=match):
        MLP.load(path)


def test_load_refuses_a_file_changed_after_saving(tmp_path):
    path = tmp_path / "m.npz"
    MLP([2, 3, 2], seed=0).save(path)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["W0"] = arrays["W0"] * 2
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="checksum does not match"):
        MLP.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model at"):
        MLP.load(tmp_path / "absent.npz")


def test_divergence_in_the_last_update_is_caught():
    X, y = datasets.circles(50, seed=0)
    onehot = np.eye(2)[y]
    model = MLP([2, 10, 2], loss="mse", seed=0)
    with pytest.raises(TrainingDivergedError, match="after its last step the loss is NaN"):
        model.fit(X, onehot, epochs=3, batch_size=None, lr=1e8, progress=False)
    assert np.isfinite(model.loss(X, onehot))
    assert all(np.isfinite(W).all() for W in model.weights)


@pytest.mark.parametrize("loss", LOSSES)
def test_fit_loss_adds_the_l2_penalty_as_scikit_learn(rng, loss):
    # Each batch's loss plus 0.5 * l2 * sum ||W||^2 / rows (the weights before its
    # update), weighted by rows: by the reference's steps, scikit-learn's rule with a
    # rate that changes between epochs (InvScaling).
    from fastmlp.optim import SGD, InvScaling
    sizes, n, batch = [4, 6, 5, 3], 23, 8
    X, y = problem(rng, sizes, loss, n=n)
    model = MLP(sizes, activation="tanh", loss=loss, dtype=np.float64, seed=2)
    weights = [W.copy() for W in model.weights]
    biases = [b.copy() for b in model.biases]
    opt = SGD(0.1, momentum=0.9, nesterov=True, l2=0.3, lr_in_velocity=True)
    history = model.fit(X, y, epochs=3, batch_size=batch, shuffle=False, optimizer=opt,
                        schedule=InvScaling(0.5), progress=False)
    state, losses, penalties = {}, [], []
    for lr in InvScaling(0.5).lrs(0.1, 3, n):
        step_opt = SGD(lr, momentum=0.9, nesterov=True, l2=0.3, lr_in_velocity=True)
        total = penalty = 0.0
        for start in range(0, n, batch):
            rows = slice(start, start + batch)
            squares = sum(float(np.sum(W * W)) for W in weights)
            size = len(X[rows])
            penalty += 0.5 * 0.3 * squares / size * size
            total += size * reference.mlp_step(weights, biases, X[rows], y[rows], step_opt,
                                               state, "tanh", loss)
        losses.append((total + penalty) / n)
        penalties.append(penalty / n)
    np.testing.assert_allclose(history.loss, losses, rtol=1e-12)
    np.testing.assert_allclose(history.penalty, penalties, rtol=1e-12)
    assert "penalty" in history.measured and history.as_dict()["penalty"] == history.penalty
    for W, W_ref in zip(model.weights, weights):
        np.testing.assert_allclose(W, W_ref, rtol=1e-11, atol=1e-12)
    # Without l2 the loss is the plain one, and there is no penalty curve.
    plain = model.fit(X, y, epochs=1, batch_size=batch, shuffle=False, lr=0.01,
                      progress=False)
    assert plain.penalty == [] and "penalty" not in plain.measured
