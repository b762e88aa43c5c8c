"""Universal packages from the log's own history (OPS §7.7): LogHistory, Publisher,
PackageSource."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keybundle.client import verify_package
from keybundle.errors import Reason, VerificationError
from keybundle.package import parse_unverified_package
from keybundle.publisher import (
    GENERATIONS,
    INDEX_FILE,
    STATE_FILE,
    LogHistory,
    PackageSource,
    Publisher,
    _write_generation,
    active_generation,
    fleet_path,
    log_client_for,
)
from keybundle.state import ClientState
from tests.keybundle.fleetlog import FleetLog
from transparency_log import note
from transparency_log.checkpoint import Checkpoint
from transparency_log.errors import LogReason

pytestmark = pytest.mark.timeout(60)

FLEETS = ("a.vault", "b.vault", "c.vault")


@pytest.fixture
def fleet_log(tmp_path: Path) -> FleetLog:
    """Three fleets at epoch 1 under v1, rotations to v2 and v3 (new keys each time), and
    every fleet's latest bundle under v3; cosigned now."""
    fl = FleetLog(tmp_path / "log")
    for fleet in FLEETS:
        fl.add_bundle(fleet)
    fl.rotate()
    fl.add_bundle("a.vault")
    fl.rotate()
    for fleet in FLEETS:
        fl.add_bundle(fleet)
    fl.cosign()
    return fl


def publisher(fl: FleetLog, out: Path, **kwargs: object) -> Publisher:
    kwargs.setdefault("generation_grace", 0)
    return Publisher(
        log_client_for(fl.fetcher(), fl.roots[1]),
        fl.signed_roots[1],
        out,
        **kwargs,  # type: ignore[arg-type]
    )


def packages(out: Path) -> dict[str, bytes]:
    return {f: (out / fleet_path(f)).read_bytes() for f in FLEETS}


# -- the log's history ------------------------------------------------------------------------


def test_history_finds_every_rotation_and_each_fleets_latest_bundle(fleet_log: FleetLog) -> None:
    fl = fleet_log
    client = log_client_for(fl.fetcher(), fl.roots[1])
    history = LogHistory(fl.roots[1])
    assert history.scan(client, client.fetch_checkpoint()) == fl.world.size

    assert [(r.version, r.index) for r in history.rotations] == [
        (2, fl.rotation_index[2]),
        (3, fl.rotation_index[3]),
    ]
    assert [r.signed for r in history.rotations] == [fl.signed_roots[2], fl.signed_roots[3]]
    assert {f: h.epoch for f, h in history.fleets.items()} == {
        "a.vault": 3,
        "b.vault": 2,
        "c.vault": 2,
    }
    assert {h.trust_root_version for h in history.fleets.values()} == {3}
    assert history.root_at(fl.rotation_index[2]).version == 1  # the rotation itself: v1
    assert history.root_at(fl.rotation_index[2] + 1).version == 2
    assert history.current.version == 3
    assert history.skipped == []


def test_history_skips_entries_no_client_may_accept(fleet_log: FleetLog) -> None:
    """A log opened without admission may hold anything: none of it reaches a package."""
    fl = fleet_log
    history = LogHistory(fl.roots[1])
    for index, entry in enumerate(fl.world.entries):
        history.apply(index, entry)
    size = history.size
    forged_root = fl.world.sign_root(fl.world.make_root(4), [fl.keys[3][0]])  # new keys only
    old_keys = fl.bundle("a.vault", version=1)  # signed by the replaced v1 keys
    replayed = fl.bundle("a.vault", epoch=2)  # epoch 2 again, under the v3 keys
    assert history.apply(size, b"not cose") == "skipped"
    assert history.apply(size + 1, forged_root) == "skipped"
    assert history.apply(size + 2, old_keys) == "skipped"
    assert history.apply(size + 3, replayed) == "skipped"
    assert history.apply(size + 4, fl.signed_roots[3]) == "skipped"  # an old version again
    assert [r for _, r in history.skipped] == [
        Reason.MALFORMED_COSE,
        Reason.TRUST_ROOT_THRESHOLD_NOT_MET,
        Reason.UNKNOWN_KEY,
        Reason.ROLLBACK,
        Reason.TRUST_ROOT_VERSION,
    ]
    assert history.fleets["a.vault"].epoch == 3
    with pytest.raises(ValueError, match="not the next one"):
        history.apply(0, b"x")


def test_fleet_path_is_the_fleet_id_and_refuses_anything_else() -> None:
    assert fleet_path("prod-eu.vault") == "fleets/prod-eu.vault.cbor"
    for bad in ("", "../x", ".hidden", "a/b", "A", "x" * 65, "é"):
        with pytest.raises(ValueError, match="not a fleet id"):
            fleet_path(bad)


# -- publishing -------------------------------------------------------------------------------


def test_publish_writes_one_universal_package_per_fleet_and_an_index(
    fleet_log: FleetLog, tmp_path: Path
) -> None:
    fl, out = fleet_log, tmp_path / "out"
    result = publisher(fl, out).publish()
    assert (result.changed, result.size, result.fleets, result.rebuilt) == (
        True,
        fl.world.size,
        3,
        True,
    )
    index = json.loads((out / INDEX_FILE).read_text())
    assert index["format"] == "keybundle-packages/v1"
    assert index["checkpoint"]["size"] == fl.world.size
    assert [t["version"] for t in index["trust_roots"]] == [1, 2, 3]
    for fleet, data in packages(out).items():
        pkg = parse_unverified_package(data)
        assert [r.index for r in pkg.rotations] == [fl.rotation_index[2], fl.rotation_index[3]]
        entry = next(e for e in index["fleets"] if e["fleet"] == fleet)
        assert entry["path"] == fleet_path(fleet)
        assert entry["bytes"] == len(data)
        accepted = verify_package(data, fl.pinned(1), ClientState(), fl.world.now)
        assert (accepted.fleet_id, accepted.trust_root.version) == (fleet, 3)
        assert entry["epoch"] == accepted.epoch
    assert not [p for p in out.rglob("*.tmp")]


def test_publish_is_incremental_and_republishes_only_when_the_note_changes(
    fleet_log: FleetLog, tmp_path: Path
) -> None:
    fl, out = fleet_log, tmp_path / "out"
    pub = publisher(fl, out)
    pub.publish()
    first = packages(out)
    inode = (out / fleet_path("a.vault")).stat().st_ino

    same = pub.publish()
    assert (same.changed, same.new_entries) == (False, 0)
    assert (out / fleet_path("a.vault")).stat().st_ino == inode

    fl.cosign(fl.world.now + 3600)  # the log re-cosigned its idle checkpoint
    recosigned = pub.publish()
    assert (recosigned.changed, recosigned.new_entries) == (True, 0)
    assert packages(out) != first
    note_text = parse_unverified_package(packages(out)["a.vault"]).proof.checkpoint_note
    assert note_text == (fl.root / "checkpoint").read_bytes()

    fl.add_bundle("b.vault")
    fl.cosign(fl.world.now + 7200)
    grown = pub.publish()
    assert (grown.changed, grown.new_entries, grown.rebuilt) == (True, 1, False)
    b = parse_unverified_package(packages(out)["b.vault"])
    assert b.consistency is not None
    assert b.consistency.old_size == fl.world.size - 1  # from the previously published size


def test_a_saved_state_is_reused_and_a_damaged_one_rebuilt(
    fleet_log: FleetLog, tmp_path: Path
) -> None:
    fl, out = fleet_log, tmp_path / "out"
    publisher(fl, out).publish()
    first = packages(out)

    again = publisher(fl, out).publish()
    assert (again.changed, again.rebuilt, again.new_entries) == (False, False, 0)

    state = out / STATE_FILE
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0x01
    state.write_bytes(bytes(data))
    fl.cosign(fl.world.now + 60)
    damaged = publisher(fl, out).publish()
    assert (damaged.changed, damaged.rebuilt, damaged.new_entries) == (True, True, fl.world.size)
    assert set(packages(out)) == set(first)

    (out / "fleets").unlink()  # someone removed what was served: it is written again
    restored = publisher(fl, out).publish()
    assert (restored.changed, restored.rebuilt) == (True, False)
    assert set(packages(out)) == set(first)

    other_start = Publisher(
        log_client_for(fl.fetcher(), fl.roots[1]), fl.pinned(2), out, generation_grace=0
    ).publish()  # a state made from another starting root is not reused
    assert other_start.rebuilt


def test_a_forked_log_is_an_error_and_nothing_is_published(
    fleet_log: FleetLog, tmp_path: Path
) -> None:
    fl, out = fleet_log, tmp_path / "out"
    publisher(fl, out).publish()
    before = packages(out)
    index_before = (out / INDEX_FILE).read_bytes()
    forged = Checkpoint(
        "log.example/keybundle", fl.world.size, b"\x13" * 32
    ).body()  # same size, another root, signed by the log key
    (fl.root / "checkpoint").write_text(note.sign(forged, fl.world.log_signer))
    with pytest.raises(VerificationError) as info:
        publisher(fl, out).publish()
    assert info.value.reason == LogReason.BAD_CONSISTENCY_PROOF
    assert packages(out) == before
    assert (out / INDEX_FILE).read_bytes() == index_before


def test_generations_alternate_behind_one_link_and_wait_out_the_grace(tmp_path: Path) -> None:
    slept: list[float] = []
    _write_generation(tmp_path, {"a.cbor": b"first"}, grace=30, sleep=slept.append)
    assert active_generation(tmp_path) == GENERATIONS[0]
    assert (tmp_path / "fleets" / "a.cbor").read_bytes() == b"first"
    assert slept == []  # nothing was served before: no wait

    _write_generation(tmp_path, {"a.cbor": b"second!"}, grace=30, sleep=slept.append)
    assert active_generation(tmp_path) == GENERATIONS[1]
    assert (tmp_path / "fleets" / "a.cbor").read_bytes() == b"second!"
    assert (tmp_path / GENERATIONS[0] / "a.cbor").read_bytes() == b"first"  # untouched
    assert len(slept) == 1
    assert 0 < slept[0] <= 30  # the first generation was served moments ago

    _write_generation(tmp_path, {"a.cbor": b"3"}, grace=0, sleep=slept.append)
    assert (tmp_path / "fleets" / "a.cbor").read_bytes() == b"3"  # shorter: truncated
    assert (tmp_path / GENERATIONS[1] / "a.cbor").read_bytes() == b"second!"
    assert len(slept) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_publisher_never_replaces_a_fleets_path_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "fleets").mkdir()
    with pytest.raises(ValueError, match="not the symbolic link"):
        _write_generation(tmp_path, {"a.cbor": b"x"}, grace=0)
    other = tmp_path / "other"
    other.mkdir()
    (other / "fleets").symlink_to("/etc")
    with pytest.raises(ValueError, match="not at a generation"):
        _write_generation(other, {"a.cbor": b"x"}, grace=0)


# -- the in-process source --------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_package_source_serves_the_publishers_packages_from_a_cache(
    fleet_log: FleetLog, tmp_path: Path
) -> None:
    fl, out = fleet_log, tmp_path / "out"
    publisher(fl, out).publish()
    clock = Clock()
    source = PackageSource(fl.fetcher(), fl.signed_roots[1], refresh_interval=5, clock=clock)
    for fleet, data in packages(out).items():
        assert source.latest(fleet) == data
        assert source.latest(fleet) is source.latest(fleet)  # warm: the cached bytes
    assert source.fleets() == list(FLEETS)
    with pytest.raises(KeyError):
        source.latest("nobody.vault")

    fl.add_bundle("c.vault")
    fl.cosign(fl.world.now + 10)
    assert parse_unverified_package(source.latest("c.vault")).proof.index < fl.world.size - 1
    clock.t = 5.0  # the refresh interval passed: the next call refreshes
    latest = source.latest("c.vault")
    assert parse_unverified_package(latest).proof.index == fl.world.size - 1
    accepted = verify_package(latest, fl.pinned(1), ClientState(), fl.world.now + 10)
    assert accepted.epoch == 3
    assert source.refresh() is False  # nothing new


def test_package_source_keeps_its_packages_when_a_refresh_fails(
    fleet_log: FleetLog, tmp_path: Path
) -> None:
    fl = fleet_log
    clock = Clock()
    source = PackageSource(fl.fetcher(), fl.signed_roots[1], refresh_interval=1, clock=clock)
    data = source.latest("a.vault")
    checkpoint = fl.root / "checkpoint"
    saved = checkpoint.read_bytes()
    os.unlink(checkpoint)
    clock.t = 2.0
    assert source.latest("a.vault") == data
    assert isinstance(source.last_error, OSError)
    checkpoint.write_bytes(saved)
    assert source.refresh() is False
    assert source.last_error is None


def test_package_source_is_thread_safe_with_a_background_refresh(fleet_log: FleetLog) -> None:
    fl = fleet_log
    source = PackageSource(fl.fetcher(), fl.signed_roots[1], refresh_interval=0.01)
    errors: list[BaseException] = []
    got: dict[str, set[bytes]] = {f: set() for f in FLEETS}

    def reader(n: int) -> None:
        try:
            for i in range(200):
                fleet = FLEETS[(n + i) % 3]
                got[fleet].add(source.latest(fleet))
        except BaseException as e:
            errors.append(e)

    with source:
        source.start()
        threads = [threading.Thread(target=reader, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        fl.cosign(fl.world.now + 1)  # a new note while they read
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    for fleet, seen in got.items():
        for data in seen:
            assert verify_package(data, fl.pinned(1), ClientState(), fl.world.now + 1)
        assert 1 <= len(seen) <= 2, fleet


def test_the_fast_assembly_is_byte_for_byte_the_package_encoding(
    fleet_log: FleetLog, tmp_path: Path
) -> None:
    """PackageSet.package concatenates pre-encoded parts; Package.encode is the reference."""
    fl = fleet_log
    pub = publisher(fl, tmp_path / "out")
    pub.publish()
    fl.add_bundle("a.vault")
    fl.cosign(fl.world.now + 5)
    pub.publish()  # now with a consistency proof and two rotations
    packages_ = pub.packages
    assert packages_ is not None
    assert packages_.consistency is not None
    assert len(packages_.rotations) == 2
    for fleet in FLEETS:
        assert packages_.package(fleet) == packages_.encode(fleet)
    bare_log = FleetLog(tmp_path / "bare2")
    bare_log.add_bundle("a.vault")
    bare_log.cosign()
    bare = publisher(bare_log, tmp_path / "bare-out")
    bare.publish()
    assert bare.packages is not None
    assert bare.packages.rotations == ()
    assert bare.packages.package("a.vault") == bare.packages.encode("a.vault")


def test_package_source_as_the_readme_shows(fleet_log: FleetLog) -> None:
    """README "Delivering packages": a background refresh, then latest() from memory."""
    from keybundle import PackageSource as Exported  # the public name the README imports

    fl = fleet_log
    source = Exported(fl.fetcher(), fl.signed_roots[1], refresh_interval=0.05)
    source.start()
    try:
        package = source.latest("a.vault")
        fl.cosign(fl.world.now + 30)  # the log re-cosigned: the background refresh sees it
        deadline = threading.Event()
        for _ in range(200):
            if source.latest("a.vault") != package:
                break
            deadline.wait(0.05)
        fresh = source.latest("a.vault")
    finally:
        source.close()
    assert fresh != package
    assert verify_package(fresh, fl.pinned(1), ClientState(), fl.world.now + 30).epoch == 3


def test_a_state_naming_entries_the_log_does_not_hold_is_rebuilt(
    fleet_log: FleetLog, tmp_path: Path
) -> None:
    """A state with a valid checksum but wrong contents (edited, or from a bug) only costs
    a full read of the log."""
    import hashlib

    fl, out = fleet_log, tmp_path / "out"
    publisher(fl, out).publish()
    state = json.loads((out / STATE_FILE).read_text())
    edits: list[Callable[[dict[str, Any]], None]] = [
        lambda body: body["fleets"][0].__setitem__(2, 10_000),  # beyond the tree
        lambda body: body["fleets"][0].__setitem__(3, "00" * 32),  # another digest
        lambda body: body["rotations"].reverse(),  # versions out of order
    ]
    for edit in edits:
        body: dict[str, Any] = json.loads(json.dumps(state["body"]))
        edit(body)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        (out / STATE_FILE).write_text(
            json.dumps({"body": body, "sha256": hashlib.sha256(canonical).hexdigest()})
        )
        result = publisher(fl, out).publish()
        assert result.rebuilt
        assert result.new_entries == fl.world.size


def test_quorum_short_names_the_versions_whose_clients_would_not_count_a_quorum(
    fleet_log: FleetLog,
) -> None:
    from keybundle.publisher import quorum_short

    fl = fleet_log
    w = fl.world
    roots = [fl.pinned(v) for v in (1, 2, 3)]
    assert quorum_short(w.checkpoint(), roots, w.now) == ()
    one = w.checkpoint(witnesses=w.witnesses[:1])  # the policy asks for both
    assert quorum_short(one, roots, w.now) == (1, 2, 3)
    assert quorum_short(w.checkpoint(), roots, w.now + 2 * 86_400) == (1, 2, 3)  # stale

    # A v4 whose policy names only the second witness, with a quorum of it: a checkpoint
    # cosigned by the first witness alone satisfies nobody, by both satisfies everyone.
    from transparency_log.policy import parse_policy

    lines = w.policy_text.splitlines()
    log_line = next(line for line in lines if line.startswith("log "))
    second = next(line for line in lines if line.startswith("witness w2 "))
    text = f"{log_line}\n{second}\nquorum w2\n"
    v4 = w.make_root(4, policy=parse_policy(text))
    assert quorum_short(w.checkpoint(), [*roots, v4], w.now) == ()
    assert quorum_short(one, [*roots, v4], w.now) == (1, 2, 3, 4)
    only_second = w.checkpoint(witnesses=w.witnesses[1:])
    assert quorum_short(only_second, [*roots, v4], w.now) == (1, 2, 3)
