"""Tests of fastmlp.datasets: circles, train_test_split and the MNIST loader.

The MNIST tests on real data read the official test split from the shared folder
beside the repository (skipped when it is absent) and copy it into ``tmp_path``
when they need to change it. Corrupt-file tests build synthetic IDX files of the
MNIST dimensions, so they run without the real data. Downloads go to a real HTTP
server on 127.0.0.1, started per test.
"""
import functools
import gzip
import hashlib
import http.server
import importlib.util
import os
import re
import socket
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import mnist_dir_or_skip, run_with_memory_limit
from fastmlp import datasets
from fastmlp.datasets import MNIST_FILES, circles, load_mnist, train_test_split

IMAGES = MNIST_FILES["test"]["images"]
LABELS = MNIST_FILES["test"]["labels"]
N_TEST = 10000


# --- helpers ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def idx_bytes(kind, count=N_TEST, magic=None, dims=None, body=None):
    """An IDX file of MNIST images or labels, with synthetic content by default.

    Image ``i`` has pixel ``j`` = ``(i + j) % 256``; label ``i`` is ``i % 10``.
    ``magic``, ``dims`` and ``body`` override the corresponding parts.
    """
    if magic is None:
        magic = 0x803 if kind == "images" else 0x801
    if dims is None:
        dims = (count, 28, 28) if kind == "images" else (count,)
    if body is None:
        if kind == "images":
            body = ((np.arange(count)[:, None] + np.arange(784)) % 256).astype(np.uint8)
        else:
            body = (np.arange(count) % 10).astype(np.uint8)
        body = body.tobytes()
    return magic.to_bytes(4, "big") + np.array(dims, dtype=">u4").tobytes() + body


def gz(data):
    """``data`` gzip-compressed (quickly: the level does not matter here)."""
    return gzip.compress(data, compresslevel=1)


def synthetic_expected(count=N_TEST):
    """What load_mnist returns for the default ``idx_bytes`` files."""
    pixels = (np.arange(count)[:, None] + np.arange(784)) % 256
    return (pixels / 255).astype(np.float32), np.arange(count) % 10


def write_split(folder, images=None, labels=None, images_name=None, labels_name=None):
    """Write a test split of raw (uncompressed) IDX files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    images_path = folder / (images_name or IMAGES.name)
    labels_path = folder / (labels_name or LABELS.name)
    images_path.write_bytes(idx_bytes("images") if images is None else images)
    labels_path.write_bytes(idx_bytes("labels") if labels is None else labels)
    return images_path, labels_path


def load_error(folder, exc_type=ValueError, split="test"):
    """The message of the error that loading ``split`` from ``folder`` raises."""
    with pytest.raises(exc_type) as info:
        load_mnist(folder, split=split)
    return str(info.value)


@pytest.fixture(scope="module")
def real_dir():
    return mnist_dir_or_skip()


@pytest.fixture(scope="module")
def real_test(real_dir):
    """The official MNIST test split, loaded once."""
    return load_mnist(real_dir, split="test")


@pytest.fixture(scope="module")
def real_raw(real_dir):
    """The decompressed bytes of the official test files, by kind."""
    return {kind: gzip.decompress((real_dir / f"{spec.name}.gz").read_bytes())
            for kind, spec in MNIST_FILES["test"].items()}


# --- circles ----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 1000])
def test_circles_shapes_dtypes_and_balance(n):
    X, y = circles(n, seed=0)
    assert X.shape == (n, 2) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}
    assert np.sum(y == 0) == n // 2
    assert np.sum(y == 1) == n - n // 2
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("factor", [0.2, 0.5, 0.9])
def test_circles_radii(factor):
    X, y = circles(4000, noise=0.01, factor=factor, seed=1)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius[y == 0].mean() == pytest.approx(1.0, abs=0.005)
    assert radius[y == 1].mean() == pytest.approx(factor, abs=0.005)
    # The noise is small: the two rings do not touch.
    assert radius[y == 1].max() < radius[y == 0].min()


def test_circles_noise_has_the_requested_spread():
    X, y = circles(20000, noise=0.1, factor=0.5, seed=2)
    radius = np.hypot(X[:, 0], X[:, 1])
    # On the unit circle, radial noise is about the noise of one coordinate.
    assert np.std(radius[y == 0]) == pytest.approx(0.1, rel=0.05)


def test_circles_cover_the_whole_circle_and_are_shuffled():
    X, y = circles(1000, noise=0.0, seed=3)
    for label in (0, 1):
        angle = np.arctan2(X[y == label, 1], X[y == label, 0])
        counts = np.histogram(angle, bins=8, range=(-np.pi, np.pi))[0]
        assert np.all(counts > 30), counts  # about 62 a bin
    # Shuffled: the labels are not in blocks.
    assert 0 < y[:500].sum() < 500
    assert np.count_nonzero(np.diff(y)) > 100


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 300), factor=st.floats(0.01, 0.99), seed=st.integers(0, 2**32))
def test_circles_without_noise_lie_exactly_on_the_circles(n, factor, seed):
    X, y = circles(n, noise=0.0, factor=factor, seed=seed)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius, np.where(y == 0, 1.0, factor), rtol=1e-12)
    assert np.sum(y == 0) == n // 2


def test_circles_seed_determinism():
    X1, y1 = circles(300, seed=42)
    X2, y2 = circles(300, seed=np.int64(42))
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, _ = circles(300, seed=43)
    assert not np.allclose(X1, X3)
    X4, _ = circles(300)
    X5, _ = circles(300)
    assert not np.allclose(X4, X5)


CIRCLES_ERRORS = [
    ({"n_samples": 1}, ValueError, r"n_samples must be >= 2; got 1$"),
    ({"n_samples": 0}, ValueError, r"n_samples .* got 0"),
    ({"n_samples": 2**62}, ValueError,
     r"n_samples must be <= 576460752303423487; got 4611686018427387904"),
    ({"n_samples": np.int64(2**62)}, ValueError, r"n_samples .* got 4611686018427387904"),
    ({"n_samples": 10**30}, ValueError, r"n_samples .* got 10{30}"),
    ({"n_samples": -2**70}, ValueError, r"n_samples .* got -1180591620717411303424"),
    ({"n_samples": 10.0}, TypeError, r"n_samples must be an integer; got float 10\.0"),
    ({"n_samples": np.float64(10)}, TypeError, r"n_samples .* got float64 np\.float64\(10\.0\)"),
    ({"n_samples": float("nan")}, TypeError, r"n_samples .* got float nan"),
    ({"n_samples": True}, TypeError, r"n_samples .* got bool True"),
    ({"n_samples": np.bool_(True)}, TypeError, r"n_samples .* got bool"),
    ({"n_samples": "100"}, TypeError, r"n_samples .* got str '100'"),
    ({"noise": -0.1}, ValueError, r"noise must be >= 0\.0; got -0\.1"),
    ({"noise": float("nan")}, ValueError, r"noise must be finite; got nan"),
    ({"noise": float("inf")}, ValueError, r"noise .* got inf"),
    ({"noise": 10**400}, ValueError, r"noise must be finite; got a value of type int beyond"),
    ({"noise": 1e308}, ValueError, r"noise=1e\+308 is too large: points overflow"),
    ({"noise": "0.1"}, TypeError, r"noise must be a real number; got str '0\.1'"),
    ({"noise": None}, TypeError, r"noise .* NoneType"),
    ({"noise": True}, TypeError, r"noise .* bool"),
    ({"factor": 0}, ValueError, r"factor must be in the open interval \(0, 1\); got 0\.0"),
    ({"factor": 1}, ValueError, r"factor .* got 1\.0"),
    ({"factor": 1.5}, ValueError, r"factor .* got 1\.5"),
    ({"factor": -0.5}, ValueError, r"factor .* got -0\.5"),
    ({"factor": float("nan")}, ValueError, r"factor must be finite; got nan"),
    ({"factor": 10**400}, ValueError, r"factor must be finite"),
    ({"factor": [0.5]}, TypeError, r"factor .* list"),
    ({"seed": 1.5}, TypeError, r"seed must be None or an integer >= 0; got float 1\.5"),
    ({"seed": "abc"}, TypeError, r"seed must be None or an integer >= 0; got str 'abc'"),
    ({"seed": True}, TypeError, r"seed .* got bool True"),
    ({"seed": np.float64(2)}, TypeError, r"seed .* got float64"),
    ({"seed": -1}, ValueError, r"seed must be None or an integer >= 0; got -1$"),
    ({"seed": np.int64(-1)}, ValueError, r"seed .* got -1$"),
    ({"seed": -2**70}, ValueError, r"seed .* got -1180591620717411303424"),
]


@pytest.mark.parametrize("kwargs, error, match", CIRCLES_ERRORS, ids=[
    ",".join(f"{k}={v!r}"[:40] for k, v in kwargs.items()) for kwargs, _, _ in CIRCLES_ERRORS])
def test_circles_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        circles(**kwargs)


def test_circles_accept_numpy_and_huge_integer_arguments():
    X, y = circles(np.int32(50), noise=np.float32(0.0), factor=np.float64(0.5),
                   seed=np.uint64(7))
    np.testing.assert_array_equal(X, circles(50, noise=0.0, factor=0.5, seed=7)[0])
    assert circles(10, seed=2**100)[0].shape == (10, 2)  # SeedSequence takes any size


def test_circles_too_many_points_for_memory_is_a_memory_error_naming_n_samples():
    # 10**8 points need about 8 GB; the child process may only grow by 512 MB.
    proc = run_with_memory_limit("""
        try:
            circles(10**8, seed=0)
        except MemoryError as exc:
            print("MemoryError:", exc)
        """, setup="from fastmlp.datasets import circles")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("MemoryError: n_samples=100000000 points do not fit in "
                                  "memory"), proc.stdout


# --- train_test_split -------------------------------------------------------------------

def numbered(n, width=3):
    """Rows whose first column is the row number, and labels 2 * row number."""
    X = np.arange(n * width, dtype=np.float64).reshape(n, width) // width
    return X, 2 * np.arange(n)


@pytest.mark.parametrize("test_size, n_test", [(0.25, 25), (0.33, 33), (0.07, 7),
                                               (0.071, 8), (0.001, 1),
                                               (0.99, 99), (10, 10), (1, 1), (99, 99),
                                               (np.int64(40), 40), (1e-12, 1), (5e-324, 1),
                                               (np.float32(0.25), 25), (np.uint8(3), 3)])
def test_split_sizes(test_size, n_test):
    X, y = numbered(100)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, seed=0)
    assert X_train.shape == (100 - n_test, 3) and X_test.shape == (n_test, 3)
    assert y_train.shape == (100 - n_test,) and y_test.shape == (n_test,)
    assert X_train.dtype == X.dtype and y_train.dtype == y.dtype


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 200), data=st.data())
def test_split_is_a_shuffled_partition_keeping_pairs(n, data):
    n_test = data.draw(st.integers(1, n - 1))
    X, y = numbered(n)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=n_test,
                                                        seed=data.draw(st.integers(0, 99)))
    rows = np.concatenate([X_train[:, 0], X_test[:, 0]])
    np.testing.assert_array_equal(np.sort(rows), np.arange(n))  # disjoint and complete
    # Each row keeps its own label and all of its columns.
    np.testing.assert_array_equal(y_train, 2 * X_train[:, 0])
    np.testing.assert_array_equal(y_test, 2 * X_test[:, 0])
    np.testing.assert_array_equal(X_train, X[X_train[:, 0].astype(int)])
    np.testing.assert_array_equal(X_test, X[X_test[:, 0].astype(int)])


def test_split_shuffles_and_is_deterministic():
    X, y = circles(200, seed=0)
    parts = train_test_split(X, y, seed=7)
    again = train_test_split(X, y, seed=7)
    for a, b in zip(parts, again):
        np.testing.assert_array_equal(a, b)
    other = train_test_split(X, y, seed=8)
    assert not np.array_equal(parts[1], other[1])
    # The test part is not simply the last rows.
    assert not np.array_equal(parts[1], X[-len(parts[1]):])


def test_split_accepts_lists_and_2d_targets():
    X = [[0, 0], [1, 1], [2, 2], [3, 3]]
    Y = np.eye(4)
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.5, seed=0)
    assert X_train.shape == (2, 2) and Y_test.shape == (2, 4)
    # Row i of X is (i, i) and row i of Y is the one-hot of i.
    np.testing.assert_array_equal(Y_train.argmax(axis=1), X_train[:, 0])
    np.testing.assert_array_equal(Y_test.argmax(axis=1), X_test[:, 0])


X10, y10 = np.zeros((10, 2)), np.zeros(10)


@pytest.mark.parametrize("X, y, kwargs, error, match", [
    (np.zeros((10, 2)), np.zeros(9), {}, ValueError,
     r"X and y must have the same number of rows.*\(10, 2\) \(10 rows\).*\(9,\) \(9 rows\)"),
    (np.float64(1.0), np.zeros(1), {}, ValueError, r"X must have at least one dimension"),
    (np.zeros((3, 2)), np.int64(1), {}, ValueError, r"y must have at least one dimension"),
    (np.zeros((1, 2)), np.zeros(1), {}, ValueError, r"X must have at least 2 rows.*got 1"),
    (X10, y10, {"test_size": 0.0}, ValueError,
     r"test_size as a fraction must be in the open interval \(0, 1\), got 0\.0"),
    (X10, y10, {"test_size": 1.0}, ValueError, r"test_size .* got 1\.0"),
    (X10, y10, {"test_size": -0.2}, ValueError, r"test_size .* got -0\.2"),
    (X10, y10, {"test_size": 0.95}, ValueError,
     r"test_size=0\.95 of 10 rows leaves no training rows"),
    (X10, y10, {"test_size": 0}, ValueError,
     r"test_size as a count must be between 1 and 9 .*got 0"),
    (X10, y10, {"test_size": 10}, ValueError, r"test_size .* got 10"),
    (X10, y10, {"test_size": "0.2"}, TypeError,
     r"test_size must be a fraction in \(0, 1\) or an integer count, got '0\.2' of type str"),
    (X10, y10, {"test_size": True}, TypeError, r"test_size .* type bool"),
    (X10, y10, {"test_size": float("nan")}, ValueError, r"test_size .* got nan"),
    (X10, y10, {"test_size": float("inf")}, ValueError, r"test_size .* got inf"),
    (X10, y10, {"test_size": 2**64}, ValueError, r"test_size .* got 18446744073709551616"),
    (X10, y10, {"test_size": np.bool_(True)}, TypeError, r"test_size .* type bool"),
    (X10, y10, {"seed": 0.5}, TypeError, r"seed .* got float 0\.5"),
    (X10, y10, {"seed": "abc"}, TypeError, r"seed must be None or an integer >= 0; got str"),
    (X10, y10, {"seed": -1}, ValueError, r"seed must be None or an integer >= 0; got -1"),
    ([[0, 1], [2]], [0, 1], {}, ValueError,
     r"X must be an array \(nested lists of equal lengths\); NumPy cannot convert it"),
    (X10, [[0], [1, 2]] * 5, {}, ValueError,
     r"y must be an array \(nested lists of equal lengths\)"),
], ids=["rows", "scalar-X", "scalar-y", "one-row", "fraction-0", "fraction-1",
        "negative", "no-train-rows", "count-0", "count-n", "str", "bool", "nan", "inf",
        "huge-count", "numpy-bool", "seed-float", "seed-str", "seed-negative", "ragged-X",
        "ragged-y"])
def test_split_errors(X, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        train_test_split(X, y, **kwargs)


# --- MNIST: the real test split ---------------------------------------------------------

def test_real_test_split(real_test):
    X, y = real_test
    assert X.shape == (N_TEST, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (N_TEST,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # Pixels are bytes divided by 255.
    np.testing.assert_allclose(X * 255, np.round(X * 255), atol=1e-4)
    assert y[0] == 7
    np.testing.assert_array_equal(y[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.sum() == N_TEST
    assert counts.min() > 800 and counts.max() < 1200, counts
    # Digits are mostly dark background with a bright stroke.
    assert 0.05 < X.mean() < 0.25


def test_real_raw_files_give_the_same_data(real_test, real_raw, tmp_path):
    write_split(tmp_path, real_raw["images"], real_raw["labels"])
    X, y = load_mnist(tmp_path, split="test")
    np.testing.assert_array_equal(X, real_test[0])
    np.testing.assert_array_equal(y, real_test[1])


def test_gz_is_preferred_over_raw(real_dir, real_test, tmp_path):
    for spec in (IMAGES, LABELS):
        (tmp_path / f"{spec.name}.gz").write_bytes((real_dir / f"{spec.name}.gz").read_bytes())
        (tmp_path / spec.name).write_bytes(b"not an IDX file")  # would fail if it were read
    X, y = load_mnist(str(tmp_path), split="test")
    np.testing.assert_array_equal(y, real_test[1])


def test_train_split_missing_from_the_shared_folder(real_dir):
    # The shared folder has the test split only: asking for train names its files.
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(real_dir, split="train")
    assert str(real_dir / "train-images-idx3-ubyte.gz") in str(info.value)
    assert str(real_dir / "train-labels-idx1-ubyte.gz") in str(info.value)


# --- MNIST: synthetic files, parsing and corruption -------------------------------------

def test_synthetic_raw_split_is_parsed_exactly(tmp_path):
    write_split(tmp_path)
    X, y = load_mnist(tmp_path, split="test")
    X_expected, y_expected = synthetic_expected()
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)
    assert X.dtype == np.float32 and y.dtype == np.int64


def test_train_split_reads_the_train_files(tmp_path):
    # The test files under the train names are read for split="train", and
    # rejected because the train split has 60000 digits.
    train = MNIST_FILES["train"]
    write_split(tmp_path, images_name=train["images"].name, labels_name=train["labels"].name)
    message = load_error(tmp_path, split="train")
    assert str(tmp_path / train["images"].name) in message
    assert "dimensions (10000, 28, 28) in its header, expected (60000, 28, 28)" in message
    # With the test files beside them, split="test" still reads its own.
    write_split(tmp_path)
    assert load_mnist(tmp_path, split="test")[0].shape == (N_TEST, 784)



@pytest.mark.parametrize("kind, content, words", [
    ("images", idx_bytes("images", magic=0x801, dims=(N_TEST, 28, 28)),
     ["wrong magic number 0x00000801", "expected 0x00000803"]),
    ("images", idx_bytes("labels"), ["wrong magic number 0x00000801"]),
    ("labels", idx_bytes("images"), ["wrong magic number 0x00000803", "expected 0x00000801"]),
    ("images", idx_bytes("images")[:-100], ["truncated", "7840000 bytes", "7839900"]),
    ("labels", idx_bytes("labels")[:-1], ["truncated", "10000 bytes", "9999"]),
    ("images", idx_bytes("images") + b"\x00\x00\x00", ["3 trailing bytes"]),
    ("labels", idx_bytes("labels") + b"\x01", ["1 trailing bytes"]),
    ("images", idx_bytes("images")[:10], ["too short", "10 bytes", "16-byte header"]),
    ("labels", b"", ["too short", "0 bytes"]),
    ("images", idx_bytes("images", dims=(N_TEST, 32, 32), body=bytes(N_TEST * 1024)),
     ["dimensions (10000, 32, 32)", "expected (10000, 28, 28)"]),
    ("images", idx_bytes("images", count=9999), ["dimensions (9999, 28, 28)"]),
    ("labels", idx_bytes("labels", body=bytes(9999) + b"\x0a"),
     ["labels outside 0..9", "10 at index 9999"]),
    ("labels", idx_bytes("labels", body=b"\xff" * N_TEST), ["255 at index 0 (10000 in all)"]),
], ids=["bad-magic", "labels-as-images", "images-as-labels", "truncated-images",
        "truncated-labels", "trailing-images", "trailing-labels", "short-header",
        "empty", "wrong-image-size", "wrong-count", "label-10", "label-255"])
def test_corrupt_raw_files(tmp_path, kind, content, words):
    images_path, labels_path = write_split(tmp_path, **{kind: content})
    message = load_error(tmp_path)
    assert str(images_path if kind == "images" else labels_path) in message
    for word in words:
        assert word in message, message


def test_checksum_mismatch_of_a_valid_gz(real_dir, real_raw, tmp_path):
    # A well-formed gz whose content differs from the official file in one pixel.
    images = bytearray(real_raw["images"])
    images[16 + 400] ^= 0xFF
    (tmp_path / f"{IMAGES.name}.gz").write_bytes(gz(bytes(images)))
    (tmp_path / f"{LABELS.name}.gz").write_bytes((real_dir / f"{LABELS.name}.gz").read_bytes())
    message = load_error(tmp_path)
    assert str(tmp_path / f"{IMAGES.name}.gz") in message
    assert "checksum" in message and IMAGES.md5 in message


def test_checksum_mismatch_of_synthetic_gz(tmp_path):
    # Runs without the real data: any gz that is not the official file fails.
    (tmp_path / f"{IMAGES.name}.gz").write_bytes(gz(idx_bytes("images")))
    (tmp_path / LABELS.name).write_bytes(idx_bytes("labels"))
    found = hashlib.md5((tmp_path / f"{IMAGES.name}.gz").read_bytes()).hexdigest()
    message = load_error(tmp_path)
    assert f"MD5 {found}, expected {IMAGES.md5}" in message


@pytest.fixture
def unknown_md5(monkeypatch):
    """The test split without MD5 checksums, as for files whose checksum is not known:
    crafted .gz files then get past the checksum to the checks behind it."""
    for kind, spec in MNIST_FILES["test"].items():
        monkeypatch.setitem(MNIST_FILES["test"], kind, spec._replace(md5=None))


def test_the_checksum_comes_before_decompression(tmp_path):
    # Garbage that is not even gzip fails its checksum, before anything is decompressed.
    (tmp_path / IMAGES.name).write_bytes(idx_bytes("images"))
    path = tmp_path / f"{LABELS.name}.gz"
    path.write_bytes(b"this is not gzip data at all")
    message = load_error(tmp_path)
    assert f"MNIST file {path} fails its checksum" in message


@pytest.mark.parametrize("content", [b"this is not gzip data at all",
                                     gz(idx_bytes("labels"))[:-20],
                                     gz(idx_bytes("labels"))[:-4] + b"\0\0\0\0"],
                         ids=["garbage", "truncated-gz", "wrong-length-in-trailer"])
def test_bad_gzip(tmp_path, unknown_md5, content):
    (tmp_path / IMAGES.name).write_bytes(idx_bytes("images"))
    path = tmp_path / f"{LABELS.name}.gz"
    path.write_bytes(content)
    message = load_error(tmp_path)
    assert f"MNIST file {path} is not a valid gzip file" in message


@pytest.mark.parametrize("kind, content, words", [
    ("images", idx_bytes("images")[:-100], ["truncated", "7840000 bytes", "only 7839900"]),
    ("labels", idx_bytes("labels") + b"\x01",
     ["holds more than the 10000 bytes of labels its header announces"]),
    ("labels", idx_bytes("labels", dims=(2**32 - 1,)), ["dimensions (4294967295,)"]),
    ("images", idx_bytes("images")[:12], ["too short", "12 bytes", "16-byte header"]),
], ids=["truncated", "trailing", "huge-count", "short-header"])
def test_corrupt_gz_content(tmp_path, unknown_md5, kind, content, words):
    write_split(tmp_path)
    spec = MNIST_FILES["test"][kind]
    path = tmp_path / f"{spec.name}.gz"
    path.write_bytes(gz(content))
    message = load_error(tmp_path)
    assert f"MNIST file {path}" in message
    for word in words:
        assert word in message, message


def test_synthetic_gz_split_without_checksums_is_parsed_exactly(tmp_path, unknown_md5):
    for spec in (IMAGES, LABELS):
        (tmp_path / f"{spec.name}.gz").write_bytes(gz(idx_bytes(spec.kind)))
    X, y = load_mnist(tmp_path, split="test")
    X_expected, y_expected = synthetic_expected()
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)


# --- MNIST: memory stays bounded by the real file's size --------------------------------

BOMB_ZEROS = 128  # MiB of zeros after the header, from about 130 kB of gzip


@functools.lru_cache(maxsize=None)
def gzip_bomb(header):
    """A gzip file of ``header`` then BOMB_ZEROS MiB of zeros: one member per MiB, each of
    about a kilobyte (gzip readers decompress concatenated members as one stream)."""
    return gz(header) + gz(bytes(2**20)) * BOMB_ZEROS


def peak_memory(call):
    """(what ``call()`` raised, the peak of memory traced while it ran, in bytes)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            call()
        return str(info.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# The test images hold 7.84 MB, read into one array of exactly that size.
PEAK_LIMIT = 24 * 2**20


@pytest.mark.parametrize("header, words", [
    (idx_bytes("images", body=b""), ["holds more than the 7840000 bytes of images"]),
    (idx_bytes("images", dims=(2**32 - 1, 2**32 - 1, 2**32 - 1), body=b""),
     ["dimensions (4294967295, 4294967295, 4294967295)", "expected (10000, 28, 28)"]),
], ids=["mnist-size-then-more", "absurd-size"])
def test_gzip_bomb_is_refused_without_inflating_it(tmp_path, unknown_md5, header, words):
    write_split(tmp_path)
    path = tmp_path / f"{IMAGES.name}.gz"
    path.write_bytes(gzip_bomb(header))
    message, peak = peak_memory(lambda: load_mnist(tmp_path, split="test"))
    assert f"MNIST file {path}" in message
    for word in words:
        assert word in message, message
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB while refusing a gzip bomb"


def test_gzip_bomb_fails_its_checksum_before_any_decompression(tmp_path):
    write_split(tmp_path)
    path = tmp_path / f"{IMAGES.name}.gz"
    path.write_bytes(gzip_bomb(idx_bytes("images", body=b"")))
    message, peak = peak_memory(lambda: load_mnist(tmp_path, split="test"))
    assert f"MNIST file {path} fails its checksum" in message
    assert peak < 4 * 2**20  # no image buffer either


def test_huge_raw_file_is_refused_from_its_size(tmp_path):
    write_split(tmp_path)
    path = tmp_path / IMAGES.name
    with open(path, "r+b") as f:  # sparse: takes no disk space
        f.truncate(2**30)
    message, peak = peak_memory(lambda: load_mnist(tmp_path, split="test"))
    assert f"MNIST file {path} has {2**30 - 16 - 7840000} trailing bytes" in message
    assert peak < 4 * 2**20


def test_gz_larger_than_the_compressed_file_can_be(tmp_path):
    write_split(tmp_path)
    path = tmp_path / f"{LABELS.name}.gz"
    path.write_bytes(bytes(20000))  # 10,016 bytes of labels compress to less
    message = load_error(tmp_path)
    assert f"MNIST file {path} is 20000 bytes, more than a gzip-compressed MNIST labels " \
           f"file can be (14204)" in message


def test_missing_files(tmp_path):
    folder = tmp_path / "no-mnist-here"
    message = load_error(folder, FileNotFoundError)
    for spec in (IMAGES, LABELS):
        assert str(folder / f"{spec.name}.gz") in message
    assert "download=True" in message and "--download" in message
    assert "fastmlp train --data mnist" in message
    assert "\n" not in message  # one line, for the command line's error
    assert not folder.exists()  # looking does not create the folder


def test_one_missing_file_is_named_alone(tmp_path):
    (tmp_path / IMAGES.name).write_bytes(idx_bytes("images"))
    message = load_error(tmp_path, FileNotFoundError)
    assert str(tmp_path / f"{LABELS.name}.gz") in message
    assert str(tmp_path / f"{IMAGES.name}.gz") not in message
    assert f"{IMAGES.name}.gz and {LABELS.name}.gz" in message  # the official names


@pytest.mark.parametrize("kwargs, error, match", [
    ({"split": "validation"}, ValueError,
     r"split must be one of 'train', 'test'; got 'validation'"),
    ({"split": "Test"}, ValueError, r"split .* got 'Test'"),
    ({"split": 1}, TypeError, r"split must be one of 'train', 'test'; got int 1"),
    ({"download": "yes"}, TypeError, r"download must be True or False; got str 'yes'"),
    ({"download": 1}, TypeError, r"download must be True or False; got int 1"),
    ({"base_url": b"http://x"}, TypeError, r"base_url must be a str or None"),
], ids=["split", "split-case", "split-type", "download-str", "download-int", "base_url"])
def test_load_mnist_argument_errors(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_mnist(tmp_path, **kwargs)


@pytest.mark.parametrize("directory", [3, None, ["a"]], ids=["int", "None", "list"])
def test_load_mnist_directory_type(directory):
    with pytest.raises(TypeError, match=r"directory must be a folder path \(str, bytes or "
                                        r"os.PathLike\); got (int|NoneType|list) "):
        load_mnist(directory)


class BytesPath:
    """An os.PathLike whose path is bytes."""

    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path


def test_load_mnist_directory_as_bytes(tmp_path):
    write_split(tmp_path)
    expected = load_mnist(tmp_path, split="test")
    for directory in (os.fsencode(tmp_path), BytesPath(os.fsencode(tmp_path))):
        X, y = load_mnist(directory, split="test")
        np.testing.assert_array_equal(X, expected[0])
        np.testing.assert_array_equal(y, expected[1])


def test_load_mnist_directory_that_is_a_file(tmp_path):
    path = tmp_path / "mnist"
    path.write_text("not a folder")
    for download in (False, True):
        with pytest.raises(NotADirectoryError, match=f"directory {re.escape(str(path))} is a "
                                                     f"file, not the folder"):
            load_mnist(path, split="test", download=download)


def test_load_mnist_directory_with_a_nul_byte():
    with pytest.raises(ValueError, match=r"directory must be a folder path without NUL bytes; "
                                         r"got '/tmp/a\\x00b'"):
        load_mnist("/tmp/a\0b", download=True)


@pytest.mark.parametrize("base_url", ["", "ossci-datasets.s3.amazonaws.com/mnist"])
def test_load_mnist_base_url_without_a_scheme(tmp_path, base_url):
    with pytest.raises(ValueError, match=r"base_url must be a URL such as 'https://"):
        load_mnist(tmp_path, split="test", download=True, base_url=base_url)
    assert list(tmp_path.iterdir()) == []


# --- MNIST: download --------------------------------------------------------------------

class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records the path of every GET on its server."""

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture
def serve(monkeypatch):
    """Start HTTP servers on 127.0.0.1: ``serve(folder) -> (base_url, requests)``."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    running = []

    def start(folder):
        handler = functools.partial(CountingHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.requests = []
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}", server.requests

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_then_reuse(real_dir, real_test, serve, tmp_path):
    base_url, requests = serve(real_dir)
    folder = tmp_path / "new" / "mnist"  # created by the download
    X, y = load_mnist(folder, split="test", download=True, base_url=base_url + "/")
    assert sorted(requests) == sorted([f"/{IMAGES.name}.gz", f"/{LABELS.name}.gz"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{IMAGES.name}.gz", f"{LABELS.name}.gz"])  # and no temporary files
    for spec in (IMAGES, LABELS):
        assert (folder / f"{spec.name}.gz").read_bytes() == \
            (real_dir / f"{spec.name}.gz").read_bytes()
    np.testing.assert_array_equal(X, real_test[0])
    np.testing.assert_array_equal(y, real_test[1])
    # Present files are not fetched again.
    X2, y2 = load_mnist(folder, split="test", download=True, base_url=base_url)
    assert len(requests) == 2
    np.testing.assert_array_equal(y2, real_test[1])


def test_download_only_the_missing_file(real_dir, real_raw, real_test, serve, tmp_path,
                                        monkeypatch):
    base_url, requests = serve(real_dir)
    (tmp_path / IMAGES.name).write_bytes(real_raw["images"])  # present, uncompressed
    monkeypatch.setenv("FASTMLP_MNIST_URL", base_url)  # the default base_url
    X, y = load_mnist(tmp_path, split="test", download=True)
    assert requests == [f"/{LABELS.name}.gz"]
    np.testing.assert_array_equal(X, real_test[0])
    np.testing.assert_array_equal(y, real_test[1])


def test_corrupt_download_leaves_nothing(serve, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    for spec in (IMAGES, LABELS):  # well-formed gz files that are not the official ones
        (served / f"{spec.name}.gz").write_bytes(gz(idx_bytes(spec.kind)))
    base_url, requests = serve(served)
    folder = tmp_path / "mnist"
    with pytest.raises(ValueError) as info:
        load_mnist(folder, split="test", download=True, base_url=base_url)
    message = str(info.value)
    assert f"{base_url}/{IMAGES.name}.gz" in message
    assert "corrupt" in message and "MD5 checksum" in message and IMAGES.md5 in message
    assert requests == [f"/{IMAGES.name}.gz"]
    assert list(folder.iterdir()) == []  # no final file, no temporary file


def test_download_larger_than_the_file_can_be_stops_and_leaves_nothing(serve, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / f"{IMAGES.name}.gz").write_bytes(bytes(2**23))  # 8.4 MB, more than 7.9 MB
    base_url, _ = serve(served)
    folder = tmp_path / "mnist"
    with pytest.raises(ValueError) as info:
        load_mnist(folder, split="test", download=True, base_url=base_url)
    message = str(info.value)
    assert f"the MNIST download from {base_url}/{IMAGES.name}.gz is more than " in message
    assert "more than a gzip-compressed MNIST images file can be" in message
    assert list(folder.iterdir()) == []


def test_download_404_names_the_url(serve, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    base_url, _ = serve(empty)
    folder = tmp_path / "mnist"
    with pytest.raises(OSError) as info:
        load_mnist(folder, split="test", download=True, base_url=base_url)
    message = str(info.value)
    assert f"downloading MNIST from {base_url}/{IMAGES.name}.gz failed: HTTP 404" in message
    assert list(folder.iterdir()) == []


def test_download_connection_refused_names_the_url(tmp_path, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{IMAGES.name}.gz"
    with pytest.raises(OSError, match=re.escape(f"downloading MNIST from {url} failed")):
        load_mnist(tmp_path, split="test", download=True, base_url=f"http://127.0.0.1:{port}")
    assert list(tmp_path.iterdir()) == []


# --- module constants -------------------------------------------------------------------

def fresh_datasets_module():
    """A separate copy of fastmlp.datasets, executed now (under the current env)."""
    spec = importlib.util.spec_from_file_location("fastmlp._datasets_copy", datasets.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    assert fresh_datasets_module().DEFAULT_DATA_DIR == str(tmp_path / ".fastmlp" / "mnist")
    monkeypatch.setenv("FASTMLP_DATA", "~/elsewhere")
    assert fresh_datasets_module().DEFAULT_DATA_DIR == str(tmp_path / "elsewhere")


def test_mnist_files_table():
    assert datasets.MNIST_URL == "https://ossci-datasets.s3.amazonaws.com/mnist"
    assert {split: {kind: (f.name, f.count) for kind, f in files.items()}
            for split, files in MNIST_FILES.items()} == {
        "train": {"images": ("train-images-idx3-ubyte", 60000),
                  "labels": ("train-labels-idx1-ubyte", 60000)},
        "test": {"images": ("t10k-images-idx3-ubyte", 10000),
                 "labels": ("t10k-labels-idx1-ubyte", 10000)},
    }
    for files in MNIST_FILES.values():
        for spec in files.values():
            assert re.fullmatch(r"[0-9a-f]{32}", spec.md5)


def test_mnist_checksums_match_the_shared_md5sums(real_dir):
    listed = dict(line.split()[::-1] for line in
                  (real_dir / "MD5SUMS").read_text().splitlines() if line.strip())
    for spec in (IMAGES, LABELS):
        assert listed[f"{spec.name}.gz"] == spec.md5
        assert hashlib.md5((real_dir / f"{spec.name}.gz").read_bytes()).hexdigest() == spec.md5
