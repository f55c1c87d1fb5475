# cython: language_level=3
"""The optimizers' update rules, in place, one pass over parameter, gradient and state.

Each worker updates n entries of ``param`` from its gradient and the optimizer
state of those entries, with the arithmetic of the library whose rule it
follows written out in that library's order, so that trajectories agree to
rounding (float32 computes in float32 with the scalars rounded to it, as
PyTorch does; the per-step scalars are computed once, in double, by the caller).

SGD, as ``torch.optim.SGD``::

    g = grad + weight_decay * param
    v = g                                       (first step, when momentum != 0)
    v = momentum * v + (1 - dampening) * g      (later steps)
    g = g + momentum * v if nesterov else v     (when momentum != 0)
    param -= lr * g

Adam, as ``torch.optim.Adam`` / ``AdamW`` (t counts the steps from 1)::

    param *= 1 - lr * decoupled_decay           (AdamW)
    g = grad + weight_decay * param             (Adam's L2 term; scikit-learn's alpha)
    m += (1 - beta1) * (g - m)                  (torch's lerp)
    v = beta2 * v + (1 - beta2) * g * g
    v_max = max(v_max, v)                       (amsgrad; v_max replaces v below)
    param += -(lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

and, with ``eps_before_correction``, as scikit-learn's ``solver="adam"`` (epsilon
added to sqrt(v) before the bias correction of the step size)::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * (g * g)
    param += -(lr * sqrt(1 - beta2**t) / (1 - beta1**t)) * m / (sqrt(v) + eps)

``weight_decay`` is an argument of its own (not part of AdamStep) because a
network passes a different one for the weights and the biases (scikit-learn's
alpha decays the weights only, scaled by 1/batch rows).
"""
from cython cimport floating
from libc.math cimport sqrt


cdef inline void sgd_update(floating* param, const floating* grad, Py_ssize_t n, floating lr,
                            floating momentum, floating dampening, floating* velocity,
                            bint first, bint nesterov, floating weight_decay) noexcept nogil:
    """param -= lr * step(grad) over n entries; ``velocity`` (n entries) is written when
    momentum != 0 (and read unless ``first``), and may be NULL otherwise."""
    cdef Py_ssize_t i
    cdef floating g, v
    cdef floating keep = 1 - dampening
    for i in range(n):
        g = grad[i] + weight_decay * param[i] if weight_decay != 0 else grad[i]
        if momentum != 0:
            v = g if first else momentum * velocity[i] + keep * g
            velocity[i] = v
            g = g + momentum * v if nesterov else v
        param[i] = param[i] - lr * g


cdef struct AdamStep:
    # The scalars of one Adam step, computed in double by adam_step.
    double beta1, beta2, eps
    double step_size    # lr / (1 - beta1**t), or scikit-learn's lr * sqrt(1 - beta2**t) / (1 - beta1**t)
    double bc2_sqrt     # sqrt(1 - beta2**t) (unused with eps_before_correction)
    double decay        # 1 - lr * decoupled_decay (1: no decoupled decay)
    bint amsgrad
    bint eps_before_correction


cdef inline AdamStep adam_step(double lr, double beta1, double beta2, double eps,
                               double decoupled_decay, bint amsgrad,
                               bint eps_before_correction, Py_ssize_t t) noexcept nogil:
    """The scalars of Adam's step number t (t >= 1), as PyTorch and scikit-learn compute them."""
    cdef AdamStep s
    cdef double bc1 = 1 - beta1 ** <double> t
    cdef double bc2 = 1 - beta2 ** <double> t
    s.beta1, s.beta2, s.eps = beta1, beta2, eps
    s.amsgrad, s.eps_before_correction = amsgrad, eps_before_correction
    s.bc2_sqrt = sqrt(bc2)
    s.step_size = lr * sqrt(bc2) / bc1 if eps_before_correction else lr / bc1
    s.decay = 1 - lr * decoupled_decay
    return s


cdef inline void adam_update(floating* param, const floating* grad, Py_ssize_t n,
                             floating* m, floating* v, floating* v_max,
                             floating weight_decay, const AdamStep* s) noexcept nogil:
    """One Adam step over n entries (see the module docstring); m, v and (with
    amsgrad) v_max hold n entries each and are updated in place; v_max may be NULL
    without amsgrad."""
    cdef Py_ssize_t i
    cdef floating g, m_i, v_i, denom
    cdef floating beta1 = s.beta1, beta2 = s.beta2, eps = s.eps
    cdef floating one_minus_beta1 = 1 - s.beta1, one_minus_beta2 = 1 - s.beta2
    cdef floating neg_step = -s.step_size, bc2_sqrt = s.bc2_sqrt, decay = s.decay
    cdef bint decoupled = s.decay != 1
    for i in range(n):
        if decoupled:
            param[i] = param[i] * decay
        g = grad[i] + weight_decay * param[i] if weight_decay != 0 else grad[i]
        if s.eps_before_correction:  # NumPy's order, as scikit-learn writes it
            m_i = beta1 * m[i] + one_minus_beta1 * g
            v_i = beta2 * v[i] + one_minus_beta2 * (g * g)
        else:  # torch's lerp_ and addcmul_
            m_i = m[i] + one_minus_beta1 * (g - m[i])
            v_i = beta2 * v[i] + one_minus_beta2 * g * g
        m[i], v[i] = m_i, v_i
        if s.amsgrad:
            if v_max[i] > v_i:
                v_i = v_max[i]
            v_max[i] = v_i
        if s.eps_before_correction:
            denom = sqrt(v_i) + eps
        else:
            denom = sqrt(v_i) / bc2_sqrt + eps
        param[i] = param[i] + neg_step * m_i / denom
