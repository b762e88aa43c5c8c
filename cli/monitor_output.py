"""What ``keybundle monitor`` shows people and machines (OPS §8.3): text, JSON, hooks, alerts.

* Text for people: by default one summary per pass (entries checked, fleets, epochs, key
  changes, checkpoint and witness health) and every problem; ``--verbose`` adds every event
  (each epoch with its keys); ``--quiet`` shows problems only. On a terminal, a backfill draws
  a progress bar with its rate and time left on standard error; piped, nothing extra.
* JSON for machines: one object per event and line, each with ``time`` (RFC 3339, UTC,
  the monitor's clock); ``--quiet`` keeps problems only.
* ``--exec CMD``: run for each event of the chosen kinds, the event as JSON on standard input
  and its members in ``KEYBUNDLE_*`` environment variables (as certspotter's hooks do).
* The ``alert`` event: the log could not be checked for ``--alert-after`` seconds.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import click

from keybundle.monitor import Event, Status

__all__ = [
    "EVENT_KINDS",
    "PROBLEM_KINDS",
    "Alarm",
    "Hook",
    "Output",
    "hook_environment",
    "render",
    "rfc3339",
    "summary",
]

EVENT_KINDS: Final = frozenset(
    {
        "checkpoint", "health", "progress", "epoch", "trust_root", "misbehaviour", "warning",
        "error", "cosigned", "witness_listening", "pass", "alert",
    }
)  # fmt: skip
"""Every event kind of OPS §8.3."""
PROBLEM_KINDS: Final = frozenset({"misbehaviour", "error", "warning", "alert"})
"""What ``--quiet`` keeps, and what ``--exec`` runs for by default."""
_SUMMARY_KINDS: Final = frozenset({"trust_root", "witness_listening"}) | PROBLEM_KINDS
_BAR_WIDTH: Final = 30
_BAR_MIN_ENTRIES: Final = 1024
MAX_HOOK_SECONDS: Final = 60.0
"""Default bound on one run of an ``--exec`` hook."""


def rfc3339(t: float) -> str:
    """``t`` (Unix seconds) as RFC 3339 in UTC, to the second."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _keys(keys: list[dict[str, str]], sign: str) -> list[str]:
    return [f"    {sign} {k['id']} {k['algorithm']} {k['usage']} {k['fingerprint']}" for k in keys]


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def _health_parts(event: Mapping[str, Any]) -> list[str]:
    age = event["checkpoint_age"]
    parts = [f"newest cosignature {age} s old" if age is not None else "no cosignature"]
    if event["missing_witnesses"]:
        parts.append("no cosignature from " + ", ".join(event["missing_witnesses"]))
    if event["stale_witnesses"]:
        parts.append("stale cosignatures from " + ", ".join(event["stale_witnesses"]))
    if event["future_witnesses"]:
        parts.append(
            "cosignatures dated ahead of this clock from " + ", ".join(event["future_witnesses"])
        )
    return parts


def render(event: Event) -> list[str]:
    """The human lines of one event (OPS §8.3); none for progress (drawn as a bar)."""
    kind = event["event"]
    if kind == "checkpoint":
        return [f"checkpoint: {event['origin']} size {event['size']} root {event['root']}"]
    if kind == "health":
        parts = _health_parts(event)
        parts.insert(1, f"{event['behind']} entries to check")
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
    if kind == "alert":
        return [f"ALERT: {event['message']}"]
    if kind == "cosigned":
        return [f"cosigned the checkpoint of size {event['size']}: {event['file']}"]
    if kind == "witness_listening":
        return [f"witness {event['name']} listening on {event['url']}"]
    if kind == "pass":
        verified = event["verified_size"]
        size = "no checkpoint verified yet" if verified is None else f"{verified} entries verified"
        return [f"pass: {event['status']}; {size}"]
    return []


def summary(passed: Event, health: Event | None) -> str:
    """One line for a pass: what it checked and the log's health (the default text output)."""
    verified = passed["verified_size"]
    parts = [
        f"{_plural(passed['checked'], 'entry', 'entries')} checked "
        f"({_plural(passed['fleets'], 'fleet')}, {_plural(passed['epochs'], 'epoch')}, "
        f"{_plural(passed['key_changes'], 'key change')}, "
        f"{_plural(passed['rotations'], 'rotation')})",
        "no checkpoint verified yet" if verified is None else f"log verified to size {verified:,}",
    ]
    if health is not None:
        parts.extend(_health_parts(health))
        if not (health["missing_witnesses"] or health["stale_witnesses"]):
            parts.append("witnesses fresh")
    return f"pass {passed['status']}: " + "; ".join(parts)


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Output:
    """Prints events for people or machines (module doc). ``level``: -1 quiet, 0, 1 verbose.

    ``clock`` is the wall clock stamped on JSON events; ``ticks`` the monotonic clock of
    the progress rate; ``bar`` whether to draw the progress bar (standard error a terminal).
    """

    def __init__(
        self,
        *,
        as_json: bool,
        level: int,
        bar: bool,
        clock: Callable[[], float] = time.time,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self._json = as_json
        self._level = level
        self._bar = bar and not as_json
        self._clock = clock
        self._ticks = ticks
        self._drawn = False
        self._health: Event | None = None
        self._started: tuple[float, int] | None = None

    def __call__(self, event: Event) -> None:
        kind = event["event"]
        if self._json:
            if self._level >= 0 or kind in PROBLEM_KINDS:
                stamped = {**event, "time": rfc3339(self._clock())}
                click.echo(json.dumps(stamped, sort_keys=True))
                sys.stdout.flush()
            return
        if kind == "progress":
            self._progress(event)
            return
        if kind == "health":
            self._health = event
        lines: list[str] = []
        if self._level > 0:
            lines = render(event)
            if kind == "pass":
                lines.append(summary(event, self._health))
        elif kind == "pass":
            if self._level == 0:
                lines = [summary(event, self._health)]
        elif kind in PROBLEM_KINDS or (self._level == 0 and kind in _SUMMARY_KINDS):
            lines = render(event)
        if kind == "pass":
            self._health = None
            self._started = None
        if not lines:
            return
        self._clear()
        for line in lines:
            click.echo(line)

    def _clear(self) -> None:
        if self._drawn:
            click.echo("\r" + " " * (_BAR_WIDTH + 60) + "\r", nl=False, err=True)
            self._drawn = False

    def _progress(self, event: Event) -> None:
        done, total = event["done"], event["total"]
        if not self._bar or total < _BAR_MIN_ENTRIES:
            return
        now = self._ticks()
        if self._started is None:
            # The first chunk's time is unknown: the rate counts from its end.
            self._started = (now, done)
        t0, d0 = self._started
        rate = (done - d0) / (now - t0) if now > t0 and done > d0 else 0.0
        eta = f"ETA {_duration((total - done) / rate)}" if rate > 0 else "ETA --:--:--"
        filled = _BAR_WIDTH * done // total
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        click.echo(
            f"\r[{bar}] {done:,}/{total:,} entries  {rate:,.0f}/s  {eta}", nl=False, err=True
        )
        self._drawn = True


def hook_environment(event: Event) -> dict[str, str]:
    """``KEYBUNDLE_*`` variables of one event: ``KEYBUNDLE_EVENT`` its kind, one per member
    (upper case; null as empty, arrays and objects as JSON), ``KEYBUNDLE_SUMMARY`` its text."""
    env = {"KEYBUNDLE_SUMMARY": "\n".join(render(event))}
    for name, value in event.items():
        key = "KEYBUNDLE_" + name.upper()
        if value is None:
            env[key] = ""
        elif isinstance(value, (list, dict)):
            env[key] = json.dumps(value, sort_keys=True)
        else:
            env[key] = str(value)
    return env


class Hook:
    """``--exec CMD``: runs CMD (split as a shell would, but not through one) for each event
    of ``kinds``, the event as one JSON line on standard input. Its output goes to standard
    error; one that fails or runs over ``timeout`` seconds is reported there, once per run,
    and the monitor goes on (a hook is no reason to stop auditing).
    """

    def __init__(
        self,
        command: str,
        kinds: Iterable[str],
        *,
        timeout: float = MAX_HOOK_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._argv = shlex.split(command)
        if not self._argv:
            raise ValueError("--exec needs a command")
        _check_executable(self._argv[0])
        self._kinds = frozenset(kinds)
        self._timeout = timeout
        self._clock = clock
        self.failures = 0

    def __call__(self, event: Event) -> None:
        if event["event"] not in self._kinds:
            return
        stamped = {**event, "time": rfc3339(self._clock())}
        env = {**os.environ, **hook_environment(stamped)}
        data = (json.dumps(stamped, sort_keys=True) + "\n").encode()
        try:
            done = subprocess.run(
                self._argv,
                input=data,
                env=env,
                stdout=sys.stderr.fileno() if _has_fileno() else None,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            why = f"ran over {self._timeout:g} s and was killed"
        except OSError as e:
            why = f"could not be run ({e.strerror or e})"
        else:
            if done.returncode == 0:
                return
            why = f"exited {done.returncode}"
        self.failures += 1
        click.echo(f"keybundle monitor: --exec hook {self._argv[0]} {why}", err=True)


def _check_executable(program: str) -> None:
    """Refuse (``ValueError``, exit 2) a hook that cannot run, when the monitor starts.

    Otherwise a typo in ``--exec`` shows only when the first problem is found, which may be
    weeks later, as a line on standard error while the alert it should have sent is lost.
    A hook removed after the start is still reported at run time (class doc).
    """
    if "/" not in program:
        if shutil.which(program) is None:
            raise ValueError(f"--exec: {program!r} is not a command found on PATH")
        return
    path = Path(program)
    if not path.exists():
        raise ValueError(f"--exec: {program} does not exist")
    if path.is_dir():
        raise ValueError(f"--exec: {program} is a directory, not a program")
    if not os.access(path, os.X_OK):
        raise ValueError(f"--exec: {program} is not executable (chmod +x, or name its interpreter)")


def _has_fileno() -> bool:
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class Alarm:
    """The ``alert`` event: no pass could check the log for ``after`` seconds (OPS §8.3).

    ``last`` is when the log was last checked (a pass that was not ``unchecked``), from the
    history of the state directory or else the monitor's start. One alert per outage: the
    next is raised only after a pass that checked the log.
    """

    def __init__(self, after: float, last: int) -> None:
        self._after = after
        self._last = last
        self._raised = False

    def after_pass(self, status: Status, now: int) -> Event | None:
        """The alert to emit after a pass with ``status`` at ``now``, if any."""
        if status != Status.UNCHECKED:
            self._last = now
            self._raised = False
            return None
        waited = now - self._last
        if self._after <= 0 or self._raised or waited < self._after:
            return None
        self._raised = True
        return {
            "event": "alert",
            "kind": "unchecked",
            "since": self._last,
            "seconds": waited,
            "message": f"the log could not be checked for {_duration(waited)} (since "
            f"{rfc3339(self._last)}); see the errors above",
        }
