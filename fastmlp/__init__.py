"""fastmlp: fast multi-layer perceptrons on the CPU.

Modules
-------
fastmlp.kernels    the compiled Cython kernels (softmax, losses, activations,
                   affine layers, SGD), float32 and float64
fastmlp.reference  the same operations in plain NumPy: the oracle and the baseline
fastmlp.gradcheck  central finite differences for checking gradients
"""
__version__ = "0.1.0"

try:
    from . import kernels
except ImportError as exc:  # the compiled modules are missing
    raise ImportError(
        "fastmlp's compiled kernels could not be imported. If you are running from the "
        "source folder, install first with `pip install .` and run from elsewhere "
        f"(or run pytest, which imports the installed package). Original error: {exc}"
    ) from exc

from . import gradcheck, reference  # noqa: E402

__all__ = ["kernels", "reference", "gradcheck", "__version__"]
