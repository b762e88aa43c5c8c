"""Tests for ``keybundle keys generate`` and ``keys show`` (CLI §10.1)."""

from __future__ import annotations

import base64
import json
import os
import shutil
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
    result = run(
        ["keys", "generate", "--type", "note", "--name", "log.example/tree", "--out", str(prefix)]
    )
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
    # Labelled: the kind of key, both files, the verifier key.
    assert "generated note key 'log.example/tree' (ed25519)" in result.stdout
    assert f"verifier key: {vkey}" in result.stdout
    assert "NOT encrypted" in result.stdout
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
        ["keys", "generate", "--type", "note", "--name", "log", "--out", str(tmp_path / "log")],
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
            "--type",
            "note",
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
    assert (
        run(["keys", "generate", "--type", "note", "--name", "log", "--out", prefix]).exit_code == 0
    )
    before = (tmp_path / "log.key").read_bytes()
    result = run(["keys", "generate", "--type", "note", "--name", "log", "--out", prefix])
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert "--force" in result.stderr
    assert (tmp_path / "log.key").read_bytes() == before
    # Only the .pub left over still blocks: no half-written pair.
    (tmp_path / "log.key").unlink()
    assert (
        run(["keys", "generate", "--type", "note", "--name", "log", "--out", prefix]).exit_code == 2
    )
    forced = run(
        ["keys", "generate", "--type", "note", "--name", "log", "--out", prefix, "--force"]
    )
    assert forced.exit_code == 0
    assert (tmp_path / "log.key").read_bytes() != before
    assert mode(tmp_path / "log.key") == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--type", "note", "--algorithm", "p256"], "mutually exclusive"),
        ([], "give --type note|cosignature"),
        (["--name", "x"], "give --type note|cosignature"),
        (["--type", "note"], "--name is required"),
        (["--type", "note", "--name", "bad name"], "invalid key name"),
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
    assert f"kid:          {public.kid.hex()}\n" in result.stdout
    assert "generated role key 'operator-1'" in result.stdout
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
    info = json.loads(shown.stdout)["result"]
    assert info["kid"] == public.kid.hex()
    assert info["algorithm"] == "p256"
    assert info["fingerprint"].startswith(public.kid.hex())  # JSON: bare hex, as everywhere
    human = run(["keys", "show", str(tmp_path / "op.pub")])
    assert f"fingerprint: sha256:{public.kid.hex()}" in human.stdout
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


def test_show_refuses_an_input_over_max_input_bytes(tmp_path: Path) -> None:
    # CLI §10.1, SPEC §11: the general input cap of cli/_common.py, here on `keys show`.
    limit = _common.MAX_INPUT_BYTES
    (tmp_path / "big.pub").write_bytes(b"-" * (limit + 1))
    big = run(["keys", "show", str(tmp_path / "big.pub")])
    assert big.exit_code == 2
    assert f"big.pub is larger than {limit} bytes" in big.stderr
    (tmp_path / "at-limit.pub").write_bytes(b"-" * limit)
    at_limit = run(["keys", "show", str(tmp_path / "at-limit.pub")])
    assert at_limit.exit_code == 2  # read whole and refused as a key, not for its size
    assert "larger than" not in at_limit.stderr


# -- the installed command -----------------------------------------------------------------


def test_subprocess_generate_is_non_interactive(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != _common.PASSPHRASE_ENV}
    done = run_child(
        [
            str(KEYBUNDLE),
            "keys",
            "generate",
            "--type",
            "note",
            "--name",
            "example.com/log",
            "--out",
            "log",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert mode(tmp_path / "log.key") == 0o600
    assert f"verifier key: {(tmp_path / 'log.pub').read_text()}" in done.stdout


def test_missing_output_directory_exits_2(tmp_path: Path) -> None:
    result = run(
        ["keys", "generate", "--type", "note", "--name", "x", "--out", str(tmp_path / "no" / "k")]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- role keys generated in an HSM (SoftHSM2) -------------------------------------------------

HSM_PIN = "4321"
HSM_TOKEN = "keys-cli"
SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
_SIGN_WITH_URI = (
    "import sys; from keybundle.custody import PassphraseEnv, load_signer; "
    "pin = PassphraseEnv('KEYBUNDLE_PASSPHRASE'); "
    "print(load_signer(sys.argv[1], pin).sign(b'signed in the token').hex())"
)


class Token:
    """A fresh SoftHSM2 token in a temporary directory, used by child processes only (the
    SOFTHSM2_CONF of this process, and python-pkcs11's state in it, stay untouched)."""

    def __init__(self, root: Path) -> None:
        util = shutil.which("softhsm2-util")
        module = next((m for m in SOFTHSM_MODULES if Path(m).exists()), None)
        if util is None or module is None:
            pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2)")
        (root / "tokens").mkdir()
        conf = root / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {root / 'tokens'}\nlog.level = ERROR\n")
        self.env = {k: v for k, v in os.environ.items() if k != _common.PASSPHRASE_ENV}
        self.env["SOFTHSM2_CONF"] = str(conf)
        subprocess.run(
            [
                util,
                "--init-token",
                "--free",
                "--label",
                HSM_TOKEN,
                "--pin",
                HSM_PIN,
                "--so-pin",
                "87654321",
            ],
            check=True,
            capture_output=True,
            env=self.env,
        )
        self.module = module
        self.pin_file = root / "hsm.pin"
        self.pin_file.write_text(HSM_PIN + "\n")
        self.root = root

    def uri(self, label: str, *, pin: str = "source", kind: str = ";type=private") -> str:
        query = f"module-path={self.module}"
        if pin == "source":
            query += f"&pin-source=file:{self.pin_file}"
        elif pin == "value":
            query += f"&pin-value={HSM_PIN}"
        return f"pkcs11:token={HSM_TOKEN};object={label}{kind}?{query}"

    def keybundle(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_child([str(KEYBUNDLE), *args], cwd=self.root, env=self.env)

    def sign(self, uri: str, *, passphrase: str | None = None) -> bytes:
        env = self.env if passphrase is None else {**self.env, _common.PASSPHRASE_ENV: passphrase}
        done = run_child([sys.executable, "-c", _SIGN_WITH_URI, uri], cwd=self.root, env=env)
        assert done.returncode == 0, done.stderr
        return bytes.fromhex(done.stdout.strip())


def printed_uri(stdout: str) -> str:
    """The URI `keys generate --pkcs11` prints to sign with (its `sign with:` line)."""
    for line in stdout.splitlines():
        if line.strip().startswith("sign with:"):
            return line.split("--key ", 1)[1].strip("'")
    raise AssertionError(f"no 'sign with:' line in {stdout!r}")


@pytest.fixture
def token(tmp_path: Path) -> Token:
    return Token(tmp_path)


@pytest.mark.parametrize("algorithm", ["ed25519", "p256"])
def test_pkcs11_generate_writes_only_the_public_key_and_prints_kid_and_uri(
    token: Token, algorithm: str
) -> None:
    uri = token.uri(f"operator-{algorithm}")
    done = token.keybundle(
        "keys", "generate", "--algorithm", algorithm, "--pkcs11", uri, "--out", "op", "--name",
        "operator-2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    pub = token.root / "op.pub"
    public = PublicKey.from_pem(pub.read_bytes())
    assert public.algorithm == algorithm
    assert mode(pub) == 0o644
    assert not (token.root / "op.key").exists()  # the private key stays in the token
    assert f"kid:          {public.kid.hex()}\n" in done.stdout
    assert f"sign with:    --key '{uri}'\n" in done.stdout
    # The printed URI signs in the token, under the public key written.
    public.verify(b"signed in the token", token.sign(printed_uri(done.stdout)))


def test_pkcs11_generate_takes_the_pin_from_the_passphrase_file(token: Token) -> None:
    uri = token.uri("pin-from-file", pin="none", kind="")
    without = token.keybundle(
        "keys", "generate", "--algorithm", "p256", "--pkcs11", uri, "--out", "a"
    )
    assert without.returncode == 2
    assert "--passphrase-file" in without.stderr
    assert "KEYBUNDLE_PASSPHRASE" in without.stderr
    done = token.keybundle(
        "keys", "generate", "--algorithm", "p256", "--pkcs11", uri, "--out", "a",
        "--passphrase-file", str(token.pin_file),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = printed_uri(done.stdout)
    assert printed == uri.replace("object=pin-from-file", "object=pin-from-file;type=private")
    public = PublicKey.from_pem((token.root / "a.pub").read_bytes())
    public.verify(b"signed in the token", token.sign(printed, passphrase=HSM_PIN))


def test_pkcs11_generate_never_prints_a_pin_value(token: Token) -> None:
    uri = token.uri("pin-in-uri", pin="value")
    done = token.keybundle(
        "keys", "generate", "--algorithm", "ed25519", "--pkcs11", uri, "--out", "k"
    )
    assert done.returncode == 0, done.stderr
    assert HSM_PIN not in done.stdout + done.stderr
    assert printed_uri(done.stdout) == token.uri("pin-in-uri", pin="none")
    assert "leaves out the pin-value" in done.stderr


def test_pkcs11_generate_refuses_a_label_the_token_holds_and_an_existing_pub(
    token: Token,
) -> None:
    uri = token.uri("taken")
    first = token.keybundle(
        "keys", "generate", "--algorithm", "ed25519", "--pkcs11", uri, "--out", "a"
    )
    assert first.returncode == 0, first.stderr
    again = token.keybundle(
        "keys", "generate", "--algorithm", "p256", "--pkcs11", uri, "--out", "b"
    )
    assert again.returncode == 2
    assert again.stderr == "keybundle: error: the token already holds a key labelled 'taken'\n"
    assert not (token.root / "b.pub").exists()
    # An existing PREFIX.pub is refused before the token is asked for anything.
    fresh = token.uri("fresh")
    kept = token.keybundle(
        "keys", "generate", "--algorithm", "p256", "--pkcs11", fresh, "--out", "a"
    )
    assert kept.returncode == 2
    assert "a.pub already exists" in kept.stderr
    done = token.keybundle(
        "keys", "generate", "--algorithm", "p256", "--pkcs11", fresh, "--out", "c"
    )
    assert done.returncode == 0, done.stderr  # so the label 'fresh' was still free


def test_pkcs11_generate_with_a_wrong_pin_exits_2(token: Token) -> None:
    (token.root / "wrong.pin").write_text("0000\n")
    uri = token.uri("wrong", pin="none")
    done = token.keybundle(
        "keys", "generate", "--algorithm", "ed25519", "--pkcs11", uri, "--out", "w",
        "--passphrase-file", "wrong.pin",
    )  # fmt: skip
    assert done.returncode == 2
    assert "rejected the PIN" in done.stderr
    assert "0000" not in done.stderr
    assert not (token.root / "w.pub").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pkcs11", "pkcs11:token=t;object=k?module-path=/x.so"], "give --algorithm"),
        (
            ["--type", "note", "--algorithm", "p256", "--pkcs11", "pkcs11:object=k"],
            "mutually exclusive",
        ),
        (
            ["--algorithm", "p256", "--pkcs11", "pkcs11:token=t;object=k;type=public"],
            "type=private",
        ),
        (["--algorithm", "p256", "--pkcs11", "pkcs11:token=t?module-path=/x.so"], "object=<label>"),
        (["--algorithm", "p256", "--pkcs11", "pkcs11:token=t;flavour=k"], "not supported"),
        (
            ["--algorithm", "p256", "--pkcs11", "pkcs11:token=t;object=k?module-path=/x.so"],
            "needs a passphrase and none was given",
        ),
    ],
    ids=["no algorithm", "with --type", "public key", "no label", "bad URI", "no PIN"],
)
def test_pkcs11_generate_user_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(["keys", "generate", "--out", str(tmp_path / "k"), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "pkcs11:token=t;object=k?module-path=/m.so",
            "pkcs11:token=t;object=k;type=private?module-path=/m.so",
        ),
        (
            "pkcs11:object=k;type=private?pin-value=1234&module-path=/m.so",
            "pkcs11:object=k;type=private?module-path=/m.so",
        ),
        ("pkcs11:token=a%20b;object=k;id=%01", "pkcs11:token=a%20b;object=k;id=%01;type=private"),
    ],
)
def test_key_uri_adds_the_type_and_drops_a_pin_value(uri: str, expected: str) -> None:
    from keybundle_cli.keys import key_uri

    assert key_uri(uri) == expected
