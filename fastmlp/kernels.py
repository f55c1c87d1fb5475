"""The public Cython kernels of fastmlp: validate, allocate, call.

Each function checks its arguments in Python (see ``fastmlp._validation`` for the
dtype and layout rules), allocates what it returns, and calls a compiled loop
that releases the GIL. ``fastmlp.reference`` holds the same functions, with the
same names and signatures, in plain NumPy.

All kernels work in float32 and float64; the result has the dtype of the first
array argument (integer input is computed in float64). Sums (softmax
denominators, losses, bias gradients) are accumulated in float64 in both.
Arrays a kernel writes are returned as the caller passed them (an ``np.matrix``
``out`` stays the same object, written in place).
"""
import sys

import numpy as np

from ._kernels import activations as _activations
from ._kernels import linear as _linear
from ._kernels import loss as _loss
from ._kernels import optim as _optim
from ._kernels import softmax as _softmax
from ._validation import (
    as_array,
    as_float_array,
    check_adam_settings,
    check_blas_dims,
    check_bool,
    check_dampening,
    check_finite,
    check_int,
    check_label_ndim,
    check_label_smoothing,
    check_labels,
    check_no_overlap,
    check_no_partial_overlap,
    check_probability_rows,
    check_sample_weight,
    check_sgd_settings,
    check_shape,
    check_unit_interval,
    check_writable,
    output_array,
)

__all__ = [
    "softmax", "log_softmax", "softmax_cross_entropy", "sigmoid_binary_cross_entropy",
    "multiclass_hinge", "mse",
    "tanh", "sigmoid", "log_sigmoid", "relu",
    "tanh_derivative", "sigmoid_derivative", "relu_derivative",
    "tanh_backward", "sigmoid_backward", "relu_backward",
    "linear_forward", "linear_backward", "sgd_update", "adam_update",
]


def _rows(kernel, z, out):
    """Check a 1-D or 2-D logits argument and its output, and run a row kernel on 2-D views."""
    z = as_float_array(z, "z", ndim=(1, 2), shape_hint="(n_classes,) or (n_samples, n_classes)")
    result = output_array(out, "out", z.shape, z.dtype, {"z": z})
    kernel(z.reshape(-1, z.shape[-1]), result.reshape(-1, z.shape[-1]))
    return result if out is None else out


def softmax(z, out=None):
    """Row-wise softmax, stable for any finite logits.

    ``softmax(z)[i, j] = exp(z[i, j] - m_i) / sum_l exp(z[i, l] - m_i)`` with
    ``m_i = max_l z[i, l]``, so rows of +-1e4 are exact and -inf entries give 0.
    A row whose maximum is +inf or NaN, or whose entries are all -inf, gives NaN.

    Parameters
    ----------
    z : array_like, shape (n_samples, n_classes) or (n_classes,)
        Logits, float32 or float64 (integers become float64).
    out : ndarray, optional
        C-contiguous array of z's shape and dtype to write into; may be ``z``
        itself (in place).

    Returns
    -------
    ndarray of z's shape and dtype; ``out`` when given.
    """
    return _rows(_softmax.softmax, z, out)


def log_softmax(z, out=None):
    """Row-wise log-softmax by log-sum-exp: ``z - m - log(sum exp(z - m))``, m the row max.

    Finite for finite logits however large (no log of an underflowed softmax).
    Shapes, dtypes and ``out`` (may be ``z``, in place) as in :func:`softmax`.
    """
    return _rows(_softmax.log_softmax, z, out)


def _weights(sample_weight, n, dtype):
    """The loss kernels' (w, w_total): checked weights scaled to a largest of 1, or an
    empty array for the plain mean."""
    if sample_weight is None:
        return np.empty(0, dtype=dtype), 0.0
    return check_sample_weight(sample_weight, "sample_weight", n, dtype)


def softmax_cross_entropy(z, y, sample_weight=None, label_smoothing=0.0):
    """Mean softmax cross-entropy and its gradient, in one fused pass.

    ``loss = sum_i c_i * sum_j T[i, j] * (lse(z[i]) - z[i, j])`` with lse the
    log-sum-exp, ``c_i = 1/n`` (or ``w_i / sum(w)`` with ``sample_weight``), the
    targets smoothed as ``torch.nn.CrossEntropyLoss(label_smoothing=eps)`` does,
    ``T = (1 - eps) * Y + eps / n_classes``, and ``grad[i] = c_i * (softmax(z[i]) -
    T[i])``, the gradient of ``loss`` with respect to ``z``. log(0) is never
    taken: zero targets are skipped, and a true class with logit -inf gives a
    loss of +inf (as does any -inf logit when eps > 0).

    Without weights the loss and gradient are torch's for any eps. With them,
    this kernel's weights are per row: each row's whole smoothed loss counts
    ``w_i / sum(w)``. torch's ``weight=`` is per class and enters the smoothing
    term class by class (``eps / k * sum_j w_j * -log p_ij``, the mean divided
    by ``sum_i w[y_i]``), so the two agree only without weights (or for eps = 0
    with the row weights ``w[y_i]``).

    Parameters
    ----------
    z : array_like, shape (n_samples, n_classes)
        Logits, float32 or float64.
    y : array_like, shape (n_samples,) or (n_samples, n_classes)
        Integer labels in [0, n_classes) (whole-number floats and booleans
        accepted), or
        target rows (one-hot or probability distributions: non-negative, each
        summing to 1) in z's dtype.
    sample_weight : array_like, shape (n_samples,), optional
        Non-negative, finite weights with a positive sum; only their ratios
        matter (equal weights of 1e308 give the unweighted mean).
    label_smoothing : float, default 0
        eps in [0, 1]; 0 is the plain cross-entropy.

    Returns
    -------
    loss : float
    grad : ndarray, shape (n_samples, n_classes), z's dtype (newly allocated)
    """
    z = as_float_array(z, "z", ndim=2, shape_hint="(n_samples, n_classes)")
    n, k = z.shape
    w, w_total = _weights(sample_weight, n, z.dtype)
    eps = check_label_smoothing(label_smoothing, z.dtype)
    y_arr = as_array(y, "y")
    check_label_ndim(y_arr, "y", n, k, "target rows")
    grad = np.empty_like(z)
    if y_arr.ndim == 2:
        targets = as_float_array(y, "y", dtype=z.dtype, ndim=2)
        check_shape(targets, "y", z.shape, "target rows must match the logits")
        check_probability_rows(targets, "y", given=y_arr)
        loss = _loss.softmax_cross_entropy_targets(z, targets, w, w_total, eps, grad)
    else:
        labels = check_labels(y_arr, "y", n, k, rows_of="the logits")
        loss = _loss.softmax_cross_entropy_labels(z, labels, w, w_total, eps, grad)
    return float(loss), grad


def sigmoid_binary_cross_entropy(z, y, sample_weight=None):
    """Mean binary cross-entropy of logits and its gradient, in one fused pass.

    Each of the k outputs of a row is a label's logit, its probability
    ``sigmoid(z)``. The loss is summed over a row's labels and averaged over rows
    (scikit-learn's ``binary_log_loss``; ``torch.nn.BCEWithLogitsLoss(reduction=
    "sum")`` divided by n_samples, or its default mean times n_labels)::

        loss = sum_i c_i * sum_j -(Y[i, j] log sigmoid(z[i, j])
                                  + (1 - Y[i, j]) log(1 - sigmoid(z[i, j])))
        grad[i] = c_i * (sigmoid(z[i]) - Y[i])

    with ``c_i = 1/n`` (or ``w_i / sum(w)`` with ``sample_weight``: the weighted
    mean over rows, as in :func:`softmax_cross_entropy`). The log-sigmoid is the
    stable ``log1p(exp(-|z|))`` form: finite for logits of +-1e4 in float32, and
    a confident right answer keeps its small loss instead of rounding it to 0.

    Parameters
    ----------
    z : array_like, shape (n_samples, n_labels) or (n_samples,)
        Logits, float32 or float64; a 1-D z is n rows of one label.
    y : array_like, z's shape
        Targets in [0, 1] (0/1 labels, or probabilities), converted to z's dtype.
    sample_weight : array_like, shape (n_samples,), optional
        As in :func:`softmax_cross_entropy`.

    Returns
    -------
    loss : float
    grad : ndarray of z's shape and dtype (newly allocated)
    """
    z = as_float_array(z, "z", ndim=(1, 2), shape_hint="(n_samples, n_labels)")
    targets = as_float_array(y, "y", dtype=z.dtype, ndim=z.ndim)
    check_shape(targets, "y", z.shape, "one target per logit")
    check_unit_interval(targets, "y", given=y)
    w, w_total = _weights(sample_weight, z.shape[0], z.dtype)
    grad = np.empty_like(z)
    rows = (z.shape[0], -1)
    loss = _loss.sigmoid_binary_cross_entropy(z.reshape(rows), targets.reshape(rows), w,
                                              w_total, grad.reshape(rows))
    return float(loss), grad


def multiclass_hinge(z, y, p=1, sample_weight=None):
    """Mean multi-class hinge loss (margin 1) and its gradient, in one fused pass.

    The loss of ``torch.nn.MultiMarginLoss(p=p)`` (Crammer-Singer's margin, summed
    over the wrong classes and divided by the number of classes k)::

        d[i, j] = 1 + z[i, j] - z[i, y_i]
        loss = sum_i c_i * (1/k) * sum_{j != y_i} max(0, d[i, j])**p
        grad[i, j] = c_i * (1/k) * p * max(0, d[i, j])**(p - 1)   (j != y_i, d[i, j] > 0)
        grad[i, y_i] = -sum_{j != y_i} grad[i, j]

    with ``c_i = 1/n`` (or ``w_i / sum(w)`` with ``sample_weight``) and every other
    entry of grad 0. p = 1 is the hinge, p = 2 the squared hinge. At a kink (d = 0
    exactly) the slope taken is 0, torch's choice of subgradient. d is formed in
    float64 as ``1 + (z[i, j] - z[i, y_i])``, so that large tied scores keep their
    margin (torch forms ``(1 - z[i, y_i]) + z[i, j]`` in z's dtype, which loses it
    once the scores dwarf 1: two tied float32 scores of 1e8 cost 0 there, 1/k
    here); otherwise the two agree to rounding. A NaN score makes the loss NaN.

    With two classes, ``f = z[:, 1] - z[:, 0]`` is a binary SVM's decision
    function: the row costs ``max(0, 1 - s f)**p / 2`` for s = +-1.

    Without weights the loss and gradient are torch's. torch's ``weight=`` is per
    class and scales each row by ``w[y_i]`` while still dividing by n; the row
    weights here give a weighted mean (divided by ``sum(w)``).

    Parameters
    ----------
    z : array_like, shape (n_samples, n_classes)
        Scores, float32 or float64.
    y : array_like, shape (n_samples,)
        Integer labels in [0, n_classes) (whole-number floats and booleans accepted).
    p : {1, 2}, default 1
        The power of each margin violation.
    sample_weight : array_like, shape (n_samples,), optional
        As in :func:`softmax_cross_entropy`.

    Returns
    -------
    loss : float
    grad : ndarray, shape (n_samples, n_classes), z's dtype (newly allocated)
    """
    z = as_float_array(z, "z", ndim=2, shape_hint="(n_samples, n_classes)")
    n, k = z.shape
    p = check_int(p, "p", 1, 2)
    w, w_total = _weights(sample_weight, n, z.dtype)
    labels = check_labels(y, "y", n, k, rows_of="the scores")
    grad = np.empty_like(z)
    loss = _loss.multiclass_hinge(z, labels, w, w_total, p, grad)
    return float(loss), grad


def mse(yhat, y, sample_weight=None):
    """Mean squared error over rows and its gradient.

    Convention: the squared error is summed over the outputs of a row and
    averaged over rows, ``loss = sum_i c_i * sum_j (yhat[i, j] - y[i, j])**2`` with
    ``c_i = 1/n`` (or ``w_i / sum(w)`` with ``sample_weight``: the weighted mean),
    so ``grad_i = 2 * c_i * (yhat_i - y_i)``. (PyTorch's ``MSELoss`` averages over
    all entries instead: it equals ``loss / n_outputs``.) A 1-D ``yhat`` is n rows
    of one output.

    Parameters
    ----------
    yhat : array_like, shape (n_samples, n_outputs) or (n_samples,)
        Predictions, float32 or float64.
    y : array_like, same shape as yhat
        Targets, in yhat's dtype (integers converted); finite (NaN or +-inf is a
        ValueError; yhat may hold anything, which follows IEEE arithmetic).
    sample_weight : array_like, shape (n_samples,), optional
        Non-negative, finite weights with a positive sum.

    Returns
    -------
    loss : float
    grad : ndarray of yhat's shape and dtype (newly allocated)
    """
    yhat = as_float_array(yhat, "yhat", ndim=(1, 2), shape_hint="(n_samples, n_outputs)")
    targets = as_float_array(y, "y", dtype=yhat.dtype, ndim=yhat.ndim)
    check_shape(targets, "y", yhat.shape, "targets must match the predictions")
    check_finite(targets, "y", given=y)
    y = targets
    w, w_total = _weights(sample_weight, yhat.shape[0], yhat.dtype)
    grad = np.empty_like(yhat)
    loss = _loss.mse(yhat.reshape(-1), y.reshape(-1), w, w_total, yhat.shape[0],
                     grad.reshape(-1))
    return float(loss), grad


def _elementwise(kernel, x, name, out):
    """Check an input of any shape (0-d included) and its output, and run kernel on flat views."""
    x = as_float_array(x, name)
    result = output_array(out, "out", x.shape, x.dtype, {name: x})
    kernel(x.reshape(-1), result.reshape(-1))
    return result if out is None else out


def tanh(x, out=None):
    """``out = tanh(x)``, element-wise; any shape, float32 or float64; ``out`` may be ``x``."""
    return _elementwise(_activations.tanh, x, "x", out)


def sigmoid(x, out=None):
    """``out = 1 / (1 + exp(-x))``, element-wise, evaluated without overflow.

    Finite and warning-free for any finite x (sigmoid(-1000) = 0, sigmoid(1000) = 1).
    Any shape, float32 or float64; ``out`` may be ``x``.
    """
    return _elementwise(_activations.sigmoid, x, "x", out)


def log_sigmoid(x, out=None):
    """``out = log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``, element-wise.

    Never the log of a rounded sigmoid: log_sigmoid(-200) is -200, not log(0).
    Any shape, float32 or float64; ``out`` may be ``x``.
    """
    return _elementwise(_activations.log_sigmoid, x, "x", out)


def relu(x, out=None):
    """``out = max(x, 0)``, element-wise (NaN stays NaN); ``out`` may be ``x``."""
    return _elementwise(_activations.relu, x, "x", out)


def tanh_derivative(t, out=None):
    """``1 - t**2``: the derivative of tanh at x, given ``t = tanh(x)``."""
    return _elementwise(_activations.tanh_derivative, t, "t", out)


def sigmoid_derivative(s, out=None):
    """``s * (1 - s)``: the derivative of sigmoid at x, given ``s = sigmoid(x)``."""
    return _elementwise(_activations.sigmoid_derivative, s, "s", out)


def relu_derivative(r, out=None):
    """``1[r > 0]`` (1.0 or 0.0): the derivative of relu at x, given ``r = relu(x)``.

    At x = 0 it takes the value 0, as PyTorch does.
    """
    return _elementwise(_activations.relu_derivative, r, "r", out)


def _backward(kernel, a, name, grad):
    """Check an activation's output ``a`` and the gradient it scales in place, and run kernel."""
    g = check_writable(grad, "grad")
    a = as_float_array(a, name, dtype=g.dtype)
    check_shape(a, name, g.shape, "it must match grad")
    check_no_partial_overlap(g, "grad", {name: a})
    kernel(a.reshape(-1), g.reshape(-1))
    return grad


def tanh_backward(t, grad):
    """``grad *= 1 - t**2`` in place: back through tanh, given ``t = tanh(x)``.

    ``grad`` must be a writeable, C-contiguous float32/float64 ndarray; ``t`` has
    its shape and dtype, and may be ``grad`` itself but must not overlap it
    otherwise. Returns ``grad``.
    """
    return _backward(_activations.tanh_backward, t, "t", grad)


def sigmoid_backward(s, grad):
    """``grad *= s * (1 - s)`` in place: back through sigmoid, given ``s = sigmoid(x)``.

    Requirements and return value as in :func:`tanh_backward`.
    """
    return _backward(_activations.sigmoid_backward, s, "s", grad)


def relu_backward(r, grad):
    """``grad *= 1[r > 0]`` in place: back through relu, given ``r = relu(x)``.

    Entries where r <= 0 are set to 0 (even if grad held NaN there, as in
    PyTorch). Requirements and return value as in :func:`tanh_backward`.
    """
    return _backward(_activations.relu_backward, r, "r", grad)


def _linear_args(x, W):
    check_blas_dims(x, "x")
    check_blas_dims(W, "W")
    x = as_float_array(x, "x", ndim=2, shape_hint="(n_samples, n_in)")
    W = as_float_array(W, "W", dtype=x.dtype, ndim=2, shape_hint="(n_out, n_in)")
    if W.shape[1] != x.shape[1]:
        raise ValueError(f"W must have shape (n_out, {x.shape[1]}) to match x's {x.shape[1]} "
                         f"features (W is stored (n_out, n_in), as in PyTorch); "
                         f"got {W.shape}")
    return x, W


def linear_forward(x, W, b, out=None):
    """Affine layer ``out = x @ W.T + b`` on BLAS (the bias add is fused into the GEMM).

    Parameters
    ----------
    x : array_like, shape (n_samples, n_in)
    W : array_like, shape (n_out, n_in), x's dtype (the layout of PyTorch's Linear)
    b : array_like, shape (n_out,), x's dtype
    out : ndarray, shape (n_samples, n_out), optional
        C-contiguous, x's dtype, sharing no memory with x, W or b (not in place).

    Returns
    -------
    ndarray, shape (n_samples, n_out)
    """
    x, W = _linear_args(x, W)
    b = as_float_array(b, "b", dtype=x.dtype, ndim=1, shape_hint="(n_out,)")
    check_shape(b, "b", (W.shape[0],), "one bias per row of W")
    result = output_array(out, "out", (x.shape[0], W.shape[0]), x.dtype,
                          {"x": x, "W": W, "b": b}, in_place_ok=False)
    _linear.linear_forward(x, W, b, result)
    return result if out is None else out


def linear_backward(x, W, grad_out):
    """Gradients of an affine layer ``out = x @ W.T + b`` given ``grad_out = dL/dout``.

    ``grad_x = grad_out @ W``, ``grad_W = grad_out.T @ x``, ``grad_b = grad_out.sum(0)``.

    Parameters
    ----------
    x : array_like, shape (n_samples, n_in)
    W : array_like, shape (n_out, n_in), x's dtype
    grad_out : array_like, shape (n_samples, n_out), x's dtype

    Returns
    -------
    grad_x : ndarray, shape (n_samples, n_in)
    grad_W : ndarray, shape (n_out, n_in)
    grad_b : ndarray, shape (n_out,)
        All newly allocated, in x's dtype.
    """
    x, W = _linear_args(x, W)
    grad_out = as_float_array(grad_out, "grad_out", dtype=x.dtype, ndim=2,
                              shape_hint="(n_samples, n_out)")
    check_shape(grad_out, "grad_out", (x.shape[0], W.shape[0]), "rows of x by rows of W")
    grad_x = np.empty_like(x)
    grad_W = np.empty_like(W)
    grad_b = np.empty(W.shape[0], dtype=x.dtype)
    _linear.linear_backward(x, W, grad_out, grad_x, grad_W, grad_b)
    return grad_x, grad_W, grad_b


def _param_and_grad(param, grad):
    """The parameter an optimizer writes and its gradient, checked (grad may be param)."""
    p = check_writable(param, "param")
    if p.size == 0:
        raise ValueError(f"param must not be empty; got shape {p.shape}")
    grad = as_float_array(grad, "grad", dtype=p.dtype)
    check_shape(grad, "grad", p.shape, "it must match param")
    check_no_partial_overlap(p, "param", {"grad": grad})
    return p, grad


def _state(p, grad, buffers):
    """Flat views of an optimizer's state buffers, given as (name, array, when) with
    ``when`` the condition that requires it: each writeable, C-contiguous, of param's
    shape and dtype, sharing no memory with param, grad or another buffer."""
    checked = {}
    for name, buf, when in buffers:
        if buf is None:
            raise ValueError(f"{name} is required{when}: pass np.zeros({p.shape}, "
                             f"dtype=np.{p.dtype.name}) and keep it between steps")
        b = check_writable(buf, name, p.shape, p.dtype)
        check_no_overlap(b, name, {"param": p, "grad": grad, **checked})
        checked[name] = b
    return [b.reshape(-1) for b in checked.values()]


def sgd_update(param, grad, lr, momentum=0.0, velocity=None, nesterov=False, weight_decay=0.0,
               dampening=0.0, first_step=False, lr_in_velocity=False):
    """One in-place SGD step with the semantics of ``torch.optim.SGD``, or of
    scikit-learn's ``SGDOptimizer`` with ``lr_in_velocity``.

    ::

        g = grad + weight_decay * param
        velocity = g                                    (first_step, if momentum != 0)
        velocity = momentum * velocity + (1 - dampening) * g     (otherwise)
        g = g + momentum * velocity if nesterov else velocity    (if momentum != 0)
        param -= lr * g

    and with ``lr_in_velocity`` (scikit-learn's rule: the velocity holds steps, lr
    included, from zeros; ``first_step`` is ignored, dampening must be 0)::

        g = grad + weight_decay * param
        velocity = momentum * velocity - lr * g                  (if momentum != 0)
        param += momentum * velocity - lr * g if nesterov else velocity

    One pass, no temporaries. torch's momentum buffer starts as the first
    gradient, undamped: pass ``first_step=True`` on the first step (velocity's
    contents are then ignored), or start ``velocity`` at zeros, which gives the
    same first step when dampening is 0.

    Parameters
    ----------
    param : ndarray
        Writeable, C-contiguous float32/float64 array of any shape (0-d
        included), updated in place.
    grad : array_like
        The gradient, param's shape and dtype. May be ``param`` itself, but must
        not overlap it otherwise.
    lr : float
        Learning rate, > 0.
    momentum : float, default 0
        >= 0. When non-zero, ``velocity`` is required.
    velocity : ndarray, optional
        Writeable, C-contiguous, param's shape and dtype, sharing no memory with
        param or grad; updated in place.
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening 0).
    weight_decay : float, default 0
        L2 penalty coefficient, >= 0.
    dampening : float, default 0
        In [0, 1]: the new gradient enters the velocity with weight 1 - dampening
        (from the second step on, as in torch).
    first_step : bool, default False
        This is the first step: velocity := g (torch's rule only).
    lr_in_velocity : bool, default False
        scikit-learn's rule. The two rules agree while lr stays the same, and differ
        once it changes between steps (a schedule): torch's velocity meets the new
        lr, scikit-learn's keeps past steps at the lr they were taken with.

    lr, momentum, weight_decay and dampening are real numbers, finite in
    param's dtype (a non-zero one must not round to 0 there).

    Returns
    -------
    param
    """
    p, grad = _param_and_grad(param, grad)
    lr, momentum, nesterov, weight_decay = check_sgd_settings(lr, momentum, nesterov,
                                                              weight_decay, p.dtype)
    lr_in_velocity = check_bool(lr_in_velocity, "lr_in_velocity")
    dampening = check_dampening(dampening, nesterov, p.dtype, lr_in_velocity)
    first_step = check_bool(first_step, "first_step")
    if momentum != 0:
        [v] = _state(p, grad, [("velocity", velocity, " when momentum != 0")])
    else:
        v = np.empty(0, dtype=p.dtype)
    _optim.sgd_update(p.reshape(-1), grad.reshape(-1), v, lr=lr, momentum=momentum,
                      dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                      first_step=first_step, lr_in_velocity=lr_in_velocity)
    return param


def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, amsgrad=False, max_exp_avg_sq=None,
                decoupled_weight_decay=False, eps_before_correction=False):
    """One in-place Adam (or AdamW) step with the semantics of ``torch.optim.Adam``
    (``torch.optim.AdamW`` with ``decoupled_weight_decay``).

    With t = ``step``, beta1, beta2 = ``betas``::

        param *= 1 - lr * weight_decay                  (decoupled_weight_decay)
        g = grad + weight_decay * param                 (otherwise)
        exp_avg += (1 - beta1) * (g - exp_avg)
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)     (amsgrad; used below)
        param -= lr / (1 - beta1**t) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2**t) + eps)

    With ``eps_before_correction``, the last line is scikit-learn's
    (``MLPClassifier(solver="adam")``)::

        param -= lr * sqrt(1 - beta2**t) / (1 - beta1**t) * exp_avg / (sqrt(exp_avg_sq) + eps)

    The arithmetic follows torch's order (scikit-learn's with
    ``eps_before_correction``), in param's dtype with the scalars rounded to it,
    except in the last line: torch's is computed as scikit-learn's, with
    ``eps * sqrt(1 - beta2**t)`` for eps (the same value multiplied through by
    sqrt(1 - beta2**t), with one division per entry instead of two), so that
    trajectories agree to a rounding or two per step. One deviation: where the
    denominator is 0 (eps = 0 and a second moment of 0, e.g. zero or underflowing
    gradients), the entry is left unchanged (after AdamW's decay) instead of
    becoming NaN or +-inf. In float32 a gradient beyond about 1.8e19 overflows
    its square: that entry's second moment becomes inf and it stops moving (as
    in torch).

    Parameters
    ----------
    param : ndarray
        Writeable, C-contiguous float32/float64 array of any shape (0-d
        included), updated in place.
    grad : array_like
        The gradient, param's shape and dtype. May be ``param`` itself, but must
        not overlap it otherwise.
    exp_avg, exp_avg_sq : ndarray
        The first and second moments: writeable, C-contiguous, param's shape and
        dtype, sharing no memory with param, grad or each other; start them at
        zeros and keep them between steps. Updated in place.
    step : int
        This update's number t, >= 1 (1 on the first step).
    lr : float, default 1e-3
        Learning rate, > 0.
    betas : (float, float), default (0.9, 0.999)
        The moments' decay rates, each in [0, 1).
    eps : float, default 1e-8
        >= 0, added to the denominator.
    weight_decay : float, default 0
        >= 0: Adam's L2 term, or AdamW's decoupled decay.
    amsgrad : bool, default False
        Divide by the largest second moment so far; needs ``max_exp_avg_sq``.
    max_exp_avg_sq : ndarray, optional
        As exp_avg (and sharing no memory with it); updated in place.
    decoupled_weight_decay : bool, default False
        AdamW: decay param by lr * weight_decay instead of adding the L2 term.
    eps_before_correction : bool, default False
        scikit-learn's placement of eps (see above).

    The real settings must be finite in param's dtype (a non-zero one must not
    round to 0 there).

    Returns
    -------
    param
    """
    p, grad = _param_and_grad(param, grad)
    lr, (beta1, beta2), eps, weight_decay, amsgrad = check_adam_settings(
        lr, betas, eps, weight_decay, amsgrad, p.dtype)
    decoupled = check_bool(decoupled_weight_decay, "decoupled_weight_decay")
    eps_before_correction = check_bool(eps_before_correction, "eps_before_correction")
    step = check_int(step, "step", 1, sys.maxsize)
    buffers = [("exp_avg", exp_avg, ""), ("exp_avg_sq", exp_avg_sq, "")]
    if amsgrad:
        buffers.append(("max_exp_avg_sq", max_exp_avg_sq, " when amsgrad=True"))
    m, v, *v_max = _state(p, grad, buffers)
    _optim.adam_update(p.reshape(-1), grad.reshape(-1), m, v,
                       v_max[0] if amsgrad else np.empty(0, dtype=p.dtype),
                       lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                       weight_decay=0.0 if decoupled else weight_decay,
                       decoupled_decay=weight_decay if decoupled else 0.0, amsgrad=amsgrad,
                       eps_before_correction=eps_before_correction, step=step)
    return param
