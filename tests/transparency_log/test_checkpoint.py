"""C2SP tlog-checkpoint (SPEC §2.6): strict bodies, and verification of signed checkpoints."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transparency_log import note
from transparency_log.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    Checkpoint,
    CheckpointVerifier,
    parse_checkpoint,
    verify_checkpoint,
)
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import MAX_TREE_SIZE

ORIGIN = "log.example/checkpoints"
ROOT = hashlib.sha256(b"root").digest()
LOG = note.Ed25519Signer(ORIGIN, hashlib.sha256(b"log").digest())
OTHER_LOG = note.Ed25519Signer(ORIGIN, hashlib.sha256(b"other log").digest())
W1 = CosignatureV1Signer("witness.example/w1", hashlib.sha256(b"w1").digest(), now=lambda: 111)
W2 = CosignatureV1Signer("witness.example/w2", hashlib.sha256(b"w2").digest(), now=lambda: 222)
CHECKPOINT = Checkpoint(ORIGIN, 1234, ROOT, ("ext one", "ext two"))
BODY = CHECKPOINT.body()


def _reason(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(VerificationError) as e:
        call(*args, **kwargs)
    return e.value.reason


def _cosign(signed: str, *witnesses: CosignatureV1Signer, at: int = 1000) -> bytes:
    text = signed[: signed.rindex("\n\n") + 1].encode()
    lines = "".join(
        note.Signature(w.name, w.key_hash, w.sign_at(text, at)).to_line() for w in witnesses
    )
    return (signed + lines).encode()


# --- bodies ---------------------------------------------------------------------------------


def test_body_is_the_c2sp_grammar() -> None:
    root = base64.b64encode(ROOT).decode()
    assert f"{ORIGIN}\n1234\n{root}\next one\next two\n" == BODY
    assert Checkpoint(ORIGIN, 0, ROOT).body() == f"{ORIGIN}\n0\n{root}\n"


def test_parse_inverts_body() -> None:
    assert parse_checkpoint(BODY) == CHECKPOINT
    assert parse_checkpoint(BODY.encode()) == CHECKPOINT
    assert parse_checkpoint(BODY).extensions == ("ext one", "ext two")


def test_largest_size_and_non_ascii_text_are_accepted() -> None:
    cp = Checkpoint("lóg.example/ü", MAX_TREE_SIZE, ROOT, ("émoji 🌳", "\x7f is not a control"))
    assert parse_checkpoint(cp.body()) == cp
    assert parse_checkpoint(cp.body().encode()) == cp


def test_extensions_given_as_a_list_are_stored_as_a_tuple() -> None:
    cp = Checkpoint(ORIGIN, 1, ROOT, ["x"])  # type: ignore[arg-type]
    assert cp.extensions == ("x",)


_ROOT_B64 = base64.b64encode(ROOT).decode()
_URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()
_NONCANONICAL_ROOT = _ROOT_B64[:42] + chr(ord(_ROOT_B64[42]) + 1) + "="
MALFORMED_BODIES: dict[str, str | bytes] = {
    "empty": "",
    "no final newline": f"{ORIGIN}\n1\n{_ROOT_B64}",
    "two final newlines": f"{ORIGIN}\n1\n{_ROOT_B64}\n\n",
    "only two lines": f"{ORIGIN}\n1\n",
    "empty origin": f"\n1\n{_ROOT_B64}\n",
    "empty extension line": f"{ORIGIN}\n1\n{_ROOT_B64}\n\next\n",
    "size with leading zero": f"{ORIGIN}\n01\n{_ROOT_B64}\n",
    "negative size": f"{ORIGIN}\n-1\n{_ROOT_B64}\n",
    "size with plus sign": f"{ORIGIN}\n+1\n{_ROOT_B64}\n",
    "size with a space": f"{ORIGIN}\n 1\n{_ROOT_B64}\n",
    "size in non-ASCII digits": f"{ORIGIN}\n\u0661\n{_ROOT_B64}\n",
    "size 2^63": f"{ORIGIN}\n{2**63}\n{_ROOT_B64}\n",
    "size of 20 digits": f"{ORIGIN}\n{10**19}\n{_ROOT_B64}\n",
    "empty size": f"{ORIGIN}\n\n{_ROOT_B64}\n",
    "root without padding": f"{ORIGIN}\n1\n{_ROOT_B64[:-1]}\n",
    "root with non-zero trailing bits": f"{ORIGIN}\n1\n{_NONCANONICAL_ROOT}\n",
    "root of 31 bytes": f"{ORIGIN}\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
    "root of 33 bytes": f"{ORIGIN}\n1\n{base64.b64encode(ROOT + b'x').decode()}\n",
    "root in URL-safe base64": f"{ORIGIN}\n1\n{_URLSAFE_ROOT}\n",
    "root in hex": f"{ORIGIN}\n1\n{ROOT.hex()}\n",
    "carriage return": f"{ORIGIN}\r\n1\n{_ROOT_B64}\n",
    "tab in origin": f"log\t.example\n1\n{_ROOT_B64}\n",
    "NUL in extension": f"{ORIGIN}\n1\n{_ROOT_B64}\next\x00\n",
    "invalid UTF-8": f"{ORIGIN}\n1\n{_ROOT_B64}\n".encode() + b"\xff\n",
    "lone surrogate": f"{ORIGIN}\ud800\n1\n{_ROOT_B64}\n",
    "over the size limit": f"{ORIGIN}\n1\n{_ROOT_B64}\n" + "x" * MAX_CHECKPOINT_BYTES + "\n",
    "over the size limit in bytes": (
        f"{ORIGIN}\n1\n{_ROOT_B64}\n" + "é" * (MAX_CHECKPOINT_BYTES // 2) + "\n"
    ),
}


@pytest.mark.parametrize("text", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_malformed_body_is_rejected(text: str | bytes) -> None:
    assert _reason(parse_checkpoint, text) == LogReason.MALFORMED_CHECKPOINT


def test_error_message_says_what_was_expected() -> None:
    with pytest.raises(VerificationError) as e:
        parse_checkpoint(MALFORMED_BODIES["size with leading zero"])
    assert "'01'" in e.value.message
    assert "no leading zeros" in e.value.message


def test_body_of_exactly_the_limit_is_accepted() -> None:
    head = f"{ORIGIN}\n1\n{_ROOT_B64}\n"
    text = head + "x" * (MAX_CHECKPOINT_BYTES - len(head) - 1) + "\n"
    assert len(text.encode()) == MAX_CHECKPOINT_BYTES
    assert parse_checkpoint(text).body() == text
    with pytest.raises(ValueError, match="limit"):
        Checkpoint(ORIGIN, 1, ROOT, ("x" * MAX_CHECKPOINT_BYTES,))


def test_parse_wants_text() -> None:
    with pytest.raises(TypeError):
        parse_checkpoint(None)  # type: ignore[arg-type]


BAD_CHECKPOINTS: dict[str, tuple[Any, Any, Any, Any, type[Exception]]] = {
    "empty origin": ("", 1, ROOT, (), ValueError),
    "origin with newline": ("a\nb", 1, ROOT, (), ValueError),
    "origin with tab": ("a\tb", 1, ROOT, (), ValueError),
    "origin not a str": (b"a", 1, ROOT, (), TypeError),
    "negative size": (ORIGIN, -1, ROOT, (), ValueError),
    "size 2^63": (ORIGIN, 2**63, ROOT, (), ValueError),
    "size given as bool": (ORIGIN, True, ROOT, (), TypeError),
    "root of 31 bytes": (ORIGIN, 1, ROOT[:31], (), ValueError),
    "root given as str": (ORIGIN, 1, ROOT.hex(), (), TypeError),
    "empty extension": (ORIGIN, 1, ROOT, ("",), ValueError),
    "extension with newline": (ORIGIN, 1, ROOT, ("a\nb",), ValueError),
    "extensions given as one str": (ORIGIN, 1, ROOT, "abc", TypeError),
}


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions", "error"),
    BAD_CHECKPOINTS.values(),
    ids=BAD_CHECKPOINTS.keys(),
)
def test_writing_an_invalid_checkpoint_is_a_caller_mistake(
    origin: Any, size: Any, root: Any, extensions: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Checkpoint(origin, size, root, extensions)


def test_empty_origin_message_names_the_origin() -> None:
    with pytest.raises(ValueError, match="origin"):
        Checkpoint("", 0, ROOT)


_line = st.text(st.characters(codec="utf-8", min_codepoint=0x20), min_size=1, max_size=40)


@given(
    origin=_line,
    size=st.integers(0, MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line, max_size=4),
)
def test_any_checkpoint_round_trips(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    body = cp.body()
    assert parse_checkpoint(body) == cp
    assert parse_checkpoint(body.encode()).body() == body


@given(st.binary(max_size=200))
def test_any_accepted_bytes_format_back_to_themselves(data: bytes) -> None:
    try:
        cp = parse_checkpoint(data)
    except VerificationError as e:
        reason = e.reason
    else:
        assert cp.body().encode() == data
        return
    assert reason == LogReason.MALFORMED_CHECKPOINT


def test_every_single_byte_change_is_rejected_or_another_checkpoint() -> None:
    body = BODY.encode()
    reasons: set[str] = set()
    for i in range(len(body)):
        for value in range(256):
            if value == body[i]:
                continue
            mangled = body[:i] + bytes([value]) + body[i + 1 :]
            try:
                cp = parse_checkpoint(mangled)
            except VerificationError as e:
                reasons.add(e.reason)
                continue
            assert cp != CHECKPOINT, (i, value)
            assert cp.body().encode() == mangled, (i, value)
    assert reasons == {LogReason.MALFORMED_CHECKPOINT}


def test_proper_prefixes_are_rejected_except_at_line_ends_after_the_root() -> None:
    body = BODY.encode()
    root_end = body.index(_ROOT_B64.encode()) + len(_ROOT_B64) + 1
    for n in range(len(body)):
        prefix = body[:n]
        if n >= root_end and prefix.endswith(b"\n"):
            cp = parse_checkpoint(prefix)
            assert cp.extensions == CHECKPOINT.extensions[: len(cp.extensions)]
            assert len(cp.extensions) < len(CHECKPOINT.extensions)
        else:
            assert _reason(parse_checkpoint, prefix) == LogReason.MALFORMED_CHECKPOINT, n


# --- the published Sigsum checkpoint -----------------------------------------------------------


def test_sigsum_checkpoint_verifies(known_answers: dict[str, Any]) -> None:
    kat = known_answers["checkpoint"]
    log_key = note.new_verifier(kat["verifier_key"])
    verified = verify_checkpoint(kat["note"].encode(), log_key)
    assert verified.checkpoint.origin == log_key.name
    assert verified.checkpoint.size == 10
    assert verified.checkpoint.root_hash == bytes.fromhex("1c0e47") + bytes(29)
    assert verified.note_text == kat["note"].encode()
    assert verified.log_signature.name == log_key.name
    assert dict(verified.cosignatures) == {}


def test_sigsum_checkpoint_is_reproduced_by_its_signer(known_answers: dict[str, Any]) -> None:
    kat = known_answers["checkpoint"]
    log_key = note.new_verifier(kat["verifier_key"])
    signer = note.Ed25519Signer(log_key.name, bytes.fromhex(kat["signer_seed_hex"]))
    body = parse_checkpoint(kat["note"].split("\n\n")[0] + "\n").body()
    assert note.sign(body, signer) == kat["note"]


def _sigsum_mutations(text: str) -> dict[str, tuple[str, str]]:
    body, sig_line = text.split("\n\n")
    origin, size, root = body.split("\n")
    prefix, b64 = sig_line.removesuffix("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[2] ^= 1
    root_raw = bytearray(base64.b64decode(root))
    root_raw[3] ^= 1
    new_root = base64.b64encode(bytes(root_raw)).decode()
    new_sig = base64.b64encode(bytes(raw)).decode()
    return {
        "appending 'x' to the origin line": (
            f"{origin}x\n{size}\n{root}\n\n{sig_line}",
            LogReason.BAD_NOTE_SIGNATURE,
        ),
        "key id byte 2 xor 1": (f"{body}\n\n{prefix} {new_sig}\n", LogReason.UNTRUSTED_NOTE),
        "size + 1": (
            f"{origin}\n{int(size) + 1}\n{root}\n\n{sig_line}",
            LogReason.BAD_NOTE_SIGNATURE,
        ),
        "root byte 3 xor 1": (
            f"{origin}\n{size}\n{new_root}\n\n{sig_line}",
            LogReason.BAD_NOTE_SIGNATURE,
        ),
    }


def test_sigsum_checkpoint_fails_after_each_published_mutation(
    known_answers: dict[str, Any],
) -> None:
    kat = known_answers["checkpoint"]
    log_key = note.new_verifier(kat["verifier_key"])
    mutations = _sigsum_mutations(kat["note"])
    assert sorted(mutations) == sorted(kat["must_fail_after"])
    for name, (text, reason) in mutations.items():
        assert _reason(verify_checkpoint, text.encode(), log_key) == reason, name


# --- witness checkpoints ------------------------------------------------------------------------


def test_witness_conversation_checkpoints_verify(known_answers: dict[str, Any]) -> None:
    witness = known_answers["witness"]
    log_key = note.new_verifier(witness["log_verifier_key"])
    sizes = [verify_checkpoint(t.encode(), log_key).checkpoint.size for t in witness["checkpoints"]]
    assert sizes == [1, 3, 5]


def test_published_cosignature_is_collected(known_answers: dict[str, Any]) -> None:
    witness = known_answers["witness"]
    kat = witness["cosignature_kat"]
    signed = (kat["checkpoint"] + kat["expect_line"]).encode()
    verified = verify_checkpoint(
        signed,
        note.new_verifier(witness["log_verifier_key"]),
        witnesses=[note.new_verifier(witness["witness_verifier_key"])],
    )
    assert dict(verified.cosignatures) == {"example.com/witness": kat["timestamp"]}


def test_cosignatures_by_witness_name_and_unknown_lines_ignored() -> None:
    stranger = CosignatureV1Signer("witness.example/stranger", hashlib.sha256(b"s").digest())
    signed = note.sign(BODY, LOG)
    data = (
        _cosign(signed, W1, stranger, at=1000)
        + _cosign(signed, W2, at=2000)[len(signed.encode()) :]
    )
    verified = verify_checkpoint(data, LOG.verifier(), witnesses=[W1.verifier(), W2.verifier()])
    assert dict(verified.cosignatures) == {W1.name: 1000, W2.name: 2000}
    assert verified.checkpoint == CHECKPOINT
    assert verified.note_text == data
    assert verified.log_signature.key_hash == LOG.key_hash
    with pytest.raises(TypeError):
        verified.cosignatures[W1.name] = 5  # type: ignore[index]


def test_cosignatures_without_configured_witnesses_are_ignored() -> None:
    data = _cosign(note.sign(BODY, LOG), W1)
    assert dict(verify_checkpoint(data, LOG.verifier()).cosignatures) == {}


def test_a_witness_that_did_not_cosign_is_absent() -> None:
    data = _cosign(note.sign(BODY, LOG), W1)
    verified = verify_checkpoint(data, LOG.verifier(), witnesses=[W1.verifier(), W2.verifier()])
    assert dict(verified.cosignatures) == {W1.name: 1000}


def test_two_witness_keys_with_one_name_are_a_caller_mistake() -> None:
    # SPEC §2.6: the witnesses' key names MUST be distinct (cosignatures count by key name).
    twin = CosignatureV1Signer(W1.name, hashlib.sha256(b"w1 twin").digest())
    data = _cosign(note.sign(BODY, LOG), W1)
    with pytest.raises(ValueError, match="witness key names must be unique"):
        verify_checkpoint(data, LOG.verifier(), witnesses=[W1.verifier(), twin.verifier()])


def test_a_bad_cosignature_by_a_configured_witness_rejects_the_checkpoint() -> None:
    signed = note.sign(BODY, LOG)
    other_text = Checkpoint(ORIGIN, 1235, ROOT).body().encode()
    sig = W1.sign_at(other_text, 1000)
    data = (signed + note.Signature(W1.name, W1.key_hash, sig).to_line()).encode()
    reason = _reason(verify_checkpoint, data, LOG.verifier(), witnesses=[W1.verifier()])
    assert reason == LogReason.BAD_NOTE_SIGNATURE
    assert verify_checkpoint(data, LOG.verifier()).checkpoint == CHECKPOINT


# --- the log's signature and the origin ------------------------------------------------------


def test_only_witness_cosignatures_are_not_a_checkpoint() -> None:
    cosigned_only = _cosign(note.sign(BODY, OTHER_LOG), W1)
    reason = _reason(verify_checkpoint, cosigned_only, LOG.verifier(), witnesses=[W1.verifier()])
    assert reason == LogReason.UNTRUSTED_NOTE


def test_signature_by_another_key_of_the_same_name_is_untrusted() -> None:
    data = note.sign(BODY, OTHER_LOG).encode()
    assert _reason(verify_checkpoint, data, LOG.verifier()) == LogReason.UNTRUSTED_NOTE


def test_signed_text_that_is_not_a_checkpoint_is_malformed() -> None:
    data = note.sign(f"{ORIGIN}\n01\n{_ROOT_B64}\n", LOG).encode()
    assert _reason(verify_checkpoint, data, LOG.verifier()) == LogReason.MALFORMED_CHECKPOINT


def test_malformed_note_is_malformed_note() -> None:
    data = note.sign(BODY, LOG).encode()[:-1]
    assert _reason(verify_checkpoint, data, LOG.verifier()) == LogReason.MALFORMED_NOTE


def test_origin_defaults_to_the_log_key_name() -> None:
    other = Checkpoint("log.example/another", 1, ROOT).body()
    data = note.sign(other, LOG).encode()
    assert _reason(verify_checkpoint, data, LOG.verifier()) == LogReason.WRONG_ORIGIN
    verified = verify_checkpoint(data, LOG.verifier(), origin="log.example/another")
    assert verified.checkpoint.origin == "log.example/another"


def test_configured_origin_must_match_exactly() -> None:
    data = note.sign(BODY, LOG).encode()
    assert verify_checkpoint(data, LOG.verifier(), origin=ORIGIN).checkpoint == CHECKPOINT
    for expected in (ORIGIN + "/", ORIGIN.upper(), "x" + ORIGIN):
        reason = _reason(verify_checkpoint, data, LOG.verifier(), origin=expected)
        assert reason == LogReason.WRONG_ORIGIN, expected


def test_wrong_origin_message_names_both() -> None:
    data = note.sign(Checkpoint("evil.example", 1, ROOT).body(), LOG).encode()
    with pytest.raises(VerificationError) as e:
        verify_checkpoint(data, LOG.verifier())
    assert "'evil.example'" in e.value.message
    assert repr(ORIGIN) in e.value.message


def test_witness_key_names_must_be_unique() -> None:
    twin = CosignatureV1Signer(W1.name, hashlib.sha256(b"twin").digest())
    data = note.sign(BODY, LOG).encode()
    with pytest.raises(ValueError, match="unique"):
        verify_checkpoint(data, LOG.verifier(), witnesses=[W1.verifier(), twin.verifier()])


def test_key_types_are_checked() -> None:
    data = note.sign(BODY, LOG).encode()
    with pytest.raises(ValueError, match="type 0x04"):
        verify_checkpoint(data, LOG.verifier(), witnesses=[OTHER_LOG.verifier()])
    with pytest.raises(ValueError, match="type 0x01"):
        verify_checkpoint(data, W1.verifier())


def test_bad_expected_origin_is_a_caller_mistake() -> None:
    data = note.sign(BODY, LOG).encode()
    with pytest.raises(ValueError, match="origin"):
        verify_checkpoint(data, LOG.verifier(), origin="")


def test_a_checkpoint_verifier_checks_its_keys_once_and_verifies_like_the_function() -> None:
    """CheckpointVerifier (the client's per-trust-root verifier) refuses the caller mistakes
    verify_checkpoint refuses when it is built, and gives verify_checkpoint's value or
    reason for each note after that."""
    with pytest.raises(ValueError, match="type 0x01"):
        CheckpointVerifier(W1.verifier())
    with pytest.raises(ValueError, match="type 0x04"):
        CheckpointVerifier(LOG.verifier(), witnesses=[OTHER_LOG.verifier()])
    twin = CosignatureV1Signer(W1.name, hashlib.sha256(b"twin").digest())
    with pytest.raises(ValueError, match="unique"):
        CheckpointVerifier(LOG.verifier(), witnesses=[W1.verifier(), twin.verifier()])
    with pytest.raises(ValueError, match="origin"):
        CheckpointVerifier(LOG.verifier(), origin="")
    verifier = CheckpointVerifier(LOG.verifier(), origin=ORIGIN, witnesses=[W1.verifier()])
    good = _cosign(note.sign(BODY, LOG), W1)
    for _ in range(2):
        assert verifier.verify(good) == verify_checkpoint(
            good, LOG.verifier(), origin=ORIGIN, witnesses=[W1.verifier()]
        )
    bad = [
        _cosign(note.sign(BODY, OTHER_LOG), W1),
        note.sign(Checkpoint("evil.example", 1, ROOT).body(), LOG).encode(),
        good[:-1],
    ]
    reasons = [_reason(verifier.verify, data) for data in bad]
    assert reasons == [LogReason.UNTRUSTED_NOTE, LogReason.WRONG_ORIGIN, LogReason.MALFORMED_NOTE]


def test_every_single_byte_change_of_the_body_fails_verification() -> None:
    data = _cosign(note.sign(BODY, LOG), W1)
    body_len = len(BODY.encode())
    for i in range(body_len):
        mangled = bytearray(data)
        mangled[i] ^= 0x01
        with pytest.raises(VerificationError) as e:
            verify_checkpoint(bytes(mangled), LOG.verifier(), witnesses=[W1.verifier()])
        assert e.value.reason in {LogReason.MALFORMED_NOTE, LogReason.BAD_NOTE_SIGNATURE}, i
