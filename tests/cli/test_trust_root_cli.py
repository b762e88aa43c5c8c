"""Tests for ``keybundle trust-root create|sign|inspect|verify`` (SPEC §5, CLI §10.4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result

from keybundle.custody import generate_role_key, write_private_key, write_public_key
from keybundle.signed_trust_root import (
    parse_unverified_signed_trust_root,
    sign_trust_root,
    verify_self_signed,
)
from keybundle.signers import Algorithm, LocalSigner
from keybundle.trustroot import Limits, Role, RoleKey, TrustRoot, parse_trust_root
from keybundle_cli import _common
from transparency_log import note
from transparency_log.policy import parse_policy

from .test_keys_cli import PASSPHRASE, run

FAST = 1000
"""PBKDF2 rounds of the test key files (the CLI's own key generation uses the default)."""
ENV = {_common.PASSPHRASE_ENV: PASSPHRASE}


class _Literal:
    def __init__(self, value: str) -> None:
        self.value = value.encode()

    def read(self) -> bytes:
        return self.value


@dataclass(frozen=True)
class Party:
    """A role key: its encrypted key file, its public key file, and the signer itself."""

    key: Path
    pub: Path
    signer: LocalSigner

    @property
    def kid(self) -> str:
        return self.signer.kid.hex()


def make_party(directory: Path, name: str, algorithm: Algorithm = "ed25519") -> Party:
    """A role key written the way `keys generate --algorithm` writes it (fewer PBKDF2 rounds)."""
    signer = generate_role_key(algorithm)
    key, pub = directory / f"{name}.key", directory / f"{name}.pub"
    write_private_key(key, signer, _Literal(PASSPHRASE), iterations=FAST)
    write_public_key(pub, signer.public_key())
    return Party(key, pub, signer)


def make_policy(directory: Path) -> Path:
    """A canonical C2SP tlog-policy: one log, one witness, quorum of that witness."""
    _, log_vkey = note.generate_key("log.example/bundles")
    _, witness_vkey = note.generate_key("witness.example/w1", sig_type=0x04)
    path = directory / "policy.txt"
    path.write_text(f"log {log_vkey}\nwitness w1 {witness_vkey}\nquorum w1\n")
    return path


LIMITS = Limits(
    clock_skew=300,
    max_cosignature_age=86_400,
    max_package_bytes=65_536,
    max_rotation_chain=8,
    max_epoch_jump=1_000,
)


def library_root(
    directory: Path,
    independent: list[tuple[str, Party]],
    operator: list[tuple[str, Party]],
    *,
    version: int = 1,
) -> tuple[TrustRoot, bytes]:
    """A trust root built and signed by every listed key with the library (not the CLI)."""
    root = TrustRoot(
        version=version,
        independent=Role(1, tuple(RoleKey(org, p.signer.public_key()) for org, p in independent)),
        operator=Role(1, tuple(RoleKey(org, p.signer.public_key()) for org, p in operator)),
        policy=parse_policy(make_policy(directory).read_text()),
        limits=LIMITS,
    )
    signers = [p.signer for _, p in independent + operator]
    return root, sign_trust_root(root, signers)


@pytest.fixture
def parties(tmp_path: Path) -> dict[str, Party]:
    return {
        "a": make_party(tmp_path, "a"),
        "b": make_party(tmp_path, "b", "p256"),
        "op": make_party(tmp_path, "op", "p256"),
        "op2": make_party(tmp_path, "op2"),
    }


def create(tmp_path: Path, *args: str, out: str = "root.unsigned") -> Result:
    return run(
        [
            "trust-root",
            "create",
            "--policy",
            str(tmp_path / "policy.txt"),
            "-o",
            str(tmp_path / out),
            *args,
        ]
    )


def sign(tmp_path: Path, party: Party, infile: str, outfile: str, *extra: str) -> Result:
    return run(
        [
            "trust-root",
            "sign",
            "--key",
            str(party.key),
            str(tmp_path / infile),
            "-o",
            str(tmp_path / outfile),
            *extra,
        ],
        env=ENV,
    )


# -- create -----------------------------------------------------------------------------------


def test_create_with_organisations_thresholds_and_limits(
    tmp_path: Path, parties: dict[str, Party]
) -> None:
    make_policy(tmp_path)
    result = create(
        tmp_path,
        "--independent", f"{parties['a'].pub}:Audit Org",
        "--independent", f"{parties['b'].pub}:Second Auditor",
        "--independent-threshold", "2",
        "--operator", f"{parties['op'].pub}:Vault Co",
        "--version", "3",
        "--clock-skew", "60",
        "--max-epoch-jump", "5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "unsigned trust root version 3" in result.stdout
    root = parse_trust_root((tmp_path / "root.unsigned").read_bytes())
    assert root.version == 3
    assert root.independent.threshold == 2
    assert root.independent.organisations == {"Audit Org", "Second Auditor"}
    assert root.independent.organisation_of[parties["b"].signer.kid] == "Second Auditor"
    assert root.operator.organisations == {"Vault Co"}
    assert root.limits.clock_skew == 60
    assert root.limits.max_epoch_jump == 5
    assert root.limits.max_package_bytes == 256 * 1024
    assert root.policy.format() == (tmp_path / "policy.txt").read_text()


def test_create_without_organisations_counts_one_per_role(
    tmp_path: Path, parties: dict[str, Party]
) -> None:
    make_policy(tmp_path)
    result = create(
        tmp_path,
        "--independent", str(parties["a"].pub),
        "--independent", str(parties["b"].pub),
        "--operator", str(parties["op"].pub),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    root = parse_trust_root((tmp_path / "root.unsigned").read_bytes())
    assert root.independent.organisations == {"independent"}
    assert root.operator.organisations == {"operator"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("threshold above organisations", "threshold"),
        ("one organisation in both roles", "holds keys of both roles"),
        ("missing public key file", "No such file"),
        ("private key as public key", "is a role private key; give a role public key"),
        ("malformed policy", "MALFORMED_POLICY"),
        ("clock skew out of range", "clock_skew"),
        ("existing output", "already exists"),
    ],
)
def test_create_errors_exit_2(
    tmp_path: Path, parties: dict[str, Party], case: str, message: str
) -> None:
    make_policy(tmp_path)
    independent = [f"{parties['a'].pub}:Audit Org"]
    operator = [f"{parties['op'].pub}:Vault Co"]
    extra: list[str] = []
    if case == "threshold above organisations":
        extra = ["--operator-threshold", "2"]
    elif case == "one organisation in both roles":
        operator = [f"{parties['op'].pub}:Audit Org"]
    elif case == "missing public key file":
        independent = [f"{tmp_path / 'nope.pub'}:Audit Org"]
    elif case == "private key as public key":
        independent = [f"{parties['a'].key}:Audit Org"]
    elif case == "malformed policy":
        (tmp_path / "policy.txt").write_text("log nonsense\nquorum none\n")
    elif case == "clock skew out of range":
        extra = ["--clock-skew", "-1"]
    elif case == "existing output":
        (tmp_path / "root.unsigned").write_bytes(b"old")
    args = [a for i in independent for a in ("--independent", i)]
    args += [a for o in operator for a in ("--operator", o)]
    result = create(tmp_path, *args, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


# -- sign, verify, inspect ------------------------------------------------------------------


@pytest.fixture
def unsigned(tmp_path: Path, parties: dict[str, Party]) -> Path:
    make_policy(tmp_path)
    result = create(
        tmp_path,
        "--independent", f"{parties['a'].pub}:Audit Org",
        "--operator", f"{parties['op'].pub}:Vault Co",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path / "root.unsigned"


def test_sign_once_per_holder_then_verify(
    tmp_path: Path, parties: dict[str, Party], unsigned: Path
) -> None:
    first = sign(tmp_path, parties["a"], "root.unsigned", "root.1")
    assert first.exit_code == 0, first.output
    assert "independent key of Audit Org" in first.stdout
    assert "not yet complete (TRUST_ROOT_THRESHOLD_NOT_MET)" in first.stdout
    incomplete = run(["trust-root", "verify", str(tmp_path / "root.1")])
    assert incomplete.exit_code == 1
    assert "rejected (TRUST_ROOT_THRESHOLD_NOT_MET)" in incomplete.stderr

    second = sign(tmp_path, parties["op"], "root.1", "root.cbor")
    assert second.exit_code == 0, second.output
    assert "complete" in second.stdout
    assert "not yet" not in second.stdout
    root = verify_self_signed((tmp_path / "root.cbor").read_bytes())
    assert root.encode() == unsigned.read_bytes()  # the payload is signed as created
    verified = run(["trust-root", "verify", str(tmp_path / "root.cbor")])
    assert verified.exit_code == 0
    assert "version 1" in verified.stdout


def test_sign_twice_with_one_key_exits_2(
    tmp_path: Path, parties: dict[str, Party], unsigned: Path
) -> None:
    assert sign(tmp_path, parties["a"], "root.unsigned", "root.1").exit_code == 0
    again = sign(tmp_path, parties["a"], "root.1", "root.2")
    assert again.exit_code == 2
    assert "already signed" in again.stderr


def test_sign_in_place_needs_force(
    tmp_path: Path, parties: dict[str, Party], unsigned: Path
) -> None:
    assert sign(tmp_path, parties["a"], "root.unsigned", "root.cbor").exit_code == 0
    refused = sign(tmp_path, parties["op"], "root.cbor", "root.cbor")
    assert refused.exit_code == 2
    assert sign(tmp_path, parties["op"], "root.cbor", "root.cbor", "--force").exit_code == 0
    verify_self_signed((tmp_path / "root.cbor").read_bytes())


def test_sign_with_wrong_passphrase_exits_2(
    tmp_path: Path, parties: dict[str, Party], unsigned: Path
) -> None:
    result = run(
        [
            "trust-root",
            "sign",
            "--key",
            str(parties["a"].key),
            str(unsigned),
            "-o",
            str(tmp_path / "out"),
        ],
        env={_common.PASSPHRASE_ENV: "not it"},
    )
    assert result.exit_code == 2
    assert "wrong passphrase" in result.stderr
    assert not (tmp_path / "out").exists()


def test_inspect_signed_and_unsigned(
    tmp_path: Path, parties: dict[str, Party], unsigned: Path
) -> None:
    plain = run(["trust-root", "inspect", str(unsigned)])
    assert plain.exit_code == 0
    assert "unsigned trust root, version 1" in plain.stdout
    assert "signatures: none" in plain.stdout
    sign(tmp_path, parties["a"], "root.unsigned", "root.1")
    sign(tmp_path, parties["op"], "root.1", "root.cbor")
    text = run(["trust-root", "inspect", str(tmp_path / "root.cbor")])
    assert text.exit_code == 0
    out = text.stdout
    assert "independent role: threshold 1 of 1 organisation(s) (Audit Org)" in out
    assert parties["a"].kid in out
    assert parties["op"].kid in out
    assert "quorum w1" in out
    assert "clock_skew:          300 seconds" in out  # limits carry their units
    assert "max_package_bytes:   262144 bytes" in out, out
    assert "  sha256: " in out  # a digest to compare out of band
    assert "self-signed: verified" in out
    info = json.loads(run(["trust-root", "inspect", str(tmp_path / "root.cbor"), "--json"]).stdout)[
        "result"
    ]
    assert info["version"] == 1
    assert info["signed"] is True
    assert info["self_signed"] == {"verified": True}
    assert {s["kid"]: s["role"] for s in info["signatures"]} == {
        parties["a"].kid: "independent",
        parties["op"].kid: "operator",
    }
    assert info["roles"]["operator"]["keys"][0]["organisation"] == "Vault Co"
    assert info["log"] == "log.example/bundles"
    partial = json.loads(run(["trust-root", "inspect", str(tmp_path / "root.1"), "--json"]).stdout)[
        "result"
    ]
    assert partial["self_signed"]["reason"] == "TRUST_ROOT_THRESHOLD_NOT_MET"


def test_inspect_and_verify_reject_malformed_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"\xd8\x62\x80")
    inspected = run(["trust-root", "inspect", str(bad)])
    assert inspected.exit_code == 1
    assert "rejected (MALFORMED_TRUST_ROOT)" in inspected.stderr
    assert run(["trust-root", "verify", str(bad)]).exit_code == 1
    (tmp_path / "unsigned").write_bytes(b"\xa0")
    assert run(["trust-root", "verify", str(tmp_path / "unsigned")]).exit_code == 2


# -- rotation ---------------------------------------------------------------------------------


def test_rotation_needs_old_and_new_signatures(tmp_path: Path, parties: dict[str, Party]) -> None:
    _, v1 = library_root(tmp_path, [("Audit Org", parties["a"])], [("Vault Co", parties["op"])])
    (tmp_path / "v1.cbor").write_bytes(v1)
    make_policy(tmp_path)
    created = create(
        tmp_path,
        "--independent", f"{parties['a'].pub}:Audit Org",
        "--operator", f"{parties['op2'].pub}:Vault Co",
        "--version", "2",
        out="v2.unsigned",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    sign(tmp_path, parties["a"], "v2.unsigned", "v2.a")
    new_only = sign(tmp_path, parties["op2"], "v2.a", "v2.new")
    assert new_only.exit_code == 0
    previous = ["--previous", str(tmp_path / "v1.cbor")]
    refused = run(["trust-root", "verify", str(tmp_path / "v2.new"), *previous])
    assert refused.exit_code == 1
    assert "rejected (TRUST_ROOT_THRESHOLD_NOT_MET)" in refused.stderr
    old_key = sign(tmp_path, parties["op"], "v2.new", "v2.cbor")
    assert "not a key of this root" in old_key.stdout
    accepted = run(["trust-root", "verify", str(tmp_path / "v2.cbor"), *previous])
    assert accepted.exit_code == 0, accepted.output
    assert "rotation from version 1" in accepted.stdout
    info = json.loads(
        run(["trust-root", "inspect", str(tmp_path / "v2.cbor"), "--json", *previous]).stdout
    )["result"]
    assert info["rotation"]["verified"] is True
    old = {s["kid"]: s["previous"]["role"] for s in info["signatures"]}
    assert old[parties["op"].kid] == "operator"
    # Skipping a version is refused whatever the signatures.
    signed_v2 = parse_unverified_signed_trust_root((tmp_path / "v2.cbor").read_bytes())
    assert signed_v2.root.version == 2
    skipped = run(["trust-root", "verify", str(tmp_path / "v2.cbor"), "--previous",
                   str(tmp_path / "v2.cbor")])  # fmt: skip
    assert skipped.exit_code == 1
    assert "rejected (TRUST_ROOT_VERSION)" in skipped.stderr


def test_previous_root_must_itself_verify(tmp_path: Path, parties: dict[str, Party]) -> None:
    (tmp_path / "junk").write_bytes(b"junk")
    _, v1 = library_root(tmp_path, [("Audit Org", parties["a"])], [("Vault Co", parties["op"])])
    (tmp_path / "v1.cbor").write_bytes(v1)
    result = run(
        ["trust-root", "verify", str(tmp_path / "v1.cbor"), "--previous", str(tmp_path / "junk")]
    )
    assert result.exit_code == 2
    assert "is not a valid signed trust root" in result.stderr
