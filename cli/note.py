"""``keybundle note``: sign and verify C2SP signed notes (SPEC §2.4, CLI §10.3).

A thin adapter over :mod:`transparency_log.note`: ``sign`` loads a note key file
(``keybundle.custody``) and prints the signed note; ``verify`` opens a note with the
verifier keys given on the command line, with Go's ``note.Open`` semantics.
"""

from __future__ import annotations

from pathlib import Path

import click

from keybundle.custody import load_note_key, load_note_verifier_key
from transparency_log import note as tlog_note

from ._common import (
    UserError,
    cli_errors,
    emit,
    json_option,
    key_file_kind,
    passphrase_option,
    read_input,
    require_passphrase,
    say,
)

__all__ = ["note"]


@click.group("note")
def note() -> None:
    """Sign and verify C2SP signed notes."""


@note.command("sign")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A note or cosignature key file (PREFIX.key from `keybundle keys generate`).",
)
@click.argument("text_file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@passphrase_option
@json_option("Print one JSON object: the signed note as the member 'note'.")
@cli_errors
def sign(*, key_file: Path, text_file: str, passphrase_file: Path | None, as_json: bool) -> None:
    """Print FILE's text as a signed note (FILE '-' reads standard input).

    The text must be UTF-8, end in a newline and hold no control character but newline
    (C2SP signed-note); it is signed as it is, never changed.
    """
    data = read_input(text_file, "note text file", limit=tlog_note.MAX_NOTE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{text_file} is not UTF-8 text (byte {e.start})") from None
    if not text.endswith("\n"):
        raise UserError(
            f"{text_file} does not end in a newline; a note's text must (C2SP signed-note), "
            "and it is signed as it is"
        )
    with key_file.open("rb") as f:
        kind = key_file_kind(f.read(256))
    if kind in ("role private key", "role public key", "note verifier key"):
        raise UserError(
            f"--key {key_file} is a {kind}, not a note or cosignature key file; note keys are "
            "made by `keybundle keys generate --type note|cosignature` (PREFIX.key)"
        )
    source = require_passphrase(passphrase_file, what=f"key file {key_file}")
    signer = tlog_note.new_signer(load_note_key(key_file, source))
    signed = tlog_note.sign(text, signer)
    if as_json:
        emit(True, {"note": signed}, "")
        return
    click.echo(signed, nl=False)  # data, byte for byte: never escaped


def _verifier(value: str) -> tlog_note.Verifier:
    """A ``--vkey`` value: a verifier-key string, or the path of a file holding one."""
    try:
        return tlog_note.new_verifier(value)
    except ValueError as e:
        path = Path(value)
        if "+" not in value and path.is_file():
            return tlog_note.new_verifier(load_note_verifier_key(path))
        raise UserError(f"--vkey {value!r}: {e}") from None


@note.command("verify")
@click.argument("note_file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--vkey",
    "vkeys",
    multiple=True,
    required=True,
    metavar="VKEY",
    help="A trusted verifier key: the string <name>+<hash>+<key>, or a .pub file. Repeatable.",
)
@json_option("Print one JSON object on standard output.")
@cli_errors
def verify(*, note_file: str, vkeys: tuple[str, ...], as_json: bool) -> None:
    """Verify a signed note: exit 0 if at least one given key signed it.

    A signature by a given key that does not verify rejects the note (BAD_NOTE_SIGNATURE);
    signatures by other keys are listed as unverified and count for nothing (SPEC §2.4.6).
    """
    verifiers = tlog_note.Verifiers(_verifier(v) for v in vkeys)
    data = read_input(note_file, "note file", limit=tlog_note.MAX_NOTE_BYTES)
    opened = tlog_note.open_note(data, verifiers)
    verified = [s.name for s in opened.sigs]
    unverified = [s.name for s in opened.unverified_sigs]
    emit(
        as_json,
        {"verified": verified, "unverified": unverified},
        lambda: _print_verified(verified, unverified),
    )


def _print_verified(verified: list[str], unverified: list[str]) -> None:
    say(f"verified: {', '.join(verified)}")
    if unverified:
        say(f"unverified (unknown keys): {', '.join(unverified)}")
