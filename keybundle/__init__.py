"""keybundle: HSM fleet key bundles, signed by an independent party, countersigned by the
operator, logged, and verified by clients (SPEC.md).

The safe entry point for an app is :class:`Client` (SPEC §7.6): it verifies packages into a
locked state directory and reads the accepted keys back after a restart; the pure decision
underneath is :func:`verify_package` (SPEC §7.3). Public names are
loaded on first use so that embedding the verifier imports only what it needs.

Audiences (README "Layout"; ``lint-imports`` checks the client's side):

* A client embeds only ``embedded``, ``client``, ``state``, ``trustchain``, ``package``,
  ``payload``, ``fleetkeys``, ``trustroot``, ``signed_trust_root``, ``roles``, ``cose``,
  ``countersignature``, ``cose_check``, ``signers``, ``dcbor`` and ``errors`` (with their
  ``transparency_log`` primitives): no network, server or CLI code.
* A client that can reach the log may add ``online`` (it reads tiles through a fetcher the
  caller passes: SPEC §7.5); it is outside the embedded set above.
* Issuers and the log's operator use ``custody`` and ``pkcs11`` (keys), ``issuance``
  (packages) and ``admission`` (the log's admission rules).
* The auditor is ``monitor`` (its state in ``monitor_state``, judges in ``monitor_judges``,
  witness mode in ``monitor_witness``), with the fleet-history rules in ``history`` and the
  evidence format in ``evidence``; ``conformance`` drives other verifiers over the vectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Reason": "errors",
    "VerificationError": "errors",
    "Accepted": "client",
    "MisbehaviourError": "errors",
    "verify_package": "client",
    "ClientState": "state",
    "CorruptStateError": "errors",
    "FleetState": "state",
    "StateDir": "state",
    "StoredRotation": "state",
    "Client": "embedded",
    "UnknownFleetError": "errors",
    "VerifiedKeys": "embedded",
    "parse_state": "state",
    "ConsistencyProof": "package",
    "Package": "package",
    "RotationEntry": "package",
    "build_package": "package",
    "parse_unverified_package": "package",
    "BundlePayload": "payload",
    "FleetKey": "payload",
    "parse_payload": "payload",
    "payload_from_json": "payload",
    "countersign": "cose",
    "parse_unverified_sign1": "cose",
    "sign1": "cose",
    "Ed25519Signer": "signers",
    "P256Signer": "signers",
    "PublicKey": "signers",
    "Signer": "signers",
    "Limits": "trustroot",
    "Role": "trustroot",
    "RoleKey": "trustroot",
    "TrustRoot": "trustroot",
    "add_signatures": "signed_trust_root",
    "parse_trust_root": "trustroot",
    "parse_unverified_signed_trust_root": "signed_trust_root",
    "sign_trust_root": "signed_trust_root",
    "verify_rotation": "signed_trust_root",
    "verify_rotation_chain": "signed_trust_root",
    "verify_self_signed": "signed_trust_root",
    "VerifiedSignatures": "roles",
    "verify_signed_bundle": "roles",
    "BundleAdmission": "admission",
    "check_fleet_step": "admission",
    "AssembledPackage": "issuance",
    "assemble_package": "issuance",
    "LogHistory": "publisher",
    "PackageSet": "publisher",
    "PackageSource": "publisher",
    "Publisher": "publisher",
    "Monitor": "monitor",
    "Status": "monitor",
    "Finding": "evidence",
    "verify_evidence": "evidence",
    "LogUnreachableError": "errors",
    "with_consistency": "online",
}

__all__ = [
    "Accepted",
    "AssembledPackage",
    "BundleAdmission",
    "BundlePayload",
    "Client",
    "ClientState",
    "ConsistencyProof",
    "CorruptStateError",
    "Ed25519Signer",
    "Finding",
    "FleetKey",
    "FleetState",
    "Limits",
    "LogHistory",
    "LogUnreachableError",
    "MisbehaviourError",
    "Monitor",
    "P256Signer",
    "Package",
    "PackageSet",
    "PackageSource",
    "PublicKey",
    "Publisher",
    "Reason",
    "Role",
    "RoleKey",
    "RotationEntry",
    "Signer",
    "StateDir",
    "Status",
    "StoredRotation",
    "TrustRoot",
    "UnknownFleetError",
    "VerificationError",
    "VerifiedKeys",
    "VerifiedSignatures",
    "add_signatures",
    "assemble_package",
    "build_package",
    "check_fleet_step",
    "countersign",
    "parse_payload",
    "parse_state",
    "parse_trust_root",
    "parse_unverified_package",
    "parse_unverified_sign1",
    "parse_unverified_signed_trust_root",
    "payload_from_json",
    "sign1",
    "sign_trust_root",
    "verify_evidence",
    "verify_package",
    "verify_rotation",
    "verify_rotation_chain",
    "verify_self_signed",
    "verify_signed_bundle",
    "with_consistency",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'keybundle' has no attribute {name!r}")
    # Imported here, not at the top: a client imports the package for its submodules only,
    # and importlib is start-up time it does not need (bench/bench_verify.py).
    import importlib

    return getattr(importlib.import_module(f"keybundle.{module}"), name)


if TYPE_CHECKING:
    from .admission import (
        BundleAdmission,
        check_fleet_step,
    )
    from .client import (
        Accepted,
        verify_package,
    )
    from .cose import (
        countersign,
        parse_unverified_sign1,
        sign1,
    )
    from .embedded import (
        Client,
        VerifiedKeys,
    )
    from .errors import (
        CorruptStateError,
        LogUnreachableError,
        MisbehaviourError,
        Reason,
        UnknownFleetError,
        VerificationError,
    )
    from .evidence import (
        Finding,
        verify_evidence,
    )
    from .issuance import (
        AssembledPackage,
        assemble_package,
    )
    from .monitor import (
        Monitor,
        Status,
    )
    from .online import (
        with_consistency,
    )
    from .package import (
        ConsistencyProof,
        Package,
        RotationEntry,
        build_package,
        parse_unverified_package,
    )
    from .payload import (
        BundlePayload,
        FleetKey,
        parse_payload,
        payload_from_json,
    )
    from .publisher import (
        LogHistory,
        PackageSet,
        PackageSource,
        Publisher,
    )
    from .roles import (
        VerifiedSignatures,
        verify_signed_bundle,
    )
    from .signed_trust_root import (
        add_signatures,
        parse_unverified_signed_trust_root,
        sign_trust_root,
        verify_rotation,
        verify_rotation_chain,
        verify_self_signed,
    )
    from .signers import (
        Ed25519Signer,
        P256Signer,
        PublicKey,
        Signer,
    )
    from .state import (
        ClientState,
        FleetState,
        StateDir,
        StoredRotation,
        parse_state,
    )
    from .trustroot import Limits, Role, RoleKey, TrustRoot, parse_trust_root
