"""C2SP tlog-witness, log side (SPEC §6.4.4): collect_cosignatures over in-process adapters.

Each witness is reached through a ``requests`` transport adapter that hands the request body
to a handler in this process (a real :class:`Witness`, or a scripted liar), so the whole
client runs, HTTP objects included, without a socket.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests
import requests.adapters
from requests.structures import CaseInsensitiveDict

from transparency_log import note
from transparency_log.checkpoint import verify_checkpoint
from transparency_log.witness import (
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessResponse,
    parse_add_checkpoint_request,
)
from transparency_log.witness_client import (
    MAX_WITNESS_RESPONSE_BYTES,
    WitnessEndpoint,
    collect_cosignatures,
    merge_signature_lines,
)

from . import trickle
from .witnesses import NOW, FakeLog, MemoryStateStore, witness_signer

Handler = Callable[[bytes], WitnessResponse]

LOG = FakeLog()
W1 = witness_signer("witness.example/w1")
W2 = witness_signer("witness.example/w2")


class InProcessAdapter(requests.adapters.BaseAdapter):
    """A transport that answers POSTs with a handler of the body; ``bodies`` records them."""

    def __init__(self, handler: Handler | Exception) -> None:
        super().__init__()
        self.handler = handler
        self.bodies: list[bytes] = []

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(self.handler, Exception):
            raise self.handler
        body = request.body if isinstance(request.body, bytes) else b""
        self.bodies.append(body)
        answer = self.handler(body)
        response = requests.Response()
        response.status_code = int(answer.status)
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response.raw = io.BytesIO(answer.body)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def sessions(adapters: Mapping[str, InProcessAdapter]) -> Callable[[], requests.Session]:
    """A session factory with each witness URL mounted on its adapter."""

    def factory() -> requests.Session:
        session = requests.Session()
        for url, adapter in adapters.items():
            session.mount(url, adapter)
        return session

    return factory


def real_witness(signer: Any = W1, held: int | None = None, fork: int | None = None) -> Handler:
    store = MemoryStateStore()
    if held is not None:
        store.states[LOG.origin] = LOG.state(held, fork)
    witness = Witness(signer, {LOG.origin: LOG.verifier}, store, now=lambda: NOW)
    return witness.add_checkpoint


def endpoint(url: str, signer: Any = W1) -> WitnessEndpoint:
    return WitnessEndpoint(url, signer.verifier())


def proofs_from(size: int, calls: list[int] | None = None) -> Callable[[int], list[bytes]]:
    def proof_for(old: int) -> list[bytes]:
        if calls is not None:
            calls.append(old)
        return LOG.proof(old, size)

    return proof_for


def collect(
    handlers: Mapping[str, tuple[Any, Handler | Exception]],
    size: int = 8,
    old_size: int = 0,
    proof_for: Callable[[int], list[bytes]] | None = None,
    **kwargs: Any,
) -> tuple[Any, dict[str, InProcessAdapter]]:
    adapters = {url: InProcessAdapter(handler) for url, (_, handler) in handlers.items()}
    result = collect_cosignatures(
        LOG.checkpoint(size),
        old_size,
        proof_for or proofs_from(size),
        [endpoint(url, signer) for url, (signer, _) in handlers.items()],
        session_factory=sessions(adapters),
        **kwargs,
    )
    return result, adapters


def test_two_witnesses_cosign_and_the_lines_verify() -> None:
    result, adapters = collect(
        {"http://w1.test": (W1, real_witness(W1)), "http://w2.test": (W2, real_witness(W2))}
    )
    assert [o.ok for o in result.outcomes] == [True, True]
    assert [o.witness_size for o in result.outcomes] == [8, 8]
    assert result.failures == ()
    verified = verify_checkpoint(
        result.signed_checkpoint, LOG.verifier, witnesses=[W1.verifier(), W2.verifier()]
    )
    assert dict(verified.cosignatures) == {W1.name: NOW, W2.name: NOW}
    assert len(result.cosignature_lines) == 2
    sent = [parse_add_checkpoint_request(b) for b in adapters["http://w1.test"].bodies]
    assert [(r.old_size, r.proof) for r in sent] == [(0, ())]


def test_409_retry_from_the_size_the_witness_holds() -> None:
    calls: list[int] = []
    result, adapters = collect(
        {"http://w1.test": (W1, real_witness(held=3))},
        proof_for=proofs_from(8, calls),
    )
    (outcome,) = result.outcomes
    assert outcome.ok, outcome.error
    assert outcome.witness_size == 8
    assert calls == [3]  # the proof was fetched from the size the 409 named
    sent = [parse_add_checkpoint_request(b) for b in adapters["http://w1.test"].bodies]
    assert [(r.old_size, len(r.proof)) for r in sent] == [(0, 0), (3, len(LOG.proof(3, 8)))]


def test_409_for_another_tree_at_the_same_size_is_a_reported_fork() -> None:
    result, _ = collect({"http://w1.test": (W1, real_witness(held=5, fork=2))}, size=5, old_size=5)
    (outcome,) = result.outcomes
    assert not outcome.ok
    assert "split view" in (outcome.error or "")
    assert outcome.witness_size == 5
    assert result.signed_checkpoint == LOG.checkpoint(5)  # nothing added


def test_409_for_a_larger_tree_is_reported() -> None:
    result, _ = collect({"http://w1.test": (W1, real_witness(held=12))})
    (outcome,) = result.outcomes
    assert "larger tree (12 leaves)" in (outcome.error or "")


def test_a_witness_that_keeps_moving_is_given_up_after_max_attempts() -> None:
    sizes = iter([1, 2, 3, 4])

    def moving(body: bytes) -> WitnessResponse:
        return WitnessResponse(409, (("Content-Type", SIZE_CONTENT_TYPE),), b"%d\n" % next(sizes))

    result, adapters = collect({"http://w1.test": (W1, moving)}, max_attempts=3)
    assert "after 3 attempts" in (result.outcomes[0].error or "")
    assert len(adapters["http://w1.test"].bodies) == 3


def _answer(line: str, status: int = 200) -> Handler:
    return lambda body: WitnessResponse(status, (("Content-Type", "text/plain"),), line.encode())


def _cosignature(signer: Any, size: int = 8, tamper: bool = False) -> str:
    text, _ = note.parse_unverified(LOG.checkpoint(size))
    sig = signer.sign_at(text.encode(), NOW)
    if tamper:
        sig = sig[:-1] + bytes([sig[-1] ^ 1])
    return note.Signature(signer.name, signer.key_hash, sig).to_line()


def test_bad_cosignature_is_not_added_and_the_others_still_count() -> None:
    result, _ = collect(
        {
            "http://w1.test": (W1, _answer(_cosignature(W1, tamper=True))),
            "http://w2.test": (W2, real_witness(W2)),
        }
    )
    bad, good = result.outcomes
    assert not bad.ok
    assert "BAD_NOTE_SIGNATURE" in (bad.error or "")
    assert good.ok
    verified = verify_checkpoint(
        result.signed_checkpoint, LOG.verifier, witnesses=[W1.verifier(), W2.verifier()]
    )
    assert set(verified.cosignatures) == {W2.name}


def test_cosignature_over_another_checkpoint_is_rejected() -> None:
    result, _ = collect({"http://w1.test": (W1, _answer(_cosignature(W1, size=7)))})
    assert "BAD_NOTE_SIGNATURE" in (result.outcomes[0].error or "")


def test_lines_by_other_keys_are_ignored() -> None:
    stranger = witness_signer("witness.example/stranger")
    answer = _cosignature(stranger) + _cosignature(W1) + _cosignature(stranger, tamper=True)
    result, _ = collect({"http://w1.test": (W1, _answer(answer))})
    (outcome,) = result.outcomes
    assert outcome.ok, outcome.error
    assert [s.name for s in outcome.cosignatures] == [W1.name]
    assert stranger.name.encode() not in result.signed_checkpoint


def test_answer_without_the_witness_key_is_untrusted() -> None:
    stranger = witness_signer("witness.example/stranger")
    result, _ = collect({"http://w1.test": (W1, _answer(_cosignature(stranger)))})
    assert "UNTRUSTED_NOTE" in (result.outcomes[0].error or "")


FAILURES: dict[str, tuple[Handler | Exception, str]] = {
    "connection refused": (requests.ConnectionError("refused"), "request to"),
    "timeout": (requests.Timeout("slow"), "request to"),
    "HTTP 500": (_answer("state unavailable\n", 500), "HTTP 500"),
    "HTTP 422": (_answer("bad proof\n", 422), "HTTP 422"),
    "409 without the size content type": (_answer("3\n", 409), "well-formed"),
    "409 with a non-canonical size": (
        lambda body: WitnessResponse(409, (("Content-Type", SIZE_CONTENT_TYPE),), b"03\n"),
        "well-formed",
    ),
    "200 with an empty body": (_answer(""), "no body"),
    "200 with garbage": (_answer("hello\n"), "MALFORMED_NOTE"),
    "answer over the size limit": (_answer("x" * (MAX_WITNESS_RESPONSE_BYTES + 1)), "over"),
}


@pytest.mark.parametrize("case", FAILURES)
def test_failures_are_reported_not_raised(case: str) -> None:
    handler, expected = FAILURES[case]
    result, _ = collect(
        {"http://bad.test": (W1, handler), "http://w2.test": (W2, real_witness(W2))}
    )
    bad, good = result.outcomes
    assert not bad.ok
    assert expected in (bad.error or ""), bad.error
    assert good.ok
    assert [o.witness.name for o in result.failures] == [W1.name]


def test_proof_source_failure_is_reported() -> None:
    def no_proof(old: int) -> list[bytes]:
        raise LookupError(f"no tiles for size {old}")

    result, _ = collect({"http://w1.test": (W1, real_witness(held=3))}, proof_for=no_proof)
    assert "no consistency proof from size 3" in (result.outcomes[0].error or "")


def test_no_witnesses_returns_the_checkpoint_unchanged() -> None:
    result = collect_cosignatures(LOG.checkpoint(4), 0, proofs_from(4), [])
    assert result.signed_checkpoint == LOG.checkpoint(4)
    assert result.outcomes == ()


def test_caller_mistakes_raise() -> None:
    with pytest.raises(ValueError, match="not a signed checkpoint"):
        collect_cosignatures(b"garbage", 0, proofs_from(4), [])
    with pytest.raises(ValueError, match="outside"):
        collect_cosignatures(LOG.checkpoint(4), 5, proofs_from(4), [])
    with pytest.raises(ValueError, match="http"):
        WitnessEndpoint("ftp://w.test", W1.verifier())


def test_merge_signature_lines_keeps_note_order_and_drops_duplicates() -> None:
    signed = LOG.checkpoint(8)
    line = _cosignature(W1)
    merged = merge_signature_lines(signed, [line, line.rstrip("\n"), _cosignature(W2)])
    _, sigs = note.parse_unverified(merged)
    assert [s.name for s in sigs] == [LOG.origin, W1.name, W2.name]
    assert merge_signature_lines(merged, [line]) == merged
    with pytest.raises(ValueError, match="not one note signature line"):
        merge_signature_lines(signed, ["not a signature line"])


@pytest.mark.parametrize("mode", trickle.MODES)
def test_a_trickling_witness_costs_at_most_its_deadline(mode: str) -> None:
    # A witness that answers one byte every 50 ms, forever: each attempt is cut at the
    # deadline for the whole answer (SPEC §6.4.4, §11), and the other witness still cosigns.
    good = {"http://w2.test": InProcessAdapter(real_witness(W2))}
    with trickle.trickling_server(mode) as url:
        started = time.monotonic()
        result = collect_cosignatures(
            LOG.checkpoint(8),
            0,
            proofs_from(8),
            [endpoint(url, W1), endpoint("http://w2.test", W2)],
            session_factory=sessions(good),
            timeout=0.5,
            max_attempts=2,
        )
        elapsed = time.monotonic() - started
    slow, fine = result.outcomes
    assert "timed out: no complete answer within 0.5 s" in (slow.error or ""), slow.error
    assert fine.ok
    assert elapsed < 1.5, elapsed
