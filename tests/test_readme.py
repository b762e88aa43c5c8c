"""Every command in README.md is run, or names the test that mirrors it.

Each fenced ``sh`` or ``python`` block of the README is preceded by an HTML comment
``<!-- readme-test: TAG -->`` saying how it is tested:

- ``workflow`` / ``workflow-hsm``: the operator's walkthrough. All its blocks run in order as
  one bash script in a temporary directory, with the real ``keybundle`` command on PATH and
  the fixed ports 8080/8081 replaced by free ones; after a block that starts servers in the
  background, the script waits until they listen. ``workflow-hsm`` blocks need SoftHSM2
  (scripts/test.sh installs it); without it they are left out and the test reports a skip
  after running the rest.
- ``python``: the client example, run afterwards in the walkthrough's directory.
- ``quickstart``: exactly ``bash scripts/demo.sh`` (run by tests/test_demo.py) and ``bash
  scripts/test.sh`` (what .ci/run runs).
- ``demo-by-hand``: run after a real demo, in a directory whose ``demo-out`` it made.
- ``mirrored by PATH::TEST``: commands that need root or a service manager (installing the
  nginx site, running the log under it), exercised by that test, which must exist.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from keybundle_cli.commands import cli

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_MODULES = (
    SOFTHSM_MODULE,
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
TAGS = ("quickstart", "demo-by-hand", "workflow", "workflow-hsm", "python")

_FENCE = re.compile(
    r"(?:<!-- readme-test: (?P<tag>[^\n]*?) -->\n)?^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$",
    re.M | re.S,
)


@dataclass(frozen=True)
class Block:
    tag: str | None
    lang: str
    body: str


def blocks() -> list[Block]:
    return [
        Block(m["tag"], m["lang"], m["body"]) for m in _FENCE.finditer(README.read_text("utf-8"))
    ]


def commands(block: Block) -> list[str]:
    """The block's commands: its lines without comments, blank lines and trailing comments."""
    out = []
    for line in block.body.splitlines():
        code = re.sub(r"\s+#.*$", "", line).strip()
        if code and not code.startswith("#"):
            out.append(code)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- every block is accounted for ------------------------------------------------------------


def test_every_command_block_says_how_it_is_tested() -> None:
    found = [b for b in blocks() if b.lang in ("sh", "python")]
    assert len(found) >= 10
    for block in found:
        assert block.tag is not None, f"untested README block:\n{block.body}"
        if block.tag.startswith("mirrored by "):
            path, _, name = block.tag.removeprefix("mirrored by ").partition("::")
            source = (REPO / path).read_text("utf-8")
            assert f"def {name}(" in source, f"{block.tag}: no such test"
        else:
            assert block.tag in TAGS, block.tag
    assert all(b.lang in ("sh", "python", "") for b in blocks())


def test_quick_start_is_exactly_the_two_commands_that_are_tested() -> None:
    (quickstart,) = [b for b in blocks() if b.tag == "quickstart"]
    assert commands(quickstart) == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    # scripts/test.sh is what CI runs; scripts/demo.sh is run by tests/test_demo.py.
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    test_demo = (REPO / "tests" / "test_demo.py").read_text()
    assert "def test_scripts_demo_sh_reuses_the_venv_and_runs_the_demo(" in test_demo


# -- the demo's by-hand commands ------------------------------------------------------------


def test_the_demo_by_hand_commands_work_on_a_demos_output(tmp_path: Path) -> None:
    keybundle = BIN / "keybundle"
    if not keybundle.exists():
        pytest.skip(f"the keybundle console script is not installed beside {sys.executable}")
    result = CliRunner().invoke(
        cli, ["demo", "--workdir", str(tmp_path / "demo-out")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "keybundle").symlink_to(keybundle)
    (block,) = [b for b in blocks() if b.tag == "demo-by-hand"]

    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.body],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "accepted fleet 'prod-eu.vault' epoch 1" in ran.stdout
    assert "accepted fleet 'prod-eu.vault' epoch 2" in ran.stdout


# -- the operator's workflow, the auditor and the Python client -----------------------------


def _softhsm_module() -> str | None:
    if shutil.which("softhsm2-util") is None:
        return None
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return None
    return next((m for m in SOFTHSM_MODULES if Path(m).exists()), None)


_PRELUDE = """\
set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
wait_for() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}
set -x
"""


def _workflow_script(with_hsm: bool, module: str | None) -> str:
    log_port, witness_port = _free_port(), _free_port()
    parts = [_PRELUDE]
    for block in blocks():
        if block.tag not in ("workflow", "workflow-hsm"):
            continue
        if block.tag == "workflow-hsm" and not with_hsm:
            continue
        body = block.body.replace("127.0.0.1:8080", f"127.0.0.1:{log_port}")
        body = body.replace("127.0.0.1:8081", f"127.0.0.1:{witness_port}")
        if module is not None:
            body = body.replace(SOFTHSM_MODULE, module)
        parts.append(body)
        if re.search(r"&\s*$", body, re.M):
            for port in (witness_port, log_port):
                if f":{port}" in body:
                    parts.append(f"wait_for {port}\n")
    parts.append("wait\n")  # the servers exit on SIGTERM (the README's kill)
    return "".join(parts)


def test_the_operator_workflow_runs_as_written(tmp_path: Path) -> None:
    if not (BIN / "keybundle").exists():
        pytest.skip(f"the keybundle console script is not installed beside {sys.executable}")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (scripts/test.sh installs it when run as root)")
    module = _softhsm_module()
    with_hsm = module is not None
    script = _workflow_script(with_hsm, module)
    env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(tmp_path)}

    ran = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )

    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-6000:]
    assert "Traceback" not in output
    assert "complete: the thresholds of both roles are met" in ran.stdout
    assert "index 0" in ran.stdout
    assert "accepted fleet 'prod-eu.vault' epoch 1" in ran.stdout
    assert "checked as a fresh client would" in ran.stdout
    if with_hsm:
        # keys generate --pkcs11 printed the URI to sign with: the key was made in the token.
        assert "pkcs11:token=operator;object=operator-2;type=private?" in ran.stdout
        assert not (tmp_path / "keys" / "operator-2.key").exists()
        assert (
            (tmp_path / "keys" / "operator-2.pub")
            .read_bytes()
            .startswith(b"-----BEGIN PUBLIC KEY-----")
        )
        assert "index 1" in ran.stdout  # the trust root v2
        assert "index 2" in ran.stdout  # epoch 2
        assert "1 trust-root rotation(s)" in ran.stdout
        assert "accepted fleet 'prod-eu.vault' epoch 2" in ran.stdout

    (example,) = [b for b in blocks() if b.tag == "python"]
    client = subprocess.run(
        [sys.executable, "-c", example.body],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert client.returncode == 0, client.stderr
    assert client.stdout.splitlines()[0].startswith("hsm-01.ed25519 ed25519 signing ")
    assert (tmp_path / "app-state" / "state.cbor").is_file()
    if not with_hsm:
        pytest.skip("SoftHSM2 is not installed: the walkthrough ran without its HSM steps")
