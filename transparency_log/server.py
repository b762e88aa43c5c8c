"""C2SP tlog-tiles HTTP service: ``POST /add`` and the static read paths (SPEC §6.5).

The read side is the tile directory itself (``checkpoint``, ``tile/<L>/<N>[.p/<W>]``,
``tile/entries/<N>[.p/<W>]``), served here with the content types and cache headers of
C2SP tlog-tiles, or by any static web server (deploy/nginx/keybundle-log.conf). The write
side is ``POST /add``: the body is one entry; the answer comes once the entry is in a
published checkpoint (the appender acknowledges only then, OPS §6.2), and is the entry's
C2SP tlog-proof (SPEC §2.7), built from the published tiles and checked on the way.

Concurrent submitters share batches: each request thread calls :meth:`Log.add`, which
blocks until the batch holding the entry is integrated (batch size and maximum age are the
log's). Nothing is acknowledged before its checkpoint is durable, an entry submitted twice
gets its existing index, and a rejected entry leaves the log unchanged.

Optionally the log asks witnesses to cosign each checkpoint once its batch is durable and
before publishing it (:class:`CosigningTileStore`, C2SP tlog-witness, SPEC §6.4.4, OPS §6.5.3);
a witness that fails delays publication by nothing beyond its timeout, and ``POST /add``
answers only once the witnesses' quorum is met (504 with ``Retry-After`` if it is not in
time). :class:`Recosigner` keeps the published checkpoint freshly cosigned: again every
interval while the log does not grow, so that its cosignatures stay younger than clients'
maximum cosignature age, and within seconds after a witness outage ends.

Everything runs on waitress, a production WSGI server that reads each request completely
(within its size limit) before a worker thread sees it.
"""

from __future__ import annotations

import http
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from transparency_log import _http, durable, note
from transparency_log._http import DEFAULT_CONNECTION_GUARD, ConnectionGuard
from transparency_log.appender import DEFAULT_BATCH_MAX_AGE, DEFAULT_BATCH_SIZE, Admission, Log
from transparency_log.checkpoint import VerifiedCheckpoint, parse_checkpoint, verify_checkpoint
from transparency_log.entry_bundle import MAX_ENTRY_SIZE
from transparency_log.errors import VerificationError
from transparency_log.fetcher import FetchError, NotFoundError, validate_fetch_path
from transparency_log.policy import Policy
from transparency_log.storage import CHECKPOINT_PATH, Cosign, DirectoryTileStore, TileStore
from transparency_log.tile import (
    MAX_TILE_PATH_LENGTH,
    TILE_HEIGHT,
    TILE_WIDTH,
    EntryBundle,
    Tile,
    parse_tile_path,
)
from transparency_log.tlog_client import LogClient
from transparency_log.witness_client import (
    DEFAULT_TIMEOUT_SECONDS,
    WitnessEndpoint,
    WitnessOutcome,
    collect_cosignatures,
    merge_signature_lines,
)

__all__ = [
    "CHECKPOINT_CACHE_CONTROL",
    "CHECKPOINT_CONTENT_TYPE",
    "COSIGN_ANSWER_FILE",
    "COSIGN_REQUEST_FILE",
    "DEFAULT_ADD_QUORUM_WAIT_SECONDS",
    "DEFAULT_CONNECTION_GUARD",
    "DEFAULT_RECOSIGN_INTERVAL_SECONDS",
    "DEFAULT_SERVER_THREADS",
    "MAX_ADD_BODY_BYTES",
    "RECOSIGN_RETRY_MAX_SECONDS",
    "RECOSIGN_RETRY_MIN_SECONDS",
    "TILE_CACHE_CONTROL",
    "TILE_CONTENT_TYPE",
    "ConnectionGuard",
    "CosigningRound",
    "CosigningTileStore",
    "LogResponse",
    "LogServer",
    "LogService",
    "Recosigner",
    "WitnessConfig",
    "make_log_server",
    "make_wsgi_app",
    "recosign_interval_for",
    "serve_log",
]

_log = logging.getLogger(__name__)

MAX_ADD_BODY_BYTES = MAX_ENTRY_SIZE
"""Largest ``POST /add`` body: one entry, which an entry bundle's u16 length caps at 65535
bytes (SPEC §11). Waitress refuses longer bodies before buffering them."""

CHECKPOINT_CONTENT_TYPE = "text/plain; charset=utf-8"
"""Content type of ``/checkpoint`` (C2SP tlog-tiles §Checkpoints) and of text answers."""

TILE_CONTENT_TYPE = "application/octet-stream"
"""Content type of tiles and entry bundles (C2SP tlog-tiles)."""

CHECKPOINT_CACHE_CONTROL = "public, max-age=5"
"""The checkpoint changes with every integration: caches may keep it a few seconds only."""

TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""Tiles and entry bundles never change once written (a partial one's path names its
width), so they are cacheable for a year and never revalidated."""

DEFAULT_SERVER_THREADS = 16
"""Waitress worker threads of :func:`serve_log`: each blocked submitter holds one until its
batch is integrated, so this bounds how many submissions share a batch."""

DEFAULT_RECOSIGN_INTERVAL_SECONDS = 3600.0
"""The longest default re-cosigning interval (OPS §6.5.3), and the default of a log without a
trust root: how long its cosignatures may age before the witnesses are asked again. A log
with a trust root defaults to a quarter of its ``max_cosignature_age``
(:func:`recosign_interval_for`), so an idle log's checkpoint stays acceptable."""

RECOSIGN_RETRY_MIN_SECONDS = 1.0
"""First retry of a witness that did not cosign the published checkpoint (OPS §6.5.3)."""

RECOSIGN_RETRY_MAX_SECONDS = 15.0
"""Longest wait between retries while a witness stays down: once it is back, the checkpoint
is cosigned within this long (OPS §6.5.3)."""

DEFAULT_ADD_QUORUM_WAIT_SECONDS = 30.0
"""How long ``POST /add`` waits, after its entry is published, for a checkpoint that meets
the witness quorum before it answers 504 with ``Retry-After`` (SPEC §6.5.2). Under the
server's channel timeout (120 s)."""

ADD_RETRY_AFTER_SECONDS = 15
"""The ``Retry-After`` of a 504 from ``POST /add``: about one retry period of a witness."""

_TEXT = CHECKPOINT_CONTENT_TYPE
_NO_STORE = "no-store"


class LogResponse(NamedTuple):
    """One HTTP answer: status, headers (without Content-Length) and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _text(status: int, message: str, *extra: tuple[str, str]) -> LogResponse:
    return LogResponse(
        status,
        (("Content-Type", _TEXT), ("Cache-Control", _NO_STORE), *extra),
        (message.rstrip("\n").replace("\n", " ") + "\n").encode("utf-8"),
    )


class _StoreFetcher:
    """A :class:`~transparency_log.fetcher.Fetcher` over a :class:`TileStore`'s reads.

    Given the ``pending`` files about to be published, it reads those first, then the
    store's published ones.
    """

    def __init__(self, store: TileStore, pending: Mapping[str, bytes] | None = None) -> None:
        self._store = store
        self._pending: Mapping[str, bytes] = {} if pending is None else pending
        self._missing = (
            "is not in the log's store"
            if pending is None
            else "is neither published nor being published"
        )

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        data = self._pending.get(validate_fetch_path(path))
        if data is None:
            data = self._store.read(path)
        if data is None:
            raise NotFoundError(path, f"{path!r} {self._missing}")
        if max_bytes is not None and len(data) > max_bytes:
            raise FetchError(path, f"{path!r} is {len(data)} bytes, over {max_bytes}")
        return data


class _Prover:
    """Builds tlog-proofs from the published tiles, checking them as any client would."""

    def __init__(self, store: TileStore, verifier: note.Verifier, origin: str) -> None:
        self._fetcher = _StoreFetcher(store)
        self._client = LogClient(self._fetcher, verifier, origin=origin)
        self._lock = threading.Lock()
        self._latest: VerifiedCheckpoint | None = None

    def proof(self, index: int) -> str:
        """The C2SP tlog-proof of ``index`` under the published checkpoint."""
        with self._lock:
            signed = self._fetcher.fetch(CHECKPOINT_PATH)
            latest = self._latest
            if latest is None or latest.note_text != signed:
                latest = self._client.verify_checkpoint(signed)
                self._latest = latest
            return self._client.inclusion_proof(index, latest).format()


class LogService:
    """The log's HTTP semantics, without HTTP: ``add(body)`` and ``read(path)`` (SPEC §6.5).

    ``log`` is the open appender; ``verifier`` and ``origin`` are its key and origin, used
    to check the published checkpoint before a proof is built on it.
    """

    def __init__(
        self,
        log: Log,
        verifier: note.Verifier,
        origin: str,
        *,
        max_body_bytes: int = MAX_ADD_BODY_BYTES,
        quorum_wait: float = DEFAULT_ADD_QUORUM_WAIT_SECONDS,
        recosign_interval: float = DEFAULT_RECOSIGN_INTERVAL_SECONDS,
    ) -> None:
        if not 1 <= max_body_bytes <= MAX_ADD_BODY_BYTES:
            raise ValueError(f"max_body_bytes must be in 1..{MAX_ADD_BODY_BYTES}")
        if not quorum_wait >= 0:
            raise ValueError(f"quorum_wait must be >= 0 seconds, not {quorum_wait!r}")
        self._quorum_wait = float(quorum_wait)
        # With re-cosigning off (0), /add still runs rounds for its quorum on this schedule.
        self._recosign_interval = (
            recosign_interval if recosign_interval > 0 else DEFAULT_RECOSIGN_INTERVAL_SECONDS
        )
        self._log = log
        self._store = log.store
        self._max_body_bytes = max_body_bytes
        self._prover = _Prover(log.store, verifier, origin)
        self._published: tuple[bytes, int] = (b"", 0)  # checkpoint bytes read, their size
        self._published_lock = threading.Lock()

    @property
    def max_body_bytes(self) -> int:
        """The largest entry ``POST /add`` accepts."""
        return self._max_body_bytes

    def add(self, body: bytes) -> LogResponse:
        """Append ``body`` as one entry; 200 with its tlog-proof once it is published."""
        if not body:
            return _text(
                http.HTTPStatus.BAD_REQUEST,
                "the request body is empty; POST /add takes exactly one log entry as its body",
            )
        if len(body) > self._max_body_bytes:
            return _text(
                http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the entry is {len(body)} bytes; this log accepts at most {self._max_body_bytes}",
            )
        try:
            index = self._log.add(body)
        except VerificationError as e:
            return _text(
                http.HTTPStatus.UNPROCESSABLE_ENTITY,
                f"entry rejected by the log's admission policy ({e.reason}): {e.message}",
            )
        except ValueError as e:
            # The log is closing (or refused the entry's shape, which was checked above).
            return _text(http.HTTPStatus.SERVICE_UNAVAILABLE, f"the log is not accepting: {e}")
        except (OSError, RuntimeError, sqlite3.Error) as e:
            # A full disk among them (OPS §6.2 "Storage errors"): the writer recovers by
            # itself once there is space again.
            _log.error("integration failed: %s", e)
            return _text(
                http.HTTPStatus.SERVICE_UNAVAILABLE,
                "the log could not store the entry; nothing was acknowledged, retry later",
                ("Retry-After", "1"),
            )
        store = self._store
        if isinstance(store, CosigningTileStore) and not store.wait_cosigned(
            index, self._quorum_wait, self._recosign_interval
        ):
            return _text(
                http.HTTPStatus.GATEWAY_TIMEOUT,
                f"the entry is logged at index {index}, but no checkpoint covering it met the "
                f"witness quorum within {self._quorum_wait:g} s; submit it again later for "
                "its proof",
                ("Retry-After", str(ADD_RETRY_AFTER_SECONDS)),
            )
        try:
            proof = self._prover.proof(index)
        except (VerificationError, OSError) as e:
            _log.error("entry %d is logged but its proof failed: %s", index, e)
            return _text(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                f"the entry is logged at index {index}, but its proof could not be built "
                "from the published tiles; fetch it later",
            )
        return LogResponse(
            http.HTTPStatus.OK,
            (("Content-Type", _TEXT), ("Cache-Control", _NO_STORE)),
            proof.encode("utf-8"),
        )

    def _published_size(self) -> int | None:
        """The size of the checkpoint in the store; None if there is none or it does not
        parse (a damaged store: then no tile is served)."""
        signed = self._store.read(CHECKPOINT_PATH)
        if signed is None:
            return None
        with self._published_lock:
            if self._published[0] == signed:
                return self._published[1]
        try:
            text, _ = note.parse_unverified(signed)
            size = parse_checkpoint(text).size
        except VerificationError as e:
            _log.error("the published checkpoint does not parse: %s", e.message)
            return None
        with self._published_lock:
            self._published = (signed, size)
        return size

    def read(self, path: str) -> LogResponse:
        """The static resource at ``path`` (no leading ``/``) with tlog-tiles headers.

        A tile or entry bundle beyond the published checkpoint's size is 404 (SPEC §6.5.1).
        """
        resource: Tile | EntryBundle | None = None
        if path == CHECKPOINT_PATH:
            content_type, cache = CHECKPOINT_CONTENT_TYPE, CHECKPOINT_CACHE_CONTROL
        else:
            if len(path) > MAX_TILE_PATH_LENGTH:
                return _text(http.HTTPStatus.NOT_FOUND, "not found: path too long")
            try:
                resource = parse_tile_path(path)
            except VerificationError:
                return _text(
                    http.HTTPStatus.NOT_FOUND,
                    "not found: not a C2SP tlog-tiles path (checkpoint, tile/<L>/<N>[.p/<W>], "
                    "tile/entries/<N>[.p/<W>])",
                )
            if resource.path() != path:
                raise AssertionError("bad math in LogService.read: a non-canonical tile path")
            content_type, cache = TILE_CONTENT_TYPE, TILE_CACHE_CONTROL
        not_published = _text(http.HTTPStatus.NOT_FOUND, f"not found: {path} is not published")
        try:
            if resource is not None:
                # The checkpoint first: every file its size requires was final before it
                # was published (SPEC §6.1), so the file read next is final too.
                size = self._published_size()
                if size is None or not _within(resource, size):
                    return not_published
            data = self._store.read(path)
        except (OSError, ValueError) as e:
            _log.error("cannot read %s: %s", path, e)
            return _text(http.HTTPStatus.INTERNAL_SERVER_ERROR, "the resource cannot be read")
        if data is None:
            return not_published
        return LogResponse(
            http.HTTPStatus.OK, (("Content-Type", content_type), ("Cache-Control", cache)), data
        )


def _within(resource: Tile | EntryBundle, size: int) -> bool:
    """Whether every hash (entry) of ``resource`` is in the tree of ``size`` leaves.

    Its last one covers leaves up to ``(index · 256 + width) · 256^L`` (entry bundles: level
    0). A resource beyond the published size may be garbage of an interrupted integration
    that a later batch rewrites (SPEC §6.1), so it is not served, let alone as immutable. A
    partial tile within the size is either one a published checkpoint required (final) or
    one none ever will (never asked for by a client that verifies first, SPEC §6.5.4).
    """
    level = resource.level if isinstance(resource, Tile) else 0
    return (resource.index * TILE_WIDTH + resource.width) << (TILE_HEIGHT * level) <= size


def _dispatch(service: LogService, environ: Mapping[str, Any]) -> LogResponse:
    path = str(environ.get("PATH_INFO") or "")
    method = str(environ.get("REQUEST_METHOD") or "")
    if path == "/add":
        if method != "POST":
            return _text(http.HTTPStatus.METHOD_NOT_ALLOWED, "/add takes POST", ("Allow", "POST"))
        body = _http.read_body(environ, service.max_body_bytes, what="the entry", who="this log")
        if isinstance(body, _http.Refusal):
            return _text(body.status, body.message)
        return service.add(body)
    if path == "/" + CHECKPOINT_PATH or path.startswith("/tile/"):
        if method not in ("GET", "HEAD"):
            return _text(
                http.HTTPStatus.METHOD_NOT_ALLOWED,
                "the log's read paths take GET or HEAD",
                ("Allow", "GET, HEAD"),
            )
        return service.read(path[1:])
    return _text(
        http.HTTPStatus.NOT_FOUND,
        "not found; this log serves POST /add, /checkpoint, /tile/... and /tile/entries/...",
    )


def make_wsgi_app(service: LogService) -> _http.WSGIApp:
    """A WSGI application serving ``service`` (SPEC §6.5). Every answer has Content-Length."""

    def app(environ: dict[str, Any], start_response: _http.StartResponse) -> list[bytes]:
        return _http.respond(environ, start_response, _dispatch(service, environ))

    return app


class LogServer(_http.WaitressServer):
    """A log's WSGI app on waitress, bound and ready to :meth:`serve_forever`."""


def make_log_server(
    service: LogService,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    threads: int = DEFAULT_SERVER_THREADS,
    guard: ConnectionGuard = DEFAULT_CONNECTION_GUARD,
    wrap: Callable[[_http.WSGIApp], _http.WSGIApp] | None = None,
) -> LogServer:
    """Bind ``service`` on waitress (SPEC §6.5).

    Waitress buffers each request body before a worker sees it, up to twice the entry limit
    (so that a body over the limit, up to twice, still gets this app's one-line 413 answer)
    and answers 413 itself beyond; ``guard`` sheds idle and trickling connections (SPEC
    §6.5.2). A submission waiting for its batch and witnesses is being answered and is never
    shed. ``wrap`` wraps the app (:func:`transparency_log.observe.instrument`: health,
    metrics, logs).
    """
    app = make_wsgi_app(service)
    server = _http.create_waitress_server(
        app if wrap is None else wrap(app),
        host,
        port,
        threads=threads,
        max_body_bytes=service.max_body_bytes,
        ident="keybundle-log",
        guard=guard,
    )
    return LogServer(server)


@dataclass(frozen=True)
class WitnessConfig:
    """The witnesses a log asks, and the quorum it waits for (OPS §6.5.3).

    ``policies`` are the tlog-policies whose quorum every published checkpoint should meet:
    one per trust-root version the log's clients may pin (OPS §6.5.5 ``witnesses``). With
    none, the quorum is every witness in ``endpoints`` (the log cannot know which ones its
    clients count).
    """

    endpoints: tuple[WitnessEndpoint, ...]
    policies: tuple[Policy, ...] = ()

    @classmethod
    def from_policies(cls, policies: Sequence[Policy]) -> WitnessConfig:
        """The union of the policies' witnesses (each key once), every one with a URL."""
        endpoints: dict[str, WitnessEndpoint] = {}
        for policy in policies:
            for witness in policy.witnesses:
                if witness.url is None:
                    raise ValueError(f"witness {witness.name!r} has no URL to submit to")
                endpoints.setdefault(witness.vkey, WitnessEndpoint(witness.url, witness.verifier()))
        return cls(tuple(endpoints.values()), tuple(policies))

    def quorum_met(self, cosigners: Collection[str]) -> bool:
        """Whether cosignatures by these key names meet every policy's quorum."""
        if not self.policies:
            return all(w.name in cosigners for w in self.endpoints)
        return all(policy.quorum_satisfied(cosigners) for policy in self.policies)


@dataclass(frozen=True)
class CosigningRound:
    """One round of witness requests, a publication's or a re-cosigning's (OPS §6.5.3), as
    an operator sees it (OPS §6.6): logged as one ``cosigning_round`` record and handed to
    :attr:`CosigningTileStore.on_round` (the metrics of
    :class:`transparency_log.observe.LogMetrics`)."""

    kind: Literal["publish", "recosign"]
    """``publish`` (a new checkpoint) or ``recosign`` (the published one again)."""
    size: int
    outcomes: tuple[WitnessOutcome, ...]
    """One per witness asked, in the configured order."""
    quorum_met: bool
    """Whether the checkpoint published after the round meets the quorum (a re-cosigning
    round counts the earlier cosignatures it keeps)."""
    seconds: float

    @property
    def failed(self) -> dict[str, str]:
        """Witness name -> why it did not cosign."""
        return {o.witness.name: o.error for o in self.outcomes if o.error is not None}

    @property
    def outcome(self) -> Literal["complete", "degraded", "no_quorum"]:
        """``complete`` (every witness asked cosigned), ``degraded`` (some failed, the quorum
        is met) or ``no_quorum``."""
        if not self.quorum_met:
            return "no_quorum"
        return "degraded" if self.failed else "complete"

    def log(self) -> None:
        """The round's structured record (a warning when a witness failed)."""
        _log.log(
            logging.WARNING if self.failed else logging.INFO,
            "cosigning round",
            extra={
                "event": "cosigning_round",
                "kind": self.kind,
                "size": self.size,
                "asked": [o.witness.name for o in self.outcomes],
                "cosigned": [o.witness.name for o in self.outcomes if o.ok],
                "failed": self.failed,
                "quorum_met": self.quorum_met,
                "outcome": self.outcome,
                "ms": round(self.seconds * 1000, 1),
            },
        )


def _as_config(witnesses: Sequence[WitnessEndpoint] | WitnessConfig) -> WitnessConfig:
    if isinstance(witnesses, WitnessConfig):
        return witnesses
    return WitnessConfig(tuple(witnesses))


class CosigningTileStore:
    """A :class:`TileStore` that has witnesses cosign each checkpoint as it is published.

    It wraps the log's store. :meth:`publish` has the wrapped store stage the files and the
    new checkpoint durably first; only then are the witnesses asked (C2SP tlog-witness
    ``add-checkpoint``, SPEC §6.4.4, OPS §6.5.3) to cosign it, with consistency proofs from the
    previous published checkpoint built from the staged files, and the checkpoint is
    published with every cosignature that verified. So a witness is never shown a tree the
    log may lose in a crash (recovery rolls forward to the staged tree, OPS §6.2). Witness
    failures are logged and never block publication (availability first; each client's
    quorum decides whether a checkpoint is cosigned enough).

    :meth:`recosign` asks them again for the published checkpoint, so that the cosignatures
    of a log that does not grow stay fresh, and so that a witness that was down is caught
    up within seconds of coming back (OPS §6.5.3); :class:`Recosigner` calls it on a
    schedule, :meth:`wait_cosigned` on behalf of ``POST /add``. One lock serialises
    publication and re-cosigning: a re-cosigned checkpoint is never published over a newer
    one, and a witness never sees two requests race (it would answer the older one with a
    409 that reads like a rollback). ``source``, if given, is called at the start of each
    round for the current witness configuration (a log's witnesses change without a
    restart; an error keeps the previous one). ``now`` is the wall clock (Unix seconds) the
    schedule is kept in, as the cosignatures' timestamps are.
    """

    def __init__(
        self,
        inner: TileStore,
        verifier: note.Verifier,
        origin: str,
        witnesses: Sequence[WitnessEndpoint] | WitnessConfig,
        *,
        source: Callable[[], WitnessConfig] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        now: Callable[[], float] = time.time,
        on_round: Callable[[CosigningRound], None] | None = None,
    ) -> None:
        self.on_round = on_round
        """Called after each round with what it did (a serving log's metrics)."""
        self._config = _as_config(witnesses)
        if not self._config.endpoints and source is None:
            raise ValueError("a cosigning store needs at least one witness")
        self._inner = inner
        self._verifier = verifier
        self._origin = origin
        self._source = source
        self._timeout = timeout
        self._now = now
        self._lock = threading.Lock()  # one round (publication or re-cosigning) at a time
        self._changed = threading.Condition()  # a round ended; guards the fields below
        self._last_attempt: float | None = None
        self._streak = 0  # rounds in a row that left a configured witness without a cosignature
        self._rounds = 0
        self.last_outcomes: tuple[WitnessOutcome, ...] = ()
        """What each witness asked did with the last checkpoint (for operators, tests)."""

    @property
    def config(self) -> WitnessConfig:
        """The witness configuration of the last round."""
        return self._config

    @property
    def rounds(self) -> int:
        """Rounds of witness requests so far (publications and re-cosignings)."""
        with self._changed:
            return self._rounds

    def read(self, path: str) -> bytes | None:
        """Read through to the wrapped store."""
        return self._inner.read(path)

    def staged(self) -> bytes | None:
        """The wrapped store's staged checkpoint."""
        return self._inner.staged()

    def discard_partials(self, full_path: str) -> None:
        """Through to the wrapped store."""
        self._inner.discard_partials(full_path)

    def publish(
        self, files: Mapping[str, bytes], checkpoint: bytes, *, cosign: Cosign | None = None
    ) -> None:
        """Stage ``files`` and ``checkpoint``, collect cosignatures on it, publish it."""
        if cosign is not None:
            raise ValueError("a cosigning store collects the cosignatures itself")
        with self._lock:
            self._refresh()
            config = self._config
            if not config.endpoints:
                self._inner.publish(files, checkpoint)
                return
            size = _size_of(checkpoint)
            old_size = self._previous_size(size)

            def collect(staged: bytes) -> bytes:
                # The files are durable now (OPS §6.2): only now is the tree shown.
                client = LogClient(
                    _StoreFetcher(self._inner, files), self._verifier, origin=self._origin
                )
                new = client.verify_checkpoint(staged)

                def proof_for(old: int) -> list[bytes]:
                    return client.consistency_proof(old, new)

                began = time.monotonic()
                collected = collect_cosignatures(
                    staged, old_size, proof_for, config.endpoints, timeout=self._timeout
                )
                self._finish_round(collected.outcomes, complete=not collected.failures)
                cosigners = {o.witness.name for o in collected.outcomes if o.ok}
                self._report(
                    CosigningRound(
                        "publish", size, collected.outcomes, config.quorum_met(cosigners),
                        time.monotonic() - began,
                    )
                )  # fmt: skip
                return collected.signed_checkpoint

            try:
                self._inner.publish(files, checkpoint, cosign=collect)
            finally:
                with self._changed:
                    self._changed.notify_all()

    def recosign_due(self, interval: float) -> float:
        """When (``now`` clock) the published checkpoint is due to be cosigned again.

        ``interval`` seconds after the oldest cosignature it carries by a configured witness
        (one missing counts as infinitely old; a timestamp ahead of the clock counts as now).
        But while the last rounds left a configured witness without a cosignature, no sooner
        than a backoff after the last attempt (``RECOSIGN_RETRY_MIN_SECONDS``, doubling up to
        ``RECOSIGN_RETRY_MAX_SECONDS``): a witness back from an outage is caught up within
        seconds; and after a complete round, no sooner than ``interval`` after it. A changed
        witness configuration is read first: a new witness is due at once.
        """
        self._refresh()
        fresh = self._cosigned_at()
        now = self._now()
        endpoints = self._config.endpoints
        oldest = min((fresh.get(w.name, -math.inf) for w in endpoints), default=now)
        due = min(oldest, now) + interval
        with self._changed:
            last, streak = self._last_attempt, self._streak
        if last is not None:
            wait = interval if streak == 0 else _backoff(streak, interval)
            due = max(due, last + wait)
        return due

    def recosign(
        self, *, everyone: bool = False, interval: float | None = None
    ) -> tuple[WitnessOutcome, ...]:
        """Ask witnesses to cosign the published checkpoint again (OPS §6.5.3).

        Asked are the configured witnesses whose cosignature on it is missing or, given
        ``interval``, older than that; with ``everyone``, all of them. The request is the
        checkpoint with the log's signature only and the old size equal to its size (no
        proof): a witness holding that tree cosigns it again with a fresh timestamp (SPEC
        §6.4.2 step 8). If at least one witness cosigned, the checkpoint is republished
        through the wrapped store, atomically: the same text, the log's own signature line,
        the fresh cosignatures, and the previous line of each witness that was not asked or
        failed; nothing is republished otherwise. Raises VerificationError if the published
        checkpoint does not verify under the log's key (it is left alone).
        """
        try:
            with self._lock:
                return self._recosign(everyone=everyone, interval=interval)
        finally:
            with self._changed:
                self._changed.notify_all()

    def _recosign(self, *, everyone: bool, interval: float | None) -> tuple[WitnessOutcome, ...]:
        self._refresh()
        published = self._inner.read(CHECKPOINT_PATH)
        if published is None or not self._config.endpoints:
            return ()
        current = self._verify(published)
        size = current.checkpoint.size
        now = self._now()
        stale = -math.inf if interval is None else now - interval
        asked = tuple(
            w
            for w in self._config.endpoints
            if everyone or current.cosignatures.get(w.name, -math.inf) <= stale
        )
        if not asked:
            return ()
        text, lines = note.parse_unverified(published)
        log_only = (text + "\n" + current.log_signature.to_line()).encode("utf-8")
        client = LogClient(_StoreFetcher(self._inner), self._verifier, origin=self._origin)

        def proof_for(old: int) -> list[bytes]:  # a witness that holds an older tree
            return client.consistency_proof(old, current)

        began = time.monotonic()
        collected = collect_cosignatures(log_only, size, proof_for, asked, timeout=self._timeout)
        succeeded = {
            (o.witness.name, o.witness.verifier.key_hash) for o in collected.outcomes if o.ok
        }
        cosigning = {name for name, _ in succeeded}
        asked_names = {w.name for w in asked}
        complete = all(
            w.name in cosigning or (w.name not in asked_names and w.name in current.cosignatures)
            for w in self._config.endpoints
        )
        self._finish_round(collected.outcomes, complete=complete)
        met = self._config.quorum_met(set(current.cosignatures) | cosigning)
        if succeeded:
            kept = [sig.to_line() for sig in lines if (sig.name, sig.key_hash) not in succeeded]
            self._inner.publish({}, merge_signature_lines(collected.signed_checkpoint, kept))
        self._report(
            CosigningRound("recosign", size, collected.outcomes, met, time.monotonic() - began)
        )
        return collected.outcomes

    def quorum_met(self) -> bool:
        """Whether the published checkpoint meets the quorum (OPS §6.5.3)."""
        return self.cosigned(-1)

    def cosigned(self, index: int) -> bool:
        """Whether the published checkpoint covers leaf ``index`` and meets the quorum."""
        published = self._inner.read(CHECKPOINT_PATH)
        if published is None:
            return False
        try:
            verified = self._verify(published)
        except VerificationError:
            return False
        return verified.checkpoint.size > index and self._config.quorum_met(
            set(verified.cosignatures)
        )

    def wait_cosigned(self, index: int, timeout: float, interval: float) -> bool:
        """Wait up to ``timeout`` seconds for a published checkpoint that covers ``index``
        and meets the quorum (SPEC §6.5.2), running a re-cosigning round when one is due
        (``recosign_due(interval)``, so a witness outage is retried with backoff, not at
        the rate of requests); whether one came."""
        deadline = time.monotonic() + timeout
        while True:
            if self.cosigned(index):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait = self.recosign_due(interval) - self._now()
            if wait <= 0 and self._lock.acquire(blocking=False):
                try:
                    self._recosign(everyone=False, interval=None)
                except (VerificationError, OSError, ValueError) as e:
                    _log.error("could not re-cosign the published checkpoint: %s", e)
                finally:
                    self._lock.release()
                    with self._changed:
                        self._changed.notify_all()
                continue
            with self._changed:
                self._changed.wait(min(left, max(wait, 0.05)))

    def _finish_round(self, outcomes: tuple[WitnessOutcome, ...], *, complete: bool) -> None:
        with self._changed:
            self._last_attempt = self._now()
            self._streak = 0 if complete else self._streak + 1
            self._rounds += 1
            self.last_outcomes = outcomes

    def _cosigned_at(self) -> dict[str, float]:
        """Key name -> timestamp of each verified cosignature on the published checkpoint."""
        published = self._inner.read(CHECKPOINT_PATH)
        if published is None:
            return {}
        try:
            verified = self._verify(published)
        except VerificationError:
            return {}  # recosign() reports it
        return {name: float(ts) for name, ts in verified.cosignatures.items()}

    def _refresh(self) -> None:
        if self._source is None:
            return
        try:
            config = self._source()
        except (OSError, ValueError, VerificationError) as e:
            _log.error("keeping the previous witnesses: the configuration cannot be read: %s", e)
            return
        if config != self._config:
            _log.info("witnesses now: %s", ", ".join(w.name for w in config.endpoints) or "none")
            with self._changed:
                self._config = config
                self._streak = 0
                self._last_attempt = None  # a new witness is asked at once, not an interval on

    def _verify(self, signed: bytes) -> VerifiedCheckpoint:
        return verify_checkpoint(
            signed,
            self._verifier,
            origin=self._origin,
            witnesses=[w.verifier for w in self._config.endpoints],
        )

    def _report(self, round_: CosigningRound) -> None:
        round_.log()
        if self.on_round is not None:
            self.on_round(round_)

    def _previous_size(self, new_size: int) -> int:
        """The published size the witnesses most likely hold (0 if none or unreadable)."""
        old = self._inner.read(CHECKPOINT_PATH)
        if old is None:
            return 0
        try:
            size = _size_of(old)
        except ValueError:
            return 0
        return size if size <= new_size else 0


def _size_of(signed: bytes) -> int:
    try:
        text, _ = note.parse_unverified(signed)
        return parse_checkpoint(text).size
    except VerificationError as e:
        raise ValueError(f"not a signed checkpoint: {e.message}") from e


def _backoff(streak: int, interval: float) -> float:
    """Seconds before the ``streak``-th retry of an incomplete round (OPS §6.5.3)."""
    delay = RECOSIGN_RETRY_MIN_SECONDS * float(1 << min(streak - 1, 16))
    return min(delay, RECOSIGN_RETRY_MAX_SECONDS, interval)


def recosign_interval_for(max_cosignature_age: int | None) -> float:
    """The default re-cosigning interval (OPS §6.5.3): a quarter of the trust root's
    ``max_cosignature_age``, at most ``DEFAULT_RECOSIGN_INTERVAL_SECONDS``."""
    if max_cosignature_age is None:
        return DEFAULT_RECOSIGN_INTERVAL_SECONDS
    return max(1.0, min(DEFAULT_RECOSIGN_INTERVAL_SECONDS, max_cosignature_age / 4))


COSIGN_REQUEST_FILE = "cosign-request"
"""In the log's state directory: ``keybundle log cosign`` asks a running server for a round."""

COSIGN_ANSWER_FILE = "cosign-answer"
"""In the log's state directory: the server's answer to the request (CLI §10.6)."""

MAX_COSIGN_REQUEST_BYTES = 64


class Recosigner:
    """Keeps a log's checkpoint freshly cosigned: a thread that calls
    :meth:`CosigningTileStore.recosign` when the checkpoint is due (OPS §6.5.3).

    A checkpoint is cosigned whenever the log grows; a log that does not grow keeps its
    cosignatures, which age until clients' maximum cosignature age refuses them. So once
    ``interval`` seconds have passed since the oldest cosignature, the witnesses are asked
    again, and a witness that failed is retried with backoff (seconds) until it cosigns.
    With ``state_dir``, the thread also answers ``keybundle log cosign`` (a request file
    there, checked every second: CLI §10.6). :meth:`run_once` is one step, for tests with a
    fake clock; :meth:`start` runs it on a daemon thread until :meth:`close`.
    """

    def __init__(
        self,
        store: CosigningTileStore,
        interval: float,
        *,
        state_dir: Path | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"the re-cosigning interval must be positive, not {interval!r}")
        self._store = store
        self._interval = float(interval)
        self._state_dir = state_dir
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> float:
        """Re-cosign if the published checkpoint is due (or a round was requested); the
        seconds to wait until the next check."""
        request = self._take_request()
        try:
            if request is not None:
                outcomes = self._store.recosign(everyone=True)
                met = "quorum met" if self._store.quorum_met() else "quorum not met"
                self._answer(request, _summary(outcomes) + "\n" + met)
            elif self._now() >= self._store.recosign_due(self._interval):
                self._store.recosign(interval=self._interval)
            wait = self._store.recosign_due(self._interval) - self._now()
        except (VerificationError, OSError, ValueError) as e:
            # The thread must go on: the next step may succeed (a disk back, a fixed file).
            _log.error("could not re-cosign the published checkpoint: %s", e)
            if request is not None:
                self._answer(request, f"error: {e}")
            wait = RECOSIGN_RETRY_MAX_SECONDS
        limit = 1.0 if self._state_dir is not None else self._interval
        return min(limit, self._interval, max(RECOSIGN_RETRY_MIN_SECONDS / 4, wait))

    def _take_request(self) -> bytes | None:
        if self._state_dir is None:
            return None
        path = self._state_dir / COSIGN_REQUEST_FILE
        try:
            with path.open("rb") as f:
                nonce = f.read(MAX_COSIGN_REQUEST_BYTES + 1)
            path.unlink()
        except FileNotFoundError:
            return None
        except OSError as e:
            _log.error("cannot read %s: %s", path, e)
            return None
        nonce = nonce.strip()
        return nonce if 0 < len(nonce) <= MAX_COSIGN_REQUEST_BYTES and nonce.isalnum() else None

    def _answer(self, nonce: bytes, summary: str) -> None:
        if self._state_dir is None:
            return
        path = self._state_dir / COSIGN_ANSWER_FILE
        try:
            answer = nonce + b"\n" + summary.encode("utf-8") + b"\n"
            durable.replace(path, answer, fsync=False)
        except OSError as e:
            _log.error("cannot answer the cosign request in %s: %s", path, e)

    def start(self) -> None:
        """Run :meth:`run_once` on a daemon thread, waiting between steps, until closed."""
        if self._thread is not None:
            raise ValueError("this re-cosigner was already started")

        def loop() -> None:
            delay = 0.0
            while not self._stop.wait(delay):
                delay = self.run_once()

        self._thread = threading.Thread(target=loop, name="recosigner", daemon=True)
        self._thread.start()

    def close(self, timeout: float | None = None) -> None:
        """Stop the thread and wait for it (a request in flight ends within the witnesses'
        timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _summary(outcomes: Sequence[WitnessOutcome]) -> str:
    """One line per witness asked: ``cosigned NAME`` or ``failed NAME: why``."""
    if not outcomes:
        return "no witness to ask"
    return "\n".join(
        f"cosigned {o.witness.name}" if o.ok else f"failed {o.witness.name}: {o.error}"
        for o in outcomes
    )


def serve_log(
    directory: Path,
    host: str,
    port: int,
    *,
    signer: note.Signer,
    verifier: note.Verifier,
    origin: str,
    admission: Admission | None = None,
    witnesses: Sequence[WitnessEndpoint] | WitnessConfig = (),
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_max_age: float = DEFAULT_BATCH_MAX_AGE,
    threads: int = DEFAULT_SERVER_THREADS,
    fsync: bool = True,
    recosign_interval: float = DEFAULT_RECOSIGN_INTERVAL_SECONDS,
    ready: Callable[[LogServer], None] | None = None,
) -> None:
    """Open the log in ``directory`` and serve it on ``host:port`` until closed (SPEC §6.5).

    ``ready(server)`` is called once the socket is bound (a caller may keep the server to
    :meth:`LogServer.close` it from another thread or a signal handler). The log is closed,
    integrating whatever is queued, when serving stops. With witnesses, an idle log's
    checkpoint is re-cosigned every ``recosign_interval`` seconds (0: never; OPS §6.5.3),
    a witness that failed is retried within seconds, and ``POST /add`` answers once the
    quorum is met (SPEC §6.5.2).
    """
    store: TileStore = DirectoryTileStore(directory, fsync=fsync)
    recosigner: Recosigner | None = None
    config = _as_config(witnesses)
    if config.endpoints:
        store = CosigningTileStore(store, verifier, origin, config)
        if recosign_interval > 0:
            recosigner = Recosigner(store, recosign_interval, state_dir=directory / ".state")
    log = Log.open(
        store,
        directory / ".state",
        origin=origin,
        signer=signer,
        verifier=verifier,
        admission=admission,
        batch_size=batch_size,
        batch_max_age=batch_max_age,
        fsync=fsync,
    )
    try:
        service = LogService(log, verifier, origin, recosign_interval=recosign_interval)
        server = make_log_server(service, host, port, threads=threads)
        _log.info("log %s listening on http://%s:%d", origin, server.host, server.port)
        if ready is not None:
            ready(server)
        if recosigner is not None:
            recosigner.start()
        try:
            server.serve_forever()
        finally:
            server.close()
    finally:
        if recosigner is not None:
            recosigner.close()
        log.close()
