"""Each package's public face (``__all__``) resolves, lazily, to the documented objects."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["transparency_log", "keybundle"])
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError):
        _ = module.no_such_name


def test_importing_the_packages_loads_nothing_else() -> None:
    """``import keybundle`` is free until a name is used: the embedded verifier pays only
    for what it touches."""
    code = (
        "import sys, keybundle, transparency_log; "
        "print(sorted(m for m in sys.modules if m.startswith(('keybundle.', 'transparency_log.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
