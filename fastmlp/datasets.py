"""Datasets: the circles toy problem and MNIST read from its IDX files.

circles
    Two noisy concentric circles in the plane, the course's first problem: the
    outer circle (radius 1, label 0) surrounds the inner one (radius ``factor``,
    label 1), so no straight line separates the classes but one hidden layer
    does. ``circles`` draws them and ``train_test_split`` splits any ``(X, y)``
    into shuffled training and test parts.

MNIST
    70,000 handwritten digits, 28x28 grayscale, by Yann LeCun, Corinna Cortes and
    Christopher J.C. Burges (CC BY-SA 3.0): 60,000 to train and 10,000 to test,
    each split an images file and a labels file in the IDX format:

    ======  ==========================  ==========================
    split   images                      labels
    ======  ==========================  ==========================
    train   ``train-images-idx3-ubyte``  ``train-labels-idx1-ubyte``
    test    ``t10k-images-idx3-ubyte``   ``t10k-labels-idx1-ubyte``
    ======  ==========================  ==========================

    ``load_mnist`` reads these files, gzip-compressed (``.gz``, as published) or
    uncompressed, parses the IDX format with NumPy, and checks everything it can:
    the magic numbers, the MNIST dimensions, that the data fills the file
    exactly, that images and labels agree, that labels are digits, and the MD5
    checksum of every ``.gz`` file against the official one (``MNIST_FILES``).
    Missing files are a ``FileNotFoundError`` that says how to get them; a
    corrupt file is a ``ValueError`` that names it and says what is wrong.
    The checks come before the data is read: the size and checksum of a
    ``.gz`` file, then the header (the first bytes, decompressed); the data
    then goes into an array of exactly the size the header declares, and
    anything more or less is an error. A corrupt or hostile file, such as a
    gzip bomb, thus never takes more memory or time than the real one.

    With ``download=True`` the missing ``.gz`` files of the split are fetched
    from ``base_url``: by default the environment variable ``FASTMLP_MNIST_URL``
    if it is set, otherwise ``MNIST_URL``, a public mirror of the official files
    (the one torchvision uses). A download is written to a temporary file in the
    target folder and renamed into place only once its MD5 checksum matches, so a
    failed or corrupt download never leaves a file that looks complete.

    Where the files live by default is ``DEFAULT_DATA_DIR``: the environment
    variable ``FASTMLP_DATA`` if it is set, otherwise ``~/.fastmlp/mnist``.

Only NumPy and the Python standard library are used.
"""
import gzip
import hashlib
import math
import numbers
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
import zlib
from http.client import HTTPException
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._validation import (as_array, check_bool, check_choice, check_int, check_path, check_real,
                          check_seed)

__all__ = ["circles", "train_test_split", "load_mnist", "MNIST_FILES", "MNIST_URL",
           "DEFAULT_DATA_DIR", "MAX_CIRCLES"]

#: Where MNIST is downloaded from unless ``base_url`` or ``FASTMLP_MNIST_URL`` says
#: otherwise: a public mirror of the official files (used by torchvision).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist"

#: The default MNIST folder: ``$FASTMLP_DATA`` if set, else ``~/.fastmlp/mnist``
#: (``~`` and ``$VARS`` expanded).
DEFAULT_DATA_DIR = os.path.expanduser(os.path.expandvars(
    os.environ.get("FASTMLP_DATA") or os.path.join("~", ".fastmlp", "mnist")))

#: Seconds to wait for the server during a download before giving up.
DOWNLOAD_TIMEOUT = 30

MNIST_IMAGE_SHAPE = (28, 28)
MNIST_N_CLASSES = 10


class MnistFile(NamedTuple):
    """One MNIST file: its official name (without ``.gz``), what it holds, the MD5
    of the official ``.gz`` file (None if unknown) and the number of items."""
    name: str
    kind: str  # "images" or "labels"
    md5: str | None
    count: int


#: The four MNIST files, by split and kind: ``MNIST_FILES["test"]["images"].name``.
MNIST_FILES = {
    "train": {
        "images": MnistFile("train-images-idx3-ubyte", "images",
                            "f68b3c2dcbeaaa9fbdd348bbdeb94873", 60000),
        "labels": MnistFile("train-labels-idx1-ubyte", "labels",
                            "d53e105ee54ea40749a09fcbcd1e9432", 60000),
    },
    "test": {
        "images": MnistFile("t10k-images-idx3-ubyte", "images",
                            "9fb629c4189551a2d022fa330f9573f3", 10000),
        "labels": MnistFile("t10k-labels-idx1-ubyte", "labels",
                            "ec29112dd5afa0611ce80d1b7f02629c", 10000),
    },
}

# IDX magic numbers: two zero bytes, the type code 0x08 (unsigned byte), the
# number of dimensions.
_IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}


# --- circles ----------------------------------------------------------------------------

# The bytes of X (16 a point) must fit a signed pointer-sized integer, or NumPy cannot
# even describe the array: more points than this is an error in the argument.
MAX_CIRCLES = sys.maxsize // 16


def circles(n_samples=1000, noise=0.1, factor=0.5, seed=None):
    """Two noisy concentric circles in the plane, a binary classification problem.

    Half the points (label 0) lie on the unit circle, the other half (label 1)
    on the circle of radius ``factor``, at angles drawn uniformly at random;
    each coordinate then gets Gaussian noise of standard deviation ``noise``.
    The rows come out shuffled.

    Parameters
    ----------
    n_samples : int, default 1000
        Number of points, from 2 to ``MAX_CIRCLES`` (2**59 - 1 on 64-bit
        machines, the most whose array NumPy can address). With an odd count
        the inner circle gets the extra point.
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to each coordinate;
        finite and >= 0 (0 puts every point exactly on its circle).
    factor : float, default 0.5
        Radius of the inner circle, strictly between 0 and 1.
    seed : int >= 0 or None, default None
        Seed of the random generator (``numpy.random.default_rng``). The same
        seed gives the same points; None draws fresh ones every call.

    Returns
    -------
    X : ndarray of float64, shape (n_samples, 2)
        The points.
    y : ndarray of int64, shape (n_samples,)
        0 for the outer circle, 1 for the inner one.

    Raises
    ------
    TypeError
        If an argument has the wrong type (``n_samples`` not an integer, ...).
    ValueError
        If an argument is out of range, or ``noise`` is so large that points
        overflow to infinity.
    MemoryError
        If the ``n_samples`` points do not fit in memory; the message names
        ``n_samples``.

    Examples
    --------
    >>> X, y = circles(200, noise=0.05, seed=0)
    >>> X.shape, y.shape, int(y.sum())
    ((200, 2), (200,), 100)
    """
    n_samples = check_int(n_samples, "n_samples", 2, MAX_CIRCLES)
    noise = check_real(noise, "noise", minimum=0.0)
    factor = check_real(factor, "factor")
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in the open interval (0, 1); got {factor!r}")
    rng = np.random.default_rng(check_seed(seed))

    try:
        n_outer = n_samples // 2
        y = np.zeros(n_samples, dtype=np.int64)
        y[n_outer:] = 1
        radius = np.where(y == 0, 1.0, factor)
        angle = rng.uniform(0.0, 2.0 * np.pi, n_samples)
        X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
        X += rng.normal(0.0, noise, size=X.shape)
        order = rng.permutation(n_samples)
        X, y = np.ascontiguousarray(X[order]), y[order]
    except MemoryError as exc:
        raise MemoryError(f"n_samples={n_samples} points do not fit in memory: {exc}") from None
    if not np.isfinite(X).all():
        raise ValueError(f"noise={noise!r} is too large: points overflow to infinity")
    return X, y


def train_test_split(X, y, test_size=0.25, seed=None, stratify=None):
    """Split ``(X, y)`` into shuffled training and test parts.

    Parameters
    ----------
    X : array_like, shape (n_samples, ...)
        The inputs, one row per sample (at least 2 rows).
    y : array_like, shape (n_samples, ...)
        The targets, with the same number of rows as ``X``.
    test_size : float or int, default 0.25
        A float in the open interval (0, 1) is the fraction of rows that go to
        the test part (rounded up, so at least one row); an int is their
        number. Both parts must end up non-empty.
    seed : int >= 0 or None, default None
        Seed of the shuffle; the same seed gives the same split.
    stratify : array_like, shape (n_samples,), optional
        Class labels (any values): each class gets ``test_size`` of its rows in
        the test part, as nearly as whole rows allow. The test part's rows are
        shared out as scikit-learn's ``train_test_split(stratify=...)`` shares
        them: each class first gets ``floor(n_test * n_class / n_samples)``, and
        the rows left over go one each to the classes with the largest
        remainders (ties in random order).

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        The rows of ``X`` and ``y`` in the two parts, each row in exactly one of
        them, with the same pairing of ``X`` and ``y`` rows as the input.

    Raises
    ------
    TypeError
        If ``test_size`` or ``seed`` has the wrong type.
    ValueError
        If ``X``, ``y`` (or ``stratify``) have different numbers of rows, if
        either is a scalar or cannot be converted to an array (ragged lists), if
        ``test_size`` leaves one of the parts empty, or if ``seed`` is negative.

    Examples
    --------
    >>> X, y = circles(100, seed=0)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)
    >>> len(X_train), len(X_test)
    (80, 20)
    """
    X = as_array(X, "X")
    y = as_array(y, "y")
    if X.ndim == 0:
        raise ValueError("X must have at least one dimension (one row per sample), "
                         "got a scalar")
    if y.ndim == 0:
        raise ValueError("y must have at least one dimension (one row per sample), "
                         "got a scalar")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"X and y must have the same number of rows, got X with shape "
                         f"{X.shape} ({n} rows) and y with shape {y.shape} "
                         f"({y.shape[0]} rows)")
    if stratify is not None:
        stratify = as_array(stratify, "stratify")
        if stratify.shape != (n,):
            raise ValueError(f"stratify must hold one class label per row of X, shape "
                             f"({n},); got shape {stratify.shape}")
    if n < 2:
        raise ValueError(f"X must have at least 2 rows to split into two non-empty "
                         f"parts, got {n}")
    n_test = holdout_size(test_size, n, "test_size")
    train, test = split_indices(n, n_test, np.random.default_rng(check_seed(seed)), stratify)
    return X[train], X[test], y[train], y[test]


def holdout_size(test_size, n, name):
    """The number of test rows ``test_size`` (named ``name``) asks for out of n >= 2 rows:
    a fraction in (0, 1), rounded up, or an int count; both parts non-empty."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"{name} must be a fraction in (0, 1) or an integer count, "
                        f"got {test_size!r} of type {type(test_size).__name__}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(f"{name} as a count must be between 1 and {n - 1} "
                             f"(for {n} rows, so both parts are non-empty), got {n_test}")
        return n_test
    fraction = float(test_size)
    if not 0 < fraction < 1:
        raise ValueError(f"{name} as a fraction must be in the open interval "
                         f"(0, 1), got {fraction}")
    # Rounded first, so that 0.07 * 100 = 7.000000000000001 gives 7 rows, not 8;
    # at least 1, so that a tiny fraction (1e-12) that rounds to 0 still tests.
    n_test = max(1, math.ceil(round(fraction * n, 9)))
    if n_test > n - 1:
        raise ValueError(f"{name}={fraction} of {n} rows leaves no training rows; "
                         f"use a smaller fraction or an integer count")
    return n_test


def split_indices(n, n_test, rng, stratify=None):
    """(train, test): the row indices of a random split of n rows, n_test of them in
    ``test``, both in random order; stratified by the labels ``stratify`` if given
    (see train_test_split)."""
    if stratify is None:
        order = rng.permutation(n)
        return order[n_test:], order[:n_test]
    _, label = np.unique(stratify, return_inverse=True)
    counts = np.bincount(label)
    # In integers, so that the shares and remainders are exact.
    shares, remainders = np.divmod(n_test * counts, n)
    classes = rng.permutation(counts.size)
    classes = classes[np.argsort(-remainders[classes], kind="stable")]
    shares[classes[:n_test - shares.sum()]] += 1
    # Every class's rows in random order, classes one after the other: each class
    # sends its first `share` rows to the test part.
    order = rng.permutation(n)
    order = order[np.argsort(label[order], kind="stable")]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    in_test = np.zeros(n, dtype=bool)
    in_test[np.concatenate([order[s:s + k] for s, k in zip(starts, shares)])] = True
    return rng.permutation(np.flatnonzero(~in_test)), rng.permutation(np.flatnonzero(in_test))


# --- MNIST ------------------------------------------------------------------------------

# Files are hashed and decompressed this many bytes at a time.
_CHUNK = 1 << 20


def _idx_layout(spec):
    """(magic number, header length, dimensions, data length) of the IDX file ``spec``."""
    dims = (spec.count,) + (MNIST_IMAGE_SHAPE if spec.kind == "images" else ())
    return _IDX_MAGIC[spec.kind], 4 + 4 * len(dims), dims, math.prod(dims)


def _max_gz_size(spec):
    """The most bytes a gzip-compressed ``spec`` can take: deflate's stored blocks add 5
    bytes in 65,535 and gzip a header and trailer of a few dozen, so anything larger is
    not that file, and neither hashing nor downloading it needs to go on."""
    _, header, _, size = _idx_layout(spec)
    return header + size + size // 100 + 4096


def _how_to_get(directory, split):
    files = MNIST_FILES[split]
    names = " and ".join(f"{f.name}.gz" for f in files.values())
    return (f"to get them, call fastmlp.datasets.load_mnist({str(directory)!r}, "
            f"split={split!r}, download=True) or run `fastmlp train --data mnist "
            f"--data-dir {directory} --download`, or put the official files {names} "
            f"(gzip-compressed or not) in that folder")


def _check_header(head, path, spec):
    """Check ``head``, the first bytes of the (decompressed) IDX file ``spec``."""
    where = f"MNIST file {path}"
    magic, header, expected, _ = _idx_layout(spec)
    ndim = len(expected)
    if len(head) < header:
        raise ValueError(f"{where} is too short to be an IDX {spec.kind} file: {len(head)} "
                         f"bytes, less than its {header}-byte header; delete it and "
                         f"download it again")
    found = int.from_bytes(head[:4], "big")
    if found != magic:
        raise ValueError(f"{where} has the wrong magic number 0x{found:08x}, expected "
                         f"0x{magic:08x} for an IDX file of {ndim}-D unsigned bytes "
                         f"({spec.kind}); is it the right file, and not corrupt?")
    dims = tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if dims != expected:
        raise ValueError(f"{where} has dimensions {dims} in its header, expected "
                         f"{expected} for MNIST {spec.kind}")


def _truncated(path, spec, size, found):
    return ValueError(f"MNIST file {path} is truncated: its header announces {size} bytes "
                      f"of {spec.kind} but only {found} follow; delete it and download it "
                      f"again")


def _read_data(stream, path, spec):
    """The data after the header, read from ``stream`` into an array of exactly the
    size the checked header declares: never more is read or kept, however much follows."""
    _, _, dims, size = _idx_layout(spec)
    data = np.empty(size, dtype=np.uint8)
    view = memoryview(data)
    filled = 0
    while filled < size:
        got = stream.readinto(view[filled:filled + _CHUNK])
        if not got:
            raise _truncated(path, spec, size, filled)
        filled += got
    if stream.read(1):
        raise ValueError(f"MNIST file {path} holds more than the {size} bytes of "
                         f"{spec.kind} its header announces; is it corrupt?")
    return data.reshape(dims)


def _read_raw(path, spec):
    """An uncompressed IDX file: header and file size checked before the data is read."""
    _, header, _, size = _idx_layout(spec)
    with open(path, "rb") as file:
        length = os.fstat(file.fileno()).st_size
        _check_header(file.read(header), path, spec)
        if length - header < size:
            raise _truncated(path, spec, size, length - header)
        if length - header > size:
            raise ValueError(f"MNIST file {path} has {length - header - size} trailing bytes "
                             f"after the {size} bytes of {spec.kind} its header announces; "
                             f"is it corrupt?")
        return _read_data(file, path, spec)


def _read_gz(path, spec):
    """A gzip-compressed IDX file: its size and MD5 checked, then its header, before
    anything beyond the header is decompressed (so a gzip bomb inflates no further)."""
    _, header, _, _ = _idx_layout(spec)
    with open(path, "rb") as file:
        length = os.fstat(file.fileno()).st_size
        if length > _max_gz_size(spec):
            raise ValueError(f"MNIST file {path} is {length} bytes, more than a gzip-"
                             f"compressed MNIST {spec.kind} file can be "
                             f"({_max_gz_size(spec)}); is it the right file?")
        if spec.md5 is not None:
            digest = hashlib.md5(usedforsecurity=False)
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
            if digest.hexdigest() != spec.md5:
                raise ValueError(f"MNIST file {path} fails its checksum: MD5 "
                                 f"{digest.hexdigest()}, expected {spec.md5} (the official "
                                 f"file); it is corrupt or not the official one, delete it "
                                 f"and download it again")
            file.seek(0)
        try:
            with gzip.GzipFile(fileobj=file, mode="rb") as stream:
                _check_header(stream.read(header), path, spec)
                return _read_data(stream, path, spec)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise ValueError(f"MNIST file {path} is not a valid gzip file ({exc}); delete "
                             f"it and download it again") from None


def _read_mnist_file(directory, spec):
    """The checked uint8 array of one MNIST file (``.gz`` preferred over raw)."""
    path = directory / f"{spec.name}.gz"
    if path.is_file():
        return _read_gz(path, spec), path
    path = directory / spec.name
    return _read_raw(path, spec), path


def _download(url, destination, spec):
    """Fetch ``url`` to ``destination`` through a temporary file, checked by size and MD5."""
    temporary = destination.with_name(
        f".{destination.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    digest = hashlib.md5(usedforsecurity=False)
    limit = _max_gz_size(spec)
    try:
        try:
            with open(temporary, "xb") as out, \
                    urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                written = 0
                while chunk := response.read(1 << 16):
                    written += len(chunk)
                    if written > limit:
                        raise ValueError(f"the MNIST download from {url} is more than "
                                         f"{limit} bytes, more than a gzip-compressed "
                                         f"MNIST {spec.kind} file can be; is the URL "
                                         f"right? Nothing was saved to {destination}")
                    digest.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise OSError(f"downloading MNIST from {url} failed: HTTP {exc.code} "
                          f"{exc.reason}") from None
        except urllib.error.URLError as exc:
            raise OSError(f"downloading MNIST from {url} failed: {exc.reason}") from None
        except (OSError, HTTPException) as exc:
            raise OSError(f"downloading MNIST from {url} failed: "
                          f"{type(exc).__name__}: {exc}") from None
        found = digest.hexdigest()
        if spec.md5 is not None and found != spec.md5:
            raise ValueError(f"the MNIST download from {url} is corrupt: its MD5 checksum "
                             f"is {found}, expected {spec.md5}; nothing was saved to "
                             f"{destination}")
        os.replace(temporary, destination)
    finally:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass


def load_mnist(directory, split="train", download=False, base_url=None):
    """Load one split of MNIST from its IDX files in ``directory``.

    Reads ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (split
    "train", 60,000 digits) or ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (split "test", 10,000 digits), each either
    gzip-compressed with the suffix ``.gz`` (preferred when both exist) or
    uncompressed. Every file is checked: IDX magic number, MNIST dimensions,
    exact data length, matching image and label counts, labels in 0..9, and the
    MD5 checksum of ``.gz`` files against the official one. The size and
    checksum of a ``.gz`` file and the header of every file are checked
    before its data is read (or decompressed), and no more data is read than
    the header declares, so memory stays bounded by the real file's size.

    Parameters
    ----------
    directory : str, bytes or os.PathLike
        The folder holding the files (``DEFAULT_DATA_DIR`` is the usual one);
        a leading ``~`` is expanded.
    split : {"train", "test"}, default "train"
        Which split to load.
    download : bool, default False
        Download the files of the split that are missing from ``directory``
        (which is created if needed) before loading. Files already present,
        compressed or not, are not downloaded again. Each download is checked
        against its MD5 checksum before it is moved into place, and stopped as
        soon as it is larger than the compressed file can be.
    base_url : str or None, default None
        Where to download from: ``<base_url>/<name>.gz``. None means the
        environment variable ``FASTMLP_MNIST_URL`` if it is set, otherwise
        ``MNIST_URL`` (a public mirror of the official files, used by
        torchvision).

    Returns
    -------
    X : ndarray of float32, shape (n, 784)
        The images, one row of 28x28 pixels each (row-major), scaled from
        0..255 to [0, 1].
    y : ndarray of int64, shape (n,)
        The digits, 0..9.

    Raises
    ------
    TypeError
        If ``directory``, ``split``, ``download`` or ``base_url`` has the wrong type.
    ValueError
        If ``split`` is not "train" or "test"; if ``base_url`` has no scheme
        (``https://``); if a file is corrupt (not gzip, larger than the
        compressed file can be, wrong magic number, wrong dimensions,
        truncated, more data than its header declares, labels out of range,
        checksum mismatch); if a download is corrupt or too large.
    FileNotFoundError
        If a file is missing and ``download`` is False. The message names the
        path and says how to get the data.
    NotADirectoryError
        If ``directory`` is a file.
    OSError
        If a download fails (network error, HTTP error); the message names the URL.

    Examples
    --------
    >>> X, y = load_mnist(DEFAULT_DATA_DIR, "test", download=True)  # doctest: +SKIP
    >>> X.shape, y[0]  # doctest: +SKIP
    ((10000, 784), 7)
    """
    directory = check_path(directory, "directory", "folder")
    split = check_choice(split, "split", tuple(MNIST_FILES))
    download = check_bool(download, "download")
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str or None, "
                        f"got {base_url!r} of type {type(base_url).__name__}")
    if base_url is not None and not urllib.parse.urlsplit(base_url).scheme:
        raise ValueError(f"base_url must be a URL such as {MNIST_URL!r}, got {base_url!r}")
    directory = Path(os.path.expanduser(directory))
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"directory {directory} is a file, not the folder of the "
                                 f"MNIST files")
    files = MNIST_FILES[split]

    def present(spec):
        return (directory / f"{spec.name}.gz").is_file() or (directory / spec.name).is_file()

    missing = [spec for spec in files.values() if not present(spec)]
    if missing and download:
        if base_url is None:
            base_url = os.environ.get("FASTMLP_MNIST_URL") or MNIST_URL
        directory.mkdir(parents=True, exist_ok=True)
        for spec in missing:
            _download(f"{base_url.rstrip('/')}/{spec.name}.gz",
                      directory / f"{spec.name}.gz", spec)
    elif missing:
        paths = " and ".join(str(directory / f"{spec.name}.gz") for spec in missing)
        raise FileNotFoundError(f"MNIST {split} split not found in {directory}: missing "
                                f"{paths} (or the same without .gz); "
                                f"{_how_to_get(directory, split)}")

    images, images_path = _read_mnist_file(directory, files["images"])
    labels, labels_path = _read_mnist_file(directory, files["labels"])
    if len(images) != len(labels):  # only reachable if MNIST_FILES disagree with itself
        raise ValueError(f"MNIST files {images_path} and {labels_path} disagree: "
                         f"{len(images)} images but {len(labels)} labels")
    bad = np.flatnonzero(labels >= MNIST_N_CLASSES)
    if bad.size:
        raise ValueError(f"MNIST file {labels_path} has labels outside 0..9: "
                         f"{int(labels[bad[0]])} at index {int(bad[0])} "
                         f"({bad.size} in all); is it corrupt?")

    X = images.reshape(len(images), -1).astype(np.float32)
    X /= np.float32(255)
    return X, labels.astype(np.int64)
