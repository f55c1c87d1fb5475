"""Reading saved models back: every field checked, nothing unpickled, nothing allocated
before the file has proven to be a model.

The file is an ``.npz`` written by ``MLP.save``: an uncompressed zip archive of
``.npy`` members ``format_version``, ``layer_sizes``, ``activation``, ``loss``,
``dtype``, ``init``, ``W<l>`` and ``b<l>`` for each layer, and ``checksum``, a
SHA-256 of all the others, so that a file changed after saving is refused rather
than loaded with silent damage. Format 2 (``save(include_optimizer=True)``) adds
``optimizer`` (the optimizer's class and settings as JSON, see
``fastmlp.optim.to_json``), ``optimizer_updates`` (the step count) and
``optimizer_state`` (its buffers, (slots, n_params) in the model's dtype).

Reading goes in this order, so that a crafted file costs no more memory or time
than its own size: the small fields are read and checked; every member's
``.npy`` header (dtype, shape) is checked against the architecture they
declare, and its size in the archive against that shape; the checksum is
computed by streaming the members; only then is the model allocated and the
weights read into it. Anything else, or anything missing, malformed, compressed
or of the wrong shape or dtype, is a ValueError that names the file and the
field.
"""
import hashlib
import math
import os
import stat
import zipfile

import numpy as np
from numpy.lib import format as npy

from ._validation import check_path

FORMAT_VERSION = 1
OPTIMIZER_FORMAT_VERSION = 2
FIELDS = ("format_version", "layer_sizes", "activation", "loss", "dtype", "init")
OPTIMIZER_FIELDS = ("optimizer", "optimizer_updates", "optimizer_state")
# The small fields are read whole; none of them is legitimately larger than this.
SMALL_FIELD_BYTES = 1 << 16
_CHUNK = 1 << 20


def checksum(arrays):
    """SHA-256 over every field's name, dtype, shape and bytes, in a fixed order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.asarray(arrays[name])
        h.update(_checksum_prefix(name, arr.dtype, arr.shape))
        h.update(arr.tobytes())
    return h.hexdigest()


def _checksum_prefix(name, dtype, shape):
    # Format 1 hashed np.ascontiguousarray(field), which makes a 0-d field 1-d.
    return f"{name}|{dtype.str}|{tuple(shape) or (1,)}|".encode()


def _bad(path, why):
    return ValueError(f"{path} is not a valid fastmlp model: {why}")


def read_model(cls, path):
    path = check_path(path, "path", "file")
    try:
        kind = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no saved model at {path}") from None
    if not stat.S_ISREG(kind):  # a pipe or a device would block or never end
        raise _bad(path, "it is not a regular file (MLP.save writes one)")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise _bad(path, "it is not an .npz archive (MLP.save writes one)")
    try:
        with zipfile.ZipFile(path) as archive:
            return _Reader(archive, path).model(cls)
    except ValueError as exc:
        if str(exc).startswith(f"{path} is not a valid"):
            raise
        # numpy refuses object arrays without pickle, and malformed .npy headers.
        raise _bad(path, f"a field cannot be read safely ({exc})") from exc
    except MemoryError:
        raise
    except Exception as exc:
        # A damaged archive can make zipfile raise almost anything (BadZipFile,
        # zlib.error, EOFError, NotImplementedError for a mangled header, ...).
        raise _bad(path, f"the archive is truncated or corrupt "
                         f"({type(exc).__name__}: {exc})") from exc


class _Reader:
    """The members of one archive, read header first."""

    def __init__(self, archive, path):
        self.archive, self.path = archive, path
        self.members = {}
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if name in self.members or not info.filename.endswith(".npy"):
                raise _bad(path, f"unexpected or repeated member {info.filename!r}")
            if info.compress_type != zipfile.ZIP_STORED:
                raise _bad(path, f"{name} is compressed (MLP.save stores its fields "
                                 f"uncompressed)")
            self.members[name] = info

    def header(self, name):
        """(dtype, shape, offset of the data) of a member, after checking that the
        member holds exactly that much data in C order."""
        info = self.members[name]
        with self.archive.open(info) as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npy.read_array_header_2_0(f)
            else:
                raise _bad(self.path, f"{name} has an unsupported .npy version {version}")
            offset = f.tell()
        if dtype.hasobject:
            raise _bad(self.path, f"{name} holds Python objects (never unpickled)")
        if fortran and len(shape) > 1:
            raise _bad(self.path, f"{name} is stored in Fortran order (MLP.save writes C order)")
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=object))
        if info.file_size != offset + nbytes:
            raise _bad(self.path, f"{name} declares shape {shape} of {dtype} ({nbytes} bytes) "
                                  f"but holds {info.file_size - offset}")
        return dtype, shape, offset

    def small(self, name, kind):
        """A small field read whole, after its header says it is small and of ``kind``."""
        dtype, shape, _ = self.header(name)
        if dtype.kind not in kind or dtype.itemsize * int(np.prod(shape, dtype=object)) \
                > SMALL_FIELD_BYTES:
            raise _bad(self.path, f"{name} must be a small {'string' if kind == 'U' else 'integer'}"
                                  f" field; got {dtype} of shape {shape}")
        with self.archive.open(self.members[name]) as f:
            return npy.read_array(f, allow_pickle=False)

    def string(self, name):
        value = self.small(name, "U")
        if value.ndim != 0:
            raise _bad(self.path, f"{name} must be a string; got {value!r}")
        return str(value)

    def stream(self, name, offset, sink):
        """Feed a member's data, in chunks, to ``sink`` (bytes -> None)."""
        with self.archive.open(self.members[name]) as f:
            f.read(offset)
            while chunk := f.read(_CHUNK):
                sink(chunk)

    def read_into(self, name, offset, target):
        """Read a member's data (already checked to fill ``target`` exactly) into it."""
        out = memoryview(target.reshape(-1)).cast("B")
        with self.archive.open(self.members[name]) as f:
            f.read(offset)
            done = 0
            while done < len(out):
                got = f.readinto(out[done:])
                if not got:
                    raise _bad(self.path, f"{name} ends early")
                done += got

    def model(self, cls):
        path = self.path
        missing = (set(FIELDS) | {"checksum"}) - set(self.members)
        if missing:
            raise _bad(path, f"missing field(s) {', '.join(sorted(missing))}")
        version = self.small("format_version", "iu")
        if version.ndim != 0:
            raise _bad(path, f"format_version must be an integer; got {version!r}")
        if int(version) not in (FORMAT_VERSION, OPTIMIZER_FORMAT_VERSION):
            raise _bad(path, f"format version {int(version)} is not supported (this fastmlp "
                             f"reads versions {FORMAT_VERSION} and {OPTIMIZER_FORMAT_VERSION})")
        with_optimizer = int(version) == OPTIMIZER_FORMAT_VERSION
        sizes = self.small("layer_sizes", "iu")
        if sizes.ndim != 1 or sizes.size < 2 or np.any(sizes < 1):
            raise _bad(path, f"layer_sizes must be two or more positive integers; got {sizes!r}")
        sizes = [int(s) for s in sizes]
        names = {f: self.string(f) for f in ("activation", "loss", "dtype", "init")}
        if names["dtype"] not in ("float32", "float64"):
            raise _bad(path, f"dtype must be float32 or float64; got {names['dtype']!r}")
        dtype = np.dtype(names["dtype"])
        n_layers = len(sizes) - 1
        expected = set(FIELDS) | {"checksum"} | {f"{p}{l}" for l in range(n_layers) for p in "Wb"}
        if with_optimizer:
            expected |= set(OPTIMIZER_FIELDS)
        extra, absent = set(self.members) - expected, expected - set(self.members)
        if extra:
            raise _bad(path, f"unexpected field(s) {', '.join(sorted(extra))}")
        if absent:
            raise _bad(path, f"missing field(s) {', '.join(sorted(absent))}")
        # Every layer's header against the architecture, before a byte of it is read.
        offsets, shapes = {}, {}
        for l in range(n_layers):
            shapes[f"W{l}"], shapes[f"b{l}"] = (sizes[l + 1], sizes[l]), (sizes[l + 1],)
        if with_optimizer:
            slots = self.header("optimizer_state")[1]
            if len(slots) != 2 or not 0 <= slots[0] <= 3:
                raise _bad(path, f"optimizer_state must have shape (slots, n_params) with 0 to "
                                 f"3 slots; got {slots}")
            # Each slot holds every parameter: as many as the W and b fields above.
            n_params = sum(math.prod(shape) for shape in shapes.values())
            shapes["optimizer_state"] = (slots[0], n_params)
        for name, shape in shapes.items():
            got_dtype, got_shape, offsets[name] = self.header(name)
            if got_shape != shape or got_dtype != dtype or not got_dtype.isnative:
                raise _bad(path, f"{name} must be {dtype} of shape {shape}; got "
                                 f"{got_dtype} of shape {got_shape}")
        stored = self.string("checksum")
        h = hashlib.sha256()
        for name in sorted(set(self.members) - {"checksum"}):
            if name in offsets:
                h.update(_checksum_prefix(name, dtype, shapes[name]))
                self.stream(name, offsets[name], h.update)
            else:
                value = self.small(name, "iuU")
                h.update(_checksum_prefix(name, value.dtype, value.shape))
                h.update(value.tobytes())
        if stored != h.hexdigest():
            raise _bad(path, "its checksum does not match its contents (the file was changed "
                             "after it was saved)")
        try:  # the model checks the names itself
            model = cls.__new__(cls)
            model._setup(sizes, names["activation"], names["loss"], dtype, names["init"])
        except (TypeError, ValueError) as exc:
            raise _bad(path, str(exc)) from exc
        for l in range(n_layers):
            for name, target in ((f"W{l}", model._layer(model._params, "weights", l)),
                                 (f"b{l}", model._layer(model._params, "biases", l))):
                self.read_into(name, offsets[name], target)
                if not np.isfinite(target).all():
                    raise _bad(path, f"{name} contains NaN or infinite values")
        if with_optimizer:
            self.optimizer_into(model, offsets["optimizer_state"], shapes["optimizer_state"],
                                dtype)
        return model

    def optimizer_into(self, model, offset, shape, dtype):
        """Restore the optimizer and its state (format 2), each checked."""
        from . import optim
        try:
            optimizer = optim.from_json(self.string("optimizer"))
        except (TypeError, ValueError) as exc:
            raise _bad(self.path, f"optimizer: {exc}") from exc
        updates = self.small("optimizer_updates", "iu")
        if updates.ndim != 0 or updates < 1:
            raise _bad(self.path, f"optimizer_updates must be an integer >= 1; got {updates!r}")
        if shape[0] != optimizer.state_slots:
            raise _bad(self.path, f"optimizer_state has {shape[0]} slots but {optimizer!r} "
                                  f"keeps {optimizer.state_slots}")
        state = np.empty(shape, dtype=dtype)
        self.read_into("optimizer_state", offset, state)
        if not np.isfinite(state).all():
            raise _bad(self.path, "optimizer_state contains NaN or infinite values")
        model._restore_optimizer(optimizer, state, int(updates))
