"""``keybundle conformance run``: drive a verifier through the conformance vectors (SPEC §12).

Without ``--verifier`` the vectors are answered by our own library, in this process; with it,
the command (split like a shell would, never run through one) is started once per vector
with one JSON request on standard input and must print one JSON answer (SPEC §12.1). One line
per vector, then the summary ``N passed, M failed``; exit 0 only when every vector passed.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from keybundle.conformance import (
    DEFAULT_VERIFIER_TIMEOUT_SECONDS,
    FAMILIES,
    VectorFileError,
    load_vectors,
    run_external,
    run_in_process,
)

from ._common import UserError, cli_errors
from .vectors import NO_VECTORS_MESSAGE, default_vectors_dir

__all__ = ["conformance"]


@click.group("conformance")
def conformance() -> None:
    """Run the conformance vectors against our library or another verifier."""


@conformance.command("run")
@click.option(
    "--verifier",
    "verifier",
    metavar="COMMAND",
    default=None,
    help='The adapter to run once per vector, e.g. "./my-adapter --strict" (default: this '
    "library, in process).",
)
@click.option(
    "--vectors",
    "vectors_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The vectors directory (default: the vectors installed with keybundle).",
)
@click.option(
    "--family",
    "families",
    multiple=True,
    type=click.Choice(FAMILIES),
    help="Run only this family (repeatable).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_VERIFIER_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds the verifier may take for one vector.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Verifier processes run at once.",
)
@click.option("--quiet", is_flag=True, help="Print only failures and the summary.")
@cli_errors
def run(
    *,
    verifier: str | None,
    vectors_dir: Path | None,
    families: tuple[str, ...],
    timeout: float,
    jobs: int,
    quiet: bool,
) -> None:
    """Answer every vector and compare; print PASS/FAIL per vector and `N passed, M failed`."""
    directory = vectors_dir if vectors_dir is not None else default_vectors_dir()
    if directory is None:
        raise UserError(NO_VECTORS_MESSAGE)
    if not directory.is_dir():
        raise UserError(f"{directory}: no such vectors directory")
    try:
        vectors = load_vectors(directory, families or None)
    except VectorFileError as e:
        raise UserError(str(e)) from None
    if not vectors:
        raise UserError(f"{directory} holds no vectors of the families asked for")
    if verifier is None:
        outcomes = run_in_process(vectors)
    else:
        try:
            command = shlex.split(verifier)
        except ValueError as e:
            raise UserError(f"--verifier {verifier!r}: {e}") from None
        if not command:
            raise UserError("--verifier is empty")
        outcomes = run_external(vectors, command, timeout=timeout, jobs=jobs)
    passed = failed = 0
    for outcome in outcomes:
        if outcome.passed:
            passed += 1
            if not quiet:
                click.echo(f"PASS {outcome.vector.id}")
        else:
            failed += 1
            click.echo(f"FAIL {outcome.vector.id}: {outcome.detail}")
    click.echo(f"{passed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(1)
