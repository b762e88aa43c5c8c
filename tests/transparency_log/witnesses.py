"""Test helpers for the witness protocol: a fake log that signs any prefix or fork of its
tree, and an in-memory witness state store with failure hooks (SPEC §6.4)."""

from __future__ import annotations

import hashlib
import time

from transparency_log import note
from transparency_log.checkpoint import Checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.merkle import leaf_hash
from transparency_log.proof import MemoryHashStore, consistency_proof
from transparency_log.witness import TreeState, format_add_checkpoint_request

NOW = 1_700_000_000


def seed(label: str) -> bytes:
    """A deterministic 32-byte Ed25519 seed."""
    return hashlib.sha256(label.encode()).digest()


def witness_signer(name: str, now: int = NOW) -> CosignatureV1Signer:
    """A deterministic witness key called ``name``."""
    return CosignatureV1Signer(name, seed(f"witness {name}"), now=lambda: now)


class MemoryStateStore:
    """A witness StateStore in memory, with hooks to fail or slow down."""

    def __init__(self) -> None:
        self.states: dict[str, TreeState] = {}
        self.fail_load: Exception | None = None
        self.fail_save: Exception | None = None
        self.save_delay = 0.0

    def load(self, origin: str) -> TreeState:
        if self.fail_load is not None:
            raise self.fail_load
        return self.states.get(origin, TreeState.empty())

    def save(self, origin: str, state: TreeState) -> None:
        if self.fail_save is not None:
            raise self.fail_save
        time.sleep(self.save_delay)
        self.states[origin] = state


class FakeLog:
    """A log of leaf hashes that signs checkpoints of any of its prefixes (or of forks)."""

    def __init__(self, name: str = "log.example/witnessed", leaves: int = 20) -> None:
        self.signer = note.Ed25519Signer(name, seed(f"log {name}"))
        self.verifier = self.signer.verifier()
        self.origin = name
        self.hashes = [leaf_hash(b"entry %d" % i) for i in range(leaves)]

    def tree(self, size: int, fork: int | None = None) -> MemoryHashStore:
        """The tree of ``size`` leaves; with ``fork``, another history from that leaf on."""
        hashes = list(self.hashes[:size])
        if fork is not None:
            hashes[fork:] = [leaf_hash(b"fork %d" % i) for i in range(fork, size)]
        return MemoryHashStore(hashes)

    def root(self, size: int, fork: int | None = None) -> bytes:
        return self.tree(size, fork).root()

    def state(self, size: int, fork: int | None = None) -> TreeState:
        return TreeState(size, self.root(size, fork))

    def checkpoint(self, size: int, *, fork: int | None = None, root: bytes | None = None) -> bytes:
        """The log-signed checkpoint note of that tree."""
        body = Checkpoint(self.origin, size, root or self.root(size, fork)).body()
        return note.sign(body, self.signer).encode()

    def proof(self, old: int, new: int, fork: int | None = None) -> list[bytes]:
        return consistency_proof(old, new, self.tree(new, fork))

    def request(self, old: int, new: int, *, fork: int | None = None) -> bytes:
        """An add-checkpoint body from ``old`` to ``new`` with the right proof."""
        proof = self.proof(old, new, fork) if 0 < old < new else []
        return format_add_checkpoint_request(old, proof, self.checkpoint(new, fork=fork))
