"""C2SP signed-note keys and signature lines: what both note signature types share (SPEC §2.4).

Key names, key hashes (C2SP: key IDs), verifier-key strings, the :class:`Verifier` and
:class:`Signer` protocols and :class:`Signature` lines. The note format is
:mod:`transparency_log.note`, which re-exports these names as part of its public face; the
cosignature/v1 type (:mod:`transparency_log.cosignature`) builds on this module, not on
``note``, so the two never import each other.
"""

from __future__ import annotations

import base64
from typing import ClassVar, Protocol

from transparency_log import ed25519
from transparency_log._frozen import Frozen
from transparency_log.hashing import sha256

__all__ = [
    "SIG_LINE_PREFIX",
    "NamedEd25519Signer",
    "NamedEd25519Verifier",
    "Signature",
    "Signer",
    "Verifier",
    "format_verifier_key",
    "is_valid_name",
    "key_hash",
    "require_valid_name",
]

SIG_LINE_PREFIX = "\u2014 "  # em dash, space
"""What every signature line starts with (SPEC §2.4.4)."""

# Unicode White_Space (what Go's unicode.IsSpace tests): no key name may contain one.
_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)
# Every character a key name may not hold: white space, "+", and the C0 controls.
_NOT_IN_NAMES = _WHITE_SPACE | frozenset("+") | frozenset(map(chr, range(0x20)))


class Verifier(Protocol):
    """Verifies signatures by one key (Go's ``note.Verifier``).

    ``verify`` answers a yes/no question for :func:`open_note`, which turns "no" into a
    :class:`VerificationError`; it is not a public verification API.
    """

    @property
    def name(self) -> str:
        """The key name, as it appears in signature lines."""
        ...

    @property
    def key_hash(self) -> int:
        """The uint32 key hash (C2SP: key ID), as it appears in signature lines."""
        ...

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (the bytes after the key hash) signs the note text ``msg``."""
        ...


class Signer(Protocol):
    """Signs note texts with one key (Go's ``note.Signer``)."""

    @property
    def name(self) -> str:
        """The key name written into signature lines."""
        ...

    @property
    def key_hash(self) -> int:
        """The uint32 key hash written into signature lines."""
        ...

    def sign(self, msg: bytes) -> bytes:
        """The signature bytes (without the key hash) over the note text ``msg``."""
        ...


class Signature(Frozen):
    """One signature line: ``— <name> base64(u32be(key_hash) || signature)`` (SPEC §2.4.4)."""

    name: str
    key_hash: int
    signature: bytes
    """The signature bytes after the 4-byte key hash."""

    def __init__(self, name: str, key_hash: int, signature: bytes) -> None:
        self._freeze(name=name, key_hash=key_hash, signature=signature)
        self.__post_init__()

    def __post_init__(self) -> None:
        require_valid_name(self.name)
        if not 0 <= self.key_hash <= 0xFFFFFFFF:
            raise ValueError(f"key hash {self.key_hash} is not a uint32")
        if not self.signature:
            raise ValueError("a signature line needs at least one signature byte")

    def to_line(self) -> str:
        """The signature line, newline included, exactly as :func:`sign` writes it."""
        raw = self.key_hash.to_bytes(4, "big") + self.signature
        return f"{SIG_LINE_PREFIX}{self.name} {base64.b64encode(raw).decode('ascii')}\n"


def key_hash(name: str, key: bytes) -> int:
    """The key hash (C2SP: key ID) of a named key (SPEC §2.4.2).

    ``key`` is the signature type byte followed by the public key:
    ``u32be(SHA-256(name || 0x0A || type || public key)[:4])``.
    """
    digest = sha256(name.encode("utf-8") + b"\n" + key).digest()
    return int.from_bytes(digest[:4], "big")


def is_valid_name(name: str) -> bool:
    """C2SP: non-empty, no Unicode space, no ``+``; we also refuse control characters
    (they cannot appear in a note) and strings that are not valid UTF-8."""
    if not name or not _NOT_IN_NAMES.isdisjoint(name):  # one pass, in C
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_valid_name(name: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"a key name is a str, not {type(name).__name__}")
    if not is_valid_name(name):
        raise ValueError(
            f"invalid key name {name!r}: a key name is non-empty UTF-8 without spaces, "
            "'+' or control characters"
        )


def format_verifier_key(name: str, sig_type: int, public_key: bytes) -> str:
    """``<name>+<hash>+base64(type || public key)`` for a key already checked (SPEC §2.4.3).

    :func:`transparency_log.note.encode_verifier_key` is the public, checking form.
    """
    key = bytes([sig_type]) + public_key
    return f"{name}+{key_hash(name, key):08x}+{base64.b64encode(key).decode('ascii')}"


class NamedEd25519Signer:
    """The key half both Ed25519 note signers share (types 0x01 and 0x04, SPEC §2.4.5, §2.5).

    Holds the name, the signing key made from the 32-byte seed, the public key and the key
    hash over ``sig_type``; the seed never appears in repr. Subclasses set ``sig_type`` and
    define what the signature covers.
    """

    sig_type: ClassVar[int]

    def __init__(self, name: str, seed: bytes) -> None:
        require_valid_name(name)
        self._name = name
        self._signing_key = ed25519.signing_key(seed)
        self._public_key = bytes(self._signing_key.verify_key)
        self._key_hash = key_hash(name, bytes([self.sig_type]) + self._public_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, key_hash={self._key_hash:08x})"

    @property
    def name(self) -> str:
        """The key name written into signature lines."""
        return self._name

    @property
    def key_hash(self) -> int:
        """The key hash (over the signature type and the public key) in signature lines."""
        return self._key_hash

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._public_key


class NamedEd25519Verifier(Frozen):
    """The key half both Ed25519 note verifiers share (types 0x01 and 0x04, SPEC §2.4.5, §2.5).

    Checks the name and that the public key is a canonical Ed25519 point (SPEC §2.4.5)
    once, when the verifier is made, and derives the key hash over ``sig_type``: a key
    parsed from a verifier-key string, or handed over by a caller, is checked the same way
    whatever its type. Subclasses set ``sig_type`` and define :meth:`verify`, what the
    signature covers.
    """

    sig_type: ClassVar[int]

    name: str
    public_key: bytes
    key_hash: int

    def __init__(self, name: str, public_key: bytes) -> None:
        self._freeze(name=name, public_key=public_key)
        self.__post_init__()

    def __post_init__(self) -> None:
        require_valid_name(self.name)
        ed25519.require_public_key(self.public_key)
        key = bytes([self.sig_type]) + self.public_key
        object.__setattr__(self, "key_hash", key_hash(self.name, key))

    @property
    def verifier_key(self) -> str:
        """This key as a verifier-key string ``<name>+<hash>+base64(type || public key)``."""
        return format_verifier_key(self.name, self.sig_type, self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is a signature of type :attr:`sig_type` of ``msg``."""
        raise NotImplementedError
