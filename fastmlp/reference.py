"""Every fastmlp kernel in plain NumPy, written to read like the math.

This module is the oracle the tests compare the Cython kernels against, and the
baseline the benchmarks time them against. Each function has the name and
signature of its kernel in ``fastmlp.kernels``; it does not validate its
arguments the way the kernels do.

The second half is the course's two-layer network written out by hand:
``init_params``, ``forward``, ``loss_accuracy``, ``backward`` and ``sgd``; then a
network of any depth built from the kernels above, with ``fastmlp.MLP``'s layout and
optimizers: ``mlp_forward``, ``mlp_backward`` and ``mlp_step``.

Like the kernels, integer (and boolean) input computes in float64.

Notation: z are logits (n, k), Y one-hot or probability rows (n, k), x inputs
(n, n_in), W weights (n_out, n_in), b biases (n_out,).
"""
import functools
import math

import numpy as np


def _real(x):
    """x as an array that computes as the kernels do: float32 and float64 in their own
    dtype, integers and booleans in float64 (never an integer result)."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _result(value, out):
    if out is None:
        return value
    out[...] = value
    return out


# --- softmax ---------------------------------------------------------------

def softmax(z, out=None):
    """softmax(z)_ij = exp(z_ij - m_i) / sum_l exp(z_il - m_i),  m_i = max_l z_il"""
    z = _real(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return _result(e / e.sum(axis=-1, keepdims=True), out)


def log_softmax(z, out=None):
    """log_softmax(z)_ij = z_ij - m_i - log sum_l exp(z_il - m_i)"""
    z = _real(z)
    shifted = z - z.max(axis=-1, keepdims=True)
    return _result(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)), out)


# --- losses ----------------------------------------------------------------

def _targets(y, n_classes, dtype):
    """Labels (n,) become one-hot rows (n, k); target rows pass through."""
    y = np.asarray(y)
    if y.ndim == 1:
        return np.eye(n_classes, dtype=dtype)[y.astype(np.intp)]
    return y.astype(dtype)


def _row_weights(sample_weight, n):
    """c_i = 1/n, or w_i / sum(w) given sample weights (divided by max(w) first, so that
    a sum of huge weights cannot overflow)."""
    if sample_weight is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(sample_weight, dtype=np.float64)
    return (w / w.max()) / np.sum(w / w.max())


def softmax_cross_entropy(z, y, sample_weight=None, label_smoothing=0.0):
    """L = sum_i c_i * (-sum_j T_ij log softmax(z_i)_j),  dL/dz_i = c_i (softmax(z_i) - T_i)

    with the smoothed targets T = (1 - eps) Y + eps / k (eps = ``label_smoothing``)
    and c_i as in ``_row_weights``.
    """
    z = _real(z)
    n, k = z.shape
    Y = _targets(y, k, z.dtype)
    if label_smoothing != 0:
        Y = (1 - label_smoothing) * Y + label_smoothing / k
    c = _row_weights(sample_weight, n)
    # Y * log_softmax with Y = 0 terms left out, so -inf logits never meet 0 * inf.
    log_p = log_softmax(z)
    per_row = -np.where(Y != 0, Y * log_p, 0).sum(axis=1)
    loss = np.sum(c * per_row, where=c != 0)
    grad = (c[:, None] * (softmax(z) - Y)).astype(z.dtype)
    return float(loss), grad


def sigmoid_binary_cross_entropy(z, y, sample_weight=None):
    """L = sum_i c_i sum_j -(Y_ij log sigmoid(z_ij) + (1 - Y_ij) log(1 - sigmoid(z_ij))),
    dL/dz_i = c_i (sigmoid(z_i) - Y_i), with c_i as in ``_row_weights``;
    log(1 - sigmoid(z)) = log_sigmoid(-z), and a zero coefficient's term is left out."""
    z = _real(z)
    Y = np.asarray(y, dtype=z.dtype)
    rows = (z.shape[0], -1)
    c = _row_weights(sample_weight, z.shape[0])
    per_label = -(np.where(Y != 0, Y * log_sigmoid(z), 0)
                  + np.where(Y != 1, (1 - Y) * log_sigmoid(-z), 0))
    per_row = per_label.reshape(rows).sum(axis=1)
    loss = np.sum(c * per_row, where=c != 0)
    grad = (c[:, None] * (sigmoid(z) - Y).reshape(rows)).reshape(z.shape).astype(z.dtype)
    return float(loss), grad


def multiclass_hinge(z, y, p=1, sample_weight=None):
    """L = sum_i c_i (1/k) sum_{j != y_i} max(0, d_ij)^p,   d_ij = 1 + z_ij - z_iy_i
    dL/dz_ij = c_i (1/k) p d_ij^(p-1) where j != y_i and d_ij > 0 (else 0),
    dL/dz_iy_i = -sum_{j != y_i} dL/dz_ij

    torch.nn.MultiMarginLoss(p=p) (margin 1), with c_i as in ``_row_weights``. A
    margin of exactly 0 (the kink) counts as inactive, slope 0, as in torch. d is
    computed in float64, as the kernel does.
    """
    z = _real(z)
    n, k = z.shape
    rows, labels = np.arange(n), np.asarray(y).astype(np.intp)
    c = _row_weights(sample_weight, n)
    z64 = z.astype(np.float64)
    d = 1 + (z64 - z64[rows, labels][:, None])
    active = ~(d <= 0)  # NaN counts as active, so that it reaches the loss
    active[rows, labels] = False
    h = np.where(active, d, 0)
    per_row = (h ** p).sum(axis=1) / k
    loss = np.sum(c * per_row, where=c != 0)
    grad = np.where(active, p * h ** (p - 1), 0) * (c / k)[:, None]
    grad[rows, labels] = -grad.sum(axis=1)
    return float(loss), grad.astype(z.dtype)


def mse(yhat, y, sample_weight=None):
    """L = sum_i c_i sum_j (yhat_ij - y_ij)^2,  dL/dyhat_i = 2 c_i (yhat_i - y_i)

    with c_i as in ``_row_weights`` (1/n without weights)."""
    yhat = _real(yhat)
    diff = yhat - np.asarray(y, dtype=yhat.dtype)
    c = _row_weights(sample_weight, yhat.shape[0]).reshape((-1,) + (1,) * (yhat.ndim - 1))
    return float(np.sum(c * diff ** 2)), (2 * c * diff).astype(yhat.dtype)


# --- activations -----------------------------------------------------------

def tanh(x, out=None):
    """tanh(x)"""
    return _result(np.tanh(_real(x)), out)


def sigmoid(x, out=None):
    """sigma(x) = 1 / (1 + exp(-x)), written as exp(-|x|) terms so it never overflows"""
    x = _real(x)
    e = np.exp(-np.abs(x))
    return _result(np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype), out)


def log_sigmoid(x, out=None):
    """log sigma(x) = min(x, 0) - log(1 + exp(-|x|))"""
    x = _real(x)
    return _result(np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))), out)


def relu(x, out=None):
    """relu(x) = max(x, 0)"""
    return _result(np.maximum(_real(x), 0), out)


def tanh_derivative(t, out=None):
    """tanh'(x) = 1 - tanh(x)^2 = 1 - t^2"""
    t = _real(t)
    return _result(1 - t ** 2, out)


def sigmoid_derivative(s, out=None):
    """sigma'(x) = sigma(x) (1 - sigma(x)) = s (1 - s)"""
    s = _real(s)
    return _result(s * (1 - s), out)


def relu_derivative(r, out=None):
    """relu'(x) = 1 if x > 0 else 0  (r > 0 exactly when x > 0)"""
    r = _real(r)
    return _result((r > 0).astype(r.dtype), out)


def tanh_backward(t, grad):
    """dL/dx = dL/dt * (1 - t^2), in place"""
    grad *= tanh_derivative(t)
    return grad


def sigmoid_backward(s, grad):
    """dL/dx = dL/ds * s (1 - s), in place"""
    grad *= sigmoid_derivative(s)
    return grad


def relu_backward(r, grad):
    """dL/dx = dL/dr where r > 0, else 0, in place"""
    grad[...] = np.where(np.asarray(r) > 0, grad, 0)
    return grad


# --- affine layers ---------------------------------------------------------

def linear_forward(x, W, b, out=None):
    """out = x W^T + b"""
    return _result(_real(x) @ np.asarray(W).T + b, out)


def linear_backward(x, W, grad_out):
    """dL/dx = grad_out W,  dL/dW = grad_out^T x,  dL/db = sum_i grad_out_i"""
    grad_out = _real(grad_out)
    return grad_out @ W, grad_out.T @ x, grad_out.sum(axis=0)


# --- optimizers -------------------------------------------------------------
# In the order of operations of kernels/optim_ops.pxd (torch's, or scikit-learn's
# with eps_before_correction); Python floats take the arrays' dtype, as there.

def sgd_update(param, grad, lr, momentum=0.0, velocity=None, nesterov=False, weight_decay=0.0,
               dampening=0.0, first_step=False, lr_in_velocity=False):
    """torch.optim.SGD:  g = grad + wd * param;  v = g (first step) or mu v + (1 - d) g;
    g = g + mu v (Nesterov) or v;  param -= lr g.
    scikit-learn's SGDOptimizer with lr_in_velocity (v starts at 0, d = 0):
    v = mu v - lr g;  param += mu v - lr g (Nesterov) or v  (all in place)"""
    g = grad + weight_decay * param if weight_decay != 0 else grad
    if momentum != 0 and lr_in_velocity:
        velocity[...] = momentum * velocity - lr * g
        param += momentum * velocity - lr * g if nesterov else velocity
        return param
    if momentum != 0:
        if first_step:
            velocity[...] = g
        else:
            velocity[...] = momentum * velocity + (1 - dampening) * g
        g = g + momentum * velocity if nesterov else velocity
    param -= lr * g
    return param


def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, amsgrad=False, max_exp_avg_sq=None,
                decoupled_weight_decay=False, eps_before_correction=False):
    """torch.optim.Adam (AdamW with decoupled_weight_decay) at step t = ``step``:
    m = lerp(m, g, 1 - b1);  v = b2 v + (1 - b2) g^2;
    param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps);
    scikit-learn's eps placement with eps_before_correction:
    param -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)  (all in place).

    Both are computed in the second form, torch's with eps * sqrt(1 - b2^t) for
    eps (its line multiplied through by sqrt(1 - b2^t): one division per entry).
    An entry whose denominator is 0 keeps its value."""
    beta1, beta2 = betas
    if decoupled_weight_decay:
        param *= 1 - lr * weight_decay
        g = grad
    else:
        g = grad + weight_decay * param if weight_decay != 0 else grad
    weight = param.dtype.type(1 - beta1)
    if eps_before_correction:
        exp_avg[...] = beta1 * exp_avg + weight * g
        exp_avg_sq[...] = beta2 * exp_avg_sq + (1 - beta2) * (g * g)
    else:
        # torch's lerp, which for weight >= 0.5 interpolates from g's end
        if weight < 0.5:
            exp_avg[...] = exp_avg + weight * (g - exp_avg)
        else:
            exp_avg[...] = g - (g - exp_avg) * (1 - weight)
        exp_avg_sq[...] = beta2 * exp_avg_sq + (1 - beta2) * g * g
    v = exp_avg_sq
    if amsgrad:
        max_exp_avg_sq[...] = np.where(max_exp_avg_sq > exp_avg_sq, max_exp_avg_sq, exp_avg_sq)
        v = max_exp_avg_sq
    step_size = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
    denom = np.sqrt(v) + (eps if eps_before_correction else eps * math.sqrt(1 - beta2**step))
    with np.errstate(divide="ignore", invalid="ignore"):
        param[...] = np.where(denom != 0, param + -step_size * exp_avg / denom, param)
    return param


# --- the course's two-layer network ------------------------------------------
#   h~ = X Wh^T + bh,  h = tanh(h~),  y~ = h Wy^T + by,  Yhat = softmax(y~)

def init_params(nx, nh, ny, seed=None):
    """Weights drawn from N(0, 0.3^2), biases too: Wh (nh, nx), bh (nh,), Wy (ny, nh), by (ny,)."""
    rng = np.random.default_rng(seed)
    return {
        "Wh": rng.normal(0, 0.3, (nh, nx)), "bh": rng.normal(0, 0.3, nh),
        "Wy": rng.normal(0, 0.3, (ny, nh)), "by": rng.normal(0, 0.3, ny),
    }


def forward(params, X):
    """Return Yhat and the intermediate steps {"X", "htilde", "h", "ytilde", "yhat"}."""
    outputs = {"X": X}
    outputs["htilde"] = linear_forward(X, params["Wh"], params["bh"])
    outputs["h"] = tanh(outputs["htilde"])
    outputs["ytilde"] = linear_forward(outputs["h"], params["Wy"], params["by"])
    outputs["yhat"] = softmax(outputs["ytilde"])
    return outputs["yhat"], outputs


def loss_accuracy(Yhat, Y):
    """L = -(1/n) sum_i sum_j Y_ij log Yhat_ij, and the fraction of argmax Yhat == argmax Y.

    Y is one-hot rows (n, k) or labels (n,).
    """
    Y = _targets(Y, Yhat.shape[1], Yhat.dtype)
    log_yhat = np.log(Yhat, where=Y != 0, out=np.zeros_like(Yhat))
    L = -np.sum(Y * log_yhat) / Yhat.shape[0]
    acc = np.mean(np.argmax(Yhat, axis=1) == np.argmax(Y, axis=1))
    return float(L), float(acc)


def backward(params, outputs, Y):
    """Gradients of the mean cross-entropy, written out layer by layer:

    dL/dy~ = (Yhat - Y) / n
    dL/dWy = (dL/dy~)^T h,          dL/dby = sum_i dL/dy~_i
    dL/dh~ = (dL/dy~ Wy) * (1 - h^2)
    dL/dWh = (dL/dh~)^T X,          dL/dbh = sum_i dL/dh~_i
    """
    Yhat, h = outputs["yhat"], outputs["h"]
    Y = _targets(Y, Yhat.shape[1], Yhat.dtype)
    d_ytilde = (Yhat - Y) / Yhat.shape[0]
    d_h, grad_Wy, grad_by = linear_backward(h, params["Wy"], d_ytilde)
    d_htilde = tanh_backward(h, d_h)
    _, grad_Wh, grad_bh = linear_backward(outputs["X"], params["Wh"], d_htilde)
    return {"Wy": grad_Wy, "by": grad_by, "Wh": grad_Wh, "bh": grad_bh}


def sgd(params, grads, eta):
    """theta <- theta - eta * dL/dtheta for every parameter; returns the updated params."""
    return {name: params[name] - eta * grads[name] for name in params}


# --- a network of any depth --------------------------------------------------
#   Layers l = 1..L, with a_0 = X:
#     z_l = a_{l-1} W_l^T + b_l,   a_l = f(z_l) for l < L,   output z_L (no activation)
#   f is tanh, sigmoid, relu or the identity. The output z_L is the logits
#   (cross-entropy, whose softmax is part of the loss; binary cross-entropy, whose
#   sigmoid is), the class scores (hinge) or the predictions (MSE). In the code the
#   layers are numbered from 0: weights[l] is W_{l+1}, of shape (n_out, n_in), as in
#   fastmlp.MLP.

def _identity(x):
    """f(x) = x"""
    return x


def _identity_backward(a, grad):
    """dL/dx = dL/da: f'(x) = 1"""
    return grad


_ACTIVATIONS = {"tanh": (tanh, tanh_backward), "sigmoid": (sigmoid, sigmoid_backward),
                "relu": (relu, relu_backward), "identity": (_identity, _identity_backward)}
_LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mse,
           "binary_cross_entropy": sigmoid_binary_cross_entropy,
           "hinge": functools.partial(multiclass_hinge, p=1),
           "squared_hinge": functools.partial(multiclass_hinge, p=2)}


def mlp_forward(weights, biases, X, activation="tanh", loss="cross_entropy", masks=None):
    """Every layer's output, from the first hidden layer to the network's output:

        a_l = f(a_{l-1} W_l^T + b_l) * m_l  for the hidden layers (a_0 = X),
        z_L = a_{L-1} W_L^T + b_L           for the last one, returned raw.

    m_l is hidden layer l's dropout mask, ``masks[l]`` (entries 0 or 1 / (1 - rate):
    inverted dropout), or 1 when ``masks`` or ``masks[l]`` is None.

    ``loss`` does not change the result (every loss reads the raw last layer); it is
    accepted so that the three ``mlp_*`` functions take the same arguments.

    Returns a list [a_1, ..., a_{L-1}, z_L], one array per layer (after dropout).
    """
    f, _ = _ACTIVATIONS[activation]
    outputs = []
    a = X
    for l, (W, b) in enumerate(zip(weights, biases)):
        a = linear_forward(a, W, b)
        if l < len(weights) - 1:
            a = f(a)
            if masks is not None and masks[l] is not None:
                a = a * masks[l]
        outputs.append(a)
    return outputs


def mlp_backward(weights, biases, X, y, activation="tanh", loss="cross_entropy",
                 label_smoothing=0.0, sample_weight=None, masks=None):
    """The mean loss on (X, y) and its gradients, by backpropagation.

    The loss of n rows is their mean (with ``sample_weight``, the weighted mean: 1/n
    below becomes w_i / sum(w)):

        cross-entropy:  L = -(1/n) sum_i sum_j T_ij log softmax(z_L,i)_j
                        (T = (1 - eps) Y + eps / k, Y one-hot from labels (n,), eps =
                        ``label_smoothing``)
        binary:         L = -(1/n) sum_i sum_j (Y_ij log s_ij + (1 - Y_ij) log(1 - s_ij)),
                        s = sigmoid(z_L)
        MSE:            L = (1/n) sum_i sum_j (z_L,ij - Y_ij)^2
        hinge:          L = (1/n) sum_i (1/k) sum_{j != y_i} max(0, 1 + z_L,ij - z_L,iy_i)^p,
                        p = 1 ("hinge") or 2 ("squared_hinge")

    Going back from delta_L = dL/dz_L = (softmax(z_L) - T) / n, (s - Y) / n,
    2 (z_L - Y) / n or the hinge's (``multiclass_hinge``):

        dL/dW_l = delta_l^T a_{l-1},    dL/db_l = sum_i delta_l,i
        delta_{l-1} = (delta_l W_l) * m_{l-1} * f'(z_{l-1})

    where f'(z) is read from a = f(z): 1 - a^2 (tanh), a (1 - a) (sigmoid), [a > 0] (relu),
    1 (identity), and m_{l-1} is the dropout mask of ``mlp_forward`` (1 without one).

    Returns
    -------
    (loss, grads_W, grads_b): the loss (a float) and lists of dL/dW_l and dL/db_l,
    shaped like ``weights`` and ``biases``.
    """
    f, f_backward = _ACTIVATIONS[activation]
    outputs = mlp_forward(weights, biases, X, activation, loss, masks)
    inputs = [X] + outputs[:-1]  # a_{l-1} * m_{l-1}: what layer l reads
    smoothing = {"label_smoothing": label_smoothing} if loss == "cross_entropy" else {}
    value, delta = _LOSSES[loss](outputs[-1], y, sample_weight=sample_weight, **smoothing)
    grads_W, grads_b = [None] * len(weights), [None] * len(weights)
    for l in reversed(range(len(weights))):
        d_input, grads_W[l], grads_b[l] = linear_backward(inputs[l], weights[l], delta)
        if l > 0:
            mask = masks[l - 1] if masks is not None else None
            if mask is not None:
                # f' reads the undropped a = f(z), recomputed here from layer l - 1.
                a = f(linear_forward(inputs[l - 1], weights[l - 1], biases[l - 1]))
                delta = f_backward(a, d_input * mask)
            else:
                delta = f_backward(inputs[l], d_input)
    return value, grads_W, grads_b


def clip_grad_value(grads, clip_value):
    """g := min(max(g, -clip_value), clip_value) for every gradient array, in place
    (torch.nn.utils.clip_grad_value_)."""
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)


def clip_grad_norm(grads, max_norm):
    """g := g * min(1, max_norm / (||g||_2 + 1e-6)) for every gradient array, in place,
    ||g||_2 being the norm of all of them together (torch.nn.utils.clip_grad_norm_);
    returns that norm."""
    norm = float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads)))
    coef = max_norm / (norm + 1e-6)
    if coef < 1:
        for g in grads:
            g *= g.dtype.type(coef)
    return norm


def mlp_step(weights, biases, X, y, optimizer, state, activation="tanh",
             loss="cross_entropy", label_smoothing=0.0, sample_weight=None, masks=None,
             clip_value=None, max_norm=None):
    """One training step on the batch (X, y): updates ``weights`` and ``biases`` in place
    and returns the loss before the step.

    With the gradients of ``mlp_backward`` (``sample_weight`` and dropout ``masks``
    as there), and scikit-learn's L2 penalty (l2 / 2s) sum ||W_l||^2 on the weights
    only, s the batch's rows n or, with weights, their sum:

        g(W_l) = dL/dW_l + (l2 / s) W_l,    g(b_l) = dL/db_l

    clipped, when asked, first by value (``clip_grad_value(g, clip_value)``), then by
    the norm of all of g together (``clip_grad_norm(g, max_norm)``), each parameter takes one update of
    ``optimizer.rule``: ``sgd_update`` ("sgd") or ``adam_update`` ("adam"), with the
    optimizer's settings.

    Parameters
    ----------
    optimizer : fastmlp.optim.SGD, Adam or AdamW
        Read for its attributes ``rule``, ``lr``, ``l2`` and its rule's settings.
    state : dict
        The optimizer's state, kept by the caller between steps; start with ``{}``.
        This function keeps in it the number of steps taken, ``state["step"]``, and
        each parameter's buffers, named as in ``torch.optim``: ``state["W", l]`` and
        ``state["b", l]`` are dicts with "momentum_buffer" (SGD with momentum), or
        "exp_avg", "exp_avg_sq" and, with amsgrad, "max_exp_avg_sq" (Adam).
    """
    value, grads_W, grads_b = mlp_backward(weights, biases, X, y, activation, loss,
                                           label_smoothing, sample_weight, masks)
    state["step"] = state.get("step", 0) + 1
    s = len(X) if sample_weight is None else np.sum(sample_weight, dtype=np.float64)
    grads_W = [g + weights[l].dtype.type(optimizer.l2 / s) * weights[l]
               for l, g in enumerate(grads_W)]
    grads = grads_W + grads_b
    if clip_value is not None:
        clip_grad_value(grads, clip_value)
    if max_norm is not None:
        clip_grad_norm(grads, max_norm)
    for l in range(len(weights)):
        for name, param, grad in (("W", weights[l], grads_W[l]), ("b", biases[l], grads_b[l])):
            buffers = state.setdefault((name, l), {})
            if optimizer.rule == "sgd":
                _sgd_step(param, grad, optimizer, buffers)
            else:
                _adam_step(param, grad, optimizer, buffers, state["step"])
    return value


def _sgd_step(param, grad, optimizer, buffers):
    """sgd_update with the optimizer's settings; torch starts the momentum buffer at the
    first gradient (first_step), scikit-learn's (lr_in_velocity) at zero."""
    velocity, first_step = None, False
    if optimizer.momentum != 0:
        first_step = "momentum_buffer" not in buffers
        if first_step:
            buffers["momentum_buffer"] = np.zeros_like(param)
        velocity = buffers["momentum_buffer"]
    sgd_update(param, grad, optimizer.lr, momentum=optimizer.momentum, velocity=velocity,
               nesterov=optimizer.nesterov, weight_decay=optimizer.weight_decay,
               dampening=optimizer.dampening, first_step=first_step,
               lr_in_velocity=optimizer.lr_in_velocity)


def _adam_step(param, grad, optimizer, buffers, step):
    """adam_update with the optimizer's settings; the moments start at zero."""
    if not buffers:
        names = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if optimizer.amsgrad else [])
        buffers.update((name, np.zeros_like(param)) for name in names)
    adam_update(param, grad, buffers["exp_avg"], buffers["exp_avg_sq"], step,
                lr=optimizer.lr, betas=optimizer.betas, eps=optimizer.eps,
                weight_decay=optimizer.weight_decay, amsgrad=optimizer.amsgrad,
                max_exp_avg_sq=buffers.get("max_exp_avg_sq"),
                decoupled_weight_decay=optimizer.decoupled_weight_decay,
                eps_before_correction=optimizer.eps_before_correction)
