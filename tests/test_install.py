"""What users install: the base install is the client verifier's, and it is enough for it.

An app that embeds the verifier installs ``keybundle`` without extras and must get only what
the verifier imports (issue 12): the base dependencies are cryptography, pynacl and cbor2,
and the CLI's and the services' (click, requests, waitress, prometheus-client) are the
``operator`` extra. The
import closure is checked for real: a virtual environment is made that holds only the base
dependencies (and what they require), linked from this one so that nothing is downloaded,
plus this checkout's packages; the README's Python client example runs there, and the
``keybundle`` command's ``verify`` works while every other command names the operator install
in one line. (.ci/run does the same with the built wheel installed by pip.)
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from keybundle_cli.main import OPERATOR_MODULES
from tests.conftest import REPO
from tests.keybundle.world import DEFAULT_FLEET, World
from tests.test_readme import blocks

pytestmark = pytest.mark.timeout(120)

CLIENT_DEPENDENCIES = {"cryptography", "pynacl", "cbor2"}
OPERATOR_DEPENDENCIES = {"click", "requests", "waitress", "prometheus-client"}
SERVER_AND_CLI_MODULES = {*OPERATOR_MODULES, "urllib3", "pkcs11", "keybundle_cli"}
OWN_PACKAGES = {"keybundle": "keybundle", "transparency_log": "transparency_log"}
# keybundle_cli is linked too, to run the console script's code; the verifier never imports it.
CLI_PACKAGE = ("keybundle_cli", "cli")


def _project() -> dict[str, object]:
    with (REPO / "pyproject.toml").open("rb") as f:
        project: dict[str, object] = tomllib.load(f)["project"]
    return project


def _names(requirements: object) -> set[str]:
    assert isinstance(requirements, list)
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_the_base_install_is_the_client_verifiers_dependencies() -> None:
    project = _project()
    assert _names(project["dependencies"]) == CLIENT_DEPENDENCIES
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    assert _names(extras["operator"]) == OPERATOR_DEPENDENCIES
    assert _names(extras["hsm"]) == {"python-pkcs11"}
    # The console script checks for exactly the operator extra's modules (import names).
    assert {canonicalize_name(m) for m in OPERATOR_MODULES} == OPERATOR_DEPENDENCIES


def _closure(names: set[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``names`` need on this platform, transitively, no extras."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = sorted(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        dist = importlib.metadata.distribution(name)
        seen[name] = dist
        for line in dist.requires or ():
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _link_distribution(dist: importlib.metadata.Distribution, site: Path) -> None:
    tops = {f.parts[0] for f in dist.files or () if f.parts[0] not in ("..", "__pycache__")}
    for top in sorted(tops):
        source = Path(str(dist.locate_file(top)))
        if source.exists() and not (site / top).exists():
            (site / top).symlink_to(source)


@pytest.fixture(scope="module")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv holding only the base dependencies and our packages."""
    root = tmp_path_factory.mktemp("client-venv") / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    )
    for dist in _closure(CLIENT_DEPENDENCIES):
        _link_distribution(dist, site)
    for name, folder in (*OWN_PACKAGES.items(), CLI_PACKAGE):
        (site / name).symlink_to(REPO / folder)
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [str(python), "-I", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_client_venv_holds_no_operator_dependency(client_python: Path, tmp_path: Path) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    ran = _run(client_python, "-c", probe, *sorted(SERVER_AND_CLI_MODULES), "pytest", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    # keybundle_cli is our own code (linked for the console-script tests), not a dependency.
    assert ran.stdout.strip() == "['keybundle_cli']"


@pytest.fixture(scope="module")
def client_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README example's inputs, made now: a P-256 world (so cryptography is needed)."""
    folder = tmp_path_factory.mktemp("client-files")
    world = World(algorithm="p256", now=int(time.time()))
    (folder / "trust-root-v1.cbor").write_bytes(world.signed_root)
    (folder / "epoch-1.pkg").write_bytes(world.fresh_package(DEFAULT_FLEET))
    return folder


def test_the_readme_client_example_runs_with_the_base_install_alone(
    client_python: Path, client_files: Path
) -> None:
    (example,) = [b for b in blocks() if b.tag == "python"]
    report = (
        "\nimport json, sys\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )

    ran = _run(client_python, "-c", example.body + report, cwd=client_files)

    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert "rejected" not in ran.stdout, ran.stdout
    assert lines[0].startswith("hsm-01.ed25519 ed25519 signing "), lines
    modules = set(json.loads(lines[-1]))
    assert {"keybundle", "cbor2", "cryptography"} <= modules
    assert not SERVER_AND_CLI_MODULES & modules
    assert (client_files / "app-state" / "state.cbor").is_file()


def test_keybundle_verify_works_without_the_operator_install(
    client_python: Path, client_files: Path
) -> None:
    state = client_files / "cli-state"
    state.mkdir()
    args = ["--trust-root", "trust-root-v1.cbor", "--state", str(state), "epoch-1.pkg"]

    ran = _run(client_python, "-m", "keybundle_cli", "verify", *args, cwd=client_files)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"accepted fleet '{DEFAULT_FLEET}' epoch 1" in ran.stdout


@pytest.mark.parametrize("args", [["--version"], ["log", "--help"], ["conformance", "run"]])
def test_other_commands_name_the_operator_install_in_one_line(
    client_python: Path, tmp_path: Path, args: list[str]
) -> None:
    ran = _run(client_python, "-m", "keybundle_cli", *args, cwd=tmp_path)

    assert ran.returncode == 2
    assert ran.stdout == ""
    (line,) = ran.stderr.splitlines()
    assert line.startswith("keybundle: error: ")
    assert "pip install 'keybundle[operator]'" in line
    assert "missing: click, requests, waitress, prometheus_client" in line


def test_the_operator_check_passes_where_the_extra_is_installed() -> None:
    # This environment has the operator extra (the test extra requires it): no false alarm.
    ran = subprocess.run(
        [sys.executable, "-m", "keybundle_cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("keybundle, version ")
