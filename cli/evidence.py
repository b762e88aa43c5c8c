"""``keybundle evidence verify``: re-check an auditor's evidence file offline (SPEC §8.4, §10)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from keybundle.evidence import MAX_EVIDENCE_BYTES, verify_evidence

from ._common import PinnedTrustRoot, cli_errors, json_option, trust_root_option

__all__ = ["evidence"]


@click.group("evidence")
def evidence() -> None:
    """Re-check evidence of a log's misbehaviour offline (SPEC §8.4)."""


@evidence.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@trust_root_option("The signed trust root the auditor was started with (SPEC §5).")
@json_option("Print the finding as one JSON object.")
@cli_errors
def verify(*, file: Path, trust_root: PinnedTrustRoot, as_json: bool) -> None:
    """Re-check FILE, an evidence file written by `keybundle monitor`, with nothing but the
    trust root. Exit code 0: the evidence shows the misbehaviour it claims; 1: it does not
    (the reason code says why); 2: bad usage or an unreadable file.
    """
    root = trust_root.root
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
