"""``keybundle log rotations``: the trust-root rotations a log holds (OPS §7.7, CLI §10.6).

The log is its own record of which trust roots were in force from which index: every
rotation is an entry (SPEC §6.3 rule 2). This command reads the log (directory or URL,
everything authenticated, SPEC §6.5.4), judges each rotation from the root the log started
with (SPEC §5.3), and lists them: what ``package build`` and ``package publish`` put in every
package, so that clients pinned to any older root catch up.
"""

from __future__ import annotations

import click

from keybundle.publisher import log_client_for
from transparency_log.fetcher import FetchError

from ._common import (
    PinnedTrustRoot,
    UserError,
    cli_errors,
    emit,
    json_option,
    say,
    trust_root_option,
)

__all__ = ["rotations"]


@click.command("rotations")
@click.option(
    "--log",
    "log",
    required=True,
    metavar="DIR|URL",
    help="The log: its tile directory, or its URL prefix (C2SP tlog-tiles).",
)
@trust_root_option(
    "The trust root the log started with (default: the log directory's).", required=False
)
@json_option()
@cli_errors
def rotations(*, log: str, trust_root: PinnedTrustRoot | None, as_json: bool) -> None:
    """List the trust roots in force in the log: the starting root, then each rotation with
    its index, version and SHA-256."""
    # cli/log.py registers this command, and .package imports cli/log.py: import it here.
    from .package import close_source, log_history, open_log_source

    source = open_log_source(log, trust_root)
    try:
        if source.trust_root is None:
            raise UserError(
                f"the log at {source.where} has no trust root to judge rotations by; give "
                "--trust-root ROOT (the root the log started with)"
            )
        client = log_client_for(source.fetcher, source.trust_root)
        checkpoint = client.fetch_checkpoint()
        history = log_history(source, client, checkpoint, bundles=False)
    except FetchError as e:
        raise UserError(f"cannot read the log at {source.where}: {e}") from None
    finally:
        close_source(source)
    start = history.start
    rows = [
        {"index": r.index, "version": r.version, "sha256": r.digest.hex()}
        for r in history.rotations
    ]
    skipped = [{"index": i, "reason": r} for i, r in history.skipped]
    result = {
        "size": checkpoint.checkpoint.size,
        "start_version": start.version,
        "rotations": rows,
        "skipped": skipped,
    }
    if as_json:
        emit(True, result, "")
        return
    say(
        f"log {checkpoint.checkpoint.origin} size {checkpoint.checkpoint.size}: "
        f"started with trust root v{start.version}, {len(rows)} rotation(s)"
    )
    for row in rows:
        say(f"v{row['version']} at index {row['index']} sha256 {row['sha256']}")
    for entry in skipped:
        say(f"entry {entry['index']} skipped: not a valid entry ({entry['reason']})")
