"""``python -m fastmlp``: the same command as ``fastmlp`` (see :mod:`fastmlp.cli`)."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
