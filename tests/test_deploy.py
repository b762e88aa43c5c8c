"""deploy/: the systemd units, their settings files and the container recipe (OPS §6.6).

``systemd-analyze verify`` checks the units where it is installed (Debian's ``systemd``;
skipped otherwise), with ExecStart pointed at this environment's ``keybundle`` (verify
requires the binary to exist); any warning fails, as an unknown key is only a warning.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from keybundle_cli.config import load_config
from keybundle_cli.log import serve as log_serve
from keybundle_cli.monitor import follow
from keybundle_cli.package import publish
from keybundle_cli.witness import serve as witness_serve
from tests.conftest import REPO

SYSTEMD = REPO / "deploy" / "systemd"
UNITS = sorted([*SYSTEMD.glob("*.service"), *SYSTEMD.glob("*.timer")])
SERVICES = [u for u in UNITS if u.suffix == ".service"]
KEYBUNDLE = Path(sys.executable).parent / "keybundle"
ANALYZE = shutil.which("systemd-analyze")


def _verify(directory: Path) -> subprocess.CompletedProcess[str]:
    if ANALYZE is None:
        raise AssertionError("no systemd-analyze")
    return subprocess.run(
        [ANALYZE, "verify", "--man=no", *sorted(p.name for p in directory.iterdir())],
        capture_output=True, text=True, timeout=60, cwd=directory, check=False,
    )  # fmt: skip


def _copy_units(tmp_path: Path) -> Path:
    for unit in UNITS:
        text = unit.read_text().replace("/usr/local/bin/keybundle", str(KEYBUNDLE))
        (tmp_path / unit.name).write_text(text)
    return tmp_path


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (package systemd)")
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    directory = _copy_units(tmp_path)
    verified = _verify(directory)
    assert (verified.returncode, verified.stderr) == (0, "")
    # The check is real: a misspelt hardening key is reported.
    unit = directory / "keybundle-log.service"
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key" in _verify(directory).stderr


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_each_service_is_hardened(unit: Path) -> None:
    settings = re.findall(r"(?m)^(\w+)=(.*)$", unit.read_text())
    values: dict[str, list[str]] = {}
    for key, value in settings:
        values.setdefault(key, []).append(value)
    assert values["User"] == ["keybundle"]
    assert values["NoNewPrivileges"] == ["yes"]
    assert values["ProtectSystem"] == ["strict"]  # read-only, but for StateDirectory
    assert values["StateDirectory"][0].startswith("keybundle/")
    assert values["CapabilityBoundingSet"] == [""]
    assert "ReadWritePaths" not in values
    assert values["ExecStart"][0].startswith("/usr/local/bin/keybundle ")


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("log.toml", log_serve),
        ("witness.toml", witness_serve),
        ("monitor.toml", follow),
        ("publisher.toml", publish),
    ],
)
def test_the_example_settings_are_the_commands_options(name: str, command: click.Command) -> None:
    loaded = load_config(SYSTEMD / name, command)
    assert loaded  # every key is one of the command's parameters (load_config refuses others)
    unit = next(u for u in SERVICES if f"/etc/keybundle/{name}" in u.read_text())
    assert "--config /etc/keybundle/" + name in unit.read_text()


def test_the_container_runs_the_operator_install_unprivileged() -> None:
    recipe = (REPO / "deploy" / "container" / "Containerfile").read_text()
    assert "'.[operator]'" in recipe
    users = re.findall(r"(?m)^USER (\S+)$", recipe)
    assert users == ["keybundle"]
    for source in re.findall(r"(?m)^COPY (.+) \S+$", recipe):
        for path in source.split():
            assert (REPO / path).exists(), (
                f"the recipe copies {path}, which is not in the repository"
            )


def test_the_container_image_owns_the_settings_state_directories() -> None:
    """A new named volume takes the owner of the image directory it is mounted on; one the
    image lacks is created owned by root, and the unprivileged service could not write its
    state there (QA: `-v keybundle-log:/var/lib/keybundle/log` as the header shows)."""
    recipe = (REPO / "deploy" / "container" / "Containerfile").read_text()
    joined = recipe.replace("\\\n", " ")  # one line per instruction
    before_user = joined[: joined.index("\nUSER keybundle")]
    made = re.search(r"install -d -o keybundle -g keybundle -m 0750 ([^&\n]+)", before_user)
    assert made is not None, "the recipe makes no state directory owned by keybundle"
    owned = set(re.findall(r"/var/lib/keybundle/\w+", made.group(1)))
    wanted = set()
    for settings in sorted(SYSTEMD.glob("*.toml")):
        wanted |= set(re.findall(r"/var/lib/keybundle/\w+", settings.read_text()))
    for unit in SERVICES:
        wanted |= set(re.findall(r"-o (/var/lib/keybundle/\w+)", unit.read_text()))
    assert wanted
    assert wanted <= owned, f"not made in the image: {sorted(wanted - owned)}"
