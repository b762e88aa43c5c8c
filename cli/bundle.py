"""``keybundle bundle``: build, sign, countersign, inspect and verify key bundles (CLI §10.4).

The three steps of DESIGN §3, one command each, over :mod:`keybundle.payload` (SPEC §3),
:mod:`keybundle.cose` (SPEC §4.1, §4.2) and :mod:`keybundle.roles` (SPEC §5.4):

* the operator builds the payload from FLEET.json (``build``);
* the independent party checks it and signs it (``sign``: a COSE_Sign1);
* the operator countersigns, but only a bundle whose independent signature verifies under
  the trust root (``countersign``: an RFC 9338 countersignature).

Keys are key files or PKCS#11 URIs (``keybundle.custody.load_signer``).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import click

from keybundle.cose import (
    MAX_SIGNED_BUNDLE_BYTES,
    Sign1,
    parse_unverified_sign1,
    sign1,
    verify_countersignature,
    verify_sign1,
)
from keybundle.cose import countersign as cose_countersign
from keybundle.payload import (
    MAX_PAYLOAD_BYTES,
    BundlePayload,
    parse_payload,
    payload_from_json,
    signed_bundle_digest,
)
from keybundle.roles import verify_sign1_roles, verify_signed_bundle
from keybundle.trustroot import TrustRoot

from ._common import (
    COSE_ALG_NAMES,
    PinnedTrustRoot,
    UserError,
    cli_errors,
    emit,
    force_option,
    json_option,
    open_signer,
    passphrase_option,
    read_input,
    refuse_other_kind,
    role_json,
    say,
    trust_root_option,
    utc,
    verification_json,
    write_output,
)

__all__ = ["MAX_FLEET_JSON_BYTES", "bundle"]

_COSE_SIGN1_FIRST_BYTE = 0xD2  # CBOR tag 18 (RFC 9052 §2)
_COSE_SIGN_PREFIX = b"\xd8\x62"  # CBOR tag 98: a signed trust root (SPEC §5.2)
MAX_FLEET_JSON_BYTES = 1 << 20
"""Largest FLEET.json read by `bundle build`, in bytes (CLI §10.4, SPEC §11)."""

_key_option = click.option(
    "--key",
    "key_ref",
    required=True,
    metavar="KEY",
    help="Signing key: an encrypted key file, or a PKCS#11 URI (RFC 7512, pkcs11:...).",
)
_out_option = click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Output file (never overwritten without --force; '-': standard output).",
)


@click.group("bundle")
def bundle() -> None:
    """Build, sign, countersign and inspect key bundles."""


# -- build ----------------------------------------------------------------------------------


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise UserError(f"field {name!r} appears twice in one JSON object")
        seen[name] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise UserError(f"{name} is not a JSON number")


def _load_fleet_json(path: str) -> Any:
    data = read_input(path, "fleet file", limit=MAX_FLEET_JSON_BYTES)
    if len(data) > MAX_FLEET_JSON_BYTES:
        raise UserError(f"fleet file {path} is larger than {MAX_FLEET_JSON_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 (byte {e.start})") from None
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON: {e}") from None
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


@bundle.command("build")
@click.argument(
    "fleet_file", metavar="FLEET.json", type=click.Path(dir_okay=False, allow_dash=True)
)
@_out_option
@force_option
@json_option()
@cli_errors
def build(*, fleet_file: str, out: Path, force: bool, as_json: bool) -> None:
    """Build a bundle payload (deterministic CBOR, SPEC §3.2) from FLEET.json.

    FLEET.json: {"fleet", "epoch", "previous_digest" (hex; omitted at epoch 1),
    "issued_at", "not_before", "not_after" (Unix seconds or "YYYY-MM-DDTHH:MM:SSZ"),
    "keys": [{"id", "algorithm", "public_key_hex" or "public_key_base64", "usage"}]}.
    """
    document = _load_fleet_json(fleet_file)
    try:
        payload = payload_from_json(document)
    except ValueError as e:
        raise UserError(f"{fleet_file}: {e}") from None
    write_output(out, payload.encode(), force=force)
    emit(
        as_json,
        {"payload": _payload_json(payload), "out": str(out)},
        f"payload for fleet {payload.fleet_id!r} epoch {payload.epoch} with "
        f"{len(payload.keys)} key(s) written to {out}",
    )


# -- sign and countersign ---------------------------------------------------------------------


@bundle.command("sign")
@_key_option
@trust_root_option(
    "Check, when KEY is opened, that it is an independent key of this trust root.",
    required=False,
)
@click.argument("in_file", metavar="IN", type=click.Path(dir_okay=False, allow_dash=True))
@_out_option
@passphrase_option
@force_option
@json_option()
@cli_errors
def sign(
    *,
    key_ref: str,
    trust_root: PinnedTrustRoot | None,
    in_file: str,
    out: Path,
    passphrase_file: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Sign the payload IN as the independent party: a COSE_Sign1 (SPEC §4.1).

    IN is checked first (SPEC §3.2): a malformed payload is rejected (exit 1). With
    --trust-root (or $KEYBUNDLE_TRUST_ROOT), a KEY that is not an independent key of the root
    is refused as soon as it is opened (exit 2), instead of at countersigning.
    """
    data = read_input(in_file, "payload", limit=MAX_PAYLOAD_BYTES)
    _not_a_trust_root(data, in_file)
    _not_json(data, in_file)
    if data[:1] == bytes([_COSE_SIGN1_FIRST_BYTE]):
        raise UserError(
            f"{in_file} is already a signed bundle; `bundle sign` signs a payload "
            "(from `bundle build`), and the operator adds `bundle countersign`"
        )
    payload = parse_payload(data)
    with open_signer(key_ref, passphrase_file, role="independent", root=trust_root) as signer:
        signed = sign1(data, signer)
    write_output(out, signed, force=force)
    result = {
        "fleet": payload.fleet_id,
        "epoch": payload.epoch,
        "kid": signer.kid.hex(),
        **(role_json(trust_root.root, signer.kid) if trust_root else _NO_ROLE),
        "out": str(out),
    }
    emit(
        as_json,
        result,
        f"signed fleet {payload.fleet_id!r} epoch {payload.epoch} with key "
        f"{signer.kid.hex()}; written to {out}",
    )


@bundle.command("countersign")
@_key_option
@trust_root_option("The signed trust root whose independent role must have signed IN.")
@click.argument("in_file", metavar="IN", type=click.Path(dir_okay=False, allow_dash=True))
@_out_option
@passphrase_option
@force_option
@json_option()
@cli_errors
def countersign(
    *,
    key_ref: str,
    trust_root: PinnedTrustRoot,
    in_file: str,
    out: Path,
    passphrase_file: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Countersign the signed bundle IN as the operator (RFC 9338, SPEC §4.2).

    Refused (exit 1, with the reason code) unless IN's independent signature verifies under
    ROOT's independent role and its payload is well formed; refused (exit 2) if KEY is not an
    operator key of ROOT.
    """
    root = trust_root.root
    data = read_input(in_file, "signed bundle", limit=MAX_SIGNED_BUNDLE_BYTES)
    refuse_other_kind(data, in_file, "bundle")
    # Check what is being approved before any key is opened (SPEC §4.2).
    parsed = parse_unverified_sign1(data)
    verify_sign1(parsed, root.independent_keys)
    payload = parse_payload(parsed.payload)
    with open_signer(key_ref, passphrase_file, role="operator", root=trust_root) as signer:
        countersigned = cose_countersign(data, signer, verify_with=root.independent_keys)
    write_output(out, countersigned, force=force)
    organisation = root.operator.organisation_of[signer.kid]
    emit(
        as_json,
        {
            "fleet": payload.fleet_id,
            "epoch": payload.epoch,
            "kid": signer.kid.hex(),
            "role": "operator",
            "organisation": organisation,
            "out": str(out),
        },
        f"countersigned fleet {payload.fleet_id!r} epoch {payload.epoch} with operator key "
        f"{signer.kid.hex()} ({organisation}); written to {out}",
    )


# -- inspect and verify -----------------------------------------------------------------------


def _payload_json(payload: BundlePayload) -> dict[str, Any]:
    return {
        "version": payload.version,
        "fleet": payload.fleet_id,
        "epoch": payload.epoch,
        "previous_digest": payload.previous_digest.hex() if payload.previous_digest else None,
        "issued_at": payload.issued_at,
        "not_before": payload.not_before,
        "not_after": payload.not_after,
        "keys": [
            {
                "id": key.key_id,
                "algorithm": key.algorithm,
                "usage": key.usage,
                "public_key": key.public_key.hex(),
                "fingerprint": key.fingerprint,
            }
            for key in payload.keys
        ],
    }


def _signatures_json(sign1: Sign1, root: TrustRoot | None) -> dict[str, Any]:
    independent: dict[str, Any] = {"kid": sign1.kid.hex(), "alg": COSE_ALG_NAMES[sign1.alg]}
    counters: list[dict[str, Any]] = [
        {"kid": cs.kid.hex(), "alg": COSE_ALG_NAMES[cs.alg]} for cs in sign1.countersignatures
    ]
    result: dict[str, Any] = {"independent": independent, "countersignatures": counters}
    if root is None:
        return result
    result["trust_root_version"] = root.version
    independent.update(role_json(root, sign1.kid))
    independent.update(verification_json(lambda: verify_sign1(sign1, root.independent_keys)))
    for entry, cs in zip(counters, sign1.countersignatures, strict=True):
        entry.update(role_json(root, cs.kid))
        entry.update(
            verification_json(partial(verify_countersignature, sign1, cs, root.operator_keys))
        )
    result["verdict"] = verification_json(lambda: verify_sign1_roles(sign1, root))
    return result


_NO_ROLE: dict[str, Any] = {"role": None, "organisation": None}


def _not_json(data: bytes, path: str) -> None:
    """A FLEET.json given where a payload belongs: say so, rather than what CBOR makes of it
    (``{`` is a CBOR map of... a length of 729618471753377125 bytes)."""
    if data.lstrip()[:1] in (b"{", b"["):
        raise UserError(
            f"{path} looks like JSON (a FLEET.json?); `bundle sign` signs the payload that "
            "`keybundle bundle build FLEET.json -o OUT` writes"
        )


def _not_a_trust_root(data: bytes, path: str) -> None:
    if data.startswith(_COSE_SIGN_PREFIX):
        raise UserError(
            f"{path} is a signed trust root, not a bundle; see `keybundle trust-root inspect`"
        )


def _inspect_json(data: bytes, root: TrustRoot | None) -> dict[str, Any]:
    if data[:1] != bytes([_COSE_SIGN1_FIRST_BYTE]):
        return {"kind": "payload", "payload": _payload_json(parse_payload(data))}
    sign1 = parse_unverified_sign1(data)
    payload = parse_payload(sign1.payload)
    return {
        "kind": "countersigned bundle" if sign1.countersignatures else "signed bundle",
        "payload": _payload_json(payload),
        "digest": signed_bundle_digest(data).hex(),
        "signatures": _signatures_json(sign1, root),
    }


def _status(entry: dict[str, Any]) -> str:
    if "verified" not in entry:
        return "not checked (give --trust-root)"
    role = (
        f"{entry['role']} key of {entry['organisation']}"
        if entry.get("role")
        else "not a key of the trust root"
    )
    if entry["verified"]:
        return f"verified, {role}"
    return f"REJECTED ({entry['reason']}), {role}"


def _print_inspection(info: dict[str, Any]) -> None:
    p = info["payload"]
    echo = say
    echo(f"{info['kind']}: fleet {p['fleet']!r} epoch {p['epoch']} (format version {p['version']})")
    echo(f"  issued at:       {utc(p['issued_at'])}")
    echo(f"  valid from:      {utc(p['not_before'])}")
    echo(f"  valid until:     {utc(p['not_after'])}")
    echo(f"  previous bundle: {p['previous_digest'] or 'none (first epoch)'}")
    if "digest" in info:
        echo(f"  bundle digest:   {info['digest']}  (previous_digest of the next epoch)")
    echo(f"  keys ({len(p['keys'])}):")
    for key in p["keys"]:
        echo(f"    {key['id']}  {key['algorithm']}  {key['usage']}  {key['fingerprint']}")
    signatures = info.get("signatures")
    if signatures is None:
        echo("  signatures: none (a payload; sign it with `keybundle bundle sign`)")
        return
    independent = signatures["independent"]
    echo(
        f"  independent signature: kid {independent['kid']} {independent['alg']}: "
        f"{_status(independent)}"
    )
    counters = signatures["countersignatures"]
    if not counters:
        echo("  countersignatures: none (add one with `keybundle bundle countersign`)")
    for cs in counters:
        echo(f"  countersignature: kid {cs['kid']} {cs['alg']}: {_status(cs)}")
    verdict = signatures.get("verdict")
    if verdict is not None:
        version = signatures["trust_root_version"]
        if verdict["verified"]:
            echo(f"  verdict: meets the thresholds of trust root version {version}")
        else:
            echo(f"  verdict: rejected ({verdict['reason']}): {verdict['message']}")


@bundle.command("inspect")
@click.argument("in_file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@trust_root_option(
    "Check the signatures against this signed trust root and name their roles.", required=False
)
@json_option()
@cli_errors
def inspect(*, in_file: str, trust_root: PinnedTrustRoot | None, as_json: bool) -> None:
    """Show a payload, a signed or a countersigned bundle: fleet, epoch, validity window
    (UTC), previous digest, keys with fingerprints, and who signed.

    Inspecting is not accepting: exit 0 whenever FILE is well formed, even if a signature
    does not verify (see the verdict, or use `bundle verify`).
    """
    root = trust_root.root if trust_root is not None else None
    data = read_input(in_file, "bundle", limit=MAX_SIGNED_BUNDLE_BYTES)
    _not_a_trust_root(data, in_file)
    refuse_other_kind(data, in_file, "bundle")
    info = _inspect_json(data, root)
    emit(as_json, info, lambda: _print_inspection(info))


@bundle.command("verify")
@click.argument("in_file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@trust_root_option("The signed trust root whose roles must have signed FILE.")
@json_option()
@cli_errors
def verify(*, in_file: str, trust_root: PinnedTrustRoot, as_json: bool) -> None:
    """Verify a countersigned bundle's signatures and payload against ROOT (SPEC §5.4, §3).

    Exit 0 if both roles' thresholds are met and the payload is well formed, else exit 1
    with the reason code. Validity times, the log and the fleet history are the client's
    checks (`keybundle verify` on an OTA package).
    """
    root = trust_root.root
    data = read_input(in_file, "signed bundle", limit=MAX_SIGNED_BUNDLE_BYTES)
    refuse_other_kind(data, in_file, "bundle")
    verified = verify_signed_bundle(data, root)
    payload = parse_payload(verified.payload)
    result = {
        "verified": True,
        "fleet": payload.fleet_id,
        "epoch": payload.epoch,
        "independent": sorted(verified.independent_organisations),
        "operator": sorted(verified.operator_organisations),
        "trust_root_version": root.version,
    }
    emit(
        as_json,
        result,
        f"verified: fleet {payload.fleet_id!r} epoch {payload.epoch}, signed by "
        f"{', '.join(sorted(verified.independent_organisations))} (independent) and "
        f"countersigned by {', '.join(sorted(verified.operator_organisations))} (operator) "
        f"under trust root version {root.version}",
    )
