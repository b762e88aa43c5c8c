"""Entry point of the ``keybundle`` command (console script ``keybundle``).

``keybundle verify`` is run as a fresh process by clients, so it is dispatched before click
and the command tree are imported (its cost is measured in bench/bench_verify.py against
importing the crypto libraries alone). Every other command goes through click.

Exit codes (SPEC §10): 0 success; 1 verification rejected the input; 2 bad usage, an
unreadable or malformed file, or another error the user can fix.
"""

from __future__ import annotations

import sys
from typing import NoReturn

__all__ = ["main"]


def main(argv: list[str] | None = None) -> NoReturn:
    """Run ``keybundle`` with ``argv`` (default ``sys.argv[1:]``) and exit."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "verify":
        from .verify import run

        raise SystemExit(run(args[1:]))
    from .commands import run_cli

    run_cli(args)
    raise SystemExit(0)
