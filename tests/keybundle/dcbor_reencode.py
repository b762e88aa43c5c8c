"""The previous fast path of keybundle.dcbor: cbor2 + object hook, then proof by re-encoding.

Kept in the tests as a differential oracle for the one-pass check that replaced it
(tests/keybundle/test_dcbor.py): on generated and mutated inputs both must accept exactly
the same inputs, as the same values. This is the design the module docstring of
``keybundle.dcbor`` described up to issue 18: cbor2's compiled decoder with its strict
options and every tag it interprets trapped, an object hook checking each map's key order
and value types, then ``cbor2.dumps`` of the value compared with the input (maps keep the
input's key order, so equality proves minimal heads, definite lengths and no trailing
bytes).
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

import cbor2

from keybundle.dcbor import _CBOR2_INTERPRETED_TAGS, Tag, _encode_key

GAVE_UP: Final = object()


class _GiveUp(Exception):  # noqa: N818 (control flow)
    pass


def _give_up_semantic(value: object, immutable: bool) -> NoReturn:
    raise _GiveUp


_SEMANTIC_TRAPS: Final = dict.fromkeys(_CBOR2_INTERPRETED_TAGS, _give_up_semantic)
# Types the fast path accepts as they are: a dict was checked by _fast_check_map when cbor2
# built it, a tag by the tag decoder, and ints are within 64 bits because bignum tags are
# trapped. Allowed tags are decoded as cbor2's own CBORTag, which cbor2.dumps writes natively:
# an object of a type it does not know (our Tag) makes cbor2 import its table of default
# encoders (decimal, uuid, email, ...: ~10 ms in a fresh process). They become Tag after the
# re-encoding check.
_FAST_ACCEPTED: Final = frozenset({int, str, bytes, bool, type(None), dict, cbor2.CBORTag})


def _fast_check_value(value: object) -> None:
    """Give up unless ``value`` is of an accepted type (lists: every element, recursively)."""
    if type(value) is list:
        for item in value:
            if type(item) not in _FAST_ACCEPTED:
                _fast_check_value(item)
    elif type(value) not in _FAST_ACCEPTED:
        raise _GiveUp


def _fast_check_map(mapping: Any, immutable: bool) -> Any:
    """cbor2 object hook: keys are int or str in strictly increasing bytewise order."""
    previous = -1
    for key in mapping:
        # For unsigned keys, numeric order is the bytewise order of their encodings.
        if type(key) is not int or key <= previous:
            _fast_check_keys_bytewise(mapping)
            break
        previous = key
    if immutable:  # a map inside a map key: rejected by the enclosing map's check
        raise _GiveUp
    for value in mapping.values():
        if type(value) not in _FAST_ACCEPTED:
            _fast_check_value(value)
    return mapping


def _fast_check_keys_bytewise(mapping: Any) -> None:
    previous = b""
    for key in mapping:
        if type(key) is not int and type(key) is not str:
            raise _GiveUp
        encoded = _encode_key(key)
        if encoded <= previous:
            raise _GiveUp
        previous = encoded


def _count(value: object) -> int:
    """Number of data items in a decoded value (only needed for inputs over max_items bytes)."""
    if isinstance(value, list):
        return 1 + sum([_count(item) for item in value])
    if isinstance(value, dict):
        return 1 + sum([1 + _count(item) for item in value.values()])
    if isinstance(value, Tag):
        return 1 + _count(value.value)
    return 1


def _give_up_tag(tag: object, immutable: bool) -> NoReturn:
    # cbor2 calls tag_hook for the tags it does not interpret and that are not allowed.
    raise _GiveUp


def _tag_decoder(number: int) -> Any:
    def decode_tag(content: object, immutable: bool) -> cbor2.CBORTag:
        # Allowed tags are decoded through semantic_decoders, which (unlike tag_hook) get
        # their content as plain lists and dicts; immutable only inside map keys (rejected).
        if immutable:
            raise _GiveUp
        if type(content) not in _FAST_ACCEPTED:
            _fast_check_value(content)
        return cbor2.CBORTag(number, content)

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


def _decode_fast(data: bytes, max_depth: int, tags: frozenset[int]) -> object:
    try:
        value = cbor2.loads(
            data,
            tag_hook=_give_up_tag,
            object_hook=_fast_check_map,
            semantic_decoders=_semantic_decoders(tags),
            max_depth=max_depth,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
        if type(value) not in _FAST_ACCEPTED:
            _fast_check_value(value)
        # Maps keep the input's key order, so the plain re-encoding equals the input exactly
        # when every head was minimal, every length definite and nothing trailed.
        again = cbor2.dumps(value)
    except (cbor2.CBORError, _GiveUp):
        # The one place cbor2's errors are handled: the strict decoder gives the verdict.
        return GAVE_UP
    if again != data:
        return GAVE_UP
    return _own_tags(value) if tags else value


def _own_tags(value: object) -> object:
    """``value`` with every cbor2 CBORTag replaced by a :class:`Tag` (lists and maps in place).

    Only values that the fast path accepted come here, so map keys hold no tags.
    """
    if type(value) is cbor2.CBORTag:
        return Tag(value.tag, _own_tags(value.value))  # type: ignore[arg-type]
    if type(value) is list:
        for i, item in enumerate(value):
            if type(item) in _CONTAINERS:
                value[i] = _own_tags(item)
    elif type(value) is dict:
        for key, item in value.items():
            if type(item) in _CONTAINERS:
                value[key] = _own_tags(item)
    return value


_CONTAINERS: Final = frozenset({list, dict, cbor2.CBORTag})


def count(value: object) -> int:
    """Number of data items in a decoded value."""
    if isinstance(value, list):
        return 1 + sum([count(item) for item in value])
    if isinstance(value, dict):
        return 1 + sum([1 + count(item) for item in value.values()])
    if isinstance(value, Tag):
        return 1 + count(value.value)
    return 1


def decode_reencode(data: bytes, max_depth: int, max_items: int, tags: frozenset[int]) -> object:
    """The old fast path with its item cap: the value, or GAVE_UP."""
    value = _decode_fast(data, max_depth, tags)
    if value is GAVE_UP or count(value) > max_items:
        return GAVE_UP
    return value
