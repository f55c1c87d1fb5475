"""The tests' fixtures, the Hypothesis profiles, and which fastmlp the tests import.

The helpers the tests share (tolerances, comparisons, skips) are in helpers.py:
``from helpers import ...``.

Hypothesis profiles: with the environment variable ``CI`` set (CI runs with
``CI=true``) the "ci" profile is loaded: derandomized, so a CI run tests the same
examples every time and cannot pass or fail by chance, and with no example
database (nothing is written to ``.hypothesis/``). Otherwise the "dev" profile
explores new random examples on every run and remembers failing ones in
``.hypothesis/``. ``pytest --hypothesis-profile=ci`` (or ``dev``) overrides the choice.

Which fastmlp: the installed, compiled one. ``python -m pytest`` puts the current
folder first on ``sys.path``; run from the repository root, that folder's
``fastmlp/`` is the uncompiled source, which would shadow the installed package,
so it is taken off the path here, before anything imports fastmlp (unless the
extensions were built in place there, for development).
"""
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if not any(f.name.endswith(tuple(EXTENSION_SUFFIXES)) for f in (_ROOT / "fastmlp" / "_kernels").iterdir()):
    sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _ROOT]

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from helpers import DTYPE_IDS, DTYPES  # noqa: E402  (imports fastmlp: after the rule above)

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("dev", derandomize=False)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(params=DTYPES, ids=DTYPE_IDS)
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
