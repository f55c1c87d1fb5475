"""A bridge to PyTorch: ``MLP.to_torch()`` and ``MLP.from_torch(module)``.

Design
------
* torch is optional: this module is imported by the two ``MLP`` methods only when
  they are called, and :func:`import_torch` turns its absence into an ImportError
  that says how to install the pinned CPU build.
* The torch side is a ``torch.nn.Sequential`` of ``Linear`` layers with the model's
  hidden activation module between them (``Tanh``, ``Sigmoid``, ``ReLU``, or
  ``Identity``), in the model's dtype. The **output activation is left to the loss**,
  as torch users write it: the last ``Linear`` gives the logits that
  ``nn.CrossEntropyLoss`` (softmax output) or ``nn.BCEWithLogitsLoss`` (sigmoid
  output) read, or the predictions of ``nn.MSELoss``. So ``to_torch()(X)`` equals
  ``model.forward`` only for MSE models; for classifiers it is the logits, and
  ``softmax``/``sigmoid`` of it equals ``model.forward``.
* Both layouts are PyTorch's (``weight`` of shape (n_out, n_in)), so parameters are
  copied as they are, bit for bit: a round trip is exact.
"""
import numpy as np

__all__ = ["TORCH_REQUIREMENT", "import_torch", "to_torch", "from_torch"]

#: The one torch this project supports (the CPU build; see the README).
TORCH_REQUIREMENT = "torch==2.13.0"

# The torch dtypes fastmlp computes in, by name.
_FLOAT_NAMES = ("float32", "float64")


def import_torch(feature="the PyTorch bridge"):
    """``import torch``, or an ImportError that says how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs PyTorch, which is not installed. Install the CPU build with "
            f"`pip install {TORCH_REQUIREMENT}` (or `pip install \"fastmlp[torch]\"`); the "
            f"version is pinned because an unpinned torch pulls several GB of CUDA "
            f"packages.") from exc
    return torch


def _activation_modules(nn):
    """fastmlp's hidden activations and the torch module class of each."""
    return {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU, "identity": nn.Identity}


def to_torch(model):
    """A ``torch.nn.Sequential`` computing ``model``'s layers, with copies of its parameters.

    ``Linear(n_in, n_out)`` layers in the model's dtype, each hidden one followed by
    the hidden activation module (``nn.Tanh``, ``nn.Sigmoid``, ``nn.ReLU`` or
    ``nn.Identity``). The last ``Linear`` has no activation: its output is the
    logits of ``nn.CrossEntropyLoss`` / ``nn.BCEWithLogitsLoss`` (cross-entropy and
    binary cross-entropy models) or the predictions of ``nn.MSELoss`` (MSE models).
    The module's parameters are new tensors (``requires_grad=True``), independent of
    the model.
    """
    torch = import_torch()
    nn = torch.nn
    dtype = getattr(torch, model.dtype.name)
    act = _activation_modules(nn)[model.activation]
    layers = []
    for l, (W, b) in enumerate(zip(model.weights, model.biases)):
        n_out, n_in = W.shape
        linear = nn.Linear(n_in, n_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(W)))
            linear.bias.copy_(torch.from_numpy(np.array(b)))
        layers.append(linear)
        if l < model.n_layers - 1:
            layers.append(act())
    return nn.Sequential(*layers)


def _describe(index, module):
    return f"layer {index} ({module!r})"


def _flatten(module, nn, prefix=""):
    """The leaf modules of nested Sequentials, each with its index path ("2", "1.0")."""
    for i, child in enumerate(module):
        name = f"{prefix}{i}"
        if type(child) is nn.Sequential:
            yield from _flatten(child, nn, name + ".")
        else:
            yield name, child


def from_torch(cls, module, activation=None, loss=None, dtype=None):
    """An ``MLP`` (of class ``cls``) with the layers and parameters of ``module``.

    See :meth:`fastmlp.MLP.from_torch` for the accepted modules and the rules.
    """
    torch = import_torch()
    nn = torch.nn
    if isinstance(module, nn.Linear):
        module = nn.Sequential(module)
    if type(module) is not nn.Sequential:
        raise TypeError(f"module must be a torch.nn.Sequential of Linear and activation "
                        f"layers (or one nn.Linear); got {type(module).__name__}")
    kinds = {cls_: name for name, cls_ in _activation_modules(nn).items()}
    outputs = {nn.Softmax: "cross_entropy", nn.LogSoftmax: "cross_entropy",
               nn.Sigmoid: "binary_cross_entropy"}
    linears = []   # (name, nn.Linear)
    gaps = []      # per gap between two Linears: (name, activation or None)
    pending = []   # the non-Linear layers since the last Linear
    for name, child in _flatten(module, nn):
        if type(child) is nn.Linear:
            if child.bias is None:
                raise ValueError(f"{_describe(name, child)} has no bias: fastmlp's layers "
                                 f"all have one (create it with bias=True)")
            if linears:
                prev_name, prev = linears[-1]
                if child.in_features != prev.out_features:
                    raise ValueError(f"{_describe(name, child)} takes {child.in_features} "
                                     f"inputs but {_describe(prev_name, prev)} gives "
                                     f"{prev.out_features}")
                gaps.append(_gap(pending, kinds, prev_name))
            elif pending:
                first = pending[0]
                raise ValueError(f"{_describe(*first)} comes before the first Linear layer: "
                                 f"fastmlp's networks start with an affine layer")
            linears.append((name, child))
            pending = []
        elif type(child) in kinds or type(child) in outputs:
            pending.append((name, child))
        else:
            raise ValueError(f"{_describe(name, child)} cannot be represented in fastmlp: "
                             f"its networks hold Linear layers with Tanh, Sigmoid, ReLU or "
                             f"Identity between them, and optionally Softmax, LogSoftmax "
                             f"or Sigmoid at the end")
    if not linears:
        raise ValueError("module has no Linear layer")

    found = _check_hidden_activations(gaps)
    if activation is None:
        activation = found or "tanh"
    elif found is not None and activation != found:
        raise ValueError(f"activation={activation!r} but the module's hidden layers use "
                         f"{found!r}")

    last = linears[-1][1]
    inferred = _output_loss(pending, outputs, nn)
    if loss is None:
        loss = inferred or ("cross_entropy" if last.out_features > 1 else "binary_cross_entropy")
    elif inferred is not None and loss != inferred:
        raise ValueError(f"loss={loss!r} but the module ends in "
                         f"{_describe(*pending[0])}, the output of {inferred!r}")

    params = [p for _, lin in linears for p in (lin.weight, lin.bias)]
    dtypes = {p.dtype for p in params}
    if dtype is None:
        if len(dtypes) > 1:
            raise ValueError(f"the module's parameters mix the dtypes "
                             f"{sorted(str(d) for d in dtypes)}; pass dtype= to choose one")
        (torch_dtype,) = dtypes
        name = str(torch_dtype).removeprefix("torch.")
        if name not in _FLOAT_NAMES:
            raise ValueError(f"the module's parameters are {torch_dtype}; fastmlp computes in "
                             f"float32 or float64 (pass dtype= to convert)")
        dtype = np.dtype(name)
    sizes = [linears[0][1].in_features] + [lin.out_features for _, lin in linears]
    model = cls(sizes, activation=activation, loss=loss, dtype=dtype)
    with torch.no_grad():
        for l, (_, lin) in enumerate(linears):
            model.weights[l] = _numpy(lin.weight, model.dtype)
            model.biases[l] = _numpy(lin.bias, model.dtype)
    return model


def _numpy(tensor, dtype):
    """A tensor's values as a NumPy array of ``dtype`` (from any device)."""
    return tensor.detach().cpu().numpy().astype(dtype, copy=False)


def _gap(pending, kinds, after):
    """The activation between two Linear layers: None (no module, or Identity) or
    (name, kind); more than one module, or an output module, cannot be represented."""
    if len(pending) > 1:
        raise ValueError(f"{_describe(*pending[1])} is a second activation after layer "
                         f"{after}: fastmlp applies one activation between Linear layers")
    if not pending:
        return None
    name, child = pending[0]
    if type(child) not in kinds:
        raise ValueError(f"{_describe(name, child)} between Linear layers cannot be "
                         f"represented in fastmlp: its hidden activations are Tanh, Sigmoid, "
                         f"ReLU and Identity")
    return name, child, kinds[type(child)]


def _check_hidden_activations(gaps):
    """The one activation of every gap ("identity" for a gap with no module; None for a
    single layer), or a ValueError naming the first layer that differs."""
    kinds = [g if g is not None else (None, None, "identity") for g in gaps]
    if not kinds:
        return None
    first = kinds[0][2]
    for name, child, kind in kinds[1:]:
        if kind != first:
            where = _describe(name, child) if child is not None else "a gap with no activation"
            raise ValueError(f"{where} differs from the first hidden activation ({first}): "
                             f"fastmlp uses one activation for every hidden layer")
    return first


def _output_loss(pending, outputs, nn):
    """The loss the modules after the last Linear imply (None when there are none)."""
    if not pending:
        return None
    name, child = pending[0]
    if len(pending) > 1 or type(child) not in outputs:
        bad = pending[1] if len(pending) > 1 else pending[0]
        raise ValueError(f"{_describe(*bad)} after the last Linear layer cannot be "
                         f"represented in fastmlp: the output is raw, or one Softmax, "
                         f"LogSoftmax (cross-entropy) or Sigmoid (binary cross-entropy)")
    if type(child) in (nn.Softmax, nn.LogSoftmax) and child.dim not in (1, -1):
        raise ValueError(f"{_describe(name, child)} normalises over dim={child.dim}; "
                         f"fastmlp's softmax is over the outputs of each row (dim=1 or -1)")
    return outputs[type(child)]
