"""C2SP tlog-tiles: entry bundles, the log entries served at ``tile/entries/<N>[.p/<W>]``.

An entry bundle is the concatenation of ``u16be(len(entry)) || entry`` for consecutive log
entries: 256 of them in a full bundle, ``W`` in a partial one (SPEC §6.1). Entry ``i`` of bundle
``N`` is the log's leaf ``N * 256 + i``; its RFC 9162 leaf hash is the ``i``-th hash of level-0
tile ``N``, which is how a reader authenticates a bundle it fetched.

Parsing is strict: the bundle must hold exactly the number of entries its path says, and
nothing may follow the last one (a truncated length prefix, a short entry or trailing bytes
are all rejected), so every accepted bundle has exactly one encoding.
"""

from __future__ import annotations

from collections.abc import Iterable

from transparency_log.errors import LogReason, VerificationError

__all__ = [
    "BUNDLE_WIDTH",
    "MAX_ENTRY_SIZE",
    "encode_entry",
    "encode_entry_bundle",
    "parse_entry_bundle",
]

MAX_ENTRY_SIZE = 65535
"""Largest log entry in bytes: the format's u16be length prefix can say no more (SPEC §11)."""

BUNDLE_WIDTH = 256
"""Entries in a full bundle: the width of a level-0 tile (C2SP tlog-tiles, height 8)."""


def encode_entry(entry: bytes) -> bytes:
    """One entry as it appears in a bundle: ``u16be(len(entry)) || entry``.

    An entry longer than :data:`MAX_ENTRY_SIZE` cannot be put in a bundle at all, so the
    caller must refuse it before it is sequenced (ValueError here).
    """
    if not isinstance(entry, bytes):
        raise TypeError(f"a log entry is bytes, not {type(entry).__name__}")
    size = len(entry)
    if size > MAX_ENTRY_SIZE:
        raise ValueError(
            f"log entry is {size} bytes; an entry bundle can hold at most {MAX_ENTRY_SIZE}"
        )
    return size.to_bytes(2, "big") + entry


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    """The bundle of ``entries``: 1 to 256 entries, each length-prefixed (SPEC §6.1)."""
    encoded = [encode_entry(entry) for entry in entries]
    if not 1 <= len(encoded) <= BUNDLE_WIDTH:
        raise ValueError(f"an entry bundle holds 1 to {BUNDLE_WIDTH} entries, not {len(encoded)}")
    return b"".join(encoded)


def parse_entry_bundle(data: bytes, width: int) -> tuple[bytes, ...]:
    """The entries of a bundle that must hold exactly ``width`` entries (SPEC §6.1).

    ``width`` is 256 for a full bundle or the ``<W>`` of a ``.p/<W>`` path; it comes from the
    caller's path arithmetic, so a bad one is a ValueError. A bundle with another number of
    entries, a length prefix cut short, an entry cut short, or bytes after the last entry
    raises ``VerificationError(MALFORMED_TILE)``. The entries are not authenticated: check
    their leaf hashes against a level-0 tile of a verified tree before using them.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"an entry bundle is bytes, not {type(data).__name__}")
    if isinstance(width, bool) or not isinstance(width, int):
        raise TypeError(f"width must be int, not {type(width).__name__}")
    if not 1 <= width <= BUNDLE_WIDTH:
        raise ValueError(f"an entry bundle holds 1 to {BUNDLE_WIDTH} entries, not {width}")
    entries: list[bytes] = []
    offset = 0
    end = len(data)
    while offset < end:
        if len(entries) == width:
            raise VerificationError(
                LogReason.MALFORMED_TILE,
                f"entry bundle should hold {width} entries but has {end - offset} more bytes "
                f"after entry {width - 1}; the bundle is corrupt or belongs to another path",
            )
        if end - offset < 2:
            raise VerificationError(
                LogReason.MALFORMED_TILE,
                f"entry bundle ends inside the length prefix of entry {len(entries)} "
                f"(offset {offset}); the bundle is truncated",
            )
        size = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if end - offset < size:
            raise VerificationError(
                LogReason.MALFORMED_TILE,
                f"entry {len(entries)} of the bundle says it is {size} bytes but only "
                f"{end - offset} remain; the bundle is truncated",
            )
        entries.append(data[offset : offset + size])
        offset += size
    if len(entries) != width:
        raise VerificationError(
            LogReason.MALFORMED_TILE,
            f"entry bundle should hold {width} entries but holds {len(entries)}; "
            "fetch it again or check the path's width",
        )
    return tuple(entries)
