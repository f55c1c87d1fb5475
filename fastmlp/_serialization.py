"""Reading saved models back: every field checked, nothing unpickled.

The file is an ``.npz`` written by ``MLP.save``: ``format_version``,
``layer_sizes``, ``activation``, ``loss``, ``dtype``, ``init``, ``W<l>`` and
``b<l>`` for each layer, and ``checksum``, a SHA-256 of all the others, so that
a file changed after saving is refused rather than loaded with silent damage. Anything else, or anything missing, malformed or of the
wrong shape or dtype, is a ValueError that names the file and the field.
"""
import hashlib
import os

import numpy as np

FORMAT_VERSION = 1
FIELDS = ("format_version", "layer_sizes", "activation", "loss", "dtype", "init")


def checksum(arrays):
    """SHA-256 over every field's name, dtype, shape and bytes, in a fixed order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _bad(path, why):
    return ValueError(f"{path} is not a valid fastmlp model: {why}")


def _scalar_str(data, key, path):
    value = data[key]
    if value.dtype.kind != "U" or value.ndim != 0:
        raise _bad(path, f"{key} must be a string; got {value!r}")
    return str(value)


def read_model(cls, path):
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise FileNotFoundError(f"no saved model at {path}") from None
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise _bad(path, "it is not an .npz archive (MLP.save writes one)")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:  # see below: a damaged zip header can raise almost anything
        raise _bad(path, f"it cannot be read as an .npz archive "
                         f"({type(exc).__name__}: {exc})") from exc
    try:
        with npz as data:
            return _build(cls, data, path)
    except ValueError as exc:
        if str(exc).startswith(f"{path} is not a valid"):
            raise
        # numpy refuses object arrays without pickle, and malformed .npy headers.
        raise _bad(path, f"a field cannot be read safely ({exc})") from exc
    except Exception as exc:
        # A damaged archive can make zipfile raise almost anything (BadZipFile,
        # zlib.error, EOFError, NotImplementedError for a mangled header, ...).
        raise _bad(path, f"the archive is truncated or corrupt "
                         f"({type(exc).__name__}: {exc})") from exc


def _build(cls, data, path):
    required = set(FIELDS) | {"checksum"}
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
    try:  # the model checks the names itself
        model = cls([int(s) for s in sizes], activation=_scalar_str(data, "activation", path),
                    loss=_scalar_str(data, "loss", path), dtype=_scalar_str(data, "dtype", path),
                    init=_scalar_str(data, "init", path), seed=0)
    except (TypeError, ValueError) as exc:
        if str(exc).startswith(f"{path} is not a valid"):
            raise
        raise _bad(path, str(exc)) from exc
    expected = required | {f"{p}{l}" for l in range(model.n_layers) for p in "Wb"}
    extra = set(data.files) - expected
    if extra:
        raise _bad(path, f"unexpected field(s) {', '.join(sorted(extra))}")
    arrays = {name: data[name] for name in data.files if name != "checksum"}
    if str(data["checksum"]) != checksum(arrays):
        raise _bad(path, "its checksum does not match its contents (the file was changed "
                         "after it was saved)")
    for l in range(model.n_layers):
        for name, target in ((f"W{l}", model.weights[l]), (f"b{l}", model.biases[l])):
            if name not in arrays:
                raise _bad(path, f"missing field {name}")
            arr = arrays[name]
            if arr.shape != target.shape or arr.dtype != target.dtype:
                raise _bad(path, f"{name} must be {target.dtype} of shape {target.shape}; got "
                                 f"{arr.dtype} of shape {arr.shape}")
            if not np.isfinite(arr).all():
                raise _bad(path, f"{name} contains NaN or infinite values")
            target[...] = arr
    return model
