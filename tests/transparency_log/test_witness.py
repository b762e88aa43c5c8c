"""C2SP tlog-witness, witness side (SPEC §6.4.1-OPS §6.4.3): requests, checks, state, races."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transparency_log import note
from transparency_log.checkpoint import Checkpoint, parse_checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import EMPTY_ROOT
from transparency_log.witness import (
    MAX_ADD_CHECKPOINT_BYTES,
    MAX_CONSISTENCY_PROOF_LINES,
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    FileStateStore,
    StateLockedError,
    TreeState,
    Witness,
    WitnessResponse,
    cosign_checkpoint,
    format_add_checkpoint_request,
    parse_add_checkpoint_request,
    verify_tree_update,
)

from .witnesses import NOW, FakeLog, MemoryStateStore, seed, witness_signer

REPO = Path(__file__).resolve().parents[2]


WITNESS_SIGNER = witness_signer("witness.example/w1")
LOG = FakeLog()


def make_witness(
    store: Any = None, now: Callable[[], int] = lambda: NOW, **kwargs: Any
) -> tuple[Witness, Any]:
    store = MemoryStateStore() if store is None else store
    return Witness(WITNESS_SIGNER, {LOG.origin: LOG.verifier}, store, now=now, **kwargs), store


def verify_cosignature(response: WitnessResponse, signed_checkpoint: bytes) -> int:
    """Open the checkpoint text plus the answer under the witness key: the timestamp."""
    assert response.status == 200, response.body
    assert dict(response.headers)["Content-Type"] == "text/plain; charset=utf-8"
    text, _ = note.parse_unverified(signed_checkpoint)
    opened = note.open_note(
        text.encode() + b"\n" + response.body, note.Verifiers([WITNESS_SIGNER.verifier()])
    )
    (sig,) = opened.sigs
    return int.from_bytes(sig.signature[:8], "big")


def corrupt_log_signature(signed: bytes) -> bytes:
    text, sigs = note.parse_unverified(signed)
    bad = [
        note.Signature(s.name, s.key_hash, bytes([s.signature[0] ^ 1]) + s.signature[1:])
        for s in sigs
    ]
    return (text + "\n" + "".join(s.to_line() for s in bad)).encode()


# --- known answers (FiloSottile/torchwood litewitness conversation) --------------------------


def _b64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def test_cosignature_known_answer(known_answers: dict[str, Any]) -> None:
    vectors = known_answers["witness"]
    kat = vectors["cosignature_kat"]
    signer = CosignatureV1Signer(
        "example.com/witness", bytes.fromhex(vectors["witness_signer_seed_hex"])
    )
    assert signer.verifier().verifier_key == vectors["witness_verifier_key"]
    text = kat["checkpoint"].split("\n\n", 1)[0] + "\n"
    assert cosign_checkpoint(text, signer, kat["timestamp"]) == kat["expect_line"]
    assert cosign_checkpoint(text.encode(), signer, kat["timestamp"]) == kat["expect_line"]


def test_known_answers_conversation_replayed_exactly(known_answers: dict[str, Any]) -> None:
    vectors = known_answers["witness"]
    kat = vectors["cosignature_kat"]
    signer = CosignatureV1Signer(
        "example.com/witness", bytes.fromhex(vectors["witness_signer_seed_hex"])
    )
    log = note.new_verifier(vectors["log_verifier_key"])
    cp1, cp3, cp5 = (c.encode() for c in vectors["checkpoints"])
    proofs = {(c["size1"], c["size2"]): _b64(c["proof_base64"]) for c in vectors["consistency"]}
    other_log = note.Ed25519Signer("example.com/unknown-log", seed("unknown log"))
    unknown = note.sign(
        vectors["checkpoints"][1].split("\n\n")[0].replace(log.name, other_log.name, 1) + "\n",
        other_log,
    ).encode()
    corrupted = list(proofs[1, 3])
    corrupted[0] = bytes([corrupted[0][0] ^ 0x80]) + corrupted[0][1:]

    requests = {
        "old 0, checkpoint size 1": (0, [], cp1),
        "old 1, size 3, bad log signature": (1, proofs[1, 3], corrupt_log_signature(cp3)),
        "old 1, unknown origin": (1, proofs[1, 3], unknown),
        "old 1, size 3, empty proof": (1, [], cp3),
        "old 1, size 3, corrupted proof": (1, corrupted, cp3),
        "old 1, size 3, good proof": (1, proofs[1, 3], cp3),
        "old 1, size 5, good 1->5 proof (witness is at 3)": (1, proofs[1, 5], cp5),
        "old 3, size 5, good proof": (3, proofs[3, 5], cp5),
        "old 0, size 5": (0, [], cp5),
    }
    conversation = vectors["conversation"]
    assert [step["request"] for step in conversation] == list(requests)

    witness = Witness(signer, {log.name: log}, MemoryStateStore(), now=lambda: kat["timestamp"])
    for step in conversation:
        old, proof, signed = requests[step["request"]]
        response = witness.add_checkpoint(format_add_checkpoint_request(old, proof, signed))
        assert response.status == step["status"], (step["request"], response.body)
        if "body" in step:
            assert response.body == step["body"].encode()
            assert dict(response.headers)["Content-Type"] == SIZE_CONTENT_TYPE
        if step["request"] == "old 3, size 5, good proof":  # the cosignature_kat checkpoint
            assert kat["checkpoint"] == vectors["checkpoints"][2]
            assert response.body == kat["expect_line"].encode()


# --- the request format (SPEC §6.4.1) ---------------------------------------------------------

hashes32 = st.binary(min_size=32, max_size=32)


@given(
    st.integers(0, 2**63 - 1),
    st.lists(hashes32, max_size=MAX_CONSISTENCY_PROOF_LINES),
    st.binary(min_size=1, max_size=200),
)
def test_request_round_trips(old: int, proof: list[bytes], signed: bytes) -> None:
    body = format_add_checkpoint_request(old, proof, signed)
    assert parse_add_checkpoint_request(body) == AddCheckpointRequest(old, tuple(proof), signed)


def test_request_bytes_are_those_of_c2sp() -> None:
    body = format_add_checkpoint_request(20852014, [b"\x00" * 32], b"cp\n\n- sig\n")
    assert body == b"old 20852014\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\ncp\n\n- sig\n"


_H = base64.b64encode(b"\x01" * 32)
_CP = b"origin\n1\n" + base64.b64encode(b"\x02" * 32) + b"\n\n\xe2\x80\x94 k AAAAAAA=\n"

MALFORMED_REQUESTS: dict[str, bytes] = {
    "empty body": b"",
    "no empty line": b"old 0\n" + _CP.replace(b"\n\n", b"\n"),
    "nothing after the empty line": b"old 0\n\n",
    "old size missing": b"\n\n" + _CP,
    "proof line before the old size": _H + b"\nold 1\n\n" + _CP,
    "old size with a leading zero": b"old 01\n\n" + _CP,
    "old size with a sign": b"old +1\n\n" + _CP,
    "old size in uppercase": b"OLD 1\n\n" + _CP,
    "two spaces after old": b"old  1\n\n" + _CP,
    "old size over 2^63 - 1": b"old 9223372036854775808\n\n" + _CP,
    "old size non-ASCII digits": "old \u0661\n\n".encode() + _CP,
    "CRLF line ends": b"old 1\r\n" + _H + b"\r\n\r\n" + _CP,
    "proof line of 31 bytes": b"old 1\n" + base64.b64encode(b"\x01" * 31) + b"\n\n" + _CP,
    "proof line without padding": b"old 1\n" + _H.rstrip(b"=") + b"\n\n" + _CP,
    "proof line non-canonical": b"old 1\n" + _H[:-2] + b"F=\n\n" + _CP,
    "proof line with a space": b"old 1\n" + _H + b" \n\n" + _CP,
    "64 proof lines": b"old 1\n" + (_H + b"\n") * 64 + b"\n" + _CP,
    "over the size limit": b"old 0\n\n" + b"x" * MAX_ADD_CHECKPOINT_BYTES,
}


@pytest.mark.parametrize("case", MALFORMED_REQUESTS)
def test_malformed_request_is_rejected(case: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_add_checkpoint_request(MALFORMED_REQUESTS[case])
    assert info.value.reason == LogReason.MALFORMED_PROOF
    witness, store = make_witness()
    response = witness.add_checkpoint(MALFORMED_REQUESTS[case])
    assert response.status == 400
    assert store.states == {}


def test_format_refuses_caller_mistakes() -> None:
    with pytest.raises(ValueError, match="outside"):
        format_add_checkpoint_request(-1, [], b"x")
    with pytest.raises(ValueError, match="32 bytes"):
        format_add_checkpoint_request(1, [b"short"], b"x")
    with pytest.raises(ValueError, match="at most 63"):
        format_add_checkpoint_request(1, [b"\x00" * 32] * 64, b"x")
    with pytest.raises(ValueError, match="empty"):
        format_add_checkpoint_request(1, [], b"")
    with pytest.raises(TypeError):
        format_add_checkpoint_request(True, [], b"x")


# --- the append-only check (pure) --------------------------------------------------------------


def _flipped(proof: list[bytes]) -> list[bytes]:
    return [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]


TREE_UPDATES: dict[str, tuple[TreeState, TreeState, list[bytes], str | None]] = {
    "first sight of a tree, empty proof": (TreeState.empty(), LOG.state(5), [], None),
    "empty to empty": (TreeState.empty(), TreeState.empty(), [], None),
    "3 to 7 with its proof": (LOG.state(3), LOG.state(7), LOG.proof(3, 7), None),
    "same tree again": (LOG.state(7), LOG.state(7), [], None),
    "first sight with a proof": (
        TreeState.empty(),
        LOG.state(5),
        LOG.proof(3, 5),
        LogReason.MALFORMED_PROOF,
    ),
    "size 0 with another root": (
        TreeState.empty(),
        TreeState(0, b"\x01" * 32),
        [],
        LogReason.BAD_CONSISTENCY_PROOF,
    ),
    "3 to 7 without a proof": (LOG.state(3), LOG.state(7), [], LogReason.MALFORMED_PROOF),
    "3 to 7 with one hash too many": (
        LOG.state(3),
        LOG.state(7),
        [*LOG.proof(3, 7), b"\x00" * 32],
        LogReason.MALFORMED_PROOF,
    ),
    "3 to 7 with a flipped proof bit": (
        LOG.state(3),
        LOG.state(7),
        _flipped(LOG.proof(3, 7)),
        LogReason.BAD_CONSISTENCY_PROOF,
    ),
    "3 to a fork of 7": (
        LOG.state(3),
        LOG.state(7, fork=1),
        LOG.proof(3, 7),
        LogReason.BAD_CONSISTENCY_PROOF,
    ),
    "same size, another root": (
        LOG.state(7),
        LOG.state(7, fork=6),
        [],
        LogReason.BAD_CONSISTENCY_PROOF,
    ),
    "a smaller tree": (LOG.state(7), LOG.state(3), [], LogReason.BAD_CONSISTENCY_PROOF),
}


@pytest.mark.parametrize("case", TREE_UPDATES)
def test_verify_tree_update(case: str) -> None:
    known, new, proof, reason = TREE_UPDATES[case]
    if reason is None:
        assert verify_tree_update(known, new, proof) == new
        return
    with pytest.raises(VerificationError) as info:
        verify_tree_update(known, new, proof)
    assert info.value.reason == reason


def test_tree_state_refuses_bad_values() -> None:
    assert TreeState.empty() == TreeState(0, EMPTY_ROOT)
    with pytest.raises(ValueError, match="32 bytes"):
        TreeState(1, b"x")
    with pytest.raises(ValueError, match="outside"):
        TreeState(-1, EMPTY_ROOT)


# --- the witness's checks, in order (SPEC §6.4.2) ---------------------------------------------


def _with_held(size: int, fork: int | None = None) -> tuple[Witness, MemoryStateStore]:
    witness, store = make_witness()
    store.states[LOG.origin] = LOG.state(size, fork)
    return witness, store


def _note_with_text(text: str) -> bytes:
    return note.sign(text, LOG.signer).encode()


STATUS_CASES: dict[str, tuple[int, Callable[[], bytes], int]] = {
    # name: (held size, request body, expected status)
    "malformed body": (0, lambda: b"old x\n\n" + LOG.checkpoint(1), 400),
    "signed note that does not parse": (0, lambda: b"old 0\n\n" + b"no signature\n", 400),
    "unknown origin": (
        0,
        lambda: format_add_checkpoint_request(0, [], FakeLog("other.example/log").checkpoint(2)),
        404,
    ),
    "log signature does not verify": (
        0,
        lambda: format_add_checkpoint_request(0, [], corrupt_log_signature(LOG.checkpoint(2))),
        403,
    ),
    "signed by another key of the same name": (
        0,
        lambda: format_add_checkpoint_request(
            0,
            [],
            note.sign(
                Checkpoint(LOG.origin, 2, LOG.root(2)).body(),
                note.Ed25519Signer(LOG.origin, seed("impostor")),
            ).encode(),
        ),
        403,
    ),
    "log-signed text that is not a checkpoint": (
        0,
        lambda: format_add_checkpoint_request(0, [], _note_with_text(f"{LOG.origin}\n2\nroot\n")),
        400,
    ),
    "old size larger than the checkpoint": (5, lambda: LOG.request(6, 5), 400),
    "old size below the held size": (5, lambda: LOG.request(3, 7), 409),
    "old size above the held size": (5, lambda: LOG.request(6, 7), 409),
    "old size 0 for a log the witness holds": (5, lambda: LOG.request(0, 7), 409),
    "same size as held, another root (fork)": (5, lambda: LOG.request(5, 5, fork=2), 409),
    "proof does not verify": (3, lambda: LOG.request(3, 7, fork=1), 422),
    "proof of the wrong length": (
        3,
        lambda: format_add_checkpoint_request(3, LOG.proof(3, 7)[:-1], LOG.checkpoint(7)),
        422,
    ),
    "proof sent from old size 0": (
        0,
        lambda: format_add_checkpoint_request(0, LOG.proof(3, 7), LOG.checkpoint(7)),
        422,
    ),
    "size-0 checkpoint with a non-empty root": (
        0,
        lambda: format_add_checkpoint_request(0, [], LOG.checkpoint(0, root=b"\x07" * 32)),
        422,
    ),
    "first checkpoint": (0, lambda: LOG.request(0, 5), 200),
    "size-0 checkpoint with the empty root": (0, lambda: LOG.request(0, 0), 200),
    "extension with a proof": (3, lambda: LOG.request(3, 7), 200),
    "resubmission of the held checkpoint": (5, lambda: LOG.request(5, 5), 200),
}


@pytest.mark.parametrize("case", STATUS_CASES)
def test_status(case: str) -> None:
    held, body, status = STATUS_CASES[case]
    witness, store = _with_held(held)
    before = dict(store.states)
    response = witness.add_checkpoint(body())
    assert response.status == status, response.body
    assert response.body.endswith(b"\n")
    assert response.body.count(b"\n") == 1
    if status == 200:
        signed = parse_add_checkpoint_request(body()).signed_checkpoint
        verify_cosignature(response, signed)
        checkpoint = parse_checkpoint(note.parse_unverified(signed)[0])
        assert store.states[LOG.origin] == TreeState(checkpoint.size, checkpoint.root_hash)
    else:
        assert store.states == before  # nothing is saved unless the answer is 200
        assert not response.body.startswith("\u2014".encode())  # never a signature line
    if status == 409:
        assert response.body == f"{held}\n".encode()
        assert dict(response.headers)["Content-Type"] == SIZE_CONTENT_TYPE


def test_success_saves_the_new_tree_and_cosigns_at_the_clock() -> None:
    witness, store = _with_held(3)
    body = LOG.request(3, 7)
    response = witness.add_checkpoint(body)
    assert verify_cosignature(response, LOG.checkpoint(7)) == NOW
    assert store.states[LOG.origin] == LOG.state(7)
    assert witness.name == WITNESS_SIGNER.name


def test_resubmission_is_cosigned_again_with_a_fresh_timestamp() -> None:
    clock = iter([NOW, NOW + 60])
    witness, _ = make_witness(now=lambda: next(clock))
    assert verify_cosignature(witness.add_checkpoint(LOG.request(0, 4)), LOG.checkpoint(4)) == NOW
    again = witness.add_checkpoint(LOG.request(4, 4))
    assert verify_cosignature(again, LOG.checkpoint(4)) == NOW + 60


def test_state_read_failure_is_500_and_no_cosignature() -> None:
    witness, store = make_witness()
    store.fail_load = ValueError("corrupt")
    response = witness.add_checkpoint(LOG.request(0, 3))
    assert response.status == 500
    assert b"\xe2\x80\x94" not in response.body


def test_state_write_failure_is_500_and_no_cosignature() -> None:
    witness, store = make_witness()
    store.fail_save = OSError(28, "No space left on device")
    response = witness.add_checkpoint(LOG.request(0, 3))
    assert response.status == 500
    assert b"\xe2\x80\x94" not in response.body
    store.fail_save = None
    assert witness.add_checkpoint(LOG.request(0, 3)).status == 200  # nothing was held


def test_broken_clock_is_500_before_anything_is_saved() -> None:
    witness, store = make_witness(now=lambda: -5)
    assert witness.add_checkpoint(LOG.request(0, 3)).status == 500
    assert store.states == {}


def test_lock_timeout_is_503_with_retry_after() -> None:
    witness, store = make_witness(lock_timeout=0.05)
    store.save_delay = 1.0
    first = threading.Thread(target=witness.add_checkpoint, args=(LOG.request(0, 3),))
    first.start()
    try:
        time.sleep(0.2)  # the first request now holds the log's lock, inside save
        response = witness.add_checkpoint(LOG.request(3, 5))
    finally:
        first.join()
    assert response.status == 503
    assert dict(response.headers)["Retry-After"] == "1"


def test_witness_refuses_bad_configuration() -> None:
    with pytest.raises(TypeError, match="CosignatureV1Signer"):
        Witness(LOG.signer, {}, MemoryStateStore())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Ed25519"):
        Witness(WITNESS_SIGNER, {"w": WITNESS_SIGNER.verifier()}, MemoryStateStore())


# --- concurrency: never two roots at one size --------------------------------------------------


def test_concurrent_forks_get_exactly_one_cosignature() -> None:
    witness, store = make_witness()
    store.save_delay = 0.01  # widen the window between check and save
    bodies = [LOG.request(0, 8, fork=i) for i in range(8)]
    results: list[WitnessResponse] = []
    barrier = threading.Barrier(len(bodies))

    def submit(body: bytes) -> None:
        barrier.wait()
        results.append(witness.add_checkpoint(body))

    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [409] * 7
    (winner,) = (i for i, r in enumerate(results) if r.status == 200)
    held = store.states[LOG.origin]
    assert held.size == 8
    assert held.root_hash in {LOG.root(8, fork=i) for i in range(8)}
    assert all(r.body == b"8\n" for r in results if r.status == 409), winner


def test_concurrent_old_and_new_sizes_never_roll_back() -> None:
    witness, store = make_witness()
    store.save_delay = 0.01
    assert witness.add_checkpoint(LOG.request(0, 2)).status == 200
    bodies = [LOG.request(2, size) for size in (4, 9, 6, 12, 3)]
    results: dict[int, int] = {}
    barrier = threading.Barrier(len(bodies))

    def submit(size: int, body: bytes) -> None:
        barrier.wait()
        results[size] = witness.add_checkpoint(body).status

    threads = [
        threading.Thread(target=submit, args=(s, b))
        for s, b in zip((4, 9, 6, 12, 3), bodies, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # All start from size 2: one wins, the others are told the new size.
    assert sorted(results.values()) == [200, 409, 409, 409, 409]
    (winner,) = (s for s, status in results.items() if status == 200)
    assert store.states[LOG.origin] == LOG.state(winner)


# --- FileStateStore (OPS §6.4.3) -----------------------------------------------------------


def test_file_store_round_trip_and_exact_bytes(tmp_path: Path) -> None:
    with FileStateStore(tmp_path) as store:
        assert store.load(LOG.origin) == TreeState.empty()
        store.save(LOG.origin, LOG.state(7))
        assert store.load(LOG.origin) == LOG.state(7)
        path = store.path_for(LOG.origin)
        assert path.name == hashlib.sha256(LOG.origin.encode()).hexdigest() + ".state"
        root = base64.b64encode(LOG.root(7)).decode()
        assert path.read_text() == f"keybundle-witness-state/v1\n{LOG.origin}\n7\n{root}\n"
        store.save(LOG.origin, LOG.state(9))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LOCK", path.name]  # no temp files
    with FileStateStore(tmp_path) as reopened:
        assert reopened.load(LOG.origin) == LOG.state(9)


CORRUPT_STATES: dict[str, Callable[[str], str]] = {
    "empty file": lambda good: "",
    "truncated": lambda good: good[:-10],
    "missing final newline": lambda good: good[:-1],
    "another header": lambda good: good.replace("/v1", "/v2"),
    "another origin": lambda good: good.replace(LOG.origin, "other.example/log"),
    "size with a leading zero": lambda good: good.replace("\n7\n", "\n07\n"),
    "root not base64": lambda good: good.rsplit("\n", 2)[0] + "\nnot-base64\n",
    "extra line": lambda good: good + "more\n",
}


@pytest.mark.parametrize("case", CORRUPT_STATES)
def test_corrupt_state_file_is_an_error_never_a_reset(tmp_path: Path, case: str) -> None:
    with FileStateStore(tmp_path) as store:
        store.save(LOG.origin, LOG.state(7))
        path = store.path_for(LOG.origin)
        path.write_text(CORRUPT_STATES[case](path.read_text()))
        with pytest.raises(ValueError, match="corrupt"):
            store.load(LOG.origin)
        witness, _ = make_witness(store)
        for body in (LOG.request(0, 3), LOG.request(7, 9), LOG.request(0, 0)):
            assert witness.add_checkpoint(body).status == 500
        assert path.read_text() == CORRUPT_STATES[case](_good_state_text(7))


def _good_state_text(size: int) -> str:
    root = base64.b64encode(LOG.root(size)).decode()
    return f"keybundle-witness-state/v1\n{LOG.origin}\n{size}\n{root}\n"


def test_state_directory_is_locked_against_a_second_store(tmp_path: Path) -> None:
    first = FileStateStore(tmp_path)
    with pytest.raises(StateLockedError, match=f"pid {os.getpid()}"):
        FileStateStore(tmp_path)
    first.close()
    with pytest.raises(ValueError, match="closed"):
        first.load(LOG.origin)
    FileStateStore(tmp_path).close()  # released


def test_state_directory_is_locked_against_another_process(tmp_path: Path) -> None:
    with FileStateStore(tmp_path):
        script = (
            "import sys\n"
            "from transparency_log.witness import FileStateStore, StateLockedError\n"
            "try:\n"
            f"    FileStateStore({str(tmp_path)!r})\n"
            "except StateLockedError:\n"
            "    sys.exit(3)\n"
        )
        result = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=30, check=False)
        assert result.returncode == 3


def test_missing_state_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        FileStateStore(tmp_path / "missing")


# --- crash after the state write, then restart --------------------------------------------------

_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from transparency_log import witness as w
    from tests.transparency_log.test_witness import LOG, WITNESS_SIGNER
    from tests.transparency_log.witnesses import NOW

    store = w.FileStateStore(sys.argv[1])
    real_save = store.save

    def save_then_die(origin, state):
        real_save(origin, state)
        os._exit(9)  # killed after the state is durable, before any answer

    store.save = save_then_die
    witness = w.Witness(WITNESS_SIGNER, {LOG.origin: LOG.verifier}, store, now=lambda: NOW)
    witness.add_checkpoint(LOG.request(0, 5))
    sys.exit(0)  # not reached
    """
)


def test_crash_after_state_write_then_restart_refuses_a_conflicting_checkpoint(
    tmp_path: Path,
) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, str(tmp_path)], cwd=REPO, timeout=60, check=False
    )
    assert crashed.returncode == 9
    with FileStateStore(tmp_path) as store:  # the kernel released the dead process's lock
        assert store.load(LOG.origin) == LOG.state(5)
        witness, _ = make_witness(store)
        fork = witness.add_checkpoint(LOG.request(0, 5, fork=3))
        assert (fork.status, fork.body) == (409, b"5\n")
        fork = witness.add_checkpoint(LOG.request(5, 5, fork=3))
        assert (fork.status, fork.body) == (409, b"5\n")
        assert witness.add_checkpoint(LOG.request(5, 8, fork=3)).status == 422
        assert witness.add_checkpoint(LOG.request(5, 8)).status == 200
