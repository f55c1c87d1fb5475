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
import urllib.error
import urllib.request
import zlib
from http.client import HTTPException
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["circles", "train_test_split", "load_mnist", "MNIST_FILES", "MNIST_URL",
           "DEFAULT_DATA_DIR"]

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

def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, "
                        f"got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_real(value, name, expected):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number {expected}, "
                        f"got {value!r} of type {type(value).__name__}")
    return float(value)


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or an integer, "
                        f"got {seed!r} of type {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0, got {seed}")
    return int(seed)


def circles(n_samples=1000, noise=0.1, factor=0.5, seed=None):
    """Two noisy concentric circles in the plane, a binary classification problem.

    Half the points (label 0) lie on the unit circle, the other half (label 1)
    on the circle of radius ``factor``, at angles drawn uniformly at random;
    each coordinate then gets Gaussian noise of standard deviation ``noise``.
    The rows come out shuffled.

    Parameters
    ----------
    n_samples : int, default 1000
        Number of points, at least 2. With an odd count the inner circle gets
        the extra point.
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to each coordinate;
        finite and >= 0 (0 puts every point exactly on its circle).
    factor : float, default 0.5
        Radius of the inner circle, strictly between 0 and 1.
    seed : int or None, default None
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
        If an argument is out of range.

    Examples
    --------
    >>> X, y = circles(200, noise=0.05, seed=0)
    >>> X.shape, y.shape, int(y.sum())
    ((200, 2), (200,), 100)
    """
    n_samples = _check_int(n_samples, "n_samples", 2)
    noise = _check_real(noise, "noise", "(finite, >= 0)")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    factor = _check_real(factor, "factor", "in the open interval (0, 1)")
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in the open interval (0, 1), got {factor}")
    rng = np.random.default_rng(_check_seed(seed))

    n_outer = n_samples // 2
    y = np.zeros(n_samples, dtype=np.int64)
    y[n_outer:] = 1
    radius = np.where(y == 0, 1.0, factor)
    angle = rng.uniform(0.0, 2.0 * np.pi, n_samples)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(n_samples)
    return np.ascontiguousarray(X[order]), y[order]


def train_test_split(X, y, test_size=0.25, seed=None):
    """Split ``(X, y)`` into shuffled training and test parts.

    Parameters
    ----------
    X : array_like, shape (n_samples, ...)
        The inputs, one row per sample (at least 2 rows).
    y : array_like, shape (n_samples, ...)
        The targets, with the same number of rows as ``X``.
    test_size : float or int, default 0.25
        A float in the open interval (0, 1) is the fraction of rows that go to
        the test part (rounded up); an int is their number. Both parts must end
        up non-empty.
    seed : int or None, default None
        Seed of the shuffle; the same seed gives the same split.

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
        If ``X`` and ``y`` have different numbers of rows, if either is a scalar,
        or if ``test_size`` leaves one of the parts empty.

    Examples
    --------
    >>> X, y = circles(100, seed=0)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)
    >>> len(X_train), len(X_test)
    (80, 20)
    """
    X = np.asarray(X)
    y = np.asarray(y)
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
    if n < 2:
        raise ValueError(f"X must have at least 2 rows to split into two non-empty "
                         f"parts, got {n}")

    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a fraction in (0, 1) or an integer count, "
                        f"got {test_size!r} of type {type(test_size).__name__}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(f"test_size as a count must be between 1 and {n - 1} "
                             f"(for {n} rows, so both parts are non-empty), got {n_test}")
    else:
        fraction = float(test_size)
        if not 0 < fraction < 1:
            raise ValueError(f"test_size as a fraction must be in the open interval "
                             f"(0, 1), got {fraction}")
        # Rounded first, so that 0.07 * 100 = 7.000000000000001 gives 7 rows, not 8.
        n_test = math.ceil(round(fraction * n, 9))
        if n_test > n - 1:
            raise ValueError(f"test_size={fraction} of {n} rows leaves no training rows; "
                             f"use a smaller fraction or an integer count")
    rng = np.random.default_rng(_check_seed(seed))

    order = rng.permutation(n)
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


# --- MNIST ------------------------------------------------------------------------------

def _md5(data):
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _how_to_get(directory, split):
    files = MNIST_FILES[split]
    names = " and ".join(f"{f.name}.gz" for f in files.values())
    return (f"to get them, call fastmlp.datasets.load_mnist({str(directory)!r}, "
            f"split={split!r}, download=True) or run `fastmlp train --data mnist "
            f"--data-dir {directory} --download`, or put the official files {names} "
            f"(gzip-compressed or not) in that folder")


def _parse_idx(data, path, spec):
    """The uint8 array in the IDX bytes ``data`` of ``spec``, checked for MNIST."""
    where = f"MNIST file {path}"
    magic = _IDX_MAGIC[spec.kind]
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{where} is too short to be an IDX {spec.kind} file: {len(data)} "
                         f"bytes, less than its {header}-byte header; delete it and "
                         f"download it again")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{where} has the wrong magic number 0x{found:08x}, expected "
                         f"0x{magic:08x} for an IDX file of {ndim}-D unsigned bytes "
                         f"({spec.kind}); is it the right file, and not corrupt?")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = (spec.count,) + (MNIST_IMAGE_SHAPE if spec.kind == "images" else ())
    if dims != expected:
        raise ValueError(f"{where} has dimensions {dims} in its header, expected "
                         f"{expected} for MNIST {spec.kind}")
    size = math.prod(dims)
    body = len(data) - header
    if body < size:
        raise ValueError(f"{where} is truncated: its header announces {size} bytes of "
                         f"{spec.kind} but only {body} follow; delete it and download "
                         f"it again")
    if body > size:
        raise ValueError(f"{where} has {body - size} trailing bytes after the {size} "
                         f"bytes of {spec.kind} its header announces; is it corrupt?")
    return np.frombuffer(data, dtype=np.uint8, count=size, offset=header).reshape(dims)


def _read_mnist_file(directory, spec):
    """The checked uint8 array of one MNIST file (``.gz`` preferred over raw)."""
    path = directory / f"{spec.name}.gz"
    compressed = path.is_file()
    if not compressed:
        path = directory / spec.name
    content = path.read_bytes()
    data = content
    if compressed:
        try:
            data = gzip.decompress(content)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"MNIST file {path} is not a valid gzip file ({exc}); delete "
                             f"it and download it again") from None
    array = _parse_idx(data, path, spec)
    if compressed and spec.md5 is not None:
        found = _md5(content)
        if found != spec.md5:
            raise ValueError(f"MNIST file {path} fails its checksum: MD5 {found}, expected "
                             f"{spec.md5} (the official file); it is corrupt or not the "
                             f"official one, delete it and download it again")
    return array, path


def _download(url, destination, md5):
    """Fetch ``url`` to ``destination`` through a temporary file, checked by MD5."""
    temporary = destination.with_name(
        f".{destination.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        try:
            with open(temporary, "xb") as out, \
                    urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                while chunk := response.read(1 << 16):
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
        if md5 is not None and found != md5:
            raise ValueError(f"the MNIST download from {url} is corrupt: its MD5 checksum "
                             f"is {found}, expected {md5}; nothing was saved to "
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
    MD5 checksum of ``.gz`` files against the official one.

    Parameters
    ----------
    directory : str or os.PathLike
        The folder holding the files (``DEFAULT_DATA_DIR`` is the usual one);
        a leading ``~`` is expanded.
    split : {"train", "test"}, default "train"
        Which split to load.
    download : bool, default False
        Download the files of the split that are missing from ``directory``
        (which is created if needed) before loading. Files already present,
        compressed or not, are not downloaded again. Each download is checked
        against its MD5 checksum before it is moved into place.
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
        If ``split`` is not "train" or "test"; if a file is corrupt (not gzip,
        wrong magic number, wrong dimensions, truncated, trailing bytes, labels
        out of range, checksum mismatch); if a download is corrupt.
    FileNotFoundError
        If a file is missing and ``download`` is False. The message names the
        path and says how to get the data.
    OSError
        If a download fails (network error, HTTP error); the message names the URL.

    Examples
    --------
    >>> X, y = load_mnist(DEFAULT_DATA_DIR, "test", download=True)  # doctest: +SKIP
    >>> X.shape, y[0]  # doctest: +SKIP
    ((10000, 784), 7)
    """
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a str or os.PathLike, "
                        f"got {directory!r} of type {type(directory).__name__}")
    if not isinstance(split, str):
        raise TypeError(f"split must be 'train' or 'test', "
                        f"got {split!r} of type {type(split).__name__}")
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not isinstance(download, (bool, np.bool_)):
        raise TypeError(f"download must be True or False, "
                        f"got {download!r} of type {type(download).__name__}")
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str or None, "
                        f"got {base_url!r} of type {type(base_url).__name__}")
    directory = Path(os.path.expanduser(os.fspath(directory)))
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
                      directory / f"{spec.name}.gz", spec.md5)
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
