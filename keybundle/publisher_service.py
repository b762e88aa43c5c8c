"""The package publisher as a service (OPS §7.7, §6.6): its records, metrics and health.

``keybundle package publish --follow --listen HOST:PORT`` runs :meth:`Publisher.follow` and
hands each pass's outcome to :meth:`PublisherStatus.report`, which

* writes one structured record of logger ``keybundle.publisher_service``
  (:mod:`transparency_log.observe` prints it as a JSON line): ``publish`` for a pass that
  wrote new packages (``info``), ``publish_unchanged`` for one that found the same checkpoint
  note (``debug``: one every interval), ``publish_failed`` for a pass that could not read the
  log or write the files (``warning``: retried at the next interval), and ``publish_refused``
  for a log that does not verify or forked (``error``: the publisher stops);
* counts it in :class:`PublisherMetrics` (``/metrics``);
* keeps what ``/healthz`` judges (:meth:`PublisherStatus.health`): the time of the last pass
  that succeeded, and the checkpoint published, whose cosignatures must still make a fresh
  witness quorum for the clients of every trust-root version (:func:`quorum_short` at the
  time of the request: a log that stopped re-cosigning shows here hours before clients reject
  its packages).

Imported only by the serving command: it needs ``prometheus-client`` (the ``operator`` extra).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from transparency_log.observe import ServiceMetrics

from .errors import VerificationError
from .publisher import Publisher, PublishResult, quorum_short
from .trustroot import TrustRoot

__all__ = ["DEFAULT_STALE_PASSES", "PublisherMetrics", "PublisherStatus"]

DEFAULT_STALE_PASSES: Final = 3
"""``/healthz`` answers 503 once no pass has succeeded for this many intervals (OPS §6.6)."""

_LOG = logging.getLogger(__name__)
_PASS_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class PublisherMetrics(ServiceMetrics):
    """The publisher's metrics (OPS §6.6), beside the request metrics of ``/metrics``."""

    service = "publisher"

    def __init__(self) -> None:
        super().__init__()
        r = self.registry
        self.passes = Counter(
            "keybundle_publisher_passes", "Passes that succeeded, by whether they wrote "
            "packages (changed) or found the same checkpoint note (unchanged).",
            ["result"], registry=r,
        )  # fmt: skip
        self.failures = Counter(
            "keybundle_publisher_failures", "Passes that failed, by kind (unavailable: the log "
            "or the disk, retried; refused: the log does not verify, the publisher stops).",
            ["kind"], registry=r,
        )  # fmt: skip
        self.pass_seconds = Histogram(
            "keybundle_publisher_pass_seconds", "Time of a pass that succeeded.",
            buckets=_PASS_BUCKETS, registry=r,
        )  # fmt: skip
        self.fleets = Gauge("keybundle_publisher_fleets", "Fleet packages published.",
                            registry=r)  # fmt: skip
        self.size = Gauge("keybundle_publisher_checkpoint_size",
                          "Entries in the published checkpoint.", registry=r)  # fmt: skip
        self.last_publish = Gauge(
            "keybundle_publisher_last_publish_timestamp_seconds",
            "Unix time of the last pass that wrote packages.", registry=r,
        )  # fmt: skip
        self.last_success = Gauge(
            "keybundle_publisher_last_success_timestamp_seconds",
            "Unix time of the last pass that succeeded.", registry=r,
        )  # fmt: skip
        for gauge in (self.fleets, self.size, self.last_publish, self.last_success):
            gauge.set(math.nan)

    def route(self, path: str) -> str:
        return path if path in ("/healthz", "/metrics") else "other"


@dataclass(frozen=True)
class _Published:
    """What was published, as one value (read by ``/healthz`` on another thread)."""

    note: bytes
    cosignatures: tuple[int, ...]
    roots: tuple[TrustRoot, ...]
    size: int
    fleets: int


class PublisherStatus:
    """A following publisher's records, metrics and health (module doc).

    ``interval`` is the publisher's; ``stale_passes`` how many intervals may pass without a
    successful pass before ``/healthz`` says so. ``clock`` is the wall clock (Unix seconds),
    the one the cosignatures' timestamps are in. :meth:`report` is called by the publishing
    thread, :meth:`health` and the gauges by the server's threads.
    """

    def __init__(
        self,
        publisher: Publisher,
        interval: float,
        *,
        stale_passes: int = DEFAULT_STALE_PASSES,
        metrics: PublisherMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not interval > 0 or stale_passes < 1:
            raise ValueError("the interval must be positive and stale_passes at least 1")
        self.publisher = publisher
        self.interval = interval
        self.stale_passes = stale_passes
        self.metrics = PublisherMetrics() if metrics is None else metrics
        self.clock = clock
        self._lock = threading.Lock()
        self._published: _Published | None = None
        self._last_success: float | None = None
        self._last_failure: str | None = None
        self._started = clock()
        Gauge(
            "keybundle_publisher_cosignature_age_seconds",
            "Seconds since the newest cosignature on the published checkpoint (NaN: none).",
            registry=self.metrics.registry,
        ).set_function(self._cosignature_age)
        Gauge(
            "keybundle_publisher_quorum_short_versions",
            "Trust-root versions whose clients would not count a fresh witness quorum on the "
            "published checkpoint now (NaN: nothing published).",
            registry=self.metrics.registry,
        ).set_function(self._short_count)

    def report(self, result: PublishResult | Exception) -> None:
        """Record one pass of :meth:`Publisher.follow` (module doc)."""
        now = self.clock()
        m = self.metrics
        if isinstance(result, VerificationError):
            m.failures.labels("refused").inc()
            _LOG.error("publish refused", extra={"event": "publish_refused",
                       "reason": str(result.reason), "error": result.message})  # fmt: skip
            with self._lock:
                self._last_failure = f"the log was refused ({result.reason}): {result.message}"
            return
        if isinstance(result, Exception):
            m.failures.labels("unavailable").inc()
            _LOG.warning("publish failed", extra={"event": "publish_failed",
                         "error": str(result)})  # fmt: skip
            with self._lock:
                self._last_failure = str(result)
            return
        published = self.publisher.published
        history = self.publisher.history
        if published is None or history is None:
            raise AssertionError("bad math in PublisherStatus.report: a pass published nothing")
        m.passes.labels("changed" if result.changed else "unchanged").inc()
        m.pass_seconds.observe(result.seconds)
        m.fleets.set(result.fleets)
        m.size.set(result.size)
        m.last_success.set(now)
        fields: dict[str, object] = {
            "size": result.size, "fleets": result.fleets, "new_entries": result.new_entries,
            "ms": round(result.seconds * 1000, 1),
        }  # fmt: skip
        if result.changed:
            m.last_publish.set(now)
            fields.update(
                event="publish",
                build_ms=round(result.build_seconds * 1000, 1),
                write_ms=round(result.write_seconds * 1000, 1),
                rebuilt=result.rebuilt,
                quorum_short=list(result.quorum_short),
                older_roots=len(result.older_roots),
            )
            _LOG.info("publish", extra=fields)
        else:
            _LOG.debug("publish unchanged", extra={**fields, "event": "publish_unchanged"})
        with self._lock:
            self._last_success = now
            self._last_failure = None
            self._published = _Published(
                published.note_text, tuple(published.cosignatures.values()), history.roots,
                result.size, result.fleets,
            )  # fmt: skip

    def health(self) -> tuple[bool, str]:
        """``/healthz``: healthy while a pass succeeded within ``stale_passes`` intervals and
        the published checkpoint still makes a fresh quorum for every version's clients."""
        now = self.clock()
        with self._lock:
            published, success, failure = self._published, self._last_success, self._last_failure
        limit = self.stale_passes * self.interval
        since = now - (self._started if success is None else success)
        if since > limit:
            what = "no pass has succeeded yet" if success is None else (
                f"no pass has succeeded for {since:.0f} s")  # fmt: skip
            return False, what + (f" (last failure: {failure})" if failure else "")
        if published is None:
            return True, "starting: no pass has finished yet"
        short = quorum_short(published.note, published.roots, int(now))
        if short:
            versions = ", ".join(f"v{v}" for v in short)
            return False, (
                f"clients of trust-root version(s) {versions} would not count a fresh witness "
                "quorum on the published checkpoint: the log is not re-cosigning it"
            )
        return True, f"published {published.fleets} fleet(s) at checkpoint size {published.size}"

    def _cosignature_age(self) -> float:
        with self._lock:
            published = self._published
        if published is None or not published.cosignatures:
            return math.nan
        return max(0.0, self.clock() - max(published.cosignatures))

    def _short_count(self) -> float:
        with self._lock:
            published = self._published
        if published is None:
            return math.nan
        return float(len(quorum_short(published.note, published.roots, int(self.clock()))))
