"""transparency_log: RFC 9162 Merkle trees and the C2SP transparency-log formats.

Pure primitives (hashing, proofs, signed notes, cosignatures, checkpoints, tlog-proof,
tlog-policy, tile paths) and the log's storage, writer, witness and HTTP service. This layer
knows nothing about key bundles.

Public names are loaded on first use, so importing the package stays cheap for embedded
verifiers; the submodules (``transparency_log.proof``, ``.note``, ...) are the stable homes of
each name, one module per specification.

Audiences (README "Layout"; ``lint-imports`` checks the client's side):

* A client embeds only ``checkpoint``, ``note``, ``note_keys``, ``ed25519``, ``cosignature``,
  ``tlog_proof``, ``proof``, ``merkle``, ``hashing``, ``policy``, ``durable``, ``errors`` and
  ``_frozen``: no network, server or CLI code.
* The log's operator also runs the writer (``appender``, with the pure tile integration in
  ``integrate`` and the dedupe index in ``leaf_index``), ``storage``, the HTTP ``server``,
  ``witness`` and ``witness_client``.
* Readers of a log (auditors, package builders) use ``tile``, ``entry_bundle``, ``fetcher``
  and ``tlog_client``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "LogReason": "errors",
    "VerificationError": "errors",
    "EMPTY_ROOT": "merkle",
    "HASH_SIZE": "merkle",
    "MAX_TREE_SIZE": "merkle",
    "CompactRange": "merkle",
    "leaf_hash": "merkle",
    "node_hash": "merkle",
    "root_from_leaf_hashes": "merkle",
    "HashReader": "proof",
    "MemoryHashStore": "proof",
    "NodeId": "proof",
    "consistency_proof": "proof",
    "inclusion_proof": "proof",
    "root_from_inclusion_proof": "proof",
    "tree_root": "proof",
    "verify_consistency": "proof",
    "verify_inclusion": "proof",
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
    "CosignatureV1Signer": "cosignature",
    "CosignatureV1Verifier": "cosignature",
    "timestamp_of": "cosignature",
    "Checkpoint": "checkpoint",
    "VerifiedCheckpoint": "checkpoint",
    "parse_checkpoint": "checkpoint",
    "verify_checkpoint": "checkpoint",
    "TlogProof": "tlog_proof",
    "parse_tlog_proof": "tlog_proof",
    "verify_tlog_proof": "tlog_proof",
    "Policy": "policy",
    "PolicyGroup": "policy",
    "PolicyLog": "policy",
    "PolicyWitness": "policy",
    "parse_policy": "policy",
    "EntryBundle": "tile",
    "Tile": "tile",
    "TileHashReader": "tile",
    "parse_tile_path": "tile",
    "tiles_for_size": "tile",
    "DirectoryTileStore": "storage",
    "MemoryTileStore": "storage",
    "TileStore": "storage",
    "Admission": "appender",
    "Log": "appender",
    "LogLockedError": "errors",
    "open_directory_log": "appender",
    "DirectoryFetcher": "fetcher",
    "FetchError": "errors",
    "Fetcher": "fetcher",
    "HTTPFetcher": "fetcher",
    "NotFoundError": "errors",
    "LogClient": "tlog_client",
    "FileStateStore": "witness",
    "Witness": "witness",
    "cosign_checkpoint": "witness",
    "make_witness_server": "witness",
    "WitnessEndpoint": "witness_client",
    "collect_cosignatures": "witness_client",
    "Recosigner": "server",
    "make_log_server": "server",
    "serve_log": "server",
}

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Admission",
    "Checkpoint",
    "CompactRange",
    "CosignatureV1Signer",
    "CosignatureV1Verifier",
    "DirectoryFetcher",
    "DirectoryTileStore",
    "EntryBundle",
    "FetchError",
    "Fetcher",
    "FileStateStore",
    "HTTPFetcher",
    "HashReader",
    "Log",
    "LogClient",
    "LogLockedError",
    "LogReason",
    "MemoryHashStore",
    "MemoryTileStore",
    "NodeId",
    "NotFoundError",
    "Note",
    "Policy",
    "PolicyGroup",
    "PolicyLog",
    "PolicyWitness",
    "Recosigner",
    "Signature",
    "Signer",
    "Tile",
    "TileHashReader",
    "TileStore",
    "TlogProof",
    "VerificationError",
    "VerifiedCheckpoint",
    "Verifier",
    "Verifiers",
    "Witness",
    "WitnessEndpoint",
    "collect_cosignatures",
    "consistency_proof",
    "cosign_checkpoint",
    "generate_key",
    "inclusion_proof",
    "leaf_hash",
    "make_log_server",
    "make_witness_server",
    "new_signer",
    "new_verifier",
    "node_hash",
    "open_directory_log",
    "open_note",
    "parse_checkpoint",
    "parse_policy",
    "parse_tile_path",
    "parse_tlog_proof",
    "parse_unverified",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "serve_log",
    "sign",
    "tiles_for_size",
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
    # Imported here, not at the top: a client imports the package for its submodules only,
    # and importlib is start-up time it does not need (bench/bench_verify.py).
    import importlib

    return getattr(importlib.import_module(f"transparency_log.{module}"), name)


if TYPE_CHECKING:
    from .appender import (
        Admission,
        Log,
        open_directory_log,
    )
    from .checkpoint import (
        Checkpoint,
        VerifiedCheckpoint,
        parse_checkpoint,
        verify_checkpoint,
    )
    from .cosignature import (
        CosignatureV1Signer,
        CosignatureV1Verifier,
        timestamp_of,
    )
    from .errors import (
        FetchError,
        LogLockedError,
        LogReason,
        NotFoundError,
        VerificationError,
    )
    from .fetcher import (
        DirectoryFetcher,
        Fetcher,
        HTTPFetcher,
    )
    from .merkle import (
        EMPTY_ROOT,
        HASH_SIZE,
        MAX_TREE_SIZE,
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
    from .policy import (
        Policy,
        PolicyGroup,
        PolicyLog,
        PolicyWitness,
        parse_policy,
    )
    from .proof import (
        HashReader,
        MemoryHashStore,
        NodeId,
        consistency_proof,
        inclusion_proof,
        root_from_inclusion_proof,
        tree_root,
        verify_consistency,
        verify_inclusion,
    )
    from .server import (
        Recosigner,
        make_log_server,
        serve_log,
    )
    from .storage import (
        DirectoryTileStore,
        MemoryTileStore,
        TileStore,
    )
    from .tile import (
        EntryBundle,
        Tile,
        TileHashReader,
        parse_tile_path,
        tiles_for_size,
    )
    from .tlog_client import (
        LogClient,
    )
    from .tlog_proof import (
        TlogProof,
        parse_tlog_proof,
        verify_tlog_proof,
    )
    from .witness import (
        FileStateStore,
        Witness,
        cosign_checkpoint,
        make_witness_server,
    )
    from .witness_client import (
        WitnessEndpoint,
        collect_cosignatures,
    )
