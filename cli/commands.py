"""The ``keybundle`` click command tree.

Subcommand modules are imported only when their command runs, so that start-up stays cheap
and ``--help`` lists every command without importing them all.

Exit codes (SPEC.md §10): 0 success; 1 verification rejected the input; 2 bad usage,
unreadable or malformed files, or another error the user can fix.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["cli"]

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


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

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
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # One line each without importing every module just to print --help.
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def run_cli(argv: list[str]) -> Any:
    """Run the click command tree on ``argv``."""
    return cli.main(args=argv, prog_name="keybundle")
