"""keybundle bundle payload: SPEC §3.2.

The payload is what the independent party signs and the operator countersigns: one
deterministic-CBOR map (SPEC §3.1) with small unsigned-integer keys. Integer keys keep it
compact and make the canonical key order simply numeric order. Algorithms and usages are short
text enums rather than integers: they read as themselves in ``bundle inspect``, in CBOR
diagnostic notation and in FLEET.json, and no registry of numbers has to be kept in step (the
COSE algorithm numbers do not fit: X25519 is a key type there, not an algorithm).

:func:`parse_payload` is strict: every field is checked, unknown fields are rejected, and the
fleet keys are validated (SPEC §3.3), so a :class:`BundlePayload` always holds a payload that
:meth:`BundlePayload.encode` turns back into exactly the bytes it came from.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final, NoReturn, TypeVar

from keybundle import dcbor
from keybundle.errors import Reason, VerificationError
from keybundle.fleetkeys import (
    ALGORITHMS,
    ED25519,
    P256_ECDH,
    P256_ECDSA,
    X25519,
    validate_fleet_key,
)
from transparency_log._frozen import Frozen
from transparency_log.hashing import sha256

__all__ = [
    "DIGEST_SIZE",
    "KEY_AGREEMENT",
    "MAX_EPOCH",
    "MAX_FLEET_ID_BYTES",
    "MAX_KEYS",
    "MAX_KEY_ID_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_PAYLOAD_DEPTH",
    "MAX_TIME",
    "PAYLOAD_VERSION",
    "SIGNING",
    "USAGES",
    "BundlePayload",
    "FleetKey",
    "key_fingerprint",
    "parse_payload",
    "payload_from_json",
    "payload_to_json",
    "signed_bundle_digest",
]

PAYLOAD_VERSION: Final = 1
"""The only format version of SPEC §3.2."""
MAX_PAYLOAD_BYTES: Final = 32_768
"""Largest encoded payload (SPEC §11)."""
MAX_KEYS: Final = 128
"""Most fleet keys in one bundle (SPEC §11)."""
MAX_FLEET_ID_BYTES: Final = 64
"""Longest fleet id (SPEC §11)."""
MAX_KEY_ID_BYTES: Final = 64
"""Longest key id (SPEC §11)."""
MAX_EPOCH: Final = 2**53 - 1
"""Largest epoch: exact in every language's number type, and beyond any real rotation count."""
MAX_TIME: Final = 253_402_300_799
"""Latest time, 9999-12-31T23:59:59Z: every time stays printable as an RFC 3339 date."""
DIGEST_SIZE: Final = 32
"""Bytes of the previous-bundle digest (SHA-256)."""

KEY_AGREEMENT: Final = "key-agreement"
SIGNING: Final = "signing"
USAGES: Final = (KEY_AGREEMENT, SIGNING)
"""The key usages of SPEC §3.2; each algorithm admits exactly one."""
_USAGE_OF: Final = {
    X25519: KEY_AGREEMENT,
    ED25519: SIGNING,
    P256_ECDH: KEY_AGREEMENT,
    P256_ECDSA: SIGNING,
}

# Payload map keys (SPEC §3.2).
_VERSION, _FLEET, _EPOCH, _PREVIOUS, _ISSUED, _NOT_BEFORE, _NOT_AFTER, _KEYS = range(1, 9)
_REQUIRED: Final = frozenset({_VERSION, _FLEET, _EPOCH, _ISSUED, _NOT_BEFORE, _NOT_AFTER, _KEYS})
_ALLOWED: Final = _REQUIRED | {_PREVIOUS}
_FIELD_NAMES: Final = {
    _VERSION: "version",
    _FLEET: "fleet id",
    _EPOCH: "epoch",
    _PREVIOUS: "previous-bundle digest",
    _ISSUED: "issued_at",
    _NOT_BEFORE: "not_before",
    _NOT_AFTER: "not_after",
    _KEYS: "keys",
}
# Key entry map keys (SPEC §3.2).
_KEY_ID, _KEY_ALG, _KEY_PUBLIC, _KEY_USAGE = range(1, 5)
_KEY_FIELDS: Final = frozenset({_KEY_ID, _KEY_ALG, _KEY_PUBLIC, _KEY_USAGE})
_KEY_FIELD_NAMES: Final = {
    _KEY_ID: "key id",
    _KEY_ALG: "algorithm",
    _KEY_PUBLIC: "public key",
    _KEY_USAGE: "usage",
}

_FLEET_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]*", re.ASCII)
_KEY_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*", re.ASCII)
MAX_PAYLOAD_DEPTH: Final = 3
"""CBOR nesting of a payload, top level 0: map > keys array > key entry > value (SPEC §11).

The item cap stays at dcbor's default, well above the 17 + 9 * MAX_KEYS items of the largest
valid payload, so that too many keys is reported as such (MALFORMED_BUNDLE), not as a limit.
"""


def _bad(message: str) -> NoReturn:
    raise VerificationError(Reason.MALFORMED_BUNDLE, message)


# --- the checks shared by the constructors (caller errors) and parse_payload (hostile input) --


def _check_uint(name: str, value: object, low: int, high: int) -> int:
    if type(value) is not int:
        _bad(f"{name} must be an unsigned integer, found {_kind(value)}")
    if not low <= value <= high:
        _bad(f"{name} must be in {low}..{high}, found {value}")
    return value


def _check_key(key_id: object, algorithm: object, public_key: object, usage: object) -> None:
    if type(key_id) is not str:
        _bad(f"key id must be a text string, found {_kind(key_id)}")
    if not 1 <= len(key_id) <= MAX_KEY_ID_BYTES or not _KEY_ID_RE.fullmatch(key_id):
        _bad(
            f"key id {key_id!r} must be 1..{MAX_KEY_ID_BYTES} characters of "
            "[A-Za-z0-9._:-], starting with a letter or digit"
        )
    if type(algorithm) is not str or algorithm not in _USAGE_OF:
        _bad(
            f"key {key_id!r}: algorithm must be one of {', '.join(ALGORITHMS)}, found {algorithm!r}"
        )
    if type(usage) is not str or usage != _USAGE_OF[algorithm]:
        _bad(
            f"key {key_id!r}: usage of an {algorithm} key must be {_USAGE_OF[algorithm]!r}, "
            f"found {usage!r}"
        )
    if type(public_key) is not bytes:
        _bad(f"key {key_id!r}: public key must be a byte string, found {_kind(public_key)}")
    try:
        validate_fleet_key(algorithm, public_key)
    except VerificationError as exc:
        raise VerificationError(exc.reason, f"key {key_id!r}: {exc.message}") from None


def _check_payload(
    *,
    version: object,
    fleet_id: object,
    epoch: object,
    previous_digest: object,
    issued_at: object,
    not_before: object,
    not_after: object,
    keys: tuple[FleetKey, ...],
) -> None:
    if type(version) is not int or version != PAYLOAD_VERSION:
        _bad(f"format version must be {PAYLOAD_VERSION}, found {version!r}")
    if type(fleet_id) is not str:
        _bad(f"fleet id must be a text string, found {_kind(fleet_id)}")
    if not 1 <= len(fleet_id) <= MAX_FLEET_ID_BYTES or not _FLEET_ID_RE.fullmatch(fleet_id):
        _bad(
            f"fleet id {fleet_id!r} must be 1..{MAX_FLEET_ID_BYTES} characters of "
            "[a-z0-9._-], starting with a letter or digit"
        )
    epoch = _check_uint("epoch", epoch, 1, MAX_EPOCH)
    if epoch == 1 and previous_digest is not None:
        _bad("epoch 1 starts the fleet's chain and must not carry a previous-bundle digest")
    if epoch >= 2:
        if previous_digest is None:
            _bad(f"epoch {epoch} must carry the digest of the fleet's epoch-{epoch - 1} bundle")
        if type(previous_digest) is not bytes or len(previous_digest) != DIGEST_SIZE:
            _bad(
                f"previous-bundle digest must be a {DIGEST_SIZE}-byte string (SHA-256), "
                f"found {_kind(previous_digest)}"
            )
    issued = _check_uint("issued_at", issued_at, 0, MAX_TIME)
    start = _check_uint("not_before", not_before, 0, MAX_TIME)
    end = _check_uint("not_after", not_after, 0, MAX_TIME)
    if start > end:
        _bad(f"not_before ({start}) is after not_after ({end}): the bundle is never valid")
    if issued > end:
        _bad(f"issued_at ({issued}) is after not_after ({end}): the bundle was born expired")
    if not 1 <= len(keys) <= MAX_KEYS:
        _bad(f"a bundle carries 1..{MAX_KEYS} keys, found {len(keys)}")
    previous_id = ""
    seen_public: set[bytes] = set()
    for key in keys:
        if key.key_id <= previous_id:
            problem = "duplicate" if key.key_id == previous_id else "out-of-order"
            _bad(
                f"{problem} key id {key.key_id!r}: key ids must be unique and the keys sorted "
                "by key id"
            )
        previous_id = key.key_id
        if key.public_key in seen_public:
            _bad(f"key {key.key_id!r} repeats the public key of an earlier entry")
        seen_public.add(key.public_key)


_T = TypeVar("_T")


def _unchecked(cls: type[_T], **fields: object) -> _T:
    # parse_payload has run every check with the reasons of SPEC §9; build without repeating
    # them (the Ed25519 subgroup check is a scalar multiplication per key).
    obj = object.__new__(cls)
    obj.__dict__.update(fields)  # what a frozen dataclass's own __init__ amounts to
    return obj


# --- the values ------------------------------------------------------------------------------


class FleetKey(Frozen):
    """One fleet public key of a bundle (SPEC §3.2 field 8, §3.3); checked when built."""

    key_id: str
    algorithm: str
    public_key: bytes
    usage: str

    def __init__(self, key_id: str, algorithm: str, public_key: bytes, usage: str) -> None:
        self._freeze(key_id=key_id, algorithm=algorithm, public_key=public_key, usage=usage)
        self.__post_init__()

    def __post_init__(self) -> None:
        try:
            _check_key(self.key_id, self.algorithm, self.public_key, self.usage)
        except VerificationError as exc:
            raise ValueError(exc.message) from None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the public key bytes, lowercase hex: how people compare keys."""
        return key_fingerprint(self.public_key)


class BundlePayload(Frozen):
    """A bundle payload (SPEC §3.2); constructing one checks every field (``ValueError``)."""

    version: int
    fleet_id: str
    epoch: int
    previous_digest: bytes | None
    issued_at: int
    not_before: int
    not_after: int
    keys: tuple[FleetKey, ...]

    def __init__(  # noqa: PLR0917 (positional, as the dataclass's)
        self,
        version: int,
        fleet_id: str,
        epoch: int,
        previous_digest: bytes | None,
        issued_at: int,
        not_before: int,
        not_after: int,
        keys: tuple[FleetKey, ...],
    ) -> None:
        self._freeze(
            version=version,
            fleet_id=fleet_id,
            epoch=epoch,
            previous_digest=previous_digest,
            issued_at=issued_at,
            not_before=not_before,
            not_after=not_after,
            keys=keys,
        )
        self.__post_init__()

    def __post_init__(self) -> None:
        if type(self.keys) is not tuple or any(type(k) is not FleetKey for k in self.keys):
            raise TypeError("keys must be a tuple of FleetKey")
        try:
            _check_payload(
                version=self.version,
                fleet_id=self.fleet_id,
                epoch=self.epoch,
                previous_digest=self.previous_digest,
                issued_at=self.issued_at,
                not_before=self.not_before,
                not_after=self.not_after,
                keys=self.keys,
            )
        except VerificationError as exc:
            raise ValueError(exc.message) from None

    def encode(self) -> bytes:
        """The deterministic-CBOR encoding of SPEC §3.2 (what the independent party signs)."""
        fields: dict[int | str, dcbor.CborValue] = {
            _VERSION: self.version,
            _FLEET: self.fleet_id,
            _EPOCH: self.epoch,
            _ISSUED: self.issued_at,
            _NOT_BEFORE: self.not_before,
            _NOT_AFTER: self.not_after,
            _KEYS: [
                {
                    _KEY_ID: key.key_id,
                    _KEY_ALG: key.algorithm,
                    _KEY_PUBLIC: key.public_key,
                    _KEY_USAGE: key.usage,
                }
                for key in self.keys
            ],
        }
        if self.previous_digest is not None:
            fields[_PREVIOUS] = self.previous_digest
        return dcbor.encode(fields)

    def key(self, key_id: str) -> FleetKey:
        """The key with ``key_id``; ``KeyError`` if the bundle has none."""
        for key in self.keys:
            if key.key_id == key_id:
                return key
        raise KeyError(key_id)


def key_fingerprint(public_key: bytes) -> str:
    """SHA-256 of ``public_key``, lowercase hex (shown by ``bundle inspect``)."""
    return sha256(public_key).hexdigest()


def signed_bundle_digest(signed_bundle: bytes) -> bytes:
    """SHA-256 of a signed bundle's exact bytes: the next epoch's field 4 (SPEC §3.2)."""
    return sha256(signed_bundle).digest()


# --- parsing untrusted bytes -----------------------------------------------------------------


_NO_TAGS: Final = dcbor.semantic_decoders(frozenset())


def _string_size(n: int) -> int:
    return n + (1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5)


def _int_size(n: int) -> int:
    n = n if n >= 0 else -1 - n
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5 if n < 2**32 else 9


def _decode_small_payload(data: bytes) -> dcbor.CborValue | None:
    """The hot path of :func:`parse_payload`'s decoding: ``dcbor.decode``'s value for a
    payload whose maps and arrays have fewer than 24 members, keys below 24 and ASCII text
    (every payload of the profile but those with 24 or more keys), or None.

    cbor2 decodes; one walk over the payload's two levels checks every item's type and sums
    the size of the deterministic encoding of the value, which must equal ``len(data)``:
    the proof of ``dcbor``'s fast path (every head shortest, nothing trailing), without its
    general recursion. Within those bounds a value has at most 1,152 data items and depth 3,
    under the decoder's limits. Anything else returns None and ``dcbor.decode`` decides, so
    the result (value or reason and message) is always the same (tests/keybundle/
    test_payload.py compares both on mutated payloads).
    """
    if len(data) > MAX_PAYLOAD_BYTES:
        return None
    value = dcbor.decode_unproven(data, max_depth=MAX_PAYLOAD_DEPTH, decoders=_NO_TAGS)
    if type(value) is not dict or len(value) >= 24:
        return None
    size = 1 + len(value)  # the map's head, and one byte per key (each below 24)
    previous = -1
    for key, item in value.items():
        if type(key) is not int or not previous < key < 24:
            return None
        previous = key
        kind = type(item)
        if kind is int:
            size += _int_size(item)
        elif kind is bytes or (kind is str and item.isascii()):
            size += _string_size(len(item))
        elif kind is list and len(item) < 24:
            size += 1
            for entry in item:
                if type(entry) is not dict or len(entry) >= 24:
                    return None
                size += 1 + len(entry)
                inner = -1
                for field, member in entry.items():
                    if type(field) is not int or not inner < field < 24:
                        return None
                    inner = field
                    kind = type(member)
                    if kind is bytes or (kind is str and member.isascii()):
                        size += _string_size(len(member))
                    elif kind is int:
                        size += _int_size(member)
                    else:
                        return None
        else:
            return None
    return value if size == len(data) else None


_FIELDS_OF_EPOCH_1: Final = (_VERSION, _FLEET, _EPOCH, _ISSUED, _NOT_BEFORE, _NOT_AFTER, _KEYS)
_FIELDS_OF_LATER_EPOCHS: Final = (
    _VERSION, _FLEET, _EPOCH, _PREVIOUS, _ISSUED, _NOT_BEFORE, _NOT_AFTER, _KEYS,
)  # fmt: skip
_KEY_ENTRY_FIELDS: Final = (_KEY_ID, _KEY_ALG, _KEY_PUBLIC, _KEY_USAGE)


def _parse_valid_payload(data: bytes) -> BundlePayload | None:
    """The hot path of :func:`parse_payload`: the payload when ``data`` is a valid one, in one
    walk over cbor2's value; None for anything else, which the full checks then judge.

    Every check of SPEC §3.1-3.3 that :func:`parse_payload` makes is made here on the same
    value, but none is reported: the first one that fails, or any shape this walk does not
    know, returns None and the full path finds the reason (and its message). The fields and
    the key entries must be exactly the maps of SPEC §3.2 in key order, every text of the
    profile ASCII (the fleet id and key id patterns admit nothing else; algorithm and usage
    equal known names), so the size of the deterministic encoding is summed as the walk
    goes and must equal ``len(data)``, which proves every head shortest and nothing
    trailing (as ``dcbor._measure`` does). tests/keybundle/test_payload.py compares both
    paths on generated and mutated payloads.
    """
    if len(data) > MAX_PAYLOAD_BYTES:
        return None
    value = dcbor.decode_unproven(data, max_depth=MAX_PAYLOAD_DEPTH, decoders=_NO_TAGS)
    if type(value) is not dict:
        return None
    fields = tuple(value)
    if fields == _FIELDS_OF_LATER_EPOCHS:
        version, fleet_id, epoch, previous, issued, start, end, raw_keys = value.values()
        if type(previous) is not bytes or len(previous) != DIGEST_SIZE or type(epoch) is not int:
            return None
        if epoch < 2:
            return None
        size = 1 + 8 + 2 + DIGEST_SIZE  # the map's head, its keys, the digest's item
    elif fields == _FIELDS_OF_EPOCH_1:
        version, fleet_id, epoch, issued, start, end, raw_keys = value.values()
        previous = None
        if type(epoch) is not int or epoch != 1:
            return None
        size = 1 + 7
    else:
        return None
    if (
        type(version) is not int
        or version != PAYLOAD_VERSION
        or type(fleet_id) is not str
        or not 1 <= len(fleet_id) <= MAX_FLEET_ID_BYTES
        or _FLEET_ID_RE.fullmatch(fleet_id) is None
        or epoch > MAX_EPOCH
        or type(issued) is not int
        or type(start) is not int
        or type(end) is not int
        or not 0 <= start <= end <= MAX_TIME
        or not 0 <= issued <= end
        or type(raw_keys) is not list
        or not 1 <= len(raw_keys) <= MAX_KEYS
    ):
        return None
    size += (
        _int_size(version)
        + _string_size(len(fleet_id))
        + _int_size(epoch)
        + _int_size(issued)
        + _int_size(start)
        + _int_size(end)
        + _int_size(len(raw_keys))
    )
    keys = []
    new_key = object.__new__
    previous_id = ""
    seen_public: set[bytes] = set()
    for entry in raw_keys:
        if type(entry) is not dict or tuple(entry) != _KEY_ENTRY_FIELDS:
            return None
        key_id, algorithm, public_key, usage = entry.values()
        if (
            type(key_id) is not str
            or not 1 <= len(key_id) <= MAX_KEY_ID_BYTES
            or _KEY_ID_RE.fullmatch(key_id) is None
            or key_id <= previous_id
            or type(algorithm) is not str
            or type(usage) is not str
            or _USAGE_OF.get(algorithm) != usage
            or type(public_key) is not bytes
            or public_key in seen_public
        ):
            return None
        try:
            validate_fleet_key(algorithm, public_key)
        except VerificationError:
            return None
        previous_id = key_id
        seen_public.add(public_key)
        size += (
            5  # the entry's head and its four keys
            + _string_size(len(key_id))
            + _string_size(len(algorithm))
            + _string_size(len(public_key))
            + _string_size(len(usage))
        )
        key = new_key(FleetKey)  # checked: build without FleetKey's checks (_unchecked)
        key.__dict__.update(key_id=key_id, algorithm=algorithm, public_key=public_key, usage=usage)
        keys.append(key)
    if size != len(data):
        return None
    return _unchecked(
        BundlePayload,
        version=version,
        fleet_id=fleet_id,
        epoch=epoch,
        previous_digest=previous,
        issued_at=issued,
        not_before=start,
        not_after=end,
        keys=tuple(keys),
    )


def parse_payload(data: bytes) -> BundlePayload:
    """Parse and check a payload (SPEC §3.2) from untrusted bytes.

    Raises ``VerificationError`` with ``MALFORMED_CBOR`` when the bytes are not
    deterministic CBOR within the payload's limits, ``MALFORMED_BUNDLE`` when the map is not
    the one of SPEC §3.2, and ``INVALID_FLEET_KEY`` when a public key is not a valid key of
    its algorithm (SPEC §3.3). Parsing checks shape, not signatures: the caller verifies the
    COSE signatures over ``data`` (SPEC §4) before trusting what this returns.
    """
    if type(data) is bytes:
        valid = _parse_valid_payload(data)
        if valid is not None:
            return valid
    value: dcbor.CborValue | None = _decode_small_payload(data) if type(data) is bytes else None
    if value is None:
        value = dcbor.decode(data, max_size=MAX_PAYLOAD_BYTES, max_depth=MAX_PAYLOAD_DEPTH)
    if type(value) is not dict:
        _bad(f"the payload must be a map, found {_kind(value)}")
    _check_fields("payload", value, _REQUIRED, _ALLOWED, _FIELD_NAMES)
    if _PREVIOUS in value and type(value[_PREVIOUS]) is not bytes:
        # Checked here: an explicit null would read as "absent" and not re-encode.
        _bad(f"previous-bundle digest must be a byte string, found {_kind(value[_PREVIOUS])}")
    raw_keys = value[_KEYS]
    if type(raw_keys) is not list:
        _bad(f"keys must be an array, found {_kind(raw_keys)}")
    if not 1 <= len(raw_keys) <= MAX_KEYS:
        _bad(f"a bundle carries 1..{MAX_KEYS} keys, found {len(raw_keys)}")
    keys = []
    new_key = object.__new__
    for index, entry in enumerate(raw_keys):
        if type(entry) is not dict:
            _bad(f"keys[{index}] must be a map, found {_kind(entry)}")
        if entry.keys() != _KEY_FIELDS:  # the common case without building the name
            _check_fields(f"keys[{index}]", entry, _KEY_FIELDS, _KEY_FIELDS, _KEY_FIELD_NAMES)
        key_id, algorithm, public_key, usage = (
            entry[_KEY_ID],
            entry[_KEY_ALG],
            entry[_KEY_PUBLIC],
            entry[_KEY_USAGE],
        )
        _check_key(key_id, algorithm, public_key, usage)
        key = new_key(FleetKey)  # checked: build without FleetKey's checks (_unchecked)
        key.__dict__.update(key_id=key_id, algorithm=algorithm, public_key=public_key, usage=usage)
        keys.append(key)
    payload_fields: dict[str, Any] = {
        "version": value[_VERSION],
        "fleet_id": value[_FLEET],
        "epoch": value[_EPOCH],
        "previous_digest": value.get(_PREVIOUS),
        "issued_at": value[_ISSUED],
        "not_before": value[_NOT_BEFORE],
        "not_after": value[_NOT_AFTER],
        "keys": tuple(keys),
    }
    _check_payload(**payload_fields)
    return _unchecked(BundlePayload, **payload_fields)


def _check_fields(
    where: str,
    mapping: dict[int | str, dcbor.CborValue],
    required: frozenset[int],
    allowed: frozenset[int],
    names: Mapping[int, str],
) -> None:
    if mapping.keys() <= allowed and mapping.keys() >= required:
        return
    for field in mapping:
        if field not in allowed:
            _bad(f"{where} has unknown field {field!r}; SPEC §3.2 defines {sorted(allowed)}")
    for field in sorted(required):
        if field not in mapping:
            _bad(f"{where} lacks required field {field} ({names[field]})")
    raise AssertionError("bad math in _check_fields")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if type(value) is bytes:
        return f"a {len(value)}-byte string"
    return {
        int: "an integer",
        str: "a text string",
        list: "an array",
        dict: "a map",
        dcbor.Tag: "a tag",
    }.get(type(value), f"a {type(value).__name__}")


# --- FLEET.json: the operator's input to `keybundle bundle build` ----------------------------

_JSON_FIELDS: Final = frozenset(
    {"fleet", "epoch", "previous_digest", "issued_at", "not_before", "not_after", "keys"}
)
_JSON_KEY_FIELDS: Final = frozenset(
    {"id", "algorithm", "usage", "public_key_hex", "public_key_base64"}
)
# Patterns of the FLEET.json reader only, compiled on first use (through re's cache) rather
# than when a client imports this module to verify.
_HEX_PATTERN: Final = r"(?:[0-9a-fA-F]{2})*"
_RFC3339_UTC_PATTERN: Final = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"


def payload_from_json(document: Mapping[str, Any]) -> BundlePayload:
    """Build a payload from a FLEET.json document (schema in SPEC §3.2).

    ``document`` is the parsed JSON object::

        {"fleet": "prod-eu.vault", "epoch": 2,
         "previous_digest": "<64 hex digits: SHA-256 of the epoch-1 signed bundle>",
         "issued_at": "2025-06-01T00:00:00Z", "not_before": 1748736000,
         "not_after": "2026-06-01T00:00:00Z",
         "keys": [{"id": "hsm-01.x25519", "algorithm": "x25519",
                   "public_key_base64": "...", "usage": "key-agreement"}]}

    Times are Unix seconds or RFC 3339 UTC strings ``YYYY-MM-DDTHH:MM:SSZ``; each key has
    exactly one of ``public_key_hex``/``public_key_base64`` (canonical RFC 4648 base64 with
    padding); ``usage`` may be omitted (each algorithm has one); ``previous_digest`` is
    omitted or null at epoch 1. Keys may come in any order (the payload sorts them by id).
    Raises ``ValueError`` naming the offending field for any mistake, including unknown
    fields (a typo must not silently drop a value).
    """
    if not isinstance(document, Mapping):
        raise ValueError(f"FLEET.json must hold a JSON object, found {type(document).__name__}")
    _json_unknown("FLEET.json", document, _JSON_FIELDS)
    for name in ("fleet", "epoch", "issued_at", "not_before", "not_after", "keys"):
        if name not in document:
            raise ValueError(f"FLEET.json lacks the required field {name!r}")
    epoch = document["epoch"]
    if type(epoch) is not int:
        raise ValueError(f"epoch must be an integer, found {epoch!r}")
    digest_hex = document.get("previous_digest")
    previous = None
    if digest_hex is not None:
        previous = _json_hex("previous_digest", digest_hex)
        if len(previous) != DIGEST_SIZE:
            raise ValueError(
                f"previous_digest must be {2 * DIGEST_SIZE} hex digits (SHA-256), "
                f"found {2 * len(previous)}"
            )
    raw_keys = document["keys"]
    if not isinstance(raw_keys, list):
        raise ValueError(f"keys must be a JSON array, found {type(raw_keys).__name__}")
    keys = sorted(
        (_json_key(f"keys[{index}]", entry) for index, entry in enumerate(raw_keys)),
        key=lambda key: key.key_id,
    )
    return BundlePayload(
        version=PAYLOAD_VERSION,
        fleet_id=document["fleet"],
        epoch=epoch,
        previous_digest=previous,
        issued_at=_json_time("issued_at", document["issued_at"]),
        not_before=_json_time("not_before", document["not_before"]),
        not_after=_json_time("not_after", document["not_after"]),
        keys=tuple(keys),
    )


def payload_to_json(payload: BundlePayload) -> dict[str, Any]:
    """The FLEET.json document of ``payload`` (public keys in hex, times in Unix seconds).

    ``payload_from_json(payload_to_json(p)) == p``; ``bundle inspect`` prints it, and an
    operator can edit it into the next epoch's input.
    """
    document: dict[str, Any] = {
        "fleet": payload.fleet_id,
        "epoch": payload.epoch,
        "issued_at": payload.issued_at,
        "not_before": payload.not_before,
        "not_after": payload.not_after,
        "keys": [
            {
                "id": key.key_id,
                "algorithm": key.algorithm,
                "usage": key.usage,
                "public_key_hex": key.public_key.hex(),
            }
            for key in payload.keys
        ],
    }
    if payload.previous_digest is not None:
        document["previous_digest"] = payload.previous_digest.hex()
    return document


def _json_unknown(where: str, mapping: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(str(name) for name in mapping if name not in allowed)
    if unknown:
        raise ValueError(
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _json_key(where: str, entry: object) -> FleetKey:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a JSON object, found {type(entry).__name__}")
    _json_unknown(where, entry, _JSON_KEY_FIELDS)
    for name in ("id", "algorithm"):
        if name not in entry:
            raise ValueError(f"{where} lacks the required field {name!r}")
    encodings = [name for name in ("public_key_hex", "public_key_base64") if name in entry]
    if len(encodings) != 1:
        raise ValueError(f"{where} needs exactly one of public_key_hex and public_key_base64")
    if encodings[0] == "public_key_hex":
        public_key = _json_hex(f"{where}.public_key_hex", entry["public_key_hex"])
    else:
        public_key = _json_base64(f"{where}.public_key_base64", entry["public_key_base64"])
    algorithm = entry["algorithm"]
    usage = entry.get("usage", _USAGE_OF.get(algorithm) if isinstance(algorithm, str) else None)
    try:
        return FleetKey(entry["id"], algorithm, public_key, usage)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _json_hex(where: str, text: object) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(_HEX_PATTERN, text, re.ASCII):
        raise ValueError(f"{where} must be a string of hex digit pairs, found {text!r}")
    return bytes.fromhex(text)


def _json_base64(where: str, text: object) -> bytes:
    if not isinstance(text, str) or not text.isascii():
        raise ValueError(f"{where} must be a base64 string, found {text!r}")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{where} is not valid base64 ({exc})") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError(f"{where} is not canonical base64 (RFC 4648 §4, padded, no spare bits)")
    return raw


def _json_time(where: str, value: object) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and re.fullmatch(_RFC3339_UTC_PATTERN, value, re.ASCII):
        import calendar  # the FLEET.json reader's only; it imports datetime
        import time

        try:
            parsed = time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
        else:
            if parsed.tm_sec <= 59:
                return calendar.timegm(parsed)
    raise ValueError(
        f"{where} must be Unix seconds or an RFC 3339 UTC time like 2025-06-01T00:00:00Z, "
        f"found {value!r}"
    )
