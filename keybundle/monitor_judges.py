"""SPEC §8.2 step 1: judging log entries under the trust root in force, possibly in parallel.

An :class:`EntryJudge` says of each bundle entry either what it is (a
:class:`~keybundle.history.BundleInfo`) or why it is not a valid signed bundle
(:class:`Rejection`). :class:`SerialJudge` judges in this process; :class:`ProcessJudge` in
worker processes, since signature checks are CPU-bound. The monitor
(:mod:`keybundle.monitor`) applies the results in log order.
"""

from __future__ import annotations

import functools
import marshal
import multiprocessing
import os
import signal
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from .errors import VerificationError
from .history import BundleInfo, KeyInfo, judge_bundle_fields
from .signed_trust_root import parse_unverified_signed_trust_root
from .trustroot import TrustRoot

__all__ = [
    "BUNDLE_WIRE_LENGTH",
    "EntryJudge",
    "Judged",
    "PendingJudgement",
    "ProcessJudge",
    "Rejection",
    "SerialJudge",
    "Wire",
    "key_info",
    "wires_of",
]

_MIN_TASK_ENTRIES = 64
"""Fewer entries are not worth a task of their own in a worker process."""


@dataclass(frozen=True)
class Rejection:
    """An entry that is not a valid signed bundle under the trust root in force."""

    reason: StrEnum
    """The rejection's reason code (a :class:`~keybundle.errors.Reason` or ``LogReason``)."""
    message: str


Judged = BundleInfo | Rejection
"""What an :class:`EntryJudge` says of one entry."""


class PendingJudgement(Protocol):
    """Entries handed to an :class:`EntryJudge`, being judged."""

    def result(self) -> list[Judged]:
        """One result per entry, in order (waits for them)."""
        ...

    def cancel(self) -> None:
        """Drop the results: the caller will not ask for them."""
        ...


class EntryJudge(Protocol):
    """Judges bundle entries (never rotations) under a trust root (SPEC §8.2 step 1).

    :meth:`submit` may return before the entries are judged, so that the monitor reads and
    hashes the next entries meanwhile (OPS §8.1 step 4); results are asked for in order.
    """

    def submit(self, entries: Sequence[bytes], rotation: bytes | None) -> PendingJudgement:
        """Start judging ``entries``. ``rotation`` is the signed trust root in force (already
        verified by the caller), or None for the pinned root."""
        ...

    def close(self) -> None:
        """Release workers."""
        ...


def _judge_all(entries: Iterable[bytes], root: TrustRoot) -> list[Wire]:
    out: list[Wire] = []
    append = out.append
    for entry in entries:
        try:
            append(judge_bundle_fields(entry, root))
        except VerificationError as e:
            append((e.reason, e.message))
    return out


class _Done:
    """Results already at hand, as plain tuples (see :data:`Wire`)."""

    def __init__(self, wires: list[Wire]) -> None:
        self._wires = wires

    def result(self) -> list[Judged]:
        return _from_wire(self._wires)

    def wires(self) -> list[Wire]:
        """:meth:`result` as plain tuples, as the monitor applies them (:func:`wires_of`)."""
        return self._wires

    def cancel(self) -> None:
        self._wires = []


class SerialJudge:
    """Judges in this process, at once."""

    def __init__(self, pinned: TrustRoot) -> None:
        self._pinned = pinned
        self._roots: dict[bytes, TrustRoot] = {}

    def _root(self, rotation: bytes | None) -> TrustRoot:
        if rotation is None:
            return self._pinned
        root = self._roots.get(rotation)
        if root is None:
            root = parse_unverified_signed_trust_root(rotation).root
            self._roots = {rotation: root}
        return root

    def submit(self, entries: Sequence[bytes], rotation: bytes | None) -> PendingJudgement:
        """Judge each entry in turn, now."""
        return _Done(_judge_all(entries, self._root(rotation)))

    def judge_wire(self, entries: Sequence[bytes], rotation: bytes | None) -> list[Wire]:
        """:meth:`judge`'s results as plain tuples (what a worker process sends back)."""
        return _judge_all(entries, self._root(rotation))

    def judge(self, entries: Sequence[bytes], rotation: bytes | None) -> list[Judged]:
        """:meth:`submit`, and its results."""
        return self.submit(entries, rotation).result()

    def close(self) -> None:
        """Nothing to release."""


# Between processes, results travel as plain tuples: a bundle as history.BundleFields (fleet,
# epoch, previous digest, digest, ((key id, algorithm, usage, fingerprint), ...), issued_at,
# signers), a rejection as (reason, message). Pickling dataclasses costs several times as much,
# per entry, on both sides; the serial judge makes the same tuples, so both paths run the same
# code.
Wire = tuple[Any, ...]
"""One entry's result as plain tuples: a bundle's 7 fields or a rejection's 2 (above)."""
BUNDLE_WIRE_LENGTH = 7
"""The length of a bundle's :data:`Wire` (a rejection's is 2)."""


def wires_of(pending: PendingJudgement) -> list[Wire]:
    """The results of ``pending`` as plain tuples (see :data:`Wire`), in order.

    The judges of this module hold them so already (and the monitor applies them so, without
    a :class:`~keybundle.history.BundleInfo` per entry: issue 18); another judge's results
    are taken apart here.
    """
    if isinstance(pending, _Done | _InWorkers):
        return pending.wires()
    return [
        (r.reason, r.message)
        if isinstance(r, Rejection)
        else (r.fleet, r.epoch, r.previous, r.digest, r.keys, r.issued_at, r.signers)
        for r in pending.result()
    ]


key_info = functools.partial(tuple.__new__, KeyInfo)
"""A :class:`KeyInfo` from a :data:`Wire`'s key tuple: ``KeyInfo._make`` without its checks."""


def _from_wire(wire: list[Wire]) -> list[Judged]:
    make_key = key_info
    return [
        BundleInfo(w[0], w[1], w[2], w[3], tuple(map(make_key, w[4])), w[5], w[6])
        if len(w) == BUNDLE_WIRE_LENGTH
        else Rejection(w[0], w[1])
        for w in wire
    ]


_worker_judge: SerialJudge | None = None


def _worker_init(pinned_signed: bytes) -> None:
    global _worker_judge  # noqa: PLW0603 (one judge per worker process)
    # Ctrl-C reaches the whole process group: the parent stops the pool, the workers are
    # not to die mid-task with a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_judge = SerialJudge(parse_unverified_signed_trust_root(pinned_signed).root)


def _worker_ready() -> None:
    """A task that only makes the pool start a worker."""


def _worker_judge_entries(
    entries: list[bytes], rotation: bytes | None
) -> tuple[bytes, dict[int, Wire]]:
    """A task's results: the bundles as one ``marshal`` blob of plain tuples (see
    :data:`Wire`), each rejection (a reason enum member, which marshal does not write) in
    the dict beside it, by position, an empty tuple holding its place in the blob.

    ``marshal`` writes tuples of str, bytes and int about five times faster than ``pickle``
    (which then sends the one bytes object as is), and reads them as fast: the hand-off is
    a blob per task, not an object per entry (issue 18). Only this process and its parent
    read it, and they run the same interpreter, whose format marshal's is.
    """
    judge = _worker_judge
    if judge is None:
        raise AssertionError("bad math in _worker_judge_entries: the worker has no judge")
    wires = judge.judge_wire(entries, rotation)
    rejected = {i: w for i, w in enumerate(wires) if len(w) != BUNDLE_WIRE_LENGTH}
    for i in rejected:
        wires[i] = ()
    return marshal.dumps(wires), rejected


def _joined(blob: bytes, rejected: dict[int, Wire]) -> list[Wire]:
    """The results of :func:`_worker_judge_entries`, as :meth:`SerialJudge.judge_wire`'s."""
    wires: list[Wire] = marshal.loads(blob)  # noqa: S302 (written by our own worker)
    for i, wire in rejected.items():
        wires[i] = wire
    return wires


class _InWorkers:
    """Entries split among worker processes; results joined in order."""

    def __init__(self, futures: list[Future[tuple[bytes, dict[int, Wire]]]]) -> None:
        self._futures = futures

    def result(self) -> list[Judged]:
        return _from_wire(self.wires())

    def wires(self) -> list[Wire]:
        """:meth:`result` as plain tuples, as the monitor applies them (:func:`wires_of`)."""
        out: list[Wire] = []
        for future in self._futures:
            out.extend(_joined(*future.result()))
        return out

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()


class ProcessJudge:
    """Judges in ``workers`` processes: signature checks are CPU-bound and the GIL holds one
    core, so a backfill uses every core this way (OPS §8.1, bench/bench_backfill.py).

    Each submission is split into ``2 * workers`` tasks (so that a worker that finishes early
    takes another), sent as the raw entry bytes; results come back as one blob per task
    (:func:`_worker_judge_entries`).
    """

    def __init__(self, pinned_signed: bytes, workers: int | None = None) -> None:
        count = workers or os.cpu_count() or 1
        self._workers = count
        self._pool = ProcessPoolExecutor(
            max_workers=count,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_worker_init,
            initargs=(pinned_signed,),
        )
        # Start every worker now (the pool starts one per task while none is idle), rather
        # than during the first chunks of a backfill.
        for _ in range(count):
            self._pool.submit(_worker_ready)

    def submit(self, entries: Sequence[bytes], rotation: bytes | None) -> PendingJudgement:
        """Hand ``entries`` to the workers; results in order from the returned object."""
        step = max(_MIN_TASK_ENTRIES, -(-len(entries) // (2 * self._workers)))
        return _InWorkers(
            [
                self._pool.submit(_worker_judge_entries, list(entries[i : i + step]), rotation)
                for i in range(0, len(entries), step)
            ]
        )

    def judge(self, entries: Sequence[bytes], rotation: bytes | None) -> list[Judged]:
        """:meth:`submit`, and its results."""
        return self.submit(entries, rotation).result()

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)
