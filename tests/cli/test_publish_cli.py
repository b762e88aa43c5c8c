"""``keybundle log rotations``, ``package build --fleet``, ``package inspect``, ``package
publish`` (OPS §7.7, CLI §10.9): the log's own history, read by the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from keybundle.client import verify_package
from keybundle.package import parse_unverified_package
from keybundle.publisher import INDEX_FILE, fleet_path
from keybundle.state import ClientState
from keybundle_cli._common import utc
from keybundle_cli.commands import cli
from tests.keybundle.fleetlog import FleetLog
from tests.keybundle.world import World

pytestmark = pytest.mark.timeout(90)

FLEETS = ("a.vault", "b.vault")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def fl(tmp_path: Path) -> FleetLog:
    """Two fleets, rotations to v2 and v3, the latest bundles under v3, cosigned now; the
    starting root in tmp/root.cbor."""
    log = FleetLog(tmp_path / "log", World(now=int(time.time())))  # publish reads the clock
    for fleet in FLEETS:
        log.add_bundle(fleet)
    log.rotate()
    log.rotate()
    for fleet in FLEETS:
        log.add_bundle(fleet)
    log.cosign()
    (tmp_path / "root.cbor").write_bytes(log.signed_roots[1])
    return log


def test_log_rotations_lists_every_rotation_judged_from_the_starting_root(
    fl: FleetLog, tmp_path: Path
) -> None:
    result = run("log", "rotations", "--log", fl.root, "--trust-root", tmp_path / "root.cbor")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"log log.example/keybundle size {fl.world.size}: started with trust root v1, 2 rotation(s)"
    )
    assert lines[1].startswith(f"v2 at index {fl.rotation_index[2]} sha256 ")
    assert lines[2].startswith(f"v3 at index {fl.rotation_index[3]} sha256 ")

    as_json = run(
        "log", "rotations", "--log", fl.root, "--trust-root", tmp_path / "root.cbor", "--json"
    )
    info = json.loads(as_json.stdout)["result"]
    assert info["start_version"] == 1
    assert [(r["version"], r["index"]) for r in info["rotations"]] == [
        (2, fl.rotation_index[2]),
        (3, fl.rotation_index[3]),
    ]

    unknown = run("log", "rotations", "--log", fl.root)  # no config, no trust root
    assert unknown.exit_code == 2
    assert "--trust-root" in unknown.stderr


def test_build_by_fleet_carries_the_logs_rotations_and_checks_at_now(
    fl: FleetLog, tmp_path: Path
) -> None:
    root, out = tmp_path / "root.cbor", tmp_path / "b.cbor"
    now = str(fl.world.now)
    result = run(
        "package", "build", "--log", fl.root, "--trust-root", root, "--fleet", "b.vault",
        "-o", out, "--now", now,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "fleet 'b.vault' epoch 2" in result.stdout
    assert "2 trust-root rotation(s)" in result.stdout
    pkg = parse_unverified_package(out.read_bytes())
    assert [r.index for r in pkg.rotations] == [fl.rotation_index[2], fl.rotation_index[3]]
    assert verify_package(out.read_bytes(), fl.pinned(1), ClientState(), fl.world.now).epoch == 2

    later = str(fl.world.now + 2 * 86_400)  # the cosignatures are older than a day by then
    stale = run(
        "package", "build", "--log", fl.root, "--trust-root", root, "--fleet", "b.vault",
        "-o", tmp_path / "late.cbor", "--now", later,
    )  # fmt: skip
    assert stale.exit_code == 1
    assert "rejected (STALE_COSIGNATURE)" in stale.stderr
    assert not (tmp_path / "late.cbor").exists()

    for args, message in (
        (("--fleet", "nobody.vault"), "holds no valid bundle of fleet 'nobody.vault'"),
        (("--fleet", "b.vault", "--index", "0"), "exactly one of --index N and --fleet"),
        ((), "exactly one of --index N and --fleet"),
    ):
        bad = run(
            "package", "build", "--log", fl.root, "--trust-root", root, "-o",
            tmp_path / "x.cbor", *args,
        )  # fmt: skip
        assert bad.exit_code == 2, args
        assert message in bad.stderr


def test_inspect_shows_what_a_package_carries(fl: FleetLog, tmp_path: Path) -> None:
    root, out = tmp_path / "root.cbor", tmp_path / "a.cbor"
    built = run(
        "package", "build", "--log", fl.root, "--trust-root", root, "--fleet", "a.vault",
        "-o", out, "--now", str(fl.world.now), "--from-size", "1",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    an_hour_later = str(fl.world.now + 3600)

    plain = run("package", "inspect", out, "--now", an_hour_later)
    assert plain.exit_code == 0, plain.output
    text = plain.stdout
    assert "fleet 'a.vault' epoch 2 at index" in text
    assert f"size {fl.world.size}, age 1.0 h; signatures NOT verified (no --trust-root)" in text
    assert f"cosigned by witness.example/w1 at {utc(fl.world.now)} (1.0 h ago)" in text
    assert (
        f"trust-root rotations carried: 2 (v2 at index {fl.rotation_index[2]}, "
        f"v3 at index {fl.rotation_index[3]})"
    ) in text
    assert " to v" not in text  # one rotation read "chain v2 to v2" (issue 13)
    assert "consistency proof from size 1" in text

    checked = run("package", "inspect", out, "--now", an_hour_later, "--trust-root", root)
    assert "signatures verified" in checked.stdout
    assert "a fresh client pinning the trust root accepts it" in checked.stdout

    info = json.loads(
        run(
            "package", "inspect", out, "--json", "--now", an_hour_later, "--trust-root", root
        ).stdout
    )["result"]
    assert info["fleet"] == "a.vault"
    assert info["checkpoint"]["age"] == 3600
    assert info["chain"]["from_version"] == 2
    assert info["chain"]["to_version"] == 3
    assert info["consistency"]["old_size"] == 1
    assert info["fresh_client"] == {"verified": True}

    a_week_later = str(fl.world.now + 7 * 86_400)
    stale = json.loads(
        run("package", "inspect", out, "--json", "--now", a_week_later, "--trust-root", root).stdout
    )["result"]
    assert stale["fresh_client"]["reason"] == "STALE_COSIGNATURE"

    (tmp_path / "junk.cbor").write_bytes(b"\xa0")
    junk = run("package", "inspect", tmp_path / "junk.cbor")
    assert junk.exit_code == 1
    assert "rejected (MALFORMED_PACKAGE)" in junk.stderr


def test_publish_writes_packages_once_then_only_on_change(fl: FleetLog, tmp_path: Path) -> None:
    root, out = tmp_path / "root.cbor", tmp_path / "out"
    first = run("package", "publish", "--log", fl.root, "--trust-root", root, "--out", out)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(
        f"published 2 fleet package(s) at checkpoint size {fl.world.size} "
        f"({fl.world.size} new entries read, the log read from entry 0) in "
    )
    assert first.stderr == ""  # every fleet was re-issued under v3
    index = json.loads((out / INDEX_FILE).read_text())
    assert {e["trust_root_version"] for e in index["fleets"]} == {3}
    for entry in index["fleets"]:
        data = (out / fleet_path(entry["fleet"])).read_bytes()
        assert verify_package(data, fl.pinned(1), ClientState(), fl.world.now)

    again = run("package", "publish", "--log", fl.root, "--trust-root", root, "--out", out)
    assert again.exit_code == 0, again.output
    assert again.stdout == f"nothing to publish: checkpoint size {fl.world.size} unchanged\n"

    fl.rotate()  # v4: both fleets are now signed under an older root
    fl.cosign(fl.world.now + 1)
    older = run("package", "publish", "--log", fl.root, "--trust-root", root, "--out", out)
    assert older.exit_code == 0, older.output
    assert "note: 2 fleet(s) signed under an older trust root" in older.stderr
    assert "a.vault, b.vault" in older.stderr
    assert "warning" not in older.stderr

    fl.cosign(fl.world.now - 2 * 86_400)  # the log stopped re-cosigning two days ago
    stale = run("package", "publish", "--log", fl.root, "--trust-root", root, "--out", out)
    assert stale.exit_code == 0, stale.output
    assert (
        "warning: clients of trust-root version(s) v1, v2, v3, v4 would not count a fresh "
        "witness quorum on this checkpoint"
    ) in stale.stderr

    missing = run("package", "publish", "--log", fl.root, "--out", out)
    assert missing.exit_code == 2
    assert "--trust-root" in missing.stderr


def test_publish_follow_republishes_a_recosigned_checkpoint_and_stops_on_sigterm(
    fl: FleetLog, tmp_path: Path
) -> None:
    root, out = tmp_path / "root.cbor", tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "keybundle_cli", "package", "publish", "--log", str(fl.root),
            "--trust-root", str(root), "--out", str(out), "--follow", "--interval", "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    try:
        index = out / INDEX_FILE
        deadline = time.monotonic() + 30
        while not index.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert index.exists()
        before = json.loads(index.read_text())["checkpoint"]["cosignatures"]
        fl.cosign(fl.world.now + 60)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                after = json.loads(index.read_text())["checkpoint"]["cosignatures"]
            except (OSError, ValueError):
                continue
            if after != before:
                break
        assert after == {name: fl.world.now + 60 for name in before}
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, stderr
    assert stdout.decode().count("published 2 fleet package(s)") == 2


def test_inspect_with_the_trust_root_of_another_log_is_rejected(
    fl: FleetLog, tmp_path: Path
) -> None:
    from keybundle.signed_trust_root import sign_trust_root
    from transparency_log import note
    from transparency_log.policy import parse_policy

    out = tmp_path / "a.cbor"
    built = run(
        "package", "build", "--log", fl.root, "--trust-root", tmp_path / "root.cbor",
        "--fleet", "a.vault", "-o", out, "--now", str(fl.world.now),
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    _, vkey = note.generate_key("other.example/log", sig_type=1)
    other = fl.world.make_root(1, policy=parse_policy(f"log {vkey}\nquorum none\n"))
    (tmp_path / "other.cbor").write_bytes(
        sign_trust_root(other, [fl.world.independent, fl.world.operator])
    )
    result = run("package", "inspect", out, "--trust-root", tmp_path / "other.cbor")
    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (UNTRUSTED_NOTE)")
