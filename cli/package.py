"""``keybundle package build``: assemble an OTA package from a log (SPEC §7.1, §10.9).

The log is read from its directory or its URL (C2SP tlog-tiles), and everything read is
authenticated before it is used: the checkpoint under the log's key, every tile against the
checkpoint, the entry against its tile (``keybundle.issuance``). The log's key and its
witnesses come from the trust root that clients pin (``--trust-root``), or, for a log
directory made by ``keybundle log init``, from its configuration. With a trust root, the
package is checked exactly as a fresh client would check it before it is written, so an
operator never ships a package that clients reject (a missing witness quorum, a bundle
signed by keys the pinned root does not hold, a missing trust-root rotation...).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import click

from keybundle.client import verify_package
from keybundle.issuance import AssembledPackage, assemble_package
from keybundle.state import ClientState
from keybundle.trustroot import MAX_SIGNED_TRUST_ROOT_BYTES, TrustRoot
from transparency_log.errors import VerificationError
from transparency_log.fetcher import DirectoryFetcher, Fetcher, FetchError, HTTPFetcher
from transparency_log.note import Verifier, new_verifier
from transparency_log.tlog_client import CHECKPOINT_PATH, LogClient

from ._common import (
    PinnedTrustRoot,
    UserError,
    cli_errors,
    force_option,
    load_trust_root,
    read_input,
    trust_root_option,
    utc,
    write_output,
)
from .log import CONFIG_DIR, CONFIG_FILE, MAX_CONFIG_BYTES, TRUST_ROOT_FILE, parse_log_config

__all__ = ["LogSource", "open_log_source", "package", "parse_rotation"]


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


def _check_as_fresh_client(assembled: AssembledPackage, root: TrustRoot) -> None:
    """Verify the package as a client pinning ``root`` with an empty state would, now."""
    try:
        verify_package(assembled.data, root, ClientState(), int(time.time()))
    except VerificationError as e:
        raise VerificationError(
            e.reason,
            f"a fresh client pinning the trust root would reject this package: {e.message}. "
            "Nothing was written",
        ) from None


@click.group("package")
def package() -> None:
    """Assemble OTA packages from a log (SPEC §7.1)."""


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
    required=True,
    type=click.IntRange(min=0),
    help="The signed bundle's index in the log (printed by POST /add or 'log append').",
)
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the package to OUT.",
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
    help="A signed trust root the client must rotate to, and its log index. Repeatable, in "
    "version order.",
)
@trust_root_option(
    "The trust root clients pin: it names the log and its witnesses, and the package is "
    "checked against it as a fresh client would before it is written.",
    required=False,
)
@force_option
@cli_errors
def build(
    *,
    log: str,
    index: int,
    out: Path,
    from_size: int | None,
    rotations: tuple[str, ...],
    trust_root: PinnedTrustRoot | None,
    force: bool,
) -> None:
    """Write the OTA package of the signed bundle at INDEX, under the log's latest checkpoint.

    The package carries the bundle exactly as logged, its inclusion proof and the checkpoint
    with its cosignatures; optionally a consistency proof and trust-root rotations.
    """
    rotation_files = [parse_rotation(value) for value in rotations]
    rotation_entries = [
        (read_input(str(path), "trust root", limit=MAX_SIGNED_TRUST_ROOT_BYTES), at)
        for path, at in rotation_files
    ]
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: directory {out.parent} does not exist")
    if out.exists() and not force:
        raise UserError(f"{out} already exists; refusing to overwrite it (use --force)")
    source = open_log_source(log, trust_root)
    client = LogClient(
        source.fetcher, source.log_verifier, origin=source.origin, witnesses=source.witnesses
    )
    try:
        assembled = assemble_package(client, index, from_size=from_size, rotations=rotation_entries)
    except FetchError as e:
        raise UserError(f"cannot read the log at {source.where}: {e}") from None
    finally:
        close = getattr(source.fetcher, "close", None)
        if close is not None:
            close()
    if source.trust_root is not None:
        _check_as_fresh_client(assembled, source.trust_root)
    write_output(out, assembled.data, force=force)
    payload, cp = assembled.payload, assembled.checkpoint
    witnesses = len(cp.cosignatures)
    extras = []
    if from_size is not None:
        extras.append(f"consistency from size {from_size}")
    if rotation_entries:
        extras.append(f"{len(rotation_entries)} trust-root rotation(s)")
    checked = (
        "checked as a fresh client would"
        if source.trust_root is not None
        else "not checked (no trust root)"
    )
    click.echo(
        f"package for fleet {payload.fleet_id!r} epoch {payload.epoch} (entry {index}, "
        f"checkpoint size {cp.checkpoint.size} with {witnesses} cosignature(s)"
        + "".join(f", {e}" for e in extras)
        + f"; valid until {utc(payload.not_after)}) written to {out} "
        f"({len(assembled.data)} bytes; {checked})"
    )
