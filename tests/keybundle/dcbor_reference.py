"""Naive reference for RFC 8949 §4.2.1 deterministic CBOR, for differential tests only.

Written straight from the RFC and deliberately shaped differently from keybundle.dcbor:
first a *lenient* well-formedness parse (RFC 8949 §3 and Appendix C: any head width,
indefinite lengths, floats, simple values, any tag), then the profile rules of SPEC §3.1 on the
parsed tree, and finally "re-encode deterministically and compare with the input" using its
own naive encoder. Slow and simple on purpose: it only has to be obviously right.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keybundle.dcbor import CborValue, Tag

__all__ = ["Rejected", "reference_decode", "reference_encode"]


class Rejected(Exception):  # noqa: N818 (the reference's only verdict besides a value)
    """The input is not in the profile."""


@dataclass
class _Node:
    """One parsed data item, as written on the wire."""

    major: int
    info: int
    arg: int | None = None  # None for indefinite lengths
    raw: bytes = b""  # string content
    children: list[_Node] = field(default_factory=list)  # array elements, map k/v, tag content


def _parse(data: bytes, pos: int, depth: int, limits: dict[str, int]) -> tuple[_Node, int]:
    if depth > limits["max_depth"]:
        raise Rejected("too deep")
    limits["items"] += 1
    if limits["items"] > limits["max_items"]:
        raise Rejected("too many items")
    if pos >= len(data):
        raise Rejected("truncated")
    major, info = data[pos] >> 5, data[pos] & 31
    pos += 1
    node = _Node(major, info)
    if info < 24:
        node.arg = info
    elif info in (24, 25, 26, 27):
        width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        if pos + width > len(data):
            raise Rejected("truncated head")
        node.arg = int.from_bytes(data[pos : pos + width], "big")
        pos += width
    elif info == 31:
        if major in (0, 1, 6):
            raise Rejected("not well-formed: indefinite int/tag")
        if major == 7:
            raise Rejected("not well-formed: stray break")
    else:
        raise Rejected("not well-formed: reserved additional information")

    if major in (2, 3):
        if node.arg is None:  # indefinite: chunks of the same major type, then break
            while True:
                if pos >= len(data):
                    raise Rejected("truncated")
                if data[pos] == 0xFF:
                    pos += 1
                    break
                chunk, pos = _parse(data, pos, depth + 1, limits)
                if chunk.major != major or chunk.arg is None:
                    raise Rejected("not well-formed: bad chunk")
                node.raw += chunk.raw
        else:
            if pos + node.arg > len(data):
                raise Rejected("truncated string")
            node.raw = data[pos : pos + node.arg]
            pos += node.arg
    elif major in (4, 5):
        per = 1 if major == 4 else 2
        if node.arg is None:
            while True:
                if pos >= len(data):
                    raise Rejected("truncated")
                if data[pos] == 0xFF:
                    pos += 1
                    break
                for _ in range(per):
                    child, pos = _parse(data, pos, depth + 1, limits)
                    node.children.append(child)
        else:
            if node.arg * per > len(data) - pos:
                raise Rejected("truncated container")
            for _ in range(node.arg * per):
                child, pos = _parse(data, pos, depth + 1, limits)
                node.children.append(child)
    elif major == 6:
        child, pos = _parse(data, pos, depth + 1, limits)
        node.children.append(child)
    elif major == 7 and info == 24 and node.arg is not None and node.arg < 32:
        raise Rejected("not well-formed: two-byte simple value below 32")
    return node, pos


def _value(node: _Node, tags: frozenset[int]) -> CborValue:
    """Apply the profile's value rules (SPEC §3.1) to a parsed node."""
    if node.major == 0:
        return node.arg
    if node.major == 1:
        assert node.arg is not None
        return -1 - node.arg
    if node.major == 2:
        return node.raw
    if node.major == 3:
        try:
            return node.raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Rejected("bad UTF-8") from exc
    if node.major == 4:
        return [_value(child, tags) for child in node.children]
    if node.major == 5:
        out: dict[int | str, CborValue] = {}
        for key_node, value_node in zip(node.children[::2], node.children[1::2], strict=True):
            key = _value(key_node, tags)
            if type(key) not in (int, str):
                raise Rejected("map key type")
            assert isinstance(key, int | str)
            if key in out:
                raise Rejected("duplicate key")
            out[key] = _value(value_node, tags)
        return out
    if node.major == 6:
        assert node.arg is not None
        if node.arg not in tags or node.arg in (2, 3):
            raise Rejected("tag not allowed")
        return Tag(node.arg, _value(node.children[0], tags))
    simple: dict[int, CborValue] = {20: False, 21: True, 22: None}
    if node.info in simple:
        return simple[node.info]
    raise Rejected("float, undefined or other simple value")


def reference_encode(value: CborValue) -> bytes:
    """Naive RFC 8949 §4.2.1 encoder: shortest heads, keys sorted bytewise by encoding."""

    def head(major: int, arg: int) -> bytes:
        if arg < 24:
            return bytes([major << 5 | arg])
        for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if arg < 256**width:
                return bytes([major << 5 | info]) + arg.to_bytes(width, "big")
        raise Rejected("integer too large")

    if value is False:
        return b"\xf4"
    if value is True:
        return b"\xf5"
    if value is None:
        return b"\xf6"
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return head(3, len(raw)) + raw
    if isinstance(value, list):
        return head(4, len(value)) + b"".join(reference_encode(v) for v in value)
    if isinstance(value, dict):
        pairs = sorted((reference_encode(k), reference_encode(v)) for k, v in value.items())
        return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)
    if isinstance(value, Tag):
        return head(6, value.tag) + reference_encode(value.value)
    raise TypeError(type(value).__name__)


def reference_decode(
    data: bytes, *, max_size: int, max_depth: int, max_items: int, tags: frozenset[int]
) -> CborValue:
    """Decode ``data`` or raise :class:`Rejected`; semantics of keybundle.dcbor.decode."""
    if len(data) > max_size:
        raise Rejected("too large")
    limits = {"max_depth": max_depth, "max_items": max_items, "items": 0}
    node, end = _parse(data, 0, 0, limits)
    if end != len(data):
        raise Rejected("trailing bytes")
    value = _value(node, tags)
    if reference_encode(value) != data:
        raise Rejected("not the deterministic encoding of its value")
    return value
