"""``keybundle keys``: generate and show signing keys (CLI §10.2).

Two kinds of keys, written by ``keybundle.custody`` (SPEC §4.3):

* note keys (``--type note``, the log's checkpoint key) and cosignature keys (``--type
  cosignature``, a witness key): C2SP signed-note keys. These are online service keys, so
  with no passphrase available they are written as the plain Go-compatible signer-key
  string, with a warning;
* role keys (``--algorithm ed25519|p256``) of the independent party and the operator:
  always encrypted PKCS#8, so a passphrase is required; or, with ``--pkcs11 URI``,
  generated inside an HSM (``keybundle.pkcs11``), where the private key stays: only the
  public key is written, and the URI to sign with is printed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import click

from keybundle.custody import (
    generate_role_key,
    write_note_key,
    write_note_verifier_key,
    write_private_key,
    write_public_key,
)
from keybundle.signers import PublicKey
from transparency_log.note import generate_key, new_verifier

from ._common import (
    PASSPHRASE_ENV,
    UserError,
    check_new_files,
    cli_errors,
    emit,
    force_option,
    json_option,
    key_file_kind,
    passphrase_option,
    passphrase_source,
    read_input,
    require_passphrase,
    say,
)

__all__ = ["key_uri", "keys"]

_NOTE_TYPES = {"note": 0x01, "cosignature": 0x04}
_TYPE_NAMES = {0x01: "note (Ed25519, type 0x01)", 0x04: "cosignature (cosignature/v1, type 0x04)"}
_PEM_PUBLIC = b"-----BEGIN PUBLIC KEY-----"


class _Fixed:
    """A passphrase source holding a value already read (a prompt is asked once)."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def read(self) -> bytes:
        return self._value


@click.group("keys")
def keys() -> None:
    """Generate and inspect signing keys (note, cosignature, role keys)."""


@keys.command("generate")
@click.option("--name", help="Key name (note and cosignature keys: required; role keys: a label).")
@click.option(
    "--out",
    "prefix",
    required=True,
    metavar="PREFIX",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write PREFIX.key (private, mode 0600) and PREFIX.pub.",
)
@click.option(
    "--type",
    "key_type",
    type=click.Choice(sorted(_NOTE_TYPES)),
    help="A C2SP signed-note key: 'note' (a log's) or 'cosignature' (a witness's).",
)
@click.option(
    "--algorithm",
    type=click.Choice(["ed25519", "p256"]),
    help="A role key (independent party, operator) of this algorithm, always encrypted.",
)
@click.option(
    "--pkcs11",
    "pkcs11_uri",
    metavar="URI",
    help="Generate the role key inside the PKCS#11 token this RFC 7512 URI names "
    "(object=<label> required); write only PREFIX.pub.",
)
@passphrase_option
@force_option
@json_option()
@cli_errors
def generate(
    *,
    name: str | None,
    prefix: Path,
    key_type: str | None,
    algorithm: str | None,
    pkcs11_uri: str | None,
    passphrase_file: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Generate a key pair: PREFIX.key (private, mode 0600) and PREFIX.pub (public).

    Give --type for a note or cosignature key (PREFIX.pub holds the verifier-key string) or
    --algorithm for a role key (PREFIX.pub is a SubjectPublicKeyInfo PEM file). The key's
    verifier key or kid is printed, labelled. With --pkcs11 the role key is generated in the
    HSM and only PREFIX.pub is written; the kid and the pkcs11: URI to sign with (--key) are
    printed.
    """
    if key_type is not None and algorithm is not None:
        raise click.UsageError("--type and --algorithm are mutually exclusive")
    if str(prefix) == "-":
        raise click.UsageError("--out is a prefix of two files (PREFIX.key, PREFIX.pub), not '-'")
    if pkcs11_uri is not None and algorithm is None:
        raise click.UsageError("--pkcs11 generates a role key: give --algorithm ed25519|p256")
    if key_type is None and algorithm is None:
        raise click.UsageError(
            "give --type note|cosignature (a log's or a witness's signed-note key) or "
            "--algorithm ed25519|p256 (a role key of the independent party or the operator)"
        )
    if algorithm is None and name is None:
        raise click.UsageError("--name is required for note and cosignature keys")
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    if pkcs11_uri is not None and algorithm is not None:
        check_new_files([pub_path], force=force)
        info = _generate_pkcs11_key(
            algorithm, pkcs11_uri, pub_path, passphrase_file, force=force, name=name
        )
    else:
        check_new_files([key_path, pub_path], force=force)
        if algorithm is not None:
            info = _generate_role_key(
                algorithm, key_path, pub_path, passphrase_file, force=force, name=name
            )
        else:
            info = _generate_note_key(
                str(name), key_type or "note", key_path, pub_path, passphrase_file, force=force
            )
    emit(as_json, info, lambda: _print_generated(info))


def _generated(kind: str, **fields: Any) -> dict[str, Any]:
    """The result of ``keys generate`` (CLI §10.2): every member, null where it does not
    apply, so that one JSON shape serves every kind of key."""
    info: dict[str, Any] = {
        "kind": kind,
        "name": None,
        "algorithm": None,
        "kid": None,
        "vkey": None,
        "private_key_file": None,
        "public_key_file": None,
        "encrypted": None,
        "key_uri": None,
    }
    info.update(fields)
    return info


def _print_generated(info: dict[str, Any]) -> None:
    label = f" {info['name']!r}" if info["name"] else ""
    say(f"generated {info['kind']}{label} ({info['algorithm']})")
    if info["private_key_file"] is not None:
        state = "encrypted" if info["encrypted"] else "NOT encrypted"
        say(f"  private key:  {info['private_key_file']} (mode 0600, {state})")
    else:
        say("  private key:  in the PKCS#11 token (not extractable)")
    say(f"  public key:   {info['public_key_file']}")
    if info["kid"] is not None:
        say(f"  kid:          {info['kid']}")
    if info["vkey"] is not None:
        say(f"  verifier key: {info['vkey']}")
    if info["key_uri"] is not None:
        say(f"  sign with:    --key '{info['key_uri']}'")


def _remove_existing(paths: list[Path], force: bool) -> None:
    if force:
        for path in paths:
            path.unlink(missing_ok=True)


def _generate_note_key(
    name: str,
    key_type: str,
    key_path: Path,
    pub_path: Path,
    passphrase_file: Path | None,
    *,
    force: bool,
) -> dict[str, Any]:
    skey, vkey = generate_key(name, sig_type=_NOTE_TYPES[key_type])
    passphrase = passphrase_source(passphrase_file, confirm=True, what=f"the new key {key_path}")
    # Read the passphrase before touching any file: a bad one must not cost an old key.
    fixed = None if passphrase is None else _Fixed(passphrase.read())
    _remove_existing([key_path, pub_path], force)
    write_note_key(key_path, skey, fixed)
    write_note_verifier_key(pub_path, vkey)
    if fixed is None:
        click.echo(
            f"warning: {key_path} is NOT encrypted (no passphrase was given); keep it "
            f"private, or give --passphrase-file FILE or ${PASSPHRASE_ENV} to encrypt it",
            err=True,
        )
    return _generated(
        f"{key_type} key",
        name=name,
        algorithm="ed25519",
        vkey=vkey,
        private_key_file=str(key_path),
        public_key_file=str(pub_path),
        encrypted=fixed is not None,
    )


def _generate_role_key(
    algorithm: str,
    key_path: Path,
    pub_path: Path,
    passphrase_file: Path | None,
    *,
    force: bool,
    name: str | None,
) -> dict[str, Any]:
    passphrase = passphrase_source(passphrase_file, confirm=True, what=f"the new key {key_path}")
    if passphrase is None:
        raise UserError(
            "a role key is always stored encrypted, and no passphrase was given: give "
            f"--passphrase-file FILE, set {PASSPHRASE_ENV}, or run the command in a "
            "terminal to be prompted"
        )
    # Read the passphrase before touching any file: a bad one must not cost an old key.
    fixed = _Fixed(passphrase.read())
    signer = generate_role_key("p256" if algorithm == "p256" else "ed25519")
    _remove_existing([key_path, pub_path], force)
    write_private_key(key_path, signer, fixed)
    write_public_key(pub_path, signer.public_key())
    return _generated(
        "role key",
        name=name,
        algorithm=algorithm,
        kid=signer.kid.hex(),
        private_key_file=str(key_path),
        public_key_file=str(pub_path),
        encrypted=True,
    )


def _generate_pkcs11_key(
    algorithm: str,
    uri: str,
    pub_path: Path,
    passphrase_file: Path | None,
    *,
    force: bool,
    name: str | None,
) -> dict[str, Any]:
    """Generate a role key pair inside a PKCS#11 token (SPEC §4.3, CLI §10.2).

    The token makes the key (sensitive, not extractable) under the URI's ``object`` label
    and refuses a label it already holds; the PIN is the URI's, else the passphrase source
    of CLI §10.1. Only the public key leaves the token.
    """
    from keybundle.pkcs11 import generate_pkcs11_key, parse_pkcs11_uri

    parsed = parse_pkcs11_uri(uri)
    if parsed.type not in (None, "private"):
        raise UserError("--pkcs11 names the private key to generate: type=private, or no type")
    if parsed.object is None:
        raise UserError("--pkcs11: the URI needs object=<label>, the new key's label")
    source = require_passphrase(passphrase_file, what="the PKCS#11 token")
    try:
        public = generate_pkcs11_key(
            uri, "p256" if algorithm == "p256" else "ed25519", pin=source.read
        )
    except RuntimeError as e:  # the token's own failure: a problem of the HSM set-up
        raise UserError(str(e)) from None
    _remove_existing([pub_path], force)
    try:
        write_public_key(pub_path, public)
    except OSError as e:
        raise UserError(
            f"the key was generated in the token as object={parsed.object!r} (kid "
            f"{public.kid.hex()}), but {pub_path} could not be written: {e.strerror or e}"
        ) from None
    if parsed.pin_value is not None:
        click.echo(
            "note: the printed URI leaves out the pin-value; give the PIN with "
            f"--passphrase-file FILE or ${PASSPHRASE_ENV} when signing",
            err=True,
        )
    return _generated(
        "role key",
        name=name,
        algorithm=algorithm,
        kid=public.kid.hex(),
        public_key_file=str(pub_path),
        key_uri=key_uri(uri),
    )


def key_uri(uri: str) -> str:
    """The ``--key`` URI of a key generated with ``uri``: ``type=private`` added if there is
    no type, any ``pin-value`` left out (a PIN is never printed, CLI §10.1), every other
    attribute kept as written."""
    path, _, query = uri[len("pkcs11:") :].partition("?")
    attributes = path.split(";") if path else []
    if not any(a.startswith("type=") for a in attributes):
        attributes.append("type=private")
    params = [p for p in query.split("&") if p and not p.startswith("pin-value=")]
    return "pkcs11:" + ";".join(attributes) + ("?" + "&".join(params) if params else "")


@keys.command("show")
@click.argument("pub_file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@json_option()
@cli_errors
def show(pub_file: str, as_json: bool) -> None:
    """Show a public key file (FILE '-': standard input): a role key's kid, algorithm and
    fingerprint, or a note verifier key's name, key hash and type."""
    data = read_input(pub_file, "public key file")
    kind = key_file_kind(data)
    if kind in ("role private key", "note private key"):
        raise UserError(
            f"{pub_file} is a {kind}; `keys show` shows the public key file beside it "
            "(PREFIX.pub), and never prints a private key"
        )
    if not data.strip():
        raise UserError(f"{pub_file} is empty; give a public key file (PREFIX.pub)")
    if data.lstrip().startswith(_PEM_PUBLIC):
        info = _role_key_info(data)
    else:
        info = _note_key_info(pub_file, data)
    emit(as_json, info, lambda: _print_key_info(info))


def _print_key_info(info: dict[str, str]) -> None:
    shown = {k: v for k, v in info.items() if v is not None}
    if "fingerprint" in shown:
        shown["fingerprint"] = "sha256:" + shown["fingerprint"]
    width = max(len(k) for k in shown)
    for label, value in shown.items():
        say(f"{label + ':':<{width + 1}} {value}")


def _role_key_info(pem: bytes) -> dict[str, str]:
    key = PublicKey.from_pem(pem)
    return {
        "kind": "role key",
        "kid": key.kid.hex(),
        "algorithm": key.algorithm,
        "fingerprint": hashlib.sha256(key.spki_der()).hexdigest(),
    }


def _note_key_info(path: str, data: bytes) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is neither a PEM public key nor a verifier-key string") from None
    if not text.endswith("\n") or "\n" in text[:-1]:
        raise UserError(f"{path} is neither a PEM public key nor a one-line verifier-key string")
    vkey = text[:-1]
    verifier = new_verifier(vkey)
    type_byte: int = getattr(verifier, "sig_type", 0)
    return {
        "kind": "note verifier key",
        "name": verifier.name,
        "key_hash": f"{verifier.key_hash:08x}",
        "type": _TYPE_NAMES.get(type_byte, f"0x{type_byte:02x}"),
        "vkey": vkey,
    }
