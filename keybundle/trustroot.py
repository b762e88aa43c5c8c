"""SPEC §5.1 trust root: what a client pins — roles, thresholds, log policy and limits.

A trust root names who may sign what (SPEC §5.1): the keys of the independent role and of the
operator role, each key with its organisation and each role with a threshold counted in
distinct *organisations*, not keys; the log and its witnesses as a C2SP tlog-policy; and the
limits of the client decision. Its payload is one deterministic-CBOR map with integer keys.

How it is signed (an RFC 9052 §4.1 COSE_Sign, SPEC §5.2) and rotated (SPEC §5.3) is
:mod:`keybundle.signed_trust_root`. Parsing here (``parse_trust_root``) checks shape only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from itertools import pairwise
from types import MappingProxyType
from typing import Final

from transparency_log._frozen import Frozen
from transparency_log.hashing import sha256
from transparency_log.policy import Policy, PolicyLog, parse_policy

from . import dcbor
from .errors import Reason, VerificationError
from .signers import ALGORITHMS, PublicKey

__all__ = [
    "MAX_CLOCK_SKEW",
    "MAX_ORGANISATION_BYTES",
    "MAX_ROLE_KEYS",
    "MAX_ROTATION_CHAIN",
    "MAX_TRUST_ROOT_BYTES",
    "TRUST_ROOT_FORMAT_VERSION",
    "Limits",
    "Role",
    "RoleKey",
    "TrustRoot",
    "parse_trust_root",
]

TRUST_ROOT_FORMAT_VERSION: Final = 1
"""Field 1 of the trust-root payload (SPEC §5.1); the only version this code reads."""

MAX_ROLE_KEYS: Final = 16
"""Most keys one role may list (SPEC §5.1, §11)."""
MAX_ORGANISATION_BYTES: Final = 64
"""Longest organisation name, in bytes (SPEC §5.1, §11)."""
MAX_CLOCK_SKEW: Final = 86_400
"""Largest clock skew a trust root may allow, in seconds (SPEC §5.1, §11)."""
MAX_ROTATION_CHAIN: Final = 16
"""Largest rotation-chain cap a trust root may set (SPEC §5.1, §5.3, §11)."""
MAX_TRUST_ROOT_BYTES: Final = 32_768
"""Largest encoded trust-root payload (SPEC §5.1, §11)."""

_UINT63_MAX: Final = (1 << 63) - 1

# Payload field keys (SPEC §5.1).
_F_FORMAT, _F_VERSION, _F_INDEPENDENT, _F_OPERATOR, _F_POLICY, _F_LIMITS = 1, 2, 3, 4, 5, 6
_R_THRESHOLD, _R_KEYS = 1, 2
_K_ORGANISATION, _K_ALGORITHM, _K_PUBLIC_KEY = 1, 2, 3
_L_CLOCK_SKEW, _L_COSIGNATURE_AGE, _L_PACKAGE_BYTES, _L_ROTATION_CHAIN, _L_EPOCH_JUMP = (
    1, 2, 3, 4, 5,
)  # fmt: skip

# Payload: map 0, role map 1, key array 2, key map 3, key fields 4.
_PAYLOAD_DEPTH: Final = 4
# 1 map + 6 keys + version, format, policy + limits map (1 + 10) + per role (map 1 + 2 keys
# + threshold + array 1 = 5) + per key (map 1 + 3 keys + 3 values = 7).
_PAYLOAD_ITEMS: Final = 1 + 6 + 3 + 11 + 2 * (5 + 7 * MAX_ROLE_KEYS)


def _malformed(message: str) -> VerificationError:
    return VerificationError(Reason.MALFORMED_TRUST_ROOT, message)


# ---------------------------------------------------------------------------------------------
# The trust root (SPEC §5.1)


def _organisation_problem(name: object) -> str | None:
    """SPEC §5.1: 1..64 bytes of printable ASCII, no space at either end."""
    if type(name) is not str:
        return f"an organisation name must be a text string, not {type(name).__name__}"
    if not 1 <= len(name) <= MAX_ORGANISATION_BYTES:
        return (
            f"organisation name {name[:80]!r} must be 1 to {MAX_ORGANISATION_BYTES} characters long"
        )
    # isascii and isprintable: every character in 0x20-0x7e, in C rather than a Python loop.
    if not (name.isascii() and name.isprintable()) or name != name.strip(" "):
        return (
            f"organisation name {name!r} must be printable ASCII (0x20-0x7e) without a "
            "space at either end"
        )
    if not _organisation_key(name):
        return f"organisation name {name!r} must contain a letter or a digit"
    return None


def _organisation_key(name: str) -> str:
    """What two organisation names of one root must not share (SPEC §5.1 rule 1).

    Its letters and digits, lower-cased: spaces and punctuation are dropped, so "Acme Corp",
    "ACME corp.", "Acme-Corp" and "AcmeCorp" are one organisation. Names are printable
    ASCII, on which Unicode NFKC and case folding reduce to ASCII lower-casing.
    """
    lowered = name.lower()
    if lowered.isascii():  # always, for a checked name: one C call instead of a char loop
        return lowered.translate(_DROP_NOT_ALNUM)
    return "".join(c for c in lowered if c.isascii() and c.isalnum())


_DROP_NOT_ALNUM: Final = {i: None for i in range(128) if not chr(i).isalnum()}


class RoleKey(Frozen):
    """One key of a role and the organisation that holds it (SPEC §5.1)."""

    organisation: str
    public_key: PublicKey

    def __init__(self, organisation: str, public_key: PublicKey) -> None:
        self._freeze(organisation=organisation, public_key=public_key)
        self.__post_init__()

    def __post_init__(self) -> None:
        problem = _organisation_problem(self.organisation)
        if problem is not None:
            raise ValueError(problem)
        if not isinstance(self.public_key, PublicKey):
            raise TypeError("RoleKey.public_key must be a keybundle.signers.PublicKey")

    @property
    def kid(self) -> bytes:
        """The key id (SPEC §4.3), derived from the public key."""
        return self.public_key.kid


def _role_problem(what: str, threshold: object, keys: Sequence[RoleKey]) -> str | None:
    """SPEC §5.1 rules of one role; ``what`` names it in the message."""
    if not 1 <= len(keys) <= MAX_ROLE_KEYS:
        return f"the {what} must list 1 to {MAX_ROLE_KEYS} keys, not {len(keys)}"
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        return f"the {what} lists a key twice"
    organisations = {key.organisation for key in keys}
    if type(threshold) is not int or not 1 <= threshold <= len(organisations):
        return (
            f"the {what} threshold must be an integer from 1 to the number of distinct "
            f"organisations holding its keys ({len(organisations)}: "
            f"{', '.join(sorted(organisations))}), not {threshold!r}; a threshold counts "
            "organisations, not keys"
        )
    return None


class Role(Frozen):
    """A role's keys and its threshold: how many distinct organisations must sign (SPEC §5.1).

    Keys are kept sorted by kid (the order of the encoding). ``public_keys`` and
    ``organisation_of`` are lookup tables made once here, so that the bundle verifier's
    per-signature work is one dictionary lookup (SPEC §5.4).
    """

    threshold: int
    keys: tuple[RoleKey, ...]
    public_keys: Mapping[bytes, PublicKey]
    """kid -> public key of every key of the role."""
    organisation_of: Mapping[bytes, str]
    """kid -> organisation of every key of the role."""

    _hidden = frozenset({"public_keys", "organisation_of"})

    def __init__(self, threshold: int, keys: tuple[RoleKey, ...]) -> None:
        self._freeze(threshold=threshold, keys=keys)
        self.__post_init__()

    def __post_init__(self) -> None:
        if not isinstance(self.keys, tuple) or not all(
            isinstance(key, RoleKey) for key in self.keys
        ):
            raise TypeError("Role.keys must be a tuple of RoleKey")
        problem = _role_problem("role", self.threshold, self.keys)
        if problem is not None:
            raise ValueError(problem)
        ordered = tuple(sorted(self.keys, key=_kid_of))
        object.__setattr__(self, "keys", ordered)
        object.__setattr__(
            self, "public_keys", MappingProxyType({k.kid: k.public_key for k in ordered})
        )
        object.__setattr__(
            self, "organisation_of", MappingProxyType({k.kid: k.organisation for k in ordered})
        )

    @property
    def organisations(self) -> frozenset[str]:
        """The distinct organisations holding the role's keys."""
        return frozenset(self.organisation_of.values())

    def organisations_of(self, kids: Iterable[bytes]) -> frozenset[str]:
        """The distinct organisations behind those of ``kids`` that are keys of this role."""
        organisation_of = self.organisation_of
        return frozenset(organisation_of[kid] for kid in kids if kid in organisation_of)

    def require_threshold(
        self,
        kids: Iterable[bytes],
        reason: Reason,
        explain: Callable[[frozenset[str], list[str]], str],
    ) -> None:
        """SPEC §5.1: the distinct organisations behind ``kids`` must reach the threshold.

        The one threshold count, for bundles (SPEC §5.4) and trust roots (SPEC §5.3) alike:
        keys are counted by organisation, so two keys of one organisation count once. Else
        raises ``reason`` with ``explain(organisations that signed, those missing)``.
        """
        signed_by = self.organisations_of(kids)
        if len(signed_by) < self.threshold:
            missing = sorted(self.organisations - signed_by)
            raise VerificationError(reason, explain(signed_by, missing))


def _kid_of(key: RoleKey) -> bytes:
    return key.kid


def _limits_problem(
    clock_skew: object,
    max_cosignature_age: object,
    max_package_bytes: object,
    max_rotation_chain: object,
    max_epoch_jump: object,
) -> str | None:
    """SPEC §5.1 ranges of the limits."""
    ranges = (
        ("clock_skew", clock_skew, 0, MAX_CLOCK_SKEW),
        ("max_cosignature_age", max_cosignature_age, 1, _UINT63_MAX),
        ("max_package_bytes", max_package_bytes, 1, _UINT63_MAX),
        ("max_rotation_chain", max_rotation_chain, 0, MAX_ROTATION_CHAIN),
        ("max_epoch_jump", max_epoch_jump, 1, _UINT63_MAX),
    )
    for name, value, low, high in ranges:
        if type(value) is not int or not low <= value <= high:
            return f"limit {name} must be an integer from {low} to {high}, not {value!r}"
    return None


class Limits(Frozen):
    """The limits of the client decision that the trust root sets (SPEC §5.1, §7.3)."""

    clock_skew: int
    """Seconds a timestamp may lie in the future, or a validity bound in the past."""
    max_cosignature_age: int
    """Seconds a witness cosignature counts towards the quorum (freeze attack)."""
    max_package_bytes: int
    """Largest OTA package the client reads (below the absolute cap of SPEC §11)."""
    max_rotation_chain: int
    """Most trust-root rotations one package may carry (SPEC §5.3)."""
    max_epoch_jump: int
    """Most epochs a fleet may advance in one package (fast-forward attack)."""

    def __init__(
        self,
        clock_skew: int,
        max_cosignature_age: int,
        max_package_bytes: int,
        max_rotation_chain: int,
        max_epoch_jump: int,
    ) -> None:
        self._freeze(
            clock_skew=clock_skew,
            max_cosignature_age=max_cosignature_age,
            max_package_bytes=max_package_bytes,
            max_rotation_chain=max_rotation_chain,
            max_epoch_jump=max_epoch_jump,
        )
        self.__post_init__()

    def __post_init__(self) -> None:
        problem = _limits_problem(
            self.clock_skew,
            self.max_cosignature_age,
            self.max_package_bytes,
            self.max_rotation_chain,
            self.max_epoch_jump,
        )
        if problem is not None:
            raise ValueError(problem)


def _root_problem(version: object, independent: Role, operator: Role, policy: Policy) -> str | None:
    """SPEC §5.1 rules across the whole root."""
    if type(version) is not int or not 1 <= version <= _UINT63_MAX:
        return f"the root version must be an integer from 1 to 2^63-1, not {version!r}"
    shared = independent.public_keys.keys() & operator.public_keys.keys()
    if shared:
        return (
            f"key {min(shared).hex()} is in both roles; each key may serve one role only, "
            "or one key could both sign and countersign"
        )
    names = sorted(independent.organisations | operator.organisations)
    folded: dict[str, str] = {}
    for name in names:
        other = folded.setdefault(_organisation_key(name), name)
        if other != name:
            return (
                f"organisations {other!r} and {name!r} differ only in letter case, spaces or "
                "punctuation; give one organisation one name, so that it cannot count twice"
            )
    both = independent.organisations & operator.organisations
    if both:
        return (
            f"organisation {min(both)!r} holds keys of both roles; the two roles must be "
            "held by different organisations, so that no one organisation can make a "
            "client accept keys"
        )
    if len(policy.logs) != 1:
        return f"the log policy must list exactly one log (the bundle log), not {len(policy.logs)}"
    return None


class TrustRoot(Frozen):
    """A trust root (SPEC §5.1): roles, the log policy and the limits. Immutable.

    Build one directly (a bad value is the caller's ``ValueError``) or with
    :func:`parse_trust_root`. A parsed or built root is not yet *trusted*: it is trusted when
    pinned out of band, or when ``signed_trust_root.verify_rotation`` accepted it.
    """

    version: int
    independent: Role
    operator: Role
    policy: Policy
    limits: Limits

    def __init__(
        self,
        version: int,
        independent: Role,
        operator: Role,
        policy: Policy,
        limits: Limits,
    ) -> None:
        self._freeze(
            version=version,
            independent=independent,
            operator=operator,
            policy=policy,
            limits=limits,
        )
        self.__post_init__()

    def __post_init__(self) -> None:
        for name in ("independent", "operator"):
            if not isinstance(getattr(self, name), Role):
                raise TypeError(f"TrustRoot.{name} must be a Role")
        if not isinstance(self.policy, Policy):
            raise TypeError("TrustRoot.policy must be a transparency_log.policy.Policy")
        if not isinstance(self.limits, Limits):
            raise TypeError("TrustRoot.limits must be a Limits")
        problem = _root_problem(self.version, self.independent, self.operator, self.policy)
        if problem is not None:
            raise ValueError(problem)

    @property
    def independent_keys(self) -> Mapping[bytes, PublicKey]:
        """kid -> key of the independent role: the keys for ``cose.verify_sign1``."""
        return self.independent.public_keys

    @property
    def operator_keys(self) -> Mapping[bytes, PublicKey]:
        """kid -> key of the operator role: the keys for ``verify_countersignature``."""
        return self.operator.public_keys

    @property
    def log(self) -> PolicyLog:
        """The bundle log: the policy's one log line (its origin and verifier key)."""
        return self.policy.logs[0]

    def role(self, name: str) -> Role:
        """The role called ``name``: ``"independent"`` or ``"operator"``."""
        if name == "independent":
            return self.independent
        if name == "operator":
            return self.operator
        raise ValueError(f"unknown role {name!r}: expected 'independent' or 'operator'")

    @cached_property
    def digest(self) -> bytes:
        """SHA-256 of :meth:`encode`, made once per root object. The encoding is canonical and
        determines the root entirely (``parse_trust_root(root.encode()) == root``), so this
        names the root's value: the key of the rotation verdicts that
        :mod:`keybundle.signed_trust_root` remembers. ``ValueError`` as :meth:`encode`."""
        return sha256(self.encode()).digest()

    def encode(self) -> bytes:
        """The payload in deterministic CBOR (SPEC §5.1): the bytes that are signed."""
        limits = self.limits
        data = dcbor.encode(
            {
                _F_FORMAT: TRUST_ROOT_FORMAT_VERSION,
                _F_VERSION: self.version,
                _F_INDEPENDENT: _encode_role(self.independent),
                _F_OPERATOR: _encode_role(self.operator),
                _F_POLICY: self.policy.format(),
                _F_LIMITS: {
                    _L_CLOCK_SKEW: limits.clock_skew,
                    _L_COSIGNATURE_AGE: limits.max_cosignature_age,
                    _L_PACKAGE_BYTES: limits.max_package_bytes,
                    _L_ROTATION_CHAIN: limits.max_rotation_chain,
                    _L_EPOCH_JUMP: limits.max_epoch_jump,
                },
            }
        )
        if len(data) > MAX_TRUST_ROOT_BYTES:
            raise ValueError(
                f"the trust root encodes to {len(data)} bytes; the limit is "
                f"{MAX_TRUST_ROOT_BYTES} (shorten the log policy)"
            )
        return data


def _encode_role(role: Role) -> dcbor.CborValue:
    return {
        _R_THRESHOLD: role.threshold,
        _R_KEYS: [
            {
                _K_ORGANISATION: key.organisation,
                _K_ALGORITHM: key.public_key.algorithm,
                _K_PUBLIC_KEY: key.public_key.raw,
            }
            for key in role.keys
        ],
    }


def _exact_map(value: object, fields: frozenset[int], what: str) -> dict[int, object]:
    if not isinstance(value, dict):
        raise _malformed(f"the {what} must be a map")
    if set(value) != fields:
        missing = sorted(fields - set(value))
        extra = sorted(set(value) - fields, key=repr)
        raise _malformed(
            f"the {what} must have exactly the fields {sorted(fields)}; "
            f"missing {missing}, unknown {extra}"
        )
    return value


def _parse_role(value: object, what: str) -> Role:
    role = _exact_map(value, frozenset((_R_THRESHOLD, _R_KEYS)), what)
    items = role[_R_KEYS]
    if not isinstance(items, list):
        raise _malformed(f"the keys of the {what} must be an array")
    if len(items) > MAX_ROLE_KEYS:
        raise _malformed(f"the {what} lists {len(items)} keys; at most {MAX_ROLE_KEYS} are allowed")
    keys: list[RoleKey] = []
    for i, item in enumerate(items):
        where = f"entry of key {i} of the {what}"
        fields = _exact_map(item, frozenset((_K_ORGANISATION, _K_ALGORITHM, _K_PUBLIC_KEY)), where)
        organisation, algorithm, raw = (
            fields[_K_ORGANISATION], fields[_K_ALGORITHM], fields[_K_PUBLIC_KEY]
        )  # fmt: skip
        problem = _organisation_problem(organisation)
        if problem is not None:
            raise _malformed(f"{where}: {problem}")
        if algorithm not in ALGORITHMS:
            raise _malformed(
                f"{where}: algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}"
            )
        if type(raw) is not bytes:
            raise _malformed(f"{where}: the public key must be a byte string")
        try:
            public_key = PublicKey(algorithm, raw)
        except ValueError as e:
            raise _malformed(f"{where} (organisation {organisation!r}): {e}") from None
        keys.append(RoleKey(organisation, public_key))  # type: ignore[arg-type]
    kids = [key.kid for key in keys]
    if any(a >= b for a, b in pairwise(kids)):
        raise _malformed(
            f"the keys of the {what} must be sorted by key id, each key once "
            "(one root, one encoding)"
        )
    problem = _role_problem(what, role[_R_THRESHOLD], keys)
    if problem is not None:
        raise _malformed(problem)
    return Role(role[_R_THRESHOLD], tuple(keys))  # type: ignore[arg-type]


def _parse_limits(value: object) -> Limits:
    fields = _exact_map(
        value,
        frozenset(
            (_L_CLOCK_SKEW, _L_COSIGNATURE_AGE, _L_PACKAGE_BYTES, _L_ROTATION_CHAIN, _L_EPOCH_JUMP)
        ),
        "limits",
    )
    values = (
        fields[_L_CLOCK_SKEW],
        fields[_L_COSIGNATURE_AGE],
        fields[_L_PACKAGE_BYTES],
        fields[_L_ROTATION_CHAIN],
        fields[_L_EPOCH_JUMP],
    )
    problem = _limits_problem(*values)
    if problem is not None:
        raise _malformed(problem)
    return Limits(*values)  # type: ignore[arg-type]


def _parse_log_policy(value: object) -> Policy:
    if type(value) is not str:
        raise _malformed("the log policy (field 5) must be a text string")
    try:
        policy = parse_policy(value)
    except VerificationError as e:
        raise _malformed(f"the log policy is not a valid C2SP tlog-policy: {e.message}") from None
    if policy.format() != value:
        raise _malformed(
            "the log policy is not in canonical form (SPEC §2.8: no comments or blank lines, "
            "single spaces, logs, witnesses, groups, quorum); write it with Policy.format()"
        )
    return policy


def parse_trust_root(data: bytes) -> TrustRoot:
    """Parse a trust-root payload strictly (SPEC §5.1); raise MALFORMED_TRUST_ROOT otherwise.

    Shape only: this says nothing about who signed it. Use ``verify_self_signed`` or
    ``verify_rotation`` of :mod:`keybundle.signed_trust_root` on a signed root.
    """
    if type(data) is not bytes:
        raise TypeError(f"a trust root is bytes, not {type(data).__name__}")
    try:
        value = dcbor.decode(
            data, max_size=MAX_TRUST_ROOT_BYTES, max_depth=_PAYLOAD_DEPTH, max_items=_PAYLOAD_ITEMS
        )
    except VerificationError as e:
        raise _malformed(
            f"the trust root is not deterministic CBOR of the expected size: {e.message}"
        ) from None
    root = _exact_map(
        value,
        frozenset((_F_FORMAT, _F_VERSION, _F_INDEPENDENT, _F_OPERATOR, _F_POLICY, _F_LIMITS)),
        "trust root",
    )
    if type(root[_F_FORMAT]) is not int or root[_F_FORMAT] != TRUST_ROOT_FORMAT_VERSION:
        raise _malformed(
            f"trust-root format version {root[_F_FORMAT]!r} is not supported; this "
            f"implementation reads version {TRUST_ROOT_FORMAT_VERSION}"
        )
    version = root[_F_VERSION]
    independent = _parse_role(root[_F_INDEPENDENT], "independent role")
    operator = _parse_role(root[_F_OPERATOR], "operator role")
    policy = _parse_log_policy(root[_F_POLICY])
    limits = _parse_limits(root[_F_LIMITS])
    problem = _root_problem(version, independent, operator, policy)
    if problem is not None:
        raise _malformed(problem)
    return TrustRoot(version, independent, operator, policy, limits)  # type: ignore[arg-type]
