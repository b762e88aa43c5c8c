"""``keybundle client``: set up the state an app's embedded client starts from (SPEC §10.12).

``keybundle client bootstrap`` verifies packages as a fresh client pinning a trust root and
writes the resulting state into an empty directory: the *floor* an app ships (SPEC §7.6), so
that a fresh install never accepts epochs older than those current at release. It is a thin
adapter over :meth:`keybundle.embedded.Client.bootstrap`.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from keybundle.embedded import Client
from keybundle.package import MAX_PACKAGE_BYTES
from keybundle.state import STATE_FILE

from ._common import PinnedTrustRoot, UserError, cli_errors, read_input, trust_root_option

__all__ = ["client"]


@click.group("client")
def client() -> None:
    """Set up the state of an app's embedded client (SPEC §7.6)."""


@client.command("bootstrap")
@trust_root_option("The pinned signed trust root (SPEC §5.2).")
@click.option(
    "--state",
    "state_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="An existing state directory without a state: the initial state is written there.",
)
@click.option(
    "--now",
    type=click.IntRange(min=0),
    default=None,
    help="Verify as of these Unix seconds instead of the system clock.",
)
@click.argument("packages", nargs=-1, required=True, type=click.Path(dir_okay=False))
@cli_errors
def bootstrap(
    trust_root: PinnedTrustRoot, state_dir: Path, now: int | None, packages: tuple[str, ...]
) -> None:
    """Verify PACKAGES as a fresh client and write the initial state (the app's floor).

    Every package must be accepted, in the order given; on the first rejection nothing is
    written (exit 1).
    """
    root = trust_root.root
    if not state_dir.is_dir():
        raise UserError(f"state directory {str(state_dir)!r} does not exist; create it")
    if (state_dir / STATE_FILE).exists():
        raise UserError(
            f"{state_dir / STATE_FILE} exists; bootstrap writes the initial state of a fresh "
            "client into a directory without one"
        )
    data = [read_input(p, "package", limit=MAX_PACKAGE_BYTES) for p in packages]
    at = int(time.time()) if now is None else now
    state = Client(root, state_dir).bootstrap(data, now=at)
    for fleet_id, fleet in state.fleets.items():
        click.echo(f"fleet {fleet_id!r} epoch {fleet.epoch} (log index {fleet.index})")
    checkpoint = state.checkpoint()
    size = 0 if checkpoint is None else checkpoint.size
    click.echo(
        f"wrote {state_dir / STATE_FILE}: {len(state.fleets)} fleet(s), checkpoint size {size}, "
        f"{len(state.rotations)} trust-root rotation(s)"
    )
