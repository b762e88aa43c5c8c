"""C2SP tlog-policy: which logs and witnesses a verifier trusts, and the witness quorum.

A policy is a small line-based text (SPEC §2.8)::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> <threshold> <member> [<member> ...]
    quorum <name>

Logs sign checkpoints (Ed25519 note keys, type 0x01); witnesses cosign them (cosignature/v1
keys, type 0x04); groups combine witnesses and earlier groups with a k-of-n threshold; the
quorum names the witness or group that must be met for a checkpoint to count. The names are
local to the policy; what a verifier observes are cosignatures by *key name*, so the quorum
is evaluated over the key names of the cosignatures that verified (SPEC §2.8 "Quorum"), and
a policy-local name in that set counts for nothing.

Parsing is strict where C2SP is silent: UTF-8 only, every line ends in ``\\n``, comments are
whole lines only, no forward references, each name defined once and listed as a group member
at most once in the whole policy, no key used twice, witness key names distinct, named
limits. :meth:`Policy.format` writes the canonical form, which parses back to an equal policy
byte for byte; the trust root (SPEC §5.1) stores only canonical policies.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from typing import Literal, NoReturn, TypeAlias

from transparency_log import note
from transparency_log._frozen import Frozen
from transparency_log.checkpoint import VerifiedCheckpoint, verify_checkpoint
from transparency_log.cosignature import SIG_TYPE_COSIGNATURE_V1
from transparency_log.errors import LogReason, VerificationError

__all__ = [
    "MAX_POLICY_BYTES",
    "MAX_POLICY_GROUPS",
    "MAX_POLICY_LOGS",
    "MAX_POLICY_WITNESSES",
    "NONE",
    "Policy",
    "PolicyGroup",
    "PolicyLog",
    "PolicyWitness",
    "Threshold",
    "parse_policy",
]

MAX_POLICY_BYTES = 65536
"""Largest policy text, in UTF-8 bytes (SPEC §11)."""

MAX_POLICY_LOGS = 64
"""Most ``log`` lines of a policy (SPEC §11; C2SP asks implementations for at least 32)."""

MAX_POLICY_WITNESSES = 64
"""Most ``witness`` lines of a policy (SPEC §11; C2SP asks for at least 32)."""

MAX_POLICY_GROUPS = 64
"""Most ``group`` lines of a policy (SPEC §11; C2SP asks for at least 32)."""

NONE = "none"
"""The predefined name: ``quorum none`` needs no cosignature; it is never a member."""

Threshold: TypeAlias = Literal["all", "any"] | int
"""A group's threshold as written: ``all`` (k = n), ``any`` (k = 1), or k itself."""

_WHITESPACE = re.compile(r"[ \t]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
# Control characters other than TAB and LF: C0, DEL and C1 (SPEC §2.8 "Lines").
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FIELD_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f]")


# --- the items of a policy ---------------------------------------------------------------


def _require_field(value: object, what: str) -> str:
    """A single policy field: a non-empty str without whitespace or control characters."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value or _FIELD_FORBIDDEN.search(value) is not None:
        raise ValueError(
            f"{what} {value!r} is not one policy field: it must be non-empty, without "
            "spaces, tabs or control characters"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {value!r} is not valid UTF-8 text") from None
    return value


def _typed_key(vkey: object, sig_type: int, role: str) -> tuple[note.Verifier, bytes]:
    """Parse a verifier key of one signature type: (verifier, 32-byte public key).

    The signed-note parser decides validity (SPEC §2.4.3); a key of the wrong type is
    refused here, because a log key cannot cosign and a witness key cannot sign checkpoints.
    """
    if not isinstance(vkey, str):
        raise TypeError(f"a {role} vkey must be a str, not {type(vkey).__name__}")
    verifier = note.new_verifier(vkey)
    key = base64.b64decode(vkey.split("+", 2)[2], validate=True)  # canonical: new_verifier
    if key[0] != sig_type:
        raise ValueError(
            f"{role} key {verifier.name!r} has signature type 0x{key[0]:02x}; a {role} key "
            f"must have type 0x{sig_type:02x} (SPEC §2.8 rule 5)"
        )
    return verifier, key[1:]


class PolicyLog(Frozen):
    """A ``log <vkey> [<url>]`` line: a log whose checkpoints the policy accepts."""

    vkey: str
    """The log's Ed25519 note verifier key (type 0x01); its key name is the log's origin."""
    _verifier: note.Verifier  # derived from vkey (before the defaults, for type checkers)
    _public_key: bytes
    url: str | None = None
    """Application-specific (e.g. the log's submission URL); not needed to verify."""

    _hidden = frozenset({"_verifier", "_public_key"})

    def __init__(self, vkey: str, url: str | None = None) -> None:
        self._freeze(vkey=vkey, url=url)
        self.__post_init__()

    def __post_init__(self) -> None:
        verifier, public_key = _typed_key(self.vkey, note.SIG_TYPE_ED25519, "log")
        if self.url is not None:
            _require_field(self.url, "log URL")
        object.__setattr__(self, "_verifier", verifier)
        object.__setattr__(self, "_public_key", public_key)

    @property
    def origin(self) -> str:
        """The log's origin: the key name of its vkey (C2SP tlog-policy: MUST match)."""
        return self._verifier.name

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._public_key

    def verifier(self) -> note.Verifier:
        """The note verifier of the log's checkpoint signatures."""
        return self._verifier

    def format(self) -> str:
        """The canonical ``log`` line, without its newline."""
        return f"log {self.vkey}" + (f" {self.url}" if self.url is not None else "")


class PolicyWitness(Frozen):
    """A ``witness <name> <vkey> [<url>]`` line."""

    name: str
    """The policy-local name used by groups and the quorum; meaningless outside the policy."""
    vkey: str
    """The witness's cosignature/v1 verifier key (type 0x04)."""
    _verifier: note.Verifier  # derived from vkey (before the defaults, for type checkers)
    _public_key: bytes
    url: str | None = None
    """The witness's submission prefix (C2SP tlog-witness), needed only to ask it to cosign."""

    _hidden = frozenset({"_verifier", "_public_key"})

    def __init__(self, name: str, vkey: str, url: str | None = None) -> None:
        self._freeze(name=name, vkey=vkey, url=url)
        self.__post_init__()

    def __post_init__(self) -> None:
        _require_field(self.name, "witness name")
        if self.name == NONE:
            raise ValueError(f"{NONE!r} is predefined and cannot name a witness")
        verifier, public_key = _typed_key(self.vkey, SIG_TYPE_COSIGNATURE_V1, "witness")
        if self.url is not None:
            _require_field(self.url, "witness URL")
        object.__setattr__(self, "_verifier", verifier)
        object.__setattr__(self, "_public_key", public_key)

    @property
    def key_name(self) -> str:
        """The key name of the vkey: what cosignature lines carry and the quorum counts."""
        return self._verifier.name

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._public_key

    def verifier(self) -> note.Verifier:
        """The note verifier of this witness's cosignatures."""
        return self._verifier

    def format(self) -> str:
        """The canonical ``witness`` line, without its newline."""
        line = f"witness {self.name} {self.vkey}"
        return line + (f" {self.url}" if self.url is not None else "")


class PolicyGroup(Frozen):
    """A ``group <name> <threshold> <member>...`` line: met when k of its n members are."""

    name: str
    threshold: Threshold
    """As written: ``"all"``, ``"any"`` or the number k (1 <= k <= n)."""
    members: tuple[str, ...]
    """Names of witnesses and earlier groups, distinct, at least one."""

    def __init__(self, name: str, threshold: Threshold, members: tuple[str, ...]) -> None:
        self._freeze(name=name, threshold=threshold, members=members)
        self.__post_init__()

    def __post_init__(self) -> None:
        _require_field(self.name, "group name")
        if self.name == NONE:
            raise ValueError(f"{NONE!r} is predefined and cannot name a group")
        members = self.members
        if isinstance(members, str) or not isinstance(members, Sequence):
            raise TypeError(f"group {self.name!r}: members must be a sequence of names")
        members = tuple(members)
        object.__setattr__(self, "members", members)
        if not members:
            raise ValueError(f"group {self.name!r} has no member; a group needs at least one")
        for member in members:
            _require_field(member, f"group {self.name!r} member")
            if member == NONE:
                raise ValueError(f"group {self.name!r}: {NONE!r} cannot be a group member")
        if len(set(members)) != len(members):
            raise ValueError(f"group {self.name!r} lists a member twice")
        threshold = self.threshold
        if threshold in ("all", "any"):
            return
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise TypeError(f"group {self.name!r}: threshold must be 'all', 'any' or an int")
        if not 1 <= threshold <= len(members):
            raise ValueError(
                f"group {self.name!r}: threshold {threshold} is outside 1..{len(members)} "
                "(its number of members)"
            )

    @property
    def k(self) -> int:
        """How many members must be met for the group to be met."""
        if self.threshold == "all":
            return len(self.members)
        if self.threshold == "any":
            return 1
        return int(self.threshold)

    def format(self) -> str:
        """The canonical ``group`` line, without its newline."""
        return f"group {self.name} {self.threshold} {' '.join(self.members)}"


# --- the whole policy ----------------------------------------------------------------------


class _Rules:
    """The SPEC §2.8 rules that relate items, checked item by item in definition order.

    :class:`Policy` feeds its items in canonical order and :func:`parse_policy` in text
    order, so one set of checks serves both; a violation is ``ValueError`` (the parser adds
    the line number and turns it into MALFORMED_POLICY).
    """

    def __init__(self) -> None:
        self.defined: set[str] = set()
        self.listed: set[str] = set()
        self.log_keys: set[bytes] = set()
        self.witness_keys: set[bytes] = set()
        self.witness_key_names: set[str] = set()
        self.log_key_names: set[str] = set()
        self.logs = self.witnesses = self.groups = 0
        self.quorum: str | None = None

    def add_log(self, log: PolicyLog) -> None:
        if self.logs == MAX_POLICY_LOGS:
            raise ValueError(f"more than {MAX_POLICY_LOGS} logs (MAX_POLICY_LOGS)")
        key = log.public_key
        if key in self.log_keys:
            raise ValueError(f"log {log.origin!r} has the public key of an earlier log")
        if key in self.witness_keys:
            raise ValueError(f"log {log.origin!r} has the public key of a witness")
        if log.origin in self.witness_key_names:
            raise ValueError(f"log {log.origin!r} has the key name of a witness")
        self.log_keys.add(key)
        self.log_key_names.add(log.origin)
        self.logs += 1

    def add_witness(self, witness: PolicyWitness) -> None:
        if self.witnesses == MAX_POLICY_WITNESSES:
            raise ValueError(f"more than {MAX_POLICY_WITNESSES} witnesses (MAX_POLICY_WITNESSES)")
        self._define(witness.name)
        key = witness.public_key
        if key in self.witness_keys:
            raise ValueError(f"witness {witness.name!r} has the public key of an earlier witness")
        if key in self.log_keys:
            raise ValueError(f"witness {witness.name!r} has the public key of a log")
        if witness.key_name in self.log_key_names:
            # A note verifier is looked up by (key name, key hash): a witness key named like
            # the log could collide with the log key's 4-byte hash and make the checkpoint's
            # verifier set ambiguous. Distinct names rule that out without any search.
            raise ValueError(
                f"witness {witness.name!r} has key name {witness.key_name!r}, the name of a "
                "log key; witness and log keys must have distinct names"
            )
        if witness.key_name in self.witness_key_names:
            raise ValueError(
                f"witness {witness.name!r} has key name {witness.key_name!r}, like an earlier "
                "witness; cosignatures are counted by key name, so key names must be distinct"
            )
        self.witness_keys.add(key)
        self.witness_key_names.add(witness.key_name)
        self.witnesses += 1

    def add_group(self, group: PolicyGroup) -> None:
        if self.groups == MAX_POLICY_GROUPS:
            raise ValueError(f"more than {MAX_POLICY_GROUPS} groups (MAX_POLICY_GROUPS)")
        for member in group.members:
            if member not in self.defined:
                raise ValueError(
                    f"group {group.name!r}: member {member!r} is not a witness or group "
                    "defined before it"
                )
            if member in self.listed:
                raise ValueError(
                    f"group {group.name!r}: {member!r} is already a member of another group; "
                    "each name may be listed as a member once in the whole policy"
                )
        self._define(group.name)
        self.listed.update(group.members)
        self.groups += 1

    def set_quorum(self, name: str) -> None:
        if self.quorum is not None:
            raise ValueError("a second quorum line; a policy has exactly one")
        _require_field(name, "quorum name")
        if name != NONE and name not in self.defined:
            raise ValueError(f"quorum {name!r} is not a witness or group defined before it")
        self.quorum = name

    def _define(self, name: str) -> None:
        if name in self.defined:
            raise ValueError(f"the name {name!r} is defined twice")
        self.defined.add(name)


class Policy(Frozen):
    """A C2SP tlog-policy (SPEC §2.8). Immutable; build it directly or with :func:`parse_policy`.

    Building one checks every rule of SPEC §2.8 (a violation is the caller's ValueError):
    groups may refer to witnesses and to *earlier* groups, and the quorum to any of them.
    """

    logs: tuple[PolicyLog, ...]
    witnesses: tuple[PolicyWitness, ...]
    groups: tuple[PolicyGroup, ...]
    quorum: str
    """A witness or group name, or :data:`NONE`."""

    def __init__(
        self,
        logs: tuple[PolicyLog, ...],
        witnesses: tuple[PolicyWitness, ...],
        groups: tuple[PolicyGroup, ...],
        quorum: str,
    ) -> None:
        self._freeze(logs=logs, witnesses=witnesses, groups=groups, quorum=quorum)
        self.__post_init__()

    def __post_init__(self) -> None:
        rules = _Rules()
        kinds: tuple[tuple[str, type], ...] = (
            ("logs", PolicyLog),
            ("witnesses", PolicyWitness),
            ("groups", PolicyGroup),
        )
        for name, kind in kinds:
            items = getattr(self, name)
            if isinstance(items, str) or not isinstance(items, Iterable):
                raise TypeError(f"Policy.{name} must be a sequence of {kind.__name__}")
            items = tuple(items)
            for item in items:
                if not isinstance(item, kind):
                    raise TypeError(
                        f"Policy.{name} holds a {type(item).__name__}, not a {kind.__name__}"
                    )
            object.__setattr__(self, name, items)
        for log in self.logs:
            rules.add_log(log)
        for witness in self.witnesses:
            rules.add_witness(witness)
        for group in self.groups:
            rules.add_group(group)
        rules.set_quorum(self.quorum)

    # -- reading ---------------------------------------------------------------------------

    def format(self) -> str:
        """The canonical text (SPEC §2.8): logs, witnesses, groups, quorum; one space apart.

        :func:`parse_policy` reads it back as an equal policy, and a canonical text comes
        back byte for byte.
        """
        lines = [log.format() for log in self.logs]
        lines.extend(witness.format() for witness in self.witnesses)
        lines.extend(group.format() for group in self.groups)
        lines.append(f"quorum {self.quorum}")
        return "".join(line + "\n" for line in lines)

    @property
    def witness_vkeys(self) -> tuple[str, ...]:
        """The witnesses' verifier keys, in policy order."""
        return tuple(w.vkey for w in self.witnesses)

    def log_verifiers(self) -> tuple[note.Verifier, ...]:
        """The note verifiers of the logs' checkpoint signatures, in policy order."""
        return tuple(log.verifier() for log in self.logs)

    def witness_verifiers(self) -> tuple[note.Verifier, ...]:
        """The note verifiers of the witnesses' cosignatures, in policy order (key names
        distinct, as :func:`~transparency_log.checkpoint.verify_checkpoint` requires)."""
        return tuple(w.verifier() for w in self.witnesses)

    # -- the quorum --------------------------------------------------------------------------

    def _evaluate(self, cosigners: object) -> tuple[dict[str, bool], frozenset[str]]:
        """Whether each defined name is met, given the cosigning key names (SPEC §2.8)."""
        if isinstance(cosigners, str | bytes) or not isinstance(cosigners, Iterable):
            raise TypeError("cosigners must be a collection of key names (e.g. a set)")
        names = frozenset(cosigners)
        met: dict[str, bool] = {NONE: True}
        for witness in self.witnesses:
            met[witness.name] = witness.key_name in names
        for group in self.groups:  # members precede their groups: one pass suffices
            met[group.name] = sum(met[m] for m in group.members) >= group.k
        return met, names

    def quorum_satisfied(self, cosigners: Iterable[str]) -> bool:
        """Whether the witnesses whose cosignatures verified meet the quorum (SPEC §2.8).

        ``cosigners`` are the KEY NAMES of the verified cosignatures (the keys of
        ``VerifiedCheckpoint.cosignatures``, after any freshness filter), not policy-local
        witness names; names of keys the policy does not list count for nothing. This is a
        question for a caller comparing alternatives (SPEC §7.3 step 4); to enforce the
        quorum use :meth:`check_quorum`.
        """
        met, _ = self._evaluate(cosigners)
        return met[self.quorum]

    def check_quorum(self, cosigners: Iterable[str]) -> None:
        """Raise QUORUM_NOT_MET unless the cosigners meet the quorum (SPEC §2.8).

        ``cosigners`` as for :meth:`quorum_satisfied`. The message names the unmet groups
        and the witnesses without a verified cosignature that the quorum depends on (through
        unmet groups: a witness of a group already met is not what is missing).
        """
        met, names = self._evaluate(cosigners)
        if met[self.quorum]:
            return
        unmet = self._unmet_under_quorum(met)
        groups = [
            f"{g.name} ({sum(met[m] for m in g.members)} of {g.k} needed)"
            for g in self.groups
            if g.name in unmet
        ]
        missing = [f"{w.name} (key {w.key_name})" for w in self.witnesses if w.name in unmet]
        unknown = sorted(names - {w.key_name for w in self.witnesses})
        parts = [f"the witness quorum {self.quorum!r} is not met"]
        if groups:
            parts.append("groups not met: " + ", ".join(groups))
        if missing:
            parts.append("witnesses without a verified cosignature: " + ", ".join(missing))
        if unknown:
            parts.append("cosignatures by keys the policy does not list: " + ", ".join(unknown))
        raise VerificationError(
            LogReason.QUORUM_NOT_MET,
            "; ".join(parts) + "; the checkpoint needs more cosignatures from the policy's "
            "witnesses (fetch a freshly cosigned one)",
        )

    def _unmet_under_quorum(self, met: dict[str, bool]) -> set[str]:
        """The unmet names the quorum depends on through unmet groups: what is missing."""
        members = {g.name: g.members for g in self.groups}
        seen: set[str] = set()
        todo = [self.quorum]
        while todo:
            name = todo.pop()
            if name not in seen and not met[name]:
                seen.add(name)
                todo.extend(members.get(name, ()))
        return seen

    def verify_checkpoint(self, signed_note: bytes) -> VerifiedCheckpoint:
        """Accept a signed checkpoint under this policy (SPEC §2.8 "Checkpoint under a policy").

        The log is the listed log whose key name equals the checkpoint's origin (the note's
        first line; among several logs of that name, the one that signed it); none is
        WRONG_ORIGIN. The checkpoint must verify under it with the policy's witness keys
        (SPEC §2.6, its reason codes), and the verified cosignatures must meet the quorum
        (QUORUM_NOT_MET). Cosignature freshness is the caller's question (SPEC §7.3 step 4).
        """
        text, sigs = note.parse_unverified(signed_note)
        origin = text.split("\n", 1)[0]
        candidates = [log for log in self.logs if log.origin == origin]
        if not candidates:
            listed = ", ".join(repr(log.origin) for log in self.logs) or "none"
            raise VerificationError(
                LogReason.WRONG_ORIGIN,
                f"the checkpoint's origin is {origin[:200]!r}, but the policy lists no log of "
                f"that name (its logs: {listed}); this checkpoint is from another log",
            )
        signed_by = {(sig.name, sig.key_hash) for sig in sigs}
        log = next(
            (c for c in candidates if (c.origin, c.verifier().key_hash) in signed_by),
            candidates[0],
        )
        verified = verify_checkpoint(
            signed_note, log.verifier(), origin=origin, witnesses=self.witness_verifiers()
        )
        self.check_quorum(verified.cosignatures.keys())
        return verified


# --- parsing -------------------------------------------------------------------------------


def _malformed(line: int | None, message: str) -> NoReturn:
    where = f"policy line {line}: " if line is not None else "policy: "
    raise VerificationError(LogReason.MALFORMED_POLICY, where + message)


def _parse_threshold(text: str) -> Threshold:
    if text in ("all", "any"):
        return text  # type: ignore[return-value]  # narrowed by the test above
    if _DECIMAL.fullmatch(text) is None:
        raise ValueError(
            f"threshold {text[:40]!r} is not 'all', 'any' or a decimal (digits, no sign, no "
            "leading zeros)"
        )
    return int(text)


def _parse_line(fields: list[str]) -> PolicyLog | PolicyWitness | PolicyGroup | str:
    """One non-comment line as an item, or the quorum's name; ValueError if malformed."""
    keyword, args = fields[0], fields[1:]
    if keyword == "log":
        if len(args) not in (1, 2):
            raise ValueError("expected 'log <vkey> [<url>]'")
        return PolicyLog(args[0], args[1] if len(args) == 2 else None)
    if keyword == "witness":
        if len(args) not in (2, 3):
            raise ValueError("expected 'witness <name> <vkey> [<url>]'")
        return PolicyWitness(args[0], args[1], args[2] if len(args) == 3 else None)
    if keyword == "group":
        if len(args) < 3:
            raise ValueError("expected 'group <name> <threshold> <member> [<member> ...]'")
        return PolicyGroup(args[0], _parse_threshold(args[1]), tuple(args[2:]))
    if keyword == "quorum":
        if len(args) != 1:
            raise ValueError("expected 'quorum <name>'")
        return args[0]
    raise ValueError(
        f"unknown keyword {keyword[:40]!r}; a line is 'log', 'witness', 'group' or 'quorum' "
        "(lowercase), a comment starting with '#', or blank"
    )


def parse_policy(text: str | bytes) -> Policy:
    """Parse a C2SP tlog-policy strictly (SPEC §2.8); any violation is MALFORMED_POLICY.

    The text is UTF-8 (bytes are decoded strictly), at most :data:`MAX_POLICY_BYTES`, and
    every line ends in ``\\n``. Whitespace is spaces and tabs; blank lines and lines whose
    first non-blank character is ``#`` are ignored (no trailing comments). Every other
    line must be one of the four forms, and the rules of SPEC §2.8 hold: names defined once,
    no forward references, each name a group member at most once, one quorum line, key types
    right, no key twice, witness key names distinct, the limits. Unlike C2SP, which treats
    non-ASCII bytes as opaque, we require UTF-8: policies travel inside CBOR text strings.
    """
    if isinstance(text, bytes):
        raw = text
        if len(raw) > MAX_POLICY_BYTES:
            _malformed(None, f"the policy is {len(raw)} bytes; at most {MAX_POLICY_BYTES}")
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            _malformed(None, f"the policy is not UTF-8 (byte {e.start}: {e.reason})")
    elif isinstance(text, str):
        decoded = text
        try:
            size = len(decoded.encode("utf-8"))
        except UnicodeEncodeError as e:
            _malformed(None, f"the policy is not UTF-8 text (lone surrogate at {e.start})")
        if size > MAX_POLICY_BYTES:
            _malformed(None, f"the policy is {size} bytes; at most {MAX_POLICY_BYTES}")
    else:
        raise TypeError(f"a policy is str or bytes, not {type(text).__name__}")
    if decoded and not decoded.endswith("\n"):
        _malformed(None, "the last line does not end in a newline; every line must")

    logs: list[PolicyLog] = []
    witnesses: list[PolicyWitness] = []
    groups: list[PolicyGroup] = []
    rules = _Rules()
    for number, line in enumerate(decoded.split("\n")[:-1], start=1):
        control = _FORBIDDEN_CONTROL.search(line)
        if control is not None:
            char = control.group()
            what = (
                "carriage return (CRLF line ends are not allowed)"
                if char == "\r"
                else f"control character U+{ord(char):04X}"
            )
            _malformed(number, f"{what}; only tab and newline are allowed")
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        try:
            item = _parse_line(_WHITESPACE.split(stripped))
            if isinstance(item, PolicyLog):
                rules.add_log(item)
                logs.append(item)
            elif isinstance(item, PolicyWitness):
                rules.add_witness(item)
                witnesses.append(item)
            elif isinstance(item, PolicyGroup):
                rules.add_group(item)
                groups.append(item)
            else:
                rules.set_quorum(item)
        except ValueError as e:  # an item's own checks, the rules, or a bad vkey
            _malformed(number, str(e))
    if rules.quorum is None:
        _malformed(None, "no quorum line; a policy needs exactly one ('quorum none' for none)")
    try:
        return Policy(tuple(logs), tuple(witnesses), tuple(groups), rules.quorum)
    except ValueError as e:
        raise AssertionError(f"bad math in parse_policy: a parsed policy is invalid: {e}") from e
