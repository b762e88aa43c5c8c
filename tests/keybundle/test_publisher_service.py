"""The package publisher as a service (OPS §7.7, §6.6): one record per pass, its metrics,
and ``/healthz`` judging the last success and the published checkpoint's freshness."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from keybundle.errors import VerificationError
from keybundle.publisher import Publisher, log_client_for
from keybundle.publisher_service import PublisherStatus
from tests.keybundle.fleetlog import FleetLog
from transparency_log import note, observe
from transparency_log.checkpoint import Checkpoint
from transparency_log.errors import LogReason

pytestmark = pytest.mark.timeout(60)

INTERVAL = 10.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def records() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    levels = {n: logging.getLogger(n).level for n in ("keybundle", "transparency_log")}
    handler = observe.configure_logging(stream, as_json=True, level=logging.DEBUG)
    try:
        yield stream
    finally:
        for name, level in levels.items():
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(level)


def events(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in lines if e["logger"] == "keybundle.publisher_service"]


def metric(status: PublisherStatus, name: str) -> float:
    for line in generate_latest(status.metrics.registry).decode().splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


@pytest.fixture
def fl(tmp_path: Path) -> FleetLog:
    fl = FleetLog(tmp_path / "log")
    for fleet in ("a.vault", "b.vault"):
        fl.add_bundle(fleet)
    fl.rotate()
    fl.add_bundle("a.vault")
    fl.cosign()
    return fl


def status_of(fl: FleetLog, out: Path, clock: Clock) -> PublisherStatus:
    publisher = Publisher(
        log_client_for(fl.fetcher(), fl.roots[1]), fl.signed_roots[1], out,
        clock=clock, generation_grace=0,
    )  # fmt: skip
    return PublisherStatus(publisher, INTERVAL, clock=clock)


def test_each_pass_is_one_record_and_counted(
    fl: FleetLog, tmp_path: Path, records: io.StringIO
) -> None:
    clock = Clock(fl.world.now)
    status = status_of(fl, tmp_path / "out", clock)
    assert status.health() == (True, "starting: no pass has finished yet")
    status.report(status.publisher.publish())
    clock.now += INTERVAL
    status.report(status.publisher.publish())  # the same checkpoint note
    published, unchanged = events(records)
    assert published["event"] == "publish"
    assert published["level"] == "info"
    assert (published["size"], published["fleets"], published["new_entries"]) == (4, 2, 4)
    assert published["quorum_short"] == []
    assert published["rebuilt"] is True
    for key in ("ms", "build_ms", "write_ms"):
        assert isinstance(published[key], float)
    assert (unchanged["event"], unchanged["level"], unchanged["new_entries"]) == (
        "publish_unchanged", "debug", 0
    )  # fmt: skip
    assert metric(status, 'keybundle_publisher_passes_total{result="changed"}') == 1
    assert metric(status, 'keybundle_publisher_passes_total{result="unchanged"}') == 1
    assert metric(status, "keybundle_publisher_pass_seconds_count") == 2
    assert metric(status, "keybundle_publisher_fleets") == 2
    assert metric(status, "keybundle_publisher_checkpoint_size") == 4
    assert metric(status, "keybundle_publisher_last_publish_timestamp_seconds") == fl.world.now
    assert metric(status, "keybundle_publisher_last_success_timestamp_seconds") == clock.now
    assert metric(status, "keybundle_publisher_cosignature_age_seconds") == INTERVAL
    assert metric(status, "keybundle_publisher_quorum_short_versions") == 0
    assert status.health() == (True, "published 2 fleet(s) at checkpoint size 4")


def test_stale_cosignatures_make_the_publisher_unhealthy(fl: FleetLog, tmp_path: Path) -> None:
    """The log stopped re-cosigning: clients would reject every package (SPEC §7.3 step 4)."""
    clock = Clock(fl.world.now)
    status = status_of(fl, tmp_path / "out", clock)
    status.report(status.publisher.publish())
    clock.now += 2 * 86_400  # beyond max_cosignature_age, each pass still succeeding
    status.report(status.publisher.publish())
    healthy, why = status.health()
    assert not healthy
    assert why.startswith("clients of trust-root version(s) v1, v2 would not count a fresh")
    assert metric(status, "keybundle_publisher_quorum_short_versions") == 2
    fl.cosign(int(clock.now))  # the log re-cosigns: the next pass publishes it, healthy again
    status.report(status.publisher.publish())
    assert status.health()[0]


def test_failing_passes_make_the_publisher_unhealthy_after_the_stale_passes(
    fl: FleetLog, tmp_path: Path, records: io.StringIO
) -> None:
    clock = Clock(fl.world.now)
    status = status_of(fl, tmp_path / "out", clock)
    status.report(status.publisher.publish())
    for _ in range(3):  # DEFAULT_STALE_PASSES intervals: still within the limit
        clock.now += INTERVAL
        status.report(OSError("the log is unreachable"))
    assert status.health()[0]
    clock.now += 1
    assert status.health() == (
        False, "no pass has succeeded for 31 s (last failure: the log is unreachable)"
    )  # fmt: skip
    assert metric(status, 'keybundle_publisher_failures_total{kind="unavailable"}') == 3
    failed = [e for e in events(records) if e["event"] == "publish_failed"]
    assert len(failed) == 3
    assert (failed[0]["level"], failed[0]["error"]) == ("warning", "the log is unreachable")


def test_a_publisher_that_never_succeeded_is_unhealthy(tmp_path: Path, fl: FleetLog) -> None:
    clock = Clock(fl.world.now)
    status = status_of(fl, tmp_path / "out", clock)
    clock.now += 3 * INTERVAL + 1
    assert status.health() == (False, "no pass has succeeded yet")


def test_a_refused_log_is_one_error_record(
    fl: FleetLog, tmp_path: Path, records: io.StringIO
) -> None:
    clock = Clock(fl.world.now)
    status = status_of(fl, tmp_path / "out", clock)
    status.report(status.publisher.publish())
    forged = Checkpoint("log.example/keybundle", fl.world.size, b"\x13" * 32).body()
    (fl.root / "checkpoint").write_text(note.sign(forged, fl.world.log_signer))
    with pytest.raises(VerificationError) as info:
        status.publisher.follow(INTERVAL, threading.Event(), status.report)
    assert info.value.reason == LogReason.BAD_CONSISTENCY_PROOF
    (refused,) = [e for e in events(records) if e["event"] == "publish_refused"]
    assert (refused["level"], refused["reason"]) == ("error", "BAD_CONSISTENCY_PROOF")
    assert metric(status, 'keybundle_publisher_failures_total{kind="refused"}') == 1
    clock.now += 3 * INTERVAL + 1
    healthy, why = status.health()
    assert not healthy
    assert "last failure: the log was refused (BAD_CONSISTENCY_PROOF)" in why


def test_bad_settings_are_refused(fl: FleetLog, tmp_path: Path) -> None:
    status = status_of(fl, tmp_path / "out", Clock(0))
    with pytest.raises(ValueError, match="positive"):
        PublisherStatus(status.publisher, 0)
    with pytest.raises(ValueError, match="stale_passes"):
        PublisherStatus(status.publisher, 1, stale_passes=0)
