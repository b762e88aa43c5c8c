"""The deterministic keybundle world, for the tests: see testvectors/world.py.

The world moved beside the conformance-vector generator, which runs it from the command line
(``keybundle vectors generate``); the tests keep importing it from here.
"""

from __future__ import annotations

from testvectors.world import (
    DAY,
    DEFAULT_FLEET,
    DEFAULT_LIMITS,
    INDEPENDENT_ORG,
    LOG_ORIGIN,
    OPERATOR_ORG,
    T0,
    WITNESS_NAMES,
    DeterministicP256Signer,
    World,
    fleet_keys,
    role_signer,
    seed,
)

__all__ = [
    "DAY",
    "DEFAULT_FLEET",
    "DEFAULT_LIMITS",
    "INDEPENDENT_ORG",
    "LOG_ORIGIN",
    "OPERATOR_ORG",
    "T0",
    "WITNESS_NAMES",
    "DeterministicP256Signer",
    "World",
    "fleet_keys",
    "role_signer",
    "seed",
]
