"""Tests for ``keybundle client bootstrap`` (CLI §10.12): the floor an app ships."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from keybundle import Client
from keybundle.state import STATE_FILE, StateDir
from keybundle_cli.commands import cli
from tests.keybundle.world import DEFAULT_FLEET, World


def run(*args: str | int | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _files(tmp_path: Path) -> tuple[World, Path, Path, Path]:
    w = World()
    root = tmp_path / "root.cbor"
    root.write_bytes(w.signed_root)
    p1, p2 = tmp_path / "epoch-1.pkg", tmp_path / "epoch-2.pkg"
    p1.write_bytes(w.fresh_package(DEFAULT_FLEET, 1))
    p2.write_bytes(w.fresh_package(DEFAULT_FLEET, 2))
    (tmp_path / "floor").mkdir()
    return w, root, p1, p2


def test_bootstrap_writes_the_state_of_a_fresh_client(tmp_path: Path) -> None:
    w, root, p1, p2 = _files(tmp_path)
    state_dir = tmp_path / "floor"
    result = run("client", "bootstrap", "--trust-root", root, "--state", state_dir,
                 "--now", w.now, p1, p2)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"fleet '{DEFAULT_FLEET}' epoch 2 (log index 1)" in result.output
    assert "1 fleet(s), checkpoint size 2, 0 trust-root rotation(s)" in result.output
    state = StateDir(state_dir).load()
    assert state.fleets[DEFAULT_FLEET].epoch == 2
    floor = (state_dir / STATE_FILE).read_bytes()
    install = tmp_path / "install"
    install.mkdir()
    assert (
        Client(w.signed_root, install, floor=floor).current_keys(DEFAULT_FLEET, now=w.now).epoch
        == 2
    )


def test_bootstrap_rejection_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    w, root, p1, p2 = _files(tmp_path)
    state_dir = tmp_path / "floor"
    result = run("client", "bootstrap", "--trust-root", root, "--state", state_dir,
                 "--now", w.now, p2, p1)  # fmt: skip
    assert result.exit_code == 1
    assert "rejected (ROLLBACK)" in result.output
    assert not (state_dir / STATE_FILE).exists()


def test_bootstrap_usage_errors_exit_2(tmp_path: Path) -> None:
    w, root, p1, _ = _files(tmp_path)
    missing = run("client", "bootstrap", "--trust-root", root, "--state", tmp_path / "nope", p1)
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    state_dir = tmp_path / "floor"
    assert run("client", "bootstrap", "--trust-root", root, "--state", state_dir,
               "--now", w.now, p1).exit_code == 0  # fmt: skip
    again = run("client", "bootstrap", "--trust-root", root, "--state", state_dir, p1)
    assert again.exit_code == 2
    assert "exists" in again.output
    bad_root = tmp_path / "bad-root.cbor"
    bad_root.write_bytes(b"not a root")
    other = tmp_path / "other"
    other.mkdir()
    bad = run("client", "bootstrap", "--trust-root", bad_root, "--state", other, p1)
    assert bad.exit_code == 2
    assert "not a valid signed trust root" in bad.output
