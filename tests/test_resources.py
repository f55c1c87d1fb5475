"""Resources: no kernel leaks memory over 100,000 calls, and a training step allocates nothing.

Memory is the process's resident set (/proc/self/statm). A leak of even 100
bytes a call would add 10 MB over 100,000 calls; the margin allows for the
allocator's own growth. Error paths are called too, since they leak most often.
"""
import gc
import os
import tracemalloc

import numpy as np
import pytest

from fastmlp import MLP, kernels

CALLS = 100_000
MARGIN = 8 * 2**20

STATM = "/proc/self/statm"


def rss():
    with open(STATM) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


x = np.random.default_rng(0).standard_normal((4, 3))
W, b = np.ones((2, 3)), np.zeros(2)
g2 = np.ones((4, 2))
labels = np.array([0, 1, 2, 0])
out = np.empty((4, 3))
param, grad, velocity = np.zeros(12), np.ones(12), np.zeros(12)
exp_avg_sq, max_exp_avg_sq = np.zeros(12), np.zeros(12)
model = MLP([3, 5, 3], seed=0)
X32 = x.astype(np.float32)


def bad_shape():
    try:
        kernels.softmax_cross_entropy(x, labels[:3])
    except ValueError:
        pass


CALLS_BY_KERNEL = {
    "softmax": lambda: kernels.softmax(x),
    "log_softmax": lambda: kernels.log_softmax(x, out=out),
    "softmax_cross_entropy": lambda: kernels.softmax_cross_entropy(x, labels),
    "softmax_cross_entropy weighted": lambda: kernels.softmax_cross_entropy(
        x, labels, sample_weight=[1.0, 2.0, 1.0, 0.5]),
    "mse": lambda: kernels.mse(x, out),
    "tanh": lambda: kernels.tanh(x),
    "sigmoid": lambda: kernels.sigmoid(x, out=out),
    "relu": lambda: kernels.relu(x),
    "tanh_derivative": lambda: kernels.tanh_derivative(x),
    "sigmoid_derivative": lambda: kernels.sigmoid_derivative(x),
    "relu_derivative": lambda: kernels.relu_derivative(x),
    "tanh_backward": lambda: kernels.tanh_backward(x, out),
    "sigmoid_backward": lambda: kernels.sigmoid_backward(x, out),
    "relu_backward": lambda: kernels.relu_backward(x, out),
    "linear_forward": lambda: kernels.linear_forward(x, W, b),
    "linear_backward": lambda: kernels.linear_backward(x, W, g2),
    "sgd_update": lambda: kernels.sgd_update(param, grad, 1e-9, momentum=0.9,
                                             velocity=velocity),
    "adam_update": lambda: kernels.adam_update(param, grad, velocity, exp_avg_sq, 1,
                                               amsgrad=True, max_exp_avg_sq=max_exp_avg_sq),
    "error path": bad_shape,
    "MLP.step": lambda: model.step(X32, labels, 1e-6),
    "MLP.forward": lambda: model.forward(X32),
    "MLP.predict": lambda: model.predict(x),
}


@pytest.mark.skipif(not os.path.exists(STATM), reason="needs /proc/self/statm (Linux)")
@pytest.mark.parametrize("name", list(CALLS_BY_KERNEL))
def test_no_leak_over_100k_calls(name):
    call = CALLS_BY_KERNEL[name]
    for _ in range(2_000):
        call()
    gc.collect()
    before = rss()
    for _ in range(CALLS):
        call()
    gc.collect()
    grown = rss() - before
    assert grown < MARGIN, f"{name}: resident memory grew {grown} bytes ({grown / CALLS:.1f} a call)"


def test_a_training_step_allocates_nothing_after_the_first():
    m = MLP([20, 32, 16, 4], seed=0)
    X = np.random.default_rng(1).standard_normal((64, 20)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 4, 64)
    y = y.astype(np.intp)
    for _ in range(10):
        m.step(X, y, 0.01, momentum=0.9)
    tracemalloc.start()
    try:
        first = tracemalloc.take_snapshot()
        for _ in range(1_000):
            m.step(X, y, 0.01, momentum=0.9)
        second = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # Only allocations still alive count; a workspace or an array made per step and
    # kept would show as thousands of blocks.
    grown = [s for s in second.compare_to(first, "filename") if s.size_diff > 0]
    total = sum(s.size_diff for s in grown)
    assert total < 1024, [str(s) for s in grown[:5]]
    # And nothing transient of array size either: the peak stays far below one batch.
    tracemalloc.start()
    try:
        m.step(X, y, 0.01, momentum=0.9)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes // 4, peak
