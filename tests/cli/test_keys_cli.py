"""Tests for ``keybundle keys generate`` and ``keys show`` (SPEC §10.1)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization

from keybundle.custody import NOTE_KEY_HEADER, PassphraseFile, load_note_key, load_private_key
from keybundle.signers import PublicKey
from keybundle_cli import _common
from keybundle_cli.commands import cli
from transparency_log import note

PASSPHRASE = "correct horse battery staple"
KEYBUNDLE = Path(sys.executable).parent / "keybundle"


def run(
    args: Sequence[str], *, env: dict[str, str] | None = None, stdin: str | None = None
) -> Result:
    """Invoke ``keybundle ARGS`` in-process, with no passphrase in the environment."""
    runner = CliRunner(env={_common.PASSPHRASE_ENV: None, **(env or {})})
    result = runner.invoke(cli, list(args), input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    return result


def run_child(
    args: Sequence[str], *, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a child process as a script would: no terminal on standard input, output kept."""
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def secrets_of_note_key(path: Path, passphrase: str | None = None) -> list[str]:
    """The secret parts of a note key file, as they could leak: base64 and hex of the seed."""
    source = None if passphrase is None else _Literal(passphrase)
    skey = load_note_key(path, source)
    secret_b64 = skey.split("+", 4)[4]  # PRIVATE+KEY+<name>+<hash>+<base64>
    seed = base64.b64decode(secret_b64)[1:]
    return [secret_b64, seed.hex(), base64.b64encode(seed).decode()]


def secrets_of_role_key(path: Path, passphrase: str) -> list[str]:
    """The secret parts of a role key file as they could leak (raw hex, PKCS#8 in PEM)."""
    signer = load_private_key(path, _Literal(passphrase))
    key = signer.private_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = "".join(pem.splitlines()[1:-1])
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return [body[:40], der.hex()[-64:], path.read_text().splitlines()[1]]


def assert_no_secret(result: Result, secrets: Sequence[str]) -> None:
    for secret in secrets:
        assert secret not in result.output
        assert secret not in result.stderr


class _Literal:
    def __init__(self, value: str) -> None:
        self.value = value.encode()

    def read(self) -> bytes:
        return self.value


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- note and cosignature keys ----------------------------------------------------------------


def test_note_key_without_passphrase_is_plain_go_string_with_a_warning(tmp_path: Path) -> None:
    prefix = tmp_path / "log"
    result = run(["keys", "generate", "--name", "log.example/tree", "--out", str(prefix)])
    assert result.exit_code == 0, result.output
    key, pub = tmp_path / "log.key", tmp_path / "log.pub"
    assert mode(key) == 0o600
    text = key.read_text()
    assert text.startswith("PRIVATE+KEY+log.example/tree+")
    assert text.endswith("\n")
    vkey = pub.read_text()
    assert vkey.endswith("\n")
    assert vkey.count("\n") == 1
    verifier = note.new_verifier(vkey[:-1])
    assert isinstance(verifier, note.Ed25519Verifier)
    assert result.stdout == vkey  # the public key is printed, nothing else
    assert "NOT encrypted" in result.stderr
    assert note.new_signer(text[:-1]).key_hash == verifier.key_hash
    assert_no_secret(result, secrets_of_note_key(key))


def test_cosignature_key_has_type_0x04(tmp_path: Path) -> None:
    result = run(
        ["keys", "generate", "--name", "w1", "--type", "cosignature", "--out", str(tmp_path / "w")]
    )
    assert result.exit_code == 0, result.output
    verifier = note.new_verifier((tmp_path / "w.pub").read_text().strip())
    assert verifier.sig_type == 0x04  # type: ignore[attr-defined]
    assert mode(tmp_path / "w.key") == 0o600


def test_note_key_with_passphrase_from_env_is_encrypted(tmp_path: Path) -> None:
    result = run(
        ["keys", "generate", "--name", "log", "--out", str(tmp_path / "log")],
        env={_common.PASSPHRASE_ENV: PASSPHRASE},
    )
    assert result.exit_code == 0, result.output
    key = tmp_path / "log.key"
    assert key.read_text().startswith(NOTE_KEY_HEADER + "\n")
    assert "warning" not in result.stderr
    assert mode(key) == 0o600
    assert_no_secret(result, secrets_of_note_key(key, PASSPHRASE))


def test_note_key_with_passphrase_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSPHRASE + "\n")
    result = run(
        [
            "keys",
            "generate",
            "--name",
            "log",
            "--out",
            str(tmp_path / "log"),
            "--passphrase-file",
            str(pw),
        ]
    )
    assert result.exit_code == 0, result.output
    load_note_key(tmp_path / "log.key", PassphraseFile(pw))


def test_prompt_is_used_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "_stdin_is_tty", lambda: True)
    result = run(
        ["keys", "generate", "--algorithm", "ed25519", "--out", str(tmp_path / "k")],
        stdin="s3cret\ns3cret\n",
    )
    assert result.exit_code == 0, result.output
    load_private_key(tmp_path / "k.key", _Literal("s3cret"))
    assert "s3cret" not in result.output


def test_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    prefix = str(tmp_path / "log")
    assert run(["keys", "generate", "--name", "log", "--out", prefix]).exit_code == 0
    before = (tmp_path / "log.key").read_bytes()
    result = run(["keys", "generate", "--name", "log", "--out", prefix])
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert "--force" in result.stderr
    assert (tmp_path / "log.key").read_bytes() == before
    # Only the .pub left over still blocks: no half-written pair.
    (tmp_path / "log.key").unlink()
    assert run(["keys", "generate", "--name", "log", "--out", prefix]).exit_code == 2
    forced = run(["keys", "generate", "--name", "log", "--out", prefix, "--force"])
    assert forced.exit_code == 0
    assert (tmp_path / "log.key").read_bytes() != before
    assert mode(tmp_path / "log.key") == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--type", "note", "--algorithm", "p256"], "mutually exclusive"),
        ([], "--name is required"),
        (["--name", "bad name"], "invalid key name"),
        (["--name", "x", "--type", "rsa"], "'rsa' is not one of"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(["keys", "generate", "--out", str(tmp_path / "k"), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "k.key").exists()


# -- role keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ed25519", "p256"])
def test_role_key_is_encrypted_pkcs8_and_prints_the_kid(tmp_path: Path, algorithm: str) -> None:
    result = run(
        [
            "keys",
            "generate",
            "--algorithm",
            algorithm,
            "--out",
            str(tmp_path / "op"),
            "--name",
            "operator-1",
        ],
        env={_common.PASSPHRASE_ENV: PASSPHRASE},
    )
    assert result.exit_code == 0, result.output
    key, pub = tmp_path / "op.key", tmp_path / "op.pub"
    assert mode(key) == 0o600
    assert key.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    public = PublicKey.from_pem(pub.read_bytes())
    assert public.algorithm == algorithm
    assert result.stdout == f"{public.kid.hex()}  operator-1\n"
    signer = load_private_key(key, _Literal(PASSPHRASE))
    assert signer.public_key() == public
    assert_no_secret(result, secrets_of_role_key(key, PASSPHRASE))


def test_role_key_without_passphrase_says_how_to_give_one(tmp_path: Path) -> None:
    result = run(["keys", "generate", "--algorithm", "ed25519", "--out", str(tmp_path / "k")])
    assert result.exit_code == 2
    assert "--passphrase-file" in result.stderr
    assert "KEYBUNDLE_PASSPHRASE" in result.stderr
    assert not (tmp_path / "k.key").exists()
    assert not (tmp_path / "k.pub").exists()


def test_empty_passphrase_file_is_refused_before_any_file_is_touched(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("\n")
    (tmp_path / "k.key").write_text("old\n")
    result = run(
        [
            "keys",
            "generate",
            "--algorithm",
            "p256",
            "--force",
            "--out",
            str(tmp_path / "k"),
            "--passphrase-file",
            str(tmp_path / "pw"),
        ]
    )
    assert result.exit_code == 2
    assert "is empty" in result.stderr
    assert (tmp_path / "k.key").read_text() == "old\n"


# -- keys show --------------------------------------------------------------------------------


def test_show_role_and_note_keys(tmp_path: Path) -> None:
    run(
        ["keys", "generate", "--algorithm", "p256", "--out", str(tmp_path / "op")],
        env={_common.PASSPHRASE_ENV: PASSPHRASE},
    )
    run(["keys", "generate", "--name", "w1", "--type", "cosignature", "--out", str(tmp_path / "w")])
    public = PublicKey.from_pem((tmp_path / "op.pub").read_bytes())
    shown = run(["keys", "show", str(tmp_path / "op.pub"), "--json"])
    assert shown.exit_code == 0
    info = json.loads(shown.stdout)
    assert info["kid"] == public.kid.hex()
    assert info["algorithm"] == "p256"
    assert info["fingerprint"].startswith("sha256:" + public.kid.hex())
    text = run(["keys", "show", str(tmp_path / "w.pub")])
    assert text.exit_code == 0
    assert "name:" in text.stdout
    assert "w1" in text.stdout
    assert "cosignature" in text.stdout


def test_show_refuses_garbage_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"\xff\x00junk")
    assert run(["keys", "show", str(tmp_path / "junk")]).exit_code == 2
    missing = run(["keys", "show", str(tmp_path / "missing.pub")])
    assert missing.exit_code == 2
    assert "No such file" in missing.stderr


# -- the installed command -----------------------------------------------------------------


def test_subprocess_generate_is_non_interactive(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != _common.PASSPHRASE_ENV}
    done = run_child(
        [str(KEYBUNDLE), "keys", "generate", "--name", "example.com/log", "--out", "log"],
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert mode(tmp_path / "log.key") == 0o600
    assert done.stdout == (tmp_path / "log.pub").read_text()


def test_missing_output_directory_exits_2(tmp_path: Path) -> None:
    result = run(["keys", "generate", "--name", "x", "--out", str(tmp_path / "no" / "k")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
