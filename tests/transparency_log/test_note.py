"""C2SP signed-note (SPEC §2.4): known answers, key strings, mangled notes and limits."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transparency_log import note, note_keys
from transparency_log.errors import LogReason, VerificationError

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
SIGNER = note.Ed25519Signer("log.example/note", hashlib.sha256(b"note signer").digest())


def _reason(call: Any, *args: Any) -> str:
    with pytest.raises(VerificationError) as e:
        call(*args)
    return e.value.reason


def _verifiers(*vkeys: str) -> note.Verifiers:
    return note.Verifiers(note.new_verifier(v) for v in vkeys)


def _two_signature_note(known_answers: dict[str, Any]) -> bytes:
    case = known_answers["signed_note"]["cases"][1]
    assert case["expect_unverified"] == ["EnochRoot"]
    data: bytes = case["note"].encode()
    return data


# --- published cases -------------------------------------------------------------------------


def test_published_cases(known_answers: dict[str, Any]) -> None:
    cases = known_answers["signed_note"]["cases"]
    for case in cases:
        verifiers = _verifiers(*case["vkeys"])
        data = case["note"].encode()
        if "expect_error" in case:
            with pytest.raises(VerificationError) as e:
                note.open_note(data, verifiers)
            expect = (
                LogReason.MALFORMED_NOTE
                if "malformed" in case["expect_error"]
                else LogReason.UNTRUSTED_NOTE
            )
            assert e.value.reason == expect, case["expect_error"]
            continue
        opened = note.open_note(data, verifiers)
        assert [s.name for s in opened.sigs] == case["expect_verified"]
        assert [s.name for s in opened.unverified_sigs] == case.get("expect_unverified", [])
        assert data.decode().startswith(opened.text + "\n")


def test_signing_kat_byte_for_byte(known_answers: dict[str, Any]) -> None:
    kat = known_answers["signed_note"]["signing_kat"]
    signer = note.new_signer(kat["signer_key"])
    assert note.sign(kat["text"], signer) == kat["text"] + "\n" + kat["expect_signature_line"]
    assert note.new_verifier(kat["verifier_key"]) == signer.verifier()  # type: ignore[attr-defined]


def test_spec_key_hash_example() -> None:
    public = bytes.fromhex("1a5cd907143c384c41e830c5bce12aa8817ec5649aaabf2c31388b35b2d744d6")
    assert note.key_hash("PeterNeumann", b"\x01" + public) == 0xC74F20A3
    assert note.encode_verifier_key("PeterNeumann", 0x01, public) == PETER_VKEY


def test_checkpoint_note_verifies_and_fails_after_each_mutation(
    known_answers: dict[str, Any],
) -> None:
    kat = known_answers["checkpoint"]
    verifiers = _verifiers(kat["verifier_key"])
    text = kat["note"]
    opened = note.open_note(text.encode(), verifiers)
    assert opened.text == text.split("\n\n")[0] + "\n"
    body, sig_line = text.split("\n\n")
    origin, size, root = body.split("\n")
    prefix, b64 = sig_line.removesuffix("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[2] ^= 1
    root_raw = bytearray(base64.b64decode(root))
    root_raw[3] ^= 1
    new_root = base64.b64encode(bytes(root_raw)).decode()
    mutated = {
        "appending 'x' to the origin line": f"{origin}x\n{size}\n{root}\n\n{sig_line}",
        "key id byte 2 xor 1": f"{body}\n\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n",
        "size + 1": f"{origin}\n{int(size) + 1}\n{root}\n\n{sig_line}",
        "root byte 3 xor 1": f"{origin}\n{size}\n{new_root}\n\n{sig_line}",
    }
    assert sorted(mutated) == sorted(kat["must_fail_after"])
    for name, data in mutated.items():
        with pytest.raises(VerificationError) as e:
            note.open_note(data.encode(), verifiers)
        expect = (
            LogReason.UNTRUSTED_NOTE if name.startswith("key id") else LogReason.BAD_NOTE_SIGNATURE
        )
        assert e.value.reason == expect, name


# --- key strings -----------------------------------------------------------------------------


def test_published_bad_verifier_keys(known_answers: dict[str, Any]) -> None:
    for vkey in known_answers["signed_note"]["bad_verifier_keys"]["keys"]:
        with pytest.raises(ValueError):  # noqa: PT011 (each key fails for its own reason)
            note.new_verifier(vkey)


def _rejected(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize(
    ("vkey", "parse"), [(PETER_VKEY, note.new_verifier), (PETER_SKEY, note.new_signer)]
)
def test_every_proper_prefix_and_substring_of_a_key_is_rejected(vkey: str, parse: Any) -> None:
    parse(vkey)
    for start in range(len(vkey)):
        for end in range(start + 1, len(vkey) + 1):
            if (start, end) != (0, len(vkey)):
                assert _rejected(parse, vkey[start:end]), vkey[start:end]


@pytest.mark.parametrize(
    ("vkey", "parse"), [(PETER_VKEY, note.new_verifier), (PETER_SKEY, note.new_signer)]
)
def test_every_single_byte_change_of_a_key_is_rejected(vkey: str, parse: Any) -> None:
    raw = vkey.encode()
    for i in range(len(raw)):
        for value in range(256):
            if value == raw[i]:
                continue
            try:
                changed = (raw[:i] + bytes([value]) + raw[i + 1 :]).decode()
            except UnicodeDecodeError:
                continue  # not a string at all
            assert _rejected(parse, changed), (i, value)


def _typed_vkey(name: str, key: bytes) -> str:
    """A verifier-key string with a correct key hash, for keys new_verifier must refuse."""
    return f"{name}+{note.key_hash(name, key):08x}+{base64.b64encode(key).decode()}"


BAD_KEYS = {
    "uppercase hash": "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "short hash": "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "unpadded key": "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    "space in name": "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "empty name": "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "unknown type 0x02": _typed_vkey("k", b"\x02" + bytes(range(32))),
    "small-order key": _typed_vkey("k", b"\x01" + bytes(32)),
    "non-canonical point": _typed_vkey("k", b"\x01" + b"\xff" * 31 + b"\x7f"),
    "key of 31 bytes": _typed_vkey("k", b"\x01" + bytes(range(31))),
}


@pytest.mark.parametrize("vkey", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_verifier_key_is_rejected(vkey: str) -> None:
    assert _rejected(note.new_verifier, vkey)


def test_generated_keys_round_trip() -> None:
    for sig_type in (0x01, 0x04):
        skey, vkey = note.generate_key("example.com/k", sig_type=sig_type)
        signer = note.new_signer(skey, now=lambda: 1)
        verifier = note.new_verifier(vkey)
        text = "a\nb\nc\n"
        opened = note.open_note(note.sign(text, signer).encode(), note.Verifiers([verifier]))
        assert opened.text == text
        assert skey.split("+")[4] not in repr(signer)


# --- opening notes ---------------------------------------------------------------------------


def test_later_lines_of_a_verified_key_are_ignored() -> None:
    signed = note.sign("hello\n", SIGNER)
    junk = note.Signature(SIGNER.name, SIGNER.key_hash, b"\x00" * 64).to_line()
    opened = note.open_note((signed + junk).encode(), note.Verifiers([SIGNER.verifier()]))
    assert len(opened.sigs) == 1
    assert opened.unverified_sigs == ()


def test_a_bad_first_line_of_a_known_key_rejects_the_note() -> None:
    good = note.sign("hello\n", SIGNER)
    junk = note.Signature(SIGNER.name, SIGNER.key_hash, b"\x00" * 64).to_line()
    text, lines = good.split("\n\n")
    data = f"{text}\n\n{junk}{lines}".encode()
    assert (
        _reason(note.open_note, data, note.Verifiers([SIGNER.verifier()]))
        == LogReason.BAD_NOTE_SIGNATURE
    )


def test_identical_unknown_lines_are_recorded_once() -> None:
    stranger = note.Signature("stranger", 7, b"\x01\x02")
    other = note.Signature("stranger", 7, b"\x01\x03")
    data = (note.sign("hello\n", SIGNER) + stranger.to_line() * 3 + other.to_line()).encode()
    opened = note.open_note(data, note.Verifiers([SIGNER.verifier()]))
    assert opened.unverified_sigs == (stranger, other)


def test_malleable_signature_with_large_s_is_bad() -> None:
    signed = note.sign("hello\n", SIGNER)
    sig = note.parse_unverified(signed.encode())[1][0].signature
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(sig[32:], "little") + order
    twin = sig[:32] + s.to_bytes(32, "little")
    line = note.Signature(SIGNER.name, SIGNER.key_hash, twin).to_line()
    data = ("hello\n\n" + line).encode()
    assert (
        _reason(note.open_note, data, note.Verifiers([SIGNER.verifier()]))
        == LogReason.BAD_NOTE_SIGNATURE
    )


_SIGNED = note.sign("hello\n", SIGNER).encode()
_LINE = _SIGNED.split(b"\n\n")[1]
_B64 = _LINE.split(b" ")[2].rstrip(b"\n")

MALFORMED_NOTES = {
    "no blank line": b"hello\n",
    "no signature after the blank line": b"hello\n\n",
    "signature line without newline": note.sign("hello\n", SIGNER).encode()[:-1],
    "tab in text": note.sign("hel lo\n", SIGNER).replace(" ", "\t", 1).encode(),
    "carriage return": note.sign("hello\n", SIGNER).encode().replace(b"hello\n", b"hello\r\n"),
    "invalid UTF-8": b"hel\xfflo\n\n" + note.sign("x\n", SIGNER).encode()[3:],
    "hyphen instead of em dash": note.sign("hello\n", SIGNER).replace("\u2014", "-").encode(),
    "non-canonical base64": note.sign("hello\n", SIGNER).encode()[:-2] + b"\n",
    "signature of 4 bytes": (
        "hello\n\n" + "\u2014 k " + base64.b64encode(b"abcd").decode() + "\n"
    ).encode(),
    # SPEC §2.4.1 rule 2: UTF-8 without overlong forms or surrogates, no C0 control but LF
    "overlong UTF-8": b"hel\xc0\xaflo\n\n" + _LINE,
    "encoded surrogate": b"hel\xed\xa0\x80lo\n\n" + _LINE,
    "NUL in text": b"hel\x00lo\n\n" + _LINE,
    # rule 3: the last blank line splits, so a blank line after the signatures leaves none
    "blank line after the signature lines": _SIGNED + b"\n",
    # rule 5: em dash and space, a valid key name, one space, canonical base64 (§1, §2.4.2)
    "em dash without a space": _SIGNED.replace("\u2014 ".encode(), "\u2014".encode()),
    "empty key name": b"hello\n\n" + "\u2014  ".encode() + _B64 + b"\n",
    "key name with a no-break space": "hello\n\n\u2014 log.example/no\u00a0te ".encode()
    + _B64
    + b"\n",
    "two spaces after the key name": _SIGNED.replace(b"note ", b"note  "),
    "space inside the base64": _SIGNED.replace(_B64, _B64[:8] + b" " + _B64[8:]),
    "space after the base64": _SIGNED.replace(_B64 + b"\n", _B64 + b" \n"),
    "URL-safe base64 alphabet": _SIGNED.replace(
        _B64, base64.urlsafe_b64encode(base64.b64decode(_B64))
    ),
}


@pytest.mark.parametrize("data", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_malformed_note_is_rejected(data: bytes) -> None:
    assert (
        _reason(note.open_note, data, note.Verifiers([SIGNER.verifier()]))
        == LogReason.MALFORMED_NOTE
    )


def test_only_the_last_blank_line_separates_the_signatures() -> None:
    signed = note.sign("hello\n", SIGNER)
    data = (signed + "\n" + signed.split("\n\n")[1]).encode()
    verifiers = note.Verifiers([SIGNER.verifier()])
    assert _reason(note.open_note, data, verifiers) == LogReason.BAD_NOTE_SIGNATURE


def test_text_may_contain_blank_lines() -> None:
    text = "first\n\nthird\n"
    opened = note.open_note(note.sign(text, SIGNER).encode(), note.Verifiers([SIGNER.verifier()]))
    assert opened.text == text


# --- mangling ----------------------------------------------------------------------------------


def test_proper_prefixes_are_rejected_unless_they_drop_whole_lines(
    known_answers: dict[str, Any],
) -> None:
    data = _two_signature_note(known_answers)
    verifiers = _verifiers(PETER_VKEY, ENOCH_VKEY)
    first_line_end = _line_spans(data)[0][1]
    for n in range(len(data)):
        if n == first_line_end:
            opened = note.open_note(data[:n], verifiers)
            assert [s.name for s in opened.sigs] == ["PeterNeumann"]
            continue
        with pytest.raises(VerificationError) as e:
            note.open_note(data[:n], verifiers)
        assert e.value.reason in {LogReason.MALFORMED_NOTE, LogReason.BAD_NOTE_SIGNATURE}, n


_CHANGES = (0x00, 0x0A, 0x20, 0x2B, 0x3D, 0x41)


def _single_byte_changes(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for i in range(len(data)):
        values = {data[i] ^ 0x01, data[i] ^ 0x20, data[i] ^ 0x80, *_CHANGES} - {data[i]}
        out.extend((i, data[:i] + bytes([v]) + data[i + 1 :]) for v in sorted(values))
    return out


def _line_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte spans ``[start, end)`` of each signature line, newline included."""
    start = data.rindex(b"\n\n") + 2
    spans = []
    while start < len(data):
        end = data.index(b"\n", start) + 1
        spans.append((start, end))
        start = end
    return spans


def test_single_byte_changes_with_one_known_key(known_answers: dict[str, Any]) -> None:
    """Rejected, except inside the unknown key's line, which only changes unverified_sigs."""
    data = _two_signature_note(known_answers)
    verifiers = _verifiers(PETER_VKEY)
    original = note.open_note(data, verifiers)
    unknown_span = _line_spans(data)[1]
    for i, changed in _single_byte_changes(data):
        try:
            opened = note.open_note(changed, verifiers)
        except VerificationError:
            continue
        assert unknown_span[0] <= i < unknown_span[1], i
        assert opened.text == original.text
        assert opened.sigs == original.sigs
        assert opened.unverified_sigs != original.unverified_sigs
        assert len(opened.unverified_sigs) <= 1


def test_single_byte_changes_with_both_keys_known(known_answers: dict[str, Any]) -> None:
    """Accepted only when the change turns one line's key into an unknown one."""
    data = _two_signature_note(known_answers)
    verifiers = _verifiers(PETER_VKEY, ENOCH_VKEY)
    original = note.open_note(data, verifiers)
    spans = _line_spans(data)
    for i, changed in _single_byte_changes(data):
        try:
            opened = note.open_note(changed, verifiers)
        except VerificationError:
            continue
        line = next(n for n, (start, end) in enumerate(spans) if start <= i < end)
        assert opened.text == original.text
        assert opened.sigs == tuple(s for n, s in enumerate(original.sigs) if n != line)
        (moved,) = opened.unverified_sigs
        assert _verifiers(PETER_VKEY, ENOCH_VKEY).get(moved.name, moved.key_hash) is None


# --- limits ------------------------------------------------------------------------------------


def _signers(n: int) -> list[note.Ed25519Signer]:
    return [note.Ed25519Signer(f"k{i}", hashlib.sha256(b"%d" % i).digest()) for i in range(n)]


def test_sixteen_signatures_all_verify() -> None:
    signers = _signers(16)
    data = note.sign("hello\n", *signers).encode()
    opened = note.open_note(data, note.Verifiers(s.verifier() for s in signers))
    assert [s.name for s in opened.sigs] == [s.name for s in signers]


def test_one_hundred_lines_are_accepted_and_101_rejected() -> None:
    signed = note.sign("hello\n", SIGNER)
    line = note.Signature("stranger", 1, b"\x01").to_line()
    verifiers = note.Verifiers([SIGNER.verifier()])
    assert note.open_note((signed + line * (note.MAX_NOTE_SIGNATURES - 1)).encode(), verifiers)
    too_many = (signed + line * note.MAX_NOTE_SIGNATURES).encode()
    assert _reason(note.open_note, too_many, verifiers) == LogReason.MALFORMED_NOTE


def test_signing_with_101_signers_is_a_caller_mistake() -> None:
    with pytest.raises(ValueError, match="at most"):
        note.sign("hello\n", *_signers(note.MAX_NOTE_SIGNATURES + 1))


@pytest.mark.parametrize(
    ("text", "signers", "match"),
    [
        ("hello", (SIGNER,), "must end in a newline"),
        ("hel\tlo\n", (SIGNER,), "control character U\\+0009"),
        ("hello\n", (SIGNER, SIGNER), "given twice"),
        ("hello\n", (), "at least one signer"),
        ("x" * note.MAX_NOTE_BYTES + "\n", (SIGNER,), "the limit is 1048576"),
    ],
    ids=["text without final newline", "tab in text", "same signer twice", "no signer", "too big"],
)
def test_signing_what_would_not_open_is_a_caller_mistake(
    text: str, signers: tuple[note.Ed25519Signer, ...], match: str
) -> None:
    # SPEC §2.4.4: the text ends in LF and obeys §2.4.1 rule 2, 1..MAX_NOTE_SIGNATURES signers
    # with distinct (name, key hash), and the output fits MAX_NOTE_BYTES.
    with pytest.raises(ValueError, match=match):
        note.sign(text, *signers)


def test_note_over_the_byte_limit_is_rejected() -> None:
    signed = note.sign("hello\n", SIGNER).encode()
    padding = b"x" * (note.MAX_NOTE_BYTES - len(signed) + 1)
    assert len(padding + signed) == note.MAX_NOTE_BYTES + 1
    verifiers = note.Verifiers([SIGNER.verifier()])
    assert _reason(note.open_note, padding + signed, verifiers) == LogReason.MALFORMED_NOTE


_note_text = st.lists(
    st.text(st.characters(codec="utf-8", min_codepoint=0x20), max_size=30), min_size=1, max_size=5
).map(lambda lines: "".join(line + "\n" for line in lines))


@given(_note_text)
def test_sign_then_open_round_trips(text: str) -> None:
    data = note.sign(text, SIGNER).encode()
    opened = note.open_note(data, note.Verifiers([SIGNER.verifier()]))
    assert opened.text == text
    assert note.parse_unverified(data) == (text, opened.sigs)


# --- the fast helpers agree with the plain definitions --------------------------------------


def _reference_decode_base64(text: str) -> bytes | None:
    """Canonical base64 as first written: the base64 module, then re-encode and compare."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _reference_is_valid_name(name: str) -> bool:
    if not name or "+" in name:
        return False
    if any(ch in note_keys._WHITE_SPACE or ch < " " for ch in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_B64ISH = st.text(
    alphabet=st.sampled_from("AEIMQUYcgkosw048BZaz9+/=-_ \n\u00e9\ud800"), max_size=48
)


def _mutations_of_encodings() -> st.SearchStrategy[str]:
    def mutate(data: bytes, position: int, char: str) -> str:
        text = base64.b64encode(data).decode("ascii")
        if not text:
            return char
        position %= len(text) + 1
        return text[:position] + char + text[position + 1 :]

    return st.builds(
        mutate,
        st.binary(max_size=40) | st.binary(min_size=32, max_size=32),
        st.integers(0, 60),
        st.sampled_from("AB=+/_-\n é") | st.just(""),
    )


@given(_B64ISH | _mutations_of_encodings())
def test_decode_base64_is_the_canonical_decoding(text: str) -> None:
    expected = _reference_decode_base64(text)
    assert note._decode_base64(text) == expected
    assert note._decode_base64_32(text) == (
        expected if expected is not None and len(expected) == 32 else None
    )


@given(st.binary(min_size=32, max_size=32))
def test_decode_base64_32_reads_every_canonical_hash(data: bytes) -> None:
    assert note._decode_base64_32(base64.b64encode(data).decode("ascii")) == data


@given(st.text(max_size=12) | st.sampled_from(["a+b", "a\u3000b", "a\x1fb", "a\ud800", "ok.name"]))
def test_key_name_check_is_the_plain_definition(name: str) -> None:
    assert note_keys.is_valid_name(name) == _reference_is_valid_name(name)
