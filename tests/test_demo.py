"""``keybundle demo`` end to end, and the artifacts it promises (CLI §10.10, README).

The demo runs as the real ``keybundle`` process in a temporary directory; then the
README's by-hand steps run on what it left: a fresh client verifies epoch 1, then epoch 2,
and refuses epoch 1 again. ``bash scripts/demo.sh`` (the README's main command) is run with
the existing .venv, which it reuses rather than installing again.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from keybundle.client import verify_package
from keybundle.package import parse_unverified_package
from keybundle.signed_trust_root import verify_self_signed
from keybundle.state import StateDir
from keybundle_cli.commands import cli
from keybundle_cli.demo import DEMO_PASSPHRASE, MARKER_FILE, STEPS
from transparency_log.tlog_proof import parse_tlog_proof

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEYBUNDLE = BIN / "keybundle"
DEMO_BUDGET_SECONDS = 30.0
DAY = 86_400


def _keybundle(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KEYBUNDLE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """One run of ``keybundle demo --workdir DIR`` as a process: (DIR, stdout, seconds)."""
    if not KEYBUNDLE.exists():
        pytest.skip(f"the keybundle console script is not installed beside {sys.executable}")
    workdir = tmp_path_factory.mktemp("demo") / "demo-out"
    started = time.monotonic()
    result = _keybundle("demo", "--workdir", workdir)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return workdir, result.stdout, took


def test_the_demo_runs_every_step_within_its_budget(demo_run: tuple[Path, str, float]) -> None:
    _, stdout, took = demo_run
    assert took < DEMO_BUDGET_SECONDS, f"the demo took {took:.1f} s"
    steps = [line for line in stdout.splitlines() if re.match(r"\[\s*\d+/\d+\] ", line)]
    assert len(steps) == STEPS, stdout
    for needle in (
        f"passphrase '{DEMO_PASSPHRASE}'",
        "trust-root.cbor",
        "POST /add -> index 0",
        "cosigned by demo.keybundle.example/witness",
        "client accepted prod-eu.vault epoch 1",
        "client accepted prod-eu.vault epoch 2",
        "rollback: epoch-1.cbor after epoch 2 -> ROLLBACK",
        "422 COUNTERSIGNATURE_THRESHOLD_NOT_MET; client -> COUNTERSIGNATURE_THRESHOLD_NOT_MET",
        "clean",
        "trust root v2 (new operator key, signed by the old and new keys) logged at index 2",
        "epoch 3 countersigned with the new key, logged at index 3",
        "a client at epoch 1 and trust root v1",
        "accepted epoch 3 and adopted trust root v2",
    ):
        assert needle in stdout, needle


def test_the_demo_leaves_the_promised_artifacts(demo_run: tuple[Path, str, float]) -> None:
    workdir, _, _ = demo_run
    for path in (
        "trust-root.cbor",
        "packages/epoch-1.cbor",
        "packages/epoch-2.cbor",
        "log/checkpoint",
        "log/.keybundle-log/config",
        "keys/independent.key",
        "keys/operator.key",
        "keys/log.key",
        "keys/witness.key",
        "keys/passphrase.txt",
        "bundles/epoch-1.json",
        "bundles/epoch-2.cose",
        "rejected/epoch-3-no-countersignature.cose",
        "client-state/state.cbor",
        "client-state-behind/state.cbor",
        "trust-root-v2.cbor",
        "keys/operator-v2.key",
        "bundles/epoch-3.cose",
        "published/index.json",
        "published/fleets/prod-eu.vault.cbor",
        MARKER_FILE,
    ):
        assert (workdir / path).is_file(), path
    assert (workdir / "client-state-fresh").is_dir()
    assert not any((workdir / "client-state-fresh").iterdir())
    assert b"ENCRYPTED PRIVATE KEY" in (workdir / "keys" / "operator.key").read_bytes()
    package = parse_unverified_package((workdir / "packages" / "epoch-2.cbor").read_bytes())
    assert package.consistency is not None
    assert package.consistency.old_size == 1
    assert (workdir / "keys" / "operator-v2.key").stat().st_mode & 0o077 == 0
    published = parse_unverified_package(
        (workdir / "published" / "fleets" / "prod-eu.vault.cbor").read_bytes()
    )
    assert [(r.signed_trust_root, r.index) for r in published.rotations] == [
        ((workdir / "trust-root-v2.cbor").read_bytes(), 2)
    ]
    assert published.proof.index == 3


def test_the_servers_are_stopped_when_the_demo_ends(demo_run: tuple[Path, str, float]) -> None:
    _, stdout, _ = demo_run
    ports = [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", stdout)]
    assert len(ports) == 2
    for port in ports:
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))


def test_by_hand_a_fresh_client_accepts_epoch_1_then_2_and_refuses_going_back(
    demo_run: tuple[Path, str, float], tmp_path: Path
) -> None:
    workdir, stdout, _ = demo_run
    state = tmp_path / "client-state-fresh"  # a copy: the module's other tests share the run
    shutil.copytree(workdir / "client-state-fresh", state)
    root = workdir / "trust-root.cbor"
    hints = [line.strip() for line in stdout.splitlines() if " verify --trust-root " in line]
    assert len(hints) == 2
    assert hints[0].endswith(
        f"--state {workdir}/client-state-fresh {workdir}/packages/epoch-1.cbor"
    )

    first = _keybundle(
        "verify", "--trust-root", root, "--state", state, workdir / "packages/epoch-1.cbor"
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("accepted fleet 'prod-eu.vault' epoch 1 with 4 key(s)")
    second = _keybundle(
        "verify", "--trust-root", root, "--state", state, workdir / "packages/epoch-2.cbor"
    )
    assert second.returncode == 0, second.stderr
    assert "epoch 2" in second.stdout
    back = _keybundle(
        "verify", "--trust-root", root, "--state", state, workdir / "packages/epoch-1.cbor"
    )
    assert back.returncode == 1
    assert back.stderr.startswith("rejected (ROLLBACK)")


@pytest.mark.parametrize("days_later", [0, 30, 300])
def test_the_packages_keep_verifying_long_after_the_demo(
    demo_run: tuple[Path, str, float], tmp_path: Path, days_later: int
) -> None:
    workdir, _, _ = demo_run
    pinned = verify_self_signed((workdir / "trust-root.cbor").read_bytes())
    store = StateDir(tmp_path)
    now = int(time.time()) + days_later * DAY
    for epoch in (1, 2):
        package = (workdir / "packages" / f"epoch-{epoch}.cbor").read_bytes()
        accepted = verify_package(package, pinned, store.load(), now)
        store.save(accepted.state)
        assert accepted.epoch == epoch


def test_the_log_is_usable_by_the_other_commands_after_the_demo(
    demo_run: tuple[Path, str, float], tmp_path: Path
) -> None:
    workdir, _, _ = demo_run
    proof = _keybundle("log", "proof", workdir / "log", "--index", "1")
    assert proof.returncode == 0, proof.stderr
    assert parse_tlog_proof(proof.stdout).index == 1
    out = tmp_path / "again.cbor"
    built = _keybundle(
        "package", "build", "--log", workdir / "log", "--index", "1", "--from-size", "1", "-o", out
    )
    assert built.returncode == 0, built.stderr
    again = parse_unverified_package(out.read_bytes())
    epoch2 = parse_unverified_package((workdir / "packages" / "epoch-2.cbor").read_bytes())
    assert (again.signed_bundle, again.proof.index) == (epoch2.signed_bundle, 1)
    assert again.consistency is not None
    assert again.consistency.old_size == 1
    # The log grew after epoch-2.cbor: the package now carries the rotation found in the log.
    assert [r.index for r in again.rotations] == [2]
    latest = _keybundle(
        "package", "build", "--log", workdir / "log", "--fleet", "prod-eu.vault",
        "-o", tmp_path / "latest.cbor",
    )  # fmt: skip
    assert latest.returncode == 0, latest.stderr
    assert "epoch 3" in latest.stdout
    assert (tmp_path / "latest.cbor").read_bytes() == (
        workdir / "published" / "fleets" / "prod-eu.vault.cbor"
    ).read_bytes()
    rejected = _keybundle(
        "bundle", "verify", workdir / "rejected/epoch-3-no-countersignature.cose",
        "--trust-root", workdir / "trust-root.cbor",
    )  # fmt: skip
    assert rejected.returncode == 1
    assert "COUNTERSIGNATURE_THRESHOLD_NOT_MET" in rejected.stderr


# -- the work directory ---------------------------------------------------------------------


def test_a_second_run_moves_the_first_aside_and_never_deletes_it(tmp_path: Path) -> None:
    workdir = tmp_path / "out"
    first = CliRunner().invoke(cli, ["demo", "--workdir", str(workdir)], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    root = (workdir / "trust-root.cbor").read_bytes()

    second = CliRunner().invoke(cli, ["demo", "--workdir", str(workdir)], catch_exceptions=False)

    assert second.exit_code == 0, second.output
    assert f"moved to {workdir}.1/" in second.stdout
    assert (tmp_path / "out.1" / "trust-root.cbor").read_bytes() == root
    assert (workdir / "trust-root.cbor").read_bytes() != root


def test_a_directory_that_is_not_a_demos_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep")

    result = CliRunner().invoke(cli, ["demo", "--workdir", str(tmp_path)], catch_exceptions=False)

    assert result.exit_code == 2
    assert "is not empty and is not a previous demo's output" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def test_a_workdir_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(tmp_path / "f" / "sub")])
    assert result.exit_code == 2
    assert f"cannot create --workdir {tmp_path / 'f' / 'sub'}" in result.stderr


def test_a_file_as_workdir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(tmp_path / "f")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# -- the README's main command ----------------------------------------------------------------


def test_scripts_demo_sh_reuses_the_venv_and_runs_the_demo(tmp_path: Path) -> None:
    """``bash scripts/demo.sh`` with arguments in place of ``--workdir demo-out``."""
    venv_keybundle = REPO / ".venv" / "bin" / "keybundle"
    if not venv_keybundle.exists():
        pytest.skip("no .venv in the repository (scripts/test.sh and scripts/demo.sh make it)")
    workdir = tmp_path / "demo-out"
    env = {**os.environ, "PIP_NO_INDEX": "1"}  # installing again would fail: it must not
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "setting up .venv" not in result.stdout
    assert (workdir / "packages" / "epoch-2.cbor").is_file()
    assert f".venv/bin/keybundle verify --trust-root {workdir}/trust-root.cbor" in result.stdout
