"""``keybundle evidence verify``: re-check an auditor's evidence file offline.

SPEC §8.4, CLI §10.
"""

from __future__ import annotations

from typing import Any

import click

from keybundle.evidence import MAX_EVIDENCE_BYTES, verify_evidence

from ._common import (
    PinnedTrustRoot,
    cli_errors,
    emit,
    json_option,
    read_input,
    say,
    trust_root_option,
)

__all__ = ["evidence"]


@click.group("evidence")
def evidence() -> None:
    """Re-check evidence of a log's misbehaviour offline (SPEC §8.4)."""


@evidence.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@trust_root_option("The signed trust root the auditor was started with (SPEC §5).")
@json_option("Print the finding as one JSON object.")
@cli_errors
def verify(*, file: str, trust_root: PinnedTrustRoot, as_json: bool) -> None:
    """Re-check FILE, an evidence file written by `keybundle monitor` or by `keybundle verify
    --evidence-out`, with nothing but the trust root (FILE '-': standard input). Exit code 0:
    the evidence shows the misbehaviour it claims; 1: it does not (the reason code says why);
    2: bad usage or an unreadable file.
    """
    root = trust_root.root
    data = read_input(file, "evidence file", limit=MAX_EVIDENCE_BYTES)
    finding = verify_evidence(data, root)
    result: dict[str, Any] = {
        "kind": finding.kind,
        "reason": str(finding.reason),
        "origin": finding.origin,
        "message": finding.message,
        "index": finding.index,
        "sizes": list(finding.sizes),
        "proven": finding.proven,
    }
    emit(as_json, result, lambda: _print_finding(result))


def _print_finding(finding: dict[str, Any]) -> None:
    say(f"confirmed ({finding['reason']}, {finding['kind']}): {finding['message']}")
    if not finding["proven"]:
        say(
            "note: this shows what the log's server sent, which the log does not sign; anyone "
            "could write such a file, so treat it as a report, not as proof"
        )
