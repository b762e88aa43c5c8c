"""The in-process caches of keybundle.signed_trust_root (SPEC §5.3, §7.2): results are
remembered by SHA-256 of the exact bytes, and no remembered result changes a verdict.

The format, signature and rotation rules themselves are tested in test_trustroot.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keybundle import cose_check, signed_trust_root
from keybundle.embedded import Client
from keybundle.errors import Reason, VerificationError
from keybundle.signed_trust_root import (
    MAX_CACHED_TRUST_ROOTS,
    clear_caches,
    parse_unverified_signed_trust_root,
    verify_rotation,
    verify_rotation_chain,
    verify_self_signed,
)
from keybundle.state import STATE_FILE, ClientState, CorruptStateError, StateDir
from tests.keybundle.world import OPERATOR_ORG, World, role_signer


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
