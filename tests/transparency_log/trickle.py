"""Test helper: a hostile HTTP server on 127.0.0.1 that answers one byte at a time, forever.

Each connection is read up to the end of its request headers (and a Content-Length body),
then answered in the mode the server was made with, one byte every ``interval`` seconds:

- ``headers``: a status line, then header lines that never end;
- ``body``: complete headers announcing a 1000-byte body, then that body a byte at a time;
- ``body-close``: headers without Content-Length (the body ends when the connection does);
- ``silent``: nothing at all;
- ``tls`` (for an ``https://`` client, not in :data:`MODES`): after the ClientHello, the
  header of a 16 KiB TLS handshake record, then that record a byte at a time.

The server stops, closing every connection, when its context manager exits; every loop is
bounded by that stop event, so no test can leave it behind.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

MODES = ("headers", "body", "body-close", "silent")


def _read_request(conn: socket.socket, stop: threading.Event) -> None:
    data = b""
    while b"\r\n\r\n" not in data and not stop.is_set():
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            missing = int(value.strip()) - len(body)
            while missing > 0 and not stop.is_set():
                chunk = conn.recv(missing)
                if not chunk:
                    return
                missing -= len(chunk)


def _answer(conn: socket.socket, mode: str, interval: float, stop: threading.Event) -> None:
    with conn:
        conn.settimeout(1.0)
        try:
            if mode == "tls":
                conn.recv(4096)  # the ClientHello
            else:
                _read_request(conn, stop)
            if mode == "silent":
                stop.wait()
                return
            if mode == "headers":
                start, drip = b"HTTP/1.1 200 OK\r\n", b"X-Slow: a\r\n"
            elif mode == "tls":
                start, drip = b"\x16\x03\x03\x40\x00", b"\x00"
            elif mode == "body":
                start, drip = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"x"
            else:
                start, drip = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"x"
            conn.sendall(start)
            while not stop.wait(interval):
                for byte in drip:
                    conn.sendall(bytes([byte]))
                    if stop.wait(interval):
                        return
        except OSError:
            return


@contextmanager
def trickling_server(mode: str, interval: float = 0.05) -> Iterator[str]:
    """Serve ``mode`` (see the module doc) on 127.0.0.1; yield its base URL."""
    if mode not in (*MODES, "tls"):
        raise ValueError(f"mode must be one of {MODES} or tls")
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    threads: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=_answer, args=(conn, mode, interval, stop))
            thread.daemon = True
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(timeout=5)
        with suppress(OSError):
            listener.close()
        for thread in threads:
            thread.join(timeout=5)
