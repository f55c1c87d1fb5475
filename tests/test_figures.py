"""The course's figures: gradient-descent variants, the sweep's heat map, and the cost of
backpropagation against finite differences; their content, errors and CLI commands."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from fastmlp import gradcheck, plotting
from fastmlp.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _run(lr, batch, losses, seconds=None, val_accuracy=(), diverged=False, **extra):
    history = {"loss": list(losses), "val_accuracy": list(val_accuracy)}
    run = {"lr": lr, "batch_size": batch, "history": history, "diverged": diverged, **extra}
    if seconds is not None:
        run["seconds"] = list(seconds)
    return run


# --- plot_variants -----------------------------------------------------------------------

def test_variants_loss_against_epochs_and_seconds():
    results = [_run(0.1, 1, [0.5, 0.2, 0.1], [0.3, 0.6, 0.9]),
               _run(0.1, 32, [0.6, 0.5, 0.4], [0.1, 0.2, 0.3]),
               _run(0.1, "full", [0.7, 0.69, 0.68], [0.01, 0.02, 0.03])]
    fig = plotting.plot_variants(results, title="circles")
    assert isinstance(fig, Figure)
    by_epoch, by_time = fig.axes
    assert by_epoch.get_xlabel() == "epoch" and by_time.get_xlabel() == "wall-clock seconds"
    labels = ["batch size 1", "batch size 32", "full batch"]
    assert [line.get_label() for line in by_epoch.get_lines()] == labels
    assert [line.get_label() for line in by_time.get_lines()] == labels
    for line_e, line_t, run in zip(by_epoch.get_lines(), by_time.get_lines(), results):
        assert line_e.get_xdata().tolist() == [1, 2, 3]
        assert line_e.get_ydata().tolist() == run["history"]["loss"]
        assert line_t.get_xdata().tolist() == run["seconds"]
        assert line_t.get_ydata().tolist() == run["history"]["loss"]
        assert line_e.get_color() == line_t.get_color()
    assert by_epoch.get_yscale() == "linear"
    assert fig._suptitle.get_text() == "circles"


def test_variants_label_learning_rates_and_use_log_scale_for_wide_losses():
    results = [_run(0.1, 1, [5.0, 0.01], [1, 2]), _run(1.0, 1, [4.0, 2.0], [1, 2],
                                                        diverged=True)]
    by_epoch, _ = plotting.plot_variants(results).axes
    assert [line.get_label() for line in by_epoch.get_lines()] == \
        ["batch size 1, lr=0.1", "batch size 1, lr=1 (diverged)"]
    assert by_epoch.get_yscale() == "log"


def test_variants_errors():
    with pytest.raises(ValueError, match=r"results\[0\] has 2 epochs of loss but 1 'seconds'"):
        plotting.plot_variants([_run(0.1, 1, [1.0, 0.5], [0.1])])
    with pytest.raises(ValueError, match="results is empty"):
        plotting.plot_variants([])
    with pytest.raises(ValueError, match=r"seconds'\]\[0\]"):
        plotting.plot_variants([_run(0.1, 1, [1.0], [-1.0])])


# --- plot_sweep_heatmap --------------------------------------------------------------------

def test_heatmap_grid_of_final_test_accuracy():
    results = [_run(1.0, 1, [1], val_accuracy=[0.5, 0.9]),
               _run(0.1, 1, [1], val_accuracy=[0.6, 0.8]),
               _run(0.1, "full", [1], val_accuracy=[0.4], test_accuracy=0.55),
               _run(1.0, "full", [1], diverged=True)]
    fig = plotting.plot_sweep_heatmap(results)
    ax = fig.axes[0]
    grid = ax.images[0].get_array()
    # Rows: batch sizes in order of appearance; columns: increasing lr.
    assert grid.shape == (2, 2)
    np.testing.assert_array_equal(grid.filled(np.nan), [[0.8, 0.9], [0.55, np.nan]])
    assert [t.get_text() for t in ax.texts] == ["0.800", "0.900", "0.550", "diverged"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "1"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["batch size 1", "full batch"]
    assert ax.get_xlabel() == "learning rate" and ax.get_title() == "final test accuracy"


def test_heatmap_missing_cells_say_so():
    ax = plotting.plot_sweep_heatmap([_run(0.1, 1, [1], val_accuracy=[0.7]),
                                      _run(1.0, 8, [1], val_accuracy=[0.9])]).axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.700", "n/a", "n/a", "0.900"]


# --- plot_gradient_cost and gradient_costs ---------------------------------------------------

def test_gradient_costs_measure_both_gradients_and_agree():
    costs = gradcheck.gradient_costs((1, 2, 3), width=4, n_samples=8, repeats=2)
    assert [c["n_layers"] for c in costs] == [1, 2, 3]
    # [2, 2], [2, 4, 2], [2, 4, 4, 2]
    assert [c["n_params"] for c in costs] == [6, 22, 42]
    for c in costs:
        assert c["backprop_seconds"] > 0 and c["numerical_seconds"] > 0
        assert c["max_rel_error"] < 1e-4


def test_gradient_cost_figure_is_log_log_with_both_methods():
    costs = [{"n_layers": 1, "n_params": 6, "backprop_seconds": 1e-5, "numerical_seconds": 1e-3},
             {"n_layers": 2, "n_params": 60, "backprop_seconds": 2e-5,
              "numerical_seconds": 1e-1}]
    ax = plotting.plot_gradient_cost(costs).axes[0]
    backprop, numerical = ax.get_lines()
    assert (backprop.get_label(), numerical.get_label()) == ("backpropagation",
                                                             "central differences")
    assert backprop.get_xdata().tolist() == [6, 60]
    assert backprop.get_ydata().tolist() == [1e-5, 2e-5]
    assert numerical.get_ydata().tolist() == [1e-3, 1e-1]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.texts] == ["1 layer", "2 layers"]
    with pytest.raises(ValueError, match="costs is empty"):
        plotting.plot_gradient_cost([])
    with pytest.raises(ValueError, match=r"costs\[0\] must be a mapping"):
        plotting.plot_gradient_cost([{"n_layers": 1}])


# --- the command line ------------------------------------------------------------------------

def test_sweep_variants_and_heatmap(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "sweep", "--variants", "--lr", "0.1", "0.5", "--batch-size",
                         "1", "full", "--epochs", "2", "--no-progress", "--heatmap", "h.png")
    assert code == 0, err
    assert "wrote fastmlp-sweep.png" in out and "wrote h.png" in out
    for name in ("fastmlp-sweep.png", "h.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE


def test_sweep_variants_default_to_one_learning_rate(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "sweep", "--variants", "--epochs", "1", "--no-progress")
    assert code == 0, err
    rows = [line.split()[:2] for line in out.splitlines() if line.startswith("0.1 ")]
    assert rows == [["0.1", "1"], ["0.1", "32"], ["0.1", "full"]]
    code, out, err = run(capsys, "sweep", "--epochs", "1", "--batch-size", "full",
                         "--no-progress")
    assert [line.split()[0] for line in out.splitlines()[-4:-1]] == ["0.01", "0.1", "1"]


def test_sweep_heatmap_checked_before_training(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "sweep", "--heatmap", "h.pdf", "--no-progress")
    assert code == 2 and "--heatmap" in err and ".png" in err
    code, _, err = run(capsys, "sweep", "--heatmap", "s.png", "--plot", "s.png")
    assert code == 2 and "same file" in err


def test_gradient_cost_command(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "gradient-cost", "--layers", "1", "2", "--width", "3",
                         "--samples", "4", "--plot", "g.png")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[2:4]]
    assert [(r[0], r[1]) for r in rows] == [("1", "6"), ("2", "17")]
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG_SIGNATURE
    for option in ("--layers", "--width", "--samples"):
        code, _, err = run(capsys, "gradient-cost", option, "0")
        assert code == 2 and f"fastmlp: error: {option}" in err and "got 0" in err


# --- plot_decision_boundary with any classifier -------------------------------------------

@pytest.fixture(scope="module")
def circles():
    from fastmlp import datasets
    return datasets.circles(200, noise=0.1, seed=0)


def _lines(ax):
    """The line styles and levels of the contour lines drawn (not filled)."""
    from matplotlib.contour import ContourSet
    sets = [c for c in ax.collections if isinstance(c, ContourSet) and not c.filled]
    return [(list(c.levels), c.get_linestyles()) for c in sets]


@pytest.mark.parametrize("kernel", ["linear", "poly", "rbf"])
def test_svc_decision_function_with_margins(circles, kernel):
    svm = pytest.importorskip("sklearn.svm")
    X, y = circles
    clf = svm.SVC(kernel=kernel, degree=2, C=1.0).fit(X, y)
    fig = plotting.plot_decision_boundary(clf, X, y, resolution=40)
    ax = fig.axes[0]
    assert ax.get_title() == "decision boundary: decision function"
    ((levels, styles),) = _lines(ax)
    assert levels == [-1.0, 0.0, 1.0]
    assert styles[0] == styles[2] != styles[1]  # dashed margins, solid boundary
    assert fig.axes[1].get_ylabel() == "decision function"  # the colour bar
    filled = [c for c in ax.collections if getattr(c, "filled", False)][0]
    grid = np.c_[np.linspace(X[:, 0].min(), X[:, 0].max(), 5), np.zeros(5)]
    values = clf.decision_function(grid)
    assert filled.levels.min() <= values.min() and filled.levels.max() >= values.max()
    points = ax.collections[-1]
    np.testing.assert_array_equal(points.get_offsets(), X)
    np.testing.assert_array_equal(points.get_array(), y)


def test_a_classifier_with_predict_proba_shows_p_class_1(circles):
    linear_model = pytest.importorskip("sklearn.linear_model")
    X, y = circles
    labels = np.where(y == 1, "inner", "outer")
    clf = linear_model.LogisticRegression().fit(X, labels)
    ax = plotting.plot_decision_boundary(clf, X, labels, resolution=30).axes[0]
    assert ax.get_title() == "decision boundary: P(class 1)"
    assert _lines(ax)[0][0] == [0.5]
    # Colours are indices into classes_ (["inner", "outer"]).
    np.testing.assert_array_equal(ax.collections[-1].get_array(), (labels == "outer") * 1)
    # The same classifier through its decision function, on request.
    ax = plotting.plot_decision_boundary(clf, X, resolution=30,
                                         method="decision_function").axes[0]
    assert ax.get_title() == "decision boundary: decision function"


def test_a_multiclass_classifier_shows_the_predicted_class(circles):
    svm = pytest.importorskip("sklearn.svm")
    X, y = circles
    y3 = y + (X[:, 0] > 0.5)  # three classes
    clf = svm.SVC(kernel="rbf").fit(X, y3)
    ax = plotting.plot_decision_boundary(clf, X, y3, resolution=30).axes[0]
    assert ax.get_title() == "decision boundary: predicted class"
    filled = [c for c in ax.collections if getattr(c, "filled", False)][0]
    assert list(filled.levels) == [-0.5, 0.5, 1.5, 2.5]


def test_decision_boundary_of_other_objects_errors(circles):
    X, y = circles

    class Fitted:
        n_features_in_ = 3

        def decision_function(self, X):
            return X[:, 0]

    with pytest.raises(TypeError, match="predict_proba or decision_function"):
        plotting.plot_decision_boundary(object(), X)
    with pytest.raises(ValueError, match="fitted on 3 features"):
        plotting.plot_decision_boundary(Fitted(), X)
    Fitted.n_features_in_ = 2
    with pytest.raises(TypeError, match="no predict_proba"):
        plotting.plot_decision_boundary(Fitted(), X, method="predict_proba")
    with pytest.raises(ValueError, match="method must be"):
        plotting.plot_decision_boundary(Fitted(), X, method="predict")
    Fitted.classes_ = np.array([0, 1])
    with pytest.raises(ValueError, match=r"labels \[7\] that are not among"):
        plotting.plot_decision_boundary(Fitted(), X, np.r_[y[:-1], 7])
    # A plain decision function without classes_ works, its boundary at x_1 = 0.
    ax = plotting.plot_decision_boundary(Fitted(), X, y, resolution=20).axes[0]
    assert _lines(ax)[0][0] == [-1.0, 0.0, 1.0]


# --- the SVM bonus ----------------------------------------------------------------------------

def test_a_two_output_hinge_mlp_shows_its_decision_function_and_margins(circles):
    from fastmlp import MLP
    X, y = circles
    model = MLP([2, 8, 2], loss="hinge", dtype=np.float64, seed=0)
    model.fit(X, y, epochs=30, lr=0.1, progress=False, seed=0)
    ax = plotting.plot_decision_boundary(model, X, y, resolution=30).axes[0]
    assert ax.get_title() == "decision boundary: decision function"
    ((levels, styles),) = _lines(ax)
    assert levels == [-1.0, 0.0, 1.0]
    assert styles[0] == styles[2] != styles[1]
    # The function drawn is the score difference z_1 - z_0, whose sign predict reads.
    filled = [c for c in ax.collections if getattr(c, "filled", False)][0]
    scores = model.decision_function(X)
    assert filled.levels.min() <= (scores[:, 1] - scores[:, 0]).min()
    # A multi-class hinge model shows its predicted class.
    three = MLP([2, 4, 3], loss="hinge", dtype=np.float64, seed=0)
    ax = plotting.plot_decision_boundary(three, X, y, resolution=20).axes[0]
    assert ax.get_title() == "decision boundary: predicted class"


def test_svm_bonus_a_linear_svm_fails_on_the_circles_and_the_others_separate_them():
    from fastmlp.course import svm_bonus
    models, (X_train, y_train, X_test, y_test), note = svm_bonus(400, noise=0.1, seed=1,
                                                                  epochs=150)
    scores = {name: score for name, _, score in models}
    assert len(X_test) == 100 and len(X_train) == 300
    assert scores["linear SVM"] < 0.75  # a line cannot separate two circles
    assert scores["MLP"] > 0.9
    if note is None:
        assert scores["RBF SVC"] > 0.9
        assert [name for name, _, _ in models] == ["linear SVM", "RBF SVC", "MLP"]
    else:
        assert "scikit-learn" in note and "RBF SVC" not in scores


def test_svm_bonus_without_scikit_learn_leaves_the_svc_out(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    from fastmlp.course import svm_bonus
    models, _, note = svm_bonus(80, epochs=2)
    assert [name for name, _, _ in models] == ["linear SVM", "MLP"]
    assert 'pip install "fastmlp[sklearn]"' in note


def test_plot_classifiers_one_panel_each_with_its_score(circles):
    from fastmlp import MLP
    X, y = circles
    a = MLP([2, 2], loss="hinge", dtype=np.float64, seed=0)
    b = MLP([2, 4, 2], dtype=np.float64, seed=0)
    fig = plotting.plot_classifiers([("one", a, 0.5), ("two", b, None)], X, y, title="t")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["one: test accuracy 0.500", "two"]
    assert fig._suptitle.get_text() == "t"
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_classifiers([], X, y)


def test_svm_command(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "svm", "--samples", "200", "--epochs", "100", "--plot",
                         "s.png")
    assert code == 0, err
    table = dict(line.rsplit(None, 1) for line in out.splitlines()
                 if line.startswith(("linear SVM", "RBF SVC", "MLP")))
    assert float(table["linear SVM"]) < 0.8 and float(table["MLP"]) > 0.85
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG_SIGNATURE
    for option, value in (("--samples", "2"), ("--hidden", "0"), ("--epochs", "0"),
                          ("--noise", "-1")):
        code, _, err = run(capsys, "svm", option, value)
        assert code == 2 and f"fastmlp: error: {option}" in err
