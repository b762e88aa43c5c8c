"""keybundle online consistency (SPEC §7.5): fill a package's consistency proof from the log.

A package whose checkpoint is newer than the client's stored one may come without a
consistency proof from the client's stored size (SPEC §7.1 key 4: a universal package carries
none, or one from another size); the decision then relies on the witness quorum alone
against a split view (SPEC §7.3 step 11). A client that can reach the log does better:
:func:`with_consistency` reads the proof from the log's tiles (C2SP tlog-tiles), each tile
authenticated against the package's own signed checkpoint, and returns the package with key 4
filled. It decides nothing: :func:`keybundle.client.verify_package` still runs every step, so
a wrong proof (a forked log) is rejected there with ``BAD_CONSISTENCY_PROOF`` and evidence.

This module does I/O only through the :class:`~transparency_log.fetcher.Fetcher` the caller
passes, and imports neither ``requests`` nor ``click``; it lives beside
:mod:`keybundle.client`, which stays pure (tests/keybundle/test_embedding.py).
"""

from __future__ import annotations

from transparency_log.checkpoint import verify_checkpoint
from transparency_log.errors import FetchError, VerificationError
from transparency_log.fetcher import Fetcher
from transparency_log.tlog_client import LogClient

from .client import effective_trust_root
from .errors import LogUnreachableError
from .package import MAX_PACKAGE_BYTES, ConsistencyProof, build_package, parse_unverified_package
from .state import ClientState
from .trustroot import TrustRoot

__all__ = ["LogUnreachableError", "with_consistency"]


def with_consistency(
    package: bytes, state: ClientState, trust_root: TrustRoot, fetcher: Fetcher
) -> bytes:
    """``package`` with its consistency proof read from the log, when it needs one (SPEC §7.5).

    The proof is fetched only when the package carries none from the stored size (no key 4,
    or one of another ``old_size``, which is replaced), its checkpoint verifies
    under the effective trust root's log key and origin, and it is larger than the state's
    stored checkpoint of the same origin (of size at least 1). It runs from the stored size to
    the package's size and is read from tiles authenticated against the package's checkpoint.
    In every other case — including packages that fail to parse or whose checkpoint does not
    verify, which :func:`~keybundle.client.verify_package` rejects with the same reason — the
    package is returned unchanged, as the same object.

    Raises :class:`LogUnreachableError` when the log cannot be read, and
    ``VerificationError`` (``MALFORMED_TILE``) when the log's tiles do not hash to the
    package's signed checkpoint: the log serves another tree than the one its key signed for
    this package, so the package is not accepted.
    """
    if type(package) is not bytes:
        raise TypeError(f"package must be bytes, not {type(package).__name__}")
    if not isinstance(state, ClientState):
        raise TypeError("state must be a keybundle.state.ClientState")
    if not isinstance(trust_root, TrustRoot):
        raise TypeError("trust_root must be a keybundle.trustroot.TrustRoot")
    if not callable(getattr(fetcher, "fetch", None)):
        raise TypeError(f"fetcher must have a fetch method, not {type(fetcher).__name__}")
    stored = state.checkpoint()
    if stored is None or stored.size == 0:
        return package  # nothing to be consistent with: every tree extends the empty one
    root = effective_trust_root(trust_root, state)
    if len(package) > min(MAX_PACKAGE_BYTES, root.limits.max_package_bytes):
        return package  # SPEC §7.3 step 1 rejects it
    try:
        pkg = parse_unverified_package(package)
        # The checkpoint is verified as step 3 verifies it before its tiles are trusted: the
        # tiles are authenticated against this signed root, never against the server's word.
        verified = verify_checkpoint(
            pkg.proof.checkpoint_note, root.log.verifier(), origin=root.log.origin
        )
    except VerificationError:
        return package  # steps 2-3 reject it with this reason
    cp = verified.checkpoint
    fits = pkg.consistency is not None and pkg.consistency.old_size == stored.size
    if fits or cp.origin != stored.origin or cp.size <= stored.size:
        return package  # step 11 decides with what the package carries
    client = LogClient(fetcher, root.log.verifier(), origin=root.log.origin, cache_tiles=0)
    try:
        hashes = client.consistency_proof(stored.size, verified)
    except FetchError as e:
        raise LogUnreachableError(
            e.path,
            f"could not reach the log to check consistency from size {stored.size} to "
            f"{cp.size}: {e}; nothing was decided: try again when the log is reachable",
            old_size=stored.size,
            new_size=cp.size,
        ) from e
    return build_package(
        pkg.signed_bundle,
        pkg.proof,
        consistency=ConsistencyProof(stored.size, tuple(hashes)),
        rotations=pkg.rotations,
    )
