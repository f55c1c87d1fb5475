# cython: language_level=3
"""A whole multi-layer perceptron in one buffer: forward, training step and epoch.

Layout. The L layers' parameters live one after another in a single flat buffer
``params``: layer l holds W_l (sizes[l+1], sizes[l]) followed by b_l
(sizes[l+1],). ``grads`` and ``velocity`` have the same layout, so a layer's
SGD update is one call over W_l and b_l together. The activations workspace
``acts`` holds the (n, sizes[l+1]) outputs of the layers one after another: the
hidden ones after their activation, the last one raw (logits or predictions).
``delta`` holds two (n, max(sizes)) blocks that the backward pass alternates
between.

Design: one call into C per step, and one per epoch (gathering the shuffled
batches, stepping, and adding up the loss happen without the GIL). The work is
the shared workers of the other kernel modules, fused per layer:
    forward:   bias rows + GEMM (linear.pxd), activation in place on its output
    loss:      softmax, cross-entropy and dL/dz in one pass over each row (loss.pxd)
    backward:  grad_W, grad_b, then dL/d(input) by GEMM and the activation's
               derivative applied in place, then the layer's SGD update at once,
               while its gradient is still in cache (W_l is read before it changes).
Callers (fastmlp.model) validate every argument and allocate every buffer.
"""
from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating
from libc.math cimport isfinite
from libc.string cimport memcpy

from activations cimport Activation, activation_backward, activation_forward
from linear cimport linear_backward_input, linear_backward_params, linear_forward
from loss cimport mse, softmax_xent_labels
from sgd cimport sgd_update
from softmax cimport softmax_rows

# Output/loss kinds, as fastmlp.model names them.
cdef enum Loss:
    CROSS_ENTROPY = 0
    MSE = 1

# How train_epoch ended.
cdef enum Status:
    DONE = 0
    DIVERGED = 1
    INTERRUPTED = 2

# Batches between two looks at Ctrl-C: often enough to stop within a fraction of a
# second on any model, rarely enough that taking the GIL costs nothing measurable.
cdef enum:
    SIGNAL_EVERY = 8


cdef int raise_pending() except -1:
    """Propagate the exception a signal handler left set while we held the GIL."""
    return -1


cdef inline Py_ssize_t layer_size(const Py_ssize_t* sizes, Py_ssize_t l) noexcept nogil:
    """Number of parameters of layer l: W_l and b_l."""
    return sizes[l + 1] * sizes[l] + sizes[l + 1]


cdef inline void forward_layers(const Py_ssize_t* sizes, Py_ssize_t n_layers,
                                const floating* params, const floating* x, Py_ssize_t n,
                                Activation act, floating* acts) noexcept nogil:
    """acts := the outputs of every layer for the n rows of x (n, sizes[0])"""
    cdef Py_ssize_t l, n_in, n_out
    cdef const floating* a_in = x
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        linear_forward(a_in, params, params + n_out * n_in, acts, n, n_in, n_out)
        if l < n_layers - 1:
            activation_forward(act, acts, acts, n * n_out)
        params += layer_size(sizes, l)
        a_in = acts
        acts += n * n_out


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


cdef inline floating loss_and_delta(Loss kind, const floating* out, const Py_ssize_t* labels,
                                    const floating* targets, Py_ssize_t n, Py_ssize_t k,
                                    floating* delta) noexcept nogil:
    """Mean loss of the last layer's raw output (n, k); delta := dL/d(output)."""
    if kind == CROSS_ENTROPY:
        return softmax_xent_labels(out, labels, NULL, 0, n, k, delta)
    return mse(out, targets, n, k, delta)


cdef inline void backward_layers(const Py_ssize_t* sizes, Py_ssize_t n_layers,
                                 floating* params, floating* grads, const floating* x,
                                 const floating* acts, Py_ssize_t n, Activation act,
                                 floating* delta, floating* delta_next, floating* grad_x,
                                 bint update, floating lr, floating momentum,
                                 floating* velocity, bint nesterov,
                                 floating weight_decay) noexcept nogil:
    """Back from delta = dL/d(last output) (n, sizes[-1]) through every layer.

    Writes every layer's gradient into grads; with ``update``, applies the SGD
    step to each layer as soon as its gradient exists. ``grad_x`` (n, sizes[0])
    receives dL/dx unless it is NULL.
    """
    cdef Py_ssize_t l, n_in, n_out, p_off = 0, a_off = 0
    cdef floating* W
    cdef floating* swap
    cdef const floating* a_in
    for l in range(n_layers):
        p_off += layer_size(sizes, l)
        a_off += n * sizes[l + 1]
    a_off -= n * sizes[n_layers]  # start of the last layer's output
    for l in range(n_layers - 1, -1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        p_off -= layer_size(sizes, l)
        a_off -= n * n_in
        W = params + p_off
        a_in = x if l == 0 else acts + a_off
        linear_backward_params(a_in, delta, grads + p_off, grads + p_off + n_out * n_in,
                               n, n_in, n_out)
        if l > 0:
            linear_backward_input(W, delta, delta_next, n, n_in, n_out)
            activation_backward(act, a_in, delta_next, n * n_in)
        elif grad_x != NULL:
            linear_backward_input(W, delta, grad_x, n, n_in, n_out)
        if update:
            sgd_update(W, grads + p_off, layer_size(sizes, l), lr, momentum,
                       velocity + p_off if velocity != NULL else NULL, nesterov,
                       weight_decay)
        swap = delta
        delta = delta_next
        delta_next = swap


cdef inline floating train_step(const Py_ssize_t* sizes, Py_ssize_t n_layers,
                                floating* params, floating* grads, floating* velocity,
                                const floating* x, const Py_ssize_t* labels,
                                const floating* targets, Py_ssize_t n, Activation act,
                                Loss kind, floating* acts, floating* delta,
                                Py_ssize_t delta_stride, floating* grad_x, bint update,
                                floating lr, floating momentum, bint nesterov,
                                floating weight_decay, Py_ssize_t* n_correct) noexcept nogil:
    """One forward, loss and backward pass over a batch, with the update when asked.

    Returns the batch's mean loss. When it is not finite nothing is updated, so
    the parameters stay those of the last finite step.
    """
    cdef Py_ssize_t k = sizes[n_layers]
    cdef const floating* out = acts
    cdef Py_ssize_t l
    cdef floating loss
    forward_layers(sizes, n_layers, params, x, n, act, acts)
    for l in range(n_layers - 1):
        out += n * sizes[l + 1]
    if kind == CROSS_ENTROPY:
        n_correct[0] = count_correct(out, labels, n, k)
    loss = loss_and_delta(kind, out, labels, targets, n, k, delta)
    if not isfinite(loss):
        return loss
    backward_layers(sizes, n_layers, params, grads, x, acts, n, act, delta,
                    delta + delta_stride, grad_x, update, lr, momentum, velocity,
                    nesterov, weight_decay)
    return loss


def forward(const Py_ssize_t[::1] sizes, const floating[::1] params,
            const floating[:, ::1] x, floating[::1] acts, int act, int kind):
    """acts := every layer's output for x; the last is softmax(z) for cross-entropy."""
    cdef Py_ssize_t n_layers = sizes.shape[0] - 1, n = x.shape[0], l
    cdef floating* out = &acts[0]
    with nogil:
        forward_layers(&sizes[0], n_layers, &params[0], &x[0, 0], n, <Activation> act, out)
        if kind == CROSS_ENTROPY:
            for l in range(n_layers - 1):
                out += n * sizes[l + 1]
            softmax_rows(out, out, n, sizes[n_layers])


def step(const Py_ssize_t[::1] sizes, floating[::1] params, floating[::1] grads,
         floating[::1] velocity, const floating[:, ::1] x, const Py_ssize_t[::1] labels,
         const floating[:, ::1] targets, floating[::1] acts, floating[:, ::1] delta,
         floating[:, ::1] grad_x, int act, int kind, bint update, floating lr,
         floating momentum, bint nesterov, floating weight_decay):
    """One batch: returns (mean loss, number of correct argmax predictions).

    ``velocity`` is empty when momentum is 0; ``labels`` is empty for MSE and
    ``targets`` empty (0, 0) for cross-entropy; ``grad_x`` is empty (0, 0) unless
    dL/dx is wanted.
    """
    cdef Py_ssize_t n_correct = 0
    cdef floating loss
    cdef floating* v = &velocity[0] if velocity.shape[0] > 0 else NULL
    cdef const Py_ssize_t* lab = &labels[0] if labels.shape[0] > 0 else NULL
    cdef const floating* tgt = &targets[0, 0] if targets.shape[0] > 0 else NULL
    cdef floating* gx = &grad_x[0, 0] if grad_x.shape[0] > 0 else NULL
    with nogil:
        loss = train_step(&sizes[0], sizes.shape[0] - 1, &params[0], &grads[0], v,
                          &x[0, 0], lab, tgt, x.shape[0], <Activation> act, <Loss> kind,
                          &acts[0], &delta[0, 0], delta.shape[1], gx, update, lr,
                          momentum, nesterov, weight_decay, &n_correct)
    return loss, n_correct


def train_epoch(const Py_ssize_t[::1] sizes, floating[::1] params, floating[::1] grads,
                floating[::1] velocity, const floating[:, ::1] X, const Py_ssize_t[::1] labels,
                const floating[:, ::1] targets, const Py_ssize_t[::1] order,
                Py_ssize_t batch_size, floating[:, ::1] x_batch, Py_ssize_t[::1] label_batch,
                floating[:, ::1] target_batch, floating[::1] acts, floating[:, ::1] delta,
                int act, int kind, floating lr, floating momentum, bint nesterov,
                floating weight_decay):
    """One epoch of minibatch SGD over the rows of X in the given ``order``.

    Rows order[i * batch_size: (i + 1) * batch_size] form batch i (the last may be
    smaller); they are gathered into the ``*_batch`` buffers. An empty ``order``
    means the rows in sequence, used in place without gathering.

    Returns (sum over batches of mean loss * batch rows, correct predictions,
    batches completed, status): status 0 when the epoch ran to its end, 1 when a
    batch's loss was not finite (that batch made no update), 2 when Ctrl-C was
    pressed (the exception is raised after the last completed step).
    """
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], k = sizes[sizes.shape[0] - 1]
    cdef Py_ssize_t b, start, rows, i, n_correct = 0, correct, batches = 0
    cdef bint sequential = order.shape[0] == 0
    cdef double loss_sum = 0
    cdef floating loss
    cdef Status status = DONE
    cdef floating* v = &velocity[0] if velocity.shape[0] > 0 else NULL
    cdef const floating* x
    cdef const Py_ssize_t* lab
    cdef const floating* tgt
    with nogil:
        for b in range((n + batch_size - 1) // batch_size):
            start = b * batch_size
            rows = min(batch_size, n - start)
            if sequential:
                x = &X[start, 0]
                lab = &labels[start] if kind == CROSS_ENTROPY else NULL
                tgt = &targets[start, 0] if kind == MSE else NULL
            else:
                for i in range(rows):
                    memcpy(&x_batch[i, 0], &X[order[start + i], 0], n_in * sizeof(floating))
                    if kind == CROSS_ENTROPY:
                        label_batch[i] = labels[order[start + i]]
                    else:
                        memcpy(&target_batch[i, 0], &targets[order[start + i], 0],
                               k * sizeof(floating))
                x = &x_batch[0, 0]
                lab = &label_batch[0] if kind == CROSS_ENTROPY else NULL
                tgt = &target_batch[0, 0] if kind == MSE else NULL
            correct = 0
            loss = train_step(&sizes[0], sizes.shape[0] - 1, &params[0], &grads[0], v, x,
                              lab, tgt, rows, <Activation> act, <Loss> kind, &acts[0],
                              &delta[0, 0], delta.shape[1], NULL, True, lr, momentum,
                              nesterov, weight_decay, &correct)
            if not isfinite(loss):
                status = DIVERGED
                break
            loss_sum += loss * rows
            n_correct += correct
            batches += 1
            if batches % SIGNAL_EVERY == 0:
                with gil:
                    if PyErr_CheckSignals() != 0:
                        status = INTERRUPTED
                if status == INTERRUPTED:
                    break
    if status == INTERRUPTED:
        raise_pending()
    return loss_sum, n_correct, batches, status
