"""C2SP tlog-tiles HTTP service: ``POST /add`` and the static read paths (SPEC §6.5).

The read side is the tile directory itself (``checkpoint``, ``tile/<L>/<N>[.p/<W>]``,
``tile/entries/<N>[.p/<W>]``), served here with the content types and cache headers of
C2SP tlog-tiles, or by any static web server (deploy/nginx/keybundle-log.conf). The write
side is ``POST /add``: the body is one entry; the answer comes once the entry is in a
published checkpoint (the appender acknowledges only then, SPEC §6.2), and is the entry's
C2SP tlog-proof (SPEC §2.7), built from the published tiles and checked on the way.

Concurrent submitters share batches: each request thread calls :meth:`Log.add`, which
blocks until the batch holding the entry is integrated (batch size and maximum age are the
log's). Nothing is acknowledged before its checkpoint is durable, an entry submitted twice
gets its existing index, and a rejected entry leaves the log unchanged.

Optionally the log asks witnesses to cosign each checkpoint before publishing it
(:class:`CosigningTileStore`, C2SP tlog-witness, SPEC §6.4.4); a witness that fails delays
nothing beyond its timeout and the checkpoint is published with the cosignatures obtained.
While the log does not grow, :class:`Recosigner` has them cosign the published checkpoint
again every so often, so that its cosignatures stay younger than clients' maximum
cosignature age (SPEC §6.5.3).

Everything runs on waitress, a production WSGI server that reads each request completely
(within its size limit) before a worker thread sees it.
"""

from __future__ import annotations

import http
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from transparency_log import _http, note
from transparency_log._http import DEFAULT_CONNECTION_GUARD, ConnectionGuard
from transparency_log.appender import DEFAULT_BATCH_MAX_AGE, DEFAULT_BATCH_SIZE, Admission, Log
from transparency_log.checkpoint import VerifiedCheckpoint, parse_checkpoint, verify_checkpoint
from transparency_log.entry_bundle import MAX_ENTRY_SIZE
from transparency_log.errors import VerificationError
from transparency_log.fetcher import FetchError, NotFoundError, validate_fetch_path
from transparency_log.storage import CHECKPOINT_PATH, DirectoryTileStore, TileStore
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
    "DEFAULT_CONNECTION_GUARD",
    "DEFAULT_RECOSIGN_INTERVAL_SECONDS",
    "DEFAULT_SERVER_THREADS",
    "MAX_ADD_BODY_BYTES",
    "TILE_CACHE_CONTROL",
    "TILE_CONTENT_TYPE",
    "ConnectionGuard",
    "CosigningTileStore",
    "LogResponse",
    "LogServer",
    "LogService",
    "Recosigner",
    "make_log_server",
    "make_wsgi_app",
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
"""How long a log with witnesses waits, without growing, before it asks them to cosign its
checkpoint again (SPEC §6.5.3): well under the maximum cosignature age clients allow (the
trust root's default is 86,400 s), so an idle log's checkpoint stays acceptable."""

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
    ) -> None:
        if not 1 <= max_body_bytes <= MAX_ADD_BODY_BYTES:
            raise ValueError(f"max_body_bytes must be in 1..{MAX_ADD_BODY_BYTES}")
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
        except (OSError, RuntimeError) as e:
            _log.error("integration failed: %s", e)
            return _text(
                http.HTTPStatus.SERVICE_UNAVAILABLE,
                "the log could not store the entry; nothing was acknowledged, retry later",
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
) -> LogServer:
    """Bind ``service`` on waitress (SPEC §6.5).

    Waitress buffers each request body before a worker sees it, up to twice the entry limit
    (so that a body over the limit, up to twice, still gets this app's one-line 413 answer)
    and answers 413 itself beyond; ``guard`` sheds idle and trickling connections (SPEC
    §6.5.2). A submission waiting for its batch and witnesses is being answered and is never
    shed.
    """
    server = _http.create_waitress_server(
        make_wsgi_app(service),
        host,
        port,
        threads=threads,
        max_body_bytes=service.max_body_bytes,
        ident="keybundle-log",
        guard=guard,
    )
    return LogServer(server)


class CosigningTileStore:
    """A :class:`TileStore` that has witnesses cosign each checkpoint before it is published.

    It wraps the log's store. :meth:`publish` first asks the witnesses (C2SP tlog-witness
    ``add-checkpoint``, SPEC §6.4.4, §6.5.3) to cosign the new checkpoint, with consistency
    proofs from the previous published checkpoint built from the files being published
    (authenticated against the new checkpoint's root like any tile), then publishes the
    files and the checkpoint with every cosignature that verified. Witness failures are
    logged and never block publication (availability first; each client's quorum decides
    whether a checkpoint is cosigned enough).

    :meth:`recosign` asks them again for the published checkpoint, so that the cosignatures
    of a log that does not grow stay fresh (SPEC §6.5.3); :class:`Recosigner` calls it on a
    timer. One lock serialises both: a re-cosigned checkpoint is never published over a
    newer one, and a witness never sees the two requests race (it would answer the older
    one with a 409 that reads like a rollback). ``now`` is the wall clock (Unix seconds)
    the re-cosigning schedule is kept in, as the cosignatures' timestamps are.
    """

    def __init__(
        self,
        inner: TileStore,
        verifier: note.Verifier,
        origin: str,
        witnesses: Sequence[WitnessEndpoint],
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not witnesses:
            raise ValueError("a cosigning store needs at least one witness")
        self._inner = inner
        self._verifier = verifier
        self._origin = origin
        self._witnesses = tuple(witnesses)
        self._timeout = timeout
        self._now = now
        self._lock = threading.Lock()
        self._last_attempt: float | None = None
        self.last_outcomes: tuple[WitnessOutcome, ...] = ()
        """What each witness did with the last checkpoint published (for operators, tests)."""

    def read(self, path: str) -> bytes | None:
        """Read through to the wrapped store."""
        return self._inner.read(path)

    def publish(self, files: Mapping[str, bytes], checkpoint: bytes) -> None:
        """Collect cosignatures on ``checkpoint``, then publish ``files`` and it."""
        with self._lock:
            client = LogClient(
                _StoreFetcher(self._inner, files), self._verifier, origin=self._origin
            )
            new = client.verify_checkpoint(checkpoint)
            old_size = self._previous_size(new.checkpoint.size)

            def proof_for(size: int) -> list[bytes]:
                return client.consistency_proof(size, new)

            self._last_attempt = self._now()
            collected = collect_cosignatures(
                checkpoint, old_size, proof_for, self._witnesses, timeout=self._timeout
            )
            self._log_failures(collected.failures, new.checkpoint.size)
            self.last_outcomes = collected.outcomes
            self._inner.publish(files, collected.signed_checkpoint)

    def recosign_due(self, interval: float) -> float:
        """When (``now`` clock) the published checkpoint is due to be cosigned again.

        ``interval`` seconds after the newest of: the newest verified cosignature it carries
        (by a configured witness; a timestamp ahead of the clock counts as now), and the
        last time this store asked the witnesses (so witnesses that keep failing are asked
        once per interval, not continually). A checkpoint without any is due at once.
        """
        published = self._inner.read(CHECKPOINT_PATH)
        times: list[float] = [] if self._last_attempt is None else [self._last_attempt]
        if published is not None:
            try:
                verified = self._verify(published)
            except VerificationError:
                verified = None  # recosign() reports it
            if verified is not None and verified.cosignatures:
                times.append(min(max(verified.cosignatures.values()), self._now()))
        return max(times) + interval if times else float("-inf")

    def recosign(self) -> tuple[WitnessOutcome, ...]:
        """Ask every witness to cosign the published checkpoint again (SPEC §6.5.3).

        The request is the checkpoint with the log's signature only and the old size equal
        to its size (no proof): a witness holding that tree cosigns it again with a fresh
        timestamp (SPEC §6.4.2 step 8). If at least one witness cosigned, the checkpoint is
        republished through the wrapped store, atomically: the same text, the log's own
        signature line, the fresh cosignatures, and the previous line of each witness that
        failed this time; nothing is republished otherwise. Raises VerificationError if the
        published checkpoint does not verify under the log's key (it is left alone).
        """
        with self._lock:
            published = self._inner.read(CHECKPOINT_PATH)
            if published is None:
                return ()
            self._last_attempt = self._now()
            current = self._verify(published)
            size = current.checkpoint.size
            text, lines = note.parse_unverified(published)
            log_only = (text + "\n" + current.log_signature.to_line()).encode("utf-8")
            client = LogClient(_StoreFetcher(self._inner), self._verifier, origin=self._origin)

            def proof_for(old: int) -> list[bytes]:  # a witness that holds an older tree
                return client.consistency_proof(old, current)

            collected = collect_cosignatures(
                log_only, size, proof_for, self._witnesses, timeout=self._timeout
            )
            self._log_failures(collected.failures, size)
            self.last_outcomes = collected.outcomes
            if len(collected.failures) == len(collected.outcomes):
                return collected.outcomes
            failed = {(o.witness.name, o.witness.verifier.key_hash) for o in collected.failures}
            kept = [sig.to_line() for sig in lines if (sig.name, sig.key_hash) in failed]
            self._inner.publish({}, merge_signature_lines(collected.signed_checkpoint, kept))
            _log.info(
                "re-cosigned the checkpoint of size %d: %d of %d witnesses",
                size,
                len(collected.outcomes) - len(collected.failures),
                len(collected.outcomes),
            )
            return collected.outcomes

    def _verify(self, signed: bytes) -> VerifiedCheckpoint:
        return verify_checkpoint(
            signed,
            self._verifier,
            origin=self._origin,
            witnesses=[w.verifier for w in self._witnesses],
        )

    @staticmethod
    def _log_failures(failures: Sequence[WitnessOutcome], size: int) -> None:
        for failure in failures:
            _log.warning(
                "witness %s did not cosign the checkpoint of size %d: %s",
                failure.witness.name,
                size,
                failure.error,
            )

    def _previous_size(self, new_size: int) -> int:
        """The published size the witnesses most likely hold (0 if none or unreadable)."""
        old = self._inner.read(CHECKPOINT_PATH)
        if old is None:
            return 0
        try:
            text, _ = note.parse_unverified(old)
            size = parse_checkpoint(text).size
        except VerificationError:
            return 0
        return size if size <= new_size else 0


class Recosigner:
    """Keeps an idle log's cosignatures fresh: a thread that calls
    :meth:`CosigningTileStore.recosign` when the checkpoint is due (SPEC §6.5.3).

    A checkpoint is cosigned whenever the log grows; a log that does not grow keeps its
    cosignatures, which age until clients' maximum cosignature age refuses them. So once
    ``interval`` seconds have passed since the newest cosignature (or the last attempt),
    the witnesses are asked again. :meth:`run_once` is one step, for tests with a fake
    clock; :meth:`start` runs it on a daemon thread until :meth:`close`.
    """

    def __init__(
        self,
        store: CosigningTileStore,
        interval: float,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"the re-cosigning interval must be positive, not {interval!r}")
        self._store = store
        self._interval = float(interval)
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> float:
        """Re-cosign if the published checkpoint is due; the seconds to wait until the next
        check (at most the interval, at least a tenth of it)."""
        try:
            if self._now() >= self._store.recosign_due(self._interval):
                self._store.recosign()
            wait = self._store.recosign_due(self._interval) - self._now()
        except (VerificationError, OSError, ValueError) as e:
            # The thread must go on: the next step may succeed (a disk back, a fixed file).
            _log.error("could not re-cosign the published checkpoint: %s", e)
            wait = self._interval
        return min(self._interval, max(self._interval / 10, wait))

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


def serve_log(
    directory: Path,
    host: str,
    port: int,
    *,
    signer: note.Signer,
    verifier: note.Verifier,
    origin: str,
    admission: Admission | None = None,
    witnesses: Sequence[WitnessEndpoint] = (),
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
    checkpoint is re-cosigned every ``recosign_interval`` seconds (0: never; SPEC §6.5.3).
    """
    store: TileStore = DirectoryTileStore(directory, fsync=fsync)
    recosigner: Recosigner | None = None
    if witnesses:
        store = CosigningTileStore(store, verifier, origin, witnesses)
        if recosign_interval > 0:
            recosigner = Recosigner(store, recosign_interval)
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
        server = make_log_server(LogService(log, verifier, origin), host, port, threads=threads)
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
