"""Tests for keybundle.pkcs11: RFC 7512 URIs, and signing in a real SoftHSM2 token."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keybundle.cose import countersign, parse_unverified_sign1, sign1, verify_sign1
from keybundle.countersignature import verify_countersignature
from keybundle.custody import load_signer
from keybundle.pkcs11 import (
    MAX_PIN_FILE_BYTES,
    Pkcs11Signer,
    Pkcs11Uri,
    generate_pkcs11_key,
    parse_pkcs11_uri,
)
from keybundle.signers import P256_ORDER, Ed25519Signer

PIN = "4321"
SO_PIN = "87654321"
TOKEN = "keybundle-test"
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


# -- URIs ------------------------------------------------------------------------------------


def test_parse_full_uri() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:token=Operator%20HSM;object=op-key-1;type=private;id=%01%a2"
        "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"
    )
    assert uri == Pkcs11Uri(
        token="Operator HSM",
        object="op-key-1",
        type="private",
        id=b"\x01\xa2",
        module_path="/usr/lib/softhsm/libsofthsm2.so",
        pin_source="file:/run/pin",
    )


def test_parse_pin_value_is_hidden_from_repr() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=t;object=k?pin-value=s3cret&module-path=/m.so")
    assert uri.pin_value == "s3cret"
    assert "s3cret" not in repr(uri)


@pytest.mark.parametrize(
    ("case", "uri", "match"),
    [
        ("no scheme", "token=t;object=k", "starts with 'pkcs11:'"),
        ("unknown path attribute", "pkcs11:token=t;flavour=k", "not supported"),
        ("unknown query attribute", "pkcs11:token=t?x-vendor=1", "not supported"),
        ("query attribute in the path", "pkcs11:module-path=/m.so", "not supported"),
        ("duplicate attribute", "pkcs11:token=a;token=b", "appears twice"),
        ("both pin forms", "pkcs11:token=t?pin-value=1&pin-source=/p", "not both"),
        ("attribute without '='", "pkcs11:token", "no '='"),
        ("bad type", "pkcs11:token=t;type=secret", "type must be one of"),
        ("bad percent escape", "pkcs11:token=a%zz", "invalid value"),
        ("space in a value", "pkcs11:token=a b", "invalid value"),
        ("not UTF-8", "pkcs11:token=%ff", "not UTF-8"),
    ],
)
def test_malformed_uris_are_rejected(case: str, uri: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_pkcs11_uri(uri)


def test_invalid_pin_value_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="hidden") as exc:
        parse_pkcs11_uri("pkcs11:token=t?pin-value=se cret")
    assert "se cret" not in str(exc.value)


def test_opening_needs_a_module_path_and_a_key_name() -> None:
    with pytest.raises(ValueError, match="module-path"):
        Pkcs11Signer.open("pkcs11:token=t;object=k?pin-value=1")
    with pytest.raises(ValueError, match="private key"):
        Pkcs11Signer.open("pkcs11:token=t;object=k;type=public?pin-value=1&module-path=/x.so")
    with pytest.raises(ValueError, match="must name the key"):
        Pkcs11Signer.open("pkcs11:token=t?pin-value=1&module-path=/x.so")
    with pytest.raises(ValueError, match="pin-source must be an absolute"):
        Pkcs11Signer.open("pkcs11:token=t;object=k?pin-source=|/bin/echo&module-path=/x.so")


def test_pin_file_over_max_pin_file_bytes_is_refused(tmp_path: Path) -> None:
    # SPEC §4.3, §11: a pin-source file is read up to MAX_PIN_FILE_BYTES, never further.
    pin = tmp_path / "pin"
    pin.write_bytes(b"1" * (MAX_PIN_FILE_BYTES + 1))
    with pytest.raises(ValueError, match=f"larger than {MAX_PIN_FILE_BYTES} bytes"):
        Pkcs11Signer.open(f"pkcs11:token=t;object=k?pin-source={pin}&module-path=/x.so")


def test_importing_the_library_does_not_load_python_pkcs11() -> None:
    code = (
        "import sys, keybundle.cose, keybundle.custody, keybundle.pkcs11, keybundle.signers; "
        "assert 'pkcs11' not in sys.modules, 'python-pkcs11 was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- a real token ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SoftHsm:
    module: str
    pin_file: Path

    def uri(self, obj: str, *, pin: bool = True) -> str:
        query = f"module-path={self.module}"
        if pin:
            query += f"&pin-source=file:{self.pin_file}"
        return f"pkcs11:token={TOKEN};object={obj};type=private?{query}"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """A fresh SoftHSM2 token in a temporary directory (SOFTHSM2_CONF points at it)."""
    util = shutil.which("softhsm2-util")
    module = next((m for m in MODULE_CANDIDATES if Path(m).exists()), None)
    if util is None or module is None:
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2; scripts/test.sh does)")
    import pkcs11

    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        subprocess.run(
            [util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN],
            check=True,
            capture_output=True,
        )
        pkcs11.lib(module).reinitialize()  # see the new token even if loaded before
        pin_file = root / "pin"
        pin_file.write_text(PIN + "\n")
        yield SoftHsm(module, pin_file)
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


@pytest.mark.parametrize("algorithm", ["ed25519", "p256"])
def test_sign_in_softhsm_and_verify_with_our_public_key(softhsm: SoftHsm, algorithm: str) -> None:
    uri = softhsm.uri(f"sign-{algorithm}")
    public = generate_pkcs11_key(uri, algorithm)  # type: ignore[arg-type]
    with Pkcs11Signer.open(uri) as signer:
        assert signer.algorithm == algorithm
        assert signer.public_key() == public
        assert signer.kid == public.kid
        for i in range(16):
            message = b"message %d" % i
            signature = signer.sign(message)
            assert len(signature) == 64
            public.verify(message, signature)
            if algorithm == "p256":
                assert int.from_bytes(signature[32:], "big") <= P256_ORDER // 2
        assert "pin" not in repr(signer).lower()
    with pytest.raises(ValueError, match="closed"):
        signer.sign(b"after close")


@pytest.mark.parametrize(
    ("independent_alg", "operator_alg"), [("ed25519", "p256"), ("p256", "ed25519")]
)
def test_hsm_keys_make_a_verifiable_signed_bundle(
    softhsm: SoftHsm, independent_alg: str, operator_alg: str
) -> None:
    ind_uri = softhsm.uri(f"bundle-independent-{independent_alg}")
    op_uri = softhsm.uri(f"bundle-operator-{operator_alg}")
    ind_pub = generate_pkcs11_key(ind_uri, independent_alg)  # type: ignore[arg-type]
    op_pub = generate_pkcs11_key(op_uri, operator_alg)  # type: ignore[arg-type]
    with Pkcs11Signer.open(ind_uri) as ind, Pkcs11Signer.open(op_uri) as op:
        signed = countersign(sign1(b"payload", ind), op, verify_with={ind_pub.kid: ind_pub})
    parsed = parse_unverified_sign1(signed)
    assert verify_sign1(parsed, {ind_pub.kid: ind_pub}) == ind_pub.kid
    cs = parsed.countersignatures[0]
    assert verify_countersignature(parsed, cs, {op_pub.kid: op_pub}) == op_pub.kid


def test_load_signer_with_a_pkcs11_reference(softhsm: SoftHsm) -> None:
    uri = softhsm.uri("via-custody")
    public = generate_pkcs11_key(uri, "ed25519")
    signer = load_signer(uri)

    class Pin:
        """The PIN may also come from the caller's passphrase source."""

        def read(self) -> bytes:
            return PIN.encode()

    signer2 = load_signer(softhsm.uri("via-custody", pin=False), Pin())
    assert signer.public_key() == public
    public.verify(b"x", signer2.sign(b"x"))
    assert isinstance(signer, Pkcs11Signer)
    assert isinstance(signer2, Pkcs11Signer)
    signer.close()
    signer2.close()


def test_wrong_pin_is_a_clear_error(softhsm: SoftHsm) -> None:
    uri = softhsm.uri("wrong-pin")
    generate_pkcs11_key(uri, "ed25519")
    with pytest.raises(ValueError, match="rejected the PIN"):
        Pkcs11Signer.open(softhsm.uri("wrong-pin", pin=False), pin=b"0000")


@pytest.fixture(scope="module")
def pin_newlines_key(softhsm: SoftHsm) -> str:
    uri = softhsm.uri("pin-newlines")
    generate_pkcs11_key(uri, "ed25519")
    return uri


@pytest.mark.parametrize(
    ("content", "accepted"),
    [
        (PIN + "\n", True),
        (PIN + "\r\n", True),
        (PIN, True),
        (PIN + "\n\n", False),
        (PIN + "\r\n\r\n", False),
        (PIN + "\r", False),
    ],
    ids=["one LF", "one CRLF", "no newline", "two LFs", "two CRLFs", "a lone CR"],
)
def test_a_pin_file_loses_one_trailing_newline_like_a_passphrase_file(
    softhsm: SoftHsm, pin_newlines_key: str, tmp_path: Path, content: str, accepted: bool
) -> None:
    # SPEC §4.3: a pin-source file is its content minus one trailing LF or CRLF, nothing more.
    pin_file = tmp_path / "pin"
    pin_file.write_bytes(content.encode())
    uri = pin_newlines_key.replace(f"&pin-source=file:{softhsm.pin_file}", "")
    uri += f"&pin-source={pin_file}"
    if accepted:
        Pkcs11Signer.open(uri).close()
    else:
        with pytest.raises(ValueError, match="rejected the PIN"):
            Pkcs11Signer.open(uri)


def test_missing_key_and_missing_token(softhsm: SoftHsm) -> None:
    with pytest.raises(ValueError, match="no key in the token"):
        Pkcs11Signer.open(softhsm.uri("does-not-exist"))
    other = softhsm.uri("k").replace(f"token={TOKEN}", "token=no-such-token")
    with pytest.raises(ValueError, match="no PKCS#11 token matches"):
        Pkcs11Signer.open(other)


def test_generation_never_replaces_a_key(softhsm: SoftHsm) -> None:
    uri = softhsm.uri("unique")
    first = generate_pkcs11_key(uri, "p256")
    with pytest.raises(ValueError, match="already holds a key"):
        generate_pkcs11_key(uri, "ed25519")
    with Pkcs11Signer.open(uri) as signer:
        assert signer.public_key() == first


def test_hsm_and_software_keys_have_distinct_kids(softhsm: SoftHsm) -> None:
    uri = softhsm.uri("distinct")
    assert generate_pkcs11_key(uri, "ed25519").kid != Ed25519Signer(bytes(32)).kid
