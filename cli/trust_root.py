"""``keybundle trust-root``: create, sign, inspect and verify trust roots (SPEC §5, CLI §10.5).

A trust root is made in two steps, like TUF's root metadata: ``create`` writes the unsigned
trust root (SPEC §5.1) from public key files, organisations, thresholds, a log policy and
limits; then each key holder runs ``sign`` once, which adds one COSE_Signature (SPEC §5.2).
For a rotation, the holders of the previous root's keys sign too, and
``verify --previous`` checks the rotation rules (SPEC §5.3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from keybundle.custody import load_public_key
from keybundle.errors import VerificationError
from keybundle.package import MAX_PACKAGE_BYTES
from keybundle.signed_trust_root import (
    MAX_SIGNED_TRUST_ROOT_BYTES,
    add_signatures,
    parse_unverified_signed_trust_root,
    sign_trust_root,
    verify_rotation,
    verify_self_signed,
)
from keybundle.trustroot import Limits, Role, RoleKey, TrustRoot, parse_trust_root
from transparency_log.policy import Policy, parse_policy

from ._common import (
    COSE_ALG_NAMES,
    PinnedTrustRoot,
    UserError,
    cli_errors,
    emit,
    force_option,
    json_option,
    key_file_kind,
    open_signer,
    passphrase_option,
    read_input,
    refuse_other_kind,
    role_json,
    say,
    trust_root_option,
    verification_json,
    write_output,
)

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_MAX_COSIGNATURE_AGE",
    "DEFAULT_MAX_EPOCH_JUMP",
    "DEFAULT_MAX_PACKAGE_BYTES",
    "DEFAULT_MAX_ROTATION_CHAIN",
    "trust_root",
]

_SIGNED_PREFIX = b"\xd8\x62"  # CBOR tag 98: COSE_Sign (RFC 9052 §2)
_MAX_POLICY_FILE_BYTES = 1 << 20

DEFAULT_CLOCK_SKEW = 300
"""Default ``clock_skew`` of a new trust root, in seconds (CLI §10.5)."""
DEFAULT_MAX_COSIGNATURE_AGE = 86_400
"""Default ``max_cosignature_age``, in seconds: one day (CLI §10.5)."""
DEFAULT_MAX_PACKAGE_BYTES = MAX_PACKAGE_BYTES
"""Default ``max_package_bytes``: the absolute cap of SPEC §11 (``MAX_PACKAGE_BYTES``)."""
DEFAULT_MAX_ROTATION_CHAIN = 8
"""Default ``max_rotation_chain`` (CLI §10.5)."""
DEFAULT_MAX_EPOCH_JUMP = 1_000
"""Default ``max_epoch_jump`` (CLI §10.5)."""

_ROLE_KEY_HELP = (
    "A public key file of the {role} role (PEM, from `keys generate --algorithm`), optionally "
    "followed by ':ORG', the organisation holding it (default: '{role}'). Repeatable."
)


_previous_option = trust_root_option(
    "The current (signed) trust root: check FILE as its rotation to the next version.",
    required=False,
    flag="--previous",
    name="previous",
)


@click.group("trust-root")
def trust_root() -> None:
    """Create, sign, inspect and verify trust roots."""


# -- create ----------------------------------------------------------------------------------


def _role_key(value: str, role: str) -> RoleKey:
    """``PUB[:ORG]``: a public key file, then the organisation after the first ':'.

    A value that names an existing file is a file without an organisation, whatever it
    contains; without ORG the organisation is the role's name, so that keys given without
    organisations count as one organisation (a threshold of 1) rather than several.
    """
    path, organisation = value, role
    if not Path(value).is_file() and ":" in value:
        path, _, organisation = value.partition(":")
    with Path(path).open("rb") as f:
        kind = key_file_kind(f.read(256))
    if kind != "role public key":
        what = f"a {kind}" if kind != "unknown" else "not a PEM public key"
        raise UserError(
            f"--{role} {value!r}: {path} is {what}; give a role public key, the PREFIX.pub "
            "that `keybundle keys generate --algorithm ed25519|p256` writes"
        )
    try:
        public_key = load_public_key(Path(path))
    except ValueError as e:
        raise UserError(f"--{role} {value!r}: {e}") from None
    try:
        return RoleKey(organisation, public_key)
    except ValueError as e:
        raise UserError(f"--{role} {value!r}: {e}") from None


def _read_policy(path: Path) -> Policy:
    data = read_input(str(path), "policy file", limit=_MAX_POLICY_FILE_BYTES)
    try:
        return parse_policy(data)
    except VerificationError as e:
        raise UserError(f"--policy {path} ({e.reason}): {e.message}") from None


def _limit_option(
    name: str, default: int, help_text: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(name, type=int, default=default, show_default=True, help=help_text)


@trust_root.command("create")
@click.option(
    "--independent",
    "independent",
    multiple=True,
    required=True,
    metavar="PUB[:ORG]",
    help=_ROLE_KEY_HELP.format(role="independent"),
)
@click.option(
    "--operator",
    "operator",
    multiple=True,
    required=True,
    metavar="PUB[:ORG]",
    help=_ROLE_KEY_HELP.format(role="operator"),
)
@click.option(
    "--independent-threshold",
    type=int,
    default=1,
    show_default=True,
    help="Distinct independent organisations that must sign.",
)
@click.option(
    "--operator-threshold",
    type=int,
    default=1,
    show_default=True,
    help="Distinct operator organisations that must countersign.",
)
@click.option(
    "--policy",
    "policy_file",
    required=True,
    metavar="POLICY.txt",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The log and its witnesses: a C2SP tlog-policy with exactly one log line.",
)
@click.option(
    "--version",
    "version",
    type=int,
    default=1,
    show_default=True,
    help="The trust root's version (a rotation is version N+1).",
)
@_limit_option("--clock-skew", DEFAULT_CLOCK_SKEW, "Allowed clock skew, seconds.")
@_limit_option(
    "--max-cosignature-age",
    DEFAULT_MAX_COSIGNATURE_AGE,
    "Oldest witness cosignature that counts, seconds.",
)
@_limit_option("--max-package-bytes", DEFAULT_MAX_PACKAGE_BYTES, "Largest OTA package, bytes.")
@_limit_option(
    "--max-rotation-chain", DEFAULT_MAX_ROTATION_CHAIN, "Most trust-root rotations in one package."
)
@_limit_option(
    "--max-epoch-jump", DEFAULT_MAX_EPOCH_JUMP, "Most epochs a fleet may advance at once."
)
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Output: the unsigned trust root (sign it with `trust-root sign`; '-': standard output).",
)
@force_option
@json_option()
@cli_errors
def create(
    *,
    independent: tuple[str, ...],
    operator: tuple[str, ...],
    independent_threshold: int,
    operator_threshold: int,
    policy_file: Path,
    version: int,
    clock_skew: int,
    max_cosignature_age: int,
    max_package_bytes: int,
    max_rotation_chain: int,
    max_epoch_jump: int,
    out: Path,
    force: bool,
    as_json: bool,
) -> None:
    """Create an unsigned trust root (SPEC §5.1); each key holder then runs `trust-root sign`."""
    independent_keys = tuple(_role_key(v, "independent") for v in independent)
    operator_keys = tuple(_role_key(v, "operator") for v in operator)
    policy = _read_policy(policy_file)
    try:
        root = TrustRoot(
            version=version,
            independent=Role(independent_threshold, independent_keys),
            operator=Role(operator_threshold, operator_keys),
            policy=policy,
            limits=Limits(
                clock_skew=clock_skew,
                max_cosignature_age=max_cosignature_age,
                max_package_bytes=max_package_bytes,
                max_rotation_chain=max_rotation_chain,
                max_epoch_jump=max_epoch_jump,
            ),
        )
    except ValueError as e:
        raise UserError(f"cannot create the trust root: {e}") from None
    encoded = root.encode()
    write_output(out, encoded, force=force)
    emit(
        as_json,
        {
            "version": root.version,
            "signed": False,
            "digest": hashlib.sha256(encoded).hexdigest(),
            "out": str(out),
        },
        f"unsigned trust root version {root.version} written to {out}; each key holder now "
        "adds a signature with `keybundle trust-root sign --key KEY IN -o OUT`",
    )


# -- sign ------------------------------------------------------------------------------------


@trust_root.command("sign")
@click.option(
    "--key",
    "key_ref",
    required=True,
    metavar="KEY",
    help="Signing key: an encrypted key file, or a PKCS#11 URI (RFC 7512).",
)
@click.argument("in_file", metavar="IN", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Output: the signed trust root ('-': standard output).",
)
@_previous_option
@passphrase_option
@force_option
@json_option()
@cli_errors
def sign(
    *,
    key_ref: str,
    in_file: str,
    out: Path,
    previous: PinnedTrustRoot | None,
    passphrase_file: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Add one signature to a trust root (SPEC §5.2); run once per signer.

    IN is the unsigned trust root from `create` or an already signed one; its payload bytes
    are signed as they are. Prints the key's role, whether the root now meets its own
    thresholds and, with --previous PREV (a rotation), whether it is a complete rotation.
    """
    data = read_input(in_file, "trust root", limit=MAX_SIGNED_TRUST_ROOT_BYTES)
    if data.startswith(_SIGNED_PREFIX):
        root = parse_unverified_signed_trust_root(data).root
    else:
        root = parse_trust_root(data)
    with open_signer(key_ref, passphrase_file) as signer:
        kid = signer.kid
        signed = (
            add_signatures(data, [signer])
            if data.startswith(_SIGNED_PREFIX)
            else (sign_trust_root(root, [signer]))
        )
    write_output(out, signed, force=force)
    result: dict[str, Any] = {
        "version": root.version,
        "kid": kid.hex(),
        **role_json(root, kid),
        "previous": None if previous is None else role_json(previous.root, kid),
        "self_signed": verification_json(lambda: verify_self_signed(signed)),
        "rotation": None,
        "out": str(out),
    }
    if previous is not None:
        result["rotation"] = {
            "from_version": previous.root.version,
            **verification_json(lambda: verify_rotation(previous.root, signed)),
        }
    emit(as_json, result, lambda: _print_signed(result))


def _print_signed(result: dict[str, Any]) -> None:
    if result["role"]:
        holder = f"{result['role']} key of {result['organisation']}"
    elif result["previous"] and result["previous"]["role"]:
        holder = (
            f"{result['previous']['role']} key of {result['previous']['organisation']} in the "
            "previous root"
        )
    else:
        holder = "not a key of this root (a key of the previous root? give --previous PREV)"
    say(f"signed trust root version {result['version']} with key {result['kid']} ({holder})")
    own = result["self_signed"]
    if own["verified"]:
        say("self-signed: complete, the thresholds of both roles are met by this root's own keys")
    else:
        say(f"self-signed: not yet complete ({own['reason']}): {own['message']}")
    rotation = result["rotation"]
    if rotation is None:
        if result["role"] is None:
            say("rotation: not checked; give --previous PREV to see whether it is complete")
    elif rotation["verified"]:
        say(f"rotation from version {rotation['from_version']}: complete (SPEC §5.3)")
    else:
        say(
            f"rotation from version {rotation['from_version']}: not yet complete "
            f"({rotation['reason']}): {rotation['message']}"
        )


# -- inspect and verify --------------------------------------------------------------------


def _root_json(root: TrustRoot) -> dict[str, Any]:
    roles: dict[str, Any] = {}
    for name in ("independent", "operator"):
        role = root.role(name)
        roles[name] = {
            "threshold": role.threshold,
            "organisations": sorted(role.organisations),
            "keys": [
                {
                    "kid": key.kid.hex(),
                    "algorithm": key.public_key.algorithm,
                    "organisation": key.organisation,
                }
                for key in role.keys
            ],
        }
    limits = root.limits
    return {
        "version": root.version,
        "roles": roles,
        "log": root.log.origin,
        "policy": root.policy.format(),
        "limits": {
            "clock_skew": limits.clock_skew,
            "max_cosignature_age": limits.max_cosignature_age,
            "max_package_bytes": limits.max_package_bytes,
            "max_rotation_chain": limits.max_rotation_chain,
            "max_epoch_jump": limits.max_epoch_jump,
        },
    }


def _inspect_json(data: bytes, previous: TrustRoot | None) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    if not data.startswith(_SIGNED_PREFIX):
        return {
            "signed": False,
            "digest": digest,
            **_root_json(parse_trust_root(data)),
            "signatures": [],
        }
    parsed = parse_unverified_signed_trust_root(data)
    root = parsed.root
    signatures = []
    for sig in parsed.signatures:
        entry: dict[str, Any] = {"kid": sig.kid.hex(), "alg": COSE_ALG_NAMES[sig.alg]}
        entry.update(role_json(root, sig.kid))
        if previous is not None:
            entry["previous"] = role_json(previous, sig.kid)
        signatures.append(entry)
    info = {"signed": True, "digest": digest, **_root_json(root), "signatures": signatures}
    info["self_signed"] = verification_json(lambda: verify_self_signed(data))
    if previous is not None:
        info["rotation"] = {
            "from_version": previous.version,
            **verification_json(lambda: verify_rotation(previous, data)),
        }
    return info


def _verdict(check: dict[str, Any], ok: str) -> str:
    if check["verified"]:
        return ok
    return f"rejected ({check['reason']}): {check['message']}"


_LIMIT_UNITS = {
    "clock_skew": "seconds",
    "max_cosignature_age": "seconds",
    "max_package_bytes": "bytes",
    "max_rotation_chain": "rotations",
    "max_epoch_jump": "epochs",
}


def _print_inspection(info: dict[str, Any]) -> None:
    echo = say
    echo(f"{'signed' if info['signed'] else 'unsigned'} trust root, version {info['version']}")
    echo(f"  sha256: {info['digest']}  (compare it out of band before pinning this file)")
    for name, role in info["roles"].items():
        echo(
            f"  {name} role: threshold {role['threshold']} of {len(role['organisations'])} "
            f"organisation(s) ({', '.join(role['organisations'])})"
        )
        for key in role["keys"]:
            echo(f"    {key['kid']}  {key['algorithm']:<7}  {key['organisation']}")
    echo(f"  log: {info['log']}")
    echo("  policy:")
    for line in info["policy"].splitlines():
        echo(f"    {line}")
    echo("  limits:")
    width = max(len(name) for name in info["limits"])
    for name, value in info["limits"].items():
        echo(f"    {name + ':':<{width + 1}} {value} {_LIMIT_UNITS.get(name, '')}".rstrip())
    if not info["signed"]:
        echo("  signatures: none (add them with `keybundle trust-root sign`)")
        return
    echo(f"  signatures ({len(info['signatures'])}):")
    for sig in info["signatures"]:
        holder = (
            f"{sig['role']} key of {sig['organisation']}"
            if sig["role"]
            else "not a key of this root"
        )
        previous = sig.get("previous")
        if previous is not None:
            holder += (
                f"; {previous['role']} key of {previous['organisation']} in the previous root"
                if previous["role"]
                else "; not a key of the previous root"
            )
        echo(f"    {sig['kid']}  {sig['alg']:<5}  {holder}")
    echo(
        "  self-signed: "
        + _verdict(
            info["self_signed"],
            "verified: every signature by this root's keys verifies and both thresholds are met",
        )
    )
    rotation = info.get("rotation")
    if rotation is not None:
        echo(
            f"  rotation from version {rotation['from_version']}: "
            + _verdict(rotation, "verified (SPEC §5.3)")
        )


@trust_root.command("inspect")
@click.argument("in_file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@_previous_option
@json_option()
@cli_errors
def inspect(*, in_file: str, previous: PinnedTrustRoot | None, as_json: bool) -> None:
    """Show a trust root: version, roles with keys, organisations and thresholds, the log
    policy, the limits, and its signatures with whether they verify.

    Exit 0 whenever FILE is well formed, even if it is not (yet) fully signed.
    """
    data = read_input(in_file, "trust root", limit=MAX_SIGNED_TRUST_ROOT_BYTES)
    refuse_other_kind(data, in_file, "trust root")
    info = _inspect_json(data, previous.root if previous is not None else None)
    emit(as_json, info, lambda: _print_inspection(info))


@trust_root.command("verify")
@click.argument("in_file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@_previous_option
@json_option()
@cli_errors
def verify(*, in_file: str, previous: PinnedTrustRoot | None, as_json: bool) -> None:
    """Verify a signed trust root: its own thresholds (SPEC §5.3, self-signed), or, with
    --previous, the rotation from PREV to FILE. Exit 1 with the reason code if it fails."""
    data = read_input(in_file, "trust root", limit=MAX_SIGNED_TRUST_ROOT_BYTES)
    refuse_other_kind(data, in_file, "trust root")
    if not data.startswith(_SIGNED_PREFIX):
        raise UserError(
            f"{in_file} is not a signed trust root (a COSE_Sign, CBOR tag 98); an unsigned "
            "one from `trust-root create` needs `trust-root sign` first"
        )
    result: dict[str, Any] = {
        "verified": True,
        "digest": hashlib.sha256(data).hexdigest(),
        "previous_version": None,
    }
    if previous is None:
        root = verify_self_signed(data)
        result["version"] = root.version
        emit(
            as_json, result, f"verified: trust root version {root.version} meets its own thresholds"
        )
        return
    root = verify_rotation(previous.root, data)
    result.update(version=root.version, previous_version=previous.root.version)
    emit(
        as_json,
        result,
        f"verified: trust root version {root.version} is a valid rotation from version "
        f"{previous.root.version}",
    )
