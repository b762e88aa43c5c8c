"""OPS §8.5: the monitor's history file: strict reading, torn appends, bounds, the pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keybundle import monitor_history
from keybundle.errors import CorruptStateError
from keybundle.history import KeyInfo
from keybundle.monitor import Monitor
from keybundle.monitor_history import HEARTBEAT_SECONDS, History, read_history
from keybundle.monitor_state import StateDir
from tests.keybundle.test_monitor import append, history
from tests.keybundle.world import World
from transparency_log.fetcher import DirectoryFetcher


def test_records_round_trip_and_repeated_passes_are_thinned(tmp_path: Path) -> None:
    h = History(tmp_path, fsync=False)
    h.record("epoch", 5, {"fleet": "f", "epoch": 1})
    h.record_pass(10, {"status": "clean", "size": 1})
    h.record_pass(20, {"status": "clean", "size": 1})  # nothing new: not written
    h.record_pass(30, {"status": "clean", "size": 2})
    h.record_pass(30 + HEARTBEAT_SECONDS, {"status": "clean", "size": 2})  # the heartbeat
    h.flush()
    records = read_history(tmp_path)
    assert [(r["record"], r["time"]) for r in records] == [
        ("epoch", 5), ("pass", 10), ("pass", 30), ("pass", 30 + HEARTBEAT_SECONDS),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown history record kind"):
        h.record("nonsense", 1, {})


def test_a_history_written_before_the_rename_reads_with_id_not_key_id(tmp_path: Path) -> None:
    """Issue 13: fleet keys were ``key_id`` before; the reader gives ``id`` for both."""
    key = {"algorithm": "ed25519", "fingerprint": "ab" * 32, "usage": "signing"}
    old = {"fleet": "f", "epoch": 1, "added": [{**key, "key_id": "hsm-01"}], "removed": [],
           "kept": 0}  # fmt: skip
    new = {**old, "epoch": 2, "added": [{**key, "id": "hsm-02"}]}
    h = History(tmp_path, fsync=False)
    h.record("epoch", 5, old)  # as the previous version wrote it, canonical form and all
    h.record("epoch", 6, new)
    h.flush()
    records = read_history(tmp_path)
    assert [r["added"] for r in records] == [[{**key, "id": "hsm-01"}], [{**key, "id": "hsm-02"}]]


_TEXT = st.text(max_size=12)  # any code point but lone surrogates: quotes, controls, non-ASCII
_KEYS = st.lists(st.builds(KeyInfo, _TEXT, _TEXT, _TEXT, _TEXT), max_size=4)
_INT = st.integers(min_value=0, max_value=2**64)


@settings(max_examples=200, deadline=None)
@given(
    fleet=_TEXT, epoch=_INT, index=_INT, issued_at=_INT, time=_INT, digest=_TEXT,
    signers=st.lists(_TEXT, max_size=3), added=_KEYS, removed=_KEYS, kept=_KEYS,
)  # fmt: skip
def test_an_epoch_record_is_the_generic_records_bytes(**v: Any) -> None:
    """Issue 18: ``record_epoch`` writes the epoch record from the keys, without the generic
    encoder; its line is byte for byte the one ``record`` writes from the event's fields."""

    def key_json(k: KeyInfo) -> dict[str, str]:
        return {"id": k.key_id, "algorithm": k.algorithm, "usage": k.usage,
                "fingerprint": k.fingerprint}  # fmt: skip

    added, removed, kept = (list(map(key_json, v[n])) for n in ("added", "removed", "kept"))
    event = {"event": "epoch", "fleet": v["fleet"], "epoch": v["epoch"], "index": v["index"],
             "digest": v["digest"], "issued_at": v["issued_at"], "signers": v["signers"],
             "added": added, "removed": removed, "kept": kept}  # fmt: skip
    fast, generic = History(Path("unused-fast")), History(Path("unused-generic"))
    fast.record_epoch(v["time"], event, v["added"], v["removed"], len(kept))
    fields = {k: x for k, x in event.items() if k not in ("event", "kept")}
    generic.record("epoch", v["time"], {**fields, "kept": len(kept)})
    assert fast._pending == generic._pending  # nothing is flushed: no file is written
    # A value of another type (here a bool) takes the generic encoder: the same bytes again.
    other = History(Path("unused-other"))
    other.record_epoch(v["time"], {**event, "epoch": True}, v["added"], v["removed"], len(kept))
    generic.record("epoch", v["time"], {**fields, "epoch": True, "kept": len(kept)})
    assert other._pending == generic._pending[1:]


def test_a_torn_append_is_not_read_and_is_cut_by_the_next(tmp_path: Path) -> None:
    h = History(tmp_path, fsync=False)
    h.record("pass", 1, {"status": "clean"})
    h.flush()
    path = tmp_path / monitor_history.HISTORY_FILE
    with path.open("ab") as f:
        f.write(b'{"record":"pass","ti')  # a crash mid-append
    assert len(read_history(tmp_path)) == 1
    h.record("pass", 2, {"status": "unchecked"})
    h.flush()
    assert [r["time"] for r in read_history(tmp_path)] == [1, 2]


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("not JSON", b"{nope\n"),
        ("an unknown record", b'{"record":"other","time":1}\n'),
        ("a time that is not an integer", b'{"record":"pass","time":"1"}\n'),
        ("not canonical", b'{"time":1, "record":"pass"}\n'),
    ],
)
def test_a_malformed_line_is_corrupt_state(tmp_path: Path, name: str, line: bytes) -> None:
    (tmp_path / monitor_history.HISTORY_FILE).write_bytes(b'{"record":"pass","time":1}\n' + line)
    with pytest.raises(CorruptStateError, match="line 2"):
        read_history(tmp_path)


def test_the_file_is_rotated_before_it_grows_past_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor_history, "MAX_HISTORY_BYTES", 200)
    h = History(tmp_path, fsync=False)
    for t in range(10):
        h.record("trust_root", t, {"index": t, "version": 2})
        h.flush()
    assert (tmp_path / monitor_history.HISTORY_OLD_FILE).stat().st_size <= 200
    assert (tmp_path / monitor_history.HISTORY_FILE).stat().st_size <= 200
    times = [r["time"] for r in read_history(tmp_path)]
    assert times == list(range(10 - len(times), 10))  # the newest, in order
    (tmp_path / monitor_history.HISTORY_FILE).write_bytes(b"x" * 201)
    with pytest.raises(CorruptStateError, match="over 200 bytes"):
        read_history(tmp_path)


def test_a_pass_keeps_its_epochs_and_health_in_the_history(tmp_path: Path) -> None:
    world = World()
    log = tmp_path / "log"
    append(log, world, history(world, epochs=3))
    state = StateDir(tmp_path / "state", fsync=False)
    monitor = Monitor(DirectoryFetcher(log), world.signed_root, state, emit=lambda e: None)
    monitor.run_pass(world.now)
    records = read_history(state.path)
    epochs = [r for r in records if r["record"] == "epoch"]
    assert [(r["epoch"], r["index"], r["time"]) for r in epochs] == [
        (1, 0, world.now), (2, 1, world.now), (3, 2, world.now),
    ]  # fmt: skip
    assert all(r["issued_at"] > 0 for r in epochs)
    assert all(s.split(":")[0] in ("independent", "operator") for s in epochs[0]["signers"])
    assert len(epochs[0]["signers"]) >= 2
    (passed,) = [r for r in records if r["record"] == "pass"]
    assert (passed["status"], passed["size"], passed["log_size"], passed["checked"]) == (
        "clean", 3, 3, 3,
    )  # fmt: skip
    assert set(passed["witness_ages"]) == {w.key_name for w in monitor.pinned.policy.witnesses}


def test_a_long_backfill_appends_before_its_buffer_grows_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor_history, "_FLUSH_BYTES", 100)
    h = History(tmp_path, fsync=False)
    h.record("trust_root", 1, {"index": 1, "version": 2})
    assert read_history(tmp_path) == []  # buffered
    for t in range(2, 5):
        h.record("trust_root", t, {"index": t, "version": 2})
    assert len(read_history(tmp_path)) >= 2  # appended without a flush from the caller
