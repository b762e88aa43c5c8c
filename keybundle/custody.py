"""Key custody: role-key and note-key files, passphrase sources, key references (SPEC §4.3).

Private keys live in files that only their owner can read (mode 0600, created exclusively
and atomically: never overwritten, never half-written) and, for role keys, always encrypted:

* **Role keys** (independent party, operator: Ed25519 or P-256) are RFC 5958 encrypted
  PKCS#8 in PEM (``ENCRYPTED PRIVATE KEY``), PBES2 with PBKDF2-HMAC-SHA256
  (``PBKDF2_ITERATIONS`` rounds, 16-byte salt) and AES-256-CBC (RFC 8018). OpenSSL and most
  tooling read them. Public halves are SubjectPublicKeyInfo PEM files.
* **Note keys** (the log's and witnesses' C2SP signed-note keys) are either the plain,
  Go-compatible signer-key string ``PRIVATE+KEY+<name>+<hash>+<base64>``, or — when a
  passphrase is available — a small wrapper: a header line ``keybundle-note-key v1``, the
  lines ``name <name>``, ``type <2 hex digits>``, ``hash <8 hex digits>``, then the Ed25519
  seed as encrypted PKCS#8 PEM as above. Public halves are verifier-key strings.

A key reference names where a signer lives: a file path, or an RFC 7512 ``pkcs11:`` URI
(``keybundle.pkcs11``). Passphrases come from a :class:`PassphraseSource` that the caller
chooses explicitly (a file, an environment variable, or a prompt callable: the library never
reads a terminal itself). Nothing here prints or logs key material, and no error message
repeats it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from transparency_log import durable, note

from . import pkcs11 as _pkcs11
from .signers import Algorithm, Ed25519Signer, LocalSigner, P256Signer, PublicKey, Signer

__all__ = [
    "MAX_KEY_FILE_BYTES",
    "NOTE_KEY_HEADER",
    "PBKDF2_ITERATIONS",
    "PassphraseEnv",
    "PassphraseFile",
    "PassphrasePrompt",
    "PassphraseSource",
    "decrypt_private_key",
    "encrypt_private_key",
    "generate_role_key",
    "load_note_key",
    "load_note_verifier_key",
    "load_private_key",
    "load_public_key",
    "load_signer",
    "write_note_key",
    "write_note_verifier_key",
    "write_private_key",
    "write_public_key",
]

PBKDF2_ITERATIONS = 600_000
"""PBKDF2-HMAC-SHA256 rounds for new key files (OWASP's 2023 figure for SHA-256)."""
MAX_KEY_FILE_BYTES = 16384
"""Largest key or passphrase file read (SPEC §11); real ones are a few hundred bytes."""
NOTE_KEY_HEADER = "keybundle-note-key v1"
"""First line of an encrypted note-key file (SPEC §4.3)."""

_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644
_PEM_BEGIN = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
_PEM_END = b"-----END ENCRYPTED PRIVATE KEY-----\n"
_NOTE_SKEY_PREFIX = "PRIVATE+KEY+"

# DER object identifiers of RFC 8018 PBES2 (as OpenSSL writes them).
_OID_PBES2 = bytes.fromhex("06092a864886f70d01050d")
_OID_PBKDF2 = bytes.fromhex("06092a864886f70d01050c")
_OID_HMAC_SHA256 = bytes.fromhex("06082a864886f70d0209")
_OID_AES256_CBC = bytes.fromhex("060960864801650304012a")
_DER_NULL = b"\x05\x00"


# -- passphrase sources ----------------------------------------------------------------------


class PassphraseSource(Protocol):
    """Where a passphrase (or PKCS#11 PIN) comes from; ``read`` returns its bytes."""

    def read(self) -> bytes:
        """The passphrase; raise ValueError if it cannot be had."""
        ...


@dataclass(frozen=True)
class PassphraseFile:
    """The passphrase is a file's content, minus one trailing newline (LF or CRLF)."""

    path: Path

    def read(self) -> bytes:
        try:
            data = _read_small_file(Path(self.path), "passphrase file")
        except OSError as e:
            why = e.strerror or e
            raise ValueError(f"cannot read passphrase file {self.path}: {why}") from None
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        if not data:
            raise ValueError(f"passphrase file {self.path} is empty")
        return data


@dataclass(frozen=True)
class PassphraseEnv:
    """The passphrase is an environment variable's value (``environ``: default os.environ)."""

    name: str
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def read(self) -> bytes:
        env = os.environ if self.environ is None else self.environ
        value = env.get(self.name)
        if value is None:
            raise ValueError(f"environment variable {self.name} is not set")
        if not value:
            raise ValueError(f"environment variable {self.name} is empty")
        return value.encode("utf-8")


@dataclass(frozen=True)
class PassphrasePrompt:
    """The passphrase is asked for by ``prompt(message)`` (e.g. getpass.getpass, click.prompt)."""

    prompt: Callable[[str], str] = field(repr=False)
    message: str = "Passphrase: "

    def read(self) -> bytes:
        value = self.prompt(self.message)
        if not value:
            raise ValueError("an empty passphrase was entered")
        return value.encode("utf-8")


# -- files -----------------------------------------------------------------------------------


def _read_small_file(path: Path, what: str) -> bytes:
    with path.open("rb") as f:
        data = f.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ValueError(f"{what} {path} is larger than {MAX_KEY_FILE_BYTES} bytes")
    return data


# -- encrypted PKCS#8 ------------------------------------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _der_uint(n: int) -> bytes:
    return _der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def _encrypt_pkcs8(
    plain_der: bytes, passphrase: bytes, iterations: int, rand: Callable[[int], bytes]
) -> bytes:
    """RFC 5958 EncryptedPrivateKeyInfo with RFC 8018 PBES2 (PBKDF2-SHA256, AES-256-CBC), PEM."""
    if type(iterations) is not int or iterations < 1:
        raise ValueError("iterations must be a positive int")
    if not passphrase:
        raise ValueError("a key file needs a non-empty passphrase")
    salt, iv = rand(16), rand(16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain_der) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    prf = _der(0x30, _OID_HMAC_SHA256 + _DER_NULL)
    kdf = _der(0x30, _OID_PBKDF2 + _der(0x30, _der(0x04, salt) + _der_uint(iterations) + prf))
    scheme = _der(0x30, _OID_AES256_CBC + _der(0x04, iv))
    algorithm = _der(0x30, _OID_PBES2 + _der(0x30, kdf + scheme))
    der = _der(0x30, algorithm + _der(0x04, ciphertext))
    b64 = base64.b64encode(der).decode("ascii")
    body = "".join(b64[i : i + 64] + "\n" for i in range(0, len(b64), 64)).encode("ascii")
    return _PEM_BEGIN + body + _PEM_END


def _decrypt_pkcs8(
    pem: bytes, passphrase: bytes, what: str
) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey:
    """Load an encrypted PKCS#8 PEM; the one place that translates cryptography's errors."""
    if not pem.startswith(_PEM_BEGIN) or not pem.rstrip(b"\n").endswith(_PEM_END.rstrip(b"\n")):
        raise ValueError(
            f"{what} is not an encrypted PKCS#8 PEM key (-----BEGIN ENCRYPTED PRIVATE KEY-----); "
            "keybundle stores role keys only encrypted"
        )
    try:
        key = serialization.load_pem_private_key(pem, passphrase)
    except ValueError:
        raise ValueError(
            f"cannot decrypt {what}: wrong passphrase, or the file is corrupt"
        ) from None
    except (TypeError, UnsupportedAlgorithm) as e:
        raise ValueError(f"cannot load {what}: {type(e).__name__}") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError(f"{what} holds an unsupported key type; expected Ed25519 or ECDSA P-256")


def encrypt_private_key(
    signer: LocalSigner,
    passphrase: bytes,
    *,
    iterations: int = PBKDF2_ITERATIONS,
    rand: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """The role-key file content for ``signer``: encrypted PKCS#8 PEM (SPEC §4.3)."""
    plain = signer.private_key().private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return _encrypt_pkcs8(plain, passphrase, iterations, rand)


def decrypt_private_key(pem: bytes, passphrase: bytes, *, what: str = "the key") -> LocalSigner:
    """The signer in an encrypted PKCS#8 PEM role-key file; ValueError if it cannot be had."""
    key = _decrypt_pkcs8(pem, passphrase, what)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Signer(key.private_bytes_raw())
    return P256Signer(key)


# -- role keys -------------------------------------------------------------------------------


def generate_role_key(
    algorithm: Algorithm, *, rand: Callable[[int], bytes] = os.urandom
) -> LocalSigner:
    """A new independent-party or operator key: ``"ed25519"`` or ``"p256"``."""
    if algorithm == "ed25519":
        return Ed25519Signer.generate(rand)
    if algorithm == "p256":
        return P256Signer.generate(rand)
    raise ValueError(f"unknown key algorithm {algorithm!r}: expected ed25519 or p256")


def write_private_key(
    path: Path,
    signer: LocalSigner,
    passphrase: PassphraseSource,
    *,
    iterations: int = PBKDF2_ITERATIONS,
    rand: Callable[[int], bytes] = os.urandom,
) -> None:
    """Write ``signer`` to a new mode-0600 encrypted key file; never overwrite (SPEC §4.3)."""
    pem = encrypt_private_key(signer, passphrase.read(), iterations=iterations, rand=rand)
    durable.create_new(Path(path), pem, mode=_PRIVATE_MODE)


def load_private_key(path: Path, passphrase: PassphraseSource) -> LocalSigner:
    """Load a role-key file written by :func:`write_private_key`."""
    pem = _read_small_file(Path(path), "key file")
    return decrypt_private_key(pem, passphrase.read(), what=f"key file {path}")


def write_public_key(path: Path, key: PublicKey) -> None:
    """Write a role public key as SubjectPublicKeyInfo PEM to a new file (mode 0644)."""
    durable.create_new(Path(path), key.spki_pem(), mode=_PUBLIC_MODE)


def load_public_key(path: Path) -> PublicKey:
    """Load a role public key from a SubjectPublicKeyInfo PEM file."""
    return PublicKey.from_pem(_read_small_file(Path(path), "public key file"))


def load_signer(ref: str, passphrase: PassphraseSource | None = None) -> Signer:
    """The signer a key reference names: an RFC 7512 ``pkcs11:`` URI or a key-file path.

    For a file, ``passphrase`` decrypts it. For a PKCS#11 URI, the PIN comes from the URI's
    ``pin-value`` or ``pin-source``, else from ``passphrase``.
    """
    if not isinstance(ref, str) or not ref:
        raise ValueError("a key reference is a non-empty file path or pkcs11: URI")
    if ref.startswith("pkcs11:"):
        pin = None if passphrase is None else passphrase.read
        return _pkcs11.Pkcs11Signer.open(ref, pin=pin)
    if passphrase is None:
        raise ValueError(f"key file {ref} is encrypted: a passphrase source is needed")
    return load_private_key(Path(ref), passphrase)


# -- note keys -------------------------------------------------------------------------------


def _split_note_skey(skey: str) -> tuple[str, int, str, bytes]:
    """Validate a signer-key string with the note module; return (name, type, hash, seed)."""
    note.new_signer(skey)  # the one parser of signer keys; its errors never echo the secret
    name, hash_hex, key_b64 = skey[len(_NOTE_SKEY_PREFIX) :].split("+", 2)
    key = base64.b64decode(key_b64, validate=True)
    return name, key[0], hash_hex, key[1:]


def write_note_key(
    path: Path,
    skey: str,
    passphrase: PassphraseSource | None,
    *,
    iterations: int = PBKDF2_ITERATIONS,
    rand: Callable[[int], bytes] = os.urandom,
) -> None:
    """Write a note signer key to a new mode-0600 file (SPEC §4.3).

    With a passphrase: the encrypted ``keybundle-note-key v1`` format. Without one: the
    plain Go-compatible signer-key string (the CLI warns the user).
    """
    name, sig_type, hash_hex, seed = _split_note_skey(skey)
    if passphrase is None:
        data = (skey + "\n").encode("utf-8")
    else:
        plain = ed25519.Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pem = _encrypt_pkcs8(plain, passphrase.read(), iterations, rand)
        header = f"{NOTE_KEY_HEADER}\nname {name}\ntype {sig_type:02x}\nhash {hash_hex}\n"
        data = header.encode("utf-8") + pem
    durable.create_new(Path(path), data, mode=_PRIVATE_MODE)


def load_note_key(path: Path, passphrase: PassphraseSource | None) -> str:
    """The note signer-key string in a file written by :func:`write_note_key`.

    The result is checked by ``transparency_log.note.new_signer`` (its hash must match the
    key), so a corrupted or edited file is an error, not a different key.
    """
    data = _read_small_file(Path(path), "note key file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"note key file {path} is not UTF-8 text") from None
    if text.startswith(_NOTE_SKEY_PREFIX):
        if not text.endswith("\n") or "\n" in text[:-1]:
            raise ValueError(f"note key file {path} must be one line ending in a newline")
        skey = text[:-1]
        _split_note_skey(skey)
        return skey
    lines = text.split("\n", 4)
    if len(lines) != 5 or lines[0] != NOTE_KEY_HEADER:
        raise ValueError(
            f"note key file {path} is neither a signer-key string nor a {NOTE_KEY_HEADER!r} file"
        )
    fields = {}
    for line, label in zip(lines[1:4], ("name", "type", "hash"), strict=True):
        prefix = label + " "
        if not line.startswith(prefix):
            raise ValueError(f"note key file {path}: expected a {label!r} line")
        fields[label] = line[len(prefix) :]
    type_hex = fields["type"]
    if len(type_hex) != 2 or type_hex != type_hex.lower():
        raise ValueError(f"note key file {path}: the type is two lowercase hex digits")
    try:
        sig_type = int(type_hex, 16)
    except ValueError:
        raise ValueError(f"note key file {path}: the type is two lowercase hex digits") from None
    if passphrase is None:
        raise ValueError(f"note key file {path} is encrypted: a passphrase source is needed")
    key = _decrypt_pkcs8(lines[4].encode("utf-8"), passphrase.read(), f"note key file {path}")
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError(f"note key file {path} does not hold an Ed25519 key")
    secret = base64.b64encode(bytes([sig_type]) + key.private_bytes_raw()).decode("ascii")
    skey = f"{_NOTE_SKEY_PREFIX}{fields['name']}+{fields['hash']}+{secret}"
    try:
        _split_note_skey(skey)
    except ValueError:
        raise ValueError(
            f"note key file {path}: the name, type or hash lines do not match the key; "
            "the file was edited or is corrupt"
        ) from None
    return skey


def write_note_verifier_key(path: Path, vkey: str) -> None:
    """Write a note verifier-key string to a new file (mode 0644), checked first."""
    note.new_verifier(vkey)
    durable.create_new(Path(path), (vkey + "\n").encode("utf-8"), mode=_PUBLIC_MODE)


def load_note_verifier_key(path: Path) -> str:
    """The verifier-key string in a file (one line, ending in a newline), checked."""
    data = _read_small_file(Path(path), "verifier key file")
    if data.lstrip().startswith(b"-----BEGIN "):
        raise ValueError(
            f"verifier key file {path} is a PEM key (a role key), not a note verifier key "
            "(<name>+<hash>+<key>, from `keybundle keys generate --type note|cosignature`)"
        )
    try:
        text = data.decode("utf-8", "strict")
    except UnicodeDecodeError:
        raise ValueError(f"verifier key file {path} is not UTF-8 text") from None
    if not text.endswith("\n") or "\n" in text[:-1]:
        raise ValueError(f"verifier key file {path} must be one line ending in a newline")
    note.new_verifier(text[:-1])
    return text[:-1]
