"""C2SP tlog-tiles, read side: fetch a log's static resources from a directory or over HTTP.

A tiled log's read API is a set of static files (``checkpoint``, ``tile/<L>/<N>[.p/<W>]``,
``tile/entries/<N>[.p/<W>]``; SPEC §6.5). A :class:`Fetcher` returns the bytes of one such
path and knows nothing about what they mean: authenticating them is the job of
:mod:`transparency_log.tlog_client`, which checks every tile against a signed root before
using or caching it (SPEC §2.9).

Failures are I/O errors, not verification errors: :class:`NotFoundError` when the resource
does not exist (HTTP 404/410, a missing file), :class:`ResponseTooLargeError` when it is
larger than the caller's cap, and :class:`FetchError` for everything else (timeouts,
connection failures, 5xx after the bounded retries, redirects). All are ``OSError``
subclasses, so code that already handles I/O failure handles these; they are defined in
:mod:`transparency_log.errors` and re-exported here, beside the protocol that raises them.

This module, :mod:`transparency_log.witness_client` and :mod:`transparency_log.http_deadline`
(which bounds every request, SPEC §11) are the only ones of the package that import
``requests``, and this one only when an :class:`HTTPFetcher` is made: a client reading a local
directory (an auditor, a test, the log's own server) never loads it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .errors import FetchError, NotFoundError, ResponseTooLargeError
from .tile import require_resource_path

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_FETCH_RETRIES",
    "DEFAULT_FETCH_TIMEOUT_SECONDS",
    "MAX_FETCH_BYTES",
    "MAX_FETCH_PATH_LENGTH",
    "MAX_FETCH_WORKERS",
    "BatchFetcher",
    "DirectoryFetcher",
    "FetchError",
    "Fetcher",
    "HTTPFetcher",
    "NotFoundError",
    "ResponseTooLargeError",
    "fetch_all",
    "validate_fetch_path",
]

MAX_FETCH_BYTES = 256 * (2 + 65535)
"""Default cap on one fetched resource, in bytes (SPEC §11): a full entry bundle of 256
entries of the largest size (65535 bytes each), about 16 MiB. Callers that know the exact
size of what they fetch (a tile is ``32 * W`` bytes) pass a smaller ``max_bytes``."""

DEFAULT_FETCH_TIMEOUT_SECONDS = 10.0
"""Time allowed for one HTTP request, from connecting to the answer's last byte (SPEC §11)."""

DEFAULT_FETCH_RETRIES = 3
"""Retries after the first attempt of an HTTP fetch, on connection errors, timeouts, 5xx and
429 only, with exponential backoff (SPEC §11). A 404 or other 4xx is never retried."""

MAX_FETCH_WORKERS = 8
"""Most HTTP requests one :meth:`HTTPFetcher.fetch_many` call runs in parallel."""

MAX_FETCH_PATH_LENGTH = 256
"""Longest relative path a fetcher accepts (a tile path of a 2^63-leaf log is under 60)."""

_RETRY_BACKOFF_SECONDS = 0.1
_RETRY_BACKOFF_CAP_SECONDS = 2.0
_USER_AGENT = "keybundle-tlog-client"


class Fetcher(Protocol):
    """Reads one static resource of a tiled log by its relative path (SPEC §6.5).

    ``path`` is relative to the log's prefix, e.g. ``checkpoint`` or ``tile/0/001.p/7``; a
    path with ``..``, a leading ``/`` or a hidden element is a ``ValueError``. The answer is
    at most ``max_bytes`` long (the fetcher's own cap when None); a longer one raises
    :class:`ResponseTooLargeError` without being read to its end.
    """

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes of ``path``; :class:`NotFoundError` or :class:`FetchError` on failure."""
        ...


@runtime_checkable
class BatchFetcher(Protocol):
    """A :class:`Fetcher` that can fetch several resources at once (e.g. in parallel)."""

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes of ``path``."""
        ...

    def fetch_many(
        self, paths: Sequence[str], *, max_bytes: Sequence[int | None] | None = None
    ) -> list[bytes]:
        """The bytes of each path, in order; the first failure raises."""
        ...


def fetch_all(
    fetcher: Fetcher, paths: Sequence[str], max_bytes: Sequence[int | None] | None = None
) -> list[bytes]:
    """Fetch ``paths`` with ``fetcher``, in one batch when it supports one."""
    if max_bytes is not None and len(max_bytes) != len(paths):
        raise ValueError(f"{len(max_bytes)} size caps for {len(paths)} paths")
    if len(paths) > 1 and isinstance(fetcher, BatchFetcher):
        return fetcher.fetch_many(paths, max_bytes=max_bytes)
    caps: Sequence[int | None] = max_bytes if max_bytes is not None else [None] * len(paths)
    return [fetcher.fetch(p, max_bytes=m) for p, m in zip(paths, caps, strict=True)]


def validate_fetch_path(path: str) -> str:
    """Return ``path`` if it is a safe relative resource path, else raise ValueError.

    ``/``-separated non-empty elements of ``[A-Za-z0-9_.-]`` that do not start with ``.``,
    at most :data:`MAX_FETCH_PATH_LENGTH` characters: no absolute path, no ``..``.
    """
    return require_resource_path(path, "resource path", MAX_FETCH_PATH_LENGTH)


def _check_cap(max_bytes: int | None, default: int) -> int:
    if max_bytes is None:
        return default
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int or None, not {type(max_bytes).__name__}")
    if max_bytes < 0:
        raise ValueError(f"max_bytes must not be negative, not {max_bytes}")
    return min(max_bytes, default)


def _check_positive(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{what} must be a positive number, not {value!r}")


def _too_large(path: str, where: str, cap: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        path,
        f"{where} is larger than {cap} bytes, the most accepted for {path!r}; the server "
        "sent the wrong resource or a hostile one",
    )


class DirectoryFetcher:
    """Reads a log's static files from a local directory (the writer's own tile directory,
    a mirror, or a test fixture)."""

    def __init__(self, root: str | os.PathLike[str], *, max_bytes: int = MAX_FETCH_BYTES) -> None:
        self._root = Path(root)
        self._max_bytes = _check_cap(max_bytes, MAX_FETCH_BYTES)

    def __repr__(self) -> str:
        return f"DirectoryFetcher({str(self._root)!r})"

    @property
    def root(self) -> Path:
        """The directory that holds ``checkpoint`` and ``tile/``."""
        return self._root

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Read ``root/path``, at most ``max_bytes`` of it (see :class:`Fetcher`)."""
        cap = _check_cap(max_bytes, self._max_bytes)
        full = self._root / validate_fetch_path(path)
        try:
            with open(full, "rb") as f:
                data = f.read(cap + 1)
        except FileNotFoundError:
            raise NotFoundError(path, f"{path!r} does not exist under {self._root}") from None
        except OSError as e:
            raise FetchError(path, f"cannot read {full}: {e.strerror or e}") from None
        if len(data) > cap:
            raise _too_large(path, f"file {full}", cap)
        return data

    def fetch_many(
        self, paths: Sequence[str], *, max_bytes: Sequence[int | None] | None = None
    ) -> list[bytes]:
        """Read each path in turn (local reads gain nothing from threads)."""
        caps: Sequence[int | None] = max_bytes if max_bytes is not None else [None] * len(paths)
        return [self.fetch(p, max_bytes=m) for p, m in zip(paths, caps, strict=True)]


class HTTPFetcher:
    """Fetches a log's static resources over HTTP(S) with ``requests`` (SPEC §6.5).

    - ``timeout`` seconds for each request, from before connecting to the answer's last byte,
      headers included (:mod:`transparency_log.http_deadline`: a server trickling bytes is
      cut off at the deadline, not waited for). One :meth:`fetch` therefore ends within
      ``(retries + 1) * timeout`` seconds plus the backoff sleeps (at most 40.7 s with the
      defaults, SPEC §11);
    - at most ``retries`` retries after the first attempt, only for connection errors,
      timeouts, 5xx and 429, sleeping ``0.1 * 2**n`` seconds (at most 2) in between; 404 and
      410 raise :class:`NotFoundError` at once, other answers :class:`FetchError`;
    - redirects are not followed (a tile server has no reason to redirect, and following one
      would let it send the client elsewhere);
    - the size cap is enforced while streaming, on the decoded bytes, so neither a long
      answer nor a gzip bomb is read past the cap;
    - nothing is cached here. Immutable full tiles are never fetched twice by
      :class:`~transparency_log.tlog_client.LogClient`, which keeps them once they are
      authenticated. The mutable ``checkpoint`` is always fetched in full: it is a few hundred
      bytes, and conditional requests would be unsafe with servers whose validators have
      one-second granularity (nginx's ETag is mtime and size, and two checkpoints written in
      one second have the same size), which would answer a new checkpoint "not modified".

    Safe to share between threads (one ``requests.Session`` per thread).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_FETCH_TIMEOUT_SECONDS,
        retries: int = DEFAULT_FETCH_RETRIES,
        max_bytes: int = MAX_FETCH_BYTES,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {base_url!r} must start with http:// or https://")
        _check_positive(timeout, "timeout")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise ValueError(f"retries must be an int in 0..10, not {retries!r}")
        self._base = base_url.rstrip("/") + "/"
        self._timeout = float(timeout)
        self._retries = retries
        self._max_bytes = _check_cap(max_bytes, MAX_FETCH_BYTES)
        import requests  # here, so that reading a directory never loads it

        self._requests = requests
        self._session_factory = session_factory or requests.Session
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HTTPFetcher({self._base!r})"

    @property
    def base_url(self) -> str:
        """The log's URL prefix, with one trailing slash."""
        return self._base

    def close(self) -> None:
        """Close every session this fetcher opened."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def __enter__(self) -> HTTPFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            from transparency_log.http_deadline import bounded_session

            session = bounded_session(self._session_factory, user_agent=_USER_AGENT)
            session.headers["Accept-Encoding"] = "gzip, identity"
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """GET ``<base_url>/<path>`` (see the class doc for timeouts, retries and caps)."""
        cap = _check_cap(max_bytes, self._max_bytes)
        url = self._base + validate_fetch_path(path)
        attempt = 0
        while True:
            try:
                return self._get_once(path, url, cap)
            except _RetryableError as e:
                if attempt >= self._retries:
                    raise FetchError(
                        path, f"GET {url} failed after {attempt + 1} attempt(s): {e}"
                    ) from None
            self._sleep(min(_RETRY_BACKOFF_CAP_SECONDS, _RETRY_BACKOFF_SECONDS * 2**attempt))
            attempt += 1

    def fetch_many(
        self, paths: Sequence[str], *, max_bytes: Sequence[int | None] | None = None
    ) -> list[bytes]:
        """Fetch ``paths`` in parallel (at most :data:`MAX_FETCH_WORKERS` at a time).

        Bounded as a whole: each fetch ends within its own bound (class doc), so the batch
        ends within ``ceil(len(paths) / MAX_FETCH_WORKERS)`` of them; the first failure
        raises once the fetches already running have ended, and the rest are never started.
        """
        caps: list[int | None] = list(max_bytes) if max_bytes is not None else [None] * len(paths)
        if len(caps) != len(paths):
            raise ValueError(f"{len(caps)} size caps for {len(paths)} paths")
        if len(paths) <= 1:
            return [self.fetch(p, max_bytes=m) for p, m in zip(paths, caps, strict=True)]
        pool = ThreadPoolExecutor(max_workers=min(len(paths), MAX_FETCH_WORKERS))
        try:
            futures = [
                pool.submit(self.fetch, p, max_bytes=m) for p, m in zip(paths, caps, strict=True)
            ]
            return [f.result() for f in futures]
        finally:
            # On the first failure, the paths not yet started are dropped; the ones running
            # end within their own bound (one fetch), which is what the caller waits for.
            pool.shutdown(wait=True, cancel_futures=True)

    def _get_once(self, path: str, url: str, cap: int) -> bytes:
        from transparency_log import http_deadline as hd

        requests = self._requests
        try:
            with hd.bounded_request(self._session(), "GET", url, timeout=self._timeout) as answer:
                status = answer.status
                if status in (404, 410):
                    raise NotFoundError(path, f"{url} does not exist (HTTP {status})")
                if status >= 500 or status == 429:
                    raise _RetryableError(f"HTTP {status}")
                if status != 200:
                    raise FetchError(path, f"GET {url} answered HTTP {status}, expected 200")
                return answer.read(cap)
        except hd.AnswerTooLargeError:
            raise _too_large(path, f"the answer from {url}", cap) from None
        except hd.DeadlineExceededError as e:
            raise _RetryableError(str(e)) from None
        except (requests.ConnectionError, requests.Timeout) as e:
            raise _RetryableError(hd.short_reason(e)) from None
        except requests.exceptions.ChunkedEncodingError as e:
            raise _RetryableError(f"the answer was cut short: {e}") from None
        except requests.exceptions.ContentDecodingError as e:
            raise FetchError(path, f"cannot decode the answer from {url}: {e}") from None
        except requests.RequestException as e:
            raise FetchError(path, f"GET {url} failed: {hd.short_reason(e)}") from None


class _RetryableError(Exception):
    """A failure worth another attempt (connection, timeout, 5xx, 429)."""
