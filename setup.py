"""Build the Cython kernels: ``kernels/<name>.pyx`` becomes ``fastmlp._kernels.<name>``.

Environment switches
--------------------
FASTMLP_DEBUG=1
    Compile with bounds and initialisation checks on and without optimisation,
    so an out-of-bounds index raises ``IndexError`` instead of corrupting memory
    (kernels/checks.pxd extends the checks to the raw-pointer workers).

Release and debug builds keep their generated C, object files and compiled modules
in separate folders (``build/release``, ``build/debug``), so switching between them,
or reinstalling, recompiles only the modules whose sources changed. "Changed" is
judged by content, not by file times: pip builds in a fresh environment each time,
whose Cython and NumPy files (which every module's C depends on) are all new.
"""
import glob
import hashlib
import os
import shutil
import tempfile
import threading
import warnings

import Cython
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.modified import newer_group

KERNELS = ["activations", "softmax", "loss", "linear", "optim", "network"]
DEBUG = os.environ.get("FASTMLP_DEBUG", "0") not in ("", "0")
BUILD = os.path.join("build", "debug" if DEBUG else "release")

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
    """build_ext that compiles each module into this mode's folder only when its C
    source is newer than the module there, then copies it where the install wants it."""

    def finalize_options(self):
        super().finalize_options()
        self.build_temp = os.path.join(BUILD, "temp")
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1
        # Modules build in parallel threads: each thread says where its module goes.
        self._into_cache = threading.local()

    def build_extensions(self):
        omp = openmp_flags(self.compiler)
        if self.compiler.compiler_type == "msvc":
            opt = ["/Od"] if DEBUG else ["/O2"]
        else:
            # -fno-trapping-math lets the compiler turn the selects in vecmath.pxd
            # into vector blends (it changes no result, only whether a comparison
            # with NaN may set a floating-point flag). -fno-math-errno lets it
            # vectorise sqrt (Adam's denominator): nothing here reads errno.
            opt = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math", "-fno-math-errno"]
        for ext in self.extensions:
            ext.extra_compile_args += opt + omp
            ext.extra_link_args += omp
        super().build_extensions()

    def cached_path(self, name):
        return os.path.join(BUILD, "lib", self.get_ext_filename(name))

    def get_ext_fullpath(self, name):
        if getattr(self._into_cache, "name", None) == name:
            return self.cached_path(name)
        return super().get_ext_fullpath(name)

    def build_extension(self, ext):
        cached = self.cached_path(ext.name)
        if self.force or newer_group(ext.sources + ext.depends, cached):
            self._into_cache.name = ext.name
            try:
                super().build_extension(ext)
            finally:
                self._into_cache.name = None
        target = self.get_ext_fullpath(ext.name)
        self.mkpath(os.path.dirname(target))
        shutil.copyfile(cached, target)


def fingerprint(name):
    """What the generated C of kernels/<name>.pyx depends on: its source, every shared
    header, the directives and the versions of Cython and NumPy."""
    h = hashlib.sha256(repr((DIRECTIVES, Cython.__version__, np.__version__)).encode())
    for path in [f"kernels/{name}.pyx"] + sorted(glob.glob("kernels/*.pxd")
                                                  + glob.glob("kernels/*.h")):
        with open(path, "rb") as f:
            h.update(path.encode() + b"\0" + f.read())
    return h.hexdigest()


def extensions():
    """One Extension per kernel, built from this mode's generated C, which Cython
    writes again only for the modules whose fingerprint changed."""
    exts, stale, keys = [], [], {}
    for name in KERNELS:
        ext = Extension(
            f"fastmlp._kernels.{name}",
            [f"kernels/{name}.pyx"],
            # The flags live here: a change to this file rebuilds every module.
            depends=["setup.py"],
            include_dirs=[np.get_include(), "kernels"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                           ("FASTMLP_DEBUG", "1" if DEBUG else "0")],
        )
        c_file = os.path.join(BUILD, "c", "kernels", f"{name}.c")
        keys[c_file] = fingerprint(name)
        try:
            with open(c_file + ".sha256") as f:
                fresh = f.read() == keys[c_file] and os.path.exists(c_file)
        except FileNotFoundError:
            fresh = False
        if fresh:
            ext.sources = [c_file]
            exts.append(ext)
        else:
            stale.append(ext)
    if stale:
        # cythonize returns the Extensions again, their sources now the C files.
        stale = cythonize(stale, include_path=["kernels"], compiler_directives=DIRECTIVES,
                          build_dir=os.path.join(BUILD, "c"), force=True)
        for ext in stale:
            with open(ext.sources[0] + ".sha256", "w") as f:
                f.write(keys[ext.sources[0]])
    return exts + stale


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
