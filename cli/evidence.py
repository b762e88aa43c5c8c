"""``keybundle evidence verify``: re-check an auditor's evidence file offline (SPEC §8.4, §10)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from keybundle.evidence import MAX_EVIDENCE_BYTES, verify_evidence
from keybundle.trustroot import MAX_SIGNED_TRUST_ROOT_BYTES, verify_self_signed
from transparency_log.errors import VerificationError

from ._common import UserError, cli_errors, read_input

__all__ = ["evidence"]


@click.group("evidence")
def evidence() -> None:
    """Re-check evidence of a log's misbehaviour offline (SPEC §8.4)."""


@evidence.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trust-root",
    "trust_root",
    required=True,
    metavar="ROOT",
    help="The signed trust root the auditor was started with (SPEC §5).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the finding as one JSON object.")
@cli_errors
def verify(*, file: Path, trust_root: str, as_json: bool) -> None:
    """Re-check FILE, an evidence file written by `keybundle monitor`, with nothing but the
    trust root. Exit code 0: the evidence shows the misbehaviour it claims; 1: it does not
    (the reason code says why); 2: bad usage or an unreadable file.
    """
    root_bytes = read_input(trust_root, "trust root", limit=MAX_SIGNED_TRUST_ROOT_BYTES)
    try:
        root = verify_self_signed(root_bytes)
    except VerificationError as e:
        raise UserError(
            f"trust root {trust_root} is not a valid signed trust root ({e.reason}): {e.message}"
        ) from None
    with file.open("rb") as f:
        data = f.read(MAX_EVIDENCE_BYTES + 1)
    finding = verify_evidence(data, root)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "kind": finding.kind,
                    "reason": finding.reason,
                    "origin": finding.origin,
                    "message": finding.message,
                    "index": finding.index,
                    "sizes": list(finding.sizes),
                    "proven": finding.proven,
                },
                sort_keys=True,
            )
        )
        return
    click.echo(f"confirmed ({finding.reason}, {finding.kind}): {finding.message}")
    if not finding.proven:
        click.echo(
            "note: this shows what the log's server sent, which the log does not sign; anyone "
            "could write such a file, so treat it as a report, not as proof"
        )
