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

and, with ``lr_in_velocity``, as scikit-learn's ``SGDOptimizer`` (the velocity holds
steps, lr included, and starts at 0; dampening must be 0)::

    g = grad + weight_decay * param
    v = momentum * v - lr * g
    param += momentum * v - lr * g if nesterov else v

The two agree while lr stays the same (sklearn's v is -lr times torch's), but not
once a schedule changes lr: torch's past gradients take the new lr, sklearn's keep
the lr they were taken with.

Adam, as ``torch.optim.Adam`` / ``AdamW`` (t counts the steps from 1)::

    param *= 1 - lr * decoupled_decay           (AdamW)
    g = grad + weight_decay * param             (Adam's L2 term; scikit-learn's alpha)
    m += (1 - beta1) * (g - m)                  (torch's lerp; for 1 - beta1 >= 0.5
                                                 m = g - (g - m) * beta1)
    v = beta2 * v + (1 - beta2) * g * g
    v_max = max(v_max, v)                       (amsgrad; v_max replaces v below)
    param += -(lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

and, with ``eps_before_correction``, as scikit-learn's ``solver="adam"`` (epsilon
added to sqrt(v) before the bias correction of the step size)::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * (g * g)
    param += -(lr * sqrt(1 - beta2**t) / (1 - beta1**t)) * m / (sqrt(v) + eps)

Both last lines are computed as scikit-learn's, which has one division per entry
(torch's has two, and the divider bounds the loop's speed):

    param += -step_size * m / (sqrt(v) + eps')
    step_size = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
    eps' = eps * sqrt(1 - beta2**t)   (torch's placement; scikit-learn's: eps' = eps)

which is torch's line multiplied through by sqrt(1 - beta2**t): the same value up
to a rounding or two (trajectories still agree with torch to 1e-12 relative in
float64 and 1e-5 in float32; scikit-learn's stay operation for operation).

The one deviation from both: where the denominator is 0 (eps = 0 and v = 0, as
with zero gradients or gradients whose square underflows), the last line leaves
the entry as it is, instead of writing torch's NaN (0/0) or +-inf.

``weight_decay`` is an argument of its own (not part of AdamStep) because a
network passes a different one for the weights and the biases (scikit-learn's
alpha decays the weights only, scaled by 1/batch rows).
"""
from cython cimport floating
from libc.math cimport pow, sqrt


# SGD's loops below read every entry unconditionally and let the settings only
# choose between values, which the compiler turns into vector blends; a buffer
# that may be NULL (velocity) gets a loop of its own, since a read behind a test
# would keep the loop scalar. Adam's entry and loop are in adam.h, written the
# same way, where they can be compiled for AVX2 as well.
#
# Both can clear the gradient as they read it (``clear_grad``): the network's step
# then lets its next gradient product add into zeros, which saves the pass over
# the gradient that BLAS makes to clear its output (linear_backward_params).

cdef inline floating _with_decay(floating g, floating p, floating weight_decay) noexcept nogil:
    """g + weight_decay * p, the L2 term (torch adds it only when weight_decay != 0,
    which keeps an infinite param from turning its gradient into NaN)"""
    return g + weight_decay * p if weight_decay != 0 else g


cdef inline void sgd_update(floating* param, floating* grad, Py_ssize_t n, floating lr,
                            floating momentum, floating dampening, floating* velocity,
                            bint first, bint nesterov, floating weight_decay,
                            bint lr_in_velocity, bint clear_grad) noexcept nogil:
    """One SGD step over n entries (see the module docstring): torch's rule, or
    scikit-learn's with ``lr_in_velocity``. ``velocity`` (n entries) is written when
    momentum != 0 (and read unless ``first`` in torch's rule), and may be NULL
    otherwise. With ``clear_grad`` each grad entry is set to 0 once read (grad must
    then not overlap param or velocity); without it grad is only read, and may be
    param itself."""
    cdef Py_ssize_t i
    cdef floating p, g, v
    cdef floating keep = 1 - dampening
    if momentum == 0:
        for i in range(n):
            p, g = param[i], grad[i]
            if clear_grad:
                grad[i] = 0
            param[i] = p - lr * _with_decay(g, p, weight_decay)
        return
    if lr_in_velocity:
        # scikit-learn's order of operations (its velocity starts at 0: no first step)
        for i in range(n):
            p, g = param[i], grad[i]
            if clear_grad:
                grad[i] = 0
            g = _with_decay(g, p, weight_decay)
            v = momentum * velocity[i] - lr * g
            velocity[i] = v
            param[i] = p + (momentum * v - lr * g if nesterov else v)
        return
    for i in range(n):
        p, g = param[i], grad[i]
        if clear_grad:
            grad[i] = 0
        g = _with_decay(g, p, weight_decay)
        v = velocity[i]  # read even on the first step (then unused), to keep the loop a blend
        v = g if first else momentum * v + keep * g
        velocity[i] = v
        param[i] = p - lr * (g + momentum * v if nesterov else v)


cdef extern from "adam.h" nogil:
    # The scalars of one Adam step, computed in double by adam_step.
    ctypedef struct AdamStep "fastmlp_adam_step":
        double beta1, beta2
        double step_size    # lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        double eps          # eps * sqrt(1 - beta2**t), or scikit-learn's eps
        double decay        # 1 - lr * decoupled_decay (1: no decoupled decay)
        bint amsgrad
        bint eps_before_correction
    void adam_array_f32 "fastmlp_adam_array_f32"(float* param, float* grad, Py_ssize_t n,
                                                  float* m, float* v, float* v_max,
                                                  float weight_decay, const AdamStep* s,
                                                  bint clear_grad)
    void adam_array_f64 "fastmlp_adam_array_f64"(double* param, double* grad,
                                                  Py_ssize_t n, double* m, double* v,
                                                  double* v_max, double weight_decay,
                                                  const AdamStep* s, bint clear_grad)


cdef inline AdamStep adam_step(double lr, double beta1, double beta2, double eps,
                               double decoupled_decay, bint amsgrad,
                               bint eps_before_correction, Py_ssize_t t) noexcept nogil:
    """The scalars of Adam's step number t (t >= 1), as PyTorch and scikit-learn compute them."""
    cdef AdamStep s
    # libc's pow, as Python's float ** int: Cython's ** of two doubles is a complex
    # power (the base could be negative), slower and rounded differently.
    cdef double bc1 = 1 - pow(beta1, <double> t)
    cdef double bc2 = 1 - pow(beta2, <double> t)
    s.beta1, s.beta2 = beta1, beta2
    s.amsgrad, s.eps_before_correction = amsgrad, eps_before_correction
    # torch's bias_correction2 ** 0.5 moves from sqrt(v)'s divisor onto eps (see the
    # module docstring), which leaves one division per entry.
    s.step_size = lr * sqrt(bc2) / bc1
    s.eps = eps if eps_before_correction else eps * sqrt(bc2)
    s.decay = 1 - lr * decoupled_decay
    return s


cdef inline void adam_update(floating* param, floating* grad, Py_ssize_t n,
                             floating* m, floating* v, floating* v_max,
                             floating weight_decay, const AdamStep* s,
                             bint clear_grad) noexcept nogil:
    """One Adam step over n entries (see the module docstring); m, v and (with
    amsgrad) v_max hold n entries each and are updated in place; v_max may be NULL
    without amsgrad. ``clear_grad`` as in sgd_update. Where the denominator is 0
    (eps = 0 and v = 0), the entry keeps the value it has before the step term
    (torch's becomes NaN or +-inf)."""
    if floating is float:
        adam_array_f32(param, grad, n, m, v, v_max, weight_decay, s, clear_grad)
    else:
        adam_array_f64(param, grad, n, m, v, v_max, weight_decay, s, clear_grad)
