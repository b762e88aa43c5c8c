"""``keybundle log``: create, append to, prove from and serve a transparency log (CLI §10.6).

A log directory DIR is the C2SP tlog-tiles read side (``checkpoint``, ``tile/``) plus two
hidden directories that are never served: ``.state`` (the appender's lock and index) and
``.keybundle-log`` (this command's configuration, OPS §6.5.5). The log's signing key stays
where the user keeps it; the configuration records its path.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import logging
import os
import secrets
import sqlite3
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from transparency_log import durable
from transparency_log.appender import (
    LOCK_FILE,
    Log,
    LogLockedError,
    LogStateError,
    open_directory_log,
)
from transparency_log.checkpoint import Checkpoint
from transparency_log.entry_bundle import MAX_ENTRY_SIZE
from transparency_log.errors import BatchRejectionError, VerificationError
from transparency_log.merkle import EMPTY_ROOT
from transparency_log.note import SIG_TYPE_ED25519, new_signer, new_verifier
from transparency_log.storage import DirectoryTileStore

from ._common import (
    PinnedTrustRoot,
    UserError,
    cli_errors,
    emit,
    emit_failure,
    json_option,
    key_file_kind,
    listen_errors,
    load_trust_root,
    passphrase_option,
    require_passphrase,
    say,
    serve_until_stopped,
    trust_root_option,
)
from ._output import rejection_line
from .config import config_option

if TYPE_CHECKING:
    from keybundle.admission import BundleAdmission
    from transparency_log.policy import Policy
    from transparency_log.server import WitnessConfig

P = ParamSpec("P")
R = TypeVar("R")

# The admission, trust-root, witness (requests) and HTTP-server modules are imported where
# they are used: 'log append' into a log without them should not pay for their imports
# (a tenth of a second, against the half second its 20,000-file run takes; CLI §10.6).

__all__ = ["LogConfig", "load_note_signer", "log", "parse_listen", "parse_log_config"]

CONFIG_DIR = ".keybundle-log"
"""The command's configuration directory inside DIR (OPS §6.5.5)."""
CONFIG_FILE = "config"
TRUST_ROOT_FILE = "trust-root"
WITNESSES_FILE = "witnesses"
POLICY_SEPARATOR = "# keybundle: next policy\n"
"""Between two tlog-policies in DIR/.keybundle-log/witnesses (OPS §6.5.5)."""
MAX_WITNESSES_BYTES = 262144
"""Largest witnesses file read (SPEC §11): a few policies of at most MAX_POLICY_BYTES."""
COSIGN_WAIT_SECONDS = 60.0
"""Default time ``log cosign`` waits for a running server's answer."""
CONFIG_HEADER = "keybundle-log-config/v1"
"""First line of DIR/.keybundle-log/config."""
MAX_CONFIG_BYTES = 16384
"""Largest configuration file read (SPEC §11)."""

_PROGRESS_MIN_ENTRIES = 1024


@dataclass(frozen=True)
class LogConfig:
    """DIR/.keybundle-log/config: the log's origin, verifier key and signer-key path."""

    origin: str
    vkey: str
    key_path: Path

    def format(self) -> str:
        """The file's exact text (OPS §6.5.5)."""
        return f"{CONFIG_HEADER}\norigin {self.origin}\nvkey {self.vkey}\nkey {self.key_path}\n"


def parse_log_config(text: str, where: str) -> LogConfig:
    """Parse the configuration strictly: four lines, in order, nothing else."""

    lines = text.split("\n")
    if len(lines) != 5 or lines[4] != "" or lines[0] != CONFIG_HEADER:
        raise UserError(
            f"{where} is not a {CONFIG_HEADER} file (header, origin, vkey and key lines, "
            "each ending in a newline)"
        )
    fields: dict[str, str] = {}
    for line, label in zip(lines[1:4], ("origin", "vkey", "key"), strict=True):
        if not line.startswith(label + " ") or len(line) == len(label) + 1:
            raise UserError(f"{where}: expected a line '{label} <value>', found {line[:80]!r}")
        fields[label] = line[len(label) + 1 :]
    try:
        Checkpoint(fields["origin"], 0, EMPTY_ROOT)
        verifier = new_verifier(fields["vkey"])
    except ValueError as e:
        raise UserError(f"{where}: {e}") from None
    if getattr(verifier, "sig_type", None) != SIG_TYPE_ED25519:
        raise UserError(f"{where}: the log's vkey must be an Ed25519 note key (type 0x01)")
    key_path = Path(fields["key"])
    if not key_path.is_absolute():
        raise UserError(f"{where}: the key path must be absolute, not {fields['key']!r}")
    return LogConfig(fields["origin"], fields["vkey"], key_path)


def _config_dir(directory: Path) -> Path:
    return directory / CONFIG_DIR


def _load_config(directory: Path) -> LogConfig:
    path = _config_dir(directory) / CONFIG_FILE
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise UserError(
            f"{directory} is not a keybundle log (no {CONFIG_DIR}/{CONFIG_FILE}); create one "
            "with 'keybundle log init'"
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise UserError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8") from None
    return parse_log_config(text, str(path))


def load_note_signer(key_path: Path, passphrase_file: Path | None, want_type: int) -> Any:
    """The note signer in a key file (plain signer-key string or encrypted, SPEC §4.3).

    A plain signer-key string (one line, with or without its final newline) needs no
    passphrase and no key-custody code; an encrypted file is opened by
    ``keybundle.custody`` with the passphrase of CLI §10.1.
    """

    try:
        raw = key_path.read_bytes()[:4097]
    except OSError as e:
        raise UserError(f"cannot read key file {key_path}: {e.strerror or e}") from None
    file_kind = key_file_kind(raw)
    if file_kind not in {"note private key", "unknown"}:
        want = "a cosignature key" if want_type == 4 else "a note key"
        raise UserError(
            f"key file {key_path} is a {file_kind}, not a signed-note private key; this "
            f"needs {want} (`keybundle keys generate --type "
            f"{'cosignature' if want_type == 4 else 'note'}`)"
        )
    if raw.startswith(b"PRIVATE+KEY+"):
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if b"\n" in line:
            raise UserError(f"note key file {key_path} must be one line ending in a newline")
        skey = line.decode("ascii", "replace")
    else:
        from keybundle.custody import load_note_key

        source = require_passphrase(passphrase_file, what=f"key file {key_path}")
        skey = load_note_key(key_path, source)
    signer = new_signer(skey)
    sig_type = getattr(signer, "sig_type", None)
    if sig_type != want_type:
        kind = {1: "an Ed25519 note key (type 0x01)", 4: "a cosignature/v1 key (type 0x04)"}
        raise UserError(f"{key_path} is not {kind[want_type]}; it has type {sig_type!r}")
    return signer


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UserError(f"--listen {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def _admission(directory: Path) -> BundleAdmission | None:
    """The admission hook of a log created with a trust root, or None (SPEC §6.3, OPS §6.5.5).

    Such a log admits only countersigned bundles valid under the trust root (and continuing
    their fleet's chain) and valid trust-root rotations; anything else is rejected with its
    reason code and leaves the log unchanged.
    """
    path = _config_dir(directory) / TRUST_ROOT_FILE
    if not path.exists():
        return None
    from keybundle.admission import BundleAdmission

    try:
        return BundleAdmission(path.read_bytes())
    except VerificationError as e:
        raise UserError(
            f"the log's trust root {path} no longer verifies ({e.reason}): {e.message}"
        ) from None


def parse_witness_policies(data: bytes, where: str) -> list[Policy]:
    """The tlog-policies of a witnesses file (OPS §6.5.5): one, or several separated by
    ``POLICY_SEPARATOR`` lines; every witness line MUST carry a URL."""
    from transparency_log.policy import parse_policy

    if len(data) > MAX_WITNESSES_BYTES:
        raise UserError(f"{where} is larger than {MAX_WITNESSES_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{where} is not UTF-8") from None
    policies = []
    for number, part in enumerate(text.split(POLICY_SEPARATOR), start=1):
        try:
            policy = parse_policy(part)
        except VerificationError as e:
            raise UserError(f"{where}: policy {number}: {e.message}") from None
        for witness in policy.witnesses:
            if witness.url is None:
                raise UserError(f"{where}: witness {witness.name!r} has no URL to submit to")
        policies.append(policy)
    return policies


def _witness_config(directory: Path) -> WitnessConfig:
    """The witnesses to ask and the quorums to meet: DIR/.keybundle-log/witnesses (OPS §6.5.5)."""
    from transparency_log.server import WitnessConfig

    path = _config_dir(directory) / WITNESSES_FILE
    try:
        with path.open("rb") as f:
            data = f.read(MAX_WITNESSES_BYTES + 1)
    except FileNotFoundError:
        return WitnessConfig(())
    return WitnessConfig.from_policies(parse_witness_policies(data, str(path)))


def _witness_source(directory: Path) -> Callable[[], WitnessConfig]:
    """The witness configuration, read again whenever the file changes (OPS §6.5.3): a
    running ``log serve`` follows ``log witnesses --set`` without a restart."""
    path = _config_dir(directory) / WITNESSES_FILE
    cache: list[Any] = [None, None]

    def source() -> WitnessConfig:
        try:
            st = os.stat(path)
            key: object = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            key = None
        if cache[1] is None or key != cache[0]:
            try:
                config = _witness_config(directory)
            except UserError as e:
                raise ValueError(str(e)) from None
            cache[0], cache[1] = key, config
        result: WitnessConfig = cache[1]
        return result

    return source


def _witness_endpoints(directory: Path) -> list[Any]:
    return list(_witness_config(directory).endpoints)


def _witness_verifiers(directory: Path) -> list[Any]:
    return [e.verifier for e in _witness_endpoints(directory)]


def _storage_errors(func: Callable[P, R]) -> Callable[P, R]:
    """A storage failure of the log's state database (a full disk) is one line, exit 2, like
    any other I/O error (OPS §6.2 "Storage errors", CLI §10.6); apply below ``cli_errors``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except sqlite3.Error as e:
            raise UserError(
                f"the log's state database failed: {e}; nothing acknowledged was lost, "
                "run the command again once the storage is fixed"
            ) from None

    return wrapper


@click.group("log")
def log() -> None:
    """Create, append to, prove from and serve a transparency log (SPEC §6)."""


@log.command("init")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--origin", required=True, help="The log's checkpoint origin line.")
@click.option(
    "--key",
    "key_path",
    required=True,
    metavar="PREFIX.key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The log's Ed25519 note signer key file (keybundle keys generate --type note).",
)
@trust_root_option("Admit only key bundles valid under this signed trust root.", required=False)
@click.option(
    "--witnesses",
    "witnesses",
    metavar="POLICY",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A tlog-policy whose witness lines (with URLs) cosign each checkpoint.",
)
@passphrase_option
@json_option()
@cli_errors
def init(
    *,
    directory: Path,
    origin: str,
    key_path: Path,
    trust_root: PinnedTrustRoot | None,
    witnesses: Path | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Create an empty log in DIR, signed by the key in PREFIX.key.

    Prints the log's verifier key (labelled), which clients pin.
    """

    try:
        Checkpoint(origin, 0, EMPTY_ROOT)
    except ValueError as e:
        raise UserError(f"--origin: {e}") from None
    config_dir = _config_dir(directory)
    if config_dir.exists() or (directory / "checkpoint").exists():
        raise UserError(f"{directory} already holds a log; refusing to initialise it again")
    signer = load_note_signer(key_path, passphrase_file, SIG_TYPE_ED25519)
    verifier = signer.verifier()
    root_bytes: bytes | None = None
    if trust_root is not None:
        root_bytes, root = trust_root.signed, trust_root.root
        if verifier.verifier_key not in {entry.vkey for entry in root.policy.logs}:
            click.echo(
                f"warning: trust root {trust_root.path} does not list this log's key "
                f"{verifier.verifier_key}; clients pinning it will not accept this log",
                err=True,
            )
    witness_text: bytes | None = None
    if witnesses is not None:
        witness_text = witnesses.read_bytes()
        parse_witness_policies(witness_text, str(witnesses))
    if signer.name != origin:
        click.echo(
            f"warning: the key is named {signer.name!r} but the origin is {origin!r}; "
            "C2SP tlog-policy clients require them to be equal",
            err=True,
        )
    directory.mkdir(parents=True, exist_ok=True)
    config_dir.mkdir(mode=0o755)
    config = LogConfig(origin, verifier.verifier_key, key_path.resolve())
    durable.create_new(config_dir / CONFIG_FILE, config.format().encode("utf-8"))
    if root_bytes is not None:
        durable.create_new(config_dir / TRUST_ROOT_FILE, root_bytes)
    if witness_text is not None:
        durable.create_new(config_dir / WITNESSES_FILE, witness_text)
    # Create the empty log: the state directory and a signed checkpoint of size 0, with the
    # admission state recording the trust root it starts from.
    opened = open_directory_log(
        directory,
        origin=origin,
        signer=signer,
        verifier=verifier,
        admission=_admission(directory),
    )
    opened.close()
    result = {
        "directory": str(directory),
        "origin": origin,
        "vkey": verifier.verifier_key,
        "trust_root": trust_root is not None,
        "witnesses": witnesses is not None,
    }

    def lines() -> None:
        say(f"initialised an empty log in {directory} (origin {origin})")
        say(f"  verifier key: {verifier.verifier_key}")

    emit(as_json, result, lines)


class _Files:
    """The files' contents, read one at a time as the log consumes them (sized, so that
    the log can report progress against the total)."""

    def __init__(self, paths: Sequence[str], stdin: bytes | None = None) -> None:
        self._paths = paths
        self._stdin = stdin

    def __len__(self) -> int:
        return len(self._paths)

    def __iter__(self) -> Iterator[bytes]:
        for path in self._paths:
            yield self._stdin if path == "-" and self._stdin is not None else _read_entry(path)


def _read_stdin_entry(paths: Sequence[str]) -> bytes | None:
    """The entry FILE ``-`` stands for (standard input, CLI §10.1), read before anything is
    appended; None if no FILE is ``-``."""
    count = paths.count("-")
    if count == 0:
        return None
    if count > 1:
        raise UserError("FILE '-' (standard input) can be given once")
    data = sys.stdin.buffer.read(MAX_ENTRY_SIZE + 1)
    if not data:
        raise UserError("standard input (-) is empty; a log entry is at least one byte")
    if len(data) > MAX_ENTRY_SIZE:
        raise UserError(f"standard input (-) holds more than {MAX_ENTRY_SIZE} bytes, the "
                        "largest log entry")  # fmt: skip
    return data


def _read_entry(path: str) -> bytes:
    """The bytes of one entry file, at most ``MAX_ENTRY_SIZE`` + 1 of them read.

    Plain ``os.open``/``os.read`` on a ``str`` path: for 20,000 small files, building a
    ``Path`` and a buffered file object per file costs more than hashing and writing them
    (bench/bench_append_cli.py). A file that changed since it was checked is refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, MAX_ENTRY_SIZE + 1)
            while data and len(data) <= MAX_ENTRY_SIZE:
                more = os.read(fd, MAX_ENTRY_SIZE + 1 - len(data))
                if not more:
                    break
                data += more
        finally:
            os.close(fd)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    if not 1 <= len(data) <= MAX_ENTRY_SIZE:
        raise UserError(f"{path} changed while it was being appended; run the command again")
    return data


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def _check_entry_files(paths: Sequence[str]) -> None:
    """Refuse the whole command before anything is appended if any FILE cannot be an entry
    (CLI §10.6): one ``stat`` per file."""
    for path in paths:
        if path == "-":
            continue  # standard input: _read_stdin_entry checks it
        try:
            st = os.stat(path)
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror or e}") from None
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{path} is not a regular file")
        size = st.st_size
        if size == 0:
            raise UserError(f"{path} is empty; a log entry is at least one byte")
        if size > MAX_ENTRY_SIZE:
            raise UserError(
                f"{path} is {size} bytes; a log entry is at most {MAX_ENTRY_SIZE} bytes"
            )


def _open_log(
    directory: Path, passphrase_file: Path | None, *, follow_witnesses: bool = False, **kw: Any
) -> Any:

    config = _load_config(directory)
    signer = load_note_signer(config.key_path, passphrase_file, SIG_TYPE_ED25519)
    verifier = signer.verifier()
    if verifier.verifier_key != config.vkey:
        raise UserError(
            f"the key in {config.key_path} is {verifier.verifier_key}, not the log's key "
            f"{config.vkey}"
        )
    admission = _admission(directory)
    store: Any = DirectoryTileStore(directory)
    witnesses = _witness_config(directory)
    if witnesses.endpoints or follow_witnesses:
        from transparency_log.server import CosigningTileStore

        source = _witness_source(directory) if follow_witnesses else None
        store = CosigningTileStore(store, verifier, config.origin, witnesses, source=source)
    try:
        return (
            Log.open(
                store,
                directory / ".state",
                origin=config.origin,
                signer=signer,
                verifier=verifier,
                admission=admission,
                **kw,
            ),
            config,
            verifier,
        )
    except LogLockedError as e:
        raise UserError(f"{e} (is 'keybundle log serve' running on it?)") from None
    except LogStateError as e:
        raise UserError(f"the log in {directory} cannot be opened: {e}") from None


class _ManyFilesCommand(click.Command):
    """A command whose arguments may be tens of thousands of FILEs (``log append``).

    click's parser takes its arguments off the front of a list one at a time, which is
    quadratic in their number (30 ms for 20,000 files, an eighth of the floor of
    bench/bench_append_cli.py). So the options, each with its value, keep their order ahead
    of a ``--`` and every other argument follows it in its order: click parses the same
    options and the same positional arguments, and splits the positional ones off at once.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            name
            for param in self.get_params(ctx)
            if isinstance(param, click.Option) and not param.is_flag and not param.count
            for name in (*param.opts, *param.secondary_opts)
        }
        options: list[str] = []
        positional: list[str] = []
        rest = iter(args)
        for arg in rest:
            if arg == "--":
                positional.extend(rest)
            elif arg.startswith("-") and len(arg) > 1:
                options.append(arg)  # an unknown one stays, for click to refuse
                if arg in takes_value:
                    options.extend(itertools.islice(rest, 1))
            else:
                positional.append(arg)
        return super().parse_args(ctx, [*options, "--", *positional])


@log.command("append", cls=_ManyFilesCommand)
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
# FILE... stays plain strings: click.Path would stat each one and build a Path (a quarter
# of a second for 20,000 files); _check_entry_files does the one stat needed.
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 65536),
    default=256,
    show_default=True,
    help="Entries per checkpoint.",
)
@passphrase_option
@json_option()
@cli_errors
@_storage_errors
def append(
    *,
    directory: Path,
    files: tuple[str, ...],
    batch_size: int,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Append each FILE as one entry ('-': standard input); print 'FILE INDEX' per file.

    Returns once DIR/checkpoint covers every entry. A file whose content is already in the
    log gets its existing index.
    """

    paths = list(files)
    _check_entry_files(paths)
    stdin = _read_stdin_entry(paths)
    opened, _, _ = _open_log(directory, passphrase_file, batch_size=batch_size)
    with contextlib.ExitStack() as stack:
        stack.callback(opened.close)
        bar: Any = None
        if _stderr_is_tty() and len(paths) >= _PROGRESS_MIN_ENTRIES:
            bar = stack.enter_context(
                click.progressbar(length=len(paths), label="appending", file=sys.stderr)
            )
        shown = [0]

        def progress(done: int, total: int | None) -> None:
            if bar is not None:
                bar.update(done - shown[0])
                shown[0] = done

        try:
            indices = opened.add_many(_Files(paths, stdin), progress=progress)
        except BatchRejectionError as e:
            which = f"{paths[e.position]}: " if e.position < len(paths) else ""
            raise VerificationError(e.reason, which + e.message) from None
        quorum_met, failures = _witnessed(opened.store)
    entries = [{"file": path, "index": index} for path, index in zip(paths, indices, strict=True)]
    result = {"entries": entries, "quorum_met": quorum_met}

    def lines() -> None:
        click.echo("\n".join(f"{path} {index}" for path, index in zip(paths, indices, strict=True)))

    if quorum_met is False:
        # Appended and published, but not witnessed enough for clients (CLI §10.6): a
        # script must not hand out proofs of this checkpoint as if it were final.
        why = "; ".join(failures) or "no witness cosigned it"
        message = (
            f"the entries are in the log, but its checkpoint does not meet the witness quorum "
            f"({why}); run 'keybundle log cosign {directory}' once the witnesses answer"
        )

        def lines_and_error() -> None:
            lines()
            click.echo(rejection_line("QUORUM_NOT_MET", message), err=True)

        emit_failure(as_json, 1, result, message, lines_and_error, reason="QUORUM_NOT_MET")
    emit(as_json, result, lines)


def _witnessed(store: object) -> tuple[bool | None, list[str]]:
    """Whether the published checkpoint meets the witness quorum (None: the log has no
    witnesses), and each witness that failed the last round, with why (CLI §10.6)."""
    quorum_met = getattr(store, "quorum_met", None)
    if quorum_met is None:
        return None, []
    outcomes = getattr(store, "last_outcomes", ())
    failures = [f"{o.witness.name}: {o.error}" for o in outcomes if not o.ok]
    return bool(quorum_met()), failures


@log.command("proof")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--index", "index", required=True, type=click.IntRange(min=0), help="Leaf index.")
@json_option("Print one JSON object: the tlog-proof text as the member 'proof'.")
@cli_errors
def proof(*, directory: Path, index: int, as_json: bool) -> None:
    """Print the C2SP tlog-proof of entry INDEX under DIR's checkpoint."""

    from transparency_log.fetcher import DirectoryFetcher
    from transparency_log.tlog_client import LogClient

    config = _load_config(directory)
    client = LogClient(
        DirectoryFetcher(directory),
        new_verifier(config.vkey),
        origin=config.origin,
        witnesses=_witness_verifiers(directory),
    )
    checkpoint = client.fetch_checkpoint()
    size = checkpoint.checkpoint.size
    if index >= size:
        raise UserError(f"index {index} is not in the log, which has {size} entries")
    text = client.inclusion_proof(index, checkpoint).format()
    if as_json:
        emit(True, {"index": index, "size": size, "proof": text}, "")
        return
    sys.stdout.write(text)


@log.command("serve")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--listen", required=True, metavar="HOST:PORT", help="Address to listen on.")
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="Worker threads (each waiting submitter holds one).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 65536),
    default=256,
    show_default=True,
    help="Entries per checkpoint, at most.",
)
@click.option(
    "--batch-max-age",
    type=click.FloatRange(0, 60),
    default=0.05,
    show_default=True,
    help="Seconds the first entry of a batch waits for more.",
)
@click.option(
    "--recosign-interval",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="With witnesses: have them cosign the checkpoint again after this long (default: a "
    "quarter of the trust root's max_cosignature_age, at most 3600; 0: never).",
)
@click.option(
    "--quorum-wait",
    type=click.FloatRange(0, 100),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="With witnesses: how long POST /add waits for the quorum before answering 504.",
)
@passphrase_option
@config_option
@cli_errors
@_storage_errors
def serve(
    *,
    directory: Path,
    listen: str,
    threads: int,
    batch_size: int,
    batch_max_age: float,
    recosign_interval: float | None,
    quorum_wait: float,
    passphrase_file: Path | None,
) -> None:
    """Serve DIR over HTTP: POST /add and the tlog-tiles read paths (SPEC §6.5), with
    GET /healthz and /metrics and one structured log record per request outcome (OPS §6.6)."""
    from transparency_log import observe
    from transparency_log.server import (
        CosigningTileStore,
        LogService,
        Recosigner,
        make_log_server,
        recosign_interval_for,
    )

    host, port = parse_listen(listen)
    opened, config, verifier = _open_log(
        directory,
        passphrase_file,
        follow_witnesses=True,
        batch_size=batch_size,
        batch_max_age=batch_max_age,
    )
    recosigner: Recosigner | None = None
    try:
        interval = recosign_interval
        if interval is None:
            interval = recosign_interval_for(_max_cosignature_age(directory))
        metrics = observe.LogMetrics(directory)
        with listen_errors(host, port):
            service = LogService(
                opened,
                verifier,
                config.origin,
                quorum_wait=quorum_wait,
                recosign_interval=interval,
            )
            server = make_log_server(
                service, host, port, threads=threads,
                wrap=lambda app: observe.instrument(
                    app, metrics, observe.checkpoint_health(directory)
                ),
            )  # fmt: skip
        observe.configure_logging()
        store = opened.store
        if isinstance(store, CosigningTileStore):
            store.on_round = metrics.cosigning_round
        if isinstance(store, CosigningTileStore) and interval > 0:
            recosigner = Recosigner(store, interval, state_dir=directory / ".state")
            recosigner.start()

        def ready() -> None:
            click.echo(f"log {config.origin} listening on http://{server.host}:{server.port}",
                       err=True)  # fmt: skip
            if isinstance(store, CosigningTileStore) and not store.config.endpoints:
                # A record like every later line of standard error (OPS §6.6); a stop waits
                # for it (serve_until_stopped).
                logging.getLogger("keybundle.service").warning(
                    "the log has no witnesses yet ('keybundle log witnesses DIR --set')"
                )

        serve_until_stopped(server, ready)
    finally:
        if recosigner is not None:
            recosigner.close()
        opened.close()


def _max_cosignature_age(directory: Path) -> int | None:
    """The trust root's ``max_cosignature_age`` of a log created with one, else None."""
    path = _config_dir(directory) / TRUST_ROOT_FILE
    if not path.exists():
        return None
    return int(load_trust_root(path).root.limits.max_cosignature_age)


@log.command("cosign")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--timeout",
    "timeout",
    type=click.FloatRange(1, 600),
    default=COSIGN_WAIT_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for a running 'log serve' to answer.",
)
@json_option()
@cli_errors
def cosign(*, directory: Path, timeout: float, as_json: bool) -> None:
    """Have every witness cosign DIR's published checkpoint now (OPS §6.5.3, CLI §10.6).

    With 'keybundle log serve' running on DIR, asks it (through DIR/.state); otherwise takes
    the log's lock and asks the witnesses itself. Prints one line per witness; exits 1 if
    the checkpoint does not meet the witness quorum afterwards.

    \b
    Example:
      keybundle log cosign log/ --json
    """
    from transparency_log.server import CosigningTileStore

    config = _load_config(directory)
    witnesses = _witness_config(directory)
    if not witnesses.endpoints:
        raise UserError(f"the log in {directory} has no witnesses ({CONFIG_DIR}/{WITNESSES_FILE})")
    state = directory / ".state"
    try:
        fd = os.open(state / LOCK_FILE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UserError(f"{directory} has no {state / LOCK_FILE}; is it a log?") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            summary = _ask_server(state, timeout, holder)
            server = True
        else:
            store = CosigningTileStore(
                DirectoryTileStore(directory), new_verifier(config.vkey), config.origin, witnesses
            )
            outcomes = store.recosign(everyone=True)
            lines = [
                f"cosigned {o.witness.name}" if o.ok else f"failed {o.witness.name}: {o.error}"
                for o in outcomes
            ]
            lines.append("quorum met" if store.quorum_met() else "quorum not met")
            summary = "\n".join(lines)
            server = False
    finally:
        os.close(fd)
    result = _cosign_result(summary, server=server)
    if result["quorum_met"]:
        emit(as_json, result, lambda: click.echo(summary))
        return
    last = summary.rsplit("\n", 1)[-1]
    reason = None if last.startswith("error: ") else "QUORUM_NOT_MET"
    emit_failure(as_json, 1, result, last, lambda: click.echo(summary), reason=reason)


def _cosign_result(summary: str, *, server: bool) -> dict[str, Any]:
    """The ``--json`` result of ``log cosign`` from the round's lines (CLI §10.6).

    Both the running server's answer and this command's own round are the lines CLI §10.6
    fixes: ``cosigned NAME``, ``failed NAME: why``, then ``quorum met`` or ``quorum not
    met``; a server whose round failed answers ``error: why``. A key name holds no space
    (C2SP signed-note), so the first ``": "`` ends it.
    """
    rows: list[dict[str, Any]] = []
    met = False
    for line in summary.splitlines():
        if line.startswith("cosigned "):
            rows.append({"name": line.removeprefix("cosigned "), "cosigned": True, "error": None})
        elif line.startswith("failed "):
            name, _, why = line.removeprefix("failed ").partition(": ")
            rows.append({"name": name, "cosigned": False, "error": why})
        elif line == "quorum met":
            met = True
    return {"witnesses": rows, "quorum_met": met, "server": server}


def _ask_server(state: Path, timeout: float, holder: str) -> str:
    """Ask the running server for a round (CLI §10.6): a request file, then its answer."""
    from transparency_log.server import COSIGN_ANSWER_FILE, COSIGN_REQUEST_FILE

    nonce = secrets.token_hex(16)
    request = state / COSIGN_REQUEST_FILE
    durable.replace(request, (nonce + "\n").encode("ascii"), fsync=False)
    answer = state / COSIGN_ANSWER_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = answer.read_bytes()[:65536].decode("utf-8", "replace")
        except FileNotFoundError:
            data = ""
        first, _, rest = data.partition("\n")
        if first == nonce:
            return rest.rstrip("\n")
        time.sleep(0.1)
    with contextlib.suppress(FileNotFoundError):
        request.unlink()
    raise UserError(
        f"the log's writer (pid {holder}) did not answer within {timeout:g} s; only "
        "'keybundle log serve' with witnesses answers (a running 'log append' does not)"
    )


@log.command("witnesses")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--set",
    "policies",
    multiple=True,
    metavar="POLICY",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Replace the witnesses by this tlog-policy's (repeat for one policy per trust-root "
    "version served: the log then meets every one's quorum).",
)
@click.option("--clear", is_flag=True, default=False, help="Remove every witness.")
@json_option()
@cli_errors
def witnesses_command(
    *, directory: Path, policies: tuple[Path, ...], clear: bool, as_json: bool
) -> None:
    """List, or replace, the witnesses that cosign DIR's checkpoints (OPS §6.5.5).

    A running 'keybundle log serve' follows the change at its next round, without a restart.

    \b
    Example:
      keybundle log witnesses log/ --set witnesses.policy
    """
    _load_config(directory)
    path = _config_dir(directory) / WITNESSES_FILE
    if policies and clear:
        raise UserError("--set and --clear are mutually exclusive")
    if clear:
        path.unlink(missing_ok=True)
    elif policies:
        texts = []
        for policy in policies:
            try:
                data = policy.read_bytes()
            except OSError as e:
                raise UserError(f"cannot read {policy}: {e.strerror or e}") from None
            parse_witness_policies(data, str(policy))
            if POLICY_SEPARATOR.encode() in data:
                raise UserError(f"{policy} holds a {POLICY_SEPARATOR.strip()!r} line")
            texts.append(data.decode("utf-8"))
        joined = POLICY_SEPARATOR.join(texts).encode("utf-8")
        parse_witness_policies(joined, "the new witnesses file")
        durable.replace(path, joined)
    config = _witness_config(directory)
    lines: list[str] = []
    rows: list[dict[str, Any]] = []
    for number, kept in enumerate(config.policies, start=1):
        lines.extend(
            f"policy {number}: witness {w.key_name} {w.vkey} {w.url}" for w in kept.witnesses
        )
        lines.append(f"policy {number}: quorum {kept.quorum}")
        listed = [
            {"name": w.name, "key_name": w.key_name, "vkey": w.vkey, "url": w.url}
            for w in kept.witnesses
        ]
        rows.append({"witnesses": listed, "quorum": kept.quorum})

    def text() -> None:
        for line in lines or ["no witnesses"]:
            say(line)

    emit(as_json, {"policies": rows}, text)


def _register_rotations() -> None:
    """``log rotations`` lives in its own module (it reads the log as a client does)."""
    from .log_history import rotations

    log.add_command(rotations)


_register_rotations()
