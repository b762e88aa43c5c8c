"""The log's HTTP service: POST /add under concurrent submitters, bad requests, read paths.

A real log (the appender on a directory) behind the real WSGI app on waitress, on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from transparency_log import note
from transparency_log._http import MAX_REQUEST_HEADER_BYTES
from transparency_log.appender import Log
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.errors import VerificationError
from transparency_log.fetcher import DirectoryFetcher, HTTPFetcher
from transparency_log.merkle import leaf_hash
from transparency_log.server import (
    CHECKPOINT_CACHE_CONTROL,
    MAX_ADD_BODY_BYTES,
    TILE_CACHE_CONTROL,
    CosigningTileStore,
    LogServer,
    LogService,
    Recosigner,
    make_log_server,
    serve_log,
)
from transparency_log.storage import DirectoryTileStore
from transparency_log.tile import EntryBundle, Tile
from transparency_log.tlog_client import LogClient
from transparency_log.tlog_proof import parse_tlog_proof, verify_tlog_proof
from transparency_log.witness import FileStateStore, TreeState, Witness, make_witness_server
from transparency_log.witness_client import WitnessEndpoint

from .serving import serving_on_a_thread
from .witnesses import MemoryStateStore

pytestmark = pytest.mark.timeout(90)


class HookReason(StrEnum):
    """The reason codes of this file's admission hook (a hook's layer has its own)."""

    MALFORMED_BUNDLE = "MALFORMED_BUNDLE"


ORIGIN = "example.com/served-log"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x07" * 32)
VERIFIER = SIGNER.verifier()


class RejectBad:
    """An admission hook that refuses entries starting with b"bad" (and keeps no state)."""

    def setup(self, txn: sqlite3.Connection) -> None:
        pass

    def check(self, entry: bytes, index: int, txn: sqlite3.Connection) -> None:
        if entry.startswith(b"bad"):
            raise VerificationError(
                HookReason.MALFORMED_BUNDLE, "the entry is not a countersigned bundle"
            )

    def rollback(self, size: int, txn: sqlite3.Connection) -> None:
        pass


class CountingStore(DirectoryTileStore):
    """A directory store that counts the checkpoints it publishes."""

    checkpoints = 0

    def publish(self, files: Mapping[str, bytes], checkpoint: bytes, *, cosign: Any = None) -> None:
        super().publish(files, checkpoint, cosign=cosign)
        self.checkpoints += 1


@dataclass
class Served:
    log: Log
    server: LogServer
    root: Path
    store: CountingStore

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def add(self, entry: bytes) -> tuple[int, bytes]:
        status, _, body = self.request("POST", "/add", entry)
        return status, body


@contextmanager
def serving(root: Path) -> Iterator[Served]:
    store = CountingStore(root, fsync=False)
    log = Log.open(
        store,
        root / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=VERIFIER,
        fsync=False,
        batch_max_age=0.02,
        admission=RejectBad(),
    )
    try:
        with serving_on_a_thread(
            make_log_server(LogService(log, VERIFIER, ORIGIN), threads=16)
        ) as server:
            yield Served(log, server, root, store)
    finally:
        log.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "log") as s:
        yield s


def _verify_proof(text: bytes, entry: bytes) -> int:
    proof = parse_tlog_proof(text)
    verify_tlog_proof(proof, leaf_hash(entry), VERIFIER, origin=ORIGIN)
    return proof.index


# --- submissions ---


def test_add_answers_with_a_verifying_tlog_proof(served: Served) -> None:
    status, headers, body = served.request("POST", "/add", b"first entry")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert body.startswith(b"c2sp.org/tlog-proof@v1\nindex 0\n")
    assert _verify_proof(body, b"first entry") == 0
    assert (served.root / "checkpoint").read_bytes() in body


def test_resubmission_returns_the_existing_index(served: Served) -> None:
    for i in range(3):
        assert served.add(b"entry %d" % i)[0] == 200
    status, body = served.add(b"entry 1")
    assert status == 200
    assert _verify_proof(body, b"entry 1") == 1
    assert served.log.size == 3


def test_concurrent_submitters_get_unique_indices_and_nothing_is_lost(served: Served) -> None:
    threads, per_thread = 8, 50

    def submit(t: int) -> list[tuple[bytes, int]]:
        out = []
        for i in range(per_thread):
            entry = b"thread %d entry %d" % (t, i)
            status, body = served.add(entry)
            assert status == 200, body
            out.append((entry, _verify_proof(body, entry)))
        return out

    with ThreadPoolExecutor(threads) as pool:
        results = [pair for chunk in pool.map(submit, range(threads)) for pair in chunk]
    indices = [index for _, index in results]
    assert len(results) == threads * per_thread
    assert sorted(indices) == list(range(threads * per_thread))
    assert served.log.size == threads * per_thread
    # Every entry is in the published log exactly once, at its index.
    client = LogClient(DirectoryFetcher(served.root), VERIFIER, origin=ORIGIN)
    checkpoint = client.fetch_checkpoint()
    stored = {e.index: e.data for e in client.entries(0, checkpoint.checkpoint.size, checkpoint)}
    assert stored == {index: entry for entry, index in results}
    # Submissions shared batches: fewer checkpoints were published than entries.
    assert served.store.checkpoints < threads * per_thread


def test_concurrent_duplicates_get_one_index(served: Served) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: served.add(b"the same entry"), range(16)))
    assert {status for status, _ in answers} == {200}
    assert {_verify_proof(body, b"the same entry") for _, body in answers} == {0}
    assert served.log.size == 1


# --- bad requests: 4xx, one clear line, log unchanged ---


def _state(served: Served) -> tuple[int, bytes]:
    return served.log.size, (served.root / "checkpoint").read_bytes()


class BadRequest(NamedTuple):
    method: str
    path: str
    body: bytes | None
    status: int
    message: str


BAD_REQUESTS = {
    "empty body": BadRequest("POST", "/add", b"", 400, "the request body is empty"),
    "oversized body": BadRequest(
        "POST", "/add", b"x" * (MAX_ADD_BODY_BYTES + 1), 413, "at most 65535"
    ),
    "rejected by admission": BadRequest(
        "POST", "/add", b"bad bundle", 422, "(MALFORMED_BUNDLE): the entry is not"
    ),
    "GET on /add": BadRequest("GET", "/add", None, 405, "/add takes POST"),
    "PUT on /add": BadRequest("PUT", "/add", b"entry", 405, "/add takes POST"),
    "POST on a read path": BadRequest("POST", "/checkpoint", b"entry", 405, "GET or HEAD"),
    "unknown path": BadRequest("POST", "/add-entry", b"entry", 404, "not found"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_get_a_4xx_with_one_clear_line(served: Served, case: BadRequest) -> None:
    served.add(b"an entry before")
    before = _state(served)
    got, answer_headers, answer = served.request(case.method, case.path, case.body)
    assert got == case.status
    assert case.message in answer.decode()
    assert answer.endswith(b"\n")
    assert answer.count(b"\n") == 1
    assert answer_headers["Cache-Control"] == "no-store"
    assert _state(served) == before


def test_far_oversized_body_is_refused_unread(served: Served) -> None:
    before = _state(served)
    status, _, _ = served.request("POST", "/add", b"x" * (4 * MAX_ADD_BODY_BYTES))
    assert status == 413
    assert _state(served) == before


def test_missing_content_length_is_411(served: Served) -> None:
    before = _state(served)
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    try:
        conn.putrequest("POST", "/add")
        conn.endheaders()
        response = conn.getresponse()
        assert response.status in (400, 411)
        assert response.read().count(b"\n") == 1
    finally:
        conn.close()
    assert _state(served) == before


def _raw(port: int, request: bytes) -> bytes:
    """Everything the server sends back for ``request`` (on a connection it then closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_a_non_canonical_content_length_is_400_not_411(served: Served) -> None:
    before = _state(served)
    answer = _raw(
        served.server.port,
        b"POST /add HTTP/1.1\r\nHost: x\r\nContent-Length: 05\r\nConnection: close\r\n\r\nhello",
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert (
        body == b"Content-Length '05' is not canonical decimal (digits, no sign, no leading zero)\n"
    )
    assert _state(served) == before


def test_a_body_of_twice_the_limit_gets_the_logs_own_413(served: Served) -> None:
    # waitress buffers up to twice the limit so that the log answers with its own line; a
    # body of exactly twice the limit used to get waitress's several-line answer instead.
    status, headers, body = served.request("POST", "/add", b"x" * (2 * MAX_ADD_BODY_BYTES))
    assert status == 413
    limit = MAX_ADD_BODY_BYTES
    assert body == f"the entry is {2 * limit} bytes; this log accepts at most {limit}\n".encode()
    assert headers["Cache-Control"] == "no-store"


SERVER_ERRORS = {
    "malformed header line": (b"GET /checkpoint HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", 400),
    # Exactly the limit, without the blank line: waitress refuses it once it has read every
    # byte (bytes left unread would make the close a reset that loses the answer).
    "header block too large": (
        b"GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Big: ".ljust(MAX_REQUEST_HEADER_BYTES, b"a"),
        431,
    ),
    "body far over the limit": (
        b"POST /add HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
        413,
    ),
    "unknown transfer coding": (
        b"POST /add HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    ),
}


@pytest.mark.parametrize("case", SERVER_ERRORS, ids=SERVER_ERRORS.keys())
def test_the_servers_own_errors_are_one_line_and_not_cached(served: Served, case: str) -> None:
    request, status = SERVER_ERRORS[case]
    answer = _raw(served.server.port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] %d " % status, head), head
    assert b"\r\nCache-Control: no-store\r\n" in head + b"\r\n"
    assert b"\r\nContent-Type: text/plain; charset=utf-8" in head
    assert body.endswith(b"\n")
    assert body.count(b"\n") == 1, body


def test_chunked_body_is_accepted(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    try:
        conn.request("POST", "/add", body=iter([b"chunked ", b"entry"]), encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 200
        assert _verify_proof(response.read(), b"chunked entry") == 0
    finally:
        conn.close()


def test_closed_log_answers_503(tmp_path: Path) -> None:
    with serving(tmp_path / "log") as s:
        s.log.close()
        status, body = s.add(b"late entry")
        assert status == 503
        assert b"not accepting" in body


# --- read paths ---


def test_read_paths_have_tlog_tiles_headers(served: Served) -> None:
    served.log.add_many([b"read %d" % i for i in range(300)])
    status, headers, body = served.request("GET", "/checkpoint")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Cache-Control"] == CHECKPOINT_CACHE_CONTROL
    assert body == (served.root / "checkpoint").read_bytes()
    for path in (Tile(0, 0).path(), Tile(0, 1, 44).path(), EntryBundle(0).path()):
        status, headers, body = served.request("GET", "/" + path)
        assert status == 200, path
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["Cache-Control"] == TILE_CACHE_CONTROL
        assert body == (served.root / path).read_bytes()
    status, headers, body = served.request("HEAD", "/" + Tile(0, 0).path())
    assert status == 200
    assert headers["Content-Length"] == str(8192)
    assert body == b""


@pytest.mark.parametrize("path", ["/checkpoint", "/tile/0/000.p/3", "/tile/0/001", "/add"])
def test_head_sends_headers_only(served: Served, path: str) -> None:
    """On the wire, not through a client that ignores a HEAD answer's body anyway."""
    served.log.add_many([b"head %d" % i for i in range(3)])
    _, _, got = served.request("GET", path)
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=30) as connection:
        connection.sendall(f"HEAD {path} HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    headers, _, body = received.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(got)}".encode() in headers
    assert body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/002",  # not published yet
        "/tile/0/000.p/0",
        "/tile/0/0",
        "/tile/00/000",
        "/tile/0/x000/001",
        "/tile/64/000",
        "/tile/../checkpoint",
        "/tile/0/../../.state/lock",
        "/.state/lock",
        "/.keybundle-log/config",
        "/tile/entries/000.p/256",
        "/checkpoint/",
    ],
)
def test_other_paths_are_404(served: Served, path: str) -> None:
    served.log.add_many([b"x %d" % i for i in range(300)])
    status, headers, body = served.request("GET", path)
    assert status == 404
    assert headers["Cache-Control"] == "no-store"
    assert body.count(b"\n") == 1


GARBAGE_BEYOND_300 = [
    "tile/0/001.p/50",  # leaves 256..305
    "tile/0/001",  # leaves 256..511
    "tile/entries/001.p/45",
    "tile/entries/001",
    "tile/1/000.p/2",  # leaves 0..511
    "tile/2/000.p/1",  # leaves 0..65535
]


def test_files_beyond_the_published_size_are_404_even_if_they_exist(served: Served) -> None:
    """A crashed batch can leave files beyond the published checkpoint, with bytes a later
    batch rewrites: they are not served, so no cache keeps them as immutable (SPEC §6.5.1)."""
    served.log.add_many([b"early %d" % i for i in range(3)])
    served.log.add_many([b"later %d" % i for i in range(297)])
    for path in GARBAGE_BEYOND_300:
        target = served.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\xee" * 32)
    for method in ("GET", "HEAD"):
        for path in GARBAGE_BEYOND_300:
            status, headers, _ = served.request(method, "/" + path)
            assert (status, headers["Cache-Control"]) == (404, "no-store"), (method, path)
    # What the published size covers is served, old partial tiles included.
    for path in ("tile/0/000.p/3", "tile/0/000", "tile/0/001.p/44", "tile/entries/000.p/3"):
        status, headers, body = served.request("GET", "/" + path)
        assert (status, headers["Cache-Control"]) == (200, TILE_CACHE_CONTROL), path
        assert body == (served.root / path).read_bytes()
    # Once a checkpoint covers a path, the writer has rewritten it: served, correct.
    served.log.add_many([b"more %d" % i for i in range(6)])
    status, _, body = served.request("GET", "/tile/0/001.p/50")
    assert status == 200
    assert body == b"".join(leaf_hash(e) for e in [b"later %d" % i for i in range(253, 297)]) + (
        b"".join(leaf_hash(b"more %d" % i) for i in range(6))
    )


@pytest.mark.parametrize(
    ("resource", "size", "within"),
    [
        (Tile(0, 0, 3), 3, True),
        (Tile(0, 0, 4), 3, False),
        (Tile(0, 0), 255, False),
        (Tile(0, 0), 256, True),
        (Tile(1, 0, 1), 255, False),
        (Tile(1, 0, 1), 256, True),
        (Tile(1, 2, 5), 256 * 517 - 1, False),
        (Tile(1, 2, 5), 256 * 517, True),
        (EntryBundle(1), 511, False),
        (EntryBundle(1), 512, True),
        (EntryBundle(1, 7), 263, True),
    ],
)
def test_a_resource_is_published_when_its_last_hash_is_in_the_tree(
    resource: Tile | EntryBundle, size: int, within: bool
) -> None:
    from transparency_log.server import _within

    assert _within(resource, size) is within


def test_http_fetcher_and_client_read_the_served_log(served: Served) -> None:
    entries = [b"client %d" % i for i in range(600)]
    served.log.add_many(entries)
    with HTTPFetcher(f"http://127.0.0.1:{served.server.port}") as fetcher:
        client = LogClient(fetcher, VERIFIER, origin=ORIGIN)
        checkpoint = client.fetch_checkpoint()
        assert checkpoint.checkpoint.size == 600
        proof = client.inclusion_proof(345, checkpoint)
        verify_tlog_proof(proof, leaf_hash(entries[345]), VERIFIER, origin=ORIGIN)
        assert client.entry(599, checkpoint).data == entries[599]


# --- witnesses cosign before publication ---


@contextmanager
def witness_serving(state: Path, signer: CosignatureV1Signer) -> Iterator[str]:
    state.mkdir(parents=True, exist_ok=True)
    with FileStateStore(state) as store:
        witness = Witness(signer, {ORIGIN: VERIFIER}, store)
        with serving_on_a_thread(make_witness_server(witness, threads=2)) as server:
            yield f"http://127.0.0.1:{server.port}"


class CountingStateStore(MemoryStateStore):
    """A witness's state in memory that counts the trees it accepted (one per cosigning)."""

    saves = 0

    def save(self, origin: str, state: TreeState) -> None:
        super().save(origin, state)
        self.saves += 1


@contextmanager
def memory_witness_serving(
    signer: CosignatureV1Signer, now: Callable[[], int], store: MemoryStateStore | None = None
) -> Iterator[str]:
    """A witness of the test log on loopback, with state in memory and the clock ``now``."""
    witness = Witness(signer, {ORIGIN: VERIFIER}, store or MemoryStateStore(), now=now)
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as server:
        yield f"http://127.0.0.1:{server.port}"


WITNESS = CosignatureV1Signer("witness.example/w1", b"\x09" * 32)


def _cosigning_log(root: Path, url: str) -> tuple[Log, CosigningTileStore]:
    store = CosigningTileStore(
        DirectoryTileStore(root, fsync=False),
        VERIFIER,
        ORIGIN,
        [WitnessEndpoint(url, WITNESS.verifier())],
        timeout=5,
    )
    log = Log.open(
        store, root / ".state", origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False
    )
    return log, store


def test_checkpoints_are_published_with_witness_cosignatures(tmp_path: Path) -> None:
    with witness_serving(tmp_path / "witness", WITNESS) as url:
        log, store = _cosigning_log(tmp_path / "log", url)
        try:
            client = LogClient(
                DirectoryFetcher(tmp_path / "log"), VERIFIER, witnesses=[WITNESS.verifier()]
            )
            previous = None
            for count in (3, 300, 2):
                log.add_many([b"cosigned %d %d" % (count, i) for i in range(count)])
                checkpoint = client.fetch_checkpoint(previous)
                assert set(checkpoint.cosignatures) == {WITNESS.name}
                assert [o.ok for o in store.last_outcomes] == [True]
                previous = checkpoint
            assert previous is not None
            assert previous.checkpoint.size == 305
        finally:
            log.close()


def test_a_witness_that_is_down_does_not_block_publication(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log, store = _cosigning_log(tmp_path / "log", f"http://127.0.0.1:{port}")
    try:
        assert log.add(b"entry") == 0
        client = LogClient(
            DirectoryFetcher(tmp_path / "log"), VERIFIER, witnesses=[WITNESS.verifier()]
        )
        checkpoint = client.fetch_checkpoint()
        assert checkpoint.checkpoint.size == 1
        assert dict(checkpoint.cosignatures) == {}
        (outcome,) = store.last_outcomes
        assert not outcome.ok
        assert outcome.error is not None
    finally:
        log.close()


def test_a_witness_restarted_from_scratch_is_caught_up_by_409(tmp_path: Path) -> None:
    with witness_serving(tmp_path / "w-a", WITNESS) as url:
        log, store = _cosigning_log(tmp_path / "log", url)
        log.add_many([b"a %d" % i for i in range(10)])
        log.close()
    # A second witness state that knows the log only from size 10 onwards is not possible;
    # a fresh one holds size 0, so the log's first request (old size 10) gets 409 and the
    # log retries from 0.
    with witness_serving(tmp_path / "w-b", WITNESS) as url:
        log, store = _cosigning_log(tmp_path / "log", url)
        try:
            log.add(b"b")
            assert [o.ok for o in store.last_outcomes] == [True]
        finally:
            log.close()


# --- re-cosigning an idle log (OPS §6.5.3) ---

T0 = 1_700_000_000
HOUR = 3600
WITNESS_2 = CosignatureV1Signer("witness.example/w2", b"\x0a" * 32)


class Clock:
    """A fake wall clock in whole seconds, shared by the witnesses and the log."""

    def __init__(self, start: int = T0) -> None:
        self.time = start

    def __call__(self) -> int:
        return self.time


def _recosigning_log(
    root: Path, urls: dict[CosignatureV1Signer, str], clock: Clock
) -> tuple[Log, CosigningTileStore]:
    store = CosigningTileStore(
        DirectoryTileStore(root, fsync=False),
        VERIFIER,
        ORIGIN,
        [WitnessEndpoint(url, signer.verifier()) for signer, url in urls.items()],
        timeout=5,
        now=clock,
    )
    log = Log.open(
        store, root / ".state", origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False
    )
    return log, store


def _published(root: Path, *witnesses: CosignatureV1Signer) -> tuple[int, dict[str, int]]:
    """The published checkpoint's size and its verified cosignatures' timestamps."""
    client = LogClient(
        DirectoryFetcher(root), VERIFIER, witnesses=[w.verifier() for w in witnesses]
    )
    verified = client.fetch_checkpoint()
    return verified.checkpoint.size, dict(verified.cosignatures)


def _split(signed: bytes) -> tuple[str, tuple[note.Signature, ...]]:
    return note.parse_unverified(signed)


def test_an_idle_log_is_recosigned_once_the_interval_has_passed(tmp_path: Path) -> None:
    clock = Clock()
    root = tmp_path / "log"
    with memory_witness_serving(WITNESS, clock) as url:
        log, store = _recosigning_log(root, {WITNESS: url}, clock)
        try:
            log.add_many([b"idle %d" % i for i in range(3)])
            first = (root / "checkpoint").read_bytes()
            assert _published(root, WITNESS) == (3, {WITNESS.name: T0})
            recosigner = Recosigner(store, HOUR, now=clock)
            assert recosigner.run_once() == HOUR  # cosigned just now: due in an hour
            clock.time = T0 + HOUR - 1
            assert recosigner.run_once() == 1  # due in 1 s: checked again then
            assert (root / "checkpoint").read_bytes() == first
            clock.time = T0 + HOUR
            assert recosigner.run_once() == HOUR
            again = (root / "checkpoint").read_bytes()
            assert _published(root, WITNESS) == (3, {WITNESS.name: T0 + HOUR})
            # The same body and the log's own line, then the fresh cosignature only.
            (text, (log_line, old)), (text2, (log_line2, fresh)) = _split(first), _split(again)
            assert (text2, log_line2) == (text, log_line)
            assert (fresh.name, fresh.key_hash) == (old.name, old.key_hash)
            assert old.name == WITNESS.name
            assert fresh != old
            # Growth cosigns anyway, and restarts the interval.
            clock.time = T0 + HOUR + 100
            log.add(b"growth")
            clock.time = T0 + 2 * HOUR + 99
            recosigner.run_once()
            assert _published(root, WITNESS) == (4, {WITNESS.name: T0 + HOUR + 100})
            clock.time = T0 + 2 * HOUR + 100
            recosigner.run_once()
            assert _published(root, WITNESS) == (4, {WITNESS.name: T0 + 2 * HOUR + 100})
        finally:
            log.close()


def test_recosigning_keeps_the_line_of_a_witness_that_fails_and_never_hammers(
    tmp_path: Path,
) -> None:
    clock = Clock()
    root = tmp_path / "log"
    with ExitStack() as w1, ExitStack() as w2:
        urls = {
            WITNESS: w1.enter_context(memory_witness_serving(WITNESS, clock)),
            WITNESS_2: w2.enter_context(memory_witness_serving(WITNESS_2, clock)),
        }
        log, store = _recosigning_log(root, urls, clock)
        try:
            log.add(b"entry")
            both = {WITNESS.name: T0, WITNESS_2.name: T0}
            assert _published(root, WITNESS, WITNESS_2) == (1, both)
            recosigner = Recosigner(store, HOUR, now=clock)
            w2.close()  # the second witness goes away
            clock.time = T0 + HOUR
            recosigner.run_once()
            assert [o.ok for o in store.last_outcomes] == [True, False]
            kept = {WITNESS.name: T0 + HOUR, WITNESS_2.name: T0}
            assert _published(root, WITNESS, WITNESS_2) == (1, kept)
            w1.close()  # and the first: nothing to republish
            before = (root / "checkpoint").read_bytes()
            clock.time = T0 + 2 * HOUR
            assert recosigner.run_once() == 2  # second failure in a row: back off 2 s
            assert [o.ok for o in store.last_outcomes] == [False, False]
            assert (root / "checkpoint").read_bytes() == before
            # Failed witnesses are retried with backoff (OPS §6.5.3), not at every check:
            # nothing happens before the retry is due, and the backoff stops growing at
            # RECOSIGN_RETRY_MAX_SECONDS.
            rounds = store.rounds
            clock.time += 1
            assert recosigner.run_once() == 1
            assert store.rounds == rounds
            for expected in (4, 8, 15, 15):
                clock.time = int(store.recosign_due(HOUR))
                assert recosigner.run_once() == expected
            assert store.rounds == rounds + 4
        finally:
            log.close()


def test_recosigning_catches_up_a_witness_that_missed_the_growth(tmp_path: Path) -> None:
    """The witness holds size 3; the request for 10 (old size 10) gets 409 and the log
    retries from 3 with a consistency proof read from its tiles."""
    clock = Clock()
    root = tmp_path / "log"
    state = MemoryStateStore()
    with memory_witness_serving(WITNESS, clock, state) as url:
        log, store = _recosigning_log(root, {WITNESS: url}, clock)
        try:
            log.add_many([b"early %d" % i for i in range(3)])
            state.fail_save = OSError("disk full")  # the witness fails while the log grows
            log.add_many([b"late %d" % i for i in range(7)])
            assert [o.ok for o in store.last_outcomes] == [False]
            state.fail_save = None
            clock.time = T0 + HOUR
            Recosigner(store, HOUR, now=clock).run_once()
            assert [o.ok for o in store.last_outcomes] == [True]
            assert _published(root, WITNESS) == (10, {WITNESS.name: T0 + HOUR})
        finally:
            log.close()


class SlowStateStore(MemoryStateStore):
    """A witness state that, once ``slow`` is set, takes a while to save and says when it
    starts (so a test knows a request is being answered)."""

    def __init__(self) -> None:
        super().__init__()
        self.saving = threading.Event()
        self.slow = False

    def save(self, origin: str, state: TreeState) -> None:
        if self.slow:
            self.saving.set()
            time.sleep(0.5)
        super().save(origin, state)


def test_a_recosigned_checkpoint_never_replaces_a_newer_one(tmp_path: Path) -> None:
    """The log grows while its witness is slow: re-cosigning waits for that publication
    and re-cosigns the new checkpoint (not the old one, which the witness would answer
    with a 409 for a larger tree, nor publishing the old one over the new)."""
    clock = Clock()
    root = tmp_path / "log"
    state = SlowStateStore()
    with memory_witness_serving(WITNESS, clock, state) as url:
        log, store = _recosigning_log(root, {WITNESS: url}, clock)
        try:
            log.add(b"first")
            state.slow = True
            growing = threading.Thread(target=log.add, args=(b"second",))
            growing.start()
            assert state.saving.wait(timeout=10)  # the growth is being cosigned
            outcomes = store.recosign(everyone=True)
            growing.join(timeout=10)
            assert [o.ok for o in outcomes] == [True], [o.error for o in outcomes]
            assert _published(root, WITNESS)[0] == 2
            assert state.states[ORIGIN].size == 2
        finally:
            log.close()


def test_the_recosigner_thread_asks_the_witness_on_its_own(tmp_path: Path) -> None:
    state = CountingStateStore()
    root = tmp_path / "log"
    with memory_witness_serving(WITNESS, lambda: int(time.time()), state) as url:
        store = CosigningTileStore(
            DirectoryTileStore(root, fsync=False),
            VERIFIER,
            ORIGIN,
            [WitnessEndpoint(url, WITNESS.verifier())],
            timeout=5,
        )
        log = Log.open(
            store, root / ".state", origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False
        )
        recosigner = Recosigner(store, 0.2)
        try:
            log.add(b"entry")
            cosigned = state.saves  # the checkpoints of size 0 (on open) and 1
            recosigner.start()
            deadline = time.monotonic() + 10
            while state.saves < cosigned + 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert state.saves >= cosigned + 2  # two re-cosignings at least
        finally:
            recosigner.close(timeout=10)
            log.close()
        assert _published(root, WITNESS)[0] == 1


def test_recosigner_refuses_a_bad_interval(tmp_path: Path) -> None:
    store = CosigningTileStore(
        DirectoryTileStore(tmp_path), VERIFIER, ORIGIN, [WitnessEndpoint("http://w", VERIFIER)]
    )
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="must be positive"):
            Recosigner(store, bad)


def test_serve_log_opens_serves_and_closes_the_log(tmp_path: Path) -> None:
    ready: list[LogServer] = []
    got = threading.Event()

    def on_ready(server: LogServer) -> None:
        ready.append(server)
        got.set()

    thread = threading.Thread(
        target=serve_log,
        args=(tmp_path / "log", "127.0.0.1", 0),
        kwargs={
            "signer": SIGNER,
            "verifier": VERIFIER,
            "origin": ORIGIN,
            "fsync": False,
            "threads": 2,
            "ready": on_ready,
        },
        daemon=True,
    )
    thread.start()
    assert got.wait(timeout=20)
    conn = http.client.HTTPConnection("127.0.0.1", ready[0].port, timeout=30)
    try:
        conn.request("POST", "/add", body=b"served by serve_log")
        response = conn.getresponse()
        assert response.status == 200
        assert _verify_proof(response.read(), b"served by serve_log") == 0
    finally:
        conn.close()
    ready[0].close()
    thread.join(timeout=20)
    assert not thread.is_alive()
    # The log was closed (its lock released): it opens again.
    Log.open(
        DirectoryTileStore(tmp_path / "log", fsync=False),
        tmp_path / "log" / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=VERIFIER,
        fsync=False,
    ).close()


# --- the log's witness configuration (OPS §6.5.3, §6.5.5; issue 19) ---


def _policy_text(*lines: str) -> str:
    return "".join(line + "\n" for line in (f"log {VERIFIER.verifier_key}", *lines))


def test_the_quorum_of_several_policies_is_the_quorum_of_each() -> None:
    """A log serving clients of two trust-root versions asks the union of their witnesses
    and meets both quorums."""
    from transparency_log.policy import parse_policy
    from transparency_log.server import WitnessConfig

    v1 = parse_policy(
        _policy_text(f"witness a {WITNESS.verifier().verifier_key} http://a", "quorum a")
    )
    v2 = parse_policy(
        _policy_text(
            f"witness a {WITNESS.verifier().verifier_key} http://a",
            f"witness b {WITNESS_2.verifier().verifier_key} http://b",
            "group both all a b",
            "quorum both",
        )
    )
    config = WitnessConfig.from_policies([v1, v2])
    assert [w.name for w in config.endpoints] == [WITNESS.name, WITNESS_2.name]  # each once
    assert not config.quorum_met({WITNESS.name})  # v1's quorum only
    assert config.quorum_met({WITNESS.name, WITNESS_2.name})
    assert WitnessConfig(config.endpoints).quorum_met({WITNESS.name, WITNESS_2.name})
    assert not WitnessConfig(config.endpoints).quorum_met({WITNESS_2.name})  # no policy: all
    nourl = parse_policy(_policy_text(f"witness a {WITNESS.verifier().verifier_key}", "quorum a"))
    with pytest.raises(ValueError, match="no URL"):
        WitnessConfig.from_policies([nourl])


def test_a_witness_added_while_serving_is_asked_at_once(tmp_path: Path) -> None:
    from transparency_log.server import WitnessConfig

    clock = Clock()
    root = tmp_path / "log"
    with ExitStack() as stack:
        url1 = stack.enter_context(memory_witness_serving(WITNESS, clock))
        url2 = stack.enter_context(memory_witness_serving(WITNESS_2, clock))
        one = WitnessConfig((WitnessEndpoint(url1, WITNESS.verifier()),))
        both = WitnessConfig((*one.endpoints, WitnessEndpoint(url2, WITNESS_2.verifier())))
        current = [one]
        store = CosigningTileStore(
            DirectoryTileStore(root, fsync=False), VERIFIER, ORIGIN, one,
            source=lambda: current[0], timeout=5, now=clock,
        )  # fmt: skip
        with Log.open(
            store, root / ".state", origin=ORIGIN, signer=SIGNER, verifier=VERIFIER, fsync=False
        ) as log:
            log.add(b"entry")
            recosigner = Recosigner(store, HOUR, now=clock)
            assert recosigner.run_once() == HOUR  # complete: due in an hour
            current[0] = both
            clock.time += 1
            recosigner.run_once()  # the new configuration is read and the new witness asked
            assert [o.witness.name for o in store.last_outcomes] == [WITNESS_2.name]
            assert set(_published(root, WITNESS, WITNESS_2)[1]) == {WITNESS.name, WITNESS_2.name}
            assert store.quorum_met()
