"""``keybundle monitor``: follow a log as an auditor (SPEC §8, CLI §10).

A thin adapter over :class:`keybundle.monitor.Monitor`: it reads the trust root, the
allow-list and the witness key, picks the fetcher (HTTP, or a local tile directory), runs one
pass (``--once``) or polls, and prints each event: a line of text by default (with a progress
bar on a terminal during a backfill), one JSON object per line with ``--json``. The exit code
is the worst pass status (OPS §8.3): 0 clean, 1 misbehaviour found, 2 could not check.
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
from typing import Any

import click
import requests

from keybundle.monitor import (
    MAX_ALLOW_LIST_BYTES,
    Event,
    Monitor,
    Status,
    parse_allow_list,
)
from keybundle.monitor_history import read_history
from keybundle.monitor_judges import EntryJudge, ProcessJudge
from keybundle.monitor_report import build_report, render_csv, render_html
from keybundle.monitor_state import StateDir
from keybundle.trustroot import TrustRoot
from transparency_log import durable, http_deadline
from transparency_log.cosignature import SIG_TYPE_COSIGNATURE_V1
from transparency_log.fetcher import DirectoryFetcher, Fetcher, HTTPFetcher
from transparency_log.note import MAX_NOTE_BYTES
from transparency_log.tlog_client import CHECKPOINT_PATH
from transparency_log.witness import FileStateStore, Witness, make_witness_server

from ._common import (
    PinnedTrustRoot,
    UserError,
    cli_errors,
    emit,
    json_option,
    passphrase_option,
    read_input,
    trust_root_option,
)
from .config import config_option
from .log import load_note_signer, parse_listen
from .monitor_output import EVENT_KINDS, PROBLEM_KINDS, Alarm, Hook, Output, render

__all__ = ["PoliteFetcher", "follow", "monitor", "render", "report"]


class PoliteFetcher:
    """An HTTPFetcher that fetches the checkpoint with a safe conditional request (OPS §8.1).

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
    """Whether ``Last-Modified`` is at least a second older than the answer (OPS §8.1)."""
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


@click.command("follow")
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
@click.option("-v", "--verbose", is_flag=True, help="Every event: each epoch with its keys.")
@click.option("-q", "--quiet", is_flag=True, help="Only problems (misbehaviour, errors, alerts).")
@click.option(
    "--exec",
    "exec_command",
    metavar="CMD",
    help="Run CMD for each event of the --exec-on kinds: the event as JSON on standard input "
    "and in KEYBUNDLE_* environment variables.",
)
@click.option(
    "--exec-on",
    "exec_on",
    metavar="KINDS",
    default=",".join(sorted(PROBLEM_KINDS)),
    show_default=True,
    help="Comma-separated event kinds that run --exec.",
)
@click.option(
    "--exec-timeout",
    "exec_timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="S",
    help="Seconds one run of --exec may take before it is killed.",
)
@click.option(
    "--alert-after",
    "alert_after",
    type=click.FloatRange(min=0.0),
    default=3600.0,
    show_default=True,
    metavar="S",
    help="Emit an alert event when the log could not be checked for S seconds (0: never).",
)
@passphrase_option
@config_option
@cli_errors
def follow(
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
    verbose: bool,
    quiet: bool,
    exec_command: str | None,
    exec_on: str,
    exec_timeout: float,
    alert_after: float,
    passphrase_file: Path | None,
) -> None:
    """Follow the log at URL as an auditor (SPEC §8): verify checkpoints, witness quorum and
    consistency, check every entry and fleet history, and keep evidence of misbehaviour.

    URL is the log's tlog-tiles prefix (http:// or https://) or a local tile directory.
    Prints a summary per pass (--verbose: every event; --quiet: problems only; --json: one
    timestamped JSON object per event). `keybundle monitor report --help`: the auditor's
    report. Exit code: 0 clean, 1 misbehaviour found, 2 could not check (or bad usage),
    130 interrupted (Ctrl-C).
    """
    if verbose and quiet:
        raise UserError("--verbose and --quiet exclude each other")
    kinds = [k.strip() for k in exec_on.split(",") if k.strip()]
    unknown = sorted(set(kinds) - EVENT_KINDS)
    if unknown:
        raise UserError(
            f"--exec-on: unknown event kind(s) {', '.join(unknown)}; the kinds are "
            + ", ".join(sorted(EVENT_KINDS))
        )
    hook = None if exec_command is None else Hook(exec_command, kinds, timeout=exec_timeout)
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
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(
                f"--allow-keys {allow_keys} is not UTF-8 text (byte {e.start}); it holds one "
                "fleet-key fingerprint (64 hex digits) per line"
            ) from None
        allow = parse_allow_list(text)
    signer = None
    if witness_key is not None:
        signer = load_note_signer(witness_key, passphrase_file, SIG_TYPE_COSIGNATURE_V1)
    directory = StateDir(state_dir)
    printer = Output(as_json=as_json, level=1 if verbose else -1 if quiet else 0,
                     bar=sys.stderr.isatty())  # fmt: skip

    def out(event: Event) -> None:
        printer(event)
        if hook is not None:
            hook(event)

    stop = threading.Event()
    worst = Status.CLEAN
    try:
        worst = _follow(
            directory, url, root_bytes, pinned, out,
            timeout=timeout, workers=workers, signer=signer, listen=listen, allow=allow,
            once=once, interval=interval, alert_after=alert_after, stop=stop,
        )  # fmt: skip
    except KeyboardInterrupt:
        click.echo("\nkeybundle monitor: interrupted; the next run resumes", err=True)
        raise click.exceptions.Exit(130) from None
    raise click.exceptions.Exit(int(worst))


def _last_checked(directory: StateDir, default: int) -> int:
    """When a pass last checked the log, by the history (OPS §8.5); else ``default``."""
    passes = [r for r in read_history(directory.path) if r["record"] == "pass"]
    checked = [int(r["time"]) for r in passes if r["status"] != "unchecked"]
    return max(checked, default=default)


def _follow(
    directory: StateDir,
    url: str,
    root_bytes: bytes,
    pinned: TrustRoot,
    out: Callable[[Event], None],
    *,
    timeout: float,
    workers: int,
    signer: Any,
    listen: tuple[str, int] | None,
    allow: frozenset[str] | None,
    once: bool,
    interval: float,
    alert_after: float,
    stop: threading.Event,
) -> Status:
    """The passes, until ``--once`` is done or SIGTERM; the worst status."""
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
        alarm = Alarm(alert_after, _last_checked(directory, int(time.time())))
        if not once:
            _stop_on_signals(stop)
        while True:
            now = int(time.time())
            status = mon.run_pass(now)
            worst = max(worst, status)
            alert = alarm.after_pass(status, now)
            if alert is not None:
                out(alert)
            serving.start_if_ready()
            if once or stop.wait(interval):
                break
    return worst


class _WitnessService:
    """Serves the monitor's witness over HTTP from the first pass that cosigned (OPS §8.1).

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

    # SIGTERM (systemd's stop) ends the daemon after its pass with the worst status; Ctrl-C
    # (SIGINT) stops at once, as KeyboardInterrupt, and exits 130.
    signal.signal(signal.SIGTERM, handler)


@click.command("report")
@click.option(
    "--state",
    "state_dir",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The monitor's state directory.",
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    metavar="OUT",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write index.html, report.json and the CSV tables into (created).",
)
@click.option(
    "--trust-root",
    "trust_root",
    default="TRUST_ROOT",
    metavar="ROOT",
    help="The trust root's path, as shown in the commands that re-check evidence.",
)
@json_option()
@cli_errors
def report(*, state_dir: Path, output: Path, trust_root: str, as_json: bool) -> None:
    """Write the auditor's report of a monitor's state (OPS §8.6): a self-contained HTML
    page (OUT/index.html, no script, plots as SVG) and the same data as OUT/report.json and
    OUT/epochs.csv, passes.csv, evidence.csv. Safe while the monitor runs.

    \b
    Example:
      keybundle monitor report --state monitor/ -o report/"""
    from keybundle.monitor_history import HISTORY_FILE
    from keybundle.monitor_state import LOCK_FILE, STATE_FILE

    # An empty directory is a fresh state (the report says nothing was verified yet); one
    # holding other files and none of the monitor's is most likely the wrong directory.
    ours = (STATE_FILE, HISTORY_FILE, LOCK_FILE)
    if not any((state_dir / name).exists() for name in ours) and any(state_dir.iterdir()):
        raise UserError(
            f"{state_dir} holds no monitor state ({STATE_FILE}) but other files; give the "
            "--state DIR that 'keybundle monitor' writes"
        )
    data = build_report(state_dir, now=int(time.time()), trust_root=trust_root)
    output.mkdir(parents=True, exist_ok=True)
    files = {
        "index.html": render_html(data),
        "report.json": json.dumps(data, indent=1, sort_keys=True) + "\n",
        **render_csv(data),
    }
    for name, text in files.items():
        durable.replace(output / name, text.encode("utf-8"))
    result = {
        "out": str(output),
        "files": sorted(files),
        "verified_size": data["log"]["verified_size"] or 0,
        "fleets": len(data["fleets"]),
        "evidence_files": data["evidence_files"],
    }
    emit(
        as_json,
        result,
        f"report of {result['verified_size']} entries, {_count(result['fleets'], 'fleet')}, "
        f"{_count(result['evidence_files'], 'evidence file')}: {output / 'index.html'}",
    )


class _MonitorGroup(click.Group):
    """``keybundle monitor URL ...`` follows a log (``follow``, the default); ``keybundle
    monitor report`` writes the report. A group with a default command, so that the
    established ``keybundle monitor URL`` keeps working."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["follow", *args]
        return super().parse_args(ctx, args)


monitor = _MonitorGroup(
    "monitor",
    commands=[follow, report],
    help="Follow a log as an auditor (`keybundle monitor [follow] URL ...`), or write the "
    "auditor's report of its state (`keybundle monitor report`).",
)


def _count(n: int, noun: str) -> str:
    """``1 fleet``, ``2 fleets``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
