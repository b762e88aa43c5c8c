"""``keybundle monitor``: follow a log as an auditor (SPEC §8, §10).

A thin adapter over :class:`keybundle.monitor.Monitor`: it reads the trust root, the
allow-list and the witness key, picks the fetcher (HTTP, or a local tile directory), runs one
pass (``--once``) or polls, and prints each event: a line of text by default (with a progress
bar on a terminal during a backfill), one JSON object per line with ``--json``. The exit code
is the worst pass status (SPEC §8.3): 0 clean, 1 misbehaviour found, 2 could not check.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import FrameType

import click
import requests

from keybundle.monitor import (
    MAX_ALLOW_LIST_BYTES,
    Event,
    Monitor,
    Status,
    parse_allow_list,
)
from keybundle.monitor_judges import EntryJudge, ProcessJudge
from keybundle.monitor_state import StateDir
from transparency_log import http_deadline
from transparency_log.cosignature import SIG_TYPE_COSIGNATURE_V1
from transparency_log.fetcher import DirectoryFetcher, Fetcher, HTTPFetcher
from transparency_log.note import MAX_NOTE_BYTES
from transparency_log.tlog_client import CHECKPOINT_PATH
from transparency_log.witness import FileStateStore, Witness, make_witness_server

from ._common import (
    PinnedTrustRoot,
    UserError,
    cli_errors,
    json_option,
    passphrase_option,
    read_input,
    trust_root_option,
)
from .log import load_note_signer, parse_listen

__all__ = ["PoliteFetcher", "monitor", "render"]

_BAR_WIDTH = 30


def _keys(keys: list[dict[str, str]], sign: str) -> list[str]:
    return [
        f"    {sign} {k['key_id']} {k['algorithm']} {k['usage']} {k['fingerprint']}" for k in keys
    ]


def render(event: Event) -> list[str]:
    """The human lines of one event (SPEC §8.3); none for progress (drawn as a bar)."""
    kind = event["event"]
    if kind == "checkpoint":
        return [f"checkpoint: {event['origin']} size {event['size']} root {event['root']}"]
    if kind == "health":
        age = event["checkpoint_age"]
        parts = [
            f"newest cosignature {age} s old" if age is not None else "no cosignature",
            f"{event['behind']} entries to check",
        ]
        if event["missing_witnesses"]:
            parts.append("no cosignature from " + ", ".join(event["missing_witnesses"]))
        if event["stale_witnesses"]:
            parts.append("stale cosignatures from " + ", ".join(event["stale_witnesses"]))
        if event["future_witnesses"]:
            parts.append(
                "cosignatures dated ahead of this clock from "
                + ", ".join(event["future_witnesses"])
            )
        return ["health: " + "; ".join(parts)]
    if kind == "epoch":
        return [
            f"epoch: fleet {event['fleet']} epoch {event['epoch']} (entry {event['index']}): "
            f"{len(event['added'])} added, {len(event['removed'])} removed, "
            f"{len(event['kept'])} kept",
            *_keys(event["added"], "+"),
            *_keys(event["removed"], "-"),
            *_keys(event["kept"], "="),
        ]
    if kind == "trust_root":
        return [f"trust root: rotated to version {event['version']} by entry {event['index']}"]
    if kind == "misbehaviour":
        lines = [f"MISBEHAVIOUR ({event['reason']}): {event['message']}"]
        if event["evidence"] is not None:
            lines.append(f"    evidence: {event['evidence']}")
        return lines
    if kind == "error":
        reason = f" ({event['reason']})" if event["reason"] else ""
        return [f"could not check{reason}: {event['message']}"]
    if kind == "warning":
        return [f"warning: {event['message']}"]
    if kind == "cosigned":
        return [f"cosigned the checkpoint of size {event['size']}: {event['file']}"]
    if kind == "witness_listening":
        return [f"witness {event['name']} listening on {event['url']}"]
    if kind == "pass":
        verified = event["verified_size"]
        size = "no checkpoint verified yet" if verified is None else f"{verified} entries verified"
        return [f"pass: {event['status']}; {size}"]
    return []


class _Output:
    """Prints events as text or JSON lines; draws the backfill progress bar on a terminal."""

    def __init__(self, as_json: bool) -> None:
        self._json = as_json
        self._bar = not as_json and sys.stderr.isatty()
        self._drawn = False

    def __call__(self, event: Event) -> None:
        if self._json:
            click.echo(json.dumps(event, sort_keys=True))
            sys.stdout.flush()
            return
        if event["event"] == "progress":
            if self._bar and event["total"] >= 1024:
                done, total = event["done"], event["total"]
                filled = _BAR_WIDTH * done // total
                bar = "#" * filled + "." * (_BAR_WIDTH - filled)
                click.echo(f"\r[{bar}] {done}/{total} entries", nl=False, err=True)
                self._drawn = True
            return
        if self._drawn:
            click.echo("\r" + " " * (_BAR_WIDTH + 40) + "\r", nl=False, err=True)
            self._drawn = False
        for line in render(event):
            click.echo(line)


class PoliteFetcher:
    """An HTTPFetcher that fetches the checkpoint with a safe conditional request (SPEC §8.1).

    ``If-Modified-Since`` is sent only with a ``Last-Modified`` that the previous answer's
    ``Date`` showed to be at least one second old: a validator of one-second granularity is
    otherwise racy (a newer checkpoint written within the same second would be answered
    ``304``). A ``304`` returns the previous body, which the monitor verifies again. Any
    other outcome of the conditional request falls back to a plain fetch, with the wrapped
    fetcher's retries and caps. Everything else is the wrapped fetcher's.
    """

    def __init__(self, inner: HTTPFetcher, *, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self._session = http_deadline.bounded_session(user_agent="keybundle-monitor")
        self._cached: tuple[bytes, str] | None = None
        self.not_modified = 0
        """How many checkpoint requests were answered 304 (for tests)."""

    def close(self) -> None:
        """Close both HTTP sessions."""
        self._session.close()
        self._inner.close()

    def __enter__(self) -> PoliteFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """``checkpoint`` conditionally (class doc); any other path plainly.

        The conditional request has ``timeout`` seconds for its whole answer
        (:mod:`transparency_log.http_deadline`); the plain fetch it may fall back to has the
        wrapped fetcher's bound.
        """
        if path != CHECKPOINT_PATH:
            return self._inner.fetch(path, max_bytes=max_bytes)
        cap = MAX_NOTE_BYTES if max_bytes is None else max_bytes
        cached = self._cached
        headers = {"If-Modified-Since": cached[1]} if cached is not None else {}
        self._cached = None
        try:
            with http_deadline.bounded_request(
                self._session,
                "GET",
                self._inner.base_url + path,
                timeout=self._timeout,
                headers=headers,
            ) as answer:
                if answer.status == 304 and cached is not None:
                    self.not_modified += 1
                    self._cached = cached
                    return cached[0]
                if answer.status == 200:
                    data = answer.read(cap)
                    modified = answer.header("Last-Modified")
                    if modified and _safe_validator(modified, answer.header("Date") or None):
                        self._cached = (data, modified)
                    return data
        except (
            requests.RequestException,
            http_deadline.DeadlineExceededError,
            http_deadline.AnswerTooLargeError,
        ):
            pass
        # Anything else: the plain fetcher, with its retries, caps and error messages.
        return self._inner.fetch(path, max_bytes=cap)


def _safe_validator(last_modified: str, date: str | None) -> bool:
    """Whether ``Last-Modified`` is at least a second older than the answer (SPEC §8.1)."""
    if date is None:
        return False
    try:
        modified = parsedate_to_datetime(last_modified)
        answered = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return False
    return (answered - modified).total_seconds() >= 1


def _fetcher(url: str, timeout: float) -> Fetcher:
    if url.startswith(("http://", "https://")):
        return PoliteFetcher(HTTPFetcher(url, timeout=timeout), timeout=timeout)
    path = Path(url.removeprefix("file://"))
    if not (path / "checkpoint").is_file():
        raise UserError(f"{url} is neither an http(s) URL nor a tile directory with a checkpoint")
    return DirectoryFetcher(path)


@click.command("monitor")
@trust_root_option("The pinned signed trust root (SPEC §5): keys, log and witness policy.")
@click.option(
    "--state",
    "state_dir",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="The monitor's state, evidence and tile cache (created if missing).",
)
@click.argument("url")
@click.option("--once", is_flag=True, help="Run one pass and exit with its status.")
@json_option("One JSON object per event and line.")
@click.option(
    "--interval",
    type=click.FloatRange(min=1.0),
    default=60.0,
    show_default=True,
    metavar="S",
    help="Seconds between passes (without --once).",
)
@click.option(
    "--allow-keys",
    "allow_keys",
    metavar="FILE",
    help="Allow-list: one fleet-key fingerprint per line; any other key is misbehaviour.",
)
@click.option(
    "--witness-key",
    "witness_key",
    metavar="KEY",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Cosign every checkpoint this monitor verified with this cosignature/v1 key.",
)
@click.option(
    "--witness-listen",
    "witness_listen",
    metavar="HOST:PORT",
    help="Also serve the witness (C2SP tlog-witness, POST /add-checkpoint) for the log, from "
    "the first pass that cosigned on (needs --witness-key, not --once).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes that check signatures (more for a backfill of a large log).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="S",
    help="HTTP deadline of one request, for its whole answer (SPEC §6.5.4).",
)
@passphrase_option
@cli_errors
def monitor(
    *,
    trust_root: PinnedTrustRoot,
    state_dir: Path,
    url: str,
    once: bool,
    as_json: bool,
    interval: float,
    allow_keys: str | None,
    witness_key: Path | None,
    witness_listen: str | None,
    workers: int,
    timeout: float,
    passphrase_file: Path | None,
) -> None:
    """Follow the log at URL as an auditor (SPEC §8): verify checkpoints, witness quorum and
    consistency, check every entry and fleet history, and keep evidence of misbehaviour.

    URL is the log's tlog-tiles prefix (http:// or https://) or a local tile directory.
    Exit code: 0 clean, 1 misbehaviour found, 2 could not check (or bad usage).
    """
    listen = None
    if witness_listen is not None:
        if witness_key is None or once:
            raise UserError("--witness-listen serves the witness of a daemon: it needs "
                            "--witness-key and no --once")  # fmt: skip
        listen = parse_listen(witness_listen)
    root_bytes, pinned = trust_root.signed, trust_root.root
    allow = None
    if allow_keys is not None:
        data = read_input(allow_keys, "allow-list", limit=MAX_ALLOW_LIST_BYTES)
        allow = parse_allow_list(data.decode("utf-8", "replace"))
    signer = None
    if witness_key is not None:
        signer = load_note_signer(witness_key, passphrase_file, SIG_TYPE_COSIGNATURE_V1)
    directory = StateDir(state_dir)
    out = _Output(as_json)
    stop = threading.Event()
    worst = Status.CLEAN
    with contextlib.ExitStack() as resources:
        directory.lock()
        resources.callback(directory.unlock)
        fetcher = _fetcher(url, timeout)
        close = getattr(fetcher, "close", None)
        if close is not None:
            resources.callback(close)
        judge: EntryJudge | None = None
        if workers > 1:
            judge = ProcessJudge(root_bytes, workers)
            resources.callback(judge.close)
        witness = None
        if signer is not None:
            # The witness's state lives beside the monitor's, under the monitor's lock too.
            directory.witness_state.mkdir(exist_ok=True)
            store = resources.enter_context(FileStateStore(directory.witness_state))
            witness = Witness(signer, {pinned.log.origin: pinned.log.verifier()}, store)
        serving = _WitnessService(witness, listen, out, resources)
        mon = Monitor(
            fetcher,
            root_bytes,
            directory,
            emit=serving.watch,
            allow_keys=allow,
            judge=judge,
            witness=witness,
        )
        if not once:
            _stop_on_signals(stop)
        while True:
            status = mon.run_pass(int(time.time()))
            worst = max(worst, status)
            serving.start_if_ready()
            if once or stop.wait(interval):
                break
    raise click.exceptions.Exit(int(worst))


class _WitnessService:
    """Serves the monitor's witness over HTTP from the first pass that cosigned (SPEC §8.1).

    Until then the witness holds no tree this monitor verified, and would cosign whatever the
    log first submits; afterwards it cosigns only trees consistent with what it holds.
    """

    def __init__(
        self,
        witness: Witness | None,
        listen: tuple[str, int] | None,
        emit: Callable[[Event], None],
        resources: contextlib.ExitStack,
    ) -> None:
        self._witness = witness
        self._listen = listen
        self._emit = emit
        self._resources = resources
        self._ready = False
        self._started = False

    def watch(self, event: Event) -> None:
        """The monitor's emit: note the first cosignature, pass every event on."""
        if event["event"] == "cosigned":
            self._ready = True
        self._emit(event)

    def start_if_ready(self) -> None:
        """Start serving in a thread, once, after a pass that cosigned."""
        if self._started or not self._ready or self._witness is None or self._listen is None:
            return
        self._started = True
        server = make_witness_server(self._witness, *self._listen)
        thread = threading.Thread(target=server.serve_forever, name="witness", daemon=True)
        thread.start()

        def stop() -> None:
            server.close()
            thread.join(timeout=10)

        self._resources.callback(stop)
        self._emit(
            {
                "event": "witness_listening",
                "name": self._witness.name,
                "url": f"http://{_url_host(server.host)}:{server.port}",
            }
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
