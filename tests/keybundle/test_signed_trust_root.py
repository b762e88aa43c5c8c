"""Tests for keybundle.signed_trust_root: the COSE_Sign of a trust root (SPEC §5.2), its
verification and rotation (§5.3), and the in-process caches, which remember results by SHA-256
of the exact bytes and never change a verdict (§7.2).

The payload's tests (§5.1) and the fixtures shared here are in test_trustroot.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import VerifyKey

from keybundle import cose_check, dcbor, signed_trust_root
from keybundle.cose import sign1
from keybundle.embedded import Client
from keybundle.errors import Reason, VerificationError
from keybundle.signed_trust_root import (
    CONTENT_TYPE,
    MAX_CACHED_TRUST_ROOTS,
    add_signatures,
    clear_caches,
    parse_unverified_signed_trust_root,
    sign_trust_root,
    verify_rotation,
    verify_rotation_chain,
    verify_self_signed,
)
from keybundle.signers import Ed25519Signer, Signer
from keybundle.state import STATE_FILE, ClientState, CorruptStateError, StateDir
from keybundle.trustroot import TrustRoot, parse_trust_root
from tests.conftest import REPO
from tests.keybundle.test_trustroot import (
    IND,
    KEY_POOL,
    LIMITS,
    OP,
    ROOT,
    ROOT_HEX,
    SIGNED_HEX,
    A,
    ed25519,
    make_root,
    p256,
    reason,
    trust_roots,
)
from tests.keybundle.world import OPERATOR_ORG, World, role_signer

# -- known answers (SPEC §5.2) --


def test_signed_trust_root_known_answer() -> None:
    signed = sign_trust_root(ROOT, [OP, IND])
    assert signed.hex() == SIGNED_HEX
    assert verify_self_signed(signed) == ROOT


def test_signed_trust_root_layout_matches_rfc_9052() -> None:
    """Decode with cbor2 and check every signature with raw libsodium: an independent reading."""
    value = cbor2.loads(bytes.fromhex(SIGNED_HEX))
    assert value.tag == 98
    protected, unprotected, payload, signatures = value.value
    assert cbor2.loads(protected) == {3: CONTENT_TYPE}
    assert unprotected == {}
    assert payload == bytes.fromhex(ROOT_HEX)
    by_kid = {IND.kid: IND, OP.kid: OP}
    assert [cbor2.loads(s[0])[4] for s in signatures] == sorted(by_kid)
    for sign_protected, sign_unprotected, signature in signatures:
        header = cbor2.loads(sign_protected)
        assert header == {1: -8, 4: header[4]}
        assert sign_unprotected == {}
        to_be_signed = cbor2.dumps(["Signature", protected, sign_protected, b"", payload])
        VerifyKey(by_kid[header[4]].public_key().raw).verify(to_be_signed, signature)


def test_signing_in_turn_gives_the_same_bytes() -> None:
    """`keybundle trust-root sign` by each role in turn: signatures are kept sorted by kid."""
    assert add_signatures(sign_trust_root(ROOT, [IND]), [OP]).hex() == SIGNED_HEX
    assert add_signatures(sign_trust_root(ROOT, [OP]), [IND]).hex() == SIGNED_HEX


# -- round trips --


@given(trust_roots(), st.data())
def test_signed_round_trip(root: TrustRoot, data: st.DataObject) -> None:
    # Sign with a subset of the root's own Ed25519 keys (fast and deterministic).
    own = {k.kid for k in (*root.independent.keys, *root.operator.keys)}
    pool = [s for s in KEY_POOL if s.kid in own and isinstance(s, Ed25519Signer)] or [IND]
    signers = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique_by=lambda s: s.kid))
    signed = sign_trust_root(root, signers)
    parsed = parse_unverified_signed_trust_root(signed)
    assert parsed.root == root
    assert parsed.payload == root.encode()
    assert [s.kid for s in parsed.signatures] == sorted(s.kid for s in signers)


# -- strict parsing of the signed envelope ---------------------------------------------------


def _resign(signed: bytes, change: Callable[[list[Any]], object]) -> bytes:
    """A signed trust root decoded, its COSE_Sign array changed by ``change``, re-encoded."""
    value = dcbor.decode(signed, tags=frozenset((98,)))
    assert isinstance(value, dcbor.Tag)
    assert isinstance(value.value, list)
    change(value.value)
    return dcbor.encode(value)


def envelope(change: Callable[[list[Any]], object]) -> bytes:
    """The known-answer signed root, its COSE_Sign array changed by ``change``."""
    return _resign(bytes.fromhex(SIGNED_HEX), change)


MALFORMED_ENVELOPES: dict[str, bytes] = {
    "untagged COSE_Sign": cbor2.dumps(cbor2.loads(bytes.fromhex(SIGNED_HEX)).value),
    "a signed bundle (COSE_Sign1, tag 18)": sign1(ROOT.encode(), IND),
    "bundle content type": envelope(
        lambda b: b.__setitem__(0, dcbor.encode({3: "application/keybundle-payload+cbor"}))
    ),
    "protected header with alg": envelope(
        lambda b: b.__setitem__(0, dcbor.encode({1: -8, 3: CONTENT_TYPE}))
    ),
    "unprotected header not empty": envelope(lambda b: b.__setitem__(1, {4: b"x"})),
    "detached payload": envelope(lambda b: b.__setitem__(2, None)),
    "no signatures": envelope(lambda b: b.__setitem__(3, [])),
    "signatures not sorted by kid": envelope(lambda b: b[3].reverse()),
    "same signature twice": envelope(lambda b: b.__setitem__(3, [b[3][0], b[3][0]])),
    "signature of 63 bytes": envelope(lambda b: b[3][0].__setitem__(2, b[3][0][2][:63])),
    "signer header with content type": envelope(
        lambda b: b[3][0].__setitem__(0, dcbor.encode({1: -8, 3: CONTENT_TYPE, 4: IND.kid}))
    ),
    "signer alg ES384": envelope(
        lambda b: b[3][0].__setitem__(0, dcbor.encode({1: -35, 4: OP.kid}))
    ),
    "signer unprotected header not empty": envelope(lambda b: b[3][0].__setitem__(1, {1: -8})),
    "payload not a trust root": envelope(lambda b: b.__setitem__(2, dcbor.encode({1: 1}))),
}


@pytest.mark.parametrize("data", MALFORMED_ENVELOPES.values(), ids=MALFORMED_ENVELOPES.keys())
def test_malformed_envelope(data: bytes) -> None:
    with pytest.raises(VerificationError) as exc:
        parse_unverified_signed_trust_root(data)
    assert reason(exc) == Reason.MALFORMED_TRUST_ROOT


def test_bundle_given_as_trust_root_is_named() -> None:
    with pytest.raises(VerificationError) as exc:
        verify_self_signed(MALFORMED_ENVELOPES["a signed bundle (COSE_Sign1, tag 18)"])
    assert "COSE_Sign1" in exc.value.message


def test_signing_errors_are_the_callers() -> None:
    with pytest.raises(ValueError, match="already signed"):
        add_signatures(bytes.fromhex(SIGNED_HEX), [IND])
    with pytest.raises(ValueError, match="at least one signer"):
        sign_trust_root(ROOT, [])
    with pytest.raises(TypeError):
        parse_trust_root(bytearray(ROOT.encode()))  # type: ignore[arg-type]


# -- self-signed roots ---------------------------------------------------------------------


def test_self_signed_needs_both_roles() -> None:
    for signers, role_name in (([IND], "operator"), ([OP], "independent")):
        with pytest.raises(VerificationError) as exc:
            verify_self_signed(sign_trust_root(ROOT, signers))
        assert reason(exc) == Reason.TRUST_ROOT_THRESHOLD_NOT_MET
        assert f"the {role_name} role of this root" in exc.value.message


def test_self_signed_ignores_signatures_of_other_keys() -> None:
    """A root of version N+1 carries its predecessor's signatures; they count for nothing."""
    signed = sign_trust_root(ROOT, [IND, OP, A])
    assert verify_self_signed(signed) == ROOT


def test_self_signed_rejects_a_bad_signature_by_its_own_key() -> None:
    signed = envelope(lambda b: b[3][1].__setitem__(2, bytes(64)))
    with pytest.raises(VerificationError) as exc:
        verify_self_signed(signed)
    assert reason(exc) == Reason.TRUST_ROOT_THRESHOLD_NOT_MET
    assert "does not verify" in exc.value.message


def test_self_signed_alg_mismatch() -> None:
    p = p256(9)
    root = make_root(1, [("I", p)], [("O", OP)])
    signed = sign_trust_root(root, [p, OP])

    def claim_eddsa(body: list[Any]) -> None:
        for sig in body[3]:
            if cbor2.loads(sig[0])[4] == p.kid:
                sig[0] = dcbor.encode({1: -8, 4: p.kid})

    with pytest.raises(VerificationError) as exc:
        verify_self_signed(_resign(signed, claim_eddsa))
    assert reason(exc) == Reason.ALG_MISMATCH


def test_p256_signed_root() -> None:
    p, q = p256(11), p256(12)
    root = make_root(1, [("I", p)], [("O", q)])
    assert verify_self_signed(sign_trust_root(root, [p, q])) == root


# -- rotation ------------------------------------------------------------------------------

OLD_IND, OLD_OP = ed25519(40), ed25519(41)
NEW_IND, NEW_OP = ed25519(42), ed25519(43)
OP_X1, OP_X2, OP_Y = ed25519(44), ed25519(45), ed25519(46)

V1 = make_root(1, [("Independent", OLD_IND)], [("Operator", OLD_OP)])


def v(version: int, ind: Signer = NEW_IND, op: Signer = NEW_OP) -> TrustRoot:
    return make_root(version, [("Independent", ind)], [("Operator", op)])


V2 = v(2)
# Operator role 2-of-2 organisations; Operator X holds two keys.
MULTI = make_root(
    1,
    [("Independent", OLD_IND)],
    [("Operator X", OP_X1), ("Operator X", OP_X2), ("Operator Y", OP_Y)],
    operator_threshold=2,
)


def _corrupt(signed: bytes, kid: bytes) -> bytes:
    def change(body: list[Any]) -> None:
        for sig in body[3]:
            if cbor2.loads(sig[0])[4] == kid:
                sig[2] = bytes([sig[2][0] ^ 1]) + sig[2][1:]

    return _resign(signed, change)


def _swap_payload(signed: bytes, root: TrustRoot) -> bytes:
    return _resign(signed, lambda body: body.__setitem__(2, root.encode()))


def _with_sign1_signature(signed: bytes, root: TrustRoot, signer: Signer) -> bytes:
    """Add ``signer``'s COSE_Sign1 signature over the same payload bytes as if it were a
    trust-root signature: the Sig_structure contexts differ, so it must not verify."""
    sign1_signature = cbor2.loads(sign1(root.encode(), signer)).value[3]
    sign_protected = dcbor.encode({1: signer.cose_alg, 4: signer.kid})

    def change(body: list[Any]) -> None:
        body[3].append([sign_protected, {}, sign1_signature])
        body[3].sort(key=lambda s: cbor2.loads(s[0])[4])

    return _resign(signed, change)


ROTATIONS: dict[str, tuple[TrustRoot, Callable[[], bytes], str | None]] = {
    "rotation signed by old and new thresholds": (
        V1, lambda: sign_trust_root(V2, [OLD_IND, OLD_OP, NEW_IND, NEW_OP]), None,
    ),
    "rotation that keeps the keys": (
        V1, lambda: sign_trust_root(v(2, OLD_IND, OLD_OP), [OLD_IND, OLD_OP]), None,
    ),
    "rotation of the operator key only": (
        V1, lambda: sign_trust_root(v(2, OLD_IND), [OLD_IND, OLD_OP, NEW_OP]), None,
    ),
    "rotation signed only by old keys": (
        V1, lambda: sign_trust_root(V2, [OLD_IND, OLD_OP]), Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    ),
    "rotation signed only by new keys": (
        V1, lambda: sign_trust_root(V2, [NEW_IND, NEW_OP]), Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    ),
    "rotation without the old operator": (
        V1, lambda: sign_trust_root(V2, [OLD_IND, NEW_IND, NEW_OP]),
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    ),
    "rotation without the new independent party": (
        V1, lambda: sign_trust_root(V2, [OLD_IND, OLD_OP, NEW_OP]),
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    ),
    "two keys of one organisation count once": (
        MULTI, lambda: sign_trust_root(replace(MULTI, version=2), [OLD_IND, OP_X1, OP_X2]),
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    ),
    "two organisations of the operator role": (
        MULTI, lambda: sign_trust_root(replace(MULTI, version=2), [OLD_IND, OP_X2, OP_Y]), None,
    ),
    "rotation skips a version": (
        V1, lambda: sign_trust_root(v(3), [OLD_IND, OLD_OP, NEW_IND, NEW_OP]),
        Reason.TRUST_ROOT_VERSION,
    ),
    "rotation with the same version": (
        V1, lambda: sign_trust_root(v(1), [OLD_IND, OLD_OP, NEW_IND, NEW_OP]),
        Reason.TRUST_ROOT_VERSION,
    ),
    "rotation to an older version": (
        v(5), lambda: sign_trust_root(v(4), [NEW_IND, NEW_OP]), Reason.TRUST_ROOT_VERSION,
    ),
    "rotation with a corrupted old signature": (
        V1,
        lambda: _corrupt(sign_trust_root(V2, [OLD_IND, OLD_OP, NEW_IND, NEW_OP]), OLD_OP.kid),
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    ),
    "rotation whose payload was altered after signing": (
        V1,
        lambda: _swap_payload(
            sign_trust_root(V2, [OLD_IND, OLD_OP, NEW_IND, NEW_OP]),
            replace(V2, limits=replace(LIMITS, max_epoch_jump=2**62)),
        ),
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    ),
    "rotation signature made as a bundle signature (COSE_Sign1)": (
        V1,
        lambda: _with_sign1_signature(sign_trust_root(V2, [OLD_OP, NEW_IND, NEW_OP]), V2, OLD_IND),
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
    ),
    "rotation that is a signed bundle": (
        V1, lambda: sign1(V2.encode(), OLD_IND), Reason.MALFORMED_TRUST_ROOT,
    ),
}  # fmt: skip


@pytest.mark.parametrize(("current", "make", "expected"), ROTATIONS.values(), ids=ROTATIONS.keys())
def test_rotation(current: TrustRoot, make: Callable[[], bytes], expected: str | None) -> None:
    signed = make()
    if expected is None:
        assert verify_rotation(current, signed) == parse_unverified_signed_trust_root(signed).root
        return
    with pytest.raises(VerificationError) as exc:
        verify_rotation(current, signed)
    assert reason(exc) == expected


def test_rotation_messages_name_the_role_and_version() -> None:
    with pytest.raises(VerificationError) as exc:
        verify_rotation(V1, sign_trust_root(V2, [NEW_IND, NEW_OP]))
    assert "the independent role of the current root (trust-root version 1)" in exc.value.message
    with pytest.raises(VerificationError) as exc:
        verify_rotation(V1, sign_trust_root(V2, [OLD_IND, OLD_OP]))
    assert "the independent role of the new root (trust-root version 2)" in exc.value.message
    with pytest.raises(VerificationError) as exc:
        verify_rotation(V1, sign_trust_root(v(3), [OLD_IND, OLD_OP]))
    assert "must carry version 2; found version 3" in exc.value.message


def _chain(start: int, length: int) -> list[bytes]:
    """Rotations from version ``start`` with fresh keys at every step."""
    out = []
    prev_ind, prev_op = OLD_IND, OLD_OP
    for version in range(start + 1, start + length + 1):
        ind, op = ed25519(100 + 2 * version), ed25519(101 + 2 * version)
        out.append(sign_trust_root(v(version, ind, op), [prev_ind, prev_op, ind, op]))
        prev_ind, prev_op = ind, op
    return out


def test_chain_of_one() -> None:
    assert verify_rotation_chain(V1, _chain(1, 1)).version == 2


def test_chain_of_several() -> None:
    last = verify_rotation_chain(V1, _chain(1, 4))
    assert last.version == 5
    assert last.independent_keys.keys() == {ed25519(110).kid}


def test_empty_chain_keeps_the_root() -> None:
    assert verify_rotation_chain(V1, []) is V1


def test_chain_over_the_cap() -> None:
    chain = _chain(1, 3)
    with pytest.raises(VerificationError) as exc:
        verify_rotation_chain(V1, chain, cap=2)
    assert reason(exc) == Reason.TRUST_ROOT_CHAIN_TOO_LONG
    assert verify_rotation_chain(V1, chain, cap=3).version == 4


def test_chain_over_the_trust_roots_cap_is_rejected_before_any_work() -> None:
    """The cap is the root's limit, checked before parsing a single entry; a caller's larger
    cap does not loosen it."""
    root = replace(V1, limits=replace(LIMITS, max_rotation_chain=2))
    for cap in (None, 10):
        with pytest.raises(VerificationError) as exc:
            verify_rotation_chain(root, [b"junk"] * 3, cap=cap)
        assert reason(exc) == Reason.TRUST_ROOT_CHAIN_TOO_LONG


def test_chain_out_of_order() -> None:
    chain = _chain(1, 3)
    with pytest.raises(VerificationError) as exc:
        verify_rotation_chain(V1, [chain[0], chain[2], chain[1]])
    assert reason(exc) == Reason.TRUST_ROOT_VERSION


def test_chain_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="cap"):
        verify_rotation_chain(V1, [], cap=-1)
    with pytest.raises(TypeError):
        verify_rotation_chain(V1, b"not a list")  # type: ignore[arg-type]


# -- SPEC agreement --


def test_spec_body_protected_header_bytes() -> None:
    """SPEC §5.2 gives the body protected header as `a1 03 78 25` || the content type."""
    spec = (REPO / "SPEC.md").read_text(encoding="utf-8")
    assert "`a1 03 78 25` || `application/keybundle-trust-root+cbor`" in spec
    header = bytes.fromhex("a1037825") + CONTENT_TYPE.encode("ascii")
    assert len(header) == 41
    assert SIGNED_HEX.startswith("d862845829" + header.hex())


# -- in-process caches (SPEC §7.2) --


class Chain:
    """v1 (the World's), v2 and v3 replacing the operator key, each signed by old and new."""

    def __init__(self) -> None:
        self.w = w = World()
        self.op2, self.op3 = role_signer("cache operator v2"), role_signer("cache operator v3")
        self.v2 = w.sign_root(
            w.make_root(2, operator=[(OPERATOR_ORG, self.op2)]),
            [w.independent, w.operator, self.op2],
        )
        self.v3 = w.sign_root(
            w.make_root(3, operator=[(OPERATOR_ORG, self.op3)]),
            [w.independent, self.op2, self.op3],
        )


@pytest.fixture
def chain() -> Iterator[Chain]:
    clear_caches()
    yield Chain()
    clear_caches()


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Records the kid of every trust-root signature that is actually verified."""
    checked: list[bytes] = []
    real = cose_check.verify_cose_signature

    def counting(key: object, *args: object, **kwargs: object) -> None:
        checked.append(key.kid)  # type: ignore[attr-defined]
        real(key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(signed_trust_root, "verify_cose_signature", counting)
    return checked


def test_a_repeated_rotation_chain_checks_no_signature_again(
    chain: Chain, signature_checks: list[bytes]
) -> None:
    first = verify_rotation_chain(chain.w.pinned, [chain.v2, chain.v3])
    assert len(signature_checks) == 6
    again = verify_rotation_chain(chain.w.pinned, [chain.v2, chain.v3])
    assert again is first
    assert len(signature_checks) == 6


def test_a_repeated_self_signed_root_is_the_same_object(
    chain: Chain, signature_checks: list[bytes]
) -> None:
    root = verify_self_signed(chain.w.signed_root)
    count = len(signature_checks)
    assert verify_self_signed(chain.w.signed_root) is root
    assert len(signature_checks) == count


def test_a_parse_is_remembered_by_the_exact_bytes(chain: Chain) -> None:
    parsed = parse_unverified_signed_trust_root(chain.v2)
    assert parse_unverified_signed_trust_root(bytes(chain.v2)) is parsed
    assert parse_unverified_signed_trust_root(chain.v3) is not parsed


def test_a_remembered_step_is_never_taken_from_another_root(chain: Chain) -> None:
    """The key holds the current root's digest: v3 after v2 says nothing of v3 after v1."""
    v2 = verify_rotation(chain.w.pinned, chain.v2)
    verify_rotation(v2, chain.v3)
    with pytest.raises(VerificationError) as info:
        verify_rotation(chain.w.pinned, chain.v3)
    assert info.value.reason == Reason.TRUST_ROOT_VERSION


def test_an_altered_signature_after_a_success_is_still_rejected(chain: Chain) -> None:
    verify_rotation(chain.w.pinned, chain.v2)
    altered = chain.v2[:-1] + bytes([chain.v2[-1] ^ 1])  # the last signature's last byte
    with pytest.raises(VerificationError) as info:
        verify_rotation(chain.w.pinned, altered)
    assert info.value.reason == Reason.TRUST_ROOT_THRESHOLD_NOT_MET


def test_a_failure_is_not_remembered(chain: Chain, signature_checks: list[bytes]) -> None:
    unsigned_by_old = chain.w.sign_root(
        chain.w.make_root(2, operator=[(OPERATOR_ORG, chain.op2)]), [chain.op2]
    )
    for _ in range(2):
        with pytest.raises(VerificationError) as info:
            verify_rotation(chain.w.pinned, unsigned_by_old)
        assert info.value.reason == Reason.TRUST_ROOT_THRESHOLD_NOT_MET
    assert len(signature_checks) == 2  # checked again the second time


def test_the_caches_are_bounded(chain: Chain) -> None:
    cache = signed_trust_root._LRU[int, str](3)
    for n in range(5):
        cache.put(n, str(n))
    assert len(cache) == 3
    assert cache.get(0) is None
    assert cache.get(2) == "2"  # now the most recent: 3 is evicted next
    cache.put(5, "5")
    assert cache.get(3) is None
    assert cache.get(2) == "2"
    for _ in range(MAX_CACHED_TRUST_ROOTS + 5):  # a stream of distinct roots stays bounded
        signed_trust_root._parsed.put(bytes(32), parse_unverified_signed_trust_root(chain.v2))
    assert len(signed_trust_root._parsed) <= MAX_CACHED_TRUST_ROOTS


def test_a_client_reloading_its_state_checks_no_signature_again(
    chain: Chain, signature_checks: list[bytes], tmp_path: Path
) -> None:
    w = chain.w
    signed = w.countersign(w.sign(w.bundle("fleet-c")), chain.op3)
    i2, i3 = w.append(chain.v2), w.append(chain.v3)
    index = w.append(signed)
    package = w.package(signed, index, w.checkpoint(), rotations=[(chain.v2, i2), (chain.v3, i3)])
    client = Client(w.signed_root, tmp_path)
    client.accept(package, now=w.now)
    count = len(signature_checks)
    first = client.load()
    for _ in range(3):
        assert client.load() is first  # the same bytes: the parse is remembered
        client.current_keys("fleet-c", now=w.now)
        client.accept(package, now=w.now)
    assert len(signature_checks) == count


def test_a_state_changed_on_disk_is_parsed_again(chain: Chain, tmp_path: Path) -> None:
    w = chain.w
    store, other = StateDir(tmp_path), StateDir(tmp_path)
    store.save(ClientState())
    before = store.load()
    accepted = Client(w.signed_root, tmp_path)
    accepted.accept(w.fresh_package(), now=w.now)  # another writer replaces the file
    after = store.load()
    assert after is not before
    assert after == other.load()
    assert after.fleets
    (tmp_path / STATE_FILE).write_bytes(b"\xa0")  # edited by hand after a good load
    with pytest.raises(CorruptStateError):
        store.load()
