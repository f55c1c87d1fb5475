"""The backprop practical's stages side by side on two concentric circles.

The same one-hidden-layer network, initial weights and batches trained five ways:
the course functions in ``fastmlp.reference``, ``torch.autograd``, ``torch.nn``
layers with ``CrossEntropyLoss``, ``torch.optim.SGD``, and ``fastmlp.MLP``. Each
stage prints its largest difference from fastmlp's losses and weights (rounding
level in float64) and its time per epoch. The stages are in ``fastmlp/course.py``;
without torch (``pip install torch==2.13.0``) the torch stages are skipped.

Run:  python examples/course/circles.py      (under a minute; a few seconds without torch)

Every library runs with its default threads. On a machine busy with other work,
torch's thread pool can make its tiny steps several times slower (4.4 ms a step
against 0.9 ms with one thread, measured on a loaded 2-core machine);
``OMP_NUM_THREADS=1`` shows torch without that contention.
"""
from fastmlp import course, datasets


def main():
    X, y = datasets.circles(1000, noise=0.1, seed=0)
    course.compare(X, y, n_hidden=10, epochs=10, batch_size=10, lr=0.3, seed=0)


if __name__ == "__main__":
    main()
