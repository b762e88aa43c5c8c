"""Build hook: install testvectors/ as ``keybundle_vectors`` without its generator.

Everything else is declared in pyproject.toml. The package ``keybundle_vectors`` is the
directory ``testvectors/``: its JSON files are package data (the conformance vectors, so that
``keybundle conformance run`` works from the wheel alone), but its Python modules other than
``__init__`` are the vector generator, a developer's and CI's tool that runs from the checkout
(``keybundle vectors generate``), and are left out of the wheel.
"""

from __future__ import annotations

from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py

VECTORS_PACKAGE = "keybundle_vectors"


class BuildPy(build_py):
    """``build_py`` that installs only ``__init__`` of the vectors package's modules."""

    def find_package_modules(self, package: str, package_dir: str) -> Any:
        modules = super().find_package_modules(package, package_dir)
        if package != VECTORS_PACKAGE:
            return modules
        return [m for m in modules if m[1] == "__init__"]


setup(cmdclass={"build_py": BuildPy})
