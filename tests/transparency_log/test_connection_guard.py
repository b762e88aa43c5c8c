"""The services under siege: idle and trickling connections are shed (SPEC §6.4.5, §6.5.2).

A log that has its checkpoints cosigned by a witness, both on waitress on 127.0.0.1 with a
small :class:`ConnectionGuard` (so the test takes seconds): 500 idle and 50 trickling
connections to each, while real submissions (each cosigned by the witness before it is
acknowledged) keep their usual latency, and every hostile connection is closed in time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pytest

from transparency_log.checkpoint import verify_checkpoint
from transparency_log.server import ConnectionGuard, LogService, make_log_server
from transparency_log.witness import Witness, make_witness_server

from .serving import serving_on_a_thread
from .test_server import ORIGIN, VERIFIER, WITNESS, _cosigning_log
from .witnesses import MemoryStateStore

pytestmark = pytest.mark.timeout(60)

GUARD = ConnectionGuard(idle_timeout=2.0, request_timeout=3.0, connection_limit=200)
IDLE = 500
TRICKLING = 50
TRICKLE_INTERVAL = 0.5


class Siege:
    """Idle and trickling connections to one port; a thread drips a byte into each trickler."""

    def __init__(self, port: int) -> None:
        self.idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE)]
        self.trickling = [socket.create_connection(("127.0.0.1", port)) for _ in range(TRICKLING)]
        for sock in self.trickling:
            sock.sendall(b"POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self.stop = threading.Event()
        self.cut: set[int] = set()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        while not self.stop.wait(TRICKLE_INTERVAL):
            for i, sock in enumerate(self.trickling):
                if i in self.cut:
                    continue
                try:
                    sock.send(b"X")
                except OSError:
                    self.cut.add(i)

    def open_count(self) -> int:
        """How many hostile connections the server has not closed yet."""
        still_open = 0
        for sock in self.idle + self.trickling:
            sock.setblocking(False)
            try:
                if sock.recv(4096) != b"":
                    still_open += 1  # an answer? counted as open, the assertion will say
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass  # reset: closed
        return still_open

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.idle + self.trickling:
            with suppress(OSError):
                sock.close()


@contextmanager
def siege(port: int) -> Iterator[Siege]:
    s = Siege(port)
    try:
        yield s
    finally:
        s.close()


def test_submissions_and_cosignatures_keep_their_latency_under_siege(tmp_path: Path) -> None:
    with ExitStack() as stack:
        witness = Witness(WITNESS, {ORIGIN: VERIFIER}, MemoryStateStore())
        witness_server = stack.enter_context(
            serving_on_a_thread(make_witness_server(witness, threads=2, guard=GUARD))
        )
        log, _ = _cosigning_log(tmp_path / "log", f"http://127.0.0.1:{witness_server.port}")
        stack.callback(log.close)
        log_server = stack.enter_context(
            serving_on_a_thread(
                make_log_server(LogService(log, VERIFIER, ORIGIN), threads=8, guard=GUARD)
            )
        )

        def submit(entry: bytes) -> float:
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", log_server.port), timeout=10) as conn:
                conn.sendall(
                    b"POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + f"Content-Length: {len(entry)}\r\n\r\n".encode()
                    + entry
                )
                answer = b""
                while chunk := conn.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
            return time.monotonic() - started

        usual = max(submit(f"calm {i}".encode()) for i in range(3))
        with siege(witness_server.port) as on_witness, siege(log_server.port) as on_log:
            started = time.monotonic()
            sieged = [submit(f"sieged {i}".encode()) for i in range(5)]
            # Every hostile connection is shed: the idle ones at the limit or after the
            # idle timeout, the trickling ones at the request deadline.
            deadline = time.monotonic() + GUARD.request_timeout + GUARD.idle_timeout + 5
            while time.monotonic() < deadline:
                if on_witness.open_count() == 0 and on_log.open_count() == 0:
                    break
                time.sleep(0.5)
            shed_after = time.monotonic() - started
            assert on_witness.open_count() == 0
            assert on_log.open_count() == 0
        checkpoint = (tmp_path / "log" / "checkpoint").read_bytes()
        verified = verify_checkpoint(checkpoint, VERIFIER, witnesses=[WITNESS.verifier()])
    assert verified.checkpoint.size == 8
    assert WITNESS.name in dict(verified.cosignatures)  # the last one was cosigned, sieged
    print(
        f"usual {usual:.3f} s, sieged {[round(t, 3) for t in sieged]}, shed in {shed_after:.1f} s"
    )
    assert max(sieged) < usual + 1.0, (usual, sieged)


@pytest.mark.parametrize(
    "guard",
    [
        ConnectionGuard(idle_timeout=0),
        ConnectionGuard(request_timeout=-1.0),
        ConnectionGuard(idle_timeout=True),
        ConnectionGuard(connection_limit=7),
        ConnectionGuard(connection_limit=65537),
        ConnectionGuard(connection_limit=100.0),  # type: ignore[arg-type]
    ],
    ids=["idle 0", "request negative", "idle bool", "limit 7", "limit 65537", "limit float"],
)
def test_a_bad_guard_is_a_value_error(guard: ConnectionGuard) -> None:
    witness = Witness(WITNESS, {ORIGIN: VERIFIER}, MemoryStateStore())
    with pytest.raises(ValueError, match="must be"):
        make_witness_server(witness, guard=guard)
