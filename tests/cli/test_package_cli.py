"""``keybundle package build`` (CLI §10.9): packages from a log directory or URL.

A real log directory is made with ``keybundle log init --trust-root`` and ``log append`` from
the deterministic World's keys, so the World's in-memory tree mirrors it and its
``World.package`` gives the exact bytes the command must write. The witnesses' cosignatures
are added to the published checkpoint as a cosigning log would publish them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from keybundle.client import verify_package
from keybundle.package import parse_unverified_package
from keybundle.state import ClientState
from keybundle_cli.commands import cli
from tests.keybundle.world import LOG_ORIGIN, OPERATOR_ORG, World, role_signer, seed
from transparency_log import note

pytestmark = pytest.mark.timeout(60)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@dataclass
class Deployment:
    """A World whose log is a real directory made by ``keybundle log``."""

    world: World
    tmp: Path
    log: Path
    root_file: Path

    def append(self, *entries: bytes) -> list[int]:
        """Append to the directory log (CLI) and to the World's mirror; the indices."""
        files = []
        for entry in entries:
            path = self.tmp / f"entry-{len(self.world.entries)}.bin"
            path.write_bytes(entry)
            files.append(path)
            self.world.append(entry)
        result = run("log", "append", self.log, *files)
        assert result.exit_code == 0, result.output
        return [int(line.rsplit(" ", 1)[1]) for line in result.stdout.splitlines()]

    def cosign(self, at: int | None = None) -> bytes:
        """Add both witnesses' cosignatures to the published checkpoint; the new note."""
        path = self.log / "checkpoint"
        signed = path.read_bytes()
        text, _ = note.parse_unverified(signed)
        for witness in self.world.witnesses:
            when = self.world.now if at is None else at
            line = note.Signature(
                witness.name, witness.key_hash, witness.sign_at(text.encode(), when)
            )
            signed += line.to_line().encode()
        path.write_bytes(signed)
        return signed


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    world = World(now=int(time.time()))
    skey, _ = note.generate_key(LOG_ORIGIN, sig_type=1, rand=lambda k: seed("log")[:k])
    key = tmp_path / "log.key"
    key.write_text(skey + "\n")
    key.chmod(0o600)
    root_file = tmp_path / "trust-root.cbor"
    root_file.write_bytes(world.signed_root)
    log = tmp_path / "log"
    result = run(
        "log", "init", log, "--origin", LOG_ORIGIN, "--key", key, "--trust-root", root_file
    )
    assert result.exit_code == 0, result.output
    return Deployment(world, tmp_path, log, root_file)


def _build(d: Deployment, *args: str | Path, out: str = "out.cbor") -> tuple[Result, Path]:
    path = d.tmp / out
    return run("package", "build", "--log", d.log, "-o", path, *args), path


# -- what the command writes -----------------------------------------------------------------


def test_package_from_a_directory_is_the_exact_package_and_a_fresh_client_accepts_it(
    deployment: Deployment,
) -> None:
    d, w = deployment, deployment.world
    signed = w.signed_bundle("prod-eu.vault", 1)
    (index,) = d.append(signed)
    checkpoint = d.cosign()

    result, out = _build(d, "--index", str(index))

    assert result.exit_code == 0, result.output
    assert out.read_bytes() == w.package(signed, index, checkpoint)
    assert "fleet 'prod-eu.vault' epoch 1" in result.stdout
    assert "checked as a fresh client would" in result.stdout
    accepted = verify_package(out.read_bytes(), w.pinned, ClientState(), w.now)
    assert accepted.epoch == 1


def test_from_size_adds_the_consistency_proof_a_client_at_that_size_checks(
    deployment: Deployment,
) -> None:
    d, w = deployment, deployment.world
    first = w.signed_bundle("prod-eu.vault", 1)
    (i1,) = d.append(first)
    d.cosign()
    result, p1 = _build(d, "--index", str(i1), out="epoch-1.cbor")
    assert result.exit_code == 0, result.output
    state = verify_package(p1.read_bytes(), w.pinned, ClientState(), w.now).state

    second = w.signed_bundle("prod-eu.vault", 2)
    filler = w.signed_bundle("prod-us.vault", 1)
    i2, _ = d.append(second, filler)
    checkpoint = d.cosign()
    result, p2 = _build(d, "--index", str(i2), "--from-size", "1", out="epoch-2.cbor")

    assert result.exit_code == 0, result.output
    assert "consistency from size 1" in result.stdout
    assert p2.read_bytes() == w.package(second, i2, checkpoint, consistency_from=1)
    package = parse_unverified_package(p2.read_bytes())
    assert package.consistency is not None
    assert package.consistency.old_size == 1
    assert verify_package(p2.read_bytes(), w.pinned, state, w.now).epoch == 2


def test_rotation_lets_a_client_pinned_to_the_old_root_accept_a_bundle_of_the_new_keys(
    deployment: Deployment,
) -> None:
    d, w = deployment, deployment.world
    new_operator = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, new_operator)]),
        [w.independent, w.operator, new_operator],
    )
    root_file = d.tmp / "trust-root-v2.cbor"
    root_file.write_bytes(v2)
    signed = w.countersign(w.sign(w.bundle("prod-eu.vault", 1)), new_operator)
    root_index, index = d.append(v2, signed)
    d.cosign()

    found, from_log = _build(d, "--index", str(index), out="from-log.cbor")
    assert found.exit_code == 0, found.output  # issue 19: the log knows its rotations
    assert "1 trust-root rotation(s)" in found.stdout

    result, out = _build(d, "--index", str(index), "--rotation", f"{root_file}:{root_index}")
    assert result.exit_code == 0, result.output
    assert "1 trust-root rotation(s)" in result.stdout
    assert out.read_bytes() == from_log.read_bytes()
    accepted = verify_package(out.read_bytes(), w.pinned, ClientState(), w.now)
    assert accepted.trust_root.version == 2
    assert [r.signed_trust_root for r in accepted.state.rotations] == [v2]

    wrong, _ = _build(
        d, "--index", str(index), "--rotation", f"{root_file}:{index}", out="bad.cbor"
    )
    assert wrong.exit_code == 2
    assert "differs from the given signed trust root" in wrong.stderr
    assert not (d.tmp / "bad.cbor").exists()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(deployment: Deployment) -> Iterator[str]:
    """The log directory behind a plain static web server (any server or CDN will do)."""
    handler = functools.partial(_QuietHandler, directory=str(deployment.log))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_package_from_a_url_needs_the_trust_root_and_equals_the_directory_one(
    deployment: Deployment, served: str
) -> None:
    d, w = deployment, deployment.world
    signed = w.signed_bundle("prod-eu.vault", 1)
    (index,) = d.append(signed)
    checkpoint = d.cosign()
    out = d.tmp / "over-http.cbor"

    refused = run("package", "build", "--log", served, "--index", "0", "-o", out)
    assert refused.exit_code == 2
    assert "needs --trust-root ROOT" in refused.stderr

    result = run(
        "package", "build", "--log", served + "/", "--trust-root", d.root_file,
        "--index", str(index), "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == w.package(signed, index, checkpoint)


def test_a_log_directory_without_a_trust_root_is_read_with_its_configured_key(
    tmp_path: Path,
) -> None:
    w = World(now=int(time.time()), quorum="none")
    skey, _ = note.generate_key(LOG_ORIGIN, sig_type=1, rand=lambda k: seed("log")[:k])
    (tmp_path / "log.key").write_text(skey + "\n")
    log = tmp_path / "log"
    assert (
        run("log", "init", log, "--origin", LOG_ORIGIN, "--key", tmp_path / "log.key").exit_code
        == 0
    )
    signed = w.signed_bundle()
    (tmp_path / "b.cose").write_bytes(signed)
    w.append(signed)
    assert run("log", "append", log, tmp_path / "b.cose").exit_code == 0

    result = run("package", "build", "--log", log, "--index", "0", "-o", tmp_path / "p.cbor")

    assert result.exit_code == 0, result.output
    assert "not checked (no trust root)" in result.stdout
    checkpoint = (log / "checkpoint").read_bytes()
    assert (tmp_path / "p.cbor").read_bytes() == w.package(signed, 0, checkpoint)


# -- refusals --------------------------------------------------------------------------------


def test_stale_cosignatures_are_refused_with_the_clients_reason_and_nothing_is_written(
    deployment: Deployment,
) -> None:
    d, w = deployment, deployment.world
    d.append(w.signed_bundle())
    d.cosign(at=w.now - 2 * 86_400)

    result, out = _build(d, "--index", "0")

    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (STALE_COSIGNATURE): a fresh client")
    assert "Nothing was written" in result.stderr
    assert not out.exists()


def test_a_checkpoint_without_cosignatures_is_refused_for_a_quorum_policy(
    deployment: Deployment,
) -> None:
    d, w = deployment, deployment.world
    d.append(w.signed_bundle())

    result, out = _build(d, "--index", "0")

    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (QUORUM_NOT_MET)")
    assert not out.exists()


def test_a_corrupted_tile_is_a_rejection_not_a_package(deployment: Deployment) -> None:
    d, w = deployment, deployment.world
    d.append(w.signed_bundle(), w.signed_bundle("prod-us.vault"))
    d.cosign()
    tile = d.log / "tile" / "0" / "000.p" / "2"
    data = bytearray(tile.read_bytes())
    data[40] ^= 1
    tile.write_bytes(bytes(data))

    result, out = _build(d, "--index", "0")

    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (MALFORMED_TILE)")
    assert not out.exists()


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        ("index beyond the log", ["--index", "7"], "entry 7 is not in the log"),
        ("entry is a trust root", ["--index", "1"], "entry 1 of the log is a signed trust root"),
        ("from-size beyond the log", ["--index", "0", "--from-size", "9"], "not 9"),
        ("from-size zero", ["--index", "0", "--from-size", "0"], "--from-size"),
        ("rotation not FILE:INDEX", ["--index", "0", "--rotation", "v2.cbor"], "is not FILE:INDEX"),
        ("rotation file missing", ["--index", "0", "--rotation", "nope.cbor:1"], "nope.cbor"),
        (
            "rotation at another index",
            ["--index", "0", "--rotation", "{v2}:0"],
            "entry 0 of the log is a signed bundle that differs",
        ),
        (
            "bundle as a rotation",
            ["--index", "0", "--rotation", "{bundle}:0"],
            "is a signed bundle",
        ),
    ],
)
def test_user_errors_exit_2_with_a_message(
    deployment: Deployment, case: str, args: list[str], message: str
) -> None:
    d, w = deployment, deployment.world
    bundle = w.signed_bundle()
    new_operator = role_signer("operator v2")
    v2 = w.sign_root(
        w.make_root(2, operator=[(OPERATOR_ORG, new_operator)]),
        [w.independent, w.operator, new_operator],
    )
    (d.tmp / "v2.cbor").write_bytes(v2)
    (d.tmp / "bundle.cose").write_bytes(bundle)
    d.append(bundle, v2)
    d.cosign()
    args = [
        a.replace("{v2}", str(d.tmp / "v2.cbor")).replace("{bundle}", str(d.tmp / "bundle.cose"))
        for a in args
    ]

    result, out = _build(d, *args)

    assert result.exit_code == 2, (case, result.output)
    assert message in result.stderr, (case, result.stderr)
    assert "Traceback" not in result.output
    assert not out.exists()


def test_the_output_is_never_replaced_without_force(deployment: Deployment) -> None:
    d, w = deployment, deployment.world
    d.append(w.signed_bundle())
    d.cosign()
    out = d.tmp / "out.cbor"
    out.write_bytes(b"keep me")

    refused, _ = _build(d, "--index", "0")
    assert refused.exit_code == 2
    assert "already exists" in refused.stderr
    assert out.read_bytes() == b"keep me"

    forced, _ = _build(d, "--index", "0", "--force")
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes() != b"keep me"


@pytest.mark.parametrize(
    ("case", "log", "message"),
    [
        ("no such directory", "missing", "is neither a directory nor an http:// or https:// URL"),
        ("not a tile directory", ".", "is not a log's tile directory"),
    ],
)
def test_a_log_that_is_not_one_exits_2(tmp_path: Path, case: str, log: str, message: str) -> None:
    result = run("package", "build", "--log", tmp_path / log, "--index", "0", "-o", tmp_path / "o")
    assert result.exit_code == 2, case
    assert message in result.stderr


def test_an_unreachable_url_exits_2_naming_the_log(deployment: Deployment) -> None:
    result = run(
        "package", "build", "--log", "http://127.0.0.1:9", "--trust-root", deployment.root_file,
        "--index", "0", "-o", deployment.tmp / "o",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot read the log at http://127.0.0.1:9" in result.stderr
