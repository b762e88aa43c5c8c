"""``keybundle monitor report`` (OPS §8.6): the auditor's report matches the monitor's state,
is self-contained, and renders in headless Chromium (skipped where ``chromium`` is absent:
scripts/test.sh does not install it, as it would cost CI minutes).

:func:`example_state` builds a week of a small log's life (two fleets, key rotations, a day
without quorum, a conflicting epoch) as a monitor saw it; scripts/report_screenshot.py uses
it for the README's screenshot.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from keybundle.monitor import Monitor, Status
from keybundle.monitor_history import read_history
from keybundle.monitor_state import StateDir
from keybundle_cli.commands import cli
from tests.keybundle.test_monitor import append, cosign
from tests.keybundle.world import DAY, T0, World, fleet_keys
from transparency_log.fetcher import DirectoryFetcher

FLEETS = ("prod-eu.vault", "prod-us.vault")


def example_state(tmp_path: Path) -> tuple[World, Path, list[Status]]:
    """A week of passes over a growing log; returns the world, the state dir, the statuses."""
    world = World()
    log = tmp_path / "log"
    state = tmp_path / "state"
    statuses = []
    epoch = {f: 0 for f in FLEETS}
    for day in range(7):
        world.now = T0 + day * DAY
        entries = []
        for fleet in FLEETS[: 1 + day % 2]:
            epoch[fleet] += 1
            entries.append(world.publish(fleet, epoch[fleet])[0])
        if day == 6:  # a second bundle for an epoch already logged: misbehaviour
            entries.append(world.signed_bundle(FLEETS[0], epoch[FLEETS[0]],
                                               keys=fleet_keys(FLEETS[0], 99)))  # fmt: skip
        append(log, world, entries, cosigned=False)
        if day == 3:  # one witness only: no quorum, the pass cannot check
            cosign(log, world, witnesses=world.witnesses[:1])
        elif day == 4:  # one witness lags behind by two days
            cosign(log, world, witnesses=world.witnesses[:1])
            cosign(log, world, witnesses=world.witnesses[1:], at=world.now - 2 * DAY)
        else:
            cosign(log, world)
        directory = StateDir(state, fsync=False)
        directory.lock()
        try:
            monitor = Monitor(DirectoryFetcher(log), world.signed_root, directory,
                              emit=lambda e: None)  # fmt: skip
            for lag in (300, 3600):
                statuses.append(monitor.run_pass(world.now + lag))
        finally:
            directory.unlock()
    return world, state, statuses


def make_report(tmp_path: Path) -> tuple[World, Path, Path]:
    world, state, statuses = example_state(tmp_path)
    assert Status.UNCHECKED in statuses
    assert statuses[-2] == Status.MISBEHAVIOUR
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        ["monitor", "report", "--state", str(state), "-o", str(out), "--trust-root", "root.cbor"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("report of ")
    return world, state, out


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path, Path]:
    return make_report(tmp_path_factory.mktemp("report"))


def test_the_report_numbers_are_the_monitor_state(made: tuple[World, Path, Path]) -> None:
    _, state, out = made
    saved = json.loads((state / "state.json").read_text())
    data = json.loads((out / "report.json").read_text())
    assert data["format"] == "keybundle-monitor-report/v2"
    assert data["log"]["checked_entries"] == saved["size"]
    assert data["log"]["checkpoint"]["note"] == saved["checkpoint"]
    assert data["log"]["verified_size"] == int(saved["checkpoint"].split("\n")[1])
    heads = {f["fleet"]: (f["epoch"], f["index"]) for f in data["fleets"]}
    assert heads == {n: (h["epoch"], h["index"]) for n, h in saved["fleets"].items()}
    for fleet in data["fleets"]:
        # Every epoch up to the head, each with its date, signers and key changes.
        assert [h["epoch"] for h in fleet["history"]] == list(range(1, fleet["epoch"] + 1))
        assert all(h["issued_at"] and len(h["signers"]) >= 2 for h in fleet["history"])
        assert all(h["added"] and (h["epoch"] == 1 or h["removed"]) for h in fleet["history"])
    evidence = sorted((state / "evidence").iterdir())
    assert [e["file"] for e in data["evidence"]] == [str(p) for p in evidence]
    assert data["evidence"][0]["reason"] == "EPOCH_CONFLICT"
    assert data["evidence"][0]["command"] == (
        f"keybundle evidence verify {evidence[0]} --trust-root root.cbor"
    )
    passes = [r for r in read_history(state) if r["record"] == "pass"]
    assert len(data["passes"]) == len(passes)
    assert {p["status"] for p in passes} == {"clean", "unchecked", "misbehaviour"}
    assert any(p["stale_witnesses"] for p in passes)

    rows = list(csv.reader(io.StringIO((out / "epochs.csv").read_text())))
    assert len(rows) - 1 == sum(len(f["history"]) for f in data["fleets"])
    rows = list(csv.reader(io.StringIO((out / "passes.csv").read_text())))
    assert len(rows) - 1 == len(passes)
    rows = list(csv.reader(io.StringIO((out / "evidence.csv").read_text())))
    assert rows[1][-1] == data["evidence"][0]["command"]


def test_the_page_is_self_contained(made: tuple[World, Path, Path]) -> None:
    _, _, out = made
    page = (out / "index.html").read_text()
    assert "<script" not in page.lower()
    # Nothing fetched: the only URL is the SVG namespace (a name, never loaded).
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}
    assert re.search(r"\bsrc=", page) is None
    assert page.count("<svg ") == 3
    assert "keybundle evidence verify" in page


def test_report_needs_a_state_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["monitor", "report", "--state", str(tmp_path / "none"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "history.jsonl").write_bytes(b"{nope\n")
    result = CliRunner().invoke(
        cli, ["monitor", "report", "--state", str(tmp_path / "bad"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "history" in result.output
    assert "line 1" in result.output


CHROMIUM = shutil.which("chromium")


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        raise AssertionError("no chromium")
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", f"--user-data-dir={cwd / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=90, cwd=cwd, check=False,
    )  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_page_renders_in_headless_chromium(
    made: tuple[World, Path, Path], tmp_path: Path
) -> None:
    out = made[2]
    page = (out / "index.html").as_uri()
    dom = chromium("--dump-dom", page, cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    data = json.loads((out / "report.json").read_text())
    # The numbers the browser shows are the monitor's.
    shown = dict(re.findall(r'<span id="([a-z-]+)"[^>]*>([0-9]+)</span>', dom.stdout))
    assert shown == {
        "verified-size": str(data["log"]["verified_size"]),
        "checked-entries": str(data["log"]["checked_entries"]),
        "fleet-count": str(len(data["fleets"])),
        "evidence-count": str(data["evidence_files"]),
    }
    assert dom.stdout.count("<polyline") >= 3
    shot = tmp_path / "shot.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1200,1600", page, cwd=tmp_path)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # not a blank page


def test_a_report_of_a_fresh_state_says_nothing_was_verified(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    result = CliRunner().invoke(
        cli, ["monitor", "report", "--state", str(tmp_path / "state"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    page = (tmp_path / "o" / "index.html").read_text()
    assert "no checkpoint verified yet" in page
    assert page.count("no data yet") == 3
    assert json.loads((tmp_path / "o" / "report.json").read_text())["fleets"] == []
