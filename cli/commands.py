"""The ``keybundle`` click command tree.

Subcommand modules are imported only when their command runs, so that start-up stays cheap
and ``--help`` lists every command without importing them all.

Exit codes (CLI §10): 0 success; 1 verification rejected the input; 2 bad usage,
unreadable or malformed files, or another error the user can fix.

Usage errors are click's, reworded to the one line of CLI §10.1 (``keybundle: error:
<command>: <what>; see '<command> --help'``, or the JSON envelope with ``--json``) by
:meth:`_LazyGroup.main`, the same line ``keybundle verify`` prints without click. Every
command's ``--help`` ends with an example (:data:`EXAMPLES`).
"""

from __future__ import annotations

import errno
import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from ._output import EXIT_USAGE, envelope, error_line, print_json

__all__ = ["EXAMPLES", "cli"]

# command name -> (module under keybundle_cli, attribute, one-line help)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "keys": ("keys", "keys", "Generate and inspect signing keys (note, cosignature, role keys)."),
    "log": ("log", "log", "Create, append to, prove from and serve a transparency log."),
    "note": ("note", "note", "Sign and verify C2SP signed notes."),
    "package": ("package", "package", "Assemble OTA packages from a log."),
    "bundle": ("bundle", "bundle", "Build, sign, countersign, inspect and verify key bundles."),
    "client": ("client", "client", "Write the initial state an app's embedded client ships."),
    "conformance": ("conformance", "conformance", "Check a verifier against the vectors."),
    "demo": ("demo", "demo", "Run the whole issuance end to end on a local log."),
    "trust-root": ("trust_root", "trust_root", "Create, sign, inspect and verify trust roots."),
    "vectors": ("vectors", "vectors", "Generate the conformance vectors, or check them."),
    "verify": ("commands", "verify", "Verify an OTA package as a client and update its state."),
    "witness": ("witness", "witness", "Run a C2SP tlog-witness that cosigns logs' checkpoints."),
    "monitor": ("monitor", "monitor", "Follow a log as an auditor; keep evidence of misbehaviour."),
    "evidence": ("evidence", "evidence", "Re-check an auditor's evidence of misbehaviour offline."),
}


EXAMPLES: dict[str, str] = {
    "bundle build": "keybundle bundle build fleet-epoch-1.json -o epoch-1.payload",
    "bundle sign": "keybundle bundle sign --key keys/independent.key --trust-root "
    "trust-root.cbor epoch-1.payload -o epoch-1.signed",
    "bundle countersign": "keybundle bundle countersign --key keys/operator.key --trust-root "
    "trust-root.cbor epoch-1.signed -o epoch-1.cose",
    "bundle inspect": "keybundle bundle inspect epoch-1.cose --trust-root trust-root.cbor --json",
    "bundle verify": "keybundle bundle verify epoch-1.cose --trust-root trust-root.cbor",
    "client bootstrap": "keybundle client bootstrap --trust-root trust-root.cbor --state "
    "app/state epoch-1.pkg",
    "conformance run": "keybundle conformance run --verifier './my-verifier --json' --jobs 2 "
    "--quiet",
    "demo": "keybundle demo --workdir demo-out",
    "evidence verify": "keybundle evidence verify monitor-state/evidence/0001.json "
    "--trust-root trust-root.cbor",
    "keys generate": "keybundle keys generate --algorithm ed25519 --name independent --out "
    "keys/independent --passphrase-file independent.pass",
    "keys show": "keybundle keys show keys/independent.pub --json",
    "log append": "keybundle log append log/ epoch-1.cose",
    "log init": "keybundle log init log/ --origin log.example.com/keybundle --key keys/log.key "
    "--trust-root trust-root.cbor",
    "log proof": "keybundle log proof log/ --index 0",
    "log serve": "keybundle log serve log/ --listen 127.0.0.1:8080",
    "log witnesses": "keybundle log witnesses log/ --set witnesses.txt",
    "log cosign": "keybundle log cosign log/",
    "log rotations": "keybundle log rotations --log http://127.0.0.1:8080 --trust-root "
    "trust-root.cbor --json",
    "monitor follow": "keybundle monitor follow --trust-root trust-root.cbor --state "
    "monitor-state http://127.0.0.1:8080/ --once --json",
    "monitor report": "keybundle monitor report --state monitor-state -o monitor-report",
    "note sign": "keybundle note sign --key keys/log.key message.txt > message.note",
    "note verify": "keybundle note verify message.note --vkey keys/log.pub",
    "package build": "keybundle package build --log log/ --fleet prod-eu.vault -o epoch-1.pkg",
    "package inspect": "keybundle package inspect epoch-1.pkg --trust-root trust-root.cbor",
    "package publish": "keybundle package publish --log http://127.0.0.1:8080 --trust-root "
    "trust-root.cbor --out packages --follow",
    "trust-root create": "keybundle trust-root create --independent keys/independent.pub:Auditor "
    "--operator keys/operator.pub:Operator --policy policy.txt -o trust-root.unsigned",
    "trust-root sign": "keybundle trust-root sign --key keys/independent.key "
    "trust-root.unsigned -o trust-root.cbor",
    "trust-root inspect": "keybundle trust-root inspect trust-root.cbor",
    "trust-root verify": "keybundle trust-root verify trust-root-v2.cbor --previous "
    "trust-root-v1.cbor",
    "vectors generate": "keybundle vectors generate --check",
    "witness serve": "keybundle witness serve --key keys/witness.key --log keys/log.pub "
    "--state witness-state --listen 127.0.0.1:8081",
}
"""One example per command, shown at the end of its ``--help`` (issue 13)."""


def _add_examples(command: click.Command, path: str) -> None:
    example = EXAMPLES.get(path)
    if example is not None and not command.epilog:
        # \b keeps click from rewrapping the example.
        command.epilog = f"\b\nExample:\n  {example}"
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            _add_examples(sub, f"{path} {name}")


def _usage_error_line(e: click.ClickException) -> str:
    """Click's error as the one line of CLI §10.1."""
    message = e.format_message().rstrip(".")
    message = message[:1].lower() + message[1:]
    ctx = getattr(e, "ctx", None)
    if ctx is None:
        return error_line(message)
    path = ctx.command_path
    where = path.removeprefix("keybundle").strip()
    prefix = f"{where}: " if where else ""
    return error_line(f"{prefix}{message}; see '{path} --help'")


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; click's usage errors become one line (or the JSON envelope)."""
        argv = list(sys.argv[1:] if args is None else args)
        del prog_name  # one name in every message and envelope, whatever runs it
        prog_name = "keybundle"
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help() if e.ctx is not None else e.format_message(), err=True)
            code = EXIT_USAGE
        except click.ClickException as e:
            code = e.exit_code
            ctx = getattr(e, "ctx", None)
            if "--json" in argv:
                command = ctx.command_path if ctx is not None else "keybundle"
                message = _usage_error_line(e).removeprefix("keybundle: error: ")
                print_json(envelope(command, code, None, message=message))
            else:
                click.echo(_usage_error_line(e), err=True)
        except click.exceptions.Abort:
            click.echo(error_line("aborted"), err=True)
            code = EXIT_USAGE
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise
            code = 1  # the reader went away: nothing left to say to it
        if standalone_mode:
            sys.exit(code)
        return code

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"keybundle_cli.{entry[0]}")
        command = getattr(module, entry[1])
        if not isinstance(command, click.Command):
            raise AssertionError(f"keybundle_cli.{entry[0]}.{entry[1]} is not a click command")
        _add_examples(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # One line each without importing every module just to print --help.
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExit codes: 0 success; 1 rejected (reason code printed); 2 usage or file "
    "error.\nWith --json, one JSON object (CLI §10.1). Shell completion (bash, zsh, fish):\n"
    '  eval "$(_KEYBUNDLE_COMPLETE=bash_source keybundle)"',
)
@click.version_option(package_name="keybundle")
def cli() -> None:
    """keybundle: deliver HSM fleet public keys over the air, dual-signed and logged."""


@click.command(
    "verify",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Verify an OTA package as a client and update its state (SPEC §7.3)."""
    from .verify import run

    ctx.exit(run(list(ctx.args)))


def run_cli(argv: list[str]) -> int:
    """Run the click command tree on ``argv``; return the exit code."""
    code: int = cli.main(args=argv, prog_name="keybundle", standalone_mode=False)
    return code
