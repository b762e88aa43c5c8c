"""transparency_log.observe (OPS §6.6): /healthz, /metrics and the structured log records of
a real log and a real witness served on 127.0.0.1."""

from __future__ import annotations

import io
import json
import logging
import math
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import generate_latest

from transparency_log import note, observe
from transparency_log.appender import Log
from transparency_log.server import CosigningTileStore, LogService, make_log_server
from transparency_log.storage import DirectoryTileStore
from transparency_log.witness import Witness, make_witness_server
from transparency_log.witness_client import WitnessEndpoint

from .serving import serving_on_a_thread
from .witnesses import NOW, FakeLog, MemoryStateStore, witness_signer

pytestmark = pytest.mark.timeout(60)

ORIGIN = "example.com/observed-log"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x44" * 32)


@pytest.fixture
def records() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = observe.configure_logging(stream, as_json=True)
    try:
        yield stream
    finally:
        for name in ("keybundle", "transparency_log"):
            logging.getLogger(name).removeHandler(handler)


def events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name} in\n{text}")


def test_the_log_reports_health_metrics_and_each_append(
    tmp_path: Path, records: io.StringIO
) -> None:
    root = tmp_path / "log"
    log = Log.open(DirectoryTileStore(root, fsync=False), root / ".state", origin=ORIGIN,
                   signer=SIGNER, verifier=SIGNER.verifier(), fsync=False,
                   batch_max_age=0.01)  # fmt: skip
    try:
        metrics = observe.LogMetrics(root)
        server = make_log_server(
            LogService(log, SIGNER.verifier(), ORIGIN), threads=2,
            wrap=lambda app: observe.instrument(app, metrics, observe.checkpoint_health(root)),
        )  # fmt: skip
        with serving_on_a_thread(server):
            url = f"http://127.0.0.1:{server.port}"
            assert requests.get(f"{url}/healthz", timeout=5).text == "ok size 0\n"
            added = requests.post(f"{url}/add", data=b"an entry", timeout=10)
            assert added.status_code == 200
            refused = requests.post(f"{url}/add", data=b"", timeout=10)
            assert refused.status_code == 400
            tile = requests.get(f"{url}/tile/entries/000.p/1", timeout=5)
            assert tile.status_code == 200
            health = requests.get(f"{url}/healthz", timeout=5)
            assert (health.status_code, health.text) == (200, "ok size 1\n")
            scraped = requests.get(f"{url}/metrics", timeout=5)
    finally:
        log.close()
    assert scraped.headers["Content-Type"].startswith("text/plain; version=")
    text = scraped.text
    assert metric(text, "keybundle_log_appends_total") == 1
    assert metric(text, 'keybundle_log_refusals_total{code="400"}') == 1
    assert metric(text, "keybundle_log_tile_bytes_served_total") == len(tile.content)
    assert metric(text, "keybundle_log_size") == 1
    assert 0 <= metric(text, "keybundle_log_checkpoint_age_seconds") < 60
    assert "keybundle_log_cosignature_age_seconds NaN" in text  # no witness
    assert 'keybundle_http_request_seconds_count{route="/add",service="log"} 2.0' in text
    logged = events(records)
    (append,) = [e for e in logged if e.get("event") == "append"]
    assert append["index"] == 0
    assert append["level"] == "info"
    assert str(append["time"]).endswith("Z")
    (refusal,) = [e for e in logged if e.get("event") == "refusal"]
    assert refusal["code"] == 400
    assert "empty" in str(refusal["reason"])


def test_the_witness_reports_each_cosignature_and_refusal(records: io.StringIO) -> None:
    log = FakeLog()
    store = MemoryStateStore()
    witness = Witness(witness_signer("witness.example/w9"), {log.origin: log.verifier}, store,
                      now=lambda: NOW)  # fmt: skip
    metrics = observe.WitnessMetrics()
    server = make_witness_server(
        witness, threads=2,
        wrap=lambda app: observe.instrument(app, metrics, lambda: (True, "witness")),
    )  # fmt: skip
    with serving_on_a_thread(server):
        url = f"http://127.0.0.1:{server.port}"
        ok = requests.post(f"{url}/add-checkpoint", data=log.request(0, 5), timeout=5)
        assert ok.status_code == 200
        stale = requests.post(f"{url}/add-checkpoint", data=log.request(0, 6), timeout=5)
        assert stale.status_code == 409  # it holds size 5 now
        assert requests.get(f"{url}/healthz", timeout=5).text == "ok witness\n"
        text = requests.get(f"{url}/metrics", timeout=5).text
    assert metric(text, "keybundle_witness_cosignatures_total") == 1
    assert metric(text, 'keybundle_witness_refusals_total{code="409"}') == 1
    assert (
        'keybundle_http_request_seconds_count{route="/add-checkpoint",service="witness"} 2.0'
        in text
    )
    kinds = [e.get("event") for e in events(records)]
    assert kinds == ["cosignature", "refusal"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_each_cosigning_round_is_one_record_and_counted_per_witness(
    tmp_path: Path, records: io.StringIO
) -> None:
    """OPS §6.6: a publication round and a re-cosigning round, one witness up and one down."""
    up, down = witness_signer("witness.example/up"), witness_signer("witness.example/down")
    witness = Witness(up, {ORIGIN: SIGNER.verifier()}, MemoryStateStore(), now=lambda: NOW)
    root = tmp_path / "log"
    metrics = observe.LogMetrics(root)
    assert "keybundle_log_quorum_met NaN" in generate_latest(metrics.registry).decode()
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as server:
        store = CosigningTileStore(
            DirectoryTileStore(root, fsync=False), SIGNER.verifier(), ORIGIN,
            [WitnessEndpoint(f"http://127.0.0.1:{server.port}", up.verifier()),
             WitnessEndpoint(f"http://127.0.0.1:{_closed_port()}", down.verifier())],
            timeout=5, on_round=metrics.cosigning_round,
        )  # fmt: skip
        log = Log.open(store, root / ".state", origin=ORIGIN, signer=SIGNER,
                       verifier=SIGNER.verifier(), fsync=False)  # fmt: skip
        try:
            log.add(b"an entry")
            store.recosign(everyone=True)
        finally:
            log.close()
    rounds = [e for e in events(records) if e.get("event") == "cosigning_round"]
    # The empty log's checkpoint (Log.open), the entry's, then the re-cosigning.
    assert [(r["kind"], r["size"]) for r in rounds] == [
        ("publish", 0), ("publish", 1), ("recosign", 1)
    ]  # fmt: skip
    for r in rounds:
        assert r["level"] == "warning"  # a witness failed
        assert r["asked"] == [up.name, down.name]
        assert r["cosigned"] == [up.name]
        failed = r["failed"]
        assert isinstance(failed, dict)
        assert list(failed) == [down.name]
        assert "failed" in failed[down.name]  # why: the request failed (nothing listens)
        assert r["quorum_met"] is False  # without policies, every witness is the quorum
        assert r["outcome"] == "no_quorum"
        assert isinstance(r["ms"], float)
    text = generate_latest(metrics.registry).decode()
    latency = "keybundle_log_witness_request_seconds_count"
    failures = "keybundle_log_witness_failures_total"
    for name in (up.name, down.name):
        assert metric(text, f'{latency}{{witness="{name}"}}') == 3
    assert metric(text, f'{failures}{{witness="{down.name}"}}') == 3
    assert f'{failures}{{witness="{up.name}"}}' not in text
    rounds_total = "keybundle_log_cosigning_rounds_total"
    assert metric(text, f'{rounds_total}{{kind="publish",outcome="no_quorum"}}') == 2
    assert metric(text, f'{rounds_total}{{kind="recosign",outcome="no_quorum"}}') == 1
    assert metric(text, "keybundle_log_quorum_met") == 0


def test_a_round_that_meets_the_quorum_sets_the_gauge(tmp_path: Path, records: io.StringIO) -> None:
    up = witness_signer("witness.example/only")
    witness = Witness(up, {ORIGIN: SIGNER.verifier()}, MemoryStateStore(), now=lambda: NOW)
    root = tmp_path / "log"
    metrics = observe.LogMetrics(root)
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as server:
        store = CosigningTileStore(
            DirectoryTileStore(root, fsync=False), SIGNER.verifier(), ORIGIN,
            [WitnessEndpoint(f"http://127.0.0.1:{server.port}", up.verifier())],
            timeout=5, on_round=metrics.cosigning_round,
        )  # fmt: skip
        log = Log.open(store, root / ".state", origin=ORIGIN, signer=SIGNER,
                       verifier=SIGNER.verifier(), fsync=False)  # fmt: skip
        try:
            log.add(b"an entry")
        finally:
            log.close()
    (_, r) = [e for e in events(records) if e.get("event") == "cosigning_round"]
    assert (r["size"], r["level"], r["outcome"], r["quorum_met"]) == (1, "info", "complete", True)
    assert r["failed"] == {}
    text = generate_latest(metrics.registry).decode()
    rounds_total = "keybundle_log_cosigning_rounds_total"
    assert metric(text, f'{rounds_total}{{kind="publish",outcome="complete"}}') == 2
    assert metric(text, "keybundle_log_quorum_met") == 1


def test_a_log_without_a_good_checkpoint_is_unhealthy(tmp_path: Path) -> None:
    health = observe.checkpoint_health(tmp_path)
    assert health() == (False, "the checkpoint cannot be read")
    (tmp_path / "checkpoint").write_bytes(b"not a checkpoint\n\n")
    healthy, why = health()
    assert not healthy
    assert why.startswith("the checkpoint does not parse")
    nan = observe.LogMetrics(tmp_path)._scrape()
    assert all(math.isnan(v) for v in nan)  # nothing to report


def test_text_records_on_a_terminal_and_json_elsewhere() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    logger = logging.getLogger("transparency_log.test_observe")
    for stream in (tty, pipe):
        handler = observe.configure_logging(stream)
        try:
            logger.info("append", extra={"event": "append", "index": 7})
        finally:
            for name in ("keybundle", "transparency_log"):
                logging.getLogger(name).removeHandler(handler)
    assert tty.getvalue().rstrip().endswith("info    append  event=append index=7")
    line = json.loads(pipe.getvalue())
    assert (line["message"], line["event"], line["index"]) == ("append", "append", 7)
