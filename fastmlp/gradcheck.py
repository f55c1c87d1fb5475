"""Check gradients by central finite differences.

``numerical_gradient(f, x)`` perturbs one entry of x at a time:

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

with an error of order eps^2 (plus rounding of order |f| * machine_eps / eps), so
work in float64. ``gradcheck`` compares an analytic gradient with it.
"""
import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        Takes an array shaped like ``x`` and returns a real number.
    x : array_like of float
        The point; it is copied, never modified.
    eps : float
        The step.

    Returns
    -------
    ndarray shaped like x, float64.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        f_plus = float(f(x))
        flat[i] = orig - eps
        f_minus = float(f(x))
        flat[i] = orig
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric, floor=1e-8):
    """Largest ``|a - n| / max(|a|, |n|, floor)`` over the entries.

    The floor keeps entries that are both (near) zero from dividing rounding noise by zero.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic gradient has shape {a.shape} but the numeric one has {n.shape}")
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    return float(np.max(np.abs(a - n) / scale))


def gradcheck(f, x, analytic_grad, eps=1e-6, floor=1e-8):
    """Compare ``analytic_grad`` with the central-difference gradient of ``f`` at ``x``.

    Returns
    -------
    numeric : ndarray
        The finite-difference gradient.
    max_rel_error : float
        ``relative_error(analytic_grad, numeric, floor)``. Around 1e-7 or less means
        agreement in float64; above 1e-4 usually means a wrong gradient.
    """
    numeric = numerical_gradient(f, x, eps)
    return numeric, relative_error(analytic_grad, numeric, floor)


def vjp_check(f, x, cotangent, analytic_vjp, eps=1e-6, floor=1e-8):
    """Gradient check for an array-valued ``f``: checks ``d(sum(cotangent * f(x)))/dx``.

    A random ``cotangent`` turns the Jacobian check into one scalar check per
    direction; ``analytic_vjp`` is the backward pass applied to ``cotangent``.
    """
    cotangent = np.asarray(cotangent, dtype=np.float64)
    return gradcheck(lambda v: np.sum(cotangent * f(v)), x, analytic_vjp, eps, floor)


def gradient_costs(n_layers=(1, 2, 4, 8), width=16, n_inputs=2, n_classes=2, n_samples=64,
                   seed=0, repeats=5):
    """Time the full gradient of a float64 tanh network's loss by backpropagation and by
    central differences, for each number of affine layers.

    Network of ``L`` layers: sizes ``[n_inputs] + [width] * (L - 1) + [n_classes]``,
    cross-entropy on ``n_samples`` random rows. Backpropagation (``MLP.gradients``)
    costs about one forward and one backward pass, O(P) for P parameters; central
    differences (:func:`numerical_gradient` over every parameter) cost 2P forward
    passes, O(P^2).

    Returns
    -------
    list of dict, one per entry of ``n_layers``, with ``n_layers``, ``n_params``,
    ``backprop_seconds`` (the fastest of ``repeats`` runs), ``numerical_seconds`` (one
    run) and ``max_rel_error`` (:func:`relative_error` of the two gradients).
    """
    import time

    from .model import MLP

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_inputs))
    y = rng.integers(0, n_classes, n_samples)
    costs = []
    for L in n_layers:
        model = MLP([n_inputs] + [width] * (L - 1) + [n_classes], dtype=np.float64,
                    seed=seed)
        shapes = [a.shape for layer in zip(model.weights, model.biases) for a in layer]
        theta = np.concatenate([a.ravel() for layer in zip(model.weights, model.biases)
                                for a in layer])

        def loss(theta):
            start = 0
            for l in range(model.n_layers):
                for params, shape in ((model.weights, shapes[2 * l]),
                                      (model.biases, shapes[2 * l + 1])):
                    size = int(np.prod(shape))
                    params[l] = theta[start:start + size].reshape(shape)
                    start += size
            return model.loss(X, y)

        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            grads = model.gradients(X, y)
            seconds.append(time.perf_counter() - start)
        analytic = np.concatenate([g.ravel() for layer in grads for g in layer])
        start = time.perf_counter()
        numeric = numerical_gradient(loss, theta)
        numerical_seconds = time.perf_counter() - start
        costs.append({"n_layers": L, "n_params": theta.size,
                      "backprop_seconds": min(seconds), "numerical_seconds": numerical_seconds,
                      "max_rel_error": relative_error(analytic, numeric)})
    return costs
