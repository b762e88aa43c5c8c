"""Fetchers of a tiled log's static resources: a directory, and HTTP against real waitress."""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3

from transparency_log.fetcher import (
    DirectoryFetcher,
    FetchError,
    HTTPFetcher,
    NotFoundError,
    ResponseTooLargeError,
    fetch_all,
    validate_fetch_path,
)
from transparency_log.server import LogServer

from . import trickle
from .serving import serving_on_a_thread

pytestmark = pytest.mark.timeout(60)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Scripted:
    """A WSGI app whose answers per path are scripted; it counts requests per path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.failures_before_success: dict[str, int] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        with self.lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            hit = self.hits[path]
        if path == "/log/checkpoint":
            return self._answer(start_response, "200 OK", b"checkpoint bytes\n")
        if path.startswith("/log/tile/0/"):
            return self._answer(start_response, "200 OK", path.encode() * 3)
        if path == "/log/flaky":
            if hit <= self.failures_before_success.get(path, 0):
                return self._answer(start_response, "503 Service Unavailable", b"busy\n")
            return self._answer(start_response, "200 OK", b"finally\n")
        if path == "/log/always-500":
            return self._answer(start_response, "500 Internal Server Error", b"broken\n")
        if path == "/log/forbidden":
            return self._answer(start_response, "403 Forbidden", b"no\n")
        if path == "/log/redirect":
            headers = [("Location", "http://127.0.0.1:1/"), ("Content-Length", "0")]
            start_response("302 Found", headers)
            return [b""]
        if path == "/log/big":
            return self._answer(start_response, "200 OK", b"x" * 100_000)
        if path == "/log/big-chunked":
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return (b"y" * 10_000 for _ in range(10))
        if path == "/log/gzip-bomb":
            body = gzip.compress(b"\x00" * 1_000_000)
            start_response(
                "200 OK", [("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if path == "/log/slow":
            time.sleep(1.5)
            return self._answer(start_response, "200 OK", b"late\n")
        return self._answer(start_response, "404 Not Found", b"not found\n")

    @staticmethod
    def _answer(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
        start_response(status, [("Content-Length", str(len(body)))])
        return [body]


@contextmanager
def serving(app: Callable[..., Iterable[bytes]]) -> Iterator[str]:
    from waitress.server import create_server  # type: ignore[import-untyped]

    server = LogServer(create_server(app, host="127.0.0.1", port=0, threads=4))
    with serving_on_a_thread(server):
        yield f"http://127.0.0.1:{server.port}/log"


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[Scripted, str]]:
    app = Scripted()
    with serving(app) as url:
        yield app, url


def _fetcher(url: str, **kw: Any) -> tuple[HTTPFetcher, list[float]]:
    sleeps: list[float] = []
    return HTTPFetcher(url, sleep=sleeps.append, **kw), sleeps


# --- paths ---


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "/checkpoint",
        "tile/../checkpoint",
        "tile//0",
        ".hidden",
        "tile/0/.x",
        "tile\\0",
        "",
        "a" * 300,
        "tile/0/000 ",
    ],
)
def test_unsafe_paths_are_caller_mistakes(path: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a relative path"):
        validate_fetch_path(path)
    with pytest.raises(ValueError, match="not a relative path"):
        DirectoryFetcher(tmp_path).fetch(path)
    with pytest.raises(ValueError, match="not a relative path"):
        HTTPFetcher("http://127.0.0.1:1/").fetch(path)


def test_valid_paths_are_accepted() -> None:
    for path in ["checkpoint", "tile/0/x001/x234/067.p/8", "tile/entries/000"]:
        assert validate_fetch_path(path) == path


# --- directory ---


def test_directory_fetcher_reads_files(tmp_path: Path) -> None:
    (tmp_path / "tile" / "0").mkdir(parents=True)
    (tmp_path / "tile" / "0" / "000").write_bytes(b"abc")
    fetcher = DirectoryFetcher(tmp_path)
    assert fetcher.fetch("tile/0/000") == b"abc"
    assert fetch_all(fetcher, ["tile/0/000", "tile/0/000"]) == [b"abc", b"abc"]


def test_directory_fetcher_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist") as e:
        DirectoryFetcher(tmp_path).fetch("checkpoint")
    assert e.value.path == "checkpoint"
    assert isinstance(e.value, OSError)


def test_directory_fetcher_directory_is_a_fetch_error(tmp_path: Path) -> None:
    (tmp_path / "tile").mkdir()
    with pytest.raises(FetchError, match="cannot read") as e:
        DirectoryFetcher(tmp_path).fetch("tile")
    assert not isinstance(e.value, NotFoundError)


def test_directory_fetcher_caps_size(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").write_bytes(b"x" * 11)
    fetcher = DirectoryFetcher(tmp_path, max_bytes=10)
    with pytest.raises(ResponseTooLargeError, match="larger than 10 bytes"):
        fetcher.fetch("checkpoint")
    with pytest.raises(ResponseTooLargeError, match="larger than 5 bytes"):
        DirectoryFetcher(tmp_path).fetch("checkpoint", max_bytes=5)
    assert DirectoryFetcher(tmp_path).fetch("checkpoint", max_bytes=11) == b"x" * 11


# --- HTTP ---


def test_http_fetch_and_fetch_many(scripted: tuple[Scripted, str]) -> None:
    _, url = scripted
    fetcher, _ = _fetcher(url)
    with fetcher:
        assert fetcher.fetch("checkpoint") == b"checkpoint bytes\n"
        paths = [f"tile/0/{i:03d}" for i in range(12)]
        got = fetch_all(fetcher, paths)
        assert got == [f"/log/{p}".encode() * 3 for p in paths]


def test_http_404_is_not_found_and_not_retried(scripted: tuple[Scripted, str]) -> None:
    app, url = scripted
    fetcher, sleeps = _fetcher(url)
    with pytest.raises(NotFoundError, match="does not exist"):
        fetcher.fetch("tile/entries/999")
    assert app.hits["/log/tile/entries/999"] == 1
    assert sleeps == []


def test_http_other_4xx_is_a_fetch_error_not_retried(scripted: tuple[Scripted, str]) -> None:
    app, url = scripted
    fetcher, sleeps = _fetcher(url)
    with pytest.raises(FetchError, match="HTTP 403") as e:
        fetcher.fetch("forbidden")
    assert not isinstance(e.value, NotFoundError)
    assert app.hits["/log/forbidden"] == 1
    assert sleeps == []


def test_http_5xx_is_retried_with_backoff(scripted: tuple[Scripted, str]) -> None:
    app, url = scripted
    app.failures_before_success["/log/flaky"] = 2
    fetcher, sleeps = _fetcher(url, retries=3)
    assert fetcher.fetch("flaky") == b"finally\n"
    assert app.hits["/log/flaky"] == 3
    assert sleeps == [0.1, 0.2]


def test_http_retries_are_bounded(scripted: tuple[Scripted, str]) -> None:
    app, url = scripted
    fetcher, sleeps = _fetcher(url, retries=2)
    with pytest.raises(FetchError, match=r"after 3 attempt\(s\): HTTP 500"):
        fetcher.fetch("always-500")
    assert app.hits["/log/always-500"] == 3
    assert len(sleeps) == 2


def test_http_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fetcher, sleeps = _fetcher(f"http://127.0.0.1:{port}", retries=1, timeout=2)
    with pytest.raises(FetchError) as caught:
        fetcher.fetch("checkpoint")
    # One short line: not urllib3's "_HTTPPool(host=...): Max retries exceeded ..." (issue 13).
    assert str(caught.value).endswith(
        f"GET http://127.0.0.1:{port}/checkpoint failed after 2 attempt(s): connection refused"
    )
    assert sleeps == [0.1]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (socket.gaierror(-2, "Name or service not known"),
         "host name not resolved (Name or service not known)"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (OSError(113, "No route to host"), "host unreachable"),
        (TimeoutError("timed out"), "timed out"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS error"),
        (requests.ConnectionError("x" * 500), "x" * 197 + "..."),
    ],
)  # fmt: skip
def test_short_reason_names_the_cause_under_urllib3s_chain(error: OSError, reason: str) -> None:
    from transparency_log.http_deadline import short_reason

    pool: Any = None  # urllib3 names the pool; only the chain matters here
    wrapped = requests.ConnectionError(urllib3.exceptions.MaxRetryError(pool, "/", error))
    assert short_reason(wrapped if not isinstance(error, requests.ConnectionError) else error
                        ).startswith(reason)  # fmt: skip


def test_http_timeout(scripted: tuple[Scripted, str]) -> None:
    _, url = scripted
    fetcher, _ = _fetcher(url, retries=0, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetcher.fetch("slow")
    assert time.monotonic() - started < 1.4


def test_http_redirect_is_not_followed(scripted: tuple[Scripted, str]) -> None:
    _, url = scripted
    fetcher, _ = _fetcher(url)
    with pytest.raises(FetchError, match="HTTP 302"):
        fetcher.fetch("redirect")


@pytest.mark.parametrize("path", ["big", "big-chunked"])
def test_http_oversized_answer_is_rejected(scripted: tuple[Scripted, str], path: str) -> None:
    _, url = scripted
    fetcher, sleeps = _fetcher(url, max_bytes=50_000)
    with pytest.raises(ResponseTooLargeError, match="larger than 50000 bytes"):
        fetcher.fetch(path)
    with pytest.raises(ResponseTooLargeError, match="larger than 8192 bytes"):
        _fetcher(url)[0].fetch(path, max_bytes=8192)
    assert sleeps == []


def test_http_gzip_bomb_is_capped_on_decoded_bytes(scripted: tuple[Scripted, str]) -> None:
    _, url = scripted
    fetcher, _ = _fetcher(url, max_bytes=100_000)
    with pytest.raises(ResponseTooLargeError):
        fetcher.fetch("gzip-bomb")


def test_http_fetcher_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="http"):
        HTTPFetcher("ftp://example.com/")
    with pytest.raises(ValueError, match="retries"):
        HTTPFetcher("http://example.com/", retries=-1)
    with pytest.raises(ValueError, match="timeout"):
        HTTPFetcher("http://example.com/", timeout=0)


# --- one deadline for the whole answer (SPEC §11) ---


@pytest.mark.parametrize("mode", trickle.MODES)
def test_http_trickling_server_is_cut_at_the_deadline(mode: str) -> None:
    # One byte every 50 ms: each read succeeds, only a deadline for the whole answer ends
    # it. Two attempts of 0.5 s each, plus the (recorded, not slept) backoff.
    with trickle.trickling_server(mode) as url:
        fetcher, sleeps = _fetcher(url, retries=1, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"after 2 attempt\(s\): timed out: .* 0\.5 s"):
            fetcher.fetch("checkpoint")
        elapsed = time.monotonic() - started
        fetcher.close()
    assert sleeps == [0.1]
    assert 1.0 <= elapsed < 2.0, elapsed


def test_https_trickling_handshake_is_cut_at_the_deadline() -> None:
    # The deadline covers the TLS handshake too: CPython bounds a handshake as a whole by the
    # socket's timeout, which is the connect timeout, the budget left.
    with trickle.trickling_server("tls") as url:
        fetcher, _ = _fetcher(url.replace("http://", "https://"), retries=0, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            fetcher.fetch("checkpoint")
        elapsed = time.monotonic() - started
        fetcher.close()
    assert elapsed < 1.5, elapsed


def test_http_fetch_many_is_bounded_as_a_whole() -> None:
    # Twenty trickling tiles, eight at a time: the first failure ends the batch once the
    # requests already running end (one deadline), and the rest are never started.
    with trickle.trickling_server("body") as url:
        fetcher, _ = _fetcher(url, retries=0, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            fetcher.fetch_many([f"tile/0/{i:03d}" for i in range(20)])
        elapsed = time.monotonic() - started
        fetcher.close()
    assert elapsed < 1.5, elapsed


def test_a_hanging_name_lookup_is_cut_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # A resolver that never answers (a network that drops DNS): getaddrinfo blocks beyond any
    # socket timeout. The one stand-in in this file: no loopback test can make the system's
    # resolver hang, so the lookup of one reserved name waits on an event instead.
    real_getaddrinfo = socket.getaddrinfo
    release = threading.Event()

    def hanging(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hangs.invalid":
            release.wait(10.0)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    fetcher, _ = _fetcher("http://hangs.invalid:9/", retries=0, timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match=r"timed out: no complete answer within 0\.5 s"):
            fetcher.fetch("checkpoint")
    finally:
        release.set()
        fetcher.close()
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 1.5, elapsed


def test_a_name_is_looked_up_and_each_address_tried(scripted: tuple[Scripted, str]) -> None:
    # The bounded lookup resolves a real name ("localhost" may give ::1 first, where nothing
    # listens: the next address is tried, as urllib3 does).
    _, url = scripted
    fetcher, _ = _fetcher(url.replace("127.0.0.1", "localhost"))
    with fetcher:
        assert fetcher.fetch("checkpoint") == b"checkpoint bytes\n"


def test_an_unknown_name_is_a_fetch_error_not_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolver's "no such name" (stood in for: the test machine may have no resolver).
    def unknown(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    fetcher, _ = _fetcher("http://no-such-host.invalid/", retries=0, timeout=5.0)
    with fetcher, pytest.raises(FetchError, match=r"no-such-host\.invalid") as e:
        fetcher.fetch("checkpoint")
    assert "timed out" not in str(e.value)
