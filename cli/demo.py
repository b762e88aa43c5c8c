"""``keybundle demo``: the whole issuance, end to end, on a local log (CLI §10.10).

In a few seconds and with no set-up, the demo plays every role of DESIGN §2 with real keys,
files and servers: it creates the keys, a trust root, a log served on 127.0.0.1 with a
witness that cosigns its checkpoints (ephemeral ports, started and stopped here), builds a
fleet bundle that the independent party signs and the operator countersigns, appends it with
``POST /add``, assembles the OTA package and verifies it as a client; then rotates the fleet
to epoch 2, shows two rejections with their reason codes (a rollback, a bundle without the
operator's countersignature), rotates the trust root to version 2 (a new operator key) and
issues epoch 3 under it, publishes every fleet's universal package as a service would serve
it, lets a second client that is several versions behind (epoch 1, trust root v1) catch up
from that one file, and runs one pass of the auditor over the log.

Everything is left in the work directory so that each step can be tried again by hand with
the ``keybundle`` commands (the printed hints, and README.md, say how). The demo's limits
(a year of bundle validity and of cosignature freshness) are chosen so that its packages
keep verifying for a long while after it ran; real deployments use much shorter ones.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import requests
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from keybundle import cose
from keybundle.admission import BundleAdmission
from keybundle.client import verify_package
from keybundle.custody import (
    PassphraseFile,
    generate_role_key,
    load_private_key,
    write_note_key,
    write_note_verifier_key,
    write_private_key,
    write_public_key,
)
from keybundle.embedded import Client
from keybundle.issuance import AssembledPackage, assemble_package
from keybundle.payload import BundlePayload, FleetKey, payload_to_json, signed_bundle_digest
from keybundle.publisher import Publisher, fleet_path
from keybundle.roles import verify_signed_bundle
from keybundle.signed_trust_root import sign_trust_root
from keybundle.signers import Signer
from keybundle.state import StateDir
from keybundle.trustroot import Limits, Role, RoleKey, TrustRoot
from transparency_log.appender import Log
from transparency_log.cosignature import SIG_TYPE_COSIGNATURE_V1
from transparency_log.errors import VerificationError
from transparency_log.fetcher import HTTPFetcher
from transparency_log.note import SIG_TYPE_ED25519, Verifier, generate_key
from transparency_log.policy import parse_policy
from transparency_log.server import CosigningTileStore, LogService, make_log_server
from transparency_log.storage import DirectoryTileStore
from transparency_log.tlog_client import LogClient
from transparency_log.tlog_proof import parse_tlog_proof
from transparency_log.witness import FileStateStore, Witness, make_witness_server
from transparency_log.witness_client import WitnessEndpoint

from ._common import UserError, cli_errors, utc
from .log import CONFIG_DIR, CONFIG_FILE, TRUST_ROOT_FILE, LogConfig, load_note_signer

__all__ = ["DEFAULT_WORKDIR", "DEMO_PASSPHRASE", "demo", "run_demo"]

DEFAULT_WORKDIR = Path("demo-out")
"""Where the demo writes when ``--workdir`` is not given (relative to the current directory)."""
DEMO_PASSPHRASE = "keybundle-demo"  # noqa: S105 (the demo's published passphrase)
"""The passphrase of the demo's role keys; printed, and written to ``keys/passphrase.txt``."""
MARKER_FILE = ".keybundle-demo"
"""Marks a directory as a demo's output, so that a new run may move it aside."""
FLEET = "prod-eu.vault"
LOG_ORIGIN = "demo.keybundle.example/log"
WITNESS_NAME = "demo.keybundle.example/witness"
INDEPENDENT_ORG = "Independent Org"
OPERATOR_ORG = "Operator Org"
DAY = 86_400
VALIDITY_SECONDS = 365 * DAY
"""Bundles are valid for a year (and from an hour before the demo ran)."""
DEMO_LIMITS = Limits(
    clock_skew=300,
    max_cosignature_age=365 * DAY,
    max_package_bytes=262_144,
    max_rotation_chain=8,
    max_epoch_jump=1000,
)
"""The demo trust root's limits: cosignatures count for a year, so that the packages still
verify by hand long after the demo ran (a real deployment allows a day or so, SPEC §5.1)."""
TIMEOUT_SECONDS = 10.0
"""Bound on every network wait of the demo (a submission, a witness, a server stopping)."""
STEPS = 16


class _UnexpectedError(UserError):
    """A step did not end as the demo expects (a bug, or a broken installation)."""


@dataclass(frozen=True)
class _Keys:
    independent: Signer
    operator: Signer
    log: Any
    witness: Any
    log_verifier: Verifier
    witness_verifier: Verifier
    log_vkey: str
    witness_vkey: str


@dataclass(frozen=True)
class _Services:
    log_url: str
    witness_url: str


class _Printer:
    """One line per step: ``[ n/14] what        details``."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo = echo
        self._step = 0

    def step(self, what: str, details: str) -> None:
        self._step += 1
        self._echo(f"[{self._step:2d}/{STEPS}] {what:<13} {details}")

    def line(self, text: str) -> None:
        self._echo(text)


# -- the work directory ---------------------------------------------------------------------


def _prepare_workdir(workdir: Path) -> Path | None:
    """Make ``workdir`` ready; return where a previous demo's output was moved, if anywhere.

    A missing or empty directory is used as is. A previous demo's output (it holds the
    marker file) is renamed to ``<workdir>.1`` (or the next free number), never deleted. Any
    other non-empty directory is refused.
    """
    moved: Path | None = None
    if workdir.exists() and not workdir.is_dir():
        raise UserError(f"--workdir {workdir} exists and is not a directory")
    if workdir.is_dir() and any(workdir.iterdir()):
        if not (workdir / MARKER_FILE).is_file():
            raise UserError(
                f"--workdir {workdir} is not empty and is not a previous demo's output; "
                "choose a new or empty directory"
            )
        n = 1
        while Path(f"{workdir}.{n}").exists():
            n += 1
        moved = Path(f"{workdir}.{n}")
        workdir.rename(moved)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --workdir {workdir}: {e.strerror or e}") from None
    (workdir / MARKER_FILE).write_text(
        "This directory was written by 'keybundle demo'; a new run moves it aside.\n"
    )
    return moved


# -- steps ----------------------------------------------------------------------------------


def _make_keys(keys_dir: Path) -> _Keys:
    """Role keys (encrypted with the demo passphrase) and the log's and witness's keys."""
    keys_dir.mkdir()
    passphrase_file = keys_dir / "passphrase.txt"
    passphrase_file.write_text(DEMO_PASSPHRASE + "\n")
    source = PassphraseFile(passphrase_file)
    for name, algorithm in (("independent", "ed25519"), ("operator", "p256")):
        signer = generate_role_key(algorithm)  # type: ignore[arg-type]
        write_private_key(keys_dir / f"{name}.key", signer, source)
        write_public_key(keys_dir / f"{name}.pub", signer.public_key())
    # Loaded back from the encrypted files, as the signing commands do.
    independent = load_private_key(keys_dir / "independent.key", source)
    operator = load_private_key(keys_dir / "operator.key", source)
    # The log's and the witness's keys are online service keys: plain signer-key files, as
    # `keybundle keys generate --type note|cosignature` writes them without a passphrase.
    for name, key_name, sig_type in (
        ("log", LOG_ORIGIN, SIG_TYPE_ED25519),
        ("witness", WITNESS_NAME, SIG_TYPE_COSIGNATURE_V1),
    ):
        skey, vkey = generate_key(key_name, sig_type=sig_type)
        write_note_key(keys_dir / f"{name}.key", skey, None)
        write_note_verifier_key(keys_dir / f"{name}.pub", vkey)
    log = load_note_signer(keys_dir / "log.key", None, SIG_TYPE_ED25519)
    witness = load_note_signer(keys_dir / "witness.key", None, SIG_TYPE_COSIGNATURE_V1)
    return _Keys(
        independent,
        operator,
        log,
        witness,
        log.verifier(),
        witness.verifier(),
        log.verifier().verifier_key,
        witness.verifier().verifier_key,
    )


def _make_trust_root(keys: _Keys, workdir: Path) -> tuple[bytes, TrustRoot]:
    """The trust root v1, signed by both roles (SPEC §5), and its policy file."""
    policy_text = f"log {keys.log_vkey}\nwitness w1 {keys.witness_vkey}\nquorum w1\n"
    (workdir / "policy.txt").write_text(policy_text)
    root = TrustRoot(
        1,
        Role(1, (RoleKey(INDEPENDENT_ORG, keys.independent.public_key()),)),
        Role(1, (RoleKey(OPERATOR_ORG, keys.operator.public_key()),)),
        parse_policy(policy_text),
        DEMO_LIMITS,
    )
    signed = sign_trust_root(root, [keys.independent, keys.operator])
    (workdir / "trust-root.cbor").write_bytes(signed)
    return signed, root


def _fleet_keys(hsms: int = 2) -> tuple[FleetKey, ...]:
    """New public keys of ``hsms`` HSMs (the private halves would never leave them)."""
    keys = []
    for n in range(1, hsms + 1):
        x25519 = bytes(PrivateKey.generate().public_key)
        ed25519 = bytes(SigningKey.generate().verify_key)
        keys.append(FleetKey(f"hsm-{n:02d}.x25519", "x25519", x25519, "key-agreement"))
        keys.append(FleetKey(f"hsm-{n:02d}.ed25519", "ed25519", ed25519, "signing"))
    return tuple(sorted(keys, key=lambda k: k.key_id))


def _payload(epoch: int, previous: bytes | None, now: int) -> BundlePayload:
    return BundlePayload(
        version=1,
        fleet_id=FLEET,
        epoch=epoch,
        previous_digest=previous,
        issued_at=now,
        not_before=now - 3600,
        not_after=now + VALIDITY_SECONDS,
        keys=_fleet_keys(),
    )


@contextlib.contextmanager
def _services(workdir: Path, keys: _Keys, signed_root: bytes) -> Iterator[_Services]:
    """The witness and the log, each served on 127.0.0.1 (ephemeral ports) in a thread.

    The log directory is laid out as ``keybundle log init --trust-root`` makes it, so that
    ``keybundle log proof``, ``package build`` and ``log serve`` work on it afterwards.
    """
    log_dir = workdir / "log"
    witness_dir = workdir / "witness-state"
    log_dir.mkdir()
    witness_dir.mkdir()
    config_dir = log_dir / CONFIG_DIR
    config_dir.mkdir()
    config = LogConfig(LOG_ORIGIN, keys.log_vkey, (workdir / "keys" / "log.key").resolve())
    (config_dir / CONFIG_FILE).write_text(config.format())
    (config_dir / TRUST_ROOT_FILE).write_bytes(signed_root)

    with contextlib.ExitStack() as stack:
        store = stack.enter_context(FileStateStore(witness_dir))
        witness = Witness(keys.witness, {LOG_ORIGIN: keys.log_verifier}, store)
        witness_server = make_witness_server(witness, "127.0.0.1", 0, threads=2)
        stack.callback(_serve(witness_server))
        witness_url = f"http://{witness_server.host}:{witness_server.port}"

        tiles = CosigningTileStore(
            DirectoryTileStore(log_dir),
            keys.log_verifier,
            LOG_ORIGIN,
            [WitnessEndpoint(witness_url, keys.witness_verifier)],
            timeout=TIMEOUT_SECONDS,
        )
        log = Log.open(
            tiles,
            log_dir / ".state",
            origin=LOG_ORIGIN,
            signer=keys.log,
            verifier=keys.log_verifier,
            admission=BundleAdmission(signed_root),
        )
        stack.callback(log.close)
        log_server = make_log_server(
            LogService(log, keys.log_verifier, LOG_ORIGIN), "127.0.0.1", 0, threads=4
        )
        stack.callback(_serve(log_server))
        yield _Services(f"http://{log_server.host}:{log_server.port}", witness_url)


def _serve(server: Any) -> Callable[[], None]:
    """Run ``server.serve_forever`` in a thread; return the function that stops it."""
    thread = threading.Thread(target=server.serve_forever, name="keybundle-demo", daemon=True)
    thread.start()

    def stop() -> None:
        server.close()
        thread.join(TIMEOUT_SECONDS)

    return stop


def _submit(session: requests.Session, log_url: str, entry: bytes) -> tuple[int, str]:
    """POST /add (SPEC §6.5.2): the HTTP status and the answer's text."""
    response = session.post(f"{log_url}/add", data=entry, timeout=TIMEOUT_SECONDS)
    return response.status_code, response.text


def _append(session: requests.Session, log_url: str, entry: bytes) -> int:
    status, text = _submit(session, log_url, entry)
    if status != 200:
        raise _UnexpectedError(f"the log refused a valid entry ({status}): {text.strip()}")
    return parse_tlog_proof(text).index


def _client(log_url: str, keys: _Keys) -> tuple[LogClient, HTTPFetcher]:
    fetcher = HTTPFetcher(log_url, timeout=TIMEOUT_SECONDS, retries=1)
    client = LogClient(
        fetcher, keys.log_verifier, origin=LOG_ORIGIN, witnesses=[keys.witness_verifier]
    )
    return client, fetcher


def _package(
    log_url: str, keys: _Keys, index: int, out: Path, from_size: int | None = None
) -> AssembledPackage:
    """``keybundle package build --log URL --index N -o OUT [--from-size M]``."""
    client, fetcher = _client(log_url, keys)
    with fetcher:
        assembled = assemble_package(client, index, from_size=from_size)
    out.write_bytes(assembled.data)
    return assembled


def _kid(kid: bytes) -> str:
    """A kid as every command shows it (CLI §10.1): all 32 hex digits, never shortened."""
    return kid.hex()


def _reason_of(answer: str) -> str:
    """The reason code in a 422 answer: ``entry rejected by ... (<REASON>): ...``."""
    start, end = answer.find("("), answer.find(")")
    return answer[start + 1 : end] if 0 <= start < end else answer.strip()


def _monitor_pass(workdir: Path, log_url: str, signed_root: bytes, now: int) -> str:
    """One pass of the auditor (SPEC §8) over the log; a one-line summary."""
    from keybundle import monitor
    from keybundle.monitor_state import StateDir

    allowed = workdir / "allowed-keys.txt"
    events: list[dict[str, Any]] = []
    state = StateDir(workdir / "monitor-state")
    state.lock()
    try:
        with HTTPFetcher(log_url, timeout=TIMEOUT_SECONDS, retries=1) as fetcher:
            status = monitor.Monitor(
                fetcher,
                signed_root,
                state,
                emit=events.append,
                allow_keys=monitor.parse_allow_list(allowed.read_text()),
            ).run_pass(now)
    finally:
        state.unlock()
    with (workdir / "monitor-events.jsonl").open("w") as f:
        for event in events:
            f.write(json.dumps(event, sort_keys=True) + "\n")
    passes = [e for e in events if e.get("event") == "pass"]
    size = passes[-1]["size"] if passes else "?"
    problems = [e for e in events if e.get("event") in ("misbehaviour", "error")]
    if status != monitor.Status.CLEAN:
        detail = "; ".join(str(e.get("message")) for e in problems) or status.name
        raise _UnexpectedError(f"the monitor pass was not clean ({status.name}): {detail}")
    return (
        f"one pass checked all {size} entries (signatures, fleet chain, allow-list) "
        "and the checkpoint: clean"
    )


def run_demo(workdir: Path, echo: Callable[[str], None] = click.echo) -> float:
    """Run the demo in ``workdir`` (see the module doc); return the seconds it took."""
    started = time.monotonic()
    now = int(time.time())
    out = _Printer(echo)
    moved = _prepare_workdir(workdir)
    out.line(f"keybundle demo: the whole issuance, end to end, in {workdir}/")
    if moved is not None:
        out.line(f"(the previous demo's output was moved to {moved}/)")

    keys = _make_keys(workdir / "keys")
    out.step(
        "keys",
        f"independent Ed25519 {_kid(keys.independent.kid)}, operator P-256 "
        f"{_kid(keys.operator.kid)} (encrypted, passphrase '{DEMO_PASSPHRASE}'); "
        f"log and witness note keys",
    )
    signed_root, root = _make_trust_root(keys, workdir)
    out.step(
        "trust root",
        f"v1: 1 independent + 1 operator signature, witness quorum 1 -> {workdir}/trust-root.cbor",
    )
    bundles = workdir / "bundles"
    packages = workdir / "packages"
    for d in (bundles, packages, workdir / "rejected"):
        d.mkdir()
    client_state = workdir / "client-state"
    client_state.mkdir()
    (workdir / "client-state-fresh").mkdir()
    behind_state = workdir / "client-state-behind"
    behind_state.mkdir()
    store = StateDir(client_state)
    fingerprints: list[str] = []

    with _services(workdir, keys, signed_root) as services, requests.Session() as session:
        out.step("log + witness", f"log {services.log_url}, witness {services.witness_url}")

        # Epoch 1: build, sign, countersign, append, package, verify.
        payload = _payload(1, None, now)
        fingerprints += [k.fingerprint for k in payload.keys]
        (bundles / "epoch-1.json").write_text(json.dumps(payload_to_json(payload), indent=2))
        signed = cose.sign1(payload.encode(), keys.independent)
        out.step(
            "bundle",
            f"fleet {FLEET} epoch 1: {len(payload.keys)} HSM keys, valid until "
            f"{utc(payload.not_after)}; signed by the independent party",
        )
        epoch1 = cose.countersign(signed, keys.operator)
        (bundles / "epoch-1.cose").write_bytes(epoch1)
        out.step("countersigned", f"by the operator -> {bundles}/epoch-1.cose")
        (workdir / "allowed-keys.txt").write_text("".join(f + "\n" for f in fingerprints))
        index1 = _append(session, services.log_url, epoch1)
        package1 = _package(services.log_url, keys, index1, packages / "epoch-1.cbor")
        cp1 = package1.checkpoint
        if WITNESS_NAME not in cp1.cosignatures:
            raise _UnexpectedError("the witness did not cosign the log's checkpoint")
        out.step(
            "logged",
            f"POST /add -> index {index1}; checkpoint size {cp1.checkpoint.size} "
            f"cosigned by {WITNESS_NAME}",
        )
        out.step(
            "packaged", f"{packages}/epoch-1.cbor ({len(package1.data)} bytes, proof included)"
        )
        accepted = verify_package(package1.data, root, store.load(), now, fleet=FLEET)
        store.save(accepted.state)
        StateDir(behind_state).save(accepted.state)  # a second device, which then goes offline
        out.step(
            "verified",
            f"client accepted {FLEET} epoch {accepted.epoch} ({len(accepted.keys)} keys); "
            f"state saved in {client_state}/",
        )

        # Epoch 2: the fleet rotates; the package proves consistency with size 1.
        payload2 = _payload(2, signed_bundle_digest(epoch1), now)
        fingerprints += [k.fingerprint for k in payload2.keys]
        (workdir / "allowed-keys.txt").write_text("".join(f + "\n" for f in fingerprints))
        (bundles / "epoch-2.json").write_text(json.dumps(payload_to_json(payload2), indent=2))
        epoch2 = cose.countersign(cose.sign1(payload2.encode(), keys.independent), keys.operator)
        (bundles / "epoch-2.cose").write_bytes(epoch2)
        index2 = _append(session, services.log_url, epoch2)
        package2 = _package(
            services.log_url,
            keys,
            index2,
            packages / "epoch-2.cbor",
            from_size=cp1.checkpoint.size,
        )
        out.step(
            "rotated",
            f"epoch 2 (new HSM keys, chained to epoch 1): signed, countersigned, logged at "
            f"index {index2}, packaged with a consistency proof from size "
            f"{cp1.checkpoint.size}",
        )
        accepted2 = verify_package(package2.data, root, store.load(), now, fleet=FLEET)
        store.save(accepted2.state)
        out.step("verified", f"client accepted {FLEET} epoch {accepted2.epoch}")

        # Rejections.
        try:
            verify_package(package1.data, root, store.load(), now, fleet=FLEET)
        except VerificationError as e:
            rollback = e.reason
        else:
            raise _UnexpectedError("the client accepted a rollback to epoch 1")
        out.step("rejected", f"rollback: epoch-1.cbor after epoch 2 -> {rollback}")

        payload3 = _payload(3, signed_bundle_digest(epoch2), now)
        lonely = cose.sign1(payload3.encode(), keys.independent)  # no countersignature
        (workdir / "rejected" / "epoch-3-no-countersignature.cose").write_bytes(lonely)
        status, answer = _submit(session, services.log_url, lonely)
        if status != 422:
            raise _UnexpectedError(
                f"the log answered {status} to a bundle without countersignature"
            )
        try:
            verify_signed_bundle(lonely, root)
        except VerificationError as e:
            client_reason = e.reason
        else:
            raise _UnexpectedError("a bundle without countersignature verified")
        out.step(
            "rejected",
            f"epoch 3 without the operator countersignature: log POST /add -> 422 "
            f"{_reason_of(answer)}; client -> {client_reason}",
        )

        # Trust root v2 (a new operator key), and epoch 3 countersigned with it.
        operator2 = generate_role_key("p256")
        source = PassphraseFile(workdir / "keys" / "passphrase.txt")
        write_private_key(workdir / "keys" / "operator-v2.key", operator2, source)
        write_public_key(workdir / "keys" / "operator-v2.pub", operator2.public_key())
        root2 = TrustRoot(
            2,
            root.independent,
            Role(1, (RoleKey(OPERATOR_ORG, operator2.public_key()),)),
            root.policy,
            root.limits,
        )
        signed_root2 = sign_trust_root(root2, [keys.independent, keys.operator, operator2])
        (workdir / "trust-root-v2.cbor").write_bytes(signed_root2)
        root_index = _append(session, services.log_url, signed_root2)
        payload3 = _payload(3, signed_bundle_digest(epoch2), now)
        fingerprints += [k.fingerprint for k in payload3.keys]
        (workdir / "allowed-keys.txt").write_text("".join(f + "\n" for f in fingerprints))
        (bundles / "epoch-3.json").write_text(json.dumps(payload_to_json(payload3), indent=2))
        epoch3 = cose.countersign(cose.sign1(payload3.encode(), keys.independent), operator2)
        (bundles / "epoch-3.cose").write_bytes(epoch3)
        index3 = _append(session, services.log_url, epoch3)
        out.step(
            "root rotated",
            f"trust root v2 (new operator key, signed by the old and new keys) logged at index "
            f"{root_index}; epoch 3 countersigned with the new key, logged at index {index3}",
        )

        # Every fleet's universal package, as `keybundle package publish` writes it; a client
        # at epoch 1 and trust root v1 catches up from that one file.
        published = workdir / "published"
        client, fetcher = _client(services.log_url, keys)
        with fetcher:
            Publisher(client, signed_root, published, generation_grace=0).publish()
        package3 = published / fleet_path(FLEET)
        caught_up = Client(signed_root, behind_state).accept(
            package3.read_bytes(), now=now, fleet=FLEET
        )
        rotations = Client(signed_root, behind_state).load().rotations
        if caught_up.epoch != 3 or [r.signed_trust_root for r in rotations] != [signed_root2]:
            raise _UnexpectedError("the client behind did not catch up to epoch 3 and root v2")
        out.step(
            "caught up",
            f"{package3} carries every rotation in the log: a client at epoch 1 and trust "
            f"root v1 ({behind_state}/) accepted epoch 3 and adopted trust root v2",
        )

        out.step("monitor", _monitor_pass(workdir, services.log_url, signed_root, now))
    out.step("stopped", "log and witness servers; everything is in " + f"{workdir}/")
    took = time.monotonic() - started
    out.line(f"done in {took:.1f} s. Try a client by hand (empty state, then epoch 1 and 2):")
    prog = sys.argv[0] if Path(sys.argv[0]).name == "keybundle" else "keybundle"
    for epoch in (1, 2):
        out.line(
            f"  {prog} verify --trust-root {workdir}/trust-root.cbor "
            f"--state {workdir}/client-state-fresh {workdir}/packages/epoch-{epoch}.cbor"
        )
    out.line("and see what the published package carries (the rotation to v2 among it):")
    out.line(
        f"  {prog} package inspect {workdir}/published/{fleet_path(FLEET)} "
        f"--trust-root {workdir}/trust-root.cbor"
    )
    return took


@click.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_WORKDIR,
    show_default=True,
    help="Where to leave the keys, trust root, log, packages and client states. A previous "
    "demo's output there is moved aside to DIR.1, DIR.2, ...; any other non-empty "
    "directory is refused.",
)
@cli_errors
def demo(*, workdir: Path) -> None:
    """Run the whole issuance end to end on a local log, in a few seconds.

    Creates keys for every role and a trust root, serves a log and a witness on 127.0.0.1,
    builds, signs, countersigns, logs, packages and verifies a fleet bundle, rotates the
    fleet, shows a rollback and a missing countersignature rejected, and audits the log.
    """
    run_demo(workdir)
