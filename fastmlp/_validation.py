"""Input checks, each rule written once for the kernels, the model, datasets,
plotting and the command line.

Every public entry point validates here, in Python, before any compiled loop
releases the GIL: a bad argument gets a ``TypeError`` (wrong kind or dtype) or a
``ValueError`` (wrong shape, value or layout) whose message names the argument,
what was expected and what was received. One rule, one message: the same bad
value (a label out of range, NaN in data, a float for a count, a bool that is a
string, a path that is a number) reads the same wherever it is passed.

Dtype rules
-----------
* float32 and float64 arrays are computed in their own dtype.
* Integer and boolean arrays (and Python lists of numbers) are converted to the
  dtype of the call: float64 for the first array argument, the first array's
  dtype for the others.
* Two floating arrays of different precision in one call are an error: convert
  one yourself, so that no precision is lost or wasted in silence.
* Complex, object, string, float16 and other dtypes are a ``TypeError``.

Layout rules
------------
Inputs that are only read may have any memory layout or byte order; a strided,
Fortran-ordered or byte-swapped one is copied once into native C order. Arrays
the kernel writes (``out``, ``grad`` of the in-place backward forms, ``param``,
``velocity`` and Adam's state) must be C-contiguous, writeable ndarrays of the
exact dtype and shape in native byte order, because a copy would silently drop
the result; they must not overlap an input partially (an in-place call passes
the input itself), and an optimizer's state must overlap nothing. ndarray subclasses (``np.matrix``, ``np.memmap``) are computed through
a plain ndarray view of the same memory; masked arrays are refused, because
the kernels would read the values behind the mask as data.
"""
import math
import numbers
import os
import sys
from collections.abc import Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# Per float dtype: the largest finite value, and the largest magnitude that
# rounds to 0 (half the smallest subnormal; a tie rounds to the even 0).
_FLOAT_RANGE = {d: (np.finfo(d).max.item(), np.finfo(d).smallest_subnormal.item() / 2)
                for d in FLOAT_DTYPES}

# BLAS (the reference LP64 interface SciPy exposes) counts rows and columns in C ints.
BLAS_INT_MAX = 2**31 - 1


def _shape_text(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _dims_text(ndim):
    if isinstance(ndim, tuple):
        return " or ".join(f"{d}-D" for d in ndim)
    return f"{ndim}-D"


def reject_masked(x, name):
    """TypeError if ``x`` is a ``numpy.ma.MaskedArray``.

    The kernels see only an array's data: the values behind a mask would be
    used as if they were real (a masked 1e9 would take all of a softmax's mass).
    """
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain array, not a numpy.ma.MaskedArray: the kernels "
                        f"would use its masked values as data. Pass {name}.filled(value) or "
                        f"only its unmasked entries ({name}.compressed()).")


def as_array(x, name):
    """``x`` as an ndarray (the same object when it is one), masked arrays refused;
    nested lists NumPy cannot make an array of (rows of unequal length) are a
    ValueError that names ``x``."""
    reject_masked(x, name)
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array (nested lists of equal lengths); NumPy "
                         f"cannot convert it: {exc}") from None


def check_real_dtype(arr, name, dtype=None):
    """TypeError unless the ndarray ``arr`` holds real numbers (bool, integer or
    floating, of any precision); ``dtype``, when given, is what they are converted
    to, and the message says so."""
    if arr.dtype.kind not in "biuf":
        into = f" (converted to {np.dtype(dtype).name})" if dtype is not None else ""
        raise TypeError(f"{name} must be an array of real numbers{into}; got dtype {arr.dtype}")


def check_ndim(arr, name, ndim, shape_hint=""):
    """ValueError unless ``arr.ndim`` is ``ndim`` (an int or a tuple of accepted ones);
    ``shape_hint`` is how the expected shape reads, e.g. ``"(n_samples, n_classes)"``."""
    if arr.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(
            f"{name} must be a {_dims_text(ndim)} array{hint}; "
            f"got {arr.ndim}-D with shape {_shape_text(arr.shape)}"
        )


def check_not_empty(arr, name):
    """ValueError if ``arr`` has no elements."""
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {_shape_text(arr.shape)}")


def as_float_array(x, name, *, dtype=None, ndim=None, shape_hint=""):
    """Return ``x`` as a non-empty, C-contiguous float32/float64 ndarray in native
    byte order, of ``x``'s shape (a 0-d ``x`` stays 0-d).

    Parameters
    ----------
    x : array_like
        The argument.
    name : str
        Its name, for error messages.
    dtype : numpy dtype or None
        The dtype of the call. None lets ``x`` set it (integers become float64).
        Integers and Python floats (lists, numbers) take it; a floating array of
        another precision is a TypeError.
    ndim : int, tuple of int or None
        Accepted numbers of dimensions; None accepts any.
    shape_hint : str
        How the expected shape reads, e.g. ``"(n_samples, n_classes)"``.
    """
    arr = as_array(x, name)
    kind = arr.dtype.kind
    native = arr.dtype.newbyteorder("=")
    if native in FLOAT_DTYPES and dtype is not None and native != dtype \
            and not hasattr(x, "dtype"):
        # Python floats (a list, a number) carry no precision of their own: they
        # take the call's, as integers do.
        arr = arr.astype(dtype)
    elif native in FLOAT_DTYPES:
        if dtype is not None and native != dtype:
            raise TypeError(
                f"{name} must have dtype {np.dtype(dtype).name} like the other arrays of "
                f"this call; got {arr.dtype.name}. Convert one of them with .astype()."
            )
        if not arr.dtype.isnative:
            arr = arr.astype(native)
    elif kind in "iub":
        arr = arr.astype(np.float64 if dtype is None else dtype)
    else:
        raise TypeError(
            f"{name} must be an array of float32 or float64 (integers are converted); "
            f"got dtype {arr.dtype}"
        )
    if ndim is not None:
        check_ndim(arr, name, ndim, shape_hint)
    check_not_empty(arr, name)
    # Not np.ascontiguousarray, which turns a 0-d array into shape (1,).
    return np.asarray(arr, order="C")


def check_shape(arr, name, expected, why=""):
    """Raise ValueError unless ``arr.shape == expected``."""
    if arr.shape != tuple(expected):
        because = f" ({why})" if why else ""
        raise ValueError(
            f"{name} must have shape {_shape_text(expected)}{because}; "
            f"got {_shape_text(arr.shape)}"
        )


# Elements whose finiteness is tested at once: the temporary mask stays about a MB, so
# that checking a memory-mapped X never allocates a quarter of its size.
_FINITE_BLOCK = 1 << 20


def _first_nonfinite(arr):
    """The index (a tuple) of the first NaN or +-inf of ``arr`` in C order, or None;
    tested in blocks of leading-axis rows."""
    if arr.ndim == 0 or arr.size <= _FINITE_BLOCK:
        finite = np.isfinite(arr)
        if finite.all():
            return None
        return tuple(int(i) for i in np.unravel_index(np.argmin(finite), arr.shape))
    rows = max(1, _FINITE_BLOCK // (arr.size // arr.shape[0]))
    for start in range(0, arr.shape[0], rows):
        finite = np.isfinite(arr[start:start + rows])
        if not finite.all():
            index = np.unravel_index(np.argmin(finite), finite.shape)
            return (start + int(index[0]), *(int(i) for i in index[1:]))
    return None


def check_finite(arr, name, what="values", given=None):
    """ValueError, naming the first offending index, if ``arr`` holds NaN or +-inf.

    ``given`` is the data ``arr`` was converted from, if it was: where ``given``
    is finite and ``arr`` is not, the values overflowed ``arr``'s dtype (1e39 in
    float32), and the message says that instead.
    """
    first = _first_nonfinite(arr)
    if first is None:
        return
    where = first[0] if len(first) == 1 else first
    if given is not None:
        source = np.asarray(given)
        if source.dtype.kind in "iuf" and source.shape == arr.shape \
                and np.isfinite(source[first]):
            raise ValueError(f"{name} has {what} beyond the range of {arr.dtype.name}, the "
                             f"dtype it is computed in (first at index {where}: "
                             f"{source[first].item()!r}); scale the data, or compute in "
                             f"float64 (MLP(dtype=np.float64), or float64 arrays for the "
                             f"kernels)")
    raise ValueError(f"{name} contains NaN or infinite {what} (first at index {where}); "
                     f"they must be finite")


def as_finite_array(arr, name, dtype):
    """The real-number ndarray ``arr`` as a C-contiguous array of ``dtype``, all finite
    (see check_finite: a value that overflows ``dtype`` is reported as such)."""
    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the error below
        out = np.ascontiguousarray(arr, dtype=dtype)
    check_finite(out, name, given=arr)
    return out


def check_blas_dims(x, name):
    """Every dimension of ``x`` fits BLAS's 32-bit int (checked on the shape alone,
    before any conversion copies the data)."""
    if max(np.shape(x), default=0) > BLAS_INT_MAX:
        raise ValueError(f"{name} must have at most {BLAS_INT_MAX} rows and columns (BLAS "
                         f"counts them in 32-bit ints); got shape {_shape_text(np.shape(x))}")


def check_writable(arr, name, shape=None, dtype=None):
    """Check an array the kernel writes into and return it as a plain ndarray that
    shares its memory (so that an ``np.matrix`` or ``np.memmap`` is written in place).

    It must be an ndarray (not masked) of dtype ``dtype`` (None: float32 or
    float64, which then sets the call's dtype) in native byte order, of shape
    ``shape`` (None: any), C-contiguous and writeable.
    """
    reject_masked(arr, name)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray (it is written in place); "
                        f"got {type(arr).__name__}")
    native = arr.dtype.newbyteorder("=")
    if dtype is None and native not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64; got {arr.dtype}")
    if dtype is not None and native != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}; got {arr.dtype}")
    if not arr.dtype.isnative:
        raise TypeError(f"{name} must be in this machine's byte order ({native.str}), since "
                        f"the kernel writes it in place; got the byte-swapped dtype "
                        f"{arr.dtype.str}. Pass {name}.astype({native.name!r}) and keep that "
                        f"array.")
    if shape is not None:
        check_shape(arr, name, shape)
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (it is written in place); got an array "
                         f"with strides {arr.strides}. Pass np.ascontiguousarray({name}).")
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only, but the kernel writes into it")
    return arr if type(arr) is np.ndarray else arr.view(np.ndarray)


def check_no_partial_overlap(out, name, inputs):
    """Allow the written array ``out`` to be one of ``inputs`` (a dict name: array)
    exactly, for an in-place call, but not to overlap one partially: the loops
    would read entries they have already overwritten."""
    for inp_name, inp in inputs.items():
        if np.may_share_memory(out, inp) and not (
                out.__array_interface__["data"][0] == inp.__array_interface__["data"][0]
                and out.shape == inp.shape and out.strides == inp.strides):
            raise ValueError(f"{name} overlaps {inp_name} in memory without being the same "
                             f"array: pass {inp_name} itself as {name} for an in-place call, "
                             f"or a separate array")


def check_no_overlap(out, name, arrays, why=""):
    """The written array ``out`` shares no memory with any of ``arrays`` (a dict name: array)."""
    for other_name, other in arrays.items():
        if np.may_share_memory(out, other):
            raise ValueError(f"{name} must not share memory with {other_name}{why}")


def output_array(out, name, shape, dtype, inputs, in_place_ok=True):
    """Allocate the output, or check the one the caller gave (see check_writable) and
    that it does not overlap ``inputs`` (a dict name: array) partially, or at all
    when not ``in_place_ok``."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    out = check_writable(out, name, shape, dtype)
    if in_place_ok:
        check_no_partial_overlap(out, name, inputs)
    else:
        check_no_overlap(out, name, inputs, " (BLAS reads the inputs while it writes the output)")
    return out


def check_label_ndim(y, name, n_samples, n_classes, rows):
    """ValueError unless ``y`` is 1-D (labels) or 2-D (``rows``, e.g. "one-hot rows")."""
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} must be labels of shape ({n_samples},) or {rows} of shape "
                         f"({n_samples}, {n_classes}); got {y.ndim}-D with shape "
                         f"{_shape_text(y.shape)}")


def check_labels(y, name, n_samples, n_classes, rows_of="the data"):
    """Integer class labels of shape (n_samples,) in [0, n_classes), as np.intp:
    one per row of the array named ``rows_of``.

    Floats are accepted when every value is a whole number (e.g. 3.0), and booleans
    as the labels 0 and 1. ``n_classes=None`` checks no range (labels that only
    colour points). A bad label is named with its first index.
    """
    arr = as_array(y, name)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    check_shape(arr, name, (n_samples,), f"one label per row of {rows_of}")
    if arr.dtype.kind == "f":
        check_finite(arr, name, "labels")
        whole = arr == np.round(arr)
        if not whole.all():
            i = int(np.argmin(whole))
            raise ValueError(f"{name} must hold integer class labels; got the non-integer "
                             f"value {arr[i].item()!r} at index {i}")
    if n_classes is not None and (arr.min() < 0 or arr.max() >= n_classes):
        i = int(np.argmax((arr < 0) | (arr >= n_classes)))
        raise ValueError(f"{name} must hold labels in [0, {n_classes}) for {n_classes} "
                         f"classes; got the label {arr[i].item()!r} at index {i}")
    return np.ascontiguousarray(arr, dtype=np.intp)


def check_probability_rows(y, name, given=None):
    """Each row of a target array is a probability distribution (finite, >= 0, sums to 1);
    ``given`` as in check_finite."""
    check_finite(y, name, given=given)
    if np.any(y < 0):
        raise ValueError(f"{name} must hold probabilities; got the negative value "
                         f"{y[y < 0][0].item()!r}")
    tol = 1e-3 if y.dtype == np.float32 else 1e-6
    sums = y.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > tol)
    if bad.size:
        raise ValueError(f"each row of {name} must sum to 1 (one-hot or a distribution); "
                         f"row {bad[0]} sums to {sums[bad[0]].item()!r}")


def check_unit_interval(y, name, given=None):
    """Every entry of ``y`` is a finite number in [0, 1] (a probability, e.g. a binary
    target); ``given`` as in check_finite."""
    check_finite(y, name, given=given)
    outside = (y < 0) | (y > 1)
    if np.any(outside):
        raise ValueError(f"{name} must hold probabilities in [0, 1]; got "
                         f"{y[outside][0].item()!r}")


def check_zero_one(y, name, what):
    """Every entry of the real array ``y`` is exactly 0 or 1 (``what`` names the form,
    e.g. "0/1 labels of shape (n,)"): a ValueError names the first other value."""
    bad = ~((y == 0) | (y == 1))
    if np.any(bad):
        where = tuple(int(i) for i in np.unravel_index(np.argmax(bad), y.shape))
        raise ValueError(f"{name} must be {what}, each 0 or 1; got {y[where].item()!r} at "
                         f"index {where[0] if len(where) == 1 else where}")


def check_label_smoothing(value, dtype=None):
    """Cross-entropy's label smoothing, as ``torch.nn.CrossEntropyLoss`` takes it: a real
    number in [0, 1], as a float (with ``dtype``, one the kernels can compute in it)."""
    return check_setting(value, "label_smoothing", dtype, minimum=0.0, maximum=1.0)


def check_sample_weight(w, name, n_samples, dtype):
    """Non-negative, finite weights of shape (n_samples,) with a positive sum.

    Returns the weights divided by the largest one, in ``dtype``, and the sum of
    those: only the ratios of the weights matter, and scaled to at most 1 their
    sum neither overflows (weights of 1e308) nor underflows (subnormal weights).
    """
    arr = as_float_array(w, name, dtype=dtype, ndim=1, shape_hint="(n_samples,)")
    check_shape(arr, name, (n_samples,), "one weight per row")
    check_finite(arr, name, given=w)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative; got {arr[arr < 0][0].item()!r}")
    largest = arr.max()
    if not largest > 0:
        raise ValueError(f"{name} must have a positive sum; got {arr.sum().item()!r}")
    scaled = arr / largest
    return scaled, scaled.sum(dtype=np.float64).item()


def check_row_weights(w, name, n_samples, dtype):
    """Training weights: (n_samples,) positive, finite values whose sum is finite in
    ``dtype``, returned as a C-contiguous array of ``dtype``, not rescaled (the L2
    term is divided by the summed weights, so their scale matters).

    Zero weights are refused: a row that should not count is left out of the data.
    """
    arr = as_array(w, name)
    check_real_dtype(arr, name, dtype)
    check_ndim(arr, name, 1, "(n_samples,)")
    check_shape(arr, name, (n_samples,), "one weight per row")
    arr = as_finite_array(arr, name, dtype)
    if not np.all(arr > 0):
        i = int(np.argmin(arr > 0))
        raise ValueError(f"{name} must be positive (leave out the rows that should not "
                         f"count); got {arr[i].item()!r} at index {i}")
    total = arr.sum(dtype=np.float64)
    with np.errstate(over="ignore"):  # the overflow is the error below
        fits = np.isfinite(arr.dtype.type(total))
    if not fits:
        raise ValueError(f"{name} must have a sum finite in {arr.dtype.name}; got a sum of "
                         f"{total:.4g}")
    return arr.copy() if np.shares_memory(arr, w) else arr


def class_weight_of(class_weight, labels, n_classes):
    """Each class's weight, (n_classes,) float64, from ``class_weight``: "balanced"
    (scikit-learn's n_samples / (n_classes_present * count), over the classes ``labels``
    holds) or a dict {class: positive weight} (classes it leaves out weigh 1)."""
    weights = np.ones(n_classes)
    if isinstance(class_weight, str):
        check_choice(class_weight, "class_weight", ("balanced",))
        counts = np.bincount(labels, minlength=n_classes)
        present = counts > 0
        weights[present] = labels.shape[0] / (np.count_nonzero(present) * counts[present])
        return weights
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be 'balanced', a dict {{class: weight}} or None; "
                        f"got {type(class_weight).__name__}")
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not _is_integer(key) \
                or not 0 <= key < n_classes:
            raise ValueError(f"class_weight's keys must be the model's classes, integers in "
                             f"[0, {n_classes}); got the key {key!r}")
        weights[int(key)] = check_real(value, f"class_weight[{key!r}]", minimum=0.0,
                                       exclusive=True)
    return weights


def check_dropout(dropout, n_hidden):
    """Each hidden layer's dropout rate, (n_hidden,) float64 in [0, 1): one rate for
    every hidden layer, or a sequence of one per hidden layer."""
    if isinstance(dropout, (numbers.Real, np.floating)) and not isinstance(dropout, bool):
        rates = [check_real(dropout, "dropout", minimum=0.0, below=1.0)] * n_hidden
        if dropout != 0 and n_hidden == 0:
            raise ValueError(f"dropout applies to hidden layers and this model has none; "
                             f"pass dropout=0; got {dropout!r}")
        return np.array(rates, dtype=np.float64)
    if isinstance(dropout, (str, bytes)) or not isinstance(dropout, (Sequence, np.ndarray)):
        raise TypeError(f"dropout must be a rate in [0, 1) or a sequence of one rate per "
                        f"hidden layer; got {type(dropout).__name__} {dropout!r}")
    if len(dropout) != n_hidden:
        raise ValueError(f"dropout must give one rate per hidden layer ({n_hidden}); got "
                         f"{len(dropout)} rates: {list(dropout)!r}")
    return np.array([check_real(rate, f"dropout[{l}]", minimum=0.0, below=1.0)
                     for l, rate in enumerate(dropout)], dtype=np.float64)


def check_clip(value, name, dtype):
    """A gradient-clipping threshold (``clip_grad_norm``, ``clip_grad_value``): a
    positive float the kernels can compute in ``dtype``."""
    return check_setting(value, name, dtype, minimum=0.0, exclusive=True)


def check_bool(value, name):
    """True or False (numpy's bool too); anything else is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}")
    return bool(value)


def check_fits_dtype(value, name, dtype):
    """A float the kernel will compute in ``dtype``: it must neither overflow there
    nor, when non-zero, round to 0 (float32 holds magnitudes of about 1e-45 to 3e38)."""
    dtype = np.dtype(dtype)
    largest, rounds_to_zero = _FLOAT_RANGE[dtype]
    if abs(value) > largest:
        raise ValueError(f"{name} must be at most {largest:.4g} in magnitude for "
                         f"{dtype.name} arrays (it is computed in their dtype); got {value!r}")
    if value != 0 and abs(value) <= rounds_to_zero:
        raise ValueError(f"{name} must be at least {2 * rounds_to_zero:.4g} in magnitude for "
                         f"{dtype.name} arrays, or it rounds to 0; got {value!r}")
    return value


def check_setting(value, name, dtype=None, **bounds):
    """A real-valued optimizer setting (see check_real for ``bounds``), as a float;
    with ``dtype``, also one the kernels can compute in it (check_fits_dtype)."""
    value = check_real(value, name, **bounds)
    return value if dtype is None else check_fits_dtype(value, name, dtype)


def check_sgd_settings(lr, momentum, nesterov, weight_decay, dtype=None):
    """SGD's settings, as ``torch.optim.SGD`` takes them, for parameters of ``dtype``
    (None: any): returns (lr, momentum, nesterov, weight_decay) as floats and a bool.
    Dampening has its own check, check_dampening."""
    lr = check_setting(lr, "lr", dtype, minimum=0.0, exclusive=True)
    momentum = check_setting(momentum, "momentum", dtype, minimum=0.0)
    weight_decay = check_setting(weight_decay, "weight_decay", dtype, minimum=0.0)
    nesterov = check_bool(nesterov, "nesterov")
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0; got momentum=0")
    return lr, momentum, nesterov, weight_decay


def check_dampening(dampening, nesterov, dtype=None, lr_in_velocity=False):
    """SGD's dampening in [0, 1] (the new gradient's weight is 1 - dampening), as a
    float; Nesterov momentum needs it 0, as in ``torch.optim.SGD``, and so does
    scikit-learn's rule (``lr_in_velocity``), which has none."""
    dampening = check_setting(dampening, "dampening", dtype, minimum=0.0, maximum=1.0)
    if nesterov and dampening != 0:
        raise ValueError(f"nesterov=True needs dampening=0 (as in torch.optim.SGD); "
                         f"got dampening={dampening!r}")
    if lr_in_velocity and dampening != 0:
        raise ValueError(f"lr_in_velocity=True (scikit-learn's momentum) needs dampening=0; "
                         f"got dampening={dampening!r}")
    return dampening


def check_adam_settings(lr, betas, eps, weight_decay, amsgrad, dtype=None):
    """Adam's settings, as ``torch.optim.Adam`` takes them, for parameters of ``dtype``
    (None: any): returns (lr, (beta1, beta2), eps, weight_decay, amsgrad), lr > 0,
    0 <= beta < 1, eps >= 0, weight_decay >= 0."""
    lr = check_setting(lr, "lr", dtype, minimum=0.0, exclusive=True)
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) \
            or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2) of numbers in [0, 1); "
                        f"got {type(betas).__name__} {betas!r}")
    betas = tuple(check_setting(b, f"betas[{i}]", dtype, minimum=0.0, below=1.0)
                  for i, b in enumerate(betas))
    eps = check_setting(eps, "eps", dtype, minimum=0.0)
    weight_decay = check_setting(weight_decay, "weight_decay", dtype, minimum=0.0)
    return lr, betas, eps, weight_decay, check_bool(amsgrad, "amsgrad")


def check_real(value, name, *, minimum=None, exclusive=False, maximum=None, below=None,
               finite=True):
    """A real number (not bool) as a float: finite (unless ``finite=False``, which
    lets NaN and +-inf through), optionally bounded: >= minimum (> minimum if
    ``exclusive``), <= maximum, < below.

    An integer too large for a float is a ValueError, like inf.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int or Fraction beyond 1.8e308 (too long to print, too)
        raise ValueError(f"{name} must be finite; got a value of type {type(value).__name__} "
                         f"beyond the range of a float (over {sys.float_info.max:.4g})") from None
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if minimum is not None:
        if exclusive and not value > minimum:
            raise ValueError(f"{name} must be > {minimum}; got {value!r}")
        if not exclusive and not value >= minimum:
            raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    if maximum is not None and not value <= maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value!r}")
    if below is not None and not value < below:
        raise ValueError(f"{name} must be < {below}; got {value!r}")
    return value


def _is_integer(value):
    """A Python or NumPy integer, but not a bool (True is no count and no seed)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_choice(value, name, choices):
    """One of the strings ``choices``: TypeError for a value that is not a string,
    ValueError for another string; both list the choices."""
    listed = ", ".join(map(repr, choices))
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {listed}; got {type(value).__name__} "
                        f"{value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {listed}; got {value!r}")
    return value


def check_int(value, name, minimum, maximum=None):
    """An integer (Python or NumPy, not bool) in [minimum, maximum], as a Python int.

    A float is a TypeError even when it is whole (3.0). ``maximum=None`` leaves
    the value unbounded above. A ValueError names the bound that is broken.
    """
    if not _is_integer(value):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}")
    return value


def check_seed(seed, name="seed"):
    """A seed for ``numpy.random.default_rng``: None, or an integer >= 0 (Python or
    NumPy, not bool), returned as None or a Python int."""
    if seed is None:
        return None
    if not _is_integer(seed):
        raise TypeError(f"{name} must be None or an integer >= 0; "
                        f"got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be None or an integer >= 0; got {int(seed)}")
    return int(seed)


def check_path(path, name, what):
    """``path`` (a str, bytes or os.PathLike) as a str; ``what`` says what it names
    ("file" or "folder"). TypeError for any other type; ValueError if it holds a NUL
    byte, which no file name can."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a {what} path (str, bytes or os.PathLike); "
                        f"got {type(path).__name__} {path!r}")
    path = os.fsdecode(os.fspath(path))
    if "\0" in path:
        raise ValueError(f"{name} must be a {what} path without NUL bytes; got {path!r}")
    return path


def check_output_path(path, name):
    """A file that can be written atomically (a temporary file beside it, then a rename).

    Returns the path to write, as a str, with symbolic links resolved so that
    writing through a link replaces the file it points to, not the link.
    Checked before anything is computed that a failed write would lose:

    * TypeError, ValueError: as in check_path;
    * ValueError: it is empty, or names something other than
      a regular file (a device such as /dev/null, a pipe), which the rename would
      replace;
    * IsADirectoryError: it names a folder;
    * NotADirectoryError: a part of its folder is a file;
    * FileNotFoundError: its folder does not exist;
    * PermissionError: the folder is not writable (``os.access``).
    """
    given = check_path(path, name, "file")
    if not given:
        raise ValueError(f"{name} must be a file path; got {given!r}")
    target = os.path.realpath(given)
    where = f"{name} {given}"
    if os.path.isdir(target):
        raise IsADirectoryError(f"{where} is a folder, not a file; name a file in it")
    if os.path.lexists(target) and not os.path.isfile(target):
        raise ValueError(f"{where} exists and is not a regular file (a device or a pipe), "
                         f"which saving would replace")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        existing = folder
        while not os.path.lexists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise NotADirectoryError(f"{where}: {existing} is a file, not a folder")
        raise FileNotFoundError(f"{where}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{where}: the folder {folder} is not writable")
    return target
