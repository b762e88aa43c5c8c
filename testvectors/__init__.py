"""Conformance vectors (SPEC §12): the deterministic world and the generator that writes them.

Installed (the wheel), this directory is the package ``keybundle_vectors``, which holds only
the vector files (``<family>/<name>.json``) and this module: the generator stays in the
source checkout (setup.py). :func:`directory` is where the vectors are, either way.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["directory"]


def directory() -> Path:
    """The directory holding the vector files: this package's own."""
    return Path(__file__).resolve().parent
