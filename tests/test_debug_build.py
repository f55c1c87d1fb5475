"""The debug build (FASTMLP_DEBUG=1 pip install .) turns out-of-bounds access into IndexError.

The public kernels never let a bad shape reach compiled code, so these tests call
the private entry points directly with buffers too short for the loop. In the
release build the checks are compiled out and the tests are skipped; .ci/run
also runs the kernel tests against a debug build, where they run.
"""
import numpy as np
import pytest

from fastmlp._kernels import activations as _activations
from fastmlp._kernels import linear as _linear
from fastmlp._kernels import loss as _loss
from fastmlp._kernels import optim as _optim
from fastmlp._kernels import softmax as _softmax

pytestmark = pytest.mark.skipif(not _activations.BOUNDS_CHECKED,
                                reason="release build: bounds checks are compiled out")

SGD = dict(lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
           first_step=False, lr_in_velocity=False)
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled_decay=0.0,
            amsgrad=False, eps_before_correction=False, step=1)

SHORT = [
    ("tanh", lambda: _activations.tanh(np.zeros(5), np.zeros(4))),
    ("relu_backward", lambda: _activations.relu_backward(np.zeros(5), np.zeros(3))),
    ("softmax", lambda: _softmax.softmax(np.zeros((3, 4)), np.zeros((2, 4)))),
    ("cross-entropy labels",
     lambda: _loss.softmax_cross_entropy_labels(np.zeros((3, 4)), np.zeros(2, np.intp),
                                                np.zeros(0), 0.0, 0.0, np.zeros((3, 4)))),
    ("multiclass hinge labels",
     lambda: _loss.multiclass_hinge(np.zeros((3, 4)), np.zeros(2, np.intp), np.zeros(0), 0.0,
                                    1, np.zeros((3, 4)))),
    ("multiclass hinge grad",
     lambda: _loss.multiclass_hinge(np.zeros((3, 4)), np.zeros(3, np.intp), np.zeros(0), 0.0,
                                    2, np.zeros((2, 4)))),
    ("multiclass hinge weights",
     lambda: _loss.multiclass_hinge(np.zeros((3, 4)), np.zeros(3, np.intp), np.ones(2), 2.0,
                                    1, np.zeros((3, 4)))),
    ("mse", lambda: _loss.mse(np.zeros(6), np.zeros(5), np.zeros(0), 0.0, 3, np.zeros(6))),
    ("mse weights", lambda: _loss.mse(np.zeros(6), np.zeros(6), np.ones(2), 2.0, 3,
                                      np.zeros(6))),
    ("linear_forward", lambda: _linear.linear_forward(np.zeros((3, 4)), np.zeros((2, 3)),
                                                      np.zeros(2), np.zeros((3, 2)))),
    ("linear_backward", lambda: _linear.linear_backward(
        np.zeros((3, 4)), np.zeros((2, 4)), np.zeros((3, 2)), np.zeros((3, 4)),
        np.zeros((2, 4)), np.zeros(1))),
    ("sgd_update", lambda: _optim.sgd_update(np.zeros(4), np.zeros(3), np.zeros(0), **SGD)),
    ("sgd_update velocity", lambda: _optim.sgd_update(np.zeros(4), np.zeros(4), np.zeros(3),
                                                      **{**SGD, "momentum": 0.9})),
    ("adam_update", lambda: _optim.adam_update(np.zeros(4), np.zeros(4), np.zeros(4),
                                               np.zeros(3), np.zeros(0), **ADAM)),
    ("adam_update amsgrad", lambda: _optim.adam_update(
        np.zeros(4), np.zeros(4), np.zeros(4), np.zeros(4), np.zeros(3),
        **{**ADAM, "amsgrad": True})),
]


@pytest.mark.parametrize("call", [c[1] for c in SHORT], ids=[c[0] for c in SHORT])
def test_a_buffer_too_short_is_an_index_error(call):
    with pytest.raises(IndexError):
        call()
