"""``keybundle log`` (init, append, proof, serve) and ``keybundle witness serve``.

Most cases run through click's CliRunner; one runs the real ``keybundle`` entry point as
subprocesses (init, append, proof, and serve answering a submission, then SIGTERM).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from keybundle_cli.commands import cli
from keybundle_cli.log import CONFIG_DIR, LogConfig, parse_log_config
from tests.keybundle.world import LOG_ORIGIN, World, fleet_keys, seed
from tests.transparency_log.serving import serving_on_a_thread
from tests.transparency_log.witnesses import MemoryStateStore
from transparency_log import note
from transparency_log.appender import open_directory_log
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.merkle import leaf_hash
from transparency_log.tile import Tile
from transparency_log.tlog_proof import parse_tlog_proof, verify_tlog_proof
from transparency_log.witness import TreeState, Witness, make_witness_server

pytestmark = pytest.mark.timeout(60)

ORIGIN = "example.com/cli-log"


def _seed(n: int) -> bytes:
    return bytes([n]) * 32


def _write_key(
    path: Path,
    name: str = ORIGIN,
    sig_type: int = 0x01,
    seed_bytes: bytes = b"\x01" * 32,
) -> str:
    skey, vkey = note.generate_key(name, sig_type=sig_type, rand=lambda k: seed_bytes[:k])
    path.write_text(skey + "\n", encoding="utf-8")
    path.chmod(0o600)
    return vkey


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    _write_key(tmp_path / "log.key")
    directory = tmp_path / "log"
    result = run("log", "init", directory, "--origin", ORIGIN, "--key", tmp_path / "log.key")
    assert result.exit_code == 0, result.output
    return directory


def _files(tmp_path: Path, contents: list[bytes]) -> list[Path]:
    paths = []
    for i, data in enumerate(contents):
        path = tmp_path / f"entry-{i}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _checkpoint(directory: Path) -> bytes:
    return (directory / "checkpoint").read_bytes()


# --- init ---


def test_init_prints_the_verifier_key_and_writes_the_config(tmp_path: Path) -> None:
    vkey = _write_key(tmp_path / "log.key")
    directory = tmp_path / "new" / "log"
    result = run("log", "init", directory, "--origin", ORIGIN, "--key", tmp_path / "log.key")
    assert result.exit_code == 0
    assert result.stdout.endswith(f"\n  verifier key: {vkey}\n")  # labelled
    config = (directory / CONFIG_DIR / "config").read_text()
    assert config == LogConfig(ORIGIN, vkey, (tmp_path / "log.key").resolve()).format()
    assert parse_log_config(config, "config") == LogConfig(
        ORIGIN, vkey, (tmp_path / "log.key").resolve()
    )
    assert b"\n0\n" in _checkpoint(directory)  # an empty log, signed


def test_init_twice_is_refused(log_dir: Path, tmp_path: Path) -> None:
    before = _checkpoint(log_dir)
    result = run("log", "init", log_dir, "--origin", ORIGIN, "--key", tmp_path / "log.key")
    assert result.exit_code == 2
    assert "already holds a log" in result.stderr
    assert _checkpoint(log_dir) == before


def test_init_warns_when_origin_differs_from_the_key_name(tmp_path: Path) -> None:
    _write_key(tmp_path / "log.key", name="other.example/log")
    result = run("log", "init", tmp_path / "d", "--origin", ORIGIN, "--key", tmp_path / "log.key")
    assert result.exit_code == 0
    assert "warning: the key is named 'other.example/log'" in result.stderr


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("cosignature key", "is not an Ed25519 note key"),
        ("missing key", "log.key"),
        ("garbage key", "neither a signer-key string"),
        ("empty origin", "--origin"),
        ("bad trust root", "trust root"),
    ],
)
def test_init_user_errors_exit_2(tmp_path: Path, setup: str, message: str) -> None:
    key = tmp_path / "log.key"
    origin = ORIGIN
    extra: list[str | Path] = []
    if setup == "cosignature key":
        _write_key(key, sig_type=0x04)
    elif setup == "garbage key":
        key.write_text("not a key\n")
    elif setup == "empty origin":
        _write_key(key)
        origin = ""
    elif setup == "bad trust root":
        _write_key(key)
        (tmp_path / "root.cbor").write_bytes(b"\xa0")
        extra = ["--trust-root", tmp_path / "root.cbor"]
    result = run("log", "init", tmp_path / "d", "--origin", origin, "--key", key, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "d" / "checkpoint").exists()


def test_encrypted_key_with_a_passphrase_file(tmp_path: Path) -> None:
    from keybundle.custody import PassphraseFile, write_note_key

    skey, vkey = note.generate_key(ORIGIN, rand=lambda k: _seed(9)[:k])
    (tmp_path / "pass").write_text("correct horse\n")
    write_note_key(tmp_path / "log.key", skey, PassphraseFile(tmp_path / "pass"), iterations=1000)
    args: list[str | Path] = [
        "log",
        "init",
        tmp_path / "d",
        "--origin",
        ORIGIN,
        "--key",
        tmp_path / "log.key",
    ]
    result = run(*args)
    assert result.exit_code == 2
    assert "passphrase" in result.stderr
    result = run(*args, "--passphrase-file", tmp_path / "pass")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"\n  verifier key: {vkey}\n")  # labelled
    (tmp_path / "e").write_bytes(b"entry")
    result = run(
        "log", "append", tmp_path / "d", tmp_path / "e", "--passphrase-file", tmp_path / "pass"
    )
    assert result.exit_code == 0, result.output


# --- append ---


def test_append_prints_file_and_index_and_publishes_the_checkpoint(
    log_dir: Path, tmp_path: Path
) -> None:
    paths = _files(tmp_path, [b"alpha", b"beta", b"gamma"])
    result = run("log", "append", log_dir, *paths)
    assert result.exit_code == 0, result.output
    assert result.stdout == "".join(f"{p} {i}\n" for i, p in enumerate(paths))
    assert result.stderr == ""  # not a terminal: no progress
    assert b"\n3\n" in _checkpoint(log_dir)
    # The same content again gets its existing index, and the log does not grow.
    again = run("log", "append", log_dir, paths[1])
    assert again.stdout == f"{paths[1]} 1\n"
    assert b"\n3\n" in _checkpoint(log_dir)


def test_append_reads_dash_from_standard_input(log_dir: Path, tmp_path: Path) -> None:
    """Before: 'cannot read -: No such file or directory' (CLI §10.1: '-' is standard input)."""
    paths = _files(tmp_path, [b"alpha"])
    runner = CliRunner()
    result = runner.invoke(cli, ["log", "append", str(log_dir), str(paths[0]), "-"], input=b"beta")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{paths[0]} 0\n- 1\n"
    empty = runner.invoke(cli, ["log", "append", str(log_dir), "-"], input=b"")
    assert empty.exit_code == 2
    assert empty.stderr == (
        "keybundle: error: standard input (-) is empty; a log entry is at least one byte\n"
    )
    twice = runner.invoke(cli, ["log", "append", str(log_dir), "-", "-"], input=b"x")
    assert twice.stderr == "keybundle: error: FILE '-' (standard input) can be given once\n"


def test_append_shows_progress_on_a_terminal(
    log_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keybundle_cli.log

    monkeypatch.setattr(keybundle_cli.log, "_stderr_is_tty", lambda: True)
    paths = _files(tmp_path, [b"entry %d" % i for i in range(1100)])
    result = run("log", "append", log_dir, *paths)
    assert result.exit_code == 0
    assert "appending" in result.stderr
    assert len(result.stdout.splitlines()) == 1100


def test_append_many_files_in_batches(log_dir: Path, tmp_path: Path) -> None:
    paths = _files(tmp_path, [b"entry %d" % i for i in range(700)])
    result = run("log", "append", log_dir, *paths, "--batch-size", "64")
    assert result.exit_code == 0
    indices = [int(line.rsplit(" ", 1)[1]) for line in result.stdout.splitlines()]
    assert indices == list(range(700))


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"", "is empty"), (b"x" * 65536, "at most 65535 bytes")],
    ids=["missing file", "empty file", "oversized file"],
)
def test_append_bad_files_exit_2_and_append_nothing(
    log_dir: Path, tmp_path: Path, content: bytes | None, message: str
) -> None:
    good = _files(tmp_path, [b"fine"])[0]
    bad = tmp_path / "bad.bin"
    if content is not None:
        bad.write_bytes(content)
    before = _checkpoint(log_dir)
    result = run("log", "append", log_dir, good, bad)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert _checkpoint(log_dir) == before


def test_append_refuses_a_directory_as_file(log_dir: Path, tmp_path: Path) -> None:
    good = _files(tmp_path, [b"fine"])[0]
    (tmp_path / "subdir").mkdir()
    before = _checkpoint(log_dir)
    result = run("log", "append", log_dir, good, tmp_path / "subdir")
    assert result.exit_code == 2
    assert result.stderr == f"keybundle: error: {tmp_path / 'subdir'} is not a regular file\n"
    assert _checkpoint(log_dir) == before


@pytest.mark.parametrize(
    "arrange",
    [
        pytest.param(lambda d, f: [d, *f, "--batch-size", "2"], id="option after the files"),
        pytest.param(lambda d, f: ["--batch-size=2", d, *f], id="option=value before DIR"),
        pytest.param(lambda d, f: [d, f[0], "--batch-size", "2", *f[1:]], id="option amid"),
        pytest.param(lambda d, f: [d, "--", *f], id="files after --"),
    ],
)
def test_append_parses_options_anywhere_among_many_files(
    log_dir: Path, tmp_path: Path, arrange: Any
) -> None:
    """log append hands click its options ahead of a '--' (_ManyFilesCommand): same meaning."""
    paths = [str(p) for p in _files(tmp_path, [b"entry %d" % i for i in range(5)])]
    result = run("log", "append", *arrange(str(log_dir), paths))
    assert result.exit_code == 0, result.output
    assert result.stdout == "".join(f"{p} {i}\n" for i, p in enumerate(paths))


def test_append_takes_a_file_named_like_an_option_after_double_dash(
    log_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("-x.bin").write_bytes(b"dash")
    assert run("log", "append", log_dir, "--", "-x.bin").stdout == "-x.bin 0\n"
    unknown = run("log", "append", log_dir, "-x.bin")
    assert unknown.exit_code == 2
    assert "no such option '-x'" in unknown.stderr


def test_append_refuses_a_file_that_changed_after_the_check(tmp_path: Path) -> None:
    from keybundle_cli._common import UserError
    from keybundle_cli.log import _check_entry_files, _Files

    path = str(_files(tmp_path, [b"one"])[0])
    _check_entry_files([path])
    Path(path).write_bytes(b"")  # emptied between the check and the read
    with pytest.raises(UserError, match="changed while it was being appended"):
        list(_Files([path]))


def test_append_to_a_directory_that_is_not_a_log(tmp_path: Path) -> None:
    path = _files(tmp_path, [b"x"])[0]
    result = run("log", "append", tmp_path / "nowhere", path)
    assert result.exit_code == 2
    assert "is not a keybundle log" in result.stderr


def test_append_while_the_log_is_open_elsewhere(log_dir: Path, tmp_path: Path) -> None:
    signer = note.Ed25519Signer(ORIGIN, _seed(1))  # the key _write_key wrote
    writer = open_directory_log(
        log_dir, origin=ORIGIN, signer=signer, verifier=signer.verifier(), fsync=False
    )
    try:
        result = run("log", "append", log_dir, _files(tmp_path, [b"x"])[0])
        assert result.exit_code == 2
        assert "keybundle log serve" in result.stderr
    finally:
        writer.close()


@pytest.fixture
def world_log(tmp_path: Path) -> tuple[World, Path]:
    """A log created with the test world's trust root and log key."""
    world = World()
    _write_key(tmp_path / "world-log.key", name=LOG_ORIGIN, seed_bytes=seed("log"))
    (tmp_path / "root.cbor").write_bytes(world.signed_root)
    directory = tmp_path / "bundles"
    result = run(
        "log",
        "init",
        directory,
        "--origin",
        LOG_ORIGIN,
        "--key",
        tmp_path / "world-log.key",
        "--trust-root",
        tmp_path / "root.cbor",
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # the root's policy lists this log's key
    assert (directory / CONFIG_DIR / "trust-root").read_bytes() == world.signed_root
    return world, directory


def test_log_with_a_trust_root_admits_valid_bundles_only(
    world_log: tuple[World, Path], tmp_path: Path
) -> None:
    world, directory = world_log
    epoch1 = world.signed_bundle("prod-eu.vault", 1)
    world.append(epoch1)
    epoch2 = world.signed_bundle("prod-eu.vault", 2)
    (tmp_path / "epoch1.cose").write_bytes(epoch1)
    (tmp_path / "epoch2.cose").write_bytes(epoch2)
    result = run("log", "append", directory, tmp_path / "epoch1.cose", tmp_path / "epoch2.cose")
    assert result.exit_code == 0, result.output
    assert [line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()] == ["0", "1"]

    before = _checkpoint(directory)
    (tmp_path / "junk").write_bytes(b"not a bundle")
    result = run("log", "append", directory, tmp_path / "junk")
    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (MALFORMED_COSE): ")
    assert str(tmp_path / "junk") in result.stderr
    # Epoch 1 again, with other keys: the fleet already has epoch 1.
    world2 = World()
    other = world2.signed_bundle("prod-eu.vault", 1, keys=fleet_keys("other", 1))
    (tmp_path / "again.cose").write_bytes(other)
    result = run("log", "append", directory, tmp_path / "again.cose")
    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (")
    assert _checkpoint(directory) == before


def test_init_warns_when_the_trust_root_does_not_list_the_log(tmp_path: Path) -> None:
    world = World()
    _write_key(tmp_path / "log.key")  # not the world's log key
    (tmp_path / "root.cbor").write_bytes(world.signed_root)
    result = run(
        "log",
        "init",
        tmp_path / "d",
        "--origin",
        ORIGIN,
        "--key",
        tmp_path / "log.key",
        "--trust-root",
        tmp_path / "root.cbor",
    )
    assert result.exit_code == 0
    assert "does not list this log's key" in result.stderr


# --- proof ---


def test_proof_prints_a_verifying_tlog_proof(log_dir: Path, tmp_path: Path) -> None:
    contents = [b"entry %d" % i for i in range(300)]
    assert run("log", "append", log_dir, *_files(tmp_path, contents)).exit_code == 0
    vkey = (log_dir / CONFIG_DIR / "config").read_text().split("\n")[2][len("vkey ") :]
    for index in (0, 257, 299):
        result = run("log", "proof", log_dir, "--index", str(index))
        assert result.exit_code == 0
        proof = parse_tlog_proof(result.stdout)
        assert proof.format() == result.stdout
        assert proof.index == index
        assert proof.checkpoint_note == _checkpoint(log_dir)
        verify_tlog_proof(proof, leaf_hash(contents[index]), note.new_verifier(vkey))


def test_proof_of_an_index_beyond_the_log_exits_2(log_dir: Path, tmp_path: Path) -> None:
    run("log", "append", log_dir, *_files(tmp_path, [b"a", b"b"]))
    result = run("log", "proof", log_dir, "--index", "2")
    assert result.exit_code == 2
    assert "index 2 is not in the log, which has 2 entries" in result.stderr


def test_proof_over_a_tampered_tile_exits_1_with_the_reason(log_dir: Path, tmp_path: Path) -> None:
    run("log", "append", log_dir, *_files(tmp_path, [b"e%d" % i for i in range(600)]))
    tile = log_dir / Tile(0, 1).path()
    data = bytearray(tile.read_bytes())
    data[100] ^= 1
    tile.write_bytes(bytes(data))
    result = run("log", "proof", log_dir, "--index", "300")
    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (MALFORMED_TILE): ")


def test_proof_over_a_forged_checkpoint_exits_1(log_dir: Path, tmp_path: Path) -> None:
    run("log", "append", log_dir, *_files(tmp_path, [b"a"]))
    checkpoint = log_dir / "checkpoint"
    checkpoint.write_bytes(checkpoint.read_bytes().replace(b"\n1\n", b"\n2\n", 1))
    result = run("log", "proof", log_dir, "--index", "0")
    assert result.exit_code == 1
    assert "BAD_NOTE_SIGNATURE" in result.stderr


# --- config parsing ---


@pytest.mark.parametrize(
    "text",
    [
        "",
        "keybundle-log-config/v1\norigin o\nvkey x\nkey /k\n",
        "keybundle-log-config/v2\norigin o\nvkey x\nkey /k\n",
        "keybundle-log-config/v1\norigin o\nkey /k\nvkey x\n",
        "keybundle-log-config/v1\norigin o\nvkey x\nkey /k",
        "keybundle-log-config/v1\norigin o\nvkey x\nkey /k\nextra 1\n",
    ],
)
def test_malformed_config_is_a_user_error(text: str) -> None:
    from keybundle_cli._common import UserError

    with pytest.raises(UserError):
        parse_log_config(text, "config")


def test_relative_key_path_in_config_is_refused(tmp_path: Path) -> None:
    from keybundle_cli._common import UserError

    vkey = _write_key(tmp_path / "k")
    good = LogConfig(ORIGIN, vkey, Path("/abs/k")).format()
    assert parse_log_config(good, "c").key_path == Path("/abs/k")
    with pytest.raises(UserError, match="absolute"):
        parse_log_config(good.replace("/abs/k", "rel/k"), "c")


# --- the real command, as processes ---


def _keybundle(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keybundle_cli", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_real_processes_init_append_proof_and_serve(tmp_path: Path) -> None:
    vkey = _write_key(tmp_path / "log.key")
    directory = tmp_path / "log"
    init = _keybundle("log", "init", directory, "--origin", ORIGIN, "--key", tmp_path / "log.key")
    assert init.returncode == 0, init.stderr
    assert init.stdout.endswith(f"\n  verifier key: {vkey}\n")  # labelled
    paths = _files(tmp_path, [b"one", b"two", b"three"])
    append = _keybundle("log", "append", directory, *paths)
    assert append.returncode == 0, append.stderr
    assert append.stdout.splitlines() == [f"{p} {i}" for i, p in enumerate(paths)]
    proof = _keybundle("log", "proof", directory, "--index", "2")
    assert proof.returncode == 0, proof.stderr
    verify_tlog_proof(parse_tlog_proof(proof.stdout), leaf_hash(b"three"), note.new_verifier(vkey))
    bad = _keybundle("log", "proof", directory, "--index", "3")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr

    server, url = _start("log", "serve", directory, "--listen", "127.0.0.1:0")
    try:
        response = requests.post(f"{url}/add", data=b"four", timeout=30)
        assert response.status_code == 200
        assert parse_tlog_proof(response.content).index == 3
    finally:
        assert _stop(server) == 0
    assert b"\n4\n" in _checkpoint(directory)
    # The lock is released on exit: appending works again.
    assert _keybundle("log", "append", directory, paths[0]).returncode == 0


def test_serve_refuses_a_bad_listen_address(log_dir: Path) -> None:
    result = run("log", "serve", log_dir, "--listen", "localhost")
    assert result.exit_code == 2
    assert "HOST:PORT" in result.stderr
    # Before: waitress's bare "Invalid host/port specified." naming no address.
    unknown = run("log", "serve", log_dir, "--listen", "999.1.1.1:0")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith(
        "keybundle: error: cannot listen on 999.1.1.1:0: Invalid host/port specified (give an "
        "address of this machine"
    )
    assert unknown.stderr.count("\n") == 1


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port on which another socket is already listening."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_serve_on_a_port_in_use_names_the_address(log_dir: Path, busy_port: int) -> None:
    result = run("log", "serve", log_dir, "--listen", f"127.0.0.1:{busy_port}")
    assert result.exit_code == 2
    assert result.stderr == (
        f"keybundle: error: cannot listen on 127.0.0.1:{busy_port}: the address is already in "
        "use (another server is listening there; stop it or choose another port)\n"
    )
    # The log was closed again: its lock is free.
    assert run("log", "append", log_dir, _files(log_dir.parent, [b"x"])[0]).exit_code == 0


def test_witness_serve_on_a_port_in_use_names_the_address(tmp_path: Path, busy_port: int) -> None:
    vkey = _write_key(tmp_path / "log.key")
    _write_key(tmp_path / "w.key", name="w", sig_type=0x04)
    args: list[str | Path] = ["--key", tmp_path / "w.key", "--log", vkey, "--state", tmp_path / "s"]
    result = run("witness", "serve", *args, "--listen", f"127.0.0.1:{busy_port}")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{busy_port}: the address is already in use" in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_help_lists_the_log_and_witness_commands() -> None:
    result = run("--help")
    assert "log" in result.stdout
    assert "witness" in result.stdout
    assert run("log", "--help").exit_code == 0


def _start(*args: str | Path) -> tuple[subprocess.Popen[str], str]:
    """Start a long-running keybundle command; return it and the URL its first line names."""
    process = subprocess.Popen(
        [sys.executable, "-m", "keybundle_cli", *[str(a) for a in args]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if match is None:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f"no listening line: {line!r} {process.stderr.read()!r}")
    return process, match.group(1)


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_witness_serve_cosigns_the_checkpoints_of_a_log_configured_with_it(
    tmp_path: Path,
) -> None:
    log_vkey = _write_key(tmp_path / "log.key")
    (tmp_path / "log.pub").write_text(log_vkey + "\n")
    witness_vkey = _write_key(
        tmp_path / "w.key", name="witness.example/w1", sig_type=0x04, seed_bytes=b"\x05" * 32
    )
    witness, url = _start(
        "witness",
        "serve",
        "--key",
        tmp_path / "w.key",
        "--log",
        tmp_path / "log.pub",
        "--state",
        tmp_path / "w-state",
        "--listen",
        "127.0.0.1:0",
    )
    try:
        policy = f"log {log_vkey}\nwitness w1 {witness_vkey} {url}\nquorum w1\n"
        (tmp_path / "witnesses.policy").write_text(policy)
        init = run(
            "log",
            "init",
            tmp_path / "log",
            "--origin",
            ORIGIN,
            "--key",
            tmp_path / "log.key",
            "--witnesses",
            tmp_path / "witnesses.policy",
        )
        assert init.exit_code == 0, init.output
        result = run("log", "append", tmp_path / "log", *_files(tmp_path, [b"a", b"b"]))
        assert result.exit_code == 0, result.output
        proof = run("log", "proof", tmp_path / "log", "--index", "1")
        assert proof.exit_code == 0, proof.output
        verified = verify_tlog_proof(
            parse_tlog_proof(proof.stdout),
            leaf_hash(b"b"),
            note.new_verifier(log_vkey),
            witnesses=[note.new_verifier(witness_vkey)],
        )
        assert set(verified.cosignatures) == {"witness.example/w1"}
    finally:
        assert _stop(witness) == 0
    assert list((tmp_path / "w-state").glob("*.state"))


class _CountingState(MemoryStateStore):
    saves = 0

    def save(self, origin: str, state: TreeState) -> None:
        super().save(origin, state)
        self.saves += 1


def test_serve_recosigns_an_idle_log_with_witnesses(tmp_path: Path) -> None:
    log_vkey = _write_key(tmp_path / "log.key")
    signer = CosignatureV1Signer("witness.example/w1", b"\x05" * 32)
    state = _CountingState()
    witness = Witness(signer, {ORIGIN: note.new_verifier(log_vkey)}, state)
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as witness_server:
        url = f"http://127.0.0.1:{witness_server.port}"
        policy = f"log {log_vkey}\nwitness w1 {signer.verifier().verifier_key} {url}\nquorum w1\n"
        (tmp_path / "witnesses.policy").write_text(policy)
        directory = tmp_path / "log"
        init = run(
            "log", "init", directory, "--origin", ORIGIN, "--key", tmp_path / "log.key",
            "--witnesses", tmp_path / "witnesses.policy",
        )  # fmt: skip
        assert init.exit_code == 0, init.output
        cosigned = state.saves
        server, _ = _start("log", "serve", directory, "--listen", "127.0.0.1:0",
                           "--recosign-interval", "0.3")  # fmt: skip
        try:
            deadline = time.monotonic() + 15
            while state.saves < cosigned + 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert state.saves >= cosigned + 2  # asked again, twice, without any growth
        finally:
            assert _stop(server) == 0
    proof = run("log", "proof", directory, "--index", "0")
    assert proof.exit_code == 2  # an empty log, still verifying with its witness
    assert "has 0 entries" in proof.stderr


def test_serve_notes_that_a_log_has_no_witnesses_yet(log_dir: Path) -> None:
    server, _ = _start("log", "serve", log_dir, "--listen", "127.0.0.1:0",
                       "--recosign-interval", "60")  # fmt: skip
    assert _stop(server) == 0
    assert server.stderr is not None
    assert "the log has no witnesses yet ('keybundle log witnesses DIR --set')" in (
        server.stderr.read()
    )


@pytest.mark.parametrize(
    ("log_arg", "message"),
    [("not-a-key", "neither a verifier key nor a readable file"), ("a+b+c", "--log 'a+b+c'")],
)
def test_witness_serve_rejects_bad_log_keys(tmp_path: Path, log_arg: str, message: str) -> None:
    _write_key(tmp_path / "w.key", name="w", sig_type=0x04)
    result = run(
        "witness",
        "serve",
        "--key",
        tmp_path / "w.key",
        "--log",
        log_arg,
        "--state",
        tmp_path / "s",
        "--listen",
        "127.0.0.1:0",
    )
    assert result.exit_code == 2
    assert message in result.stderr


def test_witness_serve_needs_a_cosignature_key(tmp_path: Path) -> None:
    vkey = _write_key(tmp_path / "log.key")
    result = run(
        "witness",
        "serve",
        "--key",
        tmp_path / "log.key",
        "--log",
        vkey,
        "--state",
        tmp_path / "s",
        "--listen",
        "127.0.0.1:0",
    )
    assert result.exit_code == 2
    assert "is not a cosignature/v1 key" in result.stderr
