"""``keybundle monitor`` for people and machines (OPS §8.3): summary, --verbose, --quiet, the
progress bar's rate and ETA, timestamps, --exec hooks, the alert event, exit 130 on Ctrl-C.

Output classes are driven with made-up events and clocks; the command runs against a local
tile directory (no network), and the daemon as a real process interrupted with SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keybundle.monitor import Status
from keybundle.monitor_history import History, read_history
from keybundle_cli.commands import cli
from keybundle_cli.monitor_output import Alarm, Hook, Output, hook_environment, summary
from tests.keybundle.test_monitor import append, history
from tests.keybundle.world import World

KEYBUNDLE = Path(sys.executable).parent / "keybundle"

HEALTH = {
    "event": "health", "size": 9, "checkpoint_age": 4, "missing_witnesses": [],
    "stale_witnesses": ["w2"], "future_witnesses": [], "witness_ages": {"w1": 4, "w2": 9000},
    "behind": 9,
}  # fmt: skip
EPOCH = {
    "event": "epoch", "fleet": "f", "epoch": 1, "index": 0, "digest": "00" * 32,
    "issued_at": 1, "signers": [], "added": [], "removed": [], "kept": [],
}  # fmt: skip
PASS = {
    "event": "pass", "status": "clean", "size": 9, "verified_size": 9, "checked": 9,
    "epochs": 9, "fleets": 1, "key_changes": 54, "rotations": 0,
}  # fmt: skip
ERROR = {"event": "error", "reason": None, "message": "could not fetch"}


def shown(capsys: pytest.CaptureFixture[str], level: int, *events: dict[str, Any]) -> str:
    out = Output(as_json=False, level=level, bar=False)
    for event in events:
        out(event)
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("default: one summary per pass, and problems", ["could not check", "pass clean: 9"]),
        ("quiet: problems only", ["could not check"]),
        ("verbose: every event, then the summary", [
            "health:", "epoch: fleet f epoch 1", "could not check", "pass: clean", "pass clean: 9",
        ]),
    ],
)  # fmt: skip
def test_output_levels(capsys: pytest.CaptureFixture[str], level: str, expected: list[str]) -> None:
    number = {"default": 0, "quiet": -1, "verbose": 1}[level.split(":", maxsplit=1)[0]]
    lines = shown(capsys, number, HEALTH, EPOCH, ERROR, PASS).splitlines()
    assert len(lines) == len(expected), lines
    assert all(line.startswith(e) for line, e in zip(lines, expected, strict=True)), lines


def test_the_summary_names_what_was_checked_and_the_health() -> None:
    assert summary(PASS, HEALTH) == (
        "pass clean: 9 entries checked (1 fleet, 9 epochs, 54 key changes, 0 rotations); "
        "log verified to size 9; newest cosignature 4 s old; stale cosignatures from w2"
    )
    fresh = {**HEALTH, "stale_witnesses": []}
    assert summary({**PASS, "verified_size": None}, fresh).endswith(
        "no checkpoint verified yet; newest cosignature 4 s old; witnesses fresh"
    )


def test_json_events_carry_a_timestamp(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output(as_json=True, level=0, bar=False, clock=lambda: 1_780_000_000)
    out(PASS)
    assert json.loads(capsys.readouterr().out)["time"] == "2026-05-28T20:26:40Z"
    quiet = Output(as_json=True, level=-1, bar=False, clock=lambda: 0)
    quiet(PASS)
    quiet(ERROR)
    assert [json.loads(x)["event"] for x in capsys.readouterr().out.splitlines()] == ["error"]


def test_the_progress_bar_shows_rate_and_eta(capsys: pytest.CaptureFixture[str]) -> None:
    ticks = iter([100.0, 102.0])
    out = Output(as_json=False, level=0, bar=True, ticks=lambda: next(ticks))
    out({"event": "progress", "done": 4096, "total": 50_000, "size": 4096})
    out({"event": "progress", "done": 12288, "total": 50_000, "size": 12288})
    bar = capsys.readouterr().err.split("\r")[-1]
    assert "12,288/50,000 entries" in bar
    assert "4,096/s" in bar
    assert "ETA 0:00:09" in bar
    piped = Output(as_json=False, level=0, bar=False)
    piped({"event": "progress", "done": 4096, "total": 50_000, "size": 4096})
    assert capsys.readouterr() == ("", "")


def test_a_hook_gets_the_event_on_stdin_and_in_its_environment(tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        "event = json.load(sys.stdin)\n"
        f"open({str(seen)!r}, 'w').write(json.dumps([event, os.environ['KEYBUNDLE_EVENT'], "
        "os.environ['KEYBUNDLE_REASON'], os.environ['KEYBUNDLE_SUMMARY']]))\n"
    )
    hook = Hook(f"{sys.executable} {script}", ["error"], clock=lambda: 0)
    hook(PASS)  # not a chosen kind
    assert not seen.exists()
    hook({**ERROR, "reason": "NETWORK"})
    event, kind, reason, text = json.loads(seen.read_text())
    assert (event["message"], event["time"], kind, reason) == (
        "could not fetch", "1970-01-01T00:00:00Z", "error", "NETWORK",
    )  # fmt: skip
    assert text == "could not check (NETWORK): could not fetch"
    assert hook.failures == 0


def test_a_failing_or_slow_hook_is_reported_and_the_monitor_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Hook(f"{sys.executable} -c 'raise SystemExit(3)'", ["error"])(ERROR)
    assert "--exec hook" in capsys.readouterr().err
    slow = Hook(f"{sys.executable} -c 'import time; time.sleep(30)'", ["error"], timeout=0.5)
    started = time.monotonic()
    slow(ERROR)
    assert time.monotonic() - started < 10
    assert slow.failures == 1
    # A hook that goes away after the start is reported when it should run.
    gone = tmp_path / "gone-hook"
    gone.write_text("#!/bin/sh\n")
    gone.chmod(0o755)
    missing = Hook(str(gone), ["error"])
    gone.unlink()
    missing(ERROR)
    assert "could not be run" in capsys.readouterr().err
    assert hook_environment({"event": "x", "n": None, "l": [1]}) == {
        "KEYBUNDLE_SUMMARY": "", "KEYBUNDLE_EVENT": "x", "KEYBUNDLE_N": "", "KEYBUNDLE_L": "[1]",
    }  # fmt: skip


def test_the_alert_is_raised_once_per_outage() -> None:
    alarm = Alarm(600, last=1000)
    assert alarm.after_pass(Status.UNCHECKED, 1500) is None
    alert = alarm.after_pass(Status.UNCHECKED, 1600)
    assert alert is not None
    assert (alert["event"], alert["seconds"], alert["since"]) == ("alert", 600, 1000)
    assert alarm.after_pass(Status.UNCHECKED, 9000) is None  # once
    assert alarm.after_pass(Status.MISBEHAVIOUR, 9100) is None  # checked: the outage ends
    assert alarm.after_pass(Status.UNCHECKED, 9800) is not None
    assert Alarm(0, last=0).after_pass(Status.UNCHECKED, 10**9) is None  # 0: never


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def local_log(tmp_path: Path, epochs: int = 2) -> tuple[World, Path, Path]:
    world = World()
    log = tmp_path / "log"
    append(log, world, history(world, epochs=epochs))
    root = tmp_path / "root.cbor"
    root.write_bytes(world.signed_root)
    return world, log, root


def test_the_command_prints_a_summary_and_keeps_quiet(tmp_path: Path) -> None:
    _, log, root = local_log(tmp_path)
    state = tmp_path / "state"
    code, out = invoke("monitor", "--trust-root", str(root), "--state", str(state), str(log),
                       "--once")  # fmt: skip
    assert code == 0, out
    assert out.startswith("pass clean: 2 entries checked (1 fleet, 2 epochs, 12 key changes")
    code, out = invoke("monitor", "--trust-root", str(root), "--state", str(state), str(log),
                       "--once", "--quiet")  # fmt: skip
    assert (code, out) == (0, "")
    code, out = invoke("monitor", "--trust-root", str(root), "--state", str(state), str(log),
                       "--once", "--quiet", "--verbose")  # fmt: skip
    assert code == 2
    assert "exclude each other" in out
    code, out = invoke("monitor", "--trust-root", str(root), "--state", str(state), str(log),
                       "--once", "--exec", "true", "--exec-on", "pass,nonsense")  # fmt: skip
    assert code == 2
    assert "unknown event kind(s) nonsense" in out

    # A hook that cannot run is refused at the start, not when the first problem is found.
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    for hook, why in [
        (str(tmp_path / "missing"), f"--exec: {tmp_path / 'missing'} does not exist"),
        (str(tmp_path), f"--exec: {tmp_path} is a directory, not a program"),
        (str(plain), f"--exec: {plain} is not executable"),
        ("no-such-command-xyz --flag", "--exec: 'no-such-command-xyz' is not a command found"),
    ]:
        code, out = invoke("monitor", "--trust-root", str(root), "--state", str(state),
                           str(log), "--once", "--exec", hook)  # fmt: skip
        assert code == 2, out
        assert out.startswith(f"keybundle: error: {why}"), out
        assert out.count("\n") == 1


def test_the_command_runs_hooks_and_alerts_when_unchecked_too_long(tmp_path: Path) -> None:
    _, log, root = local_log(tmp_path)
    state = tmp_path / "state"
    # The history says the log was last checked long ago; now the log is unreachable.
    past = History(state)
    past.record_pass(1000, {"status": "clean"})
    past.flush()
    seen = tmp_path / "seen.jsonl"
    hook = f"{sys.executable} -c \"import sys; open({str(seen)!r}, 'a').write(sys.stdin.read())\""
    (log / "checkpoint").write_bytes(b"not a checkpoint\n")
    code, out = invoke("monitor", "--trust-root", str(root), "--state", str(state), str(log),
                       "--once", "--exec", hook, "--alert-after", "60")  # fmt: skip
    assert code == 2, out
    assert "ALERT: the log could not be checked for" in out
    kinds = [json.loads(line)["event"] for line in seen.read_text().splitlines()]
    assert kinds == ["error", "alert"]
    assert read_history(state)[-1]["status"] == "unchecked"


def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    _, log, root = local_log(tmp_path, epochs=1)
    process = subprocess.Popen(
        [str(KEYBUNDLE), "monitor", "--trust-root", str(root), "--state", str(tmp_path / "s"),
         str(log), "--json", "--interval", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line or json.loads(line)["event"] == "pass":
                break
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 130
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
