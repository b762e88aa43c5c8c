"""A log never shows a witness a tree it may lose (OPS §6.2, §6.5.3; issue 16 item 1).

Before: the witnesses were asked before the batch's files were durable, and recovery
discarded the batch, so a crash could leave a witness holding a tree the log never
published; the log then signed another tree of that size (equivocation) and the witness
refused it, and every later checkpoint, for good.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.transparency_log import witness_kill
from tests.transparency_log.serving import serving_on_a_thread
from tests.transparency_log.test_crash import Faults, read_entries
from tests.transparency_log.witnesses import MemoryStateStore
from transparency_log import note, witness_client
from transparency_log.appender import Log
from transparency_log.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.integrate import Frontier
from transparency_log.merkle import leaf_hash
from transparency_log.server import CosigningTileStore
from transparency_log.storage import STAGED_CHECKPOINT_NAME, DirectoryTileStore
from transparency_log.witness import (
    Witness,
    WitnessResponse,
    make_witness_server,
    parse_add_checkpoint_request,
)
from transparency_log.witness_client import WitnessEndpoint

pytestmark = pytest.mark.timeout(240)

ORIGIN = witness_kill.ORIGIN
SIGNER = witness_kill.SIGNER
VERIFIER = witness_kill.VERIFIER
WITNESS = CosignatureV1Signer("witness.example/crash", b"\x0b" * 32)


class RecordingWitness(Witness):
    """A witness that records every checkpoint it is shown (size, root), cosigned or not."""

    def __init__(self) -> None:
        super().__init__(WITNESS, {ORIGIN: VERIFIER}, MemoryStateStore())
        self.shown: set[tuple[int, bytes]] = set()
        self.lock = threading.Lock()

    def add_checkpoint(self, body: bytes) -> WitnessResponse:
        request = parse_add_checkpoint_request(body)
        text, _ = note.parse_unverified(request.signed_checkpoint)
        checkpoint = parse_checkpoint(text)
        with self.lock:
            self.shown.add((checkpoint.size, checkpoint.root_hash))
        return super().add_checkpoint(body)

    def held(self) -> tuple[int, bytes]:
        state = self._store.load(ORIGIN)
        return state.size, state.root_hash


@contextmanager
def recording_witness() -> Iterator[tuple[RecordingWitness, str]]:
    witness = RecordingWitness()
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as served:
        yield witness, f"http://127.0.0.1:{served.port}"


def open_witnessed(root: Path, url: str) -> tuple[Log, CosigningTileStore]:
    store = CosigningTileStore(
        DirectoryTileStore(root, fsync=True),
        VERIFIER,
        ORIGIN,
        [WitnessEndpoint(url, WITNESS.verifier())],
        timeout=5,
    )
    log = Log.open(
        store,
        root / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=VERIFIER,
        batch_size=128,
        fsync=False,
    )
    return log, store


@pytest.mark.slow
def test_a_failure_at_every_step_never_leaves_a_witness_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure at every write, flush, rename and witness request (before it is sent, and
    after the witness cosigned but before the log heard back) of three add_many calls: the
    writer recovers in place, as a reopen would. Every tree the witness was ever shown and
    every checkpoint the log published is in the final log, one root per size, and the
    witness still cosigns the log's final checkpoint."""
    faults = Faults(monkeypatch)
    real_collect = witness_client.collect_cosignatures

    def collect(*args: object, **kwargs: object) -> object:
        faults.point()  # killed before the witness is asked
        collected = real_collect(*args, **kwargs)  # type: ignore[arg-type]
        faults.point()  # killed after it cosigned, before the log publishes
        return collected

    monkeypatch.setattr("transparency_log.server.collect_cosignatures", collect)
    batches = [[b"%d-%d" % (b, i) for i in range(n)] for b, n in enumerate([200, 100, 1])]
    with recording_witness() as (_, url):
        log, _ = open_witnessed(tmp_path / "probe", url)
        with log:
            faults.points = 0
            for batch in batches:
                log.add_many(batch)
            total = faults.points
    assert total > 30
    checked = 0
    for point in range(total):
        root = tmp_path / f"p{point}"
        with recording_witness() as (witness, url):
            log, store = open_witnessed(root, url)
            published: set[tuple[int, bytes]] = set()
            faults.countdown = point
            failed = False
            for batch in batches:
                try:
                    log.add_many(batch)
                except OSError:
                    failed = True
                published.add((log.size, log.root))
            assert failed, point
            for batch in batches:  # resubmitting fills the gaps
                log.add_many(batch)
            log.close()
            log, store = open_witnessed(root, url)
            with log:
                log.add(b"the end")
                assert [o.ok for o in store.last_outcomes] == [True], (point, store.last_outcomes)
                final = (log.size, log.root)
            assert witness.held() == final, point
            entries = read_entries(root, final[0])
            observed = witness.shown | published | {final}
            witness_kill.check_trees(entries, observed)
            checked += len(observed)
    assert checked > total
    print(f"{total} fault points, {checked} checkpoints checked")


@pytest.mark.slow
def test_kill_9_with_a_real_witness_never_leaves_it_ahead(tmp_path: Path) -> None:
    """kill -9 at random instants under load, with a ``keybundle witness serve`` process
    (scripts/kill_witness.py runs as many trials as asked)."""
    report = witness_kill.run_kill_trials(tmp_path, trials=8)
    assert report.acknowledged > 0
    assert report.checkpoints > report.trials


def _signed(size: int, root: bytes, signer: note.Signer = SIGNER) -> bytes:
    return note.sign(Checkpoint(ORIGIN, size, root).body(), signer).encode()


@pytest.mark.parametrize(
    "staged",
    [
        pytest.param(lambda log: b"garbage, or a torn write", id="does-not-verify"),
        pytest.param(
            lambda log: _signed(400, b"\x01" * 32, note.Ed25519Signer(ORIGIN, b"\x0e" * 32)),
            id="another-key",
        ),
        pytest.param(lambda log: _signed(400, b"\x01" * 32), id="tiles-missing"),
        pytest.param(lambda log: _signed(300, b"\x02" * 32), id="not-larger"),
    ],
)
def test_recovery_ignores_a_staged_checkpoint_it_cannot_roll_forward_to(
    tmp_path: Path, staged: Callable[[Log], bytes]
) -> None:
    """OPS §6.2 recovery step 2: a staged checkpoint that does not verify, is not larger, or
    whose tiles do not rebuild its root was never shown to anyone; the log stays put."""
    root = tmp_path / "log"
    with Log.open(
        DirectoryTileStore(root, fsync=False), root / ".state", origin=ORIGIN, signer=SIGNER,
        verifier=VERIFIER, fsync=False,
    ) as log:  # fmt: skip
        log.add_many([b"%d" % i for i in range(300)])
        published = (root / "checkpoint").read_bytes()
        (root / STAGED_CHECKPOINT_NAME).write_bytes(staged(log))
    with Log.open(
        DirectoryTileStore(root, fsync=False), root / ".state", origin=ORIGIN, signer=SIGNER,
        verifier=VERIFIER, fsync=False,
    ) as reopened:  # fmt: skip
        assert reopened.size == 300
        assert (root / "checkpoint").read_bytes() == published
        assert reopened.add(b"more") == 300


def test_recovery_rolls_forward_to_a_staged_tree_a_witness_was_shown(tmp_path: Path) -> None:
    """The crash of issue 16 item 1: staged, shown to the witness, not yet published."""
    root = tmp_path / "log"

    def killed(checkpoint: bytes) -> bytes:
        raise KeyboardInterrupt  # the process dies once the witness has the checkpoint

    first = [b"%d" % i for i in range(300)]
    more = [b"more %d" % i for i in range(20)]
    with Log.open(
        DirectoryTileStore(root, fsync=False), root / ".state", origin=ORIGIN, signer=SIGNER,
        verifier=VERIFIER, fsync=False,
    ) as log:  # fmt: skip
        log.add_many(first)
    # The next batch's files and checkpoint, exactly as the writer computes them (OPS §6.2).
    grown = Frontier(0, [], b"")
    grown.append(first, [leaf_hash(e) for e in first])
    files = grown.append(more, [leaf_hash(e) for e in more])
    shown = _signed(grown.size, grown.root())
    with pytest.raises(KeyboardInterrupt):
        DirectoryTileStore(root, fsync=False).publish(files, shown, cosign=killed)
    published = verify_checkpoint((root / "checkpoint").read_bytes(), VERIFIER, origin=ORIGIN)
    assert published.checkpoint.size == 300
    with Log.open(
        DirectoryTileStore(root, fsync=False), root / ".state", origin=ORIGIN, signer=SIGNER,
        verifier=VERIFIER, fsync=False,
    ) as reopened:  # fmt: skip
        assert (reopened.size, reopened.root) == (320, grown.root())
        assert (root / "checkpoint").read_bytes() == shown
        assert reopened.add_many(more) == list(range(300, 320))
