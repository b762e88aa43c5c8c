"""``keybundle vectors``: generate the conformance vectors, or check they are current (SPEC §12).

The generator (``testvectors/generate.py``) lives in the source checkout beside the vectors
it writes, not in the installed package: the vectors are the repository's, and regenerating
them is a developer's and CI's job. This command finds the checkout the package was installed
from (an editable install), or the one in the current directory.

The vectors themselves are also installed, as the package ``keybundle_vectors`` (the wheel
carries them as package data; in an editable install it is the checkout's ``testvectors/``),
so ``keybundle conformance run`` finds them after ``pip install`` alone
(:func:`default_vectors_dir`).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import click

from ._common import UserError, cli_errors

__all__ = [
    "NO_VECTORS_MESSAGE",
    "checkout_vectors_dir",
    "default_vectors_dir",
    "installed_vectors_dir",
    "load_generator",
    "vectors",
]

NO_VECTORS_MESSAGE = (
    "no conformance vectors: the keybundle_vectors package, which the keybundle wheel "
    "installs, is missing (reinstall with `pip install --force-reinstall keybundle`), or "
    "give --vectors DIR (the testvectors/ directory of a keybundle source checkout)"
)
"""The one line ``conformance run`` prints when it finds no vectors and none was given."""

_CHECKOUT = Path(__file__).resolve().parent.parent
"""The source checkout of an editable install: cli/ is the keybundle_cli package."""


def _checkout() -> Path | None:
    for root in (_CHECKOUT, Path.cwd()):
        if (root / "testvectors" / "generate.py").is_file():
            return root
    return None


def checkout_vectors_dir() -> Path | None:
    """The checkout's ``testvectors/`` directory, or None outside a source checkout."""
    root = _checkout()
    return None if root is None else root / "testvectors"


def installed_vectors_dir() -> Path | None:
    """The vectors installed with the package (``keybundle_vectors``), or None without them."""
    try:
        import keybundle_vectors  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    directory: Path = keybundle_vectors.directory()
    return directory if directory.is_dir() else None


def default_vectors_dir() -> Path | None:
    """Where ``conformance run`` looks without ``--vectors``.

    The installed vectors come first: they belong to the installed library, whatever checkout
    the command is run in (in an editable install they are that checkout's). A checkout's
    ``testvectors/`` is the fallback, for a library run from source without installing.
    """
    installed = installed_vectors_dir()
    return installed if installed is not None else checkout_vectors_dir()


def load_generator() -> ModuleType:
    """``testvectors.generate`` of the source checkout (a ``UserError`` outside one)."""
    try:
        return importlib.import_module("testvectors.generate")
    except ModuleNotFoundError as e:
        if e.name not in ("testvectors", "testvectors.generate"):
            raise
    root = _checkout()
    if root is None:
        raise UserError(
            "the vector generator is not installed: run `keybundle vectors` from a source "
            "checkout of keybundle (it holds testvectors/generate.py)"
        )
    sys.path.insert(0, str(root))
    return importlib.import_module("testvectors.generate")


@click.group("vectors")
def vectors() -> None:
    """Generate the conformance vectors, or check that they are up to date."""


@vectors.command("generate")
@click.option("--check", is_flag=True, help="Regenerate into a temporary directory and compare.")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The vectors directory (default: testvectors/ of the source checkout).",
)
@cli_errors
def generate(*, check: bool, out: Path | None) -> None:
    """Write every vector to DIR/<family>/<name>.json, deterministically.

    With --check nothing is written to DIR: the vectors are regenerated into a temporary
    directory and compared byte for byte; any difference exits 1 with a summary.
    """
    generator = load_generator()
    target = out if out is not None else checkout_vectors_dir()
    if target is None:
        raise UserError("no vectors directory: give --out DIR")
    try:
        if check:
            if not target.is_dir():
                raise UserError(f"{target}: no such vectors directory")
            differences = generator.check(target)
            if differences:
                click.echo(generator.summary(differences), err=True)
                raise click.exceptions.Exit(1)
            click.echo(f"the vectors in {target} are up to date")
            return
        count = generator.write(target)
    except generator.VectorMismatchError as e:
        click.echo(f"keybundle: vector generation failed: {e}", err=True)
        raise click.exceptions.Exit(1) from None
    click.echo(f"wrote {count} vectors to {target}")
