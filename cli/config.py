"""``--config FILE``: a service's settings in a TOML file (TOML 1.0, ``tomllib``); flags win.

Each top-level key is one of the command's options or arguments, spelled as on the command
line without the dashes (``batch-size = 256``; ``batch_size`` also), with a value of the
option's type (a list for a repeatable option). The file becomes click's ``default_map``, so
every flag given on the command line overrides it, and a key the command does not know is an
error naming the keys it does know, never ignored.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

__all__ = ["MAX_SERVICE_CONFIG_BYTES", "config_option", "load_config"]

MAX_SERVICE_CONFIG_BYTES: Final = 65536
"""Largest ``--config`` file read (SPEC §11)."""

F = TypeVar("F", bound=Callable[..., Any])


def load_config(path: Path, command: click.Command) -> dict[str, Any]:
    """The ``default_map`` of ``command`` from the TOML file at ``path`` (module doc).

    Raises :class:`click.BadParameter` (exit 2) for an unreadable, oversized or invalid
    file, a key that is not a parameter of ``command``, or a table where a value belongs.
    """
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SERVICE_CONFIG_BYTES + 1)
    except OSError as e:
        raise click.BadParameter(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > MAX_SERVICE_CONFIG_BYTES:
        raise click.BadParameter(f"{path} is over {MAX_SERVICE_CONFIG_BYTES} bytes")
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise click.BadParameter(f"{path} is not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise click.BadParameter(f"{path} is not valid TOML: {e}") from None
    names = {p.name: p for p in command.params if p.name and p.name != "config"}
    # A key is spelled as the option is on the command line; the parameter's name may differ.
    spelled: dict[str, str] = {}
    for p in command.params:
        if p.name is None or p.name == "config":
            continue
        spelled[p.name] = p.name
        spelled[p.name.replace("_", "-")] = p.name
        for opt in getattr(p, "opts", []):
            if opt.startswith("--"):
                spelled[opt[2:]] = p.name
                spelled[opt[2:].replace("-", "_")] = p.name
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = spelled.get(key)
        if name is None:
            known = sorted(k for k in spelled if "_" not in k)
            raise click.BadParameter(
                f"{path}: unknown setting {key!r}; this command's settings are {', '.join(known)}"
            )
        if isinstance(value, dict):
            raise click.BadParameter(f"{path}: {key!r} is a table; settings are plain values")
        param = names[name]
        if isinstance(value, list) and not param.multiple:
            raise click.BadParameter(f"{path}: {key!r} takes one value, not a list")
        values = value if isinstance(value, list) else [value]
        for v in values:
            _check_value(path, key, param, v)
        if param.multiple:  # one value for a repeatable option is a list of one
            out[name] = [str(v) for v in values]
        else:
            out[name] = value
    return out


def _check_value(path: Path, key: str, param: click.Parameter, value: object) -> None:
    """Refuse a TOML value that click would mis-convert or crash on (a date, a table in a
    list, ``true`` or ``2.5`` or ``inf`` for a whole number), with one line naming the key."""
    if isinstance(value, bool):
        if not isinstance(param.type, click.types.BoolParamType):
            raise click.BadParameter(f"{path}: {key!r} is not a true/false setting")
    elif isinstance(value, float):
        if isinstance(param.type, click.types.IntParamType):
            raise click.BadParameter(f"{path}: {key!r} takes a whole number, not {value!r}")
    elif not isinstance(value, str | int):
        raise click.BadParameter(
            f"{path}: {key!r} is a {type(value).__name__}; settings are strings, numbers "
            "or true/false"
        )


def config_option(func: F) -> F:
    """Add ``--config FILE`` (module doc), read before every other parameter."""

    def callback(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
        if value is None:
            return
        if not isinstance(ctx.command, click.Command):  # pragma: no cover - always a command
            raise AssertionError("bad math in config_option: no command")
        loaded = load_config(value, ctx.command)
        ctx.default_map = {**(ctx.default_map or {}), **loaded}

    return click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=callback,
        metavar="FILE",
        help="Settings from a TOML file (keys are the option names); flags override it.",
    )(func)
