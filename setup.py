"""Build the Cython kernels in ``kernels/`` into extension modules ``fastmlp._<name>``.

Environment switches
--------------------
FASTMLP_DEBUG=1
    Compile with bounds and initialisation checks on and without optimisation,
    so an out-of-bounds index raises ``IndexError`` instead of corrupting memory
    (kernels/checks.pxd extends the checks to the raw-pointer workers).
"""
import os
import shutil
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = ["activations", "softmax", "loss", "linear", "sgd", "network"]
DEBUG = os.environ.get("FASTMLP_DEBUG", "0") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

OPENMP_PROBE = """
#include <omp.h>
int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
"""


def openmp_flags(compiler):
    """Return the compile/link flag that enables OpenMP, or [] if the compiler lacks it."""
    flag = "/openmp" if compiler.compiler_type == "msvc" else "-fopenmp"
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        objects = compiler.compile([src], output_dir=tmp, extra_postargs=[flag])
        compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=[flag])
        return [flag]
    except Exception:  # any compiler or linker failure means: no OpenMP
        warnings.warn("OpenMP not available: building fastmlp's kernels single-threaded.")
        return []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        # Release and debug builds share the in-tree build folder: never reuse an
        # object file compiled with the other's flags.
        self.force = True
        omp = openmp_flags(self.compiler)
        if self.compiler.compiler_type == "msvc":
            opt = ["/Od"] if DEBUG else ["/O2"]
        else:
            # -fno-trapping-math lets the compiler turn the selects in vecmath.pxd
            # into vector blends (it changes no result, only whether a comparison
            # with NaN may set a floating-point flag).
            opt = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math"]
        for ext in self.extensions:
            ext.extra_compile_args += opt + omp
            ext.extra_link_args += omp
        super().build_extensions()


extensions = [
    Extension(
        f"fastmlp._{name}",
        [f"kernels/{name}.pyx"],
        include_dirs=[np.get_include(), "kernels"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("FASTMLP_DEBUG", "1" if DEBUG else "0")],
    )
    for name in KERNELS
]

setup(
    # force: the generated C depends on the directives, which FASTMLP_DEBUG changes.
    ext_modules=cythonize(extensions, include_path=["kernels"], compiler_directives=DIRECTIVES,
                          force=True),
    cmdclass={"build_ext": BuildExt},
)
