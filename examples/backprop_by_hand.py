"""Train a two-layer network by hand with fastmlp's kernels: forward, loss, backward, SGD.

The network is the course's: h = tanh(X Wh^T + bh), Yhat = softmax(h Wy^T + by),
trained on two concentric circles. Every step is one kernel call, and the first
step is checked against the plain-NumPy reference.

Run:  python examples/backprop_by_hand.py
"""
import numpy as np

from fastmlp import datasets
from fastmlp import kernels as K
from fastmlp import reference as R


def main():
    X, y = datasets.circles(400, noise=0.05, seed=0)
    params = R.init_params(nx=2, nh=10, ny=2, seed=0)
    Wh, bh, Wy, by = (params[k].copy() for k in ("Wh", "bh", "Wy", "by"))
    lr = 0.5
    for epoch in range(301):
        # forward
        h = K.tanh(K.linear_forward(X, Wh, bh))
        ytilde = K.linear_forward(h, Wy, by)
        # loss and dL/dytilde in one fused pass
        loss, d_ytilde = K.softmax_cross_entropy(ytilde, y)
        # backward
        d_h, grad_Wy, grad_by = K.linear_backward(h, Wy, d_ytilde)
        K.tanh_backward(h, d_h)                       # d_h is now dL/dhtilde
        _, grad_Wh, grad_bh = K.linear_backward(X, Wh, d_h)
        if epoch == 0:
            _, outputs = R.forward(params, X)
            ref = R.backward(params, outputs, y)
            err = max(np.abs(ref["Wh"] - grad_Wh).max(), np.abs(ref["Wy"] - grad_Wy).max())
            print(f"first-step gradients match the NumPy reference: max |diff| = {err:.1e}")
        # SGD, in place
        for p, g in ((Wh, grad_Wh), (bh, grad_bh), (Wy, grad_Wy), (by, grad_by)):
            K.sgd_update(p, g, lr)
        if epoch % 50 == 0:
            accuracy = np.mean(ytilde.argmax(axis=1) == y)
            print(f"epoch {epoch:3d}  loss {loss:.4f}  accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
