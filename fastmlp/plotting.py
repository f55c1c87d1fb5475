"""Pictures of training: loss curves, decision boundaries, first-layer weights, sweeps.

Design
------
* Headless by construction: every figure is a ``matplotlib.figure.Figure`` made
  directly, never through ``pyplot``, so no GUI backend is chosen or loaded and
  the module works the same with or without a display (and whatever
  ``MPLBACKEND`` says). Nothing here changes matplotlib's global state.
* Every ``plot_*`` function returns the top-level Figure. Those that accept
  ``fig`` draw into a given Figure or SubFigure (from ``Figure.subfigures``)
  instead of a new one, which is how :func:`plot_training` puts several
  pictures in one file.
* :func:`save_figure` writes a PNG atomically: a temporary file in the
  destination's folder, then ``os.replace``; the destination is checked
  first (see ``fastmlp._validation.check_output_path``).
"""
import math
import os
import secrets
from collections.abc import Mapping

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._validation import (as_array, as_finite_array, check_int, check_labels, check_output_path,
                          check_path, check_real, check_real_dtype)

__all__ = ["plot_history", "plot_decision_boundary", "plot_classifiers", "plot_first_layer",
           "plot_sweep", "plot_variants", "plot_sweep_heatmap", "plot_gradient_cost",
           "plot_training", "save_figure"]

_CURVES = ("loss", "accuracy", "val_loss", "val_accuracy")
#: The finest decision-boundary grid: MAX_RESOLUTION**2 points through the model.
MAX_RESOLUTION = 2000
#: The largest resolution save_figure renders (a 6.4 x 4.8 inch figure at 1200 dpi is
#: about 44 million pixels).
MAX_DPI = 1200
# Lines get markers when there are few epochs, so that a one-epoch run is visible.
_MARKER_EPOCHS = 25
# The most activations (rows times units) one forward pass over a plot's grid holds.
_FORWARD_VALUES = 2**22


# --- helpers ---------------------------------------------------------------------------

def _root(fig):
    """The top-level Figure of a Figure or SubFigure."""
    while not isinstance(fig, Figure):
        fig = fig.figure
    return fig


def _new_figure(figsize):
    return Figure(figsize=figsize, layout="constrained")


def _curves(history, name="history"):
    """The four per-epoch lists of a History (or of a mapping like ``History.as_dict()``)."""
    if isinstance(history, Mapping):
        get = history.get
    elif all(hasattr(history, key) for key in _CURVES):
        def get(key, default):
            return getattr(history, key, default)
    else:
        raise TypeError(f"{name} must be a fastmlp History or a mapping with the keys "
                        f"{', '.join(_CURVES)}; got {type(history).__name__}")
    curves = {}
    for key in _CURVES:
        values = get(key, [])
        values = [] if values is None else list(values)
        # NaN and inf are allowed: a diverged run's curve ends in them.
        curves[key] = [check_real(v, f"{name}[{key!r}][{i}]", finite=False)
                       for i, v in enumerate(values)]
    return curves


def _epoch_line(ax, values, **kwargs):
    """Plot ``values`` against epochs 1, 2, ...; returns the Line2D."""
    epochs = np.arange(1, len(values) + 1)
    if 0 < len(values) <= _MARKER_EPOCHS:
        kwargs.setdefault("marker", "o")
        kwargs.setdefault("markersize", 3)
    (line,) = ax.plot(epochs, values, **kwargs)
    return line


def _wide_positive(values):
    """Should these values go on a log axis: all positive, spanning more than 10x?"""
    values = np.asarray(values, dtype=np.float64)
    return values.size > 0 and bool((values > 0).all()) and values.max() > 10 * values.min()


def _integer_epochs(ax, n_epochs):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if n_epochs <= 1:  # a single point: centre it, with tick 1 alone
        ax.set_xlim(0.5, 1.5)
    ax.set_xlabel("epoch")


def _train_val_panel(ax, quantity, train, val, val_label):
    """One Axes of ``quantity`` against the epoch: the train and val curves that exist."""
    if train:
        _epoch_line(ax, train, label="train", color="C0")
    if val:
        _epoch_line(ax, val, label=val_label, color="C1")
    ax.set_ylabel(quantity)
    ax.set_title(quantity)
    _integer_epochs(ax, max(len(train), len(val)))
    ax.grid(alpha=0.3)
    ax.legend()


# --- training curves -------------------------------------------------------------------

def plot_history(history, title=None, val_label="validation", fig=None):
    """Loss curves, and accuracy curves when there are any, against the epoch.

    Parameters
    ----------
    history : fastmlp.History or mapping
        What :meth:`fastmlp.MLP.fit` returned, or a mapping with the lists
        ``loss``, ``accuracy``, ``val_loss`` and ``val_accuracy`` (missing or
        empty lists are not drawn). ``loss`` must hold at least one epoch.
    title : str, optional
        The figure's title.
    val_label : str
        Legend name of the ``val_`` curves (the CLI passes ``"test"``).
    fig : Figure or SubFigure, optional
        Draw here instead of in a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes with the loss (a "train" line, and a ``val_label`` line when
        ``val_loss`` is present) and, when ``accuracy`` or ``val_accuracy`` is
        present, a second Axes with the accuracy lines in the same order.

    Raises
    ------
    ValueError
        If the history has no epochs.
    """
    curves = _curves(history)
    if not curves["loss"]:
        raise ValueError("history has no epochs to plot (its loss list is empty)")
    has_accuracy = bool(curves["accuracy"] or curves["val_accuracy"])
    if fig is None:
        fig = _new_figure((10.0 if has_accuracy else 5.5, 4.0))
    axes = fig.subplots(1, 2 if has_accuracy else 1, squeeze=False)[0]

    _train_val_panel(axes[0], "loss", curves["loss"], curves["val_loss"], val_label)
    if has_accuracy:
        _train_val_panel(axes[1], "accuracy", curves["accuracy"], curves["val_accuracy"],
                         val_label)
    if title:
        fig.suptitle(title)
    return _root(fig)


# --- decision boundary -----------------------------------------------------------------

def _is_fastmlp(model):
    return hasattr(model, "layer_sizes") and hasattr(model, "loss_name")


def _classifier_method(model, method):
    """The method of a fitted scikit-learn-style classifier the plot reads."""
    methods = ("predict_proba", "decision_function")
    if method == "auto":
        found = [m for m in methods if callable(getattr(model, m, None))]
        if not found:
            raise TypeError(f"model must be a fastmlp MLP or a fitted classifier with "
                            f"predict_proba or decision_function; {type(model).__name__} has "
                            f"neither")
        return found[0]
    if method not in methods:
        raise ValueError(f"method must be 'auto', 'predict_proba' or 'decision_function'; "
                         f"got {method!r}")
    if not callable(getattr(model, method, None)):
        raise TypeError(f"{type(model).__name__} has no {method} (method={method!r})")
    return method


def _in_blocks(function, grid, rows):
    return np.concatenate([np.asarray(function(grid[i:i + rows]), dtype=np.float64)
                           for i in range(0, len(grid), rows)])


def plot_decision_boundary(model, X, y=None, resolution=200, ax=None, title=None,
                           method="auto"):
    """The model's prediction over the plane, with the data points on top.

    Parameters
    ----------
    model : fastmlp.MLP, or a fitted classifier
        A model with two inputs: a fastmlp MLP, or any fitted classifier with
        ``predict_proba`` or ``decision_function`` (scikit-learn's ``SVC``,
        ``LogisticRegression``, ``MLPClassifier``, ...).
    X : array_like, shape (n_samples, 2)
        The points; the grid covers them with a margin of 10% of their span.
    y : array_like, shape (n_samples,), optional
        Class labels that colour the points (one colour when omitted). For an
        MLP: integers, whole-number floats or booleans, in [0, n_outputs) when the
        model has more than one output (the labels ``MLP.fit`` takes). For another
        classifier: values of its ``classes_``.
    resolution : int
        Grid points along each axis (at least 2). The grid goes through the
        model in blocks of at most about 4 million activations, so memory does
        not grow with the model's width times ``resolution**2``.
    ax : matplotlib Axes, optional
        Draw here instead of in a new Figure.
    title : str, optional
        The Axes' title; by default it says what the colours show.
    method : {"auto", "predict_proba", "decision_function"}
        What to read from a classifier that is not an MLP: ``"auto"`` takes
        ``predict_proba`` when the classifier has it, else ``decision_function``
        (an ``SVC`` without ``probability=True``). Ignored for an MLP.

    Returns
    -------
    matplotlib.figure.Figure
        The background is a filled contour (``ax.collections``), the points one
        scatter. What the background shows depends on the model:

        * cross-entropy with two classes, binary cross-entropy with one output,
          or a two-class ``predict_proba``: P(class 1), with a colour bar and the
          0.5 contour drawn as the boundary;
        * a two-class ``decision_function`` f, or a two-output hinge MLP's score
          difference f = z_1 - z_0: f itself, with a colour bar, the boundary
          f = 0 as a solid line and the margins f = -1 and f = +1 (an SVM's) as
          dashed lines;
        * more than one output otherwise (cross-entropy, MSE on one-hot targets,
          a multi-class classifier): the predicted class, ``argmax`` of the
          outputs;
        * MSE with one output: the output value, with a colour bar.

    Raises
    ------
    ValueError
        If the model or X is not two-dimensional, X holds NaN or inf, y does not
        match X or holds a label the model has no output for, or the resolution
        is not in [2, MAX_RESOLUTION].
    TypeError
        If ``model`` is neither an MLP nor a classifier with one of the methods.
    """
    fastmlp = _is_fastmlp(model)
    if fastmlp:
        n_inputs = model.layer_sizes[0]
        if n_inputs != 2:
            raise ValueError(f"plot_decision_boundary needs a model with 2 inputs; this one "
                             f"has {n_inputs} (layer_sizes {list(model.layer_sizes)})")
    else:
        method = _classifier_method(model, method)
        n_inputs = getattr(model, "n_features_in_", 2)
        if n_inputs != 2:
            raise ValueError(f"plot_decision_boundary needs a model with 2 inputs; this "
                             f"{type(model).__name__} was fitted on {n_inputs} features")
    X = as_array(X, "X")
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(f"plot_decision_boundary needs 2-D points, X of shape "
                         f"(n_samples, 2) with n_samples >= 1; got shape {X.shape}")
    check_real_dtype(X, "X", np.float64)
    X = as_finite_array(X, "X", np.float64)
    resolution = check_int(resolution, "resolution", 2, MAX_RESOLUTION)

    low, high = X.min(axis=0), X.max(axis=0)
    margin = np.maximum(0.1 * (high - low), 0.5 * (high - low == 0))
    gx = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    gy = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.c_[xx.ravel(), yy.ravel()]

    if fastmlp:
        k = model.layer_sizes[-1]
        if y is not None:
            # The model's classes; a single output (MSE) has none, and any integers colour.
            y = check_labels(y, "y", X.shape[0], k if k > 1 else None, rows_of="X")
        # A block of grid points at a time: the activations of a wide model over the
        # whole grid (resolution**2 rows) could need gigabytes.
        rows = max(1, _FORWARD_VALUES // sum(model.layer_sizes[1:]))
        out = _in_blocks(model.forward, grid, rows)
        if (model.loss_name, k) in (("cross_entropy", 2), ("binary_cross_entropy", 1)):
            kind, zz = "probability", out[:, -1]
        elif model.loss_name in ("hinge", "squared_hinge") and k == 2:
            # The score difference is the binary SVM's f: its hinge terms are
            # max(0, 1 - f) for class 1 and max(0, 1 + f) for class 0.
            kind, zz = "decision", out[:, 1] - out[:, 0]
        elif k > 1:
            kind, zz = "class", out.argmax(axis=1)
        else:
            kind, zz = "output", out[:, 0]
    else:
        # Blocks too: a kernel SVM's decision function holds a row per support vector.
        out = _in_blocks(getattr(model, method), grid, 1 << 16)
        classes = getattr(model, "classes_", None)
        k = out.shape[1] if out.ndim == 2 else 2
        if y is not None:
            y = _class_indices(y, classes, X.shape[0])
        if out.ndim == 1:
            kind, zz = "decision", out
        elif k == 2 and method == "predict_proba":
            kind, zz = "probability", out[:, 1]
        else:
            kind, zz = "class", out.argmax(axis=1)
    zz = zz.reshape(xx.shape)

    if ax is None:
        ax = _new_figure((5.5, 4.5)).add_subplot()
    fig = ax.figure
    if kind == "probability":
        what = "P(class 1)"
        cmap = "coolwarm"
        cs = ax.contourf(xx, yy, zz, levels=np.linspace(0.0, 1.0, 11), cmap=cmap, alpha=0.8)
        ax.contour(xx, yy, zz, levels=[0.5], colors="k", linewidths=1.0)
        fig.colorbar(cs, ax=ax, label=what)
        point_colors = dict(cmap=cmap, vmin=0.0, vmax=1.0)
    elif kind == "decision":
        what = "decision function"
        bound = max(float(np.abs(zz).max()), 1.0)
        cs = ax.contourf(xx, yy, zz, levels=np.linspace(-bound, bound, 21), cmap="coolwarm",
                         alpha=0.8)
        # The boundary f = 0 and an SVM's margins f = -1 and f = +1.
        ax.contour(xx, yy, zz, levels=[-1.0, 0.0, 1.0], colors="k",
                   linestyles=["--", "-", "--"], linewidths=1.0)
        fig.colorbar(cs, ax=ax, label=what)
        point_colors = dict(cmap="coolwarm", vmin=0, vmax=1)
    elif kind == "class":
        what = "predicted class"
        base = "coolwarm" if k == 2 else ("tab10" if k <= 10 else "tab20")
        from matplotlib import colormaps
        colors = colormaps[base](np.linspace(0, 1, k) if k == 2 else np.arange(k) % 20)
        cmap = ListedColormap(colors)
        norm = BoundaryNorm(np.arange(k + 1) - 0.5, k)
        ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap=cmap, norm=norm, alpha=0.6)
        point_colors = dict(cmap=cmap, norm=norm)
    else:
        what = "model output"
        cs = ax.contourf(xx, yy, zz, levels=20, cmap="viridis", alpha=0.8)
        fig.colorbar(cs, ax=ax, label=what)
        point_colors = dict(cmap="viridis", vmin=float(zz.min()), vmax=float(zz.max()))

    if y is None:
        ax.scatter(X[:, 0], X[:, 1], s=12, c="k", linewidths=0)
    else:
        ax.scatter(X[:, 0], X[:, 1], c=y, s=14, edgecolors="k", linewidths=0.4,
                   **point_colors)
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title if title is not None else f"decision boundary: {what}")
    return _root(fig)


def plot_classifiers(models, X, y, title=None, fig=None):
    """Several classifiers' decision boundaries side by side, one panel each.

    Parameters
    ----------
    models : list of (name, model, score)
        Fitted two-input classifiers (as ``plot_decision_boundary`` takes) with a
        name and a score (e.g. the test accuracy, or None) for the panel's title.
    X, y : array_like
        The points drawn on every panel, and their labels.
    title : str, optional
        The figure's title.
    fig : matplotlib Figure or SubFigure, optional
        Draw here instead of in a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not models:
        raise ValueError("plot_classifiers needs at least one (name, model, score)")
    if fig is None:
        fig = _new_figure((4.8 * len(models), 4.2))
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, (name, model, score) in zip(axes, models):
        label = name if score is None else f"{name}: test accuracy {score:.3f}"
        plot_decision_boundary(model, X, y, ax=ax, title=label)
    if title is not None:
        fig.suptitle(title)
    return _root(fig)


def _class_indices(y, classes, n):
    """Labels of a classifier with ``classes_`` as indices into it (for colours)."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), one label per row of X; got {y.shape}")
    if classes is None:
        return check_labels(y, "y", n, None, rows_of="X")
    classes = np.asarray(classes)
    index = {c: i for i, c in enumerate(classes.tolist())}
    unknown = sorted({v for v in y.tolist() if v not in index}, key=repr)
    if unknown:
        raise ValueError(f"y holds labels {unknown[:5]} that are not among the classifier's "
                         f"classes_ {classes.tolist()}")
    return np.array([index[v] for v in y.tolist()])


# --- first-layer weights -----------------------------------------------------------------

def _weight_mosaic(W, shape, cols, gap=2):
    """Tile the rows of W, each reshaped to ``shape`` and scaled to [-1, 1] by its own
    largest magnitude, into one image; NaN between tiles and in unused places."""
    n = W.shape[0]
    h, w = shape
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i, row in enumerate(W):
        scale = np.abs(row).max()
        tile = row.reshape(h, w) / (scale if scale > 0 else 1.0)
        r, c = divmod(i, cols)
        mosaic[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return mosaic


def plot_first_layer(model, shape=(28, 28), max_units=64, fig=None, title=None):
    """The first layer's weights, one small image per hidden unit.

    Row ``j`` of ``model.weights[0]`` holds the weights from every input to unit
    ``j``; reshaped to the input's image shape it shows the pattern the unit
    responds to. Each image is scaled by its own largest magnitude (red
    positive, blue negative, white zero), and the images are tiled, in unit
    order and row by row, into one mosaic on a single Axes.

    Parameters
    ----------
    model : fastmlp.MLP
    shape : (int, int)
        Image shape of an input row; its product must equal ``layer_sizes[0]``.
    max_units : int
        Show the first ``min(max_units, layer_sizes[1])`` units.
    fig : Figure or SubFigure, optional
        Draw here instead of in a new Figure.
    title : str, optional
        The Axes' title; by default it says how many units are shown.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes holding one image (``ax.images[0]``): a grid of
        ``ceil(sqrt(units))`` columns of tiles separated by two-pixel grey gaps.

    Raises
    ------
    ValueError
        If ``prod(shape)`` is not the model's number of inputs, or
        ``max_units`` < 1.
    """
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"shape must be two positive integers (height, width); got {shape!r}")
    h, w = (check_int(s, f"shape[{i}]", 1) for i, s in enumerate(shape))
    if h * w != model.layer_sizes[0]:
        raise ValueError(f"shape {(h, w)} has {h * w} pixels but the model has "
                         f"{model.layer_sizes[0]} inputs (layer_sizes "
                         f"{list(model.layer_sizes)})")
    max_units = check_int(max_units, "max_units", 1)
    W = np.asarray(model.weights[0], dtype=np.float64)
    n_units = W.shape[0]
    shown = min(n_units, max_units)
    cols = math.ceil(math.sqrt(shown))
    mosaic = _weight_mosaic(W[:shown], (h, w), cols)

    if fig is None:
        rows = math.ceil(shown / cols)
        side = min(8.0, max(3.0, 0.9 * cols))
        fig = _new_figure((side, side * rows / cols + 0.5))
    ax = fig.add_subplot()
    from matplotlib import colormaps
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.55")
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=-1.0, vmax=1.0,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is None:
        title = (f"first-layer weights ({shown} of {n_units} units)" if shown < n_units
                 else f"first-layer weights ({n_units} units)")
    ax.set_title(title)
    return _root(fig)


# --- learning-rate / batch-size sweeps ---------------------------------------------------

def _batch_text(batch_size):
    return "full batch" if batch_size in (None, "full") else f"batch size {batch_size}"


def plot_sweep(results, title=None, fig=None):
    """Loss curves of several training runs: one panel per batch size, one colour per lr.

    Panels are side by side, one per distinct batch size in order of first
    appearance, and share their y axis, which is logarithmic when every value
    drawn is positive and they span more than a factor of 10 (losses of
    different learning rates often differ by orders of magnitude). The y range
    fits the runs that did not diverge, when there are any. In each
    panel every run draws a solid line of its training loss, labelled
    ``lr=<lr>`` in the legend, and, when its history has ``val_loss``, a
    dashed line of the same colour; a learning rate keeps its colour across
    panels. A run that diverged ends in a cross, and its legend entry says so;
    if it diverged in its first epoch its line is empty.

    Parameters
    ----------
    results : sequence of mapping
        One mapping per run with the keys ``lr`` (float), ``batch_size`` (int,
        or None or ``"full"`` for full-batch), ``history`` (a History or
        mapping as for :func:`plot_history`), and optionally ``diverged``
        (bool) and ``val_label`` (legend text of dashed lines; default
        ``"validation"``).
    title : str, optional
        The figure's title.
    fig : Figure or SubFigure, optional
        Draw here instead of in a new Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``results`` is empty or a run lacks ``lr``, ``batch_size`` or ``history``.
    """
    checked = _sweep_runs(results)  # validated before anything is drawn
    runs = [run[:4] for run in checked]
    val_label = next((r["val_label"] for *_, r in reversed(checked) if "val_label" in r),
                     "validation")
    batches = list(dict.fromkeys(batch for _, batch, _, _ in runs))
    colour = {lr: f"C{i % 10}" for i, lr in enumerate(dict.fromkeys(lr for lr, *_ in runs))}
    n_epochs = max(max(len(c["loss"]), len(c["val_loss"])) for _, _, c, _ in runs)
    any_val = any(c["val_loss"] for _, _, c, _ in runs)

    if fig is None:
        fig = _new_figure((4.2 * len(batches) + 0.6, 4.0))
    axes = fig.subplots(1, len(batches), sharey=True, squeeze=False)[0]
    for ax, batch in zip(axes, batches):
        for lr, _, curves, diverged in (r for r in runs if r[1] == batch):
            label = f"lr={lr:g}"
            if diverged:
                label += " (diverged)"
            _epoch_line(ax, curves["loss"], color=colour[lr], label=label)
            if diverged and curves["loss"]:
                ax.plot([len(curves["loss"])], [curves["loss"][-1]], marker="x",
                        markersize=9, color=colour[lr], linestyle="none")
            if curves["val_loss"]:
                _epoch_line(ax, curves["val_loss"], color=colour[lr], linestyle="--")
        ax.set_title(_batch_text(batch))
        _integer_epochs(ax, n_epochs)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if any_val:
            handles += [Line2D([], [], color="0.3"), Line2D([], [], color="0.3", linestyle="--")]
            labels += ["train (solid)", f"{val_label} (dashed)"]
        ax.legend(handles, labels, fontsize="small")
    axes[0].set_ylabel("loss")
    # Scale to the runs that did not diverge; diverged curves leave through the top.
    def finite_values(keep):
        return np.asarray([v for _, _, c, d in runs if keep(d)
                           for v in c["loss"] + c["val_loss"] if math.isfinite(v)])
    values = finite_values(lambda diverged: not diverged)
    clip = values.size > 0 and any(d for *_, d in runs)
    if not values.size:
        values = finite_values(lambda diverged: True)
    log = _wide_positive(values)
    if log:
        axes[0].set_yscale("log")
    if clip:
        low, high = values.min(), values.max()
        if log:
            axes[0].set_ylim(low / 1.5, high * 1.5)
        else:
            pad = 0.05 * (high - low) if high > low else 0.05 * abs(high) or 0.05
            axes[0].set_ylim(low - pad, high + pad)
    if title:
        fig.suptitle(title)
    return _root(fig)


def _sweep_runs(results):
    """Validated (lr, batch_size, curves, diverged, run) of sweep results (see plot_sweep)."""
    runs = []
    for i, run in enumerate(results):
        if not isinstance(run, Mapping):
            raise TypeError(f"results[{i}] must be a mapping with lr, batch_size and "
                            f"history; got {type(run).__name__}")
        missing = [k for k in ("lr", "batch_size", "history") if k not in run]
        if missing:
            raise ValueError(f"results[{i}] lacks {', '.join(missing)}")
        batch = None if run["batch_size"] == "full" else run["batch_size"]
        curves = _curves(run["history"], f"results[{i}]['history']")
        lr = check_real(run["lr"], f"results[{i}]['lr']", minimum=0.0, exclusive=True)
        runs.append((lr, batch, curves, bool(run.get("diverged", False)), run))
    if not runs:
        raise ValueError("results is empty: there are no runs to plot")
    return runs


def plot_variants(results, title=None, fig=None):
    """Gradient-descent variants: training loss against epochs and against wall-clock time.

    Full-batch gradient descent takes one step an epoch, online SGD (batch size 1)
    one per row: per epoch online SGD goes furthest, but each epoch costs more, and
    the right-hand panel shows which variant is ahead for the same time.

    Parameters
    ----------
    results : sequence of mapping
        As for :func:`plot_sweep`, each run also with ``seconds``: the wall-clock
        seconds from the start of training to the end of each epoch (one value per
        epoch of ``loss``).
    title : str, optional
    fig : Figure or SubFigure, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two Axes: the loss against the epoch, and against seconds. One line per
        run in each, labelled by its batch size (``full batch``, ``batch size
        32``) and, when the runs have several learning rates, ``lr``; a run keeps
        its colour in both. The y axes are logarithmic when the losses span more
        than a factor of 10.
    """
    runs = _sweep_runs(results)
    several_lrs = len({lr for lr, *_ in runs}) > 1
    if fig is None:
        fig = _new_figure((10.5, 4.2))
    by_epoch, by_time = fig.subplots(1, 2, sharey=True)
    values = []
    for i, (lr, batch, curves, diverged, run) in enumerate(runs):
        seconds = [check_real(v, f"results[{i}]['seconds'][{j}]", minimum=0.0)
                   for j, v in enumerate(run.get("seconds", []))]
        if len(seconds) != len(curves["loss"]):
            raise ValueError(f"results[{i}] has {len(curves['loss'])} epochs of loss but "
                             f"{len(seconds)} 'seconds' values; give one per epoch")
        label = _batch_text(batch) + (f", lr={lr:g}" if several_lrs else "")
        if diverged:
            label += " (diverged)"
        _epoch_line(by_epoch, curves["loss"], color=f"C{i % 10}", label=label)
        by_time.plot(seconds, curves["loss"], color=f"C{i % 10}", label=label,
                     marker="o" if len(seconds) <= _MARKER_EPOCHS else None, markersize=3)
        values += [v for v in curves["loss"] if math.isfinite(v)]
    if _wide_positive(values):
        by_epoch.set_yscale("log")
    _integer_epochs(by_epoch, max(len(c["loss"]) for _, _, c, _, _ in runs))
    by_epoch.set_ylabel("training loss")
    by_epoch.set_title("loss per epoch")
    by_time.set_xlabel("wall-clock seconds")
    by_time.set_title("loss against time")
    for ax in (by_epoch, by_time):
        ax.grid(alpha=0.3)
    by_epoch.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _root(fig)


def plot_sweep_heatmap(results, title=None, ax=None):
    """Final test accuracy of a sweep as a heat map over the (lr, batch size) grid.

    Parameters
    ----------
    results : sequence of mapping
        As for :func:`plot_sweep`; a run's accuracy is ``test_accuracy`` when the
        mapping has it, else the last ``val_accuracy`` of its history.
    title : str, optional
        The Axes' title (default: "final test accuracy").
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One image (``ax.images[0]``) of shape (batch sizes, learning rates): rows
        in order of first appearance, columns by increasing lr; each cell written
        with its accuracy, "diverged", or "n/a" (no accuracy, an empty grid cell).
        Diverged and missing cells are NaN in the image (grey).
    """
    runs = _sweep_runs(results)
    batches = list(dict.fromkeys(batch for _, batch, *_ in runs))
    lrs = sorted({lr for lr, *_ in runs})
    grid = np.full((len(batches), len(lrs)), np.nan)
    text = np.full(grid.shape, "n/a", dtype=object)
    for lr, batch, curves, diverged, run in runs:
        r, c = batches.index(batch), lrs.index(lr)
        if diverged:
            grid[r, c], text[r, c] = np.nan, "diverged"
            continue
        acc = run.get("test_accuracy")
        if acc is None and curves["val_accuracy"]:
            acc = curves["val_accuracy"][-1]
        if acc is not None:
            grid[r, c] = check_real(acc, "test accuracy", finite=False)
            text[r, c] = f"{grid[r, c]:.3f}"
    if ax is None:
        ax = _new_figure((1.6 * len(lrs) + 2.5, 0.8 * len(batches) + 2.0)).add_subplot()
    from matplotlib import colormaps
    cmap = colormaps["viridis"].with_extremes(bad="0.75")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0,
                      aspect="auto")
    for (r, c), label in np.ndenumerate(text):
        dark = math.isfinite(grid[r, c]) and grid[r, c] < 0.6
        ax.text(c, r, label, ha="center", va="center", color="w" if dark else "k")
    ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_yticks(range(len(batches)), [_batch_text(b) for b in batches])
    ax.set_xlabel("learning rate")
    ax.figure.colorbar(image, ax=ax, label="test accuracy")
    ax.set_title(title if title is not None else "final test accuracy")
    return _root(ax.figure)


def plot_gradient_cost(costs, title=None, ax=None):
    """Seconds to compute a network's full gradient by backpropagation and by central
    differences, against its number of parameters, on log-log axes.

    With P parameters backpropagation costs about two passes, O(P), and central
    differences 2P forward passes, O(P^2): on log-log axes, slopes near 1 and 2.

    Parameters
    ----------
    costs : sequence of mapping
        What :func:`fastmlp.gradcheck.gradient_costs` returns: ``n_layers``,
        ``n_params``, ``backprop_seconds``, ``numerical_seconds``.
    title : str, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two lines, labelled "backpropagation" and "central differences", each point
        annotated with its number of layers; both axes logarithmic.
    """
    keys = ("n_layers", "n_params", "backprop_seconds", "numerical_seconds")
    rows = []
    for i, cost in enumerate(costs):
        if not isinstance(cost, Mapping) or any(k not in cost for k in keys):
            raise ValueError(f"costs[{i}] must be a mapping with {', '.join(keys)}")
        rows.append([check_real(cost[k], f"costs[{i}][{k!r}]", minimum=0.0, exclusive=True)
                     for k in keys])
    if not rows:
        raise ValueError("costs is empty: there is nothing to plot")
    layers, params, backprop, numerical = np.array(rows).T
    if ax is None:
        ax = _new_figure((6.0, 4.5)).add_subplot()
    ax.plot(params, backprop, marker="o", label="backpropagation")
    ax.plot(params, numerical, marker="s", label="central differences")
    for L, p, t in zip(layers, params, numerical):
        ax.annotate(f"{L:g} layer{'s' if L != 1 else ''}", (p, t), textcoords="offset points",
                    xytext=(-4, 6), ha="right", fontsize="small")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("seconds for the full gradient")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title if title is not None else "backpropagation against finite differences")
    return _root(ax.figure)


# --- a training summary in one figure ----------------------------------------------------

def plot_training(history, model=None, X=None, y=None, image_shape=None, title=None,
                  val_label="validation"):
    """The curves of :func:`plot_history` and, to their right, a picture of the model.

    Parameters
    ----------
    history : fastmlp.History or mapping
        As for :func:`plot_history`.
    model : fastmlp.MLP, optional
        Needed for the right-hand panel.
    X, y : array_like, optional
        With a 2-input model and no ``image_shape``: the points of
        :func:`plot_decision_boundary`.
    image_shape : (int, int), optional
        Show :func:`plot_first_layer` with this shape instead of a decision
        boundary.
    title : str, optional
        The figure's title.
    val_label : str
        Legend name of the ``val_`` curves.

    Returns
    -------
    matplotlib.figure.Figure
        Two SubFigures side by side: the curves, then the first-layer weights
        (``image_shape`` given) or the decision boundary (``X`` given). With
        neither, or without a model, only the curves.
    """
    picture = model is not None and (image_shape is not None or X is not None)
    curves = _curves(history)
    has_accuracy = bool(curves["accuracy"] or curves["val_accuracy"])
    width = 10.0 if has_accuracy else 5.5
    if not picture:
        fig = _new_figure((width, 4.2))
        plot_history(history, title=title, val_label=val_label, fig=fig)
        return fig
    fig = _new_figure((width + 5.5, 4.6))
    left, right = fig.subfigures(1, 2, width_ratios=[width, 5.5])
    plot_history(history, val_label=val_label, fig=left)
    if image_shape is not None:
        plot_first_layer(model, shape=image_shape, fig=right)
    else:
        plot_decision_boundary(model, X, y, ax=right.add_subplot())
    if title:
        fig.suptitle(title)
    return fig


# --- saving --------------------------------------------------------------------------------

def _png_path(path):
    """``path`` as a str, checked to name a .png file."""
    path = check_path(path, "path", "file")
    if os.path.splitext(path)[1].lower() != ".png":
        raise ValueError(f"figures are saved as PNG: the file name must end in .png; "
                         f"got {path!r}")
    return path


def save_figure(fig, path, dpi=100):
    """Write ``fig`` to ``path`` as a PNG, atomically.

    The image is written to a temporary file in the destination's folder and
    moved into place with ``os.replace``, so a reader never sees a half-written
    file and a failure leaves any existing file untouched.

    Parameters
    ----------
    fig : Figure or SubFigure
        What to save (a SubFigure saves its whole Figure).
    path : str or path-like
        The destination; must end in ``.png``. Its folder must exist and be
        writable. A symbolic link is followed: the file it points to is
        replaced, and the link stays.
    dpi : float
        Resolution in dots per inch, in [1, MAX_DPI].

    Returns
    -------
    str
        The path written, as given.

    Raises
    ------
    ValueError
        If ``path`` does not end in ``.png``, or names an existing file that
        is not a regular file (a device, a pipe), or ``dpi`` is out of range.
    IsADirectoryError
        If ``path`` is a folder.
    FileNotFoundError, NotADirectoryError, PermissionError
        If the destination's folder does not exist, a part of it is a file,
        or it is not writable.

    All of these are raised before the PNG is rendered.
    """
    path = _png_path(path)
    target = check_output_path(path, "path")
    dpi = check_real(dpi, "dpi", minimum=1.0)
    if dpi > MAX_DPI:
        raise ValueError(f"dpi must be at most {MAX_DPI} (a print-quality figure); got {dpi!r}")
    fig = _root(fig)
    folder = os.path.dirname(target)
    # O_EXCL on a fresh random name, mode 0o666 less the umask (mkstemp would make it 0o600).
    tmp = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=dpi)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
