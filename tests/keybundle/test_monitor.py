"""The auditor (SPEC §8.1-§8.3) against real logs served over HTTP on 127.0.0.1.

Each log is written by the real appender (without admission, so that tests can log what an
admitting log would refuse) into a tile directory, and served by a small static WSGI app on
waitress that can switch directories (a fork) and inject bad answers. The monitor reads it
with the real HTTPFetcher.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from waitress.server import create_server  # type: ignore[import-untyped]

from keybundle.evidence import verify_evidence
from keybundle.monitor import (
    CorruptStateError,
    Event,
    Monitor,
    MonitorLockedError,
    ProcessJudge,
    StateDir,
    Status,
    parse_allow_list,
)
from keybundle.payload import FleetKey
from tests.keybundle.world import DEFAULT_FLEET, LOG_ORIGIN, World, fleet_keys, seed
from transparency_log import note
from transparency_log.appender import Log
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.fetcher import HTTPFetcher
from transparency_log.server import LogServer
from transparency_log.storage import DirectoryTileStore
from transparency_log.witness import cosign_checkpoint

pytestmark = pytest.mark.timeout(60)

FLEET = DEFAULT_FLEET


# --- a log on disk ---------------------------------------------------------------------------


def cosign(root: Path, world: World, *, at: int | None = None, witnesses: Sequence[Any] | None = None) -> None:
    """Add the world's witnesses' cosignatures to the log's published checkpoint."""
    path = root / "checkpoint"
    data = path.read_bytes()
    text = data.split(b"\n\n", 1)[0] + b"\n"
    lines = "".join(
        cosign_checkpoint(text, w, world.now if at is None else at)
        for w in (world.witnesses if witnesses is None else witnesses)
    )
    path.write_bytes(data + lines.encode())


def append(root: Path, world: World, entries: Sequence[bytes], *, cosigned: bool = True) -> None:
    """Append ``entries`` to the log in ``root`` (created if new), then cosign its checkpoint."""
    with Log.open(
        DirectoryTileStore(root, fsync=False),
        root / ".state",
        origin=LOG_ORIGIN,
        signer=world.log_signer,
        verifier=world.log_signer.verifier(),
        fsync=False,
    ) as log:
        if entries:
            log.add_many(list(entries))
    if cosigned:
        cosign(root, world)


def history(world: World, fleet: str = FLEET, epochs: int = 3) -> list[bytes]:
    """Epochs 1..``epochs`` of ``fleet``, each chained to the previous (world.publish keeps
    the digests for ``previous='auto'``)."""
    return [world.publish(fleet, e)[0] for e in range(1, epochs + 1)]


# --- a static server -------------------------------------------------------------------------


@dataclass
class StaticLog:
    """Serves ``root`` (switchable) on 127.0.0.1; ``overrides`` answer some paths instead."""

    root: Path
    overrides: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"].lstrip("/")
        self.requests.append(path)
        if path in self.overrides:
            status, body = self.overrides[path]
        else:
            file = self.root / path
            if ".." in path or not file.is_file():
                status, body = 404, b"not found\n"
            else:
                status, body = 200, file.read_bytes()
        reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}.get(status, "X")
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
        )
        return [body]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[StaticLog]:
    static = StaticLog(tmp_path / "log")
    static.root.mkdir()
    server = LogServer(create_server(static.app, host="127.0.0.1", port=0, threads=4))
    static.url = f"http://127.0.0.1:{server.port}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield static
    finally:
        server.close()
        thread.join(timeout=5)


@dataclass
class Run:
    status: Status
    events: list[Event]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e["event"] == kind]


def monitor_pass(
    served: StaticLog,
    world: World,
    state: Path,
    *,
    allow: frozenset[str] | None = None,
    now: int | None = None,
    **options: Any,
) -> Run:
    """One pass of a fresh Monitor over the served log (as ``keybundle monitor --once``)."""
    events: list[Event] = []
    directory = StateDir(state, fsync=False)
    directory.lock()
    try:
        with HTTPFetcher(served.url, timeout=5, retries=0) as fetcher:
            monitor = Monitor(
                fetcher, world.signed_root, directory, emit=events.append, allow_keys=allow,
                **options,
            )  # fmt: skip
            status = monitor.run_pass(world.now if now is None else now)
    finally:
        directory.unlock()
    json.dumps(events)  # every event is JSON
    return Run(status, events)


def only_evidence(run: Run) -> Path:
    (found,) = run.of("misbehaviour")
    assert found["evidence"] is not None
    return Path(found["evidence"])


# --- following a clean log ---------------------------------------------------------------------


def test_clean_follow_with_growth_between_passes(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=2))
    state = tmp_path / "state"

    first = monitor_pass(served, world, state)
    assert first.status == Status.CLEAN
    assert [(e["fleet"], e["epoch"]) for e in first.of("epoch")] == [(FLEET, 1), (FLEET, 2)]
    assert first.of("pass")[0]["verified_size"] == 2

    append(served.root, world, [world.publish(FLEET, 3)[0], world.publish("other.fleet", 1)[0]])
    served.requests.clear()
    second = monitor_pass(served, world, state)
    assert second.status == Status.CLEAN
    assert [(e["fleet"], e["epoch"]) for e in second.of("epoch")] == [(FLEET, 3), ("other.fleet", 1)]
    assert second.of("pass")[0]["verified_size"] == 4
    # Only the new bundle was downloaded (a partial one), never the old entries again.
    assert [p for p in served.requests if p.startswith("tile/entries")] == ["tile/entries/000.p/4"]

    third = monitor_pass(served, world, state)
    assert third.status == Status.CLEAN
    assert third.of("epoch") == []
