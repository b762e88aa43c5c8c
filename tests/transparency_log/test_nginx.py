"""The log behind a real nginx: deploy/nginx/keybundle-log.conf serving the tile directory.

nginx (the Debian package) is started by the test on 127.0.0.1 with its own prefix and a
configuration generated from the deployed file (only its "site:" lines are rewritten). It
serves the read paths straight from the tile directory and proxies POST /add to the WSGI
app on waitress. An HTTPFetcher pointed at nginx then builds and verifies inclusion and
consistency proofs after several rounds of appends.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from transparency_log import note
from transparency_log.appender import Log
from transparency_log.checkpoint import VerifiedCheckpoint
from transparency_log.fetcher import HTTPFetcher, NotFoundError
from transparency_log.merkle import leaf_hash
from transparency_log.proof import verify_consistency
from transparency_log.server import LogService, make_log_server
from transparency_log.storage import DirectoryTileStore
from transparency_log.tile import EntryBundle, Tile
from transparency_log.tlog_client import LogClient
from transparency_log.tlog_proof import parse_tlog_proof, verify_tlog_proof

from .serving import serving_on_a_thread

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
SITE_CONF = REPO / "deploy" / "nginx" / "keybundle-log.conf"
ORIGIN = "example.com/nginx-log"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x42" * 32)
VERIFIER = SIGNER.verifier()


def _nginx_binary() -> str:
    """The nginx binary; installed with apt-get if missing and possible, else the test skips."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx-light"],
                check=False,
                capture_output=True,
                timeout=300,
                env=env,
            )
        found = shutil.which("nginx") or (
            "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
        )
        if found:
            return found
    pytest.skip("nginx is not installed and could not be installed (apt-get install nginx-light)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


_TILE_LOCATION = re.compile(r'^    location ~ "\^/tile/.*?^    }\n', re.MULTILINE | re.DOTALL)


def tiles_via_app(text: str) -> str:
    """The config with its two /tile/ locations replaced by the commented-out alternative
    (the known limitation's remedy: the application serves the tiles)."""
    commented = re.search(r"^#     location \^~ /tile/ \{\n(?:#     .*\n)*?#     }\n", text, re.M)
    assert commented is not None, "the config no longer proposes a /tile/ location for the app"
    block = "".join("    " + line[6:] + "\n" for line in commented.group(0).splitlines())
    text, count = _TILE_LOCATION.subn("", text)
    assert count == 2, "the config no longer has two /tile/ locations"
    return text.replace("    location = /add {", block + "\n    location = /add {", 1)


def site_config(listen_port: int, root: Path, app_port: int, *, app_tiles: bool = False) -> str:
    """deploy/nginx/keybundle-log.conf with its three "site:" lines rewritten."""
    text = SITE_CONF.read_text(encoding="utf-8")
    if app_tiles:
        text = tiles_via_app(text)
    replacements = {
        r"server 127\.0\.0\.1:8080;  # site:": f"server 127.0.0.1:{app_port};  # site:",
        r"listen 80;  # site:": f"listen 127.0.0.1:{listen_port};  # site:",
        r"root /var/lib/keybundle/log;  # site:": f"root {root};  # site:",
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"the deployed config no longer has the line {pattern!r}"
    return text


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    port: int
    prefix: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _start_nginx(
    binary: str, prefix: Path, root: Path, app_port: int, *, app_tiles: bool = False
) -> Nginx:
    return start_nginx_site(
        binary, prefix, lambda port: site_config(port, root, app_port, app_tiles=app_tiles)
    )


def start_nginx_site(binary: str, prefix: Path, site: Callable[[int], str]) -> Nginx:
    """nginx with its own prefix, serving ``site(port)`` on a free port of 127.0.0.1."""
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(3):  # the free port may be taken between probing and binding
        port = _free_port()
        (prefix / "site.conf").write_text(site(port), encoding="utf-8")
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\n"
            f"error_log {prefix}/error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "    access_log off;\n"
            f"    client_body_temp_path {prefix}/body;\n"
            f"    proxy_temp_path {prefix}/proxy;\n"
            f"    fastcgi_temp_path {prefix}/fastcgi;\n"
            f"    uwsgi_temp_path {prefix}/uwsgi;\n"
            f"    scgi_temp_path {prefix}/scgi;\n"
            f"    include {prefix}/site.conf;\n"
            "}\n",
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [
                binary,
                "-p",
                str(prefix),
                "-c",
                str(prefix / "nginx.conf"),
                "-g",
                f"daemon off; pid {prefix}/nginx.pid;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        nginx = Nginx(process, port, prefix)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return nginx
            except OSError:
                time.sleep(0.05)
        _stop(nginx)
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        last_error = stderr + nginx.error_log()
    raise AssertionError(f"nginx did not start: {last_error}")


def _stop(nginx: Nginx) -> None:
    if nginx.process.poll() is None:
        nginx.process.send_signal(signal.SIGQUIT)
        try:
            nginx.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.process.kill()
            nginx.process.wait(timeout=10)


@dataclass
class Deployment:
    log: Log
    nginx: Nginx
    root: Path


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with _deployment(tmp_path, app_tiles=False) as deployed:
        yield deployed


@pytest.fixture
def app_tiles_deployment(tmp_path: Path) -> Iterator[Deployment]:
    """nginx with the configuration's alternative: the /tile/ paths go to the application."""
    with _deployment(tmp_path, app_tiles=True) as deployed:
        yield deployed


@contextlib.contextmanager
def _deployment(tmp_path: Path, *, app_tiles: bool) -> Iterator[Deployment]:
    binary = _nginx_binary()
    root = tmp_path / "log"
    log = Log.open(
        DirectoryTileStore(root, fsync=False),
        root / ".state",
        origin=ORIGIN,
        signer=SIGNER,
        verifier=VERIFIER,
        fsync=False,
        batch_max_age=0.02,
    )
    try:
        with serving_on_a_thread(
            make_log_server(LogService(log, VERIFIER, ORIGIN), threads=8)
        ) as app:
            nginx = _start_nginx(binary, tmp_path / "nginx", root, app.port, app_tiles=app_tiles)
            try:
                yield Deployment(log, nginx, root)
            finally:
                _stop(nginx)
    finally:
        log.close()


def _entry(round_: int, i: int) -> bytes:
    return b"nginx round %d entry %d " % (round_, i) + bytes(i % 7) * 40


def test_proofs_through_nginx_after_several_appends(deployment: Deployment) -> None:
    url = deployment.nginx.url
    fetcher = HTTPFetcher(url, timeout=10, retries=1)
    client = LogClient(fetcher, VERIFIER, origin=ORIGIN)
    previous: VerifiedCheckpoint | None = None
    added: dict[int, bytes] = {}
    with requests.Session() as session, fetcher:
        for round_, count in enumerate([1, 5, 250, 300, 3]):
            # A few submissions through nginx's /add proxy, the rest straight to the log.
            for i in range(min(count, 3)):
                entry = _entry(round_, i)
                response = session.post(f"{url}/add", data=entry, timeout=30)
                assert response.status_code == 200, response.text
                proof = parse_tlog_proof(response.content)
                verify_tlog_proof(proof, leaf_hash(entry), VERIFIER, origin=ORIGIN)
                added[proof.index] = entry
            bulk = [_entry(round_, i) for i in range(3, count)]
            for index, entry in zip(deployment.log.add_many(bulk), bulk, strict=True):
                added[index] = entry

            checkpoint = client.fetch_checkpoint(previous=previous)
            size = checkpoint.checkpoint.size
            assert size == len(added)
            for index in sorted({0, size // 3, size - 1}):
                proof = client.inclusion_proof(index, checkpoint)
                verify_tlog_proof(proof, leaf_hash(added[index]), VERIFIER, origin=ORIGIN)
                assert client.entry(index, checkpoint).data == added[index]
            if previous is not None and previous.checkpoint.size:
                old = previous.checkpoint
                hashes = client.consistency_proof(old.size, checkpoint)
                verify_consistency(
                    old.size, size, hashes, old.root_hash, checkpoint.checkpoint.root_hash
                )
            previous = checkpoint
        assert previous is not None
        entries = [e.data for e in client.entries(0, len(added), previous)]
        assert entries == [added[i] for i in range(len(added))]


def test_nginx_serves_tlog_tiles_headers_and_nothing_else(deployment: Deployment) -> None:
    deployment.log.add_many([_entry(9, i) for i in range(300)])
    url = deployment.nginx.url
    with requests.Session() as session:
        r = session.get(f"{url}/checkpoint", timeout=10)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert r.headers["Cache-Control"] == "public, max-age=5"
        assert "ETag" not in r.headers
        assert r.content == (deployment.root / "checkpoint").read_bytes()
        # Revalidation never answers "not modified": validators have 1-second granularity.
        modified = r.headers.get("Last-Modified", "Thu, 01 Jan 2099 00:00:00 GMT")
        r = session.get(f"{url}/checkpoint", headers={"If-Modified-Since": modified}, timeout=10)
        assert r.status_code == 200

        for path in (Tile(0, 0).path(), Tile(0, 1, 44).path(), Tile(1, 0, 1).path()):
            r = session.get(f"{url}/{path}", timeout=10)
            assert r.status_code == 200, path
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert r.content == (deployment.root / path).read_bytes()

        bundle = EntryBundle(0).path()
        r = session.get(f"{url}/{bundle}", headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert r.status_code == 200
        assert r.headers.get("Content-Encoding") == "gzip"
        assert r.content == (deployment.root / bundle).read_bytes()

        for path in (
            "/.state/lock",
            "/.state/index.sqlite3",
            "/.checkpoint.tmp",
            "/tile/0/000.p/0",
            "/tile/0/0",
            "/tile/64/000",
            "/tile/0/002",
            "/",
            "/tile/",
        ):
            r = session.get(url + path, timeout=10, allow_redirects=False)
            assert r.status_code == 404, path
        r = session.post(f"{url}/checkpoint", data=b"x", timeout=10)
        assert r.status_code in (403, 405)
        r = session.get(f"{url}/add", timeout=10)
        assert r.status_code in (403, 405)


def test_http_fetcher_reports_missing_tiles_as_not_found(deployment: Deployment) -> None:
    with HTTPFetcher(deployment.nginx.url, retries=0) as fetcher, pytest.raises(NotFoundError):
        fetcher.fetch(Tile(0, 5).path())


def test_oversized_submission_is_refused_by_nginx(deployment: Deployment) -> None:
    before = (deployment.root / "checkpoint").read_bytes()
    r = requests.post(f"{deployment.nginx.url}/add", data=b"x" * 70_000, timeout=10)
    assert r.status_code == 413
    assert (deployment.root / "checkpoint").read_bytes() == before


def _leave_garbage_beyond(root: Path) -> str:
    """A file an interrupted integration could leave beyond a log of 300 entries."""
    path = Tile(0, 1, 50).path()
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(b"\xee" * 32 * 50)
    return path


def test_nginx_serves_a_file_beyond_the_published_size_a_known_limitation(
    deployment: Deployment,
) -> None:
    """SPEC §6.5.1: nginx cannot compare a path with the checkpoint's size."""
    deployment.log.add_many([_entry(7, i) for i in range(300)])
    path = _leave_garbage_beyond(deployment.root)
    r = requests.get(f"{deployment.nginx.url}/{path}", timeout=10)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_tiles_through_the_app_behind_nginx_are_404_beyond_the_published_size(
    app_tiles_deployment: Deployment,
) -> None:
    """The remedy the configuration proposes in a comment, run as written there."""
    deployment = app_tiles_deployment
    deployment.log.add_many([_entry(8, i) for i in range(300)])
    path = _leave_garbage_beyond(deployment.root)
    url = deployment.nginx.url
    with requests.Session() as session:
        r = session.get(f"{url}/{path}", timeout=10)
        assert (r.status_code, r.headers["Cache-Control"]) == (404, "no-store")
        for published in (Tile(0, 0).path(), Tile(0, 1, 44).path(), EntryBundle(1, 44).path()):
            r = session.get(f"{url}/{published}", timeout=10)
            assert r.status_code == 200, published
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert r.content == (deployment.root / published).read_bytes()
        assert session.post(f"{url}/{Tile(0, 0).path()}", data=b"x", timeout=10).status_code in (
            403,
            405,
        )
