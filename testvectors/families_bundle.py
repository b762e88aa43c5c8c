"""Vectors of the bundle formats: deterministic CBOR (SPEC §3.1), the bundle payload and fleet
keys (SPEC §3.2, §3.3), and the COSE signatures and countersignatures under the role
thresholds (SPEC §4, §5.4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from nacl.bindings import crypto_scalarmult_base
from nacl.signing import SigningKey

from keybundle import cose, dcbor
from keybundle.countersignature import countersign_structure, create_countersignature
from keybundle.signers import P256_ORDER, Ed25519Signer, PublicKey, Signer

from .vectorset import (
    ACCEPT,
    VectorMismatchError,
    VectorSet,
    Want,
    b64,
    cbor_decode,
    cbor_encode,
    cbor_tagged,
    reject,
)
from .world import (
    DEFAULT_FLEET,
    ED25519_ORDER_8_POINT,
    INDEPENDENT_ORG,
    OPERATOR_ORG,
    DeterministicP256Signer,
    World,
    crafted_ed25519_signature,
    ed_add,
    role_signer,
    seed,
)

__all__ = ["add_bundle_families"]

_L = 2**252 + 27742317777372353535851937790883648493


def _flip(data: bytes, position: int = -1, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[position] ^= mask
    return bytes(out)


# --- deterministic CBOR (SPEC §3.1) ----------------------------------------------------------


def _cbor(vs: VectorSet) -> None:
    fam, spec = "cbor", ["§3.1"]

    def add(  # noqa: PLR0917 (a case's parts, in the order it states them)
        name: str,
        description: str,
        data: bytes | str,
        want: Want,
        tags: Sequence[int] = (),
        repaired: str | None = None,
        repaired_tags: Sequence[int] | None = None,
        no_twin: str | None = None,
    ) -> None:
        def inp(data: bytes | str, tags: Sequence[int]) -> dict[str, Any]:
            raw = bytes.fromhex(data) if isinstance(data, str) else data
            return {"data_hex": raw.hex(), "tags": list(tags)}

        twin = (
            None
            if repaired is None and repaired_tags is None
            else inp(
                data if repaired is None else repaired,
                tags if repaired_tags is None else repaired_tags,
            )
        )
        vs.add(fam, name, description, spec, inp(data, tags), want, repaired=twin, no_twin=no_twin)

    accepted = [
        ("cbor-uint-23-one-byte", "23 in its one-byte head.", "17"),
        ("cbor-uint-24-two-bytes", "24 needs a one-byte argument.", "1818"),
        ("cbor-uint-max", "2^64 - 1, the largest integer.", "1bffffffffffffffff"),
        ("cbor-nint-min", "-2^64, the smallest integer.", "3bffffffffffffffff"),
        ("cbor-byte-string", "The byte string h'00'.", "4100"),
        ("cbor-text-string-utf8", "The text string 'é' in UTF-8.", "62c3a9"),
        ("cbor-empty-array-and-map", "[{}].", "81a0"),
        ("cbor-simple-values", "[false, true, null].", "83f4f5f6"),
        (
            "cbor-map-keys-bytewise-order",
            "{24: 0, -1: 0}: 18 18 sorts before 20 bytewise.",
            "a218180020 00".replace(" ", ""),
        ),
        (
            "cbor-map-int-and-text-keys",
            "{10: 0, 100: 0, -1: 0, 'z': 0, 'aa': 0} in bytewise order.",
            "a50a0018640020 00617a0062616100".replace(" ", ""),
        ),
        (
            "cbor-map-keys-uint-max-and-minus-1",
            "{2^64 - 1: 0, -1: 0}: the largest key, 1b ff ... ff, sorts before 20 bytewise.",
            "a21bffffffffffffffff002000",
        ),
        (
            "cbor-map-key-nint-min",
            "{-2^64: 0}: the smallest integer as a map key.",
            "a13bffffffffffffffff00",
        ),
        (
            "cbor-depth-16",
            "Sixteen nested arrays around 0: depth 16, the default cap.",
            "81" * 16 + "00",
        ),
        (
            "cbor-4096-items",
            "An array of 4095 zeros: 4096 data items, the default cap.",
            "990fff" + "00" * 4095,
        ),
    ]
    for name, description, data in accepted:
        add(name, description, data, ACCEPT)
    add(
        "cbor-tag-allowed",
        "Tag 18 around an array where tag 18 is allowed.",
        "d280",
        ACCEPT,
        tags=[18],
    )
    add(
        "cbor-tag-0-around-an-integer-allowed",
        "Tag 0 (a date-time string in RFC 8949) around the integer 0, where tag 0 is allowed: "
        "the profile gives an allowed tag no meaning, so its content is not checked.",
        "c000",
        ACCEPT,
        tags=[0],
    )
    rejected = [
        ("cbor-half-float", "A half-precision float 1.0.", "f93c00", "01"),
        ("cbor-single-float", "A single-precision float 1.0.", "fa3f800000", "01"),
        ("cbor-double-float", "A double-precision float 1.0.", "fb3ff0000000000000", "01"),
        ("cbor-undefined", "The simple value undefined.", "f7", "f6"),
        ("cbor-simple-value-0", "The simple value 0.", "e0", "f4"),
        ("cbor-simple-value-32", "The simple value 32 in a two-byte head.", "f820", "f4"),
        ("cbor-uint-23-in-two-bytes", "23 with a one-byte argument.", "1817", "17"),
        ("cbor-uint-23-in-three-bytes", "23 with a two-byte argument.", "190017", "17"),
        ("cbor-uint-23-in-five-bytes", "23 with a four-byte argument.", "1a00000017", "17"),
        (
            "cbor-uint-23-in-nine-bytes",
            "23 with an eight-byte argument.",
            "1b0000000000000017",
            "17",
        ),
        (
            "cbor-byte-string-long-length",
            "A one-byte string with a one-byte length argument.",
            "580100",
            "4100",
        ),
        ("cbor-indefinite-byte-string", "An empty indefinite-length byte string.", "5fff", "40"),
        ("cbor-indefinite-array", "An empty indefinite-length array.", "9fff", "80"),
        ("cbor-indefinite-map", "An empty indefinite-length map.", "bfff", "a0"),
        ("cbor-reserved-additional-info", "Additional information 28 (reserved).", "1c", "17"),
        (
            "cbor-reserved-additional-info-and-16-bytes",
            "Additional information 28 followed by 16 bytes ff: 28 is reserved, not a 16-byte "
            "argument.",
            "1c" + "ff" * 16,
            "1bffffffffffffffff",
        ),
        (
            "cbor-map-length-first-order",
            "{24: 0, -1: 0} in the length-first order of RFC 7049.",
            "a2200018 1800".replace(" ", ""),
            "a2181800 2000".replace(" ", ""),
        ),
        (
            "cbor-map-unsorted-text-keys",
            "{'b': 0, 'a': 0}: keys out of order.",
            "a2616200616100",
            "a2616100616200",
        ),
        ("cbor-map-duplicate-keys", "{1: 0, 1: 0}.", "a201000100", "a201000200"),
        ("cbor-map-byte-string-key", "A byte-string map key.", "a1410000", "a10000"),
        ("cbor-map-boolean-key", "A boolean map key.", "a1f500", "a10000"),
        ("cbor-trailing-byte", "0 followed by another 0.", "0000", "00"),
        ("cbor-empty-input", "No data item at all.", "", None),
        ("cbor-truncated-text", "A text string of one byte with no byte.", "61", "6161"),
        (
            "cbor-truncated-array",
            "An array of two items whose input ends after the first, h'00'.",
            "824100",
            "82410000",
        ),
        (
            "cbor-huge-byte-string-length",
            "A declared 2^63 - 1 byte string in a short input.",
            "5b7fffffffffffffff00",
            "4100",
        ),
        (
            "cbor-huge-array-count",
            "A declared 2^64 - 1 element array in a short input.",
            "9bffffffffffffffff00",
            "8100",
        ),
        ("cbor-invalid-utf8", "A text string holding c3 28.", "62c328", "62c3a9"),
        (
            "cbor-utf8-surrogate",
            "A text string holding an encoded surrogate (ed a0 80).",
            "63eda080",
            "63ee8080",
        ),
        (
            "cbor-utf8-overlong",
            "A text string holding an overlong NUL (c0 80).",
            "62c080",
            "62c280",
        ),
        (
            "cbor-depth-17",
            "Seventeen nested arrays: over the default depth cap of 16.",
            "81" * 17 + "00",
            "81" * 16 + "00",
        ),
        (
            "cbor-4097-items",
            "An array of 4096 zeros: 4097 data items, over the default cap.",
            "991000" + "00" * 4096,
            "990fff" + "00" * 4095,
        ),
    ]
    for name, description, data, fixed in rejected:
        add(
            name,
            description,
            data,
            reject("MALFORMED_CBOR"),
            repaired=fixed,
            no_twin="no-neighbour: the input is empty" if fixed is None else None,
        )
    add(
        "cbor-break-alone",
        "A break code with nothing to end.",
        "ff",
        reject("MALFORMED_CBOR"),
        no_twin="no-neighbour: the stray break code is the whole input",
    )
    add(
        "cbor-tag-not-allowed",
        "Tag 18 where no tag is allowed.",
        "d280",
        reject("MALFORMED_CBOR"),
        repaired_tags=[18],
    )
    add(
        "cbor-tag-non-minimal-head",
        "Tag 18 with a one-byte argument, where tag 18 is allowed.",
        "d81280",
        reject("MALFORMED_CBOR"),
        tags=[18],
        repaired="d280",
    )
    # Depth counts through a tag's content and a map's keys too (SPEC §3.1).
    add(
        "cbor-depth-16-of-tags",
        "Tag 18 nested sixteen times around 0, where tag 18 is allowed: depth 16, the default cap.",
        "d2" * 16 + "00",
        ACCEPT,
        tags=[18],
    )
    add(
        "cbor-depth-17-of-tags",
        "Tag 18 nested seventeen times around 0, where tag 18 is allowed: a tag's content is "
        "one level deeper than the tag, so 0 is at depth 17.",
        "d2" * 17 + "00",
        reject("MALFORMED_CBOR"),
        tags=[18],
        repaired="d2" * 16 + "00",
    )
    add(
        "cbor-map-key-nested-2000-deep",
        "A map whose key is a map whose key is a map, 2000 levels, innermost {0: 0}: hostile "
        "nesting in map keys, rejected by the depth cap, never by exhausting a stack.",
        "a1" * 2000 + "00" + "00" * 2000,
        reject("MALFORMED_CBOR"),
        no_twin="no-neighbour: a map key that is a map is never valid, at any depth; the "
        "vector pins that the depth cap bounds the nesting of keys too",
    )

    # One non-minimal head beside an item at a head-size boundary (SPEC §3.1): the input is
    # as long as a decoder that over-counts that item's shortest head by the same bytes would
    # expect, so a length-only proof of the form must count every head exactly.
    def non_minimal(name: str, description: str, bad: str, good: str) -> None:
        vs.add(
            fam,
            name,
            description,
            spec,
            {"data_hex": bad, "tags": []},
            reject("MALFORMED_CBOR"),
            repaired={"data_hex": good, "tags": []},
        )

    for name, description, bad, good in (
        ("cbor-255-and-23-in-two-bytes", "[255, 23] with 23 in a two-byte head.",
         "8218ff1817", "8218ff17"),
        ("cbor-65535-and-23-in-two-bytes", "[65535, 23] with 23 in a two-byte head.",
         "8219ffff1817", "8219ffff17"),
        ("cbor-65535-and-23-in-three-bytes", "[65535, 23] with 23 in a three-byte head.",
         "8219ffff190017", "8219ffff17"),
        ("cbor-2-32-minus-1-and-23-in-two-bytes", "[2^32 - 1, 23] with 23 in a two-byte head.",
         "821affffffff1817", "821affffffff17"),
        ("cbor-2-32-minus-1-and-23-in-five-bytes",
         "[2^32 - 1, 23] with 23 in a five-byte head.",
         "821affffffff1a00000017", "821affffffff17"),
        ("cbor-2-32-and-23-in-two-bytes", "[2^32, 23] with 23 in a two-byte head.",
         "821b00000001000000001817", "821b000000010000000017"),
        ("cbor-map-value-23-in-two-bytes", "{0: 23} with 23 in a two-byte head.",
         "a1001817", "a10017"),
    ):  # fmt: skip
        non_minimal(name, description, bad, good)
    non_minimal(
        "cbor-map-text-key-and-23-in-two-bytes",
        "{'a': 23} with 23 in a two-byte head.",
        "a161611817",
        "a1616117",
    )
    non_minimal(
        "cbor-array-of-true-and-23-in-two-bytes",
        "[true, 23] with 23 in a two-byte head.",
        "82f51817",
        "82f517",
    )
    # DEFAULT_MAX_ITEMS counts nested items and simple values too (SPEC §3.1).
    for name, description, bad, good in (
        (
            "cbor-4097-items-nested",
            "[[4095 zeros]]: two arrays and their elements are 4097 items.",
            "81990fff" + "00" * 4095,
            "81990ffe" + "00" * 4094,
        ),
        (
            "cbor-4097-items-in-a-tag",
            "Tag 18 around an array of 4095 zeros: the tag, the array and its elements are "
            "4097 items.",
            "d2990fff" + "00" * 4095,
            "d2990ffe" + "00" * 4094,
        ),
        (
            "cbor-4097-items-of-true",
            "An array of 4096 trues: 4097 items.",
            "991000" + "f5" * 4096,
            "990fff" + "f5" * 4095,
        ),
    ):
        tags = [18] if name.endswith("-in-a-tag") else []
        vs.add(
            fam,
            name,
            description,
            spec,
            {"data_hex": bad, "tags": tags},
            reject("MALFORMED_CBOR"),
            repaired={"data_hex": good, "tags": tags},
        )
    add("cbor-byte-string-ff", "The byte string h'ff': bytes are not text.", "41ff", ACCEPT)
    add("cbor-array-of-byte-string-ff", "[h'ff'].", "8141ff", ACCEPT)
    add("cbor-map-of-byte-string-ff", "{0: h'ff'}.", "a10041ff", ACCEPT)
    # -24 takes a one-byte head (argument 23); in two bytes (argument 23 again, 38 17) it is as
    # long as a count of -24 by its magnitude 24 would expect.
    for name, where, bad, good in (
        ("cbor-minus-24-in-two-bytes", "alone", "3817", "37"),
        ("cbor-array-of-minus-24-in-two-bytes", "in an array", "813817", "8137"),
        ("cbor-map-value-minus-24-in-two-bytes", "as a map value", "a1003817", "a10037"),
    ):
        non_minimal(name, f"-24 {where}, with a two-byte head.", bad, good)
    # Byte strings at the lengths where their head grows, beside 23 in a two-byte head, in an
    # array and as a map value.
    for length in (0, 23, 24, 255, 256):
        item = cbor_encode(bytes(length)).hex()
        non_minimal(
            f"cbor-array-of-{length}-byte-string-and-23-in-two-bytes",
            f"[h'00' * {length}, 23] with 23 in a two-byte head.",
            "82" + item + "1817",
            "82" + item + "17",
        )
        non_minimal(
            f"cbor-map-of-{length}-byte-string-and-23-in-two-bytes",
            f"{{0: h'00' * {length}, 1: 23}} with 23 in a two-byte head.",
            "a200" + item + "011817",
            "a200" + item + "0117",
        )
    # DEFAULT_MAX_ITEMS counts a map's keys and values too (SPEC §3.1).
    vs.add(
        fam,
        "cbor-4097-items-in-a-map",
        "{0: [4094 zeros]}: the map, its key, the array and its elements are 4097 items.",
        spec,
        {"data_hex": "a100" + "990ffe" + "00" * 4094, "tags": []},
        reject("MALFORMED_CBOR"),
        repaired={"data_hex": "a100" + "990ffd" + "00" * 4093, "tags": []},
    )
    # DEFAULT_MAX_SIZE (65536 bytes, SPEC §11): one byte string filling it, and one byte more.
    at_limit = b"\x59\xff\xfd" + b"\x00" * 0xFFFD
    over = b"\x59\xff\xfe" + b"\x00" * 0xFFFE
    add(
        "cbor-65536-bytes",
        "A byte string of 65533 bytes: an input of exactly DEFAULT_MAX_SIZE (65536) bytes.",
        at_limit,
        ACCEPT,
    )
    vs.add(
        fam,
        "cbor-65537-bytes",
        "A byte string of 65534 bytes: an input of DEFAULT_MAX_SIZE + 1 bytes, otherwise like "
        "the one at the limit.",
        spec,
        {"data_hex": over.hex(), "tags": []},
        reject("MALFORMED_CBOR"),
        repaired={"data_hex": at_limit.hex(), "tags": []},
    )
    add(
        "cbor-bignum",
        "Tag 2 (bignum) around h'01': never accepted (no section allows tags 2 and 3).",
        "c24101",
        reject("MALFORMED_CBOR"),
        repaired="01",
    )
    # A bignum whose content is three bytes is exactly as long as its value's own shortest
    # encoding (five bytes): a decoder that reads it as an integer and proves the form by
    # length alone would accept it.
    add(
        "cbor-bignum-65536",
        "Tag 2 around h'010000' (65536): five bytes, as long as 65536 as an integer, "
        "never accepted.",
        "c243010000",
        reject("MALFORMED_CBOR"),
        repaired="1a00010000",
    )
    add(
        "cbor-negative-bignum-minus-65537",
        "Tag 3 around h'010000' (-65537): five bytes, as long as -65537 as an integer, "
        "never accepted.",
        "c343010000",
        reject("MALFORMED_CBOR"),
        repaired="3a00010000",
    )
    add(
        "cbor-bignum-65536-where-tag-18-is-allowed",
        "Tag 2 around h'010000' where tag 18 is allowed: allowing a tag never admits a bignum.",
        "c243010000",
        reject("MALFORMED_CBOR"),
        tags=[18],
        repaired="1a00010000",
    )


# --- bundle payload and fleet keys (SPEC §3.2, §3.3) -----------------------------------------


def _payload(vs: VectorSet) -> None:
    fam = "payload"
    w = World()

    def add(
        name: str,
        description: str,
        data: bytes,
        want: Want,
        spec: Sequence[str] = ("§3.2",),
        *,
        repaired: bytes | None = None,
        no_twin: str | None = None,
    ) -> None:
        twin = None if repaired is None else {"payload_b64": b64(repaired)}
        vs.add(
            fam,
            name,
            description,
            list(spec),
            {"payload_b64": b64(data)},
            want,
            repaired=twin,
            no_twin=no_twin,
        )

    # SPEC §3.2's example, byte for byte.
    ed = bytes(SigningKey(bytes(range(32, 64))).verify_key)
    x = crypto_scalarmult_base(bytes(range(32)))
    example = cbor_encode(
        {
            1: 1,
            2: "prod-eu.vault",
            3: 2,
            4: bytes(range(32)),
            5: 1750000000,
            6: 1750000000,
            7: 1781536000,
            8: [
                {1: "hsm-01.ed25519", 2: "ed25519", 3: ed, 4: "signing"},
                {1: "hsm-01.x25519", 2: "x25519", 3: x, 4: "key-agreement"},
            ],
        }
    )
    if len(example) != 219 or ed.hex() != (
        "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7"
    ):
        raise VectorMismatchError("SPEC §3.2's example payload is not 219 bytes")
    add(
        "spec-example-payload",
        "The 219-byte example of SPEC §3.2: epoch 2 with an Ed25519 and an X25519 key.",
        example,
        ACCEPT,
    )
    add("payload-epoch-1", "A first bundle: epoch 1, no previous digest.", w.bundle(), ACCEPT)
    ecdh = DeterministicP256Signer("payload p256-ecdh").public_key().raw
    ecdsa = DeterministicP256Signer("payload p256-ecdsa").public_key().raw

    def base(**changes: Any) -> dict[int, Any]:
        value = cbor_decode(w.bundle())
        if not isinstance(value, dict):
            raise VectorMismatchError("the world's payload is not a map")
        out: dict[int, Any] = {int(k): v for k, v in value.items()}
        for key, v in changes.items():
            number = {
                "version": 1,
                "fleet": 2,
                "epoch": 3,
                "previous": 4,
                "issued": 5,
                "nb": 6,
                "na": 7,
                "keys": 8,
            }[key]
            if v is _DELETE:
                del out[number]
            else:
                out[number] = v
        return out

    def enc(value: dict[int, Any]) -> bytes:
        return cbor_encode(value)

    keys = base()[8]

    def key(i: int, **changes: Any) -> dict[int, Any]:
        entry = dict(keys[i])
        for name, v in changes.items():
            entry[{"id": 1, "alg": 2, "pub": 3, "usage": 4}[name]] = v
        return entry

    p256_keys = [
        {1: "hsm-01.p256-ecdh", 2: "p256-ecdh", 3: ecdh, 4: "key-agreement"},
        {1: "hsm-01.p256-ecdsa", 2: "p256-ecdsa", 3: ecdsa, 4: "signing"},
    ]
    add(
        "payload-p256-keys",
        "P-256 ECDH and ECDSA keys in uncompressed SEC 1 form.",
        enc(base(keys=p256_keys)),
        ACCEPT,
        ("§3.2", "§3.3"),
    )
    digest = bytes(range(32))
    not_after = base()[7]
    add(
        "payload-epoch-max",
        "Epoch 2^53 - 1 (MAX_EPOCH, with its previous digest): the largest epoch.",
        enc(base(epoch=2**53 - 1, previous=digest)),
        ACCEPT,
    )
    add(
        "payload-time-max",
        "not_after 253402300799 (MAX_TIME, 9999-12-31T23:59:59Z): the latest time.",
        enc(base(na=253402300799)),
        ACCEPT,
    )
    # The length limits of SPEC §3.2 and §11 at both ends, accepted (issue 17: a limit moved
    # by one must fail a vector).
    add("payload-fleet-1-character", "A fleet id of one character.", enc(base(fleet="f")), ACCEPT)
    add(
        "payload-fleet-64-characters",
        "A fleet id of MAX_FLEET_ID_BYTES (64) characters.",
        enc(base(fleet="f" * 64)),
        ACCEPT,
    )
    add(
        "payload-key-id-1-character",
        "A key id of one character (it sorts before the other key ids).",
        enc(base(keys=[key(0, id="a"), *keys[1:]])),
        ACCEPT,
    )
    long_id = "hsm-01." + "e" * 57
    add(
        "payload-key-id-64-characters",
        "A key id of MAX_KEY_ID_BYTES (64) characters.",
        enc(base(keys=[key(0, id=long_id), *keys[1:]])),
        ACCEPT,
    )
    add(
        "payload-key-id-65-characters",
        "A key id of 65 characters, over MAX_KEY_ID_BYTES.",
        enc(base(keys=[key(0, id=long_id + "e"), *keys[1:]])),
        reject("MALFORMED_BUNDLE"),
        repaired=enc(base(keys=[key(0, id=long_id), *keys[1:]])),
    )
    add(
        "payload-times-all-0",
        "issued_at, not_before and not_after all 0: the earliest time, and a bundle valid for "
        "one second that was issued at its end.",
        enc(base(issued=0, nb=0, na=0)),
        ACCEPT,
    )
    add("payload-one-key", "A bundle of a single Ed25519 key.", enc(base(keys=keys[:1])), ACCEPT)
    id23 = "hsm-01.ed25519-abcdefgh"
    canonical23 = enc(base(keys=[key(0, id=id23), *keys[1:]]))
    add(
        "payload-non-minimal-23-byte-key-id",
        "A key id of 23 characters written with a one-byte length argument (0x78 0x17): not "
        "the shortest head, MALFORMED_CBOR.",
        canonical23.replace(b"\x77" + id23.encode(), b"\x78\x17" + id23.encode(), 1),
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2"),
        repaired=canonical23,
    )
    # parse_payload's fast path sums the size of each item's shortest head (SPEC §3.1): an
    # integer at each head-size boundary written one head size longer must stay MALFORMED_CBOR.
    for number, head, wide in (
        (23, 0x18, 1),
        (255, 0x19, 2),
        (65535, 0x1A, 4),
        (2**32 - 1, 0x1B, 8),
    ):
        canonical = enc(base(nb=number, na=max(number, not_after)))
        short = b"\x06" + cbor_encode(number)
        if canonical.count(short) != 1:
            raise VectorMismatchError(f"not_before {number} is not once in the payload")
        add(
            f"payload-non-minimal-not-before-{number}",
            f"not_before {number} written with a {wide}-byte argument, one size longer than "
            "its shortest head: MALFORMED_CBOR.",
            canonical.replace(short, b"\x06" + bytes([head]) + number.to_bytes(wide, "big")),
            reject("MALFORMED_CBOR"),
            ("§3.1", "§3.2"),
            repaired=canonical,
        )
    one_key = enc(base(keys=keys[:1]))
    if one_key.count(b"\x81\xa4") != 1:
        raise VectorMismatchError("the one-key payload's keys array is not found once")
    add(
        "payload-non-minimal-key-entry-head",
        "A one-key payload whose key entry map has its 4 members written with a one-byte "
        "argument (0xb8 0x04): not the shortest head, MALFORMED_CBOR.",
        one_key.replace(b"\x81\xa4", b"\x81\xb8\x04", 1),
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2"),
        repaired=one_key,
    )
    # The fast path's size sum counts each head by the size class of its argument (SPEC §3.1
    # table). A sum that counts one class a byte (or four) too long accepts a payload whose
    # one non-minimal head adds exactly as many bytes as the miscount: so these payloads hold
    # few items of each class (one key: four text strings under 24 bytes, one 32-byte string;
    # one integer of 256..65535 and one of 65536..2^31 - 1, or one of 2^31..2^32 - 1), and one
    # head written longer than its shortest form.
    sparse = enc(base(issued=0, nb=1000, keys=keys[:1]))
    late = enc(base(na=3_000_000_000, keys=keys[:1]))
    for name, description, payload, version in (
        (
            "payload-non-minimal-version-1-byte-argument",
            "A one-key payload (one 32-byte string, not_before 1000, not_after 1798761600) "
            "whose version 1 is written with a one-byte argument (0x18 0x01): one byte over "
            "the shortest encoding, MALFORMED_CBOR.",
            sparse,
            b"\x18\x01",
        ),
        (
            "payload-non-minimal-version-4-byte-argument",
            "A one-key payload (four text strings under 24 bytes, not_after 3000000000) whose "
            "version 1 is written with a four-byte argument (0x1a 0x00000001): four bytes over "
            "the shortest encoding, MALFORMED_CBOR.",
            late,
            b"\x1a\x00\x00\x00\x01",
        ),
    ):
        if payload[:3] != b"\xa7\x01\x01":
            raise VectorMismatchError("the one-key payload does not start with its version")
        add(
            name,
            description,
            payload[:2] + version + payload[3:],
            reject("MALFORMED_CBOR"),
            ("§3.1", "§3.2"),
            repaired=payload,
        )
    add(
        "payload-key-id-integer",
        "A one-key payload whose key id is the integer 1, not a text string.",
        enc(base(keys=[key(0, id=1)])),
        reject("MALFORMED_BUNDLE"),
        repaired=one_key,
    )
    add(
        "payload-key-entry-integer",
        "A keys array whose one entry is the integer 1, not a key entry map.",
        enc(base(keys=[1])),
        reject("MALFORMED_BUNDLE"),
        repaired=one_key,
    )
    add(
        "payload-key-entry-text-keys",
        'A one-key payload whose key entry has text keys "1".."4", not integers.',
        enc(base(keys=[{str(k): v for k, v in keys[0].items()}])),
        reject("MALFORMED_BUNDLE"),
        repaired=one_key,
    )
    add(
        "payload-usage-integer",
        "A one-key payload whose key usage is the integer 1, not a text string.",
        enc(base(keys=[key(0, usage=1)])),
        reject("MALFORMED_BUNDLE"),
        repaired=one_key,
    )
    add(
        "payload-empty-map",
        "An empty map: every field missing.",
        enc({}),
        reject("MALFORMED_BUNDLE"),
        no_twin="no-neighbour: every field is missing (payload-missing-* miss one each)",
    )
    many = [
        {
            1: f"k{i:03d}",
            2: "ed25519",
            3: bytes(SigningKey(seed(f"payload key {i}")).verify_key),
            4: "signing",
        }
        for i in range(129)
    ]
    add("payload-128-keys", "MAX_KEYS (128) Ed25519 keys.", enc(base(keys=many[:128])), ACCEPT)
    add(
        "payload-129-keys",
        "129 Ed25519 keys, over MAX_KEYS.",
        enc(base(keys=many)),
        reject("MALFORMED_BUNDLE"),
        repaired=enc(base(keys=many[:128])),
    )

    def of_size(total: int) -> bytes:
        # No valid payload reaches MAX_PAYLOAD_BYTES (128 keys of the longest ids take about
        # 20 KB), so the payload at the limit is one of 200 byte strings in the keys array:
        # within the size cap the key count decides (MALFORMED_BUNDLE); one byte over it, the
        # size decides first (MALFORMED_CBOR).
        strings = [bytes(150)] * 199
        shell = len(enc(base(keys=[*strings, b""])))
        last = total - shell
        for head in (1, 2, 3):  # the head of a byte string grows with its length
            data = enc(base(keys=[*strings, bytes(last - head + 1)]))
            if len(data) == total:
                return data
        raise VectorMismatchError(f"no payload of {total} bytes")

    add(
        "payload-of-32768-bytes",
        "A payload of MAX_PAYLOAD_BYTES (32768) whose keys array holds 200 byte strings: "
        "within the size cap, so the key count decides (MALFORMED_BUNDLE).",
        of_size(32768),
        reject("MALFORMED_BUNDLE"),
        ("§3.2", "§11"),
        no_twin="no-neighbour: no valid payload reaches MAX_PAYLOAD_BYTES; a later rule rejects",
    )
    add(
        "payload-of-32769-bytes",
        "As payload-of-32768-bytes, one byte longer: over MAX_PAYLOAD_BYTES, MALFORMED_CBOR "
        "before any field is read.",
        of_size(32769),
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2", "§11"),
        no_twin="precedence: no valid payload is this large; the size decides before any field",
    )
    # Each case's repaired twin: the same payload with its one fault removed, by the
    # smallest change (the nearest valid value at a boundary), which must be accepted.
    twins: dict[str, dict[int, Any]] = {
        "payload-epoch-above-max": base(epoch=2**53 - 1, previous=digest),
        "payload-epoch-0": base(epoch=1),
        "payload-no-digest-at-epoch-2": base(epoch=2, previous=digest),
        "payload-epoch-text-at-epoch-2": base(epoch=2, previous=digest),
        "payload-boolean-as-not-after": base(issued=0, nb=0, na=1),
        "payload-only-key-id-65-characters": base(keys=[key(0, id="hsm-01." + "e" * 57)]),
        "payload-only-key-id-with-space": base(keys=[key(0, id="hsm-01")]),
        "payload-null-digest": base(epoch=2, previous=digest),
        "payload-digest-of-31-bytes": base(epoch=2, previous=digest),
        "payload-fleet-uppercase": base(fleet="prod-eu.vault"),
        "payload-fleet-65-characters": base(fleet="f" * 64),
        "payload-not-before-after-not-after": base(nb=not_after),
        "payload-issued-after-not-after": base(issued=not_after),
        "payload-time-above-max": base(na=253402300799),
    }
    malformed = [
        ("payload-version-2", "Format version 2.", base(version=2)),
        ("payload-missing-not-after", "No field 7 (not_after).", base(na=_DELETE)),
        ("payload-unknown-field-9", "An unknown field 9.", {**base(), 9: 0}),
        ("payload-epoch-0", "Epoch 0 (epochs start at 1).", base(epoch=0)),
        (
            "payload-epoch-above-max",
            "Epoch 2^53, above MAX_EPOCH (with its previous digest).",
            base(epoch=2**53, previous=digest),
        ),
        ("payload-digest-at-epoch-1", "A previous digest at epoch 1.", base(previous=digest)),
        ("payload-no-digest-at-epoch-2", "No previous digest at epoch 2.", base(epoch=2)),
        ("payload-boolean-as-epoch", "true where the epoch integer 1 belongs.", base(epoch=True)),
        ("payload-fleet-as-bytes", "The fleet id as a byte string.", base(fleet=b"prod-eu.vault")),
        ("payload-boolean-as-issued-at", "true where issued_at belongs.", base(issued=True)),
        ("payload-boolean-as-not-before", "true where not_before belongs.", base(nb=True)),
        (
            "payload-boolean-as-not-after",
            "true where not_after belongs (issued_at and not_before 0).",
            base(issued=0, nb=0, na=True),
        ),
        ("payload-keys-as-integer", "An integer where the key array belongs.", base(keys=5)),
        (
            "payload-key-id-as-bytes",
            "The first key id as a byte string.",
            base(keys=[key(0, id=b"hsm-01.ed25519"), *keys[1:]]),
        ),
        (
            "payload-only-key-id-65-characters",
            "The one key's id of 65 characters, over MAX_KEY_ID_BYTES.",
            base(keys=[key(0, id="hsm-01." + "e" * 58)]),
        ),
        (
            "payload-only-key-id-with-space",
            "The one key's id with a space.",
            base(keys=[key(0, id="hsm 01")]),
        ),
        (
            "payload-epoch-text-at-epoch-2",
            'The epoch as the text "2", with a previous digest.',
            base(epoch="2", previous=digest),
        ),
        (
            "payload-null-digest",
            "An explicit null previous digest at epoch 2.",
            base(epoch=2, previous=None),
        ),
        (
            "payload-digest-of-31-bytes",
            "A previous digest of 31 bytes.",
            base(epoch=2, previous=digest[:31]),
        ),
        (
            "payload-fleet-uppercase",
            "A fleet id with an uppercase letter.",
            base(fleet="Prod-eu.vault"),
        ),
        ("payload-fleet-empty", "An empty fleet id.", base(fleet="")),
        (
            "payload-fleet-65-characters",
            "A fleet id over MAX_FLEET_ID_BYTES.",
            base(fleet="f" * 65),
        ),
        (
            "payload-not-before-after-not-after",
            "not_before later than not_after.",
            base(nb=w.now + 400 * 86400),
        ),
        (
            "payload-issued-after-not-after",
            "issued_at later than not_after.",
            base(issued=w.now + 400 * 86400),
        ),
        ("payload-time-above-max", "not_after beyond 9999-12-31T23:59:59Z.", base(na=253402300800)),
        (
            "payload-boolean-as-integer",
            "true where the version integer belongs.",
            base(version=True),
        ),
        ("payload-no-keys", "An empty key array.", base(keys=[])),
        (
            "payload-keys-unsorted",
            "Key entries out of key-id order.",
            base(keys=list(reversed(keys))),
        ),
        (
            "payload-duplicate-key-id",
            "Two entries with one key id.",
            base(keys=[keys[0], key(1, id=keys[0][1])]),
        ),
        (
            "payload-repeated-public-key",
            "One public key under two key ids.",
            base(keys=[keys[0], key(0, id="hsm-01.ed25519b")]),
        ),
        (
            "payload-usage-not-the-algorithms",
            "An ed25519 key with usage key-agreement.",
            base(keys=[key(0, usage="key-agreement"), *keys[1:]]),
        ),
        (
            "payload-unknown-algorithm",
            "The algorithm x448.",
            base(keys=[key(0, alg="x448"), *keys[1:]]),
        ),
        (
            "payload-key-entry-extra-field",
            "A key entry with a field 5.",
            base(keys=[{**keys[0], 5: 0}, *keys[1:]]),
        ),
        (
            "payload-key-id-with-space",
            "A key id with a space.",
            base(keys=[key(0, id="hsm 01"), *keys[1:]]),
        ),
        ("payload-top-level-array", "An array, not a map.", [1, 2, 3]),
    ]
    for name, description, value in malformed:
        twin = twins.get(name, base())
        add(
            name,
            description,
            cbor_encode(value),
            reject("MALFORMED_BUNDLE"),
            repaired=cbor_encode(twin),
        )
    text_key = cbor_encode({**{str(k): v for k, v in base().items()}})
    add(
        "payload-text-keys",
        "Text map keys instead of integers.",
        text_key,
        reject("MALFORMED_BUNDLE"),
        repaired=enc(base()),
    )
    good = w.bundle()
    add(
        "payload-non-minimal-epoch",
        "The epoch written with a one-byte argument.",
        good.replace(b"\x03\x01\x05", b"\x03\x18\x01\x05", 1),
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2"),
        repaired=good,
    )
    later = enc(base(epoch=2, previous=digest))
    add(
        "payload-non-minimal-epoch-2",
        "Epoch 2 (with its previous digest) written with a one-byte argument.",
        later.replace(b"\x03\x02\x04\x58\x20", b"\x03\x18\x02\x04\x58\x20", 1),
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2"),
        repaired=later,
    )
    add(
        "payload-trailing-byte",
        "A valid payload followed by one byte.",
        good + b"\x00",
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2"),
        repaired=good,
    )
    add(
        "payload-tagged-time",
        "not_after as a tag-1 epoch time.",
        enc(base(na=dcbor.Tag(1, w.now))),
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2"),
        repaired=enc(base(na=w.now)),
    )

    def x25519(name: str, description: str, public: bytes) -> None:
        add(
            name,
            description,
            enc(base(keys=[keys[0], key(1, pub=public)])),
            reject("INVALID_FLEET_KEY"),
            ("§3.3",),
            repaired=enc(base()),
        )

    x25519("fleet-key-x25519-zero", "The X25519 u-coordinate 0 (small order).", bytes(32))
    x25519("fleet-key-x25519-one", "The X25519 u-coordinate 1 (small order).", b"\x01" + bytes(31))
    x25519(
        "fleet-key-x25519-order-8",
        "An X25519 point of order 8.",
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    )
    x25519(
        "fleet-key-x25519-p",
        "u = p, not reduced below 2^255 - 19.",
        bytes.fromhex("ed" + "ff" * 30 + "7f"),
    )
    # Every small-order u below p is rejected, not only 0, 1 and one point of order 8: the
    # other point of order 8 and u = p - 1 (small order, on the curve or its twist) give the
    # all-zero shared secret too (RFC 7748 §7).
    field_25519 = 2**255 - 19
    x25519(
        "fleet-key-x25519-order-8-other",
        "The other X25519 u-coordinate of order 8 listed in SPEC §3.3 (5f9c95bc..1157).",
        (39382357235489614581723060781553021112529911719440698176882885853963445705823).to_bytes(
            32, "little"
        ),
    )
    x25519(
        "fleet-key-x25519-p-minus-1",
        "u = p - 1, a point of small order (reduced, so only its order is wrong).",
        (field_25519 - 1).to_bytes(32, "little"),
    )
    x25519(
        "fleet-key-x25519-high-bit", "A valid key with bit 255 set.", _flip(keys[1][3], -1, 0x80)
    )
    x25519("fleet-key-x25519-31-bytes", "An X25519 key of 31 bytes.", keys[1][3][:31])

    def ed25519(name: str, description: str, public: bytes) -> None:
        add(
            name,
            description,
            enc(base(keys=[key(0, pub=public), *keys[1:]])),
            reject("INVALID_FLEET_KEY"),
            ("§3.3",),
            repaired=enc(base()),
        )

    ed25519("fleet-key-ed25519-31-bytes", "An Ed25519 key of 31 bytes.", keys[0][3][:31])
    ed25519("fleet-key-ed25519-identity", "The Ed25519 identity point.", b"\x01" + bytes(31))
    ed25519(
        "fleet-key-ed25519-order-8",
        "An Ed25519 point of order 8.",
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    )
    ed25519(
        "fleet-key-ed25519-non-canonical-y",
        "y = p + 1 (a non-canonical encoding of y = 1).",
        bytes.fromhex("ee" + "ff" * 30 + "7f"),
    )
    ed25519(
        "fleet-key-ed25519-not-on-curve", "y = 2, which is not on the curve.", b"\x02" + bytes(31)
    )
    ed25519(
        "fleet-key-ed25519-mixed-order",
        "A valid key plus a point of order 8.",
        ed_add(keys[0][3], ED25519_ORDER_8_POINT),
    )
    # A valid payload never reaches the full checks (parse_payload's one-walk path accepts
    # it first), so their bounds are pinned by an invalid key behind a field at its bound:
    # the key id of MAX_KEY_ID_BYTES must pass, for the key to be judged (issue 18).
    add(
        "fleet-key-ed25519-identity-longest-key-id",
        "The Ed25519 identity point, its key id of MAX_KEY_ID_BYTES (64) characters.",
        enc(base(keys=[key(0, id=long_id, pub=b"\x01" + bytes(31)), *keys[1:]])),
        reject("INVALID_FLEET_KEY"),
        ("§3.3",),
        repaired=enc(base(keys=[key(0, id=long_id), *keys[1:]])),
    )
    add(
        "fleet-key-ed25519-identity-shortest-key-id",
        "The Ed25519 identity point, its key id of one character.",
        enc(base(keys=[key(0, id="a", pub=b"\x01" + bytes(31)), *keys[1:]])),
        reject("INVALID_FLEET_KEY"),
        ("§3.3",),
        repaired=enc(base(keys=[key(0, id="a"), *keys[1:]])),
    )
    # Likewise the full path's key count and previous-digest type, which it checks before
    # the keys: at MAX_KEYS keys, and with a 32-byte digest at epoch 2, the payload must pass
    # them for its invalid key to be judged (INVALID_FLEET_KEY, not MALFORMED_BUNDLE).
    add(
        "fleet-key-ed25519-identity-among-128-keys",
        "The Ed25519 identity point as the first of MAX_KEYS (128) keys.",
        enc(base(keys=[{**many[0], 3: b"\x01" + bytes(31)}, *many[1:128]])),
        reject("INVALID_FLEET_KEY"),
        ("§3.3",),
        repaired=enc(base(keys=many[:128])),
    )
    add(
        "fleet-key-ed25519-identity-at-epoch-2",
        "The Ed25519 identity point in a payload of epoch 2 with its previous digest.",
        enc(base(epoch=2, previous=digest, keys=[key(0, pub=b"\x01" + bytes(31)), *keys[1:]])),
        reject("INVALID_FLEET_KEY"),
        ("§3.3",),
        repaired=enc(base(epoch=2, previous=digest)),
    )

    def p256(name: str, description: str, public: bytes) -> None:
        entry = {1: "hsm-01.p256-ecdsa", 2: "p256-ecdsa", 3: public, 4: "signing"}
        add(
            name,
            description,
            enc(base(keys=[entry])),
            reject("INVALID_FLEET_KEY"),
            ("§3.3",),
            repaired=enc(base(keys=[{**entry, 3: ecdsa}])),
        )

    add(
        "fleet-key-p256-empty",
        "A P-256 key of no bytes: not the 65-byte uncompressed form.",
        enc(base(keys=[{1: "hsm-01.p256-ecdsa", 2: "p256-ecdsa", 3: b"", 4: "signing"}])),
        reject("INVALID_FLEET_KEY"),
        ("§3.3",),
        repaired=enc(
            base(keys=[{1: "hsm-01.p256-ecdsa", 2: "p256-ecdsa", 3: ecdsa, 4: "signing"}])
        ),
    )
    p256(
        "fleet-key-p256-compressed",
        "A compressed P-256 point.",
        bytes([2 + (ecdsa[-1] & 1)]) + ecdsa[1:33],
    )
    p256("fleet-key-p256-not-on-curve", "A P-256 point with y changed.", _flip(ecdsa))
    # (0, y) is a P-256 point (x^3 - 3x + b is a square for x = 0): written with X = p, which
    # is X = 0 unreduced, its one fault is the range of X; written with X = 0 it is valid.
    field_p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    curve_b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    y0 = pow(curve_b, (field_p + 1) // 4, field_p)
    if y0 * y0 % field_p != curve_b:
        raise VectorMismatchError("x = 0 is not on P-256")
    zero_x = b"\x04" + bytes(32) + y0.to_bytes(32, "big")
    entry0 = {1: "hsm-01.p256-ecdsa", 2: "p256-ecdsa", 3: zero_x, 4: "signing"}
    add(
        "fleet-key-p256-x-above-p",
        "X equal to the field prime, for the curve point (0, y): X must be below p.",
        enc(base(keys=[{**entry0, 3: b"\x04" + field_p.to_bytes(32, "big") + zero_x[33:]}])),
        reject("INVALID_FLEET_KEY"),
        ("§3.3",),
        repaired=enc(base(keys=[entry0])),
    )
    # (x, p - 1) is a P-256 point for each root x of x^3 - 3x + b = 1: a coordinate of
    # p - 1, the largest in range, is accepted (only p and above are out of range).
    top_x = 0x6916FAC45E568B6B9E2E2ECD611B282E5FCC40A3067D601057F879CE5A8A73CC
    if (top_x**3 - 3 * top_x + curve_b - 1) % field_p:
        raise VectorMismatchError("(x, p - 1) is not on P-256")
    top_y = b"\x04" + top_x.to_bytes(32, "big") + (field_p - 1).to_bytes(32, "big")
    add(
        "fleet-key-p256-y-p-minus-1",
        "A P-256 key whose Y is p - 1, the largest coordinate below the field prime: valid.",
        enc(base(keys=[{**entry0, 3: top_y}])),
        ACCEPT,
        ("§3.3",),
    )
    # The payload's depth and item caps are decided before any field (SPEC §3.2).
    add(
        "payload-item-at-depth-4",
        "A key entry's public key written as an array holding it: an item at depth 4, over "
        "MAX_PAYLOAD_DEPTH, is MALFORMED_CBOR before any field is read.",
        enc(base(keys=[key(0, pub=[keys[0][3]]), *keys[1:]])),
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2"),
        repaired=enc(base()),
    )
    add(
        "payload-array-at-depth-3",
        "A key entry's public key written as an empty array: depth 3 is within the cap, so "
        "the field's type decides (MALFORMED_BUNDLE), not the depth.",
        enc(base(keys=[key(0, pub=[]), *keys[1:]])),
        reject("MALFORMED_BUNDLE"),
        ("§3.1", "§3.2"),
        repaired=enc(base()),
    )
    top = 1 + 2 * len(base())  # the map, its keys and values, the keys array itself
    add(
        "payload-4096-items",
        "A keys array of integers making 4096 data items (DEFAULT_MAX_ITEMS): within the cap, "
        "so the key entries' type decides (MALFORMED_BUNDLE).",
        enc(base(keys=[0] * (4096 - top))),
        reject("MALFORMED_BUNDLE"),
        ("§3.1", "§3.2"),
        no_twin="no-neighbour: no valid payload has 4096 data items; a later rule rejects",
    )
    add(
        "payload-4097-items",
        "A keys array of integers making 4097 data items: over DEFAULT_MAX_ITEMS, "
        "MALFORMED_CBOR before any field is read.",
        enc(base(keys=[0] * (4097 - top))),
        reject("MALFORMED_CBOR"),
        ("§3.1", "§3.2"),
        no_twin="precedence: no valid payload has this many items; the cap decides before fields",
    )


_DELETE = object()


# --- COSE signatures and countersignatures under the role thresholds (SPEC §4, §5.4) ----------

_KAT_SIGNED = bytes.fromhex(
    "d284583aa301270378226170706c69636174696f6e2f6b657962756e646c652d7061796c6f61642b63626f72"
    "0450a050837d85070582ccf7394b0988847ca10b8355a201270450824c89aa8efb95ef93629b4519599129a0"
    "5840565bbc9380368fab7558594b18662517c17381aeb5289cbd3a2b6497040072dff9e7a2b8cca579e02342"
    "14aaf35d3e5fa5a84f48d78a7e086472e20198f7810d56a40101026d6578616d706c652d666c656574030104"
    "805840daa308cdc3afd60f7c2e0dbae43fc98c83cce7a59cb769b19ce971b644a9e215538668729741ad2990"
    "1ee7364639f31ef607b3141a8d5e8ff52d35ef6087f906"
)
"""SPEC §4.2's known answer: the §4.1 bundle countersigned by the operator key of seed 20..3f.

Byte for byte as printed in SPEC §4.2 and pinned by tests/keybundle/test_cose.py."""


class _AlgLiar:
    """A signer that claims another COSE alg than its key's (an ALG_MISMATCH attack)."""

    def __init__(self, inner: Signer, cose_alg: int) -> None:
        self.inner = inner
        self.algorithm = inner.algorithm
        self.cose_alg = cose_alg

    @property
    def kid(self) -> bytes:
        return self.inner.kid

    def public_key(self) -> PublicKey:
        return self.inner.public_key()

    def sign(self, message: bytes) -> bytes:
        return self.inner.sign(message)


def _edit_sign1(signed: bytes, **changes: Any) -> bytes:
    return cose.encode_sign1(replace(cose.parse_unverified_sign1(signed), **changes))


def _raw(signed: bytes) -> list[Any]:
    value = cbor_decode(signed, frozenset({18}))
    if not isinstance(value, dcbor.Tag) or not isinstance(value.value, list):
        raise VectorMismatchError("not a COSE_Sign1")
    return list(value.value)


def _tagged(body: list[Any], tag: int = 18) -> bytes:
    return cbor_encode(dcbor.Tag(tag, body))


def _cose(vs: VectorSet) -> None:
    fam = "cose"
    w = World()

    def add(
        name: str,
        description: str,
        signed: bytes,
        want: Want,
        root: bytes | None = None,
        *,
        spec: Sequence[str] = ("§4.1", "§4.2", "§5.4"),
        repaired: bytes | None = None,
        repaired_root: bytes | None = None,
        no_twin: str | None = None,
    ) -> None:
        pinned = b64(root or w.signed_root)
        twin = (
            None
            if repaired is None and repaired_root is None
            else {
                "signed_bundle_b64": b64(signed if repaired is None else repaired),
                "trust_root_b64": pinned if repaired_root is None else b64(repaired_root),
            }
        )
        vs.add(
            fam,
            name,
            description,
            list(spec),
            {"signed_bundle_b64": b64(signed), "trust_root_b64": pinned},
            want,
            repaired=twin,
            no_twin=no_twin,
        )

    good = w.signed_bundle()
    add(
        "bundle-ed25519-signed-and-countersigned",
        "An Ed25519 bundle signed by the independent key and countersigned by the operator key.",
        good,
        ACCEPT,
    )
    wp = World(algorithm="p256")
    add(
        "bundle-p256-signed-and-countersigned",
        "The same with ES256 (P-256) role keys; signatures are low-S.",
        wp.signed_bundle(),
        ACCEPT,
        wp.signed_root,
    )
    ind_kat, op_kat = Ed25519Signer(bytes(range(32))), Ed25519Signer(bytes(range(32, 64)))
    kat_root = w.sign_root(
        w.make_root(1, independent=[(INDEPENDENT_ORG, ind_kat)], operator=[(OPERATOR_ORG, op_kat)]),
        [ind_kat, op_kat],
    )
    rebuilt = cose.countersign(
        cose.sign1(bytes.fromhex("a40101026d6578616d706c652d666c65657403010480"), ind_kat), op_kat
    )
    if rebuilt != _KAT_SIGNED:
        raise VectorMismatchError("SPEC §4.2's known answer is not reproduced")
    vs.add(
        fam,
        "spec-known-answer-countersigned-bundle",
        "SPEC §4.2's known answer: the independent key of seed 00..1f signs, the operator key of "
        "seed 20..3f countersigns (the payload is opaque to COSE).",
        ["§4.1", "§4.2", "§5.4"],
        {"signed_bundle_b64": b64(_KAT_SIGNED), "trust_root_b64": b64(kat_root)},
        ACCEPT,
        source="SPEC.md §4.1 and §4.2 known answers (tests/keybundle/test_cose.py)",
    )

    op2, ind2 = role_signer("operator 2"), role_signer("independent 2")
    two_ops = w.make_root(
        1, operator=[(OPERATOR_ORG, w.operator), ("Second Operator", op2)], operator_threshold=2
    )
    two_ops_root = w.sign_root(two_ops, [w.independent, w.operator, op2])
    add(
        "bundle-two-operator-organisations",
        "Countersigned by two operator organisations under an operator threshold of 2.",
        w.countersign(good, op2),
        ACCEPT,
        two_ops_root,
    )
    one_of_two = w.sign_root(
        w.make_root(1, operator=[(OPERATOR_ORG, w.operator), ("Second Operator", op2)]),
        [w.independent, w.operator, op2],
    )
    add(
        "bundle-extra-countersignature",
        "Two valid countersignatures where one organisation suffices.",
        w.countersign(good, op2),
        ACCEPT,
        one_of_two,
    )

    signed_only = w.sign(w.bundle())
    sig = cose.parse_unverified_sign1(signed_only).signature
    add(
        "independent-signature-flipped",
        "The independent signature with one bit changed.",
        w.countersign(_edit_sign1(signed_only, signature=_flip(sig, 10))),
        reject("BAD_INDEPENDENT_SIGNATURE"),
        repaired=good,
    )
    add(
        "payload-changed-after-signing",
        "The payload replaced after both signatures.",
        _edit_sign1(good, payload=w.bundle(not_after=w.now + 2 * 365 * 86400)),
        reject("BAD_INDEPENDENT_SIGNATURE"),
        repaired=good,
    )
    # Strict Ed25519 (SPEC §2.4.5, §4.3), each rule alone; the twin is the honest bundle.
    parsed = cose.parse_unverified_sign1(signed_only)
    message = cose.sig_structure(parsed.protected, parsed.payload)
    for r_kind, rule in (
        ("small-order", "R is the identity (small order) and the cofactorless equation holds"),
        ("mixed-order", "R has a component of order 8: only the cofactored equation holds"),
    ):
        crafted = crafted_ed25519_signature(seed("independent"), message, r_kind)
        add(
            f"independent-ed25519-{r_kind}-r",
            f"The independent Ed25519 signature's {rule}: strict verification rejects it.",
            w.countersign(_edit_sign1(signed_only, signature=crafted)),
            reject("BAD_INDEPENDENT_SIGNATURE"),
            repaired=good,
        )

    # MAX_SIGNED_BUNDLE_BYTES at the limit and one past it. COSE treats the payload as
    # opaque bytes (SPEC §4.1), so a long byte string makes the size.
    def sized(total: int) -> bytes:
        """Signed and countersigned, built by hand (the builder refuses oversized bundles)."""
        filler = 60000
        for _ in range(3):
            parsed = cose.parse_unverified_sign1(w.sign(b"\x00" * filler))
            counter = create_countersignature(parsed, w.operator)
            out = cose.encode_sign1(replace(parsed, countersignatures=(counter,)))
            filler += total - len(out)
        if len(out) != total:
            raise VectorMismatchError(f"the sized bundle is {len(out)} bytes, not {total}")
        return out

    add(
        "bundle-of-max-signed-bundle-bytes",
        "A signed and countersigned bundle of exactly MAX_SIGNED_BUNDLE_BYTES (65536) bytes.",
        sized(65536),
        ACCEPT,
    )
    add(
        "bundle-one-byte-over-max-signed-bundle-bytes",
        "A signed and countersigned bundle of MAX_SIGNED_BUNDLE_BYTES + 1 bytes.",
        sized(65537),
        reject("MALFORMED_COSE"),
        repaired=sized(65536),
    )
    # MAX_COUNTERSIGNATURES at the limit (72 data items, depth 5: SPEC §4.1) and one past it.
    ops = [role_signer(f"operator {i:02d}") for i in range(16)]
    many_root = w.sign_root(
        w.make_root(1, operator=[(f"Operator {i:02d}", op) for i, op in enumerate(ops)]),
        [w.independent, ops[0]],
    )
    sixteen = signed_only
    for op in ops:
        sixteen = w.countersign(sixteen, op)
    add(
        "bundle-16-countersignatures",
        "Sixteen countersignatures (MAX_COUNTERSIGNATURES): 72 data items at depth 5, the "
        "largest valid signed bundle.",
        sixteen,
        ACCEPT,
        many_root,
    )
    body = _raw(sixteen)
    extra = [cbor_encode({1: -8, 4: role_signer("operator 16").kid}), {}, bytes(64)]
    body[1] = {11: [*body[1][11], extra]}
    add(
        "bundle-17-countersignatures",
        "Seventeen countersignatures, one over MAX_COUNTERSIGNATURES: MALFORMED_COSE before "
        "any signature is checked.",
        _tagged(body),
        reject("MALFORMED_COSE"),
        many_root,
        repaired=sixteen,
    )
    s = int.from_bytes(sig[32:], "little") + _L
    add(
        "independent-ed25519-s-plus-l",
        "The independent Ed25519 signature with S + L.",
        w.countersign(_edit_sign1(signed_only, signature=sig[:32] + s.to_bytes(32, "little"))),
        reject("BAD_INDEPENDENT_SIGNATURE"),
        repaired=good,
    )
    p_only = wp.sign(wp.bundle())
    psig = cose.parse_unverified_sign1(p_only).signature
    high = P256_ORDER - int.from_bytes(psig[32:], "big")
    add(
        "independent-es256-high-s",
        "The independent ES256 signature as (r, n - s): valid ECDSA, but not low-S.",
        wp.countersign(_edit_sign1(p_only, signature=psig[:32] + high.to_bytes(32, "big"))),
        reject("BAD_INDEPENDENT_SIGNATURE"),
        wp.signed_root,
        repaired=wp.signed_bundle(),
    )

    stranger = role_signer("stranger")
    add(
        "independent-signature-by-unknown-key",
        "Signed by a key the trust root does not hold.",
        w.countersign(w.sign(w.bundle(), stranger)),
        reject("UNKNOWN_KEY"),
        repaired=good,
    )
    add(
        "independent-signature-by-operator-key",
        "Signed by the operator key (and duly countersigned by it): roles are never "
        "interchangeable.",
        w.countersign(w.sign(w.bundle(), w.operator)),
        reject("UNKNOWN_KEY"),
        repaired=good,
    )
    hsm = Ed25519Signer(seed(f"fleet {DEFAULT_FLEET} epoch 1 hsm 1 ed25519"))
    add(
        "tofu-signed-by-a-carried-fleet-key",
        "Signed by a fleet key the bundle itself carries: keys never come from the data.",
        w.countersign(w.sign(w.bundle(), hsm)),
        reject("UNKNOWN_KEY"),
        repaired=good,
    )
    add(
        "countersignature-by-unknown-key",
        "Countersigned by a key the trust root does not hold.",
        w.countersign(signed_only, stranger),
        reject("UNKNOWN_KEY"),
        repaired=good,
    )
    add(
        "countersignature-by-independent-key",
        "Countersigned by the independent key, which holds no operator role.",
        w.countersign(signed_only, w.independent),
        reject("UNKNOWN_KEY"),
        repaired=good,
    )
    add(
        "independent-alg-mismatch",
        "The independent signature claims ES256 for an Ed25519 key.",
        w.countersign(w.sign(w.bundle(), _AlgLiar(w.independent, -7))),
        reject("ALG_MISMATCH"),
        repaired=good,
    )
    add(
        "countersignature-alg-mismatch",
        "A countersignature claims ES256 for an Ed25519 key.",
        w.countersign(signed_only, _AlgLiar(w.operator, -7)),
        reject("ALG_MISMATCH"),
        repaired=good,
    )
    add(
        "independent-p256-key-claims-eddsa",
        "An ES256 key's signature labelled EdDSA.",
        wp.countersign(wp.sign(wp.bundle(), _AlgLiar(wp.independent, -8))),
        reject("ALG_MISMATCH"),
        wp.signed_root,
        repaired=wp.signed_bundle(),
    )

    two_ind = w.sign_root(
        w.make_root(
            1,
            independent=[(INDEPENDENT_ORG, w.independent), ("Second Auditor", ind2)],
            independent_threshold=2,
        ),
        [w.independent, ind2, w.operator],
    )
    add(
        "independent-threshold-two",
        "An independent threshold of 2 organisations: a COSE_Sign1 carries one signature.",
        good,
        reject("INDEPENDENT_THRESHOLD_NOT_MET"),
        two_ind,
        repaired_root=w.sign_root(
            w.make_root(
                1, independent=[(INDEPENDENT_ORG, w.independent), ("Second Auditor", ind2)]
            ),
            [w.independent, ind2, w.operator],
        ),
    )
    add(
        "no-countersignature",
        "Signed by the independent party only.",
        signed_only,
        reject("COUNTERSIGNATURE_THRESHOLD_NOT_MET"),
        repaired=good,
    )
    add(
        "operator-threshold-two-one-organisation",
        "An operator threshold of 2 and one organisation's countersignature.",
        good,
        reject("COUNTERSIGNATURE_THRESHOLD_NOT_MET"),
        two_ops_root,
        repaired=w.countersign(good, op2),
    )
    op3 = role_signer("operator 3")
    same_org = w.sign_root(
        w.make_root(
            1,
            operator=[(OPERATOR_ORG, w.operator), (OPERATOR_ORG, op2), ("Third Operator", op3)],
            operator_threshold=2,
        ),
        [w.independent, w.operator, op2, op3],
    )
    add(
        "operator-threshold-two-keys-of-one-organisation",
        "Two countersignatures by two keys of one organisation count once.",
        w.countersign(good, op2),
        reject("COUNTERSIGNATURE_THRESHOLD_NOT_MET"),
        same_org,
        repaired=w.countersign(good, op3),
    )

    (cs,) = cose.parse_unverified_sign1(good).countersignatures
    add(
        "countersignature-flipped",
        "The countersignature with one bit changed.",
        _edit_sign1(good, countersignatures=(replace(cs, signature=_flip(cs.signature, 5)),)),
        reject("BAD_COUNTERSIGNATURE"),
        repaired=good,
    )
    (other_cs,) = cose.parse_unverified_sign1(w.signed_bundle("other-fleet", 1)).countersignatures
    add(
        "countersignature-from-another-bundle",
        "A countersignature moved from another bundle.",
        _edit_sign1(signed_only, countersignatures=(other_cs,)),
        reject("BAD_COUNTERSIGNATURE"),
        repaired=good,
    )
    two_ind_one = w.sign_root(
        w.make_root(1, independent=[(INDEPENDENT_ORG, w.independent), ("Second Auditor", ind2)]),
        [w.independent, ind2, w.operator],
    )
    add(
        "countersignature-over-other-signature",
        "The same payload signed by the other independent key, carrying the countersignature the "
        "operator made over the first key's signature.",
        _edit_sign1(w.sign(w.bundle(), ind2), countersignatures=(cs,)),
        reject("BAD_COUNTERSIGNATURE"),
        two_ind_one,
        repaired=w.countersign(w.sign(w.bundle(), ind2)),
    )
    with_two = w.countersign(good, op2)
    first, second = cose.parse_unverified_sign1(with_two).countersignatures
    add(
        "second-countersignature-bad",
        "A bad second countersignature is never skipped, even when the first meets the threshold.",
        _edit_sign1(
            with_two, countersignatures=(first, replace(second, signature=_flip(second.signature)))
        ),
        reject("BAD_COUNTERSIGNATURE"),
        one_of_two,
        repaired=with_two,
    )
    parsed = cose.parse_unverified_sign1(signed_only)
    v1_structure = cbor_encode(
        ["CounterSignature", parsed.protected, cs.protected, b"", parsed.payload]
    )
    add(
        "countersignature-version-1-structure",
        "A countersignature over RFC 9338's version-1 structure (without the independent "
        "signature) does not verify as version 2.",
        _edit_sign1(
            good, countersignatures=(replace(cs, signature=w.operator.sign(v1_structure)),)
        ),
        reject("BAD_COUNTERSIGNATURE"),
        repaired=good,
    )

    body = _raw(good)
    protected, unprotected, payload, signature = body
    cs_value = unprotected[11]
    content_type = "application/keybundle-payload+cbor"

    def header(value: dict[int, Any]) -> bytes:
        return cbor_encode(value)

    kid = w.independent.kid
    malformed: list[tuple[str, str, Callable[[], bytes]]] = [
        ("cose-untagged", "The COSE_Sign1 array without tag 18.", lambda: cbor_encode(body)),
        (
            "cose-tag-98",
            "Tag 98 (COSE_Sign) instead of 18.",
            lambda: cbor_tagged(98, body),
        ),
        (
            "cose-tag-18-twice",
            "Tag 18 around tag 18.",
            lambda: cbor_tagged(18, dcbor.Tag(18, body)),
        ),
        (
            "cose-tag-17-mac0",
            "Tag 17 (COSE_Mac0) instead of 18.",
            lambda: cbor_tagged(17, body),
        ),
        (
            "cose-array-of-five",
            "A COSE_Sign1 array of five elements.",
            lambda: _tagged([*body, b""]),
        ),
        (
            "cose-array-of-three",
            "A COSE_Sign1 array of three elements (no signature).",
            lambda: _tagged(body[:3]),
        ),
        (
            "cose-detached-payload",
            "A detached payload (null).",
            lambda: _tagged([protected, unprotected, None, signature]),
        ),
        (
            "cose-signature-63-bytes",
            "A 63-byte signature.",
            lambda: _tagged([protected, unprotected, payload, signature[:63]]),
        ),
        (
            "cose-protected-extra-label",
            "A protected header with an IV (label 5) too.",
            lambda: _tagged(
                [
                    header({1: -8, 3: content_type, 4: kid, 5: b"iv"}),
                    unprotected,
                    payload,
                    signature,
                ]
            ),
        ),
        (
            "cose-kid-as-text-string",
            "A protected header whose kid is a 16-character text string, not 16 bytes.",
            lambda: _tagged(
                [header({1: -8, 3: content_type, 4: "a" * 16}), unprotected, payload, signature]
            ),
        ),
        (
            "cose-unprotected-empty-array",
            "An empty array where the unprotected header map belongs.",
            lambda: _tagged([body[0], [], payload, signature]),
        ),
        (
            "cose-payload-text-string",
            "The payload carried as a text string.",
            lambda: _tagged([body[0], unprotected, payload.decode("latin-1"), signature]),
        ),
        (
            "cose-protected-header-text-string",
            "The protected header's map bytes carried as a text string, not a byte string.",
            lambda: _tagged([body[0].decode("latin-1"), unprotected, payload, signature]),
        ),
        (
            "cose-protected-header-array-of-labels",
            "A protected header that is the array [1, 3, 4], not a map with those labels.",
            lambda: _tagged([cbor_encode([1, 3, 4]), unprotected, payload, signature]),
        ),
        (
            "cose-protected-crit",
            "A protected header with crit (label 2).",
            lambda: _tagged(
                [header({1: -8, 2: [4], 3: content_type, 4: kid}), unprotected, payload, signature]
            ),
        ),
        (
            "cose-other-content-type",
            "The content type application/cbor.",
            lambda: _tagged(
                [header({1: -8, 3: "application/cbor", 4: kid}), unprotected, payload, signature]
            ),
        ),
        (
            "cose-content-type-as-number",
            "The content type as the CoAP number 60.",
            lambda: _tagged([header({1: -8, 3: 60, 4: kid}), unprotected, payload, signature]),
        ),
        (
            "cose-kid-of-15-bytes",
            "A kid of 15 bytes.",
            lambda: _tagged(
                [header({1: -8, 3: content_type, 4: kid[:15]}), unprotected, payload, signature]
            ),
        ),
        (
            "cose-alg-es384",
            "alg -35 (ES384), outside the profile.",
            lambda: _tagged(
                [header({1: -35, 3: content_type, 4: kid}), unprotected, payload, signature]
            ),
        ),
        (
            "cose-protected-unsorted-map",
            "The protected header map with keys out of order.",
            lambda: _tagged(
                [
                    b"\xa3\x03" + cbor_encode(content_type) + b"\x01\x27\x04\x50" + kid,
                    unprotected,
                    payload,
                    signature,
                ]
            ),
        ),
        (
            "cose-unprotected-kid",
            "A kid in the unprotected header.",
            lambda: _tagged([protected, {4: kid}, payload, signature]),
        ),
        (
            "cose-countersignature0-label-12",
            "An abbreviated countersignature (label 12).",
            lambda: _tagged([protected, {12: signature}, payload, signature]),
        ),
        (
            "cose-countersignature-array-of-one",
            "One countersignature wrapped in an array.",
            lambda: _tagged([protected, {11: [cs_value]}, payload, signature]),
        ),
        (
            "cose-countersignature-unprotected-kid",
            "A countersignature with a kid in its unprotected header.",
            lambda: _tagged(
                [protected, {11: [cs_value[0], {4: kid}, cs_value[2]]}, payload, signature]
            ),
        ),
        (
            "cose-countersignature-same-kid-twice",
            "Two countersignatures naming one kid.",
            lambda: _tagged([protected, {11: [cs_value, cs_value]}, payload, signature]),
        ),
        (
            "cose-countersignature-protected-with-content-type",
            "A countersignature protected header with a content type.",
            lambda: _tagged(
                [
                    protected,
                    {11: [header({1: -8, 3: content_type, 4: w.operator.kid}), {}, cs_value[2]]},
                    payload,
                    signature,
                ]
            ),
        ),
        (
            "cose-trailing-byte",
            "A valid signed bundle followed by one byte.",
            lambda: good + b"\x00",
        ),
        (
            "cose-non-minimal-array-head",
            "The COSE_Sign1 array with a one-byte count.",
            lambda: b"\xd2\x98\x04" + good[2:],
        ),
    ]
    for name, description, make in malformed:
        add(
            name,
            description,
            make(),
            reject("MALFORMED_COSE"),
            spec=("§4.1", "§4.2"),
            repaired=good,
        )
    add(
        "cose-empty-input",
        "No bytes at all.",
        b"",
        reject("MALFORMED_COSE"),
        spec=("§4.1", "§4.2"),
        no_twin="no-neighbour: the input is empty",
    )
    # The one-countersignature fast path proves the form by summing the shortest encoding's
    # size (issue 18): one head written longer than its shortest form adds exactly the bytes a
    # miscount would, so these pin the sum where the payload's head grows (23 and 255 bytes:
    # COSE treats the payload as opaque, SPEC §4.1), for the tag's head (two bytes more),
    # and trailing bytes as many as a miscounted signature item.
    add(
        "cose-tag-18-in-three-byte-head",
        "The COSE_Sign1 tag 18 in a three-byte head (0xd9 0x00 0x12), not its shortest.",
        b"\xd9\x00\x12" + good[1:],
        reject("MALFORMED_COSE"),
        spec=("§3.1", "§4.1"),
        repaired=good,
    )
    add(
        "cose-trailing-66-bytes",
        "A valid signed bundle followed by 66 bytes, as many as a signature item.",
        good + bytes(66),
        reject("MALFORMED_COSE"),
        spec=("§3.1", "§4.1"),
        repaired=good,
    )
    for length, short, wide in (
        (23, b"\x57", b"\x58\x17"),
        (255, b"\x58\xff", b"\x59\x00\xff"),
    ):
        parsed = cose.parse_unverified_sign1(w.sign(bytes(length)))
        counter = create_countersignature(parsed, w.operator)
        plain = cose.encode_sign1(replace(parsed, countersignatures=(counter,)))
        if plain.count(short + bytes(length)) != 1:
            raise VectorMismatchError(f"the {length}-byte payload's head is not found once")
        head = {2: "two", 3: "three"}[len(wide)]
        add(
            f"cose-payload-of-{length}-bytes-in-{head}-byte-head",
            f"A {length}-byte payload whose head takes {head} bytes ({wide.hex()}), not its "
            "shortest.",
            plain.replace(short + bytes(length), wide + bytes(length)),
            reject("MALFORMED_COSE"),
            spec=("§3.1", "§4.1"),
            repaired=plain,
        )

    # SPEC §4.2's countersignature shape, one rule at a time: each countersignature below is
    # signed over its own protected header (RFC 9338 §3.3), so it differs from `good` only in
    # the way its name says.
    target = cose.parse_unverified_sign1(good)

    def with_countersignature(cs_protected: Any, make: Callable[[Any, bytes], Any]) -> bytes:
        signed_header = cs_protected if isinstance(cs_protected, bytes) else cs_value[0]
        cs_signature = w.operator.sign(countersign_structure(target, signed_header))
        return _tagged([protected, {11: make(cs_protected, cs_signature)}, payload, signature])

    op_kid = w.operator.kid
    shapes: list[tuple[str, str, bytes]] = [
        (
            "cose-countersignature-alg-minus-19",
            "A countersignature whose protected header names alg -19 (Ed25519 as fully "
            "specified by RFC 9864) instead of -8: the header is 21 bytes like the profile's, "
            "the signature verifies, but only -8 and -7 are allowed.",
            with_countersignature(header({1: -19, 4: op_kid}), lambda h, s: [h, {}, s]),
        ),
        (
            "cose-countersignature-protected-array-of-labels",
            "A countersignature protected header that is the array [1, 4], not a map with "
            "those labels (signed as such).",
            with_countersignature(cbor_encode([1, 4]), lambda h, s: [h, {}, s]),
        ),
        (
            "cose-countersignature-protected-header-not-a-byte-string",
            "A countersignature whose protected header is the map {1: -8, 4: kid} itself, not "
            "the byte string holding its encoding.",
            with_countersignature({1: -8, 4: op_kid}, lambda h, s: [h, {}, s]),
        ),
        (
            "cose-countersignature-array-of-four",
            "A COSE_Countersignature array of four elements: an empty byte string after the "
            "signature.",
            with_countersignature(cs_value[0], lambda h, s: [h, {}, s, b""]),
        ),
        (
            "cose-countersignature-header-integer",
            "Header 11 holding the integer 1 instead of a COSE_Countersignature.",
            _tagged([protected, {11: 1}, payload, signature]),
        ),
    ]
    for name, description, signed in shapes:
        add(name, description, signed, reject("MALFORMED_COSE"), spec=("§4.2",), repaired=good)


def add_bundle_families(vs: VectorSet) -> None:
    """Add the vectors of SPEC §3-§4's families to ``vs``."""
    _cbor(vs)
    _payload(vs)
    _cose(vs)
