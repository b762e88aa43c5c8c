"""The auditor (OPS §8.1-§8.3) against real logs served over HTTP on 127.0.0.1.

Each log is written by the real appender (without admission, so that tests can log what an
admitting log would refuse) into a tile directory, and served by a small static WSGI app on
waitress that can switch directories (a fork) and inject bad answers. The monitor reads it
with the real HTTPFetcher.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from waitress.server import create_server  # type: ignore[import-untyped]

from keybundle import monitor_judges
from keybundle.evidence import verify_evidence
from keybundle.monitor import (
    MAX_ALLOW_LIST_BYTES,
    Event,
    Monitor,
    Status,
    parse_allow_list,
)
from keybundle.monitor_judges import ProcessJudge, Rejection, SerialJudge
from keybundle.monitor_state import (
    MAX_MONITOR_STATE_BYTES,
    CorruptStateError,
    MonitorLockedError,
    StateDir,
)
from keybundle.payload import FleetKey
from keybundle.signers import Ed25519Signer
from tests.keybundle.world import DEFAULT_FLEET, LOG_ORIGIN, World, fleet_keys, seed
from transparency_log import note
from transparency_log.appender import Log
from transparency_log.checkpoint import verify_checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.fetcher import DirectoryFetcher, HTTPFetcher
from transparency_log.server import LogServer
from transparency_log.storage import DirectoryTileStore
from transparency_log.tlog_client import LogClient
from transparency_log.witness import (
    FileStateStore,
    Witness,
    cosign_checkpoint,
    make_witness_server,
)
from transparency_log.witness_client import (
    WitnessEndpoint,
    WitnessOutcome,
    collect_cosignatures,
)

pytestmark = pytest.mark.timeout(60)

FLEET = DEFAULT_FLEET


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- a log on disk ---------------------------------------------------------------------------


def cosign(
    root: Path, world: World, *, at: int | None = None, witnesses: Sequence[Any] | None = None
) -> None:
    """Add the world's witnesses' cosignatures to the log's published checkpoint."""
    path = root / "checkpoint"
    data = path.read_bytes()
    text = data.split(b"\n\n", 1)[0] + b"\n"
    lines = "".join(
        cosign_checkpoint(text, w, world.now if at is None else at)
        for w in (world.witnesses if witnesses is None else witnesses)
    )
    path.write_bytes(data + lines.encode())


def append(root: Path, world: World, entries: Sequence[bytes], *, cosigned: bool = True) -> None:
    """Append ``entries`` to the log in ``root`` (created if new), then cosign its checkpoint."""
    with Log.open(
        DirectoryTileStore(root, fsync=False),
        root / ".state",
        origin=LOG_ORIGIN,
        signer=world.log_signer,
        verifier=world.log_signer.verifier(),
        fsync=False,
    ) as log:
        if entries:
            log.add_many(list(entries))
    if cosigned:
        cosign(root, world)


def history(world: World, fleet: str = FLEET, epochs: int = 3) -> list[bytes]:
    """Epochs 1..``epochs`` of ``fleet``, each chained to the previous (world.publish keeps
    the digests for ``previous='auto'``)."""
    return [world.publish(fleet, e)[0] for e in range(1, epochs + 1)]


# --- a static server -------------------------------------------------------------------------


@dataclass
class StaticLog:
    """Serves ``root`` (switchable) on 127.0.0.1; ``overrides`` answer some paths instead."""

    root: Path
    overrides: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""
    validators: bool = False
    """Send Last-Modified (the file's mtime) and Date, and answer If-Modified-Since."""
    conditional: list[str] = field(default_factory=list)
    """The If-Modified-Since values received."""

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"].lstrip("/")
        self.requests.append(path)
        headers = [("Content-Type", "application/octet-stream")]
        if path in self.overrides:
            status, body = self.overrides[path]
        else:
            file = self.root / path
            if ".." in path or not file.is_file():
                status, body = 404, b"not found\n"
            else:
                status, body = 200, file.read_bytes()
                if self.validators:
                    mtime = int(file.stat().st_mtime)
                    headers.append(("Last-Modified", formatdate(mtime, usegmt=True)))
                    headers.append(("Date", formatdate(time.time(), usegmt=True)))
                    since = environ.get("HTTP_IF_MODIFIED_SINCE")
                    if since is not None:
                        self.conditional.append(since)
                        if mtime <= parsedate_to_datetime(since).timestamp():
                            status, body = 304, b""
        reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}.get(status, "Error")
        start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[StaticLog]:
    static = StaticLog(tmp_path / "log")
    static.root.mkdir()
    server = LogServer(create_server(static.app, host="127.0.0.1", port=0, threads=4))
    static.url = f"http://127.0.0.1:{server.port}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield static
    finally:
        server.close()
        thread.join(timeout=5)


@dataclass
class Run:
    status: Status
    events: list[Event]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e["event"] == kind]


def monitor_pass(
    served: StaticLog,
    world: World,
    state: Path,
    *,
    allow: frozenset[str] | None = None,
    now: int | None = None,
    **options: Any,
) -> Run:
    """One pass of a fresh Monitor over the served log (as ``keybundle monitor --once``)."""
    events: list[Event] = []
    directory = StateDir(state, fsync=False)
    directory.lock()
    try:
        with HTTPFetcher(served.url, timeout=5, retries=0) as fetcher:
            monitor = Monitor(
                fetcher, world.signed_root, directory, emit=events.append, allow_keys=allow,
                **options,
            )  # fmt: skip
            status = monitor.run_pass(world.now if now is None else now)
    finally:
        directory.unlock()
    json.dumps(events)  # every event is JSON
    return Run(status, events)


def only_evidence(run: Run) -> Path:
    (found,) = run.of("misbehaviour")
    assert found["evidence"] is not None
    return Path(found["evidence"])


# --- following a clean log ---------------------------------------------------------------------


def test_clean_follow_with_growth_between_passes(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=2))
    state = tmp_path / "state"

    first = monitor_pass(served, world, state)
    assert first.status == Status.CLEAN
    assert [(e["fleet"], e["epoch"]) for e in first.of("epoch")] == [(FLEET, 1), (FLEET, 2)]
    assert first.of("pass")[0]["verified_size"] == 2

    append(served.root, world, [world.publish(FLEET, 3)[0], world.publish("other.fleet", 1)[0]])
    served.requests.clear()
    second = monitor_pass(served, world, state)
    assert second.status == Status.CLEAN
    assert [(e["fleet"], e["epoch"]) for e in second.of("epoch")] == [
        (FLEET, 3),
        ("other.fleet", 1),
    ]
    assert second.of("pass")[0]["verified_size"] == 4
    # Only the new bundle was downloaded (a partial one), never the old entries again.
    assert [p for p in served.requests if p.startswith("tile/entries")] == ["tile/entries/000.p/4"]

    third = monitor_pass(served, world, state)
    assert third.status == Status.CLEAN
    assert third.of("epoch") == []


def test_a_fresh_monitor_on_an_empty_log_is_clean(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, [])
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.CLEAN
    assert run.of("pass")[0]["verified_size"] == 0


# --- a log that changes its history --------------------------------------------------------------


def switch_to_rewritten_log(
    served: StaticLog, tmp_path: Path, world: World, entries: list[bytes]
) -> None:
    """Serve, from now on, another log (same key, same origin) holding ``entries``."""
    other = tmp_path / "rewritten"
    append(other, world, entries)
    served.root = other


def test_a_log_that_rewrites_an_entry_is_caught_with_proof(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    entries = history(world, epochs=3)
    append(served.root, world, entries)
    state = tmp_path / "state"
    assert monitor_pass(served, world, state).status == Status.CLEAN

    forged = world.signed_bundle(FLEET, 2, keys=fleet_keys(FLEET, 99))
    switch_to_rewritten_log(
        served, tmp_path, world, [entries[0], forged, entries[2], history(world, "b", 1)[0]]
    )
    run = monitor_pass(served, world, state)
    assert run.status == Status.MISBEHAVIOUR
    (found,) = run.of("misbehaviour")
    assert (found["kind"], found["reason"]) == ("inconsistent_checkpoints", "BAD_CONSISTENCY_PROOF")
    finding = verify_evidence(only_evidence(run).read_bytes(), world.pinned)
    assert finding.sizes == (3, 4)
    # The state stays at the last consistent checkpoint, and the fork is reported again.
    again = monitor_pass(served, world, state)
    assert again.status == Status.MISBEHAVIOUR
    assert only_evidence(again) == only_evidence(run)


def test_a_log_that_forks_at_one_size_is_a_split_view(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    entries = history(world, epochs=2)
    append(served.root, world, entries)
    state = tmp_path / "state"
    assert monitor_pass(served, world, state).status == Status.CLEAN

    switch_to_rewritten_log(served, tmp_path, world, [entries[0], history(world, "b", 1)[0]])
    run = monitor_pass(served, world, state)
    assert run.status == Status.MISBEHAVIOUR
    (found,) = run.of("misbehaviour")
    assert (found["kind"], found["reason"]) == ("split_view", "INCONSISTENT_CHECKPOINT")
    finding = verify_evidence(only_evidence(run).read_bytes(), world.pinned)
    assert finding.sizes == (2, 2)


def test_a_smaller_checkpoint_is_a_warning_and_could_not_check(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    entries = history(world, epochs=3)
    append(served.root, world, entries[:2])
    snapshot = tmp_path / "snapshot"
    shutil.copytree(served.root, snapshot)
    append(served.root, world, entries[2:])
    state = tmp_path / "state"
    assert monitor_pass(served, world, state).status == Status.CLEAN
    served.root = snapshot  # a stale mirror
    run = monitor_pass(served, world, state)
    assert run.status == Status.UNCHECKED
    assert "smaller" in run.of("warning")[0]["message"]
    assert run.of("misbehaviour") == []


# --- what the server sends ----------------------------------------------------------------------


def test_an_entry_bundle_that_does_not_match_the_tiles(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    entries = history(world, epochs=3)
    append(served.root, world, entries)
    path = "tile/entries/000.p/3"
    data = bytearray((served.root / path).read_bytes())
    data[-1] ^= 1
    served.overrides[path] = (200, bytes(data))
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.MISBEHAVIOUR
    (found,) = run.of("misbehaviour")
    assert (found["kind"], found["reason"]) == ("tile_mismatch", "MALFORMED_TILE")
    finding = verify_evidence(only_evidence(run).read_bytes(), world.pinned)
    assert not finding.proven
    assert run.of("pass")[0]["verified_size"] is None  # nothing was accepted


def test_a_hash_tile_that_does_not_match_the_signed_root(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=3))
    served.overrides["tile/0/000.p/3"] = (200, bytes(96))
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.MISBEHAVIOUR
    assert run.of("misbehaviour")[0]["kind"] == "tile_mismatch"
    verify_evidence(only_evidence(run).read_bytes(), world.pinned)


def test_a_truncated_entry_bundle_is_misbehaviour(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=3))
    path = "tile/entries/000.p/3"
    served.overrides[path] = (200, (served.root / path).read_bytes()[:-10])
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.MISBEHAVIOUR
    assert "truncated" in run.of("misbehaviour")[0]["message"]
    verify_evidence(only_evidence(run).read_bytes(), world.pinned)


def test_an_oversized_answer_could_not_be_checked(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=3))
    served.overrides["tile/0/000.p/3"] = (200, bytes(1 << 20))
    state = tmp_path / "state"
    run = monitor_pass(served, world, state)
    assert run.status == Status.UNCHECKED
    (error,) = run.of("error")
    assert "larger than 96 bytes" in error["message"]
    assert run.of("misbehaviour") == []
    assert not (state / "evidence").exists()
    served.overrides.clear()  # the next pass, with a well-behaved server, catches up
    assert monitor_pass(served, world, state).status == Status.CLEAN


def test_a_server_error_could_not_be_checked(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1))
    served.overrides["checkpoint"] = (500, b"down\n")
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.UNCHECKED
    assert "HTTP 500" in run.of("error")[0]["message"]


def test_a_checkpoint_without_the_witness_quorum_could_not_be_checked(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1), cosigned=False)
    cosign(served.root, world, witnesses=world.witnesses[:1])  # quorum is both witnesses
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.UNCHECKED
    assert run.of("error")[0]["reason"] == "QUORUM_NOT_MET"


def test_health_reports_checkpoint_age_and_missing_witnesses(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World(quorum="any")
    append(served.root, world, history(world, epochs=1), cosigned=False)
    cosign(served.root, world, witnesses=world.witnesses[:1], at=world.now - 100)
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.CLEAN
    (health,) = run.of("health")
    assert health["checkpoint_age"] == 100
    assert health["missing_witnesses"] == [world.witnesses[1].name]
    assert health["behind"] == 1


def test_a_cosignature_a_second_ahead_of_the_clock_has_age_zero(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1), cosigned=False)
    cosign(served.root, world, at=world.now + 1)
    (health,) = monitor_pass(served, world, tmp_path / "state").of("health")
    assert health["checkpoint_age"] == 0  # never negative
    assert health["future_witnesses"] == []


def test_a_cosignature_beyond_the_clock_skew_counts_for_no_age(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World(quorum="any")
    skew = world.pinned.limits.clock_skew
    ahead, behind = world.witnesses
    append(served.root, world, history(world, epochs=1), cosigned=False)
    cosign(served.root, world, witnesses=[ahead], at=world.now + skew + 1)
    cosign(served.root, world, witnesses=[behind], at=world.now - 50)
    (health,) = monitor_pass(served, world, tmp_path / "state").of("health")
    assert health["checkpoint_age"] == 50
    assert health["future_witnesses"] == [ahead.name]
    assert health["stale_witnesses"] == []


# --- fleet history ----------------------------------------------------------------------------


def history_finding(
    served: StaticLog, tmp_path: Path, world: World, entries: list[bytes], **kw: Any
) -> tuple[Run, Event]:
    append(served.root, world, entries)
    run = monitor_pass(served, world, tmp_path / "state", **kw)
    assert run.status == Status.MISBEHAVIOUR
    (found,) = run.of("misbehaviour")
    finding = verify_evidence(Path(found["evidence"]).read_bytes(), world.pinned)
    assert (finding.kind, finding.reason, finding.index) == (
        "entries",
        found["reason"],
        found["index"],
    )
    return run, found


def test_a_fleet_epoch_gap(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    first = world.publish(FLEET, 1)[0]
    other = world.publish("other.fleet", 1)[0]
    skipped = world.signed_bundle(FLEET, 3, previous=bytes(32))
    run, found = history_finding(served, tmp_path, world, [first, other, skipped])
    assert (found["reason"], found["index"]) == ("EPOCH_GAP", 2)
    assert "epochs 2..2 are missing" in found["message"]
    # The gap's evidence carries every entry from the fleet's head to the gap.
    evidence = json.loads(Path(found["evidence"]).read_bytes())
    assert [(r["start"], len(r["entries"])) for r in evidence["ranges"]] == [(0, 3)]
    assert run.of("pass")[0]["verified_size"] == 3  # the log itself is consistent


def test_a_fleet_that_does_not_start_at_epoch_1(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    _, found = history_finding(
        served, tmp_path, world, [world.signed_bundle(FLEET, 2, previous=bytes(32))]
    )
    assert (found["reason"], found["index"]) == ("EPOCH_GAP", 0)


def test_a_duplicate_epoch(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    first = world.publish(FLEET, 1)[0]
    twin = world.signed_bundle(FLEET, 1, keys=fleet_keys(FLEET, 7))
    run, found = history_finding(served, tmp_path, world, [first, twin])
    assert (found["reason"], found["index"]) == ("EPOCH_CONFLICT", 1)
    assert len(run.of("epoch")) == 1


def test_a_rollback_and_a_broken_chain(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    entries = history(world, epochs=2)
    stale = world.signed_bundle(FLEET, 1, keys=fleet_keys(FLEET, 8))
    unchained = world.signed_bundle(FLEET, 3, previous=bytes(32))
    append(served.root, world, [*entries, stale, unchained])
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.MISBEHAVIOUR
    found = run.of("misbehaviour")
    assert [(f["reason"], f["index"]) for f in found] == [("ROLLBACK", 2), ("BROKEN_CHAIN", 3)]
    for f in found:
        verify_evidence(Path(f["evidence"]).read_bytes(), world.pinned)


def test_an_entry_that_is_not_a_valid_bundle(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    good = world.publish(FLEET, 1)[0]
    unsigned = world.sign(world.bundle("other.fleet", 1))  # no countersignature
    junk = b"not a bundle"
    append(served.root, world, [good, unsigned, junk])
    run = monitor_pass(served, world, tmp_path / "state")
    found = run.of("misbehaviour")
    assert [(f["reason"], f["index"]) for f in found] == [
        ("COUNTERSIGNATURE_THRESHOLD_NOT_MET", 1),
        ("MALFORMED_COSE", 2),
    ]
    for f in found:
        verify_evidence(Path(f["evidence"]).read_bytes(), world.pinned)


def test_a_key_that_is_not_on_the_allow_list(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    entries = history(world, epochs=2)
    allowed = frozenset(k.fingerprint for k in fleet_keys(FLEET, 1))
    _, found = history_finding(served, tmp_path, world, entries, allow=allowed)
    assert (found["reason"], found["index"]) == ("UNEXPECTED_KEY", 1)
    unexpected = sorted(k.fingerprint for k in fleet_keys(FLEET, 2))
    # SPEC §9: the message names the entry and the keys that are not on the list.
    assert found["message"] == (
        f"entry 1 (fleet {FLEET!r} epoch 2) carries key(s) not on the allow-list: "
        + ", ".join(unexpected)
    )
    assert json.loads(Path(found["evidence"]).read_bytes())["fingerprints"] == unexpected


def test_key_deltas_per_epoch(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    kept = fleet_keys(FLEET, 1)[0]
    added = fleet_keys(FLEET, 2)[1]
    one = world.publish(FLEET, 1)[0]
    renamed = FleetKey("hsm-03.x25519", added.algorithm, added.public_key, added.usage)
    two = world.publish(FLEET, 2, keys=[kept, renamed])[0]
    append(served.root, world, [one, two])
    run = monitor_pass(served, world, tmp_path / "state")
    assert run.status == Status.CLEAN
    first, second = run.of("epoch")
    assert len(first["added"]) == 4
    assert first["removed"] == []
    assert first["kept"] == []
    assert [k["fingerprint"] for k in second["kept"]] == [kept.fingerprint]
    assert [k["fingerprint"] for k in second["added"]] == [added.fingerprint]
    assert len(second["removed"]) == 3
    assert {"id", "algorithm", "usage", "fingerprint"} == set(second["kept"][0])


def test_allow_list_files() -> None:
    fp = "ab" * 32
    assert parse_allow_list(f"# fleet keys\n\n{fp}\n  {fp}  \n") == frozenset({fp})
    with pytest.raises(ValueError, match="line 2"):
        parse_allow_list(f"{fp}\n{fp.upper()}\n")


def test_an_allow_list_over_max_allow_list_bytes_is_refused_whole() -> None:
    # SPEC §11: the limit is parse_allow_list's own, whatever cap the file's reader has.
    fp = "ab" * 32
    at_limit = f"{fp}\n" + "#".ljust(MAX_ALLOW_LIST_BYTES - len(fp) - 2, "x") + "\n"
    assert parse_allow_list(at_limit) == frozenset({fp})
    with pytest.raises(ValueError, match="MAX_ALLOW_LIST_BYTES") as caught:
        parse_allow_list(at_limit + fp)  # a valid prefix must not be accepted cut short
    assert str(caught.value) == (
        f"the allow-list is {MAX_ALLOW_LIST_BYTES + 64} bytes, more than MAX_ALLOW_LIST_BYTES "
        f"({MAX_ALLOW_LIST_BYTES} bytes); shorten its comments or drop keys no longer in use"
    )
    with pytest.raises(ValueError, match="MAX_ALLOW_LIST_BYTES"):
        parse_allow_list("#" + "é" * (MAX_ALLOW_LIST_BYTES // 2))  # counted in UTF-8 bytes


# --- trust-root rotations in the log --------------------------------------------------------------


def test_a_rotation_in_the_log_changes_who_may_sign(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    one = world.publish(FLEET, 1)[0]
    new_independent = Ed25519Signer(seed("independent v2"))
    new_operator = Ed25519Signer(seed("operator v2"))
    v2 = world.make_root(
        2,
        independent=[("Independent Org", new_independent)],
        operator=[("Operator Org", new_operator)],
    )
    rotation = world.sign_root(
        v2, [world.independent, world.operator, new_independent, new_operator]
    )
    two = world.countersign(world.sign(world.bundle(FLEET, 2), new_independent), new_operator)
    old_keys_three = world.countersign(world.sign(world.bundle(FLEET, 3, previous=bytes(32))))
    append(served.root, world, [one, rotation, two, old_keys_three])
    run = monitor_pass(served, world, tmp_path / "state")
    assert [e["version"] for e in run.of("trust_root")] == [2]
    assert [(e["fleet"], e["epoch"]) for e in run.of("epoch")] == [(FLEET, 1), (FLEET, 2)]
    (found,) = run.of("misbehaviour")
    assert (found["reason"], found["index"]) == ("UNKNOWN_KEY", 3)
    # The evidence carries the rotation, so the signatures are judged under version 2.
    finding = verify_evidence(Path(found["evidence"]).read_bytes(), world.pinned)
    assert finding.reason == "UNKNOWN_KEY"


def rotation_log(world: World) -> list[bytes]:
    """Epoch 1; a rotation to new keys; epoch 2 by them; epoch 3 by the old ones (refused);
    a rotation that skips a version (refused); epoch 3 by the new keys."""
    one = world.publish(FLEET, 1)[0]
    new_independent = Ed25519Signer(seed("independent v2"))
    new_operator = Ed25519Signer(seed("operator v2"))
    signers = [world.independent, world.operator, new_independent, new_operator]
    independent = [("Independent Org", new_independent)]
    operator = [("Operator Org", new_operator)]
    v2 = world.make_root(2, independent=independent, operator=operator)
    v4 = world.make_root(4, independent=independent, operator=operator)
    rotation, skipped = world.sign_root(v2, signers), world.sign_root(v4, signers)
    two = world.countersign(world.sign(world.bundle(FLEET, 2), new_independent), new_operator)
    old_keys = world.countersign(world.sign(world.bundle(FLEET, 3, previous=bytes(32))))
    three = world.countersign(
        world.sign(world.bundle(FLEET, 3, previous=digest(two)), new_independent), new_operator
    )
    return [one, rotation, two, old_keys, skipped, three]


def test_a_workers_blob_reads_back_as_the_serial_judges_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18: a worker sends its bundles as one marshal blob and its rejections (reason
    enum members) beside it; joined, they are what the serial judge says, types included."""
    world = World()
    entries = [*rotation_log(world), b"", b"\xd2garbage"]
    expected = SerialJudge(world.pinned).judge(entries, None)
    # The worker's judge, without _worker_init (which ignores Ctrl-C in its process).
    monkeypatch.setattr(monitor_judges, "_worker_judge", SerialJudge(world.pinned))
    blob, rejected = monitor_judges._worker_judge_entries(entries, None)
    got = monitor_judges._from_wire(monitor_judges._joined(blob, rejected))
    assert got == expected
    assert [type(r) for r in got] == [type(r) for r in expected]
    reasons = [(type(r.reason), r.reason) for r in got if isinstance(r, Rejection)]
    assert reasons == [(type(r.reason), r.reason) for r in expected if isinstance(r, Rejection)]
    assert len(reasons) >= 3
    assert set(rejected) == {i for i, r in enumerate(expected) if isinstance(r, Rejection)}


@pytest.mark.parametrize(("chunk", "workers"), [(1, 0), (2, 0), (3, 0), (4096, 0), (2, 2)])
def test_rotations_apply_in_log_order_whatever_the_chunks(
    served: StaticLog, tmp_path: Path, chunk: int, workers: int
) -> None:
    world = World()
    append(served.root, world, rotation_log(world))
    judge = ProcessJudge(world.signed_root, workers) if workers else None
    try:
        run = monitor_pass(served, world, tmp_path / "state", chunk_entries=chunk, judge=judge)
    finally:
        if judge is not None:
            judge.close()
    assert run.status == Status.MISBEHAVIOUR
    reported = [
        (e["event"], e.get("index"), e.get("reason")) for e in run.events
        if e["event"] in ("epoch", "trust_root", "misbehaviour")
    ]  # fmt: skip
    assert reported == [
        ("epoch", 0, None),
        ("trust_root", 1, None),
        ("epoch", 2, None),
        ("misbehaviour", 3, "UNKNOWN_KEY"),
        ("misbehaviour", 4, "TRUST_ROOT_VERSION"),
        ("epoch", 5, None),
    ]
    assert len(run.of("progress")) == -(-6 // chunk)


def test_a_bad_bundle_after_good_chunks_keeps_their_progress(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    append(served.root, world, [world.publish(f"fleet-{i:03d}", 1)[0] for i in range(600)])
    path = "tile/entries/001"
    data = bytearray((served.root / path).read_bytes())
    data[-1] ^= 1
    served.overrides[path] = (200, bytes(data))
    state = tmp_path / "state"
    run = monitor_pass(served, world, state, chunk_entries=256)
    assert run.status == Status.MISBEHAVIOUR
    assert [e["size"] for e in run.of("progress")] == [256]
    (found,) = run.of("misbehaviour")
    assert found["kind"] == "tile_mismatch"
    verify_evidence(only_evidence(run).read_bytes(), world.pinned)
    assert StateDir(state).load().size == 256
    served.overrides.clear()
    resumed = monitor_pass(served, world, state, chunk_entries=256)
    assert resumed.status == Status.CLEAN
    assert resumed.of("epoch")[0]["index"] == 256


# --- crashes, locks, state -----------------------------------------------------------------------


class Crash(BaseException):
    """Stands for the process being killed."""


def test_a_crash_in_the_middle_of_a_pass_resumes_where_it_stopped(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    entries = [world.publish(f"fleet-{i:03d}", 1)[0] for i in range(700)]
    entries.append(world.signed_bundle("fleet-000", 1, keys=fleet_keys("x", 1)))  # a conflict
    append(served.root, world, entries)

    reference = monitor_pass(served, world, tmp_path / "reference", chunk_entries=256)
    assert reference.status == Status.MISBEHAVIOUR

    state = tmp_path / "state"
    seen: list[Event] = []

    def crash_on_second_progress(event: Event) -> None:
        seen.append(event)
        if len([e for e in seen if e["event"] == "progress"]) == 2:
            raise Crash

    directory = StateDir(state, fsync=False)
    directory.lock()
    with HTTPFetcher(served.url, timeout=5) as fetcher:
        monitor = Monitor(
            fetcher, world.signed_root, directory, emit=crash_on_second_progress,
            chunk_entries=256, save_every=256,
        )  # fmt: skip
        with pytest.raises(Crash):
            monitor.run_pass(world.now)
    directory.unlock()
    saved = StateDir(state).load()
    assert saved.target is not None
    assert saved.checkpoint is None
    assert saved.size == 256  # progress of the first chunk was kept, the second was lost

    resumed = monitor_pass(served, world, state, chunk_entries=256)
    assert resumed.status == Status.MISBEHAVIOUR
    assert next(e["index"] for e in resumed.of("epoch")) == 256  # nothing checked twice
    assert (state / "state.json").read_bytes() == (
        tmp_path / "reference" / "state.json"
    ).read_bytes()
    assert sorted(p.name for p in (state / "evidence").iterdir()) == sorted(
        p.name for p in (tmp_path / "reference" / "evidence").iterdir()
    )


def test_one_monitor_per_state_directory(tmp_path: Path) -> None:
    first = StateDir(tmp_path)
    first.lock()
    with pytest.raises(MonitorLockedError, match="another monitor"):
        StateDir(tmp_path).lock()
    first.unlock()
    StateDir(tmp_path).lock()


def test_a_corrupt_state_is_an_error_not_a_reset(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1))
    state = tmp_path / "state"
    monitor_pass(served, world, state)
    path = state / "state.json"
    path.write_bytes(path.read_bytes().replace(b'"size":1', b'"size":2'))
    with pytest.raises(CorruptStateError, match="corrupt"):
        StateDir(state).load()
    path.write_bytes(b"{")
    with pytest.raises(CorruptStateError):
        StateDir(state).load()


def test_a_state_over_max_monitor_state_bytes_is_an_error(tmp_path: Path) -> None:
    # OPS §8.1, SPEC §11: read up to the limit and one byte more, never further.
    (tmp_path / "state.json").write_bytes(b"{".ljust(MAX_MONITOR_STATE_BYTES + 1, b" "))
    with pytest.raises(CorruptStateError, match=f"over {MAX_MONITOR_STATE_BYTES} bytes"):
        StateDir(tmp_path).load()


def test_judging_in_worker_processes_gives_the_same_results(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    entries = [world.publish(f"fleet-{i:03d}", 1)[0] for i in range(100)]
    entries.append(world.sign(world.bundle("unsigned", 1)))
    append(served.root, world, entries)
    serial = monitor_pass(served, world, tmp_path / "serial")
    judge = ProcessJudge(world.signed_root, workers=2)
    try:
        parallel = monitor_pass(served, world, tmp_path / "parallel", judge=judge)
    finally:
        judge.close()
    assert parallel.status == serial.status == Status.MISBEHAVIOUR
    assert parallel.events == [
        {**e, "evidence": e["evidence"].replace("serial", "parallel")} if e.get("evidence") else e
        for e in serial.events
    ]


class _ObjectsOnly:
    """An EntryJudge of another kind: results as BundleInfo and Rejection objects only."""

    def __init__(self, inner: SerialJudge) -> None:
        self._inner = inner

    def submit(self, entries: Sequence[bytes], rotation: bytes | None) -> _Results:
        return _Results(self._inner.judge(entries, rotation))

    def close(self) -> None:
        pass


class _Results:
    def __init__(self, results: list[monitor_judges.Judged]) -> None:
        self._results = results

    def result(self) -> list[monitor_judges.Judged]:
        return self._results

    def cancel(self) -> None:
        pass


def test_a_judge_of_another_kind_gives_the_same_events_and_history(
    served: StaticLog, tmp_path: Path
) -> None:
    """Issue 18: the monitor applies its own judges' plain tuples; a judge that returns
    BundleInfo objects (the EntryJudge protocol) is taken apart into the same tuples, so the
    events and the history file are the same, byte for byte."""
    world = World()
    entries = [*history(world, "prod-us.vault", 4), *rotation_log(world), b"\xd2garbage"]
    append(served.root, world, entries)
    ours = monitor_pass(served, world, tmp_path / "ours")
    judge = _ObjectsOnly(SerialJudge(world.pinned))
    other = monitor_pass(served, world, tmp_path / "theirs", judge=judge)
    assert other.status == ours.status == Status.MISBEHAVIOUR
    assert other.events == [
        {**e, "evidence": e["evidence"].replace("/ours/", "/theirs/")} if e.get("evidence") else e
        for e in ours.events
    ]
    assert len(ours.of("epoch")) >= 5
    assert any(e["removed"] for e in ours.of("epoch"))
    history_bytes = [(tmp_path / d / "history.jsonl").read_bytes() for d in ("ours", "theirs")]
    assert history_bytes[0] == history_bytes[1].replace(b"/theirs/", b"/ours/")


# --- witness mode -----------------------------------------------------------------------------

WITNESS_SIGNER = CosignatureV1Signer("auditor.example/witness", seed("auditor witness"))


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Witness]:
    """The monitor's witness (OPS §8.1 witness mode), its state in its own directory."""
    world = World()
    directory = tmp_path / "witness-state"
    directory.mkdir()
    with FileStateStore(directory) as store:
        logs = {LOG_ORIGIN: world.log_signer.verifier()}
        yield Witness(WITNESS_SIGNER, logs, store, now=lambda: world.now, lock_timeout=5)


@pytest.fixture
def witness_url(witness: Witness) -> Iterator[str]:
    """The same witness served over HTTP on 127.0.0.1, as ``--witness-listen`` serves it."""
    server = make_witness_server(witness, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()
        thread.join(timeout=5)


def submit_to_witness(root: Path, world: World, url: str, old_size: int) -> WitnessOutcome:
    """What a log does before publishing its checkpoint: ask the witness for a cosignature."""
    verifier = world.log_signer.verifier()
    client = LogClient(DirectoryFetcher(root), verifier, origin=LOG_ORIGIN)
    signed = (root / "checkpoint").read_bytes()
    checkpoint = verify_checkpoint(signed, verifier, origin=LOG_ORIGIN)
    collected = collect_cosignatures(
        signed,
        old_size,
        lambda n: client.consistency_proof(n, checkpoint),
        [WitnessEndpoint(url, WITNESS_SIGNER.verifier())],
        timeout=5,
    )
    (outcome,) = collected.outcomes
    return outcome


def test_witness_mode_cosigns_each_verified_checkpoint(
    served: StaticLog, tmp_path: Path, witness: Witness
) -> None:
    world = World()
    append(served.root, world, history(world, epochs=2))
    run = monitor_pass(served, world, tmp_path / "state", witness=witness)
    (cosigned,) = run.of("cosigned")
    data = Path(cosigned["file"]).read_bytes()
    opened = note.open_note(data, note.Verifiers([WITNESS_SIGNER.verifier()]))
    assert [s.name for s in opened.sigs] == [WITNESS_SIGNER.name]
    assert cosigned["size"] == 2
    # The same checkpoint on the next pass: cosigned again; a larger one: cosigned too.
    assert monitor_pass(served, world, tmp_path / "state", witness=witness).of("cosigned")
    append(served.root, world, [world.publish(FLEET, 3)[0]])
    again = monitor_pass(served, world, tmp_path / "state", witness=witness)
    assert again.status == Status.CLEAN
    assert [e["size"] for e in again.of("cosigned")] == [3]


def test_a_log_collects_the_monitors_cosignature_over_http(
    served: StaticLog, tmp_path: Path, witness: Witness, witness_url: str
) -> None:
    world = World()
    append(served.root, world, history(world, epochs=2))
    state = tmp_path / "state"
    assert monitor_pass(served, world, state, witness=witness).status == Status.CLEAN
    # The log grows and, before publishing, asks the monitor's witness (from size 0: it does
    # not know what the witness holds; the 409 tells it, and it retries with a proof).
    append(served.root, world, [world.publish(FLEET, 3)[0]])
    outcome = submit_to_witness(served.root, world, witness_url, old_size=0)
    assert outcome.ok, outcome.error
    assert [s.name for s in outcome.cosignatures] == [WITNESS_SIGNER.name]
    assert outcome.witness_size == 3
    # The monitor then verifies the published checkpoint, which its witness already holds.
    run = monitor_pass(served, world, state, witness=witness)
    assert run.status == Status.CLEAN
    assert [e["size"] for e in run.of("cosigned")] == [3]


def test_a_witness_ahead_of_the_published_checkpoint_is_not_misbehaviour(
    served: StaticLog, tmp_path: Path, witness: Witness, witness_url: str
) -> None:
    world = World()
    append(served.root, world, history(world, epochs=2))
    state = tmp_path / "state"
    published = tmp_path / "published"
    shutil.copytree(served.root, published)
    assert monitor_pass(served, world, state, witness=witness).status == Status.CLEAN
    append(served.root, world, [world.publish(FLEET, 3)[0]])
    assert submit_to_witness(served.root, world, witness_url, old_size=2).ok
    served.root = published  # the log has not published size 3 yet
    run = monitor_pass(served, world, state, witness=witness)
    assert run.status == Status.CLEAN
    assert run.of("cosigned") == []  # it cosigned a larger tree already


def fork_pushed_to_the_witness(
    served: StaticLog, tmp_path: Path, world: World, url: str, published: list[bytes]
) -> Path:
    """Epochs 1-2 verified by the monitor; the log then submits a size-3 tree to the witness
    but publishes another: the first two entries followed by ``published``."""
    entries = history(world, epochs=2)
    append(served.root, world, entries)
    other = tmp_path / "other"
    shutil.copytree(served.root, other)
    append(served.root, world, [world.publish("fleet.a", 1)[0]])
    assert submit_to_witness(served.root, world, url, old_size=2).ok
    append(other, world, published)
    return other


def test_a_fork_shown_to_the_monitors_witness_is_a_split_view(
    served: StaticLog, tmp_path: Path, witness: Witness, witness_url: str
) -> None:
    world = World()
    state = tmp_path / "state"
    append(served.root, world, [])
    assert monitor_pass(served, world, state, witness=witness).status == Status.CLEAN
    other = fork_pushed_to_the_witness(
        served, tmp_path, world, witness_url, [world.publish("fleet.b", 1)[0]]
    )
    served.root = other
    run = monitor_pass(served, world, state, witness=witness)
    assert run.status == Status.MISBEHAVIOUR
    (found,) = run.of("misbehaviour")
    assert (found["kind"], found["reason"]) == ("split_view", "INCONSISTENT_CHECKPOINT")
    assert run.of("cosigned") == []


def test_a_tree_that_does_not_extend_the_witnesss_is_inconsistent(
    served: StaticLog, tmp_path: Path, witness: Witness, witness_url: str
) -> None:
    world = World()
    state = tmp_path / "state"
    append(served.root, world, [])
    assert monitor_pass(served, world, state, witness=witness).status == Status.CLEAN
    other = fork_pushed_to_the_witness(
        served, tmp_path, world, witness_url, [world.publish("fleet.b", e)[0] for e in (1, 2)]
    )
    served.root = other
    run = monitor_pass(served, world, state, witness=witness)
    assert run.status == Status.MISBEHAVIOUR
    (found,) = run.of("misbehaviour")
    assert (found["kind"], found["reason"]) == ("inconsistent_checkpoints", "BAD_CONSISTENCY_PROOF")
