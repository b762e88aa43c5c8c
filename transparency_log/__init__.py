"""transparency_log: RFC 9162 Merkle trees and the C2SP transparency-log formats.

Pure primitives (hashing, proofs, signed notes, cosignatures, checkpoints, tlog-proof,
tlog-policy, tile paths) and the log's storage, writer, witness and HTTP service. This layer
knows nothing about key bundles.

Public names are loaded on first use, so importing the package stays cheap for embedded
verifiers; the submodules (``transparency_log.proof``, ``.note``, ...) are the stable homes of
each name, one module per specification.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # errors
    "LogReason": "errors",
    "VerificationError": "errors",
    # RFC 9162 §2.1
    "EMPTY_ROOT": "merkle",
    "HASH_SIZE": "merkle",
    "CompactRange": "merkle",
    "leaf_hash": "merkle",
    "node_hash": "merkle",
    "root_from_leaf_hashes": "merkle",
    "HashReader": "proof",
    "MemoryHashStore": "proof",
    "consistency_proof": "proof",
    "inclusion_proof": "proof",
    "root_from_inclusion_proof": "proof",
    "tree_root": "proof",
    "verify_consistency": "proof",
    "verify_inclusion": "proof",
    # C2SP signed-note, tlog-cosignature
    "Note": "note",
    "Signature": "note",
    "Signer": "note",
    "Verifier": "note",
    "Verifiers": "note",
    "generate_key": "note",
    "new_signer": "note",
    "new_verifier": "note",
    "open_note": "note",
    "parse_unverified": "note",
    "sign": "note",
    "timestamp_of": "cosignature",
    # C2SP tlog-checkpoint, tlog-proof, tlog-policy
    "Checkpoint": "checkpoint",
    "VerifiedCheckpoint": "checkpoint",
    "parse_checkpoint": "checkpoint",
    "verify_checkpoint": "checkpoint",
    "TlogProof": "tlog_proof",
    "parse_tlog_proof": "tlog_proof",
    "verify_tlog_proof": "tlog_proof",
    "Policy": "policy",
    "parse_policy": "policy",
    # C2SP tlog-tiles
    "Tile": "tile",
    "TileHashReader": "tile",
}

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Checkpoint",
    "CompactRange",
    "HashReader",
    "LogReason",
    "MemoryHashStore",
    "Note",
    "Policy",
    "Signature",
    "Signer",
    "Tile",
    "TileHashReader",
    "TlogProof",
    "VerificationError",
    "VerifiedCheckpoint",
    "Verifier",
    "Verifiers",
    "consistency_proof",
    "generate_key",
    "inclusion_proof",
    "leaf_hash",
    "new_signer",
    "new_verifier",
    "node_hash",
    "open_note",
    "parse_checkpoint",
    "parse_policy",
    "parse_tlog_proof",
    "parse_unverified",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "sign",
    "timestamp_of",
    "tree_root",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_tlog_proof",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'transparency_log' has no attribute {name!r}")
    return getattr(importlib.import_module(f"transparency_log.{module}"), name)


if TYPE_CHECKING:
    from .checkpoint import Checkpoint, VerifiedCheckpoint, parse_checkpoint, verify_checkpoint
    from .cosignature import timestamp_of
    from .errors import LogReason, VerificationError
    from .merkle import (
        EMPTY_ROOT,
        HASH_SIZE,
        CompactRange,
        leaf_hash,
        node_hash,
        root_from_leaf_hashes,
    )
    from .note import (
        Note,
        Signature,
        Signer,
        Verifier,
        Verifiers,
        generate_key,
        new_signer,
        new_verifier,
        open_note,
        parse_unverified,
        sign,
    )
    from .policy import Policy, parse_policy
    from .proof import (
        HashReader,
        MemoryHashStore,
        consistency_proof,
        inclusion_proof,
        root_from_inclusion_proof,
        tree_root,
        verify_consistency,
        verify_inclusion,
    )
    from .tile import Tile, TileHashReader
    from .tlog_proof import TlogProof, parse_tlog_proof, verify_tlog_proof
