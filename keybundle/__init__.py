"""keybundle: HSM fleet key bundles, signed by an independent party, countersigned by the
operator, logged, and verified by clients (SPEC.md).

The safe entry point for clients is :func:`verify_package` (SPEC §7.3). Public names are
loaded on first use so that embedding the verifier imports only what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Reason": "errors",
    "VerificationError": "errors",
    "Accepted": "client",
    "MisbehaviourError": "client",
    "verify_package": "client",
    "ClientState": "state",
    "CorruptStateError": "state",
    "FleetState": "state",
    "StateDir": "state",
    "Package": "package",
    "build_package": "package",
    "parse_unverified_package": "package",
    "TrustRoot": "trustroot",
    "parse_trust_root": "trustroot",
    "sign_trust_root": "trustroot",
    "verify_rotation": "trustroot",
    "verify_self_signed": "trustroot",
    "verify_signed_bundle": "roles",
}

__all__ = [
    "Accepted",
    "ClientState",
    "CorruptStateError",
    "FleetState",
    "MisbehaviourError",
    "Package",
    "Reason",
    "StateDir",
    "TrustRoot",
    "VerificationError",
    "build_package",
    "parse_trust_root",
    "parse_unverified_package",
    "sign_trust_root",
    "verify_package",
    "verify_rotation",
    "verify_self_signed",
    "verify_signed_bundle",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'keybundle' has no attribute {name!r}")
    return getattr(importlib.import_module(f"keybundle.{module}"), name)


if TYPE_CHECKING:
    from .client import Accepted, MisbehaviourError, verify_package
    from .errors import Reason, VerificationError
    from .package import Package, build_package, parse_unverified_package
    from .roles import verify_signed_bundle
    from .state import ClientState, CorruptStateError, FleetState, StateDir
    from .trustroot import (
        TrustRoot,
        parse_trust_root,
        sign_trust_root,
        verify_rotation,
        verify_self_signed,
    )
