"""Tests for ``keybundle bundle build|sign|countersign|inspect|verify`` (SPEC §3, §4, CLI §10.3)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keybundle.cose import parse_unverified_sign1, verify_sign1
from keybundle.payload import parse_payload, payload_from_json, signed_bundle_digest
from keybundle.roles import verify_signed_bundle
from keybundle.signed_trust_root import verify_self_signed
from keybundle_cli import _common
from keybundle_cli.bundle import MAX_FLEET_JSON_BYTES

from .test_keys_cli import KEYBUNDLE, PASSPHRASE, assert_no_secret, run, secrets_of_role_key
from .test_trust_root_cli import ENV, Party, library_root, make_party, make_policy

NOT_BEFORE = 1_750_000_000  # 2025-06-15T15:06:40Z
NOT_AFTER = 1_790_000_000  # 2026-09-21T...


def fleet_document() -> dict[str, Any]:
    x = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    e = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    p = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = p.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return {
        "fleet": "prod-eu.vault",
        "epoch": 1,
        "issued_at": "2025-06-15T15:06:40Z",
        "not_before": NOT_BEFORE,
        "not_after": NOT_AFTER,
        "keys": [
            {"id": "hsm-02.sign", "algorithm": "ed25519", "public_key_hex": e.hex()},
            {"id": "hsm-01.kex", "algorithm": "x25519",
             "public_key_base64": base64.b64encode(x).decode()},
            {"id": "hsm-03.ecdh", "algorithm": "p256-ecdh", "usage": "key-agreement",
             "public_key_hex": point.hex()},
        ],
    }  # fmt: skip


class World:
    """Role keys, a signed trust root and FLEET.json in one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.independent = make_party(directory, "independent")
        self.operator = make_party(directory, "operator", "p256")
        self.stranger = make_party(directory, "stranger")
        self.root, signed = library_root(
            directory, [("Audit Org", self.independent)], [("Vault Co", self.operator)]
        )
        self.root_file = directory / "root.cbor"
        self.root_file.write_bytes(signed)
        self.fleet = directory / "fleet.json"
        self.document = fleet_document()
        self.fleet.write_text(json.dumps(self.document))

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def build(self, out: str = "payload.cbor") -> Any:
        return run(["bundle", "build", str(self.fleet), "-o", self.path(out)])

    def sign(self, party: Party, infile: str = "payload.cbor", out: str = "signed.cbor") -> Any:
        return run(
            ["bundle", "sign", "--key", str(party.key), self.path(infile), "-o", self.path(out)],
            env=ENV,
        )

    def countersign(
        self, party: Party, infile: str = "signed.cbor", out: str = "bundle.cbor"
    ) -> Any:
        return run(
            [
                "bundle",
                "countersign",
                "--key",
                str(party.key),
                "--trust-root",
                str(self.root_file),
                self.path(infile),
                "-o",
                self.path(out),
            ],
            env=ENV,
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
def bundle(world: World) -> World:
    """A world in which payload.cbor, signed.cbor and bundle.cbor have been made."""
    for result in (world.build(), world.sign(world.independent), world.countersign(world.operator)):
        assert result.exit_code == 0, result.output
    return world


def read(world: World, name: str) -> bytes:
    return (world.dir / name).read_bytes()


# -- build ------------------------------------------------------------------------------------


def test_build_writes_the_payload_of_the_json(world: World) -> None:
    result = world.build()
    assert result.exit_code == 0, result.output
    assert "prod-eu.vault" in result.stdout
    data = read(world, "payload.cbor")
    assert parse_payload(data) == payload_from_json(world.document)
    assert parse_payload(data).encode() == data


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(epoch="one"), "epoch"),
        (lambda d: d.update(epoch=0), "epoch"),
        (lambda d: d.update(not_before="yesterday"), "not_before"),
        (lambda d: d.update(fleet="Upper Case"), "fleet id"),
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d.pop("keys"), "keys"),
        (lambda d: d["keys"][0].update(public_key_hex="00" * 32), "keys"),
        (lambda d: d["keys"][1].update(public_key_base64="not base64"), "keys[1]"),
        (lambda d: d.update(epoch=2), "digest"),
    ],
)
def test_build_bad_field_exits_2_naming_it(world: World, change: Any, field: str) -> None:
    document = fleet_document()
    change(document)
    world.fleet.write_text(json.dumps(document))
    result = world.build()
    assert result.exit_code == 2, result.output
    assert field in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (world.dir / "payload.cbor").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"fleet": "a",', "not valid JSON"),
        ('{"fleet": "a", "fleet": "b"}', "appears twice"),
        ('{"epoch": NaN}', "NaN"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_build_bad_json_exits_2(world: World, text: str, message: str) -> None:
    world.fleet.write_text(text)
    result = world.build()
    assert result.exit_code == 2
    assert message in result.stderr


def test_build_refuses_a_fleet_file_over_max_fleet_json_bytes(world: World) -> None:
    # CLI §10.4, SPEC §11: a valid document padded to the limit builds; one byte more does not.
    text = json.dumps(fleet_document())
    world.fleet.write_text(text.ljust(MAX_FLEET_JSON_BYTES + 1))
    result = world.build()
    assert result.exit_code == 2
    assert f"is larger than {MAX_FLEET_JSON_BYTES} bytes" in result.stderr
    assert not (world.dir / "payload.cbor").exists()
    world.fleet.write_text(text.ljust(MAX_FLEET_JSON_BYTES))
    assert world.build().exit_code == 0


def test_build_refuses_to_overwrite(world: World) -> None:
    (world.dir / "payload.cbor").write_bytes(b"old")
    result = world.build()
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert read(world, "payload.cbor") == b"old"
    assert run(["bundle", "build", str(world.fleet), "-o", world.path("payload.cbor"),
                "--force"]).exit_code == 0  # fmt: skip


# -- sign and countersign ---------------------------------------------------------------------


def test_sign_and_countersign_verify_under_the_trust_root(bundle: World) -> None:
    signed = parse_unverified_sign1(read(bundle, "signed.cbor"))
    assert signed.payload == read(bundle, "payload.cbor")
    assert verify_sign1(signed, bundle.root.independent_keys) == bundle.independent.signer.kid
    verified = verify_signed_bundle(read(bundle, "bundle.cbor"), bundle.root)
    assert verified.operator_organisations == {"Vault Co"}
    assert verified.payload == read(bundle, "payload.cbor")


def test_sign_refuses_a_malformed_payload_or_a_signed_bundle(bundle: World) -> None:
    (bundle.dir / "junk.cbor").write_bytes(b"\xa1\x01\x01")
    junk = bundle.sign(bundle.independent, "junk.cbor", "out.cbor")
    assert junk.exit_code == 1
    assert "rejected (MALFORMED_BUNDLE)" in junk.stderr
    again = bundle.sign(bundle.independent, "signed.cbor", "out.cbor")
    assert again.exit_code == 2
    assert "already a signed bundle" in again.stderr
    assert not (bundle.dir / "out.cbor").exists()


def test_countersign_refuses_a_bundle_signed_by_an_unknown_key(world: World) -> None:
    assert world.build().exit_code == 0
    assert world.sign(world.stranger).exit_code == 0
    result = world.countersign(world.operator)
    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (UNKNOWN_KEY): ")
    assert world.stranger.kid in result.stderr
    assert not (world.dir / "bundle.cbor").exists()


def test_countersign_refuses_a_bundle_signed_by_the_operator_role(world: World) -> None:
    assert world.build().exit_code == 0
    assert world.sign(world.operator).exit_code == 0
    result = world.countersign(world.operator)
    assert result.exit_code == 1
    assert "rejected (UNKNOWN_KEY)" in result.stderr


def test_countersign_refuses_an_altered_bundle(bundle: World) -> None:
    data = bytearray(read(bundle, "signed.cbor"))
    data[-1] ^= 1  # the last byte of the independent signature
    (bundle.dir / "altered.cbor").write_bytes(bytes(data))
    result = bundle.countersign(bundle.operator, "altered.cbor", "out.cbor")
    assert result.exit_code == 1
    assert "rejected (BAD_INDEPENDENT_SIGNATURE)" in result.stderr


def test_countersign_with_a_key_outside_the_operator_role_exits_2(bundle: World) -> None:
    result = bundle.countersign(bundle.stranger, "signed.cbor", "out.cbor")
    assert result.exit_code == 2
    assert "needs an operator key" in result.stderr


def test_countersign_twice_with_one_key_exits_2(bundle: World) -> None:
    result = bundle.countersign(bundle.operator, "bundle.cbor", "out.cbor")
    assert result.exit_code == 2
    assert "already countersigned" in result.stderr


def test_wrong_passphrase_exits_2_with_a_clear_message(world: World) -> None:
    assert world.build().exit_code == 0
    sign = [
        "bundle",
        "sign",
        "--key",
        str(world.independent.key),
        world.path("payload.cbor"),
        "-o",
        world.path("signed.cbor"),
    ]
    result = run(sign, env={_common.PASSPHRASE_ENV: "wrong"})
    assert result.exit_code == 2
    assert "wrong passphrase" in result.stderr
    no_passphrase = run(sign)
    assert no_passphrase.exit_code == 2
    assert "--passphrase-file" in no_passphrase.stderr
    assert not (world.dir / "signed.cbor").exists()


def test_bad_trust_root_or_pkcs11_uri_exits_2(bundle: World) -> None:
    result = run(
        ["bundle", "countersign", "--key", str(bundle.operator.key), "--trust-root",
         bundle.path("payload.cbor"), bundle.path("signed.cbor"), "-o", bundle.path("x")],
        env=ENV,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "not a valid signed trust root (MALFORMED_TRUST_ROOT)" in result.stderr
    uri = run(
        ["bundle", "sign", "--key", "pkcs11:object=k;bogus=1", bundle.path("payload.cbor"),
         "-o", bundle.path("x")],
        env=ENV,
    )  # fmt: skip
    assert uri.exit_code == 2
    assert "bogus" in uri.stderr


# -- inspect and verify -----------------------------------------------------------------------


def test_inspect_payload_signed_and_countersigned(bundle: World) -> None:
    payload = run(["bundle", "inspect", bundle.path("payload.cbor")])
    assert payload.exit_code == 0
    out = payload.stdout
    assert "payload: fleet 'prod-eu.vault' epoch 1" in out
    assert "valid from:      2025-06-15T15:06:40Z" in out
    assert "previous bundle: none" in out
    parsed = parse_payload(read(bundle, "payload.cbor"))
    for key in parsed.keys:
        assert key.key_id in out
        assert key.fingerprint in out
    signed = run(["bundle", "inspect", bundle.path("signed.cbor")]).stdout
    assert f"independent signature: kid {bundle.independent.kid} EdDSA" in signed
    assert "countersignatures: none" in signed
    full = run(["bundle", "inspect", bundle.path("bundle.cbor")]).stdout
    assert f"countersignature: kid {bundle.operator.kid} ES256" in full
    assert "not checked" in full
    digest = signed_bundle_digest(read(bundle, "bundle.cbor")).hex()
    assert digest in full


def test_inspect_with_trust_root_names_roles(bundle: World) -> None:
    args = ["bundle", "inspect", bundle.path("bundle.cbor"), "--trust-root", str(bundle.root_file)]
    text = run(args).stdout
    assert "verified, independent key of Audit Org" in text
    assert "verified, operator key of Vault Co" in text
    assert "meets the thresholds of trust root version 1" in text
    info = json.loads(run([*args, "--json"]).stdout)["result"]
    assert info["kind"] == "countersigned bundle"
    assert info["signatures"]["independent"]["organisation"] == "Audit Org"
    assert info["signatures"]["countersignatures"][0]["verified"] is True
    assert info["signatures"]["verdict"] == {"verified": True}
    assert info["payload"]["fleet"] == "prod-eu.vault"
    only_signed = json.loads(
        run(
            [
                "bundle",
                "inspect",
                bundle.path("signed.cbor"),
                "--trust-root",
                str(bundle.root_file),
                "--json",
            ]
        ).stdout
    )
    assert (
        only_signed["result"]["signatures"]["verdict"]["reason"]
        == "COUNTERSIGNATURE_THRESHOLD_NOT_MET"
    )


def test_inspect_malformed_input_exits_1(bundle: World) -> None:
    (bundle.dir / "bad").write_bytes(b"\xd2\x84")
    result = run(["bundle", "inspect", bundle.path("bad")])
    assert result.exit_code == 1
    assert "rejected (MALFORMED_COSE)" in result.stderr
    as_json = run(["bundle", "inspect", bundle.path("bad"), "--json"])
    assert json.loads(as_json.stdout)["error"]["reason"] == "MALFORMED_COSE"


def test_verify_needs_both_roles(bundle: World) -> None:
    root = ["--trust-root", str(bundle.root_file)]
    ok = run(["bundle", "verify", bundle.path("bundle.cbor"), *root])
    assert ok.exit_code == 0
    assert "Audit Org" in ok.stdout
    assert "Vault Co" in ok.stdout
    half = run(["bundle", "verify", bundle.path("signed.cbor"), *root])
    assert half.exit_code == 1
    assert "rejected (COUNTERSIGNATURE_THRESHOLD_NOT_MET)" in half.stderr


def test_no_private_key_material_in_any_output(world: World) -> None:
    results = [world.build(), world.sign(world.independent), world.countersign(world.operator)]
    results.append(run(["bundle", "inspect", world.path("bundle.cbor"), "--json"]))
    secrets = secrets_of_role_key(world.independent.key, PASSPHRASE)
    secrets += secrets_of_role_key(world.operator.key, PASSPHRASE)
    for result in results:
        assert result.exit_code == 0
        assert_no_secret(result, secrets)


# -- the installed command, end to end ----------------------------------------------------------


def test_subprocess_role_keys_trust_root_and_bundle_flow(tmp_path: Path) -> None:
    """Role keys, trust root and bundle made by the installed CLI, as an operator would."""
    env = {**os.environ, _common.PASSPHRASE_ENV: PASSPHRASE}
    make_policy(tmp_path)
    (tmp_path / "fleet.json").write_text(json.dumps(fleet_document()))
    k = f'"{KEYBUNDLE}"'
    script = " && ".join(
        [
            f"{k} keys generate --algorithm ed25519 --out independent",
            f"{k} keys generate --algorithm p256 --out operator",
            f"{k} trust-root create --independent independent.pub:Audit-Org"
            " --operator operator.pub:Vault-Co --policy policy.txt -o root.unsigned",
            f"{k} trust-root sign --key independent.key root.unsigned -o root.partial",
            f"{k} trust-root sign --key operator.key root.partial -o root.cbor",
            f"{k} trust-root verify root.cbor",
            f"{k} bundle build fleet.json -o payload.cbor",
            f"{k} bundle sign --key independent.key payload.cbor -o signed.cbor",
            f"{k} bundle countersign --key operator.key --trust-root root.cbor"
            " signed.cbor -o bundle.cbor",
            f"{k} bundle inspect bundle.cbor --trust-root root.cbor",
        ]
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "meets the thresholds of trust root version 1" in done.stdout
    root = verify_self_signed((tmp_path / "root.cbor").read_bytes())
    verify_signed_bundle((tmp_path / "bundle.cbor").read_bytes(), root)
    assert "ENCRYPTED" in (tmp_path / "operator.key").read_text()
    for name in ("independent.key", "operator.key"):
        for secret in secrets_of_role_key(tmp_path / name, PASSPHRASE):
            assert secret not in done.stdout
            assert secret not in done.stderr


SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


def test_subprocess_operator_key_in_softhsm(tmp_path: Path) -> None:
    """KEY as an RFC 7512 URI: the operator signs the trust root and countersigns in a token.

    Everything that touches the token runs in child processes with their own
    SOFTHSM2_CONF, so this test shares no PKCS#11 state with other tests.
    """
    util = shutil.which("softhsm2-util")
    module = next((m for m in SOFTHSM_MODULES if Path(m).exists()), None)
    if util is None or module is None:
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2; scripts/test.sh does)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    (tmp_path / "pin").write_text("4321\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), _common.PASSPHRASE_ENV: PASSPHRASE}

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(args), cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done

    sh(util, "--init-token", "--free", "--label", "cli-test", "--pin", "4321", "--so-pin", "8765")
    uri = (
        f"pkcs11:token=cli-test;object=operator;type=private"
        f"?module-path={module}&pin-source=file:{tmp_path / 'pin'}"
    )
    generate = (
        "import sys; from keybundle.pkcs11 import generate_pkcs11_key; "
        "sys.stdout.buffer.write(generate_pkcs11_key(sys.argv[1], 'p256').spki_pem())"
    )
    (tmp_path / "operator.pub").write_text(sh(sys.executable, "-c", generate, uri).stdout)
    independent = make_party(tmp_path, "independent")
    make_policy(tmp_path)
    (tmp_path / "fleet.json").write_text(json.dumps(fleet_document()))
    k = str(KEYBUNDLE)
    sh(
        k,
        "trust-root",
        "create",
        "--independent",
        f"{independent.pub}:Audit Org",
        "--operator",
        "operator.pub:Vault Co",
        "--policy",
        "policy.txt",
        "-o",
        "root.unsigned",
    )
    sh(k, "trust-root", "sign", "--key", str(independent.key), "root.unsigned", "-o", "root.1")
    sh(k, "trust-root", "sign", "--key", uri, "root.1", "-o", "root.cbor")
    sh(k, "bundle", "build", "fleet.json", "-o", "payload.cbor")
    sh(k, "bundle", "sign", "--key", str(independent.key), "payload.cbor", "-o", "signed.cbor")
    sh(k, "bundle", "countersign", "--key", uri, "--trust-root", "root.cbor", "signed.cbor",
       "-o", "bundle.cbor")  # fmt: skip
    root = verify_self_signed((tmp_path / "root.cbor").read_bytes())
    verified = verify_signed_bundle((tmp_path / "bundle.cbor").read_bytes(), root)
    assert verified.operator_organisations == {"Vault Co"}


def test_a_trust_root_is_not_a_bundle(world: World) -> None:
    for args in (
        ["bundle", "inspect", str(world.root_file)],
        ["bundle", "sign", "--key", str(world.independent.key), str(world.root_file), "-o", "x"],
    ):
        result = run(args, env=ENV)
        assert result.exit_code == 2
        assert "is a signed trust root, not a bundle" in result.stderr


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\xa0", "not a valid signed trust root (MALFORMED_TRUST_ROOT)"),
        (None, "No such file or directory"),
    ],
    ids=["does not verify", "missing"],
)
def test_a_bad_trust_root_option_is_one_user_error_also_as_json(
    tmp_path: Path, content: bytes | None, says: str
) -> None:
    """--trust-root is loaded and verified once, as the option is parsed; its failure is the
    usual one-line error (CLI §10.1), or JSON when --json comes anywhere on the line."""
    root = tmp_path / "root.cbor"
    if content is not None:
        root.write_bytes(content)
    bundle_file = tmp_path / "bundle.cose"
    bundle_file.write_bytes(b"\xd2")
    plain = run(["bundle", "verify", "--trust-root", str(root), str(bundle_file)])
    assert plain.exit_code == 2
    assert plain.stderr.startswith("keybundle: error: ")
    assert says in plain.stderr
    assert len(plain.stderr.strip().splitlines()) == 1
    as_json = run(["bundle", "verify", "--trust-root", str(root), str(bundle_file), "--json"])
    assert as_json.exit_code == 2
    error = json.loads(as_json.stdout)["error"]
    assert error["reason"] is None
    assert says in error["message"]
