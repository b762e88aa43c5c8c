"""The log writer: C2SP tlog-tiles layout and bytes, RFC 9162 roots, batching, idempotency."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from transparency_log import appender, leaf_index, note
from transparency_log.appender import (
    Log,
    LogLockedError,
    LogStateError,
    open_directory_log,
)
from transparency_log.checkpoint import parse_checkpoint
from transparency_log.entry_bundle import encode_entry_bundle, parse_entry_bundle
from transparency_log.errors import BatchRejectionError, LogReason, VerificationError
from transparency_log.merkle import leaf_hash, root_from_leaf_hashes
from transparency_log.storage import DirectoryTileStore, MemoryTileStore


class HookReason(StrEnum):
    """The reason codes of this file's admission hooks (a hook's layer has its own)."""

    EPOCH_NOT_NEXT = "EPOCH_NOT_NEXT"


ORIGIN = "example.com/audit-log"
SIGNER = note.Ed25519Signer(ORIGIN, bytes(range(32)))
VERIFIER = SIGNER.verifier()

pytestmark = pytest.mark.timeout(120)


def open_log(root: Path, **options: Any) -> Log:
    options.setdefault("fsync", False)
    return open_directory_log(root, origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, **options)


def entry(i: int) -> bytes:
    return b"entry %d " % i + bytes(i % 7)


def x_path(n: int) -> str:
    """C2SP tlog-tiles index encoding, written out again from the spec's prose."""
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def expected_files(entries: list[bytes], size: int) -> dict[str, bytes]:
    """Every resource that C2SP tlog-tiles requires for ``size``, computed naively."""
    leaves = [leaf_hash(e) for e in entries[:size]]
    files: dict[str, bytes] = {}
    level = 0
    while size >> (8 * level):
        span = 256**level
        count = size // span  # hashes at this level
        for index in range((count + 255) // 256):
            width = min(256, count - index * 256)
            hashes = [
                root_from_leaf_hashes(
                    leaves[(index * 256 + i) * span : (index * 256 + i + 1) * span]
                )
                for i in range(width)
            ]
            suffix = "" if width == 256 else f".p/{width}"
            files[f"tile/{level}/{x_path(index)}{suffix}"] = b"".join(hashes)
        level += 1
    for index in range((size + 255) // 256):
        chunk = entries[index * 256 : min(size, (index + 1) * 256)]
        suffix = "" if len(chunk) == 256 else f".p/{len(chunk)}"
        files[f"tile/entries/{x_path(index)}{suffix}"] = encode_entry_bundle(chunk)
    return files


def published(root: Path) -> tuple[int, bytes]:
    text = (root / "checkpoint").read_bytes().decode()
    cp = parse_checkpoint(text[: text.index("\n\n") + 1])
    return cp.size, cp.root_hash


def test_rfc9162_known_answers(tmp_path: Path, known_answers: dict[str, Any]) -> None:
    vectors = known_answers["rfc9162"]
    leaves = [bytes.fromhex(h) for h in vectors["leaf_inputs_hex"]]
    with open_log(tmp_path) as log:
        assert log.root.hex() == vectors["root_by_size"][0]
        for size, data in enumerate(leaves, start=1):
            assert log.add_many([data]) == [size - 1]
            assert log.root.hex() == vectors["root_by_size"][size]
            assert published(tmp_path) == (size, bytes.fromhex(vectors["root_by_size"][size]))


def test_layout_and_bytes_match_tlog_tiles_for_every_published_size(tmp_path: Path) -> None:
    entries = [entry(i) for i in range(1000)]
    batches = [1, 2, 253, 1, 255, 256, 3, 29]  # cross tile boundaries in every way
    store_root = tmp_path / "log"
    seen: dict[str, bytes] = {}
    with open_log(store_root, batch_size=256) as log:
        start = 0
        for count in batches:
            log.add_many(entries[start : start + count])
            start += count
            for path, data in expected_files(entries, start).items():
                seen[path] = data
            # Every resource of every size published so far is there, byte for byte.
            for path, data in seen.items():
                assert (store_root / path).read_bytes() == data, path
            size, root = published(store_root)
            assert size == start
            assert root == root_from_leaf_hashes([leaf_hash(e) for e in entries[:start]])
    # And nothing else was written: no stray tiles, no temporary files.
    on_disk = {
        str(p.relative_to(store_root))
        for p in store_root.rglob("*")
        if p.is_file() and ".state" not in p.parts
    }
    assert on_disk == {*seen, "checkpoint"}


def test_size_256_is_one_full_tile_and_a_level_1_partial(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.add_many([entry(i) for i in range(256)])
    assert (tmp_path / "tile/0/000").stat().st_size == 8192
    assert (tmp_path / "tile/1/000.p/1").read_bytes() == root_from_leaf_hashes(
        [leaf_hash(entry(i)) for i in range(256)]
    )
    assert not (tmp_path / "tile/0/001.p").exists()


def test_roots_agree_with_a_naive_tree_for_sizes_1_to_600(tmp_path: Path) -> None:
    leaves: list[bytes] = []
    with open_log(tmp_path, batch_size=1) as log:
        for i in range(600):
            data = entry(i)
            assert log.add_many([data]) == [i]
            leaves.append(leaf_hash(data))
            assert log.root == root_from_leaf_hashes(leaves), i + 1


def test_70000_entries_layout_and_root(tmp_path: Path, known_answers: dict[str, Any]) -> None:
    want = known_answers["tiles"]["size_70000"]
    entries = [i.to_bytes(4, "big") for i in range(70_000)]
    with open_log(tmp_path, batch_size=4096) as log:
        log.add_many(entries)
        assert log.root == root_from_leaf_hashes([leaf_hash(e) for e in entries])
    level0 = [p for p in (tmp_path / "tile/0").rglob("*") if p.is_file()]
    assert len([p for p in level0 if ".p" not in str(p)]) == want["level0_full"]
    assert (tmp_path / "tile/0/273.p/112").stat().st_size == 32 * want["level0_partial_width"]
    assert (tmp_path / "tile/1/000").stat().st_size == 8192 * want["level1_full"]
    assert (tmp_path / "tile/1/001.p/17").stat().st_size == 32 * want["level1_partial_width"]
    assert (tmp_path / "tile/2/000.p/1").stat().st_size == 32 * want["level2_partial_width"]
    assert parse_entry_bundle((tmp_path / "tile/entries/273.p/112").read_bytes(), 112) == tuple(
        entries[273 * 256 :]
    )


def test_resubmission_returns_the_existing_index(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        assert log.add_many([b"a", b"b", b"a", b"c", b"b"]) == [0, 1, 0, 2, 1]
        assert log.add(b"b") == 1
        assert log.size == 3
        checkpoint = log.checkpoint
        assert log.add_many([b"a", b"c"]) == [0, 2]
        assert log.checkpoint == checkpoint  # nothing new: no new checkpoint
    with open_log(tmp_path) as log:
        assert log.add(b"c") == 2
        assert log.add(b"d") == 3


def test_resubmission_through_the_persistent_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appender, "RECENT_WINDOW", 100)
    entries = [entry(i) for i in range(1000)]
    with open_log(tmp_path, batch_size=64) as log:
        assert log.add_many(entries) == list(range(1000))
        assert log.add_many(entries[::37]) == list(range(0, 1000, 37))
    db = sqlite3.connect(tmp_path / ".state" / "index.sqlite3")
    (indexed,) = db.execute("SELECT value FROM log_meta WHERE key = 'indexed_size'").fetchone()
    (rows,) = db.execute("SELECT count(*) FROM log_leaf_index").fetchone()
    (first,) = db.execute(
        "SELECT idx FROM log_leaf_index WHERE hash = ?", (leaf_hash(entries[0]),)
    ).fetchone()
    db.close()
    # Full windows went to the table while appending; close leaves the last one to be read
    # back from the tiles on open (OPS §6.2), so the table holds a prefix of the log.
    assert indexed == rows
    assert 0 < indexed <= 1000
    assert first == 0
    with open_log(tmp_path) as log:
        assert log.add_many([entries[999], entries[0], b"new"]) == [999, 0, 1000]


def test_close_writes_neither_the_index_nor_the_filter(tmp_path: Path) -> None:
    state = tmp_path / ".state"
    entries = [entry(i) for i in range(600)]
    with open_log(tmp_path, batch_size=64) as log:
        assert log.add_many(entries) == list(range(600))
    db = sqlite3.connect(state / "index.sqlite3")
    (indexed,) = db.execute("SELECT value FROM log_meta WHERE key = 'indexed_size'").fetchone()
    (rows,) = db.execute("SELECT count(*) FROM log_leaf_index").fetchone()
    db.close()
    assert indexed == rows == 0  # the window stays derived from the published tiles
    assert not (state / leaf_index.LEAF_FILTER).exists()
    with open_log(tmp_path) as log:
        # ...which the next open reads back: every entry is still found, exactly.
        assert log.add_many([*entries[::41], entries[599], b"new"]) == [
            *range(0, 600, 41),
            599,
            600,
        ]
        assert log.size == 601


def test_a_window_that_is_full_on_open_goes_to_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [entry(i) for i in range(500)]
    with open_log(tmp_path, batch_size=100) as log:
        log.add_many(entries)
    monkeypatch.setattr(appender, "RECENT_WINDOW", 300)  # as if the window had outgrown it
    with open_log(tmp_path) as log:
        assert len(log._recent) == 0  # memory stays bounded across reopening
        assert log.add_many([entries[0], entries[499], b"new"]) == [0, 499, 500]
    saved = leaf_index.LeafFilter.load(tmp_path / ".state" / leaf_index.LEAF_FILTER)
    assert saved is not None
    assert saved[0] == 500


def test_index_window_is_caught_up_from_the_tiles_on_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appender, "RECENT_WINDOW", 300)
    log = open_log(tmp_path, batch_size=50)
    log.add_many([entry(i) for i in range(500)])
    # Simulate a writer that died without closing: drop the lock and the database handle.
    log._db.close()
    os.close(log._lock_fd)
    with open_log(tmp_path) as reopened:
        assert reopened.add_many([entry(i) for i in (499, 301, 0)]) == [499, 301, 0]
        assert reopened.size == 500


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with (
        open_log(tmp_path),
        pytest.raises(LogLockedError, match=r"open by another writer \(pid \d+\)"),
    ):
        open_log(tmp_path)
    with open_log(tmp_path) as log:
        assert log.size == 0


def test_concurrent_adds_share_checkpoints(tmp_path: Path) -> None:
    results: dict[int, int] = {}
    checkpoints: set[bytes] = set()
    with open_log(tmp_path, batch_size=16, batch_max_age=0.02) as log:

        def worker(t: int) -> None:
            for i in range(25):
                results[t * 1000 + i] = log.add(entry(t * 1000 + i))
                checkpoints.add(log.checkpoint)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results.values()) == list(range(200))
        assert log.size == 200
    assert len(checkpoints) < 200  # batched: far fewer checkpoints than entries
    for key, index in results.items():
        bundle = (tmp_path / f"tile/entries/{x_path(index // 256)}.p/200").read_bytes()
        assert parse_entry_bundle(bundle, 200)[index] == entry(key)


def test_progress_is_reported_per_batch(tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    with open_log(tmp_path, batch_size=100) as log:
        log.add_many([entry(i) for i in range(250)], progress=lambda d, t: calls.append((d, t)))
        log.add_many(
            (entry(i) for i in range(250, 260)), progress=lambda d, t: calls.append((d, t))
        )
    assert calls == [(100, 250), (200, 250), (250, 250), (10, None)]


def test_checkpoint_is_published_last(tmp_path: Path) -> None:
    events: list[str] = []

    class Recording(MemoryTileStore):
        def publish(self, files: Any, checkpoint: bytes, *, cosign: Any = None) -> None:
            text = checkpoint.decode()
            size = parse_checkpoint(text[: text.index("\n\n") + 1]).size
            # Everything the new size requires is in this very call, with the checkpoint.
            events.append(f"{size}: {len(files)} files")
            super().publish(files, checkpoint, cosign=cosign)

    store = Recording()
    with Log.open(
        store, tmp_path / "state", origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False
    ) as log:
        log.add_many([entry(i) for i in range(600)])
    assert events == ["0: 0 files", "256: 3 files", "512: 3 files", "600: 2 files"]


def test_caller_mistakes(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        with pytest.raises(ValueError, match="at most 65535"):
            log.add(b"x" * 65536)
        with pytest.raises(TypeError):
            log.add("text")  # type: ignore[arg-type]
        assert log.add(b"x" * 65535) == 0
    with pytest.raises(ValueError, match="closed"):
        log.add(b"y")
    with pytest.raises(ValueError, match="batch_size"):
        open_log(tmp_path, batch_size=0)
    other = note.Ed25519Signer("other.example/log", bytes(32))
    with pytest.raises(ValueError, match="not the same log key"):
        Log.open(
            MemoryTileStore(),
            tmp_path / "s",
            origin=ORIGIN,
            signer=SIGNER,
            verifier=other.verifier(),
        )
    with pytest.raises(ValueError, match="origin"):
        Log.open(MemoryTileStore(), tmp_path / "s", origin="", signer=SIGNER, verifier=VERIFIER)


def test_reopening_with_another_key_or_origin_is_refused(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.add(b"a")
    other = note.Ed25519Signer(ORIGIN, bytes(32))
    with pytest.raises(VerificationError) as info:
        open_directory_log(
            tmp_path, origin=ORIGIN, signer=other, verifier=other.verifier(), fsync=False
        )
    assert info.value.reason in (LogReason.UNTRUSTED_NOTE, LogReason.BAD_NOTE_SIGNATURE)
    with pytest.raises(VerificationError) as info:
        open_directory_log(
            tmp_path, origin="elsewhere.example", signer=SIGNER, verifier=VERIFIER, fsync=False
        )
    assert info.value.reason == LogReason.WRONG_ORIGIN


def test_damaged_published_tiles_are_detected_on_reopen(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.add_many([entry(i) for i in range(300)])
    cases: list[tuple[str, str, Callable[[bytes], bytes], str]] = [
        ("level-1 tile zeroed", "tile/1/000.p/1", lambda b: bytes(len(b)), "does not belong"),
        ("level-0 tile zeroed", "tile/0/001.p/44", lambda b: bytes(len(b)), "do not hash"),
        ("tile cut short", "tile/0/001.p/44", lambda b: b[:-1], "should be 1408 bytes"),
        (
            "bundle of other entries",
            "tile/entries/001.p/44",
            lambda b: encode_entry_bundle([b"x"] * 44),
            "do not hash",
        ),
        ("bundle cut short", "tile/entries/001.p/44", lambda b: b[:-1], "truncated"),
    ]
    for name, path, damage, message in cases:
        good = (tmp_path / path).read_bytes()
        (tmp_path / path).write_bytes(damage(good))
        with pytest.raises(VerificationError) as info:
            open_log(tmp_path)
        assert info.value.reason == LogReason.MALFORMED_TILE, name
        assert message in info.value.message, name
        (tmp_path / path).write_bytes(good)
    (tmp_path / "tile/entries/001.p/44").unlink()
    with pytest.raises(LogStateError, match="missing"):
        open_log(tmp_path)


def test_missing_checkpoint_with_recorded_entries_is_refused(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.add_many([entry(i) for i in range(10)])  # close records the published size
    (tmp_path / "checkpoint").unlink()
    with pytest.raises(LogStateError, match="no checkpoint"):
        open_log(tmp_path)


def test_a_checkpoint_older_than_the_size_recorded_on_close_is_refused(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.add_many([entry(i) for i in range(10)])
        older = log.checkpoint
        log.add_many([entry(i) for i in range(10, 20)])
    (tmp_path / "checkpoint").write_bytes(older)  # the index is still empty: only 20 entries
    with pytest.raises(LogStateError, match=r"closed at size 20 .* has size 10; .* older one"):
        open_log(tmp_path)


class FleetAdmission:
    """A toy higher layer: entries ``fleet:epoch``; epochs must go up by one per fleet."""

    def __init__(self) -> None:
        self.rollbacks: list[int] = []

    def setup(self, txn: sqlite3.Connection) -> None:
        txn.execute("CREATE TABLE IF NOT EXISTS fleets (idx INTEGER PRIMARY KEY, fleet, epoch)")

    def check(self, entry: bytes, index: int, txn: sqlite3.Connection) -> None:
        fleet, epoch = entry.decode().split(":")
        txn.execute("INSERT INTO fleets VALUES (?, ?, ?)", (index, fleet, int(epoch)))
        (top,) = txn.execute("SELECT max(epoch) FROM fleets WHERE fleet = ?", (fleet,)).fetchone()
        (count,) = txn.execute("SELECT count(*) FROM fleets WHERE fleet = ?", (fleet,)).fetchone()
        if top != count or int(epoch) != count:
            raise VerificationError(
                HookReason.EPOCH_NOT_NEXT, f"{fleet} epoch {epoch} is not {count}"
            )

    def rollback(self, size: int, txn: sqlite3.Connection) -> None:
        self.rollbacks.append(size)
        txn.execute("DELETE FROM fleets WHERE idx >= ?", (size,))


def fleet_rows(root: Path) -> list[tuple[int, str, int]]:
    db = sqlite3.connect(root / ".state" / "index.sqlite3")
    rows = db.execute("SELECT idx, fleet, epoch FROM fleets ORDER BY idx").fetchall()
    db.close()
    return rows


def test_admission_rejects_with_a_reason_and_keeps_its_state_in_step(tmp_path: Path) -> None:
    hook = FleetAdmission()
    with open_log(tmp_path, admission=hook) as log:
        assert log.add(b"a:1") == 0
        with pytest.raises(VerificationError) as info:
            log.add(b"a:3")
        assert info.value.reason == "EPOCH_NOT_NEXT"
        with pytest.raises(BatchRejectionError) as batch:
            log.add_many([b"a:2", b"b:2", b"b:1", b"a:1"])
        assert batch.value.reason is HookReason.EPOCH_NOT_NEXT
        assert batch.value.position == 1  # a field: nobody parses it back out of the message
        assert batch.value.rejection.message == "b epoch 2 is not 1"
        assert "entry 1 of the batch" in batch.value.message
        assert log.size == 3
        assert log.add_many([b"a:2", b"b:1", b"a:1"]) == [1, 2, 0]  # resubmissions
    assert fleet_rows(tmp_path) == [(0, "a", 1), (1, "a", 2), (2, "b", 1)]
    with pytest.raises(LogStateError, match="admission hook"):
        open_log(tmp_path)


def test_admission_cannot_be_added_to_a_non_empty_log(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.add(b"a:1")
    with pytest.raises(LogStateError, match="first entry"):
        open_log(tmp_path, admission=FleetAdmission())


def test_admission_state_behind_the_published_size_is_refused(tmp_path: Path) -> None:
    # OPS §6.2 recovery step 3: an admission state covering fewer entries than the
    # checkpoint (a state database restored from an older copy) is never rolled forward.
    with open_log(tmp_path, admission=FleetAdmission()) as log:
        log.add_many([b"a:1", b"a:2"])
    db = sqlite3.connect(tmp_path / ".state" / "index.sqlite3")
    with db:
        db.execute("UPDATE log_meta SET value = 1 WHERE key = 'admitted_size'")
    db.close()
    with pytest.raises(LogStateError, match="covers 1 entries but the log has 2"):
        open_log(tmp_path, admission=FleetAdmission())


def test_admission_state_is_rolled_back_to_the_published_size(tmp_path: Path) -> None:
    class CheckpointFails(DirectoryTileStore):
        fail = False

        def publish(self, files: Any, checkpoint: bytes, *, cosign: Any = None) -> None:
            if self.fail:
                raise OSError("disk full")
            super().publish(files, checkpoint, cosign=cosign)

    store = CheckpointFails(tmp_path, fsync=False)
    hook = FleetAdmission()
    log = Log.open(
        store,
        tmp_path / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=VERIFIER,
        admission=hook,
        fsync=False,
    )
    log.add_many([b"a:1", b"a:2"])
    store.fail = True
    with pytest.raises(OSError, match="disk full"):
        log.add_many([b"a:3", b"b:1"])
    # The writer recovered in place: the hook's rows for the lost batch are gone.
    assert hook.rollbacks == [2]
    assert fleet_rows(tmp_path) == [(0, "a", 1), (1, "a", 2)]
    store.fail = False
    assert log.add_many([b"b:1", b"a:3"]) == [2, 3]
    log.close()
    assert fleet_rows(tmp_path) == [(0, "a", 1), (1, "a", 2), (2, "b", 1), (3, "a", 3)]


# --- pipelining (OPS §6.2): the next batch is sequenced while one is published ---------------


class GatedStore(MemoryTileStore):
    """A store whose publication of a given size waits for the test, or fails."""

    def __init__(self, *, hold: int = -1, fail: int = -1) -> None:
        super().__init__()
        self.hold, self.fail = hold, fail
        self.holding = threading.Event()
        self.release = threading.Event()
        self.sizes: list[int] = []

    def publish(self, files: Any, checkpoint: bytes, *, cosign: Any = None) -> None:
        text = checkpoint.decode()
        size = parse_checkpoint(text[: text.index("\n\n") + 1]).size
        if size == self.hold:
            self.holding.set()
            assert self.release.wait(30)
        if size == self.fail:
            raise OSError("disk full")
        super().publish(files, checkpoint, cosign=cosign)
        self.sizes.append(size)


def open_gated(store: GatedStore, tmp_path: Path, **options: Any) -> Log:
    return Log.open(
        store, tmp_path / "state", origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, **options
    )


def test_the_next_batches_are_read_and_sequenced_while_one_is_published(
    tmp_path: Path,
) -> None:
    store = GatedStore(hold=100)
    consumed: list[int] = []

    def entries() -> Any:
        for i in range(500):
            consumed.append(i)
            yield entry(i)

    with open_gated(store, tmp_path, fsync=False, batch_size=100) as log:
        result: list[list[int]] = []
        worker = threading.Thread(target=lambda: result.append(log.add_many(entries())))
        worker.start()
        assert store.holding.wait(30)
        # The first batch is being published: its entries are not acknowledged, but the
        # next batches are already read (at most MAX_IN_FLIGHT + 1 batches are held).
        deadline = threading.Event()
        for _ in range(100):
            if len(consumed) == 100 * (appender.MAX_IN_FLIGHT + 1):
                break
            deadline.wait(0.01)
        assert len(consumed) == 100 * (appender.MAX_IN_FLIGHT + 1)
        assert log.size == 0
        # A duplicate of an entry still in flight gets its index, and only once published.
        duplicate: list[int] = []
        other = threading.Thread(target=lambda: duplicate.append(log.add(entry(150))))
        other.start()
        other.join(0.2)
        assert duplicate == []
        store.release.set()
        worker.join(30)
        other.join(30)
        assert result == [list(range(500))]
        assert duplicate == [150]
    # (The single add may share a batch with the last entries: the later sizes can vary.)
    assert store.sizes[:4] == [0, 100, 200, 300]
    assert store.sizes[-1] == 500
    assert store.sizes == sorted(set(store.sizes))


def test_a_failed_publication_fails_every_batch_sequenced_on_top_of_it(tmp_path: Path) -> None:
    store = GatedStore(fail=200)
    with open_gated(store, tmp_path, fsync=False, batch_size=100) as log:
        with pytest.raises(OSError, match="disk full"):
            log.add_many([entry(i) for i in range(500)])
        # Batch 2 failed; batch 3, sequenced on top of it, was discarded unpublished, and
        # the later ones were never sequenced. The writer is back at the published size.
        assert store.sizes == [0, 100]
        assert log.size == 100
        assert parse_checkpoint(log.checkpoint.decode().split("\n\n")[0] + "\n").size == 100
        store.fail = -1
        assert log.add_many([entry(i) for i in range(500)]) == list(range(500))
    assert store.sizes == [0, 100, 200, 300, 400, 500]
    paths = store.paths()
    assert expected_files([entry(i) for i in range(500)], 500).keys() <= set(paths)


def test_a_failed_publication_with_admission_rolls_back_the_batches_after_it(
    tmp_path: Path,
) -> None:
    store = GatedStore(fail=4)
    hook = FleetAdmission()
    log = open_gated(store, tmp_path, fsync=False, batch_size=2, admission=hook)
    with pytest.raises(OSError, match="disk full"):
        log.add_many([b"a:1", b"a:2", b"a:3", b"a:4", b"a:5", b"a:6"])
    assert log.size == 2
    assert hook.rollbacks[-1:] == [2]
    state = sqlite3.connect(tmp_path / "state" / "index.sqlite3")
    assert state.execute("SELECT idx FROM fleets ORDER BY idx").fetchall() == [(0,), (1,)]
    state.close()
    store.fail = -1
    assert log.add_many([b"a:3", b"a:4", b"a:5", b"a:6"]) == [2, 3, 4, 5]
    log.close()


# --- the leaf-hash filter (OPS §6.2): fewer SQLite lookups, the same answers ------------------


def index_queries(log: Log) -> list[str]:
    queries: list[str] = []
    log._db.set_trace_callback(
        lambda sql: queries.append(sql) if "FROM log_leaf_index" in sql else None
    )
    return queries


def test_the_leaf_filter_sends_only_possible_duplicates_to_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appender, "RECENT_WINDOW", 100)
    entries = [entry(i) for i in range(1000)]
    with open_log(tmp_path, batch_size=64) as log:
        assert log.add_many(entries) == list(range(1000))
        queries = index_queries(log)
        assert log.add_many([b"new %d" % i for i in range(300)]) == list(range(1000, 1300))
        assert queries == []  # none of the new leaf hashes can be in the index
        assert log.add_many(entries[::50]) == list(range(0, 1000, 50))
        assert queries  # those that may be there are looked up, and found
    assert (tmp_path / ".state" / leaf_index.LEAF_FILTER).stat().st_size == (
        len(b"keybundle leaf filter v1\n") + 8 + leaf_index.LEAF_FILTER_BITS // 8 + 32
    )


def test_a_saturated_leaf_filter_only_costs_lookups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appender, "RECENT_WINDOW", 100)
    monkeypatch.setattr(leaf_index, "LEAF_FILTER_BITS", 8)  # full after a few hashes
    entries = [entry(i) for i in range(600)]
    with open_log(tmp_path, batch_size=64) as log:
        assert log.add_many(entries) == list(range(600))
        queries = index_queries(log)
        assert log.add_many([*entries[::7], b"fresh"]) == [*range(0, 600, 7), 600]
        assert queries
    with open_log(tmp_path) as log:
        assert log.add_many([entries[3], b"fresh", b"fresher"]) == [3, 600, 601]


@pytest.mark.parametrize("damage", ["missing", "corrupt", "stale", "other size"])
def test_a_missing_damaged_or_stale_leaf_filter_is_rebuilt_from_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    monkeypatch.setattr(appender, "RECENT_WINDOW", 100)
    path = tmp_path / ".state" / leaf_index.LEAF_FILTER
    entries = [entry(i) for i in range(700)]
    with open_log(tmp_path, batch_size=64) as log:
        log.add_many(entries[:200])
        old = path.read_bytes()  # covers the first rows of the index only
        log.add_many(entries[200:])
    good = path.read_bytes()
    if damage == "missing":
        path.unlink()  # also: a log written before the filter existed
    elif damage == "corrupt":
        path.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    elif damage == "stale":
        path.write_bytes(old)
    else:
        monkeypatch.setattr(leaf_index, "LEAF_FILTER_BITS", 1 << 12)
    with open_log(tmp_path) as log:
        # Every entry of the index is still found, through a rebuilt filter.
        assert log.add_many(entries[::9]) == list(range(0, 700, 9))
        assert log.add(b"fresh") == 700
    saved = leaf_index.LeafFilter.load(path)  # saved again, whole
    assert saved is not None
    db = sqlite3.connect(tmp_path / ".state" / "index.sqlite3")
    (indexed,) = db.execute("SELECT value FROM log_meta WHERE key = 'indexed_size'").fetchone()
    db.close()
    assert saved[0] == indexed > 0  # it covers the whole table (the window is not in it)


def test_a_new_state_database_is_switched_to_wal_with_one_flush_and_reopens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new log's state database is switched to WAL without a rollback journal's four
    flushes: its file is flushed once, and it is a WAL database with FULL flushes after."""
    flushed: list[str] = []
    real_fsync = appender._fsync_path

    def fsync_path(path: Path) -> None:
        flushed.append(path.name)
        real_fsync(path)

    monkeypatch.setattr(appender, "_fsync_path", fsync_path)
    with open_log(tmp_path, fsync=True) as log:
        assert log._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert log._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        log.add_many([entry(i) for i in range(3)])
    assert flushed == [appender.STATE_DB]
    assert not (tmp_path / ".state" / f"{appender.STATE_DB}-journal").exists()
    with open_log(tmp_path, fsync=True) as log:  # an existing database: no switch, no flush
        assert log.size == 3
    assert flushed == [appender.STATE_DB]
