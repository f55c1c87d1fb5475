"""fastmlp.plotting: what each figure contains, its errors, PNG files, headless use."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from fastmlp import MLP, datasets, plotting

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def circles():
    X, y = datasets.circles(n_samples=300, seed=1)
    return X[:200], y[:200], X[200:], y[200:]


@pytest.fixture(scope="module")
def trained(circles):
    X, y, X_val, y_val = circles
    model = MLP([2, 8, 2], seed=0)
    history = model.fit(X, y, epochs=4, batch_size=20, lr=0.3, validation_data=(X_val, y_val),
                        progress=False, seed=0)
    return model, history


def line_labels(ax):
    return [line.get_label() for line in ax.get_lines()]


# --- plot_history ----------------------------------------------------------------------------

def test_history_with_validation_has_train_and_validation_curves(trained):
    _, history = trained
    fig = plotting.plot_history(history, title="run 1")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert line_labels(loss_ax) == ["train", "validation"]
    assert line_labels(acc_ax) == ["train", "validation"]
    np.testing.assert_allclose(loss_ax.get_lines()[0].get_ydata(), history.loss)
    np.testing.assert_allclose(loss_ax.get_lines()[1].get_ydata(), history.val_loss)
    np.testing.assert_allclose(acc_ax.get_lines()[1].get_ydata(), history.val_accuracy)
    np.testing.assert_array_equal(loss_ax.get_lines()[0].get_xdata(), [1, 2, 3, 4])
    assert loss_ax.get_xlabel() == "epoch"
    assert fig._suptitle.get_text() == "run 1"


def test_history_without_validation_or_accuracy():
    mse_like = {"loss": [3.0, 2.0, 1.5], "accuracy": [], "val_loss": [], "val_accuracy": []}
    fig = plotting.plot_history(mse_like)
    assert len(fig.axes) == 1  # no accuracy panel for an MSE history
    assert line_labels(fig.axes[0]) == ["train"]

    train_only = {"loss": [1.0, 0.5], "accuracy": [0.6, 0.8]}  # missing keys are empty
    fig = plotting.plot_history(train_only, val_label="test")
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1]


def test_history_single_epoch_is_visible():
    fig = plotting.plot_history({"loss": [0.7], "val_loss": [0.6]}, val_label="test")
    ax = fig.axes[0]
    assert line_labels(ax) == ["train", "test"]
    assert ax.get_lines()[0].get_marker() == "o"  # a lone point needs a marker
    low, high = ax.get_xlim()
    assert low < 1 < high


def test_history_errors():
    with pytest.raises(ValueError, match="no epochs"):
        plotting.plot_history({"loss": []})
    with pytest.raises(TypeError, match="History"):
        plotting.plot_history([0.5, 0.4])


def test_history_draws_into_a_subfigure(trained):
    _, history = trained
    fig = Figure()
    left, right = fig.subfigures(1, 2)
    assert plotting.plot_history(history, fig=right) is fig
    assert len(right.axes) == 2 and len(left.axes) == 0


# --- plot_decision_boundary --------------------------------------------------------------------

def test_decision_boundary_binary(trained, circles):
    model, _ = trained
    X, y, _, _ = circles
    fig = plotting.plot_decision_boundary(model, X, y, resolution=50)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the plot and the colour bar of P(class 1)
    assert "P(class 1)" in ax.get_title()
    contour_fill, boundary, points = ax.collections
    np.testing.assert_allclose(contour_fill.levels, np.linspace(0, 1, 11))
    assert list(boundary.levels) == [0.5]
    np.testing.assert_allclose(points.get_offsets(), X)
    np.testing.assert_array_equal(points.get_array(), y)  # coloured by label
    # The grid covers the data with a margin.
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < X[:, 0].min() and x1 > X[:, 0].max()
    assert y0 < X[:, 1].min() and y1 > X[:, 1].max()


def test_decision_boundary_multiclass_shows_predicted_class(circles):
    X, y, _, _ = circles
    model = MLP([2, 5, 3], seed=0)
    fig = plotting.plot_decision_boundary(model, X, y, resolution=20)
    assert len(fig.axes) == 1  # classes need no colour bar
    assert "predicted class" in fig.axes[0].get_title()
    np.testing.assert_allclose(fig.axes[0].collections[0].levels, [-0.5, 0.5, 1.5, 2.5])


def test_decision_boundary_logistic_output_shows_p_class_1(circles):
    X, y, _, _ = circles
    model = MLP([2, 5, 1], loss="binary_cross_entropy", seed=0)
    fig = plotting.plot_decision_boundary(model, X, y, resolution=10)
    assert "P(class 1)" in fig.axes[0].get_title()
    contour_fill, boundary, _ = fig.axes[0].collections
    np.testing.assert_allclose(contour_fill.levels, np.linspace(0, 1, 11))
    assert list(boundary.levels) == [0.5]


def test_decision_boundary_regression_output_and_no_labels(circles):
    X, _, _, _ = circles
    model = MLP([2, 5, 1], loss="mse", seed=0)
    fig = plotting.plot_decision_boundary(model, X, resolution=10)
    assert "output" in fig.axes[0].get_title()
    assert len(fig.axes) == 2  # colour bar of the output value


def test_decision_boundary_into_given_axes(trained, circles):
    model, _ = trained
    X, y, _, _ = circles
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert plotting.plot_decision_boundary(model, X, y, resolution=10, ax=ax2) is fig
    assert len(ax2.collections) == 3 and len(ax1.collections) == 0


def test_decision_boundary_errors(trained, circles):
    model, _ = trained
    X, y, _, _ = circles
    with pytest.raises(ValueError, match="2 inputs"):
        plotting.plot_decision_boundary(MLP([3, 4, 2], seed=0), np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match=r"\(n_samples, 2\)"):
        plotting.plot_decision_boundary(model, X[:, :1], y)
    with pytest.raises(ValueError, match=r"y must have shape \(\d+,\) \(one label per row of X\)"):
        plotting.plot_decision_boundary(model, X, y[:-1])
    with pytest.raises(ValueError, match="resolution"):
        plotting.plot_decision_boundary(model, X, y, resolution=1)


# --- plot_first_layer --------------------------------------------------------------------------

def test_first_layer_tiles_each_unit_scaled():
    model = MLP([784, 20, 10], seed=3)
    fig = plotting.plot_first_layer(model)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    (image,) = ax.images
    mosaic = np.ma.filled(image.get_array(), np.nan)
    # 20 units: 5 columns, 4 rows of 28x28 tiles with 2-pixel gaps.
    assert mosaic.shape == (4 * 30 - 2, 5 * 30 - 2)
    assert "20 units" in ax.get_title()
    W = model.weights[0]
    for unit in (0, 7, 19):
        r, c = divmod(unit, 5)
        tile = mosaic[r * 30:r * 30 + 28, c * 30:c * 30 + 28]
        np.testing.assert_allclose(tile, W[unit].reshape(28, 28) / np.abs(W[unit]).max(),
                                   rtol=1e-6)
    assert np.isnan(mosaic[28:30, :]).all()  # gap between rows


def test_first_layer_max_units_and_other_shapes():
    model = MLP([784, 50, 10], seed=0)
    fig = plotting.plot_first_layer(model, max_units=4)
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (2 * 30 - 2, 2 * 30 - 2)
    assert "4 of 50 units" in fig.axes[0].get_title()

    small = MLP([12, 3], seed=0)  # no hidden layer: the output weights, as 3x4 images
    fig = plotting.plot_first_layer(small, shape=(3, 4))
    assert fig.axes[0].images[0].get_array().shape == (2 * 5 - 2, 2 * 6 - 2)


def test_first_layer_errors():
    model = MLP([784, 5, 10], seed=0)
    with pytest.raises(ValueError, match="784 inputs"):
        plotting.plot_first_layer(model, shape=(20, 20))
    with pytest.raises(ValueError, match="two positive integers"):
        plotting.plot_first_layer(model, shape=(784,))
    with pytest.raises(ValueError, match="max_units"):
        plotting.plot_first_layer(model, max_units=0)


# --- plot_sweep ------------------------------------------------------------------------------

def run(lr, batch_size, loss, val_loss=(), diverged=False):
    return {"lr": lr, "batch_size": batch_size, "diverged": diverged, "val_label": "test",
            "history": {"loss": list(loss), "val_loss": list(val_loss)}}


def test_sweep_one_panel_per_batch_size_one_colour_per_lr():
    results = [run(0.1, 32, [0.9, 0.5], [1.0, 0.6]), run(1.0, 32, [0.8, 0.2], [0.9, 0.3]),
               run(0.1, "full", [0.9, 0.8], [1.0, 0.9]), run(1.0, None, [0.9, 0.7], [1.0, 0.8])]
    fig = plotting.plot_sweep(results, title="sweep")
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["batch size 32", "full batch"]
    for ax in fig.axes:
        lines = ax.get_lines()
        assert len(lines) == 4  # per lr: solid train loss and dashed test loss
        assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["lr=0.1", "lr=1", "train (solid)", "test (dashed)"]
    left, right = fig.axes
    for i in (0, 2):  # an lr keeps its colour across panels
        assert left.get_lines()[i].get_color() == right.get_lines()[i].get_color()
    assert left.get_lines()[0].get_color() != left.get_lines()[2].get_color()
    np.testing.assert_allclose(left.get_lines()[2].get_ydata(), [0.8, 0.2])
    assert left.get_yscale() == "linear"  # all within a factor of 10


def test_sweep_log_scale_and_diverged_runs():
    results = [run(0.01, 8, [2.0, 1.0, 0.5]), run(0.1, 8, [2.0, 0.1, 0.01]),
               run(10.0, 8, [2.0, 500.0], diverged=True), run(100.0, 8, [], diverged=True)]
    fig = plotting.plot_sweep(results)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"  # 0.01 to 2
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["lr=0.01", "lr=0.1", "lr=10 (diverged)", "lr=100 (diverged)"]
    # The y range fits the runs that did not diverge.
    low, high = ax.get_ylim()
    assert low < 0.01 and 2.0 < high < 500.0
    # The lr=100 run diverged in its first epoch: an empty line, still in the legend.
    empty = [line for line in ax.get_lines() if line.get_label().startswith("lr=100")]
    assert len(empty) == 1 and len(empty[0].get_xdata()) == 0


def test_sweep_accepts_histories(trained):
    _, history = trained
    fig = plotting.plot_sweep([{"lr": 0.3, "batch_size": 20, "history": history}])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["lr=0.3", "train (solid)", "validation (dashed)"]


def test_sweep_errors():
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_sweep([])
    with pytest.raises(ValueError, match="lacks batch_size"):
        plotting.plot_sweep([{"lr": 0.1, "history": {"loss": [1.0]}}])
    with pytest.raises(TypeError, match="mapping"):
        plotting.plot_sweep([(0.1, 32, {"loss": [1.0]})])


# --- plot_training -----------------------------------------------------------------------------

def test_training_summary_panels(trained, circles):
    model, history = trained
    X, y, _, _ = circles
    fig = plotting.plot_training(history, model, X, y, title="circles", val_label="test")
    curves, picture = fig.subfigs
    assert len(curves.axes) == 2
    assert "decision boundary" in picture.axes[0].get_title()
    assert line_labels(curves.axes[0]) == ["train", "test"]

    mnist_like = MLP([784, 9, 10], seed=0)
    fig = plotting.plot_training({"loss": [1.0, 0.5]}, mnist_like, image_shape=(28, 28))
    assert "first-layer weights" in fig.subfigs[1].axes[0].get_title()

    fig = plotting.plot_training(history)  # curves only
    assert len(fig.axes) == 2 and not fig.subfigs


# --- save_figure ----------------------------------------------------------------------------

def test_save_figure_writes_a_png(tmp_path, trained):
    _, history = trained
    fig = plotting.plot_history(history)
    fig.set_size_inches(4, 3)
    path = tmp_path / "curves.png"
    assert plotting.save_figure(fig, path, dpi=50) == str(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.shape[:2] == (150, 200) and image.shape[2] in (3, 4)
    assert image.std() > 0  # something was drawn
    assert os.listdir(tmp_path) == ["curves.png"]  # no temporary file left behind


def test_save_figure_replaces_atomically(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    plotting.save_figure(fig, str(path))
    assert path.read_bytes()[:8] == PNG_SIGNATURE

    # A failure while writing leaves the existing file as it was, and no temporary file.
    before = path.read_bytes()

    def broken_savefig(f, **kwargs):
        f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        plotting.save_figure(fig, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_figure_errors(tmp_path):
    fig = Figure()
    with pytest.raises(ValueError, match=r"\.png"):
        plotting.save_figure(fig, tmp_path / "curves.pdf")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plotting.save_figure(fig, tmp_path / "missing" / "curves.png")
    assert os.listdir(tmp_path) == []


# --- headless ---------------------------------------------------------------------------------

HEADLESS_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from fastmlp import MLP, plotting
    model = MLP([2, 3, 2], seed=0)
    X = np.random.default_rng(0).normal(size=(20, 2))
    fig = plotting.plot_training({"loss": [1.0, 0.5], "accuracy": [0.5, 0.9]}, model, X,
                                 (X[:, 0] > 0).astype(int))
    plotting.save_figure(fig, sys.argv[1])
    assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
    print("ok")
""")


@pytest.mark.parametrize("backend", [None, "Agg"], ids=["MPLBACKEND-unset", "Agg"])
def test_headless(tmp_path, backend):
    """No display needed: figures never go through pyplot, which would pick a backend."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    if backend is not None:
        env["MPLBACKEND"] = backend
    out = tmp_path / "fig.png"
    proc = subprocess.run([sys.executable, "-c", HEADLESS_SCRIPT, str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    assert out.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("dpi, exc, match", [
    (float("nan"), ValueError, "dpi must be finite"),
    (1e5, ValueError, "dpi must be at most 1200"),
    (0, ValueError, "dpi must be >= 1.0"),
    ("x", TypeError, "dpi must be a real number; got str 'x'"),
])
def test_save_figure_checks_dpi_before_rendering(tmp_path, dpi, exc, match):
    import matplotlib.pyplot as plt
    fig = plt.figure()
    try:
        with pytest.raises(exc, match=match):
            plotting.save_figure(fig, tmp_path / "f.png", dpi=dpi)
    finally:
        plt.close(fig)
    assert list(tmp_path.iterdir()) == []


def test_decision_boundary_refuses_masked_points():
    model = MLP([2, 4, 2], seed=0)
    X, y = datasets.circles(20, seed=0)
    with pytest.raises(TypeError, match="X must be a plain array"):
        plotting.plot_decision_boundary(model, np.ma.masked_array(X, X > 0.5), y)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: plotting.plot_history({"loss": ["a", "b"]}), TypeError,
     r"history\['loss'\]\[0\] must be a real number; got str 'a'"),
    (lambda: plotting.plot_history({"loss": [[1, 2]]}), TypeError,
     r"history\['loss'\]\[0\] must be a real number; got list"),
    (lambda: plotting.plot_sweep([{"lr": "x", "batch_size": 1, "history": {"loss": [1.0]}}]),
     TypeError, r"results\[0\]\['lr'\] must be a real number; got str 'x'"),
    (lambda: plotting.plot_decision_boundary(MLP([2, 2], seed=0), np.zeros((3, 2)),
                                             np.array(["a", "b", "a"])),
     TypeError, "y must hold integer class labels"),
    (lambda: plotting.plot_decision_boundary(MLP([2, 2], seed=0), np.zeros((3, 2)),
                                             resolution=2**40),
     ValueError, "resolution must be <= 2000"),
], ids=["history strings", "history rows", "sweep lr", "string labels", "huge resolution"])
def test_plot_arguments_are_named_in_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
