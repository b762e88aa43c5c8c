"""PEP 3333 WSGI on waitress: the plumbing shared by the log's and the witness's HTTP services.

Both services (SPEC §6.5 and §6.4.5) answer one-line text or small static bodies, always with
Content-Length, read a request body only when it carries a canonical decimal Content-Length
within their limit, and run on waitress, which reads each request completely (up to twice
that limit, so a body slightly over it still gets the service's own one-line 413) before a
worker thread sees it. What they answer stays in :mod:`transparency_log.server` and
:mod:`transparency_log.witness`; this private module only carries the bytes.
"""

from __future__ import annotations

import contextlib
import http
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

__all__ = [
    "MAX_REQUEST_HEADER_BYTES",
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

    Content-Length must be canonical decimal (no sign, no leading zeros, at most 19 digits);
    a larger one than ``max_body_bytes`` is refused unread: "``what`` is N bytes; ``who``
    accepts at most M".
    """
    text = str(environ.get("CONTENT_LENGTH") or "")
    if _CONTENT_LENGTH.fullmatch(text) is None:
        return Refusal(http.HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
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


def create_waitress_server(
    app: WSGIApp,
    host: str,
    port: int,
    *,
    threads: int,
    channel_timeout: int,
    max_body_bytes: int,
    ident: str,
) -> Any:
    """A bound waitress server for ``app``.

    Waitress buffers each request body up to twice ``max_body_bytes`` (so that a body
    slightly over the limit still gets the app's own one-line 413) and answers 413 itself
    beyond; ``channel_timeout`` drops idle connections.
    """
    from waitress.server import create_server  # type: ignore[import-untyped]

    return create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        channel_timeout=channel_timeout,
        max_request_body_size=2 * max_body_bytes,
        max_request_header_size=MAX_REQUEST_HEADER_BYTES,
        connection_limit=max(100, 4 * threads),
        ident=ident,
    )


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
