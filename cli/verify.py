"""``keybundle verify``: the client decision (SPEC §7.3) as a command.

This path is run as a fresh process by clients and scripts, so it does not import click:
``keybundle_cli.main`` dispatches here before loading the click command tree, and only the
verifier's own modules are imported (bench/bench_verify.py measures it). A command line in
the canonical spellings (``--trust-root ROOT --state DIR [--now N] [--fleet F] [--log LOG]
[--json] PACKAGE``, in any order) is read directly; argparse (a few milliseconds of imports)
reads anything else, and words every usage error and ``--help``. ``json`` is imported only to
print JSON, and the online mode (``keybundle.online`` and a fetcher; SPEC §7.5) only when
``--log`` is given.

Exit codes (SPEC §10): 0 accepted and state saved; 1 rejected, state untouched; 2 bad
arguments or files, or (with ``--log``) the log could not be reached.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import argparse

    from keybundle.payload import FleetKey
    from transparency_log.fetcher import Fetcher

__all__ = ["build_parser", "main", "run"]

_DESCRIPTION = (
    "Verify an OTA package against a pinned trust root and the client state in DIR "
    "(SPEC §7.3). On acceptance the new state is saved atomically and the fleet keys are "
    "printed; on rejection the state is left untouched and the reason code is printed."
)
_MAX_INPUT_BYTES = 4 << 20
"""Largest package or trust-root file read; each format has a smaller cap of its own."""


class _UsageError(Exception):
    """Bad arguments or files: exit 2 with this message."""


class _Args:
    """The command line, read by :func:`_parse_canonical` or by argparse."""

    __slots__ = ("fleet", "json", "log", "now", "package", "state", "trust_root")

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
    ) -> None:
        self.package = package
        self.trust_root = trust_root
        self.state = state
        self.now = now
        self.fleet = fleet
        self.json = as_json
        self.log = log


_VALUE_OPTIONS = {
    "--trust-root": "trust_root",
    "--state": "state",
    "--now": "now",
    "--fleet": "fleet",
    "--log": "log",
}


def _parse_canonical(argv: list[str]) -> _Args | None:
    """Read a command line written in the canonical spellings, as argparse would.

    Returns None for anything else (``--option=value``, abbreviations, ``-h``, ``--``,
    values starting with ``-``, a missing or repeated positional, a missing required
    option, a ``--now`` that is not ASCII digits), so that argparse decides and words it.
    """
    values: dict[str, str] = {}
    as_json = False
    package: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = _VALUE_OPTIONS.get(arg)
        if name is not None:
            if i + 1 == len(argv) or argv[i + 1].startswith("-"):
                return None
            values[name] = argv[i + 1]  # repeated: the last one wins, as in argparse
            i += 2
        elif arg == "--json":
            as_json = True
            i += 1
        elif arg.startswith("-") or package is not None:
            return None
        else:
            package = arg
            i += 1
    now = values.get("now")
    if package is None or "trust_root" not in values or "state" not in values:
        return None
    if now is not None and not (now.isascii() and now.isdigit()):
        return None
    return _Args(
        package,
        trust_root=values["trust_root"],
        state=values["state"],
        now=None if now is None else int(now),
        fleet=values.get("fleet"),
        as_json=as_json,
        log=values.get("log"),
    )


def _parse(argv: list[str]) -> _Args:
    args = _parse_canonical(argv)
    if args is not None:
        return args
    parsed = build_parser().parse_args(argv)
    return _Args(
        parsed.package,
        trust_root=parsed.trust_root,
        state=parsed.state,
        now=parsed.now,
        fleet=parsed.fleet,
        as_json=parsed.json,
        log=parsed.log,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``keybundle verify``."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            self.print_usage(sys.stderr)
            sys.stderr.write(f"keybundle verify: error: {message}\n")
            raise SystemExit(2)

    p = _Parser(prog="keybundle verify", description=_DESCRIPTION)
    p.add_argument("package", metavar="PACKAGE", help="the OTA package file (SPEC §7.1)")
    p.add_argument(
        "--trust-root",
        required=True,
        metavar="ROOT",
        help="the pinned signed trust root file (SPEC §5)",
    )
    p.add_argument(
        "--state",
        required=True,
        metavar="DIR",
        help="the client state directory (must exist; empty for a fresh client)",
    )
    p.add_argument(
        "--now",
        type=int,
        metavar="UNIX_SECONDS",
        help="verify as of this time instead of the system clock",
    )
    p.add_argument(
        "--fleet", metavar="FLEET", help="reject a bundle for any other fleet (WRONG_FLEET)"
    )
    p.add_argument(
        "--log",
        metavar="URL|DIR",
        help="online mode (SPEC §7.5): fetch a missing consistency proof from this log's tiles",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_INPUT_BYTES + 1)
    except OSError as e:
        raise _UsageError(f"cannot read {what} {path!r}: {e.strerror or e}") from e
    if len(data) > _MAX_INPUT_BYTES:
        raise _UsageError(f"{what} {path!r} is larger than {_MAX_INPUT_BYTES} bytes")
    return data


def _key_json(key: FleetKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "algorithm": key.algorithm,
        "usage": key.usage,
        "public_key": base64.b64encode(key.public_key).decode("ascii"),
        "fingerprint": key.fingerprint,
    }


def run(argv: list[str]) -> int:
    """Run ``keybundle verify`` with ``argv`` (without the command name); return the exit
    code."""
    args = _parse(argv)
    as_json = args.json
    try:
        return _verify(args, as_json)
    except _UsageError as e:
        print(f"keybundle verify: {e}", file=sys.stderr)
        if as_json:
            import json

            print(json.dumps({"error": str(e), "reason": None}))
        return 2


def _verify(args: _Args, as_json: bool) -> int:
    from keybundle.embedded import Client
    from keybundle.state import CorruptStateError
    from transparency_log.errors import VerificationError

    if args.now is not None and args.now < 0:
        raise _UsageError("--now must be a non-negative number of Unix seconds")
    root_bytes = _read(args.trust_root, "trust root")
    package = _read(args.package, "package")
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
        if as_json:
            import json

            print(
                json.dumps(
                    {
                        "accepted": False,
                        "reason": e.reason,
                        "message": e.message,
                        "fleet": None,
                        "epoch": None,
                        "keys": [],
                    }
                )
            )
        else:
            print(f"rejected ({e.reason}): {e.message}", file=sys.stderr)
        return 1
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
        import json

        print(
            json.dumps(
                {
                    "accepted": True,
                    "reason": None,
                    "message": message,
                    "fleet": keys.fleet_id,
                    "epoch": keys.epoch,
                    "keys": [_key_json(k) for k in keys.keys],
                }
            )
        )
    else:
        print(message)
        for k in keys.keys:
            j = _key_json(k)
            print(f"  {j['key_id']}  {j['algorithm']:<11} {j['usage']:<14} {j['fingerprint']}")
    return 0


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
