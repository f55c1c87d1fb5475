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
    forward:   bias rows + GEMM (linear_ops.pxd), activation in place on its output
    loss:      softmax, cross-entropy and dL/dz in one pass over each row (loss_ops.pxd)
    backward:  grad_W, grad_b, then dL/d(input) by GEMM and the activation's
               derivative applied in place, then the layer's SGD update at once,
               while its gradient is still in cache (W_l is read before it changes).
The ``Network`` class holds those buffers for one model and is the only entry
point. Its ``step`` takes the fast path when X, y and the hyper-parameters are
already exactly what the loops need (checked here, in C, before the GIL is
released: exact types, shapes, C order, labels in range, every value finite)
and otherwise returns None so that fastmlp.model converts or rejects them with
a clear message; the other methods take arguments fastmlp.model has already
checked, and check that every buffer covers what the loops will touch.

Concurrency: the workspace, the gradients and the momentum buffer belong to one
training call at a time. ``step`` claims them itself; a caller that runs several
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
from libc.math cimport isfinite
from libc.limits cimport INT_MAX
from libc.string cimport memcpy

from activation_ops cimport (RELU, TANH, Activation, activation_backward,
                         activation_forward)
from linear_ops cimport (linear_backward_input, linear_backward_params, linear_forward,
                     linear_sgd_step)
from loss_ops cimport mse, softmax_xent_labels
from optim_ops cimport sgd_update
from softmax_ops cimport softmax_rows

# Output/loss kinds, as fastmlp.model names them.
cdef enum Loss:
    CROSS_ENTROPY = 0
    MSE = 1

# How train_epoch ended.
cdef enum Status:
    DONE = 0
    DIVERGED = 1
    INTERRUPTED = 2

# Rows times the widest layer below which a step keeps the GIL (see Network.step).
cdef enum:
    RELEASE_GIL_WORK = 4096

# Batches between two looks at Ctrl-C: often enough to stop within a fraction of a
# second on any model, rarely enough that taking the GIL costs nothing measurable.
cdef enum:
    SIGNAL_EVERY = 8


cnp.import_array()

cdef extern from "Python.h":
    # Declared without an exception value: a pending KeyboardInterrupt must reach
    # train_epoch's caller (through raise_pending), not be reported and dropped as
    # an exception inside a noexcept function.
    int check_signals "PyErr_CheckSignals"()


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


cdef inline bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """Are all n entries finite? (x - x is 0 for a finite x and NaN for inf or NaN; the
    OR of comparisons vectorises where a floating-point sum would not.)"""
    cdef Py_ssize_t i
    cdef int bad = 0
    for i in range(n):
        bad = bad | (x[i] - x[i] != 0)
    return bad == 0


cdef inline floating loss_and_delta(Loss kind, const floating* out, const Py_ssize_t* labels,
                                    const floating* targets, Py_ssize_t n, Py_ssize_t k,
                                    floating* delta) noexcept nogil:
    """Mean loss of the last layer's raw output (n, k); delta := dL/d(output)."""
    if kind == CROSS_ENTROPY:
        return softmax_xent_labels(out, labels, NULL, 0, n, k, delta, False)
    return mse(out, targets, n, k, delta)


cdef inline void backward_layers(const Py_ssize_t* sizes, Py_ssize_t n_layers,
                                 floating* params, floating* grads, const floating* x,
                                 const floating* acts, Py_ssize_t n, Activation act,
                                 floating* delta, floating* delta_next, floating* grad_x,
                                 bint update, floating lr, floating momentum,
                                 floating* velocity, bint nesterov,
                                 floating weight_decay) noexcept nogil:
    """Back from delta = dL/d(last output) (n, sizes[-1]) through every layer.

    Without ``update``, writes every layer's gradient into grads. With it, applies
    the SGD step to each layer as soon as its gradient exists: for plain SGD
    (momentum 0) the gradient product adds straight into the weights and grads
    is left alone; with momentum it goes through grads and the velocity.
    ``grad_x`` (n, sizes[0]) receives dL/dx unless it is NULL.
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
        # dL/d(input) first: it needs W before the update changes it.
        if l > 0:
            linear_backward_input(W, delta, delta_next, n, n_in, n_out)
            activation_backward(act, a_in, delta_next, n * n_in)
        elif grad_x != NULL:
            linear_backward_input(W, delta, grad_x, n, n_in, n_out)
        if update and momentum == 0:
            linear_sgd_step(a_in, delta, W, W + n_out * n_in, n, n_in, n_out, lr,
                            weight_decay)
        else:
            linear_backward_params(a_in, delta, grads + p_off, grads + p_off + n_out * n_in,
                                   n, n_in, n_out)
            if update:
                sgd_update(W, grads + p_off, layer_size(sizes, l), lr, momentum, 0,
                           velocity + p_off, False, nesterov, weight_decay)
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


cdef inline Status train_epoch(const Py_ssize_t* sizes, Py_ssize_t n_layers,
                               floating* params, floating* grads, floating* velocity,
                               const floating* X, const Py_ssize_t* labels,
                               const floating* targets, Py_ssize_t n,
                               const Py_ssize_t* order, Py_ssize_t batch_size,
                               floating* x_batch, Py_ssize_t* label_batch,
                               floating* target_batch, Activation act, Loss kind,
                               floating* acts, floating* delta, Py_ssize_t delta_stride,
                               floating lr, floating momentum, bint nesterov,
                               floating weight_decay, double* loss_sum,
                               Py_ssize_t* n_correct, Py_ssize_t* batches) noexcept nogil:
    """One epoch of minibatch SGD over the n rows of X, visited in ``order``.

    Rows order[b * batch_size: (b + 1) * batch_size] form batch b (the last may
    be smaller) and are gathered into the ``*_batch`` buffers; a NULL ``order``
    means the rows in sequence, used in place. Adds up the loss times the batch's
    rows and the correct predictions, counts the completed batches, and stops
    early on a non-finite loss (that batch makes no update) or Ctrl-C.
    """
    cdef Py_ssize_t n_in = sizes[0], k = sizes[n_layers]
    cdef Py_ssize_t b, start, rows, i, correct
    cdef const floating* x
    cdef const Py_ssize_t* lab
    cdef const floating* tgt
    cdef floating loss
    cdef bint interrupted = False
    for b in range((n + batch_size - 1) // batch_size):
        start = b * batch_size
        rows = min(batch_size, n - start)
        if order == NULL:
            x = X + start * n_in
            lab = labels + start if labels != NULL else NULL
            tgt = targets + start * k if targets != NULL else NULL
        else:
            for i in range(rows):
                memcpy(x_batch + i * n_in, X + order[start + i] * n_in, n_in * sizeof(floating))
                if labels != NULL:
                    label_batch[i] = labels[order[start + i]]
                else:
                    memcpy(target_batch + i * k, targets + order[start + i] * k,
                           k * sizeof(floating))
            x, lab, tgt = x_batch, label_batch, target_batch
        correct = 0
        loss = train_step(sizes, n_layers, params, grads, velocity, x, lab, tgt, rows, act,
                          kind, acts, delta, delta_stride, NULL, True, lr, momentum, nesterov,
                          weight_decay, &correct)
        if not isfinite(loss):
            return DIVERGED
        loss_sum[0] += loss * rows
        n_correct[0] += correct
        batches[0] += 1
        if batches[0] % SIGNAL_EVERY == 0:
            with gil:
                interrupted = check_signals() != 0
            if interrupted:
                return INTERRUPTED
    return DONE


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


cdef struct Buffers:
    # The model's buffers as raw pointers, taken with the GIL held, for the loops.
    Py_ssize_t* sizes
    void* params
    void* grads
    void* acts
    void* delta
    Py_ssize_t delta_stride
    void* x_batch
    Py_ssize_t* label_batch
    void* target_batch


cdef class Network:
    """The compiled state of one MLP: its parameters, gradients, momentum buffer
    and training workspace, as arrays this object keeps alive.

    Parameters
    ----------
    sizes : ndarray of intp
        The layer sizes, input first (two or more, each >= 1).
    params : ndarray, float32 or float64, C-contiguous
        The flat parameter buffer (see the module docstring); updated in place.
    activation, loss : int
        The hidden activation (0 tanh, 1 sigmoid, 2 relu) and the loss
        (0 cross-entropy with softmax outputs, 1 MSE with linear outputs).
    """
    cdef readonly cnp.ndarray sizes, params, grads, velocity
    cdef cnp.ndarray acts, delta, x_batch, label_batch, target_batch
    cdef Py_ssize_t n_layers, rows, max_size, n_inputs, n_outputs, n_acts
    cdef int typenum
    cdef Activation act
    cdef Loss kind
    cdef bint busy

    def __init__(self, cnp.ndarray sizes, cnp.ndarray params, int activation, int loss):
        cdef Py_ssize_t l, n_params = 0
        if not is_buffer(sizes, cnp.NPY_INTP, 1) or sizes.shape[0] < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be two or more positive intp sizes; got {sizes!r}")
        self.sizes = sizes.copy()  # the loops read it: never a buffer someone else holds
        self.n_layers = sizes.shape[0] - 1
        for l in range(self.n_layers):
            n_params += layer_size(<Py_ssize_t*> cnp.PyArray_DATA(self.sizes), l)
        if not ((is_buffer(params, cnp.NPY_FLOAT, 1) or is_buffer(params, cnp.NPY_DOUBLE, 1))
                and params.shape[0] == n_params):
            raise ValueError(f"params must be a C-contiguous float32/float64 vector of "
                             f"{n_params} parameters; got {params!r}")
        if not TANH <= activation <= RELU or loss not in (CROSS_ENTROPY, MSE):
            raise ValueError(f"unknown activation or loss code: {activation}, {loss}")
        self.params = params
        self.grads = cnp.PyArray_ZEROS(1, cnp.PyArray_DIMS(params), cnp.PyArray_TYPE(params), 0)
        self.velocity = params[:0]
        self.max_size = max(sizes)
        self.n_inputs, self.n_outputs = sizes[0], sizes[self.n_layers]
        self.n_acts = sum(sizes[1:])
        self.typenum = cnp.PyArray_TYPE(params)
        self.act = <Activation> activation
        self.kind = <Loss> loss
        self.rows = 0
        self.busy = False

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

    # --- buffers -------------------------------------------------------------------

    cdef int reserve(self, Py_ssize_t rows) except -1:
        """Make the workspace hold batches of up to ``rows`` rows (allocating only to grow)."""
        if rows <= self.rows:
            return 0
        dtype = self.params.dtype
        try:
            self.acts = np.empty(rows * self.n_acts, dtype=dtype)
            self.delta = np.empty((2, rows * self.max_size), dtype=dtype)
            self.x_batch = np.empty((rows, self.n_inputs), dtype=dtype)
            self.label_batch = np.empty(rows, dtype=np.intp)
            self.target_batch = np.empty((rows, self.n_outputs), dtype=dtype)
        except MemoryError:
            self.rows = 0  # whatever was allocated is dropped with the next reserve
            need = rows * (self.n_acts + 2 * self.max_size + self.n_inputs
                           + self.n_outputs) * dtype.itemsize
            raise MemoryError(
                f"a batch of {rows} rows through layers {self.sizes.tolist()} needs "
                f"{need / 2**30:.1f} GiB of workspace, more than can be allocated: "
                f"train on smaller batches (batch_size)") from None
        self.rows = rows
        return 0

    def reset_velocity(self, bint keep):
        """Start the momentum buffer at zero (keep=True) or drop it (keep=False).
        Needs claim()."""
        self.held()
        self.velocity = np.zeros_like(self.params) if keep else self.params[:0]

    cdef Buffers buffers(self):
        cdef Buffers b
        b.sizes = <Py_ssize_t*> data(self.sizes)
        b.params, b.grads = data(self.params), data(self.grads)
        b.acts, b.delta = data(self.acts), data(self.delta)
        b.delta_stride = self.delta.shape[1]
        b.x_batch, b.target_batch = data(self.x_batch), data(self.target_batch)
        b.label_batch = <Py_ssize_t*> data(self.label_batch)
        return b

    cdef bint fits(self, object X, object y):
        """Are X and y exactly what the loops read: exact ndarrays of the model's dtype
        in native byte order, C order, the right shapes, every label in range and
        every value finite? (Checked with the GIL held, rank before shape.)"""
        cdef cnp.ndarray x_arr, y_arr
        if not is_buffer(X, self.typenum, 2):
            return False
        x_arr = X
        if (x_arr.shape[1] != self.n_inputs or not 0 < x_arr.shape[0] <= INT_MAX
                or self.overlaps_params(x_arr)):
            return False
        if self.kind == MSE:
            if not is_buffer(y, self.typenum, 2):
                return False
            y_arr = y
            if (y_arr.shape[0] != x_arr.shape[0] or y_arr.shape[1] != self.n_outputs
                    or self.overlaps_params(y_arr)):
                return False
            if not all_finite_array(y_arr):
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

    # --- passes ------------------------------------------------------------------------

    def step(self, X, y, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        """One SGD step on the batch (X, y); returns the batch's mean loss before it.

        Returns None, computing nothing, unless X and y pass ``fits`` and the
        hyper-parameters are Python floats (nesterov a bool) that are valid and
        finite in the model's dtype: fastmlp.model then checks and converts them.
        With momentum, the buffer is created at zero on first use and kept.
        """
        cdef double lr_, momentum_, weight_decay_
        if not (PyFloat_CheckExact(lr) and PyFloat_CheckExact(momentum)
                and PyFloat_CheckExact(weight_decay) and PyBool_Check(nesterov)):
            return None
        lr_, momentum_, weight_decay_ = lr, momentum, weight_decay
        if not (finite_in(lr_, self.typenum) and positive_in(lr_, self.typenum)
                and finite_in(momentum_, self.typenum) and momentum_ >= 0
                and finite_in(weight_decay_, self.typenum) and weight_decay_ >= 0
                and (momentum_ > 0 or not nesterov)):
            return None
        if not self.fits(X, y):
            return None
        self.take()
        try:
            loss = self.run(X, y, True, lr_, momentum_, nesterov, weight_decay_, None)
            # An update can overflow where the loss before it was finite; fit rolls
            # back to a snapshot, a single step can only say so (the scan costs a
            # fraction of a percent of the step).
            if isfinite(loss) and not all_finite_array(self.params):
                raise FloatingPointError(
                    f"this step's update overflowed the parameters to inf or NaN (lr={lr}, "
                    f"momentum={momentum}, weight_decay={weight_decay}): the model is no "
                    f"longer usable; reload or re-create it and use a lower learning rate")
            return loss
        finally:
            self.busy = False

    def backprop(self, X, y, cnp.ndarray grad_x=None):
        """Gradients of the mean loss on (X, y) into ``grads`` (and dL/dX into
        ``grad_x`` (n, sizes[0]) when given), without an update; returns the loss.
        X and y must pass ``fits``. Needs claim()."""
        self.held()
        if not self.fits(X, y):
            raise ValueError("backprop needs X and y in the model's exact form (see fits)")
        if grad_x is not None and not (is_buffer(grad_x, self.typenum, 2)
                                       and grad_x.shape[0] == X.shape[0]
                                       and grad_x.shape[1] == self.n_inputs):
            raise ValueError(f"grad_x must be a C-contiguous {self.params.dtype} array of "
                             f"shape ({X.shape[0]}, {self.n_inputs})")
        return self.run(X, y, False, 0.0, 0.0, False, 0.0, grad_x)

    cdef double run(self, cnp.ndarray x_arr, cnp.ndarray y_arr, bint update, double lr,
                    double momentum, bint nesterov, double weight_decay,
                    cnp.ndarray grad_x) except? -1:
        """train_step on checked arrays, with the GIL released when it pays."""
        cdef Py_ssize_t correct = 0, n = x_arr.shape[0]
        cdef double loss
        cdef const Py_ssize_t* lab = NULL
        cdef void* tgt = NULL
        cdef void* gx = data(grad_x) if grad_x is not None else NULL
        cdef void* x = cnp.PyArray_DATA(x_arr)
        cdef void* v = NULL
        self.reserve(n)
        if update and momentum != 0:
            if cnp.PyArray_SIZE(self.velocity) == 0:
                self.velocity = np.zeros_like(self.params)
            v = data(self.velocity)
        if self.kind == CROSS_ENTROPY:
            lab = <const Py_ssize_t*> cnp.PyArray_DATA(y_arr)
        else:
            tgt = cnp.PyArray_DATA(y_arr)
        cdef Buffers b = self.buffers()
        # Releasing and retaking the GIL costs about as much as a whole step of a
        # tiny network, so only a step with real work lets other threads run.
        if n * self.max_size >= RELEASE_GIL_WORK:
            with nogil:
                loss = self.run_step(&b, x, lab, tgt, n, gx, update, lr, momentum, nesterov,
                                     weight_decay, v, &correct)
        else:
            loss = self.run_step(&b, x, lab, tgt, n, gx, update, lr, momentum, nesterov,
                                 weight_decay, v, &correct)
        return loss

    cdef double run_step(self, Buffers* b, void* x, const Py_ssize_t* lab, void* tgt,
                         Py_ssize_t n, void* gx, bint update, double lr, double momentum,
                         bint nesterov, double weight_decay, void* v,
                         Py_ssize_t* correct) noexcept nogil:
        """train_step in the model's dtype"""
        if self.typenum == cnp.NPY_DOUBLE:
            return train_step(b.sizes, self.n_layers, <double*> b.params, <double*> b.grads,
                              <double*> v, <double*> x, lab, <double*> tgt, n, self.act,
                              self.kind, <double*> b.acts, <double*> b.delta, b.delta_stride,
                              <double*> gx, update, lr, momentum, nesterov, weight_decay,
                              correct)
        return train_step(b.sizes, self.n_layers, <float*> b.params, <float*> b.grads,
                          <float*> v, <float*> x, lab, <float*> tgt, n, self.act, self.kind,
                          <float*> b.acts, <float*> b.delta, b.delta_stride, <float*> gx,
                          update, <float> lr, <float> momentum, nesterov,
                          <float> weight_decay, correct)

    def train_epoch(self, cnp.ndarray X, cnp.ndarray labels, cnp.ndarray targets,
                    cnp.ndarray order, Py_ssize_t batch_size, double lr, double momentum,
                    bint nesterov, double weight_decay):
        """One epoch of minibatch SGD over X (checked by the caller: C-contiguous, the
        model's dtype; labels intp in range for cross-entropy or targets for MSE, the
        other empty). ``order`` is a permutation of the rows (intp) or empty for
        the rows in sequence. The momentum buffer must be set up (reset_velocity).
        Needs claim().

        Returns (sum over batches of mean loss * rows, correct predictions, batches
        completed, diverged). Ctrl-C raises KeyboardInterrupt after the step in
        progress, leaving the parameters of the last completed step.
        """
        self.held()
        cdef Py_ssize_t n = X.shape[0] if cnp.PyArray_NDIM(X) == 2 else 0
        if not (is_buffer(X, self.typenum, 2) and n > 0 and X.shape[1] == self.n_inputs):
            raise ValueError("train_epoch: X must be a C-contiguous array of the model's "
                             f"dtype with {self.n_inputs} columns")
        if self.kind == CROSS_ENTROPY:
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
        if not 1 <= batch_size <= n:
            raise ValueError(f"train_epoch: batch_size must be in [1, {n}]; got {batch_size}")
        if momentum != 0 and cnp.PyArray_SIZE(self.velocity) != cnp.PyArray_SIZE(self.params):
            raise ValueError("train_epoch: momentum needs the velocity set up (reset_velocity)")
        cdef double loss_sum = 0
        cdef Py_ssize_t correct = 0, batches = 0
        cdef Status status
        cdef void* v = data(self.velocity) if momentum != 0 else NULL
        cdef void* lab = data(labels) if self.kind == CROSS_ENTROPY else NULL
        cdef void* tgt = data(targets) if self.kind == MSE else NULL
        cdef void* ordr = data(order)
        cdef void* x = data(X)
        self.reserve(batch_size)
        cdef Buffers b = self.buffers()
        with nogil:
            if self.typenum == cnp.NPY_DOUBLE:
                status = train_epoch(
                    b.sizes, self.n_layers, <double*> b.params, <double*> b.grads,
                    <double*> v, <double*> x, <Py_ssize_t*> lab, <double*> tgt, n,
                    <Py_ssize_t*> ordr, batch_size, <double*> b.x_batch, b.label_batch,
                    <double*> b.target_batch, self.act, self.kind, <double*> b.acts,
                    <double*> b.delta, b.delta_stride, lr, momentum, nesterov, weight_decay,
                    &loss_sum, &correct, &batches)
            else:
                status = train_epoch(
                    b.sizes, self.n_layers, <float*> b.params, <float*> b.grads,
                    <float*> v, <float*> x, <Py_ssize_t*> lab, <float*> tgt, n,
                    <Py_ssize_t*> ordr, batch_size, <float*> b.x_batch, b.label_batch,
                    <float*> b.target_batch, self.act, self.kind, <float*> b.acts,
                    <float*> b.delta, b.delta_stride, <float> lr, <float> momentum, nesterov,
                    <float> weight_decay, &loss_sum, &correct, &batches)
        if status == INTERRUPTED:
            raise_pending()
        return loss_sum, correct, batches, status == DIVERGED

    def forward(self, cnp.ndarray X, cnp.ndarray acts, bint probabilities):
        """acts (X.shape[0] * sum(sizes[1:]),) := every layer's output for the checked X;
        the last is softmax(z) when ``probabilities``. Reads the parameters only,
        so several threads may call it at once with their own ``acts``."""
        if not (is_buffer(X, self.typenum, 2) and X.shape[1] == self.n_inputs):
            raise ValueError(f"forward: X must be a C-contiguous array of the model's dtype "
                             f"with {self.n_inputs} columns")
        cdef Py_ssize_t n = X.shape[0], k = self.n_outputs
        if not (is_buffer(acts, self.typenum, 1) and acts.shape[0] == n * self.n_acts):
            raise ValueError(f"forward: acts must be a C-contiguous vector of the model's "
                             f"dtype with {n * self.n_acts} entries; got {acts.shape[0]}")
        cdef Py_ssize_t last = acts.shape[0] - n * k
        cdef Py_ssize_t* sizes = <Py_ssize_t*> data(self.sizes)
        cdef void* params = data(self.params)
        cdef void* x = data(X)
        cdef void* out = data(acts)
        if n == 0:
            return
        with nogil:
            if self.typenum == cnp.NPY_DOUBLE:
                forward_layers(sizes, self.n_layers, <double*> params, <double*> x, n,
                               self.act, <double*> out)
                if probabilities:
                    softmax_rows(<double*> out + last, <double*> out + last, n, k, False)
            else:
                forward_layers(sizes, self.n_layers, <float*> params, <float*> x, n,
                               self.act, <float*> out)
                if probabilities:
                    softmax_rows(<float*> out + last, <float*> out + last, n, k, False)
