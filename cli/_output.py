"""The output conventions every ``keybundle`` command shares (CLI §10.1), with or without click.

``keybundle verify`` parses its command line without click (it must start fast and run on the
base install, CLI §10.7); every other command is click. Both speak through this module, so
that a script sees one dialect whichever parser ran:

* one line per error on standard error, ``keybundle: error: <what> (<what to do>)`` (exit 2),
  or ``rejected (<CODE>): <message>`` (exit 1);
* with ``--json``, one JSON object on standard output, the *envelope* of CLI §10.1 (schema
  ``docs/cli-output.schema.json``), the same shape for success and error;
* data shown to a person is escaped (:func:`escape`): a fleet name holding U+202E or an
  escape sequence cannot rewrite the terminal;
* ``--now`` and other numbers are SPEC §1 decimals (:func:`parse_decimal`).

Importing this module costs nothing measurable: ``json`` is imported only to print JSON.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = [
    "ENV_PASSPHRASE_FILE",
    "ENV_STATE",
    "ENV_TRUST_ROOT",
    "EXIT_BROKEN_PIPE",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "SCHEMA",
    "envelope",
    "error_line",
    "escape",
    "other_kind",
    "parse_decimal",
    "print_json",
    "rejection_line",
    "silence_stdout",
]

SCHEMA = "keybundle-cli/1"
"""The ``schema`` member of every ``--json`` envelope (CLI §10.1); bumped on any change that
is not a new optional member."""

EXIT_OK = 0
EXIT_REJECTED = 1
"""Exit code: verification rejected the input (CLI §10)."""
EXIT_USAGE = 2
"""Exit code: bad usage, or a file or argument the user can fix (CLI §10)."""
EXIT_BROKEN_PIPE = 141
"""Exit code: the reader of standard output went away (``| head -1``), as for a process
that SIGPIPE ended (128 + 13, CLI §10)."""

ENV_TRUST_ROOT = "KEYBUNDLE_TRUST_ROOT"
"""Environment variable: the default of every ``--trust-root`` (CLI §10.1)."""
ENV_STATE = "KEYBUNDLE_STATE"
"""Environment variable: the default ``--state`` of ``verify`` and ``client bootstrap``."""
ENV_PASSPHRASE_FILE = "KEYBUNDLE_PASSPHRASE_FILE"  # noqa: S105 (a variable name)
"""Environment variable: the default ``--passphrase-file`` (CLI §10.1)."""

_MAX_DECIMAL_DIGITS = 20
_MAX_DECIMAL = (1 << 63) - 1


def escape(text: str) -> str:
    r"""``text`` with every character that is not printable written as a Python escape.

    Control characters (C0, DEL, C1 such as U+009B, the 8-bit CSI), bidirectional overrides
    and isolates (U+202A-U+202E, U+2066-U+2069), line separators and other format characters
    are what ``str.isprintable`` refuses; they become ``\x9b``, ``\u202e``... Applied to every
    piece of data a human-readable line shows (names, messages quoting input), so that input
    cannot rewrite or reorder what the terminal displays. JSON output is not escaped this way
    (``json.dumps`` escapes what JSON needs; a program reads it, not a terminal).
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def parse_decimal(text: str, *, maximum: int = _MAX_DECIMAL) -> int | None:
    """``text`` as a SPEC §1 *decimal* (ASCII digits, no sign, no leading zero, no ``_``, at
    most 20 digits and ``maximum``), or None if it is not one.

    ``int()`` alone would take ``+5``, ``0005``, ``1_000``, `` 7`` and non-ASCII digits.
    """
    if not (0 < len(text) <= _MAX_DECIMAL_DIGITS and text.isascii() and text.isdigit()):
        return None
    if text[0] == "0" and text != "0":
        return None
    value = int(text)
    return value if value <= maximum else None


_KINDS: tuple[tuple[str, bytes, str, str], ...] = (
    # (kind, first bytes, what it is, the command for it)
    ("trust root", b"\xd8\x62", "a signed trust root (a COSE_Sign, CBOR tag 98)",
     "keybundle trust-root inspect"),
    ("bundle", b"\xd2", "a key bundle (a COSE_Sign1, CBOR tag 18)", "keybundle bundle inspect"),
    ("key", b"-----BEGIN ", "a PEM key file", "keybundle keys show"),
    ("json", b"{", "JSON text (a FLEET.json?)", "keybundle bundle build"),
    ("json", b"[", "JSON text", "keybundle bundle build"),
)  # fmt: skip


def other_kind(data: bytes, path: str, expected: str) -> str | None:
    """The one-line error for a file of another kind than ``expected`` (``package``,
    ``bundle``, ``trust root``), recognised by its first bytes; None if it may be one.

    A signed trust root given as a package otherwise reads "tag 98 at offset 0 is not
    allowed here", and a FLEET.json "a text string needs 729618471753377125 bytes": true of
    the bytes, useless to the person who picked the wrong file (issue 13).
    """
    head = data.lstrip() if data[:1].isspace() else data
    for kind, prefix, what, command in _KINDS:
        if kind != expected and head.startswith(prefix):
            return f"{path} is {what}, not a {expected}; see `{command}`"
    return None


def error_line(message: str) -> str:
    """The one line of a user error (exit 2), data in it escaped."""
    return f"keybundle: error: {escape(message)}"


def rejection_line(reason: str, message: str) -> str:
    """The one line of a rejection (exit 1), data in it escaped."""
    return f"rejected ({reason}): {escape(message)}"


def envelope(
    command: str,
    exit_code: int,
    result: dict[str, Any] | None,
    *,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The ``--json`` object of CLI §10.1, for success (``error`` null) and failure alike.

    ``command`` is the command path (``keybundle bundle inspect``); ``result`` the command's
    own object (null when it failed before having one); ``error`` is null exactly when
    ``exit`` is 0, else ``{"reason": CODE or null, "message": ...}``.
    """
    error = None
    if exit_code != EXIT_OK:
        error = {"reason": reason, "message": message or ""}
    return {
        "schema": SCHEMA,
        "command": command,
        "ok": exit_code == EXIT_OK,
        "exit": exit_code,
        "result": result,
        "error": error,
    }


def silence_stdout() -> int:
    """After a ``BrokenPipeError`` on standard output: point it at ``/dev/null`` so that
    nothing more fails (Python's final flush included), and return
    :data:`EXIT_BROKEN_PIPE`. No traceback and no error line: the reader chose to stop
    reading, as ``head`` does; what the command did (a saved client state) stands.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (a test's captured stdout)
        pass
    return EXIT_BROKEN_PIPE


def print_json(obj: dict[str, Any]) -> None:
    """One JSON object, one line, on standard output."""
    import json

    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
