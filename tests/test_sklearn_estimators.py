"""fastmlp.MLPClassifier and MLPRegressor against scikit-learn's estimators.

scikit-learn's own estimator checks, the meta-estimators users put them in, and
the same trajectories as ``sklearn.neural_network``'s MLPs: from the same
``random_state`` (the same initial draws) with ``shuffle=False``, the weights,
``loss_curve_`` and ``n_iter_`` agree to 1e-10 relative in float64.
"""
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as sk_nn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_multilabel_classification, \
    make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp.estimators import MLPClassifier, MLPRegressor  # noqa: E402
from helpers import run_python  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
RTOL = 1e-10


# Every check passes: none is listed as an expected failure.
@parametrize_with_checks([MLPClassifier(max_iter=20), MLPRegressor(max_iter=20)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --- the same numbers as scikit-learn ------------------------------------------------

def _classification(n_classes=3, n=150, seed=0):
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4,
                               n_classes=n_classes, random_state=seed)
    return X, y


def _assert_same(ours, theirs, curve=True):
    """Weights, biases (and the loss curve) equal to RTOL relative to their scale."""
    for name in ("coefs_", "intercepts_"):
        for l, (a, b) in enumerate(zip(getattr(ours, name), getattr(theirs, name))):
            assert a.shape == b.shape and a.dtype == b.dtype, (name, l)
            scale = max(np.abs(b).max(), 1e-300)
            assert np.abs(a - b).max() <= RTOL * scale, (name, l, np.abs(a - b).max(), scale)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    if curve:
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)
        np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=RTOL)


def _pair(cls, sk_cls, X, y, **params):
    params = dict(dict(hidden_layer_sizes=(7, 5), random_state=3, shuffle=False, max_iter=8,
                       batch_size=32, alpha=0.0), **params)
    ours = cls(**params).fit(X, y)
    theirs = sk_cls(**params).fit(X, y)
    return ours, theirs


SGD_CASES = {
    "constant": dict(learning_rate="constant", momentum=0.0, learning_rate_init=0.1),
    "momentum": dict(learning_rate="constant", momentum=0.9, nesterovs_momentum=False,
                     learning_rate_init=0.05),
    "nesterov": dict(learning_rate="constant", momentum=0.9, nesterovs_momentum=True,
                     learning_rate_init=0.05),
    "invscaling": dict(learning_rate="invscaling", momentum=0.0, learning_rate_init=0.5,
                       power_t=0.3),
    # A tol that no epoch beats: the rate is divided by 5 every n_iter_no_change + 1 epochs.
    "adaptive": dict(learning_rate="adaptive", momentum=0.0, learning_rate_init=0.1, tol=10.0,
                     n_iter_no_change=2, max_iter=12),
    # scikit-learn's velocity holds the rate (needs SGD(lr_in_velocity=True)).
    "invscaling_momentum": dict(learning_rate="invscaling", momentum=0.9,
                                learning_rate_init=0.1),
    "adaptive_nesterov": dict(learning_rate="adaptive", momentum=0.9, learning_rate_init=0.05,
                              tol=10.0, n_iter_no_change=2, max_iter=12),
}


@pytest.mark.parametrize("case", list(SGD_CASES))
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_sgd_matches_sklearn_multiclass(case, activation):
    X, y = _classification(3)
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X, y, solver="sgd",
                         activation=activation, **SGD_CASES[case])
    _assert_same(ours, theirs)


def test_adaptive_stops_when_the_rate_is_too_small():
    X, y = _classification(3)
    params = dict(SGD_CASES["adaptive"], learning_rate_init=1e-5, max_iter=40)
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X, y, solver="sgd", **params)
    assert theirs.n_iter_ < 40  # stopped by the rule, not max_iter
    _assert_same(ours, theirs)


@pytest.mark.parametrize("alpha", [0.0, 1e-2])
def test_adam_matches_sklearn(alpha):
    X, y = _classification(3)
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X, y, solver="adam",
                         learning_rate_init=0.01, alpha=alpha)
    _assert_same(ours, theirs)


def test_alpha_sgd_matches_sklearn():
    # The loss curve holds scikit-learn's penalty 0.5 * alpha * ||W||^2 / rows of each
    # batch (History.loss includes it once fit does).
    X, y = _classification(3)
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X, y, solver="sgd",
                         learning_rate_init=0.05, alpha=0.5)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_binary_matches_sklearn(solver):
    X, y = _classification(2)
    labels = np.array(["no", "yes"])[y]
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X, labels, solver=solver,
                         learning_rate_init=0.05)
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    assert ours.coefs_[-1].shape[1] == 1
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_multilabel_matches_sklearn(solver):
    X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=4,
                                          random_state=0)
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X, Y, solver=solver,
                         learning_rate_init=0.05)
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X, Y) == theirs.score(X, Y)


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_regression_matches_sklearn(solver, n_targets):
    X, y = make_regression(n_samples=130, n_features=5, n_targets=n_targets, noise=1.0,
                           random_state=0)
    y = y / np.abs(y).max()
    ours, theirs = _pair(MLPRegressor, sk_nn.MLPRegressor, X, y, solver=solver,
                         learning_rate_init=0.01, momentum=0.9)
    _assert_same(ours, theirs)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_regression_alpha_matches_sklearn(solver):
    X, y = make_regression(n_samples=130, n_features=5, noise=1.0, random_state=1)
    y = y / np.abs(y).max()
    ours, theirs = _pair(MLPRegressor, sk_nn.MLPRegressor, X, y, solver=solver,
                         learning_rate_init=0.01, alpha=0.3)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_early_stopping_matches_sklearn(n_classes):
    X, y = _classification(n_classes, n=200)
    kw = dict(solver="sgd", learning_rate_init=0.05, early_stopping=True,
              n_iter_no_change=3, max_iter=60, validation_fraction=0.2)
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X, y, **kw)
    assert theirs.n_iter_ < 60  # stopped early
    _assert_same(ours, theirs)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=RTOL)
    assert ours.best_validation_score_ == theirs.best_validation_score_
    assert ours.best_loss_ is None and theirs.best_loss_ is None


def test_early_stopping_regressor_matches_sklearn():
    X, y = make_regression(n_samples=200, n_features=5, noise=5.0, random_state=0)
    y = y / np.abs(y).max()
    kw = dict(solver="adam", learning_rate_init=0.01, early_stopping=True,
              n_iter_no_change=3, max_iter=80)
    ours, theirs = _pair(MLPRegressor, sk_nn.MLPRegressor, X, y, **kw)
    _assert_same(ours, theirs)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)


def test_training_loss_rule_matches_sklearn():
    # Without early stopping, a tol no epoch beats stops after n_iter_no_change + 1 epochs.
    X, y = _classification(3)
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X, y, solver="adam", tol=10.0,
                         n_iter_no_change=4, max_iter=50)
    assert theirs.n_iter_ == 6  # the count passes 4 at the sixth epoch
    _assert_same(ours, theirs)
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=RTOL)


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling"])
def test_warm_start_from_given_coefs_matches_sklearn(learning_rate):
    # Initial weights set by hand through coefs_/intercepts_, as scikit-learn allows; the
    # second fit's invscaling rates go on from t_, as scikit-learn's do.
    X, y = _classification(3)
    kw = dict(hidden_layer_sizes=(7,), solver="sgd", shuffle=False, alpha=0.0, max_iter=1,
              learning_rate_init=0.1, momentum=0.5, warm_start=True, random_state=0,
              learning_rate=learning_rate)
    ours, theirs = MLPClassifier(**kw).fit(X, y), sk_nn.MLPClassifier(**kw).fit(X, y)
    rng = np.random.default_rng(1)
    coefs = [rng.normal(size=c.shape) for c in theirs.coefs_]
    intercepts = [rng.normal(size=b.shape) for b in theirs.intercepts_]
    for est in (ours, theirs):
        est.coefs_ = [c.copy() for c in coefs]
        est.intercepts_ = [b.copy() for b in intercepts]
        est.set_params(max_iter=5).fit(X, y)
    _assert_same(ours, theirs)


def test_initial_weights_are_sklearns_draws():
    # One partial_fit step of plain SGD from the draws: equal only if the draws are.
    X, y = _classification(3)
    for activation in ("relu", "logistic"):  # bound sqrt(6 / fan) or sqrt(2 / fan)
        kw = dict(hidden_layer_sizes=(9, 4), activation=activation, random_state=7,
                  solver="sgd", momentum=0.0, shuffle=False, learning_rate_init=1e-8)
        ours, theirs = MLPClassifier(**kw), sk_nn.MLPClassifier(**kw)
        for est in (ours, theirs):
            est.partial_fit(X[:10], y[:10], classes=np.unique(y))
        _assert_same(ours, theirs, curve=False)


def test_partial_fit_matches_sklearn():
    X, y = _classification(3)
    kw = dict(hidden_layer_sizes=(8,), solver="adam", shuffle=False, alpha=0.0,
              random_state=0, learning_rate_init=0.01)
    ours, theirs = MLPClassifier(**kw), sk_nn.MLPClassifier(**kw)
    for est in (ours, theirs):
        for _ in range(3):
            est.partial_fit(X, y, classes=np.unique(y))
    _assert_same(ours, theirs)


@pytest.mark.parametrize("Est,sk_cls", [(MLPClassifier, sk_nn.MLPClassifier),
                                        (MLPRegressor, sk_nn.MLPRegressor)])
def test_lbfgs_reaches_sklearns_loss(Est, sk_cls):
    if Est is MLPClassifier:
        X, y = _classification(3)
    else:
        X, y = make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)
        y = y / np.abs(y).max()
    kw = dict(hidden_layer_sizes=(6,), solver="lbfgs", random_state=0, max_iter=40,
              alpha=1e-3)
    ours, theirs = Est(**kw).fit(X, y), sk_cls(**kw).fit(X, y)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    assert ours.n_iter_ == theirs.n_iter_


def test_convergence_warning_at_max_iter():
    X, y = _classification(3)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(max_iter=3, random_state=0).fit(X, y)


@pytest.mark.parametrize("params", [
    dict(solver="sgd", learning_rate="adaptive", momentum=0.0, tol=10.0, n_iter_no_change=1,
         max_iter=6),
    dict(solver="adam", early_stopping=True, n_iter_no_change=2, max_iter=30)])
def test_verbose_prints_as_sklearn(capsys, params):
    X, y = _classification(2, n=200)
    kw = dict(hidden_layer_sizes=(5,), shuffle=False, alpha=0.0, random_state=0, verbose=True,
              **params)
    MLPClassifier(**kw).fit(X, y)
    ours = capsys.readouterr().out
    sk_nn.MLPClassifier(**kw).fit(X, y)
    theirs = capsys.readouterr().out
    assert "Iteration 1, loss = " in ours
    assert ours == theirs


# --- data types and labels ---------------------------------------------------------

def test_string_and_sparse_integer_labels():
    X, y = _classification(3)
    for labels in (np.array(["cat", "dog", "emu"])[y], np.array([-5, 10, 100])[y]):
        clf = MLPClassifier(max_iter=30, random_state=0).fit(X, labels)
        np.testing.assert_array_equal(clf.classes_, np.unique(labels))
        assert set(clf.predict(X)) <= set(labels)
        proba = clf.predict_proba(X)
        assert proba.shape == (len(X), 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
        np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_float32_stays_float32():
    X, y = _classification(3)
    X32 = X.astype(np.float32)
    clf = MLPClassifier(max_iter=5, random_state=0).fit(X32, y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X32).dtype == np.float32
    reg = MLPRegressor(max_iter=5, random_state=0).fit(X32, X32[:, 0])
    assert reg.predict(X32).dtype == np.float32
    # Integers compute in float64; dtype overrides.
    assert MLPClassifier(max_iter=2).fit(X.round().astype(int), y).coefs_[0].dtype == np.float64
    assert MLPClassifier(max_iter=2, dtype="float32").fit(X, y).coefs_[0].dtype == np.float32


def test_float32_follows_sklearn_loosely():
    X, y = _classification(3)
    X32 = X.astype(np.float32)
    ours, theirs = _pair(MLPClassifier, sk_nn.MLPClassifier, X32, y, solver="adam",
                         learning_rate_init=0.01)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_fitted_attributes():
    X, y = _classification(3)
    clf = MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=4, random_state=0).fit(X, y)
    sk = sk_nn.MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=4, random_state=0).fit(X, y)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_", "n_iter_",
                 "t_"):
        assert getattr(clf, name) == getattr(sk, name), name
    assert [c.shape for c in clf.coefs_] == [c.shape for c in sk.coefs_]
    assert [b.shape for b in clf.intercepts_] == [b.shape for b in sk.intercepts_]
    assert len(clf.loss_curve_) == clf.n_iter_
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert np.isfinite(clf.best_loss_)


def test_coefs_set_by_hand_change_predictions():
    X, y = _classification(3)
    clf = MLPClassifier(max_iter=5, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    clf.coefs_[-1] = np.zeros_like(clf.coefs_[-1])
    clf.intercepts_[-1] = np.zeros_like(clf.intercepts_[-1])
    np.testing.assert_allclose(clf.predict_proba(X), 1 / 3)
    assert not np.allclose(before, 1 / 3)


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _classification(3)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = MLPClassifier(max_iter=5, random_state=0).fit(df, pd.Series(y))
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)


def test_without_sklearn_the_error_says_how_to_install():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import fastmlp\n"
            "try:\n    fastmlp.MLPClassifier\n"
            "except ImportError as e:\n    print(e)\n")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'pip install "fastmlp[sklearn]"' in out


def test_import_fastmlp_does_not_import_sklearn():
    code = "import sys, fastmlp; print('sklearn' in sys.modules)"
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert fastmlp.MLPClassifier is MLPClassifier and fastmlp.MLPRegressor is MLPRegressor


# --- extensions -----------------------------------------------------------------

def test_sample_weight_zero_rows_are_dropped():
    X, y = _classification(3)
    w = np.ones(len(X))
    w[::3] = 0
    kw = dict(max_iter=5, random_state=0, shuffle=False)
    a = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    b = MLPClassifier(**kw).fit(X[w > 0], y[w > 0])
    for u, v in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(u, v)


def test_sample_weight_matches_sklearn():
    X, y = _classification(3)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    kw = dict(hidden_layer_sizes=(7,), solver="sgd", momentum=0.0, shuffle=False, alpha=0.0,
              random_state=0, max_iter=4, learning_rate_init=0.1)
    ours = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    theirs = sk_nn.MLPClassifier(**kw).fit(X, y, sample_weight=w)
    _assert_same(ours, theirs)


def test_class_weight_balanced_is_sample_weight():
    X, y = _classification(3)
    from sklearn.utils.class_weight import compute_sample_weight
    kw = dict(max_iter=4, random_state=0, shuffle=False)
    a = MLPClassifier(class_weight="balanced", **kw).fit(X[:100], y[:100])
    b = MLPClassifier(**kw).fit(X[:100], y[:100],
                                sample_weight=compute_sample_weight("balanced", y[:100]))
    for u, v in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_sample_weight_with_alpha_matches_sklearns_regressor(solver):
    # Weighted squared loss, and the L2 term divided by the batch's summed weights.
    X, y = make_regression(n_samples=90, n_features=4, n_targets=2, noise=1.0,
                           random_state=1)
    y = y / np.abs(y).max()
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(X))
    kw = dict(hidden_layer_sizes=(6,), solver=solver, shuffle=False, alpha=0.05,
              random_state=0, max_iter=5, batch_size=32, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(**kw).fit(X, y, sample_weight=w)
        theirs = sk_nn.MLPRegressor(**kw).fit(X, y, sample_weight=w)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("Est,sk_cls", [(MLPClassifier, sk_nn.MLPClassifier),
                                        (MLPRegressor, sk_nn.MLPRegressor)])
def test_lbfgs_with_sample_weight_reaches_sklearns_loss(Est, sk_cls):
    if Est is MLPClassifier:
        X, y = _classification(3)
    else:
        X, y = make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)
        y = y / np.abs(y).max()
    w = np.random.default_rng(2).uniform(0.2, 3.0, len(X))
    kw = dict(hidden_layer_sizes=(6,), solver="lbfgs", random_state=0, max_iter=40,
              alpha=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = Est(**kw).fit(X, y, sample_weight=w)
        theirs = sk_cls(**kw).fit(X, y, sample_weight=w)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    assert ours.n_iter_ == theirs.n_iter_


def test_dropout_and_clipping_reach_fit():
    X, y = _classification(3)
    kw = dict(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=0.1, max_iter=3,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = MLPClassifier(**{**kw, "learning_rate_init": 1e-12, "max_iter": 1}).fit(X, y)
        plain = MLPClassifier(**kw).fit(X, y)
        dropped = [MLPClassifier(dropout=0.3, **kw).fit(X, y) for _ in range(2)]
        clipped = MLPClassifier(clip_grad_norm=1e-3, **kw).fit(X, y)
    np.testing.assert_array_equal(dropped[0].coefs_[0], dropped[1].coefs_[0])
    assert not np.allclose(dropped[0].coefs_[0], plain.coefs_[0])

    def moved(est):
        return np.abs(est.coefs_[0] - start.coefs_[0]).max()

    # A tiny norm bounds every step: the weights barely move.
    assert moved(clipped) < moved(plain) / 10


def test_label_smoothing_and_callbacks_reach_fit():
    X, y = _classification(3)
    seen = []

    class Count:
        def on_epoch_end(self, model, history):
            seen.append(history.loss[-1])

    clf = MLPClassifier(max_iter=4, random_state=0, label_smoothing=0.1,
                        callbacks=[Count()]).fit(X, y)
    plain = MLPClassifier(max_iter=4, random_state=0).fit(X, y)
    assert len(seen) == 4
    assert not np.allclose(clf.coefs_[0], plain.coefs_[0])
    with pytest.raises(ValueError, match="label_smoothing"):
        MLPRegressor(label_smoothing=0.1).fit(X, y.astype(float))


# --- meta-estimators -------------------------------------------------------------

def test_pipeline_gridsearch_cross_val_score():
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = _classification(3, n=200)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.7
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.5
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1],
                                 "mlpclassifier__hidden_layer_sizes": [(5,), (20,)]},
                          cv=2, n_jobs=2).fit(X, y)
    assert search.best_params_["mlpclassifier__alpha"] in (1e-4, 1e-1)
    assert isinstance(search.best_estimator_[-1], MLPClassifier)


def test_clone_and_pickle():
    X, y = _classification(3)
    clf = MLPClassifier(max_iter=5, random_state=0, dtype="float32").fit(X, y)
    c = clone(clf)
    assert c.get_params() == clf.get_params() and not hasattr(c, "coefs_")
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    again.coefs_[0][...] = 0  # the copy's weights are its own
    assert not np.array_equal(again.predict_proba(X), clf.predict_proba(X))
    reg = MLPRegressor(max_iter=5, random_state=0).fit(X, X[:, 0])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


def test_decision_boundary_display():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import DecisionBoundaryDisplay
    X, y = make_classification(n_samples=100, n_features=2, n_redundant=0, random_state=0)
    clf = MLPClassifier(max_iter=30, random_state=0).fit(X, y)
    disp = DecisionBoundaryDisplay.from_estimator(clf, X, response_method="predict_proba")
    assert disp.response.shape == disp.xx0.shape
    plt.close("all")
