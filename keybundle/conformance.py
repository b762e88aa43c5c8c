"""keybundle conformance protocol (SPEC §12): run the conformance vectors against a verifier.

The vectors in ``testvectors/<family>/<name>.json`` pin down every format and decision of
SPEC.md. A verifier in another language proves that it decides exactly as we do by answering
them through a small adapter: one JSON request on standard input, one JSON answer on standard
output, one process per vector (SPEC §12). This module holds:

- the vector files' reader (:func:`load_vectors`) and the request/answer shapes;
- :func:`evaluate`: our own library behind the protocol (the reference adapter,
  ``python -m keybundle.conformance --adapter``, is this function on stdin/stdout);
- :func:`compare`: the one rule that decides whether an answer matches a vector;
- the two runners: :func:`run_in_process` (our library) and :func:`run_external` (any
  command, with a timeout, optionally several at once).

Decoding the protocol's own fields (base64, hex, types) is not verification: a request the
adapter cannot read is a :class:`ProtocolError` (an ``error`` answer), never a reason code.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from transparency_log.checkpoint import VerifiedCheckpoint, verify_checkpoint
from transparency_log.merkle import EMPTY_ROOT, leaf_hash
from transparency_log.note import Signature, Verifier, Verifiers, new_verifier, open_note
from transparency_log.policy import parse_policy
from transparency_log.proof import (
    MemoryHashStore,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from transparency_log.tile import EntryBundle, parse_tile_path
from transparency_log.tlog_proof import parse_tlog_proof, verify_tlog_proof

from . import dcbor
from .admission import BundleAdmission
from .client import verify_package
from .errors import ProtocolError, VectorFileError, VerificationError
from .evidence import verify_evidence
from .payload import BundlePayload, FleetKey, parse_payload
from .roles import RoleSignature, verify_signed_bundle
from .signed_trust_root import verify_rotation_chain, verify_self_signed
from .state import ClientState, CorruptStateError, parse_state
from .trustchain import trusted_chain
from .trustroot import TrustRoot

__all__ = [
    "DEFAULT_VERIFIER_TIMEOUT_SECONDS",
    "FAMILIES",
    "INFORMATIONAL",
    "MAX_ANSWER_BYTES",
    "MAX_REQUEST_BYTES",
    "PROTOCOL",
    "Outcome",
    "ProtocolError",
    "Vector",
    "VectorFileError",
    "compare",
    "evaluate",
    "load_vectors",
    "main",
    "request",
    "run_external",
    "run_in_process",
]

PROTOCOL: Final = "keybundle-conformance@v1"
"""The ``protocol`` member of every request (SPEC §12)."""
FAMILIES: Final = (
    "merkle",
    "note",
    "checkpoint",
    "tlog-proof",
    "policy",
    "tiles",
    "cbor",
    "payload",
    "cose",
    "trust-root",
    "admission",
    "evidence",
    "client",
)
"""The vector families, in the order the runners visit them (SPEC §12.4)."""
INFORMATIONAL: Final = frozenset({"step"})
"""Members of an expected outcome that an answer need not repeat (the §7.3 step of a
client rejection documents the vector; it is not part of the answer)."""
MAX_REQUEST_BYTES: Final = 16 << 20
"""Largest request the reference adapter reads from standard input."""
MAX_ANSWER_BYTES: Final = 16 << 20
"""Largest answer the harness reads from an external verifier."""
DEFAULT_VERIFIER_TIMEOUT_SECONDS: Final = 10.0
"""Seconds an external verifier may take for one vector before it fails."""

_VECTOR_MEMBERS: Final = frozenset({"description", "family", "spec", "input", "expect"})
_OPTIONAL_MEMBERS: Final = frozenset({"source"})
_NAME: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HEX: Final = re.compile(r"(?:[0-9a-f]{2})*")


@dataclass(frozen=True)
class Vector:
    """One conformance vector: ``testvectors/<family>/<name>.json``."""

    family: str
    name: str
    description: str
    spec: tuple[str, ...]
    input: Mapping[str, Any]
    expect: Mapping[str, Any]
    source: str | None = None

    @property
    def id(self) -> str:
        """``<family>/<name>``, as reports name the vector."""
        return f"{self.family}/{self.name}"


@dataclass(frozen=True)
class Outcome:
    """Whether a verifier's answer to one vector matched; ``detail`` says how it differed."""

    vector: Vector
    passed: bool
    detail: str = ""


# --- reading vectors -------------------------------------------------------------------------


def _parse_vector(path: Path, family: str) -> Vector:
    try:
        data = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VectorFileError(f"{path}: not a JSON vector ({e})") from None
    if type(data) is not dict:
        raise VectorFileError(f"{path}: a vector is a JSON object")
    missing = _VECTOR_MEMBERS - set(data)
    extra = set(data) - _VECTOR_MEMBERS - _OPTIONAL_MEMBERS
    if missing or extra:
        raise VectorFileError(
            f"{path}: missing members {sorted(missing)}, unknown members {sorted(extra)}"
        )
    if data["family"] != family:
        raise VectorFileError(f"{path}: family {data['family']!r} in the directory of {family!r}")
    name = path.stem
    if _NAME.fullmatch(name) is None:
        raise VectorFileError(f"{path}: a vector name is lowercase words joined by '-'")
    spec = data["spec"]
    if type(spec) is not list or not all(type(s) is str for s in spec):
        raise VectorFileError(f"{path}: spec is a list of SPEC.md section strings")
    if type(data["input"]) is not dict or type(data["expect"]) is not dict:
        raise VectorFileError(f"{path}: input and expect are JSON objects")
    source = data.get("source")
    if source is not None and type(source) is not str:
        raise VectorFileError(f"{path}: source is a string")
    if type(data["description"]) is not str:
        raise VectorFileError(f"{path}: description is a string")
    return Vector(
        family, name, data["description"], tuple(spec), data["input"], data["expect"], source
    )


def load_vectors(directory: str | Path, families: Iterable[str] | None = None) -> list[Vector]:
    """Every vector under ``directory`` (``<family>/<name>.json``), family by family.

    ``families`` restricts the families read (an unknown name is a ``ValueError``). Files of
    other directories are ignored; a file in a family directory that is not a vector raises
    :class:`VectorFileError`.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"vectors directory {str(root)!r} does not exist")
    wanted = list(FAMILIES) if families is None else list(families)
    for family in wanted:
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; the families are {', '.join(FAMILIES)}")
    vectors: list[Vector] = []
    for family in FAMILIES:
        folder = root / family
        if family in wanted and folder.is_dir():
            vectors.extend(_parse_vector(p, family) for p in sorted(folder.glob("*.json")))
    return vectors


def request(vector: Vector) -> dict[str, Any]:
    """The request the harness sends for ``vector`` (SPEC §12.1)."""
    return {
        "protocol": PROTOCOL,
        "family": vector.family,
        "name": vector.name,
        "input": dict(vector.input),
    }


# --- decoding the protocol's fields ----------------------------------------------------------


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in obj:
        raise ProtocolError(f"the input has no member {name!r}")
    value = obj[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if type(value) not in kinds:
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise ProtocolError(f"input member {name!r} must be {names}")
    return value


def _b64(obj: Mapping[str, Any], name: str) -> bytes:
    return _decode_b64(_field(obj, name, str), name)


def _decode_b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ProtocolError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ProtocolError(f"{what} is not canonical padded base64")
    return raw


def _decode_hex(text: object, what: str) -> bytes:
    if type(text) is not str or _HEX.fullmatch(text) is None:
        raise ProtocolError(f"{what} must be lowercase hex")
    return bytes.fromhex(text)


def _hex(obj: Mapping[str, Any], name: str) -> bytes:
    return _decode_hex(_field(obj, name, str), name)


def _hex_list(obj: Mapping[str, Any], name: str) -> list[bytes]:
    return [_decode_hex(h, f"{name}[{i}]") for i, h in enumerate(_field(obj, name, list))]


def _uint(obj: Mapping[str, Any], name: str) -> int:
    value = _field(obj, name, int)
    if value < 0:
        raise ProtocolError(f"input member {name!r} must be a non-negative integer")
    return int(value)


def _strings(obj: Mapping[str, Any], name: str) -> list[str]:
    values = _field(obj, name, list)
    if not all(type(v) is str for v in values):
        raise ProtocolError(f"input member {name!r} must be a list of strings")
    return list(values)


def _opt_str(obj: Mapping[str, Any], name: str) -> str | None:
    value = _field(obj, name, (str, type(None)))
    return None if value is None else str(value)


def _vkey(text: str, what: str) -> Verifier:
    try:
        return new_verifier(text)
    except ValueError as e:
        raise ProtocolError(f"{what}: {e}") from None


def _enc(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- the families: our library behind the protocol (SPEC §12.4) ------------------------------


def _accept(**members: Any) -> dict[str, Any]:
    return {"result": "accept", **members}


def _merkle(inp: Mapping[str, Any]) -> dict[str, Any]:
    op = _field(inp, "op", str)
    if op == "root":
        store = MemoryHashStore([leaf_hash(e) for e in _hex_list(inp, "entries_hex")])
        root = tree_root(store.size, store) if store.size else EMPTY_ROOT
        return _accept(root_hex=root.hex())
    if op == "inclusion":
        verify_inclusion(
            _hex(inp, "leaf_hash_hex"),
            _uint(inp, "index"),
            _uint(inp, "size"),
            _hex_list(inp, "proof_hex"),
            _hex(inp, "root_hex"),
        )
        return _accept()
    if op == "consistency":
        verify_consistency(
            _uint(inp, "size1"),
            _uint(inp, "size2"),
            _hex_list(inp, "proof_hex"),
            _hex(inp, "root1_hex"),
            _hex(inp, "root2_hex"),
        )
        return _accept()
    raise ProtocolError(f"unknown merkle op {op!r}")


def _sig_json(sig: Signature) -> dict[str, str]:
    return {"name": sig.name, "key_hash": f"{sig.key_hash:08x}"}


def _note(inp: Mapping[str, Any]) -> dict[str, Any]:
    verifiers = [_vkey(v, "vkeys") for v in _strings(inp, "vkeys")]
    try:
        known = Verifiers(verifiers)
    except ValueError as e:
        raise ProtocolError(str(e)) from None
    opened = open_note(_b64(inp, "note_b64"), known)
    return _accept(
        text=opened.text,
        verified=[_sig_json(s) for s in opened.sigs],
        unverified=[_sig_json(s) for s in opened.unverified_sigs],
    )


def _checkpoint_json(verified: VerifiedCheckpoint) -> dict[str, Any]:
    cp = verified.checkpoint
    return _accept(
        origin=cp.origin,
        size=cp.size,
        root_hex=cp.root_hash.hex(),
        extensions=list(cp.extensions),
        cosignatures=dict(verified.cosignatures),
    )


@dataclass(frozen=True)
class _LogKeys:
    """The log configuration of a checkpoint or tlog-proof request (SPEC §12.4)."""

    log: Verifier
    origin: str | None
    witnesses: tuple[Verifier, ...]


def _log_keys(inp: Mapping[str, Any]) -> _LogKeys:
    return _LogKeys(
        _vkey(_field(inp, "log_vkey", str), "log_vkey"),
        _opt_str(inp, "origin"),
        tuple(_vkey(v, "witness_vkeys") for v in _strings(inp, "witness_vkeys")),
    )


def _checkpoint(inp: Mapping[str, Any]) -> dict[str, Any]:
    keys = _log_keys(inp)
    verified = verify_checkpoint(
        _b64(inp, "note_b64"), keys.log, origin=keys.origin, witnesses=keys.witnesses
    )
    return _checkpoint_json(verified)


def _tlog_proof(inp: Mapping[str, Any]) -> dict[str, Any]:
    keys = _log_keys(inp)
    entry = _b64(inp, "entry_b64")
    proof = parse_tlog_proof(_b64(inp, "proof_b64"))
    verified = verify_tlog_proof(
        proof, leaf_hash(entry), keys.log, origin=keys.origin, witnesses=keys.witnesses
    )
    cp = verified.checkpoint
    return _accept(index=proof.index, size=cp.size, root_hex=cp.root_hash.hex())


def _policy(inp: Mapping[str, Any]) -> dict[str, Any]:
    op = _field(inp, "op", str)
    policy = parse_policy(_b64(inp, "policy_b64"))
    if op == "parse":
        return _accept(canonical=policy.format())
    if op == "quorum":
        policy.check_quorum(_strings(inp, "cosigners"))
        return _accept()
    if op == "checkpoint":
        return _checkpoint_json(policy.verify_checkpoint(_b64(inp, "note_b64")))
    raise ProtocolError(f"unknown policy op {op!r}")


def _tiles(inp: Mapping[str, Any]) -> dict[str, Any]:
    parsed = parse_tile_path(_field(inp, "path", str))
    if isinstance(parsed, EntryBundle):
        return _accept(kind="entries", level=None, index=parsed.index, width=parsed.width)
    return _accept(kind="tile", level=parsed.level, index=parsed.index, width=parsed.width)


def _cbor(inp: Mapping[str, Any]) -> dict[str, Any]:
    tags = _field(inp, "tags", list)
    if not all(type(t) is int and t >= 0 for t in tags):
        raise ProtocolError("input member 'tags' must be a list of tag numbers")
    dcbor.decode(_hex(inp, "data_hex"), tags=frozenset(tags))
    return _accept()


def _keys_json(keys: Iterable[FleetKey]) -> list[dict[str, str]]:
    return [
        {
            "id": k.key_id,
            "algorithm": k.algorithm,
            "public_key_hex": k.public_key.hex(),
            "usage": k.usage,
        }
        for k in keys
    ]


def _payload_json(payload: BundlePayload) -> dict[str, Any]:
    previous = payload.previous_digest
    return {
        "version": payload.version,
        "fleet": payload.fleet_id,
        "epoch": payload.epoch,
        "previous_digest_hex": None if previous is None else previous.hex(),
        "issued_at": payload.issued_at,
        "not_before": payload.not_before,
        "not_after": payload.not_after,
        "keys": _keys_json(payload.keys),
    }


def _payload(inp: Mapping[str, Any]) -> dict[str, Any]:
    return _accept(payload=_payload_json(parse_payload(_b64(inp, "payload_b64"))))


def _pinned(inp: Mapping[str, Any], name: str) -> TrustRoot:
    """A trust root the request configures (SPEC §5.3, self-signed).

    Like a verifier key, it is the verifier's configuration, not input under verification:
    one that does not verify makes the request invalid, never a rejection.
    """
    try:
        return verify_self_signed(_b64(inp, name))
    except VerificationError as e:
        raise ProtocolError(f"{name} is not a valid self-signed trust root: {e}") from None


def _signers_json(signatures: Sequence[RoleSignature]) -> list[dict[str, str]]:
    return [{"kid_hex": s.kid.hex(), "organisation": s.organisation} for s in signatures]


def _cose(inp: Mapping[str, Any]) -> dict[str, Any]:
    root = _pinned(inp, "trust_root_b64")
    verified = verify_signed_bundle(_b64(inp, "signed_bundle_b64"), root)
    return _accept(
        payload_b64=_enc(verified.payload),
        independent=_signers_json(verified.independent),
        operator=_signers_json(verified.operator),
    )


def _trust_root(inp: Mapping[str, Any]) -> dict[str, Any]:
    op = _field(inp, "op", str)
    if op == "self-signed":
        return _accept(version=verify_self_signed(_b64(inp, "signed_b64")).version)
    if op == "rotation":
        current = _pinned(inp, "current_b64")
        chain = [_decode_b64(c, "chain_b64") for c in _strings(inp, "chain_b64")]
        cap = _field(inp, "cap", (int, type(None)))
        return _accept(version=verify_rotation_chain(current, chain, cap).version)
    raise ProtocolError(f"unknown trust-root op {op!r}")


def _reject(e: VerificationError) -> dict[str, Any]:
    return {"result": "reject", "reason": e.reason, "message": e.message}


def _admission(inp: Mapping[str, Any]) -> dict[str, Any]:
    _pinned(inp, "trust_root_b64")
    admission = BundleAdmission(_b64(inp, "trust_root_b64"))
    entries = [_decode_b64(e, "entries_b64") for e in _strings(inp, "entries_b64")]
    results: list[dict[str, Any]] = []
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.execute("BEGIN")
        admission.setup(db)
        size = 0
        logged: dict[bytes, int] = {}
        for entry in entries:
            if entry in logged:  # OPS §6.2 step 1: a logged entry never reaches admission
                results.append(_accept(index=logged[entry]))
                continue
            db.execute("SAVEPOINT entry")
            try:
                admission.check(entry, size, db)
            except VerificationError as e:
                db.execute("ROLLBACK TO entry")
                results.append(_reject(e))
            else:
                results.append(_accept(index=size))
                logged[entry] = size
                size += 1
            db.execute("RELEASE entry")
        db.execute("ROLLBACK")
    finally:
        db.close()
    return {"results": results}


def _evidence(inp: Mapping[str, Any]) -> dict[str, Any]:
    finding = verify_evidence(_b64(inp, "evidence_b64"), _pinned(inp, "trust_root_b64"))
    return _accept(
        kind=finding.kind,
        claim=finding.reason,
        index=finding.index,
        sizes=list(finding.sizes),
        proven=finding.proven,
    )


def _client(inp: Mapping[str, Any]) -> dict[str, Any]:
    pinned = _pinned(inp, "trust_root_b64")
    raw_state = _field(inp, "state_b64", (str, type(None)))
    try:
        state = ClientState() if raw_state is None else parse_state(_decode_b64(raw_state, "state"))
        trusted_chain(pinned, state)  # the state's rotations re-verified (SPEC §7.2)
    except CorruptStateError as e:
        raise ProtocolError(f"the state does not parse: {e}") from None
    results: list[dict[str, Any]] = []
    for i, step in enumerate(_field(inp, "steps", list)):
        if type(step) is not dict:
            raise ProtocolError(f"steps[{i}] must be an object")
        try:
            accepted = verify_package(
                _b64(step, "package_b64"),
                pinned,
                state,
                _uint(step, "now"),
                fleet=_opt_str(step, "fleet"),
            )
        except VerificationError as e:
            results.append(_reject(e))
            continue
        state = accepted.state
        results.append(
            _accept(
                fleet=accepted.fleet_id,
                epoch=accepted.epoch,
                keys=_keys_json(accepted.keys),
                state_b64=_enc(state.encode()),
            )
        )
    return {"results": results}


_EVALUATORS: Final[dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    "merkle": _merkle,
    "note": _note,
    "checkpoint": _checkpoint,
    "tlog-proof": _tlog_proof,
    "policy": _policy,
    "tiles": _tiles,
    "cbor": _cbor,
    "payload": _payload,
    "cose": _cose,
    "trust-root": _trust_root,
    "admission": _admission,
    "evidence": _evidence,
    "client": _client,
}


def evaluate(family: str, inp: Mapping[str, Any]) -> dict[str, Any]:
    """Our library's answer to a request of ``family`` with input ``inp`` (SPEC §12.4).

    A rejection is an answer (``{"result": "reject", "reason": ..., "message": ...}``); an
    input the protocol does not allow, or that the library refuses as a caller mistake
    (``ValueError``/``TypeError``: a vector may never need one), raises
    :class:`ProtocolError`.
    """
    evaluator = _EVALUATORS.get(family)
    if evaluator is None:
        raise ProtocolError(f"unknown family {family!r}")
    if not isinstance(inp, Mapping):
        raise ProtocolError("the request's input must be an object")
    try:
        return evaluator(inp)
    except VerificationError as e:
        return _reject(e)
    except ProtocolError:
        raise
    except (ValueError, TypeError) as e:
        # The library's caller mistakes (SPEC §1): the request asked for something no
        # verifier is given, such as an index above 2^63 - 1 or a log key of type 0x04.
        raise ProtocolError(f"the library refuses this input as a caller mistake: {e}") from None


# --- comparing an answer with a vector (SPEC §12.1) -------------------------------------------


def _describe(outcome: Mapping[str, Any]) -> str:
    if outcome.get("result") == "reject":
        return f"reject {outcome.get('reason')}"
    if outcome.get("result") == "accept":
        return "accept"
    if "error" in outcome:
        return f"an error ({str(outcome['error'])[:200]})"
    return f"no result ({json.dumps(outcome, sort_keys=True)[:200]})"


def _compare_one(expected: Mapping[str, Any], answer: object) -> str | None:
    if type(answer) is not dict:
        return f"expected {_describe(expected)}, got a non-object answer"
    if answer.get("result") != expected["result"] or (
        expected["result"] == "reject" and answer.get("reason") != expected["reason"]
    ):
        found = _describe(answer)
        message = answer.get("message") if answer.get("result") == "reject" else None
        if type(message) is str:
            found += f" ({message[:200]})"
        return f"expected {_describe(expected)}, got {found}"
    if expected["result"] == "accept":
        for name, value in sorted(expected.items()):
            if name in INFORMATIONAL or name == "result":
                continue
            if name not in answer:
                return f"accepted, but the answer has no {name!r}"
            if answer[name] != value:
                got = json.dumps(answer[name], sort_keys=True)[:200]
                want = json.dumps(value, sort_keys=True)[:200]
                return f"accepted, but {name!r} is {got}; expected {want}"
    return None


def compare(expected: Mapping[str, Any], answer: object) -> str | None:
    """None when ``answer`` matches the vector's ``expected`` outcome, else why not.

    The rule (SPEC §12.1): ``result`` must match; a rejection's ``reason`` must match; an
    acceptance must carry every other expected member with an equal JSON value. Members of
    :data:`INFORMATIONAL`, and members the vector does not expect, are ignored. A sequence
    (``results``) matches element by element.
    """
    if "results" not in expected:
        return _compare_one(expected, answer)
    results = answer.get("results") if type(answer) is dict else None
    if type(results) is not list:
        found = _describe(answer) if type(answer) is dict else "a non-object answer"
        return f"expected a results list, got {found}"
    want = expected["results"]
    if len(results) != len(want):
        return f"expected {len(want)} results, got {len(results)}"
    for i, (e, a) in enumerate(zip(want, results, strict=True)):
        problem = _compare_one(e, a)
        if problem is not None:
            return f"step {i + 1} of {len(want)}: {problem}"
    return None


# --- runners -----------------------------------------------------------------------------------


def run_in_process(vectors: Iterable[Vector]) -> Iterator[Outcome]:
    """Answer each vector with our own library (:func:`evaluate`) and compare."""
    for vector in vectors:
        try:
            answer = evaluate(vector.family, vector.input)
        except ProtocolError as e:
            yield Outcome(vector, False, f"the vector's input is not valid: {e}")
            continue
        problem = compare(vector.expect, answer)
        yield Outcome(vector, problem is None, problem or "")


def _run_one(vector: Vector, command: Sequence[str], timeout: float) -> Outcome:
    body = (json.dumps(request(vector), sort_keys=True) + "\n").encode("utf-8")
    try:
        done = subprocess.run(
            list(command), input=body, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Outcome(vector, False, f"the verifier did not answer within {timeout:g} s")
    except OSError as e:
        return Outcome(vector, False, f"cannot run the verifier: {e}")
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no stderr"]
        return Outcome(
            vector, False, f"the verifier exited with status {done.returncode}: {tail[0]}"
        )
    if len(done.stdout) > MAX_ANSWER_BYTES:
        return Outcome(vector, False, f"the answer is over {MAX_ANSWER_BYTES} bytes")
    try:
        answer = json.loads(done.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return Outcome(vector, False, f"the answer is not one JSON value ({e})")
    problem = compare(vector.expect, answer)
    return Outcome(vector, problem is None, problem or "")


def run_external(
    vectors: Iterable[Vector],
    command: Sequence[str],
    *,
    timeout: float = DEFAULT_VERIFIER_TIMEOUT_SECONDS,
    jobs: int = 1,
) -> Iterator[Outcome]:
    """Answer each vector by running ``command`` once (SPEC §12.1), ``jobs`` at a time.

    ``command`` is an argument list (no shell). Outcomes come in the order of ``vectors``.
    """
    if not command:
        raise ValueError("the verifier command is empty")
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(lambda v: _run_one(v, command, timeout), vectors)


# --- the reference adapter ---------------------------------------------------------------------


def _answer_request(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_REQUEST_BYTES:
        raise ProtocolError(f"the request is over {MAX_REQUEST_BYTES} bytes")
    try:
        req = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolError(f"the request is not JSON ({e})") from None
    if type(req) is not dict:
        raise ProtocolError("the request must be a JSON object")
    if req.get("protocol") != PROTOCOL:
        raise ProtocolError(f"this adapter speaks {PROTOCOL!r}, not {req.get('protocol')!r}")
    family = req.get("family")
    if type(family) is not str:
        raise ProtocolError("the request has no family")
    inp = req.get("input")
    if type(inp) is not dict:
        raise ProtocolError("the request has no input object")
    return evaluate(family, inp)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m keybundle.conformance --adapter``: answer one request (SPEC §12.1).

    Reads one request from standard input, writes one answer and a newline to standard
    output, exits 0; a request it cannot read gets ``{"error": ...}`` and exit status 2.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["--adapter"]:
        sys.stderr.write(
            "usage: python -m keybundle.conformance --adapter  (one request on stdin)\n"
        )
        return 2
    data = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
    code = 0
    try:
        answer = _answer_request(data)
    except ProtocolError as e:
        answer, code = {"error": str(e)}, 2
    sys.stdout.write(json.dumps(answer, sort_keys=True) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
