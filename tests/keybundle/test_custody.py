"""Tests for keybundle.custody: key files, modes, passphrases, note keys (SPEC §4.3)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from keybundle.custody import (
    NOTE_KEY_HEADER,
    PassphraseEnv,
    PassphraseFile,
    PassphrasePrompt,
    decrypt_private_key,
    encrypt_private_key,
    generate_role_key,
    load_note_key,
    load_note_verifier_key,
    load_private_key,
    load_public_key,
    load_signer,
    write_note_key,
    write_note_verifier_key,
    write_private_key,
    write_public_key,
)
from keybundle.signers import Ed25519Signer, P256Signer
from transparency_log import note

FAST = 1000
"""PBKDF2 rounds in tests (the default, 600 000, is exercised once)."""
SECRET = b"correct horse battery staple"


class Literal:
    """A passphrase source with a fixed value."""

    def __init__(self, value: bytes) -> None:
        self.value = value

    def read(self) -> bytes:
        return self.value


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- role keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ed25519", "p256"])
def test_role_key_round_trip(tmp_path: Path, algorithm: str, umask_022: None) -> None:
    signer = generate_role_key(algorithm)  # type: ignore[arg-type]
    path = tmp_path / "key.pem"
    write_private_key(path, signer, Literal(SECRET), iterations=FAST)
    assert mode(path) == 0o600
    loaded = load_private_key(path, Literal(SECRET))
    assert loaded.public_key() == signer.public_key()
    assert loaded.algorithm == algorithm
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]  # no temp file left


def test_default_iterations_and_mode_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "key.pem"
        write_private_key(path, Ed25519Signer(bytes(32)), Literal(SECRET))
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert load_private_key(path, Literal(SECRET)).kid == Ed25519Signer(bytes(32)).kid


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_private_key(path, Ed25519Signer(bytes(32)), Literal(SECRET), iterations=FAST)
    assert path.read_bytes() == b"precious"
    link = tmp_path / "link.pem"
    link.symlink_to(tmp_path / "elsewhere.pem")
    with pytest.raises(FileExistsError):
        write_private_key(link, Ed25519Signer(bytes(32)), Literal(SECRET), iterations=FAST)
    assert not (tmp_path / "elsewhere.pem").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem", "link.pem"]


def test_wrong_passphrase_is_a_clear_value_error(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    write_private_key(path, P256Signer.generate(), Literal(SECRET), iterations=FAST)
    with pytest.raises(ValueError, match="wrong passphrase") as exc:
        load_private_key(path, Literal(b"guess"))
    assert "guess" not in str(exc.value)
    assert SECRET.decode() not in str(exc.value)


def test_unencrypted_or_foreign_key_files_are_refused(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    plain = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "plain.pem"
    path.write_bytes(plain)
    with pytest.raises(ValueError, match="not an encrypted PKCS#8"):
        load_private_key(path, Literal(SECRET))
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * 20000)
    with pytest.raises(ValueError, match="larger than"):
        load_private_key(big, Literal(SECRET))


def test_files_are_standard_encrypted_pkcs8() -> None:
    signer = Ed25519Signer(bytes(range(32)))
    pem = encrypt_private_key(signer, SECRET, iterations=FAST)
    # cryptography (OpenSSL) reads it with the passphrase.
    key = serialization.load_pem_private_key(pem, SECRET)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert key.private_bytes_raw() == bytes(range(32))
    assert decrypt_private_key(pem, SECRET).kid == signer.kid


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_openssl_reads_the_key_file_and_sees_pbes2(tmp_path: Path) -> None:
    signer = P256Signer.generate()
    path = tmp_path / "key.pem"
    write_private_key(path, signer, Literal(SECRET), iterations=FAST)
    out = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-passin", "env:KB_PASS", "-pubout"],
        capture_output=True,
        check=True,
        env={**os.environ, "KB_PASS": SECRET.decode()},
    )
    assert out.stdout == signer.public_key().spki_pem()
    parsed = subprocess.run(
        ["openssl", "asn1parse", "-in", str(path)], capture_output=True, check=True, text=True
    ).stdout
    for name in ("PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc", ":03E8"):
        assert name in parsed


def test_encryption_is_randomised_by_rand() -> None:
    signer = Ed25519Signer(bytes(32))
    a = encrypt_private_key(signer, SECRET, iterations=FAST, rand=lambda n: b"\x01" * n)
    b = encrypt_private_key(signer, SECRET, iterations=FAST, rand=lambda n: b"\x01" * n)
    c = encrypt_private_key(signer, SECRET, iterations=FAST)
    assert a == b != c


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty passphrase"):
        encrypt_private_key(Ed25519Signer(bytes(32)), b"", iterations=FAST)


def test_generate_role_key() -> None:
    assert generate_role_key("ed25519", rand=bytes).kid == Ed25519Signer(bytes(32)).kid
    assert generate_role_key("p256").algorithm == "p256"
    with pytest.raises(ValueError, match="unknown key algorithm"):
        generate_role_key("rsa")  # type: ignore[arg-type]


def test_private_key_material_never_in_repr_or_str(tmp_path: Path) -> None:
    seed = bytes(range(100, 132))
    signer = Ed25519Signer(seed)
    path = tmp_path / "key.pem"
    write_private_key(path, signer, Literal(SECRET), iterations=FAST)
    loaded = load_private_key(path, Literal(SECRET))
    for text in (repr(loaded), str(loaded), repr(signer), str(signer)):
        assert seed.hex() not in text
        assert seed.hex().upper() not in text
    env = PassphraseEnv("KB_TEST_PASS", environ={"KB_TEST_PASS": "hunter2"})
    assert "hunter2" not in repr(env)
    prompt = PassphrasePrompt(lambda _: "hunter2")
    assert "hunter2" not in repr(prompt)


def test_public_key_files(tmp_path: Path) -> None:
    signer = P256Signer.generate()
    path = tmp_path / "key.pub"
    write_public_key(path, signer.public_key())
    assert mode(path) == 0o644
    assert path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert load_public_key(path) == signer.public_key()
    with pytest.raises(FileExistsError):
        write_public_key(path, signer.public_key())


# -- passphrase sources ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"pw\n", b"pw"),
        (b"pw\r\n", b"pw"),
        (b"pw", b"pw"),
        (b"pw\n\n", b"pw\n"),
        (b" pw ", b" pw "),
    ],
)
def test_passphrase_file_strips_one_newline(
    tmp_path: Path, content: bytes, expected: bytes
) -> None:
    path = tmp_path / "pass"
    path.write_bytes(content)
    assert PassphraseFile(path).read() == expected


def test_passphrase_sources_report_missing_values(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    with pytest.raises(ValueError, match="is empty"):
        PassphraseFile(empty).read()
    with pytest.raises(ValueError, match="KB_NOPE is not set"):
        PassphraseEnv("KB_NOPE", environ={}).read()
    with pytest.raises(ValueError, match="empty passphrase"):
        PassphrasePrompt(lambda _: "").read()
    assert PassphraseEnv("KB_P", environ={"KB_P": "é"}).read() == "é".encode()
    asked: list[str] = []

    def prompt(message: str) -> str:
        asked.append(message)
        return "pw"

    assert PassphrasePrompt(prompt, "Key passphrase: ").read() == b"pw"
    assert asked == ["Key passphrase: "]


def test_load_signer_from_a_file_reference(tmp_path: Path) -> None:
    signer = Ed25519Signer(bytes(32))
    path = tmp_path / "key.pem"
    write_private_key(path, signer, Literal(SECRET), iterations=FAST)
    assert load_signer(str(path), Literal(SECRET)).kid == signer.kid
    with pytest.raises(ValueError, match="passphrase source is needed"):
        load_signer(str(path))
    with pytest.raises(ValueError, match="non-empty"):
        load_signer("")


# -- note keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("sig_type", [0x01, 0x04])
def test_encrypted_note_key_round_trip(tmp_path: Path, sig_type: int) -> None:
    skey, vkey = note.generate_key("log.example/test", sig_type=sig_type)
    path = tmp_path / "note.key"
    write_note_key(path, skey, Literal(SECRET), iterations=FAST)
    assert mode(path) == 0o600
    text = path.read_text()
    assert text.startswith(f"{NOTE_KEY_HEADER}\nname log.example/test\ntype {sig_type:02x}\nhash ")
    assert "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" in text
    assert skey not in text
    assert skey.split("+", 4)[4] not in text  # the base64 secret does not appear
    assert load_note_key(path, Literal(SECRET)) == skey
    signer = note.new_signer(load_note_key(path, Literal(SECRET)))
    verifier = note.new_verifier(vkey)
    text_ = b"log.example/test\n1\n" + b"A" * 43 + b"=\n"  # checkpoint-shaped
    assert verifier.verify(text_, signer.sign(text_))


def test_plain_note_key_is_the_go_compatible_string(tmp_path: Path) -> None:
    skey, _ = note.generate_key("witness.example")
    path = tmp_path / "note.key"
    write_note_key(path, skey, None)
    assert mode(path) == 0o600
    assert path.read_text() == skey + "\n"
    assert load_note_key(path, None) == skey
    with pytest.raises(FileExistsError):
        write_note_key(path, skey, None)


def test_note_key_errors(tmp_path: Path) -> None:
    skey, _ = note.generate_key("log.example")
    secret = skey.split("+", 4)[4]  # PRIVATE+KEY+name+hash+base64; base64 may hold "+"
    path = tmp_path / "note.key"
    write_note_key(path, skey, Literal(SECRET), iterations=FAST)
    with pytest.raises(ValueError, match="passphrase source is needed"):
        load_note_key(path, None)
    with pytest.raises(ValueError, match="wrong passphrase"):
        load_note_key(path, Literal(b"nope"))
    edited = tmp_path / "edited.key"
    edited.write_text(path.read_text().replace("name log.example", "name other.example"))
    with pytest.raises(ValueError, match="do not match the key") as exc:
        load_note_key(edited, Literal(SECRET))
    assert secret not in str(exc.value)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("hello\n")
    with pytest.raises(ValueError, match="neither a signer-key string"):
        load_note_key(garbage, None)
    two_lines = tmp_path / "two.key"
    two_lines.write_text(skey + "\n" + skey + "\n")
    with pytest.raises(ValueError, match="one line"):
        load_note_key(two_lines, None)
    # A corrupted signer key is refused without echoing it.
    bad = skey[:-6] + ("AAAA==" if not skey.endswith("AAAA==") else "BBBB==")
    with pytest.raises(ValueError, match="signer key") as exc2:
        write_note_key(tmp_path / "bad.key", bad, None)
    assert bad.split("+", 4)[4] not in str(exc2.value)
    assert not (tmp_path / "bad.key").exists()


def test_note_verifier_key_files(tmp_path: Path) -> None:
    _, vkey = note.generate_key("log.example")
    path = tmp_path / "note.pub"
    write_note_verifier_key(path, vkey)
    assert mode(path) == 0o644
    assert path.read_text() == vkey + "\n"
    assert load_note_verifier_key(path) == vkey
    with pytest.raises(ValueError, match="verifier key"):
        write_note_verifier_key(tmp_path / "x.pub", vkey[:-4] + "AAA=")
