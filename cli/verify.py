"""``keybundle verify``: the client decision (SPEC §7.3) as a command.

This path is run as a fresh process by clients and scripts, so it does not import click:
``keybundle_cli.main`` dispatches here before loading the click command tree, and only the
verifier's own modules are imported (bench/bench_verify.py measures it). A command line in
the canonical spellings (``--trust-root ROOT --state DIR [--now N] [--fleet F] [--log LOG]
[--json] PACKAGE``, in any order) is read directly; argparse (a few milliseconds of imports)
reads anything else, and words ``--help``. ``json`` is imported only to print JSON, and the
online mode (``keybundle.online`` and a fetcher; SPEC §7.5) only when ``--log`` is given.

One dialect with the click commands (issue 13): errors, rejections, the ``--json`` envelope,
escaping and ``--now`` are :mod:`keybundle_cli._output`'s, which every click command uses
too, and usage errors are reworded to the same one line (``keybundle: error: verify: ...;
see 'keybundle verify --help'``). Click itself is not used here: it is not in the base
install (CLI §10), and importing it would cost more than this whole command may add to the
bare import floor (bench/bench_verify.py).

Exit codes (CLI §10): 0 accepted and state saved; 1 rejected, state untouched; 2 bad
arguments or files, or (with ``--log``) the log could not be reached.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

from ._output import (
    ENV_STATE,
    ENV_TRUST_ROOT,
    EXIT_OK,
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
    import argparse

    from keybundle.client import MisbehaviourError
    from keybundle.payload import FleetKey
    from transparency_log.fetcher import Fetcher

__all__ = ["build_parser", "main", "run"]

_DESCRIPTION = """\
Verify an OTA package against a pinned trust root and the client state in DIR (SPEC §7.3).
On acceptance the new state is saved atomically and the fleet keys are printed (exit 0); on
rejection the state is left untouched and the reason code is printed (exit 1); bad usage or
files exit 2."""
_MAX_INPUT_BYTES = 4 << 20
"""Largest package or trust-root file read; each format has a smaller cap of its own."""
_COMMAND = "keybundle verify"
_EPILOG = f"""\
PACKAGE or ROOT '-' reads standard input; --evidence-out '-' writes standard output.
Environment: ${ENV_TRUST_ROOT} and ${ENV_STATE} are the defaults of --trust-root and --state.

Example:
  keybundle verify --trust-root trust-root.cbor --state client-state epoch-1.pkg --json
"""


class _UsageError(Exception):
    """Bad arguments or files: exit 2 with this message."""


class _Args:
    """The command line, read by :func:`_parse_canonical` or by argparse."""

    __slots__ = ("evidence_out", "fleet", "json", "log", "now", "package", "state", "trust_root")

    def __init__(
        self,
        package: str,
        *,
        trust_root: str,
        state: str,
        now: int | None,
        fleet: str | None,
        as_json: bool,
        log: str | None = None,
        evidence_out: str | None = None,
    ) -> None:
        self.package = package
        self.trust_root = trust_root
        self.state = state
        self.now = now
        self.fleet = fleet
        self.json = as_json
        self.log = log
        self.evidence_out = evidence_out


_VALUE_OPTIONS = {
    "--trust-root": "trust_root",
    "--state": "state",
    "--now": "now",
    "--fleet": "fleet",
    "--log": "log",
    "--evidence-out": "evidence_out",
}


def _parse_canonical(argv: list[str]) -> _Args | None:
    """Read a command line written in the canonical spellings, as argparse would.

    Returns None for anything else (``--option=value``, abbreviations, ``-h``, ``--``,
    values starting with ``-``, a missing or repeated positional, a missing required
    option, a ``--now`` that is not a §1 decimal), so that argparse decides and words it.
    ``--trust-root`` and ``--state`` default to ``$KEYBUNDLE_TRUST_ROOT`` and
    ``$KEYBUNDLE_STATE``, as in argparse.
    """
    values: dict[str, str] = {}
    as_json = False
    package: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = _VALUE_OPTIONS.get(arg)
        if name is not None:
            if i + 1 == len(argv) or (argv[i + 1].startswith("-") and argv[i + 1] != "-"):
                return None
            values[name] = argv[i + 1]  # repeated: the last one wins, as in argparse
            i += 2
        elif arg == "--json":
            as_json = True
            i += 1
        elif (arg.startswith("-") and arg != "-") or package is not None:
            return None
        else:
            package = arg
            i += 1
    now = values.get("now")
    trust_root = values["trust_root"] if "trust_root" in values else _env(ENV_TRUST_ROOT)
    state = values["state"] if "state" in values else _env(ENV_STATE)
    if package is None or trust_root is None or state is None:
        return None
    seconds = None if now is None else parse_decimal(now)
    if now is not None and seconds is None:
        return None
    return _Args(
        package,
        trust_root=trust_root,
        state=state,
        now=seconds,
        fleet=values.get("fleet"),
        as_json=as_json,
        log=values.get("log"),
        evidence_out=values.get("evidence_out"),
    )


def _env(name: str) -> str | None:
    """An environment variable's value; unset or empty is None (as for click's envvar)."""
    return os.environ.get(name) or None


def _parse(argv: list[str]) -> _Args:
    args = _parse_canonical(argv)
    if args is not None:
        return args
    parsed = build_parser(as_json="--json" in argv).parse_args(argv)
    return _Args(
        parsed.package,
        trust_root=parsed.trust_root,
        state=parsed.state,
        now=parsed.now,
        fleet=parsed.fleet,
        as_json=parsed.json,
        log=parsed.log,
        evidence_out=parsed.evidence_out,
    )


def _unix_seconds(text: str) -> int:
    value = parse_decimal(text)
    if value is None:
        import argparse

        raise argparse.ArgumentTypeError(
            f"{escape(text)!r} is not Unix seconds: give ASCII digits, no sign, no leading zero "
            "(SPEC §1 decimal), e.g. 1767225600"
        )
    return value


def build_parser(*, as_json: bool = False) -> argparse.ArgumentParser:
    """The argument parser of ``keybundle verify``; its errors are the envelope with
    ``as_json``."""
    import argparse

    class _Formatter(argparse.RawDescriptionHelpFormatter):
        def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any = None) -> None:
            super().add_usage(usage, actions, groups, "Usage: ")  # click's spelling

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            line = f"verify: {message}; see '{_COMMAND} --help'"
            if as_json:
                print_json(envelope(_COMMAND, EXIT_USAGE, None, message=line))
            else:
                sys.stderr.write(error_line(line) + "\n")
            raise SystemExit(EXIT_USAGE)

    p = _Parser(
        prog=_COMMAND,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    p._optionals.title = "Options"  # click's heading
    p._positionals.title = "Arguments"
    p.add_argument("package", metavar="PACKAGE", help="the OTA package file (SPEC §7.1)")
    trust_root = _env(ENV_TRUST_ROOT)
    state = _env(ENV_STATE)
    p.add_argument(
        "--trust-root",
        required=trust_root is None,
        default=trust_root,
        metavar="ROOT",
        help=f"the pinned signed trust root file (SPEC §5) [env var: {ENV_TRUST_ROOT}]",
    )
    p.add_argument(
        "--state",
        required=state is None,
        default=state,
        metavar="DIR",
        help="the client state directory (must exist; empty for a fresh client) "
        f"[env var: {ENV_STATE}]",
    )
    p.add_argument(
        "--now",
        type=_unix_seconds,
        metavar="UNIX_SECONDS",
        help="verify as of this time instead of the system clock (SPEC §1 decimal)",
    )
    p.add_argument(
        "--fleet", metavar="FLEET", help="reject a bundle for any other fleet (WRONG_FLEET)"
    )
    p.add_argument(
        "--log",
        metavar="URL|DIR",
        help="online mode (SPEC §7.5): fetch a missing consistency proof from this log's tiles",
    )
    p.add_argument(
        "--evidence-out",
        metavar="FILE",
        help="on a rejection that proves misbehaviour, write the evidence file (SPEC §8.4) to "
        "FILE (never replaced)",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (CLI §10.1)"
    )
    return p


def _read(path: str, what: str) -> bytes:
    try:
        if path == "-":
            data = sys.stdin.buffer.read(_MAX_INPUT_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(_MAX_INPUT_BYTES + 1)
    except OSError as e:
        raise _UsageError(f"cannot read {what} {path!r}: {e.strerror or e}") from e
    if len(data) > _MAX_INPUT_BYTES:
        raise _UsageError(f"{what} {path!r} is larger than {_MAX_INPUT_BYTES} bytes")
    return data


def _key_json(key: FleetKey) -> dict[str, Any]:
    """A fleet key as every command's JSON shows it (CLI §10.1): bytes in lowercase hex."""
    return {
        "id": key.key_id,
        "algorithm": key.algorithm,
        "usage": key.usage,
        "public_key": key.public_key.hex(),
        "fingerprint": key.fingerprint,
    }


def run(argv: list[str]) -> int:
    """Run ``keybundle verify`` with ``argv`` (without the command name); return the exit
    code."""
    args = _parse(argv)
    try:
        return _verify(args)
    except BrokenPipeError:
        return silence_stdout()
    except _UsageError as e:
        if args.json:
            print_json(envelope(_COMMAND, EXIT_USAGE, None, message=str(e)))
        else:
            print(error_line(str(e)), file=sys.stderr)
        return EXIT_USAGE


def _check_arguments(args: _Args) -> None:
    if args.package == "-" and args.trust_root == "-":
        raise _UsageError("PACKAGE and --trust-root cannot both be '-' (standard input)")
    if args.fleet == "":
        raise _UsageError("--fleet is empty; give the fleet id the app expects, e.g. prod-eu.vault")
    if args.evidence_out == "-" and args.json:
        raise _UsageError("--evidence-out - and --json both write to standard output")
    if os.path.exists(args.state) and not os.path.isdir(args.state):
        raise _UsageError(
            f"--state {args.state!r} is a file; give the client state directory (the folder "
            "holding state.cbor; an empty directory is a fresh client)"
        )
    if args.evidence_out not in (None, "-") and os.path.lexists(args.evidence_out):
        raise _UsageError(f"--evidence-out {args.evidence_out!r} exists; give a new file")


def _verify(args: _Args) -> int:
    from keybundle.embedded import Client
    from keybundle.state import CorruptStateError
    from transparency_log.errors import VerificationError

    as_json = args.json
    _check_arguments(args)
    root_bytes = _read(args.trust_root, "trust root")
    package = _read(args.package, "package")
    for data, path, kind in ((root_bytes, args.trust_root, "trust root"),
                             (package, args.package, "package")):  # fmt: skip
        wrong = other_kind(data, path, kind)
        if wrong is not None:
            raise _UsageError(wrong)
    try:
        client = Client(root_bytes, args.state)
    except VerificationError as e:
        raise _UsageError(
            f"trust root {args.trust_root!r} is not a valid signed trust root "
            f"({e.reason}): {e.message}"
        ) from e
    now = args.now if args.now is not None else int(time.time())
    fetcher = None if args.log is None else _fetcher(args.log)
    try:
        keys = client.accept(package, now=now, fleet=args.fleet, fetcher=fetcher)
    except VerificationError as e:
        evidence = _write_evidence(e, args, now)
        if as_json:
            result = {"accepted": False, "fleet": None, "epoch": None, "keys": [], **evidence}
            print_json(
                envelope(_COMMAND, EXIT_REJECTED, result, reason=e.reason, message=e.message)
            )
        else:
            print(rejection_line(e.reason, e.message), file=sys.stderr)
            if evidence.get("evidence"):
                print(f"evidence written to {escape(evidence['evidence'])}", file=sys.stderr)
            elif evidence.get("evidence_note"):
                print(f"note: {evidence['evidence_note']}", file=sys.stderr)
        return EXIT_REJECTED
    except FileNotFoundError as e:
        raise _UsageError(f"{e}; create it (an empty directory is a fresh client)") from e
    except CorruptStateError as e:
        raise _UsageError(
            f"the client state in {args.state!r} is corrupt: {e}. It is not reset "
            "automatically (that would allow rollback); restore it from a backup"
        ) from e
    except OSError as e:
        if _is_unreachable(e):
            raise _UsageError(f"{e} (log {args.log})") from e
        raise _UsageError(f"cannot read or save the client state in {args.state!r}: {e}") from e
    finally:
        if fetcher is not None:
            close = getattr(fetcher, "close", None)
            if close is not None:
                close()
    message = f"accepted fleet {keys.fleet_id!r} epoch {keys.epoch} with {len(keys.keys)} key(s)"
    if as_json:
        result = {
            "accepted": True,
            "fleet": keys.fleet_id,
            "epoch": keys.epoch,
            "keys": [_key_json(k) for k in keys.keys],
            "evidence": None,
        }
        print_json(envelope(_COMMAND, EXIT_OK, result))
    else:
        print(escape(message))
        rows = [
            [escape(str(v)) for v in (k.key_id, k.algorithm, k.usage, k.fingerprint)]
            for k in keys.keys
        ]
        rows.insert(0, ["id", "algorithm", "usage", "fingerprint (sha256)"])
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)]
            print("  " + "  ".join([*cells, r[3]]))
    return EXIT_OK


_NO_EVIDENCE_FORM = (
    "{reason} has no evidence file form (SPEC §7.3, §8.4): keep the package and the state "
    "directory as they are, they are the evidence"
)


def _write_evidence(error: Exception, args: _Args, now: int) -> dict[str, Any]:
    """With ``--evidence-out``: write a misbehaviour rejection's evidence (SPEC §8.4).

    Only a split view (INCONSISTENT_CHECKPOINT: two checkpoints of one size, both signed by
    the log) fits a §8.4 kind as the client holds it; the others carry no proof a third party
    can re-check from the client's objects alone (SPEC §7.3) and are named, not written.
    Returns the JSON members ``evidence`` (the file written, or None) and, if no file form
    fits, ``evidence_note``.
    """
    from keybundle.client import MisbehaviourError

    if args.evidence_out is None or not isinstance(error, MisbehaviourError):
        return {"evidence": None}
    document = _evidence_document(error, now)
    if document is None:
        return {"evidence": None, "evidence_note": _NO_EVIDENCE_FORM.format(reason=error.reason)}
    if args.evidence_out == "-":
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
        return {"evidence": "-"}
    from pathlib import Path

    from transparency_log import durable

    try:
        durable.create_new(Path(args.evidence_out), document, mode=0o644)
    except OSError as e:
        raise _UsageError(
            f"the package was rejected ({error.reason}), but the evidence could not be written "
            f"to {args.evidence_out!r}: {e.strerror or e}"
        ) from e
    return {"evidence": args.evidence_out}


def _evidence_document(error: MisbehaviourError, now: int) -> bytes | None:
    from keybundle.errors import Reason
    from keybundle.evidence import encode_evidence, split_view_evidence

    ev = error.evidence
    if error.reason != Reason.INCONSISTENT_CHECKPOINT:
        return None
    stored: bytes = ev["stored_checkpoint"]
    received: bytes = ev["package_checkpoint"]
    origin = stored.split(b"\n", 1)[0].decode("utf-8")
    return encode_evidence(
        split_view_evidence(stored, received, origin=origin, observed_at=now, message=error.message)
    )


def _is_unreachable(error: OSError) -> bool:
    """Whether ``error`` is online mode's ``LogUnreachableError`` (SPEC §7.5)."""
    if "keybundle.online" not in sys.modules:  # imported only in online mode
        return False
    from keybundle.online import LogUnreachableError

    return isinstance(error, LogUnreachableError)


def _fetcher(log: str) -> Fetcher:
    """Online mode (SPEC §7.5): a fetcher of ``log``'s tiles."""
    from transparency_log.fetcher import DirectoryFetcher, HTTPFetcher

    if log.startswith(("http://", "https://")):
        return HTTPFetcher(log)
    if os.path.isdir(log):
        return DirectoryFetcher(log)
    raise _UsageError(f"--log {log!r} is neither a directory nor an http:// or https:// URL")


def main() -> NoReturn:
    """``python -m keybundle_cli.verify``."""
    raise SystemExit(run(sys.argv[1:]))
