"""Reading saved models back: every field checked, nothing unpickled.

The file is an ``.npz`` written by ``MLP.save``: ``format_version``,
``layer_sizes``, ``activation``, ``loss``, ``dtype``, ``init`` and ``W<l>``,
``b<l>`` for each layer. Anything else, or anything missing, malformed or of the
wrong shape or dtype, is a ValueError that names the file and the field.
"""
import os
import zipfile

import numpy as np

from .model import ACTIVATIONS, FORMAT_VERSION, INITS, LOSSES


def _bad(path, why):
    return ValueError(f"{path} is not a valid fastmlp model: {why}")


def _scalar_str(data, key, path, choices):
    value = data[key]
    if value.dtype.kind != "U" or value.ndim != 0 or str(value) not in choices:
        raise _bad(path, f"{key} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def read_model(cls, path):
    path = os.fspath(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no saved model at {path}") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _bad(path, f"it cannot be read as an .npz archive ({exc})") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _bad(path, "it is a single .npy array, not an .npz archive")
    try:
        with npz as data:
            return _build(cls, data, path)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise _bad(path, f"the archive is truncated or corrupt ({exc})") from exc
    except ValueError as exc:
        if str(exc).startswith(f"{path} is not a valid"):
            raise
        # numpy refuses object arrays without pickle, and malformed .npy headers.
        raise _bad(path, f"a field cannot be read safely ({exc})") from exc


def _build(cls, data, path):
    required = {"format_version", "layer_sizes", "activation", "loss", "dtype", "init"}
    missing = required - set(data.files)
    if missing:
        raise _bad(path, f"missing field(s) {', '.join(sorted(missing))}")
    version = data["format_version"]
    if version.ndim != 0 or version.dtype.kind not in "iu":
        raise _bad(path, f"format_version must be an integer; got {version!r}")
    if int(version) != FORMAT_VERSION:
        raise _bad(path, f"format version {int(version)} is not supported (this fastmlp "
                         f"reads version {FORMAT_VERSION})")
    sizes = data["layer_sizes"]
    if sizes.ndim != 1 or sizes.dtype.kind not in "iu" or sizes.size < 2 or np.any(sizes < 1):
        raise _bad(path, f"layer_sizes must be two or more positive integers; got {sizes!r}")
    dtype = _scalar_str(data, "dtype", path, ("float32", "float64"))
    model = cls([int(s) for s in sizes],
                activation=_scalar_str(data, "activation", path, tuple(ACTIVATIONS)),
                loss=_scalar_str(data, "loss", path, tuple(LOSSES)),
                dtype=dtype, init=_scalar_str(data, "init", path, INITS), seed=0)
    expected = required | {f"{p}{l}" for l in range(model.n_layers) for p in "Wb"}
    extra = set(data.files) - expected
    if extra:
        raise _bad(path, f"unexpected field(s) {', '.join(sorted(extra))}")
    for l in range(model.n_layers):
        for name, target in ((f"W{l}", model.weights[l]), (f"b{l}", model.biases[l])):
            if name not in data.files:
                raise _bad(path, f"missing field {name}")
            arr = data[name]
            if arr.shape != target.shape or arr.dtype != target.dtype:
                raise _bad(path, f"{name} must be {target.dtype} of shape {target.shape}; got "
                                 f"{arr.dtype} of shape {arr.shape}")
            if not np.isfinite(arr).all():
                raise _bad(path, f"{name} contains NaN or infinite values")
            target[...] = arr
    return model
