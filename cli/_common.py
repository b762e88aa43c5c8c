"""Shared helpers of the ``keybundle`` commands: exit codes (CLI §10), passphrases, files.

Every command is wrapped in :func:`cli_errors`, which is the one place that turns the
library's failures into the exit codes of CLI §10: a ``VerificationError`` is a rejection
(exit 1, ``rejected (CODE): message``), and a ``ValueError`` or ``OSError`` raised while
reading the user's files or arguments is something the user can fix (exit 2, one line).
Nothing else is caught, so a bug still shows as a bug.

Passphrases come, in this order, from ``--passphrase-file FILE``, the environment variable
``KEYBUNDLE_PASSPHRASE``, or a prompt when standard input is a terminal (CLI §10.1). The
library never reads a terminal itself (``keybundle.custody``); this module decides.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, Protocol, TypeVar

import click

from keybundle.errors import CorruptStateError
from keybundle.signers import COSE_ALG_EDDSA, COSE_ALG_ES256
from transparency_log import durable
from transparency_log.errors import VerificationError

from ._output import (
    ENV_PASSPHRASE_FILE,
    ENV_STATE,
    ENV_TRUST_ROOT,
    EXIT_REJECTED,
    EXIT_USAGE,
    envelope,
    error_line,
    escape,
    other_kind,
    parse_decimal,
    print_json,
    rejection_line,
    silence_stdout,
)

if TYPE_CHECKING:
    from keybundle.custody import PassphraseSource
    from keybundle.trustroot import TrustRoot

# keybundle.custody (the cryptography library's key serialization and ciphers) is imported
# only when a passphrase source or a signer is made: 'log append' with a plain log key
# never needs it.

__all__ = [
    "COSE_ALG_NAMES",
    "ENV_STATE",
    "ENV_TRUST_ROOT",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "MAX_INPUT_BYTES",
    "PASSPHRASE_ENV",
    "TRUST_ROOT",
    "UNIX_SECONDS",
    "PinnedTrustRoot",
    "TrustRootParam",
    "UnixSecondsParam",
    "UserError",
    "check_new_files",
    "cli_errors",
    "command_path",
    "emit",
    "emit_failure",
    "escape",
    "force_option",
    "json_option",
    "key_file_kind",
    "listen_errors",
    "load_trust_root",
    "open_signer",
    "passphrase_option",
    "passphrase_source",
    "read_input",
    "refuse_other_kind",
    "require_passphrase",
    "role_json",
    "say",
    "serve_until_stopped",
    "trust_root_option",
    "utc",
    "verification_json",
    "write_output",
]

PASSPHRASE_ENV = "KEYBUNDLE_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
"""Environment variable holding the passphrase of key files (CLI §10.1)."""
MAX_INPUT_BYTES = 4 << 20
"""Largest input file a command reads (SPEC §11); every format it holds has a smaller cap,
which the library then reports precisely."""

P = ParamSpec("P")
R = TypeVar("R")


class UserError(Exception):
    """A mistake the user can fix (bad option, unreadable file): exit 2 with this message."""


# -- errors and exit codes ----------------------------------------------------------------


def _os_error_message(e: OSError) -> str:
    if isinstance(e, FileExistsError) or e.errno == errno.EEXIST:
        return f"{e.filename}: the file exists; refusing to overwrite it (use --force)"
    where = f"{e.filename}: " if e.filename is not None else ""
    return f"{where}{e.strerror or e}"


def command_path() -> str:
    """The running command's path (``keybundle bundle inspect``), for the JSON envelope."""
    ctx = click.get_current_context(silent=True)
    return ctx.command_path if ctx is not None else "keybundle"


def _fail(code: int, message: str, reason: str | None, as_json: bool) -> NoReturn:
    if as_json:
        print_json(envelope(command_path(), code, None, reason=reason, message=message))
    elif reason is not None:
        click.echo(rejection_line(reason, message), err=True)
    else:
        click.echo(error_line(message), err=True)
    raise click.exceptions.Exit(code)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map failures to CLI §10 exit codes; apply below the click decorators.

    With ``--json`` (a parameter named ``as_json``) the error is the JSON envelope of SPEC
    CLI §10.1 on standard output (``error``: ``{"reason": CODE or null, "message"}``); otherwise
    one line on standard error, data in it escaped. Messages are the library's: they never
    contain key material.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("as_json", False))
        try:
            return func(*args, **kwargs)
        except VerificationError as e:
            _fail(EXIT_REJECTED, e.message, e.reason, as_json)
        except (UserError, CorruptStateError) as e:
            _fail(EXIT_USAGE, str(e), None, as_json)
        except BrokenPipeError:
            raise click.exceptions.Exit(silence_stdout()) from None
        except OSError as e:
            _fail(EXIT_USAGE, _os_error_message(e), None, as_json)
        except ValueError as e:
            _fail(EXIT_USAGE, str(e), None, as_json)

    return wrapper


# -- options ------------------------------------------------------------------------------


def json_option(help: str = "Print one JSON object.") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--json`` (parameter ``as_json``), declared once for every command.

    Eager, so that it is known before any other option is converted: an option that fails
    to convert (a bad ``--trust-root``) then reports its error as JSON too (CLI §10.1).
    """
    return click.option("--json", "as_json", is_flag=True, is_eager=True, help=help)


class PinnedTrustRoot:
    """A signed trust-root file the user named, verified against its own thresholds (§5.3).

    Only :func:`load_trust_root` makes one: holding one means the file was read once, within
    ``MAX_SIGNED_TRUST_ROOT_BYTES``, and verified as self-signed.
    """

    __slots__ = ("path", "root", "signed")

    def __init__(self, path: str, signed: bytes, root: TrustRoot) -> None:
        self.path = path
        self.signed = signed
        """The file's bytes: the signed trust root, as pinned."""
        self.root = root

    def __repr__(self) -> str:
        return f"PinnedTrustRoot({self.path!r}, version {self.root.version})"


def load_trust_root(path: str | os.PathLike[str]) -> PinnedTrustRoot:
    """Read and verify the signed trust root in ``path`` (``-``: standard input).

    A root that does not verify is the user's configuration problem (UserError, exit 2, as
    in ``keybundle verify``), not a rejection of the input being processed.
    """
    from keybundle.signed_trust_root import MAX_SIGNED_TRUST_ROOT_BYTES, verify_self_signed

    name = os.fspath(path)
    data = read_input(name, "trust root", limit=MAX_SIGNED_TRUST_ROOT_BYTES)
    refuse_other_kind(data, name, "trust root")
    try:
        return PinnedTrustRoot(name, data, verify_self_signed(data))
    except VerificationError as e:
        raise UserError(
            f"trust root {name} is not a valid signed trust root ({e.reason}): {e.message}"
        ) from None


if TYPE_CHECKING:
    _TrustRootParamBase = click.ParamType[PinnedTrustRoot]
else:  # click 8.1, which pyproject allows, cannot subscript ParamType at run time
    _TrustRootParamBase = click.ParamType


class TrustRootParam(_TrustRootParamBase):
    """A ``--trust-root`` value: loaded and verified once, at the command line's edge.

    A file that cannot be read or does not verify fails here, with the one-line (or JSON)
    error and exit code 2 of every user error (CLI §10.1), before the command runs.
    """

    name = "ROOT"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> PinnedTrustRoot:
        """The :class:`PinnedTrustRoot` in the file ``value`` names."""
        if isinstance(value, PinnedTrustRoot):
            return value
        as_json = bool(ctx is not None and ctx.params.get("as_json"))
        try:
            return load_trust_root(str(value))
        except UserError as e:
            _fail(EXIT_USAGE, str(e), None, as_json)
        except OSError as e:
            _fail(EXIT_USAGE, _os_error_message(e), None, as_json)


TRUST_ROOT = TrustRootParam()
"""The click type of every ``--trust-root`` option."""


def trust_root_option(
    help: str,
    *,
    required: bool = True,
    flag: str = "--trust-root",
    name: str = "trust_root",
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--trust-root ROOT`` (parameter ``trust_root``, a :class:`PinnedTrustRoot`).

    ``--trust-root`` defaults to ``$KEYBUNDLE_TRUST_ROOT`` (CLI §10.1): the option a script
    gives every time. Other flags (``--previous``) have no environment variable.
    """
    envvar = ENV_TRUST_ROOT if flag == "--trust-root" else None
    return click.option(
        flag,
        name,
        type=TRUST_ROOT,
        required=required,
        metavar="ROOT",
        envvar=envvar,
        show_envvar=envvar is not None,
        help=help,
    )


if TYPE_CHECKING:
    _UnixSecondsBase = click.ParamType[int]
else:  # click 8.1 cannot subscript ParamType at run time
    _UnixSecondsBase = click.ParamType


class UnixSecondsParam(_UnixSecondsBase):
    """A ``--now`` value: Unix seconds as a SPEC §1 decimal, nothing else.

    ``click.INT`` (Python's ``int``) would also take ``+5``, ``0005``, ``1_000`` and
    Arabic-Indic digits; CLI §10.7 asks for exit 2 on all of them.
    """

    name = "UNIX_SECONDS"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        """The integer ``value`` spells, or a usage error (exit 2)."""
        if isinstance(value, int):
            return value
        parsed = parse_decimal(str(value))
        if parsed is None:
            self.fail(
                f"{escape(str(value))!r} is not Unix seconds: give ASCII digits, no sign, no "
                "leading zero (SPEC §1 decimal), e.g. 1767225600",
                param,
                ctx,
            )
        return parsed


UNIX_SECONDS = UnixSecondsParam()
"""The click type of every ``--now``."""


def passphrase_option(func: Callable[P, R]) -> Callable[P, R]:
    """Add ``--passphrase-file FILE`` (parameter ``passphrase_file``)."""
    return click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar=ENV_PASSPHRASE_FILE,
        show_envvar=True,
        help=f"Read the key-file passphrase from FILE (else ${PASSPHRASE_ENV}, else a prompt "
        "when standard input is a terminal).",
    )(func)


def force_option(func: Callable[P, R]) -> Callable[P, R]:
    """Add ``--force`` (parameter ``force``): replace existing output files."""
    return click.option(
        "--force", is_flag=True, default=False, help="Replace output files that already exist."
    )(func)


# -- passphrases ----------------------------------------------------------------------------


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _prompt(confirm: bool) -> Callable[[str], str]:
    def ask(message: str) -> str:
        value: str = click.prompt(
            message.rstrip(": "),
            hide_input=True,
            confirmation_prompt=confirm,
            err=True,
        )
        return value

    return ask


def passphrase_source(
    passphrase_file: Path | None, *, confirm: bool = False, what: str = "the key file"
) -> PassphraseSource | None:
    """The passphrase source the user chose (CLI §10.1), or None if there is none.

    ``--passphrase-file`` wins over ``$KEYBUNDLE_PASSPHRASE``, which wins over a prompt;
    the prompt is offered only when standard input is a terminal, so scripts never hang.
    ``confirm`` asks twice (for a new key file).
    """
    from keybundle.custody import PassphraseEnv, PassphraseFile, PassphrasePrompt

    if passphrase_file is not None:
        return PassphraseFile(passphrase_file)
    if PASSPHRASE_ENV in os.environ:
        return PassphraseEnv(PASSPHRASE_ENV)
    if _stdin_is_tty():
        return PassphrasePrompt(_prompt(confirm), f"Passphrase for {what}: ")
    return None


_HOW_TO_GIVE_A_PASSPHRASE = (
    f"give --passphrase-file FILE, set {PASSPHRASE_ENV}, or run the command in a terminal "
    "to be prompted"
)


class _MissingPassphrase:
    """A source that explains, when it is read, how to give a passphrase."""

    def __init__(self, what: str) -> None:
        self._what = what

    def read(self) -> bytes:
        raise UserError(
            f"{self._what} needs a passphrase and none was given: {_HOW_TO_GIVE_A_PASSPHRASE}"
        )


def require_passphrase(
    passphrase_file: Path | None, *, confirm: bool = False, what: str = "the key file"
) -> PassphraseSource:
    """Like :func:`passphrase_source`, but a missing passphrase is a :class:`UserError`.

    The error is raised only when the passphrase is actually needed (when the source is
    read), so a key file that turns out to need none (a plain note key, a PKCS#11 URI with
    its own PIN) loads without one.
    """
    source = passphrase_source(passphrase_file, confirm=confirm, what=what)
    return source if source is not None else _MissingPassphrase(what)


# -- files ----------------------------------------------------------------------------------


def read_input(path: str, what: str, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most ``limit`` + 1 of them read.

    One byte more than ``limit`` is returned for an oversized file, so that the library's
    own size check names the limit of the format; beyond :data:`MAX_INPUT_BYTES` this
    refuses directly.
    """
    cap = min(limit, MAX_INPUT_BYTES) + 1
    if path == "-":
        data = sys.stdin.buffer.read(cap)
    else:
        try:
            with Path(path).open("rb") as f:
                data = f.read(cap)
        except IsADirectoryError:
            raise UserError(f"{what} {path} is a directory; give a file") from None
        except OSError as e:
            raise UserError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise UserError(f"{what} {path} is larger than {MAX_INPUT_BYTES} bytes")
    return data


def refuse_other_kind(data: bytes, path: str, expected: str) -> None:
    """A :class:`UserError` (exit 2) naming the kind of ``data`` and the command for it, if
    it is plainly not a ``expected`` (:func:`~keybundle_cli._output.other_kind`)."""
    message = other_kind(data, path, expected)
    if message is not None:
        raise UserError(message)
    # Key files are ASCII text; every CBOR format here starts with a byte >= 0x80 (a map or
    # a tag), so a binary file is never taken for a verifier-key line by chance.
    kind = key_file_kind(data) if data.isascii() else "unknown"
    if kind != "unknown":
        raise UserError(f"{path} is a {kind}, not a {expected}; see `keybundle keys show`")


def check_new_files(paths: list[Path], *, force: bool) -> None:
    """Refuse (UserError) if a directory of ``paths`` is missing, or if any of them exists
    and ``force`` is not set."""
    for path in paths:
        if not path.parent.is_dir():
            raise UserError(f"cannot write {path}: directory {path.parent} does not exist")
        if force:
            continue
        if path.exists() or path.is_symlink():
            raise UserError(f"{path} already exists; refusing to overwrite it (use --force)")


def write_output(path: Path, data: bytes, *, force: bool, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (:mod:`transparency_log.durable`); ``-`` is
    standard output (CLI §10.1), after which :func:`say` writes to standard error.

    Without ``force`` an existing ``path`` is never replaced, even one that appeared after
    the check (:func:`~transparency_log.durable.create_new`).
    """
    if str(path) == "-":
        if _json_requested():
            raise UserError("-o - and --json both write to standard output; drop one of them")
        if mode & 0o077 == 0:
            raise UserError("refusing to write a private key to standard output")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta[_STDOUT_TAKEN] = True
        return
    check_new_files([path], force=force)
    if force:
        durable.replace(path, data, mode=mode)
        return
    try:
        durable.create_new(path, data, mode=mode)
    except FileExistsError:
        raise UserError(f"{path} already exists; refusing to overwrite it (use --force)") from None


_STDOUT_TAKEN = "keybundle.stdout_taken"
"""``click.Context.meta`` key: the command wrote its data to standard output (``-o -``)."""


def _json_requested() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("as_json"))


def say(line: str = "") -> None:
    """Print one human-readable line; on standard error once standard output holds data.

    ``line`` is escaped (:func:`escape`): every human-readable line carries names and
    messages from input files, and none of it may drive the terminal (CLI §10.1).
    """
    ctx = click.get_current_context(silent=True)
    taken = bool(ctx is not None and ctx.meta.get(_STDOUT_TAKEN))
    click.echo(escape(line), err=taken)


def emit_failure(
    as_json: bool,
    code: int,
    result: dict[str, Any],
    message: str,
    lines: Callable[[], None],
    *,
    reason: str | None = None,
) -> NoReturn:
    """A command that ends with exit ``code`` (1) *and* a result (failed vectors, differing
    files, a witness quorum not met): the envelope holds both, with ``reason`` (a SPEC §9
    code, or None), or ``lines`` prints them."""
    if as_json:
        print_json(envelope(command_path(), code, result, reason=reason, message=message))
    else:
        lines()
    raise click.exceptions.Exit(code)


def emit(as_json: bool, result: dict[str, Any], lines: Callable[[], None] | str) -> None:
    """The success output of a command: the JSON envelope around ``result`` with ``--json``,
    else ``lines`` (a string is said as one line; a callable prints its own)."""
    if as_json:
        print_json(envelope(command_path(), 0, result))
    elif isinstance(lines, str):
        say(lines)
    else:
        lines()


# -- signers ------------------------------------------------------------------


_KEY_FILE_PEEK = 256


def key_file_kind(data: bytes) -> str:
    """What a key file holds, from its first bytes (SPEC §4.3, CLI §10.2), without decrypting it.

    One of ``role private key``, ``role public key``, ``note private key``, ``note verifier
    key`` or ``unknown``: commands check it before asking for a passphrase, so that a note
    key or a ``.pub`` given as ``--key`` is named as such rather than "needs a passphrase".
    """
    head = data.lstrip()[:_KEY_FILE_PEEK]
    if head.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"):
        return "role private key"
    if head.startswith(b"-----BEGIN PUBLIC KEY-----"):
        return "role public key"
    if head.startswith((b"PRIVATE+KEY+", b"keybundle-note-key v1\n")):
        return "note private key"
    first = head.split(b"\n", 1)[0]
    if first.count(b"+") >= 2 and b" " not in first:
        return "note verifier key"
    return "unknown"


_ROLE_KEY_HINT = "role keys are made by `keybundle keys generate --algorithm ed25519|p256`"


def _check_role_key_file(ref: str) -> None:
    with Path(ref).open("rb") as f:
        kind = key_file_kind(f.read(_KEY_FILE_PEEK))
    if kind == "role private key":
        return
    if kind == "role public key":
        raise UserError(
            f"--key {ref} is a public key; give the private key file (PREFIX.key, not PREFIX.pub)"
        )
    if kind in ("note private key", "note verifier key"):
        raise UserError(
            f"--key {ref} is a {kind} (a log's or a witness's signed-note key), not a role "
            f"key; {_ROLE_KEY_HINT}"
        )
    raise UserError(
        f"--key {ref} is not a role key file (an encrypted PKCS#8 PEM); {_ROLE_KEY_HINT}, or "
        "give a pkcs11: URI"
    )


@contextlib.contextmanager
def open_signer(
    ref: str,
    passphrase_file: Path | None,
    *,
    role: str | None = None,
    root: PinnedTrustRoot | None = None,
) -> Iterator[Any]:
    """The signer a key reference names (a key file or a ``pkcs11:`` URI, SPEC §4.3).

    A key file is first checked to be a role private key (a note key or a public key is
    named as such, exit 2), then the passphrase (or PKCS#11 PIN, when the URI carries none)
    is asked for only if needed. With ``role`` and ``root``, a key that is not a key of that
    role of ``root`` is refused as soon as it is opened (exit 2), before anything is signed.
    A PKCS#11 session is closed at the end; the token's own failures (``RuntimeError`` from
    ``keybundle.pkcs11``) are problems of the user's HSM set-up, so they exit 2.
    """
    from keybundle.custody import load_signer

    is_uri = ref.startswith("pkcs11:")
    if not is_uri:
        _check_role_key_file(ref)
    what = "the PKCS#11 token" if is_uri else f"key file {ref}"
    source = require_passphrase(passphrase_file, what=what)
    try:
        signer = load_signer(ref, source)
    except RuntimeError as e:
        if not is_uri:
            raise
        raise UserError(str(e)) from None
    try:
        if role is not None and root is not None:
            held = root.root.role(role).organisation_of.get(signer.kid)
            if held is None:
                other = role_json(root.root, signer.kid)["role"]
                found = f"an {other} key" if other else "not a key"
                raise UserError(
                    f"key {signer.kid.hex()} is {found} of trust root {root.path} (version "
                    f"{root.root.version}), and this step needs an {role} key; clients would "
                    "reject the signature (UNKNOWN_KEY)"
                )
        yield signer
    except RuntimeError as e:
        if not is_uri:
            raise
        raise UserError(str(e)) from None
    finally:
        close = getattr(signer, "close", None)
        if close is not None:
            close()


# -- servers ------------------------------------------------------------------------------


@contextlib.contextmanager
def listen_errors(host: str, port: int) -> Iterator[None]:
    """Turn a failure to bind ``host:port`` into one line naming the address (exit 2).

    The socket's own message ("Address already in use") names neither the address nor
    what to do about it.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        yield
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UserError(
                f"cannot listen on {where}: the address is already in use (another server "
                "is listening there; stop it or choose another port)"
            ) from None
        raise UserError(f"cannot listen on {where}: {e.strerror or e}") from None
    except ValueError as e:
        # waitress: an address that does not resolve ("Invalid host/port specified.")
        raise UserError(
            f"cannot listen on {where}: {str(e).rstrip('.') or 'not a valid address'} (give an "
            "address of this machine, e.g. 127.0.0.1 or [::1], and a port 0-65535)"
        ) from None


class _Server(Protocol):
    def serve_forever(self) -> None: ...

    def close(self) -> None: ...


def serve_until_stopped(server: _Server, ready: Callable[[], None] | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM (a service manager's stop), then close the server.

    SIGTERM is turned into the same KeyboardInterrupt as Ctrl-C for the time of serving, so
    that the caller's cleanup (closing the log, releasing the witness state) runs either way.
    ``ready`` (the "listening on" line) runs once that holds: whoever stops the server when
    it reads that line is handled like any later stop.
    """

    # A stop that arrives while ready() writes its lines (the "listening" line, then
    # records) is held until they are written: Python runs signal handlers in the main
    # thread, whichever thread the signal reached.
    writing = ready is not None
    held = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal held
        if writing:
            held = True
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if ready is not None:
            ready()
            writing = False
            if held:
                raise KeyboardInterrupt
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()


# -- formatting -----------------------------------------------------------------------------

COSE_ALG_NAMES = {COSE_ALG_EDDSA: "EdDSA", COSE_ALG_ES256: "ES256"}
"""The names ``inspect`` shows for the COSE algorithms of SPEC §4 (RFC 9053)."""


def utc(seconds: int) -> str:
    """Unix seconds as an ISO 8601 UTC time (``2025-01-31T12:00:00Z``)."""
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"{seconds} (beyond the calendar range)"


def verification_json(verify: Callable[[], object]) -> dict[str, Any]:
    """Run one verification; its outcome as JSON (never raises VerificationError).

    ``inspect`` commands show every check's outcome rather than stopping at the first
    rejection: ``{"verified": true}`` or ``{"verified": false, "reason", "message"}``.
    """
    try:
        verify()
    except VerificationError as e:
        return {"verified": False, "reason": e.reason, "message": e.message}
    return {"verified": True}


def role_json(root: TrustRoot, kid: bytes) -> dict[str, Any]:
    """The role and organisation that hold key ``kid`` in ``root`` (both None if none)."""
    for name in ("independent", "operator"):
        organisation = root.role(name).organisation_of.get(kid)
        if organisation is not None:
            return {"role": name, "organisation": organisation}
    return {"role": None, "organisation": None}
