"""RFC 8949 §4.2.1 core deterministic encoding: strict encoder and decoder (SPEC §3.1).

Every CBOR object of keybundle (bundle payload, COSE headers, OTA package, trust root, client
state) has exactly one accepted encoding, so that a signature, a log leaf or a digest over the
bytes means one value and nothing else. The profile (SPEC §3.1):

* preferred (shortest) heads for every integer, length and tag number; definite lengths only;
* map keys are integers or text strings, sorted bytewise by their encoded form, no duplicates;
* no floating-point numbers, no simple values other than ``false``/``true``/``null``, no
  ``undefined``; integers fit in 64 bits (no bignums, tags 2 and 3);
* tags only where the caller allows them (``tags=``); text strings are valid UTF-8;
* one data item with no trailing bytes, at most ``max_size`` bytes, ``max_items`` data items
  and ``max_depth`` levels of nesting.

Decoding design (measured by bench/bench_dcbor.py and, in the client decision, by
bench/bench_verify.py; issue 18). The client verifier decodes on its hot path, so
:func:`decode` first tries a *fast path* that proves the form without re-encoding: cbor2's
compiled decode, then a single walk over the value it built. It falls back to the exact
pure-Python decoder (:class:`_StrictDecoder`) whenever the fast path cannot prove acceptance:

1. cbor2's compiled decoder (``cbor2.loads``) builds the value with its own strict options
   (no indefinite lengths, no duplicate keys, our ``max_depth``, whose meaning is the same as
   ours), every tag that cbor2 would interpret itself (bignums, dates, shared values, string
   references, ...) trapped, and allowed tags decoded as :class:`Tag` (through
   ``semantic_decoders``, which, unlike ``tag_hook``, receive mutable content). A tag that is
   neither comes back as cbor2's ``CBORTag``;
2. one walk over that value (:func:`_measure`) checks every type (int, bytes, str, bool,
   null, list, dict, :class:`Tag`; so no float, simple value, ``undefined`` or disallowed
   tag), every map's keys (int or str, strictly increasing bytewise by their encodings: for
   unsigned keys, the only kind of our own schemas, that is numeric order), counts the data
   items, and sums the size of the value's deterministic encoding: shortest heads plus
   string contents;
3. that size must equal ``len(data)``. Every head cbor2 read is at least as long as the
   shortest one for its argument, so the prefix of ``data`` it decoded spans at least that
   many bytes: equality proves at once that every head was the shortest and that no bytes
   trail (``cbor2.loads`` ignores them).

Every int is within 64 bits because bignum tags are trapped in step 1. The walk costs a
fraction of the re-encoding it replaced (``cbor2.dumps`` and compare, after an object hook
called for every map): for the client's three documents (package, tagged COSE_Sign1, 8-key
payload) about 1.5-2x fewer microseconds in all; the figures are in bench/bench_dcbor.py's
output. The previous design is kept in tests/keybundle/dcbor_reencode.py, and
tests/keybundle/test_dcbor.py checks on generated, mutated and lenient encodings that both
accept exactly the same inputs as the same values.
Rejected alternatives: re-encoding with ``cbor2.dumps(canonical=True)`` and comparing costs
~18 µs for the encoding alone in cbor2 6.x, and its canonical mode sorts keys length-first
(RFC 7049 §3.9), which agrees with RFC 8949's bytewise order for keys of one major type but
not across types (``24`` = ``18 18`` sorts after ``-1`` = ``20`` length-first, before it
bytewise), so it needed a guard anyway. A pure-Python validating decoder (the strict path
below) is exact but 3-8x slower than cbor2 plus the walk on a payload.

Whenever the fast path gives up or cbor2 rejects, :class:`_StrictDecoder` decides, so the
result is exactly the strict decoder's (it also writes the error messages, which name the
offset and the problem). The fast path is used only with the cbor2 release line it was
checked against (``_FAST_PATH``); tests/keybundle/test_dcbor.py compares both paths with a
naive reference decoder on generated values and mutated byte strings, and re-derives the
list of tags cbor2 interprets.
"""

from __future__ import annotations

import os
from typing import Any, Final, NoReturn, TypeAlias

import cbor2

from keybundle.errors import Reason, VerificationError
from transparency_log._frozen import Frozen

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_SIZE",
    "MAX_DEPTH_LIMIT",
    "CborValue",
    "Tag",
    "decode",
    "decode_unproven",
    "encode",
    "encode_head",
    "semantic_decoders",
]

DEFAULT_MAX_SIZE: Final = 65_536
"""Default cap on the encoded size in bytes (SPEC §11)."""
DEFAULT_MAX_DEPTH: Final = 16
"""Default cap on nesting: the top-level item is at depth 0, items inside it at 1 (SPEC §11)."""
DEFAULT_MAX_ITEMS: Final = 4_096
"""Default cap on the number of data items, counting every element, key, value and tag."""
MAX_DEPTH_LIMIT: Final = 256
"""Largest ``max_depth`` a caller may ask for (the strict decoder recurses once per level)."""

_UINT64_MAX: Final = (1 << 64) - 1
_UTF8_ERRORS: Final = "strict"

CborValue: TypeAlias = (
    "int | bytes | str | bool | list[CborValue] | dict[int | str, CborValue] | Tag | None"
)


class Tag(Frozen):
    """A CBOR tag (major type 6) that the caller allowed, with its content."""

    tag: int
    value: CborValue

    def __init__(self, tag: int, value: CborValue) -> None:
        self._freeze(tag=tag, value=value)


def _malformed(message: str) -> NoReturn:
    raise VerificationError(Reason.MALFORMED_CBOR, message)


# ---------------------------------------------------------------------------------------------
# Encoder


def encode(value: CborValue) -> bytes:
    """Encode ``value`` in RFC 8949 §4.2.1 core deterministic encoding (SPEC §3.1).

    Arrays may be given as lists or tuples. Raises ``TypeError`` for values outside the
    profile (floats, byte-like objects other than ``bytes``, map keys other than int and str)
    and ``ValueError`` for integers or tag numbers beyond 64 bits, text that is not Unicode
    (lone surrogates), or nesting deeper than ``MAX_DEPTH_LIMIT`` (or cyclic).
    """
    return _encode(value, 0)


_SMALL_HEADS: Final = tuple(
    tuple(bytes((major << 5 | n,)) for n in range(24)) for major in range(8)
)


def encode_head(major: int, arg: int) -> bytes:
    """A CBOR initial byte and argument in the shortest form (RFC 8949 §4.2.1).

    Public so that the COSE modules build their fixed structures with the same heads.
    """
    if arg < 24:
        return _SMALL_HEADS[major][arg]
    mt = major << 5
    if arg < 0x100:
        return bytes((mt | 24, arg))
    if arg < 0x10000:
        return bytes((mt | 25, arg >> 8, arg & 0xFF))
    if arg < 0x1_0000_0000:
        return bytes((mt | 26,)) + arg.to_bytes(4, "big")
    if arg <= _UINT64_MAX:
        return bytes((mt | 27,)) + arg.to_bytes(8, "big")
    raise AssertionError("bad math in _head: argument beyond 64 bits")


def _encode_int(n: int) -> bytes:
    if 0 <= n <= _UINT64_MAX:
        return encode_head(0, n)
    if -1 - _UINT64_MAX <= n < 0:
        return encode_head(1, -1 - n)
    raise ValueError(f"integer {n} does not fit in 64 bits (bignums are not allowed, SPEC §3.1)")


def _encode_str(s: str) -> bytes:
    try:
        raw = s.encode("utf-8", _UTF8_ERRORS)
    except UnicodeEncodeError as exc:
        raise ValueError(f"text string is not valid Unicode (lone surrogate): {exc}") from None
    return encode_head(3, len(raw)) + raw


def _encode(value: object, depth: int) -> bytes:
    kind = type(value)
    if kind is int:
        return _encode_int(value)  # type: ignore[arg-type]
    if kind is str:
        return _encode_str(value)  # type: ignore[arg-type]
    if kind is bytes:
        return encode_head(2, len(value)) + value  # type: ignore[arg-type, operator]
    if depth >= MAX_DEPTH_LIMIT and (kind is dict or kind is list or kind is tuple or kind is Tag):
        raise ValueError(f"value nests deeper than {MAX_DEPTH_LIMIT} levels (or is cyclic)")
    if kind is dict:
        mapping: dict[object, object] = value  # type: ignore[assignment]
        pairs = sorted([(_encode_key(key), item) for key, item in mapping.items()], key=_first)
        parts = [encode_head(5, len(pairs))]
        for encoded_key, item in pairs:
            parts.append(encoded_key)
            parts.append(_encode(item, depth + 1))
        return b"".join(parts)
    if kind is list or kind is tuple:
        items: list[object] = value  # type: ignore[assignment]
        return encode_head(4, len(items)) + b"".join([_encode(item, depth + 1) for item in items])
    if kind is bool:
        return b"\xf5" if value else b"\xf4"
    if value is None:
        return b"\xf6"
    if kind is Tag:
        tagged: Tag = value  # type: ignore[assignment]
        if type(tagged.tag) is not int or not 0 <= tagged.tag <= _UINT64_MAX:
            raise ValueError(f"tag number must be an int in 0..2^64-1, got {tagged.tag!r}")
        return encode_head(6, tagged.tag) + _encode(tagged.value, depth + 1)
    if kind is float:
        raise TypeError("floating-point numbers are outside deterministic CBOR (SPEC §3.1)")
    raise TypeError(f"cannot encode {kind.__name__} as deterministic CBOR (SPEC §3.1)")


def _encode_key(key: object) -> bytes:
    if type(key) is int:
        return _encode_int(key)
    if type(key) is str:
        return _encode_str(key)
    raise TypeError(
        f"map keys must be int or str in deterministic CBOR (SPEC §3.1), got {type(key).__name__}"
    )


def _first(pair: tuple[bytes, object]) -> bytes:
    return pair[0]


# ---------------------------------------------------------------------------------------------
# Decoder


def decode(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
    tags: frozenset[int] = frozenset(),
) -> CborValue:
    """Decode one deterministic-CBOR data item, rejecting every other encoding (SPEC §3.1).

    Raises ``VerificationError(Reason.MALFORMED_CBOR)`` for any input outside the profile,
    with a message naming the offset and the problem; never another exception for any
    ``data``. Arrays decode to lists, maps to dicts, allowed tags to :class:`Tag`. Raises
    ``TypeError``/``ValueError`` for bad arguments (``tags`` may not hold 2 or 3: integers
    beyond 64 bits are outside the profile).
    """
    if type(data) is not bytes:
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    _check_limits(max_size, max_depth, max_items, tags)
    if len(data) > max_size:
        _malformed(
            f"input is {len(data)} bytes, more than the limit of {max_size} bytes; "
            "it cannot be a valid object of this kind"
        )
    if _FAST_PATH:
        value = _decode_fast(data, max_depth, max_items, tags)
        if value is not _GAVE_UP:
            return value  # type: ignore[return-value]
    return _StrictDecoder(data, max_depth, max_items, tags).decode()


def _check_limits(max_size: int, max_depth: int, max_items: int, tags: frozenset[int]) -> None:
    for name, limit in (("max_size", max_size), ("max_depth", max_depth)):
        if type(limit) is not int or limit < 0:
            raise ValueError(f"{name} must be a non-negative int, got {limit!r}")
    if type(max_items) is not int or max_items < 1:
        raise ValueError(f"max_items must be a positive int, got {max_items!r}")
    if max_depth > MAX_DEPTH_LIMIT:
        raise ValueError(f"max_depth must be at most {MAX_DEPTH_LIMIT}, got {max_depth}")
    if type(tags) is not frozenset:
        raise TypeError(f"tags must be a frozenset of ints, got {type(tags).__name__}")
    for tag in tags:
        if type(tag) is not int or not 0 <= tag <= _UINT64_MAX:
            raise ValueError(f"tags must hold ints in 0..2^64-1, got {tag!r}")
        if tag in (2, 3):
            raise ValueError("tags 2 and 3 (bignums) are outside deterministic CBOR (SPEC §3.1)")


# --- fast path: cbor2's compiled decoder, then one walk that proves the form ------------------

# cbor2 releases whose options, hook signatures and interpreted tags were checked (see the
# module docstring); any other release uses the strict decoder only.
_FAST_PATH_RELEASES: Final = ("6.1.", "6.2.", "6.3.")
# Tags that cbor2 6.x interprets itself instead of calling tag_hook (bignums, dates, shared
# values, string references, sets, ...). All are trapped so that none slips through as a
# plain value; tests/keybundle/test_dcbor.py re-derives this list from the installed cbor2.
_CBOR2_INTERPRETED_TAGS: Final = frozenset(
    {0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004,
     43000, 55799}
)  # fmt: skip


def _cbor2_release() -> str | None:
    """The release of the cbor2 that is imported, or None if it cannot be told.

    cbor2 6.x has no ``__version__``, and ``importlib.metadata`` costs 25-40 ms of imports
    in a fresh ``keybundle verify`` process. The installer's record sits beside the package:
    exactly one ``cbor2-<release>.dist-info`` in the directory that holds the imported
    ``cbor2`` names its release. Anything else (no record there, several, a zip import)
    asks ``importlib.metadata``, as before.
    """
    records: list[str] = []
    location = getattr(cbor2, "__file__", None)
    if location:
        site = os.path.dirname(os.path.dirname(location))
        try:
            names = os.listdir(site)
        except OSError:
            names = []
        records = [n for n in names if n.startswith("cbor2-") and n.endswith(".dist-info")]
    if len(records) == 1:
        return records[0][len("cbor2-") : -len(".dist-info")]
    import importlib.metadata  # rare path, and slow to import

    try:
        return importlib.metadata.version("cbor2")
    except importlib.metadata.PackageNotFoundError:
        return None


def _cbor2_release_ok() -> bool:
    release = _cbor2_release()
    return release is not None and release.startswith(_FAST_PATH_RELEASES)


_FAST_PATH: Final = _cbor2_release_ok()
_GAVE_UP: Final = object()


class _GiveUp(Exception):  # noqa: N818 (control flow, never escapes this module)
    """The fast path cannot prove that the input is in the profile; the strict path decides."""


def _give_up_semantic(value: object, immutable: bool) -> NoReturn:
    raise _GiveUp


_SEMANTIC_TRAPS: Final = dict.fromkeys(_CBOR2_INTERPRETED_TAGS, _give_up_semantic)


def _tag_decoder(number: int) -> Any:
    def decode_tag(content: Any, immutable: bool) -> Tag:
        # Allowed tags are decoded through semantic_decoders, which (unlike tag_hook) get
        # their content as plain lists and dicts; immutable only inside map keys (rejected).
        if immutable:
            raise _GiveUp
        return Tag(number, content)  # _measure checks the content

    return decode_tag


_SEMANTIC_DECODERS: dict[frozenset[int], dict[int, Any]] = {frozenset(): _SEMANTIC_TRAPS}
_SEMANTIC_DECODERS_CACHED: Final = 64


def _semantic_decoders(tags: frozenset[int]) -> dict[int, Any]:
    decoders = _SEMANTIC_DECODERS.get(tags)
    if decoders is None:
        decoders = {**_SEMANTIC_TRAPS, **{number: _tag_decoder(number) for number in tags}}
        if len(_SEMANTIC_DECODERS) < _SEMANTIC_DECODERS_CACHED:
            _SEMANTIC_DECODERS[tags] = decoders
    return decoders


def _decode_fast(data: bytes, max_depth: int, max_items: int, tags: frozenset[int]) -> object:
    """cbor2's decode, then one walk that proves the profile: the value, or ``_GAVE_UP``."""
    try:
        value = cbor2.loads(
            data,
            semantic_decoders=_semantic_decoders(tags),
            max_depth=max_depth,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
        size, items = _measure(value)
    except (cbor2.CBORError, _GiveUp):
        # The one place cbor2's errors are handled: the strict decoder gives the verdict.
        return _GAVE_UP
    # cbor2 read a prefix of ``data`` in which every head is at least as long as the
    # shortest one, so that prefix spans at least ``size`` bytes: ``size == len(data)``
    # proves both that every head was the shortest and that nothing trailed.
    if size != len(data) or items > max_items:
        return _GAVE_UP
    return value


def semantic_decoders(tags: frozenset[int]) -> dict[int, Any]:
    """What :func:`decode_unproven` needs for ``tags`` (computed once, by a caller's module)."""
    _check_limits(0, 0, 1, tags)
    return _semantic_decoders(tags)


def decode_unproven(data: bytes, *, max_depth: int, decoders: dict[int, Any]) -> object:
    """cbor2's decode of ``data`` with the fast path's options, or None: not a verdict.

    For a parser that knows its document's shape (the signed bundle, ``cose``): it checks
    every item's exact type against the shape and the size of the shape's deterministic
    encoding against ``len(data)``, which proves the form as :func:`_measure` does, and
    calls :func:`decode` for anything else. ``decoders`` is :func:`semantic_decoders` of
    the allowed tags: their items come back as :class:`Tag`, any other tag as a cbor2 type
    that no such shape has. None whenever cbor2 rejects, a trapped tag appears, or this
    cbor2 release is not the one the fast path was checked against.
    """
    if not _FAST_PATH:
        return None
    try:
        return cbor2.loads(
            data,
            semantic_decoders=decoders,
            max_depth=max_depth,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
    except (cbor2.CBORError, _GiveUp):
        return None


def _head_size(argument: int) -> int:
    """Bytes of the shortest head with this argument (RFC 8949 §4.2.1)."""
    if argument < 24:
        return 1
    if argument < 0x100:
        return 2
    if argument < 0x10000:
        return 3
    return 5 if argument < 0x1_0000_0000 else 9


def _measure(value: Any) -> tuple[int, int]:
    """(bytes of the deterministic encoding of ``value``, its data items), or ``_GiveUp``
    if ``value`` is not a value of the profile (SPEC §3.1).

    Scalars inside maps and arrays are measured in the loop, without a call: a payload's
    key entries are maps of scalars, and a call per item would cost more than the decode.
    """
    kind = type(value)
    if kind is dict:
        mapping: dict[Any, Any] = value
        size = _head_size(len(mapping))
        items = 1 + 2 * len(mapping)
        keys_size = 0
        previous = -1
        for key in mapping:
            # Unsigned keys (our schemas' only kind) in increasing numeric order are in
            # increasing bytewise order of their encodings; anything else is compared as bytes.
            if type(key) is not int or key <= previous:
                keys_size = _measure_keys_bytewise(mapping)
                break
            previous = key
            keys_size += 1 if key < 24 else _head_size(key)
        size += keys_size
        for item in mapping.values():
            kind = type(item)
            if kind is int:
                size += _head_size(item if item >= 0 else -1 - item)
            elif kind is bytes or kind is str:
                # Inline (no call per string): UTF-8 length, then the shortest head's size.
                n = len(item) if kind is bytes or item.isascii() else len(item.encode())
                size += n + (1 if n < 24 else 2 if n < 256 else 3 if n < 65536 else _head_size(n))
            else:
                nested, count = _measure(item)
                size += nested
                items += count - 1
        return size, items
    if kind is list:
        array: list[Any] = value
        size = _head_size(len(array))
        items = 1 + len(array)
        for item in array:
            kind = type(item)
            if kind is bytes or kind is str:
                n = len(item) if kind is bytes or item.isascii() else len(item.encode())
                size += n + (1 if n < 24 else 2 if n < 256 else 3 if n < 65536 else _head_size(n))
            elif kind is int:
                size += _head_size(item if item >= 0 else -1 - item)
            else:
                nested, count = _measure(item)
                size += nested
                items += count - 1
        return size, items
    if kind is bytes or kind is str:
        n = len(value) if kind is bytes or value.isascii() else len(value.encode())
        return _head_size(n) + n, 1
    if kind is int:
        return _head_size(value if value >= 0 else -1 - value), 1
    if kind is bool or value is None:
        return 1, 1
    if kind is Tag:
        tagged: Tag = value
        nested, count = _measure(tagged.value)
        return _head_size(tagged.tag) + nested, 1 + count
    # A float, undefined, another simple value, a tag that is not allowed (cbor2's CBORTag),
    # a frozen container from inside a map key: outside the profile.
    raise _GiveUp


def _measure_keys_bytewise(mapping: dict[Any, Any]) -> int:
    """Bytes of the keys of a map whose keys are not increasing unsigned integers, which must
    be int or str, increasing bytewise by their encodings."""
    previous = b""
    size = 0
    for key in mapping:
        if type(key) is int:
            encoded = _encode_int(key)
        elif type(key) is str:
            encoded = _encode_str(key)
        else:
            raise _GiveUp
        if encoded <= previous:
            raise _GiveUp
        previous = encoded
        size += len(encoded)
    return size


# --- strict path: a direct reading of RFC 8949 §3 and §4.2.1 -------------------------------


class _StrictDecoder:
    """Exact pure-Python decoder; decides whenever the fast path gives up."""

    __slots__ = ("data", "items", "max_depth", "max_items", "tags")

    def __init__(self, data: bytes, max_depth: int, max_items: int, tags: frozenset[int]):
        self.data = data
        self.max_depth = max_depth
        self.max_items = max_items
        self.tags = tags
        self.items = 0

    def decode(self) -> CborValue:
        if not self.data:
            _malformed("input is empty; expected one CBOR data item")
        value, end = self.item(0, 0)
        if end != len(self.data):
            _malformed(
                f"{len(self.data) - end} trailing bytes after the data item, at offset {end}; "
                "the input must be exactly one data item"
            )
        return value

    def need(self, pos: int, count: int, what: str) -> None:
        if count > len(self.data) - pos:
            _malformed(
                f"truncated input: {what} at offset {pos} needs {count} bytes, "
                f"only {len(self.data) - pos} remain"
            )

    def item(self, pos: int, depth: int) -> tuple[CborValue, int]:
        """Decode the data item at ``pos`` (nested ``depth`` levels); return it and its end."""
        data = self.data
        start = pos
        if pos >= len(data):
            _malformed(f"truncated input: a data item was expected at offset {pos}")
        if depth > self.max_depth:
            _malformed(f"nesting deeper than {self.max_depth} levels at offset {pos}")
        self.items += 1
        if self.items > self.max_items:
            _malformed(f"more than {self.max_items} data items (limit reached at offset {pos})")
        initial = data[pos]
        major = initial >> 5
        info = initial & 0x1F
        pos += 1
        if major == 7:
            return self.simple(info, start), pos
        if info < 24:
            arg = info
        elif info <= 27:
            width = 1 << (info - 24)
            self.need(pos, width, "the head's argument")
            arg = int.from_bytes(data[pos : pos + width], "big")
            pos += width
            if arg < (24 if width == 1 else 1 << (4 * width)):
                _malformed(
                    f"non-minimal head at offset {start}: argument {arg} is encoded in "
                    f"{width} bytes; deterministic CBOR requires the shortest form "
                    "(RFC 8949 §4.2.1)"
                )
        elif info == 31:
            _malformed(
                f"indefinite-length item at offset {start} (major type {major}); "
                "deterministic CBOR requires definite lengths"
            )
        else:
            _malformed(f"reserved additional information {info} at offset {start}")

        if major == 0:
            return arg, pos
        if major == 1:
            return -1 - arg, pos
        if major == 2:
            self.need(pos, arg, "a byte string")
            return data[pos : pos + arg], pos + arg
        if major == 3:
            self.need(pos, arg, "a text string")
            try:
                text = data[pos : pos + arg].decode("utf-8", _UTF8_ERRORS)
            except UnicodeDecodeError as exc:
                _malformed(
                    f"text string at offset {start} is not valid UTF-8 "
                    f"(byte {pos + exc.start}: {exc.reason})"
                )
            return text, pos + arg
        if major == 4:
            # Each element takes at least one byte: reject huge counts before looping.
            self.need(pos, arg, f"an array of {arg} items")
            array: list[CborValue] = []
            for _ in range(arg):
                element, pos = self.item(pos, depth + 1)
                array.append(element)
            return array, pos
        if major == 5:
            self.need(pos, 2 * arg, f"a map of {arg} pairs")
            mapping: dict[int | str, CborValue] = {}
            previous = b""
            for _ in range(arg):
                key_start = pos
                key, pos = self.item(pos, depth + 1)
                encoded_key = data[key_start:pos]
                if type(key) is not int and type(key) is not str:
                    _malformed(
                        f"map key at offset {key_start} is a {_kind(key)}; "
                        "only integer and text-string keys are allowed (SPEC §3.1)"
                    )
                if encoded_key <= previous:
                    problem = "duplicate" if encoded_key == previous else "out-of-order"
                    _malformed(
                        f"{problem} map key {key!r} at offset {key_start}; keys must be "
                        "unique and sorted bytewise by their encoding (RFC 8949 §4.2.1)"
                    )
                previous = encoded_key
                mapping[key], pos = self.item(pos, depth + 1)
            return mapping, pos
        # major == 6
        if arg not in self.tags:
            what = "bignum " if arg in (2, 3) else ""
            _malformed(f"{what}tag {arg} at offset {start} is not allowed here")
        content, pos = self.item(pos, depth + 1)
        return Tag(arg, content), pos

    def simple(self, info: int, start: int) -> bool | None:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info == 23:
            _malformed(f"undefined at offset {start}; only false, true and null are allowed")
        if info in (25, 26, 27):
            _malformed(f"floating-point number at offset {start}; floats are not allowed")
        if info == 31:
            _malformed(f"unexpected break code at offset {start}")
        if info in (28, 29, 30):
            _malformed(f"reserved additional information {info} at offset {start}")
        _malformed(f"simple value at offset {start}; only false, true and null are allowed")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {
        bytes: "byte string",
        list: "array",
        dict: "map",
        Tag: "tag",
        type(None): "null",
    }.get(type(value), type(value).__name__)
