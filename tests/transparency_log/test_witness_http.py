"""The witness on a real waitress server (SPEC §6.4.5), and the log collecting from it (§6.4.4).

Servers bind 127.0.0.1 on ephemeral ports; every client call has a short timeout, and every
server is closed and its thread joined at the end of its test.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from transparency_log.checkpoint import verify_checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.witness import (
    MAX_ADD_CHECKPOINT_BYTES,
    SIZE_CONTENT_TYPE,
    FileStateStore,
    Witness,
    WitnessServer,
    make_witness_server,
)
from transparency_log.witness_client import WitnessEndpoint, collect_cosignatures

from .serving import serving_on_a_thread
from .witnesses import NOW, FakeLog, MemoryStateStore, witness_signer

LOG = FakeLog()
W1 = witness_signer("witness.example/w1")
W2 = witness_signer("witness.example/w2")
TIMEOUT = 5.0


class Running:
    """A witness server serving on a thread until the test's ``serve`` stack closes."""

    def __init__(self, server: WitnessServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
def serve() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def start(serve: ExitStack, witness: Witness) -> Running:
    server = make_witness_server(witness, threads=2)
    return Running(serve.enter_context(serving_on_a_thread(server)))


def memory_witness(signer: CosignatureV1Signer = W1, held: int | None = None) -> Witness:
    store = MemoryStateStore()
    if held is not None:
        store.states[LOG.origin] = LOG.state(held)
    return Witness(signer, {LOG.origin: LOG.verifier}, store, now=lambda: NOW)


def refused_url() -> str:
    """A loopback URL on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_collect_from_two_witnesses_one_refusing_one_answering_409_first(
    serve: ExitStack, tmp_path: Path
) -> None:
    with FileStateStore(tmp_path) as store:
        store.save(LOG.origin, LOG.state(3))  # the witness holds 3; the log thinks 0
        w1 = start(serve, Witness(W1, {LOG.origin: LOG.verifier}, store, now=lambda: NOW))
        asked: list[int] = []

        def proof_for(old: int) -> list[bytes]:
            asked.append(old)
            return LOG.proof(old, 9)

        result = collect_cosignatures(
            LOG.checkpoint(9),
            0,
            proof_for,
            [WitnessEndpoint(w1.url, W1.verifier()), WitnessEndpoint(refused_url(), W2.verifier())],
            timeout=TIMEOUT,
        )
        good, refused = result.outcomes
        assert good.ok, good.error
        assert good.witness_size == 9
        assert asked == [3]
        assert not refused.ok
        assert "request to" in (refused.error or "")
        verified = verify_checkpoint(
            result.signed_checkpoint, LOG.verifier, witnesses=[W1.verifier(), W2.verifier()]
        )
        assert dict(verified.cosignatures) == {W1.name: NOW}
        assert store.load(LOG.origin) == LOG.state(9)


def test_two_live_witnesses_both_cosign(serve: ExitStack) -> None:
    w1 = start(serve, memory_witness(W1))
    w2 = start(serve, memory_witness(W2, held=2))
    result = collect_cosignatures(
        LOG.checkpoint(6),
        2,
        lambda old: LOG.proof(old, 6),
        [WitnessEndpoint(w1.url, W1.verifier()), WitnessEndpoint(w2.url, W2.verifier())],
        timeout=TIMEOUT,
    )
    assert [o.ok for o in result.outcomes] == [True, True], [o.error for o in result.outcomes]
    verified = verify_checkpoint(
        result.signed_checkpoint, LOG.verifier, witnesses=[W1.verifier(), W2.verifier()]
    )
    assert set(verified.cosignatures) == {W1.name, W2.name}


def _post(url: str, body: bytes, path: str = "/add-checkpoint") -> requests.Response:
    return requests.post(url + path, data=body, timeout=TIMEOUT)


def test_http_answers_carry_the_protocol_headers(serve: ExitStack) -> None:
    w = start(serve, memory_witness(held=4))
    ok = _post(w.url, LOG.request(4, 7))
    assert ok.status_code == 200
    assert ok.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert ok.headers["Cache-Control"] == "no-store"
    assert ok.headers["Content-Length"] == str(len(ok.content))
    assert ok.content.startswith("\u2014 witness.example/w1 ".encode())
    conflict = _post(w.url, LOG.request(0, 9))
    assert (conflict.status_code, conflict.content) == (409, b"7\n")
    assert conflict.headers["Content-Type"] == SIZE_CONTENT_TYPE
    assert conflict.headers["Cache-Control"] == "no-store"


def test_http_errors(serve: ExitStack) -> None:
    w = start(serve, memory_witness())
    assert _post(w.url, LOG.request(0, 1), path="/other").status_code == 404
    get = requests.get(w.url + "/add-checkpoint", timeout=TIMEOUT)
    assert (get.status_code, get.headers["Allow"]) == (405, "POST")
    too_big = _post(w.url, b"x" * (MAX_ADD_CHECKPOINT_BYTES + 1))
    assert too_big.status_code == 413
    assert b"at most 65536" in too_big.content
    assert _post(w.url, b"old 0\n\nnot a note\n").status_code == 400


def test_http_post_without_content_length_is_411(serve: ExitStack) -> None:
    w = start(serve, memory_witness())
    connection = http.client.HTTPConnection("127.0.0.1", w.server.port, timeout=TIMEOUT)
    try:
        connection.putrequest("POST", "/add-checkpoint")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 411
        assert response.getheader("Cache-Control") == "no-store"
    finally:
        connection.close()


def _raw(port: int, request: bytes) -> bytes:
    """Everything the server sends back for ``request`` (on a connection it then closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(("path", "status"), [("/add-checkpoint", 405), ("/other", 404)])
def test_head_is_answered_with_headers_only(serve: ExitStack, path: str, status: int) -> None:
    w = start(serve, memory_witness())
    get = requests.get(w.url + path, timeout=TIMEOUT)
    head = _raw(
        w.server.port, f"HEAD {path} HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n".encode()
    )
    headers, _, body = head.partition(b"\r\n\r\n")
    assert headers.startswith(f"HTTP/1.1 {status} ".encode())
    assert f"Content-Length: {len(get.content)}".encode() in headers  # what a GET would get
    assert body == b""


def test_head_then_post_on_one_connection(serve: ExitStack) -> None:
    """A body after a HEAD answer would be read as the start of the next answer."""
    w = start(serve, memory_witness(held=4))
    connection = http.client.HTTPConnection("127.0.0.1", w.server.port, timeout=TIMEOUT)
    try:
        connection.request("HEAD", "/add-checkpoint")
        head = connection.getresponse()
        assert (head.status, head.read()) == (405, b"")
        connection.request("POST", "/add-checkpoint", body=LOG.request(4, 7))
        answer = connection.getresponse()
        assert answer.status == 200
        assert answer.read().startswith("\u2014 witness.example/w1 ".encode())
    finally:
        connection.close()
