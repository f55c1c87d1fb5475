"""fastmlp: fast multi-layer perceptrons on the CPU.

Modules
-------
fastmlp.kernels    the compiled Cython kernels (softmax, losses, activations,
                   affine layers, SGD and Adam updates), float32 and float64
fastmlp.optim      the optimizers' settings (SGD, Adam, AdamW) and learning-rate
                   schedules (StepLR, CosineAnnealingLR, ReduceLROnPlateau, ...)
fastmlp.callbacks  code fit runs between epochs: EarlyStopping, ModelCheckpoint,
                   ProgressBar
fastmlp.reference  the same operations in plain NumPy: the oracle and the baseline
fastmlp.gradcheck  central finite differences for checking gradients
fastmlp.datasets   the circles toy problem and MNIST from IDX files
fastmlp.plotting   training curves, decision boundaries, first-layer weights
                   (matplotlib; imported on first use)
fastmlp.estimators MLPClassifier and MLPRegressor, drop-in replacements for
                   scikit-learn's (needs scikit-learn; imported on first use)
fastmlp.distributed data-parallel SGD over MPI: distributed.fit (needs mpi4py and
                   an MPI library, imported on first call)

The model is ``fastmlp.MLP``; ``python -m fastmlp`` (or ``fastmlp``) is the
command line.
"""
__version__ = "0.1.0"

try:
    from . import kernels
except ImportError as exc:  # the compiled modules are missing
    raise ImportError(
        "fastmlp's compiled kernels could not be imported. If you are running from the "
        "source folder, either install with `pip install .` and run from elsewhere (pytest "
        "and python -m pytest work from the root: they import the installed package), or "
        "install for development with `pip install -e .`, which builds the modules into "
        f"the source folder. Original error: {exc}"
    ) from exc

from . import callbacks, datasets, gradcheck, optim, reference  # noqa: E402
from .model import MLP, History, TrainingDivergedError  # noqa: E402

__all__ = ["MLP", "History", "TrainingDivergedError", "kernels", "optim", "callbacks", "reference",
           "gradcheck", "datasets", "plotting", "MLPClassifier", "MLPRegressor", "__version__"]


def __getattr__(name):
    import importlib
    # matplotlib is slow to import: load the plotting module only when it is used.
    if name == "plotting":
        return importlib.import_module(".plotting", __name__)
    # scikit-learn is optional and slow to import: the estimators load it on first use
    # (an ImportError saying how to install it when it is missing).
    if name in ("MLPClassifier", "MLPRegressor"):
        return getattr(importlib.import_module(".estimators", __name__), name)
    raise AttributeError(f"module 'fastmlp' has no attribute {name!r}")
