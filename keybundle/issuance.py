"""SPEC §7.1, operator side: assemble an OTA package from a tiled log.

A package is only ever built from what the log serves, authenticated: the latest checkpoint
verified under the log's key (with its cosignatures, carried verbatim), the signed bundle
read from the log's entry bundles and checked against the authenticated tiles, its
inclusion proof, optionally a consistency proof from the size a client reported, and
optionally the trust-root rotations the client needs, each checked to be the very entry the
log holds at its index. So an operator cannot package bytes that are not in the log, and a
client that receives the package can verify it offline (SPEC §7.3).

The reading is done by a :class:`~transparency_log.tlog_client.LogClient` that the caller
builds over a directory or an HTTP fetcher; nothing here opens a file or a socket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transparency_log.checkpoint import VerifiedCheckpoint
from transparency_log.errors import VerificationError
from transparency_log.tlog_client import LogClient

from .cose import parse_unverified_sign1
from .package import ConsistencyProof, RotationEntry, build_package
from .payload import BundlePayload, parse_payload

__all__ = ["AssembledPackage", "assemble_package"]

_TAG_SIGN1 = 0xD2
"""First byte of a signed bundle log entry: CBOR tag 18, COSE_Sign1 (SPEC §6.3)."""
_TAG_COSE_SIGN = b"\xd8\x62"
"""First bytes of a signed trust root log entry: CBOR tag 98, COSE_Sign (SPEC §6.3)."""


@dataclass(frozen=True)
class AssembledPackage:
    """A package's bytes and what went into it (for the operator's output and checks)."""

    data: bytes
    """The package (SPEC §7.1), deterministic CBOR."""
    index: int
    """The signed bundle's index in the log."""
    payload: BundlePayload
    """The bundle's payload as parsed (shape only: the client verifies the signatures)."""
    checkpoint: VerifiedCheckpoint
    """The checkpoint the proofs are against, verified under the log's key."""


def _entry_kind(entry: bytes) -> str:
    if entry[:1] == bytes((_TAG_SIGN1,)):
        return "a signed bundle"
    if entry[:2] == _TAG_COSE_SIGN:
        return "a signed trust root"
    return "neither a signed bundle nor a signed trust root"


def assemble_package(
    client: LogClient,
    index: int,
    *,
    checkpoint: VerifiedCheckpoint | None = None,
    from_size: int | None = None,
    rotations: Sequence[tuple[bytes, int]] = (),
) -> AssembledPackage:
    """The OTA package of the signed bundle at ``index`` in the log ``client`` reads.

    ``checkpoint`` is the verified checkpoint to prove against (default: the log's latest,
    fetched and verified now). ``from_size`` adds a consistency proof from that tree size
    (the size of the checkpoint the client holds, SPEC §7.3 step 11), 1 to the checkpoint's
    size. ``rotations`` are ``(signed trust root bytes, log index)`` pairs in version order
    (SPEC §7.3 step 5); each must be exactly the log's entry at its index.

    Raises ``ValueError`` for the caller's mistakes (an index or size outside the tree, an
    entry that is not a signed bundle, a rotation that is not the entry at its index),
    :class:`~transparency_log.errors.VerificationError` when what the log serves does not
    authenticate, and ``OSError`` (``FetchError``) when it cannot be read.
    """
    if checkpoint is None:
        checkpoint = client.fetch_checkpoint()
    size = checkpoint.checkpoint.size
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"the index must be a non-negative int, not {index!r}")
    if index >= size:
        raise ValueError(
            f"entry {index} is not in the log: its checkpoint has {size} entries "
            f"(indices 0 to {size - 1})"
            if size
            else f"entry {index} is not in the log: the log is empty"
        )
    signed_bundle = client.entry(index, checkpoint).data
    if _entry_kind(signed_bundle) != "a signed bundle":
        raise ValueError(
            f"entry {index} of the log is {_entry_kind(signed_bundle)}; a package carries a "
            "signed bundle (use the index that POST /add or 'keybundle log append' returned "
            "for the bundle)"
        )
    try:
        payload = parse_payload(parse_unverified_sign1(signed_bundle).payload)
    except VerificationError as e:
        raise ValueError(
            f"entry {index} of the log is not a well-formed signed bundle ({e.reason}): {e.message}"
        ) from None
    proof = client.inclusion_proof(index, checkpoint)

    consistency = None
    if from_size is not None:
        if isinstance(from_size, bool) or not isinstance(from_size, int):
            raise ValueError(f"from_size must be an int, not {from_size!r}")
        if not 1 <= from_size <= size:
            raise ValueError(
                f"a consistency proof starts at a size from 1 to the checkpoint's size {size}, "
                f"not {from_size}: give the size of the checkpoint the client holds"
            )
        consistency = ConsistencyProof(
            from_size, tuple(client.consistency_proof(from_size, checkpoint))
        )

    entries: list[RotationEntry] = []
    for signed_root, root_index in rotations:
        if isinstance(root_index, bool) or not isinstance(root_index, int) or root_index < 0:
            raise ValueError(f"a rotation's index must be a non-negative int, not {root_index!r}")
        if root_index >= size:
            raise ValueError(
                f"rotation index {root_index} is not in the log, whose checkpoint has {size} "
                "entries"
            )
        if _entry_kind(signed_root) != "a signed trust root":
            raise ValueError(
                f"the rotation for index {root_index} is {_entry_kind(signed_root)}; a rotation "
                "carries a signed trust root (SPEC §5.2)"
            )
        logged = client.entry(root_index, checkpoint).data
        if logged != signed_root:
            raise ValueError(
                f"entry {root_index} of the log is {_entry_kind(logged)} that differs from the "
                "given signed trust root; give the index at which the log holds exactly "
                "that file (POST /add or 'keybundle log append' printed it)"
            )
        hashes = client.inclusion_proof(root_index, checkpoint).hashes
        entries.append(RotationEntry(signed_root, root_index, tuple(hashes)))

    data = build_package(signed_bundle, proof, consistency=consistency, rotations=entries)
    return AssembledPackage(data, index, payload, checkpoint)
