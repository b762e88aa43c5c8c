"""Tests for ``keybundle verify`` (CLI §10, issue 5): exit codes, state handling, JSON form.

The console script is run as a fresh process (what clients and acceptance checks do), and
``keybundle_cli.verify.run`` in-process for the cases that need no process boundary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from keybundle.state import (
    LOCK_FILE,
    STATE_FILE,
    ClientState,
    StateDir,
    StoredRotation,
    parse_state,
)
from keybundle_cli.verify import _parse_canonical, build_parser, run
from tests.conftest import REPO
from tests.keybundle.world import DEFAULT_FLEET, World, role_signer

KEYBUNDLE = Path(sys.executable).parent / "keybundle"
"""The console script installed with the project (pyproject [project.scripts])."""


@dataclass
class Client:
    """Files of one client: its pinned root, a state directory, packages to verify."""

    world: World
    folder: Path

    @property
    def root(self) -> Path:
        return self.folder / "root.cbor"

    @property
    def state(self) -> Path:
        return self.folder / "state"

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def args(self, package: Path, *extra: str) -> list[str]:
        return [
            "--trust-root",
            str(self.root),
            "--state",
            str(self.state),
            "--now",
            str(self.world.now),
            *extra,
            str(package),
        ]


@pytest.fixture
def client(tmp_path: Path) -> Client:
    c = Client(World(), tmp_path)
    c.root.write_bytes(c.world.signed_root)
    c.state.mkdir()
    return c


def keybundle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KEYBUNDLE), "verify", *args], capture_output=True, text=True, cwd=REPO, check=False
    )


# -- the console script -----------------------------------------------------------------------


def test_accept_exits_0_and_persists_the_state(client: Client) -> None:
    package = client.write("p1.cbor", client.world.fresh_package())
    result = keybundle(*client.args(package, "--json"))
    assert result.returncode == 0, result.stderr
    envelope = json.loads(result.stdout)
    assert (envelope["ok"], envelope["exit"], envelope["error"]) == (True, 0, None)
    assert envelope["command"] == "keybundle verify"
    out = envelope["result"]
    assert out["accepted"] is True
    assert (out["fleet"], out["epoch"]) == (DEFAULT_FLEET, 1)
    assert [k["id"] for k in out["keys"]] == [
        "hsm-01.ed25519",
        "hsm-01.x25519",
        "hsm-02.ed25519",
        "hsm-02.x25519",
    ]
    assert set(out["keys"][0]) == {"id", "algorithm", "usage", "public_key", "fingerprint"}
    assert bytes.fromhex(out["keys"][0]["public_key"])  # one key encoding: lowercase hex
    state = parse_state((client.state / STATE_FILE).read_bytes())
    assert state.fleets[DEFAULT_FLEET].epoch == 1


def test_reject_exits_1_leaves_the_state_untouched_and_prints_the_json_form(
    client: Client,
) -> None:
    w = client.world
    first = client.write("p1.cbor", w.fresh_package())
    assert keybundle(*client.args(first)).returncode == 0
    before = (client.state / STATE_FILE).read_bytes()
    w.publish(DEFAULT_FLEET, 2)
    w.publish(DEFAULT_FLEET, 3)
    newer = client.write("p3.cbor", w.package(w.entries[2], 2, w.checkpoint()))
    assert keybundle(*client.args(newer)).returncode == 0
    after_3 = (client.state / STATE_FILE).read_bytes()
    assert after_3 != before
    rollback = client.write("p1-again.cbor", w.package(w.entries[0], 0, w.checkpoint()))
    result = keybundle(*client.args(rollback, "--json"))
    assert result.returncode == 1
    envelope = json.loads(result.stdout)
    assert (envelope["ok"], envelope["exit"]) == (False, 1)
    assert envelope["error"]["reason"] == "ROLLBACK"
    assert "epoch 3" in envelope["error"]["message"]
    out = envelope["result"]
    assert out["accepted"] is False
    assert (out["fleet"], out["epoch"], out["keys"]) == (None, None, [])
    assert (client.state / STATE_FILE).read_bytes() == after_3


def test_reject_without_json_prints_the_reason_on_stderr(client: Client) -> None:
    package = client.write("p.cbor", client.world.fresh_package("staging.vault"))
    result = keybundle(*client.args(package, "--fleet", DEFAULT_FLEET))
    assert result.returncode == 1
    assert result.stderr.startswith("rejected (WRONG_FLEET): ")
    assert not (client.state / STATE_FILE).exists()


def test_accept_without_json_lists_the_keys(client: Client) -> None:
    package = client.write("p.cbor", client.world.fresh_package())
    result = keybundle(*client.args(package))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"accepted fleet {DEFAULT_FLEET!r} epoch 1 with 4 key(s)"
    assert lines[1].split()[:3] == ["id", "algorithm", "usage"]  # a labelled table
    assert lines[2].split()[:3] == ["hsm-01.ed25519", "ed25519", "signing"]
    # Aligned: every row's fingerprint starts in the same column.
    starts = {len(line) - len(line.split()[-1]) for line in lines[2:]}
    assert len(starts) == 1, lines


USAGE_ERRORS = [
    "missing state directory",
    "state path is a file",
    "missing package",
    "package is a directory",
    "missing trust root",
    "trust root is garbage",
    "trust root is not self-signed",
    "corrupt state",
    "unreadable state file",
    "state file is a FIFO",
    "negative --now",
    "--now is not a number",
    "no --trust-root",
]


def _break(client: Client, case: str) -> list[str]:
    w = client.world
    package = client.write("p.cbor", w.fresh_package())
    args = client.args(package)
    if case == "missing state directory":
        client.state.rmdir()
    elif case == "state path is a file":
        client.state.rmdir()
        client.state.write_bytes(b"")
    elif case == "missing package":
        package.unlink()
    elif case == "package is a directory":
        package.unlink()
        package.mkdir()
    elif case == "missing trust root":
        client.root.unlink()
    elif case == "trust root is garbage":
        client.root.write_bytes(b"\x00garbage")
    elif case == "trust root is not self-signed":
        client.root.write_bytes(w.sign_root(w.root, [w.independent]))
    elif case == "corrupt state":
        (client.state / STATE_FILE).write_bytes(b"\xa1\x01\x02")
    elif case == "unreadable state file":
        (client.state / STATE_FILE).mkdir()
    elif case == "state file is a FIFO":
        os.mkfifo(client.state / STATE_FILE)  # no writer: opening it to read would block
    elif case == "negative --now":
        args[args.index("--now") + 1] = "-5"
    elif case == "--now is not a number":
        args[args.index("--now") + 1] = "yesterday"
    elif case == "no --trust-root":
        args = args[2:]
    return args


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_bad_files_and_arguments_exit_2_without_traceback(client: Client, case: str) -> None:
    result = keybundle(*_break(client, case))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip(), "a message says what is wrong"
    if (client.state / STATE_FILE).is_file():
        assert (client.state / STATE_FILE).read_bytes() == b"\xa1\x01\x02"  # never reset


# -- in process -------------------------------------------------------------------------------


def test_in_process_accept_then_replay(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    package = client.write("p.cbor", client.world.fresh_package())
    assert run(client.args(package, "--json")) == 0
    first = json.loads(capsys.readouterr().out)
    assert run(client.args(package, "--json")) == 0  # the same package again: a replay
    assert json.loads(capsys.readouterr().out) == first
    assert StateDir(client.state).load().fleets[DEFAULT_FLEET].epoch == 1


def test_in_process_corrupt_state_message(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    (client.state / STATE_FILE).write_bytes(b"\xa1\x01\x02")
    package = client.write("p.cbor", client.world.fresh_package())
    assert run(client.args(package)) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err
    assert "restore it from a backup" in err


def test_in_process_fifo_state_message(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(client.state / STATE_FILE)
    package = client.write("p.cbor", client.world.fresh_package())
    assert run(client.args(package)) == 2
    err = capsys.readouterr().err
    assert "is not a regular file (a FIFO)" in err, err


def test_in_process_state_with_an_unapproved_rotation_is_corrupt(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    # SPEC §7.2: the stored chain is re-verified from the pinned root; an edited one exits 2
    # and the file is left as it is.
    w = client.world
    v2 = w.sign_root(w.make_root(2), [role_signer("intruder")])
    data = ClientState(rotations=(StoredRotation(v2, 0),)).encode()
    (client.state / STATE_FILE).write_bytes(data)
    package = client.write("p.cbor", w.fresh_package())
    assert run(client.args(package)) == 2
    assert "does not verify from the pinned root" in capsys.readouterr().err
    assert (client.state / STATE_FILE).read_bytes() == data


def test_verify_holds_the_state_lock(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    package = client.write("p.cbor", client.world.fresh_package())
    assert run(client.args(package)) == 0
    assert (client.state / LOCK_FILE).exists()
    capsys.readouterr()


def test_in_process_json_usage_error(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    client.state.rmdir()
    package = client.write("p.cbor", client.world.fresh_package())
    assert run(client.args(package, "--json")) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["reason"] is None
    assert "does not exist" in error["message"]
    assert captured.err == ""  # with --json, the envelope is the whole answer


def test_a_file_as_the_state_directory_is_named_so(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: a file given as --state was reported as "does not exist; create it"."""
    client.state.rmdir()
    client.state.write_bytes(b"")
    package = client.write("p.cbor", client.world.fresh_package())
    assert run(client.args(package)) == 2
    err = capsys.readouterr().err
    assert "is a file; give the client state directory" in err
    assert "does not exist" not in err
    assert client.state.read_bytes() == b""


# -- the command line: canonical spellings read directly, everything else by argparse --------

CANONICAL = [
    ["--trust-root", "r", "--state", "s", "p"],
    ["p", "--state", "s", "--trust-root", "r", "--json"],
    ["--json", "--now", "17", "--fleet", "f", "--trust-root", "r", "--state", "s", "p"],
    ["--trust-root", "-", "--state", "s", "-", "--evidence-out", "e"],
    ["--trust-root", "r1", "--state", "s", "--trust-root", "r2", "p", "--now", "5", "--now", "6"],
    ["--trust-root", "", "--state", "s", ""],
]
OTHER = [
    ["--trust-root=r", "--state", "s", "p"],
    ["--trust", "r", "--state", "s", "p"],
    ["-h"],
    ["--trust-root", "r", "--state", "s", "--now", "-5", "p"],
    ["--trust-root", "r", "--state", "s", "--now", "1e3", "p"],
    ["--trust-root", "r", "--state", "s", "--now", "\u0661", "p"],
    ["--trust-root", "r", "--state", "s", "--now", "0017", "p"],
    ["--trust-root", "r", "--state", "s", "--now", "+17", "p"],
    ["--trust-root", "r", "--state", "s", "--now", "1_796", "p"],
    ["--trust-root", "r", "--state", "s", "--", "p"],
    ["--trust-root", "r", "--state", "s", "p", "q"],
    ["--trust-root", "r", "--state", "s"],
    ["--state", "s", "p"],
    ["--trust-root", "r", "--state"],
]


@pytest.mark.parametrize("argv", CANONICAL)
def test_canonical_command_lines_read_as_argparse_reads_them(argv: list[str]) -> None:
    fast = _parse_canonical(argv)
    assert fast is not None
    parsed = build_parser().parse_args(argv)
    for name in ("package", "trust_root", "state", "now", "fleet", "json", "evidence_out"):
        assert getattr(fast, name) == getattr(parsed, name), name


@pytest.mark.parametrize("argv", OTHER)
def test_other_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert _parse_canonical(argv) is None


# -- one dialect with the other commands (issue 13) ------------------------------------------


@pytest.mark.parametrize("now", ["0017", "+17", "1_796", "\u0661\u0662", " 17", "-0"])
def test_now_must_be_a_spec_decimal(client: Client, now: str) -> None:
    package = client.write("p.cbor", client.world.fresh_package())
    args = client.args(package)
    args[args.index("--now") + 1] = now
    with pytest.raises(SystemExit) as exit_info:
        run(args)
    assert exit_info.value.code == 2


def test_usage_errors_are_one_line_like_every_command(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["--state", str(client.state), "p"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("keybundle: error: verify: ")
    assert "see 'keybundle verify --help'" in err


def test_dash_reads_the_package_from_standard_input(client: Client) -> None:
    package = client.world.fresh_package()
    args = client.args(Path("-"))
    result = subprocess.run(
        [str(KEYBUNDLE), "verify", *args], input=package, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"accepted fleet")


def test_trust_root_and_state_from_the_environment(client: Client) -> None:
    package = client.write("p.cbor", client.world.fresh_package())
    env = {
        **os.environ,
        "KEYBUNDLE_TRUST_ROOT": str(client.root),
        "KEYBUNDLE_STATE": str(client.state),
    }
    result = subprocess.run(
        [str(KEYBUNDLE), "verify", "--now", str(client.world.now), str(package)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_state_that_is_a_file_is_named_as_a_file(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    client.state.rmdir()
    client.state.write_bytes(b"")
    package = client.write("p.cbor", client.world.fresh_package())
    assert run(client.args(package)) == 2
    err = capsys.readouterr().err
    assert "is a file; give the client state directory" in err
    assert "does not exist" not in err


def test_rejection_escapes_control_and_bidi_characters(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    package = client.write("p.cbor", client.world.fresh_package())
    assert run(client.args(package, "--fleet", "evil\u202efleet\u009b")) == 1
    err = capsys.readouterr().err
    assert err.startswith("rejected (WRONG_FLEET): ")
    assert "\u202e" not in err
    assert "\u009b" not in err
    assert "evil\\u202efleet\\x9b" in err


def test_split_view_writes_an_evidence_file_that_evidence_verify_confirms(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    from click.testing import CliRunner

    from keybundle_cli.commands import cli

    w = client.world
    fork = World()  # same keys: the log and witnesses sign two histories
    signed, index = w.publish()
    w.append(b"filler")
    first = client.write("p1.cbor", w.package(signed, index, w.checkpoint()))
    assert run(client.args(first)) == 0
    fork.append(signed)
    fork.append(b"another filler")
    forked = client.write("p2.cbor", fork.package(signed, index, fork.checkpoint()))
    evidence = client.folder / "split-view.json"
    capsys.readouterr()
    assert run(client.args(forked, "--evidence-out", str(evidence), "--json")) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["reason"] == "INCONSISTENT_CHECKPOINT"
    assert out["result"]["evidence"] == str(evidence)
    result = CliRunner().invoke(
        cli, ["evidence", "verify", str(evidence), "--trust-root", str(client.root), "--json"]
    )
    assert result.exit_code == 0, result.output
    finding = json.loads(result.output)["result"]
    assert (finding["kind"], finding["reason"]) == ("split_view", "INCONSISTENT_CHECKPOINT")


def test_evidence_out_names_a_rejection_without_a_file_form(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    w = client.world
    first = client.write("p1.cbor", w.fresh_package())
    assert run(client.args(first)) == 0
    signed, index = w.publish(DEFAULT_FLEET, 1, not_after=w.now + 400 * 86_400)
    conflicting = client.write("p2.cbor", w.package(signed, index, w.checkpoint()))
    evidence = client.folder / "conflict.json"
    capsys.readouterr()
    code = run(client.args(conflicting, "--evidence-out", str(evidence)))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("rejected (EPOCH_CONFLICT): ")
    assert "EPOCH_CONFLICT has no evidence file form (SPEC §7.3, §8.4)" in err
    assert not evidence.exists()


# -- start-up: what a fresh `keybundle verify` imports (bench/bench_verify.py) ---------------

_STARTUP_PROBE = """
import atexit, sys
before = set(sys.modules)
atexit.register(lambda: sys.stderr.write("\\n".join(sorted(set(sys.modules) - before))))
from keybundle_cli.main import main
main(sys.argv[1:])
"""

_NOT_AT_STARTUP = {
    "argparse": "read only for non-canonical command lines",
    "click": "not in the base install",
    "dataclasses": "its class generation costs ~0.3 ms a class (transparency_log._frozen)",
    "hashlib": "loads OpenSSL (transparency_log.hashing)",
    "importlib.util": "only the operator commands check their extra",
    "inspect": "pulled in by dataclasses",
    "json": "only for --json",
    "pathlib": "and with it urllib.parse and ipaddress (transparency_log.durable)",
    "urllib.parse": "through pathlib",
}


def test_accepting_a_package_imports_only_what_the_decision_needs(client: Client) -> None:
    """A plain accept loads none of the modules whose start-up cost the command was built to
    avoid (bench/bench_verify.py measures the rest against importing PyNaCl and cbor2)."""
    package = client.write("p1.cbor", client.world.fresh_package())
    result = subprocess.run(
        [sys.executable, "-c", _STARTUP_PROBE, "verify", *client.args(package)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("accepted fleet")
    loaded = set(result.stderr.split())
    assert "keybundle.client" in loaded  # the probe saw the imports
    assert {name: why for name, why in _NOT_AT_STARTUP.items() if name in loaded} == {}


def test_output_to_a_closed_pipe_exits_as_the_interpreter_always_has(client: Client) -> None:
    """The command skips the interpreter's teardown only once its output is flushed; a
    flush that fails (the reader went away) exits the ordinary way: the state is saved, and
    Python reports the lost output with its exit code 120, as before."""
    package = client.write("p1.cbor", client.world.fresh_package())
    reader, writer = os.pipe()
    os.close(reader)  # gone before the command writes a byte
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    try:
        result = subprocess.run(
            [str(KEYBUNDLE), "verify", *client.args(package)],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=buffered,  # the output waits in the buffer for the flush at exit
            check=False,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert result.returncode == 120, result.stderr
    assert "BrokenPipeError" in result.stderr
    assert parse_state((client.state / STATE_FILE).read_bytes()).fleets[DEFAULT_FLEET].epoch == 1


def test_main_called_by_a_program_leaves_its_process_as_it_was(client: Client) -> None:
    """Only the `keybundle` process itself turns the garbage collector off and skips the
    teardown: main(argv) called by a program raises SystemExit and changes nothing else."""
    import gc

    from keybundle_cli.main import main

    package = client.write("p1.cbor", client.world.fresh_package())
    assert gc.isenabled()
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", *client.args(package)])
    assert exit_info.value.code == 0
    assert gc.isenabled()
    assert parse_state((client.state / STATE_FILE).read_bytes()).fleets[DEFAULT_FLEET].epoch == 1
