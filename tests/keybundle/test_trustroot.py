"""Tests for keybundle.trustroot: the trust-root payload (SPEC §5.1), and the fixtures that
test_signed_trust_root.py (§5.2, §5.3) and test_roles.py share."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from keybundle import dcbor, signed_trust_root, trustroot
from keybundle.errors import Reason, VerificationError
from keybundle.signers import Ed25519Signer, P256Signer, PublicKey, Signer
from keybundle.trustroot import (
    MAX_ROLE_KEYS,
    MAX_ROTATION_CHAIN,
    Limits,
    Role,
    RoleKey,
    TrustRoot,
    parse_trust_root,
)
from tests.conftest import REPO
from transparency_log.policy import parse_policy

# -- fixtures shared with test_roles.py -----------------------------------------------------------

POLICY_TEXT = (
    "log log.example/bundles+2ee4d205+AdBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3\n"
    "witness w1 witness.example/w1+e0cd2864+BKCapfR6Z1mAL/lV+NwtKhSlyZ0jvpf4ZBJ/+Tg0VaTw\n"
    "quorum w1\n"
)
"""A canonical C2SP tlog-policy: the log key is Ed25519 seed 0x11 * 32, the witness 0x22 * 32."""
POLICY = parse_policy(POLICY_TEXT)
LIMITS = Limits(
    clock_skew=300,
    max_cosignature_age=86_400,
    max_package_bytes=65_536,
    max_rotation_chain=8,
    max_epoch_jump=1_000,
)


def ed25519(n: int) -> Ed25519Signer:
    """A fixed Ed25519 signer: seed = byte n repeated 32 times."""
    return Ed25519Signer(bytes([n]) * 32)


def p256(n: int) -> P256Signer:
    """A fixed P-256 signer: private scalar n."""
    return P256Signer(ec.derive_private_key(n, ec.SECP256R1()))


Holders = Sequence[tuple[str, Signer]]


def role(threshold: int, holders: Holders) -> Role:
    return Role(threshold, tuple(RoleKey(org, s.public_key()) for org, s in holders))


def make_root(
    version: int,
    independent: Holders,
    operator: Holders,
    *,
    independent_threshold: int = 1,
    operator_threshold: int = 1,
    limits: Limits = LIMITS,
) -> TrustRoot:
    return TrustRoot(
        version,
        role(independent_threshold, independent),
        role(operator_threshold, operator),
        POLICY,
        limits,
    )


IND = ed25519(1)
OP = ed25519(2)
ROOT = make_root(1, [("Independent Org", IND)], [("Operator Org", OP)])

# Known answers (SPEC §5.1, §5.2). Ed25519 is deterministic, so the signed bytes are exact too.
ROOT_HEX = (
    "a6"  # map(6)
    "0101"  # 1: format version 1
    "0201"  # 2: root version 1
    "03a2" "0101" "0281"  # 3: independent {1: threshold 1, 2: [
    "a3" "016f" + b"Independent Org".hex() +  # {1: organisation,
    "0267" + b"ed25519".hex() +  # 2: algorithm,
    "035820" "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"  # 3: key}]}
    "04a2" "0101" "0281"  # 4: operator {1: 1, 2: [
    "a3" "016c" + b"Operator Org".hex() +
    "0267" + b"ed25519".hex() +
    "035820" "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
    "0578ac" + POLICY_TEXT.encode().hex() +  # 5: log policy (172 bytes of text)
    "06a5"  # 6: limits {
    "0119012c"  # 1: clock skew 300,
    "021a00015180"  # 2: max cosignature age 86400,
    "031a00010000"  # 3: max package bytes 65536,
    "0408"  # 4: max rotation chain 8,
    "051903e8"  # 5: max epoch jump 1000}
)  # fmt: skip
SIGNED_HEX = (
    "d862845829a10378256170706c69636174696f6e2f6b657962756e646c652d74727573742d726f6f742b63"
    "626f72a0590151" + ROOT_HEX + "828355a20127045047dea58ea00fae9417ee19d76755bfefa05840e91e"
    "28871298d3537c957c8e674ce32f5d27c0aec851a3925eda0c9123db488b36e50ce6962449b3f9806ce153"
    "d31481020ba9bab1243abae58fa505d24325088355a201270450fd110d301d2f077de1414b8f99f441b1a0"
    "584076191be1c0a73be4c2e3a1bf5d2ee2a18ae5ea9b80aa6f691b976f29491092577c78f50f59bf161f84"
    "5f40fb87329402ec68bc0ca2ac62555f0157bca15fa10c"
)


def reason(exc: pytest.ExceptionInfo[VerificationError]) -> str:
    return exc.value.reason


# -- known answers ----------------------------------------------------------------------------


def test_trust_root_payload_known_answer() -> None:
    assert ROOT.encode().hex() == ROOT_HEX
    assert parse_trust_root(bytes.fromhex(ROOT_HEX)) == ROOT


def test_lookup_tables() -> None:
    assert dict(ROOT.independent_keys) == {IND.kid: IND.public_key()}
    assert dict(ROOT.operator_keys) == {OP.kid: OP.public_key()}
    assert ROOT.operator.organisation_of[OP.kid] == "Operator Org"
    assert ROOT.log.origin == "log.example/bundles"
    assert ROOT.role("independent") is ROOT.independent
    with pytest.raises(ValueError, match="unknown role"):
        ROOT.role("witness")


# -- round trips ----------------------------------------------------------------------------

KEY_POOL: list[Signer] = [ed25519(n) for n in range(10, 10 + 2 * MAX_ROLE_KEYS)] + [
    p256(n) for n in range(1, 5)
]
ORGS = ["Org A", "Org B", "Org C", "Org D", "org e", "Org F"]


@st.composite
def trust_roots(draw: st.DrawFn) -> TrustRoot:
    signers = draw(
        st.lists(st.sampled_from(KEY_POOL), min_size=2, max_size=12, unique_by=lambda s: s.kid)
    )
    split = draw(st.integers(1, len(signers) - 1))
    orgs = draw(st.permutations(ORGS))
    cut = draw(st.integers(1, len(orgs) - 1))

    def holders(part: list[Signer], names: list[str]) -> list[tuple[str, Signer]]:
        return [(draw(st.sampled_from(names)), s) for s in part]

    ind = holders(signers[:split], orgs[:cut])
    op = holders(signers[split:], orgs[cut:])
    limits = Limits(
        clock_skew=draw(st.integers(0, 86_400)),
        max_cosignature_age=draw(st.integers(1, 2**63 - 1)),
        max_package_bytes=draw(st.integers(1, 2**63 - 1)),
        max_rotation_chain=draw(st.integers(0, MAX_ROTATION_CHAIN)),
        max_epoch_jump=draw(st.integers(1, 2**63 - 1)),
    )
    return make_root(
        draw(st.integers(1, 2**63 - 1)),
        ind,
        op,
        independent_threshold=draw(st.integers(1, len({o for o, _ in ind}))),
        operator_threshold=draw(st.integers(1, len({o for o, _ in op}))),
        limits=limits,
    )


@given(trust_roots())
def test_payload_round_trip(root: TrustRoot) -> None:
    data = root.encode()
    parsed = parse_trust_root(data)
    assert parsed == root
    assert parsed.encode() == data


def test_role_keeps_keys_sorted_by_kid() -> None:
    a, b = ed25519(3), ed25519(4)
    first = role(1, [("A", a), ("A", b)])
    second = role(1, [("A", b), ("A", a)])
    assert first == second
    assert [k.kid for k in first.keys] == sorted([a.kid, b.kid])


# -- strict parsing of the payload ---------------------------------------------------------

A, B, C = ed25519(3), ed25519(4), ed25519(5)


def mutated(change: Callable[[dict[Any, Any]], object]) -> bytes:
    """ROOT's payload as a dict, changed in place by ``change``, re-encoded."""
    value = dcbor.decode(ROOT.encode())
    assert isinstance(value, dict)
    change(value)
    return dcbor.encode(value)


def key_entry(org: str, signer: Signer) -> dict[int, object]:
    pk = signer.public_key()
    return {1: org, 2: pk.algorithm, 3: pk.raw}


def _kid(entry: dict[int, object]) -> bytes:
    return PublicKey(entry[2], entry[3]).kid  # type: ignore[arg-type]


def set_keys(field: int, *entries: dict[int, object]) -> Callable[[dict[int, Any]], None]:
    def change(v: dict[int, Any]) -> None:
        v[field][2] = sorted(entries, key=_kid)

    return change


def _unsorted(v: dict[int, Any]) -> None:
    entries = sorted([key_entry("Operator Org", A), key_entry("Operator Org", B)], key=_kid)
    v[4][2] = entries[::-1]


MALFORMED_PAYLOADS: dict[str, bytes] = {
    "unknown top-level field": mutated(lambda v: v.__setitem__(7, 0)),
    "missing limits": mutated(lambda v: v.pop(6)),
    "format version 2": mutated(lambda v: v.__setitem__(1, 2)),
    "root version 0": mutated(lambda v: v.__setitem__(2, 0)),
    "root version above 2^63-1": mutated(lambda v: v.__setitem__(2, 2**63)),
    "root version is a boolean": mutated(lambda v: v.__setitem__(2, True)),
    "threshold 0": mutated(lambda v: v[3].__setitem__(1, 0)),
    "threshold above the organisations (two keys, one org)": mutated(
        lambda v: (
            set_keys(4, key_entry("Operator Org", A), key_entry("Operator Org", B))(v),
            v[4].__setitem__(1, 2),
        )
    ),
    "role without keys": mutated(lambda v: v[4].__setitem__(2, [])),
    "same key twice in a role": mutated(
        lambda v: v[4].__setitem__(2, [key_entry("Operator Org", A)] * 2)
    ),
    "keys not sorted by kid": mutated(_unsorted),
    "same key in both roles": mutated(set_keys(4, key_entry("Operator Org", IND))),
    "organisation in both roles": mutated(set_keys(4, key_entry("Independent Org", A))),
    "organisations differ only in case": mutated(set_keys(4, key_entry("independent org", A))),
    "organisations differ only in a full stop": mutated(
        set_keys(4, key_entry("Independent Org.", A))
    ),
    "organisations differ only in spaces and a hyphen": mutated(
        set_keys(4, key_entry("Independent-Org", A))
    ),
    "one organisation twice in a role, with and without a full stop": mutated(
        lambda v: (
            set_keys(4, key_entry("Operator Org", A), key_entry("OPERATOR org.", B))(v),
            v[4].__setitem__(1, 2),
        )
    ),
    "organisation of punctuation only": mutated(set_keys(4, key_entry("--", A))),
    "empty organisation": mutated(set_keys(4, key_entry("", A))),
    "organisation with a trailing space": mutated(set_keys(4, key_entry("Operator ", A))),
    "non-ASCII organisation": mutated(set_keys(4, key_entry("Opérateur", A))),
    "organisation too long": mutated(set_keys(4, key_entry("O" * 65, A))),
    "unknown algorithm": mutated(lambda v: v[4][2][0].__setitem__(2, "ed448")),
    "small-order Ed25519 key": mutated(lambda v: v[4][2][0].__setitem__(3, bytes([1]) + bytes(31))),
    "compressed P-256 key": mutated(
        lambda v: v[4][2][0].update({2: "p256", 3: b"\x02" + p256(7).public_key().raw[1:33]})
    ),
    "key field unknown": mutated(lambda v: v[4][2][0].__setitem__(4, b"")),
    "policy that does not parse": mutated(lambda v: v.__setitem__(5, "log nonsense\n")),
    "policy with a comment (not canonical)": mutated(
        lambda v: v.__setitem__(5, "# comment\n" + POLICY_TEXT)
    ),
    "policy without a log": mutated(lambda v: v.__setitem__(5, POLICY_TEXT.split("\n", 1)[1])),
    "policy is bytes": mutated(lambda v: v.__setitem__(5, POLICY_TEXT.encode())),
    "clock skew above a day": mutated(lambda v: v[6].__setitem__(1, 86_401)),
    "rotation chain cap above the maximum": mutated(
        lambda v: v[6].__setitem__(4, MAX_ROTATION_CHAIN + 1)
    ),
    "epoch jump 0": mutated(lambda v: v[6].__setitem__(5, 0)),
    "cosignature age negative": mutated(lambda v: v[6].__setitem__(2, -1)),
    "cosignature age 0": mutated(lambda v: v[6].__setitem__(2, 0)),
    "package size limit 0": mutated(lambda v: v[6].__setitem__(3, 0)),
    "epoch jump above 2^63-1": mutated(lambda v: v[6].__setitem__(5, 2**63)),
    "clock skew negative": mutated(lambda v: v[6].__setitem__(1, -1)),
    "clock skew as a boolean": mutated(lambda v: v[6].__setitem__(1, True)),
    "limits without max_package_bytes": mutated(lambda v: v[6].pop(3)),
    "limits with unknown field 6": mutated(lambda v: v[6].__setitem__(6, 1)),
    "role with unknown field 3": mutated(lambda v: v[4].__setitem__(3, 0)),
    "role without threshold": mutated(lambda v: v[4].pop(1)),
    "threshold as a boolean": mutated(lambda v: v[3].__setitem__(1, True)),
    "key entry without organisation": mutated(lambda v: v[4][2][0].pop(1)),
    "Ed25519 key of 33 bytes": mutated(lambda v: v[4][2][0].__setitem__(3, v[4][2][0][3] + b"\0")),
    "organisation with a leading space": mutated(set_keys(4, key_entry(" Operator", A))),
    "organisation with a tab": mutated(set_keys(4, key_entry("Oper\tator", A))),
    "organisation with DEL (0x7f)": mutated(set_keys(4, key_entry("Oper\x7fator", A))),
    "not deterministic CBOR (key 1 in a long head)": bytes.fromhex("a6180101") + ROOT.encode()[3:],
    "trailing bytes": ROOT.encode() + b"\x00",
    "not a map": dcbor.encode([1, 2]),
}


@pytest.mark.parametrize("data", MALFORMED_PAYLOADS.values(), ids=MALFORMED_PAYLOADS.keys())
def test_malformed_payload(data: bytes) -> None:
    with pytest.raises(VerificationError) as exc:
        parse_trust_root(data)
    assert reason(exc) == Reason.MALFORMED_TRUST_ROOT


def test_threshold_above_organisations_message() -> None:
    with pytest.raises(VerificationError) as exc:
        parse_trust_root(
            MALFORMED_PAYLOADS["threshold above the organisations (two keys, one org)"]
        )
    assert "counts organisations, not keys" in exc.value.message
    assert "1: Operator Org" in exc.value.message


def test_constructor_rejects_what_the_parser_rejects() -> None:
    with pytest.raises(ValueError, match="organisations, not keys"):
        role(2, [("Same Org", A), ("Same Org", B)])
    with pytest.raises(ValueError, match="both roles"):
        make_root(1, [("X", A)], [("X", B)])
    with pytest.raises(ValueError, match="both roles"):
        make_root(1, [("X", A)], [("Y", A)])
    with pytest.raises(ValueError, match="version"):
        make_root(0, [("X", A)], [("Y", B)])
    with pytest.raises(ValueError, match="clock_skew"):
        replace(LIMITS, clock_skew=-1)
    with pytest.raises(ValueError, match="printable ASCII"):
        RoleKey("bad\nname", A.public_key())


def test_oversized_payload() -> None:
    with pytest.raises(VerificationError) as exc:
        parse_trust_root(bytes(40_000))
    assert reason(exc) == Reason.MALFORMED_TRUST_ROOT


# -- SPEC agreement ------------------------------------------------------------------------


def test_spec_limits_table_has_the_values_of_the_code() -> None:
    """SPEC §11 lists the named limits of §5 with the values the code uses."""
    spec = (REPO / "SPEC.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(MAX_[A-Z_]+)` \| (\d+) \|", spec, re.M))
    names = [
        "MAX_ROLE_KEYS",
        "MAX_ORGANISATION_BYTES",
        "MAX_CLOCK_SKEW",
        "MAX_ROTATION_CHAIN",
        "MAX_TRUST_ROOT_BYTES",
        "MAX_TRUST_ROOT_SIGNATURES",
        "MAX_SIGNED_TRUST_ROOT_BYTES",
    ]
    assert {name: int(rows[name]) for name in names} == {
        name: getattr(trustroot, name, None) or getattr(signed_trust_root, name) for name in names
    }


def test_digest_names_the_roots_value() -> None:
    """TrustRoot.digest: SHA-256 of the canonical payload, equal for equal roots only."""
    assert ROOT.digest == hashlib.sha256(bytes.fromhex(ROOT_HEX)).digest()
    assert parse_trust_root(bytes.fromhex(ROOT_HEX)).digest == ROOT.digest
    assert make_root(2, [("Independent Org", IND)], [("Operator Org", OP)]).digest != ROOT.digest
