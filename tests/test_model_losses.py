"""fastmlp.MLP with the logistic output (binary cross-entropy), label smoothing,
predict_log_proba and the identity activation. (Their gradients against finite
differences are in test_model.py, their trajectories against torch in
test_trajectories.py.)"""
import numpy as np
import pytest

from fastmlp import MLP, reference
from helpers import assert_close, torch_or_skip


def multilabel(rng, n=60, n_in=4, k=3):
    X = rng.standard_normal((n, n_in))
    Y = (X[:, :k] + 0.5 * rng.standard_normal((n, k)) > 0).astype(int)
    return X, Y


# --- binary cross-entropy ---------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3], ids=["binary", "multilabel"])
def test_bce_predict_proba_predict_and_score(dtype, rng, k):
    X, Y = multilabel(rng, k=k)
    y = Y[:, 0] if k == 1 else Y
    model = MLP([4, 8, k], loss="binary_cross_entropy", dtype=dtype, seed=1)
    model.fit(X, y, epochs=5, lr=0.5, progress=False, seed=0)
    p = model.predict_proba(X)
    assert p.shape == (60, k) and p.dtype == dtype
    z = reference.mlp_forward(model.weights, model.biases, X.astype(dtype), model.activation)[-1]
    assert_close(p, reference.sigmoid(z), dtype, scale=10)
    assert np.all((p >= 0) & (p <= 1))
    # Per-label probabilities, not a distribution over the labels.
    assert not np.allclose(p.sum(axis=1), 1) or k == 1
    pred = model.predict(X)
    assert pred.shape == ((60,) if k == 1 else (60, k))
    np.testing.assert_array_equal(pred, (p > 0.5).astype(int)[:, 0] if k == 1 else p > 0.5)
    # Subset accuracy: a row counts only with every label right.
    expected = np.mean(np.all(pred.reshape(60, k) == Y[:, :k], axis=1))
    assert model.score(X, y) == expected
    log_p = model.predict_log_proba(X)
    assert log_p.shape == (60, k)
    assert_close(np.exp(log_p), p, dtype, scale=10)


def test_bce_score_is_scikit_learns_accuracy_score(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    X, Y = multilabel(rng)
    model = MLP([4, 8, 3], loss="binary_cross_entropy", seed=2)
    model.fit(X, Y, epochs=3, lr=0.3, progress=False, seed=0)
    pred = model.predict(X)
    assert model.score(X, Y) == pytest.approx(metrics.accuracy_score(Y, pred))
    # and the loss is scikit-learn's binary_log_loss of the probabilities
    sk_base = pytest.importorskip("sklearn.neural_network._base")
    p = model.predict_proba(X).astype(np.float64)
    assert model.loss(X, Y) == pytest.approx(sk_base.binary_log_loss(Y, p), rel=1e-5)


def test_bce_matches_scikit_learn_mlp_classifier_predictions(rng):
    # The same weights in scikit-learn's MLPClassifier (multilabel: logistic outputs):
    # the same probabilities, predictions and score.
    nn = pytest.importorskip("sklearn.neural_network")
    X, Y = multilabel(rng)
    model = MLP([4, 8, 3], activation="relu", loss="binary_cross_entropy",
                dtype=np.float64, seed=3)
    sk = nn.MLPClassifier(hidden_layer_sizes=(8,), activation="relu", max_iter=1)
    with pytest.warns(Warning):  # one iteration: "not converged"
        sk.fit(X, Y)
    sk.coefs_ = [W.T.copy() for W in model.weights]
    sk.intercepts_ = [b.copy() for b in model.biases]
    assert_close(model.predict_proba(X), sk.predict_proba(X), np.float64)
    np.testing.assert_array_equal(model.predict(X), sk.predict(X))
    assert model.score(X, Y) == sk.score(X, Y)


def test_bce_fit_accuracy_is_subset_accuracy_before_the_update(rng):
    X, Y = multilabel(rng)
    model = MLP([4, 8, 3], loss="binary_cross_entropy", dtype=np.float64, seed=4)
    before_score, before_loss = model.score(X, Y), model.loss(X, Y)
    history = model.fit(X, Y, epochs=1, batch_size=None, lr=0.1, progress=False,
                        validation_data=(X, Y))
    assert history.accuracy == [before_score]
    assert history.loss[0] == pytest.approx(before_loss, rel=1e-12)
    assert history.val_accuracy == [model.score(X, Y)]
    assert history.val_loss[0] == pytest.approx(model.loss(X, Y), rel=1e-12)


def test_bce_learns_a_multilabel_problem(rng):
    X, Y = multilabel(rng, n=400)
    model = MLP([4, 16, 3], loss="binary_cross_entropy", seed=0)
    history = model.fit(X, Y, epochs=40, lr=0.5, progress=False, seed=0)
    assert history.loss[-1] < 0.7 * history.loss[0]
    assert model.score(X, Y) > 0.6


def test_bce_binary_targets_in_any_form(rng):
    X, Y = multilabel(rng, k=1)
    y = Y[:, 0]
    model = MLP([4, 5, 1], loss="binary_cross_entropy", dtype=np.float64, seed=0)
    expected = model.loss(X, y)
    for same in (y.astype(bool), y.astype(np.float32), y.reshape(-1, 1), list(y)):
        assert model.loss(X, same) == expected


@pytest.mark.parametrize("k, y, match", [
    (1, np.full(6, 2), r"y must be 0/1 labels of shape \(6,\), each 0 or 1; got 2 at index 0"),
    (1, np.full(6, 0.5), r"y must be 0/1 labels of shape \(6,\), each 0 or 1; got 0.5"),
    (1, np.r_[np.zeros(5), np.nan], r"each 0 or 1; got nan at index 5"),
    (1, np.zeros((6, 2)), r"y must be 0/1 labels of shape \(6,\) for a binary_cross_entropy "
                          r"model with 1 output; got shape \(6, 2\)"),
    (3, np.zeros(6), r"y must be a 0/1 label matrix of shape \(6, 3\) \(one column per "
                     r"output\) for a binary_cross_entropy model with 3 outputs; got shape "
                     r"\(6,\)"),
    (3, np.eye(6, 3) * -1, r"each 0 or 1; got -1.0 at index \(0, 0\)"),
])
def test_bce_bad_targets(k, y, match):
    model = MLP([2, 3, k], loss="binary_cross_entropy", dtype=np.float64, seed=0)
    X = np.zeros((6, 2))
    for call in (model.loss, model.score, model.gradients,
                 lambda X, y: model.fit(X, y, progress=False),
                 lambda X, y: model.step(X, y, lr=0.1)):
        with pytest.raises(ValueError, match=match):
            call(X, y)


def test_bce_step_refuses_soft_targets_in_the_exact_form_it_reads():
    # Float64 (n, k) C-contiguous targets are what the compiled step reads directly:
    # it must still refuse values other than 0 and 1, not train on them.
    model = MLP([2, 3, 2], loss="binary_cross_entropy", dtype=np.float64, seed=0)
    before = model.weights[0].copy()
    with pytest.raises(ValueError, match=r"each 0 or 1; got 0.5"):
        model.step(np.zeros((4, 2)), np.full((4, 2), 0.5), lr=0.1)
    np.testing.assert_array_equal(model.weights[0], before)
    assert np.isfinite(model.step(np.zeros((4, 2)), np.ones((4, 2)), lr=0.1))


def test_bce_save_load_round_trip(tmp_path, rng):
    X, Y = multilabel(rng)
    model = MLP([4, 6, 3], activation="identity", loss="binary_cross_entropy",
                dtype=np.float64, seed=0)
    model.fit(X, Y, epochs=2, lr=0.2, progress=False)
    model.save(tmp_path / "m.npz", include_optimizer=True)
    loaded = MLP.load(tmp_path / "m.npz")
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# --- predict_log_proba ------------------------------------------------------------------

def confident_model(loss, dtype):
    """A one-layer model whose logits for the input [1] are (0, -big, big), big so large
    that exp(-big) rounds to 0 in the model's dtype; returns it, X and big."""
    big = 200.0 if dtype == np.float32 else 800.0
    model = MLP([1, 3], loss=loss, dtype=dtype, seed=0)
    model.weights[0] = np.array([[0.0], [-big], [big]])
    model.biases[0] = np.zeros(3)
    return model, np.ones((1, 1)), big


def test_predict_log_proba_softmax_never_takes_the_log_of_a_rounded_probability(dtype):
    model, X, big = confident_model("cross_entropy", dtype)
    p = model.predict_proba(X)
    assert p[0, 0] == 0 and p[0, 1] == 0  # underflowed: log(p) would be -inf
    log_p = model.predict_log_proba(X)
    assert log_p.dtype == dtype and np.all(np.isfinite(log_p))
    assert_close(log_p, reference.log_softmax(np.array([[0.0, -big, big]])), dtype)
    assert_close(log_p[0], [-big, -2 * big, 0.0], dtype)


def test_predict_log_proba_sigmoid_never_takes_the_log_of_a_rounded_probability(dtype):
    model, X, big = confident_model("binary_cross_entropy", dtype)
    assert model.predict_proba(X)[0, 1] == 0
    log_p = model.predict_log_proba(X)
    assert np.all(np.isfinite(log_p))
    assert_close(log_p, reference.log_sigmoid(np.array([[0.0, -big, big]])), dtype)
    assert_close(log_p[0], [-np.log(2), -big, 0.0], dtype)


def test_predict_log_proba_is_log_of_predict_proba(dtype, rng):
    model = MLP([3, 6, 4], dtype=dtype, seed=0)
    X = rng.standard_normal((20, 3))
    assert_close(np.exp(model.predict_log_proba(X)), model.predict_proba(X), dtype, scale=10)


def test_predict_log_proba_needs_a_classifier():
    model = MLP([2, 3], loss="mse", seed=0)
    with pytest.raises(ValueError, match=r"predict_log_proba needs a cross_entropy or "
                                         r"binary_cross_entropy model; this one uses mse"):
        model.predict_log_proba(np.zeros((1, 2)))


# --- label smoothing ---------------------------------------------------------------------

def test_label_smoothing_gradients_match_reference(dtype, rng):
    model = MLP([4, 6, 5, 3], dtype=np.float64, seed=1)
    X = rng.standard_normal((9, 4))
    y = rng.integers(0, 3, 9)
    _, gW, gb = reference.mlp_backward(model.weights, model.biases, X, y, "tanh",
                                       "cross_entropy", label_smoothing=0.3)
    grads = model.gradients(X, y, label_smoothing=0.3)
    for (W, b), rW, rb in zip(grads, gW, gb):
        assert_close(W, rW, np.float64, scale=10)
        assert_close(b, rb, np.float64, scale=10)
    plain = model.gradients(X, y)
    assert not np.allclose(plain[0][0], grads[0][0])


def test_label_smoothing_gradients_match_torch(dtype, rng):
    torch = torch_or_skip()
    model = MLP([4, 5, 3], activation="relu", dtype=dtype, seed=2)
    X = rng.standard_normal((10, 4)).astype(dtype)
    y = rng.integers(0, 3, 10)
    params = [torch.from_numpy(p.copy()).requires_grad_()
              for pair in zip(model.weights, model.biases) for p in pair]
    h = torch.relu(torch.from_numpy(X) @ params[0].T + params[1])
    z = h @ params[2].T + params[3]
    torch.nn.functional.cross_entropy(z, torch.from_numpy(y), label_smoothing=0.15).backward()
    got = [g for pair in model.gradients(X, y, label_smoothing=0.15) for g in pair]
    for g, p in zip(got, params):
        assert_close(g, p.grad.numpy(), dtype, scale=10)


def test_label_smoothing_is_for_one_fit_only(rng):
    # fit trains on the smoothed loss and records it; afterwards step, loss and the
    # next fit are plain again.
    X = rng.standard_normal((30, 3))
    y = rng.integers(0, 4, 30)
    model = MLP([3, 5, 4], dtype=np.float64, seed=0)
    smoothed = reference.mlp_backward(model.weights, model.biases, X, y, "tanh",
                                      "cross_entropy", label_smoothing=0.4)[0]
    history = model.fit(X, y, epochs=1, batch_size=None, lr=0.01, progress=False,
                        label_smoothing=0.4, validation_data=(X, y))
    assert history.loss[0] == pytest.approx(smoothed, rel=1e-12)
    assert history.val_loss[0] == pytest.approx(model.loss(X, y), rel=1e-12)
    assert model._net.training["label_smoothing"] == 0
    plain = model.loss(X, y)
    assert model.step(X, y, lr=0.01) == pytest.approx(plain, rel=1e-12)
    plain = model.loss(X, y)
    history = model.fit(X, y, epochs=1, batch_size=None, lr=0.01, progress=False)
    assert history.loss[0] == pytest.approx(plain, rel=1e-12)


@pytest.mark.parametrize("loss", ["mse", "binary_cross_entropy"])
def test_label_smoothing_needs_cross_entropy(loss):
    model = MLP([2, 1], loss=loss, seed=0)
    with pytest.raises(ValueError, match=rf"label_smoothing applies to cross_entropy models "
                                         rf"only; this one uses {loss}, so it must be 0; "
                                         rf"got 0.1"):
        model.fit(np.zeros((2, 2)), np.zeros(2), progress=False, label_smoothing=0.1)
    model.fit(np.zeros((2, 2)), np.zeros(2), epochs=1, progress=False, label_smoothing=0)


@pytest.mark.parametrize("value, exc, match", [
    (-0.5, ValueError, r"label_smoothing must be >= 0.0; got -0.5"),
    (2, ValueError, r"label_smoothing must be <= 1.0; got 2.0"),
    (np.inf, ValueError, r"label_smoothing must be finite"),
    (None, TypeError, r"label_smoothing must be a real number; got NoneType None"),
])
def test_label_smoothing_errors(value, exc, match):
    model = MLP([2, 3], seed=0)
    before = model.weights[0].copy()
    for call in (lambda: model.fit(np.zeros((2, 2)), [0, 1], progress=False,
                                   label_smoothing=value),
                 lambda: model.gradients(np.zeros((2, 2)), [0, 1], label_smoothing=value)):
        with pytest.raises(exc, match=match):
            call()
    np.testing.assert_array_equal(model.weights[0], before)


# --- the identity activation -------------------------------------------------------------

def test_identity_network_is_one_affine_map(dtype, rng):
    model = MLP([3, 5, 4, 2], activation="identity", loss="mse", dtype=dtype, seed=0)
    X = rng.standard_normal((7, 3)).astype(dtype)
    (W1, W2, W3), (b1, b2, b3) = list(model.weights), list(model.biases)
    expected = X @ (W3 @ W2 @ W1).T + (W3 @ (W2 @ b1 + b2) + b3)
    assert_close(model.forward(X), expected, dtype, scale=10)


def test_identity_matches_torch_linear_stack(dtype, rng):
    torch = torch_or_skip()
    model = MLP([3, 4, 2], activation="identity", dtype=dtype, seed=1)
    X = rng.standard_normal((6, 3)).astype(dtype)
    y = rng.integers(0, 2, 6)
    params = [torch.from_numpy(p.copy()).requires_grad_()
              for pair in zip(model.weights, model.biases) for p in pair]
    z = (torch.from_numpy(X) @ params[0].T + params[1]) @ params[2].T + params[3]
    torch.nn.functional.cross_entropy(z, torch.from_numpy(y)).backward()
    got = [g for pair in model.gradients(X, y) for g in pair]
    for g, p in zip(got, params):
        assert_close(g, p.grad.numpy(), dtype, scale=10)
