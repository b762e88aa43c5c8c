"""``keybundle client``: set up the state an app's embedded client starts from (CLI §10.12).

``keybundle client bootstrap`` verifies packages as a fresh client pinning a trust root and
writes the resulting state into an empty directory: the *floor* an app ships (SPEC §7.6), so
that a fresh install never accepts epochs older than those current at release. It is a thin
adapter over :meth:`keybundle.embedded.Client.bootstrap`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from keybundle.embedded import Client
from keybundle.package import MAX_PACKAGE_BYTES
from keybundle.state import STATE_FILE

from ._common import (
    ENV_STATE,
    UNIX_SECONDS,
    PinnedTrustRoot,
    UserError,
    cli_errors,
    emit,
    json_option,
    read_input,
    say,
    trust_root_option,
)

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
    envvar=ENV_STATE,
    show_envvar=True,
    help="An existing state directory without a state: the initial state is written there.",
)
@click.option(
    "--now",
    type=UNIX_SECONDS,
    default=None,
    help="Verify as of these Unix seconds (SPEC §1 decimal) instead of the system clock.",
)
@click.argument(
    "packages", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True)
)
@json_option()
@cli_errors
def bootstrap(
    trust_root: PinnedTrustRoot,
    state_dir: Path,
    now: int | None,
    packages: tuple[str, ...],
    as_json: bool,
) -> None:
    """Verify PACKAGES as a fresh client and write the initial state (the app's floor).

    Every package must be accepted, in the order given; on the first rejection nothing is
    written (exit 1).
    """
    root = trust_root.root
    if state_dir.exists() and not state_dir.is_dir():
        raise UserError(f"--state {str(state_dir)!r} is a file; give a directory")
    if not state_dir.is_dir():
        raise UserError(f"state directory {str(state_dir)!r} does not exist; create it")
    if packages.count("-") > 1:
        raise UserError("only one PACKAGE can be '-' (standard input)")
    if (state_dir / STATE_FILE).exists():
        raise UserError(
            f"{state_dir / STATE_FILE} exists; bootstrap writes the initial state of a fresh "
            "client into a directory without one"
        )
    data = [read_input(p, "package", limit=MAX_PACKAGE_BYTES) for p in packages]
    at = int(time.time()) if now is None else now
    state = Client(root, state_dir).bootstrap(data, now=at)
    checkpoint = state.checkpoint()
    result = {
        "state_file": str(state_dir / STATE_FILE),
        "fleets": [
            {"fleet": fleet_id, "epoch": fleet.epoch, "index": fleet.index}
            for fleet_id, fleet in state.fleets.items()
        ],
        "checkpoint_size": 0 if checkpoint is None else checkpoint.size,
        "rotations": len(state.rotations),
    }
    emit(as_json, result, lambda: _print_state(result))


def _print_state(result: dict[str, Any]) -> None:
    for f in result["fleets"]:
        say(f"fleet {f['fleet']!r} epoch {f['epoch']} (log index {f['index']})")
    say(
        f"wrote {result['state_file']}: {len(result['fleets'])} fleet(s), checkpoint size "
        f"{result['checkpoint_size']}, {result['rotations']} trust-root rotation(s)"
    )
