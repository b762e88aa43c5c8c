"""``keybundle witness``: run a C2SP tlog-witness for some logs (SPEC §6.4, CLI §10.6)."""

from __future__ import annotations

from pathlib import Path

import click

from transparency_log.cosignature import SIG_TYPE_COSIGNATURE_V1
from transparency_log.note import SIG_TYPE_ED25519, Verifier, new_verifier
from transparency_log.witness import FileStateStore, Witness, make_witness_server

from ._common import (
    UserError,
    cli_errors,
    listen_errors,
    passphrase_option,
    serve_until_stopped,
)
from .config import config_option
from .log import MAX_CONFIG_BYTES, load_note_signer, parse_listen

__all__ = ["parse_log_option", "witness"]


def parse_log_option(value: str) -> Verifier:
    """A ``--log`` value: a verifier-key string, or a file holding one (one line)."""
    text = value
    if "+" not in value or Path(value).is_file():
        try:
            with Path(value).open("rb") as f:
                data = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as e:
            raise UserError(
                f"--log {value!r} is neither a verifier key nor a readable file: {e.strerror or e}"
            ) from None
        text = data.decode("utf-8", "replace")
        if text.endswith("\n"):
            text = text[:-1]
    try:
        verifier = new_verifier(text)
    except ValueError as e:
        raise UserError(f"--log {value!r}: {e}") from None
    if getattr(verifier, "sig_type", None) != SIG_TYPE_ED25519:
        raise UserError(f"--log {value!r} is not a log's Ed25519 note key (type 0x01)")
    return verifier


@click.group("witness")
def witness() -> None:
    """Run a C2SP tlog-witness that cosigns logs' checkpoints (SPEC §6.4)."""


@witness.command("serve")
@click.option(
    "--key",
    "key_path",
    required=True,
    metavar="PREFIX.key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The witness's cosignature key (keybundle keys generate --type cosignature).",
)
@click.option(
    "--log",
    "logs",
    required=True,
    multiple=True,
    metavar="VKEY",
    help="A log to witness: its verifier key, or a file holding it. Repeatable. The log's "
    "origin is the key's name.",
)
@click.option(
    "--state",
    "state_dir",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the witness keeps the latest tree of each log (created if missing).",
)
@click.option("--listen", required=True, metavar="HOST:PORT", help="Address to listen on.")
@click.option("--threads", type=click.IntRange(1, 256), default=4, show_default=True)
@passphrase_option
@config_option
@cli_errors
def serve(
    *,
    key_path: Path,
    logs: tuple[str, ...],
    state_dir: Path,
    listen: str,
    threads: int,
    passphrase_file: Path | None,
) -> None:
    """Serve POST /add-checkpoint for the given logs (C2SP tlog-witness), with GET /healthz
    and /metrics and one structured log record per request outcome (OPS §6.6)."""
    from transparency_log import observe

    host, port = parse_listen(listen)
    signer = load_note_signer(key_path, passphrase_file, SIG_TYPE_COSIGNATURE_V1)
    verifiers: dict[str, Verifier] = {}
    for value in logs:
        verifier = parse_log_option(value)
        if verifier.name in verifiers:
            raise UserError(f"two --log keys have the origin {verifier.name!r}")
        verifiers[verifier.name] = verifier
    state_dir.mkdir(parents=True, exist_ok=True)
    with FileStateStore(state_dir) as store:
        with listen_errors(host, port):
            server = make_witness_server(
                Witness(signer, verifiers, store), host, port, threads=threads,
                wrap=lambda app: observe.instrument(app, observe.WitnessMetrics(),
                                                    lambda: (True, f"witness {signer.name}")),
            )  # fmt: skip
        observe.configure_logging()
        serve_until_stopped(
            server,
            lambda: click.echo(
                f"witness {signer.name} listening on http://{server.host}:{server.port}", err=True
            ),
        )
