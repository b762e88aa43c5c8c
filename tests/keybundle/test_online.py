"""Online consistency (SPEC §7.5): a missing consistency proof read from a log served over HTTP.

The world's log is written out as C2SP tlog-tiles (every published size leaves its partial
tiles behind, as a tlog-tiles writer does) and served by a stdlib HTTP server on 127.0.0.1.
The fetched proof must make :func:`verify_package` accept an honest package, and must never
make it accept a forked one.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from keybundle.client import MisbehaviourError, verify_package
from keybundle.online import LogUnreachableError, with_consistency
from keybundle.package import parse_unverified_package
from keybundle.state import ClientState, StateDir
from keybundle_cli.verify import _parse_canonical, build_parser, run
from tests.conftest import REPO
from tests.keybundle.world import LOG_ORIGIN, World, seed
from tests.transparency_log import trickle
from transparency_log import note
from transparency_log.errors import LogReason, VerificationError
from transparency_log.fetcher import DirectoryFetcher, HTTPFetcher
from transparency_log.tile import new_tiles, tile_data

pytestmark = pytest.mark.timeout(60)

FETCH_TIMEOUT = 5.0
"""Seconds one HTTP request of a test may take."""


class TileWriter:
    """Writes a world's log as tlog-tiles into ``root``, one published size at a time."""

    def __init__(self, world: World, root: Path) -> None:
        self.world = world
        self.root = root
        self.written = 0

    def publish(self) -> bytes:
        """Write the tiles of the world's current size and its checkpoint; return the note."""
        w = self.world
        for tile in new_tiles(self.written, w.size):
            path = self.root / tile.path()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tile_data(tile, w.store))
        self.written = w.size
        note = w.checkpoint()
        (self.root / "checkpoint").write_bytes(note)
        return note


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1; yield its base URL."""

    def handler(*args: object) -> _QuietHandler:
        return _QuietHandler(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class RefusingFetcher:
    """A fetcher that fails the test if anything is fetched."""

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        raise AssertionError(f"nothing should be fetched, but {path} was")


def http_fetcher(url: str) -> HTTPFetcher:
    return HTTPFetcher(url, timeout=FETCH_TIMEOUT, retries=0)


class Scenario:
    """A client that accepted a package at size S, and a package at size S + k without key 4."""

    def __init__(self, tmp_path: Path, *, k: int = 5) -> None:
        self.world = w = World()
        self.tiles = TileWriter(w, tmp_path / "log")
        signed, index = w.publish(epoch=1)
        w.append(b"another entry")
        first = w.package(signed, index, self.tiles.publish())
        self.state = verify_package(first, w.pinned, ClientState(), w.now).state
        self.old_size = w.size
        for i in range(k - 1):
            w.append(b"filler %d" % i)
        self.signed, self.index = w.publish(epoch=2)
        self.note = self.tiles.publish()
        self.package = w.package(self.signed, self.index, self.note)

    @property
    def log(self) -> Path:
        return self.tiles.root


def test_a_newer_package_without_a_proof_gets_one_and_is_accepted(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    with serve_directory(s.log) as url, http_fetcher(url) as fetcher:
        filled = with_consistency(s.package, s.state, s.world.pinned, fetcher)
    assert parse_unverified_package(s.package).consistency is None
    assert filled == s.world.package(s.signed, s.index, s.note, consistency_from=s.old_size)
    accepted = verify_package(filled, s.world.pinned, s.state, s.world.now)
    assert accepted.epoch == 2
    assert accepted.checkpoint.size == s.old_size + 5


def test_a_proof_across_many_tiles(tmp_path: Path) -> None:
    s = Scenario(tmp_path, k=700)
    filled = with_consistency(s.package, s.state, s.world.pinned, DirectoryFetcher(s.log))
    consistency = parse_unverified_package(filled).consistency
    assert consistency is not None
    assert consistency.old_size == 2
    assert verify_package(filled, s.world.pinned, s.state, s.world.now).epoch == 2


def test_a_forked_log_is_rejected_with_evidence(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    # The same log key signs another history, served consistently with its own checkpoint.
    fork = World()
    fork_tiles = TileWriter(fork, tmp_path / "fork")
    fork.append(b"the fork's own first entry")
    for i in range(4):
        fork.append(b"fork filler %d" % i)
    signed, index = fork.publish("other.fleet", 1)
    package = fork.package(signed, index, fork_tiles.publish())
    with serve_directory(fork_tiles.root) as url, http_fetcher(url) as fetcher:
        filled = with_consistency(package, s.state, fork.pinned, fetcher)
    assert parse_unverified_package(filled).consistency is not None
    with pytest.raises(MisbehaviourError) as e:
        verify_package(filled, fork.pinned, s.state, fork.now)
    assert e.value.reason == LogReason.BAD_CONSISTENCY_PROOF
    assert e.value.evidence["stored_checkpoint"] == s.state.checkpoint_note
    assert e.value.evidence["consistency_proof"]["old_size"] == s.old_size


def test_tiles_that_do_not_match_the_packages_checkpoint_are_rejected(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    other = World()
    other_tiles = TileWriter(other, tmp_path / "other")
    for i in range(s.world.size):
        other.append(b"other %d" % i)
    other_tiles.publish()
    with (
        serve_directory(other_tiles.root) as url,
        http_fetcher(url) as fetcher,
        pytest.raises(VerificationError) as e,
    ):
        with_consistency(s.package, s.state, s.world.pinned, fetcher)
    assert e.value.reason == LogReason.MALFORMED_TILE


def test_an_unreachable_log_is_a_clear_error(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    with (
        http_fetcher(f"http://127.0.0.1:{unused_port()}/") as fetcher,
        pytest.raises(LogUnreachableError) as e,
    ):
        with_consistency(s.package, s.state, s.world.pinned, fetcher)
    assert "could not reach the log to check consistency" in str(e.value)
    assert (e.value.old_size, e.value.new_size) == (s.old_size, s.old_size + 5)


@pytest.mark.parametrize("mode", trickle.MODES)
def test_a_trickling_log_is_unreachable_within_the_deadline(tmp_path: Path, mode: str) -> None:
    # One byte every 50 ms, forever: each request is cut at its deadline for the whole
    # answer (SPEC §6.5.4, §11), so the online check ends, unreachable, in one timeout.
    s = Scenario(tmp_path)
    with trickle.trickling_server(mode) as url:
        started = time.monotonic()
        with (
            HTTPFetcher(url, timeout=0.5, retries=0) as fetcher,
            pytest.raises(LogUnreachableError, match=r"timed out|larger than"),
        ):
            with_consistency(s.package, s.state, s.world.pinned, fetcher)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed


def test_a_log_that_lags_behind_the_package_is_unreachable(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    lagging = World()
    tiles = TileWriter(lagging, tmp_path / "lagging")
    lagging.append(b"one entry")
    tiles.publish()
    with pytest.raises(LogUnreachableError):
        with_consistency(s.package, s.state, s.world.pinned, DirectoryFetcher(tiles.root))


def test_a_package_that_carries_a_proof_from_the_stored_size_is_unchanged(
    tmp_path: Path,
) -> None:
    s = Scenario(tmp_path)
    package = s.world.package(s.signed, s.index, s.note, consistency_from=s.old_size)
    assert with_consistency(package, s.state, s.world.pinned, RefusingFetcher()) is package


def test_a_proof_from_another_size_is_replaced_by_one_from_the_stored_size(
    tmp_path: Path,
) -> None:
    # SPEC §7.5: a key 4 that does not start at the stored size does not fit this client
    # (SPEC §7.3 step 11 ignores it), so online mode fetches the one that does.
    s = Scenario(tmp_path)
    package = s.world.package(s.signed, s.index, s.note, consistency_from=1)
    filled = with_consistency(package, s.state, s.world.pinned, DirectoryFetcher(s.log))
    assert filled == s.world.package(s.signed, s.index, s.note, consistency_from=s.old_size)
    assert verify_package(filled, s.world.pinned, s.state, s.world.now).epoch == 2


def _cases(s: Scenario) -> dict[str, tuple[bytes, ClientState]]:
    w = s.world
    same_size = w.package(s.signed, s.index, s.note)
    state_at_new_size = verify_package(same_size, w.pinned, s.state, w.now).state
    impostor = note.Ed25519Signer(LOG_ORIGIN, seed("not the log"))
    forged = w.package(s.signed, s.index, w.checkpoint(log_signer=impostor))
    return {
        "fresh client (no stored checkpoint)": (s.package, ClientState()),
        "package at the stored size": (s.package, state_at_new_size),
        "malformed package": (s.package[:-1], s.state),
        "checkpoint not signed by the log": (forged, s.state),
    }


@pytest.mark.parametrize(
    "case",
    [
        "fresh client (no stored checkpoint)",
        "package at the stored size",
        "malformed package",
        "checkpoint not signed by the log",
    ],
)
def test_nothing_is_fetched_when_there_is_nothing_to_prove(tmp_path: Path, case: str) -> None:
    s = Scenario(tmp_path)
    package, state = _cases(s)[case]
    assert with_consistency(package, state, s.world.pinned, RefusingFetcher()) is package


def test_an_older_package_is_unchanged(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    w = s.world
    newer = verify_package(
        w.package(s.signed, s.index, s.note, consistency_from=s.old_size), w.pinned, s.state, w.now
    ).state
    old = w.package(s.signed, s.index, w.checkpoint(s.index + 1))
    assert with_consistency(old, newer, w.pinned, RefusingFetcher()) is old


def test_wrong_argument_types_are_type_errors(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    with pytest.raises(TypeError):
        with_consistency(bytearray(s.package), s.state, s.world.pinned, RefusingFetcher())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        with_consistency(s.package, s.state, s.world.pinned, object())  # type: ignore[arg-type]


# -- keybundle verify --log -------------------------------------------------------------------


def _cli(tmp_path: Path, s: Scenario, log: str, *extra: str) -> list[str]:
    root = tmp_path / "root.cbor"
    root.write_bytes(s.world.signed_root)
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    StateDir(state).save(s.state)
    package = tmp_path / "package.cbor"
    package.write_bytes(s.package)
    return [
        "--trust-root",
        str(root),
        "--state",
        str(state),
        "--now",
        str(s.world.now),
        "--log",
        log,
        *extra,
        str(package),
    ]


def test_cli_online_accepts_and_saves_the_newer_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Scenario(tmp_path)
    with serve_directory(s.log) as url:
        assert run(_cli(tmp_path, s, url, "--json")) == 0
    assert json.loads(capsys.readouterr().out)["result"]["epoch"] == 2
    saved = StateDir(tmp_path / "state").load()
    assert saved.checkpoint_note == s.note


def test_cli_online_with_a_log_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Scenario(tmp_path)
    assert run(_cli(tmp_path, s, str(s.log))) == 0
    assert "accepted fleet" in capsys.readouterr().out


def test_cli_online_rejects_a_forked_log_and_keeps_the_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Scenario(tmp_path)
    fork = World()
    fork_tiles = TileWriter(fork, tmp_path / "fork")
    for i in range(5):
        fork.append(b"fork %d" % i)
    signed, index = fork.publish("other.fleet", 1)
    s.package = fork.package(signed, index, fork_tiles.publish())
    argv = _cli(tmp_path, s, str(fork_tiles.root), "--json")
    before = (tmp_path / "state" / "state.cbor").read_bytes()
    assert run(argv) == 1
    assert json.loads(capsys.readouterr().out)["error"]["reason"] == "BAD_CONSISTENCY_PROOF"
    assert (tmp_path / "state" / "state.cbor").read_bytes() == before


def test_cli_unreachable_log_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Scenario(tmp_path)
    argv = _cli(tmp_path, s, f"http://127.0.0.1:{unused_port()}/", "--json")
    before = (tmp_path / "state" / "state.cbor").read_bytes()
    assert run(argv) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]  # with --json, the envelope is the whole answer
    assert "could not reach the log to check consistency" in error["message"]
    assert "Traceback" not in captured.err
    assert error["reason"] is None
    assert (tmp_path / "state" / "state.cbor").read_bytes() == before


def test_cli_log_that_is_neither_url_nor_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Scenario(tmp_path)
    assert run(_cli(tmp_path, s, str(tmp_path / "missing"))) == 2
    assert "neither a directory nor an http" in capsys.readouterr().err


def test_cli_log_option_reads_as_argparse_reads_it() -> None:
    argv = ["--trust-root", "r", "--state", "s", "--log", "http://x/", "p"]
    fast = _parse_canonical(argv)
    assert fast is not None
    assert fast.log == build_parser().parse_args(argv).log == "http://x/"
    assert _parse_canonical(["--trust-root", "r", "--state", "s", "p"]).log is None  # type: ignore[union-attr]


_CHILD = """
import json, sys
from keybundle_cli.verify import run
code = run(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_cli_without_log_imports_no_online_module(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    argv = _cli(tmp_path, s, "unused")
    i = argv.index("--log")
    del argv[i : i + 2]
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=60,
    )
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["code"] == 0
    loaded = set(result["modules"])
    assert not {"keybundle.online", "transparency_log.tlog_client", "transparency_log.fetcher"} & (
        loaded
    )
