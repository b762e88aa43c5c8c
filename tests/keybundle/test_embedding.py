"""The embedded verifier's footprint (STYLE: "Imports run one way"; issue 5, embedding).

A client app embeds ``keybundle.client``: importing it and verifying a package must not pull
in the HTTP or CLI libraries, and should pull in no more crypto than the package needs. Each
check runs in a fresh interpreter so that nothing imported by the test run itself counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.keybundle.world import World

_CHILD = """
import json, sys
from pathlib import Path
from keybundle.client import verify_package
from keybundle.state import ClientState
from keybundle.signed_trust_root import verify_self_signed

folder = Path(sys.argv[1])
root = verify_self_signed((folder / "root").read_bytes())
accepted = verify_package((folder / "package").read_bytes(), root, ClientState(), int(sys.argv[2]))
top = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"epoch": accepted.epoch, "modules": top}))
"""


def _modules_after_verifying(tmp_path: Path, world: World) -> set[str]:
    (tmp_path / "root").write_bytes(world.signed_root)
    (tmp_path / "package").write_bytes(world.fresh_package())
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(world.now)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    result = json.loads(out.stdout)
    assert result["epoch"] == 1
    return set(result["modules"])


@pytest.fixture(scope="module")
def ed25519_modules(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return _modules_after_verifying(tmp_path_factory.mktemp("embed"), World())


def test_verifier_imports_neither_requests_nor_click(ed25519_modules: set[str]) -> None:
    assert "keybundle" in ed25519_modules
    assert not {"requests", "click", "urllib3", "waitress", "keybundle_cli"} & ed25519_modules


def test_verifier_imports_no_pkcs11(ed25519_modules: set[str]) -> None:
    assert "pkcs11" not in ed25519_modules


def test_ed25519_only_verification_does_not_import_cryptography(
    ed25519_modules: set[str],
) -> None:
    assert "cryptography" not in ed25519_modules


def test_importing_the_verifier_alone(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, keybundle.client; print(' '.join(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    modules = set(out.stdout.split())
    assert "keybundle.client" in modules
    assert not {"requests", "click"} & modules


_APP = """
import json, sys
from pathlib import Path
from keybundle import Client

folder = Path(sys.argv[1])
client = Client((folder / "root").read_bytes(), folder / "state")
keys = client.accept((folder / "package").read_bytes(), now=int(sys.argv[2]))
again = client.current_keys(keys.fleet_id, now=int(sys.argv[2]))
top = sorted({name.split(".")[0] for name in sys.modules})
online = "keybundle.online" in sys.modules
print(json.dumps({"epoch": again.epoch, "modules": top, "online": online}))
"""


def test_embedded_client_imports_neither_requests_nor_click(tmp_path: Path) -> None:
    # SPEC §7.6: the app's Client (lock, load, verify, save, current_keys) stays as small as
    # the verifier, and the online mode is not imported without a fetcher.
    world = World()
    (tmp_path / "root").write_bytes(world.signed_root)
    (tmp_path / "package").write_bytes(world.fresh_package())
    (tmp_path / "state").mkdir()
    out = subprocess.run(
        [sys.executable, "-c", _APP, str(tmp_path), str(world.now)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    result = json.loads(out.stdout)
    assert result["epoch"] == 1
    assert not result["online"]
    modules = set(result["modules"])
    assert (
        not {"requests", "click", "urllib3", "waitress", "keybundle_cli", "cryptography"} & modules
    )
