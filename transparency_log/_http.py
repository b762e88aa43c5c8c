"""PEP 3333 WSGI on waitress: the plumbing shared by the log's and the witness's HTTP services.

Both services (SPEC §6.5 and §6.4.5) answer one-line text or small static bodies, always with
Content-Length, read a request body only when it carries a canonical decimal Content-Length
within their limit, and run on waitress, which reads each request completely (up to twice
that limit, so that a body over it, up to twice, still gets the service's own one-line 413)
before a worker thread sees it. A :class:`ConnectionGuard` sheds idle and trickling
connections so that a few hundred sockets cannot lock a service out (SPEC §6.5.2).

Why waitress still, rather than another server: reading whole requests before dispatch means
a slow client costs a connection and never a thread, which is most of the defence; what it
lacks (a deadline from a request's first byte, shedding at the connection limit instead of
refusing, one-line error answers) is a small subclass of its channel and server here.

What the services answer stays in :mod:`transparency_log.server` and
:mod:`transparency_log.witness`; this private module only carries the bytes.
"""

from __future__ import annotations

import contextlib
import http
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

__all__ = [
    "DEFAULT_CONNECTION_GUARD",
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_IDLE_TIMEOUT_SECONDS",
    "DEFAULT_REQUEST_TIMEOUT_SECONDS",
    "MAX_REQUEST_HEADER_BYTES",
    "ConnectionGuard",
    "Refusal",
    "Response",
    "StartResponse",
    "WSGIApp",
    "WaitressServer",
    "create_waitress_server",
    "read_body",
    "respond",
    "start_response_for",
]

MAX_REQUEST_HEADER_BYTES = 16 * 1024
"""Largest request header block waitress accepts for either service."""

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_CONTENT_LENGTH = re.compile(r"0|[1-9][0-9]{0,18}")
_log = logging.getLogger(__name__)


class Response(Protocol):
    """One HTTP answer: status, headers (without Content-Length) and body."""

    @property
    def status(self) -> int:
        """The HTTP status code."""
        ...

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """The headers, without Content-Length (:func:`start_response_for` adds it)."""
        ...

    @property
    def body(self) -> bytes:
        """The body, complete."""
        ...


class Refusal(NamedTuple):
    """Why a request body was not read: the status and one line for the service's answer."""

    status: int
    message: str


def read_body(
    environ: Mapping[str, Any], max_body_bytes: int, *, what: str, who: str
) -> bytes | Refusal:
    """The request body, read exactly, or why it is refused (411, 413 or 400).

    Content-Length is required (411 without it) and must be canonical decimal (no sign, no
    leading zeros, at most 19 digits; 400 otherwise);
    a larger one than ``max_body_bytes`` is refused unread: "``what`` is N bytes; ``who``
    accepts at most M".
    """
    text = str(environ.get("CONTENT_LENGTH") or "")
    if not text:
        return Refusal(http.HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
    if _CONTENT_LENGTH.fullmatch(text) is None:
        return Refusal(
            http.HTTPStatus.BAD_REQUEST,
            f"Content-Length {text[:24]!r} is not canonical decimal (digits, no sign, no "
            "leading zero)",
        )
    length = int(text)
    if length > max_body_bytes:
        return Refusal(
            http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"{what} is {length} bytes; {who} accepts at most {max_body_bytes}",
        )
    body = environ["wsgi.input"].read(length) if length else b""
    if not isinstance(body, bytes) or len(body) != length:
        return Refusal(http.HTTPStatus.BAD_REQUEST, "the body is shorter than Content-Length")
    return body


def start_response_for(
    start_response: StartResponse, response: Response, *extra: tuple[str, str]
) -> None:
    """Start ``response``: its status line, its headers, ``extra`` headers, Content-Length."""
    headers = [*response.headers, *extra, ("Content-Length", str(len(response.body)))]
    phrase = http.HTTPStatus(response.status).phrase
    start_response(f"{int(response.status)} {phrase}", headers)


def respond(
    environ: Mapping[str, Any],
    start_response: StartResponse,
    response: Response,
    *extra: tuple[str, str],
) -> list[bytes]:
    """Start ``response`` and return the body to send: none for a HEAD request.

    A HEAD answer carries the headers a GET would, Content-Length included, and no body
    (RFC 9110 §9.3.2): waitress sends whatever the application returns, and body bytes
    after a HEAD answer would be read as the start of the next answer on the connection.
    """
    start_response_for(start_response, response, *extra)
    if environ.get("REQUEST_METHOD") == "HEAD":
        return []
    return [response.body]


DEFAULT_IDLE_TIMEOUT_SECONDS = 10.0
"""A connection with no request in progress is closed after this long quiet (SPEC §11)."""

DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0
"""A request must arrive complete within this long of its first byte (SPEC §11)."""

DEFAULT_CONNECTION_LIMIT = 1000
"""Connections a service holds at once before it sheds the quietest (SPEC §11)."""


class ConnectionGuard(NamedTuple):
    """How a service sheds connections that do not earn their place (SPEC §6.5.2, §11).

    - ``idle_timeout``: a connection with no request in progress (never a byte, or between
      keep-alive requests, or not reading its answer) is closed after this many seconds
      without activity;
    - ``request_timeout``: a request must arrive complete, headers and body, within this
      many seconds of its first byte, however steadily it trickles in; otherwise the
      connection is closed unanswered;
    - ``connection_limit``: the most connections held at once. At the limit, instead of
      refusing new ones (which lets a few hundred idle sockets lock a service out), the
      service closes the longest-quiet connections that have no request being answered,
      about a tenth of the limit at a time, and accepts again.

    A request being answered (a submission waiting for its batch) is never shed: it holds
    one of the service's threads, and its own bounds are the service's (OPS §6.2, SPEC §6.4.4).
    """

    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    connection_limit: int = DEFAULT_CONNECTION_LIMIT


DEFAULT_CONNECTION_GUARD = ConnectionGuard()


def _check_guard(guard: ConnectionGuard) -> None:
    for value, what in (
        (guard.idle_timeout, "idle_timeout"),
        (guard.request_timeout, "request_timeout"),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
    limit = guard.connection_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 8 <= limit <= 65536:
        raise ValueError(f"connection_limit must be an int in 8..65536, not {limit!r}")


def _descriptors_for(limit: int) -> int:
    """Raise this process's open-file limit to fit ``limit`` connections, if it can.

    Each connection is a descriptor; the service needs a few more for its files. When the
    hard limit is lower, the connection limit is lowered to fit (and the caller logs it).
    """
    import resource

    wanted = limit + _SPARE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return limit
    return max(8, soft - _SPARE_DESCRIPTORS)


_SPARE_DESCRIPTORS = 64
_ACCEPTS_PER_TURN = 64


def create_waitress_server(
    app: WSGIApp,
    host: str,
    port: int,
    *,
    threads: int,
    max_body_bytes: int,
    ident: str,
    guard: ConnectionGuard = DEFAULT_CONNECTION_GUARD,
) -> Any:
    """A bound waitress server for ``app``, guarded against idle and trickling connections.

    Waitress reads each request completely before a worker thread sees it, so slow clients
    cost a connection, never a thread; :class:`ConnectionGuard` bounds how long they keep one. It
    buffers a body up to twice ``max_body_bytes`` (so that a body over the limit, up to
    twice it, still gets the app's own one-line 413) and answers 413 itself beyond; its own
    error answers (400, 413, 431, 500, 501) are one line with ``Cache-Control: no-store``,
    like the app's. poll() is used instead of select(), which cannot watch descriptors
    numbered 1024 and above.
    """
    from waitress.adjustments import Adjustments  # type: ignore[import-untyped]
    from waitress.server import MultiSocketServer  # type: ignore[import-untyped]
    from waitress.task import ThreadedTaskDispatcher  # type: ignore[import-untyped]

    _check_guard(guard)
    limit = _descriptors_for(guard.connection_limit)
    if limit < guard.connection_limit:
        _log.warning(
            "the open-file limit allows %d connections, not %d", limit, guard.connection_limit
        )
    guard = guard._replace(connection_limit=limit)
    adj = Adjustments(
        host=host,
        port=port,
        threads=threads,
        channel_timeout=max(1, int(guard.idle_timeout)),  # ours is enforced below
        cleanup_interval=1,
        # The largest body waitress buffers: twice the app's limit, and one more byte
        # because waitress refuses a body *of* max_request_body_size.
        max_request_body_size=2 * max_body_bytes + 1,
        max_request_header_size=MAX_REQUEST_HEADER_BYTES,
        connection_limit=limit,
        asyncore_use_poll=True,
        ident=ident,
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    server_class = _guarded_server_class()
    shared: dict[int, Any] = {}
    servers = [
        server_class(app, shared, dispatcher=dispatcher, adj=adj, sockinfo=info, guard=guard)
        for info in adj.listen
    ]
    if len(servers) == 1:
        return servers[0]
    listening = [(s.effective_host, s.effective_port) for s in servers]
    return MultiSocketServer(shared, adj, listening, dispatcher)


_GUARDED: list[type] = []


def _guarded_server_class() -> type:
    """waitress's TCP server and channel, with :class:`ConnectionGuard` and one-line error answers.

    Made on first use, so that importing this module does not import waitress.
    """
    if _GUARDED:
        return _GUARDED[0]
    from waitress.channel import HTTPChannel  # type: ignore[import-untyped]
    from waitress.server import TcpWSGIServer
    from waitress.task import ErrorTask

    class OneLineErrorTask(ErrorTask):  # type: ignore[misc]
        """waitress's own error answers, as one line with ``Cache-Control: no-store``."""

        def execute(self) -> None:
            error = self.request.error
            detail = " ".join(str(error.body).split())
            body = f"{error.reason.lower()}: {detail}\n".encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.extend(
                [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
            )
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class GuardedChannel(HTTPChannel):  # type: ignore[misc]
        """A channel that remembers when the request it is reading began."""

        error_task_class = OneLineErrorTask
        request_started: float | None = None

        def received(self, data: bytes) -> bool:
            before = self.request
            result = bool(super().received(data))
            if self.request is None:
                self.request_started = None
            elif self.request is not before or self.request_started is None:
                self.request_started = time.time()
            return result

    class GuardedServer(TcpWSGIServer):  # type: ignore[misc]
        channel_class = GuardedChannel
        next_channel_cleanup: float  # waitress's

        def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
            self.guard = guard
            super().__init__(*args, **kwargs)

        def maintenance(self, now: float) -> None:
            """Close idle connections and requests that do not arrive in time (ConnectionGuard)."""
            idle_cutoff = now - self.guard.idle_timeout
            request_cutoff = now - self.guard.request_timeout
            for channel in list(self.active_channels.values()):
                if channel.requests or channel.will_close:
                    continue  # being answered, or closing already
                started = getattr(channel, "request_started", None)
                if started is not None:
                    if started < request_cutoff:
                        channel.will_close = True
                elif channel.last_activity < idle_cutoff:
                    channel.will_close = True

        def readable(self) -> bool:
            """waitress's, with shedding instead of refusing at the connection limit."""
            now = time.time()
            if now >= self.next_channel_cleanup:
                self.next_channel_cleanup = now + self.adj.cleanup_interval
                self.maintenance(now)
            if not self.accepting:
                return False
            if len(self._map) >= self.adj.connection_limit:
                self._shed()
                return False  # accept again once the shed connections are closed
            return True

        def handle_accept(self) -> None:
            """Accept what is waiting, up to the limit (waitress takes one per loop turn,
            which leaves a real client behind hundreds of queued idle ones)."""
            for _ in range(_ACCEPTS_PER_TURN):
                before = len(self._map)
                if before >= self.adj.connection_limit:
                    return
                super().handle_accept()
                if len(self._map) == before:
                    return  # nothing was waiting

        def _shed(self) -> None:
            """At the limit: close the longest-quiet connections not being answered."""
            closing = sum(1 for c in self.active_channels.values() if c.will_close)
            target = max(1, self.adj.connection_limit // 10) - closing
            if target <= 0:
                return
            candidates = [
                c for c in self.active_channels.values() if not c.requests and not c.will_close
            ]
            candidates.sort(key=lambda c: c.last_activity)
            for channel in candidates[:target]:
                channel.will_close = True

    _GUARDED.append(GuardedServer)
    return GuardedServer


class WaitressServer:
    """A WSGI app on waitress, bound and ready to :meth:`serve_forever`."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._running = threading.Event()

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self._server.effective_host)

    @property
    def port(self) -> int:
        """The bound port (useful after asking for port 0)."""
        return int(self._server.effective_port)

    def serve_forever(self) -> None:
        """Serve until :meth:`close` is called (from another thread or a signal handler)."""
        self._running.set()
        try:
            self._server.run()
        finally:
            self._server.task_dispatcher.shutdown()

    def close(self) -> None:
        """Stop serving: close the listening socket and every connection.

        The sockets are closed by the server's own loop (woken through its trigger), so that
        :meth:`serve_forever` returns cleanly instead of polling a closed descriptor.
        """
        server = self._server
        if not self._running.is_set():
            server.close()
            return

        def shutdown() -> None:
            for channel in list(server._map.values()):  # waitress's loop map
                channel.close()

        with contextlib.suppress(OSError):  # already closed
            server.trigger.pull_trigger(shutdown)
