"""The backprop practical's stages side by side on MNIST (see circles.py).

Trains on the first 8,000 images of the training split, or of the test split when
only that one is present (as in the project's shared copy). The folder is the first
argument, else ``$FASTMLP_DATA``/``~/.fastmlp/mnist`` when it holds MNIST, else
``../shared/data/mnist`` beside the repository; without the files the script says
so and stops.

Run:  python examples/course/mnist.py [MNIST_DIR]      (well under a minute)
"""
import sys
from pathlib import Path

from fastmlp import course, datasets

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
N_TRAIN = 8000


def load(directory):
    """The first N_TRAIN images and labels of the train split, else of the test split."""
    for split in ("train", "test"):
        try:
            X, y = datasets.load_mnist(directory, split)
        except FileNotFoundError:
            continue
        return X[:N_TRAIN], y[:N_TRAIN]
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    folders = argv[:1] or [datasets.DEFAULT_DATA_DIR, SHARED]
    data = next((d for d in map(load, folders) if d is not None), None)
    if data is None:
        print(f"MNIST not found in {', '.join(map(str, folders))}: skipping (fastmlp train "
              f"--data mnist --download fetches it)")
        return
    X, y = data
    course.compare(X, y, n_hidden=100, epochs=3, batch_size=32, lr=0.1, seed=0)


if __name__ == "__main__":
    main()
