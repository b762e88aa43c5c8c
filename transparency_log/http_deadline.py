"""HTTP client deadline: one bound for a whole request and its answer (SPEC §11).

``requests`` (and urllib3 under it) bounds each socket operation, never a whole answer: a
server that sends one byte every few seconds, in the headers or in the body, keeps a request
alive for as long as it likes. Every HTTP client of the project (the tile fetcher, the
witness client, the monitor's conditional checkpoint fetch, and through the fetcher
``verify --log`` and ``package build --log``) therefore runs each request under a
:class:`Deadline`: from before the connection is opened until the last body byte is read,
the request has ``timeout`` seconds in all. When they run out, a watchdog timer shuts the
connection's socket down (``shutdown(SHUT_RDWR)``, which wakes a thread blocked in
``recv`` on every platform we support, where ``close`` may not), so the blocked read fails
at once and :func:`bounded_request` raises :class:`DeadlineExceededError`.

The socket is found through the sessions made by :func:`bounded_session`, whose connection
classes register themselves with the deadline of the request that uses them (a per-thread
value set by :func:`bounded_request`). Those classes also bound the name lookup before the
connection, which no socket timeout covers (``getaddrinfo`` blocks for as long as the
system's resolver retries, 30 s and more on a network that drops DNS): the lookup runs in a
thread of its own, and a request whose lookup outlives the deadline fails at the deadline,
leaving that thread to finish in the background, bounded by the resolver's own timeouts.
Transport adapters a caller mounts on a more specific URL prefix (tests do, to answer
in-process) are left as they are: no socket, nothing to cut.

This module imports ``requests``; :mod:`transparency_log.fetcher` loads it only when an
:class:`~transparency_log.fetcher.HTTPFetcher` is made.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
import requests.adapters
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from .errors import AnswerTooLargeError, DeadlineExceededError

__all__ = [
    "AnswerTooLargeError",
    "BoundedResponse",
    "Deadline",
    "DeadlineExceededError",
    "bounded_request",
    "bounded_session",
    "short_reason",
]

_CHUNK_BYTES = 64 * 1024
_local = threading.local()

_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by the server",
    errno.ECONNABORTED: "connection aborted",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ETIMEDOUT: "connection timed out",
}
_MAX_REASON_CHARS = 200


def short_reason(error: BaseException) -> str:
    """Why a request failed, in a few words: ``connection refused``, ``host name not
    resolved (...)``, ``TLS error (...)``, for a one-line message (CLI §10.1).

    ``str()`` of a ``requests`` error is urllib3's whole chain (``_HTTPPool(host=...):
    Max retries exceeded ... (Caused by NewConnectionError(...))``), several hundred
    characters that name the cause last. This walks the chain (arguments, ``reason``,
    ``__cause__``, ``__context__``) for the socket-level cause; failing that, the first
    line of the message, cut to 200 characters.
    """
    if isinstance(error, DeadlineExceededError | AnswerTooLargeError):
        return str(error)  # ours: short already, and it names the deadline or the cap
    stack: list[BaseException] = [error]
    seen: set[int] = set()
    while stack:
        e = stack.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror):
            return f"host name not resolved ({e.strerror or e})"
        if isinstance(e, ssl.SSLError):
            return f"TLS error ({getattr(e, 'reason', None) or e.strerror or e})"
        if isinstance(e, TimeoutError):
            return "timed out"
        if isinstance(e, OSError) and e.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[e.errno]
        nested = [*e.args, getattr(e, "reason", None), e.__cause__, e.__context__]
        stack.extend(x for x in nested if isinstance(x, BaseException))
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."


class Deadline:
    """``seconds`` from now for one request: its connection, headers and body.

    :meth:`start` arms a timer; when it fires, :attr:`expired` becomes true and the socket
    of every connection the request used is shut down. :meth:`cancel` disarms it.
    """

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise ValueError(f"a deadline is a positive number of seconds, not {seconds!r}")
        self.seconds = float(seconds)
        self._end = time.monotonic() + self.seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed (and the request's sockets were shut down)."""
        with self._lock:
            return self._expired

    def remaining(self) -> float:
        """Seconds left, at least a millisecond (a socket timeout of 0 means non-blocking)."""
        return max(0.001, self._end - time.monotonic())

    def start(self) -> None:
        """Arm the watchdog."""
        self._timer.start()

    def cancel(self) -> None:
        """Disarm the watchdog (the request is over)."""
        self._timer.cancel()

    def watch(self, connection: HTTPConnection) -> None:
        """Shut ``connection``'s socket down when the deadline passes (now, if it has).

        The socket itself is kept, not the connection: http.client drops its reference to
        the socket of an answer that ends with the connection, while the body is read.
        """
        sock = getattr(connection, "sock", None)
        if not isinstance(sock, socket.socket):
            return  # not connected yet: connect() calls again
        with self._lock:
            if sock not in self._sockets:
                self._sockets.append(sock)
            if self._expired:
                _shut(sock)

    def exceeded(self) -> DeadlineExceededError:
        """The error for a request cut at this deadline."""
        return DeadlineExceededError(f"timed out: no complete answer within {self.seconds:g} s")

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        # The plain socket's shutdown, also for TLS: it wakes the reader without touching
        # the SSL object another thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _current() -> Deadline | None:
    deadline: Deadline | None = getattr(_local, "deadline", None)
    return deadline


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _lookup(host: str, port: int, deadline: Deadline) -> list[str]:
    """The addresses of ``host``, in the resolver's order, or :class:`TimeoutError` at the deadline.

    The lookup runs in a daemon thread: ``getaddrinfo`` cannot be interrupted, so a lookup
    that hangs is abandoned, not waited for.
    """
    answer: list[list[str] | BaseException] = []
    done = threading.Event()

    def resolve() -> None:
        try:
            family = urllib3_connection.allowed_gai_family()
            infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
            answer.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except BaseException as e:  # handed to the waiting thread, never lost
            answer.append(e)
        finally:
            done.set()

    threading.Thread(target=resolve, name=f"resolve {host}", daemon=True).start()
    if not done.wait(deadline.remaining()):
        raise TimeoutError(f"no address for {host} within the deadline")
    result = answer[0]
    if isinstance(result, BaseException):
        raise result
    return result


class _Watched:
    """Mixin for urllib3 connections: bound the name lookup, register with the deadline."""

    host: str
    _dns_host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        """urllib3's connection, with the lookup under the current request's deadline.

        Each address found is then tried in turn, as urllib3 does; an address literal needs
        no lookup. Errors are urllib3's own, so requests reports them as it always does.
        """
        deadline = _current()
        if deadline is None or _is_address(self._dns_host):
            return super()._new_conn()  # type: ignore[misc, no-any-return]
        try:
            addresses = _lookup(self._dns_host, self.port, deadline)
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e  # type: ignore[arg-type]
        except TimeoutError as e:
            raise ConnectTimeoutError(self, f"Looking up {self.host} timed out.") from e
        if not addresses:
            raise NameResolutionError(self.host, self, socket.gaierror("no address"))  # type: ignore[arg-type]
        last: Exception | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as e:
                last = ConnectTimeoutError(self, f"Connection to {self.host} timed out.")
                last.__cause__ = e
            except OSError as e:
                last = NewConnectionError(self, f"Failed to establish a new connection: {e}")  # type: ignore[arg-type]
                last.__cause__ = e
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        assert last is not None
        raise last

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        deadline = _current()
        if deadline is not None:
            deadline.watch(self)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = _current()
        if deadline is not None:
            deadline.watch(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with connections that a :class:`Deadline` can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # a SOCKS manager has its own classes
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def bounded_session(
    factory: Callable[[], requests.Session] = requests.Session, *, user_agent: str | None = None
) -> requests.Session:
    """A session from ``factory`` whose http(s) connections obey :func:`bounded_request`."""
    session = factory()
    session.mount("http://", _DeadlineAdapter())
    session.mount("https://", _DeadlineAdapter())
    if user_agent is not None:
        session.headers["User-Agent"] = user_agent
    return session


class BoundedResponse:
    """An answer whose body is read within the request's deadline."""

    def __init__(self, response: requests.Response, deadline: Deadline) -> None:
        self._response = response
        self._deadline = deadline

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._response.status_code

    def header(self, name: str, default: str = "") -> str:
        """One response header (the last one of that name), or ``default``."""
        value = self._response.headers.get(name)
        return default if value is None else value

    def read(self, cap: int) -> bytes:
        """The whole body (decoded), at most ``cap`` bytes.

        :class:`AnswerTooLargeError` when it is longer (nothing past the cap is read),
        :class:`DeadlineExceededError` when it does not arrive within the deadline, and requests'
        own errors for a connection that fails otherwise.
        """
        encoding = self.header("Content-Encoding", "identity").strip().lower()
        declared = self.header("Content-Length")
        if encoding == "identity" and declared.isdigit() and int(declared) > cap:
            raise AnswerTooLargeError(cap)
        chunks: list[bytes] = []
        received = 0
        for chunk in self._response.iter_content(chunk_size=_CHUNK_BYTES):
            received += len(chunk)
            if received > cap:
                raise AnswerTooLargeError(cap)
            chunks.append(chunk)
        if self._deadline.expired:  # a body without Content-Length ends at the shutdown
            raise self._deadline.exceeded()
        return b"".join(chunks)


@contextlib.contextmanager
def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> Iterator[BoundedResponse]:
    """Send one request (no redirects followed) and yield its answer, all within ``timeout``.

    The deadline covers connecting, sending, the status line and headers, and every
    :meth:`BoundedResponse.read` inside the ``with`` block. A request that runs out of time
    raises :class:`DeadlineExceededError`, wherever it was; other failures raise requests' errors.
    ``session`` should come from :func:`bounded_session`: the deadline can cut only the
    connections it makes.
    """
    deadline = Deadline(timeout)
    previous = _current()
    _local.deadline = deadline
    deadline.start()
    try:
        remaining = deadline.remaining()
        with session.request(
            method,
            url,
            headers=headers,
            data=data,
            timeout=(remaining, remaining),
            stream=True,
            allow_redirects=False,
        ) as response:
            yield BoundedResponse(response, deadline)
    except requests.RequestException as e:
        # requests' own timeouts are set to the time left, so one firing means the deadline
        # ran out too, a hair before the watchdog saw it: report both the same way.
        if deadline.expired or isinstance(e, requests.Timeout):
            raise deadline.exceeded() from None
        raise e
    finally:
        deadline.cancel()
        _local.deadline = previous
