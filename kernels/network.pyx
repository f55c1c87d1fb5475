# cython: language_level=3
"""A whole multi-layer perceptron in one buffer: forward, training step and epoch.

Layout (the ``Layout`` struct, computed once per network; Python takes its views
from ``Network.views``). The L layers' parameters live one after another in a
single flat buffer ``params``: layer l holds W_l (sizes[l+1], sizes[l]) at
``w_off[l]`` followed by b_l (sizes[l+1],) at ``b_off[l]``. ``grads`` and each
slot of the optimizer ``state`` (slots, n_params) have the same layout, so a
layer's update walks the same offsets in all of them. The activations workspace
``acts`` holds, for a batch of n rows, the (n, sizes[l+1]) outputs of layer l at
``n * out_off[l]``: the hidden ones after their activation, the last one raw
(logits or predictions). ``delta`` holds two (n, max(sizes)) blocks that the
backward pass alternates between.

Codes: ``Activation``, ``Loss`` and ``Rule`` (the optimizer's update rule) are
defined here, once, and exported to Python as enums (``Network``'s callers
name them, never their numbers). The optimizer's settings travel as one
``Optimizer`` struct, set by ``configure``; the settings of one training run
(label smoothing, dropout, gradient clipping) as one ``Training`` struct, set by
``set_training``.

Row weights: a batch's loss is its weighted mean, sum_i w_i L_i / sum_i w_i (the
batch's own summed weights, as torch's CrossEntropyLoss(weight=...) and
scikit-learn's MLP with sample_weight divide), and scikit-learn's L2 term (alpha,
``l2``) is divided by that same sum, as scikit-learn does (by the batch's rows
without weights).

Dropout (training passes only): each hidden layer l with keep probability
keep[l] < 1 multiplies its activated output by a mask of independent draws, 1/keep
with probability keep and 0 otherwise (inverted dropout), drawn by a SplitMix64
stream (splitmix.h) that the network keeps and the caller seeds. ``acts`` keeps the
undropped outputs a_l, which the activation's derivative reads; ``dropped`` holds
a_l * mask_l, which the next layer reads (forward, and its weight gradient), and
``mask`` the masks, both laid out like ``acts``.

Clipping: with clip_norm or clip_value set, the step first computes every layer's
gradient (scikit-learn's L2 term included), clamps each entry to
[-clip_value, clip_value] (torch.nn.utils.clip_grad_value_), then scales the whole
gradient by min(1, clip_norm / (||g||_2 + 1e-6)) (torch.nn.utils.clip_grad_norm_),
and only then updates the layers.

Design: one call into C per step, and one per epoch (gathering the shuffled
batches, stepping, adding up the loss, and detecting divergence happen without
the GIL). The float32/float64 dispatch happens once per call. The work is the
shared workers of the other kernel modules, fused per layer:
    forward:   bias rows + GEMM (linear_ops.pxd), activation in place on its output
    loss:      softmax (or sigmoid), cross-entropy and dL/dz in one pass over each row
               (loss_ops.pxd)
    backward:  dL/d(input) by GEMM (W is read before it changes) and the
               activation's derivative in place, then the layer's update at once,
               while its gradient is still in cache (optim_ops.pxd). Plain SGD adds
               the gradient product straight into W.
The ``Network`` class holds those buffers for one model and is the only entry
point. Each method checks, with the GIL held, that every array it is given and
every workspace buffer covers what the loops will touch. ``step_sgd`` takes a
fast path when X, y and the hyper-parameters are already exactly what the loops
need (exact types, shapes, C order, labels in range, every value finite) and
otherwise returns None so that fastmlp.model converts or rejects them.

Concurrency: the workspace, the gradients and the optimizer state belong to one
training call at a time. A step claims them itself; a caller that runs several
passes (fastmlp.model's fit, gradients) claims them for its whole duration with
``claim()``/``release()``, and the passes it makes refuse to run unclaimed. The
claim is a flag tested and set while the GIL is held, so two threads can never
both hold it: the second gets a RuntimeError instead of corrupting the heap.
"""
import numpy as np

cimport numpy as cnp
from cpython.bool cimport PyBool_Check
from cpython.float cimport PyFloat_CheckExact
from cython cimport floating
from libc.math cimport isfinite, sqrt
from libc.limits cimport INT_MAX
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from activation_ops cimport (relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
                             tanh_backward, tanh_forward)
from linear_ops cimport (linear_backward_input, linear_backward_params, linear_forward,
                         linear_sgd_step)
from loss_ops cimport mse, multiclass_hinge, sigmoid_bce, softmax_xent_labels
from optim_ops cimport AdamStep, adam_step, adam_update, sgd_update
from softmax_ops cimport softmax_rows
from vecmath cimport all_finite, sigmoid_scalar, sum_in_double


cdef extern from "splitmix.h" nogil:
    uint64_t splitmix64 "fastmlp_splitmix64"(uint64_t* state)


cpdef enum Activation:
    # The activation after every hidden layer.
    TANH = 0
    SIGMOID = 1
    RELU = 2
    IDENTITY = 3


cpdef enum Loss:
    # CROSS_ENTROPY: softmax outputs and integer labels; MSE: linear outputs and targets;
    # BINARY_CROSS_ENTROPY: a sigmoid on each output and 0/1 targets (n, k);
    # HINGE, SQUARED_HINGE: raw scores and integer labels, the multi-class hinge with
    # p = 1 or 2 (torch's MultiMarginLoss).
    CROSS_ENTROPY = 0
    MSE = 1
    BINARY_CROSS_ENTROPY = 2
    HINGE = 3
    SQUARED_HINGE = 4


cpdef enum Rule:
    # The optimizer's update rule (optim_ops.pxd).
    SGD = 0
    ADAM = 1


# How train_epoch ended.
cdef enum Status:
    DONE = 0
    DIVERGED = 1      # a batch's loss was not finite (that batch made no update)
    OVERFLOWED = 2    # the parameters are not all finite after the epoch's last step
    INTERRUPTED = 3

# Rows times the widest layer below which a step keeps the GIL (see Network.run).
cdef enum:
    RELEASE_GIL_WORK = 4096

# Batches between two looks at Ctrl-C: often enough to stop within a fraction of a
# second on any model, rarely enough that taking the GIL costs nothing measurable.
cdef enum:
    SIGNAL_EVERY = 8


cdef struct Layout:
    Py_ssize_t n_layers
    Py_ssize_t n_params
    Py_ssize_t width            # sum(sizes[1:]): one row's outputs over all layers
    Py_ssize_t max_size
    const Py_ssize_t* sizes     # n_layers + 1 widths, input first
    const Py_ssize_t* w_off     # W_l's offset in params, grads and each state slot
    const Py_ssize_t* b_off     # b_l's offset
    const Py_ssize_t* out_off   # layer l's outputs start at n * out_off[l] in acts


cdef struct Optimizer:
    Rule rule
    double lr, momentum, dampening, weight_decay, l2, beta1, beta2, eps
    bint nesterov, amsgrad, decoupled, eps_before_correction
    bint lr_in_velocity         # SGD: scikit-learn's momentum rule (optim_ops.pxd)


cdef struct Training:
    # The settings of a training run that change what a step computes (set_training).
    double label_smoothing      # cross-entropy's eps in [0, 1] (loss_ops.pxd); 0: plain
    double clip_norm            # > 0: the gradient's largest L2 norm; 0: no clipping
    double clip_value           # > 0: each gradient entry's largest magnitude; 0: none
    bint dropout                # does some hidden layer drop (Work.keep)?


cdef struct Work:
    # One call's buffers (taken with the GIL held, after their sizes were checked).
    void* grads
    void* state                 # SGD: velocity; Adam: exp_avg, exp_avg_sq (, max_exp_avg_sq)
    void* acts
    void* delta                 # two blocks of delta_stride entries
    Py_ssize_t delta_stride
    void* x_batch
    Py_ssize_t* label_batch
    void* target_batch
    Py_ssize_t updates          # updates made with the current state (Adam's t)
    bint grads_clear            # does grads hold zeros? (see backward_layers)
    void* weight_batch          # a gathered batch's row weights
    # Dropout (training passes with Training.dropout; keep is NULL otherwise):
    const double* keep          # per hidden layer, the probability of keeping a unit
    uint64_t* rng     # the mask stream's state (splitmix.h)
    void* mask                  # like acts: each hidden output's mask, 0 or 1/keep
    void* dropped               # like acts: a_l * mask_l, what layer l + 1 reads


cdef struct Data:
    # The rows a call trains on (X (n, n_inputs); labels (cross-entropy, hinge) or
    # targets (n, n_outputs) (MSE, binary cross-entropy), the other NULL).
    const void* X
    const Py_ssize_t* labels
    const void* targets
    const void* weights         # (n,) positive row weights, or NULL: every row counts once
    Py_ssize_t n
    const Py_ssize_t* order     # a permutation of the rows, or NULL: in sequence
    void* grad_x                # dL/dX (n, n_inputs) when not NULL (backprop only)


cnp.import_array()

cdef extern from "Python.h":
    # Declared without an exception value: a pending KeyboardInterrupt must reach
    # train_epoch's caller (through raise_pending), not be reported and dropped as
    # an exception inside a noexcept function.
    int check_signals "PyErr_CheckSignals"()


cdef int raise_pending() except -1:
    """Propagate the exception a signal handler left set while we held the GIL."""
    return -1

# The probability above which a binary cross-entropy model predicts a label
# (scikit-learn's rule); fastmlp.model reads it as PROBABILITY_THRESHOLD.
cdef double POSITIVE_ABOVE = 0.5
PROBABILITY_THRESHOLD = POSITIVE_ABOVE


# --- the loops ----------------------------------------------------------------------

cdef inline int hinge_power(Loss kind) noexcept nogil:
    """The p of a hinge loss (loss_ops.pxd's multiclass_hinge): 1 for HINGE, 2 for
    SQUARED_HINGE."""
    return 1 if kind == HINGE else 2


# The hinge losses' p by code, for Python (fastmlp.model names them).
HINGE_P = {Loss.HINGE: hinge_power(HINGE), Loss.SQUARED_HINGE: hinge_power(SQUARED_HINGE)}


cdef inline bint uses_labels(Loss kind) noexcept nogil:
    """Does the loss train on integer labels (n,), not on targets (n, k)?"""
    return kind == CROSS_ENTROPY or kind == HINGE or kind == SQUARED_HINGE


cdef inline void activate(Activation act, floating* a, Py_ssize_t n) noexcept nogil:
    """a := f(a) in place (single-threaded: BLAS owns the cores in a training loop);
    IDENTITY leaves a as it is"""
    if act == TANH:
        tanh_forward(a, a, n, False)
    elif act == SIGMOID:
        sigmoid_forward(a, a, n, False)
    elif act == RELU:
        relu_forward(a, a, n)


cdef inline void activate_backward(Activation act, const floating* a, floating* grad,
                                   Py_ssize_t n) noexcept nogil:
    """grad *= f'(x), given a = f(x) (IDENTITY: f' = 1, nothing to do)"""
    if act == TANH:
        tanh_backward(a, grad, n)
    elif act == SIGMOID:
        sigmoid_backward(a, grad, n)
    elif act == RELU:
        relu_backward(a, grad, n)


cdef inline bint drops(const Work* w, Py_ssize_t l) noexcept nogil:
    """Does hidden layer l drop units in this pass?"""
    return w != NULL and w.keep != NULL and w.keep[l] < 1


cdef inline void drop_units(const floating* a, floating* mask, floating* out, Py_ssize_t n,
                            double keep, uint64_t* rng) noexcept nogil:
    """mask := n draws of 1/keep (probability keep) or 0; out := a * mask.

    A draw keeps the unit when its top 53 bits, read as an integer, fall below
    keep * 2**53: the comparison a double uniform in [0, 1) < keep makes, exactly."""
    cdef Py_ssize_t i
    cdef uint64_t below = <uint64_t> (keep * 9007199254740992.0)
    cdef floating scale = <floating> (1 / keep)
    for i in range(n):
        mask[i] = scale if (splitmix64(rng) >> 11) < below else 0
        out[i] = a[i] * mask[i]


cdef inline const floating* layer_input(const Layout* L, const Work* w, const floating* x,
                                        const floating* acts, Py_ssize_t n,
                                        Py_ssize_t l) noexcept nogil:
    """What layer l reads: x for the first, else the previous layer's output (after
    its dropout, when it drops)."""
    if l == 0:
        return x
    if drops(w, l - 1):
        return <const floating*> w.dropped + n * L.out_off[l - 1]
    return acts + n * L.out_off[l - 1]


cdef inline void forward_layers(const Layout* L, Activation act, const floating* params,
                                const floating* x, Py_ssize_t n, floating* acts,
                                const Work* w) noexcept nogil:
    """acts := the outputs of every layer for the n rows of x (n, sizes[0]); with a
    training pass's work ``w`` (else NULL), the hidden layers that drop draw their
    masks and dropped outputs into it."""
    cdef Py_ssize_t l, off
    for l in range(L.n_layers):
        off = n * L.out_off[l]
        linear_forward(layer_input(L, w, x, acts, n, l), params + L.w_off[l],
                       params + L.b_off[l], acts + off, n, L.sizes[l], L.sizes[l + 1])
        if l < L.n_layers - 1:
            activate(act, acts + off, n * L.sizes[l + 1])
            if drops(w, l):
                drop_units(acts + off, <floating*> w.mask + off, <floating*> w.dropped + off,
                           n * L.sizes[l + 1], w.keep[l], w.rng)


cdef inline Py_ssize_t count_correct(const floating* z, const Py_ssize_t* labels,
                                     Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Number of rows whose first largest entry is at the row's label (np.argmax's rule)."""
    cdef Py_ssize_t i, j, best
    cdef Py_ssize_t correct = 0
    for i in range(n):
        best = 0
        for j in range(1, k):
            if z[i * k + j] > z[i * k + best]:
                best = j
        correct += best == labels[i]
    return correct


cdef inline Py_ssize_t count_all_correct(const floating* z, const floating* targets,
                                         Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Number of rows whose every label is right: sigmoid(z) > POSITIVE_ABOVE exactly
    where the 0/1 target is 1 (scikit-learn's subset accuracy)."""
    cdef Py_ssize_t i, j
    cdef Py_ssize_t correct = 0
    cdef bint right
    for i in range(n):
        right = True
        for j in range(k):
            if (sigmoid_scalar(z[i * k + j]) > POSITIVE_ABOVE) != (targets[i * k + j] != 0):
                right = False
                break
        correct += right
    return correct


cdef inline void apply_layer(const Layout* L, const Optimizer* o, const AdamStep* adam,
                             bint first, Py_ssize_t l, floating* params, floating* grads,
                             floating* state, double l2_scale, bint clear) noexcept nogil:
    """Layer l's update from its gradient in ``grads`` (set to 0 as it is read with
    ``clear``).

    The weight decay coupled to the gradient is torch's ``weight_decay`` (unless it
    is AdamW's decoupled one) plus, for the weights only, ``l2_scale``: scikit-learn's
    alpha divided by the batch's rows or summed weights (0 when ``grads`` already
    holds that term). ``first`` is the first update with this state (SGD's buffer
    starts at g).
    """
    cdef Py_ssize_t n_in = L.sizes[l], n_out = L.sizes[l + 1], P = L.n_params
    cdef Py_ssize_t w = L.w_off[l], b = L.b_off[l]
    cdef double coupled = 0 if o.decoupled else o.weight_decay
    cdef floating decay_b = <floating> coupled
    cdef floating decay_w = <floating> (coupled + l2_scale)
    if o.rule == SGD:
        # Without momentum there is no velocity (state may be NULL): never offset it.
        sgd_update(params + w, grads + w, n_out * n_in, <floating> o.lr, <floating> o.momentum,
                   <floating> o.dampening, state + w if o.momentum != 0 else NULL, first,
                   o.nesterov, decay_w, o.lr_in_velocity, clear)
        sgd_update(params + b, grads + b, n_out, <floating> o.lr, <floating> o.momentum,
                   <floating> o.dampening, state + b if o.momentum != 0 else NULL, first,
                   o.nesterov, decay_b, o.lr_in_velocity, clear)
    else:
        adam_update(params + w, grads + w, n_out * n_in, state + w, state + P + w,
                    state + 2 * P + w if o.amsgrad else NULL, decay_w, adam, clear)
        adam_update(params + b, grads + b, n_out, state + b, state + P + b,
                    state + 2 * P + b if o.amsgrad else NULL, decay_b, adam, clear)


cdef inline AdamStep adam_scalars(const Optimizer* o, Py_ssize_t updates) noexcept nogil:
    """The scalars of Adam's update number ``updates`` (unused by SGD)."""
    return adam_step(o.lr, o.beta1, o.beta2, o.eps, o.weight_decay if o.decoupled else 0,
                     o.amsgrad, o.eps_before_correction, updates)


cdef inline bint adds_into_weights(const Optimizer* o) noexcept nogil:
    """Is the update plain SGD, which update_layer adds straight into W (no gradient
    buffer)?"""
    return o.rule == SGD and o.momentum == 0 and o.l2 == 0


cdef inline void update_layer(const Layout* L, const Optimizer* o, const AdamStep* adam,
                              bint first, Py_ssize_t l, floating* params, floating* grads,
                              bint grads_clear, floating* state, const floating* a_in,
                              const floating* delta, Py_ssize_t n,
                              double denom) noexcept nogil:
    """Layer l's gradient, from its input a_in (n, n_in) and output gradient delta
    (n, n_out), and its update (apply_layer, with l2 / denom), which leaves the
    layer's gradient cleared; plain SGD adds the gradient product straight into W."""
    cdef Py_ssize_t n_in = L.sizes[l], n_out = L.sizes[l + 1]
    cdef Py_ssize_t w = L.w_off[l], b = L.b_off[l]
    if adds_into_weights(o):
        linear_sgd_step(a_in, delta, params + w, params + b, n, n_in, n_out, <floating> o.lr,
                        <floating> (0 if o.decoupled else o.weight_decay))
        return
    linear_backward_params(a_in, delta, grads + w, grads + b, n, n_in, n_out, grads_clear)
    apply_layer(L, o, adam, first, l, params, grads, state, o.l2 / denom, True)


cdef inline void backward_layers(const Layout* L, Activation act, const Optimizer* o,
                                 Work* w, floating* params, const floating* x,
                                 Py_ssize_t n, floating* grad_x, double denom) noexcept nogil:
    """Back from delta = dL/d(last output) (n, sizes[-1]) through every layer (and
    the dropout masks of the forward pass).

    Without an optimizer (``o`` NULL), writes every layer's gradient into grads.
    With one, applies its update to each layer as soon as the layer's gradient
    exists (scikit-learn's L2 term divided by ``denom``). ``grad_x`` (n, sizes[0])
    receives dL/dx unless it is NULL.

    w.grads_clear says whether grads holds zeros, so that the gradient products
    can add into it instead of having BLAS clear it first. The updates clear what
    they read: grads holds zeros after a pass with an optimizer (unless plain SGD,
    which leaves it as it was), and the gradient after one without.
    """
    cdef Py_ssize_t l, i, n_in, n_out
    cdef floating* delta = <floating*> w.delta
    cdef floating* delta_next = delta + w.delta_stride
    cdef floating* grads = <floating*> w.grads
    cdef const floating* acts = <const floating*> w.acts
    cdef const floating* mask
    cdef floating* swap
    cdef floating* W
    cdef const floating* a_in
    cdef AdamStep adam
    if o != NULL:
        adam = adam_scalars(o, w.updates)
    for l in range(L.n_layers - 1, -1, -1):
        n_in, n_out = L.sizes[l], L.sizes[l + 1]
        W = params + L.w_off[l]
        a_in = layer_input(L, w, x, acts, n, l)
        if l > 0:
            linear_backward_input(W, delta, delta_next, n, n_in, n_out)
            if drops(w, l - 1):
                mask = <const floating*> w.mask + n * L.out_off[l - 1]
                for i in range(n * n_in):
                    delta_next[i] = delta_next[i] * mask[i]
            activate_backward(act, acts + n * L.out_off[l - 1], delta_next, n * n_in)
        elif grad_x != NULL:
            linear_backward_input(W, delta, grad_x, n, n_in, n_out)
        if o == NULL:
            linear_backward_params(a_in, delta, grads + L.w_off[l], grads + L.b_off[l],
                                   n, n_in, n_out, w.grads_clear)
        else:
            update_layer(L, o, &adam, w.updates == 1, l, params, grads, w.grads_clear,
                         <floating*> w.state, a_in, delta, n, denom)
        swap = delta
        delta = delta_next
        delta_next = swap
    if o == NULL:
        w.grads_clear = False
    elif not adds_into_weights(o):
        w.grads_clear = True


cdef inline void apply_update(const Layout* L, const Optimizer* o, Work* w,
                              floating* params, double l2_scale, bint clear) noexcept nogil:
    """Every layer's update (number w.updates) from the whole gradient already in
    w.grads: apply_layer's formula, with scikit-learn's L2 term as ``l2_scale``;
    with ``clear``, the gradient is cleared as it is read (else it stays, and grads
    no longer holds zeros)."""
    cdef Py_ssize_t l
    cdef AdamStep adam = adam_scalars(o, w.updates)
    for l in range(L.n_layers):
        apply_layer(L, o, &adam, w.updates == 1, l, params, <floating*> w.grads,
                    <floating*> w.state, l2_scale, clear)
    w.grads_clear = clear


cdef inline void clip_and_update(const Layout* L, const Optimizer* o, const Training* t,
                                 Work* w, floating* params, double denom) noexcept nogil:
    """The update from the whole gradient in w.grads: add scikit-learn's L2 term,
    clip by value, then by norm (the module docstring), then update every layer."""
    cdef Py_ssize_t l, i
    cdef floating* grads = <floating*> w.grads
    cdef floating* g
    cdef const floating* W
    cdef floating scale, limit
    cdef double coef
    if o.l2 > 0:
        scale = <floating> (o.l2 / denom)
        for l in range(L.n_layers):
            g, W = grads + L.w_off[l], params + L.w_off[l]
            for i in range(L.sizes[l + 1] * L.sizes[l]):
                g[i] = g[i] + scale * W[i]
    if t.clip_value > 0:
        limit = <floating> t.clip_value
        for i in range(L.n_params):
            # Written so that NaN passes through, as torch's clamp lets it.
            if grads[i] > limit:
                grads[i] = limit
            elif grads[i] < -limit:
                grads[i] = -limit
    if t.clip_norm > 0:
        coef = t.clip_norm / (sqrt(sum_in_double(grads, L.n_params, True)) + 1e-6)
        if coef < 1:
            scale = <floating> coef
            for i in range(L.n_params):
                grads[i] = grads[i] * scale
    apply_update(L, o, w, params, 0, True)


cdef inline double train_step(const Layout* L, Activation act, Loss kind,
                              const Optimizer* o, const Training* t, Work* w, floating* params,
                              const floating* x, const Py_ssize_t* labels,
                              const floating* targets, const floating* sw, double sw_sum,
                              Py_ssize_t n, floating* grad_x,
                              Py_ssize_t* n_correct) noexcept nogil:
    """One forward, loss and backward pass over a batch, with the update when ``o`` is
    given. ``sw`` is the batch's (n,) row weights with sum ``sw_sum``, or NULL.
    Returns the batch's (weighted) mean loss. When it is not finite nothing is
    updated (the state and its step count included), so the parameters stay those
    of the last finite step."""
    cdef Py_ssize_t k = L.sizes[L.n_layers]
    cdef floating* acts = <floating*> w.acts
    cdef const floating* out = acts + n * L.out_off[L.n_layers - 1]
    cdef floating w_total = <floating> sw_sum
    cdef double loss
    forward_layers(L, act, params, x, n, acts, w)
    if kind == CROSS_ENTROPY:
        n_correct[0] = count_correct(out, labels, n, k)
        loss = softmax_xent_labels(out, labels, sw, w_total, n, k, t.label_smoothing,
                                   <floating*> w.delta, False)
    elif kind == BINARY_CROSS_ENTROPY:
        n_correct[0] = count_all_correct(out, targets, n, k)
        loss = sigmoid_bce(out, targets, sw, w_total, n, k, <floating*> w.delta, False)
    elif kind == HINGE or kind == SQUARED_HINGE:
        n_correct[0] = count_correct(out, labels, n, k)
        loss = multiclass_hinge(out, labels, sw, w_total, n, k, hinge_power(kind),
                                <floating*> w.delta, False)
    else:
        loss = mse(out, targets, sw, w_total, n, k, <floating*> w.delta)
    # The loss in the model's dtype: a float32 model whose loss overflows float32
    # has diverged, even though the sum in double is still finite.
    loss = <floating> loss
    if not isfinite(loss):
        return loss
    if o != NULL:
        w.updates += 1
    if o != NULL and (t.clip_norm > 0 or t.clip_value > 0):
        backward_layers(L, act, NULL, w, params, x, n, grad_x, 0)
        clip_and_update(L, o, t, w, params, sw_sum if sw != NULL else n)
    else:
        backward_layers(L, act, o, w, params, x, n, grad_x, sw_sum if sw != NULL else n)
    return loss


cdef inline double weights_squared(const Layout* L, const floating* params) noexcept nogil:
    """sum over layers of ||W_l||^2 (the biases left out), in double"""
    cdef Py_ssize_t l
    cdef double total = 0
    for l in range(L.n_layers):
        total = total + sum_in_double(params + L.w_off[l], L.sizes[l + 1] * L.sizes[l], True)
    return total


cdef inline Status train_epoch(const Layout* L, Activation act, Loss kind,
                               const Optimizer* o, const Training* t, Work* w,
                               floating* params, const Data* d,
                               Py_ssize_t batch_size, double* loss_sum,
                               Py_ssize_t* n_correct, Py_ssize_t* batches,
                               double* penalty_sum) noexcept nogil:
    """One epoch of minibatch training over the d.n rows, visited in ``d.order``.

    Rows order[b * batch_size: (b + 1) * batch_size] form batch b (the last may
    be smaller) and are gathered into the work's batch buffers; a NULL ``order``
    means the rows in sequence, used in place. Adds up the loss times the batch's
    rows (the loss being the batch's weighted mean with row weights), the L2 penalty
    times the batch's rows (with l2 > 0: scikit-learn's 0.5 * l2 * sum ||W_l||^2 / s,
    s the batch's rows or summed weights, of the weights before the batch's update;
    update_layer's l2 / s is its gradient) and the correct predictions, counts
    the completed batches, and stops early on a non-finite loss (that batch makes
    no update) or Ctrl-C. After the last batch the parameters are checked to be
    finite (an update can overflow).
    """
    cdef Py_ssize_t n_in = L.sizes[0], k = L.sizes[L.n_layers], n = d.n
    cdef Py_ssize_t b, start, rows, i, correct
    cdef const floating* X = <const floating*> d.X
    cdef const floating* targets = <const floating*> d.targets
    cdef const floating* weights = <const floating*> d.weights
    cdef floating* x_batch = <floating*> w.x_batch
    cdef floating* target_batch = <floating*> w.target_batch
    cdef floating* weight_batch = <floating*> w.weight_batch
    cdef const floating* x
    cdef const Py_ssize_t* lab
    cdef const floating* tgt
    cdef const floating* sw
    cdef double loss, sw_sum, penalty = 0
    cdef bint interrupted = False
    for b in range((n + batch_size - 1) // batch_size):
        start = b * batch_size
        rows = min(batch_size, n - start)
        if d.order == NULL:
            x = X + start * n_in
            lab = d.labels + start if d.labels != NULL else NULL
            tgt = targets + start * k if targets != NULL else NULL
            sw = weights + start if weights != NULL else NULL
        else:
            for i in range(rows):
                memcpy(x_batch + i * n_in, X + d.order[start + i] * n_in,
                       n_in * sizeof(floating))
                if d.labels != NULL:
                    w.label_batch[i] = d.labels[d.order[start + i]]
                else:
                    memcpy(target_batch + i * k, targets + d.order[start + i] * k,
                           k * sizeof(floating))
                if weights != NULL:
                    weight_batch[i] = weights[d.order[start + i]]
            x, lab, tgt = x_batch, w.label_batch, target_batch
            sw = weight_batch if weights != NULL else NULL
        sw_sum = rows
        if sw != NULL:
            sw_sum = 0
            for i in range(rows):
                sw_sum = sw_sum + sw[i]
        correct = 0
        if o.l2 > 0:
            penalty = 0.5 * o.l2 * weights_squared(L, params) / sw_sum
        loss = train_step(L, act, kind, o, t, w, params, x, lab, tgt, sw, sw_sum, rows, NULL,
                          &correct)
        if not isfinite(loss):
            return DIVERGED
        loss_sum[0] += loss * rows
        penalty_sum[0] += penalty * rows
        n_correct[0] += correct
        batches[0] += 1
        if batches[0] % SIGNAL_EVERY == 0:
            with gil:
                interrupted = check_signals() != 0
            if interrupted:
                return INTERRUPTED
    return DONE if all_finite(params, L.n_params) else OVERFLOWED


cdef inline void probabilities_of(Loss kind, floating* z, Py_ssize_t n,
                                  Py_ssize_t k) noexcept nogil:
    """z (n, k) := the probabilities the loss reads its logits as, in place (MSE and
    the hinge losses: none, z stays as it is)"""
    if kind == CROSS_ENTROPY:
        softmax_rows(z, z, n, k, False)
    elif kind == BINARY_CROSS_ENTROPY:
        sigmoid_forward(z, z, n * k, False)


# --- argument checks (with the GIL held) ----------------------------------------------

cdef inline void* data(cnp.ndarray a):
    """Start of an array's data, or NULL for an empty array (a buffer a call does not use)."""
    return cnp.PyArray_DATA(a) if cnp.PyArray_SIZE(a) > 0 else NULL


cdef inline bint is_buffer(object a, int typenum, int ndim) noexcept:
    """Is ``a`` an exact, C-contiguous, native-byte-order ndarray of this type and rank?"""
    cdef cnp.ndarray arr
    if not cnp.PyArray_CheckExact(a):
        return False
    arr = a
    return (cnp.PyArray_TYPE(arr) == typenum and cnp.PyArray_NDIM(arr) == ndim
            and cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISNOTSWAPPED(arr))


cdef inline bint all_finite_array(cnp.ndarray a) noexcept:
    if cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE:
        return all_finite(<const double*> cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))
    return all_finite(<const float*> cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))


cdef inline bint all_binary(const floating* x, Py_ssize_t n) noexcept nogil:
    """Is every one of the n entries of x exactly 0 or 1?"""
    cdef Py_ssize_t i
    for i in range(n):
        if x[i] != 0 and x[i] != 1:
            return False
    return True


cdef inline bint all_binary_array(cnp.ndarray a) noexcept:
    if cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE:
        return all_binary(<const double*> cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))
    return all_binary(<const float*> cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))


cdef inline bint all_positive(const floating* x, Py_ssize_t n, double* total) noexcept nogil:
    """Is every one of the n entries of x positive and finite? (Their sum into total.)"""
    cdef Py_ssize_t i
    total[0] = 0
    for i in range(n):
        if not (x[i] > 0 and isfinite(x[i])):
            return False
        total[0] += x[i]
    return True


cdef inline bint labels_in_range(cnp.ndarray labels, Py_ssize_t k) noexcept:
    cdef const Py_ssize_t* lab = <const Py_ssize_t*> cnp.PyArray_DATA(labels)
    cdef Py_ssize_t i
    for i in range(cnp.PyArray_SIZE(labels)):
        if lab[i] < 0 or lab[i] >= k:
            return False
    return True


cdef inline bint finite_in(double value, int typenum) noexcept:
    """Is value finite once rounded to the model's dtype? (1e300 is not, in float32.)"""
    return isfinite(value) if typenum == cnp.NPY_DOUBLE else isfinite(<float> value)


cdef inline bint positive_in(double value, int typenum) noexcept:
    """Is value > 0 once rounded to the model's dtype? (1e-50 is 0 in float32.)"""
    return value > 0 if typenum == cnp.NPY_DOUBLE else <float> value > 0


cdef inline bint nonnegative_in(double value, int typenum) noexcept:
    return finite_in(value, typenum) and value >= 0


cdef int state_slots(const Optimizer* o) noexcept:
    """Parameter-sized state buffers the rule keeps."""
    if o.rule == SGD:
        return 1 if o.momentum != 0 else 0
    return 3 if o.amsgrad else 2


cdef class Network:
    """The compiled state of one MLP: its parameters, gradients, optimizer state and
    training workspace, as arrays this object keeps alive.

    Parameters
    ----------
    sizes : ndarray of intp
        The layer sizes, input first (two or more, each >= 1).
    dtype : float32 or float64
        The dtype of the parameters (``params``, allocated here, uninitialised: the
        flat buffer of the module docstring, updated in place) and of every pass.
    activation : Activation
    loss : Loss

    ``grads`` holds the gradient that backprop wrote (or that apply is given);
    after a step or an epoch it holds zeros, or whatever plain SGD left there. A
    caller that writes into it must call apply (or backprop) before any step:
    the steps' gradient products add into it while it is known to hold zeros.
    """
    cdef readonly cnp.ndarray sizes, params, grads, state, offsets
    cdef cnp.ndarray acts, delta, x_batch, label_batch, target_batch, weight_batch
    cdef cnp.ndarray keep, mask, dropped  # dropout: keep probabilities, masks, outputs
    cdef uint64_t rng           # the dropout masks' stream (splitmix.h)
    cdef Py_ssize_t last_rows             # rows of the last training pass's batch
    cdef bint grads_clear                 # does grads hold zeros? (backward_layers)
    cdef object last_keep                 # its keep probabilities, None: it did not drop
    cdef Layout layout
    cdef Optimizer opt
    cdef readonly Training training  # every pass's settings (set_training)
    cdef readonly bint configured   # has configure (or step_sgd) set the optimizer?
    cdef int state_rule             # the rule the state belongs to; -1: no state
    cdef bint state_lr_in_velocity  # SGD's velocity holds scikit-learn's steps
    cdef readonly object configured_for  # configure's key: the optimizer object it set
    cdef Py_ssize_t updates, rows, n_inputs, n_outputs
    cdef void* p               # params' data: the array is the model's for its lifetime
    cdef int typenum
    cdef Activation act
    cdef Loss kind
    cdef bint busy

    def __init__(self, cnp.ndarray sizes, dtype, activation, loss):
        cdef Py_ssize_t l, n_layers
        cdef cnp.ndarray params
        if not is_buffer(sizes, cnp.NPY_INTP, 1) or sizes.shape[0] < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be two or more positive intp sizes; got {sizes!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {dtype}")
        self.sizes = sizes.copy()  # the loops read it: never a buffer someone else holds
        n_layers = sizes.shape[0] - 1
        # Counted in Python integers first: a product of two BLAS-sized widths can
        # overflow Py_ssize_t.
        n_params = sum(int(sizes[l + 1]) * int(sizes[l]) + int(sizes[l + 1])
                       for l in range(n_layers))
        if n_params * dtype.itemsize > np.iinfo(np.intp).max:
            raise ValueError(f"layer_sizes {sizes.tolist()} make {n_params:,} parameters, "
                             f"more than this machine can address")
        try:
            params = np.empty(n_params, dtype=dtype)
        except MemoryError:
            raise MemoryError(f"layer_sizes {sizes.tolist()} make {n_params:,} parameters "
                              f"({n_params * dtype.itemsize / 2**30:.1f} GiB of {dtype.name}), "
                              f"more than can be allocated") from None
        # offsets[0], [1], [2]: w_off, b_off, out_off (see Layout).
        self.offsets = np.zeros((3, n_layers), dtype=np.intp)
        cdef Py_ssize_t[:, ::1] off = self.offsets
        cdef Py_ssize_t p = 0, out = 0
        for l in range(n_layers):
            off[0, l] = p
            off[1, l] = p + sizes[l + 1] * sizes[l]
            off[2, l] = out
            p += sizes[l + 1] * sizes[l] + sizes[l + 1]
            out += sizes[l + 1]
        self.offsets.setflags(write=False)
        if (activation not in (TANH, SIGMOID, RELU, IDENTITY)
                or loss not in (CROSS_ENTROPY, MSE, BINARY_CROSS_ENTROPY, HINGE,
                                SQUARED_HINGE)):
            raise ValueError(f"unknown activation or loss code: {activation!r}, {loss!r}")
        self.act = <Activation> <int> activation
        self.kind = <Loss> <int> loss
        self.layout.n_layers = n_layers
        self.layout.n_params = p
        self.layout.width = out
        self.layout.max_size = max(sizes)
        self.layout.sizes = <Py_ssize_t*> cnp.PyArray_DATA(self.sizes)
        self.layout.w_off = &off[0, 0]
        self.layout.b_off = &off[1, 0]
        self.layout.out_off = &off[2, 0]
        self.params = params
        self.p = cnp.PyArray_DATA(params)
        self.grads = cnp.PyArray_ZEROS(1, cnp.PyArray_DIMS(params), cnp.PyArray_TYPE(params), 0)
        self.grads_clear = True
        self.state = np.zeros((0, p), dtype=params.dtype)
        self.n_inputs, self.n_outputs = sizes[0], sizes[n_layers]
        self.typenum = cnp.PyArray_TYPE(params)
        self.rows = 0
        self.busy = False
        self.configured = False
        self.state_rule = -1
        self.state_lr_in_velocity = False
        self.configured_for = None
        self.updates = 0
        self.training.label_smoothing = self.training.clip_norm = 0
        self.training.clip_value = 0
        self.training.dropout = False
        self.keep = np.ones(n_layers - 1)
        self.mask = self.dropped = np.empty(0, dtype=dtype)
        self.rng = 0
        self.last_rows = 0
        self.last_keep = None

    @property
    def width(self):
        """Outputs of one row over all layers, sum(sizes[1:]): ``forward``'s ``acts``
        holds this many per row."""
        return self.layout.width

    def views(self, cnp.ndarray flat):
        """Per-layer (W_l (n_out, n_in), b_l (n_out,)) views of a flat, parameter-shaped
        buffer (the parameters, their gradients, a state slot, a copy)."""
        if flat.ndim != 1 or flat.shape[0] != self.layout.n_params:
            raise ValueError(f"views: expected a vector of {self.layout.n_params} entries; "
                             f"got shape {(<object> flat).shape}")
        cdef const Layout* L = &self.layout
        return [(flat[L.w_off[l]:L.b_off[l]].reshape(L.sizes[l + 1], L.sizes[l]),
                 flat[L.b_off[l]:L.b_off[l] + L.sizes[l + 1]])
                for l in range(L.n_layers)]

    # --- who may train ------------------------------------------------------------

    cdef int take(self) except -1:
        if self.busy:
            raise RuntimeError(
                "this model is already training: fit, step, gradients and input_gradient "
                "use the model's workspace, one call at a time, and another thread is in "
                "one of them. Wait for it to return, or train a copy (copy.deepcopy(model)).")
        self.busy = True
        return 0

    cdef int held(self) except -1:
        if not self.busy:
            raise RuntimeError("Network pass called without claim(): the workspace is not "
                               "reserved for this caller")
        return 0

    def claim(self):
        """Reserve the workspace for one training call (RuntimeError if another has it)."""
        self.take()

    def release(self):
        """End the training call that claim() started."""
        self.busy = False

    # --- the training settings ---------------------------------------------------

    def set_training(self, *, label_smoothing=0.0, dropout=None, seed=0, clip_norm=0.0,
                     clip_value=0.0):
        """Set the settings every later training pass (step, backprop, train_epoch) uses,
        until the next call; a call without arguments restores the plain defaults.

        ``label_smoothing``: cross-entropy's eps in [0, 1] (0 for other losses).
        ``dropout``: None, or each hidden layer's rate in [0, 1) (n_layers - 1 of
        them), with ``seed`` (an integer in [0, 2**64)) starting the masks' stream.
        ``clip_norm``, ``clip_value``: >= 0, finite; 0 leaves the gradient unclipped.
        Needs claim().
        """
        self.held()
        cdef Training t
        t.label_smoothing = label_smoothing
        if not (0 <= t.label_smoothing <= 1
                and (t.label_smoothing == 0 or self.kind == CROSS_ENTROPY)):
            raise ValueError(f"set_training: label_smoothing must be in [0, 1], and 0 unless "
                             f"the loss is cross-entropy; got {label_smoothing!r}")
        t.clip_norm, t.clip_value = clip_norm, clip_value
        if not (isfinite(t.clip_norm) and t.clip_norm >= 0 and isfinite(t.clip_value)
                and t.clip_value >= 0):
            raise ValueError(f"set_training: clip_norm and clip_value must be finite and >= 0; "
                             f"got {clip_norm!r}, {clip_value!r}")
        keep = np.ones(self.layout.n_layers - 1)
        if dropout is not None:
            rates = np.asarray(dropout, dtype=np.float64)
            if not (rates.shape == keep.shape and np.all((rates >= 0) & (rates < 1))):
                raise ValueError(f"set_training: dropout must hold {keep.shape[0]} rates in "
                                 f"[0, 1), one per hidden layer; got {dropout!r}")
            keep = 1 - rates
        if not 0 <= seed < 2**64:
            raise ValueError(f"set_training: seed must be in [0, 2**64); got {seed!r}")
        t.dropout = bool(np.any(keep < 1))
        self.training, self.keep, self.rng = t, keep, seed

    def masks(self):
        """The dropout masks of the last training pass's batch (the last batch of an
        epoch): per hidden layer, a copy (rows, size) of its draws (0 or 1/keep), or
        None where it did not drop; None when that pass had no dropout."""
        cdef const Layout* L = &self.layout
        cdef Py_ssize_t n = self.last_rows
        if not (self.last_keep is not None and n > 0 and self.mask.shape[0] >= n * L.width):
            return None
        return [self.mask[n * L.out_off[l]:n * (L.out_off[l] + L.sizes[l + 1])]
                .reshape(n, L.sizes[l + 1]).copy() if self.last_keep[l] < 1 else None
                for l in range(L.n_layers - 1)]

    # --- the optimizer -------------------------------------------------------------

    cdef bint in_range(self, const Optimizer* o) noexcept:
        """Are the settings ones the loops can run, in the model's dtype? (A known rule,
        lr > 0, the rest >= 0 and finite, dampening <= 1, betas < 1, Nesterov only
        with momentum.)"""
        cdef int t = self.typenum
        return (positive_in(o.lr, t) and finite_in(o.lr, t) and nonnegative_in(o.momentum, t)
                and nonnegative_in(o.dampening, t) and o.dampening <= 1
                and nonnegative_in(o.weight_decay, t) and nonnegative_in(o.l2, t)
                and nonnegative_in(o.beta1, t) and o.beta1 < 1
                and nonnegative_in(o.beta2, t) and o.beta2 < 1 and nonnegative_in(o.eps, t)
                and (o.momentum > 0 or not o.nesterov)
                and (o.dampening == 0 or not o.lr_in_velocity)
                and (o.rule == SGD or o.rule == ADAM))

    cdef int set_optimizer(self, const Optimizer* o) except -1:
        """Make ``o`` (checked by in_range) the update rule. Its state (buffers and step
        count) continues when the rule, the number of buffers and what SGD's velocity
        holds (lr_in_velocity) stay the same, and starts at zero otherwise."""
        cdef int slots = state_slots(o)
        if not (o.rule == self.state_rule and slots == self.state.shape[0]
                and (o.rule != SGD or o.lr_in_velocity == self.state_lr_in_velocity)):
            self.state = np.zeros((slots, self.layout.n_params), dtype=self.params.dtype)
            self.updates = 0
        self.opt = o[0]
        self.state_rule = o.rule
        self.state_lr_in_velocity = o.rule == SGD and o.lr_in_velocity
        self.configured = True
        return 0

    def configure(self, dict settings, key=None):
        """Set the optimizer from ``settings`` (fastmlp.optim's ``settings(dtype)``: rule,
        lr, momentum, dampening, nesterov, weight_decay, l2, beta1, beta2, eps, amsgrad,
        decoupled, eps_before_correction, lr_in_velocity). ``key`` (the immutable
        optimizer object the settings came from) is kept as ``configured_for`` until
        something else sets the optimizer or the state, so a caller can skip checking
        it again. Needs claim()."""
        self.held()
        cdef Optimizer o
        if settings["rule"] not in (SGD, ADAM):
            raise ValueError(f"configure: unknown rule {settings['rule']!r}")
        o.rule = <Rule> <int> settings["rule"]
        o.lr, o.momentum, o.dampening = settings["lr"], settings["momentum"], settings["dampening"]
        o.weight_decay, o.l2 = settings["weight_decay"], settings["l2"]
        o.beta1, o.beta2, o.eps = settings["beta1"], settings["beta2"], settings["eps"]
        o.nesterov, o.amsgrad = settings["nesterov"], settings["amsgrad"]
        o.decoupled, o.eps_before_correction = (settings["decoupled"],
                                                settings["eps_before_correction"])
        o.lr_in_velocity = settings["lr_in_velocity"]
        if not self.in_range(&o):
            raise ValueError(f"optimizer settings out of range for {self.params.dtype}: {o}")
        self.set_optimizer(&o)
        self.configured_for = key

    def reset_state(self):
        """Drop the optimizer state: the next update starts from zero buffers, step 1."""
        self.held()
        self.state = self.state[:0]
        self.state_rule = -1
        self.updates = 0
        self.configured = False
        self.configured_for = None

    def get_state(self):
        """(rule, state (slots, n_params) copy, updates made, lr_in_velocity), or None
        without a state."""
        if self.state_rule < 0:
            return None
        return Rule(self.state_rule), self.state.copy(), self.updates, self.state_lr_in_velocity

    def set_state(self, rule, cnp.ndarray state, Py_ssize_t updates, bint lr_in_velocity=False):
        """Restore a state taken by get_state: the next configure with the same rule,
        number of buffers and (SGD) lr_in_velocity continues it. Needs claim()."""
        self.held()
        if rule not in (SGD, ADAM):
            raise ValueError(f"set_state: unknown rule {rule!r}")
        if not (is_buffer(state, self.typenum, 2) and state.shape[1] == self.layout.n_params
                and 0 <= state.shape[0] <= 3 and updates >= 0):
            raise ValueError(f"set_state: expected a C-contiguous {self.params.dtype} array "
                             f"of shape (slots, {self.layout.n_params}) and updates >= 0")
        self.state = state.copy()
        self.updates = updates
        self.state_rule = rule
        self.state_lr_in_velocity = rule == SGD and lr_in_velocity
        self.configured = False  # the settings come with the next configure
        self.configured_for = None

    # --- buffers -------------------------------------------------------------------

    cdef int reserve(self, Py_ssize_t rows) except -1:
        """Make the workspace hold batches of up to ``rows`` rows (allocating only to grow)."""
        cdef const Layout* L = &self.layout
        if rows <= self.rows and (not self.training.dropout
                                  or self.mask.shape[0] >= rows * L.width):
            return 0
        rows = max(rows, self.rows)
        dtype = self.params.dtype
        try:
            self.acts = np.empty(rows * L.width, dtype=dtype)
            self.delta = np.empty((2, rows * L.max_size), dtype=dtype)
            self.x_batch = np.empty((rows, self.n_inputs), dtype=dtype)
            self.label_batch = np.empty(rows, dtype=np.intp)
            self.target_batch = np.empty((rows, self.n_outputs), dtype=dtype)
            self.weight_batch = np.empty(rows, dtype=dtype)
            if self.training.dropout:
                self.mask = np.empty(rows * L.width, dtype=dtype)
                self.dropped = np.empty(rows * L.width, dtype=dtype)
        except MemoryError:
            self.rows = 0  # whatever was allocated is dropped with the next reserve
            need = rows * (L.width * (3 if self.training.dropout else 1) + 2 * L.max_size
                           + self.n_inputs + self.n_outputs + 1) * dtype.itemsize
            raise MemoryError(
                f"a batch of {rows} rows through layers {self.sizes.tolist()} needs "
                f"{need / 2**30:.1f} GiB of workspace, more than can be allocated: "
                f"train on smaller batches (batch_size)") from None
        self.rows = rows
        return 0

    cdef Work work(self, Py_ssize_t rows, bint update) except *:
        """The workspace for batches of ``rows`` rows, after checking that every buffer
        covers what the loops will touch."""
        cdef Work w
        cdef const Layout* L = &self.layout
        self.reserve(rows)
        if not (cnp.PyArray_SIZE(self.acts) >= rows * L.width
                and self.delta.shape[1] >= rows * L.max_size
                and cnp.PyArray_SIZE(self.x_batch) >= rows * self.n_inputs
                and cnp.PyArray_SIZE(self.label_batch) >= rows
                and cnp.PyArray_SIZE(self.target_batch) >= rows * self.n_outputs
                and cnp.PyArray_SIZE(self.weight_batch) >= rows
                and (not self.training.dropout
                     or (self.mask.shape[0] >= rows * L.width
                         and self.dropped.shape[0] >= rows * L.width
                         and self.keep.shape[0] == L.n_layers - 1))
                and cnp.PyArray_SIZE(self.grads) == L.n_params
                and (not update or (self.configured
                                    and self.state.shape[0] == state_slots(&self.opt)))):
            raise RuntimeError("the network's workspace does not cover this call (a bug)")
        w.grads, w.state = data(self.grads), data(self.state)
        w.acts, w.delta = data(self.acts), data(self.delta)
        w.delta_stride = self.delta.shape[1]
        w.x_batch, w.target_batch = data(self.x_batch), data(self.target_batch)
        w.label_batch = <Py_ssize_t*> data(self.label_batch)
        w.weight_batch = data(self.weight_batch)
        w.updates, w.grads_clear = self.updates, self.grads_clear
        w.keep, w.rng, w.mask, w.dropped = NULL, &self.rng, NULL, NULL
        if self.training.dropout:
            w.keep = <const double*> data(self.keep)
            w.mask, w.dropped = data(self.mask), data(self.dropped)
        return w

    cdef bint fits(self, object X, object y):
        """Are X and y exactly what the loops read: exact ndarrays of the model's dtype
        in native byte order, C order, the right shapes, every label in range, every
        binary cross-entropy target 0 or 1 and every value finite? (Checked with the
        GIL held, rank before shape.)"""
        cdef cnp.ndarray x_arr, y_arr
        if not is_buffer(X, self.typenum, 2):
            return False
        x_arr = X
        if (x_arr.shape[1] != self.n_inputs or not 0 < x_arr.shape[0] <= INT_MAX
                or self.overlaps_params(x_arr)):
            return False
        if not uses_labels(self.kind):
            if not is_buffer(y, self.typenum, 2):
                return False
            y_arr = y
            if (y_arr.shape[0] != x_arr.shape[0] or y_arr.shape[1] != self.n_outputs
                    or self.overlaps_params(y_arr)):
                return False
            if not (all_binary_array(y_arr) if self.kind == BINARY_CROSS_ENTROPY
                    else all_finite_array(y_arr)):
                return False
        else:
            if not is_buffer(y, cnp.NPY_INTP, 1):
                return False
            y_arr = y
            if y_arr.shape[0] != x_arr.shape[0] or not labels_in_range(y_arr, self.n_outputs):
                return False
        return all_finite_array(x_arr)

    cdef bint overlaps_params(self, cnp.ndarray a) noexcept:
        """Does a's memory meet the parameters' (the update would change the data it
        reads)?"""
        cdef char* start = <char*> cnp.PyArray_DATA(a)
        cdef char* end = start + cnp.PyArray_NBYTES(a)
        cdef char* p_start = <char*> cnp.PyArray_DATA(self.params)
        cdef char* p_end = p_start + cnp.PyArray_NBYTES(self.params)
        return start < p_end and p_start < end

    cdef int check_weights(self, object weights, Py_ssize_t n, str caller) except -1:
        """ValueError unless ``weights`` is None or n positive, finite row weights of the
        model's dtype (C-contiguous) whose sum is finite in that dtype."""
        cdef cnp.ndarray arr
        cdef double total = 0
        cdef bint positive
        if weights is None:
            return 0
        if is_buffer(weights, self.typenum, 1) and (<cnp.ndarray> weights).shape[0] == n:
            arr = weights
            if self.typenum == cnp.NPY_DOUBLE:
                positive = all_positive(<const double*> cnp.PyArray_DATA(arr), n, &total)
            else:
                positive = all_positive(<const float*> cnp.PyArray_DATA(arr), n, &total)
            if positive and finite_in(total, self.typenum):
                return 0
        raise ValueError(f"{caller}: weights must be a C-contiguous vector of {n} positive, "
                         f"finite {self.params.dtype} row weights with a finite sum")

    cdef Data batch(self, cnp.ndarray X, cnp.ndarray y, object weights=None):
        cdef Data d
        d.X, d.n, d.order, d.grad_x = cnp.PyArray_DATA(X), X.shape[0], NULL, NULL
        d.weights = cnp.PyArray_DATA(<cnp.ndarray> weights) if weights is not None else NULL
        d.labels = <const Py_ssize_t*> cnp.PyArray_DATA(y) if uses_labels(self.kind) else NULL
        d.targets = cnp.PyArray_DATA(y) if not uses_labels(self.kind) else NULL
        return d

    # --- passes ------------------------------------------------------------------------

    def step_sgd(self, X, y, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        """One torch.optim.SGD step (dampening 0) on the batch (X, y); returns the
        batch's mean loss before it.

        Returns None, computing nothing, unless X and y pass ``fits`` and the
        hyper-parameters are Python floats (nesterov a bool) that are valid and
        finite in the model's dtype: fastmlp.model then checks and converts them.
        The momentum buffer continues from earlier SGD steps with momentum.
        """
        cdef Optimizer o
        if not (PyFloat_CheckExact(lr) and PyFloat_CheckExact(momentum)
                and PyFloat_CheckExact(weight_decay) and PyBool_Check(nesterov)):
            return None
        o.rule, o.lr, o.momentum, o.dampening = SGD, lr, momentum, 0
        o.weight_decay, o.l2, o.beta1, o.beta2, o.eps = weight_decay, 0, 0, 0, 0
        o.nesterov, o.amsgrad, o.decoupled, o.eps_before_correction = nesterov, 0, 0, 0
        o.lr_in_velocity = 0
        if not (self.in_range(&o) and self.fits(X, y)):
            return None
        self.take()
        try:
            self.set_optimizer(&o)
            self.configured_for = None
            return self.update_step(X, y)
        finally:
            self.busy = False

    def step(self, X, y):
        """One step of the configured optimizer on the batch (X, y); returns the batch's
        mean loss before it, or None (computing nothing) unless X and y pass ``fits``."""
        if not self.configured:
            raise RuntimeError("step: configure the optimizer first")
        if not self.fits(X, y):
            return None
        self.take()
        try:
            return self.update_step(X, y)
        finally:
            self.busy = False

    cdef double update_step(self, cnp.ndarray X, cnp.ndarray y) except? -1:
        cdef double loss = self.run(X, y, True, None)
        # An update can overflow where the loss before it was finite; fit rolls back,
        # a single step can only say so (the scan costs a fraction of a percent of
        # the step).
        if isfinite(loss) and not all_finite_array(self.params):
            raise FloatingPointError(
                f"this step's update overflowed the parameters to inf or NaN (lr="
                f"{self.opt.lr:g}): the model is no longer usable; reload or re-create it "
                f"and use a lower learning rate")
        return loss

    def backprop(self, X, y, cnp.ndarray grad_x=None, weights=None):
        """Gradients of the mean loss on (X, y) (weighted by ``weights`` (n,) when given)
        into ``grads`` (and dL/dX into ``grad_x`` (n, sizes[0]) when given), without an
        update; returns the loss. X and y must pass ``fits``. Needs claim()."""
        self.held()
        if not self.fits(X, y):
            raise ValueError("backprop needs X and y in the model's exact form (see fits)")
        self.check_weights(weights, X.shape[0], "backprop")
        if grad_x is not None and not (is_buffer(grad_x, self.typenum, 2)
                                       and grad_x.shape[0] == X.shape[0]
                                       and grad_x.shape[1] == self.n_inputs):
            raise ValueError(f"grad_x must be a C-contiguous {self.params.dtype} array of "
                             f"shape ({X.shape[0]}, {self.n_inputs})")
        return self.run(X, y, False, grad_x, weights)

    def apply(self, Py_ssize_t rows):
        """One update of the configured optimizer from the gradient in ``grads``, taken
        as that of the mean loss over a batch of ``rows`` rows (the batch size of the
        l2 term): the update a step on that batch makes, from a gradient computed
        elsewhere (fastmlp.distributed sums the ranks' gradients into ``grads``).
        ``grads`` is read, not changed. Needs claim()."""
        self.held()
        if not self.configured:
            raise RuntimeError("apply: configure the optimizer first")
        if rows < 1:
            raise ValueError(f"apply: rows must be >= 1; got {rows}")
        cdef Work w = self.work(1, True)
        w.updates += 1
        with nogil:
            if self.typenum == cnp.NPY_DOUBLE:
                apply_update(&self.layout, &self.opt, &w, <double*> self.p,
                             self.opt.l2 / rows, False)
            else:
                apply_update(&self.layout, &self.opt, &w, <float*> self.p,
                             self.opt.l2 / rows, False)
        self.updates, self.grads_clear = w.updates, w.grads_clear

    cdef double run(self, cnp.ndarray X, cnp.ndarray y, bint update,
                    cnp.ndarray grad_x, object weights=None) except? -1:
        """train_step on checked arrays, with the GIL released when it pays."""
        cdef Py_ssize_t correct = 0, n = X.shape[0]
        cdef double loss
        cdef Data d = self.batch(X, y, weights)
        cdef Work w = self.work(n, update)
        cdef const Optimizer* o = &self.opt if update else NULL
        if grad_x is not None:
            d.grad_x = data(grad_x)
        # Releasing and retaking the GIL costs about as much as a whole step of a
        # tiny network, so only a step with real work lets other threads run.
        if n * self.layout.max_size >= RELEASE_GIL_WORK:
            with nogil:
                loss = self.run_step(o, &w, &d, &correct)
        else:
            loss = self.run_step(o, &w, &d, &correct)
        self.updates, self.grads_clear = w.updates, w.grads_clear
        self.last_rows = n
        self.last_keep = self.keep if self.training.dropout else None
        return loss

    cdef double run_step(self, const Optimizer* o, Work* w, const Data* d,
                         Py_ssize_t* correct) noexcept nogil:
        """train_step in the model's dtype, the weights' sum taken in double"""
        cdef double sw_sum = d.n
        cdef Py_ssize_t i
        if self.typenum == cnp.NPY_DOUBLE:
            if d.weights != NULL:
                sw_sum = 0
                for i in range(d.n):
                    sw_sum = sw_sum + (<const double*> d.weights)[i]
            return train_step(&self.layout, self.act, self.kind, o, &self.training, w,
                              <double*> self.p, <const double*> d.X, d.labels,
                              <const double*> d.targets, <const double*> d.weights, sw_sum,
                              d.n, <double*> d.grad_x, correct)
        if d.weights != NULL:
            sw_sum = 0
            for i in range(d.n):
                sw_sum = sw_sum + (<const float*> d.weights)[i]
        return train_step(&self.layout, self.act, self.kind, o, &self.training, w,
                          <float*> self.p, <const float*> d.X, d.labels,
                          <const float*> d.targets, <const float*> d.weights, sw_sum, d.n,
                          <float*> d.grad_x, correct)

    def train_epoch(self, cnp.ndarray X, cnp.ndarray labels, cnp.ndarray targets,
                    cnp.ndarray order, Py_ssize_t batch_size, weights=None):
        """One epoch of minibatch training with the configured optimizer and the
        training settings over X (the model's dtype, C-contiguous; labels intp in
        range for cross-entropy and the hinge losses or targets for the other losses,
        the other empty). ``order`` is a permutation of the rows (intp) or empty for
        the rows in sequence; ``weights`` None or the rows' (n,) positive weights.
        Needs claim().

        Returns (sum over batches of mean loss * rows, correct predictions, batches
        completed, status, sum over batches of the L2 penalty * rows) with status
        "done", "diverged" (a batch's loss was not finite; it made no update) or
        "overflowed" (the parameters are not all finite after the last step). The
        penalty is 0.5 * l2 * sum ||W_l||^2 / rows of each batch's weights before its
        update (0 when l2 is 0), scikit-learn's alpha term of its loss. Ctrl-C
        raises KeyboardInterrupt after the step in progress, leaving the parameters
        of the last completed step.
        """
        self.held()
        cdef Py_ssize_t n = X.shape[0] if cnp.PyArray_NDIM(X) == 2 else 0
        if not (is_buffer(X, self.typenum, 2) and n > 0 and X.shape[1] == self.n_inputs):
            raise ValueError("train_epoch: X must be a C-contiguous array of the model's "
                             f"dtype with {self.n_inputs} columns")
        if uses_labels(self.kind):
            if not (is_buffer(labels, cnp.NPY_INTP, 1) and labels.shape[0] == n
                    and labels_in_range(labels, self.n_outputs)):
                raise ValueError(f"train_epoch: labels must be {n} intp labels in "
                                 f"[0, {self.n_outputs})")
        elif not (is_buffer(targets, self.typenum, 2) and targets.shape[0] == n
                  and targets.shape[1] == self.n_outputs):
            raise ValueError(f"train_epoch: targets must have shape ({n}, {self.n_outputs})")
        if cnp.PyArray_SIZE(order) > 0 and not (is_buffer(order, cnp.NPY_INTP, 1)
                                                and order.shape[0] == n
                                                and labels_in_range(order, n)):
            raise ValueError(f"train_epoch: order must be {n} row indices in [0, {n})")
        if not 1 <= batch_size <= min(n, INT_MAX):
            raise ValueError(f"train_epoch: batch_size must be in [1, {n}]; got {batch_size}")
        self.check_weights(weights, n, "train_epoch")
        if not self.configured:
            raise RuntimeError("train_epoch: configure the optimizer first")
        cdef double loss_sum = 0, penalty_sum = 0
        cdef Py_ssize_t correct = 0, batches = 0
        cdef Status status
        cdef Data d = self.batch(X, labels if uses_labels(self.kind) else targets, weights)
        d.order = <const Py_ssize_t*> data(order)
        cdef Work w = self.work(batch_size, True)
        with nogil:
            if self.typenum == cnp.NPY_DOUBLE:
                status = train_epoch(&self.layout, self.act, self.kind, &self.opt,
                                     &self.training, &w, <double*> self.p, &d, batch_size,
                                     &loss_sum, &correct, &batches, &penalty_sum)
            else:
                status = train_epoch(&self.layout, self.act, self.kind, &self.opt,
                                     &self.training, &w, <float*> self.p, &d, batch_size,
                                     &loss_sum, &correct, &batches, &penalty_sum)
        self.updates, self.grads_clear = w.updates, w.grads_clear
        self.last_rows = n - (batches - 1) * batch_size if status != DIVERGED and batches else 0
        self.last_keep = self.keep if self.training.dropout else None
        if status == INTERRUPTED:
            raise_pending()
        return (loss_sum, correct, batches,
                "diverged" if status == DIVERGED else
                "overflowed" if status == OVERFLOWED else "done", penalty_sum)

    def forward(self, cnp.ndarray X, cnp.ndarray acts, bint probabilities):
        """acts (X.shape[0] * sum(sizes[1:]),) := every layer's output for the checked X;
        the last is the probabilities when ``probabilities``: softmax(z) for
        cross-entropy, sigmoid(z) for binary cross-entropy (MSE, hinge: z). Reads the
        parameters only, so several threads may call it at once with their own
        ``acts``."""
        cdef const Layout* L = &self.layout
        if not (is_buffer(X, self.typenum, 2) and X.shape[1] == self.n_inputs
                and X.shape[0] <= INT_MAX):
            raise ValueError(f"forward: X must be a C-contiguous array of the model's dtype "
                             f"with {self.n_inputs} columns")
        cdef Py_ssize_t n = X.shape[0], k = self.n_outputs
        if not (is_buffer(acts, self.typenum, 1) and acts.shape[0] == n * L.width):
            raise ValueError(f"forward: acts must be a C-contiguous vector of the model's "
                             f"dtype with {n * L.width} entries; got {acts.shape[0]}")
        cdef Py_ssize_t last = n * L.out_off[L.n_layers - 1]
        cdef void* x = data(X)
        cdef void* out = data(acts)
        if n == 0:
            return
        with nogil:
            if self.typenum == cnp.NPY_DOUBLE:
                forward_layers(L, self.act, <double*> self.p, <double*> x, n,
                               <double*> out, NULL)
                if probabilities:
                    probabilities_of(self.kind, <double*> out + last, n, k)
            else:
                forward_layers(L, self.act, <float*> self.p, <float*> x, n,
                               <float*> out, NULL)
                if probabilities:
                    probabilities_of(self.kind, <float*> out + last, n, k)
