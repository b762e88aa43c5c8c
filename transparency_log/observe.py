"""Operating the services: structured logs, ``/healthz`` and Prometheus ``/metrics`` (OPS §6.6).

The log and the witness are WSGI applications (:mod:`transparency_log.server`,
:mod:`transparency_log.witness`); :func:`instrument` wraps one of them without changing it:

* ``GET /healthz`` answers ``200 ok ...`` or ``503 unhealthy: why`` (from ``health()``), for a
  load balancer or a service manager's watchdog;
* ``GET /metrics`` answers the Prometheus text exposition of the service's own registry
  (``prometheus-client``): requests by route and code, their latency, and the service's
  counters and gauges (:class:`LogMetrics`, :class:`WitnessMetrics`);
* every other request goes to the application, and its outcome is logged as one structured
  record (``append``, ``refusal``, ``cosignature``, ``request_error``) through :mod:`logging`
  (logger ``keybundle.service``).

:func:`configure_logging` prints those records, and every other record of the library (a
witness that failed to cosign, an integration that failed), as one JSON object a line, or
as text when standard error is a terminal. Imported only by the serving commands: it needs
``prometheus-client`` (the ``operator`` extra), which the client verifier never imports.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from transparency_log import _http
from transparency_log.checkpoint import parse_checkpoint
from transparency_log.cosignature import COSIGNATURE_V1_BYTES, timestamp_of
from transparency_log.errors import VerificationError
from transparency_log.note import MAX_NOTE_BYTES, parse_unverified

if TYPE_CHECKING:
    from transparency_log.server import CosigningRound

__all__ = [
    "SERVICE_LOGGER",
    "Health",
    "JsonFormatter",
    "LogMetrics",
    "OpsServer",
    "ServiceMetrics",
    "WitnessMetrics",
    "checkpoint_health",
    "configure_logging",
    "instrument",
    "make_ops_server",
]

SERVICE_LOGGER: Final = "keybundle.service"
"""The logger of the request records (``event`` in each record's ``extra``)."""
_LOG = logging.getLogger(SERVICE_LOGGER)
_MAX_LOGGED_MESSAGE: Final = 300
_STANDARD = frozenset([*vars(logging.makeLogRecord({})), "message", "asctime"])

Health = Callable[[], tuple[bool, str]]
"""``(healthy, one line)`` for ``/healthz``."""


# --- structured logs -------------------------------------------------------------------------


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (RFC 3339 UTC, milliseconds), ``level``, ``logger``,
    ``message``, and the record's structured fields (``extra``)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        out = {
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, sort_keys=True, default=str)


class _TextFormatter(logging.Formatter):
    """``HH:MM:SS level message key=value ...`` for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        extra = " ".join(f"{k}={v}" for k, v in sorted(_fields(record).items()))
        line = f"{when} {record.levelname.lower():7} {record.getMessage()}"
        return f"{line}  {extra}" if extra else line


def configure_logging(
    stream: IO[str] | None = None, *, as_json: bool | None = None, level: int = logging.INFO
) -> logging.Handler:
    """Send every record of ``keybundle.*`` and ``transparency_log.*`` to ``stream`` (default
    standard error): JSON lines, or text when ``as_json`` is None and the stream is a
    terminal. Returns the handler (a caller may remove it)."""
    global _installed  # noqa: PLW0603 (one handler per process, replaced on a new call)
    out = sys.stderr if stream is None else stream
    if as_json is None:
        as_json = not (hasattr(out, "isatty") and out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if as_json else _TextFormatter())
    for name in ("keybundle", "transparency_log"):
        logger = logging.getLogger(name)
        if _installed is not None:
            logger.removeHandler(_installed)
        logger.addHandler(handler)
        logger.setLevel(level)
    _installed = handler
    return handler


_installed: logging.Handler | None = None


# --- metrics ---------------------------------------------------------------------------------

_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServiceMetrics:
    """The request metrics every service has, in a registry of its own; a service adds its
    own counters and gauges to :attr:`registry` (subclasses: :class:`LogMetrics`, ...)."""

    service = "service"

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "keybundle_http_requests", "HTTP requests answered, by route and status code.",
            ["service", "route", "code"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "keybundle_http_request_seconds", "Time to answer a request, by route.",
            ["service", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip

    def route(self, path: str) -> str:
        return "other"

    def observe(self, method: str, path: str, code: int, body: bytes, seconds: float) -> None:
        """Count one answered request; subclasses add what the request meant."""
        route = self.route(path)
        self.requests.labels(self.service, route, str(code)).inc()
        self.latency.labels(self.service, route).observe(seconds)


def _first_line(body: bytes) -> str:
    return body.split(b"\n", 1)[0].decode("utf-8", "replace")[:_MAX_LOGGED_MESSAGE]


def _read_checkpoint(path: Path) -> bytes | None:
    try:
        with path.open("rb") as f:
            return f.read(MAX_NOTE_BYTES + 1)
    except OSError:
        return None


def checkpoint_health(directory: Path) -> Health:
    """``/healthz`` of a log: healthy while ``DIR/checkpoint`` is readable and parses."""

    def health() -> tuple[bool, str]:
        data = _read_checkpoint(directory / "checkpoint")
        if data is None:
            return False, "the checkpoint cannot be read"
        try:
            text, _ = parse_unverified(data)
            size = parse_checkpoint(text).size
        except VerificationError as e:
            return False, f"the checkpoint does not parse: {e.message}"
        return True, f"size {size}"

    return health


class LogMetrics(ServiceMetrics):
    """A log's metrics (OPS §6.6): appends, refusals by code, tile bytes served; read
    from ``DIR/checkpoint`` at each scrape, the log's size, the checkpoint's age (since it
    was written) and the age of its newest cosignature; and, fed by :meth:`cosigning_round`
    (``CosigningTileStore.on_round``), each witness's request latency and failures, the
    cosigning rounds by kind and outcome, and whether the last round met the quorum."""

    service = "log"

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._dir = directory
        self._clock = clock
        r = self.registry
        self.appends = Counter("keybundle_log_appends", "Entries appended (POST /add 200).",
                               registry=r)  # fmt: skip
        self.refusals = Counter(
            "keybundle_log_refusals", "Submissions refused, by status code.", ["code"], registry=r
        )
        self.tile_bytes = Counter(
            "keybundle_log_tile_bytes_served", "Bytes of tiles and entry bundles served.",
            registry=r,
        )  # fmt: skip
        self.witness_seconds = Histogram(
            "keybundle_log_witness_request_seconds",
            "Time to get a witness's answer (every attempt of one round), by witness.",
            ["witness"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.witness_failures = Counter(
            "keybundle_log_witness_failures", "Witnesses asked that did not cosign, by witness.",
            ["witness"], registry=r,
        )  # fmt: skip
        self.rounds = Counter(
            "keybundle_log_cosigning_rounds",
            "Cosigning rounds, by kind (publish, recosign) and outcome (complete, degraded, "
            "no_quorum).",
            ["kind", "outcome"], registry=r,
        )  # fmt: skip
        self.quorum_met = Gauge(
            "keybundle_log_quorum_met",
            "1 when the last cosigning round left the checkpoint with the witness quorum, "
            "else 0 (NaN before the first round).",
            registry=r,
        )  # fmt: skip
        self.quorum_met.set(float("nan"))
        Gauge("keybundle_log_size", "Entries in the published checkpoint.",
              registry=r).set_function(lambda: self._scrape()[0])  # fmt: skip
        Gauge("keybundle_log_checkpoint_age_seconds", "Seconds since the checkpoint was written.",
              registry=r).set_function(lambda: self._scrape()[1])  # fmt: skip
        Gauge(
            "keybundle_log_cosignature_age_seconds",
            "Seconds since the newest cosignature on the published checkpoint (NaN: none).",
            registry=r,
        ).set_function(lambda: self._scrape()[2])

    def _scrape(self) -> tuple[float, float, float]:
        nan = float("nan")
        path = self._dir / "checkpoint"
        data = _read_checkpoint(path)
        if data is None:
            return nan, nan, nan
        now = self._clock()
        try:
            age = max(0.0, now - path.stat().st_mtime)
            text, sigs = parse_unverified(data)
            size = float(parse_checkpoint(text).size)
        except (OSError, VerificationError):
            return nan, nan, nan
        stamps = [timestamp_of(s) for s in sigs if len(s.signature) == COSIGNATURE_V1_BYTES]
        cosigned = max(0.0, now - max(stamps)) if stamps else nan
        return size, age, cosigned

    def cosigning_round(self, round_: CosigningRound) -> None:
        """Count one cosigning round (its structured record is the store's own)."""
        for outcome in round_.outcomes:
            name = outcome.witness.name
            self.witness_seconds.labels(name).observe(outcome.seconds)
            if not outcome.ok:
                self.witness_failures.labels(name).inc()
        self.rounds.labels(round_.kind, round_.outcome).inc()
        self.quorum_met.set(1.0 if round_.quorum_met else 0.0)

    def route(self, path: str) -> str:
        if path == "/add":
            return "/add"
        if path == "/checkpoint":
            return "/checkpoint"
        if path.startswith("/tile/entries/"):
            return "/tile/entries"
        return "/tile" if path.startswith("/tile/") else "other"

    def observe(self, method: str, path: str, code: int, body: bytes, seconds: float) -> None:
        super().observe(method, path, code, body, seconds)
        route = self.route(path)
        if route == "/add" and method == "POST":
            ms = round(seconds * 1000, 1)
            if code == 200:
                self.appends.inc()
                index = next((ln[6:] for ln in body.decode("utf-8", "replace").split("\n")
                              if ln.startswith("index ")), None)  # fmt: skip
                _LOG.info("append", extra={"event": "append", "index": index and int(index),
                                           "ms": ms})  # fmt: skip
            elif 400 <= code < 500:
                self.refusals.labels(str(code)).inc()
                _LOG.info("refusal", extra={"event": "refusal", "code": code, "ms": ms,
                                            "reason": _first_line(body)})  # fmt: skip
        elif route.startswith("/tile") and code == 200 and method == "GET":
            self.tile_bytes.inc(len(body))


class WitnessMetrics(ServiceMetrics):
    """A witness's metrics (OPS §6.6): cosignatures and refusals by code; its latency is
    ``keybundle_http_request_seconds{route="/add-checkpoint"}``."""

    service = "witness"

    def __init__(self) -> None:
        super().__init__()
        self.cosignatures = Counter("keybundle_witness_cosignatures",
                                    "Checkpoints cosigned.", registry=self.registry)  # fmt: skip
        self.refusals = Counter(
            "keybundle_witness_refusals", "Checkpoints not cosigned, by status code.", ["code"],
            registry=self.registry,
        )  # fmt: skip

    def route(self, path: str) -> str:
        return "/add-checkpoint" if path == "/add-checkpoint" else "other"

    def observe(self, method: str, path: str, code: int, body: bytes, seconds: float) -> None:
        super().observe(method, path, code, body, seconds)
        if self.route(path) != "/add-checkpoint" or method != "POST":
            return
        ms = round(seconds * 1000, 1)
        if code == 200:
            self.cosignatures.inc()
            _LOG.info("cosignature", extra={"event": "cosignature", "ms": ms,
                                            "line": _first_line(body)})  # fmt: skip
        elif 400 <= code < 500:
            self.refusals.labels(str(code)).inc()
            _LOG.info("refusal", extra={"event": "refusal", "code": code, "ms": ms,
                                        "reason": _first_line(body)})  # fmt: skip


# --- the WSGI wrapper ------------------------------------------------------------------------


def _answer(
    start_response: _http.StartResponse, code: str, body: bytes, content_type: str
) -> list[bytes]:
    start_response(code, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                          ("Cache-Control", "no-store")])  # fmt: skip
    return [body]


def instrument(
    app: _http.WSGIApp,
    metrics: ServiceMetrics,
    health: Health,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> _http.WSGIApp:
    """``app`` with ``/healthz``, ``/metrics``, request metrics and logs (module doc)."""

    def wrapped(environ: dict[str, Any], start_response: _http.StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        method = str(environ.get("REQUEST_METHOD") or "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy, why = health()
            text = (f"ok {why}" if healthy else f"unhealthy: {why}") + "\n"
            line = "200 OK" if healthy else "503 Service Unavailable"
            return _answer(start_response, line, text.encode(), "text/plain; charset=utf-8")
        if path == "/metrics" and method in ("GET", "HEAD"):
            return _answer(start_response, "200 OK", generate_latest(metrics.registry),
                           CONTENT_TYPE_LATEST)  # fmt: skip
        started = clock()
        status: list[str] = []

        def capture(line: str, headers: list[tuple[str, str]]) -> Any:
            status.append(line)
            return start_response(line, headers)

        try:
            body = list(app(environ, capture))
        except Exception:
            _LOG.exception("request error", extra={"event": "request_error", "path": path,
                                                   "method": method})  # fmt: skip
            raise
        code = int(status[-1].split(" ", 1)[0]) if status else 500
        data = b"".join(body)
        metrics.observe(method, path, code, data, clock() - started)
        if code >= 500:
            _LOG.error("request error", extra={"event": "request_error", "path": path,
                                               "method": method, "code": code,
                                               "reason": _first_line(data)})  # fmt: skip
        return body

    return wrapped


# --- a service without an HTTP API of its own ------------------------------------------------


class OpsServer(_http.WaitressServer):
    """``/healthz`` and ``/metrics`` of a service that answers nothing else, on waitress."""


def _not_found(environ: dict[str, Any], start_response: _http.StartResponse) -> Iterable[bytes]:
    return _answer(start_response, "404 Not Found", b"not found: this address serves only "
                   b"/healthz and /metrics\n", "text/plain; charset=utf-8")  # fmt: skip


def make_ops_server(
    metrics: ServiceMetrics,
    health: Health,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ident: str,
    threads: int = 2,
) -> OpsServer:
    """Bind ``/healthz`` and ``/metrics`` (module doc), and a ``404`` for every other path,
    for a service whose work is not answering requests (the package publisher, OPS §7.7)."""
    server = _http.create_waitress_server(
        instrument(_not_found, metrics, health), host, port, threads=threads,
        max_body_bytes=0, ident=ident,
    )  # fmt: skip
    return OpsServer(server)
