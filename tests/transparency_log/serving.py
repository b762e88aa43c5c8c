"""Test helper: a bound waitress server (a LogServer, a WitnessServer) serving on a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


class _Server(Protocol):
    def serve_forever(self) -> None: ...

    def close(self) -> None: ...


S = TypeVar("S", bound=_Server)

STOP_TIMEOUT = 10.0
"""Seconds a server's thread may take to return after close()."""


@contextmanager
def serving_on_a_thread(server: S) -> Iterator[S]:
    """Serve ``server`` on a daemon thread; at the end close it and wait for the thread."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.close()
        thread.join(timeout=STOP_TIMEOUT)
        if thread.is_alive():
            raise AssertionError(f"the server did not stop within {STOP_TIMEOUT} s of close()")
