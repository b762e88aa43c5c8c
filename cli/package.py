"""``keybundle package build|inspect|publish``: OTA packages from a log.

SPEC §7.1, OPS §7.7, CLI §10.9.

The log is read from its directory or its URL (C2SP tlog-tiles), and everything read is
authenticated before it is used: the checkpoint under the log's key, every tile against the
checkpoint, the entry against its tile (``keybundle.issuance``). The log's key and its
witnesses come from the trust root that clients pin (``--trust-root``), or, for a log
directory made by ``keybundle log init``, from its configuration. With a trust root, the
package is checked exactly as a fresh client would check it before it is written, so an
operator never ships a package that clients reject (a missing witness quorum, a bundle
signed by keys the pinned root does not hold, a missing trust-root rotation...). The
trust-root rotations a package carries are found in the log itself (every one since the root
the log started with), so old clients catch up (OPS §7.7).
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click

from keybundle.client import verify_package
from keybundle.cose import parse_unverified_sign1
from keybundle.issuance import AssembledPackage, assemble_package
from keybundle.package import MAX_PACKAGE_BYTES, parse_unverified_package
from keybundle.payload import parse_payload
from keybundle.publisher import LogHistory, Publisher, PublishResult
from keybundle.signed_trust_root import (
    MAX_SIGNED_TRUST_ROOT_BYTES,
    parse_unverified_signed_trust_root,
)
from keybundle.state import ClientState
from keybundle.trustroot import TrustRoot
from transparency_log.checkpoint import VerifiedCheckpoint, parse_checkpoint, verify_checkpoint
from transparency_log.cosignature import COSIGNATURE_V1_BYTES, timestamp_of
from transparency_log.errors import VerificationError
from transparency_log.fetcher import DirectoryFetcher, Fetcher, FetchError, HTTPFetcher
from transparency_log.note import Verifier, new_verifier, parse_unverified
from transparency_log.tlog_client import CHECKPOINT_PATH, LogClient

from ._common import (
    UNIX_SECONDS,
    PinnedTrustRoot,
    UserError,
    cli_errors,
    emit,
    force_option,
    json_option,
    listen_errors,
    load_trust_root,
    read_input,
    refuse_other_kind,
    say,
    trust_root_option,
    utc,
    verification_json,
    write_output,
)
from .config import config_option
from .log import (
    CONFIG_DIR,
    CONFIG_FILE,
    MAX_CONFIG_BYTES,
    TRUST_ROOT_FILE,
    parse_listen,
    parse_log_config,
)

__all__ = [
    "LogSource",
    "close_source",
    "log_history",
    "open_log_source",
    "package",
    "parse_rotation",
]


@dataclass(frozen=True)
class LogSource:
    """Where a log is read from, and the keys that authenticate it."""

    fetcher: Fetcher
    log_verifier: Verifier
    origin: str
    witnesses: tuple[Verifier, ...]
    trust_root: TrustRoot | None
    """The root to check the package against as a fresh client, if one is known."""
    where: str


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _directory_config(directory: Path) -> tuple[str, str] | None:
    """(origin, vkey) from DIR/.keybundle-log/config, or None if DIR has no configuration."""
    path = directory / CONFIG_DIR / CONFIG_FILE
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(data) > MAX_CONFIG_BYTES:
        raise UserError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        config = parse_log_config(data.decode("utf-8"), str(path))
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8") from None
    return config.origin, config.vkey


def open_log_source(log: str, trust_root: PinnedTrustRoot | None) -> LogSource:
    """The fetcher and keys for ``--log DIR|URL`` (and ``--trust-root``, if given).

    A trust root names the log (its policy's ``log`` line) and the witnesses. Without one, a
    log directory made by ``keybundle log init`` supplies its key from its configuration, and
    its trust root if it was created with one; a URL needs ``--trust-root``.
    """
    root = trust_root.root if trust_root is not None else None
    fetcher: Fetcher
    if _is_url(log):
        if root is None:
            raise UserError(
                f"reading the log at {log} needs --trust-root ROOT: its policy names the log's "
                "key and the witnesses whose cosignatures clients count"
            )
        fetcher = HTTPFetcher(log)
    else:
        directory = Path(log)
        if not directory.is_dir():
            raise UserError(f"--log {log!r} is neither a directory nor an http:// or https:// URL")
        if not (directory / CHECKPOINT_PATH).is_file():
            raise UserError(
                f"{directory} is not a log's tile directory (it has no {CHECKPOINT_PATH} file)"
            )
        fetcher = DirectoryFetcher(directory)
        if root is None:
            config = _directory_config(directory)
            if config is None:
                raise UserError(
                    f"{directory} has no {CONFIG_DIR}/{CONFIG_FILE}; give --trust-root ROOT, "
                    "the trust root whose policy names this log"
                )
            own_root = directory / CONFIG_DIR / TRUST_ROOT_FILE
            if own_root.exists():
                root = load_trust_root(own_root).root
            else:
                origin, vkey = config
                return LogSource(fetcher, new_verifier(vkey), origin, (), None, log)
    if root is None:
        raise AssertionError("bad math in open_log_source: no trust root and no config")
    return LogSource(
        fetcher,
        root.log.verifier(),
        root.log.origin,
        tuple(root.policy.witness_verifiers()),
        root,
        log,
    )


def parse_rotation(value: str) -> tuple[Path, int]:
    """A ``--rotation FILE:INDEX`` value: a signed trust-root file and its log index."""
    file, sep, index = value.rpartition(":")
    if not sep or not file or not index.isdigit() or (index != "0" and index[0] == "0"):
        raise UserError(
            f"--rotation {value!r} is not FILE:INDEX (a signed trust-root file and the log "
            "index at which it was appended, e.g. trust-root-v2.cbor:1)"
        )
    return Path(file), int(index)


def close_source(source: LogSource) -> None:
    """Close the source's fetcher (an HTTP session), if it has one."""
    close = getattr(source.fetcher, "close", None)
    if close is not None:
        close()


def _client(source: LogSource) -> LogClient:
    return LogClient(
        source.fetcher, source.log_verifier, origin=source.origin, witnesses=source.witnesses
    )


def log_history(
    source: LogSource, client: LogClient, checkpoint: VerifiedCheckpoint, *, bundles: bool
) -> LogHistory:
    """The log's rotations (and, with ``bundles``, each fleet's head) up to ``checkpoint``,
    judged from the source's trust root (OPS §7.7)."""
    if source.trust_root is None:
        raise UserError(
            f"the log at {source.where} has no trust root to judge its entries by; give "
            "--trust-root ROOT (the root the log started with, which the oldest apps pin)"
        )
    history = LogHistory(source.trust_root, bundles=bundles)
    history.scan(client, checkpoint)
    return history


def _check_as_fresh_client(assembled: AssembledPackage, root: TrustRoot, now: int) -> None:
    """Verify the package as a client pinning ``root`` with an empty state would, at ``now``."""
    try:
        verify_package(assembled.data, root, ClientState(), now)
    except VerificationError as e:
        raise VerificationError(
            e.reason,
            f"a fresh client pinning the trust root would reject this package: {e.message}. "
            "Nothing was written",
        ) from None


_now_option = click.option(
    "--now",
    "now",
    type=UNIX_SECONDS,
    help="The time to check at, in Unix seconds (default: the system clock), as for "
    "'keybundle verify --now'.",
)


@click.group("package")
def package() -> None:
    """Assemble, inspect and publish OTA packages from a log (SPEC §7.1, OPS §7.7)."""


@package.command("build")
@click.option(
    "--log",
    "log",
    required=True,
    metavar="DIR|URL",
    help="The log: its tile directory, or its URL prefix (C2SP tlog-tiles).",
)
@click.option(
    "--index",
    type=click.IntRange(min=0),
    help="The signed bundle's index in the log (printed by POST /add or 'log append').",
)
@click.option(
    "--fleet",
    "fleet",
    metavar="FLEET",
    help="Package FLEET's latest bundle in the log instead of the one at --index.",
)
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write the package to OUT ('-': standard output).",
)
@click.option(
    "--from-size",
    "from_size",
    type=click.IntRange(min=1),
    help="Add a consistency proof from this tree size (the client's checkpoint size).",
)
@click.option(
    "--rotation",
    "rotations",
    multiple=True,
    metavar="FILE:INDEX",
    help="Override the trust-root rotations found in the log: a signed trust root and its "
    "log index. Repeatable, in version order.",
)
@trust_root_option(
    "The trust root the log started with (the oldest one clients pin): it names the log "
    "and its witnesses, the log's rotations are judged from it, and the package is checked "
    "against it as a fresh client would before it is written.",
    required=False,
)
@_now_option
@force_option
@json_option()
@cli_errors
def build(
    *,
    log: str,
    index: int | None,
    fleet: str | None,
    out: Path,
    from_size: int | None,
    rotations: tuple[str, ...],
    trust_root: PinnedTrustRoot | None,
    now: int | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write the OTA package of a signed bundle, under the log's latest checkpoint.

    The package carries the bundle exactly as logged, its inclusion proof and the checkpoint
    with its cosignatures, every trust-root rotation the log holds (so clients pinned to any
    older root catch up), and optionally a consistency proof.
    """
    if (index is None) == (fleet is None):
        raise UserError("give exactly one of --index N and --fleet FLEET")
    rotation_files = [parse_rotation(value) for value in rotations]
    override = [
        (read_input(str(path), "trust root", limit=MAX_SIGNED_TRUST_ROOT_BYTES), at)
        for path, at in rotation_files
    ]
    if str(out) != "-":
        if not out.parent.is_dir():
            raise UserError(f"cannot write {out}: directory {out.parent} does not exist")
        if out.exists() and not force:
            raise UserError(f"{out} already exists; refusing to overwrite it (use --force)")
    source = open_log_source(log, trust_root)
    client = _client(source)
    try:
        checkpoint = client.fetch_checkpoint()
        chain: list[tuple[bytes, int]] = list(override)
        if fleet is not None or (not rotation_files and source.trust_root is not None):
            history = log_history(source, client, checkpoint, bundles=fleet is not None)
            if not rotation_files:
                chain = [(r.signed, r.index) for r in history.chain()]
            if fleet is not None:
                head = history.fleets.get(fleet)
                if head is None:
                    raise UserError(f"the log holds no valid bundle of fleet {fleet!r}")
                index = head.index
        if index is None:
            raise AssertionError("bad math in package build: no index")
        assembled = assemble_package(
            client, index, checkpoint=checkpoint, from_size=from_size, rotations=chain
        )
    except FetchError as e:
        raise UserError(f"cannot read the log at {source.where}: {e}") from None
    finally:
        close_source(source)
    if source.trust_root is not None:
        _check_as_fresh_client(
            assembled, source.trust_root, int(time.time()) if now is None else now
        )
    write_output(out, assembled.data, force=force)
    payload, cp = assembled.payload, assembled.checkpoint
    witnesses = len(cp.cosignatures)
    extras = []
    if from_size is not None:
        extras.append(f"consistency from size {from_size}")
    if chain:
        extras.append(f"{len(chain)} trust-root rotation(s)")
    checked = (
        "checked as a fresh client would"
        if source.trust_root is not None
        else "not checked (no trust root)"
    )
    result = {
        "fleet": payload.fleet_id,
        "epoch": payload.epoch,
        "index": assembled.index,
        "checkpoint_size": cp.checkpoint.size,
        "cosignatures": witnesses,
        "from_size": from_size,
        "rotations": len(chain),
        "not_after": payload.not_after,
        "out": str(out),
        "bytes": len(assembled.data),
        "checked": source.trust_root is not None,
    }
    emit(
        as_json,
        result,
        f"package for fleet {payload.fleet_id!r} epoch {payload.epoch} (entry {assembled.index}, "
        f"checkpoint size {cp.checkpoint.size} with {witnesses} cosignature(s)"
        + "".join(f", {e}" for e in extras)
        + f"; valid until {utc(payload.not_after)}) written to {out} "
        f"({len(assembled.data)} bytes; {checked})",
    )


# -- inspect ----------------------------------------------------------------------------------


def _cosignature_times(note_text: bytes, checkpoint: VerifiedCheckpoint | None) -> dict[str, int]:
    """Witness name -> cosignature time: verified ones with a checkpoint, else every line of
    cosignature/v1 length (unverified)."""
    if checkpoint is not None:
        return dict(checkpoint.cosignatures)
    _, signatures = parse_unverified(note_text)
    return {s.name: timestamp_of(s) for s in signatures if len(s.signature) == COSIGNATURE_V1_BYTES}


def inspect_json(data: bytes, root: TrustRoot | None, now: int) -> dict[str, Any]:
    """What a package carries (SPEC §7.1), as JSON; verified parts are marked as such."""
    pkg = parse_unverified_package(data)
    payload = parse_payload(parse_unverified_sign1(pkg.signed_bundle).payload)
    text, _ = parse_unverified(pkg.proof.checkpoint_note)
    checkpoint = parse_checkpoint(text)
    verified: VerifiedCheckpoint | None = None
    if root is not None:
        verified = verify_checkpoint(
            pkg.proof.checkpoint_note,
            root.log.verifier(),
            origin=root.log.origin,
            witnesses=tuple(root.policy.witness_verifiers()),
        )
    times = _cosignature_times(pkg.proof.checkpoint_note, verified)
    chain = []
    for r in pkg.rotations:
        try:
            version: int | None = parse_unverified_signed_trust_root(
                r.signed_trust_root
            ).root.version
        except VerificationError:
            version = None
        chain.append({"version": version, "index": r.index, "proof_hashes": len(r.hashes)})
    info: dict[str, Any] = {
        "bytes": len(data),
        "fleet": payload.fleet_id,
        "epoch": payload.epoch,
        "index": pkg.proof.index,
        "not_before": payload.not_before,
        "not_after": payload.not_after,
        "key_count": len(payload.keys),
        "checkpoint": {
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "signatures_verified": verified is not None,
            "age": (now - max(times.values())) if times else None,
            "cosignatures": [
                {"witness": name, "time": t, "age": now - t} for name, t in sorted(times.items())
            ],
        },
        "chain": {
            "from_version": chain[0]["version"] if chain else None,
            "to_version": chain[-1]["version"] if chain else None,
            "rotations": chain,
        },
        "consistency": None
        if pkg.consistency is None
        else {"old_size": pkg.consistency.old_size, "hashes": len(pkg.consistency.hashes)},
    }
    if root is not None:
        info["fresh_client"] = verification_json(
            lambda: verify_package(data, root, ClientState(), now)
        )
    return info


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 0:
        return f"{-seconds} s in the future"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds} s"


@package.command("inspect")
@click.argument("package_file", metavar="PACKAGE")
@trust_root_option(
    "Verify the checkpoint's signatures under ROOT, and the package as a fresh client "
    "pinning ROOT would.",
    required=False,
)
@_now_option
@json_option()
@cli_errors
def inspect(
    *, package_file: str, trust_root: PinnedTrustRoot | None, now: int | None, as_json: bool
) -> None:
    """Show what PACKAGE carries: fleet, epoch, checkpoint and its cosignatures' ages, the
    trust-root chain, the consistency proof. Without --trust-root nothing is verified."""
    data = read_input(package_file, "package", limit=MAX_PACKAGE_BYTES)
    refuse_other_kind(data, package_file, "package")
    root = trust_root.root if trust_root is not None else None
    info = inspect_json(data, root, int(time.time()) if now is None else now)
    if as_json:
        emit(True, info, "")
        return
    cp, chain = info["checkpoint"], info["chain"]
    verified = "verified" if cp["signatures_verified"] else "NOT verified (no --trust-root)"
    lines = [
        f"fleet {info['fleet']!r} epoch {info['epoch']} at index {info['index']}, "
        f"{info['key_count']} key(s), valid {utc(info['not_before'])} to {utc(info['not_after'])}",
        f"checkpoint {cp['origin']} size {cp['size']}, age {_age(cp['age'])}; "
        f"signatures {verified}",
    ]
    lines += [
        f"  cosigned by {c['witness']} at {utc(c['time'])} ({_age(c['age'])} ago)"
        for c in cp["cosignatures"]
    ]
    rotations = chain["rotations"]
    lines.append(
        f"trust-root rotations carried: {len(rotations)} ("
        + ", ".join(f"v{r['version'] or '?'} at index {r['index']}" for r in rotations)
        + ")"
        if rotations
        else "trust-root rotations carried: none"
    )
    consistency = info["consistency"]
    lines.append(
        "consistency proof: none"
        if consistency is None
        else f"consistency proof from size {consistency['old_size']} "
        f"({consistency['hashes']} hashes)"
    )
    fresh = info.get("fresh_client")
    if fresh is not None:
        lines.append(
            "a fresh client pinning the trust root accepts it"
            if fresh["verified"]
            else f"a fresh client pinning the trust root rejects it ({fresh['reason']}): "
            f"{fresh['message']}"
        )
    say(f"{package_file}: {len(data)} bytes")
    for line in lines:
        say(line)


# -- publish ----------------------------------------------------------------------------------


def _report(result: PublishResult | Exception) -> None:
    if isinstance(result, Exception):
        click.echo(f"keybundle: publish failed, retrying: {result}", err=True)
        return
    if not result.changed:
        return
    click.echo(
        f"published {result.fleets} fleet package(s) at checkpoint size {result.size} "
        f"({result.new_entries} new entr{'y' if result.new_entries == 1 else 'ies'} read"
        f"{', the log read from entry 0' if result.rebuilt else ''}) in "
        f"{result.seconds:.2f} s"
    )
    if result.quorum_short:
        click.echo(
            "warning: clients of trust-root version(s) "
            + ", ".join(f"v{v}" for v in result.quorum_short)
            + " would not count a fresh witness quorum on this checkpoint and reject every "
            "package: have the log collect their witnesses' cosignatures (SPEC §7.1, OPS §7.7)",
            err=True,
        )
    if result.older_roots:
        click.echo(
            f"note: {len(result.older_roots)} fleet(s) signed under an older trust root than the "
            f"log's current one ({', '.join(result.older_roots[:5])}"
            f"{', ...' if len(result.older_roots) > 5 else ''}): an app pinning the current "
            "root accepts them only once they are re-issued (OPS §7.7)",
            err=True,
        )


def _publish_json(result: PublishResult, out: Path) -> dict[str, Any]:
    """The ``--json`` result of one ``package publish`` pass (CLI §10.9)."""
    return {
        "out": str(out),
        "changed": result.changed,
        "size": result.size,
        "fleets": result.fleets,
        "new_entries": result.new_entries,
        "rebuilt": result.rebuilt,
        "seconds": round(result.seconds, 3),
        "quorum_short": list(result.quorum_short),
        "older_roots": list(result.older_roots),
    }


def _follow_as_service(
    publisher: Publisher, interval: float, stop: threading.Event, address: tuple[str, int]
) -> None:
    """``--follow --listen``: the passes, with ``/healthz``, ``/metrics`` and structured
    records (keybundle.publisher_service, OPS §6.6) in place of the progress lines."""
    from keybundle.publisher_service import PublisherStatus
    from transparency_log import observe

    status = PublisherStatus(publisher, interval)
    host, port = address
    with listen_errors(host, port):
        server = observe.make_ops_server(
            status.metrics, status.health, host, port, ident="keybundle-publisher"
        )
    observe.configure_logging()
    thread = threading.Thread(target=server.serve_forever, name="publisher-ops", daemon=True)
    thread.start()
    try:
        click.echo(
            f"publisher of {publisher.out} listening on http://{server.host}:{server.port}",
            err=True,
        )
        publisher.follow(interval, stop, status.report)
    finally:
        server.close()
        thread.join(timeout=10)


@package.command("publish")
@click.option(
    "--log",
    "log",
    required=True,
    metavar="DIR|URL",
    help="The log: its tile directory, or its URL prefix (C2SP tlog-tiles).",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The directory to publish into (created if missing): fleets/<fleet>.cbor, index.json.",
)
@trust_root_option(
    "The trust root the log started with (default: the log directory's).", required=False
)
@click.option("--follow", is_flag=True, help="Keep publishing until stopped (SIGINT, SIGTERM).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="With --follow, seconds between two reads of the log's checkpoint.",
)
@click.option(
    "--no-consistency",
    "no_consistency",
    is_flag=True,
    help="Do not add a consistency proof from the previously published checkpoint.",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=None,
    help="With --follow, serve GET /healthz and /metrics there and write one structured "
    "record per pass on standard error instead of the progress lines (OPS §6.6).",
)
@json_option("Print one JSON object for the one pass (not with --follow).")
@config_option
@cli_errors
def publish(
    *,
    log: str,
    out: Path,
    trust_root: PinnedTrustRoot | None,
    follow: bool,
    interval: float,
    no_consistency: bool,
    listen: str | None,
    as_json: bool,
) -> None:
    """Publish every fleet's universal package as static files under OUT (OPS §7.7).

    Each pass reads the log's checkpoint and only the entries added since the last pass, and
    rewrites every package (each file replaced atomically) when the checkpoint changed: new
    entries, or new cosignatures. Serve OUT with deploy/nginx/keybundle-packages.conf; run it
    as a service with --follow --listen (deploy/systemd/keybundle-publisher.service).
    --json reports one pass; a script runs it from a timer (--follow with --json exits 2).

    \b
    Example:
      keybundle package publish --log log/ --out www/ --json
    """
    if follow and as_json:
        raise UserError(
            "--json reports one pass and --follow never ends: run 'package publish --json' "
            "once per pass, or --follow --listen for structured records (OPS §6.6)"
        )
    address = None
    if listen is not None:
        if not follow:
            raise UserError("--listen serves the health of a running publisher: add --follow")
        address = parse_listen(listen)
    source = open_log_source(log, trust_root)
    if source.trust_root is None:
        close_source(source)
        raise UserError(
            f"the log at {source.where} has no trust root; give --trust-root ROOT (the root the "
            "log started with)"
        )
    out.mkdir(parents=True, exist_ok=True)
    publisher = Publisher(_client(source), source.trust_root, out, consistency=not no_consistency)
    try:
        if not follow:
            result = publisher.publish()
            if as_json:
                emit(True, _publish_json(result, out), "")
                return
            _report(result)
            if not result.changed:
                click.echo(f"nothing to publish: checkpoint size {result.size} unchanged")
            return
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, on_signal)
        if address is None:
            publisher.follow(interval, stop, _report)
        else:
            _follow_as_service(publisher, interval, stop, address)
    except FetchError as e:
        raise UserError(f"cannot read the log at {source.where}: {e}") from None
    finally:
        close_source(source)
