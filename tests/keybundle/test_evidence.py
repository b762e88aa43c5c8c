"""Evidence files (SPEC §8.4): real evidence verifies offline, tampered evidence does not.

The evidence is written by the real monitor over local tile directories (no network): each
kind once, then every tampering the format must catch, each with its reason code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keybundle.errors import Reason, VerificationError
from keybundle.evidence import (
    MAX_EVIDENCE_BYTES,
    EntryRange,
    canonical_json,
    entries_evidence,
    parse_unverified_evidence,
    tile_evidence,
    verify_evidence,
)
from keybundle.monitor import Event, Monitor
from keybundle.monitor_state import StateDir
from keybundle.signed_trust_root import sign_trust_root, verify_self_signed
from tests.keybundle.test_monitor import append, history
from tests.keybundle.world import DEFAULT_FLEET, World, fleet_keys, seed
from transparency_log import note
from transparency_log.fetcher import DirectoryFetcher
from transparency_log.policy import parse_policy

FLEET = DEFAULT_FLEET


def run(world: World, log: Path, state: Path) -> list[Event]:
    events: list[Event] = []
    directory = StateDir(state, fsync=False)
    monitor = Monitor(DirectoryFetcher(log), world.signed_root, directory, emit=events.append)
    monitor.run_pass(world.now)
    return events


def evidence_of(events: list[Event]) -> bytes:
    found = [e for e in events if e["event"] == "misbehaviour"]
    assert len(found) == 1, found
    return Path(found[0]["evidence"]).read_bytes()


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One real evidence file of each kind."""
    base = tmp_path_factory.mktemp("evidence")
    world = World()
    entries = history(world, epochs=3)
    out: dict[str, bytes] = {}

    log = base / "log"
    append(log, world, entries)
    state = base / "state"
    assert run(world, log, state)[-1]["status"] == "clean"
    forked = base / "forked"
    append(
        forked,
        world,
        [entries[0], world.signed_bundle(FLEET, 2, keys=fleet_keys(FLEET, 9)), entries[2]],
    )
    out["split_view"] = evidence_of(run(world, forked, state))
    rewritten = base / "rewritten"
    append(rewritten, world, [entries[0], entries[2], entries[1], history(world, "b", 1)[0]])
    out["inconsistent_checkpoints"] = evidence_of(run(world, rewritten, state))

    gap = base / "gap"
    other = world.publish("other.fleet", 1)[0]
    append(gap, world, [entries[0], other, world.signed_bundle(FLEET, 4, previous=bytes(32))])
    out["gap"] = evidence_of(run(world, gap, base / "gap-state"))

    twin = base / "twin"
    append(twin, world, [entries[0], world.signed_bundle(FLEET, 1, keys=fleet_keys(FLEET, 5))])
    out["conflict"] = evidence_of(run(world, twin, base / "twin-state"))

    tiles = base / "tiles"
    append(tiles, world, entries)
    bundle = tiles / "tile/entries/000.p/3"
    data = bytearray(bundle.read_bytes())
    data[5] ^= 0x40
    bundle.write_bytes(bytes(data))
    out["tile_mismatch"] = evidence_of(run(world, tiles, base / "tiles-state"))
    return out


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def edit(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """Re-encode evidence canonically after ``change``: tampering that keeps the format."""
    obj = json.loads(data)
    change(obj)
    return canonical_json(obj)


def reason_of(data: bytes, root: Any) -> str:
    with pytest.raises(VerificationError) as e:
        verify_evidence(data, root)
    return e.value.reason


# --- real evidence verifies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("split_view", ("split_view", "INCONSISTENT_CHECKPOINT", True)),
        ("inconsistent_checkpoints", ("inconsistent_checkpoints", "BAD_CONSISTENCY_PROOF", True)),
        ("gap", ("entries", "EPOCH_GAP", True)),
        ("conflict", ("entries", "EPOCH_CONFLICT", True)),
        ("tile_mismatch", ("tile_mismatch", "MALFORMED_TILE", False)),
    ],
)
def test_real_evidence_verifies_offline(
    cases: dict[str, bytes], world: World, case: str, expected: tuple[str, str, bool]
) -> None:
    kind, reason, proven = expected
    finding = verify_evidence(cases[case], world.pinned)
    assert (finding.kind, finding.reason, finding.proven) == (kind, reason, proven)
    assert finding.origin == world.root.log.origin
    assert finding.message


def test_the_file_is_canonical_json_and_names_its_format(cases: dict[str, bytes]) -> None:
    for data in cases.values():
        obj = parse_unverified_evidence(data)
        assert obj["format"] == "keybundle-evidence/v1"
        assert canonical_json(obj) == data
        assert data.endswith(b"}\n")


# --- tampered evidence does not ----------------------------------------------------------------


def _flip_note_signature(obj: dict[str, Any]) -> None:
    text = obj["checkpoints"][1]
    body, sigs = text.split("\n\n", 1)
    name, b64 = sigs.split("\n", 1)[0].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    obj["checkpoints"][1] = body + "\n\n" + name + " " + base64.b64encode(raw).decode() + "\n"


def _same_checkpoint_twice(obj: dict[str, Any]) -> None:
    obj["checkpoints"][1] = obj["checkpoints"][0]


def _prefix_hash(obj: dict[str, Any]) -> None:
    obj["prefix"][0] = base64.b64encode(bytes(32)).decode()


def _old_is_new(obj: dict[str, Any]) -> None:
    obj["old_checkpoint"] = obj["new_checkpoint"]


def _entry_byte(obj: dict[str, Any]) -> None:
    r = obj["ranges"][0]
    raw = bytearray(base64.b64decode(r["entries"][-1]))
    raw[-1] ^= 1
    r["entries"][-1] = base64.b64encode(raw).decode()


def _drop_middle_entry(obj: dict[str, Any]) -> None:
    r = obj["ranges"][0]
    obj["ranges"] = [
        {**r, "entries": r["entries"][:1]},
        {
            "start": r["start"] + 2,
            "entries": r["entries"][2:],
            "left": r["left"],
            "right": r["right"],
        },
    ]


def _ranges_out_of_order(obj: dict[str, Any]) -> None:
    _drop_middle_entry(obj)
    obj["ranges"].reverse()


def _range_twice(obj: dict[str, Any]) -> None:
    obj["ranges"] = [obj["ranges"][0], obj["ranges"][0]]


def _empty_range(obj: dict[str, Any]) -> None:
    obj["ranges"][0]["entries"] = []


def _claim(reason: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["reason"] = reason

    return change


def _index(obj: dict[str, Any]) -> None:
    obj["index"] = 0


def _good_tile(obj: dict[str, Any]) -> None:
    obj["resources"] = {}


def _resource_not_a_tile(obj: dict[str, Any]) -> None:
    # A safe relative path, but not one of SPEC §2.9's tile or entry-bundle paths (§8.4.3).
    obj["resources"]["checkpoint"] = base64.b64encode(b"x").decode()


def _origin(obj: dict[str, Any]) -> None:
    obj["origin"] = "another.example/log"


def _fingerprint(obj: dict[str, Any]) -> None:
    obj["fingerprints"] = ["00" * 32]


TAMPERING = [
    (
        "a cosignature or log signature byte",
        "split_view",
        _flip_note_signature,
        "BAD_NOTE_SIGNATURE",
    ),
    ("the same checkpoint twice", "split_view", _same_checkpoint_twice, "UNFOUNDED_EVIDENCE"),
    ("a prefix hash", "inconsistent_checkpoints", _prefix_hash, "UNFOUNDED_EVIDENCE"),
    ("old and new the same", "inconsistent_checkpoints", _old_is_new, "UNFOUNDED_EVIDENCE"),
    ("an entry byte", "gap", _entry_byte, "UNFOUNDED_EVIDENCE"),
    ("an entry left out of a gap", "gap", _drop_middle_entry, "UNFOUNDED_EVIDENCE"),
    ("a gap claimed as a rollback", "gap", _claim("ROLLBACK"), "UNFOUNDED_EVIDENCE"),
    ("a conflict claimed as a rollback", "conflict", _claim("ROLLBACK"), "UNFOUNDED_EVIDENCE"),
    (
        "a conflict claimed as a bad signature",
        "conflict",
        _claim("BAD_COUNTERSIGNATURE"),
        "UNFOUNDED_EVIDENCE",
    ),
    ("the claim moved to another entry", "conflict", _index, "MALFORMED_EVIDENCE"),
    ("no resources", "tile_mismatch", _good_tile, "UNFOUNDED_EVIDENCE"),
    ("a resource that is not a tile", "tile_mismatch", _resource_not_a_tile, "MALFORMED_EVIDENCE"),
    ("another origin", "conflict", _origin, "WRONG_ORIGIN"),
    # SPEC §8.4.2: ranges hold 1.. entries, sorted by start, not overlapping
    ("ranges out of order", "gap", _ranges_out_of_order, "MALFORMED_EVIDENCE"),
    ("one range twice", "gap", _range_twice, "MALFORMED_EVIDENCE"),
    ("a range without entries", "gap", _empty_range, "MALFORMED_EVIDENCE"),
    # SPEC §8.4.3: fingerprints are empty unless the claim is UNEXPECTED_KEY
    ("a fingerprint on a conflict claim", "conflict", _fingerprint, "MALFORMED_EVIDENCE"),
]


@pytest.mark.parametrize(
    ("case", "change", "reason"),
    [pytest.param(c, f, r, id=name) for name, c, f, r in TAMPERING],
)
def test_tampered_evidence_is_rejected(
    cases: dict[str, bytes],
    world: World,
    case: str,
    change: Callable[[dict[str, Any]], None],
    reason: str,
) -> None:
    assert reason_of(edit(cases[case], change), world.pinned) == reason


def test_a_bundle_bundle_fixed_by_the_right_resource_is_unfounded(
    cases: dict[str, bytes], world: World, tmp_path: Path
) -> None:
    # Replace the served bundle by the log's real one: the evidence then shows nothing.
    obj = json.loads(cases["tile_mismatch"])
    real = World()
    log = tmp_path / "log"
    append(log, real, history(real, epochs=3))
    for path in obj["resources"]:
        obj["resources"][path] = base64.b64encode((log / path).read_bytes()).decode()
    assert reason_of(canonical_json(obj), world.pinned) == "UNFOUNDED_EVIDENCE"


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        ("whitespace", lambda d: d.replace(b'","', b'", "', 1)),
        ("no final newline", lambda d: d[:-1]),
        (
            "unsorted members",
            lambda d: json.dumps(json.loads(d), separators=(",", ":")).encode() + b"\n",
        ),
        ("a duplicate member", lambda d: d.replace(b"{", b'{"kind":"entries",', 1)),
        ("a float", lambda d: d.replace(b'"observed_at":', b'"observed_at":1.5,"x":', 1)),
        ("another format", lambda d: d.replace(b"keybundle-evidence/v1", b"keybundle-evidence/v2")),
        ("another kind", lambda d: d.replace(b'"kind":"entries"', b'"kind":"rumour"')),
        ("not UTF-8", lambda d: d.replace(b'"message":"', b'"message":"\xff', 1)),
        ("not JSON", lambda d: d[: len(d) // 2]),
        ("an array", lambda d: b"[]\n"),
    ],
)
def test_malformed_files(
    cases: dict[str, bytes], world: World, name: str, mutate: Callable[[bytes], bytes]
) -> None:
    assert reason_of(mutate(cases["conflict"]), world.pinned) == Reason.MALFORMED_EVIDENCE


@pytest.mark.parametrize("number", [b"-1", b"9223372036854775808", b"1e3", b"01"])
def test_numbers_other_than_canonical_integers_up_to_2_63_are_malformed(
    cases: dict[str, bytes], world: World, number: bytes
) -> None:
    # SPEC §8.4.1: numbers are integers in 0..2^63-1 in decimal, no sign, exponent or fraction.
    data = cases["conflict"]
    start = data.index(b'"observed_at":') + len(b'"observed_at":')
    end = data.index(b",", start)
    assert reason_of(data[:start] + number + data[end:], world.pinned) == "MALFORMED_EVIDENCE"


def test_evidence_over_max_evidence_bytes_is_malformed() -> None:
    # SPEC §8.4.1, §11: the size is checked before anything is parsed.
    data = b'{"format":"keybundle-evidence/v1"}'.ljust(MAX_EVIDENCE_BYTES, b" ") + b"\n"
    with pytest.raises(VerificationError) as e:
        parse_unverified_evidence(data)
    assert e.value.reason == Reason.MALFORMED_EVIDENCE
    assert e.value.message == (
        f"the file is {MAX_EVIDENCE_BYTES + 1} bytes; evidence is at most {MAX_EVIDENCE_BYTES}"
    )


def test_evidence_is_checked_against_the_given_trust_root(
    cases: dict[str, bytes], world: World
) -> None:
    # A trust root naming another log key under the same origin: the log's signatures fail.
    other = note.Ed25519Signer(world.root.log.origin, seed("another log key"))
    policy = parse_policy(
        world.policy_text.replace(
            world.log_signer.verifier().verifier_key, other.verifier().verifier_key
        )
    )
    root = world.make_root(1, policy=policy)
    pinned = verify_self_signed(sign_trust_root(root, [world.independent, world.operator]))
    assert reason_of(cases["split_view"], pinned) == "UNTRUSTED_NOTE"


def test_an_unexpected_key_claim_must_name_keys_of_the_entry(world: World, tmp_path: Path) -> None:
    w = World()
    log = tmp_path / "log"
    append(log, w, [w.publish(FLEET, 1)[0]])
    client_events = run(w, log, tmp_path / "state")
    assert client_events[-1]["status"] == "clean"
    # Build the evidence by hand from the log's files, naming a key the entry does not hold.
    from transparency_log.tlog_client import LogClient

    client = LogClient(DirectoryFetcher(log), w.log_signer.verifier())
    cp = client.fetch_checkpoint()
    entry = client.entry(0, cp).data
    ranges = [EntryRange(0, (entry,), (), ())]
    good = fleet_keys(FLEET, 1)[0].fingerprint

    def claim(fps: list[str]) -> bytes:
        return canonical_json(
            entries_evidence(
                cp.note_text, ranges, reason="UNEXPECTED_KEY", index=0, related=None,
                fingerprints=fps, origin=cp.checkpoint.origin, observed_at=0, message="",
            )
        )  # fmt: skip

    assert verify_evidence(claim([good]), w.pinned).reason == "UNEXPECTED_KEY"
    assert reason_of(claim(["00" * 32]), w.pinned) == "UNFOUNDED_EVIDENCE"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_a_flipped_byte_is_rejected_or_changes_nothing_verified(
    cases: dict[str, bytes], world: World, data: st.DataObject
) -> None:
    case = data.draw(st.sampled_from(sorted(cases)))
    original = verify_evidence(cases[case], world.pinned)
    raw = bytearray(cases[case])
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    try:
        finding = verify_evidence(bytes(raw), world.pinned)
    except VerificationError:
        return
    # Only the unverified members (message, observed_at) may change and still verify.
    assert (finding.kind, finding.reason, finding.index, finding.sizes) == (
        original.kind, original.reason, original.index, original.sizes,
    )  # fmt: skip


@pytest.mark.parametrize(("tile_extra", "bundle_extra"), [(b"\0", b""), (b"", b"\0\0")])
def test_a_resource_longer_than_its_reader_reads_is_shown_not_a_crash(
    tile_extra: bytes, bundle_extra: bytes
) -> None:
    # SPEC §8.4.2: a served resource of the wrong length, longer included, is §2.9's
    # MALFORMED_TILE; the verifier once let the fetcher's size cap escape as an exception.
    from transparency_log.entry_bundle import encode_entry_bundle
    from transparency_log.tile import Tile, entries_path, tile_data

    w = World()
    for n in range(3):
        w.append(b"tile entry %d" % n)
    served = {
        Tile(0, 0, 3).path(): tile_data(Tile(0, 0, 3), w.store) + tile_extra,
        entries_path(0, 3): encode_entry_bundle(w.entries) + bundle_extra,
    }
    evidence = tile_evidence(
        w.checkpoint(), {"start": 0, "stop": 3}, served, origin=w.log_signer.name,
        observed_at=0, message="",
    )  # fmt: skip
    finding = verify_evidence(canonical_json(evidence), w.pinned)
    assert (finding.kind, finding.reason) == ("tile_mismatch", "MALFORMED_TILE")
    assert finding.proven is False
