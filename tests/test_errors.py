"""Every bad input, in one table: the call, the exception and a fragment of its message.

Each message must name the argument and say what was expected and what was
received; the fragments below check that. Bad input is caught in Python before
any compiled loop runs, at the kernel level, through ``MLP`` and ``fit``, and
through the command line. The last tests pin down what is *not* an error:
conversions of integer and float64 data, and any memory layout for inputs.
"""
import numpy as np
import pytest

from fastmlp import MLP, cli, datasets, kernels
from fastmlp._validation import reject_masked

X = np.zeros((5, 3))
Y = np.array([0, 1, 0, 1, 1])
Z = np.zeros((5, 2))
W, B = np.zeros((2, 3)), np.zeros(2)
Z3 = np.zeros(3)
X32, Y32 = np.ones((5, 3), np.float32), Y.astype(np.intp)  # the compiled step's exact form


def read_only(shape):
    a = np.zeros(shape)
    a.flags.writeable = False
    return a


def swapped(a):
    """a in the other byte order (big-endian on this machine)."""
    return np.asarray(a).astype(np.asarray(a).dtype.newbyteorder())


def shifted_views():
    """Two views of one buffer, one entry apart: they overlap partially."""
    buf = np.full(11, 0.5)
    return buf[:-1], buf[1:]


def model():
    return MLP([3, 4, 2], seed=0)


KERNEL_CASES = [
    # (id, call, exception, message fragment)
    ("ndim softmax", lambda: kernels.softmax(np.zeros((2, 2, 2))), ValueError,
     "z must be a 1-D or 2-D array (n_classes,) or (n_samples, n_classes); got 3-D"),
    ("ndim linear x", lambda: kernels.linear_forward(np.zeros(3), W, B), ValueError,
     "x must be a 2-D array (n_samples, n_in); got 1-D with shape (3,)"),
    ("rows of z and y differ", lambda: kernels.softmax_cross_entropy(Z, Y[:4]), ValueError,
     "y must have shape (5,) (one label per row of the logits); got (4,)"),
    ("rows of yhat and y differ", lambda: kernels.mse(Z, np.zeros((4, 2))), ValueError,
     "y must have shape (5, 2) (targets must match the predictions); got (4, 2)"),
    ("features of x and W differ", lambda: kernels.linear_forward(X, np.zeros((2, 4)), B),
     ValueError, "W must have shape (n_out, 3) to match x's 3 features"),
    ("label out of range", lambda: kernels.softmax_cross_entropy(Z, [0, 1, 2, 0, 1]),
     ValueError, "y must hold labels in [0, 2) for 2 classes; got the label 2 at index 2"),
    ("negative label", lambda: kernels.softmax_cross_entropy(Z, [0, -1, 1, 0, 1]),
     ValueError, "y must hold labels in [0, 2) for 2 classes; got the label -1 at index 1"),
    ("non-integer label", lambda: kernels.softmax_cross_entropy(Z, [0, 0.5, 1, 0, 1]),
     ValueError, "y must hold integer class labels; got the non-integer value 0.5 at index 1"),
    ("NaN label", lambda: kernels.softmax_cross_entropy(Z, [0, np.nan, 1, 0, 1]),
     ValueError, "y contains NaN or infinite labels"),
    ("inf in target rows", lambda: kernels.softmax_cross_entropy(Z, np.full((5, 2), np.inf)),
     ValueError, "y contains NaN or infinite values"),
    ("empty z", lambda: kernels.softmax(np.zeros((0, 4))), ValueError,
     "z must not be empty; got shape (0, 4)"),
    ("empty x", lambda: kernels.tanh(np.zeros(0)), ValueError, "x must not be empty"),
    ("lr zero", lambda: kernels.sgd_update(np.zeros(3), np.zeros(3), 0.0), ValueError,
     "lr must be > 0.0; got 0.0"),
    ("lr negative", lambda: kernels.sgd_update(np.zeros(3), np.zeros(3), -0.1), ValueError,
     "lr must be > 0.0; got -0.1"),
    ("lr NaN", lambda: kernels.sgd_update(np.zeros(3), np.zeros(3), float("nan")), ValueError,
     "lr must be finite; got nan"),
    ("object array", lambda: kernels.relu(np.array([1, None], dtype=object)), TypeError,
     "x must be an array of float32 or float64 (integers are converted); got dtype object"),
    ("complex array", lambda: kernels.sigmoid(np.zeros(2, complex)), TypeError,
     "x must be an array of float32 or float64 (integers are converted); got dtype complex128"),
    ("string array", lambda: kernels.tanh(np.array(["1.0"])), TypeError,
     "x must be an array of float32 or float64 (integers are converted); got dtype <U3"),
    ("mixed precision", lambda: kernels.linear_forward(X, W.astype(np.float32), B), TypeError,
     "W must have dtype float64 like the other arrays of this call; got float32"),
    ("read-only out", lambda: kernels.tanh(X, out=read_only((5, 3))), ValueError,
     "out is read-only, but the kernel writes into it"),
    ("read-only param", lambda: kernels.sgd_update(read_only(3), np.zeros(3), 0.1),
     ValueError, "param is read-only, but the kernel writes into it"),
    ("read-only grad", lambda: kernels.tanh_backward(np.zeros(3), read_only(3)), ValueError,
     "grad is read-only, but the kernel writes into it"),
    ("strided out", lambda: kernels.relu(X, out=np.zeros((5, 6))[:, ::2]), ValueError,
     "out must be C-contiguous (it is written in place)"),
    ("NaN in mse targets", lambda: kernels.mse(Z, [[0, 0], [0, np.nan], [0, 0], [0, 0], [0, 0]]),
     ValueError, "y contains NaN or infinite values (first at index (1, 1)); they must be finite"),
    ("inf in mse targets", lambda: kernels.mse(np.zeros(3), [0, np.inf, 0]), ValueError,
     "y contains NaN or infinite values (first at index 1)"),
    ("masked z", lambda: kernels.softmax(np.ma.masked_array([1.0, 1e9], mask=[0, 1])), TypeError,
     "z must be a plain array, not a numpy.ma.MaskedArray: the kernels would use its masked "
     "values as data"),
    ("masked labels", lambda: kernels.softmax_cross_entropy(Z, np.ma.masked_array(Y, mask=Y)),
     TypeError, "y must be a plain array, not a numpy.ma.MaskedArray"),
    ("big-endian out", lambda: kernels.tanh(X, out=swapped(X)), TypeError,
     "out must be in this machine's byte order"),
    ("big-endian param", lambda: kernels.sgd_update(swapped(np.zeros(3)), np.zeros(3), 0.1),
     TypeError, "param must be in this machine's byte order"),
    ("grad overlaps t", lambda: kernels.tanh_backward(*shifted_views()), ValueError,
     "grad overlaps t in memory without being the same array: pass t itself as grad"),
    ("param overlaps grad", lambda: kernels.sgd_update(*shifted_views()[::-1], 1.0), ValueError,
     "param overlaps grad in memory without being the same array"),
    ("out overlaps z", lambda: kernels.softmax(*shifted_views()), ValueError,
     "out overlaps z in memory without being the same array"),
    ("lr beyond floats", lambda: kernels.sgd_update(np.zeros(3), np.zeros(3), 10**400),
     ValueError, "lr must be finite; got a value of type int beyond the range of a float"),
    ("lr beyond float32", lambda: kernels.sgd_update(np.zeros(3, np.float32),
                                                     np.zeros(3, np.float32), 1e39),
     ValueError, "lr must be at most 3.403e+38 in magnitude for float32 arrays"),
    ("nesterov not a bool", lambda: kernels.sgd_update(np.zeros(3), np.zeros(3), 0.1,
                                                       momentum=0.9, velocity=np.zeros(3),
                                                       nesterov="no"),
     TypeError, "nesterov must be True or False; got str 'no'"),
    ("dampening with nesterov", lambda: kernels.sgd_update(
        np.zeros(3), np.zeros(3), 0.1, momentum=0.9, velocity=np.zeros(3), nesterov=True,
        dampening=0.5), ValueError, "nesterov=True needs dampening=0 (as in torch.optim.SGD); "
                                    "got dampening=0.5"),
    ("adam step 0", lambda: kernels.adam_update(np.zeros(3), np.zeros(3), np.zeros(3),
                                                np.zeros(3), 0), ValueError,
     "step must be >= 1; got 0"),
    ("adam beta 1", lambda: kernels.adam_update(np.zeros(3), np.zeros(3), np.zeros(3),
                                                np.zeros(3), 1, betas=(0.9, 1)), ValueError,
     "betas[1] must be < 1.0; got 1.0"),
    ("amsgrad without its buffer", lambda: kernels.adam_update(
        np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), 1, amsgrad=True), ValueError,
     "max_exp_avg_sq is required when amsgrad=True: pass np.zeros((3,), dtype=np.float64)"),
    ("adam state shared", lambda: kernels.adam_update(np.zeros(3), np.zeros(3), Z3, Z3, 1),
     ValueError, "exp_avg_sq must not share memory with exp_avg"),
    ("x beyond BLAS ints", lambda: kernels.linear_forward(
        np.broadcast_to(0.0, (2**31, 3)), W, B), ValueError,
     "x must have at most 2147483647 rows and columns (BLAS counts them in 32-bit ints)"),
]

MLP_CASES = [
    ("X 1-D", lambda: model().fit(np.zeros(3), Y), ValueError,
     "X must be a 2-D array (n_samples, 3); got 1-D with shape (3,)"),
    ("X 3-D", lambda: model().predict(np.zeros((2, 3, 1))), ValueError,
     "X must be a 2-D array (n_samples, 3); got 3-D with shape (2, 3, 1)"),
    ("rows of X and y differ", lambda: model().fit(X, Y[:4]), ValueError,
     "y must have one row per row of X (5); got shape (4,)"),
    ("features", lambda: model().predict(np.zeros((5, 4))), ValueError,
     "X has 4 features but the model's first layer takes 3: expected shape (n_samples, 3); "
     "got (5, 4)"),
    ("label out of range", lambda: model().fit(X, [0, 1, 2, 0, 1]), ValueError,
     "y must hold labels in [0, 2) for 2 classes; got the label 2 at index 2"),
    ("negative label", lambda: model().step(X, [0, -1, 1, 0, 1], lr=0.1), ValueError,
     "y must hold labels in [0, 2) for 2 classes; got the label -1 at index 1"),
    ("non-integer label", lambda: model().fit(X, [0, 0.5, 1, 0, 1]), ValueError,
     "y must hold integer class labels; got the non-integer value 0.5 at index 1"),
    ("NaN in X", lambda: model().fit(np.full((5, 3), np.nan), Y), ValueError,
     "X contains NaN or infinite values (first at index (0, 0)); they must be finite"),
    ("inf in X", lambda: model().predict(np.full((5, 3), np.inf)), ValueError,
     "X contains NaN or infinite values"),
    ("NaN in X, one step", lambda: model().step(np.full((5, 3), np.nan), Y, lr=0.1),
     ValueError, "X contains NaN or infinite values"),
    ("NaN in y", lambda: model().fit(X, [0, np.nan, 1, 0, 1]), ValueError,
     "y contains NaN or infinite labels"),
    ("inf in y (mse)", lambda: MLP([3, 2], loss="mse").fit(X, np.full((5, 2), np.inf)),
     ValueError, "y contains NaN or infinite values"),
    ("empty X", lambda: model().predict(np.zeros((0, 3))), ValueError,
     "X must not be empty; got shape (0, 3)"),
    ("layer size zero", lambda: MLP([3, 0, 2]), ValueError, "layer_sizes[1] must be >= 1; got 0"),
    ("layer size negative", lambda: MLP([3, -4, 2]), ValueError,
     "layer_sizes[1] must be >= 1; got -4"),
    ("one layer size", lambda: MLP([3]), ValueError,
     "layer_sizes needs at least two sizes (inputs and outputs); got [3]"),
    ("layer sizes a string", lambda: MLP("784"), TypeError,
     "layer_sizes must be a sequence (list or tuple) of integers like [784, 300, 10]; "
     "got str '784'"),
    ("unknown activation", lambda: MLP([3, 2], activation="swish"), ValueError,
     "activation must be one of 'tanh', 'sigmoid', 'relu', 'identity'; got 'swish'"),
    ("unknown loss", lambda: MLP([3, 2], loss="huber"), ValueError,
     "loss must be one of 'cross_entropy', 'mse', 'binary_cross_entropy', 'hinge', "
     "'squared_hinge'; got 'huber'"),
    ("unknown init", lambda: MLP([3, 2], init="zeros"), ValueError,
     "init must be one of 'normal', 'xavier', 'he'; got 'zeros'"),
    ("bad dtype", lambda: MLP([3, 2], dtype=np.int32), TypeError,
     "dtype must be float32 or float64; got int32"),
    ("lr zero", lambda: model().fit(X, Y, lr=0), ValueError, "lr must be > 0.0; got 0.0"),
    ("lr negative", lambda: model().step(X, Y, lr=-1), ValueError, "lr must be > 0.0; got -1.0"),
    ("lr NaN", lambda: model().fit(X, Y, lr=float("nan")), ValueError, "lr must be finite; got nan"),
    ("batch size zero", lambda: model().fit(X, Y, batch_size=0), ValueError,
     "batch_size must be >= 1; got 0"),
    ("batch size negative", lambda: model().fit(X, Y, batch_size=-3), ValueError,
     "batch_size must be >= 1; got -3"),
    ("epochs zero", lambda: model().fit(X, Y, epochs=0), ValueError, "epochs must be >= 1; got 0"),
    ("object array", lambda: model().predict(np.array([[1, 2, None]], dtype=object)), TypeError,
     "X must be an array of real numbers (converted to float32); got dtype object"),
    ("complex array", lambda: model().predict(np.zeros((2, 3), complex)), TypeError,
     "X must be an array of real numbers (converted to float32); got dtype complex128"),
    ("string array", lambda: model().fit(np.array([["a", "b", "c"]] * 5), Y), TypeError,
     "X must be an array of real numbers (converted to float32); got dtype <U1"),
    ("string labels", lambda: model().fit(X, np.array(["a"] * 5)), TypeError,
     "y must hold integer class labels; got dtype <U1"),
    # On the compiled fast path (X, y exactly what it reads), as on the slow one.
    ("lr a string, one step", lambda: model().step(X32, Y32, lr="0.1"), TypeError,
     "lr must be a real number; got str '0.1'"),
    ("lr None, one step", lambda: model().step(X32, Y32, lr=None), TypeError,
     "step needs a learning rate (lr=...) or an optimizer"),
    ("momentum None, one step", lambda: model().step(X32, Y32, 0.1, momentum=None), TypeError,
     "momentum must be a real number; got NoneType None"),
    ("lr a bool, one step", lambda: model().step(X32, Y32, lr=True), TypeError,
     "lr must be a real number; got bool True"),
    ("nesterov a string", lambda: model().step(X32, Y32, 0.1, 0.9, nesterov="yes"), TypeError,
     "nesterov must be True or False; got str 'yes'"),
    ("lr beyond floats, one step", lambda: model().step(X32, Y32, lr=10**400), ValueError,
     "lr must be finite; got a value of type int beyond the range of a float"),
    ("lr beyond floats, fit", lambda: model().fit(X, Y, lr=10**400), ValueError,
     "lr must be finite; got a value of type int beyond the range of a float"),
    ("layer size beyond intp", lambda: MLP([2**64, 2]), ValueError,
     "layer_sizes[0] must be <= 2147483647; got 18446744073709551616"),
    ("layer size beyond BLAS", lambda: MLP([2, 2**31]), ValueError,
     "layer_sizes[1] must be <= 2147483647; got 2147483648"),
    ("seed a string", lambda: MLP([3, 2], seed="abc"), TypeError,
     "seed must be None or an integer >= 0; got str 'abc'"),
    ("seed a float", lambda: MLP([3, 2], seed=1.5), TypeError,
     "seed must be None or an integer >= 0; got float 1.5"),
    ("seed negative", lambda: MLP([3, 2], seed=-1), ValueError,
     "seed must be None or an integer >= 0; got -1"),
    ("fit seed a string", lambda: model().fit(X, Y, seed="abc", progress=False), TypeError,
     "seed must be None or an integer >= 0; got str 'abc'"),
    ("validation X", lambda: model().fit(X, Y, validation_data=(np.zeros((2, 4)), Y[:2])),
     ValueError, "validation_data[0] (X_val) has 4 features but the model's first layer takes 3"),
    ("validation y", lambda: model().fit(X, Y, validation_data=(X, Y[:3])),
     ValueError, "validation_data[1] (y_val) must have one row per row of X (5)"),
    ("validation labels", lambda: model().fit(X, Y, validation_data=(X, Y + 7)),
     ValueError, "validation_data[1] (y_val) must hold labels in [0, 2)"),
    ("masked X", lambda: model().predict(np.ma.masked_array(X, X > 0)), TypeError,
     "X must be a plain array, not a numpy.ma.MaskedArray"),
    ("masked y", lambda: model().fit(X, np.ma.masked_array(Y, Y > 0)), TypeError,
     "y must be a plain array, not a numpy.ma.MaskedArray"),
    ("weights of the wrong shape", lambda: model().weights.__setitem__(0, np.zeros((3, 4))),
     ValueError, "weights[0] must have shape (4, 3) ((n_out, n_in), as in PyTorch); got (3, 4)"),
    ("save to a bad path", lambda: model().save(42), TypeError,
     "path must be a file path (str, bytes or os.PathLike); got int 42"),
    ("shuffle a string", lambda: model().fit(X, Y, shuffle="no"), TypeError,
     "shuffle must be True or False; got str 'no'"),
    ("progress a string", lambda: model().fit(X, Y, progress="no"), TypeError,
     "progress must be True or False; got str 'no'"),
    ("dtype None", lambda: MLP([3, 2], dtype=None), TypeError,
     "dtype must be float32 or float64; got None"),
    ("X beyond float32", lambda: model().predict(np.full((2, 3), 1e39)), ValueError,
     "X has values beyond the range of float32, the dtype it is computed in (first at index "
     "(0, 0): 1e+39); scale the data, or compute in float64 (MLP(dtype=np.float64)"),
    ("targets beyond float32", lambda: MLP([3, 2], loss="mse").fit(X, np.full((5, 2), -1e39)),
     ValueError, "y has values beyond the range of float32"),
    ("masked split", lambda: datasets.train_test_split(np.ma.masked_array(X, X > 0), Y),
     TypeError, "X must be a plain array, not a numpy.ma.MaskedArray"),
]


@pytest.mark.parametrize("call, exc, fragment",
                         [case[1:] for case in KERNEL_CASES + MLP_CASES],
                         ids=[case[0] for case in KERNEL_CASES + MLP_CASES])
def test_bad_input_is_a_clear_error(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


CLI_CASES = [
    ("lr zero", ["train", "--lr", "0"], "lr must be > 0.0"),
    ("lr beyond float32, sweep", ["sweep", "--lr", "0.1", "1e39"],
     "--lr: lr must be at most 3.403e+38"),
    ("momentum beyond float32", ["train", "--momentum", "1e39"],
     "--momentum: momentum must be at most 3.403e+38"),
    ("batch size zero", ["train", "--batch-size", "0"], "batch_size must be >= 1; got 0"),
    ("epochs zero", ["train", "--epochs", "0"], "epochs"),
    ("layer size zero", ["train", "--hidden", "0"], "layer_sizes[1] must be >= 1; got 0"),
    ("unknown activation", ["train", "--activation", "swish"], "invalid choice: 'swish'"),
    ("missing MNIST", ["train", "--data", "mnist", "--data-dir", "/nonexistent/mnist"],
     "/nonexistent/mnist"),
    ("sweep: second lr zero", ["sweep", "--lr", "0.1", "0"], "--lr: lr must be > 0.0; got 0.0"),
    ("sweep: second batch size zero", ["sweep", "--batch-size", "32", "0"],
     "--batch-size: batch_size must be >= 1; got 0"),
    ("negative seed", ["train", "--seed", "-1"],
     "--seed: seed must be None or an integer >= 0; got -1"),
    ("save onto a folder", ["train", "--save", "."], "--save . is a folder, not a file"),
    ("hidden size overflows", ["train", "--hidden", "1000000000000000000"],
     "--hidden 1000000000000000000: cannot build a model"),
]


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_bad_command_line_input_is_a_clear_error(argv, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(argv + ["--no-progress"])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err


# --- what is not an error ----------------------------------------------------------

def test_python_floats_take_the_dtype_of_the_call():
    loss, grad = kernels.mse(np.zeros(2, np.float32), [1.5, 2.5])
    assert grad.dtype == np.float32 and loss == pytest.approx(4.25)
    out = kernels.linear_forward(np.ones((1, 2), np.float32), [[1.0, 2.0]], [0.5])
    assert out.dtype == np.float32 and out[0, 0] == 3.5
    with pytest.raises(TypeError, match="W must have dtype float32"):  # arrays keep theirs
        kernels.linear_forward(np.ones((1, 2), np.float32), np.ones((1, 2)), [0.5])


def test_integer_and_float64_data_are_converted_for_a_float32_model():
    m32 = model()
    X_int = np.arange(15).reshape(5, 3)
    expected = m32.forward(X_int.astype(np.float32))
    np.testing.assert_array_equal(m32.forward(X_int), expected)
    np.testing.assert_array_equal(m32.forward(X_int.astype(np.float64)), expected)
    assert m32.forward(X_int).dtype == np.float32
    assert np.isfinite(m32.step(X_int, Y.astype(np.int32), lr=0.1))
    assert np.isfinite(m32.step(X_int, Y.astype(np.float64), lr=0.1))


def test_fortran_ordered_and_strided_inputs_are_accepted():
    rng = np.random.default_rng(0)
    m = MLP([3, 4, 2], dtype=np.float64, seed=0)
    big = rng.standard_normal((10, 6))
    Xc = np.ascontiguousarray(big[::2, ::2])
    for Xv in (np.asfortranarray(Xc), big[::2, ::2]):
        np.testing.assert_array_equal(m.forward(Xv), m.forward(Xc))
        for (a, b), (c, d) in zip(m.gradients(Xv, Y), m.gradients(Xc, Y)):
            np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(kernels.tanh(np.asfortranarray(big)), kernels.tanh(big))


# --- every array argument of every kernel: masks and byte order ----------------------

def valid_calls(dtype):
    """Every public kernel with good arguments, all given by name."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 3)).astype(dtype)
    x, w = rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
    labels = np.array([0, 2, 1, 1, 0])
    calls = {
        "softmax": dict(z=z, out=np.empty_like(z)),
        "log_softmax": dict(z=z, out=np.empty_like(z)),
        "softmax_cross_entropy labels": dict(z=z, y=labels, sample_weight=np.ones(5, dtype)),
        "softmax_cross_entropy targets": dict(z=z, y=np.eye(3, dtype=dtype)[labels]),
        "mse": dict(yhat=z, y=z[::-1].copy()),
        "linear_forward": dict(x=x, W=w, b=np.ones(3, dtype), out=np.empty((5, 3), dtype)),
        "linear_backward": dict(x=x, W=w, grad_out=z),
        "sgd_update": dict(param=z.copy(), grad=z[::-1].copy(), lr=0.1, momentum=0.9,
                           velocity=np.ones_like(z)),
        "adam_update": dict(param=z.copy(), grad=z[::-1].copy(), exp_avg=np.ones_like(z),
                            exp_avg_sq=np.ones_like(z), step=3, amsgrad=True,
                            max_exp_avg_sq=np.full_like(z, 2.0)),
    }
    for name, arg in (("tanh", "x"), ("sigmoid", "x"), ("relu", "x"), ("tanh_derivative", "t"),
                      ("sigmoid_derivative", "s"), ("relu_derivative", "r")):
        calls[name] = {arg: z, "out": np.empty_like(z)}
    for name, arg in (("tanh", "t"), ("sigmoid", "s"), ("relu", "r")):
        calls[f"{name}_backward"] = {arg: np.tanh(z), "grad": z.copy()}
    return calls


def call(kernel, kwargs):
    return getattr(kernels, kernel.split()[0])(**kwargs)


ARRAY_ARGUMENTS = [(kernel, arg) for kernel, kw in valid_calls(np.float64).items()
                   for arg, value in kw.items() if isinstance(value, np.ndarray)]
ARRAY_IDS = [f"{kernel} {arg}" for kernel, arg in ARRAY_ARGUMENTS]
WRITTEN = {"out", "param", "velocity", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}


def written(kernel, arg):
    return arg in WRITTEN or (arg == "grad" and kernel.endswith("_backward"))


@pytest.mark.parametrize("kernel, arg", ARRAY_ARGUMENTS, ids=ARRAY_IDS)
def test_masked_arrays_are_refused_everywhere(kernel, arg):
    kw = valid_calls(np.float64)[kernel]
    mask = np.zeros(np.shape(kw[arg]), bool)
    mask.flat[0] = True
    kw[arg] = np.ma.masked_array(kw[arg], mask=mask)
    with pytest.raises(TypeError, match=rf"^{arg} must be a plain array, not a "
                                        rf"numpy.ma.MaskedArray"):
        call(kernel, kw)


def test_reject_masked_names_the_argument():
    with pytest.raises(TypeError, match=r"^X must be a plain array, not a numpy.ma.MaskedArray.*"
                                        r"X.filled\(value\)"):
        reject_masked(np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "X")
    reject_masked(np.zeros(2), "X")
    reject_masked([1.0, 2.0], "X")


def results(value):
    """The arrays and numbers a kernel returned, flattened into a list."""
    if isinstance(value, tuple):
        return [r for v in value for r in results(v)]
    return [np.asarray(value)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kernel, arg", ARRAY_ARGUMENTS, ids=ARRAY_IDS)
def test_byte_swapped_arrays(kernel, arg, dtype):
    """Inputs in the other byte order are read correctly; arrays the kernel writes
    must be in this machine's order (a converted copy would drop the result)."""
    kw = valid_calls(dtype)[kernel]
    kw[arg] = swapped(kw[arg])
    if written(kernel, arg):
        with pytest.raises(TypeError, match=rf"^{arg} must be in this machine's byte order "
                                            rf".*got the byte-swapped dtype"):
            call(kernel, kw)
        return
    expected = results(call(kernel, valid_calls(dtype)[kernel]))
    got = results(call(kernel, kw))
    for g, e in zip(got, expected):
        assert g.dtype.isnative and g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


# --- one rule, one message: the same bad value gets the same error wherever it goes ---

def plot_points(X, y=None):
    from fastmlp import plotting
    return plotting.plot_decision_boundary(MLP([2, 2], dtype=np.float64, seed=0), X, y,
                                           resolution=2)


def fit_2d(X, y, **kwargs):
    return MLP([2, 2], dtype=np.float64, seed=0).fit(X, y, progress=False, **kwargs)


P3 = np.zeros((3, 2))  # three points in the plane, for every caller below
RAGGED = [[0.0, 1.0], [2.0]]
NAN_AT_1_0 = np.array([[0.0, 0.0], [np.nan, 0.0], [0.0, 0.0]])


def plot_first_layer(shape):
    from fastmlp import plotting
    return plotting.plot_first_layer(MLP([2, 2], seed=0), shape=shape)


def save_figure(path):
    from matplotlib.figure import Figure

    from fastmlp import plotting
    return plotting.save_figure(Figure(), path)


SAME_RULE = {
    # rule: [(argument name, call), ...]; every call raises the same error, word for word
    # after the argument's name.
    "label out of range": [
        ("y", lambda: kernels.softmax_cross_entropy(P3, [0, 2, 1])),
        ("y", lambda: fit_2d(P3, [0, 2, 1])),
        ("y", lambda: plot_points(P3, [0, 2, 1])),
    ],
    "non-integer label": [
        ("y", lambda: kernels.softmax_cross_entropy(P3, [0, 0.5, 1])),
        ("y", lambda: fit_2d(P3, [0, 0.5, 1])),
        ("y", lambda: plot_points(P3, [0, 0.5, 1])),
    ],
    "NaN label": [
        ("y", lambda: kernels.softmax_cross_entropy(P3, [0, np.nan, 1])),
        ("y", lambda: fit_2d(P3, [0, np.nan, 1])),
        ("y", lambda: plot_points(P3, [0, np.nan, 1])),
    ],
    "string labels": [
        ("y", lambda: kernels.softmax_cross_entropy(P3, ["a", "b", "a"])),
        ("y", lambda: fit_2d(P3, ["a", "b", "a"])),
        ("y", lambda: plot_points(P3, ["a", "b", "a"])),
    ],
    "ragged lists": [
        ("z", lambda: kernels.softmax(RAGGED)),
        ("X", lambda: MLP([2, 2], seed=0).predict(RAGGED)),
        ("X", lambda: plot_points(RAGGED)),
        ("X", lambda: datasets.train_test_split(RAGGED, [0, 1])),
    ],
    "NaN in data": [
        ("y", lambda: kernels.mse(P3, NAN_AT_1_0)),
        ("y", lambda: MLP([2, 2], loss="mse", seed=0).loss(P3, NAN_AT_1_0)),
        ("X", lambda: MLP([2, 2], seed=0).predict(NAN_AT_1_0)),
        ("X", lambda: plot_points(NAN_AT_1_0)),
    ],
    "beyond float32": [
        ("y", lambda: kernels.mse(np.zeros((3, 2), np.float32), [[0, 0], [1e39, 0], [0, 0]])),
        ("X", lambda: MLP([2, 2], seed=0).predict([[0, 0], [1e39, 0], [0, 0]])),
        ("y", lambda: MLP([2, 2], loss="mse", seed=0).loss(P3, [[0, 0], [1e39, 0], [0, 0]])),
    ],
    "not real numbers": [
        ("X", lambda: MLP([2, 2], dtype=np.float64, seed=0).predict([["a", "b"]])),
        ("X", lambda: plot_points([["a", "b"]])),
    ],
    "a whole float for an integer": [
        ("n_samples", lambda: datasets.circles(n_samples=2.0)),
        ("epochs", lambda: fit_2d(P3, [0, 1, 0], epochs=2.0)),
        ("shape[0]", lambda: plot_first_layer(shape=(2.0, 1))),
    ],
    "a string for a bool": [
        ("download", lambda: datasets.load_mnist("/nonexistent", download="yes")),
        ("shuffle", lambda: fit_2d(P3, [0, 1, 0], shuffle="yes")),
        ("nesterov", lambda: kernels.sgd_update(np.zeros(2), np.zeros(2), 0.1, 0.9,
                                                np.zeros(2), nesterov="yes")),
    ],
    "a number for a file path": [
        ("path", lambda: model().save(3)),
        ("path", lambda: MLP.load(3)),
        ("path", lambda: save_figure(3)),
    ],
    "a NUL byte in a file path": [
        ("path", lambda: model().save("a\0.png")),
        ("path", lambda: MLP.load("a\0.png")),
        ("path", lambda: save_figure("a\0.png")),
    ],
}


def _error(name, call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    message = str(info.value)
    assert message.startswith(name), message
    return type(info.value), message[len(name):]


# The kernels convert a list of Python floats to float32 with NumPy, which warns first.
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("rule", SAME_RULE)
def test_one_rule_gives_one_message_from_kernels_model_datasets_and_plotting(rule):
    errors = {_error(name, call) for name, call in SAME_RULE[rule]}
    assert len(errors) == 1, errors


def test_labels_are_read_alike_by_kernels_model_and_plotting():
    """Booleans are the labels 0 and 1, and whole floats their integers, everywhere
    (the kernels refused booleans, plotting refused floats, the model took both)."""
    z = np.array([[0.5, -1.0], [2.0, 0.0], [0.0, 0.0]])
    expected = kernels.softmax_cross_entropy(z, [1, 0, 1])
    for y in ([True, False, True], [1.0, 0.0, 1.0]):
        loss, grad = kernels.softmax_cross_entropy(z, y)
        assert loss == expected[0]
        np.testing.assert_array_equal(grad, expected[1])
        m = MLP([2, 2], dtype=np.float64, seed=0)
        assert m.loss(P3, y) == m.loss(P3, [1, 0, 1])
        plot_points(P3, np.array(y))


def test_python_float_target_rows_take_the_dtype_of_the_call():
    z = np.zeros((2, 2), np.float32)
    loss, grad = kernels.softmax_cross_entropy(z, [[1.0, 0.0], [0.0, 1.0]])
    assert grad.dtype == np.float32
    assert loss == kernels.softmax_cross_entropy(z, [0, 1])[0]


def test_curve_values_beyond_a_float_are_named():
    from fastmlp import plotting
    with pytest.raises(ValueError, match=r"history\['loss'\]\[0\] must be finite; got a value "
                                         r"of type int beyond the range of a float"):
        plotting.plot_history({"loss": [10**400]})
